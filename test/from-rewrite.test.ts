/** rewrite_from (transports/from-rewrite.ts): the From a strict relay accepts, the original still visible. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { approvedSenderRelay, rewriteFrom } from '../src/transports/from-rewrite.js';
import { parseMessage } from '../src/message/headers.js';

const rw = (m: string) => rewriteFrom(Buffer.from(m), 'alerts@example.com', 'web1.example.com');
const hdr = (b: Buffer, n: string) => parseMessage(b).headers.getAll(n);

test('Debian cron: "root (Cron Daemon)" becomes the approved From with the original in the name and Reply-To', () => {
  const r = rw('From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@web1> run-parts\nX-Cron-Env: <SHELL=/bin/sh>\n\nbody\n');
  assert.deepEqual(hdr(r.raw, 'from'), ['"root@web1.example.com (Cron Daemon)" <alerts@example.com>']);
  assert.deepEqual(hdr(r.raw, 'reply-to'), ['Cron Daemon <root@web1.example.com>']);
  assert.equal(r.original, 'root@web1.example.com');
  // Everything else is byte for byte, in place.
  assert.equal(r.raw.toString(), 'From: "root@web1.example.com (Cron Daemon)" <alerts@example.com>\nTo: root\nSubject: Cron <root@web1> run-parts\n'
    + 'X-Cron-Env: <SHELL=/bin/sh>\nReply-To: Cron Daemon <root@web1.example.com>\n\nbody\n');
});

test('cronie and named senders; an existing Reply-To is kept; the approved From is left alone', () => {
  const cronie = rw('From: "(Cron Daemon)" <root@web1.example.com>\nSubject: x\n\nb\n');
  assert.deepEqual(hdr(cronie.raw, 'from'), ['"root@web1.example.com (Cron Daemon)" <alerts@example.com>']);
  const named = rw('From: Backup Job <backup@web1.example.com>\nReply-To: team@example.com\n\nb\n');
  assert.deepEqual(hdr(named.raw, 'from'), ['"backup@web1.example.com (Backup Job)" <alerts@example.com>']);
  assert.deepEqual(hdr(named.raw, 'reply-to'), ['team@example.com']);
  const same = Buffer.from('From: Alerts <ALERTS@example.com>\n\nb\n');
  assert.equal(rewriteFrom(same, 'alerts@example.com', 'h').raw, same);
  const none = rw('Subject: no from\n\nb\n');
  assert.deepEqual(hdr(none.raw, 'from'), ['alerts@example.com']);
});

test('relays known to need an approved From', () => {
  assert.equal(approvedSenderRelay('smtp.email.eu-frankfurt-1.oci.oraclecloud.com'), 'OCI Email Delivery');
  assert.equal(approvedSenderRelay('email-smtp.us-east-1.amazonaws.com'), 'Amazon SES');
  assert.equal(approvedSenderRelay('smtp.gmail.com'), 'Gmail');
  assert.equal(approvedSenderRelay('smtp.office365.com'), 'Microsoft 365');
  assert.equal(approvedSenderRelay('mail.example.com'), null);
});

test('doctor warns for a known strict relay without rewrite_from, and names the key', async () => {
  const { approvedSenderWarning } = await import('../src/doctor/transport-checks.js');
  const t = { name: 'oci-email', type: 'smtp', host: 'smtp.email.eu-frankfurt-1.oci.oraclecloud.com', rewriteFrom: null } as never;
  const w = approvedSenderWarning(t)!;
  assert.equal(w.status, 'warn');
  assert.match(w.detail, /OCI Email Delivery/);
  assert.match(w.fix ?? '', /rewrite_from = .* \[transports\.oci-email\]/);
  assert.equal(approvedSenderWarning({ ...(t as object), rewriteFrom: 'alerts@example.com' } as never), null);
  assert.equal(approvedSenderWarning({ ...(t as object), host: 'mail.example.com' } as never), null);
});
