/**
 * `TrapStub`: the gVirt stub. Every guest access to the vGPU's resources (BAR0 registers, the
 * BAR0 GTT window, the BAR2 aperture, PCI configuration space) enters through one call,
 * `access(space, gpa, size, isWrite, value)`, and is routed by a region table.
 *
 * - Devices see offsets; the bus owns placement: a handler receives `(offset, size)` inside its
 *   own region, and `move` relocates a region (a guest reprogramming a BAR) without the handler
 *   knowing.
 * - Pass-through regions (the aperture: gVirt maps the guest's aperture slice straight onto the
 *   host aperture: gVirt, Tian et al., USENIX ATC 2014) are not emulated per access: the stub
 *   translates the offset and touches the backing memory directly.
 * - Accesses no enabled region claims are counted and answered as a bus with nothing behind it
 *   would: reads return 0, writes are dropped. Guest input never throws; a size other than
 *   1/2/4/8 is an emulator bug and throws `RangeArgError`.
 * - The table checks itself when built: duplicate names, zero-length and overlapping regions
 *   throw `TableError`.
 */
import createDebug from 'debug';
import { RangeArgError, TableError } from '../errors.js';
import { TWO_POW_32 } from '../types.js';
import type { MemoryAccess } from './memory.js';

const log = createDebug('gvtkit:ept');

/** Address spaces the stub routes: guest-physical memory, and PCI configuration space. */
export type StubSpace = 'mem' | 'pci';

/** An emulated region's device: offsets are relative to the region base. */
export interface RegionHandler {
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
}

interface RegionCommon {
  /** Unique name (counters and `move` use it), e.g. `bar0.mmio`. */
  name: string;
  space: StubSpace;
  /** First address (in `space`). */
  base: number;
  /** Length in bytes (> 0). */
  size: number;
  /** Whether the region decodes accesses (default true). PCI memory-space enable, for BARs. */
  enabled?: boolean;
}

/** A region whose every access is handled by `handler`. */
export interface EmulatedRegionSpec extends RegionCommon {
  kind: 'emulated';
  handler: RegionHandler;
}

/** A region passed through to memory: offset → address in `memory` (or -1: nothing there). */
export interface PassthroughRegionSpec extends RegionCommon {
  kind: 'passthrough';
  translate(offset: number): number;
  memory: MemoryAccess;
}

/** A row of the region table. */
export type RegionSpec = EmulatedRegionSpec | PassthroughRegionSpec;

/** Per-region counters. */
export interface RegionCounters {
  reads: number;
  writes: number;
  /** Pass-through accesses whose offset did not translate (read 0 / dropped). */
  faults: number;
}

/** Stub-wide counters. */
export interface StubCounters {
  emulatedReads: number;
  emulatedWrites: number;
  passthroughReads: number;
  passthroughWrites: number;
  /** Accesses no enabled region claims. */
  unclaimedReads: number;
  unclaimedWrites: number;
  /** Accesses that start in a region and run past its end (answered 0 / dropped). */
  straddling: number;
  /** Pass-through accesses that did not translate. */
  passthroughFaults: number;
  relocations: number;
  /** Moves or enables refused because the region would overlap another enabled region. */
  relocationsRefused: number;
}

/** A region as the stub holds it (placement is mutable through `move`). */
interface Region {
  readonly spec: RegionSpec;
  readonly name: string;
  readonly space: StubSpace;
  readonly size: number;
  readonly passthrough: boolean;
  base: number;
  enabled: boolean;
  readonly counters: RegionCounters;
}

/** A read-only snapshot of a region's placement and counters. */
export interface RegionInfo {
  name: string;
  space: StubSpace;
  kind: RegionSpec['kind'];
  base: number;
  size: number;
  enabled: boolean;
  counters: Readonly<RegionCounters>;
}

const MAX_ADDR = 2 ** 53;

export class TrapStub {
  readonly counters: StubCounters = {
    emulatedReads: 0, emulatedWrites: 0, passthroughReads: 0, passthroughWrites: 0,
    unclaimedReads: 0, unclaimedWrites: 0, straddling: 0, passthroughFaults: 0,
    relocations: 0, relocationsRefused: 0,
  };
  private readonly regions: Region[] = [];
  private readonly byName = new Map<string, Region>();
  /** Enabled regions per space, sorted by base (rebuilt on move/enable). */
  private mem: Region[] = [];
  private pci: Region[] = [];

  /** Build and check the table. Throws `TableError` for duplicate names, zero length or overlap. */
  constructor(regions: readonly RegionSpec[]) {
    for (const spec of regions) {
      if (this.byName.has(spec.name)) throw new TableError(`stub region ${spec.name}: duplicate name`);
      if (!(Number.isSafeInteger(spec.size) && spec.size > 0)) throw new TableError(`stub region ${spec.name}: size ${spec.size} must be a positive integer`);
      if (!(Number.isSafeInteger(spec.base) && spec.base >= 0 && spec.base + spec.size <= MAX_ADDR)) {
        throw new TableError(`stub region ${spec.name}: base ${spec.base} out of range`);
      }
      if (spec.space !== 'mem' && spec.space !== 'pci') throw new TableError(`stub region ${spec.name}: unknown space ${String(spec.space)}`);
      const r: Region = {
        spec, name: spec.name, space: spec.space, size: spec.size, passthrough: spec.kind === 'passthrough',
        base: spec.base, enabled: spec.enabled ?? true, counters: { reads: 0, writes: 0, faults: 0 },
      };
      const clash = r.enabled ? this.overlapping(r, r.base) : undefined;
      if (clash) throw new TableError(`stub region ${spec.name} [${hexRange(r.base, r.size)}] overlaps ${clash.name} [${hexRange(clash.base, clash.size)}]`);
      this.regions.push(r);
      this.byName.set(r.name, r);
    }
    this.rebuild();
  }

  /**
   * The single entry point: one guest access of `size` bytes (1, 2, 4 or 8) at `gpa` in `space`.
   * Returns the value read (0 for writes).
   */
  access(space: StubSpace, gpa: number, size: number, isWrite: boolean, value = 0): number {
    if (size !== 4 && size !== 1 && size !== 2 && size !== 8) throw new RangeArgError(`stub access size ${size}: must be 1, 2, 4 or 8`);
    const list = space === 'mem' ? this.mem : this.pci;
    let r: Region | undefined;
    for (let i = 0; i < list.length; i++) {
      const c = list[i];
      if (gpa >= c.base && gpa < c.base + c.size) {
        r = c;
        break;
      }
    }
    if (r === undefined) {
      if (isWrite) this.counters.unclaimedWrites++;
      else this.counters.unclaimedReads++;
      log('unclaimed %s %s 0x%s size %d', space, isWrite ? 'write' : 'read', gpa.toString(16), size);
      return 0;
    }
    const offset = gpa - r.base;
    if (offset + size > r.size) {
      this.counters.straddling++;
      return 0;
    }
    if (isWrite) r.counters.writes++;
    else r.counters.reads++;
    if (!r.passthrough) {
      const h = (r.spec as EmulatedRegionSpec).handler;
      if (isWrite) {
        this.counters.emulatedWrites++;
        h.write(offset, size, value);
        return 0;
      }
      this.counters.emulatedReads++;
      return h.read(offset, size);
    }
    return this.passthrough(r, r.spec as PassthroughRegionSpec, offset, size, isWrite, value);
  }

  /** `access(space, gpa, size, false)`. */
  read(space: StubSpace, gpa: number, size: number): number {
    return this.access(space, gpa, size, false, 0);
  }

  /** `access(space, gpa, size, true, value)`. */
  write(space: StubSpace, gpa: number, size: number, value: number): void {
    this.access(space, gpa, size, true, value);
  }

  private passthrough(r: Region, spec: PassthroughRegionSpec, offset: number, size: number, isWrite: boolean, value: number): number {
    if (isWrite) this.counters.passthroughWrites++;
    else this.counters.passthroughReads++;
    const a = spec.translate(offset);
    // Translations are page-granular: an access whose last byte does not land right after its
    // first (it crosses into an unmapped or discontiguous page) is refused like an untranslated one.
    if (a < 0 || (size > 1 && spec.translate(offset + size - 1) !== a + size - 1)) {
      r.counters.faults++;
      this.counters.passthroughFaults++;
      return 0;
    }
    const m = spec.memory;
    if (isWrite) {
      if (size === 4) m.write32(a, value);
      else if (size === 1) m.write8(a, value);
      else if (size === 2) m.write16(a, value);
      else {
        m.write32(a, value >>> 0);
        m.write32(a + 4, Math.floor(value / TWO_POW_32) >>> 0);
      }
      return 0;
    }
    if (size === 4) return m.read32(a);
    if (size === 1) return m.read8(a);
    if (size === 2) return m.read16(a);
    return m.read32(a + 4) * TWO_POW_32 + m.read32(a);
  }

  /**
   * Relocate region `name` to `newBase` (BAR relocation). Refused (returns false, counted) when
   * the region would overlap another enabled region of its space; the region then stays put.
   * Throws `RangeArgError` for an unknown name (an emulator bug).
   */
  move(name: string, newBase: number): boolean {
    const r = this.get(name);
    if (!(Number.isSafeInteger(newBase) && newBase >= 0 && newBase + r.size <= MAX_ADDR)) {
      this.counters.relocationsRefused++;
      return false;
    }
    if (r.enabled && this.overlapping(r, newBase)) {
      this.counters.relocationsRefused++;
      return false;
    }
    log('region %s moved 0x%s -> 0x%s', name, r.base.toString(16), newBase.toString(16));
    r.base = newBase;
    this.counters.relocations++;
    this.rebuild();
    return true;
  }

  /**
   * Enable or disable decoding of region `name` (PCI command register memory-space enable).
   * Enabling is refused (false, counted) when it would overlap another enabled region.
   */
  setEnabled(name: string, enabled: boolean): boolean {
    const r = this.get(name);
    if (enabled && !r.enabled && this.overlapping(r, r.base)) {
      this.counters.relocationsRefused++;
      return false;
    }
    r.enabled = enabled;
    this.rebuild();
    return true;
  }

  /** Placement and counters of region `name`. */
  region(name: string): RegionInfo {
    const r = this.get(name);
    return { name: r.name, space: r.space, kind: r.spec.kind, base: r.base, size: r.size, enabled: r.enabled, counters: { ...r.counters } };
  }

  /** Every region, in table order. */
  list(): RegionInfo[] {
    return this.regions.map((r) => this.region(r.name));
  }

  /** Name of the enabled region claiming `gpa` in `space`, or undefined. */
  regionAt(space: StubSpace, gpa: number): string | undefined {
    const list = space === 'mem' ? this.mem : this.pci;
    for (const r of list) if (gpa >= r.base && gpa < r.base + r.size) return r.name;
    return undefined;
  }

  private get(name: string): Region {
    const r = this.byName.get(name);
    if (!r) throw new RangeArgError(`no stub region named ${name}`);
    return r;
  }

  private overlapping(r: Region, base: number): Region | undefined {
    for (const o of this.regions) {
      if (o === r || !o.enabled || o.space !== r.space) continue;
      if (base < o.base + o.size && o.base < base + r.size) return o;
    }
    return undefined;
  }

  private rebuild(): void {
    const on = this.regions.filter((r) => r.enabled).sort((a, b) => a.base - b.base);
    this.mem = on.filter((r) => r.space === 'mem');
    this.pci = on.filter((r) => r.space === 'pci');
  }
}

function hexRange(base: number, size: number): string {
  return `0x${base.toString(16)}..0x${(base + size).toString(16)}`;
}
