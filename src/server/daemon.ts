/**
 * `sysmail serve` as a whole: the loopback listener, the queue runner, the
 * pid file and the signals.
 *
 * Guarantees: runs only as root or the spool owner (EX_NOPERM otherwise);
 * only one serve per spool (<spool>/serve.pid, which also tells `sendmail`
 * not to start its own background flush); a message accepted by the listener
 * starts a delivery pass for it at once, once committed; connections to the
 * relays are kept open for a few seconds between passes. SIGTERM/SIGINT stop accepting, let open
 * sessions and the running pass finish (both bounded), remove the pid file
 * and resolve `done`. SIGHUP reloads the config: it is validated first, and
 * on any error the old one stays and the error is logged. The spool
 * directory, the log file and the listen addresses are fixed at start (a
 * change to them is logged as needing a restart).
 */
import { readFileSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import type { Runtime } from '../submit/runtime.js';
import { EX, SysmailError, ioError, toSysmailError, usageError } from '../core/errors.js';
import { isServeRunning, SERVE_PID_FILE, startQueueRequest } from '../submit/submit.js';
import { formatListen, parseListen, type ListenAddress } from './network.js';
import { startListener, type Listener } from './listener.js';
import { QueueRunner } from './queue-runner.js';
import { KeptTransports } from './kept-transports.js';
import { AcceptedMessages } from './accepted.js';
import { EarlyDeliveries, EarlyStart } from './early-delivery.js';
import type { TransportPool } from '../transports/registry.js';
import type { QueueRequest } from './session.js';
import type { Envelope } from '../spool/types.js';
import { SHUTDOWN_PASS_TIMEOUT_MS } from '../config/defaults.js';

export interface DaemonOptions {
  /** Listen addresses ("127.0.0.1:25", "[::1]:25"); null: listener.listen from the config; []: no listener. */
  listen: string[] | null;
  /** Peers that may send without AUTH. Default: loopback. */
  trustedNetworks?: readonly string[];
  /** Reads and validates the config again (SIGHUP). Without it, reload() keeps the current one. */
  loadConfig?: () => Promise<Config>;
  /** Handle SIGTERM, SIGINT and SIGHUP (the CLI does; tests call stop() and reload()). */
  signals?: boolean;
  /** Bound on waiting for the running pass at shutdown. */
  shutdownTimeoutMs?: number;
  /** How long outgoing connections stay open after a pass (default TRANSPORT_KEEP_IDLE_MS; tests). */
  keepIdleMs?: number;
}

export interface Daemon {
  readonly addresses: ListenAddress[];
  readonly runner: QueueRunner;
  /** The outgoing connections kept between passes. */
  readonly kept: KeptTransports;
  /** The runtime in use (its config changes on reload). */
  runtime(): Runtime;
  /** Reloads the config; false (old config kept, error logged) when the new one is broken. */
  reload(): Promise<boolean>;
  stop(): Promise<void>;
  /** Resolves once stopped, by stop() or a signal. */
  readonly done: Promise<void>;
}

export function parseListenArgs(list: string[]): ListenAddress[] {
  return list.map((s) => {
    const a = parseListen(s);
    if (!a) throw usageError(`serve: "${s}" is not host:port`, 'write addresses as 127.0.0.1:25 or [::1]:25 (IPv6 in brackets)');
    return a;
  });
}

function writePidFile(dir: string): string {
  const path = join(dir, SERVE_PID_FILE);
  let other: number | null = null;
  try {
    other = Number(readFileSync(path, 'utf8').trim());
  } catch { /* none */ }
  if (other !== null && other !== process.pid && isServeRunning(dir)) {
    throw new SysmailError('ERUNNING', `sysmail serve is already running for ${dir} (pid ${other})`, {
      exit: EX.UNAVAILABLE, hint: 'stop it first (systemctl stop sysmail), or use `systemctl reload sysmail` to apply a new config',
    });
  }
  // Ephemeral: written with rename for atomicity, not fsynced (a lost pid file after a crash is harmless).
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o711 }); // the spool's own root mode (src/spool/fsutil.ts)
    writeFileSync(tmp, `${process.pid}\n`, { mode: 0o644 });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw ioError(`cannot write the pid file ${path}`, err);
  }
  return path;
}

function removePidFile(path: string): void {
  try {
    if (Number(readFileSync(path, 'utf8').trim()) === process.pid) rmSync(path, { force: true });
  } catch { /* already gone */ }
}

export async function startDaemon(rt: Runtime, opts: DaemonOptions): Promise<Daemon> {
  if (!rt.spoolOwner) {
    throw new SysmailError('ENOPERM', `sysmail serve must run as root or as the owner of the spool ${rt.config.spool.dir}`, {
      exit: EX.NOPERM,
      hint: 'start it as the service (systemctl start sysmail) or with sudo; for a private instance set SYSMAIL_STATE_DIR to a directory you own',
    });
  }
  let current: Runtime = rt;
  const spoolDir = rt.config.spool.dir;
  const listen = parseListenArgs(opts.listen ?? rt.config.listener.listen);
  const pidPath = writePidFile(spoolDir);

  const { deliverNow } = await import('../submit/deliver.js');
  // Connections to the relays stay open between passes for a few seconds (kept-transports.ts).
  const kept = new KeptTransports({ config: () => current.config, log: rt.log, idleMs: opts.keepIdleMs });
  const withKept = async <T>(run: (transports: TransportPool) => Promise<T>): Promise<T> => {
    const transports = await kept.begin();
    try { return await run(transports); } finally { await kept.end(); }
  };
  const queueDir = join(spoolDir, 'queue');
  // What the listener has just committed, so its pass need not read it back (accepted.ts).
  const accepted = new AcceptedMessages();
  const runner = new QueueRunner({
    pass: () => withKept(async (transports) => {
      // The runner started a full pass: it covers the ids waiting, read from the spool.
      accepted.clear();
      await deliverNow(current, { transports });
    }),
    // The message just accepted: that id only; recovery and drop/ import are left to the full passes.
    passIds: (ids) => withKept(async (transports) =>
      (await deliverNow(current, { ids, transports, maintain: false, committed: accepted.take(ids) })).deferred > 0),
    ownDir: queueDir,
    nextDue: async () => {
      let due: number | null = null;
      for (const m of await current.spool.list('queue')) {
        if (m.state.held) continue;
        if (due === null || m.state.nextAttemptAt < due) due = m.state.nextAttemptAt;
      }
      return due;
    },
    watchDirs: [queueDir, join(spoolDir, 'drop')],
    log: rt.log,
  });

  // A message from a local client may start its relay dialogue at its DATA command (early-delivery.ts).
  const earlies = new EarlyDeliveries({ kept, config: () => current.config, log: rt.log, idle: () => runner.startsAtOnce });

  const queue = async (req: QueueRequest): Promise<string> => {
    // The one submit path (submit/submit.ts): the commit, as the runner's own, then the `accepted` event.
    const early = runner.startsAtOnce ? current.spool.newId?.() : undefined;
    const started = req.early instanceof EarlyStart && early !== undefined ? req.early : null;
    if (!started) req.early?.drop();
    const config = current.config;
    // The early delivery's data and final dot go out once the file is in queue/ (its fsync still running).
    const placed = started ? (envelope: Envelope) => started.supply(envelope, req.message, config) : undefined;
    const { envelope, done } = startQueueRequest(current, { ...req, via: 'smtp' }, (commit) => runner.ownCommit(commit), early, placed);
    if (started) done.catch(() => started.drop()); // a commit that failed before its file was placed
    // When a pass can start at once, the delivery overlaps the commit's fsyncs: with an early
    // delivery the relay has the message already; otherwise MAIL FROM, RCPT TO and the data go out
    // now, and the final dot once the commit is durable and claimed (Spool.claimCommitting). The
    // 250 still waits for the commit, as always.
    if (early !== undefined && accepted.add(early, { envelope, message: req.message, commit: done })) {
      started?.expect(early); // before the pass asks the transport for this id
      runner.deliver(early);
      return done;
    }
    started?.drop();
    const id = await done;
    accepted.add(id, { envelope, message: req.message });
    // After the commit: the delivery starts while the session sends its 250.
    runner.deliver(id);
    return id;
  };

  let listener: Listener | null = null;
  if (listen.length > 0) {
    try {
      listener = await startListener({ config: () => current.config, log: rt.log, listen, queue, trustedNetworks: opts.trustedNetworks,
        startEarly: (sender, recipients) => earlies.start(sender, recipients) });
    } catch (err) {
      removePidFile(pidPath);
      throw err;
    }
  }
  runner.start();

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => { resolveDone = r; });
  let stopping: Promise<void> | null = null;
  const onTerm = () => { void daemon.stop(); };
  const onHup = () => { void daemon.reload(); };

  const logError = (what: string, err: unknown) => {
    const e = toSysmailError(err);
    current.log.event({ event: 'error', reason: `${what}: ${e.message}` });
    process.stderr.write(`sysmail: ${what}: ${e.message}\n`);
  };

  const daemon: Daemon = {
    addresses: listener?.addresses ?? [],
    runner,
    kept,
    runtime: () => current,
    async reload() {
      if (!opts.loadConfig) return false;
      let next: Config;
      try {
        next = await opts.loadConfig();
      } catch (err) {
        logError('reload failed, the old configuration stays in use', err);
        return false;
      }
      const prev = current;
      current = { ...current, config: next };
      try {
        await listener?.reload();
      } catch (err) {
        current = prev;
        logError('reload failed, the old configuration stays in use', err);
        return false;
      }
      const restart: string[] = [];
      if (next.spool.dir !== prev.config.spool.dir) restart.push('spool.dir');
      if (next.log.file !== prev.config.log.file) restart.push('log.file');
      if (opts.listen === null && next.listener.listen.join(' ') !== prev.config.listener.listen.join(' ')) restart.push('listener.listen');
      // Said at every verbosity, in the journal and the event log: an admin who sent SIGHUP wants to see it landed.
      const summary = `configuration reloaded from ${next.source ?? 'the embedded default'}: `
        + `${Object.keys(next.transports).length} transport(s), ${next.routes.length} route(s)`
        + (restart.length > 0 ? `; ${restart.join(', ')} changed and take effect after a restart (systemctl restart sysmail)` : '');
      // Transport settings may have changed: kept connections are not reused (closed after the running pass).
      await kept.reload();
      process.stderr.write(`sysmail: ${summary}\n`);
      current.log.event({ event: 'reloaded', status: restart.length > 0 ? 'restart-needed' : 'ok', reason: summary });
      runner.trigger('reload');
      return true;
    },
    stop() {
      stopping ??= (async () => {
        if (opts.signals) {
          process.removeListener('SIGTERM', onTerm);
          process.removeListener('SIGINT', onTerm);
          process.removeListener('SIGHUP', onHup);
        }
        const [, finished] = await Promise.all([
          listener?.close(),
          runner.stop(opts.shutdownTimeoutMs ?? SHUTDOWN_PASS_TIMEOUT_MS),
        ]);
        if (!finished) {
          current.log.event({ event: 'error', reason: 'stopped during a delivery pass; its messages are picked up again at the next start' });
        }
        await kept.close('stopping');
        removePidFile(pidPath);
        resolveDone();
      })();
      return stopping;
    },
    done,
  };

  if (opts.signals) {
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onTerm);
    process.on('SIGHUP', onHup);
  }
  current.log.verbose(`serving${daemon.addresses.length ? ` on ${daemon.addresses.map(formatListen).join(', ')}` : ' (no listener)'}`);
  return daemon;
}
