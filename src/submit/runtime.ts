/**
 * What most commands need: the validated config, the event log and the spool.
 * Loading is lazy and cheap; nothing here touches the network. Used by the
 * commands (cli/), serve and `-bs` (server/) and `sysmail test` (doctor/).
 */
import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { Spool } from '../spool/types.js';
import { submitterLog } from './submit-core.js';

export interface Runtime {
  config: Config;
  log: Logger;
  spool: Spool;
  /** True when this process may write the queue directly (root or the spool owner). */
  spoolOwner: boolean;
  verbose: boolean;
}

/** The global options a runtime is loaded from (cli/options.ts ParsedOptions fits): --config, --spool, -v. */
export type RuntimeOptions = Readonly<Record<string, string | string[] | boolean | undefined>>;

export async function loadConfigFrom(opts: RuntimeOptions): Promise<Config> {
  if (typeof opts.spool === 'string') process.env.SYSMAIL_SPOOL = opts.spool;
  const { loadConfig } = await import('../config/load.js');
  return loadConfig({ path: typeof opts.config === 'string' ? opts.config : null });
}

export async function loadRuntime(opts: RuntimeOptions, config?: Config): Promise<Runtime> {
  const cfg = config ?? await loadConfigFrom(opts);
  const [{ openSpool, canWriteQueue }, { createLogger }] = await Promise.all([
    import('../spool/file-spool.js'), import('../log/logger.js'),
  ]);
  const spoolOwner = canWriteQueue(cfg.spool.dir);
  const verbose = opts.verbose === true;
  const log = createLogger(submitterLog(cfg, spoolOwner, verbose));
  // Only the spool owner imports drop/; the preparer is loaded when something is imported.
  const prepareImport = spoolOwner ? async (...a: Parameters<import('../spool/file-spool.js').PrepareImport>) =>
    (await import('./drop-prepare.js')).dropPreparer(cfg)(...a) : undefined;
  const spool = openSpool({ dir: cfg.spool.dir, mode: cfg.spool.mode, maxMessageSize: cfg.general.maxMessageSize, logger: log, prepareImport });
  return { config: cfg, log, spool, spoolOwner, verbose };
}

/** The login name of the calling user, as the kernel says (never from the environment): submit-core.ts. */
export async function currentUser(): Promise<{ uid: number; user: string }> {
  return (await import('./submit-core.js')).currentUserSync();
}
