/**
 * Reads an esmtprc the way esmtp 1.2 does (lexer.l + parser.y): the file is
 * a stream of tokens, not lines; `keyword [=] value`, values optionally in
 * single or double quotes, C escapes (\n \t \\ \xHH \0ooo) processed in
 * every value, `#` at the start of a token comments to the end of the line.
 *
 * Identity semantics reproduced: options before the first `identity` form
 * the global identity; every `identity ADDR` starts a fresh one that
 * inherits nothing; the default is the last identity marked `default`, else
 * the first identity that has any option, else the last identity.
 *
 * Never throws: where esmtp would stop with a syntax error, this records a
 * warning with the line and carries on, so one typo does not lose the rest.
 */
import type { Notes } from './model.js';

export interface Setting {
  value: string;
  line: number;
}

export interface EsmtpIdentity {
  /** null for the global section (options before the first `identity`). */
  address: string | null;
  /** Line of the `identity` keyword; 0 for the global section. */
  line: number;
  settings: Map<string, Setting>;
  hasOptions: boolean;
}

export interface EsmtpRc {
  /** File order; [0] is the global section. */
  identities: EsmtpIdentity[];
  /** Index into identities. */
  defaultIndex: number;
  /** Line of the `default` keyword that chose it, if any. */
  defaultLine: number | null;
  mda: Setting | null;
  forceMda: Setting | null;
}

type Tok = { kind: 'word' | 'quoted' | 'eq'; text: string; line: number };

/** esmtp's escapes(): C escapes, plus \ddd decimal, \0ooo octal, \xHH hex. */
export function cEscapes(s: string): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c !== '\\' || i + 1 >= s.length) { out += c; i++; continue; }
    const n = s[i + 1]!;
    if (n === 'x' || n === 'X') {
      let j = i + 2;
      let v = 0;
      while (j < s.length && j < i + 4 && /[0-9a-fA-F]/.test(s[j]!)) v = v * 16 + parseInt(s[j++]!, 16);
      out += String.fromCharCode(v);
      i = j;
    } else if (n === '0') {
      let j = i + 1;
      let v = 0;
      while (j < s.length && j < i + 4 && /[0-7]/.test(s[j]!)) v = v * 8 + Number(s[j++]);
      out += String.fromCharCode(v);
      i = j;
    } else if (/[1-9]/.test(n)) {
      let j = i + 1;
      let v = 0;
      while (j < s.length && j < i + 4 && /[0-9]/.test(s[j]!)) v = v * 10 + Number(s[j++]);
      out += String.fromCharCode(v);
      i = j;
    } else {
      out += n === 'n' ? '\n' : n === 't' ? '\t' : n === 'b' ? '\b' : n === 'r' ? '\r' : n;
      i += 2;
    }
  }
  return out;
}

function lex(text: string, notes: Notes): Tok[] {
  const toks: Tok[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') { line++; i++; continue; }
    if (c === ' ' || c === '\t' || c === '\r' || c === ';' || c === ',' || c === ':') { i++; continue; }
    if (c === '\\' && text[i + 1] === '\n') { i++; continue; }
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (c === '=') { toks.push({ kind: 'eq', text: '=', line }); i++; continue; }
    if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) {
        const eol = text.indexOf('\n', i);
        const stop = eol < 0 ? text.length : eol;
        notes.warn(line, `unterminated ${c === '"' ? 'double' : 'single'} quote: esmtp would reject the file; took the rest of the line as the value`);
        toks.push({ kind: 'quoted', text: cEscapes(text.slice(i + 1, stop).trimEnd()), line });
        i = stop;
        continue;
      }
      const raw = text.slice(i + 1, end);
      toks.push({ kind: 'quoted', text: cEscapes(raw), line });
      line += raw.split('\n').length - 1;
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < text.length && !/[=;, \t\r\n]/.test(text[j]!)) j++;
    toks.push({ kind: 'word', text: cEscapes(text.slice(i, j)), line });
    i = j;
  }
  return toks;
}

/** Canonical keyword for each spelling lexer.l accepts (flex is case-sensitive). */
const KEYWORDS: Record<string, string> = {
  identity: 'identity',
  host: 'hostname', hostname: 'hostname',
  user: 'username', username: 'username',
  pass: 'password', password: 'password',
  tls: 'starttls', starttls: 'starttls',
  passphrase: 'certificate_passphrase', certificate_passphrase: 'certificate_passphrase',
  preconnect: 'preconnect', postconnect: 'postconnect',
  qualifydomain: 'qualifydomain', helo: 'helo',
  force: 'force', reverse_path: 'reverse_path', sender: 'sender',
  mda: 'mda', force_mda: 'force_mda', message_id: 'message_id',
  default: 'default', enabled: 'enabled', disabled: 'disabled', required: 'required',
};

const VALUE_KEYWORDS = new Set([
  'hostname', 'username', 'password', 'certificate_passphrase', 'preconnect', 'postconnect',
  'qualifydomain', 'helo',
]);

export function parseEsmtprc(text: string, notes: Notes): EsmtpRc {
  const toks = lex(text, notes);
  const global: EsmtpIdentity = { address: null, line: 0, settings: new Map(), hasOptions: false };
  const identities: EsmtpIdentity[] = [global];
  let cur = global;
  let firstWithOptions: number | null = null;
  let defaultIndex: number | null = null;
  let defaultLine: number | null = null;
  let mda: Setting | null = null;
  let forceMda: Setting | null = null;
  let i = 0;

  const isKeyword = (t: Tok | undefined) => t?.kind === 'word' && t.text in KEYWORDS;
  /** `[=] value`; the value may sit on a later line (esmtp reads tokens), unless it is a keyword there. */
  const readValue = (kwTok: Tok): Setting | null => {
    if (toks[i]?.kind === 'eq') i++;
    const v = toks[i];
    if (!v || v.kind === 'eq' || (isKeyword(v) && v.line !== kwTok.line)) {
      notes.warn(kwTok.line, `"${kwTok.text}" has no value: esmtp would reject the file; ignored`);
      return null;
    }
    i++;
    return { value: v.text, line: kwTok.line };
  };
  const store = (key: string, s: Setting) => {
    const prev = cur.settings.get(key);
    if (prev) notes.warn(prev.line, `"${key}" is set again on line ${s.line}; esmtp uses the later value, and so does this import`);
    cur.settings.set(key, s);
    cur.hasOptions = true;
    if (firstWithOptions === null) firstWithOptions = identities.indexOf(cur);
  };
  const readChoice = (kwTok: Tok, key: string, allowed: string[]) => {
    if (toks[i]?.kind === 'eq') i++;
    const v = toks[i];
    if (v && v.kind !== 'eq' && allowed.includes(v.text)) {
      i++;
      store(key, { value: v.text, line: kwTok.line });
      return;
    }
    if (v && v.kind !== 'eq' && v.line === kwTok.line) i++;
    notes.warn(kwTok.line, `"${kwTok.text}" needs one of ${allowed.join(', ')}${v && v.line === kwTok.line ? ` (got "${v.text}")` : ''}: esmtp would reject the file; ignored`);
  };

  // A stray token on a password line may be the rest of a mistyped password: never print it.
  let secretLine = 0;
  const shown = (t: Tok) => (t.line === secretLine ? '(not shown: it may be part of a password)' : `"${t.text.length > 40 ? t.text.slice(0, 40) + '...' : t.text}"`);

  while (i < toks.length) {
    const t = toks[i++]!;
    if (t.kind !== 'word') {
      notes.warn(t.line, t.kind === 'eq' ? 'a stray "=" with no keyword: ignored' : `a value ${shown(t)} with no keyword: ignored`);
      continue;
    }
    const kw = KEYWORDS[t.text];
    if (kw === undefined) {
      notes.warn(t.line, `unknown keyword ${shown(t)}: esmtp would stop with a syntax error here; ignored`);
      // Skip its likely value so it is not reported a second time.
      if (toks[i]?.kind === 'eq') { i++; if (toks[i] && toks[i]!.kind !== 'eq') i++; }
      else if (toks[i] && toks[i]!.line === t.line && !isKeyword(toks[i])) i++;
      continue;
    }
    if (kw === 'identity') {
      const v = readValue(t);
      if (!v) continue;
      cur = { address: v.value, line: t.line, settings: new Map(), hasOptions: false };
      identities.push(cur);
    } else if (VALUE_KEYWORDS.has(kw)) {
      const v = readValue(t);
      if (v) store(kw, v);
      if (kw === 'password' || kw === 'certificate_passphrase') secretLine = toks[i - 1]?.line ?? t.line;
    } else if (kw === 'mda') {
      const v = readValue(t);
      if (v) {
        if (mda) notes.warn(mda.line, `"mda" is set again on line ${v.line}; esmtp uses the later value, and so does this import`);
        mda = v;
      }
    } else if (kw === 'starttls') {
      readChoice(t, 'starttls', ['enabled', 'disabled', 'required']);
    } else if (kw === 'message_id') {
      readChoice(t, 'message_id', ['enabled', 'disabled']);
    } else if (kw === 'force') {
      const what = toks[i];
      if (what?.kind === 'word' && (what.text === 'reverse_path' || what.text === 'sender')) {
        i++;
        const v = readValue(t);
        if (v) store(`force ${what.text}`, v);
      } else {
        notes.warn(t.line, '"force" must be followed by "reverse_path" or "sender": esmtp would reject the file; ignored');
      }
    } else if (kw === 'force_mda') {
      let value = 'enabled';
      if (toks[i]?.kind === 'eq') i++;
      const v = toks[i];
      if (v && v.line === t.line && v.kind !== 'eq' && ['enabled', 'disabled'].includes(v.text)) { value = v.text; i++; }
      forceMda = { value, line: t.line };
    } else if (kw === 'default') {
      if (defaultLine !== null) notes.warn(defaultLine, `"default" appears again on line ${t.line}; esmtp uses the later one, and so does this import`);
      defaultIndex = identities.indexOf(cur);
      defaultLine = t.line;
    } else {
      notes.warn(t.line, `"${t.text}" is not valid here: esmtp would reject the file; ignored`);
    }
  }

  return {
    identities,
    defaultIndex: defaultIndex ?? firstWithOptions ?? identities.length - 1,
    defaultLine,
    mda,
    forceMda,
  };
}
