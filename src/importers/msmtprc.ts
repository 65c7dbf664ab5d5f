/**
 * msmtprc -> sysmail.toml.
 *
 * Each msmtp account (with `defaults` and `account X : Y` inheritance already
 * applied) becomes an smtp transport; an account whose settings are identical
 * to an earlier one (typically `account default : work`) reuses that
 * transport. Accounts with a `from` get a route keyed by match.sender, in file
 * order (msmtp picks the first account whose from matches -f); the account
 * named "default" is the catch-all. `password` goes to a secret file,
 * `passwordeval` becomes password_command, `tls_fingerprint` (SHA-256) becomes
 * pin_sha256, `aliases` becomes general.aliases. Every other difference is a
 * warning with the line that set it. Pure; never throws.
 */
import { commandArgv } from './shell-words.js';
import { parsePort, warnCleartextAuth, movePassword } from './common.js';
import { parseMsmtprc, type MSetting, type MsmtpAccount } from './msmtprc-parse.js';
import { Draft, Notes, SECRETS_HEADER, standardHeader, type DraftTransport } from './model.js';
import type { ImportOptions, ImportResult } from './types.js';

const isOn = (v: string) => v === '' || v === 'on';
const isOff = (v: string) => v === 'off';

const AUTH: Record<string, 'PLAIN' | 'LOGIN' | 'CRAM-MD5'> = { plain: 'PLAIN', login: 'LOGIN', 'cram-md5': 'CRAM-MD5' };

/** Commands sysmail has no equivalent for, and what to tell the admin. */
const NOT_CARRIED: Record<string, string> = {
  logfile: 'sysmail logs every delivery attempt as JSON lines to its own log ([log] file, /var/log/sysmail/sysmail.log by default)',
  logfile_time_format: 'sysmail log lines carry ISO-8601 timestamps',
  timeout: 'sysmail has its own per-phase timeouts (timeouts = { connect, greeting, command, data } on the transport)',
  connect_timeout: 'sysmail has its own per-phase timeouts (timeouts = { connect, greeting, command, data } on the transport)',
  proxy_host: 'sysmail does not connect through SOCKS proxies',
  proxy_port: 'sysmail does not connect through SOCKS proxies',
  socket: 'sysmail does not connect to Unix sockets; use a host and port',
  source_ip: 'sysmail does not bind to a source address',
  dsn_notify: 'DSN NOTIFY comes from sendmail -N per message, not from the config',
  dsn_return: 'DSN RET comes from sendmail -R per message, not from the config',
  tls_crl_file: 'sysmail does not check certificate revocation lists',
  tls_priorities: 'sysmail uses Node.js TLS defaults (TLS 1.2 or newer)',
  tls_min_dh_prime_bits: 'sysmail uses Node.js TLS defaults (TLS 1.2 or newer)',
  tls_force_sslv3: 'SSLv3 is never used',
  ntlmdomain: 'sysmail does not support NTLM',
  add_missing_from_header: 'sysmail adds From, Date and Message-ID when the message has none',
  add_missing_date_header: 'sysmail adds From, Date and Message-ID when the message has none',
  set_from_header: 'sysmail does not rewrite the From header',
  set_date_header: 'sysmail adds Date only when the message has none',
  set_msgid_header: 'sysmail adds Message-ID only when the message has none',
  set_to_header: 'sysmail does not rewrite the To header',
  remove_bcc_headers: 'sysmail always removes Bcc headers before sending',
  undisclosed_recipients: 'sysmail does not replace the To header',
  keepbcc: 'sysmail always removes Bcc headers before sending',
  from_full_name: 'sysmail takes the full name from sendmail -F',
  auto_from: 'sysmail derives the sender from the submitting user and general.domain',
  maildomain: 'sysmail derives the sender from the submitting user and general.domain (set general.domain)',
  eval: 'sysmail does not run commands to build its configuration',
};

/** The commands this importer understands (the rest are "unknown"). */
const HANDLED = new Set([
  'host', 'port', 'tls', 'tls_starttls', 'tls_nostarttls', 'tls_trust_file', 'tls_fingerprint', 'tls_certcheck',
  'tls_nocertcheck', 'tls_cert_file', 'tls_key_file', 'tls_host_override', 'auth', 'user', 'password',
  'passwordeval', 'from', 'allow_from_override', 'domain', 'syslog', 'aliases', 'protocol',
]);

function sameSettings(a: MsmtpAccount, b: MsmtpAccount): boolean {
  if (a.effective.size !== b.effective.size) return false;
  for (const [k, v] of a.effective) if (b.effective.get(k)?.value !== v.value) return false;
  return true;
}

function accountTransport(draft: Draft, notes: Notes, acc: MsmtpAccount): DraftTransport | null {
  const e = acc.effective;
  const get = (k: string): MSetting | undefined => e.get(k);
  const host = get('host');
  if (!host || host.value === '') {
    notes.warn(acc.line, `account "${acc.name}" has no host: msmtp could not send with it, so it was not carried over`);
    return null;
  }
  const t = draft.addTransport(acc.name, 'smtp', [`msmtp account "${acc.name}" (line ${acc.line})`]);
  draft.set(t, 'host', host.value);

  const tlsOn = get('tls') ? isOn(get('tls')!.value) : false;
  let starttls = get('tls_starttls') ? !isOff(get('tls_starttls')!.value) : true;
  if (get('tls_nostarttls')) starttls = false;
  const security = !tlsOn ? 'none' : starttls ? 'starttls' : 'tls';

  const port = get('port');
  const defPort = security === 'tls' ? 465 : 25;
  if (port) {
    const p = parsePort(port.value);
    if (p === null) notes.warn(port.line, `port "${port.value}" is not a valid port number; used ${defPort}, msmtp's default`);
    draft.set(t, 'port', p ?? defPort);
  } else {
    draft.set(t, 'port', defPort, 'msmtp default');
  }
  draft.set(t, 'security', security, !tlsOn ? 'msmtp "tls off" (its default)' : starttls ? 'msmtp "tls on", STARTTLS required' : 'msmtp "tls_starttls off": TLS from the first byte');

  if (tlsOn) tlsSettings(draft, notes, t, acc);
  else {
    for (const k of ['tls_trust_file', 'tls_fingerprint', 'tls_certcheck', 'tls_nocertcheck', 'tls_cert_file', 'tls_key_file', 'tls_host_override']) {
      const s = get(k);
      if (s) notes.warn(s.line, `"${k}" has no effect in account "${acc.name}" because tls is off there (in msmtp as in sysmail): not carried over for it`);
    }
  }

  const domain = get('domain');
  if (domain && domain.value !== '') draft.set(t, 'helo', domain.value, 'msmtp "domain"');

  authSettings(draft, notes, t, acc);

  const proto = get('protocol');
  if (proto && proto.value !== 'smtp') notes.warn(proto.line, `protocol "${proto.value}" is not supported: sysmail speaks SMTP only; the transport uses SMTP`);

  const from = get('from');
  const afo = get('allow_from_override');
  if (afo && isOff(afo.value)) {
    if (from && from.value !== '' && !from.value.includes('%') && !/[*?]/.test(from.value)) {
      draft.set(t, 'force_sender', from.value, `msmtp "allow_from_override off" (line ${afo.line})`);
    } else {
      notes.warn(afo.line, '"allow_from_override off" needs a plain "from" address to force: not carried over');
    }
  }

  for (const [k, s] of e) {
    if (HANDLED.has(k)) continue;
    if (k in NOT_CARRIED) notes.warn(s.line, `"${k}" is not carried over: ${NOT_CARRIED[k]}`);
    else notes.warn(s.line, `unknown msmtp command "${k}": msmtp would reject the file; ignored`);
  }

  warnCleartextAuth(draft, t, notes, host.line);
  return t;
}

function tlsSettings(draft: Draft, notes: Notes, t: DraftTransport, acc: MsmtpAccount): void {
  const get = (k: string) => acc.effective.get(k);
  const trust = get('tls_trust_file');
  if (trust && trust.value !== '' && trust.value !== 'system') {
    draft.set(t, 'ca_file', draft.expandHome(trust.value, notes, trust.line), 'msmtp tls_trust_file; sysmail also trusts the system CAs');
  }
  const certcheck = get('tls_certcheck');
  if ((certcheck && isOff(certcheck.value)) || get('tls_nocertcheck')) {
    const line = (certcheck ?? get('tls_nocertcheck'))!.line;
    draft.set(t, 'tls_verify', false, 'msmtp "tls_certcheck off"');
    notes.warn(line, 'certificate checks were off (tls_certcheck off) and stay off for this transport, so the connection can be intercepted: pin the certificate (pin_sha256) or fix it and remove tls_verify = false');
  }
  const fp = get('tls_fingerprint');
  if (fp && fp.value !== '') {
    const hex = fp.value.replace(/:/g, '');
    const bytes = /^[0-9a-fA-F]+$/.test(hex) ? hex.length / 2 : 0;
    if (bytes === 32) {
      draft.set(t, 'pin_sha256', fp.value, 'msmtp tls_fingerprint');
      notes.warn(fp.line, 'msmtp trusted the pinned certificate instead of checking it against CAs; sysmail checks both. If the certificate is self-signed, set ca_file to a file holding it (or its CA)');
    } else if (bytes === 20 || bytes === 16) {
      notes.warn(fp.line, `tls_fingerprint is a ${bytes === 20 ? 'SHA-1' : 'MD5'} fingerprint; sysmail pins SHA-256 only: get it with "openssl x509 -noout -fingerprint -sha256 -in CERT" and set pin_sha256`);
    } else {
      notes.warn(fp.line, 'tls_fingerprint is not a hex fingerprint: not carried over');
    }
  }
  const cert = get('tls_cert_file');
  const key = get('tls_key_file');
  if (cert && cert.value !== '') draft.set(t, 'client_cert', draft.expandHome(cert.value, notes, cert.line));
  if (key && key.value !== '') draft.set(t, 'client_key', draft.expandHome(key.value, notes, key.line));
  const sni = get('tls_host_override');
  if (sni && sni.value !== '') draft.set(t, 'tls_servername', sni.value, 'msmtp tls_host_override');
}

function authSettings(draft: Draft, notes: Notes, t: DraftTransport, acc: MsmtpAccount): void {
  const get = (k: string) => acc.effective.get(k);
  const auth = get('auth');
  const user = get('user');
  const password = get('password');
  const peval = get('passwordeval');
  const credentials = [user, password, peval].filter((s): s is MSetting => !!s && s.value !== '');
  if (!auth || isOff(auth.value)) {
    for (const s of credentials) {
      notes.warn(s.line, `account "${acc.name}": authentication is not on (${auth ? `"auth off" on line ${auth.line}` : 'no "auth" command'}), so msmtp did not log in and neither does this transport; ${s === user ? 'user' : s === password ? 'password' : 'passwordeval'} is not carried over`);
    }
    return;
  }
  const mech = auth.value.toLowerCase();
  if (!isOn(mech)) {
    if (AUTH[mech]) draft.set(t, 'auth_method', AUTH[mech]!);
    else notes.warn(auth.line, `auth method "${auth.value}" is not supported (sysmail has PLAIN, LOGIN and CRAM-MD5): the transport uses the best of those the server offers`);
  }
  if (!user || user.value === '') {
    notes.warn(auth.line, `account "${acc.name}": auth is on but there is no user; add username to transport "${t.name}"`);
    return;
  }
  draft.set(t, 'username', user.value);
  if (password && password.value !== '') {
    movePassword(draft, notes, t, password.value, password.line);
    if (peval && peval.value !== '') {
      notes.warn(peval.line, `passwordeval is ignored for account "${acc.name}" because a password is set (line ${password.line}), as msmtp does`);
    }
  } else if (peval && peval.value !== '') {
    const c = commandArgv(peval.value);
    draft.set(t, 'password_command', c.argv, 'msmtp passwordeval');
    notes.warn(peval.line, c.shell
      ? `passwordeval runs through /bin/sh -c as password_command (it uses ${c.reason}); it runs as the sysmail process, not in your login session, so check it works there (e.g. gpg needs its keyring and agent)`
      : 'passwordeval became password_command (run without a shell); it runs as the sysmail process, not in your login session, so check it works there (e.g. gpg needs its keyring and agent)');
  } else {
    notes.warn(user.line, `account "${acc.name}" has a user but no password: msmtp would have asked a key ring, ~/.netrc or the terminal; add password_file or password_command to transport "${t.name}"`);
  }
}

/** msmtp `from` (with its wildcards) -> a sysmail sender pattern, or null. */
function senderPattern(from: string): string | null {
  if (from.includes('%')) return null;
  if (!/[*?]/.test(from)) return from;
  const m = /^\*(@[^*?@]+)$/.exec(from);
  return m ? m[1]! : null;
}

export function importMsmtprc(text: string, file: string, opts: ImportOptions = {}): ImportResult {
  const notes = new Notes(file);
  const rc = parseMsmtprc(text, notes);
  const draft = new Draft(opts);
  draft.header.push(...standardHeader('msmtprc', [file]));

  for (const d of rc.lateDefaults) {
    notes.warn(d.line, `"${d.cmd}" in a defaults section after the last account applies to no account (msmtp copies defaults when an account is created): not carried over`);
  }

  const transportOf = new Map<MsmtpAccount, string>();
  for (const acc of rc.accounts) {
    const twin = [...transportOf.keys()].find((o) => sameSettings(o, acc));
    if (twin) {
      transportOf.set(acc, transportOf.get(twin)!);
      continue;
    }
    const t = accountTransport(draft, notes, acc);
    if (t) transportOf.set(acc, t.name);
  }

  // Global settings: msmtp has them per account; sysmail has one of each.
  const globals: Record<string, MSetting[]> = { aliases: [], syslog: [] };
  for (const acc of rc.accounts) {
    if (!transportOf.has(acc)) continue;
    for (const k of Object.keys(globals)) {
      const s = acc.effective.get(k);
      if (s && !globals[k]!.includes(s)) globals[k]!.push(s);
    }
  }
  const aliases = globals.aliases!.filter((s) => s.value !== '');
  if (aliases.length > 0) {
    const a = aliases[0]!;
    draft.setGeneral('aliases', draft.expandHome(a.value, notes, a.line), `msmtp aliases (line ${a.line}); sysmail applies it to local recipients only`);
    for (const other of aliases.slice(1)) {
      if (other.value !== a.value) notes.warn(other.line, `aliases ${other.value} differs from ${a.value} (line ${a.line}): sysmail has one aliases file for all mail, so this one was not carried over`);
    }
  }
  const syslog = globals.syslog!;
  const on = syslog.find((s) => !isOff(s.value));
  if (on) {
    draft.setLog('syslog', true, `msmtp syslog (line ${on.line})`);
    if (!['', 'on', 'LOG_MAIL'].includes(on.value)) notes.warn(on.line, `syslog facility "${on.value}" is not carried over: sysmail logs to the mail facility`);
  }

  // Routes: senders first (file order = msmtp's choice for -f), then the catch-all.
  const seen = new Map<string, MSetting>();
  for (const acc of rc.accounts) {
    const name = transportOf.get(acc);
    const from = acc.effective.get('from');
    if (!name || !from || from.value === '') continue;
    const sender = senderPattern(from.value);
    if (sender === null) {
      notes.warn(from.line, `from "${from.value}" uses msmtp substitutions or wildcards that sysmail cannot match (only "*@domain" is understood): no sender route for account "${acc.name}"`);
      continue;
    }
    const prev = seen.get(sender);
    if (prev) {
      if (prev !== from) notes.warn(from.line, `account "${acc.name}" has the same from as line ${prev.line}; msmtp picks the first such account, and so does the route`);
      continue;
    }
    seen.set(sender, from);
    draft.addRoute({
      name: `from-${name}`,
      comments: [`msmtp chose account "${acc.name}" when the sender (-f) matched its from (line ${from.line})`],
      match: { sender: [sender] },
      transports: [name],
    });
  }
  const usable = rc.accounts.filter((a) => transportOf.has(a));
  let fallback = usable.find((a) => a.name === 'default');
  if (!fallback && usable.length > 0) {
    fallback = usable[0]!;
    notes.warn(fallback.line, `there is no account named "default", so msmtp refused mail whose sender matched no account; sysmail needs a catch-all route and uses account "${fallback.name}"`);
  }
  const routed = new Set(draft.routes.flatMap((r) => r.transports));
  for (const acc of usable) {
    const name = transportOf.get(acc)!;
    if (acc === fallback || routed.has(name) || (fallback && transportOf.get(fallback) === name)) continue;
    routed.add(name);
    notes.warn(acc.line, `account "${acc.name}" has no from address, so no route leads to transport "${name}" (msmtp used it only with -a ${acc.name}); add a [[routes]] entry if you need it`);
  }
  if (fallback) {
    const from = fallback.effective.get('from');
    if (from && from.value !== '' && !from.value.includes('%') && !/[*?]/.test(from.value)) {
      notes.warn(from.line, `msmtp used ${from.value} as the envelope sender of mail sent without -f (cron, daemons); sysmail uses the sending user's address (user@general.domain). If the relay only accepts ${from.value}, add force_sender = "${from.value}" to transport "${transportOf.get(fallback)}"`);
    }
    draft.addRoute({
      name: 'default',
      comments: [`everything else: msmtp account "${fallback.name}"`],
      transports: [transportOf.get(fallback)!],
    });
  } else {
    notes.warn(0, 'no usable account was found: the import has no transport; add one by hand');
  }

  if (draft.secrets.length > 0) draft.header.push(SECRETS_HEADER);
  return { toml: draft.render(), secrets: draft.secrets, warnings: notes.result() };
}
