#!/usr/bin/env node
// Fault injection: N submissions through `sendmail` and the `sysmail serve` listener while a chaos
// loop SIGKILLs submitters, delivery passes (`sysmail flush`, the detached flushes `sendmail`
// starts) and `serve` at random moments, and takes the relay down and up again on the same port.
// Afterwards, with the relay up and a final flush, every message that was acknowledged (exit 0
// from sendmail, 250 from serve) must have arrived exactly once, or twice in the one documented
// duplicate window (docs/QUEUE-FORMAT.md: between the relay's 250 and our commit). A missing
// acknowledged message is a failure. Unacknowledged ones (killed before their 0 or 250) may or
// may not arrive; they are counted apart.
//
//   npm run build && node bench/chaos.mjs [--count 1000] [--seed N] [--no-serve] [--json]
//                                         [--cli dist/sysmail.js] [--helpers build/test/helpers]
//
// Exit status: 0 when nothing acknowledged was lost (duplicates are reported, not fatal), 1
// otherwise. test/chaos.test.ts imports runChaos for the CI-sized run. Loopback only; every
// spawn has a timeout; the work directory is removed unless --keep.
//
// The relay is the test helpers' smtp-server sink behind a small TCP proxy: "down" closes the
// proxy's listener and cuts every open connection (mid-DATA included, which is how the duplicate
// window is reached), "up" listens on the same port again. The sink itself keeps running, so it
// counts every message that ever reached it.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Small seeded PRNG (mulberry32), so a failing schedule can be replayed with --seed. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- the relay that can be bounced ---------------------------------------------------------

/**
 * A TCP proxy on 127.0.0.1 in front of `target`. down() refuses new connections and cuts open
 * ones; up() listens on the same port again (retrying briefly if the port is momentarily taken).
 */
export async function startRelayProxy(target) {
  const sockets = new Set();
  let server = null;
  let port = 0;
  let bounces = 0;
  let upping = null;
  let closed = false;
  const onConnection = (client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    const cut = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on('error', cut);
    upstream.on('error', cut);
    client.on('close', cut);
    upstream.on('close', cut);
    client.pipe(upstream);
    upstream.pipe(client);
  };
  // The port is picked below the kernel's ephemeral range: while the relay is down, a client
  // connecting to an ephemeral port can be given that very port as its own source port (a TCP
  // self-connect), which holds the port and keeps the relay from coming back.
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const floor = Math.min(10_000, Math.max(1024, (low || 32768) - 10_000));
  const listen = async () => {
    for (let attempt = 0; ; attempt++) {
      if (closed) return;
      const s = net.createServer(onConnection);
      const want = port || floor + Math.floor(Math.random() * ((low || 32768) - floor));
      try {
        await new Promise((ok, fail) => { s.once('error', fail); s.listen(want, '127.0.0.1', () => ok()); });
        if (closed) { s.close(); return; }
        server = s;
        port = s.address().port;
        return;
      } catch (err) {
        if (err.code !== 'EADDRINUSE' && err.code !== 'EACCES') throw new Error(`relay proxy: cannot listen on 127.0.0.1:${want}: ${err.message}`);
        if (port && attempt > 600) throw new Error(`relay proxy: 127.0.0.1:${port} stayed taken for a minute: ${err.message}`);
        await sleep(port ? 100 : 0);
      }
    }
  };
  await listen();
  return {
    get port() { return port; },
    get isUp() { return server !== null; },
    get bounces() { return bounces; },
    async down() {
      if (!server) return;
      const s = server;
      server = null;
      bounces++;
      for (const x of sockets) x.destroy();
      sockets.clear();
      await new Promise((r) => s.close(() => r()));
    },
    up() {
      if (server || closed) return Promise.resolve();
      upping ??= listen().finally(() => { upping = null; });
      return upping;
    },
    async close() { closed = true; await upping?.catch(() => {}); await this.down(); },
  };
}

// ---- a minimal SMTP client (exact replies, rude hang-ups allowed) ---------------------------

/**
 * Submits one message over SMTP and returns the reply to the final dot ({ code, text }).
 * Throws on a refused or cut connection or after timeoutMs; a 4xx/5xx reply to any
 * command before DATA is returned as the result.
 */
export function smtpSubmit({ host = '127.0.0.1', port, from, to, data, timeoutMs = 15_000 }) {
  return new Promise((resolvePromise, reject) => {
    const socket = net.connect({ host, port });
    let buf = '';
    let waiter = null;
    let settled = false;
    const done = (err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err); else resolvePromise(value);
    };
    const timer = setTimeout(() => done(new Error(`smtp: no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (d) => { buf += d; waiter?.(); });
    socket.on('error', (e) => done(e));
    socket.on('close', () => { waiter?.(); if (!settled) done(new Error('smtp: connection closed')); });
    const reply = () => new Promise((ok) => {
      const check = () => {
        const m = /^((?:\d{3}-[^\n]*\n)*)(\d{3})[ ]?([^\n]*)\n/.exec(buf);
        if (!m) { waiter = check; return; }
        waiter = null;
        buf = buf.slice(m[0].length);
        ok({ code: Number(m[2]), text: (m[1] + m[3]).replace(/\r/g, '') });
      };
      check();
    });
    const cmd = async (line) => { socket.write(line + '\r\n'); return reply(); };
    socket.once('connect', async () => {
      try {
        let r = await reply();
        if (r.code !== 220) return done(null, r);
        if ((r = await cmd('EHLO chaos.client')).code !== 250) return done(null, r);
        if ((r = await cmd(`MAIL FROM:<${from}>`)).code !== 250) return done(null, r);
        for (const rcpt of to) if ((r = await cmd(`RCPT TO:<${rcpt}>`)).code !== 250) return done(null, r);
        if ((r = await cmd('DATA')).code !== 354) return done(null, r);
        const body = data.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
        socket.write(body.endsWith('\r\n') ? body : body + '\r\n');
        r = await cmd('.');
        socket.write('QUIT\r\n');
        done(null, r);
      } catch (e) { done(e); }
    });
  });
}

// ---- processes of this run -------------------------------------------------------------------

/**
 * Processes whose environment holds `marker` (SYSMAIL_CONFIG=<this run's config>): the submitters,
 * flushes and serve we started, and the detached flushes that `sendmail` started for us.
 */
export function findProcesses(marker) {
  const needle = Buffer.from(`${marker}\0`);
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`);
      if (!env.includes(needle)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      if (/^\d+ \(.*\) Z/.test(stat)) continue; // a zombie is already dead
      out.push({ pid: Number(name), argv: readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0').filter(Boolean) });
    } catch { /* gone meanwhile, or not ours to read */ }
  }
  return out;
}

function killPid(pid) {
  try { process.kill(pid, 'SIGKILL'); return true; } catch { return false; }
}

/** SIGKILLs every process of this run and waits until none is left (bounded). */
export async function killAll(marker, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const left = findProcesses(marker);
    if (left.length === 0) return;
    if (Date.now() > end) throw new Error(`processes of this run survive SIGKILL: ${left.map((p) => p.pid).join(' ')}`);
    for (const p of left) killPid(p.pid);
    await sleep(50);
  }
}

/** Runs the CLI to completion (bounded); { code, signal, stdout, stderr }. */
export function runCli(cli, args, env, { input = '', timeoutMs = 30_000 } = {}) {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', fail);
    child.on('close', (code, signal) => { clearTimeout(timer); ok({ code, signal, stdout, stderr, timedOut: signal === 'SIGKILL' }); });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

// ---- the run -----------------------------------------------------------------------------------

const TAG_HEADER = 'X-Chaos-Tag';

export function chaosMessage(tag, rcpt) {
  return `From: chaos@example.com\nTo: ${rcpt}\nSubject: chaos ${tag}\n${TAG_HEADER}: ${tag}\n\nchaos body ${tag}\n.leading dot stays\nend ${tag}\n`;
}

/** Per recipient, the attempt and outcome events of the event log, in order. */
export function attemptTrails(logFile) {
  const trails = new Map();
  const text = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
  for (const line of text.split('\n')) {
    if (!line) continue;
    let e;
    try { e = JSON.parse(line); } catch { continue; }
    if (!e.rcpt || !['attempt', 'delivered', 'deferred', 'failed'].includes(e.event)) continue;
    if (!trails.has(e.rcpt)) trails.set(e.rcpt, []);
    trails.get(e.rcpt).push(e);
  }
  return trails;
}

/**
 * How many times one message went through the documented duplicate window: an attempt that was
 * followed by another attempt although the relay may already have had the message — its pass
 * died before recording an outcome, recorded "delivered" but died before the commit, or lost
 * the connection during the message data. A clean deferral (refused, cut before DATA) is not one.
 */
export function windowHits(trail) {
  let hits = 0;
  for (let i = 0; i < trail.length; i++) {
    if (trail[i].event !== 'attempt') continue;
    const next = trail.findIndex((x, k) => k > i && x.event === 'attempt');
    if (next < 0) break;
    const outcome = trail.slice(i + 1, next).find((x) => x.event !== 'attempt');
    if (!outcome || outcome.event === 'delivered' || (outcome.event === 'deferred' && /data/i.test(outcome.reason ?? ''))) hits++;
  }
  return hits;
}

function spoolEntries(spool, area) {
  const p = join(spool, area);
  return existsSync(p) ? readdirSync(p) : [];
}

/**
 * Runs one chaos experiment and returns its report (it never throws for a lost message: the
 * caller judges the report). Options:
 *   cli          path of the built CLI (dist/sysmail.js or a tsc build's src/cli/main.js)
 *   startSink    test/helpers/smtp-sink.ts startSink (compiled)
 *   count        submissions (default 1000), split between sendmail and serve when serve is on
 *   serve        also run `sysmail serve`, submit to it, and kill it (default true)
 *   seed         PRNG seed for the whole schedule (default: random; reported)
 *   concurrency  submissions in flight at once (default 6)
 *   log          progress lines (default: none)
 *   keep         keep the work directory
 */
export async function runChaos(opts) {
  const count = opts.count ?? 1000;
  const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rnd = prng(seed);
  const pick = (arr) => arr[Math.floor(rnd() * arr.length)];
  const between = (a, b) => a + Math.floor(rnd() * (b - a));
  const log = opts.log ?? (() => {});
  const useServe = opts.serve ?? true;
  const concurrency = opts.concurrency ?? 6;
  const started = Date.now();

  const dir = mkdtempSync(join(tmpdir(), 'sysmail-chaos-'));
  const spool = join(dir, 'spool');
  const configFile = join(dir, 'sysmail.toml');
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', SYSMAIL_CONFIG: configFile };
  const marker = `SYSMAIL_CONFIG=${configFile}`;

  const sink = await opts.startSink({ tls: 'none' });
  const relay = await startRelayProxy({ host: sink.host, port: sink.port });
  writeFileSync(configFile, `[general]
hostname = "chaos.example.com"
domain = "example.com"
aliases = false

[spool]
dir = "${spool}"
retry_min = "1s"
retry_max = "2s"

[log]
file = "${join(dir, 'sysmail.log')}"

[listener]
listen = ["127.0.0.1:0"]

[transports.relay]
type = "smtp"
host = "127.0.0.1"
port = ${relay.port}
security = "none"
timeouts = { connect = "2s", greeting = "3s", command = "3s", data = "5s" }
`, { mode: 0o600 });

  const report = {
    seed, count, serve: useServe,
    submitted: { sendmail: 0, smtp: 0 },
    acked: 0, unacked: 0,
    kills: { sendmail: 0, flush: 0, serve: 0 }, relayBounces: 0, flushesStarted: 0, serveStarts: 0,
    delivered: 0, lost: [], duplicates: [], excess: [], unackedDelivered: 0, unackedMissing: 0,
    damaged: [], untagged: 0, unexplained: [],
    unexpectedExits: [], hangs: [], smtpRefusals: {},
    leftovers: {}, elapsedMs: 0, dir,
  };
  const acked = new Set();
  const unacked = new Set();
  const killedByUs = new Set();
  let stopping = false;
  let submissionsDone = false;

  // serve: started, killed and restarted by the chaos loop.
  let serve = null;
  let servePort = null;
  let serveRestart = null;
  const startServe = () => {
    if (serve || !useServe) return;
    report.serveStarts++;
    const child = spawn(process.execPath, [opts.cli, 'serve', '--listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    serve = child;
    let err = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      err += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
      if (m && serve === child) servePort = Number(m[1]);
      if (err.length > 65536) err = err.slice(-4096);
    });
    child.on('close', (code, signal) => {
      if (serve === child) { serve = null; servePort = null; }
      if (!killedByUs.has(child.pid) && !stopping) report.unexpectedExits.push({ what: 'serve', code, signal, stderr: err.slice(-800) });
    });
  };

  // Flushes started by the chaos loop (the detached ones sendmail starts are found through /proc).
  const flushes = new Set();
  const startFlush = () => {
    report.flushesStarted++;
    const child = spawn(process.execPath, [opts.cli, 'flush', '--quiet'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    flushes.add(child);
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { report.hangs.push({ what: 'flush', stderr: err.slice(-800) }); child.kill('SIGKILL'); }, 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      flushes.delete(child);
      if (code !== 0 && !killedByUs.has(child.pid) && !stopping) report.unexpectedExits.push({ what: 'flush', code, signal, stderr: err.slice(-800) });
    });
    return child;
  };

  // Submissions, alternating channels, `concurrency` in flight.
  const inflight = new Map(); // pid -> child, sendmail only
  const submitSendmail = (tag, rcpt) => new Promise((ok) => {
    report.submitted.sendmail++;
    const args = [opts.cli, 'sendmail', '-i', ...(rnd() < 0.5 ? ['-odq'] : []), rcpt];
    const child = spawn(process.execPath, args, { env, stdio: ['pipe', 'ignore', 'pipe'] });
    inflight.set(child.pid, child);
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { report.hangs.push({ what: `sendmail ${tag}`, stderr: err.slice(-800) }); child.kill('SIGKILL'); }, 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      inflight.delete(child.pid);
      if (code === 0) acked.add(tag);
      else {
        unacked.add(tag);
        if (!killedByUs.has(child.pid)) report.unexpectedExits.push({ what: `sendmail ${tag}`, code, signal, stderr: err.slice(-800) });
      }
      ok();
    });
    child.stdin.on('error', () => {});
    child.stdin.end(chaosMessage(tag, rcpt));
  });
  const submitSmtp = async (tag, rcpt) => {
    report.submitted.smtp++;
    const deadline = Date.now() + 20_000;
    while (servePort === null && Date.now() < deadline) await sleep(20);
    const port = servePort;
    if (port === null) { unacked.add(tag); report.smtpRefusals['serve never came back'] = (report.smtpRefusals['serve never came back'] ?? 0) + 1; return; }
    try {
      const r = await smtpSubmit({ port, from: 'chaos@example.com', to: [rcpt], data: chaosMessage(tag, rcpt) });
      if (r.code === 250) { acked.add(tag); return; }
      unacked.add(tag);
      const k = `${r.code} ${r.text.slice(0, 60)}`;
      report.smtpRefusals[k] = (report.smtpRefusals[k] ?? 0) + 1;
    } catch (e) {
      unacked.add(tag);
      const k = e.code ?? e.message.slice(0, 60);
      report.smtpRefusals[k] = (report.smtpRefusals[k] ?? 0) + 1;
    }
  };

  const runId = seed.toString(36);
  const queue = Array.from({ length: count }, (_, i) => i);
  const worker = async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
      const tag = `${runId}-${i}`;
      const rcpt = `c${i}@example.net`;
      if (useServe && i % 2 === 1) await submitSmtp(tag, rcpt);
      else await submitSendmail(tag, rcpt);
      if (i % 100 === 0) log(`submitted ${i}/${count}`);
    }
  };

  // The chaos loop. Each kind of fault happens at least once (the first rounds go through all of
  // them); after that they are drawn at random.
  const actions = {
    killSendmail: () => {
      const kids = [...inflight.values()];
      if (kids.length === 0) return false;
      const c = pick(kids);
      killedByUs.add(c.pid);
      if (!killPid(c.pid)) return false;
      report.kills.sendmail++;
      return true;
    },
    killFlush: () => {
      const victims = findProcesses(marker).filter((p) => p.argv.includes('flush'));
      if (victims.length === 0) {
        // Flushes are short (a pass per message, a kept relay connection): when none is running,
        // start one and kill it a moment later, in its start-up or in the middle of its pass.
        // Counted once the kill has landed; until then this fault stays pending.
        if (report.kills.flush > 0) return true;
        const child = startFlush();
        setTimeout(() => {
          killedByUs.add(child.pid);
          if (child.exitCode === null && child.signalCode === null && killPid(child.pid)) report.kills.flush++;
        }, between(5, 80));
        return false;
      }
      const v = pick(victims);
      killedByUs.add(v.pid);
      if (!killPid(v.pid)) return false;
      report.kills.flush++;
      return true;
    },
    startFlush: () => {
      if (flushes.size >= 2) return false;
      startFlush();
      return true;
    },
    killServe: () => {
      if (!useServe || !serve || serveRestart) return false;
      killedByUs.add(serve.pid);
      killPid(serve.pid);
      report.kills.serve++;
      serveRestart = setTimeout(() => { serveRestart = null; if (!stopping) startServe(); }, between(150, 700));
      return true;
    },
    bounceRelay: () => {
      if (!relay.isUp) return false;
      bouncing = relay.down().then(() => sleep(between(200, 1200))).then(() => relay.up())
        .catch((e) => { report.unexpectedExits.push({ what: 'relay proxy', stderr: e.message }); });
      return true;
    },
  };
  let bouncing = Promise.resolve();
  const kinds = Object.keys(actions).filter((k) => useServe || k !== 'killServe');
  const chaos = (async () => {
    const pending = new Set(kinds);
    while (!submissionsDone) {
      await sleep(between(60, 260));
      if (submissionsDone) break;
      const first = [...pending];
      const k = first.length > 0 && rnd() < 0.7 ? pick(first) : pick(kinds);
      try { if (actions[k]()) pending.delete(k); } catch (e) { log(`chaos ${k}: ${e.message}`); }
    }
  })();

  try {
    startServe();
    await Promise.all(Array.from({ length: concurrency }, worker));
    submissionsDone = true;
    await chaos;

    // Wind down: relay up, every process of this run gone, then deliver what is left.
    stopping = true;
    if (serveRestart) clearTimeout(serveRestart);
    log(`submissions done after ${Date.now() - started} ms`);
    await bouncing;
    await relay.up();
    await killAll(marker);
    log(`wound down after ${Date.now() - started} ms`);
    report.relayBounces = relay.bounces;
    let rounds = 0;
    for (; rounds < 8; rounds++) {
      const f = await runCli(opts.cli, ['flush'], env, { timeoutMs: 120_000 });
      if (f.code !== 0) report.unexpectedExits.push({ what: 'final flush', code: f.code, signal: f.signal, stderr: f.stderr.slice(-800) });
      if (spoolEntries(spool, 'queue').length === 0 && spoolEntries(spool, 'active').length === 0) break;
      await sleep(300);
    }
    report.finalFlushRounds = rounds + 1;
    log(`final flush done after ${Date.now() - started} ms (${rounds + 1} rounds)`);

    // The tally.
    const seen = new Map();
    for (const m of sink.messages) {
      const text = m.data.toString('utf8');
      const tag = new RegExp(`^${TAG_HEADER}: (\\S+)\\r?$`, 'm').exec(text)?.[1];
      if (!tag) { report.untagged++; continue; }
      seen.set(tag, (seen.get(tag) ?? 0) + 1);
      if (!text.includes(`\r\n\r\nchaos body ${tag}\r\n.leading dot stays\r\nend ${tag}\r\n`)) report.damaged.push(tag);
    }
    for (const tag of acked) {
      const n = seen.get(tag) ?? 0;
      if (n === 0) report.lost.push(tag);
      else if (n === 2) report.duplicates.push(tag);
      else if (n > 2) report.excess.push({ tag, n });
    }
    for (const tag of unacked) {
      if ((seen.get(tag) ?? 0) > 0) report.unackedDelivered++;
      else report.unackedMissing++;
    }
    // Every copy beyond the first must be explained by an attempt cut short in the window.
    const trail = attemptTrails(join(dir, 'sysmail.log'));
    for (const [tag, n] of seen) {
      if (n < 2) continue;
      const hits = windowHits(trail.get(`c${tag.slice(tag.lastIndexOf('-') + 1)}@example.net`) ?? []);
      if (n > hits + 1) report.unexplained.push({ tag, copies: n, windowHits: hits });
    }
    report.acked = acked.size;
    report.unacked = unacked.size;
    report.delivered = sink.messages.length;
    for (const area of ['queue', 'active', 'tmp', 'failed', 'corrupt', 'drop']) {
      const left = spoolEntries(spool, area);
      if (left.length > 0) report.leftovers[area] = left;
    }
  } finally {
    stopping = true;
    submissionsDone = true;
    if (serveRestart) clearTimeout(serveRestart);
    await killAll(marker).catch((e) => log(e.message));
    await relay.close();
    await sink.close();
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
    report.elapsedMs = Date.now() - started;
  }
  return report;
}

/** One paragraph for people. */
export function formatReport(r) {
  const lines = [
    `chaos: seed ${r.seed}, ${r.count} submissions (${r.submitted.sendmail} sendmail, ${r.submitted.smtp} smtp) in ${(r.elapsedMs / 1000).toFixed(1)} s`,
    `  acknowledged ${r.acked}, not acknowledged ${r.unacked} (${r.unackedDelivered} of those arrived anyway)`,
    `  faults: killed ${r.kills.sendmail} sendmail, ${r.kills.flush} flush, ${r.kills.serve} serve; relay bounced ${r.relayBounces} times; ${r.flushesStarted} flushes started`,
    `  delivered ${r.delivered} messages; LOST ${r.lost.length}; duplicates ${r.duplicates.length}; more than twice ${r.excess.length}; `
      + `copies not explained by the duplicate window ${r.unexplained.length}; damaged ${r.damaged.length}; untagged ${r.untagged}`,
  ];
  if (r.lost.length) lines.push(`  lost tags: ${r.lost.slice(0, 20).join(' ')}`);
  if (r.unexplained.length) lines.push(`  unexplained copies: ${JSON.stringify(r.unexplained.slice(0, 10))}`);
  if (r.unexpectedExits.length) lines.push(`  unexpected exits: ${JSON.stringify(r.unexpectedExits.slice(0, 5))}`);
  if (r.hangs.length) lines.push(`  hangs: ${JSON.stringify(r.hangs.slice(0, 5))}`);
  if (Object.keys(r.leftovers).length) lines.push(`  left in the spool: ${JSON.stringify(r.leftovers)}`);
  if (Object.keys(r.smtpRefusals).length) lines.push(`  smtp submissions not acknowledged: ${JSON.stringify(r.smtpRefusals)}`);
  return lines.join('\n');
}

/** True when the run kept every promise (duplicates within the documented window are allowed). */
export function chaosOk(r) {
  return r.lost.length === 0 && r.unexplained.length === 0 && r.damaged.length === 0 && r.untagged === 0
    && r.unexpectedExits.length === 0 && r.hangs.length === 0 && Object.keys(r.leftovers).length === 0;
}

// ---- command line --------------------------------------------------------------------------------

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
  const cli = resolve(arg('--cli', process.env.SYSMAIL_TEST_CLI ?? join(root, 'dist', 'sysmail.js')));
  const helpers = resolve(arg('--helpers', join(root, 'build', 'test', 'helpers')));
  const sinkModule = join(helpers, 'smtp-sink.js');
  if (!existsSync(cli)) { console.error(`chaos: ${cli} not found: run \`npm run build\` first (or give --cli)`); process.exit(1); }
  if (!existsSync(sinkModule)) { console.error(`chaos: ${sinkModule} not found: run \`npm run build\` first (or give --helpers)`); process.exit(1); }
  const { startSink } = await import(pathToFileURL(sinkModule).href);
  const seedArg = arg('--seed', undefined);
  const report = await runChaos({
    cli, startSink, count: Number(arg('--count', '1000')), serve: !process.argv.includes('--no-serve'),
    seed: seedArg === undefined ? undefined : Number(seedArg), keep: process.argv.includes('--keep'),
    log: (m) => process.stderr.write(`chaos: ${m}\n`),
  });
  process.stdout.write(process.argv.includes('--json') ? JSON.stringify(report, null, 2) + '\n' : formatReport(report) + '\n');
  process.exitCode = chaosOk(report) ? 0 : 1;
}
