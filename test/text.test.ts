/** Text extraction for text-only transports: MIME structure, transfer encodings, charsets, HTML, subjects. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractText, htmlToText } from '../src/message/text.js';

const msg = (s: string) => Buffer.from(s.replace(/\n/g, '\r\n'));

test('plain message without MIME headers (mdadm style), LF line ends', () => {
  const r = extractText(Buffer.from('From: root\nSubject: Fail event on /dev/md0:web1\n\nA Fail event had been detected.\n\nmd0 : active raid1\n'));
  assert.equal(r.subject, 'Fail event on /dev/md0:web1');
  assert.equal(r.text, 'A Fail event had been detected.\n\nmd0 : active raid1');
});

test('multipart/alternative: the text/plain part, CRLF removed', () => {
  const r = extractText(msg([
    'Subject: alt', 'MIME-Version: 1.0', 'Content-Type: multipart/alternative; boundary="b1"', '',
    'preamble', '--b1', 'Content-Type: text/html', '', '<p>HTML version</p>',
    '--b1', 'Content-Type: text/plain; charset=utf-8', '', 'Plain version', 'line 2', '--b1--', 'epilogue',
  ].join('\n')));
  assert.equal(r.text, 'Plain version\nline 2');
});

test('nested multipart/mixed > alternative, attachment text/plain skipped', () => {
  const r = extractText(msg([
    'Subject: nested', 'Content-Type: multipart/mixed; boundary=outer', '',
    '--outer', 'Content-Type: text/plain; name=log.txt', 'Content-Disposition: attachment; filename=log.txt', '', 'ATTACHED',
    '--outer', 'Content-Type: multipart/alternative; boundary="inner"', '',
    '--inner', 'Content-Type: text/plain; charset="us-ascii"', '', 'the body', '--inner--',
    '--outer--',
  ].join('\n')));
  assert.equal(r.text, 'the body');
  // An inner boundary that extends the outer one ("b" vs "b1") is not taken for it.
  const prefixed = extractText(Buffer.from([
    'Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: multipart/alternative; boundary=b1', '',
    '--b1', 'Content-Type: text/plain', '', 'inner text', '--b1--', '--b--', '',
  ].join('\n')));
  assert.equal(prefixed.text, 'inner text');
});

test('depth-100 nesting neither crashes nor hangs; the bounded depth gives up cleanly', () => {
  let body = 'Content-Type: text/plain\n\ndeep text\n';
  for (let i = 0; i < 100; i++) body = `Content-Type: multipart/mixed; boundary="b${i}"\n\n--b${i}\n${body}--b${i}--\n`;
  const t0 = Date.now();
  const r = extractText(Buffer.from('Subject: deep\n' + body));
  assert.ok(Date.now() - t0 < 2000);
  assert.equal(r.subject, 'deep');
  assert.match(r.text, /no text content/);
  // Shallow enough: found.
  let ok = 'Content-Type: text/plain\n\nfound me\n';
  for (let i = 0; i < 10; i++) ok = `Content-Type: multipart/mixed; boundary="b${i}"\n\n--b${i}\n${ok}--b${i}--\n`;
  assert.equal(extractText(Buffer.from('Subject: s\n' + ok)).text, 'found me');
});

test('many parts and a missing closing boundary stay bounded and keep the text', () => {
  const parts = Array.from({ length: 5000 }, (_, i) => `--x\nContent-Type: image/png\n\n${i}\n`).join('');
  const r = extractText(Buffer.from(`Content-Type: multipart/mixed; boundary=x\n\n${parts}--x\nContent-Type: text/plain\n\nlate`));
  assert.match(r.text, /no text content/, 'the part budget stops the walk');
  const unclosed = extractText(Buffer.from('Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nno end marker\n'));
  assert.equal(unclosed.text, 'no end marker');
});

test('quoted-printable, soft line breaks, UTF-8 (unattended-upgrades style)', () => {
  const r = extractText(Buffer.from([
    'Subject: unattended-upgrades result for web1: SUCCESS', 'Content-Type: text/plain; charset="utf-8"',
    'Content-Transfer-Encoding: quoted-printable', '',
    'Packages upgraded: libssl3 gr=C3=BC=C3=9Fe =E2=82=AC', 'a very long line that was wrapped =', 'here', '',
  ].join('\n')));
  assert.equal(r.text, 'Packages upgraded: libssl3 grüße €\na very long line that was wrapped here');
});

test('base64 body, and ISO-8859-1 charset', () => {
  const latin1 = Buffer.from('Grüße aus Köln\n', 'latin1').toString('base64');
  const r = extractText(Buffer.from(`Subject: b64\nContent-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: base64\n\n${latin1.slice(0, 8)}\n${latin1.slice(8)}\n`));
  assert.equal(r.text, 'Grüße aus Köln');
  const u = extractText(Buffer.from(`Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: BASE64\n\n${Buffer.from('日本語テキスト').toString('base64')}\n`));
  assert.equal(u.text, '日本語テキスト');
});

test('unknown charset decodes as UTF-8 with replacement characters', () => {
  const r = extractText(Buffer.concat([Buffer.from('Content-Type: text/plain; charset=x-klingon\n\nok ü '), Buffer.from([0xff, 0xfe])]));
  assert.equal(r.text, 'ok ü \ufffd\ufffd');
});

test('HTML-only mail (logwatch --format html) becomes readable text', () => {
  const html = [
    '<html><head><title>Logwatch</title><style>p { color: red }</style></head><body>',
    '<script>alert("x")</script><!-- comment -->',
    '<h1>Logwatch&nbsp;for web1</h1><p>Disk &amp; space: 10&lt;20 &#8364; &#x263A;</p>',
    '<ul><li>sshd: 3 failures</li><li>See <a href="https://example.com/report?a=1&amp;b=2">the report</a></li></ul>',
    '<p>Raw <a href="https://example.com/">https://example.com/</a> link<br>next line</p>',
    '<table><tr><td>cpu</td><td>99%</td></tr></table><pre>  keep   spacing\n  here</pre>',
    '</body></html>',
  ].join('');
  const r = extractText(Buffer.from(`Subject: Logwatch for web1 (Linux)\nContent-Type: text/html; charset="UTF-8"\n\n${html}\n`));
  assert.doesNotMatch(r.text, /alert|color: red|comment|<\/?[a-z]|Logwatch\n.*Logwatch/s);
  assert.match(r.text, /^Logwatch for web1$/m);
  assert.match(r.text, /^Disk & space: 10<20 € ☺$/m);
  assert.match(r.text, /^- sshd: 3 failures$/m);
  assert.match(r.text, /^- See the report \(https:\/\/example\.com\/report\?a=1&b=2\)$/m);
  assert.match(r.text, /^Raw https:\/\/example\.com\/ link$/m, 'a link whose text is its URL is not repeated');
  assert.match(r.text, /^next line$/m);
  assert.match(r.text, /^cpu\t99%/m);
  assert.match(r.text, /^ {2}keep {3}spacing\n {2}here$/m);
});

test('large HTML with many links stays linear (a 2 MB table in well under 5 s)', () => {
  const row = '<tr><td>x &amp; y</td><td><a href="http://e/">link</a></td></tr>\n';
  const t0 = Date.now();
  const r = extractText(Buffer.from(`Content-Type: text/html\n\n<table>${row.repeat(32_000)}</table>`));
  assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
  assert.equal(r.text.split('\n').length, 32_000);
  assert.match(r.text, /^x & y\tlink \(http:\/\/e\/\)$/m);
});

test('text/plain preferred over an earlier text/html alternative; html used when alone', () => {
  assert.equal(htmlToText('a<b>b</b>c'), 'abc');
  const r = extractText(Buffer.from('Content-Type: multipart/alternative; boundary=z\n\n--z\nContent-Type: text/html\n\n<p>only <i>html</i></p>\n--z--\n'));
  assert.equal(r.text, 'only html');
});

test('RFC 2047 subjects: B and Q, adjacent words joined, split multi-byte character, folded header', () => {
  const s = (subject: string) => extractText(Buffer.from(`Subject: ${subject}\n\nx\n`)).subject;
  assert.equal(s(`=?UTF-8?B?${Buffer.from('Äpfel & Öl').toString('base64')}?=`), 'Äpfel & Öl');
  assert.equal(s('=?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?='), 'Grüße aus Köln');
  assert.equal(s('=?utf-8?q?a?= =?utf-8?q?b?=  c'), 'ab c');
  // "€" (E2 82 AC) split across two encoded words must survive.
  assert.equal(s('=?UTF-8?B?4oI=?=\n =?UTF-8?B?rA==?= rent'), '€ rent');
  assert.equal(s('[reboot required] =?UTF-8?Q?unattended-upgrades_result_for_web1=3A_SUCCESS?='),
    '[reboot required] unattended-upgrades result for web1: SUCCESS');
  assert.equal(s('plain\n continued'), 'plain continued');
  assert.equal(s('=?x-unknown?Q?caf=C3=A9?='), 'café');
  assert.equal(extractText(Buffer.from('From: a\n\nbody')).subject, '');
});

test('raw 8-bit UTF-8 subject (RFC 6532) and Latin-1 fallback', () => {
  assert.equal(extractText(Buffer.from('Subject: Grüße\n\nx')).subject, 'Grüße');
  assert.equal(extractText(Buffer.concat([Buffer.from('Subject: Gr'), Buffer.from([0xfc]), Buffer.from('n\n\nx')])).subject, 'Grün');
});
