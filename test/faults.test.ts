/**
 * Fault injection: host frame allocation failures while shadowing, an engine that hangs, a lost
 * virtual interrupt, a device reset in the middle of a workload. In every case the other guests
 * lose nothing, and nothing leaks.
 */
import t from 'tap';
import { FuzzWorld, INVARIANTS, failAllocationAt } from '../lib/fuzz/index.js';
import { miBatchBufferEnd, miBatchBufferStart, miNoop, miStoreDataImm } from '../lib/device/commands/index.js';
import { PTE_PRESENT, PTE_RW, pteHi, pteLo } from '../lib/gtt/pte.js';
import { PpgttWalker, WalkLevel } from '../lib/gtt/ppgtt-walk.js';
import { RING } from '../lib/device/registers.js';
import { PAGE_SIZE, gfn as asGfn } from '../lib/types.js';
import type { TestGuest } from '../lib/harness/index.js';

const MiB = 1024 * 1024;

function history(w: FuzzWorld, g: TestGuest) {
  return w.h.mediator.history.filter((x) => x.vgpuId === g.vgpu.id);
}

/** Guest-physical address of the leaf PTE for `va` in the guest's own tables (its page table must exist). */
function pteGpa(g: TestGuest, va: number): number {
  const walker = new PpgttWalker(g.memory);
  if (!walker.walk4(g.ppgtt!.pml4, va) && walker.level !== WalkLevel.PT) throw new Error(`test: no page table for 0x${va.toString(16)}`);
  return walker.entryAddress;
}

/** A fresh world where the attacker submits its first PPGTT batch (the whole shadow to build). */
function firstPpgttWorkload(seed: number) {
  const w = new FuzzWorld({ seed });
  const g = w.attacker;
  const buf = g.ppgttBuffer(PAGE_SIZE);
  g.submitBatch('rcs', miStoreDataImm(buf.gma, [0x1000 + seed]));
  return { w, g, buf };
}

t.test('the n-th host frame allocation fails while a fresh PPGTT workload is shadowed, for every n', async (t) => {
  // How many allocations the shadowing makes (page tables, ring, batch, context).
  const probe = firstPpgttWorkload(0);
  const count = failAllocationAt(probe.w.h.device.hostMemory, Infinity);
  probe.w.settle();
  count.restore();
  const total = count.calls;
  t.ok(total >= 6, `shadowing the first workload allocates ${total} host frames`);
  for (let n = 1; n <= total; n++) {
    const { w, g, buf } = firstPpgttWorkload(n);
    const invalid = g.vgpu.ppgtt.counters.invalidFrames;
    const fault = failAllocationAt(w.h.device.hostMemory, n);
    w.settle();
    fault.restore();
    // Whatever allocation failed (a shadow table, a guest frame pinned for a leaf, the ring or
    // the context), the guest is not blamed: its workload ran or failed as the host's shortage.
    const last = history(w, g).at(-1);
    const ok = last?.status === 'completed' ? g.memory.read32(buf.gpa) === 0x1000 + n : last?.failure?.rule === 'shadow-alloc';
    t.ok(ok && fault.failed === 1, `n=${n}: completed with its value, or failed cleanly by shadow-alloc (${last?.status} ${last?.failure?.rule ?? ''})`);
    t.equal(g.vgpu.ppgtt.counters.invalidFrames, invalid, `n=${n}: no guest frame counted as invalid`);
    t.equal(g.vgpu.state, 'active', `n=${n}: the vGPU is not in failsafe`);
    // The victim's work right after is unaffected; the attacker runs again; nothing leaks.
    w.heal(g);
    w.victim!.work();
    g.submitBatch('rcs', miStoreDataImm(buf.gma + 4, [0x2000 + n]));
    w.settle();
    t.equal(g.memory.read32(buf.gpa + 4), 0x2000 + n, `n=${n}: the attacker's next workload runs`);
    t.same(w.checkFull(), [], `n=${n}: the victim's work completed; invariants hold`);
    t.same(w.teardown(), [], `n=${n}: every host frame came back`);
  }
});

t.test('host frames run out while the PPGTT is synced at submission', async (tt) => {
  const t = tt;
  const w = new FuzzWorld({ seed: 7 });
  const g = w.attacker;
  const first = g.ppgttBuffer(PAGE_SIZE);
  g.submitBatch('rcs', miStoreDataImm(first.gma, [1]));
  w.settle();
  const host = w.h.device.hostMemory;
  // A mapping in a new region needs new shadow tables: their allocation fails in the trap...
  const va = 0x40_0000_0000;
  const gpa = g.driver.allocRam(1);
  host.failAllocations = 1000;
  g.ppgtt!.map(va, gpa, 1);
  host.failAllocations = 0;
  tt.ok(g.vgpu.ppgtt.pendingEntries > 0, 'entries wait for a retry');
  // ...and again when the submission syncs the PPGTT (the shadow ring and context still fit).
  const mgr = g.vgpu.ppgtt;
  const sync = mgr.sync.bind(mgr);
  mgr.sync = () => {
    host.failAllocations = 1000;
    try {
      return sync();
    } finally {
      host.failAllocations = 0;
    }
  };
  g.submit('rcs', miStoreDataImm(va, [0x5a7e]));
  w.settle();
  // Host memory is short through no fault of the guest: the workload waits, queued (issue 13
  // class 8: never a permanent failure that skips its commands).
  t.equal(w.h.mediator.pendingOf(g.vgpu.id), 1, 'the workload waits, queued');
  t.ok(w.h.mediator.stats.shadowWaits > 0, 'counted as a wait');
  t.ok(history(w, g).every((x) => x.status === 'completed'), 'nothing failed');
  delete (mgr as { sync?: unknown }).sync;
  w.settle();
  t.equal(g.memory.read32(gpa), 0x5a7e, 'once frames are back the waiting store lands');
  // With frames back, sync retries and the same store lands.
  g.submit('rcs', miStoreDataImm(va + 4, [0x5a7f]));
  w.settle();
  tt.equal(g.memory.read32(gpa + 4), 0x5a7f, 'once frames are back the mapping is shadowed');
  tt.same(w.checkFull(), []);
  tt.same(w.teardown(), []);
});

/** A world whose attacker maps one fresh page of RAM at `zone` while the host cannot back it. */
function ggttEntryWithoutMemory(seed: number) {
  const w = new FuzzWorld({ seed });
  const g = w.attacker;
  const zone = g.driver.allocGm(PAGE_SIZE);
  const gpa = g.driver.allocRam(1);
  g.driver.writeRam(gpa, new Uint8Array(PAGE_SIZE));
  const host = w.h.device.hostMemory;
  const c0 = g.vgpu.ggtt.counters;
  host.failAllocations = 1;
  g.driver.writePte(zone / PAGE_SIZE, pteLo(gpa / PAGE_SIZE, PTE_PRESENT), pteHi(gpa / PAGE_SIZE));
  const failureMet = host.failAllocations === 0;
  host.failAllocations = 0;
  return { w, g, zone, gpa, host, c0, failureMet };
}

t.test('host frames run out while a GGTT entry is shadowed: pending, retried at submission, the store lands', async (t) => {
  const { w, g, zone, gpa, c0, failureMet } = ggttEntryWithoutMemory(12);
  t.ok(failureMet, 'the pin met the failure');
  const c1 = g.vgpu.ggtt.counters;
  t.equal(c1.allocFailures - c0.allocFailures, 1, 'counted as a host allocation failure');
  t.equal(c1.invalidFrame, c0.invalidFrame, 'not as an invalid guest frame');
  t.equal(c1.pending, 1, 'the entry waits for a retry');
  t.equal(g.vgpu.ggtt.translate(zone), g.vgpu.ggtt.scratchMfn * PAGE_SIZE, 'meanwhile at scratch');
  g.submit('rcs', miStoreDataImm(zone + 8, [0x9917], { ggtt: true }));
  w.settle();
  const last = history(w, g).at(-1);
  t.equal(last?.status, 'completed', 'the workload ran');
  t.equal(g.memory.read32(gpa + 8), 0x9917, 'the store landed in the guest\'s frame');
  const c2 = g.vgpu.ggtt.counters;
  t.equal(c2.pending, 0);
  t.equal(c2.retried - c0.retried, 1, 'shadowed by the retry');
  t.equal(c2.writes, c2.badAccess + c2.outOfSlice + c2.parked + c2.notPresent + c2.invalidFrame + c2.allocFailures + c2.shadowed, 'every write has one outcome');
  t.same(w.checkFull(), []);
  t.same(w.teardown(), []);
});

t.test('host frames still short when a GGTT workload is submitted: it waits (not the guest\'s fault); then it runs', async (t) => {
  const { w, g, zone, gpa, host } = ggttEntryWithoutMemory(13);
  // Every retry of the GGTT fails while this workload is submitted.
  const ggtt = g.vgpu.ggtt;
  const sync = ggtt.sync.bind(ggtt);
  ggtt.sync = () => {
    host.failAllocations = 1000;
    try {
      return sync();
    } finally {
      host.failAllocations = 0;
    }
  };
  g.submit('rcs', miStoreDataImm(zone + 8, [0x5151], { ggtt: true }));
  w.settle();
  delete (ggtt as { sync?: unknown }).sync;
  t.equal(w.h.mediator.pendingOf(g.vgpu.id), 1, 'the workload waits, queued');
  t.ok(history(w, g).every((x) => x.status === 'completed'), 'nothing failed');
  t.equal(g.vgpu.state, 'active', 'no failsafe');
  t.equal(g.memory.read32(gpa + 8), 0, 'nothing ran');
  t.equal(ggtt.counters.pending, 1, 'the entry still waits');
  w.settle();
  t.equal(g.memory.read32(gpa + 8), 0x5151, 'once frames are back the waiting workload runs');
  // With frames back, the next submission retries the entry and runs.
  w.heal(g);
  g.submit('rcs', miStoreDataImm(zone + 12, [0x5152], { ggtt: true }));
  w.settle();
  t.equal(history(w, g).at(-1)?.status, 'completed');
  t.equal(g.memory.read32(gpa + 12), 0x5152, 'the store landed');
  t.equal(ggtt.counters.pending, 0);
  t.same(w.checkFull(), []);
  t.same(w.teardown(), []);
});

t.test('a context image whose GGTT entry waits for host memory: retried when the ELSP is written, then at dispatch; never blamed on the guest, never failed', async (t) => {
  for (const short of [false, true]) {
    const w = new FuzzWorld({ seed: 14 });
    const g = w.attacker;
    const e = g.engine('rcs');
    const buf = g.buffer(PAGE_SIZE);
    g.submit('rcs', miStoreDataImm(buf.gma, [1], { ggtt: true }));
    w.settle();
    // The host takes back the frame of the context's register page (ballooning, say); the
    // guest then writes the page's GGTT entry again while host memory is exhausted.
    const ctxPage = e.context.gma / PAGE_SIZE + 1;
    const gfn = e.context.gpa / PAGE_SIZE + 1;
    g.vgpu.ept.unmap(asGfn(gfn));
    const host = w.h.device.hostMemory;
    host.failAllocations = 1;
    g.driver.writePte(ctxPage, pteLo(gfn, PTE_PRESENT), pteHi(gfn));
    host.failAllocations = 0;
    t.equal(g.vgpu.ggtt.counters.pending, 1, `${short ? 'short' : 'back'}: the context page's entry waits`);
    t.ok(g.vgpu.ggtt.pendingIn(e.context.gma, 2 * PAGE_SIZE), 'pendingIn sees it');
    const ggtt = g.vgpu.ggtt;
    if (short) {
      const sync = ggtt.sync.bind(ggtt);
      ggtt.sync = () => {
        host.failAllocations = 1000;
        try {
          return sync();
        } finally {
          host.failAllocations = 0;
        }
      };
    }
    const waits = w.h.mediator.stats.shadowWaits;
    g.submit('rcs', miStoreDataImm(buf.gma + 4, [2], { ggtt: true }));
    if (short) {
      // Host memory stays short for 5 ms: the workload waits, queued, its ring context unread;
      // a second submission of the same context follows it.
      g.submit('rcs', miStoreDataImm(buf.gma + 16, [4], { ggtt: true }));
      w.h.mediator.run(5e6);
      t.equal(w.h.mediator.pendingOf(g.vgpu.id), 2, 'short: both workloads wait, queued');
      t.ok(w.h.mediator.stats.shadowWaits > waits, 'short: counted as a shadow wait');
      t.equal(history(w, g).at(-1)?.status, 'completed', 'short: nothing failed meanwhile (the last finished one is the first)');
      t.equal(g.vgpu.state, 'active', 'short: no failsafe');
      t.equal(g.memory.read32(buf.gpa + 4), 0, 'short: its store has not run');
    }
    delete (ggtt as { sync?: unknown }).sync;
    w.settle();
    const last = history(w, g).at(-1);
    t.equal(last?.status, 'completed', `${short ? 'short' : 'back'}: the context was read once its entries were backed (${last?.failure?.rule ?? ''})`);
    t.equal(g.memory.read32(buf.gpa + 4), 2, `${short ? 'short' : 'back'}: the store landed, none of its commands skipped`);
    if (short) {
      t.equal(g.memory.read32(buf.gpa + 16), 4, 'short: the second submission\'s store landed too');
      t.equal(history(w, g).at(-2)?.status, 'completed', 'short: both completed');
    }
    t.equal(ggtt.counters.pending, 0);
    t.same(w.checkFull(), []);
    t.same(w.teardown(), []);
  }
});

t.test('a GGTT entry naming a frame outside guest RAM still goes to scratch, counted as contained, never retried', async (t) => {
  const w = new FuzzWorld({ seed: 15 });
  const g = w.attacker;
  const zone = g.driver.allocGm(PAGE_SIZE);
  const bad = g.vgpu.ept.frames + 5;
  const c0 = g.vgpu.ggtt.counters;
  g.driver.writePte(zone / PAGE_SIZE, pteLo(bad, PTE_PRESENT), pteHi(bad));
  const c1 = g.vgpu.ggtt.counters;
  t.equal(c1.invalidFrame - c0.invalidFrame, 1, 'counted as an invalid guest frame');
  t.equal(c1.allocFailures, c0.allocFailures, 'not as a host allocation failure');
  t.equal(c1.pending, 0, 'nothing waits');
  t.equal(g.vgpu.ggtt.translate(zone + 8), g.vgpu.ggtt.scratchMfn * PAGE_SIZE + 8, 'at scratch');
  g.submit('rcs', miStoreDataImm(zone + 8, [0xbad], { ggtt: true }));
  w.settle();
  t.equal(history(w, g).at(-1)?.status, 'completed', 'the workload runs; its store lands in the vGPU\'s own scratch page');
  t.equal(g.vgpu.ggtt.translate(zone + 8), g.vgpu.ggtt.scratchMfn * PAGE_SIZE + 8, 'still at scratch after the sync');
  t.equal(g.vgpu.ggtt.counters.retried, c0.retried, 'not retried');
  t.equal(g.vgpu.state, 'active');
  t.same(w.checkFull(), []);
  t.same(w.teardown(), []);
});

t.test('host frames run out during a trapped page-table write only: sync at submission retries', async (t) => {
  const w = new FuzzWorld({ seed: 8 });
  const g = w.attacker;
  const first = g.ppgttBuffer(PAGE_SIZE);
  g.submitBatch('rcs', miStoreDataImm(first.gma, [1]));
  w.settle();
  const va = 0x40_0000_0000;
  const gpa = g.driver.allocRam(1);
  w.h.device.hostMemory.failAllocations = 3;
  g.ppgtt!.map(va, gpa, 1);
  const pending = g.vgpu.ppgtt.pendingEntries;
  w.h.device.hostMemory.failAllocations = 0;
  t.ok(g.vgpu.ppgtt.counters.allocFailures > 0, 'the trap met the failures');
  t.ok(pending > 0, `entries wait for a retry (${pending})`);
  g.submit('rcs', miStoreDataImm(va, [0x5a7e]));
  w.settle();
  t.equal(g.memory.read32(gpa), 0x5a7e, 'the submission synced the entry and the store landed');
  t.same(w.checkFull(), []);
  t.same(w.teardown(), []);
});

/** A world whose attacker ran one PPGTT workload: its tables are shadowed, a page table exists around `first`. */
function shadowedPpgtt(seed: number) {
  const w = new FuzzWorld({ seed });
  const g = w.attacker;
  const first = g.ppgttBuffer(PAGE_SIZE);
  g.submitBatch('rcs', miStoreDataImm(first.gma, [1]));
  w.settle();
  return { w, g, first, host: w.h.device.hostMemory };
}

t.test('PPGTT trapped write: the leaf\'s guest frame cannot be backed, then memory is back: the store lands', async (t) => {
  const { w, g, host } = shadowedPpgtt(16);
  const c0 = g.vgpu.ppgtt.counters;
  const nomem = g.vgpu.ept.counters.pinNoMemory;
  // A new page next to the first one: its page table is shadowed already, so the only host
  // allocation of the trapped PTE write is the pin of the new guest frame.
  host.failAllocations = 1000;
  const buf = g.ppgttBuffer(PAGE_SIZE);
  host.failAllocations = 0;
  const c1 = g.vgpu.ppgtt.counters;
  t.equal(c1.shadowPages, c0.shadowPages, 'no new shadow table was needed');
  t.equal(g.vgpu.ept.counters.pinNoMemory - nomem, 1, 'the pin failed for lack of host memory');
  t.equal(c1.allocFailures - c0.allocFailures, 1, 'counted as a host allocation failure');
  t.equal(c1.invalidFrames, c0.invalidFrames, 'not as an invalid guest frame');
  t.equal(g.vgpu.ppgtt.pendingEntries, 1, 'the entry waits for the next sync');
  g.submitBatch('rcs', miStoreDataImm(buf.gma, [0x600d]));
  w.settle();
  t.equal(history(w, g).at(-1)?.status, 'completed');
  t.equal(g.memory.read32(buf.gpa), 0x600d, 'the sync at submission shadowed it and the store landed');
  t.equal(g.vgpu.ppgtt.pendingEntries, 0);
  t.equal(g.vgpu.ppgtt.counters.invalidFrames, c0.invalidFrames);
  t.same(w.checkFull(), []);
  t.same(w.teardown(), []);
});

t.test('PPGTT sync at submission: still no memory for the leaf: it waits, no failure, no failsafe; then it runs', async (t) => {
  const { w, g, host } = shadowedPpgtt(17);
  host.failAllocations = 1000;
  const buf = g.ppgttBuffer(PAGE_SIZE);
  host.failAllocations = 0;
  t.equal(g.vgpu.ppgtt.pendingEntries, 1);
  const mgr = g.vgpu.ppgtt;
  const c0 = mgr.counters;
  const sync = mgr.sync.bind(mgr);
  mgr.sync = () => {
    host.failAllocations = 1000;
    try {
      return sync();
    } finally {
      host.failAllocations = 0;
    }
  };
  g.submitBatch('rcs', miStoreDataImm(buf.gma, [0x7001]));
  w.settle();
  delete (mgr as { sync?: unknown }).sync;
  t.equal(w.h.mediator.pendingOf(g.vgpu.id), 1, 'the workload waits, queued');
  t.ok(history(w, g).every((x) => x.status === 'completed'), `nothing failed (not address-bounds, not shadow-alloc)`);
  t.equal(g.vgpu.state, 'active', 'no failsafe');
  t.ok(mgr.counters.allocFailures > c0.allocFailures, 'the retry failed again, counted');
  t.equal(mgr.counters.invalidFrames, c0.invalidFrames, 'nothing counted as an invalid frame');
  t.equal(mgr.pendingEntries, 1, 'still pending');
  w.settle();
  t.equal(g.memory.read32(buf.gpa), 0x7001, 'once frames are back the waiting workload runs');
  w.heal(g);
  g.submitBatch('rcs', miStoreDataImm(buf.gma + 4, [0x7002]));
  w.settle();
  t.equal(history(w, g).at(-1)?.status, 'completed');
  t.equal(g.memory.read32(buf.gpa + 4), 0x7002, 'once frames are back the entry is shadowed and the store lands');
  t.equal(mgr.pendingEntries, 0);
  t.same(w.checkFull(), []);
  t.same(w.teardown(), []);
});

t.test('PPGTT: a leaf naming a frame outside guest RAM still goes to scratch, counted as contained (trapped write and sync)', async (t) => {
  const { w, g, first } = shadowedPpgtt(18);
  const mgr = g.vgpu.ppgtt;
  const bad = g.vgpu.ept.frames + 7;
  const c0 = mgr.counters;
  // Trapped whole-entry write, in the shadowed page table of `first`.
  const va = first.gma + PAGE_SIZE;
  g.ppgtt!.writeRaw(1, va, pteLo(bad, PTE_PRESENT | PTE_RW), pteHi(bad));
  const c1 = mgr.counters;
  t.equal(c1.invalidFrames - c0.invalidFrames, 1, 'trap: counted as an invalid guest frame');
  t.equal(c1.allocFailures, c0.allocFailures, 'trap: not as a host allocation failure');
  t.equal(mgr.pendingEntries, 0, 'trap: nothing waits');
  // A lone low half of another entry: parked until the sync, which finds the frame invalid.
  const va2 = first.gma + 2 * PAGE_SIZE;
  g.ppgtt!.writeRaw(1, va2, 0, 0);
  const half = new Uint8Array(4);
  new DataView(half.buffer).setUint32(0, pteLo(bad + 1, PTE_PRESENT | PTE_RW), true);
  g.driver.writeRam(pteGpa(g, va2), half);
  t.equal(mgr.pendingEntries, 1, 'the half waits for the sync');
  const out = g.ppgttBuffer(PAGE_SIZE);
  g.submitBatch('rcs', [...miStoreDataImm(va, [0xbad]), ...miStoreDataImm(va2, [0xbad]), ...miStoreDataImm(out.gma, [0x900d])]);
  w.settle();
  t.equal(history(w, g).at(-1)?.status, 'completed', 'the workload runs: its stores through invalid entries go to scratch');
  t.equal(g.memory.read32(out.gpa), 0x900d);
  const c2 = mgr.counters;
  t.equal(c2.invalidFrames - c0.invalidFrames, 2, 'sync: the whole entry is invalid, counted');
  t.equal(c2.allocFailures, c0.allocFailures, 'sync: no allocation failure');
  t.equal(mgr.pendingEntries, 0, 'sync: nothing left waiting');
  const mm = history(w, g).at(-1)!.ppgtt;
  t.ok(mm === null || (mm.translate(va) === -1 && mm.translate(va2) === -1), 'both at scratch');
  t.equal(g.vgpu.state, 'active');
  t.same(w.checkFull(), []);
  t.same(w.teardown(), []);
});

t.test('an engine that hangs: the mediator fails that workload (gpu-hang), resets the engine, the others continue', async (t) => {
  for (const policy of ['gvt-g', 'never'] as const) {
    const w = new FuzzWorld({ seed: 9, failsafe: policy });
    const g = w.attacker, v = w.victim!;
    // A GGTT entry of its own slice written as a lone half: parked, not present. The auditor
    // accepts the address (inside the slice); the device faults on it.
    const zone = g.driver.allocGm(PAGE_SIZE);
    const gpa = g.driver.allocRam(1);
    g.vgpu.mmioWrite(8 * MiB + (zone / PAGE_SIZE) * 8, 4, pteLo(gpa / PAGE_SIZE, PTE_PRESENT));
    const long: number[] = [];
    for (let i = 0; i < 64; i++) long.push(...miStoreDataImm(g.ppgttBuffer(PAGE_SIZE).gma, [i]));
    g.submit('rcs', [...long, ...miStoreDataImm(zone + 64, [0xdead], { ggtt: true })]);
    // The victim has work queued behind it on the same engine and on another.
    v.work();
    v.work();
    w.settle();
    const hang = history(w, g).find((x) => x.failure?.rule === 'gpu-hang');
    t.ok(hang, `${policy}: the attacker's workload failed with gpu-hang (${history(w, g).map((x) => x.failure?.rule ?? x.status)})`);
    t.equal(hang?.failure?.code, 'BAD_ADDRESS', `${policy}: the fault is recorded as a bad address`);
    t.ok(!w.h.device.engines[0].hung && w.h.device.engines[0].error === null, `${policy}: the engine was reset`);
    t.equal(g.vgpu.state, policy === 'gvt-g' ? 'failsafe' : 'active', `${policy}: failsafe by policy, for the attacker only`);
    // The attacker recovers like i915 after a hang and runs again.
    w.heal(g, true);
    const after = g.ppgttBuffer(PAGE_SIZE);
    g.submit('rcs', miStoreDataImm(after.gma, [0x600d]));
    v.work();
    w.settle();
    t.equal(g.memory.read32(after.gpa), 0x600d, `${policy}: the attacker works again after recovery`);
    t.same(w.checkFull(), [], `${policy}: the victim's work completed; invariants hold`);
    t.same(w.teardown(), []);
  }
});

t.test('a lost interrupt: the guest polls its CSB and status, and goes on', async (t) => {
  const w = new FuzzWorld({ seed: 10 });
  const g = w.victim!.g;
  const e = g.engine('rcs');
  const buf = g.ppgttBuffer(PAGE_SIZE);
  w.settle();
  // Every virtual interrupt of this guest is lost from now on.
  const cbs = g.vgpu['interruptCallbacks'] as unknown[];
  const saved = cbs.splice(0);
  const ptr0 = g.vgpu.mmioRead(0x2000 + RING.CSB_PTR, 4) & 7;
  for (let i = 0; i < 6; i++) {
    const words: number[] = [];
    for (let k = 0; k < 50; k++) words.push(...miStoreDataImm(buf.gma + 4 * (i * 64 + k), [0x100 * i + k + 1]));
    g.submit('rcs', words);
  }
  t.ok(e.deferred, 'with both ports busy a submission waits for an interrupt that never comes');
  let polls = 0;
  // The guest's timer: poll the execlist status and the CSB pointer; submit when a port frees.
  while ((e.busy || w.h.mediator.pendingOf(g.vgpu.id) > 0) && polls < 10_000) {
    w.h.run(2000);
    polls++;
    e.service();
  }
  const ptr1 = g.vgpu.mmioRead(0x2000 + RING.CSB_PTR, 4) & 7;
  t.ok(polls < 10_000, `the guest finished by polling (${polls} polls)`);
  t.not(ptr1, ptr0, 'the CSB advanced without interrupts');
  for (let i = 0; i < 6; i++) t.equal(g.memory.read32(buf.gpa + 4 * (i * 64 + 49)), 0x100 * i + 50, `submission ${i} ran`);
  t.equal(e.head, e.tail, 'the ring is consumed');
  cbs.push(...saved);
  t.same(w.checkFull(), []);
  t.same(w.teardown(), []);
});

t.test('a device reset in the middle of a workload', async (tt) => {
  const t = tt;
  const w = new FuzzWorld({ seed: 11 });
  const g = w.attacker, v = w.victim!;
  const buf = g.ppgttBuffer(PAGE_SIZE);
  const batch = g.ppgttBuffer(64 * PAGE_SIZE);
  const words: number[] = [];
  for (let i = 0; i < 10_000; i++) words.push(...miStoreDataImm(buf.gma + 4 * (i % 1024), [i]));
  g.driver.writeRam32(batch.gpa, [...words, ...miBatchBufferEnd()]);
  g.submit('rcs', [...miBatchBufferStart(batch.gma, { ppgtt: true }), ...miNoop()]);
  const clock = w.h.device.clock;
  while (!(w.h.mediator.inflightOn(0)?.vgpuId === g.vgpu.id && w.h.device.engines[0].busy) && clock.step());
  w.h.run(5000);
  tt.ok(w.h.device.engines[0].busy, 'the attacker\'s workload is running');
  w.h.device.reset();
  v.work();
  const idle = w.settle(1e9);
  t.ok(idle, 'the mediator goes idle again');
  const last = history(w, g).at(-1);
  t.ok(last && (last.status === 'completed' || last.status === 'failed'), `the interrupted workload finished, completed or failed cleanly (${last?.status} ${last?.failure?.rule ?? ''})`);
  const vs = w.checkFull();
  t.same(vs.filter((x) => x.invariant !== INVARIANTS.LIVENESS), [], 'no isolation violation');
  t.same(vs, [], 'the victim\'s work after the reset completed');
  t.same(w.teardown(), []);
});
