/**
 * File primitives for the spool, asynchronous: the commit protocol (write a new file in
 * tmp/, rename it into place, fsync it and the directory), renames and
 * unlinks that treat "already gone" as an answer rather than an error, and
 * the spool layout. The protocols themselves are written once in protocol.ts;
 * this is their node:fs/promises shell (commit-sync.ts is the blocking one).
 *
 * Guarantees: `commitFile` resolves only when the file is durable under its
 * final name (unless `sync` is false, for ram mode) and leaves no partial file
 * behind when it fails; every failure is an ioError (EX_TEMPFAIL). All file
 * data the spool writes goes through here and is counted in `ioStats`, so a
 * test can prove how many bytes a delivered message cost.
 *
 * SYSMAIL_TEST_CRASH_AT (read once, at load) makes the process SIGKILL itself
 * at one named step of `commitFile`; it exists only for the crash tests and
 * does nothing unless set.
 */
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import * as P from './protocol.js';
import { errnoOf, ioStats, type Op } from './protocol.js';
import { queueCommit, type QueueCommit } from './queue-commit.js';

export { crashPoint, errnoOf, ioFail, ioStats, PRIVATE_AREAS } from './protocol.js';
export type { Area, CrashStep } from './protocol.js';

/** The node:fs/promises executor of protocol.ts's operations. */
async function exec(o: Op<FileHandle>): Promise<unknown> {
  switch (o.op) {
    case 'create': return open(o.path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, o.mode);
    case 'writev': return (await o.h.writev(o.chunks)).bytesWritten;
    case 'fsync': return o.h.sync();
    case 'fsyncWithDir': {
      const syncDir = async () => {
        const d = await open(o.dir, constants.O_RDONLY | constants.O_DIRECTORY);
        try { await d.sync(); } finally { await d.close(); }
      };
      const [file, dir] = await Promise.allSettled([o.h.sync(), syncDir()]);
      if (file.status === 'rejected') throw file.reason;
      if (dir.status === 'rejected') throw dir.reason;
      return undefined;
    }
    case 'close': return o.h.close();
    case 'openDir': return open(o.path, constants.O_RDONLY | constants.O_DIRECTORY);
    case 'rename': return rename(o.from, o.to);
    case 'unlink': return unlink(o.path);
    case 'mkdir': return mkdir(o.path, { recursive: o.recursive, mode: o.mode });
    case 'chmod': return chmod(o.path, o.mode);
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  return P.runAsync(P.fsyncDir<FileHandle>(dir), exec);
}

/** Creates `path` (O_EXCL, never following a symlink), writes `chunks`, optionally fsyncs; removes it on failure. */
export async function writeNewFile(path: string, chunks: Buffer[], sync: boolean, mode = 0o600): Promise<void> {
  return P.runAsync(P.writeNewFile<FileHandle>(path, chunks, sync, mode), exec);
}

/** protocol.ts commitFile: a file that replaces another (state/<id>); tmp, fsync, rename, fsync dir. */
export async function commitFile(tmpPath: string, finalPath: string, finalDir: string, chunks: Buffer[], sync: boolean): Promise<void> {
  return P.runAsync(P.commitFile<FileHandle>(tmpPath, finalPath, finalDir, chunks, sync), exec);
}

/** protocol.ts commitNewFile: a queue file; tmp, rename, fsync file, fsync dir. */
export async function commitNewFile(tmpPath: string, finalPath: string, finalDir: string, chunks: Buffer[], sync: boolean): Promise<void> {
  return P.runAsync(P.commitNewFile<FileHandle>(tmpPath, finalPath, finalDir, chunks, sync), exec);
}

/** queue-commit.ts queueCommit, run here: true when it made the layout. */
export async function runQueueCommit(c: QueueCommit): Promise<boolean> {
  return P.runAsync(queueCommit<FileHandle>(c), exec);
}

/** rename(2); false when the source is gone (someone else moved it first). */
export async function tryRename(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    ioStats.renames++;
    return true;
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return false;
    throw e;
  }
}

/** unlink(2); false when already gone. */
export async function tryUnlink(path: string): Promise<boolean> {
  try {
    await unlink(path);
    ioStats.unlinks++;
    return true;
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return false;
    throw e;
  }
}

/** Directory entries, or [] when the directory does not exist (readers never create). */
export async function listDir(dir: string): Promise<string[]> {
  try { return await readdir(dir); } catch (e) {
    if (errnoOf(e) === 'ENOENT') return [];
    throw e;
  }
}

/** ms since the last change of `path`, or null when it is gone. */
export async function ageOf(path: string, now: number): Promise<number | null> {
  try { return now - (await lstat(path)).mtimeMs; } catch (e) {
    if (errnoOf(e) === 'ENOENT') return null;
    throw e;
  }
}

/** Temp and orphan files younger than this may still be in use by a process we cannot identify. */
export const STALE_MS = 60 * 60 * 1000;

/**
 * Creates what is missing of the layout (protocol.ts ensureLayout: root 0711, private areas 0700,
 * drop/ 01777). Existing directories keep their modes (`sysmail doctor` checks them).
 */
export async function ensureLayout(dir: string): Promise<void> {
  return P.runAsync(P.ensureLayout<FileHandle>(dir), exec);
}
