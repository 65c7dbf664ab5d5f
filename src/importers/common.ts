/**
 * Small conversions shared by the importers: host[:port] parsing with the
 * service names peers accept, and the cleartext-credentials check.
 * Pure; problems become warnings, never exceptions.
 */
import { isLoopbackHost, type Draft, type DraftTransport, type Notes } from './model.js';

/** /etc/services names that peers accept in place of a port number. */
const SERVICES: Record<string, number> = { smtp: 25, submission: 587, smtps: 465, ssmtp: 465, urd: 465 };

export function parsePort(s: string): number | null {
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return n >= 1 && n <= 65535 ? n : null;
  }
  return SERVICES[s.toLowerCase()] ?? null;
}

/**
 * "host", "host:port", "host:service", "[v6]:port" or a bare IPv6 address.
 * `port` is null when none was given or it could not be read (then `bad` holds it).
 */
export function splitHostPort(v: string): { host: string; port: number | null; bad?: string } {
  let host = v;
  let portText: string | null = null;
  const br = /^\[([^\]]+)\](?::(.*))?$/.exec(v);
  if (br) {
    host = br[1]!;
    portText = br[2] ?? null;
  } else if ((v.match(/:/g) ?? []).length === 1) {
    const k = v.indexOf(':');
    host = v.slice(0, k);
    portText = v.slice(k + 1);
  }
  if (portText === null || portText === '') return { host, port: null };
  const port = parsePort(portText);
  return port === null ? { host, port: null, bad: portText } : { host, port };
}

/** Says so when a password would cross the network without TLS, as the peer did. */
export function warnCleartextAuth(draft: Draft, t: DraftTransport, notes: Notes, line: number, file?: string): void {
  const host = draft.get(t, 'host');
  if (draft.get(t, 'security') !== 'none' || !draft.get(t, 'username') || typeof host !== 'string') return;
  if (isLoopbackHost(host)) return;
  notes.warn(line, `transport "${t.name}" logs in to ${host} without TLS (security = "none"), as before: the password crosses the network in the clear; set security = "starttls" if the server offers it`, file);
}

/** Moves a plaintext password into a secret file and says so (never silently). */
export function movePassword(draft: Draft, notes: Notes, t: DraftTransport, value: string, line: number, file?: string): void {
  const path = draft.addPassword(t, value);
  notes.warn(line, `the plaintext password was moved to ${path} (written with mode 0600); the TOML only references it with password_file`, file);
  if (/[\r\n]/.test(value)) {
    notes.warn(line, `the password contains a line break, but sysmail reads only the first line of a password file: use password_command for transport "${t.name}" instead`, file);
  }
}
