/**
 * ssmtp.conf + revaliases -> sysmail.toml.
 *
 * ssmtp.conf (`Key=Value`, keys case-insensitive, `#` starts a comment
 * anywhere on the line) gives one smtp transport, "mailhub", and the
 * catch-all route. Each revaliases line `user:from[:mailhub[:port]]` becomes
 * a transport that sends as `from` (force_sender) through its mailhub, with a
 * route for mail whose envelope sender is user@domain. Root= becomes
 * general.admin, RewriteDomain general.domain, Hostname general.hostname.
 * ssmtp quirks reproduced: AuthUser/AuthPass/AuthMethod keep their first
 * value, other keys their last; the default port is 25.
 * Pure; never throws; every difference is a warning with its line.
 */
import { parsePort, splitHostPort, warnCleartextAuth, movePassword } from './common.js';
import { Draft, Notes, SECRETS_HEADER, sanitizeName, standardHeader } from './model.js';
import type { ImportOptions, ImportResult } from './types.js';

interface Kv {
  value: string;
  line: number;
}

const FIRST_WINS = new Set(['authuser', 'authpass', 'authmethod']);

const KNOWN = new Set([
  'root', 'mailhub', 'remoteport', 'hostname', 'rewritedomain', 'fromlineoverride', 'usetls', 'usestarttls',
  'usetlscert', 'tlscert', 'tlskey', 'tls_ca_file', 'tls_ca_dir', 'authuser', 'authpass', 'authpassfile',
  'authmethod', 'useoldauth', 'debug',
]);

const yes = (v: string) => v.toUpperCase() === 'YES';

/** C strtok: skip leading delimiters, take the token up to the next one. */
function strtok(s: string, from: number, delims: string): { tok: string; end: number } | null {
  let i = from;
  while (i < s.length && delims.includes(s[i]!)) i++;
  if (i >= s.length) return null;
  let j = i;
  while (j < s.length && !delims.includes(s[j]!)) j++;
  return { tok: s.slice(i, j), end: j };
}

/**
 * ssmtp's read_config(): the key is the first token before "=", blanks; the
 * value is the next token, which also stops at ":" (that is how
 * "Mailhub=host:port" works, and also why a value cannot hold ":", "=" or a
 * blank).
 */
function parseConf(text: string, notes: Notes): Map<string, Kv> {
  const conf = new Map<string, Kv>();
  text.split('\n').forEach((raw, idx) => {
    const line = idx + 1;
    const hash = raw.indexOf('#');
    const body = (hash >= 0 ? raw.slice(0, hash) : raw).replace(/\r$/, '');
    if (body.trim() === '') return;
    if (!body.includes('=')) {
      // Only the first word: the rest may be a password written without "=".
      notes.warn(line, `a line starting with "${body.trim().split(/\s+/)[0]}" has no "=": ssmtp ignored it, and so does the import`);
      return;
    }
    const key = strtok(body, 0, '= \t\n');
    const val = key && strtok(body, key.end, '= \t\n:');
    if (!key || !val) {
      notes.warn(line, `${key ? key.tok : 'this line'} has no value: ssmtp ignored it, and so does the import`);
      return;
    }
    const k = key.tok.toLowerCase();
    if (!KNOWN.has(k)) {
      notes.warn(line, `unknown ssmtp option "${key.tok}": not carried over`);
      return;
    }
    let value = val.tok;
    let end = val.end;
    if (k === 'mailhub') {
      const port = strtok(body, val.end, '= \t\n:');
      if (port) { value += ':' + port.tok; end = port.end; }
    }
    const secret = k === 'authpass';
    if (body.slice(end).trim() !== '') {
      notes.warn(line, `ssmtp reads a value only up to the first blank, ":" or "=", so ${key.tok} was cut there${secret ? '' : ` ("${value}")`}, as ssmtp used it; check it`);
    } else if (hash >= 0 && hash > 0 && /\S/.test(raw[hash - 1]!)) {
      // A "#" glued to the value was most likely meant as part of it (a password).
      notes.warn(line, `ssmtp ignores everything after "#", so ${key.tok} was cut there${secret ? '' : ` ("${value}")`}, as ssmtp used it; check it`);
    }
    const prev = conf.get(k);
    if (prev) {
      if (FIRST_WINS.has(k)) {
        notes.warn(line, `${key.tok} is set again; ssmtp keeps the first value (line ${prev.line}), and so does the import`);
        return;
      }
      notes.warn(prev.line, `${key.tok} is set again on line ${line}; ssmtp uses the later value, and so does the import`);
    }
    conf.set(k, { value, line });
  });
  return conf;
}

interface RevAlias {
  user: string;
  from: string;
  hub: string | null;
  port: string | null;
  line: number;
}

function parseRevaliases(text: string, notes: Notes, file: string): RevAlias[] {
  const out: RevAlias[] = [];
  text.split('\n').forEach((raw, idx) => {
    const line = idx + 1;
    const hash = raw.indexOf('#');
    const body = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (body === '') return;
    // ssmtp splits on ":" and blanks alike.
    const parts = body.split(/[:\s]+/).filter((p) => p !== '');
    if (parts.length < 2) {
      notes.warn(line, `"${body}" is not "user:from_address[:mailhub[:port]]": ignored`, file);
      return;
    }
    if (parts.length > 4) notes.warn(line, `extra fields after the port ("${parts.slice(4).join(':')}") are ignored, as ssmtp does`, file);
    const [user, from, hub, port] = parts;
    if (out.some((r) => r.user === user)) {
      notes.warn(line, `user ${user} appears again; ssmtp uses the first line for a user, and so does the import`, file);
      return;
    }
    out.push({ user: user!, from: from!, hub: hub ?? null, port: port ?? null, line });
  });
  return out;
}

export interface SsmtpFiles {
  /** Name of ssmtp.conf for the header and warnings, e.g. /etc/ssmtp/ssmtp.conf. */
  conf: string;
  /** Name of the revaliases file. */
  revaliases: string;
}

export function importSsmtp(
  ssmtpConf: string,
  revaliases: string | null,
  files: SsmtpFiles = { conf: '/etc/ssmtp/ssmtp.conf', revaliases: '/etc/ssmtp/revaliases' },
  opts: ImportOptions = {},
): ImportResult {
  const notes = new Notes(files.conf);
  const conf = parseConf(ssmtpConf, notes);
  const rev = revaliases === null ? [] : parseRevaliases(revaliases, notes, files.revaliases);
  const draft = new Draft(opts);
  draft.header.push(...standardHeader('ssmtp', revaliases === null ? [files.conf] : [files.conf, files.revaliases]));
  const get = (k: string) => conf.get(k);

  // general
  const root = get('root');
  if (root && root.value !== '') {
    draft.setGeneral('admin', root.value, `ssmtp Root (line ${root.line})`);
    notes.warn(root.line, `ssmtp sent mail for every system account (uid below 1000) to ${root.value}; sysmail sends root's mail and bounces to general.admin. For other system accounts add lines such as "www-data: root" to /etc/aliases`);
  }
  const hostnameKv = get('hostname');
  if (hostnameKv && hostnameKv.value !== '') draft.setGeneral('hostname', hostnameKv.value, `ssmtp Hostname (line ${hostnameKv.line})`);
  const rd = get('rewritedomain');
  let domain: string | null = null;
  if (rd && rd.value !== '') {
    domain = rd.value.includes('@') ? rd.value.slice(rd.value.lastIndexOf('@') + 1) : rd.value;
    if (domain !== rd.value) notes.warn(rd.line, `RewriteDomain should be a domain, not an address: used "${domain}", as ssmtp does`);
    draft.setGeneral('domain', domain, `ssmtp RewriteDomain (line ${rd.line})`);
  }
  const flo = get('fromlineoverride');
  if (flo) {
    notes.warn(flo.line, yes(flo.value)
      ? 'FromLineOverride=YES: ssmtp kept the From: header and used it as the envelope sender; sysmail keeps the From: header and takes the envelope sender from -f or the sending user'
      : 'FromLineOverride=NO: ssmtp replaced the From: header with the sending user\'s address; sysmail never rewrites the From: header');
  }
  const oldAuth = get('useoldauth');
  if (oldAuth) notes.warn(oldAuth.line, 'UseOldAUTH is not needed: sysmail follows the server\'s AUTH dialogue');
  const dbg = get('debug');
  if (dbg) notes.warn(dbg.line, 'Debug is not carried over: sysmail logs every attempt; use "sysmail -v" for a protocol trace');

  // the mailhub transport
  const t = draft.addTransport('mailhub', 'smtp', ['ssmtp mailhub']);
  const hub = get('mailhub');
  let port: number | null = null;
  if (hub && hub.value !== '') {
    const hp = splitHostPort(hub.value);
    if (hp.bad !== undefined) notes.warn(hub.line, `port "${hp.bad}" in Mailhub is not a number: ignored`);
    draft.set(t, 'host', hp.host);
    port = hp.port;
  } else {
    draft.set(t, 'host', 'mailhub', 'ssmtp default host name');
    notes.warn(hub?.line ?? 0, 'no Mailhub: ssmtp sent to the host named "mailhub"; set host in transport "mailhub"');
  }
  const rp = get('remoteport');
  if (rp) {
    const p = parsePort(rp.value);
    if (p === null) notes.warn(rp.line, `RemotePort "${rp.value}" is not a port number: ignored`);
    else port = p;
  }

  const useTls = get('usetls');
  const useStarttls = get('usestarttls');
  let security: 'none' | 'tls' | 'starttls' = 'none';
  if (useStarttls && yes(useStarttls.value)) security = 'starttls';
  else if (useTls && yes(useTls.value)) security = 'tls';
  if (port === null && security === 'tls') {
    notes.warn(useTls!.line, 'UseTLS=YES with no port: ssmtp would have spoken TLS to port 25; the import uses 465, the port for TLS from the first byte. Check it');
    port = 465;
  }
  draft.set(t, 'port', port ?? 25, port === null ? 'ssmtp default' : undefined);
  draft.set(t, 'security', security, security === 'none' ? 'ssmtp default: no TLS' : security === 'tls' ? 'ssmtp UseTLS=YES' : 'ssmtp UseSTARTTLS=YES');
  if (security !== 'none') {
    notes.warn((useStarttls && yes(useStarttls.value) ? useStarttls : useTls)!.line,
      'ssmtp never checked the server certificate; sysmail does. If the relay\'s certificate is self-signed or names another host, set ca_file or pin_sha256 on transport "mailhub"');
  }

  const ca = get('tls_ca_file');
  if (ca && ca.value !== '') draft.set(t, 'ca_file', ca.value, 'ssmtp TLS_CA_File');
  const caDir = get('tls_ca_dir');
  if (caDir) notes.warn(caDir.line, 'TLS_CA_Dir is not supported: sysmail takes one CA file (ca_file); it also trusts the system CAs');
  const useCert = get('usetlscert');
  const cert = get('tlscert');
  const key = get('tlskey');
  if (useCert && yes(useCert.value)) {
    if (!cert || cert.value === '') notes.warn(useCert.line, 'UseTLSCert=YES without TLSCert: no client certificate was carried over');
    else {
      draft.set(t, 'client_cert', cert.value, 'ssmtp TLSCert');
      draft.set(t, 'client_key', key && key.value !== '' ? key.value : cert.value, key ? 'ssmtp TLSKey' : 'ssmtp read the key from the TLSCert file');
    }
  } else if (cert || key) {
    notes.warn((cert ?? key)!.line, 'TLSCert/TLSKey are ignored by ssmtp without UseTLSCert=YES: not carried over');
  }

  const user = get('authuser');
  const pass = get('authpass');
  const passFile = get('authpassfile');
  const method = get('authmethod');
  if (user && user.value !== '') {
    draft.set(t, 'username', user.value);
    if (pass) {
      movePassword(draft, notes, t, pass.value, pass.line);
      if (passFile) notes.warn(passFile.line, 'AuthPassFile is ignored because AuthPass is set');
    } else if (passFile && passFile.value !== '') {
      draft.set(t, 'password_file', passFile.value, 'ssmtp AuthPassFile: sysmail reads its first line, and refuses it if others can read it');
    } else {
      notes.warn(user.line, 'AuthUser without AuthPass: ssmtp logged in with an empty password; add password_file to transport "mailhub"');
    }
    if (method) {
      // ssmtp knows only cram-md5; anything else meant its default, LOGIN.
      const m = method.value.toUpperCase();
      if (m === 'CRAM-MD5' || m === 'LOGIN') draft.set(t, 'auth_method', m, `ssmtp AuthMethod=${method.value}`);
      else notes.warn(method.line, `ssmtp ignored AuthMethod "${method.value}" and used LOGIN; the transport uses the best mechanism the server offers`);
    }
  } else if (pass || method || passFile) {
    notes.warn((pass ?? method ?? passFile)!.line, 'AuthPass/AuthMethod without AuthUser: ssmtp did not log in, so they were not carried over');
  }
  warnCleartextAuth(draft, t, notes, user?.line ?? 0);

  // revaliases: one transport per local user, sending as their address.
  const senderDomain = domain ?? (hostnameKv && hostnameKv.value !== '' ? hostnameKv.value : null) ?? opts.hostname ?? null;
  if (rev.length > 0 && senderDomain === null) {
    notes.warn(rev[0]!.line, 'this host\'s name is unknown, so the revaliases routes match user@localhost: replace "localhost" in their match.sender with this host\'s mail domain', files.revaliases);
  }
  for (const r of rev) {
    const rt = draft.addTransport(`${sanitizeName(r.user)}-sender`, 'smtp', [`ssmtp revaliases line ${r.line}: mail from local user ${r.user}`]);
    for (const e of t.entries) if (e.key !== 'type') draft.set(rt, e.key, e.value, e.comment);
    if (r.hub) {
      draft.set(rt, 'host', r.hub, `revaliases mailhub (line ${r.line})`);
      if (r.port) {
        const p = parsePort(r.port);
        if (p === null) notes.warn(r.line, `port "${r.port}" is not a number: kept the mailhub port`, files.revaliases);
        else draft.set(rt, 'port', p);
      }
    }
    draft.set(rt, 'force_sender', r.from, `revaliases from address (line ${r.line})`);
    notes.warn(r.line, `ssmtp also rewrote the From: header of ${r.user}'s mail to ${r.from}; sysmail sets only the envelope sender (force_sender) and leaves the headers alone`, files.revaliases);
    draft.addRoute({
      name: `from-${sanitizeName(r.user)}`,
      comments: [`mail sent by local user ${r.user} (ssmtp chose this by the user id; sysmail by the envelope sender)`],
      match: { sender: [`${r.user}@${senderDomain ?? 'localhost'}`] },
      transports: [rt.name],
    });
  }
  draft.addRoute({ name: 'default', comments: ['everything else: the ssmtp mailhub'], transports: [t.name] });

  if (draft.secrets.length > 0) draft.header.push(SECRETS_HEADER);
  return { toml: draft.render(), secrets: draft.secrets, warnings: notes.result() };
}
