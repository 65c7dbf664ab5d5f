/**
 * The transports of `sysmail serve`, kept from one delivery pass to the next
 * for a short idle time, so a message accepted 50 ms after the last one goes
 * out on the connection already open to the relay (no connect, greeting,
 * EHLO, STARTTLS or AUTH again).
 *
 * Guarantees: one pool at a time, used by one pass at a time (the queue
 * runner never overlaps passes). After each pass every transport forgets its
 * per-pass state (endPass: a failed connect is tried again next pass). The
 * pool is closed (QUIT on each connection) once it has been idle for
 * `idleMs`, at the end of the first pass after `maxAgeMs`, on reload (the
 * transport settings may have changed) and on stop. A kept connection the
 * relay closed meanwhile is replaced by the transport itself (smtp.ts).
 * Nothing here decides a delivery outcome, so at-least-once and the
 * per-recipient state are untouched.
 */
import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { TransportPool } from '../transports/registry.js';
import { TRANSPORT_KEEP_IDLE_MS, TRANSPORT_KEEP_MAX_AGE_MS } from '../config/defaults.js';

export interface KeptTransportsOptions {
  config: () => Config;
  log: Logger;
  idleMs?: number;
  maxAgeMs?: number;
  now?: () => number;
  /** For tests: another transport pool. */
  makePool?: (config: Config) => TransportPool;
}

export class KeptTransports {
  private pool: TransportPool | null = null;
  private bornAt = 0;
  private idle: NodeJS.Timeout | null = null;
  private closing: Promise<void> = Promise.resolve();
  /** A pass holds the pool (between begin and end). */
  private active = false;
  /** Early deliveries holding the pool outside a pass (lend .. giveBack). */
  private lent = 0;
  /** Closed at the end of the running pass (a reload came during it). */
  private stale = false;
  private readonly now: () => number;
  /** Pools closed so far (tests, `-v`). */
  closed = 0;

  constructor(private readonly o: KeptTransportsOptions) {
    this.now = o.now ?? Date.now;
  }

  /** The pool for the pass about to start: the kept one, or a new one. */
  async begin(): Promise<TransportPool> {
    this.clearIdle();
    await this.closing; // a pool being closed (reload, age) finishes its QUITs first
    this.active = true;
    return this.current();
  }

  private current(): TransportPool {
    if (!this.pool) {
      const config = this.o.config();
      this.pool = this.o.makePool?.(config) ?? new TransportPool({ config, log: this.o.log, now: this.now });
      this.bornAt = this.now();
    }
    return this.pool;
  }

  /**
   * The pool for an early delivery (early-delivery.ts) started before its pass: it is neither
   * closed nor replaced until giveBack(), so the pass that follows finds the same transports.
   */
  async lend(): Promise<TransportPool> {
    this.lent++;
    this.clearIdle();
    await this.closing;
    return this.current();
  }

  /**
   * The early delivery has ended: idle timing resumes when no pass runs. Never closes the pool
   * itself, not even a stale one: the pass that records the early delivery must find it.
   */
  giveBack(): void {
    this.lent = Math.max(0, this.lent - 1);
    if (this.active || this.lent > 0 || !this.pool) return;
    this.armIdle();
  }

  /** The pass is over: keep the pool for idleMs, or close it now when it is too old. */
  async end(): Promise<void> {
    this.active = false;
    const pool = this.pool;
    if (!pool) return;
    if (this.lent > 0) { await pool.endPass(); return; } // an early delivery still holds it
    if (this.stale) {
      this.stale = false;
      await this.close('the configuration was reloaded');
      return;
    }
    await pool.endPass();
    if (this.now() - this.bornAt >= (this.o.maxAgeMs ?? TRANSPORT_KEEP_MAX_AGE_MS)) {
      await this.close('kept for its maximum age');
      return;
    }
    this.armIdle();
  }

  private armIdle(): void {
    this.clearIdle();
    // unref: an idle connection never keeps the process alive on its own.
    this.idle = setTimeout(() => { this.idle = null; void this.close('idle'); }, this.o.idleMs ?? TRANSPORT_KEEP_IDLE_MS);
    this.idle.unref();
  }

  /**
   * The transport settings may have changed: a new pool for the next pass. A pass running now
   * keeps its pool to the end (its connections are closed then), never a connection cut under it.
   */
  reload(): Promise<void> {
    if (this.active || this.lent > 0) { this.stale = true; return Promise.resolve(); }
    return this.close('the configuration was reloaded');
  }

  /** Closes the kept connections (QUIT). Call between passes (or after the runner stopped). */
  close(why = 'closed'): Promise<void> {
    this.clearIdle();
    const pool = this.pool;
    this.pool = null;
    if (!pool) return this.closing;
    if (pool.size > 0) this.o.log.verbose(`closing kept transport connections (${why})`);
    this.closed++;
    this.closing = this.closing.then(() => pool.closeAll()).catch(() => undefined);
    return this.closing;
  }

  private clearIdle(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
  }
}
