/** core/display.ts: the one function that shows foreign text on a terminal (pure, table-tested). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bounded, displayText, escapeJson } from '../src/core/display.js';

test('displayText escapes C0, DEL, C1, bidi and invisible characters, and keeps the rest', () => {
  const cases: Array<[string, string]> = [
    ['plain text, ünïcödé, 日本', 'plain text, ünïcödé, 日本'],
    ['\x1b[2J\x07', '\\x1b[2J\\x07'],
    ['a\nb\r\tc\0', 'a\\x0ab\\x0d\\x09c\\x00'],
    ['\x7f\u0085\u009b', '\\x7f\\x85\\x9b'],
    ['\u202eexe.gnp\u202c \u2066x\u2069', '\\u202eexe.gnp\\u202c \\u2066x\\u2069'],
    ['zero\u200bwidth\u2028line\ufeff', 'zero\\u200bwidth\\u2028line\\ufeff'],
  ];
  for (const [input, want] of cases) assert.equal(displayText(input), want, JSON.stringify(input));
});

test('displayText bounds the length and says how much was cut; bounded never splits a surrogate pair', () => {
  const out = displayText('A'.repeat(20_000));
  assert.equal(out, `${'A'.repeat(500)}... (19500 more characters)`);
  assert.equal(displayText('x'.repeat(10), 4), 'xxxx... (6 more characters)');
  assert.equal(bounded('ab😀cd', 3), 'ab... (4 more characters)');
  assert.equal(displayText(null), '');
});

test('escapeJson writes C1, bidi and separators as \\u escapes and leaves the JSON value and layout unchanged', () => {
  const value = { reason: 'x\u009b\u202e\u2028y', n: 1 };
  const json = JSON.stringify(value, null, 2);
  const safe = escapeJson(json);
  assert.ok(!/[\u0080-\u009f\u202a-\u202e\u2028]/.test(safe), safe);
  assert.deepEqual(JSON.parse(safe), value);
  assert.equal(safe.split('\n').length, json.split('\n').length);
});
