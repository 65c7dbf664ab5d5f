/**
 * The compiled-config cache of the sendmail fast path: the part of a validated config that
 * submission uses (FastConfig: general, spool, log), stored as JSON beside the code cache
 * (/var/cache/sysmail, or $SYSMAIL_CODE_CACHE_DIR), so that a `sendmail` whose config has not
 * changed needs neither the TOML parser nor the validator (~0.7 ms of every start).
 *
 * Guarantees:
 * - Never stale. An entry is used only when everything the load was made from is unchanged: the
 *   build (bundle id, Node, arch), the config file's path and its dev, ino, size, mtime and ctime
 *   (to ~0.25 µs), owner and mode; the effective uid, host name and home directory; the value of every
 *   environment variable the validator read and the existence of every path it asked about (both
 *   recorded while it ran: the validator is pure over these, config/validate.ts). Any difference
 *   is a miss: the full load runs, with its own errors, and the entry is rewritten.
 * - Racy writes: an entry is written only when the config file's ctime is more than
 *   SETTLE_MS old. A file rewritten in place within one timestamp tick keeps its size and times;
 *   any change after the entry was made gets a later ctime, so it cannot look unchanged.
 * - A cache is trusted input: read only from a file owned by root or this user, in a directory
 *   owned by root or this user, neither writable by others (as the launcher's code cache).
 *   Written 0600 (tmp + rename), one file per config path and user, at most MAX_ENTRIES files.
 * - No secrets: FastConfig holds no transports, listener or alerts, so no password of any kind.
 * - Only valid configs are stored; a broken cache file, a full disk or a read-only directory
 *   only costs the full load.
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, constants } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './types.js';
import type { ValidateContext } from './validate.js';

/** What the sendmail fast path reads of the config. */
export type FastConfig = Pick<Config, 'source' | 'general' | 'spool' | 'log'>;

/** Where entries live and which build they belong to (the launcher's code-cache stamp). */
export interface ConfigCacheOptions {
  dir: string;
  build: string;
}

/** The entry format; another one is a miss. */
export const CACHE_FORMAT = 1;
/** A config file changed less than this long ago is not cached (see "Racy writes" above). */
export const SETTLE_MS = 1000;
export const MAX_ENTRIES = 16;
const ENTRY_RE = /^config-\d+-[0-9a-f]{8}\.json$/;

/** What an entry was made from, apart from the recorded environment and paths. */
export interface CacheKey {
  build: string;
  file: string | null;
  /** dev:ino:size:mtime:ctime:uid:mode of the config file (statKey); null for the embedded default. */
  stat: string | null;
  euid: number;
  hostname: string;
  homedir: string;
}

export interface CacheEntry {
  v: number;
  key: CacheKey;
  /** Every environment variable the validator read, with its value (null: unset). */
  env: Record<string, string | null>;
  /** Every path whose existence the validator asked, with the answer. */
  exists: Record<string, boolean>;
  config: FastConfig;
}

/**
 * The entry file of a config path for a user and a build: config-EUID-FNV1A(build, path).json.
 * Two builds side by side (an upgrade, a test tree) keep one entry each instead of taking turns.
 */
export function entryFile(dir: string, file: string | null, euid: number, build: string): string {
  const s = `${build}\n${file ?? '(embedded)'}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return join(dir, `config-${euid}-${h.toString(16).padStart(8, '0')}.json`);
}

/**
 * The identity of a file's version. Times are Node's millisecond doubles, which keep the
 * nanoseconds to ~0.25 µs (a BigInt stat costs ~0.05 ms more); two versions closer than that are
 * within one timestamp tick, which the settle rule covers.
 */
export function statKey(st: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number; uid: number; mode: number }): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.uid}:${st.mode}`;
}

const trusted = (st: { uid: number; mode: number }, euid: number) => (st.uid === euid || st.uid === 0) && (st.mode & 0o022) === 0;

/** Why an entry does not fit (a short phrase for `cache status`), or null when it does. */
export function mismatch(e: CacheEntry, key: CacheKey, env: NodeJS.ProcessEnv, exists: (p: string) => boolean): string | null {
  if (e.v !== CACHE_FORMAT) return 'another cache format';
  for (const k of Object.keys(key) as (keyof CacheKey)[]) if (e.key[k] !== key[k]) return k === 'stat' ? 'the config file changed' : `another ${k}`;
  for (const [name, v] of Object.entries(e.env)) if ((env[name] ?? null) !== v) return `$${name} changed`;
  for (const [path, v] of Object.entries(e.exists)) if (exists(path) !== v) return `${path} ${v ? 'is gone' : 'appeared'}`;
  return null;
}

/** The entry for `key`, when there is a trusted one that fits; else why not. */
export function readEntry(opts: ConfigCacheOptions, key: CacheKey, env: NodeJS.ProcessEnv, exists: (p: string) => boolean):
  { config: FastConfig } | { miss: string; file: string } {
  const file = entryFile(opts.dir, key.file, key.euid, key.build);
  let fd = -1;
  try {
    // Opened without asking first: a missing entry (an exception) is the rare case, once per change.
    try { fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW); } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { miss: 'missing', file };
      throw err;
    }
    if (!trusted(fstatSync(fd), key.euid) || !trusted(statSync(opts.dir), key.euid)) return { miss: 'untrusted (owned by another user, or writable by others)', file };
    const e = JSON.parse(readFileSync(fd, 'utf8')) as CacheEntry;
    const why = mismatch(e, key, env, exists);
    return why === null ? { config: e.config } : { miss: `stale: ${why}`, file };
  } catch (err) {
    return { miss: `unreadable: ${(err as Error).message}`, file };
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/**
 * Stores an entry (tmp + rename, 0600), making the directory when root may; a config changed
 * less than SETTLE_MS before `now` is not stored. Never throws: returns the file, or null.
 */
export function writeEntry(opts: ConfigCacheOptions, e: CacheEntry, ctimeMs: number | null, now: number = Date.now()): string | null {
  if (ctimeMs !== null && !(now - ctimeMs > SETTLE_MS)) return null;
  if (!jsonExact(e.config)) return null; // would not read back as the same config
  const file = entryFile(opts.dir, e.key.file, e.key.euid, e.key.build);
  const tmp = join(opts.dir, `.config.${process.pid}.tmp`);
  try {
    if (e.key.euid === 0) mkdirSync(opts.dir, { recursive: true, mode: 0o755 });
    if (!trusted(statSync(opts.dir), e.key.euid)) return null;
    writeFileSync(tmp, JSON.stringify(e), { mode: 0o600, flag: 'wx' });
    renameSync(tmp, file);
  } catch {
    try { unlinkSync(tmp); } catch { /* not made */ }
    return null;
  }
  prune(opts.dir);
  return file;
}

/** Whether JSON keeps `v` exactly: plain objects, arrays, strings, booleans, null and finite numbers only. */
export function jsonExact(v: unknown): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v) && !Object.is(v, -0);
  if (Array.isArray(v)) return v.every(jsonExact);
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return Object.values(v as object).every(jsonExact);
  return false;
}

/** Keeps the MAX_ENTRIES newest entry files (a host may run sendmail -C with many configs). */
function prune(dir: string): void {
  try {
    const names = readdirSync(dir).filter((n) => ENTRY_RE.test(n));
    if (names.length <= MAX_ENTRIES) return;
    const aged = names.map((n) => ({ n, t: statSync(join(dir, n), { throwIfNoEntry: false })?.mtimeMs ?? 0 })).sort((a, b) => b.t - a.t);
    for (const { n } of aged.slice(MAX_ENTRIES)) { try { unlinkSync(join(dir, n)); } catch { /* gone */ } }
  } catch { /* a cache: nothing to do */ }
}

/**
 * A validation context that records what the validator reads: every environment variable (its
 * value) and every existence check (its answer). `enumerated` turns true if the validator lists
 * the environment, which makes the result depend on all of it: such a load is not cached.
 */
export function recordingContext(ctx: Partial<ValidateContext>): { ctx: Partial<ValidateContext>; env: Record<string, string | null>; exists: Record<string, boolean>; enumerated: () => boolean } {
  const env: Record<string, string | null> = {};
  const seen: Record<string, boolean> = {};
  let enumerated = false;
  const base = ctx.env ?? process.env;
  const exists = ctx.exists ?? existsSync;
  const note = (k: string | symbol) => { if (typeof k === 'string') env[k] = base[k] ?? null; };
  const proxy = new Proxy(base, {
    get(t, k) { note(k); return Reflect.get(t, k); },
    has(t, k) { note(k); return Reflect.has(t, k); },
    getOwnPropertyDescriptor(t, k) { note(k); return Reflect.getOwnPropertyDescriptor(t, k); },
    ownKeys(t) { enumerated = true; return Reflect.ownKeys(t); },
  });
  return {
    ctx: { ...ctx, env: proxy, exists: (p: string) => (seen[p] = exists(p)) },
    env, exists: seen, enumerated: () => enumerated,
  };
}

/** The part of a Config the fast path keeps (and the cache stores). */
export function fastPart(c: Config): FastConfig {
  return { source: c.source, general: c.general, spool: c.spool, log: c.log };
}
