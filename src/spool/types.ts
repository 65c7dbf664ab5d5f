/**
 * The spool contract (docs/QUEUE-FORMAT.md has the on-disk form).
 *
 * Guarantees: `submit` resolves only after the message is durable (file and
 * directory fsynced); the message bytes are written once and never rewritten;
 * a message is held by at most one delivery process at a time (`claim`); a
 * crash at any point leaves either no message or a complete one.
 */

export type { Envelope, SubmitVia } from '../message/envelope.js';
import type { Envelope } from '../message/envelope.js';

export type RecipientStatus = 'pending' | 'sent' | 'deferred' | 'failed';

export interface RecipientState {
  status: RecipientStatus;
  /** SMTP reply code (or a sysexits code for command transports). */
  code?: number;
  dsn?: string;
  text?: string;
  transport?: string;
  route?: string;
  /** ms: last change. */
  at?: number;
  /** ms: first temporary failure of the current run of failures (for fallback routes). */
  failingSince?: number;
  /** The envelope recipient this one was rewritten from (aliases or the admin rule), and why. */
  orig?: string;
  via?: 'alias' | 'admin';
}

/** Small, mutable state kept beside the message; rewritten, the message never. */
export interface DeliveryState {
  attempts: number;
  firstAttemptAt?: number;
  lastAttemptAt?: number;
  /** ms; 0 means "now". */
  nextAttemptAt: number;
  held?: boolean;
  lastError?: string;
  /** ms: when the sender was sent an RFC 3464 delay notice (alerts.delay_dsn); at most one per message. */
  delayWarnedAt?: number;
  /** Keyed by envelope recipient. */
  recipients: Record<string, RecipientState>;
}

export type SpoolArea = 'queue' | 'failed';

export interface QueuedMessage {
  id: string;
  area: SpoolArea;
  envelope: Envelope;
  state: DeliveryState;
  /** Size of the message bytes. */
  size: number;
  /**
   * Set when the message or its state file cannot be read: the reason. For a
   * corrupt message the envelope is a placeholder (no recipients); for a
   * corrupt state the state is fresh. Queue recovery moves such files to corrupt/.
   */
  corrupt?: string;
}

/** Exclusive hold on one queued message, given by Spool.claim. */
export interface Claim {
  readonly id: string;
  readonly envelope: Envelope;
  readonly state: DeliveryState;
  /** The message as submitted (LF line ends). */
  readMessage(): Promise<Buffer>;
  /** Some recipients remain: keep the message, write the new state, let go. */
  defer(state: DeliveryState): Promise<void>;
  /** Every recipient is done: remove the message and its state. */
  complete(): Promise<void>;
  /** Give up: move message and state to failed/ (shown by `sysmail queue`). */
  fail(state: DeliveryState): Promise<void>;
  /** Let go without changes. */
  release(): Promise<void>;
  /**
   * Only on a claim made while the message's commit is still running (Spool.claimCommitting):
   * resolves once the message is durable and the claim is really held; rejects when it never will
   * be (the commit failed, or another process claimed it first). Until it resolves nothing may be
   * handed over (OutgoingMessage.ready); after a rejection the claim is void and its other methods
   * do nothing.
   */
  readonly ready?: Promise<void>;
}

export interface Spool {
  readonly dir: string;
  /**
   * Durably queue a message; returns its id. Throws a SysmailError (EX_TEMPFAIL) when it cannot.
   * `placed`: called once the file is complete under its queue name, before its fsync (serve's
   * early delivery hands the message over from then on).
   */
  submit(envelope: Envelope, message: Buffer, id?: string, placed?: () => void): Promise<string>;
  /** A fresh queue id, for a caller that must know it before `submit` is done. */
  readonly newId?: () => string;
  /** Readers never write: lists without taking claims. */
  list(area?: SpoolArea): Promise<QueuedMessage[]>;
  get(id: string): Promise<QueuedMessage | null>;
  /** null when another process holds it or it is gone. */
  claim(id: string): Promise<Claim | null>;
  /** claim() of a message this process has just submitted with these bytes, without reading them back. */
  claimCommitted?(id: string, envelope: Envelope, message: Buffer): Promise<Claim | null>;
  /**
   * A claim on a message this process is committing right now under `id` (serve's listener), so
   * that its delivery can start while the commit's fsyncs run: `committed` settles with the
   * commit. The claim's `ready` says when the message may be handed over.
   */
  claimCommitting?(id: string, envelope: Envelope, message: Buffer, committed: Promise<unknown>): Claim;
  /** Moves files from the unprivileged drop directory into the queue, checking each as hostile input. */
  importDrop(): Promise<string[]>;
  /** Admin changes (`sysmail queue hold|release|delete`). */
  hold(id: string): Promise<boolean>;
  unhold(id: string): Promise<boolean>;
  remove(id: string): Promise<boolean>;
  /**
   * Crash recovery before a delivery pass (owner only; recover.ts): dead claims back to queue/,
   * dead writers' temp files removed, unreadable files to corrupt/. The report is the caller's to log.
   */
  recoverStale(): Promise<RecoveryReport>;
  /** Entries of corrupt/ with their recorded reasons (reads only). */
  listCorrupt(): Promise<CorruptEntry[]>;
  /** Queue id -> the drop/ name it was imported from (importDrop), so the log can link the two. */
  readonly importedFrom?: ReadonlyMap<string, string>;
}

export interface RecoveryReport {
  /** Ids whose claim had a dead owner, now back in queue/. */
  recovered: string[];
  /** tmp/ files of dead writers, removed. */
  tmpRemoved: string[];
  /** What this pass moved to corrupt/ (`id` is the queue id, or the corrupt/ name for foreign files). */
  corrupt: { id: string; file: string; reason: string }[];
  /** State files without a message, removed. */
  orphansRemoved: string[];
}

export interface CorruptEntry {
  /** Name under corrupt/. */
  name: string;
  reason: string;
  /** Where it came from, relative to the spool root. */
  from: string | null;
  at: string | null;
  /** Owner of a refused drop file. */
  uid: number | null;
  size: number;
}
