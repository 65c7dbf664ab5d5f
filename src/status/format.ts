/** The one-screen view of `sysmail status` and its JSON form. Pure. */
import { age } from '../alerts/notice.js';
import type { StatusReport } from './gather.js';

const when = (ms: number | null, now: number) => (ms === null ? 'never' : `${age(now - ms)} ago (${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC)`);
const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;

export function formatStatus(r: StatusReport): string {
  const q = r.queue;
  const out: string[] = [];
  const head = r.problems.length === 0 ? 'mail flows' : r.problems.map((p) => p.text).join('; ');
  out.push(`SYSMAIL ${r.level.toUpperCase()}: ${head}`);
  out.push('');
  out.push(`Host:       ${r.host}`);
  out.push(`Queue:      ${q.queued} queued, ${q.deferred} deferred, ${q.held} held, ${q.failed} failed, ${q.drop} in drop/, ${q.corrupt} corrupt`);
  out.push(`Oldest:     ${r.oldestQueuedAt === null ? 'queue empty' : `queued ${when(r.oldestQueuedAt, r.checkedAt)}`}`
    + (q.oldestDeferredAt !== null ? `; oldest deferred ${when(q.oldestDeferredAt, r.checkedAt)}` : ''));
  if (r.outage) out.push(`Outage:     stuck since ${when(r.outage.since, r.checkedAt)}; notice sent via ${r.outage.warned.join(', ') || '(no channel yet)'}`);
  out.push('');
  out.push('Transports:');
  const names = Object.keys(r.transports).sort();
  if (names.length === 0) out.push('  (none)');
  for (const n of names) {
    const t = r.transports[n]!;
    const state = t.failingSince !== null ? `FAILING since ${when(t.failingSince, r.checkedAt)}` : 'ok';
    out.push(`  ${n}: ${state}`);
    out.push(`    last success: ${when(t.lastSuccessAt, r.checkedAt)}; ${t.delivered} delivered, ${t.deferred} deferred, ${t.failed} failed`);
    if (t.lastErrorAt !== null) out.push(`    last error:   ${when(t.lastErrorAt, r.checkedAt)} [${t.lastErrorClass}] ${t.lastErrorText ?? ''}`.trimEnd());
  }
  out.push('');
  out.push(`Services:   serve ${r.serve}; ${Object.entries(r.units).map(([u, s]) => `${u} ${s}`).join('; ')}`);
  if (r.disk) {
    const pct = r.disk.totalBytes > 0 ? (100 * r.disk.freeBytes) / r.disk.totalBytes : 0;
    out.push(`Spool disk: ${gib(r.disk.freeBytes)} free of ${gib(r.disk.totalBytes)} (${pct.toFixed(1)} %) at ${r.disk.path}`);
  }
  out.push(`Metrics:    ${r.metricsFile ? `${r.metricsFile}, written ${when(r.metricsWrittenAt, r.checkedAt)}` : 'no metrics.file'}`
    + (r.countersFromLog ? '' : '; counters need log.file (it is off)'));
  if (r.problems.length > 0) {
    out.push('');
    out.push('Look: sysmail queue; sysmail log --status deferred --since 1d; sysmail doctor');
  }
  return out.join('\n') + '\n';
}

export function statusJson(r: StatusReport): unknown {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    status: r.level, problems: r.problems, host: r.host, checked_at: iso(r.checkedAt),
    queue: { ...Object.fromEntries(Object.entries(r.queue).filter(([k]) => k !== 'oldestDeferredAt')),
      oldest_queued_at: iso(r.oldestQueuedAt), oldest_deferred_at: iso(r.queue.oldestDeferredAt) },
    transports: Object.fromEntries(Object.entries(r.transports).map(([n, t]) => [n, {
      delivered: t.delivered, deferred: t.deferred, failed: t.failed, bounced: t.bounced,
      last_success_at: iso(t.lastSuccessAt), last_error_at: iso(t.lastErrorAt), last_error_class: t.lastErrorClass,
      last_error: t.lastErrorText, failing_since: iso(t.failingSince),
    }])),
    serve: r.serve, units: r.units,
    disk: r.disk && { path: r.disk.path, free_bytes: r.disk.freeBytes, total_bytes: r.disk.totalBytes },
    outage: r.outage && { since: iso(r.outage.since), notified_via: r.outage.warned },
    metrics: { file: r.metricsFile, written_at: iso(r.metricsWrittenAt) },
  };
}
