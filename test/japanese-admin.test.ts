/**
 * A Japanese admin's day, end to end: cron (UTF-8, raw 8-bit headers), mailx (ISO-2022-JP, the
 * subject split over several encoded-words as Python's Header and Japanese mailers write it),
 * dnf-automatic (UTF-8, base64) and a monitoring script (Shift_JIS) hand their mail to the built
 * `sendmail -t`; one flush delivers each message to OCI Notifications (the loopback fake) and to a
 * Maildir. The notification titles and bodies must be exactly the Japanese text, with no U+FFFD
 * anywhere, and the Maildir copies must keep the original bytes.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeHost, runCli } from './helpers/cli.js';
import { startFakeOci, writeApiKeyConfig } from './helpers/fake-oci.js';

const cleanups: Array<() => unknown> = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

interface DayMail { name: string; raw: Buffer; title: string; text: string }

const b64 = (s: string) => Buffer.from(s, 'base64');
const DAY: DayMail[] = [
  {
    name: 'cron (cronie, LANG=ja_JP.UTF-8): raw UTF-8 subject and body',
    raw: Buffer.from('From: "(Cron Daemon)" <root>\nTo: root\nSubject: Cron <root@web1> /usr/local/bin/バックアップ.sh\n'
      + 'MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n'
      + 'バックアップが完了しました。\n対象: /var/lib/pgsql\n', 'utf8'),
    title: '[web1] Cron <root@web1> /usr/local/bin/バックアップ.sh',
    text: 'バックアップが完了しました。\n対象: /var/lib/pgsql',
  },
  {
    name: 'mailx: ISO-2022-JP subject in three encoded-words, ISO-2022-JP body',
    raw: Buffer.concat([Buffer.from('From: root\nTo: root\nSubject: '
      + '=?iso-2022-jp?b?d2ViMTogGyRCJUclIyU5JS87SE1RTigkLG9nQ00kckQ2JCgkXiQ3GyhC?=\n'
      + ' =?iso-2022-jp?b?GyRCJD8bKEIgKDk1JSkbJEIhIztqNV4zTkcnJDckRiQvJEAkNSQkGyhC?=\n'
      + ' =?iso-2022-jp?b?GyRCISMbKEI=?=\n'
      + 'MIME-Version: 1.0\nContent-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 7bit\n\n'),
    b64('L3ZhciAbJEIkTiVHJSMlOSUvO0hNUU4oJCwbKEIgOTUlIBskQiRLQyMkNyReJDckPyEjGyhCChskQklUTVckSiVVJSElJCVrJHI6bz18JDckRiQvJEAkNSQkISMbKEIK')]),
    title: '[web1] web1: ディスク使用率が閾値を超えました (95%)。至急確認してください。',
    text: '/var のディスク使用率が 95% に達しました。\n不要なファイルを削除してください。',
  },
  {
    name: 'dnf-automatic: UTF-8 encoded-word subject, base64 body',
    raw: Buffer.from('From: root@web1.example.com\nTo: root\nSubject: =?utf-8?b?W3dlYjFdIOabtOaWsOOBjOWIqeeUqOWPr+iDveOBp+OBmQ==?=\n'
      + 'MIME-Version: 1.0\nContent-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n'
      + Buffer.from('次の更新が利用可能です:\nkernel-5.14.0-427.el9\nopenssl-3.0.7-27.el9\n').toString('base64') + '\n'),
    title: '[web1] 更新が利用可能です',
    text: '次の更新が利用可能です:\nkernel-5.14.0-427.el9\nopenssl-3.0.7-27.el9',
  },
  {
    name: 'a monitoring script: Shift_JIS subject and 8-bit Shift_JIS body',
    raw: Buffer.concat([Buffer.from('From: root\nTo: root\nSubject: =?Shift_JIS?B?gXmKxI6LgXp3ZWIxIILMg1SBW4Nyg1ggaHR0cGQggqqS4o5+grWC3IK1gr0=?=\n'
      + 'MIME-Version: 1.0\nContent-Type: text/plain; charset=Shift_JIS\nContent-Transfer-Encoding: 8bit\n\n'),
    b64('aHR0cGQuc2VydmljZSCCqpLijn6CtYLcgrWCvYFCCo3Ei06TroK1gsSCrYK+grOCojogc3lzdGVtY3RsIHJlc3RhcnQgaHR0cGQK')]),
    title: '[web1] 【監視】web1 のサービス httpd が停止しました',
    text: 'httpd.service が停止しました。\n再起動してください: systemctl restart httpd',
  },
];

test("a Japanese admin's day: cron, mailx, dnf-automatic and Shift_JIS mail reach OCI Notifications and a Maildir exactly", async () => {
  const fake = await startFakeOci();
  cleanups.push(() => fake.close());
  const h = makeHost();
  cleanups.push(() => rmSync(h.dir, { recursive: true, force: true }));
  const ociConfig = await writeApiKeyConfig(fake, join(h.dir, 'oci'),
    { tenancy: 'ocid1.tenancy.oc1..aaaaaaaajapanesetenancy', user: 'ocid1.user.oc1..aaaaaaaajapaneseuser', region: 'ap-tokyo-1' });
  const maildir = join(h.dir, 'Maildir');
  h.writeConfig(`[general]\nhostname = "web1"\ndomain = "example.com"\naliases = false\n`
    + `[transports.ons]\ntype = "oci-notifications"\ntopic_id = "ocid1.onstopic.oc1.nrt.${randomBytes(8).toString('hex')}"\nregion = "ap-tokyo-1"\n`
    + `endpoint = "${fake.url}"\nconfig_file = "${ociConfig}"\ntimeout = "10s"\n`
    + `[transports.box]\ntype = "maildir"\npath = "${maildir}"\n`
    + `[[routes]]\nname = "all"\ntransports = ["ons", "box"]\nmode = "fanout"\n`);

  for (const m of DAY) {
    const r = await runCli(['sendmail', '-t', '-i', '-odq'], { input: m.raw, env: { ...h.env, LANG: 'ja_JP.UTF-8' } });
    assert.equal(r.code, 0, `${m.name}: ${r.stderr}`);
  }
  const f = await runCli(['flush'], { env: h.env, timeoutMs: 60_000 });
  assert.equal(f.code, 0, `flush: ${f.stderr}`);

  assert.deepEqual(fake.rejections, []);
  assert.equal(fake.messages.length, DAY.length, `published: ${fake.messages.map((p) => p.title).join(' | ')}`);
  for (const m of DAY) {
    const p = fake.messages.find((x) => x.title === m.title);
    assert.ok(p, `${m.name}: no notification titled ${JSON.stringify(m.title)}; got ${JSON.stringify(fake.messages.map((x) => x.title))}`);
    assert.equal(p.body, m.text, m.name);
    assert.doesNotMatch(p.title + p.body, /\ufffd/, `${m.name}: a replacement character`);
  }

  // The Maildir keeps every message's bytes: the body after the header block is what the program wrote.
  const dir = join(maildir, 'new');
  const files = existsSync(dir) ? readdirSync(dir).map((n) => readFileSync(join(dir, n))) : [];
  assert.equal(files.length, DAY.length);
  for (const m of DAY) {
    const body = m.raw.subarray(m.raw.indexOf('\n\n') + 2);
    assert.ok(files.some((file) => file.subarray(file.indexOf('\n\n') + 2).equals(body)), `${m.name}: body bytes kept in the Maildir`);
  }
});
