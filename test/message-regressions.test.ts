/**
 * Issue 14, what the differential test against Python's `email` package found, each as a test
 * that failed before the fix: malformed address lists are refused (not guessed at) by -t, argv and
 * the header qualifier; ISO-2022-JP subjects longer than one encoded-word decode exactly;
 * windows-1252 bodies; base64 with inner padding; RFC 2231 parameters and comments in MIME
 * headers; message/rfc822 and multipart/digest; Resent- blocks and a "From " line inside the header.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { makeHost, runCli } from './helpers/cli.js';
import { EX, SysmailError } from '../src/core/errors.js';
import { addressListProblem, parseAddressListStrict, parseArgvAddresses } from '../src/message/address.js';
import { decodeWords } from '../src/message/encoded-words.js';
import { parseMessage } from '../src/message/headers.js';
import { prepareMessage, type PrepareOptions } from '../src/message/prepare.js';
import { extractText } from '../src/message/text.js';

const NOW = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
function prep(raw: string | Buffer, o: Partial<PrepareOptions> = {}) {
  return prepareMessage({
    raw: typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw,
    sender: null, fullName: null, recipients: [], extractRecipients: false, user: 'root',
    hostname: 'web1.example.com', domain: 'example.com', now: NOW, tagHost: false, messageIdSeed: 'seed', ...o,
  });
}

/** The malformed lists of the issue, each with what the refusal must point at. */
const MALFORMED: Array<[string, RegExp]> = [
  ['Name <a@b.example> <c@d.example>', /text after "<a@b\.example>": "<c@d\.example>"/],
  ['<a@b.example> "x, c@d.example', /unterminated quoted string: "\\"x, c@d\.example"/],
  ['<a@b.example> (x, c@d.example', /unterminated comment/],
  ['To@exam:ple.com', /"To@exam:" is not a group name/],
  ['john.doe@exam;ple.com', /';' outside a group/],
  ['user@exa>mple.com', /stray '>'/],
  ['a@b.example <c', /"a@b\.example" before <\.\.\.> is not a display name/],
  ['a@b.example, <c@d.example', /unterminated <: "<c@d\.example"/],
  ['John Smith', /is not one address/],
  ['a@b@c.example', /more than one '@'/],
];

/** Forms real mailers and Postfix use, which stay accepted. */
const LENIENT = [
  'root', 'root (Cron Daemon)', '"(Cron Daemon)" <root>', '<@r1.example,@r2.example:u@d.example>', 'a@b.example.',
  '=?UTF-8?Q?J=C3=B6rg?= <joerg@x.de>', '=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?= <t@x.jp>', 'John Q. Public <j@x.org>',
  'a @ b . c', 'a@b, , c@d,', 'undisclosed-recipients:;', 'undisclosed-recipients:', 'friends: a@x.org, "B" <b@y.org>;, c@z.org',
  '"Doe, John" <john@x.org>', 'user@[192.0.2.1]', 'Müller <mueller@bücher.de>', '"a@b"@c.example', '<>',
];

describe('malformed address lists are refused, never guessed at', () => {
  for (const [value, why] of MALFORMED) {
    it(`refuses ${JSON.stringify(value)}`, () => {
      assert.match(addressListProblem(value) ?? 'accepted', why);
      // sendmail -t: EX_DATAERR, 501 for the listener, naming the header.
      assert.throws(() => prep(`To: ${value}\nSubject: s\n\nbody\n`, { extractRecipients: true }), (e: unknown) => {
        assert.ok(e instanceof SysmailError, String(e));
        assert.equal(e.code, 'EADDRESS');
        assert.equal(e.exit, EX.DATAERR);
        assert.equal(e.smtpCode, 501);
        assert.match(e.message, /malformed address list in the To header/);
        assert.match(e.message, why);
        return true;
      });
      // The command line (sendmail's recipients, sysmail send): EX_USAGE, as every argv error.
      assert.throws(() => parseArgvAddresses(value, { domain: 'example.com' }),
        (e: unknown) => e instanceof SysmailError && e.code === 'EADDRESS' && e.exit === EX.USAGE);
    });
  }

  it('the listener mode (strictHeaders) refuses a malformed Cc even when the envelope decides delivery', () => {
    assert.throws(() => prep('To: ok@example.org\nCc: Name <a@b.example> <c@d.example>\n\nbody\n', { recipients: ['ok@example.org'], strictHeaders: true }),
      (e: unknown) => e instanceof SysmailError && e.smtpCode === 501 && /Cc header/.test(e.message));
  });

  it('plain sendmail (no -t) leaves a malformed header exactly as written instead of rewriting a guess', () => {
    const p = prep('To: john.doe@exam;ple.com\nSubject: s\n\nbody\n', { recipients: ['ok@example.org'] });
    assert.deepEqual(p.recipients, ['ok@example.org']);
    assert.equal(parseMessage(p.message).headers.get('to'), 'john.doe@exam;ple.com');
  });

  for (const value of LENIENT) {
    it(`keeps accepting ${JSON.stringify(value)}`, () => {
      assert.equal(addressListProblem(value), null);
      assert.doesNotThrow(() => parseAddressListStrict(value, 'To'));
    });
  }

  it('-t qualifies bare names and keeps the leniency Postfix has', () => {
    const p = prep('To: root (Cron Daemon), <@r.example:u@d.example>\nCc: a@b.example.\nSubject: s\n\nb\n', { extractRecipients: true });
    assert.deepEqual(p.recipients, ['root@example.com', 'u@d.example', 'a@b.example']);
    assert.equal(parseMessage(p.message).headers.get('to'), 'root@example.com (Cron Daemon), <@r.example:u@d.example>');
  });
});

describe('Resent- blocks and a "From " line inside the header', () => {
  it('a Resent-Bcc after other fields is a recipient too (Postfix takes every Resent- recipient field)', () => {
    const p = prep('Resent-From: admin@example.org\nResent-To: a@example.org\nSubject: fwd\nResent-Bcc: b@example.org\n\nbody\n', { extractRecipients: true });
    assert.deepEqual(p.recipients, ['a@example.org', 'b@example.org']);
    assert.equal(parseMessage(p.message).headers.has('resent-bcc'), false);
  });

  it('two Resent-To fields in a row both count', () => {
    const p = prep('Resent-To: a@example.org\nResent-To: b@example.org\nTo: old@example.org\n\nbody\n', { extractRecipients: true });
    assert.deepEqual(p.recipients, ['a@example.org', 'b@example.org']);
  });

  it('a "From " line after header fields is refused, naming the line, rather than turning the rest into body', () => {
    assert.throws(() => prep('Subject: s\nFrom root@host Mon Jan  1 00:00:00 2024\nTo: lost@example.org\n\nbody\n', { extractRecipients: true }),
      (e: unknown) => e instanceof SysmailError && e.code === 'EHEADER' && e.exit === EX.DATAERR && /line 2 of the message header is an mbox "From " line/.test(e.message));
    // A leading one is still dropped, as Postfix does.
    assert.deepEqual(prep('From root@host Mon Jan  1 00:00:00 2024\nTo: a@example.org\n\nb\n', { extractRecipients: true }).recipients, ['a@example.org']);
  });
});

// Python's email.header.Header('…', 'iso-2022-jp').encode(), as mailx and Japanese mailers write it.
const JA = 'サーバー web1 のディスク使用率が閾値を超えました (95%)。至急確認してください。';
const JA_ISO2022 = '=?iso-2022-jp?b?GyRCJTUhPCVQITwbKEIgd2ViMSAbJEIkTiVHJSMlOSUvO0hNUU4oJCwbKEI=?=\n'
  + ' =?iso-2022-jp?b?GyRCb2dDTSRyRDYkKCReJDckPxsoQiAoOTUlKRskQiEjO2o1XjNOGyhC?=\n'
  + ' =?iso-2022-jp?b?GyRCRyckNyRGJC8kQCQ1JCQhIxsoQg==?=';

describe('Japanese and other charsets decode exactly', () => {
  it('an ISO-2022-JP subject of several encoded-words: no U+FFFD at the word boundaries, in both decoders', () => {
    assert.equal(decodeWords(JA_ISO2022.replace(/\n/g, '')), JA);
    const r = extractText(Buffer.from(`Subject: ${JA_ISO2022}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=ISO-2022-JP\n\n`
      + '\x1b$B%G%#%9%/\x1b(B\x1b$B;HMQN(\x1b(B 95%\n', 'latin1'));
    assert.equal(r.subject, JA);
    assert.equal(r.text, 'ディスク使用率 95%', 'back-to-back escape sequences in a body are not errors either');
  });

  it('ISO-2022-JP-2 words and Shift_JIS (cp932) words decode', () => {
    assert.equal(decodeWords('=?ISO-2022-JP-2?B?GyRCJUYlOSVIGyhC?='), 'テスト');
    assert.equal(decodeWords('=?cp932?B?g2WDWINn?='), 'テスト');
  });

  it('windows-1252 bodies get “ ” and €, not C1 controls', () => {
    const r = extractText(Buffer.from('Content-Type: text/plain; charset=windows-1252\n\n\x93hi\x94 \x80\n', 'latin1'));
    assert.equal(r.text, '“hi” €');
  });

  it('base64 with padding inside is decoded group by group', () => {
    const r = extractText(Buffer.from('Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\naGVsbG8=\nd29ybGQ=\n'));
    assert.equal(r.text, 'helloworld');
  });

  it('RFC 2231 parameters and comments in Content-Type and Content-Transfer-Encoding', () => {
    const r = extractText(Buffer.from("Content-Type: text/plain (plain); charset*=us-ascii'en'iso-8859-1 (Latin 1)\n"
      + 'Content-Transfer-Encoding: quoted-printable (QP)\n\ncaf=E9\n'));
    assert.equal(r.text, 'café');
    const cont = extractText(Buffer.from("Content-Type: multipart/mixed; boundary*0=\"ab\"; boundary*1*=%63d\n\n--abcd\nContent-Type: text/plain\n\nin parts\n--abcd--\n"));
    assert.equal(cont.text, 'in parts');
    const att = extractText(Buffer.from('Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\nContent-Disposition: attachment (a file); filename=a.txt\n\nATTACHED\n'
      + '--x\nContent-Type: text/plain\n\nthe body\n--x--\n'));
    assert.equal(att.text, 'the body');
  });

  it('message/rfc822 parts and multipart/digest entries are searched for text', () => {
    const fwd = extractText(Buffer.from('Subject: Fwd\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: image/png\n\nPNG\n'
      + '--x\nContent-Type: message/rfc822\n\nSubject: inner\nContent-Type: text/plain\n\nthe forwarded text\n--x--\n'));
    assert.equal(fwd.text, 'the forwarded text');
    const digest = extractText(Buffer.from('Subject: Digest\nContent-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nfirst entry\n--d--\n'));
    assert.equal(digest.text, 'first entry');
  });
});

describe('the built sendmail -t, as cron and scripts run it', () => {
  const host = makeHost('[general]\nhostname = "web1"\ndomain = "example.com"\naliases = false\n[transports.out]\ntype = "stdout"\n');
  after(() => rmSync(host.dir, { recursive: true, force: true }));

  it('exits 65 naming the header and the text for each malformed list, and queues nothing', async () => {
    for (const [value] of MALFORMED.slice(0, 6)) {
      const r = await runCli(['sendmail', '-t', '-i', '-odq'], { input: `To: ${value}\nSubject: s\n\nbody\n`, env: host.env });
      assert.equal(r.code, 65, `${value}: ${r.stderr}`);
      assert.match(r.stderr, /^sysmail: malformed address list in the To header: /, value);
    }
    const r = await runCli(['sendmail', '-t', '-i', '-odq'], { input: 'Subject: s\nFrom root Mon Jan  1 00:00:00 2024\nTo: a@example.org\n\nb\n', env: host.env });
    assert.equal(r.code, 65, r.stderr);
    assert.match(r.stderr, /line 2 of the message header is an mbox "From " line/);
    assert.equal(host.events().filter((e) => e.event === 'accepted').length, 0, 'nothing was queued');
  });
});
