/**
 * Throw-away TLS certificates for tests, made at test time with the `openssl`
 * CLI (nothing secret is committed to the repository).
 *
 *   const c = await makeCerts();          // CA + server cert for 127.0.0.1, ::1, localhost
 *   const other = await makeCerts('other'); // an unrelated CA and server cert ("unknown CA" case)
 *
 * Each name is made once per process and cached; the temp directories are
 * removed when the process exits. Fields:
 *   dir                       temp directory holding every file below
 *   caFile / caPem            the CA certificate (PEM) that signed the others
 *   certFile / certPem        server certificate, SAN: IP 127.0.0.1, IP ::1, DNS localhost
 *   keyFile / keyPem          its private key
 *   fingerprint256            SHA-256 of the server certificate DER, Node style "AB:CD:..."
 *   clientCertFile / clientKeyFile  a client certificate (CN=sysmail-test-client) from the same CA
 * Throws when openssl is missing or fails (the message includes its stderr).
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './paths.js';

export interface TestCerts {
  dir: string;
  caFile: string;
  caPem: string;
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
  fingerprint256: string;
  clientCertFile: string;
  clientKeyFile: string;
}

const cache = new Map<string, Promise<TestCerts>>();
const dirs: string[] = [];
let cleanupHooked = false;

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 20_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`openssl ${args[0]} failed: ${err.message}\n${stderr}`));
      else resolve();
    });
  });
}

async function build(name: string): Promise<TestCerts> {
  const dir = tempDir(`sysmail-certs-${name}-`);
  dirs.push(dir);
  if (!cleanupHooked) {
    cleanupHooked = true;
    process.on('exit', () => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
  }
  const days = '2';
  // EC keys: much faster to make than RSA, which keeps test start-up short.
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(['req', '-x509', ...ecKey, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', days,
    '-subj', `/CN=sysmail test CA ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);

  writeFileSync(join(dir, 'server.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n' +
    'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n');
  await openssl(['req', ...ecKey, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'], dir);
  await openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.pem', '-days', days, '-extfile', 'server.ext'], dir);

  writeFileSync(join(dir, 'client.ext'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  await openssl(['req', ...ecKey, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=sysmail-test-client'], dir);
  await openssl(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'client.pem', '-days', days, '-extfile', 'client.ext'], dir);

  const certPem = readFileSync(join(dir, 'server.pem'), 'utf8');
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server.key'),
    certPem,
    keyPem: readFileSync(join(dir, 'server.key'), 'utf8'),
    fingerprint256: new X509Certificate(certPem).fingerprint256,
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client.key'),
  };
}

/** A CA and certificates, made once per `name` per process. */
export function makeCerts(name = 'default'): Promise<TestCerts> {
  let p = cache.get(name);
  if (!p) {
    p = build(name);
    cache.set(name, p);
  }
  return p;
}
