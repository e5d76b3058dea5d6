/**
 * Shared fixtures of the device tests (not a test file itself): a small device, an engine with a
 * ring and a context in graphics memory, and a PPGTT builder over host memory.
 */
import type { HostMemory } from '../lib/ept/memory.js';
import { PDE_IPS, PDE_PS, PTE_PRESENT, PTE_RW, pteHi, pteLo } from '../lib/gtt/pte.js';
import { PAGE_SIZE } from '../lib/types.js';
import {
  AddressingMode, elspSubmit, enableEngineInterrupts, enableExeclists, encodeDescriptor, Gen9Device, ggttView, mapGgttPages,
  miNoop, writeContextImage, writeGgtt, type Engine, type EngineName, type Gen9DeviceOptions,
} from '../lib/device/index.js';

export const MiB = 1024 * 1024;

/** A device with small memories (fast to build). */
export function smallDevice(opts: Gen9DeviceOptions = {}): Gen9Device {
  return new Gen9Device({ hostMemorySize: 64 * MiB, graphicsMemorySize: 256 * MiB, apertureSize: 64 * MiB, ...opts });
}

/** GGTT layout used by `EngineFixture`. */
export const RING_GMA = 0x10_0000;
export const RING_SIZE = 4 * PAGE_SIZE;
export const CTX_GMA = 0x20_0000;
export const DATA_GMA = 0x40_0000;
export const DATA_PAGES = 64;
export const HWSP_GMA = 0x30_0000;

/** Flatten encoded commands into dwords. */
export function dwords(...cmds: readonly (readonly number[])[]): number[] {
  const out: number[] = [];
  for (const c of cmds) out.push(...c);
  return out;
}

/** An engine with a ring, a context image and a data area mapped in the GGTT. */
export class EngineFixture {
  readonly device: Gen9Device;
  readonly engine: Engine;
  readonly ctxGma: number;
  readonly ringGma: number;
  contextId: number;
  addressingMode: number = AddressingMode.LEGACY_64B;
  pdps: number[] = [];
  /** Ring tail (bytes) of the next append. */
  tail = 0;

  constructor(device: Gen9Device, name: EngineName, opts: { slot?: number; contextId?: number; mapData?: boolean } = {}) {
    this.device = device;
    this.engine = device.engines[name];
    const slot = opts.slot ?? 0;
    this.ringGma = RING_GMA + slot * RING_SIZE;
    this.ctxGma = CTX_GMA + slot * 0x20000;
    this.contextId = opts.contextId ?? 0x100 + slot;
    mapGgttPages(device, this.ringGma, RING_SIZE / PAGE_SIZE);
    mapGgttPages(device, this.ctxGma, this.engine.info.contextPages);
    if (opts.mapData ?? slot === 0) {
      mapGgttPages(device, DATA_GMA, DATA_PAGES);
      mapGgttPages(device, HWSP_GMA, 1);
    }
    enableExeclists(device, this.engine);
    enableEngineInterrupts(device, this.engine);
  }

  /** (Re)write a fresh context image with head = tail = `this.tail`. */
  initImage(): void {
    writeContextImage(ggttView(this.device), this.ctxGma, this.engine.info, {
      ringStart: this.ringGma, ringSize: RING_SIZE, head: this.tail, tail: this.tail, pdps: this.pdps,
    });
  }

  /** Descriptor of the fixture's context. */
  descriptor(): [number, number] {
    return encodeDescriptor({ lrca: this.ctxGma, contextId: this.contextId, addressingMode: this.addressingMode });
  }

  /**
   * Append commands at the ring tail (padded to a qword with MI_NOOP, wrapping at the ring end)
   * and store the new tail in the context image. Returns the new tail.
   */
  append(cmds: readonly number[]): number {
    const body = cmds.length % 2 === 1 ? [...cmds, ...miNoop()] : [...cmds];
    for (let k = 0; k < body.length; k++) {
      writeGgtt(this.device, this.ringGma + this.tail, [body[k]]);
      this.tail = (this.tail + 4) % RING_SIZE;
    }
    // CTX_RING_TAIL value: register-state page, index 0x06 + 1.
    writeGgtt(this.device, this.ctxGma + PAGE_SIZE + 7 * 4, [this.tail]);
    return this.tail;
  }

  /** Submit the context alone through ELSP. */
  submit(): void {
    elspSubmit(this.device, this.engine, this.descriptor());
  }

  /** Write a fresh image, append, submit and run until idle. */
  run(cmds: readonly number[]): Engine {
    this.initImage();
    this.append(cmds);
    this.submit();
    this.device.runUntilIdle();
    return this.engine;
  }
}

/** Builds 4-level (or legacy 3-level) PPGTT tables in host memory. */
export class PpgttBuilder {
  readonly mem: HostMemory;
  /** PML4 address (4-level). */
  readonly pml4: number;
  /** Page-directory addresses for the four legacy PDP registers (3-level). */
  readonly legacyPds: number[];

  constructor(mem: HostMemory) {
    this.mem = mem;
    this.pml4 = mem.allocFrame() * PAGE_SIZE;
    this.legacyPds = [0, 1, 2, 3].map(() => mem.allocFrame() * PAGE_SIZE);
  }

  private setEntry(table: number, index: number, frame: number, flags: number): void {
    this.mem.write32(table + index * 8, pteLo(frame, flags));
    this.mem.write32(table + index * 8 + 4, pteHi(frame));
  }

  /** The table an entry points to, allocating it (and setting the entry) when absent. */
  private child(table: number, index: number, extraFlags = 0): number {
    const lo = this.mem.read32(table + index * 8);
    if ((lo & PTE_PRESENT) !== 0) {
      if (extraFlags) this.mem.write32(table + index * 8, lo | extraFlags);
      return ((lo & 0xfffff000) >>> 0) + (this.mem.read32(table + index * 8 + 4) & 0x7f) * 2 ** 32;
    }
    const frame = this.mem.allocFrame();
    this.setEntry(table, index, frame, PTE_PRESENT | PTE_RW | extraFlags);
    return frame * PAGE_SIZE;
  }

  private idx(gma: number, shift: number): number {
    return Math.floor(gma / 2 ** shift) & 0x1ff;
  }

  /** The page directory covering `gma` (4-level unless `legacy`). */
  pdFor(gma: number, legacy = false): number {
    if (legacy) return this.legacyPds[Math.floor(gma / 2 ** 30) & 3];
    const pdp = this.child(this.pml4, this.idx(gma, 39));
    return this.child(pdp, this.idx(gma, 30));
  }

  /** Map a 4 KiB page. */
  map4k(gma: number, frame: number, legacy = false): void {
    const pt = this.child(this.pdFor(gma, legacy), this.idx(gma, 21));
    this.setEntry(pt, this.idx(gma, 12), frame, PTE_PRESENT | PTE_RW);
  }

  /** Map a 64 KiB page (IPS in the PDE; the entry at every 16th PT index). */
  map64k(gma: number, frame: number, legacy = false): void {
    const pt = this.child(this.pdFor(gma, legacy), this.idx(gma, 21), PDE_IPS);
    this.setEntry(pt, this.idx(gma, 12) & ~15, frame, PTE_PRESENT | PTE_RW);
  }

  /** Map a 2 MiB page (PS in the PDE). */
  map2m(gma: number, frame: number, legacy = false): void {
    this.setEntry(this.pdFor(gma, legacy), this.idx(gma, 21), frame, PTE_PRESENT | PTE_RW | PDE_PS);
  }

  /** Write a 1 GiB PDP entry (PS), which the walker refuses. */
  map1g(gma: number, frame: number): void {
    const pdp = this.child(this.pml4, this.idx(gma, 39));
    this.setEntry(pdp, this.idx(gma, 30), frame, PTE_PRESENT | PTE_RW | PDE_PS);
  }

  /** Map `pages` 4 KiB pages from `gma` to fresh host frames; returns the frames. */
  mapFresh(gma: number, pages: number, legacy = false): number[] {
    const frames: number[] = [];
    for (let p = 0; p < pages; p++) {
      const f = this.mem.allocFrame();
      frames.push(f);
      this.map4k(gma + p * PAGE_SIZE, f, legacy);
    }
    return frames;
  }
}
