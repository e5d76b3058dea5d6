/**
 * Ballooning: the guest side (what i915's `intel_vgt_balloon` computes from the PVINFO ranges,
 * Linux `drivers/gpu/drm/i915/i915_vgpu.c`) and experiments over partitions (which vGPU mixes fit,
 * what each guest can use, what runs out first).
 */
import { NoResourceError } from '../errors.js';
import { GmPartition, type GmPartitionOptions, type GmResource, type GmSlices } from './partition.js';
import type { VgpuType } from './vgpu-types.js';

// ------------------------------------------------------------------ the guest's computation

/** The four range fields a guest reads from PVINFO (`avail_rs`). */
export interface PvinfoRanges {
  mappableBase: number;
  mappableSize: number;
  nonmappableBase: number;
  nonmappableSize: number;
}

/** The guest's own GGTT geometry. */
export interface GuestGgttGeometry {
  /** End of the mappable range = aperture size. */
  mappableEnd: number;
  /** Total graphics memory. */
  total: number;
}

/** A range the guest reserves so its allocator never uses it. */
export interface BalloonHole {
  /** Which of i915's four balloon nodes (`bl_info.space[i]`). */
  slot: 0 | 1 | 2 | 3;
  start: number;
  end: number;
}

/** Rules `intel_vgt_balloon` checks, in its order. */
export type BalloonRule = 'mappable-end' | 'nonmappable-base' | 'nonmappable-end';

/** Outcome of `computeBalloon`. */
export type BalloonResult =
  | { ok: true; holes: BalloonHole[]; usableLow: number; usableHigh: number }
  | { ok: false; rule: BalloonRule; message: string };

/**
 * The guest driver's balloon computation, as a pure function: refuse the configuration unless
 * mappable end <= aperture end <= non-mappable base and non-mappable end <= total; then reserve
 * the non-empty holes [0, mappable base) (slot 0), [mappable end, aperture end) (slot 1),
 * [aperture end, non-mappable base) (slot 2), [non-mappable end, total) (slot 3). Holes are
 * returned in address order; what is left is the guest's usable low and high memory.
 */
export function computeBalloon(pv: PvinfoRanges, geo: GuestGgttGeometry): BalloonResult {
  const mappableEnd = pv.mappableBase + pv.mappableSize;
  const nonmappableEnd = pv.nonmappableBase + pv.nonmappableSize;
  const hex = (n: number): string => '0x' + n.toString(16);
  if (mappableEnd > geo.mappableEnd) {
    return { ok: false, rule: 'mappable-end', message: `mappable end ${hex(mappableEnd)} beyond the aperture end ${hex(geo.mappableEnd)}` };
  }
  if (pv.nonmappableBase < geo.mappableEnd) {
    return { ok: false, rule: 'nonmappable-base', message: `non-mappable base ${hex(pv.nonmappableBase)} below the aperture end ${hex(geo.mappableEnd)}` };
  }
  if (nonmappableEnd > geo.total) {
    return { ok: false, rule: 'nonmappable-end', message: `non-mappable end ${hex(nonmappableEnd)} beyond total graphics memory ${hex(geo.total)}` };
  }
  const holes: BalloonHole[] = [];
  if (pv.mappableBase > 0) holes.push({ slot: 0, start: 0, end: pv.mappableBase });
  if (mappableEnd < geo.mappableEnd) holes.push({ slot: 1, start: mappableEnd, end: geo.mappableEnd });
  if (pv.nonmappableBase > geo.mappableEnd) holes.push({ slot: 2, start: geo.mappableEnd, end: pv.nonmappableBase });
  if (nonmappableEnd < geo.total) holes.push({ slot: 3, start: nonmappableEnd, end: geo.total });
  return { ok: true, holes, usableLow: pv.mappableSize, usableHigh: pv.nonmappableSize };
}

/** The PVINFO ranges GVT-g publishes for `slices`. */
export function pvinfoRangesOf(slices: GmSlices): PvinfoRanges {
  return { mappableBase: slices.lowBase, mappableSize: slices.lowSize, nonmappableBase: slices.highBase, nonmappableSize: slices.highSize };
}

// ------------------------------------------------------------------ experiments

/** `count` vGPUs of `type`. */
export interface PlanRequest {
  type: string;
  count: number;
}

/** A vGPU a plan placed. */
export interface PlannedVgpu {
  id: number;
  type: string;
  slices: GmSlices;
  /** Graphics memory the guest can use after ballooning (computed by `computeBalloon`). */
  usableLow: number;
  usableHigh: number;
}

/** A vGPU a plan could not place. */
export interface PlanFailure {
  type: string;
  /** 1-based instance number within its request. */
  instance: number;
  resource: GmResource;
  /** Bytes (graphics memory) or count (fences, ids). */
  shortBy: number;
  message: string;
}

/** Result of `planPartitions`. */
export interface PartitionPlan {
  apertureSize: number;
  totalSize: number;
  fences: number;
  maxVgpus: number;
  vgpus: PlannedVgpu[];
  failures: PlanFailure[];
  /** The first failure in request order (what runs out first). */
  firstFailure?: PlanFailure;
  free: ReturnType<GmPartition['free']>;
  /** How many more of each type would still fit. */
  stillFits: { type: string; count: number }[];
  /** The partition after placement (for rendering). */
  partition: GmPartition;
}

/**
 * Place the requests in order on a fresh partition (lowest free id each time). A vGPU that does
 * not fit is recorded and the plan goes on (a smaller type may still fit). Unknown type names
 * throw `ConfigError`.
 */
export function planPartitions(requests: readonly PlanRequest[], opts: GmPartitionOptions = {}): PartitionPlan {
  const p = new GmPartition(opts);
  const vgpus: PlannedVgpu[] = [];
  const failures: PlanFailure[] = [];
  for (const req of requests) {
    p.type(req.type);
    for (let k = 1; k <= req.count; k++) {
      try {
        const { id, slices } = p.allocateNext(req.type);
        const b = computeBalloon(pvinfoRangesOf(slices), { mappableEnd: p.apertureSize, total: p.totalSize });
        vgpus.push({ id, type: req.type, slices, usableLow: b.ok ? b.usableLow : 0, usableHigh: b.ok ? b.usableHigh : 0 });
      } catch (e) {
        if (!(e instanceof NoResourceError)) throw e;
        failures.push({ type: req.type, instance: k, resource: e.resource as GmResource, shortBy: e.shortBy, message: e.message });
      }
    }
  }
  return {
    apertureSize: p.apertureSize, totalSize: p.totalSize, fences: p.fenceCount, maxVgpus: p.maxVgpus,
    vgpus, failures, firstFailure: failures[0], free: p.free(), stillFits: p.availability(), partition: p,
  };
}

/** One cell of a sweep: `count` vGPUs of `type` on an otherwise empty device. */
export interface SweepCell {
  type: string;
  count: number;
  /** All `count` placed. */
  fits: boolean;
  placed: number;
  /** Per guest (0 when none placed). */
  usableLow: number;
  usableHigh: number;
  /** What ran out first, when not all fit. */
  failure?: { resource: GmResource; shortBy: number; message: string };
}

/** Result of `sweep`. */
export interface SweepResult {
  types: string[];
  counts: number[];
  apertureSize: number;
  totalSize: number;
  /** Row-major: cells[t * counts.length + c]. */
  cells: SweepCell[];
  /** Instances of each type an empty device holds. */
  maxInstances: { type: string; count: number }[];
}

/** Every type × every count, each on a fresh partition. */
export function sweep(types: readonly string[], counts: readonly number[], opts: GmPartitionOptions = {}): SweepResult {
  const cells: SweepCell[] = [];
  const empty = new GmPartition(opts);
  for (const type of types) {
    for (const count of counts) {
      const plan = planPartitions([{ type, count }], opts);
      const first = plan.vgpus[0];
      const f = plan.firstFailure;
      cells.push({
        type, count, fits: plan.failures.length === 0, placed: plan.vgpus.length,
        usableLow: first ? first.usableLow : 0, usableHigh: first ? first.usableHigh : 0,
        failure: f ? { resource: f.resource, shortBy: f.shortBy, message: f.message } : undefined,
      });
    }
  }
  return {
    types: [...types], counts: [...counts], apertureSize: empty.apertureSize, totalSize: empty.totalSize, cells,
    maxInstances: types.map((t) => ({ type: t, count: empty.available(t) })),
  };
}

/** Type names of a table, for sweeps over all types. */
export function typeNames(types: readonly VgpuType[]): string[] {
  return types.map((t) => t.name);
}
