/**
 * `Ept`: one VM's second-level translation, guest frame → host (machine) frame, with vCPU
 * permissions, write-protect traps and a dirty log.
 *
 * ## Guest RAM and host frames: one copy
 *
 * The emulator owns guest RAM (a `GuestMemory`, by default `SparseGuestMemory`). The device
 * model only knows host-physical memory (`HostMemory`). GVT-g pins a guest page and DMA-maps it
 * before any GPU table may point at it (Linux `drivers/gpu/drm/i915/gvt/kvmgt.c`,
 * `intel_gvt_dma_map_guest_page`); the model does the same, without copying:
 *
 * - Mapping guest frame `gfn` *adopts* the guest's 4 KiB page buffer as a freshly allocated host
 *   frame (`HostMemory.adoptFrame`): the host frame and the guest page alias one `ArrayBuffer`.
 *   (a) A device write through the translated host address is what the guest reads, and a guest
 *   write is what the device reads: there is one copy of guest RAM.
 *   (b) Each mapping allocates its own host frame number from the shared `HostMemory`, and the
 *   buffer belongs to this VM's `GuestMemory`, so one guest's frames are never another's.
 *   (c) `unmap` and `destroy` return the host frame (`freeFrame` drops only the alias; the
 *   guest's page stays with the guest).
 * - Mapping is on demand (`pin`, used when a shadow page table validates a guest PTE) or
 *   explicit (`map`). A guest frame the GPU never sees costs nothing on the host side, so an idle
 *   512 MiB guest holds no host frames (only this table: 5 bytes per guest frame).
 * - The guest memory must expose stable page views (`page8`/`page32`, as `SparsePages` does);
 *   an emulator backing its RAM with one big `ArrayBuffer` returns `subarray` views.
 *
 * ## vCPU writes
 *
 * `guestWrite` / `guestWrite32` model the path of a vCPU store to RAM: a write-protected page
 * (GVT-g's page track, `gvt/page_track.c`) routes the write to its handler, which decides what
 * lands; a page without write permission drops it (counted); otherwise it lands in the guest
 * memory and the page is marked dirty. Host-side accesses of the guest memory are never trapped.
 *
 * ## Guests whose stores cannot be trapped (`guestWrites: 'untrapped'`)
 *
 * An emulator whose JIT stores to guest RAM directly (v86) never calls `guestWrite`: nothing can
 * be write-protected. Such an EPT refuses `writeProtect` and the removal of `EPT_WRITE` with a
 * `StateError` (a feature relying on them would be silently wrong), and its dirty log holds only
 * what reached it (device writes through `markDirty`, stores through `guestWrite` or
 * `hostWrite32`): the emulator tracks its own stores. The shadow PPGTT of such a guest
 * resynchronises at each submission instead (`PpgttManager`, docs/untrapped.md).
 */
import Bitfield from 'bitfield';
import createDebug from 'debug';
import { ConfigError, NoResourceError, RangeArgError, StateError } from '../errors.js';
import { PAGE_SIZE, type Gfn, type Gpa, type Hpa, type Mfn } from '../types.js';
import type { GuestMemory, HostMemory } from './memory.js';

const log = createDebug('gvtkit:ept');

/** vCPU and device may read the frame. */
export const EPT_READ = 1;
/** vCPU may write the frame. */
export const EPT_WRITE = 2;
/** Read and write: what every guest frame starts with. */
export const EPT_RW = EPT_READ | EPT_WRITE;
/** Internal: a write-protect handler is registered (checked before EPT_WRITE). */
const EPT_TRAP = 4;

/**
 * What `Ept.pin` returns for a frame that will not map whatever the host does later: outside
 * guest RAM, not readable, or the EPT destroyed. A shadow table points such an entry at scratch
 * for good.
 */
export const PIN_INVALID = -1;
/**
 * What `Ept.pin` returns when the frame is a valid one but no host frame could be found to back
 * it (host memory exhausted). Not the guest's doing: a caller keeps the entry for a retry.
 */
export const PIN_NO_MEMORY = -2;

/** A `GuestMemory` whose pages can be viewed in place (what `Ept` needs to alias them). */
export interface PagedGuestMemory extends GuestMemory {
  /** Stable byte view of guest frame `frame` (created on demand). */
  page8(frame: number): Uint8Array;
  /** Stable 32-bit view of the same bytes. */
  page32(frame: number): Uint32Array;
}

/** True when `m` exposes the page views `Ept` aliases. */
export function isPagedGuestMemory(m: GuestMemory): m is PagedGuestMemory {
  const p = m as Partial<PagedGuestMemory>;
  return typeof p.page8 === 'function' && typeof p.page32 === 'function';
}

/**
 * Called for a vCPU write that hit a write-protected page. `bytes` (never crossing the page) is
 * valid only during the call. Return `true` to let the write land unchanged; return nothing (or
 * false) when the handler has decided itself what lands (it may write the guest memory directly:
 * host-side accesses are not trapped, and `markDirty` records them).
 */
export type WriteTrapHandler = (gpa: Gpa, bytes: Uint8Array) => boolean | void;

/**
 * Whether the emulator routes the guest's stores to its RAM through the vCPU write path
 * (`Ept.guestWrite` / `Vgpu.guestWrite`), so that pages can be write-protected (`'trapped'`, the
 * default: a hypervisor with EPT or shadow paging), or stores land in guest RAM without gvtkit
 * seeing them (`'untrapped'`: an emulator such as v86 whose JIT writes RAM directly). See
 * docs/untrapped.md for what each costs.
 */
export type GuestWrites = 'trapped' | 'untrapped';

/** The `GuestWrites` values (option checks). */
export const GUEST_WRITES: readonly GuestWrites[] = Object.freeze(['trapped', 'untrapped'] as const);

/** Called after a guest frame lost its host frame (before the host frame is reused). */
export type UnmapListener = (gfn: Gfn, mfn: Mfn) => void;

/** Counters of one `Ept`. */
export interface EptCounters {
  /** vCPU write accesses (`guestWrite` + `guestWrite32` calls). */
  guestWrites: number;
  /** Page-sized pieces that landed in guest memory. */
  landed: number;
  /** Pieces routed to a write-protect handler. */
  trapped: number;
  /** Trapped pieces the handler let land. */
  trapLanded: number;
  /** Pieces dropped for lack of write permission. */
  denied: number;
  /** Writes (or parts) outside guest RAM, dropped. */
  outOfRam: number;
  /** Frames mapped (explicitly or on demand). */
  mapped: number;
  /** Frames unmapped. */
  unmapped: number;
  /** On-demand mappings that failed (no permission, outside RAM, host memory exhausted). */
  pinFailures: number;
  /** The part of `pinFailures` due to host memory exhaustion (`PIN_NO_MEMORY`). */
  pinNoMemory: number;
  /** Device writes reported through `markDirty`. */
  deviceDirty: number;
  /** Stores the mediator made into guest RAM through `hostWrite32` (of them, `trapped` counts the trapped ones too). */
  hostWrites: number;
}

/** Options of `Ept`. */
export interface EptOptions {
  /** Name for logs (e.g. `vgpu1`). */
  name?: string;
  /**
   * The host-frame owner (a vGPU id) the frames of this VM's mappings, and of the shadow tables
   * built over them, are charged to (`HostMemory.setReserve`); default -1, the host.
   */
  owner?: number;
  /**
   * `'untrapped'`: the guest's stores bypass the vCPU path, so `writeProtect` and taking away
   * `EPT_WRITE` are refused (`StateError`). Default `'trapped'`.
   */
  guestWrites?: GuestWrites;
}

export class Ept {
  // Constructor-assigned fields are `declare`d so V8 keeps them constant (see ShadowGgtt).
  /** The guest's RAM (host-side accessors, never trapped). */
  declare readonly guest: PagedGuestMemory;
  /** The host memory that hands out the frames. */
  declare readonly host: HostMemory;
  /** Guest frames (guest RAM size / 4 KiB). */
  declare readonly frames: number;
  /** The host-frame owner its frames are charged to (`EptOptions.owner`). */
  declare readonly owner: number;
  /** Whether the guest's stores reach `guestWrite` (`EptOptions.guestWrites`). */
  declare readonly guestWrites: GuestWrites;
  /** Counters. */
  readonly counters: EptCounters = {
    guestWrites: 0, landed: 0, trapped: 0, trapLanded: 0, denied: 0, outOfRam: 0,
    mapped: 0, unmapped: 0, pinFailures: 0, pinNoMemory: 0, deviceDirty: 0, hostWrites: 0,
  };
  /** Guest frames currently backed by a host frame. */
  mappedFrames = 0;
  /** Pages currently marked dirty. */
  dirtyCount = 0;
  /** Set by `destroy`. */
  destroyed = false;
  declare readonly name: string;

  /** Host frame per guest frame, -1 when not mapped. */
  private declare readonly mfns: Int32Array;
  /** What the device may use: the host frame when mapped and readable, else -1 (pin fast path). */
  private declare readonly deviceMfns: Int32Array;
  /** EPT_READ | EPT_WRITE | EPT_TRAP per guest frame. */
  private declare readonly perms: Uint8Array;
  private readonly traps = new Map<number, WriteTrapHandler>();
  /**
   * The last handler `writePiece` looked up and its frame (-1: none): a guest rewriting a page
   * table writes one page many times in a row. Reset whenever `traps` changes.
   */
  private trapGfn = -1;
  private trapHandler: WriteTrapHandler | null = null;
  /** Reverse map host frame → guest frame, for ownership checks. */
  private readonly byMfn = new Map<number, number>();
  private declare readonly dirty: Bitfield;
  private listeners: UnmapListener[] = [];
  private destroyListeners: (() => void)[] = [];
  /** Reused little-endian buffer for trapped 32-bit writes. */
  private readonly word8 = new Uint8Array(4);
  private readonly word32 = new Uint32Array(this.word8.buffer);

  /**
   * @param guest the VM's RAM; must expose page views (see `PagedGuestMemory`), else `ConfigError`.
   * @param host the device's host memory, shared by every VM.
   */
  constructor(guest: GuestMemory, host: HostMemory, opts: EptOptions = {}) {
    if (!isPagedGuestMemory(guest)) {
      throw new ConfigError('memory', 'guest memory must expose page8(frame)/page32(frame) views so the device can share its pages (SparseGuestMemory does)');
    }
    if (guest.size % PAGE_SIZE !== 0) throw new ConfigError('memory', `guest memory size ${guest.size} is not a multiple of 4096`);
    this.guest = guest;
    this.host = host;
    this.name = opts.name ?? 'vm';
    this.owner = opts.owner ?? -1;
    const gw = opts.guestWrites ?? 'trapped';
    if (gw !== 'trapped' && gw !== 'untrapped') throw new ConfigError('guestWrites', `must be 'trapped' or 'untrapped', got ${String(gw)}`);
    this.guestWrites = gw;
    const frames = guest.size / PAGE_SIZE;
    // Small integers stay in Smi representation (cheaper compares on the pin hot path).
    this.frames = frames < 2 ** 31 ? frames | 0 : frames;
    this.mfns = new Int32Array(this.frames).fill(-1);
    this.deviceMfns = new Int32Array(this.frames).fill(-1);
    this.perms = new Uint8Array(this.frames).fill(EPT_RW);
    this.dirty = new Bitfield(this.frames);
  }
  /**
   * Re-read the guest's page views for every mapped frame (`HostMemory.rebaseAdopted`): call it
   * when the guest memory's backing buffer was replaced (a WebAssembly memory grew). Returns the
   * frames rebased.
   */
  refreshGuestViews(): number {
    let n = 0;
    for (let gfn = 0; gfn < this.frames; gfn++) {
      const m = this.mfns[gfn];
      if (m < 0) continue;
      this.host.rebaseAdopted(m, this.guest.page8(gfn), this.guest.page32(gfn));
      n++;
    }
    return n;
  }


  // ---------------------------------------------------------------- mapping (device view)

  /**
   * Back guest frame `gfn` with a host frame (adopting the guest page, see the module note) and
   * set its permissions (kept when omitted). Idempotent: a mapped frame keeps its host frame.
   * Throws `RangeArgError` for a frame outside guest RAM and `NoResourceError` when host memory
   * is exhausted.
   */
  map(gfn: Gfn, perms?: number): Mfn {
    this.checkAlive();
    if (!(gfn >= 0 && gfn < this.frames && Number.isInteger(gfn))) {
      throw new RangeArgError(`${this.name}: gfn 0x${gfn.toString(16)} outside guest RAM of ${this.frames} frames`);
    }
    if (perms !== undefined) this.setPermissions(gfn, perms);
    const m = this.mfns[gfn];
    if (m >= 0) return m as Mfn;
    return this.back(gfn);
  }

  /**
   * The device-side lookup with on-demand backing: the host frame of `gfn`, mapping it first if
   * needed. Fails with a negative sentinel, never a throw (`gfn` usually comes from a guest PTE):
   * `PIN_INVALID` (-1) when `gfn` is outside guest RAM or not readable, or the EPT is destroyed;
   * `PIN_NO_MEMORY` (-2) when host memory is exhausted, which a later call may get past. Both
   * count in `pinFailures`; the second also in `pinNoMemory`. A caller that only needs "usable
   * or not" tests `< 0`.
   */
  pin(gfn: number): number {
    if (gfn >= 0 && gfn < this.frames) {
      const m = this.deviceMfns[gfn];
      if (m >= 0) return m;
      return this.pinSlow(gfn);
    }
    this.counters.pinFailures++;
    return PIN_INVALID;
  }

  private pinSlow(gfn: number): number {
    if ((this.perms[gfn] & EPT_READ) === 0 || this.destroyed) {
      this.counters.pinFailures++;
      return PIN_INVALID;
    }
    try {
      return this.back(gfn);
    } catch (e) {
      this.counters.pinFailures++;
      log('%s: cannot back gfn 0x%s: %s', this.name, gfn.toString(16), (e as Error).message);
      if (e instanceof NoResourceError) {
        this.counters.pinNoMemory++;
        return PIN_NO_MEMORY;
      }
      // Anything else is a host-side fault (a guest memory whose page views are wrong): the
      // frame cannot be backed however long the caller waits.
      return PIN_INVALID;
    }
  }

  private back(gfn: number): Mfn {
    const m = this.host.adoptFrame(this.guest.page8(gfn), this.guest.page32(gfn), this.owner);
    this.mfns[gfn] = m;
    this.deviceMfns[gfn] = (this.perms[gfn] & EPT_READ) !== 0 ? m : -1;
    this.byMfn.set(m, gfn);
    this.mappedFrames++;
    this.counters.mapped++;
    return m as Mfn;
  }

  /**
   * Drop the host frame of `gfn` (the guest keeps its page). Unmap listeners run first, so that
   * shadow tables stop pointing at the frame before it can be reused. Returns false when the
   * frame was not mapped.
   */
  unmap(gfn: Gfn): boolean {
    if (!(gfn >= 0 && gfn < this.frames)) return false;
    const m = this.mfns[gfn];
    if (m < 0) return false;
    for (const l of this.listeners) l(gfn, m as Mfn);
    this.mfns[gfn] = -1;
    this.deviceMfns[gfn] = -1;
    this.byMfn.delete(m);
    this.mappedFrames--;
    this.counters.unmapped++;
    this.host.freeFrame(m);
    return true;
  }

  /**
   * The device-side translation table itself: host frame per guest frame when mapped and
   * readable, else -1. Read-only for callers (the shadow GGTT reads it inline on its write path
   * and falls back to `pin` on -1); its length is `frames`.
   */
  get deviceFrameTable(): Int32Array {
    return this.deviceMfns;
  }

  /** Host frame backing `gfn`, or -1 when not mapped or not readable (no on-demand mapping). */
  translateGfn(gfn: Gfn | number): Mfn | -1 {
    if (!(gfn >= 0 && gfn < this.frames)) return -1;
    const m = this.deviceMfns[gfn];
    return m >= 0 ? (m as Mfn) : -1;
  }

  /** Host-physical address for guest-physical `gpa`, or -1 (see `translateGfn`). */
  translate(gpa: Gpa | number): Hpa | -1 {
    if (!(gpa >= 0 && gpa < this.guest.size)) return -1;
    const m = this.translateGfn(Math.floor(gpa / PAGE_SIZE));
    return m < 0 ? -1 : ((m * PAGE_SIZE + (gpa % PAGE_SIZE)) as Hpa);
  }

  /** True when host frame `mfn` backs one of this VM's guest frames. */
  ownsMfn(mfn: number): boolean {
    return this.byMfn.has(mfn);
  }

  /** Guest frame backed by host frame `mfn`, or -1. */
  gfnOfMfn(mfn: number): Gfn | -1 {
    const g = this.byMfn.get(mfn);
    return g === undefined ? -1 : (g as Gfn);
  }

  /** Register a listener for unmaps; returns its removal function. */
  onUnmap(listener: UnmapListener): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /**
   * Register a listener called once when `destroy` starts, before the per-frame unmaps: a table
   * naming many of this VM's frames drops them all in one pass there (and may unsubscribe from
   * `onUnmap`) instead of one scan per frame. Returns its removal function.
   */
  onDestroy(listener: () => void): () => void {
    this.destroyListeners.push(listener);
    return () => {
      this.destroyListeners = this.destroyListeners.filter((l) => l !== listener);
    };
  }

  // ---------------------------------------------------------------- permissions and traps

  /** EPT_READ | EPT_WRITE bits of `gfn` (0 outside RAM). */
  permissions(gfn: Gfn | number): number {
    return gfn >= 0 && gfn < this.frames ? this.perms[gfn] & EPT_RW : 0;
  }

  /** Set the vCPU/device permissions of `gfn` (EPT_READ | EPT_WRITE); a trap stays registered. */
  setPermissions(gfn: Gfn, perms: number): void {
    this.checkFrame(gfn);
    if ((perms & ~EPT_RW) !== 0) throw new RangeArgError(`permissions 0x${perms.toString(16)}: only EPT_READ | EPT_WRITE`);
    if ((perms & EPT_WRITE) === 0 && this.guestWrites === 'untrapped') {
      throw new StateError(`${this.name}: the guest's stores are not trapped ('untrapped'): write permission cannot be taken away`);
    }
    this.perms[gfn] = (this.perms[gfn] & EPT_TRAP) | perms;
    this.deviceMfns[gfn] = (perms & EPT_READ) !== 0 ? this.mfns[gfn] : -1;
  }

  /**
   * Route every vCPU write to `gfn` to `handler` instead of landing it (replaces an earlier
   * handler). GVT-g write-protects guest page-table pages this way. Refused with `StateError` when
   * the guest's stores are not trapped (`EptOptions.guestWrites: 'untrapped'`).
   */
  writeProtect(gfn: Gfn, handler: WriteTrapHandler): void {
    this.checkAlive();
    if (this.guestWrites === 'untrapped') {
      throw new StateError(`${this.name}: the guest's stores are not trapped ('untrapped'): gfn 0x${gfn.toString(16)} cannot be write-protected`);
    }
    this.checkFrame(gfn);
    this.traps.set(gfn, handler);
    this.trapGfn = -1;
    this.trapHandler = null;
    this.perms[gfn] |= EPT_TRAP;
  }

  /** Stop trapping writes to `gfn`. Returns false when it was not protected. */
  unprotect(gfn: Gfn): boolean {
    if (!(gfn >= 0 && gfn < this.frames) || !this.traps.delete(gfn)) return false;
    this.trapGfn = -1;
    this.trapHandler = null;
    this.perms[gfn] &= ~EPT_TRAP;
    return true;
  }

  /** True when writes to `gfn` are trapped. */
  isWriteProtected(gfn: Gfn | number): boolean {
    return gfn >= 0 && gfn < this.frames && (this.perms[gfn] & EPT_TRAP) !== 0;
  }

  /** Number of write-protected frames. */
  get protectedFrames(): number {
    return this.traps.size;
  }

  // ---------------------------------------------------------------- vCPU writes

  /**
   * A vCPU store of `bytes` at `gpa`: split at page boundaries, each piece trapped, denied or
   * landed (see the module note). Bytes outside guest RAM are dropped and counted; never throws.
   */
  guestWrite(gpa: Gpa | number, bytes: Uint8Array): void {
    this.counters.guestWrites++;
    const len = bytes.length;
    if (len !== 0 && gpa >= 0 && gpa + len <= this.guest.size) {
      // Fast path: inside RAM and within one page (every aligned access of up to a page), so
      // the piece is `bytes` itself (the loop below does the same, with more arithmetic).
      const gfn = Math.floor(gpa / PAGE_SIZE);
      if (gpa + len <= (gfn + 1) * PAGE_SIZE) {
        this.writePiece(gfn, gpa, bytes);
        return;
      }
    }
    let done = 0;
    while (done < len) {
      const a = gpa + done;
      if (!(a >= 0 && a < this.guest.size)) {
        this.counters.outOfRam++;
        return;
      }
      const gfn = Math.floor(a / PAGE_SIZE);
      const n = Math.min(PAGE_SIZE - (a % PAGE_SIZE), len - done);
      const piece = done === 0 && n === len ? bytes : bytes.subarray(done, done + n);
      this.writePiece(gfn, a, piece);
      done += n;
    }
  }

  /** A vCPU 32-bit store at `gpa` (little-endian; unaligned stores are split like hardware would). */
  guestWrite32(gpa: Gpa | number, value: number): void {
    if ((gpa & 3) === 0 && gpa >= 0 && gpa + 4 <= this.guest.size) {
      this.counters.guestWrites++;
      const gfn = Math.floor(gpa / PAGE_SIZE);
      if (this.perms[gfn] === EPT_RW) {
        // `write32` without its floating-point `%` (see `land`).
        this.guest.page32(gfn)[(gpa & 0xfff) >>> 2] = value;
        this.counters.landed++;
        this.setDirty(gfn);
        return;
      }
      // Trapped or denied: one piece, as `guestWrite` would find.
      this.word32[0] = value;
      this.writePiece(gfn, gpa, this.word8);
      return;
    }
    this.word32[0] = value;
    this.guestWrite(gpa, this.word8);
  }

  /**
   * A 32-bit store the mediator makes into guest RAM on the emulated device's behalf (the virtual
   * CSB mirror in the status page, the ring head write-back, the context status page merge):
   * a write-protected page routes it to its handler exactly as a vCPU store, so a shadow page
   * table built from that page sees it (GVT-g's emulated writes go through
   * `intel_gvt_write_gpa`, which the page track sees as well). The vCPU's write permission is
   * not applied (the device writes as DMA would); the page is marked dirty. Returns false
   * outside guest RAM (nothing written).
   */
  hostWrite32(gpa: Gpa | number, value: number): boolean {
    if (!((gpa & 3) === 0 && gpa >= 0 && gpa + 4 <= this.guest.size)) return false;
    this.counters.hostWrites++;
    const gfn = Math.floor(gpa / PAGE_SIZE);
    if ((this.perms[gfn] & EPT_TRAP) !== 0) {
      this.word32[0] = value;
      this.writePiece(gfn, gpa, this.word8);
      return true;
    }
    this.guest.page32(gfn)[(gpa & 0xfff) >>> 2] = value;
    this.setDirty(gfn);
    return true;
  }

  private writePiece(gfn: number, a: number, piece: Uint8Array): void {
    const p = this.perms[gfn];
    if ((p & EPT_TRAP) !== 0) {
      this.counters.trapped++;
      let h = this.trapHandler;
      if (gfn !== this.trapGfn || h === null) {
        h = this.traps.get(gfn)!;
        this.trapGfn = gfn;
        this.trapHandler = h;
      }
      if (h(a as Gpa, piece) === true) {
        this.counters.trapLanded++;
        this.land(gfn, a, piece);
      }
      return;
    }
    if ((p & EPT_WRITE) === 0) {
      this.counters.denied++;
      return;
    }
    this.land(gfn, a, piece);
  }

  private land(gfn: number, a: number, piece: Uint8Array): void {
    const len = piece.length;
    if ((a & 3) === 0 && (len === 4 || len === 8)) {
      // Aligned dword and qword stores (a PTE write) go straight into the page view, as `write32`
      // would store them: `write` allocates a subarray per call, and `write32` takes the page
      // offset with a floating-point `%` when addresses arrive as doubles (they may exceed 2^31).
      // A piece never crosses a page, so both dwords lie in page `gfn`.
      const page = this.guest.page32(gfn);
      const w = (a & 0xfff) >>> 2;
      page[w] = piece[0] | (piece[1] << 8) | (piece[2] << 16) | (piece[3] << 24);
      if (len === 8) page[w + 1] = piece[4] | (piece[5] << 8) | (piece[6] << 16) | (piece[7] << 24);
    } else {
      this.guest.write(a, piece);
    }
    this.counters.landed++;
    this.setDirty(gfn);
  }

  // ---------------------------------------------------------------- dirty log

  private setDirty(gfn: number): void {
    if (!this.dirty.get(gfn)) {
      this.dirty.set(gfn, true);
      this.dirtyCount++;
    }
  }

  /** Record a device (or host-side) write to `gfn` in the dirty log. Ignored outside RAM. */
  markDirty(gfn: Gfn | number): void {
    if (!(gfn >= 0 && gfn < this.frames)) return;
    this.counters.deviceDirty++;
    this.setDirty(gfn);
  }

  /** True when `gfn` is in the dirty log. */
  isDirty(gfn: Gfn | number): boolean {
    return gfn >= 0 && gfn < this.frames && this.dirty.get(gfn);
  }

  /** Dirty guest frames, ascending. */
  dirtyPages(): Gfn[] {
    const out: Gfn[] = [];
    const buf = this.dirty.buffer;
    for (let byte = 0; byte < buf.length; byte++) {
      if (buf[byte] === 0) continue;
      const first = byte * 8;
      const last = Math.min(first + 8, this.frames);
      for (let g = first; g < last; g++) if (this.dirty.get(g)) out.push(g as Gfn);
    }
    return out;
  }

  /** Empty the dirty log (the start of a migration round). */
  clearDirty(): void {
    this.dirty.buffer.fill(0);
    this.dirtyCount = 0;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Unmap every frame (returning each host frame) and drop every trap. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    for (const l of [...this.destroyListeners]) l();
    this.destroyListeners = [];
    for (const g of [...this.byMfn.values()]) this.unmap(g as Gfn);
    this.traps.clear();
    this.trapGfn = -1;
    this.trapHandler = null;
    this.listeners = [];
    this.destroyed = true;
    log('%s: destroyed', this.name);
  }

  private checkFrame(gfn: number): void {
    if (!(gfn >= 0 && gfn < this.frames && Number.isInteger(gfn))) {
      throw new RangeArgError(`${this.name}: gfn 0x${gfn.toString(16)} outside guest RAM of ${this.frames} frames`);
    }
  }

  private checkAlive(): void {
    if (this.destroyed) throw new StateError(`${this.name}: EPT destroyed`);
  }
}
