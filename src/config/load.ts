/**
 * loadConfig: find the config file, read it, parse it, validate it.
 *
 * Which file: -C PATH, else $SYSMAIL_CONFIG, else /etc/sysmail/sysmail.toml
 * if it exists, else the embedded default (source null). A file named by -C
 * or $SYSMAIL_CONFIG must exist; an /etc file that exists but cannot be read
 * is an error, never a silent fall-back to the default.
 *
 * Fails with EX_CONFIG (ConfigInvalidError listing every problem, or a
 * configError for a missing/unreadable file or a TOML syntax error, with its
 * line). Secrets are not resolved here: see secrets.ts.
 *
 * Two shells over one set of rules: loadConfig reads with node:fs/promises, loadConfigSync
 * (load-sync.ts, the sendmail fast path) with blocking reads; which file, the parse, the validation and every
 * message are the same functions.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { hostname, homedir } from '../core/host-facts.js';
import { dirname, resolve } from 'node:path';
import { configError } from '../core/errors.js';
import type { Config } from './types.js';
import { SYSTEM_CONFIG_PATH } from './defaults.js';
import { validateConfig, type ValidateContext } from './validate.js';

export interface LoadOptions {
  /** From `-C PATH`; relative paths are taken from the working directory. */
  path?: string | null;
  env?: NodeJS.ProcessEnv;
  euid?: number;
  /** Where to look when neither -C nor $SYSMAIL_CONFIG is given (tests). Default /etc/sysmail/sysmail.toml. */
  systemPath?: string;
}

export interface ConfigLocation {
  /** Absolute path, or null for the embedded default. */
  path: string | null;
  /** How it was chosen, for `sysmail config show` and error messages. */
  from: '-C' | '$SYSMAIL_CONFIG' | 'system' | 'embedded';
}

export function findConfigFile(opts: LoadOptions = {}): ConfigLocation {
  const env = opts.env ?? process.env;
  if (opts.path) return { path: resolve(opts.path), from: '-C' };
  if (env.SYSMAIL_CONFIG) return { path: resolve(env.SYSMAIL_CONFIG), from: '$SYSMAIL_CONFIG' };
  const system = opts.systemPath ?? SYSTEM_CONFIG_PATH;
  return existsSync(system) ? { path: system, from: 'system' } : { path: null, from: 'embedded' };
}

/** The validation context: who and where we are, and the file's owner and mode once read. */
export function contextOf(opts: LoadOptions): Partial<ValidateContext> {
  return {
    env: opts.env ?? process.env,
    euid: opts.euid ?? process.geteuid?.() ?? 0,
    hostname: hostname(),
    homedir: homedir(),
    exists: existsSync,
  };
}

/** The TOML parser, passed in: loadConfig loads it only when there is a file, load-sync.ts statically. */
export type Toml = Pick<typeof import('smol-toml'), 'parse' | 'TomlError'>;

/** What both shells do with the file once read: parse the TOML, validate. */
export function parseAndValidate(file: string, text: string, ctx: Partial<ValidateContext>, { parse, TomlError }: Toml): Config {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    if (e instanceof TomlError) {
      // Only the first line: smol-toml's code excerpt could show a password.
      const what = e.message.split('\n')[0]!.replace(/^Invalid TOML document:\s*/, '');
      throw configError(
        `${file}:${e.line}:${e.column}: TOML syntax error: ${what}`,
        'fix the syntax at that line (strings in double quotes, one key = value per line, [table] headers)',
        e,
      );
    }
    throw e;
  }
  return validateConfig(raw, file, text, ctx);
}

export function notAFile(): Error {
  return Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
}

export async function loadConfig(opts: LoadOptions = {}): Promise<Config> {
  const ctx = contextOf(opts);
  const where = findConfigFile(opts);
  if (where.path === null) return validateConfig({}, null, '', ctx);
  const file = where.path;
  let text: string;
  try {
    // Loaded here: loadConfigSync (load-sync.ts, the sendmail fast path) never loads node:fs/promises.
    const { readFile, stat } = await import('node:fs/promises');
    const st = await stat(file);
    if (!st.isFile()) throw notAFile();
    ctx.fileStat = { uid: st.uid, mode: st.mode };
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw unreadable(file, where.from, e);
  }
  // Loaded here, not at the top: with no config file, smol-toml is never needed.
  return parseAndValidate(file, text, ctx, await import('smol-toml'));
}

export function unreadable(file: string, from: ConfigLocation['from'], e: unknown) {
  const errno = (e as NodeJS.ErrnoException).code;
  const named = from === '-C' ? ' (named by -C)' : from === '$SYSMAIL_CONFIG' ? ' (named by $SYSMAIL_CONFIG)' : '';
  if (errno === 'ENOENT') {
    return configError(`${file}${named}: config file not found`, 'check the path, or leave it out to use /etc/sysmail/sysmail.toml', e);
  }
  if (errno === 'EACCES' || errno === 'EPERM') {
    // Name what blocks: a directory on the way (import used to leave /etc/sysmail 0700) or the file.
    const dir = blockingDirectory(file);
    if (dir) {
      return configError(
        `${file}${named}: cannot read the config file: the directory ${dir.path} (mode ${dir.mode}) does not let this user (uid ${process.getuid?.() ?? '?'}) through`,
        `as root: chmod 755 ${dir.path}   (secrets stay private in their own 0700 directory)`,
        e,
      );
    }
    return configError(
      `${file}${named}: cannot read the config file (permission denied)`,
      `as root: chmod 644 ${file}, and keep passwords in password_file, password_command, password_env or password_credential`,
      e,
    );
  }
  if (errno === 'EISDIR') return configError(`${file}${named}: is not a regular file`, 'name the .toml file itself', e);
  return configError(`${file}${named}: cannot read the config file: ${(e as Error).message}`, undefined, e);
}

/** The first directory on the way to `file` that this process may not search, with its mode; null when none. */
export function blockingDirectory(file: string): { path: string; mode: string } | null {
  const dirs: string[] = [];
  for (let d = dirname(resolve(file)); ; d = dirname(d)) { dirs.unshift(d); if (dirname(d) === d) break; }
  for (const d of dirs) {
    try { accessSync(d, constants.X_OK); } catch {
      let mode = '?';
      try { mode = (statSync(d).mode & 0o7777).toString(8).padStart(4, '0'); } catch { /* keep ? */ }
      return { path: d, mode };
    }
  }
  return null;
}
