/**
 * Who starts delivery after sendmail has queued a message (src/submit/submit.ts): a running
 * `serve`, or systemd's sysmail-flush.path where `sysmail install` left its marker in the
 * spool; only where neither is there does sendmail start `sysmail flush --id` itself.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeHost, runCli, waitUntil } from './helpers/cli.js';

function boxHost() {
  const host = makeHost();
  const box = join(host.dir, 'Maildir');
  host.writeConfig(`[general]\nhostname = "web1.example.com"\naliases = false\n\n[transports.box]\ntype = "maildir"\npath = "${box}"\n`);
  const delivered = () => (existsSync(join(box, 'new')) ? readdirSync(join(box, 'new')).length : 0);
  const queued = () => (existsSync(join(host.spool, 'queue')) ? readdirSync(join(host.spool, 'queue')).filter((n) => !n.startsWith('.')).length : 0);
  return { host, delivered, queued };
}

test('without serve or the path unit, sendmail starts the delivery itself', async () => {
  const { host, delivered } = boxHost();
  const r = await runCli(['-t'], { input: 'To: root@example.com\nSubject: a\n\nbody\n', env: host.env, argv0: host.sendmail });
  assert.equal(r.code, 0, r.stderr);
  await waitUntil(() => delivered() === 1, 15_000, 'the background flush');
});

test('with the sysmail-flush.path marker in the spool, sendmail starts no flush; the unit\'s flush delivers', async () => {
  const { host, delivered, queued } = boxHost();
  mkdirSync(host.spool, { recursive: true });
  writeFileSync(join(host.spool, 'flush-path-unit'), 'test\n');
  const r = await runCli(['-t'], { input: 'To: root@example.com\nSubject: a\n\nbody\n', env: host.env, argv0: host.sendmail });
  assert.equal(r.code, 0, r.stderr);
  // The other test sees the spawned flush deliver well within this; here nobody may.
  await new Promise((res) => setTimeout(res, 2500));
  assert.equal(queued(), 1);
  assert.equal(delivered(), 0);
  // What sysmail-flush.service runs when the path unit fires.
  const f = await runCli(['flush', '--due', '--quiet'], { env: host.env });
  assert.equal(f.code, 0, f.stderr);
  assert.equal(delivered(), 1);
  assert.equal(queued(), 0);
});

test('doctor: a marker whose sysmail-flush.path is not running is a warning with the fix; a running one is ok', async () => {
  const { checkDeliveryTrigger } = await import('../src/doctor/kick-checks.js');
  const { host } = boxHost();
  mkdirSync(host.spool, { recursive: true });
  const config = { spool: { dir: host.spool } } as Parameters<typeof checkDeliveryTrigger>[0];
  const answer = (code: number, stdout: string) => async () => ({ code, stdout, stderr: '' });
  assert.equal((await checkDeliveryTrigger(config, answer(0, 'active\n'))).status, 'info', 'no marker: nothing to check');
  writeFileSync(join(host.spool, 'flush-path-unit'), 'test\n');
  assert.equal((await checkDeliveryTrigger(config, answer(0, 'active\n'))).status, 'ok');
  const off = await checkDeliveryTrigger(config, answer(3, 'inactive\n'));
  assert.equal(off.status, 'warn');
  assert.match(off.detail, /the unit is inactive: new mail waits/);
  assert.match(off.fix!, /systemctl enable --now sysmail-flush\.path/);
});
