/**
 * Race-free directory walking for root writing into places a user may control (Maildir in a home,
 * mbox spools, the OCI archive, motd directories).
 *
 * Guarantees: a directory is opened once, with O_DIRECTORY|O_NOFOLLOW, and checked with fstat on
 * that descriptor; every later step (the next component, a file created in it, a link or rename
 * between two of them) goes through `/proc/self/fd/<fd>/<name>`, which the kernel resolves like
 * openat(fd, name): swapping a component for a symbolic link after the check changes nothing, the
 * open of a symbolic link fails (ELOOP) and the delivery is deferred. With an owner, every existing
 * component below the trusted base must belong to that user, and every created one is given to
 * them with fchown. The trusted base (a home directory from /etc/passwd, a path from the config)
 * is resolved with realpath once: its parents are the admin's, not the user's.
 *
 * Failure: the raw errno error, or `refuseDir` (a temporary SysmailError, so a deferral).
 */
import { constants } from 'node:fs';
import { mkdir, open, realpath, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { tempError, type SysmailError } from '../core/errors.js';
import { errnoOf } from './fsutil.js';
import { syncDirHandle } from '../core/fsync.js';

export interface DirOwner { uid: number; gid: number }

/** An open directory: its descriptor, and the path it was reached by (for messages only). */
export interface SafeDir { fh: FileHandle; path: string }

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** The path through which the kernel resolves `name` inside an open directory, as openat would. */
export function inDir(dir: SafeDir, name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new Error(`not a single path component: ${name}`);
  return `/proc/self/fd/${dir.fh.fd}/${name}`;
}

export function refuseDir(path: string, why: string): SysmailError {
  return tempError('EUNSAFEDIR', `refusing to deliver into ${path}: ${why}`, undefined,
    'it must be a real directory (not a symbolic link) owned by the recipient; fix it, then run `sysmail flush`');
}

/** Opens `name` inside `parent` (never following a link), creating it (mode 0700) when `create`. */
export async function openChild(parent: SafeDir, name: string, o: { owner?: DirOwner; create?: boolean } = {}): Promise<SafeDir> {
  const path = join(parent.path, name);
  let created = false;
  for (let i = 0; ; i++) {
    try {
      const fh = await open(inDir(parent, name), DIR_FLAGS);
      const dir = { fh, path };
      try {
        await check(dir, o.owner, created);
      } catch (e) {
        await fh.close();
        throw e;
      }
      return dir;
    } catch (e) {
      const code = errnoOf(e);
      if (code === 'ELOOP') throw refuseDir(path, 'it is a symbolic link');
      if (code === 'ENOTDIR') throw refuseDir(path, 'it is not a directory');
      if (code !== 'ENOENT' || !o.create || i >= 2) throw e;
    }
    try {
      await mkdir(inDir(parent, name), { mode: 0o700 });
      created = true;
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST') throw e;
    }
  }
}

async function check(dir: SafeDir, owner: DirOwner | undefined, created: boolean): Promise<void> {
  const st = await dir.fh.stat();
  if (!st.isDirectory()) throw refuseDir(dir.path, 'it is not a directory');
  if (!owner) return;
  if (st.uid === owner.uid) return;
  // Made by us a moment ago (still ours): give it to the user. Anything else someone else owns.
  if (created && st.uid === process.getuid?.()) { await dir.fh.chown(owner.uid, owner.gid); return; }
  throw refuseDir(dir.path, `it is owned by uid ${st.uid}, not ${owner.uid}`);
}

/**
 * Opens the trusted `base` (resolved once with realpath; created with its parents, mode 0700, when
 * missing and `create`), then walks `below` one component at a time with the owner checks.
 */
export async function openSafeDir(base: string, below: string[], o: { owner?: DirOwner; create?: boolean } = {}): Promise<SafeDir> {
  const abs = resolve(base);
  let real: string;
  try {
    real = await realpath(abs);
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT' || !o.create) throw e;
    // The missing levels of the base are created by root for root (the admin's path); below is the user's.
    await mkdir(abs, { recursive: true, mode: 0o700 });
    real = await realpath(abs);
  }
  let dir: SafeDir = { fh: await open(real, DIR_FLAGS), path: abs };
  try {
    for (const name of below.filter((n) => n !== '' && n !== '.')) {
      const next = await openChild(dir, name, o);
      await dir.fh.close();
      dir = next;
    }
  } catch (e) {
    await dir.fh.close().catch(() => {});
    throw e;
  }
  return dir;
}

/** Splits a configured path into its existing trusted parent and the last component (for files). */
export function parentAndName(path: string): { parent: string; name: string } {
  const abs = resolve(path);
  return { parent: dirname(abs), name: abs.slice(dirname(abs).length).replace(/^\//, '') };
}

/** fsync an open directory (core/fsync.ts: EINVAL, a file system that cannot, is not an error). */
export async function syncDir(dir: SafeDir): Promise<void> {
  await syncDirHandle(dir.fh);
}
