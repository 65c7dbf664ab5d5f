/**
 * Which family of distribution a (possibly staged) root is, from its
 * /etc/os-release: that decides how sysmail becomes "the sendmail".
 *
 * - rhel: Fedora, RHEL, CentOS, Rocky, Alma, Oracle Linux, Amazon Linux:
 *   `alternatives` with the `mta` link group (as Postfix and Sendmail use).
 * - debian: Debian, Ubuntu and derivatives: MTAs own /usr/sbin/sendmail
 *   directly, so the existing file is diverted (dpkg-divert) and an
 *   update-alternatives group named "sendmail" is made.
 * - other: the existing files are moved to a recorded backup and replaced by
 *   symlinks.
 * Pure parsing; a missing or unreadable os-release gives "other".
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export type DistroFamily = 'rhel' | 'debian' | 'other';

export interface Distro {
  id: string;
  name: string;
  family: DistroFamily;
}

/** os-release(5): KEY=value lines, values optionally quoted with shell-like escapes. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!;
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) {
      v = v.slice(1, -1).replace(/\\(["'$`\\])/g, '$1');
    }
    out[m[1]!] = v;
  }
  return out;
}

const RHEL = new Set(['rhel', 'fedora', 'centos', 'rocky', 'almalinux', 'ol', 'amzn', 'scientific', 'eurolinux', 'circle', 'navix']);
const DEBIAN = new Set(['debian', 'ubuntu', 'raspbian', 'linuxmint', 'pop', 'devuan', 'kali', 'elementary']);

export function familyOf(fields: Record<string, string>): DistroFamily {
  const ids = [fields.ID ?? '', ...(fields.ID_LIKE ?? '').split(/\s+/)].map((s) => s.toLowerCase()).filter(Boolean);
  if (ids.some((i) => RHEL.has(i))) return 'rhel';
  if (ids.some((i) => DEBIAN.has(i))) return 'debian';
  return 'other';
}

export async function detectDistro(root: string): Promise<Distro> {
  for (const p of ['etc/os-release', 'usr/lib/os-release']) {
    try {
      const f = parseOsRelease(await readFile(join(root, p), 'utf8'));
      return { id: f.ID ?? 'linux', name: f.PRETTY_NAME ?? f.NAME ?? f.ID ?? 'Linux', family: familyOf(f) };
    } catch {
      // Try the next location (os-release(5) names both).
    }
  }
  return { id: 'unknown', name: 'unknown (no os-release)', family: 'other' };
}

/** A path inside root: "/usr/sbin/sendmail" under "/stage" is "/stage/usr/sbin/sendmail". */
export function under(root: string, path: string): string {
  return root === '/' ? path : join(root, path);
}
