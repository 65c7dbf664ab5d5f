/**
 * Bytes in a named charset to text: the one charset decoder behind RFC 2047
 * words (encoded-words.ts, text.ts) and MIME bodies (text.ts).
 *
 * Guarantees: never throws; linear in the input; an unknown charset gives
 * null so each caller decides (leave the word encoded, or read it as UTF-8).
 * - windows-1252 (and the labels WHATWG maps to it: iso-8859-1, us-ascii...)
 *   decodes 0x80-0x9F to the windows-1252 characters (“ ” € ...), which Node
 *   20's decoder gets wrong (it yields C1 controls, nodejs/node#56542).
 * - ISO-2022-JP and its variants (-1, -2, -3, -2004) are stateful: a redundant
 *   escape sequence (one directly followed by another, as at every boundary
 *   of two joined encoded-words, or in mailers that switch back to ASCII
 *   before every switch) is dropped before decoding, because the WHATWG
 *   decoder reports such pairs as errors (U+FFFD). The variants are read with
 *   the ISO-2022-JP decoder, which covers JIS X 0208, the text they carry in
 *   practice; characters outside it become U+FFFD.
 * - Labels TextDecoder lacks but mail uses are aliased (cp932, utf8...).
 */
import { TextDecoder } from 'node:util';

export type Decode = (bytes: Uint8Array) => string;

const ALIASES: Record<string, string> = {
  utf8: 'utf-8', cp932: 'shift_jis', 'x-ms-cp932': 'shift_jis', 'x-sjis-cp932': 'shift_jis',
  'iso-2022-jp-1': 'iso-2022-jp', 'iso-2022-jp-2': 'iso-2022-jp', 'iso-2022-jp-3': 'iso-2022-jp',
  'iso-2022-jp-2004': 'iso-2022-jp', 'iso-2022-jp-ext': 'iso-2022-jp', cp1252: 'windows-1252',
};

const cache = new Map<string, Decode | null>();

// 0x80-0x9F in windows-1252; the five unassigned bytes keep their C1 code point (as WHATWG does).
const CP1252_80 = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];

export function decodeCp1252(bytes: Uint8Array): string {
  const codes = new Array<string>(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    codes[i] = String.fromCharCode(b >= 0x80 && b < 0xa0 ? CP1252_80[b - 0x80]! : b);
  }
  return codes.join('');
}

/** The length of the ISO-2022-JP escape sequence at `i`, or 0 when there is none. */
function escapeLength(b: Uint8Array, i: number): number {
  if (b[i] !== 0x1b) return 0;
  const c1 = b[i + 1];
  const c2 = b[i + 2];
  if (c1 === 0x28 && (c2 === 0x42 || c2 === 0x4a || c2 === 0x49)) return 3; // ESC ( B / J / I
  if (c1 === 0x24 && (c2 === 0x40 || c2 === 0x42)) return 3; // ESC $ @ / B
  if (c1 === 0x24 && c2 === 0x28 && b[i + 3] !== undefined) return 4; // ESC $ ( D and the JIS X 0213 planes
  return 0;
}

/** Drops every escape sequence that is directly followed by another one: it selects nothing. */
export function dropRedundantEscapes(b: Uint8Array): Uint8Array {
  if (b.indexOf(0x1b) < 0) return b;
  const out = new Uint8Array(b.length);
  let n = 0;
  for (let i = 0; i < b.length;) {
    const len = escapeLength(b, i);
    if (len > 0 && escapeLength(b, i + len) > 0) { i += len; continue; }
    out[n++] = b[i++]!;
  }
  return out.subarray(0, n);
}

/** True for charsets whose bytes carry shift state, so two words cannot be joined as bytes. */
export function isStateful(charset: string): boolean {
  return canonical(charset).startsWith('iso-2022-');
}

function canonical(charset: string): string {
  const k = charset.trim().toLowerCase().replace(/^"|"$/g, '');
  return ALIASES[k] ?? k;
}

/** A decoder for `charset`, or null when the charset is unknown. */
export function decoderFor(charset: string): Decode | null {
  const key = canonical(charset);
  let d = cache.get(key);
  if (d !== undefined) return d;
  try {
    const td = new TextDecoder(key);
    if (td.encoding === 'windows-1252') d = decodeCp1252;
    else if (td.encoding === 'iso-2022-jp') d = (b) => new TextDecoder('iso-2022-jp').decode(dropRedundantEscapes(b));
    else d = (b) => td.decode(b);
  } catch {
    d = null;
  }
  if (cache.size < 64) cache.set(key, d);
  return d;
}

/** Decodes `bytes` in `charset`; an unknown or missing charset reads as UTF-8 (U+FFFD for what is not). */
export function decodeLenient(bytes: Uint8Array, charset: string | undefined): string {
  const d = decoderFor(charset === undefined || charset.trim() === '' ? 'utf-8' : charset) ?? decoderFor('utf-8')!;
  return d(bytes);
}
