/**
 * The attack corpus: named guest programs against the mediator, each with a statement of what a
 * correct mediator does and an `expect` that checks it. Every attack runs in a `FuzzWorld` next to
 * a victim guest doing real work; `runAttack` adds the global checks (no exception reaches the
 * caller, the device touched only the right frames, GGTT and shadow PPGTT name only owned frames,
 * the victim's work completed correctly, nothing leaked at teardown).
 */
import type { Harness, TestGuest } from '../../harness/index.js';
import { INVARIANTS, type Violation } from '../monitor.js';
import { FuzzWorld, mix32, type WorldOptions } from '../world.js';

/** The surfaces of the corpus. */
export type AttackSurface = 'mmio' | 'pci' | 'pvinfo' | 'ggtt' | 'ppgtt' | 'commands' | 'display' | 'execlists' | 'resources';

/** Every surface, in report order. */
export const ATTACK_SURFACES: readonly AttackSurface[] = ['mmio', 'pci', 'pvinfo', 'ggtt', 'ppgtt', 'commands', 'display', 'execlists', 'resources'];

/** The assertions an attack's `expect` makes (tap's `Test` satisfies it). */
export interface Assert {
  ok(value: unknown, message?: string): unknown;
  equal(found: unknown, wanted: unknown, message?: string): unknown;
}

/** What an attack program works with. */
export interface AttackContext {
  readonly world: FuzzWorld;
  readonly h: Harness;
  readonly attacker: TestGuest;
  readonly victim: TestGuest;
  /** What `run` leaves for `expect`. */
  readonly data: Record<string, unknown>;
}

/** One named attack. */
export interface Attack {
  /** Stable kebab-case name, unique in the corpus. */
  readonly name: string;
  readonly surface: AttackSurface;
  /** What a correct mediator does (the statement `expect` checks). */
  readonly expectation: string;
  /** World options (failsafe policy, parser limits, guest RAM...). */
  readonly world?: WorldOptions;
  /**
   * A known bug this attack exposes (what and where): the regression test is marked todo until the
   * fix lands. Empty when the mediator handles it.
   */
  readonly knownBug?: string;
  /** The attack program (guest-side accesses only, plus simulated time). */
  run(ctx: AttackContext): void;
  /** Its own expectations, checked after the world settled. */
  expect(ctx: AttackContext, t: Assert): void;
}

/** An `Assert` that collects failures (for the CLI and for checking an attack outside tap). */
export class CollectingAssert implements Assert {
  readonly failures: string[] = [];
  checks = 0;
  ok(value: unknown, message = 'ok'): boolean {
    this.checks++;
    if (!value) this.failures.push(message);
    return !!value;
  }
  equal(found: unknown, wanted: unknown, message = 'equal'): boolean {
    this.checks++;
    const ok = Object.is(found, wanted);
    if (!ok) this.failures.push(`${message}: found ${String(found)}, wanted ${String(wanted)}`);
    return ok;
  }
}

/** The outcome of `runAttack` beyond the assertions. */
export interface AttackOutcome {
  /** Global invariant violations (also asserted). */
  readonly violations: readonly Violation[];
  /** Exception thrown by the attack program, if any (also asserted). */
  readonly error: unknown;
}

/**
 * Run an attack: build its world, let the victim work, run the program, let the victim work again,
 * settle, check the attack's expectations, then the global invariants and the teardown leak check.
 */
export function runAttack(a: Attack, t: Assert): AttackOutcome {
  let seed = 0;
  for (let i = 0; i < a.name.length; i++) seed = mix32(seed, a.name.charCodeAt(i));
  const world = new FuzzWorld({ seed, ...a.world });
  const ctx: AttackContext = { world, h: world.h, attacker: world.attacker, victim: world.victim!.g, data: {} };
  world.victim!.work();
  let error: unknown = null;
  try {
    a.run(ctx);
  } catch (e) {
    error = e;
  }
  t.ok(error === null, `no exception reaches the caller${error ? `: ${(error as Error).stack ?? String(error)}` : ''}`);
  let violations: Violation[] = [];
  try {
    world.victim!.work();
    const idle = world.settle(10e9);
    if (!idle) violations.push({ invariant: INVARIANTS.LIVENESS, message: 'not idle after 10 s of simulated time' });
    a.expect(ctx, t);
    violations.push(...world.checkFull());
    t.ok(violations.length === 0, `isolation invariants hold${violations.length ? `: ${violations.map((v) => `${v.invariant}: ${v.message}`).join('; ')}` : ''}`);
    t.ok(ctx.victim.vgpu.state === 'active', 'the victim stays active');
    const leaks = world.teardown();
    t.ok(leaks.length === 0, `teardown returns every host frame and shadow page${leaks.length ? `: ${leaks.map((v) => v.message).join('; ')}` : ''}`);
    violations = [...violations, ...leaks];
  } catch (e) {
    error ??= e;
    t.ok(false, `no exception reaches the caller after the attack: ${(e as Error).stack ?? String(e)}`);
  }
  return { violations, error };
}
