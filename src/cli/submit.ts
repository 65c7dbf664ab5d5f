/**
 * Hands a prepared message to the spool, then makes sure somebody delivers it.
 *
 * Exit 0 only after the spool has it durably. Delivery is then started
 * without making the caller wait: a running `sysmail serve` sees the new file
 * at once, and so does systemd's sysmail-flush.path where `sysmail install`
 * enabled it (its marker in the spool); otherwise a detached `sysmail flush
 * --id ID` is started (as dma does). `-odq` queues only; `-v` delivers in the foreground and shows it.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { FLUSH_PATH_MARKER } from '../config/defaults.js';
import type { Envelope, SubmitVia } from '../spool/types.js';
import type { Runtime } from './runtime.js';

export interface SubmitRequest {
  sender: string;
  recipients: string[];
  message: Buffer;
  via: SubmitVia;
  uid: number;
  user: string;
  notify?: string;
  ret?: 'full' | 'hdrs';
  envid?: string;
}

export type DeliveryMode = 'interactive' | 'background' | 'queue';

export async function submitAndKick(rt: Runtime, req: SubmitRequest, mode: DeliveryMode, configFile: string | null): Promise<string> {
  const envelope: Envelope = {
    sender: req.sender, recipients: req.recipients, submittedAt: Date.now(), uid: req.uid, user: req.user, via: req.via,
    ...(req.notify ? { notify: req.notify } : {}), ...(req.ret ? { ret: req.ret } : {}), ...(req.envid ? { envid: req.envid } : {}),
  };
  if (!rt.spoolOwner) {
    // Unprivileged: the drop directory; `serve` or the flush timer imports it (docs/QUEUE-FORMAT.md).
    const { submitToDrop } = await import('../spool/file-spool.js');
    const id = await submitToDrop(rt.config.spool.dir, envelope, req.message, { mode: rt.config.spool.mode });
    rt.log.verbose(`queued ${id} in the drop directory; sysmail serve or the flush timer delivers it`);
    return id;
  }
  const id = await rt.spool.submit(envelope, req.message);
  rt.log.event({ event: 'accepted', id, from: req.sender, rcpt: req.recipients.join(','), size: req.message.length,
    status: 'queued', reason: `via ${req.via} by ${req.user}` });
  if (mode === 'queue') return id;
  if (rt.verbose) {
    const { deliverNow } = await import('./deliver.js');
    await deliverNow(rt, { ids: [id] });
  } else if (!someoneDelivers(rt.config.spool.dir)) {
    await startBackgroundFlush(id, configFile);
  }
  return id;
}

export const SERVE_PID_FILE = 'serve.pid';

/** A running `serve`, or systemd's sysmail-flush.path (its marker), starts delivery without us. */
export function someoneDelivers(spoolDir: string): boolean {
  return isServeRunning(spoolDir) || existsSync(join(spoolDir, FLUSH_PATH_MARKER));
}

export function isServeRunning(spoolDir: string): boolean {
  try {
    const pid = Number(readFileSync(join(spoolDir, SERVE_PID_FILE), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 1) return false;
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function startBackgroundFlush(id: string, configFile: string | null): Promise<void> {
  if (!process.argv[1]) return;
  // Through the real entry point: run via a `sendmail` symlink, the name would make it sendmail again.
  let script = process.argv[1];
  try { script = realpathSync(script); } catch { /* keep the name we were run by */ }
  const args = [script, 'flush', '--quiet', '--id', id, ...(configFile ? ['--config', configFile] : [])];
  try {
    // Loaded here, not at the top: with `serve` running no process is started at all.
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, args, { detached: true, stdio: 'ignore' });
    child.on('error', () => {}); // the flush timer will deliver it
    child.unref();
  } catch {
    // Nothing lost: the message is queued; `sysmail flush` delivers it later.
  }
}
