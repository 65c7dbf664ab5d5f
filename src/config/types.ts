/**
 * The validated configuration: what src/config/load.ts returns after checking
 * /etc/sysmail/sysmail.toml. Durations are milliseconds, sizes bytes; every
 * optional key has been given its default, so consumers never re-default.
 * The TOML shape is documented key by key in docs/CONFIG.md and
 * etc/sysmail.toml.example.
 */

export interface Config {
  /** Absolute path of the file this came from, or null for the embedded default. */
  source: string | null;
  general: GeneralConfig;
  spool: SpoolConfig;
  log: LogConfig;
  listener: ListenerConfig;
  metrics: MetricsConfig;
  alerts: AlertsConfig;
  transports: Record<string, TransportConfig>;
  /** Ordered; the first route whose `match` fits a recipient wins. */
  routes: RouteConfig[];
}

export interface GeneralConfig {
  /** Used in EHLO, Message-ID, Received and the "which host sent this" tags. Default: os.hostname(). */
  hostname: string;
  /** Qualifies bare local names: `root` -> `root@domain`. Default: hostname. */
  domain: string;
  /** Where `sysmail send` with no recipient goes, and bounces for `<>`, root and daemons. Default: "root". */
  admin: string;
  /** Recipient domains delivered on this host (after aliases). Default: [hostname, domain, "localhost"]. */
  localDomains: string[];
  /** /etc/aliases-format file, or null for none. Default: "/etc/aliases" when it exists. */
  aliases: string | null;
  /** Largest message accepted, in bytes. Default 25 MiB. */
  maxMessageSize: number;
  /** Add "X-Sysmail-Host: <hostname>" and tag generated From display names with the host. Default true. */
  tagHost: boolean;
}

export interface SpoolConfig {
  /** Spool root (queue/, tmp/, drop/, failed/, state/). Default /var/spool/sysmail. */
  dir: string;
  /** "disk" (durable) or "ram" (tmpfs; a power loss loses queued mail). */
  mode: 'disk' | 'ram';
  /** Give up and bounce after this long. Default 5 days. */
  maxLifetime: number;
  /** First retry delay. Default 60 s. */
  retryMin: number;
  /** Longest retry delay. Default 1 h. */
  retryMax: number;
}

export interface LogConfig {
  /** JSON-lines event log, or null to disable. Default /var/log/sysmail/sysmail.log. */
  file: string | null;
  /** Also send each event to syslog (/dev/log) as one line. Default false. */
  syslog: boolean;
}

export interface MetricsConfig {
  /** Prometheus text file written by serve and flush, or null for none. Default: sysmail.prom in the
   *  node_exporter textfile directory when one exists (Debian, then RHEL path), else null. */
  file: string | null;
  /** A changed file is rewritten at most this often (ms). Default 60 s. */
  minInterval: number;
}

export interface AlertsConfig {
  /** Transports that carry stuck-mail notices (never through the queue). Default [] (off). */
  via: string[];
  /** Recipient of the notices. Default general.admin. */
  to: string;
  /** A message deferred this long (ms) is "stuck". Default 4 h. */
  delayWarning: number;
  /** Also send the sender one RFC 3464 delay notice per message (Postfix's delay_warning_time). Default false. */
  delayDsn: boolean;
}

export interface ListenerConfig {
  /** host:port pairs; IPv6 in brackets. Default ["127.0.0.1:25", "[::1]:25"]. */
  listen: string[];
  /** CIDRs of non-loopback clients allowed to relay, only after AUTH over TLS. Default []. */
  allowRelayFrom: string[];
  /** PEM files for STARTTLS on the listener; required when allowRelayFrom is not empty. */
  tlsCert: string | null;
  tlsKey: string | null;
  /** user -> secret for listener AUTH (only used with allowRelayFrom). */
  users: Record<string, SecretRef>;
  /** Start relaying a message at the client's DATA command (early-delivery.ts). Default true. */
  earlyDelivery: boolean;
}

/** Where a secret comes from. Exactly one field is set. Never logged. */
export interface SecretRef {
  /** Inline; only allowed when the config file is readable by its owner alone. */
  value?: string;
  file?: string;
  /** argv, run without a shell; stdout's first line is the secret. */
  command?: string[];
  env?: string;
  /** systemd credential name, read from $CREDENTIALS_DIRECTORY/<name>. */
  credential?: string;
}

export type TransportConfig =
  | SmtpTransportConfig
  | MaildirTransportConfig
  | MboxTransportConfig
  | LocalTransportConfig
  | CommandTransportConfig
  | MotdTransportConfig
  | StdoutTransportConfig
  | OciTransportConfig;

interface TransportBase {
  /** The table name under [transports]. */
  name: string;
}

export interface SmtpTransportConfig extends TransportBase {
  type: 'smtp';
  host: string;
  /** Default: 465 for security "tls", 587 otherwise. */
  port: number;
  /** "starttls" = required; "opportunistic" = if offered; "tls" = implicit TLS; "none". Default "starttls". */
  security: 'starttls' | 'opportunistic' | 'tls' | 'none';
  /** Verify the server certificate against the system CAs (+ caFile). Default true. */
  tlsVerify: boolean;
  caFile: string | null;
  /** Hex SHA-256 of the server certificate (DER), colons allowed; checked in addition to the CA. */
  pinSha256: string | null;
  clientCert: string | null;
  clientKey: string | null;
  /** SNI / certificate name to expect. Default: host. */
  tlsServername: string | null;
  username: string | null;
  password: SecretRef | null;
  /**
   * Send credentials over a connection without verified TLS (clear text, or tls_verify = false).
   * Default false: such a session is deferred before AUTH, as msmtp does.
   */
  allowPlaintextAuth?: boolean;
  /** Force one mechanism; default: the best the server offers. */
  authMethod: 'PLAIN' | 'LOGIN' | 'CRAM-MD5' | null;
  /** EHLO name. Default general.hostname. */
  helo: string | null;
  /** Envelope sender to use on this transport instead of the message's (esmtp `force sender`). */
  forceSender: string | null;
  /**
   * The approved From for relays that accept nothing else (`rewrite_from`): the From header
   * becomes this address, the original stays in the display name and Reply-To, and it is the
   * envelope sender unless forceSender is set. Optional only so older literals stay valid.
   */
  rewriteFrom?: string | null;
  /** argv run (no shell) before each connection, e.g. to open a tunnel (esmtp `preconnect`). */
  preconnect: string[] | null;
  /** Milliseconds. */
  timeouts: { connect: number; greeting: number; command: number; data: number };
}

export interface MaildirTransportConfig extends TransportBase {
  type: 'maildir';
  /** Maildir root; created when missing. */
  path: string;
}

export interface MboxTransportConfig extends TransportBase {
  type: 'mbox';
  /** mbox file, dot-locked and appended to. */
  path: string;
}

/** Per-user local delivery: each recipient's local part is a system user. */
export interface LocalTransportConfig extends TransportBase {
  type: 'local';
  format: 'mbox' | 'maildir';
  /** For mbox: directory of per-user mboxes. Default /var/mail. */
  mailDir: string;
  /** For maildir: path relative to the user's home. Default "Maildir". */
  maildirName: string;
}

export interface CommandTransportConfig extends TransportBase {
  type: 'command';
  /** argv, no shell; {subject} {body} {from} {to} {local} {id} {host} substituted inside single elements. */
  argv: string[];
  /** What goes to stdin: the whole message, the decoded text body, or nothing. Default "message". */
  stdin: 'message' | 'body' | 'none';
  timeout: number;
  /** Run as this user (root only). Default: nobody when root, else self. */
  user: string | null;
}

export interface MotdTransportConfig extends TransportBase {
  type: 'motd';
  /** Replaced atomically on each notice. Default /etc/motd.d/sysmail. */
  path: string;
  /** Notices kept (newest first). Default 5. */
  keep: number;
}

export interface StdoutTransportConfig extends TransportBase {
  type: 'stdout';
  /** "message" prints the whole message; "summary" one line per message. */
  format: 'message' | 'summary';
}

export interface OciTransportConfig extends TransportBase {
  type: 'oci-notifications';
  topicId: string;
  region: string;
  /** Base URL; default https://notification.{region}.oraclecloud.com */
  endpoint: string | null;
  auth: 'api_key' | 'instance_principal';
  /** For api_key: OCI config file and profile. Default ~/.oci/config, DEFAULT. */
  configFile: string;
  profile: string;
  /** For instance_principal; default http://169.254.169.254/opc/v2 (tests point it at loopback). */
  metadataUrl: string;
  /** Federation endpoint; default https://auth.{region}.oraclecloud.com */
  federationUrl: string | null;
  /** Where full copies of cut messages are kept (Maildir). Default <spool>/archive. */
  archiveDir: string | null;
  /** Milliseconds. */
  timeout: number;
}

export interface RouteMatch {
  /** Recipient domains (exact, or "*.example.com"). */
  domain?: string[];
  /** Recipient local parts. */
  local?: string[];
  /** Envelope senders (full address, "@domain", or "" for the null sender). */
  sender?: string[];
}

export interface RouteConfig {
  name: string;
  /** Absent: matches every recipient. */
  match: RouteMatch | null;
  /** Transport names, in order. */
  transports: string[];
  /** "fallback": the next transport is tried when the previous one fails
   *  temporarily (for longer than fallbackAfter); "fanout": all of them. */
  mode: 'fallback' | 'fanout';
  /** Milliseconds a transport must have been failing before the next is used. Default 0. */
  fallbackAfter: number;
}
