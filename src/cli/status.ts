/**
 * `sysmail status [--json]`: one screen for a person, and a check for a
 * monitoring system. Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the
 * Nagios plugin convention; src/status/evaluate.ts has the rules). Reads only.
 */
import { usageError } from '../core/errors.js';
import { parseOptions } from './options.js';
import { loadRuntime } from '../submit/runtime.js';

export async function statusCommand(argv: string[]): Promise<number> {
  const { opts, args } = parseOptions(argv, { json: {} }, 'status');
  if (opts.help) return (await import('./help.js')).helpCommand(['status']);
  if (args.length > 0) throw usageError(`status: unexpected argument "${args[0]}"`, 'run `sysmail status --help`');
  const rt = await loadRuntime(opts);
  const [{ gatherStatus }, { formatStatus, statusJson }, { exitCode, STATUS }, { isServeRunning }] = await Promise.all([
    import('../status/gather.js'), import('../status/format.js'), import('../status/evaluate.js'), import('../submit/submit.js'),
  ]);
  let report;
  try {
    report = await gatherStatus(rt.config, rt.spool, isServeRunning(rt.config.spool.dir));
  } catch (err) {
    // A monitoring check must say UNKNOWN (3) rather than pass a sysexits code it does not understand.
    const { toSysmailError } = await import('../core/errors.js');
    const e = toSysmailError(err);
    if (opts.json) process.stdout.write(JSON.stringify({ status: 'unknown', error: e.message, fix: e.hint ?? null }, null, 2) + '\n');
    else process.stdout.write(`SYSMAIL UNKNOWN: ${e.message}${e.hint ? `\nfix: ${e.hint}` : ''}\n`);
    return STATUS.UNKNOWN;
  }
  process.stdout.write(opts.json ? JSON.stringify(statusJson(report), null, 2) + '\n' : formatStatus(report));
  return exitCode(report.level);
}
