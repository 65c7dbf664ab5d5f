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
//   serve-fast   split, with two changes to `sysmail serve` applied at bundle time: no 100 ms
//                early-talker pause before smtp-server's greeting, and a 2 ms (not 25 ms) debounce
//                of queue/ file events (see SERVE_PATCHES)
//   *-lean       split-lean, cjs-cache-lean, snapshot-lean: the same with three source changes
//                applied at bundle time (src/ is not touched), to measure what they would gain:
//                child_process loaded only when a background flush is started, the Message-ID
//                random part from Math.random instead of webcrypto, and standard input read with
//                fs.readSync instead of the process.stdin stream (see LEAN_PATCHES).
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
  'split-lean': (dir) => build({ ...base, outdir: dir, format: 'esm', splitting: true, packages: 'external',
    chunkNames: 'chunks/[name]-[hash]', plugins: [stubMissing, lean] }),
  'serve-fast': (dir) => build({ ...base, outdir: dir, format: 'esm', splitting: true, packages: 'external',
    chunkNames: 'chunks/[name]-[hash]', plugins: [stubMissing, patcher(SERVE_PATCHES)] }),
  'split-toml': (dir) => build({ ...base, outdir: dir, format: 'esm', splitting: true,
    chunkNames: 'chunks/[name]-[hash]', plugins: [stubMissing, externalExceptToml] }),
  single: (dir) => build({ ...base, outdir: dir, format: 'esm', splitting: false, plugins: [stubMissing, externalExceptToml] }),
  cjs: (dir) => buildCjs(dir),
  'cjs-cache': async (dir) => {
    await buildCjs(dir, 'sysmail-main.cjs');
    writeFileSync(join(dir, 'sysmail.cjs'), CACHE_LAUNCHER);
    chmodSync(join(dir, 'sysmail.cjs'), 0o755);
  },
  'cjs-cache-lean': async (dir) => {
    await buildCjs(dir, 'sysmail-main.cjs', false, [lean]);
    writeFileSync(join(dir, 'sysmail.cjs'), CACHE_LAUNCHER);
    chmodSync(join(dir, 'sysmail.cjs'), 0o755);
  },
  // The smallest file the sendmail path can have: only the modules `sendmail -t` runs (the
  // commands and paths it never reaches are cut off), minified, with the code cache and lean.
  'sendmail-only': async (dir) => {
    await build({ ...base, banner: {}, outfile: join(dir, 'sysmail-main.cjs'), format: 'cjs', splitting: false,
      supported: { 'dynamic-import': false }, minifyWhitespace: true, minifySyntax: true,
      plugins: [cutOff, stubMissing, externalExceptToml, lean] });
    writeFileSync(join(dir, 'sysmail.cjs'), CACHE_LAUNCHER);
  },
  'cjs-cache-lean-min': async (dir) => {
    await build({ ...base, banner: {}, outfile: join(dir, 'sysmail-main.cjs'), format: 'cjs', splitting: false,
      supported: { 'dynamic-import': false }, minifyWhitespace: true, minifySyntax: true,
      plugins: [stubMissing, externalExceptToml, lean] });
    writeFileSync(join(dir, 'sysmail.cjs'), CACHE_LAUNCHER);
  },
  snapshot: (dir) => buildSnapshot(dir, []),
  'snapshot-lean': (dir) => buildSnapshot(dir, [lean]),
};

async function buildSnapshot(dir, extra) {
    await buildCjs(dir, 'snapshot-entry.cjs', true, extra);
    const r = spawnSync(process.execPath, ['--snapshot-blob', join(dir, 'sysmail.blob'), '--build-snapshot', join(dir, 'snapshot-entry.cjs')],
      { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`snapshot build failed: ${r.stderr}`);
}

// CommonJS: dynamic import() of an external package becomes require(), so it also works inside
// vm.Script (no dynamic-import callback there) and inside a snapshot.
function buildCjs(dir, file = 'sysmail.cjs', snapshot = false, extra = []) {
  return build({
    ...base, outExtension: { '.js': '.cjs' }, outdir: dir, format: 'cjs', splitting: false,
    supported: { 'dynamic-import': false },
    ...(snapshot
      ? { entryPoints: undefined, outfile: join(dir, file), outdir: undefined, banner: {},
          stdin: { contents: SNAPSHOT_ENTRY, resolveDir: root, sourcefile: 'snapshot-entry.ts', loader: 'ts' },
          plugins: [stubMissing, externalExceptToml, deferMain, ...extra] }
      : { entryPoints: { [file.replace(/\.cjs$/, '')]: 'src/cli/main.ts' }, plugins: [stubMissing, externalExceptToml, ...extra],
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
void Promise.all([import('./src/cli/sendmail.js'), import('./src/submit/runtime.js'), import('./src/submit/submit.js'),
  import('./src/config/load.js'), import('./src/spool/file-spool.js'), import('./src/log/logger.js'),
  import('./src/message/input.js'), import('./src/message/prepare.js'), import('smol-toml')]);
`;

const IP_HELPERS = `
const isIPv4 = (s: string): boolean => { const p = s.split('.'); return p.length === 4 && p.every((x) => /^(0|[1-9][0-9]{0,2})$/.test(x) && Number(x) <= 255); };
const isIPv6 = (s: string): boolean => { if (!s.includes(':')) return false; try { new URL('http://[' + s + ']/'); return true; } catch { return false; } };
const isIP = (s: string): number => (isIPv4(s) ? 4 : isIPv6(s) ? 6 : 0);
`;
// Source changes proposed for the sendmail path, applied at bundle time only to measure them.
// Each is [file, exact text in the file, replacement]; a file that no longer has the text fails
// the build, so a stale patch is never measured silently.
const LEAN_PATCHES = [
  // child_process (+net, +stream, +dgram: ~3 ms CPU, ~2 MB) only when a flush is spawned.
  ['src/cli/submit.ts', "import { spawn } from 'node:child_process';",
    "import { createRequire } from 'node:module';\n"
    + "const spawn: typeof import('node:child_process').spawn = ((...a: Parameters<typeof import('node:child_process').spawn>) => "
    + "createRequire(process.execPath)('node:child_process').spawn(...a)) as never;"],
  // globalThis.crypto initialises webcrypto (~2–3 ms CPU, ~2 MB); a Message-ID needs uniqueness, not secrecy.
  ['src/message/prepare.ts', "globalThis.crypto.randomUUID().replace(/-/g, '')",
    "(Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2) + process.pid.toString(36))"],
  // process.stdin builds a stream (fs.ReadStream or net.Socket: ~4 ms CPU, ~2 MB); a blocking
  // fd 0 can be read with readSync. EAGAIN (a non-blocking pipe) falls back to the stream.
  ['src/message/input.ts', 'export function readMessage(stream: NodeJS.ReadableStream, opts: ReadOptions): Promise<Buffer> {',
    `import { readSync as readSyncFd } from 'node:fs';
export function readMessage(stream: NodeJS.ReadableStream, opts: ReadOptions): Promise<Buffer> {
  if (stream !== null) return readMessageStream(stream, opts);
  const chunks: Buffer[] = [];
  let total = 0;
  const dots = opts.dotEnds ? new DotScanner() : null;
  let end = -1;
  for (;;) {
    const buf = Buffer.allocUnsafe(65536);
    let n: number;
    try { n = readSyncFd(0, buf, 0, buf.length, null); } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && total === 0) return readMessageStream(process.stdin, opts);
      if ((err as NodeJS.ErrnoException).code === 'EOF') break;
      return Promise.reject(ioError('cannot read the message from standard input', err));
    }
    if (n === 0) break;
    const chunk = buf.subarray(0, n);
    end = dots ? dots.scan(chunk, total) : -1;
    if ((end >= 0 ? end : total + n) > opts.maxSize) return Promise.reject(tooBig(opts.maxSize));
    chunks.push(chunk); total += n;
    if (end >= 0) break;
  }
  if (end < 0 && dots && (dots.state === 1 || dots.state === 2)) end = dots.lineStart;
  const all = Buffer.concat(chunks, total);
  const msg = end >= 0 ? all.subarray(0, end) : all;
  if (msg.length === 0) return Promise.reject(new SysmailError('EEMPTY', 'no message on standard input', { exit: EX.DATAERR }));
  return Promise.resolve(msg);
}
function readMessageStream(stream: NodeJS.ReadableStream, opts: ReadOptions): Promise<Buffer> {`],
  // …and the caller must not touch the process.stdin getter, which builds the stream.
  ['src/cli/sendmail.ts', 'readMessage(process.stdin,', 'readMessage(null as never,'],
  // node:net (+stream, +dgram…: ~2–3 ms CPU) is loaded by the config validator only for isIP*.
  ['src/config/syntax.ts', "import { isIPv4, isIPv6 } from 'node:net';", IP_HELPERS],
  ['src/config/validate-transports.ts', "import { isIP } from 'node:net';", IP_HELPERS],
];
// Proposed for `sysmail serve`, measured by bench/peers.sh (agents sysmail-smtp-fast and
// sysmail-lean+serve-fast).
const SERVE_PATCHES = [
  // smtp-server 3.21 waits a fixed 100 ms before its 220 greeting to catch "early talkers" (a spam
  // defence for public MX hosts). A loopback listener for local programs has no use for it, and
  // it costs every SMTP submission 100 ms. smtp-server exports its connection class (./lib/*).
  ['src/server/listener.ts', "const { SMTPServer } = await import('smtp-server');",
    `const { SMTPServer } = await import('smtp-server');
  const { SMTPConnection } = await import('smtp-server/lib/smtp-connection.js') as unknown as { SMTPConnection: { prototype: Record<string, unknown> } };
  SMTPConnection.prototype.init = function init(this: any) {
    this._setListeners(() => {
      if (this._server.options.maxClients && this._server.connections.size > this._server.options.maxClients) {
        return this.send(421, this.name + ' Too many connected clients, try again in a moment', false);
      }
      this.connectionReady();
    });
  };`],
  // A file event in queue/ starts a pass after this debounce; 25 ms is most of the submission-to-
  // sink time when sendmail hands over to serve.
  ['src/config/defaults.ts', 'export const QUEUE_WATCH_DEBOUNCE_MS = 25;', 'export const QUEUE_WATCH_DEBOUNCE_MS = 2;'],
];
const patcher = (patches) => ({ name: 'patch', setup(b) {
  for (const [file, from, to] of patches) {
    b.onLoad({ filter: new RegExp(file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&') + '$') }, (a) => {
      const src = readFileSync(a.path, 'utf8');
      if (!src.includes(from)) throw new Error(`${file} changed: the patch no longer applies (${from.slice(0, 60)}…)`);
      return { contents: src.replace(from, to), loader: 'ts' };
    });
  }
} });
const lean = patcher(LEAN_PATCHES);

// Modules that `sendmail -t` (queue, then spawn a flush) never runs: cut off for 'sendmail-only'.
const CUT = /\/(cli\/(admin|serve|deliver|send|logview|import|doctor|install|help)|server\/stdio|spool\/recover)\.js$/;
const cutOff = { name: 'cut-off', setup(b) {
  b.onResolve({ filter: /^\.\.?\// }, (a) => {
    const p = resolve(a.resolveDir, a.path);
    return CUT.test(p) && a.importer.startsWith(join(root, 'src')) ? { path: p, namespace: 'missing' } : undefined;
  });
} };

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

