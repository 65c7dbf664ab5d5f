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
 * No dependencies: this is loaded on delivery paths that must stay lean.
 */

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

/** Headers (unfolded, names lowercased, first occurrence wins) and body bytes. */
function splitPart(buf: Buffer): Part {
  let end = -1;
  let bodyStart = buf.length;
  // The header block ends at the first empty line, LF or CRLF.
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) {
    const next = buf[i + 1];
    if (next === 10) { end = i; bodyStart = i + 2; break; }
    if (next === 13 && buf[i + 2] === 10) { end = i; bodyStart = i + 3; break; }
  }
  if (buf.length > 0 && (buf[0] === 10 || (buf[0] === 13 && buf[1] === 10))) {
    end = 0; bodyStart = buf[0] === 10 ? 1 : 2;
  }
  const headerText = headerString(end === -1 ? buf : buf.subarray(0, end));
  const headers = new Map<string, string>();
  const unfolded = headerText.replace(/\r?\n(?=[ \t])/g, '');
  for (const line of unfolded.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return { headers, body: end === -1 ? Buffer.alloc(0) : buf.subarray(bodyStart) };
}

/** Raw 8-bit headers are UTF-8 in practice (RFC 6532); fall back to Latin-1 when they are not. */
function headerString(b: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    return b.toString('latin1');
  }
}

function contentType(p: Part): ContentType {
  const v = p.headers.get('content-type');
  if (!v) return { type: 'text/plain', params: new Map() };
  const [head, ...rest] = splitParams(v);
  const params = new Map<string, string>();
  for (const kv of rest) {
    const eq = kv.indexOf('=');
    if (eq <= 0) continue;
    let val = kv.slice(eq + 1).trim();
    if (val.startsWith('"') && val.endsWith('"') && val.length >= 2) val = val.slice(1, -1).replace(/\\(.)/g, '$1');
    params.set(kv.slice(0, eq).trim().toLowerCase(), val);
  }
  const type = (head ?? '').trim().toLowerCase();
  return { type: type.includes('/') ? type : 'text/plain', params };
}

/** Splits on ';' outside double quotes. */
function splitParams(v: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c === '\\' && quoted && i + 1 < v.length) { cur += c + v[++i]; continue; }
    if (c === '"') quoted = !quoted;
    if (c === ';' && !quoted) { out.push(cur); cur = ''; continue; }
    cur += c;
  }
  out.push(cur);
  return out;
}

function isAttachment(p: Part): boolean {
  return /^\s*attachment\b/i.test(p.headers.get('content-disposition') ?? '');
}

/** Depth-first search for the first inline part of `want`; bounded in depth and in parts visited. */
function findPart(p: Part, want: string, depth: number, budget: { parts: number }): Part | null {
  if (--budget.parts < 0) return null;
  const ct = contentType(p);
  if (ct.type.startsWith('multipart/')) {
    const boundary = ct.params.get('boundary');
    if (!boundary || depth >= MAX_DEPTH) return null;
    for (const child of splitMultipart(p.body, boundary, budget.parts + 1)) {
      const hit = findPart(splitPart(child), want, depth + 1, budget);
      if (hit) return hit;
      if (budget.parts < 0) return null;
    }
    return null;
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

function decodePart(p: Part): string {
  const cte = (p.headers.get('content-transfer-encoding') ?? '').trim().toLowerCase();
  const bytes = cte === 'base64' ? Buffer.from(p.body.toString('latin1').replace(/[^A-Za-z0-9+/]/g, ''), 'base64')
    : cte === 'quoted-printable' ? decodeQuotedPrintable(p.body)
    : p.body;
  return decodeCharset(bytes, contentType(p).params.get('charset'));
}

function decodeCharset(bytes: Uint8Array, charset: string | undefined): string {
  try {
    return new TextDecoder((charset ?? 'utf-8').trim() || 'utf-8').decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
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
 * RFC 2047 encoded words, for display. Deliberately not encoded-words.ts: that
 * decoder serves header handling and leaves a word in an unknown charset as
 * written, while a notification title is better read as UTF-8 (replacement
 * characters at worst). Adjacent words in one charset are joined as bytes so a
 * character split across two words survives.
 */
function decodeEncodedWords(s: string): string {
  const re = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;
  let out = '';
  let last = 0;
  let charset = '';
  let bytes: Buffer[] = [];
  const flush = () => {
    if (bytes.length > 0) out += decodeCharset(Buffer.concat(bytes), charset);
    bytes = [];
  };
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const between = s.slice(last, m.index);
    const cs = m[1]!.split('*')[0]!.toLowerCase();
    const word = m[2]!.toLowerCase() === 'b'
      ? Buffer.from(m[3]!, 'base64')
      : decodeQuotedPrintable(Buffer.from(m[3]!.replace(/_/g, ' '), 'latin1'));
    // Whitespace between two encoded words is not part of the text (RFC 2047 §6.2).
    const adjacent = bytes.length > 0 && /^[ \t\r\n]*$/.test(between);
    if (!(adjacent && cs === charset)) {
      flush();
      if (!adjacent) out += between;
      charset = cs;
    }
    bytes.push(word);
    last = re.lastIndex;
  }
  flush();
  return out + s.slice(last);
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '').replace(/ {2,}/g, ' ').trim();
}

/** LF line ends, no trailing blanks, at most one empty line in a row, no leading/trailing empty lines. */
function tidy(s: string): string {
  return s.replace(/\r\n?/g, '\n').replace(/[ \t]+$/gm, '').replace(/\n{3,}/g, '\n\n').replace(/^\n+|\n+$/g, '');
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
  return out.join('').split('\n').map((l) => l.replace(/^ +| +$/g, '')).join('\n').replace(/\ue000/g, ' ');
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
