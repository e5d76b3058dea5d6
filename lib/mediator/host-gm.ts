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
  /** The vGPU id it is held for (-1: the host's own). */
  readonly owner: number;
}

/** Per-vGPU bounds of the pool (`MediatorOptions.shadowQuotaPages` / `shadowReservePages`). */
export interface HostGmPoolOptions {
  /** Most pages one vGPU's workloads may hold at once (default: the whole pool). */
  quotaPages?: number;
  /**
   * Pages kept for each registered vGPU: nobody else may allocate into another vGPU's unused
   * reserve (default 0). Clamped to an equal share of the pool among `maxOwners`.
   */
  reservePages?: number;
  /** Most vGPUs registered at once (for the reserve clamp; default 1). */
  maxOwners?: number;
}

/**
 * What `admit` decides for a request of `pages` by one vGPU:
 * - `ok`: allocate now;
 * - `quota`: more than the vGPU's quota on its own: it can never be met (the guest's doing);
 * - `wait`: not now (its own other shadows, or other vGPUs' reserves, hold the space): retry
 *   when shadows come back.
 */
export type HostGmAdmission = 'ok' | 'quota' | 'wait';

export class HostGmPool {
  readonly device: Gen9Device;
  readonly start: number;
  readonly end: number;
  private readonly space: RangeAllocator;
  /** Pages currently allocated. */
  pagesInUse = 0;
  /** High-water mark of `pagesInUse`. */
  peakPages = 0;
  /** Pages of the pool. */
  readonly totalPages: number;
  /** Per-vGPU quota in pages. */
  readonly quotaPages: number;
  /** Per-vGPU reserve in pages (after the clamp). */
  readonly reservePages: number;
  /** Pages held per registered vGPU. */
  private readonly held = new Map<number, number>();
  /** Sum over registered vGPUs of their reserve not yet used (space nobody else may take). */
  private unusedReserves = 0;

  /** Manage host graphics memory [start, end) (the host's reserved range). */
  constructor(device: Gen9Device, start: number, end: number, opts: HostGmPoolOptions = {}) {
    this.device = device;
    this.start = start;
    this.end = end;
    this.space = new RangeAllocator(end);
    this.space.reserve(0, start);
    this.totalPages = Math.floor((end - start) / PAGE_SIZE);
    const owners = Math.max(1, opts.maxOwners ?? 1);
    this.quotaPages = Math.min(opts.quotaPages ?? this.totalPages, this.totalPages);
    this.reservePages = Math.min(opts.reservePages ?? 0, Math.floor(this.totalPages / owners), this.quotaPages);
  }

  /** Start accounting for vGPU `id` (its reserve is set aside). */
  addOwner(id: number): void {
    if (this.held.has(id)) return;
    this.held.set(id, 0);
    this.unusedReserves += this.reservePages;
  }

  /** Stop accounting for vGPU `id` (after its shadows were freed): its reserve returns to all. */
  removeOwner(id: number): void {
    const h = this.held.get(id);
    if (h === undefined) return;
    this.unusedReserves -= Math.max(0, this.reservePages - h);
    this.held.delete(id);
  }

  /** Pages vGPU `id` holds now. */
  heldBy(id: number): number {
    return this.held.get(id) ?? 0;
  }

  /**
   * May vGPU `owner` take `pages` more pages now (see `HostGmAdmission`)? Within its quota, it
   * may use its own unused reserve and whatever is not another vGPU's reserve.
   */
  admit(owner: number, pages: number): HostGmAdmission {
    if (pages > this.quotaPages) return 'quota';
    const h = this.held.get(owner);
    if (h === undefined) return pages <= this.totalPages - this.pagesInUse - this.unusedReserves ? 'ok' : 'wait';
    if (h + pages > this.quotaPages) return 'wait';
    const othersReserved = this.unusedReserves - Math.max(0, this.reservePages - h);
    return pages <= this.totalPages - this.pagesInUse - othersReserved ? 'ok' : 'wait';
  }

  private account(owner: number, delta: number): void {
    const h = this.held.get(owner);
    if (h === undefined) return;
    const before = Math.max(0, this.reservePages - h);
    const next = h + delta;
    this.held.set(owner, next);
    this.unusedReserves += Math.max(0, this.reservePages - next) - before;
  }

  /**
   * Allocate `bytes` (rounded up to pages) of host graphics memory backed by fresh host frames,
   * held for vGPU `owner` (-1: the host). Throws `NoResourceError` (host GM or host frames);
   * nothing is left half-allocated. Quotas are the caller's business (`admit`).
   */
  alloc(bytes: number, owner = -1): HostGmAllocation {
    const pages = Math.max(1, Math.ceil(bytes / PAGE_SIZE));
    const gma = this.space.alloc(pages * PAGE_SIZE, PAGE_SIZE);
    if (gma < 0) throw new NoResourceError('host-gm', pages * PAGE_SIZE, `mediator shadow space exhausted (${pages} pages wanted)`);
    const frames: number[] = [];
    try {
      for (let i = 0; i < pages; i++) frames.push(this.device.hostMemory.allocFrame(owner));
    } catch (e) {
      for (const f of frames) this.device.hostMemory.freeFrame(f);
      this.space.release(gma, pages * PAGE_SIZE);
      throw e;
    }
    const ggtt = this.device.ggtt;
    for (let i = 0; i < pages; i++) ggtt.set(gma / PAGE_SIZE + i, pteLo(frames[i], PTE_PRESENT), pteHi(frames[i]));
    this.pagesInUse += pages;
    if (this.pagesInUse > this.peakPages) this.peakPages = this.pagesInUse;
    this.account(owner, pages);
    return { gma, pages, frames, owner };
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
    this.account(a.owner, -a.pages);
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
