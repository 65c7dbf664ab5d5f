/**
 * Maildir delivery (and the `maildir` transport).
 *
 * Guarantees: a message appears in new/ complete or not at all: it is written
 * to tmp/ under a unique name (O_EXCL, never overwriting), fsynced, linked into
 * new/ and new/ is fsynced before success is reported. Missing tmp/ new/ cur/
 * are created with mode 0700. When an owner is given (root delivering into a
 * user's home), existing directories must be real directories owned by that
 * user (no symlinks), and everything created is chowned to the user. Every
 * directory is opened once and used through its descriptor (safe-dir.ts), so
 * a user who swaps Maildir/tmp for a symbolic link mid-delivery gets a
 * deferral, never a file written where the link points.
 *
 * Failure: throws an ioError (temporary); the tmp file is removed. The
 * transport turns that into `deferred`, never a bounce.
 */
import { constants } from 'node:fs';
import { link, open, rename, unlink } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ioError, SysmailError } from '../core/errors.js';
import type { MaildirTransportConfig } from '../config/types.js';
import type { OutgoingMessage, RecipientResult, Transport, TransportContext } from './types.js';
import { errnoOf, uniqueToken, writeAll } from './fsutil.js';
import { inDir, openChild, openSafeDir, refuseDir, syncDir, type SafeDir } from './safe-dir.js';
import { addDeliveryHeaders, resultFromError } from './mailbox.js';

export interface MaildirOwner { uid: number; gid: number }

export interface MaildirOptions {
  /** chown created directories and the message to this user; also enforces ownership of existing ones. */
  owner?: MaildirOwner;
  /** With an owner: the trusted directory (the home) below which nothing is followed. Default: the Maildir itself. */
  base?: string;
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

/** Opens the Maildir (creating it and tmp/ new/ cur/ as needed) without following links below the trusted base. */
async function openMaildir(maildir: string, opts: MaildirOptions): Promise<{ root: SafeDir; tmp: SafeDir; cur: SafeDir; new: SafeDir }> {
  const dir = resolve(maildir);
  // With an owner, only the base (a home directory from /etc/passwd) is resolved; below it is the user's.
  const base = opts.owner ? resolve(opts.base ?? dir) : dir;
  const rel = relative(base, dir);
  if (rel.startsWith('..') || isAbsolute(rel)) throw refuseDir(dir, `it is not inside ${base}`);
  const root = await openSafeDir(base, rel.split(sep), { owner: opts.owner, create: true });
  const subs: SafeDir[] = [];
  try {
    for (const sub of SUBDIRS) subs.push(await openChild(root, sub, { owner: opts.owner, create: true }));
  } catch (e) {
    for (const d of [root, ...subs]) await d.fh.close().catch(() => {});
    throw e;
  }
  return { root, tmp: subs[0]!, new: subs[1]!, cur: subs[2]! };
}

/** Creates the Maildir root (and missing parents) and tmp/ new/ cur/ as needed. */
export async function ensureMaildir(maildir: string, owner?: MaildirOwner, base?: string): Promise<void> {
  const d = await openMaildir(maildir, { owner, base });
  for (const x of [d.root, d.tmp, d.new, d.cur]) await x.fh.close();
}

async function createTmp(tmp: SafeDir, opts: MaildirOptions): Promise<{ name: string; fh: Awaited<ReturnType<typeof open>> }> {
  const host = opts.hostname ?? osHostname();
  const now = opts.now ?? Date.now;
  for (let i = 0; ; i++) {
    const name = maildirFileName(now(), process.pid, uniqueToken(), host);
    try {
      const fh = await open(inDir(tmp, name),
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      return { name, fh };
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST' || i >= 5) throw err;
    }
  }
}

/** Links tmp/NAME into new/, choosing a fresh name if taken; falls back to rename where hard links are unsupported. */
async function publish(tmp: SafeDir, dest: SafeDir, name: string, opts: MaildirOptions): Promise<string> {
  const tmpPath = inDir(tmp, name);
  let target = name;
  for (let i = 0; ; i++) {
    try {
      await link(tmpPath, inDir(dest, target));
      await unlink(tmpPath).catch(() => {});
      return join(dest.path, target);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'EEXIST' && i < 5) {
        target = maildirFileName((opts.now ?? Date.now)(), process.pid, uniqueToken(), opts.hostname ?? osHostname());
        continue;
      }
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'EMLINK') {
        await rename(tmpPath, inDir(dest, target));
        return join(dest.path, target);
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
  let d: Awaited<ReturnType<typeof openMaildir>> | null = null;
  try {
    d = await openMaildir(dir, opts);
    const { name, fh } = await createTmp(d.tmp, opts);
    tmpPath = inDir(d.tmp, name);
    try {
      await writeAll(fh, message);
      if (opts.owner) await fh.chown(opts.owner.uid, opts.owner.gid);
      await fh.sync();
    } finally {
      await fh.close();
    }
    const path = await publish(d.tmp, d.new, name, opts);
    tmpPath = null;
    await syncDir(d.new);
    return path;
  } catch (err) {
    if (tmpPath) await unlink(tmpPath).catch(() => {});
    if (err instanceof SysmailError) throw err;
    throw ioError(`cannot deliver into Maildir ${dir}`, err);
  } finally {
    if (d) for (const x of [d.root, d.tmp, d.new, d.cur]) await x.fh.close().catch(() => {});
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
