/**
 * The Transport seam: one small interface every way of delivering implements
 * (SMTP, OCI Notifications, Maildir, mbox, command, motd, stdout).
 *
 * A transport reports per recipient: sent, deferred (try again later) or
 * failed (give up and bounce). It never throws for a delivery problem; a throw
 * means a bug or local trouble and is treated as deferred for all recipients.
 */
import type { Envelope } from '../message/envelope.js';
import type { Logger } from '../log/logger.js';
import type { Config, TransportConfig } from '../config/types.js';

import type { Outcome } from '../core/outcome.js';

export type { Outcome };

export interface RecipientResult {
  rcpt: string;
  outcome: Outcome;
  /** SMTP reply code, HTTP status, or exit code, as the transport saw it. */
  code?: number;
  /** RFC 3463 enhanced status code, e.g. "5.1.1". */
  dsn?: string;
  /** Human-readable reason or the server's reply text. */
  text: string;
}

export interface OutgoingMessage {
  id: string;
  envelope: Envelope;
  /** The message as spooled: headers and body, LF line ends. */
  raw: Buffer;
  /**
   * Present while the message's commit is still running (serve's listener, Claim.ready): nothing
   * may be handed over before it resolves, and nothing at all when it rejects. The delivery pass
   * waits for it before calling a transport, unless the transport says `handsOverAfterReady`.
   */
  ready?: Promise<void>;
}

export interface Transport {
  readonly name: string;
  readonly type: TransportConfig['type'];
  /** rcpts are the routed (post-alias) addresses for this transport. */
  deliver(msg: OutgoingMessage, rcpts: string[]): Promise<RecipientResult[]>;
  /**
   * The transport may be called before `msg.ready` resolves: it prepares the delivery and waits
   * for it before the step that hands the message over (SMTP: the final dot).
   */
  readonly handsOverAfterReady?: boolean;
  /**
   * Optional (serve): start delivering a message whose data is still arriving, from `sender` to
   * `rcpts` (as the pass will route them): SMTP sends MAIL FROM, RCPT TO and DATA now. The message
   * goes out once supplied; the pass's deliver() for that message id then returns its results.
   * Null when the transport cannot do it for this envelope.
   */
  prepare?(sender: string, rcpts: string[]): EarlyDelivery | null;
  /** Closes any connection kept for the delivery pass. */
  close(): Promise<void>;
  /**
   * Optional: the pass is over but the transport is kept for the next one (serve). Forget what
   * held for this pass only (a failed connect that deferred everyone); an open connection may stay.
   */
  endPass?(): void;
}

/** A delivery started before its message was known (Transport.prepare). */
export interface EarlyDelivery {
  /**
   * The message will be queued as `id`: a deliver() for that id waits for this transaction (and
   * gets its results); a deliver() for any other message abandons it while it waits.
   */
  expect(id: string): void;
  /**
   * The message, once it is in the spool (its fsync may still run): it is handed over now. Its
   * envelope must be the one prepare() was given; otherwise the transaction is dropped.
   */
  supply(msg: OutgoingMessage): void;
  /** The message will not come (refused, client gone): the transaction is abandoned. Idempotent. */
  drop(): void;
  /**
   * Settles when the transaction has ended: false when the message was handed over (the relay
   * took it or refused it), true when it was not (abandoned, or no connection to the relay).
   */
  readonly ended: Promise<boolean>;
}

export interface TransportContext {
  config: Config;
  log: Logger;
  now(): number;
}

export type TransportFactory<C extends TransportConfig = TransportConfig> =
  (cfg: C, ctx: TransportContext) => Transport;

/** The same outcome for every recipient. */
export function allRecipients(rcpts: string[], r: Omit<RecipientResult, 'rcpt'>): RecipientResult[] {
  return rcpts.map((rcpt) => ({ rcpt, ...r }));
}
