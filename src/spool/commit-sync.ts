/**
 * The spool's blocking I/O shell, for the sendmail fast path (src/cli/sendmail-fast.ts): queueing
 * one message with the same rules and protocol as FileSpool.submit (queue-commit.ts, protocol.ts),
 * run with node:fs's synchronous calls, so that path loads no node:fs/promises and runs no promise.
 *
 * Guarantees: as FileSpool.submit (docs/QUEUE-FORMAT.md): returns the id only once the queue file
 * and queue/ are fsynced (disk mode); throws a SysmailError otherwise, leaving no partial file.
 */
import { chmodSync, closeSync, constants, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writevSync } from 'node:fs';
import { idGenerator } from './ids.js';
import { runSync, type Op } from './protocol.js';
import { checkSize, DEFAULT_MAX_MESSAGE_SIZE, queueCommit } from './queue-commit.js';
import type { Envelope } from './types.js';

/** The synchronous executor of protocol.ts's operations (the handle is a file descriptor). */
function exec(o: Op<number>): unknown {
  switch (o.op) {
    case 'create': return openSync(o.path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, o.mode);
    case 'writev': return writevSync(o.h, o.chunks);
    case 'fsync': return fsyncSync(o.h);
    case 'fsyncWithDir': {
      fsyncSync(o.h);
      const d = openSync(o.dir, constants.O_RDONLY | constants.O_DIRECTORY);
      try { return fsyncSync(d); } finally { closeSync(d); }
    }
    case 'close': return closeSync(o.h);
    case 'openDir': return openSync(o.path, constants.O_RDONLY | constants.O_DIRECTORY);
    case 'rename': return renameSync(o.from, o.to);
    case 'unlink': return unlinkSync(o.path);
    case 'mkdir': return mkdirSync(o.path, { recursive: o.recursive, mode: o.mode });
    case 'chmod': return chmodSync(o.path, o.mode);
  }
}

export interface SyncSpoolOptions {
  dir: string;
  /** "ram": the same files, no fsync. */
  mode?: 'disk' | 'ram';
  maxMessageSize?: number;
  now?: () => number;
  random?: () => number;
}

/** FileSpool.submit, blocking: the message is queued durably under the returned id. */
export function submitSync(opts: SyncSpoolOptions, envelope: Envelope, message: Buffer): string {
  checkSize(message, opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE);
  const id = idGenerator(opts.now ?? Date.now, opts.random ?? Math.random)();
  runSync(queueCommit<number>({ dir: opts.dir, id, envelope, message, sync: (opts.mode ?? 'disk') === 'disk', layoutMade: false }), exec);
  return id;
}
