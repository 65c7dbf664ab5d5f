/**
 * mbox delivery (and the `mbox` transport): mboxrd format, dot-locked append.
 *
 * Guarantees: the mailbox is locked with `FILE.lock` (O_EXCL; a lock older
 * than MBOX_LOCK_STALE_MS is removed; the wait is bounded by
 * MBOX_LOCK_WAIT_MS); each entry is a `From sender asctime` line, the message
 * with `>From ` quoting of lines matching /^>*From / (mboxrd) and a trailing
 * blank line; the file is fsynced before success; if any write or the fsync
 * fails, the file is truncated back to its original size so a half-written
 * message never stays. Symlinked or hard-linked mailboxes are refused (root
 * writes here on behalf of users). A new mailbox is created 0600 and, when an
 * owner is given, chowned to it.
 *
 * Failure: throws a temporary SysmailError (lock timeout: ELOCKED; I/O: ELOCALIO);
 * the transport reports `deferred`, never a bounce.
 */
import { constants } from 'node:fs';
import { lstat, open, unlink, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ioError, SysmailError, tempError } from '../core/errors.js';
import type { MboxTransportConfig } from '../config/types.js';
import type { OutgoingMessage, RecipientResult, Transport, TransportContext } from './types.js';
import { errnoOf, writeAll } from './fsutil.js';
import { inDir, openSafeDir, parentAndName, syncDir, type SafeDir } from './safe-dir.js';
import { addDeliveryHeaders, resultFromError } from './mailbox.js';

/** Longest wait for another program's lock before deferring. */
export const MBOX_LOCK_WAIT_MS = 10_000;
/** A lock file older than this is left over from a crash and is removed (as procmail and mutt do). */
export const MBOX_LOCK_STALE_MS = 5 * 60_000;
export const MBOX_LOCK_POLL_MS = 100;

export interface MboxOptions {
  /** Create the mailbox for this user (chowned) and require an existing one to belong to them. */
  owner?: { uid: number; gid: number };
  /** Create a missing parent directory (mode 0700). The per-user spool (/var/mail) is not created. */
  createParent?: boolean;
  lockWaitMs?: number;
  lockStaleMs?: number;
  lockPollMs?: number;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number) => String(n).padStart(2, '0');

/** asctime(3) in local time, as in every mbox From_ line: "Thu Jan  1 00:00:00 1970". */
export function asctime(d: Date): string {
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${d.getFullYear()}`;
}

/** The separator line (without newline); the null sender is written as MAILER-DAEMON. */
export function mboxFromLine(sender: string, date: Date): string {
  const who = sender.replace(/[\s\0]/g, '') || 'MAILER-DAEMON';
  return `From ${who} ${asctime(date)}`;
}

/** mboxrd quoting: every line matching /^>*From / gets one more '>'. Byte-exact otherwise. */
export function quoteFromLines(message: Buffer): Buffer {
  const s = message.toString('latin1');
  return Buffer.from(s.replace(/^(>*From )/gm, '>$1'), 'latin1');
}

/** One complete mbox entry: From_ line, quoted message, guaranteed trailing blank line. */
export function formatMboxEntry(sender: string, date: Date, message: Buffer): Buffer {
  const body = quoteFromLines(message);
  const endsNl = body.length > 0 && body[body.length - 1] === 0x0a;
  return Buffer.concat([Buffer.from(mboxFromLine(sender, date) + '\n', 'utf8'), body, Buffer.from(endsNl ? '\n' : '\n\n')]);
}

function lockedError(path: string, lockPath: string, waitedMs: number): SysmailError {
  return tempError('ELOCKED',
    `mailbox ${path} is locked by another program (${lockPath}); gave up after ${waitedMs} ms`, undefined,
    `if no mail program is using it, remove ${lockPath}; sysmail retries on its own`);
}

/** Takes the dot lock `path.lock`; resolves to a function that releases it. */
export async function dotLock(path: string, opts: MboxOptions = {}, shown = path): Promise<() => Promise<void>> {
  const lockPath = `${path}.lock`;
  const shownLock = `${shown}.lock`;
  const waitMs = opts.lockWaitMs ?? MBOX_LOCK_WAIT_MS;
  const staleMs = opts.lockStaleMs ?? MBOX_LOCK_STALE_MS;
  const pollMs = opts.lockPollMs ?? MBOX_LOCK_POLL_MS;
  const start = Date.now();
  for (;;) {
    try {
      const fh = await open(lockPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try { await fh.write(`${process.pid}\n`); } finally { await fh.close(); }
      return async () => { await unlink(lockPath).catch(() => {}); };
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw ioError(`cannot create the lock file ${shownLock}`, err);
    }
    try {
      const st = await lstat(lockPath);
      if (Date.now() - st.mtimeMs > staleMs) {
        // Re-check just before removing so a lock renewed meanwhile is not broken.
        const again = await lstat(lockPath);
        if (again.ino === st.ino && again.mtimeMs === st.mtimeMs) await unlink(lockPath);
        continue;
      }
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') continue;
      throw ioError(`cannot inspect the lock file ${shownLock}`, err);
    }
    const waited = Date.now() - start;
    if (waited >= waitMs) throw lockedError(shown, shownLock, waited);
    await sleep(Math.min(pollMs, Math.max(1, waitMs - waited)));
  }
}

function refuse(path: string, why: string): SysmailError {
  return tempError('EMBOX', `refusing to append to ${path}: ${why}`, undefined,
    'the mailbox must be a regular file with one link, owned by its user; fix it, then run `sysmail flush`');
}

async function openMailbox(path: string, shown: string): Promise<{ fh: FileHandle; created: boolean }> {
  const base = constants.O_RDWR | constants.O_APPEND | constants.O_NOFOLLOW;
  try {
    return { fh: await open(path, base | constants.O_CREAT | constants.O_EXCL, 0o600), created: true };
  } catch (err) {
    if (errnoOf(err) !== 'EEXIST') throw err;
  }
  try {
    return { fh: await open(path, base), created: false };
  } catch (err) {
    if (errnoOf(err) === 'ELOOP') throw refuse(shown, 'it is a symbolic link');
    throw err;
  }
}

/** What must precede the entry so the previous one ends with a blank line. */
async function separatorFor(fh: FileHandle, size: number): Promise<Buffer> {
  if (size === 0) return Buffer.alloc(0);
  const tail = Buffer.alloc(Math.min(2, size));
  await fh.read(tail, 0, tail.length, size - tail.length);
  if (tail.length === 2 && tail[0] === 0x0a && tail[1] === 0x0a) return Buffer.alloc(0);
  return Buffer.from(tail[tail.length - 1] === 0x0a ? '\n' : '\n\n');
}

/** Appends one formatted entry (see formatMboxEntry) under the dot lock. */
export async function appendToMbox(path: string, entry: Buffer, opts: MboxOptions = {}): Promise<void> {
  // The directory is opened once and used through its descriptor: no component can be swapped
  // for a link between the checks and the writes (safe-dir.ts).
  const { parent, name } = parentAndName(path);
  let dir: SafeDir;
  try {
    dir = await openSafeDir(parent, [], { create: opts.createParent === true });
  } catch (err) {
    if (err instanceof SysmailError) throw err;
    throw ioError(`cannot open the directory of mailbox ${path}`, err);
  }
  const at = inDir(dir, name);
  let release: (() => Promise<void>) | null = null;
  let fh: FileHandle | null = null;
  try {
    release = await dotLock(at, opts, path);
    const opened = await openMailbox(at, path);
    fh = opened.fh;
    const st = await fh.stat();
    if (!st.isFile()) throw refuse(path, 'it is not a regular file');
    if (st.nlink !== 1) throw refuse(path, `it has ${st.nlink} hard links`);
    if (opts.owner) {
      if (opened.created) {
        try {
          await fh.chown(opts.owner.uid, opts.owner.gid);
        } catch (err) {
          await unlink(at).catch(() => {});
          throw ioError(`cannot give the new mailbox ${path} to uid ${opts.owner.uid}`, err);
        }
      } else if (st.uid !== opts.owner.uid) {
        throw refuse(path, `it is owned by uid ${st.uid}, not ${opts.owner.uid}`);
      }
    }
    const original = st.size;
    try {
      await writeAll(fh, Buffer.concat([await separatorFor(fh, original), entry]));
      await fh.sync();
    } catch (err) {
      // Never leave half a message: cut back to where we started.
      await fh.truncate(original).then(() => fh?.sync()).catch(() => {});
      throw err;
    }
    if (opened.created) await syncDir(dir);
  } catch (err) {
    if (err instanceof SysmailError) throw err;
    throw ioError(`cannot append to mailbox ${path}`, err);
  } finally {
    await fh?.close().catch(() => {});
    await release?.();
    await dir.fh.close().catch(() => {});
  }
}

/** The `mbox` transport: one entry per recipient (each with its own Delivered-To) in `cfg.path`. */
export function createMboxTransport(cfg: MboxTransportConfig, ctx: TransportContext, opts: MboxOptions = {}): Transport {
  return {
    name: cfg.name,
    type: 'mbox',
    async deliver(msg: OutgoingMessage, rcpts: string[]): Promise<RecipientResult[]> {
      const results: RecipientResult[] = [];
      for (const rcpt of rcpts) {
        try {
          const entry = formatMboxEntry(msg.envelope.sender, new Date(ctx.now()),
            addDeliveryHeaders(msg.raw, msg.envelope.sender, rcpt));
          await appendToMbox(cfg.path, entry, { createParent: true, ...opts });
          results.push({ rcpt, outcome: 'sent', code: 250, dsn: '2.0.0', text: `appended to ${cfg.path}` });
        } catch (err) {
          results.push(resultFromError(rcpt, err));
        }
      }
      return results;
    },
    async close() {},
  };
}
