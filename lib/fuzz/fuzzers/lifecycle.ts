/**
 * Lifecycle fuzzer: interleavings of create, destroy (with work in flight), device-model reset,
 * engine reset, failsafe, good and refused submissions on several engines, and partial runs of
 * simulated time, across several vGPUs next to the victim.
 *
 * Its own oracle: a guest that was neither disturbed (reset, engine reset, failsafe) nor refused
 * since the last check must have every workload completed and every value in place; the world's
 * teardown checks that every host frame and shadow page came back.
 */
import type { Rng } from '../../clock.js';
import { miLoadRegisterImm, miStoreDataImm } from '../../device/commands/index.js';
import type { EngineName } from '../../device/engines.js';
import type { TestGuest } from '../../harness/index.js';
import type { GuestBuffer } from '../../guest/engine.js';
import { PAGE_SIZE } from '../../types.js';
import { hx, pick, type Fuzzer } from '../fuzzer.js';
import { INVARIANTS, type Violation } from '../monitor.js';
import { mix32 } from '../world.js';

/** One operation. `slot` indexes the live fuzzed guests (modulo their count). */
export type LifecycleOp =
  | { readonly k: 'create'; readonly type: string }
  | { readonly k: 'destroy' | 'reset' | 'failsafe'; readonly slot: number }
  | { readonly k: 'reset-engine'; readonly slot: number; readonly engine: EngineName }
  | { readonly k: 'good'; readonly slot: number; readonly engine: EngineName; readonly n: number }
  | { readonly k: 'bad'; readonly slot: number; readonly engine: EngineName; readonly kind: 'unknown' | 'privileged' | 'foreign' }
  | { readonly k: 'run'; readonly ns: number };

interface Tracked {
  readonly g: TestGuest;
  readonly buf: GuestBuffer;
  next: number;
  /** Values its good workloads must leave: [gpa, value]. */
  readonly outstanding: [number, number][];
  /** Reset, engine-reset, failsafe or refused since the last check: its losses are its own. */
  disturbed: boolean;
  failures: string[];
}

interface LifecycleState {
  readonly guests: Tracked[];
  readonly byId: Map<number, Tracked>;
  created: number;
}

const MAX_GUESTS = 4;
const ENGINES: readonly EngineName[] = ['rcs', 'bcs', 'vcs'];

function track(st: LifecycleState, g: TestGuest): void {
  for (const e of ENGINES) g.engine(e);
  const t: Tracked = { g, buf: g.ppgttBuffer(4 * PAGE_SIZE), next: 0, outstanding: [], disturbed: false, failures: [] };
  st.guests.push(t);
  st.byId.set(g.vgpu.id, t);
  st.created++;
}

/** The lifecycle fuzzer. */
export const lifecycleFuzzer: Fuzzer<LifecycleOp, LifecycleState> = {
  name: 'lifecycle',
  description: 'create / destroy / reset / engine reset / failsafe / submit interleavings across several vGPUs',
  casesPerWorld: 40,
  victimEvery: 1,
  worldOptions: (seed, worldIndex) => ({ seed: mix32(seed, worldIndex), failsafe: (['gvt-g', 'always', 'never'] as const)[worldIndex % 3], attackers: 2 }),
  setup(world) {
    const st: LifecycleState = { guests: [], byId: new Map(), created: 0 };
    for (const g of world.attackers) track(st, g);
    world.h.mediator.onWorkloadDone((w) => {
      const t = st.byId.get(w.vgpuId);
      if (t && w.status === 'failed') t.failures.push(`${w.engine.name} workload ${w.seq}: ${w.failure?.rule}: ${w.failure?.message}`);
    });
    return st;
  },
  generate(rng: Rng) {
    const ops: LifecycleOp[] = [];
    const n = 3 + rng.int(8);
    for (let i = 0; i < n; i++) {
      const r = rng.int(100);
      const slot = rng.int(8);
      const engine = pick(rng, ENGINES);
      if (r < 6) ops.push({ k: 'create', type: pick(rng, ['GVTg_V5_8', 'GVTg_V5_8', 'GVTg_V5_4']) });
      else if (r < 12) ops.push({ k: 'destroy', slot });
      else if (r < 18) ops.push({ k: 'reset', slot });
      else if (r < 25) ops.push({ k: 'reset-engine', slot, engine });
      else if (r < 28) ops.push({ k: 'failsafe', slot });
      else if (r < 65) ops.push({ k: 'good', slot, engine, n: 1 + rng.int(4) });
      else if (r < 75) ops.push({ k: 'bad', slot, engine, kind: pick(rng, ['unknown', 'privileged', 'foreign'] as const) });
      else ops.push({ k: 'run', ns: pick(rng, [100, 1000, 5000, 20000, 200000]) + rng.int(1000) });
    }
    return ops;
  },
  execute(world, st, ops) {
    const out: Violation[] = [];
    for (const t of st.guests) world.heal(t.g, (t.next & 1) === 0);
    const live = (): Tracked[] => st.guests.filter((t) => t.g.vgpu.state !== 'destroyed');
    for (const op of ops) {
      if (op.k === 'create') {
        if (live().length >= MAX_GUESTS) continue;
        const avail = world.h.mediator.availability().find((a) => a.type === op.type);
        if (!avail || avail.count <= 0) continue;
        track(st, world.newAttacker(op.type));
        continue;
      }
      if (op.k === 'run') {
        world.h.run(op.ns);
        continue;
      }
      const ls = live();
      if (ls.length === 0) continue;
      const t = ls[op.slot % ls.length];
      const g = t.g;
      switch (op.k) {
        case 'destroy':
          g.vgpu.destroy();
          st.byId.delete(g.vgpu.id);
          st.guests.splice(st.guests.indexOf(t), 1);
          break;
        case 'reset':
          world.revive(g);
          t.disturbed = true;
          break;
        case 'failsafe':
          g.vgpu.enterFailsafe('lifecycle fuzzer');
          t.disturbed = true;
          break;
        case 'reset-engine':
          world.recoverEngine(g, op.engine, true);
          t.disturbed = true;
          break;
        case 'good':
          for (let i = 0; i < op.n; i++) {
            const slot = t.next++ % 4096;
            const value = (mix32(g.vgpu.id, t.next) | 1) >>> 0;
            g.submit(op.engine, miStoreDataImm(t.buf.gma + 4 * slot, [value]));
            t.outstanding.push([t.buf.gpa + 4 * slot, value]);
          }
          break;
        case 'bad': {
          const cmds = op.kind === 'unknown' ? [0x1f000005, 0, 0, 0, 0, 0, 0, 0]
            : op.kind === 'privileged' ? miLoadRegisterImm([[0x44200, 0]])
              : miStoreDataImm(world.victim ? world.victim.ggttBuf.gma : 0, [0xbad], { ggtt: true });
          g.submit(op.engine, cmds);
          t.disturbed = true;
          break;
        }
      }
    }
    if (!world.settle(200e6)) out.push({ invariant: INVARIANTS.LIVENESS, message: 'not idle after 200 ms of simulated time' });
    for (const t of st.guests) {
      if (t.g.vgpu.state === 'destroyed') continue;
      if (!t.disturbed && t.g.vgpu.state === 'active') {
        for (const f of t.failures) out.push({ invariant: INVARIANTS.ORACLE, message: `${t.g.name} (undisturbed): ${f}` });
        for (const [gpa, value] of t.outstanding) {
          const got = t.g.memory.read32(gpa);
          // A later store to the same slot (4096 slots) may have replaced it only if it wrapped.
          if (got !== value) {
            out.push({ invariant: INVARIANTS.ORACLE, message: `${t.g.name} (undisturbed): value at ${hx(gpa)} is ${hx(got)}, expected ${hx(value)}` });
            break;
          }
        }
      }
      t.outstanding.length = 0;
      t.failures.length = 0;
      t.disturbed = false;
    }
    return out;
  },
  format(op) {
    switch (op.k) {
      case 'create': return `create ${op.type}`;
      case 'run': return `run ${op.ns} ns`;
      case 'good': return `submit ${op.n} good on ${op.engine} (slot ${op.slot})`;
      case 'bad': return `submit ${op.kind} on ${op.engine} (slot ${op.slot})`;
      case 'reset-engine': return `reset engine ${op.engine} (slot ${op.slot})`;
      default: return `${op.k} (slot ${op.slot})`;
    }
  },
};
