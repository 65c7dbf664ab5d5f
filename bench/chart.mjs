#!/usr/bin/env node
// Draws the charts of docs/benchmarks.md as plain SVG (no dependencies) from the JSON that
// bench/submit.mjs (--out) and bench/peers.sh (results.json) write.
//
//   node bench/chart.mjs --submit bench/out/submit.json --peers bench/out/peers-full/results.json \
//        [--outdir docs/benchmarks]
//
// Writes submit.svg (start-up against node -e 0), latency.svg (per-invocation wall and
// submission-to-sink), burst.svg (N messages until all are at the sink) and disk.svg (device and
// file bytes per message). Each chart is a horizontal bar chart of medians, with a reference
// line where a target is defined; a missing input only skips its charts.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const outdir = arg('--outdir', 'docs/benchmarks');
mkdirSync(outdir, { recursive: true });

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/**
 * rows: [{ label, value, range?: [min, max], note?, group? }]; refs: [{ value, label }].
 * Bars of the same group share a colour; a range is drawn as a thin whisker (p25–p75 or min–max).
 */
function barChart({ title, subtitle, unit, rows, refs = [], log = false }) {
  const W = 860, left = 250, right = 150, top = 58, bar = 18, gap = 8;
  const H = top + rows.length * (bar + gap) + 40;
  const max = Math.max(...rows.map((r) => r.value), ...refs.map((r) => r.value)) * 1.08;
  const min = log ? Math.max(1e-3, Math.min(...rows.map((r) => r.value).filter((v) => v > 0)) / 2) : 0;
  const x = (v) => left + (W - left - right) * (log ? (Math.log10(Math.max(v, min)) - Math.log10(min)) / (Math.log10(max) - Math.log10(min)) : v / max);
  const colours = { sysmail: '#c0392b', floor: '#7f8c8d', peer: '#2c7fb8', variant: '#e67e22', other: '#27ae60' };
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`);
  if (subtitle) out.push(`<text x="10" y="38" fill="#555">${esc(subtitle)}</text>`);
  rows.forEach((r, i) => {
    const y = top + i * (bar + gap);
    const c = colours[r.group ?? 'peer'] ?? colours.other;
    out.push(`<text x="${left - 8}" y="${y + bar - 5}" text-anchor="end">${esc(r.label)}</text>`);
    out.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(r.value) - left)}" height="${bar}" fill="${c}"/>`);
    if (r.range) {
      const [a, b] = r.range.map(x);
      out.push(`<line x1="${a}" x2="${b}" y1="${y + bar / 2}" y2="${y + bar / 2}" stroke="black" stroke-width="1"/>`);
      out.push(`<line x1="${a}" x2="${a}" y1="${y + 4}" y2="${y + bar - 4}" stroke="black"/><line x1="${b}" x2="${b}" y1="${y + 4}" y2="${y + bar - 4}" stroke="black"/>`);
    }
    out.push(`<text x="${Math.max(x(r.value), r.range ? x(r.range[1]) : 0) + 6}" y="${y + bar - 5}">${esc(fmt(r.value) + ' ' + unit + (r.note ? '  ' + r.note : ''))}</text>`);
  });
  for (const ref of refs) {
    const rx = x(ref.value);
    out.push(`<line x1="${rx}" x2="${rx}" y1="${top - 6}" y2="${H - 30}" stroke="#333" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${rx + 3}" y="${H - 16}" fill="#333">${esc(ref.label)}</text>`);
  }
  out.push(`<text x="${W - 10}" y="${H - 4}" text-anchor="end" fill="#999" font-size="10">${log ? 'log scale; ' : ''}bench/chart.mjs</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function write(name, svg) {
  writeFileSync(join(outdir, name), svg);
  console.log(`wrote ${join(outdir, name)}`);
}

const groupOf = (name) => (name.startsWith('sysmail') ? 'sysmail' : name.startsWith('floor') || name.startsWith('node') ? 'floor' : 'peer');

const submitFile = arg('--submit', null);
if (submitFile) {
  const s = JSON.parse(readFileSync(submitFile, 'utf8'));
  const node = s.rows.find((r) => r.variant === 'node -e 0');
  const rows = s.rows.map((r) => ({
    label: r.variant, value: r.wall_ms.median, range: [r.wall_ms.p25, r.wall_ms.p75],
    note: `×${r.wall_ratio_vs_node} · ${(r.peak_rss_kib.median / 1024).toFixed(1)} MiB`,
    group: r.variant.startsWith('node') ? 'floor' : r.variant.startsWith('sendmail -') ? 'sysmail' : 'variant',
  }));
  write('submit.svg', barChart({
    title: 'sendmail -t < 2 KB: wall time per submission (median, p25–p75 whisker)',
    subtitle: `${s.rounds} interleaved rounds, node ${s.node}, load ${s.loadavg_start.join(' ')}; label: paired ratio vs node -e 0 · peak RSS`,
    unit: 'ms', rows, refs: node ? [{ value: node.wall_ms.median * 1.3, label: 'target: 1.3 × node -e 0' }] : [],
  }));
}

const peersFile = arg('--peers', null);
if (peersFile) {
  const p = JSON.parse(readFileSync(peersFile, 'utf8'));
  if (p.latency) {
    const lat = Object.entries(p.latency).filter(([n]) => n !== 'ssmtp');
    write('latency.svg', barChart({
      title: 'One submission: `AGENT -t < 2 KB` wall time (median, min–max whisker)',
      subtitle: `${p.meta.args.rounds} interleaved rounds; label: submission-to-sink median. ssmtp (1005 ms, a sleep(1)) left out`,
      unit: 'ms', log: true,
      rows: lat.map(([n, r]) => ({ label: n, value: r.wall_s.median * 1000, range: [r.wall_s.min * 1000, r.wall_s.max * 1000],
        note: r.deliver_s ? `→ sink ${(r.deliver_s.median * 1000).toFixed(1)} ms` : '', group: groupOf(n) })),
    }));
  }
  if (p.burst) {
    const b = Object.entries(p.burst).filter(([, r]) => r.all_delivered_s || r.submit_s);
    const n = b[0]?.[1].n;
    const nodeFloor = p.burst['floor:node-e0']?.submit_s?.median;
    write('burst.svg', barChart({
      title: `Burst: ${n} messages back to back, seconds until the sink has all of them (median)`,
      subtitle: `${p.meta.args.burst_rounds} interleaved rounds; floors: loop time of ${n} × node -e 0 and ${n} × /bin/true`,
      unit: 's', log: true,
      rows: b.map(([name, r]) => {
        const v = (r.all_delivered_s ?? r.submit_s).median;
        return { label: name, value: v, range: r.all_delivered_s ? [r.all_delivered_s.min, r.all_delivered_s.max] : undefined,
          note: `${(n / v).toFixed(0)} msg/s`, group: groupOf(name) };
      }),
      refs: nodeFloor ? [{ value: nodeFloor * 1.3, label: `1.3 × ${n} × node -e 0` }] : [],
    }));
    write('disk.svg', barChart({
      title: 'Device bytes written per message during the burst (median, incl. ext4 journal)',
      subtitle: p.meta.block_device.startsWith('loop')
        ? `sectors written to ${p.meta.block_device} (the spools' own ext4, journal on) between a sync before and after, ÷ ${n}`
        : 'sectors written (/sys/block/DEV/stat) between sync before and sync after, ÷ N; the disk is shared, so noisy',
      unit: 'B', rows: b.filter(([name]) => !name.startsWith('floor:') && !['msmtp', 'esmtp'].includes(name))
        .map(([name, r]) => ({ label: name, value: r.dev_bytes_per_msg.median, range: [r.dev_bytes_per_msg.min, r.dev_bytes_per_msg.max],
          note: `${r.dev_flushes_per_msg.median.toFixed(2)} flushes/msg`, group: groupOf(name) })),
    }));
  }
}
