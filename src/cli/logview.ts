/**
 * `sysmail log`: the event log for people. Filters by id, recipient, event or
 * status and time; `--json` passes the matching lines through unchanged.
 * Read-only.
 */
import { accessSync, constants, createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { EX, SysmailError, usageError } from '../core/errors.js';
import { displayText, escapeJson } from '../core/display.js';
import { parseOptions } from './options.js';
import { loadConfigFrom } from '../submit/runtime.js';

const LOG_OPTIONS = {
  id: { value: true }, rcpt: { value: true }, status: { value: true }, event: { value: true },
  since: { value: true }, json: {}, lines: { short: 'n', value: true }, file: { value: true },
};

export function parseSince(s: string, now: number): number {
  const m = /^(\d+)\s*([smhd])$/.exec(s.trim());
  if (m) return now - Number(m[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[m[2] as 's' | 'm' | 'h' | 'd'];
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw usageError(`log: --since "${s}" is neither a duration (30m, 2h, 1d) nor a date (2026-11-29 or ISO 8601)`);
  return t;
}

type Rec = Record<string, string | number | null>;

export function formatRecord(raw: Rec): string {
  // Every field may hold foreign text (a relay's reply, an address from a drop file).
  const r: Rec = {};
  for (const [k, v] of Object.entries(raw)) r[k] = typeof v === 'string' ? displayText(v) : v;
  const ts = String(r.ts ?? '').replace('T', ' ').slice(0, 19);
  const ev = String(r.event ?? '').padEnd(9);
  const via = r.transport ? ` via ${r.route ? r.route + '/' : ''}${r.transport}` : '';
  // A rewritten recipient reads as the queue view shows it: "root@web1 → ops@example.com (admin)".
  const to = r.orig_rcpt ? `${r.orig_rcpt} → ${r.rcpt}${r.via ? ` (${r.via})` : ''}` : r.rcpt;
  const who = r.rcpt ? ` ${r.from === '' ? '<>' : r.from ?? ''} -> ${to}` : r.from ? ` from ${r.from}` : '';
  const code = r.smtp_code ? ` ${r.smtp_code}${r.dsn ? ' ' + r.dsn : ''}` : '';
  const delay = typeof r.delay_ms === 'number' ? ` delay=${(r.delay_ms / 1000).toFixed(1)}s` : '';
  const attempt = r.attempt ? ` attempt=${r.attempt}` : '';
  const reason = r.reason ? ` :: ${r.reason}` : '';
  return `${ts} ${ev} ${r.id ?? '-'}${who}${via}${code}${attempt}${delay}${reason}`;
}

export async function logCommand(argv: string[]): Promise<number> {
  const { opts } = parseOptions(argv, LOG_OPTIONS, 'log');
  if (opts.help) return (await import('./help.js')).helpCommand(['log']);
  const file = typeof opts.file === 'string' ? opts.file : (await loadConfigFrom(opts)).log.file;
  if (!file) throw new SysmailError('ENOLOG', 'the event log is disabled (log.file is empty)', { exit: EX.CONFIG, hint: 'set [log] file in sysmail.toml' });
  try { accessSync(file, constants.R_OK); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new SysmailError('ELOGPERM', `cannot read the event log ${file}: permission denied`, {
        exit: EX.NOPERM, hint: 'run `sysmail log` as root (the log is readable by root and its group only)' });
    }
  }
  if (!existsSync(file)) {
    process.stderr.write(`sysmail: no log yet at ${file} (nothing has been submitted)\n`);
    return EX.OK;
  }
  const since = typeof opts.since === 'string' ? parseSince(opts.since, Date.now()) : null;
  const want = (r: Rec) => (!opts.id || r.id === opts.id || String(r.reason ?? '').includes(String(opts.id)))
    && (!opts.rcpt || String(r.rcpt ?? '').toLowerCase().split(',').includes(String(opts.rcpt).toLowerCase())
      || String(r.orig_rcpt ?? '').toLowerCase() === String(opts.rcpt).toLowerCase())
    && (!opts.status || r.status === opts.status || r.event === opts.status)
    && (!opts.event || r.event === opts.event)
    && (since === null || Date.parse(String(r.ts)) >= since);
  const limit = typeof opts.lines === 'string' ? Number(opts.lines) : Infinity;
  const out: string[] = [];
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) {
    let r: Rec;
    try { r = JSON.parse(line) as Rec; } catch { continue; } // a torn last line after a crash
    if (!want(r)) continue;
    out.push(opts.json ? escapeJson(line) : formatRecord(r));
    if (out.length > limit) out.shift();
  }
  if (out.length) process.stdout.write(out.join('\n') + '\n');
  return EX.OK;
}
