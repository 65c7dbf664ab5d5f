/**
 * Bad input through the built CLI: each case gets a clear message and the
 * right sysexits code, and nothing half-queued is left behind; odd but valid
 * input is queued with its body intact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeHost, runCli, type TestHost } from './helpers/cli.js';

function maildirHost(extra = ''): TestHost {
  const host = makeHost();
  host.writeConfig(`[general]\nhostname = "web1.example.com"\ndomain = "example.com"\n${extra}\n`
    + `[transports.box]\ntype = "maildir"\npath = "${join(host.dir, 'Maildir')}"\n`);
  return host;
}

const queueFiles = (host: TestHost) => (existsSync(join(host.spool, 'queue')) ? readdirSync(join(host.spool, 'queue')) : []);
const tmpFiles = (host: TestHost) => (existsSync(join(host.spool, 'tmp')) ? readdirSync(join(host.spool, 'tmp')) : []);

/** Submissions in these tests use -odq (queue only), so this flush is the only delivery pass. */
async function deliverAll(host: TestHost): Promise<string[]> {
  const f = await runCli(['flush'], { env: host.env });
  assert.equal(f.code, 0, f.stderr);
  const dir = join(host.dir, 'Maildir', 'new');
  return readdirSync(dir).map((n) => readFileSync(join(dir, n), 'utf8'));
}

const refusals: Array<[string, string[], string | Buffer, number, RegExp]> = [
  ['empty stdin', ['a@example.net'], '', 65, /no message|empty/i],
  ['-t with no recipients', ['-t'], 'Subject: x\n\nbody\n', 64, /no recipients/i],
  ['an unknown flag', ['-Z', 'a@example.net'], 'Subject: x\n\n', 64, /-Z/],
  ['a recipient starting with -', ['--', '-oQ/tmp/x'], 'Subject: x\n\n', 64, /-oQ/],
  ['a recipient that is a pipe', ['|touch /tmp/sysmail-pwned'], 'Subject: x\n\n', 64, /address/i],
  ['-f without a value', ['-f'], 'Subject: x\n\n', 64, /-f/],
];

for (const [name, args, input, code, message] of refusals) {
  test(`refused: ${name} → exit ${code}, clear message, nothing queued`, async () => {
    const host = maildirHost();
    const r = await runCli(['sendmail', ...args], { input, env: host.env });
    assert.equal(r.code, code, `stderr: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /^sysmail: /);
    assert.deepEqual(queueFiles(host), []);
    assert.deepEqual(tmpFiles(host), []);
    assert.equal(existsSync('/tmp/sysmail-pwned'), false);
  });
}

test('over-size message: EX_DATAERR naming the limit and the key', async () => {
  const host = maildirHost('max_message_size = "1k"');
  const r = await runCli(['sendmail', 'a@example.net'], { input: 'Subject: big\n\n' + 'x'.repeat(5000) + '\n', env: host.env });
  assert.equal(r.code, 65, r.stderr);
  assert.match(r.stderr, /max_message_size/);
  assert.deepEqual(queueFiles(host), []);
});

test('odd but valid input is queued and delivered with the body intact', async () => {
  const host = maildirHost();
  const longLine = 'y'.repeat(2000);
  const cases: Array<[string, string | Buffer]> = [
    ['no headers', 'just a body line\nand another\n'],
    ['bare LF', 'Subject: lf\n\nline\n'],
    ['CRLF', 'Subject: crlf\r\n\r\nline\r\n'],
    ['2000-char line', `Subject: long\n\n${longLine}\n`],
    ['8-bit without MIME', Buffer.from('Subject: latin\n\ncaf\xe9 gr\xfc\xdfe\n', 'latin1')],
  ];
  for (const [name, input] of cases) {
    const r = await runCli(['sendmail', '-odq', '-i', 'box@example.net'], { input, env: host.env });
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
  }
  const delivered = await deliverAll(host);
  assert.equal(delivered.length, cases.length);
  const all = delivered.join('\n====\n');
  assert.ok(all.includes('just a body line\nand another\n'));
  assert.ok(all.includes(longLine + '\n'));
  const raw = readdirSync(join(host.dir, 'Maildir', 'new')).map((n) => readFileSync(join(host.dir, 'Maildir', 'new', n)));
  assert.ok(raw.some((b) => b.includes(Buffer.from('caf\xe9 gr\xfc\xdfe\n', 'latin1'))), '8-bit bytes kept as they were');
});

test('without -i a lone "." ends the message, as sendmail does; with -i it is kept', async () => {
  const host = maildirHost();
  let r = await runCli(['sendmail', '-odq', 'box@example.net'], { input: 'Subject: dot\n\nbefore\n.\nafter\n', env: host.env });
  assert.equal(r.code, 0, r.stderr);
  r = await runCli(['sendmail', '-odq', '-oi', 'box@example.net'], { input: 'Subject: dot2\n\nbefore\n.\nafter\n', env: host.env });
  assert.equal(r.code, 0, r.stderr);
  const delivered = await deliverAll(host);
  const dot = delivered.find((m) => m.includes('Subject: dot\n'))!;
  const dot2 = delivered.find((m) => m.includes('Subject: dot2\n'))!;
  assert.doesNotMatch(dot, /after/);
  assert.match(dot2, /before\n\.\nafter\n/);
});

test('send -s: CR/LF and shell syntax in the subject never create a header or run anything', async () => {
  const host = maildirHost();
  const subject = 'Report $(touch /tmp/sysmail-subject-pwned) "q" \r\nBcc: victim@example.net\nX-Injected: yes';
  const r = await runCli(['send', '--queue', '-s', subject, 'box@example.net'], { input: 'the report\n', env: host.env });
  assert.equal(r.code, 0, r.stderr);
  const [m] = await deliverAll(host);
  const head = m!.slice(0, m!.indexOf('\n\n'));
  assert.doesNotMatch(head, /^X-Injected:/m);
  assert.doesNotMatch(head, /^Bcc:/m);
  assert.equal(head.split('\n').filter((l) => l.startsWith('Subject:')).length, 1);
  assert.equal(existsSync('/tmp/sysmail-subject-pwned'), false);
  assert.match(m!, /the report\n/);
});

test('notify SUBJECT sends stdin to general.admin', async () => {
  const host = maildirHost('admin = "boss@example.net"');
  const r = await runCli(['notify', '--queue', 'Nightly backup'], { input: 'all good\n', env: host.env });
  assert.equal(r.code, 0, r.stderr);
  const [m] = await deliverAll(host);
  assert.match(m!, /^Subject: Nightly backup$/m);
  assert.match(m!, /^Delivered-To: <?boss@example\.net>?$/m);
});

test('config errors stop the program with EX_CONFIG and name the key', async () => {
  const host = makeHost();
  host.writeConfig('[transports.relay]\ntype = "smtp"\nhots = "x"\n');
  const r = await runCli(['sendmail', 'a@example.net'], { input: 'Subject: x\n\n', env: host.env });
  assert.equal(r.code, 78, r.stderr);
  assert.match(r.stderr, /transports\.relay\.hots/);
});

test('send: one argument may hold several recipients separated by blanks or commas, as mailx takes them', async () => {
  const host = maildirHost();
  const r = await runCli(['send', '--queue', '-s', 'dnf report', 'box@example.net other@example.net,third@example.net'],
    { input: 'updates\n', env: host.env });
  assert.equal(r.code, 0, r.stderr);
  const q = JSON.parse((await runCli(['queue', '--json'], { env: host.env })).stdout) as Array<{ recipients: string[] }>;
  assert.deepEqual(q[0]!.recipients.sort(), ['box@example.net', 'other@example.net', 'third@example.net']);
});
