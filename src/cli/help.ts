/**
 * `sysmail help [COMMAND]` and `--help`: reads like a man page.
 * Every command has help: a topic here, or the command's own --help text
 * (serve, doctor, test, install, uninstall keep theirs beside their options).
 * An unknown topic is a usage error (64) naming the commands, never the
 * generic text, so a typo cannot pass for an answer.
 */
import { EX, SysmailError } from '../core/errors.js';

const MAIN = `NAME
    sysmail - system mail that arrives

SYNOPSIS
    sendmail [flags] [--] [recipient ...]          (when installed as sendmail)
    sysmail sendmail [flags] [--] [recipient ...]
    sysmail send -s SUBJECT [-r FROM] [-c CC] [-b BCC] [recipient ...] < body
    sysmail notify SUBJECT < body
    sysmail serve | flush | queue | log | status | metrics | config | doctor | test | import | install | uninstall | cache

DESCRIPTION
    sysmail queues each message durably on disk before it says yes (exit 0, or
    SMTP 250), then delivers it to the routes in /etc/sysmail/sysmail.toml: an
    SMTP smarthost, Oracle Cloud Notifications, a local mailbox, a command, the
    motd or stdout. Failed attempts are retried with backoff; permanent
    failures are bounced and kept in the failed queue. Every step is one JSON
    line in the event log (sysmail log). With no config file at all, mail is
    delivered to a Maildir under the spool (/var/spool/sysmail/Maildir).

COMMANDS
    sendmail    the sendmail(8) interface (see 'sysmail help sendmail')
    send        mailx-style: send stdin with a subject; no recipient = the admin
    notify      'cat report | sysmail notify "Subject"': send stdin to the admin
    serve       loopback SMTP listener (127.0.0.1:25, [::1]:25) and queue runner
    flush       deliver the queue now (--due: only what is due; for timers)
    queue       list the queue (--failed, --json); queue flush|delete|hold|release ID
    log         show the event log (--id, --rcpt, --status, --since, --json)
    status      one screen: queue, transports, services, disk; exit 0/1/2 like a Nagios check
    metrics     Prometheus metrics on stdout (--write: also update metrics.file)
    config      config check | config show (secrets redacted)
    doctor      check this host and say why mail does not arrive, and the fix
    cache       cache rebuild: make V8's code cache for this Node (faster start-up)
    test        send a test message through the configured route and wait
    import      import an esmtprc, msmtprc, ssmtp or nullmailer configuration
    install     install as the system MTA (alternatives, systemd, spool)
    uninstall   undo exactly what install did, restoring the previous MTA

OPTIONS (all commands)
    -C, --config FILE   config file (default: $SYSMAIL_CONFIG, /etc/sysmail/sysmail.toml)
    --spool DIR         spool directory (default from config; env SYSMAIL_SPOOL)
    -v, --verbose       say what happens, on stderr
    -h, --help          this text, or 'sysmail help COMMAND'

ENVIRONMENT
    SYSMAIL_CONFIG      config file
    SYSMAIL_STATE_DIR   development: keep spool, log and Maildir under this directory
    SYSMAIL_SPOOL       spool directory
    SYSMAIL_CODE_CACHE_DIR  where the code cache is read and written first
                        (default /var/cache/sysmail; then beside the bundle)

EXIT STATUS (sysexits.h)
    0   accepted: the message is durably queued
    64  usage error (unknown flag, missing argument, no recipients, an invalid
        recipient on the command line)
    65  bad input (message too large, an invalid address or list in the headers,
        too many recipients, NUL bytes)
    66  no such input / queue id
    69  service unavailable
    70  internal error (a bug: please report it)
    73  cannot create a file
    75  temporary failure: cannot queue now (disk full, spool unwritable); try again
    77  permission denied
    78  configuration error (the message names the file, line and key)

FILES
    /etc/sysmail/sysmail.toml       configuration (see sysmail.toml(5), docs/CONFIG.md)
    /var/spool/sysmail/             spool: queue/, failed/, drop/ (docs/QUEUE-FORMAT.md)
    /var/log/sysmail/sysmail.log    event log, one JSON object per line
    /etc/aliases                    local aliases (root: admin@example.com)
`;

const TOPICS: Record<string, string> = {
  sendmail: `sendmail [flags] [--] [recipient ...]

Reads a message on stdin and queues it. Exit 0 only once it is on disk.

    -t              recipients from To:, Cc:, Bcc: (added to any given as arguments);
                    Bcc: is removed from the copy sent
    -i, -oi         a line with a single "." does not end the message
    -f ADDR, -r ADDR
                    envelope sender; -f '<>' or -f '' is the null sender
    -F NAME         full name for a generated From: header
    -bm             read and deliver (the default)
    -bp             list the queue (same as mailq)
    -bs             SMTP on stdin/stdout
    -bi, -I         newaliases: nothing to rebuild, exit 0
    -bd             run the daemon (same as sysmail serve)
    -q              deliver the queue now; -qI<id> one message
    -odq            queue only; -odi/-odb deliver in the background (default)
    -v              deliver in the foreground and show each step
    -C FILE         config file
    -N DSN, -R RET, -V ENVID, -B BODY
                    DSN notify / return / envelope id / body type
    --              end of flags: everything after is a recipient

Accepted and ignored, as real callers pass them: -oem -oee -om -oX… -O opt=val
-L tag -G -h N -U -n -m -Ac -Am -X file -d X -p proto.

Examples:
    printf 'Subject: hi\\n\\nbody\\n' | sendmail -i admin@example.com
    sendmail -t < message.eml`,
  send: `sysmail send -s SUBJECT [-r FROM] [-c CC]… [-b BCC]… [--queue] [recipient ...] < body

Sends standard input as a text/plain message. With no recipient it goes to
general.admin. The subject may hold anything: CR/LF become spaces, never a
new header. -Svar (mailx variables, e.g. dnf-automatic's -Ssendwait) is
accepted and ignored. --queue only queues.`,
  notify: `sysmail notify SUBJECT < body

For scripts written as 'cat report | notify-script "Subject"': sends standard
input to general.admin. A symlink to sysmail named sysmail-notify or
oci-notification-mail behaves the same; 'sysmail install --notify-command
/usr/local/bin/oci-notification-mail' writes such a command, so an old
command_format = "/usr/local/bin/oci-notification-mail {subject}" keeps working.`,
  flush: `sysmail flush [--id ID]… [--due] [--quiet] [-v]

Runs one delivery pass: recovers claims left by crashed processes, imports the
drop directory, delivers. Without --due every queued message is tried now
(like postqueue -f); with --due only those whose retry time has come (for the
sysmail-flush.timer). Needs root or the spool owner. After the pass it checks
for stuck mail ([alerts]) and updates metrics.file ([metrics]) when it changed.`,
  queue: `sysmail queue [list] [--failed] [--json]
sysmail queue flush|delete|hold|release ID…

Lists the queue with each message's last error and next attempt, or the failed
messages (bounced or expired, kept for inspection). Held messages (!) are not
delivered until released.`,
  log: `sysmail log [--id ID] [--rcpt ADDR] [--status STATUS] [--event EVENT] [--since 2h|DATE] [-n N] [--json] [--file PATH]

Shows the event log. Events: accepted, attempt, delivered, deferred, failed,
bounced, expired, held, released, deleted, corrupt, rejected, error, reloaded
(serve read its config again after SIGHUP).`,
  import: `sysmail import esmtprc|msmtprc|ssmtp|nullmailer [FILE] [--write] [--force] [--secrets-dir DIR] [-C PATH]

Reads the configuration of the agent you have now (default locations: /etc/esmtprc
then ~/.esmtprc; /etc/msmtprc, ~/.config/msmtp/config, ~/.msmtprc;
/etc/ssmtp/ssmtp.conf with its revaliases; /etc/nullmailer/) and prints the
equivalent sysmail.toml on stdout, with a warning on stderr, naming file and
line, for anything it cannot carry over. --write writes the config to -C PATH
(default /etc/sysmail/sysmail.toml) and each password to its own 0600 file
in secrets/ beside it (/etc/sysmail/secrets; or --secrets-dir DIR); nothing
is overwritten without --force.
See docs/MIGRATION.md.`,
  status: `sysmail status [--json]

One screen: the queue by state and its oldest message, each transport's last
success and last error, whether serve and the flush timer/path units are
active, the free space of the spool's file system, a stuck-mail outage in
progress, and the metrics file. Reads only.

Exit status, as a Nagios plugin (use it as a check command as it is):
    0   OK        nothing deferred, nothing corrupt
    1   WARNING   mail deferred, a transport failing, corrupt entries,
                  drop/ not being imported, less than 10 % free on the spool
    2   CRITICAL  mail deferred longer than alerts.delay_warning (default 4h),
                  less than 5 % free on the spool
    3   UNKNOWN   the spool cannot be read (run it as root)
The first line is the summary ("SYSMAIL WARNING: ..."). See docs/fleet.md.`,
  metrics: `sysmail metrics [--write]

Prints the metrics in the Prometheus text format: messages by state
(sysmail_queue_messages), the oldest deferred message, deliveries, deferrals,
failures and bounces per transport (counters folded from the event log, so
they survive restarts), each transport's last success and last error class,
and sysmail_build_info. serve and flush write the same text to metrics.file
(atomically, only when it changed, at most every metrics.min_interval); --write
does it now. See docs/fleet.md.`,
  mailq: `mailq   (sysmail queue, sendmail -bp)

Lists the queue like Postfix's mailq: each message's id, size, arrival time,
sender and recipients with its last error and next attempt. See 'sysmail help
queue' for the options.`,
  newaliases: `newaliases   (sendmail -bi, -I)

sysmail reads /etc/aliases directly on every delivery, so there is nothing to
rebuild: it reads the file, names each line it cannot use, prints how many
aliases it holds, and exits 0.`,
  help: `sysmail help [COMMAND]

The overview, or the help of one command. 'sysmail COMMAND --help' is the same.`,
  version: `sysmail version   (or --version, -V)

Prints the version of sysmail and of node.`,
  config: `sysmail config check | show

check: validate the config (exit 78 with FILE:LINE: key: problem for each
error). show: the effective config with every default, secrets redacted.`,
};

type Command = (argv: string[], invokedAs: string) => Promise<number>;

/** Commands whose help text lives with their options: `help X` runs `X --help`. */
const OWN_HELP: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve.js')).serveCommand,
  doctor: async () => (await import('./doctor.js')).doctorCommand,
  test: async () => (await import('./doctor.js')).testCommand,
  install: async () => (await import('./install.js')).installCommand,
  uninstall: async () => (await import('./install.js')).uninstallCommand,
  cache: async () => (await import('./cache.js')).cacheCommand,
};

/** Every command `sysmail help` knows (main.ts's table must match; a test checks). */
export const HELP_TOPICS = [...Object.keys(TOPICS), ...Object.keys(OWN_HELP)].sort();

export async function helpCommand(argv: string[]): Promise<number> {
  const topic = argv[0];
  if (topic === undefined) { process.stdout.write(MAIN + '\n'); return EX.OK; }
  const text = TOPICS[topic];
  if (text !== undefined) { process.stdout.write(text + '\n'); return EX.OK; }
  const own = OWN_HELP[topic];
  if (own) return (await own())(['--help'], 'sysmail');
  throw new SysmailError('EUSAGE', `no help for "${topic}": it is not a sysmail command`,
    { exit: EX.USAGE, hint: `sysmail help COMMAND, with one of: ${HELP_TOPICS.join(', ')}` });
}

/** `sysmail --version`: the package version and the commit it was built from (dist/build-info.json). */
export async function versionCommand(): Promise<number> {
  const { findPackageDir, readBuildInfo } = await import('../system/package.js');
  const b = readBuildInfo(findPackageDir());
  process.stdout.write(`sysmail ${b.version} (commit ${b.commit}; node ${process.version})\n`);
  return EX.OK;
}
