/**
 * The TOML parser of the blocking loader (load-sync.ts), as one object. Here, for ES modules
 * (build/, the tests), the static import. The sendmail fast path's bundle replaces this module
 * (scripts/bundle.mjs, "lazy-toml") by one that requires smol-toml when first asked: with a
 * fitting compiled-config entry (compiled-cache.ts) the parser is never needed, and initialising
 * it (two classes, one extending Date) cost every start ~0.05-0.1 ms.
 */
import * as smolToml from 'smol-toml';
import type { Toml } from './load.js';

export function toml(): Toml {
  return smolToml;
}
