#!/usr/bin/env node
// Builds alternative bundles of the CLI into bench/out/variants/<name>/ so that bench/submit.mjs
// can measure which packaging starts fastest. Only for measuring: dist/ stays what
// scripts/bundle.mjs makes. Modules that are not written yet (another engineer's work in progress)
// are replaced by a stub that throws, so the sendmail path can be measured before the tree is
// complete; a stubbed module never runs on that path.
//
//   node bench/build-variants.mjs [name...]      (default: all)
//
// Variants:
//   split        what scripts/bundle.mjs makes: ESM, one chunk per lazily imported module, packages external
//   split-toml   the same, with smol-toml bundled into its chunk (no node_modules resolution at run time)
//   single       one ESM file, smol-toml bundled; nodemailer and smtp-server stay external
//   cjs          one CommonJS file (sysmail.cjs), smol-toml bundled
//   cjs-cache    the cjs bundle run through a small launcher that keeps V8's code cache in a file
//                beside it (vm.Script cachedData: the Node 20 stand-in for module.enableCompileCache)
//   snapshot     the cjs bundle inside a user-land start-up snapshot (node --snapshot-blob)
import { build } from 'esbuild';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'bench', 'out', 'variants');
process.chdir(root);

const stubMissing = {
  name: 'stub-missing',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (a) => {
      if (!a.path.endsWith('.js') || !a.importer.startsWith(join(root, 'src'))) return undefined;
      const p = resolve(a.resolveDir, a.path.replace(/\.js$/, '.ts'));
      return existsSync(p) ? undefined : { path: p, namespace: 'missing' };
    });
    b.onLoad({ filter: /.*/, namespace: 'missing' }, (a) => ({
      contents: `throw new Error(${JSON.stringify(`not built yet: ${a.path}`)});`, loader: 'js',
    }));
  },
};
// Bundle smol-toml (pure ESM, ~20 KB, needed on every path that reads a config file); keep the
// rest of node_modules external (nodemailer and smtp-server are loaded only to deliver or listen).
const externalExceptToml = { name: 'external-except-toml', setup(b) {
  b.onResolve({ filter: /^[^./]/ }, (a) => (a.path === 'smol-toml' || a.path.startsWith('node:') ? undefined : { path: a.path, external: true }));
} };

const base = {
  entryPoints: { sysmail: 'src/cli/main.ts' }, bundle: true, platform: 'node', target: 'node20',
  logLevel: 'warning', legalComments: 'none', metafile: true, banner: { js: '#!/usr/bin/env node' },
};

const variants = {
  split: (dir) => build({ ...base, outdir: dir, format: 'esm', splitting: true, packages: 'external',
    chunkNames: 'chunks/[name]-[hash]', plugins: [stubMissing] }),
  'split-toml': (dir) => build({ ...base, outdir: dir, format: 'esm', splitting: true,
    chunkNames: 'chunks/[name]-[hash]', plugins: [stubMissing, externalExceptToml] }),
  single: (dir) => build({ ...base, outdir: dir, format: 'esm', splitting: false, plugins: [stubMissing, externalExceptToml] }),
  cjs: (dir) => buildCjs(dir),
  'cjs-cache': async (dir) => {
    await buildCjs(dir, 'sysmail-main.cjs');
    writeFileSync(join(dir, 'sysmail.cjs'), CACHE_LAUNCHER);
    chmodSync(join(dir, 'sysmail.cjs'), 0o755);
  },
  snapshot: async (dir) => {
    await buildCjs(dir, 'snapshot-entry.cjs', true);
    const r = spawnSync(process.execPath, ['--snapshot-blob', join(dir, 'sysmail.blob'), '--build-snapshot', join(dir, 'snapshot-entry.cjs')],
      { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`snapshot build failed: ${r.stderr}`);
  },
};

// CommonJS: dynamic import() of an external package becomes require(), so it also works inside
// vm.Script (no dynamic-import callback there) and inside a snapshot.
function buildCjs(dir, file = 'sysmail.cjs', snapshot = false) {
  return build({
    ...base, outExtension: { '.js': '.cjs' }, outdir: dir, format: 'cjs', splitting: false,
    supported: { 'dynamic-import': false },
    ...(snapshot
      ? { entryPoints: undefined, outfile: join(dir, file), outdir: undefined, banner: {},
          stdin: { contents: SNAPSHOT_ENTRY, resolveDir: root, sourcefile: 'snapshot-entry.ts', loader: 'ts' },
          plugins: [stubMissing, externalExceptToml, deferMain] }
      : { entryPoints: { [file.replace(/\.cjs$/, '')]: 'src/cli/main.ts' }, plugins: [stubMissing, externalExceptToml],
          ...(file === 'sysmail.cjs' ? {} : { banner: {} }) }),
  });
}

// In a snapshot, main() must run at deserialisation, not while the snapshot is built: export the
// start instead of calling it (main.ts itself is unchanged).
const deferMain = { name: 'defer-main', setup(b) {
  b.onLoad({ filter: /src\/cli\/main\.ts$/ }, (a) => {
    const src = readFileSync(a.path, 'utf8');
    const call = 'main(process.argv.slice(2)).then(';
    if (!src.includes(call)) throw new Error('main.ts no longer ends with main(process.argv.slice(2)).then(…)');
    return { contents: src.replace(call, `export const start = () => ${call}`), loader: 'ts' };
  });
} };
// The snapshot holds the initialised modules of the sendmail path (imported while building), so
// that a run only deserialises them. argv: node --snapshot-blob BLOB sysmail sendmail -t
const SNAPSHOT_ENTRY = `
import { startupSnapshot } from 'node:v8';
import { start } from './src/cli/main.js';
startupSnapshot.setDeserializeMainFunction(() => { start(); });
void Promise.all([import('./src/cli/sendmail.js'), import('./src/cli/runtime.js'), import('./src/cli/submit.js'),
  import('./src/config/load.js'), import('./src/spool/file-spool.js'), import('./src/log/logger.js'),
  import('./src/message/input.js'), import('./src/message/prepare.js'), import('smol-toml')]);
`;

// Reads the bundle, compiles it with the cached code if V8 accepts it, and writes a fresh cache
// when there was none or V8 rejected it (another Node version). The cache is written after the
// command ran, so it holds the functions that the run compiled, not just the top level.
const CACHE_LAUNCHER = `#!/usr/bin/env node
'use strict';
const { readFileSync, writeFileSync, renameSync } = require('node:fs');
const { Script } = require('node:vm');
const Module = require('node:module');
const file = require('node:path').join(__dirname, 'sysmail-main.cjs');
const cacheFile = file + '.v8cache';
let cachedData;
try { cachedData = readFileSync(cacheFile); } catch {}
const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
if (cachedData === undefined || script.cachedDataRejected) {
  process.once('beforeExit', () => {
    try { const tmp = cacheFile + '.' + process.pid; writeFileSync(tmp, script.createCachedData()); renameSync(tmp, cacheFile); } catch {}
  });
}
const m = { exports: {} };
script.runInThisContext()(m.exports, require, m, file, __dirname);
`;

const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(variants);
for (const name of names) {
  const dir = join(out, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  const result = await variants[name](dir);
  if (result?.metafile) writeFileSync(join(dir, 'meta.json'), JSON.stringify(result.metafile));
  console.log(`${name}: built in ${Date.now() - t0} ms -> ${dir}`);
}

