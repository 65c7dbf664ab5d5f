/**
 * TLS settings for the smarthost transport.
 *
 * Guarantees: certificates are verified (unless tls_verify = false) against
 * the system CA bundle (the first of SYSTEM_CA_FILES that exists, else Node's
 * built-in CAs) plus the optional ca_file, never ca_file alone, so adding a
 * private CA does not drop the public ones. A pin (hex SHA-256 of the leaf
 * certificate DER) is checked in addition to, not instead of, the CA check.
 * Fails with a deferring SysmailError naming the config key: an unreadable
 * ca_file or client key must keep mail queued, not bounce it.
 */
import type { ConnectionOptions, SecureContext } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { tempError } from '../core/errors.js';
import type { SmtpTransportConfig } from '../config/types.js';

export const SYSTEM_CA_FILES = ['/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/certs/ca-certificates.crt'];

const configTrouble = (message: string, hint: string, cause?: unknown) =>
  tempError('ESMTP_CONFIG', message, cause, hint, { dsn: '4.3.5' });

async function readConfigured(path: string, what: string, keyPath: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code ?? 'error';
    throw configTrouble(`cannot read ${what} ${path} (${keyPath}): ${errno}`,
      `fix the path or the file's permissions; sysmail must be able to read it`, e);
  }
}

/** The PEM text of the system bundle, or null when none of the files exists. */
export async function readSystemCa(files: string[] = SYSTEM_CA_FILES): Promise<string | null> {
  for (const f of files) {
    try {
      return await readFile(f, 'utf8');
    } catch {
      // Not there (or unreadable): try the next location, then Node's own list.
    }
  }
  return null;
}

/**
 * tls.connect options for this transport. Built once per transport object:
 * parsing the system bundle costs a few milliseconds, not worth repeating per
 * connection.
 */
export async function buildTlsOptions(cfg: SmtpTransportConfig, systemCaFiles: string[] = SYSTEM_CA_FILES): Promise<ConnectionOptions> {
  const tls = await import('node:tls');
  const k = (s: string) => `transports.${cfg.name}.${s}`;
  const ctxOpts: Parameters<typeof tls.createSecureContext>[0] = { minVersion: 'TLSv1.2' };
  if (cfg.tlsVerify) {
    const ca: string[] = [(await readSystemCa(systemCaFiles)) ?? tls.rootCertificates.join('\n')];
    if (cfg.caFile) ca.push(await readConfigured(cfg.caFile, 'CA file', k('ca_file')));
    ctxOpts.ca = ca;
  }
  if (cfg.clientCert || cfg.clientKey) {
    if (!cfg.clientCert || !cfg.clientKey) {
      throw configTrouble(`${k('client_cert')} and ${k('client_key')} must be set together`, 'set both, or neither');
    }
    ctxOpts.cert = await readConfigured(cfg.clientCert, 'client certificate', k('client_cert'));
    ctxOpts.key = await readConfigured(cfg.clientKey, 'client key', k('client_key'));
  }
  let secureContext: SecureContext;
  try {
    secureContext = tls.createSecureContext(ctxOpts);
  } catch (e) {
    throw configTrouble(`cannot use the TLS files of transports.${cfg.name}: ${(e as Error).message}`,
      `check that ${k('ca_file')}, ${k('client_cert')} and ${k('client_key')} are PEM files and that the key matches the certificate`, e);
  }
  return { secureContext, rejectUnauthorized: cfg.tlsVerify, minVersion: 'TLSv1.2' };
}

/** "AB:cd:..." or "abcd..." -> "abcd...", or null when it is not 64 hex digits. */
export function normalizePin(pin: string): string | null {
  const hex = pin.replace(/[:\s]/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : null;
}

/** "abcd..." -> "ab:cd:...", the form openssl prints, for messages. */
export function formatFingerprint(hex: string): string {
  return hex.replace(/(..)(?!$)/g, '$1:');
}

/** Checks the leaf certificate's SHA-256 against the configured pin; throws a deferring error on mismatch. */
export function checkPin(cfg: SmtpTransportConfig, leafDer: Buffer | null, sha256: (b: Buffer) => string): void {
  if (!cfg.pinSha256) return;
  const k = `transports.${cfg.name}.pin_sha256`;
  const want = normalizePin(cfg.pinSha256);
  if (!want) throw configTrouble(`${k} is not a SHA-256 fingerprint (64 hex digits, colons allowed)`, 'print it with: openssl x509 -noout -fingerprint -sha256 -in cert.pem');
  if (!leafDer) {
    throw tempError('ESMTP_PIN', `${k} is set but the connection to ${cfg.host}:${cfg.port} is not encrypted, so there is no certificate to check`,
      undefined, 'use security = "starttls" or "tls" with a pin', { dsn: '4.7.5' });
  }
  const got = sha256(leafDer);
  if (got !== want) {
    throw tempError('ESMTP_PIN', `TLS certificate of ${cfg.host}:${cfg.port} has SHA-256 fingerprint ${formatFingerprint(got)}, which does not match ${k}`,
      undefined, `if the server's certificate was renewed on purpose, put the new fingerprint in ${k}; otherwise someone may be intercepting the connection`, { dsn: '4.7.5' });
  }
}
