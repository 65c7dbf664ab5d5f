/**
 * /etc/aliases: parsing and expansion of local recipients.
 *
 * Format (aliases(5)): `name: target, target, ...`; `#` comment lines; blank
 * lines ignored; a line starting with whitespace continues the previous
 * entry; targets may be "quoted" (commas inside quotes do not split). Names
 * are case-insensitive; the first definition of a name wins (later ones
 * warn). `\name` delivers to name without further aliasing.
 *
 * Security: `|command`, `/file` and `:include:/file` targets are parsed but
 * never executed, written or read: only a root-owned aliases file could be
 * trusted with that, and a `command`/`mbox` transport does it explicitly.
 * Each one is a parse warning, and a note when expansion skips it.
 *
 * Expansion applies only to local recipients (bare names, or a domain in
 * localDomains), recursively, with loop detection and a depth limit. A name
 * that aliases to itself (`root: root, admin@x`) keeps its local mailbox; a
 * loop (`a: b`, `b: a`) is broken by delivering to the name where it closes;
 * a name whose targets all had to be skipped is delivered as addressed, so no
 * mail is ever dropped by aliasing. Pure, except loadAliases (file + cache).
 *
 * The admin rule (docs/CONFIG.md, "Where mail for root goes"): a local name
 * with no aliases entry that is a system account (opts.admin.isSystem: root,
 * uid < 1000, postmaster, abuse, mailer-daemon) goes to general.admin, as
 * nullmailer's adminaddr does. An aliases entry always wins; a self alias
 * (`root: root`) or a `\root` target keeps the local name.
 */
import { readFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { ioError } from '../core/errors.js';

export type AliasTarget =
  | { kind: 'address'; address: string; /** `\name`: no further aliasing. */ literal: boolean }
  | { kind: 'command' | 'file' | 'include'; value: string };

export interface AliasWarning { line: number; message: string }

export interface ParsedAliases {
  map: Map<string, AliasTarget[]>;
  warnings: AliasWarning[];
}

export interface ExpandOptions {
  localDomains: string[];
  /** Qualifies bare names that come out of expanding a bare recipient. */
  domain?: string;
  maxDepth?: number;
  /** Sends system accounts without an aliases entry to the admin (see the module header). */
  admin?: AdminRule;
}

export interface AdminRule {
  /** general.admin, qualified. */
  address: string;
  /** Is this local name (lower-case) a system account? */
  isSystem: (name: string) => boolean;
}

/** Why a final address differs from the one submitted. */
export type RewriteVia = 'alias' | 'admin';

export interface Expansion {
  addresses: string[];
  /** Lower-cased final address -> why it differs from the submitted one (absent: unchanged). */
  via: Map<string, RewriteVia>;
  notes: string[];
}

export const ALIAS_MAX_DEPTH = 20;

const KIND_TEXT = {
  command: 'a command (|...): sysmail does not run alias commands; use a "command" transport',
  file: 'a file (/...): sysmail does not append to files from aliases; use an "mbox" transport',
  include: 'an :include: file: sysmail does not read included alias files; list the addresses here',
} as const;

/** Splits the target list on commas outside double quotes. */
function splitTargets(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && quoted && i + 1 < s.length) { cur += c + s[++i]; continue; }
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) { out.push(cur); cur = ''; continue; }
    cur += c;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

function unquote(t: string): string {
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"') && !t.slice(1, -1).replace(/\\./g, '').includes('"')) {
    return t.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return t;
}

function classify(token: string): AliasTarget | string {
  const t = unquote(token);
  if (t.startsWith('|')) return { kind: 'command', value: t };
  if (/^:include:/i.test(t)) return { kind: 'include', value: t };
  if (t.startsWith('/')) return { kind: 'file', value: t };
  const literal = t.startsWith('\\');
  const address = literal ? t.slice(1) : t;
  // A quoted local part ("john doe"@x) may hold spaces; nothing else may.
  const unquotedParts = address.replace(/"(?:[^"\\]|\\.)*"/g, 'q');
  if (address === '' || /[\s\0-\x1f\x7f<>,;]/.test(unquotedParts) || address.startsWith('-') || address.endsWith('@')) {
    return `"${token}" is not a valid address`;
  }
  return { kind: 'address', address, literal };
}

/**
 * Parses an aliases file. Never throws: problems are warnings with line
 * numbers (callers print them as `file:line: message`). `file` names the
 * file in the one warning about the whole file: binary content.
 */
export function parseAliases(text: string, file: string): ParsedAliases {
  const map = new Map<string, AliasTarget[]>();
  const firstLine = new Map<string, number>();
  const warnings: AliasWarning[] = [];
  if (text.includes('\0')) {
    warnings.push({ line: 1, message: `${file} is binary (a compiled aliases.db?); point general.aliases at the text file` });
    return { map, warnings };
  }
  const entries: { line: number; text: string }[] = [];

  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    if (/^[ \t]/.test(raw)) {
      const prev = entries[entries.length - 1];
      if (prev) prev.text += ' ' + trimmed;
      else warnings.push({ line: i + 1, message: `continuation line with no entry before it; ignored` });
      continue;
    }
    entries.push({ line: i + 1, text: raw });
  }

  for (const { line, text: entry } of entries) {
    const m = /^\s*("(?:[^"\\]|\\.)*"|[^:\s]+)\s*:(.*)$/.exec(entry);
    if (!m) {
      warnings.push({ line, message: `expected "name: address, ..."; line ignored` });
      continue;
    }
    const name = unquote(m[1]).toLowerCase();
    if (name === '' || /[\s@]/.test(name)) {
      warnings.push({ line, message: `"${m[1]}" is not a local name (no spaces or @); line ignored` });
      continue;
    }
    if (map.has(name)) {
      warnings.push({ line, message: `duplicate alias "${name}" (first defined on line ${firstLine.get(name)}); this one is ignored` });
      continue;
    }
    const targets: AliasTarget[] = [];
    for (const token of splitTargets(m[2])) {
      const t = classify(token);
      if (typeof t === 'string') {
        warnings.push({ line, message: `alias "${name}": ${t}; skipped` });
        continue;
      }
      if (t.kind !== 'address') warnings.push({ line, message: `alias "${name}": "${t.value}" is ${KIND_TEXT[t.kind]}; skipped` });
      targets.push(t);
    }
    if (targets.length === 0) {
      warnings.push({ line, message: `alias "${name}" has no targets; line ignored` });
      continue;
    }
    map.set(name, targets);
    firstLine.set(name, line);
  }
  return { map, warnings };
}

/** Expands one recipient through the alias map (see the module header for the rules). */
export function expandRecipient(addr: string, map: Map<string, AliasTarget[]>, opts: ExpandOptions): Expansion {
  const localDomains = new Set(opts.localDomains.map((d) => d.toLowerCase()));
  const maxDepth = opts.maxDepth ?? ALIAS_MAX_DEPTH;
  const notes: string[] = [];

  /** The local name and domain of addr, or null when addr is not local. */
  const local = (a: string): { name: string; domain: string | null } | null => {
    const at = a.lastIndexOf('@');
    if (at < 0) return { name: a, domain: null };
    const domain = a.slice(at + 1);
    return localDomains.has(domain.toLowerCase()) ? { name: a.slice(0, at), domain } : null;
  };
  const qualify = (name: string, domain: string | null): string => {
    if (name.includes('@')) return name;
    const d = domain ?? opts.domain;
    return d ? `${name}@${d}` : name;
  };

  const adminName = opts.admin && local(opts.admin.address)?.name.toLowerCase();
  const viaAdmin = new Set<string>();
  const expand = (address: string, path: string[]): string[] => {
    const loc = local(address);
    if (!loc) return [address];
    const key = loc.name.toLowerCase();
    const targets = map.get(key);
    if (!targets) {
      // A local admin name ("root") ends the rule, so the default admin cannot loop.
      if (!opts.admin || key === adminName || path.includes(key) || !opts.admin.isSystem(key)) return [address];
      const out = expand(opts.admin.address, [...path, key]);
      for (const a of out) viaAdmin.add(a.toLowerCase());
      return out;
    }
    if (path.includes(key)) {
      // The direct case (root: root) is the documented way to keep a copy; a longer cycle is a mistake.
      if (path[path.length - 1] !== key) notes.push(`alias loop ${[...path, key].join(' -> ')}; delivering to ${address}`);
      return [address];
    }
    if (path.length >= maxDepth) {
      notes.push(`aliases nested deeper than ${maxDepth} at "${key}"; delivering to ${address}`);
      return [address];
    }
    const out: string[] = [];
    for (const t of targets) {
      if (t.kind !== 'address') {
        notes.push(`alias "${key}": skipped "${t.value}", which is ${KIND_TEXT[t.kind]}`);
        continue;
      }
      const target = qualify(t.address, loc.domain);
      out.push(...(t.literal ? [target] : expand(target, [...path, key])));
    }
    if (out.length === 0) {
      notes.push(`alias "${key}" has no address sysmail can deliver to; delivering to ${address}`);
      return [address];
    }
    return out;
  };

  const seen = new Set<string>();
  const addresses = expand(addr, []).filter((a) => {
    const k = a.toLowerCase();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  const via = new Map<string, RewriteVia>();
  for (const a of addresses) {
    const k = a.toLowerCase();
    if (viaAdmin.has(k)) via.set(k, 'admin');
    else if (k !== addr.toLowerCase()) via.set(k, 'alias');
  }
  return { addresses, via, notes };
}

interface CacheEntry { mtimeMs: number; size: number; ino: number; parsed: ParsedAliases }
const cache = new Map<string, CacheEntry>();

/**
 * Reads and parses an aliases file, re-reading only when its mtime, size or
 * inode changed (a statSync per call). Throws an ioError (temporary) when it cannot be read.
 */
export async function loadAliases(path: string): Promise<ParsedAliases> {
  try {
    // The stat in place, not on the thread pool: an unchanged file then costs no trip through the
    // event loop, so serve's early delivery can plan a message before its data is in.
    const st = statSync(path);
    const hit = cache.get(path);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size && hit.ino === st.ino) return hit.parsed;
    const parsed = parseAliases(await readFile(path, 'utf8'), path);
    cache.set(path, { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino, parsed });
    return parsed;
  } catch (err) {
    throw ioError(`cannot read the aliases file ${path}`, err);
  }
}
