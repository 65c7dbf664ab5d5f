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
 *
 * A message the listener accepted gets a targeted pass (`deliver(id)`):
 * that id only, no queue listing, no maintenance; ids accepted during a pass
 * are taken together by the next one, and a full pass asked for meanwhile
 * covers them. The listener's own commits (`ownCommit`) do not also start a
 * full pass through their file event in queue/: events seen while one is in
 * progress are held and count only if they name another file. So nothing
 * claims a message before its commit (and the 250) is complete, and a burst
 * through the listener costs one claim per message, not a queue scan each.
 */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { QUEUE_BUSY_RETRY_MS, QUEUE_MAX_SLEEP_MS, QUEUE_WATCH_DEBOUNCE_MS } from '../config/defaults.js';

export interface QueueRunnerOptions {
  /** One delivery pass over what is due. */
  pass(): Promise<void>;
  /**
   * A pass for these ids only; resolves true when the retry schedule must be looked at again
   * (something was deferred). Without it, deliver(id) asks for a full pass.
   */
  passIds?(ids: string[]): Promise<boolean>;
  /** The directory the listener's own commits land in (queue/). */
  ownDir?: string;
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

/** How many of the listener's recent ids are remembered, to ignore their late file events. */
const RECENT_OWN = 64;

export class QueueRunner {
  private running: Promise<void> | null = null;
  /** A full pass is asked for. */
  private wantFull = false;
  /** Ids waiting for a targeted pass. */
  private readonly wantIds = new Set<string>();
  /** Listener commits in progress, and the queue/ file names seen meanwhile. */
  private ownCommits = 0;
  private readonly heldNames = new Set<string>();
  private readonly recentOwn: string[] = [];
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly now: () => number;
  /** Passes run so far, and how many of them were targeted (for `-v` and tests). */
  passes = 0;
  targetedPasses = 0;
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
    this.wantFull = true;
    if (this.running) return;
    this.opts.log.verbose(`queue pass (${reason})`);
    this.running = this.loop().finally(() => { this.running = null; });
  }

  /** A targeted pass given an id now would start at once (no pass running, none asked for). */
  get startsAtOnce(): boolean {
    return !this.running && !this.stopped && this.opts.passIds !== undefined && !this.wanted;
  }

  /** Delivers one message the listener has just committed: a targeted pass, now or after the running one. */
  deliver(id: string): void {
    if (this.stopped) return;
    if (!this.opts.passIds) { this.trigger('accepted'); return; }
    this.wantIds.add(id);
    if (this.running) return;
    this.running = this.loop().finally(() => { this.running = null; });
  }

  /**
   * Runs the listener's spool commit. File events in queue/ during it are held: the one for
   * this commit is dropped once its id is known, any other one still starts a full pass.
   */
  async ownCommit(commit: () => Promise<string>): Promise<string> {
    this.ownCommits++;
    let id: string | null = null;
    try {
      id = await commit();
      return id;
    } finally {
      this.ownCommits--;
      if (id !== null) {
        this.heldNames.delete(id);
        this.recentOwn.push(id);
        if (this.recentOwn.length > RECENT_OWN) this.recentOwn.shift();
      }
      if (this.ownCommits === 0 && this.heldNames.size > 0) {
        this.heldNames.clear();
        this.trigger(`new file in ${this.opts.ownDir ?? 'queue'}`, true);
      }
    }
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

  private get wanted(): boolean { return this.wantFull || this.wantIds.size > 0; }

  private async loop(): Promise<void> {
    for (;;) {
      let reschedule = false;
      while (this.wanted && !this.stopped) {
        this.passes++;
        try {
          if (this.wantFull) {
            // A full pass delivers everything due, the ids waiting included.
            this.wantFull = false;
            this.wantIds.clear();
            reschedule = true;
            await this.opts.pass();
          } else {
            const ids = [...this.wantIds];
            this.wantIds.clear();
            this.targetedPasses++;
            if (await this.opts.passIds!(ids)) reschedule = true;
          }
        } catch (err) {
          reschedule = true;
          this.opts.log.event({ event: 'error', reason: `delivery pass failed: ${(err as Error).message}` });
        }
      }
      if (this.stopped) return;
      this.watchAll();
      // A targeted pass that delivered (or failed) its messages only removed queue entries: the
      // timer set after the last full pass still holds (at worst it wakes for nothing).
      if (reschedule || this.timer === null) await this.schedule();
      // A trigger that came while the schedule was being computed still gets its pass.
      if (!this.wanted || this.stopped) return;
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
            if (dir === this.opts.ownDir) {
              // The listener's own message: its targeted pass delivers it once the commit is done.
              if (this.recentOwn.includes(name)) return;
              if (this.ownCommits > 0) { this.heldNames.add(name); return; }
            }
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
