/**
 * The sendmail fast path. Bundled alone into dist/sysmail-sendmail.cjs (scripts/bundle.mjs) with
 * its own code cache, it holds only what submission needs: the flag parser, config, message
 * preparation, the spool commit, the log and the delivery kick, all shared with the full CLI
 * (sendmail-deliver.ts is the one copy of the deliver mode). It takes `sendmail`'s deliver mode
 * unless -v asks for delivery in the foreground; for every other command, mode or flag, and for
 * arguments it cannot parse, it answers null before reading standard input, and the launcher
 * (scripts/launcher.cjs) runs the full CLI, which behaves and reports exactly as before.
 * Exit codes: as `sendmail` (main.ts); failures go through the same reportError.
 */
import { reportError, resolveCommand } from './dispatch.js';
import { parseSendmailArgs, type SendmailArgs } from './sendmail-args.js';
import { loadRuntime } from './runtime.js';
import { deliverFromStdin } from './sendmail-deliver.js';

/** What the fast path would do with these arguments: the parsed flags, or null (the full CLI). */
export function fastPathArgs(script: string | undefined, argv: string[]): SendmailArgs | null {
  const { name, args } = resolveCommand(script, argv);
  if (name !== 'sendmail') return null;
  let a: SendmailArgs;
  try { a = parseSendmailArgs(args); } catch { return null; } // the full CLI reports it
  return a.mode === 'deliver' && !a.verbose ? a : null;
}

/** The exit code, or null when the full CLI must run instead (nothing has been read or written). */
export async function run(script: string | undefined, argv: string[]): Promise<number | null> {
  const a = fastPathArgs(script, argv);
  if (!a) return null;
  const rt = await loadRuntime({ config: a.configFile ?? undefined, verbose: false });
  return deliverFromStdin(a, rt);
}

export { reportError };
