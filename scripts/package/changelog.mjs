// CHANGELOG.md, the one source of the packages' changelogs, parsed and rendered as Debian's
// changelog and RPM's %changelog. Pure functions of their input (test/package.test.ts).

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n) => String(n).padStart(2, '0');

/** `## VERSION (YYYY-MM-DD)` headings with `- ` items (continuation lines indented) -> releases, newest first. */
export function parseChangelog(text) {
  const releases = [];
  let cur = null;
  text.split('\n').forEach((line, i) => {
    const h = /^## (\S+) \((\d{4})-(\d{2})-(\d{2})\)\s*$/.exec(line);
    if (h) {
      cur = { version: h[1], date: new Date(Date.UTC(+h[2], +h[3] - 1, +h[4])), items: [] };
      releases.push(cur);
      return;
    }
    if (line.startsWith('## ')) throw new Error(`CHANGELOG.md:${i + 1}: a release heading must be "## VERSION (YYYY-MM-DD)"`);
    if (!cur) return;
    if (line.startsWith('- ')) cur.items.push(line.slice(2).trim());
    else if (/^\s+\S/.test(line) && cur.items.length > 0) cur.items[cur.items.length - 1] += ' ' + line.trim();
    else if (line.trim() !== '') throw new Error(`CHANGELOG.md:${i + 1}: expected a "- " item`);
  });
  if (releases.length === 0) throw new Error('CHANGELOG.md has no release ("## VERSION (YYYY-MM-DD)")');
  for (const r of releases) if (r.items.length === 0) throw new Error(`CHANGELOG.md: release ${r.version} has no "- " item`);
  return releases;
}

/** Word-wraps one item to `width` columns: first line after `first`, the rest after `rest`. */
function wrap(text, first, rest, width = 78) {
  const out = [];
  let line = first;
  let empty = true;
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (!empty && line.length + 1 + w.length > width) { out.push(line); line = rest + w; }
    else line += (empty ? '' : ' ') + w;
    empty = false;
  }
  out.push(line);
  return out.join('\n');
}

/** debian/changelog (deb-changelog(5)); a native package, so the version has no revision. */
export function debianChangelog(releases, pkg, maintainer) {
  return releases.map((r) => {
    const d = r.date;
    const when = `${DAYS[d.getUTCDay()]}, ${pad(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} 00:00:00 +0000`;
    return `${pkg} (${r.version}) unstable; urgency=medium\n\n${r.items.map((i) => wrap(i, '  * ', '    ')).join('\n')}\n\n -- ${maintainer}  ${when}\n`;
  }).join('\n');
}

/** The spec's %changelog section body. */
export function rpmChangelog(releases, maintainer, release = '1') {
  return releases.map((r) => {
    const d = r.date;
    const when = `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${pad(d.getUTCDate())} ${d.getUTCFullYear()}`;
    // rpmbuild expands macros in %changelog: a literal % is written %%.
    return `* ${when} ${maintainer} - ${r.version}-${release}\n${r.items.map((i) => wrap(i.replace(/%/g, '%%'), '- ', '  ')).join('\n')}\n`;
  }).join('\n');
}
