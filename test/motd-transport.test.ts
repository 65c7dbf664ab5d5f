import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../src/config/types.js';
import { memoryLogger } from '../src/log/logger.js';
import type { OutgoingMessage, TransportContext } from '../src/transports/types.js';
import { createMotdTransport, formatNotice, MOTD_MARK, originHost, parseNotices, sanitizeLine } from '../src/transports/motd.js';
import { tempDir } from './helpers/paths.js';

let clock = Date.UTC(2025, 0, 2, 3, 4, 5);
function ctx(): TransportContext {
  return { config: { general: { hostname: 'web1.example' } } as unknown as Config, log: memoryLogger(), now: () => clock };
}

function message(subject: string, body: string, extraHeaders = ''): OutgoingMessage {
  const raw = `From: cron@web1.example\nSubject: ${subject}\n${extraHeaders}\n${body}`;
  return { id: 'Q1', envelope: { sender: 'cron@web1.example', recipients: [], submittedAt: 0, uid: 0, user: 'root', via: 'sendmail' }, raw: Buffer.from(raw) };
}

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = tempDir();
    try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  };
}

const subjects = (text: string) => [...text.matchAll(/^Subject: (.*)$/gm)].map((m) => m[1]);

test('motd: keeps the last N notices, newest first, each with date, host, subject and body', withDir(async (dir) => {
  const path = join(dir, 'motd.d', 'sysmail');
  const t = createMotdTransport({ name: 'motd', type: 'motd', path, keep: 3 }, ctx());
  for (let i = 1; i <= 5; i++) {
    clock += 60_000;
    const [r] = await t.deliver(message(`notice ${i}`, `body of ${i}\nsecond line\n`), ['root@web1.example']);
    assert.equal(r.outcome, 'sent', r.text);
  }
  const text = readFileSync(path, 'utf8');
  assert.deepEqual(subjects(text), ['notice 5', 'notice 4', 'notice 3']);
  assert.equal(text.split('\n').filter((l) => l.startsWith(MOTD_MARK)).length, 3);
  assert.match(text, /^\*\*\* sysmail notice - \d{4}-\d\d-\d\d \d\d:\d\d [+-]\d{4} - web1\.example\nSubject: notice 5\n  body of 5\n  second line\n\n/);
  assert.ok(text.endsWith('  second line\n'));
}));

test('motd: the file is replaced atomically, mode 0644 despite the umask, no temporary files left', withDir(async (dir) => {
  const path = join(dir, 'sysmail');
  const t = createMotdTransport({ name: 'motd', type: 'motd', path, keep: 5 }, ctx());
  const old = process.umask(0o077);
  try {
    await t.deliver(message('one', 'x\n'), ['root']);
    const ino1 = statSync(path).ino;
    // A leftover from a crashed writer is cleaned up; a fresh one (maybe another writer's) is not touched.
    writeFileSync(join(dir, '.sysmail.tmp-999-stale'), 'junk');
    const past = new Date(Date.now() - 5 * 60_000);
    utimesSync(join(dir, '.sysmail.tmp-999-stale'), past, past);
    await t.deliver(message('two', 'y\n'), ['root']);
    const st = statSync(path);
    assert.notEqual(st.ino, ino1, 'a new inode: replaced by rename, not rewritten in place');
    assert.equal(st.mode & 0o777, 0o644);
  } finally {
    process.umask(old);
  }
  assert.deepEqual(readdirSync(dir), ['sysmail']);
  assert.deepEqual(subjects(readFileSync(path, 'utf8')), ['two', 'one']);
}));

test('motd: terminal escapes and control characters never reach the file', withDir(async (dir) => {
  const path = join(dir, 'sysmail');
  const t = createMotdTransport({ name: 'motd', type: 'motd', path, keep: 5 }, ctx());
  const evilSubject = `=?UTF-8?B?${Buffer.from('red\u001b[31m \u009b2J alert\u202e').toString('base64')}?=`;
  const body = 'clear\u001b[2J\u001b]0;title\u0007 screen\n\ttab\u0000nul \u009b1m bold\r\n';
  await t.deliver(message(evilSubject, body, 'X-Sysmail-Host: db\u001b[7m2\n'), ['root']);
  const text = readFileSync(path, 'utf8');
  assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
  assert.match(text, /Subject: red\[31m 2J alert\n/);
  assert.match(text, /  clear\[2J\]0;title screen\n  {2}tabnul 1m bold\n/);
  assert.match(text, / - db\[7m2\n/);
}));

test('motd: bodies are bounded; a forged mark line in a body cannot create a notice', withDir(async (dir) => {
  const path = join(dir, 'sysmail');
  const t = createMotdTransport({ name: 'motd', type: 'motd', path, keep: 2 }, ctx());
  const long = Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n');
  await t.deliver(message('long', long), ['root']);
  await t.deliver(message('forged', `${MOTD_MARK} - 1999-01-01 00:00 +0000 - evil\nSubject: fake\n`), ['root']);
  await t.deliver(message('huge', 'y'.repeat(5000)), ['root']);
  const text = readFileSync(path, 'utf8');
  assert.deepEqual(subjects(text), ['huge', 'forged'], 'forged block did not count as a notice');
  assert.ok(text.length < 2000, `motd is ${text.length} chars`);
  const notice = formatNotice({ at: new Date(clock), host: 'h', subject: 's', text: long });
  const bodyLines = notice.split('\n').slice(2);
  assert.equal(bodyLines.length, 11);
  assert.equal(bodyLines[10], '  [...]');
  const huge = formatNotice({ at: new Date(clock), host: 'h', subject: '', text: 'z'.repeat(5000) });
  assert.ok(huge.length < 1000);
  assert.match(huge, /Subject: \(no subject\)\n  z+\n  \[\.\.\.\]$/);
  assert.match(formatNotice({ at: new Date(clock), host: 'h', subject: 's', text: '' }), /  \(no text\)$/);
}));

test('motd: parsing drops foreign text and re-sanitises hand-edited blocks', () => {
  const blocks = parseNotices(`Welcome to web1\n${MOTD_MARK} - a - b\nSubject: s\n  body\u001b[5m\n\n\n${MOTD_MARK} - c - d\nSubject: t\n`);
  assert.deepEqual(blocks, [`${MOTD_MARK} - a - b\nSubject: s\n  body[5m`, `${MOTD_MARK} - c - d\nSubject: t`]);
  assert.equal(sanitizeLine('a\tb\u0085c\u200fd'), 'a bcd');
  assert.equal(originHost(Buffer.from('Subject: x\nX-Sysmail-Host: db2\n\nX-Sysmail-Host: fake\n'), 'me'), 'db2');
  assert.equal(originHost(Buffer.from('Subject: x\n\nX-Sysmail-Host: fake\n'), 'me'), 'me');
});

test('motd: an unwritable location defers every recipient', withDir(async (dir) => {
  writeFileSync(join(dir, 'file'), '');
  const t = createMotdTransport({ name: 'motd', type: 'motd', path: join(dir, 'file', 'sysmail'), keep: 5 }, ctx());
  const res = await t.deliver(message('s', 'b\n'), ['root', 'ops']);
  assert.deepEqual(res.map((r) => [r.rcpt, r.outcome]), [['root', 'deferred'], ['ops', 'deferred']]);
  assert.match(res[0].text, /cannot update the motd file/);
}));
