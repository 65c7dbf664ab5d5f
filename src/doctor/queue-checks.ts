/**
 * Doctor checks for the queue: how many messages wait, the oldest, the last
 * error of each deferred one, unreadable files, failed/ and corrupt/.
 * Read-only: it uses the spool's readers (list, listCorrupt), never claims.
 */
import type { Config } from '../config/types.js';
import { fail, info, ok, warn, type CheckResult } from './report.js';

const SHOW_DEFERRED = 10;

export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} days`;
}

export async function checkQueue(config: Config, now: () => number): Promise<CheckResult[]> {
  const { openSpool } = await import('../spool/file-spool.js');
  const spool = openSpool({ dir: config.spool.dir, mode: config.spool.mode });
  const out: CheckResult[] = [];
  let queued;
  try { queued = await spool.list('queue'); } catch (e) {
    return [fail('queue', (e as Error).message, 'run sysmail doctor as root (the queue is readable by the spool owner only)')];
  }
  const corrupt = queued.filter((m) => m.corrupt);
  const good = queued.filter((m) => !m.corrupt);
  if (corrupt.length > 0) {
    out.push(fail('queue', `${corrupt.length} unreadable queue file(s): ${corrupt.slice(0, 5).map((m) => `${m.id} (${m.corrupt})`).join('; ')}`,
      'sysmail flush moves them to corrupt/ with the reason, where you can inspect them'));
  }
  if (good.length === 0) out.push(ok('queue', 'the queue is empty'));
  else {
    const oldest = Math.min(...good.map((m) => m.envelope.submittedAt));
    const held = good.filter((m) => m.state.held).length;
    const deferred = good.filter((m) => m.state.attempts > 0 && !m.state.held);
    const head = `${good.length} message(s) queued, the oldest ${age(now() - oldest)} old${held ? `, ${held} held` : ''}`;
    if (deferred.length === 0) out.push(info('queue', `${head}; none has failed an attempt yet`));
    else {
      const lines = deferred.slice(0, SHOW_DEFERRED).map((m) => {
        const err = m.state.lastError ?? Object.values(m.state.recipients).find((r) => r.status === 'deferred')?.text ?? 'no error recorded';
        return `${m.id} to ${m.envelope.recipients.join(', ')}: ${m.state.attempts} attempt(s), last error: ${err}`;
      });
      if (deferred.length > SHOW_DEFERRED) lines.push(`… and ${deferred.length - SHOW_DEFERRED} more (sysmail queue)`);
      out.push(warn('queue', `${head}; ${deferred.length} deferred:\n${lines.join('\n')}`, 'fix the cause (see the transport checks above), then: sysmail flush'));
    }
  }
  try {
    const failed = await spool.list('failed');
    if (failed.length > 0) {
      out.push(warn('failed', `${failed.length} message(s) in failed/ (bounced or expired, kept for inspection)`,
        'sysmail queue --failed   (then sysmail queue delete ID when done)'));
    }
  } catch { /* reported by the queue line */ }
  try {
    const bad = await spool.listCorrupt();
    if (bad.length > 0) {
      out.push(warn('corrupt', `${bad.length} file(s) in ${config.spool.dir}/corrupt/: ${bad.slice(0, 5).map((b) => `${b.name} (${b.reason})`).join('; ')}`,
        `inspect them (each has a .reason file), then remove: rm ${config.spool.dir}/corrupt/NAME*`));
    }
  } catch { /* no corrupt/ yet */ }
  return out;
}
