/**
 * The tree reads top-down: each folder of src/ imports only folders below it
 * in LAYERS (and itself). Folders on one line are peers and do not import each
 * other. Every import counts, `import type` and `await import()` included: a
 * type is a dependency too, and a lazy import is still one.
 *
 * LAYERS is the one place the order is written in code; docs/ARCHITECTURE.md
 * shows the same list (its "Layers" block) and its folder paragraphs follow
 * it, and this test checks both. A new folder must be placed here before any
 * test passes. Imports that break the order today, and the issue item that
 * removes each, are in ALLOWED; an entry that is no longer needed fails too,
 * so the list only shrinks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import ts from 'typescript';
import { repoRoot } from './helpers/paths.js';

/** Top to bottom, in the order data flows. */
const LAYERS: readonly (readonly string[])[] = [
  ['cli'],
  ['doctor', 'install', 'status', 'importers'],
  ['system'],
  ['server'],
  ['submit'],
  ['alerts', 'metrics'],
  ['delivery'],
  ['router'],
  ['transports'],
  ['spool'],
  ['message'],
  ['config'],
  ['log'],
  ['core'],
];

/** Folders in LAYERS that are planned but not made yet. */
const PLANNED = new Set<string>();

/**
 * Imports that go up or sideways today: "importing file -> imported file",
 * both relative to src/. Each names what removes it.
 */
const ALLOWED: ReadonlyMap<string, string> = new Map<string, string>([]);

const SRC = join(repoRoot, 'src');

interface Import { from: string; to: string; line: number; spec: string }
interface Violation extends Import { why: string }

/** Every relative import of one file (path relative to src/), resolved to a path relative to src/. */
function importsOf(file: string, text: string): Import[] {
  const lineOf = (pos: number) => text.slice(0, pos).split('\n').length;
  return ts.preProcessFile(text, true, true).importedFiles
    .filter((f) => f.fileName.startsWith('.'))
    .map((f) => ({
      from: file,
      to: posix.normalize(posix.join(posix.dirname(file), f.fileName)).replace(/\.js$/, '.ts'),
      line: lineOf(f.pos),
      spec: f.fileName,
    }));
}

/** The imports that break LAYERS (pure: the layers are passed in). */
function violations(imports: Import[], layers: readonly (readonly string[])[]): Violation[] {
  const rank = new Map(layers.flatMap((row, i) => row.map((f) => [f, i] as const)));
  const out: Violation[] = [];
  for (const imp of imports) {
    const a = imp.from.split('/')[0]!;
    const b = imp.to.split('/')[0]!;
    if (a === b) continue;
    const ra = rank.get(a);
    const rb = rank.get(b);
    if (ra === undefined || rb === undefined) {
      out.push({ ...imp, why: `${ra === undefined ? a : b}/ is not in LAYERS` });
    } else if (rb < ra) {
      out.push({ ...imp, why: `${a}/ may not import ${b}/, which is above it` });
    } else if (rb === ra) {
      out.push({ ...imp, why: `${a}/ may not import ${b}/, its peer` });
    }
  }
  return out;
}

function sourceFiles(dir: string, rel = ''): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    const r = rel ? `${rel}/${name}` : name;
    if (statSync(path).isDirectory()) return sourceFiles(path, r);
    return name.endsWith('.ts') ? [r] : [];
  });
}

const key = (v: Import) => `${v.from} -> ${v.to}`;

function allImports(): Import[] {
  return sourceFiles(SRC).flatMap((f) => importsOf(f, readFileSync(join(SRC, f), 'utf8')));
}

/** The folder lists of the ```text block under "## Layers" in docs/ARCHITECTURE.md. */
function documentedLayers(md: string): string[][] {
  const section = md.split(/^## /m).find((s) => s.startsWith('Layers'));
  assert.ok(section, 'docs/ARCHITECTURE.md has a "## Layers" section');
  const block = /```text\n([\s\S]*?)\n```/.exec(section)?.[1];
  assert.ok(block, 'the Layers section holds a ```text block');
  return block.split('\n').filter((l) => l.trim()).map((l) => l.trim().split(/\s{3,}/)[0]!.split(' · ').map((f) => f.trim()));
}

test('the checker: an import up or sideways is found, down or within a folder is not', () => {
  const layers = [['cli'], ['doctor', 'install'], ['spool'], ['core']];
  const text = [
    "import { a } from '../core/errors.js';", // down
    "import { b } from './claim.js';", // same folder
    "import type { C } from '../cli/runtime.js';", // up, type-only
    "const { d } = await import('../doctor/run.js');", // up, lazy
    "import { e } from 'node:fs';", // not ours
    "// import { f } from '../cli/main.js';", // a comment
  ].join('\n');
  const found = violations(importsOf('spool/file-spool.ts', text), layers);
  assert.deepEqual(found.map((v) => [key(v), v.line]), [
    ['spool/file-spool.ts -> cli/runtime.ts', 3],
    ['spool/file-spool.ts -> doctor/run.ts', 4],
  ]);
  const peer = violations(importsOf('install/mta.ts', "import { x } from '../doctor/exec.js';"), layers);
  assert.deepEqual(peer.map((v) => v.why), ['install/ may not import doctor/, its peer']);
  const unknown = violations(importsOf('spool/x.ts', "import { x } from '../newdir/y.js';"), layers);
  assert.deepEqual(unknown.map((v) => v.why), ['newdir/ is not in LAYERS']);
});

test('every folder of src/ has its place in LAYERS, and no module sits outside a folder', () => {
  const entries = readdirSync(SRC);
  const loose = entries.filter((e) => !statSync(join(SRC, e)).isDirectory());
  assert.deepEqual(loose, [], 'modules belong in a folder per concern');
  const placed = new Set(LAYERS.flat());
  const unplaced = entries.filter((d) => !placed.has(d));
  assert.deepEqual(unplaced, [], 'add each new folder to LAYERS here and to docs/ARCHITECTURE.md');
  const missing = LAYERS.flat().filter((d) => !entries.includes(d) && !PLANNED.has(d));
  assert.deepEqual(missing, [], 'a folder in LAYERS that no longer exists: take it out here and in docs/ARCHITECTURE.md');
});

test('no folder imports one above it or beside it (but for the allow-list, each naming what removes it)', () => {
  const found = violations(allImports(), LAYERS);
  const news = found.filter((v) => !ALLOWED.has(key(v)));
  assert.deepEqual(news.map((v) => `src/${v.from}:${v.line}: imports ${v.spec}: ${v.why}`), [],
    'an import against the layers (docs/ARCHITECTURE.md, "Layers"): move the code it needs down, or pass it in');
  const seen = new Set(found.map(key));
  const stale = [...ALLOWED.keys()].filter((k) => !seen.has(k));
  assert.deepEqual(stale, [], 'allowed imports that are gone: take them off ALLOWED');
});

test('install/ and doctor/ share src/system/ and never import each other', () => {
  const between = allImports().filter((i) => {
    const [a, b] = [i.from.split('/')[0], i.to.split('/')[0]];
    return (a === 'install' && b === 'doctor') || (a === 'doctor' && b === 'install');
  });
  assert.deepEqual(between.map(key), []);
});

test('docs/ARCHITECTURE.md shows the same layers, and its folder list follows them', () => {
  const md = readFileSync(join(repoRoot, 'docs', 'ARCHITECTURE.md'), 'utf8');
  assert.deepEqual(documentedLayers(md), LAYERS.map((r) => [...r]));
  const folders = md.split(/^## /m).find((s) => s.startsWith('Folders'));
  assert.ok(folders, 'docs/ARCHITECTURE.md has a "## Folders" section');
  const listed = [...folders.matchAll(/^- \*\*([a-z-]+)\/\*\*/gm)].map((m) => m[1]!);
  const expected = LAYERS.flat().filter((f) => !PLANNED.has(f));
  assert.deepEqual(listed, expected, 'one paragraph per folder, in the order of the layers');
});
