import t from 'tap';
import { PTE_PRESENT, PTE_RW, pteLo } from '../lib/gtt/pte.js';
import { GuestPpgtt, MiB, framesInUse, isolationProblems, le, mismatches, range, rig } from './ppgtt-fixture.js';

t.test('off by default: a PT written many times stays write-protected', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r);
  g.map4K(0, 1);
  const mm = g.get();
  const pt = g.ensurePt(0);
  for (let i = 0; i < 20; i++) g.map4K(i * 4096, 100 + i);
  t.ok(r.ept.isWriteProtected(pt));
  t.equal(r.mgr.counters.oosEntered, 0);
  t.same(mismatches(r, mm, g.roots, range(0, 0x20000)), []);
  t.end();
});

t.test('a PT written twice goes out of sync; sync diffs, re-shadows and re-protects it', (t) => {
  const r = rig({ outOfSync: true });
  const g = new GuestPpgtt(r);
  g.map4K(0, 1);
  g.map4K(0x1000, 2);
  const mm = g.get();
  const pt = g.ensurePt(0);
  const traps0 = r.mgr.counters.traps;
  g.map4K(0x2000, 3); // trapped, write 1
  t.ok(r.ept.isWriteProtected(pt));
  g.map4K(0x3000, 4); // trapped, write 2: shadowed, then the page goes out of sync
  t.notOk(r.ept.isWriteProtected(pt), 'protection dropped');
  t.ok(r.mgr.isOutOfSync(pt));
  t.equal(mm.translate(0x3000), r.ept.translate(4 * 4096), 'the write that made it OOS is shadowed');
  let c = r.mgr.counters;
  t.equal(c.traps - traps0, 2);
  t.equal(c.oosActive, 1);
  t.equal(c.oosAttached, 1);
  t.equal(c.oosEntered, 1);
  // Writes while out of sync are not trapped; the shadow goes stale.
  g.map4K(0x4000, 5);
  g.map4K(0, 6);
  g.unmap4K(0x1000);
  g.writeEntry(pt, 9, pteLo(7, PTE_PRESENT), 0, 'bytes');
  t.equal(r.mgr.counters.traps - traps0, 2, 'untrapped');
  t.equal(mm.translate(0x4000), -1, 'stale');
  t.equal(mm.translate(0x1000), r.ept.translate(2 * 4096), 'stale');
  t.same(g.readEntry(pt, 4), [pteLo(5, PTE_PRESENT | PTE_RW), 0], 'guest memory has the writes');
  t.ok(mm.sync());
  c = r.mgr.counters;
  t.equal(c.oosResynced, 4, 'four entries differed from the copy');
  t.equal(c.oosActive, 0);
  t.equal(c.oosAttached, 1, 'the copy stays attached');
  t.ok(r.ept.isWriteProtected(pt), 're-protected');
  t.same(mismatches(r, mm, g.roots, range(0, 0x20000)), []);
  // After a sync the count restarts: two more trapped writes, then out of sync again.
  g.map4K(0x5000, 8);
  t.ok(r.ept.isWriteProtected(pt));
  g.map4K(0x6000, 9);
  t.notOk(r.ept.isWriteProtected(pt));
  t.equal(r.mgr.counters.oosEntered, 2);
  g.map4K(0x7000, 10);
  mm.sync();
  t.same(mismatches(r, mm, g.roots, range(0, 0x20000)), []);
  t.equal(r.mgr.counters.oosResynced, 5);
  t.end();
});

t.test('only page tables go out of sync; the threshold is an option', (t) => {
  const r = rig({ outOfSync: true, oosThreshold: 5 });
  const g = new GuestPpgtt(r);
  g.map4K(0, 1);
  const mm = g.get();
  const pd = g.ensurePd(0);
  for (let i = 0; i < 10; i++) g.map4K(2 * MiB * (i + 1), 10 + i); // PD written 10 times (+ new PTs)
  t.ok(r.ept.isWriteProtected(pd), 'PD stays protected');
  const pt = g.ensurePt(0);
  for (let i = 1; i < 5; i++) g.map4K(i * 4096, 20 + i);
  t.ok(r.ept.isWriteProtected(pt), '4 writes');
  g.map4K(5 * 4096, 25);
  t.notOk(r.ept.isWriteProtected(pt), '5th write');
  mm.sync();
  t.same(mismatches(r, mm, g.roots, [...range(0, 0x10000), ...range(2 * MiB, 20 * MiB, 2 * MiB)]), []);
  t.end();
});

t.test('the pool is bounded: the oldest copy is stolen, its page synced first', (t) => {
  const r = rig({ outOfSync: true, oosPoolSize: 2 });
  const g = new GuestPpgtt(r);
  const pts: number[] = [];
  for (let k = 0; k < 3; k++) {
    g.map4K(k * 2 * MiB, 1);
    pts.push(g.ensurePt(k * 2 * MiB));
  }
  const mm = g.get();
  // PT 0 and PT 1 go out of sync, and get untrapped writes.
  for (const k of [0, 1]) {
    g.map4K(k * 2 * MiB + 0x1000, 2);
    g.map4K(k * 2 * MiB + 0x2000, 3);
    t.ok(r.mgr.isOutOfSync(pts[k]));
    g.map4K(k * 2 * MiB + 0x3000, 40 + k);
  }
  t.equal(mm.translate(0x3000), -1, 'PT 0 stale');
  // PT 2 needs a copy: PT 0's (the oldest) is stolen; PT 0 is synced and protected again.
  g.map4K(4 * MiB + 0x1000, 2);
  g.map4K(4 * MiB + 0x2000, 3);
  const c = r.mgr.counters;
  t.equal(c.oosStolen, 1);
  t.equal(c.oosAttached, 2);
  t.equal(c.oosActive, 2);
  t.notOk(r.mgr.isOutOfSync(pts[0]));
  t.ok(r.ept.isWriteProtected(pts[0]));
  t.equal(mm.translate(0x3000), r.ept.translate(40 * 4096), 'PT 0 synced when its copy was stolen');
  t.ok(r.mgr.isOutOfSync(pts[1]) && r.mgr.isOutOfSync(pts[2]));
  // PT 0, written twice again, steals PT 1's copy.
  g.map4K(0x4000, 5);
  g.map4K(0x5000, 6);
  t.equal(r.mgr.counters.oosStolen, 2);
  t.equal(r.mgr.counters.oosAttached, 2);
  mm.sync();
  t.same(mismatches(r, mm, g.roots, [...range(0, 0x10000), ...range(2 * MiB, 0x10000), ...range(4 * MiB, 0x10000)]), []);
  // A pool of 0 disables going out of sync.
  const r0 = rig({ outOfSync: true, oosPoolSize: 0 });
  const g0 = new GuestPpgtt(r0);
  g0.map4K(0, 1);
  g0.get();
  for (let i = 1; i < 5; i++) g0.map4K(i * 4096, i);
  t.ok(r0.ept.isWriteProtected(g0.ensurePt(0)));
  t.end();
});

t.test('half writes and out-of-sync pages together; teardown while out of sync', (t) => {
  const r = rig({ outOfSync: true });
  const g = new GuestPpgtt(r);
  g.map4K(0, 1);
  const mm = g.get();
  const a = g.pteAddress(0x1000);
  r.ept.guestWrite32(a, pteLo(50, PTE_PRESENT)); // half: parked, write 1
  r.ept.guestWrite32(a + 8, pteLo(51, PTE_PRESENT)); // half of entry 2, write 2 → out of sync
  t.ok(r.mgr.isOutOfSync(g.ensurePt(0)));
  r.ept.guestWrite32(a + 4, 0); // untrapped other half
  r.ept.guestWrite(a + 16, le(pteLo(52, PTE_PRESENT), 0));
  t.equal(mm.translate(0x1000), -1);
  t.ok(mm.sync());
  t.same(mismatches(r, mm, g.roots, range(0, 0x10000)), []);
  t.equal(r.mgr.pendingEntries, 0);
  // Out of sync again, then the whole vGPU goes away.
  g.map4K(0x5000, 5);
  g.map4K(0x6000, 6);
  t.equal(r.mgr.counters.oosActive, 1);
  t.same(isolationProblems(r, mm), []);
  r.mgr.destroyAll();
  const c = r.mgr.counters;
  t.equal(c.oosActive, 0);
  t.equal(c.oosAttached, 0);
  t.equal(c.shadowPages, 0);
  t.equal(r.ept.protectedFrames, 0);
  t.equal(framesInUse(r), r.baseline);
  t.end();
});
