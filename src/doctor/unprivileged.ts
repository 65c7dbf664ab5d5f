/**
 * Can an ordinary user (a user's cron job, `nobody`) use sendmail here? They
 * must reach and read the config, and reach drop/ to submit (docs/SECURITY.md).
 * Judged from the modes, as `nobody` would meet them: every directory on the
 * way searchable by others, the config readable by others, the spool root
 * 0711-like and drop/ 01777. Read-only; `checkReach` is pure.
 */
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fail, ok, warn, type CheckResult } from './report.js';

export interface PathMode { path: string; mode: number; isDir: boolean }

const octal = (m: number) => (m & 0o7777).toString(8).padStart(4, '0');
const NAME = 'unprivileged user';

/** The directories from / down to the parent of `p`, then `p`. */
export function chain(p: string): string[] {
  const out: string[] = [];
  for (let d = resolve(p); ; d = dirname(d)) { out.unshift(d); if (dirname(d) === d) break; }
  return out;
}

/**
 * Pure: given the modes along the config path and the spool path (null where
 * missing), the one result line for "an unprivileged user can read the config and submit".
 */
export function checkReach(configFile: string | null, config: Array<PathMode | null>, spoolDir: string, spool: Array<PathMode | null>,
  drop: PathMode | null): CheckResult {
  if (configFile) {
    for (const e of config.slice(0, -1)) {
      if (e && (e.mode & 0o001) === 0) {
        return fail(NAME, `cannot reach ${configFile}: ${e.path} is mode ${octal(e.mode)} (others may not pass), so every non-root sendmail exits 78`,
          `chmod 755 ${e.path}`, true);
      }
    }
    const f = config[config.length - 1];
    if (f && (f.mode & 0o004) === 0) {
      return fail(NAME, `cannot read ${configFile} (mode ${octal(f.mode)}), so every non-root sendmail exits 78`,
        `chmod 644 ${configFile} (keep passwords in password_file / password_credential)`, true);
    }
  }
  for (const e of spool) {
    if (e && (e.mode & 0o001) === 0) {
      return fail(NAME, `cannot reach ${join(spoolDir, 'drop')}: ${e.path} is mode ${octal(e.mode)}, so a non-root sendmail cannot queue mail`,
        `chmod ${e.path === resolve(spoolDir) ? '711' : '755'} ${e.path}`);
    }
  }
  if (!drop) {
    return warn(NAME, `${join(spoolDir, 'drop')} does not exist yet, so a non-root sendmail cannot queue mail until root has used the spool once`,
      'systemctl start sysmail   (or run `sysmail flush` as root once)');
  }
  if ((drop.mode & 0o1003) !== 0o1003) {
    return fail(NAME, `${join(spoolDir, 'drop')} is mode ${octal(drop.mode)}, not 1777: a non-root sendmail cannot queue mail`,
      `chmod 1777 ${join(spoolDir, 'drop')}`);
  }
  return ok(NAME, `can read ${configFile ?? 'the embedded default config'} and submit through ${join(spoolDir, 'drop')}`);
}

async function modeOf(p: string): Promise<PathMode | null> {
  try { const st = await stat(p); return { path: p, mode: st.mode, isDir: st.isDirectory() }; } catch { return null; }
}

export async function checkUnprivileged(configFile: string | null, spoolDir: string): Promise<CheckResult> {
  const config = configFile ? await Promise.all(chain(configFile).map(modeOf)) : [];
  const spool = await Promise.all(chain(spoolDir).map(modeOf));
  return checkReach(configFile, config, spoolDir, spool, await modeOf(join(spoolDir, 'drop')));
}
