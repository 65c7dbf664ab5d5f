/**
 * Interop with a real Postfix smarthost (Debian's package), each case its own
 * private Postfix instance on 127.0.0.1 (test/helpers/postfix.ts): STARTTLS
 * and SMTP AUTH required, a certificate from a CA made at test time, virtual(8)
 * delivery into Maildirs this test reads. The built `sendmail` submits; the
 * message must arrive with the body byte-identical, our headers untouched and
 * in order, the right envelope (Return-Path, X-Original-To, Delivered-To), and
 * the AUTH user in Postfix's Received header and log. sysmail verifies the
 * certificate (ca_file = the test CA) in every case.
 *
 * Cases: STARTTLS on a submission-style port; implicit TLS only (465-style,
 * smtpd_tls_wrappermode); no 8BITMIME (smtpd_discard_ehlo_keywords); a wrong
 * password (deferred, kept); a Postfix that drops the connection after DATA
 * with no reply (its end-of-data policy service kills the smtpd serving the
 * session) and then works: deferred, then delivered, at most one duplicate;
 * `sysmail serve`'s early delivery (a client of its listener, Postfix as the
 * smarthost): the relay's transaction is open before the client sends its data.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeCerts, type TestCerts } from './helpers/certs.js';
import { connect } from 'node:net';
import { makeHost, runCli, waitForIdleSpool, waitUntil, writeSecret, type TestHost } from './helpers/cli.js';
import { startServe } from './helpers/dnf.js';
import { fixtures } from './helpers/paths.js';
import { processAlive, requirePostfix, startPostfix, type DeliveredMail, type PostfixInstance, type PostfixOptions } from './helpers/postfix.js';

const users = { alice: 'correct horse "battery" staple' };
const message = readFileSync(join(fixtures, 'postfix', 'cron-daily.eml'));
const split = message.indexOf('\n\n');
const sentHeaders = message.subarray(0, split).toString('utf8').split('\n');
const sentBody = message.subarray(split + 2);

let certs: TestCerts;
const relays: Record<'starttls' | 'implicit' | 'no8bit' | 'drop', PostfixInstance> = {} as never;

before(async () => {
  requirePostfix(); // first: a missing package is named before anything else can fail
  certs = await makeCerts();
  const base = (o: Partial<PostfixOptions>): PostfixOptions => ({ certs, users, mailboxes: ['bob@example.net', 'carol@example.net'], ...o });
  // Four instances at once: each has its own config, queue and data directory.
  const wanted = {
    starttls: base({ mailboxes: ['bob@example.net', 'carol@example.net', 'dave@example.net', 'erin@example.net'] }),
    implicit: base({ tls: 'implicit' }),
    no8bit: base({ discardEhloKeywords: ['8bitmime'] }),
    drop: base({ dropAfterData: 1 }),
  };
  const names = Object.keys(wanted) as Array<keyof typeof wanted>;
  const started = await Promise.allSettled(names.map((k) => startPostfix(wanted[k])));
  started.forEach((r, i) => { if (r.status === 'fulfilled') relays[names[i]!] = r.value; });
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
});

const hosts: TestHost[] = [];

after(async () => {
  await Promise.all(Object.values(relays).map((r) => r.stop()));
  for (const h of hosts) rmSync(h.dir, { recursive: true, force: true });
});

function relayHost(pf: PostfixInstance, opts: { security?: 'starttls' | 'tls'; password?: string } = {}): TestHost {
  const host = makeHost();
  hosts.push(host);
  const pass = writeSecret(host.dir, 'relay.pass', opts.password ?? users.alice);
  host.writeConfig(`[general]
hostname = "web1.example.com"
domain = "example.com"
admin = "ops@example.net"
aliases = false

[transports.relay]
type = "smtp"
host = "127.0.0.1"
port = ${pf.port}
security = "${opts.security ?? 'starttls'}"
ca_file = "${certs.caFile}"
username = "alice"
password_file = "${pass}"
`);
  return host;
}

/** What Postfix must have done with one message for one recipient. */
function assertArrived(pf: PostfixInstance, m: DeliveredMail, sender: string, rcpt: string): void {
  // Postfix prepends exactly these four; nothing of ours comes before them.
  assert.match(m.headers, /^Return-Path: [^\n]*\nX-Original-To: [^\n]*\nDelivered-To: [^\n]*\nReceived: from /);
  assert.deepEqual(m.header('Return-Path'), [`<${sender}>`], 'envelope sender');
  assert.deepEqual(m.header('X-Original-To'), [rcpt], 'original recipient');
  assert.deepEqual(m.header('Delivered-To'), [rcpt], 'delivered-to');
  const received = m.header('Received')[0] ?? '';
  assert.match(received, new RegExp(`by ${pf.hostname.replace(/\./g, '\\.')} \\(Postfix\\) with ESMTPSA `), 'TLS (S) and AUTH (A) on the Postfix hop');
  assert.match(received, /\(Authenticated sender: alice\)/);
  assert.ok(m.body.equals(sentBody), `body not byte-identical:\n${m.body.toString('utf8')}`);
  // Our header lines come through unchanged and in order (sysmail may add its own around them).
  let at = m.headers.indexOf('\nReceived: ');
  for (const line of sentHeaders) {
    const next = m.headers.indexOf(`\n${line}\n`, at);
    assert.ok(next >= 0, `header line ${JSON.stringify(line)} missing or out of order in:\n${m.headers}`);
    at = next + 1;
  }
  for (const name of ['From', 'To', 'Subject', 'X-Interop-Test']) assert.equal(m.header(name).length, 1, `one ${name}`);
  const ids = m.header('Message-ID');
  assert.equal(ids.length, 1, 'one Message-ID');
  assert.match(ids[0]!, /@web1\.example\.com>$/, 'the Message-ID is sysmail\'s, not one Postfix added');
}

const delivered = (host: TestHost, rcpt: string) => host.events().find((e) => e.event === 'delivered' && e.rcpt === rcpt);

test('STARTTLS + AUTH: sendmail -i -f ... bob carol → both Maildirs, bodies byte-identical, envelope and AUTH user right', async () => {
  const pf = relays.starttls;
  const host = relayHost(pf);
  const sender = 'cron@web1.example.com';
  // As cron runs it: argv[0] is a `sendmail` symlink to the built CLI.
  const r = await runCli(['-i', '-f', sender, 'bob@example.net', 'carol@example.net'], { input: message, env: host.env, argv0: host.sendmail });
  assert.equal(r.code, 0, r.stderr);
  const [bob] = await pf.waitForMail('bob@example.net', 1);
  const [carol] = await pf.waitForMail('carol@example.net', 1);
  assertArrived(pf, bob!, sender, 'bob@example.net');
  assertArrived(pf, carol!, sender, 'carol@example.net');
  // One transaction for both recipients.
  const log = await pf.waitForLog(new RegExp(`from=<${sender.replace(/\./g, '\\.')}>, size=\\d+, nrcpt=2 `));
  assert.match(log, /TLS connection established from [^\n]*127\.0\.0\.1/);
  assert.match(log, /client=[^\n]*sasl_method=PLAIN, sasl_username=alice\n/);
  for (const rcpt of ['bob@example.net', 'carol@example.net']) {
    const ev = await waitUntil(() => delivered(host, rcpt), 5000, `delivered event for ${rcpt}`);
    assert.equal(ev.transport, 'relay');
    assert.equal(ev.smtp_code, 250);
  }
});

test('implicit TLS only (465-style, smtpd_tls_wrappermode): security = "tls" delivers', async () => {
  const pf = relays.implicit;
  const host = relayHost(pf, { security: 'tls' });
  const r = await runCli(['sendmail', '-t', '-i'], { input: message, env: host.env });
  assert.equal(r.code, 0, r.stderr);
  const [bob] = await pf.waitForMail('bob@example.net', 1);
  const [carol] = await pf.waitForMail('carol@example.net', 1);
  assertArrived(pf, bob!, 'root@example.com', 'bob@example.net');
  assertArrived(pf, carol!, 'root@example.com', 'carol@example.net');
  await pf.waitForLog(/sasl_username=alice\n/);
});

test('relay without 8BITMIME: the 8-bit body goes unchanged, and sysmail says so', async () => {
  const pf = relays.no8bit;
  const host = relayHost(pf);
  const r = await runCli(['sendmail', '-i', '-f', 'cron@web1.example.com', 'bob@example.net'], { input: message, env: host.env });
  assert.equal(r.code, 0, r.stderr);
  const [bob] = await pf.waitForMail('bob@example.net', 1);
  assertArrived(pf, bob!, 'cron@web1.example.com', 'bob@example.net');
  await pf.waitForLog(/discarding EHLO keywords: 8BITMIME/i);
  const ev = await waitUntil(() => delivered(host, 'bob@example.net'), 5000, 'delivered event');
  assert.match(JSON.stringify(ev), /8BITMIME/, 'the delivery record notes the missing 8BITMIME');
});

test('wrong password: Postfix answers 535, the message is deferred and kept, nothing delivered', async () => {
  const pf = relays.starttls;
  const host = relayHost(pf, { password: 'not the password' });
  const r = await runCli(['sendmail', '-i', 'dave@example.net'], { input: message, env: host.env });
  assert.equal(r.code, 0, r.stderr);
  const ev = await waitUntil(() => host.events().find((e) => e.event === 'deferred'), 15_000, 'deferred event');
  assert.equal(ev.rcpt, 'dave@example.net');
  assert.match(String(ev.reason), /535/);
  await pf.waitForLog(/SASL (PLAIN|LOGIN) authentication failed/);
  const q = JSON.parse((await runCli(['queue', '--json'], { env: host.env })).stdout) as unknown[];
  assert.equal(q.length, 1, 'still queued');
  assert.equal(pf.mailbox('dave@example.net').length, 0);
  assert.equal(host.events().some((e) => e.event === 'bounced' || e.event === 'failed'), false, 'no bounce for a login problem');
});

test('Postfix drops the connection after DATA: deferred, then delivered on the next run (at most one duplicate)', async () => {
  const pf = relays.drop;
  const host = relayHost(pf);
  const r = await runCli(['sendmail', '-i', '-f', 'cron@web1.example.com', 'bob@example.net'], { input: message, env: host.env });
  assert.equal(r.code, 0, r.stderr);
  const ev = await waitUntil(() => host.events().find((e) => e.event === 'deferred'), 15_000, 'deferred event');
  assert.equal(pf.drops, 1, 'the policy service dropped one session');
  assert.match(String(ev.reason), /clos|lost|drop|reset|ECONN/i, String(ev.reason));
  await pf.waitForLog(/smtpd[^\n]* killed by signal 9/);
  assert.equal(pf.mailbox('bob@example.net').length, 0, 'nothing was committed by Postfix');

  const f = await runCli(['flush'], { env: host.env });
  assert.equal(f.code, 0, f.stderr);
  const got = await pf.waitForMail('bob@example.net', 1);
  await waitForIdleSpool(host.spool); // every delivery that will happen has happened
  const copies = pf.mailbox('bob@example.net');
  assert.ok(copies.length >= 1 && copies.length <= 2, `${copies.length} copies`);
  assertArrived(pf, got[0]!, 'cron@web1.example.com', 'bob@example.net');
  await waitUntil(() => delivered(host, 'bob@example.net'), 5000, 'delivered event');
  const q = JSON.parse((await runCli(['queue', '--json'], { env: host.env })).stdout) as unknown[];
  assert.equal(q.length, 0, 'queue empty');
});

test('serve\'s early delivery over STARTTLS + AUTH: Postfix has the transaction open while the client still holds its data; one transaction, byte-identical', async () => {
  const pf = relays.starttls;
  const host = relayHost(pf);
  const serve = await startServe(host);
  try {
    const sender = 'cron@web1.example.com';
    // A client driven one reply at a time, as python's smtplib (dnf-automatic's [email] emitter) is.
    const s = connect({ host: '127.0.0.1', port: serve.port! });
    let buf = '';
    const replies: string[] = [];
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let m = /^(\d{3})([ -])[^\r\n]*\r\n/.exec(buf); m; m = /^(\d{3})([ -])[^\r\n]*\r\n/.exec(buf)) {
        buf = buf.slice(m[0].length);
        if (m[2] === ' ') replies.push(m[0].trim());
      }
    });
    let seen = 0;
    const next = () => waitUntil(() => (replies.length > seen ? replies[seen++] : undefined), 5000, 'a reply from serve');
    const cmd = (line: string) => { s.write(`${line}\r\n`); return next(); };
    assert.match(await next(), /^220 /);
    await cmd('EHLO cron.client');
    // A first message opens the relay connection (TLS, AUTH) that serve keeps for 5 s, so the
    // early transaction below needs no handshake before its MAIL FROM, however loaded the machine.
    const first = await runCli(['sendmail', '-i', '-f', sender, 'erin@example.net'], { input: message, env: host.env });
    assert.equal(first.code, 0, first.stderr);
    await pf.waitForMail('erin@example.net', 1);
    // Let its pass end: the early delivery starts only when no pass runs.
    await waitForIdleSpool(host.spool);
    await new Promise((r) => setTimeout(r, 300));
    const before = pf.log().length;
    assert.match(await cmd(`MAIL FROM:<${sender}>`), /^250 /);
    assert.match(await cmd('RCPT TO:<erin@example.net>'), /^250 /);
    assert.match(await cmd('DATA'), /^354 /);
    // Postfix logs "client=" once a recipient of the transaction is accepted: before our data.
    await waitUntil(() => /client=[^\n]*sasl_method=PLAIN, sasl_username=alice\n/.test(pf.log().slice(before)), 1800,
      'the relay transaction, opened while the client holds its data');
    const onWire = message.toString('latin1').replace(/\n/g, '\r\n').replace(/^\./gm, '..');
    s.write(Buffer.from(onWire, 'latin1'));
    assert.match(await cmd('.'), /^250 /);
    await cmd('QUIT');
    const [, erin] = await pf.waitForMail('erin@example.net', 2);
    assertArrived(pf, erin!, sender, 'erin@example.net');
    await waitUntil(() => host.events().filter((e) => e.event === 'delivered' && e.rcpt === 'erin@example.net').length === 2, 5000, 'delivered events');
    await waitForIdleSpool(host.spool);
    const log = pf.log().slice(before);
    assert.equal(log.match(/client=/g)?.length, 1, `one relay transaction:\n${log}`);
    assert.doesNotMatch(log, /connect from/, 'on the connection serve kept');
    assert.equal(pf.mailbox('erin@example.net').length, 2, 'one copy of each');
  } finally {
    await serve.stop();
  }
});

test('stop() leaves no Postfix process behind', async () => {
  const pf = await startPostfix({ certs, users, mailboxes: ['bob@example.net'] });
  const pids = pf.pids();
  const names = pids.map((p) => { try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim(); } catch { return '?'; } });
  assert.ok(names.includes('master'), `processes: ${names.join(', ')}`);
  await pf.stop();
  assert.deepEqual(pids.filter(processAlive), [], 'every process of the instance is gone');
});
