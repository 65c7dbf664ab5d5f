/**
 * The metrics' own small state, and the text file node_exporter reads.
 *
 * `<spool>/metrics.json` holds the counters folded from the event log and
 * the log cursor they correspond to (one consistent pair), and when the text
 * file was last written. Both files are replaced atomically (write a temp
 * file in the same directory, rename) and never fsynced: they are rebuilt
 * from the log and the spool, so losing one to a power cut costs nothing but
 * a re-read. They are written only when the metrics text changed.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LogCursor } from './collect.js';
import type { FoldState } from './counters.js';

export const STATE_FILE = 'metrics.json';

export interface MetricsState extends FoldState {
  v: 1;
  cursor: LogCursor | null;
  /** ms since the epoch; 0 before the first write. */
  writtenAt: number;
}

/** Bytes this process wrote for metrics (for the write-frugality measurement). */
export const metricsIo = { bytesWritten: 0, files: 0 };

export function freshState(): MetricsState {
  return { v: 1, cursor: null, writtenAt: 0, transports: {}, failedBy: {} };
}

export async function readState(spoolDir: string): Promise<MetricsState> {
  try {
    const s = JSON.parse(await readFile(join(spoolDir, STATE_FILE), 'utf8')) as Partial<MetricsState>;
    if (s.v !== 1 || typeof s.transports !== 'object' || s.transports === null) return freshState();
    return { ...freshState(), ...s } as MetricsState;
  } catch {
    // Missing or damaged: start again from the whole log (the counters are derived, nothing is lost).
    return freshState();
  }
}

/** Replaces `path` atomically; the temp name carries the pid so concurrent writers never share one. */
export async function replaceFile(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, data, { mode });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  metricsIo.bytesWritten += Buffer.byteLength(data);
  metricsIo.files++;
}

export async function writeState(spoolDir: string, s: MetricsState): Promise<void> {
  await replaceFile(join(spoolDir, STATE_FILE), JSON.stringify(s) + '\n', 0o600);
}

export async function readText(path: string): Promise<string | null> {
  try { return await readFile(path, 'utf8'); } catch { return null; }
}
