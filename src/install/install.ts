/**
 * `sysmail install`: makes this host (or a staging tree, --root) run sysmail
 * as its MTA. In order: /etc/sysmail with a commented config (never
 * overwritten) and secrets/ 0700; the spool with its modes; the log and
 * state directories; the wrappers; the systemd units; the man pages; the
 * sendmail/mailq/newaliases registration (mta.ts); systemd and SELinux
 * activation on a live system.
 *
 * Idempotent: a second run finds everything done, says "already" per step
 * and writes nothing. --dry-run says what it would do and writes nothing.
 * Every change is recorded in /var/lib/sysmail/install-state.json, written
 * even when a later step fails, so uninstall can always undo what was done.
 */
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { FLUSH_PATH_MARKER } from '../config/defaults.js';
import { EX, SysmailError } from '../core/errors.js';
import type { Runner } from '../system/exec.js';
import { detectDistro, under, type Distro } from '../system/distro.js';
import { rewriteUnit, wrapperScript } from './content.js';
import {
  CONFIG_DIR, CONFIG_FILE, ENABLED_UNITS, LOG_DIR, MAN_DIR, MAN_PAGES, SECRETS_DIR, SPOOL_DIR, SPOOL_DROP_MODE, SPOOL_PRIVATE,
  SPOOL_PRIVATE_MODE, SPOOL_ROOT_MODE, STATE_DIR, STATE_FILE, UNIT_DIR, UNITS, WRAPPER_MARKER, WRAPPERS,
} from '../system/layout.js';
import { registerMta } from './mta.js';
import { loadSelinuxModule } from './selinux.js';
import { Ops } from './ops.js';
import { readState, writeState, type InstallState } from './state.js';

export interface InstallOptions {
  /** "/" or a staging tree. */
  root: string;
  dryRun: boolean;
  /** The sysmail package: etc/, man/, packaging/. */
  packageDir: string;
  /** Paths as they will be on the target (the wrappers exec them). */
  node: string;
  entry: string;
  run: Runner;
  out: (line: string) => void;
  /**
   * Called from a distribution package's scriptlets (--package-mode): the
   * package owns the config, wrappers, units and man pages, so install does
   * only what a package cannot ship as files: the directories' modes, the
   * sendmail registration, systemd activation and the SELinux module.
   */
  packaged?: boolean;
  /** --notify-command PATH: a wrapper that runs `sysmail notify` (for old `oci-notification-mail {subject}` lines). */
  notifyCommands?: string[];
}

export interface InstallSummary { changes: number; already: number; kept: number; distro: Distro }

async function exists(p: string): Promise<boolean> {
  try { await stat(p); return true; } catch { return false; }
}

async function packaged(opts: InstallOptions, rel: string): Promise<Buffer | null> {
  try { return await readFile(join(opts.packageDir, rel)); } catch { return null; }
}

export async function runInstall(opts: InstallOptions): Promise<InstallSummary> {
  if (opts.root === '/' && process.geteuid?.() !== 0) {
    throw new SysmailError('ENOPERM', 'sysmail install changes /etc, /var and /usr and must run as root', { exit: EX.NOPERM, hint: 'sudo sysmail install   (or --root DIR to stage into a directory)' });
  }
  const distro = await detectDistro(opts.root);
  const stateFile = under(opts.root, STATE_FILE);
  const prev = await readState(stateFile);
  const rootedDebian = opts.root !== '/' && distro.family === 'debian' && await exists(under(opts.root, '/var/lib/dpkg'));
  const ops = new Ops(opts.root, opts.dryRun, opts.run, opts.out, prev, rootedDebian);
  opts.out(`sysmail install${opts.dryRun ? ' --dry-run' : ''}: ${distro.name}${opts.root === '/' ? '' : `, into ${opts.root}`}`);
  try {
    await steps(ops, opts, distro);
  } finally {
    if (!opts.dryRun && ops.changes.length > 0) {
      const state: InstallState = {
        version: 1, root: opts.root, distro: { id: distro.id, family: distro.family }, node: opts.node, entry: opts.entry,
        changes: [...(prev?.changes ?? []), ...ops.changes],
      };
      await writeState(stateFile, state);
    }
  }
  const what = opts.dryRun ? 'would make' : 'made';
  const count = opts.dryRun ? ops.planned : ops.done;
  opts.out(count === 0
    ? `sysmail install: nothing to do (${ops.already} step(s) already done${ops.kept ? `, ${ops.kept} kept as found` : ''})`
    : `sysmail install: ${what} ${count} change(s), ${ops.already} already done${ops.kept ? `, ${ops.kept} kept as found` : ''}${opts.dryRun ? '' : `; recorded in ${STATE_FILE}`}`);
  return { changes: ops.done, already: ops.already, kept: ops.kept, distro };
}

async function steps(ops: Ops, opts: InstallOptions, distro: Distro): Promise<void> {
  // First, so the state file always has a home, whatever fails later.
  await ops.dir(STATE_DIR, 0o755, false);
  // Configuration: readable by the users who run sendmail; secrets for root only.
  // Owned (mode fixed): an earlier `sysmail import` could have made it 0700, which locks out every non-root sendmail.
  await ops.dir(CONFIG_DIR, 0o755, true);
  await ops.dir(SECRETS_DIR, 0o700, true);
  // The spool, as src/spool/fsutil.ts ensureLayout makes it.
  await ops.dir(SPOOL_DIR, SPOOL_ROOT_MODE, true);
  for (const a of SPOOL_PRIVATE) await ops.dir(join(SPOOL_DIR, a), SPOOL_PRIVATE_MODE, true);
  await ops.dir(join(SPOOL_DIR, 'drop'), SPOOL_DROP_MODE, true);
  await ops.dir(LOG_DIR, 0o750, true);
  if (!opts.packaged) await files(ops, opts);
  await registerMta(ops, distro);
  await activate(ops);
  await loadSelinuxModule(ops);
}

/** The files a distribution package ships itself (the config, wrappers, units, man pages). */
async function files(ops: Ops, opts: InstallOptions): Promise<void> {
  const example = await packaged(opts, 'etc/sysmail.toml.example');
  if (!example) throw new SysmailError('EINSTALL', `the package has no etc/sysmail.toml.example (looked in ${opts.packageDir})`, { exit: EX.OSFILE, hint: 'reinstall the sysmail package' });
  if (await exists(ops.p(CONFIG_FILE))) ops.isAlready(`${CONFIG_FILE} (kept as it is: install never overwrites a config)`);
  else await ops.file(CONFIG_FILE, example, 0o644, { upgrade: false });

  for (const w of Object.values(WRAPPERS)) await ops.file(w.path, wrapperScript(w, opts.node, opts.entry), 0o755, { upgrade: true });
  for (const path of opts.notifyCommands ?? []) await notifyWrapper(ops, opts, path);

  for (const unit of UNITS) {
    const text = await packaged(opts, join('packaging', 'systemd', unit));
    if (!text) { ops.note(`packaging/systemd/${unit} is not in the package: not installed`); continue; }
    await ops.file(join(UNIT_DIR, unit), rewriteUnit(text.toString('utf8')), 0o644, { upgrade: true });
  }
  for (const m of MAN_PAGES) {
    const text = await packaged(opts, join('man', m.file));
    if (!text) { ops.note(`man/${m.file} is not in the package: not installed`); continue; }
    await ops.file(join(MAN_DIR, m.section, m.file), text, 0o644, { upgrade: true });
  }
}

/**
 * A command name that old scripts and dnf-automatic's command_format call
 * (`/usr/local/bin/oci-notification-mail {subject}`, body on stdin) that now
 * runs `sysmail notify`. The admin asked for this path, so an old script in
 * the way is an error naming it, not a silent "kept".
 */
async function notifyWrapper(ops: Ops, opts: InstallOptions, path: string): Promise<void> {
  if (!isAbsolute(path)) {
    throw new SysmailError('EUSAGE', `--notify-command ${path}: the path must be absolute`, { exit: EX.USAGE, hint: 'sysmail install --notify-command /usr/local/bin/oci-notification-mail' });
  }
  const have = await readFile(ops.p(path), 'utf8').catch(() => null);
  if (have !== null && !have.includes(WRAPPER_MARKER)) {
    throw new SysmailError('EINSTALL', `--notify-command: ${ops.p(path)} exists and was not written by sysmail (the old script?)`,
      { exit: EX.CANTCREAT, hint: `keep it aside (mv ${path} ${path}.old), then run sysmail install --notify-command ${path} again` });
  }
  await ops.file(path, wrapperScript({ path, command: 'notify' }, opts.node, opts.entry), 0o755, { upgrade: true });
}

/** systemd and SELinux: only on a live system; under --root the commands are recorded for the target. */
async function activate(ops: Ops): Promise<void> {
  const live = ops.root === '/';
  if (!live || await exists('/run/systemd/system')) {
    const units = [...ENABLED_UNITS];
    if (live) {
      const en = await ops.query(['systemctl', 'is-enabled', ...units]);
      if (en && en.code === 0 && en.stdout.trim().split('\n').every((l) => l.trim() === 'enabled')) { ops.isAlready(`${units.join(', ')} enabled`); }
      else {
        if (!ops.dryRun) await ops.query(['systemctl', 'daemon-reload']);
        await ops.command(['systemctl', 'enable', '--now', ...units], [['systemctl', 'disable', '--now', ...units]]);
      }
    } else {
      await ops.command(['systemctl', 'enable', ...units], [['systemctl', 'disable', ...units]]);
    }
    // After the unit: sendmail stops starting its own flush only once something else will deliver.
    await ops.file(join(SPOOL_DIR, FLUSH_PATH_MARKER), 'sysmail-flush.path starts delivery when mail is queued here (written by sysmail install)\n', 0o644, { upgrade: true });
    ops.note('for the loopback SMTP listener (port 25; stops a running postfix/exim): systemctl enable --now sysmail');
  } else {
    ops.note('systemd is not running here: run `sysmail flush --due` from cron every minute instead of sysmail-flush.timer');
  }
}
