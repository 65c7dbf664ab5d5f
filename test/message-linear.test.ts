/**
 * Every exported function of src/message/ on 100 KB adversarial inputs (runs of white space
 * before a non-blank, repeated specials, unterminated quotes, comments, angle brackets and
 * encoded-words, bare names...). Each call must finish within CALL_BOUND_MS: linear work on 100 KB
 * takes a few milliseconds even on a loaded machine, while the quadratic paths this guards
 * against took 1.9 s to 35 s (issue 14), so the bound is far from both and cannot flake.
 * htmlToText gets 1 MB inputs: its old trailing-space trim was quadratic but only 0.27 s at 100 KB.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import * as address from '../src/message/address.js';
import * as charset from '../src/message/charset.js';
import * as compose from '../src/message/compose.js';
import * as words from '../src/message/encoded-words.js';
import * as headers from '../src/message/headers.js';
import { readMessage } from '../src/message/input.js';
import { parseMimeValue } from '../src/message/mime-params.js';
import * as prepare from '../src/message/prepare.js';
import * as text from '../src/message/text.js';

const CALL_BOUND_MS = 2000;
const K100 = 100 * 1024;

const fill = (unit: string, size = K100) => unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
/** The shapes that make backtracking or rebuild-per-item code quadratic. */
const SHAPES: Record<string, string> = {
  'spaces then x': fill(' ') + 'x',
  'tabs and spaces then x': fill(' \t') + 'x',
  'bare names': fill('a, '),
  'bare names, no space': fill('a,'),
  'open parens': fill('('),
  'open quotes': '"' + fill('a'),
  'escaped quotes': fill('"\\'),
  'open angles': fill('<'),
  'angle pairs': fill('<a@b>'),
  'stray closers': fill('>)]'),
  'at signs': fill('@'),
  'dots': fill('a.'),
  'colons': fill('a:'),
  'semicolons': fill(';'),
  'encoded-word starts': fill('=?'),
  'broken encoded-words': fill('=?utf-8?q?'),
  'encoded-words': fill('=?utf-8?B?w6k=?= '),
  'iso-2022-jp words': fill('=?iso-2022-jp?B?GyRCJUYbKEI=?= '),
  'equals signs': fill('='),
  'equals and spaces': fill('= '),
  'newlines then x': fill('\n') + 'x',
  'CRLF and spaces': fill(' \r\n'),
  'folds': fill('\n '),
  'html spaces': 'x' + fill('<b> </b>') + 'y',
  'html open tags': fill('<a href="'),
  'html comments': fill('<!--'),
  'entities': fill('&#x1;&amp'),
  'percent': fill("*0*=%"),
  'semicolons with names': fill('a*=b;'),
  'hyphen label': 'a@' + fill('a') + '-',
  'non-ASCII': fill('é日'),
};

function bounded(name: string, fn: () => unknown): void {
  const t0 = performance.now();
  try { fn(); } catch { /* refusing is fine; only the time matters here */ }
  const ms = performance.now() - t0;
  assert.ok(ms < CALL_BOUND_MS, `${name} took ${ms.toFixed(0)} ms`);
}

const D = { domain: 'example.com' };
const NOW = new Date(Date.UTC(2024, 0, 2));

/** Every exported function, fed one adversarial string. */
const FUNCTIONS: Record<string, (s: string) => unknown> = {
  printable: (s) => address.printable(s, s.length),
  parseEnvelopeAddress: (s) => address.parseEnvelopeAddress(s, D),
  splitAddress: (s) => address.splitAddress(s),
  parseAddressList: (s) => address.parseAddressList(s),
  addressListProblem: (s) => address.addressListProblem(s),
  parseAddressListStrict: (s) => address.parseAddressListStrict(s, 'To'),
  extractAddresses: (s) => address.extractAddresses(s),
  parseArgvAddresses: (s) => address.parseArgvAddresses(s, D),
  formatAddressHeader: (s) => address.formatAddressHeader(s, 'a@b.example'),
  decodeCp1252: (s) => charset.decodeCp1252(Buffer.from(s, 'latin1')),
  dropRedundantEscapes: (s) => charset.dropRedundantEscapes(Buffer.from(s.replace(/=/g, '\x1b$B\x1b(B'), 'latin1')),
  isStateful: (s) => charset.isStateful(s),
  decoderFor: (s) => charset.decoderFor(s),
  decodeLenient: (s) => charset.decodeLenient(Buffer.from(s.replace(/=/g, '\x1b(B')), 'iso-2022-jp'),
  cleanSubject: (s) => compose.cleanSubject(s),
  encodeQuotedPrintable: (s) => compose.encodeQuotedPrintable(Buffer.from(s)),
  composeMessage: (s) => compose.composeMessage({ from: 'a@b.example', to: ['c@d.example'], subject: s, body: Buffer.from(s), hostname: 'h', now: NOW, tagHost: true }),
  decodeWords: (s) => words.decodeWords(s),
  decodeWordsLenient: (s) => words.decodeWords(s, words.MAX_DECODED_WORDS, true),
  needsEncoding: (s) => words.needsEncoding(s),
  encodeWords: (s) => words.encodeWords(s),
  encodeHeaderText: (s) => words.encodeHeaderText(s),
  fieldValue: (s) => headers.fieldValue(headers.parseMessage(Buffer.from(`X: ${s}\n\n`)).headers.fields[0]!),
  parseMessage: (s) => headers.parseMessage(Buffer.from(s)),
  sanitizeValue: (s) => headers.sanitizeValue(s),
  foldField: (s) => headers.foldField('Subject', s),
  'Headers.add/rewrite/getDecoded': (s) => {
    const h = new headers.Headers();
    h.add('Subject', s);
    h.rewrite('subject', (v) => v + 'x');
    return h.getDecoded('subject');
  },
  serializeMessage: (s) => headers.serializeMessage(headers.parseMessage(Buffer.from(`X: ${s}\n\n`)).headers, Buffer.from(s)),
  parseMimeValue: (s) => parseMimeValue(s),
  formatDate: () => prepare.formatDate(NOW),
  makeMessageId: (s) => prepare.makeMessageId(NOW, s),
  fromDisplayName: (s) => prepare.fromDisplayName(s, 'a@b', s, true),
  'prepareMessage (-t, To header)': (s) => prepare.prepareMessage({ raw: Buffer.from(`To: ${s}\nSubject: ${s}\n\n${s}`), sender: null, recipients: ['a@b.example'],
    extractRecipients: true, user: 'root', hostname: 'h', domain: 'example.com', now: NOW, tagHost: false }),
  'prepareMessage (Cc, qualified in place)': (s) => prepare.prepareMessage({ raw: Buffer.from(`Cc: ${s}\n\n`), sender: null, recipients: ['a@b.example'],
    extractRecipients: false, user: 'root', hostname: 'h', domain: 'example.com', now: NOW, tagHost: false }),
  'extractText (body)': (s) => text.extractText(Buffer.from(`Subject: ${s}\nContent-Type: text/plain\n\n${s}`)),
  'extractText (base64, qp, params)': (s) => text.extractText(Buffer.from(`Content-Type: text/plain; charset=${s}\nContent-Transfer-Encoding: base64\n\n${s}`)),
  'extractText (multipart)': (s) => text.extractText(Buffer.from(`Content-Type: multipart/mixed; boundary="${s.slice(0, 150)}"\n\n${s}\n--${s}\n\n${s}`)),
  'extractText (html)': (s) => text.extractText(Buffer.from(`Content-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n${s}`)),
  decodeEntities: (s) => text.decodeEntities(s),
  // 1 MB, see the header: one run of 128 K spaces between x and y for the "html spaces" shape.
  htmlToText: (s) => text.htmlToText(s === SHAPES['html spaces'] ? 'x' + fill('<b> </b>', 10 * K100) + 'y' : s.repeat(10)),
};

describe('every exported function of src/message/ is linear on 100 KB adversarial input', () => {
  for (const [fname, fn] of Object.entries(FUNCTIONS)) {
    it(fname, () => {
      for (const [shape, input] of Object.entries(SHAPES)) bounded(`${fname} on "${shape}"`, () => fn(input));
    });
  }

  it('readMessage', async () => {
    for (const [shape, input] of Object.entries(SHAPES)) {
      const t0 = performance.now();
      await readMessage(Readable.from([Buffer.from(input)]), { dotEnds: true, maxSize: 10 * K100 }).catch(() => {});
      assert.ok(performance.now() - t0 < CALL_BOUND_MS, `readMessage on "${shape}"`);
    }
  });
});
