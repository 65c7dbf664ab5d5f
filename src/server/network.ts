/**
 * Who may relay through the listener, decided from the peer address alone.
 *
 * Pure: address normalisation, CIDR lists and the relay decision. Loopback
 * peers (127.0.0.0/8, ::1, and IPv4-mapped ::ffff:127.x) are trusted; a
 * non-loopback peer may relay only when its address is in
 * listener.allow_relay_from AND it authenticated over TLS. A bad CIDR is a
 * config error naming the key; nothing here guesses.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { configError } from '../core/errors.js';
import { parseCidr } from '../config/syntax.js';

/** The networks a default listener trusts without AUTH. */
export const LOOPBACK_NETWORKS: readonly string[] = ['127.0.0.0/8', '::1/128'];

/**
 * Canonical text of a peer address: IPv4-mapped IPv6 becomes plain IPv4 (a
 * dual-stack socket reports IPv4 peers that way), a zone index is dropped,
 * hex is lower case. Anything that is not an IP address comes back as given.
 */
export function normalizeIp(addr: string): string {
  let a = addr.trim().toLowerCase();
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  const mapped = /^(?:(?:0{1,4}:){5}|::(?:0{1,4}:)?)ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  return a;
}

/** A set of networks; `has` is false for anything that is not an IP address. */
export class NetworkList {
  private readonly list = new BlockList();
  readonly cidrs: readonly string[];

  /** `key` names the config key in the error when a CIDR is bad. */
  constructor(cidrs: readonly string[], key = 'listener.allow_relay_from') {
    const ok: string[] = [];
    for (const c of cidrs) {
      const parsed = parseCidr(c);
      if ('problem' in parsed) throw configError(`${key}: "${c}" ${parsed.problem}`, 'write networks as "192.0.2.0/24" or "2001:db8::/32"');
      const [ip, bits] = parsed.cidr.split('/') as [string, string];
      this.list.addSubnet(ip, Number(bits), isIPv4(ip) ? 'ipv4' : 'ipv6');
      ok.push(parsed.cidr);
    }
    this.cidrs = ok;
  }

  has(addr: string): boolean {
    const a = normalizeIp(addr);
    if (isIPv4(a)) return this.list.check(a, 'ipv4');
    if (isIPv6(a)) return this.list.check(a, 'ipv6');
    return false;
  }
}

const LOOPBACK = new NetworkList(LOOPBACK_NETWORKS, 'loopback');

export function isLoopback(addr: string): boolean {
  return LOOPBACK.has(addr);
}

/**
 * trusted: may send anywhere without AUTH (loopback by default);
 * relay-auth: may relay after AUTH over TLS (in allow_relay_from);
 * refused: neither; the connection is refused at once.
 */
export type PeerClass = 'trusted' | 'relay-auth' | 'refused';

export function classifyPeer(addr: string, trusted: NetworkList, allowRelay: NetworkList): PeerClass {
  if (trusted.has(addr)) return 'trusted';
  if (allowRelay.has(addr)) return 'relay-auth';
  return 'refused';
}

export type RelayVerdict = 'ok' | 'auth-required' | 'denied';

/** Whether a transaction may start (MAIL) or continue (RCPT, DATA). */
export function relayVerdict(peer: PeerClass, authenticated: boolean, secure: boolean): RelayVerdict {
  if (peer === 'trusted') return 'ok';
  if (peer === 'refused') return 'denied';
  return authenticated && secure ? 'ok' : 'auth-required';
}

export interface ListenAddress {
  host: string;
  port: number;
}

/** "127.0.0.1:25", "[::1]:25", "localhost:2525" (already validated by the config loader, or from --listen). */
export function parseListen(s: string): ListenAddress | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s.trim());
  if (!m) return null;
  const host = m[1] ?? m[2]!;
  if (m[1] !== undefined && !isIPv6(host)) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host, port };
}

export function formatListen(a: ListenAddress): string {
  return isIPv6(a.host) ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
