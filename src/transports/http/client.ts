/**
 * The small HTTP client of the HTTP-based transports (OCI Notifications
 * today): exact control over the headers that are signed (fetch would
 * rewrite host and content-length), one keep-alive connection per delivery
 * pass, and a hard deadline per request. `status.ts` maps a status code to
 * a delivery outcome.
 *
 * Guarantees: every request ends within `timeoutMs` (then it rejects with
 * code ETIMEDOUT); responses are read up to 1 MiB; plain http:// is refused
 * except to loopback and link-local addresses (the instance metadata service
 * and test fakes), so a signed request never crosses a network in clear.
 * Network failures reject with the socket error; HTTP statuses never reject.
 */
import type { Agent as HttpAgent, IncomingHttpHeaders } from 'node:http';
import { configError } from '../../core/errors.js';

const MAX_RESPONSE = 1024 * 1024;

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string | Buffer;
  timeoutMs: number;
}

export interface HttpClient {
  request(req: HttpRequest): Promise<HttpResponse>;
  close(): void;
}

/** True for hosts where clear-text HTTP does not leave the machine or the instance. */
export function isLocalHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\./.test(h) || /^169\.254\./.test(h);
}

/** Refuses URLs a signed request must not go to; `key` names the config key for the message. */
export function checkUrl(raw: string, key: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw configError(`${key} "${raw}" is not a URL`, 'write it as https://host[:port][/path]');
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && isLocalHost(url.hostname)) return url;
  throw configError(`${key} "${raw}" must use https:// (signed requests and tokens must not travel in clear)`,
    'use the https:// endpoint');
}

export class HttpTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
}

export async function createHttpClient(): Promise<HttpClient> {
  const [http, https] = await Promise.all([import('node:http'), import('node:https')]);
  const agents: { http?: HttpAgent; https?: HttpAgent } = {};
  const agentFor = (url: URL): HttpAgent => url.protocol === 'https:'
    ? (agents.https ??= new https.Agent({ keepAlive: true, maxSockets: 1 }))
    : (agents.http ??= new http.Agent({ keepAlive: true, maxSockets: 1 }));

  return {
    request(req) {
      return new Promise<HttpResponse>((resolvePromise, reject) => {
        const mod = req.url.protocol === 'https:' ? https : http;
        const headers: Record<string, string> = { ...req.headers };
        const r = mod.request(req.url, { method: req.method, headers, agent: agentFor(req.url) }, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= MAX_RESPONSE) chunks.push(c);
          });
          res.on('end', () => {
            clearTimeout(timer);
            resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', (err) => { clearTimeout(timer); reject(err); });
        });
        const timer = setTimeout(() => {
          r.destroy(new HttpTimeoutError(`no complete answer from ${req.url.host} within ${req.timeoutMs} ms`));
        }, req.timeoutMs);
        r.on('error', (err) => { clearTimeout(timer); reject(err); });
        r.end(req.body);
      });
    },
    close() {
      agents.http?.destroy();
      agents.https?.destroy();
    },
  };
}
