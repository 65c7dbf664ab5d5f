/**
 * The spool's blocking I/O shell, for the sendmail fast path (src/cli/sendmail-fast.ts): queueing
 * one message with the same rules and protocol as FileSpool.submit (queue-commit.ts, protocol.ts),
 * run with node:fs's synchronous calls, so that path loads no node:fs/promises and runs no promise.
 *
 * Guarantees: as FileSpool.submit (docs/QUEUE-FORMAT.md): returns the id only once the queue file
 * and queue/ are fsynced (disk mode); throws a SysmailError otherwise, leaving no partial file.
 */
import { execSync } from './exec-sync.js';
import { idGenerator } from './ids.js';
import { runSync } from './protocol.js';
import { checkSize, DEFAULT_MAX_MESSAGE_SIZE, queueCommit } from './queue-commit.js';
import type { Envelope } from './types.js';

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
  runSync(queueCommit<number>({ dir: opts.dir, id, envelope, message, sync: (opts.mode ?? 'disk') === 'disk', layoutMade: false }), execSync);
  return id;
}
