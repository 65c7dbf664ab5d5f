/**
 * Small file-system helpers shared by the local transports.
 *
 * Guarantees: `writeAll` either writes every byte or throws (short writes are
 * continued, never ignored); `fsyncDir` makes a just-created or renamed entry
 * durable. Errors are the raw Node errors: callers wrap them with ioError so
 * local trouble always ends as a deferral.
 */
import type { FileHandle } from 'node:fs/promises';

/** Writes the whole buffer at the file's current position (or `position`), continuing short writes. */
export async function writeAll(fh: FileHandle, data: Buffer, position: number | null = null): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off, position === null ? null : position + off);
    if (bytesWritten <= 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
    off += bytesWritten;
  }
}

/** fsync a directory so entries created or renamed in it survive a crash (core/fsync.ts). */
export { fsyncDir } from '../core/fsync.js';

let counter = 0;
/** A per-process unique token for file names; not a secret, so Math.random is enough. */
export function uniqueToken(): string {
  counter = (counter + 1) % 0x100000;
  return Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0') + counter.toString(16);
}

export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
