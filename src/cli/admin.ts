/**
 * Queue and config administration: flush, queue (list/flush/delete/hold/
 * release), mailq, config check|show, newaliases. Listing never writes
 * (readers never write); changes go through the spool's own operations.
 */
import { displayText, escapeJson } from '../core/display.js';
import { EX, usageError, SysmailError } from '../core/errors.js';
import type { QueuedMessage, RecipientState } from '../spool/types.js';
import type { DropEntry } from '../spool/drop-list.js';
import { parseOptions } from './options.js';
import { loadConfigFrom, loadRuntime } from '../submit/runtime.js';

export async function flushCommand(argv: string[]): Promise<number> {
  const { opts } = parseOptions(argv, { id: { value: true, repeat: true }, due: {}, quiet: { short: 'q' } }, 'flush');
  if (opts.help) return (await import('./help.js')).helpCommand(['flush']);
  const ids = opts.id as string[] | undefined;
  if (ids) {
    const { isValidId } = await import('../spool/ids.js');
    const bad = ids.find((i) => !isValidId(i));
    if (bad !== undefined) throw usageError(`flush: --id "${displayText(bad, 80)}" is not a queue id (26 letters and digits, as \`sysmail queue\` shows them)`);
  }
  const rt = await loadRuntime(opts);
  if (!rt.spoolOwner) throw notOwner(rt.config.spool.dir, 'run the queue');
  const { deliverNow } = await import('../submit/deliver.js');
  const s = await deliverNow(rt, { ids, force: !opts.due });
  await rt.log.close();
  if (!opts.quiet) {
    process.stdout.write(`flush: ${s.messages} message(s): ${s.sent} recipient(s) sent, ${s.deferred} message(s) deferred, `
      + `${s.failed} recipient(s) failed, ${s.bounces} bounce(s)\n`);
  }
  return EX.OK;
}

/** Root is refused only by the file system (read-only or immutable); anyone else by ownership. */
function notOwner(dir: string, what: string): SysmailError {
  if (process.getuid?.() === 0) {
    return new SysmailError('EROSPOOL', `cannot ${what}: the spool ${dir} is not writable (read-only or immutable file system?)`,
      { exit: EX.TEMPFAIL, hint: 'check `mount | grep` for ro and `lsattr -d` for the i flag; then run `sysmail flush`' });
  }
  return new SysmailError('ENOPERM', `only root or the owner of ${dir} can ${what}`, { exit: EX.NOPERM, hint: 'run it as root (sudo)' });
}

export async function mailqCommand(argv: string[]): Promise<number> {
  return queueCommand(['list', ...argv]);
}

export async function queueCommand(argv: string[]): Promise<number> {
  const { opts, args } = parseOptions(argv, { json: {}, failed: {} }, 'queue');
  if (opts.help) return (await import('./help.js')).helpCommand(['queue']);
  const [action = 'list', ...ids] = args;
  const rt = await loadRuntime(opts);
  if (action === 'list') {
    const { listView } = await import('./queue-view.js');
    const v = await listView(rt, opts.failed === true);
    process.stdout.write(opts.json ? escapeJson(JSON.stringify([...v.items.map(toJson), ...v.drop.map(dropJson)], null, 2)) + '\n'
      : formatQueue(v.items, opts.failed === true, v));
    return EX.OK;
  }
  if (ids.length === 0) throw usageError(`queue ${action} needs at least one queue id`, 'see `sysmail queue` for the ids');
  if (!rt.spoolOwner) throw notOwner(rt.config.spool.dir, 'change the queue');
  let missing = 0;
  if (action === 'flush') {
    const { deliverNow } = await import('../submit/deliver.js');
    const s = await deliverNow(rt, { ids, force: true });
    process.stdout.write(`flush: ${s.messages} message(s), ${s.sent} sent, ${s.deferred} deferred, ${s.failed} failed\n`);
  } else {
    const op = { delete: 'remove', hold: 'hold', release: 'unhold' }[action] as 'remove' | 'hold' | 'unhold' | undefined;
    if (!op) throw usageError(`queue: unknown action "${action}" (list, flush, delete, hold, release)`);
    for (const id of ids) {
      const ok = await rt.spool[op](id);
      if (!ok) { missing++; process.stderr.write(`sysmail: queue ${action}: no message ${id}\n`); continue; }
      rt.log.event({ event: action === 'delete' ? 'deleted' : action === 'hold' ? 'held' : 'released', id, reason: `by ${process.getuid?.()}` });
      process.stdout.write(`${id}: ${action === 'delete' ? 'deleted' : action === 'hold' ? 'held' : 'released'}\n`);
    }
  }
  await rt.log.close();
  return missing > 0 ? EX.NOINPUT : EX.OK;
}

function toJson(m: QueuedMessage) {
  return {
    id: m.id, area: m.area, size: m.size, from: m.envelope.sender, recipients: m.envelope.recipients,
    submitted_at: isoOrNull(m.envelope.submittedAt), user: m.envelope.user, via: m.envelope.via,
    held: m.state.held ?? false, corrupt: m.corrupt ?? null, attempts: m.state.attempts,
    next_attempt_at: m.state.nextAttemptAt ? isoOrNull(m.state.nextAttemptAt) : null,
    last_error: m.state.lastError ?? null, recipient_state: m.state.recipients,
  };
}

function dropJson(d: DropEntry) {
  return {
    id: d.name, area: 'drop', size: d.size, from: d.envelope?.sender ?? null, recipients: d.envelope?.recipients ?? null,
    submitted_at: isoOrNull(d.envelope?.submittedAt ?? d.mtimeMs), uid: d.uid, awaiting_import: true,
  };
}

/** A time from a state file an old or damaged spool may hold (1e308, NaN): never a crash of the view. */
function isoOrNull(ms: number): string | null {
  const d = new Date(ms);
  return Number.isFinite(d.getTime()) ? d.toISOString() : null;
}

const time = (ms: number) => isoOrNull(ms)?.replace('T', ' ').slice(0, 19) ?? `(invalid time ${displayText(String(ms), 40)})`;

export interface QueueExtras {
  /** drop/ entries not yet imported. */
  drop?: DropEntry[];
  /** Why queue/ could not be shown (a non-root caller), with what to do. */
  hidden?: string | null;
  /** The rewrite delivery will apply (aliases, admin rule), for recipients not yet tried. */
  rewrite?: (rcpt: string) => Array<{ address: string; via: string | null }>;
}

const arrow = (orig: string, to: string, via: string | null | undefined) => `${orig} → ${to}${via ? ` (${via})` : ''}`;

export function formatQueue(items: QueuedMessage[], failed: boolean, x: QueueExtras = {}): string {
  const drop = x.drop ?? [];
  const note = x.hidden ? [`(${x.hidden})`] : [];
  if (items.length === 0 && drop.length === 0) return [...note, failed ? 'No failed messages.' : 'Mail queue is empty'].join('\n') + '\n';
  const lines = [...note, `${'Queue ID'.padEnd(26)} ${'Size'.padStart(8)}  ${'Arrival (UTC)'.padEnd(19)}  Sender/Recipient`];
  let total = 0;
  for (const m of items) {
    total += m.size;
    const flag = m.corrupt ? '?' : m.state.held ? '!' : '';
    lines.push(`${(m.id + flag).padEnd(26)} ${String(m.size).padStart(8)}  ${time(m.envelope.submittedAt)}  ${displayText(m.envelope.sender) || '<>'}`);
    if (m.corrupt) lines.push(`    (corrupt: ${displayText(m.corrupt)}; \`sysmail flush\` moves it to corrupt/)`);
    if (m.state.attempts > 0 || m.state.lastError) {
      const next = m.state.held ? 'held' : `next try ${time(m.state.nextAttemptAt)}`;
      lines.push(`    (${failed ? 'failed' : 'deferred'} after ${m.state.attempts} attempt(s); ${failed ? '' : next + '; '}${displayText(m.state.lastError ?? '')})`);
    }
    // State is kept per routed recipient (after aliases; "rcpt via transport" for fan-out).
    const shown = new Set<string>();
    const status = (k: string, st: RecipientState) =>
      `    ${displayText(k)}  [${st.status}${st.code ? ' ' + st.code : ''}${st.text ? ': ' + displayText(st.text, 120) : ''}]`;
    for (const r of m.envelope.recipients) {
      let own = Object.entries(m.state.recipients).filter(([k, st]) => k === r || k.startsWith(r + ' via ') || st.orig === r);
      const untried = own.length === 0 || (own.length === 1 && own[0]![0] === r && own[0]![1].status === 'pending');
      const to = untried ? x.rewrite?.(r).filter((t) => t.address !== r) ?? [] : [];
      if (to.length > 0) {
        // Not tried yet: show where it will go, as the log will ("root@web1 → ops@example.com (admin)").
        for (const t of to) lines.push(`    ${arrow(r, t.address, t.via)}${own.length > 0 ? '  [pending]' : ''}`);
        own.forEach(([k]) => shown.add(k));
        own = [];
      } else if (own.length === 0) lines.push(`    ${displayText(r)}`);
      for (const [k, st] of own) { shown.add(k); lines.push(status(st.orig && st.orig !== k ? arrow(st.orig, k, st.via) : k, st)); }
    }
    for (const [k, st] of Object.entries(m.state.recipients)) if (!shown.has(k)) lines.push(status(k, st));
  }
  for (const d of drop) {
    total += d.size;
    const arrival = time(d.envelope?.submittedAt ?? d.mtimeMs);
    lines.push(`${(d.name + '*').padEnd(26)} ${String(d.size).padStart(8)}  ${arrival}  ${d.envelope ? d.envelope.sender || '<>' : `(owner uid ${d.uid}; not readable by you)`}`);
    lines.push('    (in drop/, awaiting import by `sysmail serve` or the flush timer)');
    for (const r of d.envelope?.recipients ?? []) {
      const to = x.rewrite?.(r).filter((t) => t.address !== r) ?? [];
      if (to.length === 0) lines.push(`    ${r}`);
      for (const t of to) lines.push(`    ${arrow(r, t.address, t.via)}`);
    }
  }
  const count = items.length + drop.length;
  lines.push(`-- ${Math.ceil(total / 1024)} KiB in ${count} message(s)${drop.length > 0 ? `, ${drop.length} awaiting import (*)` : ''}.`);
  return lines.join('\n') + '\n';
}

export async function configCommand(argv: string[]): Promise<number> {
  const { opts, args } = parseOptions(argv, {}, 'config');
  if (opts.help) return (await import('./help.js')).helpCommand(['config']);
  const action = args[0] ?? 'check';
  const config = await loadConfigFrom(opts);
  if (action === 'check') {
    // Resolve every secret once: a missing password file should show up now, not at 3 a.m.
    const { checkSecrets } = await import('../config/secrets.js');
    const { checkOciTransports } = await import('../transports/oci/config-check.js');
    const oci = await checkOciTransports(config);
    for (const w of oci.warnings) process.stderr.write(`sysmail: warning: ${w}\n`);
    const problems = [...await checkSecrets(config), ...oci.problems];
    for (const p of problems) process.stderr.write(`sysmail: ${p.message}${p.hint ? `\nsysmail: fix: ${p.hint}` : ''}\n`);
    if (problems.length > 0) return EX.CONFIG;
    for (const t of Object.values(config.transports)) {
      if (t.type === 'smtp' && t.allowPlaintextAuth && t.username) {
        process.stderr.write(`sysmail: warning: transports.${t.name}.allow_plaintext_auth = true: the password for ${t.username} may be sent `
          + `without verified TLS, to anyone on the path\n`);
      }
    }
    process.stdout.write(`${config.source ?? 'embedded default'}: OK (${Object.keys(config.transports).length} transport(s), `
      + `${config.routes.length} route(s))\n`);
    return EX.OK;
  }
  if (action === 'show') {
    const { renderConfig } = await import('../config/render.js');
    process.stdout.write(renderConfig(config));
    return EX.OK;
  }
  throw usageError(`config: unknown action "${action}" (check, show)`);
}

export async function newaliasesCommand(argv: string[]): Promise<number> {
  const { opts } = parseOptions(argv, {}, 'newaliases');
  if (opts.help) return (await import('./help.js')).helpCommand(['newaliases']);
  const config = await loadConfigFrom(opts);
  if (!config.general.aliases) { process.stdout.write('sysmail: no aliases file configured; nothing to do\n'); return EX.OK; }
  const { loadAliases } = await import('../router/aliases.js');
  const { map, warnings } = await loadAliases(config.general.aliases);
  for (const w of warnings) process.stderr.write(`${config.general.aliases}:${w.line}: ${w.message}\n`);
  // sysmail reads the text file directly, so there is no index to rebuild.
  process.stdout.write(`${config.general.aliases}: ${map.size} alias(es); sysmail reads this file directly, no rebuild needed\n`);
  return EX.OK;
}
