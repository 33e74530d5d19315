// The charts of make bench-peers as plain SVG (no plotting library: small charts, the same every run):
// programming latency against cluster size per enforcer, one chart per kind of change (log-log), and each
// enforcer's CPU seconds and peak RSS. `node dist/bench/peers-chart.js [docs/peers-bench.json]` redraws
// them from a run's raw numbers.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface LatencySeries {
  readonly label: string;
  readonly color: string;
  readonly dashed: boolean;
  /** [cluster pods, ms] */
  readonly points: readonly (readonly [number, number])[];
}

const FONT = 'font-family="sans-serif"';
const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function niceLogTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) for (const m of [1, 2, 5]) ticks.push(m * 10 ** e);
  return ticks.filter((t) => t >= min / 1.0001 && t <= max * 1.0001);
}

/** Lines of ms against cluster pods, both axes logarithmic. */
export function latencyChart(title: string, series: readonly LatencySeries[]): string {
  const width = 760;
  const height = 420;
  const left = 70;
  const right = 230;
  const top = 40;
  const bottom = 50;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => Math.max(p[1], 0.1)));
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...ys)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...ys)));
  const x = (v: number) => left + ((Math.log10(v) - Math.log10(xMin)) / Math.max(1e-9, Math.log10(xMax) - Math.log10(xMin))) * (width - left - right);
  const y = (v: number) => height - bottom - ((Math.log10(Math.max(v, 0.1)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * (height - top - bottom);
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`, `<rect width="100%" height="100%" fill="white"/>`];
  out.push(`<text x="${left}" y="22" ${FONT} font-size="14" font-weight="bold">${escape(title)}</text>`);
  for (const t of niceLogTicks(yMin, yMax)) {
    out.push(`<line x1="${left}" x2="${width - right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 6}" y="${(y(t) + 4).toFixed(1)}" ${FONT} font-size="12" text-anchor="end">${t >= 1000 ? `${t / 1000} s` : `${t} ms`}</text>`);
  }
  for (const t of [...new Set(xs)].sort((a, b) => a - b)) {
    out.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${top}" y2="${height - bottom}" stroke="#eee"/>`);
    out.push(`<text x="${x(t).toFixed(1)}" y="${height - bottom + 18}" ${FONT} font-size="12" text-anchor="middle">${t.toLocaleString('en-US')}</text>`);
  }
  out.push(`<text x="${((left + width - right) / 2).toFixed(0)}" y="${height - 12}" ${FONT} font-size="12" text-anchor="middle">pods in the cluster</text>`);
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${height - bottom}" stroke="black"/><line x1="${left}" x2="${width - right}" y1="${height - bottom}" y2="${height - bottom}" stroke="black"/>`);
  series.forEach((s, i) => {
    const path = s.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    const dash = s.dashed ? ' stroke-dasharray="6,4"' : '';
    out.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    for (const p of s.points) out.push(`<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="3" fill="${s.color}"/>`);
    const ly = top + 10 + i * 18;
    out.push(`<line x1="${width - right + 15}" x2="${width - right + 45}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${width - right + 52}" y="${ly + 4}" ${FONT} font-size="12">${escape(s.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export interface ResourceBar {
  readonly label: string;
  readonly color: string;
  readonly cpuSeconds: number;
  readonly peakRssMb: number;
}

/** Two bar groups side by side: CPU seconds and peak RSS (MB), one bar per enforcer, values written on the bars. */
export function resourceChart(title: string, bars: readonly ResourceBar[]): string {
  const width = 760;
  const height = 320;
  const top = 50;
  const bottom = 40;
  const panel = (width - 80) / 2;
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`, `<rect width="100%" height="100%" fill="white"/>`];
  out.push(`<text x="40" y="22" ${FONT} font-size="14" font-weight="bold">${escape(title)}</text>`);
  const groups: { name: string; value: (b: ResourceBar) => number; unit: string }[] = [
    { name: 'CPU seconds (all nodes, children included)', value: (b) => b.cpuSeconds, unit: 's' },
    { name: 'peak RSS (largest node)', value: (b) => b.peakRssMb, unit: 'MB' },
  ];
  groups.forEach((g, gi) => {
    const x0 = 40 + gi * (panel + 20);
    const max = Math.max(...bars.map(g.value), 1e-9);
    const barWidth = Math.min(90, (panel - 40) / bars.length - 20);
    out.push(`<text x="${x0}" y="${top - 12}" ${FONT} font-size="12">${escape(g.name)}</text>`);
    out.push(`<line x1="${x0}" x2="${x0 + panel}" y1="${height - bottom}" y2="${height - bottom}" stroke="black"/>`);
    bars.forEach((b, bi) => {
      const h = (g.value(b) / max) * (height - top - bottom - 20);
      const bx = x0 + 20 + bi * (barWidth + 30);
      out.push(`<rect x="${bx}" y="${(height - bottom - h).toFixed(1)}" width="${barWidth}" height="${h.toFixed(1)}" fill="${b.color}"/>`);
      out.push(`<text x="${bx + barWidth / 2}" y="${(height - bottom - h - 5).toFixed(1)}" ${FONT} font-size="12" text-anchor="middle">${g.value(b).toFixed(g.unit === 's' ? 1 : 0)} ${g.unit}</text>`);
      out.push(`<text x="${bx + barWidth / 2}" y="${height - bottom + 16}" ${FONT} font-size="12" text-anchor="middle">${escape(b.label)}</text>`);
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** What the charts read from make bench-peers' JSON. */
export interface ChartInput {
  readonly enforcer: string;
  readonly latency: readonly { readonly pods: number; readonly kind: string; readonly p50Ms: number; readonly p99Ms: number }[];
  readonly usage: { readonly cpuSeconds: number; readonly peakRssMb: number };
}

const COLORS: Record<string, string> = { nftpol: '#1f77b4', 'kube-router': '#d62728' };
export const KINDS = ['pod label', 'policy', 'new pod'] as const;

/** Writes peers-latency-<kind>.svg and peers-resources.svg into `dir`. */
export function writeCharts(dir: string, results: readonly ChartInput[]): void {
  for (const kind of KINDS) {
    const series = results.flatMap((r) =>
      (['p50Ms', 'p99Ms'] as const).map((q) => ({
        label: `${r.enforcer} ${q === 'p50Ms' ? 'p50' : 'p99'}`,
        color: COLORS[r.enforcer] ?? '#555',
        dashed: q === 'p99Ms',
        points: r.latency.filter((l) => l.kind === kind).map((l) => [l.pods, l[q]] as const),
      })),
    ).filter((s) => s.points.length > 0);
    if (series.length > 0) writeFileSync(join(dir, `peers-latency-${kind.replace(' ', '-')}.svg`), latencyChart(`API write to new verdict in force: ${kind} change`, series));
  }
  const largest = Math.max(...results.flatMap((r) => r.latency.map((l) => l.pods)));
  writeFileSync(
    join(dir, 'peers-resources.svg'),
    resourceChart(
      `Enforcer resources over the whole run (2 nodes, up to ${largest.toLocaleString('en-US')} pods)`,
      results.map((r) => ({ label: r.enforcer, color: COLORS[r.enforcer] ?? '#555', cpuSeconds: r.usage.cpuSeconds, peakRssMb: r.usage.peakRssMb })),
    ),
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'peers-bench.json');
  const report = JSON.parse(readFileSync(file, 'utf8')) as { results: ChartInput[] };
  writeCharts(dirname(file), report.results);
}
