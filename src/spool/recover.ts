/**
 * Spool recovery, run by the queue runner before each pass (the one place
 * that repairs; readers never write).
 *
 * - A claim (active/<id>.<owner>) whose owner is dead goes back to queue/.
 *   Race-free between concurrent recoverers: each renames one specific source
 *   name, and rename succeeds once.
 * - A temp file of a dead writer is removed: its submit never resolved, so
 *   nobody was told the message was accepted.
 * - A message or state file that does not parse goes to corrupt/ with a
 *   reason (via `claim`, which does the moving); the message restarts with
 *   fresh state when only its state was bad.
 * - A state file left without its message (a crash inside `complete`) is
 *   removed once it is an hour old.
 *
 * Failures are ioErrors (EX_TEMPFAIL); nothing here deletes a message.
 */
import { lstat, readFile } from 'node:fs/promises';
import { isValidId } from './ids.js';
import { ageOf, ioFail, listDir, STALE_MS, tryRename, tryUnlink } from './fsutil.js';
import type { Area } from './fsutil.js';
import { isAlive, splitOwned } from './owner.js';
import type { SpoolStore } from './store.js';
import type { CorruptEntry, RecoveryReport, Spool } from './types.js';

export type { CorruptEntry, RecoveryReport } from './types.js';

/** Recovery needs the store and the spool's readers and claims. */
type RecoverableSpool = SpoolStore & Pick<Spool, 'list' | 'claim'>;

export async function recoverStale(spool: RecoverableSpool): Promise<RecoveryReport> {
  await spool.prepare();
  const report: RecoveryReport = { recovered: [], tmpRemoved: [], corrupt: [], orphansRemoved: [] };
  const mark = spool.quarantined.length;
  const now = spool.now();
  // A foreign name is made safe to show and to reuse under corrupt/.
  const safeName = (area: Area, n: string) => `${area}-${n.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 80)}`;
  const foreign = (area: Area, n: string) =>
    spool.quarantine(spool.path(area, n), safeName(area, n), `unexpected file in ${area}/`, safeName(area, n), `${area}/${n}`);
  try {
    for (const n of await listDir(spool.path('active'))) {
      const s = splitOwned(n);
      if (!s || !isValidId(s.tag)) { await foreign('active', n); continue; }
      if (!isAlive(s.owner) && await tryRename(spool.path('active', n), spool.path('queue', s.tag))) report.recovered.push(s.tag);
    }

    for (const n of await listDir(spool.path('tmp'))) {
      const s = splitOwned(n);
      if (s?.tag.startsWith('drop-')) continue; // importDrop re-imports these
      const dead = s ? !isAlive(s.owner) : ((await ageOf(spool.path('tmp', n), now)) ?? 0) > STALE_MS;
      if (dead && await tryUnlink(spool.path('tmp', n))) report.tmpRemoved.push(n);
    }

    for (const n of await listDir(spool.path('queue'))) if (!isValidId(n)) await foreign('queue', n);

    // claim() moves a corrupt message (or state) aside; a claim we get back had only bad state.
    for (const m of await spool.list('queue')) {
      if (m.corrupt === undefined) continue;
      const c = await spool.claim(m.id);
      if (c) await c.release();
    }

    for (const n of await listDir(spool.path('state'))) {
      if (!isValidId(n)) { await foreign('state', n); continue; }
      if (((await ageOf(spool.path('state', n), now)) ?? 0) <= STALE_MS) continue;
      const loc = await spool.locate(n);
      if ((loc === null || loc.area === 'failed') && await tryUnlink(spool.path('state', n))) report.orphansRemoved.push(n);
    }

    const failed = new Set(await listDir(spool.path('failed')));
    for (const n of failed) {
      const id = n.endsWith('.state') ? n.slice(0, -'.state'.length) : null;
      if (id === null || !isValidId(id) || failed.has(id)) continue;
      if (((await ageOf(spool.path('failed', n), now)) ?? 0) > STALE_MS && await tryUnlink(spool.path('failed', n))) {
        report.orphansRemoved.push(n);
      }
    }
  } catch (e) {
    throw ioFail(`cannot recover the spool ${spool.dir}`, e);
  }
  report.corrupt = spool.quarantined.slice(mark);
  return report;
}

export async function listCorrupt(spool: SpoolStore): Promise<CorruptEntry[]> {
  try {
    const names = await listDir(spool.path('corrupt'));
    const out: CorruptEntry[] = [];
    for (const name of names.filter((n) => !n.endsWith('.reason')).sort()) {
      const e: CorruptEntry = { name, reason: 'no reason recorded', from: null, at: null, uid: null, size: 0 };
      try { e.size = (await lstat(spool.path('corrupt', name))).size; } catch { continue; }
      try {
        const rec = JSON.parse(await readFile(spool.path('corrupt', `${name}.reason`), 'utf8')) as Record<string, unknown>;
        if (typeof rec.reason === 'string') e.reason = rec.reason;
        if (typeof rec.from === 'string') e.from = rec.from;
        if (typeof rec.at === 'string') e.at = rec.at;
        if (typeof rec.uid === 'number') e.uid = rec.uid;
      } catch { /* a lost or damaged reason record leaves the default */ }
      out.push(e);
    }
    // Refused drop entries keep only their reason record: list those too.
    for (const r of names.filter((n) => n.endsWith('.reason'))) {
      const name = r.slice(0, -'.reason'.length);
      if (names.includes(name)) continue;
      try {
        const rec = JSON.parse(await readFile(spool.path('corrupt', r), 'utf8')) as Record<string, unknown>;
        out.push({ name, reason: String(rec.reason ?? 'no reason recorded'), from: typeof rec.from === 'string' ? rec.from : null,
          at: typeof rec.at === 'string' ? rec.at : null, uid: typeof rec.uid === 'number' ? rec.uid : null, size: 0 });
      } catch { /* unreadable record: nothing to show */ }
    }
    return out;
  } catch (e) {
    throw ioFail(`cannot read ${spool.path('corrupt')}`, e);
  }
}
