/**
 * Doctor checks for fleet visibility: can the metrics file be written where
 * node_exporter reads it, do its counters have a log to come from, and is
 * anyone told when mail is stuck. Read-only: access(2), no test write.
 */
import { access, constants } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Config } from '../config/types.js';
import { TEXTFILE_DIRS } from '../config/defaults.js';
import { formatDuration } from '../config/units.js';
import { info, ok, warn, type CheckResult } from './report.js';

export async function checkVisibility(config: Config): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const file = config.metrics.file;
  if (!file) {
    out.push(info('metrics', `no metrics file (none of ${TEXTFILE_DIRS.join(', ')} exists)`,
      'install node_exporter with its textfile collector, or set [metrics] file; see docs/fleet.md'));
  } else {
    const dir = dirname(file);
    const why = await access(dir, constants.W_OK).then(() => null, (e: NodeJS.ErrnoException) =>
      e.code === 'ENOENT' ? `the directory ${dir} does not exist` : `the directory ${dir} is not writable (${e.code})`);
    if (why) out.push(warn('metrics', `${file} cannot be written: ${why}`, `create ${dir} (node_exporter's --collector.textfile.directory), or set [metrics] file = false`));
    else out.push(ok('metrics', `${file}, rewritten when it changes, at most every ${formatDuration(config.metrics.minInterval)}`));
    if (!config.log.file) {
      out.push(warn('metrics', 'log.file is off, so the delivery counters stay at zero (they are folded from the event log)',
        'set [log] file, or accept queue gauges only'));
    }
  }
  const a = config.alerts;
  if (a.via.length === 0) {
    out.push(info('alerts', 'nobody is told when mail is stuck (alerts.via is empty)',
      'add a second channel: [alerts] via = ["banner"] with a motd or OCI Notifications transport; see docs/fleet.md'));
  } else {
    out.push(ok('alerts', `stuck mail (deferred ${formatDuration(a.delayWarning)}) is reported via ${a.via.join(', ')} to ${a.to}`));
  }
  return out;
}
