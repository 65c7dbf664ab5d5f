/**
 * Folds event-log lines into per-transport counters. Pure: the same lines
 * give the same counters, so counters derived from the log survive restarts
 * and two processes folding the same log agree.
 *
 * The error class is a closed set (bounded label cardinality): the DSN or
 * SMTP code decides it, never free text.
 */
import { emptyStats, type TransportStats } from './types.js';

export const ERROR_CLASSES = ['network', 'security', 'temporary', 'permanent', 'expired', 'local', 'other'] as const;
export type ErrorClass = typeof ERROR_CLASSES[number];

/** Recipients with no route are counted under this transport label. */
export const NO_TRANSPORT = 'none';

export interface LogLine {
  ts?: string;
  event?: string;
  id?: string | null;
  transport?: string | null;
  status?: string | null;
  smtp_code?: number | null;
  dsn?: string | null;
  reason?: string | null;
}

/** RFC 3463 classes: x.4.x is network and routing, x.7.x security (TLS, AUTH), x.3.x this system. */
export function errorClass(e: Pick<LogLine, 'event' | 'smtp_code' | 'dsn'>): ErrorClass {
  if (e.event === 'expired' || e.dsn === '4.4.7') return 'expired';
  const code = typeof e.smtp_code === 'number' ? e.smtp_code : null;
  const dsn = typeof e.dsn === 'string' ? e.dsn : '';
  if (dsn.startsWith('5.') || (code !== null && code >= 500 && code < 600)) return 'permanent';
  if (/^4\.7\./.test(dsn)) return 'security';
  if (/^4\.4\./.test(dsn)) return 'network';
  if (/^4\.3\./.test(dsn)) return 'local';
  if ((code !== null && code >= 400 && code < 500) || dsn.startsWith('4.')) return 'temporary';
  return 'other';
}

export interface FoldState {
  transports: Record<string, TransportStats>;
  /** Queue id -> transport of its last permanent failure, to label the bounce that follows. Kept small. */
  failedBy: Record<string, string>;
}

const MAX_FAILED_BY = 1000;

/** Applies one parsed log line. Lines that are not delivery outcomes change nothing. */
export function foldEvent(s: FoldState, e: LogLine): void {
  const at = e.ts ? Date.parse(e.ts) : NaN;
  const ts = Number.isFinite(at) ? at : null;
  const get = (name: string | null | undefined) => (s.transports[name || NO_TRANSPORT] ??= emptyStats());
  switch (e.event) {
    case 'delivered': {
      const t = get(e.transport);
      t.delivered++;
      if (ts !== null && (t.lastSuccessAt === null || ts >= t.lastSuccessAt)) t.lastSuccessAt = ts;
      t.failingSince = null;
      return;
    }
    case 'deferred': {
      const t = get(e.transport);
      t.deferred++;
      setError(t, errorClass(e), ts, e.reason);
      if (ts !== null) t.failingSince ??= ts;
      return;
    }
    case 'failed':
    case 'expired': {
      const t = get(e.transport);
      t.failed++;
      setError(t, errorClass(e), ts, e.reason);
      if (e.id) {
        s.failedBy[e.id] = e.transport || NO_TRANSPORT;
        const keys = Object.keys(s.failedBy);
        if (keys.length > MAX_FAILED_BY) delete s.failedBy[keys[0]!];
      }
      return;
    }
    case 'bounced': {
      if (e.status !== 'bounced') return;
      const name = (e.id && s.failedBy[e.id]) || NO_TRANSPORT;
      get(name).bounced++;
      if (e.id) delete s.failedBy[e.id];
      return;
    }
  }
}

function setError(t: TransportStats, cls: ErrorClass, ts: number | null, reason: string | null | undefined): void {
  if (ts !== null && t.lastErrorAt !== null && ts < t.lastErrorAt) return;
  t.lastErrorAt = ts ?? t.lastErrorAt;
  t.lastErrorClass = cls;
  t.lastErrorText = typeof reason === 'string' ? reason.slice(0, 300) : null;
}

/** Folds a chunk of log text (complete lines only); unparsable lines are skipped. */
export function foldText(s: FoldState, text: string): void {
  for (const line of text.split('\n')) {
    if (line === '' || line[0] !== '{') continue;
    let e: LogLine;
    try { e = JSON.parse(line) as LogLine; } catch { continue; }
    foldEvent(s, e);
  }
}
