/**
 * Work done under the spool owner's hand before each delivery pass: recover
 * claims left by crashed processes, move corrupt files aside, and import what
 * unprivileged users dropped. Every imported message is logged as accepted, with the event of
 * every other submit path (submit-core.ts). Passed to the runner as its `maintain` hook (deliver.ts).
 */
import type { Logger } from '../log/logger.js';
import type { Spool } from '../spool/types.js';
import { acceptedEventOf } from './submit-core.js';

export async function repairSpool(spool: Spool, log: Logger): Promise<void> {
  const report = await spool.recoverStale();
  for (const c of report.corrupt) log.event({ event: 'corrupt', id: c.id, reason: c.reason });
  for (const id of await spool.importDrop()) {
    const m = await spool.get(id);
    // The drop name is what an unprivileged submitter was told (`sendmail -bs`); `sysmail log --id NAME` finds this line.
    const from = spool.importedFrom?.get(id);
    log.event(acceptedEventOf(id, { from: m?.envelope.sender ?? null, rcpt: m?.envelope.recipients.join(',') ?? null,
      size: m?.size ?? null, via: 'drop', user: m?.envelope.user ?? '?', note: from ? `from ${from}` : undefined }));
  }
}
