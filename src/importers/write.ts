/**
 * Writes an import to disk: each password to its own file (mode 0600, in a
 * directory made mode 0700), then the config (mode 0644; it holds no secret).
 *
 * Guarantees: nothing is written unless everything can be (an existing
 * config or secret file is refused up front unless `force`); every file is
 * written to a temporary name, fsynced, renamed into place and its directory
 * fsynced, so a crash leaves the old file or the new one, never half of one;
 * modes are set explicitly, whatever the umask; secrets are written before
 * the config, so a config never names a password file that is not there.
 * Errors are SysmailErrors: EX_CANTCREAT (73) for "exists", EX_IOERR-class
 * temporary errors for I/O.
 */
import { chmod, lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { EX, SysmailError, ioError } from '../core/errors.js';
import { fsyncDir } from '../core/fsync.js';
import { tomlString } from './toml.js';
import type { ImportResult } from './types.js';

export interface WriteImportOptions {
  /** Where sysmail.toml goes, e.g. /etc/sysmail/sysmail.toml. */
  configPath: string;
  /** Directory for the password files; default: the directory each secret suggests. */
  secretsDir?: string;
  /** Replace an existing config or password file. */
  force?: boolean;
}

export interface WriteImportReport {
  configPath: string;
  secretFiles: string[];
}

let tmpCounter = 0;

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw ioError(`cannot check ${path}`, e);
  }
}


/** tmp -> write -> fsync -> rename -> fsync dir, with an explicit mode. */
async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${++tmpCounter}`);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.chmod(mode); // the umask may have removed bits we want, or left ones we do not
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(dir);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw ioError(`cannot write ${path}`, e);
  }
}

function refuse(path: string, what: string): SysmailError {
  return new SysmailError('EIMPORTEXISTS', `${path} already exists; the import did not overwrite it`, {
    exit: EX.CANTCREAT,
    hint: `compare it with the ${what} printed by "sysmail import" without --write, or pass --force to replace it`,
  });
}

export async function writeImport(result: ImportResult, opts: WriteImportOptions): Promise<WriteImportReport> {
  const configPath = resolve(opts.configPath);
  let toml = result.toml;

  // Where each secret goes; the TOML is rewritten to match when the directory changes.
  const targets = result.secrets.map((s) => {
    const file = opts.secretsDir ? join(resolve(opts.secretsDir), basename(s.file)) : s.file;
    if (file !== s.file) toml = toml.split(tomlString(s.file)).join(tomlString(file));
    return { file, value: s.value };
  });

  if (!opts.force) {
    if (await exists(configPath)) throw refuse(configPath, 'configuration');
    for (const t of targets) if (await exists(t.file)) throw refuse(t.file, 'password file list');
  }

  // The config's directory first, 0755: a recursive mkdir of the secrets directory below it
  // would otherwise make it 0700 too, and no ordinary user's sendmail could read the config.
  await makeReadableDir(dirname(configPath));
  const dirs = [...new Set(targets.map((t) => dirname(t.file)))];
  for (const d of dirs) {
    try {
      await mkdir(d, { recursive: true, mode: 0o700 });
      await chmod(d, 0o700);
    } catch (e) {
      throw ioError(`cannot create the password directory ${d}`, e);
    }
  }
  for (const t of targets) await writeAtomic(t.file, t.value + '\n', 0o600);

  await writeAtomic(configPath, toml, 0o644);
  return { configPath, secretFiles: targets.map((t) => t.file) };
}

/** mkdir -p with 0755 for the directories it creates (whatever the umask); an existing one is left as it is. */
async function makeReadableDir(dir: string): Promise<void> {
  try {
    const first = await mkdir(dir, { recursive: true, mode: 0o755 });
    if (first === undefined) return;
    for (let d = dir; d.length >= first.length; d = dirname(d)) await chmod(d, 0o755);
  } catch (e) {
    throw ioError(`cannot create ${dir}`, e);
  }
}
