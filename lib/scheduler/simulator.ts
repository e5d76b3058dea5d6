/**
 * A policy simulator: drives a `SchedulerPolicy` on a `SimClock` with synthetic workloads, for
 * tests and experiments. The mediator drives the same policies with real workloads; the boundary
 * is the `SchedulerPolicy` interface alone (the simulator keeps each `SchedEntity` up to date —
 * `hasWork`, `usedNs`, `frames` — and calls `pick`, `charge` and `nextEvent`, nothing else).
 *
 * Model:
 * - One GPU, owned by one vGPU at a time (GVT-g schedules a whole vGPU); the owner's workloads run
 *   one after another, in queue order.
 * - Decision points: the end of the policy's slice, a workload's completion, an arrival, a
 *   context switch's end and any time `nextEvent` reports. At each, the in-flight workload's time
 *   so far is charged, then `pick` is asked.
 * - A switch waits until the in-flight workload completes (GVT-g's rule), unless the workload is
 *   `preemptible` (the mediator may cut it at an MI_ARB_CHECK): then it is cut at once, re-queued
 *   at the head of its queue with its remaining time.
 * - Every switch between different vGPU contexts costs simulated time (`switchCostNs`); the GPU
 *   does no work meanwhile. The policy charges it to the incoming vGPU (its slice began at the
 *   decision: GVT-g stamps `sched_in_time` before the MMIO switch runs), so budgets add up to real
 *   time; metrics count it apart (`switchOverheadNs`), not as busy time. Resuming the vGPU whose
 *   context is still loaded costs nothing.
 * - Watchdog: a workload that has executed for `watchdogNs` in all is ended and reported as a
 *   hang to its vGPU (a workload flagged to hang never completes otherwise).
 */
import createDebug from 'debug';
import { type ClockEvent, Rng, SimClock } from '../clock.js';
import { ConfigError } from '../errors.js';
import type { ContextSwitcher } from './context-switch.js';
import { estimateSwitchNs, switchCostModel, type SwitchCostModel } from './context-switch.js';
import { buildReport, type SchedReport, VgpuStats } from './metrics.js';
import { PRIORITY_LEVELS } from './policies.js';
import { SCHEDULER_LANE, SWITCH_LANE, type TraceRecorder } from './trace.js';
import type { PriorityLevel, SchedEntity, SchedulerPolicy } from './types.js';

const log = createDebug('gvtkit:sched');

/** How a vGPU's workloads arrive. */
export type ArrivalSpec =
  /** A closed loop: `queueDepth` workloads queued from `startNs`, one more each time one ends. */
  | { kind: 'saturate'; queueDepth?: number; startNs?: number }
  /** `burst` workloads every `periodNs` from `startNs` until `stopNs`. */
  | { kind: 'periodic'; periodNs: number; burst?: number; startNs?: number; stopNs?: number }
  /** One workload at exponentially distributed gaps of mean `meanGapNs` (seeded). */
  | { kind: 'poisson'; meanGapNs: number; startNs?: number; stopNs?: number }
  /** No work at all (an idle vGPU). */
  | { kind: 'none' };

/** A vGPU's synthetic workload stream. */
export interface WorkloadSpec {
  /** Execution time of each workload, ns: a number, or [min, max] drawn uniformly (seeded). */
  durationNs: number | readonly [number, number];
  /** Arrival pattern (default saturate). */
  arrival?: ArrivalSpec;
  /** Every N-th workload ends a frame (a workload flagged frameEnd). */
  frameEvery?: number;
  /** Workloads may be cut at a slice boundary (MI_ARB_CHECK points). Default false. */
  preemptible?: boolean;
  /** Sequence numbers (0-based) of workloads that never complete (a GPU hang). */
  hangAt?: readonly number[];
  /** Workloads issued at most (default unlimited). */
  count?: number;
  /** Engine lane of the trace (default 'rcs'). */
  engine?: string;
}

/** A vGPU of a simulation: the entity's fields and its workload stream. */
export interface SimVgpu {
  id: number;
  /** Name in reports and traces (default `vgpu<id>`). */
  name?: string;
  /** Default 1. */
  weight?: number;
  /** Default 'standard'. */
  priority?: PriorityLevel;
  capShare?: number;
  capFps?: number;
  work: WorkloadSpec;
}

/** Options of `simulatePolicy`. */
export interface SimOptions {
  /** Seed of the workload streams (default 1). */
  seed?: number;
  /** Watchdog: a workload running this long in all is ended as a hang (default: none). */
  watchdogNs?: number;
  /**
   * Cost of a context switch from vGPU `from` (-1: no context loaded) to `to`, ns: a number or a
   * function (for instance `switcherCost(...)`). Default: `estimateSwitchNs(costModel)`.
   */
  switchCostNs?: number | ((from: number, to: number) => number);
  /** Switch cost model for the default estimate. */
  costModel?: Partial<SwitchCostModel>;
  /** Record the run here. */
  trace?: TraceRecorder;
  /** Count metrics only from this time (default 0): busy time, completions, switches. */
  metricsFromNs?: number;
}

/** A workload ended by the watchdog. */
export interface HangRecord {
  id: number;
  name: string;
  seq: number;
  atNs: number;
}

/** The outcome of a simulation. */
export interface SimResult extends SchedReport {
  /** Hangs in the whole run (also those before `metricsFromNs`). */
  hangs: HangRecord[];
  /** Clock events run. */
  events: number;
}

/**
 * A switch-cost function that performs real context switches with `switcher` between the saved
 * images of the vGPUs (`images.get(id)`), returning the switcher's modelled cost.
 */
export function switcherCost(switcher: ContextSwitcher, images: ReadonlyMap<number, Uint32Array>): (from: number, to: number) => number {
  return (from, to) => {
    const into = images.get(to);
    if (into === undefined) throw new ConfigError('images', `no saved image for vGPU ${to}`);
    switcher.switch(images.get(from) ?? null, into);
    return switcher.lastCostNs;
  };
}

interface Workload {
  seq: number;
  queuedAt: number;
  remaining: number;
  ran: number;
  frameEnd: boolean;
  hang: boolean;
  preemptible: boolean;
}

class VgpuRun {
  readonly id: number;
  readonly name: string;
  readonly entity: SchedEntity;
  readonly stats: VgpuStats;
  readonly spec: WorkloadSpec;
  readonly lane: string;
  readonly rng: Rng;
  readonly queue: Workload[] = [];
  readonly hangSet: ReadonlySet<number>;
  issued = 0;
  /** Bound arrival handler (periodic and poisson streams). */
  arrive: () => void = () => {};

  constructor(v: SimVgpu, seed: number) {
    this.id = v.id;
    this.name = v.name ?? `vgpu${v.id}`;
    this.spec = v.work;
    this.lane = v.work.engine ?? 'rcs';
    this.entity = {
      id: v.id,
      weight: v.weight ?? 1,
      priority: v.priority ?? 'standard',
      capShare: v.capShare,
      capFps: v.capFps,
      hasWork: false,
      usedNs: 0,
      frames: 0,
    };
    this.stats = new VgpuStats(v.id, this.name, this.entity.weight);
    this.rng = new Rng((seed ^ Math.imul(v.id, 0x9e3779b1)) >>> 0);
    this.hangSet = new Set(v.work.hangAt ?? []);
  }
}

function checkSpec(v: SimVgpu): void {
  const w = v.work;
  if (!w || typeof w !== 'object') throw new ConfigError('work', `vGPU ${v.id}: missing workload spec`);
  const d = w.durationNs;
  const okNs = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x > 0;
  if (Array.isArray(d) ? !(d.length === 2 && okNs(d[0]) && okNs(d[1]) && d[0] <= d[1]) : !okNs(d)) {
    throw new ConfigError('durationNs', `vGPU ${v.id}: a positive number or [min, max], got ${JSON.stringify(d)}`);
  }
  if (w.frameEvery !== undefined && !(Number.isInteger(w.frameEvery) && w.frameEvery > 0)) throw new ConfigError('frameEvery', `vGPU ${v.id}: an integer > 0`);
  if (w.count !== undefined && !(Number.isInteger(w.count) && w.count >= 0)) throw new ConfigError('count', `vGPU ${v.id}: an integer >= 0`);
  if (v.priority !== undefined && !PRIORITY_LEVELS.includes(v.priority)) throw new ConfigError('priority', `vGPU ${v.id}: unknown level`);
  const a = w.arrival;
  if (a) {
    if (a.kind === 'periodic' && !okNs(a.periodNs)) throw new ConfigError('periodNs', `vGPU ${v.id}: a positive number`);
    if (a.kind === 'poisson' && !okNs(a.meanGapNs)) throw new ConfigError('meanGapNs', `vGPU ${v.id}: a positive number`);
    if (a.kind === 'saturate' && a.queueDepth !== undefined && !(Number.isInteger(a.queueDepth) && a.queueDepth > 0)) {
      throw new ConfigError('queueDepth', `vGPU ${v.id}: an integer > 0`);
    }
  }
}

class Simulation {
  readonly clock = new SimClock();
  readonly policy: SchedulerPolicy;
  readonly vgpus: VgpuRun[];
  readonly byId = new Map<number, VgpuRun>();
  readonly hangs: HangRecord[] = [];
  private readonly durationNs: number;
  private readonly from: number;
  private readonly watchdogNs: number;
  private readonly costFn: ((from: number, to: number) => number) | null;
  private readonly costConst: number;
  private readonly trace: TraceRecorder | undefined;

  private owner: VgpuRun | null = null;
  private ownerSince = 0;
  private loaded: VgpuRun | null = null;
  private inflight: Workload | null = null;
  private inflightVg: VgpuRun | null = null;
  private inflightStart = 0;
  private inflightEvent: ClockEvent | null = null;
  private chargedUpTo = 0;
  private switching = false;
  /** Cost of the switch in progress, ns. */
  private switchCost = 0;
  private timer: ClockEvent | null = null;
  private timerAt = Infinity;
  private lastTarget = -1;
  private sliceEnd = 0;

  private readonly onTimer = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    this.decide();
  };
  private readonly onInflightEnd = (): void => {
    this.inflightEvent = null;
    this.finishInflight(this.clock.now, false);
    this.decide();
  };
  private readonly onSwitchDone = (): void => {
    this.switching = false;
    const now = this.clock.now;
    // The incoming vGPU pays for its switch: its slice began at the decision, as GVT-g stamps
    // sched_in_time before the MMIO switch runs on its first dispatch.
    if (this.owner !== null) this.policy.charge(this.owner.id, this.switchCost, now);
    this.ownerSince = now;
    this.decide();
  };

  constructor(policy: SchedulerPolicy, vgpus: readonly SimVgpu[], durationNs: number, opts: SimOptions) {
    if (!(Number.isFinite(durationNs) && durationNs > 0)) throw new ConfigError('durationNs', `must be a positive finite number, got ${durationNs}`);
    this.policy = policy;
    this.durationNs = durationNs;
    this.from = opts.metricsFromNs ?? 0;
    if (!(this.from >= 0 && this.from < durationNs)) throw new ConfigError('metricsFromNs', `must be in [0, durationNs)`);
    this.watchdogNs = opts.watchdogNs ?? Infinity;
    if (!(this.watchdogNs > 0)) throw new ConfigError('watchdogNs', `must be > 0`);
    const seed = opts.seed ?? 1;
    if (!Number.isInteger(seed)) throw new ConfigError('seed', 'must be an integer');
    const sc = opts.switchCostNs;
    if (typeof sc === 'function') {
      this.costFn = sc;
      this.costConst = 0;
    } else {
      this.costFn = null;
      this.costConst = sc ?? estimateSwitchNs(switchCostModel(opts.costModel));
      if (!(Number.isFinite(this.costConst) && this.costConst >= 0)) throw new ConfigError('switchCostNs', 'must be a finite number >= 0');
    }
    this.trace = opts.trace;
    this.vgpus = vgpus.map((v) => {
      checkSpec(v);
      if (this.byId.has(v.id)) throw new ConfigError('id', `duplicate vGPU ${v.id}`);
      const r = new VgpuRun(v, seed);
      this.byId.set(v.id, r);
      return r;
    });
    if (this.trace) {
      this.trace.lane(SCHEDULER_LANE);
      this.trace.lane(SWITCH_LANE);
      for (const v of this.vgpus) this.trace.lane(v.lane);
    }
  }

  run(): SimResult {
    for (const v of this.vgpus) this.policy.add(v.entity, 0);
    for (const v of this.vgpus) this.startArrivals(v);
    this.clock.at(0, () => this.decide());
    this.clock.runUntil(this.durationNs);
    this.finish(this.durationNs);
    const report = buildReport(this.vgpus.map((v) => v.stats), this.durationNs - this.from);
    return { ...report, hangs: this.hangs, events: this.clock.eventsRun };
  }

  // --- arrivals --------------------------------------------------------------------------------

  private startArrivals(v: VgpuRun): void {
    const a = v.spec.arrival ?? { kind: 'saturate' };
    switch (a.kind) {
      case 'none':
        return;
      case 'saturate': {
        const depth = a.queueDepth ?? 2;
        this.clock.at(a.startNs ?? 0, () => {
          for (let i = 0; i < depth; i++) this.enqueue(v);
          this.decide();
        });
        return;
      }
      case 'periodic': {
        const burst = a.burst ?? 1;
        const stop = a.stopNs ?? Infinity;
        v.arrive = () => {
          const now = this.clock.now;
          for (let i = 0; i < burst; i++) this.enqueue(v);
          const next = now + a.periodNs;
          if (next < stop && next <= this.durationNs) this.clock.at(next, v.arrive);
          this.decide();
        };
        this.clock.at(a.startNs ?? 0, v.arrive);
        return;
      }
      case 'poisson': {
        const stop = a.stopNs ?? Infinity;
        const gap = (): number => Math.max(1, Math.round(-Math.log(1 - v.rng.next()) * a.meanGapNs));
        v.arrive = () => {
          this.enqueue(v);
          const next = this.clock.now + gap();
          if (next < stop && next <= this.durationNs) this.clock.at(next, v.arrive);
          this.decide();
        };
        this.clock.at((a.startNs ?? 0) + gap(), v.arrive);
        return;
      }
    }
  }

  /** Queue the next workload of `v` (if its stream has one left). */
  private enqueue(v: VgpuRun): void {
    const spec = v.spec;
    if (spec.count !== undefined && v.issued >= spec.count) return;
    const seq = v.issued++;
    const d = spec.durationNs;
    const dur = typeof d === 'number' ? d : Math.round(d[0] + v.rng.next() * (d[1] - d[0]));
    const hang = v.hangSet.has(seq);
    v.queue.push({
      seq,
      queuedAt: this.clock.now,
      remaining: hang ? Infinity : dur,
      ran: 0,
      frameEnd: spec.frameEvery !== undefined && (seq + 1) % spec.frameEvery === 0,
      hang,
      preemptible: spec.preemptible === true,
    });
    v.entity.hasWork = true;
    v.stats.active = true;
  }

  // --- decisions -------------------------------------------------------------------------------

  private decide(): void {
    if (this.switching) return;
    const now = this.clock.now;
    this.chargeInflight(now);
    const target = this.policy.pick(now, this.owner !== null ? this.owner.id : -1);
    let tv = target >= 0 ? this.byId.get(target) ?? null : null;
    if (tv !== null && !tv.entity.hasWork) tv = null; // a policy may not hand the GPU to a vGPU without work
    const tid = tv !== null ? tv.id : -1;
    if (tid >= 0 && (now >= this.sliceEnd || tid !== this.lastTarget)) this.sliceEnd = now + this.policy.sliceNs;
    this.lastTarget = tid;
    if (tv === this.owner) {
      if (tv !== null && this.inflight === null) this.dispatch(now);
    } else if (this.inflight !== null) {
      // Non-preemptible: the switch waits for the completion, which decides again.
      if (this.inflight.preemptible) {
        this.finishInflight(now, true);
        this.switchTo(tv, now);
      }
    } else {
      this.switchTo(tv, now);
    }
    this.armTimer(now);
  }

  private armTimer(now: number): void {
    let t = this.lastTarget >= 0 && this.sliceEnd > now ? this.sliceEnd : Infinity;
    const pe = this.policy.nextEvent(now);
    if (pe > now && pe < t) t = pe;
    if (t > this.durationNs) t = Infinity;
    if (t === this.timerAt) return;
    if (this.timer !== null) this.timer.cancelled = true;
    this.timer = null;
    this.timerAt = t;
    if (t !== Infinity) this.timer = this.clock.at(t, this.onTimer);
  }

  private switchTo(tv: VgpuRun | null, now: number): void {
    const prev = this.owner;
    if (prev !== null && this.trace && now > this.ownerSince) this.trace.vgpuSlice(prev.name, this.ownerSince, now - this.ownerSince);
    this.owner = tv;
    this.ownerSince = now;
    if (tv === null) return;
    if (this.loaded !== tv) {
      const fromId = this.loaded !== null ? this.loaded.id : -1;
      const cost = this.costFn !== null ? this.costFn(fromId, tv.id) : this.costConst;
      if (now >= this.from) {
        tv.stats.switches++;
        tv.stats.switchOverheadNs += Math.min(cost, this.durationNs - now);
      }
      if (this.trace) this.trace.contextSwitch(this.loaded !== null ? this.loaded.name : null, tv.name, now, cost);
      this.loaded = tv;
      if (cost > 0) {
        this.switching = true;
        this.switchCost = cost;
        this.ownerSince = now + cost;
        this.clock.at(now + cost, this.onSwitchDone);
        return;
      }
    }
    this.dispatch(now);
  }

  private dispatch(now: number): void {
    const v = this.owner;
    if (v === null || v.queue.length === 0) return;
    const wl = v.queue.shift()!;
    this.inflight = wl;
    this.inflightVg = v;
    this.inflightStart = now;
    this.chargedUpTo = now;
    const run = Math.min(wl.remaining, this.watchdogNs - wl.ran);
    this.inflightEvent = Number.isFinite(run) ? this.clock.at(now + run, this.onInflightEnd) : null;
  }

  /** Charge the in-flight workload's time since the last charge to its vGPU. */
  private chargeInflight(now: number): void {
    const v = this.inflightVg;
    if (this.inflight === null || v === null) return;
    const ns = now - this.chargedUpTo;
    if (ns <= 0) return;
    this.chargedUpTo = now;
    v.entity.usedNs += ns;
    this.policy.charge(v.id, ns, now);
  }

  /** End the in-flight workload at `now`: completed, hung (watchdog) or preempted. */
  private finishInflight(now: number, preempt: boolean): void {
    const wl = this.inflight!;
    const v = this.inflightVg!;
    const ran = now - this.inflightStart;
    wl.ran += ran;
    wl.remaining -= ran;
    this.recordBusy(v, this.inflightStart, now);
    if (this.trace && ran > 0) this.trace.workload(v.lane, v.name, wl.seq, this.inflightStart, ran);
    this.inflight = null;
    this.inflightVg = null;
    if (this.inflightEvent !== null) {
      this.inflightEvent.cancelled = true;
      this.inflightEvent = null;
    }
    const counted = now >= this.from;
    if (preempt && wl.remaining > 0) {
      v.queue.unshift(wl);
      if (counted) v.stats.preemptions++;
    } else if (wl.remaining > 0) {
      // The watchdog fired.
      this.hangs.push({ id: v.id, name: v.name, seq: wl.seq, atNs: now });
      if (counted) v.stats.hangs++;
      if (this.trace) this.trace.hang(v.lane, v.name, wl.seq, now);
      if (log.enabled) log('sim: t=%d %s workload %d hung (watchdog %d ns)', now, v.name, wl.seq, this.watchdogNs);
      this.replenish(v);
    } else {
      if (counted) {
        v.stats.workloads++;
        v.stats.latency.add(now - wl.queuedAt);
      }
      if (wl.frameEnd) {
        v.entity.frames++;
        if (counted) v.stats.frames++;
      }
      this.replenish(v);
    }
    // Charge after the frame count moved, so a throttle sees the frame in the window it ended in.
    this.chargeTail(v, now);
    v.entity.hasWork = v.queue.length > 0;
  }

  private chargeTail(v: VgpuRun, now: number): void {
    const ns = now - this.chargedUpTo;
    if (ns <= 0) return;
    this.chargedUpTo = now;
    v.entity.usedNs += ns;
    this.policy.charge(v.id, ns, now);
  }

  /** Closed-loop streams queue one more workload when one ends. */
  private replenish(v: VgpuRun): void {
    const a = v.spec.arrival;
    if (a === undefined || a.kind === 'saturate') this.enqueue(v);
  }

  private recordBusy(v: VgpuRun, start: number, end: number): void {
    const s = start > this.from ? start : this.from;
    if (end > s) v.stats.busyNs += end - s;
  }

  private finish(now: number): void {
    if (this.inflight !== null && this.inflightVg !== null) {
      const v = this.inflightVg;
      this.recordBusy(v, this.inflightStart, now);
      this.chargeTail(v, now);
      if (this.trace && now > this.inflightStart) {
        this.trace.workload(v.lane, v.name, this.inflight.seq, this.inflightStart, now - this.inflightStart, { unfinished: true });
      }
    }
    if (this.owner !== null && this.trace && now > this.ownerSince) {
      this.trace.vgpuSlice(this.owner.name, this.ownerSince, now - this.ownerSince);
    }
  }
}

/**
 * Run `policy` over `vgpus` with synthetic workloads for `durationNs` of simulated time and
 * report per-vGPU metrics. Deterministic: the same inputs and seed give the same result and trace.
 * The policy must be fresh (the simulator adds every vGPU to it at time 0).
 */
export function simulatePolicy(policy: SchedulerPolicy, vgpus: readonly SimVgpu[], durationNs: number, opts: SimOptions = {}): SimResult {
  return new Simulation(policy, vgpus, durationNs, opts).run();
}
