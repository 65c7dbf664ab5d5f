// Bundles the CLI into dist/ for a lean start-up (docs/benchmarks.md, "Start-up").
//
//   node scripts/bundle.mjs               dist/sysmail.js (ESM) plus lazily loaded chunks
//   node scripts/bundle.mjs --cjs-cache   dist/sysmail.js as a small CommonJS launcher, the whole
//                                         CLI in dist/sysmail-main.cjs, and V8's code cache for it
//   … [--outdir DIR]                      somewhere else than dist/ (inside the repository)
//
// Default: one entry file plus lazily loaded chunks. nodemailer and smtp-server stay external and
// are imported only by the code paths that deliver or listen. smol-toml is bundled into the
// config loader's chunk: every command reads the config, and resolving a package through
// node_modules costs a package.json lookup and nine more module files on each start (measured:
// -7 % wall time for `sendmail -t`).
//
// --cjs-cache (measured: `sendmail -t` 60.9 -> 39.8 ms against the old ESM bundle, peak RSS
// -4.2 MiB; docs/benchmarks.md): Node 20 has no module.enableCompileCache (Node 22.1+), so the
// launcher compiles the bundle with vm.Script and V8 cached data. The cache is made here, by one
// training run, and is only ever read at run time: a cache file is code, so it must be written by
// whoever writes dist/ (the build, or the package's postinst), never by whichever user happens to
// run sendmail. It is used only when it was made for this very bundle (a content hash, the build
// id, in both) and V8 accepts it (same Node version and flags); otherwise the bundle is compiled
// as usual. dist/package.json makes dist/ CommonJS, so the launcher skips Node's ESM loader too.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const cjsCache = process.argv.includes('--cjs-cache');
// --outdir DIR: build elsewhere (benchmarks, trials); it must be inside the repository so that
// the external packages resolve from node_modules.
const outdir = resolve(process.argv.includes('--outdir') ? process.argv[process.argv.indexOf('--outdir') + 1] : 'dist');

// Everything in node_modules stays external except smol-toml (small, pure, needed by every command).
const externalExceptToml = {
  name: 'external-except-toml',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (a) => (a.path === 'smol-toml' || a.path.startsWith('node:') ? undefined : { path: a.path, external: true }));
  },
};

rmSync(outdir, { recursive: true, force: true });
if (!cjsCache) {
  await build({
    entryPoints: { sysmail: 'src/cli/main.ts' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    plugins: [externalExceptToml],
    outdir,
    chunkNames: 'chunks/[name]-[hash]',
    banner: { js: '#!/usr/bin/env node' },
    sourcemap: 'linked',
    logLevel: 'warning',
  });
} else {
  await build({
    entryPoints: { 'sysmail-main': 'src/cli/main.ts' },
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    plugins: [externalExceptToml],
    outdir,
    outExtension: { '.js': '.cjs' },
    // import() of an external package becomes require(): vm.Script has no dynamic-import hook.
    supported: { 'dynamic-import': false },
    // import.meta.url (src/install/package.ts finds the package from it) for CommonJS.
    define: { 'import.meta.url': '__sysmail_import_meta_url' },
    banner: { js: "var __sysmail_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  // The build id ties the cache to this exact bundle: a content hash in its last line, checked by
  // the launcher against the cache's first line (mtimes are not kept by npm pack, so not those).
  const mainFile = join(outdir, 'sysmail-main.cjs');
  const id = createHash('sha256').update(readFileSync(mainFile)).digest('hex').slice(0, 32);
  appendFileSync(mainFile, `\n//# sysmail-build-id=${id}\n`);
  writeFileSync(join(outdir, 'package.json'), '{ "type": "commonjs" }\n');
  writeFileSync(join(outdir, 'sysmail.js'), LAUNCHER());
  train();
}
chmodSync(join(outdir, 'sysmail.js'), 0o755);

// The launcher. Plain CommonJS, Node built-ins already loaded at start-up only (fs, path, vm).
function LAUNCHER() {
  return `#!/usr/bin/env node
'use strict';
// sysmail launcher (scripts/bundle.mjs --cjs-cache): runs sysmail-main.cjs with V8's code cache
// when the cache was made for exactly this file; otherwise compiles it as usual. Never writes the
// cache unless SYSMAIL_WRITE_CODE_CACHE=1 (the build's training run).
const { readFileSync, writeFileSync, renameSync } = require('node:fs');
const { join } = require('node:path');
const { Script } = require('node:vm');
const main = join(__dirname, 'sysmail-main.cjs');
const cacheFile = join(__dirname, 'sysmail-main.cjs.v8cache');
const source = readFileSync(main, 'utf8');
const idAt = source.lastIndexOf('//# sysmail-build-id=');
const stamp = \`\${idAt < 0 ? 'none' : source.slice(idAt + 21).trim()}:\${process.version}\`;
let cachedData;
try {
  const c = readFileSync(cacheFile);
  const nl = c.indexOf(10);
  if (idAt >= 0 && nl > 0 && c.toString('latin1', 0, nl) === stamp) cachedData = c.subarray(nl + 1);
} catch {}
const wrapper = '(function (exports, require, module, __filename, __dirname) { ';
const script = new Script(wrapper + source + '\\n})', { filename: main, cachedData });
if (process.env.SYSMAIL_WRITE_CODE_CACHE === '1') {
  process.once('beforeExit', () => {
    const tmp = cacheFile + '.' + process.pid;
    writeFileSync(tmp, Buffer.concat([Buffer.from(stamp + '\\n', 'latin1'), script.createCachedData()]), { mode: 0o644 });
    renameSync(tmp, cacheFile);
  });
}
const m = { exports: {} };
script.runInThisContext()(m.exports, require, m, main, __dirname);
`;
}

// One \`sendmail -odq -t\` into a throw-away spool: the cache then holds the functions that path
// compiles, not only the top level.
function train() {
  const dir = mkdtempSync(join(tmpdir(), 'sysmail-bundle-'));
  try {
    const config = join(dir, 'sysmail.toml');
    writeFileSync(config, `[general]\nhostname = "build.example.org"\naliases = false\n[spool]\ndir = "${join(dir, 'spool')}"\n`
      + `[log]\nfile = false\n[transports.box]\ntype = "maildir"\npath = "${join(dir, 'Maildir')}"\n`, { mode: 0o600 });
    const r = spawnSync(process.execPath, [join(outdir, 'sysmail.js'), 'sendmail', '-C', config, '-odq', '-t'], {
      input: 'From: build@example.org\nTo: root@example.org\nSubject: code cache\n\ntraining run\n',
      env: { ...process.env, SYSMAIL_WRITE_CODE_CACHE: '1' }, encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`the code-cache training run failed (${r.status}): ${r.stderr}`);
    console.log(`${join(outdir, "sysmail-main.cjs.v8cache")}: ${statSync(join(outdir, 'sysmail-main.cjs.v8cache')).size} bytes`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
