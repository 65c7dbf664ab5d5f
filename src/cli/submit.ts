/**
 * Hands a prepared message to the spool, then makes sure somebody delivers it.
 *
 * Exit 0 only after the spool has it durably. Delivery is then started
 * without making the caller wait: a running `sysmail serve` sees the new file
 * at once, and so does systemd's sysmail-flush.path where `sysmail install`
 * enabled it (its marker in the spool); otherwise a detached `sysmail flush
 * --id ID` is started (as dma does). `-odq` queues only; `-v` delivers in the foreground and shows it.
 * The rules shared with the blocking fast path are in submit-core.ts.
 */
import type { Runtime } from './runtime.js';
import { acceptedEvent, envelopeOf, kickDelivery, type DeliveryMode, type SubmitRequest } from './submit-core.js';

export { isServeRunning, SERVE_PID_FILE, someoneDelivers } from './submit-core.js';
export type { DeliveryMode, SubmitRequest } from './submit-core.js';

export async function submitAndKick(rt: Runtime, req: SubmitRequest, mode: DeliveryMode, configFile: string | null): Promise<string> {
  const envelope = envelopeOf(req);
  if (!rt.spoolOwner) {
    // Unprivileged: the drop directory; `serve` or the flush timer imports it (docs/QUEUE-FORMAT.md).
    const { submitToDrop } = await import('../spool/file-spool.js');
    const id = await submitToDrop(rt.config.spool.dir, envelope, req.message, { mode: rt.config.spool.mode });
    rt.log.verbose(`queued ${id} in the drop directory; sysmail serve or the flush timer delivers it`);
    return id;
  }
  const id = await rt.spool.submit(envelope, req.message);
  rt.log.event(acceptedEvent(id, req));
  if (mode === 'queue') return id;
  if (rt.verbose) {
    const { deliverNow } = await import('./deliver.js');
    await deliverNow(rt, { ids: [id] });
  } else {
    kickDelivery(rt.config.spool.dir, id, configFile);
  }
  return id;
}
