/**
 * sysexits(3) and what each status means for a message: Postfix's one table
 * (src/global/sys_exits.c), so every place that turns a status into "retry or
 * bounce" and an RFC 3463 status reads the same row.
 *
 * Guarantees: a row for every status sysmail uses; `soft` is true only for
 * EX_OSERR and EX_TEMPFAIL, as in Postfix; a status outside the table (a
 * command's own 1, 2, 127...) is hard with 5.3.0, Postfix's default.
 * Pure data and pure functions; imports nothing (it is on sendmail's start-up path).
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
/** Every sysexits status except EX_OK. */
export type FailureExit = Exclude<ExitCode, 0>;

export interface SysExit {
  /** EX_USAGE, ... as sysexits.h names it. */
  name: string;
  /** RFC 3463 enhanced status. */
  dsn: string;
  /** True when trying again later may succeed (a deferral, not a bounce). */
  soft: boolean;
  /** Postfix's text for the status. */
  text: string;
}

/** Postfix's sys_exits.c table, row for row. */
export const SYS_EXITS: Readonly<Record<FailureExit, SysExit>> = {
  [EX.USAGE]: { name: 'EX_USAGE', dsn: '5.3.0', soft: false, text: 'command line usage error' },
  [EX.DATAERR]: { name: 'EX_DATAERR', dsn: '5.6.0', soft: false, text: 'data format error' },
  [EX.NOINPUT]: { name: 'EX_NOINPUT', dsn: '5.3.0', soft: false, text: 'cannot open input' },
  [EX.NOUSER]: { name: 'EX_NOUSER', dsn: '5.1.1', soft: false, text: 'user unknown' },
  [EX.NOHOST]: { name: 'EX_NOHOST', dsn: '5.1.2', soft: false, text: 'host name unknown' },
  [EX.UNAVAILABLE]: { name: 'EX_UNAVAILABLE', dsn: '5.3.0', soft: false, text: 'service unavailable' },
  [EX.SOFTWARE]: { name: 'EX_SOFTWARE', dsn: '5.3.0', soft: false, text: 'internal software error' },
  [EX.OSERR]: { name: 'EX_OSERR', dsn: '4.3.0', soft: true, text: 'system resource problem' },
  [EX.OSFILE]: { name: 'EX_OSFILE', dsn: '5.3.0', soft: false, text: 'critical OS file missing' },
  [EX.CANTCREAT]: { name: 'EX_CANTCREAT', dsn: '5.2.0', soft: false, text: 'can\'t create user output file' },
  [EX.IOERR]: { name: 'EX_IOERR', dsn: '5.3.0', soft: false, text: 'input/output error' },
  [EX.TEMPFAIL]: { name: 'EX_TEMPFAIL', dsn: '4.3.0', soft: true, text: 'temporary failure' },
  [EX.PROTOCOL]: { name: 'EX_PROTOCOL', dsn: '5.5.0', soft: false, text: 'remote error in protocol' },
  [EX.NOPERM]: { name: 'EX_NOPERM', dsn: '5.7.0', soft: false, text: 'permission denied' },
  [EX.CONFIG]: { name: 'EX_CONFIG', dsn: '5.3.5', soft: false, text: 'local configuration error' },
};

/** The row for a status, or undefined for one outside sysexits.h (0, 1, 127...). */
export function sysExit(status: number): SysExit | undefined {
  return Object.prototype.hasOwnProperty.call(SYS_EXITS, status) ? SYS_EXITS[status as FailureExit] : undefined;
}

/** Whether a non-zero exit status means "try again later" (EX_TEMPFAIL, EX_OSERR). */
export function isTemporary(status: number): boolean {
  return sysExit(status)?.soft ?? false;
}

/** The RFC 3463 status for a non-zero exit status; 5.3.0 outside the table, as Postfix. */
export function dsnForExit(status: number): string {
  return sysExit(status)?.dsn ?? '5.3.0';
}
