#!/usr/bin/env node
// What each piece of the sendmail path costs on top of Node's bare start-up: one interleaved run
// of small scripts, each loading one built-in module or doing one step, against `node -e 0`.
// Used to decide what must stay off the submission path (docs/benchmarks.md, "Start-up").
//
//   node bench/startup-costs.mjs [--rounds 30] [--json]
//
// CPU time (user+sys from wait4) is the steadier figure on a shared machine; wall is also shown.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const rounds = Number(arg('--rounds', '30'));
const dir = mkdtempSync(join('/var/tmp', 'sysmail-costs-'));
const msg = join(dir, 'msg');
writeFileSync(msg, 'x'.repeat(2047) + '\n');
writeFileSync(join(dir, 'empty.cjs'), '');
writeFileSync(join(dir, 'empty.mjs'), '');
const toml = join(root, 'node_modules', 'smol-toml', 'dist', 'index.js');
const cfg = '[general]\nhostname = "bench.example.com"\n[spool]\ndir = "/var/spool/sysmail"\n[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\n';
writeFileSync(join(dir, 'toml.mjs'), `import { parse } from ${JSON.stringify(toml)}; parse(${JSON.stringify(cfg)});`);
const node = process.execPath;
const e = (code) => [node, '-e', code];
const cases = {
  'node -e 0': e('0'),
  'node empty.cjs (CommonJS loader)': [node, join(dir, 'empty.cjs')],
  'node empty.mjs (ESM loader)': [node, join(dir, 'empty.mjs')],
  "require('child_process')": e("require('child_process')"),
  "require('fs/promises')": e("require('fs/promises')"),
  "require('os').userInfo()": e("require('os').userInfo()"),
  'globalThis.crypto.randomUUID() (webcrypto)': e('crypto.randomUUID()'),
  "require('crypto').randomBytes(16)": e("require('crypto').randomBytes(16)"),
  'read stdin: process.stdin stream': e('let n = 0; process.stdin.on("data", (c) => { n += c.length; })'),
  'read stdin: fs.readFileSync(0)': e("require('fs').readFileSync(0)"),
  'smol-toml: import + parse (ESM)': [node, join(dir, 'toml.mjs')],
  'spawn a detached `node -e 0`': e("require('child_process').spawn(process.execPath, ['-e', '0'], { detached: true, stdio: 'ignore' }).unref()"),
};
const names = Object.keys(cases);
const helper = spawn('python3', [join(root, 'bench', 'lib', 'rusage.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
const replies = createInterface({ input: helper.stdout })[Symbol.asyncIterator]();
async function run(argv) {
  helper.stdin.write(JSON.stringify({ argv, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdin: msg }) + '\n');
  const r = JSON.parse((await replies.next()).value);
  if (r.rc !== 0) throw new Error(`${argv.join(' ')} exited ${r.rc}`);
  return r;
}
const load0 = loadavg();
const res = Object.fromEntries(names.map((n) => [n, { wall: [], cpu: [], rss: [], dwall: [], dcpu: [] }]));
for (let r = -2; r < rounds; r++) {
  const k = ((r % names.length) + names.length) % names.length;
  const got = {};
  for (const n of [...names.slice(k), ...names.slice(0, k)]) got[n] = await run(cases[n]);
  if (r < 0) continue;
  const b = got['node -e 0'];
  for (const n of names) {
    const g = got[n]; const x = res[n];
    x.wall.push(g.wall_ms); x.cpu.push(g.user_ms + g.sys_ms); x.rss.push(g.maxrss_kib);
    x.dwall.push(g.wall_ms - b.wall_ms); x.dcpu.push(g.user_ms + g.sys_ms - b.user_ms - b.sys_ms);
  }
  await new Promise((ok) => setTimeout(ok, 20)); // let the detached child of the last case exit
}
helper.stdin.end();
rmSync(dir, { recursive: true, force: true });
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const f1 = (x) => Math.round(x * 10) / 10;
const rows = names.map((n) => ({ case: n, wall_ms: f1(med(res[n].wall)), cpu_ms: f1(med(res[n].cpu)), peak_rss_kib: med(res[n].rss),
  extra_wall_ms: f1(med(res[n].dwall)), extra_cpu_ms: f1(med(res[n].dcpu)), extra_rss_kib: med(res[n].rss) - med(res['node -e 0'].rss) }));
const out = { date: new Date().toISOString(), node: process.version, rounds, loadavg_start: load0.map(f1), loadavg_end: loadavg().map(f1), rows };
if (process.argv.includes('--json')) console.log(JSON.stringify(out, null, 1));
else {
  console.log(`${out.date}  node ${out.node}, load ${out.loadavg_start.join(' ')} -> ${out.loadavg_end.join(' ')}, ${rounds} rounds`);
  console.log('| case | wall ms | CPU ms | peak RSS KiB | + wall ms (paired median) | + CPU ms (paired median) | + RSS KiB |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.case} | ${r.wall_ms} | ${r.cpu_ms} | ${r.peak_rss_kib} | ${r.extra_wall_ms} | ${r.extra_cpu_ms} | ${r.extra_rss_kib} |`);
}
