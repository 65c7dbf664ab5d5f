/**
 * The problem list and typed readers the validator is built from.
 *
 * Each reader takes a raw TOML table and a key, checks the value, and either
 * returns it (converted: durations to ms, sizes to bytes) or records one
 * problem and returns undefined, so validation goes on and every problem in
 * the file is reported at once. Secret values are never echoed in problems.
 */
import { SysmailError, EX } from '../core/errors.js';
import type { KeyLines, KeyPath } from './locate.js';
import { closest } from './syntax.js';
import { formatDuration, looksDecimalSize, parseDuration, parseSize } from './units.js';

export type Table = Record<string, unknown>;

export interface ConfigProblem {
  /** Dotted key path, e.g. "transports.relay.port" or "routes[1].transport". */
  key: string;
  /** 1-based line in the file, when it could be found. */
  line: number | null;
  /** What is wrong and how to fix it. */
  message: string;
}

/** Thrown by validateConfig/loadConfig: EX_CONFIG, with every problem found. */
export class ConfigInvalidError extends SysmailError {
  readonly problems: ConfigProblem[];

  constructor(file: string, found: ConfigProblem[]) {
    // In file order (stable), so the list reads top to bottom like the file.
    const problems = [...found].sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
    const lines = problems.map((p) => formatProblem(file, p));
    const head = problems.length === 1 ? lines[0]! : `${file}: ${problems.length} problems:\n  ${lines.join('\n  ')}`;
    super('EBADCONFIG', head, {
      exit: EX.CONFIG,
      hint: 'fix the configuration, then check it with `sysmail config check`',
    });
    this.problems = problems;
  }
}

export function formatProblem(file: string, p: ConfigProblem): string {
  return `${file}${p.line === null ? '' : `:${p.line}`}: ${p.key}: ${p.message}`;
}

export function keyName(path: KeyPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += (out ? '.' : '') + (/^\$?[A-Za-z0-9_-]+$/.test(part) ? part : JSON.stringify(part));
  }
  return out;
}

/** TOML's own type names, for "expected X (got Y)". */
export function tomlType(v: unknown): string {
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'number' || typeof v === 'bigint') return Number.isInteger(v) || typeof v === 'bigint' ? 'an integer' : 'a float';
  if (Array.isArray(v)) return 'an array';
  if (isTable(v)) return 'a table';
  return 'a date';
}

export function isTable(v: unknown): v is Table {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === null || proto === Object.prototype;
}

/** A short, safe rendering of a value for "(got X)". */
export function show(v: unknown): string {
  if (isTable(v)) return 'a table';
  let s: string;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? JSON.stringify(v) : String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}

export class Problems {
  readonly list: ConfigProblem[] = [];

  private located: KeyLines | null = null;

  /** `locate` finds the lines; called only when there is a problem to place (a valid config never scans). */
  constructor(private readonly locate: () => KeyLines) {}

  private get lines(): KeyLines { return (this.located ??= this.locate()); }

  /** Records a problem; `at` places it on another key's line (e.g. a missing key on its table's). */
  add(path: KeyPath, message: string, at?: KeyPath): void {
    this.list.push({ key: keyName(path), line: this.lines.lineOf(at ?? path), message });
  }

  lineOf(path: KeyPath): number | null {
    return this.lines.lineOf(path);
  }
}

export interface ReadOpts {
  /** Value is a secret: never shown in a problem. */
  secret?: boolean;
}

/**
 * Reads one table's keys; remembers which were read so `done()` can report
 * the rest as unknown, with a "did you mean" when one is close.
 */
export class Reader {
  private readonly known = new Set<string>();

  constructor(readonly t: Table, readonly path: KeyPath, readonly p: Problems) {}

  at(key: string): KeyPath {
    return [...this.path, key];
  }

  has(key: string): boolean {
    this.known.add(key);
    return this.t[key] !== undefined;
  }

  /** Marks keys as allowed without reading them (read elsewhere). */
  allow(...keys: string[]): void {
    for (const k of keys) this.known.add(k);
  }

  raw(key: string): unknown {
    this.known.add(key);
    return this.t[key];
  }

  wrong(key: string, expected: string, v: unknown, fix: string, o: ReadOpts = {}): undefined {
    const got = o.secret ? tomlType(v) : `${tomlType(v)} ${show(v)}`;
    this.p.add(this.at(key), `expected ${expected} (got ${got}); ${fix}`);
    return undefined;
  }

  missing(key: string, fix: string): undefined {
    this.p.add(this.at(key), `is required; ${fix}`, this.path);
    return undefined;
  }

  str(key: string, o: ReadOpts & { required?: string; nonEmpty?: boolean } = {}): string | undefined {
    const v = this.raw(key);
    if (v === undefined) return o.required ? this.missing(key, o.required) : undefined;
    if (typeof v !== 'string') return this.wrong(key, 'a string', v, 'put the value in double quotes', o);
    if ((o.nonEmpty ?? true) && v.trim() === '') {
      this.p.add(this.at(key), `is empty; give a value${o.required ? ` (${o.required})` : ' or remove the key'}`);
      return undefined;
    }
    if (/[\0\r\n]/.test(v)) {
      this.p.add(this.at(key), 'contains a line break or NUL; remove it');
      return undefined;
    }
    return v;
  }

  bool(key: string): boolean | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') return this.wrong(key, 'true or false', v, 'write true or false without quotes');
    return v;
  }

  int(key: string, min: number, max: number, fix: string): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) return this.wrong(key, 'an integer', v, fix);
    if (v < min || v > max) {
      this.p.add(this.at(key), `is out of range (got ${v}); ${fix}`);
      return undefined;
    }
    return v;
  }

  oneOf<T extends string>(key: string, choices: readonly T[]): T | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const list = choices.map((c) => JSON.stringify(c)).join(', ');
    if (typeof v !== 'string') return this.wrong(key, `one of ${list}`, v, 'put the value in double quotes');
    if ((choices as readonly string[]).includes(v)) return v as T;
    const near = closest(v, choices);
    this.p.add(this.at(key), `must be one of ${list} (got ${show(v)})${near ? `; did you mean "${near}"?` : ''}`);
    return undefined;
  }

  duration(key: string, min: number, max: number): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const ms = parseDuration(v);
    if (ms === null) {
      const fix = typeof v === 'string' && /^\s*\d+\s*$/.test(v)
        ? `add a unit: "${v.trim()}s" for seconds, "${v.trim()}m" for minutes`
        : 'write a duration like "90s", "5m", "2h", "5d" or "1h30m", or an integer of seconds';
      return this.wrong(key, 'a duration', v, fix);
    }
    if (ms < min || ms > max) {
      this.p.add(this.at(key), `is out of range (got ${show(v)}); use a value from ${formatDuration(min)} to ${formatDuration(max)}`);
      return undefined;
    }
    return ms;
  }

  size(key: string, min: number, max: number): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const bytes = parseSize(v);
    if (bytes === null) {
      const fix = looksDecimalSize(v)
        ? `sizes are binary: write "${String(v).replace(/[bB]\s*$/, '').trim()}" (or ...iB)`
        : 'write a size like "512k", "25M" or "1G" (binary units), or an integer of bytes';
      return this.wrong(key, 'a size', v, fix);
    }
    if (bytes < min || bytes > max) {
      this.p.add(this.at(key), `is out of range (got ${show(v)}); use a size from ${min} bytes to ${max / 1024 ** 3}G`);
      return undefined;
    }
    return bytes;
  }

  /**
   * An absolute path. With `off`, `false` means "none" and returns null;
   * an empty string is refused rather than read as "none".
   */
  absPath(key: string, o: { required?: string; off?: boolean } = {}): string | null | undefined {
    const v = this.raw(key);
    if (v === false && o.off) return null;
    if (v === undefined) return o.required ? this.missing(key, o.required) : undefined;
    const orOff = o.off ? ', or false to turn it off' : '';
    if (typeof v !== 'string') return this.wrong(key, `an absolute path${o.off ? ' or false' : ''}`, v, `write the path in double quotes${orOff}`);
    if (v.trim() === '') {
      this.p.add(this.at(key), `is empty; write an absolute path${orOff}`);
      return undefined;
    }
    if (/[\0\r\n]/.test(v)) {
      this.p.add(this.at(key), 'contains a line break or NUL; remove it');
      return undefined;
    }
    if (!v.startsWith('/')) {
      this.p.add(this.at(key), `must be an absolute path (got ${show(v)}); start it with "/": sysmail runs from cron and daemons, whose working directory is not yours`);
      return undefined;
    }
    return v;
  }

  /** A command as an argv array: at least one element, run without a shell. */
  argv(key: string, o: { required?: string } = {}): string[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return o.required ? this.missing(key, o.required) : undefined;
    if (typeof v === 'string') {
      const words = v.trim().split(/\s+/).map((w) => JSON.stringify(w)).join(', ');
      return this.wrong(key, 'an argv array', v, `commands run without a shell, so give each argument separately: ${key} = [${words}]`);
    }
    const list = this.strList(key, 'write it as ["/path/to/program", "arg", ...]');
    if (list === undefined) return undefined;
    if (list.length === 0 || list[0]!.trim() === '') {
      this.p.add(this.at(key), 'is empty; name the program first: ["/path/to/program", "arg", ...]');
      return undefined;
    }
    return list;
  }

  /** An array of strings (possibly empty). */
  strList(key: string, fix: string): string[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v === 'string') return this.wrong(key, 'an array of strings', v, `write it in brackets: ${key} = [${JSON.stringify(v)}]`);
    if (!Array.isArray(v)) return this.wrong(key, 'an array of strings', v, fix);
    let ok = true;
    v.forEach((item, i) => {
      if (typeof item !== 'string') {
        this.p.add([...this.at(key), i], `expected a string (got ${tomlType(item)} ${show(item)}); put it in double quotes`);
        ok = false;
      } else if (/[\0\r\n]/.test(item)) {
        this.p.add([...this.at(key), i], 'contains a line break or NUL; remove it');
        ok = false;
      }
    });
    return ok ? (v as string[]) : undefined;
  }

  /** A sub-table (inline or [a.b]); undefined when absent or wrong. */
  table(key: string): Table | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (!isTable(v)) return this.wrong(key, 'a table', v, `write it as [${keyName(this.at(key))}] or ${key} = { ... }`);
    return v;
  }

  /** Reports keys present but never read. */
  done(): void {
    for (const k of Object.keys(this.t)) {
      if (this.known.has(k)) continue;
      const near = closest(k, [...this.known]);
      this.p.add(this.at(k), `unknown ${this.path.length === 0 ? 'section' : 'key'}${near ? `; did you mean ${near}?` : `; known keys here: ${[...this.known].join(', ')}`}`);
    }
  }
}
