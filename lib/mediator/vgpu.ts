/**
 * `Vgpu`: one guest's virtual GPU, the mediator's per-guest state.
 *
 * What the guest reaches, and how each part is virtualized (GVT-g's split, `gvt/handlers.c`,
 * `gvt/cfg_space.c`, `gvt/aperture_gm.c`):
 * - BAR0 registers [0, 2 MiB): a virtual register file over the device's own register table
 *   (every register is plain virtual storage unless a handler row says otherwise), with the
 *   PVINFO page at 0x78000 emulated, the GT interrupt registers emulated (virtual interrupts),
 *   fences mapped onto the vGPU's host fences, and untracked offsets counted and answered as
 *   hardware does.
 * - BAR0 [2 MiB, 8 MiB): reserved, reads 0, writes dropped, counted.
 * - BAR0 [8 MiB, 16 MiB): the GTT window, trapped into the vGPU's `ShadowGgtt`.
 * - BAR2: the aperture, passed through to the host aperture inside the vGPU's low slice only
 *   (guest and host graphics addresses are equal under ballooning); outside it, reads 0 and
 *   writes are dropped (GVT-g's CVE-2019-11085 was an aperture range that was not checked).
 * - PCI config space: a virtual copy of the device's, with BAR relocation moving the stub's
 *   regions and the memory-space enable switching them.
 * - Guest RAM writes to write-protected pages: `guestWrite` (the EPT's vCPU path).
 *
 * Guest input never throws: every bad access is counted and answered as hardware would.
 */
import createDebug from 'debug';
import { StateError } from '../errors.js';
import { Ept, isPagedGuestMemory } from '../ept/ept.js';
import type { GuestMemory } from '../ept/memory.js';
import { TrapStub, type StubSpace } from '../ept/stub.js';
import type { Gen9Device } from '../device/device.js';
import { PciConfigSpace, PciReg, PciCommand } from '../device/pci.js';
import { GtInterrupts } from '../device/interrupts.js';
import { GEN9_REGISTERS, fenceReg } from '../device/registers.js';
import { RegisterFile, MMIO_SPACE_BYTES } from '../mmio/index.js';
import { ShadowGgtt, GGTT_WINDOW_SIZE } from '../gtt/shadow-ggtt.js';
import type { GmSlices } from '../gtt/partition.js';
import type { VgpuType } from '../gtt/vgpu-types.js';
import { PvinfoPage, VGT_PVINFO_PAGE, VGT_PVINFO_SIZE, type PvinfoField } from './pvinfo.js';
import { TWO_POW_32 } from '../types.js';

const log = createDebug('gvtkit:vgpu');

/** BAR0 offset of the GTT window. */
export const BAR0_GTT_OFFSET = 8 * 1024 * 1024;
/** BAR0 size. */
export const BAR0_BYTES = 16 * 1024 * 1024;
/** Default guest-physical placement of BAR0 and BAR2 (as firmware would assign; movable). */
export const DEFAULT_BAR0_GPA = 0x80_0000_0000;
export const DEFAULT_BAR2_GPA = 0x81_0000_0000;

/** Lifecycle states (create → active → (failsafe) → destroyed; reset returns to active). */
export type VgpuState = 'active' | 'failsafe' | 'destroyed';

/** An entry of the vGPU's event log. */
export interface VgpuEvent {
  /** Simulated time in ns. */
  time: number;
  kind: string;
  detail: string;
}

/** Counters of one vGPU (everything observable is counted). */
export interface VgpuCounters {
  mmioReads: number;
  mmioWrites: number;
  /** BAR0 accesses to the reserved range [2 MiB, 8 MiB). */
  reservedAccesses: number;
  /** Accesses with a bad size or outside BAR0/BAR2. */
  badAccesses: number;
  /** Aperture accesses outside the vGPU's low slice. */
  apertureOutside: number;
  /** Fence writes to an index beyond the vGPU's fences (dropped). */
  fenceRefused: number;
  /** Virtual interrupts delivered to the emulator. */
  interruptsDelivered: number;
  /** BAR relocations refused (overlap). */
  barMovesRefused: number;
}

/** Everything `Vgpu` is built from (the mediator supplies it). */
export interface VgpuParts {
  id: number;
  name: string;
  type: VgpuType;
  slices: GmSlices;
  memory: GuestMemory;
  device: Gen9Device;
  /** Called when the vGPU is destroyed (the mediator returns its resources). */
  onDestroy(v: Vgpu): void;
}

/** A guest's virtual GPU. Create it with `mediator.createVgpu`. */
export class Vgpu {
  readonly id: number;
  readonly name: string;
  readonly type: VgpuType;
  readonly slices: GmSlices;
  readonly memory: GuestMemory;
  readonly device: Gen9Device;
  readonly ept: Ept;
  readonly ggtt: ShadowGgtt;
  readonly pvinfo: PvinfoPage;
  /** Virtual registers (the guest's view of BAR0 registers). */
  readonly vregs: RegisterFile;
  /** Virtual PCI configuration space. */
  readonly pci: PciConfigSpace;
  /** Virtual interrupt controller over `vregs`. */
  readonly irq: GtInterrupts;
  /** The gVirt stub: routes guest-physical accesses by region. */
  readonly stub: TrapStub;
  readonly counters: VgpuCounters = {
    mmioReads: 0, mmioWrites: 0, reservedAccesses: 0, badAccesses: 0, apertureOutside: 0,
    fenceRefused: 0, interruptsDelivered: 0, barMovesRefused: 0,
  };
  /** Event log (bounded: the oldest entries are dropped beyond `maxEvents`). */
  readonly events: VgpuEvent[] = [];
  maxEvents = 10_000;
  state: VgpuState = 'active';
  /** Why the vGPU entered failsafe (empty when it did not). */
  failsafeReason = '';

  private readonly interruptCallbacks: ((pending: number) => void)[] = [];
  private readonly bootRegs: Uint32Array;
  private readonly onDestroyCb: (v: Vgpu) => void;
  private readonly lowEnd: number;

  constructor(parts: VgpuParts) {
    this.id = parts.id;
    this.name = parts.name;
    this.type = parts.type;
    this.slices = parts.slices;
    this.memory = parts.memory;
    this.device = parts.device;
    this.onDestroyCb = parts.onDestroy;
    this.lowEnd = parts.slices.lowBase + parts.slices.lowSize;
    if (!isPagedGuestMemory(parts.memory)) {
      // Ept's constructor names the problem; keep its message.
    }
    const dev = parts.device;
    this.ept = new Ept(parts.memory, dev.hostMemory, { name: parts.name });
    this.ggtt = new ShadowGgtt(dev.ggtt, parts.slices, this.ept, dev.hostMemory, { name: parts.name });
    this.pvinfo = new PvinfoPage({
      onG2vNotify: (code) => this.log('g2v', `notification ${code}`),
      onDisplayReady: (v) => this.log('display-ready', String(v)),
      onFailsafe: (f: PvinfoField) => this.enterFailsafe(`guest wrote reserved PVINFO field ${f.name}`),
    });
    this.pvinfo.init(parts.id, parts.slices);
    this.vregs = new RegisterFile(GEN9_REGISTERS, parts.name);
    this.irq = new GtInterrupts(this.vregs);
    this.irq.onInterrupt((pending) => this.deliverInterrupt(pending));
    this.bindFences();
    this.bootRegs = this.vregs.snapshot();
    this.pci = new PciConfigSpace(dev.pci.identity);
    this.assignDefaultBars();
    this.stub = this.buildStub();
  }

  // ------------------------------------------------------------------ facade

  /** Read `size` bytes at BAR0 offset `offset` (registers, PVINFO, GTT window). */
  mmioRead(offset: number, size: number): number {
    this.counters.mmioReads++;
    if (!(size === 1 || size === 2 || size === 4 || size === 8) || !(offset >= 0 && offset + size <= BAR0_BYTES)) {
      this.counters.badAccesses++;
      return 0;
    }
    if (offset < MMIO_SPACE_BYTES) {
      if (offset >= VGT_PVINFO_PAGE && offset < VGT_PVINFO_PAGE + VGT_PVINFO_SIZE) return this.pvinfoRead(offset - VGT_PVINFO_PAGE, size);
      return this.vregs.read(offset, size);
    }
    if (offset >= BAR0_GTT_OFFSET) return this.ggtt.read(offset - BAR0_GTT_OFFSET, size);
    this.counters.reservedAccesses++;
    return 0;
  }

  /** Write `size` bytes of `value` at BAR0 offset `offset`. */
  mmioWrite(offset: number, size: number, value: number): void {
    this.counters.mmioWrites++;
    if (!(size === 1 || size === 2 || size === 4 || size === 8) || !(offset >= 0 && offset + size <= BAR0_BYTES)) {
      this.counters.badAccesses++;
      return;
    }
    if (offset < MMIO_SPACE_BYTES) {
      if (offset >= VGT_PVINFO_PAGE && offset < VGT_PVINFO_PAGE + VGT_PVINFO_SIZE) {
        this.pvinfoWrite(offset - VGT_PVINFO_PAGE, size, value);
        return;
      }
      if (this.state === 'failsafe') {
        // Failsafe: registers become plain storage, nothing reaches a handler (GVT-g).
        this.vregs.poke(offset & ~3, value >>> 0);
        return;
      }
      this.vregs.write(offset, size, value);
      return;
    }
    if (offset >= BAR0_GTT_OFFSET) {
      this.ggtt.write(offset - BAR0_GTT_OFFSET, size, value);
      return;
    }
    this.counters.reservedAccesses++;
  }

  /** Read the virtual PCI configuration space. */
  pciConfigRead(offset: number, size: number): number {
    return this.pci.read(offset, size);
  }

  /** Write the virtual PCI configuration space (BAR moves and decode enables follow). */
  pciConfigWrite(offset: number, size: number, value: number): void {
    this.pci.write(offset, size, value);
    if (offset < PciReg.BAR2 + 8 && offset + size > PciReg.BAR0) this.syncBars();
    else if (offset <= PciReg.COMMAND && offset + size > PciReg.COMMAND) this.syncBars();
  }

  /** Read the aperture (BAR2) at `offset`: passed through inside the low slice only. */
  apertureRead(offset: number, size: number): number {
    if (!this.inLowSlice(offset, size)) {
      this.counters.apertureOutside++;
      return 0;
    }
    return this.device.apertureRead(offset, size);
  }

  /** Write the aperture (BAR2) at `offset`: passed through inside the low slice only. */
  apertureWrite(offset: number, size: number, value: number): void {
    if (!this.inLowSlice(offset, size)) {
      this.counters.apertureOutside++;
      return;
    }
    this.device.apertureWrite(offset, size, value);
  }

  /**
   * One guest-physical access routed by the stub (for emulators that trap by address):
   * `space` 'mem' for BAR0/BAR2 at their current guest-physical placement, 'pci' for config.
   */
  access(space: StubSpace, gpa: number, size: number, isWrite: boolean, value = 0): number {
    return this.stub.access(space, gpa, size, isWrite, value);
  }

  /** A guest vCPU store to its RAM (routed to the shadow page tables if write-protected). */
  guestWrite(gpa: number, bytes: Uint8Array): void {
    this.ept.guestWrite(gpa, bytes);
  }

  /** A guest vCPU 32-bit store to its RAM. */
  guestWrite32(gpa: number, value: number): void {
    this.ept.guestWrite32(gpa, value);
  }

  /** Register the emulator's interrupt callback (called when the virtual line goes up). */
  onInterrupt(cb: (pending: number) => void): void {
    this.interruptCallbacks.push(cb);
  }

  /** True while the virtual interrupt line is up. */
  get interruptLine(): boolean {
    return this.irq.lineUp;
  }

  /**
   * Device-model-level reset: registers from the boot snapshot, PVINFO, every GGTT entry at
   * scratch, fences cleared, config space reset; failsafe is cleared.
   */
  reset(): void {
    this.checkAlive();
    this.vregs.restore(this.bootRegs);
    this.irq.reset();
    this.ggtt.reset();
    this.pvinfo.init(this.id, this.slices);
    for (const f of this.slices.fences) this.device.regs.write(fenceReg(f), 8, 0);
    this.pci.reset();
    this.assignDefaultBars();
    this.syncBars();
    this.state = 'active';
    this.failsafeReason = '';
    this.log('reset', 'device-model-level reset');
  }

  /** Put the vGPU in failsafe: its registers become plain storage; other vGPUs are unaffected. */
  enterFailsafe(reason: string): void {
    if (this.state !== 'active') return;
    this.state = 'failsafe';
    this.failsafeReason = reason;
    this.log('failsafe', reason);
    log('%s: failsafe: %s', this.name, reason);
  }

  /** Destroy the vGPU: host GGTT entries cleared, host frames, scratch and fences returned. */
  destroy(): void {
    if (this.state === 'destroyed') return;
    for (const f of this.slices.fences) this.device.regs.write(fenceReg(f), 8, 0);
    this.ggtt.destroy();
    this.ept.destroy();
    this.state = 'destroyed';
    this.log('destroy', '');
    this.onDestroyCb(this);
  }

  // ------------------------------------------------------------------ internals

  /** Append to the event log. */
  log(kind: string, detail: string): void {
    if (this.events.length >= this.maxEvents) this.events.shift();
    this.events.push({ time: this.device.clock.now, kind, detail });
  }

  private checkAlive(): void {
    if (this.state === 'destroyed') throw new StateError(`${this.name} is destroyed`);
  }

  private inLowSlice(offset: number, size: number): boolean {
    return offset >= this.slices.lowBase && offset + size <= this.lowEnd && (size === 1 || size === 2 || size === 4 || size === 8);
  }

  private pvinfoRead(o: number, size: number): number {
    if (size === 8) {
      const lo = this.pvinfo.read(o, 4);
      const hi = this.pvinfo.read(o + 4, 4);
      return hi * TWO_POW_32 + lo;
    }
    return this.pvinfo.read(o, size);
  }

  private pvinfoWrite(o: number, size: number, value: number): void {
    if (size === 8) {
      this.pvinfo.write(o, 4, value >>> 0);
      this.pvinfo.write(o + 4, 4, Math.floor(value / TWO_POW_32) >>> 0);
      return;
    }
    this.pvinfo.write(o, size, value);
  }

  private deliverInterrupt(pending: number): void {
    if (this.state === 'destroyed') return;
    this.counters.interruptsDelivered++;
    for (const cb of this.interruptCallbacks) cb(pending);
  }

  /**
   * Fences: guest fence i is host fence `slices.fences[i]`; the guest's value lands in both its
   * virtual register and the host fence. An index beyond the vGPU's fences is refused (GVT-g).
   */
  private bindFences(): void {
    const host = this.device.regs;
    const count = this.slices.fences.length;
    for (let i = 0; i < 32; i++) {
      const lo = fenceReg(i);
      const write = (offset: number, _value: number, old: number, next: number): void => {
        if (i >= count) {
          this.vregs.poke(offset, old);
          this.counters.fenceRefused++;
          return;
        }
        host.write(fenceReg(this.slices.fences[i]) + (offset - lo), 4, next);
      };
      this.vregs.bind(lo, { write });
    }
  }

  private assignDefaultBars(): void {
    this.pci.write(PciReg.BAR0, 4, DEFAULT_BAR0_GPA % TWO_POW_32);
    this.pci.write(PciReg.BAR0_HI, 4, Math.floor(DEFAULT_BAR0_GPA / TWO_POW_32));
    this.pci.write(PciReg.BAR2, 4, DEFAULT_BAR2_GPA % TWO_POW_32);
    this.pci.write(PciReg.BAR2_HI, 4, Math.floor(DEFAULT_BAR2_GPA / TWO_POW_32));
    this.pci.write(PciReg.COMMAND, 2, PciCommand.MEMORY_SPACE | PciCommand.BUS_MASTER);
  }

  private buildStub(): TrapStub {
    const bar0 = this.pci.barAddress(0);
    const bar2 = this.pci.barAddress(2);
    return new TrapStub([
      {
        name: 'bar0.mmio', space: 'mem', kind: 'emulated', base: bar0, size: MMIO_SPACE_BYTES,
        handler: { read: (o, s) => this.mmioRead(o, s), write: (o, s, v) => this.mmioWrite(o, s, v) },
      },
      {
        name: 'bar0.reserved', space: 'mem', kind: 'emulated', base: bar0 + MMIO_SPACE_BYTES, size: BAR0_GTT_OFFSET - MMIO_SPACE_BYTES,
        handler: { read: (o, s) => this.mmioRead(o + MMIO_SPACE_BYTES, s), write: (o, s, v) => this.mmioWrite(o + MMIO_SPACE_BYTES, s, v) },
      },
      {
        name: 'bar0.gtt', space: 'mem', kind: 'emulated', base: bar0 + BAR0_GTT_OFFSET, size: GGTT_WINDOW_SIZE,
        handler: { read: (o, s) => this.ggtt.read(o, s), write: (o, s, v) => this.ggtt.write(o, s, v) },
      },
      {
        name: 'bar2.aperture', space: 'mem', kind: 'emulated', base: bar2, size: this.device.apertureSize,
        handler: { read: (o, s) => this.apertureRead(o, s), write: (o, s, v) => this.apertureWrite(o, s, v) },
      },
      {
        name: 'pci.config', space: 'pci', kind: 'emulated', base: 0, size: 256,
        handler: { read: (o, s) => this.pciConfigRead(o, s), write: (o, s, v) => this.pciConfigWrite(o, s, v) },
      },
    ]);
  }

  /**
   * Follow the config space: move BAR regions, switch decode with the memory-space enable. A
   * placement that would overlap another region is refused (the region stays disabled, counted);
   * guests size BARs with decode off, as Linux's `__pci_read_base` does.
   */
  private syncBars(): void {
    if (!this.stub) return;
    const enabled = this.pci.memoryEnabled;
    const bar0 = this.pci.barAddress(0);
    const bar2 = this.pci.barAddress(2);
    const moves: [string, number][] = [
      ['bar0.mmio', bar0],
      ['bar0.reserved', bar0 + MMIO_SPACE_BYTES],
      ['bar0.gtt', bar0 + BAR0_GTT_OFFSET],
      ['bar2.aperture', bar2],
    ];
    for (const [name] of moves) this.stub.setEnabled(name, false);
    if (!enabled) return;
    for (const [name, base] of moves) {
      if (this.stub.region(name).base !== base && !this.stub.move(name, base)) {
        this.counters.barMovesRefused++;
        continue;
      }
      if (!this.stub.setEnabled(name, true)) this.counters.barMovesRefused++;
    }
  }
}
