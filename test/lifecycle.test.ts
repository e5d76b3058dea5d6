/**
 * Workload lifecycle and per-vGPU bounds (issue 13, classes 3, 4, 5, 8, 9): reset with work on
 * the device, shadows of dropped preempted workloads, STOP_RING mid-workload without a
 * scheduler, hostile guests holding shared shadow space, and the mediator's own writes into
 * guest memory going through write protection. Each test fails without its fix.
 */
import t from 'tap';
import { miArbCheck, miLoadRegisterImm, miStoreDataImm } from '../lib/device/commands/index.js';
import { RING } from '../lib/device/registers.js';
import { HostMemory } from '../lib/ept/memory.js';
import { FuzzWorld, SCARCE_WORLD } from '../lib/fuzz/world.js';
import type { TestGuest } from '../lib/harness/index.js';
import { GEN9_HOST_RESERVATION } from '../lib/gtt/vgpu-types.js';
import { PPGTT_MODE_L4 } from '../lib/gtt/shadow-ppgtt.js';
import { PAGE_SIZE } from '../lib/types.js';

const MiB = 1024 * 1024;

/** A batch of `n` stores into `gma` with an MI_ARB_CHECK (a preemption point) after each. */
function longBatch(gma: number, n: number): number[] {
  const words: number[] = [];
  for (let i = 0; i < n; i++) words.push(...miStoreDataImm(gma + 4 * (i % 512), [i + 1]), ...miArbCheck());
  return words;
}

/** Run simulated time until `cond` holds (at most `maxNs`). */
function runUntil(w: FuzzWorld, cond: () => boolean, maxNs = 50e6): boolean {
  const clock = w.h.device.clock;
  const end = clock.now + maxNs;
  while (!cond()) {
    const next = clock.nextTime();
    if (next === Infinity || next > end) return false;
    clock.step();
  }
  return true;
}

/** Start a long PPGTT workload of `g` on the render engine and run until it is on the device. */
function onDevice(w: FuzzWorld, g: TestGuest, n = 3000, buf = g.ppgttBuffer(2 * PAGE_SIZE)): boolean {
  g.submitBatch('rcs', longBatch(buf.gma, n));
  return runUntil(w, () => w.h.mediator.inflightOn(0)?.vgpuId === g.vgpu.id && w.h.device.engines[0].currentContextId >= 0);
}

t.test('class 3: reset of a failsafe vGPU stops its work on the device before its shadow PPGTT is freed', async (t) => {
  for (const how of ['reset', 'destroy'] as const) {
    const w = new FuzzWorld({ seed: 0x1301 });
    const g = w.attacker, m = w.h.mediator;
    t.ok(onDevice(w, g), `${how}: the attacker's long PPGTT workload is on the device`);
    const running = m.inflightOn(0)!;
    // Failsafe lets the running workload go on; the reset (or destroy) must not.
    g.vgpu.enterFailsafe('test: failsafe with work in flight');
    if (how === 'reset') g.vgpu.reset();
    else g.vgpu.destroy();
    t.not(m.inflightOn(0), running, `${how}: the workload is off the mediator's books`);
    t.equal(running.status, 'failed');
    t.equal(running.failure?.rule, 'reset', `${how}: ended by the reset`);
    t.ok(w.h.device.engines[0].currentContextId !== running.hostContextId, `${how}: its context is no longer on the engine`);
    t.equal(m.hostGm.heldBy(g.vgpu.id), 0, `${how}: its shadows were returned`);
    // The freed frames go to the victim at once; the engine must not walk them for the attacker.
    w.victim!.work();
    t.ok(w.settle(1e9), `${how}: everything settles`);
    t.same(w.checkFull(), [], `${how}: the victim's work is right, the device touched only the right frames`);
    t.same(w.teardown(), [], `${how}: nothing leaked`);
  }
});

t.test('class 3: a host frame written while free is scrubbed before it is handed out again', async (t) => {
  const mem = new HostMemory({ size: 16 * MiB });
  const f = mem.allocFrame();
  mem.write32(f * PAGE_SIZE + 8, 0x5ec7e7);
  mem.freeFrame(f);
  t.equal(mem.read32(f * PAGE_SIZE + 8), 0, 'freed: its contents are gone');
  // A device still walking a freed table writes it (the frame is free: nothing stops the store).
  mem.write32(f * PAGE_SIZE + 12, 0xdead);
  const again = mem.allocFrame();
  t.equal(again, f, 'the same frame is reused first');
  t.equal(mem.read32(again * PAGE_SIZE + 12), 0, 'the stray store does not reach the next owner');
  t.equal(mem.allocatedFrames, 1);
});

t.test('class 4: a preempted workload dropped by a reset returns its shadows; cycles do not exhaust the reserved range', async (t) => {
  const w = new FuzzWorld({ seed: 0x1304 });
  const g = w.attacker, m = w.h.mediator;
  const buf = g.ppgttBuffer(2 * PAGE_SIZE);
  for (let cycle = 0; cycle < 8; cycle++) {
    t.ok(onDevice(w, g, 3000, buf), `cycle ${cycle}: on the device`);
    // Keep it off the device once preempted (the vGPU is not scheduled), then preempt it.
    g.vgpu.deactivate();
    t.ok(m.preempt(0), 'preemption requested');
    t.ok(runUntil(w, () => m.inflightOn(0) === null && m.stats.preempted > cycle), `cycle ${cycle}: preempted`);
    t.ok(m.hostGm.heldBy(g.vgpu.id) > 0, `cycle ${cycle}: the preempted workload holds its shadows while queued`);
    w.revive(g);
    g.vgpu.activate();
    t.equal(m.hostGm.heldBy(g.vgpu.id), 0, `cycle ${cycle}: the reset returned them`);
  }
  t.equal(m.pendingOf(g.vgpu.id), 0);
  w.victim!.work();
  t.ok(w.settle(1e9));
  t.equal(m.hostGm.pagesInUse, 0, 'no shadow page held once idle');
  t.same(w.checkFull(), []);
  t.same(w.teardown(), []);
});

t.test('class 5: STOP_RING set mid-workload with no scheduler ends that workload; the engine serves the next vGPU', async (t) => {
  const w = new FuzzWorld({ seed: 0x1305, failsafe: 'never' });
  const g = w.attacker, m = w.h.mediator;
  const buf = g.ppgttBuffer(PAGE_SIZE);
  const vb = w.victim!.g.ppgttBuffer(PAGE_SIZE);
  const stop = ((1 << 8) << 16) | (1 << 8);
  g.submitBatch('rcs', [...miStoreDataImm(buf.gma, [1]), ...miLoadRegisterImm([[0x2000 + RING.MI_MODE, stop]]), ...longBatch(buf.gma + 4, 3000)]);
  w.victim!.g.submit('rcs', miStoreDataImm(vb.gma, [0x5709]));
  t.ok(w.settle(1e9), 'the device goes idle: nothing wedged');
  const last = w.lastWorkload(g, 'rcs');
  t.equal(last?.failure?.rule, 'stop-ring', `the attacker's workload ended by stop-ring (${last?.status} ${last?.failure?.rule ?? ''})`);
  t.equal(last?.failure?.code, 'HANG');
  t.equal(w.victim!.g.memory.read32(vb.gpa), 0x5709, 'the victim\'s render work ran after it');
  t.equal(w.h.device.regs.peek(0x2000 + RING.MI_MODE) & (1 << 8), 0, 'the host engine is not left stopped');
  t.equal(m.stats.refusedByRule['stop-ring'], 1);
  w.heal(g);
  g.submitBatch('rcs', miStoreDataImm(buf.gma + 8, [0xa9a1]));
  t.ok(w.settle(1e9));
  t.equal(g.memory.read32(buf.gpa + 8), 0xa9a1, 'the attacker works again after its engine reset');
  t.same(w.checkFull(), []);
  t.same(w.teardown(), []);
});

t.test('class 8: hostile guests holding shadow space cannot make a victim\'s ordinary work fail', async (t) => {
  const world = (quotas: boolean): FuzzWorld => new FuzzWorld({
    seed: 0x1308, attackers: 4, attackerType: 'GVTg_V5_4', victimType: 'GVTg_V5_4',
    mediator: {
      hostReservation: { ...GEN9_HOST_RESERVATION, highGmSize: 1 * MiB },
      ...(quotas ? { shadowQuotaPages: 80, shadowReservePages: 36 } : { shadowQuotaPages: 256, shadowReservePages: 0 }),
    },
  });
  for (const quotas of [true, false]) {
    const w = world(quotas);
    const m = w.h.mediator;
    t.equal(m.hostGm.totalPages, 256);
    // Each hostile guest parks a preempted workload holding ~63 pages (ring, a 40-page batch, its context).
    let held = 0;
    for (const a of w.attackers) {
      const buf = a.ppgttBuffer(2 * PAGE_SIZE);
      if (!onDevice(w, a, 8000, buf)) break;
      a.vgpu.deactivate();
      m.preempt(0);
      runUntil(w, () => m.inflightOn(0) === null);
      held += m.hostGm.heldBy(a.vgpu.id);
    }
    const v = w.victim!.g;
    const vb = v.ppgttBuffer(PAGE_SIZE);
    v.submitBatch('rcs', miStoreDataImm(vb.gma, [0x71c7]));
    v.submit('bcs', miStoreDataImm(vb.gma + 4, [0x71c8]));
    runUntil(w, () => m.pendingOf(v.vgpu.id) === 0, 20e6);
    const failed = v.workloads.filter((x) => x.status === 'failed');
    if (quotas) {
      t.ok(held >= 2 * 60, `the hostile guests hold ${held} pages of 256`);
      t.ok(m.stats.shadowWaits > 0, 'the guests beyond what others\' reserves leave wait');
      for (const a of w.attackers) t.ok(m.hostGm.heldBy(a.vgpu.id) <= 80, `${a.name} within its quota`);
      t.same(failed.map((x) => x.failure?.rule), [], 'no workload of the victim failed');
      t.equal(v.memory.read32(vb.gpa), 0x71c7, 'the victim\'s render work ran from its reserve');
      t.equal(v.memory.read32(vb.gpa + 4), 0x71c8, 'and its blitter work');
      for (const a of w.attackers) a.vgpu.activate();
      t.ok(w.settle(1e9), 'the hostile work resumes and ends');
      t.same(w.checkFull(), []);
      t.same(w.teardown(), []);
    } else {
      // Without per-vGPU bounds the same hoarding starves the victim (what the fix prevents).
      t.ok(failed.length > 0 || m.pendingOf(v.vgpu.id) > 0, `without quotas the victim is starved (${failed.map((x) => x.failure?.rule).join(', ') || 'waiting'})`);
    }
  }
});

t.test('class 8: a workload short of shared shadow space waits and runs later; its own oversized one is refused', async (t) => {
  const w = new FuzzWorld({ seed: 0x1388, mediator: { hostReservation: { ...GEN9_HOST_RESERVATION, highGmSize: 1 * MiB }, shadowQuotaPages: 64, shadowReservePages: 24 } });
  const g = w.attacker, m = w.h.mediator;
  const buf = g.ppgttBuffer(PAGE_SIZE);
  // More than its quota on its own: refused, its own doing.
  g.submitBatch('rcs', new Array<number>(60 * 1024).fill(0));
  t.ok(w.settle(1e9));
  t.equal(w.lastWorkload(g, 'rcs')?.failure?.rule, 'shadow-quota', 'an oversized workload is refused by shadow-quota');
  t.equal(w.lastWorkload(g, 'rcs')?.failure?.code, 'LIMIT');
  w.heal(g);
  // Host frames short for a moment (not the guest's doing): the workload waits, then runs.
  const mem = w.h.device.hostMemory;
  g.submitBatch('rcs', miStoreDataImm(buf.gma, [0xa17]));
  mem.failAllocations = 3;
  t.ok(w.settle(1e9));
  t.equal(mem.failAllocations, 0, 'the allocations met the failures');
  t.ok(m.stats.shadowWaits >= 1, 'it waited');
  t.equal(w.lastWorkload(g, 'rcs')?.status, 'completed');
  t.equal(g.memory.read32(buf.gpa), 0xa17, 'its store landed: nothing skipped');
  t.same(w.checkFull(), []);
  t.same(w.teardown(), []);
});

t.test('class 8: the parser\'s shadow buffers shrink back after a large workload', async (t) => {
  const w = new FuzzWorld({ seed: 0x1389 });
  const g = w.attacker, m = w.h.mediator;
  g.submit('rcs', miStoreDataImm(g.ppgttBuffer(PAGE_SIZE).gma, [1]));
  t.ok(w.settle());
  const small = m.parser.bufferDwords;
  g.submitBatch('rcs', new Array<number>(512 * 1024).fill(0));
  t.ok(w.settle(1e9));
  t.equal(w.lastWorkload(g, 'rcs')?.status, 'completed');
  t.ok(m.parser.bufferDwords <= Math.max(small, 64 * 1024), `${m.parser.bufferDwords} dwords kept (before: ${small}), not the 512 Ki of the large batch`);
  t.same(w.teardown(), []);
});

t.test('class 9: the mediator\'s CSB mirror into a status page the guest uses as a page table updates the shadow PPGTT', async (t) => {
  const w = new FuzzWorld({ seed: 0x1309 });
  const g = w.attacker, v = g.vgpu;
  const e = g.engine('rcs');
  t.ok(e.hwsp, 'the engine has a status page');
  const hwspGpa = g.gpaOf(e.hwsp!.gma);
  const target = g.driver.allocRam(1);
  // The status page doubles as a page table (PT) of the guest's PPGTT for [va, va + 2 MiB): its
  // entries 8..13 and 15 hold the dwords the mediator writes (CSB mirror at 0x10.., write index
  // 0x1f); entry 14 is the guest's alone.
  for (let j = 8; j < 16; j++) g.driver.writeRam32(hwspGpa + 8 * j, [((target & ~0xfff) | 3) >>> 0, 0]);
  const va = 0x7f_4000_0000;
  g.ppgtt!.writeRaw(2, va, ((hwspGpa & ~0xfff) | 3) >>> 0, 0);
  const buf = g.ppgttBuffer(PAGE_SIZE);
  const mm = (): ReturnType<typeof v.ppgtt.find> => v.ppgtt.find(g.ppgtt!.pml4, PPGTT_MODE_L4);
  /** Entries 8..15 whose shadow disagrees with the guest's entry. */
  const stale = (): string[] => {
    const out: string[] = [];
    const m = mm();
    if (!m) return ['no shadow PPGTT'];
    for (let j = 8; j < 16; j++) {
      const lo = g.memory.read32(hwspGpa + 8 * j), hi = g.memory.read32(hwspGpa + 8 * j + 4);
      const gfn = (lo >>> 12) + (hi & 0x7f) * 2 ** 20;
      const want = (lo & 1) === 0 ? -1 : v.ept.translate(gfn * PAGE_SIZE);
      const got = m.translate(va + j * PAGE_SIZE);
      const present = (lo & 1) !== 0;
      if (present && want < 0) continue; // a frame outside RAM: scratch either way
      if (got !== want) out.push(`entry ${j}: guest 0x${hi.toString(16)}_${lo.toString(16)}, shadow reaches ${got}, wanted ${want}`);
    }
    return out;
  };
  // A workload builds the shadow with those entries (each maps `target`)...
  g.submitBatch('rcs', miStoreDataImm(va + 14 * PAGE_SIZE, [0x7a7]));
  t.ok(w.settle());
  t.equal(g.memory.read32(target), 0x7a7, 'the store went through the status page used as a PT');
  // ...and the CSB events of its completion, and of the next ones, overwrite them.
  for (let i = 0; i < 3; i++) {
    g.submit('rcs', miStoreDataImm(buf.gma + 4 * i, [i + 1]));
    t.ok(w.settle());
  }
  t.ok(v.ept.counters.hostWrites > 0, 'the mediator wrote the status page');
  t.ok(v.ept.isWriteProtected(Math.floor(hwspGpa / PAGE_SIZE)), 'the status page is a write-protected table');
  t.same(stale(), [], 'no shadow entry of the page is stale after the mediator\'s stores');
  t.same(w.checkFull(), []);
  t.same(w.teardown(), []);
});

t.test('class 8: the shadow quota options are checked and documented defaults apply', async (t) => {
  const { Harness } = await import('../lib/harness/index.js');
  t.throws(() => new Harness({ mediator: { shadowQuotaPages: 0 } }), { code: 'E_CONFIG' });
  t.throws(() => new Harness({ mediator: { shadowReservePages: -1 } }), { code: 'E_CONFIG' });
  t.throws(() => new Harness({ mediator: { shadowQuotaPages: 1.5 } }), { code: 'E_CONFIG' });
  const h = new Harness();
  const pool = h.mediator.hostGm;
  t.equal(pool.totalPages, (384 * MiB) / PAGE_SIZE, 'GVT-g\'s 384 MiB reserved range');
  t.equal(pool.quotaPages, 24576, 'default quota: a quarter of the range (96 MiB)');
  t.equal(pool.reservePages, 1024, 'default reserve: 4 MiB per vGPU');
  const g = h.addGuest();
  t.equal(pool.admit(g.vgpu.id, 24577), 'quota', 'more than the quota on its own can never be met');
  t.equal(pool.admit(g.vgpu.id, 1024), 'ok');
});

t.test('failsafe by any path drops the queued work; a failsafe vGPU\'s preempted workload does not stay pending (lifecycle campaign seed 20240607 cases 40, 53, 77)', async (t) => {
  // Entered from the host API (as a PVINFO or RING_MODE write does), with work queued behind a
  // workload on the device: the queued work goes at once, the running one ends normally.
  let w = new FuzzWorld({ seed: 0x1340 });
  let g = w.attacker;
  let m = w.h.mediator;
  t.ok(onDevice(w, g), 'a long workload on the device');
  const buf = g.ppgttBuffer(PAGE_SIZE);
  g.submit('bcs', miStoreDataImm(buf.gma, [1]));
  g.submitBatch('rcs', miStoreDataImm(buf.gma + 4, [2]));
  t.ok(m.pendingOf(g.vgpu.id) >= 2, 'work queued behind it');
  g.vgpu.enterFailsafe('test: host-initiated failsafe');
  t.ok(m.pendingOf(g.vgpu.id) <= 1, 'the queued work was dropped at once');
  t.ok(runUntil(w, () => m.pendingOf(g.vgpu.id) === 0), 'nothing is left pending: the mediator can go idle');
  t.equal(m.hostGm.heldBy(g.vgpu.id), 0, 'no shadow held');
  // Failsafe while running, then preempted: the preempted workload does not wait forever.
  w = new FuzzWorld({ seed: 0x1341 });
  g = w.attacker;
  m = w.h.mediator;
  t.ok(onDevice(w, g), 'a long preemptible workload on the device');
  g.vgpu.enterFailsafe('test: failsafe with work in flight');
  t.ok(m.preempt(0), 'preemption requested');
  t.ok(runUntil(w, () => m.stats.preempted > 0 || m.pendingOf(g.vgpu.id) === 0), 'preempted (or done)');
  t.equal(m.stats.preempted, 1, 'it was preempted');
  t.ok(runUntil(w, () => m.pendingOf(g.vgpu.id) === 0), 'the preempted workload ends (resumed as the running one would), not queued forever');
  t.equal(m.hostGm.heldBy(g.vgpu.id), 0, 'its shadows were returned');
});

t.test('class 8: audit time has a per-vGPU quota: a guest over it waits for its next window, the victim does not', async (t) => {
  const periodNs = 10e6;
  for (const quota of [true, false]) {
    const w = new FuzzWorld({ seed: 0x138a, mediator: { auditQuota: quota ? { commands: 2000, periodNs } : false } });
    const g = w.attacker, m = w.h.mediator;
    const vg = w.victim!.g;
    t.ok(w.settle());
    const start = w.h.device.clock.now;
    const buf = g.ppgttBuffer(PAGE_SIZE);
    // Four workloads of 1,500 audited commands each, then the victim's one store.
    for (let i = 0; i < 4; i++) g.submitBatch('rcs', [...new Array<number>(1496).fill(0), ...miStoreDataImm(buf.gma + 4 * i, [i + 1])]);
    const vbuf = vg.ppgttBuffer(PAGE_SIZE);
    vg.submitBatch('rcs', miStoreDataImm(vbuf.gma, [0x51c]));
    t.ok(w.settle(1e9));
    const mine = m.history.filter((x) => x.vgpuId === g.vgpu.id && x.submittedAt >= start);
    const victim = m.history.filter((x) => x.vgpuId === vg.vgpu.id && x.submittedAt >= start);
    // A resubmission while the context's earlier element is pending continues it (lite restore):
    // the four submissions make three or four workloads, 6,000 commands in all.
    t.ok(mine.length >= 3, `${quota}: ${mine.length} attacker workloads`);
    t.ok(mine.reduce((n, x) => n + x.commands, 0) >= 6000, `${quota}: every command was audited`);
    t.ok(mine.every((x) => x.status === 'completed'), `${quota}: every attacker workload completed (delayed, never refused)`);
    t.equal(victim[0]?.status, 'completed');
    for (let i = 0; i < 4; i++) t.equal(g.memory.read32(buf.gpa + 4 * i), i + 1, `${quota}: store ${i} landed`);
    t.equal(vg.memory.read32(vbuf.gpa), 0x51c);
    const windowOf = (ns: number): number => Math.floor((ns - start) / periodNs);
    const last = mine[mine.length - 1];
    if (quota) {
      t.ok(m.stats.auditWaits >= 1, `${quota}: the attacker waited for its quota (${m.stats.auditWaits})`);
      t.ok(windowOf(last.dispatchedAt) > windowOf(mine[0].dispatchedAt), 'its last workload waited for the next window');
      t.ok(windowOf(victim[0].dispatchedAt) === 0, 'the victim did not wait for the attacker\'s next window');
    } else {
      t.equal(m.stats.auditWaits, 0);
      t.equal(windowOf(last.dispatchedAt), 0, 'without the quota all of it runs at once');
    }
    t.same(w.checkFull(), []);
    t.same(w.teardown(), []);
  }
  const { Harness } = await import('../lib/harness/index.js');
  t.throws(() => new Harness({ mediator: { auditQuota: { commands: 0, periodNs: 1 } } }), { code: 'E_CONFIG' });
  t.throws(() => new Harness({ mediator: { auditQuota: { commands: 10, periodNs: 1, burst: 3 } as never } }), { code: 'E_CONFIG' });
  t.same(new Harness().mediator.auditQuota, { commands: 1 << 21, periodNs: 100e6 }, 'the documented default');
});

t.test('class 8: a workload waiting for shared resources passes the turn; a later vGPU on a lower engine is dispatched (finding 29)', async (t) => {
  const w = new FuzzWorld({ seed: 0x1391 });
  const g = w.attacker, m = w.h.mediator;
  const vg = w.victim!.g;
  t.ok(w.settle());
  // The attacker's GGTT entries wait for host memory for good (as if others held the frames).
  const ggtt = g.vgpu.ggtt;
  ggtt.sync = () => false;
  const abuf = g.ppgttBuffer(PAGE_SIZE);
  g.submitBatch('bcs', miStoreDataImm(abuf.gma, [1]));
  const vbuf = vg.ppgttBuffer(PAGE_SIZE);
  vg.submitBatch('rcs', miStoreDataImm(vbuf.gma, [0x29]));
  m.run(20e6);
  t.equal(m.pendingOf(g.vgpu.id), 1, 'the attacker\'s older workload waits');
  t.equal(m.pendingOf(vg.vgpu.id), 0, 'the victim\'s newer workload, on a lower engine, was dispatched meanwhile');
  t.equal(vg.memory.read32(vbuf.gpa), 0x29, 'and ran');
  delete (ggtt as { sync?: unknown }).sync;
  t.ok(w.settle());
  t.equal(g.memory.read32(abuf.gpa), 1, 'the attacker\'s workload ran once its entries were backed');
  t.same(m.checkWorkloads(), []);
  t.same(w.teardown(), []);
});

t.test('class 8: host-frame reserves: what a vGPU has not used of its reserve is nobody else\'s; a new vGPU\'s reserve must be backed (finding 29)', async (t) => {
  const host = new HostMemory({ size: 2 * 1024 * 1024, reservedFrames: 16 }); // 512 frames, 496 usable
  host.setReserve(1, 100);
  host.setReserve(2, 100);
  t.equal(host.unreservedFreeFrames, 296);
  // Owner 1 takes everything it can: its reserve, then what owner 2's reserve leaves.
  const taken: number[] = [];
  for (;;) {
    try {
      taken.push(host.allocFrame(1));
    } catch (e) {
      t.match((e as Error).message, /reserves/, 'refused: the rest is owner 2\'s reserve');
      break;
    }
  }
  t.equal(taken.length, 396, 'owner 1 got its 100 and the 296 nobody reserved');
  t.equal(host.ownedFrames(1), 396);
  t.throws(() => host.allocFrame(), { code: 'E_NO_RESOURCE' }, 'the host cannot take owner 2\'s reserve either');
  // Owner 2's reserve is intact: 100 frames, whatever owner 1 holds.
  const mine: number[] = [];
  for (let i = 0; i < 100; i++) mine.push(host.allocFrame(2));
  t.equal(host.ownedFrames(2), 100);
  t.equal(host.refusedBeyondReserve(2), 0);
  t.throws(() => host.allocFrame(2), { code: 'E_NO_RESOURCE' }, 'beyond its reserve it competes like anyone');
  t.equal(host.refusedBeyondReserve(2), 1, 'a refusal with its whole reserve held is counted');
  host.freeFrame(taken.pop()!);
  t.equal(host.ownedFrames(1), 395, 'a freed frame is uncharged');
  t.equal(host.unreservedFreeFrames, 1);
  host.removeOwner(1);
  for (const f of taken) host.freeFrame(f);
  for (const f of mine) host.freeFrame(f);
  t.equal(host.allocatedFrames, 0);

  // A mediator refuses a vGPU whose reserve free frames cannot back.
  const w = new FuzzWorld({ ...SCARCE_WORLD, seed: 0x1392 });
  const m = w.h.mediator, mem = w.h.device.hostMemory;
  const reserve = m.hostReserveFrames;
  t.equal(reserve, 128, 'a quarter of 4096 frames shared among 8 vGPU ids');
  const held: number[] = [];
  while (mem.unreservedFreeFrames >= reserve) held.push(mem.allocFrame());
  t.same(m.availability().map((a) => a.count).filter((n) => n > 0), [], 'no type is available');
  t.throws(() => w.newAttacker('GVTg_V5_4'), { code: 'E_NO_RESOURCE' }, 'creation refused: its reserve could not be backed');
  for (const f of held) mem.freeFrame(f);
  t.ok(m.availability().some((a) => a.count > 0));
  t.ok(w.newAttacker('GVTg_V5_4'), 'created once frames are back');
  t.same(w.teardown(), []);
});
