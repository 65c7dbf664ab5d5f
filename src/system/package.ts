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

export interface BuildInfo { version: string; commit: string }

/**
 * The version and commit of this build (dist/build-info.json, written by
 * scripts/build-info.mjs); the package.json version and "unknown" when the
 * file is missing (a build that skipped that step).
 */
export function readBuildInfo(packageDir: string | null): BuildInfo {
  if (!packageDir) return { version: 'unknown', commit: 'unknown' };
  try {
    const b = JSON.parse(readFileSync(join(packageDir, 'dist', 'build-info.json'), 'utf8')) as Partial<BuildInfo>;
    if (typeof b.version === 'string' && typeof b.commit === 'string') return { version: b.version, commit: b.commit };
  } catch { /* fall back to package.json */ }
  try {
    const p = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version?: string };
    return { version: p.version ?? 'unknown', commit: 'unknown' };
  } catch { return { version: 'unknown', commit: 'unknown' }; }
}
