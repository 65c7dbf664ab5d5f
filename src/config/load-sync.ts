/**
 * loadConfigSync: loadConfig (load.ts) with blocking reads, for the sendmail fast path, which runs
 * no promise and loads no node:fs/promises. The same file is chosen, parsed and validated by the
 * same functions of load.ts, with the same errors (EX_CONFIG naming the file, line or key).
 * smol-toml is imported statically here: in the fast path's bundle it is part of the code cache.
 */
import { readFileSync, statSync } from 'node:fs';
import { parse, TomlError } from 'smol-toml';
import { contextOf, findConfigFile, notAFile, parseAndValidate, unreadable, type LoadOptions } from './load.js';
import type { Config } from './types.js';
import { validateConfig } from './validate.js';

export function loadConfigSync(opts: LoadOptions = {}): Config {
  const ctx = contextOf(opts);
  const where = findConfigFile(opts);
  if (where.path === null) return validateConfig({}, null, '', ctx);
  const file = where.path;
  let text: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw notAFile();
    ctx.fileStat = { uid: st.uid, mode: st.mode };
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw unreadable(file, where.from, e);
  }
  return parseAndValidate(file, text, ctx, { parse, TomlError });
}
