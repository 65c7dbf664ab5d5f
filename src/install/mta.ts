/**
 * Makes sysmail the program behind /usr/sbin/sendmail, /usr/bin/mailq and
 * /usr/bin/newaliases, the way each distribution expects, keeping what was
 * there so uninstall can put it back:
 *
 * - rhel: the `mta` alternatives group, as Postfix and Sendmail register
 *   (`alternatives --install /usr/sbin/sendmail mta … --slave /usr/bin/mailq
 *   mta-mailq …`), then `--set` to select it; uninstall removes our entry and
 *   re-selects the previous MTA if the admin had chosen it by hand.
 * - debian: MTAs own /usr/sbin/sendmail directly, so each existing file is
 *   diverted (`dpkg-divert --local --rename`, so a later upgrade of exim4 or
 *   postfix writes to the diverted name instead of over our link), then an
 *   update-alternatives group "sendmail" is made.
 * - other: each existing file is moved to /var/lib/sysmail/backup and
 *   replaced by a symlink to our wrapper.
 */
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDebianQuery, parseRhelDisplay } from '../system/alternatives.js';
import { isSysmailProgram } from '../system/mta-links.js';
import type { Distro } from '../system/distro.js';
import {
  ALTERNATIVES_PRIORITY, BACKUP_DIR, DEBIAN_GROUP, DIVERT_SUFFIX, MTA_LINKS, RHEL_GROUP, RHEL_LIB_SENDMAIL, WRAPPERS,
} from '../system/layout.js';
import type { Ops } from './ops.js';

const ours = WRAPPERS.sendmail.path;

async function kind(ops: Ops, path: string): Promise<'missing' | 'symlink' | 'file'> {
  try { return (await lstat(ops.p(path))).isSymbolicLink() ? 'symlink' : 'file'; } catch { return 'missing'; }
}

export async function registerMta(ops: Ops, distro: Distro): Promise<void> {
  if (distro.family === 'rhel') return registerRhel(ops);
  if (distro.family === 'debian') return registerDebian(ops);
  return registerOther(ops);
}

async function registerRhel(ops: Ops): Promise<void> {
  const q = await ops.query(['alternatives', '--display', RHEL_GROUP]);
  const group = q && q.code === 0 ? parseRhelDisplay(RHEL_GROUP, q.stdout) : null;
  if (group?.current === ours) { ops.isAlready(`alternatives: ${RHEL_GROUP} selects ${ours}`); return; }
  const registered = group?.alternatives.some((a) => a.path === ours) ?? false;
  if (!registered) {
    // alternatives will not replace a plain file: keep it aside (only when it really runs here).
    if (ops.canRun(['alternatives'])) {
      for (const { link } of MTA_LINKS) {
        if (await kind(ops, link) === 'file' && !(await isSysmailProgram(ops.root, link))) await ops.move(link, join(BACKUP_DIR, link));
      }
    }
    const install = ['alternatives', '--install', '/usr/sbin/sendmail', RHEL_GROUP, ours, String(ALTERNATIVES_PRIORITY),
      ...MTA_LINKS.filter((l) => l.rhelSlave).flatMap((l) => ['--slave', l.link, l.rhelSlave!, l.wrapper]),
      '--slave', RHEL_LIB_SENDMAIL.link, RHEL_LIB_SENDMAIL.name, ours];
    const undo = [['alternatives', '--remove', RHEL_GROUP, ours]];
    // An MTA the admin had picked by hand is picked again; in auto mode the best remaining one wins by itself.
    if (group?.mode === 'manual' && group.current) undo.push(['alternatives', '--set', RHEL_GROUP, group.current]);
    await ops.command(install, undo);
  }
  await ops.command(['alternatives', '--set', RHEL_GROUP, ours], []);
}

async function registerDebian(ops: Ops): Promise<void> {
  const q = await ops.query(['update-alternatives', '--query', DEBIAN_GROUP]);
  const group = q && q.code === 0 ? parseDebianQuery(q.stdout) : null;
  if (group?.current === ours) { ops.isAlready(`update-alternatives: ${DEBIAN_GROUP} selects ${ours}`); return; }
  for (const { link, debianSlave } of MTA_LINKS) {
    const k = await kind(ops, link);
    if (k === 'missing') continue;
    if (k === 'symlink' && (await readlink(ops.p(link))) === `/etc/alternatives/${debianSlave ?? DEBIAN_GROUP}`) continue;
    const divert = ['dpkg-divert', '--local', '--rename', '--divert', `${link}${DIVERT_SUFFIX}`, '--add', link];
    const t = await ops.query(['dpkg-divert', '--truename', link]);
    if (t && t.code === 0 && t.stdout.trim() !== link) { ops.isAlready(`${link} diverted to ${t.stdout.trim()}`); continue; }
    // --local on removal too: run from a package's prerm, DPKG_MAINTSCRIPT_PACKAGE would otherwise
    // make dpkg-divert look for a diversion by that package and refuse ("mismatch on package").
    await ops.command(divert, [['dpkg-divert', '--local', '--rename', '--remove', link]]);
  }
  if (group?.alternatives.some((a) => a.path === ours)) {
    await ops.command(['update-alternatives', '--set', DEBIAN_GROUP, ours], []);
    return;
  }
  await ops.command(['update-alternatives', '--install', '/usr/sbin/sendmail', DEBIAN_GROUP, ours, String(ALTERNATIVES_PRIORITY),
    ...MTA_LINKS.filter((l) => l.debianSlave).flatMap((l) => ['--slave', l.link, l.debianSlave!, l.wrapper])],
  [['update-alternatives', '--remove', DEBIAN_GROUP, ours]]);
}

async function registerOther(ops: Ops): Promise<void> {
  for (const { link, wrapper } of MTA_LINKS) {
    const k = await kind(ops, link);
    if (k === 'symlink' && (await readlink(ops.p(link))) === wrapper) { ops.isAlready(`${link} -> ${wrapper}`); continue; }
    if (k !== 'missing') await ops.move(link, join(BACKUP_DIR, link));
    await ops.symlink(link, wrapper);
  }
}
