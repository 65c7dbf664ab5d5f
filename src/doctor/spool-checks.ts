/**
 * Doctor checks for the places sysmail writes: the spool (exists, owner,
 * the modes src/spool/fsutil.ts gives it: root 0711, private areas 0700,
 * drop/ 01777), free space, the RAM spool mode, and the event log's
 * directory. Read-only: stat and statfs only.
 */
import { stat, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Config } from '../config/types.js';
import { SPOOL_DROP_MODE, SPOOL_PRIVATE, SPOOL_PRIVATE_MODE, SPOOL_ROOT_MODE } from '../system/layout.js';
import { fail, info, ok, warn, type CheckResult } from './report.js';

const octal = (m: number) => (m & 0o7777).toString(8).padStart(4, '0');

/** statfs f_type of the RAM file systems (linux/magic.h). */
export const TMPFS_MAGIC = 0x01021994;
export const RAMFS_MAGIC = 0x858458f6;
/** Warn below either: the queue and its state need room to be written. */
export const LOW_SPACE_PERCENT = 5;
export const LOW_SPACE_BYTES = 100 * 1024 * 1024;

const mkSpoolFix = (dir: string) =>
  `sysmail install   (or: mkdir -p -m 0711 ${dir} && mkdir -p -m 0700 ${SPOOL_PRIVATE.map((a) => join(dir, a)).join(' ')} && mkdir -p ${join(dir, 'drop')} && chmod 1777 ${join(dir, 'drop')})`;

const human = (n: number) => n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`;

/** Pure verdict on free space. */
export function spaceVerdict(dir: string, s: { bavail: number; blocks: number; bsize: number }, maxMessageSize: number): CheckResult {
  const free = s.bavail * s.bsize;
  const pct = s.blocks > 0 ? (100 * s.bavail) / s.blocks : 0;
  const detail = `${human(free)} free on the file system of ${dir} (${pct.toFixed(1)} %)`;
  if (free < maxMessageSize) {
    return fail('free space', `${detail}: less than one message of general.max_message_size (${human(maxMessageSize)}); mail is refused with "try again later"`,
      `free space on that file system (journalctl --vacuum-size=100M, apt-get clean / dnf clean all), then sysmail flush`);
  }
  if (pct < LOW_SPACE_PERCENT || free < LOW_SPACE_BYTES) {
    return warn('free space', `${detail}: low`, `free space on that file system before it fills: du -xsh /var/* | sort -h`);
  }
  return ok('free space', detail);
}

/** Pure verdict on spool.mode against the file system type. */
export function ramVerdict(dir: string, mode: 'disk' | 'ram', fsType: number): CheckResult {
  const onRam = fsType === TMPFS_MAGIC || fsType === RAMFS_MAGIC;
  if (mode === 'ram') {
    if (!onRam) {
      return warn('spool mode', `spool.mode = "ram" but ${dir} is not on tmpfs: queued mail is written to disk without fsync, `
        + 'so it neither spares the flash nor survives a crash',
      `mount a tmpfs there (fstab: tmpfs ${dir} tmpfs mode=0711,size=64m 0 0) and recreate the layout at boot (docs/INSTALL.md, "The RAM spool"); or set spool.mode = "disk"`);
    }
    return warn('spool mode', `spool.mode = "ram": ${dir} is on tmpfs; a power loss or reboot LOSES every queued message (spares the flash)`,
      'accept the risk, or set spool.mode = "disk" on hosts where queued mail must survive a reboot');
  }
  if (onRam) {
    return warn('spool mode', `${dir} is on tmpfs but spool.mode = "disk": fsyncs cost time and protect nothing; a reboot loses the queue`,
      'set spool.mode = "ram" to say what it is, or move the spool to a disk');
  }
  return ok('spool mode', `disk: each message is fsynced before it is accepted`);
}

export async function checkSpool(config: Config): Promise<{ results: CheckResult[]; exists: boolean }> {
  const dir = config.spool.dir;
  const out: CheckResult[] = [];
  let root;
  try { root = await stat(dir); } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code;
    return { results: [fail('spool', `${dir} ${errno === 'ENOENT' ? 'does not exist' : `cannot be read (${errno})`}: ordinary users cannot submit mail, and serve and the flush timer cannot run`, mkSpoolFix(dir))], exists: false };
  }
  if (!root.isDirectory()) return { results: [fail('spool', `${dir} is not a directory`, `move it away, then: ${mkSpoolFix(dir)}`)], exists: false };
  const owner = root.uid;
  const problems: CheckResult[] = [];
  if ((root.mode & 0o022) !== 0) problems.push(fail('spool', `${dir} is writable by group or others (mode ${octal(root.mode)}): anyone could replace queue files`, `chmod ${octal(SPOOL_ROOT_MODE)} ${dir}`));
  else if ((root.mode & 0o001) === 0) problems.push(fail('spool', `${dir} cannot be entered by others (mode ${octal(root.mode)}): ordinary users cannot reach drop/ to submit`, `chmod ${octal(SPOOL_ROOT_MODE)} ${dir}`));
  for (const area of SPOOL_PRIVATE) {
    const p = join(dir, area);
    let st;
    try { st = await stat(p); } catch {
      problems.push(warn('spool', `${p} is missing (made on the next delivery by root)`, `mkdir -p -m 0700 ${p}`));
      continue;
    }
    if (st.uid !== owner) problems.push(fail('spool', `${p} is owned by uid ${st.uid}, the spool by uid ${owner}`, `chown -R ${owner}: ${dir}`));
    if ((st.mode & 0o077) !== 0) {
      problems.push(fail('spool', `${p} is mode ${octal(st.mode)}: other users can ${st.mode & 0o044 ? 'read queued mail' : 'get into it'}`, `chmod ${octal(SPOOL_PRIVATE_MODE)} ${p}`));
    }
  }
  const drop = join(dir, 'drop');
  try {
    const st = await stat(drop);
    if ((st.mode & 0o7777) !== SPOOL_DROP_MODE) {
      problems.push(fail('spool', `${drop} is mode ${octal(st.mode)}, should be 1777 (sticky, writable by all): ordinary users' mail cannot be queued`, `chmod 1777 ${drop}`));
    }
  } catch {
    problems.push(fail('spool', `${drop} is missing: ordinary users' mail (their cron jobs) cannot be queued`, `mkdir -p ${drop} && chmod 1777 ${drop}`));
  }
  if (problems.length === 0) out.push(ok('spool', `${dir}: owner uid ${owner}, modes right (root ${octal(root.mode)}, queue 0700, drop 1777)`));
  out.push(...problems);
  const fs = await statfs(dir);
  out.push(spaceVerdict(dir, fs, config.general.maxMessageSize));
  out.push(ramVerdict(dir, config.spool.mode, fs.type));
  return { results: out, exists: true };
}

export async function checkLog(config: Config): Promise<CheckResult[]> {
  const file = config.log.file;
  if (file === null) return [info('log', 'the event log is off (log.file = false): `sysmail log` has nothing to show')];
  const dir = dirname(file);
  let st;
  try { st = await stat(dir); } catch {
    return [warn('log', `${dir} does not exist: made at the first event, but only by root`, `mkdir -p -m 0750 ${dir}`)];
  }
  const out: CheckResult[] = [];
  if ((st.mode & 0o002) !== 0) out.push(fail('log', `${dir} is writable by everyone (mode ${octal(st.mode)}): anyone can forge or remove log entries`, `chmod 0750 ${dir}`));
  try {
    const f = await stat(file);
    if ((f.mode & 0o002) !== 0) out.push(fail('log', `${file} is writable by everyone (mode ${octal(f.mode)})`, `chmod 0640 ${file}`));
    else if ((f.mode & 0o004) !== 0) out.push(warn('log', `${file} is readable by everyone (mode ${octal(f.mode)}): it lists who mails whom`, `chmod 0640 ${file}`));
  } catch {
    // No event yet: nothing to check.
  }
  if (out.length === 0) out.push(ok('log', `${file}: directory ${octal(st.mode)}`));
  return out;
}
