/**
 * Instance-principal auth: the instance proves who it is with the X.509
 * certificate the instance metadata service (IMDS) hands out, trades it at
 * the auth service's X.509 federation endpoint for a security token (a JWT)
 * bound to a session key generated here, and signs API calls with
 * keyId `ST$<token>` and that session key. Mirrors oci-common's
 * X509FederationClient (reference doc §2.6), without its console chatter.
 *
 * Guarantees: the token is re-fetched before it expires (when less than
 * min(5 min, half its lifetime) is left, by the injected clock) and after
 * `invalidate()` (a 401); concurrent callers share one refresh; the leaf
 * certificate and key are re-read from IMDS on every refresh because OCI
 * rotates them. Fails with a temporary SysmailError (the message stays
 * queued) naming the step that failed: off OCI, IMDS is unreachable.
 */
import { X509Certificate, createPrivateKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { configError, tempError } from '../../core/errors.js';
import { signRequest, httpDate, colonHex } from './signer.js';
import { checkUrl, createHttpClient, type HttpClient } from '../http/client.js';
import type { OciAuth, OciCredentials } from './auth.js';
import { SHORT_REGIONS } from './regions.js';

export const DEFAULT_METADATA_URL = 'http://169.254.169.254/opc/v2';
const REFRESH_MARGIN_MS = 5 * 60_000;
const NOT_ON_OCI = 'instance principals work only on an OCI compute instance whose metadata service answers; ' +
  'elsewhere use auth = "api_key"';


export interface InstancePrincipalOptions {
  /** IMDS base, e.g. http://169.254.169.254/opc/v2 (tests: a loopback fake). */
  metadataUrl: string;
  /** Federation base; default https://auth.{region}.{domain}. */
  federationUrl: string | null;
  /** Configured region; when empty it is asked from IMDS. */
  region: string | null;
  /** Second-level domain of the realm. Default oraclecloud.com. */
  domain?: string;
  timeoutMs: number;
  now: () => number;
}

interface Session {
  creds: OciCredentials;
  refreshAt: number;
}

/** Decodes the JWT payload's `exp` and `iat` (seconds); null when the token is not JWT-shaped. */
export function jwtTimes(token: string): { exp: number; iat?: number } | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const payload = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { exp?: unknown; iat?: unknown };
    if (typeof payload.exp !== 'number') return null;
    return { exp: payload.exp, iat: typeof payload.iat === 'number' ? payload.iat : undefined };
  } catch {
    return null;
  }
}

/** When to fetch a new token: with min(5 min, half the lifetime) still left. */
export function refreshTime(issuedAtMs: number, expMs: number): number {
  const lifetime = Math.max(0, expMs - issuedAtMs);
  return expMs - Math.min(REFRESH_MARGIN_MS, lifetime / 2);
}

/** The tenancy OCID from the leaf certificate's subject (`opc-tenant:` or `opc-identity:`). */
export function tenancyFromCertificate(cert: X509Certificate): string | null {
  for (const line of cert.subject.split('\n')) {
    for (const tag of ['opc-tenant:', 'opc-identity:']) {
      const at = line.indexOf(tag);
      if (at !== -1) return line.slice(at + tag.length).trim();
    }
  }
  return null;
}

/** PEM body without armour and line breaks, the form the federation endpoint takes. */
export function pemBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
}

export function createInstancePrincipalAuth(opts: InstancePrincipalOptions): OciAuth {
  const imds = opts.metadataUrl.replace(/\/+$/, '');
  let region = opts.region || null;
  let session: Session | null = null;
  let inflight: Promise<Session> | null = null;

  const imdsGet = async (http: HttpClient, path: string, optional = false): Promise<string | null> => {
    const url = checkUrl(`${imds}/${path}`, 'metadata_url');
    let res;
    try {
      res = await http.request({ method: 'GET', url, headers: { authorization: 'Bearer Oracle' }, timeoutMs: opts.timeoutMs });
    } catch (err) {
      throw tempError('EOCIIMDS', `cannot reach the instance metadata service at ${url.href}: ${(err as Error).message}`, err, NOT_ON_OCI);
    }
    if (res.status === 404 && optional) return null;
    if (res.status !== 200) {
      throw tempError('EOCIIMDS', `instance metadata service answered ${res.status} for ${url.pathname}`, undefined, NOT_ON_OCI);
    }
    return res.body;
  };

  const fetchRegion = async (http: HttpClient): Promise<string> => {
    const canonical = (await imdsGet(http, 'instance/canonicalRegionName', true))?.trim();
    if (canonical) return canonical;
    const short = ((await imdsGet(http, 'instance/region')) ?? '').trim();
    return SHORT_REGIONS[short.toLowerCase()] ?? short;
  };

  const refresh = async (): Promise<Session> => {
    const http = await createHttpClient();
    try {
      region ??= await fetchRegion(http);
      const certPem = await imdsGet(http, 'identity/cert.pem');
      const keyPem = await imdsGet(http, 'identity/key.pem');
      const intermediatePem = await imdsGet(http, 'identity/intermediate.pem', true);
      let cert: X509Certificate;
      let leafKey: KeyObject;
      try {
        cert = new X509Certificate(certPem!);
        leafKey = createPrivateKey({ key: keyPem!, format: 'pem', passphrase: '' });
      } catch (err) {
        throw tempError('EOCIIMDS',
          `the instance metadata service returned an unusable certificate or key: ${(err as Error).message}`, err, NOT_ON_OCI);
      }
      const tenancy = tenancyFromCertificate(cert);
      if (!tenancy) throw configError('the instance certificate names no tenancy (no opc-tenant: in its subject)', NOT_ON_OCI);
      const fingerprint = colonHex(cert.fingerprint.replace(/:/g, ''));

      const { publicKey, privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
      const body = JSON.stringify({
        certificate: pemBody(certPem!),
        purpose: 'DEFAULT',
        publicKey: pemBody(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
        intermediateCertificates: intermediatePem ? [pemBody(intermediatePem)] : [],
      });
      const base = (opts.federationUrl ?? `https://auth.${region}.${opts.domain ?? 'oraclecloud.com'}`).replace(/\/+$/, '');
      const url = checkUrl(`${base}/v1/x509`, 'federation_url');
      const started = opts.now();
      const headers: Record<string, string> = { date: httpDate(started), 'content-type': 'application/json' };
      Object.assign(headers, signRequest({
        method: 'POST', url, headers, body, keyId: `${tenancy}/fed-x509/${fingerprint}`, privateKey: leafKey,
        signedHeaders: ['date', '(request-target)', 'host', 'content-type', 'content-length', 'x-content-sha256'],
      }));
      let res;
      try {
        res = await http.request({ method: 'POST', url, headers, body, timeoutMs: opts.timeoutMs });
      } catch (err) {
        throw tempError('EOCIAUTH', `cannot reach the OCI federation endpoint ${url.origin}: ${(err as Error).message}`, err);
      }
      if (res.status !== 200) {
        throw tempError('EOCIAUTH', `OCI federation endpoint ${url.origin} answered ${res.status}: ${res.body.slice(0, 300)}`, undefined,
          'the auth service refused the instance certificate: check the region (or federation_url) and the system clock');
      }
      let token: unknown;
      try { token = (JSON.parse(res.body) as { token?: unknown }).token; } catch { token = undefined; }
      if (typeof token !== 'string' || !token) {
        throw tempError('EOCIAUTH', `OCI federation endpoint ${url.origin} answered without a token`);
      }
      const times = jwtTimes(token);
      // A token whose exp cannot be read is not cached: the next call fetches a new one.
      const issued = times?.iat !== undefined ? Math.min(times.iat * 1000, started) : started;
      const refreshAt = times ? refreshTime(issued, times.exp * 1000) : started;
      return { creds: { keyId: `ST$${token}`, privateKey }, refreshAt };
    } finally {
      http.close();
    }
  };

  return {
    kind: 'instance_principal',
    get region() { return region; },
    warnings: [],
    async credentials() {
      if (session && opts.now() < session.refreshAt) return session.creds;
      inflight ??= refresh().finally(() => { inflight = null; });
      session = await inflight;
      return session.creds;
    },
    invalidate() {
      session = null;
      return true;
    },
  };
}
