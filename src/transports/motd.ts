/**
 * The `motd` transport: the last `keep` notices, newest first, in a file
 * shown at login (default /etc/motd.d/sysmail, read by pam_motd).
 *
 * Guarantees:
 * - Each notice is a short block: a mark line with date and host, the
 *   subject, and the first MOTD_BODY_MAX_LINES lines / MOTD_BODY_MAX_CHARS
 *   characters of the text body. Control characters (ESC, C1, bidi overrides)
 *   are removed, so no terminal escape from a message reaches a login screen.
 * - Older notices are recovered by parsing the current file: a block starts
 *   at a line beginning with MOTD_MARK, and every other line of a block is
 *   indented or starts with "Subject:", so content can never forge a block.
 *   Recovered blocks are sanitised and bounded again.
 * - The file is replaced atomically (temporary file in the same directory,
 *   fsync, rename, fsync of the directory) with mode 0644; the parent
 *   directory is created when missing. The temporary name starts with a dot,
 *   and leftovers from a crash are removed on the next write.
 * - Writers within one process are serialised. Two processes writing at the
 *   same instant can lose one notice from the file (never the mail's outcome);
 *   no lock file is used because pam_motd would print it at login.
 * Failure: every recipient is deferred (local I/O); never throws.
 */
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { MotdTransportConfig } from '../config/types.js';
import { ioError } from '../core/errors.js';
import type { OutgoingMessage, RecipientResult, Transport, TransportContext } from './types.js';
import { allRecipients } from './types.js';
import { fsyncDir, uniqueToken, writeAll } from './fsutil.js';
import { resultFromError } from './mailbox.js';

export const MOTD_MARK = '*** sysmail notice';
export const MOTD_BODY_MAX_LINES = 10;
export const MOTD_BODY_MAX_CHARS = 800;
export const MOTD_SUBJECT_MAX_CHARS = 200;
export const MOTD_HOST_MAX_CHARS = 100;
/** A recovered block longer than this was edited by hand; it is cut. */
export const MOTD_BLOCK_MAX_LINES = MOTD_BODY_MAX_LINES + 3;
/** A temporary file older than this belongs to a crashed writer. */
export const MOTD_STALE_TMP_MS = 60_000;

export interface MotdNotice {
  at: Date;
  host: string;
  subject: string;
  text: string;
}

/** One printable line: tabs become spaces; C0, DEL, C1 and bidi controls are dropped. */
export function sanitizeLine(s: string): string {
  return s.replace(/\t/g, ' ')
    .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '')
    .trimEnd();
}

function bound(s: string, max: number): string {
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** "2025-01-02 03:04 +0100" in local time. */
export function formatMotdDate(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const a = Math.abs(off);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())} ` +
    `${sign}${pad2(Math.floor(a / 60))}${pad2(a % 60)}`;
}

/** The block for one notice (no trailing newline). */
export function formatNotice(n: MotdNotice): string {
  const host = bound(sanitizeLine(n.host).trim(), MOTD_HOST_MAX_CHARS) || 'unknown host';
  const subject = bound(sanitizeLine(n.subject).trim(), MOTD_SUBJECT_MAX_CHARS) || '(no subject)';
  const lines: string[] = [`${MOTD_MARK} - ${formatMotdDate(n.at)} - ${host}`, `Subject: ${subject}`];
  const body = n.text.split(/\r?\n/).map(sanitizeLine);
  while (body.length > 0 && body[0].trim() === '') body.shift();
  let chars = 0;
  let shown = 0;
  let cut = false;
  for (const line of body) {
    if (shown >= MOTD_BODY_MAX_LINES || chars >= MOTD_BODY_MAX_CHARS) break;
    const piece = line.slice(0, MOTD_BODY_MAX_CHARS - chars);
    if (piece.length < line.length) cut = true;
    lines.push(piece === '' ? '' : `  ${piece}`);
    chars += piece.length + 1;
    shown++;
  }
  if (cut || body.slice(shown).some((l) => l.trim() !== '')) lines.push('  [...]');
  if (shown === 0) lines.push('  (no text)');
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.join('\n');
}

/** The blocks of an existing motd file, in file order (newest first); text outside blocks is dropped. */
export function parseNotices(fileText: string): string[] {
  const blocks: string[][] = [];
  for (const raw of fileText.split('\n')) {
    const line = sanitizeLine(raw);
    if (line.startsWith(MOTD_MARK)) { blocks.push([line]); continue; }
    const cur = blocks[blocks.length - 1];
    if (cur && cur.length < MOTD_BLOCK_MAX_LINES) cur.push(line);
  }
  return blocks.map((b) => {
    while (b.length > 1 && b[b.length - 1].trim() === '') b.pop();
    return b.join('\n');
  });
}

/** The new file: the new block, then up to keep-1 previous ones, separated by blank lines. */
export function renderMotd(newBlock: string, previous: string[], keep: number): string {
  return [newBlock, ...previous].slice(0, Math.max(1, keep)).join('\n\n') + '\n';
}

/** Replaces `path` with `content` atomically, mode 0644. */
export async function replaceFileAtomic(path: string, content: string): Promise<void> {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.tmp-`;
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await removeStaleTemps(dir, prefix);
  const tmp = join(dir, `${prefix}${process.pid}-${uniqueToken()}`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    try {
      await fh.chmod(0o644); // the umask must not make the notice unreadable at login
      await writeAll(fh, Buffer.from(content, 'utf8'));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fsyncDir(dir);
}

async function removeStaleTemps(dir: string, prefix: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const p = join(dir, n);
    const st = await stat(p).catch(() => null);
    if (st && Date.now() - st.mtimeMs > MOTD_STALE_TMP_MS) await unlink(p).catch(() => {});
  }
}

/** The originating host: the X-Sysmail-Host header when the message has one, else ours. */
export function originHost(raw: Buffer, fallback: string): string {
  const s = raw.subarray(0, 64 * 1024).toString('utf8');
  const end = s.search(/\r?\n\r?\n/);
  const head = end < 0 ? s : s.slice(0, end);
  const m = /^x-sysmail-host:[ \t]*([^\r\n]*)/im.exec(head);
  return m && m[1].trim() ? m[1].trim() : fallback;
}

const queues = new Map<string, Promise<unknown>>();

/** Runs fn after every earlier write to the same path in this process. */
function serialised<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const prev = queues.get(path) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const tail = next.catch(() => {});
  queues.set(path, tail);
  void tail.then(() => { if (queues.get(path) === tail) queues.delete(path); });
  return next;
}

/** Adds one notice to the motd file at `path`, keeping `keep` notices. */
export async function addMotdNotice(path: string, notice: MotdNotice, keep: number): Promise<void> {
  await serialised(path, async () => {
    try {
      const current = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return '';
        throw err;
      });
      await replaceFileAtomic(path, renderMotd(formatNotice(notice), parseNotices(current), keep));
    } catch (err) {
      throw ioError(`cannot update the motd file ${path}`, err);
    }
  });
}

/** One notice per message; every recipient shares the outcome. */
export function createMotdTransport(cfg: MotdTransportConfig, ctx: TransportContext): Transport {
  return {
    name: cfg.name,
    type: 'motd',
    async deliver(msg: OutgoingMessage, rcpts: string[]): Promise<RecipientResult[]> {
      if (rcpts.length === 0) return [];
      try {
        const { extractText } = await import('../message/text.js');
        const { subject, text } = extractText(msg.raw);
        await addMotdNotice(cfg.path, {
          at: new Date(ctx.now()), host: originHost(msg.raw, ctx.config.general.hostname), subject, text,
        }, cfg.keep);
        return allRecipients(rcpts, { outcome: 'sent', code: 250, dsn: '2.0.0', text: `notice written to ${cfg.path}` });
      } catch (err) {
        return rcpts.map((r) => resultFromError(r, err));
      }
    },
    async close() {},
  };
}
