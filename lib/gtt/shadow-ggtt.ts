/**
 * `ShadowGgtt`: one vGPU's view of the global GTT, and the shadowing of its writes into the host
 * GGTT (Linux `drivers/gpu/drm/i915/gvt/gtt.c`: `emulate_ggtt_mmio_write`,
 * `emulate_ggtt_mmio_read`, `intel_vgpu_reset_ggtt`).
 *
 * Under ballooning a guest's graphics addresses equal the host's, so the shadow GGTT is not a
 * second table: a guest write to entry i of its GTT window lands, translated, in host entry i.
 * What the mediator adds:
 * - Only entries inside the vGPU's slices are accepted; others are dropped (reads return 0).
 * - The guest's own value is kept in a virtual GTT holding only the entries of its slices
 *   (indexed by slice offset), so a vGPU costs 9 bytes per entry it owns, not 8 MiB.
 * - A present entry's guest frame is translated through the VM's `Ept` (pinning it on demand);
 *   the host entry gets the host frame with the guest's flag bits. A frame outside guest RAM (or
 *   not readable) points the host entry at the vGPU's scratch page for good (`invalidFrame`).
 *   (GVT-g shares one scratch page among vGPUs; one per vGPU keeps the ownership invariant exact.)
 * - A valid frame the host could not back because its memory ran out (`PIN_NO_MEMORY`) also
 *   points the host entry at scratch, but it is the host's failure, not the guest's: counted in
 *   `allocFailures`, the entry stays pending and `sync()` (called by the mediator before it
 *   reads a context image and before each submission) pins it again. While an entry is pending
 *   `sync()` returns false and the mediator holds the workload back (it waits, queued, and its
 *   context image is read once the entries are backed); it never fails for the host's shortage.
 * - An 8-byte entry written as two 4-byte halves is held until the other half arrives, in either
 *   order; meanwhile the host entry points at scratch, not present (GVT-g's partial-PTE list).
 *
 * Invariant: within the vGPU's slices the host GGTT only ever names frames the vGPU owns (its
 * EPT-mapped frames or its scratch page); outside them this class never writes.
 *
 * Private table (gScale, `ShadowGgttOptions.privateTable`): the host entries are kept in a table
 * of the vGPU's own (indexed by slot) and reach the host GGTT only while the vGPU is resident
 * (`load`); vGPUs sharing slices take turns, the mediator loading the one it dispatches. A
 * non-resident vGPU's writes update only its private table, and `translate` (the mediator's
 * reads of guest graphics memory, and the aperture's ladder mapping) reads the private table, so
 * neither depends on who is resident. The invariant then holds for the private table, and for the
 * host GGTT while resident.
 *
 * Hot path: `write64` over typed arrays, bit operations only (frames below 2^27 as a 39-bit PTE
 * address allows), no allocation.
 */
import createDebug from 'debug';
import { ConfigError, StateError } from '../errors.js';
import { PIN_NO_MEMORY, type Ept } from '../ept/ept.js';
import type { HostMemory } from '../ept/memory.js';
import { PAGE_SIZE, TWO_POW_32, type Gma, type Hpa, type Mfn } from '../types.js';
import type { Ggtt } from './ggtt.js';
import type { GmSlices } from './partition.js';
import { PTE_FLAGS_MASK, PTE_PRESENT } from './pte.js';

const log = createDebug('gvtkit:gtt');

/** Size of the GTT window in BAR0 (at BAR0 + 8 MiB): 1 Mi entries of 8 bytes. */
export const GGTT_WINDOW_SIZE = 8 * 1024 * 1024;
/** Largest host frame a gen8 PTE can name, plus one (39-bit addresses). */
const FRAME_LIMIT = 2 ** 27;

/**
 * Counters of one `ShadowGgtt`. Every write access has exactly one outcome (badAccess,
 * outOfSlice, parked, notPresent, invalidFrame, allocFailures or shadowed); `writes` is their sum.
 */
export interface ShadowGgttCounters {
  /** Write accesses to the GTT window (any size, any offset). */
  writes: number;
  /** Half writes that left the entry waiting for its other half (host entry parked on scratch). */
  parked: number;
  /** Whole entries written not present (host entry → scratch, not present). */
  notPresent: number;
  /** Host entries written with a translated guest frame. */
  shadowed: number;
  /** Writes whose entry lies outside the vGPU's slices (dropped). */
  outOfSlice: number;
  /** Present entries whose guest frame did not translate (host entry → scratch for good). */
  invalidFrame: number;
  /**
   * Present entries whose guest frame the host could not back, memory exhausted (host entry →
   * scratch, pending a retry at `sync`).
   */
  allocFailures: number;
  /** Pending entries a later `sync` shadowed. */
  retried: number;
  /** Gauge: entries pending a retry now. */
  pending: number;
  /** 4-byte (half-entry) writes. */
  halfWrites: number;
  /** Unaligned, wrong-size or out-of-window writes (dropped). */
  badAccess: number;
  /** Read accesses. */
  reads: number;
  /** Unaligned, wrong-size or out-of-window reads (answered 0). */
  badReads: number;
  /**
   * Host entries pointed back at scratch because their guest frame was unmapped (or, for a
   * pending entry, became unusable before its retry).
   */
  invalidated: number;
}

/** Options of `ShadowGgtt`. */
export interface ShadowGgttOptions {
  /** Name for logs (e.g. `vgpu1`). */
  name?: string;
  /** Keep a private table of host entries, loaded into the host GGTT by `load` (gScale); default false. */
  privateTable?: boolean;
}

const HELD_NONE = 0;
const HELD_LO = 1;
const HELD_HI = 2;
/**
 * Not a half: a whole present entry whose frame could not be backed (host memory exhausted),
 * waiting for `sync`. Kept in `held` (and counted in `heldCount`) so that the write path's one
 * held-slot test also catches a guest rewriting it.
 */
const HELD_RETRY = 3;

export class ShadowGgtt {
  // Fields assigned once in the constructor are `declare`d: emitted class fields would first be
  // defined as undefined and then reassigned, which costs V8 its constant-field tracking and makes
  // the write path about 3x slower (measured with bench/ggtt.bench.ts).
  declare readonly ggtt: Ggtt;
  declare readonly slices: GmSlices;
  declare readonly ept: Ept;
  declare readonly host: HostMemory;
  declare readonly name: string;
  /** This vGPU's scratch page (host frame). */
  declare readonly scratchMfn: Mfn;
  /** Set by `destroy`. */
  declare destroyed: boolean;
  /** True while the host GGTT holds this vGPU's entries (always, without a private table). */
  declare resident: boolean;
  /** Private host entries (lo at 2s, hi at 2s + 1 for slot s), or null without a private table. */
  private declare readonly priv: Uint32Array | null;

  private declare readonly lowFirst: number;
  private declare readonly lowCount: number;
  private declare readonly highFirst: number;
  private declare readonly highCount: number;
  /** Slot minus entry index in the high slice (`lowCount - highFirst`). */
  private declare readonly highSlotDelta: number;
  /** Guest view: lo at 2s, hi at 2s + 1, s the slot (low slice first, then high). */
  private declare readonly guest: Uint32Array;
  /** HELD_* per slot. */
  private declare readonly held: Uint8Array;
  /** Host entry halves pointing at scratch (present / parked). */
  private declare readonly scratchLo: number;
  private declare readonly scratchParkedLo: number;
  private declare readonly scratchHi: number;
  private declare readonly unsubscribe: () => void;
  private declare readonly unsubscribeDestroy: () => void;
  /** `ept.deviceFrameTable` and its length, held as constant fields for the write path. */
  private declare readonly eptTable: Int32Array;
  private declare readonly eptFrames: number;
  /** End of the accepted window: GGTT_WINDOW_SIZE, 0 once destroyed (every access then dropped). */
  private declare windowEnd: number;
  /** Slots whose `held` state is not HELD_NONE: halves waiting and entries pending a retry. */
  private declare heldCount: number;
  /** Slots in HELD_RETRY (a part of `heldCount`), and the lowest and highest of them. */
  private declare retryCount: number;
  private declare retryFirst: number;
  private declare retryLast: number;
  // Counters as plain fields (the hot path bumps one of them); `counters` snapshots them.
  private declare nShadowed: number;
  /** Entries `write64` shadowed straight into `words` (`ggtt.writes` counts them through `addDirectWriter`). */
  private declare nShadowedDirect: number;
  private declare readonly words: Uint32Array;
  private declare readonly detachWriter: () => void;
  private declare nOutOfSlice: number;
  private declare nInvalidFrame: number;
  private declare nHalfWrites: number;
  private declare nBadAccess: number;
  private declare nBadReads: number;
  private declare nReads: number;
  private declare nInvalidated: number;
  private declare nParked: number;
  private declare nNotPresent: number;
  private declare nAllocFailures: number;
  private declare nRetried: number;

  /**
   * @param ggtt the host GGTT.
   * @param slices the vGPU's graphics memory (from `GmPartition`).
   * @param ept the VM's EPT (translates guest frames, owns the frames the GGTT may name).
   * @param host host memory (the scratch page comes from it).
   */
  constructor(ggtt: Ggtt, slices: GmSlices, ept: Ept, host: HostMemory, opts: ShadowGgttOptions = {}) {
    const lowEnd = slices.lowBase + slices.lowSize;
    const highEnd = slices.highBase + slices.highSize;
    if (slices.lowBase % PAGE_SIZE || slices.lowSize % PAGE_SIZE || slices.highBase % PAGE_SIZE || slices.highSize % PAGE_SIZE) {
      throw new ConfigError('slices', 'slice bases and sizes must be multiples of 4096');
    }
    if (lowEnd > ggtt.size || highEnd > ggtt.size || slices.lowBase < 0 || slices.highBase < 0) {
      throw new ConfigError('slices', `slices exceed the GGTT of ${ggtt.size} bytes`);
    }
    if (slices.lowSize && slices.highSize && slices.lowBase < highEnd && slices.highBase < lowEnd) {
      throw new ConfigError('slices', 'low and high slices overlap');
    }
    if (host.frames > FRAME_LIMIT) throw new ConfigError('host', 'host memory beyond 512 GiB cannot be named by a gen8 PTE');
    this.ggtt = ggtt;
    this.eptTable = ept.deviceFrameTable;
    this.eptFrames = ept.deviceFrameTable.length;
    this.destroyed = false;
    this.windowEnd = GGTT_WINDOW_SIZE;
    this.heldCount = 0;
    this.retryCount = 0;
    this.retryFirst = 0;
    this.retryLast = -1;
    this.nShadowed = 0;
    this.nShadowedDirect = 0;
    this.words = ggtt.words;
    this.nOutOfSlice = 0;
    this.nInvalidFrame = 0;
    this.nHalfWrites = 0;
    this.nBadAccess = 0;
    this.nBadReads = 0;
    this.nReads = 0;
    this.nInvalidated = 0;
    this.nParked = 0;
    this.nNotPresent = 0;
    this.nAllocFailures = 0;
    this.nRetried = 0;
    this.slices = slices;
    this.ept = ept;
    this.host = host;
    this.name = opts.name ?? 'vgpu';
    // `| 0`: small integers keep the fields in Smi representation (entry indices are < 2^27).
    this.lowFirst = (slices.lowBase / PAGE_SIZE) | 0;
    this.lowCount = (slices.lowSize / PAGE_SIZE) | 0;
    this.highFirst = (slices.highBase / PAGE_SIZE) | 0;
    this.highCount = (slices.highSize / PAGE_SIZE) | 0;
    this.highSlotDelta = (this.lowCount - this.highFirst) | 0;
    const entries = this.lowCount + this.highCount;
    this.guest = new Uint32Array(entries * 2);
    this.held = new Uint8Array(entries);
    this.priv = opts.privateTable ? new Uint32Array(entries * 2) : null;
    this.resident = !opts.privateTable;
    const scratch = host.allocFrame(ept.owner);
    this.scratchMfn = scratch as Mfn;
    this.scratchParkedLo = (scratch << 12) >>> 0;
    this.scratchLo = (this.scratchParkedLo | PTE_PRESENT) >>> 0;
    this.scratchHi = scratch >>> 20;
    this.detachWriter = ggtt.addDirectWriter(() => this.nShadowedDirect);
    this.unsubscribe = ept.onUnmap((_gfn, mfn) => this.invalidateFrame(mfn));
    this.unsubscribeDestroy = ept.onDestroy(() => this.eptDestroyed());
    this.reset();
  }

  /** A snapshot of the counters. */
  get counters(): ShadowGgttCounters {
    return {
      writes: this.nBadAccess + this.nOutOfSlice + this.nParked + this.nNotPresent + this.nInvalidFrame + this.nAllocFailures +
        this.nShadowed + this.nShadowedDirect,
      parked: this.nParked, notPresent: this.nNotPresent, shadowed: this.nShadowed + this.nShadowedDirect, outOfSlice: this.nOutOfSlice,
      invalidFrame: this.nInvalidFrame, allocFailures: this.nAllocFailures, retried: this.nRetried, pending: this.retryCount,
      halfWrites: this.nHalfWrites, badAccess: this.nBadAccess, badReads: this.nBadReads, reads: this.nReads,
      invalidated: this.nInvalidated,
    };
  }

  /** Entries of the vGPU's slices. */
  get entryCount(): number {
    return this.lowCount + this.highCount;
  }

  /** Halves currently held waiting for their partner. */
  get heldHalves(): number {
    return this.heldCount - this.retryCount;
  }

  /** Entries waiting for host memory (see `sync`). */
  get pendingEntries(): number {
    return this.retryCount;
  }

  /** Slot of GGTT entry `index` (low slice first, then high), or -1 outside the slices. */
  slotOf(index: number): number {
    const l = index - this.lowFirst;
    if (l >= 0 && l < this.lowCount) return l;
    const h = index - this.highFirst;
    if (h >= 0 && h < this.highCount) return this.lowCount + h;
    return -1;
  }

  private indexOfSlot(s: number): number {
    return s < this.lowCount ? this.lowFirst + s : this.highFirst + (s - this.lowCount);
  }

  // ---------------------------------------------------------------- guest accesses

  /**
   * A guest write to its GTT window: `offset` inside the 8 MiB window, `size` 4 or 8, `value`
   * (an 8-byte value must be below 2^53; use `write64` for full halves). Never throws.
   */
  write(offset: number, size: number, value: number): void {
    if (size === 8) {
      this.write64(offset, value >>> 0, Math.floor(value / TWO_POW_32) >>> 0);
      return;
    }
    if (size !== 4 || (offset & 3) !== 0 || !(offset >= 0 && offset < this.windowEnd)) {
      this.nBadAccess++;
      return;
    }
    this.nHalfWrites++;
    const s = this.slotOf(offset >>> 3);
    if (s < 0) {
      this.nOutOfSlice++;
      return;
    }
    const half = (offset >>> 2) & 1;
    this.guest[2 * s + half] = value;
    const mine = half === 0 ? HELD_LO : HELD_HI;
    let h = this.held[s];
    if (h === HELD_RETRY) {
      // The guest rewrites an entry that waited for memory: what it had is gone, this half
      // starts a new entry.
      this.unhold(s);
      h = HELD_NONE;
    }
    if (h === HELD_NONE) {
      // First half: hold it, park the host entry on scratch until the other half arrives.
      this.held[s] = mine;
      this.heldCount++;
      this.nParked++;
      this.put(this.indexOfSlot(s), s, this.scratchParkedLo, this.scratchHi);
    } else if (h === mine) {
      // Same half again: still held, the host entry stays parked.
      this.nParked++;
    } else {
      // The other half: the entry is whole again.
      this.held[s] = HELD_NONE;
      this.heldCount--;
      this.shadow(s);
    }
  }

  /**
   * A guest 8-byte write of entry halves `lo`, `hi` at window `offset`. The hot path: slot lookup
   * and shadowing are inlined by hand (same logic as `slotOf` and `shadow`).
   */
  write64(offset: number, lo: number, hi: number): void {
    if (!(offset >= 0 && offset < this.windowEnd) || (offset & 7) !== 0) {
      this.nBadAccess++;
      return;
    }
    if (this.priv !== null) {
      this.write64Private(offset >>> 3, lo, hi);
      return;
    }
    const index = offset >>> 3;
    // `(x >>> 0) < n` is `0 <= x < n` in one unsigned compare; the high slice's slot is recomputed
    // rather than reusing the unsigned difference (which V8 would check back into int32).
    let s = index - this.lowFirst;
    if (!((s >>> 0) < this.lowCount)) {
      if (!(((index - this.highFirst) >>> 0) < this.highCount)) {
        this.nOutOfSlice++;
        return;
      }
      s = index + this.highSlotDelta;
    }
    const g = this.guest;
    g[2 * s] = lo;
    g[2 * s + 1] = hi;
    if (this.heldCount !== 0 && this.held[s] !== 0) this.unhold(s);
    // Literals on this path: 1 = PTE_PRESENT, 0xfff = PTE_FLAGS_MASK, 0 = HELD_NONE.
    if ((lo & 1) === 0) {
      this.nNotPresent++;
      this.ggtt.set(index, this.scratchParkedLo, this.scratchHi);
      return;
    }
    // The EPT's device table inline; a miss goes to `shadowPinned` (`pin` maps on demand or says
    // the frame is invalid). A hit stores the host entry straight into the GGTT's words: Ggtt
    // counts these through `addDirectWriter`, so this path bumps one counter, not two.
    const gfn = (lo >>> 12) | ((hi & 0x7f) << 20);
    const mfn = gfn < this.eptFrames ? this.eptTable[gfn] : -1;
    if (mfn < 0) {
      this.shadowPinned(s, index, lo, gfn);
      return;
    }
    this.nShadowedDirect++;
    const w = this.words;
    w[2 * index] = (mfn << 12) | (lo & 0xfff);
    w[2 * index + 1] = mfn >>> 20;
  }

  /** `write64` with a private table: the general path (slot lookup, `shadow`). */
  private write64Private(index: number, lo: number, hi: number): void {
    const s = this.slotOf(index);
    if (s < 0) {
      this.nOutOfSlice++;
      return;
    }
    this.guest[2 * s] = lo;
    this.guest[2 * s + 1] = hi;
    if (this.held[s] !== HELD_NONE) this.unhold(s);
    this.shadow(s);
  }

  /**
   * Store host entry (`lo`, `hi`) of slot `s` (GGTT entry `index`): into the private table if
   * any, and into the host GGTT while resident.
   */
  private put(index: number, s: number, lo: number, hi: number): void {
    const p = this.priv;
    if (p !== null) {
      p[2 * s] = lo;
      p[2 * s + 1] = hi;
      if (!this.resident) return;
    }
    this.ggtt.set(index, lo, hi);
  }

  /** True with a private table (gScale). */
  get hasPrivateTable(): boolean {
    return this.priv !== null;
  }

  /**
   * The host entry this vGPU has for GGTT entry `index` as [lo, hi]: its private table's, or the
   * host GGTT's; [0, 0] outside its slices.
   */
  hostEntry(index: number): [number, number] {
    const s = this.slotOf(index);
    return s < 0 ? [0, 0] : [this.hostLo(s), this.hostHi(s)];
  }

  /** Host entry low half of slot `s` as this vGPU has it (private table, or the host GGTT). */
  private hostLo(s: number): number {
    return this.priv !== null ? this.priv[2 * s] : this.ggtt.words[2 * this.indexOfSlot(s)];
  }

  private hostHi(s: number): number {
    return this.priv !== null ? this.priv[2 * s + 1] : this.ggtt.words[2 * this.indexOfSlot(s) + 1];
  }

  /**
   * Make this vGPU resident: write every entry of its private table into the host GGTT (whatever
   * another vGPU sharing the slices left there is overwritten). Returns the entries written
   * (0 when already resident or without a private table).
   */
  load(): number {
    const p = this.priv;
    if (p === null || this.resident || this.destroyed) return 0;
    const n = this.lowCount + this.highCount;
    // Entry by entry through `set`, as every other host GGTT write (counted, observable).
    const g = this.ggtt;
    for (let s = 0; s < n; s++) g.set(this.indexOfSlot(s), p[2 * s], p[2 * s + 1]);
    this.resident = true;
    log('%s: loaded %d entries into the host GGTT', this.name, n);
    return n;
  }

  /**
   * No longer resident (another vGPU sharing the slices is about to load). The host GGTT keeps
   * this vGPU's entries until then; they are only used by work the mediator dispatches, which
   * loads its own vGPU first.
   */
  unload(): void {
    if (this.priv !== null) this.resident = false;
  }

  /** The rest of `write64` when the EPT's device table has no host frame for `gfn`. */
  private shadowPinned(s: number, index: number, lo: number, gfn: number): void {
    const mfn = this.ept.pin(gfn);
    if (mfn < 0) {
      if (mfn === PIN_NO_MEMORY) this.holdForRetry(s);
      else this.nInvalidFrame++;
      this.ggtt.set(index, (this.scratchParkedLo | (lo & 0xfff)) >>> 0, this.scratchHi);
      return;
    }
    this.nShadowed++;
    this.ggtt.set(index, (mfn << 12) | (lo & 0xfff), mfn >>> 20);
  }

  /** Slot `s` waits for host memory (its host entry goes to scratch): count it, remember it. */
  private holdForRetry(s: number): void {
    this.nAllocFailures++;
    this.held[s] = HELD_RETRY;
    this.heldCount++;
    if (this.retryCount++ === 0) {
      this.retryFirst = s;
      this.retryLast = s;
    } else {
      if (s < this.retryFirst) this.retryFirst = s;
      if (s > this.retryLast) this.retryLast = s;
    }
    log('%s: no host memory for GGTT entry 0x%s: pending', this.name, this.indexOfSlot(s).toString(16));
  }

  /** Clear the held state of slot `s` (a half waiting or a pending retry). */
  private unhold(s: number): void {
    if (this.held[s] === HELD_RETRY) this.retryCount--;
    this.held[s] = HELD_NONE;
    this.heldCount--;
  }

  /** Translate the guest entry of slot `s` into the host GGTT. */
  private shadow(s: number): void {
    const lo = this.guest[2 * s];
    const index = this.indexOfSlot(s);
    if ((lo & PTE_PRESENT) === 0) {
      this.nNotPresent++;
      this.put(index, s, this.scratchParkedLo, this.scratchHi);
      return;
    }
    const gfn = (lo >>> 12) | ((this.guest[2 * s + 1] & 0x7f) << 20);
    const mfn = this.ept.pin(gfn);
    if (mfn < 0) {
      if (mfn === PIN_NO_MEMORY) this.holdForRetry(s);
      else this.nInvalidFrame++;
      this.put(index, s, (this.scratchParkedLo | (lo & PTE_FLAGS_MASK)) >>> 0, this.scratchHi);
      return;
    }
    this.nShadowed++;
    this.put(index, s, ((mfn << 12) | (lo & PTE_FLAGS_MASK)) >>> 0, mfn >>> 20);
  }

  /**
   * Retry the entries that waited for host memory (the mediator calls this before it reads a
   * context image through the GGTT and before each submission). Returns true when no entry is
   * left waiting. An entry whose frame became unusable meanwhile (the host made it unreadable,
   * or the EPT is gone) stays at scratch for good (`invalidated`). Costs one compare when
   * nothing waits.
   */
  sync(): boolean {
    if (this.retryCount === 0) return true;
    const held = this.held;
    const g = this.guest;
    const last = this.retryLast;
    let first = -1;
    let high = -1;
    for (let s = this.retryFirst; s <= last; s++) {
      if (held[s] !== HELD_RETRY) continue;
      const lo = g[2 * s];
      const mfn = this.ept.pin((lo >>> 12) | ((g[2 * s + 1] & 0x7f) << 20));
      if (mfn === PIN_NO_MEMORY) {
        if (first < 0) first = s;
        high = s;
        continue;
      }
      this.unhold(s);
      if (mfn < 0) {
        this.nInvalidated++;
        continue;
      }
      this.nRetried++;
      this.put(this.indexOfSlot(s), s, ((mfn << 12) | (lo & PTE_FLAGS_MASK)) >>> 0, mfn >>> 20);
    }
    if (this.retryCount === 0) return true;
    this.retryFirst = first;
    this.retryLast = high;
    log('%s: %d GGTT entries still wait for host memory', this.name, this.retryCount);
    return false;
  }

  /** True when an entry covering graphics memory [gma, gma + bytes) waits for host memory. */
  pendingIn(gma: number, bytes: number): boolean {
    if (this.retryCount === 0 || !(bytes > 0)) return false;
    const end = Math.ceil((gma + bytes) / PAGE_SIZE);
    for (let i = Math.floor(gma / PAGE_SIZE); i < end; i++) {
      const s = this.slotOf(i);
      if (s >= 0 && this.held[s] === HELD_RETRY) return true;
    }
    return false;
  }

  /**
   * A guest read of its GTT window: its own value (4 bytes: one half; 8 bytes: the entry, exact
   * only below 2^53). Outside the slices, or a bad access: 0.
   */
  read(offset: number, size: number): number {
    this.nReads++;
    if ((size !== 4 && size !== 8) || (offset & (size - 1)) !== 0 || !(offset >= 0 && offset < this.windowEnd)) {
      this.nBadReads++;
      return 0;
    }
    const s = this.slotOf(offset >>> 3);
    if (s < 0) return 0;
    if (size === 4) return this.guest[2 * s + ((offset >>> 2) & 1)];
    return this.guest[2 * s + 1] * TWO_POW_32 + this.guest[2 * s];
  }

  /** Guest value of entry `index`, low half (0 outside the slices). */
  guestLo(index: number): number {
    const s = this.slotOf(index);
    return s < 0 ? 0 : this.guest[2 * s];
  }

  /** Guest value of entry `index`, high half (0 outside the slices). */
  guestHi(index: number): number {
    const s = this.slotOf(index);
    return s < 0 ? 0 : this.guest[2 * s + 1];
  }

  // ---------------------------------------------------------------- translation helpers

  /**
   * Host graphics address for guest graphics address `gmaddr`: the same address under
   * ballooning, checked: -1 outside the vGPU's slices. For command address patching.
   */
  guestToHostGma(gmaddr: Gma | number): Gma | -1 {
    return this.slotOf(Math.floor(gmaddr / PAGE_SIZE)) >= 0 && gmaddr >= 0 ? (gmaddr as Gma) : -1;
  }

  /** Host-physical address behind guest graphics address `gmaddr`, or -1 (outside, not present). */
  translate(gmaddr: Gma | number): Hpa | -1 {
    if (this.guestToHostGma(gmaddr) < 0) return -1;
    const p = this.priv;
    if (p === null) return this.ggtt.translate(gmaddr) as Hpa | -1;
    // Through the private table: the same answer whoever is resident (ladder mapping).
    const s = this.slotOf(Math.floor(gmaddr / PAGE_SIZE));
    const lo = p[2 * s];
    if ((lo & PTE_PRESENT) === 0) return -1;
    return (((lo >>> 12) | ((p[2 * s + 1] & 0x7f) << 20)) * PAGE_SIZE + (gmaddr % PAGE_SIZE)) as Hpa;
  }

  /** True when host frame `mfn` may appear in this vGPU's slices (its EPT frames or scratch). */
  ownsFrame(mfn: number): boolean {
    return mfn === this.scratchMfn || this.ept.ownsMfn(mfn);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Device-model-level reset: forget the guest's entries and held halves, and point every host
   * entry of the slices at the scratch page (present), as GVT-g's `intel_vgpu_reset_ggtt` does.
   */
  reset(): void {
    if (this.destroyed) throw new StateError(`${this.name}: shadow GGTT destroyed`);
    this.guest.fill(0);
    this.held.fill(0);
    // Stored only when it changes: a field never reassigned after the constructor stays constant
    // for V8, and `write64` then drops its held-halves test while no half was ever held.
    if (this.heldCount !== 0) this.heldCount = 0;
    if (this.retryCount !== 0) this.retryCount = 0;
    if (this.priv === null) {
      // Every host entry of the slices, as `put` would store them one by one.
      this.ggtt.fill(this.lowFirst, this.lowCount, this.scratchLo, this.scratchHi);
      this.ggtt.fill(this.highFirst, this.highCount, this.scratchLo, this.scratchHi);
      return;
    }
    const n = this.lowCount + this.highCount;
    for (let s = 0; s < n; s++) this.put(this.indexOfSlot(s), s, this.scratchLo, this.scratchHi);
  }

  /** Clear the host entries of the slices and free the scratch page. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    // A non-resident vGPU's slices hold another vGPU's entries: not its to clear.
    if (this.resident) {
      this.ggtt.fill(this.lowFirst, this.lowCount, 0, 0);
      this.ggtt.fill(this.highFirst, this.highCount, 0, 0);
    }
    this.resident = false;
    this.unsubscribe();
    this.unsubscribeDestroy();
    this.detachWriter();
    this.host.freeFrame(this.scratchMfn);
    // Every later guest access is dropped (reads 0).
    this.windowEnd = 0;
    this.heldCount = 0;
    this.retryCount = 0;
    this.destroyed = true;
    log('%s: shadow GGTT destroyed', this.name);
  }

  /**
   * The EPT is being destroyed: every entry naming one of its frames goes to scratch in one pass,
   * and per-frame unmap events are no longer needed (they would cost a scan each).
   */
  private eptDestroyed(): void {
    this.unsubscribe();
    const n = this.lowCount + this.highCount;
    // Nothing is left to retry: the EPT will not back any frame again.
    if (this.retryCount !== 0) for (let s = 0; s < n; s++) if (this.held[s] === HELD_RETRY) this.unhold(s);
    for (let s = 0; s < n; s++) {
      const lo = this.hostLo(s);
      if (((lo >>> 12) | ((this.hostHi(s) & 0x7f) << 20)) !== this.scratchMfn) {
        this.put(this.indexOfSlot(s), s, (this.scratchParkedLo | (lo & PTE_FLAGS_MASK)) >>> 0, this.scratchHi);
        this.nInvalidated++;
      }
    }
  }

  /**
   * The EPT dropped host frame `mfn`: entries naming it go back to scratch. One scan of the
   * slices per unmap (unmaps are rare: ballooning a page out, teardown goes through
   * `eptDestroyed`).
   */
  private invalidateFrame(mfn: number): void {
    const n = this.lowCount + this.highCount;
    for (let s = 0; s < n; s++) {
      const lo = this.hostLo(s);
      if (((lo >>> 12) | ((this.hostHi(s) & 0x7f) << 20)) === mfn) {
        this.put(this.indexOfSlot(s), s, (this.scratchParkedLo | (lo & PTE_FLAGS_MASK)) >>> 0, this.scratchHi);
        this.nInvalidated++;
      }
    }
  }
}
