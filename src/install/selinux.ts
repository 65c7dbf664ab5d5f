/**
 * Loads sysmail's SELinux policy module on a host where SELinux is on, and
 * relabels sysmail's paths, when the module was shipped compiled at
 * SELINUX_MODULE (the .rpm and .deb do). Recorded with its undo
 * (`semodule -r sysmail`, then relabel again), so uninstall takes it out.
 *
 * Only on the live system (under --root nothing is known about the target's
 * policy). SELinux off or absent: nothing to do, nothing said. A module that
 * the policy refuses does not fail the install (a package's scriptlet must
 * not leave the package half-configured over it): it is reported with the
 * fix, and `sysmail doctor` keeps warning until it is loaded.
 */
import { stat } from 'node:fs/promises';
import { LOG_DIR, SELINUX_MODULE, SPOOL_DIR, WRAPPERS } from '../system/layout.js';
import type { Ops } from './ops.js';
import { SysmailError } from '../core/errors.js';

/** The paths sysmail.fc labels, for restorecon (-i: a path that is gone is not an error). */
export const LABELLED = [SPOOL_DIR, LOG_DIR, ...Object.values(WRAPPERS).map((w) => w.path)];

export async function loadSelinuxModule(ops: Ops): Promise<void> {
  if (ops.root !== '/') return;
  const mode = await ops.query(['getenforce']);
  if (!mode || mode.code !== 0 || /disabled/i.test(mode.stdout)) return;
  const relabel = ['restorecon', '-iRF', ...LABELLED];
  const have = await stat(SELINUX_MODULE).then(() => true, () => false);
  if (!have) {
    ops.note(`SELinux is on: load the sysmail policy module (packaging/selinux/README.md), then: ${relabel.join(' ')}`);
    return;
  }
  const list = await ops.query(['semodule', '-l']);
  if (list && list.code === 0 && /^sysmail(\s|$)/m.test(list.stdout)) { ops.isAlready('SELinux module sysmail loaded'); return; }
  try {
    await ops.command(['semodule', '-i', SELINUX_MODULE], [['semodule', '-r', 'sysmail'], relabel]);
    await ops.command(relabel, []);
  } catch (e) {
    if (!(e instanceof SysmailError)) throw e;
    ops.note(`SELinux module not loaded: ${e.message}. Mail from confined programs (cron, logwatch) may be denied until it is: `
      + 'build it from /usr/lib/sysmail/packaging/selinux (its README.md) and load it with semodule -i');
  }
}
