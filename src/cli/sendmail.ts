/**
 * `sendmail` (and `sysmail sendmail`): the drop-in that cron, logwatch, mdadm,
 * smartd, mailx and unattended-upgrades call. Reads the message on stdin,
 * queues it durably, exits 0; every other outcome is a sysexits code with a
 * message on stderr that says what to fix.
 */
import { parseSendmailArgs } from './sendmail-args.js';
import { currentUser, loadRuntime } from './runtime.js';
import { submitAndKick } from './submit.js';

export async function sendmailCommand(argv: string[]): Promise<number> {
  const a = parseSendmailArgs(argv);
  const globals = { config: a.configFile ?? undefined, verbose: a.verbose };
  switch (a.mode) {
    case 'list': return (await import('./admin.js')).mailqCommand(a.configFile ? ['--config', a.configFile] : []);
    case 'flush': return (await import('./admin.js')).flushCommand([...(a.configFile ? ['--config', a.configFile] : []), ...(a.verbose ? ['-v'] : []),
      ...(a.queueId ? ['--id', a.queueId] : [])]);
    case 'newaliases': return (await import('./admin.js')).newaliasesCommand(a.configFile ? ['--config', a.configFile] : []);
    case 'daemon': return (await import('./serve.js')).serveCommand(a.configFile ? ['--config', a.configFile] : []);
    case 'smtp': {
      const rt = await loadRuntime(globals);
      const { runStdioSmtp } = await import('../server/stdio.js');
      return runStdioSmtp(rt);
    }
    case 'deliver': break;
  }

  const rt = await loadRuntime(globals);
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
