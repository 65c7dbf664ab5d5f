/**
 * Event log: one JSON line per lifecycle event, with fixed keys, appended to
 * the log file (O_APPEND, one write per line, so concurrent processes never
 * interleave within a line). Not fsynced: the log is for people, the spool is
 * what must survive, and every fsync is flash wear.
 *
 * Optional syslog: Node cannot open the /dev/log datagram socket, so lines are
 * handed to logger(1) in one batch when the logger is closed.
 */
import { bounded, displayText, escapeJson, LOG_FIELD_MAX } from '../core/display.js';
import { closeSync, constants, mkdirSync, openSync, writevSync } from 'node:fs';
import { dirname } from 'node:path';

export type EventName =
  | 'accepted' | 'attempt' | 'delivered' | 'deferred' | 'bounced' | 'failed' | 'expired'
  | 'held' | 'released' | 'deleted' | 'corrupt' | 'rejected' | 'error' | 'alert' | 'reloaded';

/** The fixed keys (STYLE.md rule 9). Absent values are written as null. */
export interface LogEvent {
  event: EventName;
  id?: string | null;
  from?: string | null;
  rcpt?: string | null;
  /** Recipient as submitted, when aliases changed it. */
  orig_rcpt?: string | null;
  /** Why rcpt differs from orig_rcpt: "alias" or "admin" (docs/CONFIG.md). */
  via?: string | null;
  route?: string | null;
  transport?: string | null;
  status?: string | null;
  smtp_code?: number | null;
  dsn?: string | null;
  attempt?: number | null;
  delay_ms?: number | null;
  size?: number | null;
  reason?: string | null;
}

const KEYS = ['ts', 'event', 'id', 'from', 'rcpt', 'orig_rcpt', 'via', 'route', 'transport', 'status',
  'smtp_code', 'dsn', 'attempt', 'delay_ms', 'size', 'reason'] as const;

export interface Logger {
  event(e: LogEvent): void;
  /** Diagnostics for `-v`: to stderr only, never to the event log. */
  verbose(msg: string): void;
  close(): Promise<void>;
}

export interface LoggerOptions {
  file: string | null;
  syslog: boolean;
  verbose: boolean;
  now?: () => number;
  /** Extra sink, e.g. for tests or `serve` printing to the journal. */
  onLine?: (line: string) => void;
}

/**
 * Date.prototype.toISOString's text, built from the UTC fields: V8's first toISOString in a
 * process costs ~0.2 ms (every sendmail writes one log line). Years outside 0-9999 (never a
 * clock's) take toISOString's own extended form.
 */
export function isoTime(ms: number): string {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  if (!(y >= 0 && y <= 9999)) return d.toISOString();
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(y, 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}Z`;
}

export function formatEvent(e: LogEvent, ts: number): string {
  const rec: Record<string, unknown> = {};
  for (const k of KEYS) {
    const v = k === 'ts' ? isoTime(ts) : ((e as unknown as Record<string, unknown>)[k] ?? null);
    // Foreign text (a relay's 20 KB reply) is kept raw but bounded; escapeJson leaves no C1 or bidi raw.
    rec[k] = typeof v === 'string' ? bounded(v, LOG_FIELD_MAX) : v;
  }
  return escapeJson(JSON.stringify(rec));
}

/**
 * appendFileSync(file, text, { mode }) (O_APPEND, created with `mode`, the whole text, closed),
 * with the calls the sendmail path has already made once (each Node call costs ~0.05 ms the
 * first time in a process; appendFileSync takes four new ones).
 */
function appendLine(file: string, text: string, mode: number): void {
  const fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, mode);
  try {
    const buf = Buffer.from(text, 'utf8');
    for (let off = 0; off < buf.length;) off += writevSync(fd, [off === 0 ? buf : buf.subarray(off)]);
  } finally {
    closeSync(fd);
  }
}

export function createLogger(opts: LoggerOptions): Logger {
  const now = opts.now ?? Date.now;
  const pendingSyslog: string[] = [];
  let fileBroken = false;
  let dirMade = false;

  const writeLine = (line: string) => {
    if (!opts.file || fileBroken) return;
    try {
      // The directory is made only when the append finds it missing: one system call less per line.
      try { appendLine(opts.file, line + '\n', 0o640); } catch (err) {
        if (dirMade || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        mkdirSync(dirname(opts.file), { recursive: true, mode: 0o750 });
        dirMade = true;
        appendLine(opts.file, line + '\n', 0o640);
      }
    } catch (err) {
      // A broken log must never stop mail: say it once, keep going.
      fileBroken = true;
      process.stderr.write(`sysmail: cannot write log ${opts.file}: ${(err as Error).message}\n`);
    }
  };

  return {
    event(e) {
      const line = formatEvent(e, now());
      writeLine(line);
      if (opts.syslog) pendingSyslog.push(line);
      opts.onLine?.(line);
      if (opts.verbose) process.stderr.write(`sysmail: ${line}\n`);
    },
    verbose(msg) {
      // Verbose lines carry peers' words (a relay's replies, a client's commands) to a terminal:
      // control characters and escape sequences are shown escaped, never sent raw.
      if (opts.verbose) process.stderr.write(`sysmail: ${displayText(msg, Infinity)}\n`);
    },
    async close() {
      if (pendingSyslog.length === 0) return;
      const lines = pendingSyslog.splice(0);
      const { spawn } = await import('node:child_process');
      await new Promise<void>((resolve) => {
        const child = spawn('logger', ['-t', 'sysmail', '-p', 'mail.info'], { stdio: ['pipe', 'ignore', 'ignore'] });
        child.on('error', () => resolve());
        child.on('close', () => resolve());
        child.stdin.end(lines.join('\n') + '\n');
      });
    },
  };
}

/** A logger that keeps events in memory: for tests and for dry runs. */
export function memoryLogger(): Logger & { events: LogEvent[] } {
  const events: LogEvent[] = [];
  return { events, event: (e) => { events.push(e); }, verbose: () => {}, close: async () => {} };
}
