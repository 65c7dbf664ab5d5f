/**
 * Queueing one message, the rules both spool shells follow (FileSpool.submit with
 * node:fs/promises, submitSync in commit-sync.ts without): the size limit, the file format
 * (format.ts encodeHeader, which also refuses a bad envelope), the id and temp names, the commit
 * protocol (protocol.ts commitNewFile) and the optimistic layout. Pure steps, no I/O of its own.
 *
 * Guarantees: the returned id names a complete, fsynced queue file (disk mode); every failure is a
 * SysmailError: ETOOBIG (EX_DATAERR), a refused envelope (format.ts), or an ioError (EX_TEMPFAIL).
 */
import { join } from 'node:path';
import { EX, SysmailError } from '../core/errors.js';
import { encodeHeader } from './format.js';
import { selfToken } from './owner.js';
import { commitNewFile, ensureLayout, errnoOf, ioFail, type Steps } from './protocol.js';
import type { Envelope } from './types.js';

export const DEFAULT_MAX_MESSAGE_SIZE = 25 * 1024 * 1024;

/** Refuses a message larger than `max` bytes (EX_DATAERR, SMTP 552). */
export function checkSize(message: Buffer, max: number): void {
  if (message.length > max) {
    throw new SysmailError('ETOOBIG', `the message is ${message.length} bytes, more than the limit of ${max}`, {
      exit: EX.DATAERR, smtpCode: 552, dsn: '5.3.4', hint: 'send a smaller message, or raise general.max_message_size',
    });
  }
}

/** What one queue commit needs; `layoutMade`: the layout was set up by this process already. */
export interface QueueCommit {
  dir: string; id: string; envelope: Envelope; message: Buffer; sync: boolean; layoutMade: boolean;
  /** Called once the file is complete under its queue name, before the fsyncs (Spool.submit). */
  placed?: () => void;
}

/**
 * The commit of a message already size-checked, under a fresh id. Returns true when it had to make
 * the spool layout.
 */
export function* queueCommit<H>(c: QueueCommit): Steps<H, boolean> {
  const header = encodeHeader(c.envelope, c.message.length);
  const write = () => commitNewFile<H>(join(c.dir, 'tmp', `${c.id}.${selfToken()}`), join(c.dir, 'queue', c.id), join(c.dir, 'queue'), [header, c.message], c.sync, c.placed);
  try {
    // Optimistic: the layout exists for every message but the first, so it is made (eight
    // mkdir calls, ~1.6 ms of each sendmail) only when the write finds it missing.
    try { yield* write(); return false; } catch (e) { if (errnoOf(e) !== 'ENOENT' || c.layoutMade) throw e; }
    try { yield* ensureLayout<H>(c.dir); } catch (e) { throw ioFail(`cannot set up the spool ${c.dir}`, e); }
    yield* write();
    return true;
  } catch (e) {
    throw e instanceof SysmailError ? e : ioFail(`cannot queue the message in ${c.dir}`, e);
  }
}
