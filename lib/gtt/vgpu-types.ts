/**
 * The vGPU type table and the host's reservation, as data.
 *
 * Figures from Linux `drivers/gpu/drm/i915/gvt/vgpu.c` (`vgpu_types[]`: low/high graphics memory,
 * fences, weight = 16 / instances, EDID) and `gvt/gvt.h` (`HOST_LOW_GM_SIZE` 128 MiB,
 * `HOST_HIGH_GM_SIZE` 384 MiB, `HOST_FENCE` 4, `GVT_MAX_VGPU` 8 with id 0 the idle vGPU).
 * GVT-g names Gen9 types `GVTg_V5_<n>`, n the number of instances a type was sized for.
 */
import { TableError } from '../errors.js';
import { PAGE_SIZE } from '../types.js';

/** 2^20. */
export const MiB = 1024 * 1024;

/** One vGPU type: what a vGPU of that type gets. */
export interface VgpuType {
  /** E.g. `GVTg_V5_4`. */
  readonly name: string;
  /** Low (mappable, aperture) graphics memory, bytes. */
  readonly lowGmSize: number;
  /** High (non-mappable, hidden) graphics memory, bytes. */
  readonly highGmSize: number;
  /** Fence registers. */
  readonly fences: number;
  /** Scheduling weight, 1..16 (a weight-8 vGPU gets twice the GPU time of a weight-4 one). */
  readonly weight: number;
  /** Resolution of the virtual display's EDID. */
  readonly edid: { readonly width: number; readonly height: number };
}

/** What the host driver keeps for itself. */
export interface HostReservation {
  /** Low graphics memory kept by the host, bytes (taken from the bottom of the aperture). */
  readonly lowGmSize: number;
  /** High graphics memory kept by the host, bytes (taken from the bottom of the hidden range). */
  readonly highGmSize: number;
  /** Fences kept by the host (fences 0..n-1). */
  readonly fences: number;
}

/** Largest legal scheduling weight (`VGPU_MAX_WEIGHT`). */
export const VGPU_MAX_WEIGHT = 16;
/** The idle vGPU's id: never handed to a guest. */
export const IDLE_VGPU_ID = 0;
/** Default vGPU id limit (ids 0..7, 7 guests), `GVT_MAX_VGPU`. Later work raises it (gScale: 15+). */
export const GVT_MAX_VGPU = 8;

/**
 * Check a type table: unique names, page-multiple positive sizes, integral fences >= 0, weights
 * in 1..16. Throws `TableError` naming the row. Returns the table frozen.
 */
export function checkVgpuTypes(types: readonly VgpuType[]): readonly VgpuType[] {
  const seen = new Set<string>();
  for (const t of types) {
    if (!t.name) throw new TableError('vGPU type without a name');
    if (seen.has(t.name)) throw new TableError(`vGPU type ${t.name}: duplicate name`);
    seen.add(t.name);
    for (const [field, v] of [['lowGmSize', t.lowGmSize], ['highGmSize', t.highGmSize]] as const) {
      if (!(Number.isSafeInteger(v) && v > 0 && v % PAGE_SIZE === 0)) throw new TableError(`vGPU type ${t.name}: ${field} ${v} must be a positive multiple of 4096`);
    }
    if (!(Number.isInteger(t.fences) && t.fences >= 0)) throw new TableError(`vGPU type ${t.name}: fences ${t.fences} must be an integer >= 0`);
    if (!(Number.isInteger(t.weight) && t.weight >= 1 && t.weight <= VGPU_MAX_WEIGHT)) {
      throw new TableError(`vGPU type ${t.name}: weight ${t.weight} outside 1..${VGPU_MAX_WEIGHT}`);
    }
  }
  return Object.freeze(types.map((t) => Object.freeze({ ...t, edid: Object.freeze({ ...t.edid }) })));
}

const EDID_1024x768 = { width: 1024, height: 768 };
const EDID_1920x1200 = { width: 1920, height: 1200 };

/** GVT-g's Gen9 (Skylake) types. */
export const GEN9_VGPU_TYPES: readonly VgpuType[] = checkVgpuTypes([
  { name: 'GVTg_V5_8', lowGmSize: 64 * MiB, highGmSize: 384 * MiB, fences: 4, weight: 2, edid: EDID_1024x768 },
  { name: 'GVTg_V5_4', lowGmSize: 128 * MiB, highGmSize: 512 * MiB, fences: 4, weight: 4, edid: EDID_1920x1200 },
  { name: 'GVTg_V5_2', lowGmSize: 256 * MiB, highGmSize: 1024 * MiB, fences: 4, weight: 8, edid: EDID_1920x1200 },
  { name: 'GVTg_V5_1', lowGmSize: 512 * MiB, highGmSize: 2048 * MiB, fences: 4, weight: 16, edid: EDID_1920x1200 },
]);

/** GVT-g's host reservation: 128 MiB low, 384 MiB high, 4 fences. */
export const GEN9_HOST_RESERVATION: HostReservation = Object.freeze({ lowGmSize: 128 * MiB, highGmSize: 384 * MiB, fences: 4 });

/** The type named `name` in `types`, or undefined. */
export function findVgpuType(types: readonly VgpuType[], name: string): VgpuType | undefined {
  for (const t of types) if (t.name === name) return t;
  return undefined;
}
