/**
 * Issue 13's scenarios, run as an admin would from a clean state with the
 * built CLI and real servers on 127.0.0.1:
 * (a) a fresh `sysmail install`, README's minimal config (general.admin set,
 *     no aliases file): Debian cron's and cronie's sendmail calls to `root`
 *     reach the admin through a real smarthost;
 * (b) dnf-automatic's real [email] emitter with its shipped defaults
 *     (email_from = root@example.com, email_to = root) and with dnf's built-in
 *     ones (both bare `root`) reaches the admin through `sysmail serve`;
 * (d) a non-root user (nobody) submits, sees the message in `mailq`, and it
 *     is delivered;
 * (e) cron mail through a relay that accepts only an approved From (a
 *     Postfix with a sender check stands in for OCI Email Delivery) is
 *     accepted with rewrite_from, the original sender still visible; without
 *     it the relay refuses.
 * Where the test must deviate from the docs (a loopback port instead of 25,
 * a temp root instead of /), the comment says so.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startSink } from './helpers/smtp-sink.js';
import { makeHost, runCli, waitUntil, writeSecret, type TestHost } from './helpers/cli.js';
import { parseMail, relayToml, runEmitters, startServe, toolBin } from './helpers/dnf.js';
import { cliPath, repoRoot } from './helpers/paths.js';
import { makeCerts } from './helpers/certs.js';
import { requirePostfix, startPostfix } from './helpers/postfix.js';
import { UNIT_DIR } from '../src/system/layout.js';

const cleanups: Array<() => unknown> = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });
function host(): TestHost {
  const h = makeHost();
  cleanups.push(() => rmSync(h.dir, { recursive: true, force: true }));
  return h;
}
const crlf = (b: Buffer) => b.toString('utf8').replace(/\r\n/g, '\n');

/** README's "minimal smarthost set-up" block, verbatim, with the relay pointed at the test's sink. */
function readmeConfig(port: number): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const block = /## Configuration[\s\S]*?```toml\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block && /admin = "ops@example\.com"/.test(block), 'README has the minimal set-up with general.admin');
  return block
    .replace('host = "smtp.example.com"', `host = "127.0.0.1"\nport = ${port}\nsecurity = "none"`)
    .replace(/^username = .*\n/m, '').replace(/^password_file = .*\n/m, '');
}

test('(a) fresh install, general.admin set, no aliases file: Debian cron and cronie mail to root reaches the admin', async () => {
  const sink = await startSink({ tls: 'none' });
  cleanups.push(() => sink.close());
  // The install into a staging root (not /): the layout and modes it leaves are what a host gets.
  const root = mkdtempSync('/tmp/sysmail-scn-a-');
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  chmodSync(root, 0o755);
  const inst = await runCli(['install', '--root', root]);
  assert.equal(inst.code, 0, inst.stderr);
  assert.equal(statSync(join(root, 'etc/sysmail')).mode & 0o777, 0o755);
  const configFile = join(root, 'etc/sysmail/sysmail.toml');
  // README's block, plus what a staging root needs (spool and log inside it); no aliases file.
  writeFileSync(configFile, `${readmeConfig(sink.port).replace('[general]\n', '[general]\nhostname = "web1"\ndomain = "web1.example.com"\naliases = false\n')}
[spool]
dir = "${root}/var/spool/sysmail"
[log]
file = "${root}/var/log/sysmail/sysmail.log"
`);
  const env = { SYSMAIL_CONFIG: configFile };
  assert.equal((await runCli(['config', 'check'], { env })).code, 0);
  const bin = join(root, 'test-bin');
  mkdirSync(bin);
  symlinkSync(cliPath, join(bin, 'sendmail'));

  const debian = await runCli(['-i', '-FCronDaemon', '-B8BITMIME', '-oem', 'root'],
    { argv0: join(bin, 'sendmail'), env, input: 'From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@web1> run-parts /etc/cron.daily\n\ndaily\n' });
  assert.equal(debian.code, 0, debian.stderr);
  const cronie = await runCli(['-FCronDaemon', '-i', '-odi', '-oem', '-oi', '-t', '-f', 'root'],
    { argv0: join(bin, 'sendmail'), env, input: 'From: "(Cron Daemon)" <root>\nTo: root\nSubject: Cron <root@web1> /usr/bin/backup\n\nhourly\n' });
  assert.equal(cronie.code, 0, cronie.stderr);
  // install enabled sysmail-flush.path and wrote its marker, so sendmail leaves delivery to the
  // path unit. There is no systemd here: run what the unit's service runs.
  const service = readFileSync(join(root, UNIT_DIR, 'sysmail-flush.service'), 'utf8');
  const execArgs = /^ExecStart=\S+ (flush .*)$/m.exec(service)?.[1];
  assert.ok(execArgs, service);
  const flush = await runCli(execArgs.split(' '), { env });
  assert.equal(flush.code, 0, flush.stderr);

  const got = await sink.waitFor(2, 15_000);
  for (const m of got) assert.deepEqual(m.to, ['ops@example.com'], crlf(m.data));
  assert.deepEqual(got.map((m) => /^Subject: (.*)$/m.exec(crlf(m.data))?.[1]).sort(),
    ['Cron <root@web1> /usr/bin/backup', 'Cron <root@web1> run-parts /etc/cron.daily']);
  // The log and the queue say where it went and why.
  const log = await waitUntil(async () => {
    const r = await runCli(['log'], { env });
    return (r.stdout.match(/root@web1\.example\.com → ops@example\.com \(admin\)/g) ?? []).length >= 2 ? r.stdout : null;
  }, 5000, 'two delivered events with the rewrite');
  assert.match(log, /delivered/);
  assert.match((await runCli(['queue'], { env })).stdout, /Mail queue is empty/);
});

test('(b) dnf-automatic [email] with its defaults reaches the admin through sysmail serve', async () => {
  const sink = await startSink({ tls: 'none' });
  cleanups.push(() => sink.close());
  const h = host();
  h.writeConfig(relayToml(sink.port)); // admin = "ops@example.net", no aliases file
  const serve = await startServe(h);
  try {
    const bin = toolBin(h);
    // dnf-automatic's shipped automatic.conf [email] values; the port is the test's (serve cannot take 25 here).
    const shipped = `[emitters]\nemit_via = email\nsystem_name = web1\n\n[email]\nemail_from = root@example.com\nemail_to = root\nemail_host = 127.0.0.1:${serve.port}\n`;
    // dnf's built-in defaults when automatic.conf says nothing: both bare "root".
    const builtin = `[emitters]\nemit_via = email\nsystem_name = web1\n\n[email]\nemail_host = 127.0.0.1:${serve.port}\n`;
    for (const conf of [shipped, builtin]) {
      const r = await runEmitters(h, bin, conf, 'available');
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /dnf-error:|Failed to send/, r.stderr);
    }
    const got = await sink.waitFor(2, 15_000);
    assert.deepEqual(got.map((m) => m.to), [['ops@example.net'], ['ops@example.net']]);
    // root@example.com as shipped; the built-in bare "root" qualified with general.domain (example.com).
    assert.deepEqual(got.map((m) => m.from), ['root@example.com', 'root@example.com']);
    for (const m of got) assert.equal(parseMail(m.data).header('Subject'), "Updates available on 'web1'.");
    const ev = h.events().filter((e) => e.event === 'delivered');
    assert.ok(ev.every((e) => e.via === 'admin' && e.orig_rcpt === 'root@example.com'), JSON.stringify(ev));
  } finally {
    assert.equal(await serve.stop(), 0, serve.stderr());
  }
});

function asNobody(args: string[], env: NodeJS.ProcessEnv, input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [cliPath, ...args], { uid: 65534, gid: 65534, cwd: '/',
      env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = ''; let stderr = '';
    c.stdout.on('data', (d) => { stdout += d; });
    c.stderr.on('data', (d) => { stderr += d; });
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, stdout, stderr }));
    c.stdin.end(input);
  });
}

test('(d) a non-root user submits, sees the message in mailq, and it is delivered', async () => {
  const sink = await startSink({ tls: 'none' });
  cleanups.push(() => sink.close());
  const h = host();
  h.writeConfig(relayToml(sink.port));
  chmodSync(h.configFile, 0o644); // as install and import leave it
  // The spool as root first makes it (install, the service, or any root sendmail).
  assert.equal((await runCli(['flush'], { env: h.env })).code, 0);

  const sent = await asNobody(['sendmail', '-t'], h.env, 'To: ops@example.net\nSubject: from nobody\n\nhello\n');
  assert.equal(sent.code, 0, sent.stderr);
  const q = await asNobody(['mailq'], h.env);
  assert.equal(q.code, 0, q.stderr);
  assert.match(q.stdout, /awaiting import/);
  assert.match(q.stdout, /^ {4}ops@example\.net$/m);
  assert.match(q.stdout, /readable by root only/);
  const json = JSON.parse((await asNobody(['queue', '--json'], h.env)).stdout) as Array<{ area: string; recipients: string[] }>;
  assert.deepEqual(json.map((e) => [e.area, e.recipients]), [['drop', ['ops@example.net']]]);

  // The flush timer (or serve) imports and delivers.
  assert.equal((await runCli(['flush'], { env: h.env })).code, 0);
  const [m] = await sink.waitFor(1, 15_000);
  assert.deepEqual(m!.to, ['ops@example.net']);
  assert.match(crlf(m!.data), /^Subject: from nobody$/m);
  assert.match((await asNobody(['mailq'], h.env)).stdout, /Mail queue is empty/);
});

test('(e) cron mail through a relay that accepts only an approved From: rewrite_from gets it accepted, the original sender visible', async () => {
  requirePostfix();
  const certs = await makeCerts();
  const pf = await startPostfix({ certs, users: { alice: 'pw-alice' }, mailboxes: ['ops@example.net'], approvedSender: 'alerts@example.com' });
  cleanups.push(() => pf.stop());
  const h = host();
  const pass = writeSecret(h.dir, 'relay.pass', 'pw-alice');
  const base = `[general]
hostname = "web1"
domain = "web1.example.com"
admin = "ops@example.net"
aliases = false

[transports.relay]
type = "smtp"
host = "127.0.0.1"
port = ${pf.port}
ca_file = "${certs.caFile}"
username = "alice"
password_file = "${pass}"
`;
  const cron = 'From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@web1> apt-get check\n\ncheck output\n';

  // Without the rewrite the relay refuses cron's From (as OCI Email Delivery does); the message is not lost.
  const plain = host();
  plain.writeConfig(base);
  assert.equal((await runCli(['-i', '-FCronDaemon', '-oem', 'root'], { argv0: plain.sendmail, env: plain.env, input: cron })).code, 0);
  const refused = await waitUntil(() => plain.events().find((e) => e.event === 'deferred' || e.event === 'failed'), 15_000, 'the refusal');
  assert.match(String(refused.reason), /5\.7\.1|approved sender|rejected/i, JSON.stringify(refused));

  h.writeConfig(base + 'rewrite_from = "alerts@example.com"\n');
  assert.equal((await runCli(['config', 'check'], { env: h.env })).code, 0);
  const r = await runCli(['-i', '-FCronDaemon', '-oem', 'root'], { argv0: h.sendmail, env: h.env, input: cron });
  assert.equal(r.code, 0, r.stderr);
  const [m] = await pf.waitForMail('ops@example.net', 1, 15_000);
  // sendmail qualified cron's bare "root" with general.domain before the transport rewrote it.
  assert.deepEqual(m!.header('from'), ['"root@web1.example.com (Cron Daemon)" <alerts@example.com>']);
  assert.equal(m!.header('reply-to').length, 1);
  assert.match(m!.header('reply-to')[0]!, /root@web1\.example\.com/);
  assert.deepEqual(m!.header('return-path'), ['<alerts@example.com>']);
  assert.ok(m!.body.toString().includes('check output'));
});
