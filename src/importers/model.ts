/**
 * The document model shared by the importers: a draft sysmail.toml (general,
 * log, spool, transports, routes, with comments), the passwords taken out of
 * the peer files, and the warning list.
 *
 * Guarantees: rendering is deterministic; transport and route names are
 * unique TOML bare keys; a password only ever appears in `secrets`, never in
 * the TOML (the TOML gets `password_file`); the same password used by several
 * transports is written once. Warnings come out grouped by file (the main file
 * first, then the others in the order they were first mentioned) and sorted
 * by line.
 */
import { TomlWriter, type TomlValue } from './toml.js';
import { DEFAULT_SECRETS_DIR, type ImportOptions, type ImportSecret, type ImportWarning } from './types.js';

export interface Entry {
  key: string;
  value: TomlValue;
  comment?: string;
}

export interface DraftTransport {
  name: string;
  comments: string[];
  entries: Entry[];
}

export interface DraftMatch {
  domain?: string[];
  local?: string[];
  sender?: string[];
}

export interface DraftRoute {
  name: string;
  comments: string[];
  match?: DraftMatch;
  transports: string[];
  mode?: 'fallback' | 'fanout';
}

/** Collects warnings; never silently drops a line the peer file had. */
export class Notes {
  private list: ImportWarning[] = [];

  constructor(readonly file: string) {}

  /** Records a warning; an identical one (a setting inherited by several accounts) is kept once. */
  warn(line: number, message: string, file: string = this.file): void {
    if (this.list.some((w) => w.file === file && w.line === line && w.message === message)) return;
    this.list.push({ file, line, message });
  }

  result(): ImportWarning[] {
    const order = new Map<string, number>([[this.file, 0]]);
    for (const w of this.list) if (!order.has(w.file)) order.set(w.file, order.size);
    // Array.prototype.sort is stable, so equal lines keep the order they were found in.
    return [...this.list].sort((a, b) => order.get(a.file)! - order.get(b.file)! || a.line - b.line);
  }
}

/** "myself@somewhere.com" -> "myself-somewhere-com": a bare TOML key, no dots. */
export function sanitizeName(s: string): string {
  const n = s.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '');
  return n || 'transport';
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

export class Draft {
  readonly header: string[] = [];
  readonly general: Entry[] = [];
  readonly log: Entry[] = [];
  readonly spool: Entry[] = [];
  readonly transports: DraftTransport[] = [];
  readonly routes: DraftRoute[] = [];
  readonly secrets: ImportSecret[] = [];
  private readonly secretsDir: string;

  constructor(readonly opts: ImportOptions = {}) {
    this.secretsDir = (opts.secretsDir ?? DEFAULT_SECRETS_DIR).replace(/\/+$/, '') || '/';
  }

  private static set(list: Entry[], key: string, value: TomlValue, comment?: string): void {
    const e = list.find((x) => x.key === key);
    if (e) { e.value = value; e.comment = comment; } else list.push({ key, value, comment });
  }

  setGeneral(key: string, value: TomlValue, comment?: string): void { Draft.set(this.general, key, value, comment); }
  setLog(key: string, value: TomlValue, comment?: string): void { Draft.set(this.log, key, value, comment); }
  setSpool(key: string, value: TomlValue, comment?: string): void { Draft.set(this.spool, key, value, comment); }
  getGeneral(key: string): TomlValue | undefined { return this.general.find((e) => e.key === key)?.value; }

  /** A new transport table; `base` is sanitised and made unique. */
  addTransport(base: string, type: string, comments: string[] = []): DraftTransport {
    let name = sanitizeName(base);
    for (let n = 2; this.transports.some((t) => t.name === name); n++) name = `${sanitizeName(base)}-${n}`;
    const t: DraftTransport = { name, comments, entries: [{ key: 'type', value: type }] };
    this.transports.push(t);
    return t;
  }

  set(t: DraftTransport, key: string, value: TomlValue, comment?: string): void {
    Draft.set(t.entries, key, value, comment);
  }

  get(t: DraftTransport, key: string): TomlValue | undefined {
    return t.entries.find((e) => e.key === key)?.value;
  }

  /** Moves a password out of the TOML into a secret file; returns that file's path. */
  addPassword(t: DraftTransport, value: string, comment?: string): string {
    let secret = this.secrets.find((s) => s.value === value);
    if (!secret) {
      let file = `${this.secretsDir}/${t.name}.pass`;
      for (let n = 2; this.secrets.some((s) => s.file === file); n++) file = `${this.secretsDir}/${t.name}-${n}.pass`;
      secret = { file, value, transport: t.name };
      this.secrets.push(secret);
    }
    this.set(t, 'password_file', secret.file, comment);
    return secret.file;
  }

  addRoute(r: Omit<DraftRoute, 'comments'> & { comments?: string[] }): DraftRoute {
    let name = r.name;
    for (let n = 2; this.routes.some((x) => x.name === name); n++) name = `${r.name}-${n}`;
    const route: DraftRoute = { ...r, name, comments: r.comments ?? [] };
    this.routes.push(route);
    return route;
  }

  /** "~/x" -> "<home>/x" when the home is known; otherwise unchanged with a warning. */
  expandHome(path: string, notes: Notes, line: number, file?: string): string {
    if (path !== '~' && !path.startsWith('~/')) return path;
    if (this.opts.home) return this.opts.home.replace(/\/+$/, '') + path.slice(1);
    notes.warn(line, `"${path}" starts with "~" and the home directory is unknown: replace it with an absolute path`, file);
    return path;
  }

  render(): string {
    const w = new TomlWriter();
    for (const h of this.header) w.comment(h);
    const section = (name: string, entries: Entry[]) => {
      if (entries.length === 0) return;
      w.blank().table([name]);
      for (const e of entries) w.kv(e.key, e.value, e.comment);
    };
    section('general', this.general);
    section('log', this.log);
    section('spool', this.spool);
    for (const t of this.transports) {
      w.blank().table(['transports', t.name]);
      for (const c of t.comments) w.comment(c);
      for (const e of t.entries) w.kv(e.key, e.value, e.comment);
    }
    for (const r of this.routes) {
      w.blank().arrayTable(['routes']);
      for (const c of r.comments) w.comment(c);
      w.kv('name', r.name);
      if (r.match) {
        const m: Record<string, string[]> = {};
        if (r.match.domain) m.domain = r.match.domain;
        if (r.match.local) m.local = r.match.local;
        if (r.match.sender) m.sender = r.match.sender;
        w.kv('match', m);
      }
      if (r.transports.length === 1) w.kv('transport', r.transports[0]!);
      else {
        w.kv('transports', r.transports);
        w.kv('mode', r.mode ?? 'fallback');
      }
    }
    return w.toString();
  }
}

/** Warnings as the CLI prints them: "file:line: message" ("file: message" for line 0). */
export function formatWarnings(warnings: ImportWarning[]): string {
  return warnings.map((w) => (w.line > 0 ? `${w.file}:${w.line}: ${w.message}` : `${w.file}: ${w.message}`) + '\n').join('');
}

/** The header every import starts with. */
export function standardHeader(kind: string, sources: string[]): string[] {
  return [
    `sysmail configuration imported from ${kind} (${sources.join(', ')}) by "sysmail import ${kind}".`,
    'Everything that could not be carried over exactly is listed in the import warnings, with its line.',
  ];
}

/** Appended to the header when passwords were moved out. */
export const SECRETS_HEADER = 'Passwords are not in this file: each password_file was written separately with mode 0600.';
