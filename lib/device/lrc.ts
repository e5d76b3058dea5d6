/**
 * Logical ring contexts (execlists): descriptors, the context image layout, context-status events.
 *
 * Facts from Linux `gt/intel_lrc_reg.h`, `gt/intel_lrc.c` and GVT-g `gvt/execlist.h`:
 * - Descriptor (64 bits): bit 0 valid, bit 1 force page-directory restore, bit 2 force restore,
 *   bits 4:3 addressing mode (0 advanced, 1 legacy 32-bit PPGTT, 2 advanced A/D, 3 legacy 64-bit
 *   4-level PPGTT), bit 5 L3LLC coherent, bits 7:6 fault handling, bit 8 privilege, bits 31:12 the
 *   LRCA (GGTT address of the context, 4 KiB aligned), bits 63:32 the context id.
 * - Image: page 0 is the per-process hardware status page (PPHWSP), page 1 the register state,
 *   22 pages in all for the Gen9 render engine, 2 for the others. In the register state, pairs of
 *   (register offset, value) follow MI_LOAD_REGISTER_IMM headers; the CTX_* indices below name the
 *   offset dword, the value sits at index + 1.
 * - Context status buffer (CSB) event bits (`execlist_context_status_format`): idle to active 0,
 *   preempted 1, element switch 2, active to idle 3, context complete 4, lite restore 15; the
 *   upper dword is the context id.
 * - The engine's hardware status page mirrors the CSB at dword 0x10 (I915_HWS_CSB_BUF0_INDEX) and
 *   the write pointer at dword 0x1f (I915_HWS_CSB_WRITE_INDEX).
 */
import { RangeArgError } from '../errors.js';
import { PAGE_SIZE } from '../types.js';
import type { EngineInfo } from './engines.js';
import { RING } from './registers.js';

/** Descriptor bits (low dword). */
export const Desc = {
  VALID: 1 << 0,
  FORCE_PD_RESTORE: 1 << 1,
  FORCE_RESTORE: 1 << 2,
  ADDRESSING_MODE_SHIFT: 3,
  ADDRESSING_MODE_MASK: 3 << 3,
  L3LLC_COHERENT: 1 << 5,
  PRIVILEGE: 1 << 8,
  LRCA_MASK: 0xfffff000,
} as const;

/** Addressing modes of a context (`enum { INTEL_ADVANCED_CONTEXT, INTEL_LEGACY_32B_CONTEXT, ... }`). */
export const AddressingMode = {
  ADVANCED: 0,
  LEGACY_32B: 1,
  ADVANCED_AD: 2,
  LEGACY_64B: 3,
} as const;

/** Context-status event bits (CSB entry low dword). */
export const CtxStatus = {
  IDLE_TO_ACTIVE: 1 << 0,
  PREEMPTED: 1 << 1,
  ELEMENT_SWITCH: 1 << 2,
  ACTIVE_TO_IDLE: 1 << 3,
  COMPLETE: 1 << 4,
  LITE_RESTORE: 1 << 15,
} as const;

/** Number of CSB entries on Gen8/Gen9 (GEN8_CSB_ENTRIES). */
export const CSB_ENTRIES = 6;
/** Dword index of the first CSB copy in the engine's hardware status page. */
export const HWS_CSB_BUF0_INDEX = 0x10;
/** Dword index of the CSB write pointer copy in the engine's hardware status page. */
export const HWS_CSB_WRITE_INDEX = 0x1f;

/** Register-state dword indices (`intel_lrc_reg.h`); the value is at index + 1. */
export const CtxReg = {
  LRI_HEADER_0: 0x01,
  CONTEXT_CONTROL: 0x02,
  RING_HEAD: 0x04,
  RING_TAIL: 0x06,
  RING_BUFFER_START: 0x08,
  RING_BUFFER_CONTROL: 0x0a,
  BB_HEAD_U: 0x0c,
  BB_HEAD_L: 0x0e,
  BB_STATE: 0x10,
  SECOND_BB_HEAD_U: 0x12,
  SECOND_BB_HEAD_L: 0x14,
  SECOND_BB_STATE: 0x16,
  BB_PER_CTX_PTR: 0x18,
  RCS_INDIRECT_CTX: 0x1a,
  RCS_INDIRECT_CTX_OFFSET: 0x1c,
  LRI_HEADER_1: 0x21,
  CTX_TIMESTAMP: 0x22,
  PDP3_UDW: 0x24,
  PDP3_LDW: 0x26,
  PDP2_UDW: 0x28,
  PDP2_LDW: 0x2a,
  PDP1_UDW: 0x2c,
  PDP1_LDW: 0x2e,
  PDP0_UDW: 0x30,
  PDP0_LDW: 0x32,
  LRI_HEADER_2: 0x41,
  R_PWR_CLK_STATE: 0x42,
} as const;

/**
 * Engine registers (offsets relative to the engine's MMIO base) that the device model restores
 * from the context image into the register file at every context load (`Engine.loadElement`):
 * the ring registers, RING_CONTEXT_CONTROL, RING_CTX_TIMESTAMP and the four PDPs. What a command
 * writes to one of them cannot outlive its context: the next context's image overwrites it. Every
 * other register a command may reach is switched per vGPU by the mediator (`RegisterResidue`,
 * docs/isolation.md). i915 lays these out in `intel_lrc_reg.h` (CTX_* slots).
 */
export const CONTEXT_IMAGE_REGISTERS: readonly number[] = Object.freeze([
  RING.CONTEXT_CONTROL, RING.HEAD, RING.TAIL, RING.START, RING.CTL, RING.CTX_TIMESTAMP,
  ...[0, 1, 2, 3].flatMap((n) => [RING.PDP0_LDW + 8 * n, RING.PDP0_LDW + 8 * n + 4]),
]);

/** True when BAR0 `offset` is a register of `engines` the context load restores (`CONTEXT_IMAGE_REGISTERS`). */
export function inContextImage(offset: number, engines: readonly EngineInfo[]): boolean {
  for (const e of engines) {
    const rel = offset - e.mmioBase;
    if (rel >= 0 && rel < 0x1000) return CONTEXT_IMAGE_REGISTERS.includes(rel);
  }
  return false;
}

/** Register-state dword index of PDP `n`'s low / high dword. */
export function ctxPdpLdw(n: number): number {
  return CtxReg.PDP0_LDW - 4 * n;
}
export function ctxPdpUdw(n: number): number {
  return CtxReg.PDP0_UDW - 4 * n;
}

/**
 * BB_STATE bits the model saves in the image: bit 5 is the hardware's address-space indicator
 * (RING_BB_PPGTT in i915); bit 0 is the model's own "batch in progress" flag, set when a context is
 * preempted inside a batch so that its restore resumes there.
 */
export const BbState = {
  ACTIVE: 1 << 0,
  PPGTT: 1 << 5,
} as const;

/** A decoded context descriptor. */
export interface ContextDescriptor {
  valid: boolean;
  forcePdRestore: boolean;
  forceRestore: boolean;
  addressingMode: number;
  privilege: boolean;
  /** GGTT address of the context image. */
  lrca: number;
  contextId: number;
}

/** Decode a descriptor from its halves. */
export function decodeDescriptor(lo: number, hi: number): ContextDescriptor {
  return {
    valid: (lo & Desc.VALID) !== 0,
    forcePdRestore: (lo & Desc.FORCE_PD_RESTORE) !== 0,
    forceRestore: (lo & Desc.FORCE_RESTORE) !== 0,
    addressingMode: (lo & Desc.ADDRESSING_MODE_MASK) >>> Desc.ADDRESSING_MODE_SHIFT,
    privilege: (lo & Desc.PRIVILEGE) !== 0,
    lrca: (lo & Desc.LRCA_MASK) >>> 0,
    contextId: hi >>> 0,
  };
}

/** Options of `encodeDescriptor`. */
export interface DescriptorOptions {
  lrca: number;
  contextId: number;
  /** Default LEGACY_64B (3). */
  addressingMode?: number;
  /** Default true. */
  privilege?: boolean;
  /** Default true. */
  valid?: boolean;
  forceRestore?: boolean;
  forcePdRestore?: boolean;
}

/** Encode a descriptor; returns `[lo, hi]`. Throws on a misaligned or oversized LRCA. */
export function encodeDescriptor(o: DescriptorOptions): [number, number] {
  if (!Number.isInteger(o.lrca) || o.lrca < 0 || o.lrca >= 2 ** 32 || o.lrca % PAGE_SIZE !== 0) {
    throw new RangeArgError(`descriptor: LRCA 0x${o.lrca.toString(16)} must be a 4 KiB aligned 32-bit GGTT address`);
  }
  const mode = o.addressingMode ?? AddressingMode.LEGACY_64B;
  if (!Number.isInteger(mode) || mode < 0 || mode > 3) throw new RangeArgError(`descriptor: addressing mode ${mode}`);
  let lo = o.lrca | (mode << Desc.ADDRESSING_MODE_SHIFT);
  if (o.valid ?? true) lo |= Desc.VALID;
  if (o.privilege ?? true) lo |= Desc.PRIVILEGE;
  if (o.forceRestore) lo |= Desc.FORCE_RESTORE;
  if (o.forcePdRestore) lo |= Desc.FORCE_PD_RESTORE;
  return [lo >>> 0, o.contextId >>> 0];
}

/** Dword access to graphics memory (e.g. through the GGTT); what the image helpers write through. */
export interface GraphicsMemoryView {
  read32(gma: number): number;
  write32(gma: number, value: number): void;
}

/** MI_LOAD_REGISTER_IMM header for `n` registers, with Force Posted (bit 12) as i915 writes it. */
function lriHeader(n: number): number {
  return ((0x22 << 23) | (1 << 12) | (2 * n - 1)) >>> 0;
}

/** Options of `writeContextImage`. */
export interface ContextImageOptions {
  /** GGTT address of the ring buffer. */
  ringStart: number;
  /** Ring size in bytes (4 KiB multiple, up to 2 MiB). */
  ringSize: number;
  /** Head and tail offsets in the ring (bytes). */
  head?: number;
  tail?: number;
  /**
   * PPGTT roots: for LEGACY_64B the PML4 address in `pdps[0]`; for LEGACY_32B four page-directory
   * addresses. Zero (the default) means no PPGTT.
   */
  pdps?: readonly number[];
  /** Value of CTX_CONTEXT_CONTROL (a masked write, as i915 stores it). */
  contextControl?: number;
}

/**
 * Write the register state of a fresh logical ring context at `lrca` (the PPHWSP page is left as
 * is) the way i915 lays it out: NOOP, LRI headers, (offset, value) pairs at the CTX_* indices.
 */
export function writeContextImage(mem: GraphicsMemoryView, lrca: number, engine: EngineInfo, o: ContextImageOptions): void {
  if (o.ringSize % PAGE_SIZE !== 0 || o.ringSize < PAGE_SIZE || o.ringSize > 2 * 1024 * 1024) {
    throw new RangeArgError(`context image: ring size ${o.ringSize} must be a 4 KiB multiple up to 2 MiB`);
  }
  const regState = lrca + PAGE_SIZE;
  const b = engine.mmioBase;
  const rcs = engine.name === 'rcs';
  const set = (index: number, reg: number, value: number) => {
    mem.write32(regState + index * 4, reg >>> 0);
    mem.write32(regState + (index + 1) * 4, value >>> 0);
  };
  for (let i = 0; i < 0x50; i++) mem.write32(regState + i * 4, 0);
  mem.write32(regState + CtxReg.LRI_HEADER_0 * 4, lriHeader(rcs ? 14 : 11));
  set(CtxReg.CONTEXT_CONTROL, b + RING.CONTEXT_CONTROL, o.contextControl ?? 0xffff0000);
  set(CtxReg.RING_HEAD, b + RING.HEAD, o.head ?? 0);
  set(CtxReg.RING_TAIL, b + RING.TAIL, o.tail ?? 0);
  set(CtxReg.RING_BUFFER_START, b + RING.START, o.ringStart);
  set(CtxReg.RING_BUFFER_CONTROL, b + RING.CTL, ((o.ringSize - PAGE_SIZE) & 0x1ff000) | 1);
  set(CtxReg.BB_HEAD_U, b + RING.BBADDR_UDW, 0);
  set(CtxReg.BB_HEAD_L, b + RING.BBADDR, 0);
  set(CtxReg.BB_STATE, b + RING.BBSTATE, BbState.PPGTT);
  set(CtxReg.SECOND_BB_HEAD_U, b + RING.SBBADDR_UDW, 0);
  set(CtxReg.SECOND_BB_HEAD_L, b + RING.SBBADDR, 0);
  set(CtxReg.SECOND_BB_STATE, b + RING.SBBSTATE, 0);
  if (rcs) {
    set(CtxReg.BB_PER_CTX_PTR, b + RING.BB_PER_CTX_PTR, 0);
    set(CtxReg.RCS_INDIRECT_CTX, b + RING.INDIRECT_CTX, 0);
    set(CtxReg.RCS_INDIRECT_CTX_OFFSET, b + RING.INDIRECT_CTX_OFFSET, 0);
  }
  mem.write32(regState + CtxReg.LRI_HEADER_1 * 4, lriHeader(9));
  set(CtxReg.CTX_TIMESTAMP, b + RING.CTX_TIMESTAMP, 0);
  const pdps = o.pdps ?? [];
  for (let n = 3; n >= 0; n--) {
    const addr = pdps[n] ?? 0;
    set(ctxPdpUdw(n), b + RING.PDP0_LDW + 8 * n + 4, Math.floor(addr / 2 ** 32) >>> 0);
    set(ctxPdpLdw(n), b + RING.PDP0_LDW + 8 * n, addr >>> 0);
  }
  if (rcs) {
    mem.write32(regState + CtxReg.LRI_HEADER_2 * 4, lriHeader(1));
    set(CtxReg.R_PWR_CLK_STATE, 0x20c8, 0);
  }
}

/** Read the value of register-state slot `index` of the context at `lrca`. */
export function readContextValue(mem: GraphicsMemoryView, lrca: number, index: number): number {
  return mem.read32(lrca + PAGE_SIZE + (index + 1) * 4);
}

/** Write the value of register-state slot `index` of the context at `lrca`. */
export function writeContextValue(mem: GraphicsMemoryView, lrca: number, index: number, value: number): void {
  mem.write32(lrca + PAGE_SIZE + (index + 1) * 4, value >>> 0);
}

/** Names of the CSB event bits set in `status` (for traces and the demo). */
export function csbEventNames(status: number): string[] {
  const out: string[] = [];
  if (status & CtxStatus.IDLE_TO_ACTIVE) out.push('idle-to-active');
  if (status & CtxStatus.PREEMPTED) out.push('preempted');
  if (status & CtxStatus.ELEMENT_SWITCH) out.push('element-switch');
  if (status & CtxStatus.ACTIVE_TO_IDLE) out.push('active-to-idle');
  if (status & CtxStatus.COMPLETE) out.push('complete');
  if (status & CtxStatus.LITE_RESTORE) out.push('lite-restore');
  return out;
}
