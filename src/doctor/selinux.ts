/**
 * Doctor checks for SELinux: the mode, whether the sysmail policy module is
 * loaded, and the labels of the spool, the log and the sendmail program
 * (packaging/selinux/sysmail.fc says what they should be). SELinux absent or
 * disabled is information, not a failure. Read-only.
 */
import { readFile } from 'node:fs/promises';
import { under } from '../system/distro.js';
import type { Runner } from '../system/exec.js';
import { NOT_FOUND } from '../system/exec.js';
import { info, ok, warn, type CheckResult } from './report.js';

export type SelinuxMode = 'enforcing' | 'permissive' | 'disabled';

export async function selinuxMode(root: string, run: Runner): Promise<SelinuxMode> {
  if (root === '/') {
    const r = await run(['getenforce']);
    if (r.code === 0) {
      const v = r.stdout.trim().toLowerCase();
      if (v === 'enforcing' || v === 'permissive' || v === 'disabled') return v;
    }
  }
  try {
    const v = (await readFile(under(root, '/sys/fs/selinux/enforce'), 'utf8')).trim();
    return v === '1' ? 'enforcing' : 'permissive';
  } catch {
    return 'disabled';
  }
}

/** "system_u:object_r:mqueue_spool_t:s0" -> "mqueue_spool_t". */
export function contextType(ctx: string): string | null {
  const parts = ctx.trim().split(':');
  return parts.length >= 3 && parts[2] ? parts[2] : null;
}

export interface LabelTarget { what: string; path: string; want: string[] }

export async function checkSelinux(root: string, run: Runner, targets: LabelTarget[], moduleDir: string): Promise<CheckResult[]> {
  const mode = await selinuxMode(root, run);
  if (mode === 'disabled') return [info('selinux', 'SELinux not enabled')];
  const out: CheckResult[] = [info('selinux', `SELinux is ${mode}`)];
  const load = `cd ${moduleDir} && make -f /usr/share/selinux/devel/Makefile sysmail.pp && semodule -i sysmail.pp`;
  const mods = await run(['semodule', '-l']);
  const loaded = mods.code === 0 && mods.stdout.split('\n').some((l) => l.trim().split(/\s+/)[0] === 'sysmail');
  if (mods.code === 0) {
    out.push(loaded ? ok('selinux module', 'the sysmail policy module is loaded')
      : warn('selinux module', 'the sysmail policy module is not loaded: the spool and log keep generic labels, and confined programs (cron, logwatch) may be denied when they send mail',
        `${load} && restorecon -RF ${targets.map((t) => t.path).join(' ')}`));
  } else if (mods.code !== NOT_FOUND) {
    out.push(info('selinux module', `cannot list policy modules (semodule -l: ${mods.stderr.trim() || `exit ${mods.code}`}); run doctor as root to check`));
  }
  for (const t of targets) {
    const r = await run(['stat', '-c', '%C', under(root, t.path)]);
    const type = r.code === 0 ? contextType(r.stdout) : null;
    if (!type) { out.push(info(`label ${t.what}`, `cannot read the SELinux label of ${t.path}`)); continue; }
    if (t.want.includes(type)) out.push(ok(`label ${t.what}`, `${t.path} is ${type}`));
    else {
      out.push(warn(`label ${t.what}`, `${t.path} is labelled ${type}, expected ${t.want.join(' or ')}`,
        loaded ? `restorecon -RFv ${t.path}` : `${load} && restorecon -RFv ${t.path}`));
    }
  }
  return out;
}
