/**
 * Which program /usr/sbin/sendmail (and mailq) really is: the symlink chain,
 * hop by hop, and what the alternatives system says, and whether it all ends
 * at sysmail. Read-only: it runs only the tools' query commands. Install uses
 * it to recognise its own wrappers; doctor's verdict on it is
 * src/doctor/mta-checks.ts.
 *
 * Paths are looked up inside `root` (a staging tree in tests, "/" normally);
 * absolute link targets are taken inside root too, as they would be there.
 */
import { lstat, open, readlink } from 'node:fs/promises';
import { dirname, posix } from 'node:path';
import { parseDebianQuery, parseRhelDisplay, type AlternativesGroup } from './alternatives.js';
import type { Distro } from './distro.js';
import { under } from './distro.js';
import type { Runner } from './exec.js';
import { NOT_FOUND } from './exec.js';
import { DEBIAN_GROUP, RHEL_GROUP, WRAPPER_MARKER } from './layout.js';

export interface LinkChain {
  /** The path and every link target after it, as seen inside root. */
  hops: string[];
  end: 'file' | 'missing' | 'loop' | 'other';
}

const MAX_HOPS = 40;

export async function followChain(root: string, path: string): Promise<LinkChain> {
  const hops = [path];
  let cur = path;
  for (let i = 0; i < MAX_HOPS; i++) {
    let st;
    try { st = await lstat(under(root, cur)); } catch { return { hops, end: 'missing' }; }
    if (!st.isSymbolicLink()) return { hops, end: st.isFile() ? 'file' : 'other' };
    const target = await readlink(under(root, cur));
    cur = target.startsWith('/') ? posix.normalize(target) : posix.resolve(dirname(cur), target);
    if (hops.includes(cur)) { hops.push(cur); return { hops, end: 'loop' }; }
    hops.push(cur);
  }
  return { hops, end: 'loop' };
}

/** True when the file at the end of a chain is one of our wrappers or the sysmail entry point. */
export async function isSysmailProgram(root: string, path: string): Promise<boolean> {
  if (/(^|\/)sysmail\/dist\/sysmail\.js$/.test(path)) return true;
  let head = '';
  try {
    const fh = await open(under(root, path), 'r');
    try {
      const buf = Buffer.alloc(4096);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      head = buf.subarray(0, bytesRead).toString('latin1');
    } finally { await fh.close(); }
  } catch { return false; }
  return head.includes(WRAPPER_MARKER);
}

export function describeChain(c: LinkChain): string {
  const arrow = c.hops.join(' → ');
  if (c.end === 'missing') return c.hops.length === 1 ? `${c.hops[0]} does not exist` : `${arrow} (dangling: the last does not exist)`;
  if (c.end === 'loop') return `${arrow} (a symlink loop)`;
  if (c.end === 'other') return `${arrow} (not a regular file)`;
  return arrow;
}

/** Queries the distribution's alternatives group that holds /usr/sbin/sendmail; null when there is none. */
export async function queryAlternatives(root: string, distro: Distro, run: Runner): Promise<{ tool: string; group: AlternativesGroup | null } | null> {
  const tries: { tool: string; argv: string[]; parse: (s: string) => AlternativesGroup | null }[] = [];
  const rhel = {
    tool: 'alternatives',
    argv: ['alternatives', ...(root === '/' ? [] : ['--altdir', under(root, '/etc/alternatives'), '--admindir', under(root, '/var/lib/alternatives')]),
      '--display', RHEL_GROUP],
    parse: (s: string) => parseRhelDisplay(RHEL_GROUP, s),
  };
  const debian = {
    tool: 'update-alternatives',
    argv: ['update-alternatives', ...(root === '/' ? [] : ['--root', root]), '--query', DEBIAN_GROUP],
    parse: parseDebianQuery,
  };
  if (distro.family === 'rhel') tries.push(rhel);
  else if (distro.family === 'debian') tries.push(debian);
  else tries.push(rhel, debian);
  for (const t of tries) {
    const r = await run(t.argv);
    if (r.code === NOT_FOUND) continue;
    return { tool: t.tool, group: r.code === 0 ? t.parse(r.stdout) : null };
  }
  return null;
}
