/**
 * validateConfig: raw TOML data -> the complete, checked Config.
 *
 * Guarantees: pure (the environment, user id, host name, file existence and
 * the config file's owner/mode are injected); every default is applied here,
 * so consumers never re-default; every problem is collected and reported in
 * one ConfigInvalidError (EX_CONFIG) as FILE:LINE: dotted.key: what; fix.
 * Nothing is guessed: unknown keys, wrong types and contradictions are errors.
 */
import { hostname as osHostname, homedir as osHomedir } from '../core/host-facts.js';
import type { AlertsConfig, Config, GeneralConfig, ListenerConfig, LogConfig, MetricsConfig, RouteConfig, RouteMatch, SecretRef, SpoolConfig, TransportConfig } from './types.js';
import { ConfigInvalidError, isTable, Problems, Reader, type Table } from './check.js';
import { locateKeys, type KeyPath } from './locate.js';
import * as D from './defaults.js';
import {
  addressProblem, domainPatternProblem, domainProblem, hostnameProblem, listenProblem, localPartProblem, parseCidr,
  senderPatternProblem,
} from './syntax.js';
import { readSecret, readTransports } from './validate-transports.js';

export interface ValidateContext {
  env: NodeJS.ProcessEnv;
  euid: number;
  hostname: string;
  homedir: string;
  /** File existence, for defaults that depend on it (/etc/aliases). Default: nothing exists. */
  exists(path: string): boolean;
  /** Owner and mode of the config file, for the inline-password rule; null skips the rule. */
  fileStat: { uid: number; mode: number } | null;
}

const SECTIONS = ['general', 'spool', 'log', 'listener', 'metrics', 'alerts', 'transports', 'routes'];

export function validateConfig(raw: unknown, source: string | null, text?: string, ctx?: Partial<ValidateContext>): Config {
  const c: ValidateContext = {
    env: ctx?.env ?? process.env,
    euid: ctx?.euid ?? process.geteuid?.() ?? 0,
    hostname: ctx?.hostname ?? osHostname(),
    homedir: ctx?.homedir ?? osHomedir(),
    exists: ctx?.exists ?? (() => false),
    fileStat: ctx?.fileStat ?? null,
  };
  const file = source ?? '(embedded default)';
  const p = new Problems(() => locateKeys(text ?? ''));
  const root = isTable(raw) ? raw : {};
  const top = new Reader(root, [], p);
  top.allow(...SECTIONS);

  const state = envPaths(c.env, p);
  const general = readGeneral(top.table('general'), c, p);
  const spool = readSpool(top.table('spool'), state, p);
  const log = readLog(top.table('log'), state, p);
  const inline: KeyPath[] = [];
  const listener = readListener(top.table('listener'), inline, p);
  const transportsRaw = top.table('transports');
  let transports = readTransports(transportsRaw, { p, spoolDir: spool.dir, home: c.env.HOME || c.homedir, inline });
  const declared = new Set(Object.keys(transportsRaw ?? {}));
  if (declared.size === 0) {
    // No transports at all (no file, or a file that only tunes [general]):
    // the embedded default, so mail lands somewhere you can read it.
    transports = { [D.EMBEDDED_TRANSPORT_NAME]: { name: D.EMBEDDED_TRANSPORT_NAME, type: 'maildir', path: state.mailbox } };
    declared.add(D.EMBEDDED_TRANSPORT_NAME);
  }
  const routes = readRoutes(top, transports, declared, p);
  const metrics = readMetrics(top.table('metrics'), c, p);
  const alerts = readAlerts(top.table('alerts'), general, declared, p);
  top.done();

  if (inline.length > 0 && c.fileStat) inlinePasswordRule(file, c, inline[0]!, p);
  if (p.list.length > 0) throw new ConfigInvalidError(file, p.list);
  return { source, general, spool, log, listener, metrics, alerts, transports, routes: routes ?? [] };
}

interface EnvPaths extends D.StatePaths {
  /** $SYSMAIL_SPOOL, which beats both the file and the default. */
  spoolOverride: string | null;
}

function envPaths(env: NodeJS.ProcessEnv, p: Problems): EnvPaths {
  for (const name of ['SYSMAIL_STATE_DIR', 'SYSMAIL_SPOOL'] as const) {
    const v = env[name];
    if (v && !v.startsWith('/')) p.add([`$${name}`], `must be an absolute path (got "${v}"); export ${name}="$PWD/${v}"`);
  }
  const ok = (v: string | undefined) => (v && v.startsWith('/') ? v : undefined);
  // Only the one variable statePaths reads: spreading process.env costs a getenv per variable.
  const paths = D.statePaths({ SYSMAIL_STATE_DIR: ok(env.SYSMAIL_STATE_DIR) });
  return { ...paths, spoolOverride: ok(env.SYSMAIL_SPOOL) ?? null };
}

function readGeneral(t: Table | undefined, c: ValidateContext, p: Problems): GeneralConfig {
  const r = new Reader(t ?? {}, ['general'], p);
  const hostname = r.str('hostname') ?? c.hostname;
  if (r.has('hostname') && hostnameProblem(hostname)) {
    p.add(r.at('hostname'), `${hostnameProblem(hostname)} (got "${hostname}"); use the fully qualified name, e.g. "web1.example.com"`);
  }
  const domain = r.str('domain') ?? hostname;
  if (r.has('domain') && domainProblem(domain)) {
    p.add(r.at('domain'), `${domainProblem(domain)} (got "${domain}"); bare names are qualified with it, so write e.g. "example.com"`);
  }
  const admin = r.str('admin') ?? D.DEFAULT_ADMIN;
  const adminWhy = addressProblem(admin, true);
  if (adminWhy) p.add(r.at('admin'), `is not a valid address: it ${adminWhy} (got "${admin}"); write "root" or "ops@example.com"`);
  const localDomains = r.strList('local_domains', 'write local_domains = ["example.com", "localhost"]')
    ?? [...new Set([hostname, domain, D.LOCALHOST_DOMAIN])];
  if (r.has('local_domains')) {
    localDomains.forEach((d, i) => {
      const why = domainProblem(d);
      if (why) p.add([...r.at('local_domains'), i], `${why} (got "${d}")`);
    });
  }
  const aliasesSet = r.absPath('aliases', { off: true });
  const aliases = aliasesSet !== undefined ? aliasesSet : c.exists(D.SYSTEM_ALIASES_PATH) ? D.SYSTEM_ALIASES_PATH : null;
  const maxMessageSize = r.size('max_message_size', D.MIN_MESSAGE_SIZE_BYTES, D.MAX_MESSAGE_SIZE_BYTES) ?? D.DEFAULT_MAX_MESSAGE_SIZE_BYTES;
  const tagHost = r.bool('tag_host') ?? D.DEFAULT_TAG_HOST;
  r.done();
  return { hostname, domain, admin, localDomains: localDomains.map((d) => d.toLowerCase()), aliases, maxMessageSize, tagHost };
}

function readSpool(t: Table | undefined, state: EnvPaths, p: Problems): SpoolConfig {
  const r = new Reader(t ?? {}, ['spool'], p);
  const dir = state.spoolOverride ?? r.absPath('dir') ?? state.spoolDir;
  if (state.spoolOverride) r.allow('dir');
  const mode = r.oneOf('mode', ['disk', 'ram'] as const) ?? D.DEFAULT_SPOOL_MODE;
  const maxLifetime = r.duration('max_lifetime', 60_000, D.MAX_LIFETIME_MS) ?? D.DEFAULT_MAX_LIFETIME_MS;
  const retryMin = r.duration('retry_min', 1000, D.MAX_RETRY_MS) ?? D.DEFAULT_RETRY_MIN_MS;
  // An unset retry_max follows the keys that were set rather than contradict them.
  const retryMax = r.duration('retry_max', 1000, D.MAX_RETRY_MS)
    ?? Math.min(Math.max(D.DEFAULT_RETRY_MAX_MS, retryMin), maxLifetime);
  if (retryMin > retryMax) p.add(r.at('retry_min'), 'is longer than retry_max; make retry_min <= retry_max');
  else if (retryMax > maxLifetime) p.add(r.at('retry_max'), 'is longer than max_lifetime, so mail would expire before its next try; shorten retry_max');
  r.done();
  return { dir, mode, maxLifetime, retryMin, retryMax };
}

function readLog(t: Table | undefined, state: EnvPaths, p: Problems): LogConfig {
  const r = new Reader(t ?? {}, ['log'], p);
  const set = r.absPath('file', { off: true });
  const syslog = r.bool('syslog') ?? D.DEFAULT_SYSLOG;
  r.done();
  return { file: set === undefined ? state.logFile : set, syslog };
}

function readMetrics(t: Table | undefined, c: ValidateContext, p: Problems): MetricsConfig {
  const r = new Reader(t ?? {}, ['metrics'], p);
  const set = r.absPath('file', { off: true });
  if (typeof set === 'string' && !set.endsWith('.prom')) {
    p.add(r.at('file'), `must end in ".prom" (got "${set}"): node_exporter's textfile collector reads only *.prom files`);
  }
  // Default: on when node_exporter's textfile directory exists (Debian's path first, then the common RHEL one);
  // a development instance ($SYSMAIL_STATE_DIR) never writes into the system's.
  const dir = c.env.SYSMAIL_STATE_DIR ? undefined : D.TEXTFILE_DIRS.find((d) => c.exists(d));
  const file = set !== undefined ? set : dir ? `${dir}/${D.METRICS_FILE_NAME}` : null;
  const minInterval = r.duration('min_interval', 0, D.MAX_TIMEOUT_MS) ?? D.DEFAULT_METRICS_MIN_INTERVAL_MS;
  r.done();
  return { file, minInterval };
}

function readAlerts(t: Table | undefined, general: GeneralConfig, declared: Set<string>, p: Problems): AlertsConfig {
  const r = new Reader(t ?? {}, ['alerts'], p);
  const via = r.strList('via', 'write via = ["motd"] (transport names), or [] for no notices') ?? [];
  via.forEach((name, i) => {
    if (!declared.has(name)) {
      p.add([...r.at('via'), i], `names transport "${name}", which is not defined; define [transports.${name}], or use one of: ${[...declared].join(', ') || 'none'}`);
    } else if (via.indexOf(name) !== i) {
      p.add([...r.at('via'), i], `lists transport "${name}" twice; name each channel once`);
    }
  });
  const to = r.str('to') ?? general.admin;
  if (r.has('to')) {
    const why = addressProblem(to, true);
    if (why) p.add(r.at('to'), `is not a valid address: it ${why} (got "${to}"); write "root" or "ops@example.com"`);
  }
  const delayWarning = r.duration('delay_warning', 1000, D.MAX_LIFETIME_MS) ?? D.DEFAULT_ALERT_DELAY_WARNING_MS;
  const delayDsn = r.bool('delay_dsn') ?? D.DEFAULT_ALERT_DELAY_DSN;
  r.done();
  return { via, to, delayWarning, delayDsn };
}

function readListener(t: Table | undefined, inline: KeyPath[], p: Problems): ListenerConfig {
  const r = new Reader(t ?? {}, ['listener'], p);
  const listen = r.strList('listen', 'write listen = ["127.0.0.1:25", "[::1]:25"], or [] for no listener') ?? [...D.DEFAULT_LISTEN];
  if (r.has('listen')) {
    listen.forEach((l, i) => {
      const why = listenProblem(l);
      if (why) p.add([...r.at('listen'), i], `${why} (got "${l}"); write "127.0.0.1:25", or "[::1]:25" for IPv6`);
    });
  }
  const allow: string[] = [];
  (r.strList('allow_relay_from', 'write allow_relay_from = ["192.0.2.0/24"]') ?? []).forEach((s, i) => {
    const res = parseCidr(s);
    if ('problem' in res) p.add([...r.at('allow_relay_from'), i], `${res.problem} (got "${s}"); write a CIDR like "192.0.2.0/24" or "2001:db8::/32"`);
    else allow.push(res.cidr);
  });
  const tlsCert = r.absPath('tls_cert') ?? null;
  const tlsKey = r.absPath('tls_key') ?? null;
  if ((tlsCert === null) !== (tlsKey === null) && !(r.has('tls_cert') && r.has('tls_key'))) {
    p.add(r.at(tlsCert === null ? 'tls_cert' : 'tls_key'), 'tls_cert and tls_key go together; give both PEM files, or neither', ['listener']);
  }
  const users: Record<string, SecretRef> = {};
  const ut = r.table('users');
  if (ut) {
    for (const name of Object.keys(ut)) {
      const ur = new Reader(ut, r.at('users'), p);
      const entry = ur.table(name);
      if (!entry) continue;
      const er = new Reader(entry, ur.at(name), p);
      const secret = readSecret(er, inline);
      if (secret === null) p.add(ur.at(name), 'has no password source; write name = { password_file = "/etc/sysmail/users/name" }');
      else if (secret) users[name] = secret;
      er.done();
    }
  }
  if (r.has('allow_relay_from') && allow.length > 0) {
    if (!r.has('tls_cert') || !r.has('tls_key')) {
      p.add(r.at('allow_relay_from'), 'relaying for other hosts needs STARTTLS, so passwords never cross the network in clear; set tls_cert and tls_key');
    }
    if (!ut || Object.keys(ut).length === 0) {
      p.add(r.at('allow_relay_from'), 'relaying for other hosts needs AUTH; add [listener.users] with name = { password_file = "..." }');
    }
  }
  const earlyDelivery = r.bool('early_delivery') ?? D.DEFAULT_EARLY_DELIVERY;
  r.done();
  return { listen, allowRelayFrom: allow, tlsCert, tlsKey, users, earlyDelivery };
}

function readRoutes(
  top: Reader, transports: Record<string, TransportConfig>, declared: Set<string>, p: Problems,
): RouteConfig[] | undefined {
  const v = top.raw('routes');
  if (v === undefined) return defaultRoute(transports, declared, p);
  if (!Array.isArray(v)) {
    top.wrong('routes', 'an array of tables', v, 'write each route as a [[routes]] block');
    return undefined;
  }
  const out: RouteConfig[] = [];
  const names = new Map<string, number>();
  let catchAll: number | null = null;
  v.forEach((item, i) => {
    const path: KeyPath = ['routes', i];
    if (!isTable(item)) {
      p.add(path, 'expected a table; write each route as a [[routes]] block');
      return;
    }
    const r = new Reader(item, path, p);
    const name = r.str('name') ?? `route-${i + 1}`;
    const seen = names.get(name);
    if (seen !== undefined) p.add(r.at('name'), `duplicate route name "${name}" (also routes[${seen}]); give each route its own name`, r.has('name') ? undefined : path);
    else names.set(name, i);
    const match = readMatch(r, p);
    const list = readRouteTransports(r, declared, p);
    const mode = r.oneOf('mode', ['fallback', 'fanout'] as const) ?? D.DEFAULT_ROUTE_MODE;
    const fallbackAfter = r.duration('fallback_after', 0, D.MAX_LIFETIME_MS) ?? D.DEFAULT_FALLBACK_AFTER_MS;
    if (r.has('fallback_after') && mode === 'fanout') {
      p.add(r.at('fallback_after'), 'only applies to mode = "fallback"; remove it, or change the mode');
    }
    if (catchAll !== null) {
      p.add(path, `can never match: routes[${catchAll}] before it matches every recipient; move the catch-all route last`);
    } else if (match === null) {
      catchAll = i;
    }
    r.done();
    if (list && match !== undefined) out.push({ name, match, transports: list, mode, fallbackAfter });
  });
  return out;
}

/** When the file has no [[routes]]: everything to "default", or to the only transport. */
function defaultRoute(transports: Record<string, TransportConfig>, declared: Set<string>, p: Problems): RouteConfig[] | undefined {
  const names = [...declared];
  const target = declared.has(D.DEFAULT_TRANSPORT_NAME) ? D.DEFAULT_TRANSPORT_NAME : names.length === 1 ? names[0]! : null;
  if (target === null) {
    p.add(['routes'], `are missing and there are ${names.length} transports (${names.join(', ')}), so where mail goes is ambiguous; add [[routes]], or name one transport "default"`, ['transports']);
    return undefined;
  }
  if (!transports[target]) return undefined; // its own problems are already reported
  return [{ name: D.DEFAULT_ROUTE_NAME, match: null, transports: [target], mode: D.DEFAULT_ROUTE_MODE, fallbackAfter: D.DEFAULT_FALLBACK_AFTER_MS }];
}

function readMatch(r: Reader, p: Problems): RouteMatch | null | undefined {
  const t = r.table('match');
  if (!r.has('match')) return null;
  if (!t) return undefined;
  const mr = new Reader(t, r.at('match'), p);
  const match: RouteMatch = {};
  const before = p.list.length;
  const domain = mr.strList('domain', 'write domain = ["example.com", "*.example.org"]');
  domain?.forEach((d, i) => {
    const why = domainPatternProblem(d);
    if (why) p.add([...mr.at('domain'), i], `${why} (got "${d}"); write "example.com" or "*.example.com"`);
  });
  if (domain) match.domain = domain.map((d) => d.toLowerCase());
  const local = mr.strList('local', 'write local = ["root", "postmaster"]');
  local?.forEach((l, i) => {
    const why = localPartProblem(l);
    if (why) p.add([...mr.at('local'), i], `is not a local part: it ${why} (got "${l}"); write the part before "@", e.g. "root"`);
  });
  if (local) match.local = local;
  const sender = mr.strList('sender', 'write sender = ["cron@example.com", "@example.org", ""]');
  sender?.forEach((s, i) => {
    const why = senderPatternProblem(s);
    if (why) p.add([...mr.at('sender'), i], `is not a valid address: it ${why} (got "${s}"); write "user@example.com", "@example.com", or "" for bounces`);
  });
  if (sender) match.sender = sender;
  mr.done();
  if (p.list.length > before) return undefined;
  return Object.keys(match).length === 0 ? null : match;
}

function readRouteTransports(r: Reader, declared: Set<string>, p: Problems): string[] | undefined {
  const hasOne = r.has('transport');
  const hasMany = r.has('transports');
  if (hasOne && hasMany) {
    p.add(r.at('transports'), 'both transport and transports are set; keep one (transports = ["a", "b"] for several)');
    return undefined;
  }
  if (!hasOne && !hasMany) {
    p.add(r.at('transport'), 'is required; say where matching mail goes: transport = "NAME" or transports = ["a", "b"]', r.path);
    return undefined;
  }
  const key = hasOne ? 'transport' : 'transports';
  const list = hasOne ? (r.str('transport') === undefined ? undefined : [r.t.transport as string]) : r.strList('transports', 'write transports = ["smtp", "oci"]');
  if (!list) return undefined;
  if (list.length === 0) {
    p.add(r.at(key), 'is empty; name at least one transport');
    return undefined;
  }
  let ok = true;
  list.forEach((name, i) => {
    const at = hasOne ? r.at(key) : [...r.at(key), i];
    if (!declared.has(name)) {
      const known = [...declared].join(', ') || 'none';
      p.add(at, `names transport "${name}", which is not defined; define [transports.${name}], or use one of: ${known}`);
      ok = false;
    } else if (list.indexOf(name) !== i) {
      p.add(at, `lists transport "${name}" twice; name each transport once`);
      ok = false;
    }
  });
  return ok ? list : undefined;
}

function inlinePasswordRule(file: string, c: ValidateContext, at: KeyPath, p: Problems): void {
  const { uid, mode } = c.fileStat!;
  const moves = 'or move the password to password_file / password_command / password_env / password_credential';
  if ((mode & 0o077) !== 0) {
    p.add(at, `${file} holds a password but is readable by others: chmod 600 ${file}, ${moves}`);
  } else if (uid !== c.euid && uid !== 0) {
    p.add(at, `${file} holds a password but is owned by another user (uid ${uid}): chown root ${file}, ${moves}`);
  }
}
