/**
 * Hand-written SVG charts of simulation runs (no dependencies): GPU share over time (stacked
 * areas), latency CDFs, a grouped bar chart of % of native per design, and a sweep chart. Colours
 * match the partition map (`vgpuColor` by vGPU id: created vGPUs get ids 1, 2, ... in order).
 * Output is a pure function of the input: the same run gives the same bytes.
 */
import { escapeXml, vgpuColor } from '../gtt/svg.js';

const W = 900;
const DASHES = ['', '8 4', '3 3', '10 3 2 3'];
const H = 360;
const M = { left: 64, right: 180, top: 44, bottom: 48 };

function fmt(x: number): string {
  return (Math.round(x * 100) / 100).toString();
}

function frame(title: string, width = W, height = H): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${M.left}" y="24" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  ];
}

function legend(out: string[], names: readonly string[], colors: readonly string[], x: number, y: number): void {
  names.forEach((n, i) => {
    out.push(`<g class="legend" data-name="${escapeXml(n)}"><rect x="${x}" y="${y + i * 18}" width="12" height="12" fill="${colors[i]}"/>` +
      `<text x="${x + 18}" y="${y + i * 18 + 10}">${escapeXml(n)}</text></g>`);
  });
}

function axes(out: string[], plotW: number, plotH: number, xTicks: { v: number; label: string }[], yTicks: { v: number; label: string }[], xLabel: string, yLabel: string, xOf: (v: number) => number, yOf: (v: number) => number): void {
  const x0 = M.left, y0 = M.top + plotH;
  for (const t of yTicks) {
    const y = fmt(yOf(t.v));
    out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + plotW}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(t.label)}</text>`);
  }
  for (const t of xTicks) {
    const x = fmt(xOf(t.v));
    out.push(`<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + 4}" stroke="#333"/>`);
    out.push(`<text x="${x}" y="${y0 + 16}" text-anchor="middle">${escapeXml(t.label)}</text>`);
  }
  out.push(`<line x1="${x0}" y1="${y0}" x2="${x0 + plotW}" y2="${y0}" stroke="#333"/>`);
  out.push(`<line x1="${x0}" y1="${M.top}" x2="${x0}" y2="${y0}" stroke="#333"/>`);
  out.push(`<text x="${x0 + plotW / 2}" y="${y0 + 36}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  out.push(`<text x="16" y="${M.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${M.top + plotH / 2})">${escapeXml(yLabel)}</text>`);
}

function niceStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const p = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/**
 * GPU share over time: one stacked band per vGPU (share of each `sampleMs` sample), the white
 * space above them being idle time and context switches.
 */
export function renderShareSvg(timeline: { sampleMs: number; names: readonly string[]; share: readonly (readonly number[])[] }, title = 'GPU share over time'): string {
  const out = frame(title);
  const plotW = W - M.left - M.right, plotH = H - M.top - M.bottom;
  const n = timeline.share.length;
  const totalMs = n * timeline.sampleMs;
  const xOf = (ms: number): number => M.left + (totalMs > 0 ? (ms / totalMs) * plotW : 0);
  const yOf = (s: number): number => M.top + plotH - Math.min(1, Math.max(0, s)) * plotH;
  const step = niceStep(totalMs, 8);
  const xTicks: { v: number; label: string }[] = [];
  for (let v = 0; v <= totalMs + 1e-9; v += step) xTicks.push({ v, label: `${fmt(v)}` });
  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((v) => ({ v, label: `${v * 100}%` }));
  axes(out, plotW, plotH, xTicks, yTicks, 'simulated time (ms)', 'share of GPU time', xOf, yOf);
  const colors = timeline.names.map((_n, i) => vgpuColor(i + 1));
  const base = new Float64Array(n);
  timeline.names.forEach((name, k) => {
    if (n === 0) return;
    const top: string[] = [];
    const lows = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const x0 = xOf(i * timeline.sampleMs), x1 = xOf((i + 1) * timeline.sampleMs);
      lows[i] = base[i];
      const hi = base[i] + (timeline.share[i][k] ?? 0);
      top.push(`${fmt(x0)},${fmt(yOf(hi))}`, `${fmt(x1)},${fmt(yOf(hi))}`);
      base[i] = hi;
    }
    const bottom: string[] = [];
    for (let i = n - 1; i >= 0; i--) {
      const x0 = xOf(i * timeline.sampleMs), x1 = xOf((i + 1) * timeline.sampleMs);
      bottom.push(`${fmt(x1)},${fmt(yOf(lows[i]))}`, `${fmt(x0)},${fmt(yOf(lows[i]))}`);
    }
    out.push(`<polygon class="share" data-name="${escapeXml(name)}" fill="${colors[k]}" fill-opacity="0.85" stroke="none" points="${top.concat(bottom).join(' ')}"/>`);
  });
  legend(out, timeline.names, colors, W - M.right + 20, M.top);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Workload latency CDFs (log-scale ms axis), one line per vGPU. */
export function renderLatencySvg(series: readonly { name: string; samples: Float64Array }[], title = 'Workload latency (submission to completion), CDF'): string {
  const out = frame(title);
  const plotW = W - M.left - M.right, plotH = H - M.top - M.bottom;
  let lo = Infinity, hi = 0;
  for (const s of series) if (s.samples.length) {
    lo = Math.min(lo, s.samples[0] / 1e6);
    hi = Math.max(hi, s.samples[s.samples.length - 1] / 1e6);
  }
  if (!(hi > 0)) {
    lo = 0.01;
    hi = 1;
  }
  const d0 = Math.floor(Math.log10(Math.max(lo, 1e-4)));
  const d1 = Math.max(d0 + 1, Math.ceil(Math.log10(hi)));
  const xOf = (ms: number): number => M.left + ((Math.log10(Math.max(ms, 10 ** d0)) - d0) / (d1 - d0)) * plotW;
  const yOf = (p: number): number => M.top + plotH - p * plotH;
  const xTicks: { v: number; label: string }[] = [];
  for (let d = d0; d <= d1; d++) xTicks.push({ v: 10 ** d, label: d < 0 ? (10 ** d).toFixed(-d) : String(10 ** d) });
  const yTicks = [0, 0.25, 0.5, 0.75, 0.9, 1].map((v) => ({ v, label: v === 0.9 ? 'p90' : `${v * 100}%` }));
  axes(out, plotW, plotH, xTicks, yTicks, 'latency (ms, log scale)', 'fraction of workloads', xOf, yOf);
  const colors = series.map((_s, i) => vgpuColor(i + 1));
  series.forEach((s, k) => {
    const n = s.samples.length;
    if (n === 0) return;
    // At most ~400 points: every sample of small sets, evenly spaced ranks of large ones.
    const pts: string[] = [`${fmt(xOf(s.samples[0] / 1e6))},${fmt(yOf(0))}`];
    const stride = Math.max(1, Math.floor(n / 400));
    for (let i = 0; i < n; i += stride) pts.push(`${fmt(xOf(s.samples[i] / 1e6))},${fmt(yOf((i + 1) / n))}`);
    pts.push(`${fmt(xOf(s.samples[n - 1] / 1e6))},${fmt(yOf(1))}`);
    out.push(`<polyline class="cdf" data-name="${escapeXml(s.name)}" fill="none" stroke="${colors[k]}" stroke-width="2" points="${pts.join(' ')}"/>`);
  });
  legend(out, series.map((s) => `${s.name} (${s.samples.length})`), colors, W - M.right + 20, M.top);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Grouped bars: for each vGPU (group), one bar per design of a value in [0, max] (e.g. % of native), with a reference line. */
export function renderBarsSvg(groups: readonly string[], designs: readonly string[], values: readonly (readonly (number | null)[])[], opts: { title: string; yLabel: string; max?: number; reference?: number }): string {
  const out = frame(opts.title);
  const plotW = W - M.left - M.right, plotH = H - M.top - M.bottom;
  let max = opts.max ?? 0;
  for (const row of values) for (const v of row) if (v !== null && v > max) max = v;
  if (!(max > 0)) max = 1;
  const yOf = (v: number): number => M.top + plotH - (v / max) * plotH;
  const step = niceStep(max, 5);
  const yTicks: { v: number; label: string }[] = [];
  for (let v = 0; v <= max + 1e-9; v += step) yTicks.push({ v, label: `${fmt(v * 100)}%` });
  const gw = plotW / Math.max(1, groups.length);
  axes(out, plotW, plotH, [], yTicks, '', opts.yLabel, () => 0, yOf);
  const palette = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#b07aa1', '#76b7b2'];
  groups.forEach((g, gi) => {
    const bw = (gw * 0.8) / Math.max(1, designs.length);
    designs.forEach((_d, di) => {
      const v = values[gi]?.[di];
      const x = M.left + gi * gw + gw * 0.1 + di * bw;
      if (v === null || v === undefined) {
        out.push(`<text x="${fmt(x + bw / 2)}" y="${fmt(yOf(0) - 4)}" text-anchor="middle" fill="#999">–</text>`);
        return;
      }
      out.push(`<rect class="bar" x="${fmt(x)}" y="${fmt(yOf(v))}" width="${fmt(bw - 2)}" height="${fmt(yOf(0) - yOf(v))}" fill="${palette[di % palette.length]}"><title>${escapeXml(`${g} ${designs[di]}: ${fmt(v * 100)}%`)}</title></rect>`);
    });
    out.push(`<text x="${fmt(M.left + gi * gw + gw / 2)}" y="${M.top + plotH + 16}" text-anchor="middle">${escapeXml(g)}</text>`);
  });
  if (opts.reference !== undefined && opts.reference <= max) {
    const y = fmt(yOf(opts.reference));
    out.push(`<line x1="${M.left}" y1="${y}" x2="${M.left + plotW}" y2="${y}" stroke="#c00" stroke-dasharray="6 4"/>`);
  }
  legend(out, designs, designs.map((_d, i) => palette[i % palette.length]), W - M.right + 20, M.top);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** A sweep: one line per design of a value against the vGPU count (log-2 x axis), with a reference line. */
export function renderSweepLinesSvg(counts: readonly number[], designs: readonly string[], values: readonly (readonly (number | null)[])[], opts: { title: string; yLabel: string; reference?: number; max?: number }): string {
  const out = frame(opts.title);
  const plotW = W - M.left - M.right, plotH = H - M.top - M.bottom;
  let max = opts.max ?? 0;
  for (const row of values) for (const v of row) if (v !== null && v > max) max = v;
  if (!(max > 0)) max = 1;
  const c0 = Math.log2(Math.max(1, Math.min(...counts))), c1 = Math.max(c0 + 1, Math.log2(Math.max(...counts)));
  const xOf = (n: number): number => M.left + ((Math.log2(n) - c0) / (c1 - c0)) * plotW;
  const yOf = (v: number): number => M.top + plotH - (v / max) * plotH;
  const step = niceStep(max, 5);
  const yTicks: { v: number; label: string }[] = [];
  for (let v = 0; v <= max + 1e-9; v += step) yTicks.push({ v, label: `${fmt(v * 100)}%` });
  // Tick labels at least 24 px apart (15 and 16 would overlap on a log axis).
  const xTicks: { v: number; label: string }[] = [];
  for (const n of counts) if (!xTicks.length || xOf(n) - xOf(xTicks[xTicks.length - 1].v) >= 24) xTicks.push({ v: n, label: String(n) });
  axes(out, plotW, plotH, xTicks, yTicks, 'vGPUs requested (log scale)', opts.yLabel, xOf, yOf);
  const palette = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#b07aa1', '#76b7b2'];
  designs.forEach((d, di) => {
    const pts: string[] = [];
    counts.forEach((n, ci) => {
      const v = values[ci]?.[di];
      if (v !== null && v !== undefined) pts.push(`${fmt(xOf(n))},${fmt(yOf(v))}`);
    });
    // Designs often coincide: distinct dashes and marker sizes keep each visible.
    const dash = DASHES[di % DASHES.length];
    if (pts.length) out.push(`<polyline class="sweep" data-name="${escapeXml(d)}" fill="none" stroke="${palette[di % palette.length]}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${pts.join(' ')}"/>`);
    for (const p of pts) {
      const [x, y] = p.split(',');
      out.push(`<circle cx="${x}" cy="${y}" r="${5 - (di % 4)}" fill="none" stroke="${palette[di % palette.length]}" stroke-width="1.5"/>`);
    }
  });
  if (opts.reference !== undefined && opts.reference <= max) {
    const y = fmt(yOf(opts.reference));
    out.push(`<line x1="${M.left}" y1="${y}" x2="${M.left + plotW}" y2="${y}" stroke="#c00" stroke-dasharray="6 4"/>`);
  }
  legend(out, designs, designs.map((_d, i) => palette[i % palette.length]), W - M.right + 20, M.top);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
