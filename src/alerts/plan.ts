/**
 * When to send a stuck-mail notice, and through which channel. Pure: the
 * observation, the saved state, the channels and the clock go in; the notices
 * to send and the next state come out.
 *
 * Rules: one warning per outage per channel, and one recovery notice per
 * channel that got the warning; a channel implicated in the outage (any of
 * its recipients is deferred) is never used, so a notice about a failing
 * channel never goes through it; a channel whose send failed is tried again
 * after `retryMs`, never in a loop. The notices go straight to the transport,
 * never through the queue, so they cannot themselves get stuck or alert.
 */

export interface Observation {
  /** Deferred (not held) messages older than alerts.delay_warning. */
  stuck: number;
  /** ms since the epoch: submission of the oldest stuck message; null when none. */
  oldestAt: number | null;
  oldestId: string | null;
  lastError: string | null;
  /** Transports with a recipient failing for longer than the delay. */
  failing: string[];
  /** Transports with any deferred recipient now: never a channel for a notice. */
  implicated: string[];
}

export interface Outage {
  /** ms since the epoch: when this host first saw the mail as stuck. */
  since: number;
  /** Channels that carried the warning (and owe a recovery notice). */
  warned: string[];
}

export interface AlertState {
  v: 1;
  outage: Outage | null;
  /** Channel -> ms of its last failed send (retried after retryMs). */
  lastFailure: Record<string, number>;
}

export interface Plan {
  /** Mail is stuck now. */
  active: boolean;
  warn: string[];
  recover: string[];
  /** The outage as it stands before the sends (a new one begins now). */
  outage: Outage | null;
}

export function freshAlertState(): AlertState {
  return { v: 1, outage: null, lastFailure: {} };
}

export function planNotices(s: AlertState, o: Observation, via: string[], now: number, retryMs: number): Plan {
  const usable = (ch: string) => !o.implicated.includes(ch) && now - (s.lastFailure[ch] ?? -Infinity) >= retryMs;
  if (o.stuck > 0) {
    const outage = s.outage ?? { since: now, warned: [] };
    return { active: true, warn: via.filter((ch) => !outage.warned.includes(ch) && usable(ch)), recover: [], outage };
  }
  if (!s.outage) return { active: false, warn: [], recover: [], outage: null };
  return { active: false, warn: [], recover: s.outage.warned.filter(usable), outage: s.outage };
}

/** The state after the planned sends; `sent` holds the channels whose send worked. */
export function applyResults(s: AlertState, p: Plan, sent: Set<string>, now: number): AlertState {
  const lastFailure = { ...s.lastFailure };
  for (const ch of [...p.warn, ...p.recover]) {
    if (sent.has(ch)) delete lastFailure[ch];
    else lastFailure[ch] = now;
  }
  let outage: Outage | null = p.outage ? { ...p.outage, warned: [...p.outage.warned] } : null;
  if (outage) {
    for (const ch of p.warn) if (sent.has(ch)) outage.warned.push(ch);
    outage.warned = outage.warned.filter((ch) => !(p.recover.includes(ch) && sent.has(ch)));
    // Over when no mail is stuck and every channel that was warned has been told it recovered.
    if (!p.active && outage.warned.length === 0) outage = null;
  }
  return { v: 1, outage, lastFailure };
}
