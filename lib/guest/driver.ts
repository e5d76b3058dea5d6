/**
 * A modelled guest graphics driver: what tests, examples and experiments drive.
 *
 * It reaches the vGPU only through the interface a real guest has (BAR0/BAR2 accesses, PCI
 * config space, stores to its own RAM) and behaves like Linux i915 in a GVT-g guest:
 * - `detect()` follows `i915_detect_vgpu` (Linux `i915_vgpu.c`): read the 64-bit magic of the
 *   PVINFO page, require version major 1, read the capabilities;
 * - `balloon()` follows `intel_vgt_balloon`: read the four range fields, refuse an inconsistent
 *   layout, and reserve the holes so its allocator only ever hands out its own slices;
 * - it sizes BAR2 with the PCI sizing protocol to learn the aperture size, as a PCI driver does.
 */
import createDebug from 'debug';
import { StateError, NoResourceError } from '../errors.js';
import { computeBalloon, type BalloonHole, type BalloonResult } from '../gtt/balloon.js';
import { PTE_PRESENT, pteHi, pteLo } from '../gtt/pte.js';
import type { GuestMemory } from '../ept/memory.js';
import {
  PVINFO_FENCE_NUM,
  PVINFO_MAPPABLE_BASE,
  PVINFO_MAPPABLE_SIZE,
  PVINFO_NONMAPPABLE_BASE,
  PVINFO_NONMAPPABLE_SIZE,
  PVINFO_VERSION_MAJOR,
  PVINFO_VERSION_MINOR,
  PVINFO_VGT_CAPS,
  PVINFO_VGT_ID,
  VGT_MAGIC_HI,
  VGT_MAGIC_LO,
  VGT_PVINFO_PAGE,
  VGT_VERSION_MAJOR,
} from '../mediator/pvinfo.js';
import { PAGE_SIZE } from '../types.js';
import { RangeAllocator } from '../gtt/range-allocator.js';
import { GuestDisplay } from './display.js';

export { RangeAllocator };

const log = createDebug('gvtkit:guest');

/** BAR0 offset of the GGTT entries (Linux: GEN8 GSM offset, half of BAR0). */
export const GTT_WINDOW_OFFSET = 8 * 1024 * 1024;
/** PCI config offset of BAR2 (GMADR, the aperture). */
const PCI_BAR2 = 0x18;
/** PCI config COMMAND register and its memory-space enable bit. */
const PCI_COMMAND = 0x04;
const PCI_COMMAND_MEMORY = 1 << 1;

/** What a guest reaches: the accesses a real guest's vCPU makes. */
export interface GuestBus {
  mmioRead(offset: number, size: number): number;
  mmioWrite(offset: number, size: number, value: number): void;
  pciConfigRead(offset: number, size: number): number;
  pciConfigWrite(offset: number, size: number, value: number): void;
  /** A vCPU store to guest RAM (may be trapped by write protection). */
  guestWrite(gpa: number, bytes: Uint8Array): void;
  /** The guest's RAM, for loads. */
  readonly memory: GuestMemory;
}

/** What detection found. */
export interface VgpuInfo {
  vgtId: number;
  versionMajor: number;
  versionMinor: number;
  caps: number;
}

/** Options of `GuestDriver`. */
export interface GuestDriverOptions {
  /** Total graphics memory the guest assumes (default 4 GiB, the GTT window of BAR0). */
  totalGm?: number;
  /** Guest RAM below this is left to the "rest of the guest" (default 1 MiB). */
  ramBase?: number;
  /** Name for logs. */
  name?: string;
}

/**
 * GEN8_MASTER_IRQ's display bits and the IIR each reports (i915 `gen8_de_irq_handler`): DE pipe
 * A..C (16..18), DE port (20), DE misc (22), PCH `SDEIIR` (23), PCU (30); pairs (bit, IIR).
 */
const DE_IIRS: readonly number[] = [
  1 << 16, 0x44408, 1 << 17, 0x44418, 1 << 18, 0x44428, 1 << 20, 0x44448, 1 << 22, 0x44468, 1 << 23, 0xc4008, 1 << 30, 0x444e8,
];

export class GuestDriver {
  readonly bus: GuestBus;
  readonly name: string;
  /** Set by a successful `detect()`. */
  info: VgpuInfo | null = null;
  /** Aperture size learned by sizing BAR2. */
  apertureSize = 0;
  readonly totalGm: number;
  /** Fence registers PVINFO grants. */
  fences = 0;
  /** Holes reserved by `balloon()`. */
  holes: BalloonHole[] = [];
  /** Graphics-memory allocator (all of GM until ballooned). */
  readonly gm: RangeAllocator;
  /** The display driver (modeset, flips); the interrupt handler passes it the DE pipe IIRs. */
  readonly display: GuestDisplay;
  private readonly ram: RangeAllocator;

  constructor(bus: GuestBus, opts: GuestDriverOptions = {}) {
    this.bus = bus;
    this.name = opts.name ?? 'guest';
    this.display = new GuestDisplay(bus, { name: this.name });
    this.totalGm = opts.totalGm ?? 4 * 1024 * 1024 * 1024;
    this.gm = new RangeAllocator(this.totalGm);
    this.ram = new RangeAllocator(bus.memory.size);
    this.ram.reserve(0, opts.ramBase ?? 1024 * 1024);
  }

  /** Read a 64-bit PVINFO field as two dwords (exact for any value). */
  private read64(offset: number): [number, number] {
    return [this.bus.mmioRead(offset, 4), this.bus.mmioRead(offset + 4, 4)];
  }

  /**
   * Detect a GVT-g vGPU as `i915_detect_vgpu` does: magic, then version major 1. Returns false on
   * bare metal or a mismatching version (the guest then runs as if native).
   */
  detect(): boolean {
    const [lo, hi] = this.read64(VGT_PVINFO_PAGE);
    if (lo !== VGT_MAGIC_LO || hi !== VGT_MAGIC_HI) {
      log('%s: no vGPU magic (0x%s%s)', this.name, hi.toString(16), lo.toString(16).padStart(8, '0'));
      return false;
    }
    const major = this.bus.mmioRead(VGT_PVINFO_PAGE + PVINFO_VERSION_MAJOR, 2);
    const minor = this.bus.mmioRead(VGT_PVINFO_PAGE + PVINFO_VERSION_MINOR, 2);
    if (major !== VGT_VERSION_MAJOR) {
      log('%s: vGPU interface version %d.%d not supported', this.name, major, minor);
      return false;
    }
    this.info = {
      versionMajor: major,
      versionMinor: minor,
      vgtId: this.bus.mmioRead(VGT_PVINFO_PAGE + PVINFO_VGT_ID, 4),
      caps: this.bus.mmioRead(VGT_PVINFO_PAGE + PVINFO_VGT_CAPS, 4),
    };
    log('%s: vGPU %d detected, caps 0x%s', this.name, this.info.vgtId, this.info.caps.toString(16));
    return true;
  }

  /**
   * Size BAR2 with the PCI protocol, as Linux's `__pci_read_base` does: memory decode off, write
   * all-ones, read the mask, restore the address, decode back on.
   */
  sizeAperture(): number {
    const cmd = this.bus.pciConfigRead(PCI_COMMAND, 2);
    this.bus.pciConfigWrite(PCI_COMMAND, 2, cmd & ~PCI_COMMAND_MEMORY);
    const orig = this.bus.pciConfigRead(PCI_BAR2, 4);
    this.bus.pciConfigWrite(PCI_BAR2, 4, 0xffffffff);
    const mask = this.bus.pciConfigRead(PCI_BAR2, 4);
    this.bus.pciConfigWrite(PCI_BAR2, 4, orig);
    this.bus.pciConfigWrite(PCI_COMMAND, 2, cmd);
    const sizeLo = (~(mask & 0xfffffff0) + 1) >>> 0;
    this.apertureSize = sizeLo;
    return sizeLo;
  }

  /**
   * Balloon as `intel_vgt_balloon` does: read the ranges, refuse an inconsistent layout, reserve
   * the holes in the graphics-memory allocator.
   */
  balloon(): BalloonResult {
    if (!this.info) throw new StateError(`${this.name}: balloon() before a successful detect()`);
    if (!this.apertureSize) this.sizeAperture();
    const base = VGT_PVINFO_PAGE;
    const pv = {
      mappableBase: this.bus.mmioRead(base + PVINFO_MAPPABLE_BASE, 4),
      mappableSize: this.bus.mmioRead(base + PVINFO_MAPPABLE_SIZE, 4),
      nonmappableBase: this.bus.mmioRead(base + PVINFO_NONMAPPABLE_BASE, 4),
      nonmappableSize: this.bus.mmioRead(base + PVINFO_NONMAPPABLE_SIZE, 4),
    };
    this.fences = this.bus.mmioRead(base + PVINFO_FENCE_NUM, 4);
    const result = computeBalloon(pv, { mappableEnd: this.apertureSize, total: this.totalGm });
    if (!result.ok) {
      log('%s: balloon refused: %s', this.name, result.message);
      return result;
    }
    this.holes = result.holes;
    for (const h of result.holes) this.gm.reserve(h.start, h.end);
    log('%s: ballooned %d holes; usable %d MiB low, %d MiB high', this.name, result.holes.length, result.usableLow >>> 20, result.usableHigh >>> 20);
    return result;
  }

  /**
   * Allocate graphics memory inside the guest's own slices: `mappable` asks for the aperture
   * (low) range. Throws `NoResourceError` when the guest's slices are full.
   */
  allocGm(size: number, opts: { mappable?: boolean; align?: number } = {}): number {
    const align = opts.align ?? PAGE_SIZE;
    const sz = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    const lo = opts.mappable ? 0 : this.apertureSize || 0;
    const hi = opts.mappable ? this.apertureSize || this.totalGm : this.totalGm;
    let at = this.gm.alloc(sz, align, lo, hi);
    if (at < 0 && !opts.mappable) at = this.gm.alloc(sz, align);
    if (at < 0) throw new NoResourceError(opts.mappable ? 'low-gm' : 'high-gm', sz, `${this.name}: no ${sz} bytes of graphics memory left`);
    return at;
  }

  /** Allocate `pages` contiguous pages of guest RAM; returns the guest-physical address. */
  allocRam(pages: number): number {
    const at = this.ram.alloc(pages * PAGE_SIZE, PAGE_SIZE);
    if (at < 0) throw new NoResourceError('guest-ram', pages, `${this.name}: guest RAM exhausted`);
    return at;
  }

  /** Free guest RAM from `allocRam`. */
  freeRam(gpa: number, pages: number): void {
    this.ram.release(gpa, pages * PAGE_SIZE);
  }

  /**
   * Point `pages` GGTT entries from graphics address `gma` at guest RAM from `gpa`, writing the
   * PTEs through the BAR0 GTT window (8-byte writes, or two 4-byte halves with `halves`).
   */
  mapGtt(gma: number, gpa: number, pages: number, opts: { halves?: boolean; hiFirst?: boolean } = {}): void {
    for (let i = 0; i < pages; i++) {
      const index = gma / PAGE_SIZE + i;
      const frame = gpa / PAGE_SIZE + i;
      this.writePte(index, pteLo(frame, PTE_PRESENT), pteHi(frame), opts);
      this.gttMap.set(index * PAGE_SIZE, frame * PAGE_SIZE);
    }
  }

  /** Write one GGTT entry through the window. */
  writePte(index: number, lo: number, hi: number, opts: { halves?: boolean; hiFirst?: boolean } = {}): void {
    const off = GTT_WINDOW_OFFSET + index * 8;
    if (opts.halves) {
      if (opts.hiFirst) {
        this.bus.mmioWrite(off + 4, 4, hi);
        this.bus.mmioWrite(off, 4, lo);
      } else {
        this.bus.mmioWrite(off, 4, lo);
        this.bus.mmioWrite(off + 4, 4, hi);
      }
    } else {
      this.bus.mmioWrite(off, 8, hi * 4294967296 + lo);
    }
  }

  /** GGTT mappings this driver made: page gma → gpa (for its own view of graphics memory). */
  private readonly gttMap = new Map<number, number>();

  /**
   * Allocate `bytes` of graphics memory inside the guest's slices, back it with fresh guest RAM
   * and map it through the GGTT: what i915 does for a pinned GEM object.
   */
  allocBuffer(bytes: number, opts: { mappable?: boolean } = {}): { gma: number; gpa: number; bytes: number } {
    const size = Math.max(PAGE_SIZE, Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE);
    const gma = this.allocGm(size, opts);
    const gpa = this.allocRam(size / PAGE_SIZE);
    this.writeRam(gpa, new Uint8Array(size));
    this.mapGtt(gma, gpa, size / PAGE_SIZE);
    return { gma, gpa, bytes: size };
  }

  /** Guest-physical address behind graphics address `gma` (from this driver's own mappings). */
  gpaOfGma(gma: number): number {
    const page = Math.floor(gma / PAGE_SIZE) * PAGE_SIZE;
    const gpa = this.gttMap.get(page);
    if (gpa === undefined) throw new StateError(`${this.name}: graphics address 0x${gma.toString(16)} is not mapped by this guest`);
    return gpa + (gma - page);
  }

  /**
   * Unmask and enable the engine interrupts i915 uses (user interrupt and context switch on
   * every engine, `gen8_gt_irq_postinstall`), then the master enable.
   */
  enableInterrupts(): void {
    const bits = 0x0101; // user interrupt (bit 0) and context switch (bit 8), per 16-bit engine field
    const enable = [bits | (bits << 16), bits | (bits << 16), 0, bits];
    for (let n = 0; n < 4; n++) {
      const base = 0x44300 + 0x10 * n;
      this.bus.mmioWrite(base + 0xc, 4, enable[n] >>> 0); // IER
      this.bus.mmioWrite(base + 0x4, 4, ~enable[n] >>> 0); // IMR
    }
    this.bus.mmioWrite(0x44200, 4, 0x80000000); // GEN8_MASTER_IRQ enable
  }

  /**
   * The interrupt handler, as i915's `gen8_irq_handler`: master off, read and acknowledge (write
   * 1 to clear) every GT IIR bank, then the IIR of each display bank `master` (the master
   * register's pending bits, as the line's callback gets them) reports (`gen8_de_irq_handler`:
   * DE pipe A..C, DE port, DE misc, PCH, PCU; a guest whose pipe is lit gets vblanks; the DE
   * pipe bits go to the display driver, `gen8_de_pipe_irq_handler`), master back on. Returns the
   * acknowledged bits per GT bank.
   */
  handleInterrupt(master = 0): number[] {
    this.bus.mmioWrite(0x44200, 4, 0);
    const acked: number[] = [];
    for (let n = 0; n < 4; n++) {
      const iir = 0x44300 + 0x10 * n + 8;
      const bits = this.bus.mmioRead(iir, 4);
      if (bits) this.bus.mmioWrite(iir, 4, bits);
      acked.push(bits);
    }
    for (let i = 0; i < DE_IIRS.length; i += 2) {
      if ((master & DE_IIRS[i]) === 0) continue;
      const iir = DE_IIRS[i + 1];
      const bits = this.bus.mmioRead(iir, 4);
      if (bits) this.bus.mmioWrite(iir, 4, bits);
      if (bits && i < 6) this.display.handlePipeIrq(i >>> 1, bits);
    }
    this.bus.mmioWrite(0x44200, 4, 0x80000000);
    return acked;
  }

  /** Write an execlist submission: element 1 high, element 1 low, element 0 high, element 0 low. */
  submitElsp(engine: { mmioBase: number }, el0: readonly [number, number], el1: readonly [number, number] = [0, 0]): void {
    const elsp = engine.mmioBase + 0x230;
    this.bus.mmioWrite(elsp, 4, el1[1]);
    this.bus.mmioWrite(elsp, 4, el1[0]);
    this.bus.mmioWrite(elsp, 4, el0[1]);
    this.bus.mmioWrite(elsp, 4, el0[0]);
  }

  /** Store bytes to guest RAM through the vCPU path. */
  writeRam(gpa: number, bytes: Uint8Array): void {
    this.bus.guestWrite(gpa, bytes);
  }

  /** Store dwords to guest RAM through the vCPU path. */
  writeRam32(gpa: number, dwords: ArrayLike<number>): void {
    // Little-endian bytes, stored one by one (a DataView per call cost more than the stores).
    const b = new Uint8Array(dwords.length * 4);
    for (let i = 0; i < dwords.length; i++) {
      const v = dwords[i] >>> 0;
      b[4 * i] = v;
      b[4 * i + 1] = v >>> 8;
      b[4 * i + 2] = v >>> 16;
      b[4 * i + 3] = v >>> 24;
    }
    this.bus.guestWrite(gpa, b);
  }

  /** Load a dword from guest RAM. */
  readRam32(gpa: number): number {
    return this.bus.memory.read32(gpa);
  }
}
