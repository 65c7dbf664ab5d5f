/**
 * Hostile input through every entry point, table-driven: `sendmail`, `sysmail send`, the
 * `sysmail serve` listener (a raw socket, exact replies) and the OCI Notifications path (sendmail ->
 * spool -> flush -> the loopback fake ONS of test/helpers/fake-oci.ts).
 *
 * Each case ends in a clear refusal (the right sysexits code and a `sysmail: ` message, or the
 * right SMTP reply) or in delivery with the body intact; never a crash (exit 70), a hang (every
 * spawn and socket has a timeout), an injected header or recipient, or a command run (canary
 * files that must never appear). Refused input must never be delivered, and nothing partial is
 * left in the spool.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { cliPath, fixtures } from './helpers/paths.js';
import { makeHost, runCli, waitForIdleSpool, waitUntil, type RunResult, type TestHost } from './helpers/cli.js';
import { startSink, type Sink, type SinkMessage } from './helpers/smtp-sink.js';
import { startFakeOci, writeApiKeyConfig, type FakeOci } from './helpers/fake-oci.js';

const HOSTILE = join(fixtures, 'hostile');
const LIMIT = 4 * 1024 * 1024;
const cleanups: Array<() => unknown> = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

let sink: Sink;
let host: TestHost;
let canary: string;
before(async () => {
  sink = await startSink({ tls: 'none' });
  cleanups.push(() => sink.close());
  host = makeHost();
  cleanups.push(() => rmSync(host.dir, { recursive: true, force: true }));
  canary = join(host.dir, 'canary');
  host.writeConfig(hostToml(host));
});

/**
 * Everything goes to the sink, except the domain quoted.example, which goes to a Maildir:
 * smtp-server (the sink) refuses quoted local parts such as "a@b"@x, which RFC 5321 allows.
 */
function hostToml(h: TestHost): string {
  return `[general]\nhostname = "mx.example.com"\ndomain = "example.com"\naliases = false\nmax_message_size = "4M"\n`
    + `[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\nport = ${sink.port}\nsecurity = "none"\n`
    + `[transports.box]\ntype = "maildir"\npath = "${join(h.dir, 'Maildir')}"\n`
    + `[[routes]]\nname = "quoted"\nmatch = { domain = ["quoted.example"] }\ntransport = "box"\n`
    + `[[routes]]\nname = "out"\ntransport = "relay"\n`;
}

/** Messages delivered to the Maildir, shaped like the sink's (the recipient from Delivered-To). */
function boxMessages(h: TestHost): SinkMessage[] {
  const dir = join(h.dir, 'Maildir', 'new');
  return ls(dir).map((n) => {
    const data = readFileSync(join(dir, n));
    const to = /^Delivered-To: (.*)$/m.exec(data.toString('latin1'))?.[1] ?? '';
    return { from: '', to: [to], data, user: null, secure: false, body8bit: false, mailArgs: {}, connection: 0, clientCertCN: null };
  });
}

const ls = (p: string) => (existsSync(p) ? readdirSync(p) : []);
const lf = (m: SinkMessage) => m.data.toString('latin1').replace(/\r\n/g, '\n');
/** The message's header block and body, as latin1 text with LF line ends. */
const split = (m: SinkMessage) => { const t = lf(m); const i = t.indexOf('\n\n'); return { head: t.slice(0, i + 1), body: t.slice(i + 2) }; };
const headerNames = (head: string) => head.split('\n').filter((l) => /^[^\s:]+:/.test(l)).map((l) => l.slice(0, l.indexOf(':')).toLowerCase());
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function assertNoCanary(): void {
  for (const n of ls(host.dir)) assert.ok(!n.startsWith('canary'), `a command or file delivery ran: ${n} exists`);
}

/** Decodes quoted-printable (RFC 2045) back to bytes. */
function qpDecode(s: string): Buffer {
  const soft = s.replace(/=\r?\n/g, '');
  const out: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    const m = soft[i] === '=' ? /^=([0-9A-F]{2})/.exec(soft.slice(i, i + 3)) : null;
    if (m) { out.push(parseInt(m[1]!, 16)); i += 2; } else out.push(soft.charCodeAt(i) & 0xff);
  }
  return Buffer.from(out);
}

// ---- sendmail and send ---------------------------------------------------------------------

interface CliCase {
  name: string;
  args: string[];
  /** stdin; the case's tag line ("tag: <id>") is appended to the body by `input` builders below. */
  input: string | Buffer;
  /** A refusal: exit code and what the message must say. */
  refuse?: { code: number; stderr: RegExp };
  /** A delivery: checks on the one message that carries the tag. */
  check?: (m: SinkMessage) => void;
}

let seq = 0;
const tags = new Map<string, string>();
/** A message with the case's tag in its body, so it can be found whatever happens to the header. */
function tagged(name: string, head: string, body = ''): string {
  const tag = `t${++seq}x${randomBytes(3).toString('hex')}`;
  tags.set(name, tag);
  return `${head}\n\n${body}tag: ${tag}\n`;
}
const plain = (name: string, extra = '') => tagged(name, `From: a@example.com\nSubject: ${name}${extra}`, 'hello\n');

const MB = 1024 * 1024;
const oneMbLine = 'L'.repeat(MB);
const bigUnder = Buffer.from('abcdefghij0123456789\n'.repeat(150_000));

const cliCases: CliCase[] = [
  // Header block oddities: kept as they are, never a crash.
  { name: 'a header line without a colon starts the body', args: ['sendmail', '-i', 'a@example.net'],
    input: tagged('nocolon', 'Subject: no colon\nThis line has no colon\nX-After: 1', 'hello\n'),
    check: (m) => { assert.match(split(m).body, /^This line has no colon\nX-After: 1\n/); } },
  { name: 'a 200 KB header field', args: ['sendmail', '-i', 'a@example.net'],
    input: tagged('longheader', `Subject: long\nX-Long: ${'h'.repeat(200_000)}`, 'hello\n'),
    check: (m) => { assert.ok(lf(m).includes(`X-Long: ${'h'.repeat(200_000)}\n`)); } },
  { name: '5000 header fields', args: ['sendmail', '-i', 'a@example.net'],
    input: tagged('manyfields', Array.from({ length: 5000 }, (_, i) => `X-F${i}: v${i}`).join('\n'), 'hello\n'),
    check: (m) => { assert.equal(headerNames(split(m).head).filter((n) => n.startsWith('x-f')).length, 5000); } },
  { name: 'a first line that is a continuation makes it all body', args: ['sendmail', '-i', 'a@example.net'],
    input: tagged('leadingspace', ' folded: at the top\nSubject: not a header'),
    check: (m) => { assert.ok(split(m).body.startsWith(' folded: at the top\nSubject: not a header\n')); } },
  { name: 'an empty header name', args: ['sendmail', '-i', 'a@example.net'],
    input: tagged('emptyname', 'Subject: x\n: no name', 'hello\n'),
    check: (m) => { assert.ok(lf(m).includes(': no name\n')); } },
  { name: 'mbox "From " lines at the top are dropped, the body kept', args: ['sendmail', '-i', 'a@example.net'],
    input: 'From root Sun Nov 29 00:00:00 2026\n>From x\n' + tagged('mboxfrom', 'Subject: mbox', 'From here on\n'),
    check: (m) => { assert.doesNotMatch(lf(m), /^>?From root/m); assert.match(split(m).body, /^From here on\n/); } },
  // Encoded words: never decoded into new fields.
  { name: 'an encoded word that decodes to CRLF + Bcc', args: ['sendmail', '-i', '-t'],
    input: tagged('ewinject', `To: a@example.net\nSubject: =?UTF-8?B?${Buffer.from('x\r\nBcc: evil@example.org').toString('base64')}?=`, 'hello\n'),
    check: (m) => { assert.deepEqual(m.to, ['a@example.net']); assert.ok(!headerNames(split(m).head).includes('bcc')); } },
  { name: '2000 malformed encoded words', args: ['sendmail', '-i', 'a@example.net'],
    input: tagged('ewflood', `Subject: ${'=?UTF-8?Q?=ZZ=?= =?x?B?@@@?= =?UTF-8?B?'.repeat(2000)}`, 'hello\n'),
    check: (m) => { assert.ok(lf(m).includes('=?UTF-8?Q?=ZZ=?= =?x?B?@@@?=')); } },
  // Bytes that are not text.
  { name: 'invalid UTF-8 in a header and the body: the bytes kept', args: ['sendmail', '-i', 'a@example.net'],
    input: Buffer.concat([Buffer.from('Subject: bad \xff\xfe utf8\n\nbody \xc3\x28 \xed\xa0\x80 end\n', 'latin1'), Buffer.from(tagged('badutf8', '').slice(2))]),
    check: (m) => { assert.ok(m.data.includes(Buffer.from('body \xc3\x28 \xed\xa0\x80 end', 'latin1'))); assert.ok(m.data.includes(Buffer.from('bad \xff\xfe utf8', 'latin1'))); } },
  { name: 'NUL in the body', args: ['sendmail', '-i', 'a@example.net'], input: tagged('nulbody', 'Subject: nul', 'a\0b\n'),
    refuse: { code: 65, stderr: /NUL byte \(line 3/ } },
  { name: 'NUL in a header', args: ['sendmail', '-i', 'a@example.net'], input: tagged('nulhead', 'Subject: a\0b'),
    refuse: { code: 65, stderr: /NUL byte \(line 1/ } },
  { name: 'a bare CR in a header cannot start a field (-t)', args: ['sendmail', '-i', '-t'],
    input: tagged('crhead', 'To: a@example.net\nSubject: cr\rBcc: evil@example.org\nX-Other: x\rCc: evil2@example.org', 'hello\n'),
    check: (m) => { assert.deepEqual(m.to, ['a@example.net']); assert.ok(!headerNames(split(m).head).includes('bcc')); } },
  { name: 'a bare CR in the body: kept in the spool, never a lone CR on the SMTP wire', args: ['sendmail', '-i', 'a@example.net'],
    input: tagged('crbody', 'Subject: crbody', 'one\rtwo\n'),
    check: (m) => { assert.ok(m.data.includes(Buffer.from('one\r\ntwo')) || m.data.includes(Buffer.from('one two')), JSON.stringify(split(m).body.slice(0, 40))); } },
  // Size.
  { name: 'a 1 MB single line arrives intact', args: ['sendmail', '-i', 'a@example.net'],
    input: tagged('mbline', 'Subject: one line', `${oneMbLine}\n`),
    check: (m) => { assert.ok(split(m).body.startsWith(`${oneMbLine}\n`)); } },
  { name: 'a 50 MB body against a 4 MB limit', args: ['sendmail', '-i', 'a@example.net'],
    input: Buffer.concat([Buffer.from(tagged('fifty', 'Subject: big')), Buffer.alloc(50 * MB, 'z')]),
    refuse: { code: 65, stderr: /larger than the limit of 4194304 bytes[\s\S]*max_message_size/ } },
  { name: 'a 3 MB body under the 4 MB limit arrives byte for byte', args: ['sendmail', '-i', 'a@example.net'],
    input: Buffer.concat([Buffer.from(tagged('threemb', 'Subject: 3 MB')), bigUnder]),
    check: (m) => { const t = lf(m); assert.equal(sha(t.slice(t.length - bigUnder.length)), sha(bigUnder)); } },
  // Address forms.
  { name: 'a quoted local part holding an @: "a@b"@quoted.example', args: ['sendmail', '-i', '"a@b"@quoted.example'], input: plain('quotedat'),
    check: (m) => { assert.deepEqual(m.to, ['"a@b"@quoted.example']); } },
  { name: 'a quoted local part with a space', args: ['sendmail', '-i', '"a b"@quoted.example'], input: plain('quotedspace'),
    check: (m) => { assert.deepEqual(m.to, ['"a b"@quoted.example']); } },
  { name: 'an IDN domain (SMTPUTF8 or A-labels, one recipient)', args: ['sendmail', '-i', 'user@bücher.example'], input: plain('idn'),
    check: (m) => { assert.equal(m.to.length, 1); assert.ok(['user@bücher.example', 'user@xn--bcher-kva.example'].includes(m.to[0]!), m.to[0]); } },
  { name: 'an -oX lookalike after --', args: ['sendmail', '-i', '--', '-oXa@example.net'], input: plain('dashox'),
    refuse: { code: 64, stderr: /starts with '-'/ } },
  { name: 'a recipient that is a pipe', args: ['sendmail', '-i', '|touch canary'], input: plain('pipe'),
    refuse: { code: 64, stderr: /command is not a mail address/ } },
  { name: 'a quoted pipe local part', args: ['sendmail', '-i', '"|touch canary"@example.net'], input: plain('quotedpipe'),
    refuse: { code: 64, stderr: /starts with '\|'/ } },
  { name: 'a recipient that is a file path', args: ['sendmail', '-i', '/tmp/canary-file'], input: plain('path'),
    refuse: { code: 64, stderr: /file path is not a mail address/ } },
  { name: 'a 300-character address', args: ['sendmail', '-i', `${'x'.repeat(300)}@example.net`], input: plain('longaddr'),
    refuse: { code: 64, stderr: /invalid address/ } },
  { name: 'an escape sequence in an address', args: ['sendmail', '-i', 'a\x1b[31m@example.net'], input: plain('escaddr'),
    refuse: { code: 64, stderr: /control character/ } },
  // CR/LF in every argument.
  { name: 'LF + Bcc in a recipient argument', args: ['sendmail', '-i', 'a@example.net\nBcc: evil@example.org'], input: plain('lfrcpt'),
    refuse: { code: 64, stderr: /line feed/ } },
  { name: 'CR in a recipient argument', args: ['sendmail', '-i', 'a@example.net\rx'], input: plain('crrcpt'),
    refuse: { code: 64, stderr: /carriage return|control/ } },
  { name: 'CRLF in -f', args: ['sendmail', '-i', '-f', 'a@example.com\r\nRCPT TO:<evil@example.org>', 'a@example.net'], input: plain('crlff'),
    refuse: { code: 64, stderr: /invalid address/ } },
  { name: 'CRLF + Bcc in -F (the full name)', args: ['sendmail', '-i', '-F', 'Joe\r\nBcc: evil@example.org', 'a@example.net'],
    input: tagged('crlfF', 'Subject: fullname', 'hello\n'),
    check: (m) => { assert.deepEqual(m.to, ['a@example.net']); assert.ok(!headerNames(split(m).head).includes('bcc')); assert.match(split(m).head, /^From: .*Joe/m); } },
  { name: 'CRLF in -V (envelope id): warned about, ignored', args: ['sendmail', '-i', '-V', 'id\r\nrcpt <evil@example.org>', 'a@example.net'],
    input: plain('crlfV'), check: (m) => { assert.deepEqual(m.to, ['a@example.net']); assert.ok(!m.data.includes(Buffer.from('rcpt <evil'))); } },
  { name: 'CRLF in -N: warned about, ignored', args: ['sendmail', '-i', '-N', 'SUCCESS\r\nrcpt <evil@example.org>', 'a@example.net'],
    input: plain('crlfN'), check: (m) => { assert.deepEqual(m.to, ['a@example.net']); } },
  { name: 'CRLF in -R: warned about, ignored', args: ['sendmail', '-i', '-R', 'full\r\nret full', 'a@example.net'],
    input: plain('crlfR'), check: (m) => { assert.deepEqual(m.to, ['a@example.net']); } },
  { name: 'LF in -C (config path)', args: ['sendmail', '-i', '-C', '/etc/sysmail/x\n.toml', 'a@example.net'], input: plain('lfC'),
    refuse: { code: 78, stderr: /sysmail\.toml|x\\n|does not exist|cannot read/ } },
  { name: '-t with a pipe among 500 header recipients', args: ['sendmail', '-i', '-t'],
    input: tagged('tpipe', `To: ${Array.from({ length: 500 }, (_, i) => `r${i}@example.net`).join(', ')}, "|touch canary"@example.net\nSubject: t`),
    refuse: { code: 65, stderr: /starts with '\|'/ } },
  // sysmail send: the subject can hold anything, the body's bytes survive.
  { name: 'send: CRLF + Bcc in the subject', args: ['send', '--queue', '-s', 'hi\r\nBcc: evil@example.org', 'a@example.net'],
    input: tagged('sendsubj', '').slice(2),
    check: (m) => { assert.deepEqual(m.to, ['a@example.net']); assert.ok(!headerNames(split(m).head).includes('bcc')); assert.match(split(m).head, /^Subject: hi {1,2}Bcc: evil@example\.org$/m); } },
  { name: 'send: an encoded-word lookalike subject stays literal', args: ['send', '--queue', '-s', '=?UTF-8?B?eA0KQmNjOiBldmls?=', 'a@example.net'],
    input: tagged('sendew', '').slice(2),
    check: (m) => { assert.ok(!headerNames(split(m).head).includes('bcc')); } },
  { name: 'send: NUL, bare CR and invalid UTF-8 in the body survive (quoted-printable)', args: ['send', '--queue', '-s', 'binary', 'a@example.net'],
    input: Buffer.concat([Buffer.from('a\0b\rc\xff\xfed\n', 'latin1'), Buffer.from(tagged('sendbin', '').slice(2))]),
    check: (m) => { const { head, body } = split(m); assert.match(head, /quoted-printable/i); assert.ok(qpDecode(body).includes(Buffer.from('a\0b\rc\xff\xfed\n', 'latin1'))); } },
  { name: 'send: a 1 MB single line survives', args: ['send', '--queue', '-s', 'long line', 'a@example.net'],
    input: `${oneMbLine}\n${tagged('sendmb', '').slice(2)}`,
    check: (m) => { assert.ok(qpDecode(split(m).body).toString('latin1').startsWith(`${oneMbLine}\n`)); } },
  { name: 'send: CRLF in -c', args: ['send', '--queue', '-s', 'x', '-c', 'b@example.net\nBcc: evil@example.org', 'a@example.net'],
    input: plain('sendcc'), refuse: { code: 64, stderr: /invalid address/ } },
  { name: 'send: a pipe as -r', args: ['send', '--queue', '-s', 'x', '-r', '|touch canary', 'a@example.net'],
    input: plain('sendr'), refuse: { code: 64, stderr: /command is not a mail address/ } },
  { name: 'send: an unknown option lookalike', args: ['send', '--queue', '-s', 'x', '-oQ/tmp/canary', 'a@example.net'],
    input: plain('sendopt'), refuse: { code: 64, stderr: /-o|option/ } },
  { name: 'notify: two arguments (an unquoted subject)', args: ['notify', 'Backup', 'failed'], input: plain('notify2'),
    refuse: { code: 64, stderr: /one argument/ } },
];

test(`sendmail and send: ${cliCases.length} hostile cases, each refused clearly or delivered intact`, async () => {
  const results = new Map<string, RunResult>();
  const pending = [...cliCases];
  const worker = async () => {
    for (let c = pending.shift(); c; c = pending.shift()) {
      const args = c.args[0] === 'sendmail' ? ['sendmail', '-odq', ...c.args.slice(1)] : c.args;
      results.set(c.name, await runCli(args, { input: c.input, env: host.env, timeoutMs: 20_000 }));
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);

  // Every case is judged, then all problems are reported at once.
  const problems: string[] = [];
  const judge = (name: string, fn: () => void) => { try { fn(); } catch (e) { problems.push(`${name}: ${(e as Error).message.replace(/\s+/g, ' ').slice(0, 400)}`); } };
  const accepted = cliCases.filter((c) => c.check);
  for (const c of cliCases) {
    const r = results.get(c.name)!;
    judge(c.name, () => {
      assert.notEqual(r.code, 70, `crashed: ${r.stderr}`);
      assert.notEqual(r.code, null, 'hung or was killed');
      if (c.refuse) {
        assert.equal(r.code, c.refuse.code, `exit ${r.code}, want ${c.refuse.code}; stderr: ${r.stderr.trim()}`);
        assert.match(r.stderr, /^sysmail: /);
        assert.match(r.stderr, c.refuse.stderr);
      } else {
        assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr.trim()}`);
      }
    });
  }
  assert.deepEqual(problems, []);
  assert.equal(ls(join(host.spool, 'queue')).length, accepted.length, 'exactly the accepted cases are queued');
  assert.deepEqual(ls(join(host.spool, 'tmp')), [], 'nothing partial in tmp/');

  const f = await runCli(['flush'], { env: host.env, timeoutMs: 60_000 });
  assert.equal(f.code, 0, f.stderr);
  const toBox = accepted.filter((c) => c.args.some((a) => a.endsWith('@quoted.example'))).length;
  await sink.waitFor(accepted.length - toBox, 10_000).catch((e: Error) => {
    const why = host.events().filter((ev) => ev.event === 'deferred' || ev.event === 'failed').map((ev) => `${ev.rcpt}: ${ev.reason}`);
    assert.fail(`${e.message}; not delivered: ${why.join('; ')}`);
  });
  for (const c of cliCases) {
    const tag = [...tags.values()].find((t) => c.input.includes(`tag: ${t}`));
    judge(c.name, () => {
      assert.ok(tag, 'its input carries no tag');
      const got = [...sink.messages, ...boxMessages(host)].filter((m) => m.data.includes(Buffer.from(`tag: ${tag}`)));
      if (c.refuse) { assert.equal(got.length, 0, 'refused but delivered'); return; }
      assert.equal(got.length, 1, `delivered ${got.length} times`);
      c.check!(got[0]!);
    });
  }
  assert.deepEqual(problems, []);
  for (const m of sink.messages) assert.ok(!m.to.some((t) => t.startsWith('evil@')), `an injected recipient: ${m.to.join(',')}`);
  assertNoCanary();
});

// ---- the listener (sysmail serve) -------------------------------------------------------------

interface Reply { code: number; text: string }

/** A line-level SMTP client: exact replies, raw bytes, rude hang-ups. */
class Raw {
  private buf = '';
  private wake: (() => void) | null = null;
  closed = false;
  private constructor(private readonly s: net.Socket) {
    s.setEncoding('latin1');
    s.on('data', (d: string) => { this.buf += d; this.wake?.(); });
    s.on('close', () => { this.closed = true; this.wake?.(); });
    s.on('error', () => {});
  }
  static open(port: number): Promise<Raw> {
    return new Promise((ok, fail) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => ok(new Raw(s)));
      s.once('error', fail);
    });
  }
  async reply(ms = 10_000): Promise<Reply> {
    const end = Date.now() + ms;
    for (;;) {
      const m = /^((?:\d{3}-[^\n]*\n)*)(\d{3})(?: ([^\n]*))?\n/.exec(this.buf);
      if (m) { this.buf = this.buf.slice(m[0].length); return { code: Number(m[2]), text: ((m[1] ?? '') + (m[3] ?? '')).replace(/\r/g, '') }; }
      if (this.closed) return { code: 0, text: 'connection closed' };
      if (Date.now() > end) throw new Error(`no SMTP reply within ${ms} ms; buffer ${JSON.stringify(this.buf.slice(0, 200))}`);
      await new Promise<void>((r) => { this.wake = r; setTimeout(r, 50); });
    }
  }
  write(b: string | Buffer): void { this.s.write(typeof b === 'string' ? Buffer.from(b, 'latin1') : b); }
  async cmd(line: string | Buffer): Promise<Reply> { this.write(Buffer.concat([Buffer.from(line as string, 'latin1'), Buffer.from('\r\n')])); return this.reply(); }
  async hello(): Promise<void> {
    assert.equal((await this.reply()).code, 220);
    assert.equal((await this.cmd('EHLO client.example')).code, 250);
  }
  destroy(): void { this.s.destroy(); }
}

/** MAIL, RCPT, DATA, then `data` raw (the caller supplies the end), returns the final reply. */
async function transaction(c: Raw, data: Buffer | string, o: { from?: string; to?: string } = {}): Promise<Reply> {
  assert.equal((await c.cmd(`MAIL FROM:<${o.from ?? 'client@example.com'}>`)).code, 250);
  assert.equal((await c.cmd(`RCPT TO:<${o.to ?? 'box@example.net'}>`)).code, 250);
  assert.equal((await c.cmd('DATA')).code, 354);
  c.write(data);
  return c.reply(30_000);
}

interface ServeCase {
  name: string;
  run(port: number, tag: string): Promise<void>;
  /** Messages (by the tag in their body) that must have been delivered afterwards. */
  delivered: number;
  check?: (m: SinkMessage, tag: string) => void;
}

const crlf = (s: string) => s.replace(/\r?\n/g, '\r\n');
const serveCases: ServeCase[] = [
  { name: 'SMTP smuggling: <LF>.<LF> does not end DATA', delivered: 1,
    run: async (port, tag) => {
      const c = await Raw.open(port); await c.hello();
      const r = await transaction(c, `Subject: smuggle\r\n\r\ntag: ${tag}\n.\nMAIL FROM:<evil@example.org>\nRCPT TO:<victim@example.net>\nDATA\nSubject: smuggled\n\nevil\r\n.\r\n`);
      assert.equal(r.code, 250, r.text);
      c.destroy();
    },
    check: (m) => { assert.deepEqual(m.to, ['box@example.net']); } },
  { name: 'SMTP smuggling: <CR><LF>.<LF> does not end DATA', delivered: 1,
    run: async (port, tag) => {
      const c = await Raw.open(port); await c.hello();
      const r = await transaction(c, `Subject: smuggle2\r\n\r\ntag: ${tag}\r\n.\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nevil\r\n.\r\n`);
      assert.equal(r.code, 250, r.text);
      c.destroy();
    },
    check: (m) => { assert.deepEqual(m.to, ['box@example.net']); } },
  { name: 'a pipe, a path and an option as RCPT: 553', delivered: 0,
    run: async (port) => {
      const c = await Raw.open(port); await c.hello();
      assert.equal((await c.cmd('MAIL FROM:<client@example.com>')).code, 250);
      for (const bad of ['|touch canary', '"|touch canary"@example.net', '/tmp/canary', '-oQ/tmp/canary@example.net']) {
        const r = await c.cmd(`RCPT TO:<${bad}>`);
        assert.ok(r.code === 553 || r.code === 501, `${bad}: ${r.code} ${r.text}`);
      }
      assert.equal((await c.cmd('DATA')).code, 503, 'no valid recipient, no DATA');
      c.destroy();
    } },
  { name: 'a bare CR inside a command line never starts a second command', delivered: 1,
    run: async (port, tag) => {
      const c = await Raw.open(port); await c.hello();
      const r = await c.cmd('MAIL FROM:<a@example.com>\rRCPT TO:<evil@example.org>');
      if (r.code !== 250) { assert.ok(r.code >= 500, `${r.code} ${r.text}`); assert.equal((await c.cmd('MAIL FROM:<a@example.com>')).code, 250); }
      const extra = await c.reply(300).catch(() => null);
      assert.equal(extra, null, `a second reply: the CR split the line: ${JSON.stringify(extra)}`);
      assert.equal((await c.cmd('RCPT TO:<box@example.net>')).code, 250);
      assert.equal((await c.cmd('DATA')).code, 354);
      assert.equal((await c.cmd(`Subject: cr\r\n\r\ntag: ${tag}\r\n.`)).code, 250);
      c.destroy();
    },
    check: (m) => { assert.deepEqual(m.to, ['box@example.net']); } },
  { name: 'escapes and controls in addresses: refused; invalid UTF-8: no crash', delivered: 0,
    run: async (port) => {
      const c = await Raw.open(port); await c.hello();
      for (const bad of ['MAIL FROM:<a\x1b[2J@example.com>', 'MAIL FROM:<a\x7f@example.com>', 'MAIL FROM:<a\x01b@example.com>']) {
        const r = await c.cmd(bad);
        assert.ok(r.code >= 500, `${JSON.stringify(bad)}: ${r.code} ${r.text}`);
      }
      // smtp-server reads command lines as UTF-8, so invalid bytes arrive as U+FFFD: accepted or refused, never a crash.
      const r = await c.cmd(Buffer.from('MAIL FROM:<a\xff\xfe@example.com>', 'latin1'));
      assert.ok(r.code === 250 || r.code >= 500, `${r.code} ${r.text}`);
      c.destroy();
    } },
  { name: 'NUL in DATA: 554, nothing queued', delivered: 0,
    run: async (port, tag) => {
      const c = await Raw.open(port); await c.hello();
      const r = await transaction(c, `Subject: nul\r\n\r\ntag: ${tag}\r\na\0b\r\n.\r\n`);
      assert.equal(r.code, 554, r.text);
      assert.match(r.text, /NUL/);
      c.destroy();
    } },
  { name: 'over the size limit: 552, nothing queued', delivered: 0,
    run: async (port, tag) => {
      const c = await Raw.open(port); await c.hello();
      const chunk = Buffer.alloc(MB, 'y\r\n');
      c.write(`MAIL FROM:<client@example.com>\r\n`); await c.reply();
      c.write(`RCPT TO:<box@example.net>\r\n`); await c.reply();
      c.write('DATA\r\n'); assert.equal((await c.reply()).code, 354);
      c.write(`Subject: big\r\n\r\ntag: ${tag}\r\n`);
      for (let i = 0; i < 6; i++) c.write(chunk);
      c.write('\r\n.\r\n');
      const r = await c.reply(30_000);
      assert.equal(r.code, 552, r.text);
      c.destroy();
    } },
  { name: 'a 1 MB single line arrives intact', delivered: 1,
    run: async (port, tag) => {
      const c = await Raw.open(port); await c.hello();
      const r = await transaction(c, `Subject: long line\r\n\r\n${oneMbLine}\r\ntag: ${tag}\r\n.\r\n`);
      assert.equal(r.code, 250, r.text);
      c.destroy();
    },
    check: (m) => { assert.ok(split(m).body.startsWith(`${oneMbLine}\n`)); } },
  { name: 'an over-long command line is refused and the server goes on', delivered: 0,
    run: async (port) => {
      const c = await Raw.open(port); await c.hello();
      const r = await c.cmd(`MAIL FROM:<${'a'.repeat(100_000)}@example.com>`);
      assert.ok(r.code === 0 || r.code === 421 || r.code >= 500, `${r.code} ${r.text}`);
      c.destroy();
      const d = await Raw.open(port); await d.hello(); d.destroy();
    } },
  { name: 'a hang-up in the middle of DATA queues nothing', delivered: 0,
    run: async (port, tag) => {
      const c = await Raw.open(port); await c.hello();
      assert.equal((await c.cmd('MAIL FROM:<client@example.com>')).code, 250);
      assert.equal((await c.cmd('RCPT TO:<box@example.net>')).code, 250);
      assert.equal((await c.cmd('DATA')).code, 354);
      c.write(`Subject: cut\r\n\r\ntag: ${tag}\r\nhalf a mess`);
      await new Promise((r) => setTimeout(r, 100));
      c.destroy();
    } },
  { name: 'HELO with tabs and a Bcc lookalike never makes a header', delivered: 1,
    run: async (port, tag) => {
      const c = await Raw.open(port);
      assert.equal((await c.reply()).code, 220);
      // smtp-server refuses some of these names itself (501); the first one it takes goes into Received.
      let accepted = '';
      for (const name of ['x)\tBcc: evil@example.org', 'x)(Bcc:evil@example.org', '[Bcc:evil@example.org]', 'Bcc:evil@example.org']) {
        const e = await c.cmd(`EHLO ${name}`);
        if (e.code === 250) { accepted = name; break; }
        assert.ok(e.code >= 500, `${e.code} ${e.text}`);
      }
      assert.notEqual(accepted, '', 'no EHLO name accepted at all');
      const r = await transaction(c, `Subject: helo\r\n\r\ntag: ${tag}\r\n.\r\n`);
      assert.equal(r.code, 250, r.text);
      c.destroy();
    },
    check: (m) => { assert.ok(!headerNames(split(m).head).includes('bcc')); assert.deepEqual(m.to, ['box@example.net']); } },
  { name: 'invalid UTF-8 and 8-bit headers in DATA are kept', delivered: 1,
    run: async (port, tag) => {
      const c = await Raw.open(port); await c.hello();
      const r = await transaction(c, Buffer.from(`Subject: \xff\xfe\r\nX-Bin: \xc3\x28\r\n\r\nbody \xed\xa0\x80\r\ntag: ${tag}\r\n.\r\n`, 'latin1'));
      assert.equal(r.code, 250, r.text);
      c.destroy();
    },
    check: (m) => { assert.ok(m.data.includes(Buffer.from('X-Bin: \xc3\x28', 'latin1'))); assert.ok(m.data.includes(Buffer.from('body \xed\xa0\x80', 'latin1'))); } },
  { name: 'a quoted local part with an @: refused by the listener (501) or kept as one address', delivered: 0,
    run: async (port) => {
      const c = await Raw.open(port); await c.hello();
      assert.equal((await c.cmd('MAIL FROM:<client@example.com>')).code, 250);
      const r = await c.cmd('RCPT TO:<"a@b"@quoted.example>');
      assert.ok(r.code === 501 || r.code === 250, `${r.code} ${r.text}`);
      assert.equal((await c.cmd('RSET')).code, 250);
      c.destroy();
    } },
  { name: 'AUTH and STARTTLS are not offered, and refused', delivered: 0,
    run: async (port) => {
      const c = await Raw.open(port);
      assert.equal((await c.reply()).code, 220);
      const ehlo = await c.cmd('EHLO client.example');
      assert.doesNotMatch(ehlo.text, /AUTH|STARTTLS/);
      assert.ok((await c.cmd('AUTH PLAIN AGFsaWNlAHNlY3JldA==')).code >= 500);
      assert.ok((await c.cmd('STARTTLS')).code >= 500);
      c.destroy();
    } },
  { name: 'commands out of order and unknown verbs', delivered: 0,
    run: async (port) => {
      const c = await Raw.open(port); await c.hello();
      assert.equal((await c.cmd('DATA')).code, 503);
      assert.equal((await c.cmd('RCPT TO:<box@example.net>')).code, 503);
      assert.ok((await c.cmd('WIZ')).code >= 500);
      assert.ok((await c.cmd('XCLIENT ADDR=192.0.2.1')).code >= 500);
      c.destroy();
    } },
  { name: 'binary garbage instead of SMTP', delivered: 0,
    run: async (port) => {
      const c = await Raw.open(port);
      assert.equal((await c.reply()).code, 220);
      c.write(randomBytes(4096));
      c.write('\r\n');
      await c.reply(5000).catch(() => null);
      c.destroy();
      const d = await Raw.open(port); await d.hello(); d.destroy();
    } },
  { name: 'pipelined transactions get one reply each', delivered: 2,
    run: async (port, tag) => {
      const c = await Raw.open(port); await c.hello();
      c.write(crlf(`MAIL FROM:<a@example.com>\nRCPT TO:<box@example.net>\nDATA\n`));
      assert.deepEqual([(await c.reply()).code, (await c.reply()).code, (await c.reply()).code], [250, 250, 354]);
      c.write(crlf(`Subject: p1\n\ntag: ${tag}\n.\nMAIL FROM:<a@example.com>\nRCPT TO:<box@example.net>\nDATA\n`));
      assert.deepEqual([(await c.reply()).code, (await c.reply()).code, (await c.reply()).code, (await c.reply()).code], [250, 250, 250, 354]);
      const r = await c.cmd(crlf(`Subject: p2\n\ntag: ${tag}\n.`));
      assert.equal(r.code, 250);
      c.destroy();
    } },
];

test(`sysmail serve: ${serveCases.length} hostile SMTP sessions on a raw socket`, async () => {
  const h = makeHost();
  cleanups.push(() => rmSync(h.dir, { recursive: true, force: true }));
  const canaryDir = h.dir;
  h.writeConfig(hostToml(h));
  const child = spawn(process.execPath, [cliPath, 'serve', '--listen', '127.0.0.1:0'],
    { env: { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', ...h.env }, stdio: ['ignore', 'ignore', 'pipe'], cwd: canaryDir });
  cleanups.push(() => child.kill('SIGKILL'));
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  const port = Number(await waitUntil(() => /listening on 127\.0\.0\.1:(\d+)/.exec(err)?.[1], 15_000, 'serve to listen'));
  const before = sink.messages.length;
  const caseTags = new Map<ServeCase, string>();
  for (const c of serveCases) {
    const tag = `s${randomBytes(4).toString('hex')}`;
    caseTags.set(c, tag);
    try {
      await c.run(port, tag);
    } catch (e) {
      throw new Error(`${c.name}: ${(e as Error).message}\nserve stderr: ${err}`);
    }
    assert.equal(child.exitCode, null, `serve died during "${c.name}": ${err}`);
  }
  const want = serveCases.reduce((n, c) => n + c.delivered, 0);
  const collect = () => [...sink.messages.slice(before), ...boxMessages(h)];
  await waitUntil(() => collect().length >= want, 15_000, `${want} deliveries`).catch(() => {});
  await waitForIdleSpool(h.spool);
  const mine = collect();
  assert.equal(mine.length, want, `delivered: ${mine.map((m) => split(m).head.match(/^Subject: .*$/m)?.[0]).join(', ')}`);
  for (const c of serveCases) {
    const tag = caseTags.get(c)!;
    const got = mine.filter((m) => m.data.includes(Buffer.from(`tag: ${tag}`)));
    assert.equal(got.length, c.delivered, `${c.name}: delivered ${got.length}`);
    if (c.check) c.check(got[0]!, tag);
  }
  for (const m of mine) {
    assert.ok(!m.to.some((t) => t.startsWith('evil@') || t.startsWith('victim@')), `smuggled recipient ${m.to.join(',')}`);
    assert.ok(m.from !== 'evil@example.org', 'smuggled sender');
  }
  assert.deepEqual(ls(join(h.spool, 'queue')), []);
  assert.deepEqual(ls(join(h.spool, 'tmp')), []);
  for (const n of ls(canaryDir)) assert.ok(!n.startsWith('canary'), n);
  assert.ok(!existsSync('/tmp/canary'), '/tmp/canary was created');
  child.kill('SIGTERM');
});

// ---- the OCI path: sendmail -> spool -> flush -> ONS ------------------------------------------

const nest = (depth: number, inner: string): string => {
  let s = inner;
  for (let i = depth; i > 0; i--) s = `Content-Type: multipart/mixed; boundary="b${i}"\n\n--b${i}\n${s}\n--b${i}--\n`;
  return s;
};

interface OciCase { name: string; subject: string; extraHead?: string; body: string | Buffer; check(p: { title?: string; body: string; bytes: number }): void }

const ociCases: OciCase[] = [
  { name: 'encoded word hiding CRLF in the subject', subject: `=?UTF-8?B?${Buffer.from('T1 x\r\nBcc: evil').toString('base64')}?=`, body: 'hello\n',
    check: (p) => { assert.doesNotMatch(p.title ?? '', /[\r\n]/); } },
  { name: 'a 20 KB subject', subject: `T2 ${'s'.repeat(20_000)}`, body: 'hello\n', check: (p) => { assert.ok((p.title ?? '').length <= 255); } },
  { name: 'a 1 MB single line body is cut to fit', subject: 'T3 long', body: `${oneMbLine}\n`,
    check: (p) => { assert.ok(p.bytes <= 65_536); assert.ok(p.body.startsWith('LLLL')); } },
  { name: 'multipart nested 300 deep', subject: 'T4 nested', extraHead: 'MIME-Version: 1.0\n', body: nest(300, 'Content-Type: text/plain\n\ndeep text\n'),
    check: (p) => { assert.ok(p.bytes <= 65_536); } },
  { name: 'invalid UTF-8 body', subject: 'T5 bytes', body: Buffer.from('caf\xe9 \xff\xfe \xc3\x28 end\n', 'latin1'),
    check: (p) => { assert.match(p.body, /end/); } },
  { name: 'garbage base64 part', subject: 'T6 b64', extraHead: 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n',
    body: '!!!not base64 at all@@@\n====\n', check: () => {} },
  { name: 'a multipart with no closing boundary and no parts', subject: 'T7 open', extraHead: 'MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="never"\n',
    body: 'preamble only\n', check: () => {} },
  { name: 'HTML only with script and entities', subject: 'T8 html', extraHead: 'MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n',
    body: '<html><script>alert(1)</script><p>visible &amp; &#x1F600; &bogus;</p></html>\n', check: (p) => { assert.match(p.body, /visible/); } },
  { name: 'an unknown charset in encoded words', subject: '=?x-no-such-charset?Q?T9_=FF=FE?= tail', body: 'hello\n', check: (p) => { assert.match(p.title ?? '', /tail/); } },
];

test(`OCI path: ${ociCases.length} hostile messages published within the service's limits, none crashes a flush`, async () => {
  const fake: FakeOci = await startFakeOci();
  cleanups.push(() => fake.close());
  const h = makeHost();
  cleanups.push(() => rmSync(h.dir, { recursive: true, force: true }));
  const ociConfig = await writeApiKeyConfig(fake, join(h.dir, 'oci'),
    { tenancy: 'ocid1.tenancy.oc1..aaaaaaaahostiletenancy', user: 'ocid1.user.oc1..aaaaaaaahostileuser', region: 'us-phoenix-1' });
  h.writeConfig(`[general]\nhostname = "web1"\ndomain = "example.com"\naliases = false\n`
    + `[transports.ons]\ntype = "oci-notifications"\ntopic_id = "ocid1.onstopic.oc1.phx.${randomBytes(8).toString('hex')}"\nregion = "us-phoenix-1"\n`
    + `endpoint = "${fake.url}"\nconfig_file = "${ociConfig}"\ntimeout = "10s"\n`);
  for (const c of ociCases) {
    const head = Buffer.from(`From: root@example.com\nTo: ops@example.com\nSubject: ${c.subject}\n${c.extraHead ?? ''}\n`);
    const r = await runCli(['sendmail', '-i', '-odq', 'ops@example.com'], { input: Buffer.concat([head, Buffer.from(c.body)]), env: h.env });
    assert.equal(r.code, 0, `${c.name}: ${r.stderr}`);
  }
  const f = await runCli(['flush'], { env: h.env, timeoutMs: 60_000 });
  assert.equal(f.code, 0, `flush: ${f.stderr}`);
  assert.deepEqual(fake.rejections, [], 'every request was valid (signature, JSON, UTF-8, 64 KB)');
  assert.equal(fake.messages.length, ociCases.length, `published ${fake.messages.length}; log: ${readFileSync(h.logFile, 'utf8').slice(-2000)}`);
  for (const [i, c] of ociCases.entries()) {
    const p = fake.messages.find((m) => (m.title ?? '').includes(`T${i + 1}`) || (i === 0 && (m.title ?? '').includes('T1')));
    assert.ok(p, `${c.name}: no publish titled T${i + 1}: ${fake.messages.map((m) => m.title).join(' | ')}`);
    assert.doesNotMatch(p.title ?? '', /[\x00-\x1f\x7f]/, `${c.name}: control characters in the title`);
    c.check(p);
  }
  assert.deepEqual(ls(join(h.spool, 'queue')), [], 'everything was delivered');
  // The cut message was archived in full first.
  const archived = ls(join(h.spool, 'archive', 'new')).map((n) => readFileSync(join(h.spool, 'archive', 'new', n), 'latin1'));
  assert.ok(archived.some((a) => a.includes(oneMbLine)), 'the full 1 MB message is in the archive Maildir');
});

// ---- fixtures: a directory of hostile messages, each with what it must produce ----------------

test('fixtures/hostile: every file is refused with its documented code or delivered intact', async () => {
  const files = ls(HOSTILE).filter((n) => n.endsWith('.eml')).sort();
  assert.ok(files.length >= 3, `fixtures missing in ${HOSTILE}`);
  for (const n of files) {
    const raw = readFileSync(join(HOSTILE, n));
    const want = /^(\d+)-/.exec(n)?.[1];
    assert.ok(want, `${n}: the name must start with the expected exit code`);
    const r = await runCli(['sendmail', '-i', '-odq', 'a@example.net'], { input: raw, env: host.env });
    assert.equal(String(r.code), want, `${n}: ${r.stderr}`);
    if (want !== '0') assert.match(r.stderr, /^sysmail: .*\nsysmail: fix: /, `${n}: a refusal says what to fix`);
  }
  const f = await runCli(['flush'], { env: host.env });
  assert.equal(f.code, 0, f.stderr);
  assertNoCanary();
});
