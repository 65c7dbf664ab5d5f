/**
 * Reads the message from a file descriptor (standard input: 0) synchronously, with exactly the
 * rules of input.ts (its DotScanner, size limit and errors): a lone "." line ends the message
 * unless -i/-oi; past `maxSize` it stops with ETOOBIG (EX_DATAERR); empty input is EEMPTY
 * (EX_DATAERR); a read error is an I/O error (EX_TEMPFAIL).
 *
 * Why not process.stdin: setting up the stream machinery costs sendmail ~6-8 ms of its start-up
 * (docs/benchmarks.md); a blocking read(2) loop costs nothing. A descriptor the caller left
 * non-blocking (EAGAIN) is waited on in short sleeps, so a terminal or such a pipe still works.
 * A closed standard input (EBADF) reads as empty.
 */
import { readSync } from 'node:fs';
import { ioError } from '../core/errors.js';
import { DotScanner, emptyInput, tooBig, type ReadOptions } from './input.js';

const CHUNK = 64 * 1024;
const RETRY_MS = 5;
let sleeper: Int32Array | undefined;

export function readMessageSync(fd: number, opts: ReadOptions): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  let end = -1;
  const dots = opts.dotEnds ? new DotScanner() : null;
  for (;;) {
    const chunk = Buffer.allocUnsafe(CHUNK);
    let n: number;
    try {
      n = readSync(fd, chunk, 0, CHUNK, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') { Atomics.wait(sleeper ??= new Int32Array(new SharedArrayBuffer(4)), 0, 0, RETRY_MS); continue; }
      if (code === 'EOF' || code === 'EBADF') break;
      throw ioError('cannot read the message from standard input', err);
    }
    if (n === 0) break;
    const got = chunk.subarray(0, n);
    end = dots ? dots.scan(got, total) : -1;
    const size = end >= 0 ? end : total + n;
    if (size > opts.maxSize) throw tooBig(opts.maxSize);
    chunks.push(got);
    total += n;
    if (end >= 0) break;
  }
  // "." as the very last line, without a line end, also ends the message.
  if (end < 0 && dots && (dots.state === 1 || dots.state === 2)) end = dots.lineStart;
  const all = Buffer.concat(chunks, total);
  const msg = end >= 0 ? all.subarray(0, end) : all;
  if (msg.length === 0) throw emptyInput();
  return msg;
}
