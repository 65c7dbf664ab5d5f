/**
 * Unprivileged submission through drop/ (mode 01777, sticky), because Node
 * cannot be setuid. Threat model and layout: docs/QUEUE-FORMAT.md.
 *
 * `submitToDrop` (any user): O_EXCL|O_NOFOLLOW temp file ".<id>.<rand>"
 * (0600), envelope + message, fsync, rename to "<id>", fsync drop/.
 *
 * `importDrop` (spool owner) treats every entry as hostile: it first takes
 * the entry out of the user's reach by renaming it into tmp/ (0700; the rename
 * also makes concurrent importers race-free), then lstat (regular file only,
 * one link), open with O_NOFOLLOW|O_NONBLOCK, fstat (same inode), a size
 * limit and a strict parse. The uid and user come from the file owner, never
 * from the content; `via` becomes "drop". The message is copied into the
 * queue with the normal commit protocol, so later writes through a file
 * descriptor the user kept open change nothing. Refused entries go to
 * corrupt/ with a reason (of garbage a new root-owned copy of at most
 * QUARANTINE_MAX_BYTES; links and special files only recorded); nothing is
 * ever followed or opened blocking. With `spool.prepareImport` (the CLI sets
 * it) every message passes sendmail's checks and preparation. Per pass, one
 * user other than root gets at most DROP_MAX_PER_UID_PER_PASS entries taken
 * and DROP_MAX_WRITING_PER_UID temp files kept.
 */
import { accessSync, constants } from 'node:fs';
import type { Stats } from 'node:fs';
import { lstat, open, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isSysmailError } from '../core/errors.js';
import { encodeHeader, MAX_HEADER_BYTES, parseHeader } from './format.js';
import { commitFile, errnoOf, fsyncDir, ioFail, listDir, STALE_MS, tryRename, tryUnlink } from './fsutil.js';
import { idGenerator } from './ids.js';
import { isAlive, isSelf, selfToken, splitOwned } from './owner.js';
import type { SpoolStore } from './store.js';
import type { Envelope } from './types.js';

/** True when this process may write queue/ itself (root, the spool owner, or who may create the spool). */
export function canWriteQueue(dir: string): boolean {
  for (const p of [join(dir, 'queue'), join(dir, 'tmp')]) {
    try { accessSync(p, constants.W_OK | constants.X_OK); } catch (e) {
      return errnoOf(e) === 'ENOENT' ? canCreate(dir) : false;
    }
  }
  return true;
}

function canCreate(dir: string): boolean {
  for (let p = dir; ; p = dirname(p)) {
    try { accessSync(p, constants.W_OK | constants.X_OK); return true; } catch (e) {
      if (errnoOf(e) !== 'ENOENT' || dirname(p) === p) return false;
    }
  }
}

/** Entries one user (other than root) may have imported per pass; the rest wait for the next pass. */
export const DROP_MAX_PER_UID_PER_PASS = 100;
/** Drop files one user may have in flight (".name" temp files); more are removed at once. */
export const DROP_MAX_WRITING_PER_UID = 100;
/** What corrupt/ keeps of a refused drop file: enough to see what it was. */
export const QUARANTINE_MAX_BYTES = 64 * 1024;

export interface DropOptions { mode?: 'disk' | 'ram'; now?: () => number; random?: () => number }

/** Durably writes one message into <dir>/drop/ and returns its drop name (not yet a queue id). */
export async function submitToDrop(dir: string, envelope: Envelope, message: Buffer, opts: DropOptions = {}): Promise<string> {
  const header = encodeHeader(envelope, message.length);
  const drop = join(dir, 'drop');
  const random = opts.random ?? Math.random;
  const name = idGenerator(opts.now ?? Date.now, random)();
  for (let attempt = 0; ; attempt++) {
    const tmp = join(drop, `.${name}.${Math.floor(random() * 2 ** 40).toString(36)}`);
    try {
      await commitFile(tmp, join(drop, name), drop, [header, message], opts.mode !== 'ram');
      return name;
    } catch (e) {
      // Someone made our temp name first: never touch it, pick another.
      if (errnoOf(e) === 'EEXIST' && attempt < 3) continue;
      throw ioFail(`cannot write to the drop directory ${drop}`, e);
    }
  }
}

/** One import pass at a time per process, so a pass may take up its own leftovers. */
let chain: Promise<unknown> = Promise.resolve();

export function importDrop(spool: SpoolStore): Promise<string[]> {
  const run = chain.then(() => importPass(spool));
  chain = run.catch(() => {});
  return run;
}

interface Taken { name: string; from: string }

const printable = (s: string) => s.replace(/[^\x21-\x7e]/g, '?').slice(0, 120);

async function importPass(spool: SpoolStore): Promise<string[]> {
  await spool.prepare();
  const me = selfToken();
  const newName = idGenerator(spool.now, spool.random);
  const now = spool.now();
  const ids: string[] = [];
  try {
    const taken: Taken[] = [];
    // Entries taken by an importer that died (or by an earlier pass of ours that stopped on an error).
    for (const n of await listDir(spool.path('tmp'))) {
      const s = splitOwned(n);
      if (!s?.tag.startsWith('drop-')) continue;
      if (isSelf(s.owner)) taken.push({ name: n, from: '(earlier pass)' });
      else if (!isAlive(s.owner) && await tryRename(spool.path('tmp', n), spool.path('tmp', `${s.tag}.${me}`))) {
        taken.push({ name: `${s.tag}.${me}`, from: '(crashed import)' });
      }
    }
    let renamed = false;
    const perUid = new Map<number, { taken: number; writing: number }>();
    for (const n of await listDir(spool.path('drop'))) {
      const p = spool.path('drop', n);
      const st = await lstat(p).catch(() => null);
      if (st === null) continue;
      const count = perUid.get(st.uid) ?? { taken: 0, writing: 0 };
      perUid.set(st.uid, count);
      if (n.startsWith('.')) {
        // Still being written; abandoned once an hour old, or at once beyond the per-user number of
        // submissions in flight (so 200,000 dot-files cost one pass, not every pass).
        // Directories are taken like any entry, below.
        if (!st.isDirectory() && (now - st.mtimeMs) <= STALE_MS && ++count.writing <= DROP_MAX_WRITING_PER_UID) continue;
        if (!st.isDirectory()) { await tryUnlink(p); continue; }
      }
      // One user's flood waits for later passes; it never delays everybody else's mail.
      if (st.uid !== 0 && ++count.taken > DROP_MAX_PER_UID_PER_PASS) continue;
      const mine = `drop-${newName()}.${me}`;
      if (await tryRename(p, spool.path('tmp', mine))) { taken.push({ name: mine, from: `drop/${printable(n)}` }); renamed = true; }
    }
    // The takes are durable before any copy is queued: a power cut cannot bring back a drop file
    // whose copy is already in the queue.
    if (renamed && spool.sync) { await fsyncDir(spool.path('drop')); await fsyncDir(spool.path('tmp')); }
    const users = lazyUsers();
    for (const t of taken) {
      const id = await importOne(spool, t, users, newName);
      if (id !== null) ids.push(id);
    }
    if (ids.length > 0 && spool.sync) await fsyncDir(spool.path('tmp'));
  } catch (e) {
    throw isSysmailError(e) ? e : ioFail(`cannot import from ${spool.path('drop')}`, e);
  }
  return ids;
}

function kindOf(st: Stats): string {
  return st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symbolic link (never followed)' : st.isFIFO() ? 'FIFO'
    : st.isSocket() ? 'socket' : st.isBlockDevice() || st.isCharacterDevice() ? 'device node' : 'special file';
}

async function importOne(spool: SpoolStore, t: Taken, users: (uid: number) => Promise<string>, newName: () => string): Promise<string | null> {
  const path = spool.path('tmp', t.name);
  const lst = await lstat(path).catch((e) => { if (errnoOf(e) === 'ENOENT') return null; throw e; });
  if (lst === null) return null;
  const limit = spool.maxMessageSize + MAX_HEADER_BYTES;
  const base = t.name.split('.')[0] as string;
  // Garbage is kept for the admin to look at (its size is bounded); links and special files are
  // removed, never opened, and only recorded.
  // Only a bounded root-owned copy is kept: the user's own inode (which they may still write to
  // through a descriptor they kept) is removed, never moved into corrupt/.
  let read: Buffer | null = null;
  const keep = async (reason: string) => {
    const copy = read === null ? null : read.subarray(0, QUARANTINE_MAX_BYTES);
    if (copy === null || !(await keepCopy(spool, copy, base, reason, t.from, lst.uid, read!.length))) {
      await spool.recordCorrupt(`drop-${newName()}`, reason, base, t.from, { uid: lst.uid });
    }
    await rm(path, { recursive: true, force: true, maxRetries: 2 });
    return null;
  };
  const drop = async (reason: string) => {
    await tryUnlink(path);
    await spool.recordCorrupt(`drop-${newName()}`, reason, base, t.from, { uid: lst.uid });
    return null;
  };
  if (lst.isDirectory()) return keep('a directory in drop/');
  if (!lst.isFile()) return drop(`a ${kindOf(lst)} in drop/, not a regular file`);
  if (lst.nlink !== 1) return drop(`a file with ${lst.nlink} hard links in drop/ (never read)`);
  if (lst.size > limit) return drop(`${lst.size} bytes, over the limit of ${limit}`);

  let h;
  try { h = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY); } catch (e) {
    if (errnoOf(e) === 'ELOOP') return drop('a symbolic link in drop/ (never followed)');
    throw e;
  }
  let buf: Buffer;
  let st: Stats;
  try {
    st = await h.stat();
    if (!st.isFile() || st.ino !== lst.ino || st.dev !== lst.dev || st.nlink !== 1 || st.size > limit) {
      return drop('changed while being imported');
    }
    buf = Buffer.alloc(st.size + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await h.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
      if (got === buf.length) break;
    }
    if (got > st.size) return drop('grew while being imported');
    buf = buf.subarray(0, got);
    read = buf;
  } finally {
    await h.close();
  }
  const r = parseHeader(buf, true);
  if (!r.ok) return keep(`not a valid drop file: ${r.reason}`);
  if (r.headerLength + r.size !== buf.length) {
    return keep(`not a valid drop file: ${buf.length} bytes, the header promises ${r.headerLength + r.size}`);
  }
  if (r.size > spool.maxMessageSize) return drop(`a ${r.size}-byte message, over the limit of ${spool.maxMessageSize}`);
  const { isBounce: _forged, ...claimed } = r.envelope;
  const user = await users(st.uid);
  let envelope: Envelope = {
    ...claimed, uid: st.uid, user, via: 'drop',
    submittedAt: Math.min(spool.now(), Math.floor(st.mtimeMs)),
  };
  let id: string;
  try {
    let message = buf.subarray(r.headerLength);
    // The same checks and preparation as `sendmail` input (addresses, NUL, Bcc, Date, From,
    // Message-ID), with a Received line naming the real submitter.
    if (spool.prepareImport) {
      const p = await spool.prepareImport(envelope, message);
      envelope = { ...envelope, sender: p.sender, recipients: p.recipients };
      message = p.message;
    }
    id = await spool.commit(envelope, message);
  } catch (e) {
    if (isSysmailError(e) && !e.temporary) return keep(`refused: ${e.message}`);
    throw e;
  }
  await tryUnlink(path);
  spool.importedFrom.set(id, t.from);
  return id;
}

/** Writes a new root-owned corrupt/<base> holding `bytes`; false when that failed (only the reason is kept then). */
async function keepCopy(spool: SpoolStore, bytes: Buffer, base: string, reason: string, from: string, uid: number, size: number): Promise<boolean> {
  let target = base;
  for (let n = 1; await lstat(spool.path('corrupt', target)).then(() => true, () => false); n++) target = `${base}.${n}`;
  try {
    await commitFile(spool.path('tmp', `${target}.keep.${selfToken()}`), spool.path('corrupt', target), spool.path('corrupt'), [bytes], false);
  } catch {
    return false;
  }
  const cut = size > bytes.length ? `; first ${bytes.length} of ${size} bytes kept` : '';
  await spool.recordCorrupt(target, reason + cut, base, from, { uid });
  return true;
}

/** uid -> login name from /etc/passwd (read once, only if something is imported); the number when unknown. */
function lazyUsers(): (uid: number) => Promise<string> {
  let names: Promise<Map<number, string>> | null = null;
  return async (uid) => {
    names ??= readFile('/etc/passwd', 'utf8').then((text) => {
      const m = new Map<number, string>();
      for (const line of text.split('\n')) {
        const f = line.split(':');
        if (f.length >= 3 && f[0] && /^[0-9]+$/.test(f[2] as string) && !m.has(Number(f[2]))) m.set(Number(f[2]), f[0]);
      }
      return m;
    }, () => new Map<number, string>());
    return (await names).get(uid) ?? String(uid);
  };
}
