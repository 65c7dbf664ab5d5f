/**
 * What local mailbox transports add to a message: the trace headers MTAs put
 * at the top on final delivery (`Return-Path:` with the envelope sender,
 * `Delivered-To:` with the recipient), and address helpers.
 *
 * Pure functions. Addresses reaching here are already sanitised upstream; CR,
 * LF and NUL are still removed so a header can never be split.
 */
import { isSysmailError, toSysmailError } from '../core/errors.js';
import type { RecipientResult } from './types.js';

function headerSafe(s: string): string {
  return s.replace(/[\r\n\0]/g, '');
}

/** Prepends Return-Path and Delivered-To. The message keeps its LF line ends. */
export function addDeliveryHeaders(raw: Buffer, sender: string, rcpt: string): Buffer {
  const head = `Return-Path: <${headerSafe(sender)}>\nDelivered-To: ${headerSafe(rcpt)}\n`;
  return Buffer.concat([Buffer.from(head, 'utf8'), raw]);
}

/** "user@example.com" -> "user"; a bare name is its own local part. */
export function localPartOf(addr: string): string {
  const at = addr.lastIndexOf('@');
  return at < 0 ? addr : addr.slice(0, at);
}

/**
 * The result for a delivery that threw. Local trouble is temporary (STYLE.md
 * rule 3): anything not explicitly permanent becomes a deferral.
 */
export function resultFromError(rcpt: string, err: unknown): RecipientResult {
  const e = toSysmailError(err);
  const text = e.hint ? `${e.message} (${e.hint})` : e.message;
  if (isSysmailError(err) && !err.temporary) {
    return { rcpt, outcome: 'failed', code: e.smtpCode ?? 550, dsn: e.dsn ?? '5.3.0', text };
  }
  return { rcpt, outcome: 'deferred', code: e.smtpCode ?? 451, dsn: e.dsn ?? '4.3.0', text };
}
