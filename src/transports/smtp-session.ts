/**
 * One SMTP session with the smarthost, on nodemailer's SMTP client
 * (nodemailer/lib/smtp-connection, used directly for per-recipient control).
 *
 * Guarantees: `open` returns only a session that is ready for MAIL FROM:
 * greeted, encrypted when the security mode demands it, the pin checked, and
 * authenticated when a username is set; credentials are never sent before
 * that. `send` reports one result per recipient (MAIL FROM once, RCPT TO
 * each, DATA once for those accepted) and never throws for a delivery
 * problem. Every phase has a timeout (connect, greeting, command, data); a
 * timeout, like any connection, TLS or protocol trouble, defers everyone.
 * LF line ends become CRLF and leading dots are stuffed (nodemailer's
 * DataStream); the bytes are otherwise unchanged, 8-bit included.
 * TCP_NODELAY is set on every socket, so the final "." is not held back by
 * Nagle waiting for a delayed ACK.
 *
 * Security modes: "starttls" tries STARTTLS even when it is not announced
 * and defers when it is refused or fails; "opportunistic" uses STARTTLS when
 * announced, goes on in clear text (without AUTH) only when the server
 * refuses the command, and defers on a failed handshake or certificate;
 * "tls" is TLS from the first byte; "none" never tries.
 *
 * Uses a few nodemailer internals (_socket, _supportedAuth,
 * _supportedExtensions, _envelope) through one narrow interface below; the
 * transport tests fail if a nodemailer upgrade changes them.
 */
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { SMTPConnectionSendInfo, SMTPEnvelopeDsn } from 'nodemailer/lib/smtp-connection';
import { format } from 'node:util';
import { SysmailError, tempError, type ErrorCode } from '../core/errors.js';
import type { SmtpTransportConfig } from '../config/types.js';
import type { RecipientResult } from './types.js';
import { fromError, fromReply, parseReply, peerLabel, sessionError, type ClientError, type Peer, type ResultTemplate } from './smtp-reply.js';
import { openSocket, runPreconnect } from './smtp-connect.js';
import { checkPin } from './smtp-tls.js';
import { SmtpWire } from './smtp-wire.js';

/**
 * A transaction started before its message was known (SmtpSession.beginEarly): MAIL FROM, RCPT TO
 * and DATA are on their way. finish() sends the message and the final dot; null from it means
 * nothing reached the relay (the connection was gone before the data), so a normal send may follow.
 */
export interface EarlyTransaction {
  finish(raw: Buffer): Promise<RecipientResult[] | null>;
  /** Abandons it: the connection is closed (the relay discards an unfinished transaction). */
  drop(): void;
}

export interface SessionOptions {
  cfg: SmtpTransportConfig;
  peer: Peer;
  /** EHLO name. */
  helo: string;
  /** Resolved password, or null when no AUTH is configured. */
  password: string | null;
  /** tls.connect options (CA, client cert, verify); null for security "none". */
  tls: ConnectionOptions | null;
  /** Protocol diagnostics (ctx.log.verbose); never given secrets. */
  log: (msg: string) => void;
}

interface Internals {
  _socket?: import('node:net').Socket | false | null;
  /** Its socket listeners, taken off while the socket is lent (smtp-wire.ts). */
  _onSocketData?: (chunk: Buffer) => void;
  _onSocketTimeout?: () => void;
  _supportedAuth?: string[];
  _supportedExtensions?: string[];
  _envelope?: { rejectedErrors?: ClientError[] } | false;
}

/** Default mechanism: over TLS the simplest that works; in clear text, CRAM-MD5 keeps the password off the wire. */
export function pickAuthMethod(offered: string[], secure: boolean): string | undefined {
  const order = secure ? ['PLAIN', 'LOGIN', 'CRAM-MD5'] : ['CRAM-MD5', 'PLAIN', 'LOGIN'];
  return order.find((m) => offered.includes(m));
}

const isAsciiText = (s: string) => !/[^\x20-\x7e]/.test(s);

/** Bytes on the wire after LF -> CRLF (for the SIZE parameter). */
function wireSize(raw: Buffer): number {
  let n = raw.length;
  for (let i = raw.indexOf(0x0a); i >= 0; i = raw.indexOf(0x0a, i + 1)) if (i === 0 || raw[i - 1] !== 0x0d) n++;
  return n;
}

function diagnostics(log: (m: string) => void, name: string) {
  const f = (entry: { tnx?: string } | undefined, message?: unknown, ...args: unknown[]) => {
    const dir = entry?.tnx === 'client' ? 'C: ' : entry?.tnx === 'server' ? 'S: ' : '';
    log(`smtp ${name}: ${dir}${format(message, ...args).replace(/\r?\n/g, ' | ')}`);
  };
  return { trace: f, debug: f, info: f, warn: f, error: f, fatal: f };
}

const defer = (code: ErrorCode, message: string, hint: string, dsn = '4.7.0') =>
  tempError(code, message, undefined, hint, { dsn });

export class SmtpSession {
  /** What the session is doing, for timeout messages. */
  private phase = 'greeting';
  /** No transaction is open: the last one ended with the server's 2xx to the data, or RSET (a new MAIL FROM may follow). */
  private clean = true;
  /** Whether the last send() got as far as sending the message body (after the server's 354). */
  bodySent = false;

  private constructor(private readonly conn: SMTPConnection, private readonly o: SessionOptions) {
    conn.on('error', (e: ClientError) => o.log(`smtp ${o.cfg.name}: ${e.message}`));
  }

  private get internals(): Internals { return this.conn as unknown as Internals; }

  /** Connects, greets, secures, checks the pin and authenticates. Throws a deferring SysmailError. */
  static async open(o: SessionOptions): Promise<SmtpSession> {
    const { cfg, peer } = o;
    const t = cfg.timeouts;
    // Loaded before the socket exists, so no socket event can fire while we wait for the module.
    const { default: Client } = await import('nodemailer/lib/smtp-connection');
    if (cfg.preconnect && cfg.preconnect.length > 0) await runPreconnect(cfg.preconnect, t.connect, cfg.name);
    const socket = await openSocket(peer);
    const conn = new Client({
      connection: socket,
      host: cfg.host,
      port: cfg.port,
      secure: cfg.security === 'tls',
      requireTLS: cfg.security === 'starttls',
      opportunisticTLS: cfg.security === 'opportunistic',
      ignoreTLS: cfg.security === 'none',
      servername: cfg.tlsServername ?? undefined,
      name: o.helo,
      tls: o.tls ?? undefined,
      // nodemailer's connectionTimeout bounds greeting + EHLO + STARTTLS together.
      connectionTimeout: t.greeting + 2 * t.command,
      greetingTimeout: t.greeting,
      socketTimeout: t.command,
      socketCloseTimeout: Math.min(t.command, 2000),
      logger: diagnostics(o.log, cfg.name),
      transactionLog: true,
    });
    const s = new SmtpSession(conn, o);
    try {
      await s.call<void>('greeting', (cb) => conn.connect((err) => cb(err ?? null)));
      await s.checkSecurity();
      if (cfg.username) await s.login();
      return s;
    } catch (e) {
      conn.close();
      throw e instanceof SysmailError ? e : sessionError(e as ClientError, s.phase, peer);
    }
  }

  get alive(): boolean {
    const sock = this.internals._socket;
    return !this.conn.destroyed && !!sock && !sock.destroyed && sock.writable;
  }

  /**
   * Runs one client operation; settles on its callback, or on an 'error' or
   * 'end' of the connection, which nodemailer reports only as events for
   * some operations (connect, login).
   */
  private call<T>(phase: string, start: (cb: (err: ClientError | null, v?: T) => void) => void): Promise<T> {
    this.phase = phase;
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const finish = (err: ClientError | null, v?: T) => {
        if (done) return;
        done = true;
        this.conn.removeListener('error', onError);
        this.conn.removeListener('end', onEnd);
        if (err) reject(err); else resolve(v as T);
      };
      const onError = (e: ClientError) => finish(e);
      const onEnd = () => finish({ message: 'connection closed unexpectedly', code: 'ECONNECTION' });
      this.conn.on('error', onError);
      this.conn.once('end', onEnd);
      start(finish);
    });
  }

  private async checkSecurity(): Promise<void> {
    const { cfg, peer } = this.o;
    const k = `transports.${cfg.name}.security`;
    if ((cfg.security === 'starttls' || cfg.security === 'tls') && !this.conn.secure) {
      throw defer('ESMTP_NOTLS', `${peerLabel(peer)} did not set up TLS, and ${k} = "${cfg.security}" requires it; nothing was sent in clear text`,
        'fix TLS on the server, or choose the right security mode for this port');
    }
    if (cfg.pinSha256) {
      const sock = this.internals._socket as TLSSocket | undefined;
      const der = this.conn.secure && sock && typeof sock.getPeerX509Certificate === 'function'
        ? sock.getPeerX509Certificate()?.raw ?? null : null;
      const { createHash } = await import('node:crypto');
      checkPin(cfg, der, (b) => createHash('sha256').update(b).digest('hex'));
    }
    const how = this.conn.secure ? `TLS ${(this.internals._socket as TLSSocket).getProtocol?.() ?? ''}`.trim() : 'no TLS';
    this.o.log(`smtp ${cfg.name}: connected to ${peerLabel(peer)} (${how})`);
  }

  private async login(): Promise<void> {
    const { cfg, peer } = this.o;
    const k = (s: string) => `transports.${cfg.name}.${s}`;
    // Credentials only over TLS whose certificate was verified (or pinned), unless the admin said otherwise.
    const verified = this.conn.secure && (cfg.tlsVerify || cfg.pinSha256 !== null);
    if (!verified && cfg.allowPlaintextAuth !== true) {
      const why = this.conn.secure ? 'the TLS certificate is not verified (tls_verify = false)' : 'the connection is not encrypted'
        + (cfg.security === 'opportunistic' ? ' (the server did not offer STARTTLS)' : '');
      throw defer('ESMTP_PLAINAUTH', `${peerLabel(peer)}: not sending the password for ${cfg.username ?? ''}: ${why}`,
        `use security = "starttls" or "tls" with a verified certificate; only if the path is trusted, set ${k('allow_plaintext_auth')} = true`);
    }
    if (this.o.password === null) {
      throw defer('ESMTP_CONFIG', `${k('username')} is set but ${k('password')} is not`, `set ${k('password')}, or remove ${k('username')}`, '4.3.5');
    }
    if (!this.conn.allowsAuth) {
      throw defer('ESMTP_AUTH', `${peerLabel(peer)} does not offer AUTH${this.conn.secure ? '' : ' on this unencrypted connection'}, but ${k('username')} is set`,
        this.conn.secure ? `remove ${k('username')} if the server needs no login` : `most servers offer AUTH only after STARTTLS: use security = "starttls"`);
    }
    const method = cfg.authMethod ?? pickAuthMethod(this.internals._supportedAuth ?? [], this.conn.secure);
    await this.call<boolean | undefined>('AUTH', (cb) => this.conn.login({ user: cfg.username ?? '', pass: this.o.password ?? '', method }, cb));
  }

  /** Whether the next message needs an RSET first (the last transaction did not end cleanly). */
  get needsReset(): boolean { return !this.clean; }

  /** RSET between messages on a reused connection; throws when the connection is no good. */
  async reset(): Promise<void> {
    await this.call<boolean | undefined>('RSET', (cb) => this.conn.reset(cb));
    this.clean = true;
  }

  /**
   * Sends one message; rcpts must be syntactically valid. Never throws. With `gate`
   * (OutgoingMessage.ready) the final dot is sent only once it resolves; when it rejects, the
   * connection is closed before the dot, so the relay discards the unfinished transaction.
   */
  async send(sender: string, rcpts: string[], raw: Buffer, dsn?: SMTPEnvelopeDsn, gate?: Promise<void>): Promise<RecipientResult[]> {
    const { cfg, peer } = this.o;
    const { isAscii } = await import('node:buffer');
    this.phase = 'MAIL FROM/RCPT TO';
    const { Readable } = await import('node:stream');
    const eightBit = !isAscii(raw);
    const socket = this.internals._socket || null;
    // The body is read only after the 354: the moment the data timeout takes over.
    let started = false;
    let gateFailure: Error | null = null;
    this.clean = false;
    this.bodySent = false;
    const body = new Readable({
      read: () => {
        if (started) return;
        started = true;
        this.bodySent = true;
        this.phase = 'data';
        socket?.setTimeout(cfg.timeouts.data);
        body.push(raw);
        if (!gate) { body.push(null); return; }
        gate.then(() => body.push(null), (e: unknown) => { gateFailure = e as Error; body.destroy(e as Error); });
      },
    });
    const envelope = { from: sender, to: rcpts, size: wireSize(raw), use8BitMime: eightBit, ...(dsn ? { dsn } : {}) };
    try {
      const info = await this.call<SMTPConnectionSendInfo>('MAIL FROM/RCPT TO', (cb) => this.conn.send(envelope, body, (err, i) => cb(err as ClientError | null, i)));
      // The server answered the data with 2xx: the transaction is over, the next MAIL FROM needs no RSET (RFC 5321 §4.1.4).
      this.clean = true;
      const note = this.eightBitNote(eightBit);
      if (note) this.o.log(`smtp ${cfg.name}: ${note.slice(8)}`);
      const accepted = fromReply(info.response, 'end of data', peer);
      const rejected = new Map((info.rejectedErrors ?? []).map((e) => [(e as ClientError).recipient, e as ClientError]));
      return rcpts.map((rcpt) => {
        const r = rejected.get(rcpt);
        if (r) return { rcpt, ...fromReply(r.response ?? '', 'RCPT TO', peer) };
        if (info.accepted.includes(rcpt)) return { rcpt, ...accepted, text: `${accepted.text} (${this.tlsNote()})${note}` };
        return { rcpt, outcome: 'deferred', dsn: '4.5.0', text: `${peerLabel(peer)} gave no reply for this recipient` };
      });
    } catch (e) {
      if (gateFailure) {
        this.conn.close();
        const text = `not sent: the message was not committed (${(gateFailure as Error).message})`;
        return rcpts.map((rcpt) => ({ rcpt, outcome: 'deferred' as const, dsn: '4.3.0', text }));
      }
      return rcpts.map((rcpt) => ({ rcpt, ...this.failure(e as ClientError, rcpt) }));
    } finally {
      if (socket && !socket.destroyed) socket.setTimeout(cfg.timeouts.command);
      this.phase = 'idle';
    }
  }

  /**
   * Starts a transaction on the socket itself (smtp-wire.ts): MAIL FROM (BODY=8BITMIME when
   * offered, as the data is not known yet; no SIZE), RCPT TO for each recipient, DATA once one is
   * accepted. The session is lent until finish() or drop() settles: nothing else may use it.
   * Null when the socket cannot be lent (a nodemailer that changed), or SMTPUTF8 would be needed.
   */
  beginEarly(sender: string, rcpts: string[]): EarlyTransaction | null {
    const { cfg, peer } = this.o;
    const i = this.internals;
    const socket = i._socket;
    if (!socket || !this.alive || !this.clean || typeof i._onSocketData !== 'function' || typeof i._onSocketTimeout !== 'function') return null;
    if (!isAsciiText(sender) || !rcpts.every(isAsciiText)) return null;
    const onData = i._onSocketData;
    const onTimeout = i._onSocketTimeout;
    socket.removeListener('data', onData);
    socket.removeListener('timeout', onTimeout);
    const wire = new SmtpWire(socket, (m) => this.o.log(`smtp ${cfg.name}: ${m}`));
    this.clean = false;
    this.bodySent = false;
    let lent = true;
    const giveBack = (clean: boolean) => {
      if (!lent) return;
      lent = false;
      wire.release();
      if (!clean || socket.destroyed) { this.conn.close(); return; }
      socket.on('data', onData);
      socket.on('timeout', onTimeout);
      socket.setTimeout(cfg.timeouts.command);
      this.clean = true;
    };
    const t = cfg.timeouts;
    // MAIL FROM, RCPT TO, DATA: off the critical path, while the client still sends its data.
    const envelope = this.earlyEnvelope(wire, sender, rcpts);
    let dropped = false;
    return {
      finish: async (raw) => {
        const { accepted, results, error } = await envelope;
        if (dropped) { giveBack(false); return null; }
        if (error) {
          giveBack(false);
          // Refused already (results known): those stand. The connection failed before any data:
          // nothing was handed over, a normal send may follow.
          if (error.code !== 'EENVELOPE') return null;
        }
        if (accepted.length > 0) {
          this.phase = 'data';
          this.bodySent = true;
          try {
            const reply = await wire.data(raw, t.data);
            const ok = fromReply(reply, 'end of data', peer);
            const { isAscii } = await import('node:buffer');
            const note = ok.outcome === 'sent' ? ` (${this.tlsNote()})${this.eightBitNote(!isAscii(raw))}` : '';
            for (const r of accepted) results.set(r, { rcpt: r, ...ok, text: `${ok.text}${note}` });
          } catch (e) {
            const why = fromError(sessionError(e as ClientError, 'data', peer));
            for (const r of accepted) results.set(r, { rcpt: r, ...why });
            giveBack(false);
          }
        }
        this.phase = 'idle';
        // A transaction refused before DATA is still open at the relay: the next one starts with RSET.
        giveBack(true);
        if (accepted.length === 0) this.clean = false;
        return rcpts.map((r) => results.get(r) ?? { rcpt: r, outcome: 'deferred', dsn: '4.5.0', text: `${peerLabel(peer)} gave no reply for this recipient` });
      },
      drop: () => {
        if (dropped) return;
        dropped = true;
        // Whatever was sent: the relay discards a transaction whose connection closes before the dot.
        socket.destroy();
        void envelope.then(() => giveBack(false));
      },
    };
  }

  /**
   * The envelope of an early transaction: MAIL FROM, RCPT TO each, DATA (in one write with
   * PIPELINING, else one at a time). `accepted`: the recipients that go on to the data (none when
   * MAIL FROM or DATA was refused); `results`: a result for each one refused; `error`: a
   * ClientError when the connection failed, or EENVELOPE when the server's answers leave the
   * connection unusable (pipelined, it may have taken DATA after refusing the sender). Never throws.
   */
  private async earlyEnvelope(wire: SmtpWire, sender: string, rcpts: string[]):
    Promise<{ accepted: string[]; results: Map<string, RecipientResult>; error: ClientError | null }> {
    const results = new Map<string, RecipientResult>();
    const accepted: string[] = [];
    try {
      await this.earlyCommands(wire, sender, rcpts, accepted, results);
      return { accepted, results, error: null };
    } catch (e) {
      return { accepted, results, error: e as ClientError };
    }
  }

  private async earlyCommands(wire: SmtpWire, sender: string, rcpts: string[], accepted: string[],
    results: Map<string, RecipientResult>): Promise<void> {
    const { peer, cfg } = this.o;
    const offered = this.internals._supportedExtensions ?? [];
    const cmds = [{ line: `MAIL FROM:<${sender}>${offered.includes('8BITMIME') ? ' BODY=8BITMIME' : ''}`, command: 'MAIL FROM' },
      ...rcpts.map((r) => ({ line: `RCPT TO:<${r}>`, command: 'RCPT TO' })), { line: 'DATA', command: 'DATA' }];
    this.phase = 'MAIL FROM/RCPT TO';
    const pipelined = offered.includes('PIPELINING') ? wire.pipeline(cmds, cfg.timeouts.command) : null;
    const reply = async (i: number) => pipelined ? pipelined[i]! : wire.command(cmds[i]!.line, cmds[i]!.command, cfg.timeouts.command);
    const mail = await reply(0);
    if (!mail.startsWith('2')) {
      for (const r of rcpts) results.set(r, { rcpt: r, ...fromReply(mail, 'MAIL FROM', peer) });
      if (pipelined) throw { message: 'MAIL FROM refused in a pipelined transaction', code: 'EENVELOPE' };
      return;
    }
    for (const [i, r] of rcpts.entries()) {
      const got = await reply(i + 1);
      if (got.startsWith('2')) accepted.push(r);
      else results.set(r, { rcpt: r, ...fromReply(got, 'RCPT TO', peer) });
    }
    if (accepted.length === 0 && !pipelined) return;
    const data = await reply(rcpts.length + 1);
    if (accepted.length === 0) {
      // Every recipient refused: a server that took DATA anyway waits for data that will not come.
      if (/^[23]/.test(data)) throw { message: 'DATA accepted with no recipient', code: 'EENVELOPE' };
      return;
    }
    if (!/^[23]/.test(data)) for (const r of accepted.splice(0)) results.set(r, { rcpt: r, ...fromReply(data, 'DATA', peer) });
  }

  /** 8-bit data to a server that did not announce 8BITMIME goes unchanged: said in the result. */
  private eightBitNote(eightBit: boolean): string {
    const offered8 = this.internals._supportedExtensions?.includes('8BITMIME') ?? false;
    return eightBit && !offered8 ? '; note: the body has 8-bit bytes and the server does not announce 8BITMIME, sent unchanged' : '';
  }

  /** How the session was protected, for the log: "TLSv1.3, verified", "TLSv1.3, NOT verified" or "no TLS". */
  private tlsNote(): string {
    if (!this.conn.secure) return 'no TLS';
    const proto = (this.internals._socket as TLSSocket | undefined)?.getProtocol?.() ?? 'TLS';
    return `${proto}, ${this.o.cfg.tlsVerify || this.o.cfg.pinSha256 ? 'verified' : 'NOT verified'}`;
  }

  /** The result for one recipient of a send that ended in an error. */
  private failure(e: ClientError, rcpt: string): ResultTemplate {
    const { peer } = this.o;
    const reply = e.response ? parseReply(e.response) : null;
    const perMessage = reply && reply.code !== 421 && (e.code === 'EENVELOPE' || e.code === 'EMESSAGE');
    if (!perMessage) {
      if (e.code === 'EMESSAGE' && /size/i.test(e.message)) {
        return { outcome: 'failed', code: 552, dsn: '5.3.4', text: `${peerLabel(peer)}: ${e.message} (its SIZE limit)` };
      }
      return fromError(sessionError(e, this.phase, peer));
    }
    if (e.command === 'MAIL FROM') return fromReply(e.response ?? '', 'MAIL FROM', peer);
    const env = this.internals._envelope;
    const own = (e.rejectedErrors ?? (env ? env.rejectedErrors : undefined) ?? []).find((r) => r.recipient === rcpt);
    if (own) return fromReply(own.response ?? '', 'RCPT TO', peer);
    return fromReply(e.response ?? '', e.code === 'EMESSAGE' ? 'end of data' : e.command ?? 'RCPT TO', peer);
  }

  /** QUIT and wait (at most the command timeout) for the server to close. */
  async quit(): Promise<void> {
    if (!this.alive) { this.conn.close(); return; }
    this.phase = 'QUIT';
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { this.conn.close(); resolve(); }, this.o.cfg.timeouts.command);
      this.conn.once('end', () => { clearTimeout(timer); resolve(); });
      this.conn.quit();
    });
  }

  destroy(): void { this.conn.close(); }
}
