/**
 * The per-transport From rewrite (`rewrite_from`), for relays that accept only
 * an approved or authenticated From: OCI Email Delivery, Gmail, Microsoft 365,
 * Amazon SES. As msmtp's set_from_header and Postfix's canonical maps do, the
 * From header becomes the approved address; the original sender stays
 * visible in the display name (`"root@web1 (Cron Daemon)" <alerts@example.com>`)
 * and as Reply-To, unless the message already has one.
 *
 * Guarantees: pure; every other header and the body are kept byte for byte;
 * a message whose From already is the approved address is returned as is.
 * It runs in the transport, before the message leaves, so anything that
 * signs afterwards (the relay's DKIM) signs the rewritten From. A
 * DKIM-Signature the message already carries over From is broken by any
 * From rewrite; receivers treat it as unsigned (RFC 6376 §6.1), which is why
 * sysmail itself never signs before this point. The spooled message is never
 * changed (a fallback transport without the rewrite gets the original).
 */
import { decodeWords } from '../message/encoded-words.js';
import { formatAddressHeader, parseAddressList } from '../message/address.js';
import { parseMessage, serializeMessage } from '../message/headers.js';

/** Relays known to refuse a From that is not an approved sender, by host name. */
export const APPROVED_SENDER_RELAYS: ReadonlyArray<{ pattern: RegExp; name: string }> = [
  { pattern: /^smtp\.email\.[a-z0-9-]+\.oci\.oraclecloud\.com$/i, name: 'OCI Email Delivery' },
  { pattern: /^smtp\.gmail\.com$/i, name: 'Gmail' },
  { pattern: /^smtp\.googlemail\.com$/i, name: 'Gmail' },
  { pattern: /^smtp\.office365\.com$/i, name: 'Microsoft 365' },
  { pattern: /^smtp-mail\.outlook\.com$/i, name: 'Outlook.com' },
  { pattern: /^email-smtp\.[a-z0-9-]+\.amazonaws\.com$/i, name: 'Amazon SES' },
];

export function approvedSenderRelay(host: string): string | null {
  return APPROVED_SENDER_RELAYS.find((r) => r.pattern.test(host))?.name ?? null;
}

export interface FromRewrite {
  raw: Buffer;
  /** The From before the rewrite (address), or null when nothing changed. */
  original: string | null;
}

/** `(Cron Daemon)` in `root (Cron Daemon)`: the old comment form of a display name. */
function commentName(value: string): string | null {
  const m = /\(([^()]*)\)/.exec(value);
  return m && m[1]!.trim() !== '' ? m[1]!.trim() : null;
}

function unquote(s: string): string {
  return s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1).replace(/\\(.)/g, '$1') : s;
}

/**
 * Rewrites From to `approved`. `qualifyWith` completes a bare From (`root`)
 * so the reader sees which host sent it (`root@web1`).
 */
export function rewriteFrom(raw: Buffer, approved: string, qualifyWith: string): FromRewrite {
  const msg = parseMessage(raw);
  const h = msg.headers;
  const value = h.get('from') ?? '';
  const first = value === '' ? undefined : parseAddressList(value)[0];
  let address = first?.address ?? '';
  if (address.toLowerCase() === approved.toLowerCase()) return { raw, original: null };
  if (address !== '' && !address.includes('@')) address = `${address}@${qualifyWith}`;
  const rawName = first?.name ? unquote(first.name) : commentName(value);
  const name = rawName ? decodeWords(rawName).replace(/[()]/g, '').trim() : '';
  const display = address === '' ? name : name === '' || name === address ? address : `${address} (${name})`;
  const from = formatAddressHeader(display, approved);
  // In place where the field is readable text; a From in another charset is replaced.
  if (h.rewrite('from', () => from) === 0) { h.remove('from'); h.add('From', from); }
  // Replies still reach whoever wrote the message; an existing Reply-To was chosen on purpose.
  if (!h.has('reply-to') && value !== '') h.add('Reply-To', first && !first.address.includes('@') && address !== '' ? formatAddressHeader(rawName, address) : value);
  return { raw: serializeMessage(h, msg.body), original: address === '' ? value : address };
}
