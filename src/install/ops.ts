/**
 * The primitive operations of install, each idempotent and recorded:
 * make a directory, set a mode, write a file, make a symlink, move an
 * original aside, run a command. Each first looks at what is there: if it is
 * already as wanted it says "already" and changes nothing; it never
 * overwrites a file it did not write; with --dry-run it only says what it
 * would do. Every change is appended to `changes` for the state file.
 *
 * Under --root every path is inside the staging tree. Commands: Debian's
 * dpkg-divert and update-alternatives understand --root and are run with it
 * when the tree has a dpkg database; every other command (RHEL alternatives,
 * systemctl, semodule) is recorded and printed, not run, because it would act
 * on this host rather than on the tree.
 */
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, open, readFile, readlink, rename, stat, symlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EX, SysmailError } from '../core/errors.js';
import type { Runner, RunResult } from '../system/exec.js';
import { shellQuote } from '../system/exec.js';
import { under } from '../system/distro.js';
import type { Change, InstallState } from './state.js';

export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const octal = (m: number) => (m & 0o7777).toString(8).padStart(4, '0');

/** Commands that understand --root and act only inside the staging tree. */
const ROOTABLE = new Set(['dpkg-divert', 'update-alternatives']);

export class Ops {
  readonly changes: Change[] = [];
  done = 0;
  /** --dry-run: the changes listed as "would" (so the summary counts what it lists). */
  planned = 0;
  already = 0;
  kept = 0;

  constructor(
    readonly root: string,
    readonly dryRun: boolean,
    private readonly runner: Runner,
    readonly out: (line: string) => void,
    readonly prev: InstallState | null,
    /** Under --root: run dpkg-divert/update-alternatives with --root (the tree has /var/lib/dpkg). */
    readonly rootedDebianTools: boolean,
  ) {}

  p(path: string): string { return under(this.root, path); }

  private say(verb: string, what: string): void { this.out(`  ${verb.padEnd(9)} ${what}`); }
  private would(what: string): void { this.planned++; this.say('would', what); }
  private record(c: Change): void { this.changes.push(c); this.done++; }
  note(what: string): void { this.say('note', what); }
  leaveAsIs(what: string): void { this.kept++; this.say('kept', what); }
  isAlready(what: string): void { this.already++; this.say('already', what); }

  /** Would this command run for real here (not just be recorded)? */
  canRun(argv: string[]): boolean {
    return this.root === '/' || (this.rootedDebianTools && ROOTABLE.has(argv[0]!));
  }

  /** Runs a read-only query (allowed in --dry-run); rooted like the changes. */
  async query(argv: string[]): Promise<RunResult | null> {
    if (!this.canRun(argv)) return null;
    return this.runner(this.root === '/' ? argv : [argv[0]!, '--root', this.root, ...argv.slice(1)]);
  }

  /** Creates missing parents of `path` (0755), recorded so uninstall removes them when empty. */
  async parents(path: string): Promise<void> {
    const missing: string[] = [];
    for (let d = dirname(path); d !== '/' && d !== '.'; d = dirname(d)) {
      try { await stat(this.p(d)); break; } catch { missing.unshift(d); }
    }
    for (const d of missing) await this.dir(d, 0o755, false);
  }

  /** A directory with this mode; `own`: fix the mode of one that exists (recorded, restored on uninstall). */
  async dir(path: string, mode: number, own: boolean): Promise<void> {
    let st;
    try { st = await stat(this.p(path)); } catch { st = null; }
    if (st && !st.isDirectory()) {
      throw new SysmailError('EINSTALL', `${this.p(path)} exists and is not a directory`, { exit: EX.CANTCREAT, hint: 'move it away, then run sysmail install again' });
    }
    if (st) {
      if (!own || (st.mode & 0o7777) === mode) { this.isAlready(`${path} (${octal(st.mode)})`); return; }
      if (this.dryRun) { this.would(`chmod ${octal(mode)} ${path} (now ${octal(st.mode)})`); return; }
      await chmod(this.p(path), mode);
      this.record({ kind: 'chmod', path, from: st.mode & 0o7777, to: mode });
      this.say('changed', `${path}: mode ${octal(st.mode)} -> ${octal(mode)}`);
      return;
    }
    if (this.dryRun) { this.would(`mkdir -m ${octal(mode)} ${path}`); return; }
    await this.parents(path);
    await mkdir(this.p(path), { mode });
    await chmod(this.p(path), mode); // mkdir's mode is cut by the umask
    this.record({ kind: 'dir', path, mode });
    this.say('created', `${path} (${octal(mode)})`);
  }

  /**
   * A file with this content and mode. An existing file is replaced only when
   * it is still exactly what a previous install wrote (`upgrade`); anything
   * else (the admin's config, another package's file) is kept.
   */
  async file(path: string, content: string | Buffer, mode: number, opts: { upgrade: boolean }): Promise<void> {
    const want = sha256(content);
    let have: string | null = null;
    let haveMode = 0;
    try {
      const st = await lstat(this.p(path));
      haveMode = st.mode & 0o7777;
      have = st.isFile() ? sha256(await readFile(this.p(path))) : 'not-a-file';
    } catch { have = null; }
    if (have === want && haveMode === mode) { this.isAlready(path); return; }
    if (have !== null) {
      const mine = this.prev?.changes.some((c) => c.kind === 'file' && c.path === path && c.sha256 === have);
      if (!opts.upgrade || !mine) { this.leaveAsIs(`${path} exists and differs from the packaged one; left as it is`); return; }
    }
    if (this.dryRun) { this.would(`${have === null ? 'write' : 'update'} ${path} (${octal(mode)})`); return; }
    await this.parents(path);
    const tmp = `${this.p(path)}.sysmail-new`;
    const fh = await open(tmp, 'w', mode);
    try { await fh.writeFile(content); await fh.sync(); } finally { await fh.close(); }
    await chmod(tmp, mode);
    await rename(tmp, this.p(path));
    this.record({ kind: 'file', path, sha256: want, mode });
    this.say(have === null ? 'created' : 'updated', `${path} (${octal(mode)})`);
  }

  async symlink(path: string, target: string): Promise<void> {
    try {
      if ((await readlink(this.p(path))) === target) { this.isAlready(`${path} -> ${target}`); return; }
    } catch { /* not a symlink, or missing */ }
    if (this.dryRun) { this.would(`ln -s ${target} ${path}`); return; }
    await this.parents(path);
    await symlink(target, this.p(path));
    this.record({ kind: 'symlink', path, target });
    this.say('created', `${path} -> ${target}`);
  }

  /** Moves an original aside; never over something already there. */
  async move(from: string, to: string): Promise<void> {
    if (this.dryRun) { this.would(`mv ${from} ${to}`); return; }
    try { await lstat(this.p(to)); throw new SysmailError('EINSTALL', `cannot keep ${from}: ${this.p(to)} already exists`, { exit: EX.CANTCREAT, hint: `look at both files, remove the one you do not need, then run sysmail install again` }); } catch (e) {
      if (e instanceof SysmailError) throw e;
    }
    await this.parents(to);
    await rename(this.p(from), this.p(to));
    this.record({ kind: 'move', from, to });
    this.say('moved', `${from} -> ${to} (kept; restored by sysmail uninstall)`);
  }

  /** Runs (or records) a command that changes the system; `undo` is what uninstall runs. */
  async command(argv: string[], undo: string[][]): Promise<void> {
    if (!this.canRun(argv)) {
      const seen = this.prev?.changes.some((c) => c.kind === 'command' && shellQuote(c.argv) === shellQuote(argv));
      if (seen) { this.isAlready(`recorded: ${shellQuote(argv)}`); return; }
      if (this.dryRun) { this.would(`record: ${shellQuote(argv)}`); return; }
      this.record({ kind: 'command', argv, undo, ran: false });
      this.say('recorded', `${shellQuote(argv)}   (not run under --root: run it on the target system)`);
      return;
    }
    if (this.dryRun) { this.would(`run: ${shellQuote(argv)}`); return; }
    const r = await this.query(argv);
    if (!r || r.code !== 0) {
      throw new SysmailError('EINSTALL', `${shellQuote(argv)} failed (exit ${r?.code}): ${(r?.stderr || r?.stdout || '').trim().slice(0, 500)}`,
        { exit: EX.OSERR, hint: 'the changes made so far are recorded; fix the cause and run sysmail install again, or sysmail uninstall' });
    }
    this.record({ kind: 'command', argv, undo, ran: true });
    this.say('ran', shellQuote(argv));
  }
}
