/**
 * What the metrics are made of: the queue as it is now (read from the spool)
 * and per-transport counters folded from the event log. Plain data, so the
 * Prometheus rendering is a pure function of it.
 */

/** Messages in the spool by state: the labels of sysmail_queue_messages. */
export interface QueueStats {
  queued: number;
  deferred: number;
  held: number;
  failed: number;
  /** Unprivileged submissions waiting in drop/ to be imported. */
  drop: number;
  /** Entries in corrupt/ (plus queue files found unreadable, not yet moved). */
  corrupt: number;
  /** ms since the epoch: submission time of the oldest deferred (not held) message; null when none. */
  oldestDeferredAt: number | null;
  /** Transports that deferred recipients are waiting on now (not exported; see update.ts). */
  waitingOn: string[];
}

/** Per transport; counters only grow (a reset is a new state file, which Prometheus tolerates). */
export interface TransportStats {
  delivered: number;
  deferred: number;
  /** Recipients given up: permanent failures and expiries. */
  failed: number;
  /** Bounces queued for failures on this transport. */
  bounced: number;
  /** ms since the epoch, or null. */
  lastSuccessAt: number | null;
  lastErrorAt: number | null;
  /** One of ERROR_CLASSES. */
  lastErrorClass: string | null;
  /** The last error as logged (cut to 300 characters), for `sysmail status`; not exported as a label. */
  lastErrorText: string | null;
  /** First temporary failure since the last success; null while healthy. */
  failingSince: number | null;
}

export interface Snapshot {
  version: string;
  node: string;
  queue: QueueStats;
  transports: Record<string, TransportStats>;
}

export function emptyStats(): TransportStats {
  return { delivered: 0, deferred: 0, failed: 0, bounced: 0, lastSuccessAt: null, lastErrorAt: null, lastErrorClass: null, lastErrorText: null, failingSince: null };
}
