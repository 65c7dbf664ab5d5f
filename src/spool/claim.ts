/**
 * A claim on one queued message: the process that renamed queue/<id> to
 * active/<id>.<owner> holds it until it calls exactly one of defer, complete,
 * fail or release (a second call is a programming error, EX_SOFTWARE).
 *
 * What each writes, and why that is enough (docs/QUEUE-FORMAT.md):
 * - defer: state/<id> durably (tmp, fsync, rename, fsync state/), then the
 *   message back to queue/ (not fsynced: a lost rename is a dead claim,
 *   which recovery puts back).
 * - complete: unlink message, then state; not fsynced (a lost unlink after a
 *   power cut means one more delivery, never a loss).
 * - fail: failed/<id>.state, then the message to failed/<id>, one fsync of
 *   failed/, so "gave up" survives a power cut and no second bounce is sent.
 * Every failure is an ioError (EX_TEMPFAIL); on failure the message is put
 * back in the queue rather than left claimed.
 */
import { readFile } from 'node:fs/promises';
import { EX, SysmailError } from '../core/errors.js';
import { encodeState, freshState } from './format.js';
import { fsyncDir, ioFail, tryRename, tryUnlink, writeNewFile } from './fsutil.js';
import { selfToken } from './owner.js';
import type { SpoolStore } from './store.js';
import type { Claim, DeliveryState, Envelope } from './types.js';

export class FileClaim implements Claim {
  private done = false;

  /** body: the message bytes when the claimer already holds them (claimCommitted); read from the file otherwise. */
  constructor(private readonly spool: SpoolStore, readonly id: string, private readonly name: string,
    readonly envelope: Envelope, readonly state: DeliveryState, private readonly offset: number,
    private readonly body?: Buffer) {}

  private get file(): string { return this.spool.path('active', this.name); }

  private finish(): void {
    if (this.done) throw new SysmailError('ECLAIM', `the claim on ${this.id} was already let go`, { exit: EX.SOFTWARE });
    this.done = true;
  }

  async readMessage(): Promise<Buffer> {
    if (this.done) throw new SysmailError('ECLAIM', `the claim on ${this.id} was already let go`, { exit: EX.SOFTWARE });
    if (this.body) return this.body;
    try { return (await readFile(this.file)).subarray(this.offset); } catch (e) {
      throw ioFail(`cannot read queued message ${this.id}`, e);
    }
  }

  /** Back to queue/<id>. Not fsynced: if the rename is lost, recovery finds a dead owner and does it again. */
  private async putBack(): Promise<void> {
    try {
      if (!(await tryRename(this.file, this.spool.path('queue', this.id)))) {
        throw new Error(`active/${this.name} vanished while claimed`);
      }
    } catch (e) {
      throw ioFail(`cannot put message ${this.id} back in the queue`, e);
    }
  }

  async defer(state: DeliveryState): Promise<void> {
    this.finish();
    try { await this.spool.writeState(this.id, state); } finally { await this.putBack(); }
  }

  /** Unlinks, not fsynced: a lost unlink after a power cut means one more delivery, never a loss. */
  async complete(): Promise<void> {
    this.finish();
    try {
      // Message first: a crash in between leaves an orphan state file (removed by recovery), not a
      // message without its record of who already has it.
      await tryUnlink(this.file);
      await tryUnlink(this.spool.path('state', this.id));
    } catch (e) {
      throw ioFail(`cannot remove delivered message ${this.id}`, e);
    }
  }

  async fail(state: DeliveryState): Promise<void> {
    this.finish();
    const s = this.spool;
    try {
      const tmp = s.path('tmp', `${this.id}-failed.${selfToken()}`);
      await writeNewFile(tmp, [encodeState(state)], s.sync);
      await tryRename(tmp, s.path('failed', `${this.id}.state`));
      await tryRename(this.file, s.path('failed', this.id));
      if (s.sync) await fsyncDir(s.path('failed'));
      await tryUnlink(s.path('state', this.id));
    } catch (e) {
      await this.putBack().catch(() => {});
      throw ioFail(`cannot move message ${this.id} to failed/`, e);
    }
  }

  async release(): Promise<void> {
    this.finish();
    await this.putBack();
  }
}

/**
 * A claim taken while the message's commit is still running (FileSpool.claimCommitting): the
 * envelope and bytes are the ones being written, the state is a new message's (no state file can
 * exist for an id not yet committed). `held` settles with the real claim, taken once the commit is
 * durable: each method waits for it and passes on. When there is none (the commit failed: the
 * client was told so and the file, if any, is for a later pass; or another process claimed it
 * first), the methods do nothing: this process never had the message.
 */
export class PendingClaim implements Claim {
  readonly state: DeliveryState;
  readonly ready: Promise<void>;

  constructor(readonly id: string, readonly envelope: Envelope, private readonly body: Buffer,
    private readonly held: Promise<Claim | null>) {
    this.state = freshState(envelope);
    this.ready = held.then((c) => {
      if (!c) throw new SysmailError('ECLAIM', `message ${id} was claimed by another process`, { exit: EX.TEMPFAIL });
    });
    // Settled by whoever waits; never an unhandled rejection when nobody does.
    this.ready.catch(() => undefined);
  }

  async readMessage(): Promise<Buffer> { return this.body; }

  private async real(): Promise<Claim | null> { return this.held.catch(() => null); }

  async defer(state: DeliveryState): Promise<void> { await (await this.real())?.defer(state); }
  async complete(): Promise<void> { await (await this.real())?.complete(); }
  async fail(state: DeliveryState): Promise<void> { await (await this.real())?.fail(state); }
  async release(): Promise<void> { await (await this.real())?.release(); }
}
