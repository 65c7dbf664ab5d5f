/**
 * RFC 2047 encoded-words: decode for reading, encode for headers we write.
 *
 * Guarantees: decoding never throws; a malformed word, an unknown charset or
 * bad base64 leaves that word as it was. Adjacent encoded-words (separated only
 * by white space) are joined, and their bytes are decoded together when they
 * share a charset, so a UTF-8 character split across two B-words survives;
 * words in a stateful charset (ISO-2022-JP) are decoded one by one instead,
 * as RFC 1468 has each word return to ASCII (see charset.ts).
 * Work is linear in the input, and at most MAX_DECODED_WORDS words are decoded:
 * the rest of a hostile header is left as-is rather than burning CPU.
 * Encoding emits UTF-8 words of at most 75 characters, split on code-point
 * boundaries, using only characters that are safe in a phrase (display name)
 * as well as in unstructured text, so one encoder serves Subject and From.
 */
import { decoderFor, isStateful } from './charset.js';

/** A header never legitimately carries more; beyond this the text is left encoded. */
export const MAX_DECODED_WORDS = 1000;
/** RFC 2047 §2: an encoded-word is at most 75 characters. */
const MAX_WORD = 75;

const WORD_RE = /=\?([^?\s*]{1,64})(?:\*[^?\s]{0,32})?\?([BbQq])\?([^?\s]*)\?=/g;

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Q decoding (RFC 2047 §4.2); null when the text is not valid Q. */
function decodeQ(text: string): Buffer | null {
  const out = Buffer.alloc(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5f) out[n++] = 0x20;
    else if (c === 0x3d) {
      const h = hexVal(text.charCodeAt(i + 1));
      const l = hexVal(text.charCodeAt(i + 2));
      if (h < 0 || l < 0) return null;
      out[n++] = h * 16 + l;
      i += 2;
    } else if (c > 0x7e) return null;
    else out[n++] = c;
  }
  return out.subarray(0, n);
}

/** B decoding; null when the text is not base64 (a length of 4n+1 characters cannot be: a lost character). */
function decodeB(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  const data = text.replace(/=+$/, '').length;
  // A group of 1 character, or padding after a complete group, is not base64 (a character was lost or added).
  if (data % 4 === 1 || (data % 4 === 0 && data < text.length)) return null;
  return Buffer.from(text, 'base64');
}

interface Word {
  start: number;
  end: number;
  charset: string;
  bytes: Buffer;
}

/**
 * Decodes every RFC 2047 encoded-word in `s`; anything malformed stays as
 * written. A word in an unknown charset stays as written too, or, with
 * `unknownAsUtf8` (display, where a title beats an encoded blob), is read as UTF-8.
 */
export function decodeWords(s: string, maxWords = MAX_DECODED_WORDS, unknownAsUtf8 = false): string {
  if (!s.includes('=?')) return s;
  const words: Word[] = [];
  WORD_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while (words.length < maxWords && (m = WORD_RE.exec(s)) !== null) {
    const [whole, charset, enc, text] = m as unknown as [string, string, string, string];
    const bytes = enc === 'B' || enc === 'b' ? decodeB(text) : decodeQ(text);
    if (bytes === null || (!unknownAsUtf8 && decoderFor(charset) === null)) continue;
    words.push({ start: m.index, end: m.index + whole.length, charset: charset.toLowerCase(), bytes });
  }
  if (words.length === 0) return s;

  let out = '';
  let pos = 0;
  let i = 0;
  while (i < words.length) {
    const first = words[i]!;
    out += s.slice(pos, first.start);
    // A run: words separated only by white space (which RFC 2047 §6.2 says to drop).
    let j = i;
    while (j + 1 < words.length && /^[ \t\r\n]*$/.test(s.slice(words[j]!.end, words[j + 1]!.start))) j++;
    let k = i;
    while (k <= j) {
      // Same-charset neighbours are decoded as one byte string (split multi-byte characters),
      // except in a stateful charset (ISO-2022-JP), where each word starts and ends in ASCII
      // (RFC 1468) and is decoded on its own.
      let l = k;
      if (!isStateful(words[k]!.charset)) while (l + 1 <= j && words[l + 1]!.charset === words[k]!.charset) l++;
      const bytes = Buffer.concat(words.slice(k, l + 1).map((w) => w.bytes));
      out += (decoderFor(words[k]!.charset) ?? decoderFor('utf-8')!)(bytes);
      k = l + 1;
    }
    pos = words[j]!.end;
    i = j + 1;
  }
  return out + s.slice(pos);
}

/** True when `s` cannot go into a header as-is (non-ASCII, or something that would be read as an encoded-word). */
export function needsEncoding(s: string): boolean {
  return /[^\x20-\x7e]/.test(s) || s.includes('=?');
}

// Phrase-safe Q characters (RFC 2047 §5 (3)); everything else is =XX.
function qSafe(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
    || b === 0x21 || b === 0x2a || b === 0x2b || b === 0x2d || b === 0x2f;
}

function qEncodeChar(ch: string): string {
  if (ch === ' ') return '_';
  let r = '';
  for (const b of Buffer.from(ch, 'utf8')) {
    r += qSafe(b) ? String.fromCharCode(b) : '=' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return r;
}

/**
 * Encodes `s` as a list of UTF-8 encoded-words (to be joined by white space or
 * a fold). Q is used when most of the text is ASCII (readable in raw form), B
 * otherwise; every word stays within 75 characters.
 */
export function encodeWords(s: string): string[] {
  const chars = Array.from(s);
  const ascii = chars.filter((c) => c.charCodeAt(0) < 0x80).length;
  const useQ = ascii * 10 >= chars.length * 7;
  const prefix = useQ ? '=?UTF-8?Q?' : '=?UTF-8?B?';
  const room = MAX_WORD - prefix.length - 2;
  const words: string[] = [];
  if (useQ) {
    let cur = '';
    for (const ch of chars) {
      const e = qEncodeChar(ch);
      if (cur.length + e.length > room && cur !== '') {
        words.push(prefix + cur + '?=');
        cur = '';
      }
      cur += e;
    }
    if (cur !== '' || words.length === 0) words.push(prefix + cur + '?=');
  } else {
    // Base64 of n bytes takes 4*ceil(n/3) characters.
    const maxBytes = Math.floor(room / 4) * 3;
    let cur: Buffer[] = [];
    let len = 0;
    for (const ch of chars) {
      const b = Buffer.from(ch, 'utf8');
      if (len + b.length > maxBytes && len > 0) {
        words.push(prefix + Buffer.concat(cur).toString('base64') + '?=');
        cur = [];
        len = 0;
      }
      cur.push(b);
      len += b.length;
    }
    if (len > 0 || words.length === 0) words.push(prefix + Buffer.concat(cur).toString('base64') + '?=');
  }
  return words;
}

/** A word too long for any header line is encoded too, since encoded-words can be split and folded. */
const MAX_PLAIN_WORD = 900;

/**
 * Unstructured header text (Subject) ready to write, minimally encoded: plain
 * ASCII words stay readable, and each run of words that need encoding becomes
 * encoded-words (the spaces inside a run travel inside the encoding, since
 * white space between encoded-words is dropped on decoding). Words come out
 * separated by single spaces, so the caller may fold at any of them.
 */
export function encodeHeaderText(s: string): string {
  if (!needsEncoding(s) && !s.split(' ').some((w) => w.length > MAX_PLAIN_WORD)) return s;
  const out: string[] = [];
  let run: string[] = [];
  const flush = (): void => {
    if (run.length > 0) out.push(...encodeWords(run.join(' ')));
    run = [];
  };
  for (const w of s.split(' ')) {
    if (needsEncoding(w) || w.length > MAX_PLAIN_WORD) run.push(w);
    else if (run.length > 0 && w === '') run.push(w); // keep runs of spaces inside the encoding
    else {
      flush();
      out.push(w);
    }
  }
  flush();
  return out.join(' ');
}
