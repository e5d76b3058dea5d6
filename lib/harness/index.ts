/**
 * The conformance harness: a qtest-like API that device-conformance tests (ours and users') are
 * written against. Boot a device and N vGPUs with modelled guests, let a guest write registers,
 * build page tables, fill rings and batches and submit, run simulated time until idle or a
 * deadline, and inspect guest memory, host memory, registers, counters and the event log.
 *
 * ```ts
 * const h = new Harness();
 * const g = h.addGuest({ type: 'GVTg_V5_4' });
 * const buf = g.buffer(4096);
 * g.submit('rcs', miStoreDataImm(buf.gma, [0xcafe], { ggtt: true }));
 * h.runUntilIdle();
 * assert(g.read32(buf.gma) === 0xcafe);
 * ```
 */
import { Gen9Device, type Gen9DeviceOptions } from '../device/device.js';
import { GEN9_ENGINES, type EngineInfo, type EngineName } from '../device/engines.js';
import { miBatchBufferEnd, miBatchBufferStart, miNoop } from '../device/commands/index.js';
import { SparseGuestMemory } from '../ept/memory.js';
import { ConfigError, StateError } from '../errors.js';
import { checkOptions, optionKeys } from '../validate.js';
import { GuestDriver, type GuestBus } from '../guest/driver.js';
import type { GuestWrites } from '../ept/ept.js';
import { GuestEngine, type ContextSetupOptions, type GuestBuffer } from '../guest/engine.js';
import { GuestPpgtt } from '../guest/ppgtt.js';
import type { GuestMonitor, LinkConfig, ScanoutSurface, Tiling } from '../guest/display.js';
import type { DisplayMode } from '../display/edid.js';
import type { DisplayOptions } from '../display/monitors.js';
import { Mediator, type MediatorOptions } from '../mediator/mediator.js';
import type { Vgpu } from '../mediator/vgpu.js';
import type { Workload } from '../mediator/workload.js';
import { PAGE_SIZE } from '../types.js';
import { bytesToHexString, unsafeCompareUint8Arrays } from 'typed-array-utils';

const MiB = 1024 * 1024;

/** Options of `Harness`. */
export interface HarnessOptions {
  /** Device options (default: 1 GiB aperture, so up to 7 guests of the smaller types fit; 2 GiB host memory). */
  device?: Gen9DeviceOptions;
  mediator?: MediatorOptions;
}

/** Options of `Harness.addGuest`. */
export interface GuestOptions {
  /** vGPU type name (default `GVTg_V5_8`). */
  type?: string;
  /** Guest RAM in bytes (default 64 MiB). */
  ramBytes?: number;
  name?: string;
  /** Give every engine context a 4-level PPGTT (default true, as Gen9 guests run). */
  ppgtt?: boolean;
  /** Skip the i915-style detection and balloon (a guest that is not GVT-aware). */
  skipDetect?: boolean;
  /**
   * Create every engine's context at once and submit i915's context setup on each, as i915 does
   * at load (null render state, MOCS, workarounds: `GuestEngine.setupContext`). Default false.
   */
  setupContexts?: boolean;
  /**
   * How the guest's stores to its RAM reach gvtkit (default 'trapped': through `vgpu.guestWrite`).
   * 'untrapped' models an emulator whose JIT writes RAM directly (v86): the vGPU is created
   * untrapped and the guest's driver stores straight into its memory.
   */
  guestWrites?: GuestWrites;
  /** The vGPU's monitors (`createVgpu`'s `display`; default GVT-g's one on port D at the type's resolution). */
  display?: DisplayOptions;
}

/**
 * A scanout buffer: one allocation of guest RAM bound both in the GGTT (where the display plane
 * reads it) and in the guest's PPGTT (where its engines' batches write it), as an i915 object
 * pinned for scanout and bound in a context's address space.
 */
export interface ScanoutBuffer extends GuestBuffer, ScanoutSurface {
  /** GGTT address (the plane's PLANE_SURF). */
  readonly gma: number;
  /** The same pages in the guest's PPGTT (the address its batches use). */
  readonly ppgttGma: number;
}

/** Options of `TestGuest.lightMonitor`. */
export interface LightMonitorOptions {
  /** Scanout buffers to allocate (default 2: front and back). */
  buffers?: number;
  /** Plane tiling (default 'linear'; the modelled blitter does not tile, so draw into linear ones). */
  tiling?: Tiling;
  /** Port of the monitor (default the first connected one) and pipe (default A). */
  port?: number;
  pipe?: number;
}

/** A lit monitor of a guest: its mode, its scanout buffers and which one plane 1 shows. */
export class GuestScreen {
  /** Index in `buffers` of the one plane 1 shows (0 after the modeset). */
  front = 0;
  constructor(
    readonly guest: TestGuest,
    readonly pipe: number,
    readonly monitor: GuestMonitor,
    readonly link: LinkConfig,
    readonly buffers: readonly ScanoutBuffer[],
  ) {}

  /** The monitor's mode (the EDID's preferred timing). */
  get mode(): DisplayMode {
    return this.monitor.mode;
  }

  /** The next buffer after the front one (the one to draw into). */
  get back(): ScanoutBuffer {
    return this.buffers[(this.front + 1) % this.buffers.length];
  }

  /** Flip plane 1 to buffer `index` now (PLANE_SURF write). */
  flip(index: number): void {
    this.guest.driver.display.flip(this.pipe, this.buffers[index].gma);
    this.front = index;
  }

  /** Flip plane 1 to buffer `index` at the next vblank interrupt. */
  queueFlip(index: number): void {
    this.guest.driver.display.queueFlip(this.pipe, this.buffers[index].gma);
    this.front = index;
  }
}

/** Scanout alignment of Skylake's planes (i915 `intel_surf_alignment`: 256 KiB, linear and X-tiled). */
const SCANOUT_ALIGN = 256 * 1024;

const HARNESS_OPTIONS = optionKeys<HarnessOptions>({ device: true, mediator: true });
const GUEST_OPTIONS = optionKeys<GuestOptions>({ type: true, ramBytes: true, name: true, ppgtt: true, skipDetect: true, setupContexts: true, guestWrites: true, display: true });

/** A guest of the harness: its vGPU, its modelled driver and helpers to drive it. */
export class TestGuest {
  readonly harness: Harness;
  readonly vgpu: Vgpu;
  readonly driver: GuestDriver;
  readonly memory: SparseGuestMemory;
  readonly ppgtt: GuestPpgtt | null;
  /** Pending bits of each virtual interrupt delivered to this guest. */
  readonly interrupts: number[] = [];
  private readonly engines = new Map<EngineName, GuestEngine>();
  private nextPpgttVa = 0x1_0000_0000;
  private readonly ppgttMap = new Map<number, number>();

  constructor(harness: Harness, vgpu: Vgpu, memory: SparseGuestMemory, opts: GuestOptions) {
    this.harness = harness;
    this.vgpu = vgpu;
    this.memory = memory;
    this.driver = new GuestDriver(vgpu.guestWrites === 'untrapped' ? untrappedBus(vgpu, memory) : vgpu, { name: vgpu.name });
    vgpu.onInterrupt((p) => {
      this.interrupts.push(p);
      this.driver.handleInterrupt(p);
      for (const e of this.engines.values()) e.service();
    });
    if (!opts.skipDetect) {
      if (!this.driver.detect()) throw new StateError(`${vgpu.name}: vGPU not detected`);
      const r = this.driver.balloon();
      if (!r.ok) throw new StateError(`${vgpu.name}: balloon refused: ${r.message}`);
      this.driver.enableInterrupts();
    }
    this.ppgtt = opts.ppgtt === false ? null : new GuestPpgtt(this.driver);
    if (opts.setupContexts) this.setupContexts();
  }

  /**
   * Create the context of every engine and submit i915's setup request on each
   * (`GuestEngine.setupContext`); the requests run when the harness runs. Returns their seqnos.
   */
  setupContexts(opts: ContextSetupOptions = {}): Map<EngineName, number> {
    const out = new Map<EngineName, number>();
    for (const info of GEN9_ENGINES) out.set(info.name, this.engine(info.name).setupContext(opts));
    return out;
  }

  get name(): string {
    return this.vgpu.name;
  }

  /** The guest's context and ring on engine `name` (created on first use). */
  engine(name: EngineName): GuestEngine {
    let e = this.engines.get(name);
    if (!e) {
      const info = GEN9_ENGINES.find((x) => x.name === name);
      if (!info) throw new ConfigError('engine', `no engine ${name}`);
      e = new GuestEngine(this.driver, info, { ppgtt: this.ppgtt });
      this.engines.set(name, e);
    }
    return e;
  }

  /** A GGTT-mapped buffer in the guest's slices, backed by fresh guest RAM. */
  buffer(bytes: number, opts: { mappable?: boolean } = {}): GuestBuffer {
    return this.driver.allocBuffer(bytes, opts);
  }

  /** A buffer mapped in the guest's PPGTT (graphics address in the PPGTT space). */
  ppgttBuffer(bytes: number): GuestBuffer {
    if (!this.ppgtt) throw new StateError(`${this.name}: guest has no PPGTT`);
    const pages = Math.max(1, Math.ceil(bytes / PAGE_SIZE));
    const gpa = this.driver.allocRam(pages);
    this.driver.writeRam(gpa, new Uint8Array(pages * PAGE_SIZE));
    return { gma: this.bindPpgtt(gpa, pages), gpa, bytes: pages * PAGE_SIZE };
  }

  /**
   * A `width` × `height` XRGB8888 scanout buffer (stride rounded up to 64 bytes, 512 for X-tiled):
   * fresh guest RAM mapped at a 256 KiB-aligned GGTT address and in the PPGTT.
   */
  scanoutBuffer(width: number, height: number, opts: { tiling?: Tiling } = {}): ScanoutBuffer {
    const tiling = opts.tiling ?? 'linear';
    const unit = tiling === 'x' ? 512 : 64;
    const stride = Math.ceil((width * 4) / unit) * unit;
    const rows = tiling === 'x' ? Math.ceil(height / 8) * 8 : height;
    const pages = Math.max(1, Math.ceil((stride * rows) / PAGE_SIZE));
    const gma = this.driver.allocGm(pages * PAGE_SIZE, { align: SCANOUT_ALIGN });
    const gpa = this.driver.allocRam(pages);
    this.driver.writeRam(gpa, new Uint8Array(pages * PAGE_SIZE));
    this.driver.mapGtt(gma, gpa, pages);
    const ppgttGma = this.ppgtt ? this.bindPpgtt(gpa, pages) : gma;
    return { gma, gpa, bytes: pages * PAGE_SIZE, ppgttGma, width, height, stride, tiling };
  }

  /**
   * Light the guest's monitor as i915 does (`GuestDisplay.modeset`: EDID over AUX, link, pipe,
   * plane 1, vblanks) on scanout buffers of the EDID's preferred mode, plane 1 on buffer 0.
   * Throws `StateError` when the modeset fails (no monitor, AUX error, bad EDID, ...).
   */
  lightMonitor(opts: LightMonitorOptions = {}): GuestScreen {
    const count = opts.buffers ?? 2;
    const buffers: ScanoutBuffer[] = [];
    const r = this.driver.display.modeset({
      port: opts.port,
      pipe: opts.pipe,
      surface: (mode) => {
        for (let i = 0; i < count; i++) buffers.push(this.scanoutBuffer(mode.width, mode.height, { tiling: opts.tiling }));
        return buffers[0];
      },
    });
    if (!r.ok) throw new StateError(`${this.name}: modeset failed (${r.reason}): ${r.message}`);
    this.screen = new GuestScreen(this, r.pipe, r.monitor, r.link, buffers);
    return this.screen;
  }

  /** The monitor `lightMonitor` lit (null before). */
  screen: GuestScreen | null = null;

  /** Map `pages` of guest RAM at `gpa` at the next free PPGTT address; returns it. */
  private bindPpgtt(gpa: number, pages: number): number {
    if (!this.ppgtt) throw new StateError(`${this.name}: guest has no PPGTT`);
    const gma = this.nextPpgttVa;
    this.nextPpgttVa += (pages + 1) * PAGE_SIZE;
    this.ppgtt.map(gma, gpa, pages);
    for (let i = 0; i < pages; i++) this.ppgttMap.set(gma + i * PAGE_SIZE, gpa + i * PAGE_SIZE);
    return gma;
  }

  /** Append `commands` to the engine's ring and submit. */
  submit(engine: EngineName, commands: ArrayLike<number>): void {
    const e = this.engine(engine);
    e.emit(commands);
    e.submit();
  }

  /**
   * Put `batch` in a buffer (PPGTT-mapped by default, GGTT with `ggtt: true`), end it with
   * MI_BATCH_BUFFER_END unless `noEnd`, and submit a ring segment that starts it.
   */
  submitBatch(engine: EngineName, batch: ArrayLike<number>, opts: { ggtt?: boolean; noEnd?: boolean } = {}): GuestBuffer {
    const dwords = Array.from(batch);
    if (!opts.noEnd) dwords.push(...miBatchBufferEnd());
    const buf = opts.ggtt ? this.buffer(dwords.length * 4) : this.ppgttBuffer(dwords.length * 4);
    this.driver.writeRam32(buf.gpa, dwords);
    this.submit(engine, [...miBatchBufferStart(buf.gma, { ppgtt: !opts.ggtt }), ...miNoop()]);
    return buf;
  }

  /** Guest-physical address behind a GGTT or PPGTT graphics address this guest mapped. */
  gpaOf(gma: number): number {
    const page = Math.floor(gma / PAGE_SIZE) * PAGE_SIZE;
    const p = this.ppgttMap.get(page);
    if (p !== undefined) return p + (gma - page);
    return this.driver.gpaOfGma(gma);
  }

  /** Read a dword of this guest's memory at a graphics address it mapped. */
  read32(gma: number): number {
    return this.memory.read32(this.gpaOf(gma));
  }

  /** Write a dword of this guest's memory at a graphics address it mapped (a vCPU store). */
  write32(gma: number, value: number): void {
    this.driver.writeRam32(this.gpaOf(gma), [value]);
  }

  /** Bytes of this guest's memory at a graphics address it mapped (page by page through its mappings). */
  readBytes(gma: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const a = gma + done;
      const n = Math.min(length - done, PAGE_SIZE - (a % PAGE_SIZE));
      out.set(this.memory.read(this.gpaOf(a), n), done);
      done += n;
    }
    return out;
  }

  /** True when this guest's memory at `gma` holds exactly `expected`. */
  memoryEquals(gma: number, expected: Uint8Array): boolean {
    return unsafeCompareUint8Arrays(this.readBytes(gma, expected.length), expected);
  }

  /** A hex dump of this guest's memory at `gma` (16 bytes a line, address first), for test messages. */
  hexdump(gma: number, length: number): string {
    const bytes = this.readBytes(gma, length);
    const lines: string[] = [];
    for (let o = 0; o < length; o += 16) {
      const hexBytes = bytesToHexString(bytes.subarray(o, Math.min(o + 16, length))).replace(/(..)(?!$)/g, '$1 ');
      lines.push(`${(gma + o).toString(16).padStart(12, '0')}  ${hexBytes}`);
    }
    return lines.join('\n');
  }

  /** Finished workloads of this guest, oldest first. */
  get workloads(): Workload[] {
    return this.harness.mediator.history.filter((w) => w.vgpuId === this.vgpu.id);
  }

  /** The last finished workload of this guest. */
  get lastWorkload(): Workload | undefined {
    const ws = this.workloads;
    return ws[ws.length - 1];
  }
}

/**
 * The bus of a guest whose emulator stores to RAM directly (v86's JIT): device accesses go to the
 * vGPU, RAM stores straight into its memory, never through `vgpu.guestWrite`.
 */
function untrappedBus(vgpu: Vgpu, memory: SparseGuestMemory): GuestBus {
  return {
    mmioRead: (offset, size) => vgpu.mmioRead(offset, size),
    mmioWrite: (offset, size, value) => vgpu.mmioWrite(offset, size, value),
    pciConfigRead: (offset, size) => vgpu.pciConfigRead(offset, size),
    pciConfigWrite: (offset, size, value) => vgpu.pciConfigWrite(offset, size, value),
    guestWrite: (gpa, bytes) => memory.write(gpa, bytes),
    memory,
  };
}

/** A device, a mediator and modelled guests. */
export class Harness {
  readonly device: Gen9Device;
  readonly mediator: Mediator;
  readonly guests: TestGuest[] = [];

  constructor(opts: HarnessOptions = {}) {
    opts = checkOptions(opts, 'HarnessOptions', HARNESS_OPTIONS);
    this.device = new Gen9Device({ apertureSize: 1024 * MiB, hostMemorySize: 2048 * MiB, ...opts.device });
    this.mediator = new Mediator(this.device, opts.mediator);
  }

  /** Create a vGPU and its modelled guest (detected and ballooned unless `skipDetect`). */
  addGuest(opts: GuestOptions = {}): TestGuest {
    opts = checkOptions(opts, 'GuestOptions', GUEST_OPTIONS);
    const memory = new SparseGuestMemory(opts.ramBytes ?? 64 * MiB);
    const vgpu = this.mediator.createVgpu({ type: opts.type ?? 'GVTg_V5_8', memory, name: opts.name, guestWrites: opts.guestWrites, display: opts.display });
    const g = new TestGuest(this, vgpu, memory, opts);
    this.guests.push(g);
    return g;
  }

  /** Simulated time now (ns). */
  get now(): number {
    return this.device.clock.now;
  }

  /** Advance simulated time by `ns`. */
  run(ns: number): void {
    this.mediator.run(ns);
  }

  /** Run until every workload finished and the device is idle (at most `maxNs`, default 10 s). */
  runUntilIdle(maxNs?: number): boolean {
    return this.mediator.runUntilIdle(maxNs);
  }

  /** Host-physical read (the device's memory). */
  hostRead32(hpa: number): number {
    return this.device.hostMemory.read32(hpa);
  }

  /** Engine info by name. */
  engineInfo(name: EngineName): EngineInfo {
    const e = GEN9_ENGINES.find((x) => x.name === name);
    if (!e) throw new ConfigError('engine', `no engine ${name}`);
    return e;
  }
}
