/**
 * Public shapes of the importers (`sysmail import esmtprc|msmtprc|ssmtp|nullmailer`).
 *
 * An import is a pure function of the peer's file text(s): it returns the
 * sysmail.toml text, the passwords it took out of the peer files (to be
 * written as separate 0600 files by write.ts), and one warning per thing it
 * could not carry over exactly, each with the file and line it came from.
 * Nothing is dropped without a warning.
 */

export interface ImportWarning {
  /** The peer file the warning is about (as given by the caller). */
  file: string;
  /** 1-based line in that file; 0 when it is about the file as a whole. */
  line: number;
  message: string;
}

export interface ImportSecret {
  /** Suggested absolute path, referenced by `password_file` in the TOML. */
  file: string;
  /** The secret itself. Never printed, never logged. */
  value: string;
  /** The transport (first one) that uses it. */
  transport: string;
}

export interface ImportResult {
  toml: string;
  secrets: ImportSecret[];
  warnings: ImportWarning[];
}

export interface ImportOptions {
  /**
   * This host's name (the CLI passes os.hostname()). Used where the peer
   * meant "this host": local recipients for an MDA route, senders of local
   * users in ssmtp's revaliases. Without it "localhost" is used and a
   * warning says so.
   */
  hostname?: string;
  /** Home directory used to expand "~/" in paths from user config files. */
  home?: string;
  /** Directory suggested for password files. Default /etc/sysmail/secrets. */
  secretsDir?: string;
}

export type ImportKind = 'esmtprc' | 'msmtprc' | 'ssmtp' | 'nullmailer';

export const IMPORT_KINDS: readonly ImportKind[] = ['esmtprc', 'msmtprc', 'ssmtp', 'nullmailer'];

export { SYSTEM_SECRETS_DIR as DEFAULT_SECRETS_DIR } from '../config/defaults.js';
