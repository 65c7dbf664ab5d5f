/**
 * The loopback SMTP listener of `sysmail serve`: one smtp-server per
 * configured address, all with the handlers of session.ts.
 *
 * Guarantees: 250 only after the spool has the message (see session.ts);
 * relaying is open to trusted (loopback) peers only, and to peers in
 * listener.allow_relay_from only after AUTH over STARTTLS. Fails to start
 * with a SysmailError that names the address and the fix (port 25 needs root,
 * the port is taken, the address is not on this host); an IPv6 loopback that
 * does not exist on an IPv6-less host is skipped when another address bound.
 * SIGHUP-style reloads re-read TLS files, users and relay networks, keeping
 * the old ones if the new ones are broken.
 */
import type { SMTPServer } from 'smtp-server';
import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { configError, EX, SysmailError } from '../core/errors.js';
import { classifyPeer, formatListen, isLoopback, LOOPBACK_NETWORKS, NetworkList, type ListenAddress } from './network.js';
import { sessionOptions, smtpReply, type EarlyHandle, type QueueRequest } from './session.js';
import { peerUid, Slots, type Lease } from './slots.js';
import { AUTH_FAILURE_DELAY_MAX_MS, AUTH_FAILURE_DELAY_MS } from '../config/defaults.js';

export interface ListenerOptions {
  config(): Config;
  log: Logger;
  listen: ListenAddress[];
  /** Peers that may send without AUTH. Default: loopback (127.0.0.0/8, ::1). */
  trustedNetworks?: readonly string[];
  /** Durably queues one message (and starts its delivery). */
  queue(req: QueueRequest): Promise<string>;
  /** serve's early delivery, at each DATA command (early-delivery.ts). */
  startEarly?(sender: string, recipients: string[]): EarlyHandle | null;
  /** Default LISTENER_IDLE_TIMEOUT_MS. */
  idleTimeoutMs?: number;
}

export interface Listener {
  /** Where it listens, with the ports the kernel chose for port 0. */
  readonly addresses: ListenAddress[];
  /** Applies config() again: size, host name, TLS files, users, relay networks. Throws (and keeps the old) when broken. */
  reload(): Promise<void>;
  /** Stops accepting; open sessions may finish (bounded by LISTENER_CLOSE_TIMEOUT_MS). */
  close(): Promise<void>;
}

/** What decides who may do what; rebuilt as a whole on reload. */
interface Security {
  trusted: NetworkList;
  allowRelay: NetworkList;
  tls: { key: Buffer; cert: Buffer } | null;
  /** user -> SHA-256 of the password. */
  users: Map<string, Buffer>;
}

async function loadSecurity(config: Config, trustedNetworks: readonly string[]): Promise<Security> {
  const l = config.listener;
  const [{ readFile }, { createHash }] = await Promise.all([import('node:fs/promises'), import('node:crypto')]);
  let tls: Security['tls'] = null;
  if (l.tlsCert && l.tlsKey) {
    const read = async (key: string, path: string) => {
      try {
        return await readFile(path);
      } catch (err) {
        throw configError(`listener.${key}: cannot read ${path}: ${(err as Error).message}`,
          'point it at a readable PEM file', err);
      }
    };
    tls = { cert: await read('tls_cert', l.tlsCert), key: await read('tls_key', l.tlsKey) };
  }
  const users = new Map<string, Buffer>();
  const names = Object.keys(l.users);
  if (names.length > 0) {
    const { resolveSecret } = await import('../config/secrets.js');
    for (const name of names) {
      try {
        const secret = await resolveSecret(l.users[name]!);
        users.set(name, createHash('sha256').update(secret, 'utf8').digest());
      } catch (err) {
        throw configError(`listener.users.${name}: cannot read the password: ${(err as Error).message}`,
          (err as SysmailError).hint ?? 'check the secret source of this user', err);
      }
    }
  }
  return {
    trusted: new NetworkList(trustedNetworks, 'trusted networks'),
    allowRelay: new NetworkList(config.listener.allowRelayFrom),
    tls,
    users,
  };
}

/** A bind failure as the admin should read it. Pure. */
export function bindError(addr: ListenAddress, err: NodeJS.ErrnoException): SysmailError {
  const where = formatListen(addr);
  switch (err.code) {
    case 'EACCES':
    case 'EPERM':
      return new SysmailError('ELISTEN', `cannot listen on ${where}: permission denied`, {
        exit: EX.NOPERM, cause: err,
        hint: `ports below 1024 need root or CAP_NET_BIND_SERVICE: run it as the systemd service (systemctl start sysmail), or listen on a higher port (--listen 127.0.0.1:2525)`,
      });
    case 'EADDRINUSE':
      return new SysmailError('ELISTEN', `cannot listen on ${where}: the address is already in use (another mail server such as postfix or exim, or a second \`sysmail serve\`)`, {
        exit: EX.UNAVAILABLE, cause: err,
        hint: `see who has it with \`ss -ltnp 'sport = :${addr.port}'\`; stop it (e.g. systemctl disable --now postfix) or set another port in listener.listen`,
      });
    case 'EADDRNOTAVAIL':
    case 'EAFNOSUPPORT':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new SysmailError('ELISTEN', `cannot listen on ${where}: that address does not exist on this host`, {
        exit: EX.CONFIG, cause: err, hint: 'check listener.listen in the config against `ip addr`',
      });
    default:
      return new SysmailError('ELISTEN', `cannot listen on ${where}: ${err.code ?? ''} ${err.message}`.trim(), {
        exit: EX.OSERR, cause: err,
      });
  }
}

function bind(server: SMTPServer, addr: ListenAddress): Promise<ListenAddress> {
  return new Promise((resolve, reject) => {
    const net = server.server;
    const onError = (err: NodeJS.ErrnoException) => { net.removeListener('listening', onListening); reject(err); };
    const onListening = () => {
      net.removeListener('error', onError);
      const a = net.address();
      resolve({ host: addr.host, port: typeof a === 'object' && a ? a.port : addr.port });
    };
    net.once('error', onError);
    net.once('listening', onListening);
    net.listen({ host: addr.host, port: addr.port });
  });
}

export async function startListener(opts: ListenerOptions): Promise<Listener> {
  if (opts.listen.length === 0) throw configError('listener.listen is empty', 'give at least one address, or run `sysmail serve --no-listen`');
  const trustedNetworks = opts.trustedNetworks ?? LOOPBACK_NETWORKS;
  let sec = await loadSecurity(opts.config(), trustedNetworks);
  const { SMTPServer } = await import('smtp-server');
  await (await import('./smtp-compat.js')).installSmtpCompat();
  const uid = process.getuid?.() ?? 0;
  const { timingSafeEqual, createHash } = await import('node:crypto');

  // Shared by every listening address: one user cannot take all sessions, root always finds one.
  const slots = new Slots();
  const heldBy = new Map<string, Lease>();
  const authFailures = new Map<string, { n: number; last: number }>();

  const makeServer = () => {
    const options = sessionOptions({
      config: opts.config,
      log: opts.log,
      channel: 'tcp',
      classify: (ip) => classifyPeer(ip, sec.trusted, sec.allowRelay),
      submitter: (ip) => ({ uid, user: `smtp:${ip}` }),
      queue: opts.queue,
      startEarly: opts.startEarly,
      checkPassword: async (user, password) => {
        const want = sec.users.get(user);
        const got = createHash('sha256').update(password, 'utf8').digest();
        // Compare even for unknown users so the timing does not tell which names exist.
        return timingSafeEqual(want ?? Buffer.alloc(32), got) && want !== undefined;
      },
      tls: sec.tls,
      auth: sec.tls !== null && sec.users.size > 0,
      idleTimeoutMs: opts.idleTimeoutMs,
    });
    const innerConnect = options.onConnect!;
    options.onConnect = (session, callback) => innerConnect(session, (err) => {
      if (err) return callback(err);
      const s = session as typeof session & { localAddress: string; localPort: number; remotePort: number };
      const lookup = isLoopback(s.remoteAddress)
        ? async () => peerUid({ ip: s.remoteAddress, port: s.remotePort }, { ip: s.localAddress, port: s.localPort })
        : async () => null;
      slots.admit(lookup, s.remoteAddress).then((r) => {
        if ('why' in r) {
          opts.log.event({ event: 'rejected', status: 'rejected', reason: `smtp from ${s.remoteAddress}: session refused: ${r.why}` });
          return callback(smtpReply(421, '4.7.0 Too many sessions from you, try again later'));
        }
        heldBy.set(session.id, r.lease);
        callback();
      }, (e: unknown) => callback(e as Error));
    });
    const innerClose = options.onClose;
    options.onClose = (session, server) => {
      innerClose?.(session, server);
      const h = heldBy.get(session.id);
      if (h) { heldBy.delete(session.id); slots.close(h); }
    };
    const innerAuth = options.onAuth!;
    options.onAuth = (auth, session, callback) => innerAuth(auth, session, (err, response) => {
      const ip = session.remoteAddress;
      if (!err) { authFailures.delete(ip); return callback(err, response); }
      if ((err as { responseCode?: number }).responseCode !== 535) return callback(err, response);
      // Each failure from one address waits longer (reset after 15 minutes without one).
      const now = Date.now();
      const prev = authFailures.get(ip);
      const n = prev && now - prev.last < 15 * 60_000 ? prev.n + 1 : 1;
      authFailures.set(ip, { n, last: now });
      if (authFailures.size > 10_000) authFailures.clear();
      const wait = Math.min(AUTH_FAILURE_DELAY_MS * n, AUTH_FAILURE_DELAY_MAX_MS);
      opts.log.event({ event: 'rejected', status: 'rejected', reason: `smtp from ${ip}: AUTH failure ${n} from this address; answering after ${wait} ms` });
      setTimeout(() => callback(err, response), wait);
    });
    const server = new SMTPServer(options);
    server.on('error', (err: Error & { remoteAddress?: string }) => {
      opts.log.verbose(`smtp${err.remoteAddress ? ` from ${err.remoteAddress}` : ''}: ${err.message}`);
    });
    return server;
  };

  const servers: SMTPServer[] = [];
  const addresses: ListenAddress[] = [];
  const closeAll = () => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  for (const addr of opts.listen) {
    const server = makeServer();
    try {
      addresses.push(await bind(server, addr));
      servers.push(server);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // Hosts with IPv6 turned off have no ::1; the default config lists it next to 127.0.0.1.
      const missingV6 = (e.code === 'EADDRNOTAVAIL' || e.code === 'EAFNOSUPPORT') && addr.host.includes(':') && isLoopback(addr.host);
      if (missingV6) {
        opts.log.verbose(`not listening on ${formatListen(addr)}: IPv6 loopback is not available on this host`);
        continue;
      }
      await closeAll();
      throw bindError(addr, e);
    }
  }
  if (servers.length === 0) {
    throw new SysmailError('ELISTEN', 'no listen address could be bound', { exit: EX.CONFIG, hint: 'check listener.listen in the config' });
  }

  return {
    addresses,
    async reload() {
      const next = await loadSecurity(opts.config(), trustedNetworks);
      const cfg = opts.config();
      sec = next;
      for (const s of servers) {
        s.options.size = cfg.general.maxMessageSize;
        s.options.name = cfg.general.hostname;
        const disabled = s.options.disabledCommands.filter((c) => c !== 'STARTTLS' && c !== 'AUTH');
        if (!next.tls) disabled.push('STARTTLS');
        if (!next.tls || next.users.size === 0) disabled.push('AUTH');
        s.options.disabledCommands = disabled;
        s.options.hideSTARTTLS = !next.tls;
        if (next.tls) s.updateSecureContext({ key: next.tls.key, cert: next.tls.cert });
      }
    },
    async close() {
      await closeAll();
    },
  };
}
