/**
 * What most commands need: the validated config, the event log and the spool.
 * Loading is lazy and cheap; nothing here touches the network.
 */
import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { Spool } from '../spool/types.js';
import type { ParsedOptions } from './options.js';

export interface Runtime {
  config: Config;
  log: Logger;
  spool: Spool;
  /** True when this process may write the queue directly (root or the spool owner). */
  spoolOwner: boolean;
  verbose: boolean;
}

export async function loadConfigFrom(opts: ParsedOptions): Promise<Config> {
  if (typeof opts.spool === 'string') process.env.SYSMAIL_SPOOL = opts.spool;
  const { loadConfig } = await import('../config/load.js');
  return loadConfig({ path: typeof opts.config === 'string' ? opts.config : null });
}

export async function loadRuntime(opts: ParsedOptions, config?: Config): Promise<Runtime> {
  const cfg = config ?? await loadConfigFrom(opts);
  const [{ openSpool, canWriteQueue }, { createLogger }] = await Promise.all([
    import('../spool/file-spool.js'), import('../log/logger.js'),
  ]);
  const spoolOwner = canWriteQueue(cfg.spool.dir);
  const verbose = opts.verbose === true;
  // An unprivileged submitter cannot write the system log; the importer logs for it.
  const log = createLogger({ file: spoolOwner ? cfg.log.file : null, syslog: spoolOwner && cfg.log.syslog, verbose });
  // Only the spool owner imports drop/; the preparer is loaded when something is imported.
  const prepareImport = spoolOwner ? async (...a: Parameters<import('../spool/file-spool.js').PrepareImport>) =>
    (await import('./drop-prepare.js')).dropPreparer(cfg)(...a) : undefined;
  const spool = openSpool({ dir: cfg.spool.dir, mode: cfg.spool.mode, maxMessageSize: cfg.general.maxMessageSize, logger: log, prepareImport });
  return { config: cfg, log, spool, spoolOwner, verbose };
}

/** The login name of the calling user, as the kernel says (never from the environment). */
export async function currentUser(): Promise<{ uid: number; user: string }> {
  const uid = process.getuid?.() ?? 0;
  try {
    const { userInfo } = await import('node:os');
    return { uid, user: userInfo().username };
  } catch {
    return { uid, user: uid === 0 ? 'root' : `uid${uid}` };
  }
}
