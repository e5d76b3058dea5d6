/**
 * Reports of simulation runs as text tables: one run, a side-by-side comparison of designs (modes),
 * and a scaling sweep. Pure functions of the results (the same results give the same text).
 */
import type { MediationMode, MediatorOptions } from '../mediator/mediator.js';
import type { SimResult, VgpuResult } from './runner.js';

/**
 * A design to run a scenario under: a mediation mode plus mediator options. The comparison and
 * sweep reports have one column per design, so a variant (e.g. gScale-style sharing of the
 * graphics memory) is one more entry: `{ label: 'mediated+gScale', mode: 'mediated', mediator: {...} }`.
 */
export interface Design {
  label: string;
  mode: MediationMode;
  mediator?: MediatorOptions;
}

/** What each mode isolates and costs, by construction (not measured). */
export const ISOLATION: Readonly<Record<MediationMode, Readonly<Record<string, string>>>> = Object.freeze({
  passthrough: Object.freeze({
    guests: '1 (owns the GPU)', memory: 'IOMMU only', commands: 'not audited', scheduling: 'none (one guest)', hostPath: 'none',
  }),
  mediated: Object.freeze({
    guests: 'up to 7 (ids, GM slices)', memory: 'shadow GGTT/PPGTT, ballooning', commands: 'every command audited',
    scheduling: 'time slices, whole GPU', hostPath: 'traps + scan + copy',
  }),
  sriov: Object.freeze({
    guests: 'one per VF', memory: 'device GGTT bounds per VF', commands: 'device-enforced (model: auditor)',
    scheduling: 'device time slices', hostPath: 'submission only',
  }),
  emulated: Object.freeze({
    guests: 'many', memory: 'software (every access)', commands: 'every command interpreted',
    scheduling: 'software', hostPath: 'traps + scan + per-command emulation',
  }),
});

const ISOLATION_ROWS: readonly [string, string][] = [
  ['guests', 'guests'], ['memory', 'memory isolation'], ['commands', 'command checks'], ['scheduling', 'GPU sharing'], ['hostPath', 'host CPU on submission'],
];

/** `0.941` → `94.1%`; null → `–`. */
export function pct(x: number | null, digits = 1): string {
  return x === null || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(digits)}%`;
}

function fixed(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '–';
}

function thousands(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Format rows as an aligned text table (first column left-aligned, the rest right-aligned). */
export function table(header: readonly string[], rows: readonly (readonly string[])[], left = 1): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string => r.map((c, i) => (i < left ? (c ?? '').padEnd(widths[i]) : (c ?? '').padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

function rateText(v: VgpuResult): string {
  return `${fixed(v.rate, 1)} ${v.rateUnit === 'fps' ? 'fps' : 'wl/s'}`;
}

function rules(o: Record<string, number>): string {
  const e = Object.entries(o);
  return e.length ? e.map(([k, n]) => `${k} ${n}`).join(', ') : 'none';
}

/** The report of one run. */
export function formatRun(r: SimResult): string[] {
  const out: string[] = [];
  out.push(`${r.scenario}: ${r.mode}, seed ${r.seed}, ${r.durationMs} ms simulated, ${r.totals.created}/${r.totals.requested} vGPUs`);
  out.push('');
  const rows = r.vgpus.map((v) => v.created
    ? [v.name, v.type, v.kind, rateText(v), pct(v.pctNative), pct(v.share), pct(v.fairShare), pct(v.shareOfFair, 0), fixed(v.latencyMs.p50, 2), fixed(v.latencyMs.p99, 2),
      String(v.refused), v.state]
    : [v.name, v.type, v.kind, '–', '–', '–', '–', '–', '–', '–', '–', 'not created']);
  out.push(...table(['vGPU', 'type', 'workload', 'rate', '% native', 'share', 'fair', 'of fair', 'p50 ms', 'p99 ms', 'refused', 'state'], rows, 3));
  out.push('');
  const trapRows = r.vgpus.filter((v) => v.created).map((v) => [
    v.name, thousands(v.traps.mmioReads), thousands(v.traps.mmioWrites), thousands(v.traps.gttWrites), thousands(v.traps.ppgttWrites),
    thousands(v.ptesShadowed.ggtt), thousands(v.ptesShadowed.ppgtt), thousands(v.commandsAudited), fixed(v.mediationMs, 2), fixed(v.trapMs, 2), fixed(v.hostCpuMs, 2),
  ]);
  out.push('host side (traps since boot, PTEs shadowed, commands audited, host CPU = mediation + traps × trap cost):');
  out.push(...table(['vGPU', 'MMIO rd', 'MMIO wr', 'GTT wr', 'PPGTT wr', 'GGTT PTEs', 'PPGTT PTEs', 'audited', 'mediate ms', 'trap ms', 'CPU ms'], trapRows));
  for (const v of r.vgpus) {
    if (!v.created) out.push(`${v.name}: not created: ${v.error}`);
    else if (v.error) out.push(`${v.name}: ${v.error}`);
    else if (Object.keys(v.attacks).length || v.failed) {
      if (v.failed > v.refused) out.push(`${v.name}: ${v.failed - v.refused} workloads hung or dropped by a reset`);
      out.push(`${v.name}: attacks ${rules(v.attacks)}`);
      out.push(`${v.name}: refused by rule ${rules(v.refusedByRule)}; contained by the shadow tables: ${v.contained.ggttOutOfSlice} GGTT writes outside its slices dropped, ${v.contained.ppgttInvalidFrames} PPGTT entries to frames it does not own sent to scratch${v.state === 'failsafe' ? '; vGPU in failsafe' : ''}`);
    }
  }
  const t = r.totals;
  out.push('');
  out.push(`totals: ${fixed(t.fps, 1)} fps + ${fixed(t.workloadsPerSec, 1)} workloads/s; GPU busy ${pct(t.gpuBusyShare)}; ${t.switches} switches (${fixed(t.switchOverheadMs, 2)} ms); ` +
    `${thousands(t.commandsAudited)} commands audited, ${t.refused} refused${t.hangs ? `, ${t.hangs} hangs` : ''}; host CPU ${fixed(t.hostCpuMs, 1)} ms (${pct(t.hostCpuShare)} of one core)` +
    (t.minPctNative !== null ? `; % of native: mean ${pct(t.meanPctNative)}, min ${pct(t.minPctNative)}` : ''));
  return out;
}

/** Side-by-side comparison of the same scenario under several designs. */
export function formatComparison(labels: readonly string[], runs: readonly SimResult[]): string[] {
  const out: string[] = [];
  const r0 = runs[0];
  out.push(`${r0.scenario}: ${labels.length} designs, seed ${r0.seed}, ${r0.durationMs} ms simulated each`);
  out.push('');
  const header = ['', ...labels];
  const rows: string[][] = [];
  r0.vgpus.forEach((v0, i) => {
    rows.push([`${v0.name} ${v0.rateUnit === 'fps' ? 'fps' : 'wl/s'}`, ...runs.map((r) => {
      const v = r.vgpus[i];
      return v.created ? `${fixed(v.rate, 1)} (${pct(v.pctNative, 0)})` : 'not created';
    })]);
  });
  r0.vgpus.forEach((v0, i) => {
    rows.push([`${v0.name} share / p99`, ...runs.map((r) => {
      const v = r.vgpus[i];
      return v.created ? `${pct(v.share, 0)} / ${fixed(v.latencyMs.p99, 1)} ms` : '–';
    })]);
  });
  rows.push(['vGPUs created', ...runs.map((r) => `${r.totals.created}/${r.totals.requested}`)]);
  rows.push(['GPU busy', ...runs.map((r) => pct(r.totals.gpuBusyShare))]);
  rows.push(['mean % native', ...runs.map((r) => pct(r.totals.meanPctNative))]);
  rows.push(['refused (measured)', ...runs.map((r) => String(r.totals.refused))]);
  rows.push(['contained PTEs', ...runs.map((r) => String(r.vgpus.reduce((s, v) => s + v.contained.ggttOutOfSlice + v.contained.ppgttInvalidFrames, 0)))]);
  rows.push(['host CPU ms', ...runs.map((r) => fixed(r.totals.hostCpuMs, 1))]);
  rows.push(['host CPU % core', ...runs.map((r) => pct(r.totals.hostCpuShare, 2))]);
  out.push(...table(header, rows));
  out.push('');
  out.push('isolation by construction:');
  const modes = runs.map((r) => r.mode);
  out.push(...table(['', ...labels], ISOLATION_ROWS.map(([k, label]) => [label, ...modes.map((m) => ISOLATION[m][k])])));
  out.push('(the model applies the same command audit and shadow tables in every mode; the modes differ in cost and in how many guests fit)');
  return out;
}

/** One row of a scaling sweep: a scenario file and its run under each design. */
export interface SweepRow {
  file: string;
  scenario: string;
  requested: number;
  runs: SimResult[];
}

/** Summary of one design in a sweep: where it first falls under the threshold of native. */
export function firstUnder(rows: readonly SweepRow[], di: number, threshold: number): SweepRow | null {
  for (const row of rows) {
    const r = row.runs[di];
    if (r.totals.created < row.requested) return row;
    if (r.totals.minPctNative !== null && r.totals.minPctNative < threshold) return row;
  }
  return null;
}

/** The sweep table: per vGPU count, per design: created, aggregate rate, min/mean % of native. */
export function formatSweep(labels: readonly string[], rows: readonly SweepRow[], threshold = 0.8): string[] {
  const out: string[] = [];
  const dur = rows[0]?.runs[0]?.durationMs ?? 0;
  out.push(`scaling sweep: ${rows.length} scenarios, ${dur} ms simulated each; cell = created, aggregate rate, % of native (min / mean of created vGPUs)`);
  out.push('');
  const body = rows.map((row) => [String(row.requested), ...row.runs.map((r) => {
    const unit = r.vgpus.find((v) => v.created)?.rateUnit === 'workloads/s' ? 'wl/s' : 'fps';
    const agg = unit === 'fps' ? r.totals.fps : r.totals.workloadsPerSec;
    return `${r.totals.created}/${row.requested}  ${fixed(agg, 0)} ${unit}  ${pct(r.totals.minPctNative, 0)} / ${pct(r.totals.meanPctNative, 0)}`;
  })]);
  out.push(...table(['vGPUs', ...labels], body));
  out.push('');
  labels.forEach((l, di) => {
    const row = firstUnder(rows, di, threshold);
    if (!row) {
      out.push(`${l}: every vGPU at or above ${pct(threshold, 0)} of native up to ${rows[rows.length - 1]?.requested ?? 0} vGPUs`);
      return;
    }
    const r = row.runs[di];
    const why = r.totals.created < row.requested
      ? `only ${r.totals.created} of ${row.requested} vGPUs created (${firstError(r)})`
      : `min ${pct(r.totals.minPctNative)} of native`;
    out.push(`${l}: falls under ${pct(threshold, 0)} of native at ${row.requested} vGPUs: ${why}`);
  });
  const last = rows[rows.length - 1];
  if (last) {
    out.push(`host memory at ${last.requested} vGPUs (peak in use of the device's): ` + labels.map((l, di) => {
      const tt = last.runs[di].totals;
      return `${l} ${fixed(tt.hostMemoryPeakMiB, 0)} of ${tt.hostMemoryMiB} MiB (${tt.created} vGPUs)`;
    }).join(', '));
  }
  return out;
}

function firstError(r: SimResult): string {
  const v = r.vgpus.find((x) => !x.created);
  if (!v || !v.error) return 'creation failed';
  const m = v.error;
  return m.length > 90 ? m.slice(0, 87) + '...' : m;
}
