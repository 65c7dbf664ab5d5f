/**
 * Secret sources: inline value, file (with its permission rule), command
 * (real child processes), env, systemd credential. Every failure must be
 * ESECRET / EX_CONFIG / temporary, and is checked to hold no secret.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/paths.js';
import { EX, SysmailError } from '../src/core/errors.js';
import { checkSecrets, resolveSecret, secretSource } from '../src/config/secrets.js';
import { validateConfig } from '../src/config/validate.js';
import type { SecretRef } from '../src/config/types.js';

const SECRET = 'pa55-W0rd-7c1f';

/** Nothing a failure says may contain the secret. */
function assertNoSecret(e: SysmailError): void {
  for (const text of [e.message, e.hint ?? '', String(e.stack)]) {
    assert.ok(!text.includes(SECRET), `secret leaked: ${text}`);
  }
}

async function failure(ref: SecretRef, opts: Parameters<typeof resolveSecret>[1] = {}): Promise<SysmailError> {
  try {
    await resolveSecret(ref, opts);
  } catch (e) {
    assert.ok(e instanceof SysmailError, String(e));
    assert.equal(e.code, 'ESECRET');
    assert.equal(e.exit, EX.CONFIG);
    assert.equal(e.temporary, true);
    assertNoSecret(e);
    return e;
  }
  assert.fail('the secret resolved');
}

const node = (code: string): string[] => [process.execPath, '-e', code];

test('inline value is returned as is', async () => {
  assert.equal(await resolveSecret({ value: SECRET }), SECRET);
  assert.equal(secretSource({ value: SECRET }), 'password');
  assert.equal(secretSource({ credential: 'x' }), 'password_credential');
});

test('file: first line, newline stripped; refused when others can read or write it', async () => {
  const dir = tempDir('sysmail-secret-');
  try {
    const f = join(dir, 'pw');
    writeFileSync(f, `${SECRET}\r\nsecond line ignored\n`);
    chmodSync(f, 0o600);
    assert.equal(await resolveSecret({ file: f }), SECRET);
    chmodSync(f, 0o640); // a service group may read it
    assert.equal(await resolveSecret({ file: f }), SECRET);

    chmodSync(f, 0o644);
    const open = await failure({ file: f }, { label: 'transports.relay.password' });
    assert.match(open.message, /^transports\.relay\.password: password file .*pw is readable or writable by others \(mode 644\)/);
    assert.match(open.hint!, new RegExp(`chmod 600 ${f}`));
    chmodSync(f, 0o602);
    await failure({ file: f });

    const missing = await failure({ file: join(dir, 'nope') });
    assert.match(missing.message, /nope does not exist/);
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n', { mode: 0o600 });
    assert.match((await failure({ file: empty })).message, /is empty/);
    const sub = join(dir, 'sub');
    mkdirSync(sub, { mode: 0o700 });
    assert.match((await failure({ file: sub })).message, /not a regular file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('command: argv without a shell, first line of stdout', async () => {
  assert.equal(await resolveSecret({ command: node(`process.stdout.write(${JSON.stringify(SECRET + '\nmore\n')})`) }), SECRET);
  // No shell: "$HOME" reaches the program literally.
  assert.equal(await resolveSecret({ command: [...node('console.log(process.argv[1])'), '$HOME'] }), '$HOME');
});

test('command: failure names the program, never its output', async () => {
  const e = await failure({ command: node(`console.log(${JSON.stringify(SECRET)}); console.error(${JSON.stringify(SECRET)}); process.exit(3)`) });
  assert.match(e.message, new RegExp(`password command ${process.execPath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} failed \\(exit status 3\\)`));
  const silent = await failure({ command: node('') });
  assert.match(silent.message, /printed nothing/);
  const absent = await failure({ command: ['/nonexistent/pass-helper', 'show'] });
  assert.match(absent.message, /\/nonexistent\/pass-helper could not be started \(ENOENT\)/);
  assert.match(absent.hint!, /full path/);
});

test('command: a helper that hangs is killed at the timeout', async () => {
  const started = Date.now();
  const e = await failure({ command: node('setTimeout(() => {}, 60000)') }, { commandTimeoutMs: 300 });
  assert.match(e.message, /did not finish within 0\.3 s/);
  assert.ok(Date.now() - started < 5000);
});

test('env: the variable, or a clear error', async () => {
  assert.equal(await resolveSecret({ env: 'RELAY_PW' }, { env: { RELAY_PW: SECRET } }), SECRET);
  const e = await failure({ env: 'RELAY_PW' }, { env: {} });
  assert.match(e.message, /environment variable RELAY_PW is not set/);
  await failure({ env: 'RELAY_PW' }, { env: { RELAY_PW: '' } });
});

test('credential: $CREDENTIALS_DIRECTORY/<name>, or how to get one', async () => {
  const dir = tempDir('sysmail-cred-');
  try {
    writeFileSync(join(dir, 'relay'), SECRET + '\n', { mode: 0o400 });
    assert.equal(await resolveSecret({ credential: 'relay' }, { env: { CREDENTIALS_DIRECTORY: dir } }), SECRET);
    const unset = await failure({ credential: 'relay' }, { env: {} });
    assert.match(unset.message, /\$CREDENTIALS_DIRECTORY is not set/);
    assert.match(unset.hint!, /run under systemd with LoadCredential=relay:/);
    const missing = await failure({ credential: 'other' }, { env: { CREDENTIALS_DIRECTORY: dir } });
    assert.match(missing.message, /other does not exist/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('checkSecrets resolves every secret in a config and reports failures by key', async () => {
  const dir = tempDir('sysmail-check-');
  try {
    const good = join(dir, 'good');
    writeFileSync(good, SECRET, { mode: 0o600 });
    const config = validateConfig({
      listener: { users: { alice: { password_file: good }, bob: { password_env: 'BOB_PW' } } },
      transports: { relay: { type: 'smtp', host: 'smtp.example.com', username: 'u', password_command: node('process.exit(1)') } },
    }, null, '', { env: {} });
    const errors = await checkSecrets(config, { env: {} });
    assert.deepEqual(errors.map((e) => e.message.split(':')[0]).sort(), ['listener.users.bob', 'transports.relay.password']);
    errors.forEach(assertNoSecret);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
