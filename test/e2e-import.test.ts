/**
 * Migration end to end: a multi-identity esmtprc is imported with the CLI,
 * the written config passes `config check`, and `sendmail -f ADDR` for each
 * identity reaches that identity's smarthost with that identity's AUTH user
 * (real smtp-server instances on 127.0.0.1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSink } from './helpers/smtp-sink.js';
import { runCli, waitUntil } from './helpers/cli.js';
import { tempDir } from './helpers/paths.js';

test('esmtprc identities → sysmail routes by envelope sender, each with its own relay and AUTH user', async () => {
  const sinkA = await startSink({ tls: 'none', users: { 'alerts-user': 'alpha pass' }, allowInsecureAuth: true });
  const sinkB = await startSink({ tls: 'none', users: { 'reports-user': 'bravo#pass' }, allowInsecureAuth: true });
  const sinkDefault = await startSink({ tls: 'none', users: { 'default-user': 'charlie' }, allowInsecureAuth: true });
  try {
    const dir = tempDir('sysmail-import-');
    const rc = join(dir, 'esmtprc');
    writeFileSync(rc, [
      '# the default identity', `hostname = 127.0.0.1:${sinkDefault.port}`, 'username = default-user', 'password = charlie',
      'starttls = disabled', 'qualifydomain = example.net', '',
      'identity alerts@example.com', `\thostname 127.0.0.1:${sinkA.port}`, '\tusername alerts-user', '\tpassword "alpha pass"',
      '\tstarttls disabled', '',
      'identity = reports@example.org', `\thostname = 127.0.0.1:${sinkB.port}`, '\tusername = reports-user',
      "\tpassword = 'bravo#pass'", '\tstarttls = disabled', '',
    ].join('\n'), { mode: 0o600 });
    const configFile = join(dir, 'sysmail.toml');
    const env = { SYSMAIL_STATE_DIR: join(dir, 'state') };

    const shown = await runCli(['import', 'esmtprc', rc], { env });
    assert.equal(shown.code, 0, shown.stderr);
    assert.doesNotMatch(shown.stdout, /alpha pass|bravo#pass|charlie/, 'no password in the printed TOML');
    assert.match(shown.stderr, /password/i, 'the move of plaintext passwords is announced');

    const written = await runCli(['import', 'esmtprc', rc, '--write', '-C', configFile, '--secrets-dir', join(dir, 'secrets')], { env });
    assert.equal(written.code, 0, written.stderr);
    assert.doesNotMatch(readFileSync(configFile, 'utf8'), /alpha pass|bravo#pass|charlie/);
    assert.equal(statSync(join(dir, 'secrets')).mode & 0o777, 0o700);

    const check = await runCli(['config', 'check', '-C', configFile], { env });
    assert.equal(check.code, 0, check.stdout + check.stderr);

    const send = async (from: string, to: string) => {
      const r = await runCli(['sendmail', '-C', configFile, '-f', from, to], { input: `Subject: from ${from}\n\nhello\n`, env });
      assert.equal(r.code, 0, r.stderr);
    };
    await send('alerts@example.com', 'ops@example.net');
    await send('reports@example.org', 'boss@example.net');
    await send('someone@example.net', 'else@example.net');
    const [a] = await sinkA.waitFor(1, 15_000);
    const [b] = await sinkB.waitFor(1, 15_000);
    const [d] = await sinkDefault.waitFor(1, 15_000);
    assert.equal(a!.user, 'alerts-user');
    assert.equal(a!.from, 'alerts@example.com');
    assert.equal(b!.user, 'reports-user');
    assert.equal(b!.from, 'reports@example.org');
    assert.equal(d!.user, 'default-user');
    assert.deepEqual(d!.to, ['else@example.net']);
    await waitUntil(() => sinkA.messages.length + sinkB.messages.length + sinkDefault.messages.length === 3, 2000, 'no extra copies');
  } finally {
    await Promise.all([sinkA.close(), sinkB.close(), sinkDefault.close()]);
  }
});
