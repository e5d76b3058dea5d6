/**
 * What Linux i915 puts in a Gen9 (Skylake) guest's rings besides the user's batches: the
 * per-context setup of a new context and the commands around every request. Facts (register
 * offsets, bit values, tables, command layouts) are from Linux v7.0 (strongtz/i915-sriov-dkms at
 * 2421d3f); the commands are built with our encoders.
 *
 * - `renderStateSetup` relocates the Gen9 null render-state batch as `render_state_setup`
 *   (`gt/intel_renderstate.c`) does;
 * - `SKL_MOCS` and `mocsControlLri` / `mocsL3ccLri` are the Skylake MOCS table of
 *   `gt/intel_mocs.c` (`skl_mocs_table`, 64 entries, unused ones set to the PTE entry) as
 *   MI_LOAD_REGISTER_IMMs to the engine's MOCS range and to the L3 cache-control registers
 *   (`GEN9_LNCFCMOCS`, 0xb020, two entries a register). v7.0 writes the same values through MMIO
 *   (`intel_mocs_init_engine`); i915 up to v5.x emitted them as these LRIs in the render context
 *   (`intel_rcs_context_init_mocs`: `emit_mocs_control_table`, `emit_mocs_l3cc_table`);
 * - `sklCtxWorkarounds` is `gen9_ctx_workarounds_init` + `skl_ctx_workarounds_init`
 *   (`gt/intel_workarounds.c`), merged and sorted as `_wa_add` keeps its list, and
 *   `ctxWorkaroundsLri` is `intel_engine_emit_ctx_wa`: one LRI of every entry, then MI_NOOP;
 * - the `gen8Emit*` functions are the request emitters of `gt/gen8_engine_cs.c` an i915 guest of
 *   GVT-g uses: no semaphores and no preemption in a vGPU (`intel_vgpu_active`), so batches start
 *   with `gen8_emit_bb_start_noarb` and the final breadcrumb has no preemption busy-wait.
 */
import type { EngineInfo } from '../device/engines.js';
import { EngineClass } from '../device/commands/engines.js';
import {
  encodeByName, encodeHeader, miArbCheck, miBatchBufferEnd, miBatchBufferStart, miFlushDw, miLoadRegisterImm, miNoop, miStoreDataImm,
  miUserInterrupt, PostSyncOp,
} from '../device/commands/encoder.js';
import { RangeArgError } from '../errors.js';
import { GEN9_NULL_STATE_BATCH, GEN9_NULL_STATE_RELOCS } from './gen9-null-state.js';

export { GEN9_NULL_STATE_BATCH, GEN9_NULL_STATE_RELOCS, GEN9_NULL_STATE_CMDS_END, GEN9_NULL_STATE_STATE_START } from './gen9-null-state.js';

// ---------------------------------------------------------------------------------------------
// Command bits i915 uses (`gt/intel_gpu_commands.h`).

/** PIPE_CONTROL dword 1 flags (`PIPE_CONTROL_*`). */
export const PipeControlFlag = {
  DEPTH_CACHE_FLUSH: 1 << 0,
  STALL_AT_SCOREBOARD: 1 << 1,
  STATE_CACHE_INVALIDATE: 1 << 2,
  CONST_CACHE_INVALIDATE: 1 << 3,
  VF_CACHE_INVALIDATE: 1 << 4,
  DC_FLUSH_ENABLE: 1 << 5,
  FLUSH_ENABLE: 1 << 7,
  NOTIFY: 1 << 8,
  TEXTURE_CACHE_INVALIDATE: 1 << 10,
  INSTRUCTION_CACHE_INVALIDATE: 1 << 11,
  RENDER_TARGET_CACHE_FLUSH: 1 << 12,
  DEPTH_STALL: 1 << 13,
  QW_WRITE: 1 << 14,
  TLB_INVALIDATE: 1 << 18,
  CS_STALL: 1 << 20,
  STORE_DATA_INDEX: 1 << 21,
  GLOBAL_GTT_IVB: 1 << 24,
} as const;

/** Byte offset in the per-process HWSP (page 0 of the context image) i915 flushes write to (`LRC_PPHWSP_SCRATCH_ADDR`, dword 0x34). */
export const LRC_PPHWSP_SCRATCH_ADDR = 0x34 * 4;

/** `EMIT_INVALIDATE` / `EMIT_FLUSH` / `EMIT_BARRIER` modes of `engine->emit_flush`. */
export const EmitMode = { INVALIDATE: 1 << 0, FLUSH: 1 << 1, BARRIER: (1 << 0) | (1 << 1) } as const;

/** MI_ARB_ON_OFF with Arbitration Enable (bit 0) set or clear. */
function miArbOnOff(enable: boolean): number[] {
  return [encodeHeader('MI_ARB_ON_OFF', 1, enable ? 1 : 0)];
}

/** `gen8_emit_pipe_control`: a 6-dword PIPE_CONTROL with `flags` and address `offset`, no data. */
export function gen8PipeControl(flags: number, offset = 0): number[] {
  return encodeByName('PIPE_CONTROL', [flags >>> 0, offset >>> 0, 0, 0, 0]);
}

/**
 * `gen8_emit_flush_rcs`: a CS-stalling PIPE_CONTROL that flushes (EMIT_FLUSH) and/or invalidates
 * (EMIT_INVALIDATE, with a qword write to the PPHWSP scratch slot by index); on Gen9 an
 * invalidation is preceded by a null PIPE_CONTROL (the VF cache invalidation workaround).
 */
export function gen8EmitFlushRcs(mode: number): number[] {
  const F = PipeControlFlag;
  let flags: number = F.CS_STALL;
  if (mode & EmitMode.FLUSH) flags |= F.RENDER_TARGET_CACHE_FLUSH | F.DEPTH_CACHE_FLUSH | F.DC_FLUSH_ENABLE | F.FLUSH_ENABLE;
  const out: number[] = [];
  if (mode & EmitMode.INVALIDATE) {
    flags |= F.TLB_INVALIDATE | F.INSTRUCTION_CACHE_INVALIDATE | F.TEXTURE_CACHE_INVALIDATE | F.VF_CACHE_INVALIDATE |
      F.CONST_CACHE_INVALIDATE | F.STATE_CACHE_INVALIDATE | F.QW_WRITE | F.STORE_DATA_INDEX;
    out.push(...gen8PipeControl(0, 0));
  }
  out.push(...gen8PipeControl(flags, LRC_PPHWSP_SCRATCH_ADDR));
  return out;
}

/**
 * `gen8_emit_flush_xcs`: MI_FLUSH_DW with a dword post-sync write to the PPHWSP scratch slot by
 * index; an invalidation adds the TLB invalidate (and, on VCS, the BSD cache invalidate).
 */
export function gen8EmitFlushXcs(mode: number, engineClass: EngineClass): number[] {
  const invalidate = (mode & EmitMode.INVALIDATE) !== 0;
  return miFlushDw({
    postSyncOp: PostSyncOp.WRITE_IMMEDIATE,
    storeDataIndex: true,
    address: LRC_PPHWSP_SCRATCH_ADDR,
    data: 0,
    tlbInvalidate: invalidate,
    videoPipelineCacheInvalidate: invalidate && engineClass === EngineClass.VCS,
  });
}

/** `engine->emit_flush` of an execlists engine (`gen8_emit_flush_rcs` or `gen8_emit_flush_xcs`). */
export function gen8EmitFlush(engine: EngineInfo, mode: number): number[] {
  return engine.engineClass === EngineClass.RCS ? gen8EmitFlushRcs(mode) : gen8EmitFlushXcs(mode, engine.engineClass);
}

/**
 * `gen8_emit_init_breadcrumb`: store seqno - 1 to the timeline's slot (GGTT), then MI_NOOP and an
 * arbitration point.
 */
export function gen8EmitInitBreadcrumb(hwspSlot: number, seqno: number): number[] {
  return [...miStoreDataImm(hwspSlot, [(seqno - 1) >>> 0], { ggtt: true }), ...miNoop(), ...miArbCheck()];
}

/**
 * `gen8_emit_bb_start_noarb` (what a vGPU guest uses, having no preemption): arbitration off, then
 * MI_BATCH_BUFFER_START; a `secure` dispatch (I915_DISPATCH_SECURE) runs from the GGTT, others from
 * the context's PPGTT (bit 8).
 */
export function gen8EmitBbStart(offset: number, opts: { secure?: boolean } = {}): number[] {
  return [...miArbOnOff(false), ...miBatchBufferStart(offset, { ppgtt: !opts.secure })];
}

/** `gen8_emit_fini_breadcrumb_tail` without the semaphore busy-wait (absent in a vGPU). */
function finiBreadcrumbTail(): number[] {
  return [...miUserInterrupt(), ...miArbOnOff(true), ...miArbCheck(), ...miNoop()];
}

/**
 * `gen8_emit_fini_breadcrumb_rcs`: a flushing, CS-stalling PIPE_CONTROL, then a qword GGTT write of
 * the seqno to the timeline's slot (`gen8_emit_ggtt_write_rcs`), the user interrupt, arbitration
 * back on, and the `gen8_emit_wa_tail` pair.
 */
export function gen8EmitFiniBreadcrumbRcs(hwspSlot: number, seqno: number): number[] {
  const F = PipeControlFlag;
  if (hwspSlot % 8 !== 0) throw new RangeArgError(`fini breadcrumb: slot 0x${hwspSlot.toString(16)} is not qword aligned`);
  return [
    ...gen8PipeControl(F.CS_STALL | F.TLB_INVALIDATE | F.RENDER_TARGET_CACHE_FLUSH | F.DEPTH_CACHE_FLUSH | F.DC_FLUSH_ENABLE, 0),
    ...encodeByName('PIPE_CONTROL', [F.FLUSH_ENABLE | F.CS_STALL | F.QW_WRITE | F.GLOBAL_GTT_IVB, hwspSlot >>> 0, 0, seqno >>> 0, 0]),
    ...finiBreadcrumbTail(),
  ];
}

/**
 * `gen8_emit_fini_breadcrumb_xcs`: MI_FLUSH_DW with a dword GGTT post-sync write of the seqno
 * (`gen8_emit_ggtt_write`), then the common tail.
 */
export function gen8EmitFiniBreadcrumbXcs(hwspSlot: number, seqno: number): number[] {
  if (hwspSlot % 8 !== 0 || (hwspSlot & (1 << 5)) !== 0) {
    throw new RangeArgError(`fini breadcrumb: slot 0x${hwspSlot.toString(16)} must be qword aligned with bit 5 clear`);
  }
  return [...miFlushDw({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: hwspSlot, ggtt: true, data: seqno >>> 0 }), ...finiBreadcrumbTail()];
}

/** `engine->emit_fini_breadcrumb` of an execlists Gen9 engine. */
export function gen8EmitFiniBreadcrumb(engine: EngineInfo, hwspSlot: number, seqno: number): number[] {
  return engine.engineClass === EngineClass.RCS ? gen8EmitFiniBreadcrumbRcs(hwspSlot, seqno) : gen8EmitFiniBreadcrumbXcs(hwspSlot, seqno);
}

// ---------------------------------------------------------------------------------------------
// The null render state (`gt/intel_renderstate.c`).

/** Dwords per cacheline (`CACHELINE_DWORDS`). */
const CACHELINE_DWORDS = 16;
/** MEDIA_POOL_STATE header with its length (`GEN9_MEDIA_POOL_STATE`), and its enable bit. */
const GEN9_MEDIA_POOL_STATE = ((0x3 << 29) | (0x2 << 27) | (0x5 << 16) | 4) >>> 0;
const GEN9_MEDIA_POOL_ENABLE = 0x80000000;

/** A relocated render-state object: what `render_state_setup` leaves in the page and in `so`. */
export interface RenderState {
  /** The page's dwords (1024): the relocated batch, MI_NOOP padding, the aux batch, zeroes. */
  readonly dwords: Uint32Array;
  /** Graphics address of the batch (`so->batch_offset`). */
  readonly batchOffset: number;
  /** Batch length in bytes (`so->batch_size`). */
  readonly batchSize: number;
  /** Graphics address of the aux batch (`so->aux_offset`). */
  readonly auxOffset: number;
  /** Aux batch length in bytes, qword aligned (`so->aux_size`); it is run only when above 8. */
  readonly auxSize: number;
}

/**
 * Relocate the Gen9 null render state at graphics address `offset` as `render_state_setup` does:
 * every relocated dword gets `offset` added and, Gen8+ relocations being 64-bit, the following
 * (zero) dword gets the high half; then MI_NOOP up to a cacheline and the aux batch (a
 * MEDIA_POOL_STATE on parts with pooled EUs, Broxton/Geminilake only, then MI_BATCH_BUFFER_END).
 */
export function renderStateSetup(offset: number, opts: { pooledEu?: boolean } = {}): RenderState {
  if (!Number.isInteger(offset) || offset < 0 || offset % 4096 !== 0 || offset > 2 ** 48 - 4096) {
    throw new RangeArgError(`renderStateSetup: offset ${offset} is not a page-aligned 48-bit graphics address`);
  }
  const batch = GEN9_NULL_STATE_BATCH;
  const relocs = GEN9_NULL_STATE_RELOCS;
  const d = new Uint32Array(1024);
  let i = 0;
  let r = 0;
  while (i < batch.length) {
    let s = batch[i];
    if (r < relocs.length && i * 4 === relocs[r]) {
      const value = s + offset;
      if (i + 1 >= batch.length || batch[i + 1] !== 0) throw new RangeArgError(`renderStateSetup: 64-bit relocation at dword ${i} has no zero high dword`);
      d[i++] = value >>> 0;
      s = Math.floor(value / 2 ** 32);
      r++;
    }
    d[i++] = s >>> 0;
  }
  if (r !== relocs.length) throw new RangeArgError(`renderStateSetup: only ${r} of ${relocs.length} relocations resolved`);
  const batchSize = batch.length * 4;
  while (i % CACHELINE_DWORDS) d[i++] = miNoop()[0];
  const auxStart = i;
  if (opts.pooledEu) {
    for (const v of [GEN9_MEDIA_POOL_STATE, GEN9_MEDIA_POOL_ENABLE, 0x00777000, 0, 0, 0]) d[i++] = v >>> 0;
  }
  d[i++] = miBatchBufferEnd()[0];
  const auxSize = Math.ceil(((i - auxStart) * 4) / 8) * 8;
  return { dwords: d, batchOffset: offset, batchSize, auxOffset: offset + auxStart * 4, auxSize };
}

/** `intel_renderstate_emit`: start the batch, and the aux batch when it holds more than its end. */
export function renderStateEmit(so: RenderState, opts: { secure?: boolean } = { secure: true }): number[] {
  const out = gen8EmitBbStart(so.batchOffset, opts);
  if (so.auxSize > 8) out.push(...gen8EmitBbStart(so.auxOffset, opts));
  return out;
}

// ---------------------------------------------------------------------------------------------
// MOCS (`gt/intel_mocs.c`).

/** Entries of a Gen9 MOCS table (`GEN9_NUM_MOCS_ENTRIES`). */
export const GEN9_NUM_MOCS_ENTRIES = 64;
/** First L3 cache-control register (`GEN9_LNCFCMOCS(0)`). */
export const GEN9_LNCFCMOCS0 = 0xb020;

// LE (LLC/eDRAM) control bits and L3 control bits of a MOCS entry.
const LE_CACHEABILITY = (v: number) => v;
const LE_TGT_CACHE = (v: number) => v << 2;
const LE_LRUM = (v: number) => v << 4;
const L3_CACHEABILITY = (v: number) => v << 4;

/** One MOCS entry: the engine control value and the L3 cache-control half-word. */
export interface MocsEntry {
  control: number;
  l3cc: number;
}

/** Index of the entry unused slots copy (`I915_MOCS_PTE`). */
const I915_MOCS_PTE = 1;

/** `skl_mocs_table`: entries 0 (uncached), 1 (PTE), 2 (cached) and 63 (L3 evictions). */
const SKL_MOCS_DEFINED: ReadonlyMap<number, MocsEntry> = new Map([
  [0, { control: LE_CACHEABILITY(1) | LE_TGT_CACHE(2), l3cc: L3_CACHEABILITY(1) }],
  [1, { control: LE_CACHEABILITY(0) | LE_TGT_CACHE(0) | LE_LRUM(3), l3cc: L3_CACHEABILITY(3) }],
  [2, { control: LE_CACHEABILITY(3) | LE_TGT_CACHE(2) | LE_LRUM(3), l3cc: L3_CACHEABILITY(3) }],
  [63, { control: LE_CACHEABILITY(3) | LE_TGT_CACHE(1) | LE_LRUM(3), l3cc: L3_CACHEABILITY(1) }],
]);

/** The 64 Skylake MOCS entries as programmed (unused entries take the PTE entry, `get_entry_control`). */
export const SKL_MOCS: readonly MocsEntry[] = Array.from({ length: GEN9_NUM_MOCS_ENTRIES }, (_, k) =>
  SKL_MOCS_DEFINED.get(k) ?? (SKL_MOCS_DEFINED.get(I915_MOCS_PTE) as MocsEntry));

/** (register, value) pairs of an engine's MOCS control table (its 64 registers from `engine.mocsBase`). */
export function mocsControlPairs(engine: EngineInfo, table: readonly MocsEntry[] = SKL_MOCS): [number, number][] {
  return table.map((e, k) => [engine.mocsBase + 4 * k, e.control] as [number, number]);
}

/** (register, value) pairs of the L3 cache-control table: entry 2k in the low half, 2k+1 in the high half. */
export function mocsL3ccPairs(table: readonly MocsEntry[] = SKL_MOCS): [number, number][] {
  const out: [number, number][] = [];
  for (let k = 0; k < table.length / 2; k++) out.push([GEN9_LNCFCMOCS0 + 4 * k, (table[2 * k].l3cc | (table[2 * k + 1].l3cc << 16)) >>> 0]);
  return out;
}

/** The MOCS control table of `engine` as one LRI then MI_NOOP (`emit_mocs_control_table`). */
export function mocsControlLri(engine: EngineInfo, table: readonly MocsEntry[] = SKL_MOCS): number[] {
  return [...miLoadRegisterImm(mocsControlPairs(engine, table)), ...miNoop()];
}

/** The L3 cache-control table as one LRI then MI_NOOP (`emit_mocs_l3cc_table`, render engine only). */
export function mocsL3ccLri(table: readonly MocsEntry[] = SKL_MOCS): number[] {
  return [...miLoadRegisterImm(mocsL3ccPairs(table)), ...miNoop()];
}

// ---------------------------------------------------------------------------------------------
// Context workarounds (`gt/intel_workarounds.c`).

/** One context workaround register write: a masked register's value carries its mask in bits 31:16. */
export interface CtxWorkaround {
  readonly offset: number;
  readonly name: string;
  readonly value: number;
  /** The workaround names merged into this write. */
  readonly workarounds: readonly string[];
}

const maskedEnable = (bits: number) => ((bits << 16) | bits) >>> 0;
const maskedDisable = (bits: number) => (bits << 16) >>> 0;
const maskedField = (mask: number, value: number) => ((mask << 16) | value) >>> 0;

/** Options of `sklCtxWorkarounds`. */
export interface SklWorkaroundOptions {
  /** The part has an LLC (every Skylake does; default true). */
  llc?: boolean;
  /**
   * Per slice, the mask of subslices with 7 EUs (`sseu.subslice_7eu`); a slice with exactly one
   * gets IZ hashing tuned in GEN7_GT_MODE. Default [0, 0, 0]: no tuning (a fully enabled GT2).
   */
  subslice7eu?: readonly [number, number, number];
}

/**
 * The Skylake render context workarounds in `_wa_add` order: writes to one register merged
 * (set and clear bits OR-ed), the list sorted by register offset.
 */
export function sklCtxWorkarounds(opts: SklWorkaroundOptions = {}): CtxWorkaround[] {
  const adds: [number, string, number, string][] = [];
  if (opts.llc ?? true) {
    adds.push([0x7014, 'COMMON_SLICE_CHICKEN2', maskedEnable(1 << 13), 'WaCompressedResourceSamplerPbeMediaNewHashMode']);
    adds.push([0xe194, 'GEN9_HALF_SLICE_CHICKEN7', maskedEnable(1 << 8), 'WaCompressedResourceSamplerPbeMediaNewHashMode']);
  }
  adds.push([0xe4f0, 'GEN8_ROW_CHICKEN', maskedEnable((1 << 15) | (1 << 8)), 'WaClearFlowControlGpgpuContextSave, WaDisablePartialInstShootdown']);
  adds.push([0xe194, 'GEN9_HALF_SLICE_CHICKEN7', maskedEnable((1 << 4) | (1 << 2)), 'WaEnableYV12BugFixInHalfSliceChicken7, WaEnableSamplerGPGPUPreemptionSupport']);
  adds.push([0x7004, 'CACHE_MODE_1', maskedEnable((1 << 6) | (1 << 1)), 'Wa4x4STCOptimizationDisable, WaDisablePartialResolveInVc']);
  adds.push([0xe188, 'GEN9_HALF_SLICE_CHICKEN5', maskedDisable(1 << 3), 'WaCcsTlbPrefetchDisable']);
  adds.push([0x7300, 'HDC_CHICKEN0', maskedEnable((1 << 5) | (1 << 15)), 'WaForceContextSaveRestoreNonCoherent']);
  adds.push([0x7300, 'HDC_CHICKEN0', maskedEnable(1 << 4), 'WaForceEnableNonCoherent']);
  adds.push([0xe184, 'GEN8_HALF_SLICE_CHICKEN3', maskedEnable(1 << 1), 'WaDisableSamplerPowerBypassForSOPingPong']);
  adds.push([0xe180, 'HALF_SLICE_CHICKEN2', maskedEnable(1 << 13), 'WaDisableSTUnitPowerOptimization']);
  adds.push([0x2580, 'GEN8_CS_CHICKEN1', maskedDisable(1 << 0), 'WaDisable3DMidCmdPreemption']);
  adds.push([0x2580, 'GEN8_CS_CHICKEN1', maskedField(0x6, 0x4), 'WaDisableGPGPUMidCmdPreemption']);
  // skl_tune_iz_hashing: per slice with a single 7-EU subslice ss, hashing value 3 - ss.
  const s7 = opts.subslice7eu ?? [0, 0, 0];
  const vals = s7.map((m) => (m !== 0 && (m & (m - 1)) === 0 ? 3 - (31 - Math.clz32(m)) : 0));
  if (vals.some((v) => v !== 0)) {
    let mask = 0;
    let value = 0;
    for (let sl = 0; sl < 3; sl++) {
      mask |= 0x3 << (sl * 2);
      value |= vals[sl] << (sl * 2);
    }
    adds.push([0x7008, 'GEN7_GT_MODE', maskedField(mask, value), 'IZ hashing tuning']);
  }
  const byOffset = new Map<number, { name: string; value: number; workarounds: string[] }>();
  for (const [offset, name, value, wa] of adds) {
    const e = byOffset.get(offset);
    if (e) {
      e.value = (e.value | value) >>> 0;
      e.workarounds.push(wa);
    } else {
      byOffset.set(offset, { name, value, workarounds: [wa] });
    }
  }
  return [...byOffset.entries()].sort((a, b) => a[0] - b[0]).map(([offset, e]) => ({ offset, ...e }));
}

/**
 * `intel_engine_emit_ctx_wa`: a flush barrier (`emit_flush(EMIT_BARRIER)`), then one LRI of every
 * context workaround and MI_NOOP. Empty when the list is (engines other than render have none).
 */
export function ctxWorkaroundsLri(engine: EngineInfo, list: readonly CtxWorkaround[]): number[] {
  if (list.length === 0) return [];
  return [...gen8EmitFlush(engine, EmitMode.BARRIER), ...miLoadRegisterImm(list.map((w) => [w.offset, w.value] as [number, number])), ...miNoop()];
}
