/**
 * The retry schedule as a table: the delay after N failed attempts at both
 * ends of the jitter, the caps, queue expiry, and "due" after a backward
 * clock jump. Pure functions: randomness and time are passed in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDue, isExpired, retryDelay } from '../src/delivery/backoff.js';

const MIN = 60_000;
const spool = { retryMin: 5 * MIN, retryMax: 4 * 60 * MIN };
const lowest = () => 0;
const middle = () => 0.5;
const highest = () => 1; // the top of the range (Math.random stays just below it)

test('retryDelay: exponential from retry_min, ±20 % jitter, capped at retry_max', () => {
  // attempts → [delay with random=0, random=0.5, random=1]
  const table: Array<[number, number, number, number]> = [
    [0, 4 * MIN, 5 * MIN, 6 * MIN],          // no failure yet: treated like the first
    [1, 4 * MIN, 5 * MIN, 6 * MIN],
    [2, 8 * MIN, 10 * MIN, 12 * MIN],
    [3, 16 * MIN, 20 * MIN, 24 * MIN],
    [4, 32 * MIN, 40 * MIN, 48 * MIN],
    [5, 64 * MIN, 80 * MIN, 96 * MIN],
    [6, 128 * MIN, 160 * MIN, 192 * MIN],
    [7, 192 * MIN, 240 * MIN, 240 * MIN],    // 320 min capped at 240, then jittered, capped again
    [50, 192 * MIN, 240 * MIN, 240 * MIN],   // no overflow far out
  ];
  for (const [attempts, low, mid, high] of table) {
    assert.equal(retryDelay(attempts, spool, lowest), low, `attempts=${attempts} random=0`);
    assert.equal(retryDelay(attempts, spool, middle), mid, `attempts=${attempts} random=0.5`);
    assert.equal(retryDelay(attempts, spool, highest), high, `attempts=${attempts} random=1`);
  }
});

test('retryDelay: never below 80 % of retry_min, never above retry_max, for any random value', () => {
  const tight = { retryMin: 10 * MIN, retryMax: 10 * MIN };
  for (const r of [0, 0.1, 0.5, 0.9, 0.999999]) {
    for (const attempts of [1, 2, 10]) {
      const d = retryDelay(attempts, tight, () => r);
      assert.ok(d >= 8 * MIN && d <= 10 * MIN, `attempts=${attempts} r=${r} gave ${d}`);
    }
  }
});

test('isExpired: at and after the lifetime, not before', () => {
  const table: Array<[number, number, boolean]> = [
    [0, 0, true],                 // a zero lifetime expires at once
    [1000, 999, false],
    [1000, 1000, true],
    [1000, 5000, true],
  ];
  for (const [lifetime, age, expected] of table) {
    assert.equal(isExpired(10_000, 10_000 + age, lifetime), expected, `lifetime=${lifetime} age=${age}`);
  }
});

test('isDue: due when the time has come, or when the schedule is impossibly far ahead (clock went back)', () => {
  const now = 1_000_000_000;
  const retryMax = 4 * 60 * MIN;
  const table: Array<[string, number, boolean]> = [
    ['in the past', now - 1, true],
    ['exactly now', now, true],
    ['one minute ahead', now + MIN, false],
    ['exactly retry_max ahead', now + retryMax, false],
    ['beyond retry_max ahead (clock jumped back)', now + retryMax + 1, true],
  ];
  for (const [name, next, expected] of table) assert.equal(isDue(next, now, retryMax), expected, name);
});
