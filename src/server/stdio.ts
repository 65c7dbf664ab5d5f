/**
 * `sendmail -bs`: an SMTP dialogue on stdin/stdout, as PHP's Symfony Mailer
 * and other frameworks use it (EHLO, MAIL, RCPT, DATA, QUIT).
 *
 * The dialogue is smtp-server's, with the listener's handlers (session.ts),
 * run over StdioSocket. The client is the calling user on this host: trusted,
 * no STARTTLS or AUTH, and the envelope's submitter is that user as the
 * kernel reports it. Each message is queued like `sendmail` queues it
 * (submitAndKick: the queue when we own the spool, the drop directory
 * otherwise) before its 250 is written.
 *
 * Exit status: 0 after QUIT, or at end of input with no message left half
 * sent; EX_TEMPFAIL when input ended (or the session timed out) in the middle
 * of a transaction, since that message was not queued.
 */
import type { SMTPServerSession } from 'smtp-server';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { EX } from '../core/errors.js';
import type { Runtime } from '../submit/runtime.js';
import { sessionOptions, type QueueRequest } from './session.js';
import { StdioSocket } from './stdio-socket.js';

export interface StdioOptions {
  input?: Readable;
  output?: Writable;
}

export async function runStdioSmtp(rt: Runtime, io: StdioOptions = {}): Promise<number> {
  const input = io.input ?? process.stdin;
  const output = io.output ?? process.stdout;
  const [{ SMTPServer }, { currentUser }, { submitAndKick }] = await Promise.all([
    import('smtp-server'), import('../submit/runtime.js'), import('../submit/submit.js'),
  ]);
  await (await import('./smtp-compat.js')).installSmtpCompat();
  const me = await currentUser();
  // -v would deliver before answering 250; in a dialogue the client should not wait for that.
  const quiet: Runtime = { ...rt, verbose: false };

  let closed!: (session: SMTPServerSession) => void;
  const done = new Promise<SMTPServerSession>((resolve) => { closed = resolve; });

  const options = sessionOptions({
    config: () => rt.config,
    log: rt.log,
    channel: 'stdio',
    classify: () => 'trusted',
    submitter: () => me,
    queue: async (req: QueueRequest) => {
      const id = await submitAndKick(quiet, {
        sender: req.sender, recipients: req.recipients, message: req.message, via: 'smtp', uid: req.uid, user: req.user,
      }, 'background', rt.config.source);
      // An unprivileged submitter's message is a drop file until it is imported: say so, not "queued as" a name no queue has.
      return rt.spoolOwner ? id : `${id} in drop/ (the queue id is given on import; \`sysmail log --id ${id}\` shows it)`;
    },
    tls: null,
    auth: false,
  });
  const server = new SMTPServer({ ...options, onClose: (session) => closed(session) });
  server.on('error', (err: Error) => rt.log.verbose(`smtp on stdin: ${err.message}`));

  const socket = new StdioSocket(input, output);
  // smtp-server's own timers are unref'd and stdin is paused until the greeting
  // is out: without this the process would simply exit before saying 220.
  const keepAlive = setInterval(() => {}, 60_000);
  server.connect(socket as unknown as Socket, { remoteAddress: '127.0.0.1', remotePort: 0, localAddress: '127.0.0.1', localPort: 0 });
  const session = await done.finally(() => clearInterval(keepAlive));
  await rt.log.close();

  const openTransaction = Boolean(session.envelope?.mailFrom);
  if (socket.lastReplyCode === 221 || !openTransaction) return EX.OK;
  process.stderr.write('sysmail: the SMTP session on standard input ended in the middle of a message; that message was not queued\n');
  return EX.TEMPFAIL;
}
