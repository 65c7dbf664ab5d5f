/**
 * protocol.ts's operations with node:fs's blocking calls (the handle is a file descriptor). The
 * sendmail fast path runs every step with it (commit-sync.ts); the asynchronous shell (fsutil.ts)
 * runs the quick steps with it too and only the waits for the disk on the thread pool.
 */
import { chmodSync, closeSync, constants, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writevSync } from 'node:fs';
import type { Op } from './protocol.js';

export const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
export const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY;

export function execSync(o: Op<number>): unknown {
  switch (o.op) {
    case 'create': return openSync(o.path, CREATE_FLAGS, o.mode);
    case 'writev': return writevSync(o.h, o.chunks);
    case 'fsync': return fsyncSync(o.h);
    case 'fsyncWithDir': {
      fsyncSync(o.h);
      const d = openSync(o.dir, DIR_FLAGS);
      try { return fsyncSync(d); } finally { closeSync(d); }
    }
    case 'close': return closeSync(o.h);
    case 'openDir': return openSync(o.path, DIR_FLAGS);
    case 'rename': return renameSync(o.from, o.to);
    case 'unlink': return unlinkSync(o.path);
    case 'mkdir': return mkdirSync(o.path, { recursive: o.recursive, mode: o.mode });
    case 'chmod': return chmodSync(o.path, o.mode);
  }
}
