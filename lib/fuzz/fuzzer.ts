/**
 * The shape of a fuzzer: seeded generation of one case's operations (plain data, printable), and
 * their execution against a `FuzzWorld`. The campaign runner (`campaign.ts`) owns worlds, seeds,
 * the checks after every case and the report.
 */
import type { Rng } from '../clock.js';
import type { Violation } from './monitor.js';
import type { FuzzWorld, WorldOptions } from './world.js';

/** Names of the fuzzers. */
export type FuzzerName = 'mmio' | 'commands' | 'gtt' | 'ppgtt' | 'lifecycle';

/** Every fuzzer name, in campaign order. */
export const FUZZER_NAMES: readonly FuzzerName[] = Object.freeze(['mmio', 'commands', 'gtt', 'ppgtt', 'lifecycle']);

/**
 * One fuzzer. `State` is what `setup` prepares once per world (the attacker's buffers, a model);
 * `Op` one operation of a case. `execute` runs a case to completion (ops, then simulated time until
 * idle) and returns the violations only it can see (an oracle of its own); the campaign then runs
 * the world's checks.
 */
export interface Fuzzer<Op = unknown, State = unknown> {
  readonly name: FuzzerName;
  /** One line: what it throws at the mediator. */
  readonly description: string;
  /** Cases run on one world before it is torn down (leak check) and rebuilt. */
  readonly casesPerWorld: number;
  /** The victim submits work every `victimEvery` cases (0: never). */
  readonly victimEvery: number;
  /** Options of the world for world number `worldIndex` of a campaign seeded `seed`. */
  worldOptions(seed: number, worldIndex: number): WorldOptions;
  /** Prepare a fresh world (allocate the attacker's buffers, build models). */
  setup(world: FuzzWorld, rng: Rng): State;
  /** The operations of one case. */
  generate(rng: Rng, state: State, world: FuzzWorld): Op[];
  /** Run them; return fuzzer-specific violations. May throw only if the model does (a crash). */
  execute(world: FuzzWorld, state: State, ops: readonly Op[]): Violation[];
  /** One operation, for reports. */
  format(op: Op): string;
}

/** Pick one element. */
export function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

/** True with probability `p`. */
export function chance(rng: Rng, p: number): boolean {
  return rng.next() < p;
}

/** A u32 with a bias towards edge values. */
export function u32(rng: Rng): number {
  switch (rng.int(8)) {
    case 0: return 0;
    case 1: return 0xffffffff;
    case 2: return 1 << rng.int(32) >>> 0;
    case 3: return rng.int(256);
    default: return rng.nextU32();
  }
}

/** Hex for reports. */
export function hx(n: number): string {
  return Number.isFinite(n) ? (n < 0 ? '-0x' + (-n).toString(16) : '0x' + n.toString(16)) : String(n);
}
