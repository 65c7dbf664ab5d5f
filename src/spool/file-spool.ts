/**
 * The durable file spool (docs/QUEUE-FORMAT.md is the on-disk contract).
 *
 * Guarantees:
 * - `submit` resolves only after the message file and the queue/ directory
 *   are fsynced (disk mode); the message file is written once, never changed.
 *   The rules of that commit are in queue-commit.ts, shared with the blocking
 *   submitSync (commit-sync.ts) of the sendmail fast path.
 * - Retry state lives beside it in state/<id>, written only when a message is
 *   deferred, held or failed: a first-attempt success writes nothing but the
 *   message file.
 * - `claim` is exclusive across processes without a daemon or flock: it is a
 *   rename of queue/<id> to active/<id>.<owner>, which succeeds once.
 * - Readers (`list`, `get`) never write; they report unreadable files with
 *   `corrupt` set. Writers (`claim`, `recoverStale`) move them to corrupt/
 *   with a reason, never delete them, never crash on them.
 * - Every local I/O failure is an ioError (EX_TEMPFAIL): defer, never bounce.
 * The file operations its parts share (commit, state, corrupt/) are store.ts's: this class is
 * that store plus the `Spool` interface; claim.ts, drop.ts and recover.ts take the store.
 */
import { closeSync, constants, openSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tempError } from '../core/errors.js';
import { completeState, encodeHeader, freshState, MAX_HEADER_BYTES, parseHeader, parseState } from './format.js';
import { errnoOf, ioFail, listDir, tryRename, tryUnlink } from './fsutil.js';
import { checkSize, DEFAULT_MAX_MESSAGE_SIZE } from './queue-commit.js';
import { idTime, isValidId, parseId } from './ids.js';
import { isAlive, selfToken, splitOwned } from './owner.js';
import { FileClaim, PendingClaim } from './claim.js';
import { claimedId, SpoolStore, type SpoolOptions } from './store.js';
import type { Claim, CorruptEntry, DeliveryState, Envelope, QueuedMessage, RecoveryReport, Spool, SpoolArea } from './types.js';

export { canWriteQueue, submitToDrop } from './drop.js';
export { ioStats } from './fsutil.js';
export { idTime, isValidId, parseId } from './ids.js';
export type { CorruptEntry, RecoveryReport } from './types.js';
export { claimedId, type PrepareImport, type SpoolOptions } from './store.js';

export function openSpool(opts: SpoolOptions): FileSpool {
  return new FileSpool(opts);
}

/** Recovery for the queue runner (recover.ts), of the spool at this root or of an open spool. */
export async function recoverStale(spool: string | FileSpool): Promise<RecoveryReport> {
  if (typeof spool === 'string') return openSpool({ dir: spool }).recoverStale();
  return (await import('./recover.js')).recoverStale(spool);
}

export { DEFAULT_MAX_MESSAGE_SIZE };

type Entry =
  | { ok: true; envelope: Envelope; headerLength: number; size: number }
  | { ok: false; reason: string; uid: number; mtime: number };

/** Reads and checks a message file's header; null when the file is gone. */
async function readEntry(path: string): Promise<Entry | null> {
  let h;
  try { h = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK); } catch (e) {
    if (errnoOf(e) === 'ENOENT') return null;
    if (errnoOf(e) === 'ELOOP') return { ok: false, reason: 'a symbolic link, not a queue file', uid: -1, mtime: 0 };
    throw e;
  }
  try {
    const st = await h.stat();
    const bad = (reason: string): Entry => ({ ok: false, reason, uid: st.uid, mtime: st.mtimeMs });
    if (!st.isFile()) return bad('not a regular file');
    let len = Math.min(st.size, 8192);
    for (;;) {
      const buf = Buffer.alloc(len);
      const { bytesRead } = await h.read(buf, 0, len, 0);
      const r = parseHeader(buf.subarray(0, bytesRead), bytesRead >= st.size);
      if (r.ok) {
        if (st.size !== r.headerLength + r.size) {
          return bad(`truncated or altered: the file has ${st.size} bytes, its header promises ${r.headerLength + r.size}`);
        }
        return { ok: true, envelope: r.envelope, headerLength: r.headerLength, size: r.size };
      }
      const cap = Math.min(st.size, MAX_HEADER_BYTES);
      if (!r.more) return bad(r.reason);
      if (len >= cap) return bad('truncated: the envelope header has no end line');
      len = Math.min(len * 8, cap);
    }
  } finally {
    await h.close();
  }
}

type StateRead = { ok: true; state: DeliveryState } | { ok: false; reason: string } | null;

async function readStateFile(path: string): Promise<StateRead> {
  let buf: Buffer;
  // A few hundred bytes, usually absent: read in place (fsutil.ts: a thread-pool trip costs more).
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try { buf = readFileSync(fd); } finally { closeSync(fd); }
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return null;
    if (errnoOf(e) === 'ELOOP') return { ok: false, reason: 'state is a symbolic link' };
    throw e;
  }
  return parseState(buf);
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => { while (next < items.length) { const i = next++; out[i] = await fn(items[i] as T); } };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class FileSpool extends SpoolStore implements Spool {
  async submit(envelope: Envelope, message: Buffer, id?: string, placed?: () => void): Promise<string> {
    checkSize(message, this.maxMessageSize);
    return this.commit(envelope, message, id, placed);
  }

  async list(area: SpoolArea = 'queue'): Promise<QueuedMessage[]> {
    try {
      if (area === 'failed') {
        const ids = (await listDir(this.path('failed'))).filter(isValidId).sort();
        const all = await mapLimit(ids, 16, (id) => this.entry(id, 'failed', this.path('failed', id), this.path('failed', `${id}.state`)));
        return all.filter((m): m is QueuedMessage => m !== null);
      }
      const [queued, active] = await Promise.all([listDir(this.path('queue')), listDir(this.path('active'))]);
      const where = new Map<string, string>();
      for (const n of queued) if (isValidId(n)) where.set(n, this.path('queue', n));
      for (const n of active) { const id = claimedId(n); if (id) where.set(id, this.path('active', n)); }
      const all = await mapLimit([...where.keys()].sort(), 16, async (id) => {
        const m = await this.entry(id, 'queue', where.get(id) as string, this.path('state', id));
        if (m !== null) return m;
        // Claimed or released while we listed: look once more where it is now.
        const loc = await this.locate(id);
        return loc && loc.area === 'queue' ? this.entry(id, 'queue', loc.path, this.path('state', id)) : null;
      });
      return all.filter((m): m is QueuedMessage => m !== null);
    } catch (e) {
      throw ioFail(`cannot read the spool ${this.dir}`, e);
    }
  }

  async get(idIn: string): Promise<QueuedMessage | null> {
    const id = parseId(idIn);
    try {
      const loc = await this.locate(id);
      if (loc === null) return null;
      const statePath = loc.area === 'failed' ? this.path('failed', `${id}.state`) : this.path('state', id);
      return await this.entry(id, loc.area, loc.path, statePath);
    } catch (e) {
      throw ioFail(`cannot read message ${id} in ${this.dir}`, e);
    }
  }

  private async entry(id: string, area: SpoolArea, path: string, statePath: string): Promise<QueuedMessage | null> {
    const e = await readEntry(path);
    if (e === null) return null;
    if (!e.ok) {
      const envelope: Envelope = { sender: '', recipients: [], submittedAt: idTime(id), uid: e.uid, user: '', via: 'sendmail' };
      return { id, area, envelope, state: { attempts: 0, nextAttemptAt: 0, recipients: {} }, size: 0, corrupt: `message: ${e.reason}` };
    }
    const s = await readStateFile(statePath);
    const m: QueuedMessage = { id, area, envelope: e.envelope, state: freshState(e.envelope), size: e.size };
    if (s?.ok) m.state = completeState(e.envelope, s.state);
    else if (s) m.corrupt = `state: ${s.reason}`;
    return m;
  }

  /** The claim itself: queue/<id> renamed to active/<id>.<owner>; null when someone else was first. */
  private async take(id: string): Promise<{ name: string; file: string } | null> {
    await this.prepare();
    const name = `${id}.${selfToken()}`;
    const file = this.path('active', name);
    try {
      return (await tryRename(this.path('queue', id), file)) ? { name, file } : null;
    } catch (e) {
      throw ioFail(`cannot claim message ${id} in ${this.dir}`, e);
    }
  }

  async claim(idIn: string): Promise<Claim | null> {
    const id = parseId(idIn);
    const taken = await this.take(id);
    if (taken === null) return null;
    const { name, file } = taken;
    try {
      const e = await readEntry(file);
      if (e === null) return null;
      if (!e.ok) {
        await this.quarantine(file, id, `message: ${e.reason}`, id, `queue/${id}`);
        await this.quarantine(this.path('state', id), `${id}.state`, 'state of a corrupt message', id, `state/${id}`);
        return null;
      }
      return new FileClaim(this, id, name, e.envelope, await this.claimedState(id, e.envelope), e.headerLength);
    } catch (err) {
      // Put it back rather than leave it stuck until this process exits.
      await tryRename(file, this.path('queue', id)).catch(() => {});
      throw ioFail(`cannot read queued message ${id}`, err);
    }
  }

  /**
   * claim() for a message this process has just committed and still holds (serve's listener):
   * the same rename and the same header parse, of the very bytes it wrote, without reading them
   * back. The state file is still read: an admin may have held the message in between.
   */
  async claimCommitted(idIn: string, envelope: Envelope, message: Buffer): Promise<Claim | null> {
    const id = parseId(idIn);
    const r = parseHeader(Buffer.concat([encodeHeader(envelope, message.length), message]), true);
    if (!r.ok) return this.claim(id); // cannot happen (submit wrote these bytes): the disk decides
    const taken = await this.take(id);
    if (taken === null) return null;
    const { name, file } = taken;
    try {
      return new FileClaim(this, id, name, r.envelope, await this.claimedState(id, r.envelope), r.headerLength, message);
    } catch (err) {
      await tryRename(file, this.path('queue', id)).catch(() => {});
      throw ioFail(`cannot read the state of queued message ${id}`, err);
    }
  }

  claimCommitting(idIn: string, envelope: Envelope, message: Buffer, committed: Promise<unknown>): Claim {
    const id = parseId(idIn);
    const held = committed.then(() => this.claimCommitted(id, envelope, message));
    return new PendingClaim(id, envelope, message, held);
  }

  /** The state of a message just claimed; a state file that does not parse goes to corrupt/ and the state starts afresh. */
  private async claimedState(id: string, envelope: Envelope): Promise<DeliveryState> {
    const s = await readStateFile(this.path('state', id));
    if (s?.ok) return completeState(envelope, s.state);
    if (s) await this.quarantine(this.path('state', id), `${id}.state`, `state: ${s.reason}; the message starts again with fresh state`, id, `state/${id}`);
    return freshState(envelope);
  }

  /**
   * A claim for an admin command: also takes back a claim whose owner died,
   * and refuses (EX_TEMPFAIL) while a live process delivers the message.
   */
  private async claimForAdmin(id: string): Promise<Claim | null> {
    const c = await this.claim(id);
    if (c) return c;
    const loc = await this.locate(id).catch((e) => { throw ioFail(`cannot read the spool ${this.dir}`, e); });
    if (!loc?.activeName) return null;
    const s = splitOwned(loc.activeName);
    if (s && !isAlive(s.owner)) {
      await tryRename(loc.path, this.path('queue', id)).catch(() => false);
      const again = await this.claim(id);
      if (again) return again;
    }
    throw tempError('EDELIVERING', `message ${id} is being delivered right now`, undefined,
      'try again in a minute (see `sysmail queue`)', {});
  }

  async hold(id: string): Promise<boolean> { return this.setHeld(parseId(id), true); }
  async unhold(id: string): Promise<boolean> { return this.setHeld(parseId(id), false); }

  private async setHeld(id: string, held: boolean): Promise<boolean> {
    const c = await this.claimForAdmin(id);
    if (!c) return false;
    // Unchanged state is not rewritten: every write is flash wear.
    if ((c.state.held ?? false) === held) { await c.release(); return true; }
    const { held: _old, ...rest } = c.state;
    await c.defer(held ? { ...rest, held: true } : rest);
    return true;
  }

  async remove(idIn: string): Promise<boolean> {
    const id = parseId(idIn);
    await this.prepare();
    try {
      if (await tryUnlink(this.path('failed', id))) {
        await tryUnlink(this.path('failed', `${id}.state`));
        return true;
      }
    } catch (e) {
      throw ioFail(`cannot delete message ${id}`, e);
    }
    const c = await this.claimForAdmin(id);
    if (!c) return false;
    await c.complete();
    return true;
  }

  async importDrop(): Promise<string[]> {
    return (await import('./drop.js')).importDrop(this);
  }

  /**
   * Crash recovery (recover.ts). Run through a second instance without the logger, as the queue
   * runner always has: the report is the caller's to log, once per file moved to corrupt/.
   */
  async recoverStale(): Promise<RecoveryReport> {
    const quiet = new FileSpool({ dir: this.dir, mode: this.mode, now: this.now, random: this.random, maxMessageSize: this.maxMessageSize });
    return (await import('./recover.js')).recoverStale(quiet);
  }

  /** Entries of corrupt/ with their recorded reasons (reads only). */
  async listCorrupt(): Promise<CorruptEntry[]> {
    return (await import('./recover.js')).listCorrupt(this);
  }
}
