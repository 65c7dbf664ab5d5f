/**
 * Turns what a `sendmail` caller handed us into the envelope and message we
 * spool: validated, qualified addresses and a complete RFC 5322 header.
 *
 * Guarantees (pure: time and randomness come in through the options):
 * - Line ends become LF (the spool format); a bare CR in the body is kept, a
 *   bare CR inside a header becomes a space so it cannot start a new field.
 * - NUL bytes are refused ('ENUL', EX_DATAERR) rather than kept: RFC 5322
 *   forbids them, relays reject or mangle them, and silently stripping them
 *   would alter the content. The error says where the first one is and how to
 *   send such data instead.
 * - The body is never rewrapped or re-encoded. An 8-bit body without MIME
 *   headers keeps its bytes and gets no MIME headers from us: we cannot know
 *   its charset, and a guessed "charset=utf-8" would be a lie to the reader.
 * - A leading mbox "From " line (and ">From ") is dropped, as Postfix does.
 * - Every envelope address is valid (see address.ts); bare names get
 *   `@domain` in the envelope and, in the same way, in the From/Sender/
 *   Reply-To/To/Cc headers (and their Resent- forms), so both agree.
 * - Bcc and Resent-Bcc are always removed (Postfix and dma do the same): a
 *   blind copy must not reveal itself, with or without -t.
 * - Date, Message-ID and From are added when missing; To is added as
 *   "undisclosed-recipients:;" when the message has no To or Cc left (the
 *   argv recipients are never written into the header: they may be blind).
 */
import { EX, SysmailError, dataError } from '../core/errors.js';
import {
  addressListProblem, formatAddressHeader, parseAddressList, parseAddressListStrict, parseArgvAddresses, parseEnvelopeAddress, splitAddress,
} from './address.js';
import { type HeaderField, Headers, fieldValue, parseMessage, serializeMessage } from './headers.js';

export interface PrepareOptions {
  raw: Buffer;
  /** From -f/-r; "" = the null sender; null = derive from `user`. */
  sender: string | null;
  /** From -F; used only when a From: header has to be generated. */
  fullName?: string | null;
  /** Recipients from argv (each may be an address list, as Postfix allows). */
  recipients: string[];
  /** -t */
  extractRecipients: boolean;
  /**
   * Refuse (EADDRESS, EX_DATAERR / 501) a From, Sender, Reply-To, To or Cc
   * field (or Resent- form) whose address list is malformed, rather than pass
   * it on untouched. Default: on with -t (those fields then decide delivery);
   * the listener turns it on too.
   */
  strictHeaders?: boolean;
  /** Login name of the submitter. */
  user: string;
  hostname: string;
  domain: string;
  now: Date;
  tagHost: boolean;
  /** Makes the Message-ID deterministic (tests); default: a random UUID. */
  messageIdSeed?: string;
  /**
   * `sender` and `recipients` are single envelope addresses parsed already (parseEnvelopeAddress,
   * the SMTP session's MAIL FROM and RCPT TO, with this domain): used as they are, not parsed again
   * as argv lists (which gives the same addresses, ~0.1 ms later on the listener's path).
   */
  envelopeParsed?: boolean;
}

export interface PreparedMessage {
  sender: string;
  recipients: string[];
  message: Buffer;
}

/** Headers whose addresses are qualified in place: the lower-case name, and as errors name it. */
const ADDRESS_HEADERS = [['from', 'From'], ['sender', 'Sender'], ['reply-to', 'Reply-To'], ['to', 'To'], ['cc', 'Cc'],
  ['resent-from', 'Resent-From'], ['resent-sender', 'Resent-Sender'], ['resent-to', 'Resent-To'], ['resent-cc', 'Resent-Cc']] as const;
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 5322 date in the given offset from UTC (minutes east; default: the local zone at that instant). */
export function formatDate(d: Date, offsetMinutes = -d.getTimezoneOffset()): string {
  const t = new Date(d.getTime() + offsetMinutes * 60_000);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${DAYS[t.getUTCDay()]}, ${t.getUTCDate()} ${MONTHS[t.getUTCMonth()]} ${t.getUTCFullYear()} `
    + `${p2(t.getUTCHours())}:${p2(t.getUTCMinutes())}:${p2(t.getUTCSeconds())} ${sign}${p2(Math.floor(abs / 60))}${p2(abs % 60)}`;
}

/** A host name fit for the right-hand side of a Message-ID. */
function idHost(hostname: string): string {
  // hostname.replace(/[^A-Za-z0-9.-]/g, ''), as a loop: a regular expression costs ~0.02 ms at its first use.
  let h = '';
  for (let i = 0; i < hostname.length; i++) {
    const c = hostname.charCodeAt(i);
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d) h += hostname[i];
  }
  return h === '' ? 'localhost' : h;
}

/** `<time.random@host>`; the seed replaces the random part. */
export function makeMessageId(now: Date, hostname: string, seed?: string): string {
  // Not crypto.randomUUID(): initialising webcrypto costs ~3.6 ms and 2 MiB on every sendmail run.
  // A Message-ID must be unique, not secret: pid, a high-resolution clock and 64 random bits.
  const rnd = seed ?? `${process.pid.toString(36)}${process.hrtime.bigint().toString(36)}`
    + `${Math.floor(Math.random() * 2 ** 32).toString(36)}${Math.floor(Math.random() * 2 ** 32).toString(36)}`;
  // Base-36 digits need no cleaning; a seed does.
  return `<${now.getTime().toString(36)}.${seed === undefined ? rnd : rnd.replace(/[^A-Za-z0-9.\-_]/g, '')}@${idHost(hostname)}>`;
}

/** The display name of a From we generate: the full name (or local part), tagged with the host when asked. */
export function fromDisplayName(fullName: string | null | undefined, addr: string, hostname: string, tagHost: boolean): string | null {
  const name = (fullName ?? '').replace(/[\x00-\x1f\x7f]/g, ' ').trim().slice(0, 200);
  if (!tagHost) return name === '' ? null : name;
  const base = name !== '' ? name : splitAddress(addr).local.replace(/^"|"$/g, '') || 'sysmail';
  return `${base} (${hostname.replace(/[\x00-\x1f\x7f()\\]/g, '')})`;
}

/** CRLF -> LF; lone CRs are left alone (body) for the header pass to deal with. */
function normalizeLineEnds(raw: Buffer): Buffer {
  if (raw.indexOf(0x0d) < 0) return raw;
  const parts: Buffer[] = [];
  let pos = 0;
  for (let i = raw.indexOf('\r\n'); i >= 0; i = raw.indexOf('\r\n', pos)) {
    parts.push(raw.subarray(pos, i));
    pos = i + 1; // keep the LF
  }
  parts.push(raw.subarray(pos));
  return Buffer.concat(parts);
}

/** Drops leading mbox separator lines ("From ", ">From "). */
function stripFromLines(raw: Buffer): Buffer {
  let pos = 0;
  while (pos < raw.length) {
    let i = pos;
    while (raw[i] === 0x3e) i++;
    if (raw.toString('latin1', i, i + 5) !== 'From ') break;
    const nl = raw.indexOf(0x0a, i);
    pos = nl < 0 ? raw.length : nl + 1;
  }
  return raw.subarray(pos);
}

function nulError(raw: Buffer, at: number): SysmailError {
  let line = 1;
  for (let i = raw.indexOf(0x0a); i >= 0 && i < at; i = raw.indexOf(0x0a, i + 1)) line++;
  return dataError('ENUL', `the message contains a NUL byte (line ${line}, byte offset ${at}); mail cannot carry NUL bytes`,
    "remove them (e.g. `tr -d '\\000'`), or send binary data as an attachment or with `sysmail send`, which encodes it");
}

/**
 * An mbox "From " line after header fields ends the header block (it is not a
 * field), so every field below it would silently become body text: refused,
 * since the fields below it may be the recipients. A leading one is dropped
 * (stripFromLines), as Postfix does.
 */
function refuseFromLineInHeader(headers: Headers, body: Buffer): void {
  let i = 0;
  while (body[i] === 0x3e) i++;
  if (body.toString('latin1', i, i + 5) !== 'From ') return;
  const line = headers.toBuffer().reduce((n, c) => n + (c === 0x0a ? 1 : 0), 1);
  const nl = body.indexOf(0x0a);
  const text = body.toString('utf8', 0, Math.min(nl < 0 ? body.length : nl, 80));
  throw dataError('EHEADER', `line ${line} of the message header is an mbox "From " line (${JSON.stringify(text)}), not a header field; `
    + 'the fields after it would become body text', 'remove that line, or put it first (a leading "From " line is dropped), or put an empty line before it if it belongs to the body');
}

const RESENT_RCPT = new Set(['resent-to', 'resent-cc', 'resent-bcc']);
const RCPT = new Set(['to', 'cc', 'bcc']);

/**
 * The recipient fields for -t, as Postfix's cleanup takes them: every
 * Resent-To/-Cc/-Bcc field wherever it stands (all Resent- blocks) when there
 * is at least one, else every To, Cc and Bcc.
 */
function recipientFields(h: Headers): HeaderField[] {
  const resent = h.fields.filter((f) => RESENT_RCPT.has(f.lname));
  return resent.length > 0 ? resent : h.fields.filter((f) => RCPT.has(f.lname));
}

function recipientsFromHeaders(h: Headers, domain: string): string[] {
  const out: string[] = [];
  for (const f of recipientFields(h)) {
    for (const a of parseAddressListStrict(fieldValue(f), f.name)) {
      out.push(parseEnvelopeAddress(a.address, { domain, source: 'header', role: 'recipient' }));
    }
  }
  return out;
}

/**
 * Appends @domain to each bare name in an address-list value, in one pass;
 * null when nothing changes. A malformed list is refused when `strict`, and
 * otherwise left exactly as written: rewriting a guess would change what the
 * reader sees.
 */
function qualifyList(value: string, domain: string, header: string, strict: boolean): string | null {
  if (strict) parseAddressListStrict(value, header);
  else if (addressListProblem(value) !== null) return null;
  // Bare means no '@' at all (outside quotes): "user@" is broken, not bare, and is left for the reader to see.
  const ends = parseAddressList(value)
    .filter((a) => a.address !== '' && splitAddress(a.address).local === a.address && !hasSpace(a.address))
    .map((a) => a.end);
  if (ends.length === 0) return null;
  const pieces: string[] = [];
  let pos = 0;
  for (const end of ends) {
    pieces.push(value.slice(pos, end), '@', domain);
    pos = end;
  }
  pieces.push(value.slice(pos));
  return pieces.join('');
}

/** /\s/.test(s), with the regular expression (~0.02 ms at its first use) only for non-ASCII text. */
function hasSpace(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) return true;
    if (c >= 0x80) return /\s/.test(s);
  }
  return false;
}

function dedupe(addrs: string[]): string[] {
  const seen = new Set<string>();
  return addrs.filter((a) => {
    // Domains are already lower-cased by the parser; local parts are case-sensitive (RFC 5321 §2.4).
    if (seen.has(a)) return false;
    seen.add(a);
    return true;
  });
}

export function prepareMessage(opts: PrepareOptions): PreparedMessage {
  const nul = opts.raw.indexOf(0);
  if (nul >= 0) throw nulError(opts.raw, nul);
  const domain = opts.domain.toLowerCase();
  const raw = stripFromLines(normalizeLineEnds(opts.raw));
  const { headers, body, hadSeparator } = parseMessage(raw);
  if (headers.size > 0 && !hadSeparator) refuseFromLineInHeader(headers, body);
  // A lone CR inside a header would be a line end to some readers: make it a space.
  headers.mapRaw((b) => {
    if (b.indexOf(0x0d) < 0) return b;
    const c = Buffer.from(b);
    for (let i = c.indexOf(0x0d); i >= 0; i = c.indexOf(0x0d, i + 1)) c[i] = 0x20;
    return c;
  });

  // Envelope sender.
  let sender: string;
  if (opts.sender === null) {
    sender = parseEnvelopeAddress(opts.user, { domain, source: 'argv', role: 'sender' });
  } else if (opts.envelopeParsed) {
    sender = opts.sender;
  } else {
    const list = parseArgvAddresses(opts.sender, { domain, allowNull: true, role: 'sender' });
    if (list.length !== 1) {
      throw new SysmailError('EADDRESS', `-f takes one address, not ${list.length}: "${opts.sender.slice(0, 200)}"`, { exit: EX.USAGE });
    }
    sender = list[0]!;
  }

  // Recipients: argv first, then (with -t) the headers, as Postfix orders them.
  const rcpts: string[] = [];
  for (const r of opts.recipients) {
    if (opts.envelopeParsed) rcpts.push(r); else rcpts.push(...parseArgvAddresses(r, { domain, role: 'recipient' }));
  }
  if (opts.extractRecipients) rcpts.push(...recipientsFromHeaders(headers, domain));
  const recipients = dedupe(rcpts);
  if (recipients.length === 0) {
    throw new SysmailError('ENORCPT', 'no recipients: give them as arguments or use -t with To:/Cc:/Bcc: headers', { exit: EX.USAGE });
  }

  headers.remove('bcc');
  headers.remove('resent-bcc');
  const strict = opts.strictHeaders ?? opts.extractRecipients;
  for (const [name, title] of ADDRESS_HEADERS) headers.rewrite(name, (v) => qualifyList(v, domain, title, strict));

  if (!headers.has('date')) headers.add('Date', formatDate(opts.now));
  if (!headers.has('message-id')) headers.add('Message-ID', makeMessageId(opts.now, opts.hostname, opts.messageIdSeed));
  if (!headers.has('from')) {
    const fromAddr = sender !== '' ? sender : `MAILER-DAEMON@${domain}`;
    const name = sender !== '' ? fromDisplayName(opts.fullName, fromAddr, opts.hostname, opts.tagHost)
      : fromDisplayName('Mail Delivery System', fromAddr, opts.hostname, opts.tagHost);
    headers.add('From', formatAddressHeader(name, fromAddr));
  }
  if (!headers.has('to') && !headers.has('cc')) headers.add('To', 'undisclosed-recipients:;');
  if (opts.tagHost && !headers.has('x-sysmail-host')) headers.add('X-Sysmail-Host', opts.hostname);

  return { sender, recipients, message: serializeMessage(headers, body) };
}
