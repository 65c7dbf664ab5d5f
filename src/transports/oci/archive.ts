/**
 * The archive Maildir that keeps the full copy of a message whose
 * notification had to be cut.
 *
 * Guarantees: a file appears in new/ only complete (tmp/ → write → fsync →
 * rename → fsync new/), readable by its owner only; the name is derived from
 * the message, so the retries of one message store it once. Fails with a
 * temporary SysmailError (ioError): the caller defers rather than publish a
 * marker that points at nothing.
 */
import { mkdir, open, readdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ioError } from '../../core/errors.js';
import { fsyncDir } from '../fsutil.js';

/** Maildir-safe unique name for one message: `<seconds>.<id>.<host>` ('/' and ':' escaped as in Maildir++). */
export function archiveName(submittedAtMs: number, id: string, host: string): string {
  const safe = (s: string) => s.replace(/\//g, '\\057').replace(/:/g, '\\072');
  return `${Math.floor(submittedAtMs / 1000)}.${safe(id)}.${safe(host)}`;
}

async function exists(path: string): Promise<boolean> {
  try { await stat(path); return true; } catch { return false; }
}

/** Stores `raw` as new/<name> unless a copy is already in new/ or cur/; returns the path of the copy. */
export async function archiveMessage(dir: string, name: string, raw: Buffer): Promise<string> {
  const newPath = join(dir, 'new', name);
  try {
    if (await exists(newPath)) return newPath;
    const curHit = await readdir(join(dir, 'cur')).then((l) => l.find((f) => f === name || f.startsWith(name + ':')), () => undefined);
    if (curHit) return join(dir, 'cur', curHit);
    for (const sub of ['tmp', 'new', 'cur']) await mkdir(join(dir, sub), { recursive: true, mode: 0o700 });
    const tmpPath = join(dir, 'tmp', name);
    const fh = await open(tmpPath, 'w', 0o600);
    try {
      await fh.writeFile(raw);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmpPath, newPath);
    await fsyncDir(join(dir, 'new'));
    return newPath;
  } catch (err) {
    throw ioError(`cannot keep the full message in the archive Maildir ${dir}`, err);
  }
}
