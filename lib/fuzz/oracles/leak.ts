/**
 * The LEAK oracle: what the mediator holds for vGPUs and workloads returns to its baseline as
 * soon as they are gone, not only when the whole world is torn down.
 *
 * Checked after every case (once the world settled):
 * - **host frames**: every allocated host frame is accounted for by a live vGPU (its RAM frames
 *   backed through the EPT, its shadow page tables and scratch frames) or by the mediator's shadow
 *   pool; `allocatedFrames - accounted` stays at the value it had when the world was built. A vGPU
 *   destroyed, reset or put in failsafe with work on the device must not leave frames behind.
 * - **shadow pages**: the mediator's shadow pool (`HostGmPool.pagesInUse`) holds exactly the pages
 *   of the workloads still queued, being prepared or in flight (GVT-g frees a workload's shadows
 *   in `complete_current_workload` / `intel_vgpu_destroy_workload` whatever ends it: completion,
 *   reset, failsafe, destroy, or a preempted workload dropped from the queue).
 * - **host GGTT entries** of the mediator's reserved range: present exactly for the pool's pages
 *   (scanned when the set of vGPUs changed and at teardown).
 * - **parser buffers**: the command parser's retained shadow-buffer storage stays within
 *   `PARSER_RETAINED_LIMIT_BYTES` above its baseline once no workload is being audited (a 64 MiB
 *   workload may borrow that much for its scan, but must not keep it).
 *
 * Test equipment: reads private fields with bracket access, never changes the model.
 */
import type { Mediator } from '../../mediator/mediator.js';
import type { Workload } from '../../mediator/workload.js';
import { PAGE_SIZE } from '../../types.js';
import { INVARIANTS, shadowFramesHeld, type Violation } from '../monitor.js';

/**
 * Parser storage that may stay retained between workloads, above what it held when the world was
 * built: 9 MiB (one batch of the largest size `batch-size` lets through, 8 MiB, plus the ring
 * segment and smaller batches). Beyond that (up to the 64 MiB copy budget), a guest that
 * once submitted a large workload keeps host memory held for good.
 */
export const PARSER_RETAINED_LIMIT_BYTES = 9 * 1024 * 1024;

/** Host frames not accounted for by live vGPUs and the shadow pool. */
export function unaccountedFrames(m: Mediator): number {
  let acc = m.hostGm.pagesInUse;
  for (const v of m.vgpus) if (v.state !== 'destroyed') acc += v.ept.mappedFrames + shadowFramesHeld(v);
  return m.device.hostMemory.allocatedFrames - acc;
}

/** Workloads the mediator still tracks (queued, being prepared, in flight). */
export function pendingWorkloads(m: Mediator): Workload[] {
  const out: Workload[] = [];
  for (const q of m['queues'] as Workload[][]) for (const w of q) out.push(w);
  for (const w of m['preparing'] as (Workload | null)[]) if (w) out.push(w);
  for (const w of m['inflight'] as (Workload | null)[]) if (w) out.push(w);
  return out;
}

/** Shadow pool pages held by the pending workloads. */
export function pendingShadowPages(m: Mediator): number {
  let n = 0;
  for (const w of pendingWorkloads(m)) {
    for (const a of w.shadowAllocs) n += a.pages;
    if (w.shadowContext) n += w.shadowContext.pages;
  }
  return n;
}

/** Present host GGTT entries in the mediator's reserved range (its shadow pool). */
export function reservedRangePresent(m: Mediator): number {
  const words = m.device.ggtt.words;
  const first = m.hostGm.start / PAGE_SIZE, end = Math.min(m.hostGm.end / PAGE_SIZE, m.device.ggtt.entries);
  let n = 0;
  for (let i = first; i < end; i++) if ((words[2 * i] & 1) !== 0) n++;
  return n;
}

/** Bytes of shadow-buffer storage the command parser retains. */
export function parserRetainedBytes(m: Mediator): number {
  let n = 0;
  for (const s of m.parser['pool'] as { data: Uint32Array }[]) n += s.data.byteLength;
  return n;
}

/** The leak oracle of one world (baseline taken at construction). */
export class LeakOracle {
  readonly m: Mediator;
  /** `unaccountedFrames` when the world was built. */
  readonly baseUnaccounted: number;
  /** `parserRetainedBytes` when the world was built. */
  readonly baseParserBytes: number;
  /** Present reserved-range entries beyond the pool's pages when the world was built. */
  readonly baseReserved: number;
  private vgpuCount: number;

  constructor(m: Mediator) {
    this.m = m;
    this.baseUnaccounted = unaccountedFrames(m);
    this.baseReserved = reservedRangePresent(m) - m.hostGm.pagesInUse;
    this.baseParserBytes = parserRetainedBytes(m);
    this.vgpuCount = m.vgpus.length;
  }

  /** The checks after a case; `settled` when the mediator went idle (nothing pending). */
  check(out: Violation[], settled: boolean): void {
    const m = this.m;
    const held = pendingShadowPages(m);
    if (m.hostGm.pagesInUse !== held) {
      out.push({ invariant: INVARIANTS.LEAK, message: `the mediator's shadow pool holds ${m.hostGm.pagesInUse} pages, its pending workloads ${held}: ${m.hostGm.pagesInUse - held} shadow pages of finished or dropped workloads leaked` });
    }
    const un = unaccountedFrames(m);
    if (un !== this.baseUnaccounted) {
      out.push({ invariant: INVARIANTS.LEAK, message: `${un - this.baseUnaccounted} host frames held by nothing live (no live vGPU's RAM, shadow tables or scratch, nor the shadow pool)` });
    }
    const n = m.vgpus.length;
    if (n !== this.vgpuCount) {
      this.vgpuCount = n;
      this.checkReservedRange(out);
    }
    if (settled) this.checkParser(out);
  }

  /** Present entries of the reserved range match the shadow pool's pages. */
  checkReservedRange(out: Violation[]): void {
    const present = reservedRangePresent(this.m);
    if (present - this.baseReserved !== this.m.hostGm.pagesInUse) {
      out.push({ invariant: INVARIANTS.LEAK, message: `${present} present host GGTT entries in the mediator's reserved range for ${this.m.hostGm.pagesInUse} shadow pages in use` });
    }
  }

  /** The parser's retained storage is back within its limit. */
  checkParser(out: Violation[]): void {
    const b = parserRetainedBytes(this.m);
    if (b > this.baseParserBytes + PARSER_RETAINED_LIMIT_BYTES) {
      out.push({ invariant: INVARIANTS.LEAK, message: `the command parser retains ${(b / 1048576).toFixed(1)} MiB of shadow buffers while idle (baseline ${(this.baseParserBytes / 1048576).toFixed(1)} MiB, limit +${PARSER_RETAINED_LIMIT_BYTES / 1048576} MiB)` });
    }
  }
}
