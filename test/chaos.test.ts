/**
 * Fault injection, CI-sized (the full run is `node bench/chaos.mjs --count 1000`).
 *
 * - Chaos: submissions through `sendmail` and `sysmail serve` while submitters, flushes and serve
 *   are SIGKILLed at random and the relay bounces; no acknowledged message may be missing.
 * - Disk full: the spool on a small tmpfs in a private mount namespace (unshare -m).
 * - Clock jumps: forward past max_lifetime (faketime, through the CLI); backward (the runner with
 *   an injected clock, and the serve timer's cap).
 * - An unwritable spool: a read-only bind mount (private namespace) and `chattr +i`.
 * - Corrupt state and message files: reported, moved aside, never a crash.
 * - 50 concurrent submitters and 3 concurrent flush runners: nothing twice, nothing lost.
 *
 * Needs root, util-linux (unshare, nsenter, mount), e2fsprogs (chattr) and faketime; each test
 * that needs one fails with a message naming the package when it is missing.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cliPath, repoRoot } from './helpers/paths.js';
import { makeHost, runCli, waitForIdleSpool, waitUntil, type RunResult, type TestHost } from './helpers/cli.js';
import { startSink, type Sink, type SinkOptions } from './helpers/smtp-sink.js';
import { loadConfig } from '../src/config/load.js';
import { openSpool } from '../src/spool/file-spool.js';
import { runQueue } from '../src/delivery/runner.js';
import { memoryLogger } from '../src/log/logger.js';
import { wakeDelay } from '../src/server/queue-runner.js';
import { QUEUE_BUSY_RETRY_MS, QUEUE_MAX_SLEEP_MS } from '../src/config/defaults.js';
import { refusedPort } from './helpers/net.js';

// ---- bench/chaos.mjs, shared with the full-size run ----------------------------------------

interface ChaosReport {
  seed: number; count: number; acked: number; unacked: number; delivered: number;
  submitted: { sendmail: number; smtp: number };
  kills: { sendmail: number; flush: number; serve: number }; relayBounces: number;
  lost: string[]; duplicates: string[]; excess: Array<{ tag: string; n: number }>; damaged: string[]; untagged: number;
  unexplained: Array<{ tag: string; copies: number; windowHits: number }>;
  unackedDelivered: number; unexpectedExits: unknown[]; hangs: unknown[]; leftovers: Record<string, string[]>;
}
interface ChaosModule {
  runChaos(o: { cli: string; startSink: (o: SinkOptions) => Promise<Sink>; count: number; seed?: number; log?: (m: string) => void }): Promise<ChaosReport>;
  formatReport(r: ChaosReport): string;
  smtpSubmit(o: { port: number; from: string; to: string[]; data: string; timeoutMs?: number }): Promise<{ code: number; text: string }>;
}
const chaos = await import(pathToFileURL(join(repoRoot, 'bench', 'chaos.mjs')).href) as unknown as ChaosModule;

// ---- helpers --------------------------------------------------------------------------------

const hosts: TestHost[] = [];
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  for (const h of hosts) rmSync(h.dir, { recursive: true, force: true });
});

function host(toml: string | ((h: TestHost) => string)): TestHost {
  const h = makeHost();
  hosts.push(h);
  h.writeConfig(typeof toml === 'string' ? toml : toml(h));
  return h;
}

const maildirToml = (h: { dir: string }, extra = '') => `[general]\nhostname = "chaos.example.com"\ndomain = "example.com"\naliases = false\n${extra}\n`
  + `[transports.box]\ntype = "maildir"\npath = "${join(h.dir, 'Maildir')}"\n`;

function boxHost(extra = ''): TestHost {
  const h = makeHost();
  hosts.push(h);
  h.writeConfig(maildirToml(h, extra));
  return h;
}

const ls = (p: string) => (existsSync(p) ? readdirSync(p) : []);
const delivered = (h: TestHost) => ls(join(h.dir, 'Maildir', 'new')).map((n) => readFileSync(join(h.dir, 'Maildir', 'new', n), 'utf8'));


/** Runs a system tool; a missing tool fails the test with the Debian package that provides it. */
async function tool(pkg: string, argv0: string, args: string[], o: { env?: NodeJS.ProcessEnv; input?: string | Buffer } = {}): Promise<RunResult> {
  try {
    return await runCli(args, { argv0, ...o, timeoutMs: 30_000 });
  } catch (err) {
    return assert.fail(`${argv0} cannot be run (${(err as Error).message}): this test needs root and the Debian package ${pkg}`);
  }
}

/**
 * A private mount namespace kept alive by a sleeping holder: `setup` runs in it first (as root),
 * then every `run` enters it with nsenter. Paths as the namespace sees them are readable from
 * here through /proc/<holder>/root. The namespace and its mounts vanish with the holder.
 */
async function privateNamespace(setup: string, env: NodeJS.ProcessEnv): Promise<{ pid: number; view(p: string): string; run(args: string[], o?: { input?: string | Buffer }): Promise<RunResult>;
  sh(cmd: string): Promise<RunResult>; spawnCli(args: string[]): ChildProcess; close(): void }> {
  const holder = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `set -e; ${setup}; echo ready; exec sleep 600`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  holder.stdout!.on('data', (d) => { out += d; });
  holder.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<string>((r) => { holder.on('exit', (code) => r(`exit ${code}`)); holder.on('error', (e) => r(e.message)); });
  const ready = await Promise.race([waitUntil(() => out.includes('ready'), 10_000, 'the namespace holder').then(() => 'ok'), exited]);
  if (ready !== 'ok') {
    assert.fail(`cannot make a private mount namespace (unshare -m; ${setup}): ${ready}: ${err.trim()}. `
      + 'This test needs root and util-linux (unshare, nsenter, mount).');
  }
  const pid = holder.pid!;
  let closed = false;
  const close = () => { if (!closed) { closed = true; holder.kill('SIGKILL'); } };
  cleanups.push(close);
  return {
    pid,
    view: (p) => `/proc/${pid}/root${p}`,
    run(args, o = {}) {
      return runCli(['-t', String(pid), '-m', '--', process.execPath, cliPath, ...args], { argv0: 'nsenter', env, input: o.input, timeoutMs: 20_000 });
    },
    sh(cmd) {
      return runCli(['-t', String(pid), '-m', '--', 'sh', '-c', cmd], { argv0: 'nsenter', timeoutMs: 20_000 });
    },
    spawnCli(args) {
      return spawn('nsenter', ['-t', String(pid), '-m', '--', process.execPath, cliPath, ...args],
        { env: { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    },
    close,
  };
}

/** Starts `sysmail serve` (child from `spawnCli`) and resolves with its port once it listens. */
async function servePort(child: ChildProcess): Promise<{ port: number; stderr: () => string }> {
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => { err += d; });
  cleanups.push(() => child.kill('SIGKILL'));
  const exited = new Promise<null>((r) => child.on('exit', () => r(null)));
  const port = await Promise.race([waitUntil(() => /listening on 127\.0\.0\.1:(\d+)/.exec(err)?.[1], 15_000, 'serve to listen'), exited]);
  if (port === null) assert.fail(`sysmail serve exited before listening: ${err}`);
  return { port: Number(port), stderr: () => err };
}

const msg = (tag: string, body = `body of ${tag}\n`) => `From: chaos@example.com\nTo: x@example.net\nSubject: ${tag}\nX-Chaos-Tag: ${tag}\n\n${body}`;

// ---- 1. the chaos run --------------------------------------------------------------------------

test('chaos: submitters, flushes and serve SIGKILLed at random, relay bouncing: no acknowledged message lost', async (t) => {
  const count = Number(process.env.SYSMAIL_CHAOS_COUNT ?? 120);
  const seed = process.env.SYSMAIL_CHAOS_SEED ? Number(process.env.SYSMAIL_CHAOS_SEED) : undefined;
  const r = await chaos.runChaos({ cli: cliPath, startSink, count, seed });
  for (const line of chaos.formatReport(r).split('\n')) t.diagnostic(line);
  assert.deepEqual(r.lost, [], `acknowledged but never delivered (replay with SYSMAIL_CHAOS_SEED=${r.seed})`);
  // A copy beyond the first is allowed only for an attempt cut short in the documented window
  // (pass killed after the relay had the message, or the relay cut during DATA); one message can
  // go through that window twice, which is how a third copy happens.
  assert.deepEqual(r.unexplained, [], 'copies that no interrupted attempt explains: a broken claim or a lost commit');
  assert.deepEqual(r.damaged, [], 'bodies altered on the way');
  assert.equal(r.untagged, 0, 'a message that was never submitted (or a bounce) reached the relay');
  assert.deepEqual(r.unexpectedExits, [], 'a process exited with an error that no fault explains');
  assert.deepEqual(r.hangs, [], 'a process hung');
  assert.deepEqual(r.leftovers, {}, 'the spool is not empty after the final flush');
  // The run must really have hurt: every kind of fault happened, and most mail still got through.
  assert.ok(r.kills.sendmail > 0 && r.kills.flush > 0 && r.kills.serve > 0 && r.relayBounces > 0, JSON.stringify(r.kills));
  assert.ok(r.acked >= count / 2, `only ${r.acked} of ${count} acknowledged`);
  const extra = r.excess.reduce((n, e) => n + e.n - 1, 0);
  assert.ok(r.delivered >= r.acked + r.duplicates.length + extra, 'the tally adds up');
});

// ---- 2. disk full --------------------------------------------------------------------------------

test('disk full (tmpfs in a private mount namespace): exit 75 / 451 with the fix, nothing partial, queued mail still delivered', async () => {
  const h = boxHost();
  mkdirSync(h.spool);
  const ns = await privateNamespace(`mount -t tmpfs -o size=192k,mode=0711 sysmail-chaos-full '${h.spool}'`, h.env);
  const inNs = (p: string) => ns.view(join(h.spool, p));

  for (let i = 0; i < 3; i++) {
    const r = await ns.run(['sendmail', '-i', '-odq', 'box@example.net'], { input: msg(`before-full-${i}`) });
    assert.equal(r.code, 0, r.stderr);
  }
  assert.equal(ls(inNs('queue')).length, 3);
  assert.deepEqual(ls(h.spool), [], 'the tmpfs is private to the namespace');
  const fill = `cat /dev/zero > '${join(h.spool, 'filler')}' 2>/dev/null || true`;
  await ns.sh(fill);

  const big = msg('when-full', `${'y'.repeat(76)}\n`.repeat(600));
  for (const args of [['sendmail', '-i', 'box@example.net'], ['send', '-s', 'when full', 'box@example.net']]) {
    const r = await ns.run(args, { input: big });
    assert.equal(r.code, 75, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /ENOSPC|full/i);
    assert.match(r.stderr, /fix: .*(free space|full)/i, 'the message says how to fix it');
    assert.deepEqual(ls(inNs('tmp')), [], 'no partial file in tmp/');
    assert.equal(ls(inNs('queue')).length, 3, 'nothing partial in queue/');
  }

  const f = await ns.run(['flush']);
  assert.equal(f.code, 0, f.stderr);
  const got = delivered(h);
  assert.equal(got.length, 3, 'what was queued before the disk filled is delivered');
  for (let i = 0; i < 3; i++) assert.ok(got.some((m) => m.includes(`X-Chaos-Tag: before-full-${i}\n`)));

  // The listener: make room to start (its pid file), fill again, then 451 until there is room.
  await ns.sh(`rm -f '${join(h.spool, 'filler')}'`);
  const serve = await servePort(ns.spawnCli(['serve', '--listen', '127.0.0.1:0']));
  await ns.sh(fill);
  const r451 = await chaos.smtpSubmit({ port: serve.port, from: 'chaos@example.com', to: ['box@example.net'], data: big });
  assert.equal(r451.code, 451, r451.text);
  assert.match(r451.text, /ENOSPC|full/i);
  assert.deepEqual(ls(inNs('tmp')), []);
  await ns.sh(`rm -f '${join(h.spool, 'filler')}'`);
  const r250 = await chaos.smtpSubmit({ port: serve.port, from: 'chaos@example.com', to: ['box@example.net'], data: msg('after-room') });
  assert.equal(r250.code, 250, r250.text);
  await waitUntil(() => delivered(h).some((m) => m.includes('X-Chaos-Tag: after-room\n')), 10_000, 'delivery by serve');
  ns.close();
});

test('sysmail serve started on a full spool: exit 75 with the fix, never a crash (70)', async () => {
  const h = boxHost();
  mkdirSync(h.spool);
  const ns = await privateNamespace(`mount -t tmpfs -o size=64k,mode=0711 sysmail-chaos-full '${h.spool}'`, h.env);
  const q = await ns.run(['sendmail', '-i', '-odq', 'box@example.net'], { input: msg('queued-before') });
  assert.equal(q.code, 0, q.stderr);
  await ns.sh(`cat /dev/zero > '${join(h.spool, 'filler')}' 2>/dev/null || true`);
  const r = await ns.run(['serve', '--listen', '127.0.0.1:0']);
  assert.equal(r.code, 75, `serve on a full spool: exit ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, /fix: .*(free space|full)/i);
  ns.close();
});

// ---- 3. clock jumps ---------------------------------------------------------------------------

test('clock jumps forward past max_lifetime (faketime): the message expires, moves to failed/ and bounces', async () => {
  const deadPort = await refusedPort();
  const h = host((x) => `[general]\nhostname = "chaos.example.com"\ndomain = "example.com"\naliases = false\nadmin = "postmaster@example.com"\n`
    + `[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\nport = ${deadPort}\nsecurity = "none"\n`
    + `[transports.box]\ntype = "maildir"\npath = "${join(x.dir, 'Maildir')}"\n`
    + `[[routes]]\nname = "out"\nmatch = { domain = ["example.net"] }\ntransport = "relay"\n`
    + `[[routes]]\nname = "here"\ntransport = "box"\n`);
  // makeHost writes the [spool] table first; max_lifetime belongs in it.
  writeFileSync(h.configFile, readFileSync(h.configFile, 'utf8').replace('retry_max = "2s"\n', 'retry_max = "2s"\nmax_lifetime = "1h"\n'));
  const s = await runCli(['sendmail', '-i', '-odq', '-f', 'ops@example.com', 'far@example.net'], { input: msg('expiring'), env: h.env });
  assert.equal(s.code, 0, s.stderr);
  const f1 = await runCli(['flush'], { env: h.env });
  assert.equal(f1.code, 0, f1.stderr);
  assert.equal(JSON.parse((await runCli(['queue', '--json'], { env: h.env })).stdout).length, 1, 'deferred, still queued');

  const f2 = await tool('faketime', 'faketime', ['-f', '+2h', process.execPath, cliPath, 'flush'], { env: h.env });
  assert.equal(f2.code, 0, f2.stderr);
  assert.equal(JSON.parse((await runCli(['queue', '--json'], { env: h.env })).stdout).length, 0);
  const failed = JSON.parse((await runCli(['queue', '--failed', '--json'], { env: h.env })).stdout) as Array<{ recipient_state: Record<string, { dsn: string }> }>;
  assert.equal(failed.length, 1);
  assert.equal(failed[0]!.recipient_state['far@example.net']!.dsn, '4.4.7');
  const bounce = delivered(h);
  assert.equal(bounce.length, 1, 'one bounce, to the sender');
  assert.match(bounce[0]!, /^To: .*ops@example\.com/m);
  assert.match(bounce[0]!, /Status: 5\.4\.7/); // 4.4.7 (expired), reported as final
  assert.match(bounce[0]!, /X-Chaos-Tag: expiring/);
  assert.ok(h.events().some((e) => e.event === 'expired' && e.rcpt === 'far@example.net'));
});

test('clock jumps backward: a deferred message is retried within retry_max, not when the clock catches up; the serve timer is capped', async () => {
  const h = boxHost();
  const config = await loadConfig({ path: h.configFile, env: {} });
  const spool = openSpool({ dir: config.spool.dir, maxMessageSize: config.general.maxMessageSize });
  const log = memoryLogger();
  const T = Date.now();
  const id = await spool.submit({ sender: 'ops@example.com', recipients: ['box@example.net'], submittedAt: T, uid: 0, user: 'root', via: 'sendmail' },
    Buffer.from(msg('clock-back')));
  // First attempt at T through a transport that defers (a relay on a closed port).
  const dead = { ...config, transports: { box: { name: 'box', type: 'smtp' as const, host: '127.0.0.1', port: await refusedPort(), security: 'none' as const,
    tlsVerify: true, caFile: null, pinSha256: null, clientCert: null, clientKey: null, tlsServername: null, username: null, password: null,
    authMethod: null, helo: null, forceSender: null, preconnect: null, timeouts: { connect: 2000, greeting: 2000, command: 2000, data: 2000 } } } };
  const first = await runQueue({ config: dead, spool, log, now: () => T, random: () => 0.5 });
  assert.equal(first.deferred, 1);
  const due = (await spool.get(id))!.state.nextAttemptAt;
  assert.ok(due > T && due <= T + config.spool.retryMax);

  // The clock goes back a day (an RTC reset, a bad NTP step). Retries must not wait a day.
  const back = T - 86_400_000;
  const delay = wakeDelay(due, back, { maxSleepMs: QUEUE_MAX_SLEEP_MS, busyRetryMs: QUEUE_BUSY_RETRY_MS });
  assert.ok(delay <= QUEUE_MAX_SLEEP_MS, 'the serve timer never sleeps longer than its cap');
  const later = back + Math.max(config.spool.retryMax, delay);
  const second = await runQueue({ config, spool, log, now: () => later, random: () => 0.5 });
  assert.equal(second.sent, 1, `a message due at ${new Date(due).toISOString()} was not retried after the clock went back to `
    + `${new Date(later).toISOString()}: a nextAttemptAt further ahead than spool.retry_max means the clock went back, and the message is due`);
  assert.equal(delivered(h).length, 1);
});

// ---- 4. an unwritable spool ------------------------------------------------------------------

test('spool on a read-only bind mount (private namespace): exit 75 naming the file system, queued mail kept', async () => {
  const h = boxHost();
  const pre = await runCli(['sendmail', '-i', '-odq', 'box@example.net'], { input: msg('before-ro'), env: h.env });
  assert.equal(pre.code, 0, pre.stderr);
  const ns = await privateNamespace(`mount --bind '${h.spool}' '${h.spool}'; mount -o remount,bind,ro '${h.spool}'`, h.env);
  for (const args of [['sendmail', '-i', 'box@example.net'], ['send', '-s', 'ro', 'box@example.net']]) {
    const r = await ns.run(args, { input: msg('on-ro') });
    assert.equal(r.code, 75, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /EROFS/);
    assert.match(r.stderr, /fix: the file system is read-only/);
  }
  const f = await ns.run(['flush']);
  assert.notEqual(f.code, 70, `flush crashed on a read-only spool: ${f.stderr}`);
  assert.notEqual(f.code, 0, 'flush cannot succeed on a read-only spool');
  assert.match(f.stderr, /^sysmail: /);
  ns.close();
  assert.equal(ls(join(h.spool, 'queue')).length, 1, 'the queued message is still there');
  assert.deepEqual(ls(join(h.spool, 'tmp')), []);
});

test('spool made immutable (chattr +i): queue/ alone falls back to drop/ (exit 0, delivered later); with drop/ too, exit 75 with a hint', async () => {
  const h = boxHost();
  const pre = await runCli(['sendmail', '-i', '-odq', 'box@example.net'], { input: msg('before-immutable'), env: h.env });
  assert.equal(pre.code, 0, pre.stderr);
  const areas = (names: string[]) => names.map((n) => join(h.spool, n));
  const chattr = (flag: string, dirs: string[]) => tool('e2fsprogs', 'chattr', [flag, ...dirs]);
  cleanups.push(() => chattr('-i', areas(['tmp', 'queue', 'drop'])));
  try {
    const c = await chattr('+i', areas(['queue']));
    assert.equal(c.code, 0, `chattr +i failed (the test needs root and an ext2/3/4 temp dir): ${c.stderr}`);
    const viaDrop = await runCli(['sendmail', '-i', '-odq', 'box@example.net'], { input: msg('via-drop'), env: h.env });
    assert.equal(viaDrop.code, 0, `queue/ immutable: the message is durable in drop/: ${viaDrop.stderr}`);
    assert.equal(ls(join(h.spool, 'drop')).filter((n) => !n.startsWith('.')).length, 1);

    assert.equal((await chattr('+i', areas(['tmp', 'drop']))).code, 0);
    for (const args of [['sendmail', '-i', 'box@example.net'], ['send', '-s', 'immutable', 'box@example.net']]) {
      const r = await runCli(args, { input: msg('immutable'), env: h.env });
      assert.equal(r.code, 75, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /EPERM|EACCES/);
      assert.match(r.stderr, /fix: .*sysmail doctor/);
    }
    assert.equal(ls(join(h.spool, 'queue')).length, 1);
    assert.deepEqual(ls(join(h.spool, 'tmp')), [], 'no partial file left');
  } finally {
    await chattr('-i', areas(['tmp', 'queue', 'drop']));
  }
  const f = await runCli(['flush'], { env: h.env });
  assert.equal(f.code, 0, f.stderr);
  const got = delivered(h);
  assert.equal(got.length, 2, 'the queued message and the one kept in drop/ are delivered once the spool is writable again');
  assert.ok(got.some((m) => m.includes('X-Chaos-Tag: via-drop\n')));
});

// ---- 5. corrupt files ---------------------------------------------------------------------------

test('a corrupt state file and a truncated message: listed with the reason, moved to corrupt/, the runner carries on', async () => {
  const h = boxHost();
  for (const tag of ['bad-state', 'cut-short', 'healthy']) {
    const r = await runCli(['sendmail', '-i', '-odq', 'box@example.net'], { input: msg(tag, `body of ${tag}\n${'z'.repeat(500)}\n`), env: h.env });
    assert.equal(r.code, 0, r.stderr);
  }
  const items = JSON.parse((await runCli(['queue', '--json'], { env: h.env })).stdout) as Array<{ id: string }>;
  const idOf = (tag: string) => items.find((m) => readFileSync(join(h.spool, 'queue', m.id), 'utf8').includes(`X-Chaos-Tag: ${tag}\n`))!.id;
  const [badState, cut] = [idOf('bad-state'), idOf('cut-short')];
  writeFileSync(join(h.spool, 'state', badState), '{"v":1,"attempts":3,"recip', { mode: 0o600 });
  const qf = join(h.spool, 'queue', cut);
  truncateSync(qf, statSync(qf).size - 200);

  const q = await runCli(['queue'], { env: h.env });
  assert.equal(q.code, 0, q.stderr);
  assert.match(q.stdout, new RegExp(`${badState}\\?[\\s\\S]*corrupt: state`));
  assert.match(q.stdout, new RegExp(`${cut}\\?[\\s\\S]*corrupt: message: .*truncated`));
  const qj = JSON.parse((await runCli(['queue', '--json'], { env: h.env })).stdout) as Array<{ id: string; corrupt: string | null }>;
  assert.match(String(qj.find((m) => m.id === badState)?.corrupt), /^state: /);
  assert.ok(existsSync(join(h.spool, 'state', badState)), 'the reader moved nothing');
  const doctor = async () => {
    const d = await runCli(['doctor', '--offline', '--json'], { env: h.env, timeoutMs: 30_000 });
    assert.ok(d.code !== 70 && d.code !== null, `doctor crashed: ${d.stderr}`);
    return JSON.parse(d.stdout) as Array<{ check: string; status: string; detail: string }>;
  };
  const before = (await doctor()).find((c) => c.check === 'queue' && c.status === 'fail');
  assert.ok(before && before.detail.includes(badState) && before.detail.includes(cut), `doctor reports both: ${JSON.stringify(before)}`);
  assert.ok(existsSync(join(h.spool, 'state', badState)), 'doctor moved nothing');

  const f = await runCli(['flush'], { env: h.env });
  assert.equal(f.code, 0, f.stderr);
  const got = delivered(h);
  assert.ok(got.some((m) => m.includes('X-Chaos-Tag: healthy\n')));
  assert.ok(got.some((m) => m.includes('X-Chaos-Tag: bad-state\n')), 'a bad state file restarts the message with fresh state');
  assert.ok(!got.some((m) => m.includes('X-Chaos-Tag: cut-short\n')), 'a truncated message is never delivered');
  const corrupt = ls(join(h.spool, 'corrupt'));
  assert.ok(corrupt.includes(`${badState}.state`) && corrupt.includes(`${badState}.state.reason`), corrupt.join(' '));
  assert.ok(corrupt.includes(cut) && corrupt.includes(`${cut}.reason`), corrupt.join(' '));
  assert.match(readFileSync(join(h.spool, 'corrupt', `${cut}.reason`), 'utf8'), /truncated/);
  assert.equal(JSON.parse((await runCli(['queue', '--json'], { env: h.env })).stdout).length, 0);
  assert.ok(h.events().filter((e) => e.event === 'corrupt').length >= 2);
  const after = (await doctor()).find((c) => c.check === 'corrupt');
  assert.ok(after && after.status === 'warn' && after.detail.includes(cut), `doctor points at corrupt/: ${JSON.stringify(after)}`);
});

// ---- 6. concurrency -------------------------------------------------------------------------------

test('50 concurrent submitters and 3 concurrent flush runners: each message delivered exactly once', async () => {
  const sink = await startSink({ tls: 'none' });
  cleanups.push(() => sink.close());
  const h = host(`[general]\nhostname = "chaos.example.com"\ndomain = "example.com"\naliases = false\n`
    + `[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\nport = ${sink.port}\nsecurity = "none"\n`);
  let submitting = true;
  const runner = async () => {
    let n = 0;
    while (submitting) {
      const f = await runCli(['flush', '--quiet'], { env: h.env });
      assert.equal(f.code, 0, f.stderr);
      n++;
    }
    return n;
  };
  const runners = [runner(), runner(), runner()];
  const subs = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    runCli(['sendmail', '-i', ...(i % 2 ? ['-odq'] : []), `n${i}@example.net`], { input: msg(`conc-${i}`), env: h.env })));
  submitting = false;
  const passes = await Promise.all(runners);
  for (const [i, r] of subs.entries()) assert.equal(r.code, 0, `submitter ${i}: ${r.stderr}`);
  const f = await runCli(['flush'], { env: h.env });
  assert.equal(f.code, 0, f.stderr);
  await sink.waitFor(50, 10_000);
  await waitForIdleSpool(h.spool);
  const tags = sink.messages.map((m) => /^X-Chaos-Tag: (\S+)\r$/m.exec(m.data.toString('utf8'))?.[1]).sort();
  assert.equal(tags.length, 50, `delivered ${tags.length} (flush passes: ${passes.join(', ')})`);
  assert.equal(new Set(tags).size, 50, 'a message was delivered twice');
  assert.equal(JSON.parse((await runCli(['queue', '--json'], { env: h.env })).stdout).length, 0);
});
