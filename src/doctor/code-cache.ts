/**
 * The code cache as the launcher (scripts/launcher.cjs) found it for this very process: used,
 * missing, stale (made for another build, Node version or CPU arch), rejected by V8 (other V8
 * flags) or untrusted (owned by someone else, or writable by others). Read-only: doctor turns it
 * into one check line with the fix; a bad cache only costs start-up time, so it is a warning.
 */
import { info, ok, warn, type CheckResult } from './report.js';

/** What the launcher records in globalThis.__sysmail_codeCache (scripts/launcher.cjs). */
export interface CodeCacheState {
  /** build-id:node-version:arch, the first line of a cache made for this process. */
  stamp: string;
  bundle: string;
  /** Where the launcher looks, in order (the first is $SYSMAIL_CODE_CACHE_DIR or /var/cache/sysmail). */
  dirs: string[];
  file: string | null;
  status: 'used' | 'missing' | 'stale' | 'rejected' | 'untrusted';
  /** For "stale": the stamp the file has. */
  detail: string;
  /** False: do not (re)write the cache when this process exits (readers never write). */
  write: boolean;
  wrote: string | null;
}

export const CACHE_FILE_NAME = 'sysmail-main.v8cache';
export const SYSTEM_CACHE_DIR = '/var/cache/sysmail';
const FIX = 'sysmail cache rebuild   (as root; run with the node and flags that sendmail runs with)';

/** The launcher's record, or null when this process was not started through it (the plain ESM build). */
export function launcherCacheState(): CodeCacheState | null {
  return (globalThis as { __sysmail_codeCache?: CodeCacheState }).__sysmail_codeCache ?? null;
}

export function checkCodeCache(s: CodeCacheState | null): CheckResult {
  if (!s) return info('code cache', 'this sysmail was not started through the code-cache launcher (dist/sysmail.js): nothing to check');
  const [, node, arch] = s.stamp.split(':');
  switch (s.status) {
    case 'used': return ok('code cache', `${s.file} accepted by V8 (node ${node}, ${arch})`);
    case 'missing': return warn('code cache', `no code cache for this build in ${s.dirs.join(' or ')}: every command compiles the whole CLI first (slower start-up; mail is not affected)`, FIX);
    case 'stale': return warn('code cache', `${s.file} was made for another build, Node version or CPU (${s.detail || 'no stamp'}; this is ${s.stamp}): ignored, start-up is slower`, FIX);
    case 'rejected': return warn('code cache', `${s.file} was rejected by V8 (made with other V8 flags or another V8 build; node ${node}, ${arch}): ignored, start-up is slower`, FIX);
    case 'untrusted': return warn('code cache', `${s.file} is not owned by root or this user, or others may write it: ignored (a cache is code)`, `rm ${s.file} && ${FIX}`);
  }
}
