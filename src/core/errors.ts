/**
 * One error model for the whole program (see STYLE.md, "One error model").
 *
 * Every failure that reaches a user is a SysmailError: a stable string `code`,
 * the sysexits(3) value the CLI exits with, whether it is temporary (retry
 * later) or permanent, an optional SMTP reply and DSN status, and the `cause`.
 * Only src/cli/main.ts turns it into a process exit code.
 */

/** sysexits.h, the only exit codes sysmail uses. */
export const EX = {
  OK: 0,
  USAGE: 64, // command line usage error
  DATAERR: 65, // bad input message
  NOINPUT: 66, // input file missing or unreadable
  NOUSER: 67, // addressee unknown
  NOHOST: 68, // host name unknown
  UNAVAILABLE: 69, // service unavailable
  SOFTWARE: 70, // internal software error
  OSERR: 71, // system error (fork, etc.)
  OSFILE: 72, // critical OS file missing
  CANTCREAT: 73, // can't create output file
  IOERR: 74, // input/output error
  TEMPFAIL: 75, // temporary failure; the caller may retry
  PROTOCOL: 76, // remote error in protocol
  NOPERM: 77, // permission denied
  CONFIG: 78, // configuration error
} as const;

export type ExitCode = (typeof EX)[keyof typeof EX];

export interface SysmailErrorOptions {
  /** sysexits value for the CLI. */
  exit: ExitCode;
  /** True when trying again later may succeed (deferral, not bounce). */
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
  readonly code: string;
  readonly exit: ExitCode;
  readonly temporary: boolean;
  readonly smtpCode?: number;
  readonly dsn?: string;
  readonly hint?: string;

  constructor(code: string, message: string, opts: SysmailErrorOptions) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SysmailError';
    this.code = code;
    this.exit = opts.exit;
    this.temporary = opts.temporary ?? opts.exit === EX.TEMPFAIL;
    this.smtpCode = opts.smtpCode;
    this.dsn = opts.dsn;
    this.hint = opts.hint;
  }
}

/** Shorthands for the families used everywhere. */
export const usageError = (message: string, hint?: string) =>
  new SysmailError('EUSAGE', message, { exit: EX.USAGE, hint });

export const dataError = (code: string, message: string, hint?: string) =>
  new SysmailError(code, message, { exit: EX.DATAERR, hint, smtpCode: 554, dsn: '5.6.0' });

export const configError = (message: string, hint?: string, cause?: unknown) =>
  new SysmailError('ECONFIG', message, { exit: EX.CONFIG, hint, cause });

export const tempError = (code: string, message: string, cause?: unknown, hint?: string) =>
  new SysmailError(code, message, { exit: EX.TEMPFAIL, temporary: true, cause, hint, smtpCode: 451, dsn: '4.3.0' });

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
  return new SysmailError('EIO', `${what}: ${detail}`, {
    exit: EX.TEMPFAIL, temporary: true, cause, hint, smtpCode: 451, dsn: '4.3.0',
  });
}

export function isSysmailError(e: unknown): e is SysmailError {
  return e instanceof SysmailError;
}

/** Wraps anything thrown into a SysmailError (unknown errors are EX_SOFTWARE). */
export function toSysmailError(e: unknown): SysmailError {
  if (e instanceof SysmailError) return e;
  return new SysmailError('EINTERNAL', e instanceof Error ? e.message : String(e), {
    exit: EX.SOFTWARE, temporary: true, cause: e,
  });
}
