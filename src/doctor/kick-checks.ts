/**
 * Who starts delivery after sendmail has queued a message: `serve`, systemd's sysmail-flush.path
 * (sendmail trusts its marker in the spool and starts no flush), or sendmail itself. The one
 * thing that can go wrong is a marker whose unit is not running: new mail then waits for the
 * timer or serve. Read-only: one `systemctl is-active` query, and only when the marker is there.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import { FLUSH_PATH_MARKER } from '../config/defaults.js';
import { NOT_FOUND, type Runner } from '../system/exec.js';
import { info, ok, warn, type CheckResult } from './report.js';

export async function checkDeliveryTrigger(config: Config, run: Runner): Promise<CheckResult> {
  const marker = join(config.spool.dir, FLUSH_PATH_MARKER);
  try { await stat(marker); } catch {
    return info('delivery trigger', 'sendmail starts `sysmail flush` after each message unless `sysmail serve` runs (no sysmail-flush.path marker)');
  }
  const r = await run(['systemctl', 'is-active', 'sysmail-flush.path']);
  const state = r.code === NOT_FOUND ? 'not known (no systemctl)' : (r.stdout.trim() || `exit ${r.code}`);
  if (r.code === 0 && r.stdout.trim() === 'active') return ok('delivery trigger', 'sysmail-flush.path starts delivery as soon as mail is queued');
  return warn('delivery trigger', `${marker} tells sendmail that sysmail-flush.path starts delivery, but the unit is ${state}: new mail waits for the timer or serve`,
    `systemctl enable --now sysmail-flush.path   (or, without systemd: rm ${marker})`);
}
