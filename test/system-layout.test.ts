/**
 * The host paths and the spool layout are defined once, and the three places
 * that use them agree:
 * - src/config/defaults.ts: where sysmail reads its config and keeps its spool
 *   and log at run time;
 * - src/spool/fsutil.ts: the spool's areas and the modes ensureLayout gives them;
 * - src/system/layout.ts: what `sysmail install` makes, `doctor` checks and the
 *   packages ship.
 * And no other module spells a system path out as a string of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { repoRoot, tempDir } from './helpers/paths.js';
import { SYSTEM_CONFIG_PATH, SYSTEM_MAILBOX, SYSTEM_SECRETS_DIR, statePaths } from '../src/config/defaults.js';
import { ensureLayout, PRIVATE_AREAS } from '../src/spool/fsutil.js';
import {
  BACKUP_DIR, CONFIG_DIR, CONFIG_FILE, LOG_DIR, SECRETS_DIR, SPOOL_DIR, SPOOL_DROP_MODE, SPOOL_PRIVATE,
  SPOOL_PRIVATE_MODE, SPOOL_ROOT_MODE, STATE_DIR, STATE_FILE,
} from '../src/system/layout.js';
import { DEFAULT_SECRETS_DIR } from '../src/importers/types.js';

test('the install layout has the run-time paths of config/defaults.ts', () => {
  const run = statePaths({});
  assert.equal(CONFIG_FILE, SYSTEM_CONFIG_PATH, 'install writes the config where the loader looks');
  assert.equal(CONFIG_DIR, dirname(SYSTEM_CONFIG_PATH));
  assert.equal(SPOOL_DIR, run.spoolDir, 'install makes the spool sysmail uses');
  assert.equal(LOG_DIR, dirname(run.logFile), 'install makes the directory of the default log');
  assert.equal(SECRETS_DIR, SYSTEM_SECRETS_DIR);
  assert.equal(DEFAULT_SECRETS_DIR, SECRETS_DIR, 'sysmail import writes passwords where install made the directory');
  assert.equal(dirname(run.mailbox), SPOOL_DIR, 'the embedded default Maildir is inside the spool');
  assert.equal(run.mailbox, SYSTEM_MAILBOX);
  for (const p of [STATE_FILE, BACKUP_DIR]) assert.equal(dirname(p), STATE_DIR);
});

test('the spool layout install sets and doctor checks is the one spool/ makes', async () => {
  assert.deepEqual(SPOOL_PRIVATE, PRIVATE_AREAS);
  const dir = tempDir('sysmail-layout-');
  const umask = process.umask(0o022);
  try {
    const spool = join(dir, 'spool');
    await ensureLayout(spool);
    const mode = (p: string) => statSync(p).mode & 0o7777;
    assert.deepEqual(readdirSync(spool).sort(), [...SPOOL_PRIVATE, 'drop'].sort(), 'the areas');
    assert.equal(mode(spool).toString(8), SPOOL_ROOT_MODE.toString(8), 'the spool root');
    for (const a of SPOOL_PRIVATE) assert.equal(mode(join(spool, a)).toString(8), SPOOL_PRIVATE_MODE.toString(8), a);
    assert.equal(mode(join(spool, 'drop')).toString(8), SPOOL_DROP_MODE.toString(8), 'drop/');
  } finally {
    process.umask(umask);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The modules allowed to spell a system path: the two tables. */
const PATH_TABLES = new Set(['config/defaults.ts', 'system/layout.ts']);
const SYSTEM_PATH = /^\/(etc|var\/spool|var\/log|var\/lib)\/sysmail(\/\S*)?$/;

function stringsOf(file: string, text: string): { text: string; line: number }[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: { text: string; line: number }[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) {
      out.push({ text: n.text, line: sf.getLineAndCharacterOfPosition(n.getStart()).line + 1 });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

function sourceFiles(dir: string, rel = ''): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const r = rel ? `${rel}/${name}` : name;
    if (statSync(join(dir, name)).isDirectory()) return sourceFiles(join(dir, name), r);
    return name.endsWith('.ts') ? [r] : [];
  });
}

test('no module but the two tables spells out a system path', () => {
  const src = join(repoRoot, 'src');
  const found = sourceFiles(src).filter((f) => !PATH_TABLES.has(f)).flatMap((f) =>
    stringsOf(f, readFileSync(join(src, f), 'utf8')).filter((s) => SYSTEM_PATH.test(s.text)).map((s) => `src/${f}:${s.line}: '${s.text}'`));
  assert.deepEqual(found, [], 'take the path from src/config/defaults.ts (run time) or src/system/layout.ts (install)');
  // The check itself: it sees a path in a string, not in a comment or inside a sentence.
  const probe = stringsOf('x.ts', "// '/etc/sysmail'\nconst a = '/var/spool/sysmail';\nconst b = 'see /etc/sysmail';\nconst c = `/var/log/sysmail/x.log`;")
    .filter((s) => SYSTEM_PATH.test(s.text)).map((s) => s.line);
  assert.deepEqual(probe, [2, 4]);
});
