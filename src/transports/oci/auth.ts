/**
 * What the OCI transport needs from any way of authenticating: a keyId and a
 * private key to sign the next request with, and a way to start over after
 * the service answered 401. API keys (auth-config.ts) and instance principals
 * (auth-instance.ts) implement it.
 */
import type { KeyObject } from 'node:crypto';

export interface OciCredentials {
  keyId: string;
  privateKey: KeyObject;
}

export interface OciAuth {
  readonly kind: 'api_key' | 'instance_principal';
  /** Region named by the auth source (profile `region`, instance metadata), or null. */
  readonly region: string | null;
  /** Non-fatal findings for the admin (file permissions, fingerprint mismatch). */
  readonly warnings: string[];
  /** Throws a SysmailError (EX_CONFIG or EX_TEMPFAIL) when no credentials can be had. */
  credentials(): Promise<OciCredentials>;
  /** After a 401: forget cached credentials. True when fresh ones may differ, so one retry is worth it. */
  invalidate(): boolean;
}
