/**
 * A Chrome trace-event exporter (the JSON format Perfetto and chrome://tracing open).
 *
 * Lanes are threads of one process (the GPU): the scheduler's lane shows which vGPU owns the GPU,
 * the context-switch lane the switches, and one lane per engine the workloads. Every lane gets
 * `thread_name` metadata, the process `process_name`. Slices are "X" (complete) events with `ts`
 * and `dur` in µs; audit failures, hangs and other moments are "i" (instant) events; counters "C".
 *
 * Output is deterministic: metadata first (in lane order), then events ordered by timestamp and,
 * at equal timestamps, by recording order. The same run gives the same string, byte for byte.
 */

/** One trace event (the subset of the format this exporter writes). */
export interface TraceEvent {
  name: string;
  ph: 'X' | 'i' | 'M' | 'C';
  pid: number;
  tid: number;
  /** Microseconds. */
  ts?: number;
  /** Microseconds ("X" only). */
  dur?: number;
  /** Instant scope ("i" only): 't' thread. */
  s?: 't';
  cat?: string;
  args?: Record<string, string | number | boolean>;
}

/** What `toJSON` returns. */
export interface TraceFile {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ns';
}

/** Options of `TraceRecorder`. */
export interface TraceRecorderOptions {
  /** Process id of the GPU (default 1). */
  pid?: number;
  /** Process name (default 'gvtkit GPU'). */
  processName?: string;
  /** Events kept at most (default 1,000,000); later events are counted in `dropped`. */
  limit?: number;
}

/** Well-known lane names. */
export const SCHEDULER_LANE = 'scheduler';
export const SWITCH_LANE = 'context-switch';

const NS_PER_US = 1000;

/** Records trace events in simulated time and exports them as Chrome trace JSON. */
export class TraceRecorder {
  readonly pid: number;
  readonly processName: string;
  /** Events not recorded because of the limit. */
  dropped = 0;
  private readonly limit: number;
  private readonly lanes = new Map<string, number>();
  private readonly laneNames: string[] = [];
  private readonly events: TraceEvent[] = [];

  constructor(opts: TraceRecorderOptions = {}) {
    this.pid = opts.pid ?? 1;
    this.processName = opts.processName ?? 'gvtkit GPU';
    this.limit = opts.limit ?? 1_000_000;
  }

  /** Number of events recorded (metadata excluded). */
  get size(): number {
    return this.events.length;
  }

  /** The thread id of lane `name`, creating the lane (ids 1, 2, … in creation order). */
  lane(name: string): number {
    let tid = this.lanes.get(name);
    if (tid === undefined) {
      tid = this.laneNames.length + 1;
      this.lanes.set(name, tid);
      this.laneNames.push(name);
    }
    return tid;
  }

  /** A complete ("X") event on `lane` from `startNs` lasting `durNs`. */
  slice(lane: string, name: string, startNs: number, durNs: number, cat = 'gpu', args?: TraceEvent['args']): void {
    const e: TraceEvent = { name, ph: 'X', pid: this.pid, tid: this.lane(lane), ts: startNs / NS_PER_US, dur: Math.max(0, durNs) / NS_PER_US, cat };
    if (args) e.args = args;
    this.push(e);
  }

  /** A vGPU owning the GPU (scheduler lane). The name includes the vGPU's name. */
  vgpuSlice(vgpu: string, startNs: number, durNs: number, args?: TraceEvent['args']): void {
    this.slice(SCHEDULER_LANE, `${vgpu} slice`, startNs, durNs, 'sched', args);
  }

  /** A workload of `vgpu` executing on engine lane `engine`. */
  workload(engine: string, vgpu: string, seq: number, startNs: number, durNs: number, args?: TraceEvent['args']): void {
    this.slice(engine, `${vgpu} workload ${seq}`, startNs, durNs, 'workload', args);
  }

  /** A context switch from `from` (or nothing) to `to`, lasting its modelled cost. */
  contextSwitch(from: string | null, to: string, startNs: number, durNs: number, writes?: number): void {
    const args: Record<string, string | number> = { from: from ?? 'none', to };
    if (writes !== undefined) args.writes = writes;
    this.slice(SWITCH_LANE, `switch ${from ?? 'none'} -> ${to}`, startNs, durNs, 'switch', args);
  }

  /** An instant ("i") event on `lane`. */
  instant(lane: string, name: string, atNs: number, cat = 'event', args?: TraceEvent['args']): void {
    const e: TraceEvent = { name, ph: 'i', s: 't', pid: this.pid, tid: this.lane(lane), ts: atNs / NS_PER_US, cat };
    if (args) e.args = args;
    this.push(e);
  }

  /** An audit failure of `vgpu` (instant event on `lane`, e.g. the engine's). */
  auditFailure(lane: string, vgpu: string, code: string, atNs: number, detail?: string): void {
    const args: Record<string, string> = { vgpu, code };
    if (detail !== undefined) args.detail = detail;
    this.instant(lane, `${vgpu} audit ${code}`, atNs, 'audit', args);
  }

  /** A hang of `vgpu`'s workload ended by the watchdog. */
  hang(lane: string, vgpu: string, seq: number, atNs: number): void {
    this.instant(lane, `${vgpu} hang workload ${seq}`, atNs, 'hang', { vgpu, seq });
  }

  /** A counter ("C") sample: one series per key. */
  counter(name: string, atNs: number, values: Record<string, number>): void {
    this.push({ name, ph: 'C', pid: this.pid, tid: 0, ts: atNs / NS_PER_US, args: { ...values } });
  }

  /** The trace: metadata, then events by (ts, recording order). */
  toJSON(): TraceFile {
    const meta: TraceEvent[] = [
      { name: 'process_name', ph: 'M', pid: this.pid, tid: 0, args: { name: this.processName } },
    ];
    for (let i = 0; i < this.laneNames.length; i++) {
      meta.push({ name: 'thread_name', ph: 'M', pid: this.pid, tid: i + 1, args: { name: this.laneNames[i] } });
      meta.push({ name: 'thread_sort_index', ph: 'M', pid: this.pid, tid: i + 1, args: { sort_index: i + 1 } });
    }
    // Array.prototype.sort is stable: equal timestamps keep recording order.
    const body = this.events.slice().sort((a, b) => (a.ts as number) - (b.ts as number));
    return { traceEvents: meta.concat(body), displayTimeUnit: 'ns' };
  }

  /** The trace as a JSON string. */
  toString(): string {
    return JSON.stringify(this.toJSON());
  }

  private push(e: TraceEvent): void {
    if (this.events.length >= this.limit) {
      this.dropped++;
      return;
    }
    this.events.push(e);
  }
}
