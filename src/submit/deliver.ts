/** Runs one delivery pass with this runtime (flush, -q, -v, serve), then the after-pass checks. */
import type { PassSummary, RunOptions } from '../delivery/runner.js';
import type { TransportPool } from '../transports/registry.js';
import type { Runtime } from './runtime.js';

export interface DeliverNowOptions {
  ids?: string[];
  force?: boolean;
  /** Transports kept by the caller across passes (serve); without it the pass opens and closes its own. */
  transports?: TransportPool;
  /** Messages this process has just committed (serve's listener), claimed without reading them back. */
  committed?: RunOptions['committed'];
  /** false: skip crash recovery and the drop/ import (serve's pass for the message it just accepted; its full passes do both). */
  maintain?: boolean;
}

export async function deliverNow(rt: Runtime, opts: DeliverNowOptions = {}): Promise<PassSummary> {
  const [{ runQueue }, { makeAliasExpander }, { repairSpool }] = await Promise.all([
    import('../delivery/runner.js'), import('../router/alias-expander.js'), import('./maintenance.js'),
  ]);
  const beforeDefer = rt.config.alerts.delayDsn
    ? (await import('../alerts/delay-dsn.js')).delayNotifier(rt.config, rt.spool, rt.log) : undefined;
  // Loaded alongside the claims rather than before them (one file-system round trip fewer in line);
  // a failure still fails the message's delivery, never silently skips the aliases.
  const expandAlias = makeAliasExpander(rt.config, rt.log);
  expandAlias.catch(() => {}); // handled where it is awaited, per message
  const summary = await runQueue({
    config: rt.config, spool: rt.spool, log: rt.log, ids: opts.ids, force: opts.force, beforeDefer, transports: opts.transports, committed: opts.committed,
    expandAlias,
    maintain: rt.spoolOwner && opts.maintain !== false ? () => repairSpool(rt.spool, rt.log) : undefined,
  });
  if (rt.spoolOwner) await afterPass(rt);
  return summary;
}

/** Stuck-mail notices, then the metrics file (which then counts the notices' log lines). Failures are logged, never thrown. */
export async function afterPass(rt: Runtime): Promise<void> {
  const { config, spool, log } = rt;
  if (config.alerts.via.length > 0) {
    const [{ checkAlerts }, { TransportPool }] = await Promise.all([import('../alerts/check.js'), import('../transports/registry.js')]);
    const pool = new TransportPool({ config, log, now: Date.now });
    try {
      await checkAlerts({ config, spool, log, pool });
    } catch (err) {
      log.event({ event: 'error', reason: `stuck-mail check: ${(err as Error).message}` });
    } finally {
      await pool.closeAll();
    }
  }
  if (config.metrics.file) {
    const { updateMetricsFile } = await import('../metrics/update.js');
    const onError = (err: Error) => log.event({ event: 'error', reason: `metrics: ${err.message}` });
    await updateMetricsFile(config, spool, Date.now, onError).catch(onError);
  }
}
