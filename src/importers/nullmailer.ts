/**
 * /etc/nullmailer/* -> sysmail.toml.
 *
 * Each `remotes` line (`host [smtp] [--]opt[=value]...`) becomes an smtp
 * transport; several remotes become one catch-all route with mode
 * "fallback", in file order, as nullmailer-send tries them. `adminaddr`
 * becomes general.admin; `me`, `defaulthost` and `defaultdomain` give
 * general.hostname and general.domain; `allmailfrom` (envelope only, like
 * sysmail's force_sender) and `helohost` apply to every transport;
 * `pausetime`, `maxpause` and `queuelifetime` become the spool retry
 * settings. Passwords from `pass=` go to secret files.
 * Pure; never throws; anything else is a warning naming the file and line.
 */
import { parsePort, warnCleartextAuth, movePassword } from './common.js';
import { splitQuoted } from './shell-words.js';
import { Draft, Notes, SECRETS_HEADER, standardHeader, type DraftTransport } from './model.js';
import type { ImportOptions, ImportResult } from './types.js';

/** The control files this importer reads; each holds the file's text. */
export interface NullmailerFiles {
  remotes?: string;
  adminaddr?: string;
  defaultdomain?: string;
  me?: string;
  defaulthost?: string;
  allmailfrom?: string;
  helohost?: string;
  idhost?: string;
  pausetime?: string;
  maxpause?: string;
  queuelifetime?: string;
  sendtimeout?: string;
  bounceto?: string;
  doublebounceto?: string;
  bouncelines?: string;
  /** Any other file found in the directory: name -> text. Each gets a warning. */
  other?: Record<string, string>;
}

export const NULLMAILER_FILES = [
  'remotes', 'adminaddr', 'defaultdomain', 'me', 'defaulthost', 'allmailfrom', 'helohost', 'idhost',
  'pausetime', 'maxpause', 'queuelifetime', 'sendtimeout', 'bounceto', 'doublebounceto', 'bouncelines',
] as const;

type ControlName = (typeof NULLMAILER_FILES)[number];

/** 60 -> "1m", 86400 -> "1d", 90 -> "90s": the largest exact unit. */
export function formatSeconds(n: number): string {
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (n >= size && n % size === 0) return `${n / size}${unit}`;
  }
  return `${n}s`;
}

interface Value {
  value: string;
  line: number;
  file: string;
}

export function importNullmailer(files: NullmailerFiles, opts: ImportOptions & { dir?: string } = {}): ImportResult {
  const dir = (opts.dir ?? '/etc/nullmailer').replace(/\/+$/, '');
  const path = (n: string) => `${dir}/${n}`;
  const notes = new Notes(path('remotes'));
  const draft = new Draft(opts);
  const present = NULLMAILER_FILES.filter((n) => files[n] !== undefined);
  draft.header.push(...standardHeader('nullmailer', [dir + (present.length ? ` (${present.join(', ')})` : '')]));

  /** A one-value control file: its first non-blank line. */
  const control = (name: ControlName): Value | null => {
    const text = files[name];
    if (text === undefined) return null;
    const lines = text.split('\n');
    let found: Value | null = null;
    lines.forEach((l, idx) => {
      const v = l.trim();
      if (v === '') return;
      if (found) notes.warn(idx + 1, `only the first line of ${name} is used (as nullmailer does): "${v}" ignored`, path(name));
      else found = { value: v, line: idx + 1, file: path(name) };
    });
    return found;
  };

  // general
  const me = control('me');
  const defaulthost = control('defaulthost');
  const defaultdomain = control('defaultdomain');
  if (me) draft.setGeneral('hostname', me.value, 'nullmailer me');
  const qualifyHost = defaulthost?.value ?? me?.value ?? opts.hostname ?? null;
  if (defaulthost || defaultdomain) {
    const src = (defaulthost ?? defaultdomain)!;
    if (qualifyHost === null) {
      notes.warn(src.line, 'defaultdomain only completes a host name without a dot, and this host\'s name is unknown: set general.domain by hand', src.file);
    } else {
      const d = !qualifyHost.includes('.') && qualifyHost !== 'localhost' && defaultdomain
        ? `${qualifyHost}.${defaultdomain.value}` : qualifyHost;
      draft.setGeneral('domain', d, `nullmailer ${defaulthost ? 'defaulthost' : 'me'}${defaultdomain && d !== qualifyHost ? ' + defaultdomain' : ''}: bare names like "root" become root@${d}`);
      if (defaultdomain && d === qualifyHost && qualifyHost.includes('.')) {
        notes.warn(defaultdomain.line, `defaultdomain only completes host names without a dot; "${qualifyHost}" has one, so it is not used (as in nullmailer)`, defaultdomain.file);
      }
    }
  }
  const admin = control('adminaddr');
  if (admin) {
    const addrs = admin.value.split(',').map((a) => a.trim()).filter((a) => a !== '');
    if (addrs.length > 0) {
      draft.setGeneral('admin', addrs[0]!, 'nullmailer adminaddr');
      if (addrs.length > 1) notes.warn(admin.line, `general.admin takes one address: used ${addrs[0]}; for the others (${addrs.slice(1).join(', ')}) add them to "root:" in /etc/aliases`, admin.file);
      notes.warn(admin.line, `nullmailer sent mail for every local user (user@localhost, user@${me?.value ?? 'me'}) to ${admin.value}; sysmail sends root's mail and bounces to general.admin. For other local users add lines such as "www-data: root" to /etc/aliases`, admin.file);
    }
  }

  // spool timing
  const seconds = (name: 'pausetime' | 'maxpause' | 'queuelifetime', key: string) => {
    const v = control(name);
    if (!v) return;
    if (!/^\d+$/.test(v.value) || Number(v.value) <= 0) {
      notes.warn(v.line, `"${v.value}" is not a number of seconds: not carried over`, v.file);
      return;
    }
    draft.setSpool(key, formatSeconds(Number(v.value)), `nullmailer ${name} (${v.value} seconds)`);
  };
  seconds('pausetime', 'retry_min');
  seconds('maxpause', 'retry_max');
  seconds('queuelifetime', 'max_lifetime');

  const helohost = control('helohost');
  const allmailfrom = control('allmailfrom');
  const notCarried: Array<[ControlName, string]> = [
    ['idhost', 'sysmail builds Message-IDs with general.hostname'],
    ['sendtimeout', 'sysmail has per-phase timeouts on each transport (timeouts = { connect, greeting, command, data })'],
    ['bounceto', 'sysmail sends bounces to the sender, and bounces of bounces to general.admin'],
    ['doublebounceto', 'sysmail sends bounces of bounces to general.admin'],
    ['bouncelines', 'sysmail bounces include the headers of the message'],
  ];
  for (const [name, why] of notCarried) {
    const v = control(name);
    if (v) notes.warn(v.line, `${name} is not carried over: ${why}`, v.file);
  }
  for (const name of Object.keys(files.other ?? {}).sort()) {
    notes.warn(0, `${name} is not a nullmailer control file this import knows: not carried over`, path(name));
  }

  // remotes
  const transports: DraftTransport[] = [];
  if (files.remotes === undefined) {
    notes.warn(0, 'no remotes file: nullmailer had nowhere to send mail; add an smtp transport by hand', path('remotes'));
  } else {
    files.remotes.split('\n').forEach((raw, idx) => {
      const t = remoteTransport(draft, notes, raw, idx + 1);
      if (t) transports.push(t);
    });
    if (transports.length === 0) notes.warn(0, 'remotes holds no usable SMTP remote: add an smtp transport by hand', path('remotes'));
  }
  for (const t of transports) {
    if (helohost) draft.set(t, 'helo', helohost.value, 'nullmailer helohost');
    if (allmailfrom) draft.set(t, 'force_sender', allmailfrom.value, 'nullmailer allmailfrom (envelope sender only, as here)');
  }
  if (transports.length === 1) {
    draft.addRoute({ name: 'default', comments: ['all mail: the nullmailer remote'], transports: [transports[0]!.name] });
  } else if (transports.length > 1) {
    draft.addRoute({
      name: 'default',
      comments: ['all mail: nullmailer tried the remotes in this order, moving on when one failed'],
      transports: transports.map((t) => t.name),
      mode: 'fallback',
    });
  }

  if (draft.secrets.length > 0) draft.header.push(SECRETS_HEADER);
  return { toml: draft.render(), secrets: draft.secrets, warnings: notes.result() };
}

function remoteTransport(draft: Draft, notes: Notes, raw: string, line: number): DraftTransport | null {
  const body = raw.trim();
  if (body === '' || body.startsWith('#')) return null;
  const words = splitQuoted(body);
  if (!words) {
    notes.warn(line, 'unbalanced quote: this remote was not carried over');
    return null;
  }
  const [host, proto = 'smtp', ...args] = words;
  if (proto !== 'smtp') {
    notes.warn(line, `protocol "${proto}" is not supported (sysmail speaks SMTP only): remote ${host} was not carried over`);
    return null;
  }
  const t = draft.addTransport(host!, 'smtp', [`nullmailer remote, line ${line}`]);
  draft.set(t, 'host', host!);
  const o = new Map<string, string>();
  for (const a of args) {
    const m = /^(?:--)?([^=]+)(?:=(.*))?$/.exec(a)!;
    o.set(m[1]!, m[2] ?? '');
  }
  const take = (k: string) => { const v = o.get(k); o.delete(k); return v; };

  const ssl = take('ssl') !== undefined;
  const tls = take('tls') !== undefined;
  const starttls = take('starttls') !== undefined;
  const security = starttls ? 'starttls' : ssl || tls ? 'tls' : 'none';
  const portText = take('port');
  const defPort = security === 'tls' ? 465 : 25;
  let port = defPort;
  if (portText !== undefined) {
    const p = parsePort(portText);
    if (p === null) notes.warn(line, `port "${portText}" is not a port number: used ${defPort}, nullmailer's default`);
    else port = p;
  }
  draft.set(t, 'port', port, portText === undefined ? 'nullmailer default' : undefined);
  draft.set(t, 'security', security, security === 'none' ? 'nullmailer default: no TLS' : security === 'tls' ? 'nullmailer --ssl' : 'nullmailer --starttls');
  if (starttls && (ssl || tls)) notes.warn(line, '--starttls and --ssl together: used STARTTLS, as nullmailer does');

  const ca = take('x509cafile');
  if (ca) draft.set(t, 'ca_file', ca, 'nullmailer x509cafile; sysmail also trusts the system CAs');
  const cert = take('x509certfile');
  const key = take('x509keyfile');
  if (cert) draft.set(t, 'client_cert', cert);
  if (key) draft.set(t, 'client_key', key);
  else if (cert) draft.set(t, 'client_key', cert, 'nullmailer read the key from the certificate file');
  if (take('insecure') !== undefined) {
    draft.set(t, 'tls_verify', false, 'nullmailer --insecure');
    notes.warn(line, '--insecure: certificate checks stay off for this transport, so the connection can be intercepted; pin the certificate (pin_sha256) or fix it and remove tls_verify = false');
  }

  const user = take('user');
  const pass = take('pass');
  if (take('auth-login') !== undefined) draft.set(t, 'auth_method', 'LOGIN', 'nullmailer --auth-login');
  if (user) {
    draft.set(t, 'username', user);
    if (pass !== undefined && pass !== '') {
      movePassword(draft, notes, t, pass, line);
    } else {
      notes.warn(line, `--user without --pass: add password_file to transport "${t.name}"`);
    }
  } else if (pass !== undefined) {
    notes.warn(line, '--pass without --user: nullmailer did not log in, so the password was not carried over');
  }

  const why: Record<string, string> = {
    'auth-external': 'sysmail does not support AUTH EXTERNAL',
    source: 'sysmail does not bind to a source address',
    x509crlfile: 'sysmail does not check certificate revocation lists',
    x509fmtder: 'sysmail reads PEM files only: convert with "openssl x509 -inform der"',
    'tls-anon-auth': 'sysmail never uses anonymous TLS',
  };
  for (const [k, v] of o) {
    // The value is never shown: a misspelt option may hold a password.
    notes.warn(line, why[k] ? `--${k} is not carried over: ${why[k]}` : `unknown option "--${k}"${v ? ' (value not shown)' : ''}: not carried over`);
  }
  warnCleartextAuth(draft, t, notes, line);
  return t;
}
