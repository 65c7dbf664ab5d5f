/**
 * The other system reporters, each with the invocation and message it really
 * produces, through the built CLI to a real SMTP sink:
 * - unattended-upgrades: its own send_summary_mail() (Debian's
 *   /usr/bin/unattended-upgrade, loaded by test/fixtures/dnf/unattended-upgrades-mail.py):
 *   `sendmail -oi -t`, and `mail -r FROM -s SUBJECT TO` when there is no sendmail;
 * - logwatch 7.7: `open(OUT, "|/usr/sbin/sendmail -t")` with its header block
 *   (one To: line per MailTo address, From: Logwatch, MIME headers);
 * - mdadm 4.2 (Monitor.c): `popen("/usr/sbin/sendmail -t")` with its message;
 * - smartd 7.3: smartmontools' own smartd_warning.sh, with the environment
 *   smartd exports, calling the `-M exec` hook of docs/integrations.md both ways.
 * `sysmail serve --no-listen` runs throughout, as on a host with the service.
 * Logwatch and mdadm are not installed (logwatch pulls in an MTA, mdadm needs
 * real arrays); their output is transcribed from the sources named above.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { startSink, type Sink } from './helpers/smtp-sink.js';
import { makeHost, type TestHost } from './helpers/cli.js';
import { parseMail, relayToml, runProcess, startServe, toolBin } from './helpers/dnf.js';
import { fixtures, repoRoot } from './helpers/paths.js';

const hosts: TestHost[] = [];
after(() => { for (const h of hosts) rmSync(h.dir, { recursive: true, force: true }); });

/**
 * A host relaying to a fresh sink, with `sysmail serve --no-listen` running as
 * the systemd unit would: it delivers what the reporters queue.
 */
async function withSink(fn: (sink: Sink, h: TestHost) => Promise<void>): Promise<void> {
  const sink = await startSink({ tls: 'none' });
  const h = makeHost();
  hosts.push(h);
  h.writeConfig(relayToml(sink.port));
  const serve = await startServe(h, { listen: false });
  try {
    await fn(sink, h);
  } finally {
    const code = await serve.stop();
    await sink.close();
    assert.equal(code, 0, serve.stderr());
  }
}

function need(path: string, pkg: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: apt-get install --no-install-recommends ${pkg}`);
}

const env = (h: TestHost, path = '/usr/bin:/bin'): NodeJS.ProcessEnv => ({ PATH: path, HOME: h.dir, LANG: 'C.UTF-8', SYSMAIL_CONFIG: h.configFile });

test('unattended-upgrades: send_summary_mail() runs `sendmail -oi -t`, or `mail -r -s` without a sendmail', () => withSink(async (sink, h) => {
  need('/usr/bin/unattended-upgrade', 'unattended-upgrades');
  const bin = toolBin(h);
  const mail = bin.wrapper('mail', ['send']);
  const script = join(fixtures, 'dnf', 'unattended-upgrades-mail.py');
  let r = await runProcess('/usr/bin/python3', [script, h.sendmail, mail, 'ops@example.net'], { env: env(h, bin.path) });
  assert.equal(r.code, 0, r.stderr);
  r = await runProcess('/usr/bin/python3', [script, join(h.dir, 'no-sendmail'), mail, 'dba@example.net', 'apt@web1.example.com'], { env: env(h, bin.path) });
  assert.equal(r.code, 0, r.stderr);
  const got = await sink.waitFor(2, 15_000);
  const bySendmail = got.find((m) => m.to.includes('ops@example.net'))!;
  const byMail = got.find((m) => m.to.includes('dba@example.net'))!;
  assert.deepEqual(bySendmail.to, ['ops@example.net']);
  assert.equal(bySendmail.from, 'root@example.com');
  assert.deepEqual(byMail.to, ['dba@example.net']);
  assert.equal(byMail.from, 'apt@web1.example.com', 'mail -r sets the envelope sender');
  for (const m of [bySendmail, byMail]) {
    const msg = parseMail(m.data);
    assert.match(msg.header('Subject')!, /^\[package on hold\] unattended-upgrades result for \S+: SUCCESS$/);
    assert.match(msg.body, /Packages that were upgraded:\n openssl tzdata\n/);
    assert.match(msg.body, /Debian-Security:bookworm-security:\n  linux-image-amd64/);
    assert.match(msg.body, /Préparation du dépaquetage de openssl \.\.\.\n\.\nLog ended/, 'UTF-8 and a lone dot survive');
    assert.match(msg.body, /Unattended-upgrades log:\n.*All upgrades installed/s);
    assert.equal(msg.header('X-Sysmail-Host'), 'web1.example.com');
  }
  const viaSendmail = parseMail(bySendmail.data);
  assert.equal(viaSendmail.header('Auto-Submitted'), 'auto-generated');
  assert.equal(viaSendmail.header('Content-Transfer-Encoding'), 'quoted-printable', 'their QP body is passed through untouched');
}));

test('logwatch: `sendmail -t` with one To: line per MailTo address and From: Logwatch', () => withSink(async (sink, h) => {
  const report = ' ################### Logwatch 7.7 (01/22/22) #################### \n' +
    '        Processing Initiated: Mon Jan 12 06:25:01 2026\n        Date Range Processed: yesterday\n\n' +
    ' --------------------- pam_unix Begin ------------------------ \n sshd:\n    Authentication Failures:\n' +
    '       root (203.0.113.9): 12 Time(s)\n ---------------------- pam_unix End ------------------------- \n\n' +
    ' ###################### Logwatch End ######################### \n';
  // logwatch 7.7, sub output(): the header block it prints before the report.
  const message = 'To: ops@example.net\nTo: dba@example.net\nFrom: Logwatch\nSubject: Logwatch for web1 (Linux)\n' +
    'Auto-Submitted: auto-generated\nPrecedence: bulk\nMIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n' +
    'Content-Type: text/plain; charset="UTF-8"\n\n' + report;
  const r = await runProcess(h.sendmail, ['-t'], { env: env(h), input: message });
  assert.equal(r.code, 0, r.stderr);
  const [m] = await sink.waitFor(1, 15_000);
  assert.deepEqual([...m!.to].sort(), ['dba@example.net', 'ops@example.net']);
  assert.equal(m!.from, 'root@example.com');
  const msg = parseMail(m!.data);
  assert.equal(msg.header('Subject'), 'Logwatch for web1 (Linux)');
  assert.equal(msg.header('From'), 'Logwatch@example.com', 'a bare name is qualified with general.domain, as sendmail does');
  assert.deepEqual(msg.all('To'), ['ops@example.net', 'dba@example.net']);
  assert.equal(msg.body, report);
}));

test('mdadm: popen("/usr/sbin/sendmail -t") with the Monitor.c message', () => withSink(async (sink, h) => {
  const mdstat = 'Personalities : [raid1] [linear] [multipath] [raid0] [raid6] [raid5] [raid4] [raid10] \n' +
    'md0 : active raid1 sdb1[2](F) sda1[0]\n      62487552 blocks super 1.2 [2/1] [U_]\n      \nunused devices: <none>\n';
  // mdadm 4.2 Monitor.c, alert(): no MAILFROM in mdadm.conf, so "From: mdadm monitoring <root@HOST>".
  const message = 'From: mdadm monitoring <root@web1>\nTo: ops@example.net\nSubject: Fail event on /dev/md/0:web1\n\n' +
    'This is an automatically generated mail message from mdadm\nrunning on web1\n\n' +
    'A Fail event had been detected on md device /dev/md/0.\n\n' +
    'It could be related to component device /dev/sdb1.\n\nFaithfully yours, etc.\n\n' +
    'P.S. The /proc/mdstat file currently contains the following:\n\n' + mdstat;
  const r = await runProcess('/bin/sh', ['-c', `'${h.sendmail}' -t`], { env: env(h), input: message });
  assert.equal(r.code, 0, r.stderr);
  const [m] = await sink.waitFor(1, 15_000);
  assert.deepEqual(m!.to, ['ops@example.net']);
  const msg = parseMail(m!.data);
  assert.equal(msg.header('Subject'), 'Fail event on /dev/md/0:web1');
  assert.equal(msg.header('From'), 'mdadm monitoring <root@web1>');
  assert.equal(msg.header('X-Sysmail-Host'), 'web1.example.com');
  assert.ok(msg.body.endsWith('[2/1] [U_]\n      \nunused devices: <none>\n'), 'trailing spaces of mdstat kept');
  assert.match(msg.body, /^This is an automatically generated mail message from mdadm\nrunning on web1\n/);
}));

function smartdEnv(h: TestHost, hook: string, address: string | null): NodeJS.ProcessEnv {
  // What smartd 7.3 exports before it runs smartd_warning.sh (smartd.cpp, MailWarning()).
  return {
    ...env(h), SYSMAIL: join(h.dir, 'bin', 'sysmail'),
    SMARTD_MAILER: hook,
    ...(address !== null ? { SMARTD_ADDRESS: address } : {}),
    SMARTD_MESSAGE: 'Device: /dev/sda [SAT], FAILED SMART self-check. BACK UP DATA NOW!',
    SMARTD_FAILTYPE: 'FailedHealthCheck',
    SMARTD_DEVICE: '/dev/sda', SMARTD_DEVICETYPE: 'sat', SMARTD_DEVICESTRING: '/dev/sda [SAT]',
    SMARTD_DEVICEINFO: 'WDC WD40EFRX-68N32N0, S/N:WD-WCC7K1234567, WWN:5-0014ee-2b1234567, FW:82.00A82, 4.00 TB',
    SMARTD_PREVCNT: '0', SMARTD_TFIRST: 'Mon Jan 12 06:25:01 2026 UTC', SMARTD_TFIRSTEPOCH: '1768199101', SMARTD_NEXTDAYS: '1',
  };
}

test('smartd: smartd_warning.sh calls the -M exec hook as mail(1) with -m, and with the environment only for <nomailer>', () => withSink(async (sink, h) => {
  const warning = '/usr/share/smartmontools/smartd_warning.sh';
  need(warning, 'smartmontools');
  const bin = toolBin(h);
  const hook = join(bin.dir, 'sysmail-smartd');
  copyFileSync(join(fixtures, 'dnf', 'sysmail-smartd'), hook);
  chmodSync(hook, 0o755);
  // -m ops@example.net,dba@example.net -M exec HOOK: smartd passes the list space-separated.
  let r = await runProcess(warning, [], { env: smartdEnv(h, hook, 'ops@example.net dba@example.net') });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  // -m <nomailer> -M exec HOOK: no address, the hook gets SMARTD_SUBJECT / SMARTD_FULLMESSAGE.
  r = await runProcess(warning, [], { env: smartdEnv(h, hook, null) });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const got = await sink.waitFor(2, 15_000);
  const shortHost = hostname().split('.')[0];
  const listed = got.find((m) => m.to.length === 2)!;
  const admin = got.find((m) => m.to.length === 1)!;
  assert.deepEqual([...listed.to].sort(), ['dba@example.net', 'ops@example.net']);
  assert.deepEqual(admin.to, ['ops@example.net'], '<nomailer>: sysmail notify sends to general.admin');
  for (const m of [listed, admin]) {
    const msg = parseMail(m.data);
    assert.equal(msg.header('Subject'), `SMART error (FailedHealthCheck) detected on host: ${shortHost}`);
    assert.match(msg.body, /^This message was generated by the smartd daemon running on:\n/);
    assert.match(msg.body, /FAILED SMART self-check\. BACK UP DATA NOW!/);
    assert.match(msg.body, /S\/N:WD-WCC7K1234567/);
    assert.match(msg.body, /Another message will be sent in 24 hours if the problem persists\./);
  }
}));

test('the smartd hook in docs/integrations.md is the one tested here', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'integrations.md'), 'utf8');
  const hook = readFileSync(join(fixtures, 'dnf', 'sysmail-smartd'), 'utf8');
  assert.ok(doc.includes(hook), 'docs/integrations.md must quote test/fixtures/dnf/sysmail-smartd verbatim');
});
