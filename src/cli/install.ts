/**
 * `sysmail install` and `sysmail uninstall` (thin: the work is in
 * src/install/). Options: --root DIR (stage into a tree), --dry-run, and for
 * packagers --node PATH / --entry PATH (what the wrappers run on the target)
 * and --package-mode (what the .rpm/.deb scriptlets run: the same steps,
 * minus the files the package ships).
 * Exit 0 on success; 77 not root; 66 uninstall with no state file; 71 a
 * command (alternatives, dpkg-divert) failed; 73 a file could not be made.
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { EX, SysmailError } from '../core/errors.js';
import { parseOptions } from './options.js';

const HELP = `sysmail install [--dry-run] [--root DIR] [--notify-command PATH]… [--node PATH] [--entry PATH] [--package-mode]
sysmail uninstall [--dry-run] [--root DIR] [--package-mode]

install: /etc/sysmail (commented config, never overwritten; secrets/ 0700),
the spool (/var/spool/sysmail) and log (/var/log/sysmail) directories,
wrappers (/usr/sbin/sendmail.sysmail, /usr/bin/mailq.sysmail,
/usr/bin/newaliases.sysmail, /usr/libexec/sysmail/sysmail), the systemd units,
the man pages, and sysmail as sendmail/mailq/newaliases through the
distribution's alternatives (RHEL: the "mta" group; Debian: the existing
programs are diverted with dpkg-divert). Every change is recorded in
/var/lib/sysmail/install-state.json. Running it again changes nothing.

uninstall: undoes exactly what install recorded, in reverse; edited files and
directories with content (queued mail, logs) are kept and named.

    --dry-run     say what would be done; change nothing
    --root DIR    work inside DIR (staging, packaging); commands that would act
                  on this host (RHEL alternatives, systemctl) are recorded and
                  printed, not run; Debian's dpkg-divert and update-alternatives
                  are run with --root DIR when DIR has /var/lib/dpkg
    --notify-command PATH
                  also write PATH (e.g. /usr/local/bin/oci-notification-mail)
                  as a command that runs 'sysmail notify': old command lines
                  such as dnf-automatic's 'PATH {subject}' keep working
    --node PATH   node as it is on the target (default: this one)
    --entry PATH  sysmail's dist/sysmail.js as it is on the target
    --package-mode
                  for the .rpm and .deb scriptlets: the package ships the
                  config, wrappers, units and man pages, so install does only
                  the rest (directories, sendmail registration, systemd, the
                  SELinux module); uninstall with nothing recorded exits 0
`;

const SPEC = { 'dry-run': {}, 'package-mode': {}, root: { value: true }, node: { value: true }, entry: { value: true }, 'notify-command': { value: true, repeat: true } };

function common(opts: Record<string, unknown>) {
  return {
    root: typeof opts.root === 'string' ? resolve(opts.root) : '/',
    dryRun: opts['dry-run'] === true,
    out: (line: string) => { process.stdout.write(line + '\n'); },
  };
}

export async function installCommand(argv: string[]): Promise<number> {
  const { opts, args } = parseOptions(argv, SPEC, 'install');
  if (opts.help) { process.stdout.write(HELP); return EX.OK; }
  if (args.length > 0) throw new SysmailError('EUSAGE', `install takes no arguments (got "${args[0]}")`, { exit: EX.USAGE });
  const [{ runInstall }, { findPackageDir, findEntryPoint }, { systemRunner }] = await Promise.all([
    import('../install/install.js'), import('../system/package.js'), import('../system/exec.js'),
  ]);
  const packageDir = findPackageDir();
  if (!packageDir) throw new SysmailError('EINSTALL', 'cannot find the sysmail package (its package.json) above this program', { exit: EX.OSFILE, hint: 'run the sysmail installed by npm, or node dist/sysmail.js from a checkout' });
  await runInstall({
    ...common(opts), packageDir, run: systemRunner(), packaged: opts['package-mode'] === true,
    node: typeof opts.node === 'string' ? opts.node : realpathSync(process.execPath),
    entry: typeof opts.entry === 'string' ? opts.entry : findEntryPoint(packageDir),
    notifyCommands: (opts['notify-command'] as string[] | undefined) ?? [],
  });
  return EX.OK;
}

export async function uninstallCommand(argv: string[]): Promise<number> {
  const { opts, args } = parseOptions(argv, { 'dry-run': {}, 'package-mode': {}, root: { value: true } }, 'uninstall');
  if (opts.help) { process.stdout.write(HELP); return EX.OK; }
  if (args.length > 0) throw new SysmailError('EUSAGE', `uninstall takes no arguments (got "${args[0]}")`, { exit: EX.USAGE });
  const [{ runUninstall }, { systemRunner }] = await Promise.all([import('../install/uninstall.js'), import('../system/exec.js')]);
  try {
    await runUninstall({ ...common(opts), run: systemRunner() });
  } catch (e) {
    // A package being removed that never got as far as its install step: nothing to undo.
    if (!(opts['package-mode'] === true && e instanceof SysmailError && e.code === 'ENOTINSTALLED')) throw e;
    process.stdout.write('sysmail uninstall: nothing was recorded, nothing to undo\n');
  }
  return EX.OK;
}
