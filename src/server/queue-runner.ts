/**
 * The queue runner inside `sysmail serve`: new mail is delivered at once,
 * deferred mail exactly when it is due, and never two passes at the same time.
 *
 * Triggers: a message accepted by the listener; a file event in queue/ or
 * drop/ (inotify through fs.watch, debounced: `sendmail` from other processes
 * writes there directly); a timer set after each pass for the earliest
 * nextAttemptAt in the queue, capped so a missed event or a clock jump is
 * recovered within QUEUE_MAX_SLEEP_MS. A trigger during a pass makes exactly
 * one more pass after it (coalescing). A pass that throws is logged and the
 * schedule goes on; a directory that cannot be watched is retried after the
 * next pass, and the capped timer still covers it meanwhile.
 */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { QUEUE_BUSY_RETRY_MS, QUEUE_MAX_SLEEP_MS, QUEUE_WATCH_DEBOUNCE_MS } from '../config/defaults.js';

export interface QueueRunnerOptions {
  /** One delivery pass over what is due. */
  pass(): Promise<void>;
  /** Earliest nextAttemptAt (ms since the epoch) among queued, not held messages; null when the queue is empty. */
  nextDue(): Promise<number | null>;
  /** Directories whose new files mean new mail. */
  watchDirs: string[];
  log: Logger;
  now?: () => number;
  debounceMs?: number;
  maxSleepMs?: number;
  busyRetryMs?: number;
}

/**
 * How long to sleep after a pass. Pure. A message already due after a pass
 * is held by another process (or could not be claimed): look again soon, not
 * in a busy loop.
 */
export function wakeDelay(nextDue: number | null, now: number, o: { maxSleepMs: number; busyRetryMs: number }): number {
  if (nextDue === null) return o.maxSleepMs;
  const wait = nextDue - now;
  if (wait <= 0) return Math.min(o.busyRetryMs, o.maxSleepMs);
  // A few ms late so the message is due by the runner's own clock when it looks.
  return Math.min(wait + 5, o.maxSleepMs);
}

export class QueueRunner {
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly now: () => number;
  /** Passes run so far (for `-v` and tests). */
  passes = 0;
  /** When the timer will next fire (ms since the epoch), or null. */
  wakeAt: number | null = null;

  constructor(private readonly opts: QueueRunnerOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Starts watching and runs a first pass (mail may have waited while we were down). */
  start(): void {
    this.watchAll();
    this.trigger('start');
  }

  /** Asks for a pass: now, or right after the one running. `debounce` for bursts of file events. */
  trigger(reason: string, debounce = false): void {
    if (this.stopped) return;
    if (debounce) {
      if (this.debounce) return;
      this.debounce = setTimeout(() => { this.debounce = null; this.trigger(reason); }, this.opts.debounceMs ?? QUEUE_WATCH_DEBOUNCE_MS);
      return;
    }
    if (this.running) {
      this.again = true;
      return;
    }
    this.opts.log.verbose(`queue pass (${reason})`);
    this.running = this.loop().finally(() => { this.running = null; });
  }

  /** Resolves when no pass is running or asked for (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running || this.debounce) {
      if (this.running) await this.running;
      else await new Promise((r) => setTimeout(r, this.opts.debounceMs ?? QUEUE_WATCH_DEBOUNCE_MS));
    }
  }

  /** Stops triggers and timers; waits at most timeoutMs for the running pass. True when it finished. */
  async stop(timeoutMs: number): Promise<boolean> {
    this.stopped = true;
    this.clearTimers();
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    if (!this.running) return true;
    let timeout: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      this.running.then(() => true),
      new Promise<boolean>((r) => { timeout = setTimeout(() => r(false), timeoutMs); }),
    ]);
    clearTimeout(timeout);
    return finished;
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    this.timer = null;
    this.debounce = null;
    this.wakeAt = null;
  }

  private async loop(): Promise<void> {
    for (;;) {
      do {
        this.again = false;
        this.passes++;
        try {
          await this.opts.pass();
        } catch (err) {
          this.opts.log.event({ event: 'error', reason: `delivery pass failed: ${(err as Error).message}` });
        }
      } while (this.again && !this.stopped);
      if (this.stopped) return;
      this.watchAll();
      await this.schedule();
      // A trigger that came while the schedule was being computed still gets its pass.
      if (!this.again || this.stopped) return;
    }
  }

  private async schedule(): Promise<void> {
    let due: number | null = null;
    try {
      due = await this.opts.nextDue();
    } catch (err) {
      this.opts.log.event({ event: 'error', reason: `cannot list the queue: ${(err as Error).message}` });
    }
    if (this.stopped) return;
    const delay = wakeDelay(due, this.now(), {
      maxSleepMs: this.opts.maxSleepMs ?? QUEUE_MAX_SLEEP_MS, busyRetryMs: this.opts.busyRetryMs ?? QUEUE_BUSY_RETRY_MS,
    });
    if (this.timer) clearTimeout(this.timer);
    this.wakeAt = this.now() + delay;
    this.timer = setTimeout(() => { this.timer = null; this.wakeAt = null; this.trigger('timer'); }, delay);
  }

  private watchAll(): void {
    for (const dir of this.opts.watchDirs) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          if (typeof name === 'string') {
            // Dot files are submissions still being written; their final rename is the event that counts.
            if (name.startsWith('.')) return;
            // A file that went away (claimed, delivered, imported) is no news; our own passes cause most of those.
            if (!existsSync(join(dir, name))) return;
          }
          this.trigger(`new file in ${dir}`, true);
        });
        w.on('error', (err) => {
          this.opts.log.verbose(`watching ${dir} failed (${err.message}); it is retried after the next pass`);
          w.close();
          this.watchers.delete(dir);
        });
        this.watchers.set(dir, w);
      } catch (err) {
        // Not there yet (the spool makes its directories on first use): retried after each pass.
        this.opts.log.verbose(`cannot watch ${dir}: ${(err as Error).message}`);
      }
    }
  }
}
