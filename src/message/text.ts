/**
 * Readable text out of a mail message, for transports that carry text rather
 * than mail (OCI Notifications, command, motd).
 *
 * Guarantees: never throws on any input; the Subject is RFC 2047 decoded and
 * kept on one line; the body is the first text/plain part (any depth of
 * multipart/*), else the first text/html part flattened to text, with its
 * transfer encoding and charset decoded (unknown charset: UTF-8 with U+FFFD).
 * Hostile structure is bounded: at most MAX_DEPTH levels of nesting and
 * MAX_PARTS parts are looked at, and every scan is linear in the input, so a
 * crafted message cannot blow the stack or hang the delivery process.
 * message/rfc822 parts (and the parts of a multipart/digest, which are
 * messages by default) are descended into like any other part. Content-Type
 * parameters follow RFC 2045/2231: comments are ignored, quoted values
 * unquoted, and `name*=charset''pct` and `name*0*=` continuations decoded.
 * Only the small charset and encoded-word modules are imported: this is loaded
 * on delivery paths that must stay lean.
 */
import { decodeLenient } from './charset.js';
import { MAX_DECODED_WORDS, decodeWords } from './encoded-words.js';
import { fieldValue, parseMessage } from './headers.js';
import { parseMimeValue } from './mime-params.js';

const MAX_DEPTH = 32;
const MAX_PARTS = 1000;

export interface ExtractedText {
  subject: string;
  text: string;
}

interface Part {
  headers: Map<string, string>;
  body: Buffer;
}

interface ContentType {
  type: string;
  params: Map<string, string>;
}

export function extractText(raw: Buffer): ExtractedText {
  const top = splitPart(raw);
  const subject = oneLine(decodeEncodedWords(top.headers.get('subject') ?? ''));
  const budget = { parts: MAX_PARTS };
  const plain = findPart(top, 'text/plain', 0, budget);
  if (plain) return { subject, text: tidy(decodePart(plain)) };
  budget.parts = MAX_PARTS;
  const html = findPart(top, 'text/html', 0, budget);
  if (html) return { subject, text: tidy(htmlToText(decodePart(html))) };
  const ct = contentType(top);
  return { subject, text: `[no text content: ${ct.type}]` };
}

/**
 * Headers (unfolded, names lowercased, first occurrence wins) and body bytes,
 * split as headers.ts splits a message (and as RFC 5322 and Python's parser
 * do): the header block ends at the first empty line, or at the first line
 * that is neither a field nor a continuation, which then begins the body.
 */
function splitPart(buf: Buffer): Part {
  const parsed = parseMessage(buf);
  const headers = new Map<string, string>();
  for (const f of parsed.headers.fields) if (!headers.has(f.lname)) headers.set(f.lname.trim(), fieldValue(f));
  return { headers, body: parsed.body };
}

const MIME_TYPE = /^[a-z0-9!#$%&'*+.^_`|~-]+\/[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** The part's type and parameters; `dflt` is the type of a part without Content-Type (message/rfc822 in a digest). */
function contentType(p: Part, dflt = 'text/plain'): ContentType {
  const v = p.headers.get('content-type');
  if (!v) return { type: dflt, params: new Map() };
  const { value, params } = parseMimeValue(v);
  // RFC 2045 §5.2: a Content-Type that is not type/subtype is read as the default.
  return { type: MIME_TYPE.test(value) ? value : 'text/plain', params };
}

function isAttachment(p: Part): boolean {
  // The first word decides: "attachment filename=x" (a ';' missing) is still an attachment.
  return /^attachment(?:$|[ \t])/.test(parseMimeValue(p.headers.get('content-disposition') ?? '').value);
}

/** RFC 2046 §5.1.1 allows 70 characters; a longer boundary is refused so the search stays linear. */
const MAX_BOUNDARY = 200;

/**
 * Depth-first search for the first inline part of `want`; bounded in depth and
 * in parts visited. A message/rfc822 part is searched as the message it holds.
 */
function findPart(p: Part, want: string, depth: number, budget: { parts: number }, dflt = 'text/plain'): Part | null {
  if (--budget.parts < 0) return null;
  const ct = contentType(p, dflt);
  if (ct.type.startsWith('multipart/')) {
    const boundary = ct.params.get('boundary');
    if (!boundary || boundary.length > MAX_BOUNDARY || depth >= MAX_DEPTH) return null;
    const childType = ct.type === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
    for (const child of splitMultipart(p.body, boundary, budget.parts + 1)) {
      const hit = findPart(splitPart(child), want, depth + 1, budget, childType);
      if (hit) return hit;
      if (budget.parts < 0) return null;
    }
    return null;
  }
  if ((ct.type === 'message/rfc822' || ct.type === 'message/global') && !isAttachment(p)) {
    if (depth >= MAX_DEPTH) return null;
    return findPart(splitPart(transferDecode(p)), want, depth + 1, budget);
  }
  return ct.type === want && !isAttachment(p) ? p : null;
}

/** The bodies between `--boundary` delimiter lines (RFC 2046 §5.1.1); linear in the body size. */
function splitMultipart(body: Buffer, boundary: string, maxParts: number): Buffer[] {
  const delim = Buffer.from('--' + boundary);
  const parts: Buffer[] = [];
  let start = -1;
  let pos = 0;
  while (pos <= body.length && parts.length < maxParts) {
    const at = body.indexOf(delim, pos);
    if (at === -1) break;
    const atLineStart = at === 0 || body[at - 1] === 10;
    const after = at + delim.length;
    // "--b" must not match the line "--b1": only blanks or the line end may follow it, or "--" and then those.
    const closing = body[after] === 45 && body[after + 1] === 45 && lineEnds(body[after + 2]);
    if (!atLineStart || !(closing || lineEnds(body[after]))) { pos = after; continue; }
    if (start !== -1) {
      // The line break before the delimiter belongs to the delimiter.
      let end = at - 1;
      if (end > start && body[end - 1] === 13) end--;
      parts.push(body.subarray(start, Math.max(start, end)));
    }
    if (closing) return parts;
    const eol = body.indexOf(10, after);
    if (eol === -1) return parts;
    start = eol + 1;
    pos = start;
  }
  // No closing delimiter: keep what follows the last one rather than lose it.
  if (start !== -1 && start < body.length) parts.push(body.subarray(start));
  return parts;
}

function lineEnds(c: number | undefined): boolean {
  return c === undefined || c === 10 || c === 13 || c === 32 || c === 9;
}

function transferDecode(p: Part): Buffer {
  const cte = parseMimeValue(p.headers.get('content-transfer-encoding') ?? '').value;
  return cte === 'base64' ? decodeBase64(p.body) : cte === 'quoted-printable' ? decodeQuotedPrintable(p.body) : p.body;
}

function decodePart(p: Part): string {
  return decodeCharset(transferDecode(p), contentType(p).params.get('charset'));
}

const B64 = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/**
 * Base64 read in 4-character groups (RFC 2045 §6.8): characters outside the
 * alphabet are skipped, and padding ends the current group, so text that was
 * encoded in pieces and concatenated ("aGVsbG8=\nd29ybGQ=") decodes whole.
 */
function decodeBase64(src: Uint8Array): Buffer {
  const out = Buffer.alloc(Math.floor(src.length * 3 / 4) + 3);
  let n = 0;
  let acc = 0;
  let k = 0;
  const flush = () => {
    if (k === 2) out[n++] = (acc >> 4) & 0xff;
    else if (k === 3) { out[n++] = (acc >> 10) & 0xff; out[n++] = (acc >> 2) & 0xff; }
    acc = 0;
    k = 0;
  };
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === 0x3d) {
      // Padding ends a group after 3 characters ("xyz="), or after 2 when a second '=' follows
      // ("xy=="); any other '=' is noise and is skipped, as Python's and most decoders do.
      if (k === 3) flush();
      else if (k === 2) {
        let j = i + 1;
        while (j < src.length && B64[src[j]!]! < 0 && src[j] !== 0x3d) j++;
        if (src[j] === 0x3d) { flush(); i = j; }
      }
      continue;
    }
    const v = B64[c]!;
    if (v < 0) continue;
    acc = (acc << 6) | v;
    if (++k === 4) {
      out[n++] = (acc >> 16) & 0xff;
      out[n++] = (acc >> 8) & 0xff;
      out[n++] = acc & 0xff;
      acc = 0;
      k = 0;
    }
  }
  flush();
  return out.subarray(0, n);
}

function decodeCharset(bytes: Uint8Array, charset: string | undefined): string {
  return decodeLenient(bytes, charset);
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function decodeQuotedPrintable(src: Uint8Array): Buffer {
  const out = Buffer.alloc(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c !== 61) { out[n++] = c; continue; }
    // Soft line break: "=" then optional trailing blanks then the line end.
    let j = i + 1;
    while (j < src.length && (src[j] === 32 || src[j] === 9)) j++;
    if (src[j] === 10) { i = j; continue; }
    if (src[j] === 13 && src[j + 1] === 10) { i = j + 1; continue; }
    if (j >= src.length) { i = j; continue; }
    const h = hexVal(src[i + 1] ?? 0);
    const l = hexVal(src[i + 2] ?? 0);
    if (h >= 0 && l >= 0) { out[n++] = h * 16 + l; i += 2; } else out[n++] = c;
  }
  return out.subarray(0, n);
}

/**
 * RFC 2047 encoded words, for display: the header decoder (encoded-words.ts),
 * except that a word in an unknown charset is read as UTF-8 (replacement
 * characters at worst), since a notification title beats an encoded blob.
 */
function decodeEncodedWords(s: string): string {
  return decodeWords(s, MAX_DECODED_WORDS, true);
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '').replace(/ {2,}/g, ' ').trim();
}

/** Cuts the spaces (and, with `tabs`, tabs) at the end of `line`; a loop, so a long run costs its length once. */
function trimEnd(line: string, tabs: boolean): string {
  let end = line.length;
  while (end > 0) {
    const c = line.charCodeAt(end - 1);
    if (c !== 32 && !(tabs && c === 9)) break;
    end--;
  }
  return end === line.length ? line : line.slice(0, end);
}

/** LF line ends, no trailing blanks, at most one empty line in a row, no leading/trailing empty lines. One pass. */
function tidy(s: string): string {
  const out: string[] = [];
  let blank = false;
  for (const raw of s.replace(/\r\n?/g, '\n').split('\n')) {
    const line = trimEnd(raw, true);
    if (line === '') { blank = out.length > 0; continue; }
    if (blank) out.push('');
    out.push(line);
    blank = false;
  }
  return out.join('\n');
}

// ---- HTML to text --------------------------------------------------------

const BLOCK = new Set(['p', 'div', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'table', 'tr', 'pre',
  'blockquote', 'section', 'article', 'header', 'footer', 'nav', 'aside', 'main', 'dl', 'dt', 'dd',
  'form', 'fieldset', 'address', 'figure', 'figcaption', 'center', 'title', 'body', 'html']);
const DROP = new Set(['script', 'style', 'head', 'template', 'noscript', 'svg', 'object', 'iframe']);

const ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', trade: '™',
  hellip: '…', mdash: '—', ndash: '–', lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”', bull: '•',
  middot: '·', euro: '€', pound: '£', yen: '¥', cent: '¢', sect: '§', deg: '°', plusmn: '±',
  times: '×', divide: '÷', laquo: '«', raquo: '»', larr: '←', rarr: '→', uarr: '↑', darr: '↓',
  auml: 'ä', ouml: 'ö', uuml: 'ü', Auml: 'Ä', Ouml: 'Ö', Uuml: 'Ü', szlig: 'ß', eacute: 'é',
  egrave: 'è', agrave: 'à', ccedil: 'ç', shy: '', zwsp: '', ensp: ' ', emsp: ' ', thinsp: ' ',
};

export function decodeEntities(s: string): string {
  return s.replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z]{2,8});/g, (all, e: string) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : '\ufffd';
    }
    return ENTITIES[e] ?? all;
  });
}

/** Flattens HTML to readable text: block elements become line breaks, links become "text (url)". */
export function htmlToText(html: string): string {
  const lower = html.toLowerCase();
  // Pieces, not one growing string: slicing a concatenated string flattens it, which made
  // every </a> cost the whole output so far.
  const out: string[] = [];
  let pre = 0;
  let link: { href: string; start: number } | null = null;
  let i = 0;
  // Newlines at the end of the output so far, so block edges add a break only where there is none.
  let trailing = 1;
  const push = (s: string) => {
    if (!s) return;
    out.push(s);
    let n = 0;
    while (n < s.length && s.charCodeAt(s.length - 1 - n) === 10) n++;
    trailing = n === s.length ? trailing + n : n;
  };
  const lineBreak = (n: number) => { if (trailing < n) push('\n'.repeat(n - trailing)); };
  const text = (t: string) => {
    // Spaces inside <pre> are parked as U+E000 so the line trimming below leaves them alone.
    if (pre > 0) { push(decodeEntities(t).replace(/ /g, '\ue000')); return; }
    const flat = t.replace(/[ \t\r\n\f]+/g, ' ');
    // Source indentation between block tags is not text.
    if (flat === ' ' && trailing > 0) return;
    push(decodeEntities(flat));
  };
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    if (lt === -1) { text(html.slice(i)); break; }
    if (lt > i) text(html.slice(i, lt));
    if (html.startsWith('<!--', lt)) {
      const end = html.indexOf('-->', lt + 4);
      i = end === -1 ? html.length : end + 3;
      continue;
    }
    const tag = readTag(html, lt);
    if (!tag) { text('<'); i = lt + 1; continue; }
    i = tag.end;
    const name = tag.name;
    if (!tag.closing && DROP.has(name) && !tag.selfClosing) {
      // Skip to the matching close tag; these never nest text we want.
      const close = lower.indexOf('</' + name, i);
      i = close === -1 ? html.length : (html.indexOf('>', close) + 1 || html.length);
      continue;
    }
    if (name === 'br') { push('\n'); continue; }
    if (name === 'hr') { lineBreak(1); push('----\n'); continue; }
    if (name === 'li' && !tag.closing) { lineBreak(1); push('- '); continue; }
    if (name === 'td' || name === 'th') { if (tag.closing) push('\t'); continue; }
    if (name === 'pre') pre = Math.max(0, pre + (tag.closing ? -1 : 1));
    if (name === 'a') {
      if (!tag.closing) {
        link = { href: tag.href ?? '', start: out.length };
      } else if (link) {
        const label = out.slice(link.start).join('').trim();
        const href = link.href.replace(/^mailto:/i, '');
        if (link.href && !link.href.startsWith('#') && label !== href && label !== link.href) {
          push(label ? ` (${link.href})` : link.href);
        }
        link = null;
      }
      continue;
    }
    if (BLOCK.has(name)) lineBreak(name === 'p' || /^h[1-6]$/.test(name) ? 2 : 1);
  }
  // Per-line cleanup: collapse the spaces that inline markup left at line edges.
  return out.join('').split('\n').map((l) => trimEnd(l.slice(leadingSpaces(l)), false)).join('\n').replace(/\ue000/g, ' ');
}

function leadingSpaces(l: string): number {
  let i = 0;
  while (l.charCodeAt(i) === 32) i++;
  return i;
}

interface Tag { name: string; closing: boolean; selfClosing: boolean; end: number; href?: string }

/** Reads one tag at `lt`, honouring quoted attribute values; null when it is not a tag. */
function readTag(html: string, lt: number): Tag | null {
  let j = lt + 1;
  const closing = html[j] === '/';
  if (closing) j++;
  const nameMatch = /^[A-Za-z][A-Za-z0-9-]*/.exec(html.slice(j, j + 40));
  if (!nameMatch) {
    if (html[j] === '!' || html[j] === '?') {
      const end = html.indexOf('>', j);
      return { name: '!', closing: false, selfClosing: true, end: end === -1 ? html.length : end + 1 };
    }
    return null;
  }
  const name = nameMatch[0].toLowerCase();
  j += nameMatch[0].length;
  let quote = '';
  const attrStart = j;
  for (; j < html.length; j++) {
    const c = html[j];
    if (quote) { if (c === quote) quote = ''; continue; }
    if (c === '"' || c === "'") quote = c;
    else if (c === '>') break;
  }
  const attrs = html.slice(attrStart, j);
  const tag: Tag = { name, closing, selfClosing: attrs.endsWith('/'), end: Math.min(j + 1, html.length) };
  if (name === 'a' && !closing) {
    const m = /\bhref\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))/i.exec(attrs);
    if (m) tag.href = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '').trim();
  }
  return tag;
}
