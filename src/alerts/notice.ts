/**
 * The text of the stuck-mail notices. Pure. Short enough for a motd line or
 * an OCI Notifications message, and it says what to run to look.
 */
import { formatDuration } from '../config/units.js';
import type { Observation, Outage } from './plan.js';

/** "4h12m": whole minutes (seconds only for very short ages). */
export function age(ms: number): string {
  const m = Math.max(0, ms);
  return formatDuration(m >= 60_000 ? Math.floor(m / 60_000) * 60_000 : Math.floor(m / 1000) * 1000);
}

const utc = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';

export function warningNotice(host: string, o: Observation, delayMs: number, now: number): { subject: string; body: string } {
  const oldest = o.oldestAt === null ? 0 : now - o.oldestAt;
  const subject = `[sysmail] ${host}: ${o.stuck} message(s) stuck, oldest ${age(oldest)}`;
  const lines = [
    `Mail is stuck on ${host}: ${o.stuck} message(s) deferred for longer than ${age(delayMs)}.`,
    '',
    `Oldest:     ${o.oldestId ?? '?'}, queued ${age(oldest)} ago (${o.oldestAt === null ? '?' : utc(o.oldestAt)})`,
    `Failing:    ${o.failing.length > 0 ? o.failing.join(', ') : '(none for that long; see the last error)'}`,
    `Last error: ${o.lastError ?? '(none recorded)'}`,
    '',
    'Look:       sysmail status',
    '            sysmail queue',
    '            sysmail log --status deferred --since 1d',
    'Retry now:  sysmail flush',
    '',
    'Nothing is lost: the messages stay queued and are retried. This notice is sent once per outage;',
    'another follows when mail flows again.',
  ];
  return { subject, body: lines.join('\n') + '\n' };
}

export function recoveryNotice(host: string, outage: Outage, now: number): { subject: string; body: string } {
  const subject = `[sysmail] ${host}: mail flows again`;
  const body = [
    `Mail on ${host} is no longer stuck: every message deferred for too long has been delivered (or given up,`,
    'see `sysmail queue --failed`).',
    '',
    `Stuck since: ${utc(outage.since)} (${age(now - outage.since)})`,
    'Look:        sysmail status; sysmail log --since 1d',
  ].join('\n') + '\n';
  return { subject, body };
}
