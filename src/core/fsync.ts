/**
 * fsync of a directory, the one version outside the spool: so that an entry just created or
 * renamed in it survives a crash. Some file systems (certain FUSE mounts) answer EINVAL: they
 * cannot sync a directory, and nothing more can be done there, so that is not an error for a
 * mailbox, the motd or an imported config.
 *
 * The spool is stricter on purpose (spool/protocol.ts): it acknowledges a message only once the
 * directory's fsync succeeded, so a spool on such a file system answers "try again" (exit 75, 451)
 * rather than promise what it cannot keep.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** fsyncs an open directory handle; EINVAL (cannot sync a directory here) is not an error. */
export async function syncDirHandle(fh: FileHandle): Promise<void> {
  try {
    await fh.sync();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
  }
}

/** Opens `dir` (a directory, never a file) and fsyncs it. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await syncDirHandle(fh);
  } finally {
    await fh.close();
  }
}
