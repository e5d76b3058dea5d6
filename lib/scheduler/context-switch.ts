/**
 * The engine MMIO context GVT-g switches between vGPUs, as data, and a `ContextSwitcher` that
 * saves and restores it on the host register file.
 *
 * Facts from Linux `drivers/gpu/drm/i915/gvt/mmio_context.c` (`gen9_engine_mmio_list`,
 * `switch_mocs`, `switch_mmio`):
 * - Per engine, a list of registers that differ between vGPUs. Each entry carries a mask: a
 *   non-zero mask (0xffff) means a mode-mask register, restored with the mask in the upper 16
 *   bits and saved with them cleared; `in_context` marks registers that also live in the logical
 *   ring context image (restored by the context itself unless it is an inhibit context).
 * - MOCS: 64 control entries per engine (RCS 0xc800, VCS 0xc900, VCS2 0xca00, VECS 0xcb00,
 *   BCS 0xcc00) and, with the render engine, 32 L3CC entries at 0xb020 (GEN9_LNCFCMOCS). GVT-g
 *   writes a MOCS entry only when the outgoing and incoming values differ.
 * - GVT-g's gen9 list names GEN9_CTX_PREEMPT_REG (0x2248) twice; a table here refuses duplicates,
 *   so it appears once.
 *
 * Differences on purpose:
 * - We compare before writing for every register, not only MOCS (GVT-g rewrites the engine list
 *   unconditionally): writes are the cost that matters, and a compare is free next to an MMIO.
 * - How a register is written is decided by the register file it lives in (the device model is the
 *   authority on its semantics): a register the device table flags MODE_MASK is written with the
 *   mask bits set, any other register is written whole. GVT-g's mask flag is kept as data
 *   (`modeMask`) and agrees with the device table except for VF_GUARDBAND (0x83a4) and the
 *   VCS2/VECS RING_EXCC (GVT-g: mask, device table: plain) and CSFE_CHICKEN1 of the render engine
 *   (0x20d4; GVT-g: no mask, device table: mode mask).
 * - Images hold the writable bits only (16 bits of a mode-mask register, read-only bits cleared),
 *   so "restore, then save" gives the same image back.
 */
import createDebug from 'debug';
import { ConfigError, TableError } from '../errors.js';
import { checkOptions, optionKeys } from '../validate.js';
import { ENGINE_COUNT, GEN9_ENGINES, type EngineName } from '../device/engines.js';
import { inContextImage } from '../device/lrc.js';
import { GEN9_REGISTERS, REG } from '../device/registers.js';
import { RegFlag, type CompiledRegisters, type RegisterFile } from '../mmio/index.js';

const log = createDebug('gvtkit:sched');

/** One register of an engine's switch list (a row of GVT-g's `engine_mmio` table). */
export interface EngineMmioDef {
  /** Engine whose switch saves and restores the register. */
  readonly engine: EngineName;
  /** Byte offset in BAR0. */
  readonly offset: number;
  /** i915 name. */
  readonly name: string;
  /** GVT-g's mask flag: a mode-mask register (mask 0xffff in `mmio_context.c`). */
  readonly modeMask: boolean;
  /** GVT-g's `in_context`: the register is also in the logical ring context image. */
  readonly inContext: boolean;
}

function row(engine: EngineName, offset: number, name: string, modeMask: boolean, inContext: boolean): EngineMmioDef {
  return { engine, offset, name, modeMask, inContext };
}

/** The Gen9 engine MMIO switch list (GVT-g `gen9_engine_mmio_list`), without MOCS. */
export const GEN9_ENGINE_MMIO: readonly EngineMmioDef[] = Object.freeze([
  row('rcs', 0x229c, 'GFX_MODE_GEN7', true, false),
  row('rcs', 0x2248, 'GEN9_CTX_PREEMPT_REG', false, false),
  row('rcs', 0x2098, 'HWSTAM', false, false),
  row('rcs', 0x20c0, 'INSTPM', true, true),
  ...Array.from({ length: 12 }, (_, i) => row('rcs', 0x24d0 + 4 * i, `RING_FORCE_TO_NONPRIV[${i}]`, false, false)),
  row('rcs', 0x7004, 'CACHE_MODE_1', true, true),
  row('rcs', 0x7008, 'GEN7_GT_MODE', true, true),
  row('rcs', 0x7000, 'CACHE_MODE_0_GEN7', true, true),
  row('rcs', 0x7010, 'GEN7_COMMON_SLICE_CHICKEN1', true, true),
  row('rcs', 0x7300, 'HDC_CHICKEN0', true, true),
  row('rcs', 0x83a4, 'VF_GUARDBAND', true, true),
  row('rcs', 0x40e0, 'GEN8_PRIVATE_PAT_LO', false, false),
  row('rcs', 0x40e4, 'GEN8_PRIVATE_PAT_HI', false, false),
  row('rcs', 0x2580, 'GEN8_CS_CHICKEN1', true, true),
  row('rcs', 0x7014, 'COMMON_SLICE_CHICKEN2', true, true),
  row('rcs', 0x20ec, 'GEN9_CS_DEBUG_MODE1', true, false),
  // The L3 control: GEN8_L3SQCREG4 (L3 SQC credits and coherency) is the L3 register GVT-g switches.
  row('rcs', 0xb118, 'GEN8_L3SQCREG4', false, false),
  row('rcs', 0xe100, 'GEN7_HALF_SLICE_CHICKEN1', true, true),
  row('rcs', 0xe180, 'HALF_SLICE_CHICKEN2', true, true),
  row('rcs', 0xe184, 'HALF_SLICE_CHICKEN3', true, true),
  row('rcs', 0xe188, 'GEN9_HALF_SLICE_CHICKEN5', true, true),
  row('rcs', 0xe194, 'GEN9_HALF_SLICE_CHICKEN7', true, true),
  row('rcs', 0xe4f0, 'GEN8_ROW_CHICKEN', true, true),
  // Tiled-resources translation tables (TR-TT).
  row('rcs', 0x4de0, 'TRVATTL3PTRDW[0]', false, false),
  row('rcs', 0x4de4, 'TRVATTL3PTRDW[1]', false, false),
  row('rcs', 0x4de8, 'TRNULLDETCT', false, false),
  row('rcs', 0x4dec, 'TRINVTILEDETCT', false, false),
  row('rcs', 0x4df0, 'TRVADR', false, false),
  row('rcs', 0x4df4, 'TRTTE', false, false),
  row('rcs', 0x7304, 'GEN8_HDC_CHICKEN1', true, true),
  row('rcs', 0x940c, 'GEN7_UCGCTL4', false, false),
  row('rcs', 0x4ab8, 'GAMT_CHKN_BIT_REG', false, false),
  row('rcs', 0x4ab0, 'GEN9_GAMT_ECO_REG_RW_IA', false, false),
  row('rcs', 0x20d4, 'GEN9_CSFE_CHICKEN1_RCS', false, false),
  row('rcs', 0xb004, 'GEN8_GARBCNTL', false, false),
  row('rcs', 0x20a0, 'GEN7_FF_THREAD_MODE', false, false),
  row('rcs', 0x20e4, 'FF_SLICE_CS_CHICKEN2', true, false),
  row('bcs', 0x2229c, 'BCS_RING_MODE_GEN7', true, false),
  row('bcs', 0x2209c, 'BCS_RING_MI_MODE', true, false),
  row('bcs', 0x220c0, 'BCS_RING_INSTPM', true, false),
  row('bcs', 0x22098, 'BCS_RING_HWSTAM', false, false),
  row('bcs', 0x22028, 'BCS_RING_EXCC', false, false),
  row('vcs2', 0x1c028, 'VCS2_RING_EXCC', true, false),
  row('vecs', 0x1a028, 'VECS_RING_EXCC', true, false),
] satisfies EngineMmioDef[]);

/** MOCS geometry (GVT-g `GEN9_MOCS_SIZE`): 64 control entries per engine, 32 L3CC entries. */
export const GEN9_MOCS = Object.freeze({
  /** Control entries per engine, from `EngineInfo.mocsBase`. */
  controlEntries: 64,
  /** First L3CC (GEN9_LNCFCMOCS) register; switched with the render engine. */
  l3ccBase: REG.GEN9_LNCFCMOCS0,
  /** L3CC entries (each holds two 16-bit MOCS L3 settings). */
  l3ccEntries: 32,
});

/** Bit per engine id in an engine mask. */
export const ALL_ENGINES_MASK = (1 << ENGINE_COUNT) - 1;

/**
 * The switched registers compiled into flat arrays, grouped by engine (engine id order): slot
 * `i` of a saved image holds the register at `offsets[i]`; engine `e` owns slots
 * `[engineStart[e], engineStart[e + 1])`.
 */
export interface SwitchLayout {
  readonly length: number;
  readonly offsets: Uint32Array;
  readonly names: readonly string[];
  /** GVT-g's mask flag per slot (1 = mode mask); MOCS slots 0. */
  readonly modeMask: Uint8Array;
  /** GVT-g's `in_context` per slot; MOCS slots 0. */
  readonly inContext: Uint8Array;
  /** Slot ranges per engine id, `ENGINE_COUNT + 1` entries. */
  readonly engineStart: Uint32Array;
}

/** Options of `buildSwitchLayout`. */
export interface SwitchLayoutOptions {
  /** Include the MOCS control and L3CC tables (default true, as GVT-g does on Skylake). */
  mocs?: boolean;
  /** Include registers that also live in the context image (default true: an inhibit context restores nothing itself). */
  inContext?: boolean;
}

/**
 * Compile a switch list into a `SwitchLayout`. Throws `TableError` on a duplicate offset, an
 * unaligned offset or an unknown engine.
 */
export function buildSwitchLayout(rows: readonly EngineMmioDef[] = GEN9_ENGINE_MMIO, opts: SwitchLayoutOptions = {}): SwitchLayout {
  const withMocs = opts.mocs ?? true;
  const withInContext = opts.inContext ?? true;
  const offsets: number[] = [];
  const names: string[] = [];
  const mm: number[] = [];
  const ic: number[] = [];
  const engineStart = new Uint32Array(ENGINE_COUNT + 1);
  const seen = new Map<number, string>();
  const push = (offset: number, name: string, modeMask: boolean, inContext: boolean): void => {
    if ((offset & 3) !== 0 || offset < 0) throw new TableError(`switch list: ${name} at 0x${offset.toString(16)} is not a dword offset`);
    const prev = seen.get(offset);
    if (prev !== undefined) throw new TableError(`switch list: ${name} duplicates ${prev} at 0x${offset.toString(16)}`);
    seen.set(offset, name);
    offsets.push(offset);
    names.push(name);
    mm.push(modeMask ? 1 : 0);
    ic.push(inContext ? 1 : 0);
  };
  for (const r of rows) {
    if (!GEN9_ENGINES.some((e) => e.name === r.engine)) throw new TableError(`switch list: ${r.name} names unknown engine ${r.engine}`);
  }
  for (const engine of GEN9_ENGINES) {
    engineStart[engine.id] = offsets.length;
    for (const r of rows) {
      if (r.engine !== engine.name) continue;
      if (r.inContext && !withInContext) continue;
      push(r.offset, r.name, r.modeMask, r.inContext);
    }
    if (withMocs) {
      const n = engine.name.toUpperCase();
      for (let i = 0; i < GEN9_MOCS.controlEntries; i++) push(engine.mocsBase + 4 * i, `${n}_MOCS[${i}]`, false, false);
      if (engine.name === 'rcs') {
        for (let i = 0; i < GEN9_MOCS.l3ccEntries; i++) push(GEN9_MOCS.l3ccBase + 4 * i, `GEN9_LNCFCMOCS[${i}]`, false, false);
      }
    }
  }
  engineStart[ENGINE_COUNT] = offsets.length;
  return Object.freeze({
    length: offsets.length,
    offsets: Uint32Array.from(offsets),
    names: Object.freeze(names),
    modeMask: Uint8Array.from(mm),
    inContext: Uint8Array.from(ic),
    engineStart,
  });
}

/** Options of `buildCommandAccessLayout`. */
export interface CommandAccessLayoutOptions {
  /** The register table (default `GEN9_REGISTERS`). */
  table?: CompiledRegisters;
  /** The flag that makes a register reachable by commands (default `RegFlag.CMD_ACCESS`). */
  flag?: number;
}

/** Engine whose register page (or MOCS table) holds `offset`; registers of no engine go with the render engine. */
function homeEngine(offset: number): number {
  for (const e of GEN9_ENGINES) {
    if (offset >= e.mmioBase && offset < e.mmioBase + 0x1000) return e.id;
    if (offset >= e.mocsBase && offset < e.mocsBase + 4 * GEN9_MOCS.controlEntries) return e.id;
  }
  return 0;
}

/**
 * The register residue layout: every dword of every register the table marks `flag` (by default
 * `CMD_ACCESS`, the registers a guest's commands may load and read back), except those the device
 * restores from the context image at every context load (`CONTEXT_IMAGE_REGISTERS`). Derived from
 * the table, so a register that becomes command-accessible is switched without another list.
 * Grouped by the engine whose register page holds it; registers of no engine (GT, caches, slices)
 * go with the render engine, as GVT-g switches the L3 and slice registers with it
 * (`gen9_engine_mmio_list`). GVT-g itself switches only its engine list; the rest is what
 * `docs/isolation.md` calls the residue rule.
 */
export function buildCommandAccessLayout(opts: CommandAccessLayoutOptions = {}): SwitchLayout {
  const table = opts.table ?? GEN9_REGISTERS;
  const flag = opts.flag ?? RegFlag.CMD_ACCESS;
  const rows: { engine: number; offset: number; name: string }[] = [];
  for (const r of table.rows) {
    if ((r.flags & flag) === 0) continue;
    for (let k = 0; k < r.width; k += 4) {
      const offset = r.offset + k;
      if (inContextImage(offset, GEN9_ENGINES)) continue;
      rows.push({ engine: homeEngine(offset), offset, name: r.width === 8 ? `${r.name}${k === 0 ? '' : '_UDW'}` : r.name });
    }
  }
  const offsets: number[] = [];
  const names: string[] = [];
  const engineStart = new Uint32Array(ENGINE_COUNT + 1);
  const seen = new Set<number>();
  for (const e of GEN9_ENGINES) {
    engineStart[e.id] = offsets.length;
    for (const r of rows) {
      if (r.engine !== e.id) continue;
      if (seen.has(r.offset)) throw new TableError(`residue layout: ${r.name} at 0x${r.offset.toString(16)} twice`);
      seen.add(r.offset);
      offsets.push(r.offset);
      names.push(r.name);
    }
  }
  engineStart[ENGINE_COUNT] = offsets.length;
  return Object.freeze({
    length: offsets.length,
    offsets: Uint32Array.from(offsets),
    names: Object.freeze(names),
    modeMask: Uint8Array.from(offsets, (o) => ((table.flags[o >>> 2] & RegFlag.MODE_MASK) !== 0 ? 1 : 0)),
    inContext: new Uint8Array(offsets.length),
    engineStart,
  });
}

/** The default Gen9 layout: the engine lists plus MOCS, every engine. */
export const GEN9_SWITCH_LAYOUT: SwitchLayout = buildSwitchLayout();

/**
 * The cost of a vGPU context switch in simulated ns, as data:
 * `fixedNs + perEngineNs · engines + perRegisterReadNs · reads + perRegisterWriteNs · writes`.
 *
 * The figures are modelling assumptions of the right order, not measurements: a fixed part for
 * the scheduler decision, forcewake and submitting the incoming vGPU's shadow context; a
 * per-engine part for waiting until the engine is idle (GVT-g switches only when no workload is in
 * flight) and its bookkeeping; one uncached MMIO read per listed register to save it; one posted
 * MMIO write per register that differs.
 */
export interface SwitchCostModel {
  readonly fixedNs: number;
  readonly perEngineNs: number;
  readonly perRegisterReadNs: number;
  readonly perRegisterWriteNs: number;
}

/** Default switch costs (see `SwitchCostModel`). */
export const DEFAULT_SWITCH_COST: SwitchCostModel = Object.freeze({
  fixedNs: 4000,
  perEngineNs: 500,
  perRegisterReadNs: 20,
  perRegisterWriteNs: 30,
});

/**
 * Registers assumed to differ in a switch between two typical guests when no real images are
 * available (the simulator's default): GFX_MODE/INSTPM/HWSTAM-class state of a few engines and a
 * handful of MOCS entries. A modelling assumption.
 */
export const TYPICAL_DIFFERING_REGISTERS = 24;

/** Validate a (partial) cost model and merge it with the defaults. */
export function switchCostModel(over: Partial<SwitchCostModel> = {}): SwitchCostModel {
  over = checkOptions(over, 'SwitchCostModel', Object.keys(DEFAULT_SWITCH_COST));
  const m = { ...DEFAULT_SWITCH_COST, ...over };
  for (const k of ['fixedNs', 'perEngineNs', 'perRegisterReadNs', 'perRegisterWriteNs'] as const) {
    const v = m[k];
    if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw new ConfigError(k, `must be a finite number >= 0, got ${String(v)}`);
  }
  return Object.freeze(m);
}

/** Cost in ns of a switch that touched `engines` engines, read `reads` and wrote `writes` registers. */
export function switchCostNs(model: SwitchCostModel, engines: number, reads: number, writes: number): number {
  return model.fixedNs + model.perEngineNs * engines + model.perRegisterReadNs * reads + model.perRegisterWriteNs * writes;
}

/** Cost of a full switch (all engines of `layout`) assuming `writes` differing registers. */
export function estimateSwitchNs(
  model: SwitchCostModel = DEFAULT_SWITCH_COST,
  layout: SwitchLayout = GEN9_SWITCH_LAYOUT,
  writes: number = TYPICAL_DIFFERING_REGISTERS,
): number {
  return switchCostNs(model, ENGINE_COUNT, layout.length, writes);
}

/** Options of `ContextSwitcher`. */
export interface ContextSwitcherOptions {
  /** Registers switched (default `GEN9_SWITCH_LAYOUT`). */
  layout?: SwitchLayout;
  /** Cost-model overrides. */
  cost?: Partial<SwitchCostModel>;
}

const CONTEXT_SWITCHER_OPTIONS = optionKeys<ContextSwitcherOptions>({ layout: true, cost: true });

/**
 * Saves the outgoing vGPU's switched registers from a register file and restores the incoming
 * vGPU's, writing only the registers whose values differ. A saved image is a `Uint32Array` of
 * `layout.length` slots (a few hundred dwords), never a copy of the 2 MiB register space.
 *
 * Reads and writes go through the register file's dispatch (`read`/`write`), so the device's
 * register semantics and handlers apply as they would to GVT-g's `I915_READ_FW`/`I915_WRITE_FW`.
 */
export class ContextSwitcher {
  /** The registers switched. */
  readonly layout: SwitchLayout;
  /** The cost model used by `lastCostNs`. */
  readonly cost: SwitchCostModel;
  /** Switches performed. */
  switches = 0;
  /** Register writes over all switches. */
  totalWrites = 0;
  /** Register writes of the last switch. */
  lastWrites = 0;
  /** Register reads of the last switch. */
  lastReads = 0;
  /** Engines touched by the last switch. */
  lastEngines = 0;
  /** Modelled cost of the last switch, ns. */
  lastCostNs = 0;

  private readonly regs: RegisterFile;
  private readonly offsets: Uint32Array;
  /** Bits a write sets on top of the value: 0xffff0000 for mode-mask registers, else 0. */
  private readonly writeBits: Uint32Array;
  /** Bits an image holds per slot (writable bits). */
  private readonly keep: Uint32Array;
  private readonly engineStart: Uint32Array;

  constructor(regs: RegisterFile, opts: ContextSwitcherOptions = {}) {
    opts = checkOptions(opts, 'ContextSwitcherOptions', CONTEXT_SWITCHER_OPTIONS);
    this.regs = regs;
    this.layout = opts.layout ?? GEN9_SWITCH_LAYOUT;
    this.cost = switchCostModel(opts.cost);
    const n = this.layout.length;
    this.offsets = this.layout.offsets;
    this.engineStart = this.layout.engineStart;
    this.writeBits = new Uint32Array(n);
    this.keep = new Uint32Array(n);
    const roMask = regs.table.roMask;
    for (let i = 0; i < n; i++) {
      const off = this.offsets[i];
      if (!regs.isTracked(off)) {
        throw new TableError(`switch list: ${this.layout.names[i]} at 0x${off.toString(16)} is not a register of ${regs.label}`);
      }
      const mm = (regs.flagsAt(off) & RegFlag.MODE_MASK) !== 0;
      const ro = roMask[off >>> 2];
      this.writeBits[i] = mm ? 0xffff0000 : 0;
      this.keep[i] = ((mm ? 0xffff : 0xffffffff) & ~ro) >>> 0;
    }
  }

  /** Bits an image keeps in slot `i` (the register's writable bits). */
  writableMask(i: number): number {
    return this.keep[i];
  }

  /** A new image holding the register file's current values (GVT-g starts a vGPU from the host's). */
  newImage(): Uint32Array {
    const img = new Uint32Array(this.layout.length);
    this.save(img);
    return img;
  }

  /** Keep only the bits an image holds (writable bits), in place; returns `image`. */
  canonicalize(image: Uint32Array): Uint32Array {
    this.checkImage(image, 'image');
    for (let i = 0; i < image.length; i++) image[i] = (image[i] & this.keep[i]) >>> 0;
    return image;
  }

  /** Save the current values of the switched registers into `image`. */
  save(image: Uint32Array, engineMask = ALL_ENGINES_MASK): void {
    this.switchEngines(image, null, engineMask);
  }

  /** Restore `image` into the register file (writing only what differs); returns writes. */
  restore(image: Uint32Array, engineMask = ALL_ENGINES_MASK): number {
    return this.switchEngines(null, image, engineMask);
  }

  /**
   * Switch from the vGPU owning `out` to the one owning `into`: save the engines' switched
   * registers into `out` (when given), then write `into`'s values where they differ from the
   * register file's. Returns the number of register writes; `lastCostNs` holds the modelled cost.
   */
  switch(out: Uint32Array | null, into: Uint32Array | null, engineMask = ALL_ENGINES_MASK): number {
    const writes = this.switchEngines(out, into, engineMask);
    this.switches++;
    this.totalWrites += writes;
    if (log.enabled) log('context switch: %d reads, %d writes, %d ns', this.lastReads, writes, this.lastCostNs);
    return writes;
  }

  private switchEngines(out: Uint32Array | null, into: Uint32Array | null, engineMask: number): number {
    if (out !== null) this.checkImage(out, 'out');
    if (into !== null) this.checkImage(into, 'into');
    const starts = this.engineStart;
    let writes = 0;
    let reads = 0;
    let engines = 0;
    if ((engineMask & ALL_ENGINES_MASK) === ALL_ENGINES_MASK) {
      // The common case: every engine, one contiguous run of slots.
      engines = ENGINE_COUNT;
      reads = starts[ENGINE_COUNT];
      writes = this.switchSlots(out, into, 0, reads);
    } else {
      for (let e = 0; e < ENGINE_COUNT; e++) {
        if ((engineMask & (1 << e)) === 0) continue;
        engines++;
        reads += starts[e + 1] - starts[e];
        writes += this.switchSlots(out, into, starts[e], starts[e + 1]);
      }
    }
    this.lastWrites = writes;
    this.lastReads = reads;
    this.lastEngines = engines;
    const c = this.cost;
    this.lastCostNs = c.fixedNs + c.perEngineNs * engines + c.perRegisterReadNs * reads + c.perRegisterWriteNs * writes;
    return writes;
  }

  /** Save and restore slots [from, to); returns writes. */
  private switchSlots(out: Uint32Array | null, into: Uint32Array | null, from: number, to: number): number {
    const regs = this.regs;
    const offsets = this.offsets;
    const keep = this.keep;
    const writeBits = this.writeBits;
    let writes = 0;
    // Offsets are dword-aligned device registers (checked at construction): the dispatcher's dword
    // entry points apply the register semantics and handlers without re-checking size and range.
    for (let i = from; i < to; i++) {
      const off = offsets[i];
      const k = keep[i];
      const cur = (regs.readDword(off) & k) >>> 0;
      if (out !== null) out[i] = cur;
      if (into !== null) {
        const want = (into[i] & k) >>> 0;
        if (want !== cur) {
          regs.writeDword(off, (want | writeBits[i]) >>> 0, -1);
          writes++;
        }
      }
    }
    return writes;
  }

  private checkImage(img: Uint32Array, field: string): void {
    if (img.length !== this.layout.length) {
      throw new ConfigError(field, `image has ${img.length} slots, the layout ${this.layout.length}`);
    }
  }
}
