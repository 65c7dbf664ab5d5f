/**
 * One error model for the whole program (see STYLE.md, "One error model").
 *
 * Every failure that reaches a user is a SysmailError: a stable string `code`,
 * the sysexits(3) value the CLI exits with, whether it is temporary (retry
 * later) or permanent, an optional SMTP reply and DSN status, and the `cause`.
 * Only src/cli/main.ts turns it into a process exit code.
 */

import { EX, isTemporary, type ExitCode } from './sysexits.js';
import type { ErrorCode } from './codes.js';

export { EX, type ExitCode } from './sysexits.js';
export type { ErrorCode } from './codes.js';

export interface SysmailErrorOptions {
  /** sysexits value for the CLI. */
  exit: ExitCode;
  /** True when trying again later may succeed (deferral, not bounce). Default: the sysexits table's flag. */
  temporary?: boolean;
  /** SMTP reply code to answer with (listener) or that the peer gave (transports). */
  smtpCode?: number;
  /** RFC 3463 enhanced status, e.g. "5.1.1". */
  dsn?: string;
  /** A hint that tells the admin how to fix it. */
  hint?: string;
  cause?: unknown;
}

export class SysmailError extends Error {
  readonly code: ErrorCode;
  readonly exit: ExitCode;
  readonly temporary: boolean;
  readonly smtpCode?: number;
  readonly dsn?: string;
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, opts: SysmailErrorOptions) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SysmailError';
    this.code = code;
    this.exit = opts.exit;
    this.temporary = opts.temporary ?? isTemporary(opts.exit);
    this.smtpCode = opts.smtpCode;
    this.dsn = opts.dsn;
    this.hint = opts.hint;
  }
}

/** Shorthands for the families used everywhere. */
export const usageError = (message: string, hint?: string) =>
  new SysmailError('EUSAGE', message, { exit: EX.USAGE, hint });

export const dataError = (code: ErrorCode, message: string, hint?: string) =>
  new SysmailError(code, message, { exit: EX.DATAERR, hint, smtpCode: 554, dsn: '5.6.0' });

export const configError = (message: string, hint?: string, cause?: unknown) =>
  new SysmailError('EBADCONFIG', message, { exit: EX.CONFIG, hint, cause });

/** The reply a temporary error carries: 451 4.3.0 unless the failure knows better (a peer's reply, 4.4.1...). */
export interface TempReply {
  smtpCode?: number;
  dsn?: string;
}

/** A failure that a later try may cure: EX_TEMPFAIL, a deferral, 451. */
export const tempError = (code: ErrorCode, message: string, cause?: unknown, hint?: string,
  reply: TempReply = { smtpCode: 451, dsn: '4.3.0' }) =>
  new SysmailError(code, message, { exit: EX.TEMPFAIL, temporary: true, cause, hint, smtpCode: reply.smtpCode, dsn: reply.dsn });

/**
 * Local I/O trouble is always temporary (STYLE.md rule 3): a full disk or an
 * unwritable spool must defer, never bounce.
 */
export function ioError(what: string, cause: unknown): SysmailError {
  const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
  const hint =
    errno === 'ENOSPC' ? 'the file system is full: free space, then run `sysmail flush`'
    : errno === 'EACCES' || errno === 'EPERM' ? 'check the owner and mode of the spool (`sysmail doctor`)'
    : errno === 'EROFS' ? 'the file system is read-only'
    : undefined;
  const message = String((cause as Error)?.message ?? cause);
  // Node's own messages already start with the code ("ENOENT: no such file…"): say it once.
  const detail = errno && !message.startsWith(`${errno}:`) ? `${errno}: ${message}` : message;
  return tempError('ELOCALIO', `${what}: ${detail}`, cause, hint);
}

export function isSysmailError(e: unknown): e is SysmailError {
  return e instanceof SysmailError;
}

/**
 * Wraps anything thrown into a SysmailError. What is not one already is a bug
 * or a foreign error nobody classified: EINTERNAL, exit EX_SOFTWARE (70) and
 * temporary. The two answer different questions on purpose. The exit code
 * tells the caller of the CLI what happened to this process: a fault in
 * sysmail, not an outage to sit out (and SYSMAIL_DEBUG prints the stack).
 * `temporary` tells the mail path what to do with the message: an error we
 * cannot classify must never bounce or lose it (STYLE.md rule 3), so a
 * transport defers it and the listener answers 451, as Postfix defers when one
 * of its own daemons fails. It is the one error whose flag overrides the
 * sysexits table (where EX_SOFTWARE is hard, for a command's exit status).
 */
export function toSysmailError(e: unknown): SysmailError {
  if (e instanceof SysmailError) return e;
  return new SysmailError('EINTERNAL', e instanceof Error ? e.message : String(e), {
    exit: EX.SOFTWARE, temporary: true, cause: e,
  });
}
