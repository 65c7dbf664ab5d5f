/**
 * A loopback stand-in for the three OCI services the transport talks to, checking every request as the
 * real ones would:
 * - Notifications (ONS) PublishMessage: `POST /20181201/topics/{topicId}/messages`. The Authorization
 *   header is parsed, the signing string rebuilt from the listed headers and verified with the
 *   registered API key (by keyId) or with the session key of a security token this fake issued. The
 *   signed headers must include the set OCI requires; x-content-sha256 and content-length must match
 *   the body; a date more than 5 min off is refused. Any failure: 401 NotAuthenticated. Then the JSON
 *   body is validated (body: string, title: string, 64 KiB): 400 InvalidParameter or CannotParseRequest.
 *   Programmed answers (queueResponses) come next; accepted messages are recorded.
 * - Instance metadata (IMDS v2) under /opc/v2/: region, and a leaf certificate (with opc-tenant: in its
 *   subject), its key and an intermediate, made at first use. Requires `Authorization: Bearer Oracle`.
 * - X.509 federation `POST /v1/x509`: verifies the request signed with the leaf key under
 *   `{tenancy}/fed-x509/{sha1}` and issues a JWT-shaped token with a short `exp`, bound to the
 *   session public key in the request.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createHash, createPublicKey, generateKeyPairSync, sign, verify, X509Certificate, type KeyObject,
} from 'node:crypto';

export interface FakeOciOptions {
  /** The fake's clock (ms), for date skew and token expiry. Default Date.now. */
  now?: () => number;
  /** Lifetime of issued security tokens, seconds. Default 1200 (as OCI's instance tokens). */
  tokenLifetimeSec?: number;
  /** What IMDS says: the canonical region name, and the short code. */
  region?: string;
  regionCode?: string;
}

export interface PublishedMessage {
  topicId: string;
  title?: string;
  body: string;
  keyId: string;
  messageType?: string;
  /** Request body size in bytes. */
  bytes: number;
  /** The fake's clock when it arrived. */
  at: number;
}

export interface Rejection { status: number; code: string; message: string; at: number }

export interface ProgrammedAnswer { status: number; code?: string; message?: string }

export interface FakeOci {
  readonly url: string;
  readonly metadataUrl: string;
  readonly federationUrl: string;
  readonly tenancy: string;
  readonly messages: PublishedMessage[];
  readonly rejections: Rejection[];
  /** Every publish request that reached the server, accepted or not. */
  readonly publishArrivals: number[];
  readonly imdsRequests: string[];
  federations: number;
  registerApiKey(keyId: string, publicKey: KeyObject | string): void;
  queueResponses(...answers: ProgrammedAnswer[]): void;
  /** Forget every issued token, as after a key rotation: the next use gets 401. */
  revokeTokens(): void;
  close(): Promise<void>;
}

// ---- minimal DER, enough for a certificate ------------------------------------------------

function der(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const len = n < 0x80 ? Buffer.from([n])
    : n < 0x100 ? Buffer.from([0x81, n])
    : n < 0x10000 ? Buffer.from([0x82, n >> 8, n & 0xff])
    : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
}
const seq = (...items: Buffer[]) => der(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => der(0x31, Buffer.concat(items));
function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const bytes = [40 * arcs[0]! + arcs[1]!];
  for (const a of arcs.slice(2)) {
    const stack = [a & 0x7f];
    for (let v = a >> 7; v > 0; v >>= 7) stack.unshift((v & 0x7f) | 0x80);
    bytes.push(...stack);
  }
  return der(0x06, Buffer.from(bytes));
}
const utf8 = (s: string) => der(0x0c, Buffer.from(s));
function utcTime(ms: number): Buffer {
  const iso = new Date(ms).toISOString();
  return der(0x17, Buffer.from(iso.slice(2, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z'));
}
function name(rdns: Array<[string, string]>): Buffer {
  const types: Record<string, string> = { CN: '2.5.4.3', OU: '2.5.4.11', O: '2.5.4.10' };
  return seq(...rdns.map(([t, v]) => set(seq(oid(types[t]!), utf8(v)))));
}

/** An X.509 v3 certificate for `subjectKey`, signed with `issuerKey` (sha256WithRSAEncryption). */
export function makeCertificate(subject: Array<[string, string]>, issuer: Array<[string, string]>,
  subjectKey: KeyObject, issuerKey: KeyObject, serial: number): string {
  const alg = seq(oid('1.2.840.113549.1.1.11'), der(0x05, Buffer.alloc(0)));
  const now = Date.now();
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))),
    der(0x02, Buffer.from([serial & 0x7f])),
    alg,
    name(issuer),
    seq(utcTime(now - 3600_000), utcTime(now + 86400_000)),
    name(subject),
    createPublicKey(subjectKey).export({ type: 'spki', format: 'der' }),
  );
  const sig = sign('sha256', tbs, issuerKey);
  const cert = seq(tbs, alg, der(0x03, Buffer.concat([Buffer.from([0]), sig])));
  return `-----BEGIN CERTIFICATE-----\n${cert.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
}

// ---- the server ------------------------------------------------------------------------------

const MAX_SKEW_MS = 5 * 60_000;
const MAX_BODY = 65_536;
const REQUIRED_POST = ['(request-target)', 'host', 'content-length', 'content-type', 'x-content-sha256'];

class Reject extends Error {
  constructor(readonly status: number, readonly code: string, message: string) { super(message); }
}

function parseAuth(v: string | undefined): { keyId: string; algorithm: string; headers: string[]; signature: string; version: string } {
  if (!v || !v.startsWith('Signature ')) throw new Reject(401, 'NotAuthenticated', 'The required information to complete authentication was not provided.');
  const p: Record<string, string> = {};
  for (const m of v.slice(10).matchAll(/([A-Za-z]+)="([^"]*)"/g)) p[m[1]!] = m[2]!;
  if (!p.keyId || !p.signature || !p.headers) throw new Reject(401, 'NotAuthenticated', 'Malformed Authorization header.');
  return { keyId: p.keyId, algorithm: p.algorithm ?? '', headers: p.headers.split(' '), signature: p.signature, version: p.version ?? '' };
}

export async function startFakeOci(opts: FakeOciOptions = {}): Promise<FakeOci> {
  const now = opts.now ?? Date.now;
  const lifetime = opts.tokenLifetimeSec ?? 1200;
  const tenancy = 'ocid1.tenancy.oc1..aaaaaaaafaketenancyforsysmailtests';
  const apiKeys = new Map<string, KeyObject>();
  const tokens = new Map<string, { key: KeyObject; exp: number }>();
  const answers: ProgrammedAnswer[] = [];
  let identity: { caKey: KeyObject; leafKey: KeyObject; leafPem: string; caPem: string; keyPem: string; fp: string } | null = null;
  let serial = 1;
  let requestNo = 0;

  const getIdentity = () => {
    if (identity) return identity;
    const ca = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const leaf = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const caName: Array<[string, string]> = [['CN', 'PKISVC Identity Intermediate r2']];
    const caPem = makeCertificate(caName, caName, ca.privateKey, ca.privateKey, serial++);
    const leafPem = makeCertificate([['CN', 'ocid1.instance.oc1.phx.fakeinstance'], ['OU', 'opc-certtype:instance'],
      ['OU', 'opc-compartment:ocid1.compartment.oc1..fakecompartment'], ['OU', `opc-tenant:${tenancy}`]],
    caName, leaf.privateKey, ca.privateKey, serial++);
    const fp = new X509Certificate(leafPem).fingerprint.toLowerCase();
    identity = { caKey: ca.privateKey, leafKey: leaf.privateKey, leafPem, caPem, fp,
      keyPem: leaf.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString() };
    return identity;
  };

  /** Rebuilds the signing string and verifies it; checks body digest, length and date. Returns the keyId. */
  const authenticate = (req: IncomingMessage, body: Buffer, lookup: (keyId: string) => KeyObject | null): string => {
    const a = parseAuth(req.headers.authorization);
    if (a.version !== '1' || a.algorithm !== 'rsa-sha256') throw new Reject(401, 'NotAuthenticated', 'Unsupported signature version or algorithm.');
    const listed = a.headers.map((h) => h.toLowerCase());
    const required = req.method === 'POST' || req.method === 'PUT' ? REQUIRED_POST : ['(request-target)', 'host'];
    for (const h of required) if (!listed.includes(h)) throw new Reject(401, 'NotAuthenticated', `Header ${h} must be signed.`);
    const dateName = listed.includes('x-date') ? 'x-date' : listed.includes('date') ? 'date' : null;
    if (!dateName) throw new Reject(401, 'NotAuthenticated', 'Header date or x-date must be signed.');
    const lines = listed.map((h) => {
      if (h === '(request-target)') return `${h}: ${req.method!.toLowerCase()} ${req.url}`;
      const v = req.headers[h];
      if (typeof v !== 'string') throw new Reject(401, 'NotAuthenticated', `Signed header ${h} is missing.`);
      return `${h}: ${v}`;
    });
    const key = lookup(a.keyId);
    if (!key) throw new Reject(401, 'NotAuthenticated', 'The required information to complete authentication was not provided or was incorrect.');
    if (!verify('sha256', Buffer.from(lines.join('\n')), key, Buffer.from(a.signature, 'base64'))) {
      throw new Reject(401, 'NotAuthenticated', 'The required information to complete authentication was not provided or was incorrect.');
    }
    if (listed.includes('x-content-sha256') && req.headers['x-content-sha256'] !== createHash('sha256').update(body).digest('base64')) {
      throw new Reject(401, 'NotAuthenticated', 'x-content-sha256 does not match the body.');
    }
    if (listed.includes('content-length') && Number(req.headers['content-length']) !== body.length) {
      throw new Reject(401, 'NotAuthenticated', 'content-length does not match the body.');
    }
    const date = Date.parse(String(req.headers[dateName]));
    if (!Number.isFinite(date) || Math.abs(now() - date) > MAX_SKEW_MS) {
      throw new Reject(401, 'NotAuthenticated', 'Date header is out of the permitted clock skew of 5 minutes.');
    }
    return a.keyId;
  };

  const lookupPublisher = (keyId: string): KeyObject | null => {
    if (keyId.startsWith('ST$')) {
      const t = tokens.get(keyId.slice(3));
      return t && t.exp * 1000 > now() ? t.key : null;
    }
    return apiKeys.get(keyId) ?? null;
  };

  const issueToken = (sessionKey: KeyObject): string => {
    const { caKey } = getIdentity();
    const iat = Math.floor(now() / 1000);
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const head = b64({ alg: 'RS256', typ: 'JWT', kid: 'asw' });
    const payload = b64({ sub: 'ocid1.instance.oc1.phx.fakeinstance', tenant: tenancy, ptype: 'instance', iat, exp: iat + lifetime, jti: `t${++fake.federations}` });
    const token = `${head}.${payload}.${sign('sha256', Buffer.from(`${head}.${payload}`), caKey).toString('base64url')}`;
    tokens.set(token, { key: sessionKey, exp: iat + lifetime });
    return token;
  };

  const handle = (req: IncomingMessage, body: Buffer): { status: number; json?: unknown; text?: string } => {
    const path = req.url ?? '';
    if (path.startsWith('/opc/v2/')) {
      fake.imdsRequests.push(path);
      if (req.headers.authorization !== 'Bearer Oracle') throw new Reject(401, 'NotAuthenticated', 'IMDS v2 needs Authorization: Bearer Oracle');
      const id = getIdentity();
      const files: Record<string, string> = {
        '/opc/v2/instance/region': opts.regionCode ?? 'phx',
        '/opc/v2/instance/canonicalRegionName': opts.region ?? 'us-phoenix-1',
        '/opc/v2/identity/cert.pem': id.leafPem,
        '/opc/v2/identity/key.pem': id.keyPem,
        '/opc/v2/identity/intermediate.pem': id.caPem,
      };
      const f = files[path];
      if (f === undefined) throw new Reject(404, 'NotFound', 'no such metadata');
      return { status: 200, text: f };
    }
    if (path === '/v1/x509' && req.method === 'POST') {
      const id = getIdentity();
      const leaf = createPublicKey(id.leafPem);
      authenticate(req, body, (keyId) => (keyId === `${tenancy}/fed-x509/${id.fp}` ? leaf : null));
      let j: { certificate?: unknown; publicKey?: unknown; purpose?: unknown; intermediateCertificates?: unknown };
      try { j = JSON.parse(body.toString('utf8')); } catch { throw new Reject(400, 'CannotParseRequest', 'bad JSON'); }
      const leafB64 = id.leafPem.replace(/-----[A-Z ]+-----|\s/g, '');
      if (j.certificate !== leafB64) throw new Reject(401, 'NotAuthenticated', 'certificate does not match the signing key');
      if (j.purpose !== 'DEFAULT' || !Array.isArray(j.intermediateCertificates)) throw new Reject(400, 'InvalidParameter', 'purpose/intermediateCertificates');
      let sessionKey: KeyObject;
      try {
        sessionKey = createPublicKey({ key: Buffer.from(String(j.publicKey), 'base64'), format: 'der', type: 'spki' });
      } catch { throw new Reject(400, 'InvalidParameter', 'publicKey is not a DER SubjectPublicKeyInfo'); }
      return { status: 200, json: { token: issueToken(sessionKey) } };
    }
    const m = /^\/20181201\/topics\/([^/?]+)\/messages$/.exec(path);
    if (m && req.method === 'POST') {
      fake.publishArrivals.push(now());
      const keyId = authenticate(req, body, lookupPublisher);
      if (!/^application\/json\b/.test(String(req.headers['content-type']))) throw new Reject(400, 'InvalidParameter', 'Content-Type must be application/json');
      const mt = req.headers.messagetype;
      if (mt !== undefined && mt !== 'RAW_TEXT' && mt !== 'JSON') throw new Reject(400, 'InvalidParameter', `Invalid messageType ${String(mt)}`);
      if (body.length > MAX_BODY) throw new Reject(400, 'InvalidParameter', `Message size ${body.length} exceeds the limit of 64KB`);
      let j: { title?: unknown; body?: unknown };
      try { j = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)); } catch { throw new Reject(400, 'CannotParseRequest', 'Request body is not valid JSON'); }
      if (j === null || typeof j !== 'object') throw new Reject(400, 'CannotParseRequest', 'Request body must be an object');
      if (j.body === undefined) throw new Reject(400, 'MissingParameter', 'body is required');
      if (typeof j.body !== 'string') throw new Reject(400, 'InvalidParameter', 'body must be a string');
      if (j.title !== undefined && typeof j.title !== 'string') throw new Reject(400, 'InvalidParameter', 'title must be a string');
      const answer = answers.shift();
      if (answer && (answer.status < 200 || answer.status > 299)) {
        throw new Reject(answer.status, answer.code ?? 'InternalServerError', answer.message ?? 'programmed failure');
      }
      fake.messages.push({ topicId: decodeURIComponent(m[1]!), title: j.title as string | undefined, body: j.body, keyId,
        messageType: typeof mt === 'string' ? mt : undefined, bytes: body.length, at: now() });
      return { status: answer?.status ?? 202, json: { messageId: `msg-${fake.messages.length}` } };
    }
    throw new Reject(404, 'NotAuthorizedOrNotFound', `no route for ${req.method} ${path}`);
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rid = `fake/${++requestNo}`;
      let out: { status: number; json?: unknown; text?: string };
      try {
        out = handle(req, Buffer.concat(chunks));
      } catch (err) {
        if (!(err instanceof Reject)) throw err;
        if ((req.url ?? '').includes('/messages')) fake.rejections.push({ status: err.status, code: err.code, message: err.message, at: now() });
        out = { status: err.status, json: { code: err.code, message: err.message } };
      }
      const text = out.text ?? JSON.stringify(out.json);
      res.writeHead(out.status, { 'content-type': out.text !== undefined ? 'text/plain' : 'application/json', 'opc-request-id': rid });
      res.end(text);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const fake: FakeOci = {
    url,
    metadataUrl: `${url}/opc/v2`,
    federationUrl: url,
    tenancy,
    messages: [],
    rejections: [],
    publishArrivals: [],
    imdsRequests: [],
    federations: 0,
    registerApiKey(keyId, publicKey) {
      apiKeys.set(keyId, typeof publicKey !== 'string' && publicKey.type === 'public' ? publicKey : createPublicKey(publicKey));
    },
    queueResponses(...a) { answers.push(...a); },
    revokeTokens() { tokens.clear(); },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
  return fake;
}

/**
 * An OCI CLI config file and API key in `dir` (made 0700), for `profile DEFAULT`, whose public key
 * the fake knows: what an admin's ~/.oci holds. Returns the config file's path.
 */
export async function writeApiKeyConfig(fake: FakeOci, dir: string, o: { tenancy: string; user: string; region: string }): Promise<string> {
  const { generateKeyPairSync } = await import('node:crypto');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { keyFingerprint } = await import('../../src/transports/oci/signer.js');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(join(dir, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
  const fp = keyFingerprint(publicKey);
  const config = join(dir, 'config');
  writeFileSync(config, `[DEFAULT]\nuser=${o.user}\nfingerprint=${fp}\ntenancy=${o.tenancy}\nregion=${o.region}\nkey_file=${join(dir, 'key.pem')}\n`, { mode: 0o600 });
  fake.registerApiKey(`${o.tenancy}/${o.user}/${fp}`, publicKey);
  return config;
}
