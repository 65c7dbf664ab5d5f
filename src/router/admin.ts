/**
 * Who counts as "the admin's mail": root, the system accounts (uid below
 * 1000, and nobody), and the role names RFC 2142 and mail software use
 * (postmaster, abuse, mailer-daemon) even when no such user exists.
 *
 * Guarantees: `adminRule` is pure (a passwd map in, a rule out); the admin
 * address comes out qualified, because relays refuse bare names. When the
 * passwd file cannot be read only root and the role names count: a busy
 * /etc/passwd must not send a user's mail to the admin.
 */
import type { GeneralConfig } from '../config/types.js';
import type { PasswdEntry } from '../transports/passwd.js';
import type { AdminRule } from './aliases.js';

/** Role names that go to the admin whether or not a user exists (RFC 2142 plus MAILER-DAEMON). */
export const ADMIN_ROLE_NAMES: ReadonlySet<string> = new Set(['root', 'postmaster', 'abuse', 'mailer-daemon']);
/** Below this uid an account is a system account (login.defs UID_MIN on every distribution we support). */
export const SYSTEM_UID_MAX = 999;
const NOBODY_UID = 65534;

export function qualifiedAdmin(g: Pick<GeneralConfig, 'admin' | 'domain'>): string {
  return g.admin.includes('@') ? g.admin : `${g.admin}@${g.domain}`;
}

export function isSystemAccount(name: string, users: Map<string, PasswdEntry> | null): boolean {
  const n = name.toLowerCase();
  if (ADMIN_ROLE_NAMES.has(n)) return true;
  const e = users?.get(n);
  return !!e && (e.uid <= SYSTEM_UID_MAX || e.uid === NOBODY_UID);
}

export function adminRule(g: Pick<GeneralConfig, 'admin' | 'domain'>, users: Map<string, PasswdEntry> | null): AdminRule {
  return { address: qualifiedAdmin(g), isSystem: (name) => isSystemAccount(name, users) };
}
