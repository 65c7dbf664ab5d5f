/**
 * `sysmail import esmtprc|msmtprc|ssmtp|nullmailer [FILE] [--write] [--force]`:
 * prints the equivalent sysmail.toml on stdout and every warning, with its
 * file and line, on stderr; `--write` writes the config (the -C path, default
 * /etc/sysmail/sysmail.toml) and each password into its own 0600 file in
 * secrets/ beside it (or --secrets-dir).
 */
import { dirname, join, resolve } from 'node:path';
import { SYSTEM_CONFIG_PATH } from '../config/defaults.js';
import { EX, usageError } from '../core/errors.js';
import { parseOptions } from './options.js';

export async function importCommand(argv: string[]): Promise<number> {
  const { opts, args } = parseOptions(argv, { write: {}, force: {}, 'secrets-dir': { value: true } }, 'import');
  if (opts.help) return (await import('./help.js')).helpCommand(['import']);
  const { IMPORT_KINDS } = await import('../importers/types.js');
  const kind = args[0];
  if (!kind || !(IMPORT_KINDS as readonly string[]).includes(kind)) {
    throw usageError(`import: say what to import: ${IMPORT_KINDS.join(', ')}`, 'sysmail import esmtprc /etc/esmtprc');
  }
  if (args.length > 2) throw usageError('import takes one file (or directory, for nullmailer)');
  const { importFrom, formatWarnings, writeImport } = await import('../importers/index.js');
  const configPath = typeof opts.config === 'string' ? opts.config : SYSTEM_CONFIG_PATH;
  // Passwords go beside the config they belong to (-C /srv/x/sysmail.toml -> /srv/x/secrets), unless told otherwise.
  const secretsDir = resolve(typeof opts['secrets-dir'] === 'string' ? opts['secrets-dir'] : join(dirname(resolve(configPath)), 'secrets'));
  const result = await importFrom(kind as never, args[1] ?? null, { secretsDir });
  if (result.warnings.length > 0) process.stderr.write(formatWarnings(result.warnings) + '\n');
  if (!opts.write) {
    process.stdout.write(result.toml);
    if (result.secrets.length > 0) {
      process.stderr.write(`sysmail: ${result.secrets.length} password(s) will go to their own 0600 file(s) with --write: `
        + `${result.secrets.map((s) => s.file).join(', ')}\n`);
    }
    return EX.OK;
  }
  const report = await writeImport(result, { configPath, secretsDir, force: opts.force === true });
  process.stdout.write(`wrote ${report.configPath}${report.secretFiles.length ? ` and ${report.secretFiles.join(', ')} (0600)` : ''}\n`
    + `next: sysmail config check -C ${report.configPath}\n`);
  return EX.OK;
}
