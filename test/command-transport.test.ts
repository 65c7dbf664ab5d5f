import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandTransportConfig, Config } from '../src/config/types.js';
import { memoryLogger } from '../src/log/logger.js';
import type { OutgoingMessage, TransportContext } from '../src/transports/types.js';
import { classifyExit, createCommandTransport } from '../src/transports/command.js';
import { expandArgv, findUnknownPlaceholders, MAX_PLACEHOLDER_CHARS } from '../src/transports/placeholders.js';
import { extractText } from '../src/message/text.js';
import { fixtures, tempDir } from './helpers/paths.js';

const isRoot = process.getuid?.() === 0;
const HOSTILE = '$(touch /tmp/x) "quotes" ; rm -rf / \n Injected: yes';
const dump = join(fixtures, 'local', 'argv-dump.mjs');

function ctx(): TransportContext {
  return { config: { general: { hostname: 'host.example' } } as unknown as Config, log: memoryLogger(), now: () => Date.now() };
}

function cfg(argv: string[], over: Partial<CommandTransportConfig> = {}): CommandTransportConfig {
  // As root, dump tests run as root explicitly so they can write into the temp dir; `nobody` has its own test.
  return { name: 'notify', type: 'command', argv, stdin: 'none', timeout: 10_000, user: isRoot ? 'root' : null, ...over };
}

function message(raw: string, id = 'Q1'): OutgoingMessage {
  return { id, envelope: { sender: 'cron@host.example', recipients: [], submittedAt: 0, uid: 0, user: 'root', via: 'sendmail' }, raw: Buffer.from(raw) };
}

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = tempDir();
    try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  };
}

interface Dump { argv: string[]; env: Record<string, string>; stdin: string; uid: number }
const readDump = (p: string): Dump => JSON.parse(readFileSync(p, 'utf8'));

test('placeholders: substituted inside single elements, one pass, unknown names kept', () => {
  const values = { subject: HOSTILE, body: 'b {to}', from: 'f@x', to: 'a@x,b@x', local: 'a b', id: 'Q1', host: 'h' };
  const argv = expandArgv(['notify', '--title={subject}', '{body}', '{from}->{to}', '{id}@{host}', '{unknown}', 'plain', '-d', '{local}'], values);
  assert.deepEqual(argv, ['notify', `--title=${HOSTILE}`, 'b {to}', 'f@x->a@x,b@x', 'Q1@h', '{unknown}', 'plain', '-d', 'a b']);
  assert.deepEqual(findUnknownPlaceholders(['{subject}', '{nope}', 'x{also}y']), ['{nope}', '{also}']);
  const big = expandArgv(['{body}'], { ...values, body: 'x'.repeat(MAX_PLACEHOLDER_CHARS * 2) + '\0' });
  assert.equal(big[0].length, MAX_PLACEHOLDER_CHARS);
  assert.equal(expandArgv(['{subject}'], { ...values, subject: 'a\0b' })[0], 'ab');
});

test('command: a hostile subject stays one argv element and nothing is run', withDir(async (dir) => {
  const out = join(dir, 'dump.json');
  const pwned = join(dir, 'pwned');
  const subject = HOSTILE.replace('/tmp/x', pwned);
  const raw = `From: cron@host.example\nSubject: =?UTF-8?B?${Buffer.from(subject).toString('base64')}?=\n\nline one\nline two\n`;
  const t = createCommandTransport(cfg([process.execPath, dump, out, '{subject}', 'to={to}', '{body}', '{from}', '{id}', '{host}']), ctx());
  const res = await t.deliver(message(raw), ['root@host.example', 'ops@host.example']);
  assert.deepEqual(res.map((r) => [r.rcpt, r.outcome, r.code]), [['root@host.example', 'sent', 0], ['ops@host.example', 'sent', 0]]);
  const d = readDump(out);
  const expectedSubject = extractText(Buffer.from(raw)).subject;
  assert.ok(expectedSubject.includes(`$(touch ${pwned})`) && expectedSubject.includes('; rm -rf /'), expectedSubject);
  assert.deepEqual(d.argv, [expectedSubject, 'to=root@host.example,ops@host.example', 'line one\nline two', 'cron@host.example', 'Q1', 'host.example']);
  assert.equal(existsSync(pwned), false, 'no shell ran the $(...)');
}));

test('command: the child gets a minimal env, never the parent\'s secrets', withDir(async (dir) => {
  const out = join(dir, 'dump.json');
  process.env.FOO_SECRET = 'hunter2';
  try {
    const t = createCommandTransport(cfg([process.execPath, dump, out]), ctx());
    const [r] = await t.deliver(message('Subject: s\n\nb\n', 'Q7'), ['a@x', 'b@x']);
    assert.equal(r.outcome, 'sent', r.text);
  } finally {
    delete process.env.FOO_SECRET;
  }
  const { env } = readDump(out);
  assert.equal(env.FOO_SECRET, undefined);
  assert.ok(!JSON.stringify(env).includes('hunter2'));
  assert.deepEqual(Object.keys(env).sort(),
    ['HOME', 'LANG', 'PATH', 'SYSMAIL_FROM', 'SYSMAIL_ID', 'SYSMAIL_TO']);
  assert.equal(env.SYSMAIL_ID, 'Q7');
  assert.equal(env.SYSMAIL_FROM, 'cron@host.example');
  assert.equal(env.SYSMAIL_TO, 'a@x,b@x');
}));

test('command: stdin is the message, the text body, or nothing', withDir(async (dir) => {
  const raw = 'From: a@b\nSubject: s\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9\n';
  for (const [stdin, expected] of [['message', raw], ['body', 'café\n'], ['none', '']] as const) {
    const out = join(dir, `${stdin}.json`);
    const t = createCommandTransport(cfg([process.execPath, dump, out], { stdin }), ctx());
    const [r] = await t.deliver(message(raw), ['a@x']);
    assert.equal(r.outcome, 'sent', r.text);
    assert.equal(readDump(out).stdin, expected, stdin);
  }
}));

test('command: exit statuses map to sent / deferred / failed by sysexits', async () => {
  const cases: [string, string, number | undefined, string][] = [
    ['exit 0', 'sent', 0, '2.0.0'],
    ['echo "try later" >&2; exit 75', 'deferred', 75, '4.3.0'],
    ['exit 71', 'deferred', 71, '4.3.0'],
    ['printf "\\n\\033[31mbad thing\\007 happened\\nsecond line\\n" >&2; exit 1', 'failed', 1, '5.3.0'],
    ['exit 67', 'failed', 67, '5.1.1'],
    ['kill -TERM $$', 'deferred', undefined, '4.3.0'],
  ];
  for (const [script, outcome, code, dsn] of cases) {
    const t = createCommandTransport(cfg(['/bin/sh', '-c', script]), ctx());
    const [r] = await t.deliver(message('Subject: s\n\nb\n'), ['a@x']);
    assert.deepEqual([r.outcome, r.code, r.dsn], [outcome, code, dsn], `${script}: ${r.text}`);
    if (code === 1) assert.equal(r.text, 'command sh exited 1: [31mbad thing happened');
    if (code === 75) assert.equal(r.text, 'command sh exited 75 (EX_TEMPFAIL): try later');
    if (code === 67) assert.match(r.text, /67 \(EX_NOUSER\)/);
    if (outcome === 'deferred' && code === undefined) assert.match(r.text, /killed by SIGTERM/);
  }
  const long = classifyExit({ code: 1, signal: null, timedOut: false, stderr: 'x'.repeat(5000) }, 'command c');
  assert.ok(long.text.length < 260);
});

test('command: a timeout kills the whole process group and defers', withDir(async (dir) => {
  chmodSync(dir, 0o777);
  const pids = join(dir, 'pids');
  const t = createCommandTransport(cfg(['/bin/sh', '-c', `sleep 30 & echo $$ $! > ${pids}; sleep 30`], { timeout: 400 }), ctx());
  const start = Date.now();
  const [r] = await t.deliver(message('Subject: s\n\nb\n'), ['a@x']);
  assert.ok(Date.now() - start < 5000);
  assert.equal(r.outcome, 'deferred');
  assert.match(r.text, /timed out/);
  const [pgid, bg] = readFileSync(pids, 'utf8').trim().split(' ').map(Number);
  // Give the kernel a moment to reap, then no live process may remain in the group.
  await new Promise((res) => setTimeout(res, 200));
  const alive = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return fields[0] !== 'Z' && Number(fields[2]) === pgid;
    } catch { return false; }
  });
  assert.deepEqual(alive, [], `process group ${pgid} (background sleep ${bg}) still has live members`);
}));

test('command: run-as user: nobody by default as root, configurable; unknown user or program defers', async () => {
  const expectUid = isRoot ? 65534 : process.getuid!();
  const t = createCommandTransport(cfg(['/bin/sh', '-c', '[ "$(id -u)" = "$1" ] || exit 1', 'sh', String(expectUid)], { user: null }), ctx());
  assert.equal((await t.deliver(message('Subject: s\n\nb\n'), ['a@x']))[0].outcome, 'sent');

  const ghost = createCommandTransport(cfg(['/bin/true'], { user: 'no-such-user-sysmail' }), ctx());
  const [g] = await ghost.deliver(message('Subject: s\n\nb\n'), ['a@x']);
  // Only root can switch users: this part needs root and fails (rather than checking less) without it.
  assert.ok(isRoot, 'run the command-transport tests as root: they check the switch to the run-as user');
  assert.equal(g.outcome, 'deferred');
  assert.match(g.text, /run-as user "no-such-user-sysmail" does not exist .*transports\.notify\.user/);

  const missing = createCommandTransport(cfg(['/nonexistent/notify-send']), ctx());
  const [m] = await missing.deliver(message('Subject: s\n\nb\n'), ['a@x']);
  assert.equal(m.outcome, 'deferred');
  assert.match(m.text, /cannot start command notify-send: .*ENOENT.*no such program/);
});
