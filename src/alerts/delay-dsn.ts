/**
 * The optional RFC 3464 "delayed" notice to the sender (alerts.delay_dsn), as
 * Postfix's delay_warning_time: once per message, when it has been in the
 * queue for alerts.delay_warning with recipients still pending.
 *
 * Never for a bounce or notice (null sender), never when the sender asked
 * NOTIFY=NEVER or listed NOTIFY without DELAY. Mail from root and daemons
 * goes to the admin, as bounces do. The notice is queued with the null
 * sender and marked as a bounce, so it is never bounced or delayed-notified
 * itself. The time it went out is kept in the message's state file, which is
 * being written anyway (no extra write).
 */
import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { DeliveryState, Envelope, Spool } from '../spool/types.js';
import { bounceRecipient, deliveryReport, oneLine } from '../delivery/bounce.js';
import { formatDate } from '../message/prepare.js';
import { isLocalRecipient } from '../router/router.js';
import { age } from './notice.js';

/** Pure: whether this message's sender is owed a delay notice now. */
export function wantsDelayNotice(env: Envelope, state: DeliveryState, now: number, delayMs: number): boolean {
  if (env.isBounce || env.sender === '' || state.delayWarnedAt !== undefined) return false;
  if (env.notify !== undefined) {
    const n = env.notify.toUpperCase().split(',').map((s) => s.trim());
    if (n.includes('NEVER') || !n.includes('DELAY')) return false;
  }
  return now - env.submittedAt >= delayMs;
}

/** Pure: the notice (headers of the original only, as Postfix sends them). */
export function buildDelayNotice(o: { id: string; envelope: Envelope; state: DeliveryState; raw: Buffer; hostname: string; to: string;
  now: number; retryUntil: number; delayMs: number }): Buffer {
  const boundary = `=_sysmail_${o.id}.delay`;
  const date = formatDate(new Date(o.now), 0);
  const pending = Object.entries(o.state.recipients).filter(([, r]) => r.status === 'deferred' || r.status === 'pending');
  const human = [
    `This is the mail system at host ${o.hostname}.`,
    '',
    `Your message (queue id ${o.id}) has not been delivered yet, after ${age(o.now - o.envelope.submittedAt)}.`,
    `It is still queued and will be retried until ${new Date(o.retryUntil).toUTCString()}.`,
    'You do not need to send it again.',
    '',
    ...pending.map(([k, r]) => `<${oneLine(k.split(' via ')[0]!)}>: ${oneLine(r.text ?? 'not tried yet')}`),
    '',
  ].join('\n');
  const perRcpt = pending.map(([k, r]) => [
    `Final-Recipient: rfc822; ${oneLine(k.split(' via ')[0]!)}`,
    'Action: delayed',
    `Status: ${r.dsn && /^4\.\d{1,3}\.\d{1,3}$/.test(r.dsn) ? r.dsn : '4.0.0'}`,
    ...(r.text ? [`Diagnostic-Code: smtp; ${oneLine(r.code ? `${r.code} ${r.text}` : r.text)}`] : []),
    `Will-Retry-Until: ${formatDate(new Date(o.retryUntil), 0)}`,
  ].join('\n')).join('\n\n');
  const idx = o.raw.indexOf('\n\n');
  const headers = idx < 0 ? o.raw : o.raw.subarray(0, idx + 1);
  const status = [
    `Reporting-MTA: dns; ${o.hostname}`,
    `X-Sysmail-Queue-ID: ${o.id}`,
    ...(o.envelope.envid ? [`Original-Envelope-Id: ${oneLine(o.envelope.envid)}`] : []),
    `Arrival-Date: ${formatDate(new Date(o.envelope.submittedAt), 0)}`,
    '',
    perRcpt,
    '',
  ].join('\n');
  return deliveryReport({
    hostname: o.hostname, to: o.to, subject: 'Delayed Mail (still being retried)', date,
    messageId: `<${o.id}.delay@${o.hostname}>`, boundary, human, status, original: headers, headersOnly: true,
  });
}

/** The runner's beforeDefer hook for alerts.delay_dsn. */
export function delayNotifier(config: Config, spool: Spool, log: Logger, now: () => number = Date.now) {
  return async (m: { id: string; envelope: Envelope; state: DeliveryState; raw: Buffer }): Promise<void> => {
    const t = now();
    if (!wantsDelayNotice(m.envelope, m.state, t, config.alerts.delayWarning)) return;
    const admin = config.general.admin.includes('@') ? config.general.admin : `${config.general.admin}@${config.general.domain}`;
    const to = bounceRecipient(m.envelope, admin, (a) => isLocalRecipient(a, config.general.localDomains));
    if (!to) return;
    const notice = buildDelayNotice({ id: m.id, envelope: m.envelope, state: m.state, raw: m.raw, hostname: config.general.hostname,
      to, now: t, retryUntil: m.envelope.submittedAt + config.spool.maxLifetime, delayMs: config.alerts.delayWarning });
    const id = await spool.submit({ sender: '', recipients: [to], submittedAt: t, uid: process.getuid?.() ?? 0, user: 'MAILER-DAEMON',
      via: 'bounce', isBounce: true }, notice);
    m.state.delayWarnedAt = t;
    log.event({ event: 'bounced', id: m.id, from: m.envelope.sender, rcpt: to, status: 'delayed', reason: `delay notice ${id} queued for ${to}` });
  };
}
