/**
 * A real Postfix (Debian's package) as a test smarthost, one private instance
 * per call, never the machine's MTA: its own config directory, queue_directory,
 * data_directory, Maildir base and log file under a temp dir, and an smtpd on
 * 127.0.0.1 at a port picked at start. /etc/postfix and port 25 are not touched.
 *
 *   const pf = await startPostfix({ certs, users: { alice: 'pw' }, mailboxes: ['bob@example.net'] });
 *   ... relay through 127.0.0.1:pf.port (STARTTLS and AUTH required) ...
 *   const [m] = await pf.waitForMail('bob@example.net', 1);  // m.headers, m.body, m.header('Received')
 *   pf.log()                                                  // Postfix's maillog so far
 *   await pf.stop();
 *
 * Options: tls 'starttls' (default: STARTTLS required before AUTH and MAIL) or
 * 'implicit' (TLS from the first byte, smtpd_tls_wrappermode); users: Cyrus
 * SASL users (sasldb), AUTH required for every recipient; mailboxes: the
 * addresses that have a Maildir (virtual(8) delivery; anything else is refused
 * at RCPT); discardEhloKeywords (e.g. ['8bitmime']); dropAfterData: the first n
 * sessions lose their connection after the final "." with no reply. For that a
 * policy service (smtpd_end_of_data_restrictions) on 127.0.0.1 is asked at end
 * of data, finds the smtpd process serving that client port and SIGKILLs it:
 * Postfix has not committed the message yet, so nothing is queued.
 *
 * Process model: after `postfix -c DIR check` (which also makes the queue
 * directories), `setpriv --pdeathsig KILL unshare --pid --fork --kill-child=KILL
 * sh -c 'master -s -c DIR & wait $!'`: a new PID namespace whose init is that
 * sh, with master (in the foreground, as `postfix start-fg` runs it) its only
 * child. Killing the sh ends the namespace: the kernel kills and reaps every
 * Postfix process of the instance, leaving no zombie even where the machine's
 * PID 1 does not reap. The sh gets SIGKILL when unshare dies (--kill-child),
 * and unshare when this process dies (setpriv --pdeathsig; KILL, as unshare
 * --fork ignores SIGTERM), so no Postfix outlives the test, even on SIGKILL.
 * (master itself cannot carry a parent-death signal: it changes its effective
 * uid at start-up, which clears it.)
 * Never run `postfix -c DIR stop|reload` on such an instance: its pid file holds
 * master's PID inside the namespace, which on the host is some other process.
 *
 * Fails (throws) with a message naming the Debian packages when Postfix, Cyrus
 * SASL or util-linux's setpriv/unshare are missing, or when not run as root
 * (Postfix's master needs root). A start-up failure includes the maillog.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { TestCerts } from './certs.js';
import { tempDir } from './paths.js';
import { freePort } from './net.js';

export interface PostfixOptions {
  certs: TestCerts;
  /** SASL users, name -> password. AUTH is then required to send to any mailbox. */
  users: Record<string, string>;
  /** Recipient addresses with a Maildir; their domains become virtual mailbox domains. */
  mailboxes: string[];
  tls?: 'starttls' | 'implicit';
  /** EHLO keywords Postfix leaves out (smtpd_discard_ehlo_keywords), e.g. ['8bitmime']. */
  discardEhloKeywords?: string[];
  /** Drop the connection after DATA, without a reply, in the first n sessions that get there. */
  dropAfterData?: number;
  /** myhostname; default relay.sysmail.test. */
  hostname?: string;
  /**
   * Accept mail only from this sender, in the envelope and the From header, as OCI Email
   * Delivery, Gmail, Microsoft 365 and SES do (check_sender_access + header_checks).
   */
  approvedSender?: string;
  /**
   * For the benchmark (bench/smtp-arrival.mjs): a plain submission service for loopback
   * clients (no TLS, no AUTH: mynetworks) that relays everything to 127.0.0.1:relayTo,
   * as a host's Postfix relays to its smarthost.
   */
  relayTo?: number;
  /** With relayTo: keep the connection to it open between deliveries (smtp_connection_cache_destinations), as serve does. */
  relayCache?: boolean;
}

export interface DeliveredMail {
  file: string;
  raw: Buffer;
  /** Header block as stored (LF line ends), without the blank line. */
  headers: string;
  /** Everything after the first blank line, byte for byte. */
  body: Buffer;
  /** Unfolded values of every header with this name, top first. */
  header(name: string): string[];
}

export interface PostfixInstance {
  host: '127.0.0.1';
  port: number;
  dir: string;
  configDir: string;
  mailboxBase: string;
  logFile: string;
  hostname: string;
  /** Sessions dropped after DATA so far. */
  readonly drops: number;
  /** Host PIDs of every process of the instance: the namespace's sh, master, its daemons (for leak checks). */
  pids(): number[];
  mailbox(address: string): DeliveredMail[];
  waitForMail(address: string, n: number, ms?: number): Promise<DeliveredMail[]>;
  log(): string;
  /** Resolves with the maillog once it matches (postlogd writes a moment after the event). */
  waitForLog(re: RegExp, ms?: number): Promise<string>;
  stop(): Promise<void>;
}

const POSTFIX = '/usr/sbin/postfix';
const MASTER = '/usr/lib/postfix/sbin/master';
const SASLPASSWD = '/usr/sbin/saslpasswd2';
const APT = 'apt-get install postfix sasl2-bin libsasl2-modules util-linux';
const live = new Set<{ unshare: ChildProcess; dir: string }>();
let exitHooked = false;

// ---- requirements -----------------------------------------------------------------------------

function systemId(file: string, name: string): number | null {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return Number(f[2]);
  }
  return null;
}

function saslPluginDirs(): string[] {
  const dirs = ['/usr/lib/sasl2'];
  for (const d of existsSync('/usr/lib') ? readdirSync('/usr/lib') : []) if (d.endsWith('-linux-gnu')) dirs.push(`/usr/lib/${d}/sasl2`);
  return dirs.filter((d) => existsSync(d));
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => d && existsSync(join(d, cmd)));
}

/** Throws one error naming everything missing and the packages that bring it. */
export function requirePostfix(): { uid: number; gid: number } {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (Postfix\'s master daemon must start as root; run the tests as root)');
  if (!existsSync(POSTFIX)) missing.push(`${POSTFIX} (package postfix)`);
  if (!existsSync(SASLPASSWD)) missing.push(`${SASLPASSWD} (package sasl2-bin)`);
  const plugins = saslPluginDirs().flatMap((d) => readdirSync(d));
  if (!plugins.includes('libplain.so') || !plugins.includes('liblogin.so')) missing.push('Cyrus SASL PLAIN/LOGIN plugins (package libsasl2-modules)');
  if (!plugins.includes('libsasldb.so')) missing.push('Cyrus SASL sasldb plugin (package libsasl2-modules-db)');
  if (!onPath('setpriv') || !onPath('unshare')) missing.push('setpriv and unshare (package util-linux)');
  const uid = systemId('/etc/passwd', 'postfix');
  const gid = systemId('/etc/group', 'postfix');
  if (uid === null || gid === null || systemId('/etc/group', 'postdrop') === null) missing.push('the postfix user and postdrop group (made by package postfix)');
  if (missing.length) {
    throw new Error(`Postfix interop tests cannot run; missing: ${missing.join('; ')}. `
      + `On Debian: echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; ${APT}`);
  }
  return { uid: uid!, gid: gid! };
}

// ---- configuration ----------------------------------------------------------------------------

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 15_000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout + stderr);
    });
    child.stdin?.end(input ?? '');
  });
}

function mainCf(d: Dirs, o: Required<Pick<PostfixOptions, 'hostname'>> & PostfixOptions, policyPort: number | null, uid: number, gid: number): string {
  const domains = [...new Set(o.mailboxes.map((a) => a.slice(a.lastIndexOf('@') + 1).toLowerCase()))];
  const lines: Array<[string, string]> = [
    ['compatibility_level', '3.6'],
    ['queue_directory', d.queue],
    ['data_directory', d.data],
    ['maillog_file', d.log],
    ['maillog_file_prefixes', d.root],
    ['myhostname', o.hostname],
    ['mydomain', 'sysmail.test'],
    ['mydestination', ''],
    ['inet_interfaces', '127.0.0.1'],
    ['inet_protocols', 'ipv4'],
    ['mynetworks', '127.0.0.1/32'],
    ['alias_maps', ''],
    ['alias_database', ''],
    ['biff', 'no'],
    ['notify_classes', ''],
    ['smtpd_peername_lookup', 'no'],
    // Headers from the network are left as sent: what arrives is what sysmail wrote.
    ['local_header_rewrite_clients', ''],
    // Only the virtual mailboxes: nothing is ever sent on from this relay (no DNS, no network).
    ['default_transport', 'error:this test relay delivers only to its own mailboxes'],
    ['relay_transport', 'error:this test relay delivers only to its own mailboxes'],
    ['virtual_mailbox_domains', domains.join(' ')],
    ['virtual_mailbox_base', d.mail],
    ['virtual_mailbox_maps', `texthash:${join(d.conf, 'vmailbox')}`],
    ['virtual_uid_maps', `static:${uid}`],
    ['virtual_gid_maps', `static:${gid}`],
    ['virtual_minimum_uid', '1'],
    ['smtpd_tls_cert_file', join(d.tls, 'cert.pem')],
    ['smtpd_tls_key_file', join(d.tls, 'key.pem')],
    ['smtpd_tls_security_level', 'encrypt'],
    ['smtpd_tls_auth_only', 'yes'],
    ['smtpd_tls_loglevel', '1'],
    ['smtpd_sasl_auth_enable', 'yes'],
    ['smtpd_sasl_type', 'cyrus'],
    ['smtpd_sasl_path', 'smtpd'],
    // Debian's Postfix reads $config_directory/sasl/smtpd.conf; upstream uses this path.
    ['cyrus_sasl_config_path', join(d.conf, 'sasl')],
    ['smtpd_sasl_local_domain', ''],
    ['smtpd_sasl_authenticated_header', 'yes'],
    ['smtpd_relay_restrictions', 'permit_sasl_authenticated, reject_unauth_destination'],
    ['smtpd_recipient_restrictions', 'permit_sasl_authenticated, reject'],
    ['smtpd_discard_ehlo_keywords', (o.discardEhloKeywords ?? []).join(' ')],
    // A killed smtpd (dropAfterData) counts as a bad start-up: master would refuse new sessions for 60 s.
    ['service_throttle_time', '1s'],
  ];
  if (policyPort !== null) lines.push(['smtpd_end_of_data_restrictions', `check_policy_service inet:127.0.0.1:${policyPort}`]);
  if (o.relayTo) {
    const set = (k: string, v: string) => { const i = lines.findIndex(([n]) => n === k); if (i >= 0) lines[i] = [k, v]; else lines.push([k, v]); };
    set('default_transport', 'smtp');
    set('relay_transport', 'smtp');
    set('relayhost', `[127.0.0.1]:${o.relayTo}`);
    set('smtpd_tls_security_level', 'none');
    set('smtpd_tls_auth_only', 'no');
    set('smtpd_relay_restrictions', 'permit_mynetworks, reject');
    set('smtpd_recipient_restrictions', 'permit_mynetworks, reject');
    set('smtp_tls_security_level', 'none');
    // The cache is keyed by the next hop's name without brackets or port (checked: with "[127.0.0.1]" nothing is reused).
    if (o.relayCache) set('smtp_connection_cache_destinations', '127.0.0.1');
  }
  if (o.approvedSender) {
    const re = o.approvedSender.replace(/[.+]/g, '\\$&');
    writeFileSync(join(d.conf, 'approved_senders'), `${o.approvedSender} OK\n`);
    writeFileSync(join(d.conf, 'header_checks'),
      `if /^From:/\n!/<${re}>|^From:[ \t]*${re}[ \t]*$/ REJECT 5.7.1 From is not an approved sender\nendif\n`);
    lines.push(['smtpd_sender_restrictions', `check_sender_access texthash:${join(d.conf, 'approved_senders')}, reject`]);
    lines.push(['header_checks', `regexp:${join(d.conf, 'header_checks')}`]);
  }
  return lines.map(([k, v]) => `${k} = ${v}`.trimEnd()).join('\n') + '\n';
}

function masterCf(port: number, tls: 'starttls' | 'implicit'): string {
  // Everything unchrooted (column 5 "n"): no copies of /etc files into the queue dir needed.
  const smtpd = `127.0.0.1:${port} inet n - n - - smtpd` + (tls === 'implicit' ? '\n  -o smtpd_tls_wrappermode=yes' : '');
  return [
    smtpd,
    'pickup    unix  n - n 60    1 pickup',
    'cleanup   unix  n - n -     0 cleanup',
    'qmgr      unix  n - n 300   1 qmgr',
    'tlsmgr    unix  - - n 1000? 1 tlsmgr',
    'rewrite   unix  - - n -     - trivial-rewrite',
    'bounce    unix  - - n -     0 bounce',
    'defer     unix  - - n -     0 bounce',
    'trace     unix  - - n -     0 bounce',
    'verify    unix  - - n -     1 verify',
    'flush     unix  n - n 1000? 0 flush',
    'proxymap  unix  - - n -     - proxymap',
    'error     unix  - - n -     - error',
    'retry     unix  - - n -     - error',
    'discard   unix  - - n -     - discard',
    'virtual   unix  - n n -     - virtual',
    'smtp      unix  - - n -     - smtp',
    'anvil     unix  - - n -     1 anvil',
    'scache    unix  - - n -     1 scache',
    'postlog   unix-dgram n - n - 1 postlogd',
  ].join('\n') + '\n';
}

interface Dirs { root: string; conf: string; queue: string; data: string; mail: string; tls: string; saslDb: string; log: string }

async function layout(o: PostfixOptions, uid: number, gid: number): Promise<Dirs> {
  const root = tempDir('sysmail-postfix-');
  // Postfix's daemons run as the postfix user and must reach the mailboxes and the sasldb.
  chmodSync(root, 0o755);
  const d: Dirs = {
    root, conf: join(root, 'etc'), queue: join(root, 'queue'), data: join(root, 'data'), mail: join(root, 'mail'),
    tls: join(root, 'tls'), saslDb: join(root, 'sasl', 'sasldb2'), log: join(root, 'maillog'),
  };
  for (const p of [d.conf, join(d.conf, 'sasl'), d.queue, d.data, d.mail, d.tls, join(root, 'sasl')]) mkdirSync(p, { recursive: true, mode: 0o755 });
  chownSync(d.data, uid, gid);
  chownSync(d.mail, uid, gid);
  copyFileSync(o.certs.certFile, join(d.tls, 'cert.pem'));
  copyFileSync(o.certs.keyFile, join(d.tls, 'key.pem'));
  chmodSync(join(d.tls, 'key.pem'), 0o600);
  writeFileSync(join(d.conf, 'vmailbox'), o.mailboxes.map((a) => {
    const at = a.lastIndexOf('@');
    return `${a} ${a.slice(at + 1).toLowerCase()}/${a.slice(0, at)}/\n`;
  }).join(''));
  writeFileSync(join(d.conf, 'sasl', 'smtpd.conf'),
    `pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: ${d.saslDb}\nmech_list: PLAIN LOGIN\n`);
  // With smtpd_sasl_local_domain empty, Cyrus looks users up in the realm $myhostname.
  for (const [user, pass] of Object.entries(o.users)) {
    await run(SASLPASSWD, ['-f', d.saslDb, '-p', '-c', '-u', o.hostname ?? 'relay.sysmail.test', user], pass);
  }
  if (existsSync(d.saslDb)) { chownSync(d.saslDb, uid, gid); chmodSync(d.saslDb, 0o600); }
  return d;
}

// ---- processes --------------------------------------------------------------------------------

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch { return []; }
}

/** True while the process exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch { return false; }
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => { for (const c of children(p)) { out.push(c); walk(c); } };
  walk(pid);
  return out;
}

const hex4 = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');

/** Socket inodes of 127.0.0.1:port sockets in /proc/net/tcp matching the remote end and state. */
function socketInodes(port: number, match: (remote: string, state: string) => boolean): Set<string> {
  const out = new Set<string>();
  for (const l of readFileSync('/proc/net/tcp', 'utf8').split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f[1] === `0100007F:${hex4(port)}` && match(f[2]!, f[3]!)) out.add(`socket:[${f[9]}]`);
  }
  return out;
}

/** The first of pids that holds one of these sockets open. */
function holder(pids: number[], sockets: Set<string>, comm?: string): number | null {
  if (sockets.size === 0) return null;
  for (const pid of pids) {
    try {
      if (comm && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== comm) continue;
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try { if (sockets.has(readlinkSync(`/proc/${pid}/fd/${fd}`))) return pid; } catch { /* fd closed meanwhile */ }
      }
    } catch { /* process gone meanwhile */ }
  }
  return null;
}

/** True when a process below `root` (our master, not whoever else) listens on 127.0.0.1:port. */
function listeningBelow(root: number, port: number): boolean {
  return holder(descendants(root), socketInodes(port, (_r, state) => state === '0A')) !== null;
}

/** The host PID of the smtpd (a child of master) holding the connection 127.0.0.1:port <- 127.0.0.1:clientPort. */
function smtpdFor(master: number, port: number, clientPort: number): number | null {
  return holder(children(master), socketInodes(port, (remote) => remote === `0100007F:${hex4(clientPort)}`), 'smtpd');
}

function killNow(entry: { unshare: ChildProcess }): void {
  // The namespace's init first: its death takes the whole namespace with it, and unshare, its
  // parent, reaps it and exits by itself.
  const pid = entry.unshare.pid;
  // Once unshare has been reaped its PID may belong to someone else.
  if (pid === undefined || entry.unshare.exitCode !== null || entry.unshare.signalCode !== null) return;
  const inits = children(pid);
  for (const m of inits) { try { process.kill(m, 'SIGKILL'); } catch { /* gone */ } }
  if (inits.length === 0) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const e of live) { killNow(e); rmSync(e.dir, { recursive: true, force: true }); }
  });
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The policy service that makes a session drop after DATA (see the header). */
async function startDropPolicy(state: { remaining: number; drops: number; master: () => number | null; port: () => number }, errors: string[]): Promise<Server> {
  const server = createServer((sock: Socket) => {
    let buf = '';
    sock.on('error', () => {});
    sock.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
        const attrs = new Map(buf.slice(0, end).split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]));
        buf = buf.slice(end + 2);
        if (attrs.get('protocol_state') === 'END-OF-MESSAGE' && state.remaining > 0) {
          const master = state.master();
          const pid = master === null ? null : smtpdFor(master, state.port(), Number(attrs.get('client_port')));
          if (pid === null) { errors.push(`drop policy: no smtpd found for client port ${attrs.get('client_port')}`); sock.write('action=DUNNO\n\n'); continue; }
          state.remaining -= 1;
          state.drops += 1;
          process.kill(pid, 'SIGKILL');
          sock.destroy();
          return;
        }
        sock.write('action=DUNNO\n\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

// ---- mailbox ----------------------------------------------------------------------------------

function parseMail(file: string): DeliveredMail {
  const raw = readFileSync(file);
  const split = raw.indexOf('\n\n');
  const headers = raw.subarray(0, split < 0 ? raw.length : split).toString('utf8');
  const body = split < 0 ? Buffer.alloc(0) : raw.subarray(split + 2);
  return {
    file, raw, headers, body,
    header(name: string) {
      const want = name.toLowerCase() + ':';
      return headers.replace(/\n[ \t]/g, ' ').split('\n').filter((l) => l.toLowerCase().startsWith(want)).map((l) => l.slice(want.length).trim());
    },
  };
}

// ---- start / stop -----------------------------------------------------------------------------

export async function startPostfix(opts: PostfixOptions): Promise<PostfixInstance> {
  const { uid, gid } = requirePostfix();
  hookExit();
  const o = { ...opts, hostname: opts.hostname ?? 'relay.sysmail.test' };
  const d = await layout(o, uid, gid);
  const policyErrors: string[] = [];
  let entry: { unshare: ChildProcess; dir: string } | null = null;
  let port = 0;
  const masterPid = (): number | null => {
    const init = entry?.unshare.pid ? children(entry.unshare.pid)[0] : undefined;
    return init === undefined ? null : children(init)[0] ?? null;
  };
  const state = { remaining: o.dropAfterData ?? 0, drops: 0, master: masterPid, port: () => port };
  const policy = o.dropAfterData ? await startDropPolicy(state, policyErrors) : null;
  const policyPort = policy ? (policy.address() as { port: number }).port : null;
  writeFileSync(join(d.conf, 'main.cf'), mainCf(d, o, policyPort, uid, gid));

  const readLog = () => (existsSync(d.log) ? readFileSync(d.log, 'utf8') : '');
  let lastFailure = '';
  try {
    for (let attempt = 1; attempt <= 3 && !entry; attempt++) {
      port = await freePort();
      writeFileSync(join(d.conf, 'master.cf'), masterCf(port, o.tls ?? 'starttls'));
      if (attempt === 1) await run(POSTFIX, ['-c', d.conf, 'check']);
      // `postfix check` has just made the queue directories and checked everything, so master is
      // started as `postfix start-fg` would, minus a second round of checks.
      const child = spawn('setpriv', ['--pdeathsig', 'KILL', 'unshare', '--pid', '--fork', '--kill-child=KILL',
        '/bin/sh', '-c', '"$0" -s -c "$1" & wait $!', MASTER, d.conf],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' } });
      let output = '';
      child.stdout!.on('data', (c) => { output += c; });
      child.stderr!.on('data', (c) => { output += c; });
      let exited = false;
      child.on('exit', () => { exited = true; });
      const candidate = { unshare: child, dir: d.root };
      live.add(candidate);
      const end = Date.now() + 10_000;
      const ready = () => !exited && child.pid !== undefined && listeningBelow(child.pid, port);
      while (!exited && Date.now() < end && !ready()) await sleep(25);
      if (ready()) { entry = candidate; break; }
      const what = exited ? `exited (code ${child.exitCode})` : 'did not listen within 10 s';
      killNow(candidate);
      // The next try uses the same queue and data directory: the old master must be gone (its lock).
      if (!exited) await new Promise((r) => { child.once('exit', r); setTimeout(r, 5_000); });
      live.delete(candidate);
      // master logs nothing before its postlogd runs, so a bind failure is told by whoever holds the port.
      const taken = socketInodes(port, (_r, state) => state === '0A').size > 0;
      lastFailure = `Postfix master ${what} on 127.0.0.1:${port}`
        + (taken ? ', which another process had taken in the meantime' : ' (it logs nothing before its postlogd runs; `postfix check` had passed)')
        + `${output ? `\n${output}` : ''}\n--- maillog ---\n${readLog()}`;
      if (!taken) break; // only a port taken in the meantime is worth another try
    }
    if (!entry) throw new Error(`Postfix test instance in ${d.conf} failed to start: ${lastFailure}`);
  } catch (e) {
    policy?.close();
    rmSync(d.root, { recursive: true, force: true });
    throw e;
  }

  const started = entry;
  const unsharePid = started.unshare.pid!;
  const mailbox = (address: string): DeliveredMail[] => {
    const at = address.lastIndexOf('@');
    const box = join(d.mail, address.slice(at + 1).toLowerCase(), address.slice(0, at));
    const files = ['new', 'cur'].flatMap((sub) => (existsSync(join(box, sub)) ? readdirSync(join(box, sub)).map((f) => join(box, sub, f)) : []));
    return files.sort().map(parseMail);
  };
  let stopped: Promise<void> | null = null;

  return {
    host: '127.0.0.1',
    port,
    dir: d.root,
    configDir: d.conf,
    mailboxBase: d.mail,
    logFile: d.log,
    hostname: o.hostname,
    get drops() { return state.drops; },
    pids: () => descendants(unsharePid),
    mailbox,
    async waitForMail(address, n, ms = 10_000) {
      const end = Date.now() + ms;
      for (;;) {
        const got = mailbox(address);
        if (got.length >= n) return got;
        if (Date.now() > end) {
          throw new Error(`Postfix: ${got.length} of ${n} message(s) in the mailbox of ${address} after ${ms} ms`
            + `${policyErrors.length ? `\n${policyErrors.join('\n')}` : ''}\n--- maillog ---\n${readLog()}`);
        }
        await sleep(50);
      }
    },
    log: readLog,
    async waitForLog(re, ms = 5000) {
      const end = Date.now() + ms;
      for (;;) {
        const text = readLog();
        if (re.test(text)) return text;
        if (Date.now() > end) throw new Error(`Postfix maillog does not match ${re} after ${ms} ms:\n${text}`);
        await sleep(50);
      }
    },
    stop() {
      stopped ??= (async () => {
        policy?.close();
        const exited = new Promise<void>((r) => {
          if (started.unshare.exitCode !== null || started.unshare.signalCode !== null) r();
          else started.unshare.once('exit', () => r());
        });
        killNow(started);
        const timer = setTimeout(() => {
          if (started.unshare.exitCode === null && started.unshare.signalCode === null) started.unshare.kill('SIGKILL');
        }, 5_000);
        await exited;
        clearTimeout(timer);
        live.delete(started);
        rmSync(d.root, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
