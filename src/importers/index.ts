/**
 * `sysmail import`: converts esmtp, msmtp, ssmtp and nullmailer
 * configurations into sysmail.toml. The importers are pure functions
 * (text in, { toml, secrets, warnings } out); read.ts finds and reads the
 * peer files, write.ts writes the result. See docs/MIGRATION.md.
 */
export { importEsmtprc } from './esmtprc.js';
export { importMsmtprc } from './msmtprc.js';
export { importSsmtp, type SsmtpFiles } from './ssmtp.js';
export { importNullmailer, type NullmailerFiles } from './nullmailer.js';
export { formatWarnings } from './model.js';
export { readImportSource, importSource, importFrom, type ImportSource } from './read.js';
export { writeImport, type WriteImportOptions, type WriteImportReport } from './write.js';
export {
  IMPORT_KINDS,
  DEFAULT_SECRETS_DIR,
  type ImportKind,
  type ImportOptions,
  type ImportResult,
  type ImportSecret,
  type ImportWarning,
} from './types.js';
