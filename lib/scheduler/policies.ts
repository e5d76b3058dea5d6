/**
 * Scheduling policies behind `SchedulerPolicy`: GVT-g's weighted time slice, a round-robin
 * baseline, a gRemote-style throttle (QoS cap on share and frame rate) and strict priority with
 * starvation protection.
 *
 * Common slice rule (all policies): a decision holds for one slice. `pick` returns the vGPU chosen
 * at the last decision while the slice lasts and that vGPU may go on (it has work, and for the
 * throttle its cap allows it, for the priority policy no higher level has work); otherwise it
 * decides afresh. So the scheduler may call `pick` at any decision point (workload completion,
 * arrival, timer) and the answer only changes at a slice boundary or when the owner must stop.
 * A fresh decision at a slice boundary is what schedules a lone busy vGPU out within one slice
 * once another vGPU has work (GVT-g once let it run on for hundreds of milliseconds).
 *
 * Facts from Linux `drivers/gpu/drm/i915/gvt/sched_policy.c` (GVT-g's time-based scheduler):
 * a 1 ms tick; every 100 ms each vGPU gets `100 ms × weight / Σ weights` of budget added to what
 * it has left (its debt or credit); every 10th balance (1 s) budgets are reset without carrying
 * debt; candidates are searched in LRU order and the picked vGPU moves to the tail; a vGPU runs
 * if it has pending work and time left, otherwise the idle vGPU runs.
 */
import createDebug from 'debug';
import { ConfigError } from '../errors.js';
import type { PriorityLevel, SchedEntity, SchedulerPolicy } from './types.js';

const log = createDebug('gvtkit:sched');

/** One millisecond in ns. */
export const MS = 1_000_000;

/** The priority levels, highest first. */
export const PRIORITY_LEVELS: readonly PriorityLevel[] = Object.freeze(['safety-critical', 'standard', 'best-effort']);

/** Per-vGPU state of a policy. One shape for every policy, every field a number from the start. */
class Slot {
  readonly id: number;
  readonly entity: SchedEntity;
  /** LRU sequence of the last fresh decision that chose this vGPU (0 = never). */
  lastPick = 0;
  /** Time-slice: budget added per balance period, ns. */
  allocatedNs = 0;
  /** Time-slice: budget left (negative = debt), ns. */
  leftNs = 0;
  /** Time-slice: time used in this balance period while every candidate was out of budget, ns. */
  extraNs = 0;
  /** Time-slice: 1 when the last decision chose this vGPU on spare time (out of budget), else 0. */
  onSpare = 0;
  /** Throttle: index of the share window `capUsedNs` belongs to. */
  capWindow = -1;
  /** Throttle: GPU time used in the current share window, ns. */
  capUsedNs = 0;
  /** Throttle: index of the current frame window. */
  frameWindow = -1;
  /** Throttle: frames seen completing in the current frame window. */
  framesInWindow = 0;
  /** Throttle: `entity.frames` at the last observation. */
  lastFrames = 0;
  /** Priority: level index (0 highest). */
  level = 1;
  /** Priority: when the vGPU was first seen waiting with work and not running, or -1. */
  waitingSince = -1;

  constructor(entity: SchedEntity) {
    this.id = entity.id;
    this.entity = entity;
    this.lastFrames = entity.frames;
  }
}

function checkNs(field: string, v: unknown, allowInfinity = false): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v <= 0 || (!allowInfinity && !Number.isFinite(v))) {
    throw new ConfigError(field, `must be a positive${allowInfinity ? '' : ' finite'} number, got ${String(v)}`);
  }
  return v;
}

function checkInt(field: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new ConfigError(field, `must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

/** Validate the fields of an entity a policy relies on. */
export function validateEntity(e: SchedEntity): void {
  if (!(Number.isInteger(e.id) && e.id > 0)) throw new ConfigError('id', `must be an integer > 0, got ${String(e.id)}`);
  if (!(typeof e.weight === 'number' && Number.isFinite(e.weight) && e.weight > 0)) {
    throw new ConfigError('weight', `vGPU ${e.id}: must be a finite number > 0, got ${String(e.weight)}`);
  }
  if (!PRIORITY_LEVELS.includes(e.priority)) throw new ConfigError('priority', `vGPU ${e.id}: unknown level ${String(e.priority)}`);
  if (e.capShare !== undefined && !(typeof e.capShare === 'number' && e.capShare > 0 && e.capShare <= 1)) {
    throw new ConfigError('capShare', `vGPU ${e.id}: must be in (0, 1], got ${String(e.capShare)}`);
  }
  if (e.capFps !== undefined && !(typeof e.capFps === 'number' && Number.isFinite(e.capFps) && e.capFps > 0)) {
    throw new ConfigError('capFps', `vGPU ${e.id}: must be a finite number > 0, got ${String(e.capFps)}`);
  }
}

/**
 * The slice machinery shared by the policies: entity bookkeeping, the sticky slice, LRU order.
 * Subclasses choose (`choose`) and say whether the slice owner may go on (`canContinue`).
 */
abstract class SlicedPolicy implements SchedulerPolicy {
  abstract readonly name: string;
  readonly sliceNs: number;
  /** Fresh decisions made (for tests and counters). */
  decisions = 0;
  /** Slots in ascending id order (deterministic scans). */
  protected readonly slots: Slot[] = [];
  protected readonly byId = new Map<number, Slot>();
  /** The vGPU chosen at the last fresh decision (-1 none) and when its slice ends. */
  protected sliceOwner = -1;
  protected sliceEnd = 0;
  private seq = 0;

  constructor(sliceNs: number) {
    this.sliceNs = checkNs('sliceNs', sliceNs);
  }

  add(e: SchedEntity, now: number): void {
    validateEntity(e);
    if (this.byId.has(e.id)) throw new ConfigError('id', `vGPU ${e.id} is already scheduled`);
    const s = new Slot(e);
    let i = this.slots.length;
    while (i > 0 && this.slots[i - 1].id > e.id) i--;
    this.slots.splice(i, 0, s);
    this.byId.set(e.id, s);
    this.onAdd(s, now);
  }

  remove(id: number): void {
    const s = this.byId.get(id);
    if (!s) return;
    this.byId.delete(id);
    this.slots.splice(this.slots.indexOf(s), 1);
    if (this.sliceOwner === id) this.sliceOwner = -1;
    this.onRemove(s);
  }

  pick(now: number, _current: number): number {
    this.advance(now);
    this.beforePick(now);
    const o = this.sliceOwner;
    if (o >= 0 && now < this.sliceEnd) {
      const s = this.byId.get(o);
      if (s !== undefined && this.canContinue(s, now)) return o;
    }
    const s = this.choose(now);
    this.decisions++;
    if (s === null) {
      this.sliceOwner = -1;
      return -1;
    }
    s.lastPick = ++this.seq;
    this.sliceOwner = s.id;
    this.sliceEnd = now + this.sliceNs;
    this.onPicked(s, now);
    if (log.enabled) log('%s: t=%d pick vGPU %d', this.name, now, s.id);
    return s.id;
  }

  charge(id: number, ns: number, now: number): void {
    if (!(ns > 0)) return;
    // Balance points inside the charged interval: the part before them belongs to the old period.
    this.advance(now - ns);
    const s = this.byId.get(id);
    if (s !== undefined) this.onCharge(s, ns, now);
    this.advance(now);
  }

  nextEvent(now: number): number {
    this.advance(now);
    return this.policyEvent(now);
  }

  /** The entity of vGPU `id`, if scheduled (for tests and tools). */
  entity(id: number): SchedEntity | undefined {
    return this.byId.get(id)?.entity;
  }

  protected onAdd(_s: Slot, _now: number): void {}
  protected onRemove(_s: Slot): void {}
  protected onPicked(_s: Slot, _now: number): void {}
  protected onCharge(_s: Slot, _ns: number, _now: number): void {}
  protected advance(_now: number): void {}
  protected beforePick(_now: number): void {}
  protected policyEvent(_now: number): number {
    return Infinity;
  }
  protected canContinue(s: Slot, _now: number): boolean {
    return s.entity.hasWork;
  }
  protected abstract choose(now: number): Slot | null;
}

/** Options of `TimeSlicePolicy`. */
export interface TimeSliceOptions {
  /** Slice per decision, ns (default 1 ms, GVT-g's tick). */
  sliceNs?: number;
  /** Budget balance period, ns (default 100 ms). */
  balancePeriodNs?: number;
  /** Debts and credits are reset every this many balance periods (default 10: 1 s). */
  resetPeriods?: number;
  /**
   * Credit carried over a balance is capped at this many periods' allocation (default 1;
   * Infinity carries everything as GVT-g does until the reset).
   */
  creditCapPeriods?: number;
}

/**
 * GVT-g's weighted time-slice policy, work-conserving.
 *
 * - Budgets: at every balance period each vGPU gets `period × weight / Σ weights` added to its
 *   budget, Σ over every scheduled vGPU, idle or not, as GVT-g does; every `resetPeriods` periods
 *   the budget is set to one allocation (debts forgotten). A vGPU joining gets its allocation at
 *   once (GVT-g: only at the next reset).
 * - Choice: among vGPUs with work and budget left, the least recently picked (LRU). A vGPU that
 *   used more than its share waits while another with work has budget.
 * - Work-conserving (GVT-g runs the idle vGPU instead): when every vGPU with work is out of
 *   budget, the one that overused least relative to its weight runs (`(spare time taken this
 *   period + debt) / weight`, ties LRU). Spare time is free: it is not charged to the budget, so it
 *   leaves no debt. That is how "an idle vGPU gets nothing and costs nothing": its unused
 *   allocation is shared by the busy vGPUs in proportion to their weights, their shares stay
 *   exactly as if it were absent, nobody repays it later, and no switch goes to it.
 * - Credit cap: an idle vGPU banks at most `creditCapPeriods` allocations (GVT-g lets it bank up
 *   to 10, then wake up and hold the GPU for most of a second).
 * - Debt: the overrun of a slice that ended past the budget is carried to the next period.
 */
export class TimeSlicePolicy extends SlicedPolicy {
  readonly name: string = 'time-slice';
  readonly balancePeriodNs: number;
  readonly resetPeriods: number;
  readonly creditCapPeriods: number;
  /** Balances run. */
  balances = 0;
  private nextBalance: number;

  constructor(opts: TimeSliceOptions = {}) {
    super(opts.sliceNs ?? MS);
    this.balancePeriodNs = checkNs('balancePeriodNs', opts.balancePeriodNs ?? 100 * MS);
    if (this.balancePeriodNs < this.sliceNs) throw new ConfigError('balancePeriodNs', `must be >= sliceNs (${this.sliceNs})`);
    this.resetPeriods = checkInt('resetPeriods', opts.resetPeriods ?? 10, 1);
    this.creditCapPeriods = checkNs('creditCapPeriods', opts.creditCapPeriods ?? 1, true);
    if (this.creditCapPeriods < 1) throw new ConfigError('creditCapPeriods', 'must be >= 1');
    this.nextBalance = this.balancePeriodNs;
  }

  /** Budget left of vGPU `id`, ns (negative = debt). */
  budgetLeft(id: number): number {
    return this.byId.get(id)?.leftNs ?? 0;
  }

  /** Allocation per balance period of vGPU `id`, ns. */
  allocation(id: number): number {
    return this.byId.get(id)?.allocatedNs ?? 0;
  }

  protected override onAdd(s: Slot, now: number): void {
    this.advance(now);
    this.allocate();
    // The newcomer starts with one allocation; the others' credit shrinks with their allocation.
    for (const o of this.slots) o.leftNs = o === s ? o.allocatedNs : Math.min(o.leftNs, o.allocatedNs * this.creditCapPeriods);
  }

  protected override onRemove(_s: Slot): void {
    this.allocate();
  }

  protected override advance(now: number): void {
    const p = this.balancePeriodNs;
    if (now < this.nextBalance) return;
    // Far behind (a long idle stretch): jump to the last reset before `now`.
    const behind = Math.floor((now - this.nextBalance) / p);
    if (behind > this.resetPeriods) {
      const k = Math.floor(now / p);
      this.nextBalance = (k - (k % this.resetPeriods)) * p;
    }
    while (now >= this.nextBalance) {
      this.balance(Math.round(this.nextBalance / p) % this.resetPeriods === 0);
      this.nextBalance += p;
    }
  }

  private allocate(): void {
    let wsum = 0;
    for (const s of this.slots) wsum += s.entity.weight;
    for (const s of this.slots) s.allocatedNs = wsum > 0 ? (this.balancePeriodNs * s.entity.weight) / wsum : 0;
  }

  private balance(reset: boolean): void {
    this.balances++;
    this.allocate();
    for (const s of this.slots) {
      const a = s.allocatedNs;
      s.leftNs = reset ? a : Math.min(s.leftNs + a, a * this.creditCapPeriods);
      s.extraNs = 0;
    }
  }

  protected override canContinue(s: Slot, now: number): boolean {
    return s.entity.hasWork && !this.blocked(s, now);
  }

  protected override choose(now: number): Slot | null {
    let best: Slot | null = null;
    let spare: Slot | null = null;
    let spareKey = Infinity;
    for (const s of this.slots) {
      const e = s.entity;
      if (!e.hasWork || this.blocked(s, now)) continue;
      if (s.leftNs > 0) {
        if (best === null || s.lastPick < best.lastPick) best = s;
      } else if (best === null) {
        // Overuse relative to weight: spare time taken this period plus debt.
        const key = (s.extraNs - s.leftNs) / e.weight;
        if (spare === null || key < spareKey || (key === spareKey && s.lastPick < spare.lastPick)) {
          spare = s;
          spareKey = key;
        }
      }
    }
    return best ?? spare;
  }

  protected override onPicked(s: Slot, _now: number): void {
    s.onSpare = s.leftNs > 0 ? 0 : 1;
  }

  protected override onCharge(s: Slot, ns: number, _now: number): void {
    // A vGPU picked on budget pays from it (the overrun of its last slice becomes debt); one
    // picked on spare time (out of budget, nobody with work had budget) pays nothing.
    if (s.onSpare === 0) s.leftNs -= ns;
    else s.extraNs += ns;
  }

  protected override policyEvent(_now: number): number {
    return this.nextBalance;
  }

  /** Whether `s` may not run now for a reason other than budget (the throttle's caps). */
  protected blocked(_s: Slot, _now: number): boolean {
    return false;
  }
}

/** Options of `ThrottlePolicy`. */
export interface ThrottleOptions extends TimeSliceOptions {
  /** Window over which `capShare` is enforced, ns (default 100 ms). */
  capWindowNs?: number;
}

/**
 * A gRemote-style QoS throttle on top of the time-slice policy.
 *
 * - `capShare`: in each periodic window of `capWindowNs` (aligned at multiples of it from time 0)
 *   a capped vGPU runs at most `capShare × capWindowNs`; then it is not picked until the next
 *   window. Periodic rather than sliding: the cap is exact per window, `nextEvent` is simply the
 *   window's end, and the overshoot is bounded by one non-preemptible workload (`nextEvent` also
 *   reports when the running capped vGPU will reach its cap, so the scheduler stops it right there).
 * - `capFps`: time is cut into windows of `1 / capFps` s (aligned from 0); a vGPU that completed a
 *   frame in the current window is not picked until the next window. A frame is counted in the
 *   window in which the policy first sees it (at the `charge` or `pick` after completion), which
 *   can only delay, never admit, the next frame: at most one frame per window, so at most `capFps`
 *   frames per second.
 * - Non-work-conserving for capped vGPUs: they wait for their window even when the GPU is
 *   otherwise idle. Uncapped vGPUs follow the time-slice rules (and use the spare time).
 */
export class ThrottlePolicy extends TimeSlicePolicy {
  override readonly name: string = 'throttle';
  readonly capWindowNs: number;

  constructor(opts: ThrottleOptions = {}) {
    super(opts);
    this.capWindowNs = checkNs('capWindowNs', opts.capWindowNs ?? 100 * MS);
  }

  /** GPU time vGPU `id` used in its current share window, ns. */
  capUsed(id: number): number {
    return this.byId.get(id)?.capUsedNs ?? 0;
  }

  protected override onCharge(s: Slot, ns: number, now: number): void {
    super.onCharge(s, ns, now);
    this.observe(s, now);
    const windowStart = s.capWindow * this.capWindowNs;
    s.capUsedNs += Math.min(ns, now - windowStart);
  }

  protected override blocked(s: Slot, now: number): boolean {
    const e = s.entity;
    if (e.capShare === undefined && e.capFps === undefined) return false;
    this.observe(s, now);
    if (e.capShare !== undefined && s.capUsedNs >= e.capShare * this.capWindowNs) return true;
    if (e.capFps !== undefined && s.framesInWindow >= 1) return true;
    return false;
  }

  protected override policyEvent(now: number): number {
    let t = super.policyEvent(now);
    for (const s of this.slots) {
      const e = s.entity;
      if (e.capShare === undefined && e.capFps === undefined) continue;
      if (!e.hasWork) continue;
      this.observe(s, now);
      if (e.capShare !== undefined) {
        const room = e.capShare * this.capWindowNs - s.capUsedNs;
        if (room <= 0) t = Math.min(t, (s.capWindow + 1) * this.capWindowNs);
        else if (s.id === this.sliceOwner) t = Math.min(t, now + room);
      }
      if (e.capFps !== undefined && s.framesInWindow >= 1) {
        t = Math.min(t, Math.ceil(((s.frameWindow + 1) * 1e9) / e.capFps));
      }
    }
    return t > now ? t : Infinity;
  }

  /** Roll the share and frame windows of `s` to the ones containing `now`; count new frames. */
  private observe(s: Slot, now: number): void {
    const e = s.entity;
    const w = Math.floor(now / this.capWindowNs);
    if (w !== s.capWindow) {
      s.capWindow = w;
      s.capUsedNs = 0;
    }
    if (e.capFps !== undefined) {
      const fw = Math.floor((now * e.capFps) / 1e9);
      if (fw !== s.frameWindow) {
        s.frameWindow = fw;
        s.framesInWindow = 0;
      }
      const d = e.frames - s.lastFrames;
      if (d > 0) s.framesInWindow += d;
    }
    s.lastFrames = e.frames;
  }
}

/** Options of `RoundRobinPolicy`. */
export interface RoundRobinOptions {
  /** Slice per decision, ns (default 1 ms). */
  sliceNs?: number;
}

/** Baseline: equal slices in id order among vGPUs with work; weights ignored. */
export class RoundRobinPolicy extends SlicedPolicy {
  readonly name: string = 'round-robin';
  private lastId = 0;

  constructor(opts: RoundRobinOptions = {}) {
    super(opts.sliceNs ?? MS);
  }

  protected override choose(_now: number): Slot | null {
    let first: Slot | null = null;
    for (const s of this.slots) {
      if (!s.entity.hasWork) continue;
      if (s.id > this.lastId) return s;
      if (first === null) first = s;
    }
    return first;
  }

  protected override onPicked(s: Slot, _now: number): void {
    this.lastId = s.id;
  }
}

/** Options of `PriorityPolicy`. */
export interface PriorityOptions {
  /** Slice per decision, ns (default 1 ms). */
  sliceNs?: number;
  /** A vGPU with work that waited this long gets one boosted slice (default 50 ms; Infinity disables). */
  starvationNs?: number;
}

/**
 * Strict priority (safety-critical > standard > best-effort), round-robin (LRU) within a level,
 * with starvation protection.
 *
 * - A vGPU of a higher level with work takes the GPU at the next decision point (the running
 *   lower-level vGPU cannot go on; a non-preemptible workload in flight still completes).
 * - Starvation rule: a vGPU that has had work without running for `starvationNs` is boosted for
 *   one slice, above every level (the longest-waiting first). Its waiting clock restarts when the
 *   slice ends. So a lone lower-level vGPU gets at least one slice per `starvationNs + sliceNs`:
 *   a guaranteed minimum share of `sliceNs / (starvationNs + sliceNs)` (about 2% with the
 *   defaults), and k starving vGPUs each get one slice per `starvationNs + k·sliceNs`.
 */
export class PriorityPolicy extends SlicedPolicy {
  readonly name: string = 'priority';
  readonly starvationNs: number;
  /** Boosted slices handed out. */
  boosts = 0;
  private boosted = false;

  constructor(opts: PriorityOptions = {}) {
    super(opts.sliceNs ?? MS);
    this.starvationNs = checkNs('starvationNs', opts.starvationNs ?? 50 * MS, true);
  }

  /** The guaranteed minimum share of one starving vGPU. */
  get guaranteedShare(): number {
    return Number.isFinite(this.starvationNs) ? this.sliceNs / (this.starvationNs + this.sliceNs) : 0;
  }

  protected override onAdd(s: Slot, _now: number): void {
    s.level = PRIORITY_LEVELS.indexOf(s.entity.priority);
  }

  protected override beforePick(now: number): void {
    const owner = this.sliceOwner;
    for (const s of this.slots) {
      s.level = PRIORITY_LEVELS.indexOf(s.entity.priority);
      if (!s.entity.hasWork) s.waitingSince = -1;
      else if (s.waitingSince < 0 && !(s.id === owner && now < this.sliceEnd)) s.waitingSince = now;
    }
  }

  protected override canContinue(s: Slot, _now: number): boolean {
    if (!s.entity.hasWork) return false;
    if (this.boosted) return true;
    for (const o of this.slots) if (o.level < s.level && o.entity.hasWork) return false;
    return true;
  }

  protected override choose(now: number): Slot | null {
    let starving: Slot | null = null;
    let best: Slot | null = null;
    for (const s of this.slots) {
      if (!s.entity.hasWork) continue;
      if (s.waitingSince >= 0 && now - s.waitingSince >= this.starvationNs) {
        if (starving === null || s.waitingSince < starving.waitingSince ||
            (s.waitingSince === starving.waitingSince && s.lastPick < starving.lastPick)) starving = s;
      }
      if (best === null || s.level < best.level || (s.level === best.level && s.lastPick < best.lastPick)) best = s;
    }
    // A starving vGPU is boosted only past a higher level; within its own level LRU serves it.
    this.boosted = starving !== null && best !== null && starving.level > best.level;
    if (this.boosted) {
      this.boosts++;
      return starving;
    }
    return best;
  }

  protected override onPicked(s: Slot, _now: number): void {
    s.waitingSince = -1;
  }

  protected override policyEvent(now: number): number {
    if (!Number.isFinite(this.starvationNs)) return Infinity;
    let t = Infinity;
    for (const s of this.slots) {
      if (s.waitingSince < 0 || !s.entity.hasWork) continue;
      const due = s.waitingSince + this.starvationNs;
      if (due > now && due < t) t = due;
    }
    return t;
  }
}

/** Policy names `createPolicy` knows. */
export type PolicyName = 'time-slice' | 'round-robin' | 'throttle' | 'priority';

/** Options of every policy (each policy accepts its own subset). */
export type PolicyOptions = ThrottleOptions & PriorityOptions;

const OPTION_KEYS: Record<PolicyName, readonly string[]> = {
  'time-slice': ['sliceNs', 'balancePeriodNs', 'resetPeriods', 'creditCapPeriods'],
  throttle: ['sliceNs', 'balancePeriodNs', 'resetPeriods', 'creditCapPeriods', 'capWindowNs'],
  'round-robin': ['sliceNs'],
  priority: ['sliceNs', 'starvationNs'],
};

/**
 * Create a policy by name. Throws `ConfigError` naming the field: `name` for an unknown policy,
 * the option for an unknown or invalid option.
 */
export function createPolicy(name: string, options: PolicyOptions = {}): SchedulerPolicy {
  if (!Object.prototype.hasOwnProperty.call(OPTION_KEYS, name)) {
    throw new ConfigError('name', `unknown policy ${JSON.stringify(name)} (known: ${Object.keys(OPTION_KEYS).join(', ')})`);
  }
  const policy = name as PolicyName;
  // The field is the bare option name: scenario files report it under their own JSON path.
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new ConfigError('options', 'must be an object');
  for (const k of Object.keys(options)) {
    if (!OPTION_KEYS[policy].includes(k)) throw new ConfigError(k, `not an option of the ${policy} policy`);
  }
  switch (policy) {
    case 'time-slice':
      return new TimeSlicePolicy(options);
    case 'throttle':
      return new ThrottlePolicy(options);
    case 'round-robin':
      return new RoundRobinPolicy(options);
    case 'priority':
      return new PriorityPolicy(options);
  }
}
