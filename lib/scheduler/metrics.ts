/**
 * Scheduling metrics: per-vGPU busy time, share, workloads, latency percentiles, switches and
 * frames, and Jain's fairness index over weight-normalised shares.
 *
 * Recording is allocation-conscious: latencies go into a growable Float64Array (doubling), and
 * percentiles sort a copy once, at report time.
 */

/** A growable list of latency samples (ns). */
export class LatencyRecorder {
  private buf: Float64Array;
  private n = 0;
  private sum = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Float64Array(Math.max(1, initialCapacity | 0));
  }

  /** Samples recorded. */
  get count(): number {
    return this.n;
  }

  /** Record one sample. */
  add(ns: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = ns;
    this.sum += ns;
  }

  /** Forget every sample. */
  clear(): void {
    this.n = 0;
    this.sum = 0;
  }

  /** Mean and percentiles of the samples (zeros when there are none). */
  summary(): LatencySummary {
    if (this.n === 0) return { count: 0, mean: 0, p50: 0, p95: 0, p99: 0, max: 0 };
    const sorted = this.buf.slice(0, this.n).sort();
    return {
      count: this.n,
      mean: this.sum / this.n,
      p50: percentileSorted(sorted, 50),
      p95: percentileSorted(sorted, 95),
      p99: percentileSorted(sorted, 99),
      max: sorted[this.n - 1],
    };
  }
}

/** Latency summary in ns. */
export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/**
 * The `p`-th percentile (0 < p ≤ 100) of ascending `sorted` by the nearest-rank method: the
 * smallest sample such that at least p% of the samples are ≤ it. 0 for an empty input.
 */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  if (!(p > 0)) return sorted[0];
  const rank = Math.ceil((p / 100) * n);
  return sorted[Math.min(n, Math.max(1, rank)) - 1];
}

/** The `p`-th percentile (nearest rank) of unsorted samples; sorts a copy. */
export function percentile(samples: ArrayLike<number>, p: number): number {
  return percentileSorted(Float64Array.from(samples).sort(), p);
}

/**
 * Jain's fairness index `(Σx)² / (n · Σx²)`: 1 when all values are equal, 1/n when one takes all.
 * 1 for an empty input or all zeros (nobody is treated worse than anybody else).
 */
export function jainIndex(values: ArrayLike<number>): number {
  const n = values.length;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    s += values[i];
    s2 += values[i] * values[i];
  }
  if (n === 0 || s2 === 0) return 1;
  return (s * s) / (n * s2);
}

/** Counters of one vGPU during a run (mutable, numeric fields only). */
export class VgpuStats {
  readonly id: number;
  readonly name: string;
  weight: number;
  /** GPU time executing this vGPU's workloads, ns. */
  busyNs = 0;
  /** Workloads completed. */
  workloads = 0;
  /** Workloads ended by the watchdog. */
  hangs = 0;
  /** Workloads cut at a slice boundary (preemptible workloads). */
  preemptions = 0;
  /** Frames completed. */
  frames = 0;
  /** Context switches to this vGPU. */
  switches = 0;
  /** Modelled cost of those switches, ns. */
  switchOverheadNs = 0;
  /** True once the vGPU submitted a workload (an "active" vGPU for fairness). */
  active = false;
  /** Queue-to-completion latencies. */
  readonly latency = new LatencyRecorder();

  constructor(id: number, name: string, weight: number) {
    this.id = id;
    this.name = name;
    this.weight = weight;
  }
}

/** Per-vGPU figures of a run. */
export interface VgpuReport {
  id: number;
  name: string;
  weight: number;
  busyNs: number;
  /** busyNs / measured duration. */
  share: number;
  /** busyNs / Σ busyNs of all vGPUs (the split of the time the GPU was busy). */
  busyShare: number;
  /** weight / Σ weights of active vGPUs (0 when inactive). */
  weightShare: number;
  workloads: number;
  hangs: number;
  preemptions: number;
  frames: number;
  /** Frames per simulated second. */
  fps: number;
  latency: LatencySummary;
  switches: number;
  switchOverheadNs: number;
}

/** Figures of a whole run. */
export interface SchedReport {
  /** Measured duration, ns (the run minus the warm-up excluded by `metricsFromNs`). */
  durationNs: number;
  vgpus: VgpuReport[];
  /** Σ busy / duration. */
  gpuBusyShare: number;
  /** Time spent in context switches, ns. */
  switchOverheadNs: number;
  switches: number;
  /** Time the GPU neither executed a workload nor switched, ns. */
  idleNs: number;
  /**
   * Jain's index over active vGPUs of `share / weightShare` (1 = every vGPU got exactly its
   * weighted share of what was handed out; 1/n = one took all).
   */
  jain: number;
}

/** Build the report of a run from per-vGPU counters (in the given order). */
export function buildReport(stats: readonly VgpuStats[], durationNs: number): SchedReport {
  let busy = 0;
  let wsum = 0;
  let sw = 0;
  let swNs = 0;
  for (const s of stats) {
    busy += s.busyNs;
    if (s.active) wsum += s.weight;
    sw += s.switches;
    swNs += s.switchOverheadNs;
  }
  const d = durationNs > 0 ? durationNs : 1;
  const vgpus: VgpuReport[] = stats.map((s) => ({
    id: s.id,
    name: s.name,
    weight: s.weight,
    busyNs: s.busyNs,
    share: s.busyNs / d,
    busyShare: busy > 0 ? s.busyNs / busy : 0,
    weightShare: s.active && wsum > 0 ? s.weight / wsum : 0,
    workloads: s.workloads,
    hangs: s.hangs,
    preemptions: s.preemptions,
    frames: s.frames,
    fps: (s.frames * 1e9) / d,
    latency: s.latency.summary(),
    switches: s.switches,
    switchOverheadNs: s.switchOverheadNs,
  }));
  const normalised: number[] = [];
  for (const v of vgpus) if (v.weightShare > 0) normalised.push(v.busyShare / v.weightShare);
  return {
    durationNs,
    vgpus,
    gpuBusyShare: busy / d,
    switchOverheadNs: swNs,
    switches: sw,
    idleNs: Math.max(0, durationNs - busy - swNs),
    jain: jainIndex(normalised),
  };
}
