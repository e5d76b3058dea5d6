/**
 * The lifecycle fuzzer's generators for issue 13 classes 8 and 9: `pt-at` (a page table of the
 * guest's live PPGTT at a page the mediator itself writes, checked by the shadow-sync oracle) and
 * `hoard` (several attackers together holding the shared host resources of a scarce world, while
 * the starvation and leak oracles watch). Each is shown to occur in generated cases, to do what it
 * says on the model, and (for `pt-at`) to report the stale shadow of finding 22 when the
 * mediator's stores skip write protection.
 */
import t from 'tap';
import { FuzzWorld, INVARIANTS, SCARCE_WORLD, runCampaign } from '../lib/fuzz/index.js';
import { lifecycleFuzzer, type LifecycleOp } from '../lib/fuzz/fuzzers/lifecycle.js';
import { checkShadowAgrees, shadowPageOf } from '../lib/fuzz/oracles/index.js';
import { Rng } from '../lib/clock.js';
import { mix32 } from '../lib/fuzz/mix.js';
import type { Violation } from '../lib/fuzz/monitor.js';
import { PAGE_SIZE } from '../lib/types.js';
import type { Ept } from '../lib/ept/ept.js';

type PtAt = Extract<LifecycleOp, { k: 'pt-at' }>;

function names(vs: readonly Violation[]): string[] {
  return vs.map((v) => `${v.invariant}: ${v.message}`);
}

/** A lifecycle world (`worldIndex` picks the options as a campaign would) with every oracle on. */
function lifecycleWorld(worldIndex: number, seed = 7) {
  const world = new FuzzWorld({ oracles: {}, ...lifecycleFuzzer.worldOptions(seed, worldIndex) });
  const st = lifecycleFuzzer.setup(world, new Rng(seed));
  return { world, st };
}

/** Record the guest-physical addresses `ept.hostWrite32` is asked to store to (the mediator's stores into guest RAM). */
function recordHostWrites(ept: Ept): number[] {
  const seen: number[] = [];
  const orig = ept.hostWrite32.bind(ept);
  ept.hostWrite32 = (gpa, value) => {
    seen.push(Number(gpa));
    return orig(gpa, value);
  };
  return seen;
}

/** The guest-physical address of the page `op` plants on the first attacker. */
function plantedGpa(world: FuzzWorld, op: PtAt): number {
  const g = world.attacker;
  const e = g.engine(op.engine);
  return op.page === 'hwsp' ? g.gpaOf(e.hwsp!.gma) : g.gpaOf(e.context.gma + (op.page === 'ring-state' ? PAGE_SIZE : 0));
}

t.test('pt-at: generated in about one case in seven, every page and level', async (t) => {
  const { world, st } = lifecycleWorld(0);
  const seen = new Set<string>();
  let cases = 0;
  for (let i = 0; i < 400; i++) {
    const ops = lifecycleFuzzer.generate(new Rng(mix32(5, i)), st, world);
    const p = ops.filter((o): o is PtAt => o.k === 'pt-at');
    if (p.length) cases++;
    for (const o of p) seen.add(`${o.page}/${o.level}`);
    t.notOk(ops.some((o) => o.k === 'hoard'), 'no hoard outside a scarce world');
  }
  t.ok(cases >= 30 && cases <= 100, `${cases} of 400 cases have one`);
  t.equal(seen.size, 9, `every page at every level: ${[...seen].sort().join(', ')}`);
  world.teardown();
});

for (const [page, engine, level] of [['hwsp', 'bcs', 1], ['pphwsp', 'rcs', 1], ['pphwsp', 'vcs', 2], ['hwsp', 'rcs', 3]] as const) {
  t.test(`pt-at: a level-${level} table at the ${page} of ${engine} is written by the mediator, trapped, and its shadow follows`, async (t) => {
    const { world, st } = lifecycleWorld(0);
    const g = world.attacker;
    const v = g.vgpu;
    // A first workload shadows the guest's PPGTT (the link is then a trapped store).
    g.submit(engine, []);
    world.settle();
    const op: PtAt = { k: 'pt-at', slot: 0, engine, page, level, seed: 0x1234567 + level, rounds: 2 };
    const gpa = plantedGpa(world, op);
    const writes = recordHostWrites(v.ept);
    const out = lifecycleFuzzer.execute(world, st, [op]);
    t.same(names(out), [], 'no violation');
    const sp = shadowPageOf(v, gpa / PAGE_SIZE);
    t.ok(sp && !sp.freed, 'the page is shadowed as a table');
    t.equal(sp?.level, level, `at level ${level}`);
    t.ok(v.ept.isWriteProtected(gpa / PAGE_SIZE), 'and write-protected');
    const inPage = writes.filter((a) => Math.floor(a / PAGE_SIZE) === gpa / PAGE_SIZE);
    t.ok(inPage.length > 0, `the mediator stored into it ${inPage.length} times`);
    t.ok(st.stats.ptAt === 1 && st.stats.compared >= 512, `the oracle compared ${st.stats.compared} entries`);
    t.same(names(world.check()), [], 'the world checks pass');
    t.same(names(world.teardown()), [], 'nothing leaked');
  });
}

t.test('pt-at: mediator stores that skip write protection leave a stale shadow the oracle reports (finding 22)', async (t) => {
  let found = 0;
  for (const [page, engine, level] of [['hwsp', 'bcs', 1], ['pphwsp', 'rcs', 1], ['pphwsp', 'bcs', 2]] as const) {
    const { world, st } = lifecycleWorld(0);
    const g = world.attacker;
    const v = g.vgpu;
    g.submit(engine, []);
    world.settle();
    // The pre-fix path: the store lands in guest RAM directly, the trap handler never runs.
    const ept = v.ept;
    ept.hostWrite32 = (gpa, value) => {
      const a = Number(gpa);
      ept.guest.page32(Math.floor(a / PAGE_SIZE))[(a & 0xfff) >>> 2] = value >>> 0;
      return true;
    };
    const out = lifecycleFuzzer.execute(world, st, [{ k: 'pt-at', slot: 0, engine, page, level, seed: 0x1234567 + level, rounds: 2 }]);
    const stale = out.filter((x) => x.invariant === INVARIANTS.SHADOW_SYNC);
    t.ok(stale.length > 0, `${page} of ${engine} at level ${level}: ${names(stale)[0] ?? 'nothing reported'}`);
    found += stale.length;
  }
  t.ok(found > 0);
});

t.test('checkShadowAgrees: a shadow entry rewritten behind the guest\'s back is reported', async (t) => {
  const { world } = lifecycleWorld(0);
  const g = world.attacker;
  g.submit('rcs', []);
  world.settle();
  const pml4 = g.ppgtt!.pml4;
  const out: Violation[] = [];
  t.ok(checkShadowAgrees(g.vgpu, pml4, out) === 512 && out.length === 0, 'the live PML4 agrees');
  // The guest's PML4 entry 0 changed without a trap: the shadow still names the old PDP.
  const guest = g.vgpu.ept.guest.page32(pml4 / PAGE_SIZE);
  const old = guest[0];
  guest[0] = 0;
  checkShadowAgrees(g.vgpu, pml4, out);
  t.match(names(out)[0] ?? '', /shadow-sync: .*entry 0 is not present in the guest/);
  guest[0] = old;
  world.teardown();
});

t.test('hoard: only in scarce worlds, often, with 2-4 holders', async (t) => {
  t.equal(lifecycleFuzzer.worldOptions(5, 2).scarce, true, 'world 2 is scarce');
  t.equal(lifecycleFuzzer.worldOptions(5, 13).scarce, true, 'world 13 is scarce (with the scheduler)');
  t.equal(lifecycleFuzzer.worldOptions(5, 13).scheduler, true);
  let scarce = 0;
  for (let i = 0; i < 64; i++) if (lifecycleFuzzer.worldOptions(5, i).scarce) scarce++;
  t.equal(scarce, 8, 'one world in eight');
  const { world, st } = lifecycleWorld(2);
  t.ok(world.scarce);
  let cases = 0;
  for (let i = 0; i < 200; i++) {
    const h = lifecycleFuzzer.generate(new Rng(mix32(5, i)), st, world).filter((o) => o.k === 'hoard');
    if (h.length) cases++;
    for (const o of h) if (o.k === 'hoard') t.ok(o.holders >= 2 && o.holders <= 4, 'holders');
  }
  t.ok(cases >= 50 && cases <= 90, `${cases} of 200 cases of a scarce world hoard`);
  world.teardown();
});

t.test('hoard: attackers together drive the shadow pool to its limit and host frames up; the victim is served; all returns', async (t) => {
  const { world, st } = lifecycleWorld(2);
  const m = world.h.mediator;
  const host = world.h.device.hostMemory;
  t.equal(m.hostGm.totalPages, 256, 'a 256-page shadow pool');
  t.equal(host.frames, (SCARCE_WORLD.hostMemoryMiB! * 1024 * 1024) / PAGE_SIZE, 'a small host memory');
  const baseFrames = host.allocatedFrames;
  const victim = world.victim!;
  let violations: Violation[] = [];
  for (let i = 0; i < 4; i++) {
    victim.work();
    const out = lifecycleFuzzer.execute(world, st, [{ k: 'hoard', holders: 3, tables: 256, queued: 4, stores: 1400, ns: 20000 }]);
    out.push(...world.check());
    violations = violations.concat(out);
  }
  // Finding 29 (class 8): hoarders whose own page tables exhausted host memory waited at the head
  // of every engine's queue, and the victim's work was never dispatched (the FIFO turn skipped it
  // at every retry; and nothing kept host frames for it). Fixed by the dispatcher's restart and
  // per-vGPU host-frame reserves (hoarders beyond theirs fail `shadow-alloc` instead of waiting).
  t.same(names(violations), [], 'no violation: no victim failure, nothing left pending, no leak');
  t.equal(st.stats.hoards, 4);
  const quotaOfOthers = 3 * 80;
  const poolLimit = m.hostGm.totalPages - m.hostGm.reservePages; // what the victim's reserve leaves them
  t.ok(st.stats.peakPoolPages >= Math.min(quotaOfOthers, poolLimit) * 0.75, `the hoarders held ${st.stats.peakPoolPages} of the ${poolLimit} pages others may take`);
  t.ok(m.stats.shadowWaits > 0 || st.stats.peakPoolPages >= poolLimit * 0.9, `shadow allocations had to wait (${m.stats.shadowWaits})`);
  t.ok(st.stats.hoardTables >= 3 * 900, `${st.stats.hoardTables} page-table pages added`);
  t.ok(st.stats.peakHostFrames - baseFrames >= 2500, `host frames rose by ${st.stats.peakHostFrames - baseFrames} of ${host.frames}`);
  t.ok(victim.completed > 0 && victim.failures.length === 0, `the victim's ${victim.completed} workloads completed`);
  const beyond = m.history.filter((x) => x.vgpuId !== victim.g.vgpu.id && /beyond its reserve/.test(x.failure?.message ?? '')).length;
  t.ok(beyond > 0 || m.pendingWorkloads === 0, `hoarders beyond their host-frame reserve failed instead of waiting forever (${beyond})`);
  t.same(names(world.teardown()), [], 'everything returned after teardown');
});

t.test('a short lifecycle campaign with the new ops reports nothing on the fixed tree', async (t) => {
  // Worlds 0-2 (world 2 is scarce): the first 120 cases of seed 5.
  const r = runCampaign({ fuzzer: 'lifecycle', seed: 5, cases: 120 });
  t.equal(r.violations + r.crashes, 0, r.failures.map((f) => `${f.replay}: ${names(f.violations).join('; ')}`).join('\n'));
});
