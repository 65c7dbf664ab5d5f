// Bundles the CLI into dist/ for a lean start-up (docs/benchmarks.md, "Start-up").
//
//   node scripts/bundle.mjs               dist/sysmail.js (ESM) plus lazily loaded chunks
//   node scripts/bundle.mjs --cjs-cache   dist/sysmail.js as a small CommonJS launcher, the whole
//                                         CLI in dist/sysmail-main.cjs, the sendmail fast path in
//                                         dist/sysmail-sendmail.cjs, and V8's code cache for each
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
// training run. V8's cache is specific to the CPU arch, Node version and V8 flags, so the target
// remakes it (`sysmail cache rebuild`, the package scriptlets) and the launcher (scripts/launcher.cjs)
// checks it: it is used only when it was made for this very bundle (a content hash, the build id,
// in both) and V8 accepts it (script.cachedDataRejected); otherwise the bundle is compiled as usual
// and a fresh cache is written where this user may write one (a cache is code: only into a
// directory owned by root or this user that nobody else can write). dist/package.json makes dist/
// CommonJS, so the launcher skips Node's ESM loader too.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

// Modules the fast path never runs: replaced there by a stub that says so if it ever is.
const notOnFastPath = {
  name: 'not-on-fast-path',
  setup(b) {
    b.onResolve({ filter: /^\.\/deliver\.js$/ }, (a) => ({ path: a.path, namespace: 'not-on-fast-path' }));
    b.onLoad({ filter: /.*/, namespace: 'not-on-fast-path' }, () => ({
      contents: 'export async function deliverNow() { throw new Error("foreground delivery is not in the sendmail fast path"); }', loader: 'js',
    }));
  },
};

// The fast path's TOML parser (src/config/toml-sync.ts) is required when first used: a bundled ES
// module reached through require() is initialised at that call, not when the bundle loads.
const lazyToml = {
  name: 'lazy-toml',
  setup(b) {
    b.onResolve({ filter: /^\.\/toml-sync\.js$/ }, (a) => ({ path: a.path, namespace: 'lazy-toml', pluginData: a.resolveDir }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-toml' }, (a) => ({
      contents: "export function toml() { return require('smol-toml'); }", loader: 'js', resolveDir: a.pluginData,
    }));
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
  const common = {
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    outdir,
    outExtension: { '.js': '.cjs' },
    // import() of an external package becomes require(): vm.Script has no dynamic-import hook.
    supported: { 'dynamic-import': false },
    // import.meta.url (src/system/package.ts finds the package from it) for CommonJS, made when
    // first read: pathToFileURL at every start cost the sendmail path ~0.3 ms of CPU.
    define: { 'import.meta.url': '__sysmail_import_meta.url' },
    banner: { js: "var __sysmail_import_meta = { get url() { return require('node:url').pathToFileURL(__filename).href; } };" },
    sourcemap: 'linked',
    logLevel: 'warning',
  };
  await build({ ...common, entryPoints: { 'sysmail-main': 'src/cli/main.ts' }, plugins: [externalExceptToml] });
  // The sendmail fast path (src/cli/sendmail-fast.ts): only what submission needs. Foreground
  // delivery (-v) is never taken there, so the delivery stack it would pull in is left out.
  await build({ ...common, entryPoints: { 'sysmail-sendmail': 'src/cli/sendmail-fast.ts' }, plugins: [externalExceptToml, notOnFastPath, lazyToml] });
  // The build id ties a cache to its exact bundle: a content hash in its last line, checked by
  // the launcher against the cache's first line (mtimes are not kept by npm pack, so not those).
  for (const name of ['sysmail-main', 'sysmail-sendmail']) {
    const file = join(outdir, `${name}.cjs`);
    const id = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 32);
    appendFileSync(file, `\n//# sysmail-build-id=${id}\n`);
  }
  writeFileSync(join(outdir, 'package.json'), '{ "type": "commonjs" }\n');
  // The launcher: plain CommonJS, only the built-ins Node has loaded at start-up (fs, path, vm).
  copyFileSync('scripts/launcher.cjs', join(outdir, 'sysmail.js'));
  train();
}
chmodSync(join(outdir, 'sysmail.js'), 0o755);

// One `sendmail -odq -t` into a throw-away spool: the cache then holds the functions that path
// compiles, not only the top level.
function train() {
  // The same run as `sysmail cache rebuild` on the target (src/cli/cache.ts), into dist/.
  chmodSync(outdir, 0o755); // the launcher ignores a cache in a directory others may write
  const r = spawnSync(process.execPath, [join(outdir, 'sysmail.js'), 'cache', 'rebuild', '--dir', outdir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the code-cache training run failed (${r.status}): ${r.stderr}`);
  process.stdout.write(r.stdout);
}
