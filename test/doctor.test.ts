/**
 * `sysmail doctor` and `sysmail test` against deliberately broken hosts laid
 * out in temp directories: real SMTP servers on 127.0.0.1 (one with a
 * self-signed certificate, one with AUTH), a closed port, a staged root whose
 * /usr/sbin/sendmail leads to an exim-like program, a spool with wrong modes,
 * and a loopback stand-in for OCI that verifies the request signature. The
 * CLI is the compiled one, spawned as an admin would run it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtures, tempDir } from './helpers/paths.js';
import { makeCerts } from './helpers/certs.js';
import { startSink, type Sink } from './helpers/smtp-sink.js';
import { parseDebianQuery, parseRhelDisplay } from '../src/system/alternatives.js';
import { checkMtaLinks } from '../src/doctor/mta-checks.js';
import { followChain } from '../src/system/mta-links.js';
import { checkSelinux, contextType } from '../src/doctor/selinux.js';
import { ramVerdict, spaceVerdict, TMPFS_MAGIC } from '../src/doctor/spool-checks.js';
import { clockVerdict, probeOci } from '../src/doctor/oci-probe.js';
import { exitCodeFor, fail, ok, warn } from '../src/doctor/report.js';
import type { Runner } from '../src/system/exec.js';
import { wrapperScript } from '../src/install/content.js';
import { WRAPPERS } from '../src/system/layout.js';
import { keyFingerprint, parseAuthorization, signingString, verifySignature } from '../src/transports/oci/signer.js';
import type { OciTransportConfig } from '../src/config/types.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const dirs: string[] = [];
const sinks: Sink[] = [];
after(async () => {
  for (const s of sinks) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Item { check: string; status: 'ok' | 'fail' | 'warn' | 'info'; detail: string; fix: string | null }

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

async function doctorJson(args: string[]): Promise<{ code: number | null; items: Item[]; stderr: string }> {
  const r = await run(['doctor', '--json', ...args]);
  let items: Item[];
  try { items = JSON.parse(r.stdout) as Item[]; } catch { throw new Error(`doctor --json printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`); }
  return { code: r.code, items, stderr: r.stderr };
}

const find = (items: Item[], check: string, status?: Item['status']) =>
  items.filter((i) => i.check === check && (!status || i.status === status));

/** A closed port on 127.0.0.1: bound by the kernel, then released. */
async function closedPort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Host { dir: string; root: string; config: string; spool: string; write(toml: string): void }

/** A temp host: a staged root (os-release, sendmail link) and a config pointing at a spool and log inside it. */
function makeHost(opts: { spool?: 'good' | 'missing' | 'bad'; sendmail?: 'sysmail' | 'exim' } = {}): Host {
  const dir = tempDir('sysmail-doctor-');
  dirs.push(dir);
  chmodSync(dir, 0o755);
  const root = join(dir, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'os-release'), 'ID=debian\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n');
  mkdirSync(join(root, 'usr', 'sbin'), { recursive: true });
  mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
  mkdirSync(join(root, 'etc', 'alternatives'), { recursive: true });
  if ((opts.sendmail ?? 'sysmail') === 'sysmail') {
    writeFileSync(join(root, WRAPPERS.sendmail.path), wrapperScript(WRAPPERS.sendmail, process.execPath, cli), { mode: 0o755 });
    writeFileSync(join(root, WRAPPERS.mailq.path), wrapperScript(WRAPPERS.mailq, process.execPath, cli), { mode: 0o755 });
    symlinkSync('/usr/sbin/sendmail.sysmail', join(root, 'etc', 'alternatives', 'sendmail'));
    symlinkSync('/usr/bin/mailq.sysmail', join(root, 'etc', 'alternatives', 'sendmail-mailq'));
    symlinkSync('/etc/alternatives/sendmail', join(root, 'usr', 'sbin', 'sendmail'));
    symlinkSync('/etc/alternatives/sendmail-mailq', join(root, 'usr', 'bin', 'mailq'));
  } else {
    writeFileSync(join(root, 'usr', 'sbin', 'exim4'), '\x7fELF pretend exim\n', { mode: 0o755 });
    symlinkSync('/usr/sbin/exim4', join(root, 'etc', 'alternatives', 'mta'));
    symlinkSync('/etc/alternatives/mta', join(root, 'usr', 'sbin', 'sendmail'));
    symlinkSync('../sbin/exim4', join(root, 'usr', 'bin', 'mailq'));
  }
  const spool = join(dir, 'spool');
  if ((opts.spool ?? 'good') !== 'missing') {
    mkdirSync(spool, { mode: 0o711 });
    chmodSync(spool, 0o711);
    for (const a of ['tmp', 'queue', 'active', 'state', 'failed', 'corrupt']) { mkdirSync(join(spool, a)); chmodSync(join(spool, a), 0o700); }
    mkdirSync(join(spool, 'drop'));
    chmodSync(join(spool, 'drop'), opts.spool === 'bad' ? 0o755 : 0o1777);
    if (opts.spool === 'bad') chmodSync(join(spool, 'queue'), 0o755);
  }
  mkdirSync(join(dir, 'log'), { mode: 0o750 });
  const config = join(dir, 'sysmail.toml');
  const host: Host = {
    dir, root, config, spool,
    write(toml) {
      writeFileSync(config, `[general]\nhostname = "doctor.example.com"\nadmin = "admin@example.com"\n\n[spool]\ndir = "${spool}"\n\n[log]\nfile = "${join(dir, 'log', 'sysmail.log')}"\n\n${toml}`, { mode: 0o644 });
      chmodSync(config, 0o644);
    },
  };
  return host;
}

function relayToml(port: number, extra = ''): string {
  return `[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\nport = ${port}\nsecurity = "starttls"\n${extra}\n[[routes]]\ntransport = "relay"\n`;
}

function secret(h: Host, value: string): string {
  const p = join(h.dir, 'relay.password');
  writeFileSync(p, value + '\n', { mode: 0o600 });
  return p;
}

test('healthy host: every check passes, exit 0, and the relay saw EHLO, STARTTLS and AUTH but no mail', async () => {
  const certs = await makeCerts();
  const sink = await startSink({ users: { alice: 'right-password' } });
  sinks.push(sink);
  const h = makeHost();
  h.write(relayToml(sink.port, `ca_file = "${certs.caFile}"\nusername = "alice"\npassword_file = "${secret(h, 'right-password')}"\n`));
  const { code, items, stderr } = await doctorJson(['-C', h.config, '--root', h.root]);
  assert.deepEqual(items.filter((i) => i.status === 'fail'), [], stderr);
  assert.equal(code, 0);
  for (const i of items) {
    assert.deepEqual(Object.keys(i).sort(), ['check', 'detail', 'fix', 'status']);
    assert.ok(['ok', 'fail', 'warn', 'info'].includes(i.status));
  }
  for (const c of ['config', 'spool', 'log', 'sendmail', 'mailq', 'transport relay', 'queue']) assert.equal(find(items, c, 'ok').length, 1, `${c} ok: ${JSON.stringify(items)}`);
  const relay = find(items, 'transport relay')[0]!;
  assert.match(relay.detail, /STARTTLS|TLS/);
  assert.match(relay.detail, /certificate verified/);
  assert.match(relay.detail, /AUTH as alice accepted/);
  assert.match(relay.detail, /QUIT \(no mail sent\)/);
  assert.deepEqual(sink.auths, [{ method: 'PLAIN', username: 'alice', ok: true }]);
  assert.equal(sink.messages.length, 0);
  assert.match(find(items, 'sendmail')[0]!.detail, /\/usr\/sbin\/sendmail → \/etc\/alternatives\/sendmail → \/usr\/sbin\/sendmail\.sysmail/);

  const human = await run(['doctor', '-C', h.config, '--root', h.root]);
  assert.equal(human.code, 0);
  assert.match(human.stdout, /^✓ transport relay: /m);
  assert.match(human.stdout, /All checks passed/);
});

test('broken host: missing spool, sendmail that is exim, unreachable relay: each with its reason and fix, exit 69', async () => {
  const port = await closedPort();
  const h = makeHost({ spool: 'missing', sendmail: 'exim' });
  h.write(relayToml(port));
  const { code, items } = await doctorJson(['-C', h.config, '--root', h.root]);
  assert.equal(code, 69);
  const spool = find(items, 'spool', 'fail')[0]!;
  assert.match(spool.detail, /does not exist/);
  assert.match(spool.fix!, /sysmail install.*mkdir -p -m 0711/s);
  // The fix works as printed, and again when run twice (mkdir -p).
  const manual = /\(or: (.*)\)$/s.exec(spool.fix!)![1]!;
  for (let i = 0; i < 2; i++) assert.equal(spawnSync('/bin/sh', ['-c', manual]).status, 0, manual);
  assert.equal(statSync(join(h.spool, 'drop')).mode & 0o7777, 0o1777);
  const sm = find(items, 'sendmail', 'fail')[0]!;
  assert.match(sm.detail, /\/usr\/sbin\/sendmail → \/etc\/alternatives\/mta → \/usr\/sbin\/exim4/);
  assert.match(sm.detail, /goes to \/usr\/sbin\/exim4/);
  assert.match(sm.fix!, /sysmail install/);
  assert.equal(find(items, 'mailq', 'warn').length, 1);
  const relay = find(items, 'transport relay', 'fail')[0]!;
  assert.match(relay.detail, new RegExp(`127\\.0\\.0\\.1:${port}: connect failed: .*connection refused`));
  assert.match(relay.fix!, /openssl s_client -starttls smtp -connect/);
  // No spool: no queue check that would pretend the queue is empty.
  assert.equal(find(items, 'queue').length, 0);
});

test('bad spool modes are reported with chmod fixes', async () => {
  const h = makeHost({ spool: 'bad' });
  h.write('');
  const { code, items } = await doctorJson(['-C', h.config, '--root', h.root, '--offline']);
  assert.equal(code, 69);
  const spool = find(items, 'spool', 'fail');
  assert.ok(spool.some((i) => /queue is mode 0755/.test(i.detail) && i.fix === `chmod 0700 ${join(h.spool, 'queue')}`), JSON.stringify(spool));
  assert.ok(spool.some((i) => /drop is mode 0755, should be 1777/.test(i.detail) && i.fix === `chmod 1777 ${join(h.spool, 'drop')}`), JSON.stringify(spool));
});

test('a relay with a self-signed certificate fails at the certificate check, with the ca_file fix', async () => {
  const sink = await startSink({ certs: await makeCerts('selfsigned') });
  sinks.push(sink);
  const h = makeHost();
  h.write(relayToml(sink.port));
  const { code, items } = await doctorJson(['-C', h.config, '--root', h.root]);
  assert.equal(code, 69);
  const relay = find(items, 'transport relay', 'fail')[0]!;
  assert.match(relay.detail, /TLS certificate check failed: TLS certificate of 127\.0\.0\.1:\d+ is not trusted/);
  assert.match(relay.fix!, /ca_file/);
  assert.match(relay.fix!, /-showcerts/);
});

test('a wrong password fails at AUTH with the server reply and where the password came from', async () => {
  const certs = await makeCerts();
  const sink = await startSink({ users: { alice: 'right-password' } });
  sinks.push(sink);
  const h = makeHost();
  const pw = secret(h, 'wrong-password');
  h.write(relayToml(sink.port, `ca_file = "${certs.caFile}"\nusername = "alice"\npassword_file = "${pw}"\n`));
  const { code, items } = await doctorJson(['-C', h.config, '--root', h.root]);
  assert.equal(code, 69);
  const relay = find(items, 'transport relay', 'fail')[0]!;
  assert.match(relay.detail, /AUTH failed: authentication to 127\.0\.0\.1:\d+ failed: 535/);
  assert.ok(relay.fix!.includes(pw), relay.fix!);
  assert.equal(sink.messages.length, 0);
});

test('config problems exit 78: an invalid file, an inline password in a file others can read, a password file others can read', async () => {
  const h = makeHost();
  h.write('[transports.relay]\ntype = "smtp"\nhots = "x"\n');
  const bad = await doctorJson(['-C', h.config, '--root', h.root]);
  assert.equal(bad.code, 78);
  assert.match(find(bad.items, 'config', 'fail')[0]!.detail, /hots: unknown key/);

  h.write(relayToml(1, 'username = "alice"\npassword = "inline-secret"\n'));
  const inline = await doctorJson(['-C', h.config, '--root', h.root, '--offline']);
  assert.equal(inline.code, 78);
  const c = find(inline.items, 'config', 'fail')[0]!;
  assert.match(c.detail, /holds a password but is readable by others: chmod 600/);
  assert.ok(!JSON.stringify(inline.items).includes('inline-secret'), 'the secret is never shown');

  const pw = secret(h, 'pw');
  chmodSync(pw, 0o644);
  h.write(relayToml(1, `username = "alice"\npassword_file = "${pw}"\n`));
  const loose = await doctorJson(['-C', h.config, '--root', h.root, '--offline']);
  assert.equal(loose.code, 78);
  const s = find(loose.items, 'secret transports.relay.password', 'fail')[0]!;
  assert.match(s.detail, /readable or writable by others \(mode 0644\)/);
  assert.equal(s.fix, `chmod 600 ${pw}`);
});

test('sysmail test delivers through the route and prints each step; a dead relay defers with exit 75', async () => {
  const certs = await makeCerts();
  const sink = await startSink({ users: { alice: 'pw' } });
  sinks.push(sink);
  const h = makeHost();
  h.write(relayToml(sink.port, `ca_file = "${certs.caFile}"\nusername = "alice"\npassword_file = "${secret(h, 'pw')}"\n`));
  const good = await run(['test', '-C', h.config, 'ops@example.net']);
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /queued \S+ from \S+ to ops@example\.net/);
  assert.match(good.stdout, /route \S+ → transport relay/);
  assert.match(good.stdout, /relay: delivered for ops@example\.net \(250\)/);
  assert.equal(sink.messages.length, 1);
  assert.deepEqual(sink.messages[0]!.to, ['ops@example.net']);
  assert.match(sink.messages[0]!.data.toString(), /Subject: sysmail test from doctor\.example\.com/);

  h.write(relayToml(await closedPort()));
  const dead = await run(['test', '-C', h.config]);
  assert.equal(dead.code, 75, dead.stdout + dead.stderr);
  assert.match(dead.stdout, /deferred for admin@example\.com/);
  assert.match(dead.stdout, /NOT delivered yet: .*connection refused/);
  assert.match(dead.stdout, /stays queued as \S+/);
  const queue = await run(['queue', '--json', '-C', h.config]);
  assert.equal((JSON.parse(queue.stdout) as unknown[]).length, 1);
  // doctor shows the deferred message with its last error.
  const { items } = await doctorJson(['-C', h.config, '--root', h.root, '--offline']);
  const q = find(items, 'queue', 'warn')[0]!;
  assert.match(q.detail, /1 message\(s\) queued.*1 deferred:\n\S+ to admin@example\.com: 1 attempt\(s\), last error: .*connection refused/s);
  assert.match(q.fix!, /sysmail flush/);
});

test('alternatives: an injected runner with RHEL output; sysmail registered but not selected', async () => {
  const root = tempDir('sysmail-doctor-rhel-');
  dirs.push(root);
  mkdirSync(join(root, 'usr', 'sbin'), { recursive: true });
  mkdirSync(join(root, 'etc', 'alternatives'), { recursive: true });
  writeFileSync(join(root, 'usr', 'sbin', 'sendmail.postfix'), 'postfix\n');
  symlinkSync('/usr/sbin/sendmail.postfix', join(root, 'etc', 'alternatives', 'mta'));
  symlinkSync('/etc/alternatives/mta', join(root, 'usr', 'sbin', 'sendmail'));
  const calls: string[][] = [];
  const display = readFileSync(join(fixtures, 'doctor', 'rhel-display-mta.txt'), 'utf8');
  const runner: Runner = async (argv) => { calls.push(argv); return { code: 0, stdout: display, stderr: '' }; };
  const out = await checkMtaLinks(root, { id: 'rocky', name: 'Rocky Linux 9', family: 'rhel' }, runner);
  assert.deepEqual(calls[0]!.slice(-2), ['--display', 'mta']);
  assert.ok(calls[0]!.includes('--altdir'));
  const sm = out.find((r) => r.check === 'sendmail')!;
  assert.equal(sm.status, 'fail');
  assert.match(sm.detail, /group "mta" \(manual mode\) selects \/usr\/sbin\/sendmail\.postfix; sysmail is registered/);
  assert.equal(sm.fix, 'alternatives --set mta /usr/sbin/sendmail.sysmail');
  assert.equal((await followChain(root, '/usr/sbin/sendmail')).hops.length, 3);
});

test('alternatives output parsers: RHEL (slave and follower) and Debian --query', () => {
  const r = parseRhelDisplay('mta', readFileSync(join(fixtures, 'doctor', 'rhel-display-mta.txt'), 'utf8'))!;
  assert.equal(r.mode, 'manual');
  assert.equal(r.current, '/usr/sbin/sendmail.postfix');
  assert.equal(r.best, '/usr/sbin/sendmail.postfix');
  assert.deepEqual(r.alternatives.map((a) => [a.path, a.priority]), [['/usr/sbin/sendmail.postfix', 30], ['/usr/sbin/sendmail.sysmail', 30]]);
  assert.equal(r.alternatives[1]!.slaves['mta-mailq'], '/usr/bin/mailq.sysmail');
  const r9 = parseRhelDisplay('mta', readFileSync(join(fixtures, 'doctor', 'rhel9-display-mta.txt'), 'utf8'))!;
  assert.equal(r9.mode, 'auto');
  assert.equal(r9.alternatives[0]!.slaves['mta-newaliases'], '/usr/bin/newaliases.postfix');
  assert.equal(parseRhelDisplay('mta', 'alternatives: cannot access /var/lib/alternatives/mta: No such file or directory\n'), null);
  const d = parseDebianQuery(readFileSync(join(fixtures, 'doctor', 'debian-query-sendmail.txt'), 'utf8'))!;
  assert.equal(d.name, 'sendmail');
  assert.equal(d.mode, 'auto');
  assert.equal(d.current, '/usr/sbin/sendmail.sysmail');
  assert.deepEqual(d.alternatives, [{ path: '/usr/sbin/sendmail.sysmail', priority: 30, slaves: { 'sendmail-mailq': '/usr/bin/mailq.sysmail' } }]);
});

test('SELinux: disabled is information; enforcing without the module warns with the load and restorecon fix', async () => {
  const none: Runner = async () => ({ code: 127, stdout: '', stderr: 'not found' });
  const root = tempDir('sysmail-doctor-se-');
  dirs.push(root);
  assert.deepEqual(await checkSelinux(root, none, [], '/pkg/packaging/selinux'), [{ check: 'selinux', status: 'info', detail: 'SELinux not enabled', fix: null }]);
  const enforcing: Runner = async (argv) => {
    if (argv[0] === 'getenforce') return { code: 0, stdout: 'Enforcing\n', stderr: '' };
    if (argv[0] === 'semodule') return { code: 0, stdout: 'postfix\nmta\n', stderr: '' };
    if (argv[0] === 'stat') return { code: 0, stdout: argv[3] === '/var/spool/sysmail' ? 'system_u:object_r:var_spool_t:s0\n' : 'system_u:object_r:sendmail_exec_t:s0\n', stderr: '' };
    return { code: 1, stdout: '', stderr: '' };
  };
  const out = await checkSelinux('/', enforcing, [
    { what: 'spool', path: '/var/spool/sysmail', want: ['mqueue_spool_t'] },
    { what: 'sendmail', path: '/usr/sbin/sendmail.sysmail', want: ['sendmail_exec_t'] },
  ], '/pkg/packaging/selinux');
  assert.equal(out[0]!.detail, 'SELinux is enforcing');
  const mod = out.find((r) => r.check === 'selinux module')!;
  assert.equal(mod.status, 'warn');
  assert.match(mod.fix!, /make -f \/usr\/share\/selinux\/devel\/Makefile sysmail\.pp && semodule -i sysmail\.pp/);
  const spool = out.find((r) => r.check === 'label spool')!;
  assert.equal(spool.status, 'warn');
  assert.match(spool.detail, /labelled var_spool_t, expected mqueue_spool_t/);
  assert.match(spool.fix!, /restorecon -RFv \/var\/spool\/sysmail/);
  assert.equal(out.find((r) => r.check === 'label sendmail')!.status, 'ok');
  assert.equal(contextType('system_u:object_r:mqueue_spool_t:s0'), 'mqueue_spool_t');
});

test('free space and RAM spool verdicts', () => {
  const M = 1024 * 1024;
  assert.equal(spaceVerdict('/s', { bavail: 100_000, blocks: 1_000_000, bsize: 4096 }, 25 * M).status, 'ok');
  assert.equal(spaceVerdict('/s', { bavail: 4_000, blocks: 100_000, bsize: 4096 }, 1 * M).status, 'warn');
  const full = spaceVerdict('/s', { bavail: 10, blocks: 100_000, bsize: 4096 }, 25 * M);
  assert.equal(full.status, 'fail');
  assert.match(full.detail, /less than one message/);
  const ram = ramVerdict('/s', 'ram', TMPFS_MAGIC);
  assert.equal(ram.status, 'warn');
  assert.match(ram.detail, /power loss or reboot LOSES every queued message/);
  assert.match(ramVerdict('/s', 'ram', 0xef53).detail, /not on tmpfs/);
  assert.equal(ramVerdict('/s', 'disk', 0xef53).status, 'ok');
  assert.equal(ramVerdict('/s', 'disk', TMPFS_MAGIC).status, 'warn');
});

test('exit status: 0 with warnings, 69 for a failure, 78 when a failure is about the config', () => {
  assert.equal(exitCodeFor([ok('a', 'x'), warn('b', 'y', 'z')]), 0);
  assert.equal(exitCodeFor([fail('a', 'x', null)]), 69);
  assert.equal(exitCodeFor([fail('a', 'x', null), fail('b', 'y', null, true)]), 78);
});

/** A loopback GetTopic that verifies the signature like OCI; `dateOffsetMs` skews its Date header. */
async function fakeTopic(publicKey: string, keyId: string, dateOffsetMs: number): Promise<{ server: Server; url: string; gets: number }> {
  const state = { server: null as unknown as Server, url: '', gets: 0 };
  state.server = createServer((req, res) => {
    state.gets++;
    const a = parseAuthorization(req.headers.authorization);
    const url = new URL(req.url ?? '/', 'http://x');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const good = a !== null && a.keyId === keyId && verifySignature(signingString(req.method ?? 'GET', url, headers, a.headers), a.signature, publicKey);
    res.sendDate = false;
    res.writeHead(good ? 200 : 401, { 'content-type': 'application/json', date: new Date(Date.now() + dateOffsetMs).toUTCString() });
    res.end(JSON.stringify(good ? { name: 'alerts', id: url.pathname.split('/').pop() } : { code: 'NotAuthenticated', message: 'bad signature' }));
  });
  await new Promise<void>((r) => state.server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}`;
  return state;
}

test('OCI: a signed GetTopic proves the key; a wrong key is 401; a skewed Date header fails the clock check', async () => {
  const dir = tempDir('sysmail-doctor-oci-');
  dirs.push(dir);
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = join(dir, 'key.pem');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const fp = keyFingerprint(publicKey);
  const tenancy = 'ocid1.tenancy.oc1..aaaadoctortest';
  const user = 'ocid1.user.oc1..aaaadoctortest';
  const ociConfig = join(dir, 'config');
  writeFileSync(ociConfig, `[DEFAULT]\nuser=${user}\nfingerprint=${fp}\ntenancy=${tenancy}\nregion=us-ashburn-1\nkey_file=${keyFile}\n`, { mode: 0o600 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const topicId = 'ocid1.onstopic.oc1.iad.aaaadoctortopic';
  const cfg = (endpoint: string): OciTransportConfig => ({ name: 'oci', type: 'oci-notifications', topicId, region: 'us-ashburn-1', endpoint,
    auth: 'api_key', configFile: ociConfig, profile: 'DEFAULT', metadataUrl: 'http://127.0.0.1:1/opc/v2', federationUrl: null, archiveDir: null, timeout: 5000 });

  const good = await fakeTopic(pem, `${tenancy}/${user}/${fp}`, 0);
  try {
    const out = await probeOci(cfg(good.url));
    assert.equal(good.gets, 1);
    const t = out.find((r) => r.check === 'transport oci')!;
    assert.equal(t.status, 'ok', JSON.stringify(out));
    assert.match(t.detail, /signed GetTopic accepted \(api_key\); topic "alerts"/);
    assert.equal(out.find((r) => r.check === 'clock (oci)')!.status, 'ok');
  } finally { good.server.close(); }

  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const wrongKey = await fakeTopic(other, `${tenancy}/${user}/${fp}`, 0);
  try {
    const t = (await probeOci(cfg(wrongKey.url))).find((r) => r.check === 'transport oci')!;
    assert.equal(t.status, 'fail');
    assert.match(t.detail, /signed request was refused \(401 NotAuthenticated: bad signature\)/);
    assert.match(t.fix!, /fingerprint, tenancy and user/);
  } finally { wrongKey.server.close(); }

  const skewed = await fakeTopic(pem, `${tenancy}/${user}/${fp}`, -10 * 60_000);
  try {
    const clock = (await probeOci(cfg(skewed.url))).find((r) => r.check === 'clock (oci)')!;
    assert.equal(clock.status, 'fail');
    assert.match(clock.detail, /is 60\d s ahead of 127\.0\.0\.1:\d+ .*more than 5 minutes/);
    assert.match(clock.fix!, /timedatectl set-ntp true/);
  } finally { skewed.server.close(); }
  assert.equal(clockVerdict('x', Date.now(), undefined, new URL('https://h/')), null);

  // A topic from another region: said before any request is sent.
  const elsewhere = await fakeTopic(pem, `${tenancy}/${user}/${fp}`, 0);
  try {
    const t = (await probeOci({ ...cfg(elsewhere.url), region: 'eu-frankfurt-1' })).find((r) => r.check === 'transport oci')!;
    assert.equal(t.status, 'fail');
    assert.match(t.detail, /the topic OCID is in us-ashburn-1 .* region = "eu-frankfurt-1"/);
    assert.equal(elsewhere.gets, 0);
  } finally { elsewhere.server.close(); }
});
