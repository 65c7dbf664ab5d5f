/**
 * One SMTP transaction run directly on a session's socket, for serve's early
 * delivery (smtp.ts `prepare`): nodemailer's client opened the session
 * (greeting, EHLO, STARTTLS, AUTH) and lends its socket for the transaction.
 *
 * Why not nodemailer's send(): it sends MAIL FROM, RCPT TO, DATA and the body
 * in one call, while the early delivery sends the envelope when the client's
 * DATA command comes and the body once the message is committed; and after
 * an idle pause its per-reply path costs 0.3-0.8 ms against ~0.05 ms here
 * (docs/benchmarks.md).
 *
 * Guarantees: each command (or the message data) is answered by one whole
 * reply (multi-line replies joined), in order (several outstanding only with
 * PIPELINING), or by a ClientError (the shape smtp-reply.ts maps): ETIMEDOUT
 * after `timeoutMs` without the reply, ECONNECTION when the socket closes,
 * EPROTOCOL for a reply nobody asked for. The data goes out exactly as
 * nodemailer's DataStream sends it (dataOnWire). release() takes the
 * listeners off again, so the socket can go back to nodemailer.
 */
import type { Socket } from 'node:net';
import type { ClientError } from './smtp-reply.js';

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
/** "No byte before": the start of the data. */
const NONE = -1;

/**
 * The message as SMTP data, byte for byte what nodemailer's DataStream sends on the normal path
 * (a test compares the two): a bare LF or a bare CR becomes CRLF, a dot that starts a line (also
 * one after a bare CR) is doubled, then "." on its own line. A bare CR must not stay one: a relay
 * that takes it for a line end would read "\r.\r" as the end of the data, and what follows as a
 * second message of the sender's making on our authenticated session (SMTP smuggling). Pure.
 */
export function dataOnWire(raw: Buffer): Buffer {
  // Two passes over the same rule: the exact size first (a message may be megabytes), then the bytes.
  let size = raw.length;
  for (let i = 0; i < raw.length; i++) size += inserted(i ? raw[i - 1]! : NONE, raw[i]!).length;
  const last = raw.length ? raw[raw.length - 1]! : NONE;
  const end = last === LF ? '.\r\n' : last === CR ? '\n.\r\n' : '\r\n.\r\n';
  const out = Buffer.allocUnsafe(size + end.length);
  let o = 0;
  for (let i = 0; i < raw.length; i++) {
    for (const x of inserted(i ? raw[i - 1]! : NONE, raw[i]!)) out[o++] = x;
    out[o++] = raw[i]!;
  }
  o += out.write(end, o, 'latin1');
  return out.subarray(0, o);
}

const NOTHING: readonly number[] = [];
const INSERT_CR: readonly number[] = [CR];
const INSERT_LF: readonly number[] = [LF];
const INSERT_LF_DOT: readonly number[] = [LF, DOT];
const INSERT_DOT: readonly number[] = [DOT];

/** The bytes that go before `b` on the wire, given the byte before it (DataStream's rule). */
function inserted(prev: number, b: number): readonly number[] {
  if (prev === CR && b !== LF) return b === DOT ? INSERT_LF_DOT : INSERT_LF; // a bare CR ends its line
  if (b === LF && prev !== CR) return INSERT_CR;
  if (b === DOT && (prev === LF || prev === NONE)) return INSERT_DOT;
  return NOTHING;
}

/** A reply is at most this long; a hostile relay must not fill the memory. */
const MAX_REPLY = 64 * 1024;

export class SmtpWire {
  private buf = '';
  private lines: string[] = [];
  /** Replies still due, in the order the commands went out (more than one with PIPELINING). */
  private waiting: { resolve: (reply: string) => void; reject: (e: ClientError) => void; command: string }[] = [];
  private broken: ClientError | null = null;

  constructor(private readonly socket: Socket, private readonly log: (line: string) => void) {
    socket.on('data', this.onData);
    socket.on('timeout', this.onTimeout);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
  }

  /** Sends one command line; resolves with the whole reply ("250 ok", lines joined by "\n"). */
  command(line: string, command: string, timeoutMs: number): Promise<string> {
    return this.pipeline([{ line, command }], timeoutMs)[0]!;
  }

  /**
   * Sends command lines in one write (RFC 2920 PIPELINING, only when the server offers it); one
   * promise per command, each settled by its reply, in order.
   */
  pipeline(cmds: { line: string; command: string }[], timeoutMs: number): Promise<string>[] {
    for (const c of cmds) this.log(`C: ${c.line}`);
    return this.send(Buffer.from(cmds.map((c) => `${c.line}\r\n`).join(''), 'utf8'), cmds.map((c) => c.command), timeoutMs);
  }

  /** Sends the message data and the final dot; resolves with the reply to it. */
  data(raw: Buffer, timeoutMs: number): Promise<string> {
    this.log(`C: <${raw.length} bytes of data>`);
    return this.send(dataOnWire(raw), ['end of data'], timeoutMs)[0]!;
  }

  /** The listeners come off; the socket is left as it is. */
  release(): void {
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('timeout', this.onTimeout);
    this.socket.removeListener('close', this.onClose);
    this.socket.removeListener('error', this.onError);
  }

  private send(bytes: Buffer, commands: string[], timeoutMs: number): Promise<string>[] {
    const replies = commands.map((command) => new Promise<string>((resolve, reject) => {
      if (this.broken) reject({ ...this.broken, command });
      else this.waiting.push({ resolve, reject, command });
    }));
    // A caller may stop reading at the first refusal: the replies after it must not be unhandled.
    for (const r of replies) r.catch(() => undefined);
    if (!this.broken) {
      this.socket.setTimeout(timeoutMs);
      this.socket.write(bytes);
    }
    return replies;
  }

  private fail(e: ClientError): void {
    this.broken ??= e;
    for (const w of this.waiting.splice(0)) w.reject({ ...e, command: e.command ?? w.command });
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buf += chunk.toString('latin1');
    for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      this.lines.push(line);
      // "250-..." goes on; "250 ..." or a bare "250" ends the reply.
      if (line.length > 3 && line[3] === '-') continue;
      const reply = Buffer.from(this.lines.join('\n'), 'latin1').toString('utf8');
      this.lines = [];
      this.log(`S: ${reply.replace(/\n/g, ' | ')}`);
      const w = this.waiting.shift();
      if (!w) {
        this.fail({ message: 'Unexpected Response', code: 'EPROTOCOL', response: reply });
        return;
      }
      if (this.waiting.length === 0) this.socket.setTimeout(0);
      w.resolve(reply);
    }
    if (this.buf.length + this.lines.reduce((n, l) => n + l.length, 0) > MAX_REPLY) {
      this.fail({ message: 'Server response exceeds maximum allowed size', code: 'EPROTOCOL' });
      this.socket.destroy();
    }
  };

  private readonly onTimeout = (): void => {
    if (this.waiting.length === 0) return;
    this.fail({ message: 'Timeout', code: 'ETIMEDOUT' });
    this.socket.destroy();
  };

  private readonly onClose = (): void => this.fail({ message: 'connection closed unexpectedly', code: 'ECONNECTION' });

  private readonly onError = (e: NodeJS.ErrnoException): void =>
    this.fail({ message: e.message, code: 'ECONNECTION', originalCode: e.code });
}
