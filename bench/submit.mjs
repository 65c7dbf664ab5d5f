#!/usr/bin/env node
// Submission latency and peak RSS of `sendmail -t < 2 KB message` against Node's bare start-up,
// side by side in one interleaved run (this machine is noisy: compare ratios within a run).
//
//   npm run build && node bench/submit.mjs [--rounds 30] [--json]
//
// Variants, each spawned directly (no shell) and timed from spawn to exit:
//   node -e 0            Node's floor
//   sendmail -odq -t     durable queueing only (tmp, fsync, rename, fsync dir)
//   sendmail -t          the default: queue, then start the background delivery and exit
// Peak RSS is GNU time's %M for the same commands, in a second run of each round.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'sysmail.js');
if (!existsSync(cli)) { console.error('run `npm run build` first'); process.exit(1); }
const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const rounds = Number(arg('--rounds', '30'));

const dir = mkdtempSync(join(tmpdir(), 'sysmail-bench-'));
const spool = join(dir, 'spool');
const config = join(dir, 'sysmail.toml');
writeFileSync(config, `[general]\nhostname = "bench.example.com"\ndomain = "example.com"\naliases = "/dev/null"\n`
  + `[spool]\ndir = "${spool}"\n[log]\nfile = "${join(dir, 'sysmail.log')}"\n`
  + `[transports.box]\ntype = "maildir"\npath = "${join(dir, 'Maildir')}"\n`, { mode: 0o600 });
const header = 'From: bench@example.com\nTo: rcpt@example.net\nSubject: benchmark message\nDate: Sun, 29 Nov 2026 00:00:00 +0000\n'
  + 'Message-ID: <bench@example.com>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n';
const line = 'The quick brown fox jumps over the lazy dog, and the cron job reports its output.\n';
let msg = header;
while (msg.length + line.length <= 2047) msg += line;
msg = (msg + 'x'.repeat(2047 - msg.length)).slice(0, 2047) + '\n';
const env = { PATH: process.env.PATH, HOME: process.env.HOME, SYSMAIL_CONFIG: config };

const variants = {
  'node -e 0': [process.execPath, ['-e', '0']],
  'sendmail -odq -t': [process.execPath, [cli, 'sendmail', '-odq', '-t']],
  'sendmail -t': [process.execPath, [cli, 'sendmail', '-t']],
};

function timeOnce([cmd, args]) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`));
      else resolve(Number(process.hrtime.bigint() - t0) / 1e6);
    });
    child.stdin.end(msg);
  });
}

function rssOnce([cmd, args]) {
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { env, input: msg, encoding: 'utf8' });
  return Number(r.stderr.trim().split('\n').pop());
}

async function drain() {
  // Let background deliveries finish so they do not overlap the next round's timings.
  for (let i = 0; i < 200; i++) {
    const q = existsSync(join(spool, 'queue')) ? readdirSync(join(spool, 'queue')) : [];
    if (q.length === 0) return;
    if (i === 20) spawnSync(process.execPath, [cli, 'flush', '--quiet'], { env });
    await new Promise((r) => setTimeout(r, 25));
  }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const names = Object.keys(variants);
const wall = Object.fromEntries(names.map((n) => [n, []]));
const rss = Object.fromEntries(names.map((n) => [n, []]));
const ratios = Object.fromEntries(names.map((n) => [n, []]));

for (let r = -2; r < rounds; r++) {
  const order = names.map((_, i) => names[(i + Math.max(0, r)) % names.length]);
  const got = {};
  for (const n of order) { got[n] = await timeOnce(variants[n]); await drain(); }
  if (r < 0) continue; // warm-up
  for (const n of names) { wall[n].push(got[n]); ratios[n].push(got[n] / got['node -e 0']); rss[n].push(rssOnce(variants[n])); await drain(); }
}

const rows = names.map((n) => ({
  variant: n, wall_ms_median: +median(wall[n]).toFixed(1), wall_ms_min: +Math.min(...wall[n]).toFixed(1),
  wall_ms_max: +Math.max(...wall[n]).toFixed(1), ratio_vs_node_median: +median(ratios[n]).toFixed(3),
  peak_rss_kib_median: median(rss[n]), rss_ratio_vs_node: +(median(rss[n]) / median(rss['node -e 0'])).toFixed(3),
}));
if (process.argv.includes('--json')) console.log(JSON.stringify({ rounds, node: process.version, rows }, null, 2));
else {
  console.log(`rounds: ${rounds}, node ${process.version}, message ${msg.length} bytes`);
  console.log('| variant | wall ms median (min–max) | ratio vs node -e 0 (paired median) | peak RSS KiB (median) | RSS ratio |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.variant} | ${r.wall_ms_median} (${r.wall_ms_min}–${r.wall_ms_max}) | ${r.ratio_vs_node_median} | ${r.peak_rss_kib_median} | ${r.rss_ratio_vs_node} |`);
}
rmSync(dir, { recursive: true, force: true });
