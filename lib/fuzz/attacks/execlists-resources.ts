/**
 * Attacks on execlist submission (descriptors, ports, context images) and on shared resources
 * (audit work, host frames, shadow space, GPU time, interrupts, logs).
 */
import { miBatchBufferEnd, miBatchBufferStart, miNoop, miStoreDataImm, miUserInterrupt, xyColorBlt } from '../../device/commands/index.js';
import { CtxReg, encodeDescriptor } from '../../device/lrc.js';
import { RING } from '../../device/registers.js';
import { PAGE_SIZE } from '../../types.js';
import type { Attack } from './types.js';
import { expectCompleted, expectRefused, runUntil, setContextValue, submitWith, workloadsOf } from './helpers.js';

export const EXECLIST_ATTACKS: readonly Attack[] = [
  {
    name: 'el-bad-addressing-mode',
    surface: 'execlists',
    expectation: 'descriptors with the advanced addressing modes (0, 2) are refused by bad-descriptor before any context is read',
    run(ctx) {
      submitWith(ctx.attacker, 'rcs', miNoop(), { addressingMode: 0 });
      ctx.world.settle();
      submitWith(ctx.attacker, 'rcs', miNoop(), { addressingMode: 2 });
    },
    expect(ctx, t) {
      const ws = workloadsOf(ctx, ctx.attacker);
      t.equal(ws.filter((w) => w.failure?.rule === 'bad-descriptor').length, 2, 'both refused by bad-descriptor');
    },
  },
  {
    name: 'el-no-privilege-bit',
    surface: 'execlists',
    expectation: 'a descriptor without the privilege bit is refused by bad-descriptor (GVT-g requires it)',
    run: (ctx) => submitWith(ctx.attacker, 'rcs', miNoop(), { privilege: false }),
    expect: (ctx, t) => void expectRefused(ctx, t, 'bad-descriptor'),
  },
  {
    name: 'el-lrca-outside-memory',
    surface: 'execlists',
    expectation: 'context images at the victim\'s context, in the mediator\'s shadow range, or running past the end of the vGPU\'s slice are refused by bad-descriptor; the victim\'s context is never read for the attacker',
    run(ctx) {
      const g = ctx.attacker, s = g.vgpu.slices;
      for (const lrca of [ctx.victim.engine('rcs').context.gma, ctx.h.mediator.hostGm.start, s.highBase + s.highSize - PAGE_SIZE, s.lowBase + s.lowSize - 2 * PAGE_SIZE]) {
        submitWith(g, 'rcs', miNoop(), { lrca });
        ctx.world.settle();
      }
    },
    expect(ctx, t) {
      const ws = workloadsOf(ctx, ctx.attacker);
      t.equal(ws.filter((w) => w.failure?.rule === 'bad-descriptor').length, 4, `all four refused by bad-descriptor (${ws.map((w) => w.failure?.rule ?? w.status).join(', ')})`);
    },
  },
  {
    name: 'el-context-in-unmapped-memory',
    surface: 'execlists',
    expectation: 'a context image inside the vGPU\'s slice but never mapped (its GGTT entries at scratch) yields an invalid ring: refused by ring-context, nothing runs',
    run(ctx) {
      const lrca = ctx.attacker.driver.allocGm(22 * PAGE_SIZE);
      submitWith(ctx.attacker, 'rcs', miNoop(), { lrca });
    },
    expect: (ctx, t) => void expectRefused(ctx, t, 'ring-context'),
  },
  {
    name: 'el-resubmit-running-context',
    surface: 'execlists',
    expectation: 'resubmitting a running context (lite restore) continues after its queued work; a submission while both ports are busy is refused and counted; every accepted store runs once, in order',
    run(ctx) {
      const g = ctx.attacker;
      const buf = g.ppgttBuffer(PAGE_SIZE);
      ctx.data.buf = buf;
      const e = g.engine('rcs');
      const first: number[] = [];
      for (let i = 0; i < 200; i++) first.push(...miStoreDataImm(buf.gma + 4 * (i % 64), [i + 1]));
      submitWith(g, 'rcs', first);
      ctx.h.run(2000);
      submitWith(g, 'rcs', miStoreDataImm(buf.gma + 1024, [0x2222]));
      const refused = g.vgpu.execlists[0].counters.refused;
      submitWith(g, 'rcs', miStoreDataImm(buf.gma + 1028, [0x3333]));
      g.driver.submitElsp(e.engine, encodeDescriptor({ lrca: e.context.gma, contextId: e.contextId }));
      ctx.data.refused = g.vgpu.execlists[0].counters.refused - refused;
    },
    expect(ctx, t) {
      const buf = ctx.data.buf as { gpa: number };
      const m = ctx.attacker.memory;
      t.ok((ctx.data.refused as number) >= 1, `a submission to full ports refused and counted (${ctx.data.refused})`);
      t.equal(m.read32(buf.gpa + 4 * (199 % 64)), 200, 'the first workload ran to its end');
      t.equal(m.read32(buf.gpa + 1024), 0x2222, 'the resubmission ran');
      t.ok(workloadsOf(ctx, ctx.attacker).every((w) => w.status === 'completed'), 'no workload failed');
    },
  },
  {
    name: 'el-invalid-element0-and-csb-tamper',
    surface: 'execlists',
    expectation: 'an ELSP write whose element 0 is not valid is refused and counted; guest writes to its CSB entries and execlist status are ignored; its CSB still advances for its own completions',
    run(ctx) {
      const g = ctx.attacker, v = g.vgpu;
      const e = g.engine('rcs');
      const [lo, hi] = encodeDescriptor({ lrca: e.context.gma, contextId: e.contextId });
      const refused = v.execlists[0].counters.refused;
      g.driver.submitElsp(e.engine, [lo & ~1, hi], [lo, hi]);
      ctx.data.refused = v.execlists[0].counters.refused - refused;
      for (let i = 0; i < 12; i++) v.mmioWrite(0x2000 + RING.CSB0_LO + 4 * i, 4, 0xffffffff);
      v.mmioWrite(0x2000 + RING.EXECLIST_STATUS_LO, 4, 0xffffffff);
      const events = v.execlists[0].counters.csbEvents;
      g.submit('rcs', miNoop());
      ctx.world.settle();
      ctx.data.csb = v.execlists[0].counters.csbEvents - events;
      ctx.data.ptr = v.mmioRead(0x2000 + RING.CSB_PTR, 4) & 7;
    },
    expect(ctx, t) {
      t.equal(ctx.data.refused, 1, 'the submission with an invalid element 0 was refused');
      t.ok((ctx.data.csb as number) >= 2, 'the CSB advanced for the next completion');
      t.ok((ctx.data.ptr as number) < 6, 'the CSB write pointer is a valid entry');
      expectCompleted(ctx, t, ctx.attacker);
    },
  },
  {
    name: 'el-cross-engine-context',
    surface: 'execlists',
    expectation: 'a render context (22 pages) submitted on the blitter, and a blitter context on the render engine, run the guest\'s own commands or are refused; either way nothing leaves its memory',
    run(ctx) {
      const g = ctx.attacker;
      const rcs = g.engine('rcs'), bcs = g.engine('bcs');
      rcs.emit(miNoop());
      setContextValue(g, 'rcs', CtxReg.RING_TAIL, rcs.tail);
      g.driver.submitElsp(bcs.engine, encodeDescriptor({ lrca: rcs.context.gma, contextId: 7 }));
      ctx.world.settle();
      bcs.emit(miNoop());
      setContextValue(g, 'bcs', CtxReg.RING_TAIL, bcs.tail);
      g.driver.submitElsp(rcs.engine, encodeDescriptor({ lrca: bcs.context.gma, contextId: 8 }));
    },
    expect(ctx, t) {
      t.ok(workloadsOf(ctx, ctx.attacker).length >= 2, 'both submissions were handled');
    },
  },
];

export const RESOURCE_ATTACKS: readonly Attack[] = [
  {
    name: 'res-huge-batch',
    surface: 'resources',
    expectation: 'a 4 MiB batch is audited, shadowed and run; its shadow pages are returned at completion; the victim\'s work completes too',
    run(ctx) {
      const g = ctx.attacker;
      const buf = g.ppgttBuffer(PAGE_SIZE);
      ctx.data.buf = buf;
      const words = new Array<number>(1024 * 1024 - 8).fill(0);
      g.submitBatch('rcs', [...words, ...miStoreDataImm(buf.gma, [0xb16])]);
    },
    expect(ctx, t) {
      t.equal(ctx.attacker.memory.read32((ctx.data.buf as { gpa: number }).gpa), 0xb16, 'the batch ran to its end');
      t.equal(ctx.h.mediator.hostGm.pagesInUse, 0, 'its shadow pages were returned');
    },
  },
  {
    name: 'res-command-budget-default',
    surface: 'resources',
    expectation: 'a batch of more than 2^20 commands is refused by command-budget under the default limits: audit time is bounded',
    run(ctx) {
      ctx.attacker.submitBatch('rcs', new Array<number>((1 << 20) + 64).fill(0));
    },
    expect: (ctx, t) => void expectRefused(ctx, t, 'command-budget'),
  },
  {
    name: 'res-host-frame-exhaustion',
    surface: 'resources',
    expectation: 'when host frames run out while the attacker\'s workload is shadowed (and while its PPGTT is built), that workload waits, queued, with nothing half-allocated (host memory is no guest\'s doing: never a shadow-alloc failure that skips its commands) and runs once frames are back; the victim\'s next work completes',
    run(ctx) {
      const g = ctx.attacker;
      ctx.world.settle();
      const mem = ctx.h.device.hostMemory;
      g.submitBatch('rcs', miStoreDataImm(g.ppgttBuffer(PAGE_SIZE).gma, [1]));
      const waits = ctx.h.mediator.stats.shadowWaits;
      mem.failAllocations = 2;
      ctx.world.settle();
      ctx.data.waits = ctx.h.mediator.stats.shadowWaits - waits;
      mem.failAllocations = 0;
      // The PPGTT build path: a new root while frames fail.
      const pml4 = g.driver.allocRam(1);
      g.driver.writeRam(pml4, new Uint8Array(PAGE_SIZE));
      mem.failAllocations = 1;
      g.vgpu.mmioWrite(0x78838, 4, pml4);
      g.vgpu.mmioWrite(0x78818, 4, 4);
      ctx.data.left = mem.failAllocations;
      mem.failAllocations = 0;
      ctx.world.heal(g);
      const buf = g.ppgttBuffer(PAGE_SIZE);
      ctx.data.buf = buf;
      g.submitBatch('rcs', miStoreDataImm(buf.gma, [0xa11c]));
    },
    expect(ctx, t) {
      t.ok((ctx.data.waits as number) >= 1, `the workload waited for frames (${ctx.data.waits} waits)`);
      expectCompleted(ctx, t, ctx.attacker);
      t.equal(ctx.data.left, 0, 'the PPGTT build met the injected failure');
      t.equal(ctx.attacker.memory.read32((ctx.data.buf as { gpa: number }).gpa), 0xa11c, 'the attacker works again once frames are back');
    },
  },
  {
    name: 'res-gpu-time-hog',
    surface: 'resources',
    expectation: 'a guest queueing long workloads back to back delays the victim by at most its queued work (policy: first come, first served unless a scheduler is installed); the victim\'s workload completes',
    run(ctx) {
      const g = ctx.attacker;
      const buf = g.ppgttBuffer(PAGE_SIZE);
      const words: number[] = [];
      for (let i = 0; i < 2000; i++) words.push(...miStoreDataImm(buf.gma + 4 * (i % 1024), [i]));
      for (let k = 0; k < 8; k++) g.submitBatch('rcs', words);
      const vb = ctx.victim.ppgttBuffer(PAGE_SIZE);
      ctx.data.vb = vb;
      ctx.data.t0 = ctx.h.now;
      ctx.victim.submit('rcs', miStoreDataImm(vb.gma, [0x71e]));
      ctx.world.settle(10e9);
      ctx.data.latency = ctx.h.now - (ctx.data.t0 as number);
    },
    expect(ctx, t) {
      t.equal(ctx.victim.memory.read32((ctx.data.vb as { gpa: number }).gpa), 0x71e, `the victim's workload completed (after ${ctx.data.latency} ns)`);
    },
  },
  {
    name: 'res-audit-time-hog',
    surface: 'resources',
    expectation: 'two guests queueing workloads of 12,000 commands each against an audit quota of 20,000 commands per 10 ms (auditQuota) are held to their quota: each waits for its next window (stats.auditWaits), their work completes later, the victim\'s workload is dispatched in the first window',
    world: { attackers: 2, mediator: { auditQuota: { commands: 20_000, periodNs: 10_000_000 } } },
    run(ctx) {
      const m = ctx.h.mediator;
      ctx.world.settle();
      const t0 = ctx.h.now;
      const bufs = ctx.world.attackers.map((g) => g.ppgttBuffer(PAGE_SIZE));
      for (let k = 0; k < 4; k++) {
        for (const [i, g] of ctx.world.attackers.entries()) {
          g.submitBatch('rcs', [...new Array<number>(11_996).fill(0), ...miStoreDataImm(bufs[i].gma + 4 * k, [k + 1])]);
        }
      }
      const vb = ctx.victim.ppgttBuffer(PAGE_SIZE);
      ctx.data.vb = vb;
      ctx.victim.submit('rcs', miStoreDataImm(vb.gma, [0x7a1]));
      const waits = m.stats.auditWaits;
      ctx.world.settle(1e9);
      ctx.data.waits = m.stats.auditWaits - waits;
      const mine = (g: { vgpu: { id: number } }) => m.history.filter((x) => x.vgpuId === g.vgpu.id && x.submittedAt >= t0);
      ctx.data.victimWindow = Math.floor((mine(ctx.victim)[0]?.dispatchedAt ?? Infinity) / 10_000_000) - Math.floor(t0 / 10_000_000);
      ctx.data.lastWindow = Math.max(...ctx.world.attackers.flatMap((g) => mine(g).map((x) => Math.floor(x.dispatchedAt / 10_000_000)))) - Math.floor(t0 / 10_000_000);
      ctx.data.stores = ctx.world.attackers.map((g, i) => [0, 1, 2, 3].map((k) => g.memory.read32(bufs[i].gpa + 4 * k)).join(','));
    },
    expect(ctx, t) {
      t.ok((ctx.data.waits as number) >= 2, `the hogs waited for their quota (${ctx.data.waits} waits)`);
      t.ok((ctx.data.lastWindow as number) >= 1, `their last work ran in a later window (${ctx.data.lastWindow})`);
      t.equal(ctx.data.victimWindow, 0, 'the victim was dispatched in the first window');
      t.equal((ctx.data.stores as string[]).join(' '), '1,2,3,4 1,2,3,4', 'every hog store landed: delayed, nothing refused');
      t.equal(ctx.victim.memory.read32((ctx.data.vb as { gpa: number }).gpa), 0x7a1, 'the victim\'s store landed');
    },
  },
  {
    name: 'res-user-interrupt-storm',
    surface: 'resources',
    expectation: 'thousands of MI_USER_INTERRUPT in one workload are NOOPed and raised virtually once at its completion: the interrupts delivered to the guest stay bounded',
    run(ctx) {
      const g = ctx.attacker;
      const before = g.vgpu.counters.interruptsDelivered;
      const words: number[] = [];
      for (let i = 0; i < 5000; i++) words.push(...miUserInterrupt());
      g.submitBatch('rcs', words);
      ctx.world.settle();
      ctx.data.delivered = g.vgpu.counters.interruptsDelivered - before;
    },
    expect(ctx, t) {
      t.ok((ctx.data.delivered as number) <= 8, `interrupts delivered bounded (${ctx.data.delivered})`);
      expectCompleted(ctx, t, ctx.attacker);
    },
  },
  {
    name: 'res-event-log-flood',
    surface: 'resources',
    expectation: 'the per-vGPU event log is bounded: twenty thousand logged guest actions keep at most maxEvents entries',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      for (let i = 0; i < 20000; i++) v.mmioWrite(0x78818, 4, 7);
      ctx.data.events = v.events.length;
      ctx.data.max = v.maxEvents;
    },
    expect(ctx, t) {
      t.ok((ctx.data.events as number) <= (ctx.data.max as number), `event log bounded (${ctx.data.events} ≤ ${ctx.data.max})`);
    },
  },
  {
    name: 'res-nested-batch-fanout',
    surface: 'resources',
    expectation: 'a batch that starts the same second-level batch a thousand times is bounded by the batch budget (command-budget): shadow copies and audit work do not multiply without limit',
    run(ctx) {
      const g = ctx.attacker;
      const inner = g.ppgttBuffer(PAGE_SIZE);
      const words: number[] = [];
      for (let i = 0; i < 1000; i++) words.push(0);
      g.driver.writeRam32(inner.gpa, [...words, ...miBatchBufferEnd()]);
      const outer: number[] = [];
      for (let i = 0; i < 1100; i++) outer.push(...miBatchBufferStart(inner.gma, { ppgtt: true, secondLevel: true }));
      g.submitBatch('rcs', outer);
    },
    expect: (ctx, t) => void expectRefused(ctx, t, 'command-budget'),
  },
  {
    name: 'res-giant-blit',
    surface: 'resources',
    expectation: 'one blit command cannot hold an engine beyond a bound: the victim\'s blitter work waits at most 50 ms of simulated time behind it',
    run(ctx) {
      const g = ctx.attacker;
      const dst = g.ppgttBuffer(PAGE_SIZE);
      ctx.world.settle();
      g.submit('bcs', xyColorBlt({ dstAddress: dst.gma, dstPitch: 0x7fff, dst: { x1: 0, y1: 0, x2: 0x8000, y2: 0x4000 }, color: 0xb16 }));
      const vb = ctx.victim.ppgttBuffer(PAGE_SIZE);
      ctx.data.vb = vb;
      const t0 = ctx.h.now;
      ctx.victim.submit('bcs', miStoreDataImm(vb.gma, [0xb1b]));
      runUntil(ctx, () => ctx.victim.memory.read32(vb.gpa) === 0xb1b, 10e9);
      ctx.data.latency = ctx.h.now - t0;
    },
    expect(ctx, t) {
      t.equal(ctx.victim.memory.read32((ctx.data.vb as { gpa: number }).gpa), 0xb1b, 'the victim\'s blitter workload completed');
      t.ok((ctx.data.latency as number) <= 50e6, `the victim waited ${((ctx.data.latency as number) / 1e6).toFixed(1)} ms of simulated time behind one blit`);
    },
  },
];
