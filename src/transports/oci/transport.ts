/**
 * The OCI Notifications transport: one PublishMessage per mail, the same
 * outcome for every recipient (ONS has topics, not recipients).
 *
 * Guarantees: the title is the decoded Subject tagged `[host]` (unless
 * general.tag_host is off); the request fits the 64 KB limit, and when the
 * body had to be cut the full message is first stored in the archive
 * Maildir (unless archive_dir is off) and the marker says where; publishes
 * to one topic stay within 60 a minute per process (a short wait, else a
 * deferral); a 401 makes instance principals fetch a new token and retry once.
 * Outcomes: 2xx sent; 429, 5xx, 409, 401 (as Postfix's
 * smtp_sasl_auth_soft_bounce: a key or clock problem is fixed by the admin,
 * not by bouncing), network errors, timeouts, auth setup and local I/O
 * trouble deferred; other 4xx failed, with the service's code and message.
 * Never throws for a delivery problem. Heavy modules (node:crypto, node:http)
 * load on the first delivery, not when the transport is created.
 */
import { configError, isSysmailError } from '../../core/errors.js';
import { failureResult } from '../../core/outcome.js';
import type { OciTransportConfig } from '../../config/types.js';
import { allRecipients, type OutgoingMessage, type RecipientResult, type Transport, type TransportContext } from '../types.js';
import type { OciAuth } from './auth.js';
import { checkUrl, createHttpClient, type HttpClient, type HttpResponse } from '../http/client.js';
import { httpStatusOutcome } from '../http/status.js';
import { acquire, bucketFor } from './rate-limit.js';
import { archiveMessage, archiveName } from './archive.js';
import { extractText } from '../../message/text.js';
import { buildPayload, buildTitle, cutMarker } from './payload.js';

/** "60 per topic" messages per minute (reference doc §1.4). */
export const TOPIC_RATE_PER_MINUTE = 60;
/** Waiting longer than this for the rate limit holds up the whole queue pass: defer instead. */
export const MAX_RATE_WAIT_MS = 3000;

export interface OciTransportDeps {
  env?: NodeJS.ProcessEnv;
  home?: string;
  sleep?: (ms: number) => Promise<void>;
  ratePerMinute?: number;
  maxRateWaitMs?: number;
}

/** Realm of a topic OCID (`ocid1.onstopic.<realm>.…`) to its second-level domain (reference doc §1.1). */
export function realmDomain(topicId: string): string {
  const realm = topicId.split('.')[2] ?? 'oc1';
  const table: Record<string, string> = {
    oc1: 'oraclecloud.com', oc2: 'oraclegovcloud.com', oc3: 'oraclegovcloud.com', oc4: 'oraclegovcloud.uk',
    oc8: 'oraclecloud8.com', oc19: 'oraclecloud.eu',
  };
  return table[realm] ?? 'oraclecloud.com';
}

type Verdict = Omit<RecipientResult, 'rcpt'>;

/** Maps the service's answer to an outcome; `code`/`message` come from OCI's JSON error body. */
export function classifyResponse(res: Pick<HttpResponse, 'status' | 'body' | 'headers'>): Verdict {
  const requestId = res.headers['opc-request-id'];
  const rid = typeof requestId === 'string' ? ` (opc-request-id ${requestId})` : '';
  let code = '';
  let message = '';
  let messageId = '';
  try {
    const j = JSON.parse(res.body) as { code?: unknown; message?: unknown; messageId?: unknown };
    if (typeof j.code === 'string') code = j.code;
    if (typeof j.message === 'string') message = j.message.slice(0, 300);
    if (typeof j.messageId === 'string') messageId = j.messageId;
  } catch {
    message = res.body.slice(0, 200).replace(/\s+/g, ' ').trim();
  }
  const s = res.status;
  const v = httpStatusOutcome(s);
  if (v.outcome === 'sent') {
    const as = messageId ? ` as message ${messageId}` : '';
    return { outcome: 'sent', code: s, dsn: v.dsn, text: `published to OCI Notifications${as}${rid}` };
  }
  const what = `OCI Notifications answered ${s}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}${rid}`;
  const hint = v.class === 'rate-limited' ? "; over the topic's publish rate, will retry"
    : v.class === 'unauthorized' ? "; check the system clock, and that the key's fingerprint and OCIDs match the console (or the instance's dynamic group)"
    : v.class === 'not-found' ? '; check topic_id and that a policy allows this principal to "use ons-topics"'
    : '';
  return { outcome: v.outcome, code: s, dsn: v.dsn, text: what + hint };
}

/** Instance-principal sessions outlive one delivery pass: the token is good for minutes. */
const instanceAuths = new Map<string, Promise<OciAuth>>();
/** Each warning once per process: a delivery pass runs often and the log is for people. */
const warned = new Set<string>();

export function createOciTransport(cfg: OciTransportConfig, ctx: TransportContext, deps: OciTransportDeps = {}): Transport {
  const host = ctx.config.general.hostname;
  // The config loader fills in the default (<spool>/archive); null means `archive_dir = false`.
  const archiveDir = cfg.archiveDir;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const bucket = bucketFor(cfg.topicId, deps.ratePerMinute ?? TOPIC_RATE_PER_MINUTE);
  let setup: Promise<{ auth: OciAuth; http: HttpClient; signer: typeof import('./signer.js') }> | null = null;
  let httpClient: HttpClient | null = null;

  const loadAuth = async (): Promise<OciAuth> => {
    if (cfg.auth === 'api_key') {
      const { loadApiKeyAuth } = await import('./auth-config.js');
      return loadApiKeyAuth({ configFile: cfg.configFile, profile: cfg.profile, home: deps.home, env: deps.env });
    }
    const key = `${cfg.metadataUrl}|${cfg.federationUrl ?? ''}|${cfg.region}`;
    let p = instanceAuths.get(key);
    if (!p) {
      p = import('./auth-instance.js').then(({ createInstancePrincipalAuth }) => createInstancePrincipalAuth({
        metadataUrl: cfg.metadataUrl, federationUrl: cfg.federationUrl, region: cfg.region || null,
        domain: realmDomain(cfg.topicId), timeoutMs: cfg.timeout, now: ctx.now,
      }));
      instanceAuths.set(key, p);
    }
    return p;
  };

  const getSetup = () => {
    if (setup) return setup;
    setup = (async () => {
      const [auth, signer] = await Promise.all([loadAuth(), import('./signer.js')]);
      for (const w of auth.warnings) {
        if (warned.has(w)) continue;
        warned.add(w);
        ctx.log.event({ event: 'error', transport: cfg.name, status: 'warning', reason: w });
        ctx.log.verbose(w);
      }
      httpClient = await createHttpClient();
      return { auth, http: httpClient, signer };
    })();
    // A failed setup (say, an unreadable key) is retried on the next message, not cached.
    setup.catch(() => { setup = null; });
    return setup;
  };

  const publish = async (msg: OutgoingMessage): Promise<Verdict> => {
    const { auth, http, signer } = await getSetup();
    let creds = await auth.credentials();
    const region = cfg.region || auth.region;
    if (!cfg.endpoint && !region) {
      throw configError(`transport ${cfg.name}: no region for OCI Notifications`,
        `set transports.${cfg.name}.region (e.g. "us-ashburn-1") or endpoint`);
    }
    const base = (cfg.endpoint ?? `https://notification.${region}.${realmDomain(cfg.topicId)}`).replace(/\/+$/, '');
    const url = checkUrl(`${base}/20181201/topics/${encodeURIComponent(cfg.topicId)}/messages`, `transports.${cfg.name}.endpoint`);

    const { subject, text } = extractText(msg.raw);
    const file = archiveName(msg.envelope.submittedAt, msg.id, host);
    const title = buildTitle(subject, ctx.config.general.tagHost ? host : null);
    // Slack, SMS and HTTPS subscribers never see the title: an empty body would tell them nothing.
    const payload = buildPayload(title, text || title, cutMarker(msg.raw.length, host, archiveDir, file));
    if (payload.cut && archiveDir !== null) await archiveMessage(archiveDir, file, msg.raw);

    const slot = await acquire(bucket, ctx.now, deps.maxRateWaitMs ?? MAX_RATE_WAIT_MS, sleep);
    if (!slot.ok) {
      return { outcome: 'deferred', dsn: '4.7.0',
        text: `held back by sysmail: ${bucket.limit} publishes a minute to topic ${cfg.topicId} already made; ` +
          `next slot in ${Math.ceil(slot.waitMs / 1000)} s` };
    }
    const send = async () => {
      const headers: Record<string, string> = {
        date: signer.httpDate(ctx.now()),
        'content-type': 'application/json',
        accept: 'application/json',
        messageType: 'RAW_TEXT',
        'opc-request-id': `sysmail-${msg.id}`.replace(/[^A-Za-z0-9._-]/g, '').slice(0, 98),
      };
      Object.assign(headers, signer.signRequest({
        method: 'POST', url, headers, body: payload.json, keyId: creds.keyId, privateKey: creds.privateKey,
      }));
      return http.request({ method: 'POST', url, headers, body: payload.json, timeoutMs: cfg.timeout });
    };
    let res = await send();
    if (res.status === 401 && auth.invalidate()) {
      ctx.log.verbose(`transport ${cfg.name}: 401 from OCI Notifications, fetching new credentials and retrying once`);
      creds = await auth.credentials();
      res = await send();
    }
    return classifyResponse(res);
  };

  return {
    name: cfg.name,
    type: 'oci-notifications',
    async deliver(msg, rcpts) {
      if (rcpts.length === 0) return [];
      try {
        return allRecipients(rcpts, await publish(msg));
      } catch (err) {
        return allRecipients(rcpts, failureVerdict(err));
      }
    },
    async close() {
      httpClient?.close();
      httpClient = null;
      setup = null;
    },
  };
}

/** Anything thrown on the way (network, timeout, auth setup, archive I/O) defers: nothing is lost. */
function failureVerdict(err: unknown): Verdict {
  const asResult = () => failureResult(err, { deferOnly: true, codes: 'none' });
  if (isSysmailError(err)) return asResult();
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ETIMEDOUT') return { outcome: 'deferred', dsn: '4.4.2', text: `OCI Notifications: ${(err as Error).message}` };
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    return { outcome: 'deferred', dsn: '4.4.1', text: `cannot reach OCI Notifications: ${code} ${(err as Error).message}` };
  }
  return asResult();
}
