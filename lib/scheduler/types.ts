/**
 * The contract between the mediator and a scheduling policy.
 *
 * GVT-g schedules a whole vGPU onto the GPU per time slice (`gvt/sched_policy.c`): at each
 * decision point the policy picks which vGPU owns the engines next. The mediator's `Scheduler`
 * calls the policy; the policy never touches devices or commands.
 */

/** Priority levels of the strict-priority policy. */
export type PriorityLevel = 'safety-critical' | 'standard' | 'best-effort';

/** What a policy knows about one vGPU (kept up to date by the scheduler). */
export interface SchedEntity {
  /** vGPU id (> 0). */
  readonly id: number;
  /** Weight from the vGPU type or the scenario (GVT-g: 2, 4, 8, 16). */
  weight: number;
  /** Priority level (strict-priority policy). */
  priority: PriorityLevel;
  /** Throttle cap: the largest share of GPU time (0 < cap <= 1), or undefined. */
  capShare?: number;
  /** Throttle cap as frames per second (a frame ends at a workload flagged `frameEnd`), or undefined. */
  capFps?: number;
  /** True when the vGPU has workloads queued or in flight. */
  hasWork: boolean;
  /** Total simulated engine time used, ns (maintained by the scheduler). */
  usedNs: number;
  /** Frames completed (maintained by the scheduler). */
  frames: number;
}

/** A scheduling policy: pure decision logic over entities and simulated time. */
export interface SchedulerPolicy {
  /** Stable name: 'time-slice', 'round-robin', 'throttle', 'priority'. */
  readonly name: string;
  /** Length of a time slice in ns (the scheduler re-decides at least this often). */
  readonly sliceNs: number;
  /** A vGPU joined. */
  add(e: SchedEntity, now: number): void;
  /** A vGPU left. */
  remove(id: number): void;
  /**
   * Choose the vGPU that owns the GPU from `now` (or -1 for none: the GPU idles). `current` is
   * the vGPU owning it now (-1 for none). Must be deterministic.
   */
  pick(now: number, current: number): number;
  /** Account `ns` of GPU time to vGPU `id` that ended at `now`. */
  charge(id: number, ns: number, now: number): void;
  /**
   * The earliest time after `now` at which the decision may change even if no work arrives
   * (a budget refill, a cap window opening), or Infinity.
   */
  nextEvent(now: number): number;
}
