/**
 * PCI configuration space of the modelled Skylake GT2 IGD (256-byte type-0 header).
 *
 * The layout is the PCI Local Bus Specification's type-0 header (vendor, device, command, status,
 * revision, class code, header type, BARs, subsystem ids, capabilities pointer, interrupt
 * line/pin), plus the Intel IGD's GMCH Graphics Control register (GGC, 0x50) that i915 reads to
 * size the GGTT (`gen8_get_total_gtt_size`: GGMS in bits 7:6, 2^GGMS MiB of PTEs) and a small
 * capability list (MSI, power management) so a guest can walk it.
 *
 * Identity: vendor 0x8086, device 0x1912 ("DT GT2", HD Graphics 530) from Linux
 * `include/drm/i915_pciids.h` INTEL_SKL_GT2_IDS; class 0x030000 (display controller, VGA).
 *
 * Fields are rows (offset, size, reset, writable mask, write-1-to-clear mask). Everything not
 * covered by a row reads as zero and ignores writes, as reserved config registers do. Generic
 * behaviour is in one place: per byte, `next = (old & ~writable) | (value & writable)`, then the
 * W1C bits of the written value clear. The BAR sizing protocol falls out of the masks: the type
 * bits are read-only, the address bits below the BAR size are not writable, so writing all ones
 * reads back the size mask with the type bits; writing the address back restores it.
 *
 * Accesses are 1, 2 or 4 bytes that do not cross a dword. Anything else (bad size, offset
 * outside 0-255, crossing a dword) is a guest-style error: counted in `stats.refused`, a read
 * returns 0 and a write is dropped; nothing throws.
 */
import createDebug from 'debug';
import { ConfigError } from '../errors.js';

const log = createDebug('gvtkit:device');

/** Config-space offsets (PCI spec type-0 header; Intel IGD registers). */
export const PciReg = {
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  REVISION_ID: 0x08,
  CLASS_PROG: 0x09,
  CLASS_SUB: 0x0a,
  CLASS_BASE: 0x0b,
  CACHE_LINE_SIZE: 0x0c,
  LATENCY_TIMER: 0x0d,
  HEADER_TYPE: 0x0e,
  BAR0: 0x10,
  BAR0_HI: 0x14,
  BAR2: 0x18,
  BAR2_HI: 0x1c,
  BAR4: 0x20,
  SUBSYSTEM_VENDOR_ID: 0x2c,
  SUBSYSTEM_ID: 0x2e,
  ROM_BAR: 0x30,
  CAP_PTR: 0x34,
  INTERRUPT_LINE: 0x3c,
  INTERRUPT_PIN: 0x3d,
  /** GMCH Graphics Control (SNB_GMCH_CTRL in i915): GGMS 7:6, GMS 15:8. */
  GGC: 0x50,
  /** Base of Data Stolen Memory. */
  BDSM: 0x5c,
  MSI_CAP: 0xac,
  PM_CAP: 0xd0,
  /** ASL Storage (OpRegion address), written by firmware. */
  ASLS: 0xfc,
} as const;

/** COMMAND register bits (PCI spec). */
export const PciCommand = {
  IO_SPACE: 1 << 0,
  MEMORY_SPACE: 1 << 1,
  BUS_MASTER: 1 << 2,
  PARITY_ERROR_RESPONSE: 1 << 6,
  SERR_ENABLE: 1 << 8,
  INTX_DISABLE: 1 << 10,
} as const;

/** BAR type bits (PCI spec): memory, 64-bit (bits 2:1 = 2), prefetchable (bit 3); IO (bit 0). */
export const BarType = {
  MEM64: 0x4,
  MEM64_PREFETCH: 0xc,
  IO: 0x1,
} as const;

/** Identity and BAR sizes of the config space. */
export interface PciIdentity {
  vendorId: number;
  deviceId: number;
  revisionId: number;
  classCode: number;
  subsystemVendorId: number;
  subsystemId: number;
  /** BAR0 (GTTMMADR) size in bytes. */
  bar0Size: number;
  /** BAR2 (GMADR, the aperture) size in bytes. */
  bar2Size: number;
  /** BAR4 IO size in bytes (0: no IO BAR). */
  bar4Size: number;
  /** GGC value (GMCH graphics control). */
  ggc: number;
}

/** Counters of config-space traffic. */
export interface PciStats {
  reads: number;
  writes: number;
  /** Accesses refused for size, range or dword crossing. */
  refused: number;
  /** Writes of all ones to a BAR dword (the sizing protocol). */
  barProbes: number;
}

interface FieldRow {
  offset: number;
  size: 1 | 2 | 4;
  name: string;
  reset: number;
  writable: number;
  w1c?: number;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && Number.isInteger(Math.log2(n));
}

/** Writable address bits of a memory BAR's low dword for a BAR of `size` bytes. */
function barLowMask(size: number): number {
  return size >= 2 ** 32 ? 0 : ((~(size - 1)) & 0xfffffff0) >>> 0;
}
/** Writable bits of a 64-bit BAR's high dword. */
function barHighMask(size: number): number {
  return size > 2 ** 32 ? (~(size / 2 ** 32 - 1)) >>> 0 : 0xffffffff;
}

/** The rows of the config space for an identity. */
function fieldRows(id: PciIdentity): FieldRow[] {
  const rows: FieldRow[] = [
    { offset: PciReg.VENDOR_ID, size: 2, name: 'VENDOR_ID', reset: id.vendorId, writable: 0 },
    { offset: PciReg.DEVICE_ID, size: 2, name: 'DEVICE_ID', reset: id.deviceId, writable: 0 },
    // Firmware leaves an IGD with IO, memory decode and bus mastering enabled.
    {
      offset: PciReg.COMMAND, size: 2, name: 'COMMAND',
      reset: PciCommand.IO_SPACE | PciCommand.MEMORY_SPACE | PciCommand.BUS_MASTER,
      writable: PciCommand.IO_SPACE | PciCommand.MEMORY_SPACE | PciCommand.BUS_MASTER |
        PciCommand.PARITY_ERROR_RESPONSE | PciCommand.SERR_ENABLE | PciCommand.INTX_DISABLE,
    },
    // Capabilities List (bit 4) set; error bits 15:11 and 8 are write-1-to-clear.
    { offset: PciReg.STATUS, size: 2, name: 'STATUS', reset: 0x0010, writable: 0, w1c: 0xf900 },
    { offset: PciReg.REVISION_ID, size: 1, name: 'REVISION_ID', reset: id.revisionId, writable: 0 },
    { offset: PciReg.CLASS_PROG, size: 1, name: 'CLASS_PROG', reset: id.classCode & 0xff, writable: 0 },
    { offset: PciReg.CLASS_SUB, size: 1, name: 'CLASS_SUB', reset: (id.classCode >>> 8) & 0xff, writable: 0 },
    { offset: PciReg.CLASS_BASE, size: 1, name: 'CLASS_BASE', reset: (id.classCode >>> 16) & 0xff, writable: 0 },
    { offset: PciReg.CACHE_LINE_SIZE, size: 1, name: 'CACHE_LINE_SIZE', reset: 0, writable: 0xff },
    { offset: PciReg.LATENCY_TIMER, size: 1, name: 'LATENCY_TIMER', reset: 0, writable: 0 },
    { offset: PciReg.HEADER_TYPE, size: 1, name: 'HEADER_TYPE', reset: 0x00, writable: 0 },
    { offset: PciReg.BAR0, size: 4, name: 'BAR0', reset: BarType.MEM64, writable: barLowMask(id.bar0Size) },
    { offset: PciReg.BAR0_HI, size: 4, name: 'BAR0_HI', reset: 0, writable: barHighMask(id.bar0Size) },
    { offset: PciReg.BAR2, size: 4, name: 'BAR2', reset: BarType.MEM64_PREFETCH, writable: barLowMask(id.bar2Size) },
    { offset: PciReg.BAR2_HI, size: 4, name: 'BAR2_HI', reset: 0, writable: barHighMask(id.bar2Size) },
    { offset: PciReg.SUBSYSTEM_VENDOR_ID, size: 2, name: 'SUBSYSTEM_VENDOR_ID', reset: id.subsystemVendorId, writable: 0 },
    { offset: PciReg.SUBSYSTEM_ID, size: 2, name: 'SUBSYSTEM_ID', reset: id.subsystemId, writable: 0 },
    { offset: PciReg.CAP_PTR, size: 1, name: 'CAP_PTR', reset: PciReg.MSI_CAP, writable: 0 },
    { offset: PciReg.INTERRUPT_LINE, size: 1, name: 'INTERRUPT_LINE', reset: 0xff, writable: 0xff },
    { offset: PciReg.INTERRUPT_PIN, size: 1, name: 'INTERRUPT_PIN', reset: 0x01, writable: 0 },
    { offset: PciReg.GGC, size: 2, name: 'GGC', reset: id.ggc, writable: 0 },
    { offset: PciReg.BDSM, size: 4, name: 'BDSM', reset: 0, writable: 0 },
    // MSI capability (id 0x05), 32-bit message address, single vector.
    { offset: PciReg.MSI_CAP, size: 1, name: 'MSI_CAP_ID', reset: 0x05, writable: 0 },
    { offset: PciReg.MSI_CAP + 1, size: 1, name: 'MSI_NEXT', reset: PciReg.PM_CAP, writable: 0 },
    { offset: PciReg.MSI_CAP + 2, size: 2, name: 'MSI_CONTROL', reset: 0, writable: 0x0001 },
    { offset: PciReg.MSI_CAP + 4, size: 4, name: 'MSI_ADDRESS', reset: 0, writable: 0xfffffffc },
    { offset: PciReg.MSI_CAP + 8, size: 2, name: 'MSI_DATA', reset: 0, writable: 0xffff },
    // Power management capability (id 0x01), version 2; PMCSR power state bits 1:0 writable.
    { offset: PciReg.PM_CAP, size: 1, name: 'PM_CAP_ID', reset: 0x01, writable: 0 },
    { offset: PciReg.PM_CAP + 1, size: 1, name: 'PM_NEXT', reset: 0x00, writable: 0 },
    { offset: PciReg.PM_CAP + 2, size: 2, name: 'PM_CAPABILITIES', reset: 0x0022, writable: 0 },
    { offset: PciReg.PM_CAP + 4, size: 2, name: 'PM_CSR', reset: 0x0008, writable: 0x0003 },
    { offset: PciReg.ASLS, size: 4, name: 'ASLS', reset: 0, writable: 0xffffffff },
  ];
  if (id.bar4Size > 0) {
    rows.push({ offset: PciReg.BAR4, size: 4, name: 'BAR4', reset: BarType.IO, writable: (~(id.bar4Size - 1) & 0xfffffffc) >>> 0 });
  }
  return rows;
}

/**
 * GGC value for a GGTT of `entries` 8-byte entries: GGMS = log2(GGTT size in MiB) (1, 2 or 3 for
 * 2, 4, 8 MiB), 0 when the size is not one of those.
 */
export function ggcFor(entries: number): number {
  const mib = (entries * 8) / (1024 * 1024);
  const ggms = mib === 2 ? 1 : mib === 4 ? 2 : mib === 8 ? 3 : 0;
  return ggms << 6;
}

/** The 256-byte configuration space. */
export class PciConfigSpace {
  /** Storage. */
  private readonly bytes = new Uint8Array(256);
  private readonly writable = new Uint8Array(256);
  private readonly w1c = new Uint8Array(256);
  private readonly resetImage = new Uint8Array(256);
  readonly identity: Readonly<PciIdentity>;
  readonly stats: PciStats = { reads: 0, writes: 0, refused: 0, barProbes: 0 };
  /** Names of the rows, by offset (for tools). */
  readonly fieldNames: ReadonlyMap<number, string>;

  constructor(identity: PciIdentity) {
    for (const [what, size] of [['bar0Size', identity.bar0Size], ['bar2Size', identity.bar2Size]] as const) {
      if (!isPowerOfTwo(size) || size < 16) throw new ConfigError(what, `BAR size ${size} must be a power of two of at least 16 bytes`);
    }
    if (identity.bar4Size !== 0 && (!isPowerOfTwo(identity.bar4Size) || identity.bar4Size < 4 || identity.bar4Size > 256)) {
      throw new ConfigError('bar4Size', `IO BAR size ${identity.bar4Size} must be 0 or a power of two from 4 to 256`);
    }
    this.identity = Object.freeze({ ...identity });
    const names = new Map<number, string>();
    for (const row of fieldRows(identity)) {
      names.set(row.offset, row.name);
      for (let k = 0; k < row.size; k++) {
        const o = row.offset + k;
        this.resetImage[o] = (row.reset >>> (8 * k)) & 0xff;
        this.writable[o] = (row.writable >>> (8 * k)) & 0xff;
        this.w1c[o] = ((row.w1c ?? 0) >>> (8 * k)) & 0xff;
      }
    }
    this.fieldNames = names;
    this.reset();
  }

  /** Restore every field to its reset value (BARs unassigned). */
  reset(): void {
    this.bytes.set(this.resetImage);
  }

  private valid(offset: number, size: number): boolean {
    return (size === 1 || size === 2 || size === 4) &&
      Number.isInteger(offset) && offset >= 0 && offset + size <= 256 &&
      (offset & ~3) === ((offset + size - 1) & ~3);
  }

  /** Read `size` (1, 2, 4) bytes at `offset`, little endian. Bad input: counted, returns 0. */
  read(offset: number, size: number): number {
    if (!this.valid(offset, size)) {
      this.stats.refused++;
      if (log.enabled) log('pci: refused %d-byte config read at %s', size, String(offset));
      return 0;
    }
    this.stats.reads++;
    let v = 0;
    for (let k = 0; k < size; k++) v |= this.bytes[offset + k] << (8 * k);
    return v >>> 0;
  }

  /** Write `size` (1, 2, 4) bytes of `value` at `offset`. Bad input: counted, dropped. */
  write(offset: number, size: number, value: number): void {
    if (!this.valid(offset, size)) {
      this.stats.refused++;
      if (log.enabled) log('pci: refused %d-byte config write at %s', size, String(offset));
      return;
    }
    this.stats.writes++;
    const v = value >>> 0;
    if (size === 4 && v === 0xffffffff && offset >= PciReg.BAR0 && offset <= 0x24) this.stats.barProbes++;
    for (let k = 0; k < size; k++) {
      const o = offset + k;
      const byte = (v >>> (8 * k)) & 0xff;
      const wm = this.writable[o];
      let next = (this.bytes[o] & ~wm) | (byte & wm);
      next &= ~(byte & this.w1c[o]);
      this.bytes[o] = next & 0xff;
    }
  }

  /** The COMMAND register. */
  get command(): number {
    return this.bytes[PciReg.COMMAND] | (this.bytes[PciReg.COMMAND + 1] << 8);
  }
  /** Memory-space decode enabled (COMMAND bit 1). The bus decides what to do with it. */
  get memoryEnabled(): boolean {
    return (this.command & PciCommand.MEMORY_SPACE) !== 0;
  }
  /** Bus mastering enabled (COMMAND bit 2). */
  get busMasterEnabled(): boolean {
    return (this.command & PciCommand.BUS_MASTER) !== 0;
  }

  private dword(offset: number): number {
    return (this.bytes[offset] | (this.bytes[offset + 1] << 8) | (this.bytes[offset + 2] << 16) | (this.bytes[offset + 3] << 24)) >>> 0;
  }

  /** Base address programmed in a 64-bit memory BAR (`bar` = 0 or 2), type bits stripped. */
  barAddress(bar: 0 | 2): number {
    const off = bar === 0 ? PciReg.BAR0 : PciReg.BAR2;
    return this.dword(off + 4) * 2 ** 32 + ((this.dword(off) & 0xfffffff0) >>> 0);
  }

  /** A copy of the 256 bytes (for snapshots). */
  snapshot(): Uint8Array {
    return this.bytes.slice();
  }

  /** Restore the bytes from a snapshot. */
  restore(snap: Uint8Array): void {
    if (snap.length !== 256) throw new ConfigError('snapshot', `config space snapshot must be 256 bytes, got ${snap.length}`);
    this.bytes.set(snap);
  }
}
