/**
 * The one function that makes foreign text (relay greetings and replies, OCI error messages,
 * envelope values from drop files, file names) safe to print on an admin's terminal.
 *
 * Guarantees: the result holds no C0 or C1 control character, no DEL, no bidi override or
 * isolate (U+202A–U+202E, U+2066–U+2069), no zero-width or line/paragraph separator and no BOM:
 * each is shown escaped (\x1b, \u202e), so nothing is hidden and nothing is interpreted. The
 * length is bounded (`max` characters, then a count of what was cut). Pure, no imports.
 */

/** Longest foreign text a view prints in one place. */
export const DISPLAY_MAX = 500;
/** Longest string value the JSON event log keeps (a 20 KB reply is cut here, escaped by JSON). */
export const LOG_FIELD_MAX = 2000;

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/g;
const JSON_RAW = /[\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/g;
const escape = (c: string) => {
  const n = c.charCodeAt(0);
  return n < 0x100 ? '\\x' + n.toString(16).padStart(2, '0') : '\\u' + n.toString(16).padStart(4, '0');
};

/** Cuts `s` to `max` characters, saying how many were cut; never splits a surrogate pair. */
export function bounded(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max;
  if (/[\ud800-\udbff]/.test(s[end - 1] ?? '')) end--;
  return `${s.slice(0, end)}... (${s.length - end} more characters)`;
}

/** Foreign text for a terminal: unsafe characters escaped, then bounded. Newlines are escaped too. */
export function displayText(s: unknown, max = DISPLAY_MAX): string {
  const str = typeof s === 'string' ? s : String(s ?? '');
  return bounded(str, max).replace(UNSAFE, escape);
}

/** Foreign text with the same characters replaced by '?' (for a reply kept in state and bounces). */
export function scrubText(s: string): string {
  return s.replace(UNSAFE, '?');
}

/**
 * A JSON text with the characters JSON.stringify leaves raw (C1, bidi, separators) written as
 * \uXXXX escapes: the same value for a parser, harmless for `cat` and `tail -f`.
 */
export function escapeJson(json: string): string {
  // Every character JSON_RAW names is U+007F or above: an ASCII line (nearly every log line) has
  // none, and skipping the regular expression saves its first use (~0.02 ms per sendmail).
  let ascii = true;
  for (let i = 0; i < json.length && ascii; i++) ascii = json.charCodeAt(i) < 0x7f;
  if (ascii) return json;
  // C0 inside strings is escaped by JSON.stringify already; outside them it is the layout (newlines).
  return json.replace(JSON_RAW, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}
