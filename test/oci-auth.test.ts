/**
 * The pure and file-level parts of the OCI transport: the ~/.oci/config reader (cross-checked
 * against oci-common's ConfigFileReader), API-key loading and its warnings, token timing,
 * the tenancy in an instance certificate, the rate-limit bucket, and the payload limits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { tempDir } from './helpers/paths.js';
import { makeCertificate } from './helpers/fake-oci.js';
import { SysmailError } from '../src/core/errors.js';
import { loadApiKeyAuth, parseOciConfig, profileValues } from '../src/transports/oci/auth-config.js';
import { jwtTimes, refreshTime, tenancyFromCertificate, pemBody } from '../src/transports/oci/auth-instance.js';
import { TopicBucket, acquire } from '../src/transports/oci/rate-limit.js';
import { buildPayload, buildTitle, cutMarker, MAX_PAYLOAD_BYTES, MAX_TITLE_CHARS } from '../src/transports/oci/payload.js';
import { keyFingerprint } from '../src/transports/oci/signer.js';
import { realmDomain, classifyResponse } from '../src/transports/oci/transport.js';

const SAMPLE = [
  '# OCI CLI config', '[DEFAULT]', 'user=ocid1.user.oc1..default', 'fingerprint = aa:bb', 'tenancy=ocid1.tenancy.oc1..t',
  'region=eu-frankfurt-1', 'key_file=~/.oci/oci_api_key.pem', '', '[PROD]', 'user=ocid1.user.oc1..prod',
  'pass_phrase=a=b c', 'key_file = /etc/sysmail/oci.pem', '',
].join('\n');

test('config file: profiles inherit [DEFAULT], no quote processing, like oci-common ConfigFileReader', () => {
  const require = createRequire(import.meta.url);
  const common = require('oci-common') as typeof import('oci-common');
  const file = parseOciConfig(SAMPLE, '/x/config');
  for (const profile of ['DEFAULT', 'PROD']) {
    const ours = profileValues(file, profile, '/x/config');
    const theirs = common.ConfigFileReader.parse(SAMPLE, profile);
    for (const k of ['user', 'fingerprint', 'tenancy', 'region', 'key_file', 'pass_phrase']) {
      assert.equal(ours.get(k) ?? null, theirs.get(k) ?? null, `${profile}.${k}`);
    }
  }
  assert.equal(profileValues(file, 'PROD', '/x').get('region'), 'eu-frankfurt-1');
});

test('config file errors name file:line and the fix', () => {
  const err = (f: () => unknown) => { try { f(); } catch (e) { return e as SysmailError; } assert.fail('no error'); };
  const e1 = err(() => parseOciConfig('[DEFAULT]\nuser=x\nthis is not a setting\n', '/etc/oci/config'));
  assert.equal(e1.code, 'EBADCONFIG');
  assert.equal(e1.exit, 78);
  assert.match(e1.message, /^\/etc\/oci\/config:3: expected "key=value"/);
  assert.match(err(() => parseOciConfig('user=x\n', '/c')).message, /\/c:1: "user" appears before any \[PROFILE\]/);
  const e3 = err(() => profileValues(parseOciConfig(SAMPLE, '/c'), 'STAGE', '/c'));
  assert.match(e3.message, /profile \[STAGE\] not found \(profiles present: DEFAULT, PROD\)/);
  assert.match(e3.hint!, /oci setup config/);
});

test('API key loading: config and key permissions, fingerprint mismatch, suppression, session token', async () => {
  const home = tempDir('sysmail-ociauth-');
  try {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    mkdirSync(join(home, '.oci'));
    const keyPath = join(home, '.oci', 'k.pem');
    writeFileSync(keyPath, privateKey.export({ type: 'pkcs1', format: 'pem' }));
    chmodSync(keyPath, 0o640);
    const cfgPath = join(home, '.oci', 'config');
    // A relative key_file is taken relative to the config file.
    writeFileSync(cfgPath, `[DEFAULT]\nuser=U\ntenancy=T\nfingerprint=00:11\nkey_file=k.pem\nregion=ap-tokyo-1\n`);
    chmodSync(cfgPath, 0o644);
    const auth = await loadApiKeyAuth({ configFile: '~/.oci/config', profile: 'DEFAULT', home, env: {} });
    assert.equal(auth.region, 'ap-tokyo-1');
    assert.equal((await auth.credentials()).keyId, 'T/U/00:11');
    assert.equal(auth.invalidate(), false, 'an API key cannot be refreshed');
    assert.equal(auth.warnings.length, 3);
    assert.match(auth.warnings[0]!, new RegExp(`^WARNING: Permissions on ${cfgPath} are too open \\(0644\\)\\. To fix this please execute the following command: oci setup repair-file-permissions --file ${cfgPath}`));
    assert.match(auth.warnings[1]!, new RegExp(`Permissions on ${keyPath} are too open \\(0640\\)`));
    assert.match(auth.warnings[2]!, new RegExp(`fingerprint 00:11 .* does not match ${keyPath} \\(its fingerprint is ${keyFingerprint(privateKey)}\\)`));

    const quiet = await loadApiKeyAuth({ configFile: cfgPath, profile: 'DEFAULT', home, env: { OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING: 'True' } });
    assert.equal(quiet.warnings.length, 1, 'only the fingerprint warning is left');

    writeFileSync(join(home, 'token'), 'eyJ.session.token\n');
    writeFileSync(cfgPath, `[DEFAULT]\ntenancy=T\nkey_file=${keyPath}\nsecurity_token_file=~/token\n`);
    const st = await loadApiKeyAuth({ configFile: cfgPath, profile: 'DEFAULT', home, env: {} });
    assert.equal((await st.credentials()).keyId, 'ST$eyJ.session.token');

    writeFileSync(cfgPath, `[DEFAULT]\ntenancy=T\nuser=U\nfingerprint=f\nkey_file=/nonexistent/key.pem\n`);
    await assert.rejects(loadApiKeyAuth({ configFile: cfgPath, profile: 'DEFAULT', home, env: {} }),
      (e: SysmailError) => e.code === 'EBADCONFIG' && /cannot read OCI API key \/nonexistent\/key\.pem: ENOENT/.test(e.message));
    writeFileSync(cfgPath, `[DEFAULT]\ntenancy=T\nfingerprint=f\nkey_file=${keyPath}\n`);
    await assert.rejects(loadApiKeyAuth({ configFile: cfgPath, profile: 'DEFAULT', home, env: {} }),
      (e: SysmailError) => /has no "user"/.test(e.message));
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('token timing: refresh with min(5 min, half the lifetime) left; JWT payload read without verifying', () => {
  const jwt = (p: object) => `h.${Buffer.from(JSON.stringify(p)).toString('base64url')}.s`;
  assert.deepEqual(jwtTimes(jwt({ exp: 2000, iat: 800 })), { exp: 2000, iat: 800 });
  assert.equal(jwtTimes('not-a-jwt'), null);
  assert.equal(jwtTimes(jwt({ sub: 'x' })), null);
  assert.equal(refreshTime(0, 20 * 60_000), 15 * 60_000, '20 min token: refresh with 5 min left');
  assert.equal(refreshTime(0, 120_000), 60_000, '2 min token: refresh at half-life');
});

test('the tenancy comes from opc-tenant: (or opc-identity:) in the certificate subject', () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const ca: Array<[string, string]> = [['CN', 'ca']];
  const pem = makeCertificate([['CN', 'i'], ['OU', 'opc-certtype:instance'], ['OU', 'opc-tenant:ocid1.tenancy.oc1..abc']], ca, privateKey, privateKey, 3);
  assert.equal(tenancyFromCertificate(new X509Certificate(pem)), 'ocid1.tenancy.oc1..abc');
  const other = makeCertificate([['CN', 'i'], ['OU', 'opc-identity:ocid1.tenancy.oc1..xyz']], ca, privateKey, privateKey, 4);
  assert.equal(tenancyFromCertificate(new X509Certificate(other)), 'ocid1.tenancy.oc1..xyz');
  assert.equal(tenancyFromCertificate(new X509Certificate(makeCertificate([['CN', 'i']], ca, privateKey, privateKey, 5))), null);
  assert.doesNotMatch(pemBody(pem), /BEGIN|\n/);
});

test('rate bucket: at most `limit` in any window; waits are exact; a frozen clock cannot spin acquire', async () => {
  const b = new TopicBucket(3, 60_000);
  assert.ok(b.tryTake(0) && b.tryTake(10) && b.tryTake(20));
  assert.equal(b.tryTake(30), false);
  assert.equal(b.waitTime(30), 59_970);
  assert.equal(b.waitTime(59_999), 1);
  assert.equal(b.waitTime(60_000), 0, 'the first token is back one window after it was spent');
  assert.ok(b.tryTake(60_000));
  let slept = 0;
  const r = await acquire(new TopicBucket(1, 1000), () => 5, 2000, async () => { slept++; });
  assert.equal(r.ok, true);
  const frozen = new TopicBucket(1, 1000);
  frozen.tryTake(5);
  const r2 = await acquire(frozen, () => 5, 2000, async () => { slept++; });
  assert.equal(r2.ok, false);
  assert.equal(slept, 4, 'gave up after a few sleeps that did not move the clock');
});

test('payload: titles one line within the limit; escape-heavy bodies still fit in 64 KiB of JSON', () => {
  assert.equal(buildTitle('Disk\nfull', 'web1'), '[web1] Disk full');
  assert.equal(buildTitle('[web1] already tagged', 'web1'), '[web1] already tagged');
  assert.equal(buildTitle('', 'web1'), '[web1] (no subject)');
  assert.equal(buildTitle('x', null), 'x');
  const long = buildTitle('😀'.repeat(300), 'hh');
  assert.ok(long.length <= MAX_TITLE_CHARS && long.endsWith('…'));
  assert.equal(Buffer.from(long).toString(), long, 'no half surrogate pair');

  const small = buildPayload('t', 'hello', 'M');
  assert.deepEqual([small.cut, small.json], [false, '{"title":"t","body":"hello"}']);
  // Control characters cost 6 bytes each in JSON: the limit counts the serialized form.
  const nasty = '\u0001"\\'.repeat(40_000);
  const p = buildPayload('t', nasty, cutMarker(123, 'h', '/a', 'f'));
  assert.ok(p.cut);
  assert.ok(Buffer.byteLength(p.json) <= MAX_PAYLOAD_BYTES && Buffer.byteLength(p.json) > MAX_PAYLOAD_BYTES - 20);
  assert.ok(p.body.endsWith('as f]'));
  // Whatever the limit, the cut never splits a surrogate pair (a 4-byte UTF-8 character).
  const emoji = 'ab😀c😀😀d'.repeat(50);
  for (let limit = 60; limit < 200; limit++) {
    const q = buildPayload('t', emoji, '|', limit);
    assert.ok(Buffer.byteLength(q.json) <= limit, `limit ${limit}`);
    const kept = q.body.slice(0, -1);
    assert.ok(emoji.startsWith(kept) && Buffer.from(kept).toString() === kept, `limit ${limit}: ${JSON.stringify(kept.slice(-3))}`);
  }
});

test('realm domains from the topic OCID; classification of answers', () => {
  assert.equal(realmDomain('ocid1.onstopic.oc1.iad.x'), 'oraclecloud.com');
  assert.equal(realmDomain('ocid1.onstopic.oc4.ltn.x'), 'oraclegovcloud.uk');
  assert.equal(realmDomain('ocid1.onstopic.oc19.x.y'), 'oraclecloud.eu');
  const h = {};
  assert.equal(classifyResponse({ status: 202, body: '{"messageId":"m"}', headers: h }).outcome, 'sent');
  assert.equal(classifyResponse({ status: 500, body: 'oops', headers: h }).outcome, 'deferred');
  assert.equal(classifyResponse({ status: 409, body: '{"code":"IncorrectState"}', headers: h }).outcome, 'deferred');
  assert.equal(classifyResponse({ status: 403, body: '{}', headers: h }).dsn, '5.7.1');
});
