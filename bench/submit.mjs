#!/usr/bin/env node
// Issue 2: submission latency, CPU time and peak RSS of `sendmail -t < 2 KB message` against
// Node's bare start-up, side by side in one interleaved run. The machine is shared and noisy:
// compare the paired ratios within a run, never absolute times across runs.
//
//   npm run build && node bench/submit.mjs [--rounds 30] [--variants default|all|NAME,...]
//                                          [--cli dist/sysmail.js] [--extra LABEL=PATH]...
//                                          [--json] [--out FILE.json]
//
// Variants (each spawned directly, no shell, by bench/lib/rusage.py: posix_spawn + wait4):
//   node -e 0              Node's floor
//   node write+fsync       Node's floor for a durable queue: new file, 2 KB, fsync, fsync dir
//   sendmail -odq -t       the built CLI, queue only (tmp, write, fsync, rename, fsync dir)
//   sendmail -t            the default: queue, start the background delivery, exit
//   sendmail -t (serve running), (path unit): queue and exit; `serve` or sysmail-flush.path delivers
// With --variants all, also the packagings of bench/build-variants.mjs (built when missing), each
// as `NAME -odq`: split, split-lean, split-toml, single, cjs, cjs-cache, cjs-cache-lean,
// cjs-cache-lean-min, sendmail-only, snapshot, snapshot-lean; `NAME -t` (queue and start the delivery) can be named with --variants.
//
// Per run: wall (spawn to reap), CPU (user+sys of the process and the children it waited for)
// and peak RSS (ru_maxrss: the largest single process, as GNU time's %M). In each round every
// variant runs once, the start rotating; the ratio is the median of the per-round ratios against
// `node -e 0`. After each run the harness waits until the queue is empty and the detached
// delivery has exited, so nothing overlaps the next timing.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const rounds = Number(arg('--rounds', '30'));
const warmup = Number(arg('--warmup', '2'));
const cli = resolve(arg('--cli', join(root, 'dist', 'sysmail.js')));
const want = arg('--variants', 'default');
if (!existsSync(cli)) { console.error(`${cli} not found: run \`npm run build\` first (or pass --cli)`); process.exit(1); }

// The spool must be on the real disk: on tmpfs the fsyncs would cost nothing.
const dir = mkdtempSync(join(process.env.BENCH_DIR ?? '/var/tmp', 'sysmail-bench-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true })); // also after a failed run
const spool = join(dir, 'spool');
const config = join(dir, 'sysmail.toml');
writeFileSync(config, `[general]\nhostname = "bench.example.com"\ndomain = "example.com"\naliases = false\n`
  + `[spool]\ndir = "${spool}"\n[log]\nfile = "${join(dir, 'sysmail.log')}"\n`
  + `[transports.box]\ntype = "maildir"\npath = "${join(dir, 'Maildir')}"\n`, { mode: 0o600 });
const msgFile = join(dir, 'msg-2k.eml');
writeFileSync(msgFile, makeMessage(2048));
const floorDir = join(dir, 'floor');
mkdirSync(floorDir);
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, LANG: 'C' };

const node = process.execPath;
const V = join(root, 'bench', 'out', 'variants');
const all = {
  'node -e 0': [node, '-e', '0'],
  'node write+fsync': [node, join(root, 'bench', 'lib', 'floor-write.cjs'), floorDir, '--dirsync'],
  'sendmail -odq -t': [node, cli, 'sendmail', '-C', config, '-odq', '-t'],
  'sendmail -t': [node, cli, 'sendmail', '-C', config, '-t'],
  // Somebody else delivers (src/submit/submit-core.ts): the spool names a live `serve` (this harness's
  // pid in serve.pid), or has sysmail-flush.path's marker. sendmail then starts no process; the
  // harness removes the queued message untimed, as for -odq (the delivery is not sendmail's cost).
  'sendmail -t (serve running)': [node, cli, 'sendmail', '-C', config, '-t'],
  'sendmail -t (path unit)': [node, cli, 'sendmail', '-C', config, '-t'],
};
const SETUP = {
  'sendmail -t (serve running)': ['serve.pid', String(process.pid)],
  'sendmail -t (path unit)': ['flush-path-unit', 'bench\n'],
};
for (const v of ['split', 'split-lean', 'split-toml', 'single', 'cjs', 'cjs-cache', 'cjs-cache-lean', 'cjs-cache-lean-min', 'sendmail-only', 'snapshot', 'snapshot-lean']) {
  const pre = v.startsWith('snapshot') ? ['--snapshot-blob', join(V, v, 'sysmail.blob'), 'sysmail']
    : [join(V, v, existsSync(join(V, v, 'sysmail.cjs')) || v.startsWith('cjs') ? 'sysmail.cjs' : 'sysmail.js')];
  all[`${v} -odq`] = [node, ...pre, 'sendmail', '-C', config, '-odq', '-t'];
  // A snapshot's argv[1] is not a script, and sendmail-only has no flush command: -odq only.
  if (!v.startsWith('snapshot') && v !== 'sendmail-only') all[`${v} -t`] = [node, ...pre, 'sendmail', '-C', config, '-t'];
};
// --extra LABEL=PATH (repeatable): another built CLI, as `LABEL -odq`, `LABEL -t`, and
// `LABEL -t (serve running)` / `LABEL -t (path unit)` (set up as the variants of the same names).
const extras = process.argv.flatMap((a, i) => (a === '--extra' ? [process.argv[i + 1]] : []));
for (const e of extras) {
  const [label, path] = e.split('=');
  all[`${label} -odq`] = [node, resolve(path), 'sendmail', '-C', config, '-odq', '-t'];
  for (const t of ['-t', '-t (serve running)', '-t (path unit)']) all[`${label} ${t}`] = [node, resolve(path), 'sendmail', '-C', config, '-t'];
  SETUP[`${label} -t (serve running)`] = SETUP['sendmail -t (serve running)'];
  SETUP[`${label} -t (path unit)`] = SETUP['sendmail -t (path unit)'];
}
const base4 = ['node -e 0', 'node write+fsync', 'sendmail -odq -t', 'sendmail -t', 'sendmail -t (serve running)', 'sendmail -t (path unit)'];
const names = want === 'default' ? base4
  : want === 'all' ? [...base4, ...Object.keys(all).filter((n) => n.endsWith(' -odq'))] : want.split(',');
for (const n of names) if (!all[n]) { console.error(`unknown variant "${n}"; known: ${Object.keys(all).join(', ')}`); process.exit(64); }
if (names.some((n) => all[n].some((a) => a.startsWith(V)) && !all[n].some((a) => a.startsWith(V) && existsSync(a)))) {
  const r = spawnSync(node, [join(root, 'bench', 'build-variants.mjs')], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
}

// The co-process that spawns and reaps (Node cannot read a child's rusage).
const helper = spawn('python3', [join(root, 'bench', 'lib', 'rusage.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
const replies = createInterface({ input: helper.stdout })[Symbol.asyncIterator]();
async function run(argv) {
  helper.stdin.write(JSON.stringify({ argv, env, stdin: msgFile }) + '\n');
  const { value, done } = await replies.next();
  if (done) throw new Error('bench/lib/rusage.py stopped');
  const r = JSON.parse(value);
  if (r.rc !== 0) throw new Error(`${argv.join(' ')} exited ${r.rc}`);
  return r;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function busy() {
  // A queued message, or a detached `sysmail flush` of ours (its argv names our config), still running.
  const q = join(spool, 'queue');
  if (existsSync(q) && readdirSync(q).length > 0) return true;
  if (existsSync(join(spool, 'active')) && readdirSync(join(spool, 'active')).length > 0) return true;
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try { if (readFileSync(`/proc/${p}/cmdline`, 'latin1').includes(config) && readFileSync(`/proc/${p}/cmdline`, 'latin1').includes('flush')) return true; } catch { /* gone */ }
  }
  return false;
}
async function drain(queueOnly) {
  // -odq leaves its message queued: remove it (untimed) so that the queue stays the same size.
  if (queueOnly) for (const f of readdirSync(join(spool, 'queue'))) rmSync(join(spool, 'queue', f));
  for (let i = 0; i < 2000 && busy(); i++) await sleep(5);
  if (busy()) throw new Error(`the queue in ${spool} did not drain: see ${join(dir, 'sysmail.log')}`);
  rmSync(floorDir, { recursive: true, force: true }); mkdirSync(floorDir);
}

// As on a host, the config is older than a second when sendmail runs, so that the fast path keeps
// its validated form in the compiled-config cache (src/config/compiled-cache.ts: SETTLE_MS). The
// entry goes where the launcher's code cache would (/var/cache/sysmail as root) and is removed at the end.
await sleep(1100);
process.on('exit', () => {
  const cacheDir = '/var/cache/sysmail'; // the children's launcher: they get no SYSMAIL_CODE_CACHE_DIR
  for (const n of existsSync(cacheDir) ? readdirSync(cacheDir) : []) {
    if (!/^config-\d+-[0-9a-f]{8}\.json$/.test(n)) continue;
    try { if (JSON.parse(readFileSync(join(cacheDir, n), 'utf8')).key.file === config) rmSync(join(cacheDir, n)); } catch { /* not ours */ }
  }
});
const load0 = loadavg();
const res = Object.fromEntries(names.map((n) => [n, { wall: [], cpu: [], rss: [], ratio: [], cpuRatio: [] }]));
for (let r = -warmup; r < rounds; r++) {
  const k = ((r % names.length) + names.length) % names.length;
  const order = [...names.slice(k), ...names.slice(0, k)];
  const got = {};
  for (const n of order) {
    const setup = SETUP[n];
    if (setup) { mkdirSync(spool, { recursive: true }); writeFileSync(join(spool, setup[0]), setup[1]); }
    got[n] = await run(all[n]);
    if (setup) rmSync(join(spool, setup[0]));
    await drain(all[n].includes('-odq') || !!setup);
  }
  if (r < 0) continue;
  const base = got['node -e 0'];
  for (const n of names) {
    const g = got[n];
    res[n].wall.push(g.wall_ms); res[n].cpu.push(g.user_ms + g.sys_ms); res[n].rss.push(g.maxrss_kib);
    if (base) { res[n].ratio.push(g.wall_ms / base.wall_ms); res[n].cpuRatio.push((g.user_ms + g.sys_ms) / (base.user_ms + base.sys_ms)); }
  }
}
helper.stdin.end();
const load1 = loadavg();

const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const q = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const f1 = (x) => Math.round(x * 10) / 10;
const baseRss = res['node -e 0'] ? med(res['node -e 0'].rss) : null;
const rows = names.map((n) => {
  const x = res[n];
  return {
    variant: n, argv: all[n].map((a) => a.replace(dir, '$DIR').replace(root, '.')),
    wall_ms: { median: f1(med(x.wall)), p25: f1(q(x.wall, 0.25)), p75: f1(q(x.wall, 0.75)), min: f1(Math.min(...x.wall)), max: f1(Math.max(...x.wall)) },
    cpu_ms: { median: f1(med(x.cpu)), min: f1(Math.min(...x.cpu)), max: f1(Math.max(...x.cpu)) },
    wall_ratio_vs_node: x.ratio.length ? +med(x.ratio).toFixed(3) : null,
    cpu_ratio_vs_node: x.cpuRatio.length ? +med(x.cpuRatio).toFixed(3) : null,
    peak_rss_kib: { median: med(x.rss), min: Math.min(...x.rss), max: Math.max(...x.rss) },
    rss_ratio_vs_node: baseRss ? +(med(x.rss) / baseRss).toFixed(3) : null,
    raw: { wall_ms: x.wall.map(f1), cpu_ms: x.cpu.map(f1), rss_kib: x.rss },
  };
});
const out = {
  date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu_model: cpus()[0]?.model,
  loadavg_start: load0.map(f1), loadavg_end: load1.map(f1), rounds, warmup, message_bytes: 2048, cli: cli.replace(root, '.'), rows,
};
if (arg('--out', null)) writeFileSync(arg('--out', null), JSON.stringify(out, null, 1));
if (process.argv.includes('--json')) console.log(JSON.stringify(out, null, 1));
else {
  console.log(`${out.date}  node ${out.node}, ${out.cpus} CPUs, load ${load0.map(f1).join(' ')} -> ${load1.map(f1).join(' ')}, `
    + `${rounds} rounds (+${warmup} warm-up), message 2048 bytes, cli ${out.cli}`);
  console.log('| variant | wall ms median (p25–p75; min–max) | wall ratio vs node -e 0 | CPU ms median | CPU ratio | peak RSS KiB median (min–max) | RSS ratio |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.variant} | ${r.wall_ms.median} (${r.wall_ms.p25}–${r.wall_ms.p75}; ${r.wall_ms.min}–${r.wall_ms.max}) | ${r.wall_ratio_vs_node ?? '–'} `
      + `| ${r.cpu_ms.median} | ${r.cpu_ratio_vs_node ?? '–'} | ${r.peak_rss_kib.median} (${r.peak_rss_kib.min}–${r.peak_rss_kib.max}) | ${r.rss_ratio_vs_node ?? '–'} |`);
  }
}

function makeMessage(size) {
  // The same 2048-byte message as the shared peer harness (lib/bench.py make_message).
  const hdr = 'From: Bench Sender <sender@example.org>\nTo: Bench Rcpt <rcpt@example.net>\nSubject: bench\n'
    + 'Date: Thu, 01 Jan 2026 00:00:00 +0000\nMessage-ID: <bench-msg@example.org>\nMIME-Version: 1.0\n'
    + 'Content-Type: text/plain; charset=us-ascii\n\n';
  const line = 'The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\n';
  let body = '';
  while (hdr.length + body.length + line.length <= size) body += line;
  body += 'x'.repeat(size - hdr.length - body.length - 1) + '\n';
  return hdr + body;
}
