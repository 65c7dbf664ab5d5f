/**
 * The sendmail command line (the interface of sendmail 8 and Postfix's
 * sendmail(1)), parsed into what sysmail does.
 *
 * Guarantees (pure): every flag a real caller passes is accepted — the
 * meaningful ones are honoured, the rest are listed in `ignored` for -v —
 * and anything else throws usageError (EX_USAGE) naming the flag. Parsing is
 * getopt-style, like Postfix: single-letter flags may be clustered (`-ti`), a
 * value may be attached (`-froot`) or the next argument (`-f root`), and
 * options end at `--` or at the first argument that is not an option. What
 * follows is recipients, even when it starts with '-': the address parser then
 * refuses it, so `-- -oQ/tmp` is an error, never an option. An option that
 * appears after a recipient (without `--`) is refused with a message saying
 * to put options first, rather than silently mailed to.
 * Addresses are returned as given; they are validated where the domain is known.
 */
import { usageError } from '../core/errors.js';

export type SendmailMode = 'deliver' | 'list' | 'flush' | 'smtp' | 'newaliases' | 'daemon';
export type DeliveryMode = 'interactive' | 'background' | 'queue';

export interface SendmailArgs {
  mode: SendmailMode;
  /** -t */
  extractRecipients: boolean;
  /** -i / -oi: a lone "." does not end the input. */
  ignoreDots: boolean;
  /** -f / -r as given; "" = the null sender (from '', '<>' or '""'); null = none given. */
  sender: string | null;
  /** -F */
  fullName: string | null;
  recipients: string[];
  /** -v */
  verbose: boolean;
  /** -C */
  configFile: string | null;
  /** -odi / -odb / -odq (default background: return once queued, deliver at once). */
  deliveryMode: DeliveryMode;
  /** -N, as the ESMTP NOTIFY value: "NEVER" or a comma list of SUCCESS, FAILURE, DELAY. */
  notify?: string;
  /** -R */
  ret?: 'full' | 'hdrs';
  /** -V */
  envid?: string;
  /** -B */
  body?: '7BIT' | '8BITMIME';
  /** -q<interval> (sendmail: run the queue every interval; we flush once). */
  queueInterval?: string;
  /** -qI<id> */
  queueId?: string;
  /** -qR<site> */
  queueSite?: string;
  /** -oA<file> */
  aliasFile?: string;
  /** -L<tag> */
  logTag?: string;
  /** Flags accepted and ignored, as given (for -v diagnostics). */
  ignored: string[];
  /** Values we could not use and ignored, each a sentence (Postfix warns the same way). */
  warnings: string[];
}

/** Letters that take a value (attached or the next argument), as in Postfix's getopt list plus sendmail 8's -d and -M. */
const WITH_VALUE = new Set('ABCFLNORVXbdefhopr'.split('').concat('M'));
/** Letters that are flags. */
const FLAGS = new Set('tivGIUnmcx'.split(''));

const UNSUPPORTED_B: Record<string, string> = {
  v: 'address verification (-bv)', t: 'address test mode (-bt)', a: 'ARPANET mode (-ba)',
  h: 'host status (-bh)', H: 'host status purge (-bH)', P: 'queue counts (-bP)',
};

function parseBool(v: string): boolean | null {
  if (v === '' || /^(t|true|y|yes|1|on)$/i.test(v)) return true;
  if (/^(f|false|n|no|0|off)$/i.test(v)) return false;
  return null;
}

function deliveryModeOf(v: string): DeliveryMode | null {
  switch (v.charAt(0).toLowerCase()) {
    case 'i': return 'interactive';
    case 'b': return 'background';
    case 'q': case 'd': return 'queue';
    default: return null;
  }
}

function progMode(invokedAs: string | undefined): SendmailMode {
  const base = (invokedAs ?? '').split('/').pop();
  return base === 'mailq' ? 'list' : base === 'newaliases' ? 'newaliases' : 'deliver';
}

export function parseSendmailArgs(argv: string[], opts: { invokedAs?: string } = {}): SendmailArgs {
  const a: SendmailArgs = {
    mode: progMode(opts.invokedAs), extractRecipients: false, ignoreDots: false, sender: null, fullName: null,
    recipients: [], verbose: false, configFile: null, deliveryMode: 'background', ignored: [], warnings: [],
  };
  let flushRequested = false;
  let dashdash = false;
  let i = 0;

  const setO = (opt: string, next: () => string): void => {
    const letter = opt.charAt(0);
    const v = opt.slice(1);
    switch (letter) {
      case 'i': {
        const b = parseBool(v);
        if (b === null) a.warnings.push(`-oi${v}: not a yes/no value; ignored`);
        else a.ignoreDots = b;
        return;
      }
      case 'd': {
        const m = deliveryModeOf(v);
        if (m === null) a.warnings.push(`-od${v}: unknown delivery mode (use i, b or q); ignored`);
        else a.deliveryMode = m;
        return;
      }
      case 'A': {
        const file = v !== '' ? v : next();
        a.aliasFile = file;
        return;
      }
      default:
        a.ignored.push('-o' + opt);
    }
  };

  const setLongO = (opt: string): void => {
    const eq = opt.indexOf('=');
    const name = (eq < 0 ? opt : opt.slice(0, eq)).trim().toLowerCase();
    const v = eq < 0 ? '' : opt.slice(eq + 1).trim();
    if (name === 'deliverymode') {
      const m = deliveryModeOf(v);
      if (m === null) a.warnings.push(`-O ${opt}: unknown delivery mode; ignored`);
      else a.deliveryMode = m;
    } else if (name === 'ignoredots') {
      const b = parseBool(v);
      if (b === null) a.warnings.push(`-O ${opt}: not a yes/no value; ignored`);
      else a.ignoreDots = b;
    } else a.ignored.push('-O' + opt);
  };

  const setQ = (v: string): void => {
    if (v === '') flushRequested = true;
    else if (/^\d/.test(v)) {
      if (!/^(\d+[smhdw]?)+$/.test(v)) throw usageError(`-q${v}: not a queue interval`, 'write it like -q30m or -q1h');
      a.queueInterval = v;
      flushRequested = true;
    } else if (v[0] === 'I') {
      if (v.length === 1) throw usageError('-qI needs a queue ID', 'write it like -qI<id>; `sysmail queue` lists the IDs');
      a.queueId = v.slice(1);
      flushRequested = true;
    } else if (v[0] === 'R') {
      if (v.length === 1) throw usageError('-qR needs a site name', 'write it like -qRexample.com');
      a.queueSite = v.slice(1);
      flushRequested = true;
    } else {
      throw usageError(`-q${v} is not supported`, 'use -q to flush the queue, -qI<id> for one message, or -qR<domain>');
    }
  };

  const apply = (letter: string, value: string, next: () => string): void => {
    switch (letter) {
      case 't': a.extractRecipients = true; return;
      case 'i': a.ignoreDots = true; return;
      case 'v': a.verbose = true; return;
      case 'I': a.mode = 'newaliases'; return;
      case 'f': case 'r': {
        const s = value.trim();
        a.sender = s === '' || s === '<>' || s === '""' ? '' : value;
        return;
      }
      case 'F': a.fullName = value; return;
      case 'C': a.configFile = value; return;
      case 'L': a.logTag = value; return;
      case 'o': setO(value, next); return;
      case 'O': setLongO(value); return;
      case 'b': {
        const m = value.charAt(0);
        if (m === 'm') a.mode = 'deliver';
        else if (m === 'p') a.mode = 'list';
        else if (m === 's') a.mode = 'smtp';
        else if (m === 'i') a.mode = 'newaliases';
        else if (m === 'd' || m === 'D' || m === 'l') a.mode = 'daemon';
        else if (UNSUPPORTED_B[m]) throw usageError(`-b${value}: ${UNSUPPORTED_B[m]} is not supported by sysmail`, 'check a configuration with `sysmail doctor`, or route tests with `sysmail route ADDRESS`');
        else throw usageError(`-b${value}: unknown mode`, 'supported modes: -bm (send), -bp (list the queue), -bs (SMTP on stdin), -bi (newaliases), -bd (daemon)');
        return;
      }
      case 'B': {
        const v = value.toUpperCase();
        if (v !== '7BIT' && v !== '8BITMIME') throw usageError(`-B ${value}: the body type must be 7BIT or 8BITMIME`);
        a.body = v;
        return;
      }
      case 'N': {
        const parts = value.split(',').map((p) => p.trim().toUpperCase()).filter((p) => p !== '');
        const ok = parts.length > 0 && (parts.length === 1 && parts[0] === 'NEVER'
          || parts.every((p) => p === 'SUCCESS' || p === 'FAILURE' || p === 'DELAY'));
        if (ok) a.notify = [...new Set(parts)].join(',');
        else a.warnings.push(`-N ${value}: use "never" or a list of success,failure,delay; ignored`);
        return;
      }
      case 'R': {
        const v = value.toLowerCase();
        if (v === 'full' || v === 'hdrs') a.ret = v;
        else a.warnings.push(`-R ${value}: use "full" or "hdrs"; ignored`);
        return;
      }
      case 'V': {
        // RFC 3461 §4.4: xtext of printable ASCII; Postfix's limit of 100.
        if (/^[\x21-\x7e]{1,100}$/.test(value)) a.envid = value;
        else a.warnings.push(`-V: the envelope ID must be 1 to 100 printable ASCII characters; ignored`);
        return;
      }
      default:
        a.ignored.push('-' + letter + value);
    }
  };

  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      dashdash = true;
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    const next = (): string => {
      if (i + 1 >= argv.length) throw usageError(`option ${arg} needs a value`, 'see sendmail(1); for example -f sender@example.com');
      return argv[++i]!;
    };
    if (arg.startsWith('-q')) {
      setQ(arg.slice(2)); // -q's value is optional, so it is never the next argument
      continue;
    }
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j]!;
      if (FLAGS.has(letter)) {
        apply(letter, '', next);
        continue;
      }
      if (WITH_VALUE.has(letter)) {
        const attached = arg.slice(j + 1);
        const value = attached !== '' ? attached : next();
        apply(letter, value, next);
        break;
      }
      if (letter === 'q') {
        setQ(arg.slice(j + 1));
        break;
      }
      throw usageError(`unknown option -${letter}${arg.length > 2 ? ` (in ${arg})` : ''}`,
        'sysmail accepts the sendmail options listed in sysmail(8); recipients go after the options, or after `--`');
    }
  }
  const rest = argv.slice(i);
  if (!dashdash) {
    // The loop stopped at a non-option, so rest[0] is a recipient; a later "-x" is a misplaced option.
    const late = rest.find((r) => r.startsWith('-') && r !== '-');
    if (late !== undefined) {
      throw usageError(`option ${late} comes after the recipient "${rest[0]}": put the options first`,
        'sendmail reads options only before the first recipient (after `--`, everything is an address)');
    }
  }
  a.recipients = rest;

  if (flushRequested) {
    if (a.mode === 'daemon') {
      // -bd -q30m: the daemon's own queue runs.
    } else if (a.mode === 'deliver' || a.mode === 'flush') a.mode = 'flush';
    else throw usageError(`-q cannot be combined with -b${a.mode === 'list' ? 'p' : a.mode === 'smtp' ? 's' : 'i'}`);
  }
  if (a.extractRecipients && a.mode !== 'deliver') throw usageError('-t can be used only when sending a message (not with -bp, -bs, -bi, -bd or -q)');
  if (a.mode !== 'deliver' && a.recipients.length > 0) {
    throw usageError(`recipients are not allowed in this mode (${a.mode}): "${a.recipients[0]}"`,
      'give recipients only when sending a message');
  }
  return a;
}
