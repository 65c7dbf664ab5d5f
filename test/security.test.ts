/**
 * One test per claim of docs/SECURITY.md (the claim's number is in the test name). Real
 * processes, real files and modes, real users (nobody) where it matters; loopback only.
 * Needs root (it runs commands as nobody and chowns files); fails, never skips, without it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cliPath, repoRoot } from './helpers/paths.js';
import { makeHost, runCli, waitUntil, writeSecret, type TestHost } from './helpers/cli.js';
import { makeCerts, type TestCerts } from './helpers/certs.js';
import { startSink } from './helpers/smtp-sink.js';
import { startRawSmtp, type RawConnection } from './helpers/raw-smtp.js';
import { encodeHeader } from '../src/spool/format.js';
import { memoryLogger } from '../src/log/logger.js';
import { startListener } from '../src/server/listener.js';
import { parseListen, isLoopback } from '../src/server/network.js';
import type { Config } from '../src/config/types.js';
import { refusedPort } from './helpers/net.js';

interface ChaosModule {
  findProcesses(marker: string): Array<{ pid: number; argv: string[] }>;
  smtpSubmit(o: { port: number; from: string; to: string[]; data: string }): Promise<{ code: number; text: string }>;
}
const { findProcesses } = await import(pathToFileURL(join(repoRoot, 'bench', 'chaos.mjs')).href) as unknown as ChaosModule;

const NOBODY = 65534;
const cleanups: Array<() => unknown> = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

let certs: TestCerts;
before(async () => {
  certs = await makeCerts();
  deadPort = await refusedPort();
  assert.equal(process.getuid?.(), 0, 'the security tests need root: they run commands as nobody and chown files');
});

function newHost(toml: (h: TestHost) => string): TestHost {
  const h = makeHost();
  cleanups.push(() => rmSync(h.dir, { recursive: true, force: true }));
  h.writeConfig(toml(h));
  return h;
}
/** Everything to a Maildir. `general` replaces the aliases line. */
const boxToml = (h: TestHost, general = 'aliases = false') => `[general]\nhostname = "sec.example.com"\ndomain = "example.com"\n${general}\n`
  + `[transports.box]\ntype = "maildir"\npath = "${join(h.dir, 'Maildir')}"\n`;
/** Everything to a relay that is not there: mail stays queued (deferred) for inspection. */
const deadToml = () => `[general]\nhostname = "sec.example.com"\ndomain = "example.com"\naliases = false\n`
  + `[transports.dead]\ntype = "smtp"\nhost = "127.0.0.1"\nport = ${deadPort}\nsecurity = "none"\ntimeouts = { connect = "1s" }\n`;

let deadPort = 0;
const mode = (p: string) => statSync(p).mode & 0o7777;
const ls = (p: string) => (existsSync(p) ? readdirSync(p) : []);
const delivered = (h: TestHost) => ls(join(h.dir, 'Maildir', 'new')).map((n) => readFileSync(join(h.dir, 'Maildir', 'new', n), 'utf8'));
const msg = (subject: string) => `From: a@example.com\nSubject: ${subject}\n\nbody of ${subject}\n`;

/**
 * The argv that runs the built CLI as nobody. Directly when nobody can reach it; otherwise (a
 * checkout under a 0700 directory, as a CI runner may make) the repository is bind-mounted on a
 * world-traversable temp directory in a private mount namespace and run from there, as nobody.
 */
function nobodyCli(): { argv: string[]; asRoot: boolean } {
  if (spawnSync('test', ['-r', cliPath], { uid: NOBODY, gid: NOBODY }).status === 0) return { argv: [process.execPath, cliPath], asRoot: false };
  assert.ok(cliPath.startsWith(repoRoot + '/'), `${cliPath} is not readable by nobody and not inside ${repoRoot}`);
  const mnt = mkdtempSync(join(tmpdir(), 'sysmail-nobody-'));
  chmodSync(mnt, 0o755);
  cleanups.push(() => rmSync(mnt, { recursive: true, force: true }));
  const wrapper = 'mount --bind "$1" "$2" && shift 2 && exec setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"';
  return { argv: ['unshare', '-m', '--propagation', 'private', 'sh', '-c', wrapper, 'sh', repoRoot, mnt, process.execPath,
    join(mnt, cliPath.slice(repoRoot.length + 1))], asRoot: true };
}

/** Runs a program as nobody (uid and gid 65534), bounded. */
function asNobody(argv: string[], o: { env?: NodeJS.ProcessEnv; input?: string; asRoot?: boolean } = {}) {
  const ids = o.asRoot ? {} : { uid: NOBODY, gid: NOBODY };
  const r = spawnSync(argv[0]!, argv.slice(1), { ...ids, env: { PATH: process.env.PATH, LANG: 'C.UTF-8', HOME: '/', ...o.env },
    input: o.input ?? '', encoding: 'utf8', timeout: 20_000, cwd: '/' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, error: r.error };
}

// ---- 1. Local users: spool modes ----------------------------------------------------------------

test('claim 1: spool directories and files have the documented modes; the log is not world-readable', async () => {
  const h = newHost(deadToml);
  const r = await runCli(['sendmail', '-i', '-odq', 'x@dead.example'], { input: msg('modes'), env: h.env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(mode(h.spool), 0o711, 'spool root: others may only pass through to drop/');
  for (const a of ['tmp', 'queue', 'active', 'state', 'failed', 'corrupt']) assert.equal(mode(join(h.spool, a)), 0o700, `${a}/`);
  assert.equal(mode(join(h.spool, 'drop')), 0o1777, 'drop/ is sticky and world-writable, like /tmp');
  const [id] = ls(join(h.spool, 'queue'));
  assert.equal(mode(join(h.spool, 'queue', id!)), 0o600);
  const f = await runCli(['flush'], { env: h.env });
  assert.equal(f.code, 0, f.stderr);
  assert.equal(mode(join(h.spool, 'state', id!)), 0o600, 'retry state');
  assert.equal(mode(h.logFile) & 0o007, 0, `log file mode ${mode(h.logFile).toString(8)}: no access for others`);
});

test('claim 2: an unprivileged user can neither list the queue nor read a queued message', async () => {
  const h = newHost((x) => boxToml(x));
  const r = await runCli(['sendmail', '-i', '-odq', 'box@example.net'], { input: msg('private'), env: h.env });
  assert.equal(r.code, 0, r.stderr);
  const [id] = ls(join(h.spool, 'queue'));
  const list = asNobody(['ls', join(h.spool, 'queue')]);
  assert.notEqual(list.code, 0, 'nobody listed queue/');
  assert.match(list.stderr, /Permission denied/);
  const read = asNobody(['cat', join(h.spool, 'queue', id!)]);
  assert.notEqual(read.code, 0);
  assert.doesNotMatch(read.stdout, /body of private/);
  const rootList = asNobody(['ls', h.spool]);
  assert.notEqual(rootList.code, 0, 'the spool root (0711) cannot be listed by others');
});

// ---- 2. Local users: the drop directory -------------------------------------------------------

test('claim 3: nobody submits through drop/; the queued copy carries nobody\'s uid, whatever the file says', async () => {
  const h = newHost(deadToml);
  chmodSync(h.configFile, 0o644); // sendmail reads it as any user (no secrets in it)
  // Set up the spool as root first (as the package does), then submit as nobody.
  assert.equal((await runCli(['sendmail', '-i', '-odq', 'box@example.net'], { input: msg('root first'), env: h.env })).code, 0);
  const cli = nobodyCli();
  const s = asNobody([...cli.argv, 'sendmail', '-i', 'box@example.net'], { env: h.env, input: msg('from nobody'), asRoot: cli.asRoot });
  assert.equal(s.error, undefined, String(s.error));
  assert.equal(s.code, 0, `sendmail as nobody: ${s.stderr} (the CLI, node_modules and the config must be readable by nobody)`);
  const drops = ls(join(h.spool, 'drop')).filter((n) => !n.startsWith('.'));
  assert.equal(drops.length, 1);
  assert.equal(statSync(join(h.spool, 'drop', drops[0]!)).uid, NOBODY);
  assert.equal(mode(join(h.spool, 'drop', drops[0]!)), 0o600, 'other users cannot read a drop file');

  // A forged drop file: claims uid 0, user root, via sendmail, and to be a bounce.
  const body = Buffer.from(msg('forged'));
  const forged = Buffer.concat([encodeHeader({ sender: 'root@example.com', recipients: ['box@example.net'], submittedAt: Date.now() + 86_400_000,
    uid: 0, user: 'root', via: 'sendmail', isBounce: true }, body.length), body]);
  const fp = join(h.spool, 'drop', '01ZZZZZZZZZZZZZZZZZZZ');
  writeFileSync(fp, forged, { mode: 0o600 });
  chownSync(fp, NOBODY, NOBODY);

  // The flush imports drop/ (the relay is down, so everything stays queued for inspection).
  const f = await runCli(['flush'], { env: h.env });
  assert.equal(f.code, 0, f.stderr);
  const items = JSON.parse((await runCli(['queue', '--json'], { env: h.env })).stdout) as Array<{ user: string; via: string; submitted_at: string; id: string }>;
  const fromDrop = items.filter((m) => m.via === 'drop');
  assert.equal(fromDrop.length, 2, JSON.stringify(items));
  for (const m of fromDrop) {
    assert.equal(m.user, 'nobody', 'the user is the file owner, not what the file says');
    assert.ok(Date.parse(m.submitted_at) <= Date.now(), 'a submission time in the future is not believed');
    const header = readFileSync(join(h.spool, 'queue', m.id), 'utf8').split('\nend\n')[0]!;
    assert.match(header, /^uid 65534$/m);
    assert.doesNotMatch(header, /^bounce /m, 'only sysmail makes bounces');
  }
});

test('claim 4: drop/ entries that are symlinks, hard links or FIFOs are never followed, read or waited on', async () => {
  const h = newHost((x) => boxToml(x));
  assert.equal((await runCli(['sendmail', '-i', '-odq', 'box@example.net'], { input: msg('setup'), env: h.env })).code, 0);
  const secret = join(h.dir, 'root-only');
  const body = Buffer.from(msg('SECRET-ROOT-ONLY-CONTENT'));
  writeFileSync(secret, Buffer.concat([encodeHeader({ sender: 'root@example.com', recipients: ['box@example.net'], submittedAt: Date.now(),
    uid: 0, user: 'root', via: 'sendmail' }, body.length), body]), { mode: 0o600 });
  const drop = join(h.spool, 'drop');
  symlinkSync(secret, join(drop, '01AAAAAAAAAAAAAAAAAAA'));
  linkSync(secret, join(drop, '01BBBBBBBBBBBBBBBBBBB'));
  const fifo = spawnSync('mkfifo', [join(drop, '01CCCCCCCCCCCCCCCCCCC')]);
  assert.equal(fifo.status, 0, 'mkfifo (coreutils) failed');
  const f = await runCli(['flush'], { env: h.env, timeoutMs: 15_000 });
  assert.equal(f.code, 0, `flush: ${f.stderr}`);
  const got = delivered(h);
  assert.equal(got.length, 1, 'only the real submission');
  assert.ok(!got.some((m) => m.includes('SECRET-ROOT-ONLY-CONTENT')), 'the target of a link was read and delivered');
  assert.ok(existsSync(secret), 'the target of a link is untouched');
  assert.equal(readFileSync(secret).subarray(-body.length).toString(), body.toString());
  const reasons = ls(join(h.spool, 'corrupt')).filter((n) => n.endsWith('.reason')).map((n) => readFileSync(join(h.spool, 'corrupt', n), 'utf8')).join('\n');
  assert.match(reasons, /symbolic link/);
  assert.match(reasons, /hard link/);
  assert.match(reasons, /FIFO/);
  assert.deepEqual(ls(drop), []);
});

// ---- 3. Secrets ---------------------------------------------------------------------------------

test('claim 5: a password file or a config with an inline password that others can read is refused', async () => {
  const h = newHost(() => '');
  const pw = writeSecret(h.dir, 'relay.pass', 'hunter2-file');
  chmodSync(pw, 0o644);
  h.writeConfig(`[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\nport = 587\nusername = "u"\npassword_file = "${pw}"\n`);
  const c1 = await runCli(['config', 'check'], { env: h.env });
  assert.equal(c1.code, 78, c1.stderr);
  assert.match(c1.stderr, new RegExp(`chmod 600 ${pw}`));
  assert.doesNotMatch(c1.stderr + c1.stdout, /hunter2/);

  h.writeConfig(`[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\nport = 587\nusername = "u"\npassword = "hunter2-inline"\n`);
  chmodSync(h.configFile, 0o644);
  const c2 = await runCli(['config', 'check'], { env: h.env });
  assert.equal(c2.code, 78, c2.stderr);
  assert.match(c2.stderr, /readable by others.*chmod 600/);
  assert.doesNotMatch(c2.stderr + c2.stdout, /hunter2/);
  chmodSync(h.configFile, 0o600);
  const show = await runCli(['config', 'show'], { env: h.env });
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /password = "\(redacted\)"/);
  assert.doesNotMatch(show.stdout, /hunter2/);
});

const SECRET = 'S3cr3t-Pa55-9f8e7d';
const secretForms = (user: string) => [SECRET, Buffer.from(`\0${user}\0${SECRET}`).toString('base64'), Buffer.from(SECRET).toString('base64')];

test('claim 6: a password from password_command never reaches argv or the environment of any process, nor the log or stderr after an AUTH failure', async () => {
  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  let authLine = '';
  const relay = await startRawSmtp(async (c: RawConnection) => {
    c.reply('220 hostile.relay ESMTP');
    for (;;) {
      const line = await c.readLine(20_000);
      if (line === null) return;
      if (/^EHLO/i.test(line)) c.reply('250-hostile.relay', '250 AUTH PLAIN LOGIN');
      else if (/^AUTH/i.test(line)) {
        authLine = line;
        await released; // the client now holds the secret: look at every process meanwhile
        c.reply('535 5.7.8 Authentication credentials invalid');
      } else if (/^QUIT/i.test(line)) { c.reply('221 bye'); c.end(); return; }
      else c.reply('503 5.5.1 not now');
    }
  });
  cleanups.push(() => relay.close());
  const h = newHost(() => '');
  const helper = join(h.dir, 'pw.sh');
  writeFileSync(helper, `#!/bin/sh\nprintf '%s\\n' '${SECRET}'\n`, { mode: 0o700 });
  h.writeConfig(`[general]\nhostname = "sec.example.com"\ndomain = "example.com"\naliases = false\n`
    + `[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\nport = ${relay.port}\nsecurity = "none"\nallow_plaintext_auth = true\nusername = "alice"\nauth_method = "PLAIN"\n`
    + `password_command = ["${helper}"]\n`);
  assert.equal((await runCli(['sendmail', '-i', '-odq', 'x@example.net'], { input: msg('auth'), env: h.env })).code, 0);

  const child = spawn(process.execPath, [cliPath, 'flush', '-v'], { env: { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', ...h.env },
    stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  await waitUntil(() => authLine, 15_000, 'AUTH from the flush');
  assert.ok(secretForms('alice').slice(1).some((f) => authLine.includes(f)), 'the flush did resolve the secret');
  const procs = findProcesses(`SYSMAIL_CONFIG=${h.configFile}`);
  assert.ok(procs.some((p) => p.pid === child.pid), 'the flush is among the processes looked at');
  for (const p of procs) {
    const cmdline = readFileSync(`/proc/${p.pid}/cmdline`, 'latin1');
    const environ = readFileSync(`/proc/${p.pid}/environ`, 'latin1');
    for (const f of secretForms('alice')) {
      assert.ok(!cmdline.includes(f), `secret in the argv of pid ${p.pid}: ${p.argv.join(' ')}`);
      assert.ok(!environ.includes(f), `secret in the environment of pid ${p.pid}`);
    }
  }
  release();
  assert.equal(await exited, 0, out);
  const log = readFileSync(h.logFile, 'utf8');
  assert.match(log, /"event":"deferred"/);
  assert.match(log, /535/);
  const queue = (await runCli(['queue', '--json'], { env: h.env })).stdout;
  for (const f of secretForms('alice')) {
    assert.ok(!log.includes(f), 'secret in the log');
    assert.ok(!out.includes(f), 'secret on stdout/stderr of flush -v');
    assert.ok(!queue.includes(f), 'secret in sysmail queue');
  }
});

// ---- 4. The command transport and aliases -----------------------------------------------------

test('claim 7: the command transport runs as nobody, with a clean environment, and placeholders never reach a shell', async () => {
  const h = newHost(() => '');
  const outDir = join(h.dir, 'out');
  mkdirSync(outDir);
  chmodSync(outDir, 0o1777);
  const script = `env > "$0.env"; id -u > "$0.uid"; id -G > "$0.groups"; for a in "$@"; do printf '%s\\n' "$a"; done > "$0.args"`;
  h.writeConfig(`[general]\nhostname = "sec.example.com"\ndomain = "example.com"\naliases = false\n`
    + `[transports.cmd]\ntype = "command"\nargv = ["/bin/sh", "-c", ${JSON.stringify(script)}, "${join(outDir, 'run')}", "{subject}", "{from}"]\nstdin = "none"\n`);
  const canary = join(h.dir, 'canary');
  const subject = `$(touch ${canary}) \`touch ${canary}\`; touch ${canary} | x && y`;
  const r = await runCli(['sendmail', '-i', '-odq', 'x@example.net'], { input: `From: a@example.com\nSubject: ${subject}\n\nbody\n`, env: h.env });
  assert.equal(r.code, 0, r.stderr);
  const f = await runCli(['flush'], { env: { ...h.env, RELAY_PASSWORD: SECRET, AWS_SECRET_ACCESS_KEY: SECRET } });
  assert.equal(f.code, 0, f.stderr);
  await waitUntil(() => existsSync(join(outDir, 'run.args')), 5000, 'the command to run');
  const env = readFileSync(join(outDir, 'run.env'), 'utf8');
  const keys = env.split('\n').filter(Boolean).map((l) => l.slice(0, l.indexOf('=')));
  for (const k of ['PATH', 'HOME', 'SYSMAIL_ID', 'SYSMAIL_FROM', 'SYSMAIL_TO']) assert.ok(keys.includes(k), `${k} missing`);
  const shellOwn = new Set(['PWD', 'SHLVL', '_', 'OLDPWD']);
  const foreign = keys.filter((k) => !['PATH', 'HOME', 'LANG', 'SYSMAIL_ID', 'SYSMAIL_FROM', 'SYSMAIL_TO'].includes(k) && !shellOwn.has(k));
  assert.deepEqual(foreign, [], 'variables from the parent leaked into the command');
  assert.ok(!env.includes(SECRET), 'a secret from the parent environment reached the command');
  assert.equal(readFileSync(join(outDir, 'run.uid'), 'utf8').trim(), String(NOBODY), 'root runs commands as nobody by default');
  assert.equal(readFileSync(join(outDir, 'run.groups'), 'utf8').trim(), String(NOBODY), 'no supplementary groups (root\'s) are kept');
  assert.deepEqual(readFileSync(join(outDir, 'run.args'), 'utf8').split('\n').slice(0, 2), [subject, 'root@example.com'],
    'each placeholder is one argument, verbatim');
  assert.equal(existsSync(canary), false, 'the subject was run by a shell');
});

test('claim 8: pipes, files and :include: in the aliases file are never executed, written or read', async () => {
  const h = newHost((x) => boxToml(x, `aliases = "${join(x.dir, 'aliases')}"`));
  const canary = join(h.dir, 'canary');
  const included = join(h.dir, 'included');
  writeFileSync(included, 'included-target@example.net\n');
  writeFileSync(join(h.dir, 'aliases'), `evil: "|touch ${canary}-pipe"\nfile: ${canary}-file\ninc: :include:${included}\nmixed: "|touch ${canary}-mixed", box@example.net\n`);
  for (const rcpt of ['evil', 'file', 'inc', 'mixed']) {
    const r = await runCli(['sendmail', '-i', '-odq', rcpt], { input: msg(`alias ${rcpt}`), env: h.env });
    assert.equal(r.code, 0, r.stderr);
  }
  const f = await runCli(['flush'], { env: h.env });
  assert.equal(f.code, 0, f.stderr);
  for (const n of ls(h.dir)) assert.ok(!n.startsWith('canary'), `${n} was created`);
  const got = delivered(h);
  assert.equal(got.length, 4, 'every message is delivered somewhere (as addressed when all targets were skipped)');
  assert.ok(!got.some((m) => /^Delivered-To: included-target@/m.test(m)), ':include: was read');
  assert.ok(got.some((m) => /^Delivered-To: box@example\.net/m.test(m) && m.includes('alias mixed')));
});

// ---- 5. The network: listener and relay --------------------------------------------------------

test('claim 9: the listener listens on loopback only unless configured, and refuses peers it does not trust', async () => {
  const h = newHost((x) => boxToml(x));
  const show = await runCli(['config', 'show'], { env: h.env });
  assert.equal(show.code, 0, show.stderr);
  const listen = /^listen = \[(.*)\]$/m.exec(show.stdout)?.[1];
  assert.ok(listen, show.stdout);
  const addrs = [...listen.matchAll(/"([^"]+)"/g)].map((m) => parseListen(m[1]!)!);
  assert.ok(addrs.length > 0);
  for (const a of addrs) assert.ok(isLoopback(a.host), `default listen address ${a.host} is not loopback`);
  assert.match(show.stdout, /^allow_relay_from = \[\]$/m);

  // A peer outside the trusted networks and allow_relay_from: 554 at connect, nothing accepted.
  const config = { general: { hostname: 'sec.example.com', domain: 'example.com', maxMessageSize: 1 << 20 },
    listener: { listen: ['127.0.0.1:0'], allowRelayFrom: [], tlsCert: null, tlsKey: null, users: {} } } as unknown as Config;
  let queued = 0;
  const listener = await startListener({ config: () => config, log: memoryLogger(), listen: [{ host: '127.0.0.1', port: 0 }],
    trustedNetworks: ['127.0.0.2/32'], queue: async () => { queued++; return 'never'; } });
  cleanups.push(() => listener.close());
  const { smtpSubmit } = await import(pathToFileURL(join(repoRoot, 'bench', 'chaos.mjs')).href) as unknown as ChaosModule;
  const r = await smtpSubmit({ port: listener.addresses[0]!.port, from: 'a@example.com', to: ['b@example.net'], data: msg('outsider') });
  assert.equal(r.code, 554, r.text);
  assert.equal(queued, 0);

  // Relaying for other hosts needs TLS and users: a config without them is refused.
  h.writeConfig(boxToml(h) + `[listener]\nallow_relay_from = ["192.0.2.0/24"]\n`);
  const bad = await runCli(['config', 'check'], { env: h.env });
  assert.equal(bad.code, 78, bad.stderr);
  assert.match(bad.stderr, /tls_cert|users/);
});

test('claim 10: TLS certificates are verified by default: an unknown CA is refused before AUTH or any mail', async () => {
  const sink = await startSink({ users: { alice: SECRET }, certs });
  cleanups.push(() => sink.close());
  const h = newHost(() => '');
  const pw = writeSecret(h.dir, 'relay.pass', SECRET);
  h.writeConfig(`[general]\nhostname = "sec.example.com"\ndomain = "example.com"\naliases = false\n`
    + `[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\nport = ${sink.port}\nusername = "alice"\npassword_file = "${pw}"\n`);
  const show = await runCli(['config', 'show'], { env: h.env });
  assert.match(show.stdout, /^security = "starttls"$/m);
  assert.match(show.stdout, /^tls_verify = true$/m);
  const r = await runCli(['sendmail', '-i', '-odq', 'x@example.net'], { input: msg('tls'), env: h.env });
  assert.equal(r.code, 0, r.stderr);
  const f = await runCli(['flush'], { env: h.env });
  assert.equal(f.code, 0, f.stderr);
  const ev = h.events().find((e) => e.event === 'deferred');
  assert.ok(ev, 'deferred, not sent and not bounced');
  assert.match(String(ev.reason), /certificate/i);
  assert.equal(sink.auths.length, 0, 'no credentials sent to an unverified server');
  assert.equal(sink.messages.length, 0);
});

test('claim 11: a relay that drops STARTTLS from its EHLO gets no password and no mail (no downgrade)', async () => {
  const seen: string[] = [];
  const relay = await startRawSmtp(async (c: RawConnection) => {
    c.reply('220 mitm.relay ESMTP');
    for (;;) {
      const line = await c.readLine(10_000);
      if (line === null) return;
      seen.push(line);
      if (/^EHLO/i.test(line)) c.reply('250-mitm.relay', '250 AUTH PLAIN LOGIN');
      else if (/^STARTTLS/i.test(line)) c.reply('454 4.7.0 TLS not available');
      else if (/^QUIT/i.test(line)) { c.reply('221 bye'); c.end(); return; }
      else c.reply('250 ok');
    }
  });
  cleanups.push(() => relay.close());
  const h = newHost(() => '');
  const pw = writeSecret(h.dir, 'relay.pass', SECRET);
  h.writeConfig(`[general]\nhostname = "sec.example.com"\ndomain = "example.com"\naliases = false\n`
    + `[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\nport = ${relay.port}\nusername = "alice"\npassword_file = "${pw}"\n`);
  assert.equal((await runCli(['sendmail', '-i', '-odq', 'x@example.net'], { input: msg('downgrade'), env: h.env })).code, 0);
  const f = await runCli(['flush'], { env: h.env });
  assert.equal(f.code, 0, f.stderr);
  assert.ok(seen.length > 0, 'the relay was contacted');
  assert.deepEqual(seen.filter((l) => /^(AUTH|MAIL|RCPT|DATA)/i.test(l)), [], 'no AUTH and no mail over the unencrypted connection');
  assert.match(String(h.events().find((e) => e.event === 'deferred')?.reason), /STARTTLS/i);
});

test('claim 12: a hostile relay\'s reply text reaches the admin\'s terminal and the bounce without control characters, and bounded', async () => {
  const relay = await startRawSmtp(async (c: RawConnection) => {
    c.reply('220 evil.relay ESMTP');
    for (;;) {
      const line = await c.readLine(10_000);
      if (line === null) return;
      if (/^EHLO/i.test(line)) c.reply('250 evil.relay');
      else if (/^RCPT/i.test(line)) c.reply(`550 5.1.1 \x1b[2J\x1b]0;pwned\x07 \x00${'A'.repeat(20_000)}`);
      else if (/^QUIT/i.test(line)) { c.reply('221 bye'); c.end(); return; }
      else c.reply('250 ok');
    }
  });
  cleanups.push(() => relay.close());
  const h = newHost((x) => `[general]\nhostname = "sec.example.com"\ndomain = "example.com"\naliases = false\nadmin = "postmaster@example.com"\n`
    + `[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\nport = ${relay.port}\nsecurity = "none"\n`
    + `[transports.box]\ntype = "maildir"\npath = "${join(x.dir, 'Maildir')}"\n`
    + `[[routes]]\nname = "here"\nmatch = { domain = ["example.com"] }\ntransport = "box"\n[[routes]]\nname = "out"\ntransport = "relay"\n`);
  assert.equal((await runCli(['sendmail', '-i', '-odq', '-f', 'ops@example.com', 'x@example.net'], { input: msg('hostile relay'), env: h.env })).code, 0);
  const f = await runCli(['flush'], { env: h.env });
  assert.equal(f.code, 0, f.stderr);
  const failed = h.events().find((e) => e.event === 'failed');
  assert.ok(failed, 'a 550 fails the recipient');
  // The JSON log escapes control characters by itself; what matters is what reaches a terminal.
  const problems: string[] = [];
  const views = { 'sysmail queue --failed': await runCli(['queue', '--failed'], { env: h.env }), 'sysmail log': await runCli(['log'], { env: h.env }) };
  for (const [what, r] of Object.entries(views)) {
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    assert.match(r.stdout, /550/, what);
    if (/[\x00\x07\x1b]/.test(r.stdout)) problems.push(`${what} prints the relay's control characters to the terminal`);
  }
  const len = String(failed.reason).length;
  if (len > 2000) problems.push(`a reply of 20 KB is logged as ${len} characters`);
  const bounce = delivered(h);
  assert.equal(bounce.length, 1, 'the sender gets a bounce');
  if (/[\x00\x07\x1b]/.test(bounce[0]!.split('\n\n')[0]!)) problems.push('control characters in the bounce header');
  if (/[\x00\x07\x1b]/.test(/Diagnostic-Code: .*/.exec(bounce[0]!)?.[0] ?? '')) problems.push('control characters in the DSN');
  assert.deepEqual(problems, []);
});

// ---- Findings of the hostile review (issue 8) ----------------------------------------------------

test('finding 1: a user who swaps Maildir/tmp for a symlink while root delivers never gets a file into another directory', async () => {
  const { deliverToMaildir } = await import('../src/transports/maildir.js');
  const top = mkdtempSync(join(tmpdir(), 'sysmail-race-'));
  cleanups.push(() => rmSync(top, { recursive: true, force: true }));
  chmodSync(top, 0o755);
  const home = join(top, 'home');
  const rootOnly = join(top, 'root-only');
  mkdirSync(rootOnly, { mode: 0o700 });
  mkdirSync(join(home, 'Maildir', 'tmp'), { recursive: true });
  for (const d of [home, join(home, 'Maildir'), join(home, 'Maildir', 'tmp')]) chownSync(d, NOBODY, NOBODY);
  // The attacker, as nobody: swap tmp/ and a symlink to the root-only directory, as fast as it can.
  const stop = join(top, 'stop');
  const swapper = `const fs = require('fs'); const p = process.argv[1], t = process.argv[2], stop = process.argv[3]; let n = 0;
    for (; !fs.existsSync(stop);) { try { fs.renameSync(p + '/tmp', p + '/tmp.real'); fs.symlinkSync(t, p + '/tmp'); n++;
      fs.unlinkSync(p + '/tmp'); fs.renameSync(p + '/tmp.real', p + '/tmp'); } catch {} }
    process.stdout.write(String(n));`;
  const attacker = spawn(process.execPath, ['-e', swapper, join(home, 'Maildir'), rootOnly, stop], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => attacker.kill('SIGKILL'));
  let swaps = '';
  attacker.stdout!.on('data', (d) => { swaps += d; });
  const exited = new Promise((r) => attacker.on('close', r));
  let ok = 0;
  let refused = 0;
  for (let i = 0; i < 1500; i++) {
    try {
      await deliverToMaildir(join(home, 'Maildir'), Buffer.from(`Subject: race ${i}\n\nx\n`), { owner: { uid: NOBODY, gid: NOBODY }, base: home });
      ok++;
    } catch { refused++; }
  }
  writeFileSync(stop, '');
  await exited;
  assert.ok(Number(swaps) > 100, `the attacker swapped ${swaps} times`);
  assert.ok(ok > 0 && refused > 0, `delivered ${ok}, deferred ${refused}: the race did happen`);
  assert.deepEqual(readdirSync(rootOnly), [], 'root created files in a directory the user pointed a symlink at');
});

/** Writes a drop file as `uid` would, with whatever envelope and body an attacker likes. */
function forgeDrop(h: TestHost, name: string, recipients: string[], body: Buffer | string, uid = NOBODY): string {
  const b = Buffer.from(body);
  const p = join(h.spool, 'drop', name);
  writeFileSync(p, Buffer.concat([encodeHeader({ sender: 'nobody@example.com', recipients, submittedAt: Date.now(), uid, user: 'x', via: 'sendmail' }, b.length), b]), { mode: 0o600 });
  chownSync(p, uid, uid);
  return p;
}
const corruptReasons = (h: TestHost) => ls(join(h.spool, 'corrupt')).filter((n) => n.endsWith('.reason'))
  .map((n) => readFileSync(join(h.spool, 'corrupt', n), 'utf8')).join('\n');

test('finding 2: drop import applies the sendmail checks and preparation: no |cmd, /path, -oX; NUL refused; Bcc removed; Date, From, Message-ID and Received added', async () => {
  const h = newHost((x) => boxToml(x));
  assert.equal((await runCli(['sendmail', '-i', '-odq', 'box@example.net'], { input: msg('setup'), env: h.env })).code, 0);
  const canary = join(h.dir, 'canary');
  forgeDrop(h, '01AAAAAAAAAAAAAAAAAAA', [`|/bin/touch ${canary}`], msg('pipe'));
  forgeDrop(h, '01BBBBBBBBBBBBBBBBBBB', [canary], msg('file'));
  forgeDrop(h, '01CCCCCCCCCCCCCCCCCCC', ['-oQ/tmp@cmd.test'], msg('option'));
  forgeDrop(h, '01DDDDDDDDDDDDDDDDDDD', ['box@example.net'], 'Subject: nul\n\nbinary \0 here\n');
  forgeDrop(h, '01EEEEEEEEEEEEEEEEEEE', ['plain'], 'Subject: bare\nBcc: hidden@example.org\n\nno date, no from\n');
  const f = await runCli(['flush'], { env: h.env });
  assert.equal(f.code, 0, f.stderr);
  const got = delivered(h);
  assert.equal(got.length, 2, `the setup message and the one valid drop file only: ${got.map((m) => m.slice(0, 200)).join('\n---\n')}`);
  assert.equal(existsSync(canary), false, 'a recipient was run or written');
  const bare = got.find((m) => m.includes('Subject: bare'));
  assert.ok(bare, 'the valid drop file is delivered');
  const head = bare.split('\n\n')[0]!;
  assert.match(head, /^Delivered-To: plain@example\.com$/m, 'a bare name is qualified as sendmail does');
  assert.doesNotMatch(head, /^Bcc:/mi);
  assert.match(head, /^Date: /m);
  assert.match(head, /^Message-ID: </m);
  assert.match(head, /^From: /m);
  assert.match(head, /^Received: by sec\.example\.com \(sysmail, from userid 65534\);/m, 'the real submitter is in the trace');
  const reasons = corruptReasons(h);
  for (const r of [/\|\/bin\/touch|pipe|command/i, /NUL/]) assert.match(reasons, r);
  assert.equal(reasons.match(/refused/g)?.length, 4, reasons);
});

test('finding 5: sendmail -t with 100,000 To: addresses exits 65 naming the limit, and nothing is queued to be lost later', async () => {
  const h = newHost((x) => boxToml(x));
  const to = Array.from({ length: 100_000 }, (_, i) => `u${i}@example.net`).join(', ');
  const r = await runCli(['sendmail', '-t', '-i', '-odq'], { input: `From: a@example.com\nTo: ${to}\nSubject: many\n\nx\n`, env: h.env, timeoutMs: 60_000 });
  assert.equal(r.code, 65, `exit ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, /1000 recipients/);
  assert.deepEqual(ls(join(h.spool, 'queue')), []);
  assert.deepEqual(ls(join(h.spool, 'corrupt')), []);
  const ok = await runCli(['sendmail', '-t', '-i', '-odq'], { input: `From: a@example.com\nTo: ${to.split(', ').slice(0, 1000).join(', ')}\nSubject: many\n\nx\n`, env: h.env });
  assert.equal(ok.code, 0, `1000 recipients are allowed: ${ok.stderr}`);
});

test('finding 6: one user cannot make root write without bound: per-pass quota, bounded root-owned quarantine copies, in-flight files capped', async () => {
  const h = newHost((x) => boxToml(x));
  assert.equal((await runCli(['sendmail', '-i', '-odq', 'box@example.net'], { input: msg('setup'), env: h.env })).code, 0);
  for (let i = 0; i < 150; i++) forgeDrop(h, `01F${String(i).padStart(18, '0')}`, ['box@example.net'], msg(`flood ${i}`));
  // Another user's sparse 20 MB "message" (all NUL) and 1 MB of garbage: refused, and root keeps only a bounded copy.
  const other = 4242;
  const sparse = join(h.spool, 'drop', '01GGGGGGGGGGGGGGGGGGG');
  const sparseHeader = encodeHeader({ sender: 'x@example.com', recipients: ['box@example.net'], submittedAt: Date.now(), uid: other, user: 'x', via: 'sendmail' }, 20 << 20);
  writeFileSync(sparse, sparseHeader, { mode: 0o600 });
  chownSync(sparse, other, other);
  const fd = spawnSync('truncate', ['-s', String(sparseHeader.length + (20 << 20)), sparse]);
  assert.equal(fd.status, 0);
  writeFileSync(join(h.spool, 'drop', '01HHHHHHHHHHHHHHHHHHH'), Buffer.alloc(1 << 20, 0x41));
  chownSync(join(h.spool, 'drop', '01HHHHHHHHHHHHHHHHHHH'), other, other);
  for (let i = 0; i < 300; i++) {
    const p = join(h.spool, 'drop', `.01I${i}.x`);
    writeFileSync(p, '');
    chownSync(p, NOBODY, NOBODY);
  }
  const f = await runCli(['flush'], { env: h.env, timeoutMs: 60_000 });
  assert.equal(f.code, 0, f.stderr);
  const left = ls(join(h.spool, 'drop'));
  assert.ok(left.filter((n) => !n.startsWith('.')).length >= 50, `one pass took more than 100 of one user's files: ${left.length} left`);
  assert.ok(left.filter((n) => n.startsWith('.')).length <= 100, 'in-flight files beyond the per-user cap are removed');
  for (const n of ls(join(h.spool, 'corrupt')).filter((x) => !x.endsWith('.reason'))) {
    const st = statSync(join(h.spool, 'corrupt', n));
    assert.ok(st.size <= 64 * 1024, `corrupt/${n} holds ${st.size} bytes`);
    assert.equal(st.uid, 0, `corrupt/${n} is the user's own inode (uid ${st.uid}): they could keep writing into it`);
  }
  assert.match(corruptReasons(h), /NUL/);
});

const TERMINAL_UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

test('finding 3: a relay greeting with ESC, BEL, C1, bidi overrides and 20 KB reaches queue, log and doctor escaped and bounded', async () => {
  // As UTF-8 on the wire (the raw server writes latin1: one char per byte).
  const evil = Buffer.from(`\x1b[2J\x1b]0;pwned\x07 \u009b31m \u202egnp.exe ${'A'.repeat(20_000)}`, 'utf8').toString('latin1');
  const relay = await startRawSmtp(async (c: RawConnection) => {
    c.reply(`220 evil.relay ESMTP ${evil}`);
    for (;;) {
      const line = await c.readLine(10_000);
      if (line === null) return;
      if (/^EHLO/i.test(line)) c.reply('250-evil.relay', '250 AUTH PLAIN');
      else if (/^QUIT/i.test(line)) { c.reply('221 bye'); c.end(); return; }
      else c.reply(`454 4.7.0 ${evil}`);
    }
  });
  cleanups.push(() => relay.close());
  const h = newHost(() => `[general]\nhostname = "sec.example.com"\ndomain = "example.com"\naliases = false\n`
    + `[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\nport = ${relay.port}\n`);
  assert.equal((await runCli(['sendmail', '-i', '-odq', 'x@example.net'], { input: msg('greeting'), env: h.env })).code, 0);
  assert.equal((await runCli(['flush'], { env: h.env })).code, 0);
  const views = {
    'sysmail queue': await runCli(['queue'], { env: h.env }),
    'sysmail log': await runCli(['log'], { env: h.env }),
    'sysmail doctor': await runCli(['doctor'], { env: h.env, timeoutMs: 30_000 }),
    'sysmail queue --json': await runCli(['queue', '--json'], { env: h.env }),
  };
  assert.match(views['sysmail log'].stdout, /deferred/);
  for (const [what, r] of Object.entries(views)) {
    const out = r.stdout + r.stderr;
    assert.ok(!TERMINAL_UNSAFE.test(out), `${what} prints the relay's control or bidi characters: ${JSON.stringify(out.match(TERMINAL_UNSAFE))}`);
    const longest = Math.max(...out.split('\n').map((l) => l.length));
    assert.ok(longest < 4000, `${what} prints a ${longest}-character line`);
  }
  const log = readFileSync(h.logFile, 'utf8');
  assert.ok(!TERMINAL_UNSAFE.test(log), 'the JSON log holds raw C1 or bidi characters');
  assert.ok(log.split('\n').every((l) => l.length < 8000), 'the JSON log keeps 20 KB of a relay\'s text');
});

test('finding 4: a relay that hides STARTTLS gets no password with security "opportunistic" or "none", unless allow_plaintext_auth says so (with a warning)', async () => {
  const seen: string[] = [];
  const relay = await startRawSmtp(async (c: RawConnection) => {
    c.reply('220 mitm.relay ESMTP');
    for (;;) {
      const line = await c.readLine(10_000);
      if (line === null) return;
      seen.push(line);
      if (/^EHLO/i.test(line)) c.reply('250-mitm.relay', '250 AUTH PLAIN LOGIN CRAM-MD5');
      else if (/^AUTH CRAM-MD5$/i.test(line)) {
        c.reply(`334 ${Buffer.from('<1.2@mitm.relay>').toString('base64')}`);
        await c.readLine(10_000); // the response a man in the middle would attack offline
        c.reply('235 2.7.0 ok');
      } else if (/^AUTH/i.test(line)) c.reply('235 2.7.0 ok');
      else if (/^DATA/i.test(line)) {
        c.reply('354 go');
        while ((await c.readLine(10_000)) !== '.') { /* the message */ }
        c.reply('250 2.0.0 queued');
      } else if (/^QUIT/i.test(line)) { c.reply('221 bye'); c.end(); return; }
      else c.reply('250 ok');
    }
  });
  cleanups.push(() => relay.close());
  const h = newHost(() => '');
  const pw = writeSecret(h.dir, 'relay.pass', SECRET);
  const cfg = (security: string, extra = '') => `[general]\nhostname = "sec.example.com"\ndomain = "example.com"\naliases = false\n`
    + `[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\nport = ${relay.port}\nsecurity = "${security}"\nusername = "alice"\npassword_file = "${pw}"\n${extra}`;
  for (const security of ['opportunistic', 'none']) {
    h.writeConfig(cfg(security));
    seen.length = 0;
    assert.equal((await runCli(['sendmail', '-i', '-odq', 'x@example.net'], { input: msg(security), env: h.env })).code, 0);
    assert.equal((await runCli(['flush'], { env: h.env })).code, 0);
    assert.deepEqual(seen.filter((l) => /^(AUTH|MAIL)/i.test(l)), [], `security = "${security}": AUTH or mail without TLS`);
    const reason = String(h.events().filter((e) => e.event === 'deferred').at(-1)?.reason);
    assert.match(reason, /not sending the password.*not encrypted/);
    const doctor = await runCli(['doctor'], { env: h.env, timeoutMs: 30_000 });
    assert.match(doctor.stdout, /✗ transport relay: .*password/);
  }
  h.writeConfig(cfg('none', 'allow_plaintext_auth = true\n'));
  const check = await runCli(['config', 'check'], { env: h.env });
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stderr, /warning: transports\.relay\.allow_plaintext_auth = true/);
  assert.equal((await runCli(['sendmail', '-i', '-odq', 'x@example.net'], { input: msg('opt-in'), env: h.env })).code, 0);
  assert.equal((await runCli(['flush'], { env: h.env })).code, 0);
  assert.ok(seen.some((l) => /^AUTH/i.test(l)), 'the explicit opt-in sends AUTH');
  const sent = h.events().filter((e) => e.event === 'delivered');
  assert.ok(sent.length >= 1 && sent.every((e) => /\(no TLS\)/.test(String(e.reason))), `the log says the session had no TLS: ${JSON.stringify(h.events().slice(-3))} ${seen.join(' / ')}`);
  const doctor = await runCli(['doctor'], { env: h.env, timeoutMs: 30_000 });
  assert.match(doctor.stdout, /✗ transport relay: .*without verified TLS/, 'doctor shows ✗ for AUTH without TLS');
});

test('finding 4: esmtp "starttls = enabled" with a password imports as security = "starttls"', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sysmail-esmtp-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'esmtprc'), 'hostname = smtp.example.com:587\nusername = u\npassword = p4ss\nstarttls = enabled\n', { mode: 0o600 });
  const r = await runCli(['import', 'esmtprc', join(dir, 'esmtprc')], { env: { SYSMAIL_STATE_DIR: join(dir, 'state') } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^security = "starttls"/m);
  assert.doesNotMatch(r.stdout, /opportunistic|allow_plaintext_auth/);
});

test('finding 7: sysmail -C FILE config check is the config command, not mail to config@ and check@', async () => {
  const h = newHost(deadToml);
  const r = await runCli(['-C', h.configFile, 'config', 'check'], { env: {} });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /OK/);
  assert.deepEqual(ls(join(h.spool, 'queue')), [], 'mail was queued');
});

test('finding 7: flush --id with a path is refused (64); queue --json survives nextAttemptAt 1e308', async () => {
  const h = newHost(deadToml);
  const bad = await runCli(['flush', '--id', '../../x'], { env: h.env });
  assert.equal(bad.code, 64, bad.stderr);
  assert.match(bad.stderr, /not a queue id/);
  assert.equal((await runCli(['sendmail', '-i', '-odq', 'x@dead.example'], { input: msg('far future'), env: h.env })).code, 0);
  assert.equal((await runCli(['flush'], { env: h.env })).code, 0);
  const [id] = ls(join(h.spool, 'state'));
  const p = join(h.spool, 'state', id!);
  writeFileSync(p, readFileSync(p, 'utf8').replace(/"nextAttemptAt":\s*[0-9.e+]+/, '"nextAttemptAt":1e308'));
  assert.match(readFileSync(p, 'utf8'), /1e308/);
  for (const args of [['queue', '--json'], ['queue']]) {
    const q = await runCli(args, { env: h.env });
    assert.equal(q.code, 0, `${args.join(' ')}: ${q.stderr}`);
  }
});

test('finding 7: sysmail log as an unprivileged user says permission denied (77), not "nothing has been submitted"', async () => {
  const h = newHost(deadToml);
  chmodSync(h.configFile, 0o644);
  assert.equal((await runCli(['sendmail', '-i', '-odq', 'x@dead.example'], { input: msg('log'), env: h.env })).code, 0);
  const cli = nobodyCli();
  const r = asNobody([...cli.argv, 'log'], { env: h.env, asRoot: cli.asRoot });
  assert.equal(r.code, 77, `${r.code}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /permission denied/);
});

test('finding 7: a placeholder alone in an argv element cannot become an option; a password_env secret never reaches preconnect', async () => {
  const h = newHost(() => '');
  const outDir = join(h.dir, 'out');
  mkdirSync(outDir);
  chmodSync(outDir, 0o1777);
  const out = join(outDir, 'arg');
  const envOut = join(outDir, 'preconnect.env');
  h.writeConfig(`[general]\nhostname = "sec.example.com"\ndomain = "example.com"\naliases = false\n`
    + `[transports.cmd]\ntype = "command"\nargv = ["/bin/sh", "-c", "printf '%s' \\"$1\\" > ${out}", "sh", "{subject}"]\nstdin = "none"\n`
    + `[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\nport = ${deadPort}\nsecurity = "tls"\nusername = "alice"\npassword_env = "SYSMAIL_SEC_PW"\n`
    + `preconnect = ["/bin/sh", "-c", "env > ${envOut}"]\ntimeouts = { connect = "1s" }\n`
    + `[[routes]]\nname = "cmd"\nmatch = { domain = ["cmd.example"] }\ntransport = "cmd"\n[[routes]]\nname = "out"\ntransport = "relay"\n`);
  assert.equal((await runCli(['sendmail', '-i', '-odq', 'x@cmd.example'], { input: 'Subject: --exec=touch /tmp/x\n\nb\n', env: h.env })).code, 0);
  assert.equal((await runCli(['sendmail', '-i', '-odq', 'x@relay.example'], { input: msg('pre'), env: h.env })).code, 0);
  const f = await runCli(['flush'], { env: { ...h.env, SYSMAIL_SEC_PW: SECRET } });
  assert.equal(f.code, 0, f.stderr);
  await waitUntil(() => existsSync(out), 5000, 'the command to run');
  assert.equal(readFileSync(out, 'utf8'), ' --exec=touch /tmp/x', 'the subject reaches the program as an operand');
  assert.ok(existsSync(envOut), 'preconnect ran');
  assert.ok(!readFileSync(envOut, 'utf8').includes(SECRET), 'the password_env secret is in the environment of preconnect');
});

test('finding 7: one local user cannot hold every listener session; root still gets one; repeated AUTH failures are answered ever slower', async () => {
  const { procAddress } = await import('../src/server/slots.js');
  assert.deepEqual(procAddress('127.0.0.1', 25), { file: 'tcp', text: '0100007F:0019' });
  assert.deepEqual(procAddress('::1', 25), { file: 'tcp6', text: '00000000000000000000000001000000:0019' });
  const log = memoryLogger();
  const config = { general: { hostname: 'sec.example.com', domain: 'example.com', maxMessageSize: 1 << 20 },
    listener: { listen: ['127.0.0.1:0'], allowRelayFrom: ['127.0.0.2/32'], tlsCert: certs.certFile, tlsKey: certs.keyFile,
      users: { relay: { value: 'right pass' } } } } as unknown as Config;
  const listener = await startListener({ config: () => config, log, listen: [{ host: '127.0.0.1', port: 0 }],
    trustedNetworks: ['127.0.0.1/32'], queue: async () => 'never' });
  cleanups.push(() => listener.close());
  const port = listener.addresses[0]!.port;
  // nobody opens 15 sessions and keeps them until told to stop.
  const hog = `const net = require('net'); const codes = []; const socks = [];
    for (let i = 0; i < 15; i++) { const s = net.connect(${port}, '127.0.0.1'); socks.push(s); s.on('error', () => {});
      s.once('data', (d) => { codes.push(Number(String(d).slice(0, 3))); if (codes.length === 15) process.stdout.write(JSON.stringify(codes) + '\\n'); }); }
    process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`;
  const child = spawn(process.execPath, ['-e', hog], { uid: NOBODY, gid: NOBODY, stdio: ['pipe', 'pipe', 'inherit'] });
  cleanups.push(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  await waitUntil(() => out.includes(']'), 15_000, 'the 15 sessions of nobody to be answered');
  const codes = JSON.parse(out) as number[];
  assert.equal(codes.filter((c) => c === 220).length, 10, `nobody got ${JSON.stringify(codes)}`);
  assert.equal(codes.filter((c) => c === 421).length, 5);
  const { smtpSubmit } = await import(pathToFileURL(join(repoRoot, 'bench', 'chaos.mjs')).href) as unknown as ChaosModule;
  const root = await smtpSubmit({ port, from: 'root@example.com', to: ['x@example.net'], data: msg('root') });
  assert.equal(root.code, 250, `root while nobody holds its sessions: ${root.code} ${root.text}`);
  child.stdin!.end();
  assert.ok(log.events.some((e) => /session refused: uid 65534 already holds 10 sessions/.test(String(e.reason))), 'the refusal is logged with the uid');

  const nodemailer = (await import('nodemailer')).default;
  const tryAuth = () => nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, requireTLS: true, localAddress: '127.0.0.2',
    tls: { ca: certs.caPem, servername: 'localhost' }, auth: { user: 'relay', pass: 'wrong' }, connectionTimeout: 20_000, socketTimeout: 20_000 })
    .verify().then(() => 0, (e: { responseCode?: number }) => e.responseCode ?? -1);
  for (let i = 0; i < 3; i++) assert.equal(await tryAuth(), 535);
  const slow = log.events.filter((e) => /AUTH failure \d+ from this address; answering after/.test(String(e.reason))).map((e) => String(e.reason));
  assert.equal(slow.length, 3, JSON.stringify(slow));
  assert.match(slow[2]!, /AUTH failure 3 from this address; answering after 3000 ms/);
});

test('finding 7: sendmail -bs as an unprivileged user says the name is a drop file, and the log links it to the queue id', async () => {
  const h = newHost((x) => boxToml(x));
  chmodSync(h.configFile, 0o644);
  assert.equal((await runCli(['sendmail', '-i', '-odq', 'box@example.net'], { input: msg('root first'), env: h.env })).code, 0);
  const cli = nobodyCli();
  const dialogue = 'EHLO client.example\r\nMAIL FROM:<nobody@example.com>\r\nRCPT TO:<box@example.net>\r\nDATA\r\nSubject: bs\r\n\r\nhi\r\n.\r\nQUIT\r\n';
  const s = asNobody([...cli.argv, 'sendmail', '-bs'], { env: h.env, input: dialogue, asRoot: cli.asRoot });
  assert.equal(s.code, 0, s.stdout + s.stderr);
  const m = /^250 Ok: queued as (\S+) in drop\//m.exec(s.stdout);
  assert.ok(m, `the reply names a drop file: ${s.stdout}`);
  assert.equal((await runCli(['flush'], { env: h.env })).code, 0);
  const log = await runCli(['log', '--id', m[1]!], { env: h.env });
  assert.match(log.stdout, new RegExp(`accepted +\\S+ .*via drop by nobody \\(from drop/${m[1]}\\)`));
});
