/**
 * After each delivery pass: is mail stuck, and who must be told?
 *
 * Reads the queue (durable state: each deferred recipient's transport and
 * failing-since), plans with plan.ts, sends each notice straight through its
 * transport (never through the queue), and saves <spool>/alerts.json only
 * when the outage state changed (a few writes per outage, not per pass). The
 * saved state makes "once per outage per channel" hold across the separate
 * `sysmail flush` processes and `serve` restarts. Never throws into delivery.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { Spool } from '../spool/types.js';
import type { TransportPool } from '../transports/registry.js';
import { recoveryNotice, warningNotice } from './notice.js';
import { applyResults, freshAlertState, planNotices, type AlertState, type Observation } from './plan.js';

export const ALERT_STATE_FILE = 'alerts.json';

export async function observe(spool: Spool, delayMs: number, now: number): Promise<Observation> {
  const o: Observation = { stuck: 0, oldestAt: null, oldestId: null, lastError: null, failing: [], implicated: [] };
  const failing = new Set<string>();
  const implicated = new Set<string>();
  for (const m of await spool.list('queue')) {
    if (m.corrupt || m.state.held || m.state.attempts === 0) continue;
    for (const r of Object.values(m.state.recipients)) {
      if (r.status !== 'deferred' || !r.transport) continue;
      implicated.add(r.transport);
      if (r.failingSince !== undefined && now - r.failingSince >= delayMs) failing.add(r.transport);
    }
    if (now - m.envelope.submittedAt < delayMs) continue;
    o.stuck++;
    if (o.oldestAt === null || m.envelope.submittedAt < o.oldestAt) {
      o.oldestAt = m.envelope.submittedAt;
      o.oldestId = m.id;
      o.lastError = m.state.lastError ?? null;
    }
  }
  o.failing = [...failing].sort();
  o.implicated = [...implicated].sort();
  return o;
}

export async function readAlertState(spoolDir: string): Promise<AlertState> {
  try {
    const s = JSON.parse(await readFile(join(spoolDir, ALERT_STATE_FILE), 'utf8')) as AlertState;
    return s.v === 1 && typeof s.lastFailure === 'object' ? s : freshAlertState();
  } catch {
    return freshAlertState();
  }
}

async function writeAlertState(spoolDir: string, s: AlertState): Promise<void> {
  const path = join(spoolDir, ALERT_STATE_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(s) + '\n', { mode: 0o600 });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export interface AlertDeps {
  config: Config;
  spool: Spool;
  log: Logger;
  pool: TransportPool;
  now?: () => number;
}

export async function checkAlerts(d: AlertDeps): Promise<void> {
  const { config, spool, log } = d;
  const a = config.alerts;
  if (a.via.length === 0) return;
  const now = (d.now ?? Date.now)();
  const before = await readAlertState(config.spool.dir);
  const o = await observe(spool, a.delayWarning, now);
  const plan = planNotices(before, o, a.via, now, config.spool.retryMin);
  const host = config.general.hostname;
  const to = a.to.includes('@') ? a.to : `${a.to}@${config.general.domain}`;
  const sent = new Set<string>();
  const send = async (channel: string, kind: 'warning' | 'recovery', n: { subject: string; body: string }) => {
    const { composeMessage } = await import('../message/compose.js');
    const raw = composeMessage({
      from: `root@${config.general.domain}`, fromName: 'sysmail', to: [to], subject: n.subject, body: Buffer.from(n.body),
      hostname: host, now: new Date(now), tagHost: config.general.tagHost,
    });
    const id = `alert-${now.toString(36)}`;
    const envelope = { sender: `root@${config.general.domain}`, recipients: [to], submittedAt: now, uid: process.getuid?.() ?? 0,
      user: 'root', via: 'send' as const };
    let ok = false;
    let reason = '';
    try {
      const results = await (await d.pool.get(channel)).deliver({ id, envelope, raw }, [to]);
      ok = results.every((r) => r.outcome === 'sent');
      reason = results.map((r) => r.text).filter(Boolean).join('; ');
    } catch (err) {
      reason = (err as Error).message;
    }
    if (ok) sent.add(channel);
    log.event({ event: 'alert', rcpt: to, transport: channel, status: ok ? `${kind} sent` : `${kind} not sent`,
      reason: ok ? n.subject : `${n.subject}: ${reason || 'the channel refused it'}; tried again after spool.retry_min` });
  };
  for (const ch of plan.warn) await send(ch, 'warning', warningNotice(host, o, a.delayWarning, now));
  for (const ch of plan.recover) await send(ch, 'recovery', recoveryNotice(host, plan.outage!, now));
  const after = applyResults(before, plan, sent, now);
  if (JSON.stringify(after) !== JSON.stringify(before)) await writeAlertState(config.spool.dir, after);
}
