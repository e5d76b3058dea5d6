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
 * - Guest RAM writes to write-protected pages: `guestWrite` (the EPT's vCPU path). An emulator
 *   that cannot route its stores there creates the vGPU with `guestWrites: 'untrapped'`: nothing is
 *   write-protected and the shadow PPGTT is resynchronised at each submission (docs/untrapped.md).
 *
 * Guest input never throws: every bad access is counted and answered as hardware would.
 */
import createDebug from 'debug';
import { RangeArgError, StateError } from '../errors.js';
import { arg, describe } from '../validate.js';
import { Ept, isPagedGuestMemory, type GuestWrites } from '../ept/ept.js';
import type { GuestMemory } from '../ept/memory.js';
import { TrapStub, type StubSpace } from '../ept/stub.js';
import type { Gen9Device } from '../device/device.js';
import { PciConfigSpace, PciReg, PciCommand } from '../device/pci.js';
import { GtInterrupts, gtInterruptRows, irqBankRows } from '../device/interrupts.js';
import { GEN9_REGISTERS, GEN9_REGISTER_DEFS, fenceReg } from '../device/registers.js';
import { RegisterFile, MMIO_SPACE_BYTES, RegFlag, compileHandlers, compileRegisters, type CompiledHandlers, type CompiledRegisters, type HandlerRow } from '../mmio/index.js';
import { DE_IRQ_BANKS, DISPLAY_REGISTER_DEFS, PIPES, VirtualDisplay, displayRows, planesOf, type MonitorConfig, type MonitorPort, type ResolvedMonitor } from '../display/index.js';
import { decodePlane, type PipeName, type PlaneKind, type PlaneResult } from '../display/plane.js';
import { readFramebuffer, type FramebufferResult } from '../display/framebuffer.js';
import { checkPlaneArgs, graphicsMemoryOf, planeSourceOf } from './vgpu-planes.js';
import { ShadowGgtt, GGTT_WINDOW_SIZE } from '../gtt/shadow-ggtt.js';
import type { GmSlices } from '../gtt/partition.js';
import type { VgpuType } from '../gtt/vgpu-types.js';
import {
  PvinfoPage, VGT_PVINFO_PAGE, VGT_PVINFO_SIZE, type PvinfoField,
  VGT_G2V_PPGTT_L3_PAGE_TABLE_CREATE, VGT_G2V_PPGTT_L3_PAGE_TABLE_DESTROY,
  VGT_G2V_PPGTT_L4_PAGE_TABLE_CREATE, VGT_G2V_PPGTT_L4_PAGE_TABLE_DESTROY,
} from './pvinfo.js';
import { PAGE_SIZE, TWO_POW_32, hi32, lo32 } from '../types.js';
import { GEN9_ENGINES, type EngineInfo } from '../device/engines.js';
import { Bits, RING } from '../device/registers.js';
import { CtxReg, decodeDescriptor, ctxPdpLdw, ctxPdpUdw } from '../device/lrc.js';
import { PpgttManager, PPGTT_MODE_L3, PPGTT_MODE_L4, type ShadowPpgtt } from '../gtt/shadow-ppgtt.js';
import { VirtualExeclist, VIRTUAL_EXECLIST_ROWS } from './execlist.js';
import { GT_RESET_END, VGPU_GT_ROWS } from './vgpu-gt.js';
import { FLIP_WORDS, type AuditEnv } from './parser.js';
import { RING_MODE_DROPPED, ringModeFailsafe } from './register-rules.js';
import { workloadFailure, type Workload, type WorkloadFailure } from './workload.js';

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
  /** Called with the workloads of each accepted ELSP submission (the mediator queues them). */
  onWorkloads(v: Vgpu, workloads: Workload[]): void;
  /** Next workload sequence number (mediator-wide). */
  nextSeq(): number;
  /**
   * Called at a reset of the vGPU (engine -1) or of one engine, and at destroy, before any of its
   * state goes: the mediator stops and drops its work there (GVT-g `intel_vgpu_stop_schedule`).
   */
  onReset(v: Vgpu, engineId: number): void;
  /** Called when the vGPU enters failsafe (the mediator drops its queued work). */
  onFailsafe(v: Vgpu): void;
  /** Called when the vGPU is activated (it may have queued work to dispatch). */
  onActivate(v: Vgpu): void;
  /**
   * The last unfinished workload of the vGPU for context `lrca` on an engine, older than
   * `beforeSeq` (a resubmission continues after it: lite restore).
   */
  lastWorkloadOf(v: Vgpu, engineId: number, lrca: number, beforeSeq: number): Workload | undefined;
  /** Start deactivated (`activate()` lets its work run); default active. */
  inactive?: boolean;
  /** Shadow PPGTT options (out-of-sync pages apply to a trapped guest only). */
  outOfSync?: boolean;
  /** Whether the guest's RAM stores reach `guestWrite` (default 'trapped'; see `GuestWrites`). */
  guestWrites?: GuestWrites;
  /**
   * gScale: a private shadow GGTT, loaded into the host GGTT by `switchIn` (the vGPU may share
   * its slices and fences with others); default false.
   */
  privateGgtt?: boolean;
  /** The display's monitors (validated `createVgpu({ display })`); default GVT-g's one on port D. */
  monitors?: readonly ResolvedMonitor[];
}

/** A register image kept as its non-zero dwords: indices ascending, and their values. */
interface RegImage {
  readonly idx: Uint32Array;
  readonly val: Uint32Array;
}

/** Dwords per page of the register space (pages holding only zeros are skipped whole). */
const PAGE_DWORDS = PAGE_SIZE / 4;
const ZERO_PAGE = Buffer.alloc(PAGE_SIZE);

/** True when dwords [from, to) of `regs` (at most a page) are all zero. */
function zeroRange(bytes: Buffer, from: number, to: number): boolean {
  return bytes.compare(ZERO_PAGE, 0, 4 * (to - from), 4 * from, 4 * to) === 0;
}

function sparseImage(regs: Uint32Array): RegImage {
  const bytes = Buffer.from(regs.buffer, regs.byteOffset, regs.byteLength);
  const idx: number[] = [], val: number[] = [];
  for (let p = 0; p < regs.length; p += PAGE_DWORDS) {
    const end = Math.min(regs.length, p + PAGE_DWORDS);
    if (zeroRange(bytes, p, end)) continue;
    for (let i = p; i < end; i++) {
      if (regs[i] !== 0) {
        idx.push(i);
        val.push(regs[i]);
      }
    }
  }
  return { idx: Uint32Array.from(idx), val: Uint32Array.from(val) };
}

/** Dwords [from, to) of `regs` back to `img`'s (plain stores: no register handler runs). */
function restoreImage(regs: Uint32Array, img: RegImage, from: number, to: number): void {
  // Zeroed page by page, pages already zero left alone (untouched storage stays untouched).
  const bytes = Buffer.from(regs.buffer, regs.byteOffset, regs.byteLength);
  for (let p = from; p < to; ) {
    const end = Math.min(to, (Math.floor(p / PAGE_DWORDS) + 1) * PAGE_DWORDS);
    if (!zeroRange(bytes, p, end)) regs.fill(0, p, end);
    p = end;
  }
  const { idx, val } = img;
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k];
    if (i >= from && i < to) regs[i] = val[k];
  }
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
  /** Virtual registers (the guest's view of BAR0 registers), over `VGPU_MMIO_HANDLERS`. */
  readonly vregs: RegisterFile<Vgpu>;
  /** Virtual PCI configuration space. */
  readonly pci: PciConfigSpace;
  /** Virtual interrupt controller over `vregs`. */
  readonly irq: GtInterrupts;
  /** The virtual display engine (its monitors on ports B, C, D; GVT-g's one on D by default), over `vregs`. */
  readonly display: VirtualDisplay;
  /** The gVirt stub: routes guest-physical accesses by region. */
  readonly stub: TrapStub;
  /** Shadow PPGTT of every guest address space. */
  readonly ppgtt: PpgttManager;
  /**
   * Whether the guest's stores to its RAM reach `guestWrite` ('trapped') or land unseen
   * ('untrapped': the shadow PPGTT is resynchronised at each submission). Fixed at creation.
   */
  readonly guestWrites: GuestWrites;
  /** Execlist emulation per engine (indexed like `GEN9_ENGINES`). */
  readonly execlists: VirtualExeclist[];
  /** True once the guest read anything in the PVINFO page (GVT-g `pv_notified`: it is GVT-aware). */
  pvinfoSeen = false;
  /**
   * Scheduling enabled (GVT-g `intel_gvt_activate_vgpu`): an inactive vGPU's workloads stay
   * queued until `activate()`; its registers and memory stay reachable.
   */
  active = true;
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
  /** The registers at creation, as their non-zero dwords (a few KiB, where a copy is 2 MiB). */
  private readonly bootRegs: RegImage;
  private readonly onDestroyCb: (v: Vgpu) => void;
  private readonly onWorkloadsCb: (v: Vgpu, w: Workload[]) => void;
  private readonly onResetCb: (v: Vgpu, engineId: number) => void;
  private readonly onFailsafeCb: (v: Vgpu) => void;
  private readonly onActivateCb: (v: Vgpu) => void;
  private readonly lastWorkloadOfCb: (v: Vgpu, engineId: number, lrca: number, beforeSeq: number) => Workload | undefined;
  private readonly nextSeq: () => number;
  private readonly lowEnd: number;

  constructor(parts: VgpuParts) {
    this.id = parts.id;
    this.name = parts.name;
    this.type = parts.type;
    this.slices = parts.slices;
    this.memory = parts.memory;
    this.device = parts.device;
    this.onDestroyCb = parts.onDestroy;
    this.onWorkloadsCb = parts.onWorkloads;
    this.nextSeq = parts.nextSeq;
    this.onResetCb = parts.onReset;
    this.onFailsafeCb = parts.onFailsafe;
    this.onActivateCb = parts.onActivate;
    this.lastWorkloadOfCb = parts.lastWorkloadOf;
    this.active = parts.inactive !== true;
    this.lowEnd = parts.slices.lowBase + parts.slices.lowSize;
    if (!isPagedGuestMemory(parts.memory)) {
      // Ept's constructor names the problem; keep its message.
    }
    const dev = parts.device;
    this.guestWrites = parts.guestWrites ?? 'trapped';
    this.ept = new Ept(parts.memory, dev.hostMemory, { name: parts.name, owner: parts.id, guestWrites: this.guestWrites });
    this.ggtt = new ShadowGgtt(dev.ggtt, parts.slices, this.ept, dev.hostMemory, { name: parts.name, privateTable: parts.privateGgtt ?? false });
    // Out-of-sync pages drop write protection: an untrapped guest has none (every page is resynced).
    const outOfSync = this.guestWrites === 'trapped' && (parts.outOfSync ?? false);
    this.ppgtt = new PpgttManager(this.ept, dev.hostMemory, { name: parts.name, outOfSync });
    this.pvinfo = new PvinfoPage({
      onG2vNotify: (code) => this.onG2v(code),
      onDisplayReady: (v) => this.log('display-ready', String(v)),
      onFailsafe: (f: PvinfoField) => this.enterFailsafe(`guest wrote reserved PVINFO field ${f.name}`),
    });
    this.pvinfo.init(parts.id, parts.slices);
    // The handlers are the table's (`VGPU_MMIO_HANDLERS`); they reach this vGPU's parts through it.
    this.vregs = new RegisterFile(VGPU_MMIO_HANDLERS, parts.name, this);
    this.irq = new GtInterrupts(this.vregs, DE_IRQ_BANKS);
    const irq = this.irq;
    this.display = new VirtualDisplay(this.vregs, {
      width: parts.type.edid.width, height: parts.type.edid.height, monitors: parts.monitors, label: parts.name,
      clock: dev.clock, updateIrq: () => irq.update(),
    });
    this.irq.onInterrupt((pending) => this.deliverInterrupt(pending));
    this.execlists = GEN9_ENGINES.map((e) => new VirtualExeclist(this.execlistHost(), e));
    for (const x of this.execlists) x.reset();
    this.bootRegs = sparseImage(this.vregs.regs);
    this.pci = new PciConfigSpace(dev.pci.identity);
    this.assignDefaultBars();
    this.stub = this.buildStub();
    // A pipe lit at creation (the display's `litPipe`) gets its vblanks at once; a dark one none.
    this.display.syncVblank();
  }

  // ------------------------------------------------------------------ facade

  /** Read `size` bytes at BAR0 offset `offset` (registers, PVINFO, GTT window). */
  mmioRead(offset: number, size: number): number {
    this.checkAlive();
    arg.number('mmioRead offset', offset);
    arg.number('mmioRead size', size);
    this.counters.mmioReads++;
    if (!(size === 1 || size === 2 || size === 4 || size === 8) || !(offset >= 0 && offset + size <= BAR0_BYTES)) {
      this.counters.badAccesses++;
      return 0;
    }
    if (offset < MMIO_SPACE_BYTES) return this.regRead(offset, size);
    if (offset >= BAR0_GTT_OFFSET) return this.ggtt.read(offset - BAR0_GTT_OFFSET, size);
    this.counters.reservedAccesses++;
    return 0;
  }

  /** Write `size` bytes of `value` at BAR0 offset `offset`. */
  mmioWrite(offset: number, size: number, value: number): void {
    this.checkAlive();
    arg.number('mmioWrite offset', offset);
    arg.number('mmioWrite size', size);
    arg.number('mmioWrite value', value);
    this.counters.mmioWrites++;
    if (!(size === 1 || size === 2 || size === 4 || size === 8) || !(offset >= 0 && offset + size <= BAR0_BYTES)) {
      this.counters.badAccesses++;
      return;
    }
    if (offset < MMIO_SPACE_BYTES) {
      this.regWrite(offset, size, value, lo32(value), hi32(value));
      return;
    }
    if (offset >= BAR0_GTT_OFFSET) {
      this.ggtt.write(offset - BAR0_GTT_OFFSET, size, value);
      return;
    }
    this.counters.reservedAccesses++;
  }

  /**
   * Write a 64-bit value given as two u32 halves at BAR0 offset `offset` (8-byte aligned): exact
   * for any value, where `mmioWrite(offset, 8, value)` is exact only below 2^53.
   */
  mmioWrite64(offset: number, lo: number, hi: number): void {
    this.checkAlive();
    arg.number('mmioWrite64 offset', offset);
    arg.number('mmioWrite64 lo', lo);
    arg.number('mmioWrite64 hi', hi);
    this.counters.mmioWrites++;
    if (!(offset >= 0 && offset + 8 <= BAR0_BYTES) || (offset & 7) !== 0) {
      this.counters.badAccesses++;
      return;
    }
    if (offset >= BAR0_GTT_OFFSET) {
      this.ggtt.write64(offset - BAR0_GTT_OFFSET, lo >>> 0, hi >>> 0);
      return;
    }
    if (offset >= MMIO_SPACE_BYTES) {
      this.counters.reservedAccesses++;
      return;
    }
    this.regWrite(offset, 8, (hi >>> 0) * TWO_POW_32 + (lo >>> 0), lo >>> 0, hi >>> 0);
  }

  /** Read the virtual PCI configuration space. */
  pciConfigRead(offset: number, size: number): number {
    this.checkAlive();
    arg.number('pciConfigRead offset', offset);
    arg.number('pciConfigRead size', size);
    return this.pci.read(offset, size);
  }

  /** Write the virtual PCI configuration space (BAR moves and decode enables follow). */
  pciConfigWrite(offset: number, size: number, value: number): void {
    this.checkAlive();
    arg.number('pciConfigWrite offset', offset);
    arg.number('pciConfigWrite size', size);
    arg.number('pciConfigWrite value', value);
    this.pci.write(offset, size, value);
    if (offset < PciReg.BAR2 + 8 && offset + size > PciReg.BAR0) this.syncBars();
    else if (offset <= PciReg.COMMAND && offset + size > PciReg.COMMAND) this.syncBars();
  }

  /**
   * Read the aperture (BAR2) at `offset`: passed through inside the low slice only. With a private
   * GGTT (gScale) through the vGPU's own entries (ladder mapping), not the host GGTT, which may
   * hold a sharer's.
   */
  apertureRead(offset: number, size: number): number {
    this.checkAlive();
    arg.number('apertureRead offset', offset);
    arg.number('apertureRead size', size);
    if (!(Number.isInteger(offset) && this.inLowSlice(offset, size))) {
      this.counters.apertureOutside++;
      return 0;
    }
    if (this.ggtt.hasPrivateTable) return this.ladderRead(offset, size);
    return this.device.apertureRead(offset, size);
  }

  /** Write the aperture (BAR2) at `offset`: passed through inside the low slice only (see `apertureRead`). */
  apertureWrite(offset: number, size: number, value: number): void {
    this.checkAlive();
    arg.number('apertureWrite offset', offset);
    arg.number('apertureWrite size', size);
    arg.number('apertureWrite value', value);
    if (!(Number.isInteger(offset) && this.inLowSlice(offset, size))) {
      this.counters.apertureOutside++;
      return;
    }
    if (this.ggtt.hasPrivateTable) this.ladderWrite(offset, size, value);
    else this.device.apertureWrite(offset, size, value);
  }

  /** Little-endian read of `size` bytes through the vGPU's own GGTT entries (a byte of a page that does not translate reads 0). */
  private ladderRead(offset: number, size: number): number {
    const m = this.device.hostMemory;
    let v = 0;
    for (let k = size - 1; k >= 0; k--) {
      const hpa = this.ggtt.translate(offset + k);
      v = v * 256 + (hpa < 0 ? 0 : m.read8(hpa));
    }
    return v;
  }

  /** Little-endian write of `size` bytes through the vGPU's own GGTT entries (bytes of a page that does not translate are dropped). */
  private ladderWrite(offset: number, size: number, value: number): void {
    const m = this.device.hostMemory;
    let v = value;
    for (let k = 0; k < size; k++) {
      const hpa = this.ggtt.translate(offset + k);
      if (hpa >= 0) m.write8(hpa, v % 256);
      v = Math.floor(v / 256);
    }
  }

  /**
   * One guest-physical access routed by the stub (for emulators that trap by address):
   * `space` 'mem' for BAR0/BAR2 at their current guest-physical placement, 'pci' for config.
   */
  access(space: StubSpace, gpa: number, size: number, isWrite: boolean, value = 0): number {
    this.checkAlive();
    if (space !== 'mem' && space !== 'pci') throw new RangeArgError(`access space: expected 'mem' or 'pci', got ${describe(space)}`);
    arg.number('access gpa', gpa);
    arg.number('access size', size);
    arg.bool('access isWrite', isWrite);
    arg.number('access value', value);
    return this.stub.access(space, gpa, size, isWrite, value);
  }

  /**
   * A guest vCPU store to its RAM (routed to the shadow page tables if write-protected). For an
   * untrapped vGPU nothing is protected: the store lands as the emulator's own would.
   */
  guestWrite(gpa: number, bytes: Uint8Array): void {
    this.checkAlive();
    arg.number('guestWrite gpa', gpa);
    arg.bytes('guestWrite bytes', bytes);
    this.ept.guestWrite(gpa, bytes);
  }

  /** A guest vCPU 32-bit store to its RAM. */
  guestWrite32(gpa: number, value: number): void {
    this.checkAlive();
    arg.number('guestWrite32 gpa', gpa);
    arg.number('guestWrite32 value', value);
    this.ept.guestWrite32(gpa, value);
  }

  /**
   * The guest memory's backing buffer was replaced (e.g. an emulator's WebAssembly memory grew
   * and its `PagedGuestMemory` now hands out views of the new buffer): re-point every view the
   * mediator holds, the EPT's adopted frames and the shadowed page-table pages. Returns the views
   * re-pointed.
   */
  guestMemoryMoved(): number {
    this.checkAlive();
    return this.ept.refreshGuestViews() + this.ppgtt.refreshGuestViews();
  }

  /** Let the vGPU's workloads run (the default after creation). */
  activate(): void {
    this.checkAlive();
    if (this.active) return;
    this.active = true;
    this.log('activate', '');
    this.onActivateCb(this);
  }

  /** Stop scheduling the vGPU (its queued workloads wait); the emulator may still access it. */
  deactivate(): void {
    this.checkAlive();
    if (!this.active) return;
    this.active = false;
    this.log('deactivate', '');
  }

  /** Register the emulator's interrupt callback (called when the virtual line goes up). */
  onInterrupt(cb: (pending: number) => void): void {
    this.checkAlive();
    arg.func('onInterrupt callback', cb);
    this.interruptCallbacks.push(cb);
  }

  /**
   * Put a monitor on `port` ('B', 'C', 'D'), replace it (new modes, EDID) or remove it (`null`),
   * and raise the hotplug to the guest at once (SDEIIR, PCH_PORT_HOTPLUG, the line): GVT-g's
   * `intel_vgpu_emulate_hotplug`. Kept across resets. Throws `ConfigError` naming the field,
   * touching nothing. See `VirtualDisplay.setMonitor`, docs/display.md.
   */
  setMonitor(port: MonitorPort, config: MonitorConfig | null): void {
    this.checkAlive();
    this.display.setMonitor(port, config);
    this.log('monitor', `port ${String(port)}: ${config === null ? 'removed' : 'set'}`);
  }

  /** True while the virtual interrupt line is up. */
  get interruptLine(): boolean {
    this.checkAlive();
    return this.irq.lineUp;
  }

  /**
   * Device-model-level reset: registers from the boot snapshot, PVINFO, every GGTT entry at
   * scratch, fences cleared, config space reset; failsafe is cleared.
   */
  reset(): void {
    this.checkAlive();
    restoreImage(this.vregs.regs, this.bootRegs, 0, this.vregs.regs.length);
    this.irq.reset();
    this.display.reset();
    this.display.syncVblank();
    this.onResetCb(this, -1);
    for (const x of this.execlists) x.reset();
    this.ppgtt.destroyAll();
    this.pvinfoSeen = false;
    this.ggtt.reset();
    this.pvinfo.init(this.id, this.slices);
    if (this.ggtt.resident) for (const f of this.slices.fences) this.device.regs.write(fenceReg(f), 8, 0);
    this.pci.reset();
    this.assignDefaultBars();
    this.syncBars();
    this.state = 'active';
    this.failsafeReason = '';
    this.log('reset', 'device-model-level reset');
  }

  /** Put the vGPU in failsafe: its registers become plain storage; other vGPUs are unaffected. */
  enterFailsafe(reason: string): void {
    this.checkAlive();
    arg.string('enterFailsafe reason', reason);
    if (this.state !== 'active') return;
    this.state = 'failsafe';
    this.failsafeReason = reason;
    // Its registers are plain storage from now on: no more vblanks until reset.
    this.display.stop();
    this.log('failsafe', reason);
    log('%s: failsafe: %s', this.name, reason);
    // Whatever put it there (a fault, a PVINFO write, a RING_MODE write, the host), its queued
    // work is dropped: a failsafe vGPU is never dispatched again until reset.
    this.onFailsafeCb(this);
  }

  /** Destroy the vGPU: host GGTT entries cleared, host frames, scratch and fences returned. */
  destroy(): void {
    this.checkAlive();
    if (this.ggtt.resident) for (const f of this.slices.fences) this.device.regs.write(fenceReg(f), 8, 0);
    this.onResetCb(this, -1);
    this.display.stop();
    this.log('destroy', '');
    this.state = 'destroyed';
    this.ppgtt.dispose();
    this.ggtt.destroy();
    this.ept.destroy();
    this.onDestroyCb(this);
  }

  /**
   * Per-engine reset (what the guest driver expects after a hang): the engine's queued and
   * running workloads are dropped, its execlist state and registers restored from boot; the
   * rest of the vGPU is untouched.
   */
  resetEngine(engineId: number): void {
    this.checkAlive();
    arg.int('resetEngine engineId', engineId);
    const e = GEN9_ENGINES[engineId];
    if (!e) throw new RangeArgError(`resetEngine engineId: no engine ${engineId}`);
    this.onResetCb(this, engineId);
    const from = e.mmioBase >>> 2, to = (e.mmioBase + 0x800) >>> 2;
    restoreImage(this.vregs.regs, this.bootRegs, from, to);
    this.execlists[engineId].reset();
    this.log('engine-reset', e.name);
  }

  /**
   * GT reset (what the guest's GEN6_GDRST with GEN6_GRDOM_FULL asks; GVT-g
   * `intel_gvt_reset_vgpu_locked(vgpu, false, ALL_ENGINES)`): all its queued and running work is
   * dropped, the engine and GT registers below `GT_RESET_END` and every execlist go back to their
   * state at creation, the PVINFO page is filled again (`populate_pvinfo_page`). Its GGTT, fences,
   * shadow PPGTTs, registers from `GT_RESET_END` on (interrupts, most of the display), PCI config
   * and failsafe state are kept. Only this vGPU's state changes: a running workload of its own is
   * stopped by the mediator, nothing else.
   */
  resetGt(): void {
    this.checkAlive();
    this.onResetCb(this, -1);
    restoreImage(this.vregs.regs, this.bootRegs, 0, GT_RESET_END >>> 2);
    for (const x of this.execlists) x.reset();
    this.pvinfo.init(this.id, this.slices);
    this.log('gt-reset', 'GEN6_GDRST full');
  }


  /**
   * Decode plane `kind` of `pipe` from the vGPU's display registers: what GVT-g's
   * `VFIO_DEVICE_QUERY_GFX_PLANE` returns (lib/display/plane.ts, docs/display.md "Plane decode
   * and read-out"). Register contents never throw: a plane that is off or garbage answers
   * `{ ok: false, reason }`. Throws `RangeArgError` for an unknown kind or pipe (pipe C has no
   * `sprite1`), `StateError` once destroyed.
   */
  queryPlane(kind: PlaneKind = 'primary', pipe: PipeName = 'A'): PlaneResult {
    this.checkAlive();
    checkPlaneArgs(kind, pipe);
    return decodePlane(planeSourceOf(this), kind, pipe);
  }

  /**
   * Decode plane `kind` of `pipe` and read its pixels as RGBA8 (width × height × 4 bytes, rows
   * top to bottom), through the vGPU's GGTT view: a page outside the vGPU's own memory reads as
   * zeros (lib/display/framebuffer.ts). `out`, when given, receives the pixels.
   */
  readFramebuffer(kind: PlaneKind = 'primary', pipe: PipeName = 'A', out?: Uint8Array): FramebufferResult {
    this.checkAlive();
    checkPlaneArgs(kind, pipe);
    const r = decodePlane(planeSourceOf(this), kind, pipe);
    if (!r.ok) return r;
    return readFramebuffer(graphicsMemoryOf(this), r.info, out);
  }

  /** Read a dword of guest graphics memory through the vGPU's GGTT view (NaN when unmapped). */
  readGuestGma32(gma: number): number {
    this.checkAlive();
    const hpa = this.ggtt.translate(gma);
    if (hpa < 0) return NaN;
    return this.device.hostMemory.read32(hpa);
  }

  /**
   * Write a dword of guest graphics memory through the vGPU's GGTT view (false when unmapped):
   * the mediator's own stores into guest memory (CSB mirror, ring head, status page merge). A
   * page of guest RAM takes it through the EPT's write-protect path (`Ept.hostWrite32`), as a
   * guest store would, so a shadow page table of that page stays in sync; a frame that is not
   * guest RAM (scratch) is written directly.
   */
  writeGuestGma32(gma: number, value: number): boolean {
    this.checkAlive();
    const hpa = this.ggtt.translate(gma);
    if (hpa < 0) return false;
    const gfn = this.ept.gfnOfMfn(Math.floor(hpa / PAGE_SIZE));
    if (gfn >= 0) return this.ept.hostWrite32(gfn * PAGE_SIZE + (hpa % PAGE_SIZE), value >>> 0);
    this.device.hostMemory.write32(hpa, value >>> 0);
    return true;
  }

  /** True when [gma, gma + bytes) lies inside the vGPU's slices. */
  ownsGma(gma: number, bytes: number): boolean {
    this.checkAlive();
    const s = this.slices;
    const end = gma + bytes;
    return (gma >= s.lowBase && end <= s.lowBase + s.lowSize) || (gma >= s.highBase && end <= s.highBase + s.highSize);
  }

  /**
   * The audit environment of one workload (its engine, its GGTT view, its shadow PPGTT). With the
   * workload `w`, PDP0 LRIs are patched to shadow roots the workload then holds (`w.lriPpgtts`) and
   * the restore-inhibit rule reads its context image's CTX_CONTEXT_CONTROL.
   */
  auditEnv(engine: EngineInfo, mm: ShadowPpgtt | null, w?: Workload): AuditEnv {
    this.checkAlive();
    const mem = this.device.hostMemory;
    const read = (hpaOf: (gma: number) => number, gma: number, dst: Uint32Array, at: number, dwords: number): boolean => {
      const hpa = hpaOf(gma);
      if (hpa < 0) return false;
      const page = mem.page32(Math.floor(hpa / PAGE_SIZE));
      const first = (hpa % PAGE_SIZE) >>> 2;
      dst.set(page.subarray(first, first + dwords), at);
      return true;
    };
    const ggttHpa = (gma: number): number => this.ggtt.translate(gma);
    const ppgttHpa = (gma: number): number => (mm ? mm.translate(gma) : -1);
    return {
      engine,
      contextPpgtt: mm !== null,
      readGgtt: (gma, dst, at, dwords) => read(ggttHpa, gma, dst, at, dwords),
      readPpgtt: (gma, dst, at, dwords) => read(ppgttHpa, gma, dst, at, dwords),
      ggttAddressOk: (gma, bytes) => this.ownsGma(gma, bytes),
      translateGgtt: (gma) => this.ggtt.guestToHostGma(gma),
      gvtAware: this.pvinfoSeen,
      contextControl: w !== undefined ? this.contextControlOf(w.lrca) : 0,
      readVreg: (offset) => this.vregs.peek(offset),
      shadowPpgttRoot: (root) => this.lriShadowRoot(w, root),
    };
  }

  /** CTX_CONTEXT_CONTROL of the guest context image at `lrca` (0 when unmapped). */
  private contextControlOf(lrca: number): number {
    const v = this.readGuestGma32(lrca + PAGE_SIZE + (CtxReg.CONTEXT_CONTROL + 1) * 4);
    return Number.isNaN(v) ? 0 : v >>> 0;
  }

  /**
   * GVT-g `cmd_pdp_mmio_update_handler`: the shadow PML4 of guest PML4 `root`, found among the
   * vGPU's shadow PPGTTs (`intel_vgpu_find_ppgtt_mm`: never built here) and held by `w`; -1 when
   * there is none or `w`'s context is not a 4-level one.
   */
  private lriShadowRoot(w: Workload | undefined, root: number): number {
    if (w === undefined || w.addressingMode !== 3 || this.ppgtt.disposed) return -1;
    const mm = this.ppgtt.find(root, PPGTT_MODE_L4);
    if (mm === undefined || mm.destroyed) return -1;
    (w.lriPpgtts ??= []).push(mm.acquire());
    return mm.root();
  }

  /**
   * Apply the vreg updates of a passing scan (GVT-g `cmd_reg_handler`: MOCS ranges and in-context
   * registers of a restore-inhibit context); a mode-mask register takes a masked write.
   */
  applyCommandVregs(pairs: Uint32Array, count: number): void {
    this.checkAlive();
    for (let k = 0; k < count; k++) {
      const offset = pairs[2 * k], value = pairs[2 * k + 1];
      if ((GEN9_REGISTERS.flags[offset >>> 2] & RegFlag.MODE_MASK) !== 0) {
        const mask = value >>> 16;
        this.vregs.poke(offset, ((this.vregs.peek(offset) & ~mask) | (value & mask & 0xffff)) >>> 0);
      } else {
        this.vregs.poke(offset, value);
      }
    }
  }

  /**
   * Apply the display flips of a dispatched workload (`AuditResult.flips`, `FLIP_WORDS` words
   * each: pipe, plane, surface, stride, tiling, async) to the virtual display (GVT-g
   * `cmd_handler_mi_display_flip`); the auditor checked each surface against this vGPU's memory.
   */
  applyCommandFlips(flips: Uint32Array, count: number): void {
    this.checkAlive();
    const vb = this.display.vblank;
    if (vb === null) return;
    if (!(Number.isSafeInteger(count) && count >= 0 && count * FLIP_WORDS <= flips.length)) {
      throw new RangeArgError(`applyCommandFlips: count ${count} exceeds the ${flips.length >>> 0} words given`);
    }
    // The parser only records planes that exist; anything else is a caller's bug, refused before a register changes.
    for (let k = 0; k < count; k++) {
      const pipe = flips[FLIP_WORDS * k], plane = flips[FLIP_WORDS * k + 1];
      if (pipe >= PIPES || plane >= planesOf(pipe)) throw new RangeArgError(`applyCommandFlips: pipe ${pipe} has no plane ${plane + 1}`);
    }
    for (let k = 0; k < count; k++) {
      const o = FLIP_WORDS * k;
      vb.commandFlip(flips[o], flips[o + 1], flips[o + 2], flips[o + 3], flips[o + 4], flips[o + 5] === 1);
    }
  }

  /** Raise a virtual engine interrupt (completion events, user interrupts). */
  raise(engine: EngineInfo, bits: number): void {
    this.checkAlive();
    this.irq.raise(engine, bits);
  }

  // ------------------------------------------------------------------ internals

  private execlistHost() {
    return {
      name: this.name,
      vregs: this.vregs,
      writeGuestGma32: (gma: number, v: number) => this.writeGuestGma32(gma, v),
      raise: (e: EngineInfo, bits: number) => this.raise(e, bits),
      createWorkloads: (e: EngineInfo, elements: readonly [number, number][]) => this.createWorkloads(e, elements),
    };
  }

  /** g2v notifications: PPGTT create/destroy (shadow built ahead of the first workload). */
  private onG2v(code: number): void {
    this.log('g2v', `notification ${code}`);
    const pdps = [0, 1, 2, 3].map((i) => {
      const [lo, hi] = this.pvinfo.pdp(i);
      return hi * TWO_POW_32 + lo;
    });
    try {
      if (code === VGT_G2V_PPGTT_L4_PAGE_TABLE_CREATE) this.ppgtt.get(pdps[0], PPGTT_MODE_L4);
      else if (code === VGT_G2V_PPGTT_L3_PAGE_TABLE_CREATE) this.ppgtt.get(pdps, PPGTT_MODE_L3);
      else if (code === VGT_G2V_PPGTT_L4_PAGE_TABLE_DESTROY) this.ppgtt.destroy(pdps[0], PPGTT_MODE_L4);
      else if (code === VGT_G2V_PPGTT_L3_PAGE_TABLE_DESTROY) this.ppgtt.destroy(pdps, PPGTT_MODE_L3);
    } catch (e) {
      // Host memory exhausted while shadowing: the workload that needs it will fail cleanly.
      this.log('g2v-failed', (e as Error).message);
    }
  }

  /**
   * Turn a submitted list into workloads, reading each element's ring context from the guest's
   * context image (GVT-g reads it at workload creation). A context that cannot be read becomes a
   * workload already failed: it completes in order, with its failure recorded.
   */
  private createWorkloads(engine: EngineInfo, elements: readonly [number, number][]): Workload[] | null {
    if (this.state !== 'active') return null;
    const out: Workload[] = [];
    for (const [lo, hi] of elements) {
      const d = decodeDescriptor(lo, hi);
      const w: Workload = {
        seq: this.nextSeq(), vgpuId: this.id, engine, descLo: lo, descHi: hi, contextId: d.contextId, lrca: d.lrca,
        ringBase: 0, ringSize: 0, head: 0, tail: 0, addressingMode: d.addressingMode, pdps: [0, 0, 0, 0], frameEnd: false,
        status: 'queued', failure: null, submittedAt: this.device.clock.now, dispatchedAt: -1, completedAt: -1,
        commands: 0, batches: 0, patched: 0, userInterrupts: 0, hostContextId: 0, preemptions: 0, mediationNs: 0, busyNs: 0,
        shadowAllocs: [], shadowContext: null, ppgtt: null, ppHwspAtDispatch: null, ringContextPending: false,
      };
      const fail = this.readRingContext(w, engine, d.privilege, lo);
      if (fail) {
        w.status = 'failed';
        w.failure = fail;
      }
      out.push(w);
    }
    this.onWorkloadsCb(this, out);
    return out;
  }

  private readRingContext(w: Workload, engine: EngineInfo, privileged: boolean, lo: number): WorkloadFailure | null {
    const bad = (rule: string, message: string): WorkloadFailure => workloadFailure(rule, 'BAD_DESCRIPTOR', message, w.lrca, '0x' + (lo >>> 0).toString(16));
    if (w.addressingMode !== 1 && w.addressingMode !== 3) return bad('bad-descriptor', `addressing mode ${w.addressingMode} is not supported (legacy 32-bit or 64-bit only)`);
    if (!privileged) return bad('bad-descriptor', 'descriptor without the privilege bit (GVT-g requires it)');
    const pages = engine.contextPages;
    if (!this.ownsGma(w.lrca, pages * PAGE_SIZE)) return bad('bad-descriptor', `context image 0x${w.lrca.toString(16)} (+${pages} pages) outside the vGPU's graphics memory`);
    // GGTT entries that waited for host memory are retried first: read through scratch, the image
    // would look invalid and the guest would be blamed for the host's shortage. Still waiting, the
    // workload is queued with its ring context unread; the mediator reads it at dispatch
    // (`resolveRingContext`). A later workload of the same context follows it (its head is this
    // one's tail, unknown yet).
    const prev = this.lastWorkloadOfCb(this, engine.id, w.lrca, w.seq);
    if (prev?.ringContextPending || (!this.ggtt.sync() && this.ggtt.pendingIn(w.lrca, pages * PAGE_SIZE))) {
      w.ringContextPending = true;
      this.log('context-wait', `context image 0x${w.lrca.toString(16)}: GGTT entries wait for host memory; its ring context is read at dispatch`);
      return null;
    }
    const val = (index: number): number => this.readGuestGma32(w.lrca + PAGE_SIZE + (index + 1) * 4);
    const start = val(CtxReg.RING_BUFFER_START), ctl = val(CtxReg.RING_BUFFER_CONTROL);
    let head = val(CtxReg.RING_HEAD), tail = val(CtxReg.RING_TAIL);
    if ([start, ctl, head, tail].some(Number.isNaN)) return bad('ring-context', `context image 0x${w.lrca.toString(16)} is not mapped`);
    w.ringBase = (start & 0xfffff000) >>> 0;
    w.ringSize = (ctl & Bits.RING_CTL_SIZE_MASK) + PAGE_SIZE;
    if ((ctl & Bits.RING_CTL_VALID) === 0) return bad('ring-context', 'ring not valid in RING_BUFFER_CONTROL');
    head = head & Bits.RING_HEAD_ADDR_MASK;
    tail = tail & Bits.RING_TAIL_ADDR_MASK;
    // A resubmission of a context with work still queued continues after that work (lite restore).
    if (prev) head = prev.tail;
    w.head = head % w.ringSize;
    w.tail = tail;
    for (let n = 0; n < 4; n++) {
      const l = val(ctxPdpLdw(n)), u = val(ctxPdpUdw(n));
      w.pdps[n] = Number.isNaN(l) || Number.isNaN(u) ? 0 : u * TWO_POW_32 + (l >>> 0);
    }
    return null;
  }

  /**
   * For the mediator, at dispatch of a workload whose ring context was left unread at submission
   * (`ringContextPending`): 'wait' while its context image's GGTT entries still wait for host
   * memory; else the ring context is read now (the workload's earlier work of the same context
   * has left the queue by then) and the result is its failure, or null when it can be prepared.
   */
  resolveRingContext(w: Workload): WorkloadFailure | 'wait' | null {
    this.checkAlive();
    const pages = w.engine.contextPages;
    if (!this.ggtt.sync() && this.ggtt.pendingIn(w.lrca, pages * PAGE_SIZE)) return 'wait';
    w.ringContextPending = false;
    const d = decodeDescriptor(w.descLo, w.descHi);
    return this.readRingContext(w, w.engine, d.privilege, w.descLo);
  }


  // ------------------------------------------------------------------ more internals

  /** Append to the event log. */
  log(kind: string, detail: string): void {
    this.checkAlive();
    if (this.events.length >= this.maxEvents) this.events.shift();
    this.events.push({ time: this.device.clock.now, kind, detail });
  }

  private checkAlive(): void {
    if (this.state === 'destroyed') throw new StateError(`${this.name} is destroyed`);
  }

  private inLowSlice(offset: number, size: number): boolean {
    return offset >= this.slices.lowBase && offset + size <= this.lowEnd && (size === 1 || size === 2 || size === 4 || size === 8);
  }

  /**
   * A guest read of the register range [0, 2 MiB): the PVINFO page (GVT-g `pvinfo_mmio_read`
   * sets pv_notified on every PVINFO read, whatever the offset), else the register file.
   */
  private regRead(offset: number, size: number): number {
    if (offset >= VGT_PVINFO_PAGE && offset < VGT_PVINFO_PAGE + VGT_PVINFO_SIZE) {
      const o = offset - VGT_PVINFO_PAGE;
      this.pvinfoSeen = true;
      if (size === 8) {
        const lo = this.pvinfo.read(o, 4);
        const hi = this.pvinfo.read(o + 4, 4);
        return hi * TWO_POW_32 + lo;
      }
      return this.pvinfo.read(o, size);
    }
    return this.vregs.read(offset, size);
  }

  /**
   * The one path of a guest write to the register range [0, 2 MiB) (`mmioWrite`, `mmioWrite64`):
   * the PVINFO page; in failsafe, plain storage that no handler sees (GVT-g
   * `failsafe_emulate_mmio_rw` copies the bytes into the vreg); else the register file. `value`
   * is the written number, `lo` and `hi` its u32 halves (an 8-byte write).
   */
  private regWrite(offset: number, size: number, value: number, lo: number, hi: number): void {
    if (offset >= VGT_PVINFO_PAGE && offset < VGT_PVINFO_PAGE + VGT_PVINFO_SIZE) {
      const o = offset - VGT_PVINFO_PAGE;
      if (size === 8) {
        this.pvinfo.write(o, 4, lo);
        this.pvinfo.write(o + 4, 4, hi);
      } else {
        this.pvinfo.write(o, size, value);
      }
      return;
    }
    if (this.state === 'failsafe') {
      const regs = this.vregs.regs;
      for (let i = 0; i < size && offset + i < MMIO_SPACE_BYTES; i++) {
        const a = offset + i, shift = (a & 3) * 8;
        const byte = (i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4))) & 0xff;
        regs[a >>> 2] = (regs[a >>> 2] & ~(0xff << shift)) | (byte << shift);
      }
      return;
    }
    if (size === 8 && (offset & 7) === 0) this.vregs.write64(offset, lo, hi);
    else this.vregs.write(offset, size, value);
  }

  /** True while the host GGTT and fences hold this vGPU's (always, without a private GGTT). */
  get resident(): boolean {
    this.checkAlive();
    return this.ggtt.resident;
  }

  /**
   * gScale switch-in: load the private shadow GGTT into the host GGTT and the guest's fence
   * values into its host fences (shared with the vGPUs of its slices). Returns the GGTT entries
   * and fence registers written (0 when already resident or without a private GGTT). The
   * mediator calls it before dispatching this vGPU's work, once no work of a sharer is on the device.
   */
  switchIn(): { entries: number; fences: number } {
    this.checkAlive();
    const entries = this.ggtt.load();
    if (entries === 0) return { entries: 0, fences: 0 };
    const host = this.device.regs;
    const f = this.slices.fences;
    for (let i = 0; i < f.length; i++) {
      host.write(fenceReg(f[i]), 4, this.vregs.peek(fenceReg(i)));
      host.write(fenceReg(f[i]) + 4, 4, this.vregs.peek(fenceReg(i) + 4));
    }
    return { entries, fences: f.length };
  }

  /** gScale switch-out: another vGPU of the same slices is about to switch in. */
  switchOut(): void {
    this.checkAlive();
    this.ggtt.unload();
  }

  private deliverInterrupt(pending: number): void {
    if (this.state === 'destroyed') return;
    this.counters.interruptsDelivered++;
    for (const cb of this.interruptCallbacks) cb(pending);
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
        // Passed through, not emulated per access: the stub translates the offset through the
        // vGPU's GGTT entries inside its low slice and reaches host memory directly. With a
        // private GGTT (gScale) this is the ladder mapping: the guest's aperture page goes straight
        // to the frame its own entry names, whoever is resident in the host GGTT.
        name: 'bar2.aperture', space: 'mem', kind: 'passthrough', base: bar2, size: this.device.apertureSize,
        memory: this.device.hostMemory,
        translate: (o) => (o >= this.slices.lowBase && o < this.lowEnd ? this.ggtt.translate(o) : -1),
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

const OWNER = 'mediator/vgpu';

/**
 * The vGPU's own handler rows (GVT-g `fence_mmio_write`, `ring_mode_mmio_write`):
 * - fences: guest fence i is host fence `slices.fences[i]`; the guest's value lands in its
 *   virtual register and, while the vGPU is resident, in the host fence. An index beyond the
 *   vGPU's fences is refused (the write is undone, counted).
 * - RING_MODE (GFX_MODE): bit 1 never sticks and enabling it is failsafe; a guest that enables
 *   PPGTT or execlists before any PVINFO read is not GVT-aware: failsafe (`ringModeFailsafe`).
 */
const VGPU_ROWS: readonly HandlerRow<Vgpu>[] = [
  {
    at: fenceReg(0), count: 32, stride: 8, owner: OWNER, doc: 'guest fence i lands in host fence `slices.fences[i]`; beyond the vGPU\'s fences, refused',
    write: (v, offset, _value, old, next) => {
      const i = (offset - fenceReg(0)) >>> 3;
      if (i >= v.slices.fences.length) {
        v.vregs.poke(offset, old);
        v.counters.fenceRefused++;
        return;
      }
      // Not resident (gScale): the host fence is another vGPU's until `switchIn`.
      if (v.ggtt.resident) v.device.regs.write(fenceReg(v.slices.fences[i]) + (offset - fenceReg(i)), 4, next);
    },
  },
  ...GEN9_ENGINES.map((e): HandlerRow<Vgpu> => ({
    at: e.mmioBase + RING.GFX_MODE, owner: OWNER, doc: 'bit 1 never sticks; enabling it, or PPGTT/execlists before any PVINFO read, is failsafe',
    write: (v, offset, value, _old, next) => {
      if ((next & RING_MODE_DROPPED & 0xffff) !== 0) v.vregs.poke(offset, (next & ~RING_MODE_DROPPED) >>> 0);
      const why = ringModeFailsafe(value >>> 0, v.pvinfoSeen);
      if (why !== null) v.enterFailsafe(`${e.name} ${why}`);
    },
  })),
];

/**
 * The vGPU's register table: the device's registers plus the display engine's, which exist only
 * virtually (the host device model has no display; lib/display).
 */
export const VGPU_REGISTERS: CompiledRegisters = compileRegisters([...GEN9_REGISTER_DEFS, ...DISPLAY_REGISTER_DEFS]);

/**
 * The vGPU's register handlers, compiled once for every vGPU: the virtual GT interrupt
 * registers, the virtual execlist's rows, the vGPU's own and the display's. Every other register
 * is plain virtual storage with the register table's generic semantics.
 */
export const VGPU_MMIO_HANDLERS: CompiledHandlers<Vgpu> = compileHandlers<Vgpu>('vgpu', VGPU_REGISTERS, [
  ...gtInterruptRows<Vgpu>((v) => v.irq),
  ...VIRTUAL_EXECLIST_ROWS,
  ...VGPU_ROWS,
  ...VGPU_GT_ROWS,
  ...displayRows<Vgpu>((v) => v.display),
  ...irqBankRows<Vgpu>((v) => v.irq, DE_IRQ_BANKS),
]);
