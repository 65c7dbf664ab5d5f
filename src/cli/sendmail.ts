/**
 * `sendmail` (and `sysmail sendmail`): the drop-in that cron, logwatch, mdadm,
 * smartd, mailx and unattended-upgrades call. Reads the message on stdin,
 * queues it durably, exits 0; every other outcome is a sysexits code with a
 * message on stderr that says what to fix.
 */
import { parseSendmailArgs } from './sendmail-args.js';
import { loadRuntime } from '../submit/runtime.js';

export async function sendmailCommand(argv: string[]): Promise<number> {
  const a = parseSendmailArgs(argv);
  const globals = { config: a.configFile ?? undefined, verbose: a.verbose };
  switch (a.mode) {
    case 'list': return (await import('./admin.js')).mailqCommand(a.configFile ? ['--config', a.configFile] : []);
    case 'flush': return (await import('./admin.js')).flushCommand([...(a.configFile ? ['--config', a.configFile] : []), ...(a.verbose ? ['-v'] : []),
      ...(a.queueId ? ['--id', a.queueId] : [])]);
    case 'newaliases': return (await import('./admin.js')).newaliasesCommand(a.configFile ? ['--config', a.configFile] : []);
    case 'daemon': return (await import('./serve.js')).serveCommand(a.configFile ? ['--config', a.configFile] : []);
    case 'smtp': {
      const rt = await loadRuntime(globals);
      const { runStdioSmtp } = await import('../server/stdio.js');
      return runStdioSmtp(rt);
    }
    case 'deliver': break;
  }

  const [rt, { deliverFromStdin }] = await Promise.all([loadRuntime(globals), import('./sendmail-deliver.js')]);
  return deliverFromStdin(a, rt);
}
