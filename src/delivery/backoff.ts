/**
 * Retry schedule: exponential backoff with jitter, capped, plus the queue
 * lifetime. Pure; time and randomness are passed in.
 */
import type { SpoolConfig } from '../config/types.js';

/** Delay before attempt number `attempts + 1`, after `attempts` failed ones. */
export function retryDelay(attempts: number, spool: Pick<SpoolConfig, 'retryMin' | 'retryMax'>, random: () => number): number {
  const exp = Math.min(spool.retryMax, spool.retryMin * 2 ** Math.max(0, attempts - 1));
  // ±20 % jitter so a fleet that lost its relay at once does not retry in lockstep.
  const jittered = exp * (0.8 + 0.4 * random());
  return Math.round(Math.min(spool.retryMax, Math.max(spool.retryMin * 0.8, jittered)));
}

export function isExpired(submittedAt: number, now: number, maxLifetime: number): boolean {
  return now - submittedAt >= maxLifetime;
}

/**
 * Whether a message scheduled for `nextAttemptAt` is due. A retry time further ahead than
 * retry_max cannot come from our own schedule: the clock went back (an RTC reset, an NTP step).
 * Such a message is due now, rather than when the clock catches up (which may be never).
 */
export function isDue(nextAttemptAt: number, now: number, retryMax: number): boolean {
  return nextAttemptAt <= now || nextAttemptAt - now > retryMax;
}
