/**
 * What both submission shells share: submitAndKick and queueRequest (submit.ts, asynchronous: the
 * full CLI, `send`, `sendmail -bs`, `sysmail test`, serve's listener) and the sendmail fast path
 * (cli/sendmail-fast.ts, blocking, bundled alone: keep this module's imports lean).
 * The calling user, the envelope made from a request, the `accepted` event, the logger of a submitter, and who starts
 * delivery. Loads no node:fs/promises and no node:child_process until it must spawn.
 *
 * Delivery is started without making the caller wait: a running `sysmail serve` sees the new file
 * at once, and so does systemd's sysmail-flush.path where `sysmail install` enabled it (its marker
 * in the spool); otherwise a detached `sysmail flush --id ID` is started (as dma does).
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { userName } from '../core/host-facts.js';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import { FLUSH_PATH_MARKER } from '../config/defaults.js';
import type { LoggerOptions, LogEvent } from '../log/logger.js';
import type { Envelope, SubmitVia } from '../spool/types.js';

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
  /** How it arrived, for the `accepted` event ("smtp from 127.0.0.1"); default: `via`. */
  origin?: string;
}

export type DeliveryMode = 'interactive' | 'background' | 'queue';

export function envelopeOf(req: SubmitRequest, now: number = Date.now()): Envelope {
  return {
    sender: req.sender, recipients: req.recipients, submittedAt: now, uid: req.uid, user: req.user, via: req.via,
    ...(req.notify ? { notify: req.notify } : {}), ...(req.ret ? { ret: req.ret } : {}), ...(req.envid ? { envid: req.envid } : {}),
  };
}

/** The login name of the calling user, as the kernel says (never from the environment). */
export function currentUserSync(): { uid: number; user: string } {
  const uid = process.getuid?.() ?? 0;
  try {
    return { uid, user: userName() };
  } catch {
    return { uid, user: uid === 0 ? 'root' : `uid${uid}` };
  }
}

/** What the `accepted` event says of a message: from a request, or read back after a drop/ import. */
export interface AcceptedFacts {
  from: string | null;
  rcpt: string | null;
  size: number | null;
  /** How it arrived ("sendmail", "smtp from 127.0.0.1", "drop"). */
  via: string;
  user: string;
  /** Said after the user, in parentheses ("from <drop name>"). */
  note?: string;
}

/** The one `accepted` event, logged once a message is in the queue (every submit path, and drop/ imports). */
export function acceptedEventOf(id: string, f: AcceptedFacts): LogEvent {
  return { event: 'accepted', id, from: f.from, rcpt: f.rcpt, size: f.size, status: 'queued',
    reason: `via ${f.via} by ${f.user}${f.note ? ` (${f.note})` : ''}` };
}

/** The `accepted` event of a request just committed. */
export function acceptedEvent(id: string, req: SubmitRequest): LogEvent {
  return acceptedEventOf(id, { from: req.sender, rcpt: req.recipients.join(','), size: req.message.length, via: req.origin ?? req.via, user: req.user });
}

/** The event log of a submitter: an unprivileged one cannot write the system log; the importer logs for it. */
export function submitterLog(cfg: Pick<Config, 'log'>, spoolOwner: boolean, verbose: boolean): LoggerOptions {
  return { file: spoolOwner ? cfg.log.file : null, syslog: spoolOwner && cfg.log.syslog, verbose };
}

export const SERVE_PID_FILE = 'serve.pid';

/** A running `serve`, or systemd's sysmail-flush.path (its marker), starts delivery without us. */
export function someoneDelivers(spoolDir: string): boolean {
  return existsSync(join(spoolDir, FLUSH_PATH_MARKER)) || isServeRunning(spoolDir);
}

export function isServeRunning(spoolDir: string): boolean {
  // Asked first without an exception: with no serve, a failed read would cost ~0.1 ms.
  if (!existsSync(join(spoolDir, SERVE_PID_FILE))) return false;
  try {
    const pid = Number(readFileSync(join(spoolDir, SERVE_PID_FILE), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 1) return false;
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** After a commit in background mode: start delivery unless someone else does. */
export function kickDelivery(spoolDir: string, id: string, configFile: string | null): void {
  if (!someoneDelivers(spoolDir)) startBackgroundFlush(id, configFile);
}

function startBackgroundFlush(id: string, configFile: string | null): void {
  if (!process.argv[1]) return;
  // Through the real entry point: run via a `sendmail` symlink, the name would make it sendmail again.
  let script = process.argv[1];
  try { script = realpathSync(script); } catch { /* keep the name we were run by */ }
  const args = [script, 'flush', '--quiet', '--id', id, ...(configFile ? ['--config', configFile] : [])];
  try {
    // Loaded here, not at the top (2 ms): with `serve` running no process is started at all.
    const { spawn } = childProcess();
    const child = spawn(process.execPath, args, { detached: true, stdio: 'ignore' });
    child.on('error', () => {}); // the flush timer will deliver it
    child.unref();
  } catch {
    // Nothing lost: the message is queued; `sysmail flush` delivers it later.
  }
}

/**
 * node:child_process, loaded when first needed. The shipped CLI is CommonJS bundles (dist/), where
 * `require` is at hand; built as ES modules (build/, the tests) it is process.getBuiltinModule
 * (Node >= 20.16; before that this throws and the caller leaves the message to the next flush).
 * Not node:module's createRequire: loading node:module cost every sendmail start ~0.18 ms.
 */
function childProcess(): typeof import('node:child_process') {
  if (typeof require === 'function') return require('node:child_process') as typeof import('node:child_process');
  const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  if (!get) throw new Error('node:child_process cannot be loaded synchronously here');
  return get('node:child_process') as typeof import('node:child_process');
}

