/**
 * The install state file (/var/lib/sysmail/install-state.json): every change
 * `sysmail install` made, in order, so `sysmail uninstall` can undo exactly
 * those, in reverse, and nothing else.
 *
 * Written only when a run changed something (a second install writes
 * nothing), atomically (temp file, fsync, rename). Fails with EX_CANTCREAT
 * when it cannot be written, EX_DATAERR when it cannot be read back.
 */
import { open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { EX, SysmailError } from '../core/errors.js';
import type { DistroFamily } from '../system/distro.js';

export type Change =
  /** A directory we made; undone by rmdir when empty. */
  | { kind: 'dir'; path: string; mode: number }
  /** A mode we changed on a directory that was there; undone when it still has ours. */
  | { kind: 'chmod'; path: string; from: number; to: number }
  /** A file we wrote; removed on undo only when its content is still what we wrote. */
  | { kind: 'file'; path: string; sha256: string; mode: number }
  | { kind: 'symlink'; path: string; target: string }
  /** An original moved aside (backup); moved back on undo. */
  | { kind: 'move'; from: string; to: string }
  /** A program run (alternatives, dpkg-divert, systemctl); `ran` false = recorded for the target only. */
  | { kind: 'command'; argv: string[]; undo: string[][]; ran: boolean };

export interface InstallState {
  version: 1;
  root: string;
  distro: { id: string; family: DistroFamily };
  node: string;
  entry: string;
  changes: Change[];
}

export async function readState(file: string): Promise<InstallState | null> {
  let text: string;
  try { text = await readFile(file, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SysmailError('ESTATE', `cannot read ${file}: ${(e as Error).message}`, { exit: EX.NOINPUT, cause: e });
  }
  try {
    const s = JSON.parse(text) as InstallState;
    if (s.version !== 1 || !Array.isArray(s.changes)) throw new Error('unknown format');
    return s;
  } catch (e) {
    throw new SysmailError('ESTATE', `${file} is not a sysmail install state file (${(e as Error).message})`,
      { exit: EX.DATAERR, hint: `look at it by hand; undo what it lists, then remove it`, cause: e });
  }
}

export async function writeState(file: string, state: InstallState): Promise<void> {
  const tmp = join(dirname(file), `.install-state.${process.pid}.tmp`);
  try {
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(JSON.stringify(state, null, 2) + '\n');
      await fh.sync();
    } finally { await fh.close(); }
    await rename(tmp, file);
  } catch (e) {
    throw new SysmailError('ESTATE', `cannot write ${file}: ${(e as Error).message}`,
      { exit: EX.CANTCREAT, hint: 'the changes made so far are listed above; fix the cause and run sysmail install again', cause: e });
  }
}
