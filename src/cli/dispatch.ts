/**
 * Which command an invocation means, and how a failure is reported: shared by the full CLI
 * (main.ts) and the sendmail fast path (sendmail-fast.ts), so both read argv and print errors
 * the same way. Pure except for the stderr write in reportError.
 */
import { basename } from 'node:path';
import { EX, toSysmailError } from '../core/errors.js';

/** argv[0] names that behave like the classic programs. */
export const PERSONALITIES: Record<string, string> = {
  sendmail: 'sendmail', mailq: 'mailq', newaliases: 'newaliases', 'sysmail-notify': 'notify',
  // The seed's script name: `oci-notification-mail {subject}` with the body on stdin (docs/dnf-automatic.md).
  'oci-notification-mail': 'notify',
};

/** Every command of the full CLI (main.ts's table is typed by this list, so the two cannot differ). */
export const COMMAND_NAMES = ['sendmail', 'send', 'notify', 'flush', 'queue', 'mailq', 'log', 'config', 'newaliases', 'serve',
  'import', 'doctor', 'status', 'metrics', 'test', 'cache', 'install', 'uninstall', 'help', 'version'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];
const isCommand = (word: string | undefined): boolean => (COMMAND_NAMES as readonly (string | undefined)[]).includes(word);

/** The command name and its arguments, from the program name (argv[1]) and the arguments. */
export function resolveCommand(script: string | undefined, argv: string[]): { name: string; args: string[]; invokedAs: string } {
  // What /\.(m?js)$/ would strip, without a regular expression (~0.05 ms at its first use).
  const base = basename(script ?? 'sysmail');
  const invokedAs = base.endsWith('.js') ? base.slice(0, -3) : base.endsWith('.mjs') ? base.slice(0, -4) : base;
  const personality = PERSONALITIES[invokedAs];
  if (personality) return { name: personality, args: argv, invokedAs };
  const first = argv[0];
  if (first === undefined || first === '--help' || first === '-h') return { name: 'help', args: argv.slice(1), invokedAs };
  if (first === '--version' || first === '-V') return { name: 'version', args: [], invokedAs };
  // `sysmail -C FILE config check`: the config option before a command, not sendmail's -C with
  // recipients "config" and "check". (Under the sendmail name, -C FILE words are always sendmail's.)
  if ((first === '-C' || first === '--config') && argv.length >= 3 && argv[2] !== 'sendmail' && isCommand(argv[2])) {
    return { name: argv[2]!, args: [...argv.slice(3), first, argv[1]!], invokedAs };
  }
  if (first.startsWith('-')) return { name: 'sendmail', args: argv, invokedAs }; // `sysmail -t …` behaves like sendmail
  return { name: first, args: argv.slice(1), invokedAs };
}

export function reportError(err: unknown): number {
  const e = toSysmailError(err);
  process.stderr.write(`sysmail: ${e.message}\n`);
  if (e.hint) process.stderr.write(`sysmail: fix: ${e.hint}\n`);
  if (e.exit === EX.SOFTWARE && process.env.SYSMAIL_DEBUG) process.stderr.write(`${(e.cause as Error)?.stack ?? e.stack}\n`);
  return e.exit;
}
