import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync,
  utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Config } from '../src/config/types.js';
import { memoryLogger } from '../src/log/logger.js';
import type { OutgoingMessage, TransportContext } from '../src/transports/types.js';
import { createMaildirTransport, deliverToMaildir, maildirFileName } from '../src/transports/maildir.js';
import { appendToMbox, asctime, createMboxTransport, formatMboxEntry, mboxFromLine, quoteFromLines } from '../src/transports/mbox.js';
import { createLocalTransport } from '../src/transports/local.js';
import { createStdoutTransport } from '../src/transports/stdout.js';
import { fixtures, tempDir } from './helpers/paths.js';

const isRoot = process.getuid?.() === 0;
/** The test user: `nobody`'s uid as root (so ownership changes are real), else ourselves. */
const testUid = isRoot ? 65534 : process.getuid!();
const testGid = isRoot ? 65534 : process.getgid!();
const mboxJs = fileURLToPath(new URL('../src/transports/mbox.js', import.meta.url));

function ctx(): TransportContext {
  return { config: { general: { hostname: 'host.example' } } as unknown as Config, log: memoryLogger(), now: () => Date.now() };
}

function message(raw: string, sender = 'cron@host.example', id = 'M1'): OutgoingMessage {
  return {
    id,
    envelope: { sender, recipients: [], submittedAt: Date.now(), uid: 0, user: 'root', via: 'sendmail' },
    raw: Buffer.from(raw),
  };
}

const RAW = 'From: cron@host.example\nTo: root\nSubject: hello\n\nFrom the cron daemon\n>From quoted\nbody\n';

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = tempDir();
    try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  };
}

const mode = (p: string) => lstatSync(p).mode & 0o777;

test('maildir: file name carries time, pid, random and an escaped host', () => {
  assert.equal(maildirFileName(1_700_000_000_123, 42, 'abc', 'a/b:c'), '1700000000.M123000P42Rabc.a\\057b\\072c');
});

test('maildir transport: one copy per recipient in new/, trace headers on top, modes 0700/0600', withDir(async (dir) => {
  const md = join(dir, 'deep', 'Maildir');
  const t = createMaildirTransport({ name: 'md', type: 'maildir', path: md }, ctx());
  const res = await t.deliver(message(RAW), ['root@host.example', 'ops@host.example']);
  assert.deepEqual(res.map((r) => [r.rcpt, r.outcome, r.code, r.dsn]),
    [['root@host.example', 'sent', 250, '2.0.0'], ['ops@host.example', 'sent', 250, '2.0.0']]);
  for (const sub of ['', 'tmp', 'new', 'cur']) assert.equal(mode(join(md, sub)), 0o700, sub);
  assert.deepEqual(readdirSync(join(md, 'tmp')), []);
  const files = readdirSync(join(md, 'new')).sort();
  assert.equal(files.length, 2);
  for (const f of files) {
    assert.match(f, /^\d+\.M\d+P\d+R[0-9a-f]+\.host\.example$/);
    assert.equal(mode(join(md, 'new', f)), 0o600);
  }
  const bodies = files.map((f) => readFileSync(join(md, 'new', f), 'utf8')).sort();
  assert.deepEqual(bodies, [
    `Return-Path: <cron@host.example>\nDelivered-To: ops@host.example\n${RAW}`,
    `Return-Path: <cron@host.example>\nDelivered-To: root@host.example\n${RAW}`,
  ]);
  assert.ok(res[0].text.includes(join(md, 'new')));
}));

test('deliverToMaildir: returns the new path; stable (dir, bytes) signature', withDir(async (dir) => {
  const p = await deliverToMaildir(join(dir, 'archive'), Buffer.from('Subject: x\n\nbody\n'));
  assert.equal(readFileSync(p, 'utf8'), 'Subject: x\n\nbody\n');
  assert.ok(p.startsWith(join(dir, 'archive', 'new') + '/'));
}));

test('maildir transport: local I/O trouble is deferred, never a bounce', withDir(async (dir) => {
  writeFileSync(join(dir, 'file'), 'not a directory');
  const t = createMaildirTransport({ name: 'md', type: 'maildir', path: join(dir, 'file', 'Maildir') }, ctx());
  const [r] = await t.deliver(message(RAW), ['root@host.example']);
  assert.equal(r.outcome, 'deferred');
  assert.equal(r.dsn, '4.3.0');
  assert.match(r.text, /ENOTDIR|not a directory/);
}));

test('mbox: From_ line, asctime, mboxrd quoting', () => {
  const d = new Date(2024, 0, 5, 7, 8, 9);
  assert.equal(asctime(d), 'Fri Jan  5 07:08:09 2024');
  assert.equal(mboxFromLine('', d), 'From MAILER-DAEMON Fri Jan  5 07:08:09 2024');
  assert.equal(quoteFromLines(Buffer.from('From a\n>From b\n>>From c\nFrom: d\n From e\nX From f\n')).toString(),
    '>From a\n>>From b\n>>>From c\nFrom: d\n From e\nX From f\n');
  assert.equal(formatMboxEntry('a@b', d, Buffer.from('S: x\n\nno newline')).toString(),
    'From a@b Fri Jan  5 07:08:09 2024\nS: x\n\nno newline\n\n');
});

test('mbox transport: appends after existing content with a blank line, quoting, fsync, 0600', withDir(async (dir) => {
  const box = join(dir, 'mail', 'root.mbox');
  mkdirSync(join(dir, 'mail'));
  const existing = 'From old@x Thu Jan  1 00:00:00 1970\nSubject: old\n\nold body\n';
  writeFileSync(box, existing, { mode: 0o600 });
  const t = createMboxTransport({ name: 'mb', type: 'mbox', path: box }, ctx());
  const [r] = await t.deliver(message(RAW, ''), ['root@host.example']);
  assert.equal(r.outcome, 'sent', r.text);
  const text = readFileSync(box, 'utf8');
  assert.ok(text.startsWith(existing + '\nFrom MAILER-DAEMON '), text);
  const entry = text.slice(existing.length + 1);
  assert.match(entry, /^From MAILER-DAEMON \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n/);
  assert.ok(entry.endsWith('Return-Path: <>\nDelivered-To: root@host.example\n' +
    'From: cron@host.example\nTo: root\nSubject: hello\n\n>From the cron daemon\n>>From quoted\nbody\n\n'), entry);
  assert.equal(existsSync(box + '.lock'), false, 'lock released');

  const fresh = join(dir, 'new', 'box');
  const t2 = createMboxTransport({ name: 'mb', type: 'mbox', path: fresh }, ctx());
  assert.equal((await t2.deliver(message(RAW), ['a@x']))[0].outcome, 'sent');
  assert.equal(mode(fresh), 0o600);
}));

function holdLock(lock: string, ms: number): Promise<{ done: Promise<void> }> {
  const child = spawn(process.execPath, [join(fixtures, 'local', 'hold-lock.mjs'), lock, String(ms)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => resolve({ done }));
    child.once('error', reject);
  });
}

test('mbox: a lock held by another process makes us wait, then defer; the lock is not broken', withDir(async (dir) => {
  const box = join(dir, 'box');
  writeFileSync(box, '');
  const holder = await holdLock(box + '.lock', 1500);
  const t = createMboxTransport({ name: 'mb', type: 'mbox', path: box }, ctx(), { lockWaitMs: 600, lockPollMs: 50 });
  const start = Date.now();
  const [r] = await t.deliver(message(RAW), ['root@host.example']);
  const waited = Date.now() - start;
  assert.equal(r.outcome, 'deferred');
  assert.equal(r.code, 451);
  assert.match(r.text, /locked by another program .*box\.lock/);
  assert.ok(waited >= 550 && waited < 3000, `waited ${waited} ms`);
  assert.ok(existsSync(box + '.lock'), 'the other program still holds its lock');
  assert.equal(readFileSync(box, 'utf8'), '');
  await holder.done;
}));

test('mbox: waits for a lock that is released, then delivers', withDir(async (dir) => {
  const box = join(dir, 'box');
  const holder = await holdLock(box + '.lock', 400);
  const start = Date.now();
  await appendToMbox(box, formatMboxEntry('a@b', new Date(), Buffer.from('S: 1\n\nx\n')), { lockWaitMs: 5000, lockPollMs: 50 });
  assert.ok(Date.now() - start >= 300, 'it waited for the holder');
  assert.match(readFileSync(box, 'utf8'), /^From a@b .*\nS: 1\n\nx\n\n$/);
  await holder.done;
}));

test('mbox: a stale lock (older than the stale limit) is removed', withDir(async (dir) => {
  const box = join(dir, 'box');
  writeFileSync(box + '.lock', '99999\n');
  const old = new Date(Date.now() - 10 * 60_000);
  utimesSync(box + '.lock', old, old);
  await appendToMbox(box, formatMboxEntry('a@b', new Date(), Buffer.from('S: 1\n\nx\n')), { lockWaitMs: 200 });
  assert.match(readFileSync(box, 'utf8'), /^From a@b /);
  assert.equal(existsSync(box + '.lock'), false);
}));

function appendInChild(box: string, bytes: number, fsizeLimit?: number): { ok: boolean; code?: string; temporary?: boolean; message?: string } {
  const node = [process.execPath, join(fixtures, 'local', 'mbox-append.mjs'), mboxJs, box, String(bytes)];
  const argv = fsizeLimit === undefined ? node : ['prlimit', `--fsize=${fsizeLimit}`, ...node];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim());
}

test('mbox: a write that fails part-way (RLIMIT_FSIZE) is truncated back; nothing half-written stays', withDir(async (dir) => {
  const box = join(dir, 'box');
  const existing = 'From old@x Thu Jan  1 00:00:00 1970\nSubject: old\n\n' + 'old line\n'.repeat(100) + '\n';
  writeFileSync(box, existing);
  const failed = appendInChild(box, 50_000, existing.length + 8192);
  assert.equal(failed.ok, false);
  assert.equal(failed.temporary, true);
  assert.match(failed.message ?? '', /EFBIG/);
  assert.equal(statSync(box).size, existing.length);
  assert.equal(readFileSync(box, 'utf8'), existing);
  assert.equal(existsSync(box + '.lock'), false, 'lock released after the failure');
  // The same child without the limit succeeds, so the failure above was the limit.
  assert.deepEqual(appendInChild(box, 50_000), { ok: true });
  assert.ok(statSync(box).size > existing.length + 50_000);
}));

test('mbox: symlinked or hard-linked mailboxes are refused (deferred)', withDir(async (dir) => {
  const target = join(dir, 'target');
  writeFileSync(target, 'precious\n');
  symlinkSync(target, join(dir, 'sym'));
  linkSync(target, join(dir, 'hard'));
  for (const name of ['sym', 'hard']) {
    const t = createMboxTransport({ name: 'mb', type: 'mbox', path: join(dir, name) }, ctx());
    const [r] = await t.deliver(message(RAW), ['root@host.example']);
    assert.equal(r.outcome, 'deferred', name);
    assert.match(r.text, /refusing to append .*(symbolic link|hard links)/, name);
  }
  assert.equal(readFileSync(target, 'utf8'), 'precious\n');
}));

function passwdFile(dir: string, home: string): string {
  const p = join(dir, 'passwd');
  writeFileSync(p, [
    'root:x:0:0:root:/root:/bin/bash',
    '# comment',
    'broken line',
    `sysmailtest:x:${testUid}:${testGid}:Test User:${home}:/bin/sh`,
    '',
  ].join('\n'));
  return p;
}

test('local mbox: a real user gets <mailDir>/<user>, 0600, owned by the user; unknown user fails 5.1.1', withDir(async (dir) => {
  const mailDir = join(dir, 'mail');
  mkdirSync(mailDir, { mode: 0o1777 });
  const passwd = passwdFile(dir, join(dir, 'home'));
  const t = createLocalTransport({ name: 'local', type: 'local', format: 'mbox', mailDir, maildirName: 'Maildir' }, ctx(), { passwdPath: passwd });
  const res = await t.deliver(message(RAW), ['SysmailTest@host.example', 'nosuchuser@host.example', 'sysmailtest+cron@host.example']);
  assert.deepEqual(res.map((r) => [r.outcome, r.code, r.dsn]), [['sent', 250, '2.0.0'], ['failed', 550, '5.1.1'], ['sent', 250, '2.0.0']]);
  assert.match(res[1].text, /no such local user: nosuchuser/);
  const box = join(mailDir, 'sysmailtest');
  const st = statSync(box);
  assert.equal(st.mode & 0o777, 0o600);
  assert.equal(st.uid, testUid);
  assert.equal(st.gid, testGid);
  const text = readFileSync(box, 'utf8');
  assert.equal(text.match(/^From cron@host\.example /gm)?.length, 2);
  assert.match(text, /Delivered-To: SysmailTest@host\.example\n/);
  assert.match(text, /Delivered-To: sysmailtest\+cron@host\.example\n/);
}));

test('local mbox: an existing mailbox owned by someone else is refused (deferred)', withDir(async (dir) => {
  const mailDir = join(dir, 'mail');
  mkdirSync(mailDir);
  const passwd = passwdFile(dir, join(dir, 'home'));
  writeFileSync(join(mailDir, 'sysmailtest'), '');
  chownSync(join(mailDir, 'sysmailtest'), isRoot ? 0 : testUid, isRoot ? 0 : testGid);
  const t = createLocalTransport({ name: 'local', type: 'local', format: 'mbox', mailDir, maildirName: 'Maildir' }, ctx(), { passwdPath: passwd });
  const [r] = await t.deliver(message(RAW), ['sysmailtest@host.example']);
  if (isRoot) {
    assert.equal(r.outcome, 'deferred');
    assert.match(r.text, /owned by uid 0, not 65534/);
  } else {
    assert.equal(r.outcome, 'sent', 'our own mailbox');
  }
}));

test('local maildir: delivered into <home>/Maildir, everything created owned by the user', withDir(async (dir) => {
  const home = join(dir, 'home');
  mkdirSync(home);
  chownSync(home, testUid, testGid);
  const passwd = passwdFile(dir, home);
  const t = createLocalTransport({ name: 'local', type: 'local', format: 'maildir', mailDir: '/nonexistent', maildirName: 'Maildir' },
    ctx(), { passwdPath: passwd });
  const [r] = await t.deliver(message(RAW), ['sysmailtest@host.example']);
  assert.equal(r.outcome, 'sent', r.text);
  const md = join(home, 'Maildir');
  for (const sub of ['', 'tmp', 'new', 'cur']) {
    const st = lstatSync(join(md, sub));
    assert.equal(st.uid, testUid, sub);
    assert.equal(st.mode & 0o777, 0o700, sub);
  }
  const [file] = readdirSync(join(md, 'new'));
  const st = statSync(join(md, 'new', file));
  assert.equal(st.uid, testUid);
  assert.equal(st.gid, testGid);
  assert.equal(st.mode & 0o777, 0o600);
  assert.ok(readFileSync(join(md, 'new', file), 'utf8').startsWith('Return-Path: <cron@host.example>\nDelivered-To: sysmailtest@host.example\nFrom: '));

  // A nested maildir_name: the missing parent is created for the user too.
  const nested = createLocalTransport({ name: 'local', type: 'local', format: 'maildir', mailDir: '/nonexistent', maildirName: 'Mail/inbox' },
    ctx(), { passwdPath: passwd });
  assert.equal((await nested.deliver(message(RAW), ['sysmailtest@host.example']))[0].outcome, 'sent');
  assert.equal(lstatSync(join(home, 'Mail')).uid, testUid);
  assert.equal(readdirSync(join(home, 'Mail', 'inbox', 'new')).length, 1);
}));

test('local maildir: missing home, a symlinked Maildir, or an unreadable passwd file defer', withDir(async (dir) => {
  const cfg = { name: 'local', type: 'local' as const, format: 'maildir' as const, mailDir: '/nonexistent', maildirName: 'Maildir' };
  const missing = createLocalTransport(cfg, ctx(), { passwdPath: passwdFile(dir, join(dir, 'no-home')) });
  const [a] = await missing.deliver(message(RAW), ['sysmailtest@host.example']);
  assert.equal(a.outcome, 'deferred');
  assert.match(a.text, /home directory .*no-home of user sysmailtest does not exist/);

  const home = join(dir, 'home');
  mkdirSync(home);
  mkdirSync(join(dir, 'elsewhere'));
  symlinkSync(join(dir, 'elsewhere'), join(home, 'Maildir'));
  const sym = createLocalTransport(cfg, ctx(), { passwdPath: passwdFile(dir, home) });
  const [b] = await sym.deliver(message(RAW), ['sysmailtest@host.example']);
  assert.equal(b.outcome, 'deferred');
  assert.match(b.text, /symbolic link/);
  assert.deepEqual(readdirSync(join(dir, 'elsewhere')), []);

  const nopw = createLocalTransport(cfg, ctx(), { passwdPath: join(dir, 'missing-passwd') });
  const [c] = await nopw.deliver(message(RAW), ['sysmailtest@host.example']);
  assert.equal(c.outcome, 'deferred');
  assert.match(c.text, /cannot read the user database/);
}));

test('stdout: summary is one clean line; message is framed', async () => {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const sum = createStdoutTransport({ name: 'so', type: 'stdout', format: 'summary' }, ctx(), out);
  // ESC is removed by extractText; the C1 CSI (U+009B) must be removed here.
  const raw = `From: a@b\nSubject: disk =?UTF-8?B?${Buffer.from('full\u001b[1m\u009b31m').toString('base64')}?=\n\nbody\n`;
  const res = await sum.deliver(message(raw, '', 'Q42'), ['root@h', 'ops@h']);
  assert.deepEqual(res.map((r) => r.outcome), ['sent', 'sent']);
  assert.equal(Buffer.concat(chunks).toString(), 'Q42 <> -> root@h,ops@h: disk full[1m 31m\n');

  chunks.length = 0;
  const full = createStdoutTransport({ name: 'so', type: 'stdout', format: 'message' }, ctx(), out);
  await full.deliver(message('Subject: x\n\nbody', 'a@b', 'Q43'), ['root@h']);
  assert.equal(Buffer.concat(chunks).toString(),
    '----- sysmail message Q43 from a@b to root@h -----\nSubject: x\n\nbody\n----- end of message Q43 -----\n');

  const closed = new PassThrough();
  closed.destroy();
  const broken = createStdoutTransport({ name: 'so', type: 'stdout', format: 'message' }, ctx(), closed);
  const [r] = await broken.deliver(message('Subject: x\n\nbody\n'), ['root@h']);
  assert.equal(r.outcome, 'deferred');
});
