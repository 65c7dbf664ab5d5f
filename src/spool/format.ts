/**
 * The on-disk forms of a queued message and of its delivery state
 * (docs/QUEUE-FORMAT.md). Pure functions: bytes in, values out.
 *
 * A message file is a small line-based envelope header, the line `end`, then
 * the message bytes. The header names the message size, so a file cut short
 * anywhere (header or body) or grown afterwards does not parse. Envelope values
 * can never hold CR, LF, NUL or another control character: `encodeHeader`
 * refuses them (EX_DATAERR) and `parseHeader` reports them as corruption.
 *
 * Parsing never throws: it returns `{ ok: false, reason }` with a reason fit
 * for the corrupt/ record.
 */
import { EX, SysmailError } from '../core/errors.js';
import type { DeliveryState, Envelope, RecipientState, RecipientStatus, SubmitVia } from './types.js';

export const FORMAT_LINE = 'SYSMAIL 1';
const END = '\nend\n';
/** An envelope header larger than this is refused (tens of thousands of recipients). */
export const MAX_HEADER_BYTES = 1024 * 1024;
/**
 * Recipients per message, at every entry point (the listener has the same limit per SMTP
 * transaction). 1000 addresses of at most 254 octets stay far below MAX_HEADER_BYTES, and
 * encodeHeader checks that bound too: anything the writer writes, the reader reads.
 */
export const MAX_RECIPIENTS = 1000;

const VIAS: readonly SubmitVia[] = ['sendmail', 'send', 'smtp', 'drop', 'bounce'];
const STATUSES: readonly RecipientStatus[] = ['pending', 'sent', 'deferred', 'failed'];
// Every C0 control and DEL: CR/LF/NUL would break the line format, the rest would reach logs and terminals.
/** /[\u0000-\u001f\u007f]/, as a loop: a regular expression costs ~0.02 ms at its first use, on every sendmail. */
const CONTROL = {
  test(s: string): boolean {
    for (let i = 0; i < s.length; i++) { const c = s.charCodeAt(i); if (c < 0x20 || c === 0x7f) return true; }
    return false;
  },
};

function badValue(field: string, why: string): SysmailError {
  return new SysmailError('EBADENVELOPE', `envelope ${field} ${why}`, {
    exit: EX.DATAERR, smtpCode: 501, dsn: '5.5.4',
    hint: 'addresses and envelope parameters must not contain control characters (CR, LF, NUL)',
  });
}

function checkValue(field: string, v: unknown): string {
  if (typeof v !== 'string') throw badValue(field, 'is not a string');
  if (CONTROL.test(v)) throw badValue(field, `contains a control character: ${JSON.stringify(v).slice(0, 80)}`);
  if (Buffer.from(v, 'utf8').toString('utf8') !== v) throw badValue(field, 'is not valid Unicode text');
  return v;
}

function checkInt(field: string, v: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw badValue(field, `is not a whole number: ${String(v)}`);
  return v;
}

/** Checks every envelope field; throws a SysmailError (EX_DATAERR) naming the bad one. */
export function validateEnvelope(env: Envelope): void {
  checkValue('sender', env.sender);
  if (!Array.isArray(env.recipients) || env.recipients.length === 0) {
    throw new SysmailError('ENORCPT', 'the message has no recipients', {
      exit: EX.USAGE, hint: 'name at least one recipient, or use -t to read them from the headers',
    });
  }
  env.recipients.forEach((r, i) => { if (checkValue(`recipient ${i + 1}`, r) === '') throw badValue(`recipient ${i + 1}`, 'is empty'); });
  checkInt('submitted time', env.submittedAt);
  checkInt('uid', env.uid, 0xffffffff);
  checkValue('user', env.user);
  if (!VIAS.includes(env.via)) throw badValue('via', `is not one of ${VIAS.join(', ')}: ${String(env.via)}`);
  if (env.notify !== undefined) checkValue('notify', env.notify);
  if (env.ret !== undefined && env.ret !== 'full' && env.ret !== 'hdrs') throw badValue('ret', 'must be "full" or "hdrs"');
  if (env.envid !== undefined) checkValue('envid', env.envid);
}

function tooBig(what: string, limit: string): SysmailError {
  return new SysmailError('ETOOMANYRCPT', `${what}: the limit is ${limit}`, {
    exit: EX.DATAERR, smtpCode: 550, dsn: '5.5.3',
    hint: 'split the recipients over several messages, or send to a mailing list or alias',
  });
}

/**
 * The header that precedes the message bytes; validates the envelope first and refuses what the
 * reader would not read back (more than MAX_RECIPIENTS, or a header over MAX_HEADER_BYTES).
 */
export function encodeHeader(env: Envelope, size: number): Buffer {
  validateEnvelope(env);
  if (env.recipients.length > MAX_RECIPIENTS) throw tooBig(`${env.recipients.length} recipients in one message`, `${MAX_RECIPIENTS} recipients`);
  const lines = [FORMAT_LINE, `sender <${env.sender}>`];
  for (const r of env.recipients) lines.push(`rcpt <${r}>`);
  lines.push(`submitted ${env.submittedAt}`, `uid ${env.uid}`, `user ${env.user}`, `via ${env.via}`);
  if (env.notify !== undefined) lines.push(`notify ${env.notify}`);
  if (env.ret !== undefined) lines.push(`ret ${env.ret}`);
  if (env.envid !== undefined) lines.push(`envid ${env.envid}`);
  if (env.isBounce) lines.push('bounce yes');
  lines.push(`size ${size}`, 'end', '');
  const header = Buffer.from(lines.join('\n'), 'utf8');
  if (header.length >= MAX_HEADER_BYTES) throw tooBig(`an envelope header of ${header.length} bytes`, `${MAX_HEADER_BYTES} bytes`);
  return header;
}

export type HeaderResult =
  | { ok: true; envelope: Envelope; headerLength: number; size: number }
  /** `more`: the buffer ends before the header does; read more bytes and try again. */
  | { ok: false; reason: string; more?: boolean };

const INT = /^(0|[1-9][0-9]{0,15})$/;
// Made when first read: the writers (the sendmail fast path) never decode, and a TextDecoder costs ~0.1 ms to set up.
let decoder: { decode(b: Uint8Array): string } | null = null;
const utf8 = { decode: (b: Uint8Array): string => (decoder ??= new TextDecoder('utf-8', { fatal: true })).decode(b) };

/**
 * Parses the header at the start of `buf`. `eof` says whether `buf` is the
 * whole file (then a missing end marker is corruption, not a short read).
 */
export function parseHeader(buf: Buffer, eof: boolean): HeaderResult {
  const magic = Buffer.from(FORMAT_LINE.slice(0, 8), 'latin1'); // "SYSMAIL "
  const head = buf.subarray(0, magic.length);
  if (!magic.subarray(0, head.length).equals(head)) return { ok: false, reason: 'not a sysmail queue file (no "SYSMAIL" first line)' };
  const end = buf.indexOf(END, 0, 'latin1');
  if (end < 0) {
    if (buf.length >= MAX_HEADER_BYTES) return { ok: false, reason: `envelope header larger than ${MAX_HEADER_BYTES} bytes or missing its end line` };
    return eof ? { ok: false, reason: 'truncated: the envelope header has no end line' } : { ok: false, reason: 'short read', more: true };
  }
  let text: string;
  try { text = utf8.decode(buf.subarray(0, end)); } catch { return { ok: false, reason: 'envelope header is not valid UTF-8' }; }
  const lines = text.split('\n');
  if (lines[0] !== FORMAT_LINE) {
    return { ok: false, reason: `unsupported format line ${JSON.stringify(lines[0]?.slice(0, 40))} (this sysmail reads "${FORMAT_LINE}")` };
  }
  const single = new Map<string, string>();
  const rcpts: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const sp = line.indexOf(' ');
    const key = sp < 0 ? line : line.slice(0, sp);
    const value = sp < 0 ? '' : line.slice(sp + 1);
    if (CONTROL.test(line)) return { ok: false, reason: `header line ${i + 1} contains a control character` };
    if (key === 'rcpt') {
      const addr = angle(value);
      if (addr === null || addr === '') return { ok: false, reason: `header line ${i + 1}: bad rcpt` };
      rcpts.push(addr);
    } else if (['sender', 'submitted', 'uid', 'user', 'via', 'notify', 'ret', 'envid', 'bounce', 'size'].includes(key)) {
      if (single.has(key)) return { ok: false, reason: `header line ${i + 1}: "${key}" given twice` };
      single.set(key, value);
    } else {
      return { ok: false, reason: `header line ${i + 1}: unknown field ${JSON.stringify(key.slice(0, 20))}` };
    }
  }
  for (const k of ['sender', 'submitted', 'uid', 'user', 'via', 'size']) {
    if (!single.has(k)) return { ok: false, reason: `envelope header lacks "${k}"` };
  }
  if (rcpts.length === 0) return { ok: false, reason: 'envelope header has no rcpt' };
  const sender = angle(single.get('sender') as string);
  if (sender === null) return { ok: false, reason: 'bad sender field' };
  const nums: Record<string, number> = {};
  for (const k of ['submitted', 'uid', 'size']) {
    const v = single.get(k) as string;
    if (!INT.test(v) || Number(v) > Number.MAX_SAFE_INTEGER) return { ok: false, reason: `"${k}" is not a whole number` };
    nums[k] = Number(v);
  }
  if ((nums.uid as number) > 0xffffffff) return { ok: false, reason: 'uid out of range' };
  const via = single.get('via') as SubmitVia;
  if (!VIAS.includes(via)) return { ok: false, reason: `unknown via ${JSON.stringify(via.slice(0, 20))}` };
  const ret = single.get('ret');
  if (ret !== undefined && ret !== 'full' && ret !== 'hdrs') return { ok: false, reason: 'ret must be full or hdrs' };
  const bounce = single.get('bounce');
  if (bounce !== undefined && bounce !== 'yes') return { ok: false, reason: 'bounce must be "yes"' };
  const envelope: Envelope = {
    sender, recipients: rcpts, submittedAt: nums.submitted as number, uid: nums.uid as number,
    user: single.get('user') as string, via,
  };
  const notify = single.get('notify');
  const envid = single.get('envid');
  if (notify !== undefined) envelope.notify = notify;
  if (ret !== undefined) envelope.ret = ret;
  if (envid !== undefined) envelope.envid = envid;
  if (bounce === 'yes') envelope.isBounce = true;
  return { ok: true, envelope, headerLength: end + END.length, size: nums.size as number };
}

function angle(v: string): string | null {
  return v.length >= 2 && v.startsWith('<') && v.endsWith('>') ? v.slice(1, -1) : null;
}

/** State of a message that has never been tried: every recipient pending, due now. */
export function freshState(env: Envelope): DeliveryState {
  const recipients: Record<string, RecipientState> = {};
  for (const r of env.recipients) recipients[r] = { status: 'pending' };
  return { attempts: 0, nextAttemptAt: 0, recipients };
}

/**
 * Recipients missing from a state file (it predates them, or was lost) are pending.
 * One that aliases or the admin rule rewrote is present as the entries whose `orig` names it.
 */
export function completeState(env: Envelope, state: DeliveryState): DeliveryState {
  const recipients = { ...state.recipients };
  // Fan-out keys are "rcpt via transport"; rewritten recipients name their original in `orig`.
  const covered = new Set<string>();
  for (const [k, r] of Object.entries(recipients)) { covered.add(k.split(' via ')[0]!); if (r.orig) covered.add(r.orig); }
  for (const r of env.recipients) if (!covered.has(r)) recipients[r] = { status: 'pending' };
  return { ...state, recipients };
}

export function encodeState(state: DeliveryState): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, ...state }) + '\n', 'utf8');
}

export type StateResult = { ok: true; state: DeliveryState } | { ok: false; reason: string };

const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
const optNum = (v: unknown) => v === undefined || isNum(v);
const optStr = (v: unknown) => v === undefined || typeof v === 'string';

export function parseState(buf: Buffer): StateResult {
  let raw: unknown;
  try { raw = JSON.parse(utf8.decode(buf)); } catch (e) { return { ok: false, reason: `state is not JSON: ${(e as Error).message}` }; }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'state is not a JSON object' };
  const o = raw as Record<string, unknown>;
  if (o.v !== 1) return { ok: false, reason: `unsupported state version ${JSON.stringify(o.v)}` };
  if (!Number.isInteger(o.attempts) || (o.attempts as number) < 0) return { ok: false, reason: 'state.attempts is not a whole number' };
  if (!isNum(o.nextAttemptAt)) return { ok: false, reason: 'state.nextAttemptAt is not a number' };
  if (!optNum(o.firstAttemptAt) || !optNum(o.lastAttemptAt)) return { ok: false, reason: 'state attempt times are not numbers' };
  if (o.held !== undefined && typeof o.held !== 'boolean') return { ok: false, reason: 'state.held is not a boolean' };
  if (!optStr(o.lastError)) return { ok: false, reason: 'state.lastError is not a string' };
  if (!optNum(o.delayWarnedAt)) return { ok: false, reason: 'state.delayWarnedAt is not a number' };
  const rs = o.recipients;
  if (typeof rs !== 'object' || rs === null || Array.isArray(rs)) return { ok: false, reason: 'state.recipients is not an object' };
  for (const [addr, r] of Object.entries(rs as Record<string, unknown>)) {
    const x = r as Record<string, unknown> | null;
    if (typeof x !== 'object' || x === null || !STATUSES.includes(x.status as RecipientStatus)
      || !optNum(x.code) || !optStr(x.dsn) || !optStr(x.text) || !optStr(x.transport) || !optStr(x.route)
      || !optNum(x.at) || !optNum(x.failingSince) || !optStr(x.orig)
      || (x.via !== undefined && x.via !== 'alias' && x.via !== 'admin')) {
      return { ok: false, reason: `state of recipient ${JSON.stringify(addr.slice(0, 80))} is malformed` };
    }
  }
  const { v: _v, ...state } = o;
  return { ok: true, state: state as unknown as DeliveryState };
}
