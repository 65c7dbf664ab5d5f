#!/usr/bin/env node
// smtp-arrival.mjs - submission-to-arrival over SMTP, `sysmail serve` against Postfix, side by
// side in one run (issue 13, item 2). Both take the message from a loopback client on their
// SMTP listener and relay it to the same sink on 127.0.0.1; the time runs from connect until
// the sink has the message (and, separately, until the 250 after the final dot).
//
//   npm run build && node bench/smtp-arrival.mjs [--rounds 40] [--warmup 5] [--out FILE.json]
//
// Needs root and Debian's postfix (a private instance in its own PID namespace, the one the
// tests use: test/helpers/postfix.ts with relayTo). Postfix: smtpd -> cleanup -> qmgr -> smtp,
// default settings otherwise. sysmail: `serve` from dist/, spool on the same disk (mkdtemp under
// /var/tmp), log on. Rounds alternate which agent goes first. The client is Node with
// TCP_NODELAY, one fresh connection per message, as dnf-automatic's smtplib does. A second table
// says when each reply reached the client (medians, ms from connect): where the time goes.
// --gap MS (default 50): the pause after each message, so that every agent starts from idle.
// --extra NAME=PATH/sysmail.js: also another sysmail build's serve (e.g. the commit before a change),
// with its own spool, in the same rounds.
// The sink (bench/lib/timing-sink.mjs) runs in its own process, as a relay is another host;
// --sink inproc puts it in the bench's process (its replies then wait for the client's work);
// --pipelining makes it announce PIPELINING, as real relays do (default: it does not);
// --relay-delay MS makes each of its replies come MS ms late: a relay at that round-trip time
// (default 0: a relay on this very host, which a smarthost never is);
// --postfix-cache turns on Postfix's SMTP connection cache for the relay
// (smtp_connection_cache_destinations), as serve keeps its relay connection.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const ROUNDS = Number(opt('rounds', '40'));
const WARMUP = Number(opt('warmup', '5'));
const OUT = opt('out', null);
const GAP = Number(opt('gap', '50'));
const EXTRA = opt('extra', null);
const SINK = opt('sink', 'process');
const PIPELINING = args.includes('--pipelining');
const RELAY_DELAY = Number(opt('relay-delay', '0'));
const POSTFIX_CACHE = args.includes('--postfix-cache');
// process.hrtime is CLOCK_MONOTONIC: the same clock in the sink's process.
const now = () => Number(process.hrtime.bigint()) / 1e6;

const { startPostfix } = await import(join(root, 'build/test/helpers/postfix.js'));
const { makeCerts } = await import(join(root, 'build/test/helpers/certs.js'));

// ---- the sink: the relay both agents send to (lib/timing-sink.mjs) --------------------------------
// In its own process by default (--sink inproc: in this one, as before 2026-12-03's fourth round).
const arrivals = new Map();
/** Token -> connections the sink had accepted when it arrived (in its own process only). */
const sinkConnections = new Map();
const waiters = new Map();
const noteArrival = (tok, t) => { arrivals.set(tok, t); waiters.get(tok)?.(t); };
let sinkPort; let stopSink;
if (SINK === 'inproc') {
  const { sinkConnection } = await import('./lib/timing-sink.mjs');
  const sink = net.createServer((s) => sinkConnection(s, noteArrival, { offerPipelining: PIPELINING, replyDelay: RELAY_DELAY }));
  await new Promise((r) => sink.listen(0, '127.0.0.1', r));
  sinkPort = sink.address().port;
  stopSink = () => sink.close();
} else {
  const child = spawn(process.execPath, [join(root, 'bench/lib/timing-sink.mjs'), ...(PIPELINING ? ['--pipelining'] : []), '--delay', String(RELAY_DELAY)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  sinkPort = await new Promise((resolve, reject) => {
    child.on('message', (m) => (m.port ? resolve(m.port) : (noteArrival(m.tok, m.t), sinkConnections.set(m.tok, m.connections))));
    child.on('exit', () => reject(new Error('the sink exited')));
  });
  stopSink = () => child.kill();
}
const arrived = (tok) => new Promise((resolve, reject) => {
  if (arrivals.has(tok)) return resolve(arrivals.get(tok));
  const timer = setTimeout(() => reject(new Error(`no arrival of ${tok} within 30 s`)), 30_000);
  waiters.set(tok, (t) => { clearTimeout(timer); resolve(t); });
});

// ---- the client: one message on a fresh connection --------------------------------------------
function submit(port, tok) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const script = ['EHLO client.bench.example', 'MAIL FROM:<root@bench.example>', 'RCPT TO:<ops@example.net>', 'DATA',
      `From: root@bench.example\r\nTo: ops@example.net\r\nSubject: bench-token-${tok}\r\n\r\nbody line\r\n.`, 'QUIT'];
    let buf = ''; let step = -1; let accepted = null; const steps = [];
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const m = /^(\d{3})([ -])[^\r\n]*\r\n/.exec(buf);
        if (!m) return;
        buf = buf.slice(m[0].length);
        if (m[2] === '-') continue;
        if (Number(m[1]) >= 400) { s.destroy(); reject(new Error(`${port}: ${m[0].trim()} at step ${step}`)); return; }
        steps.push(now() - t0);
        if (step === 4) accepted = now();
        step++;
        if (step < script.length) s.write(script[step] + '\r\n');
      }
    });
    s.on('close', () => (accepted !== null ? resolve({ t0, accepted, steps }) : reject(new Error(`${port}: closed at step ${step}`))));
    s.on('error', reject);
  });
}

// ---- the agents ---------------------------------------------------------------------------------
const certs = await makeCerts();
const pf = await startPostfix({ certs, users: {}, mailboxes: ['nobody@local.bench.invalid'], relayTo: sinkPort, relayCache: POSTFIX_CACHE, hostname: 'postfix.bench.example' });

/** One `sysmail serve` of the build at `entry`, with its own spool and log; resolves with its port. */
async function startServe(entry) {
  const dir = mkdtempSync('/var/tmp/sysmail-arrival-');
  const config = join(dir, 'sysmail.toml');
  writeFileSync(config, `[general]
hostname = "sysmail.bench.example"
domain = "bench.example"
aliases = false
[spool]
dir = "${dir}/spool"
[log]
file = "${dir}/sysmail.log"
[transports.relay]
type = "smtp"
host = "127.0.0.1"
port = ${sinkPort}
security = "none"
`);
  const serve = spawn(process.execPath, [entry, 'serve', '--config', config, '--listen', '127.0.0.1:0'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let serr = '';
  const port = await new Promise((resolve, reject) => {
    serve.stderr.on('data', (d) => { serr += d; const m = /listening on 127\.0\.0\.1:(\d+)/.exec(serr); if (m) resolve(Number(m[1])); });
    serve.on('exit', () => reject(new Error(`sysmail serve exited: ${serr}`)));
  });
  return { port, stop: () => { serve.kill('SIGTERM'); rmSync(dir, { recursive: true, force: true }); } };
}
const serves = [{ name: 'sysmail serve', ...(await startServe(join(root, 'dist/sysmail.js'))) }];
if (EXTRA) {
  const [name, entry] = EXTRA.split('=');
  serves.push({ name: `${name} serve`, ...(await startServe(entry)) });
}

const agents = [{ name: 'postfix', port: pf.port }, ...serves];
const res = Object.fromEntries(agents.map((a) => [a.name, { accept: [], arrival: [], steps: [] }]));
try {
  for (let r = 0; r < WARMUP + ROUNDS; r++) {
    const order = r % 2 === 0 ? agents : [...agents].reverse();
    for (const a of order) {
      const tok = `${r}-${a.name.replace(/\W/g, '')}`;
      const { t0, accepted, steps } = await submit(a.port, tok);
      const t = await arrived(tok);
      if (r >= WARMUP) { res[a.name].accept.push(accepted - t0); res[a.name].arrival.push(t - t0); res[a.name].steps.push([...steps, t - t0]); }
      await new Promise((z) => setTimeout(z, GAP)); // let each agent go idle between messages
    }
  }
} finally {
  for (const s of serves) s.stop();
  await pf.stop();
  stopSink();
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), min: s[0], max: s[s.length - 1], p90: q(0.9), n: s.length };
};
const f = (x) => x.toFixed(1);
const summary = Object.fromEntries(Object.entries(res).map(([k, v]) => [k, { accept_ms: stats(v.accept), arrival_ms: stats(v.arrival) }]));
console.log(`submission over SMTP (fresh connection) to arrival at the sink, ${ROUNDS} rounds after ${WARMUP} warm-up, node ${process.version}; `
  + `sink ${SINK === 'inproc' ? 'in this process' : 'in its own process'}, ${PIPELINING ? 'with' : 'without'} PIPELINING, replies ${RELAY_DELAY} ms late, gap ${GAP} ms`
  + `${POSTFIX_CACHE ? ', Postfix with its connection cache' : ''}`);
console.log('| agent | connect → 250 after the dot, ms: median (min–max) | connect → at the sink, ms: median (min–max), p90 |');
console.log('|---|---|---|');
for (const [k, v] of Object.entries(summary)) {
  console.log(`| ${k} | ${f(v.accept_ms.median)} (${f(v.accept_ms.min)}–${f(v.accept_ms.max)}) | ${f(v.arrival_ms.median)} (${f(v.arrival_ms.min)}–${f(v.arrival_ms.max)}), ${f(v.arrival_ms.p90)} |`);
}
if (sinkConnections.size > 0) {
  // Which agent opened a new relay connection for its message: the count went up on its arrival.
  const byRound = [...sinkConnections.entries()].sort((a, b) => a[1] - b[1]);
  const opened = Object.fromEntries(agents.map((a) => [a.name, 0]));
  let last = 0;
  for (const [tok, n] of byRound) {
    const agent = agents.find((a) => tok.endsWith(`-${a.name.replace(/\W/g, '')}`));
    if (agent && n > last) opened[agent.name]++;
    last = n;
  }
  console.log(`\nmessages that went out on a new relay connection: ${Object.entries(opened).map(([k, v]) => `${k} ${v}`).join(', ')} (of ${WARMUP + ROUNDS} each)`);
}
const STEPS = ['220 greeting', 'EHLO', 'MAIL', 'RCPT', '354 DATA', '250 after the dot', '221 QUIT', 'at the sink'];
console.log(`\nwhen each reply reached the client, ms after connect (medians; "at the sink": when the sink had the final dot)`);
console.log(`| agent | ${STEPS.join(' | ')} |`);
console.log(`|---|${STEPS.map(() => '---').join('|')}|`);
for (const [k, v] of Object.entries(res)) {
  const cols = STEPS.map((_, i) => f(stats(v.steps.map((s) => s[i])).median));
  console.log(`| ${k} | ${cols.join(' | ')} |`);
}
if (OUT) writeFileSync(OUT, JSON.stringify({ date: new Date().toISOString(), node: process.version, rounds: ROUNDS, warmup: WARMUP, summary, raw: res }, null, 2) + '\n');
