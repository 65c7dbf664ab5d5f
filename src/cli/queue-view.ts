/**
 * What `sysmail queue` / `mailq` shows, for every caller: queue/ (or failed/)
 * when this process may read it, drop/ entries awaiting import, and the
 * rewrite delivery will apply to recipients not yet tried. Read-only.
 *
 * A non-root caller cannot read queue/ (0700, docs/SECURITY.md); instead of
 * failing with EACCES it sees drop/ (its own entries in full, others' as
 * owner and size) and a note that says how to see the rest.
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import type { QueuedMessage } from '../spool/types.js';
import type { DropEntry } from '../spool/drop-list.js';
import type { Rewritten } from '../router/alias-expander.js';
import type { Runtime } from '../submit/runtime.js';

export interface ListView {
  items: QueuedMessage[];
  drop: DropEntry[];
  hidden: string | null;
  rewrite: (rcpt: string) => Rewritten[];
}

function readable(dir: string): boolean | 'missing' {
  try { accessSync(dir, constants.R_OK | constants.X_OK); return true; } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : false;
  }
}

export async function listView(rt: Runtime, failed: boolean): Promise<ListView> {
  const [{ listDrop }, { makeAliasExpander }, { isLocalRecipient }] = await Promise.all([
    import('../spool/drop-list.js'), import('../router/alias-expander.js'), import('../router/router.js'),
  ]);
  const area = failed ? 'failed' : 'queue';
  const dir = rt.config.spool.dir;
  const canRead = readable(join(dir, area));
  const items = canRead === true ? await rt.spool.list(area) : [];
  const hidden = canRead === false
    ? `${join(dir, area)} is readable by root only; showing drop/ only. Run \`sudo mailq\` for the whole queue`
    : null;
  const drop = failed ? [] : await listDrop(dir);
  const expand = await makeAliasExpander(rt.config);
  const rewrite = (rcpt: string): Rewritten[] =>
    isLocalRecipient(rcpt, rt.config.general.localDomains) ? expand(rcpt) : [{ address: rcpt, via: null }];
  return { items, drop, hidden, rewrite };
}
