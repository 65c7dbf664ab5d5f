/**
 * The code caches as the launcher (scripts/launcher.cjs) finds them for this process, one per
 * bundle (main: the full CLI; sendmail: the fast path): used, missing, stale (made for another
 * build, Node version or CPU arch), rejected by V8 (other V8 flags) or untrusted (owned by
 * someone else, or writable by others). Read-only: doctor turns each into one check line with
 * the fix; a bad cache only costs start-up time, so it is a warning.
 * checkConfigCache: whether the next `sendmail` takes its config from the compiled-config cache
 * (config/compiled-cache.ts) or parses and validates it (and then stores it).
 */
import { fastConfigEntry } from '../config/load-sync.js';
import type { LoadOptions } from '../config/load.js';
import { info, ok, warn, type CheckResult } from './report.js';

export type CacheStatus = 'used' | 'missing' | 'stale' | 'rejected' | 'untrusted';

/** One bundle's record (scripts/launcher.cjs). */
export interface BundleCache {
  bundle: string;
  /** build-id:node-version:arch, the first line of a cache made for this process. */
  stamp: string;
  file: string | null;
  status: CacheStatus;
  /** For "stale": the stamp the file has. */
  detail: string;
  wrote: string | null;
}

/** What the launcher puts in globalThis.__sysmail_codeCache. */
export interface LauncherCache {
  /** Where the launcher looks, in order (the first is $SYSMAIL_CODE_CACHE_DIR or /var/cache/sysmail). */
  dirs: string[];
  /** False: do not (re)write a cache when this process exits (readers never write). */
  write: boolean;
  bundles: Record<string, BundleCache>;
  /** A bundle's record, compiling it against its cache when this process did not load it. */
  check(name: string): BundleCache;
}

export const BUNDLES = ['main', 'sendmail'] as const;
export const SYSTEM_CACHE_DIR = '/var/cache/sysmail';
export const cacheFileName = (bundle: string) => `sysmail-${bundle}.v8cache`;
const FIX = 'sysmail cache rebuild   (as root; run with the node and flags that sendmail runs with)';

/** The launcher's record, or null when this process was not started through it (the plain ESM build). */
export function launcherCache(): LauncherCache | null {
  return (globalThis as { __sysmail_codeCache?: LauncherCache }).__sysmail_codeCache ?? null;
}

/** Every bundle's record, for doctor and `cache status`. */
export function cacheReport(l: LauncherCache): Record<string, BundleCache> {
  return Object.fromEntries(BUNDLES.map((b) => [b, l.check(b)]));
}

export function checkCodeCache(l: LauncherCache | null): CheckResult[] {
  if (!l) return [info('code cache', 'this sysmail was not started through the code-cache launcher (dist/sysmail.js): nothing to check')];
  return Object.entries(cacheReport(l)).map(([name, s]) => checkOne(`code cache ${name}`, s, l.dirs));
}

function checkOne(check: string, s: BundleCache, dirs: string[]): CheckResult {
  const [, node, arch] = s.stamp.split(':');
  switch (s.status) {
    case 'used': return ok(check, `${s.file} accepted by V8 (node ${node}, ${arch})`);
    case 'missing': return warn(check, `no code cache for this build in ${dirs.join(' or ')}: it is compiled on every start (slower start-up; mail is not affected)`, FIX);
    case 'stale': return warn(check, `${s.file} was made for another build, Node version or CPU (${s.detail || 'no stamp'}; this is ${s.stamp}): ignored, start-up is slower`, FIX);
    case 'rejected': return warn(check, `${s.file} was rejected by V8 (made with other V8 flags or another V8 build; node ${node}, ${arch}): ignored, start-up is slower`, FIX);
    case 'untrusted': return warn(check, `${s.file} is not owned by root or this user, or others may write it: ignored (a cache is code)`, `rm ${s.file} && ${FIX}`);
  }
}

/** The compiled-config cache entry of the config a `sendmail` would load now (opts: as it finds the file). */
export function checkConfigCache(l: LauncherCache | null, opts: LoadOptions): CheckResult {
  const check = 'config cache';
  const stamp = l ? l.check('sendmail').stamp : null;
  if (!l || !stamp || stamp.startsWith('none:')) return info(check, 'not used: this sysmail was not started through the code-cache launcher (dist/sysmail.js)');
  let e: ReturnType<typeof fastConfigEntry>;
  try {
    e = fastConfigEntry(opts, { dir: l.dirs[0]!, build: stamp });
  } catch (err) {
    return info(check, `not checked: ${(err as Error).message.split('\n')[0]}`);
  }
  const of = e.config ?? 'the embedded default';
  if (e.miss === null) return ok(check, `${e.file} fits ${of}: sendmail skips the TOML parse and the validation`);
  if (e.miss.startsWith('untrusted')) return warn(check, `${e.file} is ${e.miss}: ignored`, `rm ${e.file}   (the next sendmail as root writes a fresh one)`);
  return info(check, `${e.file}: ${e.miss}; the next sendmail parses and validates ${of} and stores it (a config changed in the last second is not stored)`);
}
