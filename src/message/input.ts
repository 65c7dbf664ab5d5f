/**
 * Reads a message from standard input the way sendmail does.
 *
 * Guarantees: with `dotEnds` (no -i/-oi), a line holding only "." (LF or CRLF
 * line end, or at the very end of input) ends the message and is not part of
 * it; nothing after it is read. Memory is bounded: once the message passes
 * `maxSize` bytes reading stops and the promise rejects with 'ETOOBIG'
 * (EX_DATAERR) naming the limit and the key that sets it. Empty input rejects
 * with 'EEMPTY' (EX_DATAERR). A read error rejects with an I/O error
 * (EX_TEMPFAIL). The stream is paused, not destroyed, when we stop early: it
 * belongs to the caller.
 */
import { EX, SysmailError, ioError } from '../core/errors.js';

export interface ReadOptions {
  /** True unless -i/-oi: a lone "." line ends the input. */
  dotEnds: boolean;
  /** Largest message accepted, bytes (general.max_message_size). */
  maxSize: number;
}

export function tooBig(max: number): SysmailError {
  return new SysmailError('ETOOBIG', `the message is larger than the limit of ${max} bytes`, {
    exit: EX.DATAERR, smtpCode: 552, dsn: '5.3.4',
    hint: 'send a smaller message, or raise general.max_message_size in the configuration',
  });
}

/**
 * Finds the end-of-message dot line. State carries across chunks:
 * 0 = at the start of a line, 1 = the line so far is ".", 2 = ".\r",
 * -1 = somewhere inside a line that is not a dot line.
 */
export class DotScanner {
  state = 0;
  /** Absolute offset where the current line began. */
  lineStart = 0;

  /** Returns the absolute offset of the dot line's start when it ends within this chunk, else -1. */
  scan(chunk: Buffer, base: number): number {
    let i = 0;
    while (i < chunk.length) {
      if (this.state >= 0) {
        const b = chunk[i]!;
        if (this.state === 0 && b === 0x2e) { this.state = 1; i++; continue; }
        if (this.state === 1 && b === 0x0d) { this.state = 2; i++; continue; }
        if ((this.state === 1 || this.state === 2) && b === 0x0a) return this.lineStart;
        this.state = -1;
      }
      const nl = chunk.indexOf(0x0a, i);
      if (nl < 0) return -1;
      i = nl + 1;
      this.state = 0;
      this.lineStart = base + i;
    }
    return -1;
  }
}

export function emptyInput(): SysmailError {
  return new SysmailError('EEMPTY', 'no message on standard input', {
    exit: EX.DATAERR, hint: 'pipe the message into sendmail, e.g. `printf "Subject: test\\n\\nhello\\n" | sendmail root`',
  });
}

export function readMessage(stream: NodeJS.ReadableStream, opts: ReadOptions): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const dots = opts.dotEnds ? new DotScanner() : null;

    const finish = (err: Error | null, end?: number): void => {
      if (done) return;
      done = true;
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
      stream.pause();
      if (err) return reject(err);
      const all = Buffer.concat(chunks, total);
      const msg = end === undefined ? all : all.subarray(0, end);
      if (msg.length === 0) return reject(emptyInput());
      resolve(msg);
    };

    const onData = (data: Buffer | string): void => {
      if (done) return;
      const chunk = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      const end = dots ? dots.scan(chunk, total) : -1;
      const size = end >= 0 ? end : total + chunk.length;
      if (size > opts.maxSize) return finish(tooBig(opts.maxSize));
      chunks.push(chunk);
      total += chunk.length;
      if (end >= 0) finish(null, end);
    };
    const onEnd = (): void => {
      // "." as the very last line, without a line end, also ends the message.
      if (dots && (dots.state === 1 || dots.state === 2)) return finish(null, dots.lineStart);
      finish(null);
    };
    const onError = (err: unknown): void => finish(ioError('cannot read the message from standard input', err));

    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.resume();
  });
}
