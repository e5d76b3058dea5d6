/**
 * `Gen9Device`: the modelled physical GPU, a Skylake GT2-class part (PCI 8086:1912).
 *
 * What it models, and nothing of virtualization:
 * - PCI configuration space (`pci.ts`): identity, command register, BARs with the sizing protocol.
 * - BAR0 (GTTMMADR, 16 MiB): registers in [0, 2 MiB) through a `RegisterFile` over the Gen9 table
 *   (`registers.ts`); [2 MiB, 8 MiB) reserved (reads 0, writes dropped, counted); the GGTT's
 *   8-byte gen8 PTEs in [8 MiB, 16 MiB), 4- and 8-byte aligned accesses only.
 * - BAR2 (GMADR): the aperture, graphics addresses [0, apertureSize) translated through the GGTT
 *   to host memory; a non-present entry reads 0 and drops writes (counted). Fences (detiling) are
 *   not applied to aperture accesses.
 * - Host physical memory (`HostMemory`, sparse).
 * - Five engines (`execlists.ts`, `executor.ts`) executing commands in simulated time on a
 *   `SimClock`, GT interrupts (`interrupts.ts`) delivered through `onInterrupt`.
 *
 * Hostile input never throws: bad sizes, offsets or addresses from a guest-style access are
 * counted in `stats` and answered as hardware would. Misuse of the host API (bad options) throws a
 * `GvtError` subclass.
 *
 * The PCI command register's memory-enable and bus-master bits are reported (`pci.memoryEnabled`,
 * `pci.busMasterEnabled`) but not enforced: whether an access reaches the device is the bus's
 * business, and the engines' DMA is not gated.
 */
import createDebug from 'debug';
import { SimClock } from '../clock.js';
import { ConfigError } from '../errors.js';
import { HostMemory } from '../ept/memory.js';
import { Ggtt } from '../gtt/ggtt.js';
import { MMIO_SPACE_BYTES, RegisterFile, compileHandlers, type CompiledHandlers, type HandlerRow } from '../mmio/index.js';
import { PAGE_SIZE, TWO_POW_32, hi32, lo32 } from '../types.js';
import { DEFAULT_COST_MODEL, compileCostModel, type CompiledCostModel, type CostModel } from './cost.js';
import { arg, checkOptions, optionKeys } from '../validate.js';
import { GEN9_ENGINES, type EngineName } from './engines.js';
import { Engine, ENGINE_MMIO_ROWS, ENGINE_PHASE_NAMES, type DeviceEvent, type EngineHost } from './execlists.js';
import { GtInterrupts, gtInterruptRows, type InterruptCallback } from './interrupts.js';
import { ggcFor, PciConfigSpace } from './pci.js';
import { Bits, GEN9_REGISTERS, REG, RING } from './registers.js';

const log = createDebug('gvtkit:device');

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Size of BAR0 (GTTMMADR). */
export const BAR0_SIZE = 16 * MiB;
/** Start of the reserved range of BAR0. */
export const BAR0_RESERVED_START = MMIO_SPACE_BYTES;
/** Start of the GGTT window of BAR0. */
export const BAR0_GGTT_START = 8 * MiB;

/** PCI identity of the modelled part (Linux `i915_pciids.h` INTEL_SKL_GT2_IDS: 0x1912 "DT GT2"). */
export const SKL_GT2_PCI = Object.freeze({
  vendorId: 0x8086,
  deviceId: 0x1912,
  /** A Skylake GT2 stepping as reported by production parts. */
  revisionId: 0x06,
  /** Display controller, VGA compatible. */
  classCode: 0x030000,
});

/** Options of `Gen9Device`. */
export interface Gen9DeviceOptions {
  /** Aperture (BAR2) size in bytes, a power of two; default 256 MiB. */
  apertureSize?: number;
  /** Graphics memory (GGTT) size in bytes, a multiple of 4 KiB; default 4 GiB (1 Mi entries). */
  graphicsMemorySize?: number;
  /** Host memory size in bytes; default 4 GiB. Ignored when `hostMemory` is given. */
  hostMemorySize?: number;
  /** Host memory to use (shared with other components). */
  hostMemory?: HostMemory;
  /** The simulated clock; default a new one. */
  clock?: SimClock;
  /** Cost-model overrides (merged with `DEFAULT_COST_MODEL`). */
  cost?: Partial<CostModel>;
  /** PCI device id; default 0x1912. */
  deviceId?: number;
  /** PCI revision; default 0x06. */
  revisionId?: number;
  /** Subsystem vendor / id; default 0x8086 / 0x1912. */
  subsystemVendorId?: number;
  subsystemId?: number;
  /** Model the IO BAR (BAR4, 64 bytes); default true. */
  ioBar?: boolean;
  /** Entries kept in `events` (oldest dropped); default 4096, 0 disables the trace. */
  traceLimit?: number;
}

/** Device-wide counters (per-engine counters live on the engines). */
export interface DeviceStats {
  mmioReads: number;
  mmioWrites: number;
  /** Accesses to the reserved [2 MiB, 8 MiB) range of BAR0. */
  reservedAccesses: number;
  /** BAR0/BAR2 accesses refused for size, alignment or range. */
  refused: number;
  ggttReads: number;
  ggttWrites: number;
  /** GGTT window accesses beyond the configured graphics memory (reads 0, writes dropped). */
  ggttOutOfRange: number;
  apertureReads: number;
  apertureWrites: number;
  /** Aperture accesses whose GGTT entry is not present or points outside host memory. */
  apertureFaults: number;
  /** Trace events dropped by the trace limit. */
  eventsDropped: number;
}

/** The engines: an array by id with a property per name (`engines[0] === engines.rcs`). */
export type DeviceEngines = readonly Engine[] & { readonly [K in EngineName]: Engine };

/** A summary of the device's state (for tools and tests; not a restorable snapshot). */
export interface DeviceStateSummary {
  version: 1;
  time: number;
  interruptLine: boolean;
  engines: {
    name: EngineName;
    phase: string;
    busy: boolean;
    contextId: number;
    head: number;
    tail: number;
    error: string | null;
  }[];
}

function checkSize(field: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min || v % PAGE_SIZE !== 0) {
    throw new ConfigError(field, `${v} must be a multiple of 4096 of at least ${min}`);
  }
}

const DEVICE_OPTIONS = optionKeys<Gen9DeviceOptions>({
  apertureSize: true, graphicsMemorySize: true, hostMemorySize: true, hostMemory: true, clock: true, cost: true, deviceId: true,
  revisionId: true, subsystemVendorId: true, subsystemId: true, ioBar: true, traceLimit: true,
});
const COST_KEYS: readonly string[] = Object.freeze(Object.keys(DEFAULT_COST_MODEL));

/**
 * What a read of an engine's PDP register on the device returns, when a mediator sets one
 * (`Gen9Device.pdpReadHook`): `dword` 0..7 is PDP0_LDW, PDP0_UDW, PDP1_LDW, ... PDP3_UDW of engine
 * `engineId`, `stored` the register's storage. Runs on every such read: must not allocate.
 */
export type PdpReadHook = (engineId: number, dword: number, stored: number) => number;

const OWNER = 'device/device';

/** Forcewake request registers and their acknowledges (Linux `intel_uncore.c` gen9 domains). */
const FORCEWAKE: readonly (readonly [number, number, string])[] = [
  [REG.FORCEWAKE_RENDER_GEN9, REG.FORCEWAKE_ACK_RENDER_GEN9, 'render'],
  [REG.FORCEWAKE_MEDIA_GEN9, REG.FORCEWAKE_ACK_MEDIA_GEN9, 'media'],
  [REG.FORCEWAKE_BLITTER_GEN9, REG.FORCEWAKE_ACK_BLITTER_GEN9, 'blitter'],
];

/** The device's own handler rows (global registers, and the PDP read policy of each engine). */
const DEVICE_ROWS: readonly HandlerRow<Gen9Device>[] = [
  {
    // GEN6_GDRST: domain resets complete at once; the register reads back 0 (done).
    at: REG.GEN6_GDRST, owner: OWNER, doc: 'resets the requested engine domains (or all) at once, then reads 0',
    write: (d, o, _v, _old, next) => {
      for (const e of d.engines) {
        if ((next & Bits.GEN6_GRDOM_FULL) !== 0 || (next & (1 << e.info.resetDomainBit)) !== 0) e.reset();
      }
      d.regs.poke(o, 0);
    },
  },
  // TLB invalidation requests complete at once (the model has no TLB).
  { at: REG.TLB_INV_RCS, count: 5, owner: OWNER, doc: 'an invalidation request completes at once (reads 0)', write: (d, o) => d.regs.poke(o, 0) },
  // Forcewake: the acknowledge follows the request (the model never sleeps).
  ...FORCEWAKE.map(([req, ack, domain]): HandlerRow<Gen9Device> => ({
    at: req, owner: OWNER, doc: `the ${domain} acknowledge follows the request`,
    write: (d, _o, _v, _old, next) => d.regs.poke(ack, next & 0xffff),
  })),
  // The PDPs, as commands (SRM, LRR) of a workload read them: the mediator's policy, if any.
  ...GEN9_ENGINES.map((e): HandlerRow<Gen9Device> => {
    const first = e.mmioBase + RING.PDP0_LDW, id = e.id;
    return {
      at: first, count: 8, owner: OWNER, doc: 'reads through `pdpReadHook` when a mediator set one (the guest\'s roots while its workload runs)',
      read: (d, o, stored) => {
        const h = d.pdpReadHook;
        return h === null ? stored : h(id, (o - first) >>> 2, stored);
      },
    };
  }),
];

/** The modelled Gen9 GPU. */
export class Gen9Device {
  readonly pci: PciConfigSpace;
  /** Host register file (the real registers of BAR0's first 2 MiB), over `GEN9_DEVICE_HANDLERS`. */
  readonly regs: RegisterFile<Gen9Device>;
  readonly ggtt: Ggtt;
  readonly hostMemory: HostMemory;
  readonly clock: SimClock;
  readonly cost: CompiledCostModel;
  readonly interrupts: GtInterrupts;
  readonly engines: DeviceEngines;
  readonly apertureSize: number;
  readonly graphicsMemorySize: number;
  readonly stats: DeviceStats = {
    mmioReads: 0, mmioWrites: 0, reservedAccesses: 0, refused: 0, ggttReads: 0, ggttWrites: 0,
    ggttOutOfRange: 0, apertureReads: 0, apertureWrites: 0, apertureFaults: 0, eventsDropped: 0,
  };
  /** The trace: CSB writes, interrupts, submissions, errors (bounded by `traceLimit`). */
  readonly events: DeviceEvent[] = [];
  /** Halves of the last 8-byte MMIO or aperture read (the value may exceed 2^53). */
  lastReadLo = 0;
  lastReadHi = 0;
  /**
   * The policy of PDP register reads (a row of the device's handler table calls it): null, the
   * stored value; a mediator sets it to answer with the guest's own roots while a guest's
   * workload runs (`RegisterResidue.pdpReadHook`).
   */
  pdpReadHook: PdpReadHook | null = null;

  private readonly traceLimit: number;
  private readonly listeners: ((e: DeviceEvent) => void)[] = [];

  constructor(opts: Gen9DeviceOptions = {}) {
    opts = checkOptions(opts, 'Gen9DeviceOptions', DEVICE_OPTIONS);
    checkOptions(opts.cost, 'Gen9DeviceOptions.cost', COST_KEYS);
    if (opts.hostMemory !== undefined && !(opts.hostMemory instanceof HostMemory)) throw new ConfigError('hostMemory', 'must be a HostMemory');
    if (opts.clock !== undefined && !(opts.clock instanceof SimClock)) throw new ConfigError('clock', 'must be a SimClock');
    const aperture = opts.apertureSize ?? 256 * MiB;
    const gm = opts.graphicsMemorySize ?? 4 * GiB;
    checkSize('graphicsMemorySize', gm, PAGE_SIZE);
    if (gm > 4 * GiB) throw new ConfigError('graphicsMemorySize', `${gm} exceeds the 4 GiB a 8 MiB GGTT maps`);
    checkSize('apertureSize', aperture, PAGE_SIZE);
    if (!Number.isInteger(Math.log2(aperture))) throw new ConfigError('apertureSize', `${aperture} is not a power of two`);
    if (aperture > gm) throw new ConfigError('apertureSize', `aperture ${aperture} exceeds graphics memory ${gm}`);
    this.apertureSize = aperture;
    this.graphicsMemorySize = gm;
    this.traceLimit = opts.traceLimit ?? 4096;
    if (!(Number.isInteger(this.traceLimit) && this.traceLimit >= 0)) throw new ConfigError('traceLimit', `${opts.traceLimit}`);
    this.clock = opts.clock ?? new SimClock();
    this.hostMemory = opts.hostMemory ?? new HostMemory({ size: opts.hostMemorySize ?? 4 * GiB });
    this.cost = compileCostModel(opts.cost);
    this.ggtt = new Ggtt(gm);
    this.regs = new RegisterFile(GEN9_DEVICE_HANDLERS, 'host', this);
    this.pci = new PciConfigSpace({
      vendorId: SKL_GT2_PCI.vendorId,
      deviceId: opts.deviceId ?? SKL_GT2_PCI.deviceId,
      revisionId: opts.revisionId ?? SKL_GT2_PCI.revisionId,
      classCode: SKL_GT2_PCI.classCode,
      subsystemVendorId: opts.subsystemVendorId ?? 0x8086,
      subsystemId: opts.subsystemId ?? 0x1912,
      bar0Size: BAR0_SIZE,
      bar2Size: aperture,
      bar4Size: opts.ioBar === false ? 0 : 64,
      ggc: ggcFor(this.ggtt.entries),
    });
    this.interrupts = new GtInterrupts(this.regs);
    const host: EngineHost = {
      regs: this.regs,
      ggtt: this.ggtt,
      hostMemory: this.hostMemory,
      cost: this.cost,
      clock: this.clock,
      interrupts: this.interrupts,
      now: () => this.clock.now,
      gttRead32: (gma) => this.gttRead32(gma),
      gttWrite32: (gma, v) => this.gttWrite32(gma, v),
      trace: (e) => this.trace(e),
    };
    const list = GEN9_ENGINES.map((info) => new Engine(info, host));
    const engines = list.slice() as Engine[] & Record<EngineName, Engine>;
    for (const e of list) engines[e.name] = e;
    this.engines = Object.freeze(engines) as DeviceEngines;
    this.interrupts.onInterrupt((pending) => this.trace({ time: this.clock.now, kind: 'interrupt', engine: null, status: pending }));
    log('Gen9Device: aperture %d MiB, graphics memory %d MiB, host memory %d MiB', aperture / MiB, gm / MiB, this.hostMemory.size / MiB);
  }

  /**
   * Listen to the device's events (submissions, CSB writes, errors, idle...). Listeners run
   * synchronously when the event happens; this is how a mediator learns that a context completed.
   */
  onEvent(listener: (e: DeviceEvent) => void): void {
    arg.func('onEvent listener', listener);
    this.listeners.push(listener);
  }

  private trace(e: DeviceEvent): void {
    for (let i = 0; i < this.listeners.length; i++) this.listeners[i](e);
    if (this.traceLimit === 0) return;
    if (this.events.length >= this.traceLimit) {
      this.events.shift();
      this.stats.eventsDropped++;
    }
    this.events.push(e);
  }

  // --- PCI ------------------------------------------------------------------------------------

  /** Config-space read (1, 2 or 4 bytes). */
  pciConfigRead(offset: number, size: number): number {
    arg.number('pciConfigRead offset', offset);
    arg.number('pciConfigRead size', size);
    return this.pci.read(offset, size);
  }

  /** Config-space write (1, 2 or 4 bytes). */
  pciConfigWrite(offset: number, size: number, value: number): void {
    arg.number('pciConfigWrite offset', offset);
    arg.number('pciConfigWrite size', size);
    arg.number('pciConfigWrite value', value);
    this.pci.write(offset, size, value);
  }

  // --- BAR0 -----------------------------------------------------------------------------------

  /**
   * Read `size` bytes at BAR0 `offset`. An 8-byte read returns lo + hi·2^32 (exact below 2^53) and
   * leaves the halves in `lastReadLo`/`lastReadHi`.
   */
  mmioRead(offset: number, size: number): number {
    arg.number('mmioRead offset', offset);
    arg.number('mmioRead size', size);
    this.stats.mmioReads++;
    if (offset >= 0 && offset < BAR0_RESERVED_START) {
      const v = this.regs.read(offset, size);
      if (size === 8) {
        this.lastReadLo = this.regs.lastReadLo;
        this.lastReadHi = this.regs.lastReadHi;
      }
      return v;
    }
    if (!this.validBarAccess(offset, size, BAR0_SIZE)) return 0;
    if (offset < BAR0_GGTT_START) {
      this.stats.reservedAccesses++;
      return 0;
    }
    return this.ggttWindowRead(offset - BAR0_GGTT_START, size);
  }

  /** Write `size` bytes of `value` at BAR0 `offset` (8-byte values up to 2^53; see `mmioWrite64`). */
  mmioWrite(offset: number, size: number, value: number): void {
    arg.number('mmioWrite offset', offset);
    arg.number('mmioWrite size', size);
    arg.number('mmioWrite value', value);
    if (size === 8) {
      this.mmioWrite64(offset, lo32(value), hi32(value));
      return;
    }
    this.stats.mmioWrites++;
    if (offset >= 0 && offset < BAR0_RESERVED_START) {
      this.regs.write(offset, size, value);
      return;
    }
    if (!this.validBarAccess(offset, size, BAR0_SIZE)) return;
    if (offset < BAR0_GGTT_START) {
      this.stats.reservedAccesses++;
      return;
    }
    this.ggttWindowWrite(offset - BAR0_GGTT_START, size, value >>> 0, 0);
  }

  /** 8-byte BAR0 write given as halves (a GGTT entry, a fence, a 64-bit register pair). */
  mmioWrite64(offset: number, lo: number, hi: number): void {
    arg.number('mmioWrite64 offset', offset);
    arg.number('mmioWrite64 lo', lo);
    arg.number('mmioWrite64 hi', hi);
    this.stats.mmioWrites++;
    if (offset >= 0 && offset < BAR0_RESERVED_START) {
      this.regs.write64(offset, lo, hi);
      return;
    }
    if (!this.validBarAccess(offset, 8, BAR0_SIZE)) return;
    if (offset < BAR0_GGTT_START) {
      this.stats.reservedAccesses++;
      return;
    }
    this.ggttWindowWrite(offset - BAR0_GGTT_START, 8, lo >>> 0, hi >>> 0);
  }

  private validBarAccess(offset: number, size: number, barSize: number): boolean {
    if ((size === 1 || size === 2 || size === 4 || size === 8) && Number.isInteger(offset) && offset >= 0 && offset + size <= barSize) return true;
    this.stats.refused++;
    if (log.enabled) log('refused %d-byte access at BAR offset %s', size, String(offset));
    return false;
  }

  private ggttWindowRead(o: number, size: number): number {
    if (!((size === 4 && (o & 3) === 0) || (size === 8 && (o & 7) === 0))) {
      this.stats.refused++;
      return 0;
    }
    this.stats.ggttReads++;
    const entry = Math.floor(o / 8);
    if (entry >= this.ggtt.entries) {
      this.stats.ggttOutOfRange++;
      if (size === 8) this.lastReadLo = this.lastReadHi = 0;
      return 0;
    }
    const w = this.ggtt.words;
    if (size === 4) return w[entry * 2 + ((o >>> 2) & 1)];
    this.lastReadLo = w[entry * 2];
    this.lastReadHi = w[entry * 2 + 1];
    return this.lastReadHi * TWO_POW_32 + this.lastReadLo;
  }

  private ggttWindowWrite(o: number, size: number, lo: number, hi: number): void {
    if (!((size === 4 && (o & 3) === 0) || (size === 8 && (o & 7) === 0))) {
      this.stats.refused++;
      return;
    }
    this.stats.ggttWrites++;
    const entry = Math.floor(o / 8);
    if (entry >= this.ggtt.entries) {
      this.stats.ggttOutOfRange++;
      return;
    }
    if (size === 8) {
      this.ggtt.set(entry, lo, hi);
    } else if ((o & 4) === 0) {
      this.ggtt.set(entry, lo, this.ggtt.hi(entry));
    } else {
      this.ggtt.set(entry, this.ggtt.lo(entry), lo);
    }
  }

  // --- BAR2 (aperture) ------------------------------------------------------------------------

  /** Host address behind aperture offset `o`, or -1 (not present / outside host memory). */
  private apertureTranslate(o: number): number {
    const hpa = this.ggtt.translate(o);
    if (hpa < 0 || hpa >= this.hostMemory.size) return -1;
    return hpa;
  }

  /** Read `size` (1, 2, 4, 8) bytes of the aperture at `offset`. */
  apertureRead(offset: number, size: number): number {
    arg.number('apertureRead offset', offset);
    arg.number('apertureRead size', size);
    if (!this.validBarAccess(offset, size, this.apertureSize)) return 0;
    this.stats.apertureReads++;
    if (((offset % PAGE_SIZE) + size <= PAGE_SIZE) && (offset & (Math.min(size, 4) - 1)) === 0) {
      const hpa = this.apertureTranslate(offset);
      if (hpa < 0) {
        this.stats.apertureFaults++;
        if (size === 8) this.lastReadLo = this.lastReadHi = 0;
        return 0;
      }
      const m = this.hostMemory;
      if (size === 1) return m.read8(hpa);
      if (size === 2) return m.read16(hpa);
      if (size === 4) return m.read32(hpa) >>> 0;
      this.lastReadLo = m.read32(hpa) >>> 0;
      this.lastReadHi = m.read32(hpa + 4) >>> 0;
      return this.lastReadHi * TWO_POW_32 + this.lastReadLo;
    }
    // Misaligned or crossing a page: byte by byte.
    const bytes = this.apertureReadBytes(offset, size);
    let v = 0;
    for (let k = size - 1; k >= 0; k--) v = v * 256 + bytes[k];
    if (size === 8) {
      this.lastReadLo = (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
      this.lastReadHi = (bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24)) >>> 0;
    }
    return v;
  }

  /** Write `size` (1, 2, 4, 8) bytes of `value` to the aperture at `offset`. */
  apertureWrite(offset: number, size: number, value: number): void {
    arg.number('apertureWrite offset', offset);
    arg.number('apertureWrite size', size);
    arg.number('apertureWrite value', value);
    if (!this.validBarAccess(offset, size, this.apertureSize)) return;
    this.stats.apertureWrites++;
    const bytes = new Uint8Array(size);
    let v = value;
    for (let k = 0; k < size; k++) {
      bytes[k] = v % 256;
      v = Math.floor(v / 256);
    }
    this.writeApertureRange(offset, bytes);
  }

  /** Read `length` bytes of the aperture (pages that do not translate read as zeros, counted). */
  apertureReadBytes(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, length | 0));
    if (!(Number.isInteger(offset) && offset >= 0 && length >= 0 && offset + length <= this.apertureSize)) {
      this.stats.refused++;
      return out;
    }
    let done = 0;
    while (done < length) {
      const o = offset + done;
      const k = Math.min(length - done, PAGE_SIZE - (o % PAGE_SIZE));
      const hpa = this.apertureTranslate(o);
      if (hpa < 0) this.stats.apertureFaults++;
      else out.set(this.hostMemory.read(hpa, k), done);
      done += k;
    }
    return out;
  }

  /** Write bytes to the aperture (pages that do not translate drop their part, counted). */
  apertureWriteBytes(offset: number, bytes: Uint8Array): void {
    if (!(Number.isInteger(offset) && offset >= 0 && offset + bytes.length <= this.apertureSize)) {
      this.stats.refused++;
      return;
    }
    this.stats.apertureWrites++;
    this.writeApertureRange(offset, bytes);
  }

  private writeApertureRange(offset: number, bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) {
      const o = offset + done;
      const k = Math.min(bytes.length - done, PAGE_SIZE - (o % PAGE_SIZE));
      const hpa = this.apertureTranslate(o);
      if (hpa < 0) this.stats.apertureFaults++;
      else this.hostMemory.write(hpa, bytes.subarray(done, done + k));
      done += k;
    }
  }

  // --- graphics memory helpers (host-side, not bus interfaces) -------------------------------

  /** Dword at GGTT address `gma`, NaN when it does not translate. */
  gttRead32(gma: number): number {
    const hpa = this.ggtt.translate(gma);
    if (hpa < 0 || hpa + 4 > this.hostMemory.size || (hpa & 3) !== 0) return NaN;
    return this.hostMemory.read32(hpa) >>> 0;
  }

  /** Write a dword at GGTT address `gma`; false when it does not translate. */
  gttWrite32(gma: number, value: number): boolean {
    const hpa = this.ggtt.translate(gma);
    if (hpa < 0 || hpa + 4 > this.hostMemory.size || (hpa & 3) !== 0) return false;
    this.hostMemory.write32(hpa, value >>> 0);
    return true;
  }

  // --- interrupts, time, reset ----------------------------------------------------------------

  /** Call `cb` whenever the interrupt line goes up (master enabled and an enabled IIR bit set). */
  onInterrupt(cb: InterruptCallback): void {
    arg.func('onInterrupt callback', cb);
    this.interrupts.onInterrupt(cb);
  }

  /** True while the interrupt line is up. */
  get interruptLine(): boolean {
    return this.interrupts.lineUp;
  }

  /** Engine by name or id. */
  engine(nameOrId: EngineName | number): Engine {
    const e = typeof nameOrId === 'number' ? this.engines[nameOrId] : this.engines[nameOrId];
    if (!e) throw new ConfigError('engine', `no engine ${String(nameOrId)}`);
    return e;
  }

  /** True while any engine has work. */
  get busy(): boolean {
    for (const e of this.engines) if (e.busy) return true;
    return false;
  }

  /** Advance simulated time by `ns`, running every event due. */
  run(ns: number): void {
    arg.finite('run ns', ns);
    this.clock.advance(ns);
  }

  /**
   * Run clock events until no engine is busy, at most `maxNs` of simulated time (default 10 s).
   * Returns true when the device went idle (a hung or STOP_RING-halted engine counts as not busy /
   * stalled respectively: a stalled engine makes this return false).
   */
  runUntilIdle(maxNs = 10e9): boolean {
    arg.number('runUntilIdle maxNs', maxNs);
    const deadline = this.clock.now + maxNs;
    while (this.busy) {
      const t = this.clock.nextTime();
      if (t === Infinity || t > deadline) break;
      this.clock.step();
    }
    return !this.busy;
  }

  /**
   * Device reset (as after a function-level reset): registers back to their reset values, every
   * engine reset, the interrupt line dropped. The GGTT, host memory, PCI config space and the
   * counters are kept.
   */
  reset(): void {
    for (const e of this.engines) e.reset();
    this.regs.reset();
    this.interrupts.reset();
    this.trace({ time: this.clock.now, kind: 'reset', engine: null });
  }

  /** A summary of the device's state. */
  state(): DeviceStateSummary {
    return {
      version: 1,
      time: this.clock.now,
      interruptLine: this.interrupts.lineUp,
      engines: this.engines.map((e) => ({
        name: e.name,
        phase: ENGINE_PHASE_NAMES[e.phase],
        busy: e.busy,
        contextId: e.currentContextId,
        head: e.streamer.head,
        tail: e.streamer.tail,
        error: e.error ? `${e.error.code}: ${e.error.message}` : null,
      })),
    };
  }
}


/**
 * The device's register handlers, compiled once for every device: the GT interrupt registers,
 * each engine's registers (`ENGINE_MMIO_ROWS`) and the device's own rows. The rows reach the
 * device's parts through the device given as the register file's context.
 */
export const GEN9_DEVICE_HANDLERS: CompiledHandlers<Gen9Device> = compileHandlers<Gen9Device>('device', GEN9_REGISTERS, [
  ...gtInterruptRows<Gen9Device>((d) => d.interrupts),
  ...ENGINE_MMIO_ROWS,
  ...DEVICE_ROWS,
]);
