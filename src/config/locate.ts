/**
 * Finds the line each key of a TOML document is on, so semantic errors can
 * say FILE:LINE like syntax errors do. smol-toml returns values only, so this
 * is a small scanner that understands just enough TOML to track tables,
 * arrays of tables, dotted keys, inline tables and multi-line values.
 *
 * Guarantee: it only reports lines it found; a key it cannot place gets its
 * nearest located parent (lineOf), or none. It never throws: the document has
 * already been parsed by smol-toml, and on anything unexpected it stops early.
 */

export type KeyPath = readonly (string | number)[];

const id = (p: KeyPath): string => JSON.stringify(p);

export class KeyLines {
  private readonly lines = new Map<string, number>();

  set(path: KeyPath, line: number): void {
    const k = id(path);
    if (!this.lines.has(k)) this.lines.set(k, line);
  }

  /** Line of the key, else of its nearest located parent, else null. */
  lineOf(path: KeyPath): number | null {
    for (let n = path.length; n > 0; n--) {
      const line = this.lines.get(id(path.slice(0, n)));
      if (line !== undefined) return line;
    }
    return null;
  }

  /** Line of exactly this key, or null. */
  exact(path: KeyPath): number | null {
    return this.lines.get(id(path)) ?? null;
  }
}

export function locateKeys(text: string): KeyLines {
  const out = new KeyLines();
  try {
    new Scanner(text, out).document();
  } catch {
    // Best effort: whatever was found before the surprise is still right.
  }
  return out;
}

class Scanner {
  private pos = 0;
  private line = 1;
  private table: (string | number)[] = [];
  /** Array-of-tables paths (by id) -> index of the element being filled. */
  private readonly arrays = new Map<string, number>();

  constructor(private readonly s: string, private readonly out: KeyLines) {}

  document(): void {
    for (;;) {
      this.skipBlank(true);
      if (this.pos >= this.s.length) return;
      const c = this.s[this.pos];
      if (c === '[') this.header();
      else this.keyValue(this.table);
    }
  }

  private header(): void {
    const isArray = this.s.startsWith('[[', this.pos);
    this.pos += isArray ? 2 : 1;
    const keys = this.keys();
    this.pos += isArray ? 2 : 1;
    const path: (string | number)[] = [];
    keys.forEach((k, i) => {
      path.push(k);
      const arrIdx = this.arrays.get(id(path));
      const last = i === keys.length - 1;
      if (last && isArray) {
        const next = arrIdx === undefined ? 0 : arrIdx + 1;
        this.arrays.set(id(path), next);
        this.out.set(path, this.line);
        path.push(next);
      } else if (arrIdx !== undefined) {
        path.push(arrIdx);
      }
      this.out.set(path, this.line);
    });
    this.table = path;
  }

  private keyValue(prefix: KeyPath): void {
    const line = this.line;
    const keys = this.keys();
    const path = [...prefix];
    for (const k of keys) {
      path.push(k);
      this.out.set(path, line);
    }
    this.skipSpaces();
    if (this.s[this.pos] !== '=') throw new Error('expected =');
    this.pos++;
    this.skipSpaces();
    this.value(path);
  }

  /** A dotted key: bare or quoted parts separated by dots. */
  private keys(): string[] {
    const keys: string[] = [];
    for (;;) {
      this.skipSpaces();
      const c = this.s[this.pos];
      if (c === '"' || c === "'") {
        keys.push(this.quoted());
      } else {
        const m = /[A-Za-z0-9_-]+/y;
        m.lastIndex = this.pos;
        const r = m.exec(this.s);
        if (!r) throw new Error('expected a key');
        keys.push(r[0]);
        this.pos = m.lastIndex;
      }
      this.skipSpaces();
      if (this.s[this.pos] !== '.') return keys;
      this.pos++;
    }
  }

  private quoted(): string {
    const q = this.s[this.pos]!;
    const end = q === '"' ? /"((?:[^"\\\n]|\\.)*)"/y : /'([^'\n]*)'/y;
    end.lastIndex = this.pos;
    const r = end.exec(this.s);
    if (!r) throw new Error('bad quoted key');
    this.pos = end.lastIndex;
    if (q === "'") return r[1]!;
    try {
      return JSON.parse(`"${r[1]}"`) as string;
    } catch {
      return r[1]!;
    }
  }

  private value(path: KeyPath): void {
    const s = this.s;
    const c = s[this.pos];
    if (c === '"' || c === "'") return this.stringValue();
    if (c === '[') {
      this.pos++;
      for (let i = 0; ; i++) {
        this.skipBlank(true);
        if (s[this.pos] === ']') {
          this.pos++;
          return;
        }
        this.value([...path, i]);
        this.skipBlank(true);
        if (s[this.pos] === ',') this.pos++;
      }
    }
    if (c === '{') {
      this.pos++;
      for (;;) {
        this.skipBlank(true);
        if (s[this.pos] === '}') {
          this.pos++;
          return;
        }
        this.keyValue(path);
        this.skipBlank(true);
        if (s[this.pos] === ',') this.pos++;
      }
    }
    // Numbers, booleans, dates: up to a delimiter on the same line.
    const m = /[^,\]}\s#]+(?: [0-9:.+Z-]+)?/y;
    m.lastIndex = this.pos;
    if (!m.exec(s)) throw new Error('expected a value');
    this.pos = m.lastIndex;
  }

  private stringValue(): void {
    const s = this.s;
    const q = s[this.pos]!;
    if (s.startsWith(q.repeat(3), this.pos)) {
      this.pos += 3;
      const close = q.repeat(3);
      for (;;) {
        if (this.pos >= s.length) throw new Error('unterminated');
        if (q === '"' && s[this.pos] === '\\') {
          if (s[this.pos + 1] === '\n') this.line++;
          this.pos += 2;
          continue;
        }
        if (s.startsWith(close, this.pos)) {
          this.pos += 3;
          // Up to two more quotes may belong to the content ("""a"""").
          while (s[this.pos] === q) this.pos++;
          return;
        }
        if (s[this.pos] === '\n') this.line++;
        this.pos++;
      }
    }
    this.pos++;
    while (this.pos < s.length && s[this.pos] !== q) {
      if (s[this.pos] === '\n') throw new Error('newline in string');
      this.pos += q === '"' && s[this.pos] === '\\' ? 2 : 1;
    }
    this.pos++;
  }

  private skipSpaces(): void {
    while (this.s[this.pos] === ' ' || this.s[this.pos] === '\t') this.pos++;
  }

  /** Spaces, comments and (when allowed) newlines. */
  private skipBlank(newlines: boolean): void {
    for (;;) {
      this.skipSpaces();
      const c = this.s[this.pos];
      if (c === '#') {
        while (this.pos < this.s.length && this.s[this.pos] !== '\n') this.pos++;
      } else if (newlines && (c === '\n' || c === '\r')) {
        if (c === '\n') this.line++;
        this.pos++;
      } else {
        return;
      }
    }
  }
}
