/**
 * Proves an OCI Notifications transport can publish, without publishing:
 * one signed GET of the topic (GetTopic, `{endpoint}/20181201/topics/{id}`)
 * with the transport's own credentials and signer, and the clock check
 * (the local clock against the Date header of the answer: more than 5
 * minutes apart and every signed request is refused).
 *
 * 200: the key is accepted and the topic readable. 401: the signature was
 * refused (key, fingerprint, OCIDs or clock). 404: OCI's answer both for a
 * missing topic and for a principal without a policy. Network trouble and
 * timeouts fail with the cause. Never throws.
 */
import { OCI_PROBE_TIMEOUT_MS } from '../config/defaults.js';
import type { OciTransportConfig } from '../config/types.js';
import { isSysmailError } from '../core/errors.js';
import { fail, ok, warn, type CheckResult } from './report.js';

/** OCI refuses signed requests whose date is further off than this. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

export function clockVerdict(name: string, localMs: number, dateHeader: string | undefined, url: URL): CheckResult | null {
  const remote = dateHeader ? Date.parse(dateHeader) : NaN;
  if (!Number.isFinite(remote)) return null;
  const skew = localMs - remote;
  const s = Math.round(Math.abs(skew) / 1000);
  const detail = `this host's clock is ${s} s ${skew > 0 ? 'ahead of' : 'behind'} ${url.host} (its Date header)`;
  if (Math.abs(skew) > MAX_CLOCK_SKEW_MS) {
    return fail(`clock (${name})`, `${detail}: OCI refuses signed requests more than 5 minutes off`,
      'sync the clock: timedatectl set-ntp true && systemctl restart chronyd (or chrony / systemd-timesyncd); check with chronyc tracking');
  }
  return ok(`clock (${name})`, `${detail}; within the 5 minutes OCI allows`);
}

export async function probeOci(cfg: OciTransportConfig, now: () => number = Date.now): Promise<CheckResult[]> {
  const name = `transport ${cfg.name}`;
  const out: CheckResult[] = [];
  const [{ realmDomain }, { checkUrl, createHttpClient }, signer] = await Promise.all([
    import('../transports/oci/transport.js'), import('../transports/http/client.js'), import('../transports/oci/signer.js'),
  ]);
  let auth;
  try {
    if (cfg.auth === 'api_key') {
      const { loadApiKeyAuth } = await import('../transports/oci/auth-config.js');
      auth = await loadApiKeyAuth({ configFile: cfg.configFile, profile: cfg.profile });
    } else {
      const { createInstancePrincipalAuth } = await import('../transports/oci/auth-instance.js');
      auth = createInstancePrincipalAuth({ metadataUrl: cfg.metadataUrl, federationUrl: cfg.federationUrl, region: cfg.region || null,
        domain: realmDomain(cfg.topicId), timeoutMs: Math.min(cfg.timeout, OCI_PROBE_TIMEOUT_MS), now });
    }
    for (const w of auth.warnings) out.push(warn(name, w, null));
  } catch (e) {
    return [fail(name, `oci: cannot load the ${cfg.auth} credentials: ${(e as Error).message}`, isSysmailError(e) ? e.hint ?? null : null, true)];
  }
  const region = cfg.region || auth.region;
  const { topicRegionProblem } = await import('../transports/oci/regions.js');
  const mismatch = region ? topicRegionProblem(cfg.topicId, region) : null;
  if (mismatch) return [...out, fail(name, `oci: ${mismatch}`, `copy the topic's OCID and region from the same console page into transports.${cfg.name}`, true)];
  if (!cfg.endpoint && !region) return [...out, fail(name, 'oci: no region', `set transports.${cfg.name}.region (e.g. "us-ashburn-1") or endpoint`, true)];
  const base = (cfg.endpoint ?? `https://notification.${region}.${realmDomain(cfg.topicId)}`).replace(/\/+$/, '');
  let url: URL;
  try { url = checkUrl(`${base}/20181201/topics/${encodeURIComponent(cfg.topicId)}`, `transports.${cfg.name}.endpoint`); } catch (e) {
    return [...out, fail(name, (e as Error).message, isSysmailError(e) ? e.hint ?? null : null, true)];
  }
  const http = await createHttpClient();
  try {
    let creds;
    try { creds = await auth.credentials(); } catch (e) {
      return [...out, fail(name, `oci: cannot get credentials: ${(e as Error).message}`, isSysmailError(e) ? e.hint ?? null : null)];
    }
    const headers: Record<string, string> = { date: signer.httpDate(now()), accept: 'application/json' };
    Object.assign(headers, signer.signRequest({ method: 'GET', url, headers, keyId: creds.keyId, privateKey: creds.privateKey }));
    let res;
    try {
      res = await http.request({ method: 'GET', url, headers, timeoutMs: Math.min(cfg.timeout, OCI_PROBE_TIMEOUT_MS) });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      return [...out, fail(name, `oci: cannot reach ${url.host}: ${code} ${(e as Error).message}`.replace(/\s+/g, ' '),
        `check DNS, the route and any proxy to ${url.host}:443; try: curl -sI https://${url.host}/`)];
    }
    const clock = clockVerdict(cfg.name, now(), typeof res.headers.date === 'string' ? res.headers.date : undefined, url);
    if (clock) out.push(clock);
    let j: { code?: string; message?: string; name?: string } = {};
    try { j = JSON.parse(res.body) as typeof j; } catch { /* not JSON: status alone */ }
    const said = `${res.status}${j.code ? ` ${j.code}` : ''}${j.message ? `: ${j.message}` : ''}`;
    if (res.status === 200) out.push(ok(name, `oci: signed GetTopic accepted (${cfg.auth}); topic ${j.name ? `"${j.name}" ` : ''}${cfg.topicId}`));
    else if (res.status === 401) {
      out.push(fail(name, `oci: the signed request was refused (${said})`,
        clock?.status === 'fail' ? 'fix the clock (see above), then run sysmail doctor again'
          : `check that fingerprint, tenancy and user in ${cfg.configFile} [${cfg.profile}] match the API key shown in the console, and that the key's public half is uploaded`));
    } else if (res.status === 404) {
      out.push(fail(name, `oci: the key is accepted, but topic ${cfg.topicId} is not found or this principal may not use it (${said})`,
        `check transports.${cfg.name}.topic_id, and add a policy such as: Allow group <your-group> to use ons-topics in compartment <compartment>`));
    } else {
      out.push(fail(name, `oci: GetTopic answered ${said}`, res.status >= 500 || res.status === 429 ? 'OCI is busy or failing: try again later' : null));
    }
    return out;
  } finally {
    http.close();
  }
}
