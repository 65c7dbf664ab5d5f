/**
 * `sysmail doctor`: runs every check in order and returns the results.
 * Read-only (STYLE.md rule 7): nothing here creates, moves or changes a file;
 * the only programs run are queries (alternatives --display/--query,
 * getenforce, semodule -l, stat) and the password_command, as config check
 * runs it. Checks that need the configuration are skipped, with a line that
 * says so, when it does not load.
 */
import { join } from 'node:path';
import { DOCTOR_PROGRAM_TIMEOUT_MS } from '../config/defaults.js';
import { detectDistro, under } from '../system/distro.js';
import { CONFIG_FILE, WRAPPERS } from '../system/layout.js';
import type { Runner } from '../system/exec.js';
import { systemRunner } from '../system/exec.js';
import { followChain } from '../system/mta-links.js';
import { findPackageDir } from '../system/package.js';
import { checkCodeCache, checkConfigCache, launcherCache } from './code-cache.js';
import { checkConfig } from './config-checks.js';
import { checkDeliveryTrigger } from './kick-checks.js';
import { checkMtaLinks } from './mta-checks.js';
import { checkQueue } from './queue-checks.js';
import { info, type CheckResult } from './report.js';
import { checkSelinux, type LabelTarget } from './selinux.js';
import { checkLog, checkSpool } from './spool-checks.js';
import { checkTransports } from './transport-checks.js';
import { checkVisibility } from './visibility-checks.js';

export interface DoctorOptions {
  /** -C: the config file; null = $SYSMAIL_CONFIG or <root>/etc/sysmail/sysmail.toml. */
  config: string | null;
  /** Host tree to inspect (links, os-release, SELinux); "/" normally, a staging tree in tests. */
  root: string;
  run?: Runner;
  now?: () => number;
  /** Skip the network probes (transports). */
  offline?: boolean;
}

export async function runDoctor(opts: DoctorOptions): Promise<{ results: CheckResult[]; configSource: string | null }> {
  const run = opts.run ?? systemRunner(DOCTOR_PROGRAM_TIMEOUT_MS);
  const now = opts.now ?? Date.now;
  const euid = process.geteuid?.() ?? 0;
  const results: CheckResult[] = [];
  const { config, results: cfgResults } = await checkConfig({ path: opts.config, systemPath: under(opts.root, CONFIG_FILE), euid });
  results.push(...cfgResults);

  let spoolExists = false;
  if (config) {
    const spool = await checkSpool(config);
    spoolExists = spool.exists;
    results.push(...spool.results);
    results.push(...await checkLog(config));
    results.push(await (await import('./unprivileged.js')).checkUnprivileged(config.source, config.spool.dir));
    results.push(...await checkVisibility(config));
  }

  const distro = await detectDistro(opts.root);
  results.push(info('system', `${distro.name} (${distro.family === 'other' ? 'no alternatives system known' : `${distro.family} family`})`));
  results.push(...await checkMtaLinks(opts.root, distro, run));

  results.push(...checkCodeCache(launcherCache()));
  results.push(checkConfigCache(launcherCache(), { path: opts.config, systemPath: under(opts.root, CONFIG_FILE) }));

  const chain = await followChain(opts.root, '/usr/sbin/sendmail');
  const targets: LabelTarget[] = [
    { what: 'sendmail', path: chain.hops[chain.hops.length - 1] ?? WRAPPERS.sendmail.path, want: ['sendmail_exec_t'] },
    { what: 'daemon entry', path: WRAPPERS.daemon.path, want: ['sendmail_exec_t'] },
  ];
  if (config) {
    targets.push({ what: 'spool', path: config.spool.dir, want: ['mqueue_spool_t'] });
    if (config.log.file) targets.push({ what: 'log', path: join(config.log.file, '..'), want: ['sendmail_log_t', 'var_log_t'] });
  }
  const moduleDir = join(findPackageDir() ?? '/usr/local/lib/node_modules/sysmail', 'packaging', 'selinux');
  results.push(...await checkSelinux(opts.root, run, targets, moduleDir));

  if (config) {
    if (opts.offline) results.push(info('transports', 'not probed (--offline)'));
    else results.push(...await checkTransports(config, now));
    if (spoolExists) results.push(await checkDeliveryTrigger(config, run), ...await checkQueue(config, now));
  } else {
    results.push(info('transports', 'not checked: the configuration does not load (see above)'));
  }
  return { results, configSource: config?.source ?? null };
}
