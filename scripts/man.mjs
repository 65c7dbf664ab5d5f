// Generates man/sysmail.toml.5 from docs/CONFIG.md, so the manual page lists
// every key the reference does, in the same words. Run after editing
// docs/CONFIG.md:   node scripts/man.mjs
// (`node scripts/man.mjs --check` exits 1 when the page is out of date.)
//
// Handles the Markdown that CONFIG.md uses: headings, paragraphs, bullet and
// numbered lists, fenced code, pipe tables (each row becomes a tagged
// paragraph) and inline `code`, **bold**, *italic* and [links](url).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'docs', 'CONFIG.md');
const dst = join(root, 'man', 'sysmail.toml.5');
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;

/** Escapes roff specials in plain text. */
const esc = (s) => s.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/'/g, '\\(aq').replace(/`/g, '\\(ga');

/** Markdown inline markup -> roff font escapes. */
function inline(md) {
  const out = [];
  const re = /`([^`]+)`|\*\*([^*]+)\*\*|\*([^*]+)\*|\[([^\]]+)\]\(([^)]+)\)/g;
  let last = 0;
  for (let m; (m = re.exec(md)); last = re.lastIndex) {
    out.push(esc(md.slice(last, m.index)));
    if (m[1] !== undefined) out.push(`\\fB${esc(m[1])}\\fR`);
    else if (m[2] !== undefined) out.push(`\\fB${inlineNoFont(m[2])}\\fR`);
    else if (m[3] !== undefined) out.push(`\\fI${inlineNoFont(m[3])}\\fR`);
    else out.push(inlineNoFont(m[4]));
  }
  out.push(esc(md.slice(last)));
  return out.join('').replace(/→/g, '\\(->').replace(/–/g, '\\(en').replace(/—/g, '\\(em').replace(/…/g, '...');
}
const inlineNoFont = (s) => esc(s.replace(/`/g, ''));

/** A roff text line must not start with a control character. */
const line = (s) => (/^[.']/.test(s) ? `\\&${s}` : s);

function cells(row) {
  return row.trim().replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/).map((c) => c.trim());
}

export function convert(md) {
  const lines = md.split('\n');
  const out = [
    `.\\" Generated from docs/CONFIG.md by scripts/man.mjs; edit those, not this file.`,
    `.TH SYSMAIL.TOML 5 "" "sysmail ${version}" "File Formats"`,
    '.SH NAME',
    'sysmail.toml \\- configuration file of sysmail',
    '.SH SYNOPSIS',
    '.B /etc/sysmail/sysmail.toml',
  ];
  let i = 0;
  let para = [];
  const flush = () => {
    if (para.length === 0) return;
    out.push('.PP', ...para.map((p) => line(inline(p))));
    para = [];
  };
  // The first heading is the title; the page has its own NAME.
  while (i < lines.length && !lines[i].startsWith('# ')) i++;
  i++;
  out.push('.SH DESCRIPTION');
  for (; i < lines.length; i++) {
    const l = lines[i];
    if (/^```/.test(l)) {
      flush();
      out.push('.PP', '.RS 4', '.nf');
      for (i++; i < lines.length && !/^```/.test(lines[i]); i++) out.push(line(esc(lines[i])));
      out.push('.fi', '.RE');
      continue;
    }
    let m;
    if ((m = /^## (.*)$/.exec(l))) { flush(); out.push(`.SH ${inline(m[1].replace(/`/g, '')).toUpperCase()}`); continue; }
    if ((m = /^###+ (.*)$/.exec(l))) { flush(); out.push(`.SS ${inline(m[1].replace(/`/g, ''))}`); continue; }
    if (/^\|/.test(l)) {
      flush();
      const head = cells(l);
      i += 2; // header and the |---| line
      for (; i < lines.length && /^\|/.test(lines[i]); i++) {
        const c = cells(lines[i]);
        const first = c[0];
        const rest = head.slice(1).map((h, k) => [h, c[k + 1] ?? '']).filter(([, v]) => v !== '');
        out.push('.TP', line(inline(first)));
        const meaning = rest.filter(([h]) => /^(meaning|effect|rules)$/i.test(h));
        const facts = rest.filter(([h]) => !/^(meaning|effect|rules)$/i.test(h));
        if (facts.length) out.push(line(facts.map(([h, v]) => `${inline(h)}: ${inline(v)}.`).join(' ')));
        for (const [, v] of meaning) out.push(line(inline(v)));
      }
      i--;
      continue;
    }
    if ((m = /^(\s*)(?:[-*]|\d+\.) (.*)$/.exec(l))) {
      flush();
      const depth = m[1].length >= 2 ? 1 : 0;
      if (depth) out.push('.RS 2');
      out.push(`.IP \\(bu 2`, line(inline(m[2])));
      for (; i + 1 < lines.length && /^\s{2,}\S/.test(lines[i + 1]) && !/^\s*(?:[-*]|\d+\.) /.test(lines[i + 1]); i++) {
        const cont = lines[i + 1].trim();
        if (/^```/.test(cont)) break;
        out.push(line(inline(cont)));
      }
      if (depth) out.push('.RE');
      continue;
    }
    if (l.trim() === '') { flush(); continue; }
    para.push(l.trim());
  }
  flush();
  out.push('.SH FILES', '.TP', '.I /etc/sysmail/sysmail.toml', 'the configuration file',
    '.TP', '.I etc/sysmail.toml.example', 'in the sysmail package: a commented example with every key;',
    '.B sysmail install', 'copies it to /etc/sysmail/sysmail.toml when there is none');
  out.push('.SH SEE ALSO', '.BR sysmail (8),', '.BR sysmail\\-sendmail (8)');
  return out.join('\n') + '\n';
}

const page = convert(readFileSync(src, 'utf8'));
if (process.argv.includes('--check')) {
  let have = '';
  try { have = readFileSync(dst, 'utf8'); } catch { /* missing counts as stale */ }
  if (have !== page) {
    process.stderr.write('man/sysmail.toml.5 is out of date: run node scripts/man.mjs\n');
    process.exit(1);
  }
} else {
  writeFileSync(dst, page);
}
