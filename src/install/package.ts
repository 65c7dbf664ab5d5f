/**
 * Where the sysmail package itself is (the directory holding package.json,
 * etc/, man/, packaging/) and which files run it: the entry point and node.
 * Found by walking up from this module, which works from the tsc build and
 * from the esbuild bundle alike.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function findPackageDir(from: string = dirname(fileURLToPath(import.meta.url))): string | null {
  for (let d = from; ; d = dirname(d)) {
    const pj = join(d, 'package.json');
    if (existsSync(pj)) {
      try { if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'sysmail') return d; } catch { /* keep looking */ }
    }
    if (dirname(d) === d) return null;
  }
}

/** The script node runs for sysmail: the bundle when installed, else what was started. */
export function findEntryPoint(packageDir: string | null): string {
  const bundled = packageDir ? join(packageDir, 'dist', 'sysmail.js') : null;
  if (bundled && existsSync(bundled)) return bundled;
  const started = process.argv[1];
  return started ? realpathSync(started) : 'sysmail';
}
