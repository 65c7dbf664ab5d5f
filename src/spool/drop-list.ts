/**
 * Read-only listing of drop/ for `sysmail queue` and `mailq`: mail that an
 * unprivileged user submitted and the spool owner has not imported yet.
 *
 * Guarantees: never writes, never follows a link, never blocks on a FIFO
 * (O_NOFOLLOW|O_NONBLOCK, regular files only); an entry this process may not
 * read (another user's, 0600) is still listed from its inode (owner, size,
 * time) with no envelope; half-written temp files (".name") are skipped.
 * drop/ is 01777, so every user can list it: that is what lets a non-root
 * mailq show the mail it just submitted (docs/SECURITY.md says who sees what).
 */
import { constants } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseHeader } from './format.js';
import type { Envelope } from './types.js';

export interface DropEntry {
  name: string;
  /** Message bytes when the envelope could be read, else the file size. */
  size: number;
  /** The file's owner: the kernel's word on who submitted it. */
  uid: number;
  mtimeMs: number;
  /** Null when this process may not read the file (another user's). */
  envelope: Envelope | null;
}

const HEAD_BYTES = 64 * 1024;

export async function listDrop(spoolDir: string): Promise<DropEntry[]> {
  const dir = join(spoolDir, 'drop');
  let names: string[];
  try { names = await readdir(dir); } catch { return []; }
  const out: DropEntry[] = [];
  for (const name of names.filter((n) => !n.startsWith('.')).sort()) {
    const path = join(dir, name);
    let st;
    try { st = await stat(path); } catch { continue; }
    if (!st.isFile()) continue;
    const e: DropEntry = { name, size: st.size, uid: st.uid, mtimeMs: st.mtimeMs, envelope: null };
    try {
      const h = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      try {
        const buf = Buffer.alloc(Math.min(st.size, HEAD_BYTES));
        const { bytesRead } = await h.read(buf, 0, buf.length, 0);
        const r = parseHeader(buf.subarray(0, bytesRead), bytesRead >= st.size);
        if (r.ok) { e.envelope = r.envelope; e.size = r.size; }
      } finally { await h.close(); }
    } catch { /* not ours to read: listed from the inode only */ }
    out.push(e);
  }
  return out;
}
