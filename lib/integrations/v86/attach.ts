/**
 * A gvtkit vGPU on v86's PCI bus: the glue an emulator author needs to boot a real OS (Linux's
 * i915) against the mediator. See `v86-types.ts` for the v86 internals it relies on.
 *
 * What it does:
 * - registers the vGPU as PCI device `00:<slot>.0` with the vGPU's own config space; every config
 *   read and write goes to the vGPU (`pciConfigRead/Write`), and v86's static copy is refreshed
 *   from it, so a BAR sizing or a command-register write behaves as the vGPU says;
 * - maps BAR0 (registers, GTT window) and BAR2 (aperture) with v86's 128 KiB MMIO blocks, below
 *   4 GiB (v86 decodes 32-bit physical addresses only); when the guest moves a BAR, the mapping
 *   follows where v86 allows it (128 KiB aligned, above RAM, not over another device's block, the
 *   VGA frame buffer or the IOAPIC/APIC/BIOS range); a refused move leaves the BAR where it was,
 *   as a fixed BAR reads back (counted in `stats.barMovesRefused`);
 * - merges the two byte writes v86 makes of a 16-bit MMIO write back into one 16-bit access;
 * - drives INTx with level semantics from the vGPU's interrupt line (v86 has no MSI: boot the guest
 *   with `pci=nomsi`); the line drops when the guest acknowledges;
 * - advances the mediator's simulated clock with v86's own clock (`run_hardware_timers`), and
 *   asks v86 to come back no later than the device's next event while work is pending.
 *
 * Guest RAM is v86's memory (`ArrayGuestMemory` over the WebAssembly memory's buffer, followed when
 * the memory grows: `Vgpu.guestMemoryMoved`). v86's JIT stores into it
 * without traps, so the vGPU is created with `guestWrites: 'untrapped'`.
 */
import createDebug from 'debug';
import { ConfigError, RangeArgError, StateError } from '../../errors.js';
import { arg } from '../../validate.js';
import type { Mediator } from '../../mediator/mediator.js';
import type { Vgpu } from '../../mediator/vgpu.js';
import { PciReg } from '../../device/pci.js';
import { ArrayGuestMemory } from './memory.js';
import {
  V86_MMAP_BLOCK_BITS, V86_MMAP_BLOCK_SIZE, V86_RESERVED_FROM, V86_VGA_LFB_ADDRESS,
  type V86Cpu, type V86Emulator, type V86Pci, type V86Read32, type V86Read8, type V86Write32, type V86Write8,
} from './v86-types.js';

const log = createDebug('gvtkit:v86');

/** Options of `attachV86Vgpu`. */
export interface V86AttachOptions {
  /** The mediator that owns the device. */
  mediator: Mediator;
  /** vGPU type (default `GVTg_V5_4`). */
  type?: string;
  /** vGPU name for logs (default `v86`). */
  name?: string;
  /** PCI slot on bus 0 (default 2: i915 expects the IGD at 00:02.0). */
  slot?: number;
  /** Guest-physical address of BAR0 (16 MiB aligned, below 4 GiB; default 0xd0000000). */
  bar0?: number;
  /** Guest-physical address of BAR2 (aligned to the aperture size; default: just below BAR0). */
  bar2?: number;
  /** Longest simulated step per v86 timer call, in ns (default 20 ms): a stalled host does not make the GPU leap. */
  maxStepNs?: number;
}

/** Counters of the glue. */
export interface V86AttachStats {
  configReads: number;
  configWrites: number;
  mmioReads: number;
  mmioWrites: number;
  /** 16-bit writes v86 split into bytes, merged back. */
  merged16: number;
  /** BAR moves the glue could not follow (the BAR kept its old address). */
  barMovesRefused: number;
  irqRaised: number;
  irqLowered: number;
  /** Simulated ns the glue advanced the mediator by. */
  advancedNs: number;
}

interface Mapping {
  base: number;
  size: number;
  saved: [V86Read8 | undefined, V86Write8 | undefined, V86Read32 | undefined, V86Write32 | undefined][];
}

/** A vGPU attached to a v86 emulator. */
export class V86Vgpu {
  readonly vgpu: Vgpu;
  readonly memory: ArrayGuestMemory;
  readonly mediator: Mediator;
  /** Bus/device/function number (`slot << 3`). */
  readonly bdf: number;
  readonly stats: V86AttachStats = {
    configReads: 0, configWrites: 0, mmioReads: 0, mmioWrites: 0, merged16: 0, barMovesRefused: 0,
    irqRaised: 0, irqLowered: 0, advancedNs: 0,
  };

  private readonly cpu: V86Cpu;
  private readonly pci: V86Pci;
  private readonly space: Int32Array;
  private readonly maxStepNs: number;
  private readonly unmappedRead8: V86Read8 | undefined;
  private mappings: (Mapping | null)[] = [null, null];
  private line = false;
  private lastMs = -1;
  private detached = false;
  private readonly restore: (() => void)[] = [];
  private readonly r8: V86Read8;
  private readonly w8: V86Write8;
  private readonly r32: V86Read32;
  private readonly w32: V86Write32;

  constructor(emulator: V86Emulator, opts: V86AttachOptions) {
    const cpu = emulator?.v86?.cpu;
    if (!cpu || !cpu.io || !cpu.devices?.pci || cpu.mem8 === undefined || typeof cpu.memory_size?.[0] !== 'number') {
      throw new ConfigError('emulator', 'not a v86 emulator after initialisation (expected emulator.v86.cpu with io, devices.pci and mem8): attach on "emulator-loaded"');
    }
    const slot = opts.slot ?? 2;
    arg.int('slot', slot);
    if (slot < 1 || slot > 31) throw new RangeArgError(`slot: expected 1..31, got ${slot}`);
    this.maxStepNs = opts.maxStepNs ?? 20e6;
    arg.finite('maxStepNs', this.maxStepNs);
    this.cpu = cpu;
    this.pci = cpu.devices.pci;
    this.bdf = slot << 3;
    if (this.pci.devices[this.bdf] !== undefined) throw new ConfigError('slot', `PCI slot ${slot} is taken by v86's ${this.pci.devices[this.bdf]!.name}`);
    // Every argument is checked before anything is created or hooked.
    const aperture = opts.mediator.device.apertureSize;
    const bar0 = opts.bar0 ?? 0xd000_0000;
    const bar2 = opts.bar2 ?? Math.floor((bar0 - aperture) / aperture) * aperture;
    for (const [name, v, size] of [['bar0', bar0, 16 * 1024 * 1024], ['bar2', bar2, aperture]] as const) {
      arg.int(name, v);
      if (v < 0 || v + size > 2 ** 32) throw new RangeArgError(`${name}: v86 decodes 32-bit addresses only, got 0x${v.toString(16)} + 0x${size.toString(16)}`);
      if (v % size !== 0) throw new RangeArgError(`${name}: 0x${v.toString(16)} is not aligned to the BAR size 0x${size.toString(16)}`);
    }
    this.mediator = opts.mediator;
    // v86's RAM is a range of its WebAssembly memory, whose buffer is replaced when it grows.
    const wasm = cpu.wasm_memory;
    this.memory = wasm !== undefined
      ? new ArrayGuestMemory(() => wasm.buffer, cpu.mem8.byteOffset, cpu.memory_size[0])
      : new ArrayGuestMemory(cpu.mem8.subarray(0, cpu.memory_size[0]));
    // The block just above RAM is unmapped at start: its handler is v86's "nothing here".
    this.unmappedRead8 = cpu.memory_map_read8[Math.ceil(cpu.memory_size[0] / V86_MMAP_BLOCK_SIZE)];
    if (!this.placeable(bar0, 16 * 1024 * 1024, 0) || !this.placeable(bar2, aperture, 1) || (bar0 < bar2 + aperture && bar2 < bar0 + 16 * 1024 * 1024)) {
      throw new RangeArgError(`BAR0 0x${bar0.toString(16)} / BAR2 0x${bar2.toString(16)}: v86 cannot decode them there (over RAM, another device, each other, the VGA frame buffer or the APIC/BIOS range)`);
    }
    this.vgpu = opts.mediator.createVgpu({ type: opts.type ?? 'GVTg_V5_4', memory: this.memory, name: opts.name ?? 'v86', guestWrites: 'untrapped' });

    this.r8 = (a) => this.mmio(a, 1, false, 0);
    this.w8 = (a, v) => { this.mmio(a, 1, true, v & 0xff); };
    this.r32 = (a) => this.mmio(a, 4, false, 0) | 0;
    this.w32 = (a, v) => { this.mmio(a, 4, true, v >>> 0); };

    // Config space: placed below 4 GiB before the guest's firmware looks.
    const vg = this.vgpu;
    vg.pciConfigWrite(PciReg.COMMAND, 2, 0);
    vg.pciConfigWrite(PciReg.BAR0, 4, bar0);
    vg.pciConfigWrite(PciReg.BAR0_HI, 4, 0);
    vg.pciConfigWrite(PciReg.BAR2, 4, bar2);
    vg.pciConfigWrite(PciReg.BAR2 + 4, 4, 0);
    vg.pciConfigWrite(PciReg.COMMAND, 2, 0x6); // memory space + bus master, as firmware leaves an IGD
    const bytes = new Uint8Array(256);
    for (let i = 0; i < 256; i += 4) new DataView(bytes.buffer).setUint32(i, vg.pciConfigRead(i, 4), true);
    this.space = this.pci.register_device({ pci_id: this.bdf, pci_space: bytes, pci_bars: [], name: `gvtkit ${vg.name}` });
    this.hookPci();
    this.hookCpu();
    this.followBars();
    vg.onInterrupt(() => this.syncLine());
    log('%s attached at 00:%s.0, BAR0 0x%s, BAR2 0x%s (%d MiB), RAM %d MiB', vg.name, slot.toString(16), bar0.toString(16), bar2.toString(16), aperture >>> 20, this.memory.size >>> 20);
  }

  /** Current guest-physical placement of BAR0 and BAR2 as mapped in v86 (null: not decoded). */
  get bars(): { bar0: number | null; bar2: number | null } {
    return { bar0: this.mappings[0]?.base ?? null, bar2: this.mappings[1]?.base ?? null };
  }

  /** Remove the device from v86's view (MMIO blocks restored, hooks removed) and destroy the vGPU. */
  detach(): void {
    if (this.detached) return;
    this.unmap(0);
    this.unmap(1);
    for (const undo of this.restore.reverse()) undo();
    if (this.line) this.pci.lower_irq(this.bdf);
    this.pci.devices[this.bdf] = undefined;
    this.pci.device_spaces[this.bdf] = undefined;
    this.detached = true;
    this.vgpu.destroy();
  }

  // ------------------------------------------------------------------ PCI config

  private hookPci(): void {
    const pci = this.pci;
    const bdf = this.bdf;
    const w8 = pci.pci_write8, w16 = pci.pci_write16, w32 = pci.pci_write32, query = pci.pci_query;
    const write = (orig: (a: number, v: number) => void, size: number) => (address: number, value: number): void => {
      if ((address >> 8 & 0xffff) !== bdf) {
        orig.call(pci, address, value);
        return;
      }
      this.configWrite(address & 0xff, size, value);
    };
    pci.pci_write8 = write(w8, 1);
    pci.pci_write16 = write(w16, 2);
    pci.pci_write32 = write(w32, 4);
    pci.pci_query = (): void => {
      const a = pci.pci_addr;
      if (((a[2] << 8) | a[1]) === bdf) {
        this.stats.configReads++;
        this.refreshSpace();
      }
      query.call(pci);
    };
    this.restore.push(() => {
      pci.pci_write8 = w8;
      pci.pci_write16 = w16;
      pci.pci_write32 = w32;
      pci.pci_query = query;
    });
  }

  private configWrite(offset: number, size: number, value: number): void {
    if (this.detached) return;
    this.stats.configWrites++;
    const mask = size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    const before = [this.vgpu.pciConfigRead(PciReg.BAR0, 4), this.vgpu.pciConfigRead(PciReg.BAR2, 4)];
    this.vgpu.pciConfigWrite(offset, size, (value & mask) >>> 0);
    if (offset < PciReg.BAR2 + 8 && offset + size > PciReg.COMMAND) this.followBars(before);
    this.refreshSpace();
  }

  private refreshSpace(): void {
    for (let i = 0; i < 64; i++) this.space[i] = this.vgpu.pciConfigRead(i * 4, 4) | 0;
  }

  // ------------------------------------------------------------------ BARs

  /**
   * Map BAR0 and BAR2 where the vGPU's config space now has them. A BAR holding its size mask
   * (a sizing probe: all address bits written as ones) is not a placement: its mapping stays
   * until the guest writes an address back. A placement v86 cannot decode (at or above 4 GiB, not
   * 128 KiB aligned, over RAM, over another device) is refused: the BAR is put back to where it
   * is mapped (or to `before`, its previous value) and reads back there, as a fixed BAR does.
   */
  private followBars(before?: number[]): void {
    const vg = this.vgpu;
    if (!vg.pci.memoryEnabled) {
      this.unmap(0);
      this.unmap(1);
      return;
    }
    const sizes = [16 * 1024 * 1024, vg.device.apertureSize];
    for (let i = 0; i < 2; i++) {
      const barReg = i === 0 ? PciReg.BAR0 : PciReg.BAR2;
      const size = sizes[i];
      const lo = vg.pciConfigRead(barReg, 4), hi = vg.pciConfigRead(barReg + 4, 4);
      const sizeMask = (~(size - 1) & 0xfffffff0) >>> 0;
      if (hi >>> 0 === 0xffffffff || ((lo & 0xfffffff0) >>> 0) === sizeMask) continue; // sizing probe
      const base = vg.pci.barAddress(i === 0 ? 0 : 2);
      const current = this.mappings[i];
      if (current !== null && current.base === base) continue;
      if (!this.placeable(base, size, i)) {
        this.stats.barMovesRefused++;
        const back = current !== null ? current.base : before !== undefined ? (before[i] & 0xfffffff0) >>> 0 : -1;
        log('BAR%d move to 0x%s refused (v86 cannot decode it there)', i === 0 ? 0 : 2, base.toString(16));
        if (back >= 0) {
          vg.pciConfigWrite(barReg, 4, (back | (lo & 0xf)) >>> 0);
          vg.pciConfigWrite(barReg + 4, 4, 0);
          if (current === null && this.placeable(back, size, i)) this.map(i, back, size);
        }
        continue;
      }
      this.unmap(i);
      this.map(i, base, size);
    }
  }

  private placeable(base: number, size: number, which: number): boolean {
    if (base % V86_MMAP_BLOCK_SIZE !== 0 || base < this.cpu.memory_size[0] || base + size > V86_RESERVED_FROM) return false;
    if (base < V86_VGA_LFB_ADDRESS + 0x0100_0000 && base + size > V86_VGA_LFB_ADDRESS) return false;
    const other = this.mappings[1 - which];
    const m = this.cpu.memory_map_read8;
    for (let b = base >>> V86_MMAP_BLOCK_BITS; b < (base + size) / V86_MMAP_BLOCK_SIZE; b++) {
      const ours = other !== null && b >= other.base >>> V86_MMAP_BLOCK_BITS && b < (other.base + other.size) / V86_MMAP_BLOCK_SIZE;
      if (ours) return false;
      const mine = this.mappings[which];
      const self = mine !== null && b >= mine.base >>> V86_MMAP_BLOCK_BITS && b < (mine.base + mine.size) / V86_MMAP_BLOCK_SIZE;
      if (!self && m[b] !== this.unmappedRead8) return false;
    }
    return true;
  }

  private map(which: number, base: number, size: number): void {
    const c = this.cpu;
    const saved: Mapping['saved'] = [];
    for (let b = base >>> V86_MMAP_BLOCK_BITS; b < (base + size) / V86_MMAP_BLOCK_SIZE; b++) {
      saved.push([c.memory_map_read8[b], c.memory_map_write8[b], c.memory_map_read32[b], c.memory_map_write32[b]]);
    }
    c.io.mmap_register(base, size, this.r8, this.w8, this.r32, this.w32);
    this.mappings[which] = { base, size, saved };
  }

  private unmap(which: number): void {
    const m = this.mappings[which];
    if (!m) return;
    const c = this.cpu;
    let b = m.base >>> V86_MMAP_BLOCK_BITS;
    for (const [r8, w8, r32, w32] of m.saved) {
      c.memory_map_read8[b] = r8;
      c.memory_map_write8[b] = w8;
      c.memory_map_read32[b] = r32;
      c.memory_map_write32[b] = w32;
      b++;
    }
    this.mappings[which] = null;
  }

  // ------------------------------------------------------------------ MMIO, timers, interrupts

  /**
   * Follow a grown WebAssembly memory: new views for the guest RAM and the frames the EPT adopted.
   * The glue does this before every access it routes and every timer step. A host that reads guest
   * memory through the vGPU from anywhere else (a serial or screen callback calling
   * `vgpu.readFramebuffer`, `vgpu.readGuestGma32`, ...) calls it first: v86 may have grown its memory
   * since, and the views of the old buffer read as zeros. Answers true when the views moved.
   */
  syncGuestMemory(): boolean {
    if (this.detached || this.vgpu.state === 'destroyed') return false;
    if (!this.memory.refresh()) return false;
    const n = this.vgpu.guestMemoryMoved();
    log('guest RAM buffer replaced (WebAssembly memory grew): %d views re-pointed', n);
    return true;
  }

  private mmio(addr: number, size: number, isWrite: boolean, value: number): number {
    if (this.detached || this.vgpu.state === 'destroyed') return isWrite ? 0 : size === 4 ? 0xffffffff : 0xff;
    this.syncGuestMemory();
    const a = addr >>> 0;
    let r = 0;
    if (isWrite) {
      this.stats.mmioWrites++;
      this.vgpu.access('mem', a, size, true, value);
      this.syncLine();
    } else {
      this.stats.mmioReads++;
      r = this.vgpu.access('mem', a, size, false);
    }
    return r;
  }

  private inBars(addr: number): boolean {
    for (const m of this.mappings) if (m !== null && addr >= m.base && addr < m.base + m.size) return true;
    return false;
  }

  private hookCpu(): void {
    const cpu = this.cpu;
    const write16 = cpu.mmap_write16;
    const timers = cpu.run_hardware_timers;
    cpu.mmap_write16 = (addr: number, value: number): void => {
      const a = addr >>> 0;
      if ((a & 1) === 0 && this.inBars(a) && !this.detached) {
        this.stats.merged16++;
        this.mmio(a, 2, true, value & 0xffff);
        return;
      }
      write16.call(cpu, addr, value);
    };
    cpu.run_hardware_timers = (acpiEnabled: boolean, now: number): number => {
      const t = timers.call(cpu, acpiEnabled, now);
      return Math.min(t, this.tick(now));
    };
    this.restore.push(() => {
      cpu.mmap_write16 = write16;
      cpu.run_hardware_timers = timers;
    });
  }

  /**
   * Advance the mediator to v86's time `nowMs` (milliseconds, v86's `microtick`). Returns how
   * many milliseconds v86 may sleep before the device's next event (v86 caps it itself).
   */
  tick(nowMs: number): number {
    if (this.detached) return 100;
    this.syncGuestMemory();
    if (this.lastMs < 0) this.lastMs = nowMs;
    const delta = Math.min(Math.max(0, (nowMs - this.lastMs) * 1e6), this.maxStepNs);
    this.lastMs = nowMs;
    if (delta > 0) {
      this.mediator.run(delta);
      this.stats.advancedNs += delta;
    }
    this.syncLine();
    const clock = this.vgpu.device.clock;
    const next = clock.nextTime();
    if (next === Infinity) return 100;
    return Math.max(0, (next - clock.now) / 1e6);
  }

  /** Make v86's INTx line follow the vGPU's level. */
  private syncLine(): void {
    if (this.detached || this.vgpu.state === 'destroyed') return;
    const up = this.vgpu.interruptLine;
    if (up === this.line) return;
    this.line = up;
    if (up) {
      this.stats.irqRaised++;
      this.pci.raise_irq(this.bdf);
    } else {
      this.stats.irqLowered++;
      this.pci.lower_irq(this.bdf);
    }
  }
}

/**
 * Attach a new vGPU of `opts.mediator` to a v86 emulator as PCI device 00:02.0 (by default).
 * Call it on v86's `emulator-loaded` event, before the guest runs (create the emulator with
 * `autostart: false`, attach, then `emulator.run()`).
 */
export function attachV86Vgpu(emulator: V86Emulator, opts: V86AttachOptions): V86Vgpu {
  if (opts === null || typeof opts !== 'object' || opts.mediator === undefined) throw new ConfigError('options', 'attachV86Vgpu needs { mediator }');
  if ((opts.mediator as unknown as { device?: unknown }).device === undefined) throw new StateError('mediator is not a gvtkit Mediator');
  return new V86Vgpu(emulator, opts);
}
