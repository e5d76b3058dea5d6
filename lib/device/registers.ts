/**
 * The Gen9 (Skylake) host register table, as data.
 *
 * Offsets are the hardware's, read from Linux `i915_reg.h` / `intel_engine_regs.h` /
 * `intel_gt_regs.h` (names kept as i915 spells them). Flags follow GVT-g's attributes in
 * `gvt/handlers.c` (init_generic_mmio_info, init_bdw_mmio_info, init_skl_mmio_info):
 * - CMD_ACCESS (GVT-g `F_CMD_ACCESS`) is the whitelist a command auditor uses for
 *   MI_LOAD_REGISTER_IMM and friends. It agrees with GVT-g's Skylake set (`GVT_SKL_CMD_ACCESS`,
 *   derived from handlers.c by `scripts/extract-gvt-regs.ts` into `gvt-registers.ts`) except for
 *   the listed differences (`REGISTER_DIFFERENCES`, lib/mediator/register-rules.ts; checked by
 *   test/register-rules.test.ts; see docs/registers.md): the CS general-purpose registers,
 *   3DPRIM_BASE_VERTEX, GPGPU_DISPATCHDIM* and MI_PREDICATE_SRC0/1 are added (i915_cmd_parser.c
 *   render whitelist; GVT-g marks GEN8_RING_CS_GPR on BXT only; Mesa loads them from batches), and
 *   GVT-g's MOCS range past the Skylake engine tables (0xcd00..0xcff4) is not modelled. Those
 *   additions are flagged `gvtkit addition`.
 * - CMD_SRM_LRM: GVT-g's `cmd_reg_handler` lets MI_STORE_REGISTER_MEM / MI_LOAD_REGISTER_MEM touch
 *   only GEN8_L3SQCREG4 and 0x21f0 (plus INSTPM on BDW).
 * - SR_IN_CTX: registers GVT-g's `gen9_engine_mmio_list` (`gvt/mmio_context.c`) marks as living in
 *   the context image (in_context = true), plus the ring-context registers this model saves in and
 *   restores from the logical ring context (`intel_lrc_reg.h` CTX_* slots).
 * - MODE_MASK, READ_ONLY, W1C, GMADR as GVT-g marks them (F_MODE_MASK, F_RO, IIR semantics, F_GMADR).
 *
 * The PVINFO page at 0x78000 is deliberately absent: it is a virtual-only page (`i915_pvinfo.h`).
 */
import { compileRegisters, RegFlag, type CompiledRegisters, type RegisterDef } from '../mmio/index.js';
import { GEN9_ENGINES, type EngineInfo } from './engines.js';

const MM = RegFlag.MODE_MASK;
const RO = RegFlag.READ_ONLY;
const W1C = RegFlag.W1C;
const CMD = RegFlag.CMD_ACCESS;
const GM = RegFlag.GMADR;
const SR = RegFlag.SR_IN_CTX;
const SRM = RegFlag.CMD_SRM_LRM;

/** Per-engine register offsets, relative to the engine's MMIO base (`i915_reg.h` RING_*). */
export const RING = {
  /** RING_EXCC: execute condition code (GVT-g F_CMD_ACCESS). */
  EXCC: 0x28,
  /** RING_TAIL: tail offset in the ring (bits 20:3). */
  TAIL: 0x30,
  /** RING_HEAD: head offset (bits 20:2) and wrap count (31:21). */
  HEAD: 0x34,
  /** RING_START: graphics (GGTT) address of the ring buffer. */
  START: 0x38,
  /** RING_CTL: bit 0 valid, bits 20:12 length in pages minus one. */
  CTL: 0x3c,
  SYNC_0: 0x40,
  SYNC_1: 0x44,
  PSMI_CTL: 0x50,
  MAX_IDLE: 0x54,
  ACTHD_UDW: 0x5c,
  DMA_FADD_UDW: 0x60,
  /** RING_IPEIR: instruction parser error identity. */
  IPEIR: 0x64,
  /** RING_IPEHR: the header of the command that faulted. */
  IPEHR: 0x68,
  INSTDONE: 0x6c,
  INSTPS: 0x70,
  /** RING_ACTHD: active head, the graphics address being executed. */
  ACTHD: 0x74,
  DMA_FADD: 0x78,
  /** RING_HWS_PGA: GGTT address of the engine's hardware status page. */
  HWS_PGA: 0x80,
  NOPID: 0x94,
  /** RING_HWSTAM: hardware status mask. */
  HWSTAM: 0x98,
  /** RING_MI_MODE (mode mask): bit 8 STOP_RING, bit 9 MODE_IDLE (read-only). */
  MI_MODE: 0x9c,
  /** RING_IMR: engine-level interrupt mask. */
  IMR: 0xa8,
  EIR: 0xb0,
  EMR: 0xb4,
  ESR: 0xb8,
  /** RING_INSTPM (mode mask). */
  INSTPM: 0xc0,
  CMD_CCTL: 0xc4,
  /** RING_RESET_CTL (mode mask): bit 0 request reset, bit 1 ready to reset. */
  RESET_CTL: 0xd0,
  /** CSFE_CHICKEN1 (GVT-g init_skl_mmio_info, mode mask). */
  CSFE_CHICKEN1: 0xd4,
  BBSTATE: 0x110,
  SBBADDR: 0x114,
  SBBSTATE: 0x118,
  SBBADDR_UDW: 0x11c,
  /** An engine register GVT-g marks F_CMD_ACCESS without naming it. */
  REG_134: 0x134,
  /** RING_BBADDR: current batch buffer address (low dword). */
  BBADDR: 0x140,
  BBADDR_UDW: 0x168,
  /** Engine registers GVT-g marks F_CMD_ACCESS without naming them. */
  REG_178: 0x178,
  REG_17C: 0x17c,
  BB_PER_CTX_PTR: 0x1c0,
  INDIRECT_CTX: 0x1c4,
  INDIRECT_CTX_OFFSET: 0x1c8,
  PP_DIR_DCLV: 0x220,
  PP_DIR_BASE: 0x228,
  /** RING_ELSP: execlist submit port (four dword writes submit). */
  ELSP: 0x230,
  /** RING_EXECLIST_STATUS_LO/HI (read-only). */
  EXECLIST_STATUS_LO: 0x234,
  EXECLIST_STATUS_HI: 0x238,
  /** RING_CONTEXT_CONTROL (mode mask). */
  CONTEXT_CONTROL: 0x244,
  /** GEN8_RING_PDP_LDW(n) = +0x270 + 8n, GEN8_RING_PDP_UDW(n) = +0x274 + 8n. */
  PDP0_LDW: 0x270,
  /** RING_MODE_GEN7 (GFX_MODE, mode mask): bit 15 GFX_RUN_LIST_ENABLE. */
  GFX_MODE: 0x29c,
  /** RING_TIMESTAMP / RING_TIMESTAMP_UDW: the 64-bit CS timestamp. */
  TIMESTAMP: 0x358,
  TIMESTAMP_UDW: 0x35c,
  /** RING_CONTEXT_STATUS_BUF_LO(i) = +0x370 + 8i, HI +0x374 + 8i, 6 entries (read-only). */
  CSB0_LO: 0x370,
  /** RING_CONTEXT_STATUS_PTR (mode mask): write pointer 2:0, read pointer 10:8. */
  CSB_PTR: 0x3a0,
  /** RING_CTX_TIMESTAMP: running time of the current context. */
  CTX_TIMESTAMP: 0x3a8,
  /** GEN8_RING_CS_GPR(n) = +0x600 + 8n, 16 64-bit general-purpose registers. */
  GPR0: 0x600,
} as const;

/** Absolute offset of an engine register. */
export function ringReg(engine: EngineInfo, rel: number): number {
  return engine.mmioBase + rel;
}

/** Global (non-engine) register offsets. */
export const REG = {
  /** GEN8_MASTER_IRQ: bit 31 enable (the only writable bit), lower bits pending banks. */
  GEN8_MASTER_IRQ: 0x44200,
  /** GEN8_GT_ISR(n) = 0x44300 + 0x10n; IMR +4, IIR +8, IER +0xc. */
  GEN8_GT_ISR0: 0x44300,
  /** FENCE_REG_GEN6_LO(i) = 0x100000 + 8i (64-bit), 32 fences. */
  FENCE_REG_GEN6_LO0: 0x100000,
  /** GEN6_GDRST: graphics domain reset request. */
  GEN6_GDRST: 0x941c,
  /** GEN8_RING_FAULT_REG: page-fault status (bit 0 valid, bits 14:12 engine). */
  GEN8_RING_FAULT_REG: 0x4094,
  /** GEN8_FAULT_TLB_DATA0/1: faulting virtual page (bits 43:12) / bits 47:44 and GGTT select (bit 4). */
  GEN8_FAULT_TLB_DATA0: 0x4b10,
  GEN8_FAULT_TLB_DATA1: 0x4b14,
  GEN8_PRIVATE_PAT_LO: 0x40e0,
  GEN8_PRIVATE_PAT_HI: 0x40e4,
  GFX_FLSH_CNTL_GEN6: 0x101008,
  FORCEWAKE_MEDIA_GEN9: 0xa270,
  FORCEWAKE_RENDER_GEN9: 0xa278,
  FORCEWAKE_BLITTER_GEN9: 0xa188,
  FORCEWAKE_ACK_MEDIA_GEN9: 0x0d88,
  FORCEWAKE_ACK_RENDER_GEN9: 0x0d84,
  FORCEWAKE_ACK_BLITTER_GEN9: 0x130044,
  /** GEN9_LNCFCMOCS(i) = 0xb020 + 4i, 32 L3 cache-control MOCS entries. */
  GEN9_LNCFCMOCS0: 0xb020,
  GEN8_L3SQCREG4: 0xb118,
  /** Per-engine TLB invalidation requests (GVT-g `gvt_reg_tlb_control_handler`): RCS, VCS, VCS2, BCS, VECS. */
  TLB_INV_RCS: 0x4260,
  /** RPM_CONFIG0: reference clock configuration (read by i915 on gen11+ only). */
  RPM_CONFIG0: 0xd00,
  /** GEN8_MCR_SELECTOR: steering of slice/subslice-specific reads (an i915 GT workaround writes it). */
  GEN8_MCR_SELECTOR: 0xfdc,
  /** GEN8_FUSE2: slice enables (bits 27:25) and, on gen9, subslice disables (bits 23:20). */
  GEN8_FUSE2: 0x9120,
  /** GEN9_EU_DISABLE(slice) = 0x9134 + 4 slice: one byte of EU disables per subslice. */
  GEN9_EU_DISABLE0: 0x9134,
  /** CTC_MODE: source (bit 0) and shift (bits 2:1) of the command streamer's timestamp clock. */
  CTC_MODE: 0xa26c,
  /** GUC_STATUS: bit 0 GS_MIA_IN_RESET (the GuC's microcontroller held in reset). */
  GUC_STATUS: 0xc000,
  /** GUC_WOPCM_SIZE: bit 0 locked (GuC firmware was loaded since power-on). */
  GUC_WOPCM_SIZE: 0xc050,
  /** DMA_GUC_WOPCM_OFFSET: bit 0 valid (GuC firmware was loaded since power-on). */
  DMA_GUC_WOPCM_OFFSET: 0xc340,
  /** HSW_EDRAM_CAP: bit 0 EDRAM_ENABLED (eDRAM parts only). */
  HSW_EDRAM_CAP: 0x120010,
  /** GEN6_GT_THREAD_STATUS_REG: GT thread C-state (gen6 forcewake waits on it). */
  GEN6_GT_THREAD_STATUS_REG: 0x13805c,
  /** GEN6_GT_CORE_STATUS: GT core C-state, bits 2:0 (0: C0). */
  GEN6_GT_CORE_STATUS: 0x138060,
  /** GEN6_RP_STATE_CAP (MCHBAR mirror 0x140000 + 0x5998): RP0 7:0, RP1 15:8, RPn 23:16, 50 MHz units. */
  GEN6_RP_STATE_CAP: 0x145998,
} as const;

/** GT interrupt register offsets of bank `n`. */
export function gtIsr(n: number): number {
  return REG.GEN8_GT_ISR0 + 0x10 * n;
}
export function gtImr(n: number): number {
  return REG.GEN8_GT_ISR0 + 0x10 * n + 4;
}
export function gtIir(n: number): number {
  return REG.GEN8_GT_ISR0 + 0x10 * n + 8;
}
export function gtIer(n: number): number {
  return REG.GEN8_GT_ISR0 + 0x10 * n + 0xc;
}
/** Offset of the low dword of fence register `i`. */
export function fenceReg(i: number): number {
  return REG.FENCE_REG_GEN6_LO0 + 8 * i;
}

/** Register bit fields the device interprets. */
export const Bits = {
  RING_CTL_VALID: 1 << 0,
  /** RING_CTL buffer length: (ctl & mask) + 4 KiB bytes. */
  RING_CTL_SIZE_MASK: 0x1ff000,
  /** RING_HEAD offset bits (20:2). */
  RING_HEAD_ADDR_MASK: 0x1ffffc,
  /** RING_HEAD wrap count (31:21). */
  RING_HEAD_WRAP_SHIFT: 21,
  /** RING_TAIL offset bits (20:3). */
  RING_TAIL_ADDR_MASK: 0x1ffff8,
  GFX_RUN_LIST_ENABLE: 1 << 15,
  GFX_PPGTT_ENABLE: 1 << 9,
  GEN8_GFX_PPGTT_48B: 1 << 7,
  STOP_RING: 1 << 8,
  MODE_IDLE: 1 << 9,
  RESET_CTL_REQUEST_RESET: 1 << 0,
  RESET_CTL_READY_TO_RESET: 1 << 1,
  GEN8_MASTER_IRQ_CONTROL: 0x80000000,
  /** GEN8_CSB_WRITE_PTR_MASK / GEN8_CSB_READ_PTR_MASK (`intel_lrc.h`). */
  CSB_WRITE_PTR_MASK: 0x7,
  CSB_READ_PTR_SHIFT: 8,
  GEN6_GRDOM_FULL: 1 << 0,
  /** GEN9_GRDOM_GUC: the GuC's reset domain in GEN6_GDRST. */
  GEN9_GRDOM_GUC: 1 << 5,
  /** RESET_CTL_CAT_ERROR: a catastrophic error, cleared by hardware. */
  RESET_CTL_CAT_ERROR: 1 << 2,
  /** GUC_STATUS GS_MIA_IN_RESET. */
  GS_MIA_IN_RESET: 1 << 0,
  /** GEN8_FUSE2 slice enables (GEN8_F2_S_ENA) and gen9 subslice disables (GEN9_F2_SS_DIS). */
  GEN8_F2_S_ENA_SHIFT: 25,
  GEN8_F2_S_ENA_MASK: 0x7 << 25,
  GEN9_F2_SS_DIS_SHIFT: 20,
  GEN9_F2_SS_DIS_MASK: 0xf << 20,
  /** CTC_MODE: CTC_SOURCE_DIVIDE_LOGIC (bit 0; 0 is the crystal) and CTC_SHIFT_PARAMETER (bits 2:1). */
  CTC_SOURCE_DIVIDE_LOGIC: 1 << 0,
  CTC_SHIFT_PARAMETER_SHIFT: 1,
  CTC_SHIFT_PARAMETER_MASK: 0x3 << 1,
  RING_FAULT_VALID: 1 << 0,
  RING_FAULT_GTTSEL: 1 << 11,
  FAULT_GTT_SEL: 1 << 4,
} as const;

/** Per-engine interrupt bits, inside the engine's 16-bit field (`i915_reg.h`). */
export const EngineIrq = {
  /** GT_RENDER_USER_INTERRUPT: MI_USER_INTERRUPT. */
  USER: 1 << 0,
  /** GT_CS_MASTER_ERROR_INTERRUPT: command streamer error. */
  CS_ERROR: 1 << 3,
  /** GT_CONTEXT_SWITCH_INTERRUPT: a context-status-buffer update. */
  CONTEXT_SWITCH: 1 << 8,
} as const;

/** CS timestamp frequency of Skylake (12 MHz; i915 `cs_timestamp_frequency_hz` for gen9 big-core). */
export const TIMESTAMP_HZ = 12_000_000;

/**
 * The GT the fuse registers describe: Skylake GT2 (PCI 0x1912, HD Graphics 530), one slice with
 * three of its four subslices enabled and eight EUs in each: 24 EUs.
 */
export const SKL_GT2_SSEU = Object.freeze({ sliceMask: 0b1, subsliceMask: 0b0111, eusPerSubslice: 8 });

/**
 * GEN8_FUSE2 of that GT2: slice 0 enabled (GEN8_F2_S_ENA), subslice 3 disabled (GEN9_F2_SS_DIS).
 * i915 `gen9_sseu_info_init` derives the slice, subslice and EU masks from it and GEN9_EU_DISABLE.
 */
export const SKL_GT2_FUSE2 = ((SKL_GT2_SSEU.sliceMask << Bits.GEN8_F2_S_ENA_SHIFT) | ((~SKL_GT2_SSEU.subsliceMask & 0xf) << Bits.GEN9_F2_SS_DIS_SHIFT)) >>> 0;

/**
 * CTC_MODE: the crystal as source (24 MHz on gen9 big-core) and shift parameter 2, so i915
 * `gen9_read_clock_frequency` derives 24 MHz >> (3 - 2) = 12 MHz: `TIMESTAMP_HZ`.
 */
export const SKL_CTC_MODE = (2 << Bits.CTC_SHIFT_PARAMETER_SHIFT) >>> 0;

// --- row helpers ---------------------------------------------------------------------------------

function r(offset: number, name: string, flags = 0, extra: Partial<RegisterDef> = {}): RegisterDef {
  return { offset, name, flags, ...extra };
}

/** Registers every engine has. */
function engineRows(e: EngineInfo): RegisterDef[] {
  const b = e.mmioBase;
  const n = e.name.toUpperCase();
  const rcs = e.name === 'rcs';
  // GVT-g marks RING_PP_DIR_DCLV CMD_ACCESS on RCS, VCS and BCS only (0x2220, 0x12220, 0x22220).
  const dclvCmd = e.name === 'rcs' || e.name === 'vcs' || e.name === 'bcs' ? CMD : 0;
  const rows: RegisterDef[] = [
    r(b + RING.EXCC, `${n}_RING_EXCC`, CMD),
    r(b + RING.TAIL, `${n}_RING_TAIL`, SR),
    r(b + RING.HEAD, `${n}_RING_HEAD`, SR),
    r(b + RING.START, `${n}_RING_START`, GM | SR),
    r(b + RING.CTL, `${n}_RING_CTL`, SR),
    r(b + RING.SYNC_0, `${n}_RING_SYNC_0`, CMD),
    r(b + RING.SYNC_1, `${n}_RING_SYNC_1`, CMD),
    r(b + RING.PSMI_CTL, `${n}_RING_PSMI_CTL`, MM),
    r(b + RING.MAX_IDLE, `${n}_RING_MAX_IDLE`),
    r(b + RING.ACTHD_UDW, `${n}_RING_ACTHD_UDW`, RO),
    r(b + RING.DMA_FADD_UDW, `${n}_RING_DMA_FADD_UDW`, RO),
    r(b + RING.IPEIR, `${n}_RING_IPEIR`, RO),
    r(b + RING.IPEHR, `${n}_RING_IPEHR`, RO),
    r(b + RING.INSTDONE, `${n}_RING_INSTDONE`, RO, { reset: 0xffffffff }),
    r(b + RING.INSTPS, `${n}_RING_INSTPS`, RO),
    r(b + RING.ACTHD, `${n}_RING_ACTHD`, RO),
    r(b + RING.DMA_FADD, `${n}_RING_DMA_FADD`, RO),
    r(b + RING.HWS_PGA, `${n}_RING_HWS_PGA`, GM),
    r(b + RING.NOPID, `${n}_RING_NOPID`, RO),
    r(b + RING.HWSTAM, `${n}_RING_HWSTAM`, 0, { reset: 0xffffffff }),
    // MODE_IDLE (bit 9) is status: read-only; its value comes from a read handler.
    r(b + RING.MI_MODE, `${n}_RING_MI_MODE`, MM | CMD, { roMask: Bits.MODE_IDLE }),
    r(b + RING.IMR, `${n}_RING_IMR`),
    r(b + RING.EIR, `${n}_RING_EIR`, W1C),
    r(b + RING.EMR, `${n}_RING_EMR`, 0, { reset: 0xffffffff }),
    r(b + RING.ESR, `${n}_RING_ESR`, RO),
    r(b + RING.INSTPM, `${n}_RING_INSTPM`, MM | CMD | (rcs ? SR : 0)),
    r(b + RING.CMD_CCTL, `${n}_RING_CMD_CCTL`),
    r(b + RING.RESET_CTL, `${n}_RING_RESET_CTL`, MM, { roMask: Bits.RESET_CTL_READY_TO_RESET }),
    r(b + RING.CSFE_CHICKEN1, `${n}_CSFE_CHICKEN1`, MM | CMD),
    r(b + RING.BBSTATE, `${n}_RING_BBSTATE`, SR),
    r(b + RING.SBBADDR, `${n}_RING_SBBADDR`, SR),
    r(b + RING.SBBSTATE, `${n}_RING_SBBSTATE`, SR),
    r(b + RING.SBBADDR_UDW, `${n}_RING_SBBADDR_UDW`, SR),
    r(b + RING.REG_134, `${n}_RING_REG_134`, CMD),
    r(b + RING.BBADDR, `${n}_RING_BBADDR`, GM | SR),
    r(b + RING.BBADDR_UDW, `${n}_RING_BBADDR_UDW`, SR),
    r(b + RING.REG_178, `${n}_RING_REG_178`, CMD),
    r(b + RING.REG_17C, `${n}_RING_REG_17C`, CMD),
    r(b + RING.BB_PER_CTX_PTR, `${n}_RING_BB_PER_CTX_PTR`, SR),
    r(b + RING.INDIRECT_CTX, `${n}_RING_INDIRECT_CTX`, SR),
    r(b + RING.INDIRECT_CTX_OFFSET, `${n}_RING_INDIRECT_CTX_OFFSET`, SR),
    r(b + RING.PP_DIR_DCLV, `${n}_RING_PP_DIR_DCLV`, dclvCmd),
    r(b + RING.PP_DIR_BASE, `${n}_RING_PP_DIR_BASE`),
    r(b + RING.ELSP, `${n}_RING_ELSP`),
    r(b + RING.EXECLIST_STATUS_LO, `${n}_RING_EXECLIST_STATUS_LO`, RO),
    r(b + RING.EXECLIST_STATUS_HI, `${n}_RING_EXECLIST_STATUS_HI`, RO),
    r(b + RING.CONTEXT_CONTROL, `${n}_RING_CONTEXT_CONTROL`, MM | CMD | SR),
    r(b + RING.PDP0_LDW, `${n}_RING_PDP_LDW`, CMD | SR, { count: 4, stride: 8 }),
    r(b + RING.PDP0_LDW + 4, `${n}_RING_PDP_UDW`, CMD | SR, { count: 4, stride: 8 }),
    r(b + RING.GFX_MODE, `${n}_RING_MODE_GEN7`, MM | CMD),
    r(b + RING.TIMESTAMP, `${n}_RING_TIMESTAMP`, CMD),
    r(b + RING.TIMESTAMP_UDW, `${n}_RING_TIMESTAMP_UDW`, CMD),
    r(b + RING.CSB0_LO, `${n}_RING_CONTEXT_STATUS_BUF_LO`, RO, { count: 6, stride: 8 }),
    r(b + RING.CSB0_LO + 4, `${n}_RING_CONTEXT_STATUS_BUF_HI`, RO, { count: 6, stride: 8 }),
    // Write pointer 2:0 is the hardware's; software moves the read pointer (10:8). Reset: write
    // pointer 7 ("nothing written yet"), as GVT-g's `init_vgpu_execlist` sets it.
    r(b + RING.CSB_PTR, `${n}_RING_CONTEXT_STATUS_PTR`, MM, { roMask: Bits.CSB_WRITE_PTR_MASK, reset: 0x7 }),
    r(b + RING.CTX_TIMESTAMP, `${n}_RING_CTX_TIMESTAMP`, SR),
    // gvtkit addition: the CS GPRs (i915_cmd_parser.c whitelists HSW_CS_GPR / BCS_GPR; GVT-g marks
    // GEN8_RING_CS_GPR CMD_ACCESS on BXT).
    r(b + RING.GPR0, `${n}_CS_GPR`, CMD, { width: 8, count: 16 }),
    // MOCS control table of the engine (GVT-g: GEN9_GFX_MOCS range F_CMD_ACCESS).
    r(e.mocsBase, `${n}_MOCS`, CMD, { count: 64 }),
  ];
  // handlers.c init_generic_mmio_info: MMIO_GM_RDR(_MMIO(0x12198)), a GGTT address register of the video engine.
  if (e.name === 'vcs') rows.push(r(b + 0x198, `${n}_RING_REG_198`, GM | CMD));
  return rows;
}

/** Render-only registers (all in the RCS page 0x2000-0x2fff). */
function renderRows(): RegisterDef[] {
  return [
    // handlers.c init_generic_mmio_info: F_MODE_MASK | F_CMD_ACCESS
    r(0x2088, 'RCS_REG_2088', MM | CMD),
    r(0x2090, '_3D_CHICKEN3', MM | CMD),
    r(0x20a0, 'GEN7_FF_THREAD_MODE', CMD),
    r(0x20c8, 'GEN8_R_PWR_CLK_STATE', SR),
    r(0x20dc, 'RCS_REG_20DC', MM | CMD),
    r(0x20e0, 'GEN7_FF_SLICE_CS_CHICKEN1', MM | CMD),
    r(0x20e4, 'FF_SLICE_CS_CHICKEN2', MM | CMD),
    r(0x20ec, 'GEN9_CS_DEBUG_MODE1', MM | CMD),
    r(0x2120, 'CACHE_MODE_0', MM | CMD),
    r(0x2124, 'RCS_REG_2124', MM | CMD),
    r(0x2148, 'RCS_REG_2148', GM | CMD),
    r(0x215c, 'RCS_REG_215C', CMD),
    r(0x2180, 'CCID', GM | CMD),
    r(0x21f0, 'RCS_REG_21F0', CMD | SRM),
    r(0x2248, 'GEN9_CTX_PREEMPT_REG'),
    r(0x2290, 'GPGPU_THREADS_DISPATCHED', CMD, { width: 8 }),
    // Pipeline statistics counters (handlers.c: 8 bytes each, F_CMD_ACCESS).
    r(0x2300, 'HS_INVOCATION_COUNT', CMD, { width: 8 }),
    r(0x2308, 'DS_INVOCATION_COUNT', CMD, { width: 8 }),
    r(0x2310, 'IA_VERTICES_COUNT', CMD, { width: 8 }),
    r(0x2318, 'IA_PRIMITIVES_COUNT', CMD, { width: 8 }),
    r(0x2320, 'VS_INVOCATION_COUNT', CMD, { width: 8 }),
    r(0x2328, 'GS_INVOCATION_COUNT', CMD, { width: 8 }),
    r(0x2330, 'GS_PRIMITIVES_COUNT', CMD, { width: 8 }),
    r(0x2338, 'CL_INVOCATION_COUNT', CMD, { width: 8 }),
    r(0x2340, 'CL_PRIMITIVES_COUNT', CMD, { width: 8 }),
    r(0x2348, 'PS_INVOCATION_COUNT', CMD, { width: 8 }),
    r(0x2350, 'PS_DEPTH_COUNT', CMD, { width: 8 }),
    // gvtkit addition (i915_cmd_parser.c render whitelist): predicate sources.
    r(0x2400, 'MI_PREDICATE_SRC0', CMD, { width: 8 }),
    r(0x2408, 'MI_PREDICATE_SRC1', CMD, { width: 8 }),
    r(0x2420, 'GEN7_3DPRIM_END_OFFSET', CMD),
    r(0x2430, 'GEN7_3DPRIM_START_VERTEX', CMD),
    r(0x2434, 'GEN7_3DPRIM_VERTEX_COUNT', CMD),
    r(0x2438, 'GEN7_3DPRIM_INSTANCE_COUNT', CMD),
    r(0x243c, 'GEN7_3DPRIM_START_INSTANCE', CMD),
    // gvtkit addition (i915_cmd_parser.c render whitelist).
    r(0x2440, 'GEN7_3DPRIM_BASE_VERTEX', CMD),
    r(0x2470, 'RCS_REG_2470', MM | CMD),
    // RING_FORCE_TO_NONPRIV(RENDER_RING_BASE, 0..11): F_CMD_ACCESS | F_CMD_WRITE_PATCH in GVT-g.
    r(0x24d0, 'RING_FORCE_TO_NONPRIV', CMD, { count: 12 }),
    // gvtkit addition (i915_cmd_parser.c render whitelist): indirect dispatch dimensions.
    r(0x2500, 'GPGPU_DISPATCHDIMX', CMD),
    r(0x2504, 'GPGPU_DISPATCHDIMY', CMD),
    r(0x2508, 'GPGPU_DISPATCHDIMZ', CMD),
    r(0x2580, 'GEN8_CS_CHICKEN1', MM | CMD | SR),
  ];
}

/** Global registers (GT, caches, interrupts, fences, power). */
function globalRows(): RegisterDef[] {
  const rows: RegisterDef[] = [
    r(REG.FORCEWAKE_ACK_RENDER_GEN9, 'FORCEWAKE_ACK_RENDER_GEN9', RO),
    r(REG.FORCEWAKE_ACK_MEDIA_GEN9, 'FORCEWAKE_ACK_MEDIA_GEN9', RO),
    r(0x4030, 'ARB_MODE', MM | CMD),
    r(0x4090, 'GAM_ECOCHK', CMD),
    r(REG.GEN8_RING_FAULT_REG, 'GEN8_RING_FAULT_REG', CMD),
    // handlers.c init_generic_mmio_info: MMIO_GM_RDR of the Gen7 per-engine status-page addresses.
    r(0x4180, 'BSD_HWS_PGA_GEN7', GM | CMD),
    r(0x4280, 'BLT_HWS_PGA_GEN7', GM | CMD),
    r(0x4380, 'VEBOX_HWS_PGA_GEN7', GM | CMD),
    r(REG.GEN8_PRIVATE_PAT_LO, 'GEN8_PRIVATE_PAT_LO'),
    r(REG.GEN8_PRIVATE_PAT_HI, 'GEN8_PRIVATE_PAT_HI'),
    // Per-engine TLB invalidation (RCS 0x4260, VCS 0x4264, VCS2 0x4268, BCS 0x426c, VECS 0x4270).
    r(REG.TLB_INV_RCS, 'GEN8_TLB_INV', 0, { count: 5 }),
    r(0x4ab0, 'GEN9_GAMT_ECO_REG_RW_IA', CMD),
    r(0x4ab8, 'GAMT_CHKN_BIT_REG'),
    r(REG.GEN8_FAULT_TLB_DATA0, 'GEN8_FAULT_TLB_DATA0', RO),
    r(REG.GEN8_FAULT_TLB_DATA1, 'GEN8_FAULT_TLB_DATA1', RO),
    r(0x4ddc, 'MMCD_MISC_CTRL', CMD),
    // TR-TT (tiled resources translation tables), in the context image (mmio_context.c).
    r(0x4de0, 'TRVATTL3PTRDW', CMD | SR, { count: 2 }),
    r(0x4de8, 'TRNULLDETCT', CMD | SR),
    r(0x4dec, 'TRINVTILEDETCT', CMD | SR),
    r(0x4df0, 'TRVADR', CMD | SR),
    r(0x4df4, 'TRTTE', CMD | SR),
    // Stream-output counters and offsets (handlers.c 0x5200/32, 0x5240/32, 0x5280/16 bytes).
    r(0x5200, 'GEN7_SO_NUM_PRIMS_WRITTEN', CMD, { width: 8, count: 4 }),
    r(0x5240, 'GEN7_SO_PRIM_STORAGE_NEEDED', CMD, { width: 8, count: 4 }),
    r(0x5280, 'GEN7_SO_WRITE_OFFSET', CMD, { count: 4 }),
    r(0x5588, 'GEN9_WM_CHICKEN3', MM | CMD),
    r(0x7000, 'CACHE_MODE_0_GEN7', MM | CMD | SR),
    r(0x7004, 'CACHE_MODE_1', MM | CMD | SR),
    r(0x7008, 'GEN7_GT_MODE', MM | CMD | SR),
    r(0x7010, 'GEN7_COMMON_SLICE_CHICKEN1', MM | CMD | SR),
    r(0x7014, 'COMMON_SLICE_CHICKEN2', MM | CMD | SR),
    r(0x7018, 'GT_REG_7018', MM | CMD),
    r(0x7300, 'HDC_CHICKEN0', MM | CMD | SR),
    r(0x7304, 'GEN8_HDC_CHICKEN1', MM | CMD | SR),
    r(0x83a4, 'VF_GUARDBAND', SR),
    r(0x9030, 'GT_REG_9030', CMD),
    r(0x940c, 'GEN7_UCGCTL4', CMD),
    r(REG.GEN6_GDRST, 'GEN6_GDRST'),
    r(0x9430, 'GEN8_UCGCTL6', CMD),
    r(REG.FORCEWAKE_BLITTER_GEN9, 'FORCEWAKE_BLITTER_GEN9', MM),
    r(REG.FORCEWAKE_MEDIA_GEN9, 'FORCEWAKE_MEDIA_GEN9', MM),
    r(REG.FORCEWAKE_RENDER_GEN9, 'FORCEWAKE_RENDER_GEN9', MM),
    r(0xb004, 'GEN8_GARBCNTL', CMD),
    r(0xb008, 'GEN9_SCRATCH_LNCF1'),
    // L3 cache-control MOCS (GVT-g: GEN7_L3CNTLREG2 range of 0x80 bytes, F_CMD_ACCESS).
    r(REG.GEN9_LNCFCMOCS0, 'GEN9_LNCFCMOCS', CMD, { count: 32 }),
    r(REG.GEN8_L3SQCREG4, 'GEN8_L3SQCREG4', CMD | SRM),
    r(0xb11c, 'GEN9_SCRATCH1', CMD),
    r(0xe100, 'GEN7_HALF_SLICE_CHICKEN1', MM | CMD | SR),
    r(0xe180, 'HALF_SLICE_CHICKEN2', MM | CMD | SR),
    r(0xe184, 'HALF_SLICE_CHICKEN3', MM | CMD | SR),
    r(0xe188, 'GEN9_HALF_SLICE_CHICKEN5', MM | CMD | SR),
    r(0xe194, 'GEN9_HALF_SLICE_CHICKEN7', MM | CMD | SR),
    // init_bdw_mmio_info: 0xe220 ... 0xe2c0, F_CMD_ACCESS.
    ...[0xe220, 0xe230, 0xe240, 0xe260, 0xe270, 0xe280, 0xe2a0, 0xe2b0, 0xe2c0].map((o) =>
      r(o, `GT_REG_${o.toString(16).toUpperCase()}`, CMD)),
    r(0xe4cc, 'GT_REG_E4CC', CMD),
    r(0xe4f0, 'GEN8_ROW_CHICKEN', MM | CMD | SR),
    r(0xe4f4, 'GEN7_ROW_CHICKEN2', MM | CMD),
    r(0x22200, 'BCS_SWCTRL', CMD),
    r(REG.GEN8_MASTER_IRQ, 'GEN8_MASTER_IRQ', 0, { roMask: 0x7fffffff }),
    r(REG.GEN8_GT_ISR0, 'GEN8_GT_ISR', RO, { count: 4, stride: 0x10 }),
    r(REG.GEN8_GT_ISR0 + 4, 'GEN8_GT_IMR', 0, { count: 4, stride: 0x10, reset: 0xffffffff }),
    r(REG.GEN8_GT_ISR0 + 8, 'GEN8_GT_IIR', W1C, { count: 4, stride: 0x10 }),
    r(REG.GEN8_GT_ISR0 + 0xc, 'GEN8_GT_IER', 0, { count: 4, stride: 0x10 }),
    r(REG.FENCE_REG_GEN6_LO0, 'FENCE_REG_GEN6', 0, { width: 8, count: 32 }),
    r(REG.GFX_FLSH_CNTL_GEN6, 'GFX_FLSH_CNTL_GEN6'),
    r(0x120000, 'GTFIFODBG', CMD),
    r(0x120008, 'GTFIFOCTL', CMD),
    r(REG.FORCEWAKE_ACK_BLITTER_GEN9, 'FORCEWAKE_ACK_BLITTER_GEN9', RO),
  ];
  return rows;
}

/**
 * GT registers an i915 guest (Linux 6.1) reads while it probes and initialises the GT, with the
 * values a Skylake GT2 (`SKL_GT2_SSEU`) reads. GVT-g tracks each of them except CTC_MODE,
 * GUC_WOPCM_SIZE and DMA_GUC_WOPCM_OFFSET (Linux 6.1 `intel_gvt_mmio_table.c`) and gives a vGPU the
 * host's values at GVT-g's start (`save_initial_hw_state`, `intel_vgpu_reset_mmio`). Each row
 * names the i915 function that reads it; docs/mmio.md lists them with their sources.
 */
function gtProbeRows(): RegisterDef[] {
  return [
    // gen11+ only (gen11_read_clock_frequency); tracked by GVT-g on SKL+ (iterate_skl_plus_mmio).
    r(REG.RPM_CONFIG0, 'RPM_CONFIG0', RO),
    // gen9_wa_init_mcr writes it (WaProgramMgsrForCorrectSliceSpecificMmioReads) and
    // intel_gt_verify_workarounds reads it back: plain storage (GVT-g MMIO_D(0xfdc)).
    r(REG.GEN8_MCR_SELECTOR, 'GEN8_MCR_SELECTOR'),
    // gen9_sseu_info_init: zero fuses would mean no slice at all.
    r(REG.GEN8_FUSE2, 'GEN8_FUSE2', RO, { reset: SKL_GT2_FUSE2 }),
    r(REG.GEN9_EU_DISABLE0, 'GEN9_EU_DISABLE', RO, { count: 3 }),
    // intel_gt_init_clock_frequency → gen9_read_clock_frequency.
    r(REG.CTC_MODE, 'CTC_MODE', RO, { reset: SKL_CTC_MODE }),
    // __intel_uc_reset_hw: after a GuC domain reset, i915 WARNs unless GS_MIA_IN_RESET is set;
    // GVT-g's intel_vgpu_reset_mmio sets it at creation (the vGPU's handler rows keep it going).
    r(REG.GUC_STATUS, 'GUC_STATUS', RO, { reset: Bits.GS_MIA_IN_RESET }),
    // __uc_check_hw → uc_is_wopcm_locked: a lock bit makes i915 fail init without GuC.
    r(REG.GUC_WOPCM_SIZE, 'GUC_WOPCM_SIZE', RO),
    r(REG.DMA_GUC_WOPCM_OFFSET, 'DMA_GUC_WOPCM_OFFSET', RO),
    // intel_dram_edram_detect: a GT2 has no eDRAM.
    r(REG.HSW_EDRAM_CAP, 'HSW_EDRAM_CAP', RO),
    // C0, as GVT-g's intel_vgpu_reset_mmio sets them.
    r(REG.GEN6_GT_THREAD_STATUS_REG, 'GEN6_GT_THREAD_STATUS_REG', RO),
    r(REG.GEN6_GT_CORE_STATUS, 'GEN6_GT_CORE_STATUS', RO),
    // gen6_rps_init: RP0 = RP1 = RPn = 0 leaves the guest's RPS disabled (intel_rps_enable: "no
    // room for dynamic reclocking"); a vGPU's frequency requests would go nowhere.
    r(REG.GEN6_RP_STATE_CAP, 'GEN6_RP_STATE_CAP', RO),
    // gtt_write_workarounds (WaGttCachingOffByDefault): i915 writes GTT_CACHE_EN_ALL and WARNs if
    // it reads back 0. GVT-g leaves it untracked, so its guests read the host's value (the host
    // i915 wrote GTT_CACHE_EN_ALL); here plain storage starting at that value.
    r(0x4024, 'HSW_GTT_CACHE_EN', 0, { reset: 0xf000_7fff }),
  ];
}

/** Every row of the Gen9 host register table. */
export const GEN9_REGISTER_DEFS: readonly RegisterDef[] = Object.freeze([
  ...GEN9_ENGINES.flatMap(engineRows),
  ...renderRows(),
  ...globalRows(),
  ...gtProbeRows(),
]);

/** The Gen9 register table, compiled (and checked) once and shared by every device. */
export const GEN9_REGISTERS: CompiledRegisters = compileRegisters(GEN9_REGISTER_DEFS);
