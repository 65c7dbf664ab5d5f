/**
 * Doctor's check of /usr/sbin/sendmail and mailq: does each end at sysmail,
 * and if not, what mail goes where instead and the one command that fixes it.
 * Read-only; the facts come from src/system/mta-links.ts.
 */
import type { Distro } from '../system/distro.js';
import type { Runner } from '../system/exec.js';
import { DEBIAN_GROUP, MTA_LINKS, RHEL_GROUP, WRAPPERS } from '../system/layout.js';
import { describeChain, followChain, isSysmailProgram, queryAlternatives } from '../system/mta-links.js';
import { fail, ok, warn, type CheckResult } from './report.js';

function switchCommand(family: Distro['family'], tool: string): string {
  if (tool === 'alternatives' || family === 'rhel') return `alternatives --set ${RHEL_GROUP} ${WRAPPERS.sendmail.path}`;
  return `update-alternatives --set ${DEBIAN_GROUP} ${WRAPPERS.sendmail.path}`;
}

export async function checkMtaLinks(root: string, distro: Distro, run: Runner): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const alt = await queryAlternatives(root, distro, run);
  const registered = alt?.group?.alternatives.some((a) => a.path === WRAPPERS.sendmail.path) ?? false;
  const altLine = !alt ? null
    : !alt.group ? `${alt.tool}: no "${alt.tool === 'alternatives' ? RHEL_GROUP : DEBIAN_GROUP}" link group`
    : `${alt.tool} group "${alt.group.name}" (${alt.group.mode ?? '?'} mode) selects ${alt.group.current ?? 'nothing'}; `
      + `sysmail is ${registered ? '' : 'not '}registered in it`;

  for (const { link } of MTA_LINKS.slice(0, 2)) {
    const name = link.split('/').pop()!;
    const chain = await followChain(root, link);
    const last = chain.hops[chain.hops.length - 1]!;
    const ours = chain.end === 'file' && await isSysmailProgram(root, last);
    const detail = [describeChain(chain) + (ours ? ' (sysmail)' : ''), ...(link === '/usr/sbin/sendmail' && altLine ? [altLine] : [])].join('\n');
    if (ours) { out.push(ok(name, detail)); continue; }
    const isSendmail = link === '/usr/sbin/sendmail';
    const what = chain.end === 'missing' && chain.hops.length === 1
      ? (isSendmail ? `there is no ${link}: programs that send mail (cron, logwatch, mdadm) cannot send any, and cron throws its jobs' output away` : `there is no ${link}: the queue cannot be listed by that name`)
      : (isSendmail ? `${link} is not sysmail: mail from cron and other programs goes to ${last}` : `${link} is not sysmail: it shows the queue of ${last}`);
    const fix = registered ? switchCommand(distro.family, alt!.tool) : 'sysmail install   (registers sysmail as sendmail, mailq and newaliases, keeping what was there)';
    const r = isSendmail ? fail(name, `${what}\n${detail}`, fix) : warn(name, `${what}\n${detail}`, fix);
    out.push(r);
  }
  return out;
}
