/**
 * The SMTP smarthost transport: relays each message to one configured server
 * ([transports.<name>] type = "smtp").
 *
 * Guarantees:
 * - One result per recipient: 2xx sent, 4xx deferred, 5xx failed, with the
 *   server's code, enhanced status and text; connection, timeout, TLS, pin
 *   and AUTH trouble (535 included) defer everyone, so a fixable setup never
 *   bounces mail. `deliver` never throws.
 * - One connection, kept open between deliver() calls (RSET between
 *   messages) and closed with QUIT by close(): at the end of the pass, or in
 *   serve after a short idle time, so passes that follow each other reuse it
 *   (src/server/kept-transports.ts). RSET only after a transaction that did
 *   not end in a 2xx to the data. A kept connection that died (the relay
 *   closed it while idle, it fails the RSET, or it drops before the message
 *   data) is replaced once, transparently; a message whose data went out is
 *   never sent again in the same attempt.
 * - When opening a session fails (host down, certificate, password), later
 *   messages in the same pass are deferred with the same reason without
 *   another attempt: a dead host costs one timeout per pass, not one per
 *   message, and a wrong password is not hammered into a lockout. endPass()
 *   forgets that failure (and the resolved password), so the next pass tries
 *   again with a freshly read secret.
 * - Secrets are resolved through the injected resolver and never reach logs
 *   or result texts.
 */
import { rewriteFrom } from './from-rewrite.js';
import type { SecretRef, SmtpTransportConfig } from '../config/types.js';
import { EX, SysmailError, configError, tempError, toSysmailError } from '../core/errors.js';
import type { EarlyDelivery, OutgoingMessage, RecipientResult, Transport, TransportContext } from './types.js';
import { allRecipients } from './types.js';
import { fromError, type Peer } from './smtp-reply.js';
import type { EarlyTransaction, SmtpSession } from './smtp-session.js';
import { EARLY_DELIVERY_WAIT_MS } from '../config/defaults.js';
import type { ConnectionOptions } from 'node:tls';

export type SecretResolver = (ref: SecretRef) => Promise<string>;

/** Characters that must never reach an SMTP command line. */
const BAD_ADDRESS = /[\r\n\0<>]|^\s|\s$/;

/**
 * A small resolver for value / env / file / credential, used when the caller
 * gives none. The full one (command, permission checks) is
 * src/config/secrets.ts, passed in by the transport registry.
 */
export async function minimalResolveSecret(ref: SecretRef): Promise<string> {
  if (ref.value !== undefined) return ref.value;
  if (ref.env !== undefined) {
    const v = process.env[ref.env];
    if (v === undefined) throw configError(`environment variable ${ref.env} (password.env) is not set`, 'set it in the service environment');
    return v;
  }
  const path = ref.file ?? (ref.credential !== undefined
    ? `${process.env.CREDENTIALS_DIRECTORY ?? '/run/credentials'}/${ref.credential}` : undefined);
  if (path !== undefined) {
    const { readFile } = await import('node:fs/promises');
    try {
      return (await readFile(path, 'utf8')).split(/\r?\n/)[0];
    } catch (e) {
      throw configError(`cannot read the secret file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, 'check the path and its permissions', e);
    }
  }
  throw configError('this secret source (password.command) needs the full secret resolver', 'report this as a bug: the transport registry should pass resolveSecret');
}

export function createSmtpTransport(cfg: SmtpTransportConfig, ctx: TransportContext,
  resolveSecret: SecretResolver = minimalResolveSecret): Transport {
  const peer: Peer = { name: cfg.name, host: cfg.host, port: cfg.port, timeouts: cfg.timeouts };
  const log = (m: string) => ctx.log.verbose(m);
  let session: SmtpSession | null = null;
  /** Set when opening a session failed: the reason for everyone else this pass. */
  let openFailure: SysmailError | null = null;
  let password: Promise<string | null> | null = null;
  let tlsOptions: Promise<ConnectionOptions | null> | null = null;
  // deliver() calls share one connection, so they run one at a time.
  let queue: Promise<unknown> = Promise.resolve();

  const getPassword = () => password ??= (async () => {
    if (!cfg.username || !cfg.password) return null;
    try {
      return await resolveSecret(cfg.password);
    } catch (e) {
      const se = toSysmailError(e);
      // The resolver's message names the source (file path, env name), never the value.
      throw tempError('ESMTP_SECRET', `cannot get the password for transports.${cfg.name}: ${se.message}`,
        e, se.hint ?? `check transports.${cfg.name}.password`, { dsn: '4.3.5' });
    }
  })();

  const getTls = () => tlsOptions ??= (async () => {
    if (cfg.security === 'none') return null;
    const { buildTlsOptions } = await import('./smtp-tls.js');
    return buildTlsOptions(cfg);
  })();

  async function openSession(): Promise<SmtpSession> {
    const { SmtpSession } = await import('./smtp-session.js');
    const [pass, tls] = await Promise.all([getPassword(), getTls()]);
    return SmtpSession.open({ cfg, peer, helo: cfg.helo ?? ctx.config.general.hostname, password: pass, tls, log });
  }

  /**
   * A session ready for MAIL FROM: the kept one (after RSET when its last transaction did not end
   * cleanly, as nodemailer's pool does), or a new one. `reused` says which.
   */
  async function ready(): Promise<{ s: SmtpSession; reused: boolean }> {
    if (session && session.alive) {
      try {
        if (session.needsReset) await session.reset();
        return { s: session, reused: true };
      } catch (e) {
        log(`smtp ${cfg.name}: kept connection is gone (${(e as Error).message}), reconnecting`);
      }
    }
    session?.destroy();
    session = null;
    try {
      session = await openSession();
      return { s: session, reused: false };
    } catch (e) {
      openFailure = asDeferral(e);
      throw openFailure;
    }
  }

  /**
   * Sends on the kept connection; when the relay had closed it (idle timeout, restart) before a
   * byte of the message went out, sends once more on a new connection. Nothing can have been
   * delivered then (a message exists for the relay only after its data), so no duplicate.
   */
  async function sendOnce(sender: string, rcpts: string[], raw: Buffer, dsn: ReturnType<typeof dsnOf>, gate?: Promise<void>): Promise<RecipientResult[]> {
    const { s, reused } = await ready();
    const results = await s.send(sender, rcpts, raw, dsn, gate);
    if (!reused || s.bodySent || s.alive || results.some((r) => r.outcome !== 'deferred')) return results;
    log(`smtp ${cfg.name}: the relay closed the kept connection before the message was sent (${results[0]?.text ?? ''}); sending on a new one`);
    s.destroy();
    session = null;
    const again = await ready();
    return again.s.send(sender, rcpts, raw, dsn, gate);
  }

  /** The envelope sender the relay gets: force_sender, else rewrite_from (its approved sender), else the message's. */
  function relaySender(envelopeSender: string): string {
    return cfg.forceSender ?? cfg.rewriteFrom ?? envelopeSender;
  }

  /** The message as the relay gets it: with rewrite_from, the From header is the approved address. */
  function relayData(msg: OutgoingMessage): Buffer {
    return cfg.rewriteFrom ? rewriteFrom(msg.raw, cfg.rewriteFrom, ctx.config.general.hostname).raw : msg.raw;
  }

  /**
   * The early delivery started by prepare(): the id of its message once supplied, its results, and
   * how to abandon it while it still waits for its message.
   */
  let early: { id: string | null; settled: boolean; results: Promise<RecipientResult[] | null>; abandon: () => void } | null = null;

  /**
   * serve's early delivery (Transport.prepare): on the session's socket, MAIL FROM, RCPT TO and DATA
   * go out now; the message data and the final dot once supply() gives the message. Runs in this
   * transport's queue like a deliver(), so nothing else uses the connection meanwhile; abandoned
   * (connection closed before the dot) on drop() or after EARLY_DELIVERY_WAIT_MS.
   */
  function prepare(envelopeSender: string, rcpts: string[]): EarlyDelivery | null {
    const sender = relaySender(envelopeSender);
    const good = [...new Set(rcpts)];
    if (openFailure || (early && !early.settled) || good.length === 0 || BAD_ADDRESS.test(sender)
      || good.some((r) => r === '' || BAD_ADDRESS.test(r))) return null;
    let give!: (msg: OutgoingMessage | null) => void;
    const message = new Promise<OutgoingMessage | null>((r) => { give = r; });
    const entry: NonNullable<typeof early> = { id: null, settled: false, results: Promise.resolve(null), abandon: () => hand(null) };
    entry.results = queue.then(async () => {
      let txn: EarlyTransaction | null = null;
      try {
        txn = (await ready()).s.beginEarly(sender, good);
      } catch { /* no session: the pass's deliver() reports why (openFailure) */ }
      const msg = await message;
      if (!txn) return null;
      if (!msg) { txn.drop(); return null; }
      return txn.finish(relayData(msg));
    }).catch(() => null).finally(() => { entry.settled = true; });
    queue = entry.results;
    early = entry;
    let given = false;
    const hand = (msg: OutgoingMessage | null) => {
      if (given) return;
      given = true;
      clearTimeout(timer);
      give(msg);
    };
    const timer = setTimeout(() => hand(null), EARLY_DELIVERY_WAIT_MS);
    timer.unref();
    return {
      expect(id) {
        if (!given) entry.id = id;
      },
      supply(msg) {
        // DSN parameters (sendmail -N/-R/-V) go in MAIL FROM and RCPT TO: such a message goes the normal way.
        const same = msg.id === entry.id && relaySender(msg.envelope.sender) === sender && dsnOf(msg) === undefined;
        hand(same ? msg : null);
      },
      drop: () => hand(null),
      ended: entry.results.then((r) => r === null),
    };
  }

  /** The early delivery's results for this message, when it had one that reached the relay. */
  async function earlyResults(msg: OutgoingMessage): Promise<RecipientResult[] | null> {
    const e = early;
    if (!e || e.id !== msg.id) return null;
    early = null;
    return e.results;
  }

  async function deliverNow(msg: OutgoingMessage, rcpts: string[]): Promise<RecipientResult[]> {
    if (rcpts.length === 0) return [];
    const done = await earlyResults(msg);
    if (done) {
      // Those the early delivery had (the pass routes as it was told); anyone else as usual.
      const had = new Map(done.map((r) => [r.rcpt, r]));
      const rest = rcpts.filter((r) => !had.has(r));
      for (const r of rest.length > 0 ? await deliverNormally(msg, rest) : []) had.set(r.rcpt, r);
      return rcpts.map((r) => had.get(r)!);
    }
    return deliverNormally(msg, rcpts);
  }

  async function deliverNormally(msg: OutgoingMessage, rcpts: string[]): Promise<RecipientResult[]> {
    const sender = relaySender(msg.envelope.sender);
    const raw = relayData(msg);
    if (BAD_ADDRESS.test(sender)) {
      return allRecipients(rcpts, { outcome: 'failed', dsn: '5.1.7', text: `envelope sender ${JSON.stringify(sender)} cannot be sent over SMTP` });
    }
    const bad = new Set(rcpts.filter((r) => r === '' || BAD_ADDRESS.test(r)));
    const good = [...new Set(rcpts.filter((r) => !bad.has(r)))];
    const results = new Map<string, RecipientResult>();
    for (const r of bad) results.set(r, { rcpt: r, outcome: 'failed', dsn: '5.1.3', text: `recipient ${JSON.stringify(r)} cannot be sent over SMTP` });
    if (good.length > 0) {
      let sent: RecipientResult[];
      if (openFailure) {
        sent = allRecipients(good, fromError(openFailure));
      } else {
        try {
          sent = await sendOnce(sender, good, raw, dsnOf(msg), msg.ready);
        } catch (e) {
          sent = allRecipients(good, fromError(asDeferral(e)));
        }
      }
      for (const r of sent) results.set(r.rcpt, r);
    }
    return rcpts.map((r) => results.get(r) ?? { rcpt: r, outcome: 'deferred', text: 'internal: no result' });
  }

  return {
    name: cfg.name,
    type: 'smtp',
    // MAIL FROM, RCPT TO and the data go out while the commit's fsyncs run; the final dot waits.
    handsOverAfterReady: true,
    prepare,
    deliver(msg, rcpts) {
      // Another message needs the connection while an early delivery still waits for its own (a
      // client that stalls in its data): the early one gives way, its message goes the usual way.
      if (early && !early.settled && early.id !== msg.id) early.abandon();
      const run = queue.then(() => deliverNow(msg, rcpts)).catch((e: unknown) =>
        allRecipients(rcpts, fromError(asDeferral(e))));
      queue = run;
      return run;
    },
    endPass() {
      openFailure = null;
      password = null;
    },
    async close() {
      await queue.catch(() => undefined);
      const s = session;
      session = null;
      openFailure = null;
      password = null;
      if (s) await s.quit().catch(() => s.destroy());
    },
  };
}

/** Local trouble (a bug, a config slip) is still a deferral, never a bounce. */
function asDeferral(e: unknown): SysmailError {
  const se = toSysmailError(e);
  if (se.temporary && se.exit === EX.TEMPFAIL) return se;
  return tempError(se.code, se.message, e, se.hint, { dsn: '4.3.0' });
}

/** DSN parameters of the submission (sendmail -N/-R/-V), passed on when the server supports DSN. */
function dsnOf(msg: OutgoingMessage): { ret?: string; envid?: string; notify?: string } | undefined {
  const env = msg.envelope;
  const notify = env.notify && /^(NEVER|((SUCCESS|FAILURE|DELAY)(,(SUCCESS|FAILURE|DELAY))*))$/i.test(env.notify) ? env.notify : undefined;
  const envid = env.envid && /^[\x21-\x7e]{1,100}$/.test(env.envid) ? env.envid : undefined;
  if (!notify && !env.ret && !envid) return undefined;
  return { ...(notify ? { notify } : {}), ...(env.ret ? { ret: env.ret.toUpperCase() } : {}), ...(envid ? { envid } : {}) };
}
