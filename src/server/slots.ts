/**
 * Per-client session slots for the TCP listener, so that no one local user (or remote address)
 * can hold every session, and root always finds one free.
 *
 * Guarantees: a loopback client is counted by its uid, which the kernel reports for the client's
 * socket in /proc/net/tcp{,6} (any user can pick any 127.x.y.z source address, so the address says
 * nothing); other clients, and a loopback client whose socket is not found, are counted by address.
 * One key holds at most LISTENER_MAX_PER_CLIENT sessions; clients other than root together hold at
 * most LISTENER_MAX_CLIENTS - LISTENER_ROOT_RESERVED. Pure bookkeeping plus one read of /proc per
 * connection; a refusal is a reason string (the listener answers 421).
 *
 * The read of /proc/net/tcp walks every socket of the host (2-6 ms of kernel time with a few
 * hundred in TIME_WAIT), so `admit` does not read it while no limit can be reached: with fewer
 * sessions open than the smallest limit, no uid can be over its limit whoever this client is, and
 * the session is let in at once under a provisional key. Only when that many are open are the
 * owners of the provisional sessions looked up (their sockets are still open), and the exact
 * check is made, as before.
 */
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { LISTENER_MAX_CLIENTS, LISTENER_MAX_PER_CLIENT, LISTENER_ROOT_RESERVED } from '../config/defaults.js';

/** An address as /proc/net/tcp{,6} writes it: 32-bit words in host (little-endian) byte order, hex. */
export function procAddress(ip: string, port: number): { file: 'tcp' | 'tcp6'; text: string } | null {
  const hex = (b: number[]) => b.map((x) => x.toString(16).padStart(2, '0')).join('').toUpperCase();
  const p = port.toString(16).padStart(4, '0').toUpperCase();
  if (isIPv4(ip)) return { file: 'tcp', text: `${hex(ip.split('.').map(Number).reverse())}:${p}` };
  const bytes = ipv6Bytes(ip);
  if (!bytes) return null;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 4) words.push(...bytes.slice(i, i + 4).reverse());
  return { file: 'tcp6', text: `${hex(words)}:${p}` };
}

function ipv6Bytes(ip: string): number[] | null {
  let s = ip.replace(/%.*$/, '');
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    s = s.slice(0, -v4[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return null;
  const out: number[] = [];
  for (const g of groups) { const n = parseInt(g, 16); if (Number.isNaN(n)) return null; out.push(n >> 8, n & 0xff); }
  return out;
}

/** The uid that owns the client end of a TCP connection on this host, or null when not found. */
export function peerUid(remote: { ip: string; port: number }, local: { ip: string; port: number }): number | null {
  const r = procAddress(remote.ip, remote.port);
  const l = procAddress(local.ip, local.port);
  if (!r || !l || r.file !== l.file) return null;
  // Read synchronously, on purpose: the session is answered (220) in the same tick, so a local
  // client that talks at once is not told "too soon" (smtp-compat.ts removes the greeting pause).
  let text = '';
  try { text = readFileSync(`/proc/net/${r.file}`, 'latin1'); } catch { /* no /proc: counted by address */ }
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ...
    if (f[1] === r.text && f[2] === l.text) return Number(f[7]);
  }
  return null;
}

/** A held session slot. Its key may change once (from provisional to the uid) while it is held. */
export interface Lease { key: string; root: boolean; closed: boolean; lookup?: () => Promise<number | null>; address?: string }

export class Slots {
  private readonly held = new Map<string, number>();
  private others = 0;
  private total = 0;
  private seq = 0;
  /** Sessions let in under a provisional key; their owners are looked up only when a limit comes near. */
  private readonly provisional = new Set<Lease>();
  private settling: Promise<void> | null = null;

  constructor(private readonly perClient = LISTENER_MAX_PER_CLIENT, private readonly othersMax = LISTENER_MAX_CLIENTS - LISTENER_ROOT_RESERVED) {}

  /** Takes a slot for `key`; returns why not when refused. */
  take(key: string, root: boolean): string | null {
    const n = this.held.get(key) ?? 0;
    if (!root && n >= this.perClient) return `${key} already holds ${n} sessions (the limit per client is ${this.perClient})`;
    if (!root && this.others >= this.othersMax) return `all ${this.othersMax} sessions for clients other than root are in use`;
    this.count(key, root);
    return null;
  }

  private count(key: string, root: boolean): void {
    this.held.set(key, (this.held.get(key) ?? 0) + 1);
    if (!root) this.others++;
    this.total++;
  }

  release(key: string, root: boolean): void {
    const n = (this.held.get(key) ?? 1) - 1;
    if (n <= 0) this.held.delete(key); else this.held.set(key, n);
    if (!root) this.others = Math.max(0, this.others - 1);
    this.total = Math.max(0, this.total - 1);
  }

  /**
   * Admits one session whose owner `lookup` finds (null: unknown, counted by `address`).
   * Resolves with a lease to give back through `close`, or with why it is refused.
   */
  async admit(lookup: () => Promise<number | null>, address: string): Promise<{ lease: Lease } | { why: string }> {
    if (this.total + 1 <= Math.min(this.perClient, this.othersMax)) {
      // No limit can be reached: in now, counted as a non-root client until it needs to be known.
      const lease: Lease = { key: `pending ${++this.seq}`, root: false, closed: false, lookup, address };
      this.count(lease.key, false);
      this.provisional.add(lease);
      return { lease };
    }
    const [owner] = await Promise.all([lookup().catch(() => null), this.settle()]);
    await this.settle(); // sessions let in while we looked
    const key = keyOf(owner, address);
    const why = this.take(key, owner === 0);
    return why !== null ? { why } : { lease: { key, root: owner === 0, closed: false } };
  }

  close(lease: Lease): void {
    if (lease.closed) return;
    lease.closed = true;
    this.provisional.delete(lease);
    this.release(lease.key, lease.root);
  }

  /** Sessions under a provisional key now (tests). */
  get unresolved(): number { return this.provisional.size; }

  /** Looks up the owners of the provisional sessions and counts each under its real key. */
  private async settle(): Promise<void> {
    while (this.provisional.size > 0 || this.settling) {
      if (!this.settling) {
        const batch = [...this.provisional];
        this.provisional.clear();
        this.settling = Promise.all(batch.map(async (lease) => {
          const owner = await (lease.lookup?.() ?? Promise.resolve(null)).catch(() => null);
          if (lease.closed) return;
          this.release(lease.key, lease.root);
          lease.key = keyOf(owner, lease.address ?? '?');
          lease.root = owner === 0;
          this.count(lease.key, lease.root);
        })).then(() => { this.settling = null; });
      }
      await this.settling;
    }
  }
}

const keyOf = (owner: number | null, address: string) => (owner !== null ? `uid ${owner}` : `address ${address}`);
