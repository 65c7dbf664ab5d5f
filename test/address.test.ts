import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { EX, SysmailError } from '../src/core/errors.js';
import {
  extractAddresses, formatAddressHeader, parseAddressList, parseArgvAddresses, parseEnvelopeAddress, printable, splitAddress,
  asciiForms, asciiLoops, IS_ASCII,
} from '../src/message/address.js';
import { decodeWords } from '../src/message/encoded-words.js';

const D = { domain: 'example.com' };

function rejects(input: string, opts: Parameters<typeof parseEnvelopeAddress>[1], exit: number, re?: RegExp): SysmailError {
  let caught: unknown;
  try {
    parseEnvelopeAddress(input, opts);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SysmailError, `expected ${JSON.stringify(input)} to be rejected`);
  assert.equal(caught.code, 'EADDRESS');
  assert.equal(caught.exit, exit);
  if (re) assert.match(caught.message, re);
  // The message is one printable line, whatever the input held.
  assert.doesNotMatch(caught.message, /[\x00-\x1f]/);
  return caught;
}

describe('parseEnvelopeAddress', () => {
  it('accepts the usual forms and lower-cases only the domain', () => {
    const cases: [string, string][] = [
      ['root', 'root@example.com'],
      ['Root', 'Root@example.com'],
      ['user@Mail.EXAMPLE.org', 'user@mail.example.org'],
      ['<User@X.Org>', 'User@x.org'],
      ['  <a@b.c>  ', 'a@b.c'],
      ['"quoted local"@x.org', '"quoted local"@x.org'],
      ['"a@b"@c', '"a@b"@c'],
      ['"john smith"', '"john smith"@example.com'],
      ['first.last+tag@example.net', 'first.last+tag@example.net'],
      ["o'brien@example.ie", "o'brien@example.ie"],
      ['user@Bücher.de', 'user@bücher.de'],
      ['user@xn--bcher-kva.de', 'user@xn--bcher-kva.de'],
      ['用户@例子.广告', '用户@例子.广告'],
      ['<@relay.example:user@x.org>', 'user@x.org'],
      ['user@[192.0.2.1]', 'user@[192.0.2.1]'],
      ['user@[IPv6:2001:db8::1]', 'user@[ipv6:2001:db8::1]'],
      ['root@localhost', 'root@localhost'],
      ['user@example.com.', 'user@example.com'],
      ['a|b@example.com', 'a|b@example.com'],
      ['some_host@in_ternal.lan', 'some_host@in_ternal.lan'],
    ];
    for (const [input, want] of cases) assert.equal(parseEnvelopeAddress(input, D), want, input);
  });

  it('maps <>, "" and the empty string to the null sender only when allowed', () => {
    for (const s of ['<>', '""', '', ' <> ']) {
      assert.equal(parseEnvelopeAddress(s, { ...D, allowNull: true }), '');
      rejects(s, D, EX.DATAERR, /empty/);
    }
  });

  it('refuses CR, LF and NUL, escaping them in the message', () => {
    const e = rejects('root@example.com\r\nRCPT TO:<evil@x>', { ...D, source: 'smtp' }, EX.DATAERR, /carriage return/);
    assert.match(e.message, /\\r\\n/);
    assert.equal(e.smtpCode, 501);
    rejects('root\n@example.com', D, EX.DATAERR, /line feed/);
    rejects('root\0@example.com', D, EX.DATAERR, /NUL/);
    rejects('root\t@example.com', D, EX.DATAERR, /control/);
    rejects('ro\x7fot', D, EX.DATAERR, /control/);
  });

  it('exits with EX_USAGE when the address came from argv, EX_DATAERR otherwise', () => {
    rejects('a b@c', { ...D, source: 'argv' }, EX.USAGE);
    rejects('a b@c', { ...D, source: 'header' }, EX.DATAERR);
    rejects('a b@c', { ...D, source: 'smtp' }, EX.DATAERR);
    const s = rejects('a b@c', { ...D, source: 'smtp', role: 'sender' }, EX.DATAERR);
    assert.equal(s.dsn, '5.1.7');
  });

  it('refuses options, pipes and paths', () => {
    rejects('-oQ/tmp', { ...D, source: 'argv' }, EX.USAGE, /starts with '-'/);
    rejects('-oi', D, EX.DATAERR, /'-'/);
    rejects('<-f@example.com>', D, EX.DATAERR, /'-'/);
    rejects('|/bin/sh -c id', D, EX.DATAERR, /command/);
    rejects('|cmd@example.com', D, EX.DATAERR, /command/);
    rejects('/etc/passwd', D, EX.DATAERR, /path/);
    rejects('"|cmd"@example.com', D, EX.DATAERR, /starts with '\|'/);
    rejects('"-x"@example.com', D, EX.DATAERR, /starts with '-'/);
    rejects('"/tmp/x"@example.com', D, EX.DATAERR, /starts with '\/'/);
  });

  it('refuses malformed syntax with a reason', () => {
    const bad: [string, RegExp][] = [
      ['a b@example.com', /space/],
      ['user@exa mple.com', /space/],
      ['a<b@example.com', /angle/],
      ['<a@example.com', /angle/],
      ['a@example.com>', /angle/],
      ['"abc@example.com', /unbalanced quotes/],
      ['ab"c@example.com', /unbalanced quotes/],
      ['"a"b@example.com', /after the quoted/],
      ['a@b@example.com', /more than one '@'/],
      ['a@', /domain is empty/],
      ['@example.com', /local part/],
      ['""@example.com', /empty/],
      ['a@example..com', /empty label/],
      ['a@.example.com', /empty label/],
      ['a@-example.com', /label/],
      ['a@exa$mple.com', /label/],
      ['a,b@example.com', /quoting/],
      ['a@[300.1]', /literal/],
      ['user@bad\u202edomain.com', /invisible/],
      ['us\u200ber@example.com', /invisible/],
      ['user@exa\u00a0mple.com', /white space/],
      ['user@' + 'a'.repeat(64) + '.com', /63/],
    ];
    for (const [input, re] of bad) rejects(input, D, EX.DATAERR, re);
  });

  it('enforces 254 octets after qualification, counting UTF-8 bytes', () => {
    const dom = '@' + ['a'.repeat(60), 'b'.repeat(60), 'c'.repeat(60)].join('.') + '.com'; // 186 octets
    const ok = 'x'.repeat(254 - dom.length) + dom;
    assert.equal(Buffer.byteLength(ok), 254);
    assert.equal(parseEnvelopeAddress(ok, D), ok);
    rejects('x' + ok, D, EX.DATAERR, /255 octets/);
    // 'é' is two octets: the limit is in octets, not characters.
    rejects('é'.repeat(128) + '@x.org', D, EX.DATAERR, /octets/);
    // A bare name that only becomes too long once qualified.
    rejects('u'.repeat(250), { domain: 'example.com' }, EX.DATAERR, /octets/);
    // Huge input: rejected quickly, and the message is cut.
    const e = rejects('a'.repeat(1_000_000) + '@x.org', D, EX.DATAERR);
    assert.ok(e.message.length < 400);
  });

  it('needs a domain to qualify a bare name with', () => {
    rejects('root', { domain: '' }, EX.DATAERR, /no domain/);
  });
});

describe('splitAddress', () => {
  it('splits at the last @ outside quotes', () => {
    assert.deepEqual(splitAddress('a@b.c'), { local: 'a', domain: 'b.c' });
    assert.deepEqual(splitAddress('"a@b"@c'), { local: '"a@b"', domain: 'c' });
    assert.deepEqual(splitAddress('"x\\"@y"@z'), { local: '"x\\"@y"', domain: 'z' });
    assert.deepEqual(splitAddress('root'), { local: 'root', domain: '' });
    assert.deepEqual(splitAddress(''), { local: '', domain: '' });
  });
});

describe('extractAddresses', () => {
  const cases: [string, string[]][] = [
    ['a@b.c', ['a@b.c']],
    ['"Doe, John" <john@x.org>, jane@y.org', ['john@x.org', 'jane@y.org']],
    ['john@x.org (John, Doe), jane@y.org (Jane (the) Doe)', ['john@x.org', 'jane@y.org']],
    ['undisclosed-recipients:;', []],
    ['friends: a@x.org, "B" <b@y.org>;, c@z.org', ['a@x.org', 'b@y.org', 'c@z.org']],
    ['<a@b>', ['a@b']],
    ['root', ['root']],
    ['root (Cron Daemon)', ['root']],
    ['"(Cron Daemon)" <root>', ['root']],
    ['=?UTF-8?Q?J=C3=B6rg?= <joerg@x.de>', ['joerg@x.de']],
    ['a@b,,c@d, ,', ['a@b', 'c@d']],
    ['"quoted local"@x.org, "a@b"@c', ['"quoted local"@x.org', '"a@b"@c']],
    ['<@r1,@r2:u@d>', ['u@d']],
    ['Name <a@b> (trailing comment), other@c', ['a@b', 'other@c']],
    ['a @ b . c', ['a@b.c']],
    ['user@[192.0.2.1]', ['user@[192.0.2.1]']],
    ['foo bar', ['foo bar']], // kept with its space, so the parser refuses it by name
    ['"unterminated', ['"unterminated']],
    ['(unterminated comment', []],
    ['<unterminated@angle', ['unterminated@angle']],
    ['', []],
    ['Müller <mueller@bücher.de>', ['mueller@bücher.de']],
  ];
  for (const [value, want] of cases) {
    it(`reads ${JSON.stringify(value)}`, () => assert.deepEqual(extractAddresses(value), want));
  }

  it('is linear: 100,000 addresses and a 1 MB nested comment', () => {
    const many = Array.from({ length: 100_000 }, (_, i) => `"User ${i}" <u${i}@example.com>`).join(', ');
    const t0 = performance.now();
    const got = extractAddresses(many);
    assert.equal(got.length, 100_000);
    assert.equal(got[99_999], 'u99999@example.com');
    assert.deepEqual(extractAddresses('a@b (' + '('.repeat(500_000) + ')'.repeat(500_000) + ')'), ['a@b']);
    assert.ok(performance.now() - t0 < 5000); // quadratic work would take minutes
  });

  it('gives the end of each address, for qualifying bare names in place', () => {
    const v = 'root (Cron Daemon), "X" <admin>, a@b';
    const items = parseAddressList(v);
    assert.deepEqual(items.map((a) => [a.address, a.name, v.slice(0, a.end).slice(-5)]), [
      ['root', null, 'root'], ['admin', '"X"', 'admin'], ['a@b', null, ', a@b'],
    ]);
  });
});

describe('parseArgvAddresses', () => {
  it('reads each argument as an address list, as Postfix does', () => {
    assert.deepEqual(parseArgvAddresses('a@x.org, b', D), ['a@x.org', 'b@example.com']);
    assert.deepEqual(parseArgvAddresses('Jane Doe <jane@x.org>', D), ['jane@x.org']);
    assert.deepEqual(parseArgvAddresses('<>', { ...D, allowNull: true }), ['']);
  });
  it('refuses hostile arguments with EX_USAGE', () => {
    for (const bad of ['-oQ/tmp', ' -t', 'a@x.org\nBcc: evil@y', 'a@x\0', '', '<>', '|cmd', '/tmp/x', 'foo bar']) {
      assert.throws(() => parseArgvAddresses(bad, D), (e: unknown) => e instanceof SysmailError && e.exit === EX.USAGE && e.code === 'EADDRESS', bad);
    }
  });
});

describe('formatAddressHeader', () => {
  it('quotes specials and encodes non-ASCII names', () => {
    assert.equal(formatAddressHeader('Cron Daemon (web1)', 'root@example.com'), '"Cron Daemon (web1)" <root@example.com>');
    assert.equal(formatAddressHeader('John Smith', 'j@x.org'), 'John Smith <j@x.org>');
    assert.equal(formatAddressHeader('Say "hi" \\ there', 'j@x.org'), '"Say \\"hi\\" \\\\ there" <j@x.org>');
    assert.equal(formatAddressHeader(null, 'j@x.org'), 'j@x.org');
    assert.equal(formatAddressHeader('  ', 'j@x.org'), 'j@x.org');
    assert.equal(formatAddressHeader(null, ''), '<>');
    const enc = formatAddressHeader('Jörg Müller', 'j@x.de');
    assert.match(enc, /^=\?UTF-8\?[QB]\?[^ ]+\?= <j@x\.de>$/);
    assert.equal(decodeWords(enc.slice(0, enc.indexOf(' <'))), 'Jörg Müller');
    // Something that would be decoded as an encoded-word is encoded, not trusted.
    assert.match(formatAddressHeader('=?x?Q?y?=', 'j@x.de'), /^=\?UTF-8\?/);
  });
  it('never lets a name or address break the line', () => {
    const v = formatAddressHeader('Evil\r\nBcc: victim@x.org', 'a@b.c');
    assert.doesNotMatch(v, /[\r\n]/);
    assert.equal(v, '"Evil Bcc: victim@x.org" <a@b.c>');
    assert.throws(() => formatAddressHeader('x', 'a@b\r\nBcc: y'), /control character/);
  });
});

describe('printable', () => {
  it('escapes control and invisible characters and cuts long input', () => {
    assert.equal(printable('a\r\nb\0\x1b"\\'), '"a\\r\\nb\\0\\x1b\\"\\\\"');
    assert.equal(printable('x\u202ey'), '"x\\u202ey"');
    assert.match(printable('z'.repeat(500), 10), /^"z{10}"\.\.\.\(490 more characters\)$/);
  });
});

test('the ASCII-only forms of the address rules agree with the Unicode ones on every ASCII text', () => {
  const all = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i));
  const samples = [...all, ...all.map((c) => `ab${c}cd`), ...all.map((c) => `${c}${c}`), 'root', 'first.last+tag', 'a b', 'example.com', ''];
  for (const [unicode, ascii] of asciiForms()) {
    for (const t of samples) assert.equal(ascii.test(t), unicode.test(t), `${unicode} vs ${ascii} on ${JSON.stringify(t)}`);
  }
  for (const a of all) for (const b of all) {
    const t = `x\\${a}${b}\\`;
    assert.equal(t.replace(/\\(.)/g, '$1'), t.replace(/\\(.)/gu, '$1'));
  }
  assert.ok(samples.every((t) => IS_ASCII.test(t)));
  assert.equal(IS_ASCII.test('ü'), false);
});

test('each ASCII rule written as a loop answers as the regular expression it stands for', () => {
  const all = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i));
  const samples = [...all, ...all.map((c) => `ab${c}cd`), ...all.map((c) => `${c}x`), ...all.map((c) => `x${c}`), ...all.map((c) => `${c}${c}`),
    'root', 'first.last+tag', 'a b', 'example.com', 'a-b', '-ab', 'ab-', 'a_b', 'ü', 'xü', 'üx', '\u2028', '😀', '', 'ab\n'];
  for (const [re, loop] of asciiLoops()) {
    for (const t of samples) assert.equal(loop.test(t), re.test(t), `${re} on ${JSON.stringify(t)}`);
  }
});
