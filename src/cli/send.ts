/**
 * `sysmail send -s SUBJECT [RCPT…]` (mailx style) and `sysmail notify SUBJECT`
 * (the `cat report | notify-script "Subject"` convention): the body is read
 * from stdin to EOF; with no recipient the message goes to general.admin.
 * The subject can hold anything — CR/LF never make a new header.
 */
import { parseOptions } from './options.js';
import { currentUser, loadRuntime } from '../submit/runtime.js';
import { submitAndKick } from '../submit/submit.js';
import { usageError } from '../core/errors.js';

const SEND_OPTIONS = {
  subject: { short: 's', value: true },
  from: { short: 'r', value: true },
  cc: { short: 'c', value: true, repeat: true },
  bcc: { short: 'b', value: true, repeat: true },
  // mailx variables such as -Ssendwait (dnf-automatic's command_email default): accepted, ignored.
  set: { short: 'S', value: true, repeat: true },
  queue: {},
};

export async function sendCommand(argv: string[]): Promise<number> {
  const { opts, args } = parseOptions(argv, SEND_OPTIONS, 'send');
  if (opts.help) return (await import('./help.js')).helpCommand(['send']);
  return sendWith(opts, typeof opts.subject === 'string' ? opts.subject : '', args);
}

export async function notifyCommand(argv: string[]): Promise<number> {
  const { opts, args } = parseOptions(argv, { from: { short: 'r', value: true }, queue: {} }, 'notify');
  if (opts.help) return (await import('./help.js')).helpCommand(['notify']);
  if (args.length > 1) throw usageError('notify takes one argument, the subject (quote it)', 'sysmail notify "Backup failed" < report.txt');
  return sendWith(opts, args[0] ?? '', []);
}

async function sendWith(opts: Record<string, unknown>, subject: string, rcptArgs: string[]): Promise<number> {
  const rt = await loadRuntime(opts as never);
  const g = rt.config.general;
  const [{ readMessageSync }, { composeMessage }, { prepareMessage }, { parseEnvelopeAddress, parseArgvAddresses }] = await Promise.all([
    import('../message/input-sync.js'), import('../message/compose.js'), import('../message/prepare.js'), import('../message/address.js'),
  ]);
  let body: Buffer;
  try {
    body = readMessageSync(0, { dotEnds: false, maxSize: g.maxMessageSize });
  } catch (err) {
    // An empty report is still worth a notice ("the job ran and said nothing").
    if ((err as { code?: string }).code !== 'EEMPTY') throw err;
    body = Buffer.alloc(0);
  }
  const me = await currentUser();
  const q = (a: string) => parseEnvelopeAddress(a, { domain: g.domain, source: 'argv' });
  // As mailx: one argument may hold several addresses, separated by commas or blanks
  // (dnf-automatic joins email_to with spaces); "Name <addr>" forms go to the list parser.
  const list = (args: string[]) => args.flatMap((a) => (/["<(]/.test(a)
    ? parseArgvAddresses(a, { domain: g.domain })
    : a.split(/[\s,]+/).filter(Boolean).map(q)));
  const from = typeof opts.from === 'string' ? q(opts.from) : `${me.user}@${g.domain}`;
  const to = list(rcptArgs.length > 0 ? rcptArgs : [g.admin]);
  const cc = list((opts.cc as string[] | undefined) ?? []);
  const bcc = list((opts.bcc as string[] | undefined) ?? []);
  const composed = composeMessage({ from, to, cc, subject, body, hostname: g.hostname, now: new Date(), tagHost: g.tagHost });
  const prepared = prepareMessage({
    raw: composed, sender: from, fullName: null, recipients: [...to, ...cc, ...bcc], extractRecipients: false,
    user: me.user, hostname: g.hostname, domain: g.domain, now: new Date(), tagHost: g.tagHost,
  });
  await submitAndKick(rt, { sender: prepared.sender, recipients: prepared.recipients, message: prepared.message, via: 'send',
    uid: me.uid, user: me.user }, opts.queue ? 'queue' : 'background', typeof opts.config === 'string' ? opts.config : null);
  await rt.log.close();
  return 0;
}
