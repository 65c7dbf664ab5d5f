/**
 * The verdict of `sysmail status`, as a Nagios plugin gives it: OK (0),
 * WARNING (1), CRITICAL (2), UNKNOWN (3, when the spool cannot be read).
 * Pure: the facts go in, the level and one reason per problem come out.
 *
 * CRITICAL: mail deferred longer than alerts.delay_warning; the spool's file
 * system nearly full. WARNING: anything deferred, a transport failing now,
 * corrupt entries, drop/ not being imported, little free space.
 * Failed messages alone are not a problem: each was bounced and is kept for
 * inspection (they are counted, and have their own alert rule).
 */
import type { QueueStats } from '../metrics/types.js';

export const STATUS = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
export type Level = 'ok' | 'warning' | 'critical';

/** Free space on the spool's file system, in percent. */
export const DISK_WARN_PERCENT = 10;
export const DISK_CRIT_PERCENT = 5;
/** Drop files older than this mean nothing imports them (no serve, no timer). */
export const DROP_STALE_MS = 15 * 60_000;

export interface Facts {
  now: number;
  delayWarningMs: number;
  queue: QueueStats;
  /** Transport names failing now (last attempt deferred, none succeeded since). */
  failing: string[];
  /** Submission time of the oldest file waiting in drop/, or null. */
  oldestDropAt: number | null;
  disk: { freeBytes: number; totalBytes: number } | null;
}

export interface Verdict { level: Level; problems: { level: Level; text: string }[] }

const mins = (ms: number) => `${Math.floor(ms / 60_000)} min`;

export function evaluate(f: Facts): Verdict {
  const problems: { level: Level; text: string }[] = [];
  const q = f.queue;
  if (q.oldestDeferredAt !== null) {
    const age = f.now - q.oldestDeferredAt;
    const text = `${q.deferred} message(s) deferred, the oldest for ${mins(age)}`;
    problems.push({ level: age >= f.delayWarningMs ? 'critical' : 'warning', text });
  }
  for (const t of f.failing) problems.push({ level: 'warning', text: `transport ${t} is failing (see its last error below)` });
  if (q.corrupt > 0) problems.push({ level: 'warning', text: `${q.corrupt} corrupt entr${q.corrupt === 1 ? 'y' : 'ies'} in corrupt/ (each has a .reason file)` });
  if (f.oldestDropAt !== null && f.now - f.oldestDropAt >= DROP_STALE_MS) {
    problems.push({ level: 'warning', text: `drop/ holds mail for ${mins(f.now - f.oldestDropAt)}: is sysmail serve or sysmail-flush.timer running?` });
  }
  if (f.disk && f.disk.totalBytes > 0) {
    const pct = (100 * f.disk.freeBytes) / f.disk.totalBytes;
    if (pct < DISK_WARN_PERCENT) {
      problems.push({ level: pct < DISK_CRIT_PERCENT ? 'critical' : 'warning', text: `the spool's file system has ${pct.toFixed(1)} % free` });
    }
  }
  const level: Level = problems.some((p) => p.level === 'critical') ? 'critical' : problems.length > 0 ? 'warning' : 'ok';
  return { level, problems };
}

export function exitCode(level: Level): number {
  return level === 'critical' ? STATUS.CRITICAL : level === 'warning' ? STATUS.WARNING : STATUS.OK;
}
