/**
 * dnf-automatic's real emitters (Debian's python3-dnf: dnf/automatic/main.py
 * and emitter.py, driven by test/fixtures/dnf/emit.py) sending through the
 * built CLI, with the automatic.conf texts docs/dnf-automatic.md gives:
 * - command_email -> `sysmail send -Ssendwait -s {subject} -r {email_from} {email_to}` -> SMTP sink
 *   (and the motd transport beside it);
 * - email -> smtplib to `sysmail serve` (hang-up without QUIT) -> SMTP sink;
 * - command / command_email -> `sysmail notify …` -> OCI Notifications (loopback fake);
 * - hostile system names: no shell runs, no header is added.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSink } from './helpers/smtp-sink.js';
import { startFakeOci, type FakeOci } from './helpers/fake-oci.js';
import { makeHost, runCli, waitUntil, type TestHost } from './helpers/cli.js';
import { canary, parseMail, relayToml, runEmitters, startServe, toolBin } from './helpers/dnf.js';
import { fixtures, repoRoot } from './helpers/paths.js';
import { keyFingerprint } from '../src/transports/oci/signer.js';

const hosts: TestHost[] = [];
function host(): TestHost {
  const h = makeHost();
  hosts.push(h);
  return h;
}
after(() => { for (const h of hosts) rmSync(h.dir, { recursive: true, force: true }); });

const transaction = readFileSync(join(fixtures, 'dnf', 'transaction.txt'), 'utf8');

function assertCleanRun(r: { code: number | null; stderr: string }): void {
  assert.equal(r.code, 0, `dnf emitters failed:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /dnf-error:/, 'dnf logged an error');
}

// The automatic.conf texts are taken from docs/dnf-automatic.md itself, so the page cannot drift from what is tested.
const doc = readFileSync(join(repoRoot, 'docs', 'dnf-automatic.md'), 'utf8');
function docConf(emitter: string): string {
  const block = [...doc.matchAll(/```ini\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes(`emit_via = ${emitter}\n`));
  if (!block) throw new Error(`docs/dnf-automatic.md has no \`\`\`ini block with emit_via = ${emitter}`);
  return block;
}
function edit(text: string, from: string, to: string): string {
  assert.ok(text.includes(from), `expected "${from}" in:\n${text}`);
  return text.replace(from, to);
}
const COMMAND_EMAIL = docConf('command_email');
const NOTIFY_FORMAT = 'command_format = "sysmail notify {subject}"';
assert.ok(doc.includes(NOTIFY_FORMAT), 'the notify variant is documented');
const withNotify = (conf: string) => conf.replace(/^command_format = .*$/m, NOTIFY_FORMAT);

test('command_email: dnf runs `sysmail send -Ssendwait -s {subject} -r {email_from} {email_to}`; the report reaches the smarthost and the motd', async () => {
  const sink = await startSink({ tls: 'none' });
  try {
    const h = host();
    const motd = join(h.dir, 'motd.d', 'sysmail');
    mkdirSync(join(h.dir, 'motd.d'));
    h.writeConfig(relayToml(sink.port) + `
[transports.banner]
type = "motd"
path = "${motd}"

[[routes]]
name = "reports"
transports = ["relay", "banner"]
mode = "fanout"
`);
    const bin = toolBin(h);
    const r = await runEmitters(h, bin, COMMAND_EMAIL, 'downloaded');
    assertCleanRun(r);
    const [m] = await sink.waitFor(1, 15_000);
    assert.equal(m!.from, 'root@example.com', '-r root, qualified with general.domain');
    assert.deepEqual(m!.to, ['ops@example.net']);
    const mail = parseMail(m!.data);
    assert.equal(mail.header('Subject'), "Updates downloaded on 'web1'.");
    assert.equal(mail.header('X-Sysmail-Host'), 'web1.example.com');
    assert.match(mail.header('From')!, /\(web1\.example\.com\)/, 'the generated From names the host');
    assert.equal(mail.body, `The following updates were downloaded on 'web1':\n${transaction}`);
    await waitUntil(() => existsSync(motd) && readFileSync(motd, 'utf8').includes("Updates downloaded on 'web1'."), 10_000, 'the motd notice');
    assert.equal(sink.messages.length, 1, 'one copy only');
  } finally { await sink.close(); }
});

test('hostile system names through {subject}: no shell runs, CR/LF never make a header', async () => {
  const sink = await startSink({ tls: 'none' });
  try {
    const h = host();
    h.writeConfig(relayToml(sink.port));
    const bin = toolBin(h);
    const c1 = canary(h, 'canary-dollar');
    const c2 = canary(h, 'canary-backtick');
    const c3 = canary(h, 'canary-semicolon');
    const name = `web1 $(touch ${c1.path}) \`touch ${c2.path}\` "dq" it's; touch ${c3.path}\nX-Injected: yes\r\nBcc: thief@example.org`;
    for (const conf of [COMMAND_EMAIL, withNotify(COMMAND_EMAIL)]) assertCleanRun(await runEmitters(h, bin, conf, 'applied', { systemName: name }));
    const got = await sink.waitFor(2, 15_000);
    assert.equal(c1.exists() || c2.exists() || c3.exists(), false, 'a subject was run by a shell');
    for (const m of got) {
      assert.deepEqual(m.to, ['ops@example.net'], 'no recipient smuggled in');
      const mail = parseMail(m.data);
      assert.doesNotMatch(mail.rawHeaders, /^(X-Injected|Bcc):/im);
      assert.equal(mail.all('Subject').length, 1);
      const subject = mail.header('Subject')!;
      assert.ok(subject.startsWith(`Updates applied on 'web1 $(touch ${c1.path}) \`touch ${c2.path}\` "dq" it's; touch ${c3.path}`), subject);
      assert.match(subject, /X-Injected: yes/, 'the text stays in the subject, on one line');
      assert.doesNotMatch(subject, /[\r\n]/);
    }
  } finally { await sink.close(); }
});

test('email: smtplib to `sysmail serve`, hang-up right after the 250; the report is delivered once', async () => {
  const sink = await startSink({ tls: 'none' });
  const h = host();
  h.writeConfig(relayToml(sink.port));
  const serve = await startServe(h);
  try {
    const bin = toolBin(h);
    // Debian 12's dnf 4.14 ignores email_port and connects to port 25; smtplib takes "host:port" in email_host.
    let conf = edit(docConf('email'), 'email_host = localhost\n', `email_host = 127.0.0.1:${serve.port}\n`);
    conf = edit(conf, 'email_port = 25\n', `email_port = ${serve.port}\n`);
    assertCleanRun(await runEmitters(h, bin, conf, 'available'));
    const [m] = await sink.waitFor(1, 15_000);
    assert.equal(m!.from, 'root@web1.example.com');
    assert.deepEqual(m!.to, ['ops@example.net']);
    const mail = parseMail(m!.data);
    assert.equal(mail.header('Subject'), "Updates available on 'web1'.");
    assert.equal(mail.header('X-Sysmail-Host'), 'web1.example.com');
    assert.match(mail.all('Received').join('\n'), /127\.0\.0\.1/);
    assert.equal(mail.body, `The following updates are available on 'web1':\n${transaction}`);
    const accepted = h.events().filter((e) => e.event === 'accepted');
    assert.equal(accepted.length, 1);
    await waitUntil(() => h.events().find((e) => e.event === 'delivered'), 5000, 'the delivered event');
    const q = await runCli(['queue', '--json'], { env: h.env });
    assert.deepEqual(JSON.parse(q.stdout), [], 'nothing left behind');
    assert.equal(sink.messages.length, 1);
  } finally {
    assert.equal(await serve.stop(), 0, serve.stderr());
    await sink.close();
  }
});

const TENANCY = 'ocid1.tenancy.oc1..aaaaaaaadnfautomatictests';
const USER = 'ocid1.user.oc1..aaaaaaaadnfautomaticuser';
const TOPIC = 'ocid1.onstopic.oc1.phx.aaaaaaaadnfautomatictopic';

/** ~/.oci/config and an API key the fake knows; returns the sysmail.toml transport. */
function ociSetup(h: TestHost, fake: FakeOci): string {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dir = join(h.dir, '.oci');
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(join(dir, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const fp = keyFingerprint(publicKey);
  writeFileSync(join(dir, 'config'), `[DEFAULT]\nuser=${USER}\nfingerprint=${fp}\ntenancy=${TENANCY}\nregion=us-phoenix-1\nkey_file=${join(dir, 'key.pem')}\n`, { mode: 0o600 });
  fake.registerApiKey(`${TENANCY}/${USER}/${fp}`, publicKey);
  return `[general]
hostname = "web1.example.com"
domain = "example.com"
admin = "ops@example.net"
aliases = false

[transports.ons]
type = "oci-notifications"
topic_id = "${TOPIC}"
region = "us-phoenix-1"
endpoint = "${fake.url}"
auth = "api_key"
config_file = "${join(dir, 'config')}"
`;
}

test('the script convention: [command] and [command_email] run `sysmail notify`; OCI Notifications gets "[host] subject" and the report', async () => {
  const fake = await startFakeOci();
  try {
    const h = host();
    h.writeConfig(ociSetup(h, fake));
    const bin = toolBin(h);
    // [command] has only {body}: the subject is fixed text, the host tag says which machine.
    const command = docConf('command');
    assertCleanRun(await runEmitters(h, bin, command, 'applied'));
    await waitUntil(() => fake.messages.length >= 1, 15_000, 'the first notification');
    assertCleanRun(await runEmitters(h, bin, withNotify(COMMAND_EMAIL), 'available'));
    await waitUntil(() => fake.messages.length >= 2, 15_000, 'the second notification');
    const [first, second] = fake.messages;
    assert.equal(first!.topicId, TOPIC);
    assert.equal(first!.title, '[web1.example.com] dnf-automatic report');
    assert.match(first!.body, /^The following updates have been applied on 'web1':\n/);
    assert.ok(first!.body.includes(transaction.trimEnd()), first!.body);
    assert.match(first!.body, /Updates completed at /);
    assert.equal(second!.title, "[web1.example.com] Updates available on 'web1'.");
    assert.equal(second!.body.trimEnd(), `The following updates are available on 'web1':\n${transaction}`.trimEnd());
    assert.equal(fake.messages.length, 2);
  } finally { await fake.close(); }
});

test('[command] has no {subject}: dnf 4 fails before running anything (why the docs use a fixed subject there)', async () => {
  const h = host();
  h.writeConfig(relayToml(9));
  const bin = toolBin(h);
  const r = await runEmitters(h, bin, '[emitters]\nemit_via = command\n\n[command]\ncommand_format = "sysmail notify {subject}"\n', 'available');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /KeyError: 'subject'/);
  const q = await runCli(['queue', '--json'], { env: h.env });
  assert.equal(q.code, 0, q.stderr);
  assert.deepEqual(JSON.parse(q.stdout), [], 'nothing was queued');
});
