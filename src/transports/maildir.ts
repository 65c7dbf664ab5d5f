/**
 * Maildir delivery (and the `maildir` transport).
 *
 * Guarantees: a message appears in new/ complete or not at all: it is written
 * to tmp/ under a unique name (O_EXCL, never overwriting), fsynced, linked into
 * new/ and new/ is fsynced before success is reported. Missing tmp/ new/ cur/
 * are created with mode 0700. When an owner is given (root delivering into a
 * user's home), existing directories must be real directories owned by that
 * user (no symlinks), and everything created is chowned to the user.
 *
 * Failure: throws an ioError (temporary); the tmp file is removed. The
 * transport turns that into `deferred`, never a bounce.
 */
import { constants } from 'node:fs';
import { chown, link, lstat, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join, resolve } from 'node:path';
import { ioError, SysmailError, EX } from '../core/errors.js';
import type { MaildirTransportConfig } from '../config/types.js';
import type { OutgoingMessage, RecipientResult, Transport, TransportContext } from './types.js';
import { errnoOf, fsyncDir, uniqueToken, writeAll } from './fsutil.js';
import { addDeliveryHeaders, resultFromError } from './mailbox.js';

export interface MaildirOwner { uid: number; gid: number }

export interface MaildirOptions {
  /** chown created directories and the message to this user; also enforces ownership of existing ones. */
  owner?: MaildirOwner;
  /** Host part of the file name. Default os.hostname(). */
  hostname?: string;
  now?: () => number;
}

const SUBDIRS = ['tmp', 'new', 'cur'] as const;

/** Maildir unique name: time, microseconds, pid, random, host ('/' and ':' escaped as the spec asks). */
export function maildirFileName(nowMs: number, pid: number, token: string, host: string): string {
  const sec = Math.floor(nowMs / 1000);
  const usec = Math.floor((nowMs % 1000) * 1000);
  const safeHost = host.replace(/\//g, '\\057').replace(/:/g, '\\072') || 'localhost';
  return `${sec}.M${usec}P${pid}R${token}.${safeHost}`;
}

function refuse(path: string, why: string): SysmailError {
  return new SysmailError('EMAILDIR', `refusing to deliver into ${path}: ${why}`, {
    exit: EX.TEMPFAIL, temporary: true, smtpCode: 451, dsn: '4.3.0',
    hint: 'fix the directory (it must be a real directory owned by the recipient), then run `sysmail flush`',
  });
}

/** Checks an existing directory; with an owner, it must not be a symlink and must belong to the owner. */
async function checkDir(path: string, owner: MaildirOwner | undefined): Promise<void> {
  const st = owner ? await lstat(path) : await stat(path);
  if (st.isSymbolicLink()) throw refuse(path, 'it is a symbolic link');
  if (!st.isDirectory()) throw refuse(path, 'it is not a directory');
  if (owner && st.uid !== owner.uid) throw refuse(path, `it is owned by uid ${st.uid}, not ${owner.uid}`);
}

async function makeDir(path: string, owner: MaildirOwner | undefined): Promise<void> {
  try {
    await mkdir(path, { mode: 0o700 });
    if (owner) await chown(path, owner.uid, owner.gid);
  } catch (err) {
    if (errnoOf(err) !== 'EEXIST') throw err;
    await checkDir(path, owner);
  }
}

/** Creates the Maildir root (and missing parents) and tmp/ new/ cur/ as needed. */
export async function ensureMaildir(maildir: string, owner?: MaildirOwner): Promise<void> {
  const dir = resolve(maildir);
  try {
    await checkDir(dir, owner);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
    // Parents are created too; each created level is given to the owner.
    const first = await mkdir(dir, { recursive: true, mode: 0o700 });
    if (owner && first) {
      let p = dir;
      const created: string[] = [];
      while (p.length >= first.length) { created.push(p); p = join(p, '..'); }
      for (const c of created) await chown(c, owner.uid, owner.gid);
    }
  }
  for (const sub of SUBDIRS) await makeDir(join(dir, sub), owner);
}

async function createTmp(dir: string, opts: MaildirOptions): Promise<{ name: string; fh: Awaited<ReturnType<typeof open>> }> {
  const host = opts.hostname ?? osHostname();
  const now = opts.now ?? Date.now;
  for (let i = 0; ; i++) {
    const name = maildirFileName(now(), process.pid, uniqueToken(), host);
    try {
      const fh = await open(join(dir, 'tmp', name),
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      return { name, fh };
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST' || i >= 5) throw err;
    }
  }
}

/** Links tmp/NAME into new/, choosing a fresh name if taken; falls back to rename where hard links are unsupported. */
async function publish(dir: string, name: string, opts: MaildirOptions): Promise<string> {
  const tmpPath = join(dir, 'tmp', name);
  let target = join(dir, 'new', name);
  for (let i = 0; ; i++) {
    try {
      await link(tmpPath, target);
      await unlink(tmpPath).catch(() => {});
      return target;
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'EEXIST' && i < 5) {
        target = join(dir, 'new', maildirFileName((opts.now ?? Date.now)(), process.pid, uniqueToken(), opts.hostname ?? osHostname()));
        continue;
      }
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'EMLINK') {
        await rename(tmpPath, target);
        return target;
      }
      throw err;
    }
  }
}

/**
 * Delivers one message into a Maildir and returns the path of the new file.
 * Stable signature (also used for the OCI archive): (dir, message) => path.
 */
export async function deliverToMaildir(dir: string, message: Buffer, opts: MaildirOptions = {}): Promise<string> {
  let tmpPath: string | null = null;
  try {
    await ensureMaildir(dir, opts.owner);
    const { name, fh } = await createTmp(dir, opts);
    tmpPath = join(dir, 'tmp', name);
    try {
      await writeAll(fh, message);
      if (opts.owner) await fh.chown(opts.owner.uid, opts.owner.gid);
      await fh.sync();
    } finally {
      await fh.close();
    }
    const path = await publish(dir, name, opts);
    tmpPath = null;
    await fsyncDir(join(dir, 'new'));
    return path;
  } catch (err) {
    if (tmpPath) await unlink(tmpPath).catch(() => {});
    if (err instanceof SysmailError) throw err;
    throw ioError(`cannot deliver into Maildir ${dir}`, err);
  }
}

/** The `maildir` transport: one copy per recipient (each with its own Delivered-To), all into `cfg.path`. */
export function createMaildirTransport(cfg: MaildirTransportConfig, ctx: TransportContext): Transport {
  return {
    name: cfg.name,
    type: 'maildir',
    async deliver(msg: OutgoingMessage, rcpts: string[]): Promise<RecipientResult[]> {
      const results: RecipientResult[] = [];
      for (const rcpt of rcpts) {
        try {
          const bytes = addDeliveryHeaders(msg.raw, msg.envelope.sender, rcpt);
          const path = await deliverToMaildir(cfg.path, bytes, { hostname: ctx.config.general.hostname, now: ctx.now });
          results.push({ rcpt, outcome: 'sent', code: 250, dsn: '2.0.0', text: `delivered to ${path}` });
        } catch (err) {
          results.push(resultFromError(rcpt, err));
        }
      }
      return results;
    },
    async close() {},
  };
}
