/**
 * The Gen9 (Skylake GT2) command streamers as data.
 *
 * Sources (facts only):
 * - MMIO bases: Linux `i915_reg.h` / `intel_engine_regs.h` (RENDER_RING_BASE 0x2000,
 *   GEN6_BSD_RING_BASE 0x12000, GEN8_BSD2_RING_BASE 0x1c000, VEBOX_RING_BASE 0x1a000,
 *   BLT_RING_BASE 0x22000).
 * - Engine ids: i915's `enum intel_engine_id` order RCS0, BCS0, VCS0, VCS1, VECS0.
 * - Interrupts: `i915_reg.h` GEN8_*_IRQ_SHIFT (GT bank 0: RCS bits 0-15, BCS 16-31; bank 1:
 *   VCS0 0-15, VCS1 16-31; bank 3: VECS 0-15) and the master-control bits GEN8_GT_RCS_IRQ (0),
 *   GEN8_GT_BCS_IRQ (1), GEN8_GT_VCS0_IRQ (2), GEN8_GT_VCS1_IRQ (3), GEN8_GT_VECS_IRQ (6), as GVT-g's
 *   `gen8_irq_map` in `gvt/interrupt.c` routes them.
 * - Context sizes: `intel_lrc.c`/`intel_engine_cs.c` GEN9_LR_CONTEXT_RENDER_SIZE (22 pages) and
 *   GEN8_LR_CONTEXT_OTHER_SIZE (2 pages).
 * - MOCS tables: GVT-g `gvt/mmio_context.c` (RCS 0xc800, VCS 0xc900, VCS2 0xca00, VECS 0xcb00,
 *   BCS 0xcc00; 64 entries each).
 */
import { EngineClass } from './commands/index.js';

/** Engine ids, in i915's `enum intel_engine_id` order. */
export const EngineId = {
  RCS: 0,
  BCS: 1,
  VCS: 2,
  VCS2: 3,
  VECS: 4,
} as const;

/** Number of engines of the modelled device. */
export const ENGINE_COUNT = 5;

/** Lower-case engine name. */
export type EngineName = 'rcs' | 'bcs' | 'vcs' | 'vcs2' | 'vecs';

/** One engine, as data. */
export interface EngineInfo {
  /** Index in `GEN9_ENGINES` (`EngineId`). */
  readonly id: number;
  readonly name: EngineName;
  /** Command-decoding class (`EngineClass` of the command table). */
  readonly engineClass: EngineClass;
  /** MMIO base of the engine's register block. */
  readonly mmioBase: number;
  /** GT interrupt bank (GEN8_GT_ISR/IMR/IIR/IER(n)). */
  readonly irqBank: number;
  /** Bit offset of the engine's 16-bit field inside its bank. */
  readonly irqShift: number;
  /** Bit of GEN8_MASTER_IRQ that reports this engine's field. */
  readonly masterBit: number;
  /** Logical ring context size in 4 KiB pages. */
  readonly contextPages: number;
  /** First MOCS control register (64 entries). */
  readonly mocsBase: number;
  /** Bit of GEN6_GDRST that resets this engine (GEN6_GRDOM_RENDER/BLT/MEDIA, GEN8_GRDOM_MEDIA2, GEN6_GRDOM_VECS). */
  readonly resetDomainBit: number;
}

/** The five engines of a Gen9 GT2 part. */
export const GEN9_ENGINES: readonly EngineInfo[] = Object.freeze([
  { id: 0, name: 'rcs', engineClass: EngineClass.RCS, mmioBase: 0x02000, irqBank: 0, irqShift: 0, masterBit: 0, contextPages: 22, mocsBase: 0xc800, resetDomainBit: 1 },
  { id: 1, name: 'bcs', engineClass: EngineClass.BCS, mmioBase: 0x22000, irqBank: 0, irqShift: 16, masterBit: 1, contextPages: 2, mocsBase: 0xcc00, resetDomainBit: 3 },
  { id: 2, name: 'vcs', engineClass: EngineClass.VCS, mmioBase: 0x12000, irqBank: 1, irqShift: 0, masterBit: 2, contextPages: 2, mocsBase: 0xc900, resetDomainBit: 2 },
  { id: 3, name: 'vcs2', engineClass: EngineClass.VCS, mmioBase: 0x1c000, irqBank: 1, irqShift: 16, masterBit: 3, contextPages: 2, mocsBase: 0xca00, resetDomainBit: 7 },
  { id: 4, name: 'vecs', engineClass: EngineClass.VECS, mmioBase: 0x1a000, irqBank: 3, irqShift: 0, masterBit: 6, contextPages: 2, mocsBase: 0xcb00, resetDomainBit: 4 },
] satisfies EngineInfo[]);

/** Engine info by name, or undefined. */
export function engineByName(name: string): EngineInfo | undefined {
  return GEN9_ENGINES.find((e) => e.name === name.toLowerCase());
}

/**
 * The engine whose 4 KiB register page holds `offset` (`intel_gvt_render_mmio_to_engine` does the
 * same lookup), or undefined.
 */
export function engineOfOffset(offset: number): EngineInfo | undefined {
  const page = offset & ~0xfff;
  return GEN9_ENGINES.find((e) => e.mmioBase === page);
}
