/** Runs one delivery pass with this runtime (flush, -q, -v, serve). */
import type { PassSummary } from '../delivery/runner.js';
import type { Runtime } from './runtime.js';

export async function deliverNow(rt: Runtime, opts: { ids?: string[]; force?: boolean } = {}): Promise<PassSummary> {
  const [{ runQueue }, { makeAliasExpander }, { repairSpool }] = await Promise.all([
    import('../delivery/runner.js'), import('../router/alias-expander.js'), import('../delivery/maintenance.js'),
  ]);
  return runQueue({
    config: rt.config, spool: rt.spool, log: rt.log, ids: opts.ids, force: opts.force,
    expandAlias: await makeAliasExpander(rt.config, rt.log),
    maintain: rt.spoolOwner ? () => repairSpool(rt.spool, rt.log) : undefined,
  });
}
