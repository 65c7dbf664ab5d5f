import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtures } from './helpers/paths.js';
import { Headers, fieldValue, foldField, parseMessage, sanitizeValue, serializeMessage } from '../src/message/headers.js';
import { MAX_DECODED_WORDS, decodeWords, encodeHeaderText, encodeWords } from '../src/message/encoded-words.js';

const B = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s, 'latin1') : s);

/** Header block + separator + body must give the input back, the separator being one empty line or nothing. */
function rejoin(raw: Buffer): Buffer {
  const p = parseMessage(raw);
  const h = p.headers.toBuffer();
  const sep = raw.subarray(h.length, raw.length - p.body.length).toString('latin1');
  assert.equal(sep, p.hadSeparator ? (sep === '\r\n' ? '\r\n' : '\n') : '');
  return Buffer.concat([h, Buffer.from(sep, 'latin1'), p.body]);
}

describe('parseMessage', () => {
  it('keeps every field byte for byte, LF or CRLF, folded or 8-bit', () => {
    for (const name of ['debian-cron.eml', 'cronie.eml', 'resent.eml', 'lists.eml']) {
      const raw = readFileSync(join(fixtures, 'message', name));
      const p = parseMessage(raw);
      assert.ok(p.hadHeaderBlock && p.hadSeparator, name);
      assert.deepEqual(rejoin(raw), raw, name);
    }
    const mixed = B('Subject: a\r\n b\nX-Latin: caf\xe9\r\nTo: x@y\n\nbody\r\nmore\n');
    const p = parseMessage(mixed);
    assert.deepEqual(p.headers.fields.map((f) => f.name), ['Subject', 'X-Latin', 'To']);
    assert.deepEqual(rejoin(mixed), mixed);
    assert.equal(p.headers.get('subject'), 'a b');
    assert.equal(p.headers.get('X-LATIN'), 'café'); // not UTF-8: read as Latin-1
    assert.equal(p.body.toString(), 'body\r\nmore\n');
  });

  it('reads unfolded values and every occurrence', () => {
    const raw = readFileSync(join(fixtures, 'message', 'debian-cron.eml'));
    const h = parseMessage(raw).headers;
    assert.deepEqual(h.getAll('x-cron-env'), ['<SHELL=/bin/sh>', '<HOME=/root>', '<LOGNAME=root>']);
    assert.equal(h.get('from'), 'root (Cron Daemon)');
    assert.equal(h.get('nope'), undefined);
    assert.equal(parseMessage(readFileSync(join(fixtures, 'message', 'lists.eml'))).headers.get('bcc'),
      'hidden@example.org,  hidden@EXAMPLE.org, dev@example.org');
  });

  it('treats input with no header block as all body', () => {
    for (const s of ['hello world\n', 'just text', '\nbody after blank line\n', ' indented first line\nX: y\n', 'From root Mon Jan 1 00:00:00 2024\nSubject: x\n\nb\n', ': no name\n', 'Bad Name: x\n']) {
      const p = parseMessage(B(s));
      assert.equal(p.hadHeaderBlock, false, s);
      assert.equal(p.headers.size, 0);
      const expectBody = s.startsWith('\n') ? s.slice(1) : s;
      assert.equal(p.body.toString('latin1'), expectBody, s);
    }
  });

  it('starts the body at a malformed line in the middle of the block, losing nothing', () => {
    const raw = B('Subject: hi\nTo: a@b\nthis line has no colon\nX-After: still body\n\nreal body\n');
    const p = parseMessage(raw);
    assert.deepEqual(p.headers.fields.map((f) => f.name), ['Subject', 'To']);
    assert.equal(p.hadSeparator, false);
    assert.equal(p.body.toString(), 'this line has no colon\nX-After: still body\n\nreal body\n');
    assert.deepEqual(Buffer.concat([p.headers.toBuffer(), p.body]), raw);
  });

  it('accepts the obsolete "Name : value" form and a block without final newline', () => {
    const p = parseMessage(B('Subject : spaced\nX-Last: end'));
    assert.equal(p.headers.get('subject'), 'spaced');
    assert.equal(p.headers.get('x-last'), 'end');
    assert.equal(p.body.length, 0);
    assert.equal(p.headers.toBuffer().toString(), 'Subject : spaced\nX-Last: end\n');
  });

  it('copes with a 1 MB single-line header', () => {
    const big = 'x'.repeat(1024 * 1024);
    const raw = B(`Subject: ${big}\nTo: a@b\n\nbody\n`);
    const t0 = performance.now();
    const p = parseMessage(raw);
    assert.equal(p.headers.get('subject')!.length, big.length);
    assert.equal(p.headers.get('to'), 'a@b');
    assert.deepEqual(rejoin(raw), raw);
    assert.ok(performance.now() - t0 < 1000);
  });

  it('copes with 5,000 headers in linear time', () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `X-H${i % 10}: value ${i}\n`).join('');
    const raw = B(lines + 'Subject: last\n\nbody\n');
    const t0 = performance.now();
    const p = parseMessage(raw);
    assert.equal(p.headers.size, 5001);
    assert.equal(p.headers.getAll('x-h3').length, 500);
    assert.equal(p.headers.remove('X-H3'), 500);
    assert.equal(p.headers.size, 4501);
    assert.equal(p.headers.get('subject'), 'last');
    assert.ok(performance.now() - t0 < 1000);
  });
});

describe('Headers edits', () => {
  it('adds trace fields on top and the rest at the end', () => {
    const p = parseMessage(B('Subject: s\nTo: t@x\n\nb\n'));
    p.headers.add('Received', 'from localhost');
    p.headers.add('Date', 'Mon, 1 Jan 2024 00:00:00 +0000');
    p.headers.add('X-Top', 'y', 'top');
    p.headers.add('Return-Path', '<a@b>', 'end');
    assert.deepEqual(p.headers.fields.map((f) => f.name), ['X-Top', 'Received', 'Subject', 'To', 'Date', 'Return-Path']);
    assert.equal(serializeMessage(p.headers, p.body).toString(),
      'X-Top: y\nReceived: from localhost\nSubject: s\nTo: t@x\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nReturn-Path: <a@b>\n\nb\n');
  });

  it('never lets an added value create another field', () => {
    const h = new Headers();
    h.add('Subject', 'a\r\nBcc: evil@x.org\rX-Injected: 1\n\nbody\0end');
    h.add('X-Fold', 'first\n second\n\tthird');
    h.add('X-Blank', 'a\n \nB: c');
    const again = parseMessage(Buffer.concat([h.toBuffer(), B('\nbody\n')]));
    assert.deepEqual(again.headers.fields.map((f) => f.name), ['Subject', 'X-Fold', 'X-Blank']);
    assert.equal(again.headers.get('subject'), 'a  Bcc: evil@x.org X-Injected: 1  body end');
    assert.equal(again.headers.get('x-fold'), 'first second\tthird');
    assert.equal(again.body.toString(), 'body\n');
    assert.equal(sanitizeValue('x\r\n y'), 'x\n y');
    assert.throws(() => h.add('Bad Name', 'v'), /invalid header field name/);
    assert.throws(() => h.add('Bad:Name', 'v'), /invalid header field name/);
    assert.throws(() => h.add('', 'v'), /invalid header field name/);
  });

  it('folds long generated fields at white space', () => {
    const words = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
    const folded = foldField('Subject', words);
    for (const line of folded.split('\n')) assert.ok(line.length <= 78, line);
    const f = { name: 'Subject', lname: 'subject', raw: Buffer.from(folded + '\n') };
    assert.equal(fieldValue(f), words);
    assert.equal(foldField('X', 'short'), 'X: short');
  });

  it('rewrites in place and leaves non-UTF-8 fields alone', () => {
    const raw = B('To: root\nX-Bin: caf\xe9 root\nCc: root, b@c\n\n');
    const p = parseMessage(raw);
    assert.equal(p.headers.rewrite('to', (v) => v + '@example.com'), 1);
    assert.equal(p.headers.rewrite('x-bin', () => 'changed'), 0);
    assert.equal(p.headers.rewrite('cc', () => null), 0);
    assert.equal(p.headers.toBuffer().toString('latin1'), 'To: root@example.com\nX-Bin: caf\xe9 root\nCc: root, b@c\n');
  });
});

describe('RFC 2047 encoded-words', () => {
  it('decodes B and Q in several charsets', () => {
    assert.equal(decodeWords('=?UTF-8?B?SsO2cmc=?='), 'Jörg');
    assert.equal(decodeWords('=?utf-8?q?J=C3=B6rg_M=C3=BCller?='), 'Jörg Müller');
    assert.equal(decodeWords('=?ISO-8859-1?Q?caf=E9?='), 'café');
    assert.equal(decodeWords('=?windows-1252?Q?=80uro?='), '€uro');
    assert.equal(decodeWords('=?KOI8-R?B?8NLJ18XU?='), 'Привет');
    assert.equal(decodeWords('=?UTF-8*en?Q?lang?='), 'lang');
    assert.equal(decodeWords('Re: =?UTF-8?Q?caf=C3=A9?= ok'), 'Re: café ok');
  });

  it('joins adjacent words, including a character split across them', () => {
    assert.equal(decodeWords('=?UTF-8?Q?a?= =?UTF-8?Q?b?=\r\n =?UTF-8?Q?c?='), 'abc');
    // "é" is C3 A9: split over two B-words.
    assert.equal(decodeWords('=?UTF-8?B?ww==?= =?UTF-8?B?qQ==?='), 'é');
    assert.equal(decodeWords('=?UTF-8?Q?caf=C3?= =?UTF-8?Q?=A9?='), 'café');
    // Words with text between them keep that text.
    assert.equal(decodeWords('=?UTF-8?Q?a?= x =?UTF-8?Q?b?='), 'a x b');
  });

  it('leaves malformed words as they were', () => {
    for (const s of ['=?UTF-8?B?!!!?=', '=?no-such-charset?Q?x?=', '=?UTF-8?Q?bad=ZZ?=', '=?UTF-8?X?abc?=', '=?UTF-8?Q?unterminated', 'plain =? text ?=']) {
      assert.equal(decodeWords(s), s);
    }
    assert.equal(decodeWords('ok =?UTF-8?Q?a?= =?bogus?Q?b?='), 'ok a =?bogus?Q?b?=');
  });

  it('bounds the work on 10,000 encoded-words', () => {
    const one = '=?UTF-8?B?w6k=?=';
    const s = Array.from({ length: 10_000 }, () => one).join(' ');
    const t0 = performance.now();
    const out = decodeWords(s);
    assert.ok(performance.now() - t0 < 1000);
    assert.ok(out.startsWith('é'.repeat(MAX_DECODED_WORDS) + ' ' + one));
    assert.equal(out.split(one).length - 1, 10_000 - MAX_DECODED_WORDS);
    // Lots of near-misses are also linear.
    const junk = '=?'.repeat(200_000) + '?='.repeat(200_000);
    const t1 = performance.now();
    assert.equal(decodeWords(junk), junk);
    assert.ok(performance.now() - t1 < 1000);
  });

  it('encodes into words of at most 75 characters that decode back', () => {
    const texts = ['Jörg', 'Ünïcödé '.repeat(40), '日本語のテキスト'.repeat(20), 'emoji 🎉🎉🎉 '.repeat(30), 'a_b=c?d "q"'];
    for (const t of texts) {
      const words = encodeWords(t);
      for (const w of words) {
        assert.ok(w.length <= 75, w);
        assert.match(w, /^=\?UTF-8\?[QB]\?[A-Za-z0-9!*+\-/=_]*\?=$/);
      }
      assert.equal(decodeWords(words.join(' ')), t);
      assert.equal(decodeWords(words.join('\n ')), t);
    }
  });

  it('encodes only the words that need it', () => {
    assert.equal(encodeHeaderText('plain ASCII'), 'plain ASCII');
    const mixed = encodeHeaderText('Backup on café server: OK');
    assert.match(mixed, /^Backup on =\?UTF-8\?Q\?caf=C3=A9\?= server: OK$/);
    assert.equal(decodeWords(mixed), 'Backup on café server: OK');
    const runs = encodeHeaderText('é à x ü');
    assert.equal(decodeWords(runs), 'é à x ü');
    const long = 'y'.repeat(2000);
    const enc = encodeHeaderText(`x ${long}`);
    assert.ok(enc.split(' ').every((w) => w.length <= 75));
    assert.equal(decodeWords(enc), `x ${long}`);
    assert.notEqual(encodeHeaderText('=?UTF-8?Q?fake?='), '=?UTF-8?Q?fake?=');
    assert.equal(decodeWords(encodeHeaderText('=?UTF-8?Q?fake?=')), '=?UTF-8?Q?fake?=');
  });
});
