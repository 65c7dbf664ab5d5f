/**
 * `sysmail test [RCPT]`: sends one real message through the configured
 * route and waits for the outcome. The message is queued on the normal
 * submit path (durable first), then one delivery pass runs for just that id
 * in the foreground; every step is printed: the queue id, the route and
 * transport chosen, and each recipient's outcome with the server's reply.
 *
 * Exit: 0 only when every recipient was delivered; EX_TEMPFAIL (75) when
 * something was deferred (the message stays queued and is retried as usual);
 * EX_UNAVAILABLE (69) when it failed for good (a bounce goes to the sender).
 */
import { EX, SysmailError } from '../core/errors.js';
import type { LogEvent, Logger } from '../log/logger.js';
import type { RuntimeOptions } from '../submit/runtime.js';

export async function runTestSend(opts: RuntimeOptions, rcptArgs: string[], out: (s: string) => void, now: () => Date = () => new Date()): Promise<number> {
  const [{ loadRuntime, currentUser }, { submitAndKick }, { deliverNow }] = await Promise.all([
    import('../submit/runtime.js'), import('../submit/submit.js'), import('../submit/deliver.js'),
  ]);
  const base = await loadRuntime(opts);
  if (!base.spoolOwner) {
    throw new SysmailError('ENOPERM', `sysmail test delivers in the foreground, which needs root or the owner of ${base.config.spool.dir}`,
      { exit: EX.NOPERM, hint: 'run it as root: sudo sysmail test' });
  }
  const events: LogEvent[] = [];
  let id = '';
  const tee: Logger = {
    event(e) {
      base.log.event(e);
      if (e.id !== id) return;
      events.push(e);
      if (e.event === 'attempt') out(`  route ${e.route ?? '?'} → transport ${e.transport ?? '?'}: trying ${e.rcpt ?? ''}\n`);
      else if (e.event === 'delivered' || e.event === 'deferred' || e.event === 'failed') {
        out(`  ${e.transport ?? e.route ?? 'no route'}: ${e.event} for ${e.rcpt ?? '?'}${e.smtp_code ? ` (${e.smtp_code})` : ''}: ${e.reason ?? ''}\n`);
      }
    },
    verbose: (m) => base.log.verbose(m),
    close: () => base.log.close(),
  };
  const rt = { ...base, log: tee };
  const g = rt.config.general;
  const [{ composeMessage }, { prepareMessage }, { parseEnvelopeAddress }] = await Promise.all([
    import('../message/compose.js'), import('../message/prepare.js'), import('../message/address.js'),
  ]);
  const me = await currentUser();
  const q = (a: string) => parseEnvelopeAddress(a, { domain: g.domain, source: 'argv' });
  const from = `${me.user}@${g.domain}`;
  const to = (rcptArgs.length > 0 ? rcptArgs : [g.admin]).map(q);
  const when = now();
  const body = Buffer.from([
    `This is a test message from sysmail on ${g.hostname}, sent by \`sysmail test\` at ${when.toISOString()}.`,
    '',
    'If you can read it, mail from this host arrives: cron, logwatch and the other',
    'programs that call sendmail reach you the same way.',
    '',
    `Config: ${rt.config.source ?? '(embedded default)'}`,
    '',
  ].join('\n'));
  const composed = composeMessage({ from, to, subject: `sysmail test from ${g.hostname}`, body, hostname: g.hostname, now: when, tagHost: g.tagHost });
  const prepared = prepareMessage({ raw: composed, sender: from, fullName: null, recipients: to, extractRecipients: false,
    user: me.user, hostname: g.hostname, domain: g.domain, now: when, tagHost: g.tagHost });
  id = await submitAndKick(rt, { sender: prepared.sender, recipients: prepared.recipients, message: prepared.message, via: 'send',
    uid: me.uid, user: me.user }, 'queue', typeof opts.config === 'string' ? opts.config : null);
  out(`sysmail test: queued ${id} from ${prepared.sender} to ${prepared.recipients.join(', ')}\n`);
  await deliverNow(rt, { ids: [id] });
  await rt.log.close();

  const outcome = (s: string) => events.filter((e) => e.event === s);
  const deferred = outcome('deferred');
  const failed = outcome('failed');
  const delivered = outcome('delivered');
  if (failed.length > 0) {
    out(`sysmail test: FAILED for ${failed.map((e) => e.rcpt).join(', ')}; a bounce went to ${prepared.sender}, the message is in failed/ (sysmail queue --failed)\n`);
    return EX.UNAVAILABLE;
  }
  if (deferred.length > 0 || delivered.length === 0) {
    const why = deferred.map((e) => e.reason).filter(Boolean)[0] ?? 'no delivery attempt was made';
    out(`sysmail test: NOT delivered yet: ${why}\n`);
    out(`sysmail test: the message stays queued as ${id} and is retried; fix the cause (sysmail doctor), then sysmail flush, or drop it: sysmail queue delete ${id}\n`);
    return EX.TEMPFAIL;
  }
  out(`sysmail test: delivered to ${delivered.map((e) => e.rcpt).join(', ')}\n`);
  return EX.OK;
}
