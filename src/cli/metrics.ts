/**
 * `sysmail metrics [--write]`: the Prometheus text on stdout (reads only),
 * or, with --write, also write metrics.file now if it changed (what serve
 * and flush do after each pass, minus the min_interval wait).
 */
import { EX, usageError } from '../core/errors.js';
import { parseOptions } from './options.js';
import { loadRuntime } from '../submit/runtime.js';

export async function metricsCommand(argv: string[]): Promise<number> {
  const { opts, args } = parseOptions(argv, { write: {} }, 'metrics');
  if (opts.help) return (await import('./help.js')).helpCommand(['metrics']);
  if (args.length > 0) throw usageError(`metrics: unexpected argument "${args[0]}"`, 'run `sysmail metrics --help`');
  const rt = await loadRuntime(opts);
  const { computeMetrics, updateMetricsFile } = await import('../metrics/update.js');
  if (opts.write) {
    if (!rt.config.metrics.file) {
      throw usageError('metrics --write: no metrics.file is configured', 'set [metrics] file = "/var/lib/prometheus/node-exporter/sysmail.prom"');
    }
    const result = await updateMetricsFile({ ...rt.config, metrics: { ...rt.config.metrics, minInterval: 0 } }, rt.spool);
    process.stderr.write(`sysmail: metrics: ${rt.config.metrics.file} ${result}\n`);
  }
  process.stdout.write((await computeMetrics(rt.config, rt.spool)).text);
  return EX.OK;
}
