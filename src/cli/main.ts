/**
 * The entry point of the full CLI, and the place that sets the process exit code (the sendmail
 * fast path, sendmail-fast.ts, hands its code to the launcher, which sets it the same way).
 *
 * Behaviour is chosen by the name it was run as (argv[0] symlinks: sendmail,
 * mailq, newaliases) or by the first argument (`sysmail sendmail …`,
 * `sysmail send …`). Each command lives in its own module and is imported only
 * when used, so the sendmail path loads as little as possible.
 */
import { EX } from '../core/errors.js';
import { reportError, resolveCommand, type CommandName } from './dispatch.js';

type Command = (argv: string[], invokedAs: string) => Promise<number>;

const COMMANDS: Record<CommandName, () => Promise<Command>> = {
  sendmail: async () => (await import('./sendmail.js')).sendmailCommand,
  send: async () => (await import('./send.js')).sendCommand,
  notify: async () => (await import('./send.js')).notifyCommand,
  flush: async () => (await import('./admin.js')).flushCommand,
  queue: async () => (await import('./admin.js')).queueCommand,
  mailq: async () => (await import('./admin.js')).mailqCommand,
  log: async () => (await import('./logview.js')).logCommand,
  config: async () => (await import('./admin.js')).configCommand,
  newaliases: async () => (await import('./admin.js')).newaliasesCommand,
  serve: async () => (await import('./serve.js')).serveCommand,
  import: async () => (await import('./import.js')).importCommand,
  doctor: async () => (await import('./doctor.js')).doctorCommand,
  status: async () => (await import('./status.js')).statusCommand,
  metrics: async () => (await import('./metrics.js')).metricsCommand,
  test: async () => (await import('./doctor.js')).testCommand,
  cache: async () => (await import('./cache.js')).cacheCommand,
  install: async () => (await import('./install.js')).installCommand,
  uninstall: async () => (await import('./install.js')).uninstallCommand,
  help: async () => (await import('./help.js')).helpCommand,
  version: async () => (await import('./help.js')).versionCommand,
};

export async function main(argv: string[]): Promise<number> {
  const { name, args, invokedAs } = resolveCommand(process.argv[1], argv);
  const load = (COMMANDS as Record<string, (() => Promise<Command>) | undefined>)[name];
  if (!load) {
    process.stderr.write(`sysmail: unknown command "${name}"; run \`sysmail help\` for the list\n`);
    return EX.USAGE;
  }
  const command = await load();
  return command(args, invokedAs);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.exitCode = reportError(err); },
);
