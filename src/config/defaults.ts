/**
 * Every default value and every timeout sysmail uses, in one place, each
 * named with its unit (STYLE.md rule 8). docs/CONFIG.md and
 * etc/sysmail.toml.example repeat these numbers; a test keeps them in step.
 *
 * Also: where state lives (statePaths) and the embedded default that makes a
 * fresh install with no config file deliver into a Maildir you can find.
 * Pure: the environment and user id are passed in.
 */
import { join } from 'node:path';

// System paths. src/system/layout.ts (what install makes, doctor checks and the packages ship)
// takes these from here; test/system-layout.test.ts ties the two together.
/** Where loadConfig looks when neither -C nor $SYSMAIL_CONFIG names a file. */
export const SYSTEM_CONFIG_PATH = '/etc/sysmail/sysmail.toml';
/** Where `sysmail install` and `sysmail import` put password files (0600, root). */
export const SYSTEM_SECRETS_DIR = '/etc/sysmail/secrets';
export const SYSTEM_ALIASES_PATH = '/etc/aliases';

export const SYSTEM_SPOOL_DIR = '/var/spool/sysmail';
export const SYSTEM_LOG_FILE = '/var/log/sysmail/sysmail.log';
export const SYSTEM_MAILBOX = '/var/spool/sysmail/Maildir';

// [general]
export const DEFAULT_ADMIN = 'root';
export const DEFAULT_MAX_MESSAGE_SIZE_BYTES = 25 * 1024 * 1024;
export const DEFAULT_TAG_HOST = true;
export const LOCALHOST_DOMAIN = 'localhost';

// [spool]
export const DEFAULT_SPOOL_MODE = 'disk' as const;
export const DEFAULT_MAX_LIFETIME_MS = 5 * 86_400_000;
export const DEFAULT_RETRY_MIN_MS = 60_000;
export const DEFAULT_RETRY_MAX_MS = 3_600_000;
/**
 * In the spool directory: sysmail-flush.path watches this queue, so sendmail need not start a
 * flush process (src/submit/submit-core.ts). Written by install after enabling the unit; one stat to check.
 */
export const FLUSH_PATH_MARKER = 'flush-path-unit';

// [log]
export const DEFAULT_SYSLOG = false;

// [listener]
export const DEFAULT_LISTEN = ['127.0.0.1:25', '[::1]:25'];
/** serve's early delivery (docs/QUEUE-FORMAT.md, "The early delivery"). */
export const DEFAULT_EARLY_DELIVERY = true;

// [metrics]
/** node_exporter's textfile collector directories, in the order they are looked for. */
export const TEXTFILE_DIRS = ['/var/lib/prometheus/node-exporter', '/var/lib/node_exporter/textfile_collector'];
export const METRICS_FILE_NAME = 'sysmail.prom';
export const DEFAULT_METRICS_MIN_INTERVAL_MS = 60_000;

// [alerts]
export const DEFAULT_ALERT_DELAY_WARNING_MS = 4 * 3_600_000;
export const DEFAULT_ALERT_DELAY_DSN = false;

// [transports.*] type = "smtp"
export const SMTP_PORT_IMPLICIT_TLS = 465;
export const SMTP_PORT_SUBMISSION = 587;
export const DEFAULT_SMTP_SECURITY = 'starttls' as const;
export const DEFAULT_TLS_VERIFY = true;
export const SMTP_CONNECT_TIMEOUT_MS = 30_000;
export const SMTP_GREETING_TIMEOUT_MS = 30_000;
export const SMTP_COMMAND_TIMEOUT_MS = 60_000;
export const SMTP_DATA_TIMEOUT_MS = 120_000;

// type = "oci-notifications"
export const DEFAULT_OCI_AUTH = 'api_key' as const;
export const DEFAULT_OCI_METADATA_URL = 'http://169.254.169.254/opc/v2';
export const DEFAULT_OCI_CONFIG_FILE = '~/.oci/config';
export const DEFAULT_OCI_PROFILE = 'DEFAULT';
export const OCI_TIMEOUT_MS = 30_000;
/** Under the spool dir, unless archive_dir says otherwise. */
export const OCI_ARCHIVE_SUBDIR = 'archive';

// type = "command"
export const DEFAULT_COMMAND_STDIN = 'message' as const;
/** A command transport's program must finish within this long (its `timeout` key). */
export const COMMAND_TRANSPORT_TIMEOUT_MS = 60_000;

// type = "motd"
export const DEFAULT_MOTD_PATH = '/etc/motd.d/sysmail';
export const DEFAULT_MOTD_KEEP = 5;

// type = "stdout"
export const DEFAULT_STDOUT_FORMAT = 'summary' as const;

// type = "local"
export const DEFAULT_LOCAL_FORMAT = 'mbox' as const;
export const DEFAULT_LOCAL_MAIL_DIR = '/var/mail';
export const DEFAULT_LOCAL_MAILDIR_NAME = 'Maildir';

// [[routes]]
export const DEFAULT_ROUTE_MODE = 'fallback' as const;
export const DEFAULT_FALLBACK_AFTER_MS = 0;
/** Name of the route made when the file has none. */
export const DEFAULT_ROUTE_NAME = 'default';
/** The transport a file without [[routes]] sends everything to, when there are several. */
export const DEFAULT_TRANSPORT_NAME = 'default';
/** The one transport of the embedded default. */
export const EMBEDDED_TRANSPORT_NAME = 'local-maildir';

// Secrets
/** password_command must print the secret within this long. */
export const SECRET_COMMAND_TIMEOUT_MS = 10_000;
/** More than this on a password command's stdout is a mistake, not a password. */
export const SECRET_COMMAND_MAX_OUTPUT_BYTES = 64 * 1024;

// `sysmail serve` and `sendmail -bs` (not configurable)
/** An SMTP client that sends nothing for this long is told 421 and dropped (RFC 5321 §4.5.3.2 asks for 5 min). */
export const LISTENER_IDLE_TIMEOUT_MS = 5 * 60_000;
/** On shutdown, open sessions get this long to finish before they are told 421. */
export const LISTENER_CLOSE_TIMEOUT_MS = 10_000;
/** Simultaneous SMTP sessions; more get 421 (a loopback listener never needs many). */
export const LISTENER_MAX_CLIENTS = 100;
/** Recipients per message; more get 452 (the client sends the rest in another transaction). */
export const LISTENER_MAX_RECIPIENTS = 1000;
/** Sessions one client (a local uid, or a remote address) may hold at once; more get 421. */
export const LISTENER_MAX_PER_CLIENT = 10;
/** Sessions only root may take, so a local user holding every other slot cannot lock root's cron mail out. */
export const LISTENER_ROOT_RESERVED = 10;
/** A failed AUTH is answered after this delay times the failures from that client (up to the cap): no password guessing at speed. */
export const AUTH_FAILURE_DELAY_MS = 1_000;
export const AUTH_FAILURE_DELAY_MAX_MS = 10_000;
/**
 * Outgoing connections (SMTP to the relay) stay open this long after a pass, so the next pass
 * reuses them instead of connecting, greeting and EHLO again (Postfix's scache keeps 2 s; a few
 * seconds covers a cron job's or a script's burst without holding a relay's slot for long).
 */
export const TRANSPORT_KEEP_IDLE_MS = 5_000;
/**
 * serve's early delivery (Transport.prepare): how long a relay transaction opened at the client's
 * DATA command waits for the message before it is abandoned (the pass then sends as usual). Local
 * clients send a message in milliseconds (25 MB over loopback: ~0.3 s); a slower one loses only
 * its head start. Another delivery that needs the connection meanwhile abandons it at once.
 */
export const EARLY_DELIVERY_WAIT_MS = 2_000;
/**
 * After an early relay transaction is abandoned (its connection closed before the final dot), no
 * new one starts for this long. Each abandoned one costs a relay connection (a TLS handshake and
 * an AUTH at the smarthost); without the rest a local client that keeps sending DATA and
 * hanging up could make serve open connection after connection to the relay, and get its
 * account throttled. Messages meanwhile go the usual way.
 */
export const EARLY_DELIVERY_REST_MS = 30_000;
/** A kept connection is closed at the end of the first pass after this age, as Postfix's smtp_connection_reuse_time_limit. */
export const TRANSPORT_KEEP_MAX_AGE_MS = 300_000;
/** Bytes of just-accepted messages serve keeps in memory for their first delivery (read back from the spool beyond that). */
export const ACCEPTED_KEEP_BYTES = 8 * 1024 * 1024;
/** File events in queue/ and drop/ arrive in bursts (create, write, rename): one pass per burst. */
export const QUEUE_WATCH_DEBOUNCE_MS = 2;
/** The queue is looked at at least this often, so a missed event or a clock jump is recovered. */
export const QUEUE_MAX_SLEEP_MS = 5 * 60_000;
/** A message still due after a pass (another process holds it) is looked at again after this long, not at once. */
export const QUEUE_BUSY_RETRY_MS = 1_000;
/** On SIGTERM the running delivery pass gets this long to finish; its claims are recovered on the next start otherwise. */
export const SHUTDOWN_PASS_TIMEOUT_MS = 30_000;

// Programs install, doctor and status run (src/system/exec.ts), and doctor's probes (not configurable)
/** Any program install or uninstall runs (alternatives, dpkg-divert, systemctl; semodule may take a while). */
export const SYSTEM_PROGRAM_TIMEOUT_MS = 120_000;
/** A query doctor runs (alternatives --display, getenforce, semodule -l, stat). */
export const DOCTOR_PROGRAM_TIMEOUT_MS = 30_000;
/** `sysmail status`: systemctl must answer within this long, or the unit shows as "unknown". */
export const SYSTEMCTL_TIMEOUT_MS = 3_000;
/** doctor's SMTP probe uses the transport's timeouts, each cut to this: a doctor run should not sit 30 s on one dead host. */
export const SMTP_PROBE_TIMEOUT_CAP_MS = 10_000;
/** doctor's OCI probe: the signed GET gives up after this (or the transport's timeout, if shorter). */
export const OCI_PROBE_TIMEOUT_MS = 10_000;

// Sanity limits the validator enforces (they catch unit slips like "5d" for a timeout).
export const MAX_TIMEOUT_MS = 86_400_000;
export const MAX_RETRY_MS = 7 * 86_400_000;
export const MAX_LIFETIME_MS = 365 * 86_400_000;
export const MIN_MESSAGE_SIZE_BYTES = 1024;
export const MAX_MESSAGE_SIZE_BYTES = 2 * 1024 ** 3;
export const MAX_MOTD_KEEP = 1000;

export interface StatePaths {
  spoolDir: string;
  logFile: string;
  /** Maildir the embedded default delivers to. */
  mailbox: string;
}

/**
 * Where state lives. With $SYSMAIL_STATE_DIR (development, or a per-user
 * instance) everything is under that directory; otherwise the system paths.
 * The user id does not change the answer on purpose: root and users submit
 * into one spool, so mail never splits across two queues.
 */
export function statePaths(env: NodeJS.ProcessEnv, _euid?: number): StatePaths {
  const d = env.SYSMAIL_STATE_DIR;
  if (d) {
    return { spoolDir: join(d, 'spool'), logFile: join(d, 'log', 'sysmail.log'), mailbox: join(d, 'Maildir') };
  }
  return { spoolDir: SYSTEM_SPOOL_DIR, logFile: SYSTEM_LOG_FILE, mailbox: SYSTEM_MAILBOX };
}
