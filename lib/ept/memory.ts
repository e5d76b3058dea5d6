/**
 * Sparse memories: the device's host physical memory and the default guest RAM.
 *
 * Both store 4 KiB pages on first write; a read of a page never written returns zeros. Accesses
 * use little-endian byte order (the GPU's and x86's), through per-page Uint8Array/Uint32Array
 * views so the aligned 32-bit path is one array index.
 */
import createDebug from 'debug';
import { NoResourceError, RangeArgError } from '../errors.js';
import { PAGE_SIZE } from '../types.js';
import { checkOptions, optionKeys } from '../validate.js';

const log = createDebug('gvtkit:mem');

/** Byte-addressed memory with 8/16/32-bit and range access. Addresses are plain numbers. */
export interface MemoryAccess {
  /** Size in bytes. */
  readonly size: number;
  read8(addr: number): number;
  read16(addr: number): number;
  read32(addr: number): number;
  write8(addr: number, value: number): void;
  write16(addr: number, value: number): void;
  write32(addr: number, value: number): void;
  /** A copy of `length` bytes at `addr`. */
  read(addr: number, length: number): Uint8Array;
  /** Copy `bytes` to `addr`. */
  write(addr: number, bytes: Uint8Array): void;
}

/**
 * A guest's RAM as the mediator sees it: what an emulator implements (or uses
 * `SparseGuestMemory`). These are host-side accesses: they are never trapped. A guest vCPU's own
 * write to RAM that may hit a write-protected page goes through `vgpu.guestWrite`.
 */
export type GuestMemory = MemoryAccess;

/** Sparse page-granular storage shared by host and guest memory. */
export class SparsePages implements MemoryAccess {
  readonly size: number;
  readonly frames: number;
  /** Backing pages by frame number (undefined until first write). */
  protected pages8: (Uint8Array | undefined)[];
  protected pages32: (Uint32Array | undefined)[];
  /** Number of pages with backing storage. */
  backedPages = 0;

  constructor(sizeInBytes: number, what: string) {
    if (!Number.isSafeInteger(sizeInBytes) || sizeInBytes <= 0 || sizeInBytes % PAGE_SIZE !== 0) {
      throw new RangeArgError(`${what} size ${sizeInBytes} must be a positive multiple of 4096`);
    }
    this.size = sizeInBytes;
    this.frames = sizeInBytes / PAGE_SIZE;
    // Dense arrays (filled) keep element access monomorphic and fast.
    this.pages8 = new Array(this.frames).fill(undefined);
    this.pages32 = new Array(this.frames).fill(undefined);
  }

  /** True when `[addr, addr + length)` lies inside this memory. */
  contains(addr: number, length = 1): boolean {
    return addr >= 0 && length >= 0 && addr + length <= this.size;
  }

  protected check(addr: number, length: number): void {
    if (!(addr >= 0 && addr + length <= this.size)) {
      throw new RangeArgError(`access of ${length} bytes at 0x${addr.toString(16)} outside memory of 0x${this.size.toString(16)} bytes`);
    }
  }

  /** The page for `frame`, created on demand. */
  page8(frame: number): Uint8Array {
    let p = this.pages8[frame];
    if (p === undefined) {
      p = this.materialize(frame);
    }
    return p;
  }

  /** The 32-bit view of the page for `frame`, created on demand. */
  page32(frame: number): Uint32Array {
    let p = this.pages32[frame];
    if (p === undefined) {
      this.materialize(frame);
      p = this.pages32[frame]!;
    }
    return p;
  }

  /** True when the frame has backing storage (was ever written). */
  isBacked(frame: number): boolean {
    return this.pages8[frame] !== undefined;
  }

  /** Drop a frame's backing (its contents read as zeros again). */
  discard(frame: number): void {
    if (this.pages8[frame] !== undefined) {
      this.pages8[frame] = undefined;
      this.pages32[frame] = undefined;
      this.backedPages--;
    }
  }

  /**
   * Page buffers of discarded frames kept for reuse (zeroed when reused): shadow pages come and
   * go with every workload, and recycling them spares the garbage collector.
   */
  private readonly recycled8: Uint8Array[] = [];
  private readonly recycled32: Uint32Array[] = [];
  /** At most this many buffers are kept for reuse. */
  protected recycleLimit = 0;

  private materialize(frame: number): Uint8Array {
    let p8: Uint8Array;
    let p32: Uint32Array;
    if (this.recycled8.length > 0) {
      p8 = this.recycled8.pop()!;
      p32 = this.recycled32.pop()!;
      p32.fill(0);
    } else {
      const buf = new ArrayBuffer(PAGE_SIZE);
      p8 = new Uint8Array(buf);
      p32 = new Uint32Array(buf);
    }
    this.pages8[frame] = p8;
    this.pages32[frame] = p32;
    this.backedPages++;
    return p8;
  }

  /** Drop a frame's backing and keep its buffer for reuse (only for buffers this memory made). */
  protected discardRecycling(frame: number): void {
    const p8 = this.pages8[frame];
    if (p8 !== undefined && this.recycled8.length < this.recycleLimit) {
      this.recycled8.push(p8);
      this.recycled32.push(this.pages32[frame]!);
    }
    this.discard(frame);
  }

  read8(addr: number): number {
    this.check(addr, 1);
    const p = this.pages8[Math.floor(addr / PAGE_SIZE)];
    return p === undefined ? 0 : p[addr % PAGE_SIZE];
  }

  write8(addr: number, value: number): void {
    this.check(addr, 1);
    this.page8(Math.floor(addr / PAGE_SIZE))[addr % PAGE_SIZE] = value;
  }

  read16(addr: number): number {
    return this.read8(addr) | (this.read8(addr + 1) << 8);
  }

  write16(addr: number, value: number): void {
    this.write8(addr, value & 0xff);
    this.write8(addr + 1, (value >>> 8) & 0xff);
  }

  read32(addr: number): number {
    if ((addr & 3) === 0) {
      this.check(addr, 4);
      const p = this.pages32[Math.floor(addr / PAGE_SIZE)];
      return p === undefined ? 0 : p[(addr % PAGE_SIZE) >>> 2];
    }
    return (this.read16(addr) | (this.read16(addr + 2) << 16)) >>> 0;
  }

  write32(addr: number, value: number): void {
    if ((addr & 3) === 0) {
      this.check(addr, 4);
      this.page32(Math.floor(addr / PAGE_SIZE))[(addr % PAGE_SIZE) >>> 2] = value;
      return;
    }
    this.write16(addr, value & 0xffff);
    this.write16(addr + 2, (value >>> 16) & 0xffff);
  }

  read(addr: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.readInto(addr, out);
    return out;
  }

  /** Copy `dst.length` bytes at `addr` into `dst` (no allocation). */
  readInto(addr: number, dst: Uint8Array): void {
    this.check(addr, dst.length);
    let done = 0;
    while (done < dst.length) {
      const a = addr + done;
      const frame = Math.floor(a / PAGE_SIZE);
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, dst.length - done);
      const p = this.pages8[frame];
      if (p === undefined) dst.fill(0, done, done + n);
      else dst.set(p.subarray(off, off + n), done);
      done += n;
    }
  }

  write(addr: number, bytes: Uint8Array): void {
    this.check(addr, bytes.length);
    let done = 0;
    while (done < bytes.length) {
      const a = addr + done;
      const frame = Math.floor(a / PAGE_SIZE);
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, bytes.length - done);
      this.page8(frame).set(bytes.subarray(done, done + n), off);
      done += n;
    }
  }

  /** Fill `[addr, addr + length)` with `byte`. */
  fill(addr: number, length: number, byte: number): void {
    this.check(addr, length);
    let done = 0;
    while (done < length) {
      const a = addr + done;
      const frame = Math.floor(a / PAGE_SIZE);
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, length - done);
      if (byte === 0 && this.pages8[frame] === undefined) { done += n; continue; }
      this.page8(frame).fill(byte, off, off + n);
      done += n;
    }
  }
}

/** The default `GuestMemory`: sparse guest RAM of a fixed size. */
export class SparseGuestMemory extends SparsePages implements GuestMemory {
  constructor(sizeInBytes: number) {
    super(sizeInBytes, 'guest memory');
  }
}

const HOST_MEMORY_OPTIONS = optionKeys<HostMemoryOptions>({ size: true, reservedFrames: true, recyclePages: true });

/** Options of `HostMemory`. */
export interface HostMemoryOptions {
  /** Size in bytes (default 4 GiB). */
  size?: number;
  /** Frames below this are never handed out by `allocFrame` (default 256 = the first MiB). */
  reservedFrames?: number;
  /** Page buffers of freed frames kept for reuse (default 4096 = 16 MiB). */
  recyclePages?: number;
}

/**
 * The device's host physical memory, with a frame allocator that the mediator uses for shadow
 * pages, scratch pages and guest RAM frames. `allocatedFrames` is what leak checks compare.
 */
export class HostMemory extends SparsePages {
  private freeList: number[] = [];
  private nextFresh: number;
  private allocated: Uint8Array;
  /** Frames currently handed out. */
  allocatedFrames = 0;
  /** Most frames handed out at once since creation. */
  peakAllocatedFrames = 0;
  /**
   * Fault injection: the next `failAllocations` calls of `allocFrame` fail as if memory were
   * exhausted (tests of recovery paths).
   */
  failAllocations = 0;

  constructor(opts: HostMemoryOptions = {}) {
    opts = checkOptions(opts, 'HostMemoryOptions', HOST_MEMORY_OPTIONS);
    super(opts.size ?? 4 * 1024 * 1024 * 1024, 'host memory');
    this.nextFresh = opts.reservedFrames ?? 256;
    if (this.nextFresh >= this.frames) throw new RangeArgError('reservedFrames beyond host memory');
    this.allocated = new Uint8Array(this.frames);
    this.adopted = new Uint8Array(this.frames);
    this.ownerOf = new Uint16Array(this.frames);
    this.recycleLimit = opts.recyclePages ?? 4096;
  }

  /** 1 where the frame aliases an adopted (guest) page. */
  private readonly adopted: Uint8Array;
  /** Per frame: its owner + 1 (0: the host). */
  private readonly ownerOf: Uint16Array;
  /** Owners with a reserve (vGPU ids): frames held and frames reserved. */
  private readonly owners = new Map<number, { used: number; reserve: number; refusedBeyond: number }>();
  /** Sum over owners of their unused reserve (`reserve - used` where positive). */
  private unusedReserves = 0;

  /**
   * Keep `frames` host frames for `owner` (a vGPU id, >= 0): no other owner, and not the host,
   * may allocate into what `owner` has not used of them, so its ordinary allocations are met
   * whatever the others hold (the admission rule of the mediator's shadow space, `HostGmPool`,
   * applied to host frames). Frames `owner` already holds count towards it. Setting 0 keeps the
   * accounting without a reserve.
   */
  setReserve(owner: number, frames: number): void {
    if (!(Number.isInteger(owner) && owner >= 0 && owner < 0xffff)) throw new RangeArgError(`owner ${owner}: an integer 0..65534`);
    if (!(Number.isSafeInteger(frames) && frames >= 0)) throw new RangeArgError(`reserve ${frames}: a non-negative integer`);
    let o = this.owners.get(owner);
    if (!o) this.owners.set(owner, (o = { used: 0, reserve: 0, refusedBeyond: 0 }));
    this.unusedReserves -= Math.max(0, o.reserve - o.used);
    o.reserve = frames;
    this.unusedReserves += Math.max(0, o.reserve - o.used);
  }

  /** Forget `owner`'s reserve (its frames still held, if any, become the host's). */
  removeOwner(owner: number): void {
    const o = this.owners.get(owner);
    if (!o) return;
    this.unusedReserves -= Math.max(0, o.reserve - o.used);
    this.owners.delete(owner);
    if (o.used > 0) {
      for (let f = 0; f < this.frames; f++) if (this.ownerOf[f] === owner + 1) this.ownerOf[f] = 0;
    }
  }

  /** Frames held by `owner` (allocated with its id since its reserve was set). */
  ownedFrames(owner: number): number {
    return this.owners.get(owner)?.used ?? 0;
  }

  /**
   * Allocations refused to `owner` while it held its whole reserve or more (a count: compare
   * before and after an operation). Such a refusal is the owner's share running out, not a
   * shortage the others caused.
   */
  refusedBeyondReserve(owner: number): number {
    return this.owners.get(owner)?.refusedBeyond ?? 0;
  }

  /** Frames free for anyone: neither allocated nor kept in an owner's unused reserve. */
  get unreservedFreeFrames(): number {
    return this.freeList.length + (this.frames - this.nextFresh) - this.unusedReserves;
  }

  /** Throws `NoResourceError` unless `n` frames may go to `owner` under the others' reserves. */
  private admit(owner: number, n: number): void {
    const free = this.freeList.length + (this.frames - this.nextFresh);
    const o = owner >= 0 ? this.owners.get(owner) : undefined;
    const mine = o ? Math.max(0, o.reserve - o.used) : 0;
    const kept = this.unusedReserves - mine;
    if (free - kept >= n) return;
    if (o && o.used >= o.reserve) o.refusedBeyond++;
    if (free >= n) {
      throw new NoResourceError('host-memory', n - (free - kept), `host memory: the last ${free} free frames are kept in other vGPUs' reserves (${kept})`);
    }
    throw new NoResourceError('host-memory', n - free, `host memory exhausted: all ${this.frames} frames allocated`);
  }

  private charge(f: number, owner: number): void {
    const o = owner >= 0 ? this.owners.get(owner) : undefined;
    if (!o) return;
    this.ownerOf[f] = owner + 1;
    if (o.used < o.reserve) this.unusedReserves--;
    o.used++;
  }

  /**
   * Allocate one zeroed host frame for `owner` (a vGPU id; -1, the default: the host). Throws
   * `NoResourceError` when none is left for it: none free, or the free ones kept in other owners'
   * reserves (`setReserve`).
   */
  allocFrame(owner = -1): number {
    if (this.failAllocations > 0) {
      this.failAllocations--;
      log('injected host frame allocation failure');
      throw new NoResourceError('host-memory', 1, 'host frame allocation failed (injected)');
    }
    if (this.unusedReserves > 0 || owner >= 0) this.admit(owner, 1);
    let f: number;
    if (this.freeList.length) f = this.freeList.pop()!;
    else if (this.nextFresh < this.frames) f = this.nextFresh++;
    else throw new NoResourceError('host-memory', 1, `host memory exhausted: all ${this.frames} frames allocated`);
    this.charge(f, owner);
    // Scrubbed before reuse: `freeFrame` dropped the contents, but a write that reached the frame
    // while it was free (a device still walking a table freed under it) must not be handed to
    // the next owner.
    if (this.pages8[f] !== undefined) this.discardRecycling(f);
    this.allocated[f] = 1;
    if (++this.allocatedFrames > this.peakAllocatedFrames) this.peakAllocatedFrames = this.allocatedFrames;
    return f;
  }

  /** Allocate `n` physically contiguous zeroed frames (from the never-used region). */
  allocContiguous(n: number): number {
    if (this.failAllocations > 0) {
      this.failAllocations--;
      throw new NoResourceError('host-memory', n, 'host frame allocation failed (injected)');
    }
    if (this.nextFresh + n > this.frames) {
      throw new NoResourceError('host-memory', this.nextFresh + n - this.frames, `no ${n} contiguous host frames left`);
    }
    if (this.unusedReserves > 0) this.admit(-1, n);
    const f = this.nextFresh;
    this.nextFresh += n;
    for (let i = 0; i < n; i++) this.allocated[f + i] = 1;
    this.allocatedFrames += n;
    if (this.allocatedFrames > this.peakAllocatedFrames) this.peakAllocatedFrames = this.allocatedFrames;
    return f;
  }

  /**
   * Allocate a frame whose storage *is* `page8` (aliased, not copied): writes through the host
   * address reach the owner of `page8` and vice versa. This is how guest RAM becomes host frames
   * without a second copy (see `Ept`). `page32` must view the same bytes; it is derived from
   * `page8` when omitted. `freeFrame` drops the alias and leaves the adopted page untouched.
   * Throws `NoResourceError` when no frame is left, `RangeArgError` for a page of the wrong size.
   */
  adoptFrame(page8: Uint8Array, page32?: Uint32Array, owner = -1): number {
    if (page8.length !== PAGE_SIZE || (page8.byteOffset & 3) !== 0) {
      throw new RangeArgError(`adopted page must be ${PAGE_SIZE} bytes at a 4-byte aligned offset`);
    }
    const p32 = page32 ?? new Uint32Array(page8.buffer, page8.byteOffset, PAGE_SIZE >>> 2);
    if (p32.buffer !== page8.buffer || p32.byteOffset !== page8.byteOffset || p32.length !== PAGE_SIZE >>> 2) {
      throw new RangeArgError('adopted page32 must view the same bytes as page8');
    }
    const f = this.allocFrame(owner);
    // A free frame may still hold stray bytes written through an unallocated address.
    this.discard(f);
    this.adopted[f] = 1;
    this.pages8[f] = page8;
    this.pages32[f] = p32;
    this.backedPages++;
    return f;
  }

  /**
   * Point an adopted frame at new views of the same guest page: an emulator whose RAM lives in a
   * WebAssembly memory that grew gets a new `ArrayBuffer`, and the old views read nothing
   * (`Ept.refreshGuestViews` calls this for every mapped frame). Throws `RangeArgError` for a
   * frame that is not adopted or a view of the wrong shape.
   */
  rebaseAdopted(frame: number, page8: Uint8Array, page32: Uint32Array): void {
    if (!(frame >= 0 && frame < this.frames) || this.adopted[frame] !== 1) {
      throw new RangeArgError(`rebase of frame 0x${frame.toString(16)} that is not adopted`);
    }
    if (page8.length !== PAGE_SIZE || page32.buffer !== page8.buffer || page32.byteOffset !== page8.byteOffset || page32.length !== PAGE_SIZE >>> 2) {
      throw new RangeArgError('rebased views must be one 4 KiB page, page32 over the bytes of page8');
    }
    this.pages8[frame] = page8;
    this.pages32[frame] = page32;
  }

  /** Return a frame; its contents are discarded. Double frees throw (an internal bug). */
  freeFrame(frame: number): void {
    if (!(frame >= 0 && frame < this.frames) || this.allocated[frame] !== 1) {
      throw new RangeArgError(`free of frame 0x${frame.toString(16)} that is not allocated`);
    }
    this.allocated[frame] = 0;
    this.allocatedFrames--;
    const by = this.ownerOf[frame];
    if (by !== 0) {
      this.ownerOf[frame] = 0;
      const o = this.owners.get(by - 1);
      if (o) {
        o.used--;
        if (o.used < o.reserve) this.unusedReserves++;
      }
    }
    // An adopted page belongs to a guest: only the alias goes. Our own buffers are recycled.
    if (this.adopted[frame] === 1) {
      this.adopted[frame] = 0;
      this.discard(frame);
    } else {
      this.discardRecycling(frame);
    }
    this.freeList.push(frame);
  }

  /** True when `frame` is currently allocated. */
  isAllocated(frame: number): boolean {
    return this.allocated[frame] === 1;
  }
}
