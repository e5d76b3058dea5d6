/**
 * The experiment runner: a scenario → a `Harness` (device + mediator in the scenario's mode) with
 * its guests and a `VgpuScheduler`, each guest driven by its workload generator on the simulated
 * clock for `durationMs`; then the figures (`SimResult`), a share-over-time series, latency samples,
 * the partition map and the Chrome trace.
 *
 * "% of native": a vGPU's rate (frames/s for frame-based kinds, else workloads/s) divided by the
 * rate of the same guest (same type, RAM, workload, seed) run alone in `passthrough` mode over the
 * same duration. `simulate` runs those baselines first, once per guest per invocation
 * (`NativeCache`).
 *
 * "Fair share": the weighted max-min fair split of GPU time given each vGPU's demand, its demand
 * being the share of GPU time it used alone (its native run, lowered by its caps): a vGPU that
 * needs less than its weighted part gets what it needs, the rest is split among the others by
 * weight. `shareOfFair`
 * = share / fair share: 1 means it got all it was entitled to.
 *
 * The runner holds no model logic: it only wires the library's parts and reads their counters.
 * It reads no wall clock; `onProgress` reports simulated progress to whoever shows it.
 */
import { Rng } from '../clock.js';
import { GvtError } from '../errors.js';
import { Harness, type TestGuest } from '../harness/index.js';
import type { MediationMode, MediatorOptions } from '../mediator/mediator.js';
import { MS as POLICY_MS } from '../scheduler/policies.js';
import { percentileSorted } from '../scheduler/metrics.js';
import { VgpuScheduler } from '../scheduler/vgpu-scheduler.js';
import { renderPartitionSvg } from '../gtt/svg.js';
import { formatBytes } from '../gtt/partition.js';
import { findVgpuType, GEN9_VGPU_TYPES } from '../gtt/vgpu-types.js';
import type { Workload } from '../mediator/workload.js';
import type { CostModel } from '../device/cost.js';
import type { Scenario, VgpuSpec } from './scenario.js';
import { createGenerator, type WorkloadGenerator } from './workloads.js';
import { encodePng } from '../display/png.js';

const MiB = 1024 * 1024;
const MS = POLICY_MS;
/** Failure rules that are not the mediator refusing work. */
const NOT_REFUSALS = new Set(['watchdog', 'gpu-hang', 'reset']);

/**
 * Device cost assumptions the simulator adds under the scenario's `device.cost`: decoding one AVC
 * slice (MFD_AVC_BSD_OBJECT) takes 150 µs of VCS time, so a 4-slice 1080p frame is ~0.6 ms (the
 * device's default charges it like any state command, a few ns). Assumptions, not measurements.
 */
export const SIM_DEVICE_COST: Readonly<Partial<CostModel>> = Object.freeze({
  commands: Object.freeze({ MFD_AVC_BSD_OBJECT: 150_000 }),
});

/** Options of `runScenario` / `simulate`. */
export interface RunOptions {
  /** Run under this design instead of the scenario's `mediator.mode`. */
  mode?: MediationMode;
  /** Extra mediator options, merged last (a design variant, e.g. a larger vGPU limit). */
  mediator?: MediatorOptions;
  /** Override the scenario's duration. */
  durationMs?: number;
  /** Called at every sample with simulated time done and total (ns). */
  onProgress?: (doneNs: number, totalNs: number) => void;
  /** Record the Chrome trace (default true). */
  trace?: boolean;
  /**
   * Capture every guest's screen (plane 1 of pipe A read out through its vGPU, as PNG) at the end
   * and, with `everyMs` > 0, every `everyMs` of simulated time (default: none). Captures read
   * memory only: the figures are the same with or without them.
   */
  screens?: { everyMs: number };
}

/** One guest's screen at one moment, as PNG (or why there is none: the plane is off or garbage). */
export interface ScreenShot {
  name: string;
  /** Simulated ms since the start of the measured run. */
  atMs: number;
  /** True for the capture at the end of the run. */
  final: boolean;
  /** The picture, null when the plane could not be read (`error` says why). */
  png: Uint8Array | null;
  width: number;
  height: number;
  error: string | null;
}

/** Latency summary in ms. */
export interface LatencyMs {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Figures of one vGPU of a run. */
export interface VgpuResult {
  name: string;
  type: string;
  kind: string;
  /** False when the vGPU could not be created (`error` says why; also set when its workload could not be set up). */
  created: boolean;
  error: string | null;
  /** 'active', 'failsafe', 'not created' or 'setup failed' (its buffers did not fit: `error`). */
  state: string;
  weight: number;
  workloads: number;
  workloadsPerSec: number;
  frames: number;
  fps: number;
  /** The rate "% of native" compares: fps for frame-based kinds, else workloads/s. */
  rate: number;
  rateUnit: 'fps' | 'workloads/s';
  /** The same guest alone in passthrough mode (null until `simulate` attaches it). */
  nativeRate: number | null;
  /** rate / nativeRate (null without a baseline or when the baseline did nothing). */
  pctNative: number | null;
  /**
   * Share of the GPU: time with at least one of its workloads executing on any engine / duration
   * (GVT-g gives the whole GPU to one vGPU at a time, so these add up to at most 1).
   */
  share: number;
  /** Σ engine busy time / duration (above 1 when its engines ran in parallel). */
  engineBusy: number;
  /** Weighted max-min fair share given native demands (null without baselines). */
  fairShare: number | null;
  shareOfFair: number | null;
  /** Frame ticks that found the queue full. */
  late: number;
  latencyMs: LatencyMs;
  /** Workloads that failed (refused, hung or dropped by a reset). */
  failed: number;
  /** Workloads refused by the mediator (audit rules and mediator checks; not hangs or resets). */
  refused: number;
  /** Failed workloads by rule: audit rules, mediator checks, and 'watchdog' / 'gpu-hang' / 'reset'. */
  refusedByRule: Record<string, number>;
  /** Attacks tried (attacker kind). */
  attacks: Record<string, number>;
  /** Guest accesses trapped (since the guest booted). */
  traps: { mmioReads: number; mmioWrites: number; gttWrites: number; ppgttWrites: number; total: number };
  ptesShadowed: { ggtt: number; ppgtt: number };
  /** Bad entries contained by the shadow tables: GGTT writes outside the slices (dropped), PPGTT entries naming frames the guest does not own (scratch). */
  contained: { ggttOutOfSlice: number; ppgttInvalidFrames: number };
  commandsAudited: number;
  /** Host CPU: mediation (scan, copy, dispatch) + traps × trapNs, ms; and as a share of the duration. */
  mediationMs: number;
  trapMs: number;
  hostCpuMs: number;
  hostCpuShare: number;
}

/** Figures of a whole run. */
export interface SimResult {
  scenario: string;
  mode: MediationMode;
  seed: number;
  durationMs: number;
  vgpus: VgpuResult[];
  totals: {
    requested: number;
    created: number;
    workloadsPerSec: number;
    fps: number;
    /** Σ share: the part of the run the GPU executed someone's work. */
    gpuBusyShare: number;
    switches: number;
    switchOverheadMs: number;
    jain: number;
    commandsAudited: number;
    refused: number;
    /** Workloads ended by the watchdog or a device error. */
    hangs: number;
    refusedByRule: Record<string, number>;
    mediationMs: number;
    trapMs: number;
    hostCpuMs: number;
    hostCpuShare: number;
    /** gScale: private GGTT loads at dispatch and the host GGTT entries they wrote (0 without gScale). */
    ggttLoads: number;
    ggttEntriesLoaded: number;
    /** The device's host memory and the most of it in use at once (guest pages the guests touched, shadows, scratch), MiB. */
    hostMemoryMiB: number;
    hostMemoryPeakMiB: number;
    /** Mean and minimum % of native of the created vGPUs (null without baselines). */
    meanPctNative: number | null;
    minPctNative: number | null;
  };
  /** Share of GPU time per vGPU per sample (created vGPUs, in `vgpus` order). */
  timeline: { sampleMs: number; names: string[]; share: number[][] };
}

/** What a run leaves besides its figures. */
export interface SimArtifacts {
  /** Chrome trace JSON (empty when not recorded). */
  trace: string;
  partitionSvg: string;
  /** Completed-workload latencies per created vGPU, ns, ascending. */
  latencies: { name: string; samples: Float64Array }[];
  /** Screens captured (`RunOptions.screens`), in time then guest order; empty without the option. */
  screens: ScreenShot[];
}

/** Seed of guest `i` of a scenario (its own, or derived from the scenario's). */
export function guestSeed(sc: Scenario, i: number): number {
  const s = sc.vgpus[i].seed;
  if (s !== undefined) return s;
  let h = Math.imul(sc.seed ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}

function round(x: number, digits = 4): number {
  if (!Number.isFinite(x)) return 0;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function typeWeight(spec: VgpuSpec): number {
  return spec.weight ?? findVgpuType(GEN9_VGPU_TYPES, spec.type)?.weight ?? 1;
}

/** Run `sc` once (no baselines): the figures and the artifacts. */
export function runScenario(sc: Scenario, opts: RunOptions = {}): { result: SimResult; artifacts: SimArtifacts } {
  const mode = opts.mode ?? sc.mediator.mode;
  const durationMs = opts.durationMs ?? sc.durationMs;
  const totalNs = Math.round(durationMs * MS);
  const cost: Partial<CostModel> = {
    ...SIM_DEVICE_COST, ...sc.device.cost,
    commands: { ...SIM_DEVICE_COST.commands, ...sc.device.cost.commands },
  };
  // gScale is an option of the mediated designs: a run under passthrough or sriov drops it.
  const gscale = sc.mediator.gscale && (mode === 'mediated' || mode === 'emulated');
  const mediatorOpts: MediatorOptions = { mode, failsafe: sc.mediator.failsafe, outOfSync: sc.mediator.outOfSync, gscale, ...opts.mediator };
  if (sc.mediator.maxVgpus !== undefined && mode !== 'passthrough' && opts.mediator?.maxVgpus === undefined) mediatorOpts.maxVgpus = sc.mediator.maxVgpus;
  const h = new Harness({
    device: { apertureSize: sc.device.apertureMiB * MiB, hostMemorySize: sc.device.hostMemoryMiB * MiB, cost, traceLimit: 0 },
    mediator: mediatorOpts,
  });

  // Guests: creation may fail (ids, graphics memory, fences): reported per guest.
  const guests: (TestGuest | null)[] = [];
  const errors: (string | null)[] = [];
  for (const spec of sc.vgpus) {
    try {
      // Each guest loads as i915 does: every engine's context gets its setup request (null render
      // state, MOCS, workarounds: `GuestEngine.setupContext`), run to completion before the
      // measured run and before the generators' and scheduler's hooks exist.
      guests.push(h.addGuest({
        name: spec.name, type: spec.type, ramBytes: spec.ramMiB * MiB, setupContexts: true,
        display: { monitors: [{ port: 'D', modes: [spec.monitor] }] },
      }));
      errors.push(null);
    } catch (e) {
      if (!(e instanceof GvtError)) throw e;
      guests.push(null);
      errors.push(e.message);
    }
  }
  h.runUntilIdle();
  const specOf = new Map<number, VgpuSpec>();
  guests.forEach((g, i) => g && specOf.set(g.vgpu.id, sc.vgpus[i]));
  const sched = new VgpuScheduler(h.mediator, {
    policy: { name: sc.scheduler.policy, options: sc.scheduler.options },
    watchdogNs: sc.scheduler.watchdogMs * MS,
    preempt: sc.scheduler.preempt,
    trace: opts.trace ?? true,
    params: (v) => {
      const s = specOf.get(v.id);
      if (!s) return {};
      return { weight: s.weight, priority: s.priority, capShare: s.capShare, capFps: s.capFps };
    },
  });

  // Generators, wired to the mediator's workload events.
  const gens: (WorkloadGenerator | null)[] = guests.map((g, i) => (g ? createGenerator(g, new Rng(guestSeed(sc, i)), sc.vgpus[i].workload) : null));
  const byId = new Map<number, WorkloadGenerator>();
  guests.forEach((g, i) => g && byId.set(g.vgpu.id, gens[i]!));
  const active = new ActiveTime(() => h.now);
  h.mediator.onWorkloadDispatch((w) => {
    active.start(w);
    byId.get(w.vgpuId)?.onDispatch(w);
  });
  h.mediator.onWorkloadPreempt((w) => active.end(w));
  h.mediator.onWorkloadDone((w) => {
    active.end(w);
    byId.get(w.vgpuId)?.onDone(w);
  });
  // A guest whose buffers do not fit its RAM or graphics memory is reported, not fatal.
  const setupErrors: (string | null)[] = gens.map((g) => {
    if (!g) return null;
    try {
      g.setup();
      return null;
    } catch (e) {
      if (!(e instanceof GvtError)) throw e;
      g.stop();
      return `workload setup failed: ${e.message}`;
    }
  });
  gens.forEach((g, i) => g && setupErrors[i] === null && g.start());

  // Run, sampling the share of each vGPU (and capturing screens between samples when asked).
  const sampleNs = Math.max(1, Math.round(sc.sampleMs * MS));
  const live = guests.map((g, i) => (g ? i : -1)).filter((i) => i >= 0);
  const lastBusy = new Float64Array(live.length);
  const busyNow = (k: number): number => active.total(guests[live[k]]!.vgpu.id);
  const share: number[][] = [];
  const screens: ScreenShot[] = [];
  const shotNs = opts.screens && opts.screens.everyMs > 0 ? Math.max(1, Math.round(opts.screens.everyMs * MS)) : Infinity;
  const capture = (final: boolean): void => {
    const atMs = round((h.now - start) / MS, 6);
    for (const i of live) screens.push(screenShot(guests[i]!, sc.vgpus[i].name, atMs, final));
  };
  const start = h.now;
  let nextShot = shotNs;
  while (h.now - start < totalNs) {
    const step = Math.min(sampleNs, totalNs - (h.now - start));
    const sampleEnd = h.now - start + step;
    while (nextShot < sampleEnd) {
      h.run(start + nextShot - h.now);
      capture(false);
      nextShot += shotNs;
    }
    h.run(start + sampleEnd - h.now);
    if (nextShot === sampleEnd && sampleEnd < totalNs) {
      capture(false);
      nextShot += shotNs;
    }
    const row: number[] = [];
    const counters: Record<string, number> = {};
    for (let k = 0; k < live.length; k++) {
      const b = busyNow(k);
      const s = Math.max(0, (b - lastBusy[k]) / step);
      lastBusy[k] = b;
      row.push(round(s));
      counters[sc.vgpus[live[k]].name] = round(s);
    }
    share.push(row);
    sched.trace?.counter('GPU share', h.now, counters);
    opts.onProgress?.(h.now - start, totalNs);
  }
  for (const g of gens) g?.stop();
  sched.flushTrace();
  if (opts.screens) capture(true);

  // Figures.
  const rep = sched.report();
  const dSec = durationMs / 1000;
  const trapNs = h.mediator.cost.trapNs;
  const vgpus: VgpuResult[] = sc.vgpus.map((spec, i) => {
    const g = guests[i];
    const gen = gens[i];
    const base: VgpuResult = {
      name: spec.name, type: spec.type, kind: spec.workload.kind, created: g !== null, error: errors[i] ?? setupErrors[i],
      state: !g ? 'not created' : setupErrors[i] ? 'setup failed' : g.vgpu.state, weight: typeWeight(spec),
      workloads: 0, workloadsPerSec: 0, frames: 0, fps: 0, rate: 0, rateUnit: gen?.frameBased ?? isFrameKind(spec.workload.kind) ? 'fps' : 'workloads/s',
      nativeRate: null, pctNative: null, share: 0, engineBusy: 0, fairShare: null, shareOfFair: null, late: 0,
      latencyMs: { p50: 0, p95: 0, p99: 0, max: 0, mean: 0 }, failed: 0, refused: 0, refusedByRule: {}, attacks: {},
      traps: { mmioReads: 0, mmioWrites: 0, gttWrites: 0, ppgttWrites: 0, total: 0 }, ptesShadowed: { ggtt: 0, ppgtt: 0 },
      contained: { ggttOutOfSlice: 0, ppgttInvalidFrames: 0 }, commandsAudited: 0, mediationMs: 0, trapMs: 0, hostCpuMs: 0, hostCpuShare: 0,
    };
    if (!g || !gen) return base;
    const st = gen.stats;
    const vr = rep.vgpus.find((x) => x.id === g.vgpu.id);
    const c = g.vgpu.counters;
    const gg = g.vgpu.ggtt.counters;
    const pp = g.vgpu.ppgtt.counters;
    const lat = st.latency.sorted();
    const traps = { mmioReads: c.mmioReads, mmioWrites: c.mmioWrites - gg.writes, gttWrites: gg.writes, ppgttWrites: pp.traps, total: 0 };
    traps.total = traps.mmioReads + traps.mmioWrites + traps.gttWrites + traps.ppgttWrites;
    const mediationMs = st.mediationNs / MS;
    const trapMs = (traps.total * trapNs) / MS;
    base.workloads = st.workloads;
    base.workloadsPerSec = round(st.workloads / dSec, 3);
    base.frames = st.frames;
    base.fps = round(st.frames / dSec, 3);
    base.rate = gen.frameBased ? base.fps : base.workloadsPerSec;
    base.share = round(active.total(g.vgpu.id) / totalNs);
    base.engineBusy = round(vr ? vr.share : 0);
    base.late = st.late;
    base.latencyMs = latencySummary(lat);
    base.failed = st.failed;
    base.refused = Object.entries(st.refusedByRule).reduce((n, [k, c]) => n + (NOT_REFUSALS.has(k) ? 0 : c), 0);
    base.refusedByRule = sortKeys(st.refusedByRule);
    base.attacks = sortKeys(st.attacks);
    base.traps = traps;
    base.ptesShadowed = { ggtt: gg.shadowed, ppgtt: pp.shadowed };
    base.contained = { ggttOutOfSlice: gg.outOfSlice, ppgttInvalidFrames: pp.invalidFrames };
    base.commandsAudited = st.commands;
    base.mediationMs = round(mediationMs);
    base.trapMs = round(trapMs);
    base.hostCpuMs = round(mediationMs + trapMs);
    base.hostCpuShare = round((mediationMs + trapMs) / durationMs);
    return base;
  });
  const created = vgpus.filter((v) => v.created);
  const refusedByRule: Record<string, number> = {};
  for (const v of created) for (const [k, n] of Object.entries(v.refusedByRule)) refusedByRule[k] = (refusedByRule[k] ?? 0) + n;
  const sum = (f: (v: VgpuResult) => number): number => created.reduce((s, v) => s + f(v), 0);
  const result: SimResult = {
    scenario: sc.name,
    mode,
    seed: sc.seed,
    durationMs,
    vgpus,
    totals: {
      requested: vgpus.length,
      created: created.length,
      workloadsPerSec: round(sum((v) => v.workloadsPerSec), 3),
      fps: round(sum((v) => v.fps), 3),
      gpuBusyShare: round(sum((v) => v.share)),
      switches: rep.switches,
      switchOverheadMs: round(rep.switchOverheadNs / MS),
      jain: round(rep.jain),
      commandsAudited: sum((v) => v.commandsAudited),
      refused: sum((v) => v.refused),
      hangs: (refusedByRule.watchdog ?? 0) + (refusedByRule['gpu-hang'] ?? 0),
      refusedByRule: sortKeys(refusedByRule),
      mediationMs: round(sum((v) => v.mediationMs)),
      trapMs: round(sum((v) => v.trapMs)),
      hostCpuMs: round(sum((v) => v.hostCpuMs)),
      hostCpuShare: round(sum((v) => v.hostCpuMs) / durationMs),
      ggttLoads: h.mediator.stats.ggttLoads,
      ggttEntriesLoaded: h.mediator.stats.ggttEntriesLoaded,
      hostMemoryMiB: sc.device.hostMemoryMiB,
      hostMemoryPeakMiB: round((h.device.hostMemory.peakAllocatedFrames * 4096) / MiB, 2),
      meanPctNative: null,
      minPctNative: null,
    },
    timeline: { sampleMs: sc.sampleMs, names: live.map((i) => sc.vgpus[i].name), share },
  };
  const failures = [
    ...guests.flatMap((g, i) => (g ? [`vGPU ${g.vgpu.id}: ${sc.vgpus[i].name} (${sc.vgpus[i].workload.kind})`] : [])),
    ...vgpus.filter((v) => !v.created).map((v) => `${v.name} (${v.type}) not created: ${v.error}`),
  ];
  const artifacts: SimArtifacts = {
    trace: sched.trace ? sched.trace.toString() : '',
    partitionSvg: renderPartitionSvg(h.mediator.partition, {
      title: `${sc.name} (${mode}): aperture ${formatBytes(h.device.apertureSize)}, ${created.length}/${vgpus.length} vGPUs`,
      notes: failures,
    }),
    latencies: live.map((i) => ({ name: sc.vgpus[i].name, samples: gens[i]!.stats.latency.sorted() })),
    screens,
  };
  return { result, artifacts };
}

/**
 * Guest `g`'s screen now: plane 1 of pipe A decoded and read out through its vGPU (what GVT-g
 * exports to QEMU as a dma-buf: `queryPlane` / `readFramebuffer`), encoded as PNG.
 */
function screenShot(g: TestGuest, name: string, atMs: number, final: boolean): ScreenShot {
  if (g.vgpu.state === 'destroyed') return { name, atMs, final, png: null, width: 0, height: 0, error: 'vGPU destroyed' };
  const r = g.vgpu.readFramebuffer('primary', 'A');
  if (!r.ok) return { name, atMs, final, png: null, width: 0, height: 0, error: `${r.reason}: ${r.detail}` };
  return { name, atMs, final, png: encodePng({ width: r.info.width, height: r.info.height, rgba: r.rgba }), width: r.info.width, height: r.info.height, error: null };
}

/**
 * Time each vGPU had at least one workload executing on the device (from dispatch to completion
 * or preemption, any engine), ns.
 */
class ActiveTime {
  private readonly slots = new Map<number, { n: number; since: number; acc: number }>();
  private readonly running = new Set<Workload>();
  constructor(private readonly now: () => number) {}
  /** `w` started executing (dispatched or resumed). */
  start(w: Workload): void {
    if (this.running.has(w)) return;
    this.running.add(w);
    let s = this.slots.get(w.vgpuId);
    if (!s) {
      s = { n: 0, since: 0, acc: 0 };
      this.slots.set(w.vgpuId, s);
    }
    if (s.n++ === 0) s.since = this.now();
  }
  /** `w` stopped executing (completed, failed on the device, or preempted); no-op when it was not running. */
  end(w: Workload): void {
    if (!this.running.delete(w)) return;
    const s = this.slots.get(w.vgpuId)!;
    if (--s.n === 0) s.acc += this.now() - s.since;
  }
  total(id: number): number {
    const s = this.slots.get(id);
    if (!s) return 0;
    return s.acc + (s.n > 0 ? this.now() - s.since : 0);
  }
}

function isFrameKind(kind: string): boolean {
  return kind === 'game' || kind === 'media' || kind === 'idle' || kind === 'bursty';
}

function latencySummary(sorted: Float64Array): LatencyMs {
  if (sorted.length === 0) return { p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i];
  return {
    p50: round(percentileSorted(sorted, 50) / MS), p95: round(percentileSorted(sorted, 95) / MS), p99: round(percentileSorted(sorted, 99) / MS),
    max: round(sorted[sorted.length - 1] / MS), mean: round(sum / sorted.length / MS),
  };
}

function sortKeys(o: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return out;
}

/** A guest's baseline: alone in passthrough mode. */
export interface NativeFigure {
  rate: number;
  /** Device busy share alone (its demand). */
  share: number;
  /** Null when the guest could not be created even alone. */
  error: string | null;
}

/** Baselines computed in one invocation, keyed by everything that determines them. */
export class NativeCache {
  private readonly map = new Map<string, NativeFigure>();
  /** Baseline runs made (cache misses). */
  runs = 0;

  /** The baseline of guest `i` of `sc` over `durationMs` (run on a miss). */
  get(sc: Scenario, i: number, durationMs: number, onProgress?: (name: string, doneNs: number, totalNs: number) => void): NativeFigure {
    const spec = sc.vgpus[i];
    const { name: _name, weight: _w, priority: _p, capShare: _c, capFps: _f, ...guest } = spec;
    const key = JSON.stringify({ device: sc.device, failsafe: sc.mediator.failsafe, watchdogMs: sc.scheduler.watchdogMs, durationMs, sampleMs: sc.sampleMs, guest, seed: guestSeed(sc, i) });
    let f = this.map.get(key);
    if (!f) {
      this.runs++;
      const alone: Scenario = {
        ...sc,
        name: `${sc.name}/${spec.name} native`,
        scheduler: { policy: 'time-slice', options: {}, watchdogMs: sc.scheduler.watchdogMs, preempt: sc.scheduler.preempt },
        vgpus: [{ ...spec, seed: guestSeed(sc, i), weight: undefined, priority: undefined, capShare: undefined, capFps: undefined }],
      };
      const { result } = runScenario(alone, {
        mode: 'passthrough', durationMs, trace: false, onProgress: onProgress && ((d, t) => onProgress(spec.name, d, t)),
      });
      const v = result.vgpus[0];
      f = { rate: v.rate, share: v.share, error: v.created ? null : v.error };
      this.map.set(key, f);
    }
    return f;
  }
}

/**
 * Weighted max-min fair shares of a capacity of 1 given demands: vGPUs demanding less than their
 * weighted part get their demand, the rest is shared by weight among the others.
 */
export function fairShares(demands: readonly number[], weights: readonly number[]): number[] {
  const n = demands.length;
  const out = new Array<number>(n).fill(0);
  const open = new Set<number>();
  for (let i = 0; i < n; i++) open.add(i);
  let capacity = 1;
  for (;;) {
    let w = 0;
    for (const i of open) w += weights[i];
    if (open.size === 0 || w <= 0) break;
    const satisfied: number[] = [];
    for (const i of open) if (demands[i] <= (capacity * weights[i]) / w) satisfied.push(i);
    if (satisfied.length === 0) {
      for (const i of open) out[i] = (capacity * weights[i]) / w;
      break;
    }
    for (const i of satisfied) {
      out[i] = demands[i];
      capacity -= demands[i];
      open.delete(i);
    }
  }
  return out;
}

/** Options of `simulate`. */
export interface SimulateOptions extends RunOptions {
  /** Baselines shared across runs of one invocation. */
  cache?: NativeCache;
  /** Skip the baselines (no % of native, no fair share). */
  noNative?: boolean;
  /** Progress of each baseline run (guest name, simulated ns done and total). */
  onNativeProgress?: (name: string, doneNs: number, totalNs: number) => void;
}

/** Run `sc`, then the native baselines of its created guests: figures with % of native and fair shares. */
export function simulate(sc: Scenario, opts: SimulateOptions = {}): { result: SimResult; artifacts: SimArtifacts } {
  const durationMs = opts.durationMs ?? sc.durationMs;
  const run = runScenario(sc, opts);
  if (opts.noNative) return run;
  // Baselines of the guests that were created (the others have nothing to compare).
  const cache = opts.cache ?? new NativeCache();
  const natives = sc.vgpus.map((_v, i) => (run.result.vgpus[i].created ? cache.get(sc, i, durationMs, opts.onNativeProgress) : null));
  attachNative(sc, run.result, natives);
  return run;
}

/**
 * Fill in % of native and fair shares from baselines (in `vgpus` order). A vGPU's demand is its
 * share alone, lowered by its caps (`capShare`, and `capFps` as a fraction of its native frame rate).
 */
export function attachNative(sc: Scenario, r: SimResult, natives: readonly (NativeFigure | null)[]): void {
  const idx = r.vgpus.map((v, i) => (v.created ? i : -1)).filter((i) => i >= 0);
  const demand = (i: number): number => {
    const n = natives[i];
    if (!n) return 0;
    const spec = sc.vgpus[i];
    let d = n.share;
    if (spec.capFps !== undefined && r.vgpus[i].rateUnit === 'fps' && n.rate > spec.capFps) d *= spec.capFps / n.rate;
    if (spec.capShare !== undefined) d = Math.min(d, spec.capShare);
    return d;
  };
  const fair = fairShares(idx.map(demand), idx.map((i) => r.vgpus[i].weight));
  idx.forEach((i, k) => {
    const v = r.vgpus[i];
    const n = natives[i];
    if (!n) return;
    v.nativeRate = n.rate;
    v.pctNative = n.rate > 0 ? round(v.rate / n.rate) : null;
    v.fairShare = round(fair[k]);
    v.shareOfFair = fair[k] > 0 ? round(v.share / fair[k]) : null;
  });
  const pcts = idx.map((i) => r.vgpus[i].pctNative).filter((x): x is number => x !== null);
  r.totals.meanPctNative = pcts.length ? round(pcts.reduce((s, x) => s + x, 0) / pcts.length) : null;
  r.totals.minPctNative = pcts.length ? Math.min(...pcts) : null;
}
