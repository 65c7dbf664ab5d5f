/**
 * The queue view (issue 13, item 5): a recipient rewritten by the admin rule
 * or aliases shows as "root@web1 → ops@example.com (admin)", never as a
 * phantom pending original; drop/ entries are listed as awaiting import; a
 * caller that cannot read queue/ gets a note, not EACCES. Real spool on disk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../src/config/validate.js';
import { openSpool, submitToDrop } from '../src/spool/file-spool.js';
import { memoryLogger } from '../src/log/logger.js';
import { runQueue } from '../src/delivery/runner.js';
import { TransportPool } from '../src/transports/registry.js';
import { expandRecipient } from '../src/router/aliases.js';
import { adminRule } from '../src/router/admin.js';
import { formatQueue } from '../src/cli/admin.js';
import { listDrop } from '../src/spool/drop-list.js';
import { formatRecord } from '../src/cli/logview.js';
import { tempDir } from './helpers/paths.js';

function setup() {
  const dir = tempDir('sysmail-qview-');
  const config = validateConfig({
    general: { hostname: 'web1.example.com', domain: 'example.com', admin: 'ops@example.net', aliases: false },
    spool: { dir: `${dir}/spool`, retry_min: '1m', retry_max: '10m', max_lifetime: '1d' },
    log: { file: false },
    transports: { relay: { type: 'stdout' } },
  }, null, undefined, { fileStat: null });
  const spool = openSpool({ dir: config.spool.dir });
  const log = memoryLogger();
  const admin = adminRule(config.general, null);
  const expand = (r: string) => {
    const x = expandRecipient(r, new Map(), { localDomains: config.general.localDomains, domain: config.general.domain, admin });
    return x.addresses.map((a) => ({ address: a, via: x.via.get(a.toLowerCase()) ?? null }));
  };
  const deferring = new TransportPool({ config, log, now: Date.now }, (async (cfg: { name: string }) => ({
    name: cfg.name, type: 'stdout', close: async () => {},
    deliver: async (_m: unknown, rcpts: string[]) => rcpts.map((rcpt) => ({ rcpt, outcome: 'deferred' as const, code: 451, text: 'relay busy' })),
  })) as never);
  return { config, spool, log, expand, deferring };
}

test('a recipient sent to the admin shows as the rewrite, before and after an attempt; no phantom [pending]', async () => {
  const t = setup();
  const id = await t.spool.submit({ sender: 'root@web1.example.com', recipients: ['root@web1.example.com', 'alice@example.org'],
    submittedAt: Date.now(), uid: 0, user: 'root', via: 'sendmail' }, Buffer.from('Subject: cron\n\nbody\n'));
  const before = formatQueue(await t.spool.list('queue'), false, { rewrite: t.expand });
  assert.match(before, /^ {4}root@web1\.example\.com → ops@example\.net \(admin\)  \[pending\]$/m, before);
  assert.doesNotMatch(before, /^ {4}root@web1\.example\.com  \[pending\]$/m, before);

  await runQueue({ config: t.config, spool: t.spool, log: t.log, force: true, expandAlias: t.expand, transports: t.deferring });
  const m = await t.spool.get(id);
  assert.deepEqual(Object.keys(m!.state.recipients).sort(), ['alice@example.org', 'ops@example.net'], 'the original is not re-added as pending');
  const after = formatQueue([m!], false, { rewrite: t.expand });
  assert.match(after, /^ {4}root@web1\.example\.com → ops@example\.net \(admin\) {2}\[deferred 451: relay busy\]$/m, after);
  assert.doesNotMatch(after, /root@web1\.example\.com {2}\[pending\]/);
  assert.doesNotMatch(after, /^ {4}root@web1\.example\.com$/m);
  // The log says the same.
  const ev = t.log.events.find((e) => e.event === 'deferred' && e.rcpt === 'ops@example.net')!;
  assert.equal(ev.orig_rcpt, 'root@web1.example.com');
  assert.equal(ev.via, 'admin');
  assert.match(formatRecord(ev as never), /root@web1\.example\.com → ops@example\.net \(admin\)/);
});

test('drop/ entries are listed as awaiting import, with the rewrite; a hidden queue/ is a note, not an error', async () => {
  const t = setup();
  await t.spool.prepare();
  await submitToDrop(t.config.spool.dir, { sender: 'alice@web1.example.com', recipients: ['root@web1.example.com'], submittedAt: Date.now(),
    uid: 1000, user: 'alice', via: 'sendmail' }, Buffer.from('Subject: from alice\n\nhi\n'));
  const drop = await listDrop(t.config.spool.dir);
  assert.equal(drop.length, 1);
  const out = formatQueue([], false, { drop, rewrite: t.expand, hidden: 'queue/ is readable by root only' });
  assert.match(out, /^\(queue\/ is readable by root only\)$/m);
  assert.match(out, /\* +\d+ +\S+ \S+ +alice@web1\.example\.com$/m);
  assert.match(out, /awaiting import/);
  assert.match(out, /^ {4}root@web1\.example\.com → ops@example\.net \(admin\)$/m);
  assert.match(out, /1 awaiting import/);
  assert.doesNotMatch(out, /Mail queue is empty/);
});

test('a bounce shows the rewrite as the queue does: <root@web1> → <ops@example.net> (admin)', async () => {
  const t = setup();
  const failing = new TransportPool({ config: t.config, log: t.log, now: Date.now }, (async (cfg: { name: string }) => ({
    name: cfg.name, type: 'stdout', close: async () => {},
    deliver: async (_m: unknown, rcpts: string[]) => rcpts.map((rcpt) => ({ rcpt, outcome: 'failed' as const, code: 550, dsn: '5.1.1', text: 'no such user' })),
  })) as never);
  const id = await t.spool.submit({ sender: 'app@example.org', recipients: ['root@web1.example.com'], submittedAt: Date.now(), uid: 0, user: 'root',
    via: 'sendmail' }, Buffer.from('Subject: x\n\nbody\n'));
  await runQueue({ config: t.config, spool: t.spool, log: t.log, force: true, ids: [id], expandAlias: t.expand, transports: failing, maxRounds: 1 });
  const bounce = (await t.spool.list('queue')).find((m) => m.envelope.isBounce);
  assert.ok(bounce, 'a bounce was queued');
  const c = (await t.spool.claim(bounce.id))!;
  const text = (await c.readMessage()).toString('utf8');
  await c.release();
  assert.match(text, /^<root@web1\.example\.com> → <ops@example\.net> \(admin\): no such user$/m, text);
  assert.match(text, /^Original-Recipient: rfc822; root@web1\.example\.com$/m);
});
