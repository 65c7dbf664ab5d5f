/**
 * serve's early delivery: when a local client sends DATA, the relay dialogue
 * for that message starts at once (MAIL FROM, RCPT TO and DATA to the
 * smarthost) while the client still sends the data; once the message is in
 * the spool under its queue name (its fsync may still run) the data and the
 * final dot go out, and the delivery pass that follows records the relay's
 * answer (Transport.prepare). On this machine the relay's round trips and
 * the pass's own start were most of the time from the client's final dot to
 * the message at the relay (docs/benchmarks.md).
 *
 * Guarantees:
 * - Only when no pass is running (so nothing else uses the connection) and
 *   the pass's own routing (runner.ts firstAttemptPlan) sends every recipient
 *   to one transport that can do it (SMTP).
 * - The message is handed over only if it was committed with the envelope the
 *   dialogue was started for, under the same configuration; otherwise, and
 *   whenever the message does not come (refused, client gone, stalled past
 *   EARLY_DELIVERY_WAIT_MS, or another message needs the connection first),
 *   the relay transaction is abandoned: the connection is closed before the
 *   final dot, so the relay has nothing, and the pass delivers as usual. After
 *   an abandoned one none starts for EARLY_DELIVERY_REST_MS: a client that
 *   keeps hanging up cannot make serve churn connections to the relay.
 * - Planned from what is already in memory (the aliases file and passwd are
 *   only stat'ed while unchanged), so the plan is ready before a fast client's
 *   data is in; when it is not (the pass has begun), there is no early
 *   delivery for that message, never a second one.
 * - Never decides an outcome and never logs one: the pass records what the
 *   relay said, after the `accepted` line. The client still gets its 250
 *   only once the commit is durable. What changes (docs/QUEUE-FORMAT.md): the
 *   relay may have the message a little before the spool's fsync completes;
 *   should the fsync fail or serve die in between, the client (no 250) sends
 *   again: a second copy, never a loss.
 */
import { EARLY_DELIVERY_REST_MS } from '../config/defaults.js';
import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { Envelope } from '../spool/types.js';
import type { EarlyDelivery } from '../transports/types.js';
import type { KeptTransports } from './kept-transports.js';
import type { EarlyHandle } from './session.js';

export interface EarlyDeliveriesOptions {
  kept: KeptTransports;
  config(): Config;
  log: Logger;
  /** True when no delivery pass is running or queued (QueueRunner.startsAtOnce). */
  idle(): boolean;
}

/** One message's early delivery, as the session and the daemon see it. */
export class EarlyStart implements EarlyHandle {
  private delivery: EarlyDelivery | null = null;
  /** The queue id the message gets (expect), once the daemon has chosen it. */
  private id: string | null = null;
  /** The message, or the decision to drop it: the first word stands. */
  private pending: { supply: Parameters<EarlyDelivery['supply']>[0] } | 'drop' | null = null;

  constructor(readonly config: Config, readonly sender: string, readonly recipients: readonly string[]) {}

  /** The daemon: the message will be committed as `id`; its pass starts now (before `supply`). */
  expect(id: string): void {
    this.id = id;
    this.delivery?.expect(id);
  }

  /** The daemon: the message is placed in the spool under the id given to expect() (Spool.submit's `placed`). */
  supply(envelope: Envelope, message: Buffer, config: Config): void {
    const id = this.id;
    const same = id !== null && config === this.config && envelope.sender === this.sender
      && envelope.recipients.length === this.recipients.length && envelope.recipients.every((r, i) => r === this.recipients[i]);
    if (!same) return this.drop();
    this.settle({ supply: { id, envelope, raw: message } });
  }

  drop(): void {
    this.settle('drop');
  }

  /** The transport's transaction (only while not `decided`), or null: there will be none. */
  attach(d: EarlyDelivery | null): void {
    if (!d) { this.pending ??= 'drop'; return; }
    this.delivery = d;
  }

  private settle(what: NonNullable<EarlyStart['pending']>): void {
    if (this.pending) return; // the first word stands
    this.pending = what;
    const d = this.delivery;
    if (!d) return;
    if (what === 'drop') d.drop(); else d.supply(what.supply);
  }

  /**
   * Too late to start: the message's fate is known (given or dropped), or its pass has begun (the
   * pass may already have asked the transport, which would then send it too).
   */
  get decided(): boolean { return this.pending !== null || (this.id !== null && this.delivery === null); }
}

export class EarlyDeliveries {
  /** No early delivery before this time (ms): one was abandoned (EARLY_DELIVERY_REST_MS). */
  private restUntil = 0;

  constructor(private readonly o: EarlyDeliveriesOptions) {}

  /** At the client's DATA command. Null when an early delivery is not for this message. */
  start(sender: string, recipients: string[]): EarlyStart | null {
    if (!this.o.config().listener.earlyDelivery || !this.o.idle() || recipients.length === 0) return null;
    if (Date.now() < this.restUntil) return null;
    const start = new EarlyStart(this.o.config(), sender, [...recipients]);
    this.begin(start).catch((e: unknown) => {
      this.o.log.verbose(`early delivery not started: ${(e as Error).message}`);
      start.attach(null);
    });
    return start;
  }

  /**
   * A relay transaction was abandoned (the client went or stalled, its message was refused, or
   * the relay could not be reached): each costs a relay connection, so none for a while.
   */
  private rest(): void {
    this.restUntil = Date.now() + EARLY_DELIVERY_REST_MS;
    this.o.log.verbose(`early delivery: a relay transaction was abandoned; none for ${EARLY_DELIVERY_REST_MS / 1000} s`);
  }

  private async begin(start: EarlyStart): Promise<void> {
    const [{ firstAttemptPlan }, { makeAliasExpander }] = await Promise.all([
      import('../delivery/runner.js'), import('../router/alias-expander.js'),
    ]);
    const plan = firstAttemptPlan({ sender: start.sender, recipients: [...start.recipients] }, start.config,
      await makeAliasExpander(start.config, this.o.log));
    const only = plan && plan.size === 1 ? [...plan][0]! : null;
    if (!only || start.decided) return start.attach(null);
    const pool = await this.o.kept.lend();
    let delivery: EarlyDelivery | null = null;
    try {
      const transport = await pool.get(only[0]);
      delivery = !start.decided && transport.prepare ? transport.prepare(start.sender, only[1]) : null;
    } finally {
      if (delivery) void delivery.ended.then((abandoned) => { if (abandoned) this.rest(); }).finally(() => this.o.kept.giveBack());
      else this.o.kept.giveBack();
    }
    start.attach(delivery);
  }
}
