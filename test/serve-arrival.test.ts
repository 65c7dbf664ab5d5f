/**
 * What makes SMTP submission-to-arrival through `sysmail serve` fast (issue 13, item 2), each
 * against real parts: a real serve (listener, spool on disk, queue runner) relaying to a
 * scripted SMTP server on 127.0.0.1 that records every command on every connection.
 * - the outgoing connection is kept from one delivery pass to the next, and QUIT after the idle time;
 * - a relay that closed the kept connection meanwhile costs a reconnect, never a deferral;
 * - the message the listener accepted gets a pass of its own: no queue scan, no maintenance, and
 *   its own file event in queue/ does not start a second, full pass;
 * - the per-client session limits still hold once enough sessions are open (slots.ts);
 * - the delivery of the message just accepted overlaps its commit (Spool.claimCommitting): the relay
 *   gets everything but the final dot while the fsyncs run, the dot only once the commit is durable
 *   and claimed, and nothing at all (no dot, no log line) when it never is;
 * - the early delivery (early-delivery.ts): MAIL FROM, RCPT TO and DATA go to the relay at the
 *   client's DATA command, the data and the dot once the message is in queue/; a client that goes
 *   away, a message refused or a commit that fails before that leaves the relay with nothing.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../src/config/types.js';
import type { Runtime } from '../src/submit/runtime.js';
import { memoryLogger } from '../src/log/logger.js';
import { openSpool } from '../src/spool/file-spool.js';
import { startDaemon, type Daemon } from '../src/server/daemon.js';
import { QueueRunner } from '../src/server/queue-runner.js';
import { runQueue } from '../src/delivery/runner.js';
import { TransportPool } from '../src/transports/registry.js';
import type { Envelope } from '../src/spool/types.js';
import { renameSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { Slots } from '../src/server/slots.js';
import { cliPath, tempDir } from './helpers/paths.js';
import { smtpSession, startRawSmtp, type RawServer } from './helpers/raw-smtp.js';

const cleanups: Array<() => unknown> = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

function scratch(): string {
  const d = tempDir('sysmail-arrival-');
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function makeConfig(dir: string, relayPort: number): Config {
  return {
    source: null,
    general: { hostname: 'mx.test.example', domain: 'test.example', admin: 'root', localDomains: ['mx.test.example', 'test.example', 'localhost'],
      aliases: null, maxMessageSize: 1024 * 1024, tagHost: false },
    spool: { dir: join(dir, 'spool'), mode: 'disk', maxLifetime: 86_400_000, retryMin: 60_000, retryMax: 240_000 },
    log: { file: null, syslog: false },
    listener: { listen: ['127.0.0.1:0'], allowRelayFrom: [], tlsCert: null, tlsKey: null, users: {}, earlyDelivery: true },
    metrics: { file: null, minInterval: 60_000 }, alerts: { via: [], to: 'root', delayWarning: 14_400_000, delayDsn: false },
    transports: {
      relay: { name: 'relay', type: 'smtp', host: '127.0.0.1', port: relayPort, security: 'none', tlsVerify: false, caFile: null,
        pinSha256: null, clientCert: null, clientKey: null, tlsServername: null, username: null, password: null, authMethod: null,
        helo: null, forceSender: null, preconnect: null, timeouts: { connect: 5000, greeting: 5000, command: 5000, data: 5000 } },
    },
    routes: [{ name: 'default', match: null, transports: ['relay'], mode: 'fallback', fallbackAfter: 0 }],
  } as Config;
}

/**
 * A serve relaying to `relay`; `tweak` changes the config first (its scratch directory given);
 * `reloadable`: reload() reads the same config again.
 */
async function serve(relay: RawServer, keepIdleMs: number, tweak?: (config: Config, dir: string) => void,
  reloadable = false): Promise<{ daemon: Daemon; rt: Runtime & { log: ReturnType<typeof memoryLogger> } }> {
  const dir = scratch();
  const config = makeConfig(dir, relay.port);
  tweak?.(config, dir);
  const rt = { config, log: memoryLogger(), spool: openSpool({ dir: config.spool.dir, mode: config.spool.mode, maxMessageSize: config.general.maxMessageSize }),
    spoolOwner: true, verbose: false };
  const daemon = await startDaemon(rt, { listen: ['127.0.0.1:0'], keepIdleMs, ...(reloadable ? { loadConfig: async () => config } : {}) });
  cleanups.push(() => daemon.stop());
  await daemon.runner.idle();
  return { daemon, rt };
}

/** One message over a fresh connection, as dnf-automatic's smtplib sends it; resolves with the reply to the final dot. */
function submit(port: number, rcpt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const script = ['EHLO client.test', 'MAIL FROM:<app@test.example>', `RCPT TO:<${rcpt}>`, 'DATA', `Subject: to ${rcpt}\r\n\r\nhello\r\n.`, 'QUIT'];
    let buf = '';
    let step = -1;
    let final = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let m = /^(\d{3})([ -])([^\r\n]*)\r\n/.exec(buf); m; m = /^(\d{3})([ -])([^\r\n]*)\r\n/.exec(buf)) {
        buf = buf.slice(m[0].length);
        if (m[2] === '-') continue;
        if (step === 4) final = `${m[1]} ${m[3]}`;
        step++;
        if (step < script.length) s.write(`${script[step]}\r\n`);
      }
    });
    s.on('close', () => resolve(final));
    s.on('error', reject);
  });
}

async function until<T>(fn: () => T | undefined | false, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const rcptsOf = (srv: RawServer) => srv.transcripts.map((t) => t.filter((l) => l.startsWith('RCPT')).map((l) => l.slice(9, -1)));

describe('the outgoing connection between passes', () => {
  test('two messages accepted apart go out on one kept connection; after the idle time it is closed with QUIT', async () => {
    const relay = await startRawSmtp((c) => smtpSession(c));
    cleanups.push(() => relay.close());
    const { daemon, rt } = await serve(relay, 400);
    assert.match(await submit(daemon.addresses[0]!.port, 'one@remote.example'), /^250 /);
    await until(() => rcptsOf(relay).flat().length === 1 && daemon.runner.passes, 3000, 'the first delivery');
    await daemon.runner.idle();
    const passesBefore = daemon.runner.passes;
    assert.match(await submit(daemon.addresses[0]!.port, 'two@remote.example'), /^250 /);
    await until(() => rcptsOf(relay).flat().length === 2, 3000, 'the second delivery');
    await daemon.runner.idle();
    assert.ok(daemon.runner.passes > passesBefore, 'the second message had a pass of its own');
    assert.equal(relay.connections, 1, 'one connection for both passes');
    assert.deepEqual(rcptsOf(relay), [['one@remote.example', 'two@remote.example']]);
    assert.ok(!relay.transcripts[0]!.includes('QUIT'), 'still open right after the pass');
    await until(() => relay.transcripts[0]!.includes('QUIT'), 3000, 'QUIT after the idle time');
    assert.equal(daemon.kept.closed, 1);
    assert.ok(rt.log.events.filter((e) => e.event === 'delivered').length === 2);
  });

  test('a relay that closed the kept connection meanwhile: the next message goes out on a new one, no deferral', async () => {
    let n = 0;
    // The first connection is dropped by the relay 150 ms after its message (an idle timeout, a restart).
    const relay = await startRawSmtp((c) => { n += 1; return smtpSession(c, n === 1 ? { afterData: () => { setTimeout(() => c.destroy(), 150); return undefined; } } : {}); });
    cleanups.push(() => relay.close());
    const { daemon, rt } = await serve(relay, 5000);
    assert.match(await submit(daemon.addresses[0]!.port, 'one@remote.example'), /^250 /);
    await until(() => rcptsOf(relay).flat().length === 1, 3000, 'the first delivery');
    await new Promise((r) => setTimeout(r, 300));
    assert.match(await submit(daemon.addresses[0]!.port, 'two@remote.example'), /^250 /);
    await until(() => rcptsOf(relay).flat().length === 2, 3000, 'the second delivery');
    await daemon.runner.idle();
    assert.equal(relay.connections, 2);
    assert.deepEqual(rcptsOf(relay), [['one@remote.example'], ['two@remote.example']]);
    assert.equal(rt.log.events.filter((e) => e.event === 'deferred').length, 0);
    assert.equal((await rt.spool.list('queue')).length, 0);
  });

  test('a reload closes the kept connection: the next pass connects with the new settings', async () => {
    const relay = await startRawSmtp((c) => smtpSession(c));
    cleanups.push(() => relay.close());
    const { daemon } = await serve(relay, 5000, undefined, true);
    assert.match(await submit(daemon.addresses[0]!.port, 'one@remote.example'), /^250 /);
    await until(() => rcptsOf(relay).flat().length === 1, 3000, 'the first delivery');
    await daemon.runner.idle();
    assert.equal(await daemon.reload(), true);
    await until(() => relay.transcripts[0]!.includes('QUIT'), 3000, 'QUIT on reload');
    await daemon.runner.idle();
    assert.match(await submit(daemon.addresses[0]!.port, 'two@remote.example'), /^250 /);
    await until(() => rcptsOf(relay).flat().length === 2, 3000, 'the second delivery');
    assert.equal(relay.connections, 2);
  });
});

describe('the pass for the message just accepted', () => {
  test('its own file event does not start a full pass; another file written meanwhile does', async () => {
    const dir = scratch();
    const queue = join(dir, 'queue');
    mkdirSync(queue);
    let full = 0;
    const targeted: string[][] = [];
    const runner = new QueueRunner({
      pass: async () => { full++; },
      passIds: async (ids) => { targeted.push(ids); return false; },
      nextDue: async () => null,
      watchDirs: [queue],
      ownDir: queue,
      log: memoryLogger(),
      debounceMs: 5,
    });
    cleanups.push(() => runner.stop(1000));
    runner.start();
    await runner.idle();
    assert.equal(full, 1, 'the start pass');
    const commit = (name: string, extra?: string) => runner.ownCommit(async () => {
      writeFileSync(join(queue, name), 'x');
      if (extra) writeFileSync(join(queue, extra), 'y');
      await new Promise((r) => setTimeout(r, 60)); // the fsyncs: the file event arrives meanwhile
      return name;
    });
    const id = await commit('01M8Y00000000000000A1');
    runner.deliver(id);
    await new Promise((r) => setTimeout(r, 100));
    await runner.idle();
    assert.deepEqual(targeted, [[id]]);
    assert.equal(full, 1, 'no full pass for our own file');
    // A sendmail of another process writes a file during our commit: that one still counts.
    runner.deliver(await commit('01M8Y00000000000000A2', '01M8Y00000000000000B1'));
    await new Promise((r) => setTimeout(r, 100));
    await runner.idle();
    assert.equal(full, 2, 'a full pass for the other file');
  });
});

describe('a delivery that overlaps the commit', () => {
  const envelope = (): Envelope => ({ sender: 'app@test.example', recipients: ['ops@remote.example'], submittedAt: Date.now(), uid: 0, user: 'root', via: 'smtp' });
  const message = Buffer.from('Subject: overlap\n\nhello\n');

  /** A commit that starts only when `release` is called, as a slow fsync would make it. */
  function slowCommit(run: () => Promise<unknown>) {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    return { commit: gate.then(run), release };
  }

  async function setup() {
    const ended: number[] = [];
    const relay = Object.assign(await startRawSmtp(async (c) => { await smtpSession(c); ended.push(1); }), { ended });
    cleanups.push(() => relay.close());
    const config = makeConfig(scratch(), relay.port);
    const spool = openSpool({ dir: config.spool.dir, mode: 'disk' });
    const log = memoryLogger();
    return { relay, config, spool, log };
  }
  const lines = (relay: RawServer) => relay.transcripts.flat();

  test('the relay has MAIL, RCPT and the data while the commit runs; the final dot only after it', async () => {
    const { relay, config, spool, log } = await setup();
    const id = spool.newId();
    const env = envelope();
    const c = slowCommit(() => spool.submit(env, message, id));
    const pass = runQueue({ config, spool, log, ids: [id], committed: new Map([[id, { envelope: env, message, commit: c.commit }]]) });
    await until(() => lines(relay).includes('hello'), 3000, 'the data at the relay');
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(!lines(relay).includes('.'), 'no final dot before the commit');
    assert.deepEqual(log.events.map((e) => e.event), [], 'nothing logged before the commit');
    c.release();
    const summary = await pass;
    assert.equal(summary.sent, 1);
    assert.ok(lines(relay).includes('.'), 'the dot after the commit');
    assert.deepEqual(log.events.map((e) => e.event), ['attempt', 'delivered']);
    assert.equal(await spool.get(id), null, 'delivered and removed');
  });

  test('a commit that fails: no final dot, the relay connection is closed, nothing logged or kept', async () => {
    const { relay, config, spool, log } = await setup();
    const id = spool.newId();
    const env = envelope();
    const c = slowCommit(async () => { throw new Error('EIO: the disk went away'); });
    const pass = runQueue({ config, spool, log, ids: [id], committed: new Map([[id, { envelope: env, message, commit: c.commit }]]) });
    await until(() => lines(relay).includes('hello'), 3000, 'the data at the relay');
    c.release();
    const summary = await pass;
    assert.equal(summary.sent, 0);
    assert.ok(!lines(relay).includes('.'), 'the relay never got the final dot');
    await until(() => relay.ended.length === 1, 3000, 'the relay connection closed');
    assert.equal(relay.connections, 1);
    assert.ok(!lines(relay).includes('QUIT'), 'dropped, not ended politely: the transaction must not complete');
    assert.deepEqual(log.events.map((e) => e.event), [], 'no attempt, no deferral for a message never accepted');
    assert.equal(await spool.get(id), null);
  });

  test('another process claims the message between the commit and our claim: no final dot', async () => {
    const { relay, config, spool, log } = await setup();
    const id = spool.newId();
    const env = envelope();
    const theirs = join(config.spool.dir, 'active', `${id}.1.1.other`);
    const c = slowCommit(async () => {
      await spool.submit(env, message, id);
      renameSync(join(config.spool.dir, 'queue', id), theirs);
    });
    const pass = runQueue({ config, spool, log, ids: [id], committed: new Map([[id, { envelope: env, message, commit: c.commit }]]) });
    await until(() => lines(relay).includes('hello'), 3000, 'the data at the relay');
    c.release();
    await pass;
    assert.ok(!lines(relay).includes('.'), 'no dot: the message is not ours');
    assert.deepEqual(log.events.map((e) => e.event), []);
    renameSync(theirs, join(config.spool.dir, 'queue', id));
    assert.ok(await spool.get(id), 'still queued, for whoever holds it');
  });

  test('a transport that cannot hold back its hand-over is called only once the commit is durable', async () => {
    const { config, spool, log } = await setup();
    const id = spool.newId();
    const env = envelope();
    const c = slowCommit(() => spool.submit(env, message, id));
    const calls: string[] = [];
    const pool = new TransportPool({ config, log, now: Date.now }, (async (cfg: { name: string }) => ({
      name: cfg.name, type: 'stdout', async close() {},
      async deliver(msg: { id: string }, rcpts: string[]) { calls.push(msg.id); return rcpts.map((rcpt) => ({ rcpt, outcome: 'sent' as const, text: 'ok' })); },
    })) as never);
    const pass = runQueue({ config, spool, log, ids: [id], transports: pool, committed: new Map([[id, { envelope: env, message, commit: c.commit }]]) });
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(calls, [], 'not called before the commit');
    c.release();
    assert.equal((await pass).sent, 1);
    assert.deepEqual(calls, [id]);
  });

  // At-least-once: the early delivery (early-delivery.ts) may hand the message over before the
  // fsyncs are done, so a kill right after them can leave it at the relay and in the queue both.
  test('serve killed right after the commit\'s fsyncs: no 250; after a restart the relay has the message, once or (early delivery) twice', async () => {
    const relay = await startRawSmtp((c) => smtpSession(c));
    cleanups.push(() => relay.close());
    const dir = scratch();
    const cfg = join(dir, 'sysmail.toml');
    writeFileSync(cfg, `[general]\nhostname = "mx.test.example"\n[spool]\ndir = "${join(dir, 'spool')}"\n`
      + `[transports.relay]\ntype = "smtp"\nhost = "127.0.0.1"\nport = ${relay.port}\nsecurity = "none"\n`);
    const start = async (crashAt?: string) => {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, ...(crashAt ? { SYSMAIL_TEST_CRASH_AT: crashAt } : {}) };
      const child = spawn(process.execPath, [cliPath, 'serve', '--config', cfg, '--listen', '127.0.0.1:0'],
        { stdio: ['ignore', 'ignore', 'pipe'], env });
      cleanups.push(() => child.kill('SIGKILL'));
      let stderr = '';
      child.stderr!.on('data', (d) => { stderr += d; });
      const exited = new Promise<string | null>((r) => child.on('exit', (_code, signal) => r(signal)));
      const port = Number((await until(() => /listening on 127\.0\.0\.1:(\d+)/.exec(stderr) ?? undefined, 10_000, 'the listening line'))[1]);
      return { child, port, exited };
    };
    const first = await start('after-fsync');
    const reply = await submit(first.port, 'ops@remote.example');
    assert.equal(reply, '', 'no 250: serve died before it could answer');
    assert.equal(await first.exited, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    const before = lines(relay).filter((l) => l === '.').length;
    assert.ok(before <= 1);
    const second = await start();
    await until(() => lines(relay).filter((l) => l === '.').length === before + 1, 10_000, 'the delivery after the restart');
    await new Promise((r) => setTimeout(r, 200));
    const copies = lines(relay).filter((l) => l === 'Subject: to ops@remote.example').length;
    assert.equal(copies, before + 1, 'the queued copy once after the restart, and nothing else');
    second.child.kill('SIGTERM');
    await second.exited;
  });

  test('through serve: the log says accepted before attempt and delivered, and the relay has the message', async () => {
    const relay = await startRawSmtp((c) => smtpSession(c));
    cleanups.push(() => relay.close());
    const { daemon, rt } = await serve(relay, 5000);
    assert.match(await submit(daemon.addresses[0]!.port, 'ops@remote.example'), /^250 /);
    await until(() => rt.log.events.some((e) => e.event === 'delivered'), 3000, 'the delivery');
    const order = rt.log.events.map((e) => e.event).filter((e) => ['accepted', 'attempt', 'delivered'].includes(e));
    assert.deepEqual(order, ['accepted', 'attempt', 'delivered']);
    assert.ok(lines(relay).includes('.'));
  });
});

describe('the early delivery: the relay dialogue starts at the client\'s DATA command', () => {
  const relayLines = (relay: RawServer) => relay.transcripts.flat();
  const envelopeLines = (relay: RawServer) => relayLines(relay).filter((l) => /^(MAIL|RCPT|DATA|RSET)/.test(l));

  /** A client driven one command at a time; `send` writes raw text and waits for the next reply. */
  async function stepClient(port: number) {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const replies: string[] = [];
    const waiters: Array<(r: string) => void> = [];
    const closed = new Promise<void>((r) => s.on('close', () => { for (const w of waiters.splice(0)) w(''); r(); }));
    s.on('error', () => {});
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let m = /^(\d{3})([ -])([^\r\n]*)\r\n/.exec(buf); m; m = /^(\d{3})([ -])([^\r\n]*)\r\n/.exec(buf)) {
        buf = buf.slice(m[0].length);
        if (m[2] === '-') continue;
        const r = `${m[1]} ${m[3]}`;
        const w = waiters.shift();
        if (w) w(r); else replies.push(r);
      }
    });
    const next = () => new Promise<string>((r) => { const got = replies.shift(); if (got !== undefined) r(got); else waiters.push(r); });
    await next(); // the greeting
    return {
      send: (text: string) => { s.write(text); return next(); },
      cmd: (line: string) => { s.write(`${line}\r\n`); return next(); },
      destroy: () => s.destroy(),
      closed,
    };
  }

  async function relayAndServe(replies: Parameters<typeof smtpSession>[1] = {}) {
    const ended: number[] = [];
    const relay = Object.assign(await startRawSmtp(async (c) => { await smtpSession(c, replies); ended.push(1); }), { ended });
    cleanups.push(() => relay.close());
    const { daemon, rt } = await serve(relay, 5000);
    return { relay, daemon, rt, port: daemon.addresses[0]!.port };
  }

  async function upToData(port: number, rcpts: string[]) {
    const c = await stepClient(port);
    await c.cmd('EHLO client.test');
    assert.match(await c.cmd('MAIL FROM:<app@test.example>'), /^250 /);
    for (const r of rcpts) assert.match(await c.cmd(`RCPT TO:<${r}>`), /^250 /);
    assert.match(await c.cmd('DATA'), /^354 /);
    return c;
  }

  test('MAIL FROM, RCPT TO and DATA reach the relay before the client sends its data (pipelined); the message after the commit', async () => {
    const { relay, rt, port } = await relayAndServe();
    const c = await upToData(port, ['ops@remote.example']);
    await until(() => relayLines(relay).includes('DATA'), 3000, 'DATA at the relay while the client has not sent its data');
    assert.deepEqual(envelopeLines(relay), ['MAIL FROM:<app@test.example> BODY=8BITMIME', 'RCPT TO:<ops@remote.example>', 'DATA']);
    assert.deepEqual(rt.log.events.map((e) => e.event), [], 'nothing accepted, nothing logged yet');
    assert.match(await c.send('Subject: early\r\n\r\nhello\r\n..dot line\r\n.\r\n'), /^250 /);
    await until(() => rt.log.events.some((e) => e.event === 'delivered'), 3000, 'the delivery');
    assert.deepEqual(rt.log.events.map((e) => e.event).filter((e) => e !== 'rejected'), ['accepted', 'attempt', 'delivered']);
    const delivered = rt.log.events.find((e) => e.event === 'delivered')!;
    assert.match(String(delivered.reason), /accepted: 250 2\.0\.0 queued \(no TLS\)/);
    const at = relayLines(relay);
    assert.ok(at.includes('hello') && at.includes('..dot line') && at.includes('.'), 'the data, dot-stuffed as sent, and the final dot');
    assert.equal(relay.connections, 1);
    assert.equal((await rt.spool.list('queue')).length, 0);
    await c.cmd('QUIT');
  });

  test('with an aliases file (as /etc/aliases on every host) the dialogue still starts at DATA; the relay gets the alias target', async () => {
    const ended: number[] = [];
    const relay = Object.assign(await startRawSmtp(async (c) => { await smtpSession(c); ended.push(1); }), { ended });
    cleanups.push(() => relay.close());
    const { daemon, rt } = await serve(relay, 5000, (config, dir) => {
      config.general.aliases = join(dir, 'aliases');
      writeFileSync(config.general.aliases, 'webmaster: ops@remote.example\n');
    });
    // The aliases file is read once (a first pass would read it too); from then on it is only stat'ed.
    assert.match(await submit(daemon.addresses[0]!.port, 'first@remote.example'), /^250 /);
    await until(() => rt.log.events.some((e) => e.event === 'delivered'), 3000, 'the first message');
    await daemon.runner.idle();
    // A client that sends its data the moment it has the 354 (smtplib, cron's mailer): the plan
    // must be made before the data is in, or the message goes the usual way. The early dialogue is
    // the one that declares BODY=8BITMIME for this 7-bit message (the data is not known yet then).
    assert.match(await submit(daemon.addresses[0]!.port, 'webmaster@test.example'), /^250 /);
    await until(() => rt.log.events.filter((e) => e.event === 'delivered').length === 2, 3000, 'the delivery');
    assert.equal(relayLines(relay).filter((l) => l.startsWith('MAIL')).at(-1), 'MAIL FROM:<app@test.example> BODY=8BITMIME', 'the early dialogue');
    assert.equal(relayLines(relay).filter((l) => l.startsWith('RCPT')).at(-1), 'RCPT TO:<ops@remote.example>');
    const d = rt.log.events.filter((e) => e.event === 'delivered').at(-1)!;
    assert.deepEqual([d.rcpt, d.orig_rcpt, d.via], ['ops@remote.example', 'webmaster@test.example', 'alias']);
  });

  test('a bare CR in the data cannot end it at the relay (SMTP smuggling): it ends its line, the dot after it is doubled', async () => {
    const { relay, rt, port } = await relayAndServe();
    const c = await upToData(port, ['ops@remote.example']);
    await until(() => relayLines(relay).includes('DATA'), 3000, 'DATA at the relay');
    assert.match(await c.send('Subject: cr\r\n\r\nx\r.\r\nMAIL FROM:<ceo@remote.example>\r\n.\r\n'), /^250 /);
    await until(() => rt.log.events.some((e) => e.event === 'delivered'), 3000, 'the delivery');
    const lines = relayLines(relay);
    assert.ok(lines.includes('x') && lines.includes('..'), lines.join(' | '));
    assert.ok(!lines.some((l) => l.includes('\r')), 'no bare CR reached the relay');
    await c.cmd('QUIT');
  });

  test('rewrite_from and force_sender hold on the early path: the approved sender in MAIL FROM and From, the original still visible', async () => {
    for (const key of ['rewriteFrom', 'forceSender'] as const) {
      const ended: number[] = [];
      const relay = Object.assign(await startRawSmtp(async (c) => { await smtpSession(c); ended.push(1); }), { ended });
      cleanups.push(() => relay.close());
      const { daemon, rt } = await serve(relay, 5000, (config) => { (config.transports.relay as unknown as Record<string, unknown>)[key] = 'alerts@remote.example'; });
      const c = await upToData(daemon.addresses[0]!.port, ['ops@remote.example']);
      await until(() => relayLines(relay).includes('DATA'), 3000, 'DATA at the relay');
      assert.equal(relayLines(relay).find((l) => l.startsWith('MAIL')), 'MAIL FROM:<alerts@remote.example> BODY=8BITMIME', key);
      assert.match(await c.send('From: root (Cron Daemon)\r\nSubject: approved\r\n\r\nhello\r\n.\r\n'), /^250 /);
      await until(() => rt.log.events.some((e) => e.event === 'delivered'), 3000, 'the delivery');
      const from = relayLines(relay).filter((l) => l.startsWith('From:'));
      if (key === 'rewriteFrom') {
        assert.equal(from.length, 1);
        assert.match(from[0]!, /<alerts@remote\.example>$/, 'the From a strict relay accepts');
        assert.match(from[0]!, /"root@test\.example \(Cron Daemon\)"/, 'the original sender still visible');
      } else {
        assert.deepEqual(from, ['From: root@test.example (Cron Daemon)'], 'force_sender changes the envelope only');
      }
      assert.equal(relay.connections, 1);
      await c.cmd('QUIT');
    }
  });

  test('listener.early_delivery = false: the relay hears of the message only after the commit, the usual way', async () => {
    const relay = await startRawSmtp((c) => smtpSession(c));
    cleanups.push(() => relay.close());
    const { daemon, rt } = await serve(relay, 5000, (config) => { config.listener.earlyDelivery = false; });
    const c = await upToData(daemon.addresses[0]!.port, ['ops@remote.example']);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(relay.connections, 0, 'nothing sent to the relay while the client has not sent its data');
    assert.match(await c.send('Subject: usual\r\n\r\nhello\r\n.\r\n'), /^250 /);
    await until(() => rt.log.events.some((e) => e.event === 'delivered'), 3000, 'the delivery');
    assert.equal(relayLines(relay).find((l) => l.startsWith('MAIL')), 'MAIL FROM:<app@test.example>', 'nodemailer\'s dialogue (no early BODY=8BITMIME)');
    await c.cmd('QUIT');
  });

  test('a relay without PIPELINING gets the same commands one at a time', async () => {
    const { relay, rt, port } = await relayAndServe({ ehloLines: ['8BITMIME'] });
    const c = await upToData(port, ['ops@remote.example', 'dev@remote.example']);
    await until(() => relayLines(relay).includes('DATA'), 3000, 'DATA at the relay');
    assert.deepEqual(envelopeLines(relay), ['MAIL FROM:<app@test.example> BODY=8BITMIME', 'RCPT TO:<ops@remote.example>', 'RCPT TO:<dev@remote.example>', 'DATA']);
    assert.match(await c.send('Subject: two\r\n\r\nhello\r\n.\r\n'), /^250 /);
    await until(() => rt.log.events.filter((e) => e.event === 'delivered').length === 2, 3000, 'both delivered');
  });

  test('a recipient the relay refuses fails with its reply; the others are delivered', async () => {
    const { rt, port } = await relayAndServe({ rcpt: (to) => (to.startsWith('nobody@') ? '550 5.1.1 no such user here' : undefined) });
    const c = await upToData(port, ['ops@remote.example', 'nobody@remote.example']);
    assert.match(await c.send('Subject: mixed\r\n\r\nhello\r\n.\r\n'), /^250 /);
    await until(() => rt.log.events.some((e) => e.event === 'failed'), 3000, 'the refused recipient');
    await until(() => rt.log.events.some((e) => e.event === 'delivered' && e.rcpt === 'ops@remote.example'), 3000, 'the other one');
    const failed = rt.log.events.find((e) => e.event === 'failed')!;
    assert.equal(failed.rcpt, 'nobody@remote.example');
    assert.match(String(failed.reason), /said: 550 5\.1\.1 no such user here \(in reply to RCPT TO\)/);
  });

  test('a client gone in the middle of its data: the relay transaction is abandoned, nothing delivered; the next message goes out', async () => {
    const { relay, rt, port } = await relayAndServe();
    const c = await upToData(port, ['ops@remote.example']);
    await until(() => relayLines(relay).includes('DATA'), 3000, 'DATA at the relay');
    c.destroy();
    await until(() => relay.ended.length === 1, 3000, 'the relay connection closed');
    assert.ok(!relayLines(relay).includes('.'), 'no final dot: the relay has nothing');
    assert.ok(!relayLines(relay).includes('QUIT'), 'dropped, not ended politely');
    assert.equal(rt.log.events.filter((e) => e.event === 'accepted' || e.event === 'delivered').length, 0);
    assert.match(await submit(port, 'two@remote.example'), /^250 /);
    await until(() => rt.log.events.some((e) => e.event === 'delivered'), 3000, 'the next message');
    assert.equal(relay.connections, 2);
  });

  test('a local client that keeps abandoning its data cannot make serve churn connections to the relay: the early delivery rests after one', async () => {
    const { relay, rt, port } = await relayAndServe();
    for (let i = 0; i < 5; i++) {
      const c = await upToData(port, [`churn${i}@remote.example`]);
      void c.send('Subject: half a message\r\n');
      c.destroy();
      await c.closed;
      await new Promise((r) => setTimeout(r, 50));
    }
    await until(() => relay.ended.length === relay.connections, 3000, 'the relay connections closed');
    assert.equal(relay.connections, 1, 'one relay connection abandoned, not one per client');
    assert.equal(relayLines(relay).filter((l) => l === 'DATA').length, 1);
    // Nothing is lost meanwhile: a whole message goes the usual way.
    assert.match(await submit(port, 'whole@remote.example'), /^250 /);
    await until(() => rt.log.events.some((e) => e.event === 'delivered'), 3000, 'the next message');
  });

  test('a client that stalls past the wait and then completes: delivered the usual way, and the next client gets no early transaction either (the rest)', async () => {
    const { relay, rt, port } = await relayAndServe();
    const a = await upToData(port, ['slow@remote.example']);
    await until(() => relay.ended.length === 1, 4000, 'the stalled transaction abandoned after EARLY_DELIVERY_WAIT_MS');
    assert.match(await a.send('Subject: late\r\n\r\nhello\r\n.\r\n'), /^250 /);
    await until(() => rt.log.events.some((e) => e.event === 'delivered'), 3000, 'the slow one, the usual way');
    await a.cmd('QUIT');
    const dataBefore = relayLines(relay).filter((l) => l === 'DATA').length;
    const b = await upToData(port, ['next@remote.example']);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(relayLines(relay).filter((l) => l === 'DATA').length, dataBefore, 'no early DATA during the rest');
    assert.match(await b.send('Subject: next\r\n\r\nhello\r\n.\r\n'), /^250 /);
    await until(() => rt.log.events.filter((e) => e.event === 'delivered').length === 2, 3000, 'the next one');
    await b.cmd('QUIT');
  });

  test('a client that stalls in its data does not hold the relay: another message takes the connection at once', async () => {
    const { relay, rt, port } = await relayAndServe();
    const a = await upToData(port, ['slow@remote.example']);
    await until(() => relayLines(relay).includes('DATA'), 3000, 'the stalled client\'s early DATA at the relay');
    assert.match(await submit(port, 'other@remote.example'), /^250 /);
    // Well before EARLY_DELIVERY_WAIT_MS (2 s) would let the stalled transaction go.
    await until(() => rt.log.events.some((e) => e.event === 'delivered' && e.rcpt === 'other@remote.example'), 1500, 'the other delivery while the first client stalls');
    assert.equal(relay.ended.length, 1, 'the stalled transaction was abandoned (its connection closed)');
    assert.match(await a.send('Subject: late\r\n\r\nhello\r\n.\r\n'), /^250 /);
    await until(() => rt.log.events.some((e) => e.event === 'delivered' && e.rcpt === 'slow@remote.example'), 3000, 'the slow one, the usual way');
    assert.equal(relayLines(relay).filter((l) => l === 'Subject: late').length, 1, 'once');
    await a.cmd('QUIT');
  });

  test('a message refused at the end of its data (too big) is not delivered', async () => {
    const { relay, rt, port } = await relayAndServe();
    const c = await upToData(port, ['ops@remote.example']);
    await until(() => relayLines(relay).includes('DATA'), 3000, 'DATA at the relay');
    const big = `Subject: big\r\n\r\n${'x'.repeat(1000)}\r\n`.repeat(1100);
    assert.match(await c.send(`${big}.\r\n`), /^552 /);
    await until(() => relay.ended.length === 1, 3000, 'the relay connection closed');
    assert.ok(!relayLines(relay).includes('.'));
    assert.equal(rt.log.events.filter((e) => e.event === 'delivered').length, 0);
    await c.cmd('QUIT');
  });

  test('a commit that fails before the message is in the queue: 451 to the client, nothing at the relay', async () => {
    const { relay, daemon, rt, port } = await relayAndServe();
    assert.match(await submit(port, 'one@remote.example'), /^250 /);
    await until(() => rt.log.events.some((e) => e.event === 'delivered'), 3000, 'the first message');
    await daemon.runner.idle(); // the early dialogue starts only when no pass runs
    const tmp = join(rt.config.spool.dir, 'tmp');
    rmSync(tmp, { recursive: true });
    writeFileSync(tmp, 'not a directory'); // every new queue file fails to open
    const c = await upToData(port, ['ops@remote.example']);
    await until(() => relayLines(relay).filter((l) => l === 'DATA').length === 2, 3000, 'the early DATA at the relay');
    assert.match(await c.send('Subject: lost disk\r\n\r\nhello\r\n.\r\n'), /^451 /);
    // The early transaction is dropped; the pass, started with the commit, may try once more on a
    // new connection and drop that one too (its final dot waits for a commit that never comes).
    await until(() => relay.ended.length >= 1, 3000, 'the relay connection closed');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(relayLines(relay).filter((l) => l === '.').length, 1, 'only the first message was completed');
    assert.equal(rt.log.events.filter((e) => e.event === 'delivered').length, 1);
    rmSync(tmp);
    mkdirSync(tmp);
    await c.cmd('QUIT');
  });
});

describe('session slots', () => {
  test('below every limit no owner is looked up; at the limit the owners are, and the per-client limit holds', async () => {
    const slots = new Slots(3, 10);
    let lookups = 0;
    const nobody = async () => { lookups++; return 65534; };
    const leases = [];
    for (let i = 0; i < 3; i++) {
      const r = await slots.admit(nobody, '127.0.0.1');
      assert.ok('lease' in r);
      leases.push(r.lease);
    }
    assert.equal(lookups, 0, 'no /proc read while no limit can be reached');
    assert.equal(slots.unresolved, 3);
    const fourth = await slots.admit(nobody, '127.0.0.1');
    assert.ok('why' in fourth && /uid 65534 already holds 3 sessions/.test(fourth.why), JSON.stringify(fourth));
    assert.equal(lookups, 4, 'the three held and the new one');
    assert.equal(slots.unresolved, 0);
    const root = await slots.admit(async () => 0, '127.0.0.1');
    assert.ok('lease' in root, 'root still gets in');
    slots.close(leases[0]!);
    const again = await slots.admit(nobody, '127.0.0.1');
    assert.ok('lease' in again, 'a slot freed is a slot again');
  });
});
