/** Locations for tests, independent of where tsc put the compiled test file. */
import { existsSync, mkdtempSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';

function findRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    // Compiled into a build dir outside the repo: the tests are run from the repo root.
    if (up === dir) {
      if (existsSync(join(process.cwd(), 'package.json'))) return process.cwd();
      throw new Error('repository root not found above ' + start);
    }
    dir = up;
  }
  return dir;
}

export const repoRoot = findRoot(dirname(fileURLToPath(import.meta.url)));
export const fixtures = join(repoRoot, 'test', 'fixtures');
/** The built CLI (npm run build), spawned as users run it. */
export const cliPath = process.env.SYSMAIL_TEST_CLI ?? join(repoRoot, 'dist', 'sysmail.js');

export function tempDir(prefix = 'sysmail-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
