/**
 * Syntax checks for the values a config holds: host names, addresses, CIDRs,
 * listen addresses, argv lists, OCIDs. Pure; each returns a reason string
 * (what is wrong) or null when the value is fine, so the validator can build
 * an error that says what to change.
 */

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?';
const HOSTNAME_RE = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
/** RFC 5322 dot-atom characters for local parts. */
const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const LOCAL_RE = new RegExp(`^${ATOM}(?:\\.${ATOM})*$`);
const QUOTED_LOCAL_RE = /^"(?:[^"\\\r\n\0]|\\[^\r\n\0])*"$/;

// Our own address checks: importing node:net for isIP would load net, stream and dgram on every
// command, the sendmail path included (measured ~3 ms).
const V4_OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const V4 = new RegExp(`^${V4_OCTET}(\\.${V4_OCTET}){3}$`);

export function isIPv4(s: string): boolean {
  return V4.test(s);
}

/** The WHATWG URL parser is built in and validates IPv6 literals exactly (no zone ids). */
export function isIPv6(s: string): boolean {
  if (!s.includes(':') || /[^0-9a-fA-F:.]/.test(s)) return false;
  try {
    return new URL(`http://[${s}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}

export function hostnameProblem(s: string): string | null {
  if (s.length === 0) return 'is empty';
  if (s.length > 253) return 'is longer than 253 characters';
  return HOSTNAME_RE.test(s) ? null : 'is not a valid host name';
}

/** A domain, or an IP literal in brackets ("[192.0.2.1]"). */
export function domainProblem(s: string): string | null {
  if (s.startsWith('[') && s.endsWith(']')) {
    const ip = s.slice(1, -1).replace(/^IPv6:/i, '');
    return isIPv4(ip) || isIPv6(ip) ? null : 'is not a valid address literal';
  }
  return hostnameProblem(s);
}

export function localPartProblem(s: string): string | null {
  if (s.length === 0) return 'has an empty local part';
  if (s.length > 64) return 'has a local part longer than 64 characters';
  if (s.startsWith('-')) return 'starts with "-", which a command line would read as an option';
  return LOCAL_RE.test(s) || QUOTED_LOCAL_RE.test(s) ? null : 'has characters not allowed in a local part';
}

/** user@domain; with allowBare, a bare local name such as "root" too. */
export function addressProblem(s: string, allowBare = false): string | null {
  if (/[\r\n\0\s<>]/.test(s)) return 'contains spaces, angle brackets or control characters';
  const at = s.lastIndexOf('@');
  if (at < 0) return allowBare ? localPartProblem(s) : 'has no "@domain"';
  const local = localPartProblem(s.slice(0, at));
  if (local) return local;
  const dom = domainProblem(s.slice(at + 1));
  return dom ? `has a domain that ${dom}` : null;
}

/** Route sender patterns: a full address, "@domain", or "" for the null sender. */
export function senderPatternProblem(s: string): string | null {
  if (s === '') return null;
  if (s.startsWith('@')) {
    const dom = domainProblem(s.slice(1));
    return dom ? `has a domain that ${dom}` : null;
  }
  return addressProblem(s);
}

/** Route domain patterns: "example.com" or "*.example.com". */
export function domainPatternProblem(s: string): string | null {
  return domainProblem(s.startsWith('*.') ? s.slice(2) : s);
}

/**
 * A CIDR, or a bare address (a single host). Host bits set ("10.0.0.1/8")
 * are refused: it is usually a typo for the network or for "/32".
 */
export function parseCidr(s: string): { cidr: string } | { problem: string } {
  const slash = s.indexOf('/');
  const ip = slash < 0 ? s : s.slice(0, slash);
  const v4 = isIPv4(ip);
  const v6 = !v4 && isIPv6(ip);
  if (!v4 && !v6) return { problem: 'is not an IP address or CIDR' };
  const bits = v4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) return { problem: `has a prefix length outside 0..${bits}` };
    prefix = Number(p);
  }
  const value = v4 ? ipv4ToBigInt(ip) : ipv6ToBigInt(ip);
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((value & hostMask) !== 0n) {
    const net = value & ~hostMask;
    return { problem: `has host bits set; the network is ${v4 ? bigIntToIpv4(net) : bigIntToIpv6(net)}/${prefix}` };
  }
  return { cidr: `${ip.toLowerCase()}/${prefix}` };
}

function ipv4ToBigInt(ip: string): bigint {
  return ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

function bigIntToIpv4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
}

function ipv6ToBigInt(ip: string): bigint {
  let text = ip;
  // An embedded IPv4 tail ("::ffff:1.2.3.4") becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = ipv4ToBigInt(v4[1]!);
    text = text.slice(0, v4.index) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === null ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function bigIntToIpv6(v: bigint): string {
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((v >> s) & 0xffffn).toString(16));
  // Compress the longest run of zero groups, as RFC 5952 does.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** "127.0.0.1:25", "[::1]:25", "localhost:2525". Port 0 asks the kernel for a free port. */
export function listenProblem(s: string): string | null {
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) return 'is not host:port';
  if (m[1] !== undefined && !isIPv6(m[1])) return 'has an invalid IPv6 address in brackets';
  if (m[2] !== undefined && !isIPv4(m[2]) && hostnameProblem(m[2])) return 'has an invalid host';
  if (Number(m[3]) > 65535) return 'has a port above 65535';
  return null;
}

/** OCI identifiers: "ocid1.<type>.<realm>.[region].<unique>". */
export function ocidProblem(s: string, type: string, what: string): string | null {
  const parts = s.split('.');
  if (parts.length < 5 || parts[0] !== 'ocid1') return `is not an OCID (a ${what} OCID looks like ocid1.${type}.oc1.<region>.<id>)`;
  if (parts[1] !== type) return `is the OCID of a ${parts[1]}, not of a ${what} (ocid1.${type}...)`;
  return /^[A-Za-z0-9._-]+$/.test(s) ? null : 'has characters an OCID cannot contain';
}

export function urlProblem(s: string): string | null {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return 'is not a URL';
  }
  return u.protocol === 'https:' || u.protocol === 'http:' ? null : 'is not an http:// or https:// URL';
}

/** Unix user names as useradd accepts them. */
export function userNameProblem(s: string): string | null {
  return /^[a-z_][a-z0-9_.-]{0,31}\$?$/i.test(s) ? null : 'is not a valid user name';
}

/** Small edit distance for "did you mean" suggestions. */
export function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  return bestD <= limit ? best : null;
}

/** Optimal string alignment distance: "hots" -> "host" is one edit. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
