/**
 * The queue runner: one delivery pass over the spool.
 *
 * For each due message it takes an exclusive claim (so concurrent passes never
 * deliver the same message twice), expands aliases, routes each recipient,
 * calls the transports, records the per-recipient outcome, and then either
 * completes the message, defers it with a new retry time, or moves it to
 * failed/ with a bounce. Recipients already sent or failed are never tried
 * again. A transport that throws is treated as a temporary failure.
 *
 * A pass for given ids (the message serve has just accepted, `flush --id`)
 * claims those ids directly, without listing the queue: its cost does not grow
 * with the queue. After each claim the state read with it decides: a held
 * message, or one not due (unless forced), is let go untouched, so a pass
 * never retries early a message another pass has just deferred.
 */
import type { Config, RouteConfig } from '../config/types.js';
import type { Claim, DeliveryState, Envelope, RecipientState, Spool } from '../spool/types.js';
import type { Logger } from '../log/logger.js';
import type { OutgoingMessage, RecipientResult, Transport, TransportContext } from '../transports/types.js';
import type { Expander } from '../router/alias-expander.js';
import { TransportPool } from '../transports/registry.js';
import { isLocalRecipient, selectRoute } from '../router/router.js';
import { qualifiedAdmin } from '../router/admin.js';
import { isDue, isExpired, retryDelay } from './backoff.js';
import { isValidId } from '../spool/ids.js';
import { bounceRecipient, buildBounce, type FailedRecipient } from './bounce.js';

export interface RunOptions {
  config: Config;
  spool: Spool;
  log: Logger;
  now?: () => number;
  random?: () => number;
  /** Only these ids (e.g. the one just submitted, or `queue flush ID`). */
  ids?: string[];
  /**
   * Envelope and bytes of ids this process has just committed (serve): claimed without reading
   * them back. With `commit`, the commit is still running and settles with it: the delivery starts
   * at once and hands the message over only once it is durable (Spool.claimCommitting).
   */
  committed?: ReadonlyMap<string, { envelope: Envelope; message: Buffer; commit?: Promise<unknown> }>;
  /** Ignore the retry schedule (`sysmail flush`, `sendmail -q`). */
  force?: boolean;
  /** Crash recovery and drop import, run once before the pass. */
  maintain?: () => Promise<void>;
  /** Expands one local recipient through the aliases and the admin rule (identity when absent). */
  expandAlias?: Expander | Promise<Expander>;
  /** For tests: supply transports instead of the registry. */
  transports?: TransportPool;
  /** Safety valve for the "pick up what arrived meanwhile" loop. */
  maxRounds?: number;
  /**
   * Called before a message with recipients still pending is deferred; may change the state
   * that is about to be written (e.g. record that a delay notice went out). Errors are logged.
   */
  beforeDefer?: (m: { id: string; envelope: Envelope; state: DeliveryState; raw: Buffer }) => Promise<void>;
}

export interface PassSummary {
  messages: number;
  sent: number;
  deferred: number;
  failed: number;
  bounces: number;
}

/** One recipient's delivery within a pass. The state key is rcpt, or "rcpt via transport" for fan-out. */
interface Target {
  key: string;
  rcpt: string;
  orig: string;
  /** Why rcpt differs from orig. */
  via: 'alias' | 'admin' | null;
  route: RouteConfig | null;
  /** Index into route.transports currently tried. */
  idx: number;
}

export async function runQueue(opts: RunOptions): Promise<PassSummary> {
  const now = opts.now ?? Date.now;
  const summary: PassSummary = { messages: 0, sent: 0, deferred: 0, failed: 0, bounces: 0 };
  if (opts.maintain) {
    try { await opts.maintain(); } catch (err) { opts.log.event({ event: 'error', reason: `queue maintenance: ${(err as Error).message}` }); }
  }
  const ctx: TransportContext = { config: opts.config, log: opts.log, now };
  const pool = opts.transports ?? new TransportPool(ctx);
  const seen = new Set<string>();
  // Bounces spooled during a targeted pass belong to it, so they go out now too.
  const wanted = opts.ids ? new Set(opts.ids) : null;
  const onBounce = (bounceId: string) => wanted?.add(bounceId);
  try {
    for (let round = 0; round < (opts.maxRounds ?? 50); round++) {
      // Given ids are claimed directly (a claim of a message not in queue/ just fails); otherwise
      // the queue is listed for what is due.
      const due = wanted
        ? [...wanted].filter((id) => !seen.has(id) && isValidId(id)).sort()
        : (await opts.spool.list('queue')).filter((m) => !seen.has(m.id) && !m.state.held
          && (opts.force || isDue(m.state.nextAttemptAt, now(), opts.config.spool.retryMax))).map((m) => m.id);
      if (due.length === 0) break;
      for (const id of due) {
        seen.add(id);
        const claim = await claimOf(opts, id);
        if (!claim) continue; // another pass has it, or it is gone
        // Held: only `queue release` lets it go. Not due (another pass deferred it after our list
        // was taken, or since the id was asked for): its retry time stands, unless forced.
        if (claim.state.held || (!opts.force && !isDue(claim.state.nextAttemptAt, now(), opts.config.spool.retryMax))) {
          await claim.release();
          continue;
        }
        summary.messages++;
        try {
          await deliverClaim(claim, opts, pool, summary, now, onBounce);
        } catch (err) {
          opts.log.event({ event: 'error', id: claim.id, reason: (err as Error).message });
          await claim.release().catch(() => {});
        }
      }
      // Messages spooled meanwhile (new submissions, our bounces) are picked up by the next round.
    }
  } finally {
    if (!opts.transports) await pool.closeAll();
  }
  return summary;
}

/** The claim on one id: from the bytes this process holds (while or after its commit), else from the spool. */
async function claimOf(opts: RunOptions, id: string): Promise<Claim | null> {
  const { spool } = opts;
  const known = opts.committed?.get(id);
  if (known?.commit && spool.claimCommitting) return spool.claimCommitting(id, known.envelope, known.message, known.commit);
  if (known && spool.claimCommitted) return spool.claimCommitted(id, known.envelope, known.message);
  return spool.claim(id);
}

async function deliverClaim(claim: Claim, opts: RunOptions, pool: TransportPool, summary: PassSummary, now: () => number,
  onBounce: (id: string) => void): Promise<void> {
  const { config, log } = opts;
  const env = claim.envelope;
  const raw = await claim.readMessage();
  const started = now();
  const state: DeliveryState = structuredClone(claim.state);
  state.attempts += 1;
  state.firstAttemptAt ??= started;
  state.lastAttemptAt = started;
  const msg: OutgoingMessage = { id: claim.id, envelope: env, raw, ...(claim.ready ? { ready: claim.ready } : {}) };
  const base = { id: claim.id, from: env.sender, size: raw.length, attempt: state.attempts };
  // A claim made while the commit runs (claimCommitting): whether the message became ours. Until
  // then nothing is logged (the `accepted` event comes first); if it never does, nothing at all.
  const ours = claim.ready ? claim.ready.then(() => true, () => false) : null;

  // The expander may still be loading (passwd stat, aliases) while the claim was made: wait for it here.
  const { targets: expanded, keys } = expandTargets(env, state.recipients, config, await opts.expandAlias);
  let targets = expanded;
  // The spool marks each envelope recipient pending; after aliases and fan-out the keys are the
  // routed ones, so a pending entry that no longer names a target would keep the message forever.
  for (const [key, r] of Object.entries(state.recipients)) {
    if (r.status === 'pending' && !keys.has(key)) delete state.recipients[key];
  }
  const newlyFailed: FailedRecipient[] = [];

  const record = (t: Target, transport: string | null, r: RecipientResult) => {
    const prev = state.recipients[t.key];
    const rs: RecipientState = {
      status: r.outcome, code: r.code, dsn: r.dsn, text: r.text, transport: transport ?? undefined,
      route: t.route?.name, at: now(),
    };
    // The queue view shows "orig → rcpt (why)" from these, never a phantom pending original.
    if (t.orig !== t.rcpt) { rs.orig = t.orig; rs.via = t.via ?? undefined; }
    if (r.outcome === 'deferred') rs.failingSince = prev?.failingSince ?? now();
    state.recipients[t.key] = rs;
    const ev = {
      ...base, rcpt: t.rcpt, orig_rcpt: t.orig !== t.rcpt ? t.orig : null, via: t.orig !== t.rcpt ? t.via : null, route: t.route?.name ?? null,
      transport, status: r.outcome, smtp_code: r.code ?? null, dsn: r.dsn ?? null,
      delay_ms: now() - env.submittedAt, reason: r.text,
    };
    if (r.outcome === 'sent') { summary.sent++; log.event({ ...ev, event: 'delivered' }); }
    else if (r.outcome === 'deferred') log.event({ ...ev, event: 'deferred' });
    else {
      summary.failed++;
      log.event({ ...ev, event: 'failed' });
      newlyFailed.push({ rcpt: t.rcpt, orig: t.orig, via: t.via, dsn: r.dsn ?? '5.0.0', code: r.code, text: r.text,
        diagnosticType: transport && config.transports[transport]?.type === 'smtp' ? 'smtp' : 'x-sysmail' });
    }
  };

  if (ours && targets.some((t) => !t.route) && !(await ours)) return;
  // Unroutable recipients wait (nothing is lost); `sysmail doctor` and the log say why.
  for (const t of targets.filter((t) => !t.route)) {
    record(t, null, { rcpt: t.rcpt, outcome: 'deferred', text: `no [[routes]] entry matches ${t.rcpt}: add a catch-all route` });
  }
  targets = targets.filter((t) => t.route);

  while (targets.length > 0) {
    const byTransport = new Map<string, Target[]>();
    for (const t of targets) {
      const name = t.route!.transports[t.idx]!;
      byTransport.set(name, [...(byTransport.get(name) ?? []), t]);
    }
    const next: Target[] = [];
    for (const [name, group] of byTransport) {
      const attempt = { ...base, event: 'attempt' as const, rcpt: group.map((t) => t.rcpt).join(','), route: group[0]!.route!.name,
        transport: name, delay_ms: now() - env.submittedAt };
      if (ours) void ours.then((yes) => { if (yes) log.event(attempt); });
      else log.event(attempt);
      const results = await deliverSafely(pool, name, msg, group.map((t) => t.rcpt));
      if (ours && !(await ours)) {
        // Never ours (the commit failed, or another process claimed it first): nothing is recorded.
        // An early delivery (serve, Transport.prepare) may have handed it over already: say so.
        for (const r of results.values()) {
          if (r.outcome !== 'sent') continue;
          log.event({ ...base, event: 'delivered', rcpt: r.rcpt, route: group[0]!.route!.name, transport: name, status: 'sent',
            reason: `${r.text}; but the message was not queued (its commit failed), so the client was told to retry: a second copy may follow` });
        }
        return;
      }
      for (const t of group) {
        const r = results.get(t.rcpt) ?? { rcpt: t.rcpt, outcome: 'deferred' as const, text: `transport ${name} gave no result for this recipient` };
        record(t, name, r);
        // Fallback: the next transport takes over once this one has been failing long enough.
        const route = t.route!;
        const since = state.recipients[t.key]!.failingSince ?? now();
        if (r.outcome === 'deferred' && route.mode === 'fallback' && t.idx + 1 < route.transports.length
          && now() - since >= route.fallbackAfter) {
          next.push({ ...t, idx: t.idx + 1 });
        }
      }
    }
    targets = next;
  }

  const pending = Object.entries(state.recipients).filter(([, r]) => r.status === 'deferred' || r.status === 'pending');
  if (pending.length > 0 && isExpired(env.submittedAt, now(), config.spool.maxLifetime)) {
    for (const [key, r] of pending) {
      const text = `expired after ${Math.round(config.spool.maxLifetime / 3_600_000)} h in the queue; last error: ${r.text ?? 'none'}`;
      state.recipients[key] = { ...r, status: 'failed', text, at: now(), dsn: '4.4.7' };
      const rcpt = key.split(' via ')[0]!;
      log.event({ ...base, event: 'expired', rcpt, route: r.route ?? null, transport: r.transport ?? null, status: 'failed',
        delay_ms: now() - env.submittedAt, reason: text });
      summary.failed++;
      newlyFailed.push({ rcpt, orig: r.orig, via: r.via, dsn: '4.4.7', text, diagnosticType: 'x-sysmail' });
    }
  }

  if (newlyFailed.length > 0) {
    const bounceId = await sendBounce(claim.id, env, raw, newlyFailed, opts, now);
    if (bounceId) { summary.bounces++; onBounce(bounceId); }
  }

  const stillPending = Object.values(state.recipients).some((r) => r.status === 'deferred' || r.status === 'pending');
  if (stillPending) {
    summary.deferred++;
    state.nextAttemptAt = now() + retryDelay(state.attempts, config.spool, opts.random ?? Math.random);
    state.lastError = Object.values(state.recipients).find((r) => r.status === 'deferred')?.text;
    if (opts.beforeDefer) {
      await opts.beforeDefer({ id: claim.id, envelope: env, state, raw })
        .catch((err) => log.event({ event: 'error', id: claim.id, reason: `before defer: ${(err as Error).message}` }));
    }
    await claim.defer(state);
  } else if (Object.values(state.recipients).some((r) => r.status === 'failed')) {
    await claim.fail(state);
  } else {
    await claim.complete();
  }
}

/**
 * Where a new message goes on its first attempt: transport name -> its routed recipients, as the
 * pass will compute it (serve's early delivery starts the relay dialogue from this while the data
 * still arrives). Null when a recipient has no route. Pure.
 */
export function firstAttemptPlan(env: Pick<Envelope, 'sender' | 'recipients'>, config: Config, expandAlias: Expander | undefined): Map<string, string[]> | null {
  const plan = new Map<string, string[]>();
  for (const t of expandTargets(env, {}, config, expandAlias).targets) {
    if (!t.route) return null;
    const name = t.route.transports[t.idx]!;
    plan.set(name, [...(plan.get(name) ?? []), t.rcpt]);
  }
  return plan;
}

/** The targets still to deliver, and every state key this message has (done ones included). */
function expandTargets(env: Pick<Envelope, 'sender' | 'recipients'>, recipients: DeliveryState['recipients'], config: Config,
  expandAlias: Expander | undefined): { targets: Target[]; keys: Set<string> } {
  const out: Target[] = [];
  const seen = new Set<string>();
  for (const orig of env.recipients) {
    const finals = expandAlias && isLocalRecipient(orig, config.general.localDomains)
      ? expandAlias(orig) : [{ address: orig, via: null }];
    for (const { address: rcpt, via } of finals) {
      const route = selectRoute(rcpt, env.sender, config.routes);
      const keys = route?.mode === 'fanout' && route.transports.length > 1
        ? route.transports.map((t, idx) => ({ key: `${rcpt} via ${t}`, idx }))
        : [{ key: rcpt, idx: 0 }];
      for (const { key, idx } of keys) {
        if (seen.has(key)) continue;
        seen.add(key);
        const prev = recipients[key]?.status;
        if (prev === 'sent' || prev === 'failed') continue;
        // Fan-out targets each stay on their own transport; fallback ones start at the primary.
        out.push({ key, rcpt, orig, via, route: route ?? null, idx: route?.mode === 'fanout' ? idx : 0 });
      }
    }
  }
  return { targets: out, keys: seen };
}

async function deliverSafely(pool: TransportPool, name: string, msg: OutgoingMessage, rcpts: string[]): Promise<Map<string, RecipientResult>> {
  let results: RecipientResult[];
  try {
    const transport: Transport = await pool.get(name);
    if (msg.ready && !transport.handsOverAfterReady) await msg.ready;
    results = await transport.deliver(msg, rcpts);
  } catch (err) {
    const e = err as Error & { code?: string };
    results = rcpts.map((rcpt) => ({ rcpt, outcome: 'deferred' as const, text: `${name}: ${e.message}` }));
  }
  return new Map(results.map((r) => [r.rcpt, r]));
}

async function sendBounce(id: string, env: Envelope, raw: Buffer, failed: FailedRecipient[], opts: RunOptions,
  now: () => number): Promise<string | null> {
  const { config, log } = opts;
  // The admin may be written as a bare name ("root"); relays refuse unqualified recipients.
  const admin = qualifiedAdmin(config.general);
  const to = bounceRecipient(env, admin, (a) => isLocalRecipient(a, config.general.localDomains));
  if (!to) {
    log.event({ event: 'bounced', id, from: env.sender, status: 'suppressed', reason: 'not bouncing a bounce; kept in failed/' });
    return null;
  }
  const seed = `${id}.${now().toString(36)}`;
  const bounce = buildBounce({ id, envelope: env, original: raw, failed, hostname: config.general.hostname, now: new Date(now()), boundarySeed: seed }, to);
  const bounceEnv: Envelope = { sender: '', recipients: [to], submittedAt: now(), uid: process.getuid?.() ?? 0,
    user: 'MAILER-DAEMON', via: 'bounce', isBounce: true };
  const bounceId = await opts.spool.submit(bounceEnv, bounce);
  log.event({ event: 'bounced', id, from: env.sender, rcpt: failed.map((f) => f.rcpt).join(','), status: 'bounced',
    reason: `bounce ${bounceId} queued for ${to}` });
  return bounceId;
}
