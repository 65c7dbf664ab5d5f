/**
 * The Prometheus text exposition format (version 0.0.4) of a Snapshot. Pure.
 *
 * Names follow the Prometheus conventions: a `sysmail_` prefix, base units
 * (seconds, as Unix timestamps), `_total` on counters, one HELP and TYPE per
 * family. Times are exported as timestamps, not ages, so the text only
 * changes when something happens (the file is rewritten only then); the
 * alert rules compute ages with `time() - …`. Checked by `promtool check metrics`.
 */
import { ERROR_CLASSES } from './counters.js';
import type { Snapshot, TransportStats } from './types.js';

const QUEUE_STATES = ['queued', 'deferred', 'held', 'failed', 'drop', 'corrupt'] as const;

/** Label values: backslash, double quote and line feed are escaped. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

const seconds = (ms: number) => String(Math.floor(ms / 1000));

export function renderProm(s: Snapshot): string {
  const out: string[] = [];
  const family = (name: string, type: 'gauge' | 'counter', help: string, samples: [string, string][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${labels ? `{${labels}}` : ''} ${value}`);
  };
  family('sysmail_build_info', 'gauge', 'sysmail version and the Node.js running it; always 1.',
    [[`version="${escapeLabel(s.version)}",node="${escapeLabel(s.node)}"`, '1']]);
  family('sysmail_queue_messages', 'gauge',
    'Messages in the spool by state (queued: never tried; deferred: waiting for a retry; held; failed: given up; drop: not yet imported; corrupt: in corrupt/).',
    QUEUE_STATES.map((st) => [`state="${st}"`, String(s.queue[st])]));
  family('sysmail_queue_oldest_deferred_timestamp_seconds', 'gauge',
    'Submission time of the oldest deferred message; absent when nothing is deferred. Age: time() - this.',
    s.queue.oldestDeferredAt === null ? [] : [['', seconds(s.queue.oldestDeferredAt)]]);

  const names = Object.keys(s.transports).sort();
  const per = (pick: (t: TransportStats) => number | null): [string, string][] =>
    names.flatMap((n) => {
      const v = pick(s.transports[n]!);
      return v === null ? [] : [[`transport="${escapeLabel(n)}"`, String(v)] as [string, string]];
    });
  const ts = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));
  family('sysmail_deliveries_total', 'counter', 'Recipients delivered, by transport (from the event log).', per((t) => t.delivered));
  family('sysmail_deferrals_total', 'counter', 'Temporary delivery failures (will be retried), by transport.', per((t) => t.deferred));
  family('sysmail_failures_total', 'counter', 'Recipients given up (permanent failure or expiry), by transport.', per((t) => t.failed));
  family('sysmail_bounces_total', 'counter', 'Bounces queued for failures on this transport.', per((t) => t.bounced));
  family('sysmail_last_success_timestamp_seconds', 'gauge', 'Time of the last successful delivery, by transport; absent when never.',
    per((t) => ts(t.lastSuccessAt)));
  family('sysmail_last_error_timestamp_seconds', 'gauge', 'Time of the last failed attempt, by transport; absent when never.',
    per((t) => ts(t.lastErrorAt)));
  family('sysmail_last_error_info', 'gauge', `Class of the last error, by transport (${ERROR_CLASSES.join(', ')}); always 1.`,
    names.filter((n) => s.transports[n]!.lastErrorClass !== null)
      .map((n) => [`transport="${escapeLabel(n)}",class="${s.transports[n]!.lastErrorClass}"`, '1']));
  family('sysmail_transport_failing', 'gauge', '1 when the last attempt on this transport failed temporarily, none has succeeded since, and deferred mail waits for it.',
    per((t) => (t.failingSince === null ? 0 : 1)));
  family('sysmail_transport_failing_since_timestamp_seconds', 'gauge',
    'First temporary failure since the last success, while deferred mail waits for the transport; absent otherwise.', per((t) => ts(t.failingSince)));
  return out.join('\n') + '\n';
}
