/**
 * API-key auth from an OCI CLI/SDK config file (~/.oci/config).
 *
 * Guarantees: reads the file the way the SDKs do (INI, `[PROFILE]`, keys
 * inherited from [DEFAULT], no quote processing, `~/` expanded); the key is
 * loaded with its pass_phrase passed explicitly so OpenSSL never prompts.
 * Fails with EX_CONFIG naming the file (and line) and the fix. A config or
 * key file readable by group or others, or a fingerprint that does not match
 * the key, is a *warning* (as in the OCI CLI), never a reason to stop mail.
 */
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { configError } from '../../core/errors.js';
import { keyFingerprint } from './signer.js';
import type { OciAuth, OciCredentials } from './auth.js';

export type OciConfigFile = Map<string, Map<string, string>>;

/** Parses the INI text; a line that is neither a section, a comment nor key=value is an error. */
export function parseOciConfig(text: string, path: string): OciConfigFile {
  const out: OciConfigFile = new Map();
  let section: Map<string, string> | null = null;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[([^\]]+)\]$/.exec(line);
    if (sec) {
      const name = sec[1]!.trim();
      section = out.get(name) ?? new Map();
      out.set(name, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) {
      throw configError(`${path}:${i + 1}: expected "key=value" or "[PROFILE]", found "${line.slice(0, 60)}"`,
        'fix the line; the format is described at https://docs.oracle.com/en-us/iaas/Content/API/Concepts/sdkconfig.htm');
    }
    if (!section) {
      throw configError(`${path}:${i + 1}: "${line.slice(0, eq).trim()}" appears before any [PROFILE] header`,
        'put the key under a profile header such as [DEFAULT]');
    }
    section.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return out;
}

/** The profile's keys with [DEFAULT] filled in underneath, as the SDKs do. */
export function profileValues(file: OciConfigFile, profile: string, path: string): Map<string, string> {
  const own = file.get(profile);
  if (!own) {
    const have = [...file.keys()].join(', ') || 'none';
    throw configError(`${path}: profile [${profile}] not found (profiles present: ${have})`,
      'set `profile` in the transport to one of them, or add the profile with `oci setup config`');
  }
  return new Map([...(file.get('DEFAULT') ?? new Map<string, string>()), ...own]);
}

export function expandHome(p: string, home: string): string {
  return p === '~' ? home : p.startsWith('~/') ? resolve(home, p.slice(2)) : p;
}

/** The OCI CLI's wording, plus the plain chmod for hosts without the CLI. */
export function permissionWarning(path: string, mode: number): string {
  return `WARNING: Permissions on ${path} are too open (${(mode & 0o777).toString(8).padStart(4, '0')}). ` +
    `To fix this please execute the following command: oci setup repair-file-permissions --file ${path} ` +
    `(or: chmod 600 ${path})`;
}

async function checkPermissions(path: string, warnings: string[], env: NodeJS.ProcessEnv): Promise<void> {
  if (env.OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING === 'True') return;
  try {
    const st = await stat(path);
    if ((st.mode & 0o077) !== 0) warnings.push(permissionWarning(path, st.mode));
  } catch {
    // The read that follows reports a missing file with a better message.
  }
}

async function readConfigFile(path: string, what: string, hint: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw configError(`cannot read ${what} ${path}: ${code ?? (err as Error).message}`, hint, err);
  }
}

/** Loads a PEM private key, encrypted or not; errors say whether the pass_phrase is missing or wrong. */
export function loadPrivateKey(pem: string, passphrase: string | undefined, path: string, where: string): KeyObject {
  const encrypted = /ENCRYPTED/.test(pem);
  if (encrypted && !passphrase) {
    throw configError(`${path} is an encrypted private key and ${where} has no pass_phrase`,
      `add "pass_phrase=<the key's passphrase>" to ${where}`);
  }
  try {
    // Always pass a passphrase so OpenSSL never prompts on a terminal.
    const key = createPrivateKey({ key: pem, format: 'pem', passphrase: passphrase ?? '' });
    if (key.asymmetricKeyType !== 'rsa') {
      throw configError(`${path} is a ${key.asymmetricKeyType} key; OCI API keys are RSA`,
        'generate an RSA key of 2048 bits or more (`oci setup keys`) and upload its public half');
    }
    return key;
  } catch (err) {
    if ((err as { code?: string }).code === 'EBADCONFIG') throw err;
    throw configError(encrypted ? `cannot decrypt ${path}: the pass_phrase in ${where} is wrong`
      : `${path} is not a PEM private key: ${(err as Error).message}`,
      encrypted ? `correct pass_phrase in ${where}` : 'point key_file at the PEM private key whose public half you uploaded',
      err);
  }
}

export interface ApiKeyAuthOptions {
  configFile: string;
  profile: string;
  home?: string;
  env?: NodeJS.ProcessEnv;
}

/** Reads config and key once; the returned auth hands out the same credentials until dropped. */
export async function loadApiKeyAuth(opts: ApiKeyAuthOptions): Promise<OciAuth> {
  const home = opts.home ?? homedir();
  const env = opts.env ?? process.env;
  const path = resolve(expandHome(opts.configFile, home));
  const warnings: string[] = [];
  await checkPermissions(path, warnings, env);
  const text = await readConfigFile(path, 'OCI config file', 'create it with `oci setup config`, or set `config_file` in the transport');
  const values = profileValues(parseOciConfig(text, path), opts.profile, path);
  const where = `profile [${opts.profile}] of ${path}`;
  const need = (k: string): string => {
    const v = values.get(k);
    if (!v) throw configError(`${where} has no "${k}"`, `add "${k}=…" to the profile (see \`oci setup config\`)`);
    return v;
  };
  const keyFileRaw = need('key_file');
  const keyFile = isAbsolute(expandHome(keyFileRaw, home)) ? expandHome(keyFileRaw, home)
    : resolve(dirname(path), keyFileRaw);
  await checkPermissions(keyFile, warnings, env);
  const pem = await readConfigFile(keyFile, 'OCI API key', `fix key_file in ${where}`);
  const privateKey = loadPrivateKey(pem, values.get('pass_phrase'), keyFile, where);

  let keyId: string;
  const tokenFile = values.get('security_token_file');
  if (tokenFile) {
    const tokenPath = expandHome(tokenFile, home);
    const token = (await readConfigFile(tokenPath, 'OCI session token', 'renew it with `oci session authenticate`')).trim();
    keyId = `ST$${token}`;
  } else {
    const fingerprint = need('fingerprint');
    const actual = keyFingerprint(privateKey);
    if (actual !== fingerprint.toLowerCase()) {
      warnings.push(`WARNING: fingerprint ${fingerprint} in ${where} does not match ${keyFile} (its fingerprint is ${actual}); ` +
        'OCI will answer 401 NotAuthenticated: set fingerprint to the value the console shows for this key');
    }
    keyId = `${need('tenancy')}/${need('user')}/${fingerprint}`;
  }
  const creds: OciCredentials = { keyId, privateKey };
  return {
    kind: 'api_key',
    region: values.get('region') ?? null,
    warnings,
    credentials: async () => creds,
    invalidate: () => false,
  };
}
