/**
 * Binds the configured aliases file to the runner: a function from one local
 * recipient to its final addresses. Alias file trouble is logged, never fatal:
 * mail then goes to the recipient as addressed.
 */
import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';

export async function makeAliasExpander(config: Config, log: Logger): Promise<((rcpt: string) => string[]) | undefined> {
  if (!config.general.aliases) return undefined;
  const { loadAliases, expandRecipient } = await import('./aliases.js');
  let map;
  try {
    const loaded = await loadAliases(config.general.aliases);
    for (const w of loaded.warnings) log.verbose(`${config.general.aliases}:${w.line}: ${w.message}`);
    map = loaded.map;
  } catch (err) {
    log.event({ event: 'error', reason: `cannot read aliases ${config.general.aliases}: ${(err as Error).message}` });
    return undefined;
  }
  return (rcpt) => {
    const { addresses, notes } = expandRecipient(rcpt, map, { localDomains: config.general.localDomains, domain: config.general.domain });
    for (const n of notes) log.verbose(`aliases: ${n}`);
    return addresses.length > 0 ? addresses : [rcpt];
  };
}
