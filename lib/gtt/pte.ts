/**
 * Gen8+ 64-bit page-table entries, as two u32 halves (no BigInt).
 *
 * Layout (Linux `i915_gem_gtt.h` GEN8_PAGE_PRESENT / GEN8_PAGE_RW / PPAT bits; Intel PRM "GTT
 * entry format"): bit 0 present, bit 1 read/write (PPGTT), bit 3 PWT, bit 4 PCD, bit 7 PAT
 * (in a PDE/PDPE: PS, a 2 MiB/1 GiB page), bit 11 IPS in a PDE (64 KiB pages in the PT below),
 * bits 38:12 the physical address (39-bit physical addresses on Gen9).
 */
import { TWO_POW_32 } from '../types.js';

/** Present. */
export const PTE_PRESENT = 1 << 0;
/** Writable (PPGTT entries). */
export const PTE_RW = 1 << 1;
/** Page write-through (PPAT index bit 0). */
export const PTE_PWT = 1 << 3;
/** Page cache disable (PPAT index bit 1). */
export const PTE_PCD = 1 << 4;
/** PAT (PPAT index bit 2) in a PTE; PS (huge page) in a PDE or PDPE. */
export const PTE_PAT = 1 << 7;
export const PDE_PS = 1 << 7;
/** IPS in a PDE: the page table below maps 64 KiB pages (Gen9). */
export const PDE_IPS = 1 << 11;
/** Bits of the low half that hold address bits 31:12. */
export const PTE_ADDR_MASK_LO = 0xfffff000;
/** Bits of the high half that hold address bits 38:32. */
export const PTE_ADDR_MASK_HI = 0x7f;
/** Largest physical address a PTE can name, plus one (2^39). */
export const PTE_ADDR_LIMIT = 2 ** 39;
/** Flag bits a PTE may carry in its low half. */
export const PTE_FLAGS_MASK = 0xfff;

/** Physical frame number held in a PTE given by its halves. */
export function pteFrame(lo: number, hi: number): number {
  return (hi & PTE_ADDR_MASK_HI) * (TWO_POW_32 / 4096) + ((lo & PTE_ADDR_MASK_LO) >>> 12);
}

/** Physical address held in a PTE given by its halves. */
export function pteAddr(lo: number, hi: number): number {
  return (hi & PTE_ADDR_MASK_HI) * TWO_POW_32 + ((lo & PTE_ADDR_MASK_LO) >>> 0);
}

/** True when the present bit is set. */
export function ptePresent(lo: number): boolean {
  return (lo & PTE_PRESENT) !== 0;
}

/** Low half of a PTE for `frame` with `flags` (bits 11:0). */
export function pteLo(frame: number, flags: number): number {
  return (((frame % (TWO_POW_32 / 4096)) * 4096) | (flags & PTE_FLAGS_MASK)) >>> 0;
}

/** High half of a PTE for `frame`. */
export function pteHi(frame: number): number {
  return Math.floor(frame / (TWO_POW_32 / 4096)) & PTE_ADDR_MASK_HI;
}

/** A decoded PTE, for tools and tests (hot paths use the half-word helpers). */
export interface DecodedPte {
  present: boolean;
  writable: boolean;
  /** PPAT index (PAT << 2 | PCD << 1 | PWT). */
  ppat: number;
  /** PS / huge page bit (meaningful in a PDE or PDPE). */
  huge: boolean;
  /** IPS bit (meaningful in a PDE). */
  ips: boolean;
  frame: number;
  addr: number;
}

/** Decode a PTE into its fields. */
export function decodePte(lo: number, hi: number): DecodedPte {
  return {
    present: (lo & PTE_PRESENT) !== 0,
    writable: (lo & PTE_RW) !== 0,
    ppat: ((lo >>> 3) & 1) | (((lo >>> 4) & 1) << 1) | (((lo >>> 7) & 1) << 2),
    huge: (lo & PDE_PS) !== 0,
    ips: (lo & PDE_IPS) !== 0,
    frame: pteFrame(lo, hi),
    addr: pteAddr(lo, hi),
  };
}

/** Encode PTE fields; returns [lo, hi]. */
export function encodePte(f: { frame: number; present?: boolean; writable?: boolean; ppat?: number; huge?: boolean; ips?: boolean }): [number, number] {
  const ppat = f.ppat ?? 0;
  let flags = 0;
  if (f.present ?? true) flags |= PTE_PRESENT;
  if (f.writable) flags |= PTE_RW;
  if (ppat & 1) flags |= PTE_PWT;
  if (ppat & 2) flags |= PTE_PCD;
  if ((ppat & 4) || f.huge) flags |= PTE_PAT;
  if (f.ips) flags |= PDE_IPS;
  return [pteLo(f.frame, flags), pteHi(f.frame)];
}
