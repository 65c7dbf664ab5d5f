/**
 * The one entry point, and the one place that sets the process exit code.
 *
 * Behaviour is chosen by the name it was run as (argv[0] symlinks: sendmail,
 * mailq, newaliases) or by the first argument (`sysmail sendmail …`,
 * `sysmail send …`). Each command lives in its own module and is imported only
 * when used, so the sendmail path loads as little as possible.
 */
import { basename } from 'node:path';
import { EX, toSysmailError } from '../core/errors.js';

type Command = (argv: string[], invokedAs: string) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
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
  test: async () => (await import('./doctor.js')).testCommand,
  install: async () => (await import('./install.js')).installCommand,
  uninstall: async () => (await import('./install.js')).uninstallCommand,
  help: async () => (await import('./help.js')).helpCommand,
  version: async () => (await import('./help.js')).versionCommand,
};

/** argv[0] names that behave like the classic programs. */
const PERSONALITIES: Record<string, string> = {
  sendmail: 'sendmail', mailq: 'mailq', newaliases: 'newaliases', 'sysmail-notify': 'notify',
};

/** `sysmail -C FILE config check`: the config option before a command, not sendmail's -C with recipients. */
function globalThenCommand(args: string[]): boolean {
  return (args[0] === '-C' || args[0] === '--config') && args.length >= 3 && args[2] !== 'sendmail' && args[2]! in COMMANDS;
}

export async function main(argv: string[]): Promise<number> {
  const invokedAs = basename(process.argv[1] ?? 'sysmail').replace(/\.(m?js)$/, '');
  let name = PERSONALITIES[invokedAs];
  let args = argv;
  if (!name) {
    const first = args[0];
    if (first === undefined || first === '--help' || first === '-h') { name = 'help'; args = args.slice(1); }
    else if (first === '--version' || first === '-V') { name = 'version'; args = []; }
    else if (globalThenCommand(args)) { name = args[2]!; args = [...args.slice(3), args[0]!, args[1]!]; }
    else if (first.startsWith('-')) { name = 'sendmail'; } // `sysmail -t …` behaves like sendmail
    else { name = first; args = args.slice(1); }
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`sysmail: unknown command "${name}"; run \`sysmail help\` for the list\n`);
    return EX.USAGE;
  }
  const command = await load();
  return command(args, invokedAs);
}

export function reportError(err: unknown): number {
  const e = toSysmailError(err);
  process.stderr.write(`sysmail: ${e.message}\n`);
  if (e.hint) process.stderr.write(`sysmail: fix: ${e.hint}\n`);
  if (e.exit === EX.SOFTWARE && process.env.SYSMAIL_DEBUG) process.stderr.write(`${(e.cause as Error)?.stack ?? e.stack}\n`);
  return e.exit;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.exitCode = reportError(err); },
);
