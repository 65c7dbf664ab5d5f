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

const WORD = /=\?([^?\s*]{1,64})(?:\*[^?\s]{0,32})?\?([BbQq])\?([^?\s]*)\?=/g;
const words = (s: string) => [...s.matchAll(WORD)];

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
    id: 'python-parser-crash',
    kind: 'addr',
    reason: "CPython's _header_value_parser raises (AttributeError, IndexError, TypeError) on these malformed lists "
      + '(a Python bug, not a verdict); sysmail answers every input without raising, which the test checks separately.',
    applies: (d) => d.what === 'python raised' && /^(AttributeError|IndexError|TypeError)/.test(String(d.python.error)),
  },
  {
    id: 'unknown-charset-word',
    kind: 'words',
    reason: 'An encoded-word in a charset sysmail cannot decode is left exactly as written (nothing is lost, and the '
      + 'reader sees why); Python decodes its ASCII bytes and turns the rest into U+FFFD.',
    applies: (d) => words(d.input).some((m) => decoderFor(m[1]!) === null && String(d.sysmail).includes(m[0])),
  },
  {
    id: 'b-word-impossible-length',
    kind: 'words',
    reason: 'A B-encoded word of 4n+1 characters cannot be base64 (a character was lost): sysmail leaves the word as '
      + 'written, Python shows the encoded text without its =?...?= frame.',
    applies: (d) => words(d.input).some((m) => /^[Bb]$/.test(m[2]!) && m[3]!.replace(/=+$/, '').length % 4 === 1 && String(d.sysmail).includes(m[0])),
  },
  {
    id: 'unknown-charset-body',
    kind: 'mime',
    reason: "A body in a charset Python does not know makes get_content() raise LookupError; text.ts reads such a body "
      + 'as UTF-8 (U+FFFD at worst) so a notification still carries it.',
    applies: (d) => d.what === 'python raised' && String(d.python.error).startsWith('LookupError: unknown encoding'),
  },
];
