/**
 * Computes the metrics and, when asked, writes the text file.
 *
 * Guarantees: counters are derived from the event log (folded from a cursor
 * kept in <spool>/metrics.json), so they survive restarts and agree between
 * serve and flush; the queue gauges are read from the spool each time. The
 * text file is rewritten (atomically) only when its text changed, and at most
 * once per metrics.min_interval; a change held back is written by the next
 * pass, or, in a long-running serve, by a timer. Never throws into delivery:
 * the caller logs a failure and mail goes on.
 */
import { dirname } from 'node:path';
import type { Config } from '../config/types.js';
import type { Spool } from '../spool/types.js';
import { collectQueue, readLogSince } from './collect.js';
import { foldText } from './counters.js';
import { renderProm } from './prom.js';
import { readState, readText, replaceFile, writeState, type MetricsState } from './store.js';
import { emptyStats, type Snapshot } from './types.js';
import { SYSMAIL_VERSION } from './version.js';

export interface Computed {
  snapshot: Snapshot;
  text: string;
  state: MetricsState;
}

/** The current metrics; writes nothing. */
export async function computeMetrics(config: Config, spool: Spool): Promise<Computed> {
  const state = await readState(config.spool.dir);
  if (config.log.file) {
    const { text, cursor } = await readLogSince(config.log.file, state.cursor);
    foldText(state, text);
    state.cursor = cursor;
  }
  const transports = structuredClone(state.transports);
  // Every configured transport has its series from the start, so rate() and absent() work before its first mail.
  for (const name of Object.keys(config.transports)) transports[name] ??= emptyStats();
  const queue = await collectQueue(spool);
  // "Failing" means the last attempt failed and mail is still waiting for it: a transport whose
  // deferred mail was delivered elsewhere, expired or deleted is not reported failing forever.
  for (const [name, t] of Object.entries(transports)) if (!queue.waitingOn.includes(name)) t.failingSince = null;
  const snapshot: Snapshot = { version: SYSMAIL_VERSION, node: process.version, queue, transports };
  return { snapshot, text: renderProm(snapshot), state };
}

export type WriteResult = 'written' | 'unchanged' | 'held-back' | 'off';

let laterTimer: NodeJS.Timeout | null = null;

/** Writes metrics.file when it changed. In a long-lived process a held-back change is written by an unref'd timer. */
export async function updateMetricsFile(config: Config, spool: Spool, now: () => number = Date.now,
  onError: (err: Error) => void = () => {}): Promise<WriteResult> {
  const file = config.metrics.file;
  if (!file) return 'off';
  const c = await computeMetrics(config, spool);
  if ((await readText(file)) === c.text) return 'unchanged';
  const wait = c.state.writtenAt + config.metrics.minInterval - now();
  if (wait > 0) {
    laterTimer ??= setTimeout(() => {
      laterTimer = null;
      updateMetricsFile(config, spool, now, onError).catch(onError);
    }, wait + 5).unref();
    return 'held-back';
  }
  try {
    await replaceFile(file, c.text, 0o644);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') {
      throw Object.assign(new Error(`cannot write metrics.file ${file}: the directory ${dirname(file)} does not exist `
        + '(install node_exporter\'s textfile collector, or set metrics.file, or metrics.file = false)'), { cause: e });
    }
    throw Object.assign(new Error(`cannot write metrics.file ${file}: ${err.message}`), { cause: e });
  }
  c.state.writtenAt = now();
  await writeState(config.spool.dir, c.state);
  return 'written';
}
