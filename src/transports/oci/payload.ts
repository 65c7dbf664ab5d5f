/**
 * The PublishMessage body: `{"title","body"}` built from a mail's subject and
 * text, within the service's documented limit ("Message size limit per
 * request: 64KB", reference doc §1.4).
 *
 * Guarantees: the serialized JSON is at most MAX_PAYLOAD_BYTES UTF-8 bytes,
 * counting the title and JSON escaping; the title is one line of at most
 * MAX_TITLE_CHARS characters, tagged with the sending host; a body that does
 * not fit is cut at a character boundary (never inside a surrogate pair, so
 * never mid UTF-8 sequence), preferably at a line end, and ends with the
 * caller's marker. Pure: no I/O, no clock.
 */

/** 64 KB read as 64 KiB of UTF-8, the stricter reading of the service's limit. */
export const MAX_PAYLOAD_BYTES = 65_536;
/** No documented title limit; one line of 255 is what the reference doc plans on. */
export const MAX_TITLE_CHARS = 255;
/** A cut goes back to a line end when one is this close, so the last line shown is whole. */
const LINE_SNAP_CHARS = 2000;

export interface Payload {
  title: string;
  body: string;
  json: string;
  /** True when the body was cut and the marker appended. */
  cut: boolean;
}

/** Cuts `s` to at most `max` code units without splitting a surrogate pair. */
export function cutChars(s: string, max: number): string {
  if (s.length <= max) return s;
  let k = max;
  const c = s.charCodeAt(k - 1);
  if (c >= 0xd800 && c <= 0xdbff) k--;
  return s.slice(0, k);
}

/** `[host] subject` on one line, within the title limit; no tag when `host` is null. */
export function buildTitle(subject: string, host: string | null): string {
  const s = subject.replace(/[\r\n\t]+/g, ' ').trim() || '(no subject)';
  const tag = host === null ? '' : `[${host}]`;
  const t = !tag || s.startsWith(tag) ? s : `${tag} ${s}`;
  return t.length <= MAX_TITLE_CHARS ? t : cutChars(t, MAX_TITLE_CHARS - 1) + '…';
}

function size(title: string, body: string): number {
  return Buffer.byteLength(JSON.stringify({ title, body }));
}

/**
 * The payload for `text`; when it does not fit, the longest prefix that fits
 * together with `marker` (found by bisection: the size grows with the prefix).
 */
export function buildPayload(title: string, text: string, marker: string, limit = MAX_PAYLOAD_BYTES): Payload {
  if (size(title, text) <= limit) return { title, body: text, json: JSON.stringify({ title, body: text }), cut: false };
  // Each character is at least one byte, so no prefix longer than the limit can fit.
  const src = cutChars(text, limit);
  let lo = 0;
  let hi = src.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (size(title, cutChars(src, mid) + marker) <= limit) lo = mid; else hi = mid - 1;
  }
  let prefix = cutChars(src, lo);
  const nl = prefix.lastIndexOf('\n');
  if (nl !== -1 && prefix.length - nl < LINE_SNAP_CHARS) prefix = prefix.slice(0, nl);
  const body = prefix + marker;
  return { title, body, json: JSON.stringify({ title, body }), cut: true };
}

/** The note that ends a cut body: what happened and where the whole message is (archiveDir null: nowhere). */
export function cutMarker(fullBytes: number, host: string, archiveDir: string | null, file: string): string {
  const head = `\n\n[sysmail: cut to fit the 64 KB limit of OCI Notifications. The full message (${fullBytes} bytes) `;
  return archiveDir === null ? `${head}was not kept: archive_dir is off on ${host}]`
    : `${head}is kept on ${host} in the Maildir ${archiveDir} as ${file}]`;
}
