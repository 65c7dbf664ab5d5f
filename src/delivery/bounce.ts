/**
 * RFC 3464 delivery status notifications for permanent failures and expiry.
 * Pure: builds the bounce bytes and decides who gets it. Never bounce a bounce
 * (the caller checks envelope.isBounce); bounces are sent with the null sender.
 */
import type { Envelope } from '../spool/types.js';
import { formatDate } from '../message/prepare.js';

export interface FailedRecipient {
  rcpt: string;
  /** Envelope recipient before aliases or the admin rule, when different, and why. */
  orig?: string;
  via?: 'alias' | 'admin' | null;
  dsn: string;
  code?: number;
  text: string;
  /** "smtp", "x-local", "x-http"… for Diagnostic-Code. */
  diagnosticType?: string;
}

export interface BounceInput {
  id: string;
  envelope: Envelope;
  original: Buffer;
  failed: FailedRecipient[];
  hostname: string;
  now: Date;
  /** Set when the queue lifetime ran out. */
  expired?: boolean;
  boundarySeed: string;
}

/** Include at most this much of the original; above it, only its headers. */
export const BOUNCE_ORIGINAL_MAX_BYTES = 256 * 1024;

/** Mail from these local senders goes to the admin: nobody reads root's or a daemon's mailbox. */
const SYSTEM_SENDERS = new Set(['root', 'daemon', 'cron', 'nobody', 'mailer-daemon', 'postmaster', 'logwatch',
  'smartd', 'mdadm', 'www-data', 'systemd-timer', 'anacron']);

export function bounceRecipient(envelope: Envelope, admin: string, isLocal: (addr: string) => boolean): string | null {
  if (envelope.isBounce) return null;
  if (envelope.sender === '') return admin;
  const at = envelope.sender.lastIndexOf('@');
  const local = (at < 0 ? envelope.sender : envelope.sender.slice(0, at)).toLowerCase();
  if (isLocal(envelope.sender) && SYSTEM_SENDERS.has(local)) return admin;
  return envelope.sender;
}

const rfc5322Date = (d: Date) => formatDate(d, 0);

/** Control characters and CR/LF never reach a header or a DSN field (delay notices use it too). */
export const oneLine = (s: string) => s.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();

function headerBlock(raw: Buffer): Buffer {
  const idx = raw.indexOf('\n\n');
  return idx < 0 ? raw : raw.subarray(0, idx + 1);
}

export function buildBounce(b: BounceInput, to: string): Buffer {
  const boundary = `=_sysmail_${b.boundarySeed}`;
  const date = rfc5322Date(b.now);
  const reason = b.expired ? 'could not be delivered within the queue lifetime' : 'could not be delivered';
  const human = [
    `This is the mail system at host ${b.hostname}.`,
    '',
    `Your message (queue id ${b.id}) ${reason} to the recipients below.`,
    'It is kept on the host in the failed queue (`sysmail queue --failed`).',
    '',
    // A rewritten recipient reads as in `sysmail queue`: <root@web1> → <ops@example.com> (admin).
    ...b.failed.map((f) => `${f.orig && f.orig !== f.rcpt ? `<${f.orig}> → ` : ''}<${f.rcpt}>${f.orig && f.orig !== f.rcpt && f.via ? ` (${f.via})` : ''}: ${oneLine(f.text)}`),
    '',
  ].join('\n');

  const perRcpt = b.failed.map((f) => [
    ...(f.orig && f.orig !== f.rcpt ? [`Original-Recipient: rfc822; ${oneLine(f.orig)}`] : []),
    `Final-Recipient: rfc822; ${oneLine(f.rcpt)}`,
    `Action: failed`,
    `Status: ${/^[45]\.\d{1,3}\.\d{1,3}$/.test(f.dsn) ? f.dsn.replace(/^4/, '5') : '5.0.0'}`,
    `Diagnostic-Code: ${f.diagnosticType ?? 'smtp'}; ${oneLine(f.code ? `${f.code} ${f.text}` : f.text)}`,
    `Last-Attempt-Date: ${date}`,
  ].join('\n')).join('\n\n');

  const status = [
    `Reporting-MTA: dns; ${b.hostname}`,
    `X-Sysmail-Queue-ID: ${b.id}`,
    ...(b.envelope.envid ? [`Original-Envelope-Id: ${oneLine(b.envelope.envid)}`] : []),
    `Arrival-Date: ${rfc5322Date(new Date(b.envelope.submittedAt))}`,
    '',
    perRcpt,
    '',
  ].join('\n');

  const headersOnly = b.envelope.ret === 'hdrs' || b.original.length > BOUNCE_ORIGINAL_MAX_BYTES;
  return deliveryReport({
    hostname: b.hostname, to, subject: 'Undelivered Mail Returned to Sender', date,
    messageId: `<${b.boundarySeed}.bounce@${b.hostname}>`, boundary, human, status,
    original: headersOnly ? headerBlock(b.original) : b.original, headersOnly,
  });
}

/**
 * The RFC 3464 frame every report of ours shares (bounces here, delay notices in alerts/): a
 * multipart/report from MAILER-DAEMON with the human text, the delivery-status part, and the
 * original (or only its headers).
 */
export function deliveryReport(r: { hostname: string; to: string; subject: string; date: string; messageId: string;
  boundary: string; human: string; status: string; original: Buffer; headersOnly: boolean }): Buffer {
  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${r.hostname}>`,
    `To: <${r.to}>`,
    `Subject: ${r.subject}`,
    `Date: ${r.date}`,
    `Message-ID: ${r.messageId}`,
    `Auto-Submitted: auto-replied`,
    `MIME-Version: 1.0`,
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${r.boundary}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${r.boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    r.human,
    `--${r.boundary}`,
    'Content-Type: message/delivery-status',
    '',
    r.status,
    `--${r.boundary}`,
    r.headersOnly ? 'Content-Type: text/rfc822-headers' : 'Content-Type: message/rfc822',
    '',
    '',
  ].join('\n');
  const o = r.original;
  const tail = `${o.length && o[o.length - 1] !== 0x0a ? '\n' : ''}\n--${r.boundary}--\n`;
  return Buffer.concat([Buffer.from(head, 'utf8'), o, Buffer.from(tail, 'utf8')]);
}
