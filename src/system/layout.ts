/**
 * Where an installed sysmail lives on the host: one table shared by
 * `sysmail install`, `uninstall`, `doctor`, the packages
 * (scripts/package/package.mjs), the SELinux file contexts
 * (packaging/selinux/sysmail.fc) and docs/INSTALL.md. Change a path here and
 * in those two files together; test/selinux.test.ts checks the .fc against it.
 *
 * The paths sysmail itself reads at run time (config file, spool, log) are
 * defined once, in src/config/defaults.ts, and the spool's areas once, in
 * src/spool/fsutil.ts: this table takes them from there.
 * test/system-layout.test.ts ties the three together.
 */
import { dirname } from 'node:path';
import { SYSTEM_CONFIG_PATH, SYSTEM_LOG_FILE, SYSTEM_SECRETS_DIR, SYSTEM_SPOOL_DIR } from '../config/defaults.js';
import { PRIVATE_AREAS } from '../spool/fsutil.js';

/** Marker line in every wrapper we write: how doctor and install recognise ours. */
export const WRAPPER_MARKER = 'sysmail-wrapper';

export interface WrapperSpec {
  path: string;
  /** The subcommand the wrapper runs (null: pass the arguments through). */
  command: string | null;
}

/**
 * Shell wrappers that exec node on the entry point with a fixed subcommand,
 * so they work whatever name they are called by (alternatives links, direct
 * calls) and so SELinux can label them sendmail_exec_t. The daemon entry is
 * what the systemd units run: labelled sendmail_exec_t, it makes systemd
 * start `serve` and `flush` in sendmail_t, while the admin's own `sysmail`
 * command stays unlabelled (see packaging/selinux/README.md).
 */
export const WRAPPERS = {
  sendmail: { path: '/usr/sbin/sendmail.sysmail', command: 'sendmail' },
  mailq: { path: '/usr/bin/mailq.sysmail', command: 'mailq' },
  newaliases: { path: '/usr/bin/newaliases.sysmail', command: 'newaliases' },
  daemon: { path: '/usr/libexec/sysmail/sysmail', command: null },
} as const satisfies Record<string, WrapperSpec>;

/** The programs other software calls, and which wrapper each becomes. */
export const MTA_LINKS = [
  { link: '/usr/sbin/sendmail', wrapper: WRAPPERS.sendmail.path, rhelSlave: null, debianSlave: null },
  { link: '/usr/bin/mailq', wrapper: WRAPPERS.mailq.path, rhelSlave: 'mta-mailq', debianSlave: 'sendmail-mailq' },
  { link: '/usr/bin/newaliases', wrapper: WRAPPERS.newaliases.path, rhelSlave: 'mta-newaliases', debianSlave: 'sendmail-newaliases' },
] as const;

/** RHEL's link group, as Postfix (priority 30) and Sendmail (90) register. */
export const RHEL_GROUP = 'mta';
/** Debian has no MTA group; sysmail makes one named after its master link. */
export const DEBIAN_GROUP = 'sendmail';
export const ALTERNATIVES_PRIORITY = 30;
/** /usr/lib/sendmail, the historic path some programs still call (RHEL slave mta-sendmail). */
export const RHEL_LIB_SENDMAIL = { link: '/usr/lib/sendmail', name: 'mta-sendmail' };

/** Suffix of a diverted (Debian) or backed-up original. */
export const DIVERT_SUFFIX = '.sysmail-orig';

export const CONFIG_FILE = SYSTEM_CONFIG_PATH;
export const CONFIG_DIR = dirname(CONFIG_FILE);
export const SECRETS_DIR = SYSTEM_SECRETS_DIR;
export const SPOOL_DIR = SYSTEM_SPOOL_DIR;
export const LOG_DIR = dirname(SYSTEM_LOG_FILE);
export const STATE_DIR = '/var/lib/sysmail';
export const STATE_FILE = '/var/lib/sysmail/install-state.json';
/** Originals of files replaced on distributions without dpkg-divert or alternatives. */
export const BACKUP_DIR = '/var/lib/sysmail/backup';
export const UNIT_DIR = '/etc/systemd/system';
export const UNITS = ['sysmail.service', 'sysmail-flush.service', 'sysmail-flush.timer', 'sysmail-flush.path'] as const;
/** Units `sysmail install` enables: retries every minute, and delivery as soon as mail is queued. */
export const ENABLED_UNITS = ['sysmail-flush.timer', 'sysmail-flush.path'] as const;
export const MAN_DIR = '/usr/local/share/man';
/** man/<file> -> section directory. */
export const MAN_PAGES = [
  { file: 'sysmail.8', section: 'man8' },
  { file: 'sysmail-sendmail.8', section: 'man8' },
  { file: 'sysmail.toml.5', section: 'man5' },
] as const;

/** The compiled policy module the .rpm and .deb ship (the Fedora/RHEL place for third-party modules). */
export const SELINUX_MODULE = '/usr/share/selinux/packages/sysmail.pp';

/**
 * Spool layout: the areas are the spool's own list; the modes are what src/spool/fsutil.ts
 * ensureLayout makes (test/system-layout.test.ts runs it and compares), which install sets and
 * doctor checks.
 */
export const SPOOL_ROOT_MODE = 0o711;
export const SPOOL_PRIVATE = PRIVATE_AREAS;
export const SPOOL_PRIVATE_MODE = 0o700;
export const SPOOL_DROP_MODE = 0o1777;
