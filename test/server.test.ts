/**
 * `sysmail serve`: the loopback listener, the relay rules, the queue runner
 * and the daemon around them. Real sockets on 127.0.0.1 port 0, real spools
 * in temp dirs, a real smtp-server sink as the smarthost, real child
 * processes for the crash test and the CLI.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import type { Config, ListenerConfig } from '../src/config/types.js';
import type { Runtime } from '../src/submit/runtime.js';
import { memoryLogger } from '../src/log/logger.js';
import { openSpool } from '../src/spool/file-spool.js';
import { EX, SysmailError, tempError } from '../src/core/errors.js';
import { classifyPeer, isLoopback, NetworkList, normalizeIp, parseListen, relayVerdict } from '../src/server/network.js';
import { bindError, startListener } from '../src/server/listener.js';
import { queueFailure, receivedHeader } from '../src/server/session.js';
import { QueueRunner, wakeDelay } from '../src/server/queue-runner.js';
import { startDaemon, type Daemon } from '../src/server/daemon.js';
import { SERVE_PID_FILE } from '../src/submit/submit.js';
import { fixtures, tempDir } from './helpers/paths.js';
import { makeCerts } from './helpers/certs.js';
import { startSink, type Sink } from './helpers/smtp-sink.js';

const buildDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const cleanups: Array<() => unknown> = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

function scratch(): string {
  const d = tempDir('sysmail-server-');
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function makeConfig(dir: string, o: { sinkPort?: number; retryMinMs?: number; maxMessageSize?: number; listener?: Partial<ListenerConfig> } = {}): Config {
  const retryMin = o.retryMinMs ?? 60_000;
  return {
    source: null,
    general: { hostname: 'mx.test.example', domain: 'test.example', admin: 'root', localDomains: ['mx.test.example', 'test.example', 'localhost'],
      aliases: null, maxMessageSize: o.maxMessageSize ?? 1024 * 1024, tagHost: false },
    spool: { dir: join(dir, 'spool'), mode: 'disk', maxLifetime: 86_400_000, retryMin, retryMax: retryMin * 4 },
    log: { file: null, syslog: false },
    listener: { listen: ['127.0.0.1:0'], allowRelayFrom: [], tlsCert: null, tlsKey: null, users: {}, earlyDelivery: true, ...o.listener },
    metrics: { file: null, minInterval: 60_000 }, alerts: { via: [], to: 'root', delayWarning: 14_400_000, delayDsn: false },
    transports: {
      relay: { name: 'relay', type: 'smtp', host: '127.0.0.1', port: o.sinkPort ?? 9, security: 'none', tlsVerify: false, caFile: null,
        pinSha256: null, clientCert: null, clientKey: null, tlsServername: null, username: null, password: null, authMethod: null,
        helo: null, forceSender: null, preconnect: null, timeouts: { connect: 5000, greeting: 5000, command: 5000, data: 5000 } },
    },
    routes: [{ name: 'default', match: null, transports: ['relay'], mode: 'fallback', fallbackAfter: 0 }],
  };
}

function makeRuntime(config: Config): Runtime & { log: ReturnType<typeof memoryLogger> } {
  return { config, log: memoryLogger(), spool: openSpool({ dir: config.spool.dir, mode: config.spool.mode, maxMessageSize: config.general.maxMessageSize }),
    spoolOwner: true, verbose: false };
}

interface Reply { code: number; text: string }

/** A line-level SMTP client on a raw socket, to see exact replies and to hang up rudely. */
class Client {
  private buf = '';
  private waiting: (() => void) | null = null;
  closed = false;
  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => { this.buf += d; this.waiting?.(); });
    socket.on('close', () => { this.closed = true; this.waiting?.(); });
    socket.on('error', () => {});
  }

  static connect(port: number, localAddress?: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) }, () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }

  async reply(ms = 5000): Promise<Reply> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = /^((?:\d{3}-[^\n]*\n)*)(\d{3}) ([^\n]*)\n/.exec(this.buf.replace(/\r\n/g, '\n'));
      if (m) {
        const consumed = m[0].replace(/\n/g, '\r\n').length;
        this.buf = this.buf.slice(consumed);
        return { code: Number(m[2]), text: (m[1] ?? '') + m[3] };
      }
      if (this.closed) return { code: 0, text: 'closed' };
      if (Date.now() > deadline) throw new Error(`no reply within ${ms} ms; got ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => { this.waiting = r; setTimeout(r, 50); });
    }
  }

  write(s: string): void { this.socket.write(s); }

  async cmd(line: string): Promise<Reply> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  /** EHLO, MAIL, RCPT, DATA and the message (dot-stuffed); returns the reply to the final dot. */
  async send(from: string, to: string[], message: string): Promise<Reply> {
    assert.equal((await this.cmd('EHLO client.test')).code, 250);
    assert.equal((await this.cmd(`MAIL FROM:<${from}>`)).code, 250);
    for (const r of to) assert.equal((await this.cmd(`RCPT TO:<${r}>`)).code, 250);
    assert.equal((await this.cmd('DATA')).code, 354);
    return this.cmd(`${dotStuff(message)}\r\n.`);
  }

  destroy(): void { this.socket.destroy(); }
}

/** The message as DATA content, without the final CRLF (the terminator "\r\n." adds it). */
const dotStuff = (m: string) => m.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..').replace(/\r\n$/, '');

/** The message body (after the header block) of a spooled message. */
function bodyOf(message: Buffer): Buffer {
  const i = message.indexOf('\n\n');
  return message.subarray(i + 2);
}

async function spooledMessages(config: Config): Promise<Array<{ id: string; sender: string; recipients: string[]; uid: number; user: string; via: string; message: Buffer }>> {
  const spool = openSpool({ dir: config.spool.dir });
  const out = [];
  for (const m of await spool.list('queue')) {
    const c = await spool.claim(m.id);
    assert.ok(c, `message ${m.id} can be claimed`);
    const message = await c.readMessage();
    await c.release();
    out.push({ id: m.id, sender: m.envelope.sender, recipients: m.envelope.recipients, uid: m.envelope.uid, user: m.envelope.user,
      via: m.envelope.via, message });
  }
  return out;
}

async function listenerFor(config: Config, log = memoryLogger(), trustedNetworks?: string[], idleTimeoutMs?: number) {
  const spool = openSpool({ dir: config.spool.dir, mode: config.spool.mode, maxMessageSize: config.general.maxMessageSize });
  const l = await startListener({
    config: () => config, log, listen: [{ host: '127.0.0.1', port: 0 }], trustedNetworks, idleTimeoutMs,
    queue: (req) => spool.submit({ sender: req.sender, recipients: req.recipients, submittedAt: Date.now(), uid: req.uid, user: req.user, via: 'smtp' },
      req.message),
  });
  cleanups.push(() => l.close());
  return { port: l.addresses[0]!.port, listener: l, log };
}

async function waitFor<T>(fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const BODY = 'First line\n.a line that starts with a dot\n..two dots\nUTF-8: Grüße, 日本\n' + 'x'.repeat(2000) + '\n\ttab line  \nlast line\n';
const MESSAGE = `From: app@test.example\nTo: ops@remote.example\nSubject: report\n\n${BODY}`;

describe('peer classification (pure)', () => {
  test('isLoopback', () => {
    const cases: Array<[string, boolean]> = [
      ['127.0.0.1', true], ['127.1.2.3', true], ['127.255.255.254', true], ['::1', true], ['0:0:0:0:0:0:0:1', true],
      ['::ffff:127.0.0.1', true], ['::FFFF:127.9.9.9', true], ['::1%lo', true],
      ['10.0.0.1', false], ['192.168.1.5', false], ['128.0.0.1', false], ['126.255.255.255', false], ['::2', false],
      ['::ffff:10.0.0.1', false], ['fe80::1', false], ['2001:db8::1', false], ['0.0.0.0', false], ['::', false],
      ['localhost', false], ['', false], ['garbage', false],
    ];
    for (const [addr, want] of cases) assert.equal(isLoopback(addr), want, addr);
  });

  test('normalizeIp', () => {
    assert.equal(normalizeIp('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(normalizeIp('0:0:0:0:0:ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(normalizeIp('FE80::1%eth0'), 'fe80::1');
    assert.equal(normalizeIp('2001:db8::ffff:1.2.3.4'), '2001:db8::ffff:1.2.3.4');
  });

  test('NetworkList and the relay decision', () => {
    const trusted = new NetworkList(['127.0.0.1/32']);
    const allow = new NetworkList(['10.1.0.0/16', '2001:db8::/32']);
    assert.equal(classifyPeer('127.0.0.1', trusted, allow), 'trusted');
    assert.equal(classifyPeer('::ffff:127.0.0.1', trusted, allow), 'trusted');
    assert.equal(classifyPeer('127.0.0.2', trusted, allow), 'refused');
    assert.equal(classifyPeer('10.1.200.3', trusted, allow), 'relay-auth');
    assert.equal(classifyPeer('::ffff:10.1.0.9', trusted, allow), 'relay-auth');
    assert.equal(classifyPeer('2001:db8:5::1', trusted, allow), 'relay-auth');
    assert.equal(classifyPeer('10.2.0.1', trusted, allow), 'refused');
    assert.equal(relayVerdict('trusted', false, false), 'ok');
    assert.equal(relayVerdict('relay-auth', false, true), 'auth-required');
    assert.equal(relayVerdict('relay-auth', true, false), 'auth-required');
    assert.equal(relayVerdict('relay-auth', true, true), 'ok');
    assert.equal(relayVerdict('refused', true, true), 'denied');
    assert.throws(() => new NetworkList(['10.0.0.1/8']), (e: SysmailError) => e.exit === EX.CONFIG && /allow_relay_from.*host bits/.test(e.message));
    assert.throws(() => new NetworkList(['nonsense']), /not an IP address/);
  });

  test('parseListen', () => {
    assert.deepEqual(parseListen('127.0.0.1:25'), { host: '127.0.0.1', port: 25 });
    assert.deepEqual(parseListen('[::1]:2525'), { host: '::1', port: 2525 });
    assert.deepEqual(parseListen('localhost:0'), { host: 'localhost', port: 0 });
    for (const bad of ['127.0.0.1', '::1:25', '[nothost]:25', '127.0.0.1:99999', ':25']) assert.equal(parseListen(bad), null, bad);
  });

  test('bind errors say what to do', () => {
    const addr = { host: '127.0.0.1', port: 25 };
    const err = (code: string) => Object.assign(new Error(code), { code });
    const acces = bindError(addr, err('EACCES'));
    assert.equal(acces.exit, EX.NOPERM);
    assert.match(acces.message, /127\.0\.0\.1:25.*permission denied/);
    assert.match(acces.hint ?? '', /CAP_NET_BIND_SERVICE|root/);
    const inuse = bindError(addr, err('EADDRINUSE'));
    assert.equal(inuse.exit, EX.UNAVAILABLE);
    assert.match(inuse.message, /already in use/);
    assert.match(inuse.hint ?? '', /ss -ltnp/);
    assert.equal(bindError({ host: '::1', port: 25 }, err('EADDRNOTAVAIL')).exit, EX.CONFIG);
    assert.match(bindError({ host: '::1', port: 25 }, err('EADDRNOTAVAIL')).message, /\[::1\]:25/);
  });

  test('queue failures become 451 or 554, never 250', () => {
    const full = Object.assign(new Error('no space left'), { code: 'ENOSPC' });
    const r1 = queueFailure(tempError('ELOCALIO', 'cannot queue the message: ENOSPC', full)) as Error & { responseCode: number };
    assert.equal(r1.responseCode, 451);
    assert.match(r1.message, /^4\.3\.0 .*ENOSPC/);
    const r2 = queueFailure(new SysmailError('ENUL', 'the message contains a NUL byte', { exit: EX.DATAERR, smtpCode: 554, dsn: '5.6.0' })) as Error & { responseCode: number };
    assert.equal(r2.responseCode, 554);
    const r3 = queueFailure(new Error('boom')) as Error & { responseCode: number };
    assert.equal(r3.responseCode, 451);
  });

  test('Received header names the client and cannot be injected into', () => {
    const h = receivedHeader({ helo: 'evil\r\nBcc: x@y', ip: '127.0.0.1', uid: 0, hostname: 'mx.test.example', esmtp: true, secure: true,
      authenticated: true, date: new Date(0) });
    assert.equal(h.split('\n').filter((l) => /^\S/.test(l)).length, 1, 'one header field');
    assert.match(h, /^Received: from evil\?\?Bcc:\?x@y \(\[127\.0\.0\.1\]\)\n\tby mx\.test\.example \(sysmail\) with ESMTPSA;\n\t/);
  });

  test('wakeDelay', () => {
    const o = { maxSleepMs: 300_000, busyRetryMs: 1000 };
    assert.equal(wakeDelay(null, 1000, o), 300_000);
    assert.equal(wakeDelay(6000, 1000, o), 5005);
    assert.equal(wakeDelay(10_000_000, 0, o), 300_000);
    assert.equal(wakeDelay(500, 1000, o), 1000);
  });
});

describe('listener', () => {
  test('250 only once the message is in the spool; envelope, body and log are right', async () => {
    const config = makeConfig(scratch());
    const { port, log } = await listenerFor(config);
    const c = await Client.connect(port);
    const greeting = await c.reply();
    assert.equal(greeting.code, 220);
    assert.match(greeting.text, /mx\.test\.example ESMTP/);
    const ehlo = await c.cmd('EHLO client.test');
    assert.match(ehlo.text, /SIZE 1048576/);
    assert.match(ehlo.text, /8BITMIME/);
    assert.match(ehlo.text, /SMTPUTF8/);
    assert.doesNotMatch(ehlo.text, /STARTTLS|AUTH|DSN|REQUIRETLS/, 'nothing we do not support is offered');
    assert.equal((await c.cmd('MAIL FROM:<app@test.example> BODY=8BITMIME SMTPUTF8')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<ops@remote.example>')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<postmaster>')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<jörg@bücher.example>')).code, 250, 'SMTPUTF8 address');
    assert.equal((await c.cmd('DATA')).code, 354);
    const done = await c.cmd(`${dotStuff(MESSAGE)}\r\n.`);
    assert.equal(done.code, 250);
    const id = /queued as (\S+)/.exec(done.text)?.[1];
    assert.ok(id, done.text);
    // The reply came after submit resolved, so the message is there now, not eventually.
    const [m, ...rest] = await spooledMessages(config);
    assert.equal(rest.length, 0);
    assert.equal(m!.id, id);
    assert.equal(m!.sender, 'app@test.example');
    assert.deepEqual(m!.recipients, ['ops@remote.example', 'postmaster@test.example', 'jörg@bücher.example']);
    assert.equal(m!.uid, process.getuid!());
    assert.equal(m!.user, 'smtp:127.0.0.1');
    assert.equal(m!.via, 'smtp');
    assert.deepEqual(bodyOf(m!.message), Buffer.from(BODY));
    const text = m!.message.toString();
    assert.match(text, /^Received: from client\.test \(\[127\.0\.0\.1\]\)\n\tby mx\.test\.example \(sysmail\) with ESMTP;/);
    assert.match(text, /\nMessage-ID: /i);
    assert.match(text, /\nDate: /);
    assert.equal((await c.cmd('QUIT')).code, 221);
    c.destroy();
    assert.equal(log.events.length, 0, 'nothing rejected');
  });

  test('a client that hangs up right after 250 without QUIT (dnf-automatic) loses nothing', async () => {
    const config = makeConfig(scratch());
    const { port } = await listenerFor(config);
    const c = await Client.connect(port);
    await c.reply();
    const r = await c.send('root@test.example', ['ops@remote.example'], 'Subject: dnf\n\nupdates available\n');
    assert.equal(r.code, 250);
    c.destroy();
    // And one that sends the final dot and closes at once, without waiting for the reply.
    const c2 = await Client.connect(port);
    await c2.reply();
    for (const line of ['EHLO x', 'MAIL FROM:<root@test.example>', 'RCPT TO:<ops@remote.example>', 'DATA']) assert.ok((await c2.cmd(line)).code < 400);
    c2.socket.end('Subject: gone\r\n\r\nbye\r\n.\r\n');
    const msgs = await waitFor(async () => { const l = await spooledMessages(config); return l.length === 2 && l; }, 5000, 'two queued messages');
    assert.deepEqual(msgs.map((m) => bodyOf(m.message).toString()).sort(), ['bye\n', 'updates available\n']);
  });

  test('over-size DATA gets 552 5.3.4 and nothing is queued', async () => {
    const config = makeConfig(scratch(), { maxMessageSize: 4096 });
    const { port, log } = await listenerFor(config);
    const c = await Client.connect(port);
    await c.reply();
    const r = await c.send('app@test.example', ['ops@remote.example'], `Subject: big\n\n${'y'.repeat(200)}\n`.repeat(40));
    assert.equal(r.code, 552);
    assert.match(r.text, /^5\.3\.4 /);
    // The session goes on; a declared size over the limit is refused at MAIL.
    assert.equal((await c.cmd('MAIL FROM:<app@test.example> SIZE=999999')).code, 552);
    const ok = await c.send('app@test.example', ['ops@remote.example'], 'Subject: small\n\nfits\n');
    assert.equal(ok.code, 250);
    c.destroy();
    const msgs = await spooledMessages(config);
    assert.equal(msgs.length, 1);
    assert.equal(bodyOf(msgs[0]!.message).toString(), 'fits\n');
    assert.ok(log.events.some((e) => e.event === 'rejected' && /max_message_size/.test(e.reason ?? '')));
  });

  test('an idle client is told 421 and dropped', async () => {
    const config = makeConfig(scratch());
    const { port } = await listenerFor(config, memoryLogger(), undefined, 300);
    const c = await Client.connect(port);
    assert.equal((await c.reply()).code, 220);
    await c.cmd('EHLO idle.test');
    const t0 = Date.now();
    const r = await c.reply(3000);
    assert.equal(r.code, 421);
    assert.match(r.text, /Timeout/);
    assert.ok(Date.now() - t0 >= 250);
    await waitFor(() => c.closed, 3000, 'the server to close');
  });

  test('bad envelope addresses are refused with a reason', async () => {
    const config = makeConfig(scratch());
    const { port } = await listenerFor(config);
    const c = await Client.connect(port);
    await c.reply();
    await c.cmd('EHLO client.test');
    const badFrom = await c.cmd('MAIL FROM:<-oQ/tmp@test.example>');
    assert.equal(badFrom.code, 553);
    assert.match(badFrom.text, /5\.1\.7 Bad sender address/);
    assert.equal((await c.cmd('MAIL FROM:<>')).code, 250, 'the null sender is allowed');
    const badRcpt = await c.cmd('RCPT TO:<-oX@remote.example>');
    assert.equal(badRcpt.code, 553);
    assert.match(badRcpt.text, /5\.1\.3 Bad recipient address:.*-oX/);
    assert.equal((await c.cmd('RCPT TO:<not an address>')).code, 501);
    assert.equal((await c.cmd('DATA')).code, 503, 'no valid recipient, no DATA');
    c.destroy();
  });

  test('trouble while queuing answers 451 with the reason, never 250', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'file'), 'not a directory');
    const config = makeConfig(dir);
    config.spool.dir = join(dir, 'file', 'spool');
    const { port } = await listenerFor(config);
    const c = await Client.connect(port);
    await c.reply();
    const r = await c.send('app@test.example', ['ops@remote.example'], 'Subject: x\n\ny\n');
    assert.equal(r.code, 451);
    assert.match(r.text, /^4\.3\.0 Message not queued: .*ENOTDIR/);
    c.destroy();
  });

  test('a 250 survives a SIGKILL of the server right after the reply', async () => {
    const dir = scratch();
    const config = makeConfig(dir);
    const cfgFile = join(dir, 'config.json');
    writeFileSync(cfgFile, JSON.stringify(config));
    const child = spawn(process.execPath, [join(fixtures, 'server', 'listen.mjs'), buildDir, cfgFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => child.kill('SIGKILL'));
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_code, sig) => r(sig)));
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d) => { out += d; const m = /^(\d+)\n/.exec(out); if (m) resolve(Number(m[1])); });
      child.on('exit', () => reject(new Error('listener fixture exited early')));
    });
    const c = await Client.connect(port);
    await c.reply();
    for (const line of ['EHLO crash.test', 'MAIL FROM:<app@test.example>', 'RCPT TO:<ops@remote.example>', 'DATA']) assert.ok((await c.cmd(line)).code < 400);
    c.write(`${dotStuff(MESSAGE)}\r\n.\r\n`);
    // Kill the server the moment the 250 arrives.
    await new Promise<void>((resolve) => {
      let seen = '';
      const onData = (d: string) => { seen += d; if (/^250 /m.test(seen)) { child.kill('SIGKILL'); c.socket.off('data', onData); resolve(); } };
      c.socket.on('data', onData);
    });
    assert.equal(await exited, 'SIGKILL');
    c.destroy();
    const msgs = await spooledMessages(config);
    assert.equal(msgs.length, 1, 'the acknowledged message is in the spool');
    assert.deepEqual(bodyOf(msgs[0]!.message), Buffer.from(BODY), 'byte-identical body');
    assert.deepEqual(msgs[0]!.recipients, ['ops@remote.example']);
  });
});

describe('relay rules on the server path', () => {
  test('a non-trusted client outside allow_relay_from is refused with 554 5.7.1', async () => {
    const config = makeConfig(scratch(), { listener: { allowRelayFrom: ['10.0.0.0/8'] } });
    const log = memoryLogger();
    // 127.0.0.2 plays a remote host: only 127.0.0.1 is trusted here.
    const { port } = await listenerFor(config, log, ['127.0.0.1/32']);
    const c = await Client.connect(port, '127.0.0.2');
    const r = await c.reply();
    assert.equal(r.code, 554);
    assert.match(r.text, /5\.7\.1 Relay access denied for \[127\.0\.0\.2\]/);
    await waitFor(() => c.closed, 3000, 'the server to close');
    assert.ok(log.events.some((e) => e.event === 'rejected' && /127\.0\.0\.2/.test(e.reason ?? '') && /allow_relay_from/.test(e.reason ?? '')));
    // 127.0.0.1 is still fine.
    const ok = await Client.connect(port, '127.0.0.1');
    assert.equal((await ok.reply()).code, 220);
    assert.equal((await ok.send('a@test.example', ['b@remote.example'], 'Subject: x\n\ny\n')).code, 250);
    ok.destroy();
  });

  test('a client in allow_relay_from must AUTH over STARTTLS; then it may relay', async () => {
    const certs = await makeCerts();
    const config = makeConfig(scratch(), { listener: {
      allowRelayFrom: ['127.0.0.2/32'], tlsCert: certs.certFile, tlsKey: certs.keyFile,
      users: { relay: { value: 's3cret pass' }, other: { env: 'SYSMAIL_TEST_LISTENER_SECRET' } },
    } });
    process.env.SYSMAIL_TEST_LISTENER_SECRET = 'other-secret';
    const log = memoryLogger();
    const { port } = await listenerFor(config, log, ['127.0.0.1/32']);

    // Without AUTH: refused at MAIL.
    const c = await Client.connect(port, '127.0.0.2');
    assert.equal((await c.reply()).code, 220);
    const ehlo = await c.cmd('EHLO remote.test');
    assert.match(ehlo.text, /STARTTLS/);
    assert.doesNotMatch(ehlo.text, /AUTH/, 'AUTH is not offered before STARTTLS');
    assert.equal((await c.cmd('AUTH PLAIN AHJlbGF5AHMzY3JldCBwYXNz')).code, 538, 'no AUTH before TLS');
    const mail = await c.cmd('MAIL FROM:<a@test.example>');
    assert.equal(mail.code, 530);
    c.destroy();

    const send = (user: string, pass: string) => nodemailer.createTransport({
      host: '127.0.0.1', port, secure: false, requireTLS: true, localAddress: '127.0.0.2', name: 'remote.test',
      tls: { ca: certs.caPem, servername: 'localhost' }, auth: { user, pass }, connectionTimeout: 5000,
    }).sendMail({ envelope: { from: 'app@remote.test', to: ['ops@remote.example'] }, raw: 'Subject: relayed\r\n\r\nvia auth\r\n' });

    await assert.rejects(send('relay', 'wrong'), (e: Error & { responseCode?: number }) => e.responseCode === 535);
    const info = await send('relay', 's3cret pass');
    assert.match(info.response, /^250 Ok: queued as /);
    await send('other', 'other-secret');
    const msgs = await spooledMessages(config);
    assert.equal(msgs.length, 2);
    for (const m of msgs) {
      assert.equal(m.user, 'smtp:127.0.0.2');
      assert.match(m.message.toString(), /with ESMTPSA;/);
    }
    assert.ok(log.events.some((e) => e.event === 'rejected' && /AUTH PLAIN failed for user "relay"/.test(e.reason ?? '')));
    assert.ok(!JSON.stringify(log.events).includes('wrong'), 'no password in the log');
  });
});

describe('queue runner inside serve', () => {
  test('triggers during a pass are coalesced into one more pass', async () => {
    let running = 0;
    let max = 0;
    const runner = new QueueRunner({
      pass: async () => { running++; max = Math.max(max, running); await new Promise((r) => setTimeout(r, 80)); running--; },
      nextDue: async () => null,
      watchDirs: [],
      log: memoryLogger(),
    });
    runner.start();
    for (let i = 0; i < 5; i++) runner.trigger('test');
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 5; i++) runner.trigger('test');
    await runner.idle();
    assert.equal(runner.passes, 2);
    assert.equal(max, 1, 'never two passes at once');
    assert.equal(await runner.stop(1000), true);
  });

  let sink: Sink;
  let daemon: Daemon;
  let config: Config;
  let rt: ReturnType<typeof makeRuntime>;
  const later = new Set<string>();

  test('start serve with a sink as smarthost', async () => {
    sink = await startSink({
      tls: 'none',
      // The first attempt for a "later" recipient is deferred, the next accepted.
      rejectRcpt: (a) => (a.startsWith('later') && !later.has(a) ? (later.add(a), { code: 451, message: '4.3.2 try again later' }) : null),
    });
    cleanups.push(() => sink.close());
    config = makeConfig(scratch(), { sinkPort: sink.port, retryMinMs: 1500 });
    rt = makeRuntime(config);
    daemon = await startDaemon(rt, { listen: ['127.0.0.1:0'] });
    cleanups.push(() => daemon.stop());
    assert.equal(daemon.addresses.length, 1);
    assert.equal(readFileSync(join(config.spool.dir, SERVE_PID_FILE), 'utf8').trim(), String(process.pid));
  });

  test('a message accepted by the listener is delivered at once, with no flush', async () => {
    const t0 = Date.now();
    const c = await Client.connect(daemon.addresses[0]!.port);
    await c.reply();
    assert.equal((await c.send('app@test.example', ['now@remote.example'], MESSAGE)).code, 250);
    c.destroy();
    const [m] = await sink.waitFor(1, 3000);
    assert.ok(Date.now() - t0 < 3000);
    assert.deepEqual(m!.to, ['now@remote.example']);
    assert.deepEqual(bodyOf(Buffer.from(m!.data.toString('latin1').replace(/\r\n/g, '\n'), 'latin1')), Buffer.from(BODY));
    const accepted = rt.log.events.find((e) => e.event === 'accepted');
    assert.match(accepted?.reason ?? '', /via smtp from 127\.0\.0\.1 by smtp:127\.0\.0\.1/);
    await waitFor(async () => (await rt.spool.list('queue')).length === 0, 3000, 'the queue to empty');
  });

  test('messages another process puts in queue/ or drop/ are delivered without a flush', async () => {
    const run = (how: string, rcpt: string) => new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [join(fixtures, 'server', 'submit.mjs'), buildDir, config.spool.dir, how, rcpt], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`submit.mjs exited ${code}`))));
    });
    await run('queue', 'queued@remote.example');
    await sink.waitFor(2, 3000);
    await run('drop', 'dropped@remote.example');
    const all = await sink.waitFor(3, 3000);
    assert.deepEqual(all.slice(1).map((m) => m.to[0]), ['queued@remote.example', 'dropped@remote.example']);
  });

  test('a deferred message is retried when it is due, not before and not by polling', async () => {
    const c = await Client.connect(daemon.addresses[0]!.port);
    await c.reply();
    assert.equal((await c.send('app@test.example', ['later@remote.example'], 'Subject: retry\n\nplease\n')).code, 250);
    c.destroy();
    const deferred = await waitFor(() => rt.log.events.find((e) => e.event === 'deferred' && e.rcpt === 'later@remote.example'), 3000, 'a deferral');
    const deferredAt = Date.now();
    const queued = await waitFor(async () => (await rt.spool.list('queue')).find((m) => m.state.nextAttemptAt > 0), 2000, 'the deferred state');
    assert.ok(queued.state.nextAttemptAt > deferredAt + 500, 'a retry time in the future (retry_min is 1.5 s)');
    await daemon.runner.idle();
    assert.ok(daemon.runner.wakeAt !== null && Math.abs(daemon.runner.wakeAt - queued.state.nextAttemptAt) < 50,
      `the runner sleeps until the retry is due (wake ${daemon.runner.wakeAt}, due ${queued.state.nextAttemptAt})`);
    const msgs = await sink.waitFor(4, 4000);
    const deliveredAt = Date.now();
    assert.equal(msgs[3]!.to[0], 'later@remote.example');
    assert.ok(deliveredAt >= queued.state.nextAttemptAt, 'not before it was due');
    assert.ok(deliveredAt - queued.state.nextAttemptAt < 1500, 'and soon after');
    assert.equal(deferred.smtp_code ?? 451, 451);
  });

  test('stop removes the pid file', async () => {
    await daemon.stop();
    assert.equal(existsSync(join(config.spool.dir, SERVE_PID_FILE)), false);
  });
});

describe('daemon guards', () => {
  test('refuses to run without owning the spool, and a second serve', async () => {
    const config = makeConfig(scratch());
    const rt = makeRuntime(config);
    await assert.rejects(startDaemon({ ...rt, spoolOwner: false }, { listen: [] }),
      (e: SysmailError) => e.exit === EX.NOPERM && /root or as the owner of the spool/.test(e.message) && /systemctl/.test(e.hint ?? ''));
    mkdirSync(config.spool.dir, { recursive: true });
    writeFileSync(join(config.spool.dir, SERVE_PID_FILE), `${process.ppid}\n`);
    await assert.rejects(startDaemon(rt, { listen: [] }), (e: SysmailError) => e.exit === EX.UNAVAILABLE && /already running/.test(e.message));
    // A stale pid file (dead process) is taken over.
    writeFileSync(join(config.spool.dir, SERVE_PID_FILE), '999999999\n');
    const d = await startDaemon(rt, { listen: [] });
    assert.deepEqual(d.addresses, []);
    await d.stop();
  });

  test('a port already in use is a clear error and leaves no pid file', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => busy.close(r)));
    const port = (busy.address() as net.AddressInfo).port;
    const config = makeConfig(scratch());
    await assert.rejects(startDaemon(makeRuntime(config), { listen: [`127.0.0.1:${port}`] }),
      (e: SysmailError) => e.exit === EX.UNAVAILABLE && e.message.includes(`127.0.0.1:${port}`) && /in use/.test(e.message));
    assert.equal(existsSync(join(config.spool.dir, SERVE_PID_FILE)), false);
  });

  test('reload keeps the old config when the new one is broken', async () => {
    const config = makeConfig(scratch());
    const rt = makeRuntime(config);
    let next: () => Config = () => { throw new SysmailError('EBADCONFIG', 'sysmail.toml:3: general.max_message_size: bad', { exit: EX.CONFIG }); };
    const d = await startDaemon(rt, { listen: ['127.0.0.1:0'], loadConfig: async () => next() });
    cleanups.push(() => d.stop());
    const stderr = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      assert.equal(await d.reload(), false);
    } finally {
      process.stderr.write = stderr;
    }
    assert.equal(d.runtime().config, config);
    assert.ok(rt.log.events.some((e) => e.event === 'error' && /reload failed.*max_message_size/.test(e.reason ?? '')));
    next = () => ({ ...config, general: { ...config.general, maxMessageSize: 2048 } });
    assert.equal(await d.reload(), true);
    const c = await Client.connect(d.addresses[0]!.port);
    await c.reply();
    assert.match((await c.cmd('EHLO x')).text, /SIZE 2048/, 'the new limit is announced');
    c.destroy();
    await d.stop();
  });
});

describe('sysmail serve (the CLI, from the build)', () => {
  const mainJs = join(buildDir, 'src', 'cli', 'main.js');

  test('prints where it listens, reloads on SIGHUP, exits 0 on SIGTERM', async () => {
    const dir = scratch();
    const cfg = join(dir, 'sysmail.toml');
    const good = `[general]\nhostname = "mx.test.example"\n[spool]\ndir = "${join(dir, 'spool')}"\n[log]\nfile = "${join(dir, 'log', 'sysmail.log')}"\n` +
      `[transports.box]\ntype = "maildir"\npath = "${join(dir, 'Maildir')}"\n`;
    writeFileSync(cfg, good);
    const child: ChildProcess = spawn(process.execPath, [mainJs, 'serve', '--config', cfg, '--listen', '127.0.0.1:0'],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH, HOME: dir } });
    cleanups.push(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr!.on('data', (d) => { stderr += d; });
    const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const port = Number((await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(stderr), 10_000, `the listening line (stderr: ${stderr})`))[1]);
    assert.equal(readFileSync(join(dir, 'spool', SERVE_PID_FILE), 'utf8').trim(), String(child.pid));

    writeFileSync(cfg, good + '[general.oops\n');
    child.kill('SIGHUP');
    await waitFor(() => /reload failed, the old configuration stays in use/.test(stderr), 5000, 'the reload error');
    writeFileSync(cfg, good);
    child.kill('SIGHUP');
    await waitFor(() => /sysmail: configuration reloaded from .*sysmail\.toml: 1 transport\(s\), 1 route\(s\)\n/.test(stderr), 5000, `the reload line without -v (stderr: ${stderr})`);
    writeFileSync(cfg, good.replace('sysmail.log', 'other.log'));
    child.kill('SIGHUP');
    await waitFor(() => /reloaded .*; log\.file changed and take effect after a restart/.test(stderr), 5000, 'what needs a restart');
    const logged = readFileSync(join(dir, 'log', 'sysmail.log'), 'utf8');
    assert.match(logged, /"event":"reloaded","id":null.*"status":"ok"/, 'the reload is in the event log');
    writeFileSync(cfg, good);

    const c = await Client.connect(port);
    assert.equal((await c.reply()).code, 220, 'still serving after a bad reload');
    assert.equal((await c.send('root@mx.test.example', ['root@mx.test.example'], 'Subject: cli\n\nto the maildir\n')).code, 250);
    c.destroy();
    await waitFor(() => {
      const nd = join(dir, 'Maildir', 'new');
      return existsSync(nd) && readdirSync(nd).length > 0;
    }, 5000, 'delivery into the Maildir');

    child.kill('SIGTERM');
    assert.equal(await exit, 0, stderr);
    assert.equal(existsSync(join(dir, 'spool', SERVE_PID_FILE)), false);
  });

  // Tests run as root (as the spool tests do): the child drops to nobody.
  test('refuses an unprivileged user with EX_NOPERM', async () => {
    const dir = scratch();
    chmodSync(dir, 0o755);
    const cfg = join(dir, 'sysmail.toml');
    writeFileSync(cfg, `[spool]\ndir = "${join(dir, 'spool')}"\n[log]\nfile = "${join(dir, 'sysmail.log')}"\n`);
    chmodSync(cfg, 0o644);
    mkdirSync(join(dir, 'spool', 'queue'), { recursive: true, mode: 0o700 });
    mkdirSync(join(dir, 'spool', 'tmp'), { recursive: true, mode: 0o700 });
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [mainJs, 'serve', '--config', cfg, '--no-listen'], { uid: 65534, gid: 65534, stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH } });
      let stderr = '';
      child.stderr.on('data', (d) => { stderr += d; });
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    assert.equal(r.code, EX.NOPERM, r.stderr);
    assert.match(r.stderr, /must run as root or as the owner of the spool/);
    assert.match(r.stderr, /fix: /);
  });
});

describe('malformed address lists on the listener (issue 14)', () => {
  test('a To header that lists a second <addr> after the first is refused with 501 5.1.3 naming it; nothing is queued', async () => {
    const config = makeConfig(scratch());
    const { port } = await listenerFor(config);
    const c = await Client.connect(port);
    await c.reply();
    const r = await c.send('app@test.example', ['ops@remote.example'], 'To: Name <a@b.example> <c@d.example>\nSubject: s\n\nbody\n');
    assert.equal(r.code, 501, r.text);
    assert.match(r.text, /5\.1\.3 .*malformed address list in the To header: text after "<a@b\.example>": "<c@d\.example>"/);
    assert.deepEqual(await spooledMessages(config), []);
    // The session goes on: a well-formed message is accepted.
    assert.equal((await c.send('app@test.example', ['ops@remote.example'], 'To: Name <a@b.example>, <c@d.example>\nSubject: s\n\nbody\n')).code, 250);
    c.destroy();
  });
});
