/**
 * The oracles a `FuzzWorld` checks after every case on top of the isolation checker
 * (`monitor.ts`): RESIDUE (`residue.ts`), LEAK (`leak.ts`), WORK BOUND (`work-bound.ts`) and
 * STARVATION (`starvation.ts`). Each names its violations with its own invariant
 * (`INVARIANTS.RESIDUE`, `LEAK`, `WORK_BOUND`, `STARVATION`).
 */
import type { TestGuest } from '../../harness/index.js';
import type { Mediator } from '../../mediator/mediator.js';
import type { Violation } from '../monitor.js';
import { LeakOracle } from './leak.js';
import { ResidueOracle, type ResidueOptions } from './residue.js';
import { StarvationOracle } from './starvation.js';
import { WorkBoundOracle } from './work-bound.js';

export { LeakOracle, PARSER_RETAINED_LIMIT_BYTES, unaccountedFrames, pendingShadowPages, reservedRangePresent, parserRetainedBytes, pendingWorkloads } from './leak.js';
export { ResidueOracle, RESIDUE_EVERY, commandAccessible, plantableRegisters, type ResidueOptions, type RegDword } from './residue.js';
export { StarvationOracle, STARVATION_RULES } from './starvation.js';
export { checkShadowAgrees, shadowPageOf } from './shadow-sync.js';
export { WorkBoundOracle, DEVICE_NS_LIMIT, COMMAND_SLACK, MAX_BLIT_BYTES } from './work-bound.js';

/** Which oracles a world runs (all by default). */
export interface OracleOptions {
  /** The residue oracle (needs a victim); `false` to disable. */
  residue?: ResidueOptions | false;
  leak?: boolean;
  workBound?: boolean;
  starvation?: boolean;
}

/** The oracles of one world. */
export class WorldOracles {
  readonly residue: ResidueOracle | null;
  readonly leak: LeakOracle | null;
  readonly work: WorkBoundOracle | null;
  readonly starvation: StarvationOracle | null;

  constructor(m: Mediator, victim: TestGuest | null, seed: number, opts: OracleOptions = {}) {
    this.residue = victim && opts.residue !== false ? new ResidueOracle(victim, seed, opts.residue || {}) : null;
    this.work = opts.workBound !== false ? new WorkBoundOracle(m) : null;
    this.starvation = victim && opts.starvation !== false ? new StarvationOracle(m, victim.vgpu) : null;
    // Last: its baseline includes the residue oracle's buffers.
    this.leak = opts.leak !== false ? new LeakOracle(m) : null;
  }

  /** Before the world's own checks: a residue round (it runs workloads, which the checks then see). */
  beforeChecks(out: Violation[], attackers: readonly TestGuest[], settle: () => void): void {
    this.residue?.check(out, attackers, settle);
  }

  /** After the world's own checks. `settled`: nothing was pending when the case ended. */
  afterChecks(out: Violation[], settled: boolean): void {
    this.work?.take(out);
    this.starvation?.check(out, settled);
    this.leak?.check(out, settled);
  }
}
