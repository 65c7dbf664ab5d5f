/**
 * An HTTP API's status code as a delivery outcome, for any HTTP-based transport: what is worth
 * retrying (rate limits, server trouble, a conflict, a redirect or a rejected signature, which a
 * fixed clock or config cures) and what is final for this message (the request itself is wrong,
 * too large, forbidden, or its target does not exist). Pure; the transport adds its own words.
 */
import type { Outcome } from '../types.js';

export type StatusClass = 'accepted' | 'rate-limited' | 'server' | 'conflict' | 'redirect' | 'unauthorized'
  | 'not-found' | 'forbidden' | 'too-large' | 'bad-request' | 'refused';

export interface StatusVerdict { outcome: Outcome; dsn: string; class: StatusClass }

export function httpStatusOutcome(status: number): StatusVerdict {
  if (status >= 200 && status < 300) return { outcome: 'sent', dsn: '2.0.0', class: 'accepted' };
  if (status === 429) return { outcome: 'deferred', dsn: '4.7.0', class: 'rate-limited' };
  if (status >= 500) return { outcome: 'deferred', dsn: '4.3.0', class: 'server' };
  if (status === 409) return { outcome: 'deferred', dsn: '4.3.0', class: 'conflict' };
  // 1xx/3xx: an endpoint that redirects is a configuration to fix, not a reason to bounce.
  if (status < 400) return { outcome: 'deferred', dsn: '4.3.0', class: 'redirect' };
  // A rejected signature or token: the clock, the key or the policy; retried, never bounced.
  if (status === 401) return { outcome: 'deferred', dsn: '4.7.0', class: 'unauthorized' };
  if (status === 404) return { outcome: 'failed', dsn: '5.1.1', class: 'not-found' };
  if (status === 403) return { outcome: 'failed', dsn: '5.7.1', class: 'forbidden' };
  if (status === 413) return { outcome: 'failed', dsn: '5.3.4', class: 'too-large' };
  if (status === 400) return { outcome: 'failed', dsn: '5.6.0', class: 'bad-request' };
  return { outcome: 'failed', dsn: '5.0.0', class: 'refused' };
}
