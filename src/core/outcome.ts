/**
 * A failure, mapped once: to a recipient's outcome (every transport) and to the
 * listener's SMTP reply. Pure functions over the error model.
 *
 * Guarantees:
 * - Only a SysmailError that says it is permanent (`temporary: false`) can
 *   fail a recipient or draw a 5xx reply; anything else thrown (a bug, a raw
 *   errno error) is deferred / answered 451, so accepted mail is never bounced
 *   or lost for local trouble (STYLE.md rule 3).
 * - The enhanced status agrees with the outcome: the error's own when its
 *   class digit matches, else 4.3.0 / 5.3.0 (a delay notice never says 5.x.x).
 * - The text is the error's message, with its hint in parentheses unless the
 *   transport asks for the message only.
 */
import { EX } from './sysexits.js';
import { isSysmailError, toSysmailError } from './errors.js';

/** What one delivery attempt did for one recipient. */
export type Outcome = 'sent' | 'deferred' | 'failed';

/** A recipient result without the recipient: what a thrown failure means. */
export interface FailureResult {
  outcome: Exclude<Outcome, 'sent'>;
  /** The SMTP code the failure carries, per `codes`. */
  code?: number;
  dsn: string;
  text: string;
}

export interface FailureOptions {
  /**
   * Which reply code the result carries: the error's own (`carried`, default); the error's own
   * or 451/550 as a final-delivery MTA would say (`mta`: the mailbox transports); none (`none`:
   * transports whose code is an HTTP status or an exit status, never an SMTP reply).
   */
  codes?: 'carried' | 'mta' | 'none';
  /** The transport cannot know a local failure to be permanent: always defer (command, stdout, OCI). */
  deferOnly?: boolean;
  /** Put before the message, e.g. "cannot write to stdout: ". */
  prefix?: string;
  /** Append the error's hint in parentheses (default true). */
  hint?: boolean;
}

/** The one mapping of a thrown failure to a recipient outcome. */
export function failureResult(err: unknown, o: FailureOptions = {}): FailureResult {
  const e = toSysmailError(err);
  const outcome = !o.deferOnly && !e.temporary ? 'failed' : 'deferred';
  const cls = outcome === 'failed' ? '5' : '4';
  const dsn = e.dsn && e.dsn.startsWith(cls) ? e.dsn : `${cls}.3.0`;
  const text = `${o.prefix ?? ''}${e.message}${o.hint !== false && e.hint ? ` (${e.hint})` : ''}`;
  const codes = o.codes ?? 'carried';
  const code = codes === 'none' ? undefined
    : codes === 'mta' ? e.smtpCode ?? (outcome === 'failed' ? 550 : 451)
    : e.smtpCode;
  return code === undefined ? { outcome, dsn, text } : { outcome, code, dsn, text };
}

/** An SMTP reply: the code and the text after it (enhanced status first). */
export interface SmtpReplyText {
  code: number;
  text: string;
}

/** Reply text from foreign or multi-line text: one line, no control characters, bounded. */
export const replyLine = (s: string) => s.replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, 300);

/**
 * The listener's answer when queueing a message failed: 451 for local trouble
 * (the client keeps the message and retries), 5xx only when the message itself
 * is refused (a permanent SysmailError with its own 5xx, or a data error: 554 5.6.0).
 */
export function smtpReplyFor(err: unknown): SmtpReplyText {
  if (isSysmailError(err)) {
    const text = replyLine(err.message);
    if (!err.temporary && err.smtpCode && err.smtpCode >= 500) return { code: err.smtpCode, text: `${err.dsn ?? '5.6.0'} ${text}` };
    if (!err.temporary && err.exit === EX.DATAERR) return { code: 554, text: `5.6.0 ${text}` };
    return { code: 451, text: `4.3.0 Message not queued: ${text}` };
  }
  return { code: 451, text: `4.3.0 Message not queued: ${replyLine((err as Error)?.message ?? String(err))}` };
}
