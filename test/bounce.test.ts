/**
 * Bounces as tables: who receives one (never a bounce of a bounce; the admin
 * for <> and for root's and the daemons' mail), the DSN Status a failure maps
 * to, and what of the original is attached.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BOUNCE_ORIGINAL_MAX_BYTES, bounceRecipient, buildBounce, type BounceInput, type FailedRecipient } from '../src/delivery/bounce.js';
import type { Envelope } from '../src/spool/types.js';

const envelope = (over: Partial<Envelope> = {}): Envelope => ({
  sender: 'alice@example.com', recipients: ['bob@example.org'], submittedAt: Date.UTC(2026, 0, 2, 3, 4, 5),
  uid: 1000, user: 'alice', via: 'sendmail', ...over,
});
const isLocal = (a: string) => !a.includes('@') || a.endsWith('@web1.example.com');

test('bounceRecipient: who is told', () => {
  const admin = 'ops@example.com';
  const table: Array<[string, Partial<Envelope>, string | null]> = [
    ['an ordinary sender gets it back', {}, 'alice@example.com'],
    ['a bounce is never bounced', { isBounce: true, sender: '' }, null],
    ['the null sender: the admin', { sender: '' }, admin],
    ['root on this host: the admin', { sender: 'root@web1.example.com' }, admin],
    ['bare root: the admin', { sender: 'root' }, admin],
    ['a daemon on this host: the admin', { sender: 'logwatch@web1.example.com' }, admin],
    ['Root in capitals: the admin', { sender: 'Root@web1.example.com' }, admin],
    ['root elsewhere is a person somewhere', { sender: 'root@example.org' }, 'root@example.org'],
    ['a local human user gets it back', { sender: 'alice@web1.example.com' }, 'alice@web1.example.com'],
  ];
  for (const [name, over, expected] of table) assert.equal(bounceRecipient(envelope(over), admin, isLocal), expected, name);
});

function bounce(failed: FailedRecipient[], over: Partial<BounceInput> = {}): string {
  const original = Buffer.from('Subject: hi\nFrom: alice@example.com\n\nbody line\n');
  return buildBounce({ id: 'Q1', envelope: envelope(), original, failed, hostname: 'web1.example.com',
    now: new Date(Date.UTC(2026, 0, 3)), boundarySeed: 'seed', ...over }, 'alice@example.com').toString('utf8');
}

test('buildBounce: the Status field is always a 5.x.x', () => {
  const table: Array<[string, string]> = [
    ['5.1.1', 'Status: 5.1.1'],
    ['4.4.1', 'Status: 5.4.1'],          // expired after temporary failures: reported as failed
    ['5.7.0', 'Status: 5.7.0'],
    ['garbage', 'Status: 5.0.0'],
    ['', 'Status: 5.0.0'],
    ['5.1.1\nX-Injected: yes', 'Status: 5.0.0'],
  ];
  for (const [dsn, expected] of table) {
    const text = bounce([{ rcpt: 'bob@example.org', dsn, text: 'no' }]);
    assert.ok(text.includes(`${expected}\n`), `dsn ${JSON.stringify(dsn)} → ${expected}`);
    assert.ok(!/^X-Injected/m.test(text), 'no header injection through the DSN');
  }
});

test('buildBounce: per-recipient fields, control characters flattened, Original-Recipient only after aliasing', () => {
  const text = bounce([
    { rcpt: 'ops@example.com', orig: 'root@web1.example.com', dsn: '5.1.1', code: 550, text: 'no such\r\nuser\x1b[31m' },
    { rcpt: 'bob@example.org', orig: 'bob@example.org', dsn: '5.2.2', text: 'full', diagnosticType: 'x-local' },
  ]);
  assert.match(text, /Original-Recipient: rfc822; root@web1\.example\.com\nFinal-Recipient: rfc822; ops@example\.com\n/);
  assert.match(text, /Diagnostic-Code: smtp; 550 no such user \[31m\n/);
  assert.match(text, /\nFinal-Recipient: rfc822; bob@example\.org\nAction: failed\nStatus: 5\.2\.2\nDiagnostic-Code: x-local; full\n/);
  assert.equal((text.match(/Original-Recipient/g) ?? []).length, 1);
  assert.ok(!text.includes('\x1b'));
  assert.match(text, /<root@web1\.example\.com> → <ops@example\.com>: no such user/);
});

test('buildBounce: the original attached in full, or only its headers when RET=HDRS or too large', () => {
  const failed = [{ rcpt: 'bob@example.org', dsn: '5.1.1', text: 'no' }];
  const full = bounce(failed);
  assert.match(full, /Content-Type: message\/rfc822\n\nSubject: hi\nFrom: alice@example\.com\n\nbody line\n\n--=_sysmail_seed--\n$/);
  const hdrs = bounce(failed, { envelope: envelope({ ret: 'hdrs' }) });
  assert.match(hdrs, /Content-Type: text\/rfc822-headers\n\nSubject: hi\nFrom: alice@example\.com\n\n--=_sysmail_seed--\n$/);
  assert.ok(!hdrs.includes('body line'));
  const big = Buffer.concat([Buffer.from('Subject: big\n\n'), Buffer.alloc(BOUNCE_ORIGINAL_MAX_BYTES, 'x')]);
  const large = bounce(failed, { original: big });
  assert.ok(large.includes('text/rfc822-headers') && !large.includes('xxxx'));
  assert.match(bounce(failed, { expired: true }), /could not be delivered within the queue lifetime/);
});
