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

/** The parts of two strings between their common prefix and common suffix, and where they start. */
function middles(a: string, b: string): [string, string, number] {
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  let q = 0;
  while (q < a.length - p && q < b.length - p && a[a.length - 1 - q] === b[b.length - 1 - q]) q++;
  return [a.slice(p, a.length - q), b.slice(p, b.length - q), p];
}

/** A clean Content-Type value: type/subtype and well-formed parameters, nothing else. */
const CLEAN_CT = /^[ \t]*[A-Za-z0-9!#$%&'*+.^_`|~-]+\/[A-Za-z0-9!#$%&'*+.^_`|~-]+[ \t]*(;[ \t]*[A-Za-z0-9!#$%&'*+.^_`|~-]+[ \t]*=[ \t]*("[^"\\]*"|[A-Za-z0-9!#$%&'*+.^_`|~-]+)[ \t]*)*;?[ \t]*$/;
const contentTypeLines = (input: string): string[] => [...input.matchAll(/^content-type:(.*(?:\n[ \t].*)*)/gim)].map((m) => m[1]!.replace(/\n/g, ''));

const WORD = /=\?([^?\s*]{1,64})(?:\*[^?\s]{0,32})?\?([BbQq])\?([^?\s]*)\?=/g;
const words = (s: string) => [...s.matchAll(WORD)];
/** A word sysmail must decode: a known charset and valid B or Q text. */
const wellFormed = (m: RegExpMatchArray): boolean => decoderFor(m[1]!) !== null && (/^[Bb]$/.test(m[2]!)
  ? /^[A-Za-z0-9+/]*={0,2}$/.test(m[3]!) && m[3]!.replace(/=+$/, '').length % 4 !== 1
    && !(m[3]!.replace(/=+$/, '').length % 4 === 0 && m[3]!.endsWith('='))
  : !/=(?![0-9A-Fa-f]{2})|[^\x21-\x7e]/.test(m[3]!));

const LOCAL_DOTS = ["Invalid trailing '.' in local part", "Invalid leading '.' in local part", "invalid repeated '.'",
  'local-part is not dot-atom, quoted-string, or obs-local-part'];


/**
 * Python defects that stand for a deliberate sysmail policy, each with the input feature that must be
 * present for the defect to be explained by it.
 */
const POLICIES: Array<{ why: string; defects: string[]; when: (d: Disagreement) => boolean }> = [
  {
    why: 'A local part without a domain ("root") is what cron, mdadm and smartd write; sendmail qualifies it with '
      + 'general.domain (as Postfix does with myorigin), while RFC 5322 and Python require a domain.',
    defects: ['addr-spec local part with no domain', 'invalid address in address-list', 'invalid mailbox in mailbox-list'],
    when: (d) => ((d.python.addresses as string[][] | undefined) ?? []).some((a) => a[1] === ''),
  },
  {
    why: 'Leading, trailing and repeated dots in a local part (taro..yamada.@docomo.ne.jp) are invalid in RFC 5322 '
      + 'but real: Japanese mobile carriers issued such addresses for years, and Postfix delivers them.',
    defects: LOCAL_DOTS,
    when: () => true,
  },
  {
    why: 'A trailing dot on a domain (user@example.com.) is the absolute DNS name; Postfix strips it, and so does '
      + 'parseEnvelopeAddress. Python reads the address as invalid.',
    defects: ['invalid address in address-list', 'phrase does not start with word', 'invalid mailbox in mailbox-list', 'addr-spec local part with no domain',
      "missing '.' between words"],
    when: (d) => ourAddresses(d).some((a) => /@[^@]*\.$/.test(a)),
  },
  {
    why: 'A group with no closing ";" at the end of the field ("undisclosed-recipients:") is written by real mailers; '
      + 'it names no recipient, so sysmail accepts it as the empty group it means.',
    defects: ['end of header in group', 'end of header before group-list', 'phrase does not start with word'],
    when: (d) => /:[^;]*$/.test(d.input),
  },
  {
    why: 'Python flags an encoded-word in a display name that holds specials or touches the next token; the display '
      + 'name decides no delivery, and sysmail passes it on as written.',
    defects: ['missing trailing whitespace after encoded-word', 'whitespace inside encoded word', 'encoded word', 'invalid address in address-list',
      'invalid mailbox in mailbox-list', 'addr-spec local part with no domain', "missing trailing '>' on angle-addr"],
    when: (d) => d.input.includes('=?'),
  },
  {
    why: '<> is the null address: the list reader accepts it, and parseEnvelopeAddress refuses it as a recipient, as '
      + 'Postfix does.',
    defects: ['null addr-spec in angle-addr'],
    when: (d) => d.input.includes('<>'),
  },
];

export const ALLOW_LIST: AllowEntry[] = [
  {
    id: 'address-policy',
    kind: 'addr',
    reason: 'Every InvalidHeaderDefect Python reports is one sysmail accepts on purpose (see POLICIES: bare names, '
      + 'carrier-style dots in local parts, a trailing dot on a domain, a group without its ";", an encoded-word in a '
      + 'display name that Python finds malformed).',
    applies: (d) => d.what === 'Python flags, sysmail accepts' && invalid(d).every((x) => POLICIES.some((p) => p.defects.some((t) => x.startsWith(t)) && p.when(d))),
  },
  {
    id: 'domain-literal-content',
    kind: 'addr',
    reason: 'A domain literal must be an RFC 5321 address literal ([192.0.2.1], [IPv6:...]) for SMTP to route to it; '
      + 'RFC 5322 (and Python) allow any text in brackets.',
    applies: (d) => d.what === 'sysmail refuses, Python accepts' && /malformed domain literal/.test(String(d.sysmail)),
  },
  {
    id: 'broken-encoded-word-refused',
    kind: 'addr',
    reason: 'Text that looks like an encoded-word but is not one (white space or a bracket inside) is read as ordinary '
      + 'tokens, so a "[" or "(" in it opens a literal or comment and the list is refused; Python recovers a display name.',
    applies: (d) => d.what === 'sysmail refuses, Python accepts' && (/=\?[^\s?]*[[("<)\]]/.test(d.input) || /=\?[^?]*\?[BbQq]\?[^?]*\s[^?]*\?=/.test(d.input)),
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
      + 'WHATWG Encoding Standard says, and its ISO-2022-JP decoder returns to ASCII after an error; Python replaces '
      + 'them differently, or shows the escape bytes or the raw word. The texts agree outside the stretch that starts '
      + 'where sysmail found invalid bytes.',
    applies: (d) => {
      const [all0, all1] = texts(d);
      const [ours, py, at] = middles(all0, all1);
      if (ours === '' && py === '') return false;
      const near = all0.slice(Math.max(0, at - 2), at + ours.length);
      return near.includes('\ufffd') || (ours === '' && /[\ufffd\x00-\x1f]/.test(py)) || (py.includes('=?') && /[\ufffd\x00-\x1f]/.test(ours));
    },
  },
  {
    id: 'glued-encoded-word',
    kind: 'words',
    reason: 'An encoded-word glued to the text before it ("x=?utf-8?q?y?=") is decoded by sysmail, as mutt and '
      + 'Thunderbird do; Python (following RFC 2047 §5) leaves it, or reads the two differently.',
    applies: (d) => {
      const ws = words(d.input);
      const ends = new Set(ws.filter(wellFormed).map((m) => m.index! + m[0].length));
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
    applies: (d) => /^[!-9;-~]+[ \t]+:/m.test(d.input),
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
    applies: (d) => /^:/m.test(d.input),
  },
  {
    id: 'python-left-base64',
    kind: 'mime',
    reason: "Python's get_content returns a base64 body undecoded in several cases: a comment or a trailing blank in "
      + 'the Content-Transfer-Encoding value, a character outside the alphabet, a length of 4n+1, a control character '
      + 'decoded into another header. sysmail decodes it, skipping characters outside the alphabet as RFC 2045 §6.8 requires.',
    applies: (d) => {
      const py = String(d.python.text);
      const b64 = py.replace(/[^A-Za-z0-9+/=]/g, '');
      return /^content-transfer-encoding:\s*base64/im.test(d.input) && b64.length >= 8 && b64.length >= 0.9 * py.length;
    },
  },
  {
    id: 'base64-body-noise',
    kind: 'mime',
    reason: 'Characters outside the base64 alphabet in a base64 body "must be ignored" (RFC 2045 §6.8); Python stops '
      + 'decoding and shows the text as it is.',
    applies: (d) => /^content-transfer-encoding:\s*base64/im.test(d.input) && /[^A-Za-z0-9+/=\s]/.test(d.input.slice(d.input.lastIndexOf('\n\n') + 2)),
  },
  {
    id: 'charset-label-punctuation',
    kind: 'mime',
    reason: "Python's codec lookup ignores punctuation in a charset name (iso-8859%-1 finds iso-8859-1); sysmail knows "
      + 'only the WHATWG labels and reads an unknown one as UTF-8.',
    applies: (d) => /charset="?[^\s;"]*[^A-Za-z0-9._:\s;"-][^\s;"]*/i.test(d.input) || /charset="?[^\s;"]*(--|__)/i.test(d.input),
  },
  {
    id: 'leading-white-space',
    kind: 'mime',
    reason: 'A message whose first line starts with white space has no header block (headers.ts: such a line cannot be '
      + 'a field nor continue one), so it is all body; Python reads the line as a continuation and goes on.',
    applies: (d) => /^[ \t]/.test(d.input),
  },
  {
    id: 'transfer-encoding-syntax',
    kind: 'mime',
    reason: 'sysmail reads Content-Transfer-Encoding like the other MIME fields (quotes, comments and blanks removed, '
      + "RFC 2045 §6); Python's get_payload compares the raw string and leaves the body encoded.",
    applies: (d) => /^content-transfer-encoding:[^\n]*(["(;]|[ \t]$|\n[ \t])/im.test(d.input),
  },
  {
    id: 'multipart-without-parts',
    kind: 'mime',
    reason: 'A multipart whose body holds no delimiter line has no parts: sysmail says there is no text content; '
      + 'Python makes up an empty text part.',
    applies: (d) => d.python.text === '' && String(d.sysmail).startsWith('[no text content'),
  },
  {
    id: 'parameter-ending-in-star',
    kind: 'mime',
    reason: 'A parameter value ending in "*" (boundary=x*) is a valid token and used whole; Python reads the "*" as an '
      + 'RFC 2231 marker and drops it.',
    applies: (d) => contentTypeLines(d.input).some((v) => /=[^;\s"]*\*(;|\s|$)/.test(v)),
  },
  {
    id: 'iso-2022-jp-line-end',
    kind: 'mime',
    reason: "WHATWG's ISO-2022-JP decoder returns to ASCII at a line end (RFC 1468 has every line end in ASCII), so "
      + 'text after a lost escape sequence reads as ASCII; Python keeps the shift state across lines and shows kanji.',
    applies: (d) => {
      const [ours, py] = middles(...texts(d));
      return /charset="?iso-2022-jp/i.test(d.input) && /^[\x00-\x7f\ufffd]*$/.test(ours) && /[^\x00-\x7f]/.test(py);
    },
  },
  {
    id: 'mbox-from-line',
    kind: 'mime',
    reason: 'A leading mbox "From " line is dropped on submission (prepare.ts) before a message is spooled, so the '
      + 'text extractor never sees one; on its own it reads the line as the start of the body. Python skips it.',
    applies: (d) => /^>*From /.test(d.input),
  },
  {
    id: 'unknown-charset-body',
    kind: 'mime',
    reason: "A body in a charset Python does not know makes get_content() raise LookupError; text.ts reads such a body "
      + 'as UTF-8 (U+FFFD at worst) so a notification still carries it.',
    applies: (d) => d.what === 'python raised' && String(d.python.error).startsWith('LookupError: unknown encoding'),
  },
];
