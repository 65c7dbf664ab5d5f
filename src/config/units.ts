/**
 * Durations and sizes as people write them in sysmail.toml, and back.
 *
 * Guarantees: parse* accept only unambiguous input and return null for
 * anything else (the validator turns null into an error naming the key);
 * format* produce text that parse* read back to the same number.
 *
 * Durations: "90s", "5m", "2h", "5d", "1w", "250ms", compounds like "1h30m",
 * or a bare non-negative integer of seconds. A string of digits without a
 * unit ("90") is refused: it is a common slip between seconds and minutes.
 * Sizes: binary units, "512k", "25M", "1G" (also "25MiB", "100B"), or an
 * integer of bytes. "25MB" is refused because it reads as decimal.
 */

const DURATION_UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Largest unit first, so formatting is greedy and compounds stay short. */
const FORMAT_UNITS: [string, number][] = [
  ['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000], ['ms', 1],
];

/** Milliseconds, or null when the input is not a duration. */
export function parseDuration(input: unknown): number | null {
  if (typeof input === 'number') {
    return Number.isSafeInteger(input) && input >= 0 && Number.isSafeInteger(input * 1000) ? input * 1000 : null;
  }
  if (typeof input !== 'string') return null;
  const text = input.trim();
  if (text === '') return null;
  const part = /(\d+)\s*(ms|s|m|h|d|w)/gy;
  let total = 0;
  let pos = 0;
  const seen = new Set<string>();
  while (pos < text.length) {
    part.lastIndex = pos;
    const m = part.exec(text);
    if (!m) return null;
    const unit = m[2]!;
    if (seen.has(unit)) return null; // "1h1h" is a typo, not a sum
    seen.add(unit);
    total += Number(m[1]) * DURATION_UNIT_MS[unit]!;
    pos = part.lastIndex;
    while (text[pos] === ' ') pos++;
  }
  return Number.isSafeInteger(total) ? total : null;
}

export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of FORMAT_UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

const SIZE_UNIT_BYTES: Record<string, number> = {
  '': 1, b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3,
  t: 1024 ** 4, tib: 1024 ** 4,
};

/** Bytes, or null when the input is not a size. */
export function parseSize(input: unknown): number | null {
  if (typeof input === 'number') return Number.isSafeInteger(input) && input >= 0 ? input : null;
  if (typeof input !== 'string') return null;
  const m = /^\s*(\d+)\s*([A-Za-z]*)\s*$/.exec(input);
  if (!m) return null;
  const unit = m[2]!.toLowerCase();
  const mult = SIZE_UNIT_BYTES[unit];
  if (mult === undefined) return null;
  const bytes = Number(m[1]) * mult;
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** True for "25MB"-style input, so the error can say why it was refused. */
export function looksDecimalSize(input: unknown): boolean {
  return typeof input === 'string' && /^\s*\d+\s*[kKmMgGtT][bB]\s*$/.test(input);
}

export function formatSize(bytes: number): string {
  for (const [unit, size] of [['G', 1024 ** 3], ['M', 1024 ** 2], ['k', 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}
