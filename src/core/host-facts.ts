/**
 * This host's name, the home directory and the calling user's name, read without node:os where
 * Linux keeps the same answer in a file: loading node:os and its first getpwuid (through NSS)
 * cost every sendmail start ~0.3 ms. Each falls back to node:os when the file gives no answer.
 *
 * Guarantees, the same answers as node:os on Linux:
 * - hostname(): gethostname(2)'s, i.e. the UTS nodename (/proc/sys/kernel/hostname).
 * - homedir(): os.homedir()'s: $HOME when set and not empty, else the passwd entry.
 * - userName(): the effective user's name, as os.userInfo(): the first /etc/passwd entry with
 *   that uid (what getpwuid's `files` source answers), else os.userInfo() (LDAP, sssd...).
 *   Throws as os.userInfo() does when the user has no entry at all.
 */
import { readFileSync } from 'node:fs';

type Os = typeof import('node:os');

/** node:os, loaded only when a fallback needs it (CJS bundles: require; ES modules: getBuiltinModule). */
function os(): Os {
  if (typeof require === 'function') return require('node:os') as Os;
  const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  if (!get) throw new Error('node:os cannot be loaded synchronously here');
  return get('node:os') as Os;
}

const readText = (file: string): string | null => {
  try { return readFileSync(file, 'utf8'); } catch { return null; }
};

export function hostname(): string {
  const name = readText('/proc/sys/kernel/hostname')?.trim();
  return name ? name : os().hostname();
}

export function homedir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HOME ? env.HOME : os().homedir();
}

/** The name of the first entry for uid in passwd-format text, or null. */
export function passwdName(text: string, uid: number): string | null {
  const want = String(uid);
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 7 && f[2] === want && f[0] !== '' && !f[0]!.startsWith('+') && !f[0]!.startsWith('-')) return f[0]!;
  }
  return null;
}

export function userName(): string {
  const euid = process.geteuid?.();
  const text = euid === undefined ? null : readText('/etc/passwd');
  return (text !== null && euid !== undefined ? passwdName(text, euid) : null) ?? os().userInfo().username;
}
