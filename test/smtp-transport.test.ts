/**
 * The SMTP smarthost transport against real servers on 127.0.0.1: smtp-server
 * (test/helpers/smtp-sink.ts) with certificates made at test time, and a
 * scripted raw socket server (test/helpers/raw-smtp.ts) for broken replies.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { Config, SmtpTransportConfig } from '../src/config/types.js';
import type { LogEvent, Logger } from '../src/log/logger.js';
import type { OutgoingMessage, RecipientResult, Transport } from '../src/transports/types.js';
import { createSmtpTransport } from '../src/transports/smtp.js';
import { parseReply, replyOutcome } from '../src/transports/smtp-reply.js';
import { normalizePin } from '../src/transports/smtp-tls.js';
import { pickAuthMethod } from '../src/transports/smtp-session.js';
import { dataOnWire } from '../src/transports/smtp-wire.js';
import { makeCerts } from './helpers/certs.js';
import { startSink, type Sink, type SinkOptions } from './helpers/smtp-sink.js';
import { smtpSession, startRawSmtp, type RawServer } from './helpers/raw-smtp.js';
import { fixtures } from './helpers/paths.js';
import { refusedPort } from './helpers/net.js';

const DOTS = readFileSync(join(fixtures, 'smtp', 'dots.eml'));
const EIGHT = readFileSync(join(fixtures, 'smtp', '8bit.eml'));
const PASSWORD = 'pa55-w0rd!secret';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => { for (const c of cleanups.reverse()) await c().catch(() => undefined); });

async function sink(opts: SinkOptions): Promise<Sink> {
  const s = await startSink(opts);
  cleanups.push(() => s.close());
  return s;
}
async function raw(script: Parameters<typeof startRawSmtp>[0]): Promise<RawServer> {
  const s = await startRawSmtp(script);
  cleanups.push(() => s.close());
  return s;
}

function smtpCfg(port: number, over: Partial<SmtpTransportConfig> = {}): SmtpTransportConfig {
  return {
    name: 'relay', type: 'smtp', host: '127.0.0.1', port, security: 'starttls', tlsVerify: true,
    caFile: null, pinSha256: null, clientCert: null, clientKey: null, tlsServername: null,
    username: null, password: null, authMethod: null, helo: null, forceSender: null, preconnect: null,
    timeouts: { connect: 3000, greeting: 3000, command: 3000, data: 5000 },
    ...over,
  };
}

/** A logger that keeps verbose lines, to check that no secret reaches them. */
function recordingLogger(): Logger & { lines: string[]; events: LogEvent[] } {
  const lines: string[] = [];
  const events: LogEvent[] = [];
  return { lines, events, event: (e) => { events.push(e); }, verbose: (m) => { lines.push(m); }, close: async () => {} };
}

function transport(cfg: SmtpTransportConfig, log = recordingLogger()): Transport {
  const config = { general: { hostname: 'client.test.example' } } as unknown as Config;
  const t = createSmtpTransport(cfg, { config, log, now: Date.now }, async (ref) => {
    if (ref.value === undefined) throw new Error('test resolver: value only');
    return ref.value;
  });
  cleanups.push(() => t.close());
  return t;
}

function message(raw: Buffer = DOTS, sender = 'root@test.example', rcpts = ['alice@example.com']): OutgoingMessage {
  return { id: 'T1', raw, envelope: { sender, recipients: rcpts, submittedAt: 0, uid: 0, user: 'root', via: 'sendmail' } };
}

const lf = (b: Buffer) => b.toString('latin1').replace(/\r\n/g, '\n');
const only = (rs: RecipientResult[]) => { assert.equal(rs.length, 1); return rs[0]; };

test('STARTTLS required with AUTH PLAIN, LOGIN and CRAM-MD5: byte-identical body, correct envelope', async () => {
  const certs = await makeCerts();
  const s = await sink({ users: { alice: PASSWORD } });
  for (const method of ['PLAIN', 'LOGIN', 'CRAM-MD5'] as const) {
    const log = recordingLogger();
    const t = transport(smtpCfg(s.port, { caFile: certs.caFile, username: 'alice', password: { value: PASSWORD }, authMethod: method }), log);
    const r = only(await t.deliver(message(DOTS, 'root@test.example', ['bob@example.com']), ['bob@example.com']));
    assert.equal(r.outcome, 'sent', r.text);
    assert.equal(r.code, 250);
    assert.match(r.dsn ?? '', /^2\./);
    await t.close();
    const m = s.messages.at(-1)!;
    assert.equal(m.from, 'root@test.example');
    assert.deepEqual(m.to, ['bob@example.com']);
    assert.equal(m.user, 'alice');
    assert.equal(m.secure, true);
    assert.equal(lf(m.data), DOTS.toString('latin1'));
    assert.equal(s.auths.at(-1)?.method, method);
    assert.equal(s.auths.at(-1)?.ok, true);
    assert.ok(log.lines.some((l) => /EHLO client\.test\.example/.test(l)), 'EHLO uses general.hostname');
    const secrets = [PASSWORD, Buffer.from(PASSWORD).toString('base64'), Buffer.from(`\0alice\0${PASSWORD}`).toString('base64')];
    assert.ok(log.lines.length > 5);
    for (const l of log.lines) for (const x of secrets) assert.ok(!l.includes(x), `secret in log line: ${l}`);
  }
  assert.equal(s.messages.length, 3);
});

test('default AUTH mechanism is PLAIN over TLS; CRAM-MD5 preferred in clear text', async () => {
  const certs = await makeCerts();
  const s = await sink({ users: { alice: PASSWORD } });
  const t = transport(smtpCfg(s.port, { caFile: certs.caFile, username: 'alice', password: { value: PASSWORD } }));
  assert.equal(only(await t.deliver(message(), ['a@example.com'])).outcome, 'sent');
  assert.equal(s.auths.at(-1)?.method, 'PLAIN');
  assert.equal(pickAuthMethod(['PLAIN', 'LOGIN', 'CRAM-MD5'], false), 'CRAM-MD5');
  assert.equal(pickAuthMethod(['LOGIN'], false), 'LOGIN');
  assert.equal(pickAuthMethod([], true), undefined);
});

test('a certificate from an unknown CA is deferred with a reason naming the certificate problem', async () => {
  const other = await makeCerts('other');
  const s = await sink({ users: { alice: PASSWORD } });
  const t = transport(smtpCfg(s.port, { caFile: other.caFile, username: 'alice', password: { value: PASSWORD } }));
  const r = only(await t.deliver(message(), ['a@example.com']));
  assert.equal(r.outcome, 'deferred');
  assert.match(r.text, /certificate .*not trusted/i);
  assert.match(r.text, /ca_file/);
  assert.equal(r.dsn, '4.7.5');
  assert.equal(s.auths.length, 0, 'no AUTH over an untrusted connection');
  assert.equal(s.messages.length, 0);
});

test('the system CA bundle alone does not trust the test CA', async () => {
  const s = await sink({});
  const t = transport(smtpCfg(s.port));
  const r = only(await t.deliver(message(), ['a@example.com']));
  assert.equal(r.outcome, 'deferred');
  assert.match(r.text, /not trusted/);
});

test('pin: match is sent (with or without CA verification), mismatch is deferred with the actual fingerprint', async () => {
  const certs = await makeCerts();
  const other = await makeCerts('other');
  const s = await sink({});
  const pinLowerColons = certs.fingerprint256.toLowerCase();
  const t1 = transport(smtpCfg(s.port, { caFile: certs.caFile, pinSha256: pinLowerColons }));
  assert.equal(only(await t1.deliver(message(), ['a@example.com'])).outcome, 'sent');
  const t2 = transport(smtpCfg(s.port, { tlsVerify: false, pinSha256: certs.fingerprint256.replace(/:/g, '') }));
  assert.equal(only(await t2.deliver(message(), ['a@example.com'])).outcome, 'sent');
  const t3 = transport(smtpCfg(s.port, { caFile: certs.caFile, pinSha256: other.fingerprint256 }));
  const r = only(await t3.deliver(message(), ['a@example.com']));
  assert.equal(r.outcome, 'deferred');
  assert.match(r.text, /pin_sha256/);
  assert.ok(r.text.includes(normalizePin(certs.fingerprint256)!.replace(/(..)(?!$)/g, '$1:')), r.text);
  assert.equal(s.messages.length, 2);
});

test('implicit TLS (security "tls")', async () => {
  const certs = await makeCerts();
  const s = await sink({ tls: 'implicit', users: { alice: PASSWORD } });
  const t = transport(smtpCfg(s.port, { security: 'tls', caFile: certs.caFile, username: 'alice', password: { value: PASSWORD } }));
  assert.equal(only(await t.deliver(message(), ['a@example.com'])).outcome, 'sent');
  const [m] = await s.waitFor(1);
  assert.equal(m.secure, true);
  assert.equal(m.user, 'alice');
});

test('a TLS client certificate is presented when configured', async () => {
  const certs = await makeCerts();
  const s = await sink({ requestClientCert: true });
  const t = transport(smtpCfg(s.port, { caFile: certs.caFile, clientCert: certs.clientCertFile, clientKey: certs.clientKeyFile }));
  assert.equal(only(await t.deliver(message(), ['a@example.com'])).outcome, 'sent');
  assert.equal(s.messages[0].clientCertCN, 'sysmail-test-client');
});

test('STARTTLS required but not offered: deferred, and no AUTH or MAIL goes out in clear text', async () => {
  const srv = await raw((c) => smtpSession(c, { ehloLines: ['AUTH PLAIN LOGIN', '8BITMIME'] }));
  const t = transport(smtpCfg(srv.port, { username: 'alice', password: { value: PASSWORD } }));
  const r = only(await t.deliver(message(), ['a@example.com']));
  assert.equal(r.outcome, 'deferred');
  assert.match(r.text, /STARTTLS/);
  assert.match(r.text, /clear text/);
  await t.close();
  const sent = srv.transcripts.flat();
  assert.ok(sent.some((l) => l.startsWith('EHLO')));
  assert.ok(!sent.some((l) => /^(AUTH|MAIL|RCPT|DATA)/i.test(l)), sent.join('|'));
  assert.ok(!sent.join('\n').includes(Buffer.from(PASSWORD).toString('base64')));
});

test('opportunistic without STARTTLS sends in clear text; "none" never tries TLS', async () => {
  const s = await sink({ tls: 'none' });
  const t = transport(smtpCfg(s.port, { security: 'opportunistic' }));
  assert.equal(only(await t.deliver(message(), ['a@example.com'])).outcome, 'sent');
  const t2 = transport(smtpCfg(s.port, { security: 'none' }));
  assert.equal(only(await t2.deliver(message(), ['b@example.com'])).outcome, 'sent');
  const ms = await s.waitFor(2);
  assert.deepEqual(ms.map((m) => m.secure), [false, false]);
});

test('opportunistic uses STARTTLS when offered', async () => {
  const certs = await makeCerts();
  const s = await sink({});
  const t = transport(smtpCfg(s.port, { security: 'opportunistic', caFile: certs.caFile }));
  assert.equal(only(await t.deliver(message(), ['a@example.com'])).outcome, 'sent');
  assert.equal(s.messages[0].secure, true);
});

test('opportunistic: STARTTLS announced but refused goes on in clear text', async () => {
  const srv = await raw((c) => smtpSession(c, { ehloLines: ['STARTTLS', '8BITMIME'], other: (l) => l === 'STARTTLS' ? '454 4.7.0 TLS not available' : undefined }));
  const t = transport(smtpCfg(srv.port, { security: 'opportunistic' }));
  assert.equal(only(await t.deliver(message(), ['a@example.com'])).outcome, 'sent');
  const sent = srv.transcripts[0];
  assert.ok(sent.includes('STARTTLS'));
  assert.ok(sent.some((l) => l.startsWith('MAIL FROM:')));
});

test('tls_servername selects the name the certificate is checked against', async () => {
  const certs = await makeCerts();
  const s = await sink({});
  const good = transport(smtpCfg(s.port, { caFile: certs.caFile, tlsServername: 'localhost' }));
  assert.equal(only(await good.deliver(message(), ['a@example.com'])).outcome, 'sent');
  const bad = transport(smtpCfg(s.port, { caFile: certs.caFile, tlsServername: 'mail.example.com' }));
  const r = only(await bad.deliver(message(), ['a@example.com']));
  assert.equal(r.outcome, 'deferred');
  assert.match(r.text, /tls_servername/);
});

test('a forced AUTH mechanism the server does not offer is deferred naming auth_method', async () => {
  const certs = await makeCerts();
  const s = await sink({ users: { alice: PASSWORD }, authMethods: ['PLAIN'] });
  const t = transport(smtpCfg(s.port, { caFile: certs.caFile, username: 'alice', password: { value: PASSWORD }, authMethod: 'CRAM-MD5' }));
  const r = only(await t.deliver(message(), ['a@example.com']));
  assert.equal(r.outcome, 'deferred');
  assert.match(r.text, /auth_method/);
});

test('per-recipient results: 451 deferred, 550 failed, the third sent', async () => {
  const certs = await makeCerts();
  const s = await sink({
    rejectRcpt: (a) => a.startsWith('later') ? { code: 451, message: 'try again later' }
      : a.startsWith('nobody') ? { code: 550, message: 'no such user' } : null,
  });
  const t = transport(smtpCfg(s.port, { caFile: certs.caFile }));
  const rcpts = ['later@example.com', 'nobody@example.com', 'alice@example.com'];
  const rs = await t.deliver(message(DOTS, 'root@test.example', rcpts), rcpts);
  assert.deepEqual(rs.map((r) => [r.rcpt, r.outcome, r.code]), [
    ['later@example.com', 'deferred', 451],
    ['nobody@example.com', 'failed', 550],
    ['alice@example.com', 'sent', 250],
  ]);
  assert.match(rs[0].dsn ?? '', /^4\./);
  assert.equal(rs[1].dsn, '5.1.1');
  assert.match(rs[1].text, /no such user/);
  assert.match(rs[1].text, /RCPT TO/);
  const [m] = await s.waitFor(1);
  assert.deepEqual(m.to, ['alice@example.com']);
});

test('all recipients refused: each keeps its own outcome, nothing is sent', async () => {
  const s = await sink({ tls: 'none', rejectRcpt: (a) => a.startsWith('t') ? { code: 450, message: 'busy' } : { code: 553, message: 'bad' } });
  const t = transport(smtpCfg(s.port, { security: 'none' }));
  const rs = await t.deliver(message(), ['t@example.com', 'p@example.com']);
  assert.deepEqual(rs.map((r) => [r.outcome, r.code]), [['deferred', 450], ['failed', 553]]);
  // The connection is still usable for the next message.
  assert.equal(only(await t.deliver(message(), ['x@example.com'])).outcome, 'failed');
  assert.equal(s.connections, 1);
});

test('MAIL FROM refused: 550 fails everyone, 530 (auth required) defers everyone', async () => {
  const s = await sink({ tls: 'none', rejectMail: (a) => a === 'bad@test.example' ? { code: 550, message: 'sender rejected' } : { code: 530, message: 'authentication required' } });
  const t = transport(smtpCfg(s.port, { security: 'none' }));
  const rs = await t.deliver(message(DOTS, 'bad@test.example'), ['a@example.com', 'b@example.com']);
  assert.deepEqual(rs.map((r) => r.outcome), ['failed', 'failed']);
  assert.match(rs[0].text, /MAIL FROM/);
  const r2 = only(await t.deliver(message(DOTS, 'other@test.example'), ['a@example.com']));
  assert.equal(r2.outcome, 'deferred');
  assert.match(r2.text, /username/);
});

test('a 5xx reply to the message data fails the accepted recipients', async () => {
  const s = await sink({ tls: 'none', dataReply: () => ({ code: 554, message: 'content rejected' }) });
  const t = transport(smtpCfg(s.port, { security: 'none' }));
  const r = only(await t.deliver(message(), ['a@example.com']));
  assert.equal(r.outcome, 'failed');
  assert.equal(r.code, 554);
  assert.match(r.text, /content rejected/);
});

test('535 (bad password) is deferred with a hint, the password never in the text', async () => {
  const certs = await makeCerts();
  const s = await sink({ users: { alice: PASSWORD } });
  const t = transport(smtpCfg(s.port, { caFile: certs.caFile, username: 'alice', password: { value: 'wrong-password' } }));
  const rs = await t.deliver(message(), ['a@example.com', 'b@example.com']);
  for (const r of rs) {
    assert.equal(r.outcome, 'deferred');
    assert.equal(r.code, 535);
    assert.match(r.text, /password/);
    assert.ok(!r.text.includes('wrong-password'));
  }
  // The failure is remembered for the pass: no second login attempt.
  assert.equal(only(await t.deliver(message(), ['c@example.com'])).outcome, 'deferred');
  assert.equal(s.auths.length, 1);
  assert.equal(s.messages.length, 0);
});

test('421 greeting is deferred', async () => {
  const srv = await raw((c) => smtpSession(c, { greeting: '421 4.3.2 Service shutting down' }));
  const t = transport(smtpCfg(srv.port, { security: 'none' }));
  const r = only(await t.deliver(message(), ['a@example.com']));
  assert.equal(r.outcome, 'deferred');
  assert.equal(r.code, 421);
  assert.match(r.text, /shutting down/);
});

test('421 in the middle of the session defers everyone', async () => {
  const srv = await raw((c) => smtpSession(c, { ehloLines: ['8BITMIME'], rcpt: (a) => a.startsWith('b') ? '421 4.4.2 closing' : undefined }));
  const t = transport(smtpCfg(srv.port, { security: 'none' }));
  const rs = await t.deliver(message(), ['a@example.com', 'b@example.com', 'c@example.com']);
  assert.deepEqual(rs.map((r) => r.outcome), ['deferred', 'deferred', 'deferred']);
});

test('connection refused is deferred', async () => {
  const port = await refusedPort();
  const t = transport(smtpCfg(port, { security: 'none' }));
  const r = only(await t.deliver(message(), ['a@example.com']));
  assert.equal(r.outcome, 'deferred');
  assert.match(r.text, /connection refused/);
  assert.match(r.text, /127\.0\.0\.1:\d+/);
});

test('a server that never greets is deferred within the greeting timeout', async () => {
  const srv = await raw((c) => smtpSession(c, { greeting: null }));
  const t = transport(smtpCfg(srv.port, { security: 'none', timeouts: { connect: 3000, greeting: 300, command: 3000, data: 3000 } }));
  const t0 = Date.now();
  const r = only(await t.deliver(message(), ['a@example.com']));
  const took = Date.now() - t0;
  assert.equal(r.outcome, 'deferred');
  assert.match(r.text, /greet/);
  assert.match(r.text, /timeouts\.greeting/);
  assert.ok(took < 2000, `took ${took} ms`);
});

test('no answer to the message data is deferred within the data timeout', async () => {
  const srv = await raw(async (c) => {
    await smtpSession(c, { ehloLines: ['8BITMIME'], afterData: () => '' });
  });
  const t = transport(smtpCfg(srv.port, { security: 'none', timeouts: { connect: 3000, greeting: 3000, command: 3000, data: 300 } }));
  const t0 = Date.now();
  const r = only(await t.deliver(message(), ['a@example.com']));
  assert.equal(r.outcome, 'deferred');
  assert.match(r.text, /timeouts\.data/);
  assert.ok(Date.now() - t0 < 2500);
});

test('the connection dropped in the middle of DATA is deferred', async () => {
  const srv = await raw((c) => smtpSession(c, { afterData: () => 'drop' }));
  const t = transport(smtpCfg(srv.port, { security: 'none' }));
  const r = only(await t.deliver(message(), ['a@example.com']));
  assert.equal(r.outcome, 'deferred');
});

const verbsOf = (lines: string[]) => lines.filter((l) => /^[A-Z]{4}\b/.test(l)).map((l) => l.slice(0, 4)).filter((v) => v !== 'RCPT' && v !== 'DATA');

test('two deliver() calls reuse one connection (no RSET after a completed transaction), close() sends QUIT', async () => {
  const srv = await raw((c) => smtpSession(c));
  const t = transport(smtpCfg(srv.port, { security: 'none' }));
  assert.equal(only(await t.deliver(message(), ['a@example.com'])).outcome, 'sent');
  assert.equal(only(await t.deliver(message(), ['b@example.com'])).outcome, 'sent');
  await t.close();
  assert.equal(srv.connections, 1);
  assert.deepEqual(verbsOf(srv.transcripts[0]), ['EHLO', 'MAIL', 'MAIL', 'QUIT']);
});

test('after a refused message the next one on the kept connection starts with RSET', async () => {
  const srv = await raw((c) => smtpSession(c, { rcpt: (a) => (a.startsWith('nobody') ? '550 5.1.1 no such user' : undefined) }));
  const t = transport(smtpCfg(srv.port, { security: 'none' }));
  assert.equal(only(await t.deliver(message(), ['nobody@example.com'])).outcome, 'failed');
  assert.equal(only(await t.deliver(message(), ['b@example.com'])).outcome, 'sent');
  await t.close();
  assert.equal(srv.connections, 1);
  assert.deepEqual(verbsOf(srv.transcripts[0]), ['EHLO', 'MAIL', 'RSET', 'MAIL', 'QUIT']);
});

test('a kept connection the relay drops at MAIL FROM (before the data) is replaced and the message sent once', async () => {
  let n = 0;
  let mails = 0;
  const srv = await raw((c) => { n += 1; return smtpSession(c, n === 1 ? { mail: () => (++mails === 2 ? 'drop' : undefined) } : {}); });
  const log = recordingLogger();
  const t = transport(smtpCfg(srv.port, { security: 'none' }), log);
  assert.equal(only(await t.deliver(message(), ['a@example.com'])).outcome, 'sent');
  const r = only(await t.deliver(message(), ['b@example.com']));
  assert.equal(r.outcome, 'sent', r.text);
  await t.close();
  assert.equal(srv.connections, 2);
  const rcpts = srv.transcripts.flat().filter((l) => l.startsWith('RCPT'));
  assert.deepEqual(rcpts, ['RCPT TO:<a@example.com>', 'RCPT TO:<b@example.com>'], 'b was offered once, on the new connection');
  assert.ok(log.lines.some((l) => /closed the kept connection before the message was sent/.test(l)));
});

test('a kept connection that drops after the message data is deferred, never sent again in the same attempt', async () => {
  let datas = 0;
  const srv = await raw((c) => smtpSession(c, { afterData: () => (++datas === 2 ? 'drop' : undefined) }));
  const t = transport(smtpCfg(srv.port, { security: 'none' }));
  assert.equal(only(await t.deliver(message(), ['a@example.com'])).outcome, 'sent');
  assert.equal(only(await t.deliver(message(), ['b@example.com'])).outcome, 'deferred');
  assert.equal(srv.connections, 1, 'no second connection: the relay may have the message');
});

test('two deliver() calls on a TLS+AUTH sink: one connection', async () => {
  const certs = await makeCerts();
  const s = await sink({ users: { alice: PASSWORD } });
  const t = transport(smtpCfg(s.port, { caFile: certs.caFile, username: 'alice', password: { value: PASSWORD } }));
  await t.deliver(message(), ['a@example.com']);
  await t.deliver(message(), ['b@example.com']);
  const ms = await s.waitFor(2);
  assert.equal(s.connections, 1);
  assert.deepEqual(ms.map((m) => m.connection), [1, 1]);
  assert.equal(s.auths.length, 1);
});

test('a kept connection that the server closed is replaced transparently', async () => {
  const s = await sink({ tls: 'none', closeAfterMessage: true });
  const t = transport(smtpCfg(s.port, { security: 'none' }));
  assert.equal(only(await t.deliver(message(), ['a@example.com'])).outcome, 'sent');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(only(await t.deliver(message(), ['b@example.com'])).outcome, 'sent');
  assert.equal(s.connections, 2);
});

test('a kept connection that dies at RSET is replaced once, transparently', async () => {
  let n = 0;
  const srv = await raw((c) => { n += 1; return smtpSession(c, n === 1 ? { rset: () => 'drop', rcpt: () => '550 5.1.1 no' } : {}); });
  const t = transport(smtpCfg(srv.port, { security: 'none' }));
  // A refused message leaves a transaction to RSET before the next one.
  assert.equal(only(await t.deliver(message(), ['a@example.com'])).outcome, 'failed');
  assert.equal(only(await t.deliver(message(), ['b@example.com'])).outcome, 'sent');
  assert.equal(srv.connections, 2);
  assert.equal(srv.transcripts[0].at(-1), 'RSET');
});

test('null sender and force_sender', async () => {
  const s = await sink({ tls: 'none' });
  const t = transport(smtpCfg(s.port, { security: 'none' }));
  assert.equal(only(await t.deliver(message(DOTS, ''), ['a@example.com'])).outcome, 'sent');
  const t2 = transport(smtpCfg(s.port, { security: 'none', forceSender: 'relay@test.example' }));
  assert.equal(only(await t2.deliver(message(DOTS, 'root@test.example'), ['a@example.com'])).outcome, 'sent');
  const ms = await s.waitFor(2);
  assert.equal(ms[0].from, '');
  assert.equal(ms[1].from, 'relay@test.example');
});

test('8-bit body arrives intact with BODY=8BITMIME when offered, and unchanged (with a note) when not', async () => {
  const s = await sink({ tls: 'none' });
  const t = transport(smtpCfg(s.port, { security: 'none' }));
  const r1 = only(await t.deliver(message(EIGHT), ['a@example.com']));
  assert.equal(r1.outcome, 'sent');
  const s2 = await sink({ tls: 'none', hide8BitMime: true });
  const t2 = transport(smtpCfg(s2.port, { security: 'none' }));
  const r2 = only(await t2.deliver(message(EIGHT), ['a@example.com']));
  assert.equal(r2.outcome, 'sent');
  assert.match(r2.text, /8BITMIME/);
  const [m1] = await s.waitFor(1);
  const [m2] = await s2.waitFor(1);
  assert.equal(m1.body8bit, true);
  assert.equal(m1.mailArgs.BODY, '8BITMIME');
  assert.equal(m2.body8bit, false);
  assert.equal(lf(m1.data), EIGHT.toString('latin1'));
  assert.equal(lf(m2.data), EIGHT.toString('latin1'));
  // A 7-bit body does not claim 8BITMIME.
  await t.deliver(message(DOTS), ['a@example.com']);
  const ms = await s.waitFor(2);
  assert.equal(ms[1].body8bit, false);
});

test('SIZE is declared in wire bytes (CRLF); a message over the server limit fails', async () => {
  const s = await sink({ tls: 'none', size: 1000 });
  const t = transport(smtpCfg(s.port, { security: 'none' }));
  assert.equal(only(await t.deliver(message(DOTS), ['a@example.com'])).outcome, 'sent');
  const [m] = await s.waitFor(1);
  const lines = DOTS.toString('latin1').split('\n').length - 1;
  assert.equal(Number(m.mailArgs.SIZE), DOTS.length + lines);
  const big = Buffer.concat([DOTS, Buffer.alloc(2000, 'x'), Buffer.from('\n')]);
  const r = only(await t.deliver(message(big), ['a@example.com']));
  assert.equal(r.outcome, 'failed');
  assert.equal(r.dsn, '5.3.4');
  assert.equal(s.messages.length, 1);
});

test('preconnect: exit 0 goes on, non-zero defers with the status', async () => {
  const s = await sink({ tls: 'none' });
  const ok = transport(smtpCfg(s.port, { security: 'none', preconnect: [process.execPath, '-e', 'process.exit(0)'] }));
  assert.equal(only(await ok.deliver(message(), ['a@example.com'])).outcome, 'sent');
  const bad = transport(smtpCfg(s.port, { security: 'none', preconnect: [process.execPath, '-e', 'console.error("tunnel down"); process.exit(3)'] }));
  const r = only(await bad.deliver(message(), ['a@example.com']));
  assert.equal(r.outcome, 'deferred');
  assert.match(r.text, /status 3/);
  assert.match(r.text, /tunnel down/);
  const missing = transport(smtpCfg(s.port, { security: 'none', preconnect: ['/nonexistent/sysmail-tunnel'] }));
  assert.equal(only(await missing.deliver(message(), ['a@example.com'])).outcome, 'deferred');
  assert.equal(s.messages.length, 1);
});

test('unreadable ca_file or password source defers with the config key named', async () => {
  const s = await sink({});
  const t = transport(smtpCfg(s.port, { caFile: '/nonexistent/ca.pem' }));
  const r = only(await t.deliver(message(), ['a@example.com']));
  assert.equal(r.outcome, 'deferred');
  assert.match(r.text, /transports\.relay\.ca_file/);
  const certs = await makeCerts();
  const t2 = transport(smtpCfg(s.port, { caFile: certs.caFile, username: 'alice', password: { file: '/nonexistent/pw' } }));
  const r2 = only(await t2.deliver(message(), ['a@example.com']));
  assert.equal(r2.outcome, 'deferred');
  assert.match(r2.text, /password/);
});

test('no Nagle stall: every connection to the relay is made with TCP_NODELAY', async () => {
  // Without it, a small DATA on a warm connection waits for the relay's delayed ACK (~40 ms on
  // Linux). The latency itself is measured in bench/ (submission-to-arrival), not asserted here.
  const certs = await makeCerts();
  const s = await sink({ users: { alice: PASSWORD } });
  const t = transport(smtpCfg(s.port, { caFile: certs.caFile, username: 'alice', password: { value: PASSWORD } }));
  const calls: unknown[] = [];
  const original = net.Socket.prototype.setNoDelay;
  net.Socket.prototype.setNoDelay = function (this: net.Socket, noDelay?: boolean) {
    // Only our client's sockets: the sink's own (server-side) sockets are net.Sockets too.
    if (this.localPort !== s.port) calls.push(noDelay);
    return original.call(this, noDelay);
  };
  try {
    const small = Buffer.from('From: a@test.example\nSubject: x\n\nhello\n');
    assert.equal(only(await t.deliver(message(small), ['a@example.com'])).outcome, 'sent');
  } finally {
    net.Socket.prototype.setNoDelay = original;
  }
  assert.ok(calls.includes(true), `setNoDelay calls: ${JSON.stringify(calls)}`);
  assert.ok(!calls.includes(false));
});

test('replies are parsed and classified (pure)', () => {
  assert.deepEqual(parseReply('550 5.1.1 <x@y>: unknown'), { code: 550, dsn: '5.1.1', text: '<x@y>: unknown' });
  assert.deepEqual(parseReply('250-first\n250 2.0.0 second'), { code: 250, dsn: '2.0.0', text: 'first / second' });
  assert.deepEqual(parseReply('451 try later'), { code: 451, dsn: undefined, text: 'try later' });
  assert.equal(parseReply('garbage'), null);
  const table: Array<[number, string, string]> = [
    [250, 'end of data', 'sent'], [451, 'RCPT TO', 'deferred'], [421, 'MAIL FROM', 'deferred'],
    [550, 'RCPT TO', 'failed'], [554, 'end of data', 'failed'], [535, 'AUTH', 'deferred'],
    [530, 'MAIL FROM', 'deferred'], [552, 'RCPT TO', 'deferred'], [552, 'end of data', 'failed'],
    // A hostile or broken relay: an intermediate reply where a final one is due is not a delivery.
    [354, 'MAIL FROM', 'deferred'], [354, 'RCPT TO', 'deferred'], [354, 'end of data', 'deferred'], [250, 'end of data', 'sent'],
  ];
  for (const [code, cmd, want] of table) assert.equal(replyOutcome(code, cmd), want, `${code} ${cmd}`);
  assert.equal(normalizePin('AB:cd' + ':00'.repeat(30)), 'abcd' + '00'.repeat(30));
  assert.equal(normalizePin('abc'), null);
});

test('early delivery (serve, Transport.prepare) over STARTTLS with AUTH: byte-identical body, then the session is nodemailer\'s again', async () => {
  const certs = await makeCerts();
  const s = await sink({ users: { alice: PASSWORD } });
  const log = recordingLogger();
  const t = transport(smtpCfg(s.port, { caFile: certs.caFile, username: 'alice', password: { value: PASSWORD } }), log);
  const first = message(DOTS, 'root@test.example', ['bob@example.com']);
  const early = t.prepare!('root@test.example', ['bob@example.com'])!;
  assert.ok(early, 'an SMTP transport can start early');
  early.expect(first.id);
  early.supply(first);
  const r = only(await t.deliver(first, ['bob@example.com']));
  assert.equal(r.outcome, 'sent', r.text);
  assert.match(r.text, /accepted: 250 .*\(TLSv1\.[23], verified\)/);
  await early.ended;
  const m = s.messages.at(-1)!;
  assert.equal(m.secure, true);
  assert.equal(m.user, 'alice');
  assert.deepEqual(m.to, ['bob@example.com']);
  assert.equal(lf(m.data), DOTS.toString('latin1'), 'CRLF and dot-stuffing undone by the server: the same bytes');
  // The next message, without prepare, goes through nodemailer on the same connection.
  const second = { ...message(EIGHT, 'root@test.example', ['carol@example.com']), id: 'T2' };
  assert.equal(only(await t.deliver(second, ['carol@example.com'])).outcome, 'sent');
  assert.equal(s.messages.length, 2);
  assert.equal(s.connections, 1, 'one connection for both');
  for (const l of log.lines) assert.ok(!l.includes(PASSWORD));
});

test('early delivery dropped (the message never came): nothing delivered; the next message goes out on a new connection', async () => {
  const r = await raw((c) => smtpSession(c));
  const t = transport(smtpCfg(r.port, { security: 'none' }));
  const early = t.prepare!('root@test.example', ['bob@example.com'])!;
  await new Promise((z) => setTimeout(z, 100));
  early.drop();
  await early.ended;
  assert.ok(!r.transcripts.flat().includes('.'), 'no final dot');
  assert.ok(r.transcripts[0]!.includes('DATA'), 'it had gone as far as DATA');
  const rs = only(await t.deliver(message(), ['bob@example.com']));
  assert.equal(rs.outcome, 'sent', rs.text);
  assert.equal(r.connections, 2);
});

test('early delivery: a message whose envelope sender differs from the one prepared is not handed over early', async () => {
  const r = await raw((c) => smtpSession(c));
  const t = transport(smtpCfg(r.port, { security: 'none' }));
  const early = t.prepare!('root@test.example', ['bob@example.com'])!;
  const other = message(DOTS, 'someone-else@test.example', ['bob@example.com']);
  early.expect(other.id);
  early.supply(other);
  await early.ended;
  assert.equal(only(await t.deliver(other, ['bob@example.com'])).outcome, 'sent');
  const mails = r.transcripts.flat().filter((l) => l.startsWith('MAIL FROM'));
  assert.match(mails.at(-1)!, /^MAIL FROM:<someone-else@test\.example>/, 'sent with its own sender');
  assert.equal(r.transcripts.flat().filter((l) => l === '.').length, 1, 'delivered once');
});

test('the early delivery\'s data on the wire is byte for byte what nodemailer sends: CRLF, leading dots doubled, no bare CR left (SMTP smuggling)', async () => {
  const { default: DataStream } = await import('nodemailer/lib/smtp-connection/data-stream') as unknown as { default: new () => import('node:stream').Transform };
  const nodemailer = (raw: Buffer) => new Promise<Buffer>((resolve, reject) => {
    const ds = new DataStream();
    const out: Buffer[] = [];
    ds.on('data', (c: Buffer) => out.push(c));
    ds.on('end', () => resolve(Buffer.concat(out)));
    ds.on('error', reject);
    ds.end(raw);
  });
  const wire = (s: string) => dataOnWire(Buffer.from(s, 'latin1')).toString('latin1');
  assert.equal(wire('a\nb\n'), 'a\r\nb\r\n.\r\n');
  assert.equal(wire('a\r\nb\r\n'), 'a\r\nb\r\n.\r\n', 'CRLF kept as it is');
  assert.equal(wire('.a\n..b\nc.d\n.\n'), '..a\r\n...b\r\nc.d\r\n..\r\n.\r\n', 'every line that starts with a dot, the first too');
  assert.equal(wire('no end'), 'no end\r\n.\r\n');
  assert.equal(wire('a\rb\n\n'), 'a\r\nb\r\n\r\n.\r\n', 'a bare CR ends its line');
  assert.equal(wire('x\r.\r\nMAIL FROM:<ceo@example.com>\r\n'), 'x\r\n..\r\nMAIL FROM:<ceo@example.com>\r\n.\r\n',
    'the smuggling sequence CR . CR LF is stuffed: no end of data in the middle');
  assert.equal(wire('\xe9t\xe9\n'), '\xe9t\xe9\r\n.\r\n', '8-bit bytes unchanged');
  // The same bytes as the normal path for crafted and random input.
  const cases = ['', '.', '\r', '\n', '\r\r.', '.\r.\n.', 'a\n.\r\n.\r.\r\n', 'end\r', '\n\r\n.\n\r'];
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
  for (let n = 0; n < 300; n++) cases.push(Array.from({ length: rnd() % 40 }, () => '.\r\nab\xe9'[rnd() % 7]).join(''));
  for (const c of cases) {
    const raw = Buffer.from(c, 'latin1');
    assert.deepEqual(dataOnWire(raw), await nodemailer(raw), JSON.stringify(c));
  }
});

test('a relay that answers MAIL FROM with an intermediate 354: deferred, never counted as sent (normal and early delivery)', async () => {
  const r = await raw((c) => smtpSession(c, { mail: () => '354 go ahead anyway' }));
  const t = transport(smtpCfg(r.port, { security: 'none' }));
  const normal = only(await t.deliver(message(), ['bob@example.com']));
  assert.equal(normal.outcome, 'deferred', normal.text);
  const m = { ...message(), id: 'T9' };
  const early = t.prepare!('root@test.example', ['bob@example.com'])!;
  early.expect(m.id);
  early.supply(m);
  const got = only(await t.deliver(m, ['bob@example.com']));
  assert.equal(got.outcome, 'deferred', got.text);
  assert.match(got.text, /354 go ahead anyway \(in reply to MAIL FROM\)/);
  assert.ok(!r.transcripts.flat().includes('.'), 'no message data was ever completed');
});

test('early delivery to a pipelining relay that refuses the sender: the refusal stands for every recipient, the connection is not reused', async () => {
  const r = await raw((c) => smtpSession(c, { mail: (from) => (from.startsWith('blocked@') ? '550 5.7.1 sender not allowed here' : undefined) }));
  const t = transport(smtpCfg(r.port, { security: 'none' }));
  const m = message(DOTS, 'blocked@test.example', ['bob@example.com', 'carol@example.com']);
  const early = t.prepare!('blocked@test.example', ['bob@example.com', 'carol@example.com'])!;
  early.expect(m.id);
  early.supply(m);
  const got = await t.deliver(m, ['bob@example.com', 'carol@example.com']);
  assert.deepEqual(got.map((x) => x.outcome), ['failed', 'failed']);
  for (const x of got) assert.match(x.text, /550 5\.7\.1 sender not allowed here \(in reply to MAIL FROM\)/);
  assert.equal(only(await t.deliver({ ...message(), id: 'T3' }, ['bob@example.com'])).outcome, 'sent');
  assert.equal(r.connections, 2, 'a new connection after the refused pipelined transaction');
});
