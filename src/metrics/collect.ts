/**
 * Reads what the metrics are made of. Never writes (readers never write).
 *
 * - The queue: the spool's own listing (queue/, active/, failed/), plus a
 *   count of the entries in drop/ and corrupt/.
 * - New event-log lines since a cursor (inode + byte offset). When logrotate
 *   has moved the file, the rest of the old file is read from `<file>.1` (the
 *   first rotation is uncompressed with delaycompress) before the new one.
 *   Only complete lines are returned; a half-written last line waits.
 */
import { constants } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Spool } from '../spool/types.js';
import type { QueueStats } from './types.js';

export interface LogCursor { ino: number; offset: number }

/** At most this much of the log is read per pass (a first run over a large log catches up over a few passes). */
export const LOG_READ_MAX_BYTES = 16 * 1024 * 1024;

async function countEntries(dir: string, keep: (name: string) => boolean): Promise<number> {
  try {
    return (await readdir(dir)).filter(keep).length;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}

export async function collectQueue(spool: Spool): Promise<QueueStats> {
  const q: QueueStats = { queued: 0, deferred: 0, held: 0, failed: 0, drop: 0, corrupt: 0, oldestDeferredAt: null, waitingOn: [] };
  const waiting = new Set<string>();
  const [queue, failed] = await Promise.all([spool.list('queue'), spool.list('failed')]);
  for (const m of queue) {
    if (m.corrupt) q.corrupt++;
    else if (m.state.held) q.held++;
    else if (m.state.attempts > 0) {
      q.deferred++;
      for (const r of Object.values(m.state.recipients)) if (r.status === 'deferred' && r.transport) waiting.add(r.transport);
      if (q.oldestDeferredAt === null || m.envelope.submittedAt < q.oldestDeferredAt) q.oldestDeferredAt = m.envelope.submittedAt;
    } else q.queued++;
  }
  q.failed = failed.length;
  q.waitingOn = [...waiting].sort();
  // Names starting with "." in drop/ are still being written; ".reason" files in corrupt/ describe their neighbour.
  q.drop = await countEntries(join(spool.dir, 'drop'), (n) => !n.startsWith('.'));
  q.corrupt += await countEntries(join(spool.dir, 'corrupt'), (n) => !n.endsWith('.reason'));
  return q;
}

/** Bytes [from, size) of a file, cut after its last line feed. */
async function readFrom(path: string, from: number): Promise<{ text: string; end: number; ino: number } | null> {
  let h;
  try { h = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const st = await h.stat();
    const start = from <= st.size ? from : 0; // shorter than we read: truncated (copytruncate), start over
    const len = Math.min(st.size - start, LOG_READ_MAX_BYTES);
    const buf = Buffer.alloc(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await h.read(buf, got, len - got, start + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    const last = buf.subarray(0, got).lastIndexOf(0x0a);
    const used = last + 1;
    return { text: buf.subarray(0, used).toString('utf8'), end: start + used, ino: st.ino };
  } finally {
    await h.close();
  }
}

/** The log lines written since `cursor` (all of them when it is null), and the cursor after them. */
export async function readLogSince(file: string, cursor: LogCursor | null): Promise<{ text: string; cursor: LogCursor | null }> {
  let cur = await stat(file).catch(() => null);
  let before = '';
  if (cursor && cur && cur.ino !== cursor.ino) {
    const rotated = await stat(`${file}.1`).catch(() => null);
    if (rotated && rotated.ino === cursor.ino) before = (await readFrom(`${file}.1`, cursor.offset))?.text ?? '';
    cursor = null;
  }
  if (!cur) return { text: before, cursor };
  const r = await readFrom(file, cursor?.offset ?? 0);
  if (!r) return { text: before, cursor };

  return { text: before + r.text, cursor: { ino: r.ino, offset: r.end } };
}
