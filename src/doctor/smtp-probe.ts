/**
 * Proves an SMTP transport can deliver without sending mail: connect, EHLO,
 * STARTTLS (or implicit TLS) with the transport's own certificate rules
 * (system CAs + ca_file, pin), AUTH with the configured secret, then QUIT
 * before any MAIL FROM. It reuses the transport's session code, so what
 * passes here passes at delivery.
 *
 * Each failure names the step that failed, the server's reply when there was
 * one, and the fix: an unreachable relay, an untrusted certificate and a
 * wrong password each read differently. Every step is bounded by the
 * transport's timeouts, cut to SMTP_PROBE_TIMEOUT_CAP_MS.
 */
import { SMTP_PROBE_TIMEOUT_CAP_MS } from '../config/defaults.js';
import type { Config, SmtpTransportConfig } from '../config/types.js';
import { isSysmailError, type SysmailError } from '../core/errors.js';
import { fail, ok, warn, type CheckResult } from './report.js';

const STEP: Record<string, string> = {
  ESMTP_CONNECT: 'connect',
  ESMTP_PRECONNECT: 'preconnect command',
  ESMTP_TIMEOUT: 'connect/greeting',
  ESMTP_PROTOCOL: 'greeting',
  ESMTP_REPLY: 'greeting/EHLO',
  ESMTP_NOTLS: 'STARTTLS',
  ESMTP_PLAINAUTH: 'AUTH (refused to send the password without verified TLS)',
  ESMTP_TLS: 'TLS handshake',
  ESMTP_TLS_CERT: 'TLS certificate check',
  ESMTP_PIN: 'TLS certificate pin',
  ESMTP_AUTH: 'AUTH',
  ESMTP_CONFIG: 'TLS/AUTH settings',
};

function fixFor(e: SysmailError, cfg: SmtpTransportConfig): string {
  const at = `${cfg.host}:${cfg.port}`;
  const starttls = cfg.security === 'tls' ? '' : ' -starttls smtp';
  const hint = e.hint ? e.hint.replace(/; the mail stays queued$/, '') : '';
  switch (e.code) {
    case 'ESMTP_CONNECT':
    case 'ESMTP_TIMEOUT':
      return `${hint}\ntry by hand: openssl s_client${starttls} -connect ${at} </dev/null`;
    case 'ESMTP_TLS_CERT':
      return `${hint}\nsee the certificate chain the server sends: openssl s_client${starttls} -connect ${at} -showcerts </dev/null\n`
        + `then save its CA as /etc/sysmail/${cfg.name}-ca.pem and set transports.${cfg.name}.ca_file = "/etc/sysmail/${cfg.name}-ca.pem"`;
    case 'ESMTP_PIN':
    case 'ESMTP_TLS':
    case 'ESMTP_NOTLS':
      return `${hint}\ntry by hand: openssl s_client${starttls} -connect ${at} </dev/null`;
    case 'ESMTP_AUTH': {
      const src = cfg.password?.file ? ` (read from ${cfg.password.file})` : cfg.password?.command ? ` (from ${cfg.password.command[0]})` : '';
      return `${hint}: the server refused user "${cfg.username ?? ''}" with the configured password${src}; correct it, then run sysmail doctor again`;
    }
    default:
      return hint || `check transports.${cfg.name}`;
  }
}

export async function probeSmtp(cfg: SmtpTransportConfig, config: Config): Promise<CheckResult> {
  const name = `transport ${cfg.name}`;
  const at = `${cfg.host}:${cfg.port}`;
  const cap = (ms: number) => Math.min(ms, SMTP_PROBE_TIMEOUT_CAP_MS);
  const capped: SmtpTransportConfig = { ...cfg, timeouts: { connect: cap(cfg.timeouts.connect), greeting: cap(cfg.timeouts.greeting), command: cap(cfg.timeouts.command), data: cap(cfg.timeouts.data) } };

  let password: string | null = null;
  if (cfg.username && cfg.password) {
    const { resolveSecret } = await import('../config/secrets.js');
    try { password = await resolveSecret(cfg.password, { label: `transports.${cfg.name}.password` }); } catch (e) {
      return fail(name, `smtp ${at}: cannot get the password, so AUTH cannot be tried: ${(e as Error).message}`,
        isSysmailError(e) ? e.hint ?? null : null, true);
    }
  }
  const [{ SmtpSession }, { buildTlsOptions }] = await Promise.all([import('../transports/smtp-session.js'), import('../transports/smtp-tls.js')]);
  let tls = null;
  if (cfg.security !== 'none') {
    try { tls = await buildTlsOptions(capped); } catch (e) {
      return fail(name, `smtp ${at}: ${(e as Error).message}`, isSysmailError(e) ? e.hint ?? null : null, true);
    }
  }
  const lines: string[] = [];
  let session;
  try {
    session = await SmtpSession.open({
      cfg: capped, peer: { name: cfg.name, host: cfg.host, port: cfg.port, timeouts: capped.timeouts },
      helo: cfg.helo ?? config.general.hostname, password, tls, log: (m) => lines.push(m),
    });
  } catch (e) {
    if (!isSysmailError(e)) throw e;
    const step = STEP[e.code] ?? 'session';
    return fail(name, `smtp ${at}: ${step} failed: ${e.message}`, fixFor(e, cfg), e.code === 'ESMTP_CONFIG');
  }
  await session.quit().catch(() => session.destroy());
  const how = lines.map((l) => /connected to \S+ \(([^)]*)\)/.exec(l)?.[1]).find(Boolean) ?? 'connected';
  const steps = [`connected, EHLO accepted`,
    cfg.security === 'none' ? 'no TLS (security = "none")'
      : how === 'no TLS' ? 'no TLS (the server did not offer STARTTLS)'
      : `${how}, certificate ${cfg.tlsVerify ? 'verified' : 'NOT verified (tls_verify = false)'}${cfg.pinSha256 ? ', pin matches' : ''}`,
    cfg.username ? `AUTH as ${cfg.username} accepted` : 'no AUTH configured',
    'QUIT (no mail sent)'];
  const detail = `smtp ${at}: ${steps.join(', ')}`;
  if (cfg.username && (how === 'no TLS' || cfg.security === 'none' || !(cfg.tlsVerify || cfg.pinSha256))) {
    // Only reachable with allow_plaintext_auth = true: the password went out without verified TLS.
    return fail(name, `${detail}; the password was sent without verified TLS (allow_plaintext_auth = true)`,
      `use security = "starttls" or "tls" with a verified certificate, and remove transports.${cfg.name}.allow_plaintext_auth`);
  }
  if (cfg.security !== 'none' && !cfg.tlsVerify) {
    return warn(name, detail, `anyone on the path can pose as ${cfg.host}: set transports.${cfg.name}.ca_file (private CA) or pin_sha256, and remove tls_verify = false`);
  }
  const loopback = /^(127\.|::1$|localhost$)/.test(cfg.host);
  if ((how === 'no TLS' || cfg.security === 'none') && !loopback) {
    return warn(name, detail, `mail (and any password) crosses the network in clear: use security = "starttls" or "tls" if ${cfg.host} supports it`);
  }
  return ok(name, detail);
}
