/**
 * A fake `AuditEnv` over sparse page memory, for the parser and auditor tests: a GGTT view, a
 * PPGTT view, the vGPU's graphics-memory ranges and a non-identity guest-to-host translation.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GEN9_ENGINES, type EngineInfo } from '../lib/device/engines.js';
import type { AuditEnv, RingSegment } from '../lib/mediator/parser.js';

/** Sparse dword memory in 4 KiB pages. */
export class PageMemory {
  readonly pages = new Map<number, Uint32Array>();
  write(gma: number, words: ArrayLike<number>): void {
    for (let k = 0; k < words.length; k++) {
      const a = gma + 4 * k;
      const page = Math.floor(a / 4096);
      let p = this.pages.get(page);
      if (!p) this.pages.set(page, (p = new Uint32Array(1024)));
      p[(a % 4096) >>> 2] = words[k] >>> 0;
    }
  }
  read(gma: number, dst: Uint32Array, at: number, n: number): boolean {
    for (let k = 0; k < n; k++) {
      const a = gma + 4 * k;
      const p = this.pages.get(Math.floor(a / 4096));
      if (!p) return false;
      dst[at + k] = p[(a % 4096) >>> 2];
    }
    return true;
  }
  peek(gma: number, n: number): number[] {
    const out = new Uint32Array(n);
    if (!this.read(gma, out, 0, n)) throw new Error(`peek: ${gma.toString(16)} unmapped`);
    return [...out];
  }
}

export const MiB = 1024 * 1024;
/** Default vGPU ranges: low [64 MiB, 128 MiB), high [1 GiB, 1 GiB + 256 MiB). */
export const LOW = { start: 64 * MiB, end: 128 * MiB };
export const HIGH = { start: 1024 * MiB, end: 1280 * MiB };
/** Default translation: host = guest + 0x1000_0000 inside the ranges. */
export const HOST_OFFSET = 0x1000_0000;

export function engine(name: string): EngineInfo {
  const e = GEN9_ENGINES.find((x) => x.name === name);
  if (!e) throw new Error(`no engine ${name}`);
  return e;
}

export interface FakeEnvOptions {
  engine?: string;
  contextPpgtt?: boolean;
  ranges?: { start: number; end: number }[];
  translate?: (gma: number) => number;
  registerAllowed?: (offset: number, engine: EngineInfo) => boolean;
  gvtAware?: boolean;
  contextControl?: number;
  readVreg?: (offset: number) => number;
  shadowPpgttRoot?: (root: number) => number;
}

export class FakeEnv implements AuditEnv {
  readonly engine: EngineInfo;
  contextPpgtt: boolean;
  readonly ggtt = new PageMemory();
  readonly ppgtt = new PageMemory();
  ranges: { start: number; end: number }[];
  translate: (gma: number) => number;
  registerAllowed?: (offset: number, engine: EngineInfo) => boolean;
  gvtAware?: boolean;
  contextControl?: number;
  readVreg?: (offset: number) => number;
  shadowPpgttRoot?: (root: number) => number;
  reads = 0;
  /** Every read that crossed a page (the parser promises none). */
  pageCrossings = 0;

  constructor(o: FakeEnvOptions = {}) {
    this.engine = engine(o.engine ?? 'rcs');
    this.contextPpgtt = o.contextPpgtt ?? true;
    this.ranges = o.ranges ?? [LOW, HIGH];
    this.translate = o.translate ?? ((g) => (this.inRanges(g, 1) ? g + HOST_OFFSET : -1));
    if (o.registerAllowed) this.registerAllowed = o.registerAllowed;
    if (o.gvtAware !== undefined) this.gvtAware = o.gvtAware;
    if (o.contextControl !== undefined) this.contextControl = o.contextControl;
    if (o.readVreg) this.readVreg = o.readVreg;
    if (o.shadowPpgttRoot) this.shadowPpgttRoot = o.shadowPpgttRoot;
  }
  inRanges(gma: number, bytes: number): boolean {
    return this.ranges.some((r) => gma >= r.start && gma + bytes <= r.end);
  }
  private count(gma: number, n: number): void {
    this.reads++;
    if (Math.floor(gma / 4096) !== Math.floor((gma + 4 * n - 1) / 4096)) this.pageCrossings++;
  }
  readGgtt(gma: number, dst: Uint32Array, at: number, n: number): boolean {
    this.count(gma, n);
    return this.inRanges(gma, 4 * n) && this.ggtt.read(gma, dst, at, n);
  }
  readPpgtt(gma: number, dst: Uint32Array, at: number, n: number): boolean {
    this.count(gma, n);
    return this.contextPpgtt && this.ppgtt.read(gma, dst, at, n);
  }
  ggttAddressOk(gma: number, bytes: number): boolean {
    return this.inRanges(gma, bytes);
  }
  translateGgtt(gma: number): number {
    return this.translate(gma);
  }
}

/** Ring base used by the tests (inside LOW). */
export const RING_BASE = 64 * MiB;
export const RING_SIZE = 4096;

/** Write `words` into a ring at `head` (wrapping) and return the segment. */
export function ringWith(env: FakeEnv, words: readonly number[], head = 0, size = RING_SIZE, base = RING_BASE): RingSegment {
  for (let k = 0; k < words.length; k++) env.ggtt.write(base + ((head + 4 * k) % size), [words[k]]);
  // Map the rest of the ring too (zeros), as a real ring is.
  for (let a = 0; a < size; a += 4096) if (!env.ggtt.pages.has(Math.floor((base + a) / 4096))) env.ggtt.write(base + a, [0]);
  const tail = (head + 4 * words.length) % size;
  return { base, size, head, tail };
}

/** Pad a command list to a qword multiple with MI_NOOP (ring tails are qword aligned). */
export function qword(words: number[]): number[] {
  return words.length % 2 ? [...words, 0] : words;
}

/** The dwords of a fixture stream. */
export function fixture(name: string): Uint32Array {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'streams');
  const bytes = readFileSync(join(dir, name));
  const out = new Uint32Array(bytes.length >>> 2);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let k = 0; k < out.length; k++) out[k] = view.getUint32(k * 4, true);
  return out;
}
