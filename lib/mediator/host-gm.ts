/**
 * The mediator's own graphics memory: shadow rings, shadow batch buffers and shadow context
 * images live in the host's reserved hidden range, backed by host frames and mapped in the host
 * GGTT (GVT-g allocates them as host GEM objects pinned in the GGTT).
 */
import createDebug from 'debug';
import { NoResourceError } from '../errors.js';
import type { Gen9Device } from '../device/device.js';
import { RangeAllocator } from '../gtt/range-allocator.js';
import { PTE_PRESENT, pteHi, pteLo } from '../gtt/pte.js';
import { PAGE_SIZE } from '../types.js';

const log = createDebug('gvtkit:mediator');

/** One allocation: `pages` pages at host graphics address `gma`, backed by `frames`. */
export interface HostGmAllocation {
  readonly gma: number;
  readonly pages: number;
  readonly frames: number[];
}

export class HostGmPool {
  readonly device: Gen9Device;
  readonly start: number;
  readonly end: number;
  private readonly space: RangeAllocator;
  /** Pages currently allocated. */
  pagesInUse = 0;
  /** High-water mark of `pagesInUse`. */
  peakPages = 0;

  /** Manage host graphics memory [start, end) (the host's reserved range). */
  constructor(device: Gen9Device, start: number, end: number) {
    this.device = device;
    this.start = start;
    this.end = end;
    this.space = new RangeAllocator(end);
    this.space.reserve(0, start);
  }

  /**
   * Allocate `bytes` (rounded up to pages) of host graphics memory backed by fresh host frames.
   * Throws `NoResourceError` (host GM or host frames); nothing is left half-allocated.
   */
  alloc(bytes: number): HostGmAllocation {
    const pages = Math.max(1, Math.ceil(bytes / PAGE_SIZE));
    const gma = this.space.alloc(pages * PAGE_SIZE, PAGE_SIZE);
    if (gma < 0) throw new NoResourceError('host-gm', pages * PAGE_SIZE, `mediator shadow space exhausted (${pages} pages wanted)`);
    const frames: number[] = [];
    try {
      for (let i = 0; i < pages; i++) frames.push(this.device.hostMemory.allocFrame());
    } catch (e) {
      for (const f of frames) this.device.hostMemory.freeFrame(f);
      this.space.release(gma, pages * PAGE_SIZE);
      throw e;
    }
    const ggtt = this.device.ggtt;
    for (let i = 0; i < pages; i++) ggtt.set(gma / PAGE_SIZE + i, pteLo(frames[i], PTE_PRESENT), pteHi(frames[i]));
    this.pagesInUse += pages;
    if (this.pagesInUse > this.peakPages) this.peakPages = this.pagesInUse;
    return { gma, pages, frames };
  }

  /** Return an allocation: GGTT entries cleared, frames freed. */
  free(a: HostGmAllocation): void {
    const ggtt = this.device.ggtt;
    for (let i = 0; i < a.pages; i++) {
      ggtt.set(a.gma / PAGE_SIZE + i, 0, 0);
      this.device.hostMemory.freeFrame(a.frames[i]);
    }
    this.space.release(a.gma, a.pages * PAGE_SIZE);
    this.pagesInUse -= a.pages;
    if (log.enabled) log('freed %d shadow pages at 0x%s', a.pages, a.gma.toString(16));
  }

  /** Copy `count` dwords of `src` from `srcIndex` into the allocation at byte offset `offset`. */
  write(a: HostGmAllocation, offset: number, src: Uint32Array, srcIndex: number, count: number): void {
    const mem = this.device.hostMemory;
    let done = 0;
    while (done < count) {
      const byte = offset + done * 4;
      const page = Math.floor(byte / PAGE_SIZE);
      const inPage = (byte % PAGE_SIZE) >>> 2;
      const n = Math.min(count - done, PAGE_SIZE / 4 - inPage);
      mem.page32(a.frames[page]).set(src.subarray(srcIndex + done, srcIndex + done + n), inPage);
      done += n;
    }
  }

  /** The 32-bit view of page `i` of an allocation. */
  page32(a: HostGmAllocation, i: number): Uint32Array {
    return this.device.hostMemory.page32(a.frames[i]);
  }
}
