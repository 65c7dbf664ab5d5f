/**
 * `sysmail config check` and OCI Notifications: a topic OCID from another
 * region, and an API key file that is missing, unreadable or not a key, are
 * configuration errors (exit 78) naming the transport and the fix; a good
 * profile and key pass. Real files, the built CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/paths.js';
import { ocidRegion, topicRegionProblem } from '../src/transports/oci/regions.js';
import { keyFingerprint } from '../src/transports/oci/signer.js';

test('the region in a topic OCID: short codes and full names; unknown codes are not an error', () => {
  assert.equal(ocidRegion('ocid1.onstopic.oc1.phx.aaaa'), 'us-phoenix-1');
  assert.equal(ocidRegion('ocid1.onstopic.oc1.eu-frankfurt-1.aaaa'), 'eu-frankfurt-1');
  assert.equal(ocidRegion('ocid1.onstopic.oc1..aaaa'), null);
  assert.equal(ocidRegion('ocid1.onstopic.oc1.zzq.aaaa'), null);
  assert.equal(topicRegionProblem('ocid1.onstopic.oc1.fra.aaaa', 'eu-frankfurt-1'), null);
  assert.match(topicRegionProblem('ocid1.onstopic.oc1.iad.aaaa', 'eu-frankfurt-1')!, /in us-ashburn-1 .*set region = "us-ashburn-1"/);
});

function setup(topic: string, region: string, keyFile: string | null) {
  const dir = tempDir('sysmail-oci-check-');
  const ociConfig = join(dir, 'oci-config');
  const cfg = join(dir, 'sysmail.toml');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = join(dir, 'oci_api_key.pem');
  writeFileSync(pem, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(ociConfig, `[DEFAULT]\nuser=ocid1.user.oc1..aaaa\nfingerprint=${keyFingerprint(privateKey)}\n`
    + `tenancy=ocid1.tenancy.oc1..aaaa\nregion=${region}\nkey_file=${keyFile ?? pem}\n`, { mode: 0o600 });
  writeFileSync(cfg, `[spool]\ndir = "${join(dir, 'spool')}"\n[log]\nfile = false\n\n[transports.ons]\ntype = "oci-notifications"\n`
    + `topic_id = "${topic}"\nregion = "${region}"\nauth = "api_key"\nconfig_file = "${ociConfig}"\n\n[[routes]]\ntransport = "ons"\n`);
  return { dir, cfg, pem };
}

test('config check: a good API key profile passes', async () => {
  const { cfg } = setup('ocid1.onstopic.oc1.fra.aaaaexample', 'eu-frankfurt-1', null);
  const r = await runCli(['config', 'check', '-C', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /OK \(1 transport\(s\), 1 route\(s\)\)/);
});

test('config check: a topic OCID from another region is exit 78 with the region to set', async () => {
  const { cfg } = setup('ocid1.onstopic.oc1.phx.aaaaexample', 'eu-frankfurt-1', null);
  const r = await runCli(['config', 'check', '-C', cfg]);
  assert.equal(r.code, 78, r.stdout);
  assert.match(r.stderr, /transports\.ons\.region: the topic OCID is in us-phoenix-1 .*set region = "us-phoenix-1"/);
});

test('config check: a missing API key file is exit 78 naming the file and the profile', async () => {
  const missing = '/nonexistent/sysmail-test/oci_api_key.pem';
  const { cfg } = setup('ocid1.onstopic.oc1.fra.aaaaexample', 'eu-frankfurt-1', missing);
  const r = await runCli(['config', 'check', '-C', cfg]);
  assert.equal(r.code, 78, r.stdout);
  assert.match(r.stderr, /transports\.ons \(auth = "api_key"\): cannot read OCI API key \/nonexistent\/sysmail-test\/oci_api_key\.pem: ENOENT/);
  assert.match(r.stderr, /fix: fix key_file in profile \[DEFAULT\]/);
});

test('config check: a key file that is not a key is exit 78', async () => {
  const { cfg, pem } = setup('ocid1.onstopic.oc1.fra.aaaaexample', 'eu-frankfurt-1', null);
  writeFileSync(pem, 'not a key\n');
  const r = await runCli(['config', 'check', '-C', cfg]);
  assert.equal(r.code, 78, r.stdout);
  assert.match(r.stderr, /oci_api_key\.pem is not a PEM private key/);
});
