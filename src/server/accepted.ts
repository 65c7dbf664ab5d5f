/**
 * Messages the listener has just committed, kept in memory until their first
 * delivery pass, so that pass claims them without reading back from the disk
 * the bytes it has just written (FileSpool.claimCommitted).
 *
 * Guarantees: bounded (ACCEPTED_KEEP_BYTES in all; a message that does not fit
 * is simply not kept and is read from the spool as usual); an entry is
 * dropped once a pass has had its chance at it. Only an optimisation: the
 * spool file stays the truth, and losing this map loses nothing.
 */
import type { Envelope } from '../spool/types.js';
import { ACCEPTED_KEEP_BYTES } from '../config/defaults.js';

/** `commit`: the commit is still running and settles with it (runner.ts RunOptions.committed). */
export interface Committed { envelope: Envelope; message: Buffer; commit?: Promise<unknown> }

export class AcceptedMessages {
  private readonly kept = new Map<string, Committed>();
  private bytes = 0;

  constructor(private readonly maxBytes = ACCEPTED_KEEP_BYTES) {}

  /** False when it does not fit (the pass then reads the message from the spool). */
  add(id: string, c: Committed): boolean {
    if (this.bytes + c.message.length > this.maxBytes) return false;
    this.kept.set(id, c);
    this.bytes += c.message.length;
    return true;
  }

  /** The entries for these ids (for one pass); they are dropped from the map. */
  take(ids: string[]): Map<string, Committed> {
    const out = new Map<string, Committed>();
    for (const id of ids) {
      const c = this.kept.get(id);
      if (!c) continue;
      out.set(id, c);
      this.kept.delete(id);
      this.bytes -= c.message.length;
    }
    return out;
  }

  /** A full pass reads everything from the spool: nothing kept is needed any more. */
  clear(): void {
    this.kept.clear();
    this.bytes = 0;
  }

  get size(): number { return this.kept.size; }
}
