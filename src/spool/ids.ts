/**
 * Queue ids: 21 characters of Crockford base32, safe as a file name.
 *
 *   TTTTTTTTTT PPPPP RRRRRR
 *   ms time    pid   random
 *
 * Guarantees: ids sort by submission time (string order = time order, to the
 * millisecond); two processes on one host never make the same id (the pid part
 * differs while both live, and the random part covers pid namespaces); one
 * process never makes the same id twice (within a millisecond the random part
 * counts up, like a monotonic ULID). Ids given on the command line are checked
 * by `parseId`, so no `/`, `..` or other path trick reaches the file system.
 */
import { usageError } from '../core/errors.js';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10;
const PID_CHARS = 5;
const RANDOM_CHARS = 6;
const RANDOM_SPACE = 32 ** RANDOM_CHARS;

export const ID_LENGTH = TIME_CHARS + PID_CHARS + RANDOM_CHARS;
const ID_RE = /^[0-9A-HJKMNP-TV-Z]{21}$/;

function encode(n: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) {
    s = ALPHABET[n % 32] + s;
    n = Math.floor(n / 32);
  }
  return s;
}

export function isValidId(s: string): boolean {
  return ID_RE.test(s);
}

/** Checks an id typed by a user (case-insensitive) and returns it in canonical form. */
export function parseId(s: string): string {
  const id = s.trim().toUpperCase();
  if (!isValidId(id)) {
    throw usageError(`"${s.replace(/[^\x20-\x7e]/g, '?').slice(0, 60)}" is not a queue id`,
      `queue ids are ${ID_LENGTH} characters of 0-9 and A-Z, as shown by \`sysmail queue\``);
  }
  return id;
}

/** The submission time (ms since the epoch) encoded in an id. */
export function idTime(id: string): number {
  let n = 0;
  for (let i = 0; i < TIME_CHARS; i++) n = n * 32 + ALPHABET.indexOf(id[i] ?? '0');
  return n;
}

/** A generator of ids; time, randomness and pid are injected for tests. */
export function idGenerator(now: () => number, random: () => number, pid: number = process.pid): () => string {
  let lastMs = -1;
  let seq = 0;
  const pidPart = encode(pid % 32 ** PID_CHARS, PID_CHARS);
  return () => {
    let ms = Math.max(0, Math.floor(now()));
    if (ms <= lastMs) {
      // Same millisecond (or the clock stepped back): count up so ids stay unique and ordered.
      ms = lastMs;
      seq++;
      if (seq >= RANDOM_SPACE) { ms++; seq = Math.floor(random() * (RANDOM_SPACE / 2)); }
    } else {
      // Half the space, so counting up within one millisecond never wraps in practice.
      seq = Math.floor(random() * (RANDOM_SPACE / 2));
    }
    lastMs = ms;
    return encode(ms, TIME_CHARS) + pidPart + encode(seq, RANDOM_CHARS);
  };
}
