/**
 * Scenario (c) of issue 13, as an admin migrating from esmtp would run it:
 * esmtp's own sample file and the two esmtprc forms that docs/MIGRATION.md
 * shows (read from the markdown, so the doc and this test cannot part) are
 * imported with the built CLI (`import --write -C FILE`), the config passes
 * `config check` unchanged except for one line an admin adds for a private
 * relay (ca_file: the test CA), and mail is delivered: to real smtp-server
 * relays on 127.0.0.1 (STARTTLS, implicit TLS, AUTH) and, for bare local
 * names, to the MDA with the local name as esmtp's %T gave it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSink, type Sink } from './helpers/smtp-sink.js';
import { makeCerts } from './helpers/certs.js';
import { runCli, waitUntil } from './helpers/cli.js';
import { fixtures, repoRoot, tempDir } from './helpers/paths.js';
import { extractBlocks } from './helpers/doc-blocks.js';

/** The esmtprc files MIGRATION.md writes (`<!-- doctest: file PATH -->` blocks), by path. */
function migrationForms(): Map<string, string> {
  const { blocks } = extractBlocks('docs/MIGRATION.md', readFileSync(join(repoRoot, 'docs', 'MIGRATION.md'), 'utf8'));
  const forms = new Map<string, string>();
  for (const b of blocks) if (b.action.kind === 'file') forms.set(b.action.path, b.body);
  return forms;
}

interface Host { dir: string; cfg: string; env: NodeJS.ProcessEnv; mdaOut: string }

/** Imports an esmtprc as the docs say, into a fresh directory; returns where things are. */
async function importRc(rc: string, extraToml: (toml: string) => string): Promise<Host> {
  const dir = tempDir('sysmail-scenario-c-');
  chmodSync(dir, 0o777); // the MDA runs as nobody and writes its argv here
  const mdaOut = join(dir, 'mda.out');
  const mda = join(dir, 'mda.sh');
  writeFileSync(mda, `#!/bin/sh\nprintf '%s\\n' "$@" > ${mdaOut}\ncat >> ${mdaOut}\n`, { mode: 0o755 });
  const file = join(dir, 'esmtprc');
  writeFileSync(file, rc.replace('/usr/bin/procmail', mda), { mode: 0o600 });
  const cfg = join(dir, 'etc', 'sysmail.toml');
  const env = { SYSMAIL_STATE_DIR: join(dir, 'state') };
  const imp = await runCli(['import', 'esmtprc', file, '--write', '-C', cfg], { env });
  assert.equal(imp.code, 0, imp.stderr);
  for (const f of readdirSync(join(dir, 'etc', 'secrets'))) assert.equal(statSync(join(dir, 'etc', 'secrets', f)).mode & 0o777, 0o600, 'secrets beside -C FILE');
  assert.ok(!/secrets\/.*\.pass/.test(imp.stdout) || imp.stdout.includes(join(dir, 'etc', 'secrets')), imp.stdout);
  writeFileSync(cfg, extraToml(readFileSync(cfg, 'utf8')));
  const check = await runCli(['config', 'check', '-C', cfg], { env });
  assert.equal(check.code, 0, `config check of the imported config:\n${check.stdout}${check.stderr}\n${readFileSync(cfg, 'utf8')}`);
  return { dir, cfg, env, mdaOut };
}

async function send(h: Host, args: string[], body: string): Promise<void> {
  const r = await runCli(['sendmail', '-C', h.cfg, ...args], { input: body, env: h.env });
  assert.equal(r.code, 0, r.stderr);
}

const withCa = (caFile: string) => (toml: string) =>
  toml.replace(/^security = "(starttls|tls)".*$/gm, (line) => `${line}\nca_file = "${caFile}"  # the relay's private CA (MIGRATION.md: "Certificates are checked")`);

test('MIGRATION.md, first form: one smarthost with STARTTLS and a login; root is qualified with qualifydomain and relayed', async () => {
  const certs = await makeCerts();
  const relay = await startSink({ tls: 'starttls', certs, users: { 'web1@example.com': 's3cret' } });
  try {
    const rc = migrationForms().get('/etc/esmtprc');
    assert.ok(rc, 'MIGRATION.md has the /etc/esmtprc form');
    const h = await importRc(rc.replace('smtp.example.com:587', `127.0.0.1:${relay.port}`), withCa(certs.caFile));
    await send(h, ['root'], 'Subject: cron\n\nfrom cron\n');
    await send(h, ['boss@example.com'], 'Subject: report\n\nto a colleague\n');
    const msgs = await relay.waitFor(2, 15_000);
    const rcpts = msgs.flatMap((m) => m.to).sort();
    assert.deepEqual(rcpts, ['boss@example.com', 'root@example.com'], 'qualifydomain qualifies; @example.com is not kept on this host');
    assert.ok(msgs.every((m) => m.secure && m.user === 'web1@example.com'), 'STARTTLS and the imported password');
  } finally { await relay.close(); }
});

test('MIGRATION.md, second form: an identity chosen by -f (port 465: TLS) and an MDA for bare local names', async () => {
  const certs = await makeCerts();
  const relay = await startSink({ tls: 'starttls', certs, users: { 'web1@example.com': 's3cret' } });
  const reports = await startSink({ tls: 'implicit', certs, users: { reports: 'an0ther pass' } });
  try {
    const rc = migrationForms().get('/root/esmtprc');
    assert.ok(rc, 'MIGRATION.md has the ~/esmtprc form');
    const h = await importRc(rc.replace('smtp.example.com:587', `127.0.0.1:${relay.port}`).replace('mail.example.org:465', '127.0.0.1:465'), withCa(certs.caFile));
    // Port 465 is what makes the import choose TLS; the test relay listens on another port.
    writeFileSync(h.cfg, readFileSync(h.cfg, 'utf8').replace(/^port = 465$/m, `port = ${reports.port}`));
    await send(h, ['-f', 'reports@example.org', 'ops@example.net'], 'Subject: weekly\n\nreport\n');
    await send(h, ['root'], 'Subject: local\n\nfor the MDA\n');
    await send(h, ['ops@example.net'], 'Subject: other\n\nto the smarthost\n');
    const [r] = await reports.waitFor(1, 15_000);
    assert.equal(r!.user, 'reports');
    assert.deepEqual(r!.to, ['ops@example.net']);
    const [d] = await relay.waitFor(1, 15_000);
    assert.equal(d!.user, 'web1@example.com');
    const out = String(await waitUntil(() => existsSync(h.mdaOut) && readFileSync(h.mdaOut, 'utf8'), 15_000, 'the MDA'));
    assert.match(out, /^-d\nroot\n/, `the MDA got the local name, as esmtp's %T: ${out}`);
    assert.match(out, /for the MDA/);
    assert.equal(relay.messages.length + reports.messages.length, 2, 'the local mail did not go to a relay');
  } finally { await Promise.all([relay.close(), reports.close()]); }
});

test('esmtp\'s own sample file: imported, checked, the default identity and -f myself@somewhere.com each reach their relay, root the MDA', async () => {
  const def = await startSink({ tls: 'none', users: { USERNAME: 'PASSWORD' }, allowInsecureAuth: true });
  const myself = await startSink({ tls: 'none', users: { myself: 'secret' }, allowInsecureAuth: true });
  try {
    const rc = readFileSync(join(fixtures, 'importers', 'esmtp-sample.esmtprc'), 'utf8')
      .replace('hostname = localhost:25', `hostname = 127.0.0.1:${def.port}`)
      .replace('hostname smtp.somewhere.com:25', `hostname 127.0.0.1:${myself.port}`);
    const h = await importRc(rc, (t) => t);
    await send(h, ['someone@example.net'], 'Subject: a\n\ndefault identity\n');
    await send(h, ['-f', 'myself@somewhere.com', 'friend@example.net'], 'Subject: b\n\nidentity\n');
    await send(h, ['root'], 'Subject: c\n\nlocal\n');
    const [a] = await def.waitFor(1, 15_000);
    const [b] = await myself.waitFor(1, 15_000);
    assert.equal(a!.user, 'USERNAME');
    assert.equal(b!.user, 'myself');
    assert.equal(b!.from, 'myself@somewhere.com');
    const out = String(await waitUntil(() => existsSync(h.mdaOut) && readFileSync(h.mdaOut, 'utf8'), 15_000, 'the MDA'));
    assert.match(out, /^-d\nroot\n/);
  } finally { await Promise.all([def.close(), myself.close()]); }
});

test('every golden import output passes `sysmail config check` once its passwords are written beside it', async () => {
  const dir = join(fixtures, 'importers');
  const cases: Array<[string, string]> = [
    ['esmtprc', 'esmtp-identities.esmtprc'], ['esmtprc', 'esmtp-mda.esmtprc'], ['esmtprc', 'esmtp-sample.esmtprc'],
    ['msmtprc', 'msmtp-typical.msmtprc'], ['ssmtp', 'ssmtp.conf'], ['nullmailer', 'nullmailer-two-remotes'],
  ];
  for (const [kind, name] of cases) {
    const out = tempDir('sysmail-golden-check-');
    const cfg = join(out, 'sysmail.toml');
    // msmtp's passwordeval runs gpg; here a stand-in gpg prints the password, as the admin's keyring would.
    const bin = join(out, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'gpg'), '#!/bin/sh\necho from-the-keyring\n', { mode: 0o755 });
    const env = { SYSMAIL_STATE_DIR: join(out, 'state'), HOME: out, PATH: `${bin}:${process.env.PATH}` };
    const imp = await runCli(['import', kind, join(dir, name), '--write', '-C', cfg], { env });
    assert.equal(imp.code, 0, `${name}: ${imp.stderr}`);
    const check = await runCli(['config', 'check', '-C', cfg], { env });
    assert.equal(check.code, 0, `${name}: config check:\n${check.stdout}${check.stderr}`);
  }
});
