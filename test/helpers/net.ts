/** Network helpers for tests: loopback only. */
import { connect, createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that nothing listens on right now (closed again before returning). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * A port on 127.0.0.1 that refuses connections for the whole run: a relay that is down. A freePort()
 * can be handed to another test's listen(0) a moment later (the suite runs files in parallel), and
 * then the "dead" relay answers; the kernel never hands out a port below 1024 that way
 * (net.ipv4.ip_local_port_range), so one of those that refuses now keeps refusing.
 */
export async function refusedPort(): Promise<number> {
  for (let port = 1023; port > 900; port--) {
    const refused = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => { s.destroy(); resolve(false); });
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
    });
    if (refused) return port;
  }
  throw new Error('no port between 901 and 1023 refuses connections on 127.0.0.1');
}
