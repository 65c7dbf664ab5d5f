/**
 * Mail addresses: the envelope form we store and send, and address lists read
 * out of headers.
 *
 * Guarantees: parseEnvelopeAddress returns either "" (the null sender, only
 * with allowNull) or `local@domain` that holds no CR, LF, NUL or other control
 * character, no white space outside a quoted local part, no angle brackets, does
 * not start with '-', '|' or '/', and is at most 254 octets; bare names are
 * qualified with the configured domain and only the domain is lower-cased.
 * Everything else throws SysmailError 'EADDRESS' (EX_USAGE when the address came
 * from the command line, EX_DATAERR otherwise) naming the address, printed with
 * its control characters escaped. extractAddresses never throws: it reads what
 * it can, and whatever it returns must still go through parseEnvelopeAddress.
 */
import { domainToASCII } from 'node:url';
import { EX, SysmailError } from '../core/errors.js';
import { encodeWords, needsEncoding } from './encoded-words.js';

export type AddressSource = 'argv' | 'header' | 'smtp';

export interface AddressOptions {
  /** Qualifies bare names: `root` -> `root@domain`. */
  domain: string;
  /** Accept "", "<>" and '""' as the null sender (returned as ""). */
  allowNull?: boolean;
  /** Decides the exit code: argv -> EX_USAGE, header/smtp -> EX_DATAERR. Default 'header'. */
  source?: AddressSource;
  /** Only shapes the DSN code of the error (5.1.7 sender vs 5.1.3 recipient). */
  role?: 'sender' | 'recipient';
}

/** RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets. */
export const MAX_ADDRESS_OCTETS = 254;

/** Text safe to print in an error: control and invisible characters escaped, long input cut. */
export function printable(s: string, max = 120): string {
  const cut = s.length > max ? s.slice(0, max) : s;
  const esc = cut.replace(/[\x00-\x1f\x7f-\x9f"\\\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/gu, (c) => {
    if (c === '"' || c === '\\') return '\\' + c;
    if (c === '\r') return '\\r';
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\0') return '\\0';
    const n = c.charCodeAt(0);
    return n < 0x100 ? '\\x' + n.toString(16).padStart(2, '0') : '\\u' + n.toString(16).padStart(4, '0');
  });
  return `"${esc}"` + (s.length > max ? `...(${s.length - max} more characters)` : '');
}

function addressError(input: string, reason: string, opts: AddressOptions, hint?: string): SysmailError {
  const argv = opts.source === 'argv';
  return new SysmailError('EADDRESS', `invalid address ${printable(input)}: ${reason}`, {
    exit: argv ? EX.USAGE : EX.DATAERR,
    smtpCode: 501,
    dsn: opts.role === 'sender' ? '5.1.7' : '5.1.3',
    hint: hint ?? (argv
      ? 'give addresses as user@example.com, or a bare user name to have general.domain appended'
      : 'fix the address in the message (or in the program that generated it)'),
  });
}

// The rules for text that is not pure ASCII, made when first needed: V8 parses a /u class with
// \p{…} when the literal is evaluated (~0.2 ms for these three), which every sendmail start paid
// at load time even for an ASCII address (issue 10).
interface UnicodeRules { local: RegExp; bad: RegExp; quoted: RegExp }
let unicodeRules: UnicodeRules | undefined;
const unicode = (): UnicodeRules => (unicodeRules ??= {
  // atext (RFC 5322 section 3.2.3) plus '.', and any non-ASCII character (RFC 6531); vetted further below.
  local: /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.\u0080-\u{10ffff}]+$/u,
  // Invisible or line-breaking characters that must never be part of an address (ZWJ/ZWNJ are allowed: scripts need them).
  bad: /[\p{Cc}\p{Zl}\p{Zp}\p{Zs}\p{Cs}\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/u,
  // Inside a quoted local part: no control or line-breaking character, no bidi override.
  quoted: /[\p{Cc}\p{Zl}\p{Zp}\u202a-\u202e\u2066-\u2069]/u,
});
// The ASCII rules are loops with a RegExp's `test`: even a plain regular expression costs
// ~0.01-0.03 ms at its first use, and an address takes a dozen of them on every sendmail (issue
// 10). Each says the regular expression it stands for; address.test.ts checks both on all of ASCII.
interface CharTest { test(s: string): boolean }
const every = (s: string, ok: (c: number) => boolean) => { for (let i = 0; i < s.length; i++) if (!ok(s.charCodeAt(i))) return false; return true; };
const some = (s: string, hit: (c: number) => boolean) => !every(s, (c) => !hit(c));
const isControl = (c: number) => c < 0x20 || c === 0x7f;
const isLabelChar = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d;
const ATEXT_PUNCT = "!#$%&'*+-/=?^_`{|}~.";
const isAtext = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || (c < 0x80 && ATEXT_PUNCT.includes(String.fromCharCode(c)));
/** /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/ */
export const ASCII_LABEL: CharTest = { test: (s) => s.length > 0 && s[0] !== '-' && s[s.length - 1] !== '-' && every(s, isLabelChar) };
// The same rules for pure-ASCII text, where they give the same answers: V8 compiles a /u class
// with \p{…} in ~0.2 ms, which each sendmail would pay for an ordinary address (issue 10).
// Of ASCII, \p{Cc} is C0 and DEL, \p{Zs} the space; \p{Zl}, \p{Zp}, \p{Cs} and the listed
// code points are not ASCII (address.test.ts checks every ASCII character against both).
/** /^[\x00-\x7f]*$/ */
export const IS_ASCII: CharTest = { test: (s) => every(s, (c) => c < 0x80) };
/** /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+$/ */
const LOCAL_UNQUOTED_ASCII: CharTest = { test: (s) => s.length > 0 && every(s, isAtext) };
/** /[\x00-\x1f\x7f ]/ */
const BAD_ASCII: CharTest = { test: (s) => some(s, (c) => isControl(c) || c === 0x20) };
/** The local-part and invisible-character rules, with the ASCII-only forms for ASCII text. */
const localUnquoted = (t: string, ascii: boolean) => (ascii ? LOCAL_UNQUOTED_ASCII : unicode().local).test(t);
const badUnicode = (t: string, ascii: boolean) => (ascii ? BAD_ASCII : unicode().bad).test(t);
/** /[\x00-\x1f\x7f]/ */
const BAD_QUOTED_ASCII: CharTest = { test: (s) => some(s, isControl) };
/** Each loop beside the regular expression it stands for (address.test.ts). */
export function asciiLoops(): readonly (readonly [RegExp, CharTest])[] {
  return [[/^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/, ASCII_LABEL], [/^[\x00-\x7f]*$/, IS_ASCII], [/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+$/, LOCAL_UNQUOTED_ASCII],
    [/[\x00-\x1f\x7f ]/, BAD_ASCII], [/[\x00-\x1f\x7f]/, BAD_QUOTED_ASCII]];
}
/** Each Unicode rule beside its ASCII form, for the test that they agree on all of ASCII. */
export function asciiForms(): readonly (readonly [RegExp, CharTest])[] {
  const u = unicode();
  return [[u.local, LOCAL_UNQUOTED_ASCII], [u.bad, BAD_ASCII], [u.quoted, BAD_QUOTED_ASCII]];
}

function checkDomain(domain: string, fail: (reason: string) => never): string {
  if (domain.startsWith('[')) {
    if (!/^\[(?:\d{1,3}(?:\.\d{1,3}){3}|ipv6:[0-9a-f:.]+)\]$/i.test(domain)) fail('malformed address literal in the domain');
    return domain.toLowerCase();
  }
  let d = domain.toLowerCase();
  if (d.endsWith('.')) d = d.slice(0, -1);
  if (d === '') fail('the domain is empty');
  const ascii = IS_ASCII.test(d);
  if (badUnicode(d, ascii)) fail('the domain contains white space or an invisible character');
  for (const label of d.split('.')) {
    if (label === '') fail('the domain has an empty label (two dots in a row, or a leading dot)');
    if (ascii) {
      if (!ASCII_LABEL.test(label)) fail(`the domain label "${label}" may only hold letters, digits and inner hyphens`);
      if (label.length > 63) fail('a domain label is longer than 63 characters');
    }
  }
  // IDN: keep the UTF-8 form as given, but it must be one that converts to a valid A-label.
  if (!ascii && domainToASCII(d) === '') fail('the internationalized domain name is not valid');
  return d;
}

/**
 * Parses one envelope address (from argv, a header, or SMTP) into its stored
 * form. See the module header for what is accepted.
 */
export function parseEnvelopeAddress(input: string, opts: AddressOptions): string {
  const fail = (reason: string, hint?: string): never => {
    throw addressError(input, reason, opts, hint);
  };
  let at = 0;
  while (at < input.length && !isControl(input.charCodeAt(at))) at++; // /[\x00-\x1f\x7f]/.exec
  if (at < input.length) {
    const ctl = input[at];
    const what = ctl === '\r' ? 'a carriage return (CR)' : ctl === '\n' ? 'a line feed (LF)'
      : ctl === '\0' ? 'a NUL byte' : 'a control character';
    fail(`it contains ${what}`, 'an address is one line of printable text; this looks like an attempt to inject data');
  }
  let s = input.trim();
  if (s.startsWith('<') || s.endsWith('>')) {
    if (!(s.startsWith('<') && s.endsWith('>') && s.length >= 2)) fail('unbalanced angle brackets');
    s = s.slice(1, -1).trim();
    // RFC 5321 §4.1.2: a source route (<@relay:user@dom>) must be accepted and may be ignored.
    if (s.startsWith('@')) {
      const colon = s.indexOf(':');
      if (colon < 0) fail('malformed source route');
      s = s.slice(colon + 1);
    }
  }
  if (s === '' || s === '""') {
    if (opts.allowNull) return '';
    fail('the address is empty');
  }
  if (s.startsWith('-')) {
    fail("it starts with '-'", "an address cannot start with '-'; if it is an option, put it before the recipients and before any `--`");
  }
  if (s.startsWith('|')) fail('delivery to a command is not a mail address', 'pipes to commands are configured as `command` transports');
  if (s.startsWith('/')) fail('a file path is not a mail address', 'deliveries to files are configured as `mbox` or `maildir` transports');

  // Find the '@' that separates local part and domain, outside any quoted local part.
  let local: string;
  let domain: string | null;
  if (s.startsWith('"')) {
    let i = 1;
    for (; i < s.length; i++) {
      if (s[i] === '\\') i++;
      else if (s[i] === '"') break;
    }
    if (i >= s.length) fail('unbalanced quotes');
    local = s.slice(0, i + 1);
    const rest = s.slice(i + 1);
    if (rest !== '' && !rest.startsWith('@')) fail('text after the quoted local part', 'quotes must enclose the whole local part: "first last"@example.com');
    domain = rest === '' ? null : rest.slice(1);
    const inner = local.slice(1, -1);
    if (inner === '') fail('the quoted local part is empty');
    const ascii = IS_ASCII.test(inner);
    if ((ascii ? BAD_QUOTED_ASCII : unicode().quoted).test(inner)) fail('the quoted local part contains an invisible or line-breaking character');
    const unq = inner.replace(ascii ? /\\(.)/g : /\\(.)/gu, '$1');
    if (/^[-|/]/.test(unq)) fail(`the local part starts with '${unq[0]}'`, 'such local parts are refused because programs could read them as an option, a pipe or a path');
  } else {
    if (s.includes('"')) fail('unbalanced quotes', 'quotes must enclose the whole local part: "first last"@example.com');
    const at = s.lastIndexOf('@');
    local = at < 0 ? s : s.slice(0, at);
    domain = at < 0 ? null : s.slice(at + 1);
    if (local === '') fail('the local part (before the @) is empty');
    if (local.includes('@')) fail("it contains more than one '@'", 'quote a local part that contains @: "a@b"@example.com');
    if (local.includes(' ') || local.includes('\t')) fail('it contains a space', 'quote a local part that contains spaces, or check for a missing comma between addresses');
    if (local.includes('<') || local.includes('>')) fail('it contains an angle bracket');
    const ascii = IS_ASCII.test(local);
    if (!localUnquoted(local, ascii)) fail('the local part contains a character that needs quoting ( ) , : ; [ ] \\');
    if (badUnicode(local, ascii)) fail('the local part contains white space or an invisible character');
  }

  if (domain === null) {
    if (opts.domain === '') fail('it has no domain and there is none to qualify it with', 'set general.domain in the configuration');
    domain = opts.domain;
  }
  if (domain.includes('@')) fail("it contains more than one '@'");
  if (domain.includes(' ') || domain.includes('\t') || domain.includes('<') || domain.includes('>')) fail('the domain contains a space or an angle bracket');
  const dom = checkDomain(domain, fail);
  const addr = `${local}@${dom}`;
  const octets = Buffer.byteLength(addr, 'utf8');
  if (octets > MAX_ADDRESS_OCTETS) fail(`it is ${octets} octets long; the limit is ${MAX_ADDRESS_OCTETS}`);
  return addr;
}

/** Splits at the '@' that is outside a quoted local part; domain "" when there is none. */
export function splitAddress(a: string): { local: string; domain: string } {
  let inQuote = false;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const c = a[i];
    if (inQuote && c === '\\') i++;
    else if (c === '"') inQuote = !inQuote;
    else if (c === '@' && !inQuote) at = i;
  }
  return at < 0 ? { local: a, domain: '' } : { local: a.slice(0, at), domain: a.slice(at + 1) };
}

// ---------------------------------------------------------------------------
// Address lists (RFC 5322 §3.4), for -t and for qualifying header addresses.

type TokKind = 'atom' | 'quoted' | 'literal' | 'comment' | 'special';
interface Tok {
  kind: TokKind;
  text: string;
  start: number;
  end: number;
  /** White space came before this token. */
  spaced: boolean;
  /** False for a quoted string, comment or domain literal that runs to the end without its closing character. */
  closed: boolean;
}

const SPECIALS = '<>,:;@.';
const EW = /=\?[^?\s]{1,64}\?[BbQq]\?[^?\s]*\?=/y;
const EW_WHOLE = /^=\?[^?\s]{1,64}\?[BbQq]\?[^?\s]*\?=$/;
const WS = ' \t\r\n';

function tokenize(s: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let spaced = false;
  while (i < s.length) {
    const c = s[i]!;
    if (WS.includes(c)) {
      spaced = true;
      i++;
      continue;
    }
    const start = i;
    let kind: TokKind;
    let closed = true;
    if (c === '(') {
      // Comments nest; an unterminated one runs to the end.
      let depth = 0;
      for (; i < s.length; i++) {
        if (s[i] === '\\') i++;
        else if (s[i] === '(') depth++;
        else if (s[i] === ')' && --depth === 0) break;
      }
      closed = i < s.length;
      i++;
      kind = 'comment';
    } else if (c === '"') {
      for (i++; i < s.length && s[i] !== '"'; i++) if (s[i] === '\\') i++;
      closed = i < s.length;
      i++;
      kind = 'quoted';
    } else if (c === '[') {
      for (i++; i < s.length && s[i] !== ']'; i++) if (s[i] === '\\') i++;
      closed = i < s.length;
      i++;
      kind = 'literal';
    } else if (SPECIALS.includes(c)) {
      i++;
      kind = 'special';
    } else if (c === '=' && s[i + 1] === '?' && (EW.lastIndex = i, EW.test(s))) {
      // An encoded-word is one word even when its text holds specials, as in Python's parser and mail readers.
      i = EW.lastIndex;
      kind = 'atom';
    } else {
      while (i < s.length && !WS.includes(s[i]!) && !SPECIALS.includes(s[i]!) && !'("['.includes(s[i]!)) i++;
      kind = 'atom';
    }
    i = Math.min(i, s.length);
    toks.push({ kind, text: s.slice(start, i), start, end: i, spaced, closed });
    spaced = false;
  }
  return toks;
}

export interface ListedAddress {
  /** The address as written (angle brackets and comments removed); may be a bare name, or "" for <>. */
  address: string;
  /** Display name as written (not decoded), or null. */
  name: string | null;
  /** Where the address ends in the input (to qualify a bare name in place). */
  end: number;
}

/** Joins address tokens: words that had white space between them keep one space (so "a b" stays invalid). */
function joinAddr(toks: Tok[]): string {
  let out = '';
  let prev: Tok | null = null;
  for (const t of toks) {
    if (t.kind === 'comment') continue;
    if (prev && t.spaced && t.kind !== 'special' && prev.kind !== 'special') out += ' ';
    out += t.text;
    prev = t;
  }
  return out;
}

/** Parses an address-list header value into its mailboxes; groups are flattened, group names dropped. */
export function parseAddressList(value: string): ListedAddress[] {
  const toks = tokenize(value);
  const out: ListedAddress[] = [];
  let cur: Tok[] = [];
  let angle: Tok[] | null = null;
  let angleEnd = -1;
  let phrase: Tok[] = [];
  let inGroup = false;
  const finish = (): void => {
    if (angle !== null) {
      let addr = joinAddr(angle);
      if (addr.startsWith('@')) addr = addr.slice(addr.indexOf(':') + 1); // source route
      const name = joinAddr(phrase).trim();
      out.push({ address: addr, name: name === '' ? null : name, end: angleEnd });
    } else {
      const words = cur.filter((t) => t.kind !== 'comment');
      if (words.length > 0) out.push({ address: joinAddr(words), name: null, end: words[words.length - 1]!.end });
    }
    cur = [];
    phrase = [];
    angle = null;
    angleEnd = -1;
  };
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t.kind === 'special' && t.text === '<') {
      phrase = cur;
      cur = [];
      angle = [];
      let j = i + 1;
      for (; j < toks.length && !(toks[j]!.kind === 'special' && toks[j]!.text === '>'); j++) angle.push(toks[j]!);
      angleEnd = angle.length > 0 ? angle[angle.length - 1]!.end : t.end;
      i = j; // past the '>' (or the end)
      continue;
    }
    if (t.kind === 'special' && t.text === ',') {
      finish();
      continue;
    }
    if (t.kind === 'special' && t.text === ';') {
      finish();
      inGroup = false;
      continue;
    }
    if (t.kind === 'special' && t.text === ':' && !inGroup && angle === null) {
      cur = []; // the group's display name
      inGroup = true;
      continue;
    }
    if (t.kind === 'special' && t.text === '>') continue; // stray
    if (angle !== null) continue; // text after <addr> and before ',' (comments, junk)
    cur.push(t);
  }
  finish();
  return out;
}

// ---------------------------------------------------------------------------
// Strict reading (RFC 5322 §3.4): a list that does not parse is refused, not guessed at.

const isSpecial = (t: Tok | undefined, c: string): boolean => t !== undefined && t.kind === 'special' && t.text === c;
const isWord = (t: Tok): boolean => t.kind === 'atom' || t.kind === 'quoted';

/**
 * What is wrong with an address-list value, or null when it is a valid list.
 * Valid: RFC 5322 mailboxes and groups, plus what real mailers and Postfix
 * accept: obsolete routes (<@r1,@r2:u@d>), bare names (root), CFWS around
 * dots and '@' (obs-local-part), periods in display names (obs-phrase), empty
 * list items (a, , b), a trailing dot on a domain, and a final group without
 * its ';'. One pass over the tokens.
 */
export function addressListProblem(value: string): string | null {
  const all = tokenize(value);
  for (const t of all) {
    if (!t.closed) {
      const what = t.kind === 'quoted' ? 'quoted string' : t.kind === 'comment' ? 'comment' : 'domain literal';
      return `an unterminated ${what}: ${printable(value.slice(t.start), 40)}`;
    }
    if (t.kind === 'atom' && (t.text.includes(')') || t.text.includes(']') || t.text.includes('\\')) && !EW_WHOLE.test(t.text)) return `a stray ${printable(t.text, 40)}`;
  }
  const toks = all.filter((t) => t.kind !== 'comment');
  const near = (a: number, b: number): string => {
    const from = toks[a]?.start ?? value.length;
    const last = toks[Math.min(b, toks.length) - 1];
    const to = b > a && last !== undefined ? last.end : (toks[a]?.end ?? value.length);
    return printable(value.slice(from, to), 60);
  };
  let i = 0;

  /** local-part ["@" domain], obsolete spacing allowed; null when valid. */
  const addrSpec = (a: number, b: number): string | null => {
    let at = -1;
    for (let k = a; k < b; k++) {
      const t = toks[k]!;
      const prev = toks[k - 1];
      if (isSpecial(t, '@')) {
        if (at >= 0) return `more than one '@' in ${near(a, b)}`;
        at = k;
        continue;
      }
      if (t.kind === 'literal' && (at < 0 || k !== at + 1 || b !== k + 1)) return `a misplaced [...] in ${near(a, b)}`;
      // RFC 5321 §4.1.3 address literals only ([192.0.2.1], [IPv6:...]): what SMTP can route to.
      if (t.kind === 'literal' && !/^\[[0-9A-Za-z:.-]+\]$/.test(t.text)) return `a malformed domain literal ${printable(t.text, 60)}`;
      // The domain: no leading dot and no empty label (a trailing dot is the absolute DNS name, and allowed).
      if (at >= 0 && isSpecial(t, '.') && (k === at + 1 || isSpecial(prev, '.'))) return `an empty label in the domain of ${near(a, b)}`;
      if (t.kind === 'quoted' && at >= 0) return `a quoted string in the domain of ${near(a, b)}`;
      if (k > a && prev !== undefined && (isWord(t) || t.kind === 'literal') && (isWord(prev) || prev.kind === 'literal')) {
        return `${near(a, b)} is not one address (a missing comma, or a display name without <...>?)`;
      }
    }
    if (at === a) return `the local part is empty in ${near(a, b)}`;
    if (at === b - 1) return `the domain is empty in ${near(a, b)}`;
    return null;
  };

  /** One mailbox (or, at the top level, a group) from toks[i]; null when valid. */
  const item = (inGroup: boolean): string | null => {
    const a = i;
    while (i < toks.length && !['<', ':', ',', ';', '>'].some((c) => isSpecial(toks[i], c))) i++;
    const t = toks[i];
    if (isSpecial(t, '<')) {
      for (let k = a; k < i; k++) {
        const p = toks[k]!;
        if (!(isWord(p) || isSpecial(p, '.'))) return `${near(a, i)} before <...> is not a display name (a missing comma?)`;
      }
      const open = i++;
      if (isSpecial(toks[i], '@')) {
        // Obsolete route (RFC 5322 §4.4): "@" domain *("," ["@" domain]) ":" before the address.
        let expectDomain = false;
        for (; i < toks.length && !isSpecial(toks[i], ':'); i++) {
          const r = toks[i]!;
          if (isSpecial(r, '@')) {
            if (expectDomain) return `a malformed route in ${near(open, i + 1)}`;
            expectDomain = true;
          } else if (isSpecial(r, ',')) {
            if (expectDomain) return `a malformed route in ${near(open, i + 1)}`;
          } else if (r.kind === 'atom' || r.kind === 'literal') {
            if (!expectDomain && !isSpecial(toks[i - 1], '.')) return `a malformed route in ${near(open, i + 1)}`;
            expectDomain = false;
            // After a domain comes ',', ':' or the rest of the domain.
            const nx = toks[i + 1];
            if (nx !== undefined && !isSpecial(nx, ',') && !isSpecial(nx, ':') && !isSpecial(nx, '.')) return `a malformed route in ${near(open, i + 2)}`;
          } else if (isSpecial(r, '.')) {
            if (!(toks[i - 1]!.kind === 'atom' && (toks[i + 1]?.kind === 'atom'))) return `an empty label in the route of ${near(open, i + 1)}`;
          } else return `a malformed route in ${near(open, i + 1)}`;
        }
        if (!isSpecial(toks[i], ':') || expectDomain) return `a malformed route in ${near(open, i + 1)}`;
        i++;
      }
      const s = i;
      while (i < toks.length && !['<', '>', ',', ';', ':'].some((c) => isSpecial(toks[i], c))) i++;
      if (!isSpecial(toks[i], '>')) {
        return i >= toks.length ? `an unterminated <: ${near(open, i)}` : `an unexpected ${printable(toks[i]!.text)} inside ${near(open, i + 1)}`;
      }
      const bad = s === i ? null : addrSpec(s, i);
      if (bad !== null) return bad;
      i++;
      const next = toks[i];
      if (next !== undefined && !isSpecial(next, ',') && !(inGroup && isSpecial(next, ';'))) {
        return `text after ${near(open, i)}: ${printable(value.slice(next.start), 40)}`;
      }
      return null;
    }
    if (isSpecial(t, ':')) {
      if (inGroup) return `an unexpected ':' in ${near(a, i + 1)} (a group inside a group, or a ':' that needs quoting)`;
      for (let k = a; k < i; k++) {
        const p = toks[k]!;
        if (!(isWord(p) || isSpecial(p, '.'))) return `${near(a, i + 1)} is not a group name (a ':' in an address?)`;
      }
      i++;
      for (;;) {
        if (i >= toks.length) return null; // "undisclosed-recipients:" without its ';': accepted, as mailers do
        if (isSpecial(toks[i], ';')) {
          i++;
          const next = toks[i];
          if (next !== undefined && !isSpecial(next, ',')) return `text after the group ${near(a, i)}: ${printable(value.slice(next.start), 40)}`;
          return null;
        }
        if (isSpecial(toks[i], ',')) { i++; continue; }
        const bad = item(true);
        if (bad !== null) return bad;
      }
    }
    if (isSpecial(t, '>')) return `a stray '>' in ${near(a, i + 1)}`;
    if (isSpecial(t, ';') && !inGroup) return `a ';' outside a group in ${near(a, i + 1)}`;
    return a === i ? null : addrSpec(a, i);
  };

  while (i < toks.length) {
    if (isSpecial(toks[i], ',')) { i++; continue; }
    const bad = item(false);
    if (bad !== null) return bad;
  }
  return null;
}

/**
 * parseAddressList for a header that must be right (-t, the listener): a
 * malformed list throws 'EADDRESS' (EX_DATAERR, 501 5.1.3) naming the header
 * and what is wrong, instead of returning a guess.
 */
export function parseAddressListStrict(value: string, header: string): ListedAddress[] {
  const problem = addressListProblem(value);
  if (problem !== null) {
    throw new SysmailError('EADDRESS', `malformed address list in the ${header} header: ${problem}`, {
      exit: EX.DATAERR,
      smtpCode: 501,
      dsn: '5.1.3',
      hint: 'separate addresses with commas, write a name as Name <user@example.com>, and quote names that hold , ; : @ < > ( ) or "',
    });
  }
  return parseAddressList(value);
}

/** The addresses in an address-list header value (To, Cc, Bcc, From, Resent-*). */
export function extractAddresses(headerValue: string): string[] {
  return parseAddressList(headerValue).map((a) => a.address);
}

/**
 * Addresses given on the command line. Like Postfix, each argument is read as
 * an address list, so "a@x, b@y" and "Name <a@x>" work; control characters are
 * refused before anything is parsed, and a malformed list (see
 * addressListProblem) is refused rather than guessed at.
 */
export function parseArgvAddresses(arg: string, opts: Omit<AddressOptions, 'source'>): string[] {
  const o: AddressOptions = { ...opts, source: 'argv' };
  // Control characters, options, pipes and paths get parseEnvelopeAddress's specific refusal.
  if (/[\x00-\x1f\x7f]/.test(arg) || arg.trim() === '' || /^\s*[-|/]/.test(arg)) return [parseEnvelopeAddress(arg, o)];
  const problem = addressListProblem(arg);
  if (problem !== null) throw addressError(arg, problem, o);
  const list = parseAddressList(arg);
  if (list.length === 0) return [parseEnvelopeAddress(arg, o)];
  return list.map((a) => parseEnvelopeAddress(a.address === '' && !opts.allowNull ? arg : a.address, o));
}

// ---------------------------------------------------------------------------

/** `Name <addr>` for a header we write: the name quoted or RFC 2047-encoded as needed, control characters removed. */
export function formatAddressHeader(name: string | null | undefined, addr: string): string {
  if (/[\x00-\x1f\x7f]/.test(addr)) {
    throw new SysmailError('EADDRESS', `invalid address ${printable(addr)}: it contains a control character`, { exit: EX.DATAERR });
  }
  const n = (name ?? '').replace(/[\x00-\x1f\x7f\u2028\u2029]/g, ' ').replace(/\s+/g, ' ').trim();
  if (n === '') return addr === '' ? '<>' : addr;
  let phrase: string;
  if (needsEncoding(n)) phrase = encodeWords(n).join(' ');
  else if (/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/.test(n)) phrase = n;
  else phrase = '"' + n.replace(/[\\"]/g, '\\$&') + '"';
  return `${phrase} <${addr}>`;
}
