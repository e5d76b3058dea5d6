/**
 * `GmPartition`: graphics-memory partitioning for ballooning.
 *
 * The GGTT address space [0, total) has two parts: the low (mappable) range [0, aperture), which
 * the CPU reaches through the BAR2 aperture, and the high (non-mappable, hidden) range
 * [aperture, total). The host keeps the bottom of each (its reservation); every vGPU gets one
 * contiguous slice of low and one of high graphics memory plus some fence registers (Linux
 * `drivers/gpu/drm/i915/gvt/aperture_gm.c`: `alloc_resource`, `alloc_gm`, `alloc_vgpu_fence`).
 * Because the slices do not overlap, a guest that balloons out everything else can use host
 * graphics addresses unchanged.
 *
 * Placement is first-fit from the lowest address over sorted free ranges (freed slices merge with
 * their neighbours), so creation order and releases can fragment the space, as with GVT-g's
 * `drm_mm`. The checks are GVT-g's: low, then high, then fences; an id limit on top.
 */
import createDebug from 'debug';
import { ConfigError, NoResourceError, RangeArgError, StateError } from '../errors.js';
import { PAGE_SIZE } from '../types.js';
import {
  GEN9_HOST_RESERVATION, GEN9_VGPU_TYPES, GVT_MAX_VGPU, IDLE_VGPU_ID, MiB, checkVgpuTypes, findVgpuType,
  type HostReservation, type VgpuType,
} from './vgpu-types.js';

const log = createDebug('gvtkit:gtt');

/** What a vGPU owns: one low slice, one high slice, host fence numbers. */
export interface GmSlices {
  /** First graphics address of the low (aperture) slice. */
  readonly lowBase: number;
  readonly lowSize: number;
  /** First graphics address of the high (hidden) slice. */
  readonly highBase: number;
  readonly highSize: number;
  /** Host fence register numbers, ascending. */
  readonly fences: readonly number[];
}

/** A half-open range [start, end) of graphics addresses. */
export interface GmRange {
  start: number;
  end: number;
}

/** Options of `GmPartition`. */
export interface GmPartitionOptions {
  /** Aperture (low, mappable) size in bytes; default 256 MiB. */
  apertureSize?: number;
  /** Total graphics memory in bytes; default 4 GiB. */
  totalSize?: number;
  /** Fence registers on the device; default 32. */
  fences?: number;
  /** Host reservation; default GVT-g's (128 MiB, 384 MiB, 4 fences). */
  host?: HostReservation;
  /** vGPU id limit including the idle vGPU 0; default 8 (7 guests). */
  maxVgpus?: number;
  /** Type table; default `GEN9_VGPU_TYPES`. */
  types?: readonly VgpuType[];
  /**
   * Share slices when graphics memory or fences run out (gScale's slot sharing, default false):
   * a vGPU that does not fit joins the group of live vGPUs whose slices have its sizes and fence
   * count and the fewest members. Members of a group hold identical slices and fences; only one
   * of them may be resident in the host GGTT at a time (the mediator switches them, see
   * `MediatorOptions.gscale`). Only the id limit then bounds the number of vGPUs.
   */
  share?: boolean;
}

/** Resources `NoResourceError.resource` names. */
export type GmResource = 'low-gm' | 'high-gm' | 'fence' | 'vgpu-id';

/** `ownerOf` for a free address. */
export const OWNER_FREE = -1;
/** `ownerOf` for an address the host reservation holds. */
export const OWNER_HOST = -2;

/** Format a byte count as MiB (or KiB when not a whole MiB). */
export function formatBytes(n: number): string {
  return n % MiB === 0 ? `${n / MiB} MiB` : `${n / 1024} KiB`;
}

export class GmPartition {
  readonly apertureSize: number;
  readonly totalSize: number;
  readonly fenceCount: number;
  readonly maxVgpus: number;
  readonly host: HostReservation;
  readonly types: readonly VgpuType[];
  /** Slices may be shared (`GmPartitionOptions.share`). */
  readonly share: boolean;
  /** Allocations and releases since creation. */
  allocations = 0;
  releases = 0;

  private readonly low: GmRange[];
  private readonly high: GmRange[];
  /** 1 = fence in use (host or a vGPU). */
  private readonly fenceUsed: Uint8Array;
  private freeFences: number;
  /** No fence below this index is free (scan start). */
  private fenceHint: number;
  /** Per id: lowBase, lowEnd, highBase, highEnd (all 0 when free): O(1) `ownsGma`. */
  private readonly bounds: Float64Array;
  private readonly slicesById: (GmSlices | undefined)[];
  private readonly typeById: (VgpuType | undefined)[];
  private usedIds = 0;
  /** Per id: its sharing group (-1 when free). A group is the first member's allocation. */
  private readonly groupById: Int32Array;
  /** Members per group, indexed by group number (a group number is reused once it empties). */
  private readonly groupMembers: number[] = [];
  private readonly groupSlices: (GmSlices | undefined)[] = [];

  constructor(opts: GmPartitionOptions = {}) {
    const aperture = opts.apertureSize ?? 256 * MiB;
    const total = opts.totalSize ?? 4096 * MiB;
    const fences = opts.fences ?? 32;
    const host = opts.host ?? GEN9_HOST_RESERVATION;
    const maxVgpus = opts.maxVgpus ?? GVT_MAX_VGPU;
    const pageMultiple = (v: number): boolean => Number.isSafeInteger(v) && v >= 0 && v % PAGE_SIZE === 0;
    if (!pageMultiple(aperture) || aperture === 0) throw new ConfigError('apertureSize', `${aperture} must be a positive multiple of 4096`);
    if (!pageMultiple(total) || total < aperture) throw new ConfigError('totalSize', `${total} must be a multiple of 4096 and at least the aperture (${aperture})`);
    if (!pageMultiple(host.lowGmSize) || host.lowGmSize > aperture) throw new ConfigError('host.lowGmSize', `${host.lowGmSize} must be a multiple of 4096 within the aperture`);
    if (!pageMultiple(host.highGmSize) || aperture + host.highGmSize > total) throw new ConfigError('host.highGmSize', `${host.highGmSize} must be a multiple of 4096 within the hidden range`);
    if (!(Number.isInteger(fences) && fences >= 0)) throw new ConfigError('fences', `${fences} must be an integer >= 0`);
    if (!(Number.isInteger(host.fences) && host.fences >= 0 && host.fences <= fences)) throw new ConfigError('host.fences', `${host.fences} must be within 0..${fences}`);
    if (!(Number.isInteger(maxVgpus) && maxVgpus >= 1 && maxVgpus <= 4096)) throw new ConfigError('maxVgpus', `${maxVgpus} must be an integer in 1..4096`);
    this.apertureSize = aperture;
    this.totalSize = total;
    this.fenceCount = fences;
    this.host = host;
    this.maxVgpus = maxVgpus;
    this.types = opts.types ? checkVgpuTypes(opts.types) : GEN9_VGPU_TYPES;
    this.low = host.lowGmSize < aperture ? [{ start: host.lowGmSize, end: aperture }] : [];
    this.high = aperture + host.highGmSize < total ? [{ start: aperture + host.highGmSize, end: total }] : [];
    this.fenceUsed = new Uint8Array(fences);
    this.fenceUsed.fill(1, 0, host.fences);
    this.freeFences = fences - host.fences;
    this.fenceHint = host.fences;
    this.bounds = new Float64Array(maxVgpus * 4);
    this.slicesById = new Array(maxVgpus).fill(undefined);
    this.typeById = new Array(maxVgpus).fill(undefined);
    this.groupById = new Int32Array(maxVgpus).fill(-1);
    this.share = opts.share ?? false;
  }

  /** The type named `name`; throws `ConfigError` listing the known names. */
  type(name: string): VgpuType {
    const t = findVgpuType(this.types, name);
    if (!t) throw new ConfigError('type', `unknown vGPU type ${name} (known: ${this.types.map((x) => x.name).join(', ')})`);
    return t;
  }

  /**
   * Give vGPU `vgpuId` (1..maxVgpus-1) the resources of type `typeName`. Throws `RangeArgError`
   * for an id outside that range, `StateError` for an id in use, `ConfigError` for an unknown
   * type, and `NoResourceError` (resource 'low-gm' | 'high-gm' | 'fence', `shortBy` in bytes or
   * fences) when it does not fit; the message names the short resource, by how much, and the
   * types that still fit.
   */
  allocate(vgpuId: number, typeName: string): GmSlices {
    if (!(Number.isInteger(vgpuId) && vgpuId > IDLE_VGPU_ID && vgpuId < this.maxVgpus)) {
      throw new RangeArgError(`vGPU id ${vgpuId} outside 1..${this.maxVgpus - 1}`);
    }
    if (this.slicesById[vgpuId]) throw new StateError(`vGPU id ${vgpuId} already has graphics memory`);
    const t = this.type(typeName);
    const lowIdx = firstFit(this.low, t.lowGmSize);
    const highIdx = lowIdx < 0 ? -1 : firstFit(this.high, t.highGmSize);
    const short: GmResource | null = lowIdx < 0 ? 'low-gm' : highIdx < 0 ? 'high-gm' : this.freeFences < t.fences ? 'fence' : null;
    if (short !== null) {
      const g = this.share ? this.groupToJoin(t) : -1;
      if (g < 0) throw this.shortage(t, short);
      return this.join(vgpuId, t, g);
    }
    const lowBase = carve(this.low, lowIdx, t.lowGmSize);
    const highBase = carve(this.high, highIdx, t.highGmSize);
    const fences: number[] = [];
    let f = this.fenceHint;
    for (; f < this.fenceCount && fences.length < t.fences; f++) {
      if (this.fenceUsed[f] === 0) {
        this.fenceUsed[f] = 1;
        fences.push(f);
      }
    }
    while (f < this.fenceCount && this.fenceUsed[f] === 1) f++;
    this.fenceHint = f;
    this.freeFences -= t.fences;
    const slices: GmSlices = Object.freeze({ lowBase, lowSize: t.lowGmSize, highBase, highSize: t.highGmSize, fences: Object.freeze(fences) });
    let g = this.groupMembers.indexOf(0);
    if (g < 0) g = this.groupMembers.push(0) - 1;
    this.groupSlices[g] = slices;
    return this.join(vgpuId, t, g);
  }

  /** Make `vgpuId` a member of group `g` (its slices). */
  private join(vgpuId: number, t: VgpuType, g: number): GmSlices {
    const slices = this.groupSlices[g] as GmSlices;
    const shared = this.groupMembers[g] > 0;
    this.groupMembers[g]++;
    this.groupById[vgpuId] = g;
    this.slicesById[vgpuId] = slices;
    this.typeById[vgpuId] = t;
    const b = vgpuId * 4;
    this.bounds[b] = slices.lowBase;
    this.bounds[b + 1] = slices.lowBase + slices.lowSize;
    this.bounds[b + 2] = slices.highBase;
    this.bounds[b + 3] = slices.highBase + slices.highSize;
    this.usedIds++;
    this.allocations++;
    if (log.enabled) {
      log('vgpu%d %s: low 0x%s+%s high 0x%s+%s fences %o%s', vgpuId, t.name, slices.lowBase.toString(16), formatBytes(slices.lowSize),
        slices.highBase.toString(16), formatBytes(slices.highSize), slices.fences, shared ? ` (shared, group ${g}: ${this.groupMembers[g]} members)` : '');
    }
    return slices;
  }

  /** The live group a vGPU of type `t` can join (same sizes and fence count, fewest members), or -1. */
  private groupToJoin(t: VgpuType): number {
    let best = -1;
    for (let g = 0; g < this.groupMembers.length; g++) {
      const n = this.groupMembers[g];
      const s = this.groupSlices[g];
      if (n === 0 || !s || s.lowSize !== t.lowGmSize || s.highSize !== t.highGmSize || s.fences.length !== t.fences) continue;
      if (best < 0 || n < this.groupMembers[best]) best = g;
    }
    return best;
  }

  /** Sharing group of `vgpuId` (vGPUs of one group hold the same slices), or -1 when it holds nothing. */
  groupOf(vgpuId: number): number {
    return vgpuId >= 0 && vgpuId < this.maxVgpus ? this.groupById[vgpuId] : -1;
  }

  /** Live ids of `vgpuId`'s group, itself included, ascending ([] when it holds nothing). */
  sharers(vgpuId: number): number[] {
    const g = this.groupOf(vgpuId);
    if (g < 0) return [];
    const out: number[] = [];
    for (let i = 1; i < this.maxVgpus; i++) if (this.groupById[i] === g) out.push(i);
    return out;
  }

  /** Number of live groups (distinct slice sets). */
  get groupCount(): number {
    let n = 0;
    for (const m of this.groupMembers) if (m > 0) n++;
    return n;
  }

  /**
   * Allocate for the lowest free id. Throws like `allocate`, and `NoResourceError` with resource
   * 'vgpu-id' when every id is taken.
   */
  allocateNext(typeName: string): { id: number; slices: GmSlices } {
    const id = this.nextFreeId();
    if (id < 0) {
      const t = this.type(typeName);
      throw this.shortage(t, 'vgpu-id');
    }
    return { id, slices: this.allocate(id, typeName) };
  }

  /** Return everything vGPU `vgpuId` holds. False when it held nothing. */
  release(vgpuId: number): boolean {
    const s = Number.isInteger(vgpuId) && vgpuId >= 0 && vgpuId < this.maxVgpus ? this.slicesById[vgpuId] : undefined;
    if (!s) return false;
    const g = this.groupById[vgpuId];
    this.groupById[vgpuId] = -1;
    // Shared slices go back when the group's last member leaves.
    if (--this.groupMembers[g] === 0) {
      this.groupSlices[g] = undefined;
      giveBack(this.low, s.lowBase, s.lowBase + s.lowSize);
      giveBack(this.high, s.highBase, s.highBase + s.highSize);
      for (const f of s.fences) {
        this.fenceUsed[f] = 0;
        if (f < this.fenceHint) this.fenceHint = f;
      }
      this.freeFences += s.fences.length;
    }
    this.slicesById[vgpuId] = undefined;
    this.typeById[vgpuId] = undefined;
    this.bounds.fill(0, vgpuId * 4, vgpuId * 4 + 4);
    this.usedIds--;
    this.releases++;
    log('vgpu%d: released', vgpuId);
    return true;
  }

  /** Slices of `vgpuId`, or undefined. */
  slices(vgpuId: number): GmSlices | undefined {
    return vgpuId >= 0 && vgpuId < this.maxVgpus ? this.slicesById[vgpuId] : undefined;
  }

  /** Type of `vgpuId`, or undefined. */
  typeOf(vgpuId: number): VgpuType | undefined {
    return vgpuId >= 0 && vgpuId < this.maxVgpus ? this.typeById[vgpuId] : undefined;
  }

  /** Ids holding resources, ascending. */
  vgpuIds(): number[] {
    const out: number[] = [];
    for (let i = 1; i < this.maxVgpus; i++) if (this.slicesById[i]) out.push(i);
    return out;
  }

  /** Lowest free guest id, or -1. */
  nextFreeId(): number {
    for (let i = 1; i < this.maxVgpus; i++) if (!this.slicesById[i]) return i;
    return -1;
  }

  /** True when graphics address `gmaddr` lies in one of `vgpuId`'s slices. O(1). */
  ownsGma(vgpuId: number, gmaddr: number): boolean {
    if (!(vgpuId > 0 && vgpuId < this.maxVgpus)) return false;
    const b = vgpuId * 4;
    const bd = this.bounds;
    return (gmaddr >= bd[b] && gmaddr < bd[b + 1]) || (gmaddr >= bd[b + 2] && gmaddr < bd[b + 3]);
  }

  /**
   * Owner of `gmaddr`: a vGPU id (with sharing, the lowest id of the group holding it),
   * `OWNER_HOST`, or `OWNER_FREE` (also for addresses outside).
   */
  ownerOf(gmaddr: number): number {
    if (gmaddr < this.host.lowGmSize && gmaddr >= 0) return OWNER_HOST;
    if (gmaddr >= this.apertureSize && gmaddr < this.apertureSize + this.host.highGmSize) return OWNER_HOST;
    for (let i = 1; i < this.maxVgpus; i++) if (this.ownsGma(i, gmaddr)) return i;
    return OWNER_FREE;
  }

  /** Copies of the free ranges. */
  freeRanges(): { low: GmRange[]; high: GmRange[] } {
    return { low: this.low.map((r) => ({ ...r })), high: this.high.map((r) => ({ ...r })) };
  }

  /** Free totals. */
  free(): { low: number; high: number; largestLow: number; largestHigh: number; fences: number; ids: number } {
    return {
      low: sum(this.low), high: sum(this.high), largestLow: largest(this.low), largestHigh: largest(this.high),
      fences: this.freeFences, ids: this.maxVgpus - 1 - this.usedIds,
    };
  }

  /**
   * How many more vGPUs of `typeName` fit now: the minimum over low and high graphics memory
   * (counting whole slices per free range, so fragmentation counts), fences and free ids.
   */
  available(typeName: string): number {
    return this.availableFor(this.type(typeName));
  }

  /** `available` for every type, in table order. */
  availability(): { type: string; count: number }[] {
    return this.types.map((t) => ({ type: t.name, count: this.availableFor(t) }));
  }

  private availableFor(t: VgpuType): number {
    let lowFit = 0;
    for (const r of this.low) lowFit += Math.floor((r.end - r.start) / t.lowGmSize);
    let highFit = 0;
    for (const r of this.high) highFit += Math.floor((r.end - r.start) / t.highGmSize);
    const fenceFit = t.fences === 0 ? Infinity : Math.floor(this.freeFences / t.fences);
    const ids = this.maxVgpus - 1 - this.usedIds;
    const fresh = Math.min(lowFit, highFit, fenceFit, ids);
    // With sharing, once one of its kind fits (or a group of its kind lives) only ids bound it.
    if (this.share && (fresh > 0 || this.groupToJoin(t) >= 0)) return ids;
    return fresh;
  }

  /** The error for a type that does not fit, naming what is short. */
  private shortage(t: VgpuType, resource: GmResource): NoResourceError {
    let what: string;
    let shortBy: number;
    if (resource === 'low-gm' || resource === 'high-gm') {
      const ranges = resource === 'low-gm' ? this.low : this.high;
      const need = resource === 'low-gm' ? t.lowGmSize : t.highGmSize;
      const big = largest(ranges);
      const total = sum(ranges);
      shortBy = need - big;
      what = (resource === 'low-gm' ? 'aperture (low graphics memory)' : 'hidden (high graphics memory)') +
        ` short by ${formatBytes(shortBy)} (needs ${formatBytes(need)}, largest free range ${formatBytes(big)}` +
        (total >= need ? `, ${formatBytes(total)} free in all but fragmented` : '') + ')';
    } else if (resource === 'fence') {
      shortBy = t.fences - this.freeFences;
      what = `fences short by ${shortBy} (needs ${t.fences}, ${this.freeFences} free)`;
    } else {
      shortBy = 1;
      what = `vGPU ids short by 1 (all ${this.maxVgpus - 1} guest ids in use; the limit is ${this.maxVgpus} including the idle vGPU)`;
    }
    const fit = this.availability().filter((a) => a.count > 0).map((a) => `${a.type} ×${a.count}`);
    const msg = `cannot create ${t.name}: ${what}; types that still fit: ${fit.length ? fit.join(', ') : 'none'}`;
    log(msg);
    return new NoResourceError(resource, shortBy, msg);
  }
}

function firstFit(ranges: GmRange[], size: number): number {
  for (let i = 0; i < ranges.length; i++) if (ranges[i].end - ranges[i].start >= size) return i;
  return -1;
}

function carve(ranges: GmRange[], i: number, size: number): number {
  const r = ranges[i];
  const base = r.start;
  r.start += size;
  if (r.start === r.end) ranges.splice(i, 1);
  return base;
}

function giveBack(ranges: GmRange[], start: number, end: number): void {
  let i = 0;
  while (i < ranges.length && ranges[i].start < start) i++;
  const prev = i > 0 ? ranges[i - 1] : undefined;
  const next = i < ranges.length ? ranges[i] : undefined;
  if (prev && prev.end === start) {
    prev.end = end;
    if (next && next.start === end) {
      prev.end = next.end;
      ranges.splice(i, 1);
    }
  } else if (next && next.start === end) {
    next.start = start;
  } else {
    ranges.splice(i, 0, { start, end });
  }
}

function sum(ranges: GmRange[]): number {
  let s = 0;
  for (const r of ranges) s += r.end - r.start;
  return s;
}

function largest(ranges: GmRange[]): number {
  let m = 0;
  for (const r of ranges) if (r.end - r.start > m) m = r.end - r.start;
  return m;
}
