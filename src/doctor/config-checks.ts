/**
 * Doctor checks for the configuration: does it load, who may change or read
 * it, and can every secret it names be had (files present, owned by root or
 * us, not readable by others). Read-only, except that a password_command is
 * run, as `sysmail config check` does.
 *
 * Failures here are configuration problems (exit EX_CONFIG).
 */
import { stat } from 'node:fs/promises';
import type { Config, SecretRef } from '../config/types.js';
import { isSysmailError } from '../core/errors.js';
import { fail, info, ok, warn, type CheckResult } from './report.js';

const octal = (m: number) => (m & 0o7777).toString(8).padStart(4, '0');

export interface ConfigLoad {
  config: Config | null;
  results: CheckResult[];
}

export async function checkConfig(opts: { path: string | null; systemPath: string; euid: number }): Promise<ConfigLoad> {
  const { loadConfig, findConfigFile } = await import('../config/load.js');
  const where = findConfigFile({ path: opts.path, systemPath: opts.systemPath });
  let config: Config;
  try {
    config = await loadConfig({ path: opts.path, systemPath: opts.systemPath });
  } catch (e) {
    if (!isSysmailError(e)) throw e;
    return { config: null, results: [fail('config', e.message, e.hint ?? `fix ${where.path ?? 'the config'}, then run \`sysmail config check\``, true)] };
  }
  const results: CheckResult[] = [];
  const summary = `${Object.keys(config.transports).length} transport(s), ${config.routes.length} route(s)`;
  if (config.source === null) {
    results.push(info('config', `no config file (${opts.systemPath} does not exist): the embedded default delivers everything to ${
      Object.values(config.transports)[0]?.type === 'maildir' ? (Object.values(config.transports)[0] as { path: string }).path : 'a local Maildir'}`,
    'sysmail install writes a commented /etc/sysmail/sysmail.toml; or import an old one: sysmail import /etc/esmtprc'));
  } else {
    results.push(ok('config', `${config.source}: valid (${summary})`));
    results.push(...await configFileMode(config.source, opts.euid));
  }
  results.push(...await checkSecretsFor(config, opts.euid));
  return { config, results };
}

async function configFileMode(file: string, euid: number): Promise<CheckResult[]> {
  const st = await stat(file);
  const out: CheckResult[] = [];
  if ((st.mode & 0o022) !== 0) {
    out.push(fail('config file', `${file} is writable by ${st.mode & 0o002 ? 'everyone' : 'its group'} (mode ${octal(st.mode)}): `
      + 'whoever can edit it can redirect all mail or run commands as the mail service', `chmod go-w ${file}`, true));
  }
  if (st.uid !== 0 && st.uid !== euid) {
    out.push(warn('config file', `${file} is owned by uid ${st.uid}, not root: that user can change where mail goes`, `chown root: ${file}`));
  }
  if ((st.mode & 0o004) === 0) {
    out.push(warn('config file', `${file} is not readable by others (mode ${octal(st.mode)}): sendmail run by an ordinary user (their cron jobs) cannot read it and fails`,
      `keep passwords in password_file / password_credential instead of inline, then chmod 644 ${file}`));
  }
  return out;
}

function describeRef(ref: SecretRef): string {
  if (ref.file !== undefined) return `password_file ${ref.file}`;
  if (ref.command !== undefined) return `password_command ${ref.command[0] ?? ''}`;
  if (ref.env !== undefined) return `password_env ${ref.env}`;
  if (ref.credential !== undefined) return `password_credential ${ref.credential}`;
  return 'inline password';
}

async function checkSecretsFor(config: Config, euid: number): Promise<CheckResult[]> {
  const { secretRefs, resolveSecret } = await import('../config/secrets.js');
  const out: CheckResult[] = [];
  for (const { key, ref } of secretRefs(config)) {
    const name = `secret ${key}`;
    if (ref.file !== undefined) {
      let st;
      try { st = await stat(ref.file); } catch (e) {
        const errno = (e as NodeJS.ErrnoException).code;
        out.push(fail(name, `${ref.file} ${errno === 'ENOENT' ? 'does not exist' : `cannot be read (${errno})`}`,
          `printf '%s\\n' 'THE-PASSWORD' > ${ref.file} && chmod 600 ${ref.file}   (or fix ${key.replace(/\.password$/, '.password_file')})`, true));
        continue;
      }
      if ((st.mode & 0o007) !== 0) {
        out.push(fail(name, `${ref.file} is readable or writable by others (mode ${octal(st.mode)})`, `chmod 600 ${ref.file}`, true));
        continue;
      }
      if (st.uid !== 0 && st.uid !== euid) {
        out.push(warn(name, `${ref.file} is owned by uid ${st.uid}, neither root nor the user running sysmail`, `chown root: ${ref.file} && chmod 600 ${ref.file}`));
      }
    }
    if (ref.env !== undefined || ref.credential !== undefined) {
      // Set in the service's environment, not in an admin's shell: a miss here is not a miss there.
      try { await resolveSecret(ref, { label: key }); out.push(ok(name, `${describeRef(ref)}: available`)); } catch (e) {
        out.push(info(name, `${describeRef(ref)} is not available in this shell (${(e as Error).message}); it is read from the sysmail service's environment`,
          isSysmailError(e) ? e.hint ?? null : null));
      }
      continue;
    }
    try {
      await resolveSecret(ref, { label: key });
      if (!out.some((r) => r.check === name)) out.push(ok(name, `${describeRef(ref)}: readable, not empty`));
    } catch (e) {
      out.push(fail(name, (e as Error).message, isSysmailError(e) ? e.hint ?? null : null, true));
    }
  }
  return out;
}
