/**
 * The queue runner with a real spool on disk and scripted transports (the
 * transports themselves are tested against real servers elsewhere): routing,
 * fallback after a failing period, fan-out without repeats, expiry, bounces,
 * never a bounce of a bounce, and unroutable mail kept rather than lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../src/config/validate.js';
import { openSpool } from '../src/spool/file-spool.js';
import { memoryLogger } from '../src/log/logger.js';
import { runQueue } from '../src/delivery/runner.js';
import { TransportPool } from '../src/transports/registry.js';
import type { Outcome, Transport, TransportContext } from '../src/transports/types.js';
import type { Envelope } from '../src/spool/types.js';
import { tempDir } from './helpers/paths.js';

type Script = (rcpt: string, call: number) => Outcome;

/** Transports that answer from a script and record every call. */
function scripted(scripts: Record<string, Script>) {
  const calls: Array<{ transport: string; id: string; rcpts: string[] }> = [];
  const counts = new Map<string, number>();
  const factory = async (cfg: { name: string; type: string }): Promise<Transport> => ({
    name: cfg.name,
    type: cfg.type as Transport['type'],
    async deliver(msg, rcpts) {
      calls.push({ transport: cfg.name, id: msg.id, rcpts });
      const n = (counts.get(cfg.name) ?? 0) + 1;
      counts.set(cfg.name, n);
      return rcpts.map((rcpt) => {
        const outcome = scripts[cfg.name]!(rcpt, n);
        return { rcpt, outcome, code: outcome === 'sent' ? 250 : outcome === 'deferred' ? 451 : 550,
          dsn: outcome === 'failed' ? '5.1.1' : undefined, text: `${cfg.name} says ${outcome}` };
      });
    },
    async close() {},
  });
  return { calls, factory };
}

function setup(toml: Record<string, unknown>, scripts: Record<string, Script>) {
  const dir = tempDir('sysmail-runner-');
  const config = validateConfig({
    general: { hostname: 'web1.example.com', domain: 'example.com', admin: 'ops@example.net', aliases: false },
    spool: { dir: `${dir}/spool`, retry_min: '1m', retry_max: '10m', max_lifetime: '1d' },
    log: { file: false },
    ...toml,
  }, null, undefined, { fileStat: null });
  let clock = Date.parse('2026-11-29T00:00:00Z');
  const now = () => clock;
  const spool = openSpool({ dir: config.spool.dir, now });
  const log = memoryLogger();
  const { calls, factory } = scripted(scripts);
  const ctx: TransportContext = { config, log, now };
  const run = (force = true) => runQueue({ config, spool, log, now, random: () => 0.5, force,
    transports: new TransportPool(ctx, factory as never) });
  const submit = (env: Partial<Envelope>) => spool.submit({ sender: 'cron@example.com', recipients: ['a@example.net'],
    submittedAt: clock, uid: 0, user: 'root', via: 'sendmail', ...env }, Buffer.from('Subject: t\n\nbody\n'));
  return { config, spool, log, calls, run, submit, advance: (ms: number) => { clock += ms; } };
}

const transports = {
  smtp: { type: 'stdout' }, oci: { type: 'stdout' }, box: { type: 'stdout' },
};

test('fallback: the second transport is used only once the first has failed for fallback_after', async () => {
  const t = setup({ transports, routes: [{ name: 'alerts', transports: ['smtp', 'oci'], mode: 'fallback', fallback_after: '30m' }] },
    { smtp: () => 'deferred', oci: () => 'sent', box: () => 'sent' });
  const id = await t.submit({});
  await t.run();
  assert.deepEqual(t.calls.map((c) => c.transport), ['smtp'], 'first failure: no fallback yet');
  t.advance(20 * 60_000);
  await t.run();
  assert.deepEqual(t.calls.map((c) => c.transport), ['smtp', 'smtp'], 'failing for 20 min < 30 min');
  t.advance(11 * 60_000);
  await t.run();
  assert.deepEqual(t.calls.map((c) => c.transport), ['smtp', 'smtp', 'smtp', 'oci'], 'failing for 31 min: primary tried, then fallback');
  assert.equal(await t.spool.get(id), null, 'delivered and removed');
  const delivered = t.log.events.filter((e) => e.event === 'delivered');
  assert.equal(delivered.length, 1);
  assert.equal(delivered[0]!.transport, 'oci');
  assert.equal(delivered[0]!.route, 'alerts');
});

test('fallback with fallback_after 0 falls through at once; a primary that recovers is used again', async () => {
  let smtpUp = false;
  const t = setup({ transports, routes: [{ transports: ['smtp', 'oci'], mode: 'fallback' }] },
    { smtp: () => (smtpUp ? 'sent' : 'deferred'), oci: () => 'sent', box: () => 'sent' });
  await t.submit({});
  await t.run();
  assert.deepEqual(t.calls.map((c) => c.transport), ['smtp', 'oci']);
  smtpUp = true;
  await t.submit({ recipients: ['b@example.net'] });
  await t.run();
  assert.deepEqual(t.calls.map((c) => c.transport), ['smtp', 'oci', 'smtp']);
});

test('fan-out: every transport gets the message; a retry repeats only the one that failed', async () => {
  const t = setup({ transports, routes: [{ transports: ['smtp', 'oci'], mode: 'fanout' }] },
    { smtp: () => 'sent', oci: (_r, n) => (n === 1 ? 'deferred' : 'sent'), box: () => 'sent' });
  const id = await t.submit({});
  await t.run();
  const m = await t.spool.get(id);
  assert.ok(m, 'kept while one fan-out branch is pending');
  assert.equal(m.state.recipients['a@example.net via smtp']!.status, 'sent');
  assert.equal(m.state.recipients['a@example.net via oci']!.status, 'deferred');
  await t.run();
  assert.deepEqual(t.calls.map((c) => c.transport).sort(), ['oci', 'oci', 'smtp'], 'smtp not repeated');
  assert.equal(await t.spool.get(id), null);
});

test('routes by sender and domain; the first match wins; an unroutable recipient waits, it is not lost', async () => {
  const t = setup({ transports, routes: [
    { name: 'reports', match: { sender: ['reports@example.com'] }, transport: 'oci' },
    { name: 'internal', match: { domain: ['*.corp.example'] }, transport: 'box' },
  ] }, { smtp: () => 'sent', oci: () => 'sent', box: () => 'sent' });
  await t.submit({ sender: 'reports@example.com', recipients: ['x@a.corp.example'] });
  await t.submit({ sender: 'cron@example.com', recipients: ['y@b.corp.example', 'z@elsewhere.example'] });
  await t.run();
  assert.deepEqual(t.calls.map((c) => `${c.transport}:${c.rcpts.join(',')}`).sort(), ['box:y@b.corp.example', 'oci:x@a.corp.example']);
  const left = await t.spool.list('queue');
  assert.equal(left.length, 1);
  assert.equal(left[0]!.state.recipients['z@elsewhere.example']!.status, 'deferred');
  assert.match(left[0]!.state.lastError ?? '', /no \[\[routes\]\] entry matches/);
});

test('permanent failure: a bounce to the sender, the message kept in failed/; a bounce is never bounced', async () => {
  const t = setup({ transports, routes: [{ match: { domain: ['example.net'] }, transport: 'smtp' }, { transport: 'box' }] },
    { smtp: (rcpt) => (rcpt === 'bad@example.net' ? 'failed' : 'sent'), oci: () => 'sent', box: () => 'failed' });
  const id = await t.submit({ sender: 'someone@example.org', recipients: ['good@example.net', 'bad@example.net'] });
  await t.run();
  assert.ok((await t.spool.list('failed')).some((m) => m.id === id));
  // The bounce went to someone@example.org via the catch-all `box`, which fails too: no bounce of that bounce.
  const bounced = t.log.events.filter((e) => e.event === 'bounced');
  assert.equal(bounced.filter((e) => e.status === 'bounced').length, 1);
  assert.equal(bounced.filter((e) => e.status === 'suppressed').length, 1);
  assert.equal((await t.spool.list('failed')).length, 2, 'original and the undeliverable bounce both kept');
  assert.equal((await t.spool.list('queue')).length, 0);
});

test('expiry: still deferred after max_lifetime → failed, expired event, bounce to the admin for the null sender', async () => {
  const t = setup({ transports, routes: [{ match: { domain: ['example.net'] }, transport: 'smtp' }, { transport: 'box' }] },
    { smtp: (rcpt) => (rcpt === 'ops@example.net' ? 'sent' : 'deferred'), oci: () => 'sent', box: () => 'sent' });
  const id = await t.submit({ sender: '', recipients: ['a@example.net'] });
  await t.run();
  t.advance(25 * 3_600_000);
  await t.run();
  assert.ok(t.log.events.some((e) => e.event === 'expired' && e.id === id));
  assert.equal((await t.spool.list('failed'))[0]!.id, id);
  const toAdmin = t.calls.find((c) => c.rcpts.includes('ops@example.net'));
  assert.ok(toAdmin, 'the bounce for a null-sender message goes to general.admin');
});

test('aliases: a delivered alias target completes the message (no leftover pending entry for the original name)', async () => {
  const t = setup({ transports, routes: [{ transport: 'smtp' }] }, { smtp: () => 'sent', oci: () => 'sent', box: () => 'sent' });
  const id = await t.spool.submit({ sender: 'cron@example.com', recipients: ['root@example.com'], submittedAt: Date.now(), uid: 0,
    user: 'root', via: 'sendmail' }, Buffer.from('Subject: t\n\nbody\n'));
  await runQueue({ config: t.config, spool: t.spool, log: t.log, force: true, expandAlias: (r) => [r === 'root@example.com' ? { address: 'ops@example.net', via: 'alias' as const } : { address: r, via: null }],
    transports: new TransportPool({ config: t.config, log: t.log, now: Date.now }, (async (cfg: { name: string }) => ({
      name: cfg.name, type: 'stdout', close: async () => {},
      deliver: async (_m: unknown, rcpts: string[]) => rcpts.map((rcpt) => ({ rcpt, outcome: 'sent' as const, text: 'ok' })),
    })) as never) });
  assert.equal(await t.spool.get(id), null, 'completed, not deferred');
  const ev = t.log.events.find((e) => e.event === 'delivered')!;
  assert.equal(ev.rcpt, 'ops@example.net');
  assert.equal(ev.orig_rcpt, 'root@example.com');
});

test('retry schedule: not before the backoff says, unless forced', async () => {
  const t = setup({ transports, routes: [{ transport: 'smtp' }] }, { smtp: () => 'deferred', oci: () => 'sent', box: () => 'sent' });
  const id = await t.submit({});
  await t.run(false);
  const next = (await t.spool.get(id))!.state.nextAttemptAt;
  t.advance(30_000);
  await t.run(false);
  assert.equal(t.calls.length, 1, 'not due yet');
  t.advance(next - Date.parse('2026-11-29T00:00:00Z'));
  await t.run(false);
  assert.equal(t.calls.length, 2, 'due now');
  await t.run(true);
  assert.equal(t.calls.length, 3, 'forced');
});

test('a pass for given ids claims them without listing the queue, and uses the bytes it was given', async () => {
  const t = setup({ transports, routes: [{ transport: 'smtp' }] }, { smtp: () => 'sent', oci: () => 'sent', box: () => 'sent' });
  const other = await t.submit({ recipients: ['other@example.net'] });
  const env: Envelope = { sender: 'cron@example.com', recipients: ['a@example.net'], submittedAt: Date.now(), uid: 0, user: 'root', via: 'smtp' };
  const message = Buffer.from('Subject: t\n\nbody\n');
  const id = await t.spool.submit(env, message);
  let listed = 0;
  let read = 0;
  const spool = Object.assign(Object.create(Object.getPrototypeOf(t.spool)), t.spool, {
    list: async () => { listed++; return []; },
    claim: async (i: string) => { read++; return t.spool.claim(i); },
  });
  const summary = await runQueue({ config: t.config, spool, log: memoryLogger(), ids: [id], committed: new Map([[id, { envelope: env, message }]]),
    transports: new TransportPool({ config: t.config, log: memoryLogger(), now: Date.now }, (async (cfg: { name: string }) => ({
      name: cfg.name, type: 'stdout', async close() {},
      async deliver(msg: { raw: Buffer; id: string }, rcpts: string[]) { t.calls.push({ transport: cfg.name, id: msg.id, rcpts }); return rcpts.map((rcpt) => ({ rcpt, outcome: 'sent' as const, text: 'ok' })); },
    })) as never) });
  assert.equal(summary.sent, 1);
  assert.equal(listed, 0, 'the queue was not listed');
  assert.equal(read, 0, 'claimed through claimCommitted, not read back');
  assert.deepEqual(t.calls.map((c) => c.id), [id]);
  assert.equal(await t.spool.get(id), null, 'delivered and removed');
  assert.ok(await t.spool.get(other), 'the other message was not touched');
});

test('a pass for given ids leaves a message that is not due (deferred meanwhile) or held, unless forced', async () => {
  const t = setup({ transports, routes: [{ transport: 'smtp' }] }, { smtp: () => 'deferred', oci: () => 'sent', box: () => 'sent' });
  const id = await t.submit({});
  await t.run(false);
  assert.equal(t.calls.length, 1);
  const byId = (force: boolean) => runQueue({ config: t.config, spool: t.spool, log: t.log, now: () => Date.parse('2026-11-29T00:00:10Z'), ids: [id], force,
    transports: new TransportPool({ config: t.config, log: t.log, now: Date.now }, scripted({ smtp: () => 'sent' }).factory as never) });
  assert.equal((await byId(false)).messages, 0, 'its retry time stands');
  assert.ok(await t.spool.get(id));
  await t.spool.hold(id);
  assert.equal((await byId(true)).messages, 0, 'held: not even forced');
  await t.spool.unhold(id);
  assert.equal((await byId(true)).sent, 1, 'forced');
});
