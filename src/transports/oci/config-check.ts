/**
 * What `sysmail config check` verifies about OCI Notifications transports
 * beyond the syntax the loader checks: that the topic OCID's region is the
 * configured `region` (a mismatch fails every publish with 404), and, for
 * auth = "api_key", that the OCI config file, its profile and the API key
 * it names exist, are readable by this user and hold a usable RSA key.
 * Reads files only; never contacts OCI (doctor does). Each problem is a
 * SysmailError naming the transport's key, with the fix; what the OCI CLI
 * would only warn about (key file mode, fingerprint) is a warning.
 */
import { EX, SysmailError } from '../../core/errors.js';
import type { Config } from '../../config/types.js';

export interface OciCheck { problems: SysmailError[]; warnings: string[] }

export async function checkOciTransports(config: Config, opts: { home?: string; env?: NodeJS.ProcessEnv } = {}): Promise<OciCheck> {
  const problems: SysmailError[] = [];
  const warnings: string[] = [];
  for (const t of Object.values(config.transports)) {
    if (t.type !== 'oci-notifications') continue;
    const { topicRegionProblem } = await import('./regions.js');
    const why = topicRegionProblem(t.topicId, t.region);
    if (why) {
      problems.push(new SysmailError('EBADCONFIG', `transports.${t.name}.region: ${why}`,
        { exit: EX.CONFIG, hint: `copy the topic's OCID and region from the same console page into transports.${t.name}` }));
    }
    if (t.auth !== 'api_key') continue;
    try {
      const { loadApiKeyAuth } = await import('./auth-config.js');
      const auth = await loadApiKeyAuth({ configFile: t.configFile, profile: t.profile, home: opts.home, env: opts.env });
      for (const w of auth.warnings) warnings.push(`transports.${t.name}: ${w.replace(/^WARNING: /, '')}`);
    } catch (err) {
      const e = err instanceof SysmailError ? err : new SysmailError('EBADCONFIG', (err as Error).message, { exit: EX.CONFIG, cause: err });
      const root = process.geteuid?.() === 0 ? '' : ' (config check runs as this user: run it as the user that delivers, usually root)';
      problems.push(new SysmailError('EBADCONFIG', `transports.${t.name} (auth = "api_key"): ${e.message}${root}`, { exit: EX.CONFIG, hint: e.hint, cause: e }));
    }
  }
  return { problems, warnings };
}
