/**
 * Everything `sysmail status` shows, read from the spool, the metrics state,
 * the alert state and the system. Reads only; never writes.
 */
import { execFile } from 'node:child_process';
import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { SYSTEMCTL_TIMEOUT_MS } from '../config/defaults.js';
import type { Config } from '../config/types.js';
import type { Spool } from '../spool/types.js';
import { computeMetrics } from '../metrics/update.js';
import type { QueueStats, TransportStats } from '../metrics/types.js';
import { readAlertState } from '../alerts/check.js';
import type { Outage } from '../alerts/plan.js';
import { evaluate, type Verdict } from './evaluate.js';

export const UNITS = ['sysmail.service', 'sysmail-flush.timer', 'sysmail-flush.path'] as const;

export interface StatusReport extends Verdict {
  host: string;
  checkedAt: number;
  queue: QueueStats;
  oldestQueuedAt: number | null;
  transports: Record<string, TransportStats>;
  serve: 'running' | 'not running';
  units: Record<string, string>;
  disk: { path: string; freeBytes: number; totalBytes: number } | null;
  outage: Outage | null;
  metricsFile: string | null;
  metricsWrittenAt: number | null;
  countersFromLog: string | null;
}

function unitState(unit: string): Promise<string> {
  return new Promise((resolve) => {
    execFile('systemctl', ['is-active', unit], { timeout: SYSTEMCTL_TIMEOUT_MS }, (err, stdout) => {
      const out = String(stdout ?? '').trim();
      // is-active prints the state even when it exits non-zero; no systemctl at all is "unknown".
      resolve(out || (err && (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'unknown (no systemctl)' : 'unknown'));
    });
  });
}

async function oldestDrop(dir: string): Promise<number | null> {
  let names: string[];
  try { names = (await readdir(dir)).filter((n) => !n.startsWith('.')); } catch { return null; }
  let oldest: number | null = null;
  for (const n of names) {
    const st = await stat(join(dir, n)).catch(() => null);
    if (st && (oldest === null || st.mtimeMs < oldest)) oldest = st.mtimeMs;
  }
  return oldest;
}

export async function gatherStatus(config: Config, spool: Spool, serveRunning: boolean, now = Date.now()): Promise<StatusReport> {
  const [metrics, queue, alerts, dropAt, disk, units] = await Promise.all([
    computeMetrics(config, spool),
    spool.list('queue'),
    readAlertState(config.spool.dir),
    oldestDrop(join(config.spool.dir, 'drop')),
    statfs(config.spool.dir).then((s) => ({ path: config.spool.dir, freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize }), () => null),
    Promise.all(UNITS.map(async (u) => [u, await unitState(u)] as const)),
  ]);
  const oldestQueuedAt = queue.reduce<number | null>((min, m) => (min === null || m.envelope.submittedAt < min ? m.envelope.submittedAt : min), null);
  const transports = metrics.snapshot.transports;
  const failing = Object.keys(transports).filter((n) => transports[n]!.failingSince !== null).sort();
  const verdict = evaluate({ now, delayWarningMs: config.alerts.delayWarning, queue: metrics.snapshot.queue, failing, oldestDropAt: dropAt, disk });
  return {
    ...verdict, host: config.general.hostname, checkedAt: now, queue: metrics.snapshot.queue, oldestQueuedAt, transports,
    serve: serveRunning ? 'running' : 'not running', units: Object.fromEntries(units), disk,
    outage: alerts.outage, metricsFile: config.metrics.file, metricsWrittenAt: metrics.state.writtenAt || null,
    countersFromLog: config.log.file,
  };
}
