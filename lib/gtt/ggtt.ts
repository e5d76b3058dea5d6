/**
 * The host's global graphics translation table: one gen8 64-bit entry per 4 KiB of graphics
 * memory, stored as two u32 halves in a Uint32Array (entry i at words 2i, 2i+1).
 *
 * The device exposes it at BAR0 + 8 MiB; the shadow GGTT of the mediator writes it. Translation
 * (`translate`) is what the aperture and the engines use.
 */
import { RangeArgError } from '../errors.js';
import { PAGE_SIZE } from '../types.js';
import { PTE_PRESENT, pteFrame } from './pte.js';

export class Ggtt {
  // Fields are `declare`d and assigned in the constructor: emitted class fields would first be
  // defined as undefined, which costs V8 its constant-field tracking (see ShadowGgtt).
  /** Number of entries (graphics memory size / 4 KiB). */
  declare readonly entries: number;
  /** Graphics memory size in bytes. */
  declare readonly size: number;
  /** Entry storage: lo at 2i, hi at 2i + 1. */
  declare readonly words: Uint32Array;
  /** Entry writes through `set` (and those of detached direct writers). */
  private declare ownWrites: number;
  /** Entry-write counts of direct writers (`addDirectWriter`). */
  private declare readonly direct: (() => number)[];

  constructor(graphicsMemoryBytes: number) {
    if (graphicsMemoryBytes <= 0 || graphicsMemoryBytes % PAGE_SIZE !== 0) {
      throw new RangeArgError(`graphics memory size ${graphicsMemoryBytes} must be a positive multiple of 4096`);
    }
    this.size = graphicsMemoryBytes;
    this.entries = graphicsMemoryBytes / PAGE_SIZE;
    this.words = new Uint32Array(this.entries * 2);
    this.ownWrites = 0;
    this.direct = [];
  }

  /** Entry writes since creation. */
  get writes(): number {
    let n = this.ownWrites;
    for (let k = 0; k < this.direct.length; k++) n += this.direct[k]();
    return n;
  }
  set writes(n: number) {
    this.ownWrites += n - this.writes;
  }

  /**
   * @internal For a hot path that stores into `words` itself: `count` says how many entries it
   * wrote that way, and `writes` includes them. Saves the path a read-modify-write of this shared
   * counter per entry. Returns the detach function (the count so far is kept).
   */
  addDirectWriter(count: () => number): () => void {
    this.direct.push(count);
    return () => {
      const k = this.direct.indexOf(count);
      if (k < 0) return;
      this.direct.splice(k, 1);
      this.ownWrites += count();
    };
  }

  /** Low half of entry `i`. */
  lo(i: number): number {
    return this.words[i * 2];
  }
  /** High half of entry `i`. */
  hi(i: number): number {
    return this.words[i * 2 + 1];
  }
  /** Write both halves of entry `i`. */
  set(i: number, lo: number, hi: number): void {
    this.words[i * 2] = lo;
    this.words[i * 2 + 1] = hi;
    this.ownWrites++;
  }

  /**
   * Write entries [`first`, `first + count`) with the same halves, as `count` calls of `set` would
   * (and counted so in `writes`), in one pass: for a vGPU's slices pointed at its scratch page or
   * cleared. Throws `RangeArgError` for a range outside the table.
   */
  fill(first: number, count: number, lo: number, hi: number): void {
    if (!(Number.isSafeInteger(first) && Number.isSafeInteger(count) && first >= 0 && count >= 0 && first + count <= this.entries)) {
      throw new RangeArgError(`GGTT entries [${first}, ${first} + ${count}) outside the table of ${this.entries}`);
    }
    const w = this.words;
    const start = 2 * first, end = 2 * (first + count);
    if (lo === hi) w.fill(lo, start, end);
    else if (count > 0) {
      // One entry, then the filled part copied after itself until the range is full.
      w[start] = lo;
      w[start + 1] = hi;
      for (let done = 2; done < end - start; done *= 2) w.copyWithin(start + done, start, Math.min(start + done, end - done));
    }
    this.ownWrites += count;
  }

  /**
   * Host-physical address for graphics address `gmaddr`, or -1 when the entry is not present or
   * the address is outside graphics memory.
   */
  translate(gmaddr: number): number {
    if (!(gmaddr >= 0 && gmaddr < this.size)) return -1;
    const i = Math.floor(gmaddr / PAGE_SIZE);
    const lo = this.words[i * 2];
    if ((lo & PTE_PRESENT) === 0) return -1;
    return pteFrame(lo, this.words[i * 2 + 1]) * PAGE_SIZE + (gmaddr % PAGE_SIZE);
  }

  /** Clear every entry. */
  clear(): void {
    this.words.fill(0);
  }
}
