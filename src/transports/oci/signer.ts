/**
 * OCI HTTP Signature v1 (draft-cavage-08, rsa-sha256), as every OCI SDK signs.
 *
 * Guarantees: `signRequest` is a pure function of its input (the date is one
 * of the input headers, never read from a clock) and reproduces Oracle's
 * published GET and POST test vectors byte for byte. It adds the headers a
 * signed request needs (host, and for bodies content-length, content-type,
 * x-content-sha256) and the Authorization header; it never changes the
 * caller's headers. Fails by throwing a plain Error for programming mistakes
 * (a signed header with no value); key problems surface from node:crypto.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/** Signed by every SDK for requests without a body. */
export const GENERIC_HEADERS = ['date', '(request-target)', 'host'] as const;
/** Added for POST, PUT and PATCH. */
export const BODY_HEADERS = ['content-length', 'content-type', 'x-content-sha256'] as const;

export interface SignInput {
  method: string;
  url: string | URL;
  /** Headers already on the request; must hold `date` (or `x-date` when that is signed). Case-insensitive. */
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** `tenancy/user/fingerprint`, `ST$<token>`, or `tenancy/fed-x509/<sha1>`. */
  keyId: string;
  privateKey: KeyObject | string;
  /** Override the signed header list (e.g. the SDK's `x-date` variant); default by method. */
  signedHeaders?: readonly string[];
}

export function defaultSignedHeaders(method: string): string[] {
  const m = method.toUpperCase();
  return m === 'POST' || m === 'PUT' || m === 'PATCH' ? [...GENERIC_HEADERS, ...BODY_HEADERS] : [...GENERIC_HEADERS];
}

export function sha256Base64(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('base64');
}

/** IMF-fixdate, the form HTTP and the signature expect. */
export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

/** `<lowercase method> <path>?<query>`, the query exactly as it will be sent. */
export function requestTarget(method: string, url: URL): string {
  return `${method.toLowerCase()} ${url.pathname}${url.search}`;
}

/** The string that is signed: `name: value` per listed header, joined by LF, no trailing LF. */
export function signingString(method: string, url: URL, headers: Record<string, string>, names: readonly string[]): string {
  const lower = lowerKeys(headers);
  return names.map((n) => {
    const name = n.toLowerCase();
    if (name === '(request-target)') return `${name}: ${requestTarget(method, url)}`;
    const v = lower[name];
    if (v === undefined) throw new Error(`cannot sign: header "${name}" has no value`);
    return `${name}: ${v}`;
  }).join('\n');
}

/** Returns the headers to add to the request (lowercase names), Authorization included. */
export function signRequest(input: SignInput): Record<string, string> {
  const url = typeof input.url === 'string' ? new URL(input.url) : input.url;
  const names = input.signedHeaders ?? defaultSignedHeaders(input.method);
  const existing = lowerKeys(input.headers);
  const added: Record<string, string> = {};
  if (existing.host === undefined) added.host = url.host;
  const wantsBody = names.some((n) => BODY_HEADERS.includes(n.toLowerCase() as (typeof BODY_HEADERS)[number]));
  if (wantsBody) {
    const body = input.body ?? '';
    const len = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    if (existing['content-length'] === undefined) added['content-length'] = String(len);
    if (existing['content-type'] === undefined) added['content-type'] = 'application/json';
    if (existing['x-content-sha256'] === undefined) added['x-content-sha256'] = sha256Base64(body);
  }
  const all = { ...existing, ...added };
  const toSign = signingString(input.method, url, all, names);
  const signature = sign('sha256', Buffer.from(toSign), input.privateKey).toString('base64');
  added.authorization = `Signature version="1",headers="${names.join(' ')}",keyId="${input.keyId}",` +
    `algorithm="rsa-sha256",signature="${signature}"`;
  return added;
}

export interface ParsedAuthorization {
  version: string;
  keyId: string;
  algorithm: string;
  headers: string[];
  signature: string;
}

/** Parses `Signature k="v",…` in any parameter order; null when it is not that shape. */
export function parseAuthorization(value: string | undefined): ParsedAuthorization | null {
  if (!value || !/^Signature\s+/i.test(value)) return null;
  const params: Record<string, string> = {};
  const re = /([A-Za-z]+)="([^"]*)"/g;
  for (let m = re.exec(value); m; m = re.exec(value)) params[m[1]!] = m[2]!;
  if (!params.keyId || !params.signature) return null;
  return {
    version: params.version ?? '',
    keyId: params.keyId,
    algorithm: params.algorithm ?? '',
    headers: (params.headers ?? 'date').split(/\s+/).filter(Boolean),
    signature: params.signature,
  };
}

/** Checks a signature over a rebuilt signing string; used by `doctor`-style self-checks and the test fake. */
export function verifySignature(toSign: string, signatureB64: string, publicKey: KeyObject | string): boolean {
  try {
    return verify('sha256', Buffer.from(toSign), publicKey, Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}

/** The API-key fingerprint OCI shows: MD5 of the DER SubjectPublicKeyInfo, lowercase hex, colon-separated. */
export function keyFingerprint(key: KeyObject | string): string {
  const pub = typeof key !== 'string' && key.type === 'public' ? key : createPublicKey(key);
  const der = pub.export({ type: 'spki', format: 'der' });
  return colonHex(createHash('md5').update(der).digest('hex'));
}

export function colonHex(hex: string): string {
  return hex.toLowerCase().match(/../g)!.join(':');
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}
