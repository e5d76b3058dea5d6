/**
 * The WORK BOUND oracle: what one workload costs the device and the host stays under limits that
 * depend on what the auditor accepted, never on what the guest's numbers make the device do.
 *
 * Per workload (over all its runs, preemptions included), from the device's deterministic
 * counters (`CommandStreamer.stats`, `commandCounts`) and simulated time, never the wall clock:
 * - **blit bytes** ≤ (blits executed + 1) × `maxSurfaceBytes` (GVT-g's 36 MiB, the extent the
 *   auditor's `address-bounds` lets one blit cover): a blit with pitch 0 (or a tiny pitch) and
 *   maximal width × height writes the same rows again and again, far more bytes than its checked
 *   extent (work amplification: device time and host CPU both);
 * - **commands executed** ≤ commands audited + `COMMAND_SLACK` (the device runs the audited copy;
 *   more means it ran something the auditor never counted, a loop for instance);
 * - **device time** ≤ `DEVICE_NS_LIMIT` (1 s simulated): at the cost model's rates, the parser's
 *   budgets (2^20 commands, 64 MiB copied) and bounded blits stay far below it.
 *
 * The check also runs while a workload is still on the device (`midRun`, called by the world's
 * `settle` between slices of simulated time): a workload past a limit is reported and ended as a
 * hang (`Mediator.hang`, the scheduler watchdog's path) so that one amplified blit does not cost the
 * campaign seconds of host CPU.
 */
import { COMMANDS } from '../../device/commands/index.js';
import type { Mediator } from '../../mediator/mediator.js';
import type { Workload } from '../../mediator/workload.js';
import { INVARIANTS, type Violation } from '../monitor.js';

/** Device time one workload may use (simulated ns). */
export const DEVICE_NS_LIMIT = 1e9;
/** Commands the device may execute beyond those audited (ring padding, the batch-start NOOP). */
export const COMMAND_SLACK = 64;
/** GVT-g's largest surface (36 MiB): the extent one blit may cover. */
export const MAX_BLIT_BYTES = 36 * 1024 * 1024;

const BLIT_IDS = COMMANDS.filter((c) => c.name === 'XY_COLOR_BLT' || c.name === 'XY_SRC_COPY_BLT' || c.name === 'XY_FULL_BLT' || c.name === 'XY_PAT_BLT').map((c) => c.id);

interface Tally {
  bytes: number;
  commands: number;
  blits: number;
  reported: boolean;
}

interface Snap {
  w: Workload;
  bytes: number;
  commands: number;
  blits: number;
}

/** The work-bound oracle of one world. */
export class WorkBoundOracle {
  readonly m: Mediator;
  readonly maxBlitBytes: number;
  private readonly tally = new WeakMap<Workload, Tally>();
  private readonly stint: (Snap | null)[];
  private readonly found: Violation[] = [];
  /** Workloads checked (finished). */
  checked = 0;

  constructor(m: Mediator, maxBlitBytes = MAX_BLIT_BYTES) {
    this.m = m;
    this.maxBlitBytes = maxBlitBytes;
    this.stint = m.device.engines.map(() => null);
    m.onWorkloadDispatch((w) => this.begin(w));
    m.onWorkloadPreempt((w) => this.end(w));
    m.onWorkloadDone((w) => {
      this.end(w);
      this.checked++;
      this.judge(w, this.tallyOf(w), w.busyNs);
    });
  }

  private counters(engineId: number): { bytes: number; commands: number; blits: number } {
    const s = this.m.device.engines[engineId].streamer;
    let blits = 0;
    for (const id of BLIT_IDS) blits += s.commandCounts[id];
    return { bytes: s.stats.bytesBlitted, commands: s.stats.commands, blits };
  }

  private tallyOf(w: Workload): Tally {
    let t = this.tally.get(w);
    if (!t) {
      t = { bytes: 0, commands: 0, blits: 0, reported: false };
      this.tally.set(w, t);
    }
    return t;
  }

  private begin(w: Workload): void {
    const c = this.counters(w.engine.id);
    this.stint[w.engine.id] = { w, ...c };
  }

  /** Close the run of `w` on its engine (preempted, finished or dropped). */
  private end(w: Workload): void {
    const e = w.engine.id;
    const s = this.stint[e];
    if (!s || s.w !== w) return;
    this.stint[e] = null;
    const c = this.counters(e);
    const t = this.tallyOf(w);
    t.bytes += c.bytes - s.bytes;
    t.commands += c.commands - s.commands;
    t.blits += c.blits - s.blits;
  }

  private judge(w: Workload, t: Tally, busyNs: number): boolean {
    if (t.reported) return false;
    const what = `workload ${w.seq} of vGPU ${w.vgpuId} on ${w.engine.name}`;
    let msg = '';
    if (t.bytes > (t.blits + 1) * this.maxBlitBytes) msg = `${what} blitted ${t.bytes} bytes in ${t.blits} blits, beyond ${(t.blits + 1)} × ${this.maxBlitBytes} (work amplification)`;
    else if (w.status !== 'queued' && w.commands >= 0 && t.commands > w.commands + COMMAND_SLACK && w.commands > 0) msg = `${what} executed ${t.commands} commands for ${w.commands} audited`;
    else if (busyNs > DEVICE_NS_LIMIT) msg = `${what} held the engine ${(busyNs / 1e6).toFixed(1)} ms of simulated time (limit ${DEVICE_NS_LIMIT / 1e6} ms)`;
    if (!msg) return false;
    t.reported = true;
    this.found.push({ invariant: INVARIANTS.WORK_BOUND, message: msg });
    return true;
  }

  /**
   * Check the workloads on the device now; end (as a hang) those past a limit. Returns true when
   * it ended one.
   */
  midRun(): boolean {
    let ended = false;
    for (let e = 0; e < this.stint.length; e++) {
      const s = this.stint[e];
      if (!s) continue;
      const w = s.w;
      const c = this.counters(e);
      const t = this.tallyOf(w);
      const now: Tally = { bytes: t.bytes + c.bytes - s.bytes, commands: t.commands + c.commands - s.commands, blits: t.blits + c.blits - s.blits, reported: t.reported };
      if (this.judge(w, now, this.m.busySoFar(w))) {
        t.reported = true;
        this.m.hang(w, 'fuzz work bound exceeded');
        ended = true;
      }
    }
    return ended;
  }

  /** Take the violations found since the last call. */
  take(out: Violation[]): void {
    for (const v of this.found.splice(0)) out.push(v);
  }
}
