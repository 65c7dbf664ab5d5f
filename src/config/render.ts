/**
 * renderConfig: the effective configuration as TOML, for `sysmail config show`.
 *
 * Guarantees: every key is shown with its effective value (defaults filled
 * in); durations and sizes in the units sysmail.toml accepts; the output
 * parses and validates back to the same Config (except that an inline
 * password reads back as "(redacted)"). Inline passwords are never printed;
 * password_file/_command/_env/_credential are, since they only say where the
 * secret lives. Keys that are not set appear as comments.
 */
import type { Config, RouteConfig, SecretRef, TransportConfig } from './types.js';
import { formatDuration, formatSize } from './units.js';

export const REDACTED = '(redacted)';

type Value = string | number | boolean | string[] | null | Record<string, string | string[]>;

export function renderConfig(config: Config): string {
  const out: string[] = [];
  out.push('# Effective sysmail configuration (defaults filled in; secrets redacted).');
  out.push(config.source ? `# From ${config.source}` : '# From the embedded default: no config file was found.');

  const g = config.general;
  section(out, '[general]', [
    ['hostname', g.hostname], ['domain', g.domain], ['admin', g.admin], ['local_domains', g.localDomains],
    ['aliases', g.aliases ?? false], ['max_message_size', formatSize(g.maxMessageSize)], ['tag_host', g.tagHost],
  ]);
  const s = config.spool;
  section(out, '[spool]', [
    ['dir', s.dir], ['mode', s.mode], ['max_lifetime', formatDuration(s.maxLifetime)],
    ['retry_min', formatDuration(s.retryMin)], ['retry_max', formatDuration(s.retryMax)],
  ]);
  section(out, '[log]', [['file', config.log.file ?? false], ['syslog', config.log.syslog]]);
  const l = config.listener;
  section(out, '[listener]', [
    ['listen', l.listen], ['allow_relay_from', l.allowRelayFrom], ['tls_cert', l.tlsCert], ['tls_key', l.tlsKey],
    ['early_delivery', l.earlyDelivery],
  ]);
  const users = Object.entries(l.users);
  if (users.length > 0) section(out, '[listener.users]', users.map(([name, ref]) => [name, secretTable(ref)]));

  section(out, '[metrics]', [['file', config.metrics.file ?? false], ['min_interval', formatDuration(config.metrics.minInterval)]]);
  const a = config.alerts;
  section(out, '[alerts]', [
    ['via', a.via], ['to', a.to], ['delay_warning', formatDuration(a.delayWarning)], ['delay_dsn', a.delayDsn],
  ]);
  for (const t of Object.values(config.transports)) section(out, `[transports.${key(t.name)}]`, transportEntries(t));
  for (const r of config.routes) section(out, '[[routes]]', routeEntries(r));
  return out.join('\n') + '\n';
}

function transportEntries(t: TransportConfig): [string, Value][] {
  const head: [string, Value][] = [['type', t.type]];
  switch (t.type) {
    case 'smtp':
      return [...head,
        ['host', t.host], ['port', t.port], ['security', t.security], ['tls_verify', t.tlsVerify], ['ca_file', t.caFile],
        ['pin_sha256', t.pinSha256], ['client_cert', t.clientCert], ['client_key', t.clientKey],
        ['tls_servername', t.tlsServername], ['username', t.username],
        ...(t.password ? secretEntries(t.password) : [['password', null] as [string, Value]]),
        ['allow_plaintext_auth', t.allowPlaintextAuth ?? false], ['auth_method', t.authMethod], ['helo', t.helo], ['force_sender', t.forceSender], ['rewrite_from', t.rewriteFrom ?? null], ['preconnect', t.preconnect],
        ['timeouts', {
          connect: formatDuration(t.timeouts.connect), greeting: formatDuration(t.timeouts.greeting),
          command: formatDuration(t.timeouts.command), data: formatDuration(t.timeouts.data),
        }],
      ];
    case 'maildir':
    case 'mbox':
      return [...head, ['path', t.path]];
    case 'local':
      return [...head, ['format', t.format], ['mail_dir', t.mailDir], ['maildir_name', t.maildirName]];
    case 'command':
      return [...head, ['argv', t.argv], ['stdin', t.stdin], ['timeout', formatDuration(t.timeout)], ['user', t.user]];
    case 'motd':
      return [...head, ['path', t.path], ['keep', t.keep]];
    case 'stdout':
      return [...head, ['format', t.format]];
    case 'oci-notifications':
      return [...head,
        ['topic_id', t.topicId], ['region', t.region], ['endpoint', t.endpoint], ['auth', t.auth],
        ['config_file', t.configFile], ['profile', t.profile], ['metadata_url', t.metadataUrl],
        ['federation_url', t.federationUrl], ['archive_dir', t.archiveDir ?? false], ['timeout', formatDuration(t.timeout)],
      ];
  }
}

function routeEntries(r: RouteConfig): [string, Value][] {
  const match: Record<string, string[]> = {};
  if (r.match?.domain) match.domain = r.match.domain;
  if (r.match?.local) match.local = r.match.local;
  if (r.match?.sender) match.sender = r.match.sender;
  return [
    ['name', r.name],
    ['match', Object.keys(match).length > 0 ? match : null],
    ['transports', r.transports], ['mode', r.mode],
    // fallback_after is refused on fan-out routes, so it is not shown there.
    ...(r.mode === 'fallback' ? [['fallback_after', formatDuration(r.fallbackAfter)] as [string, Value]] : []),
  ];
}

function secretEntries(ref: SecretRef): [string, Value][] {
  return Object.entries(secretTable(ref));
}

function secretTable(ref: SecretRef): Record<string, string | string[]> {
  if (ref.value !== undefined) return { password: REDACTED };
  if (ref.file !== undefined) return { password_file: ref.file };
  if (ref.command !== undefined) return { password_command: ref.command };
  if (ref.env !== undefined) return { password_env: ref.env };
  return { password_credential: ref.credential ?? '' };
}

/** What an unset key means, where "not set" alone would not say. */
const UNSET: Record<string, string> = {
  endpoint: 'computed from region',
  federation_url: 'computed from region',
  tls_servername: 'the host name',
  helo: 'general.hostname',
  auth_method: 'the best the server offers',
  match: 'every recipient',
};

function section(out: string[], header: string, entries: [string, Value][]): void {
  out.push('', header);
  for (const [k, v] of entries) {
    out.push(v === null ? `# ${key(k)}: not set${UNSET[k] ? ` (${UNSET[k]})` : ''}` : `${key(k)} = ${value(v)}`);
  }
}

function key(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
}

/** JSON string escapes are a subset of TOML basic-string escapes. */
function value(v: Exclude<Value, null>): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
  return `{ ${Object.entries(v).map(([k, x]) => `${key(k)} = ${value(x)}`).join(', ')} }`;
}
