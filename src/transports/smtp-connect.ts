/**
 * Before the SMTP dialogue: the optional preconnect command and the TCP
 * connection itself.
 *
 * Guarantees: the preconnect argv runs without a shell, is killed after its
 * timeout, and counts as done when it exits (a tunnel it leaves running in
 * the background does not hold us up). The TCP connect has its own timeout
 * and TCP_NODELAY is set before the first byte, so no write of ours waits for
 * a delayed ACK. Every failure is a deferring SysmailError.
 */
import type { Socket } from 'node:net';
import { SysmailError, tempError, type ErrorCode } from '../core/errors.js';
import { sessionError, type ClientError, type Peer } from './smtp-reply.js';

const defer = (code: ErrorCode, message: string, hint?: string, cause?: unknown) =>
  tempError(code, message, cause, hint, { dsn: '4.4.1' });

/** Runs argv (no shell); resolves on exit status 0. */
export async function runPreconnect(argv: string[], timeoutMs: number, name: string): Promise<void> {
  if (argv.length === 0) return;
  const [{ spawn }, { envForChildren }] = await Promise.all([import('node:child_process'), import('../config/secrets.js')]);
  const k = `transports.${name}.preconnect`;
  const shown = JSON.stringify(argv[0]);
  await new Promise<void>((resolve, reject) => {
    let stderr = '';
    let settled = false;
    // Never with a password_env secret in its environment (the secret is resolved before this runs).
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], shell: false, env: envForChildren() });
    const finish = (err?: SysmailError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // A background child (ssh -f) may keep stderr open: stop waiting for it.
      child.stderr?.resume();
      (child.stderr as unknown as Socket | null)?.unref?.();
      if (err) reject(err); else resolve();
    };
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      finish(defer('ESMTP_PRECONNECT', `preconnect command ${shown} did not finish within ${timeoutMs} ms`,
        `${k} must exit once the connection can be made; the limit is transports.${name}.timeouts.connect`));
    }, timeoutMs);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => { if (stderr.length < 2000) stderr += d; });
    child.on('error', (e) => finish(defer('ESMTP_PRECONNECT', `cannot run preconnect command ${shown}: ${(e as NodeJS.ErrnoException).code ?? e.message}`,
      `check ${k}: the first element must be an executable path`, e)));
    child.on('exit', (code, signal) => {
      if (code === 0) { finish(); return; }
      const first = stderr.split('\n').find((l) => l.trim())?.trim().slice(0, 300);
      finish(defer('ESMTP_PRECONNECT',
        `preconnect command ${shown} ${signal ? `was killed by ${signal}` : `exited with status ${code}`}${first ? `: ${first}` : ''}`,
        `run it by hand to see why (${k})`));
    });
  });
}

/** Opens the TCP connection with TCP_NODELAY set; rejects with a deferring SysmailError. */
export async function openSocket(p: Peer): Promise<Socket> {
  const net = await import('node:net');
  return new Promise<Socket>((resolve, reject) => {
    const socket = net.connect({ host: p.host, port: p.port, noDelay: true });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(sessionError({ message: 'Connection timeout', code: 'ETIMEDOUT', timeoutType: 'CONNECT_TIMEOUT' }, 'connect', p));
    }, p.timeouts.connect);
    const onError = (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      const ce: ClientError = { message: e.message, code: 'ECONNECTION', originalCode: e.code };
      reject(sessionError(ce, 'connect', p));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      // Until the SMTP client attaches its own handler, an error must not crash the process.
      socket.on('error', () => {});
      resolve(socket);
    });
  });
}
