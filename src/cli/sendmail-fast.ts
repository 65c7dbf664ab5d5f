/**
 * The sendmail fast path. Bundled alone into dist/sysmail-sendmail.cjs (scripts/bundle.mjs) with
 * its own code cache, it holds only what submission needs and runs it without a promise: the flag
 * parser, the config (loadFastConfigSync: the compiled-config cache, else the TOML and the
 * validator), message preparation (sendmail-deliver.ts prepareFromStdin), the spool commit
 * (spool/commit-sync.ts submitSync), the log and the delivery kick (submit-core.ts), each shared
 * with the full CLI. It loads no node:fs/promises, and
 * node:child_process only when it must spawn the flush.
 *
 * It takes `sendmail`'s deliver mode unless -v asks for delivery in the foreground, when this
 * process may write the queue itself. For every other command, mode or flag, for arguments it
 * cannot parse, and for an unprivileged user (whose message goes through drop/), it answers null
 * before reading standard input, and the launcher (scripts/launcher.cjs) runs the full CLI, which
 * behaves and reports exactly as before.
 * Exit codes: as `sendmail` (main.ts); failures go through the same reportError.
 * settled() says whether anything is still under way once run() has returned (only a syslog
 * hand-off to logger(1)); when not, the launcher exits at once (process.exit: the 'exit' handlers
 * run, Node's environment and heap teardown, ~0.9 ms, does not), else it waits for it.
 */
import type { ConfigCacheOptions } from '../config/compiled-cache.js';
import { loadFastConfigSync } from '../config/load-sync.js';
import { createLogger } from '../log/logger.js';
import { submitSync } from '../spool/commit-sync.js';
import { canWriteQueue } from '../spool/drop.js';
import { reportError, resolveCommand } from './dispatch.js';
import { parseSendmailArgs, type SendmailArgs } from './sendmail-args.js';
import { prepareFromStdin } from './sendmail-deliver.js';
import { acceptedEvent, envelopeOf, kickDelivery, submitterLog } from '../submit/submit-core.js';

/** What the fast path would do with these arguments: the parsed flags, or null (the full CLI). */
export function fastPathArgs(script: string | undefined, argv: string[]): SendmailArgs | null {
  const { name, args } = resolveCommand(script, argv);
  if (name !== 'sendmail') return null;
  let a: SendmailArgs;
  try { a = parseSendmailArgs(args); } catch { return null; } // the full CLI reports it
  return a.mode === 'deliver' && !a.verbose ? a : null;
}

/**
 * The exit code, or null when the full CLI must run instead (nothing has been read or written).
 * Throws a failure for reportError. A log with syslog on finishes after the return (logger(1)).
 */
export function run(script: string | undefined, argv: string[]): number | null {
  const a = fastPathArgs(script, argv);
  if (!a) return null;
  const config = loadFastConfigSync({ path: a.configFile }, configCache());
  if (!canWriteQueue(config.spool.dir)) return null; // drop/: the full CLI (spool/drop.ts)
  const log = createLogger(submitterLog(config, true, false));
  const req = prepareFromStdin(a, config, log);
  const s = config.spool;
  const id = submitSync({ dir: s.dir, mode: s.mode, maxMessageSize: config.general.maxMessageSize }, envelopeOf(req), req.message);
  log.event(acceptedEvent(id, req));
  if (a.deliveryMode !== 'queue') kickDelivery(s.dir, id, a.configFile);
  if (config.log.syslog) { lingering = true; void log.close().finally(() => { lingering = false; }); }
  return 0;
}

let lingering = false;

/**
 * The compiled-config cache (config/compiled-cache.ts): in the launcher's first code-cache
 * directory, for this very bundle (its code-cache stamp: build id, Node, arch). None when not
 * started through the launcher, or when the bundle has no build id.
 */
function configCache(): ConfigCacheOptions | null {
  const l = (globalThis as { __sysmail_codeCache?: { dirs: string[]; bundles: Record<string, { stamp: string } | undefined> } }).__sysmail_codeCache;
  const stamp = l?.bundles.sendmail?.stamp;
  const dir = l?.dirs[0];
  return stamp && dir && !stamp.startsWith('none:') ? { dir, build: stamp } : null;
}

/** True when nothing this module started is still running: the process may exit at once. */
export function settled(): boolean {
  return !lingering;
}

export { reportError };
