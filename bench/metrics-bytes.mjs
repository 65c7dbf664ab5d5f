#!/usr/bin/env node
// Issue 11: bytes written per delivered message with the metrics file on, against off (the metrics
// file must not undo the write-frugal spool). Each message: `sendmail -odq` (queue) then
// `sysmail flush --quiet` (deliver, then metrics), the way the background flush runs without serve,
// both under `strace -ff -y`. Bytes are successful write/writev/pwrite64 calls to regular files,
// by file: spool, log, metrics (sysmail.prom + metrics.json), mailbox (the Maildir transport's copy).
//
//   npm run build && node bench/metrics-bytes.mjs [--messages 10] [--json]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'sysmail.js');
const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const N = Number(arg('--messages', '10'));
const body = 'x'.repeat(76) + '\n';
const message = `From: cron@example.com\nTo: ops@example.com\nSubject: bench\n\n${body.repeat(26)}`; // ≈ 2 KB

function scenario(name, metricsToml, { idle = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sysmail-mbytes-'));
  mkdirSync(join(dir, 'textfile'));
  const cfg = join(dir, 'sysmail.toml');
  writeFileSync(cfg, `[general]\nhostname = "web1.example.com"\n[spool]\ndir = "${dir}/spool"\n[log]\nfile = "${dir}/log/sysmail.log"\n`
    + `${metricsToml.replace('TEXTFILE', join(dir, 'textfile'))}\n[transports.box]\ntype = "maildir"\npath = "${dir}/Maildir"\n`);
  const env = { PATH: process.env.PATH, SYSMAIL_CONFIG: cfg };
  // Warm-up: the spool, log and metrics files exist before counting (first-run setup is not per message).
  spawnSync(process.execPath, [cli, 'sendmail', '-odq', 'ops@example.com'], { input: message, env });
  spawnSync(process.execPath, [cli, 'flush', '--quiet'], { env });
  const trace = join(dir, 'trace');
  mkdirSync(trace);
  for (let i = 0; i < N; i++) {
    if (!idle) {
      spawnSync('strace', ['-ff', '-y', '-qq', '-e', 'trace=write,writev,pwrite64', '-o', join(trace, `s${i}`),
        process.execPath, cli, 'sendmail', '-odq', 'ops@example.com'], { input: message, env });
    }
    spawnSync('strace', ['-ff', '-y', '-qq', '-e', 'trace=write,writev,pwrite64', '-o', join(trace, `f${i}`),
      process.execPath, cli, 'flush', '--quiet'], { env });
  }
  const by = { spool: 0, log: 0, metrics: 0, mailbox: 0 };
  let writes = 0;
  for (const f of readdirSync(trace)) {
    for (const line of readFileSync(join(trace, f), 'utf8').split('\n')) {
      const m = /^(?:\d+\s+)?(?:write|writev|pwrite64)\(\d+<([^>]+)>.*\)\s+=\s+(\d+)$/.exec(line);
      if (!m || !m[1].startsWith(dir)) continue;
      const path = m[1];
      const n = Number(m[2]);
      writes++;
      if (path.includes('/Maildir/')) by.mailbox += n;
      else if (path.includes('/textfile/') || path.includes('metrics.json')) by.metrics += n;
      else if (path.includes('/log/')) by.log += n;
      else by.spool += n;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const per = Object.fromEntries(Object.entries(by).map(([k, v]) => [k, Math.round(v / N)]));
  const sysmail = per.spool + per.log + per.metrics;
  return { name, perMessage: per, sysmailBytes: sysmail, writes };
}

const results = [
  scenario('metrics off', '[metrics]\nfile = false'),
  scenario('metrics on, min_interval = "0s" (every change)', '[metrics]\nfile = "TEXTFILE/sysmail.prom"\nmin_interval = "0s"'),
  scenario('metrics on, default min_interval (1m), messages back to back', '[metrics]\nfile = "TEXTFILE/sysmail.prom"'),
  scenario('metrics on, idle flush passes (no mail)', '[metrics]\nfile = "TEXTFILE/sysmail.prom"\nmin_interval = "0s"', { idle: true }),
];
if (process.argv.includes('--json')) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
else {
  console.log(`${N} messages of ${message.length} bytes, each: sendmail -odq + sysmail flush (per pass for the idle row)`);
  console.log('| scenario | sysmail bytes per message | spool | log | metrics | (mailbox copy) |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results) {
    const p = r.perMessage;
    console.log(`| ${r.name} | ${r.sysmailBytes} | ${p.spool} | ${p.log} | ${p.metrics} | ${p.mailbox} |`);
  }
}
