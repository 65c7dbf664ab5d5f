/**
 * `sysmail serve` (and `sendmail -bd`): the loopback SMTP listener plus the
 * queue runner, in the foreground, for systemd (packaging/systemd/sysmail.service).
 *
 * Exit 0 after SIGTERM/SIGINT; EX_NOPERM when not root or the spool owner;
 * a bind failure exits with the code and fix bindError() gives it.
 */
import { usageError } from '../core/errors.js';
import { parseOptions } from './options.js';
import { loadConfigFrom, loadRuntime } from '../submit/runtime.js';

const USAGE = `usage: sysmail serve [--listen HOST:PORT]... [--no-listen] [-C FILE] [-v]

Runs the loopback SMTP listener (listener.listen in the config, by default
127.0.0.1:25 and [::1]:25) and delivers queued mail as it arrives and when
retries are due. Meant to run under systemd: systemctl enable --now sysmail.

  --listen HOST:PORT  listen here instead of listener.listen (repeatable)
  --no-listen         no listener: only deliver the queue (mail from sendmail)
  -C, --config FILE   config file (default /etc/sysmail/sysmail.toml)
  -v, --verbose       show each pass and SMTP session problem on stderr

Signals: SIGHUP reloads the config (kept as it was if the new one is broken);
SIGTERM and SIGINT finish the running work and exit.
`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { opts, args } = parseOptions(argv, { listen: { value: true, repeat: true }, 'no-listen': {} }, 'serve');
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.length > 0) throw usageError(`serve: unexpected argument "${args[0]}"`, 'run `sysmail serve --help`');
  if (opts['no-listen'] && opts.listen) throw usageError('serve: --listen and --no-listen contradict each other');
  const { startDaemon, parseListenArgs } = await import('../server/daemon.js');
  const listen = opts['no-listen'] ? [] : (opts.listen as string[] | undefined) ?? null;
  if (listen) parseListenArgs(listen); // a typo is a usage error before anything starts

  const rt = await loadRuntime(opts);
  const daemon = await startDaemon(rt, { listen, signals: true, loadConfig: () => loadConfigFrom(opts) });
  const { formatListen } = await import('../server/network.js');
  if (daemon.addresses.length === 0) process.stderr.write('sysmail: serve: no listener; delivering the queue only\n');
  for (const a of daemon.addresses) process.stderr.write(`sysmail: serve: listening on ${formatListen(a)}\n`);
  await daemon.done;
  await rt.log.close();
  return 0;
}
