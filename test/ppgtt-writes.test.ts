import t from 'tap';
import { PTE_PRESENT, PTE_RW, pteFrame, pteHi, pteLo } from '../lib/gtt/pte.js';
import { ALL_STYLES, FULL_STYLES, GiB, GuestPpgtt, MiB, framesInUse, isolationProblems, le, mismatches, range, rig } from './ppgtt-fixture.js';

t.test('trapped leaf writes update the shadow at once, and land in guest memory', async (t) => {
  for (const style of FULL_STYLES) {
    const r = rig();
    const g = new GuestPpgtt(r);
    g.map4K(0, 10);
    const mm = g.get();
    const traps0 = r.mgr.counters.traps;
    g.style = style;
    g.map4K(0x1000, 11);
    g.map4K(0, 12, PTE_PRESENT); // remap, read-only
    t.equal(mm.translate(0x1000), r.ept.translate(11 * 4096), style);
    t.equal(mm.translate(0), r.ept.translate(12 * 4096), style);
    t.same(mismatches(r, mm, g.roots, [0, 0x1000, 0x2000]), [], style);
    g.unmap4K(0x1000);
    t.equal(mm.translate(0x1000), -1, `${style}: unmapped → scratch`);
    // The guest reads back what it wrote.
    const pt = g.ensurePt(0);
    t.same(g.readEntry(pt, 0), [pteLo(12, PTE_PRESENT), pteHi(12)]);
    t.same(g.readEntry(pt, 1), [0, 0]);
    t.equal(r.mgr.counters.traps - traps0, style === 'w8' ? 3 : 6);
    t.equal(r.mgr.pendingEntries, 0, `${style}: nothing pending`);
  }
});

t.test('half writes park the entry at scratch until the other half arrives', (t) => {
  const r = rig({}, 64 * MiB);
  const g = new GuestPpgtt(r);
  g.map4K(0, 10);
  const mm = g.get();
  const a = g.pteAddress(0);
  const before = r.mgr.counters;
  r.ept.guestWrite32(a, pteLo(20, PTE_PRESENT | PTE_RW));
  t.equal(mm.translate(0), -1, 'parked after the low half');
  t.equal(r.mgr.pendingEntries, 1);
  r.ept.guestWrite32(a, pteLo(21, PTE_PRESENT | PTE_RW));
  t.equal(mm.translate(0), -1, 'same half again: still parked');
  r.ept.guestWrite32(a + 4, 0);
  t.equal(mm.translate(0), r.ept.translate(21 * 4096), 'whole after the high half');
  t.equal(r.mgr.pendingEntries, 0);
  const c = r.mgr.counters;
  t.equal(c.halfWrites - before.halfWrites, 3);
  t.equal(c.parked - before.parked, 2);
  // A lone half is flushed by sync().
  r.ept.guestWrite32(a + 4, 0);
  t.equal(mm.translate(0), -1);
  t.ok(mm.sync());
  t.equal(mm.translate(0), r.ept.translate(21 * 4096), 'flushed by sync');
  // A full 8-byte write after a half clears the pending state.
  r.ept.guestWrite32(a, pteLo(22, PTE_PRESENT));
  r.ept.guestWrite(a, le(pteLo(23, PTE_PRESENT), 0));
  t.equal(r.mgr.pendingEntries, 0);
  t.equal(mm.translate(0), r.ept.translate(23 * 4096));
  t.end();
});

t.test('byte writes and unaligned writes park until sync; wide writes shadow every whole entry', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r);
  g.map4K(0, 10);
  g.map4K(0x1000, 11);
  const mm = g.get();
  g.style = 'bytes';
  g.map4K(0, 30);
  t.equal(mm.translate(0), -1, 'parked after 8 single bytes');
  t.ok(mm.sync());
  t.equal(mm.translate(0), r.ept.translate(30 * 4096));
  // An unaligned 8-byte write straddling entries 0 and 1 is a half of each: both park.
  const a = g.pteAddress(0);
  const cur = new Uint8Array(16);
  cur.set(le(pteLo(31, PTE_PRESENT), 0), 0);
  cur.set(le(pteLo(32, PTE_PRESENT), 0), 8);
  r.ept.guestWrite(a + 4, cur.subarray(4, 12));
  t.equal(mm.translate(0), -1);
  t.equal(mm.translate(0x1000), -1);
  t.equal(r.mgr.pendingEntries, 2);
  // Their other halves complete them without a sync.
  r.ept.guestWrite(a, cur.subarray(0, 4));
  r.ept.guestWrite(a + 12, cur.subarray(12, 16));
  t.equal(mm.translate(0), r.ept.translate(31 * 4096));
  t.equal(mm.translate(0x1000), r.ept.translate(32 * 4096));
  // A 2-byte write is a fragment: parked until sync even when the rest follows in halves.
  r.ept.guestWrite(a, le(pteLo(33, PTE_PRESENT), 0).subarray(0, 2));
  r.ept.guestWrite32(a + 4, 0);
  t.equal(mm.translate(0), -1);
  r.ept.guestWrite(a + 2, le(pteLo(33, PTE_PRESENT), 0).subarray(2, 4));
  t.equal(mm.translate(0), -1);
  t.ok(mm.sync());
  t.equal(mm.translate(0), r.ept.translate(33 * 4096));
  // A 4 KiB write of a whole table: every entry shadowed at once.
  const page = new Uint8Array(4096);
  for (let i = 0; i < 512; i++) page.set(le(pteLo(100 + i, PTE_PRESENT | PTE_RW), 0), 8 * i);
  r.ept.guestWrite(a, page);
  t.equal(r.mgr.pendingEntries, 0);
  t.same(mismatches(r, mm, g.roots, range(0, 2 * MiB)), []);
  t.end();
});

t.test('PDE and PDPE writes build and tear down subtrees; add before remove', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r);
  g.map4K(0, 10);
  const mm = g.get();
  const base = framesInUse(r);
  // A new PT, built by trapped writes: PDE first (empty PT), then entries.
  g.map4K(2 * MiB, 20);
  g.map4K(2 * MiB + 0x1000, 21);
  t.equal(framesInUse(r), base + 1, 'one shadow PT more');
  t.same(mismatches(r, mm, g.roots, [0, 2 * MiB, 2 * MiB + 0x1000]), []);
  // Whole new PD + PT under a new PDP entry, prepared in guest memory then linked by one write.
  const pd = g.allocTable();
  const pt = g.allocTable();
  g.writeEntry(pt, 3, pteLo(40, PTE_PRESENT | PTE_RW), 0, 'direct');
  g.writeEntry(pd, 0, pteLo(pt, PTE_PRESENT | PTE_RW), 0, 'direct');
  const [pdpLo, pdpHi] = g.readEntry(g.pml4, 0);
  const pdp = pteFrame(pdpLo, pdpHi);
  g.writeEntry(pdp, 1, pteLo(pd, PTE_PRESENT | PTE_RW), 0);
  t.equal(mm.translate(GiB + 0x3000), r.ept.translate(40 * 4096));
  t.ok(r.ept.isWriteProtected(pd) && r.ept.isWriteProtected(pt));
  t.equal(framesInUse(r), base + 3);
  // Repoint PDP entry 1 at the PD of entry 0: the new subtree is shared, the old one torn down.
  const pd0 = g.ensurePd(0);
  g.writeEntry(pdp, 1, pteLo(pd0, PTE_PRESENT | PTE_RW), 0);
  t.equal(mm.translate(GiB), r.ept.translate(10 * 4096));
  t.equal(mm.translate(GiB + 0x3000), -1);
  t.notOk(r.ept.isWriteProtected(pd), 'old PD unprotected');
  t.notOk(r.ept.isWriteProtected(pt), 'old PT unprotected');
  t.equal(framesInUse(r), base + 1);
  // Rewriting a PDE with the same value keeps the shadow PT (reference taken before dropped).
  const alloc0 = r.mgr.counters.shadowPagesAllocated;
  g.setPde(0, g.ensurePt(0), false);
  t.equal(r.mgr.counters.shadowPagesAllocated, alloc0, 'no rebuild');
  t.equal(mm.translate(0), r.ept.translate(10 * 4096));
  // Clear the PDP entry 0 (shared by index 1): still alive through index 1.
  g.clearPdpe(0);
  t.equal(mm.translate(0), -1);
  t.equal(mm.translate(GiB), r.ept.translate(10 * 4096));
  g.clearPdpe(GiB);
  t.equal(mm.translate(GiB), -1);
  t.equal(framesInUse(r), base - 2, 'PD and PT freed');
  t.same(isolationProblems(r, mm), []);
  t.end();
});

t.test('a PDE flipping IPS re-shadows its PT; PS/2 MiB conversions', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r);
  for (let i = 0; i < 32; i++) g.map4K(i * 4096, 500 + i);
  const mm = g.get();
  const pt = g.ensurePt(0);
  // Same PT, now IPS: entries at 0 and 16 become 64 KiB pages.
  g.setPde(0, pt, true);
  t.equal(r.mgr.counters.ipsRetyped, 1);
  t.same(mismatches(r, mm, g.roots, range(0, 0x40000)), []);
  t.equal(mm.translate(0x5000), r.ept.translate((496 + 5) * 4096), 'slot 0 maps 64 KiB from frame 496');
  g.setPde(0, pt, false);
  t.same(mismatches(r, mm, g.roots, range(0, 0x40000)), []);
  // PT → 2 MiB page → PT.
  g.map2M(0, 1024);
  t.same(mismatches(r, mm, g.roots, range(0, 2 * MiB, 4096 * 3)), []);
  t.notOk(r.ept.isWriteProtected(pt), 'PT dropped');
  g.setPde(0, pt, false);
  t.same(mismatches(r, mm, g.roots, range(0, 2 * MiB, 4096 * 3)), []);
  t.ok(r.ept.isWriteProtected(pt));
  t.end();
});

t.test('every write style ends equivalent after sync, on every level', (t) => {
  for (const style of ALL_STYLES) {
    const r = rig();
    const g = new GuestPpgtt(r);
    g.map4K(0, 1);
    const mm = g.get();
    g.style = style;
    g.map4K(0x3000, 2);
    g.map4K(5 * MiB, 3);
    g.map4K(3 * GiB + 0x1000, 4);
    g.map4K(2 ** 40, 5);
    g.map64K(9 * MiB, 64);
    g.map2M(12 * MiB, 2048);
    mm.sync();
    const gmas = [0, 0x3000, 5 * MiB, 3 * GiB + 0x1000, 2 ** 40, 9 * MiB + 0x7000, 12 * MiB + 0x12000];
    t.same(mismatches(r, mm, g.roots, gmas), [], style);
    t.equal(r.mgr.pendingEntries, 0);
    t.same(isolationProblems(r, mm), [], style);
    t.equal(r.ept.protectedFrames, r.mgr.shadowedTables().size, `${style}: every shadowed table protected`);
  }
  t.end();
});

t.test('writes to an IPS page table: only 16th slots matter', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r);
  g.map64K(0, 256);
  const mm = g.get();
  const pt = g.ensurePt(0, true);
  g.writeEntry(pt, 3, pteLo(900, PTE_PRESENT), 0);
  t.equal(mm.translate(0x3000), r.ept.translate(259 * 4096), 'ignored slot');
  g.writeEntry(pt, 0, pteLo(320, PTE_PRESENT | PTE_RW), 0, 'w32');
  t.equal(mm.translate(0xf000), r.ept.translate(335 * 4096));
  g.writeEntry(pt, 0, 0, 0);
  t.equal(mm.translate(0x3000), -1);
  t.same(mismatches(r, mm, g.roots, range(0, 0x20000)), []);
  t.end();
});
