import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fixtures } from './helpers/paths.js';
import { EX, SysmailError } from '../src/core/errors.js';
import { formatDate, makeMessageId, prepareMessage, type PrepareOptions } from '../src/message/prepare.js';
import { parseMessage } from '../src/message/headers.js';
import { readMessage } from '../src/message/input.js';

const NOW = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));

function prep(raw: string | Buffer, o: Partial<PrepareOptions> = {}) {
  return prepareMessage({
    raw: typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw,
    sender: null, fullName: null, recipients: [], extractRecipients: false, user: 'root',
    hostname: 'web1.example.com', domain: 'example.com', now: NOW, tagHost: true, messageIdSeed: 'seed', ...o,
  });
}

function fixture(name: string): Buffer {
  return readFileSync(join(fixtures, 'message', name));
}

function throwsCode(fn: () => unknown, code: string, exit: number, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SysmailError, String(e));
    assert.equal(e.code, code);
    assert.equal(e.exit, exit);
    if (re) assert.match(e.message, re);
    return true;
  });
}

const fieldNames = (m: Buffer) => parseMessage(m).headers.fields.map((f) => f.name);

describe('prepareMessage', () => {
  it('fills in Date, Message-ID, From, To and X-Sysmail-Host, deterministically', () => {
    const p = prep('Subject: hi\n\nhello\n', { recipients: ['admin'] });
    assert.equal(p.sender, 'root@example.com');
    assert.deepEqual(p.recipients, ['admin@example.com']);
    const id = makeMessageId(NOW, 'web1.example.com', 'seed');
    assert.equal(p.message.toString(), [
      'Subject: hi',
      `Date: ${formatDate(NOW)}`,
      `Message-ID: ${id}`,
      'From: "root (web1.example.com)" <root@example.com>',
      'To: undisclosed-recipients:;',
      'X-Sysmail-Host: web1.example.com',
      '', 'hello', ''].join('\n'));
    assert.match(id, /^<[0-9a-z]+\.seed@web1\.example\.com>$/);
    // Without a seed the ID is random.
    const a = prep('x', { recipients: ['a'], messageIdSeed: undefined });
    const b = prep('x', { recipients: ['a'], messageIdSeed: undefined });
    assert.notEqual(parseMessage(a.message).headers.get('message-id'), parseMessage(b.message).headers.get('message-id'));
  });

  it('formats RFC 5322 dates in any offset', () => {
    assert.equal(formatDate(NOW, 0), 'Tue, 2 Jan 2024 03:04:05 +0000');
    assert.equal(formatDate(NOW, 120), 'Tue, 2 Jan 2024 05:04:05 +0200');
    assert.equal(formatDate(NOW, -330), 'Mon, 1 Jan 2024 21:34:05 -0530');
    assert.match(formatDate(NOW), /^[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$/);
  });

  it('uses -F and the host tag only for a From it generates', () => {
    const p = prep('Subject: x\n\n', { recipients: ['a'], fullName: 'Cron Daemon' });
    assert.equal(parseMessage(p.message).headers.get('from'), '"Cron Daemon (web1.example.com)" <root@example.com>');
    const q = prep('Subject: x\n\n', { recipients: ['a'], fullName: 'Cron Daemon', tagHost: false });
    const h = parseMessage(q.message).headers;
    assert.equal(h.get('from'), 'Cron Daemon <root@example.com>');
    assert.equal(h.has('x-sysmail-host'), false);
    const kept = prep('From: Someone <s@x.org>\nX-Sysmail-Host: other\n\n', { recipients: ['a'], fullName: 'Ignored' });
    const hk = parseMessage(kept.message).headers;
    assert.equal(hk.get('from'), 'Someone <s@x.org>');
    assert.deepEqual(hk.getAll('x-sysmail-host'), ['other']);
    const injected = prep('', { recipients: ['a'], fullName: 'Evil\nBcc: victim@x.org' });
    assert.deepEqual(fieldNames(injected.message), ['Date', 'Message-ID', 'From', 'To', 'X-Sysmail-Host']);
  });

  it('handles the envelope sender: default, -f, null sender, hostile', () => {
    assert.equal(prep('', { recipients: ['a'], user: 'backup' }).sender, 'backup@example.com');
    assert.equal(prep('', { recipients: ['a'], sender: 'Ops@Example.ORG' }).sender, 'Ops@example.org');
    assert.equal(prep('', { recipients: ['a'], sender: 'root' }).sender, 'root@example.com');
    assert.equal(prep('', { recipients: ['a'], sender: 'Daemon <d@x.org>' }).sender, 'd@x.org');
    for (const nul of ['', '<>', '""']) {
      const p = prep('', { recipients: ['a'], sender: nul });
      assert.equal(p.sender, '');
      assert.equal(parseMessage(p.message).headers.get('from'), '"Mail Delivery System (web1.example.com)" <MAILER-DAEMON@example.com>');
    }
    throwsCode(() => prep('', { recipients: ['a'], sender: 'a@x.org, b@x.org' }), 'EADDRESS', EX.USAGE, /one address/);
    throwsCode(() => prep('', { recipients: ['a'], sender: '-oQ/tmp' }), 'EADDRESS', EX.USAGE, /'-'/);
    throwsCode(() => prep('', { recipients: ['a'], sender: 'a@x.org\r\nRCPT TO:<b@y>' }), 'EADDRESS', EX.USAGE, /\\r\\n/);
  });

  it('qualifies bare names the same way in the envelope and the headers', () => {
    const p = prep(fixture('debian-cron.eml'), { recipients: ['root'], fullName: 'CronDaemon' });
    assert.equal(p.sender, 'root@example.com');
    assert.deepEqual(p.recipients, ['root@example.com']);
    const h = parseMessage(p.message).headers;
    assert.equal(h.get('from'), 'root@example.com (Cron Daemon)');
    assert.equal(h.get('to'), 'root@example.com');
    const c = prep(fixture('cronie.eml'), { extractRecipients: true, sender: 'root' });
    const hc = parseMessage(c.message).headers;
    assert.equal(hc.get('from'), '"(Cron Daemon)" <root@example.com>');
    assert.deepEqual(c.recipients, ['ops@example.org']);
    // Broken or display-only values are left as they are (only bare names are qualified).
    const odd = parseMessage(prep('To: user@, Cron Daemon, "x y"\nReply-To: admin, "quoted"\n\n', { recipients: ['a'] }).message).headers;
    assert.equal(odd.get('to'), 'user@, Cron Daemon, "x y"');
    assert.equal(odd.get('reply-to'), 'admin@example.com, "quoted"@example.com');
    // Fields we did not need to touch are byte-identical.
    assert.ok(c.message.includes('Subject: Cron <root@web1> run-parts /etc/cron.hourly\nContent-Type: text/plain; charset=UTF-8\n'));
  });

  it('-t: To, Cc and Bcc plus argv, Bcc removed, duplicates dropped', () => {
    const p = prep(fixture('lists.eml'), { extractRecipients: true, recipients: ['extra@example.net', 'ops@EXAMPLE.org'] });
    assert.deepEqual(p.recipients, [
      'extra@example.net', 'ops@example.org', 'dev@example.org', 'a@example.org', 'b@example.net', 'hidden@example.org',
    ]);
    const h = parseMessage(p.message).headers;
    assert.equal(h.has('bcc'), false);
    assert.ok(!p.message.toString().includes('hidden'));
    assert.equal(h.get('to'), '"Ops, Team" <ops@example.org>, dev@example.org (Dev list)');
    // Local parts stay case-sensitive.
    assert.deepEqual(prep('To: A@x.org, a@X.org\n\n', { extractRecipients: true }).recipients, ['A@x.org', 'a@x.org']);
  });

  it('-t with Resent- headers takes every Resent-To/-Cc/-Bcc, in every block, as Postfix does', () => {
    const p = prep(fixture('resent.eml'), { extractRecipients: true });
    assert.deepEqual(p.recipients, ['new-owner@example.org', 'archive@example.org', 'old-resent@example.org']);
    const h = parseMessage(p.message).headers;
    assert.equal(h.has('resent-bcc'), false);
    assert.deepEqual(h.getAll('resent-to'), ['new-owner@example.org', 'old-resent@example.org']);
    assert.equal(h.get('message-id'), '<orig@example.org>');
  });

  it('removes Bcc even without -t, and adds undisclosed-recipients when no To or Cc is left', () => {
    const p = prep('Bcc: secret@x.org\nSubject: s\n\nb\n', { recipients: ['secret@x.org'] });
    const h = parseMessage(p.message).headers;
    assert.equal(h.has('bcc'), false);
    assert.equal(h.get('to'), 'undisclosed-recipients:;');
    assert.equal(parseMessage(prep('Cc: c@x.org\n\n', { recipients: ['c@x.org'] }).message).headers.has('to'), false);
  });

  it('refuses a message without recipients', () => {
    throwsCode(() => prep('Subject: x\n\n'), 'ENORCPT', EX.USAGE, /no recipients: give them as arguments or use -t/);
    throwsCode(() => prep('To: undisclosed-recipients:;\n\n', { extractRecipients: true }), 'ENORCPT', EX.USAGE);
  });

  it('refuses bad addresses in headers (EX_DATAERR) and argv (EX_USAGE)', () => {
    throwsCode(() => prep('To: foo bar\n\n', { extractRecipients: true }), 'EADDRESS', EX.DATAERR, /"foo bar"/);
    throwsCode(() => prep('To: |/bin/sh\n\n', { extractRecipients: true }), 'EADDRESS', EX.DATAERR, /command/);
    throwsCode(() => prep('', { recipients: ['-oQ/tmp'] }), 'EADDRESS', EX.USAGE, /'-'/);
    throwsCode(() => prep('', { recipients: ['a@x.org\nBcc: b@y.org'] }), 'EADDRESS', EX.USAGE, /line feed/);
    assert.deepEqual(prep('', { recipients: ['"a@b"@c.example', 'x@Bücher.DE'] }).recipients, ['"a@b"@c.example', 'x@bücher.de']);
  });

  it('normalises line ends: CRLF to LF, bare CR kept in the body, made a space in headers', () => {
    const p = prep('Subject: a\rBcc: evil@x.org\r\nTo: t@x.org\r\n\r\nline1\r\nbare\rcr\nlf only\n', { extractRecipients: true });
    assert.deepEqual(p.recipients, ['t@x.org']);
    const h = parseMessage(p.message).headers;
    assert.equal(h.get('subject'), 'a Bcc: evil@x.org');
    assert.equal(h.has('bcc'), false);
    assert.ok(p.message.toString().endsWith('\n\nline1\nbare\rcr\nlf only\n'));
    assert.ok(!p.message.includes('\r\n'));
  });

  it('refuses NUL bytes, saying where', () => {
    throwsCode(() => prep('Subject: x\n\nline 1\nline\0 2\n', { recipients: ['a'] }), 'ENUL', EX.DATAERR, /NUL byte \(line 4, byte offset 23\)/);
  });

  it('generates headers for a message with no header block, body untouched', () => {
    const body = 'This is just output from a script.\nIt has: a colon later.\n';
    const p = prep(body, { recipients: ['a'] });
    const parsed = parseMessage(p.message);
    assert.deepEqual(parsed.headers.fields.map((f) => f.name), ['Date', 'Message-ID', 'From', 'To', 'X-Sysmail-Host']);
    assert.equal(parsed.body.toString(), body);
  });

  it('keeps a malformed line in the header block as the first body line', () => {
    const p = prep('Subject: s\nnot a header line\nX-Y: z\n\nrest\n', { recipients: ['a'] });
    const parsed = parseMessage(p.message);
    assert.equal(parsed.headers.get('subject'), 's');
    assert.equal(parsed.headers.has('x-y'), false);
    assert.equal(parsed.body.toString(), 'not a header line\nX-Y: z\n\nrest\n');
  });

  it('keeps 8-bit bodies and long lines exactly, adding no MIME headers', () => {
    const body = Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9, 0x0a, 0xff, 0xfe]), Buffer.from('\n' + 'L'.repeat(100_000) + '\n')]);
    const p = prep(Buffer.concat([Buffer.from('Subject: 8bit\n\n'), body]), { recipients: ['a'] });
    const parsed = parseMessage(p.message);
    assert.deepEqual(parsed.body, body);
    assert.equal(parsed.headers.has('content-type'), false);
    assert.equal(parsed.headers.has('mime-version'), false);
  });

  it('drops leading mbox "From " lines', () => {
    const p = prep('From root@web1 Mon Jan  1 00:00:00 2024\n>From x\nSubject: s\n\nFrom here on\n', { recipients: ['a'] });
    assert.ok(p.message.toString().startsWith('Subject: s\n'));
    assert.ok(p.message.toString().endsWith('\n\nFrom here on\n'));
  });

  it('stays fast on a 1 MB header and 5,000 headers', () => {
    const raw = 'X-Big: ' + 'y'.repeat(1 << 20) + '\n' + Array.from({ length: 5000 }, (_, i) => `To: u${i}@x.org\n`).join('') + '\nbody\n';
    const t0 = performance.now();
    const p = prep(raw, { extractRecipients: true });
    assert.equal(p.recipients.length, 5000);
    assert.ok(p.message.includes('y'.repeat(1 << 20) + '\n'));
    assert.ok(performance.now() - t0 < 3000);
  });

  it('prepares the other real-world fixtures', () => {
    const m = prep(fixture('mdadm.eml'), { extractRecipients: true });
    assert.deepEqual(m.recipients, ['root@example.com']);
    assert.equal(parseMessage(m.message).headers.get('from'), 'mdadm monitoring <root@example.com>');
  });
});

describe('readMessage', () => {
  const read = (chunks: (string | Buffer)[], o: { dotEnds: boolean; maxSize?: number }) =>
    readMessage(Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))), { maxSize: 1 << 20, ...o });

  it('ends at a lone "." without -i, in any chunking, LF or CRLF', async () => {
    const msg = 'Subject: x\n\nline\n.\nafter\n';
    for (let cut = 0; cut <= msg.length; cut++) {
      const got = await read([msg.slice(0, cut), msg.slice(cut)], { dotEnds: true });
      assert.equal(got.toString(), 'Subject: x\n\nline\n', `cut at ${cut}`);
    }
    assert.equal((await read(['a\r\n.\r\nb'], { dotEnds: true })).toString(), 'a\r\n');
    assert.equal((await read(['a\n', '.'], { dotEnds: true })).toString(), 'a\n');
    assert.equal((await read(['.\n'], { dotEnds: true, maxSize: 10 }).catch((e: SysmailError) => e.code)), 'EEMPTY');
    // Lines that merely start with a dot, or a dot with trailing text, do not end the input.
    assert.equal((await read(['..\n. \n.x\n.\r\r\nend'], { dotEnds: true })).toString(), '..\n. \n.x\n.\r\r\nend');
  });

  it('reads to EOF with -i', async () => {
    assert.equal((await read(['a\n.\nb\n', '.\n'], { dotEnds: false })).toString(), 'a\n.\nb\n.\n');
  });

  it('refuses empty input', async () => {
    await assert.rejects(read([], { dotEnds: false }), (e: unknown) => e instanceof SysmailError && e.code === 'EEMPTY' && e.exit === EX.DATAERR
      && /no message on standard input/.test(e.message));
  });

  it('stops reading once the size limit is passed', async () => {
    let produced = 0;
    async function* endless() {
      for (;;) {
        produced += 65536;
        yield Buffer.alloc(65536, 0x61);
      }
    }
    await assert.rejects(readMessage(Readable.from(endless()), { dotEnds: false, maxSize: 1_000_000 }), (e: unknown) => {
      assert.ok(e instanceof SysmailError);
      assert.equal(e.code, 'ETOOBIG');
      assert.equal(e.exit, EX.DATAERR);
      assert.match(e.message, /1000000 bytes/);
      assert.match(e.hint ?? '', /general\.max_message_size/);
      return true;
    });
    assert.ok(produced < 1_000_000 + 65536 * 4, `read ${produced} bytes`);
    // Exactly at the limit is fine; a dot line after the limit does not count.
    assert.equal((await read(['x'.repeat(100)], { dotEnds: false, maxSize: 100 })).length, 100);
    assert.equal((await read(['x'.repeat(99) + '\n.\n' + 'y'.repeat(1000)], { dotEnds: true, maxSize: 100 })).length, 100);
  });

  it('reports a stream error as a temporary I/O error', async () => {
    const s = new PassThrough();
    const p = readMessage(s, { dotEnds: false, maxSize: 100 });
    s.write('partial');
    s.destroy(new Error('EIO: broken pipe'));
    await assert.rejects(p, (e: unknown) => e instanceof SysmailError && e.code === 'ELOCALIO' && e.exit === EX.TEMPFAIL);
  });

  it('reads a real pipe from a child process', async () => {
    const child = spawn(process.execPath, ['-e', `
      const out = process.stdout;
      out.write('Subject: piped\\n\\n');
      for (let i = 0; i < 2000; i++) out.write('line ' + i + '\\n');
      out.write('.\\nnot read\\n');
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    const got = await readMessage(child.stdout, { dotEnds: true, maxSize: 1 << 20 });
    child.stdout.destroy();
    await new Promise((r) => child.once('close', r));
    const text = got.toString();
    assert.ok(text.startsWith('Subject: piped\n\nline 0\n'));
    assert.ok(text.endsWith('line 1999\n'));
  });
});
