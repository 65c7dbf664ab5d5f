/**
 * Differential test: a seeded corpus plus a few thousand seeded mutations of address lists,
 * RFC 2047 encoded-words and MIME messages go through sysmail (src/message/) and through
 * Python 3's `email` package (policy.default, test/differential/python_email.py, one process for
 * the whole batch). Any disagreement fails the test unless an entry of the reviewed allow-list
 * (test/differential/allow-list.ts, each with its reason) explains it. The seed is fixed, so a
 * failure reproduces; DIFF_SEED and DIFF_MUTATIONS override it to explore.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './helpers/paths.js';
import { addressListProblem, parseAddressList, splitAddress } from '../src/message/address.js';
import { decodeWords } from '../src/message/encoded-words.js';
import { extractText } from '../src/message/text.js';
import { ALLOW_LIST, type Disagreement } from './differential/allow-list.js';
import { ADDR_SEEDS, MIME_SEEDS, WORD_SEEDS, mutate, rng } from './differential/corpus.js';

const SEED = Number(process.env.DIFF_SEED ?? 14);
const MUTATIONS = Number(process.env.DIFF_MUTATIONS ?? 3000);

interface Case { kind: 'addr' | 'words' | 'mime'; input: string; bytes?: Buffer }

function buildCases(): Case[] {
  const next = rng(SEED);
  const cases: Case[] = [
    ...ADDR_SEEDS.map((input) => ({ kind: 'addr' as const, input })),
    ...WORD_SEEDS.map((input) => ({ kind: 'words' as const, input })),
    ...MIME_SEEDS.map((m) => ({ kind: 'mime' as const, input: m, bytes: Buffer.from(m, 'latin1') })),
  ];
  for (let i = 0; i < MUTATIONS; i++) {
    const r = next();
    if (r < 0.5) cases.push({ kind: 'addr', input: mutate(ADDR_SEEDS, 'addr', next) });
    else if (r < 0.8) cases.push({ kind: 'words', input: mutate(WORD_SEEDS, 'words', next) });
    else {
      const m = mutate(MIME_SEEDS, 'mime', next);
      cases.push({ kind: 'mime', input: m, bytes: Buffer.from(m, 'latin1') });
    }
  }
  return cases;
}

/** Python's view of every case, from one process. */
function python(cases: Case[]): Array<Record<string, unknown>> {
  const input = cases.map((c) => JSON.stringify({ kind: c.kind, input: c.bytes ? c.bytes.toString('base64') : c.input })).join('\n') + '\n';
  const r = spawnSync('python3', [join(repoRoot, 'test', 'differential', 'python_email.py')], { input, maxBuffer: 256 * 1024 * 1024, timeout: 120_000 });
  assert.equal(r.status, 0, `python3 failed (is Debian's python3 installed?): ${r.error ?? ''} ${r.stderr}`);
  const lines = r.stdout.toString('utf8').split('\n').filter(Boolean);
  assert.equal(lines.length, cases.length, 'one answer per case');
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A local part as Python's username gives it: every quoted-string unquoted. */
const unquote = (local: string) => local.replace(/"((?:[^"\\]|\\.)*)"/gu, (_m, q: string) => q.replace(/\\(.)/gu, '$1'));

/** Same normalisation as text.ts applies to the body it hands to transports. */
function tidy(s: string): string {
  const out: string[] = [];
  let blank = false;
  for (const raw of s.replace(/\r\n?/g, '\n').split('\n')) {
    const line = raw.replace(/[ \t]+$/, '');
    if (line === '') { blank = out.length > 0; continue; }
    if (blank) out.push('');
    out.push(line);
    blank = false;
  }
  return out.join('\n');
}
const oneLine = (s: string) => s.replace(/[\r\n\t]+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '').replace(/ {2,}/g, ' ').trim();

/** Compares one case; returns the disagreement, or null. */
function compare(c: Case, py: Record<string, unknown>): Disagreement | null {
  // Python's subject and body as sysmail would hand them on (one line; tidied), so only decoding is compared.
  const norm = c.kind === 'mime' && typeof py.error !== 'string'
    ? { ...py, subject: oneLine(String(py.subject)), text: py.text === null ? null : tidy(String(py.text)) } : py;
  const d = (what: string, sysmail: unknown): Disagreement => ({ kind: c.kind, input: c.input, what, sysmail, python: norm });
  if (typeof py.error === 'string') return d('python raised', null);
  if (c.kind === 'addr') {
    const problem = addressListProblem(c.input);
    const pyDefects = (py.defects as string[]).filter((x) => x.startsWith('InvalidHeaderDefect'));
    if (problem !== null && pyDefects.length === 0) return d('sysmail refuses, Python accepts', problem);
    if (problem === null && pyDefects.length > 0) return d('Python flags, sysmail accepts', parseAddressList(c.input).map((a) => a.address));
    if (problem !== null) return null; // both refuse
    const ours = parseAddressList(c.input).map((a) => { const s = splitAddress(a.address); return [unquote(s.local), s.domain]; });
    return JSON.stringify(ours) === JSON.stringify(py.addresses) ? null : d('different addresses', ours);
  }
  if (c.kind === 'words') {
    // Python reads the value of a header field, without its leading blanks.
    const ours = decodeWords(c.input.replace(/^[ \t]+/, ''));
    return ours === py.text ? null : d('different text', ours);
  }
  const ours = extractText(c.bytes!);
  if (ours.subject !== norm.subject) return d('different subject', ours.subject);
  if (norm.text === null) return null; // no text/plain for Python: sysmail may flatten HTML, which Python does not do
  return ours.text === norm.text ? null : d('different body text', ours.text);
}

test(`differential: sysmail and Python's email package agree on a seeded corpus and ${MUTATIONS} mutations, or the allow-list says why not`, () => {
  const cases = buildCases();
  const answers = python(cases);
  const unexplained: Disagreement[] = [];
  const used = new Map<string, number>();
  for (const [i, c] of cases.entries()) {
    const dis = compare(c, answers[i]!);
    if (dis === null) continue;
    // A message's subject and body are decoded text too: the words entries apply to them as well.
    const entry = ALLOW_LIST.find((e) => (e.kind === dis.kind || (dis.kind === 'mime' && e.kind === 'words')) && e.applies(dis));
    if (entry) used.set(entry.id, (used.get(entry.id) ?? 0) + 1);
    else unexplained.push(dis);
  }
  if (process.env.DIFF_DUMP) writeFileSync(process.env.DIFF_DUMP, JSON.stringify(unexplained, null, 1));
  const show = unexplained.slice(0, 15).map((x) => `${x.kind} ${x.what}: ${JSON.stringify(x.input)}\n  sysmail ${JSON.stringify(x.sysmail)}\n  python  ${JSON.stringify(x.python)}`);
  assert.equal(unexplained.length, 0, `${unexplained.length} of ${cases.length} cases disagree without an allow-list entry:\n${show.join('\n')}`);
  // Every seed case that is a regression of issue 14 is compared too (not all explained away).
  assert.ok(cases.length >= MUTATIONS, 'the corpus ran');
});
