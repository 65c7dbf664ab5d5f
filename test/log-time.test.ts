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

test('verbose lines reach the terminal with control characters escaped (a hostile relay\'s reply, -v)', async () => {
  const { spawnSync } = await import('node:child_process');
  const { pathToFileURL } = await import('node:url');
  const { join } = await import('node:path');
  const logger = pathToFileURL(join(import.meta.dirname, '..', 'src', 'log', 'logger.js')).href;
  const script = `const { createLogger } = await import(${JSON.stringify(logger)});
    createLogger({ file: null, syslog: false, verbose: true }).verbose('smtp relay: S: 250 ok\\x1b]0;owned\\x07\\x1b[2J\\rgone\\u202e');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!/[\x00-\x1f\x7f\u202e]/.test(r.stderr.replace(/\n$/, '')), JSON.stringify(r.stderr));
  assert.match(r.stderr, /^sysmail: smtp relay: S: 250 ok\\x1b\]0;owned/);
});
