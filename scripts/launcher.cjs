#!/usr/bin/env node
'use strict';
// sysmail launcher (copied to dist/sysmail.js by scripts/bundle.mjs --cjs-cache): runs
// sysmail-main.cjs with V8's code cache (docs/benchmarks.md, "Start-up").
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
//   writes even after a hit (the build's training run and `sysmail cache rebuild`).
const fs = require('node:fs');
const { join } = require('node:path');
const { Script } = require('node:vm');
const main = join(__dirname, 'sysmail-main.cjs');
const NAME = 'sysmail-main.v8cache';
const source = fs.readFileSync(main, 'utf8');
const idAt = source.lastIndexOf('//# sysmail-build-id=');
const stamp = `${idAt < 0 ? 'none' : source.slice(idAt + 21).trim()}:${process.version}:${process.arch}`;
const euid = process.geteuid ? process.geteuid() : 0;
const trusted = (st) => (st.uid === euid || st.uid === 0) && (st.mode & 0o022) === 0;
const state = {
  stamp, bundle: main, dirs: [process.env.SYSMAIL_CODE_CACHE_DIR || '/var/cache/sysmail', __dirname],
  file: null, status: 'missing', detail: '', write: true, wrote: null,
};
globalThis.__sysmail_codeCache = state;
let cachedData;
for (const dir of state.dirs) {
  const file = join(dir, NAME);
  let fd = -1;
  try {
    fd = fs.openSync(file, 'r');
    if (!trusted(fs.fstatSync(fd)) || !trusted(fs.statSync(dir))) { state.status = 'untrusted'; state.file = file; continue; }
    const c = fs.readFileSync(fd);
    const nl = c.indexOf(10);
    const got = nl > 0 ? c.toString('latin1', 0, nl) : '';
    if (idAt < 0 || got !== stamp) { state.status = 'stale'; state.file = file; state.detail = got; continue; }
    cachedData = c.subarray(nl + 1);
    state.file = file;
    break;
  } catch {
    // missing or unreadable: the next place
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}
const wrapper = '(function (exports, require, module, __filename, __dirname) { ';
const script = new Script(wrapper + source + '\n})', { filename: main, cachedData });
if (cachedData) state.status = script.cachedDataRejected ? 'rejected' : 'used';
if (state.status !== 'used' || process.env.SYSMAIL_WRITE_CODE_CACHE === '1') {
  process.once('exit', () => {
    if (!state.write && process.env.SYSMAIL_WRITE_CODE_CACHE !== '1') return;
    for (const dir of state.dirs) {
      const tmp = join(dir, `.${NAME}.${process.pid}`);
      try {
        if (!trusted(fs.statSync(dir))) continue;
        fs.writeFileSync(tmp, Buffer.concat([Buffer.from(stamp + '\n', 'latin1'), script.createCachedData()]), { mode: 0o644, flag: 'wx' });
        fs.renameSync(tmp, join(dir, NAME));
        state.wrote = join(dir, NAME);
        return;
      } catch {
        try { fs.unlinkSync(tmp); } catch {}
      }
    }
  });
}
const m = { exports: {} };
script.runInThisContext()(m.exports, require, m, main, __dirname);
