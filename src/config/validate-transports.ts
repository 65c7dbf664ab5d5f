/**
 * Validation of [transports.NAME] tables and of secret references
 * (password / password_file / password_command / password_env /
 * password_credential), shared with [listener.users].
 *
 * Guarantee: a returned transport is complete (every default applied) and
 * type-correct; every problem is recorded, none thrown. Transports with
 * problems are left out of the result, so routes to them are not reported a
 * second time as "undefined".
 */
import { join } from 'node:path';
import type {
  CommandTransportConfig, LocalTransportConfig, MotdTransportConfig, OciTransportConfig, SecretRef,
  SmtpTransportConfig, StdoutTransportConfig, TransportConfig,
} from './types.js';
import { Reader, type Problems, type Table } from './check.js';
import type { KeyPath } from './locate.js';
import * as D from './defaults.js';
import { addressProblem, closest, hostnameProblem, isIPv4, isIPv6, ocidProblem, urlProblem, userNameProblem } from './syntax.js';

/** Every transport type a config may name: the union in types.ts, listed for messages and lookups. */
export const TRANSPORT_TYPES = ['smtp', 'maildir', 'mbox', 'local', 'command', 'motd', 'stdout', 'oci-notifications'] as const satisfies
  ReadonlyArray<TransportConfig['type']>;
/** Fails to compile when a type is added to TransportConfig but not to TRANSPORT_TYPES. */
type MustBeEmpty<T extends never> = T;
export type UnlistedTransportTypes = MustBeEmpty<Exclude<TransportConfig['type'], (typeof TRANSPORT_TYPES)[number]>>;

export interface TransportCtx {
  p: Problems;
  /** Final spool dir: the OCI archive lives under it by default. */
  spoolDir: string;
  /** For "~/" in config_file. */
  home: string;
  /** Where inline secrets were found, for the file-permission rule. */
  inline: KeyPath[];
}

const SECRET_KEYS = ['password', 'password_file', 'password_command', 'password_env', 'password_credential'] as const;

/**
 * Reads the password source of a table. Returns null when there is none,
 * undefined when it is broken (already reported).
 */
export function readSecret(r: Reader, inline: KeyPath[]): SecretRef | null | undefined {
  const present = SECRET_KEYS.filter((k) => r.has(k));
  if (present.length > 1) {
    r.p.add(r.at(present[1]!), `a second password source (also ${present[0]}); keep exactly one of ${SECRET_KEYS.join(', ')}`);
    return undefined;
  }
  const key = present[0];
  if (key === undefined) return null;
  switch (key) {
    case 'password': {
      const v = r.str(key, { secret: true });
      if (v === undefined) return undefined;
      inline.push(r.at(key));
      return { value: v };
    }
    case 'password_file': {
      const v = r.absPath(key);
      return v ? { file: v } : undefined;
    }
    case 'password_command': {
      const v = r.argv(key);
      return v ? { command: v } : undefined;
    }
    case 'password_env': {
      const v = r.str(key);
      if (v === undefined) return undefined;
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) {
        r.p.add(r.at(key), `is not an environment variable name (got "${v}"); write the name without "$", e.g. "SMTP_PASSWORD"`);
        return undefined;
      }
      return { env: v };
    }
    case 'password_credential': {
      const v = r.str(key);
      if (v === undefined) return undefined;
      if (v.includes('/') || v === '.' || v === '..') {
        r.p.add(r.at(key), `is not a credential name (got "${v}"); give the name from LoadCredential=NAME:/path, not a path`);
        return undefined;
      }
      return { credential: v };
    }
  }
}

export function readTransports(t: Table | undefined, ctx: TransportCtx): Record<string, TransportConfig> {
  const out: Record<string, TransportConfig> = {};
  if (t === undefined) return out;
  for (const name of Object.keys(t)) {
    const path = ['transports', name];
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
      ctx.p.add(path, 'is not a usable transport name; use letters, digits, "-", "_" and "."');
      continue;
    }
    const top = new Reader(t, ['transports'], ctx.p);
    const table = top.table(name);
    if (!table) continue;
    const before = ctx.p.list.length;
    const tc = readTransport(new Reader(table, path, ctx.p), name, ctx);
    if (tc && ctx.p.list.length === before) out[name] = tc;
  }
  return out;
}

function readTransport(r: Reader, name: string, ctx: TransportCtx): TransportConfig | undefined {
  const type = r.raw('type');
  if (type === undefined) {
    r.missing('type', `set type = one of ${TRANSPORT_TYPES.map((x) => `"${x}"`).join(', ')}`);
    return undefined;
  }
  if (typeof type !== 'string' || !(TRANSPORT_TYPES as readonly string[]).includes(type)) {
    const near = typeof type === 'string' ? closest(type, TRANSPORT_TYPES) : null;
    r.p.add(r.at('type'), `unknown transport type (got ${JSON.stringify(type)}); use one of ${TRANSPORT_TYPES.join(', ')}${near ? `; did you mean "${near}"?` : ''}`);
    return undefined;
  }
  let tc: TransportConfig | undefined;
  switch (type as (typeof TRANSPORT_TYPES)[number]) {
    case 'smtp': tc = readSmtp(r, name, ctx); break;
    case 'maildir': {
      const path = r.absPath('path', { required: 'give the Maildir directory, e.g. path = "/var/mail/root.maildir"' });
      tc = path ? { name, type: 'maildir', path } : undefined;
      break;
    }
    case 'mbox': {
      const path = r.absPath('path', { required: 'give the mbox file, e.g. path = "/var/mail/root"' });
      tc = path ? { name, type: 'mbox', path } : undefined;
      break;
    }
    case 'local': tc = readLocal(r, name); break;
    case 'command': tc = readCommand(r, name); break;
    case 'motd': tc = readMotd(r, name); break;
    case 'stdout': tc = readStdout(r, name); break;
    case 'oci-notifications': tc = readOci(r, name, ctx); break;
  }
  r.done();
  return tc;
}

function readSmtp(r: Reader, name: string, ctx: TransportCtx): SmtpTransportConfig | undefined {
  const host = r.str('host', { required: 'name the smarthost, e.g. host = "smtp.example.com"' });
  if (host !== undefined && hostnameProblem(host) && !isIPv4(host) && !isIPv6(host)) {
    r.p.add(r.at('host'), `is not a host name or IP address (got "${host}"); give just the name or address, without "smtp://", brackets or a port`);
  }
  const security = r.oneOf('security', ['starttls', 'opportunistic', 'tls', 'none'] as const) ?? D.DEFAULT_SMTP_SECURITY;
  const portSet = r.int('port', 1, 65535, 'use a port from 1 to 65535 (465 for implicit TLS, 587 for STARTTLS)');
  const port = portSet ?? (security === 'tls' ? D.SMTP_PORT_IMPLICIT_TLS : D.SMTP_PORT_SUBMISSION);
  if (r.has('port') && portSet !== undefined) {
    if (security === 'tls' && (port === 25 || port === 587)) {
      r.p.add(r.at('port'), `port ${port} speaks STARTTLS, not implicit TLS; set security = "starttls", or port = 465`);
    } else if (port === 465 && (security === 'starttls' || security === 'opportunistic')) {
      r.p.add(r.at('port'), `port 465 is implicit TLS (SMTPS); set security = "tls", or use port 587 for STARTTLS`);
    }
  }
  const tlsVerify = r.bool('tls_verify') ?? D.DEFAULT_TLS_VERIFY;
  const caFile = r.absPath('ca_file') ?? null;
  let pin = r.str('pin_sha256') ?? null;
  if (pin !== null) {
    const hex = pin.replace(/:/g, '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) {
      r.p.add(r.at('pin_sha256'), 'is not a SHA-256 fingerprint (64 hex digits, colons allowed); get it with `openssl x509 -noout -fingerprint -sha256 -in CERT`');
    }
    pin = hex;
  }
  const clientCert = r.absPath('client_cert') ?? null;
  const clientKey = r.absPath('client_key') ?? null;
  if ((clientCert === null) !== (clientKey === null) && !(r.has('client_cert') && r.has('client_key'))) {
    const missing = clientCert === null ? 'client_cert' : 'client_key';
    r.p.add(r.at(missing), `is required with ${missing === 'client_cert' ? 'client_key' : 'client_cert'}; give both files, or neither`, r.path);
  }
  const tlsServername = r.str('tls_servername') ?? null;
  const username = r.str('username') ?? null;
  const password = readSecret(r, ctx.inline);
  if (password && username === null) {
    r.p.add(r.at('username'), 'is required when a password is given; set username = "..."', r.path);
  } else if (password === null && username !== null) {
    r.p.add(r.at('password'), `is missing: username is set but no password source; add one of password_file, password_command, password_env, password_credential`, r.at('username'));
  }
  const allowPlaintextAuth = r.bool('allow_plaintext_auth') ?? false;
  const authMethod = r.oneOf('auth_method', ['PLAIN', 'LOGIN', 'CRAM-MD5'] as const) ?? null;
  const helo = r.str('helo') ?? null;
  if (helo !== null && hostnameProblem(helo)) r.p.add(r.at('helo'), `is not a host name (got "${helo}"); servers reject such an EHLO`);
  const forceSender = r.str('force_sender') ?? null;
  if (forceSender !== null) {
    const why = addressProblem(forceSender);
    if (why) r.p.add(r.at('force_sender'), `is not a valid address: it ${why} (got "${forceSender}"); write user@example.com`);
  }
  const rewriteFrom = r.str('rewrite_from') ?? null;
  if (rewriteFrom !== null) {
    const why = addressProblem(rewriteFrom);
    if (why || !rewriteFrom.includes('@')) {
      r.p.add(r.at('rewrite_from'), `is not a full address: it ${why ?? 'has no domain'} (got "${rewriteFrom}"); write the relay's approved sender, e.g. alerts@example.com`);
    }
  }
  const preconnect = r.argv('preconnect') ?? null;
  const timeouts = { connect: D.SMTP_CONNECT_TIMEOUT_MS, greeting: D.SMTP_GREETING_TIMEOUT_MS, command: D.SMTP_COMMAND_TIMEOUT_MS, data: D.SMTP_DATA_TIMEOUT_MS };
  const tt = r.table('timeouts');
  if (tt) {
    const tr = new Reader(tt, r.at('timeouts'), r.p);
    for (const k of ['connect', 'greeting', 'command', 'data'] as const) {
      timeouts[k] = tr.duration(k, 1000, D.MAX_TIMEOUT_MS) ?? timeouts[k];
    }
    tr.done();
  }
  if (host === undefined) return undefined;
  return {
    name, type: 'smtp', host, port, security, tlsVerify, caFile, pinSha256: pin, clientCert, clientKey, tlsServername,
    username, password: password ?? null, allowPlaintextAuth, authMethod, helo, forceSender, rewriteFrom, preconnect, timeouts,
  };
}

function readLocal(r: Reader, name: string): LocalTransportConfig {
  const format = r.oneOf('format', ['mbox', 'maildir'] as const) ?? D.DEFAULT_LOCAL_FORMAT;
  const mailDir = r.absPath('mail_dir') ?? D.DEFAULT_LOCAL_MAIL_DIR;
  const maildirName = r.str('maildir_name') ?? D.DEFAULT_LOCAL_MAILDIR_NAME;
  if (maildirName.startsWith('/') || maildirName.split('/').includes('..')) {
    r.p.add(r.at('maildir_name'), `must be a path inside the user's home (got "${maildirName}"); write it relative, e.g. "Maildir"`);
  }
  return { name, type: 'local', format, mailDir, maildirName };
}

function readCommand(r: Reader, name: string): CommandTransportConfig | undefined {
  const argv = r.argv('argv', { required: 'give the program and its arguments, e.g. argv = ["/usr/local/bin/notify", "{subject}"]' });
  const stdin = r.oneOf('stdin', ['message', 'body', 'none'] as const) ?? D.DEFAULT_COMMAND_STDIN;
  const timeout = r.duration('timeout', 1000, D.MAX_TIMEOUT_MS) ?? D.COMMAND_TRANSPORT_TIMEOUT_MS;
  const user = r.str('user') ?? null;
  if (user !== null && userNameProblem(user)) r.p.add(r.at('user'), `is not a valid user name (got "${user}")`);
  return argv ? { name, type: 'command', argv, stdin, timeout, user } : undefined;
}

function readMotd(r: Reader, name: string): MotdTransportConfig {
  const path = r.absPath('path') ?? D.DEFAULT_MOTD_PATH;
  const keep = r.int('keep', 1, D.MAX_MOTD_KEEP, `keep from 1 to ${D.MAX_MOTD_KEEP} notices`) ?? D.DEFAULT_MOTD_KEEP;
  return { name, type: 'motd', path, keep };
}

function readStdout(r: Reader, name: string): StdoutTransportConfig {
  return { name, type: 'stdout', format: r.oneOf('format', ['message', 'summary'] as const) ?? D.DEFAULT_STDOUT_FORMAT };
}

function readOci(r: Reader, name: string, ctx: TransportCtx): OciTransportConfig | undefined {
  const topicId = r.str('topic_id', { required: 'copy the topic OCID from the console: topic_id = "ocid1.onstopic.oc1..."' });
  if (topicId !== undefined) {
    const why = ocidProblem(topicId, 'onstopic', 'notification topic');
    if (why) r.p.add(r.at('topic_id'), `${why} (got "${topicId}"); copy the topic's OCID from the console`);
  }
  const region = r.str('region', { required: 'name the topic\'s region, e.g. region = "eu-frankfurt-1"' });
  if (region !== undefined && !/^[a-z]{2,}(-[a-z0-9]+)*-\d+$/.test(region)) {
    r.p.add(r.at('region'), `is not an OCI region identifier (got "${region}"); write it like "us-ashburn-1", not a short key like "IAD"`);
  }
  const url = (key: string): string | null | undefined => {
    const v = r.str(key);
    if (v === undefined) return undefined;
    const why = urlProblem(v);
    if (why) {
      r.p.add(r.at(key), `${why} (got "${v}"); write a full URL like "https://host/path"`);
      return undefined;
    }
    return v.replace(/\/+$/, '');
  };
  const endpoint = url('endpoint') ?? null;
  const auth = r.oneOf('auth', ['api_key', 'instance_principal'] as const) ?? D.DEFAULT_OCI_AUTH;
  let configFile = D.DEFAULT_OCI_CONFIG_FILE;
  const cf = r.raw('config_file');
  if (typeof cf === 'string' && cf.startsWith('~/')) configFile = cf;
  else configFile = r.absPath('config_file') ?? configFile;
  if (configFile.startsWith('~/')) configFile = join(ctx.home, configFile.slice(2));
  const profile = r.str('profile') ?? D.DEFAULT_OCI_PROFILE;
  const metadataUrl = url('metadata_url') ?? D.DEFAULT_OCI_METADATA_URL;
  const federationUrl = url('federation_url') ?? null;
  const archiveSet = r.absPath('archive_dir', { off: true });
  const archiveDir = archiveSet === undefined ? join(ctx.spoolDir, D.OCI_ARCHIVE_SUBDIR) : archiveSet;
  const timeout = r.duration('timeout', 1000, D.MAX_TIMEOUT_MS) ?? D.OCI_TIMEOUT_MS;
  if (topicId === undefined || region === undefined) return undefined;
  return { name, type: 'oci-notifications', topicId, region, endpoint, auth, configFile, profile, metadataUrl, federationUrl, archiveDir, timeout };
}
