/**
 * Process-wide publish rate limit per topic ("60 per topic" messages per
 * minute, reference doc §1.4; more gives 429 TooManyRequests).
 *
 * A token bucket whose tokens come back one window after they were spent,
 * rather than one that refills at a steady rate: a classic bucket holding 60
 * and refilling 1/s lets 60 + 59 through within one minute, which is exactly
 * what trips the service's per-minute count. This one guarantees at most
 * `limit` sends in any window of `windowMs`, by the injected clock.
 */

export class TopicBucket {
  /** Times of the sends still inside the window, oldest first. */
  private readonly spent: number[] = [];

  constructor(readonly limit: number, readonly windowMs: number) {}

  /** Milliseconds until a send is allowed at `now`; 0 when one is allowed now. */
  waitTime(now: number): number {
    while (this.spent.length > 0 && this.spent[0]! + this.windowMs <= now) this.spent.shift();
    if (this.spent.length < this.limit) return 0;
    return this.spent[0]! + this.windowMs - now;
  }

  /** Spends a token if one is free at `now`; check and spend are one synchronous step. */
  tryTake(now: number): boolean {
    if (this.waitTime(now) > 0) return false;
    this.spent.push(now);
    return true;
  }
}

const buckets = new Map<string, TopicBucket>();

export function bucketFor(topicId: string, limit: number, windowMs = 60_000): TopicBucket {
  let b = buckets.get(topicId);
  if (!b || b.limit !== limit || b.windowMs !== windowMs) {
    b = new TopicBucket(limit, windowMs);
    buckets.set(topicId, b);
  }
  return b;
}

/**
 * Takes a token, sleeping when the wait is at most `maxWaitMs`; false when
 * the wait is longer (the caller defers). Gives up after a few sleeps so a
 * clock that does not move cannot spin it forever.
 */
export async function acquire(bucket: TopicBucket, now: () => number, maxWaitMs: number,
  sleep: (ms: number) => Promise<void>): Promise<{ ok: boolean; waitMs: number }> {
  for (let round = 0; round < 4; round++) {
    if (bucket.tryTake(now())) return { ok: true, waitMs: 0 };
    const wait = bucket.waitTime(now());
    if (wait > maxWaitMs) return { ok: false, waitMs: wait };
    await sleep(wait);
  }
  return { ok: false, waitMs: bucket.waitTime(now()) };
}
