/**
 * Static transport registry (no plugin loading from config paths, see
 * STYLE.md). Each transport module is imported only when a route uses it, so
 * the submission path never loads nodemailer or the OCI signer.
 */
import type { TransportConfig } from '../config/types.js';
import type { Transport, TransportContext } from './types.js';

export async function createTransport(cfg: TransportConfig, ctx: TransportContext): Promise<Transport> {
  switch (cfg.type) {
    case 'smtp': {
      const [{ createSmtpTransport }, { resolveSecret }] = await Promise.all([import('./smtp.js'), import('../config/secrets.js')]);
      return createSmtpTransport(cfg, ctx, (ref) => resolveSecret(ref));
    }
    case 'maildir': return (await import('./maildir.js')).createMaildirTransport(cfg, ctx);
    case 'mbox': return (await import('./mbox.js')).createMboxTransport(cfg, ctx);
    case 'local': return (await import('./local.js')).createLocalTransport(cfg, ctx);
    case 'command': return (await import('./command.js')).createCommandTransport(cfg, ctx);
    case 'motd': return (await import('./motd.js')).createMotdTransport(cfg, ctx);
    case 'stdout': return (await import('./stdout.js')).createStdoutTransport(cfg, ctx);
    case 'oci-notifications': return (await import('./oci/transport.js')).createOciTransport(cfg, ctx);
  }
}

/**
 * Creates each transport on first use and closes them all at the end of the pass, or, in serve,
 * after a short idle time (src/server/kept-transports.ts) so the next pass reuses the connection.
 */
export class TransportPool {
  private readonly open = new Map<string, Promise<Transport>>();
  constructor(private readonly ctx: TransportContext,
    private readonly factory: (cfg: TransportConfig, ctx: TransportContext) => Promise<Transport> = createTransport) {}

  get(name: string): Promise<Transport> {
    let t = this.open.get(name);
    if (!t) {
      const cfg = this.ctx.config.transports[name];
      if (!cfg) return Promise.reject(new Error(`no transport named "${name}"`));
      t = this.factory(cfg, this.ctx);
      this.open.set(name, t);
    }
    return t;
  }

  /** Transports created so far (resolved ones only matter: a pending factory has no connection yet). */
  get size(): number { return this.open.size; }

  /** The pass is over and the pool is kept for the next one: each transport forgets its per-pass state. */
  async endPass(): Promise<void> {
    await Promise.allSettled([...this.open.values()].map(async (p) => (await p).endPass?.()));
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.allSettled(all.map(async (p) => (await p).close()));
  }
}
