/**
 * Attacks on the workload lifecycle and on per-vGPU bounds (issue 13, classes 3, 4, 5, 8, 9): a
 * reset while work is on the device after failsafe, preempted workloads dropped with their
 * shadows, STOP_RING in the middle of a workload with no scheduler, a group of guests hoarding the
 * mediator's shadow space, and a status page that doubles as a page table. Where an attack needs
 * the scheduler's hand (descheduling a vGPU, preempting an engine), it uses the mediator's host
 * API, as the scheduler would.
 */
import { miArbCheck, miLoadRegisterImm, miStoreDataImm } from '../../device/commands/index.js';
import { RING } from '../../device/registers.js';
import type { TestGuest } from '../../harness/index.js';
import { PPGTT_MODE_L4 } from '../../gtt/shadow-ppgtt.js';
import { GEN9_HOST_RESERVATION } from '../../gtt/vgpu-types.js';
import { PAGE_SIZE } from '../../types.js';
import type { Attack, AttackContext } from './types.js';
import { expectCompleted, onDevice, runUntil, workloadsOf } from './helpers.js';

/** `n` stores into `gma` (wrapping at 2 KiB) each followed by MI_ARB_CHECK (a preemption point). */
function longBatch(gma: number, n: number): number[] {
  const words: number[] = [];
  for (let i = 0; i < n; i++) words.push(...miStoreDataImm(gma + 4 * (i % 512), [i + 1]), ...miArbCheck());
  return words;
}

/** Submit a long PPGTT batch of `g` on the render engine and run until it is on the device. */
function startLong(ctx: AttackContext, g: TestGuest, n: number): boolean {
  const buf = g.ppgttBuffer(2 * PAGE_SIZE);
  g.submitBatch('rcs', longBatch(buf.gma, n));
  return runUntil(ctx, () => onDevice(ctx, g) && ctx.h.device.engines[0].currentContextId >= 0, 50e6);
}

/** Deschedule `g` and preempt the render engine (what a time-slice scheduler does). */
function parkPreempted(ctx: AttackContext, g: TestGuest): boolean {
  const m = ctx.h.mediator;
  g.vgpu.deactivate();
  const before = m.stats.preempted;
  m.preempt(0);
  return runUntil(ctx, () => m.stats.preempted > before && m.inflightOn(0) === null, 50e6);
}

/** The pages of the reserved range of a small-pool world (1 MiB: 256 pages). */
const SMALL_POOL = { ...GEN9_HOST_RESERVATION, highGmSize: 1024 * 1024 };

export const LIFECYCLE_ATTACKS: readonly Attack[] = [
  {
    name: 'lc-reset-after-failsafe-with-work-on-device',
    surface: 'execlists',
    expectation: 'a vGPU put in failsafe (an unknown command on its blitter) while its long PPGTT workload runs on the render engine, then reset, has that workload stopped on the device (rule reset) before its shadow PPGTT is freed; the freed frames go to others at once and the device never walks them for it',
    run(ctx) {
      const g = ctx.attacker, m = ctx.h.mediator;
      ctx.data.started = startLong(ctx, g, 3000);
      ctx.data.running = m.inflightOn(0);
      g.submitBatch('bcs', [0x1f000005, 0, 0, 0, 0, 0, 0]);
      runUntil(ctx, () => g.vgpu.state === 'failsafe', 10e6);
      ctx.data.failsafe = g.vgpu.state === 'failsafe';
      ctx.data.stillRunning = m.inflightOn(0) === ctx.data.running;
      ctx.world.revive(g);
      ctx.data.after = m.inflightOn(0);
      ctx.data.held = m.hostGm.heldBy(g.vgpu.id);
      // Frames freed by the reset are reused at once by another guest's shadows.
      ctx.victim.submitBatch('rcs', miStoreDataImm(ctx.victim.ppgttBuffer(PAGE_SIZE).gma, [0x3e5]));
    },
    expect(ctx, t) {
      t.ok(ctx.data.started, 'the attacker\'s workload was on the device');
      t.ok(ctx.data.failsafe && ctx.data.stillRunning, 'failsafe came while it ran (and let it run)');
      t.ok(ctx.data.after !== ctx.data.running, 'the reset took it off the device');
      const w = ctx.data.running as { failure: { rule: string } | null } | null;
      t.equal(w?.failure?.rule, 'reset', 'it ended by the reset');
      t.equal(ctx.data.held, 0, 'its shadows were returned');
    },
  },
  {
    name: 'lc-preempted-shadows-dropped-by-reset',
    surface: 'resources',
    expectation: 'a preempted workload dropped from the queue by a reset returns its shadows (ring, batch, context) exactly once: eight preempt-and-reset cycles leave no shadow page held, and the reserved range is not exhausted',
    run(ctx) {
      const g = ctx.attacker, m = ctx.h.mediator;
      let cycles = 0, heldWhileQueued = 0;
      for (let i = 0; i < 8; i++) {
        if (!startLong(ctx, g, 3000) || !parkPreempted(ctx, g)) break;
        heldWhileQueued = Math.max(heldWhileQueued, m.hostGm.heldBy(g.vgpu.id));
        ctx.world.revive(g);
        g.vgpu.activate();
        if (m.hostGm.heldBy(g.vgpu.id) === 0) cycles++;
      }
      ctx.data.cycles = cycles;
      ctx.data.heldWhileQueued = heldWhileQueued;
    },
    expect(ctx, t) {
      t.ok((ctx.data.heldWhileQueued as number) > 0, `a preempted workload holds its shadows while queued (${ctx.data.heldWhileQueued} pages)`);
      t.equal(ctx.data.cycles, 8, 'every reset returned them');
      t.equal(ctx.h.mediator.hostGm.pagesInUse, 0, 'nothing held once idle');
    },
  },
  {
    name: 'lc-stop-ring-mid-workload',
    surface: 'commands',
    expectation: 'STOP_RING set in RING_MI_MODE by an LRI in the middle of a long batch, with no scheduler installed, ends that workload (rule stop-ring, a hang of the attacker only) and the engine serves the victim next',
    world: { failsafe: 'never' },
    run(ctx) {
      const g = ctx.attacker;
      const buf = g.ppgttBuffer(2 * PAGE_SIZE);
      const vb = ctx.victim.ppgttBuffer(PAGE_SIZE);
      ctx.data.vb = vb;
      const stop = ((1 << 8) << 16) | (1 << 8);
      g.submitBatch('rcs', [...miStoreDataImm(buf.gma, [1]), ...miLoadRegisterImm([[0x2000 + RING.MI_MODE, stop]]), ...longBatch(buf.gma + 4, 3000)]);
      ctx.victim.submit('rcs', miStoreDataImm(vb.gma, [0x5709]));
      ctx.world.settle(1e9);
      ctx.world.heal(g);
    },
    expect(ctx, t) {
      const ws = workloadsOf(ctx, ctx.attacker);
      t.ok(ws.some((w) => w.failure?.rule === 'stop-ring'), `the attacker's workload ended by stop-ring (${ws.map((w) => w.failure?.rule ?? w.status).join(', ')})`);
      t.equal(ctx.victim.memory.read32((ctx.data.vb as { gpa: number }).gpa), 0x5709, 'the victim\'s render work ran after it');
    },
  },
  {
    name: 'res-shadow-space-hoarding-group',
    surface: 'resources',
    expectation: 'four guests parking preempted workloads of ~63 shadow pages each in a 256-page reserved range (shadowQuotaPages 80, shadowReservePages 36) cannot make the victim\'s ordinary work fail or skip: it is served from its own reserve; a hoarder beyond what the others\' reserves leave waits',
    world: {
      attackers: 4, attackerType: 'GVTg_V5_4', victimType: 'GVTg_V5_4',
      mediator: { hostReservation: SMALL_POOL, shadowQuotaPages: 80, shadowReservePages: 36 },
    },
    run(ctx) {
      const m = ctx.h.mediator;
      const hoarders = ctx.world.attackers;
      let held = 0;
      for (const a of hoarders) {
        if (startLong(ctx, a, 8000)) parkPreempted(ctx, a);
        else a.vgpu.deactivate();
        held += m.hostGm.heldBy(a.vgpu.id);
      }
      ctx.data.held = held;
      const vb = ctx.victim.ppgttBuffer(PAGE_SIZE);
      ctx.data.vb = vb;
      ctx.victim.submitBatch('rcs', miStoreDataImm(vb.gma, [0x71c7]));
      ctx.victim.submit('bcs', miStoreDataImm(vb.gma + 4, [0x71c8]));
      ctx.data.served = runUntil(ctx, () => ctx.victim.memory.read32(vb.gpa) === 0x71c7 && ctx.victim.memory.read32(vb.gpa + 4) === 0x71c8, 20e6);
      ctx.data.quota = hoarders.every((a) => m.hostGm.heldBy(a.vgpu.id) <= 80);
      for (const a of hoarders) a.vgpu.activate();
    },
    expect(ctx, t) {
      t.ok((ctx.data.held as number) >= 120, `the hoarders held ${ctx.data.held} of 256 pages`);
      t.ok(ctx.data.quota, 'each within its quota');
      t.ok(ctx.data.served, 'the victim\'s render and blitter work ran while they held it');
      expectCompleted(ctx, t, ctx.victim);
    },
  },
  {
    name: 'lc-status-page-as-page-table',
    surface: 'ppgtt',
    expectation: 'a guest using its status page as a PPGTT page table sees the mediator\'s CSB mirror stores trapped like its own: the shadow table follows every entry they rewrite, no stale mapping survives',
    run(ctx) {
      const g = ctx.attacker, v = g.vgpu;
      const e = g.engine('rcs');
      const hwspGpa = g.gpaOf(e.hwsp!.gma);
      const target = g.driver.allocRam(1);
      for (let j = 8; j < 16; j++) g.driver.writeRam32(hwspGpa + 8 * j, [((target & ~0xfff) | 3) >>> 0, 0]);
      const va = 0x7f_4000_0000;
      g.ppgtt!.writeRaw(2, va, ((hwspGpa & ~0xfff) | 3) >>> 0, 0);
      g.submitBatch('rcs', miStoreDataImm(va + 14 * PAGE_SIZE, [0x7a7]));
      ctx.world.settle();
      for (let i = 0; i < 3; i++) {
        g.submit('rcs', miNoopPair());
        ctx.world.settle();
      }
      const mm = v.ppgtt.find(g.ppgtt!.pml4, PPGTT_MODE_L4);
      const stale: string[] = [];
      for (let j = 8; j < 16; j++) {
        const lo = g.memory.read32(hwspGpa + 8 * j), hi = g.memory.read32(hwspGpa + 8 * j + 4);
        const want = (lo & 1) === 0 ? -1 : v.ept.translate(((lo >>> 12) + (hi & 0x7f) * 2 ** 20) * PAGE_SIZE);
        if ((lo & 1) !== 0 && want < 0) continue;
        const got = mm ? mm.translate(va + j * PAGE_SIZE) : -2;
        if (got !== want) stale.push(`entry ${j}`);
      }
      ctx.data.stale = stale;
      ctx.data.landed = g.memory.read32(target);
    },
    expect(ctx, t) {
      t.equal(ctx.data.landed, 0x7a7, 'the status page served as a page table');
      t.equal((ctx.data.stale as string[]).join(', '), '', 'no stale shadow entry');
    },
  },
];

/** Two MI_NOOPs (a workload that only produces CSB events). */
function miNoopPair(): number[] {
  return [0, 0];
}
