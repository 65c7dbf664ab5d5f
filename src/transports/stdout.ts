/**
 * The `stdout` transport: for `serve` under systemd (stdout lands in the
 * journal), containers and debugging.
 *
 * - "message": the whole message between separator lines naming id, sender
 *   and recipients.
 * - "summary": one line per message: `id from -> rcpt1,rcpt2: subject`, with
 *   control characters removed so one message is always one journal line.
 *
 * A failing stream (EPIPE, closed stdout) defers every recipient; never throws.
 */
import type { StdoutTransportConfig } from '../config/types.js';
import { failureResult } from '../core/outcome.js';
import type { OutgoingMessage, RecipientResult, Transport, TransportContext } from './types.js';
import { allRecipients } from './types.js';

export const STDOUT_SUBJECT_MAX_CHARS = 200;

function oneLine(s: string, max = 1000): string {
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]+/g, ' ').trim();
  return clean.length > max ? clean.slice(0, max - 1) + '…' : clean;
}

/** The summary line (with newline). */
export function summaryLine(msg: OutgoingMessage, rcpts: string[], subject: string): string {
  const from = msg.envelope.sender === '' ? '<>' : msg.envelope.sender;
  return `${oneLine(msg.id)} ${oneLine(from)} -> ${oneLine(rcpts.join(','))}: ${oneLine(subject, STDOUT_SUBJECT_MAX_CHARS) || '(no subject)'}\n`;
}

/** The whole message framed by separator lines. */
export function framedMessage(msg: OutgoingMessage, rcpts: string[]): Buffer {
  const from = msg.envelope.sender === '' ? '<>' : msg.envelope.sender;
  const head = `----- sysmail message ${oneLine(msg.id)} from ${oneLine(from)} to ${oneLine(rcpts.join(','))} -----\n`;
  const endsNl = msg.raw.length > 0 && msg.raw[msg.raw.length - 1] === 0x0a;
  return Buffer.concat([Buffer.from(head), msg.raw, Buffer.from(`${endsNl ? '' : '\n'}----- end of message ${oneLine(msg.id)} -----\n`)]);
}

function write(out: NodeJS.WritableStream, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    out.once('error', onError);
    out.write(data, (err) => {
      out.removeListener('error', onError);
      if (err) reject(err); else resolve();
    });
  });
}

/** `out` defaults to process.stdout (tests pass their own stream). */
export function createStdoutTransport(cfg: StdoutTransportConfig, _ctx: TransportContext,
  out: NodeJS.WritableStream = process.stdout): Transport {
  return {
    name: cfg.name,
    type: 'stdout',
    async deliver(msg: OutgoingMessage, rcpts: string[]): Promise<RecipientResult[]> {
      if (rcpts.length === 0) return [];
      try {
        if (cfg.format === 'message') {
          await write(out, framedMessage(msg, rcpts));
        } else {
          const { extractText } = await import('../message/text.js');
          await write(out, summaryLine(msg, rcpts, extractText(msg.raw).subject));
        }
        return allRecipients(rcpts, { outcome: 'sent', code: 250, dsn: '2.0.0', text: 'written to stdout' });
      } catch (err) {
        return allRecipients(rcpts, failureResult(err, { deferOnly: true, codes: 'none', hint: false, prefix: 'cannot write to stdout: ' }));
      }
    },
    async close() {},
  };
}
