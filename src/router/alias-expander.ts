/**
 * Binds the aliases file and the admin rule to the runner: a function from
 * one local recipient to its final addresses, each with why it changed
 * (alias or admin). Aliases file trouble is logged, never fatal: mail then
 * goes through the admin rule alone. The precedence is documented once, in
 * docs/CONFIG.md ("Where mail for root goes").
 */
import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { statSync } from 'node:fs';
import type { AliasTarget, RewriteVia } from './aliases.js';
import type { PasswdEntry } from '../transports/passwd.js';

const SYSTEM_PASSWD = '/etc/passwd';
let passwdCache: { path: string; key: string; users: Map<string, PasswdEntry> } | null = null;

/** The passwd map, re-read only when the file changed (every queue pass asks). Null when unreadable. */
async function cachedPasswd(path: string, read: (p: string) => Promise<Map<string, PasswdEntry>>): Promise<Map<string, PasswdEntry> | null> {
  try {
    // In place, not on the thread pool: it is asked once per delivery pass.
    const st = statSync(path);
    const key = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (passwdCache?.path === path && passwdCache.key === key) return passwdCache.users;
    const users = await read(path);
    passwdCache = { path, key, users };
    return users;
  } catch {
    return null;
  }
}

export interface Rewritten { address: string; via: RewriteVia | null }
export type Expander = (rcpt: string) => Rewritten[];

export interface ExpanderOptions {
  /** For tests: another passwd file. */
  passwd?: string;
  /** Quiet readers (queue view) pass nothing; delivery logs alias file trouble. */
  log?: Logger;
}

export async function makeAliasExpander(config: Config, log?: Logger, opts: ExpanderOptions = {}): Promise<Expander> {
  const [{ expandRecipient, loadAliases }, { adminRule }, { readPasswd }] = await Promise.all([
    import('./aliases.js'), import('./admin.js'), import('../transports/passwd.js'),
  ]);
  let map = new Map<string, AliasTarget[]>();
  if (config.general.aliases) {
    try {
      const loaded = await loadAliases(config.general.aliases);
      for (const w of loaded.warnings) log?.verbose(`${config.general.aliases}:${w.line}: ${w.message}`);
      map = loaded.map;
    } catch (err) {
      log?.event({ event: 'error', reason: `cannot read aliases ${config.general.aliases}: ${(err as Error).message}` });
    }
  }
  const users = await cachedPasswd(opts.passwd ?? SYSTEM_PASSWD, readPasswd);
  const admin = adminRule(config.general, users);
  return (rcpt) => {
    const { addresses, via, notes } = expandRecipient(rcpt, map, { localDomains: config.general.localDomains, domain: config.general.domain, admin });
    for (const n of notes) log?.verbose(`aliases: ${n}`);
    if (addresses.length === 0) return [{ address: rcpt, via: null }];
    return addresses.map((a) => ({ address: a, via: via.get(a.toLowerCase()) ?? null }));
  };
}
