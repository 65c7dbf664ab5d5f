/**
 * The thin I/O shell in front of the pure importers: finds and reads the
 * peer's files (the given path, or the usual locations), then dispatches.
 *
 * Defaults, system file first (sysmail is a system-wide agent; pass FILE to
 * import a user's file instead):
 *   esmtprc     /etc/esmtprc, ~/.esmtprc
 *   msmtprc     /etc/msmtprc, $XDG_CONFIG_HOME/msmtp/config, ~/.msmtprc
 *   ssmtp       /etc/ssmtp/ssmtp.conf (+ revaliases next to it, if present)
 *   nullmailer  /etc/nullmailer/ (every control file in it)
 * Fails with EX_NOINPUT (66) naming what was looked for and how to fix it.
 * Only reads; never writes.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { EX, SysmailError } from '../core/errors.js';
import { importEsmtprc } from './esmtprc.js';
import { importMsmtprc } from './msmtprc.js';
import { importNullmailer, NULLMAILER_FILES, type NullmailerFiles } from './nullmailer.js';
import { importSsmtp } from './ssmtp.js';
import type { ImportKind, ImportOptions, ImportResult } from './types.js';

export type ImportSource =
  | { kind: 'esmtprc'; file: string; text: string }
  | { kind: 'msmtprc'; file: string; text: string }
  | { kind: 'ssmtp'; file: string; text: string; revaliasesFile: string; revaliases: string | null }
  | { kind: 'nullmailer'; dir: string; files: NullmailerFiles };

/** Larger files are not peer configs; refusing them keeps a typo from reading a disk image. */
const MAX_BYTES = 1024 * 1024;

function noInput(message: string, hint: string, cause?: unknown): SysmailError {
  return new SysmailError('ENOINPUT', message, { exit: EX.NOINPUT, hint, cause });
}

async function readText(path: string): Promise<string | null> {
  try {
    const st = await stat(path);
    if (!st.isFile()) throw noInput(`${path} is not a regular file`, 'pass the path of the configuration file itself');
    if (st.size > MAX_BYTES) throw noInput(`${path} is ${st.size} bytes, too large for a mail configuration file`, 'check the path');
    return await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof SysmailError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw noInput(`cannot read ${path}: ${code ?? (e as Error).message}`,
      code === 'EACCES' ? 'run the import as root, or as the user who owns the file' : 'check the path and its permissions', e);
  }
}

function defaultCandidates(kind: 'esmtprc' | 'msmtprc', env: NodeJS.ProcessEnv): string[] {
  const home = env.HOME;
  if (kind === 'esmtprc') return ['/etc/esmtprc', ...(home ? [join(home, '.esmtprc')] : [])];
  const xdg = env.XDG_CONFIG_HOME || (home ? join(home, '.config') : null);
  return ['/etc/msmtprc', ...(xdg ? [join(xdg, 'msmtp', 'config')] : []), ...(home ? [join(home, '.msmtprc')] : [])];
}

/** Reads the peer configuration for `kind` from `path`, or from the usual places. */
export async function readImportSource(kind: ImportKind, path?: string | null, env: NodeJS.ProcessEnv = process.env): Promise<ImportSource> {
  if (kind === 'esmtprc' || kind === 'msmtprc') {
    const candidates = path ? [path] : defaultCandidates(kind, env);
    for (const file of candidates) {
      const text = await readText(file);
      if (text !== null) return { kind, file, text };
    }
    throw noInput(`no ${kind} found (looked at ${candidates.join(', ')})`, `pass the file: sysmail import ${kind} FILE`);
  }
  if (kind === 'ssmtp') {
    const file = path ?? '/etc/ssmtp/ssmtp.conf';
    const text = await readText(file);
    if (text === null) throw noInput(`${file} not found`, 'pass the file: sysmail import ssmtp /path/to/ssmtp.conf');
    const revaliasesFile = join(dirname(file), 'revaliases');
    return { kind, file, text, revaliasesFile, revaliases: await readText(revaliasesFile) };
  }
  // nullmailer: a directory of one-value files; a path to one of them means its directory.
  let dir = path ?? '/etc/nullmailer';
  try {
    if ((await stat(dir)).isFile()) dir = dirname(dir);
  } catch (e) {
    throw noInput(`${dir} not found`, 'pass the nullmailer configuration directory: sysmail import nullmailer /etc/nullmailer', e);
  }
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw noInput(`cannot read the directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'run the import as root', e);
  }
  const files: NullmailerFiles = {};
  const other: Record<string, string> = {};
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const full = join(dir, name);
    if (!(NULLMAILER_FILES as readonly string[]).includes(name)) {
      if ((await stat(full).catch(() => null))?.isFile()) other[basename(full)] = '';
      continue;
    }
    const text = await readText(full);
    if (text !== null) files[name as (typeof NULLMAILER_FILES)[number]] = text;
  }
  if (Object.keys(other).length > 0) files.other = other;
  return { kind: 'nullmailer', dir, files };
}

/** Runs the matching pure importer on what readImportSource read. */
export function importSource(src: ImportSource, opts: ImportOptions = {}): ImportResult {
  switch (src.kind) {
    case 'esmtprc': return importEsmtprc(src.text, src.file, opts);
    case 'msmtprc': return importMsmtprc(src.text, src.file, opts);
    case 'ssmtp': return importSsmtp(src.text, src.revaliases, { conf: src.file, revaliases: src.revaliasesFile }, opts);
    case 'nullmailer': return importNullmailer(src.files, { ...opts, dir: src.dir });
  }
}

/** Read and import in one step, with this host's name and $HOME filled in. */
export async function importFrom(kind: ImportKind, path?: string | null, opts: ImportOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<ImportResult> {
  const src = await readImportSource(kind, path, env);
  return importSource(src, { hostname: opts.hostname ?? osHostname(), home: opts.home ?? env.HOME, secretsDir: opts.secretsDir });
}
