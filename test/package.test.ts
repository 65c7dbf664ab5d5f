/**
 * The packages' provenance: CHANGELOG.md, the one source, rendered as
 * Debian's changelog and RPM's %changelog (scripts/package/changelog.mjs),
 * refused when malformed; `sysmail --version` prints package.json's version
 * and the commit from dist/build-info.json. (The packages themselves are
 * built and checked by scripts/package/check.mjs in .ci/run: lintian,
 * rpmlint, throwaway roots.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './helpers/paths.js';
import { runCli } from './helpers/cli.js';

interface Release { version: string; date: Date; items: string[] }
interface ChangelogModule {
  parseChangelog(text: string): Release[];
  debianChangelog(r: Release[], pkg: string, maintainer: string): string;
  rpmChangelog(r: Release[], maintainer: string): string;
}
const cl = await import(pathToFileURL(join(repoRoot, 'scripts/package/changelog.mjs')).href) as ChangelogModule;
const M = 'The sysmail authors <sysmail@example.org>';
const text = '# Changelog\n\nintro text\n\n## 1.2.0 (2027-01-05)\n\n- Fixed 100% of the\n  wrapped item\n- second\n\n## 1.1.0 (2026-12-31)\n\n- older\n';

test('CHANGELOG.md parses; newest first; continuation lines join their item', () => {
  const r = cl.parseChangelog(text);
  assert.deepEqual(r.map((x) => [x.version, x.date.toISOString().slice(0, 10), x.items]), [
    ['1.2.0', '2027-01-05', ['Fixed 100% of the wrapped item', 'second']],
    ['1.1.0', '2026-12-31', ['older']],
  ]);
});

test('rendered as debian/changelog and as %changelog (with % escaped)', () => {
  const r = cl.parseChangelog(text);
  assert.equal(cl.debianChangelog(r, 'sysmail', M),
    `sysmail (1.2.0) unstable; urgency=medium\n\n  * Fixed 100% of the wrapped item\n  * second\n\n -- ${M}  Tue, 05 Jan 2027 00:00:00 +0000\n\n`
    + `sysmail (1.1.0) unstable; urgency=medium\n\n  * older\n\n -- ${M}  Thu, 31 Dec 2026 00:00:00 +0000\n`);
  assert.equal(cl.rpmChangelog(r, M),
    `* Tue Jan 05 2027 ${M} - 1.2.0-1\n- Fixed 100%% of the wrapped item\n- second\n\n* Thu Dec 31 2026 ${M} - 1.1.0-1\n- older\n`);
});

test('a malformed CHANGELOG.md is refused with the line', () => {
  assert.throws(() => cl.parseChangelog('## 1.0 (yesterday)\n- x\n'), /CHANGELOG\.md:1: a release heading must be "## VERSION \(YYYY-MM-DD\)"/);
  assert.throws(() => cl.parseChangelog('## 1.0 (2026-01-01)\nplain words\n'), /CHANGELOG\.md:2: expected a "- " item/);
  assert.throws(() => cl.parseChangelog('# nothing\n'), /no release/);
});

test("the repository's CHANGELOG.md parses and its newest release is package.json's version", () => {
  const r = cl.parseChangelog(readFileSync(join(repoRoot, 'CHANGELOG.md'), 'utf8'));
  assert.equal(r[0]!.version, (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version);
});

test('sysmail --version prints the version and the commit of the build', async () => {
  const info = JSON.parse(readFileSync(join(repoRoot, 'dist', 'build-info.json'), 'utf8')) as { version: string; commit: string };
  assert.match(info.commit, /^[0-9a-f]{40}(-dirty)?$|^unknown$/);
  const r = await runCli(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `sysmail ${info.version} (commit ${info.commit}; node ${process.version})\n`);
});
