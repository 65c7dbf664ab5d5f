/**
 * System users, read from the passwd file directly (Node has no getpwnam).
 *
 * Guarantees: `parsePasswd` is pure and skips malformed lines instead of
 * guessing; `lookupUser` tries the name as given, then lower-cased (mail
 * local parts are case-insensitive in practice, Unix names are lower-case).
 * Users that exist only in NSS (LDAP, sssd) are found through `getent passwd`
 * when the real /etc/passwd is used. A passwd file that cannot be read throws
 * an ioError (temporary): never bounce mail because /etc/passwd was busy.
 */
import { readFile } from 'node:fs/promises';
import { ioError } from '../core/errors.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export const SYSTEM_PASSWD = '/etc/passwd';
/** getent is local (files, sssd cache), but an NSS backend can hang: bound it. */
export const GETENT_TIMEOUT_MS = 5_000;

function parseLine(line: string): PasswdEntry | null {
  const f = line.split(':');
  if (f.length < 7 || f[0] === '' || f[0].startsWith('+') || f[0].startsWith('-')) return null;
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (!/^\d+$/.test(f[2]) || !/^\d+$/.test(f[3]) || !Number.isSafeInteger(uid) || !Number.isSafeInteger(gid)) return null;
  return { name: f[0], uid, gid, home: f[5], shell: f[6] };
}

export function parsePasswd(text: string): Map<string, PasswdEntry> {
  const users = new Map<string, PasswdEntry>();
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const e = parseLine(line);
    // The first entry wins, as with getpwnam.
    if (e && !users.has(e.name)) users.set(e.name, e);
  }
  return users;
}

export async function readPasswd(path: string = SYSTEM_PASSWD): Promise<Map<string, PasswdEntry>> {
  try {
    return parsePasswd(await readFile(path, 'utf8'));
  } catch (err) {
    throw ioError(`cannot read the user database ${path}`, err);
  }
}

/** A name that could be a passwd entry and is safe as a file name. */
export function isPlausibleUserName(name: string): boolean {
  return name.length > 0 && name.length <= 256 && !name.startsWith('.') && !name.startsWith('-') && !/[/:\s\0]/.test(name);
}

async function getent(name: string): Promise<PasswdEntry | null> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    execFile('getent', ['passwd', '--', name], { timeout: GETENT_TIMEOUT_MS, env: { PATH: '/usr/bin:/bin' } }, (err, stdout) => {
      // Exit 2 is "not found"; a missing getent or a timeout also means "not known here".
      if (err) { resolve(null); return; }
      const e = parseLine(stdout.split('\n')[0] ?? '');
      resolve(e && e.name === name ? e : null);
    });
  });
}

/**
 * Finds a user by a mail local part. With the system passwd file, names not in
 * it are looked up through NSS; with an injected file (tests), only the file is used.
 */
export async function lookupUser(localPart: string, passwdPath: string = SYSTEM_PASSWD): Promise<PasswdEntry | null> {
  if (!isPlausibleUserName(localPart)) return null;
  const users = await readPasswd(passwdPath);
  const candidates = localPart === localPart.toLowerCase() ? [localPart] : [localPart, localPart.toLowerCase()];
  for (const c of candidates) {
    const e = users.get(c);
    if (e) return e;
  }
  if (passwdPath !== SYSTEM_PASSWD) return null;
  for (const c of candidates) {
    const e = await getent(c);
    if (e) return e;
  }
  return null;
}
