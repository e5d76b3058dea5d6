/**
 * A Gen8/Gen9 PPGTT walker, generic over the memory the tables live in (host memory for the
 * device and the shadow tables, a guest memory for guest tables).
 *
 * Formats (Linux `i915_gem_gtt.h` / `gt/gen8_ppgtt.c`, GVT-g `gvt/gtt.c`; see GVT-FACTS "PPGTT"):
 * - 4-level (legacy 64-bit contexts): PML4 index gma[47:39], PDP index gma[38:30], PD index
 *   gma[29:21], PT index gma[20:12]; 512 8-byte entries per 4 KiB table.
 * - 3-level (legacy 32-bit contexts): the four PDP registers of the context hold the page
 *   directories of gma[31:30]; no PML4/PDP table in memory.
 * - Entry: bit 0 present, bits 38:12 the next table / page (gen8 PTE helpers in `pte.ts`).
 * - A PDP entry with PS (bit 7) maps a 1 GiB page: reported as unsupported (GVT-g refuses them).
 * - A PD entry with PS maps a 2 MiB page.
 * - A PD entry with IPS (bit 11) says its page table maps 64 KiB pages: only every 16th entry is
 *   used (i915 writes 64 KiB PTEs at PT indices 0, 16, 32, ...), so the entry for gma is the one at
 *   `ptIndex & ~15`, and the page is 64 KiB aligned.
 * - Root pointers (PDP registers, PML4 pointer) are present when not zero, as GVT-g's
 *   `gen8_gtt_test_present` treats root entries; their low 12 bits are ignored.
 *
 * The walk allocates nothing: results land in fields of the (reusable) walker. Table reads are
 * bounds-checked against the memory's size, so a hostile entry pointing past the end of memory
 * is a fault, not an exception. The walk is a fixed four-step loop, bounded by construction.
 */
import { PAGE_SIZE, TWO_POW_32 } from '../types.js';
import { PDE_IPS, PDE_PS, PTE_ADDR_MASK_HI, PTE_ADDR_MASK_LO, PTE_PRESENT, PTE_RW } from './pte.js';

/** What the walker reads tables through (a `MemoryAccess` satisfies it). */
export interface PageTableMemory {
  readonly size: number;
  read32(addr: number): number;
}

/** Walk results. */
export const WalkFault = {
  NONE: 0,
  /** An entry (or root) along the way is not present. */
  NOT_PRESENT: 1,
  /** A 1 GiB page (PS in a PDP entry): not supported. */
  HUGE_1G_UNSUPPORTED: 2,
  /** A table pointer (or root) points outside the memory. */
  OUT_OF_MEMORY: 3,
  /** The graphics address does not fit the mode (>= 2^32 for 3-level, >= 2^48 for 4-level). */
  ADDRESS_RANGE: 4,
} as const;

/** Names of the `WalkFault` codes, indexed by code. */
export const WALK_FAULT_NAMES: readonly string[] = ['NONE', 'NOT_PRESENT', 'HUGE_1G_UNSUPPORTED', 'OUT_OF_MEMORY', 'ADDRESS_RANGE'];

/** Page-table levels as numbers (the level where a walk stopped). */
export const WalkLevel = {
  PML4: 4,
  PDP: 3,
  PD: 2,
  PT: 1,
  PAGE: 0,
} as const;

const SIZE_4K = PAGE_SIZE;
const SIZE_64K = 64 * 1024;
const SIZE_2M = 2 * 1024 * 1024;
const TWO_POW_39 = 2 ** 39;
const TWO_POW_30 = 2 ** 30;
const TWO_POW_48 = 2 ** 48;

/** The reusable walker. */
export class PpgttWalker {
  /** Translated address, or -1 after a fault. */
  address = -1;
  /** Size of the page that maps the address (4096, 65536 or 2097152), 0 after a fault. */
  pageSize = 0;
  /** `WalkFault` code of the last walk. */
  fault = 0;
  /** Level where the walk stopped (`WalkLevel`); 0 on success. */
  level = 0;
  /** Low and high dwords of the last entry read (the leaf on success). */
  entryLo = 0;
  entryHi = 0;
  /** Address of the last entry read, -1 when none (a 3-level root). */
  entryAddress = -1;
  /** RW bit of the leaf entry. */
  writable = false;
  /** Table entries read since construction. */
  reads = 0;

  private readonly memory: PageTableMemory;

  constructor(memory: PageTableMemory) {
    this.memory = memory;
  }

  private fail(fault: number, level: number): false {
    this.address = -1;
    this.pageSize = 0;
    this.fault = fault;
    this.level = level;
    this.writable = false;
    return false;
  }

  /** Read the entry at `table + index * 8` into entryLo/entryHi; false when out of memory. */
  private readEntry(table: number, index: number): boolean {
    const addr = table + index * 8;
    if (!(addr >= 0 && addr + 8 <= this.memory.size)) return false;
    this.entryAddress = addr;
    this.entryLo = this.memory.read32(addr) >>> 0;
    this.entryHi = this.memory.read32(addr + 4) >>> 0;
    this.reads++;
    return true;
  }

  /** Address of the table/page held in the last entry. */
  private next(): number {
    return (this.entryHi & PTE_ADDR_MASK_HI) * TWO_POW_32 + ((this.entryLo & PTE_ADDR_MASK_LO) >>> 0);
  }

  /**
   * Walk a 4-level table rooted at the PML4 table at `pml4` (a root pointer: present when not
   * zero, low 12 bits ignored). Returns true on success (`address` set).
   */
  walk4(pml4: number, gma: number): boolean {
    if (!(gma >= 0 && gma < TWO_POW_48)) return this.fail(WalkFault.ADDRESS_RANGE, WalkLevel.PML4);
    this.entryAddress = -1;
    if (pml4 === 0) return this.fail(WalkFault.NOT_PRESENT, WalkLevel.PML4);
    const root = pml4 - (pml4 % SIZE_4K);
    if (!this.readEntry(root, Math.floor(gma / TWO_POW_39) & 0x1ff)) return this.fail(WalkFault.OUT_OF_MEMORY, WalkLevel.PML4);
    if ((this.entryLo & PTE_PRESENT) === 0) return this.fail(WalkFault.NOT_PRESENT, WalkLevel.PML4);
    return this.fromPdp(this.next(), gma);
  }

  /**
   * Walk a 3-level (legacy 32-bit) table: `pdp0..pdp3` are the four root pointers (page
   * directory addresses; present when not zero). Returns true on success.
   */
  walk3(pdp0: number, pdp1: number, pdp2: number, pdp3: number, gma: number): boolean {
    if (!(gma >= 0 && gma < TWO_POW_32)) return this.fail(WalkFault.ADDRESS_RANGE, WalkLevel.PDP);
    this.entryAddress = -1;
    const i = gma >>> 30;
    const root = i === 0 ? pdp0 : i === 1 ? pdp1 : i === 2 ? pdp2 : pdp3;
    if (root === 0) return this.fail(WalkFault.NOT_PRESENT, WalkLevel.PDP);
    return this.fromPd(root - (root % SIZE_4K), gma);
  }

  /** Continue at a PDP table. */
  private fromPdp(pdpTable: number, gma: number): boolean {
    if (!this.readEntry(pdpTable, Math.floor(gma / TWO_POW_30) & 0x1ff)) return this.fail(WalkFault.OUT_OF_MEMORY, WalkLevel.PDP);
    const lo = this.entryLo;
    if ((lo & PTE_PRESENT) === 0) return this.fail(WalkFault.NOT_PRESENT, WalkLevel.PDP);
    if ((lo & PDE_PS) !== 0) return this.fail(WalkFault.HUGE_1G_UNSUPPORTED, WalkLevel.PDP);
    return this.fromPd(this.next(), gma);
  }

  /** Continue at a page directory: PD entry, then (unless 2 MiB) the page table. */
  private fromPd(pd: number, gma: number): boolean {
    // Offsets inside 4 GiB fit 32-bit arithmetic; above, use division.
    const pdIndex = Math.floor(gma / SIZE_2M) & 0x1ff;
    if (!this.readEntry(pd, pdIndex)) return this.fail(WalkFault.OUT_OF_MEMORY, WalkLevel.PD);
    const pde = this.entryLo;
    if ((pde & PTE_PRESENT) === 0) return this.fail(WalkFault.NOT_PRESENT, WalkLevel.PD);
    const next = this.next();
    if ((pde & PDE_PS) !== 0) {
      const base = next - (next % SIZE_2M);
      return this.ok(base + (gma % SIZE_2M), SIZE_2M);
    }
    let ptIndex = Math.floor(gma / SIZE_4K) & 0x1ff;
    const ips = (pde & PDE_IPS) !== 0;
    if (ips) ptIndex &= ~15;
    if (!this.readEntry(next, ptIndex)) return this.fail(WalkFault.OUT_OF_MEMORY, WalkLevel.PT);
    if ((this.entryLo & PTE_PRESENT) === 0) return this.fail(WalkFault.NOT_PRESENT, WalkLevel.PT);
    const page = this.next();
    if (ips) return this.ok(page - (page % SIZE_64K) + (gma % SIZE_64K), SIZE_64K);
    return this.ok(page + (gma % SIZE_4K), SIZE_4K);
  }

  private ok(address: number, pageSize: number): true {
    this.address = address;
    this.pageSize = pageSize;
    this.fault = WalkFault.NONE;
    this.level = WalkLevel.PAGE;
    this.writable = (this.entryLo & PTE_RW) !== 0;
    return true;
  }
}
