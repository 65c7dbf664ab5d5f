/**
 * stdin + stdout as one socket-like Duplex, so smtp-server's own session code
 * (SMTPServer.connect) can run an SMTP dialogue for `sendmail -bs`.
 *
 * It provides what SMTPConnection uses of a net.Socket: readyState,
 * setTimeout (an idle timer reset by traffic in either direction),
 * setNoDelay, and 'close' once both sides are done. Client input is not read
 * until the server has written its greeting: a caller that pipes the whole
 * dialogue at once (`printf 'EHLO x\r\n…' | sendmail -bs`) would otherwise be
 * refused as an "early talker". When the server ends its side (QUIT, 421),
 * or stdin ends and every command before the end has been answered, the
 * socket closes and stops reading stdin, so the process can exit.
 */
import { Duplex, type Readable, type Writable } from 'node:stream';

export class StdioSocket extends Duplex {
  /** The code of the last reply written (221 after QUIT, 421 on timeout). */
  lastReplyCode = 0;
  private greeted = false;
  private wantRead = false;
  private idleMs = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly onData = (chunk: Buffer) => {
    this.touch();
    if (!this.push(chunk)) this.input.pause();
  };
  private readonly onEnd = () => { this.push(null); };
  private readonly onError = (err: Error) => { this.destroy(err); };

  constructor(private readonly input: Readable, private readonly output: Writable) {
    super({ allowHalfOpen: true });
    input.pause();
    input.on('data', this.onData);
    input.on('end', this.onEnd);
    input.on('error', this.onError);
    output.on('error', this.onError);
  }

  /** What SMTPConnection checks before each write. */
  get readyState(): string {
    return this.destroyed || this.writableEnded ? 'closed' : 'open';
  }

  setNoDelay(): this {
    return this;
  }

  /** Same contract as net.Socket#setTimeout: 'timeout' after ms without traffic; 0 turns it off. */
  setTimeout(ms: number, callback?: () => void): this {
    this.idleMs = ms;
    if (ms === 0) {
      if (callback) this.removeListener('timeout', callback);
    } else if (callback) {
      this.once('timeout', callback);
    }
    this.touch();
    return this;
  }

  private touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.idleMs > 0 && !this.destroyed) {
      this.idleTimer = setTimeout(() => this.emit('timeout'), this.idleMs);
      this.idleTimer.unref();
    }
  }

  /**
   * At EOF the parser still works through what was piped before it (queued
   * commands, a DATA whose 250 waits for the spool); when it has finished,
   * every reply has been written, so the session ends as if the client quit.
   */
  override pipe<T extends NodeJS.WritableStream>(dest: T, opts?: { end?: boolean }): T {
    const piped = super.pipe(dest, opts);
    (dest as unknown as Writable).once('finish', () => { if (!this.writableEnded) this.end(); });
    return piped;
  }

  override _read(): void {
    this.wantRead = true;
    if (this.greeted) this.input.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.touch();
    const code = /^(\d{3})[ -]/.exec(chunk.subarray(0, 4).toString('latin1'));
    if (code) this.lastReplyCode = Number(code[1]);
    this.output.write(chunk, (err) => {
      if (!this.greeted) {
        this.greeted = true;
        if (this.wantRead) this.input.resume();
      }
      callback(err ?? null);
    });
  }

  override _final(callback: (err?: Error | null) => void): void {
    callback();
    // The server has said its last word; nothing the client sends can be answered now.
    setImmediate(() => this.destroy());
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.input.removeListener('data', this.onData);
    this.input.removeListener('end', this.onEnd);
    this.input.removeListener('error', this.onError);
    this.output.removeListener('error', this.onError);
    this.input.pause();
    callback(err);
  }
}
