/**
 * What local mailbox transports add to a message: the trace headers MTAs put
 * at the top on final delivery (`Return-Path:` with the envelope sender,
 * `Delivered-To:` with the recipient), and address helpers.
 *
 * Pure functions. Addresses reaching here are already sanitised upstream; CR,
 * LF and NUL are still removed so a header can never be split.
 */
import { failureResult } from '../core/outcome.js';
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
 * The result for a delivery that threw (core/outcome.ts): anything not
 * explicitly permanent is a deferral, with the 451/550 a final-delivery MTA gives.
 */
export function resultFromError(rcpt: string, err: unknown): RecipientResult {
  return { rcpt, ...failureResult(err, { codes: 'mta' }) };
}
