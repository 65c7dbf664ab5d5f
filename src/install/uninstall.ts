/**
 * `sysmail uninstall`: undoes, in reverse order, exactly the changes listed
 * in /var/lib/sysmail/install-state.json, and nothing else.
 *
 * Never destroys: a file is removed only when its content is still what
 * install wrote (an edited config is kept and named); a directory only when
 * it is empty (a spool with mail in it is kept and named); an original moved
 * aside is put back only where nothing else now stands. Commands are undone
 * with the recorded undo commands (alternatives --remove, dpkg-divert
 * --remove --rename, systemctl disable); those recorded but never run (a
 * --root install of a non-Debian tree) need no undo. The state file goes
 * last, and only when everything was undone; what was kept is left recorded
 * so a second uninstall can finish the job.
 */
import { chmod, lstat, readdir, readFile, readlink, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { EX, SysmailError } from '../core/errors.js';
import type { Runner } from '../system/exec.js';
import { shellQuote } from '../system/exec.js';
import { detectDistro, under } from '../system/distro.js';
import { STATE_FILE } from '../system/layout.js';
import { sha256 } from './ops.js';
import { readState, writeState, type Change } from './state.js';

export interface UninstallOptions {
  root: string;
  dryRun: boolean;
  run: Runner;
  out: (line: string) => void;
}

const octal = (m: number) => (m & 0o7777).toString(8).padStart(4, '0');
const ROOTABLE = new Set(['dpkg-divert', 'update-alternatives']);

export async function runUninstall(opts: UninstallOptions): Promise<{ undone: number; kept: number }> {
  if (opts.root === '/' && process.geteuid?.() !== 0) {
    throw new SysmailError('ENOPERM', 'sysmail uninstall changes /etc, /var and /usr and must run as root', { exit: EX.NOPERM, hint: 'sudo sysmail uninstall' });
  }
  const p = (path: string) => under(opts.root, path);
  const stateFile = p(STATE_FILE);
  const state = await readState(stateFile);
  if (!state) {
    throw new SysmailError('ENOTINSTALLED', `${stateFile} does not exist: nothing here was installed by sysmail install, so there is nothing to undo`,
      { exit: EX.NOINPUT, hint: 'if sysmail was installed by a distribution package, remove that package instead' });
  }
  const distro = await detectDistro(opts.root);
  const rooted = opts.root !== '/' && distro.family === 'debian' && await stat(p('/var/lib/dpkg')).then(() => true, () => false);
  const say = (verb: string, what: string) => opts.out(`  ${verb.padEnd(9)} ${what}`);
  const would = (what: string) => say('would', what);
  opts.out(`sysmail uninstall${opts.dryRun ? ' --dry-run' : ''}${opts.root === '/' ? '' : `: ${opts.root}`}`);

  // The directories that hold the state file go last, after the file itself, and only when all else is undone.
  const holdsState = (c: Change) => c.kind === 'dir' && STATE_FILE.startsWith(c.path + '/');
  const keep: Change[] = [];
  let undone = 0;
  for (const c of [...state.changes].reverse()) {
    if (holdsState(c)) continue;
    const r = await undo(c);
    if (r) undone++; else keep.unshift(c);
  }
  const stateDirs = state.changes.filter(holdsState);

  async function undo(c: Change): Promise<boolean> {
    switch (c.kind) {
      case 'dir': {
        let entries: number;
        try { entries = (await readdir(p(c.path))).length; } catch { return true; }
        if (entries > 0) { say('kept', `${c.path}: not empty`); return false; }
        if (opts.dryRun) { would(`rmdir ${c.path}`); return true; }
        await rmdir(p(c.path));
        say('removed', c.path);
        return true;
      }
      case 'chmod': {
        let st;
        try { st = await stat(p(c.path)); } catch { return true; }
        if ((st.mode & 0o7777) !== c.to) { say('kept', `${c.path}: mode changed since install (${octal(st.mode)})`); return true; }
        if (opts.dryRun) { would(`chmod ${octal(c.from)} ${c.path}`); return true; }
        await chmod(p(c.path), c.from);
        say('restored', `${c.path}: mode ${octal(c.from)}`);
        return true;
      }
      case 'file': {
        let have: string;
        try { have = sha256(await readFile(p(c.path))); } catch { return true; }
        if (have !== c.sha256) { say('kept', `${c.path}: changed since install (remove it by hand if you do not need it)`); return false; }
        if (opts.dryRun) { would(`rm ${c.path}`); return true; }
        await unlink(p(c.path));
        say('removed', c.path);
        return true;
      }
      case 'symlink': {
        try { if ((await readlink(p(c.path))) !== c.target) { say('kept', `${c.path}: no longer points to ${c.target}`); return true; } } catch { return true; }
        if (opts.dryRun) { would(`rm ${c.path}`); return true; }
        await unlink(p(c.path));
        say('removed', c.path);
        return true;
      }
      case 'move': {
        try { await lstat(p(c.to)); } catch { say('kept', `${c.to} is gone: cannot restore ${c.from}`); return true; }
        if (await lstat(p(c.from)).then(() => true, () => false)) { say('kept', `${c.to}: ${c.from} exists again, so the original stays aside`); return false; }
        if (opts.dryRun) { would(`mv ${c.to} ${c.from}`); return true; }
        await rename(p(c.to), p(c.from));
        say('restored', `${c.from} (from ${c.to})`);
        return true;
      }
      case 'command': {
        if (!c.ran) { say('skipped', `${shellQuote(c.argv)} was only recorded, never run: nothing to undo`); return true; }
        for (const argv of c.undo) {
          const canRun = opts.root === '/' || (rooted && ROOTABLE.has(argv[0]!));
          if (!canRun) { say('todo', `run on the target: ${shellQuote(argv)}`); continue; }
          if (opts.dryRun) { would(`run: ${shellQuote(argv)}`); continue; }
          const real = opts.root === '/' ? argv : [argv[0]!, '--root', opts.root, ...argv.slice(1)];
          const r = await opts.run(real);
          if (r.code !== 0) { say('failed', `${shellQuote(argv)} (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(0, 300)}`); return false; }
          say('ran', shellQuote(argv));
        }
        return true;
      }
    }
  }

  if (keep.length > 0) {
    if (!opts.dryRun) await writeState(stateFile, { ...state, changes: [...stateDirs, ...keep] });
    opts.out(`sysmail uninstall: undid ${undone} change(s); kept ${keep.length} (listed above${opts.dryRun ? '' : `, still recorded in ${STATE_FILE}`})`);
    return { undone, kept: keep.length };
  }
  if (opts.dryRun) would(`rm ${STATE_FILE}`);
  else await unlink(stateFile);
  for (const c of [...stateDirs].reverse()) if (await undo(c)) undone++;
  opts.out(`sysmail uninstall: ${opts.dryRun ? 'would undo' : 'undid'} ${undone} change(s)`);
  return { undone, kept: 0 };
}
