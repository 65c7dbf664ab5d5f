/**
 * `sysmail cache rebuild [--dir DIR]` and `sysmail cache status [--json]`: V8's code cache for
 * the bundled CLI (scripts/launcher.cjs). The cache is specific to the CPU arch, the Node version
 * and V8's flags, so the target makes its own: the .rpm/.deb scriptlets run `sysmail cache rebuild
 * || :`, and the launcher remakes a missing or rejected cache on first use where it may write.
 *
 * rebuild: one training run (`sendmail -t` into a throw-away spool, so the cache holds the
 * functions submission compiles) with the node and flags this command runs with, then a check
 * that a fresh process accepts it. Exit 0 with the path; 73 when no place can be written; 70 when
 * the training run fails; 69 when this sysmail has no launcher (not built with --cjs-cache).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync, accessSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EX, SysmailError, usageError } from '../core/errors.js';
import { BUNDLES, SYSTEM_CACHE_DIR, cacheFileName, cacheReport, checkCodeCache, checkConfigCache, launcherCache, type BundleCache, type LauncherCache } from '../doctor/code-cache.js';
import { entryFile, SETTLE_MS } from '../config/compiled-cache.js';
import { FLUSH_PATH_MARKER } from '../config/defaults.js';
import { parseOptions } from './options.js';

const HELP = `sysmail cache rebuild [--dir DIR]
sysmail cache status [--json]

V8's code cache lets sendmail skip compiling the CLI on every start. It only
fits the Node version, CPU and V8 flags it was made with, so make it on the host:

rebuild   makes the cache with this node and its flags and checks that V8
          accepts it. Where: --dir DIR, else $SYSMAIL_CODE_CACHE_DIR, else
          /var/cache/sysmail when run as root or when that is writable, else
          beside the bundle (dist/). The packages run it after install and
          upgrade; run it again after upgrading Node.
status    how this process found the cache: used, missing, stale (another
          build, Node or CPU), rejected (other V8 flags) or untrusted; and
          whether the compiled-config cache fits the config sendmail would
          load now (sendmail writes that entry itself: the first call after
          a config change parses and validates the file and stores it).

Without a usable cache sysmail works the same, only slower to start; the
launcher writes a fresh one on first use when the user may write one.
Exit status: 0 done; 69 no launcher; 70 the training run failed; 73 no
place to write the cache.
`;

export async function cacheCommand(argv: string[]): Promise<number> {
  const { opts, args } = parseOptions(argv, { dir: { value: true }, json: {} }, 'cache');
  if (opts.help || args.length === 0) { process.stdout.write(HELP); return opts.help ? EX.OK : EX.USAGE; }
  const state = launcherCache();
  if (args[0] === 'status' && args.length === 1) {
    if (state) state.write = false; // readers never write
    // The config entry of the config sendmail would load now ($SYSMAIL_CONFIG or /etc/sysmail/sysmail.toml).
    const config = checkConfigCache(state, { path: null });
    if (opts.json) process.stdout.write(JSON.stringify(state ? { dirs: state.dirs, bundles: cacheReport(state), config: { status: config.status, detail: config.detail } } : null) + '\n');
    else for (const r of [...checkCodeCache(state), config]) process.stdout.write(`${r.check}: ${r.status}: ${r.detail}\n${r.fix ? `fix: ${r.fix}\n` : ''}`);
    return EX.OK;
  }
  if (args[0] !== 'rebuild' || args.length !== 1) throw usageError(`cache: unknown subcommand "${args.join(' ')}"`, 'sysmail cache rebuild | sysmail cache status');
  if (!state) {
    throw new SysmailError('ENOLAUNCHER', 'this sysmail was not started through the code-cache launcher (dist/sysmail.js), so it has no code cache to make',
      { exit: EX.UNAVAILABLE, hint: 'build with `npm run build` and run dist/sysmail.js' });
  }
  state.write = false; // the training runs write them, not this process
  const dir = chooseDir(state, typeof opts.dir === 'string' ? opts.dir : process.env.SYSMAIL_CODE_CACHE_DIR || null);
  const files = rebuild(dir, state);
  const size = files.reduce((n, f) => n + statSync(f).size, 0);
  process.stdout.write(`sysmail: code cache rebuilt: ${files.join(', ')} (${size} bytes, node ${process.version}, ${process.arch}${process.execArgv.length ? `, flags ${process.execArgv.join(' ')}` : ''})\n`);
  return EX.OK;
}

const writable = (dir: string) => { try { accessSync(dir, constants.W_OK); return true; } catch { return false; } };

/** The first place this user may put the cache, made when it is ours to make (0755: a cache is code). */
function chooseDir(state: LauncherCache, asked: string | null): string {
  const root = (process.geteuid?.() ?? 0) === 0;
  const beside = state.dirs[state.dirs.length - 1]!;
  const places = asked ? [asked] : root ? [SYSTEM_CACHE_DIR] : [SYSTEM_CACHE_DIR, beside];
  for (const dir of places) {
    try {
      if (dir === asked || root) mkdirSync(dir, { recursive: true, mode: 0o755 });
      if (writable(dir)) {
        const st = statSync(dir);
        if (st.mode & 0o022) chmodSync(dir, st.mode & ~0o022); // the launcher ignores a directory others can write
        return dir;
      }
    } catch { /* next place */ }
  }
  throw new SysmailError('ECACHEDIR', `no place to write the code cache: ${places.join(' and ')} ${places.length > 1 ? 'are' : 'is'} not writable by this user`,
    { exit: EX.CANTCREAT, hint: 'run `sudo sysmail cache rebuild`, or set SYSMAIL_CODE_CACHE_DIR (or --dir) to a directory you own; without a cache sysmail only starts slower' });
}

function rebuild(dir: string, state: LauncherCache): string[] {
  const launcher = realpathSync(process.argv[1]!);
  const work = mkdtempSync(join(tmpdir(), 'sysmail-cache-'));
  try {
    const config = join(work, 'sysmail.toml');
    // As a real host runs sendmail, so that the cache holds what such a run compiles: a log file,
    // and systemd's path unit (its marker) starting delivery.
    writeFileSync(config, `[general]\nhostname = "cache.example.org"\ndomain = "example.org"\naliases = false\n[spool]\ndir = "${join(work, 'spool')}"\n`
      + `[log]\nfile = "${join(work, 'sysmail.log')}"\nsyslog = false\n[transports.box]\ntype = "maildir"\npath = "${join(work, 'Maildir')}"\n`, { mode: 0o600 });
    mkdirSync(join(work, 'spool'), { mode: 0o711 });
    writeFileSync(join(work, 'spool', FLUSH_PATH_MARKER), '');
    const env = { ...process.env, SYSMAIL_CODE_CACHE_DIR: dir };
    const node = [...process.execArgv, launcher];
    // Like cron's: a From with a comment, a bare To, no Date or Message-ID (sendmail adds them).
    const message = 'From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@cache> run-parts /etc/cron.hourly\n'
      + 'MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n\ntraining run\n';
    // First the full CLI (-v falls back to it and delivers in the foreground, compiling that path
    // too), then the fast path as a host runs it: once the config is older than the settle time,
    // a run that stores the compiled config, then one that takes it from there and writes the
    // code cache, which then holds no TOML parser or validator (compiled only on a config change).
    const trainRun = (flags: string[], write: boolean) => {
      const train = runSync(node.concat(['sendmail', '-C', config, ...flags]), write ? { ...env, SYSMAIL_WRITE_CODE_CACHE: '1' } : env, message);
      if (train.status !== 0) {
        throw new SysmailError('ECACHETRAIN', `the code-cache training run failed (exit ${train.status}): ${train.stderr.trim()}`, { exit: EX.SOFTWARE });
      }
    };
    trainRun(['-v', '-t'], true);
    const wait = SETTLE_MS + 100 - (Date.now() - statSync(config).ctimeMs);
    if (wait > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
    trainRun(['-t'], false);
    trainRun(['-t'], true);
    // The training config's entry is of no use to anyone.
    rmSync(entryFile(dir, config, process.geteuid?.() ?? 0, state.check('sendmail').stamp), { force: true });
    const check = runSync(node.concat(['cache', 'status', '--json']), env, '');
    let seen: { bundles: Record<string, BundleCache> } | null = null;
    try { seen = JSON.parse(check.stdout) as { bundles: Record<string, BundleCache> }; } catch { /* reported below */ }
    const files = BUNDLES.map((b) => join(dir, cacheFileName(b)));
    const bad = BUNDLES.filter((b, i) => seen?.bundles[b]?.status !== 'used' || seen.bundles[b]?.file !== files[i]);
    if (!seen || bad.length > 0) {
      throw new SysmailError('ECACHEWRITE', `the code cache was not written or not accepted in ${dir} (${seen ? bad.map((b) => `${b}: ${seen!.bundles[b]?.status}`).join(', ') : check.stderr.trim()})`,
        { exit: EX.CANTCREAT, hint: `check that ${dir} is owned by root or by you and writable by nobody else` });
    }
    return files;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function runSync(args: string[], env: NodeJS.ProcessEnv, input: string) {
  return spawnSync(process.execPath, args, { env, input, encoding: 'utf8', timeout: 120_000 });
}
