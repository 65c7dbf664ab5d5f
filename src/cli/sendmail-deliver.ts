/**
 * The heart of `sendmail` (the "deliver" mode): read the message from standard input, prepare it
 * (-t recipients, Date, Message-ID, From), queue it durably, start delivery. One copy of each
 * step: `prepareFromStdin` (blocking, shared) and the submission, asynchronous for the full CLI
 * (deliverFromStdin, sendmail.ts) and blocking for the fast path (sendmail-fast.ts, bundled alone,
 * through submit-core.ts and spool/commit-sync.ts).
 */
import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { readMessageSync } from '../message/input-sync.js';
import { prepareMessage } from '../message/prepare.js';
import type { SendmailArgs } from './sendmail-args.js';
import type { Runtime } from '../submit/runtime.js';
import { currentUserSync, type SubmitRequest } from '../submit/submit-core.js';

/** Warnings, then the message read from stdin and prepared: the request to queue. */
export function prepareFromStdin(a: SendmailArgs, config: Pick<Config, 'general'>, log: Logger): SubmitRequest {
  for (const w of a.warnings) process.stderr.write(`sysmail: warning: ${w}\n`);
  if (a.ignored.length > 0) log.verbose(`accepted and ignored: ${a.ignored.join(' ')}`);
  const raw = readMessageSync(0, { dotEnds: !a.ignoreDots, maxSize: config.general.maxMessageSize });
  const me = currentUserSync();
  const g = config.general;
  const prepared = prepareMessage({
    raw, sender: a.sender, fullName: a.fullName, recipients: a.recipients, extractRecipients: a.extractRecipients,
    user: me.user, hostname: g.hostname, domain: g.domain, now: new Date(), tagHost: g.tagHost,
  });
  return {
    sender: prepared.sender, recipients: prepared.recipients, message: prepared.message, via: 'sendmail',
    uid: me.uid, user: me.user, notify: a.notify, ret: a.ret, envid: a.envid,
  };
}

export async function deliverFromStdin(a: SendmailArgs, rt: Runtime): Promise<number> {
  const req = prepareFromStdin(a, rt.config, rt.log);
  const { submitAndKick } = await import('../submit/submit.js');
  await submitAndKick(rt, req, a.deliveryMode, a.configFile);
  await rt.log.close();
  return 0;
}
