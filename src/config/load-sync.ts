/**
 * loadConfigSync: loadConfig (load.ts) with blocking reads, for the sendmail fast path, which runs
 * no promise and loads no node:fs/promises. The same file is chosen, parsed and validated by the
 * same functions of load.ts, with the same errors (EX_CONFIG naming the file, line or key).
 * The TOML parser comes from toml-sync.ts: statically for ES modules, on first use in the fast path's bundle.
 *
 * loadFastConfigSync: the part of the config the fast path uses, from the compiled-config cache
 * (compiled-cache.ts) when its entry fits, else loaded as loadConfigSync does and stored for the
 * next call. A config that fails to load fails exactly as loadConfigSync's (nothing invalid is
 * ever stored, so a fitting entry is a config that validated with the same inputs).
 */
import { existsSync, readFileSync, statSync, type Stats } from 'node:fs';
import { CACHE_FORMAT, entryFile, fastPart, readEntry, recordingContext, statKey, writeEntry, type CacheKey, type ConfigCacheOptions, type FastConfig } from './compiled-cache.js';
import { contextOf, findConfigFile, notAFile, parseAndValidate, unreadable, type LoadOptions } from './load.js';
import { toml } from './toml-sync.js';
import type { Config } from './types.js';
import { validateConfig, type ValidateContext } from './validate.js';

export function loadConfigSync(opts: LoadOptions = {}): Config {
  const ctx = contextOf(opts);
  const where = findConfigFile(opts);
  return loadFrom(where, statConfig(where), ctx);
}

type Where = ReturnType<typeof findConfigFile>;

/** The chosen config file's stat (null: the embedded default); unreadable or not a file: EX_CONFIG. */
function statConfig(where: Where): Stats | null {
  if (where.path === null) return null;
  try {
    const st = statSync(where.path);
    if (!st.isFile()) throw notAFile();
    return st;
  } catch (e) {
    throw unreadable(where.path, where.from, e);
  }
}

/** Reads, parses and validates the chosen file (`st`: its stat from statConfig), or the embedded default. */
function loadFrom(where: Where, st: Stats | null, ctx: Partial<ValidateContext>): Config {
  if (where.path === null || st === null) return validateConfig({}, null, '', ctx);
  let text: string;
  try {
    text = readFileSync(where.path, 'utf8');
  } catch (e) {
    throw unreadable(where.path, where.from, e);
  }
  ctx.fileStat = { uid: st.uid, mode: st.mode };
  return parseAndValidate(where.path, text, ctx, toml());
}

/** What the cache key of a load is made from: the file chosen, its stat, the context. */
function keyOf(opts: LoadOptions, cache: ConfigCacheOptions) {
  const ctx = contextOf(opts);
  const where = findConfigFile(opts);
  const st = statConfig(where);
  const key: CacheKey = { build: cache.build, file: where.path, stat: st ? statKey(st) : null, euid: ctx.euid!, hostname: ctx.hostname!, homedir: ctx.homedir! };
  return { ctx, where, st, key };
}

/** The fast path's config; `cache` null: no cache (loadConfigSync). */
export function loadFastConfigSync(opts: LoadOptions, cache: ConfigCacheOptions | null): FastConfig {
  if (cache === null) return fastPart(loadConfigSync(opts));
  const { ctx, where, st, key } = keyOf(opts, cache);
  try {
    const hit = readEntry(cache, key, ctx.env!, existsSync);
    if ('config' in hit) return hit.config;
  } catch { /* a cache: the full load */ }

  const rec = recordingContext(ctx);
  const config = loadFrom(where, st, rec.ctx);
  if (where.path !== null) {
    // Changed while it was read: what was read may not be what `key` describes; not stored.
    const after = statSync(where.path, { throwIfNoEntry: false });
    if (!after || statKey(after) !== key.stat) return fastPart(config);
  }
  const fast = fastPart(config);
  if (!rec.enumerated()) writeEntry(cache, { v: CACHE_FORMAT, key, env: rec.env, exists: rec.exists, config: fast }, st ? st.ctimeMs : null);
  return fast;
}

/** Whether the next fast-path load would take its config from the cache (doctor, `cache status`); throws as the load would. */
export function fastConfigEntry(opts: LoadOptions, cache: ConfigCacheOptions): { file: string; config: string | null; miss: string | null } {
  const { ctx, where, key } = keyOf(opts, cache);
  const r = readEntry(cache, key, ctx.env!, existsSync);
  return { file: entryFile(cache.dir, key.file, key.euid, key.build), config: where.path, miss: 'miss' in r ? r.miss : null };
}
