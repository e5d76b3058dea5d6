/**
 * Workload generators: modelled guest drivers that drive a `TestGuest` on the simulated clock the
 * way a game, a video player, a copy stream, a desktop, a bursty app or a misbehaving guest would.
 *
 * Every generator writes each batch into a PPGTT-mapped buffer of its own RAM with one guest RAM
 * write, starts it from the engine's ring (MI_BATCH_BUFFER_START + MI_NOOP) and submits through
 * the ELSP. Buffers come from a small pool per engine and are reused only after the workload that
 * used them finished (the mediator copies a batch when it dispatches it, not when it is submitted).
 * At most two submissions per engine are outstanding (the two execlist ports), so each submission
 * is one mediator workload; frame-based kinds tag the workload that ends a frame (`frameEnd`).
 *
 * | kind | engines | what one unit is |
 * |---|---|---|
 * | `game` | RCS (+ BCS present) | a frame: PIPE_CONTROL, PIPELINE_SELECT, STATE_BASE_ADDRESS, 3DSTATE_* setup, `draws` × (vertex buffers, constants, 3DPRIMITIVE) with material changes (shaders, bindings, vertex layout), MI_ARB_CHECK preemption points, a flush and a PIPE_CONTROL post-sync write of the frame number; then a present on BCS: the back scanout buffer cleared, the scene, the name and the frame number drawn with XY_COLOR_BLT, an MI_FLUSH_DW post-sync write, and a flip to it (one present at a time, in frame order). At `fps`, or GPU-bound (`fps: 0`: the next frame as soon as one is presented, two in flight) |
 * | `media` | VCS | a decoded AVC frame: MFX_PIPE_MODE_SELECT, surface, buffer and image state, QM, per slice ref-list/slice state and MFD_AVC_BSD_OBJECT, MFX_WAIT, MI_FLUSH_DW post-sync and MI_STORE_DATA_IMM marking it done |
 * | `blit` | BCS | `blitsPerWorkload` XY_SRC_COPY_BLT of width × height with MI_ARB_CHECK between, MI_FLUSH_DW post-sync |
 * | `idle` | BCS | a desktop update (a 64×64 XY_COLOR_BLT window on its screen, its counter, a flip) every ~`periodMs` (0.5–1.5 × period) |
 * | `bursty` | RCS | bursts (~`burstMs`) of back-to-back render batches of `draws` draws, idle gaps of ~`gapMs` |
 * | `attacker` | BCS + RCS | valid copies at `validRate`, and every `attackEveryMs` the next attack of its list |
 *
 * Screens: every generator lights its guest's monitor in `setup()` (`TestGuest.lightMonitor`: two
 * scanout buffers of the monitor's mode, in the GGTT and the PPGTT) and draws a panel with the
 * guest's name and a counter (`lib/sim/screen.ts`) into the buffer not shown, on BCS, flipping to
 * it when the batch completed: the game at every present, the idle desktop at every update, the
 * other kinds every `SCREEN_REFRESH_MS` (a blit closed loop gives the update a turn in its loop).
 *
 * Attacks (what the mediator should do with each):
 * - `forbidden-lri`: a batch writing RCS RING_HWS_PGA (0x2080) with MI_LOAD_REGISTER_IMM: refused (register whitelist);
 * - `store-outside`: an MI_STORE_DATA_IMM from the ring to GGTT 0x1000, the host's memory: refused (address bounds);
 * - `self-chain`: a batch whose last command starts the batch itself: refused (batch loop);
 * - `unknown-opcode`: a batch whose first dword matches no command (0x1f800000): refused (unknown command);
 * - `ggtt-from-ppgtt`: a PPGTT batch storing through the GGTT: refused (privileged command);
 * - `pte-outside`: a GGTT entry written through BAR0 outside the guest's slices: dropped by the shadow GGTT;
 * - `ppgtt-pte-outside`: a PPGTT entry naming a frame beyond the guest's RAM, then a store through it:
 *   shadowed to the scratch page (the store lands in scratch).
 *
 * A refused workload never runs. With the failsafe policy `never` the vGPU goes on; the modelled
 * guest then does what i915 does after a failed request: it skips it, moving its context's ring
 * head past it (the mediator leaves the head where the refused commands start). With `gvt-g` the
 * vGPU enters failsafe at the first unknown command or bad address and the generator stops.
 *
 * Everything is a function of the generator's `Rng`: the same seed gives the same submissions.
 */
import type { Rng, SimClock } from '../clock.js';
import {
  encodeByName, findCommand, miArbCheck, miBatchBufferEnd, miBatchBufferStart, miFlushDw, miLoadRegisterImm, miNoop,
  miStoreDataImm, pipeControl, PostSyncOp, xyColorBlt, xySrcCopyBlt,
} from '../device/commands/index.js';
import type { EngineName } from '../device/engines.js';
import { CtxReg } from '../device/lrc.js';
import type { GuestBuffer } from '../guest/engine.js';
import type { TestGuest } from '../harness/index.js';
import type { Workload } from '../mediator/workload.js';
import { PTE_PRESENT, PTE_RW, pteHi, pteLo } from '../gtt/pte.js';
import { PAGE_SIZE } from '../types.js';
import { ScreenPainter, type ScreenDraw } from './screen.js';
import type { PixelRect } from './font.js';
import type {
  AttackKind, AttackerWorkload, BlitWorkload, BurstyWorkload, GameWorkload, IdleWorkload, MediaWorkload, WorkloadSpec,
} from './scenario.js';

const MS = 1_000_000;
/** How often the kinds without a frame of their own redraw their panel (a status bar's clock). */
export const SCREEN_REFRESH_MS = 100;
/** Room for one screen batch (colour blits of the panel's glyphs, the scene, the fence). */
const SCREEN_BATCH_BYTES = 32 * 1024;
const MOCS_WB = 2 << 1;
/** PPGTT base of the render heap the 3D and media state points into (addresses the executor does not touch). */
const GPU_HEAP = 0x2_0000_0000;

/** Counters of one generator (what its guest did and what became of it). */
export interface GeneratorStats {
  /** Submissions (each one workload unless ports were busy). */
  submitted: number;
  /** Submissions that completed / failed. */
  completed: number;
  failed: number;
  /** Frames presented (frame-based kinds). */
  frames: number;
  /** Frame timer ticks that found the queue full (the frame started late). */
  late: number;
  /** Attacks tried, by kind. */
  attacks: Record<string, number>;
  /** Failed workloads by rule (audit refusals, hangs, resets). */
  refusedByRule: Record<string, number>;
  /** Ring-head skips after a failed workload (the guest's recovery). */
  recoveries: number;
  /** Commands audited, mediation ns and device busy ns of this guest's workloads. */
  commands: number;
  mediationNs: number;
  busyNs: number;
  /** Completed workloads and their latencies (submission to completion, ns). */
  workloads: number;
  readonly latency: SampleSet;
}

/** A growable set of samples (ns). */
export class SampleSet {
  private buf = new Float64Array(256);
  private n = 0;
  /** Samples recorded. */
  get count(): number {
    return this.n;
  }
  /** Record one sample. */
  add(x: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = x;
  }
  /** The samples, ascending (a copy). */
  sorted(): Float64Array {
    return this.buf.slice(0, this.n).sort();
  }
}

interface PoolBuffer extends GuestBuffer {
  busy: boolean;
}

/** One submission as the guest remembers it. */
interface Submission {
  engine: EngineName;
  /** Ring tail after it (the workload's tail). */
  tail: number;
  frameEnd: boolean;
  buf: PoolBuffer | null;
  /** What to do when it finished (completed or not). */
  then: ((ok: boolean) => void) | null;
}

/**
 * The base of every generator: buffers, submissions, completion matching, recovery, counters.
 * The runner calls `setup()` (allocations, before the measured run), `start()`, then feeds it
 * `onDispatch` / `onDone` for its vGPU's workloads, and `stop()` at the end.
 */
export abstract class WorkloadGenerator {
  readonly guest: TestGuest;
  readonly clock: SimClock;
  readonly rng: Rng;
  readonly stats: GeneratorStats = {
    submitted: 0, completed: 0, failed: 0, frames: 0, late: 0, attacks: {}, refusedByRule: {}, recoveries: 0,
    commands: 0, mediationNs: 0, busyNs: 0, workloads: 0, latency: new SampleSet(),
  };
  /** True when the kind counts frames (its rate metric is frames/s, else workloads/s). */
  abstract readonly frameBased: boolean;
  /** The guest's lit monitor and what draws on it (null until `setupScreen`). */
  protected painter: ScreenPainter | null = null;
  /** Screen updates drawn and flipped. */
  screenUpdates = 0;
  private screenFence = 0;
  private screenBusy = false;
  private stopped = false;
  private readonly pending = new Map<EngineName, Submission[]>();
  private readonly pools = new Map<EngineName, PoolBuffer[]>();

  constructor(guest: TestGuest, rng: Rng) {
    this.guest = guest;
    this.clock = guest.harness.device.clock;
    this.rng = rng;
  }

  /** Allocate buffers and engine contexts (before the measured run). */
  abstract setup(): void;
  /** Start generating (schedule timers, first submissions). */
  abstract start(): void;

  /** Stop generating: no submission after this. */
  stop(): void {
    this.stopped = true;
  }

  /** True while the generator may submit (not stopped, vGPU not in failsafe). */
  get alive(): boolean {
    return !this.stopped && this.guest.vgpu.state === 'active';
  }

  /**
   * Light the guest's monitor as i915 does (`TestGuest.lightMonitor`: two scanout buffers of its
   * mode, bound in the GGTT and the PPGTT) and prepare its painter for `lines` lines of text.
   * Called from `setup()`.
   */
  protected setupScreen(lines: number): void {
    const screen = this.guest.lightMonitor({ buffers: 2 });
    this.painter = new ScreenPainter(screen, this.guest.name, lines);
    this.screenFence = this.guest.ppgttBuffer(PAGE_SIZE).gma;
    this.reserve('bcs', SCREEN_BATCH_BYTES, 2);
  }

  /** The lines the guest's panel shows now (its name and its counter). */
  protected screenLines(): string[] {
    return [this.guest.name];
  }

  /** True when a screen update may start: a monitor, none in flight, fewer than two BCS submissions outstanding. */
  protected get screenIdle(): boolean {
    return this.painter !== null && !this.screenBusy && this.outstanding('bcs') < 2;
  }

  /**
   * Draw the panel (and the game scene of `sceneFrame`, and `rects`) into the buffer that is not
   * shown, on BCS, and flip to it when the batch completed (a PLANE_SURF write). One update at a
   * time; `then` runs after the flip.
   */
  protected presentScreen(opts: { sceneFrame?: number; full?: boolean; rects?: readonly { rect: PixelRect; color: number }[]; frameEnd?: boolean; then?: (ok: boolean) => void } = {}): void {
    const p = this.painter!;
    const index = p.backIndex;
    const draw: ScreenDraw = { lines: this.screenLines(), sceneFrame: opts.sceneFrame, full: opts.full, rects: opts.rects, fence: this.screenFence, fenceValue: this.screenUpdates + 1 };
    this.screenBusy = true;
    this.submitBatch('bcs', p.batch(index, draw), {
      frameEnd: opts.frameEnd,
      then: (ok) => {
        this.screenBusy = false;
        if (ok && this.guest.vgpu.state === 'active') {
          p.flip(index);
          this.screenUpdates++;
        }
        opts.then?.(ok);
      },
    });
  }

  /** Redraw the panel every `SCREEN_REFRESH_MS` while alive (kinds whose work is not a screen of its own). */
  protected startScreenRefresh(): void {
    if (!this.painter) return;
    const tick = (): void => {
      if (this.screenIdle) this.presentScreen();
      this.after(SCREEN_REFRESH_MS * MS, tick);
    };
    this.after(SCREEN_REFRESH_MS * MS, tick);
  }

  /** Submissions outstanding on `engine`. */
  outstanding(engine: EngineName): number {
    return this.pending.get(engine)?.length ?? 0;
  }

  /** Schedule `fn` in `delayNs` while alive. */
  protected after(delayNs: number, fn: () => void): void {
    this.clock.schedule(Math.max(0, delayNs), () => {
      if (this.alive) fn();
    });
  }

  /** Pre-allocate `count` batch buffers of `bytes` for `engine`. */
  protected reserve(engine: EngineName, bytes: number, count: number): void {
    this.guest.engine(engine);
    const pool = this.poolOf(engine);
    for (let i = 0; i < count; i++) pool.push({ ...this.guest.ppgttBuffer(bytes), busy: false });
  }

  private poolOf(engine: EngineName): PoolBuffer[] {
    let p = this.pools.get(engine);
    if (!p) {
      p = [];
      this.pools.set(engine, p);
    }
    return p;
  }

  private acquire(engine: EngineName, bytes: number): PoolBuffer {
    const pool = this.poolOf(engine);
    for (const b of pool) if (!b.busy && b.bytes >= bytes) {
      b.busy = true;
      return b;
    }
    const b: PoolBuffer = { ...this.guest.ppgttBuffer(bytes), busy: true };
    pool.push(b);
    return b;
  }

  /**
   * Write `batch` (ending in MI_BATCH_BUFFER_END, qword padded) into a pool buffer with one guest
   * RAM write, start it from the ring through the PPGTT and submit. `patch` rewrites the batch in
   * place once its buffer is known (self-referencing batches).
   */
  protected submitBatch(engine: EngineName, batch: Uint32Array, opts: { frameEnd?: boolean; then?: (ok: boolean) => void; patch?: (b: Uint32Array, gma: number) => void } = {}): void {
    const buf = this.acquire(engine, batch.length * 4);
    opts.patch?.(batch, buf.gma);
    this.guest.driver.writeRam32(buf.gpa, batch);
    this.submitRing(engine, [...miBatchBufferStart(buf.gma, { ppgtt: true }), ...miNoop()], { ...opts, buf });
  }

  /** Append `commands` to the engine's ring and submit them. */
  protected submitRing(engine: EngineName, commands: readonly number[], opts: { frameEnd?: boolean; then?: (ok: boolean) => void; buf?: PoolBuffer } = {}): void {
    const e = this.guest.engine(engine);
    e.emit(commands);
    e.submit();
    let q = this.pending.get(engine);
    if (!q) {
      q = [];
      this.pending.set(engine, q);
    }
    q.push({ engine, tail: e.tail, frameEnd: opts.frameEnd ?? false, buf: opts.buf ?? null, then: opts.then ?? null });
    this.stats.submitted++;
  }

  /** The mediator dispatched one of this guest's workloads: tag frame ends (the scheduler counts frames for fps caps). */
  onDispatch(w: Workload): void {
    const q = this.pending.get(w.engine.name as EngineName);
    if (!q) return;
    let frame = false;
    for (const s of q) {
      frame ||= s.frameEnd;
      if (s.tail === w.tail) break;
    }
    w.frameEnd = frame;
  }

  /** One of this guest's workloads finished (completed or failed). */
  onDone(w: Workload): void {
    const engine = w.engine.name as EngineName;
    const st = this.stats;
    st.commands += w.commands;
    st.mediationNs += w.mediationNs;
    st.busyNs += w.busyNs;
    const ok = w.status === 'completed';
    if (ok) {
      st.workloads++;
      st.latency.add(w.completedAt - w.submittedAt);
    } else if (w.failure) {
      st.refusedByRule[w.failure.rule] = (st.refusedByRule[w.failure.rule] ?? 0) + 1;
    }
    const q = this.pending.get(engine);
    if (!q || q.length === 0) return;
    const lost = !ok && w.failure !== null && (w.failure.rule === 'watchdog' || w.failure.rule === 'reset');
    const done: Submission[] = [];
    if (lost) {
      // An engine reset dropped this guest's other work on the engine without a word: all lost.
      done.push(...q.splice(0, q.length));
    } else {
      while (q.length) {
        const s = q.shift()!;
        done.push(s);
        if (s.tail === w.tail) break;
      }
    }
    if (!ok && q.length === 0) this.skipRing(engine);
    for (const s of done) {
      if (s.buf) s.buf.busy = false;
      if (ok) {
        st.completed++;
        if (s.frameEnd) st.frames++;
      } else {
        st.failed++;
      }
    }
    for (const s of done) if (s.then && !this.stopped) s.then(ok);
  }

  /**
   * The guest's recovery from a failed request (i915's reset path skips the guilty request): move
   * the context's ring head to the ring tail, so the next submission does not start with the
   * refused commands again.
   */
  private skipRing(engine: EngineName): void {
    if (this.guest.vgpu.state !== 'active') return;
    const e = this.guest.engine(engine);
    if (e.head === e.tail) return;
    const d = this.guest.driver;
    d.writeRam32(d.gpaOfGma(e.context.gma + PAGE_SIZE + (CtxReg.RING_HEAD + 1) * 4), [e.tail]);
    this.stats.recoveries++;
  }

  protected count(map: Record<string, number>, key: string): void {
    map[key] = (map[key] ?? 0) + 1;
  }
}

// ------------------------------------------------------------------ command streams

/** Collects encoded commands. */
class Stream {
  private parts: number[] = [];
  emit(cmd: readonly number[]): number {
    const at = this.parts.length;
    for (let k = 0; k < cmd.length; k++) this.parts.push(cmd[k]);
    return at;
  }
  /** A table command with a body of its nominal length, filled by `fill(dword index)`. */
  state(name: string, fill: (k: number) => number = () => 0): void {
    const info = findCommand(name);
    const n = info && info.nominalLength > 0 ? info.nominalLength : 1;
    const body: number[] = [];
    for (let k = 1; k < n; k++) body.push(fill(k) >>> 0);
    this.emit(encodeByName(name, body));
  }
  get length(): number {
    return this.parts.length;
  }
  /** End the batch (MI_BATCH_BUFFER_END, padded to a qword). */
  finish(): Uint32Array {
    this.emit(miBatchBufferEnd());
    if (this.parts.length % 2) this.emit(miNoop());
    return Uint32Array.from(this.parts);
  }
}

function hi32(a: number): number {
  return Math.floor(a / 2 ** 32);
}

/** The render pipeline setup at the start of a frame (no LRI: the guest's context already holds its registers). */
function renderSetup(w: Stream, width: number, height: number): void {
  w.emit(pipeControl({ commandStreamerStall: true, renderTargetCacheFlush: true, dcFlush: true, depthCacheFlush: true }));
  w.emit(encodeByName('PIPELINE_SELECT', [], 0x3 << 8));
  const base = (offset: number): number[] => [((GPU_HEAP + offset) >>> 0) | (MOCS_WB << 4) | 1, hi32(GPU_HEAP + offset)];
  w.emit(encodeByName('STATE_BASE_ADDRESS', [
    ...base(0), MOCS_WB << 16, ...base(0x100000), ...base(0x200000), ...base(0x300000), ...base(0x400000),
    0xfffff001, 0xfffff001, 0xfffff001, 0xfffff001, ...base(0x500000), 0x1000 << 12,
  ]));
  w.state('3DSTATE_VF_STATISTICS');
  w.state('3DSTATE_DRAWING_RECTANGLE', (k) => (k === 2 ? ((height - 1) << 16) | (width - 1) : 0));
  for (const [stage, at] of [['VS', 2], ['HS', 64], ['DS', 64], ['GS', 64]] as const) {
    w.state(`3DSTATE_URB_${stage}`, () => (at << 25) | (3 << 16) | (stage === 'VS' ? 640 : 0));
  }
  for (const stage of ['VS', 'HS', 'DS', 'GS', 'PS']) w.state(`3DSTATE_PUSH_CONSTANT_ALLOC_${stage}`, () => (4 << 16) | 4);
  w.state('3DSTATE_MULTISAMPLE');
  w.state('3DSTATE_SAMPLE_MASK', () => 1);
  w.state('3DSTATE_DEPTH_BUFFER', (k) => (k === 2 ? (GPU_HEAP + 0x0200_0000) >>> 0 : k === 3 ? hi32(GPU_HEAP + 0x0200_0000) : k === 4 ? ((height - 1) << 18) | ((width - 1) << 4) : 0));
  w.state('3DSTATE_CLEAR_PARAMS', (k) => (k === 1 ? 0x3f800000 : 1));
  w.state('3DSTATE_VIEWPORT_STATE_POINTERS_CC', () => 0x1c0);
  w.state('3DSTATE_VIEWPORT_STATE_POINTERS_SF_CLIP', () => 0x200);
  w.state('3DSTATE_SCISSOR_STATE_POINTERS', () => 0x240);
  for (const name of ['3DSTATE_HS', '3DSTATE_TE', '3DSTATE_DS', '3DSTATE_GS', '3DSTATE_STREAMOUT']) w.state(name);
  w.state('3DSTATE_CLIP', (k) => (k === 2 ? (1 << 31) | (1 << 26) : 0));
  w.state('3DSTATE_SF', (k) => (k === 1 ? (1 << 1) | (0x80 << 12) : 0));
  w.state('3DSTATE_RASTER', (k) => (k === 1 ? (3 << 16) | (1 << 21) : 0));
  w.state('3DSTATE_WM', () => 1 << 11);
  w.state('3DSTATE_WM_DEPTH_STENCIL', (k) => (k === 1 ? (4 << 5) | 3 : 0));
  w.state('3DSTATE_PS_BLEND', () => 1 << 30);
  w.state('3DSTATE_BLEND_STATE_POINTERS', () => 0x280 | 1);
  w.state('3DSTATE_CC_STATE_POINTERS', () => 0x2c0 | 1);
  w.state('3DSTATE_VF_TOPOLOGY', () => 4);
}

/** A material change: shaders, their constants, bindings and vertex layout. */
function material(w: Stream, rng: Rng, m: number): void {
  const kernel = 0x10000 + m * 0x800;
  w.state('3DSTATE_VS', (k) => (k === 1 ? kernel : k === 7 ? (0x3f << 23) | 1 : 0));
  w.state('3DSTATE_CONSTANT_VS', (k) => (k === 1 ? 4 : k === 3 ? (GPU_HEAP + 0x700000 + m * 0x400) >>> 0 : k === 4 ? hi32(GPU_HEAP) : 0));
  w.state('3DSTATE_BINDING_TABLE_POINTERS_VS', () => 0x40 * m);
  w.state('3DSTATE_SAMPLER_STATE_POINTERS_VS', () => 0x20 * m);
  w.state('3DSTATE_SBE', (k) => (k === 1 ? (1 << 22) | (1 << 21) | (1 << 11) : 0));
  w.state('3DSTATE_PS', (k) => (k === 1 ? kernel + 0x400 : k === 7 ? 6 << 16 : 0));
  w.state('3DSTATE_PS_EXTRA', () => (1 << 31) | (1 << 8));
  w.state('3DSTATE_BINDING_TABLE_POINTERS_PS', () => 0x40 * m + 0x1000);
  w.state('3DSTATE_SAMPLER_STATE_POINTERS_PS', () => 0x20 * m + 0x800);
  const elements = 2 + rng.int(3);
  const ve: number[] = [];
  for (let e = 0; e < elements; e++) ve.push(((e === 0 ? 0 : 1) << 26) | (1 << 25) | (0x0c0 << 16) | (e * 12), (1 << 28) | (1 << 24) | (1 << 20) | (1 << 16));
  w.emit(encodeByName('3DSTATE_VERTEX_ELEMENTS', ve));
}

/** A render batch: setup, `draws` draws with state changes, end-of-frame flush and a post-sync write of `fence`. Returns the batch and the index of the fence value. */
export function renderBatch(rng: Rng, draws: number, opts: { drawsPerMaterial: number; arbEvery: number; width: number; height: number; fence: number }): { batch: Uint32Array; fenceIndex: number } {
  const w = new Stream();
  renderSetup(w, opts.width, opts.height);
  for (let d = 0; d < draws; d++) {
    if (d === 0 || rng.int(opts.drawsPerMaterial) === 0) material(w, rng, rng.int(64));
    const vb: number[] = [];
    for (let v = 0; v < 2; v++) {
      const a = GPU_HEAP + 0x0400_0000 + rng.int(0x10000) * 64;
      vb.push((v << 26) | (MOCS_WB << 16) | (1 << 14) | (v === 0 ? 32 : 16), a >>> 0, hi32(a), 0x10000 + rng.int(0x40000));
    }
    w.emit(encodeByName('3DSTATE_VERTEX_BUFFERS', vb));
    w.state('3DSTATE_CONSTANT_VS', (k) => (k === 1 ? 4 : k === 3 ? (GPU_HEAP + 0x900000 + (d & 0xfff) * 0x100) >>> 0 : k === 4 ? hi32(GPU_HEAP) : 0));
    const count = 3 * (10 + rng.int(2000));
    w.emit(encodeByName('3DPRIMITIVE', [4, count, rng.int(1000) * 3, 1, 0, 0]));
    if (opts.arbEvery > 0 && d % opts.arbEvery === opts.arbEvery - 1) w.emit(miArbCheck());
  }
  w.emit(pipeControl({ renderTargetCacheFlush: true, depthCacheFlush: true, dcFlush: true, commandStreamerStall: true }));
  const at = w.emit(pipeControl({ commandStreamerStall: true, postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: opts.fence, data: 0 }));
  return { batch: w.finish(), fenceIndex: at + 4 };
}

/** A copy batch: `count` XY_SRC_COPY_BLT of width × height (32 bpp) from `src` to `dst`, then an MI_FLUSH_DW post-sync write of `fence`. */
export function copyBatch(count: number, o: { src: number; dst: number; width: number; height: number; fence: number }): { batch: Uint32Array; fenceIndex: number } {
  const w = new Stream();
  const pitch = o.width * 4;
  for (let n = 0; n < count; n++) {
    w.emit(xySrcCopyBlt({ dstAddress: o.dst, dstPitch: pitch, dst: { x1: 0, y1: 0, x2: o.width, y2: o.height }, srcAddress: o.src, srcPitch: pitch, srcX: 0, srcY: 0 }));
    if (n + 1 < count) w.emit(miArbCheck());
  }
  const at = w.emit(miFlushDw({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: o.fence, data: 0 }));
  return { batch: w.finish(), fenceIndex: at + 3 };
}

/** A video batch decoding one AVC frame. */
export function mediaBatch(rng: Rng, frame: number, o: { slices: number; gop: number; fence: number }): { batch: Uint32Array; fenceIndex: number } {
  const w = new Stream();
  const surf = GPU_HEAP + 0x0400_0000;
  const lo = (a: number): number => a >>> 0;
  w.emit(miFlushDw({ videoPipelineCacheInvalidate: true }));
  w.state('MFX_PIPE_MODE_SELECT', (k) => (k === 1 ? 2 | (1 << 9) : 0));
  w.state('MFX_SURFACE_STATE', (k) => (k === 2 ? (1079 << 18) | (1919 << 4) : k === 3 ? (4 << 28) | (1919 << 3) | 3 : 0));
  w.state('MFX_PIPE_BUF_ADDR_STATE', (k) => (k % 3 === 1 ? lo(surf + ((k * 0x20000) & 0x3ffffff)) : k % 3 === 2 ? hi32(surf) : MOCS_WB));
  w.state('MFX_IND_OBJ_BASE_ADDR_STATE', (k) => (k === 1 ? lo(GPU_HEAP + 0x0800_0000 + (frame & 0xff) * 0x10000) : k === 2 ? hi32(GPU_HEAP) : 0));
  w.state('MFX_BSP_BUF_BASE_ADDR_STATE', (k) => (k % 3 === 1 ? lo(GPU_HEAP + 0x0a00_0000 + k * 0x1000) : k % 3 === 2 ? hi32(GPU_HEAP) : 0));
  w.state('MFX_AVC_IMG_STATE', (k) => (k === 1 ? 8159 : k === 2 ? (67 << 16) | 119 : 0));
  for (let m = 0; m < 4; m++) w.state('MFX_QM_STATE', (k) => (k === 1 ? m : 0x10101010));
  const pFrame = frame % o.gop !== 0;
  for (let s = 0; s < o.slices; s++) {
    if (pFrame) w.state('MFX_AVC_REF_IDX_STATE', (k) => (k === 1 ? 0 : 0x80808080));
    w.state('MFX_AVC_SLICE_STATE', (k) => (k === 1 ? (pFrame ? 0 : 2) : k === 3 ? 26 << 16 : k === 4 ? s * 1020 : 0));
    w.state('MFD_AVC_BSD_OBJECT', (k) => (k === 1 ? 0x400 + rng.int(0x10000) : k === 2 ? rng.int(0x100000) & ~3 : 0));
  }
  w.emit(encodeByName('MFX_WAIT', [], 1 << 8));
  const at = w.emit(miFlushDw({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: o.fence, data: 0 }));
  w.emit(miStoreDataImm(o.fence + 8, [frame >>> 0]));
  return { batch: w.finish(), fenceIndex: at + 3 };
}

// ------------------------------------------------------------------ the kinds

/** A 3D frame loop with a present blit. */
export class GameGenerator extends WorkloadGenerator {
  readonly frameBased = true;
  readonly p: GameWorkload;
  private variants: { batch: Uint32Array; fenceIndex: number }[] = [];
  /** Rendered frames waiting for their present (one present at a time). */
  private readonly toPresent: number[] = [];
  /** The frame the present being drawn shows. */
  private presenting = 0;
  private inFlight = 0;
  private lateTick = false;
  private frame = 0;

  constructor(guest: TestGuest, rng: Rng, p: GameWorkload) {
    super(guest, rng);
    this.p = p;
  }

  setup(): void {
    const p = this.p;
    const fence = this.guest.ppgttBuffer(PAGE_SIZE);
    // A few frame variants (different scenes), picked per frame: generating a frame costs nothing per frame.
    for (let v = 0; v < 4; v++) {
      this.variants.push(renderBatch(this.rng, p.draws, { drawsPerMaterial: p.drawsPerMaterial, arbEvery: p.arbEvery, width: p.width, height: p.height, fence: fence.gma }));
    }
    const longest = Math.max(...this.variants.map((x) => x.batch.length));
    this.reserve('rcs', longest * 4, p.maxFramesInFlight + 1);
    this.setupScreen(2);
  }

  protected override screenLines(): string[] {
    // Without a present of its own ('none') the panel counts the frames rendered.
    return [this.guest.name, `FRAME ${this.p.present === 'blit' ? this.presenting : this.stats.frames}`];
  }

  start(): void {
    const p = this.p;
    if (p.fps > 0) {
      const period = 1e9 / p.fps;
      const tick = (): void => {
        if (this.inFlight < p.maxFramesInFlight) this.submitFrame();
        else {
          this.stats.late++;
          this.lateTick = true;
        }
        this.after(period, tick);
      };
      this.after(this.rng.int(Math.floor(period)), tick);
    } else {
      for (let i = 0; i < p.maxFramesInFlight; i++) this.submitFrame();
    }
    if (p.present === 'none') this.startScreenRefresh();
  }

  private submitFrame(): void {
    if (!this.alive) return;
    const v = this.variants[this.rng.int(this.variants.length)];
    const n = ++this.frame;
    v.batch[v.fenceIndex] = n;
    this.inFlight++;
    const presentFrame = this.p.present === 'blit';
    this.submitBatch('rcs', v.batch, {
      frameEnd: !presentFrame,
      then: (ok) => {
        if (ok && presentFrame && this.alive) {
          this.toPresent.push(n);
          this.nextPresent();
        } else this.frameDone();
      },
    });
  }

  /**
   * Present the oldest rendered frame when no present is in flight: clear the back buffer, draw
   * the scene, the name and the frame number on BCS, flip to it when done (`presentScreen`).
   */
  private nextPresent(): void {
    if (this.toPresent.length === 0 || !this.screenIdle || !this.alive) return;
    const n = this.toPresent.shift()!;
    this.presenting = n;
    this.presentScreen({
      sceneFrame: n, full: true, frameEnd: true,
      then: () => {
        this.frameDone();
        this.nextPresent();
      },
    });
  }

  private frameDone(): void {
    this.inFlight--;
    if (!this.alive) return;
    if (this.p.fps === 0) this.submitFrame();
    else if (this.lateTick) {
      this.lateTick = false;
      this.submitFrame();
    }
  }
}

/** A video decode stream. */
export class MediaGenerator extends WorkloadGenerator {
  readonly frameBased = true;
  readonly p: MediaWorkload;
  private fence = 0;
  private frame = 0;
  private lateTick = false;

  constructor(guest: TestGuest, rng: Rng, p: MediaWorkload) {
    super(guest, rng);
    this.p = p;
  }

  setup(): void {
    this.fence = this.guest.ppgttBuffer(PAGE_SIZE).gma;
    const probe = mediaBatch(this.rng, 1, { slices: this.p.slices, gop: this.p.gop, fence: this.fence });
    this.reserve('vcs', probe.batch.length * 4, 3);
    this.setupScreen(2);
  }

  protected override screenLines(): string[] {
    return [this.guest.name, `FRAMES ${this.stats.frames}`];
  }

  start(): void {
    this.startScreenRefresh();
    const period = 1e9 / this.p.fps;
    const tick = (): void => {
      if (this.outstanding('vcs') < 2) this.submitFrame();
      else {
        this.stats.late++;
        this.lateTick = true;
      }
      this.after(period, tick);
    };
    this.after(this.rng.int(Math.floor(period)), tick);
  }

  private submitFrame(): void {
    const n = this.frame++;
    const b = mediaBatch(this.rng, n, { slices: this.p.slices, gop: this.p.gop, fence: this.fence });
    b.batch[b.fenceIndex] = n;
    this.submitBatch('vcs', b.batch, {
      frameEnd: true,
      then: () => {
        if (this.lateTick && this.alive) {
          this.lateTick = false;
          this.submitFrame();
        }
      },
    });
  }
}

/** A blitter copy stream. */
export class BlitGenerator extends WorkloadGenerator {
  readonly frameBased = false;
  readonly p: BlitWorkload;
  private batch: { batch: Uint32Array; fenceIndex: number } | null = null;
  private seq = 0;
  /** Blits completed (the counter its screen shows). */
  private blits = 0;
  private nextScreenAt = 0;
  private screenPending = false;

  constructor(guest: TestGuest, rng: Rng, p: BlitWorkload) {
    super(guest, rng);
    this.p = p;
  }

  setup(): void {
    const p = this.p;
    const bytes = p.width * p.height * 4;
    const src = this.guest.ppgttBuffer(bytes), dst = this.guest.ppgttBuffer(bytes), fence = this.guest.ppgttBuffer(PAGE_SIZE);
    this.batch = copyBatch(p.blitsPerWorkload, { src: src.gma, dst: dst.gma, width: p.width, height: p.height, fence: fence.gma });
    this.reserve('bcs', this.batch.batch.length * 4, 3);
    this.setupScreen(2);
  }

  protected override screenLines(): string[] {
    return [this.guest.name, `BLITS ${this.blits}`];
  }

  start(): void {
    if (this.p.rate > 0) {
      this.startScreenRefresh();
      const period = 1e9 / this.p.rate;
      const tick = (): void => {
        if (this.outstanding('bcs') < 2) this.submitOne(false);
        else this.stats.late++;
        this.after(period, tick);
      };
      this.after(this.rng.int(Math.floor(period)), tick);
    } else {
      this.submitOne(true);
      this.submitOne(true);
    }
  }

  private submitOne(loop: boolean): void {
    // A closed loop keeps both ports busy: its screen update takes a turn in the loop.
    if (loop && this.painter && this.clock.now >= this.nextScreenAt && !this.screenPending) {
      this.nextScreenAt = this.clock.now + SCREEN_REFRESH_MS * MS;
      this.screenPending = true;
      this.presentScreen({ then: () => {
        this.screenPending = false;
        if (this.alive) this.submitOne(true);
      } });
      return;
    }
    const b = this.batch!;
    b.batch[b.fenceIndex] = ++this.seq;
    this.submitBatch('bcs', b.batch, {
      then: (ok) => {
        if (ok) this.blits += this.p.blitsPerWorkload;
        if (loop && this.alive) this.submitOne(true);
      },
    });
  }
}

/** A desktop: small updates now and then. */
export class IdleGenerator extends WorkloadGenerator {
  readonly frameBased = true;
  readonly p: IdleWorkload;
  /** Updates drawn (the counter its screen shows). */
  private updates = 0;

  constructor(guest: TestGuest, rng: Rng, p: IdleWorkload) {
    super(guest, rng);
    this.p = p;
  }

  setup(): void {
    this.setupScreen(2);
  }

  protected override screenLines(): string[] {
    return [this.guest.name, `UPDATES ${this.updates}`];
  }

  start(): void {
    const next = (): number => this.p.periodMs * MS * (0.5 + this.rng.next());
    const tick = (): void => {
      if (this.screenIdle) {
        // A desktop update: a 64x64 window in a new colour somewhere below the panel, the panel's
        // counter, then the flip.
        const scene = this.painter!.layout.scene;
        const x = scene.x + this.rng.int(Math.max(1, scene.w - 64)), y = scene.y + this.rng.int(Math.max(1, scene.h - 64));
        const color = (this.rng.nextU32() | 0xff000000) >>> 0;
        this.updates++;
        this.presentScreen({ rects: [{ rect: { x, y, w: 64, h: 64 }, color }], frameEnd: true });
      } else this.stats.late++;
      this.after(next(), tick);
    };
    this.after(next(), tick);
  }
}

/** Bursts of render work separated by idle gaps. */
export class BurstyGenerator extends WorkloadGenerator {
  readonly frameBased = true;
  readonly p: BurstyWorkload;
  private variants: { batch: Uint32Array; fenceIndex: number }[] = [];
  private burstEnd = 0;
  private seq = 0;

  constructor(guest: TestGuest, rng: Rng, p: BurstyWorkload) {
    super(guest, rng);
    this.p = p;
  }

  setup(): void {
    const fence = this.guest.ppgttBuffer(PAGE_SIZE).gma;
    for (let v = 0; v < 2; v++) this.variants.push(renderBatch(this.rng, this.p.draws, { drawsPerMaterial: 20, arbEvery: 64, width: 1024, height: 768, fence }));
    this.reserve('rcs', Math.max(...this.variants.map((x) => x.batch.length)) * 4, 3);
    this.setupScreen(2);
  }

  protected override screenLines(): string[] {
    return [this.guest.name, `BATCHES ${this.seq}`];
  }

  start(): void {
    this.startScreenRefresh();
    this.after(this.rng.int(Math.max(1, Math.floor(this.p.gapMs * MS))), () => this.burst());
  }

  private burst(): void {
    this.burstEnd = this.clock.now + this.p.burstMs * MS * (0.5 + this.rng.next());
    this.submitOne();
    this.submitOne();
  }

  private submitOne(): void {
    if (!this.alive) return;
    const v = this.variants[this.rng.int(this.variants.length)];
    v.batch[v.fenceIndex] = ++this.seq;
    this.submitBatch('rcs', v.batch, {
      frameEnd: true,
      then: () => {
        if (!this.alive) return;
        if (this.clock.now < this.burstEnd) this.submitOne();
        else if (this.outstanding('rcs') === 0) this.after(this.p.gapMs * MS * (0.5 + this.rng.next()), () => this.burst());
      },
    });
  }
}

/** A misbehaving guest: valid copies with attacks interleaved. */
export class AttackerGenerator extends WorkloadGenerator {
  readonly frameBased = false;
  readonly p: AttackerWorkload;
  private valid: { batch: Uint32Array; fenceIndex: number } | null = null;
  private own = 0;
  private scratchGma = 0;
  private spareGpa = 0;
  private next = 0;
  private seq = 0;

  constructor(guest: TestGuest, rng: Rng, p: AttackerWorkload) {
    super(guest, rng);
    this.p = p;
  }

  setup(): void {
    const p = this.p;
    const bytes = p.width * p.height * 4;
    const src = this.guest.ppgttBuffer(bytes), dst = this.guest.ppgttBuffer(bytes), fence = this.guest.ppgttBuffer(PAGE_SIZE);
    this.valid = copyBatch(1, { src: src.gma, dst: dst.gma, width: p.width, height: p.height, fence: fence.gma });
    this.reserve('bcs', this.valid.batch.length * 4, 3);
    this.reserve('rcs', PAGE_SIZE, 2);
    this.own = this.guest.buffer(PAGE_SIZE).gma;
    this.scratchGma = this.guest.ppgttBuffer(PAGE_SIZE).gma;
    this.spareGpa = this.guest.driver.allocRam(1);
    this.setupScreen(3);
  }

  protected override screenLines(): string[] {
    let attacks = 0;
    for (const k in this.stats.attacks) attacks += this.stats.attacks[k];
    return [this.guest.name, `ATTACKS ${attacks}`, `REFUSED ${this.stats.failed}`];
  }

  start(): void {
    const p = this.p;
    this.startScreenRefresh();
    if (p.validRate > 0) {
      const period = 1e9 / p.validRate;
      const tick = (): void => {
        if (this.outstanding('bcs') < 2) {
          const v = this.valid!;
          v.batch[v.fenceIndex] = ++this.seq;
          this.submitBatch('bcs', v.batch);
        } else this.stats.late++;
        this.after(period, tick);
      };
      this.after(this.rng.int(Math.floor(period)), tick);
    }
    const attack = (): void => {
      // One attack at a time: the guest waits for the previous one to be answered.
      if (this.outstanding('rcs') === 0) this.attack(p.attacks[this.next++ % p.attacks.length]);
      this.after(p.attackEveryMs * MS, attack);
    };
    this.after(this.rng.int(Math.floor(p.attackEveryMs * MS)), attack);
  }

  /** Try attack `kind`. */
  attack(kind: AttackKind): void {
    this.count(this.stats.attacks, kind);
    const g = this.guest;
    const w = new Stream();
    switch (kind) {
      case 'forbidden-lri':
        w.emit(miLoadRegisterImm([[0x2080, 0]]));
        this.submitBatch('rcs', w.finish());
        return;
      case 'store-outside':
        this.submitRing('rcs', miStoreDataImm(0x1000, [0xbad], { ggtt: true }));
        return;
      case 'self-chain':
        w.emit(miNoop());
        w.emit(miBatchBufferStart(0, { ppgtt: true }));
        w.emit(miNoop());
        this.submitBatch('rcs', w.finish(), { patch: (b, gma) => b.set(miBatchBufferStart(gma, { ppgtt: true }), 1) });
        return;
      case 'unknown-opcode':
        w.emit([0x1f800000, 0]);
        this.submitBatch('rcs', w.finish());
        return;
      case 'ggtt-from-ppgtt':
        w.emit(miStoreDataImm(this.own, [0xbad], { ggtt: true }));
        this.submitBatch('rcs', w.finish());
        return;
      case 'pte-outside': {
        // A GGTT entry of the host's low graphics memory, pointing at the guest's own RAM.
        const frame = this.spareGpa / PAGE_SIZE;
        g.driver.writePte(1, pteLo(frame, PTE_PRESENT), pteHi(frame));
        return;
      }
      case 'ppgtt-pte-outside': {
        // A PPGTT entry naming a frame far beyond the guest's RAM, then a store through it.
        const frame = Math.floor(g.memory.size / PAGE_SIZE) + 0x10000;
        g.ppgtt!.writeRaw(1, this.scratchGma, pteLo(frame, PTE_PRESENT | PTE_RW), pteHi(frame));
        w.emit(miStoreDataImm(this.scratchGma, [0xbad]));
        this.submitBatch('rcs', w.finish());
        return;
      }
    }
  }
}

/** Create the generator of `spec` for `guest`. */
export function createGenerator(guest: TestGuest, rng: Rng, spec: WorkloadSpec): WorkloadGenerator {
  switch (spec.kind) {
    case 'game': return new GameGenerator(guest, rng, spec);
    case 'media': return new MediaGenerator(guest, rng, spec);
    case 'blit': return new BlitGenerator(guest, rng, spec);
    case 'idle': return new IdleGenerator(guest, rng, spec);
    case 'bursty': return new BurstyGenerator(guest, rng, spec);
    case 'attacker': return new AttackerGenerator(guest, rng, spec);
  }
}
