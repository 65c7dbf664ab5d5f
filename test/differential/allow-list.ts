/**
 * Reviewed, deliberate differences between sysmail's message handling and Python's `email`
 * package (policy.default), for test/differential.test.ts. Each entry says why sysmail differs and
 * is as narrow as the difference: it names the Python defect or the input feature it covers, so it
 * cannot hide an unrelated disagreement.
 */
import { decoderFor } from '../../src/message/charset.js';

export interface Disagreement {
  kind: 'addr' | 'words' | 'mime';
  input: string;
  what: string;
  sysmail: unknown;
  python: Record<string, unknown>;
}

export interface AllowEntry {
  id: string;
  kind: Disagreement['kind'];
  /** Why sysmail deliberately differs. */
  reason: string;
  applies(d: Disagreement): boolean;
}

/** Python's InvalidHeaderDefect texts for a case. */
const invalid = (d: Disagreement): string[] => ((d.python.defects as string[] | undefined) ?? [])
  .filter((x) => x.startsWith('InvalidHeaderDefect: ')).map((x) => x.slice('InvalidHeaderDefect: '.length));
/** True when every InvalidHeaderDefect Python raised is one of `allowed`. */
const onlyDefects = (d: Disagreement, allowed: string[]): boolean => {
  const got = invalid(d);
  return got.length > 0 && got.every((x) => allowed.some((a) => x.startsWith(a)));
};
const ourAddresses = (d: Disagreement): string[] => (Array.isArray(d.sysmail) ? d.sysmail as string[] : []);


/** The two texts of a disagreement (for mime: the subject or the body that differs). */
function texts(d: Disagreement): [string, string] {
  if (d.kind === 'words') return [String(d.sysmail), String(d.python.text)];
  return d.what === 'different subject' ? [String(d.sysmail), String(d.python.subject)] : [String(d.sysmail), String(d.python.text)];
}

/** Equal except where Python has U+FFFD or a C1 control and sysmail has any one character. */
function equalBut1252(ours: string, py: string): boolean {
  const a = [...ours];
  const b = [...py];
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    if (!/^[\ufffd\x80-\x9f]$/.test(b[i]!)) return false;
    diff++;
  }
  return diff > 0;
}

/** The parts of two strings between their common prefix and common suffix. */
function middles(a: string, b: string): [string, string] {
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  let q = 0;
  while (q < a.length - p && q < b.length - p && a[a.length - 1 - q] === b[b.length - 1 - q]) q++;
  return [a.slice(p, a.length - q), b.slice(p, b.length - q)];
}

/** A clean Content-Type value: type/subtype and well-formed parameters, nothing else. */
const CLEAN_CT = /^[ \t]*[A-Za-z0-9!#$%&'*+.^_`|~-]+\/[A-Za-z0-9!#$%&'*+.^_`|~-]+[ \t]*(;[ \t]*[A-Za-z0-9!#$%&'*+.^_`|~-]+[ \t]*=[ \t]*("[^"\\]*"|[A-Za-z0-9!#$%&'*+.^_`|~-]+)[ \t]*)*;?[ \t]*$/;
const contentTypeLines = (input: string): string[] => [...input.matchAll(/^content-type:(.*(?:\n[ \t].*)*)/gim)].map((m) => m[1]!.replace(/\n/g, ''));

const WORD = /=\?([^?\s*]{1,64})(?:\*[^?\s]{0,32})?\?([BbQq])\?([^?\s]*)\?=/g;
const words = (s: string) => [...s.matchAll(WORD)];
/** A word sysmail must decode: a known charset and valid B or Q text. */
const wellFormed = (m: RegExpMatchArray): boolean => decoderFor(m[1]!) !== null && (/^[Bb]$/.test(m[2]!)
  ? /^[A-Za-z0-9+/]*={0,2}$/.test(m[3]!) && m[3]!.replace(/=+$/, '').length % 4 !== 1
  : !/=(?![0-9A-Fa-f]{2})|[^\x21-\x7e]/.test(m[3]!));

const LOCAL_DOTS = ["Invalid trailing '.' in local part", "Invalid leading '.' in local part", "invalid repeated '.'",
  'local-part is not dot-atom, quoted-string, or obs-local-part'];

export const ALLOW_LIST: AllowEntry[] = [
  {
    id: 'bare-name',
    kind: 'addr',
    reason: 'A local part without a domain ("root") is what cron, mdadm and smartd write; sendmail qualifies it with '
      + 'general.domain (as Postfix does with myorigin), while RFC 5322 and Python require a domain.',
    applies: (d) => d.what === 'Python flags, sysmail accepts'
      && onlyDefects(d, ['addr-spec local part with no domain', ...LOCAL_DOTS])
      && ourAddresses(d).some((a) => !a.includes('@')),
  },
  {
    id: 'local-part-dots',
    kind: 'addr',
    reason: 'Leading, trailing and repeated dots in a local part (taro..yamada.@docomo.ne.jp) are invalid in RFC 5322 '
      + 'but real: Japanese mobile carriers issued such addresses for years, and Postfix delivers them.',
    applies: (d) => d.what === 'Python flags, sysmail accepts' && onlyDefects(d, LOCAL_DOTS),
  },
  {
    id: 'domain-trailing-dot',
    kind: 'addr',
    reason: 'A trailing dot on a domain (user@example.com.) is the absolute DNS name; Postfix strips it, and so does '
      + 'parseEnvelopeAddress. Python reads the address as invalid.',
    applies: (d) => d.what === 'Python flags, sysmail accepts'
      && onlyDefects(d, ['invalid address in address-list', 'phrase does not start with word', 'addr-spec local part with no domain', 'invalid mailbox in mailbox-list', ...LOCAL_DOTS])
      && ourAddresses(d).some((a) => /@[^@]*\.$/.test(a)),
  },
  {
    id: 'group-without-semicolon',
    kind: 'addr',
    reason: 'A group with no closing ";" at the end of the field ("undisclosed-recipients:") is written by real '
      + 'mailers; it names no recipient, so sysmail accepts it as the empty group it means.',
    applies: (d) => d.what === 'Python flags, sysmail accepts'
      && onlyDefects(d, ['end of header in group', 'end of header before group-list', 'addr-spec local part with no domain', 'phrase does not start with word', ...LOCAL_DOTS])
      && /:[^;]*$/.test(d.input),
  },
  {
    id: 'display-name-encoded-word',
    kind: 'addr',
    reason: 'Python flags a malformed encoded-word inside a display name; the display name decides no delivery, and '
      + 'sysmail passes it on as written.',
    applies: (d) => d.what === 'Python flags, sysmail accepts'
      && onlyDefects(d, ['missing trailing whitespace after encoded-word', 'whitespace inside encoded word', 'encoded word', 'invalid address in address-list', 'invalid mailbox in mailbox-list']) && d.input.includes('=?'),
  },
  {
    id: 'domain-literal-content',
    kind: 'addr',
    reason: 'A domain literal must be an RFC 5321 address literal ([192.0.2.1], [IPv6:...]) for SMTP to route to it; '
      + 'RFC 5322 (and Python) allow any text in brackets.',
    applies: (d) => d.what === 'sysmail refuses, Python accepts' && /malformed domain literal/.test(String(d.sysmail)),
  },
  {
    id: 'python-parser-crash',
    kind: 'addr',
    reason: "CPython's _header_value_parser raises (AttributeError, IndexError, TypeError) on these malformed lists "
      + '(a Python bug, not a verdict); sysmail answers every input without raising, which the test checks separately.',
    applies: (d) => d.what === 'python raised' && /^(AttributeError|IndexError|TypeError)/.test(String(d.python.error)),
  },
  {
    id: 'malformed-word-left-as-written',
    kind: 'words',
    reason: 'An encoded-word that is malformed (bad base64 or Q escapes, white space inside, no closing ?=) or in a '
      + 'charset sysmail cannot decode is left exactly as written: nothing is lost and the reader sees why (RFC 2047 §6.3). '
      + 'Python decodes such words leniently (dropping bad characters, U+FFFD for unknown charsets). Only applies when '
      + 'no well-formed word is among the text sysmail left.',
    applies: (d) => {
      const [ours] = middles(...texts(d));
      return (ours.includes('=?') || ours.includes('?=')) && !words(ours).some(wellFormed);
    },
  },
  {
    id: 'invalid-bytes',
    kind: 'words',
    reason: 'Bytes that are invalid in the charset (a corrupted ISO-2022-JP or UTF-8 word or body) become U+FFFD as the '
      + 'WHATWG Encoding Standard says; Python replaces them differently, or shows the escape bytes or the raw word. '
      + 'The texts agree outside the corrupted stretch.',
    applies: (d) => {
      const [all0, all1] = texts(d);
      const [ours, py] = middles(all0, all1);
      const junk = (x: string) => x === '' || /[\ufffd\x00-\x1f\ud800-\udfff]/.test(x) || x.includes('=?');
      return (ours !== '' || py !== '') && ((junk(ours) && junk(py) && (all0.includes('\ufffd') || all1.includes('\ufffd')))
        || /^\ufffd+$/.test(ours));
    },
  },
  {
    id: 'glued-encoded-word',
    kind: 'words',
    reason: 'An encoded-word glued to the text before it ("x=?utf-8?q?y?=") is decoded by sysmail, as mutt and '
      + 'Thunderbird do; Python (following RFC 2047 §5) leaves it, or reads the two differently.',
    applies: (d) => {
      const ws = words(d.input);
      const ends = new Set(ws.map((m) => m.index! + m[0].length));
      return ws.some((m) => m.index! > 0 && !/\s/.test(d.input[m.index! - 1]!) && !ends.has(m.index!));
    },
  },
  {
    id: 'latin1-is-windows-1252',
    kind: 'words',
    reason: 'iso-8859-1, us-ascii and 8-bit header bytes that are not UTF-8 are read as windows-1252 (the WHATWG mapping '
      + 'every mail reader uses): 0x80-0x9F are “ ” € …, where Python gives C1 controls or U+FFFD.',
    applies: (d) => equalBut1252(...texts(d)),
  },
  {
    id: 'malformed-content-type',
    kind: 'mime',
    reason: 'A Content-Type that is not type/subtype plus parameters is read as text/plain (RFC 2045 §5.2), and a '
      + 'malformed parameter is not used; Python keeps a partial type ("multipart/m:ixed") or parameter.',
    applies: (d) => contentTypeLines(d.input).some((v) => !CLEAN_CT.test(v.replace(/\([^()]*\)/g, ''))),
  },
  {
    id: 'no-charset-is-utf-8',
    kind: 'mime',
    reason: 'A text part without a usable charset parameter is read as UTF-8 (what unlabelled 8-bit mail is in '
      + 'practice, RFC 6532); Python reads it as ASCII and gives U+FFFD for every 8-bit byte.',
    applies: (d) => {
      const [ours, py] = texts(d);
      return [...ours].map((c) => (c.charCodeAt(0) < 0x80 ? c : '\ufffd'.repeat(Buffer.byteLength(c)))).join('') === py;
    },
  },
  {
    id: 'body-windows-1252',
    kind: 'mime',
    reason: 'As latin1-is-windows-1252, for bodies and subjects.',
    applies: (d) => equalBut1252(...texts(d)),
  },
  {
    id: 'obsolete-field-colon',
    kind: 'mime',
    reason: 'RFC 5322 §4.5 (obs-optional) allows white space between a field name and its colon ("Subject : x"); '
      + 'sysmail reads such a field (headers.ts), Python ends the header block there.',
    applies: (d) => /^[!-9;-~]+[ \t]+:/m.test(d.input.split('\n\n')[0]!),
  },
  {
    id: 'charset-name-8bit',
    kind: 'mime',
    reason: 'A charset name holding an 8-bit byte names no charset: sysmail reads UTF-8; Python drops the byte and may '
      + 'find a charset in what is left.',
    applies: (d) => /charset[^\n]*[\x80-\xff\x1b]/i.test(d.input),
  },
  {
    id: 'shift-jis-is-windows-31j',
    kind: 'words',
    reason: "WHATWG's Shift_JIS and ISO-2022-JP decoders use Microsoft's mapping (what Japanese Windows and mobile mail "
      + 'send): 0x8160 is U+FF5E FULLWIDTH TILDE, not U+301C WAVE DASH, and likewise for ‖ − ¢ £ ¬; Python maps JIS X 0208.',
    applies: (d) => {
      const fold = (x: string) => x.replace(/[\uff5e\u301c]/g, '~').replace(/[\u2225\u2016]/g, '|').replace(/[\uff0d\u2212]/g, '-')
        .replace(/[\uffe0\u00a2]/g, 'c').replace(/[\uffe1\u00a3]/g, 'L').replace(/[\uffe2\u00ac]/g, '!');
      const [ours, py] = texts(d);
      return ours !== py && fold(ours) === fold(py);
    },
  },
  {
    id: 'comment-in-transfer-encoding',
    kind: 'mime',
    reason: 'RFC 2045 allows comments in Content-Transfer-Encoding ("base64 (b64)"); sysmail ignores them, while '
      + "Python's get_payload compares the whole string and so leaves the body encoded.",
    applies: (d) => /^content-transfer-encoding:[^\n]*\(/im.test(d.input) && /^[A-Za-z0-9+/=\s]+$/.test(String(d.python.text)),
  },
  {
    id: 'corrupt-base64-body',
    kind: 'mime',
    reason: 'A base64 body that is not valid base64 (a character lost: 4n+1 characters) is decoded group by group by '
      + 'sysmail, so the readable part survives; Python gives up and returns the encoded text.',
    applies: (d) => {
      const py = String(d.python.text);
      const b64 = py.replace(/[^A-Za-z0-9+/]/g, '');
      return /^content-transfer-encoding:\s*base64/im.test(d.input) && b64.length >= 8 && b64.length >= 0.9 * py.length && b64.length % 4 === 1;
    },
  },
  {
    id: 'unpadded-base64-tail',
    kind: 'mime',
    reason: 'A base64 body whose last group lacks its padding (4n+2 or 4n+3 characters, no "=") has that group decoded '
      + 'by sysmail, as most decoders do; Python decodes it differently. Only the last bytes differ.',
    applies: (d) => {
      const body = d.input.slice(d.input.indexOf('\n\n') + 2);
      const n = body.replace(/[^A-Za-z0-9+/]/g, '').length;
      return /^content-transfer-encoding:\s*base64/im.test(d.input) && !body.includes('=') && (n % 4 === 2 || n % 4 === 3);
    },
  },
  {
    id: 'nameless-field',
    kind: 'mime',
    reason: 'A header line that starts with ":" has no field name (RFC 5322 needs one), so it ends the header block in '
      + 'sysmail (headers.ts); Python reads it as a field with an empty name.',
    applies: (d) => /^:/m.test(d.input.split('\n\n')[0]!),
  },
  {
    id: 'unknown-charset-body',
    kind: 'mime',
    reason: "A body in a charset Python does not know makes get_content() raise LookupError; text.ts reads such a body "
      + 'as UTF-8 (U+FFFD at worst) so a notification still carries it.',
    applies: (d) => d.what === 'python raised' && String(d.python.error).startsWith('LookupError: unknown encoding'),
  },
];
