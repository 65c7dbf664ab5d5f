/**
 * The log line's time stamp (log/logger.ts isoTime) is built by hand to spare the first
 * toISOString of a process: it must be toISOString's text for every time, and its extended form
 * outside years 0-9999.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatEvent, isoTime } from '../src/log/logger.js';

test('isoTime gives toISOString for times across the range a clock can show, and at the edges', () => {
  let seed = 12345;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  const edges = [0, 1, 999, 1000, -1, 951782400000, 4102444799999, 253402300799999, 253402300800000, -62167219200000, -62167219200001, 8.64e15, -8.64e15];
  const samples = [...edges, ...Array.from({ length: 20000 }, () => Math.floor((rnd() * 2 - 0.5) * 4102444800000))];
  for (const ms of samples) assert.equal(isoTime(ms), new Date(ms).toISOString(), String(ms));
  assert.throws(() => isoTime(NaN), RangeError);
});

test('a log line carries that time stamp', () => {
  const line = JSON.parse(formatEvent({ event: 'accepted', id: 'x' } as Parameters<typeof formatEvent>[0], 1764763200123)) as { ts: string };
  assert.equal(line.ts, '2025-12-03T12:00:00.123Z');
});
