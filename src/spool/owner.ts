/**
 * Who holds a claim, written into file names: "<pid>.<starttime>.<boot>".
 *
 * Node has no flock, and a daemon-free spool cannot ask anyone, so a claim
 * names its owner and anyone can check whether that owner still runs. The
 * kernel start time (field 22 of /proc/<pid>/stat) tells a reused pid from the
 * owner; the first 8 hex digits of the boot id tell a pid of this boot from
 * one of the last (after a reboot every claim is stale). A zombie counts as
 * dead. Without /proc (not Linux) the check falls back to kill(pid, 0).
 *
 * Limitation: every process using one spool must share a pid namespace, or a
 * live claim made in another namespace looks dead (docs/QUEUE-FORMAT.md).
 */
import { readFileSync } from 'node:fs';

export interface Owner { pid: number; start: string; boot: string }

const TOKEN_RE = /^([1-9][0-9]{0,9})\.([0-9]{1,20})\.([0-9a-f]{1,8})$/;

function procStat(pid: number): { state: string; start: string } | null {
  let text: string;
  // 'utf8': Node reads such a file in one native call (latin1 or a Buffer take a JS loop of 64 KiB
  // reads for a file whose size says 0, ~0.1 ms). Only comm could hold non-ASCII bytes, and a
  // decoder never swallows the ASCII ')' after it, so the fields used are the same.
  try { text = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return null; }
  // comm (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const start = rest[19];
  return state && start && isDigits(start) ? { state, start } : null;
}

// Loops, not regular expressions: each costs ~0.02 ms at its first use, on every sendmail.
/** /^[0-9]+$/ */
function isDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) { const c = s.charCodeAt(i); if (c < 0x30 || c > 0x39) return false; }
  return s.length > 0;
}

function readBoot(): string {
  try {
    // The first 8 of its lowercase hex digits (the dashes and the newline dropped).
    const text = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'); // ASCII; 'utf8': see procStat
    let hex = '';
    for (let i = 0; i < text.length && hex.length < 8; i++) { const c = text.charCodeAt(i); if ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)) hex += text[i]; }
    return hex || '0';
  } catch { return '0'; }
}

let self: { token: string; owner: Owner } | null = null;

function selfOwner(): { token: string; owner: Owner } {
  if (self === null || self.owner.pid !== process.pid) {
    const owner: Owner = { pid: process.pid, start: procStat(process.pid)?.start ?? '0', boot: readBoot() };
    self = { token: `${owner.pid}.${owner.start}.${owner.boot}`, owner };
  }
  return self;
}

/** This process's owner token, for claim and temp file names. */
export function selfToken(): string {
  return selfOwner().token;
}

export function parseToken(s: string): Owner | null {
  const m = TOKEN_RE.exec(s);
  return m ? { pid: Number(m[1]), start: m[2] as string, boot: m[3] as string } : null;
}

export function isSelf(o: Owner): boolean {
  const me = selfOwner().owner;
  return o.pid === me.pid && o.start === me.start && o.boot === me.boot;
}

/** True while the process that made the token still runs. */
export function isAlive(o: Owner): boolean {
  const me = selfOwner().owner;
  if (o.boot !== me.boot) return false;
  if (me.start === '0') {
    // No /proc: the best we can do is "some process has this pid".
    try { process.kill(o.pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
  }
  const st = procStat(o.pid);
  if (st === null) return false;
  if (st.state === 'Z' || st.state === 'X') return false;
  return st.start === o.start;
}

/** Splits "<tag>.<pid>.<start>.<boot>" into the tag and a parsed owner. */
export function splitOwned(name: string): { tag: string; owner: Owner } | null {
  const parts = name.split('.');
  if (parts.length < 4) return null;
  const owner = parseToken(parts.slice(-3).join('.'));
  return owner ? { tag: parts.slice(0, -3).join('.'), owner } : null;
}
