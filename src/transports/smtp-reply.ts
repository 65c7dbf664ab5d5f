/**
 * SMTP replies and client errors -> the three outcomes (pure, table-tested).
 *
 * Guarantees: 2xx is sent, 4xx deferred, 5xx failed, with the reply code, the
 * enhanced status (RFC 3463) and the server's text kept; except that every
 * reply meaning "your credentials or your TLS are wrong" (530, 534, 535, 538)
 * and 552 to RCPT (RFC 5321 4.5.3.1.10) are deferred, because the admin can
 * fix those and the mail must not bounce meanwhile. Anything that is not a
 * server reply (connection, timeout, TLS, protocol trouble) is deferred.
 * Inputs are replies and nodemailer error objects, never secrets.
 */
import { scrubText } from '../core/display.js';
import { failureResult } from '../core/outcome.js';
import { SysmailError, tempError, type ErrorCode } from '../core/errors.js';
import type { Outcome, RecipientResult } from './types.js';

export type ResultTemplate = Omit<RecipientResult, 'rcpt'>;

export interface Reply {
  code: number;
  dsn?: string;
  /** Reply text without codes; lines of a multi-line reply joined by " / ". */
  text: string;
}

/** What the messages need to know about the peer; no secrets. */
export interface Peer {
  /** The transport's table name, for config key paths in hints. */
  name: string;
  host: string;
  port: number;
  timeouts: { connect: number; greeting: number; command: number; data: number };
}

/** The shape of the errors nodemailer's SMTP client produces. */
export interface ClientError {
  message: string;
  code?: string;
  originalCode?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  timeoutType?: string;
  recipient?: string;
  rejectedErrors?: ClientError[];
}

/** Replies that name a fixable credential/TLS problem: defer, never bounce. */
const AUTH_CODES = new Set([530, 534, 535, 538]);

/** Reply text kept per recipient; a hostile relay can send kilobytes. */
export const MAX_REPLY_TEXT = 500;

export const peerLabel = (p: Peer) => `${p.host}:${p.port}`;
const key = (p: Peer, k: string) => `transports.${p.name}.${k}`;

export function parseReply(raw: string): Reply | null {
  const lines = raw.split(/\r?\n/).filter((l) => l.trim() !== '');
  const m = /^(\d{3})/.exec(lines[0] ?? '');
  if (!m) return null;
  let dsn: string | undefined;
  const texts = lines.map((l) => {
    let t = l.replace(/^\d{3}[ -]?/, '');
    const e = /^([245]\.\d{1,3}\.\d{1,3})(?:\s+|$)/.exec(t);
    if (e) {
      dsn ??= e[1];
      t = t.slice(e[0].length);
    }
    // A reply is the peer's data: no control characters reach a log, a terminal or a bounce.
    return scrubText(t).trim();
  });
  const text = texts.filter(Boolean).join(' / ');
  return { code: Number(m[1]), dsn, text: text.length > MAX_REPLY_TEXT ? `${text.slice(0, MAX_REPLY_TEXT)}... (${text.length - MAX_REPLY_TEXT} more characters)` : text };
}

export function replyOutcome(code: number, command: string): Outcome {
  if (code >= 200 && code < 300) return 'sent';
  // 3xx is an intermediate reply: only DATA's 354 is an answer that goes on. A relay that says
  // "354" to MAIL FROM, RCPT TO or the final dot has not taken the message: never count it sent.
  if (code >= 300 && code < 400) return command === 'DATA' ? 'sent' : 'deferred';
  if (code >= 500 && code < 600) {
    if (AUTH_CODES.has(code)) return 'deferred';
    if (code === 552 && command === 'RCPT TO') return 'deferred';
    return 'failed';
  }
  return 'deferred';
}

function authHint(p: Peer, code: number): string {
  switch (code) {
    case 538: return `the server wants TLS first: set ${key(p, 'security')} to "starttls" or "tls"; the mail stays queued`;
    case 530: return `the server wants authentication (or TLS) first: set ${key(p, 'username')} and ${key(p, 'password')}, and check ${key(p, 'security')}; the mail stays queued`;
    case 534: return `the server wants a stronger mechanism: remove ${key(p, 'auth_method')} or use TLS; the mail stays queued`;
    default: return `check ${key(p, 'username')} and ${key(p, 'password')}; the mail stays queued`;
  }
}

/**
 * The enhanced status for our outcome: the server's, with its class digit
 * made to agree when we defer a 5xx (a delay notice must not say 5.x.x).
 */
export function dsnFor(outcome: Outcome, r: Reply): string {
  const cls = outcome === 'sent' ? '2' : outcome === 'deferred' ? '4' : '5';
  return r.dsn ? cls + r.dsn.slice(1) : `${cls}.0.0`;
}

/** A recipient result from a server reply to `command` ("MAIL FROM", "RCPT TO", "DATA", "end of data"). */
export function fromReply(raw: string, command: string, p: Peer): ResultTemplate {
  const r = parseReply(raw);
  if (!r) {
    return { outcome: 'deferred', dsn: '4.5.0', text: `${peerLabel(p)} sent a malformed reply to ${command}: ${JSON.stringify(raw.slice(0, 200))}` };
  }
  const outcome = replyOutcome(r.code, command);
  const said = `${peerLabel(p)} said: ${r.code}${r.dsn ? ' ' + r.dsn : ''} ${r.text}`.trimEnd();
  let text = outcome === 'sent' ? `${peerLabel(p)} accepted: ${r.code}${r.dsn ? ' ' + r.dsn : ''} ${r.text}`.trimEnd()
    : `${said} (in reply to ${command})`;
  if (AUTH_CODES.has(r.code)) text += `; ${authHint(p, r.code)}`;
  return { outcome, code: r.code, dsn: dsnFor(outcome, r), text };
}

/** The same SysmailError for every recipient, as a result (core/outcome.ts). */
export function fromError(e: SysmailError): ResultTemplate {
  return failureResult(e);
}

const UNTRUSTED = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE', 'CERT_REJECTED', 'INVALID_CA']);
const DATED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
const CONNECT: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  EPIPE: 'connection closed by the server',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed temporarily',
};

const defer = (code: ErrorCode, message: string, hint?: string, dsn = '4.4.2', smtpCode?: number, cause?: unknown) =>
  tempError(code, message, cause, hint, { dsn, smtpCode });

/** TLS handshake and certificate errors (by the Node/OpenSSL code). */
export function tlsError(code: string | undefined, detail: string, p: Peer, cause?: unknown): SysmailError {
  const who = peerLabel(p);
  if (code && UNTRUSTED.has(code)) {
    return defer('ESMTP_TLS_CERT', `TLS certificate of ${who} is not trusted: ${detail} (${code})`,
      `if the server uses a private CA, set ${key(p, 'ca_file')} to its PEM file, or pin the certificate with ${key(p, 'pin_sha256')}`, '4.7.5', undefined, cause);
  }
  if (code && DATED.has(code)) {
    return defer('ESMTP_TLS_CERT', `TLS certificate of ${who} is not valid now: ${detail} (${code})`,
      'renew the server certificate, or check this host\'s clock', '4.7.5', undefined, cause);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return defer('ESMTP_TLS_CERT', `TLS certificate of ${who} does not match the name: ${detail}`,
      `set ${key(p, 'tls_servername')} to a name the certificate holds, or use that name as ${key(p, 'host')}`, '4.7.5', undefined, cause);
  }
  return defer('ESMTP_TLS', `TLS handshake with ${who} failed: ${detail}${code ? ` (${code})` : ''}`,
    `check ${key(p, 'security')} and ${key(p, 'port')}: implicit TLS ("tls") is usually port 465, STARTTLS 587`, '4.7.5', undefined, cause);
}

/** OpenSSL's "80DC...:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:file:line:" -> "wrong version number". */
export function opensslReason(message: string): string {
  const m = /SSL routines:[^:]*:([^:]+)/.exec(message);
  return (m ? m[1] : message).trim();
}

function timeoutError(phase: string, p: Peer, cause: unknown): SysmailError {
  const who = peerLabel(p);
  switch (phase) {
    case 'connect':
      return defer('ESMTP_TIMEOUT', `no connection to ${who} within ${p.timeouts.connect} ms`, `is the host up and the port open? The limit is ${key(p, 'timeouts.connect')}`, '4.4.1', undefined, cause);
    case 'greeting':
      return defer('ESMTP_TIMEOUT', `${who} did not greet (or finish EHLO/STARTTLS) within ${p.timeouts.greeting} ms`, `is this an SMTP server, and is ${key(p, 'security')} right for this port? The limit is ${key(p, 'timeouts.greeting')}`, '4.4.2', undefined, cause);
    case 'data':
      return defer('ESMTP_TIMEOUT', `${who} did not answer the message data within ${p.timeouts.data} ms`, `the server may be overloaded; raise ${key(p, 'timeouts.data')} if it is slow`, '4.4.2', undefined, cause);
    default:
      return defer('ESMTP_TIMEOUT', `${who} did not answer ${phase} within ${p.timeouts.command} ms`, `the server may be overloaded; the limit is ${key(p, 'timeouts.command')}`, '4.4.2', undefined, cause);
  }
}

/**
 * A client error that is not about one recipient (connection, timeout, TLS,
 * protocol, AUTH, a reply to EHLO/STARTTLS/greeting): always deferred.
 * `phase` is what the session was doing, for timeout messages.
 */
export function sessionError(err: ClientError, phase: string, p: Peer): SysmailError {
  const who = peerLabel(p);
  const reply = err.response ? parseReply(err.response) : null;
  if (err.code === 'EAUTH') {
    const said = err.response ? `: ${err.response.replace(/\r?\n/g, ' / ')}` : '';
    if (reply && reply.code === 504) {
      return defer('ESMTP_AUTH', `${who} refused the AUTH mechanism${said}`, `remove ${key(p, 'auth_method')} or pick one the server offers`, reply.dsn ?? '4.7.0', reply.code, err);
    }
    return defer('ESMTP_AUTH', `authentication to ${who} failed${said}`, authHint(p, reply?.code ?? 535), reply ? dsnFor('deferred', reply) : '4.7.8', reply?.code, err);
  }
  if (err.command === 'STARTTLS' && reply) {
    return defer('ESMTP_NOTLS', `${who} refused STARTTLS (${reply.code} ${reply.text}), and ${key(p, 'security')} = "starttls" requires it; nothing was sent in clear text`,
      `fix TLS on the server, or use security = "tls" if it speaks implicit TLS, usually on port 465`, '4.7.0', reply.code, err);
  }
  if (reply && reply.code >= 400) {
    const when = err.command && err.command !== 'CONN' ? ` to ${err.command}` : '';
    return defer('ESMTP_REPLY', `${who} said${when}: ${reply.code}${reply.dsn ? ' ' + reply.dsn : ''} ${reply.text}`.trimEnd(),
      reply.code === 421 || reply.code < 500 ? 'the server is busy or shutting down; will retry' : `the server refuses this client: check ${key(p, 'helo')} and that this host may relay through it`,
      reply.dsn ? dsnFor('deferred', reply) : reply.code === 421 ? '4.4.2' : '4.0.0', reply.code, err);
  }
  if (err.code === 'ETIMEDOUT' || err.timeoutType) {
    const ph = err.timeoutType === 'CONNECT_TIMEOUT' ? 'connect'
      : err.timeoutType === 'GREETING_TIMEOUT' || err.timeoutType === 'UPGRADE_TIMEOUT' ? 'greeting' : phase;
    return timeoutError(ph, p, err);
  }
  const sys = err.originalCode ?? (err.code && !/^E[A-Z]+$/.test(err.code) ? err.code : undefined);
  const tlsish = err.code === 'ETLS' || (sys !== undefined && (UNTRUSTED.has(sys) || DATED.has(sys) || sys.startsWith('ERR_TLS') || sys.startsWith('ERR_SSL')));
  if (tlsish) return tlsError(sys, opensslReason(err.message.replace(/^Error initiating TLS - /, '')), p, err);
  if (/closed unexpectedly/i.test(err.message)) {
    return defer('ESMTP_CONNECT', `${who} closed the connection unexpectedly${phase === 'greeting' ? ' before the session started' : ` during ${phase === 'data' ? 'the message data' : phase}`}`,
      'the server dropped the session; will retry', '4.4.2', undefined, err);
  }
  if (sys && CONNECT[sys]) {
    return defer('ESMTP_CONNECT', `${who}: ${CONNECT[sys]}${phase === 'connect' ? '' : ` (during ${phase})`}`,
      sys === 'ENOTFOUND' ? `check ${key(p, 'host')} and this host's DNS` : `check ${key(p, 'host')} and ${key(p, 'port')}, and that the server is running`,
      phase === 'connect' ? '4.4.1' : '4.4.2', undefined, err);
  }
  if (err.code === 'EPROTOCOL') {
    return defer('ESMTP_PROTOCOL', `${who} broke the SMTP protocol: ${err.message}`, 'is this an SMTP server?', '4.5.0', undefined, err);
  }
  return defer('ESMTP_CONNECT', `${who}: ${err.message}${phase === 'connect' ? '' : ` (during ${phase})`}`, undefined, '4.4.2', undefined, err);
}
