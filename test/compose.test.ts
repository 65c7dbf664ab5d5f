import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanSubject, composeMessage, encodeQuotedPrintable, type ComposeOptions } from '../src/message/compose.js';
import { parseMessage } from '../src/message/headers.js';
import { decodeWords } from '../src/message/encoded-words.js';
import { prepareMessage } from '../src/message/prepare.js';

const NOW = new Date(Date.UTC(2024, 5, 1, 12, 0, 0));

function compose(o: Partial<ComposeOptions> = {}): Buffer {
  return composeMessage({
    from: 'root@example.com', to: ['admin@example.com'], subject: 'Test', body: Buffer.from('hello\n'),
    hostname: 'web1', now: NOW, tagHost: true, messageIdSeed: 'seed', ...o,
  });
}

/** Reference QP decoder (RFC 2045 §6.7) to check that every byte survives. */
function decodeQP(b: Buffer): Buffer {
  const s = b.toString('latin1').replace(/=\n/g, '');
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '=') {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(s.charCodeAt(i));
  }
  return Buffer.from(out);
}

describe('composeMessage', () => {
  it('builds a complete message', () => {
    const m = compose();
    const p = parseMessage(m);
    assert.deepEqual(p.headers.fields.map((f) => f.name), [
      'Date', 'From', 'To', 'Subject', 'Message-ID', 'MIME-Version', 'Content-Type', 'Content-Transfer-Encoding', 'X-Sysmail-Host',
    ]);
    assert.equal(p.headers.get('from'), '"root (web1)" <root@example.com>');
    assert.equal(p.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(p.headers.get('content-transfer-encoding'), '7bit');
    assert.equal(p.body.toString(), 'hello\n');
    assert.deepEqual(compose(), m, 'deterministic for a given seed and time');
    const plain = parseMessage(compose({ tagHost: false, fromName: 'Backup Job', cc: ['c@x.org', 'd@x.org'], to: ['a@x.org', 'b@x.org'] })).headers;
    assert.equal(plain.get('from'), 'Backup Job <root@example.com>');
    assert.equal(plain.get('to'), 'a@x.org, b@x.org');
    assert.equal(plain.get('cc'), 'c@x.org, d@x.org');
    assert.equal(plain.has('x-sysmail-host'), false);
  });

  it('turns a hostile subject into exactly one Subject field', () => {
    const subject = 'Disk "full" $(touch /tmp/x) `id`\r\nBcc: victim@example.org\n\nbody injection\0\x1b[31m';
    const m = compose({ subject });
    const p = parseMessage(m);
    assert.deepEqual(p.headers.fields.map((f) => f.name).filter((n) => n === 'Subject' || n === 'Bcc'), ['Subject']);
    assert.equal(p.headers.getAll('subject').length, 1);
    assert.equal(decodeWords(p.headers.get('subject')!), 'Disk "full" $(touch /tmp/x) `id` Bcc: victim@example.org body injection [31m');
    assert.equal(p.body.toString(), 'hello\n');
    assert.equal(cleanSubject(' a\u2028b\u0085c  '), 'a b c');
    // The message survives a second pass through prepareMessage unchanged in its fields.
    const again = prepareMessage({
      raw: m, sender: 'root@example.com', recipients: ['admin@example.com'], extractRecipients: false, user: 'root',
      hostname: 'web1', domain: 'example.com', now: NOW, tagHost: true,
    });
    assert.deepEqual(again.message, m);
  });

  it('encodes a non-ASCII subject and folds a long one', () => {
    const s = 'Sauvegarde terminée sur le serveur numéro ' + 'très '.repeat(30) + '✓';
    const p = parseMessage(compose({ subject: s }));
    const raw = p.headers.fields.find((f) => f.lname === 'subject')!.raw.toString();
    for (const line of raw.split('\n')) assert.ok(line.length <= 998);
    assert.ok(raw.split('\n').length > 2, 'folded');
    assert.equal(decodeWords(p.headers.get('subject')!), s);
    assert.equal(parseMessage(compose({ subject: '' })).headers.has('subject'), false);
  });

  it('chooses the transfer encoding from the body and keeps every byte', () => {
    const cases: [string, Buffer, string, string][] = [
      ['ascii', Buffer.from('all ascii\n'), 'utf-8', '7bit'],
      ['utf-8', Buffer.from('grüße ✓\n'), 'utf-8', '8bit'],
      ['invalid utf-8', Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]), 'unknown-8bit', 'quoted-printable'],
      ['NUL', Buffer.from('a\0b\n'), 'utf-8', 'quoted-printable'],
      ['bare CR', Buffer.from('progress\r50%\r100%\n'), 'utf-8', 'quoted-printable'],
      ['long line', Buffer.from('x'.repeat(5000) + '\n'), 'utf-8', 'quoted-printable'],
      ['trailing space', Buffer.from('a \nb\t\n'), 'utf-8', '7bit'],
      ['empty', Buffer.alloc(0), 'utf-8', '7bit'],
    ];
    for (const [what, body, charset, cte] of cases) {
      const p = parseMessage(compose({ body }));
      assert.equal(p.headers.get('content-type'), `text/plain; charset=${charset}`, what);
      assert.equal(p.headers.get('content-transfer-encoding'), cte, what);
      const back = cte === 'quoted-printable' ? decodeQP(p.body) : p.body;
      assert.deepEqual(back, body, what);
      for (const line of p.body.toString('latin1').split('\n')) assert.ok(line.length <= (cte === 'quoted-printable' ? 76 : 998), what);
      if (cte === 'quoted-printable') assert.doesNotMatch(p.body.toString('latin1'), /[^\x20-\x7e\n]/, what);
    }
    assert.deepEqual(parseMessage(compose({ body: Buffer.from('a\r\nb\r\n') })).body, Buffer.from('a\nb\n'));
  });

  it('quoted-printable protects trailing white space and "="', () => {
    assert.equal(encodeQuotedPrintable(Buffer.from('a = b \nc\t\n')).toString(), 'a =3D b=20\nc=09\n');
    assert.deepEqual(decodeQP(encodeQuotedPrintable(Buffer.from(' '.repeat(200)))), Buffer.from(' '.repeat(200)));
  });

  it('refuses an address with a control character', () => {
    assert.throws(() => compose({ to: ['a@b\nBcc: c@d'] }), /control character/);
  });
});
