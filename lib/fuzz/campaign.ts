/**
 * The campaign runner: N seeded cases of one fuzzer (or all), each bounded, each followed by the
 * isolation checks; worlds rebuilt every `casesPerWorld` cases with a leak check at teardown.
 *
 * Determinism: case i of a campaign seeded S draws from `Rng(mix32(S, i))`; world k is built from
 * `fuzzer.worldOptions(S, k)`. Cases of one world share its state, so a failing case is replayed by
 * rebuilding its world and running the cases of that world up to it (`replayCase`). After a failing
 * case its world is dropped (the next case starts a fresh one), so one bug does not cascade.
 */
import createDebug from 'debug';
import { Rng } from '../clock.js';
import { FUZZER_NAMES, type Fuzzer, type FuzzerName } from './fuzzer.js';
import { INVARIANTS, type Violation } from './monitor.js';
import { FuzzWorld, mix32 } from './world.js';
import type { OracleOptions } from './oracles/index.js';
import { mmioFuzzer } from './fuzzers/mmio.js';
import { commandsFuzzer } from './fuzzers/commands.js';
import { gttFuzzer } from './fuzzers/gtt.js';
import { ppgttFuzzer } from './fuzzers/ppgtt.js';
import { lifecycleFuzzer } from './fuzzers/lifecycle.js';

const log = createDebug('gvtkit:fuzz');

/** The fuzzers by name. */
export const FUZZERS: Readonly<Record<FuzzerName, Fuzzer<any, any>>> = Object.freeze({
  mmio: mmioFuzzer,
  commands: commandsFuzzer,
  gtt: gttFuzzer,
  ppgtt: ppgttFuzzer,
  lifecycle: lifecycleFuzzer,
});

/** One failing case. */
export interface CaseFailure {
  readonly fuzzer: FuzzerName;
  readonly seed: number;
  /** Case index in the campaign. */
  readonly index: number;
  /** Where its world was built (`replayCase` needs it). */
  readonly segment: number;
  readonly kind: 'violation' | 'crash';
  readonly violations: readonly Violation[];
  /** The case's operations, formatted. */
  readonly ops: readonly string[];
  /** How to replay it. */
  readonly replay: string;
}

/** Result of one fuzzer's campaign. */
export interface CampaignResult {
  readonly fuzzer: FuzzerName;
  readonly seed: number;
  readonly cases: number;
  /** Cases with at least one violation (crashes not included). */
  readonly violations: number;
  /** Cases where an exception reached the caller. */
  readonly crashes: number;
  readonly worlds: number;
  /** Failing cases kept (at most `maxFailures`). */
  readonly failures: readonly CaseFailure[];
  /** Violations by invariant name (tolerated ones included). */
  readonly byInvariant: Readonly<Record<string, number>>;
  /** Cases whose only violations were of tolerated invariants (`CampaignOptions.tolerate`). */
  readonly tolerated: number;
  /** Wall-clock milliseconds (measured by the caller's clock; 0 when none was given). */
  readonly ms: number;
  /**
   * A digest of what the campaign did (simulated time, workloads, commands audited, device
   * accesses checked, per world): equal for equal seeds, the determinism check.
   */
  readonly fingerprint: string;
}

/** Options of `runCampaign`. */
export interface CampaignOptions {
  fuzzer: FuzzerName;
  /** Use this fuzzer instead of the registered one of that name (custom fuzzers, tests). */
  impl?: Fuzzer<any, any>;
  cases: number;
  seed: number;
  /** First case index (default 0). */
  from?: number;
  /**
   * Where the world of case `from` was built (default `from`): the cases from there to `from` run
   * first, unreported. A failure's `replay` names it.
   */
  segmentStart?: number;
  /** Failing cases kept in the result (default 10). */
  maxFailures?: number;
  /** Override the fuzzer's cases per world. */
  casesPerWorld?: number;
  /** A wall clock for `ms` (lib/ reads no wall clock; the CLI passes `performance.now`). */
  now?: () => number;
  /**
   * Invariants whose violations are counted (in `byInvariant` and `tolerated`) but neither fail the
   * case nor drop its world: classes known open on the tree under test, so a campaign still
   * measures everything else (e.g. `['residue']` before the register-residue fix is merged).
   */
  tolerate?: readonly string[];
  /** Override the worlds' oracles (`WorldOptions.oracles`; default all; `false` runs none). */
  oracles?: OracleOptions | false;
  /** Called after every world with the counts so far. */
  onProgress?(done: number, violations: number, crashes: number): void;
}

function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.name}${(e as { code?: string }).code ? ` [${(e as { code?: string }).code}]` : ''}: ${e.message}\n${(e.stack ?? '').split('\n').slice(1, 6).join('\n')}`;
  return String(e);
}

/**
 * Run `cases` cases of one fuzzer. Never throws on what the model does: exceptions become crash
 * records. Returns the counts and the first failing cases.
 */
export function runCampaign(opts: CampaignOptions): CampaignResult {
  const fz = opts.impl ?? FUZZERS[opts.fuzzer];
  if (!fz) throw new Error(`unknown fuzzer ${opts.fuzzer} (one of ${FUZZER_NAMES.join(', ')})`);
  const per = opts.casesPerWorld ?? fz.casesPerWorld;
  const seed = opts.seed >>> 0;
  const from = opts.from ?? 0;
  const end = from + opts.cases;
  const maxFailures = opts.maxFailures ?? 10;
  const t0 = opts.now?.() ?? 0;
  const failures: CaseFailure[] = [];
  const byInvariant: Record<string, number> = {};
  let violations = 0, crashes = 0, worlds = 0, done = 0, tolerated = 0;
  const tolerate = new Set(opts.tolerate ?? []);
  let world: FuzzWorld | null = null;
  let state: unknown = null;
  let worldIndex = -1;
  let segmentStart = 0;

  const record = (index: number, kind: 'violation' | 'crash', vs: Violation[], ops: readonly string[]): void => {
    if (kind === 'crash') crashes++;
    else violations++;
    for (const v of vs) byInvariant[v.invariant] = (byInvariant[v.invariant] ?? 0) + 1;
    if (failures.length < maxFailures) {
      failures.push({
        fuzzer: fz.name, seed, index, segment: segmentStart, kind, violations: vs, ops,
        replay: `node dist/scripts/fuzz.js --fuzzer ${fz.name} --seed ${seed} --replay ${index} --segment ${segmentStart}` +
          (per !== fz.casesPerWorld ? ` --per-world ${per}` : ''),
      });
    }
    log('%s case %d: %s: %s', fz.name, index, kind, vs.map((v) => `${v.invariant}: ${v.message}`).join('; '));
  };

  let fp = 0;
  const closeWorld = (index: number): void => {
    if (world === null) return;
    const st = world.h.mediator.stats;
    for (const x of [world.h.now, st.submitted, st.completed, st.failed, st.commandsAudited, st.addressesPatched, world.monitor.accesses]) fp = mix32(fp, x % 2 ** 32);
    let vs: Violation[];
    try {
      vs = world.teardown();
    } catch (e) {
      record(index, 'crash', [{ invariant: INVARIANTS.EXCEPTION, message: `teardown: ${describeError(e)}` }], ['(world teardown)']);
      world = null;
      return;
    }
    if (tolerate.size) {
      for (const v of vs) if (tolerate.has(v.invariant)) byInvariant[v.invariant] = (byInvariant[v.invariant] ?? 0) + 1;
      vs = vs.filter((v) => !tolerate.has(v.invariant));
    }
    if (vs.length) record(index, 'violation', vs, ['(world teardown: leak check)']);
    world = null;
    opts.onProgress?.(done, violations, crashes);
  };

  const runCase = (w: FuzzWorld, i: number): { vs: Violation[]; ops: string[]; crash: boolean } => {
    const rng = new Rng(mix32(seed, i));
    let ops: unknown[] = [];
    try {
      ops = fz.generate(rng, state, w);
      if (fz.victimEvery > 0 && i % fz.victimEvery === 0 && w.victim) w.victim.work();
      let vs = fz.execute(w, state, ops);
      vs.push(...w.check());
      if (tolerate.size && vs.some((v) => tolerate.has(v.invariant))) {
        for (const v of vs) if (tolerate.has(v.invariant)) byInvariant[v.invariant] = (byInvariant[v.invariant] ?? 0) + 1;
        vs = vs.filter((v) => !tolerate.has(v.invariant));
        if (vs.length === 0) tolerated++;
      }
      return { vs, ops: vs.length ? ops.map((o) => fz.format(o)) : [], crash: false };
    } catch (e) {
      return { vs: [{ invariant: INVARIANTS.EXCEPTION, message: describeError(e) }], ops: ops.map((o) => fz.format(o)), crash: true };
    }
  };

  for (let i = from; i < end; i++) {
    const wi = Math.floor(i / per);
    if (world === null || wi !== worldIndex) {
      closeWorld(i - 1);
      worldIndex = wi;
      segmentStart = i === from && opts.segmentStart !== undefined ? opts.segmentStart : i;
      try {
        const wo = fz.worldOptions(seed, wi);
        // Every oracle of oracles/ unless the fuzzer or the caller says otherwise.
        world = new FuzzWorld({ oracles: {}, ...wo, ...(opts.oracles !== undefined ? { oracles: opts.oracles } : {}) });
        state = fz.setup(world, new Rng(mix32(seed ^ 0x5e7, wi)));
        worlds++;
        // Replaying a case: the cases of its world segment before it run first, unreported.
        for (let j = segmentStart; j < i && world !== null; j++) if (runCase(world, j).crash) world = null;
      } catch (e) {
        done++;
        record(i, 'crash', [{ invariant: INVARIANTS.EXCEPTION, message: `world setup: ${describeError(e)}` }], ['(world setup)']);
        world = null;
        continue;
      }
      if (world === null) continue;
    }
    const r = runCase(world, i);
    done++;
    if (r.crash) {
      record(i, 'crash', r.vs, r.ops);
      world = null;
    } else if (r.vs.length) {
      record(i, 'violation', r.vs, r.ops);
      closeWorld(i);
    }
  }
  closeWorld(end - 1);
  const ms = opts.now ? opts.now() - t0 : 0;
  return { fuzzer: fz.name, seed, cases: done, violations, crashes, worlds, failures, byInvariant, tolerated, ms, fingerprint: fp.toString(16).padStart(8, '0') };
}

/**
 * Replay one case: rebuild its world and run the cases of its world segment before it first.
 * Worlds must be built as in the campaign that found it: a case found before the oracles of
 * `oracles/` existed replays with `{ oracles: false }` (their residue rounds run workloads).
 */
export function replayCase(
  fuzzer: FuzzerName, seed: number, index: number, segmentStart: number, casesPerWorld?: number, impl?: Fuzzer<any, any>,
  opts: Pick<CampaignOptions, 'oracles' | 'tolerate'> = {},
): CampaignResult {
  return runCampaign({ fuzzer, seed, cases: 1, from: index, segmentStart, casesPerWorld, maxFailures: 1, impl, ...opts });
}

/** The final line of a campaign report: `N cases, N violations, N crashes`. */
export function summaryLine(results: readonly CampaignResult[]): string {
  let c = 0, v = 0, x = 0;
  for (const r of results) {
    c += r.cases;
    v += r.violations;
    x += r.crashes;
  }
  return `${c} cases, ${v} violations, ${x} crashes`;
}
