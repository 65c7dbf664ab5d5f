/**
 * File primitives for the spool: the commit protocol (write a new file in
 * tmp/, rename it into place, fsync it and the directory), renames and
 * unlinks that treat "already gone" as an answer rather than an error, and
 * the spool layout.
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
import { join } from 'node:path';
import { EX, SysmailError, ioError } from '../core/errors.js';

/** Counters of what the spool wrote in this process (for tests and `bench`). */
export const ioStats = { bytesWritten: 0, filesCreated: 0, fsyncs: 0, renames: 0, unlinks: 0 };

export type CrashStep = 'after-write' | 'after-fsync' | 'after-rename' | 'after-dirsync';
const CRASH_AT = process.env.SYSMAIL_TEST_CRASH_AT ?? '';

function crashPoint(step: CrashStep): void {
  if (CRASH_AT === step) process.kill(process.pid, 'SIGKILL');
}

export function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

/** An ioError whose hint also covers a missing spool, which ioError leaves bare. */
export function ioFail(what: string, cause: unknown): SysmailError {
  const err = ioError(what, cause);
  if (err.hint !== undefined || errnoOf(cause) !== 'ENOENT') return err;
  return new SysmailError(err.code, err.message, {
    exit: EX.TEMPFAIL, temporary: true, cause, smtpCode: 451, dsn: '4.3.0',
    hint: 'the spool is not set up: create it with `sysmail install` (or run `sysmail flush` once as root), or check spool.dir',
  });
}

export async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try { await h.sync(); ioStats.fsyncs++; } finally { await h.close(); }
}

/** Creates `path` (O_EXCL, never following a symlink), writes `chunks`, optionally fsyncs; removes it on failure. */
export async function writeNewFile(path: string, chunks: Buffer[], sync: boolean, mode = 0o600): Promise<void> {
  const h = await createAndWrite(path, chunks, mode);
  try {
    if (sync) { await h.sync(); ioStats.fsyncs++; }
    crashPoint('after-fsync');
    await h.close();
  } catch (e) {
    await h.close().catch(() => {});
    await unlink(path).catch(() => {});
    throw e;
  }
}

/** The new file, written and still open; removed again when writing fails. */
async function createAndWrite(path: string, chunks: Buffer[], mode: number): Promise<FileHandle> {
  let h: FileHandle | null = null;
  try {
    h = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
    ioStats.filesCreated++;
    let pending = chunks.filter((c) => c.length > 0);
    while (pending.length > 0) {
      const { bytesWritten } = await h.writev(pending);
      ioStats.bytesWritten += bytesWritten;
      pending = skipBytes(pending, bytesWritten);
    }
    crashPoint('after-write');
    return h;
  } catch (e) {
    if (h !== null) await h.close().catch(() => {});
    // EEXIST means the name was someone else's: never remove what we did not create.
    if (errnoOf(e) !== 'EEXIST') await unlink(path).catch(() => {});
    throw e;
  }
}

function skipBytes(chunks: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) {
    if (n >= c.length) { n -= c.length; continue; }
    out.push(n > 0 ? c.subarray(n) : c);
    n = 0;
  }
  return out;
}

/**
 * The commit protocol: new file at `tmpPath`, fsync, rename to `finalPath`,
 * fsync `finalDir`. A crash before the rename leaves only a temp file (never
 * visible in the queue); after it, a complete file.
 */
export async function commitFile(tmpPath: string, finalPath: string, finalDir: string, chunks: Buffer[], sync: boolean): Promise<void> {
  await writeNewFile(tmpPath, chunks, sync);
  try {
    await rename(tmpPath, finalPath);
    ioStats.renames++;
  } catch (e) {
    await unlink(tmpPath).catch(() => {});
    throw e;
  }
  crashPoint('after-rename');
  // A failure here leaves the file in place but not known durable: the caller reports a temporary
  // failure, and a retrying client may cause a duplicate, never a loss.
  if (sync) await fsyncDir(finalDir);
  crashPoint('after-dirsync');
}

/**
 * The commit protocol for a file under a name that is new (a queue file): new file at `tmpPath`,
 * rename to `finalPath`, fsync the file, fsync `finalDir`; only then resolve (the caller
 * acknowledges). A crash before the rename leaves only
 * a temp file (never visible in the queue). A crash after it and before the fsyncs can leave a
 * file cut short under the final name after a power loss: its header names the message size, so
 * readers move it to corrupt/ and never deliver it, and it was never acknowledged.
 *
 * Why the rename comes before the fsyncs (docs/benchmarks.md, "Device bytes"): on ext4 every
 * fsync commits the whole journal transaction, so the file's fsync also commits the rename and
 * the directory's fsync then has nothing left to commit: one journal commit per message instead
 * of two. On file systems that do not work that way it costs nothing: both are still fsynced.
 * A file that replaces another (state/<id>) uses commitFile: there the old content must survive.
 */
export async function commitNewFile(tmpPath: string, finalPath: string, finalDir: string, chunks: Buffer[], sync: boolean): Promise<void> {
  const h = await createAndWrite(tmpPath, chunks, 0o600);
  try {
    try {
      await rename(tmpPath, finalPath);
      ioStats.renames++;
    } catch (e) {
      await unlink(tmpPath).catch(() => {});
      throw e;
    }
    crashPoint('after-rename');
    // A failure from here leaves the file in place but not known durable: the caller reports a
    // temporary failure, and a retrying client may cause a duplicate, never a loss.
    // The file's and the directory's fsync are issued together, and both must finish before the
    // caller acknowledges: with a journal they wait for the same commit; without one (ext4
    // nojournal, as on this VM) the device gets both flushes at once instead of one after the other.
    if (sync) {
      const [file, dir] = await Promise.allSettled([h.sync(), fsyncDir(finalDir)]);
      if (file.status === 'rejected') throw file.reason;
      ioStats.fsyncs++;
      crashPoint('after-fsync');
      if (dir.status === 'rejected') throw dir.reason;
    } else {
      crashPoint('after-fsync');
    }
  } finally {
    await h.close().catch(() => {});
  }
  crashPoint('after-dirsync');
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

/** Private areas are 0700: only the spool owner reads mail or state. */
export const PRIVATE_AREAS = ['tmp', 'queue', 'active', 'state', 'failed', 'corrupt'] as const;
export type Area = (typeof PRIVATE_AREAS)[number] | 'drop';

/**
 * Creates what is missing. The root is 0711 (others may only pass through, to
 * reach drop/); drop/ is 01777 like /tmp, set by chmod because mkdir's mode is
 * cut by the umask. Existing directories keep their modes (`sysmail doctor`
 * checks them).
 */
export async function ensureLayout(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o711 });
  for (const a of PRIVATE_AREAS) await mkdirIfMissing(join(dir, a), 0o700);
  if (await mkdirIfMissing(join(dir, 'drop'), 0o700)) await chmod(join(dir, 'drop'), 0o1777);
}

async function mkdirIfMissing(path: string, mode: number): Promise<boolean> {
  try {
    await mkdir(path, { mode });
    return true;
  } catch (e) {
    if (errnoOf(e) === 'EEXIST') return false;
    throw e;
  }
}
