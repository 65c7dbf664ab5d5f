/**
 * The spool's file protocols written once, as steps, for two I/O shells: fsutil.ts runs them with
 * node:fs/promises (the daemon, the queue runner, the full CLI) and commit-sync.ts with the
 * blocking calls of node:fs (the sendmail fast path, which loads no fs/promises and no promise
 * machinery). A protocol is a generator that yields one file-system operation at a time and gets
 * its result back (or its error thrown in), so the order of the steps, the flags and modes, the
 * clean-up on failure, the crash points and the counters exist in one copy only.
 *
 * Guarantees (docs/QUEUE-FORMAT.md): a queue file is visible under its final name only complete,
 * and the caller acknowledges only after its fsync and its directory's; a failed write leaves no
 * partial file it created; a name someone else made (EEXIST) is never removed. No I/O here: this
 * module imports nothing from node:fs.
 *
 * The executors open a new file with O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW ('create') and a
 * directory with O_RDONLY|O_DIRECTORY ('openDir'); 'writev' returns the bytes written.
 */
import { join } from 'node:path';
import { SysmailError, ioError, tempError } from '../core/errors.js';

/** Counters of what the spool wrote in this process (for tests and `bench`). */
export const ioStats = { bytesWritten: 0, filesCreated: 0, fsyncs: 0, renames: 0, unlinks: 0 };

export type CrashStep = 'after-write' | 'after-fsync' | 'after-rename' | 'after-dirsync';
const CRASH_AT = process.env.SYSMAIL_TEST_CRASH_AT ?? '';

/** SYSMAIL_TEST_CRASH_AT (read once, at load): SIGKILL at one named step; for the crash tests only. */
export function crashPoint(step: CrashStep): void {
  if (CRASH_AT === step) process.kill(process.pid, 'SIGKILL');
}

export function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

/** An ioError whose hint also covers a missing spool, which ioError leaves bare. */
export function ioFail(what: string, cause: unknown): SysmailError {
  const err = ioError(what, cause);
  if (err.hint !== undefined || errnoOf(cause) !== 'ENOENT') return err;
  return tempError(err.code, err.message, cause,
    'the spool is not set up: create it with `sysmail install` (or run `sysmail flush` once as root), or check spool.dir');
}

/** Private areas are 0700: only the spool owner reads mail or state. */
export const PRIVATE_AREAS = ['tmp', 'queue', 'active', 'state', 'failed', 'corrupt'] as const;
export type Area = (typeof PRIVATE_AREAS)[number] | 'drop';

/** One file-system operation; `H` is the shell's handle (a FileHandle or a file descriptor). */
export type Op<H> =
  | { op: 'create'; path: string; mode: number }
  | { op: 'writev'; h: H; chunks: Buffer[] }
  | { op: 'fsync'; h: H }
  /** fsync of an open file and of a directory, both done before it returns (see commitNewFile). */
  | { op: 'fsyncWithDir'; h: H; dir: string }
  | { op: 'close'; h: H }
  | { op: 'openDir'; path: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'unlink'; path: string }
  | { op: 'mkdir'; path: string; mode: number; recursive: boolean }
  | { op: 'chmod'; path: string; mode: number };

/** A protocol: yields operations, receives each one's result. */
export type Steps<H, R = void> = Generator<Op<H>, R, unknown>;

/** Runs an operation that may fail and whose failure changes nothing (clean-up). */
function* quietly<H>(op: Op<H>): Steps<H> {
  try { yield op; } catch { /* clean-up only: the first error is the one reported */ }
}

/** Creates `path` (O_EXCL, never following a symlink) and writes `chunks`; the file stays open. Removes it when writing fails. */
export function* createAndWrite<H>(path: string, chunks: Buffer[], mode = 0o600): Steps<H, H> {
  let h: H | null = null;
  try {
    h = (yield { op: 'create', path, mode }) as H;
    ioStats.filesCreated++;
    let pending = chunks.filter((c) => c.length > 0);
    while (pending.length > 0) {
      const n = (yield { op: 'writev', h, chunks: pending }) as number;
      ioStats.bytesWritten += n;
      pending = skipBytes(pending, n);
    }
    crashPoint('after-write');
    return h;
  } catch (e) {
    if (h !== null) yield* quietly<H>({ op: 'close', h });
    // EEXIST means the name was someone else's: never remove what we did not create.
    if (errnoOf(e) !== 'EEXIST') yield* quietly<H>({ op: 'unlink', path });
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

export function* fsyncDir<H>(dir: string): Steps<H> {
  const h = (yield { op: 'openDir', path: dir }) as H;
  try { yield { op: 'fsync', h }; ioStats.fsyncs++; } finally { yield { op: 'close', h }; }
}

/** New file, written, optionally fsynced, closed; removed on failure. */
export function* writeNewFile<H>(path: string, chunks: Buffer[], sync: boolean, mode = 0o600): Steps<H> {
  const h = yield* createAndWrite<H>(path, chunks, mode);
  try {
    if (sync) { yield { op: 'fsync', h }; ioStats.fsyncs++; }
    crashPoint('after-fsync');
    yield { op: 'close', h };
  } catch (e) {
    yield* quietly<H>({ op: 'close', h });
    yield* quietly<H>({ op: 'unlink', path });
    throw e;
  }
}

/** Renames the temp file to its final name; on failure removes the temp file (it is ours). */
function* renameIntoPlace<H>(tmpPath: string, finalPath: string): Steps<H> {
  try {
    yield { op: 'rename', from: tmpPath, to: finalPath };
    ioStats.renames++;
  } catch (e) {
    yield* quietly<H>({ op: 'unlink', path: tmpPath });
    throw e;
  }
}

/**
 * Replacing a file (state/<id>): new file at `tmpPath`, fsync, rename to `finalPath`, fsync
 * `finalDir`. A crash before the rename leaves only a temp file; after it, a complete file, and
 * the old content survives until then.
 */
export function* commitFile<H>(tmpPath: string, finalPath: string, finalDir: string, chunks: Buffer[], sync: boolean): Steps<H> {
  yield* writeNewFile<H>(tmpPath, chunks, sync);
  yield* renameIntoPlace<H>(tmpPath, finalPath);
  crashPoint('after-rename');
  // A failure here leaves the file in place but not known durable: the caller reports a temporary
  // failure, and a retrying client may cause a duplicate, never a loss.
  if (sync) yield* fsyncDir<H>(finalDir);
  crashPoint('after-dirsync');
}

/**
 * A file under a name that is new (a queue file): new file at `tmpPath`, rename to `finalPath`,
 * fsync the file, fsync `finalDir`; only then return (the caller acknowledges). A crash before the
 * rename leaves only a temp file (never visible in the queue). A crash after it and before the
 * fsyncs can leave a file cut short under the final name after a power loss: its header names the
 * message size, so readers move it to corrupt/ and never deliver it, and it was never acknowledged.
 *
 * Why the rename comes before the fsyncs (docs/benchmarks.md, "Device bytes"): on ext4 every fsync
 * commits the whole journal transaction, so the file's fsync also commits the rename and the
 * directory's fsync then has nothing left to commit: one journal commit per message instead of
 * two. On file systems that do not work that way it costs nothing: both are still fsynced.
 */
export function* commitNewFile<H>(tmpPath: string, finalPath: string, finalDir: string, chunks: Buffer[], sync: boolean,
  placed?: () => void): Steps<H> {
  const h = yield* createAndWrite<H>(tmpPath, chunks, 0o600);
  try {
    yield* renameIntoPlace<H>(tmpPath, finalPath);
    crashPoint('after-rename');
    placed?.();
    // A failure from here leaves the file in place but not known durable: the caller reports a
    // temporary failure, and a retrying client may cause a duplicate, never a loss.
    // The file's and the directory's fsync are issued together by the async shell (one after the
    // other by the sync one), and both finish before the caller acknowledges: with a journal they
    // wait for the same commit; without one the device gets both flushes at once.
    if (sync) { yield { op: 'fsyncWithDir', h, dir: finalDir }; ioStats.fsyncs += 2; }
    crashPoint('after-fsync');
  } finally {
    yield* quietly<H>({ op: 'close', h });
  }
  crashPoint('after-dirsync');
}

/**
 * Creates what is missing of the spool layout. The root is 0711 (others may only pass through, to
 * reach drop/); drop/ is 01777 like /tmp, set by chmod because mkdir's mode is cut by the umask.
 * Existing directories keep their modes (`sysmail doctor` checks them).
 */
export function* ensureLayout<H>(dir: string): Steps<H> {
  yield { op: 'mkdir', path: dir, mode: 0o711, recursive: true };
  for (const a of PRIVATE_AREAS) yield* mkdirIfMissing<H>(join(dir, a), 0o700);
  if (yield* mkdirIfMissing<H>(join(dir, 'drop'), 0o700)) yield { op: 'chmod', path: join(dir, 'drop'), mode: 0o1777 };
}

function* mkdirIfMissing<H>(path: string, mode: number): Steps<H, boolean> {
  try {
    yield { op: 'mkdir', path, mode, recursive: false };
    return true;
  } catch (e) {
    if (errnoOf(e) === 'EEXIST') return false;
    throw e;
  }
}

/**
 * Drives a protocol with a synchronous executor (commit-sync.ts). The asynchronous driver is the
 * same loop with `await` (fsutil.ts).
 */
export function runSync<H, R>(steps: Steps<H, R>, exec: (op: Op<H>) => unknown): R {
  let r = steps.next();
  while (!r.done) {
    let value: unknown;
    try { value = exec(r.value); } catch (e) { r = steps.throw(e); continue; }
    r = steps.next(value);
  }
  return r.value;
}

export async function runAsync<H, R>(steps: Steps<H, R>, exec: (op: Op<H>) => Promise<unknown>): Promise<R> {
  let r = steps.next();
  while (!r.done) {
    let value: unknown;
    try { value = await exec(r.value); } catch (e) { r = steps.throw(e); continue; }
    r = steps.next(value);
  }
  return r.value;
}
