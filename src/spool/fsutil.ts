/**
 * File primitives for the spool, asynchronous: the commit protocol (write a new file in
 * tmp/, rename it into place, fsync it and the directory), renames and
 * unlinks that treat "already gone" as an answer rather than an error, and
 * the spool layout. The protocols themselves are written once in protocol.ts;
 * this is their asynchronous shell (commit-sync.ts is the blocking one): only
 * the waits for the disk (fsync, large writes) leave the event loop.
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
import { closeSync, fsync, openSync, renameSync, writev } from 'node:fs';
import { lstat, readdir, unlink } from 'node:fs/promises';
import { DIR_FLAGS, execSync } from './exec-sync.js';
import * as P from './protocol.js';
import { errnoOf, ioStats, type Op } from './protocol.js';
import { queueCommit, type QueueCommit } from './queue-commit.js';

export { crashPoint, errnoOf, ioFail, ioStats, PRIVATE_AREAS } from './protocol.js';
export type { Area, CrashStep } from './protocol.js';

/** Writes at least this large go to the thread pool; smaller ones are a copy into the page cache. */
const ASYNC_WRITE_BYTES = 256 * 1024;

const fsyncAsync = (fd: number) => new Promise<void>((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve())));
const writevAsync = (fd: number, chunks: Buffer[]) =>
  new Promise<number>((resolve, reject) => writev(fd, chunks, (e, n) => (e ? reject(e) : resolve(n))));

/**
 * The executor of protocol.ts's operations for the daemon and the CLI. Only what waits for the
 * device runs on the thread pool: the fsyncs, and large writes. Opens, small writes, renames and
 * closes are page-cache and directory updates of a few microseconds each, run in place: each trip
 * through the thread pool costs more than the call itself (two thread wake-ups, ~50-100 µs), and a
 * queue commit has eight of them (docs/benchmarks.md, "Submission to arrival over SMTP").
 */
async function exec(o: Op<number>): Promise<unknown> {
  switch (o.op) {
    case 'fsync': return fsyncAsync(o.h);
    case 'fsyncWithDir': {
      const syncDir = async () => {
        const d = openSync(o.dir, DIR_FLAGS);
        try { await fsyncAsync(d); } finally { closeSync(d); }
      };
      const [file, dir] = await Promise.allSettled([fsyncAsync(o.h), syncDir()]);
      if (file.status === 'rejected') throw file.reason;
      if (dir.status === 'rejected') throw dir.reason;
      return undefined;
    }
    case 'writev': {
      const size = o.chunks.reduce((n, c) => n + c.length, 0);
      return size >= ASYNC_WRITE_BYTES ? writevAsync(o.h, o.chunks) : execSync(o);
    }
    default: return execSync(o);
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  return P.runAsync(P.fsyncDir<number>(dir), exec);
}

/** Creates `path` (O_EXCL, never following a symlink), writes `chunks`, optionally fsyncs; removes it on failure. */
export async function writeNewFile(path: string, chunks: Buffer[], sync: boolean, mode = 0o600): Promise<void> {
  return P.runAsync(P.writeNewFile<number>(path, chunks, sync, mode), exec);
}

/** protocol.ts commitFile: a file that replaces another (state/<id>); tmp, fsync, rename, fsync dir. */
export async function commitFile(tmpPath: string, finalPath: string, finalDir: string, chunks: Buffer[], sync: boolean): Promise<void> {
  return P.runAsync(P.commitFile<number>(tmpPath, finalPath, finalDir, chunks, sync), exec);
}

/** protocol.ts commitNewFile: a queue file; tmp, rename, fsync file, fsync dir. */
export async function commitNewFile(tmpPath: string, finalPath: string, finalDir: string, chunks: Buffer[], sync: boolean): Promise<void> {
  return P.runAsync(P.commitNewFile<number>(tmpPath, finalPath, finalDir, chunks, sync), exec);
}

/** queue-commit.ts queueCommit, run here: true when it made the layout. */
export async function runQueueCommit(c: QueueCommit): Promise<boolean> {
  return P.runAsync(queueCommit<number>(c), exec);
}

/** rename(2); false when the source is gone (someone else moved it first). */
export async function tryRename(from: string, to: string): Promise<boolean> {
  try {
    renameSync(from, to);
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
    // On the thread pool: an unlink on ext4 may wait for the journal (~0.4 ms here).
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
  return P.runAsync(P.ensureLayout<number>(dir), exec);
}
