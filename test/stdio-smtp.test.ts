/**
 * `sendmail -bs`: the SMTP dialogue on stdin/stdout, run in a real child
 * process (a fixture around runStdioSmtp, and the compiled CLI), the way
 * Symfony Mailer's SendmailTransport drives it: HELO, MAIL, RCPT, DATA, QUIT,
 * each command after the previous reply. Also the all-at-once form
 * (`printf … | sendmail -bs`), end of input in the middle of a message, and
 * an unprivileged caller (queued through the drop directory).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../src/config/types.js';
import { openSpool } from '../src/spool/file-spool.js';
import { EX } from '../src/core/errors.js';
import { SERVE_PID_FILE } from '../src/submit/submit.js';
import { fixtures, tempDir } from './helpers/paths.js';

const buildDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const cleanups: Array<() => unknown> = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

function scratch(): string {
  const d = tempDir('sysmail-stdio-');
  chmodSync(d, 0o755); // an unprivileged child must reach drop/
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function makeConfig(dir: string): Config {
  return {
    source: null,
    general: { hostname: 'web1.test.example', domain: 'test.example', admin: 'root', localDomains: ['test.example'], aliases: null,
      maxMessageSize: 1024 * 1024, tagHost: false },
    spool: { dir: join(dir, 'spool'), mode: 'disk', maxLifetime: 86_400_000, retryMin: 60_000, retryMax: 3_600_000 },
    log: { file: join(dir, 'sysmail.log'), syslog: false },
    listener: { listen: [], allowRelayFrom: [], tlsCert: null, tlsKey: null, users: {}, earlyDelivery: true },
    metrics: { file: null, minInterval: 60_000 }, alerts: { via: [], to: 'root', delayWarning: 14_400_000, delayDsn: false },
    transports: { out: { name: 'out', type: 'stdout', format: 'summary' } },
    routes: [{ name: 'default', match: null, transports: ['out'], mode: 'fallback', fallbackAfter: 0 }],
  };
}

/** A child speaking SMTP on its stdio, and a reader of its replies. */
class Session {
  private buf = '';
  private wake: (() => void) | null = null;
  stderr = '';
  readonly exit: Promise<number | null>;
  private ended = false;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (d: string) => { this.buf += d; this.wake?.(); });
    child.stderr.on('data', (d) => { this.stderr += d; });
    child.stdin.on('error', () => {});
    this.exit = new Promise((r) => child.on('close', (code) => { this.ended = true; this.wake?.(); r(code); }));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    void this.exit.then(() => clearTimeout(timer));
    cleanups.push(() => child.kill('SIGKILL'));
  }

  async reply(ms = 5000): Promise<{ code: number; text: string }> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = /^((?:\d{3}-[^\n]*\r\n)*)(\d{3}) ([^\n]*)\r\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return { code: Number(m[2]), text: (m[1] ?? '') + m[3] };
      }
      if (this.ended) throw new Error(`child exited before a full reply; stdout left ${JSON.stringify(this.buf)}; stderr ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no reply in ${ms} ms; got ${JSON.stringify(this.buf)}; stderr ${this.stderr}`);
      await new Promise<void>((r) => { this.wake = r; setTimeout(r, 50); });
    }
  }

  async cmd(line: string): Promise<number> {
    this.child.stdin.write(`${line}\r\n`);
    return (await this.reply()).code;
  }

  /** Every reply code left on stdout (after the child exited). */
  codes(): number[] {
    return [...this.buf.matchAll(/^(\d{3}) /gm)].map((m) => Number(m[1]));
  }
}

function runFixture(config: Config, dir: string, opts: { uid?: number; gid?: number } = {}): Session {
  const cfgFile = join(dir, 'config.json');
  writeFileSync(cfgFile, JSON.stringify(config));
  chmodSync(cfgFile, 0o644);
  return new Session(spawn(process.execPath, [join(fixtures, 'server', 'stdio.mjs'), buildDir, cfgFile],
    { stdio: ['pipe', 'pipe', 'pipe'], ...opts }));
}

async function queued(config: Config) {
  const spool = openSpool({ dir: config.spool.dir });
  const out = [];
  for (const m of await spool.list('queue')) {
    const c = await spool.claim(m.id);
    assert.ok(c);
    out.push({ envelope: c.envelope, message: (await c.readMessage()).toString('utf8') });
    await c.release();
  }
  return out;
}

const body = (m: string) => m.slice(m.indexOf('\n\n') + 2);
const MESSAGE = 'From: App <app@test.example>\r\nTo: ops@remote.example\r\nSubject: Symfony\r\n\r\nHello from PHP.\r\n..dot line\r\nÜmlaut\r\n';

test('a Symfony-style dialogue: each command after its reply, QUIT, exit 0', async () => {
  const dir = scratch();
  const config = makeConfig(dir);
  const s = runFixture(config, dir);
  const greeting = await s.reply();
  assert.equal(greeting.code, 220);
  assert.match(greeting.text, /web1\.test\.example ESMTP/);
  assert.equal(await s.cmd('HELO [127.0.0.1]'), 250); // Symfony's SendmailTransport drives the plain SmtpTransport
  assert.equal(await s.cmd('MAIL FROM:<app@test.example>'), 250);
  assert.equal(await s.cmd('RCPT TO:<ops@remote.example>'), 250);
  assert.equal(await s.cmd('RCPT TO:<root>'), 250, 'a local client may use a bare local name, as with Postfix (qualified)');
  assert.equal(await s.cmd('RCPT TO:<a b>'), 501, 'a broken address is still refused');
  assert.equal(await s.cmd('DATA'), 354);
  s.child.stdin.write(MESSAGE);
  const done = await s.cmd('.');
  assert.equal(done, 250);
  assert.equal(await s.cmd('QUIT'), 221);
  assert.equal(await s.exit, 0, s.stderr);

  const [m, ...rest] = await queued(config);
  assert.equal(rest.length, 0);
  assert.equal(m!.envelope.sender, 'app@test.example');
  assert.deepEqual(m!.envelope.recipients, ['ops@remote.example', 'root@test.example']);
  assert.equal(m!.envelope.uid, process.getuid!());
  assert.equal(m!.envelope.user, 'root');
  assert.equal(m!.envelope.via, 'smtp');
  assert.equal(body(m!.message), 'Hello from PHP.\n.dot line\nÜmlaut\n');
  assert.match(m!.message, /^Received: from \[127\.0\.0\.1\] \(uid 0\)\n\tby web1\.test\.example \(sysmail\) with SMTP;/);
  const log = readFileSync(config.log.file!, 'utf8');
  assert.match(log, /"event":"accepted".*"reason":"via smtp by root"/);
});

test('the whole dialogue piped at once, two messages, no QUIT: both queued, exit 0', async () => {
  const dir = scratch();
  const config = makeConfig(dir);
  const s = runFixture(config, dir);
  const one = 'EHLO app.local\r\nMAIL FROM:<a@test.example>\r\nRCPT TO:<x@remote.example>\r\nDATA\r\nSubject: one\r\n\r\nfirst\r\n.\r\n';
  const two = 'MAIL FROM:<>\r\nRCPT TO:<y@remote.example>\r\nRCPT TO:<z@remote.example>\r\nDATA\r\nSubject: two\r\n\r\nsecond\r\n.\r\n';
  s.child.stdin.end(one + two);
  assert.equal(await s.exit, 0, s.stderr);
  assert.deepEqual(s.codes(), [220, 250, 250, 250, 354, 250, 250, 250, 250, 354, 250], 'no "talk too soon", every command answered');
  const msgs = (await queued(config)).sort((a, b) => a.envelope.recipients[0]!.localeCompare(b.envelope.recipients[0]!));
  assert.equal(msgs.length, 2);
  assert.equal(body(msgs[0]!.message), 'first\n');
  assert.equal(msgs[1]!.envelope.sender, '');
  assert.deepEqual(msgs[1]!.envelope.recipients, ['y@remote.example', 'z@remote.example']);
});

test('end of input in the middle of a message: nothing queued, EX_TEMPFAIL', async () => {
  const dir = scratch();
  const config = makeConfig(dir);
  const s = runFixture(config, dir);
  s.child.stdin.end('EHLO app.local\r\nMAIL FROM:<a@test.example>\r\nRCPT TO:<x@remote.example>\r\nDATA\r\nSubject: cut\r\n\r\nhalf a mess');
  assert.equal(await s.exit, EX.TEMPFAIL);
  assert.match(s.stderr, /ended in the middle of a message; that message was not queued/);
  assert.equal((await queued(config)).length, 0);
});

test('an unprivileged caller queues through the drop directory as itself', async () => {
  const dir = scratch();
  const config = makeConfig(dir);
  const spool = openSpool({ dir: config.spool.dir });
  await spool.prepare(); // the layout a root-run sysmail leaves: queue/ private, drop/ 01777
  const s = runFixture(config, dir, { uid: 65534, gid: 65534 });
  assert.equal((await s.reply()).code, 220);
  for (const line of ['EHLO app.local', 'MAIL FROM:<www-data@test.example>', 'RCPT TO:<ops@remote.example>']) assert.equal(await s.cmd(line), 250);
  assert.equal(await s.cmd('DATA'), 354);
  assert.equal(await s.cmd('Subject: from nobody\r\n\r\nunprivileged\r\n.'), 250);
  assert.equal(await s.cmd('QUIT'), 221);
  assert.equal(await s.exit, 0, s.stderr);
  assert.equal((await queued(config)).length, 0, 'not in the queue yet: nobody cannot write it');
  const ids = await spool.importDrop();
  assert.equal(ids.length, 1);
  const [m] = await queued(config);
  assert.equal(m!.envelope.uid, 65534, 'the uid comes from the file owner');
  assert.match(m!.message, /\(uid 65534\)/);
  assert.equal(body(m!.message), 'unprivileged\n');
});

test('the compiled CLI: sendmail -bs -C FILE', async () => {
  const dir = scratch();
  const config = makeConfig(dir);
  const cfg = join(dir, 'sysmail.toml');
  writeFileSync(cfg, `[general]\nhostname = "web1.test.example"\ndomain = "test.example"\n[spool]\ndir = "${config.spool.dir}"\n` +
    `[log]\nfile = "${config.log.file}"\n[transports.out]\ntype = "stdout"\n`);
  // A live pid in serve.pid: "serve is running", so sendmail starts no background flush and the message stays queued.
  const spool = openSpool({ dir: config.spool.dir });
  await spool.prepare();
  writeFileSync(join(config.spool.dir, SERVE_PID_FILE), `${process.pid}\n`);
  const s = new Session(spawn(process.execPath, [join(buildDir, 'src', 'cli', 'main.js'), 'sendmail', '-bs', '-C', cfg],
    { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH, HOME: dir } }));
  assert.equal((await s.reply()).code, 220);
  assert.equal(await s.cmd('EHLO [127.0.0.1]'), 250);
  assert.equal(await s.cmd('MAIL FROM:<app@test.example>'), 250);
  assert.equal(await s.cmd('RCPT TO:<ops@remote.example>'), 250);
  assert.equal(await s.cmd('DATA'), 354);
  assert.equal(await s.cmd(MESSAGE.replace(/\r\n$/, '') + '\r\n.'), 250);
  assert.equal(await s.cmd('QUIT'), 221);
  assert.equal(await s.exit, 0, s.stderr);
  const [m] = await queued(config);
  assert.equal(body(m!.message), 'Hello from PHP.\n.dot line\nÜmlaut\n');
});
