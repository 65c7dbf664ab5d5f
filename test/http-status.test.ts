/**
 * An HTTP API's status as a delivery outcome (transports/http/status.ts), as a table: retry what
 * time or a fix of the clock/config cures, fail what is wrong with this message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpStatusOutcome } from '../src/transports/http/status.js';

test('httpStatusOutcome: every class of status', () => {
  const table: Array<[number, string, string, string]> = [
    [200, 'sent', '2.0.0', 'accepted'],
    [202, 'sent', '2.0.0', 'accepted'],
    [301, 'deferred', '4.3.0', 'redirect'],
    [400, 'failed', '5.6.0', 'bad-request'],
    [401, 'deferred', '4.7.0', 'unauthorized'],
    [403, 'failed', '5.7.1', 'forbidden'],
    [404, 'failed', '5.1.1', 'not-found'],
    [409, 'deferred', '4.3.0', 'conflict'],
    [413, 'failed', '5.3.4', 'too-large'],
    [418, 'failed', '5.0.0', 'refused'],
    [429, 'deferred', '4.7.0', 'rate-limited'],
    [500, 'deferred', '4.3.0', 'server'],
    [503, 'deferred', '4.3.0', 'server'],
  ];
  for (const [status, outcome, dsn, cls] of table) {
    assert.deepEqual(httpStatusOutcome(status), { outcome, dsn, class: cls }, String(status));
  }
});

test('httpStatusOutcome: the DSN class always agrees with the outcome', () => {
  for (let s = 100; s < 600; s++) {
    const v = httpStatusOutcome(s);
    const first = v.dsn[0];
    assert.equal(first, v.outcome === 'sent' ? '2' : v.outcome === 'deferred' ? '4' : '5', `${s}: ${v.outcome} ${v.dsn}`);
  }
});
