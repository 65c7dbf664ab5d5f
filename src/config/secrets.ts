/**
 * Resolves a SecretRef to the secret itself, only when it is needed.
 *
 * Sources: value (inline), file (first line; refused when others can read
 * or write it), command (argv, no shell, 10 s, first line of stdout), env,
 * credential ($CREDENTIALS_DIRECTORY/<name>, systemd LoadCredential=).
 *
 * Fails with SysmailError code 'ESECRET', exit EX_CONFIG, temporary true: the
 * caller decides what that means (`config check` reports a config error; a
 * delivery defers, because the file may be fixed or the vault may come back).
 * Messages name the source (path, variable, program) and never contain the
 * secret or a command's output.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { EX, SysmailError } from '../core/errors.js';
import type { Config, SecretRef } from './types.js';
import { SECRET_COMMAND_MAX_OUTPUT_BYTES, SECRET_COMMAND_TIMEOUT_MS } from './defaults.js';

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Names the secret in messages, e.g. "transports.relay.password". */
  label?: string;
  /** For tests; default SECRET_COMMAND_TIMEOUT_MS (10 s). */
  commandTimeoutMs?: number;
}

/** Largest secret file read; a password is never this long. */
const MAX_FILE_BYTES = 64 * 1024;

export function secretError(message: string, hint?: string, cause?: unknown): SysmailError {
  return new SysmailError('ESECRET', message, { exit: EX.CONFIG, temporary: true, hint, cause });
}

/** Which source a ref uses, as its config key: "password_file" etc. */
export function secretSource(ref: SecretRef): 'password' | 'password_file' | 'password_command' | 'password_env' | 'password_credential' {
  if (ref.value !== undefined) return 'password';
  if (ref.file !== undefined) return 'password_file';
  if (ref.command !== undefined) return 'password_command';
  if (ref.env !== undefined) return 'password_env';
  return 'password_credential';
}

/** Environment variables that held a password_env secret in this process: never passed to a child. */
const secretEnvNames = new Set<string>();

/** This process's environment without any password_env variable, for programs we start (preconnect, password_command). */
export function envForChildren(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const n of secretEnvNames) delete env[n];
  return env;
}

export async function resolveSecret(ref: SecretRef, opts: ResolveOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const label = opts.label ? `${opts.label}: ` : '';
  if (ref.value !== undefined) return ref.value;
  if (ref.file !== undefined) return fromFile(ref.file, label, true);
  if (ref.command !== undefined) return fromCommand(ref.command, label, opts.commandTimeoutMs ?? SECRET_COMMAND_TIMEOUT_MS);
  if (ref.env !== undefined) {
    secretEnvNames.add(ref.env);
    const v = env[ref.env];
    if (v === undefined || v === '') {
      throw secretError(`${label}environment variable ${ref.env} is not set or empty`,
        `set ${ref.env} in the environment of the sysmail service (systemd: Environment= or EnvironmentFile=)`);
    }
    return firstLine(v);
  }
  if (ref.credential !== undefined) {
    const dir = env.CREDENTIALS_DIRECTORY;
    if (!dir) {
      throw secretError(`${label}credential "${ref.credential}" cannot be read: $CREDENTIALS_DIRECTORY is not set`,
        `run under systemd with LoadCredential=${ref.credential}:/path/to/secret (or LoadCredentialEncrypted=)`);
    }
    // systemd makes the directory private to the service; no mode check needed.
    return fromFile(join(dir, ref.credential), label, false);
  }
  throw secretError(`${label}no password source is set`, 'set one of password_file, password_command, password_env, password_credential');
}

async function fromFile(path: string, label: string, checkMode: boolean): Promise<string> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT') throw secretError(`${label}password file ${path} does not exist`, `create it with the password on one line and chmod 600 ${path}`, e);
    if (errno === 'EACCES' || errno === 'EPERM') {
      throw secretError(`${label}cannot read password file ${path} (permission denied)`, `make it owned by the user sysmail runs as: chown USER ${path}; chmod 600 ${path}`, e);
    }
    throw secretError(`${label}cannot read password file ${path} (${errno ?? 'error'})`, undefined, e);
  }
  try {
    // fstat on the open handle, so the check and the read see the same file.
    const st = await fh.stat();
    if (!st.isFile()) throw secretError(`${label}password file ${path} is not a regular file`, 'name a file holding the password on one line');
    if (checkMode && (st.mode & 0o006) !== 0) {
      throw secretError(`${label}password file ${path} is readable or writable by others (mode ${(st.mode & 0o777).toString(8)})`,
        `chmod 600 ${path} (or 640 with a group the sysmail service is in)`);
    }
    if (st.size > MAX_FILE_BYTES) throw secretError(`${label}password file ${path} is ${st.size} bytes, too large for a password`, 'put only the password in it, on one line');
    const text = await fh.readFile('utf8');
    const secret = firstLine(text);
    if (secret === '') throw secretError(`${label}password file ${path} is empty`, 'put the password on its first line');
    return secret;
  } finally {
    await fh.close();
  }
}

async function fromCommand(argv: string[], label: string, timeoutMs: number): Promise<string> {
  const { spawn } = await import('node:child_process');
  const prog = argv[0] ?? '';
  return new Promise<string>((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (message: string, hint?: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(secretError(`${label}${message}`, hint, cause));
    };
    // stderr is discarded: whatever a helper prints must not reach logs or
    // errors, where it could leak the secret; the hint says how to debug.
    const child = spawn(prog, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'], shell: false, env: envForChildren() });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(`password command ${prog} did not finish within ${timeoutMs / 1000} s`, 'make it non-interactive (no prompt, no pinentry), or unlock the vault it reads');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      size += b.length;
      if (size > SECRET_COMMAND_MAX_OUTPUT_BYTES) {
        child.kill('SIGKILL');
        fail(`password command ${prog} printed more than ${SECRET_COMMAND_MAX_OUTPUT_BYTES} bytes`, 'it must print only the password, on one line');
        return;
      }
      chunks.push(b);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      const hint = e.code === 'ENOENT' ? 'give the full path of the program in password_command' : undefined;
      fail(`password command ${prog} could not be started (${e.code ?? e.message})`, hint, e);
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      if (code !== 0) {
        fail(`password command ${prog} failed (${signal ? `killed by ${signal}` : `exit status ${code}`})`,
          `run the command by hand as the sysmail user to see why`);
        return;
      }
      const secret = firstLine(Buffer.concat(chunks).toString('utf8'));
      if (secret === '') {
        fail(`password command ${prog} printed nothing`, 'it must print the password on the first line of its output');
        return;
      }
      settled = true;
      clearTimeout(timer);
      resolvePromise(secret);
    });
  });
}

function firstLine(s: string): string {
  const nl = s.indexOf('\n');
  const line = nl < 0 ? s : s.slice(0, nl);
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/** Every secret a config refers to, with its key, for `sysmail config check`. */
export function secretRefs(config: Config): { key: string; ref: SecretRef }[] {
  const out: { key: string; ref: SecretRef }[] = [];
  for (const t of Object.values(config.transports)) {
    if (t.type === 'smtp' && t.password) out.push({ key: `transports.${t.name}.password`, ref: t.password });
  }
  for (const [name, ref] of Object.entries(config.listener.users)) out.push({ key: `listener.users.${name}`, ref });
  return out;
}

/**
 * Resolves every secret once and returns the failures (never the values);
 * for `sysmail config check`, where a missing secret is a config error.
 */
export async function checkSecrets(config: Config, opts: Omit<ResolveOptions, 'label'> = {}): Promise<SysmailError[]> {
  const errors: SysmailError[] = [];
  for (const { key, ref } of secretRefs(config)) {
    try {
      await resolveSecret(ref, { ...opts, label: key });
    } catch (e) {
      if (e instanceof SysmailError) errors.push(e);
      else throw e;
    }
  }
  return errors;
}
