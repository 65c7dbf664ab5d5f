/**
 * Every `code` a SysmailError can carry, as one union the compiler checks.
 *
 * A code is stable (tests, doctor and callers branch on it) and never a name
 * that errno (EIO, EPERM, EEXIST, EBUSY...) or nodemailer (ECONFIG, EENVELOPE,
 * EAUTH, ETLS...) also uses, so a foreign error can never be mistaken for one of
 * ours (test/failure-table.test.ts checks both lists). Codes are for programs;
 * what users read is the message and the hint.
 */
export const ERROR_CODES = [
  // command line and input
  'EUSAGE', 'ENOINPUT', 'EEMPTY', 'EHEADER', 'ENUL', 'EADDRESS', 'ENORCPT', 'ETOOBIG', 'ETOOMANYRCPT',
  // configuration and secrets
  'EBADCONFIG', 'ESECRET',
  // the spool and local I/O
  'ELOCALIO', 'EBADENVELOPE', 'ECLAIM', 'EDELIVERING', 'ESTATE', 'EROSPOOL', 'ELOCKED', 'EUNSAFEDIR',
  // admin commands
  'ENOPERM', 'ELOGPERM', 'ENOLOG', 'EINSTALL', 'ENOTINSTALLED', 'EIMPORTEXISTS', 'ERUNNING',
  'ECACHEDIR', 'ECACHETRAIN', 'ECACHEWRITE', 'ENOLAUNCHER',
  // the listener
  'ELISTEN', 'ESMTPCOMPAT',
  // local transports
  'EMBOX', 'ENOHOME',
  // the SMTP transport
  'ESMTP_AUTH', 'ESMTP_CONFIG', 'ESMTP_CONNECT', 'ESMTP_NOTLS', 'ESMTP_PIN', 'ESMTP_PLAINAUTH',
  'ESMTP_PRECONNECT', 'ESMTP_PROTOCOL', 'ESMTP_REPLY', 'ESMTP_SECRET', 'ESMTP_TIMEOUT', 'ESMTP_TLS',
  'ESMTP_TLS_CERT',
  // the OCI Notifications transport
  'EOCIAUTH', 'EOCIIMDS',
  // a bug: anything thrown that is not a SysmailError
  'EINTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];
