/**
 * The doctor's result model and its two renderings: a ✓/✗/! checklist for
 * people (each ✗ and ! with its fix) and a JSON array for scripts.
 *
 * Pure. Exit status: 0 when nothing failed; EX_CONFIG (78) when a failed
 * check is about the configuration (the file, a secret), since that is what
 * the admin must edit; otherwise EX_UNAVAILABLE (69). Warnings never fail.
 */
import { displayText, escapeJson } from '../core/display.js';
import { EX } from '../core/errors.js';

export type CheckStatus = 'ok' | 'fail' | 'warn' | 'info';

export interface CheckResult {
  /** Short name of what was checked, e.g. "spool", "transport relay". */
  check: string;
  status: CheckStatus;
  detail: string;
  /** What to do about it (a command where possible); null when nothing is to be done. */
  fix: string | null;
  /** A configuration problem: decides EX_CONFIG over EX_UNAVAILABLE. Not part of the JSON. */
  config?: boolean;
}

export const ok = (check: string, detail: string): CheckResult => ({ check, status: 'ok', detail, fix: null });
export const info = (check: string, detail: string, fix: string | null = null): CheckResult => ({ check, status: 'info', detail, fix });
export const warn = (check: string, detail: string, fix: string | null): CheckResult => ({ check, status: 'warn', detail, fix });
export const fail = (check: string, detail: string, fix: string | null, config = false): CheckResult =>
  ({ check, status: 'fail', detail, fix, ...(config ? { config: true } : {}) });

const LINE_MAX = 1000;
const MARK: Record<CheckStatus, string> = { ok: '✓', fail: '✗', warn: '!', info: 'i' };

export function formatReport(results: CheckResult[], title: string): string {
  const lines = [title];
  for (const r of results) {
    // A detail may quote a relay's greeting or an OCI error: foreign text, shown escaped and bounded.
    const [first, ...rest] = r.detail.split('\n').map((l) => displayText(l, LINE_MAX));
    lines.push(`${MARK[r.status]} ${r.check}: ${first}`);
    for (const l of rest) lines.push(`    ${l}`);
    if (r.fix && r.status !== 'ok') {
      const [f0, ...fr] = r.fix.split('\n').map((l) => displayText(l, LINE_MAX));
      lines.push(`    fix: ${f0}`);
      for (const l of fr) lines.push(`         ${l}`);
    }
  }
  const count = (s: CheckStatus) => results.filter((r) => r.status === s).length;
  const failed = count('fail');
  lines.push('');
  lines.push(failed === 0
    ? `All checks passed${count('warn') ? ` (${count('warn')} warning(s))` : ''}.`
    : `${failed} check(s) failed, ${count('warn')} warning(s).`);
  return lines.join('\n') + '\n';
}

export function toJson(results: CheckResult[]): string {
  return escapeJson(JSON.stringify(results.map(({ check, status, detail, fix }) => ({ check, status, detail, fix })), null, 2)) + '\n';
}

export function exitCodeFor(results: CheckResult[]): number {
  const failed = results.filter((r) => r.status === 'fail');
  if (failed.length === 0) return EX.OK;
  return failed.some((r) => r.config) ? EX.CONFIG : EX.UNAVAILABLE;
}
