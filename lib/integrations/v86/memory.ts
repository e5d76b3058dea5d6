/**
 * A guest's RAM that lives in an emulator's own byte array (v86's `cpu.mem8`, a view over its
 * WebAssembly memory): a `PagedGuestMemory`, so the mediator's EPT can alias the guest's pages
 * and the device reads and writes them in place, as the GPU reads guest RAM by DMA.
 */
import { ConfigError, RangeArgError, StateError } from '../../errors.js';
import { PAGE_SIZE } from '../../types.js';
import type { PagedGuestMemory } from '../../ept/ept.js';

/**
 * Guest RAM over a caller's `Uint8Array` (little-endian, as x86 and the GPU). Page views are
 * created on demand and cached; they alias `bytes`, so they stay valid only while `bytes`' buffer
 * does: a WebAssembly memory that grows detaches them (`check()` reports it).
 */
export class ArrayGuestMemory implements PagedGuestMemory {
  readonly size: number;
  private readonly u8: Uint8Array;
  private readonly dv: DataView;
  private readonly views8: (Uint8Array | undefined)[];
  private readonly views32: (Uint32Array | undefined)[];

  constructor(bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array)) throw new ConfigError('memory', 'ArrayGuestMemory needs a Uint8Array');
    if (bytes.length === 0 || bytes.length % PAGE_SIZE !== 0) throw new ConfigError('memory', `guest RAM size ${bytes.length} is not a positive multiple of 4096`);
    if (bytes.byteOffset % 4 !== 0) throw new ConfigError('memory', `guest RAM view must start 4-byte aligned (byteOffset ${bytes.byteOffset})`);
    this.u8 = bytes;
    this.size = bytes.length;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    this.views8 = new Array(bytes.length / PAGE_SIZE);
    this.views32 = new Array(bytes.length / PAGE_SIZE);
  }

  /** Throws `StateError` when the underlying buffer was detached (e.g. the WebAssembly memory grew). */
  check(): void {
    if (this.u8.buffer.byteLength === 0) throw new StateError('guest RAM buffer was detached (the emulator reallocated its memory)');
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
      v = new Uint32Array(this.u8.buffer, this.u8.byteOffset + frame * PAGE_SIZE, PAGE_SIZE / 4);
      this.views32[frame] = v;
    }
    return v;
  }
}
