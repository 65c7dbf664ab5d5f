#!/usr/bin/env node
'use strict';
// sysmail launcher (copied to dist/sysmail.js by scripts/bundle.mjs --cjs-cache): runs the CLI
// bundles with V8's code cache (docs/benchmarks.md, "Start-up"). A call that looks like sendmail
// first loads the small sendmail-only bundle (src/cli/sendmail-fast.ts); when that answers null
// (another mode or flag; nothing has been read yet) the full CLI (sysmail-main.cjs) runs.
//
// Guarantees:
// - It always runs the bundle. A cache that is missing, made for another bundle/Node/arch
//   (the stamp line), or refused by V8 (other V8 flags: script.cachedDataRejected) only costs
//   time; what happened is in globalThis.__sysmail_codeCache for `doctor` and `cache status`.
// - A cache is code: it is read only from a file and directory owned by root or by this user and
//   writable by nobody else, and written only into such a directory (tmp + rename).
// - Where to look, in order: $SYSMAIL_CODE_CACHE_DIR or /var/cache/sysmail, then beside the bundle.
//   On a miss or a refusal it writes a fresh cache, once the command has run, into the first of
//   those it may write (unless the command said it only reads: doctor). SYSMAIL_WRITE_CODE_CACHE=1
//   writes even after a hit (the build's training run and `sysmail cache rebuild`). Root writes
//   only into the first (making /var/cache/sysmail if need be), never beside the bundle: in a
//   package that is /usr/lib/sysmail, whose files belong to the package manager.
const fs = require('node:fs');
const { join } = require('node:path');
const { Script } = require('node:vm');
const euid = process.geteuid ? process.geteuid() : 0;
const trusted = (st) => (st.uid === euid || st.uid === 0) && (st.mode & 0o022) === 0;
const state = { dirs: [process.env.SYSMAIL_CODE_CACHE_DIR || '/var/cache/sysmail', __dirname], write: true, bundles: {}, check };
globalThis.__sysmail_codeCache = state;

/** Compiles dist/sysmail-NAME.cjs with the best cache found; records what happened. */
function compile(name) {
  const bundle = join(__dirname, `sysmail-${name}.cjs`);
  const cacheName = `sysmail-${name}.v8cache`;
  const source = fs.readFileSync(bundle, 'utf8');
  const idAt = source.lastIndexOf('//# sysmail-build-id=');
  const stamp = `${idAt < 0 ? 'none' : source.slice(idAt + 21).trim()}:${process.version}:${process.arch}`;
  const rec = { bundle, stamp, file: null, status: 'missing', detail: '', wrote: null };
  let cachedData;
  for (const dir of state.dirs) {
    const file = join(dir, cacheName);
    let fd = -1;
    try {
      // A missing cache is the common miss: asked without an exception (~0.1 ms each).
      if (fs.statSync(file, { throwIfNoEntry: false }) === undefined) continue;
      fd = fs.openSync(file, 'r');
      const st = fs.fstatSync(fd);
      if (!trusted(st) || !trusted(fs.statSync(dir))) { rec.status = 'untrusted'; rec.file = file; continue; }
      // Read to the size fstat gave (readFileSync(fd) would fstat again and take its generic loop).
      const c = Buffer.allocUnsafe(st.size);
      let got = 0;
      for (let n; got < c.length && (n = fs.readSync(fd, c, got, c.length - got, got)) > 0;) got += n;
      if (got < c.length) throw new Error('the cache file shrank while read');
      // The stamp line compared byte by byte, the rest taken as a plain view: the first indexOf,
      // latin1 toString and Buffer subarray of a process cost ~0.15 ms together.
      if (idAt < 0 || !startsWithLine(c, stamp)) {
        const nl = c.indexOf(10);
        rec.status = 'stale'; rec.file = file; rec.detail = nl > 0 ? c.toString('latin1', 0, nl) : '';
        continue;
      }
      cachedData = new Uint8Array(c.buffer, c.byteOffset + stamp.length + 1, c.length - stamp.length - 1);
      rec.file = file;
      break;
    } catch {
      // missing or unreadable: the next place
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n})`, { filename: bundle, cachedData });
  if (cachedData) rec.status = script.cachedDataRejected ? 'rejected' : 'used';
  return { rec, script, cacheName };
}

/** Whether bytes begin with the line `text` (ASCII) and its newline. */
function startsWithLine(bytes, text) {
  if (bytes.length <= text.length || bytes[text.length] !== 10) return false;
  for (let i = 0; i < text.length; i++) if (bytes[i] !== text.charCodeAt(i)) return false;
  return true;
}

/** How the cache of a bundle this process did not load would fare (doctor, cache status). */
function check(name) {
  return state.bundles[name] || compile(name).rec;
}

function load(name) {
  const { rec, script, cacheName } = compile(name);
  state.bundles[name] = rec;
  if (rec.status !== 'used' || process.env.SYSMAIL_WRITE_CODE_CACHE === '1') {
    process.once('exit', () => {
      if (!state.write && process.env.SYSMAIL_WRITE_CODE_CACHE !== '1') return;
      for (const [i, dir] of state.dirs.entries()) {
        if (euid === 0 && i > 0) return;
        const tmp = join(dir, `.${cacheName}.${process.pid}`);
        try {
          if (euid === 0) fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
          if (!trusted(fs.statSync(dir))) continue;
          fs.writeFileSync(tmp, Buffer.concat([Buffer.from(rec.stamp + '\n', 'latin1'), script.createCachedData()]), { mode: 0o644, flag: 'wx' });
          fs.renameSync(tmp, join(dir, cacheName));
          rec.wrote = join(dir, cacheName);
          return;
        } catch {
          try { fs.unlinkSync(tmp); } catch {}
        }
      }
    });
  }
  const m = { exports: {} };
  script.runInThisContext()(m.exports, require, m, rec.bundle, __dirname);
  return m.exports;
}

const runMain = () => { load('main'); };
// process.exit when something listens for 'exit' (a code-cache write); else the exit it ends with,
// process.reallyExit, directly: process.exit first loads an internal module and emits the event
// (~0.1 ms). Same exit code, same teardown.
const exitNow = (code) => {
  if (process.listenerCount('exit') === 0 && typeof process.reallyExit === 'function') process.reallyExit(code);
  process.exit(code);
};
// A cheap first look (the fast bundle decides for real): sendmail's name or command, or a flag.
// String tests, not regular expressions: the first one of a process costs ~0.05 ms.
const first = process.argv[2];
const script = process.argv[1] || '';
const named = script.slice(script.lastIndexOf('/') + 1).startsWith('sendmail'); // the last path element starts with "sendmail"
if (named || first === 'sendmail' || (first && first[0] === '-' && !['-h', '--help', '-V', '--version'].includes(first))) {
  const fast = load('sendmail');
  // run() is synchronous (no promise on the fast path): an exit code, or null for the full CLI.
  let code = null;
  try { code = fast.run(process.argv[1], process.argv.slice(2)); } catch (err) { code = fast.reportError(err); }
  // Nothing left to wait for (standard error is written synchronously on Linux): exit now, which
  // skips the environment and heap teardown of a natural exit (~0.9 ms); 'exit' handlers still run.
  if (code === null) runMain(); else if (fast.settled()) exitNow(code); else process.exitCode = code;
} else {
  runMain();
}
