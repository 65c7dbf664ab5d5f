/**
 * MIME header values with parameters (Content-Type, Content-Disposition,
 * Content-Transfer-Encoding), read as RFC 2045 and RFC 2231 define them.
 *
 * Guarantees: never throws; one linear pass over the value (no regex that can
 * backtrack); comments "(...)" are ignored wherever they stand outside quoted
 * strings (they nest, and a backslash quotes the next character); quoted
 * values are unquoted; RFC 2231 extended parameters are decoded:
 * `name*=charset'lang'%XX...` and continuations `name*0=`, `name*1*=` joined
 * in order, in the charset of the first section (unknown: UTF-8). Parameter
 * names are lower-cased; the first occurrence of a name wins. At most
 * MAX_PARAMS parameters and MAX_SECTIONS continuation sections are kept.
 */
import { decodeLenient } from './charset.js';

const MAX_PARAMS = 64;
const MAX_SECTIONS = 64;

export interface MimeValue {
  /** The value before the first ';', comments removed, trimmed and lower-cased (e.g. "text/plain"). */
  value: string;
  params: Map<string, string>;
}

interface Raw { name: string; value: string; quoted: boolean }

/** Splits at ';' outside quotes and comments; comments dropped, quoted strings kept with a flag. */
function scan(v: string): { head: string; raw: Raw[] } {
  const segs: Array<{ text: string; quoted: boolean }> = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '(') {
      let depth = 1;
      for (i++; i < v.length && depth > 0; i++) {
        if (v[i] === '\\') i++;
        else if (v[i] === '(') depth++;
        else if (v[i] === ')') depth--;
      }
      i--;
      cur += ' ';
      continue;
    }
    if (c === '"') {
      quoted = true;
      for (i++; i < v.length && v[i] !== '"'; i++) {
        if (v[i] === '\\' && i + 1 < v.length) i++;
        cur += v[i]!;
      }
      continue;
    }
    if (c === ';') {
      segs.push({ text: cur, quoted });
      if (segs.length > MAX_PARAMS) break;
      cur = '';
      quoted = false;
      continue;
    }
    cur += c;
  }
  if (segs.length <= MAX_PARAMS) segs.push({ text: cur, quoted });
  const head = segs.shift()?.text ?? '';
  const raw: Raw[] = [];
  for (const s of segs) {
    const eq = s.text.indexOf('=');
    if (eq <= 0) continue;
    const name = s.text.slice(0, eq).trim().toLowerCase();
    // A quoted value keeps its inner white space; an unquoted one is trimmed.
    raw.push({ name, value: s.quoted ? s.text.slice(eq + 1).replace(/^[ \t\r\n]+/, '') : s.text.slice(eq + 1).trim(), quoted: s.quoted });
  }
  return { head, raw };
}

function trimQuotedTail(r: Raw): string {
  // The text after a closing quote (white space only, in valid input) is not part of the value.
  if (!r.quoted) return r.value;
  let end = r.value.length;
  while (end > 0 && ' \t\r\n'.includes(r.value[end - 1]!)) end--;
  return r.value.slice(0, end);
}

function pctBytes(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) out.push(c);
    else for (const b of Buffer.from(s[i]!, 'utf8')) out.push(b);
  }
  return out;
}

/** Parses a MIME header value with parameters. */
export function parseMimeValue(v: string): MimeValue {
  const { head, raw } = scan(v);
  const params = new Map<string, string>();
  const ext = new Map<string, Array<{ n: number; encoded: boolean; value: string }>>();
  for (const r of raw) {
    const m = /^([^*]+)\*(?:(\d{1,3})\*?)?$/.exec(r.name);
    if (m === null || (m[2] === undefined && !r.name.endsWith('*'))) {
      if (!params.has(r.name)) params.set(r.name, trimQuotedTail(r));
      continue;
    }
    const base = m[1]!;
    const sections = ext.get(base) ?? [];
    if (sections.length < MAX_SECTIONS) sections.push({ n: m[2] === undefined ? 0 : Number(m[2]), encoded: r.name.endsWith('*') && !r.quoted, value: trimQuotedTail(r) });
    ext.set(base, sections);
  }
  for (const [base, sections] of ext) {
    sections.sort((a, b) => a.n - b.n);
    let charset = 'utf-8';
    const bytes: number[] = [];
    sections.forEach((s, idx) => {
      let text = s.value;
      if (idx === 0 && s.encoded) {
        const q1 = text.indexOf("'");
        const q2 = q1 < 0 ? -1 : text.indexOf("'", q1 + 1);
        if (q2 >= 0) {
          charset = text.slice(0, q1) || 'utf-8';
          text = text.slice(q2 + 1);
        }
      }
      for (const b of s.encoded ? pctBytes(text) : Buffer.from(text, 'utf8')) bytes.push(b);
    });
    // An extended parameter wins over a plain one of the same name (RFC 2231 §4 lets senders send both).
    params.set(base, decodeLenient(Uint8Array.from(bytes), charset));
  }
  return { value: head.trim().toLowerCase(), params };
}
