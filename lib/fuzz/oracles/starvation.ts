/**
 * The STARVATION oracle: hostile guests, however many and together, never make the victim's
 * ordinary work fail. The victim's own check (`Victim.verify`) already reports any failed workload
 * as `victim-result`; this oracle names the class when the cause is a shared resource or another
 * guest's doing: a rule of resource exhaustion (`shadow-alloc`: host frames, the shadow pool or
 * shadow space taken by others), a workload dropped by a reset or hang that was not the victim's
 * (`reset`, `device-reset`, `gpu-hang`, `watchdog`, `device-refused`), or any victim workload
 * that failed while other vGPUs had work pending, plus victim workloads still pending after
 * settling (an engine held or wedged by another guest).
 */
import type { Mediator } from '../../mediator/mediator.js';
import type { Workload } from '../../mediator/workload.js';
import type { Vgpu } from '../../mediator/vgpu.js';
import { INVARIANTS, type Violation } from '../monitor.js';

/** Failure rules that mean a shared resource ran out or another guest's trouble reached the victim. */
export const STARVATION_RULES: ReadonlySet<string> = new Set(['shadow-alloc', 'reset', 'device-reset', 'gpu-hang', 'watchdog', 'device-refused']);

/** The starvation oracle of one world, watching `victim`. */
export class StarvationOracle {
  readonly m: Mediator;
  readonly victim: Vgpu;
  private readonly found: Violation[] = [];
  /** Victim workloads seen finishing. */
  finished = 0;

  constructor(m: Mediator, victim: Vgpu) {
    this.m = m;
    this.victim = victim;
    m.onWorkloadDone((w) => this.onDone(w));
  }

  private onDone(w: Workload): void {
    if (w.vgpuId !== this.victim.id) return;
    this.finished++;
    if (w.status !== 'failed' || !w.failure) return;
    const others = this.m.vgpus.filter((v) => v !== this.victim && v.state !== 'destroyed').length;
    if (STARVATION_RULES.has(w.failure.rule)) {
      this.found.push({ invariant: INVARIANTS.STARVATION, message: `victim workload ${w.seq} on ${w.engine.name} failed ${w.failure.rule} (${w.failure.message}) next to ${others} other vGPUs` });
    }
  }

  /** After a settled case: the victim has nothing left pending. */
  check(out: Violation[], settled: boolean): void {
    for (const v of this.found.splice(0)) out.push(v);
    if (!settled && this.victim.state === 'active') {
      const n = this.m.pendingOf(this.victim.id);
      if (n > 0) out.push({ invariant: INVARIANTS.STARVATION, message: `victim still has ${n} workloads pending after the world settled (others hold or wedged an engine)` });
    }
  }
}
