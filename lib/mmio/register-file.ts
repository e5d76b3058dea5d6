/**
 * `RegisterFile`: the storage and O(1) dispatch of a 2 MiB register space.
 *
 * Storage is a Uint32Array with one slot per dword; the compiled table gives, per dword, the row,
 * flags, read-only mask and reset value. A read or write finds its handler with two array loads
 * and allocates nothing. Generic semantics live here once (GVT-g `intel_vgpu_mmio_reg_rw` keeps
 * them in one place too): read-only bits, the mode mask, write-1-to-clear, unknown offsets and
 * access-size rules. Handlers only add side effects.
 *
 * Access rules:
 * - 4-byte accesses at 4-byte aligned offsets and 8-byte accesses at 8-byte aligned offsets are
 *   normal; an 8-byte access is two dword accesses, low dword first (each dword keeps its own
 *   register semantics, so a qword access may span two 4-byte registers, as i915's `readq` of
 *   a lo/hi pair does).
 * - 1- and 2-byte accesses, and misaligned accesses, are performed with byte enables only when
 *   every dword they touch belongs to a register flagged `UNALIGNED`; otherwise they are refused:
 *   counted in `stats.refused`, reads return 0 and writes are dropped.
 * - A dword no register covers is untracked: counted, reads 0, writes dropped, one `debug` line.
 * - Bad sizes or offsets outside the space are counted as refused: never an exception, because
 *   the caller is a guest access.
 */
import createDebug from 'debug';
import { ConfigError, RangeArgError } from '../errors.js';
import { TWO_POW_32 } from '../types.js';
import { type CompiledHandlers, type HandlerRead, type HandlerWrite, K, plainHandlers } from './handlers.js';
import { type CompiledRegisters, MMIO_SPACE_BYTES, MMIO_SPACE_DWORDS, RegFlag } from './table.js';

const log = createDebug('gvtkit:mmio');

// Module-local constants: the hot path reads them as constants (an imported binding is a live
// binding the optimizer re-reads and checks on every use).
const K_UNTRACKED = K.UNTRACKED;
const K_READER = K.READER;
const K_WRITER = K.WRITER;
const MODE_MASK = RegFlag.MODE_MASK;
const W1C = RegFlag.W1C;
const UNALIGNED = RegFlag.UNALIGNED;

/** Counters of one register file. */
export interface MmioStats {
  /** Reads of dwords no register covers. */
  untrackedReads: number;
  /** Writes to dwords no register covers. */
  untrackedWrites: number;
  /** Accesses refused for size, alignment or range. */
  refused: number;
}

/**
 * A register file: storage of one register space, dispatching to the handlers of one compiled
 * handler table (`compileHandlers`) with one context object (the vGPU, the device). Handlers are
 * the table's, never bound per file: storage restored from a snapshot needs nothing else.
 */
export class RegisterFile<C = unknown> {
  // Constructor-assigned fields are `declare`d: emitted class fields are first defined as
  // undefined and then reassigned, which costs V8 its constant-field tracking on the hot path.
  /** Register storage, one u32 per dword. */
  declare readonly regs: Uint32Array;
  /** The compiled register table (shared between register files of the same kind). */
  declare readonly table: CompiledRegisters;
  /**
   * The compiled handler table (shared between register files of the same kind). Typed for
   * listing only: its handlers take this file's context, which only the file passes them.
   */
  declare readonly handlers: CompiledHandlers<never>;
  /**
   * Counters of the cold paths only: untracked reads, untracked writes, refused accesses. The hot
   * path counts nothing (a counter per access cost a third of dispatch throughput, measured);
   * callers that need totals count at their own level.
   */
  private declare readonly counters: Float64Array;
  /** High dword of the last 8-byte read (the full value may not fit a number exactly). */
  declare lastReadHi: number;
  /** Low dword of the last 8-byte read. */
  declare lastReadLo: number;
  /** A label for debug lines (e.g. `host` or `vgpu1`). */
  declare readonly label: string;

  private declare readonly rowOf: Int32Array;
  private declare readonly flags: Uint8Array;
  private declare readonly roMask: Uint32Array;
  // The context's type is checked once, by the constructor against the table's handlers; the
  // file's members do not carry it, so a `RegisterFile<Vgpu>` is a `RegisterFile`.
  private declare readonly readers: readonly (HandlerRead<unknown> | undefined)[];
  private declare readonly writers: readonly (HandlerWrite<unknown> | undefined)[];
  /** The first argument of every handler. */
  private declare readonly context: unknown;
  /**
   * K_* bits per dword, so the common case of an access (a plain register without handler) costs
   * one byte load before the storage access, with no row lookup. The handler table's, shared by
   * the files of its kind.
   */
  private declare readonly kind: Uint8Array;

  /**
   * A register file over `table`: a compiled handler table, whose handlers get `context`, or a
   * bare register table (plain storage and generic semantics, no handler).
   */
  constructor(table: CompiledHandlers<C> | CompiledRegisters, label = 'mmio', context?: C) {
    const handlers = ('registers' in table ? table : plainHandlers(table)) as CompiledHandlers<unknown>;
    if (handlers.handled.length > 0 && context === undefined) {
      throw new ConfigError('context', `the ${handlers.name} register file's handlers need a context object`);
    }
    const regTable = handlers.registers;
    this.table = regTable;
    this.handlers = handlers;
    this.label = label;
    this.context = context;
    this.counters = new Float64Array(3);
    this.lastReadHi = 0;
    this.lastReadLo = 0;
    this.regs = new Uint32Array(MMIO_SPACE_DWORDS);
    // The reset values (what `reset()` copies) into zeroed storage: only the non-zero ones are
    // stored, so the pages of the 2 MiB that hold none stay untouched until written.
    if (regTable.reset.length <= MMIO_SPACE_DWORDS) {
      const nz = handlers.resetNonZero, reset = regTable.reset, regs = this.regs;
      for (let k = 0; k < nz.length; k++) regs[nz[k]] = reset[nz[k]];
    } else {
      this.reset();
    }
    this.rowOf = regTable.rowOf;
    this.flags = regTable.flags;
    this.roMask = regTable.roMask;
    this.readers = handlers.readers;
    this.writers = handlers.writers;
    this.kind = handlers.kind;
  }

  /** A copy of the counters. */
  get stats(): MmioStats {
    const c = this.counters;
    return { untrackedReads: c[0], untrackedWrites: c[1], refused: c[2] };
  }

  /** Restore every register to its reset value. */
  reset(): void {
    this.regs.set(this.table.reset);
  }

  /** Row index of the register covering byte `offset`, or -1. */
  rowAt(offset: number): number {
    if (!(offset >= 0 && offset < MMIO_SPACE_BYTES)) return -1;
    return this.rowOf[offset >>> 2];
  }

  /** Offset of the register named `name` (instances as `NAME[i]`). Throws when unknown. */
  offsetOf(name: string): number {
    const row = this.table.rows.find((r) => r.name === name);
    if (!row) throw new RangeArgError(`no register named ${name}`);
    return row.offset;
  }

  /** True when a register covers byte `offset`. */
  isTracked(offset: number): boolean {
    return this.rowAt(offset) >= 0;
  }

  /** Flags of the register at `offset` (0 when untracked). */
  flagsAt(offset: number): number {
    if (!(offset >= 0 && offset < MMIO_SPACE_BYTES)) return 0;
    return this.flags[offset >>> 2];
  }

  /** Raw storage of the dword at `offset` (no handler, no semantics). */
  peek(offset: number): number {
    return this.regs[offset >>> 2];
  }

  /** Set raw storage of the dword at `offset` (no handler, no semantics). */
  poke(offset: number, value: number): void {
    this.regs[offset >>> 2] = value;
  }

  /**
   * Read `size` (1, 2, 4 or 8) bytes at `offset`. An 8-byte read returns lo + hi·2^32 (exact
   * below 2^53) and leaves both halves in `lastReadLo`/`lastReadHi`.
   */
  read(offset: number, size: number): number {
    if (size === 4 && (offset & 3) === 0 && offset >= 0 && offset < MMIO_SPACE_BYTES) {
      // The hot path, inlined: one kind byte, one storage load.
      const dw = offset >>> 2;
      if ((this.kind[dw] & (K_UNTRACKED | K_READER)) === 0) return this.regs[dw];
      return this.readDword(offset);
    }
    return this.readWide(offset, size);
  }

  private readWide(offset: number, size: number): number {
    if (size === 8 && (offset & 7) === 0 && offset >= 0 && offset + 8 <= MMIO_SPACE_BYTES) {
      const lo = this.readDword(offset);
      const hi = this.readDword(offset + 4);
      this.lastReadLo = lo;
      this.lastReadHi = hi;
      return hi * TWO_POW_32 + lo;
    }
    return this.readSlow(offset, size);
  }

  /** Write `size` (1, 2, 4 or 8) bytes of `value` at `offset`. 8-byte values up to 2^53. */
  write(offset: number, size: number, value: number): void {
    if (size === 4 && (offset & 3) === 0 && offset >= 0 && offset < MMIO_SPACE_BYTES) {
      // The hot path, inlined: a plain register without handler is one kind byte and one store
      // (the Uint32Array store truncates like `>>> 0`).
      const dw = offset >>> 2;
      if (this.kind[dw] === 0) this.regs[dw] = value;
      else this.writeDword(offset, value >>> 0, -1);
      return;
    }
    this.writeWide(offset, size, value);
  }

  private writeWide(offset: number, size: number, value: number): void {
    if (size === 8 && (offset & 7) === 0 && offset >= 0 && offset + 8 <= MMIO_SPACE_BYTES) {
      this.writeDword(offset, value >>> 0, -1);
      this.writeDword(offset + 4, Math.floor(value / TWO_POW_32) >>> 0, -1);
      return;
    }
    this.writeSlow(offset, size, value);
  }

  /** Write a 64-bit value given as halves (low dword first). */
  write64(offset: number, lo: number, hi: number): void {
    if ((offset & 7) === 0 && offset >= 0 && offset + 8 <= MMIO_SPACE_BYTES) {
      this.writeDword(offset, lo >>> 0, -1);
      this.writeDword(offset + 4, hi >>> 0, -1);
    } else {
      this.counters[2]++;
    }
  }

  /** One aligned dword read with handler dispatch. */
  readDword(offset: number): number {
    const dw = offset >>> 2;
    const k = this.kind[dw];
    if ((k & (K_UNTRACKED | K_READER)) === 0) return this.regs[dw];
    if ((k & K_UNTRACKED) !== 0) return this.untrackedRead(offset);
    const h = this.readers[this.rowOf[dw]];
    return h ? h(this.context, offset, this.regs[dw]) >>> 0 : this.regs[dw];
  }

  /**
   * One aligned dword write with byte enables `enables` (a mask of the written bits, -1 for all), applying
   * the generic semantics, then the handler.
   */
  writeDword(offset: number, value: number, enables: number): void {
    const dw = offset >>> 2;
    const k = this.kind[dw];
    if (k === 0 && enables === -1) {
      // Fast path: a plain register without handler written whole.
      this.regs[dw] = value;
      return;
    }
    if ((k & K_UNTRACKED) !== 0) {
      this.untrackedWrite(offset, value);
      return;
    }
    if (k === K_WRITER && enables === -1) {
      // A plain register with a handler, written whole.
      const old = this.regs[dw];
      this.regs[dw] = value;
      const h = this.writers[this.rowOf[dw]];
      if (h) h(this.context, offset, value >>> 0, old, value >>> 0);
      return;
    }
    this.writeSemantics(offset, dw, k, value, enables);
  }

  /** The generic semantics of a write that is not a whole write of a plain register. */
  private writeSemantics(offset: number, dw: number, k: number, value: number, enables: number): void {
    const old = this.regs[dw];
    const f = this.flags[dw];
    const ro = this.roMask[dw];
    const v = value & enables;
    let next: number;
    if ((f & MODE_MASK) !== 0) {
      // Upper 16 bits select which of the lower 16 bits this write changes.
      const mask = (v >>> 16) & ~ro & 0xffff;
      next = ((old & ~mask) | (v & mask)) & 0xffff;
    } else if ((f & W1C) !== 0) {
      next = (old & ~(v & ~ro)) >>> 0;
    } else {
      next = (((old & ~enables) | v) & ~ro) | (old & ro);
    }
    next >>>= 0;
    this.regs[dw] = next;
    if ((k & K_WRITER) !== 0) {
      const h = this.writers[this.rowOf[dw]];
      if (h) h(this.context, offset, v >>> 0, old, next);
    }
  }

  /** Cold path: a read of an untracked dword. Kept out of line so the hot path stays small. */
  private untrackedRead(offset: number): number {
    this.counters[0]++;
    if (log.enabled) log('%s: read of untracked offset 0x%s', this.label, offset.toString(16));
    return 0;
  }

  /** Cold path: a write to an untracked dword is dropped. */
  private untrackedWrite(offset: number, value: number): void {
    this.counters[1]++;
    if (log.enabled) log('%s: write 0x%s to untracked offset 0x%s dropped', this.label, (value >>> 0).toString(16), offset.toString(16));
  }

  private unalignedAllowed(offset: number, size: number): boolean {
    const first = offset >>> 2;
    const last = (offset + size - 1) >>> 2;
    for (let dw = first; dw <= last; dw++) {
      if (this.rowOf[dw] < 0 || (this.flags[dw] & UNALIGNED) === 0) return false;
    }
    return true;
  }

  private validSlow(offset: number, size: number): boolean {
    if (!(size === 1 || size === 2 || size === 4 || size === 8)) return false;
    if (!(Number.isInteger(offset) && offset >= 0 && offset + size <= MMIO_SPACE_BYTES)) return false;
    return true;
  }

  private readSlow(offset: number, size: number): number {
    if (!this.validSlow(offset, size)) {
      this.counters[2]++;
      return 0;
    }
    if (!this.unalignedAllowed(offset, size)) {
      // Untracked sub-dword reads count as untracked; tracked ones without UNALIGN are refused.
      if (this.rowOf[offset >>> 2] < 0) this.counters[0]++;
      else this.counters[2]++;
      return 0;
    }
    let result = 0;
    let lo = 0;
    for (let i = 0; i < size; i++) {
      const a = offset + i;
      const d = this.readDword(a & ~3);
      const byte = (d >>> ((a & 3) * 8)) & 0xff;
      if (i < 4) lo |= byte << (i * 8);
      result += byte * 2 ** (8 * i);
      // Each byte re-reads its dword; dwords are few (at most 3), side-effect-free reads assumed
      // for UNALIGNED registers.
    }
    if (size === 8) {
      this.lastReadLo = lo >>> 0;
      this.lastReadHi = Math.floor(result / TWO_POW_32) >>> 0;
    }
    return result;
  }

  private writeSlow(offset: number, size: number, value: number): void {
    if (!this.validSlow(offset, size)) {
      this.counters[2]++;
      return;
    }
    if (!this.unalignedAllowed(offset, size)) {
      if (this.rowOf[offset >>> 2] < 0) this.counters[1]++;
      else this.counters[2]++;
      if (log.enabled) log('%s: %d-byte write at 0x%s refused (alignment)', this.label, size, offset.toString(16));
      return;
    }
    // Split into per-dword writes with byte enables.
    let i = 0;
    while (i < size) {
      const a = offset + i;
      const dwBase = a & ~3;
      let val = 0;
      let en = 0;
      while (i < size && ((offset + i) & ~3) === dwBase) {
        const shift = ((offset + i) & 3) * 8;
        const byte = Math.floor(value / 2 ** (8 * i)) & 0xff;
        val |= byte << shift;
        en |= 0xff << shift;
        i++;
      }
      this.writeDword(dwBase, val >>> 0, en | 0);
    }
  }

  /** A copy of the storage (for snapshots and engine resets). */
  snapshot(): Uint32Array {
    return this.regs.slice();
  }

  /** Restore storage from a snapshot, optionally only the first `bytes` bytes. */
  restore(snap: Uint32Array, bytes = MMIO_SPACE_BYTES): void {
    this.regs.set(snap.subarray(0, bytes >>> 2));
  }
}
