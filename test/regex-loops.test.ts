/**
 * The sendmail path runs some checks as loops or string tests instead of the regular expressions
 * they stand for (a regular expression costs ~0.01-0.05 ms at its first use in a process; issue
 * 10). Each is checked here against its regular expression, written out as it was, on every ASCII
 * character in several positions and on non-ASCII and line-break samples: same answers, always.
 * (The address rules have their own such test in address.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeJson } from '../src/core/display.js';
import { fieldValue, Headers, sanitizeValue } from '../src/message/headers.js';
import { makeMessageId } from '../src/message/prepare.js';

const ascii = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i));
const samples = [
  ...ascii, ...ascii.map((c) => `ab${c}cd`), ...ascii.map((c) => `${c}x`), ...ascii.map((c) => `x${c}`), ...ascii.map((c) => `${c}${c}`),
  '', 'plain text', 'a\n b', 'a\r\n\tb', 'a\n', 'a\r\n', '\n', 'a\nb', 'a\n \n b', 'a\n  ', 'x\u0085y', 'x\u2028y', 'x\u202ey', 'x\ufeffy',
  'ü', 'x\u00a0y', '\u3000', '😀', 'a\u007fb', 'a\u009fb', 'tab\there',
];

test('sanitizeValue answers as its two regular expressions', () => {
  const reference = (value: string) => value.replace(/\r?\n(?=[ \t])|[\x00-\x08\x0a-\x1f\x7f]/g, (m, at: number) => {
    const next = value[at + m.length];
    return m.endsWith('\n') && (next === ' ' || next === '\t') ? '\n' : ' ';
  }).replace(/\n[ \t]*(?=\n|$)/g, '');
  for (const v of samples) assert.equal(sanitizeValue(v), reference(v), JSON.stringify(v));
});

test('fieldValue answers as its regular expressions and trim', () => {
  const reference = (text: string) => text.replace(/\r?\n(?=[ \t])/g, '').replace(/\r?\n$/, '').trim();
  for (const v of [...samples, ...samples.map((x) => `${x}\n`), ...samples.map((x) => ` ${x}\r\n`)]) {
    const raw = Buffer.from(`X-Test:${v}`, 'utf8');
    assert.equal(fieldValue({ name: 'X-Test', lname: 'x-test', raw }), reference(v), JSON.stringify(v));
  }
});

test('escapeJson answers as its regular expression', () => {
  const reference = (json: string) => json.replace(/[\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/g,
    (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  const more = Array.from({ length: 0x2100 }, (_, i) => String.fromCharCode(i)).filter((c) => c.charCodeAt(0) >= 0x7e);
  for (const v of [...samples, ...more, ...more.map((c) => `{"a":"x${c}y"}`), '\ufeff', '\ufefe']) {
    assert.equal(escapeJson(v), reference(v), JSON.stringify(v));
  }
});

test('a header field name is refused exactly when /^[\\x21-\\x39\\x3b-\\x7e]+$/ refuses it', () => {
  for (const name of [...samples.filter((s) => !s.includes('😀')), 'X-Sysmail-Host', 'a:b', 'é']) {
    const ok = /^[\x21-\x39\x3b-\x7e]+$/.test(name);
    const h = new Headers();
    if (ok) assert.doesNotThrow(() => h.add(name, 'v'), JSON.stringify(name));
    else assert.throws(() => h.add(name, 'v'), TypeError, JSON.stringify(name));
  }
});

test('the Message-ID host is the host name cleaned as /[^A-Za-z0-9.-]/g would', () => {
  const now = new Date(0);
  for (const host of [...samples, 'web1.example.com', 'bad host_name!', '']) {
    const want = host.replace(/[^A-Za-z0-9.-]/g, '') || 'localhost';
    assert.equal(makeMessageId(now, host, 'seed'), `<0.seed@${want}>`, JSON.stringify(host));
  }
  // Without a seed the random part is base-36 digits only, as the old clean-up would have left it.
  assert.match(makeMessageId(now, 'h'), /^<0\.[0-9a-z]+@h>$/);
});
