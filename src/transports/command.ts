/**
 * The `command` transport: runs a program for each message, like Postfix's
 * pipe(8), with the sysexits contract.
 *
 * Guarantees:
 * - No shell: argv is spawned as an array; placeholders ({subject} {body}
 *   {from} {to} {id} {host}) are substituted inside single elements only
 *   (placeholders.ts), so message content can never add or split arguments.
 * - One invocation per message, all recipients comma-joined in {to} and
 *   $SYSMAIL_TO; every recipient gets the same outcome.
 * - A minimal, clean environment: PATH, HOME, LANG, SYSMAIL_ID, SYSMAIL_FROM,
 *   SYSMAIL_TO. The parent's environment (which may hold secrets) is never
 *   passed on. The working directory is /.
 * - As root, the command runs as `cfg.user`, or as `nobody` when no user is
 *   set (set `user = "root"` to keep root, knowingly); supplementary groups
 *   are dropped. Not root: it runs as the current user and `user` is ignored.
 * - Outcome by exit status: 0 sent; 75 (EX_TEMPFAIL), 71 (EX_OSERR), death by
 *   a signal, a timeout, or a command that cannot be started -> deferred;
 *   any other status -> failed, with the status and the first line of stderr
 *   (bounded, control characters removed) in the text.
 * - Timeout: the command runs in its own process group (detached); on
 *   timeout the whole group is killed with SIGKILL, so helpers it started
 *   cannot outlive it.
 * Never throws for a delivery problem.
 */
import { basename } from 'node:path';
import type { CommandTransportConfig } from '../config/types.js';
import { dsnForExit, isTemporary, sysExit } from '../core/sysexits.js';
import { failureResult } from '../core/outcome.js';
import type { OutgoingMessage, Outcome, RecipientResult, Transport, TransportContext } from './types.js';
import { allRecipients } from './types.js';
import { isRoot } from './fsutil.js';
import { lookupUser, SYSTEM_PASSWD } from './passwd.js';
import { expandArgv, usesPlaceholder, type PlaceholderValues } from './placeholders.js';

export const COMMAND_DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The user a command runs as when sysmail is root and no `user` is configured. */
export const COMMAND_DEFAULT_USER = 'nobody';
/** After the command exits, how long to wait for its output pipes to close (a background child may hold them). */
export const COMMAND_PIPE_GRACE_MS = 1_000;
/** stderr kept for the delivery report. */
export const COMMAND_STDERR_MAX_BYTES = 4096;
export const COMMAND_REASON_MAX_CHARS = 200;

export interface CommandTransportOptions {
  /** passwd file used to resolve `user` (tests). Default /etc/passwd (+ NSS). */
  passwdPath?: string;
}

export interface RunOptions {
  env: Record<string, string>;
  stdin: Buffer | null;
  timeoutMs: number;
  uid?: number;
  gid?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stderr: string;
  spawnError?: NodeJS.ErrnoException;
}


/** First non-empty line of stderr, printable and bounded. */
export function firstLine(stderr: string): string {
  const line = stderr.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
  const clean = line.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '');
  return clean.length > COMMAND_REASON_MAX_CHARS ? clean.slice(0, COMMAND_REASON_MAX_CHARS) + '…' : clean;
}

/** Pure mapping of how the command ended to a delivery outcome. */
export function classifyExit(r: RunResult, what: string): { outcome: Outcome; code?: number; dsn: string; text: string } {
  const detail = firstLine(r.stderr);
  const tail = detail ? `: ${detail}` : '';
  if (r.spawnError) {
    const code = r.spawnError.code;
    const hint = code === 'ENOENT' ? ' (no such program: check argv[0] and that it is executable by the run-as user)'
      : code === 'EACCES' ? ' (permission denied: check the mode of the program)' : '';
    return { outcome: 'deferred', dsn: '4.3.0', text: `cannot start ${what}: ${r.spawnError.message}${hint}` };
  }
  if (r.timedOut) return { outcome: 'deferred', dsn: '4.3.0', text: `${what} timed out and was killed${tail}` };
  if (r.signal) return { outcome: 'deferred', dsn: '4.3.0', text: `${what} was killed by ${r.signal}${tail}` };
  if (r.code === null) return { outcome: 'deferred', dsn: '4.3.0', text: `${what} ended without an exit status${tail}` };
  const status = r.code;
  const name = sysExit(status)?.name;
  const label = name ? `${status} (${name})` : String(status);
  if (status === 0) return { outcome: 'sent', code: 0, dsn: '2.0.0', text: `${what} exited 0` };
  // Retry or bounce, and the status, from Postfix's sys_exits table (core/sysexits.ts).
  return { outcome: isTemporary(status) ? 'deferred' : 'failed', code: status, dsn: dsnForExit(status), text: `${what} exited ${label}${tail}` };
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
}

/** Spawns argv (no shell) in its own process group and waits for it, bounded by timeoutMs. */
export async function runCommand(argv: string[], o: RunOptions): Promise<RunResult> {
  const { spawn } = await import('node:child_process');
  return new Promise<RunResult>((resolve) => {
    const stderrChunks: Buffer[] = [];
    let stderrBytes = 0;
    let timedOut = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let grace: NodeJS.Timeout | undefined;
    const finish = (extra: Partial<RunResult> = {}) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(grace);
      resolve({ code: exited?.code ?? null, signal: exited?.signal ?? null, timedOut,
        stderr: Buffer.concat(stderrChunks).toString('utf8'), ...extra });
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(argv[0], argv.slice(1), {
        detached: true, env: o.env, cwd: '/', uid: o.uid, gid: o.gid, windowsHide: true,
        stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      finish({ spawnError: err as NodeJS.ErrnoException });
      return;
    }
    timer = setTimeout(() => {
      if (!exited) timedOut = true;
      killGroup(child.pid);
    }, o.timeoutMs);
    child.stdout?.on('data', () => { /* drained so the command never blocks on a full pipe */ });
    child.stderr?.on('data', (c: Buffer) => {
      if (stderrBytes < COMMAND_STDERR_MAX_BYTES) { stderrChunks.push(c.subarray(0, COMMAND_STDERR_MAX_BYTES - stderrBytes)); stderrBytes += c.length; }
    });
    child.on('error', (err) => finish({ spawnError: err as NodeJS.ErrnoException }));
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      grace = setTimeout(() => { child.stdout?.destroy(); child.stderr?.destroy(); finish(); }, COMMAND_PIPE_GRACE_MS);
    });
    child.on('close', () => finish());
    if (o.stdin && child.stdin) {
      child.stdin.on('error', () => { /* the command need not read its input (EPIPE) */ });
      child.stdin.end(o.stdin);
    }
  });
}

function envSafe(s: string): string {
  return s.replace(/\0/g, '');
}

/** The whole environment a command gets; nothing else from the parent. */
export function commandEnv(home: string, msg: OutgoingMessage, rcpts: string[]): Record<string, string> {
  return {
    PATH: COMMAND_DEFAULT_PATH,
    HOME: home,
    LANG: process.env.LANG && /^[\w.@-]+$/.test(process.env.LANG) ? process.env.LANG : 'C.UTF-8',
    SYSMAIL_ID: envSafe(msg.id),
    SYSMAIL_FROM: envSafe(msg.envelope.sender),
    SYSMAIL_TO: envSafe(rcpts.join(',')),
  };
}

export function createCommandTransport(cfg: CommandTransportConfig, ctx: TransportContext, opts: CommandTransportOptions = {}): Transport {
  const what = `command ${basename(cfg.argv[0] ?? '?')}`;
  const passwdPath = opts.passwdPath ?? SYSTEM_PASSWD;

  /** uid/gid/home to run as; a string is a reason to defer (a config problem the admin must fix). */
  async function runAs(): Promise<{ uid?: number; gid?: number; home: string } | string> {
    if (!isRoot()) return { home: process.env.HOME && !process.env.HOME.includes('\0') ? process.env.HOME : '/' };
    const name = cfg.user ?? COMMAND_DEFAULT_USER;
    const u = await lookupUser(name, passwdPath);
    if (!u || u.name !== name) {
      return `${what}: run-as user "${name}" does not exist (set transports.${cfg.name}.user to an existing user)`;
    }
    return { uid: u.uid, gid: u.gid, home: u.home || '/' };
  }

  return {
    name: cfg.name,
    type: 'command',
    async deliver(msg: OutgoingMessage, rcpts: string[]): Promise<RecipientResult[]> {
      if (rcpts.length === 0) return [];
      try {
        if (cfg.argv.length === 0 || !cfg.argv[0]) {
          return allRecipients(rcpts, { outcome: 'deferred', dsn: '4.3.0', text: `transports.${cfg.name}.argv is empty` });
        }
        const who = await runAs();
        if (typeof who === 'string') return allRecipients(rcpts, { outcome: 'deferred', dsn: '4.3.0', text: who });

        const needText = cfg.stdin === 'body' || usesPlaceholder(cfg.argv, 'subject') || usesPlaceholder(cfg.argv, 'body');
        const text = needText ? (await import('../message/text.js')).extractText(msg.raw) : { subject: '', text: '' };
        const values: PlaceholderValues = {
          subject: text.subject, body: text.text, from: msg.envelope.sender, to: rcpts.join(','),
          local: rcpts.map((r) => (r.includes('@') ? r.slice(0, r.lastIndexOf('@')) : r)).join(' '),
          id: msg.id, host: ctx.config.general.hostname,
        };
        const argv = expandArgv(cfg.argv, values);
        const stdin = cfg.stdin === 'message' ? msg.raw : cfg.stdin === 'body' ? Buffer.from(text.text + '\n', 'utf8') : null;
        ctx.log.verbose(`${what}: running for ${msg.id} as ${who.uid ?? 'self'}`);
        const r = await runCommand(argv, { env: commandEnv(who.home, msg, rcpts), stdin, timeoutMs: cfg.timeout, uid: who.uid, gid: who.gid });
        const { outcome, code, dsn, text: reason } = classifyExit(r, what);
        return allRecipients(rcpts, { outcome, code, dsn, text: reason });
      } catch (err) {
        // Local trouble (passwd unreadable, a bug): never a bounce.
        return allRecipients(rcpts, failureResult(err, { deferOnly: true, codes: 'none', hint: false, prefix: `${what}: ` }));
      }
    },
    async close() {},
  };
}
