/**
 * End to end: the built `sendmail` spawned as cron, mailx and logwatch call
 * it, delivering through a real smtp-server with STARTTLS (certificate made at
 * test time) and AUTH, on 127.0.0.1.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeCerts, type TestCerts } from './helpers/certs.js';
import { startSink, type Sink } from './helpers/smtp-sink.js';
import { makeHost, runCli, waitForIdleSpool, waitUntil, writeSecret, type TestHost } from './helpers/cli.js';
import { refusedPort } from './helpers/net.js';

let certs: TestCerts;
let otherCa: TestCerts;
before(async () => { certs = await makeCerts(); otherCa = await makeCerts('other'); });

const crlfToLf = (b: Buffer) => b.toString('utf8').replace(/\r\n/g, '\n');

function relayConfig(host: TestHost, port: number, opts: { ca?: string; extra?: string } = {}): string {
  const pass = writeSecret(host.dir, 'relay.pass', 'pa ss"word');
  return `[general]
hostname = "web1.example.com"
domain = "example.com"
admin = "ops@example.net"
aliases = "${join(host.dir, 'aliases')}"

[transports.relay]
type = "smtp"
host = "127.0.0.1"
port = ${port}
security = "starttls"
ca_file = "${opts.ca ?? certs.caFile}"
username = "alice"
password_file = "${pass}"
${opts.extra ?? ''}
`;
}

async function relayHost(sink: Sink, opts?: { ca?: string }) {
  const host = makeHost();
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(host.dir, 'aliases'), 'root: ops@example.net\npostmaster: root\n');
  host.writeConfig(relayConfig(host, sink.port, opts));
  return host;
}

const users = { alice: 'pa ss"word' };
const body = 'Line one\n.leading dot\n..two dots\n\nTrailing spaces   \nUTF-8: grüße\n';

test('Debian cron: sendmail -i -FCronDaemon -B8BITMIME -oem user, argv[0] = sendmail', async () => {
  const sink = await startSink({ users });
  try {
    const host = await relayHost(sink);
    const msg = `From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@web1> run-parts /etc/cron.daily\n\n${body}`;
    const r = await runCli(['-i', '-FCronDaemon', '-B8BITMIME', '-oem', 'root'], { input: msg, env: host.env, argv0: host.sendmail });
    assert.equal(r.code, 0, r.stderr);
    const [m] = await sink.waitFor(1, 15_000);
    assert.equal(m!.from, 'root@example.com');
    assert.deepEqual(m!.to, ['ops@example.net']); // root aliased to the admin
    assert.equal(m!.user, 'alice');
    assert.equal(m!.secure, true);
    const text = crlfToLf(m!.data);
    assert.ok(text.endsWith('\n\n' + body), 'body byte-identical');
    assert.match(text, /^Message-ID: <.+@web1\.example\.com>$/m);
    assert.match(text, /^Date: /m);
    const ev = await waitUntil(() => host.events().find((e) => e.event === 'delivered'), 5000, 'delivered event');
    assert.equal(ev.rcpt, 'ops@example.net');
    assert.equal(ev.orig_rcpt, 'root@example.com');
    assert.equal(ev.transport, 'relay');
    assert.equal(ev.smtp_code, 250);
    const queued = await waitUntil(async () => {
      const q = JSON.parse((await runCli(['queue', '--json'], { env: host.env })).stdout) as unknown[];
      return q.length === 0 ? 'empty' : null;
    }, 5000, 'an empty queue once the aliased recipient is delivered');
    assert.equal(queued, 'empty');
  } finally { await sink.close(); }
});

test('cronie and logwatch: -t takes recipients from the headers, Bcc is removed', async () => {
  const sink = await startSink({ users });
  try {
    const host = await relayHost(sink);
    const msg = `To: a@example.net\nCc: b@example.net\nBcc: hidden@example.net\nSubject: logwatch\n\n${body}`;
    const r = await runCli(['sendmail', '-FCronDaemon', '-i', '-odi', '-oem', '-oi', '-t', '-f', 'root'], { input: msg, env: host.env });
    assert.equal(r.code, 0, r.stderr);
    const got = await sink.waitFor(1, 15_000);
    assert.deepEqual([...got[0]!.to].sort(), ['a@example.net', 'b@example.net', 'hidden@example.net']);
    assert.doesNotMatch(crlfToLf(got[0]!.data), /^Bcc:/im);
    assert.equal(got[0]!.from, 'root@example.com');
  } finally { await sink.close(); }
});

test('s-nail: -i -f FROM -- rcpt; the empty sender <> is kept', async () => {
  const sink = await startSink({ users });
  try {
    const host = await relayHost(sink);
    let r = await runCli(['sendmail', '-i', '-f', 'reports@example.org', '--', 'x@example.net', 'y@example.net'],
      { input: `Subject: hi\n\n${body}`, env: host.env });
    assert.equal(r.code, 0, r.stderr);
    r = await runCli(['sendmail', '-i', '-f', '<>', 'z@example.net'], { input: `Subject: dsn\n\nx\n`, env: host.env });
    assert.equal(r.code, 0, r.stderr);
    const got = await sink.waitFor(2, 15_000);
    const byFrom = new Map(got.map((m) => [m.from, m]));
    assert.deepEqual(byFrom.get('reports@example.org')!.to.sort(), ['x@example.net', 'y@example.net']);
    assert.deepEqual(byFrom.get('')!.to, ['z@example.net']);
  } finally { await sink.close(); }
});


test('relay down at submission: exit 0, queued, deferred; relay back: sysmail flush delivers it', async () => {
  const host = makeHost();
  host.writeConfig(relayConfig(host, await refusedPort()));
  const r = await runCli(['sendmail', '-t'], { input: `To: a@example.net\nSubject: down\n\n${body}`, env: host.env });
  assert.equal(r.code, 0, r.stderr);
  const deferred = await waitUntil(() => host.events().find((e) => e.event === 'deferred'), 15_000, 'deferred event');
  assert.match(String(deferred.reason), /ECONNREFUSED|connect/i);
  const q = await runCli(['queue', '--json'], { env: host.env });
  const items = JSON.parse(q.stdout) as Array<{ id: string; last_error: string }>;
  assert.equal(items.length, 1);
  const sink = await startSink({ users });
  try {
    host.writeConfig(relayConfig(host, sink.port));
    const f = await runCli(['flush'], { env: host.env });
    assert.equal(f.code, 0, f.stderr);
    const [m] = await sink.waitFor(1, 5000);
    assert.ok(crlfToLf(m!.data).endsWith(body));
    const after = JSON.parse((await runCli(['queue', '--json'], { env: host.env })).stdout) as unknown[];
    assert.equal(after.length, 0);
  } finally { await sink.close(); }
});

test('451 is deferred then delivered; 550 on one of two recipients: the other delivered, a bounce for the rejected one', async () => {
  let tries = 0;
  const sink = await startSink({
    users,
    rejectRcpt: (a) => a === 'later@example.net' && tries++ === 0 ? { code: 451, message: '4.7.1 try again later' }
      : a === 'nobody@example.net' ? { code: 550, message: '5.1.1 no such user' } : null,
  });
  try {
    const host = await relayHost(sink);
    const r = await runCli(['sendmail', '-f', 'sender@example.org', 'later@example.net', 'nobody@example.net', 'ok@example.net'],
      { input: `Subject: mixed\n\n${body}`, env: host.env });
    assert.equal(r.code, 0, r.stderr);
    await waitUntil(() => host.events().find((e) => e.event === 'deferred' && e.rcpt === 'later@example.net'), 15_000, 'deferral');
    // The first pass delivered ok@ and bounced nobody@ to the sender (null envelope sender).
    const first = await sink.waitFor(2, 10_000);
    const original = first.find((m) => m.from === 'sender@example.org')!;
    assert.deepEqual(original.to, ['ok@example.net']);
    const bounce = first.find((m) => m.from === '')!;
    assert.deepEqual(bounce.to, ['sender@example.org']);
    const bt = crlfToLf(bounce.data);
    assert.match(bt, /multipart\/report; report-type=delivery-status/);
    assert.match(bt, /Final-Recipient: rfc822; nobody@example\.net/);
    assert.match(bt, /Status: 5\.1\.1/);
    // Retry: only the deferred recipient, once.
    const f = await runCli(['flush'], { env: host.env });
    assert.equal(f.code, 0, f.stderr);
    const all = await sink.waitFor(3, 10_000);
    assert.deepEqual(all[2]!.to, ['later@example.net']);
    const failed = JSON.parse((await runCli(['queue', '--failed', '--json'], { env: host.env })).stdout) as Array<{ id: string }>;
    assert.equal(failed.length, 1, 'the message with a failed recipient is kept in failed/');
    assert.equal(JSON.parse((await runCli(['queue', '--json'], { env: host.env })).stdout).length, 0);
  } finally { await sink.close(); }
});

test('a certificate from an unknown CA is refused and deferred with a clear reason', async () => {
  const sink = await startSink({ users });
  try {
    const host = await relayHost(sink, { ca: otherCa.caFile });
    const r = await runCli(['sendmail', 'a@example.net'], { input: 'Subject: tls\n\nx\n', env: host.env });
    assert.equal(r.code, 0, r.stderr);
    const ev = await waitUntil(() => host.events().find((e) => e.event === 'deferred'), 15_000, 'deferred event');
    assert.match(String(ev.reason), /certificate/i);
    assert.equal(sink.messages.length, 0);
    assert.equal(sink.auths.length, 0, 'no credentials sent to an unverified server');
  } finally { await sink.close(); }
});

test('two parallel delivery passes never deliver the same message twice', async () => {
  const sink = await startSink({ users });
  try {
    const host = await relayHost(sink);
    for (let i = 0; i < 15; i++) {
      const r = await runCli(['sendmail', '-odq', `n${i}@example.net`], { input: `Subject: n${i}\n\nbody ${i}\n`, env: host.env });
      assert.equal(r.code, 0, r.stderr);
    }
    const [a, b] = await Promise.all([runCli(['flush'], { env: host.env }), runCli(['flush'], { env: host.env })]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    await sink.waitFor(15, 10_000);
    await waitForIdleSpool(host.spool);
    const rcpts = sink.messages.flatMap((m) => m.to).sort();
    assert.equal(rcpts.length, 15);
    assert.equal(new Set(rcpts).size, 15);
  } finally { await sink.close(); }
});

test('embedded default: no config at all delivers into a Maildir under the state directory', async () => {
  const host = makeHost();
  const env = { SYSMAIL_STATE_DIR: join(host.dir, 'state') };
  const r = await runCli(['sendmail', '-odq', 'root'], { input: 'Subject: hello\n\nworks\n', env });
  assert.equal(r.code, 0, r.stderr);
  const f = await runCli(['flush'], { env });
  assert.equal(f.code, 0, f.stderr);
  const files = readdirSync(join(host.dir, 'state', 'Maildir', 'new'));
  assert.equal(files.length, 1);
});
