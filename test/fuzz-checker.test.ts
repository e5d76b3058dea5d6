/**
 * The isolation checker catches what it claims to: each test plants one violation by reaching
 * past the mediator (host-side writes a guest could never make) and checks that the world's checks
 * name it. Without these, a quiet campaign would prove nothing.
 */
import t from 'tap';
import { FuzzWorld, INVARIANTS, checkGgttFull, checkShadowPpgtt, type Violation } from '../lib/fuzz/index.js';
import { miStoreDataImm } from '../lib/device/commands/index.js';
import { PTE_PRESENT, PTE_RW, pteHi, pteLo } from '../lib/gtt/pte.js';
import { DeviceMonitor, ppgttPages } from '../lib/fuzz/monitor.js';
import { PAGE_SIZE } from '../lib/types.js';

function names(vs: readonly Violation[]): string[] {
  return [...new Set(vs.map((v) => v.invariant))];
}

function victimFrame(w: FuzzWorld): number {
  return Math.floor(w.victim!.g.vgpu.ggtt.translate(w.victim!.canary.gma) / PAGE_SIZE);
}

t.test('a clean world has no violations', async (t) => {
  const w = new FuzzWorld({ seed: 1 });
  w.victim!.work();
  const buf = w.attacker.ppgttBuffer(PAGE_SIZE);
  w.attacker.submitBatch('rcs', miStoreDataImm(buf.gma, [5]));
  t.ok(w.settle());
  t.same(w.checkFull(), []);
  t.ok(w.monitor.accesses > 0, `the monitor saw device accesses (${w.monitor.accesses})`);
  t.same(w.teardown(), []);
});

t.test('a host GGTT entry of the attacker naming a victim frame is caught, and the device touching it', async (t) => {
  const w = new FuzzWorld({ seed: 2 });
  const g = w.attacker;
  const buf = g.buffer(PAGE_SIZE);
  // Plant: the host entry behind the attacker's buffer names the victim's canary frame.
  const f = victimFrame(w);
  w.h.device.ggtt.set(buf.gma / PAGE_SIZE, pteLo(f, PTE_PRESENT), pteHi(f));
  g.submit('rcs', miStoreDataImm(buf.gma, [0xbad], { ggtt: true }));
  w.settle();
  const vs = w.check();
  t.ok(names(vs).includes(INVARIANTS.GGTT_FOREIGN_FRAME), 'ggtt-foreign-frame');
  t.ok(names(vs).includes(INVARIANTS.DEVICE_FOREIGN_FRAME), 'device-foreign-frame');
  t.ok(names(vs).includes(INVARIANTS.VICTIM_MEMORY), 'victim-memory: the canary changed');
});

t.test('a shadow PPGTT leaf naming a victim frame is caught, and the store through it', async (t) => {
  const w = new FuzzWorld({ seed: 3 });
  const g = w.attacker;
  const buf = g.ppgttBuffer(PAGE_SIZE);
  g.submitBatch('rcs', miStoreDataImm(buf.gma, [1]));
  w.settle();
  t.same(w.check(), []);
  // Plant: rewrite the leaf of `buf` in the attacker's shadow PT (host memory) to a victim frame.
  const f = victimFrame(w);
  const host = w.h.device.hostMemory;
  let planted = false;
  for (const p of ppgttPages(g.vgpu.ppgtt).values()) {
    if (p.level !== 1) continue;
    for (let k = 0; k < 1024; k += 2) {
      if ((p.shadow[k] & PTE_PRESENT) && g.vgpu.ept.gfnOfMfn((p.shadow[k] >>> 12) | ((p.shadow[k + 1] & 0x7f) << 20)) === buf.gpa / PAGE_SIZE) {
        host.page32(p.mfn)[k] = pteLo(f, PTE_PRESENT | PTE_RW);
        host.page32(p.mfn)[k + 1] = pteHi(f);
        planted = true;
      }
    }
  }
  t.ok(planted, 'planted');
  t.ok(names(checkShadowPpgtt(g.vgpu)).includes(INVARIANTS.PPGTT_FOREIGN_FRAME), 'the structural check names it');
  g.submit('rcs', miStoreDataImm(buf.gma + 8, [0xbad]));
  w.settle();
  const vs = w.check();
  t.ok(names(vs).includes(INVARIANTS.DEVICE_FOREIGN_FRAME), 'device-foreign-frame');
  t.ok(names(vs).includes(INVARIANTS.VICTIM_MEMORY), 'victim-memory');
});

t.test('stray GGTT entries, host registers, aperture, leaks and victim results are caught', async (t) => {
  const w = new FuzzWorld({ seed: 4 });
  const m = w.h.mediator;
  // A present entry outside every slice and outside the shadow range.
  w.h.device.ggtt.set(5, pteLo(300, PTE_PRESENT), 0);
  t.ok(names(checkGgttFull(m)).includes(INVARIANTS.GGTT_STRAY_ENTRY), 'ggtt-stray-entry');
  w.h.device.ggtt.set(5, 0, 0);
  // A host register the attacker may not reach.
  const snap = w.snapshotHostRegisters().slice();
  w.h.device.regs.poke(0x2034, 0x1234);
  t.ok(names(w.hostRegisterChanges(snap, [w.attacker.vgpu])).includes(INVARIANTS.HOST_REGISTER), 'host-register');
  w.h.device.regs.poke(0x2034, snap[0x2034 >>> 2]);
  // The attacker's own fence is allowed.
  w.attacker.vgpu.mmioWrite(0x100000, 4, 0xabc001);
  t.same(w.hostRegisterChanges(snap, [w.attacker.vgpu]), [], 'its own fence is not a violation');
  // Aperture: the attacker's low-slice entry names a victim frame; an aperture read is caught.
  const g = w.attacker;
  const ap = g.buffer(PAGE_SIZE, { mappable: true });
  const f = victimFrame(w);
  w.h.device.ggtt.set(ap.gma / PAGE_SIZE, pteLo(f, PTE_PRESENT), pteHi(f));
  g.vgpu.apertureRead(ap.gma, 4);
  t.ok(names(w.monitor.takeViolations()).includes(INVARIANTS.APERTURE), 'aperture');
  w.monitor.takeGgttWrites();
  // The victim's result: a value it never wrote, and a failed workload.
  w.victim!.work();
  w.settle();
  w.victim!.g.memory.write32(w.victim!.ppgttBuf.gpa + 4 * 1000, 7);
  w.victim!.failures.push('planted');
  const vs = w.check();
  t.ok(names(vs).includes(INVARIANTS.VICTIM_MEMORY), 'victim-memory');
  t.ok(names(vs).includes(INVARIANTS.VICTIM_RESULT), 'victim-result');
  // A leak: a frame allocated and never returned.
  w.h.device.hostMemory.allocFrame();
  t.ok(names(w.teardown()).includes(INVARIANTS.LEAK), 'leak');
});

t.test('GGTT entries written in bulk are checked, and a block passed whole hides nothing', async (t) => {
  const w = new FuzzWorld({ seed: 6 });
  const g = w.attacker;
  const ggtt = w.h.device.ggtt;
  const m = w.h.mediator;
  const f = victimFrame(w);
  // A run of 4096 entries (one block of the write log) inside the attacker's high slice.
  const s = g.vgpu.slices;
  const first = Math.ceil(s.highBase / PAGE_SIZE / 4096) * 4096;
  t.ok(first + 4096 <= (s.highBase + s.highSize) / PAGE_SIZE, 'a whole block in the slice');
  t.same(w.check(), [], 'clean');
  // Every entry of the block names a victim frame, written with `fill`.
  ggtt.fill(first, 4096, pteLo(f, PTE_PRESENT), pteHi(f));
  t.ok(names(w.check()).includes(INVARIANTS.GGTT_FOREIGN_FRAME), 'a block of foreign frames');
  // A reset points the slices at the attacker's scratch page: nothing to report.
  w.revive(g);
  t.same(w.check(), [], 'after a reset');
  // One foreign entry among scratch entries, and the victim's scratch page in the attacker's block.
  ggtt.set(first + 100, pteLo(f, PTE_PRESENT), pteHi(f));
  t.ok(names(w.check()).includes(INVARIANTS.GGTT_FOREIGN_FRAME), 'one entry in a block of scratch');
  t.ok(names(checkGgttFull(m)).includes(INVARIANTS.GGTT_FOREIGN_FRAME), 'the full scan too');
  const vs = w.victim!.g.vgpu.ggtt.scratchMfn;
  ggtt.fill(first, 4096, pteLo(vs, PTE_PRESENT), pteHi(vs));
  t.ok(names(w.check()).includes(INVARIANTS.GGTT_FOREIGN_FRAME), "the victim's scratch page");
  t.ok(names(checkGgttFull(m)).includes(INVARIANTS.GGTT_FOREIGN_FRAME), 'the full scan too');
  w.revive(g);
  t.same(w.check(), []);
  t.same(checkGgttFull(m), []);
  // A second monitor on the same device: both see every write, `set` and `fill`.
  const m2 = new DeviceMonitor(w.h);
  ggtt.fill(first, 4096, 0, 0);
  ggtt.set(5, pteLo(300, PTE_PRESENT), 0);
  const want = [5, ...Array.from({ length: 4096 }, (_, k) => first + k)];
  t.same(m2.takeGgttWrites(), want);
  t.same(w.monitor.takeGgttWrites(), want);
  ggtt.set(5, 0, 0);
});

t.test('the device running with no workload in flight is caught', async (t) => {
  const w = new FuzzWorld({ seed: 5 });
  const g = w.attacker;
  const buf = g.buffer(PAGE_SIZE);
  g.submit('rcs', miStoreDataImm(buf.gma, [1], { ggtt: true }));
  // Plant: the mediator forgets its in-flight workload as soon as it is dispatched.
  const m = w.h.mediator as unknown as { inflight: unknown[] };
  const clock = w.h.device.clock;
  while (w.h.mediator.inflightOn(0) === null && clock.step());
  t.ok(w.h.mediator.inflightOn(0), 'dispatched');
  m.inflight[0] = null;
  w.h.device.runUntilIdle();
  t.ok(names(w.monitor.takeViolations()).includes(INVARIANTS.DEVICE_UNOWNED_RUN), 'device-unowned-run');
});
