/**
 * The SMTP session shared by the loopback listener (`sysmail serve`) and
 * `sendmail -bs`: one set of smtp-server options and handlers, so both speak
 * exactly the same dialogue.
 *
 * Guarantees: 250 after DATA is sent only once `queue()` has resolved, which
 * is only after the spool has the message durably; a failure to queue answers
 * 451 (temporary) or 554 (the message itself is bad), never 250. Over-size
 * DATA is answered 552 and nothing is queued. Envelope addresses go through
 * parseEnvelopeAddress; a bad one is refused with 553 and says why. Relay
 * rules (network.ts) are checked at connect, MAIL and RCPT.
 */
import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerDataStream,
  SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { replyLine, smtpReplyFor } from '../core/outcome.js';
import { relayVerdict, type PeerClass } from './network.js';
import { LISTENER_CLOSE_TIMEOUT_MS, LISTENER_IDLE_TIMEOUT_MS, LISTENER_MAX_CLIENTS, LISTENER_MAX_RECIPIENTS } from '../config/defaults.js';
import { formatDate } from '../message/prepare.js';
import { LOCAL_CLIENT_OPTION } from './smtp-compat.js';

/** One accepted message, ready for the spool. */
export interface QueueRequest {
  sender: string;
  recipients: string[];
  /** Prepared: LF line ends, Received/Date/Message-ID/From present. */
  message: Buffer;
  uid: number;
  user: string;
  /** For the log: "smtp from 127.0.0.1" or "smtp on stdin". */
  origin: string;
  /** The early delivery started at the DATA command for this message (SessionEnv.startEarly). */
  early?: EarlyHandle | null;
}

/** serve's early delivery of the message now arriving (early-delivery.ts): the session passes it on, or drops it. */
export interface EarlyHandle { drop(): void }

export interface SessionEnv {
  /** The current configuration (it changes on SIGHUP). */
  config(): Config;
  log: Logger;
  /** How sessions arrive; decides the Received line and the origin in the log. */
  channel: 'tcp' | 'stdio';
  /** Decided once per connection from the peer address. */
  classify(remoteAddress: string): PeerClass;
  /** Who submits: the kernel's view (server uid and "smtp:<ip>", or the calling user on stdin). */
  submitter(remoteAddress: string): { uid: number; user: string };
  /** Durably queues; resolves with the queue id only when the message is safe. */
  queue(req: QueueRequest): Promise<string>;
  /** At the DATA command: start delivering the message whose data now arrives (serve); null when it does not. */
  startEarly?(sender: string, recipients: string[]): EarlyHandle | null;
  /** AUTH check; absent when AUTH is off. */
  checkPassword?(username: string, password: string): Promise<boolean>;
  /** Whether STARTTLS and AUTH are offered. */
  tls: { key: Buffer; cert: Buffer } | null;
  auth: boolean;
  /** Idle clients are told 421 and dropped after this long. Default LISTENER_IDLE_TIMEOUT_MS. */
  idleTimeoutMs?: number;
  now?(): Date;
}

interface ConnState {
  peer: PeerClass;
  /** The early delivery of the message being received, until it is queued or refused. */
  early?: EarlyHandle | null;
  sender: string | null;
  recipients: string[];
}

/** Reply error for a handler callback: smtp-server sends `responseCode message`. */
export function smtpReply(code: number, text: string): Error & { responseCode: number } {
  return Object.assign(new Error(text), { responseCode: code });
}

/** Text safe to put in a header or a log: no control characters, bounded. */
function clean(s: string, max = 200): string {
  return s.replace(/[^\x21-\x7e]/g, '?').slice(0, max);
}

/** RFC 5322 date with the local offset (one formatter for the whole program). */
export const rfc5322Date = (d: Date): string => formatDate(d);

/**
 * The trace header RFC 5321 §4.4 asks every SMTP server to add. Protocol
 * names per RFC 3848 (ESMTPS = over TLS, ESMTPA = authenticated).
 */
export function receivedHeader(o: { helo: string; ip: string | null; uid: number | null; hostname: string;
  esmtp: boolean; secure: boolean; authenticated: boolean; date: Date }): string {
  const proto = (o.esmtp ? 'ESMTP' : 'SMTP') + (o.secure ? 'S' : '') + (o.authenticated ? 'A' : '');
  const from = o.ip !== null ? `[${clean(o.ip)}]` : `uid ${o.uid ?? '?'}`;
  return `Received: from ${clean(o.helo) || 'unknown'} (${from})\n\tby ${clean(o.hostname)} (sysmail) with ${proto};\n\t${rfc5322Date(o.date)}\n`;
}

/** smtp-server options and handlers for one listener (or one stdin session). */
export function sessionOptions(env: SessionEnv): SMTPServerOptions {
  const state = new WeakMap<SMTPServerSession, ConnState>();
  const now = env.now ?? (() => new Date());
  const origin = (s: SMTPServerSession) => env.channel === 'stdio' ? 'smtp on stdin' : `smtp from ${s.remoteAddress}`;
  const stateOf = (s: SMTPServerSession): ConnState => {
    let st = state.get(s);
    if (!st) {
      st = { peer: env.channel === 'stdio' ? 'trusted' : env.classify(s.remoteAddress), sender: null, recipients: [] };
      state.set(s, st);
    }
    return st;
  };
  const reject = (s: SMTPServerSession, reason: string, extra: { from?: string; rcpt?: string } = {}) => {
    env.log.event({ event: 'rejected', from: extra.from ?? null, rcpt: extra.rcpt ?? null, status: 'rejected', reason: `${origin(s)}: ${reason}` });
  };
  const relayCheck = (s: SMTPServerSession): Error | null => {
    const verdict = relayVerdict(stateOf(s).peer, Boolean(s.user), s.secure);
    if (verdict === 'ok') return null;
    if (verdict === 'auth-required') {
      reject(s, 'relay refused: not authenticated (AUTH over STARTTLS is required for non-loopback clients)');
      return smtpReply(530, '5.7.0 Authentication required: use STARTTLS, then AUTH');
    }
    reject(s, 'relay access denied: not a loopback client and not in listener.allow_relay_from');
    return smtpReply(554, '5.7.1 Relay access denied');
  };

  const cfg = env.config();
  const disabled = ['WIZ', 'SHELL', 'KILL', 'XCLIENT', 'XFORWARD'];
  if (!env.tls) disabled.push('STARTTLS');
  if (!env.auth) disabled.push('AUTH');

  return {
    name: cfg.general.hostname,
    banner: 'sysmail',
    size: cfg.general.maxMessageSize,
    // Hide what we do not implement: DSN parameters are not honoured, REQUIRETLS is not kept.
    hideDSN: true,
    hideREQUIRETLS: true,
    hideENHANCEDSTATUSCODES: true,
    hideSTARTTLS: !env.tls,
    disabledCommands: disabled,
    authMethods: ['PLAIN', 'LOGIN'],
    // Loopback clients send without AUTH; the relay check decides per client.
    authOptional: true,
    allowInsecureAuth: false,
    disableReverseLookup: true,
    logger: false,
    socketTimeout: env.idleTimeoutMs ?? LISTENER_IDLE_TIMEOUT_MS,
    closeTimeout: LISTENER_CLOSE_TIMEOUT_MS,
    maxClients: LISTENER_MAX_CLIENTS,
    maxRecipients: LISTENER_MAX_RECIPIENTS,
    ...(env.tls ? { key: env.tls.key, cert: env.tls.cert } : {}),
    // smtp-compat.ts: bare local names and no greeting pause, for local clients only.
    ...{ [LOCAL_CLIENT_OPTION]: (ip: string) => env.channel === 'stdio' || env.classify(ip) === 'trusted' },

    onConnect(session, callback) {
      const st = stateOf(session);
      if (st.peer === 'refused') {
        reject(session, 'connection refused: not a loopback client and not in listener.allow_relay_from');
        return callback(smtpReply(554, `5.7.1 Relay access denied for [${clean(session.remoteAddress)}]`));
      }
      callback();
    },

    onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession,
      callback: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void) {
      if (!session.secure) return callback(smtpReply(538, '5.7.11 Encryption required: use STARTTLS first'));
      const user = auth.username ?? '';
      const check = env.checkPassword;
      if (!check || (auth.method !== 'PLAIN' && auth.method !== 'LOGIN')) {
        return callback(smtpReply(504, '5.5.4 Unrecognized authentication type'));
      }
      check(user, auth.password ?? '').then((ok) => {
        if (ok) return callback(null, { user });
        reject(session, `AUTH ${auth.method} failed for user "${clean(user, 64)}"`);
        callback(smtpReply(535, '5.7.8 Authentication credentials invalid'));
      }, (err: unknown) => {
        reject(session, `AUTH could not be checked: ${(err as Error).message}`);
        callback(smtpReply(454, '4.7.0 Temporary authentication failure'));
      });
    },

    // A client gone in the middle of its data: its early delivery is abandoned at once.
    onClose(session: SMTPServerSession) {
      state.get(session)?.early?.drop();
    },

    onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void) {
      const denied = relayCheck(session);
      if (denied) return callback(denied);
      const st = stateOf(session);
      st.sender = null;
      st.recipients = [];
      parseAddress(address.address, env.config(), true).then((sender) => {
        st.sender = sender;
        callback();
      }, (err: unknown) => {
        reject(session, `bad sender address: ${(err as Error).message}`, { from: clean(address.address) });
        callback(smtpReply(553, `5.1.7 Bad sender address: ${oneLine((err as Error).message)}`));
      });
    },

    onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void) {
      const denied = relayCheck(session);
      if (denied) return callback(denied);
      const st = stateOf(session);
      parseAddress(address.address, env.config(), false).then((rcpt) => {
        if (!st.recipients.includes(rcpt)) st.recipients.push(rcpt);
        callback();
      }, (err: unknown) => {
        reject(session, `bad recipient address: ${(err as Error).message}`, { rcpt: clean(address.address) });
        callback(smtpReply(553, `5.1.3 Bad recipient address: ${oneLine((err as Error).message)}`));
      });
    },

    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (err?: Error | null, message?: string) => void) {
      const st = stateOf(session);
      // The relay dialogue may start now, while the data arrives; the message goes out once queued.
      const early = st.sender !== null ? env.startEarly?.(st.sender, st.recipients) ?? null : null;
      st.early = early;
      const limit = env.config().general.maxMessageSize;
      const chunks: Buffer[] = [];
      let size = 0;
      let failed = false;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        // Past the limit nothing more is kept: the rest is read and thrown away.
        if (size <= limit) chunks.push(chunk);
      });
      stream.on('error', () => { failed = true; });
      stream.on('end', () => {
        st.early = null; // from here each outcome passes it on or drops it
        if (failed) { early?.drop(); return callback(smtpReply(451, '4.3.0 Message not received in full')); }
        if (stream.sizeExceeded || size > limit) {
          early?.drop();
          reject(session, `message of ${size} bytes is over general.max_message_size (${limit} bytes)`, { from: st.sender ?? undefined });
          return callback(smtpReply(552, `5.3.4 Message too big: the limit is ${limit} bytes`));
        }
        acceptMessage(env, session, st, Buffer.concat(chunks, size), now(), origin(session), early).then(
          (id) => callback(null, `Ok: queued as ${id}`),
          (err: unknown) => { early?.drop(); callback(queueFailure(err)); },
        );
      });
    },
  };
}

const oneLine = replyLine;

async function parseAddress(raw: string, config: Config, allowNull: boolean): Promise<string> {
  if (allowNull && raw === '') return '';
  const { parseEnvelopeAddress } = await import('../message/address.js');
  return parseEnvelopeAddress(raw, { domain: config.general.domain, source: 'smtp', allowNull });
}

async function acceptMessage(env: SessionEnv, session: SMTPServerSession, st: ConnState, raw: Buffer, date: Date,
  origin: string, early: EarlyHandle | null): Promise<string> {
  const config = env.config();
  const g = config.general;
  const who = env.submitter(session.remoteAddress);
  const { prepareMessage } = await import('../message/prepare.js');
  const prepared = prepareMessage({
    raw, sender: st.sender ?? '', fullName: null, recipients: st.recipients, extractRecipients: false,
    strictHeaders: true, // a malformed To/Cc/From list is answered 501, not rewritten by a guess
    envelopeParsed: true, // onMailFrom and onRcptTo parsed them (parseAddress)
    user: who.user, hostname: g.hostname, domain: g.domain, now: date, tagHost: g.tagHost,
  });
  const received = receivedHeader({
    helo: session.hostNameAppearsAs || '', ip: env.channel === 'stdio' ? null : session.remoteAddress,
    uid: who.uid, hostname: g.hostname, esmtp: session.openingCommand !== 'HELO', secure: session.secure,
    authenticated: Boolean(session.user), date,
  });
  const message = Buffer.concat([Buffer.from(received, 'latin1'), prepared.message]);
  const id = await env.queue({ sender: prepared.sender, recipients: prepared.recipients, message, uid: who.uid, user: who.user, origin, early });
  st.sender = null;
  st.recipients = [];
  return id;
}

/** 451 for local trouble (the client keeps the message and retries), 554 when the message itself is refused. */
export function queueFailure(err: unknown): Error {
  const r = smtpReplyFor(err);
  return smtpReply(r.code, r.text);
}
