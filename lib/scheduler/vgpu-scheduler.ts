/**
 * `VgpuScheduler`: the time-sharing of the physical engines between vGPUs, driving a
 * `SchedulerPolicy` with the mediator's real workloads (GVT-g `gvt/scheduler.c` +
 * `sched_policy.c`).
 *
 * As in GVT-g, one vGPU owns the whole GPU at a time. At every slice boundary (and when work
 * arrives or ends) the policy picks the owner. A switch stops dispatching the outgoing vGPU's
 * workloads, asks the device to preempt its running ones at their next MI_ARB_CHECK (or waits for
 * them to complete when they have none), then saves the outgoing vGPU's engine registers and
 * restores the incoming one's (`ContextSwitcher`, writing only what differs), which costs
 * simulated time per the switch cost model; only then may the incoming vGPU dispatch.
 *
 * A watchdog ends a workload that runs longer than `watchdogNs`: the mediator resets the engine
 * and reports a hang to that vGPU only; the others go on. Metrics per vGPU (busy time, share,
 * workloads, latency percentiles, frames, switches and their cost) and a Chrome trace of the run
 * are kept.
 */
import createDebug from 'debug';
import { ConfigError } from '../errors.js';
import { Mediator as MediatorClass } from '../mediator/mediator.js';
import { arg, checkOptions, optionKeys } from '../validate.js';
import type { Mediator, DispatchGate } from '../mediator/mediator.js';
import type { Vgpu } from '../mediator/vgpu.js';
import type { Workload } from '../mediator/workload.js';
import { ContextSwitcher, type SwitchCostModel } from './context-switch.js';
import { VgpuStats, buildReport, type SchedReport } from './metrics.js';
import { createPolicy, type PolicyName, type PolicyOptions } from './policies.js';
import { TraceRecorder } from './trace.js';
import type { PriorityLevel, SchedEntity, SchedulerPolicy } from './types.js';

const log = createDebug('gvtkit:sched');

/** Per-vGPU scheduling parameters (defaults: the vGPU type's weight, standard priority, no cap). */
export interface VgpuSchedParams {
  weight?: number;
  priority?: PriorityLevel;
  capShare?: number;
  capFps?: number;
}

/** Options of `VgpuScheduler`. */
export interface VgpuSchedulerOptions {
  /** A policy instance, or a name and options for `createPolicy` (default time-slice). */
  policy?: SchedulerPolicy | { name: PolicyName; options?: PolicyOptions };
  /** A workload running longer than this is ended as a hang (default 100 ms; Infinity disables). */
  watchdogNs?: number;
  /** Preempt at MI_ARB_CHECK when a slice ends (default true); else a switch waits for completion. */
  preempt?: boolean;
  /** Context-switch cost model overrides. */
  switchCost?: Partial<SwitchCostModel>;
  /** Record a Chrome trace (default true). */
  trace?: boolean;
  /** Scheduling parameters per vGPU. */
  params?: (v: Vgpu) => VgpuSchedParams;
}

const SCHEDULER_OPTIONS = optionKeys<VgpuSchedulerOptions>({ policy: true, watchdogNs: true, preempt: true, switchCost: true, trace: true, params: true });
const SWITCH_COST_KEYS = optionKeys<SwitchCostModel>({ fixedNs: true, perEngineNs: true, perRegisterReadNs: true, perRegisterWriteNs: true });

interface Slot {
  entity: SchedEntity;
  stats: VgpuStats;
  image: Uint32Array;
  vgpu: Vgpu;
}

export class VgpuScheduler implements DispatchGate {
  readonly mediator: Mediator;
  readonly policy: SchedulerPolicy;
  readonly switcher: ContextSwitcher;
  readonly trace: TraceRecorder | null;
  readonly watchdogNs: number;
  readonly preemptOnSlice: boolean;
  /** The vGPU owning the GPU (-1: none). */
  current = -1;
  /** True while a switch is under way (nobody dispatches). */
  switching = false;
  /** Target of the switch under way. */
  private target = -1;
  private readonly slots = new Map<number, Slot>();
  private readonly charged = new WeakMap<Workload, number>();
  private readonly params: (v: Vgpu) => VgpuSchedParams;
  private tickArmed = false;
  private ownerSince = 0;
  private startNs = 0;
  /** Switches performed. */
  switches = 0;
  /** Simulated ns spent switching. */
  switchNs = 0;

  constructor(mediator: Mediator, opts: VgpuSchedulerOptions = {}) {
    arg.instance('VgpuScheduler mediator', mediator, MediatorClass);
    opts = checkOptions(opts, 'VgpuSchedulerOptions', SCHEDULER_OPTIONS);
    checkOptions(opts.switchCost, 'VgpuSchedulerOptions.switchCost', SWITCH_COST_KEYS);
    if (opts.policy !== undefined && (opts.policy === null || typeof opts.policy !== 'object')) throw new ConfigError('policy', 'must be a policy or { name, options }');
    if (opts.policy !== undefined && !('pick' in opts.policy)) checkOptions(opts.policy, 'VgpuSchedulerOptions.policy', ['name', 'options']);
    if (opts.params !== undefined && typeof opts.params !== 'function') throw new ConfigError('params', 'must be a function of the vGPU');
    this.mediator = mediator;
    const p = opts.policy ?? { name: 'time-slice' as const };
    this.policy = 'pick' in p ? p : createPolicy(p.name, p.options ?? {});
    this.switcher = new ContextSwitcher(mediator.device.regs, { cost: opts.switchCost });
    this.trace = opts.trace === false ? null : new TraceRecorder();
    this.watchdogNs = opts.watchdogNs ?? 100_000_000;
    if (!(this.watchdogNs > 0)) throw new ConfigError('watchdogNs', `must be positive, got ${this.watchdogNs}`);
    this.preemptOnSlice = opts.preempt ?? true;
    this.params = opts.params ?? (() => ({}));
    this.startNs = mediator.device.clock.now;
    mediator.gate = this;
    mediator.onWorkloadDispatch((w) => this.onDispatch(w));
    mediator.onWorkloadDone((w) => this.onDone(w));
    mediator.onWorkloadPreempt((w) => this.onPreempt(w));
    for (const v of mediator.vgpus) this.add(v);
  }

  /** Schedule vGPU `v` (vGPUs created before the scheduler are added at construction). */
  add(v: Vgpu): void {
    if (this.slots.has(v.id)) return;
    const p = this.params(v);
    const entity: SchedEntity = {
      id: v.id, weight: p.weight ?? v.type.weight, priority: p.priority ?? 'standard', capShare: p.capShare, capFps: p.capFps,
      hasWork: false, usedNs: 0, frames: 0,
    };
    const slot: Slot = { entity, stats: new VgpuStats(v.id, v.name, entity.weight), image: this.switcher.newImage(), vgpu: v };
    this.slots.set(v.id, slot);
    this.policy.add(entity, this.now);
    this.trace?.lane(v.name);
  }

  /** The mediator destroyed vGPU `id`. */
  vgpuRemoved(id: number): void {
    this.remove(id);
  }

  /** Stop scheduling vGPU `id` (its destroy). */
  remove(id: number): void {
    if (!this.slots.delete(id)) return;
    this.policy.remove(id);
    if (this.current === id) {
      this.endOwnership();
      this.current = -1;
    }
    if (this.target === id) {
      this.switching = false;
      this.target = -1;
    }
    this.mediator.kick();
  }

  private get now(): number {
    return this.mediator.device.clock.now;
  }

  // ------------------------------------------------------------------ the gate

  /** The mediator asks before dispatching: only the owner dispatches, never during a switch. */
  mayDispatch(w: Workload, now: number): boolean {
    this.ensureSlot(w.vgpuId);
    if (!this.switching) this.decide(now);
    return !this.switching && w.vgpuId === this.current;
  }

  private ensureSlot(id: number): void {
    if (!this.slots.has(id)) {
      const v = this.mediator.vgpu(id);
      if (v) this.add(v);
    }
  }

  /** Refresh what the policy knows and let it pick; start a switch when the owner changes. */
  private decide(now: number): void {
    // The policy sees in-flight time before it decides (charged incrementally).
    for (let e = 0; e < 5; e++) {
      const w = this.mediator.inflightOn(e);
      if (w) this.charge(w);
    }
    let anyWork = false;
    for (const [id, s] of this.slots) {
      s.entity.hasWork = s.vgpu.active && s.vgpu.state === 'active' && this.mediator.pendingOf(id) > 0;
      if (s.entity.hasWork) {
        anyWork = true;
        s.stats.active = true;
      }
    }
    if (anyWork) this.armTick();
    const next = this.policy.pick(now, this.current);
    if (next === this.current || next < 0 || !this.slots.has(next)) return;
    this.beginSwitch(next);
  }

  private armTick(): void {
    if (this.tickArmed) return;
    this.tickArmed = true;
    const clock = this.mediator.device.clock;
    const slice = this.policy.sliceNs;
    const ev = Math.min(this.policy.nextEvent(this.now), this.now + slice);
    clock.at(Math.max(ev, this.now + 1), () => {
      this.tickArmed = false;
      if (!this.switching) this.decide(this.now);
      if (!this.switching) this.mediator.kick();
      // Keep ticking while anyone has work.
      for (const s of this.slots.values()) if (this.mediator.pendingOf(s.entity.id) > 0) {
        this.armTick();
        break;
      }
    });
  }

  // ------------------------------------------------------------------ switching

  private beginSwitch(next: number): void {
    this.switching = true;
    this.target = next;
    const from = this.current;
    log('switch %d → %d requested at %d', from, next, this.now);
    if (from >= 0 && this.preemptOnSlice) {
      for (let e = 0; e < 5; e++) {
        const w = this.mediator.inflightOn(e);
        if (w && w.vgpuId === from) this.mediator.preempt(e);
      }
    }
    this.continueSwitch();
  }

  /** Complete the switch once the outgoing vGPU has nothing on the device. */
  private continueSwitch(): void {
    if (!this.switching) return;
    const from = this.current;
    if (from >= 0 && this.mediator.onDevice(from)) return;
    const to = this.target;
    const outSlot = from >= 0 ? this.slots.get(from) : undefined;
    const inSlot = this.slots.get(to);
    if (!inSlot) {
      this.switching = false;
      this.target = -1;
      return;
    }
    this.endOwnership();
    // The incoming vGPU's image holds what its guest programmed: its virtual registers (GVT-g
    // loads vreg values of the listed registers at every switch, `mmio_context.c`).
    this.loadImageFromVregs(inSlot);
    const writes = this.switcher.switch(outSlot ? outSlot.image : null, inSlot.image);
    // The mediator's residue switch must know: its owner's listed values are off the device now.
    this.mediator.switchListLoaded(to);
    const cost = this.switcher.lastCostNs;
    const start = this.now;
    this.switches++;
    this.switchNs += cost;
    inSlot.stats.switches++;
    inSlot.stats.switchOverheadNs += cost;
    this.trace?.contextSwitch(outSlot ? outSlot.vgpu.name : null, inSlot.vgpu.name, start, cost, writes);
    this.mediator.device.clock.schedule(cost, () => {
      if (this.target !== to) return;
      this.current = to;
      this.switching = false;
      this.target = -1;
      this.ownerSince = this.now;
      this.mediator.kick();
    });
  }

  private loadImageFromVregs(slot: Slot): void {
    const offsets = this.switcher.layout.offsets;
    const vregs = slot.vgpu.vregs;
    const img = slot.image;
    for (let i = 0; i < offsets.length; i++) img[i] = (vregs.peek(offsets[i]) & this.switcher.writableMask(i)) >>> 0;
  }

  private endOwnership(): void {
    if (this.current < 0) return;
    const s = this.slots.get(this.current);
    if (s && this.now > this.ownerSince) this.trace?.vgpuSlice(s.vgpu.name, this.ownerSince, this.now - this.ownerSince);
  }

  // ------------------------------------------------------------------ workload events

  private onDispatch(w: Workload): void {
    const dispatchedRun = w.preemptions;
    if (this.watchdogNs !== Infinity) {
      this.mediator.device.clock.schedule(this.watchdogNs, () => {
        if (w.status === 'running' && w.preemptions === dispatchedRun) {
          const s = this.slots.get(w.vgpuId);
          if (s) s.stats.hangs++;
          this.trace?.hang(w.engine.name, s ? s.vgpu.name : String(w.vgpuId), w.seq, this.now);
          this.mediator.hang(w, `watchdog: ran longer than ${this.watchdogNs / 1e6} ms`);
        }
      });
    }
  }

  private charge(w: Workload): void {
    const s = this.slots.get(w.vgpuId);
    if (!s) return;
    const before = this.charged.get(w) ?? 0;
    const used = this.mediator.busySoFar(w);
    const ns = used - before;
    this.charged.set(w, used);
    if (ns > 0) {
      s.stats.busyNs += ns;
      s.entity.usedNs += ns;
      this.policy.charge(w.vgpuId, ns, this.now);
    }
  }

  private onPreempt(w: Workload): void {
    this.charge(w);
    const s = this.slots.get(w.vgpuId);
    if (s) s.stats.preemptions++;
    this.continueSwitch();
  }

  private onDone(w: Workload): void {
    const s = this.slots.get(w.vgpuId);
    if (w.status === 'failed' && w.dispatchedAt >= 0 && w.completedAt > w.dispatchedAt) {
      // A hung workload ran until the watchdog: the GPU time is the vGPU's.
      w.busyNs = Math.max(w.busyNs, w.completedAt - w.dispatchedAt - w.mediationNs);
    }
    this.charge(w);
    if (s) {
      if (w.status === 'completed') {
        s.stats.workloads++;
        s.stats.latency.add(w.completedAt - w.submittedAt);
        if (w.frameEnd) {
          s.stats.frames++;
          s.entity.frames++;
        }
      } else if (w.failure && w.failure.rule !== 'watchdog' && w.failure.rule !== 'reset') {
        this.trace?.auditFailure(w.engine.name, s.vgpu.name, w.failure.rule, this.now, w.failure.message);
      }
      if (w.status === 'completed' && w.dispatchedAt >= 0) {
        this.trace?.workload(w.engine.name, s.vgpu.name, w.seq, w.dispatchedAt + w.mediationNs, Math.max(0, w.completedAt - w.dispatchedAt - w.mediationNs));
      }
    }
    this.continueSwitch();
  }

  // ------------------------------------------------------------------ reports

  /** Metrics of the run so far (from the scheduler's creation). */
  report(): SchedReport {
    const r = buildReport([...this.slots.values()].map((s) => s.stats), this.now - this.startNs);
    return r;
  }

  /** Per-vGPU counters. */
  statsOf(id: number): VgpuStats | undefined {
    return this.slots.get(id)?.stats;
  }

  /** Close the current ownership slice in the trace (call before exporting it). */
  flushTrace(): void {
    this.endOwnership();
    this.ownerSince = this.now;
  }
}
