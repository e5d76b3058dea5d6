/**
 * A guest's RAM that lives in an emulator's own memory (v86's guest RAM is a range of its
 * WebAssembly memory): a `PagedGuestMemory`, so the mediator's EPT can alias the guest's pages and
 * the device reads and writes them in place, as the GPU reads guest RAM by DMA.
 *
 * A WebAssembly memory that grows replaces its `ArrayBuffer` and detaches every view of the old
 * one (v86's Rust allocator grows it at run time). `ArrayGuestMemory` therefore takes a function
 * that returns the current buffer; `refresh()` notices a new buffer, rebuilds its views and tells
 * the caller to re-point the EPT's adopted frames (`Ept.refreshGuestViews`).
 */
import { ConfigError, RangeArgError } from '../../errors.js';
import { PAGE_SIZE } from '../../types.js';
import type { PagedGuestMemory } from '../../ept/ept.js';

/** Guest RAM over `size` bytes at `byteOffset` of a (replaceable) buffer, little-endian. */
export class ArrayGuestMemory implements PagedGuestMemory {
  readonly size: number;
  private readonly source: () => ArrayBufferLike;
  private readonly byteOffset: number;
  private buffer: ArrayBufferLike;
  private u8: Uint8Array;
  private dv: DataView;
  private views8: (Uint8Array | undefined)[];
  private views32: (Uint32Array | undefined)[];
  /** Times the buffer was replaced. */
  rebased = 0;

  /**
   * @param source the bytes (a fixed `Uint8Array`), or a function returning the buffer that holds
   *   them now (e.g. `() => wasmMemory.buffer`), with `byteOffset` and `size` locating the RAM.
   */
  constructor(source: Uint8Array | (() => ArrayBufferLike), byteOffset = 0, size = -1) {
    if (source instanceof Uint8Array) {
      const bytes = source;
      this.source = () => bytes.buffer;
      this.byteOffset = bytes.byteOffset;
      this.size = bytes.length;
    } else if (typeof source === 'function') {
      this.source = source;
      this.byteOffset = byteOffset;
      this.size = size;
    } else {
      throw new ConfigError('memory', 'ArrayGuestMemory needs a Uint8Array or a function returning the current buffer');
    }
    if (!Number.isSafeInteger(this.size) || this.size <= 0 || this.size % PAGE_SIZE !== 0) throw new ConfigError('memory', `guest RAM size ${this.size} is not a positive multiple of 4096`);
    if (!Number.isSafeInteger(this.byteOffset) || this.byteOffset % 4 !== 0) throw new ConfigError('memory', `guest RAM must start 4-byte aligned (byteOffset ${this.byteOffset})`);
    this.buffer = this.source();
    if (this.byteOffset + this.size > this.buffer.byteLength) throw new ConfigError('memory', `guest RAM [0x${this.byteOffset.toString(16)}, +0x${this.size.toString(16)}) is outside its buffer of 0x${this.buffer.byteLength.toString(16)} bytes`);
    this.u8 = new Uint8Array(this.buffer, this.byteOffset, this.size);
    this.dv = new DataView(this.buffer, this.byteOffset, this.size);
    this.views8 = new Array(this.size / PAGE_SIZE);
    this.views32 = new Array(this.size / PAGE_SIZE);
  }

  /**
   * Follow a replaced buffer: returns true when the views were rebuilt (then every page view
   * handed out before is stale: re-point them, e.g. `vgpu.ept.refreshGuestViews()`).
   */
  refresh(): boolean {
    const b = this.source();
    if (b === this.buffer) return false;
    this.buffer = b;
    this.u8 = new Uint8Array(b, this.byteOffset, this.size);
    this.dv = new DataView(b, this.byteOffset, this.size);
    this.views8 = new Array(this.size / PAGE_SIZE);
    this.views32 = new Array(this.size / PAGE_SIZE);
    this.rebased++;
    return true;
  }

  private bounds(addr: number, n: number): void {
    if (!(addr >= 0 && addr + n <= this.size)) throw new RangeArgError(`guest RAM access 0x${addr.toString(16)}+${n} outside [0, 0x${this.size.toString(16)})`);
  }

  read8(addr: number): number {
    this.bounds(addr, 1);
    return this.u8[addr];
  }
  read16(addr: number): number {
    this.bounds(addr, 2);
    return this.dv.getUint16(addr, true);
  }
  read32(addr: number): number {
    this.bounds(addr, 4);
    return this.dv.getUint32(addr, true);
  }
  write8(addr: number, value: number): void {
    this.bounds(addr, 1);
    this.u8[addr] = value;
  }
  write16(addr: number, value: number): void {
    this.bounds(addr, 2);
    this.dv.setUint16(addr, value & 0xffff, true);
  }
  write32(addr: number, value: number): void {
    this.bounds(addr, 4);
    this.dv.setUint32(addr, value >>> 0, true);
  }
  read(addr: number, length: number): Uint8Array {
    this.bounds(addr, length);
    return this.u8.slice(addr, addr + length);
  }
  write(addr: number, bytes: Uint8Array): void {
    this.bounds(addr, bytes.length);
    this.u8.set(bytes, addr);
  }
  page8(frame: number): Uint8Array {
    let v = this.views8[frame];
    if (v === undefined) {
      this.bounds(frame * PAGE_SIZE, PAGE_SIZE);
      v = this.u8.subarray(frame * PAGE_SIZE, (frame + 1) * PAGE_SIZE);
      this.views8[frame] = v;
    }
    return v;
  }
  page32(frame: number): Uint32Array {
    let v = this.views32[frame];
    if (v === undefined) {
      this.bounds(frame * PAGE_SIZE, PAGE_SIZE);
      v = new Uint32Array(this.buffer, this.byteOffset + frame * PAGE_SIZE, PAGE_SIZE / 4);
      this.views32[frame] = v;
    }
    return v;
  }
}
