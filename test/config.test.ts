/**
 * Configuration: units, defaults, file discovery, the embedded default, the
 * example file, rendering, and a directory of broken configs each paired
 * with the error text it must produce (test/fixtures/config/bad/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'smol-toml';
import { fixtures, repoRoot, tempDir } from './helpers/paths.js';
import { SysmailError, EX } from '../src/core/errors.js';
import { loadConfig } from '../src/config/load.js';
import { validateConfig } from '../src/config/validate.js';
import { ConfigInvalidError } from '../src/config/check.js';
import { renderConfig, REDACTED } from '../src/config/render.js';
import { formatDuration, formatSize, parseDuration, parseSize } from '../src/config/units.js';
import { statePaths } from '../src/config/defaults.js';
import * as D from '../src/config/defaults.js';
import type { OciTransportConfig, SmtpTransportConfig } from '../src/config/types.js';

const cfgFixtures = join(fixtures, 'config');
const noSystem = '/nonexistent/sysmail.toml';

/** Loads TOML text written to a temp file with the given mode. */
async function loadText(text: string, opts: { mode?: number; env?: NodeJS.ProcessEnv } = {}) {
  const dir = tempDir('sysmail-config-');
  try {
    const file = join(dir, 'sysmail.toml');
    writeFileSync(file, text);
    chmodSync(file, opts.mode ?? 0o644);
    return await loadConfig({ path: file, env: opts.env ?? {}, systemPath: noSystem });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function loadError(text: string, opts: { mode?: number; env?: NodeJS.ProcessEnv } = {}): Promise<SysmailError> {
  try {
    await loadText(text, opts);
  } catch (e) {
    assert.ok(e instanceof SysmailError, `expected a SysmailError, got ${String(e)}`);
    assert.equal(e.exit, EX.CONFIG);
    return e;
  }
  assert.fail('the config was accepted');
}

test('durations: units, compounds, bare seconds; ambiguous input refused', () => {
  const ok: [unknown, number][] = [
    ['90s', 90_000], ['5m', 300_000], ['2h', 7_200_000], ['5d', 432_000_000], ['1w', 604_800_000],
    ['1h30m', 5_400_000], ['1h 30m', 5_400_000], ['250ms', 250], ['1m30s', 90_000], [45, 45_000], [0, 0], ['0s', 0],
  ];
  for (const [input, ms] of ok) assert.equal(parseDuration(input), ms, String(input));
  for (const bad of ['90', '', '5 minutes', '1h1h', '-5s', 1.5, -3, '1.5h', 'm', true, ['5s']]) {
    assert.equal(parseDuration(bad), null, String(bad));
  }
  for (const ms of [0, 250, 1000, 90_000, 5_400_000, 432_000_000, 93_784_005]) {
    assert.equal(parseDuration(formatDuration(ms)), ms);
  }
  assert.equal(formatDuration(5_400_000), '1h30m');
});

test('sizes: binary units or bytes; decimal-looking units refused', () => {
  const ok: [unknown, number][] = [
    ['512k', 524_288], ['25M', 26_214_400], ['1G', 1_073_741_824], ['25MiB', 26_214_400], ['100B', 100],
    ['4K', 4096], [1000, 1000], ['1000', 1000],
  ];
  for (const [input, bytes] of ok) assert.equal(parseSize(input), bytes, String(input));
  for (const bad of ['25MB', '1.5M', 'big', '', -1, 2.5, '10 X']) assert.equal(parseSize(bad), null, String(bad));
  for (const b of [1000, 1024, 26_214_400, 1_073_741_824]) assert.equal(parseSize(formatSize(b)), b);
  assert.equal(formatSize(26_214_400), '25M');
});

test('statePaths: $SYSMAIL_STATE_DIR puts everything under one directory', () => {
  assert.deepEqual(statePaths({ SYSMAIL_STATE_DIR: '/home/me/.sysmail' }, 1000), {
    spoolDir: '/home/me/.sysmail/spool', logFile: '/home/me/.sysmail/log/sysmail.log', mailbox: '/home/me/.sysmail/Maildir',
  });
  assert.deepEqual(statePaths({}, 0), {
    spoolDir: '/var/spool/sysmail', logFile: '/var/log/sysmail/sysmail.log', mailbox: '/var/spool/sysmail/Maildir',
  });
});

test('embedded default: no file anywhere -> one Maildir transport and a catch-all route', async () => {
  const state = tempDir('sysmail-state-');
  try {
    const c = await loadConfig({ env: { SYSMAIL_STATE_DIR: state }, systemPath: noSystem });
    assert.equal(c.source, null);
    assert.equal(c.spool.dir, join(state, 'spool'));
    assert.equal(c.log.file, join(state, 'log', 'sysmail.log'));
    assert.deepEqual(c.transports, { 'local-maildir': { name: 'local-maildir', type: 'maildir', path: join(state, 'Maildir') } });
    assert.deepEqual(c.routes, [{ name: 'default', match: null, transports: ['local-maildir'], mode: 'fallback', fallbackAfter: 0 }]);
    assert.equal(c.general.admin, 'root');
    assert.equal(c.general.maxMessageSize, 25 * 1024 * 1024);
    assert.deepEqual(c.spool, { dir: join(state, 'spool'), mode: 'disk', maxLifetime: 5 * 86_400_000, retryMin: 60_000, retryMax: 3_600_000 });
    assert.deepEqual(c.listener, { listen: ['127.0.0.1:25', '[::1]:25'], allowRelayFrom: [], tlsCert: null, tlsKey: null, users: {}, earlyDelivery: true });
    assert.match(renderConfig(c), /embedded default/);
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
});

test('file discovery: -C beats $SYSMAIL_CONFIG beats the system path; a named file must exist', async () => {
  const dir = tempDir('sysmail-find-');
  try {
    const a = join(dir, 'a.toml');
    const b = join(dir, 'b.toml');
    const sys = join(dir, 'system.toml');
    writeFileSync(a, '[general]\nadmin = "a@example.com"\n');
    writeFileSync(b, '[general]\nadmin = "b@example.com"\n');
    writeFileSync(sys, '[general]\nadmin = "sys@example.com"\n');
    const env = { SYSMAIL_CONFIG: b };
    assert.equal((await loadConfig({ path: a, env, systemPath: sys })).general.admin, 'a@example.com');
    assert.equal((await loadConfig({ env, systemPath: sys })).general.admin, 'b@example.com');
    const c = await loadConfig({ env: {}, systemPath: sys });
    assert.equal(c.general.admin, 'sys@example.com');
    assert.equal(c.source, sys);
    await assert.rejects(loadConfig({ path: join(dir, 'missing.toml'), env: {}, systemPath: sys }), (e: SysmailError) => {
      assert.equal(e.exit, EX.CONFIG);
      assert.match(e.message, /missing\.toml \(named by -C\): config file not found/);
      return true;
    });
    await assert.rejects(loadConfig({ env: { SYSMAIL_CONFIG: dir }, systemPath: sys }), /is not a regular file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file with only [general] keeps the embedded transport and route', async () => {
  const c = await loadText('[general]\nhostname = "web1.example.com"\n', { env: { SYSMAIL_STATE_DIR: '/srv/state' } });
  assert.equal(c.general.hostname, 'web1.example.com');
  assert.equal(c.general.domain, 'web1.example.com');
  assert.deepEqual(c.general.localDomains, ['web1.example.com', 'localhost']);
  assert.deepEqual(Object.keys(c.transports), ['local-maildir']);
  assert.equal(c.routes[0]!.transports[0], 'local-maildir');
});

test('no [[routes]]: everything goes to the only transport, or to the one named "default"', async () => {
  const one = await loadText('[transports.relay]\ntype = "smtp"\nhost = "smtp.example.com"\n');
  assert.deepEqual(one.routes, [{ name: 'default', match: null, transports: ['relay'], mode: 'fallback', fallbackAfter: 0 }]);
  const two = await loadText('[transports.default]\ntype = "stdout"\n[transports.box]\ntype = "maildir"\npath = "/m"\n');
  assert.deepEqual(two.routes[0]!.transports, ['default']);
});

test('smtp defaults: port follows security, timeouts, helo and TLS options', async () => {
  const c = await loadText(`
[transports.a]
type = "smtp"
host = "smtp.example.com"
[transports.b]
type = "smtp"
host = "smtp.example.com"
security = "tls"
[[routes]]
transports = ["a", "b"]
`);
  const a = c.transports.a as SmtpTransportConfig;
  const b = c.transports.b as SmtpTransportConfig;
  assert.equal(a.port, 587);
  assert.equal(a.security, 'starttls');
  assert.equal(b.port, 465);
  assert.deepEqual(a.timeouts, { connect: 30_000, greeting: 30_000, command: 60_000, data: 120_000 });
  assert.equal(a.tlsVerify, true);
  assert.equal(a.password, null);
  assert.equal(a.helo, null);
  assert.equal(c.routes[0]!.name, 'route-1');
});

test('a full config: every transport type, units converted, normalisation', async () => {
  const c = await loadConfig({ path: join(cfgFixtures, 'good', 'full.toml'), env: { HOME: '/home/ops' }, systemPath: noSystem });
  assert.equal(c.general.maxMessageSize, 10 * 1024 * 1024);
  assert.deepEqual(c.general.localDomains, ['web1.example.com', 'example.com']);
  assert.equal(c.general.aliases, null);
  assert.equal(c.general.tagHost, false);
  assert.deepEqual(c.spool, { dir: '/srv/sysmail/spool', mode: 'ram', maxLifetime: 2 * 86_400_000, retryMin: 30_000, retryMax: 5_400_000 });
  assert.deepEqual(c.log, { file: null, syslog: true });
  assert.deepEqual(c.listener.allowRelayFrom, ['192.0.2.0/24', '2001:db8::/32', '198.51.100.7/32']);
  assert.deepEqual(c.listener.users, { backup1: { file: '/etc/sysmail/users/backup1' }, 'nas.example.com': { credential: 'nas' } });
  const relay = c.transports.relay as SmtpTransportConfig;
  assert.equal(relay.port, 465);
  assert.equal(relay.pinSha256, 'abcdef0123456789'.repeat(4));
  assert.deepEqual(relay.password, { command: ['/usr/bin/pass', 'show', 'mail/relay'] });
  assert.deepEqual(relay.timeouts, { connect: 5_000, greeting: 30_000, command: 60_000, data: 600_000 });
  const oci = c.transports.oci as OciTransportConfig;
  assert.deepEqual(oci, {
    name: 'oci', type: 'oci-notifications', topicId: 'ocid1.onstopic.oc1.iad.aaaaaaaa', region: 'us-ashburn-1',
    endpoint: 'http://127.0.0.1:8080', auth: 'api_key', configFile: '/home/ops/oci/config', profile: 'SYSMAIL',
    metadataUrl: 'http://169.254.169.254/opc/v2', federationUrl: null, archiveDir: null, timeout: 45_000,
  });
  assert.deepEqual(c.transports.users, { name: 'users', type: 'local', format: 'mbox', mailDir: '/var/mail', maildirName: 'Maildir' });
  assert.deepEqual(c.transports.page, { name: 'page', type: 'command', argv: ['/usr/local/bin/page', '{subject}'], stdin: 'body', timeout: 15_000, user: 'nobody' });
  assert.deepEqual(c.transports.banner, { name: 'banner', type: 'motd', path: '/etc/motd.d/sysmail', keep: 5 });
  assert.deepEqual(c.transports.console, { name: 'console', type: 'stdout', format: 'message' });
  assert.deepEqual(c.routes.map((r) => [r.name, r.mode, r.fallbackAfter]), [['cron', 'fanout', 0], ['locals', 'fallback', 0], ['rest', 'fallback', 1_800_000]]);
  assert.deepEqual(c.routes[0]!.match, { sender: ['cron@web1.example.com', '@example.org', ''] });
  assert.deepEqual(c.routes[1]!.match, { domain: ['*.example.com'], local: ['root', 'postmaster'] });
});

test('oci defaults: ~/.oci/config from $HOME, archive under the spool', async () => {
  const c = await loadText(`
[spool]
dir = "/srv/spool"
[transports.oci]
type = "oci-notifications"
topic_id = "ocid1.onstopic.oc1.eu-frankfurt-1.aaaa"
region = "eu-frankfurt-1"
`, { env: { HOME: '/root' } });
  const oci = c.transports.oci as OciTransportConfig;
  assert.equal(oci.configFile, '/root/.oci/config');
  assert.equal(oci.archiveDir, '/srv/spool/archive');
  assert.equal(oci.endpoint, null);
  assert.equal(oci.auth, 'api_key');
  assert.equal(oci.profile, 'DEFAULT');
  assert.equal(oci.timeout, 30_000);
});

test('$SYSMAIL_SPOOL overrides spool.dir; relative state paths are refused', async () => {
  const c = await loadText('[spool]\ndir = "/var/spool/other"\n', { env: { SYSMAIL_SPOOL: '/tmp/s' } });
  assert.equal(c.spool.dir, '/tmp/s');
  const e = await loadError('', { env: { SYSMAIL_STATE_DIR: 'rel' } });
  assert.match(e.message, /\$SYSMAIL_STATE_DIR: must be an absolute path \(got "rel"\)/);
});

test('aliases default to /etc/aliases only when it exists', () => {
  const yes = validateConfig({}, null, '', { env: {}, exists: (p) => p === '/etc/aliases' });
  assert.equal(yes.general.aliases, '/etc/aliases');
  const no = validateConfig({}, null, '', { env: {}, exists: () => false });
  assert.equal(no.general.aliases, null);
});

test('inline password: allowed in a 0600 file, never echoed in errors', async () => {
  const text = '[transports.relay]\ntype = "smtp"\nhost = "smtp.example.com"\nusername = "me"\npassword = "s3cret-inline"\n';
  const c = await loadText(text, { mode: 0o600 });
  assert.deepEqual((c.transports.relay as SmtpTransportConfig).password, { value: 's3cret-inline' });
  const shown = renderConfig(c);
  assert.ok(!shown.includes('s3cret-inline'));
  assert.match(shown, new RegExp(`password = "${REDACTED.replace(/[()]/g, '\\$&')}"`));

  const e = await loadError(text, { mode: 0o640 });
  assert.ok(!e.message.includes('s3cret-inline'));
  assert.match(e.message, /holds a password but is readable by others: chmod 600/);
  const typed = await loadError('[transports.relay]\ntype = "smtp"\nhost = "h.example.com"\nusername = "u"\npassword = 918273645\n', { mode: 0o600 });
  assert.match(typed.message, /transports\.relay\.password: expected a string \(got an integer\)/);
  assert.ok(!typed.message.includes('918273645'));
});

test('etc/sysmail.toml.example validates and says what it shows', async () => {
  const c = await loadConfig({ path: join(repoRoot, 'etc', 'sysmail.toml.example'), env: {}, systemPath: noSystem });
  assert.deepEqual(Object.keys(c.transports).sort(), ['banner', 'oci', 'smarthost']);
  const last = c.routes[c.routes.length - 1]!;
  assert.deepEqual(last, { name: 'everything-else', match: null, transports: ['smarthost', 'oci'], mode: 'fallback', fallbackAfter: 1_800_000 });
  // The defaults the example shows in comments are the real ones.
  const text = readFileSync(join(repoRoot, 'etc', 'sysmail.toml.example'), 'utf8');
  for (const line of [
    `# max_message_size = "${formatSize(D.DEFAULT_MAX_MESSAGE_SIZE_BYTES)}"`, `# max_lifetime = "${formatDuration(D.DEFAULT_MAX_LIFETIME_MS)}"`,
    `# retry_min = "${formatDuration(D.DEFAULT_RETRY_MIN_MS)}"`, `# retry_max = "${formatDuration(D.DEFAULT_RETRY_MAX_MS)}"`,
    `# dir = "${D.SYSTEM_SPOOL_DIR}"`, `# file = "${D.SYSTEM_LOG_FILE}"`,
    `# min_interval = "${formatDuration(D.DEFAULT_METRICS_MIN_INTERVAL_MS)}"`, `# delay_warning = "${formatDuration(D.DEFAULT_ALERT_DELAY_WARNING_MS)}"`,
    `# file = "${D.TEXTFILE_DIRS[0]}/${D.METRICS_FILE_NAME}"`, `# metadata_url = "${D.DEFAULT_OCI_METADATA_URL}"`,
    `# timeouts = { connect = "${formatDuration(D.SMTP_CONNECT_TIMEOUT_MS)}", greeting = "${formatDuration(D.SMTP_GREETING_TIMEOUT_MS)}", command = "${formatDuration(D.SMTP_COMMAND_TIMEOUT_MS)}", data = "${formatDuration(D.SMTP_DATA_TIMEOUT_MS)}" }`,
  ]) assert.ok(text.includes(line), `example should show: ${line}`);
});

test('renderConfig output parses and validates back to the same config', async () => {
  const env = { HOME: '/home/ops' };
  const sources = [join(cfgFixtures, 'good', 'full.toml'), join(repoRoot, 'etc', 'sysmail.toml.example')];
  for (const path of sources) {
    const c = await loadConfig({ path, env, systemPath: noSystem });
    const text = renderConfig(c);
    assert.ok(text.includes(`# From ${path}`));
    const again = validateConfig(parse(text), path, text, { env, hostname: c.general.hostname });
    assert.deepEqual(again, c, path);
  }
  const embedded = validateConfig({}, null, '', { env: {} });
  const text = renderConfig(embedded);
  assert.deepEqual(validateConfig(parse(text), null, text, { env: {}, hostname: embedded.general.hostname }), embedded);
});

test('broken configs: each fails with EX_CONFIG and names the key and line', async (t) => {
  const dir = join(cfgFixtures, 'bad');
  const cases = readdirSync(dir).filter((f) => f.endsWith('.toml')).sort();
  assert.ok(cases.length >= 15, `only ${cases.length} bad configs`);
  const work = tempDir('sysmail-bad-');
  try {
    for (const name of cases) {
      await t.test(name, async () => {
        const expected = readFileSync(join(dir, name.replace(/\.toml$/, '.expected')), 'utf8').split('\n').filter((l) => l !== '');
        assert.ok(expected.length > 0, `${name}: empty .expected`);
        // A copy with a known mode: the inline-password case depends on it.
        const file = join(work, name);
        copyFileSync(join(dir, name), file);
        chmodSync(file, 0o644);
        let err: unknown;
        try {
          await loadConfig({ path: file, env: {}, systemPath: noSystem });
        } catch (e) {
          err = e;
        }
        assert.ok(err instanceof SysmailError, `${name} was accepted`);
        assert.equal(err.exit, EX.CONFIG);
        assert.equal(err.code, 'EBADCONFIG');
        for (const want of expected) assert.ok(err.message.includes(want), `${name}: message lacks\n  ${want}\ngot:\n${err.message}`);
        assert.ok(!err.message.includes('hunter2'), 'a password leaked into the message');
      });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('every problem is reported at once, in file order, with structured entries', async () => {
  const text = readFileSync(join(cfgFixtures, 'bad', 'many-problems.toml'), 'utf8');
  try {
    validateConfig(parse(text), '/etc/sysmail/sysmail.toml', text, { env: {} });
    assert.fail('accepted');
  } catch (e) {
    assert.ok(e instanceof ConfigInvalidError);
    assert.deepEqual(e.problems.map((p) => [p.line, p.key]), [[2, 'general.admin'], [5, 'spool.max_lifetime'], [10, 'transports.relay.port']]);
    assert.match(e.message, /^\/etc\/sysmail\/sysmail\.toml: 3 problems:\n {2}\/etc\/sysmail\/sysmail\.toml:2: general\.admin: /);
  }
});

test('the no-config path never loads smol-toml', async () => {
  const dir = tempDir('sysmail-lean-');
  try {
    const log = join(dir, 'resolved.log');
    const hook = join(dir, 'hook.mjs');
    writeFileSync(hook, `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) {
  if (spec === 'smol-toml') appendFileSync(${JSON.stringify(log)}, spec + '\\n');
  return next(spec, ctx);
}\n`);
    const register = join(dir, 'register.mjs');
    writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hook).href)});\n`);
    const loadUrl = pathToFileURL(join(fileURLToPath(new URL('.', import.meta.url)), '..', 'src', 'config', 'load.js')).href;
    const run = (path: string | null) => {
      writeFileSync(log, '');
      const script = `const { loadConfig } = await import(${JSON.stringify(loadUrl)});
await loadConfig({ path: ${JSON.stringify(path)}, env: { SYSMAIL_STATE_DIR: ${JSON.stringify(dir)} }, systemPath: '/nonexistent' });`;
      const r = spawnSync(process.execPath, ['--import', pathToFileURL(register).href, '--input-type=module', '-e', script], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return readFileSync(log, 'utf8');
    };
    assert.equal(run(null), '', 'smol-toml was loaded for the embedded default');
    const file = join(dir, 'c.toml');
    writeFileSync(file, '[general]\nadmin = "root"\n');
    assert.equal(run(file), 'smol-toml\n', 'control: a real file does load smol-toml');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
