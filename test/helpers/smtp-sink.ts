/**
 * A real SMTP server (smtp-server) on 127.0.0.1, port 0, that records every
 * message it accepts. For tests of anything that sends mail.
 *
 *   const sink = await startSink({ users: { alice: 's3cret' } });
 *   ... send to sink.host:sink.port ...
 *   const [m] = await sink.waitFor(1);       // rejects after 5 s by default
 *   m.from, m.to, m.data (Buffer, CRLF line ends, dot-unstuffed), m.user, m.secure, m.body8bit
 *   await sink.close();
 *
 * Options (all optional):
 *   tls: 'starttls' (default) offers STARTTLS with the makeCerts() certificate;
 *        'implicit' speaks TLS from the first byte; 'none' has no TLS at all.
 *   certs: the certificates to serve (default: makeCerts()).
 *   hideStarttls: do not announce STARTTLS, but still accept it when a client tries.
 *   users: { name: password } -> AUTH (PLAIN, LOGIN, CRAM-MD5) is offered and required;
 *          without users AUTH is not offered at all.
 *   authMethods: restrict the mechanisms offered (default ['PLAIN', 'LOGIN', 'CRAM-MD5']).
 *   allowInsecureAuth: offer AUTH before TLS.
 *   hide8BitMime / hidePipelining: leave those out of the EHLO reply.
 *   rejectMail(address) / rejectRcpt(address): return { code, message } to refuse
 *          (e.g. { code: 550, message: 'no such user' } or 451), or null to accept.
 *   dataReply(message): { code, message } to answer the data with instead of 250.
 *   dropInData: destroy the connection after the data arrives, without a reply.
 *   closeAfterMessage: answer 250, then close the connection (tests reconnects).
 *   requestClientCert: ask for a TLS client certificate (recorded as clientCertCN).
 *   size: announce SIZE with this limit; bigger messages get 552.
 *
 * Also recorded: `connections` (how many TCP connections were accepted) and
 * `auths` (every AUTH attempt: method, username, ok).
 */
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import type { TLSSocket } from 'node:tls';
import { makeCerts, type TestCerts } from './certs.js';

export interface SinkReply { code: number; message: string }

export interface SinkOptions {
  tls?: 'starttls' | 'implicit' | 'none';
  certs?: TestCerts;
  hideStarttls?: boolean;
  users?: Record<string, string>;
  authMethods?: string[];
  allowInsecureAuth?: boolean;
  hide8BitMime?: boolean;
  hidePipelining?: boolean;
  rejectMail?: (address: string) => SinkReply | null;
  rejectRcpt?: (address: string) => SinkReply | null;
  dataReply?: (m: SinkMessage) => SinkReply | null;
  dropInData?: boolean;
  closeAfterMessage?: boolean;
  requestClientCert?: boolean;
  /** Announce SIZE with this limit (bytes); without it SIZE is not announced. */
  size?: number;
  /** Listen on this port instead of a free one (to bring a "relay" back up where it was). */
  port?: number;
}

export interface SinkMessage {
  /** Envelope sender; "" for the null sender. */
  from: string;
  to: string[];
  /** The message as received: CRLF line ends, leading dots already unstuffed. */
  data: Buffer;
  /** AUTH user name, or null. */
  user: string | null;
  /** True when the session was encrypted (STARTTLS or implicit TLS). */
  secure: boolean;
  /** True when the client declared BODY=8BITMIME. */
  body8bit: boolean;
  /** MAIL FROM parameters (upper-case keys), e.g. { BODY: '8BITMIME', SIZE: '123' }. */
  mailArgs: Record<string, string | true>;
  /** Which accepted connection (1-based) carried it. */
  connection: number;
  /** CN of the client certificate, when one was presented. */
  clientCertCN: string | null;
}

export interface AuthAttempt { method: string; username: string; ok: boolean }

export interface Sink {
  host: string;
  port: number;
  messages: SinkMessage[];
  auths: AuthAttempt[];
  readonly connections: number;
  /** Resolves with the messages once there are at least n; rejects after ms (default 5000). */
  waitFor(n: number, ms?: number): Promise<SinkMessage[]>;
  close(): Promise<void>;
}

function replyError(r: SinkReply): Error {
  return Object.assign(new Error(r.message), { responseCode: r.code });
}

export async function startSink(opts: SinkOptions = {}): Promise<Sink> {
  const mode = opts.tls ?? 'starttls';
  const certs = mode === 'none' ? null : (opts.certs ?? await makeCerts());
  const messages: SinkMessage[] = [];
  const auths: AuthAttempt[] = [];
  const waiters: Array<() => void> = [];
  let connections = 0;
  const connectionNo = new Map<string, number>();
  const clientCN = new Map<string, string | null>();

  const disabled: string[] = [];
  if (mode === 'none') disabled.push('STARTTLS');
  if (!opts.users) disabled.push('AUTH');

  const options: SMTPServerOptions = {
    logger: false,
    disableReverseLookup: true,
    secure: mode === 'implicit',
    hideSTARTTLS: opts.hideStarttls ?? false,
    hide8BITMIME: opts.hide8BitMime ?? false,
    hidePIPELINING: opts.hidePipelining ?? false,
    hideENHANCEDSTATUSCODES: false,
    disabledCommands: disabled,
    authMethods: opts.authMethods ?? ['PLAIN', 'LOGIN', 'CRAM-MD5'],
    authOptional: !opts.users,
    allowInsecureAuth: opts.allowInsecureAuth ?? false,
    ...(opts.size ? { size: opts.size, rejectOversized: true } : {}),
    ...(certs ? { key: certs.keyPem, cert: certs.certPem } : {}),
    ...(opts.requestClientCert && certs ? { requestCert: true, rejectUnauthorized: false, ca: certs.caPem } : {}),

    onConnect(session: SMTPServerSession, cb: (err?: Error | null) => void) {
      connections += 1;
      connectionNo.set(session.id, connections);
      cb();
    },
    onSecure(socket, session, cb) {
      const peer = (socket as TLSSocket).getPeerCertificate?.();
      clientCN.set(session.id, peer && peer.subject ? String(peer.subject.CN ?? '') || null : null);
      cb();
    },
    onAuth(auth, _session, cb) {
      const users = opts.users ?? {};
      const username = auth.username ?? '';
      const expected = Object.prototype.hasOwnProperty.call(users, username) ? users[username] : undefined;
      const ok = expected !== undefined &&
        (auth.method === 'CRAM-MD5' ? auth.validatePassword(expected) : auth.password === expected);
      auths.push({ method: auth.method, username, ok });
      if (ok) cb(null, { user: username });
      else cb(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
    },
    onMailFrom(address, _session, cb) {
      const r = opts.rejectMail?.(address.address) ?? null;
      cb(r ? replyError(r) : null);
    },
    onRcptTo(address, _session, cb) {
      const r = opts.rejectRcpt?.(address.address) ?? null;
      cb(r ? replyError(r) : null);
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const env = session.envelope;
        const msg: SinkMessage = {
          from: env.mailFrom ? env.mailFrom.address : '',
          to: env.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks),
          user: typeof session.user === 'string' ? session.user : null,
          secure: session.secure,
          body8bit: env.bodyType === '8bitmime',
          mailArgs: (env.mailFrom && env.mailFrom.args) || {},
          connection: connectionNo.get(session.id) ?? 0,
          clientCertCN: clientCN.get(session.id) ?? null,
        };
        const conn = [...server.connections].find((c) => c.session === session);
        if (opts.dropInData) {
          conn?._socket.destroy();
          return;
        }
        const r = opts.dataReply?.(msg) ?? null;
        if (r) {
          cb(replyError(r));
        } else {
          messages.push(msg);
          for (const w of waiters.splice(0)) w();
          cb(null, 'Ok: queued');
        }
        if (opts.closeAfterMessage && conn) setImmediate(() => conn.close());
      });
    },
  };

  const server = new SMTPServer(options);
  server.on('error', () => { /* client resets during tests are expected */ });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const addr = server.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;

  return {
    host: '127.0.0.1',
    port,
    messages,
    auths,
    get connections() { return connections; },
    waitFor(n, ms = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (messages.length >= n) { clearTimeout(timer); resolve(messages.slice()); return true; }
          return false;
        };
        const timer = setTimeout(() => reject(new Error(`smtp sink: ${messages.length} of ${n} messages after ${ms} ms`)), ms);
        if (check()) return;
        const again = () => { if (!check()) waiters.push(again); };
        waiters.push(again);
      });
    },
    close() {
      return new Promise<void>((resolve) => {
        for (const c of server.connections) c._socket.destroy();
        server.close(() => resolve());
      });
    },
  };
}
