/**
 * The fenced blocks of the user documentation, and what the doc test does
 * with each (test/docs.test.ts runs them; docs/TESTING.md explains the rules).
 *
 * - Every fence has a language. `sh` blocks are run, `toml` blocks must pass
 *   `sysmail config check`; other languages (`text` for output and diagrams,
 *   `ini`, `conf`, ... for other programs' files) are not run, but a line in
 *   them that starts like a sysmail command is an error: tag that block `sh`.
 * - `<!-- doctest: skip — REASON -->` on the line before a fence: not run,
 *   with a reason a reader can see (a real EL host, a command that changes
 *   the host, a daemon that runs forever). Counted in the test output.
 * - `<!-- doctest: file PATH -->` before a fence: the block is written to
 *   PATH in the sandbox (an esmtprc the next command imports, say).
 * Pure: text in, blocks out.
 */
import { parse } from 'smol-toml';

export interface DocBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  body: string;
  /** skip: reason; file: path; run: by language. */
  action: { kind: 'run' } | { kind: 'skip'; reason: string } | { kind: 'file'; path: string } | { kind: 'show' };
}

/** Languages that are shown, not run (other programs' files, output). */
export const SHOWN = new Set(['text', 'ini', 'conf', 'sieve', 'apt', 'crontab', 'diff', 'json', 'yaml']);
export const RUN = new Set(['sh', 'toml']);

const MARKER = /^<!--\s*doctest:\s*(skip|file)\b\s*(?:[—–-]\s*)?(.*?)\s*-->$/;

export function extractBlocks(file: string, text: string): { blocks: DocBlock[]; errors: string[] } {
  const lines = text.split('\n');
  const blocks: DocBlock[] = [];
  const errors: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, lang] = open as unknown as [string, string, string, string];
    let j = i + 1;
    while (j < lines.length && !new RegExp(`^\\s*${fence}\\s*$`).test(lines[j]!)) j++;
    if (j >= lines.length) { errors.push(`${file}:${i + 1}: the fence is never closed`); break; }
    const body = lines.slice(i + 1, j).map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l.trimStart())).join('\n') + '\n';
    const prev = lines.slice(0, i).reverse().find((l) => l.trim() !== '')?.trim() ?? '';
    const m = MARKER.exec(prev);
    let action: DocBlock['action'];
    if (m && m[1] === 'skip') {
      if (!m[2]) errors.push(`${file}:${i}: "doctest: skip" needs a reason after it`);
      action = { kind: 'skip', reason: m[2] ?? '' };
    } else if (m && m[1] === 'file') {
      if (!m[2]!.startsWith('/')) errors.push(`${file}:${i}: "doctest: file" needs an absolute path`);
      action = { kind: 'file', path: m[2]! };
    } else if (lang === '') {
      errors.push(`${file}:${i + 1}: a fenced block without a language: tag it sh or toml (run by the doc test), text for output, or the other program's format`);
      action = { kind: 'show' };
    } else if (RUN.has(lang)) {
      action = { kind: 'run' };
    } else if (SHOWN.has(lang)) {
      action = { kind: 'show' };
      const cmd = body.split('\n').findIndex((l) => /^\s*(\$ )?(sudo )?(sysmail|sendmail|mailq)(\s|$)/.test(l));
      if (cmd >= 0) errors.push(`${file}:${i + 2 + cmd}: a sysmail command in a "${lang}" block: tag the block sh so it is run, or mark it <!-- doctest: skip — why -->`);
    } else {
      errors.push(`${file}:${i + 1}: unknown block language "${lang}": use sh or toml (run), or one of ${[...SHOWN].join(', ')}`);
      action = { kind: 'show' };
    }
    blocks.push({ file, line: i + 1, lang, body, action });
    i = j;
  }
  return { blocks, errors };
}

/**
 * A config fragment made checkable: transports that routes name but the
 * fragment does not define become `type = "stdout"`, and transports without
 * any route get a catch-all route. "…" (an elided OCID or user name) becomes
 * "example". Returns the text, and the password files and systemd
 * credentials it references (the test makes each, as an admin would).
 */
export function completeToml(text: string): { toml: string; secretFiles: string[]; credentials: string[] } {
  const toml = text.replace(/…/g, 'example');
  const doc = parse(toml) as Record<string, unknown>;
  const transports = (doc.transports ?? {}) as Record<string, unknown>;
  const routes = (doc.routes ?? []) as Array<Record<string, unknown>>;
  const named = new Set<string>();
  for (const r of routes) {
    if (typeof r.transport === 'string') named.add(r.transport);
    if (Array.isArray(r.transports)) for (const t of r.transports) named.add(String(t));
  }
  let extra = '';
  for (const n of named) if (!(n in transports)) extra += `\n[transports.${JSON.stringify(n)}]\ntype = "stdout"\n`;
  if (routes.length === 0 && Object.keys(transports).length > 0) extra += `\n[[routes]]\ntransport = ${JSON.stringify(Object.keys(transports)[0])}\n`;
  const secretFiles: string[] = [];
  const credentials: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) { v.forEach(walk); return; }
    if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'password_file' && typeof x === 'string') secretFiles.push(x);
        else if (k === 'password_credential' && typeof x === 'string') credentials.push(x);
        else walk(x);
      }
    }
  };
  walk(doc);
  return { toml: toml + extra, secretFiles, credentials };
}
