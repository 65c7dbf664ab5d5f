/**
 * The one `accepted` event (src/submit/submit-core.ts), which every submit path logs: sendmail
 * (full CLI and fast path), send, `-bs`, serve's listener (with its origin) and the drop/ import
 * (submit/maintenance.ts). `sysmail log`, the metrics counters and admins' greps read its reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptedEvent, acceptedEventOf, envelopeOf, type SubmitRequest } from '../src/submit/submit-core.js';

const req: SubmitRequest = {
  sender: 'root@host.example', recipients: ['a@example.net', 'b@example.net'], message: Buffer.from('Subject: x\n\nbody\n'),
  via: 'sendmail', uid: 0, user: 'root',
};

test('accepted: one event for every submit path, the reason naming how it came and who sent it', () => {
  const cases: [string, ReturnType<typeof acceptedEvent>, string][] = [
    ['sendmail', acceptedEvent('A1', req), 'via sendmail by root'],
    ['-bs (no origin)', acceptedEvent('A2', { ...req, via: 'smtp' }), 'via smtp by root'],
    ['the listener', acceptedEvent('A3', { ...req, via: 'smtp', origin: 'smtp from 127.0.0.1', user: 'smtp:127.0.0.1' }),
      'via smtp from 127.0.0.1 by smtp:127.0.0.1'],
    ['drop/ import', acceptedEventOf('A4', { from: 'u@h', rcpt: 'a@example.net', size: 5, via: 'drop', user: 'nobody', note: 'from drop/x1' }),
      'via drop by nobody (from drop/x1)'],
  ];
  for (const [what, e, reason] of cases) {
    assert.equal(e.event, 'accepted', what);
    assert.equal(e.status, 'queued', what);
    assert.equal(e.reason, reason, what);
  }
  assert.deepEqual(acceptedEvent('A1', req), {
    event: 'accepted', id: 'A1', from: 'root@host.example', rcpt: 'a@example.net,b@example.net', size: 17, status: 'queued',
    reason: 'via sendmail by root',
  });
});

test('envelopeOf: the envelope of a request; the listener\'s origin is for the log only, never stored', () => {
  const e = envelopeOf({ ...req, via: 'smtp', origin: 'smtp from 127.0.0.1', notify: 'NEVER' }, 1000);
  assert.deepEqual(e, { sender: 'root@host.example', recipients: ['a@example.net', 'b@example.net'], submittedAt: 1000, uid: 0,
    user: 'root', via: 'smtp', notify: 'NEVER' });
});
