/**
 * The files of one spool and the operations its parts share: the one internal module that
 * file-spool.ts (the `Spool`), claim.ts, drop.ts and recover.ts all use, so none of them reaches
 * into another. Only spool/ imports it; everyone else takes the `Spool` interface (types.ts).
 *
 * Guarantees: `commit` is the queue commit protocol (queue-commit.ts, durable before it resolves);
 * `writeState` replaces state/<id> durably; `quarantine` and `recordCorrupt` move or record a file
 * under corrupt/ with a reason, never delete it, and report it (the logger, `quarantined`).
 * Every local I/O failure is an ioError (EX_TEMPFAIL).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { encodeState } from './format.js';
import type { Area } from './fsutil.js';
import { commitFile, ensureLayout, errnoOf, ioFail, listDir, runQueueCommit, tryRename, writeNewFile } from './fsutil.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from './queue-commit.js';
import { idGenerator, isValidId } from './ids.js';
import { selfToken, splitOwned } from './owner.js';
import type { DeliveryState, Envelope, SpoolArea } from './types.js';

export interface SpoolOptions {
  dir: string;
  /** "ram": the same files, no fsync (the spool is meant to be on tmpfs). */
  mode?: 'disk' | 'ram';
  now?: () => number;
  random?: () => number;
  /** Largest message accepted by submit and importDrop, in bytes. */
  maxMessageSize?: number;
  /** Receives a `corrupt` event for each file moved to corrupt/. */
  logger?: Logger;
  /**
   * Checks and prepares what importDrop takes from drop/, as the sendmail path does (throws a
   * SysmailError to refuse). The spool knows nothing of message formats; the CLI provides it.
   */
  prepareImport?: PrepareImport;
}

export type PrepareImport = (envelope: Envelope, message: Buffer) => Promise<{ sender: string; recipients: string[]; message: Buffer }>;


/** The id in an active/ name "<id>.<pid>.<start>.<boot>", or null for a foreign name. */
export function claimedId(name: string): string | null {
  const s = splitOwned(name);
  return s && isValidId(s.tag) ? s.tag : null;
}

export class SpoolStore {
  readonly dir: string;
  readonly mode: 'disk' | 'ram';
  readonly maxMessageSize: number;
  readonly now: () => number;
  readonly random: () => number;
  readonly logger: Logger | undefined;
  readonly prepareImport: PrepareImport | undefined;
  /** A fresh queue id (ULID-like, sortable by time); `commit` takes one given in advance. */
  readonly newId: () => string;
  private layout: Promise<void> | null = null;
  /** Files this instance moved to corrupt/, for recoverStale's report. */
  readonly quarantined: { id: string; file: string; reason: string }[] = [];
  /** Queue id -> the drop/ name it was imported from, so the log can link the two. */
  readonly importedFrom = new Map<string, string>();

  constructor(opts: SpoolOptions) {
    this.dir = opts.dir;
    this.mode = opts.mode ?? 'disk';
    this.maxMessageSize = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.logger = opts.logger;
    this.prepareImport = opts.prepareImport;
    this.newId = idGenerator(this.now, this.random);
  }

  /** fsync only on disk: on tmpfs it buys nothing and costs time. */
  get sync(): boolean { return this.mode === 'disk'; }

  path(area: Area, name = ''): string { return join(this.dir, area, name); }

  /** Writers call this first; readers never do. */
  prepare(): Promise<void> {
    this.layout ??= ensureLayout(this.dir).catch((e) => {
      this.layout = null;
      throw ioFail(`cannot set up the spool ${this.dir}`, e);
    });
    return this.layout;
  }

  /** The commit protocol for a message already size-checked (submit, importDrop): queue-commit.ts. */
  async commit(envelope: Envelope, message: Buffer, id = this.newId(), placed?: () => void): Promise<string> {
    const made = await runQueueCommit({ dir: this.dir, id, envelope, message, sync: this.sync, layoutMade: this.layout !== null, placed });
    if (made) this.layout ??= Promise.resolve();
    return id;
  }

  /** Where a message is now: queue/, active/ (reported as queue) or failed/. */
  async locate(id: string): Promise<{ area: SpoolArea; path: string; activeName?: string } | null> {
    const exists = async (p: string) => stat(p).then(() => true, (e) => { if (errnoOf(e) === 'ENOENT') return false; throw e; });
    if (await exists(this.path('queue', id))) return { area: 'queue', path: this.path('queue', id) };
    const active = (await listDir(this.path('active'))).find((n) => claimedId(n) === id);
    if (active) return { area: 'queue', path: this.path('active', active), activeName: active };
    if (await exists(this.path('queue', id))) return { area: 'queue', path: this.path('queue', id) };
    if (await exists(this.path('failed', id))) return { area: 'failed', path: this.path('failed', id) };
    return null;
  }

  /** Durably replaces state/<id> (tmp + fsync + rename + fsync state/). */
  async writeState(id: string, state: DeliveryState): Promise<void> {
    try {
      await commitFile(this.path('tmp', `${id}-state.${selfToken()}`), this.path('state', id), this.path('state'), [encodeState(state)], this.sync);
    } catch (e) {
      throw ioFail(`cannot write the delivery state of ${id}`, e);
    }
  }

  /**
   * Moves `src` into corrupt/ as `base` (or base.N when taken) with a
   * `<name>.reason` record beside it. Returns the corrupt/ name, or null when
   * `src` was already gone.
   */
  async quarantine(src: string, base: string, reason: string, id: string, from: string, extra: Record<string, unknown> = {}): Promise<string | null> {
    await this.prepare();
    let target = base;
    for (let n = 1; await stat(this.path('corrupt', target)).then(() => true, () => false); n++) target = `${base}.${n}`;
    if (!(await tryRename(src, this.path('corrupt', target)))) return null;
    await this.recordCorrupt(target, reason, id, from, extra);
    return target;
  }

  /** Writes corrupt/<name>.reason (not fsynced: losing a reason loses no mail) and reports it. */
  async recordCorrupt(name: string, reason: string, id: string, from: string, extra: Record<string, unknown> = {}): Promise<void> {
    const rec = { reason, from, id, at: new Date(this.now()).toISOString(), ...extra };
    await writeNewFile(this.path('corrupt', `${name}.reason`), [Buffer.from(JSON.stringify(rec) + '\n')], false).catch(() => {});
    this.quarantined.push({ id, file: name, reason });
    this.logger?.event({ event: 'corrupt', id, reason: `${reason} (kept as corrupt/${name})` });
  }

}
