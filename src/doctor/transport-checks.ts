/**
 * One reachability check per configured transport, without delivering:
 * SMTP and OCI are probed over the network (smtp-probe.ts, oci-probe.ts);
 * maildir, mbox, local and motd need a directory we can write; a command
 * transport needs its program to exist and be executable. Read-only.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Config, SmtpTransportConfig, TransportConfig } from '../config/types.js';
import { fail, info, ok, warn, type CheckResult } from './report.js';
import { approvedSenderRelay } from '../transports/from-rewrite.js';

/** Nearest existing directory at or above `p`. */
async function existingAncestor(p: string): Promise<string> {
  for (let d = p; ; d = dirname(d)) {
    try { if ((await stat(d)).isDirectory()) return d; } catch { /* keep climbing */ }
    if (dirname(d) === d) return d;
  }
}

async function writable(p: string): Promise<boolean> {
  try { await access(p, constants.W_OK | constants.X_OK); return true; } catch { return false; }
}

/** A directory that exists and is writable, or can be made (its nearest parent is writable). */
async function dirVerdict(name: string, what: string, dir: string): Promise<CheckResult> {
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) return fail(name, `${what} ${dir} is not a directory`, `move it away, or point the transport elsewhere`);
    return (await writable(dir)) ? ok(name, `${what} ${dir} is writable`)
      : fail(name, `${what} ${dir} is not writable by uid ${process.geteuid?.() ?? '?'}`, `chown or chmod ${dir} so the sysmail service (root) can write it`);
  } catch {
    const parent = await existingAncestor(dir);
    return (await writable(parent)) ? ok(name, `${what} ${dir} does not exist yet; it will be made under ${parent}`)
      : fail(name, `${what} ${dir} does not exist and ${parent} is not writable`, `mkdir -p ${dir}`);
  }
}

/**
 * The check for one transport. The switch names every type and has no default, so a new
 * transport type without a doctor check fails to compile.
 */
async function checkTransport(t: TransportConfig, config: Config, now: () => number): Promise<CheckResult[]> {
  const name = `transport ${t.name}`;
  switch (t.type) {
    case 'smtp': {
      const w = approvedSenderWarning(t);
      return [await (await import('./smtp-probe.js')).probeSmtp(t, config), ...(w ? [w] : [])];
    }
    case 'oci-notifications': return (await import('./oci-probe.js')).probeOci(t, now);
    case 'maildir': case 'mbox': case 'local': case 'motd': case 'stdout': case 'command':
      return [await checkLocalTransport(t, name)];
  }
}

async function checkLocalTransport(t: Exclude<TransportConfig, { type: 'smtp' | 'oci-notifications' }>, name: string): Promise<CheckResult> {
  switch (t.type) {
    case 'maildir': return dirVerdict(name, 'maildir', t.path);
    case 'mbox': {
      try {
        const st = await stat(t.path);
        if (!st.isFile()) return fail(name, `mbox ${t.path} is not a regular file`, `point transports.${t.name}.path at a file`);
        try { await access(t.path, constants.W_OK); return ok(name, `mbox ${t.path} is writable`); } catch {
          return fail(name, `mbox ${t.path} is not writable`, `chown or chmod ${t.path}`);
        }
      } catch { return dirVerdict(name, 'mbox directory', dirname(t.path)); }
    }
    case 'local':
      if (t.format === 'maildir') return info(name, `local: delivers to ~/${t.maildirName} of each recipient user`);
      return dirVerdict(name, 'local mail directory', t.mailDir);
    case 'motd': return dirVerdict(name, 'motd directory', dirname(t.path));
    case 'stdout': return info(name, 'stdout: prints to standard output (the journal, under sysmail serve)');
    case 'command': {
      const prog = t.argv[0] ?? '';
      try {
        const st = await stat(prog);
        if (!st.isFile()) return fail(name, `command ${prog} is not a regular file`, `fix transports.${t.name}.argv`);
        await access(prog, constants.X_OK);
        return ok(name, `command ${prog} exists and is executable`);
      } catch (e) {
        const errno = (e as NodeJS.ErrnoException).code;
        return errno === 'ENOENT' ? fail(name, `command ${prog} does not exist`, `install it, or fix transports.${t.name}.argv (the full path)`)
          : fail(name, `command ${prog} is not executable (${errno})`, `chmod 755 ${prog}`);
      }
    }
  }
}

export async function checkTransports(config: Config, now: () => number): Promise<CheckResult[]> {
  const used = new Set(config.routes.flatMap((r) => r.transports));
  const out: CheckResult[] = [];
  // One after another: a doctor's output should read in config order, and the probes are few.
  for (const t of Object.values(config.transports)) {
    if (!used.has(t.name)) out.push(info(`transport ${t.name}`, 'not used by any route'));
    out.push(...await checkTransport(t, config, now));
  }
  return out;
}

/** Pure: a warning when the transport's host is a relay known to refuse unapproved From headers and rewrite_from is unset. */
export function approvedSenderWarning(t: SmtpTransportConfig): CheckResult | null {
  const relay = approvedSenderRelay(t.host);
  if (!relay || t.rewriteFrom) return null;
  return warn(`transport ${t.name}`, `${t.host} is ${relay}, which refuses a From that is not an approved sender (cron's "From: root (Cron Daemon)" among them)`,
    `add rewrite_from = "<approved sender>" to [transports.${t.name}] (docs/CONFIG.md)`);
}
