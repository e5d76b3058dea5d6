/**
 * Hand-written SVG renderings (no dependencies) of a graphics-memory partition map and of a
 * ballooning sweep.
 */
import type { SweepResult } from './balloon.js';
import { formatBytes, type GmPartition } from './partition.js';

/** Escape text for SVG content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#edc948', '#76b7b2', '#ff9da7', '#9c755f', '#e15759', '#bab0ac'];
const HOST_COLOR = '#555555';
const FREE_COLOR = '#f4f4f4';

/** Colour of vGPU `id` in every rendering. */
export function vgpuColor(id: number): string {
  return PALETTE[(id - 1 + PALETTE.length) % PALETTE.length];
}

interface Segment {
  start: number;
  end: number;
  label: string;
  fill: string;
  text: string;
  /** 'host' | 'free' | 'vgpu' (for tests and styling). */
  kind: string;
}

function segments(p: GmPartition, high: boolean): Segment[] {
  const lo = high ? p.apertureSize : 0;
  const hostEnd = lo + (high ? p.host.highGmSize : p.host.lowGmSize);
  const out: Segment[] = [];
  if (hostEnd > lo) out.push({ start: lo, end: hostEnd, label: 'host', fill: HOST_COLOR, text: '#ffffff', kind: 'host' });
  for (const id of p.vgpuIds()) {
    const s = p.slices(id)!;
    const t = p.typeOf(id)!;
    const start = high ? s.highBase : s.lowBase;
    const size = high ? s.highSize : s.lowSize;
    out.push({ start, end: start + size, label: `vGPU ${id} ${t.name}`, fill: vgpuColor(id), text: '#ffffff', kind: 'vgpu' });
  }
  const free = p.freeRanges();
  for (const r of high ? free.high : free.low) out.push({ start: r.start, end: r.end, label: 'free', fill: FREE_COLOR, text: '#333333', kind: 'free' });
  return out.sort((a, b) => a.start - b.start);
}

/** Options of `renderPartitionSvg`. */
export interface PartitionSvgOptions {
  title?: string;
  /** Width of the bars in px (default 900). */
  width?: number;
  /** Extra lines under the legend (e.g. failures). */
  notes?: string[];
}

/**
 * The GM space as two bars, low (aperture) and high (hidden), each scaled to its own range:
 * host reservation, each vGPU's slice (labelled when wide enough, always in the legend), free
 * space. One `<g class="vgpu" data-id>` per vGPU in the legend.
 */
export function renderPartitionSvg(p: GmPartition, opts: PartitionSvgOptions = {}): string {
  const width = opts.width ?? 900;
  const left = 150;
  const barH = 44;
  const rows: { name: string; start: number; end: number; segs: Segment[] }[] = [
    { name: `low (aperture) ${formatBytes(p.apertureSize)}`, start: 0, end: p.apertureSize, segs: segments(p, false) },
    { name: `high (hidden) ${formatBytes(p.totalSize - p.apertureSize)}`, start: p.apertureSize, end: p.totalSize, segs: segments(p, true) },
  ];
  const ids = p.vgpuIds();
  const notes = opts.notes ?? [];
  const legendTop = 60 + rows.length * (barH + 40) + 10;
  const height = legendTop + (ids.length + 2) * 20 + notes.length * 18 + 20;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 20}" height="${height}" viewBox="0 0 ${left + width + 20} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<title>${escapeXml(opts.title ?? 'Graphics memory partition')}</title>`);
  out.push(`<rect x="0" y="0" width="${left + width + 20}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="10" y="24" font-size="16" font-weight="bold">${escapeXml(opts.title ?? 'Graphics memory partition')}</text>`);
  rows.forEach((row, ri) => {
    const y = 50 + ri * (barH + 40);
    const span = row.end - row.start;
    out.push(`<g class="row" data-range="${row.start}-${row.end}">`);
    out.push(`<text x="10" y="${y + barH / 2 + 4}">${escapeXml(row.name)}</text>`);
    for (const s of row.segs) {
      const x = left + ((s.start - row.start) / span) * width;
      const w = Math.max(((s.end - s.start) / span) * width, 0.5);
      const tip = `${s.label}: 0x${s.start.toString(16)}..0x${s.end.toString(16)} (${formatBytes(s.end - s.start)})`;
      out.push(`<rect class="${s.kind}" x="${x.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${barH}" fill="${s.fill}" stroke="#222222" stroke-width="0.5"><title>${escapeXml(tip)}</title></rect>`);
      const label = s.kind === 'vgpu' ? s.label.split(' ').slice(0, 2).join(' ') : s.label;
      if (w > label.length * 6.5 + 6) {
        out.push(`<text x="${(x + w / 2).toFixed(2)}" y="${y + barH / 2 + 4}" text-anchor="middle" fill="${s.text}">${escapeXml(label)}</text>`);
      }
    }
    out.push(`<text x="${left}" y="${y + barH + 14}" font-size="10" fill="#666666">0x${row.start.toString(16)}</text>`);
    out.push(`<text x="${left + width}" y="${y + barH + 14}" font-size="10" fill="#666666" text-anchor="end">0x${row.end.toString(16)}</text>`);
    out.push('</g>');
  });
  let y = legendTop;
  const legendRow = (fill: string, text: string, cls: string, id?: number): void => {
    out.push(`<g class="${cls}"${id !== undefined ? ` data-id="${id}"` : ''}><rect x="10" y="${y - 10}" width="12" height="12" fill="${fill}" stroke="#222222" stroke-width="0.5"/><text x="28" y="${y}">${escapeXml(text)}</text></g>`);
    y += 20;
  };
  legendRow(HOST_COLOR, `host: low ${formatBytes(p.host.lowGmSize)}, high ${formatBytes(p.host.highGmSize)}, ${p.host.fences} fences`, 'legend-host');
  for (const id of ids) {
    const s = p.slices(id)!;
    const t = p.typeOf(id)!;
    legendRow(vgpuColor(id), `vGPU ${id} ${t.name}: low ${formatBytes(s.lowSize)} @ 0x${s.lowBase.toString(16)}, high ${formatBytes(s.highSize)} @ 0x${s.highBase.toString(16)}, fences ${s.fences.join(',')}`, 'vgpu', id);
  }
  const f = p.free();
  legendRow(FREE_COLOR, `free: low ${formatBytes(f.low)}, high ${formatBytes(f.high)}, ${f.fences} fences, ${f.ids} ids`, 'legend-free');
  for (const n of notes) {
    out.push(`<text class="note" x="10" y="${y}" fill="#b00020">${escapeXml(n)}</text>`);
    y += 18;
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/**
 * A sweep as a matrix: one row per type, one column per count; a cell shows the usable low/high
 * memory per guest when every instance fits, else the resource that ran out first and by how
 * much.
 */
export function renderSweepSvg(r: SweepResult, title = 'vGPU types × instance count'): string {
  const cellW = 120;
  const cellH = 44;
  const left = 120;
  const top = 70;
  const width = left + r.counts.length * cellW + 20;
  const height = top + r.types.length * cellH + 60;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<title>${escapeXml(title)}</title>`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="10" y="22" font-size="16" font-weight="bold">${escapeXml(title)}</text>`);
  out.push(`<text x="10" y="40" fill="#666666">aperture ${formatBytes(r.apertureSize)}, total ${formatBytes(r.totalSize)}; green: all fit (usable low / high per guest), red: what runs out first</text>`);
  r.counts.forEach((c, ci) => {
    out.push(`<text x="${left + ci * cellW + cellW / 2}" y="${top - 8}" text-anchor="middle" font-weight="bold">${c} vGPU${c === 1 ? '' : 's'}</text>`);
  });
  r.types.forEach((t, ti) => {
    const y = top + ti * cellH;
    out.push(`<text x="10" y="${y + cellH / 2 + 4}" font-weight="bold">${escapeXml(t)}</text>`);
    r.counts.forEach((_c, ci) => {
      const cell = r.cells[ti * r.counts.length + ci];
      const x = left + ci * cellW;
      const fill = cell.fits ? '#c8e6c9' : '#ffcdd2';
      const l1 = cell.fits ? `${formatBytes(cell.usableLow)} / ${formatBytes(cell.usableHigh)}` : `${cell.placed} placed`;
      const l2 = cell.fits ? 'fits' : cell.failure ? shortText(cell.failure.resource, cell.failure.shortBy) : '';
      out.push(`<g class="cell" data-type="${escapeXml(t)}" data-count="${cell.count}" data-fits="${cell.fits}">` +
        `<rect x="${x + 2}" y="${y + 2}" width="${cellW - 4}" height="${cellH - 4}" fill="${fill}" stroke="#888888" stroke-width="0.5"><title>${escapeXml(cell.failure?.message ?? `${cell.count} × ${t} fit`)}</title></rect>` +
        `<text x="${x + cellW / 2}" y="${y + 18}" text-anchor="middle">${escapeXml(l1)}</text>` +
        `<text x="${x + cellW / 2}" y="${y + 32}" text-anchor="middle" fill="#444444">${escapeXml(l2)}</text></g>`);
    });
  });
  const maxLine = r.maxInstances.map((m) => `${m.type} ×${m.count}`).join(', ');
  out.push(`<text x="10" y="${top + r.types.length * cellH + 30}">${escapeXml('most that fit an empty device: ' + maxLine)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function shortText(resource: string, shortBy: number): string {
  const what = resource === 'low-gm' ? 'low' : resource === 'high-gm' ? 'high' : resource === 'fence' ? 'fences' : 'ids';
  const by = resource === 'low-gm' || resource === 'high-gm' ? formatBytes(shortBy) : String(shortBy);
  return `${what} short ${by}`;
}
