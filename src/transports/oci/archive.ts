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
import { constants } from 'node:fs';
import { lstat, open, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { ioError } from '../../core/errors.js';
import { inDir, openChild, openSafeDir, syncDir, type SafeDir } from '../safe-dir.js';

/** Maildir-safe unique name for one message: `<seconds>.<id>.<host>` ('/' and ':' escaped as in Maildir++). */
export function archiveName(submittedAtMs: number, id: string, host: string): string {
  const safe = (s: string) => s.replace(/\//g, '\\057').replace(/:/g, '\\072');
  return `${Math.floor(submittedAtMs / 1000)}.${safe(id)}.${safe(host)}`;
}

/** Stores `raw` as new/<name> unless a copy is already in new/ or cur/; returns the path of the copy. */
export async function archiveMessage(dir: string, name: string, raw: Buffer): Promise<string> {
  const opened: SafeDir[] = [];
  try {
    // Opened once, used through descriptors: no component is followed if swapped for a link (safe-dir.ts).
    const root = await openSafeDir(dir, [], { create: true });
    opened.push(root);
    const [tmp, newDir] = [await openChild(root, 'tmp', { create: true }), await openChild(root, 'new', { create: true })];
    opened.push(tmp, newDir);
    opened.push(await openChild(root, 'cur', { create: true }));
    const newPath = join(dir, 'new', name);
    if (await lstat(inDir(newDir, name)).then(() => true, () => false)) return newPath;
    const curHit = await readdir(inDir(root, 'cur')).then((l) => l.find((f) => f === name || f.startsWith(name + ':')), () => undefined);
    if (curHit) return join(dir, 'cur', curHit);
    const tmpPath = inDir(tmp, name);
    const fh = await open(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
    try {
      await fh.writeFile(raw);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmpPath, inDir(newDir, name));
    await syncDir(newDir);
    return newPath;
  } catch (err) {
    throw ioError(`cannot keep the full message in the archive Maildir ${dir}`, err);
  } finally {
    for (const d of opened) await d.fh.close().catch(() => {});
  }
}
