/**
 * Parsers for what the two alternatives tools print, so doctor and install
 * can tell which program a link group selects and whether sysmail is in it.
 *
 * - RHEL-likes (chkconfig's `alternatives --display mta`):
 *     mta - status is manual.
 *      link currently points to /usr/sbin/sendmail.postfix
 *     /usr/sbin/sendmail.postfix - priority 30
 *      slave mta-mailq: /usr/bin/mailq.postfix        ("follower" in newer versions)
 *     Current `best' version is /usr/sbin/sendmail.postfix.
 * - Debian (`update-alternatives --query NAME`): RFC 822-like stanzas,
 *   Name/Link/Status/Best/Value, then one Alternative/Priority/Slaves each.
 * Pure; unknown lines are ignored, so a newer tool's extra output does no harm.
 */

export interface Alternative {
  path: string;
  priority: number;
  /** slave name -> path */
  slaves: Record<string, string>;
}

export interface AlternativesGroup {
  name: string;
  mode: 'auto' | 'manual' | null;
  /** What the link points to now, or null when the group has no selection. */
  current: string | null;
  best: string | null;
  alternatives: Alternative[];
}

export function parseRhelDisplay(name: string, text: string): AlternativesGroup | null {
  const g: AlternativesGroup = { name, mode: null, current: null, best: null, alternatives: [] };
  let found = false;
  let last: Alternative | null = null;
  for (const line of text.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^\S+ - status is (auto|manual)\.?\s*$/.exec(line))) { g.mode = m[1] as 'auto' | 'manual'; found = true; continue; }
    if ((m = /^\s+link currently points to (\S+)/.exec(line))) { g.current = m[1]!; found = true; continue; }
    if ((m = /^(\/\S+) - (?:priority|family \S+ priority) (-?\d+)/.exec(line))) {
      last = { path: m[1]!, priority: Number(m[2]), slaves: {} };
      g.alternatives.push(last);
      found = true;
      continue;
    }
    if ((m = /^\s+(?:slave|follower) ([^:]+): (\S+)/.exec(line)) && last) { last.slaves[m[1]!] = m[2]!; continue; }
    if ((m = /^Current [`']best' version is (\S+?)\.?\s*$/.exec(line))) { g.best = m[1]!; found = true; }
  }
  return found ? g : null;
}

export function parseDebianQuery(text: string): AlternativesGroup | null {
  const stanzas = text.split(/\n\s*\n/).map((s) => s.split('\n').filter((l) => l !== ''));
  const head = stanzas[0] ?? [];
  const field = (lines: string[], key: string) => lines.find((l) => l.startsWith(`${key}: `))?.slice(key.length + 2).trim() ?? null;
  const name = field(head, 'Name');
  if (!name) return null;
  const status = field(head, 'Status');
  const value = field(head, 'Value');
  const g: AlternativesGroup = {
    name, mode: status === 'auto' || status === 'manual' ? status : null,
    current: value && value !== 'none' ? value : null, best: field(head, 'Best'), alternatives: [],
  };
  for (const s of stanzas.slice(1)) {
    const path = field(s, 'Alternative');
    if (!path) continue;
    const alt: Alternative = { path, priority: Number(field(s, 'Priority') ?? 0), slaves: {} };
    const i = s.findIndex((l) => l.startsWith('Slaves:'));
    if (i >= 0) {
      for (const l of s.slice(i + 1)) {
        const m = /^\s+(\S+) (\S+)$/.exec(l);
        if (!m) break;
        alt.slaves[m[1]!] = m[2]!;
      }
    }
    g.alternatives.push(alt);
  }
  return g;
}
