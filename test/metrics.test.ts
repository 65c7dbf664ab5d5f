/**
 * The pure parts of fleet visibility, table-tested: error classes, folding
 * log lines into counters, the Prometheus text, the log cursor across a
 * logrotate, the notice plan (once per outage per channel, never through a
 * failing channel, retried after a failed send), and the status verdict.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorClass, foldText, type FoldState } from '../src/metrics/counters.js';
import { escapeLabel, renderProm } from '../src/metrics/prom.js';
import { readLogSince } from '../src/metrics/collect.js';
import { emptyStats, type QueueStats } from '../src/metrics/types.js';
import { SYSMAIL_VERSION } from '../src/metrics/version.js';
import { applyResults, freshAlertState, planNotices, type Observation } from '../src/alerts/plan.js';
import { evaluate, exitCode } from '../src/status/evaluate.js';
import { repoRoot, tempDir } from './helpers/paths.js';

const line = (o: Record<string, unknown>) => JSON.stringify({ ts: '2026-01-01T00:00:00.000Z', ...o });

test('error classes come from the DSN and SMTP code, never from free text', () => {
  const cases: [Parameters<typeof errorClass>[0], string][] = [
    [{ event: 'deferred', dsn: '4.4.1' }, 'network'],
    [{ event: 'deferred', dsn: '4.4.2' }, 'network'],
    [{ event: 'deferred', dsn: '4.7.5' }, 'security'],
    [{ event: 'deferred', dsn: '4.3.0' }, 'local'],
    [{ event: 'deferred', smtp_code: 451, dsn: '4.2.0' }, 'temporary'],
    [{ event: 'deferred', smtp_code: 421 }, 'temporary'],
    [{ event: 'failed', smtp_code: 550, dsn: '5.1.1' }, 'permanent'],
    [{ event: 'failed', dsn: '5.0.0' }, 'permanent'],
    [{ event: 'expired', dsn: '4.4.7' }, 'expired'],
    [{ event: 'deferred' }, 'other'],
  ];
  for (const [e, want] of cases) assert.equal(errorClass(e), want, JSON.stringify(e));
});

test('folding the log: counters per transport, last success, failing since, bounces labelled by the failed transport', () => {
  const s: FoldState = { transports: {}, failedBy: {} };
  foldText(s, [
    line({ event: 'accepted', id: 'A' }),
    line({ event: 'deferred', id: 'A', transport: 'relay', dsn: '4.4.1', ts: '2026-01-01T00:01:00.000Z', reason: 'connection refused' }),
    line({ event: 'deferred', id: 'A', transport: 'relay', dsn: '4.4.1', ts: '2026-01-01T00:02:00.000Z' }),
    line({ event: 'delivered', id: 'A', transport: 'relay', ts: '2026-01-01T00:03:00.000Z' }),
    line({ event: 'failed', id: 'B', transport: 'relay', smtp_code: 550, dsn: '5.1.1', ts: '2026-01-01T00:04:00.000Z' }),
    line({ event: 'bounced', id: 'B', status: 'bounced' }),
    line({ event: 'bounced', id: 'C', status: 'suppressed' }),
    line({ event: 'deferred', id: 'D', transport: null, reason: 'no route' }),
    'not json', '{"broken',
  ].join('\n') + '\n');
  const r = s.transports.relay!;
  assert.deepEqual([r.delivered, r.deferred, r.failed, r.bounced], [1, 2, 1, 1]);
  assert.equal(r.lastSuccessAt, Date.parse('2026-01-01T00:03:00.000Z'));
  assert.equal(r.failingSince, null, 'a success ends the failure');
  assert.equal(r.lastErrorClass, 'permanent');
  assert.equal(s.transports.none!.deferred, 1);
  // Failing: the first deferral since the last success.
  foldText(s, line({ event: 'deferred', transport: 'relay', dsn: '4.7.5', ts: '2026-01-01T01:00:00.000Z' }) + '\n'
    + line({ event: 'deferred', transport: 'relay', dsn: '4.7.5', ts: '2026-01-01T02:00:00.000Z' }) + '\n');
  assert.equal(s.transports.relay!.failingSince, Date.parse('2026-01-01T01:00:00.000Z'));
  assert.equal(s.transports.relay!.lastErrorClass, 'security');
});

test('Prometheus text: conventions, escaped labels, timestamps in seconds, absent series when unknown; promtool agrees', () => {
  const q: QueueStats = { queued: 1, deferred: 2, held: 0, failed: 3, drop: 0, corrupt: 1, oldestDeferredAt: 1_700_000_000_999, waitingOn: [] };
  const weird = { ...emptyStats(), delivered: 5, lastSuccessAt: 1_700_000_123_456, lastErrorAt: 1_700_000_000_000, lastErrorClass: 'network', failingSince: 1_700_000_000_000 };
  const text = renderProm({ version: '1.2.3', node: 'v20.0.0', queue: q, transports: { 'a"b\\c\nd': weird, relay: emptyStats() } });
  assert.equal(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  assert.match(text, /^sysmail_queue_oldest_deferred_timestamp_seconds 1700000000$/m);
  assert.match(text, /^sysmail_deliveries_total\{transport="a\\"b\\\\c\\nd"\} 5$/m);
  assert.match(text, /^sysmail_last_success_timestamp_seconds\{transport="a\\"b\\\\c\\nd"\} 1700000123$/m);
  assert.doesNotMatch(text, /sysmail_last_success_timestamp_seconds\{transport="relay"\}/, 'never: absent, not 0');
  assert.match(text, /^sysmail_queue_messages\{state="corrupt"\} 1$/m);
  for (const m of text.matchAll(/^# TYPE (\S+) counter$/gm)) assert.match(m[1]!, /_total$/);
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal((r.stdout + r.stderr).trim(), '');
});

test('the log cursor reads only new complete lines, and follows logrotate into <file>.1', async () => {
  const dir = tempDir('sysmail-metrics-');
  const log = join(dir, 'sysmail.log');
  writeFileSync(log, 'one\ntwo\nhal');
  let r = await readLogSince(log, null);
  assert.equal(r.text, 'one\ntwo\n');
  appendFileSync(log, 'f\nthree\n');
  r = await readLogSince(log, r.cursor);
  assert.equal(r.text, 'half\nthree\n');
  appendFileSync(log, 'four\n');
  renameSync(log, `${log}.1`); // logrotate (create mode): the old file keeps its inode
  writeFileSync(log, 'five\n');
  r = await readLogSince(log, r.cursor);
  assert.equal(r.text, 'four\nfive\n');
  writeFileSync(log, 'x\n'); // copytruncate-style: shorter than the cursor
  r = await readLogSince(log, { ino: r.cursor!.ino, offset: 100 });
  assert.equal(r.text, 'x\n');
  assert.deepEqual(await readLogSince(join(dir, 'none.log'), null), { text: '', cursor: null });
});

const obs = (o: Partial<Observation>): Observation => ({ stuck: 0, oldestAt: null, oldestId: null, lastError: null, failing: [], implicated: [], ...o });

test('notice plan: once per outage per channel, never through a failing channel, retry after a failed send, one recovery', () => {
  const via = ['relay', 'banner', 'oci'];
  let s = freshAlertState();
  // Stuck; the relay is implicated; the oci send fails.
  let p = planNotices(s, obs({ stuck: 2, oldestAt: 0, implicated: ['relay'] }), via, 1000, 60_000);
  assert.deepEqual(p.warn, ['banner', 'oci']);
  s = applyResults(s, p, new Set(['banner']), 1000);
  assert.deepEqual(s.outage, { since: 1000, warned: ['banner'] });
  // Next pass, still stuck: nothing to the banner again; oci waits for its retry time.
  p = planNotices(s, obs({ stuck: 2, implicated: ['relay'] }), via, 2000, 60_000);
  assert.deepEqual(p.warn, []);
  s = applyResults(s, p, new Set(), 2000);
  p = planNotices(s, obs({ stuck: 2, implicated: ['relay'] }), via, 61_000, 60_000);
  assert.deepEqual(p.warn, ['oci']);
  s = applyResults(s, p, new Set(['oci']), 61_000);
  assert.deepEqual(s.outage!.warned, ['banner', 'oci']);
  // Recovered: the two warned channels get one recovery each; the relay, never warned, gets none.
  p = planNotices(s, obs({}), via, 70_000, 60_000);
  assert.deepEqual(p.recover, ['banner', 'oci']);
  s = applyResults(s, p, new Set(['banner', 'oci']), 70_000);
  assert.equal(s.outage, null);
  assert.deepEqual(planNotices(s, obs({}), via, 80_000, 60_000), { active: false, warn: [], recover: [], outage: null });
  // A new outage is a new warning.
  p = planNotices(s, obs({ stuck: 1 }), via, 90_000, 60_000);
  assert.deepEqual(p.warn, via);
});

test('notice plan: a recovery that cannot be sent keeps the outage open until it is', () => {
  let s = applyResults(freshAlertState(), planNotices(freshAlertState(), obs({ stuck: 1 }), ['banner'], 0, 1000), new Set(['banner']), 0);
  let p = planNotices(s, obs({}), ['banner'], 10, 1000);
  s = applyResults(s, p, new Set(), 10);
  assert.deepEqual(s.outage?.warned, ['banner']);
  p = planNotices(s, obs({}), ['banner'], 500, 1000);
  assert.deepEqual(p.recover, [], 'not before the retry time');
  p = planNotices(s, obs({}), ['banner'], 1010, 1000);
  assert.deepEqual(p.recover, ['banner']);
  assert.equal(applyResults(s, p, new Set(['banner']), 1010).outage, null);
});

test('status verdict: Nagios levels and exit codes', () => {
  const q: QueueStats = { queued: 0, deferred: 0, held: 0, failed: 4, drop: 0, corrupt: 0, oldestDeferredAt: null, waitingOn: [] };
  const base = { now: 10 * 3_600_000, delayWarningMs: 4 * 3_600_000, queue: q, failing: [], oldestDropAt: null, disk: { freeBytes: 50, totalBytes: 100 } };
  assert.equal(evaluate(base).level, 'ok', 'failed mail alone was bounced: not a problem');
  assert.equal(evaluate({ ...base, queue: { ...q, deferred: 1, oldestDeferredAt: base.now - 60_000 } }).level, 'warning');
  assert.equal(evaluate({ ...base, queue: { ...q, deferred: 1, oldestDeferredAt: base.now - 5 * 3_600_000 } }).level, 'critical');
  assert.equal(evaluate({ ...base, failing: ['relay'] }).level, 'warning');
  assert.equal(evaluate({ ...base, queue: { ...q, corrupt: 1 } }).level, 'warning');
  assert.equal(evaluate({ ...base, oldestDropAt: base.now - 3_600_000 }).level, 'warning');
  assert.equal(evaluate({ ...base, disk: { freeBytes: 8, totalBytes: 100 } }).level, 'warning');
  assert.equal(evaluate({ ...base, disk: { freeBytes: 4, totalBytes: 100 } }).level, 'critical');
  assert.deepEqual(['ok', 'warning', 'critical'].map((l) => exitCode(l as 'ok')), [0, 1, 2]);
});

test('sysmail_build_info carries the package version', () => {
  assert.equal(SYSMAIL_VERSION, JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version);
});

test('shipped alert rules pass promtool check rules and promtool test rules', () => {
  const dir = join(repoRoot, 'packaging', 'prometheus');
  const check = spawnSync('promtool', ['check', 'rules', join(dir, 'sysmail-alerts.yml')], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  const unit = spawnSync('promtool', ['test', 'rules', 'sysmail-alerts.test.yml'], { cwd: dir, encoding: 'utf8' });
  assert.equal(unit.status, 0, unit.stdout + unit.stderr);
  // Every shipped rule has a unit test.
  const rules = [...readFileSync(join(dir, 'sysmail-alerts.yml'), 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
  const tested = readFileSync(join(dir, 'sysmail-alerts.test.yml'), 'utf8');
  for (const r of rules) assert.match(tested, new RegExp(`alertname: ${r}\\b`), `no test for ${r}`);
  JSON.parse(readFileSync(join(dir, 'sysmail-dashboard.json'), 'utf8'));
});
