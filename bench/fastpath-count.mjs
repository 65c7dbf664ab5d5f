#!/usr/bin/env node
// How many sysmail processes of the test suite took the sendmail fast path, and how many the
// full CLI (falling back from the fast path, or another command): the suite run once against a
// copy of dist/ whose launcher appends one word per process to a log (docs/benchmarks.md).
//
//   npm run build && node bench/fastpath-count.mjs [TEST FILE ...]   (default: every test file)
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const copy = join(root, 'bench', 'out', 'dist-count');
rmSync(copy, { recursive: true, force: true });
cpSync(join(root, 'dist'), copy, { recursive: true });
const log = join(mkdtempSync(join(tmpdir(), 'sysmail-count-')), 'paths.log');
const launcher = join(copy, 'sysmail.js');
let text = readFileSync(launcher, 'utf8');
// Tests also run the CLI as other users (nobody): the log is writable by all, and a failed append
// never changes what the process does.
const append = (expr) => `try { require('node:fs').appendFileSync(${JSON.stringify(log)}, ${expr} + '\\n'); } catch {}`;
const swaps = [
  // run() returns an exit code (also after a failure it reported) or null: the full CLI runs.
  ['  if (code === null) runMain(); else if (fast.settled()) exitNow(code); else process.exitCode = code;',
    `  ${append("(code === null ? 'fallback' : 'fast')")};\n  if (code === null) runMain(); else if (fast.settled()) exitNow(code); else process.exitCode = code;`],
  ['} else {\n  runMain();\n}', `} else {\n  ${append("'other'")};\n  runMain();\n}`],
];
for (const [from, to] of swaps) {
  if (!text.includes(from)) throw new Error(`launcher changed: "${from}" not found; update bench/fastpath-count.mjs`);
  text = text.replace(from, to);
}
writeFileSync(launcher, text);
chmodSync(dirname(log), 0o777);
writeFileSync(log, '', { mode: 0o666 });
chmodSync(log, 0o666);
const files = process.argv.slice(2).length ? process.argv.slice(2)
  : readdirSync(join(root, 'build', 'test')).filter((f) => f.endsWith('.test.js')).map((f) => join('build', 'test', f));
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { cwd: root, env: { ...process.env, SYSMAIL_TEST_CLI: launcher }, encoding: 'utf8' });
const summary = r.stdout.split('\n').filter((l) => /^# (tests|pass|fail)/.test(l)).join(', ');
let words = [];
try { words = readFileSync(log, 'utf8').split('\n').filter(Boolean); } catch { /* no process ran */ }
const count = (w) => words.filter((x) => x === w).length;
console.log(`${summary}`);
for (const l of r.stdout.split('\n').filter((x) => /^\s*not ok/.test(x))) console.log(l.trim());
console.log(`sysmail processes: ${words.length}; sendmail fast path: ${count('fast')}; fell back to the full CLI: ${count('fallback')}; other commands (full CLI): ${count('other')}`);
rmSync(dirname(log), { recursive: true, force: true });
process.exitCode = r.status ?? 1;
