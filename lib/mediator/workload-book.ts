/**
 * The workload state machine: where every workload of a mediator is, and the one function per
 * transition that moves it (GVT-g keeps the same life in `intel_vgpu_workload`: created at the
 * ELSP write, queued per engine, dispatched by the scheduler thread, completed or failed in
 * `complete_current_workload`).
 *
 * ```
 *   submit        take            reserve          start
 * ───────▶ queued ─────▶ taken ─────────▶ preparing ─────▶ in flight ──▶ end: completed | failed
 *            ▲  ▲          │ requeue (it waits)               │ preempted
 *            │  └──────────┘                                  │
 *            └────────────────────────────────────────────────┘
 *   stop: from any live state to stopping (off the device before an engine reset), then end
 *   end: from any state (a drop is an end with rule `reset`, reported to nobody)
 * ```
 *
 * `taken` is the moment the mediator audits and shadows a workload it took off its queue (one
 * synchronous step of the dispatcher); `preparing` holds the engine during the mediation delay
 * the cost model charges; `in flight` is on the device, found again by its host context id.
 * Every structure (queues, the per-engine slots, the host-context map, the retry times, history,
 * counters) changes only here, so they cannot disagree; `check()` states the invariants and tests
 * call it after every transition.
 */
import { InternalError } from '../errors.js';
import type { Workload, WorkloadFailure } from './workload.js';


/** Where a workload is. */
export type WorkloadPlace = 'queued' | 'taken' | 'preparing' | 'inflight' | 'stopping' | 'ended' | 'unknown';

/** Counters the book keeps (a subset of `MediatorStats`, updated in place). */
export interface WorkloadCounters {
  submitted: number;
  completed: number;
  failed: number;
  preempted: number;
}

/** What the book needs from its mediator. */
export interface WorkloadBookHost {
  /** Simulated now (ns). */
  now(): number;
  /** Release everything `w` holds (shadows, PPGTT references); called once, at its end. */
  release(w: Workload): void;
}

export class WorkloadBook {
  /** Queued workloads per engine (submission order; a preempted one goes first again). */
  readonly queues: Workload[][];
  /** The workload on each device engine. */
  readonly inflight: (Workload | null)[];
  /** Engines reserved by a workload in its mediation delay. */
  readonly preparing: (Workload | null)[];
  /** Finished workloads, oldest first, at most `historyLimit`. */
  readonly history: Workload[] = [];
  readonly historyLimit: number;
  /** When each engine's current run started (for busy time). */
  private readonly runStart: Float64Array;
  private readonly byHostContext = new Map<number, Workload>();
  /** Workloads that wait (shadow resources, audit quota): not tried again before this time (ns). */
  private readonly waitUntil = new Map<Workload, number>();
  /** The workload taken off its queue and being mediated now (one at a time). */
  private taken: Workload | null = null;
  /** Workloads taken off the device or their queue to be stopped, about to end. */
  private readonly stopping = new Set<Workload>();
  private readonly host: WorkloadBookHost;
  private readonly counters: WorkloadCounters;

  constructor(engines: number, historyLimit: number, host: WorkloadBookHost, counters: WorkloadCounters) {
    this.queues = Array.from({ length: engines }, () => []);
    this.inflight = new Array<Workload | null>(engines).fill(null);
    this.preparing = new Array<Workload | null>(engines).fill(null);
    this.runStart = new Float64Array(engines);
    this.historyLimit = historyLimit;
    this.host = host;
    this.counters = counters;
  }

  // ------------------------------------------------------------------ transitions

  /** new → queued, at the back of its engine's queue. */
  submit(w: Workload): void {
    if (w.completedAt >= 0 || this.placeOf(w) !== 'unknown') throw new InternalError(`workload ${w.seq} submitted twice`);
    this.counters.submitted++;
    this.queues[w.engine.id].push(w);
  }

  /** queued → taken: off its queue, to be mediated now. Returns its queue index (for `requeue`). */
  take(w: Workload): number {
    const q = this.queues[w.engine.id];
    const i = q.indexOf(w);
    if (i < 0 || this.taken !== null) throw new InternalError(`workload ${w.seq} is not queued, or another is taken`);
    q.splice(i, 1);
    this.taken = w;
    return i;
  }

  /** taken → queued at `index` (back in its place; `wait` says until when it is not tried). */
  requeue(w: Workload, index: number): void {
    if (this.taken !== w) throw new InternalError(`workload ${w.seq} is not taken`);
    this.taken = null;
    this.queues[w.engine.id].splice(index, 0, w);
  }

  /** A pending workload is not tried again before `until` ns (or the next `clearWaits`). */
  wait(w: Workload, until: number): void {
    if (w.completedAt >= 0) return;
    this.waitUntil.set(w, until);
  }

  /** taken → preparing: its engine is reserved during the mediation delay. */
  reserve(w: Workload): void {
    if (this.taken !== w || this.preparing[w.engine.id] !== null) throw new InternalError(`workload ${w.seq} cannot reserve its engine`);
    this.taken = null;
    this.preparing[w.engine.id] = w;
  }

  /** preparing → in flight: submitted to the device under host context `w.hostContextId`. */
  start(w: Workload): void {
    const e = w.engine.id;
    if (this.preparing[e] !== w || this.inflight[e] !== null) throw new InternalError(`workload ${w.seq} cannot start`);
    this.preparing[e] = null;
    w.status = 'running';
    this.inflight[e] = w;
    this.byHostContext.set(w.hostContextId, w);
    this.runStart[e] = this.host.now();
  }

  /** in flight → queued, first in line (the device preempted it; its shadow context holds its state). */
  preempted(w: Workload): void {
    const e = w.engine.id;
    if (this.inflight[e] !== w) throw new InternalError(`workload ${w.seq} is not in flight`);
    this.inflight[e] = null;
    this.byHostContext.delete(w.hostContextId);
    w.status = 'queued';
    w.preemptions++;
    w.busyNs += this.host.now() - this.runStart[e];
    this.counters.preempted++;
    this.queues[e].unshift(w);
  }

  /** in flight: its run so far is added to its busy time (the device completed it). */
  closeRun(w: Workload): void {
    const e = w.engine.id;
    if (this.inflight[e] === w) w.busyNs += this.host.now() - this.runStart[e];
  }

  /**
   * Any live state → stopping: out of its queue, its engine slot or the device's context map, before
   * the device is reset under it (a reset must not find it in flight), to `end` next.
   */
  stop(w: Workload): void {
    if (w.completedAt >= 0) return;
    this.detach(w);
    this.stopping.add(w);
  }

  /**
   * Any state → completed or failed: out of every structure, its resources released, counted,
   * into the bounded history. Returns false (and does nothing) when it had already ended.
   */
  end(w: Workload, status: 'completed' | 'failed', failure: WorkloadFailure | null): boolean {
    if (w.completedAt >= 0) return false;
    this.detach(w);
    this.stopping.delete(w);
    w.status = status;
    w.failure = failure;
    w.completedAt = this.host.now();
    this.host.release(w);
    if (status === 'completed') this.counters.completed++;
    else this.counters.failed++;
    this.history.push(w);
    if (this.history.length > this.historyLimit) this.history.shift();
    return true;
  }

  private detach(w: Workload): void {
    const e = w.engine.id;
    if (this.inflight[e] === w) {
      this.inflight[e] = null;
      this.byHostContext.delete(w.hostContextId);
    }
    if (this.preparing[e] === w) this.preparing[e] = null;
    if (this.taken === w) this.taken = null;
    const q = this.queues[e];
    const i = q.indexOf(w);
    if (i >= 0) q.splice(i, 1);
    this.waitUntil.delete(w);
  }

  // ------------------------------------------------------------------ waits

  /** The time before which `w` is not tried again (undefined: none). */
  waitingUntil(w: Workload): number | undefined {
    return this.waitUntil.get(w);
  }

  /** The earliest end of a wait after `now` (Infinity: none). */
  earliestWait(now: number): number {
    let t = Infinity;
    for (const u of this.waitUntil.values()) if (u > now && u < t) t = u;
    return t;
  }

  /** Shadows came back: every waiting workload may be tried at once. */
  clearWaits(): void {
    this.waitUntil.clear();
  }

  // ------------------------------------------------------------------ queries

  /** The in-flight workload submitted under host context `id`. */
  byContext(id: number): Workload | undefined {
    return this.byHostContext.get(id);
  }

  /** Busy time of `w` so far, its current run included. */
  busySoFar(w: Workload): number {
    const e = w.engine.id;
    return this.inflight[e] === w ? w.busyNs + (this.host.now() - this.runStart[e]) : w.busyNs;
  }

  /** Where `w` is. */
  placeOf(w: Workload): WorkloadPlace {
    if (w.completedAt >= 0) return 'ended';
    const e = w.engine.id;
    if (this.inflight[e] === w) return 'inflight';
    if (this.preparing[e] === w) return 'preparing';
    if (this.taken === w) return 'taken';
    if (this.stopping.has(w)) return 'stopping';
    if (this.queues[e].includes(w)) return 'queued';
    return 'unknown';
  }

  /** Workloads queued, taken, preparing or in flight (of vGPU `id`, or all). */
  pending(id = -1): number {
    let n = 0;
    for (const q of this.queues) for (const w of q) if (id < 0 || w.vgpuId === id) n++;
    for (const w of this.inflight) if (w && (id < 0 || w.vgpuId === id)) n++;
    for (const w of this.preparing) if (w && (id < 0 || w.vgpuId === id)) n++;
    if (this.taken && (id < 0 || this.taken.vgpuId === id)) n++;
    for (const w of this.stopping) if (id < 0 || w.vgpuId === id) n++;
    return n;
  }

  /**
   * The invariants, as messages (empty when they hold): every live workload is in exactly one
   * place and its status says so; the host-context map names exactly the in-flight ones; ended
   * workloads hold nothing and are nowhere; history is within its limit; every submitted workload
   * is counted once, as pending, completed or failed.
   */
  check(): string[] {
    const out: string[] = [];
    const seen = new Set<Workload>();
    const place = (w: Workload, where: string): void => {
      if (seen.has(w)) out.push(`workload ${w.seq} is in two places (again in ${where})`);
      seen.add(w);
      if (w.completedAt >= 0) out.push(`ended workload ${w.seq} still in ${where}`);
    };
    this.queues.forEach((q, e) => q.forEach((w) => {
      place(w, `queue ${e}`);
      if (w.engine.id !== e) out.push(`workload ${w.seq} of engine ${w.engine.id} in queue ${e}`);
      if (w.status !== 'queued' && w.status !== 'failed') out.push(`queued workload ${w.seq} has status ${w.status}`);
    }));
    this.preparing.forEach((w, e) => {
      if (!w) return;
      place(w, `preparing ${e}`);
      if (w.engine.id !== e) out.push(`workload ${w.seq} of engine ${w.engine.id} preparing on ${e}`);
    });
    this.inflight.forEach((w, e) => {
      if (!w) return;
      place(w, `in flight ${e}`);
      if (w.status !== 'running') out.push(`in-flight workload ${w.seq} has status ${w.status}`);
      if (this.byHostContext.get(w.hostContextId) !== w) out.push(`in-flight workload ${w.seq} not found by its host context ${w.hostContextId}`);
    });
    if (this.taken) place(this.taken, 'taken');
    for (const w of this.stopping) place(w, 'stopping');
    for (const [id, w] of this.byHostContext) {
      if (this.inflight[w.engine.id] !== w) out.push(`host context ${id} names workload ${w.seq}, which is not in flight`);
    }
    for (const w of this.waitUntil.keys()) if (!seen.has(w)) out.push(`workload ${w.seq} waits but is not pending`);
    for (const w of this.history) {
      if (w.completedAt < 0) out.push(`workload ${w.seq} in history without an end`);
      if (w.status !== 'completed' && w.status !== 'failed') out.push(`workload ${w.seq} in history with status ${w.status}`);
      if (w.shadowAllocs.length > 0 || w.shadowContext !== null || w.ppgtt !== null) out.push(`ended workload ${w.seq} still holds shadows`);
    }
    if (this.history.length > this.historyLimit) out.push(`history holds ${this.history.length} of at most ${this.historyLimit}`);
    const c = this.counters;
    if (c.submitted !== c.completed + c.failed + this.pending()) {
      out.push(`counters disagree: ${c.submitted} submitted, ${c.completed} completed + ${c.failed} failed + ${this.pending()} pending`);
    }
    return out;
  }
}
