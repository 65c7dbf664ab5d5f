/**
 * The OCI Notifications transport end to end against the loopback fake (test/helpers/fake-oci.ts),
 * which verifies every signature as the service would: API keys (plain and encrypted), instance
 * principals with token refresh, the 64 KB cut with its archive copy, outcomes, and the rate limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { tempDir } from './helpers/paths.js';
import { startFakeOci, type FakeOci } from './helpers/fake-oci.js';
import { memoryLogger } from '../src/log/logger.js';
import type { Config, OciTransportConfig } from '../src/config/types.js';
import type { OutgoingMessage } from '../src/transports/types.js';
import { createOciTransport, type OciTransportDeps } from '../src/transports/oci/transport.js';
import { keyFingerprint, signRequest, httpDate } from '../src/transports/oci/signer.js';
import { MAX_PAYLOAD_BYTES } from '../src/transports/oci/payload.js';

const TENANCY = 'ocid1.tenancy.oc1..aaaaaaaatesttenancy';
const USER = 'ocid1.user.oc1..aaaaaaaatestuser';

function clock(start = Date.now()) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

function baseConfig(spoolDir: string): Config {
  return {
    source: null,
    general: { hostname: 'web1', domain: 'web1', admin: 'root', localDomains: ['web1', 'localhost'], aliases: null,
      maxMessageSize: 25 << 20, tagHost: true },
    spool: { dir: spoolDir, mode: 'disk', maxLifetime: 5 * 86400_000, retryMin: 60_000, retryMax: 3600_000 },
    log: { file: null, syslog: false },
    listener: { listen: [], allowRelayFrom: [], tlsCert: null, tlsKey: null, users: {}, earlyDelivery: true },
    metrics: { file: null, minInterval: 60_000 }, alerts: { via: [], to: 'root', delayWarning: 14_400_000, delayDsn: false },
    transports: {},
    routes: [],
  };
}

function topic(): string {
  return `ocid1.onstopic.oc1.phx.${randomBytes(8).toString('hex')}`;
}

function ociConfig(fake: FakeOci | null, over: Partial<OciTransportConfig>): OciTransportConfig {
  return {
    name: 'ons', type: 'oci-notifications', topicId: topic(), region: 'us-phoenix-1', endpoint: fake?.url ?? null,
    auth: 'api_key', configFile: '~/.oci/config', profile: 'DEFAULT', metadataUrl: 'http://127.0.0.1:9/opc/v2',
    federationUrl: null, archiveDir: null, timeout: 5000, ...over,
  };
}

let seq = 0;
function message(raw: string | Buffer, now: number): OutgoingMessage {
  return {
    id: `m${++seq}x${randomBytes(3).toString('hex')}`,
    envelope: { sender: 'root@web1', recipients: ['ops@example.com', 'dba@example.com'], submittedAt: now, uid: 0, user: 'root', via: 'sendmail' },
    raw: Buffer.isBuffer(raw) ? raw : Buffer.from(raw),
  };
}

interface ApiKeySetup { home: string; keyPath: string; publicKey: KeyObject; keyId: string }

/** A home directory with ~/.oci/config and a key, registered with the fake (unless `register` is false). */
function apiKeySetup(fake: FakeOci, home: string, opts: { passphrase?: string; format?: 'pkcs8' | 'pkcs1'; profileExtra?: string;
  register?: boolean; keyMode?: number } = {}): ApiKeySetup {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export(opts.passphrase
    ? { type: opts.format ?? 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: opts.passphrase }
    : { type: opts.format ?? 'pkcs8', format: 'pem' }).toString();
  mkdirSync(join(home, '.oci'), { recursive: true, mode: 0o700 });
  const keyPath = join(home, '.oci', 'key.pem');
  writeFileSync(keyPath, pem, { mode: 0o600 });
  chmodSync(keyPath, opts.keyMode ?? 0o600);
  const fp = keyFingerprint(publicKey);
  writeFileSync(join(home, '.oci', 'config'), [
    '# written by the test', '[DEFAULT]', `user=${USER}`, `fingerprint=${fp}`, `tenancy=${TENANCY}`, 'region=us-phoenix-1',
    'key_file=~/.oci/key.pem', opts.profileExtra ?? '', '',
  ].join('\n'), { mode: 0o600 });
  const keyId = `${TENANCY}/${USER}/${fp}`;
  if (opts.register !== false) fake.registerApiKey(keyId, publicKey);
  return { home, keyPath, publicKey, keyId };
}

async function withFake<T>(fn: (fake: FakeOci, dir: string, c: ReturnType<typeof clock>) => Promise<T>,
  fakeOpts: { tokenLifetimeSec?: number } = {}): Promise<T> {
  const c = clock();
  const fake = await startFakeOci({ now: c.now, ...fakeOpts });
  const dir = tempDir('sysmail-oci-');
  try {
    return await fn(fake, dir, c);
  } finally {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function transport(cfg: OciTransportConfig, dir: string, c: ReturnType<typeof clock>, deps: OciTransportDeps = {}) {
  const log = memoryLogger();
  const t = createOciTransport(cfg, { config: baseConfig(join(dir, 'spool')), log, now: c.now }, { env: {}, home: dir, ...deps });
  return { t, log };
}

const DISK_ALERT = 'From: root\nTo: ops@example.com\nSubject: =?UTF-8?Q?Disk_alert_on_/var_=E2=80=94_95=25?=\n\n/var is 95% full.\n';

test('API key: a mail is published once, titled [host] subject, for all recipients', () => withFake(async (fake, dir, c) => {
  const k = apiKeySetup(fake, dir);
  const cfg = ociConfig(fake, {});
  const { t, log } = transport(cfg, dir, c);
  const r = await t.deliver(message(DISK_ALERT, c.now()), ['ops@example.com', 'dba@example.com']);
  await t.close();
  assert.deepEqual(r.map((x) => [x.rcpt, x.outcome, x.code]), [['ops@example.com', 'sent', 202], ['dba@example.com', 'sent', 202]]);
  assert.match(r[0]!.text, /msg-1/);
  assert.equal(fake.messages.length, 1);
  const m = fake.messages[0]!;
  assert.equal(m.topicId, cfg.topicId);
  assert.equal(m.title, '[web1] Disk alert on /var — 95%');
  assert.equal(m.body, '/var is 95% full.');
  assert.equal(m.keyId, k.keyId);
  assert.equal(m.messageType, 'RAW_TEXT');
  assert.deepEqual(log.events, [], 'no warnings for 0600 files');
  assert.deepEqual(await t.deliver(message(DISK_ALERT, c.now()), []), []);
}));

test('API key: encrypted PKCS#8 and legacy encrypted PKCS#1 keys with pass_phrase', () => withFake(async (fake, dir, c) => {
  for (const format of ['pkcs8', 'pkcs1'] as const) {
    const home = join(dir, format);
    apiKeySetup(fake, home, { passphrase: 's3cret pass', format, profileExtra: 'pass_phrase=s3cret pass' });
    if (format === 'pkcs1') assert.match(readFileSync(join(home, '.oci', 'key.pem'), 'utf8'), /Proc-Type: 4,ENCRYPTED/);
    const { t } = transport(ociConfig(fake, {}), dir, c, { home });
    const [r] = await t.deliver(message(DISK_ALERT, c.now()), ['ops@example.com']);
    await t.close();
    assert.equal(r!.outcome, 'sent', r!.text);
  }
  assert.equal(fake.messages.length, 2);
}));

test('API key problems defer with the fix in the text: no pass_phrase, wrong one, missing profile', () => withFake(async (fake, dir, c) => {
  const cases: Array<[string, Partial<OciTransportConfig>, string | undefined, RegExp]> = [
    ['nopass', {}, undefined, /encrypted private key.*no pass_phrase.*add "pass_phrase=/],
    ['wrong', {}, 'pass_phrase=nope', /cannot decrypt .* pass_phrase .* is wrong/],
    ['profile', { profile: 'PROD' }, 'pass_phrase=right', /profile \[PROD\] not found \(profiles present: DEFAULT\)/],
  ];
  for (const [name, over, extra, re] of cases) {
    const home = join(dir, name);
    apiKeySetup(fake, home, { passphrase: 'right', profileExtra: extra });
    const { t } = transport(ociConfig(fake, over), dir, c, { home });
    const [r] = await t.deliver(message(DISK_ALERT, c.now()), ['ops@example.com']);
    await t.close();
    assert.equal(r!.outcome, 'deferred', name);
    assert.match(r!.text, re, name);
  }
  assert.equal(fake.publishArrivals.length, 0);
}));

test('a key file readable by others warns like the OCI CLI, and the mail still goes', () => withFake(async (fake, dir, c) => {
  const k = apiKeySetup(fake, dir, { keyMode: 0o644 });
  const { t, log } = transport(ociConfig(fake, {}), dir, c);
  const [r] = await t.deliver(message(DISK_ALERT, c.now()), ['ops@example.com']);
  await t.close();
  assert.equal(r!.outcome, 'sent');
  const warnings = log.events.filter((e) => e.status === 'warning');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!.reason!, new RegExp(`Permissions on ${k.keyPath} are too open \\(0644\\)`));
  assert.match(warnings[0]!.reason!, new RegExp(`oci setup repair-file-permissions --file ${k.keyPath}`));
  assert.match(warnings[0]!.reason!, /chmod 600/);
}));

test('the fake refuses what the service refuses: tampered body, unknown key, stale date (401)', () => withFake(async (fake, dir, c) => {
  const k = apiKeySetup(fake, dir);
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const registered = readFileSync(k.keyPath, 'utf8');
  const url = `${fake.url}/20181201/topics/${topic()}/messages`;
  const post = async (key: KeyObject | string, date: number, tamper: boolean) => {
    const body = '{"title":"t","body":"b"}';
    const headers: Record<string, string> = { date: httpDate(date), 'content-type': 'application/json' };
    Object.assign(headers, signRequest({ method: 'POST', url, headers, body, keyId: k.keyId, privateKey: key }));
    delete headers.host;
    const res = await fetch(url, { method: 'POST', headers, body: tamper ? body.replace('"b"', '"B"') : body });
    return { status: res.status, json: await res.json() as { code: string } };
  };
  assert.equal((await post(registered, c.now(), false)).status, 202);
  for (const [key, date, tamper] of [[registered, c.now(), true], [privateKey, c.now(), false], [registered, c.now() - 6 * 60_000, false]] as const) {
    const r = await post(key, date, tamper);
    assert.equal(r.status, 401);
    assert.equal(r.json.code, 'NotAuthenticated');
  }
  assert.equal(fake.messages.length, 1);
  // Through the transport: a key the service does not know is deferred with the 401 explained.
  const other = join(dir, 'other');
  apiKeySetup(fake, other, { register: false });
  const { t } = transport(ociConfig(fake, {}), dir, c, { home: other });
  const [r] = await t.deliver(message(DISK_ALERT, c.now()), ['ops@example.com']);
  await t.close();
  assert.equal(r!.outcome, 'deferred');
  assert.equal(r!.code, 401);
  assert.match(r!.text, /401 NotAuthenticated.*fingerprint/);
}));

test('instance principals: IMDS + federation, token reused, refreshed before expiry and after a 401', () => withFake(async (fake, dir, c) => {
  const cfg = ociConfig(fake, { auth: 'instance_principal', region: '', metadataUrl: fake.metadataUrl, federationUrl: fake.federationUrl });
  const { t } = transport(cfg, dir, c);
  const send = async () => (await t.deliver(message(DISK_ALERT, c.now()), ['ops@example.com']))[0]!;

  assert.equal((await send()).outcome, 'sent');
  assert.equal(fake.federations, 1);
  assert.ok(fake.imdsRequests.includes('/opc/v2/instance/canonicalRegionName'));
  for (const f of ['cert.pem', 'key.pem', 'intermediate.pem']) assert.ok(fake.imdsRequests.includes(`/opc/v2/identity/${f}`), f);
  assert.match(fake.messages[0]!.keyId, /^ST\$[\w-]+\.[\w-]+\.[\w-]+$/);

  c.advance(20_000);
  assert.equal((await send()).outcome, 'sent');
  assert.equal(fake.federations, 1, 'a fresh token is reused');

  // Lifetime 120 s: with 50 s left (< min(5 min, 60 s)) a new token is fetched first.
  c.advance(50_000);
  assert.equal((await send()).outcome, 'sent');
  assert.equal(fake.federations, 2);
  assert.notEqual(fake.messages[2]!.keyId, fake.messages[1]!.keyId);

  fake.revokeTokens();
  const r = await send();
  assert.equal(r.outcome, 'sent', r.text);
  assert.equal(fake.federations, 3, 'a 401 fetches a new token, and the publish is retried once');
  assert.equal(fake.rejections.filter((x) => x.status === 401).length, 1);
  assert.equal(fake.messages.length, 4);
  await t.close();
}, { tokenLifetimeSec: 120 }));

test('instance principals off OCI: the metadata service does not answer, the mail is deferred', () => withFake(async (fake, dir, c) => {
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const port = (dead.address() as AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const { t } = transport(ociConfig(fake, { auth: 'instance_principal', metadataUrl: `http://127.0.0.1:${port}/opc/v2`, federationUrl: fake.url }), dir, c);
  const [r] = await t.deliver(message(DISK_ALERT, c.now()), ['ops@example.com']);
  await t.close();
  assert.equal(r!.outcome, 'deferred');
  assert.match(r!.text, /cannot reach the instance metadata service.*only on an OCI compute instance/);
}));

test('a 200 KB report is cut to the 64 KB limit at a character boundary; the full copy is archived once', () => withFake(async (fake, dir, c) => {
  apiKeySetup(fake, dir);
  const archiveDir = join(dir, 'archive');
  // One long line of 1-, 2-, 3- and 4-byte characters, so the cut cannot fall back to a line end.
  const line = 'sshd[1234]: Jän größe € 日本語 😀 "quoted" \\ ';
  const text = line.repeat(Math.ceil(200_000 / Buffer.byteLength(line)));
  const raw = `From: Logwatch\nSubject: Logwatch for web1 (Linux)\nContent-Type: text/plain; charset="UTF-8"\nContent-Transfer-Encoding: 8bit\n\n${text}\n`;
  const msg = message(raw, c.now());
  fake.queueResponses({ status: 503, code: 'ServiceUnavailable', message: 'try later' });
  const { t } = transport(ociConfig(fake, { archiveDir }), dir, c);
  const [first] = await t.deliver(msg, ['ops@example.com']);
  assert.equal(first!.outcome, 'deferred');
  assert.equal(first!.code, 503);
  const [second] = await t.deliver(msg, ['ops@example.com']);
  await t.close();
  assert.equal(second!.outcome, 'sent', second!.text);

  const m = fake.messages[0]!;
  assert.ok(m.bytes <= MAX_PAYLOAD_BYTES && m.bytes > MAX_PAYLOAD_BYTES - 200, `payload ${m.bytes} bytes`);
  const files = readdirSync(join(archiveDir, 'new'));
  assert.equal(files.length, 1, 'the retry did not store a second copy');
  assert.deepEqual(readFileSync(join(archiveDir, 'new', files[0]!)), msg.raw);
  const at = m.body.indexOf('\n\n[sysmail: cut to fit the 64 KB limit');
  assert.ok(at > 30_000, `marker at ${at}`);
  assert.match(m.body.slice(at), new RegExp(`full message \\(${msg.raw.length} bytes\\) is kept on web1 in the Maildir ${archiveDir} as ${files[0]!.replace(/[.\\]/g, '\\$&')}]$`));
  const kept = m.body.slice(0, at);
  assert.ok(text.startsWith(kept), 'the kept part is an exact prefix');
  assert.equal(Buffer.from(kept).toString('utf8'), kept, 'no lone surrogate: the cut is between characters');
  assert.ok(!m.body.includes('\ufffd'));
  assert.equal(readdirSync(join(archiveDir, 'tmp')).length, 0);
}));

test('with archive_dir = false a long body is still cut to fit, and the marker says no copy was kept', () => withFake(async (fake, dir, c) => {
  apiKeySetup(fake, dir);
  const raw = `Subject: big\n\n${'line of a long report\n'.repeat(10_000)}`;
  const { t } = transport(ociConfig(fake, { archiveDir: null }), dir, c);
  const [r] = await t.deliver(message(raw, c.now()), ['ops@example.com']);
  await t.close();
  assert.equal(r!.outcome, 'sent', r!.text);
  const m = fake.messages[0]!;
  assert.ok(m.bytes <= MAX_PAYLOAD_BYTES);
  assert.match(m.body, /line of a long report\n\n\[sysmail: cut .* The full message \(\d+ bytes\) was not kept: archive_dir is off on web1\]$/);
  assert.deepEqual(readdirSync(dir).sort(), ['.oci'], 'no archive directory was made');
}));

test('429 then 202: deferred first, sent on the next attempt, published once', () => withFake(async (fake, dir, c) => {
  apiKeySetup(fake, dir);
  fake.queueResponses({ status: 429, code: 'TooManyRequests', message: 'Too many requests for the topic' });
  const { t } = transport(ociConfig(fake, {}), dir, c);
  const msg = message(DISK_ALERT, c.now());
  const [a, b] = [await t.deliver(msg, ['ops@example.com', 'dba@example.com']), await t.deliver(msg, ['ops@example.com', 'dba@example.com'])];
  await t.close();
  assert.deepEqual(a.map((x) => x.outcome), ['deferred', 'deferred']);
  assert.equal(a[0]!.code, 429);
  assert.match(a[0]!.text, /429 TooManyRequests: Too many requests for the topic \(opc-request-id fake\/\d+\)/);
  assert.deepEqual(b.map((x) => x.outcome), ['sent', 'sent']);
  assert.equal(fake.messages.length, 1);
}));

test('400 and 404 fail with the service\'s code and message; no bounce loop of retries', () => withFake(async (fake, dir, c) => {
  apiKeySetup(fake, dir);
  fake.queueResponses({ status: 400, code: 'InvalidParameter', message: 'Topic is not in ACTIVE state' },
    { status: 404, code: 'NotAuthorizedOrNotFound', message: 'Authorization failed or requested resource not found' });
  const { t } = transport(ociConfig(fake, {}), dir, c);
  const [r400] = await t.deliver(message(DISK_ALERT, c.now()), ['ops@example.com']);
  const [r404] = await t.deliver(message(DISK_ALERT, c.now()), ['ops@example.com']);
  await t.close();
  assert.deepEqual([r400!.outcome, r400!.code, r400!.dsn], ['failed', 400, '5.6.0']);
  assert.match(r400!.text, /400 InvalidParameter: Topic is not in ACTIVE state/);
  assert.deepEqual([r404!.outcome, r404!.code], ['failed', 404]);
  assert.match(r404!.text, /NotAuthorizedOrNotFound.*use ons-topics/);
  assert.equal(fake.publishArrivals.length, 2);
}));

test('a burst of 70 due messages: 60 published in the minute, 10 deferred, then sent when tokens return', () => withFake(async (fake, dir, c) => {
  apiKeySetup(fake, dir);
  const sleeps: number[] = [];
  const { t } = transport(ociConfig(fake, {}), dir, c, { sleep: async (ms) => { sleeps.push(ms); c.advance(ms); } });
  const burst = Array.from({ length: 70 }, () => message(DISK_ALERT, c.now()));
  const results = await Promise.all(burst.map((m) => t.deliver(m, ['ops@example.com'])));
  const deferred = burst.filter((_, i) => results[i]![0]!.outcome === 'deferred');
  assert.equal(fake.messages.length, 60);
  assert.equal(deferred.length, 10);
  assert.match(results.find((r) => r[0]!.outcome === 'deferred')![0]!.text, /60 publishes a minute to topic .* next slot in 60 s/);
  assert.deepEqual(sleeps, [], 'a 60 s wait is not slept through');

  c.advance(61_000);
  const again = await Promise.all(deferred.map((m) => t.deliver(m, ['ops@example.com'])));
  await t.close();
  assert.ok(again.every((r) => r[0]!.outcome === 'sent'));
  assert.equal(fake.messages.length, 70);
  assert.equal(fake.rejections.length, 0, 'never a 429 from the service');
  const at = fake.publishArrivals;
  for (const t0 of at) assert.ok(at.filter((x) => x >= t0 && x < t0 + 60_000).length <= 60);
}));

test('a short wait for the rate limit is slept through instead of deferring', () => withFake(async (fake, dir, c) => {
  apiKeySetup(fake, dir);
  const sleeps: number[] = [];
  const { t } = transport(ociConfig(fake, {}), dir, c, { ratePerMinute: 2, sleep: async (ms) => { sleeps.push(ms); c.advance(ms); } });
  for (let i = 0; i < 2; i++) assert.equal((await t.deliver(message(DISK_ALERT, c.now()), ['a@x']))[0]!.outcome, 'sent');
  c.advance(58_500);
  const [r] = await t.deliver(message(DISK_ALERT, c.now()), ['a@x']);
  await t.close();
  assert.equal(r!.outcome, 'sent');
  assert.deepEqual(sleeps, [1500]);
}));

test('network failures defer: refused connection, timeout; clear-text endpoint refused without sending', () => withFake(async (fake, dir, c) => {
  apiKeySetup(fake, dir);
  const silent = createServer(() => { /* never answers */ });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as AddressInfo).port;
  try {
    const { t: slow } = transport(ociConfig(null, { endpoint: `http://127.0.0.1:${port}`, timeout: 300 }), dir, c);
    const [timeout] = await slow.deliver(message(DISK_ALERT, c.now()), ['a@x']);
    await slow.close();
    assert.deepEqual([timeout!.outcome, timeout!.dsn], ['deferred', '4.4.2']);
    assert.match(timeout!.text, /within 300 ms/);
  } finally {
    silent.closeAllConnections();
    await new Promise<void>((r) => silent.close(() => r()));
  }
  const { t: refused } = transport(ociConfig(null, { endpoint: `http://127.0.0.1:${port}` }), dir, c);
  const [r1] = await refused.deliver(message(DISK_ALERT, c.now()), ['a@x']);
  await refused.close();
  assert.deepEqual([r1!.outcome, r1!.dsn], ['deferred', '4.4.1']);
  assert.match(r1!.text, /ECONNREFUSED/);

  const { t: clear } = transport(ociConfig(null, { endpoint: 'http://notification.example.com' }), dir, c);
  const [r2] = await clear.deliver(message(DISK_ALERT, c.now()), ['a@x']);
  await clear.close();
  assert.equal(r2!.outcome, 'deferred');
  assert.match(r2!.text, /must use https:\/\//);
}));
