/**
 * A small, deterministic TOML writer for the importers.
 *
 * Guarantees: the same input always gives byte-identical output (golden
 * files depend on it); every string is a TOML basic string with all control
 * characters escaped, so no value can break out of its line or inject keys;
 * comments are single-line (newlines in comment text are flattened). It only
 * writes what sysmail.toml needs: strings, integers, booleans, string
 * arrays and one level of inline tables of those.
 */

export type TomlScalar = string | number | boolean;
export type TomlInline = { [key: string]: TomlScalar | string[] };
export type TomlValue = TomlScalar | string[] | TomlInline;

/** A TOML basic string: quotes, backslashes and every control character escaped. */
export function tomlString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20 || c === 0x7f) out += '\\u' + c.toString(16).toUpperCase().padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}

/** A key, bare when TOML allows it, quoted otherwise. */
export function tomlKey(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : tomlString(k);
}

function isInline(v: TomlValue): v is TomlInline {
  return typeof v === 'object' && !Array.isArray(v);
}

export function tomlValue(v: TomlValue): string {
  if (typeof v === 'string') return tomlString(v);
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error(`TOML writer: ${v} is not an integer`);
    return String(v);
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return '[' + v.map(tomlString).join(', ') + ']';
  if (isInline(v)) {
    const parts = Object.entries(v).map(([k, x]) => `${tomlKey(k)} = ${tomlValue(x)}`);
    return parts.length === 0 ? '{}' : '{ ' + parts.join(', ') + ' }';
  }
  throw new Error('TOML writer: unsupported value');
}

/** Comment text on one line; a newline in the source must not end the comment early. */
export function tomlComment(text: string): string {
  return '# ' + text.replace(/[\r\n]+/g, ' ').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '?').trimEnd();
}

/** Accumulates lines; the importers' document model renders through this. */
export class TomlWriter {
  private lines: string[] = [];

  comment(text: string): this {
    this.lines.push(tomlComment(text));
    return this;
  }

  blank(): this {
    if (this.lines.length > 0 && this.lines[this.lines.length - 1] !== '') this.lines.push('');
    return this;
  }

  table(path: string[]): this {
    this.lines.push('[' + path.map(tomlKey).join('.') + ']');
    return this;
  }

  arrayTable(path: string[]): this {
    this.lines.push('[[' + path.map(tomlKey).join('.') + ']]');
    return this;
  }

  kv(key: string, value: TomlValue, comment?: string): this {
    let line = `${tomlKey(key)} = ${tomlValue(value)}`;
    if (comment) line += '  ' + tomlComment(comment);
    this.lines.push(line);
    return this;
  }

  toString(): string {
    const out = [...this.lines];
    while (out.length > 0 && out[out.length - 1] === '') out.pop();
    return out.join('\n') + '\n';
  }
}
