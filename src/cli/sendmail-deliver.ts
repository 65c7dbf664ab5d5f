/**
 * The heart of `sendmail` (the "deliver" mode): read the message from standard input, prepare it
 * (-t recipients, Date, Message-ID, From), queue it durably, start delivery. One copy, used by
 * the full CLI (sendmail.ts) and by the fast path (sendmail-fast.ts, bundled alone).
 */
import type { SendmailArgs } from './sendmail-args.js';
import { currentUser, type Runtime } from './runtime.js';
import { submitAndKick } from './submit.js';

export async function deliverFromStdin(a: SendmailArgs, rt: Runtime): Promise<number> {
  for (const w of a.warnings) process.stderr.write(`sysmail: warning: ${w}\n`);
  if (a.ignored.length > 0) rt.log.verbose(`accepted and ignored: ${a.ignored.join(' ')}`);
  const [{ readMessageSync }, { prepareMessage }] = await Promise.all([import('../message/input-sync.js'), import('../message/prepare.js')]);
  const raw = readMessageSync(0, { dotEnds: !a.ignoreDots, maxSize: rt.config.general.maxMessageSize });
  const me = await currentUser();
  const g = rt.config.general;
  const prepared = prepareMessage({
    raw, sender: a.sender, fullName: a.fullName, recipients: a.recipients, extractRecipients: a.extractRecipients,
    user: me.user, hostname: g.hostname, domain: g.domain, now: new Date(), tagHost: g.tagHost,
  });
  await submitAndKick(rt, {
    sender: prepared.sender, recipients: prepared.recipients, message: prepared.message, via: 'sendmail',
    uid: me.uid, user: me.user, notify: a.notify, ret: a.ret, envid: a.envid,
  }, a.deliveryMode, a.configFile);
  await rt.log.close();
  return 0;
}
