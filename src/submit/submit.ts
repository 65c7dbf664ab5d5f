/**
 * Hands a prepared message to the spool, then makes sure somebody delivers it: the one submit
 * path of `sendmail`, `send`, `notify`, `sendmail -bs`, `sysmail test` and serve's listener (the
 * sendmail fast path runs the same rules blocking, through submit-core.ts).
 *
 * Exit 0 (or 250) only after the spool has it durably (`queueRequest`: the commit, then the
 * `accepted` event). Delivery is then started without making the caller wait: a running `sysmail
 * serve` sees the new file at once, and so does systemd's sysmail-flush.path where `sysmail install`
 * enabled it (its marker in the spool); otherwise a detached `sysmail flush --id ID` is started (as
 * dma does). `-odq` queues only; `-v` delivers in the foreground and shows it. Serve's listener
 * takes only `queueRequest` and delivers the message in a pass of its own (server/daemon.ts).
 */
import type { Envelope } from '../spool/types.js';
import type { Runtime } from './runtime.js';
import { acceptedEvent, envelopeOf, kickDelivery, type DeliveryMode, type SubmitRequest } from './submit-core.js';

export { isServeRunning, SERVE_PID_FILE, someoneDelivers } from './submit-core.js';
export type { DeliveryMode, SubmitRequest } from './submit-core.js';

/** Runs the spool commit; serve passes its runner's `ownCommit`, so its watcher knows the file is its own. */
export type CommitWrapper = (commit: () => Promise<string>) => Promise<string>;

/**
 * Queues one request (this process owns the spool): its envelope, the durable commit, then the
 * `accepted` event. Returns the id once the commit is complete, with the envelope written.
 */
export async function queueRequest(rt: Runtime, req: SubmitRequest, commit: CommitWrapper = (c) => c()): Promise<{ id: string; envelope: Envelope }> {
  const started = startQueueRequest(rt, req, commit);
  return { id: await started.done, envelope: started.envelope };
}

/**
 * queueRequest for a caller that acts while the commit runs (serve's listener): the envelope being
 * written now, and `done`, which resolves with the id once the commit is durable and the `accepted`
 * event written. `id`: the queue id to commit under (Spool.newId), when the caller needs it early;
 * `placed`: see Spool.submit; called with the envelope being committed.
 */
export function startQueueRequest(rt: Runtime, req: SubmitRequest, commit: CommitWrapper = (c) => c(), id?: string,
  placed?: (envelope: Envelope) => void): { envelope: Envelope; done: Promise<string> } {
  const envelope = envelopeOf(req);
  const done = commit(() => rt.spool.submit(envelope, req.message, id, placed && (() => placed(envelope)))).then((queued) => {
    rt.log.event(acceptedEvent(queued, req));
    return queued;
  });
  return { envelope, done };
}

export async function submitAndKick(rt: Runtime, req: SubmitRequest, mode: DeliveryMode, configFile: string | null): Promise<string> {
  if (!rt.spoolOwner) {
    // Unprivileged: the drop directory; `serve` or the flush timer imports it (docs/QUEUE-FORMAT.md).
    const { submitToDrop } = await import('../spool/file-spool.js');
    const id = await submitToDrop(rt.config.spool.dir, envelopeOf(req), req.message, { mode: rt.config.spool.mode });
    rt.log.verbose(`queued ${id} in the drop directory; sysmail serve or the flush timer delivers it`);
    return id;
  }
  const { id } = await queueRequest(rt, req);
  if (mode === 'queue') return id;
  if (rt.verbose) {
    const { deliverNow } = await import('./deliver.js');
    await deliverNow(rt, { ids: [id] });
  } else {
    kickDelivery(rt.config.spool.dir, id, configFile);
  }
  return id;
}
