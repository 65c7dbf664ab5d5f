/**
 * Fleet visibility end to end, with the built CLI and a real SMTP relay on
 * loopback that goes down and comes back: the metrics file follows each
 * state and passes `promtool check metrics`; the stuck-mail warning goes out
 * once through the second channel (motd) after the (shortened) delay, the
 * recovery notice once, and nothing goes through the failing relay;
 * `sysmail status` exits 0/1/2 as a Nagios check; `serve` writes the file too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startSink } from './helpers/smtp-sink.js';
import { makeHost, runCli, waitUntil, type TestHost } from './helpers/cli.js';
import { cliPath } from './helpers/paths.js';

const message = 'From: cron@example.com\nTo: ops@example.com\nSubject: nightly backup\n\nbackup done\n';

function promtoolCheck(text: string): void {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.error, undefined, 'promtool is needed (Debian package prometheus)');
  assert.equal(r.status, 0, `promtool check metrics failed:\n${r.stdout}${r.stderr}\n${text}`);
  // promtool prints lint problems but still exits 0 for some; there must be none.
  assert.equal((r.stdout + r.stderr).trim(), '', `promtool lint:\n${r.stdout}${r.stderr}`);
}

/** The value of one sample, or undefined when absent. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

function config(host: TestHost, port: number, extra = ''): void {
  host.writeConfig(`[general]
hostname = "web1.example.com"
domain = "example.com"
admin = "ops@example.com"

[metrics]
file = "${join(host.dir, 'textfile', 'sysmail.prom')}"
min_interval = "0s"

[alerts]
via = ["relay", "banner"]
delay_warning = "2s"

[transports.relay]
type = "smtp"
host = "127.0.0.1"
port = ${port}
security = "none"
timeouts = { connect = "2s", greeting = "2s", command = "2s", data = "2s" }

[transports.banner]
type = "motd"
path = "${join(host.dir, 'motd')}"

[[routes]]
transport = "relay"
${extra}`);
}

const alerts = (host: TestHost) => host.events().filter((e) => e.event === 'alert');

test('relay down, stuck, back up: metrics, one warning and one recovery through motd, never through the relay', async () => {
  const host = makeHost();
  mkdirSync(join(host.dir, 'textfile'));
  const prom = join(host.dir, 'textfile', 'sysmail.prom');
  const motd = join(host.dir, 'motd');
  // Learn a free port, then take the relay down.
  let sink = await startSink({ tls: 'none' });
  const port = sink.port;
  await sink.close();
  config(host, port);

  const sent = await runCli(['-odq', 'ops@example.com'], { input: message, env: host.env, argv0: host.sendmail });
  assert.equal(sent.code, 0, sent.stderr);
  const flush = async () => {
    const r = await runCli(['flush', '--quiet'], { env: host.env });
    assert.equal(r.code, 0, r.stderr);
    return readFileSync(prom, 'utf8');
  };

  // Down: deferred, counted, the transport failing; not stuck yet, so no notice.
  let text = await flush();
  promtoolCheck(text);
  assert.equal(sample(text, 'sysmail_queue_messages', 'state="deferred"'), 1);
  assert.equal(sample(text, 'sysmail_deferrals_total', 'transport="relay"'), 1);
  assert.equal(sample(text, 'sysmail_deliveries_total', 'transport="relay"'), 0);
  assert.equal(sample(text, 'sysmail_transport_failing', 'transport="relay"'), 1);
  assert.equal(sample(text, 'sysmail_last_error_info', 'transport="relay",class="network"'), 1);
  assert.ok(sample(text, 'sysmail_queue_oldest_deferred_timestamp_seconds')! > 0);
  assert.equal(alerts(host).length, 0);
  assert.equal(existsSync(motd), false);
  const status1 = await runCli(['status'], { env: host.env });
  assert.equal(status1.code, 1, status1.stdout + status1.stderr);
  assert.match(status1.stdout, /^SYSMAIL WARNING: 1 message\(s\) deferred/);

  // Past the delay: one warning, through motd only (the relay is the one failing).
  await new Promise((r) => setTimeout(r, 2100));
  text = await flush();
  promtoolCheck(text);
  assert.equal(sample(text, 'sysmail_deferrals_total', 'transport="relay"'), 2);
  let a = alerts(host);
  assert.equal(a.length, 1, JSON.stringify(a));
  assert.equal(a[0]!.transport, 'banner');
  assert.equal(a[0]!.status, 'warning sent');
  const banner = readFileSync(motd, 'utf8');
  assert.match(banner, /web1\.example\.com: 1 message\(s\) stuck/);
  const status2 = await runCli(['status', '--json'], { env: host.env });
  assert.equal(status2.code, 2, status2.stdout + status2.stderr);
  const json = JSON.parse(status2.stdout);
  assert.equal(json.status, 'critical');
  assert.deepEqual(json.outage.notified_via, ['banner']);
  assert.equal(json.transports.relay.last_error_class, 'network');

  // Still down: no second warning (not per pass, not per process).
  await flush();
  await flush();
  assert.equal(alerts(host).length, 1);
  assert.equal(readFileSync(motd, 'utf8'), banner);

  // Back up on the same port: delivered, then exactly one recovery notice.
  sink = await startSink({ tls: 'none', port });
  try {
    text = await flush();
    promtoolCheck(text);
    assert.equal(sample(text, 'sysmail_queue_messages', 'state="deferred"'), 0);
    assert.equal(sample(text, 'sysmail_deliveries_total', 'transport="relay"'), 1);
    assert.equal(sample(text, 'sysmail_deferrals_total', 'transport="relay"'), 4);
    assert.equal(sample(text, 'sysmail_transport_failing', 'transport="relay"'), 0);
    assert.ok(sample(text, 'sysmail_last_success_timestamp_seconds', 'transport="relay"')! > 0);
    assert.equal(sample(text, 'sysmail_queue_oldest_deferred_timestamp_seconds'), undefined);
    a = alerts(host);
    assert.equal(a.length, 2, JSON.stringify(a));
    assert.deepEqual([a[1]!.transport, a[1]!.status], ['banner', 'recovery sent']);
    assert.match(readFileSync(motd, 'utf8'), /web1\.example\.com: mail flows again/);
    // The relay got the mail and nothing else: no notice went through it.
    const got = await sink.waitFor(1);
    assert.equal(got.length, 1);
    assert.match(got[0]!.data.toString(), /Subject: nightly backup/);

    // Nothing changes: the file is not rewritten, no further notice.
    const before = statSync(prom);
    await new Promise((r) => setTimeout(r, 20));
    await flush();
    assert.equal(statSync(prom).mtimeMs, before.mtimeMs);
    assert.equal(alerts(host).length, 2);
    assert.equal(sink.messages.length, 1);
    const status3 = await runCli(['status'], { env: host.env });
    assert.equal(status3.code, 0, status3.stdout);
    assert.match(status3.stdout, /^SYSMAIL OK: mail flows/);
  } finally {
    await sink.close();
  }
});

test('sysmail metrics prints what the file holds, and counters survive a lost state file (derived from the log)', async () => {
  const host = makeHost();
  mkdirSync(join(host.dir, 'textfile'));
  const sink = await startSink({ tls: 'none' });
  try {
    config(host, sink.port);
    for (let i = 0; i < 2; i++) {
      const r = await runCli(['-odq', 'ops@example.com'], { input: message, env: host.env, argv0: host.sendmail });
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal((await runCli(['flush', '--quiet'], { env: host.env })).code, 0);
    const printed = await runCli(['metrics'], { env: host.env });
    assert.equal(printed.code, 0, printed.stderr);
    promtoolCheck(printed.stdout);
    assert.equal(printed.stdout, readFileSync(join(host.dir, 'textfile', 'sysmail.prom'), 'utf8'));
    assert.equal(sample(printed.stdout, 'sysmail_deliveries_total', 'transport="relay"'), 2);
    assert.match(printed.stdout, /^sysmail_build_info\{version="\d+\.\d+\.\d+",node="v\d+/m);
    // A lost metrics.json: the counters are folded again from the whole log, not reset.
    spawnSync('rm', ['-f', join(host.spool, 'metrics.json')]);
    const again = await runCli(['metrics'], { env: host.env });
    assert.equal(sample(again.stdout, 'sysmail_deliveries_total', 'transport="relay"'), 2);
  } finally {
    await sink.close();
  }
});

test('serve writes the metrics file after delivering, and a change held back by min_interval on its timer', async () => {
  const host = makeHost();
  mkdirSync(join(host.dir, 'textfile'));
  const prom = join(host.dir, 'textfile', 'sysmail.prom');
  const sink = await startSink({ tls: 'none' });
  config(host, sink.port);
  host.writeConfig(readFileSync(host.configFile, 'utf8').replace(/^\[spool\][\s\S]*?\n\n\[log\][\s\S]*?\n\n/, '')
    .replace('min_interval = "0s"', 'min_interval = "2s"'));
  const serve = spawn(process.execPath, [cliPath, 'serve', '--no-listen'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...host.env }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  try {
    await waitUntil(() => existsSync(join(host.spool, 'serve.pid')), 10_000, 'serve to start');
    const r = await runCli(['ops@example.com'], { input: message, env: host.env, argv0: host.sendmail });
    assert.equal(r.code, 0, r.stderr);
    await sink.waitFor(1, 15_000);
    const text = await waitUntil(() => {
      const t = existsSync(prom) ? readFileSync(prom, 'utf8') : '';
      return sample(t, 'sysmail_deliveries_total', 'transport="relay"') === 1 ? t : null;
    }, 10_000, 'the metrics file to count the delivery');
    promtoolCheck(text);
    // A second delivery within min_interval is held back, then written by serve's timer, without more mail.
    const r2 = await runCli(['ops@example.com'], { input: message, env: host.env, argv0: host.sendmail });
    assert.equal(r2.code, 0, r2.stderr);
    await sink.waitFor(2, 15_000);
    await waitUntil(() => sample(readFileSync(prom, 'utf8'), 'sysmail_deliveries_total', 'transport="relay"') === 2,
      15_000, 'the held-back change to be written');
  } finally {
    serve.kill('SIGTERM');
    await new Promise((r) => serve.once('close', r));
    await sink.close();
  }
});

test('alerts.delay_dsn: one RFC 3464 "delayed" notice per stuck message, none for NOTIFY=NEVER, delivered once the relay is back', async () => {
  const host = makeHost();
  mkdirSync(join(host.dir, 'textfile'));
  let sink = await startSink({ tls: 'none' });
  const port = sink.port;
  await sink.close();
  config(host, port);
  // The same config with the delay notice on (appended keys would repeat [alerts]; rewrite it).
  host.writeConfig(readFileSync(host.configFile, 'utf8').replace(/^\[spool\][\s\S]*?\n\n\[log\][\s\S]*?\n\n/, '')
    .replace('delay_warning = "2s"', 'delay_warning = "2s"\ndelay_dsn = true'));
  for (const extra of [[], ['-N', 'never']]) {
    const r = await runCli(['-odq', ...extra, 'ops@example.com'], { input: message, env: host.env, argv0: host.sendmail });
    assert.equal(r.code, 0, r.stderr);
  }
  const flush = async () => assert.equal((await runCli(['flush', '--quiet'], { env: host.env })).code, 0);
  await flush();
  assert.equal(host.events().filter((e) => e.status === 'delayed').length, 0, 'not before the delay');
  await new Promise((r) => setTimeout(r, 2100));
  await flush();
  await flush();
  const delayed = host.events().filter((e) => e.status === 'delayed');
  assert.equal(delayed.length, 1, JSON.stringify(delayed));
  assert.equal(delayed[0]!.rcpt, 'ops@example.com', 'cron is a system sender: the admin gets it');
  sink = await startSink({ tls: 'none', port });
  try {
    await flush();
    const got = await sink.waitFor(3);
    const notices = got.filter((m) => m.from === '');
    assert.equal(notices.length, 1);
    const text = notices[0]!.data.toString();
    assert.match(text, /report-type=delivery-status/);
    assert.match(text, /^Action: delayed\r?$/m);
    assert.match(text, /^Status: 4\.4\.\d\r?$/m);
    assert.match(text, /^Will-Retry-Until: /m);
    assert.match(text, /Subject: nightly backup/, 'the original headers are included');
  } finally {
    await sink.close();
  }
});

test('a transport is failing only while mail waits for it: deleting the deferred message clears it', async () => {
  const host = makeHost();
  mkdirSync(join(host.dir, 'textfile'));
  const prom = join(host.dir, 'textfile', 'sysmail.prom');
  const sink = await startSink({ tls: 'none' });
  const port = sink.port;
  await sink.close();
  config(host, port);
  assert.equal((await runCli(['-odq', 'ops@example.com'], { input: message, env: host.env, argv0: host.sendmail })).code, 0);
  assert.equal((await runCli(['flush', '--quiet'], { env: host.env })).code, 0);
  assert.equal(sample(readFileSync(prom, 'utf8'), 'sysmail_transport_failing', 'transport="relay"'), 1);
  const list = JSON.parse((await runCli(['queue', '--json'], { env: host.env })).stdout) as { id: string }[];
  assert.equal((await runCli(['queue', 'delete', list[0]!.id], { env: host.env })).code, 0);
  assert.equal((await runCli(['flush', '--quiet'], { env: host.env })).code, 0);
  const text = readFileSync(prom, 'utf8');
  assert.equal(sample(text, 'sysmail_transport_failing', 'transport="relay"'), 0);
  assert.equal(sample(text, 'sysmail_transport_failing_since_timestamp_seconds', 'transport="relay"'), undefined);
  assert.equal(sample(text, 'sysmail_deferrals_total', 'transport="relay"'), 1, 'the counter stays');
  const status = await runCli(['status'], { env: host.env });
  assert.equal(status.code, 0, status.stdout);
});

test('doctor says where the metrics go and who is told about stuck mail', async () => {
  const host = makeHost();
  config(host, 25);
  let r = await runCli(['doctor', '--offline', '--json'], { env: host.env });
  let checks = JSON.parse(r.stdout) as { check: string; status: string; detail: string }[];
  const metrics = checks.find((c) => c.check === 'metrics')!;
  assert.equal(metrics.status, 'warn', 'the textfile directory does not exist yet');
  assert.match(metrics.detail, /does not exist/);
  assert.equal(checks.find((c) => c.check === 'alerts')!.status, 'ok');
  mkdirSync(join(host.dir, 'textfile'));
  r = await runCli(['doctor', '--offline', '--json'], { env: host.env });
  checks = JSON.parse(r.stdout);
  assert.equal(checks.find((c) => c.check === 'metrics')!.status, 'ok');
});
