/**
 * The isolation checker of the hostile-guest proof: it watches what the device touches and
 * checks the structures that decide what it may touch.
 *
 * Two kinds of checks:
 * - **Dynamic** (`DeviceMonitor`): every host-physical address the device reaches while it runs a
 *   workload goes through one choke point, the command streamer's `translate` (ring and batch
 *   fetches, every memory read and write of a command, blits), plus the engine's GGTT accesses of
 *   the context image (`gttRead32` / `gttWrite32`). The monitor wraps those on the device instance
 *   (the device model is not changed) and checks, for every access, that the frame belongs to the
 *   vGPU whose workload the engine runs: one of its EPT frames (`Ept.ownsMfn`), one of its scratch
 *   frames, or a frame of the shadows the mediator made for that workload. Reads count as much as
 *   writes: a read of another guest's frame is a leak.
 * - **Structural** (`checkGgtt*`, `checkShadowPpgtt`): within a vGPU's slices the host GGTT only
 *   names that vGPU's frames or its scratch page; outside every slice only the mediator's shadow
 *   range holds present entries, and those name no guest frame; every shadow PPGTT table of a vGPU
 *   names only its own shadow tables, its scratch tables and (at the leaves) its own frames.
 *
 * The monitor is test equipment: it reaches private fields of the model with bracket access
 * (`obj['field']`, which TypeScript allows for private members) and never changes the model's
 * behaviour. Everything here is deterministic and allocation-light on the access path.
 */
import createDebug from 'debug';
import type { Harness } from '../harness/index.js';
import type { Mediator } from '../mediator/mediator.js';
import type { Vgpu } from '../mediator/vgpu.js';
import type { Workload } from '../mediator/workload.js';
import type { Gen9Device } from '../device/device.js';
import type { Engine } from '../device/execlists.js';
import { Ggtt } from '../gtt/ggtt.js';
import type { PpgttManager, ShadowPpgtt } from '../gtt/shadow-ppgtt.js';
import { PDE_PS, PTE_PRESENT } from '../gtt/pte.js';
import { PAGE_SIZE } from '../types.js';

const log = createDebug('gvtkit:fuzz');

/** One broken invariant. `invariant` is a stable name; `message` says what and where. */
export interface Violation {
  readonly invariant: string;
  readonly message: string;
}

/** Names of the invariants the checker enforces (stable: tests and reports use them). */
export const INVARIANTS = Object.freeze({
  /** The device reached a frame that is not the running vGPU's nor its workload's shadows. */
  DEVICE_FOREIGN_FRAME: 'device-foreign-frame',
  /** The device ran (touched memory) while no workload was in flight on the engine. */
  DEVICE_UNOWNED_RUN: 'device-unowned-run',
  /** The device touched a host frame that is not allocated. */
  DEVICE_FREED_FRAME: 'device-freed-frame',
  /** An aperture access reached a frame that is not the accessing vGPU's, or left its slice. */
  APERTURE: 'aperture',
  /** A host GGTT entry of a vGPU's slice names a frame the vGPU does not own. */
  GGTT_FOREIGN_FRAME: 'ggtt-foreign-frame',
  /** A present host GGTT entry outside every slice and outside the mediator's shadow range. */
  GGTT_STRAY_ENTRY: 'ggtt-stray-entry',
  /** A present entry of the mediator's shadow range names a guest frame or a free frame. */
  GGTT_BAD_SHADOW_ENTRY: 'ggtt-bad-shadow-entry',
  /** A shadow PPGTT entry names a frame that is not the vGPU's (table, scratch or leaf). */
  PPGTT_FOREIGN_FRAME: 'ppgtt-foreign-frame',
  /** An exception reached the caller of a facade method. */
  EXCEPTION: 'exception',
  /** A healthy guest's workload did not complete, or wrote the wrong value. */
  VICTIM_RESULT: 'victim-result',
  /** A healthy guest's memory changed where nothing of its own wrote. */
  VICTIM_MEMORY: 'victim-memory',
  /** A healthy guest was put in failsafe, reset or otherwise disturbed. */
  VICTIM_STATE: 'victim-state',
  /**
   * A healthy guest's display changed without its doing: a plane register, a flip counter or a DE
   * pipe interrupt of its virtual display (flips, by MMIO or MI_DISPLAY_FLIP, are per vGPU).
   */
  VICTIM_DISPLAY: 'victim-display',
  /**
   * An attacker's plane, read out as its embedder's display would (`Vgpu.readFramebuffer`), shows
   * the victim's canary pages (`scanout.ts`): a scan-out outside the attacker's own memory.
   */
  SCANOUT_LEAK: 'scanout-leak',
  /** A host register changed that the attacker may not reach. */
  HOST_REGISTER: 'host-register',
  /** Host frames or shadow pages did not return to their baseline after destroy. */
  LEAK: 'leak',
  /** Host frames held for one vGPU grew beyond its bound. */
  HOST_FRAMES_BOUND: 'host-frames-bound',
  /** The mediator did not go idle within the simulated-time budget. */
  LIVENESS: 'liveness',
  /** A fuzzer-specific oracle disagreed (e.g. the GGTT model). */
  ORACLE: 'oracle',
  /** A secret an attacker held in a register or its memory became readable by another guest (`oracles/residue.ts`). */
  RESIDUE: 'residue',
  /** A workload cost the device or host beyond its documented bound (`oracles/work-bound.ts`). */
  WORK_BOUND: 'work-bound',
  /** Other guests made the victim's ordinary work fail or wait forever (`oracles/starvation.ts`). */
  STARVATION: 'starvation',
  /**
   * A shadow page table disagrees with the guest table it shadows after the mediator's own stores
   * into guest RAM (`oracles/shadow-sync.ts`): a stale shadow entry.
   */
  SHADOW_SYNC: 'shadow-sync',
  /**
   * The mediator's workload state machine disagrees with itself (`Mediator.checkWorkloads`): a
   * workload in two places, an ended one still holding shadows, counters that do not add up.
   */
  WORKLOAD_STATE: 'workload-state',
} as const);

/** Where a monitor keeps its GGTT write log on the host GGTT it watches (keys no model field uses). */
const GGTT_MARK = Symbol('gvtkit.monitor.ggttMark');
const GGTT_BLOCK = Symbol('gvtkit.monitor.ggttBlock');

type LoggedGgtt = Ggtt & { [GGTT_MARK]: Uint8Array; [GGTT_BLOCK]: Uint8Array };

const GGTT_SET = Ggtt.prototype.set;
const GGTT_FILL = Ggtt.prototype.fill;

/**
 * The monitor's `set` of a host GGTT: mark entry `i` written, then write it. One function for
 * every world, its log held on the GGTT, rather than a closure per monitor: a vGPU created, reset
 * or destroyed writes every entry of its slices through `set`, and those call sites, once they
 * have seen the closure of an earlier world, are deoptimized and stop inlining the call (measured:
 * 3x slower per entry).
 */
function loggedSet(this: LoggedGgtt, i: number, lo: number, hi: number): void {
  this[GGTT_MARK][i] = 1;
  this[GGTT_BLOCK][i >>> 12] = 1;
  GGTT_SET.call(this, i, lo, hi);
}

/** The monitor's `fill` of a host GGTT (see `loggedSet`): write, then mark the entries written. */
function loggedFill(this: LoggedGgtt, first: number, count: number, lo: number, hi: number): void {
  GGTT_FILL.call(this, first, count, lo, hi);
  markRange(this[GGTT_MARK], this[GGTT_BLOCK], first, count);
}

/** Mark entries [first, first + count) written in a GGTT write log. */
function markRange(mark: Uint8Array, block: Uint8Array, first: number, count: number): void {
  if (count <= 0) return;
  mark.fill(1, first, first + count);
  block.fill(1, first >>> 12, ((first + count - 1) >>> 12) + 1);
}

/** Entries per block of the GGTT write log. */
const BLOCK = 4096;

/** Blocks of `BLOCK` entries holding one value, by value (lo + hi * 2^32); zeros always kept. */
const patterns = new Map<number, Buffer>();

/** `BLOCK` entries of `lo`, `hi` as bytes (a few kept: scratch pages come and go with vGPUs). */
function pattern(lo: number, hi: number): Buffer {
  const key = lo + hi * 2 ** 32;
  let p = patterns.get(key);
  if (p === undefined) {
    if (patterns.size >= 64) for (const k of patterns.keys()) if (k !== 0) patterns.delete(k);
    const w = new Uint32Array(2 * BLOCK);
    for (let j = 0; j < w.length; j += 2) {
      w[j] = lo;
      w[j + 1] = hi;
    }
    p = Buffer.from(w.buffer);
    patterns.set(key, p);
  }
  return p;
}

/** Blocks of `BLOCK` owner bytes, by owner. */
const ownerPatterns: Buffer[] = [];

/** True when host GGTT entries [first, end) all hold `lo`, `hi` (`words` as `Ggtt.words`). */
function blockIs(words: Uint32Array, first: number, end: number, lo: number, hi: number): boolean {
  const n = 8 * (end - first);
  return Buffer.from(words.buffer, words.byteOffset + 8 * first, n).equals(pattern(lo, hi).subarray(0, n));
}

/** True when entries [first, end) of an owner map all belong to vGPU `k`. */
function ownedBy(owner: Uint8Array, first: number, end: number, k: number): boolean {
  const p = (ownerPatterns[k] ??= Buffer.alloc(BLOCK, k));
  return Buffer.from(owner.buffer, owner.byteOffset + first, end - first).equals(p.subarray(0, end - first));
}

/** Low half of a present entry naming frame `mfn` with no other flag (as a reset writes scratch). */
function scratchLo(mfn: number): number {
  return ((mfn << 12) | PTE_PRESENT) >>> 0;
}

/** What an engine may touch while it runs one workload. */
interface StepOwner {
  vgpu: Vgpu;
  workload: Workload;
  /** Frames of the workload's shadows (ring, batches, context) at step start. */
  shadowFrames: Set<number>;
  /**
   * Frames of its shadows no command effect (`effectsOf`, lib/device/commands/effects.ts) may read
   * or write: ring and batch shadows (the device only fetches from them) and the shadow context
   * past its status page (see `bufferFramesOf`).
   */
  bufferFrames: Set<number>;
  /** The vGPU's scratch frames (GGTT scratch, PPGTT scratch tables and page). */
  scratch: Set<number>;
}

type Translate = (gma: number, space: number) => number;

/** Frames of a vGPU's scratch pages (GGTT scratch and the five PPGTT scratch frames). */
export function scratchFramesOf(v: Vgpu): Set<number> {
  const s = new Set<number>(v.ppgtt.scratchMfns);
  s.add(v.ggtt.scratchMfn);
  return s;
}

/**
 * Frames of a workload's shadows that no command may read or write: its audited ring and batch
 * shadows, and its shadow context but for the first page (the per-process status page, which
 * index-mode post-sync writes reach). The register state of the shadow context is the mediator's.
 */
export function bufferFramesOf(w: Workload): Set<number> {
  const s = new Set<number>();
  for (const a of w.shadowAllocs) for (const f of a.frames) s.add(f);
  if (w.shadowContext) w.shadowContext.frames.forEach((f, k) => { if (k > 0) s.add(f); else s.delete(f); });
  return s;
}

/** Frames of a workload's shadow buffers and shadow context. */
export function shadowFramesOf(w: Workload): Set<number> {
  const s = new Set<number>();
  for (const a of w.shadowAllocs) for (const f of a.frames) s.add(f);
  if (w.shadowContext) for (const f of w.shadowContext.frames) s.add(f);
  return s;
}

/**
 * Watches every device memory access (see the module note). Install once per harness; read
 * `violations` (bounded by `limit`) and `accesses` afterwards.
 */
export class DeviceMonitor {
  readonly device: Gen9Device;
  readonly mediator: Mediator;
  /** Violations seen (at most `limit` kept; `dropped` counts the rest). */
  readonly violations: Violation[] = [];
  /** Violations beyond `limit`. */
  dropped = 0;
  /** Device accesses checked. */
  accesses = 0;
  /** Steps of an engine with a workload in flight, and without. */
  ownedSteps = 0;
  unownedSteps = 0;
  readonly limit: number;
  private readonly owners: (StepOwner | null)[];
  /** Engine whose step is running, -1 outside steps. */
  private current = -1;
  /** Depth of command-effect accesses in progress (memory reads and writes of a command, not fetches). */
  private inEffect = 0;
  /** GGTT entries written since the last `takeGgttWrites` / `checkGgttWrites`: a mark per entry. */
  private readonly ggttMark: Uint8Array;
  /** One mark per 4096 entries: blocks without a write are skipped. */
  private readonly ggttBlock: Uint8Array;

  constructor(h: Harness | { device: Gen9Device; mediator: Mediator }, opts: { limit?: number } = {}) {
    this.device = h.device;
    this.mediator = h.mediator;
    this.limit = opts.limit ?? 64;
    this.owners = this.device.engines.map(() => null);
    this.ggttMark = new Uint8Array(this.device.ggtt.entries);
    this.ggttBlock = new Uint8Array((this.device.ggtt.entries >>> 12) + 1);
    this.install();
  }

  /** Record a violation (kept up to `limit`). */
  report(invariant: string, message: string): void {
    if (this.violations.length >= this.limit) {
      this.dropped++;
      return;
    }
    this.violations.push({ invariant, message });
    log('violation %s: %s', invariant, message);
  }

  /** Take (and clear) the recorded violations. */
  takeViolations(): Violation[] {
    const out = this.violations.splice(0);
    if (this.dropped) out.push({ invariant: 'dropped', message: `${this.dropped} more violations not kept` });
    this.dropped = 0;
    return out;
  }

  /** Indices of host GGTT entries written since the last call (each once), then forget them. */
  takeGgttWrites(): number[] {
    const out: number[] = [];
    this.scanGgttWrites((i) => out.push(i));
    return out;
  }

  /** Forget the host GGTT entries written so far (as `takeGgttWrites`, without listing them). */
  clearGgttWrites(): void {
    const mark = this.ggttMark, block = this.ggttBlock;
    for (let b = 0; b < block.length; b++) {
      if (block[b] === 0) continue;
      block[b] = 0;
      mark.fill(0, b << 12, (b + 1) << 12);
    }
  }

  /**
   * Check every host GGTT entry written since the last call (see `checkGgttEntry`), then forget
   * them. The common cases (not present; the owner's scratch page) are decided inline: a vGPU
   * reset rewrites 100,000 entries.
   */
  checkGgttWrites(out: Violation[] = [], limit = 16): Violation[] {
    const mark = this.ggttMark, block = this.ggttBlock;
    let b = 0;
    while (b < block.length && block[b] === 0) b++;
    if (b === block.length) return out;
    const m = this.mediator;
    const o = ownerMap(m);
    const owner = o.of(m);
    const scratch = new Int32Array(o.vgpus.length + 1).fill(-1);
    o.vgpus.forEach((v, k) => (scratch[k + 1] = v.ggtt.scratchMfn));
    const w = m.device.ggtt.words;
    const start = out.length;
    // The scan of `scanGgttWrites`, inlined (ascending, each marked entry once, marks cleared).
    // A vGPU created, reset or destroyed writes every entry of its slices; a block of `BLOCK`
    // entries that holds only non-present entries, or only the scratch page of the vGPU owning
    // all of it, has nothing to report whichever of its entries were written, and is passed
    // after a comparison of its words (native, a few microseconds).
    for (; b < block.length; b++) {
      if (block[b] === 0) continue;
      block[b] = 0;
      const first = b << 12;
      const end = Math.min(mark.length, first + BLOCK);
      const k = owner[first];
      if (blockIs(w, first, end, 0, 0) || (k !== 0 && ownedBy(owner, first, end, k) && blockIs(w, first, end, scratchLo(scratch[k]), scratch[k] >>> 20))) {
        mark.fill(0, first, end);
        continue;
      }
      for (let i = first; i < end; i++) {
        if (mark[i] === 0) continue;
        mark[i] = 0;
        const e = w[2 * i];
        if ((e & PTE_PRESENT) === 0) continue;
        if (((e >>> 12) | ((w[2 * i + 1] & 0x7f) << 20)) === scratch[owner[i]]) continue;
        if (out.length - start < limit) checkEntry(m, owner, o.vgpus, i, out);
      }
    }
    return out;
  }

  /** Call `fn` with every entry marked written (ascending), clearing the marks. */
  private scanGgttWrites(fn: (i: number) => void): void {
    const mark = this.ggttMark, block = this.ggttBlock;
    for (let b = 0; b < block.length; b++) {
      if (block[b] === 0) continue;
      block[b] = 0;
      const end = Math.min(mark.length, (b + 1) << 12);
      for (let i = b << 12; i < end; i++) {
        if (mark[i] === 0) continue;
        mark[i] = 0;
        fn(i);
      }
    }
  }

  private install(): void {
    const dev = this.device;
    for (const e of dev.engines) this.wrapEngine(e);
    // The engines reach the context image and status page through the device's GGTT helpers
    // (the engine host calls `device.gttRead32(...)`, so an instance property takes precedence).
    const read = dev.gttRead32.bind(dev);
    const write = dev.gttWrite32.bind(dev);
    dev.gttRead32 = (gma: number): number => {
      if (this.current >= 0) this.checkGma(gma);
      return read(gma);
    };
    dev.gttWrite32 = (gma: number, value: number): boolean => {
      if (this.current >= 0) this.checkGma(gma);
      return write(gma, value);
    };
    // Aperture accesses are the vCPU's, passed through by the vGPU inside its low slice: each page
    // they reach must be the frame of the vGPU whose slice holds the offset.
    const apRead = dev.apertureRead.bind(dev);
    const apWrite = dev.apertureWrite.bind(dev);
    dev.apertureRead = (offset: number, size: number): number => {
      this.checkAperture(offset, size);
      return apRead(offset, size);
    };
    dev.apertureWrite = (offset: number, size: number, value: number): void => {
      this.checkAperture(offset, size);
      apWrite(offset, size, value);
    };
    // Every host GGTT entry written through `set` or `fill` is marked (a dirty log, checked by
    // `checkGgttWrites`): by `loggedSet` / `loggedFill` when they are the model's own, else
    // (another monitor on the same device) by closures around what is there.
    const ggtt = dev.ggtt as LoggedGgtt;
    const mark = this.ggttMark;
    const block = this.ggttBlock;
    if (ggtt.set === GGTT_SET && ggtt.fill === GGTT_FILL) {
      ggtt[GGTT_MARK] = mark;
      ggtt[GGTT_BLOCK] = block;
      ggtt.set = loggedSet;
      ggtt.fill = loggedFill;
    } else {
      const set = ggtt.set;
      const fill = ggtt.fill;
      ggtt.set = (i: number, lo: number, hi: number): void => {
        mark[i] = 1;
        block[i >>> 12] = 1;
        set.call(ggtt, i, lo, hi);
      };
      ggtt.fill = (first: number, count: number, lo: number, hi: number): void => {
        fill.call(ggtt, first, count, lo, hi);
        markRange(mark, block, first, count);
      };
    }
  }

  private wrapEngine(e: Engine): void {
    // `step` is private; the engine's scheduled callback calls `this.step()`, so an instance
    // property wraps it.
    const ep = e as unknown as { step(): void };
    const step = ep.step.bind(e);
    ep.step = (): void => {
      const prev = this.current;
      this.current = e.id;
      this.owners[e.id] = this.ownerOf(e.id);
      try {
        step();
      } finally {
        this.current = prev;
        this.owners[e.id] = null;
      }
    };
    const s = e.streamer as unknown as { translate: Translate } & Record<string, unknown>;
    // A command's memory effects go through these four (lib/device/executor.ts `performEffects`
    // and the blitter); fetches of the ring and batches do not.
    for (const name of ['writeMem32', 'readMem32', 'readRange', 'writeRange']) {
      const f = (s[name] as (...a: unknown[]) => unknown).bind(e.streamer);
      s[name] = (...a: unknown[]): unknown => {
        this.inEffect++;
        try {
          return f(...a);
        } finally {
          this.inEffect--;
        }
      };
    }
    const translate = s.translate.bind(e.streamer);
    const id = e.id;
    s.translate = (gma: number, space: number): number => {
      const hpa = translate(gma, space);
      if (hpa >= 0) this.checkFrame(id, Math.floor(hpa / PAGE_SIZE), gma);
      return hpa;
    };
  }

  private checkAperture(offset: number, size: number): void {
    if (!(offset >= 0 && size > 0 && offset + size <= this.device.apertureSize)) return;
    const first = Math.floor(offset / PAGE_SIZE), last = Math.floor((offset + size - 1) / PAGE_SIZE);
    for (let p = first; p <= last; p++) {
      this.accesses++;
      const v = this.mediator.vgpus.find((x) => x.state !== 'destroyed' && p * PAGE_SIZE >= x.slices.lowBase && p * PAGE_SIZE < x.slices.lowBase + x.slices.lowSize);
      if (v === undefined) {
        this.report(INVARIANTS.APERTURE, `aperture access at 0x${offset.toString(16)} outside every vGPU's low slice reached the device`);
        continue;
      }
      const hpa = this.device.ggtt.translate(p * PAGE_SIZE);
      if (hpa < 0) continue;
      const f = Math.floor(hpa / PAGE_SIZE);
      if (!v.ggtt.ownsFrame(f)) this.report(INVARIANTS.APERTURE, `aperture page 0x${(p * PAGE_SIZE).toString(16)} of ${v.name} reaches frame 0x${f.toString(16)} (${describeFrame(this.mediator, f)})`);
    }
  }

  private ownerOf(engineId: number): StepOwner | null {
    const w = this.mediator.inflightOn(engineId);
    if (w === null) {
      this.unownedSteps++;
      return null;
    }
    const v = this.mediator.vgpu(w.vgpuId);
    if (v === undefined) return null;
    this.ownedSteps++;
    return { vgpu: v, workload: w, shadowFrames: shadowFramesOf(w), bufferFrames: bufferFramesOf(w), scratch: scratchFramesOf(v) };
  }

  private checkGma(gma: number): void {
    const hpa = this.device.ggtt.translate(gma);
    if (hpa >= 0) this.checkFrame(this.current, Math.floor(hpa / PAGE_SIZE), gma);
  }

  /** The check of one device access of host frame `frame` by engine `engineId`. */
  private checkFrame(engineId: number, frame: number, gma: number): void {
    this.accesses++;
    const o = this.owners[engineId];
    const name = this.device.engines[engineId].name;
    if (o === null) {
      this.report(INVARIANTS.DEVICE_UNOWNED_RUN, `${name} touched host frame 0x${frame.toString(16)} (gma 0x${gma.toString(16)}) with no workload in flight`);
      return;
    }
    const v = o.vgpu;
    if (!(v.ept.ownsMfn(frame) || o.scratch.has(frame) || o.shadowFrames.has(frame))) {
      this.report(INVARIANTS.DEVICE_FOREIGN_FRAME,
        `${name} running ${v.name}'s workload ${o.workload.seq} touched host frame 0x${frame.toString(16)} (gma 0x${gma.toString(16)}) ` +
        `that is neither ${v.name}'s nor its shadows' (${describeFrame(this.mediator, frame)})`);
      return;
    }
    if (this.inEffect > 0 && o.bufferFrames.has(frame) && !v.ept.ownsMfn(frame)) {
      this.report(INVARIANTS.DEVICE_FOREIGN_FRAME,
        `${name} running ${v.name}'s workload ${o.workload.seq}: a command touched host frame 0x${frame.toString(16)} (gma 0x${gma.toString(16)}) ` +
        'of its audited ring or batch shadow or its shadow context\'s register state (commands may fetch from shadows, never read or write them)');
      return;
    }
    if (!this.device.hostMemory.isAllocated(frame)) {
      this.report(INVARIANTS.DEVICE_FREED_FRAME, `${name} touched freed host frame 0x${frame.toString(16)} (gma 0x${gma.toString(16)})`);
    }
  }
}

/** Who holds host frame `frame` (for messages): a vGPU's RAM, scratch, shadow table, or nobody known. */
export function describeFrame(m: Mediator, frame: number): string {
  for (const v of m.vgpus) {
    if (v.ept.ownsMfn(frame)) return `${v.name}'s RAM gfn 0x${(v.ept.gfnOfMfn(frame) as number).toString(16)}`;
    if (frame === v.ggtt.scratchMfn) return `${v.name}'s GGTT scratch`;
    if (v.ppgtt.scratchMfns.includes(frame)) return `${v.name}'s PPGTT scratch`;
    if (ppgttPages(v.ppgtt).has(frame)) return `${v.name}'s shadow page table`;
  }
  return m.device.hostMemory.isAllocated(frame) ? 'an allocated frame of no vGPU (mediator shadow?)' : 'a free frame';
}

// ---------------------------------------------------------------- private views of the model

/** A shadow page as the checker sees it (a subset of `ShadowPage`). */
interface ShadowPageView {
  readonly gfn: number;
  readonly level: number;
  readonly mfn: number;
  readonly shadow: Uint32Array;
  readonly freed: boolean;
}

/** The manager's shadow pages by host frame (private field, read only). */
export function ppgttPages(m: PpgttManager): Map<number, ShadowPageView> {
  return m['byMfn'] as unknown as Map<number, ShadowPageView>;
}

/** The manager's live shadow mms (private field, read only). */
export function ppgttMms(m: PpgttManager): Set<ShadowPpgtt> {
  return m['liveMms'] as unknown as Set<ShadowPpgtt>;
}

// ---------------------------------------------------------------- structural checks

/** Shadow pages already verified, with the hash of their contents then (per manager). */
const verified = new WeakMap<PpgttManager, WeakMap<ShadowPageView, number>>();

/** Frame named by a gen8 PTE's halves (bits 38:12). */
function frameOf(lo: number, hi: number): number {
  return ((lo >>> 12) | ((hi & 0x7f) << 20)) >>> 0;
}

/**
 * Which live vGPU owns each host GGTT entry (index + 1 into `vgpus`, 0 for none), rebuilt when
 * the set of vGPUs changes. Makes a check of 100,000 entries (a vGPU reset) a few milliseconds.
 */
class OwnerMap {
  private owner: Uint8Array = new Uint8Array(0);
  vgpus: Vgpu[] = [];

  /** Residency of each of `vgpus` when `owner` was built (gScale: sharers take turns). */
  private resident: boolean[] = [];

  of(m: Mediator): Uint8Array {
    const vgpus = m.vgpus.filter((v) => v.state !== 'destroyed');
    // Same vGPU objects in the same order (a new vGPU may reuse an id with other slices), and the
    // same residency (with gScale the owner of shared slices is the resident sharer).
    const same = vgpus.length === this.vgpus.length && vgpus.every((v, k) => v === this.vgpus[k] && v.resident === this.resident[k]);
    if (!same || this.owner.length !== m.device.ggtt.entries) {
      // The array is reused (cleared) while the GGTT keeps its size: in a world where vGPUs come
      // and go, a fresh 1 MiB array each time was a fifth of the memory the campaign churned.
      if (this.owner.length === m.device.ggtt.entries) this.owner.fill(0);
      else this.owner = new Uint8Array(m.device.ggtt.entries);
      // Residents last: where sharers' slices overlap, the host GGTT holds the resident's entries
      // (a sharer that is out keeps its own in its private table).
      const order = vgpus.map((v, k) => k).sort((x, y) => Number(vgpus[x].resident) - Number(vgpus[y].resident));
      for (const k of order) {
        const s = vgpus[k].slices;
        this.owner.fill(k + 1, s.lowBase / PAGE_SIZE, (s.lowBase + s.lowSize) / PAGE_SIZE);
        this.owner.fill(k + 1, s.highBase / PAGE_SIZE, (s.highBase + s.highSize) / PAGE_SIZE);
      }
      this.vgpus = vgpus;
      this.resident = vgpus.map((v) => v.resident);
    }
    return this.owner;
  }
}

const owners = new WeakMap<Mediator, OwnerMap>();

function ownerMap(m: Mediator): OwnerMap {
  let o = owners.get(m);
  if (!o) {
    o = new OwnerMap();
    owners.set(m, o);
  }
  return o;
}

/**
 * Check one host GGTT entry against the live vGPUs: inside a slice it names the owner's frame or
 * scratch; in the mediator's shadow range a frame of no guest; elsewhere nothing present.
 */
export function checkGgttEntry(m: Mediator, index: number, out: Violation[]): void {
  const o = ownerMap(m);
  checkEntry(m, o.of(m), o.vgpus, index, out);
}

function checkEntry(m: Mediator, owner: Uint8Array, vgpus: readonly Vgpu[], index: number, out: Violation[]): void {
  const w = m.device.ggtt.words;
  const lo = w[2 * index];
  if ((lo & PTE_PRESENT) === 0) return;
  const frame = frameOf(lo, w[2 * index + 1]);
  const k = owner[index];
  if (k !== 0) {
    const v = vgpus[k - 1];
    if (frame !== v.ggtt.scratchMfn && !v.ept.ownsMfn(frame)) {
      out.push({
        invariant: INVARIANTS.GGTT_FOREIGN_FRAME,
        message: `host GGTT entry 0x${index.toString(16)} of ${v.name}'s slices names frame 0x${frame.toString(16)} (${describeFrame(m, frame)})`,
      });
    }
    return;
  }
  const first = m.hostGm.start / PAGE_SIZE, end = m.hostGm.end / PAGE_SIZE;
  if (index >= first && index < end) {
    const host = m.device.hostMemory;
    let guest = false;
    for (const v of vgpus) if (v.ggtt.ownsFrame(frame)) guest = true;
    if (guest || !host.isAllocated(frame)) {
      out.push({
        invariant: INVARIANTS.GGTT_BAD_SHADOW_ENTRY,
        message: `host GGTT entry 0x${index.toString(16)} of the mediator's shadow range names frame 0x${frame.toString(16)} (${describeFrame(m, frame)})`,
      });
    }
    return;
  }
  out.push({ invariant: INVARIANTS.GGTT_STRAY_ENTRY, message: `present host GGTT entry 0x${index.toString(16)} outside every slice names frame 0x${frame.toString(16)}` });
}

/** Check the host GGTT entries at `indices` (e.g. `DeviceMonitor.takeGgttWrites()`); at most `limit` violations. */
export function checkGgttEntries(m: Mediator, indices: readonly number[], out: Violation[] = [], limit = 16): Violation[] {
  if (indices.length === 0) return out;
  const o = ownerMap(m);
  const owner = o.of(m);
  const start = out.length;
  for (let k = 0; k < indices.length && out.length - start < limit; k++) checkEntry(m, owner, o.vgpus, indices[k], out);
  return out;
}

/**
 * Check every host GGTT entry (1 Mi entries for 4 GiB: a few milliseconds). Stops after
 * `limit` violations.
 */
export function checkGgttFull(m: Mediator, out: Violation[] = [], limit = 16): Violation[] {
  const w = m.device.ggtt.words;
  const n = m.device.ggtt.entries;
  const o = ownerMap(m);
  const owner = o.of(m);
  const start = out.length;
  // Blocks with nothing to report (no present entry; only the scratch page of the vGPU owning
  // all of it) are passed after a comparison of their words, as in `checkGgttWrites`.
  for (let first = 0; first < n && out.length - start < limit; first += BLOCK) {
    const end = Math.min(n, first + BLOCK);
    const k = owner[first];
    if (blockIs(w, first, end, 0, 0)) continue;
    if (k !== 0 && ownedBy(owner, first, end, k)) {
      const scratch = o.vgpus[k - 1].ggtt.scratchMfn;
      if (blockIs(w, first, end, scratchLo(scratch), scratch >>> 20)) continue;
    }
    for (let i = first; i < end && out.length - start < limit; i++) {
      if ((w[2 * i] & PTE_PRESENT) !== 0) checkEntry(m, owner, o.vgpus, i, out);
    }
  }
  return out;
}

/**
 * Check a vGPU's shadow PPGTT: every shadow table's present entries name, one level down, a
 * shadow table of the same vGPU or its scratch table; PT entries (and direct 2 MiB entries) name
 * frames of the vGPU's RAM or its scratch page; every live mm's roots are its shadow tables or
 * scratch. Returns violations (at most `limit`).
 */
export function checkShadowPpgtt(v: Vgpu, out: Violation[] = [], limit = 16): Violation[] {
  const mgr = v.ppgtt;
  if (mgr.disposed) return out;
  const pages = ppgttPages(mgr);
  const scratch = mgr.scratchMfns;
  const ept = v.ept;
  const start = out.length;
  const bad = (what: string): void => {
    if (out.length - start < limit) out.push({ invariant: INVARIANTS.PPGTT_FOREIGN_FRAME, message: `${v.name}: ${what}` });
  };
  let seen = verified.get(mgr);
  if (!seen) {
    seen = new WeakMap();
    verified.set(mgr, seen);
  }
  // A page verified before and unchanged since is skipped: the frames it names were the vGPU's
  // then; a frame a leaf names stays the vGPU's until its EPT unmaps it, which rewrites the entry
  // (the unmap listener); a child table a non-leaf names could only go away by a free, so any free
  // of a shadow page since (counted) makes every page be verified again.
  const c = mgr.counters;
  const setKey = c.shadowPagesAllocated - c.shadowPages;
  for (const p of pages.values()) {
    if (p.freed) continue;
    const s = p.shadow;
    let h = 0x811c9dc5 ^ p.level ^ setKey;
    for (let k = 0; k < 1024; k++) h = Math.imul(h ^ s[k], 16777619);
    if (seen.get(p) === h) continue;
    const before = out.length;
    for (let k = 0; k < 1024; k += 2) {
      const lo = s[k];
      if ((lo & PTE_PRESENT) === 0) continue;
      const f = frameOf(lo, s[k + 1]);
      if (p.level === 1) {
        if (f !== scratch[0] && !ept.ownsMfn(f)) bad(`shadow PT 0x${p.mfn.toString(16)} entry ${k >>> 1} names frame 0x${f.toString(16)}`);
      } else if (p.level === 2 && (lo & PDE_PS) !== 0) {
        // A 2 MiB page starts at bit 21, as the walker reads it: bit 12 is its PAT bit, not address.
        const base = f & ~511;
        let own = true;
        for (let j = 0; j < 512 && own; j++) own = ept.ownsMfn(base + j);
        if (!own) bad(`shadow PD 0x${p.mfn.toString(16)} 2 MiB entry ${k >>> 1} names frames from 0x${base.toString(16)} it does not own`);
      } else {
        const child = pages.get(f);
        const ok = f === scratch[p.level - 1] || (child !== undefined && !child.freed && child.level === p.level - 1);
        if (!ok) bad(`shadow level-${p.level} table 0x${p.mfn.toString(16)} entry ${k >>> 1} names frame 0x${f.toString(16)} (not a level-${p.level - 1} shadow table of ${v.name})`);
      }
      if (out.length - start >= limit) return out;
    }
    if (out.length === before) seen.set(p, h);
  }
  for (const mm of ppgttMms(mgr)) {
    if (mm.destroyed) continue;
    const level = mm.mode === 3 ? 4 : 2;
    for (const r of mm.shadowRoots) {
      const f = Math.floor(r / PAGE_SIZE);
      const page = pages.get(f);
      if (!(f === scratch[level] || (page !== undefined && !page.freed && page.level === level))) {
        bad(`mm ${mm.key} root 0x${r.toString(16)} is not a level-${level} shadow table of ${v.name}`);
      }
    }
  }
  return out;
}

/**
 * Host frames held for vGPU `v` beyond its guest RAM frames: shadow tables (guest tables and split
 * 2 MiB PTs) and scratch frames. The bound the checker applies is `guestFrames + slack`: one
 * shadow table per guest frame at most (a guest page is shadowed at one level only), plus scratch.
 */
export function shadowFramesHeld(v: Vgpu): number {
  return ppgttPages(v.ppgtt).size + v.ppgtt.scratchMfns.length + 1;
}
