/**
 * Builds a complete message from a subject and a body, for `sysmail send` and
 * `sysmail notify`.
 *
 * Guarantees (pure): the subject can hold anything — CR, LF and other control
 * characters become spaces, so it yields exactly one Subject field and never
 * another header; non-ASCII is RFC 2047-encoded. The body's bytes always
 * survive, with a Content-Transfer-Encoding chosen from what they are:
 * - ASCII text with lines of at most 998 octets: 7bit, charset=utf-8;
 * - valid UTF-8 text within those limits: 8bit, charset=utf-8;
 * - anything else (NUL, a bare CR, over-long lines, or invalid UTF-8):
 *   quoted-printable, which carries every byte and still reads as text.
 *   Invalid UTF-8 is labelled charset=unknown-8bit (RFC 1428), the honest
 *   name for "8-bit text in an unknown charset"; we never claim UTF-8 for
 *   bytes that are not.
 * Line ends in the body become LF (the spool format); addresses must already
 * be valid (see address.ts), and one with a control character throws.
 */
import { isUtf8 } from 'node:buffer';
import { formatAddressHeader } from './address.js';
import { encodeHeaderText } from './encoded-words.js';
import { Headers, serializeMessage } from './headers.js';
import { formatDate, fromDisplayName, makeMessageId } from './prepare.js';

export interface ComposeOptions {
  from: string;
  fromName?: string | null;
  to: string[];
  cc?: string[];
  subject: string;
  body: Buffer;
  hostname: string;
  now: Date;
  tagHost: boolean;
  messageIdSeed?: string;
}

/** RFC 5322 §2.1.1: a line is at most 998 octets, excluding CRLF. */
const MAX_LINE = 998;

/** Subject text on one line: every control or line-breaking character becomes a space. */
export function cleanSubject(subject: string): string {
  return subject.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, ' ').replace(/ {2,}/g, ' ').trim();
}

function crlfToLf(b: Buffer): Buffer {
  if (b.indexOf(0x0d) < 0) return b;
  const parts: Buffer[] = [];
  let pos = 0;
  for (let i = b.indexOf('\r\n'); i >= 0; i = b.indexOf('\r\n', pos)) {
    parts.push(b.subarray(pos, i));
    pos = i + 1;
  }
  parts.push(b.subarray(pos));
  return Buffer.concat(parts);
}

function longestLine(b: Buffer): number {
  let max = 0;
  let pos = 0;
  while (pos <= b.length) {
    const nl = b.indexOf(0x0a, pos);
    const end = nl < 0 ? b.length : nl;
    max = Math.max(max, end - pos);
    if (nl < 0) break;
    pos = nl + 1;
  }
  return max;
}

/** Quoted-printable (RFC 2045 §6.7) with LF line ends; soft breaks keep lines within 76 characters. */
export function encodeQuotedPrintable(b: Buffer): Buffer {
  const lines: string[] = [];
  let pos = 0;
  while (pos <= b.length) {
    const nl = b.indexOf(0x0a, pos);
    const end = nl < 0 ? b.length : nl;
    let out = '';
    let len = 0;
    for (let i = pos; i < end; i++) {
      const c = b[i]!;
      const last = i === end - 1;
      const lit = (c >= 0x21 && c <= 0x7e && c !== 0x3d) || ((c === 0x20 || c === 0x09) && !last);
      const piece = lit ? String.fromCharCode(c) : '=' + c.toString(16).toUpperCase().padStart(2, '0');
      if (len + piece.length > 75) {
        out += '=\n';
        len = 0;
      }
      out += piece;
      len += piece.length;
    }
    lines.push(out);
    if (nl < 0) break;
    pos = nl + 1;
  }
  return Buffer.from(lines.join('\n'), 'ascii');
}

function bodyPart(raw: Buffer): { charset: string; cte: '7bit' | '8bit' | 'quoted-printable'; body: Buffer } {
  const body = crlfToLf(raw);
  const utf8 = isUtf8(body);
  const charset = utf8 ? 'utf-8' : 'unknown-8bit';
  const awkward = body.indexOf(0) >= 0 || body.indexOf(0x0d) >= 0 || longestLine(body) > MAX_LINE;
  if (!utf8 || awkward) return { charset, cte: 'quoted-printable', body: encodeQuotedPrintable(body) };
  const ascii = !body.some((c) => c >= 0x80);
  return { charset, cte: ascii ? '7bit' : '8bit', body };
}

export function composeMessage(opts: ComposeOptions): Buffer {
  const h = new Headers();
  h.add('Date', formatDate(opts.now));
  h.add('From', formatAddressHeader(fromDisplayName(opts.fromName, opts.from, opts.hostname, opts.tagHost), opts.from));
  const to = opts.to.map((a) => formatAddressHeader(null, a));
  h.add('To', to.length > 0 ? to.join(', ') : 'undisclosed-recipients:;');
  const cc = (opts.cc ?? []).map((a) => formatAddressHeader(null, a));
  if (cc.length > 0) h.add('Cc', cc.join(', '));
  const subject = cleanSubject(opts.subject);
  if (subject !== '') h.add('Subject', encodeHeaderText(subject));
  h.add('Message-ID', makeMessageId(opts.now, opts.hostname, opts.messageIdSeed));
  const part = bodyPart(opts.body);
  h.add('MIME-Version', '1.0');
  h.add('Content-Type', `text/plain; charset=${part.charset}`);
  h.add('Content-Transfer-Encoding', part.cte);
  if (opts.tagHost) h.add('X-Sysmail-Host', opts.hostname);
  return serializeMessage(h, part.body);
}
