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
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
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
      if (!a.path.endsWith('.js')) return undefined;
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
  logLevel: 'warning', legalComments: 'none', banner: { js: '#!/usr/bin/env node' },
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
    await buildCjs(dir, 'snapshot-entry.cjs', SNAPSHOT_FOOTER, true);
    const r = spawnSync(process.execPath, ['--snapshot-blob', join(dir, 'sysmail.blob'), '--build-snapshot', join(dir, 'snapshot-entry.cjs')],
      { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`snapshot build failed: ${r.stderr}`);
  },
};

// CommonJS: dynamic import() of an external package becomes require(), so it also works inside
// vm.Script (no dynamic-import callback there) and inside a snapshot.
function buildCjs(dir, file = 'sysmail.cjs', footer = '', snapshot = false) {
  return build({
    ...base, entryPoints: undefined, stdin: undefined,
    entryPoints: { [file.replace(/\.cjs$/, '')]: snapshot ? join(dir, '..', '.snapshot-main.ts') : 'src/cli/main.ts' },
    outExtension: { '.js': '.cjs' }, outdir: dir, format: 'cjs', splitting: false,
    supported: { 'dynamic-import': false }, plugins: [stubMissing, externalExceptToml],
    ...(snapshot ? { banner: { js: '' }, footer: { js: footer } } : {}),
  });
}

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

// The snapshot is built from a copy of main.ts whose call to main() is deferred to
// deserialisation time: the snapshot holds the compiled, initialised modules, not a run.
const SNAPSHOT_FOOTER = '';

const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(variants);
for (const name of names) {
  const dir = join(out, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  if (name === 'snapshot') writeSnapshotMain();
  const t0 = Date.now();
  await variants[name](dir);
  console.log(`${name}: built in ${Date.now() - t0} ms -> ${dir}`);
}

function writeSnapshotMain() {
  // main.ts starts itself at import; for the snapshot the start has to wait for deserialisation.
  writeFileSync(join(out, '.snapshot-main.ts'), `import { main, reportError } from '${join(root, 'src/cli/main.ts').replace(/\.ts$/, '.js')}';\n`);
}
