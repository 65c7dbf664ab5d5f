/**
 * dnf-automatic-style placeholders for the command transport's argv:
 * {subject} {body} {from} {to} {local} {id} {host}. {local} is the recipients'
 * local parts (before the @), space-separated, as esmtp's %T gave an MDA.
 *
 * Guarantees: substitution happens inside single argv elements only, in one
 * pass (a value that itself contains "{to}" is not expanded again), so the
 * number of arguments never depends on the message: spaces, quotes, `$(...)`,
 * `;` or newlines in a value stay inside one argument, and since the command
 * runs without a shell nothing can be injected. Unknown `{names}` are left as
 * written (findUnknownPlaceholders lets config validation reject them). NUL
 * bytes, which an argv element cannot hold, are removed; each value is
 * bounded by MAX_PLACEHOLDER_CHARS so a big body cannot hit the kernel's
 * per-argument limit (128 KiB) and fail the exec. An element that a value
 * would make start with "-" gets a leading space, so a Subject such as
 * "--exec=..." can never become an option of the program.
 */

export const PLACEHOLDER_NAMES = ['subject', 'body', 'from', 'to', 'local', 'id', 'host'] as const;
export type PlaceholderName = (typeof PLACEHOLDER_NAMES)[number];
export type PlaceholderValues = Record<PlaceholderName, string>;

/** Characters per substituted value; UTF-8 of this stays well under 128 KiB per argument. */
export const MAX_PLACEHOLDER_CHARS = 32 * 1024;

const PATTERN = /\{([a-z]+)\}/g;
const KNOWN = new Set<string>(PLACEHOLDER_NAMES);

function bound(value: string): string {
  const clean = value.replace(/\0/g, '');
  return clean.length > MAX_PLACEHOLDER_CHARS ? clean.slice(0, MAX_PLACEHOLDER_CHARS - 1) + '…' : clean;
}

/** Substitutes placeholders in each element; returns a new argv of the same length. */
export function expandArgv(argv: readonly string[], values: PlaceholderValues): string[] {
  return argv.map((arg) => {
    const out = arg.replace(PATTERN, (whole, name: string) => KNOWN.has(name) ? bound(values[name as PlaceholderName]) : whole);
    // A value that would begin an element with "-" (a Subject of "--exec=...") could be read as an
    // option: it gets a leading space, so it stays an operand. Dashes written in the config stay.
    return out.startsWith('-') && !arg.startsWith('-') ? ` ${out}` : out;
  });
}

/** Placeholders in argv that are not known names (for config checks). */
export function findUnknownPlaceholders(argv: readonly string[]): string[] {
  const unknown = new Set<string>();
  for (const arg of argv) for (const m of arg.matchAll(PATTERN)) if (!KNOWN.has(m[1])) unknown.add(m[0]);
  return [...unknown];
}

/** Which placeholders argv uses (the text body is only decoded when needed). */
export function usesPlaceholder(argv: readonly string[], name: PlaceholderName): boolean {
  return argv.some((a) => a.includes(`{${name}}`));
}
