import t from 'tap';
import { PDE_PS, PTE_PCD, PTE_PRESENT, PTE_PWT, PTE_RW, pteFrame, pteHi, pteLo } from '../lib/gtt/pte.js';
import { PpgttWalker } from '../lib/gtt/ppgtt-walk.js';
import { PPGTT_MODE_L3, PPGTT_MODE_L4, PpgttManager } from '../lib/gtt/shadow-ppgtt.js';
import { Ept } from '../lib/ept/ept.js';
import { HostMemory, SparseGuestMemory } from '../lib/ept/memory.js';
import { failAllocationAt } from '../lib/fuzz/faults.js';
import { GiB, GuestPpgtt, MiB, framesInUse, isolationProblems, mismatches, range, rig } from './ppgtt-fixture.js';

t.test('4-level: a sparse mapping is shadowed, leaves point at EPT frames with guest flags', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r);
  const gmas = [0, 4096, 0x7000, 2 * MiB + 0x3000, GiB + 0x5000, 2 ** 39 + 0x9000, 2 ** 47 + 7 * 4096];
  gmas.forEach((gma, k) => g.map4K(gma, 100 + k, PTE_PRESENT | (k % 2 ? PTE_RW : 0) | (k === 3 ? PTE_PCD | PTE_PWT : 0)));
  const mm = g.get();
  t.same(mismatches(r, mm, g.roots, [...gmas, ...gmas.map((x) => x + 4096), 8192, 2 ** 40]), []);
  t.same(isolationProblems(r, mm), []);
  // Leaf flags are the guest's.
  const w = new PpgttWalker(r.host);
  t.ok(w.walk4(mm.root(), gmas[3]));
  t.equal(w.entryLo & 0xfff, PTE_PRESENT | PTE_RW | PTE_PCD | PTE_PWT);
  t.equal(Math.floor(w.address / 4096), r.ept.translateGfn(103));
  t.equal(mm.translate(gmas[3] + 12), r.ept.translate(103 * 4096 + 12));
  t.equal(mm.translate(8192), -1, 'unmapped gma: scratch → -1');
  const c = r.mgr.counters;
  t.equal(c.shadowed >= gmas.length, true);
  // Every guest table page is write-protected: PML4 + PDPs + PDs + PTs.
  const tables = r.mgr.shadowedTables();
  t.equal(r.ept.protectedFrames, tables.size);
  for (const gfn of tables.keys()) t.ok(r.ept.isWriteProtected(gfn));
  t.equal(tables.get(g.pml4), 4);
  t.equal(c.shadowPages, tables.size);
  t.end();
});

t.test('scratch structure: per-level scratch tables chain down to a zero scratch page', (t) => {
  const r = rig();
  const [page, pt, pd, pdp, pml4] = r.mgr.scratchMfns;
  t.equal(r.mgr.scratchPageMfn, page);
  const chain = [pml4, pdp, pd, pt, page];
  for (let l = 0; l < 4; l++) {
    for (const i of [0, 1, 255, 511]) {
      const lo = r.host.read32(chain[l] * 4096 + i * 8);
      const hi = r.host.read32(chain[l] * 4096 + i * 8 + 4);
      t.equal(pteFrame(lo, hi), chain[l + 1]);
      t.equal(lo & (PTE_PRESENT | PTE_RW), PTE_PRESENT | PTE_RW);
    }
  }
  t.equal(r.baseline, 5, 'five scratch frames');
  r.mgr.dispose();
  t.equal(framesInUse(r), 0);
  t.end();
});

t.test('invalid guest input lands on scratch, counted, never throws', (t) => {
  const r = rig({}, 8 * MiB);
  const frames = r.ept.frames; // 2048
  const g = new GuestPpgtt(r);
  g.map4K(0x1000, 5);
  g.map4K(0x2000, frames + 3); // leaf frame outside guest RAM
  g.map4K(0x3000, 2 ** 27 - 1); // largest frame a PTE names
  g.map4K(0x4000, 7, PTE_RW); // not present, flags set
  // A PD entry pointing at a "PT" outside guest RAM.
  const pd = g.ensurePd(4 * MiB);
  g.writeEntry(pd, 2, pteLo(frames + 10, PTE_PRESENT | PTE_RW), pteHi(frames + 10));
  // A PML4 entry with PS (reserved).
  g.writeEntry(g.pml4, 5, pteLo(9, PTE_PRESENT | PDE_PS), 0);
  // A 1 GiB page.
  g.map1G(3 * GiB, 0);
  const mm = g.get();
  const gmas = [0x1000, 0x2000, 0x3000, 0x4000, 4 * MiB, 4 * MiB + 0x1000, 5 * 2 ** 39, 3 * GiB, 3 * GiB + 5 * MiB];
  t.same(mismatches(r, mm, g.roots, gmas), []);
  for (const gma of gmas.slice(1)) t.equal(mm.translate(gma), -1, `0x${gma.toString(16)} → scratch`);
  t.equal(mm.translate(0x1000), r.ept.translate(5 * 4096));
  const c = r.mgr.counters;
  t.equal(c.invalidFrames, 4, 'two leaf frames, one PT frame, one PS PML4 entry');
  t.equal(c.refusedHuge, 1);
  t.same(isolationProblems(r, mm), []);
  // Roots outside RAM, negative, NaN, huge: scratch roots.
  for (const bad of [frames * 4096, -4096, Number.NaN, 2 ** 60, 0]) {
    const m = r.mgr.get(bad);
    t.equal(m.root(), r.mgr.scratchMfns[4] * 4096, `root ${bad} → scratch PML4`);
    t.equal(m.translate(0), -1);
  }
  t.end();
});

t.test('64 KiB pages are split into 16 × 4 KiB shadow entries', (t) => {
  const r = rig({}, 32 * MiB + 32 * 1024); // 8200 frames: a 64 KiB page at 8192 is half outside
  const g = new GuestPpgtt(r);
  // 64 KiB pages at PT slots 0 and 16; a misaligned guest frame is aligned down like hardware.
  g.map64K(0, 256);
  g.map64K(0x10000, 512 + 3);
  g.map64K(0x20000, 8192 + 5); // half of it beyond guest RAM
  // An entry at an ignored slot of the IPS PT changes nothing.
  const pt = g.ensurePt(0, true);
  g.writeEntry(pt, 5, pteLo(999, PTE_PRESENT | PTE_RW), 0);
  const mm = g.get();
  const gmas = range(0, 0x40000);
  t.same(mismatches(r, mm, g.roots, gmas), []);
  t.equal(mm.translate(0x5000), r.ept.translate(261 * 4096), 'slot 5 follows the 64 KiB entry at slot 0');
  t.equal(mm.translate(0x13000), r.ept.translate(515 * 4096));
  t.equal(mm.translate(0x20000 + 7 * 4096), r.ept.translate((r.ept.frames - 1) * 4096));
  t.equal(mm.translate(0x20000 + 8 * 4096), -1);
  t.equal(r.mgr.counters.split64K, 3);
  // The shadow PDE has no IPS.
  const w = new PpgttWalker(r.host);
  t.ok(w.walk4(mm.root(), 0x5000));
  t.equal(w.pageSize, 4096);
  t.same(isolationProblems(r, mm), []);
  t.end();
});

t.test('2 MiB pages: direct when host-contiguous and aligned, else split', (t) => {
  const r = rig({}, 65 * MiB);
  // Make guest frames 2048..2559 land on 2 MiB-aligned contiguous host frames.
  const before = r.host.allocatedFrames;
  const probe = r.host.allocContiguous(1);
  const pad = (512 - ((probe + 1) % 512)) % 512;
  if (pad) r.host.allocContiguous(pad);
  const spent = r.host.allocatedFrames - before;
  for (let j = 0; j < 512; j++) r.ept.map((2048 + j) as never);
  t.equal(r.ept.translateGfn(2048) % 512, 0);
  // Guest frames 4096.. get non-contiguous host frames: map them in reverse.
  for (let j = 511; j >= 0; j--) r.ept.map((4096 + j) as never);
  const g = new GuestPpgtt(r);
  g.map2M(0, 2048 + 7, PTE_PRESENT | PTE_RW | 0x1000); // low frame bits ignored; bit 12 = PAT
  g.map2M(2 * MiB, 4096, PTE_PRESENT);
  g.map2M(4 * MiB, r.ept.frames - 100, PTE_PRESENT | PTE_RW); // partly outside guest RAM
  g.map2M(6 * MiB, r.ept.frames + 512, PTE_PRESENT | PTE_RW); // wholly outside
  const mm = g.get();
  const gmas = range(0, 8 * MiB, 4096 * 7);
  t.same(mismatches(r, mm, g.roots, gmas), []);
  const w = new PpgttWalker(r.host);
  t.ok(w.walk4(mm.root(), 0x1234));
  t.equal(w.pageSize, 2 * MiB, 'direct 2 MiB shadow');
  t.equal(w.entryLo & 0x1fff & ~PDE_PS, PTE_PRESENT | PTE_RW | 0x1000, 'flags (and PAT bit 12) kept');
  t.ok(w.walk4(mm.root(), 2 * MiB + 0x5000));
  t.equal(w.pageSize, 4096, 'split');
  t.equal(w.writable, false);
  const inside = r.ept.frames - ((r.ept.frames - 100) & ~511);
  t.equal(inside, 256);
  t.equal(mm.translate(4 * MiB + (inside - 1) * 4096), r.ept.translate((r.ept.frames - 1) * 4096));
  t.equal(mm.translate(4 * MiB + inside * 4096), -1);
  t.equal(mm.translate(6 * MiB), -1);
  const c = r.mgr.counters;
  t.equal(c.huge2M, 1);
  t.equal(c.split2M, 2);
  t.same(isolationProblems(r, mm), []);
  // Teardown returns the split PTs too.
  r.mgr.destroyAll();
  t.equal(framesInUse(r), r.baseline + spent);
  t.end();
});

t.test('1 GiB pages are refused', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r);
  g.map1G(GiB, 0);
  g.map4K(0, 3);
  const mm = g.get();
  t.equal(mm.translate(GiB), -1);
  t.equal(mm.translate(GiB + 123 * MiB), -1);
  t.equal(r.mgr.counters.refusedHuge, 1);
  t.same(mismatches(r, mm, g.roots, [0, GiB, GiB + 4096]), []);
  t.end();
});

t.test('legacy 32-bit mode: four PDP roots, each a page directory', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r, PPGTT_MODE_L3);
  const gmas = [0, 0x5000, GiB + 0x3000, 2 * GiB + 2 * MiB, 3 * GiB + 0x7000, 4 * GiB - 4096];
  gmas.forEach((gma, k) => g.map4K(gma, 300 + k));
  g.map64K(2 * GiB + 4 * MiB, 1024);
  const mm = r.mgr.get(g.pdps, PPGTT_MODE_L3);
  t.equal(mm.shadowRoots.length, 4);
  t.same(mismatches(r, mm, g.pdps, [...gmas, ...range(2 * GiB + 4 * MiB, 0x20000)]), []);
  t.same(isolationProblems(r, mm), []);
  t.equal(mm.translate(4 * GiB), -1, 'beyond 4 GiB');
  // Missing PDPs are scratch PDs; two PDPs naming one PD share its shadow.
  const m2 = r.mgr.get([g.pdps[0], 0, g.pdps[0], 0], PPGTT_MODE_L3);
  t.equal(m2.shadowRoots[1], r.mgr.scratchMfns[2] * 4096);
  t.equal(m2.shadowRoots[0], m2.shadowRoots[2]);
  t.equal(m2.shadowRoots[0], mm.shadowRoots[0], 'PD shared with the first mm');
  t.same(mismatches(r, m2, [g.pdps[0], 0, g.pdps[0], 0], [0, 0x5000, GiB, 2 * GiB + 0x5000]), []);
  t.throws(() => r.mgr.get([1, 2], PPGTT_MODE_L3), { code: 'E_RANGE' });
  t.throws(() => r.mgr.get(0, 2 as never), { code: 'E_RANGE' });
  r.mgr.destroyAll();
  t.equal(framesInUse(r), r.baseline);
  t.equal(r.ept.protectedFrames, 0);
  t.end();
});

t.test('loops and tables used at two levels are contained', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r);
  g.map4K(0, 42);
  const pd = g.ensurePd(0);
  const pt = g.ensurePt(0);
  const [pdpLo, pdpHi] = g.readEntry(g.pml4, 0);
  const pdp = pteFrame(pdpLo, pdpHi);
  // PDP entry 1 points back at the PML4 page (as a PD).
  g.writeEntry(pdp, 1, pteLo(g.pml4, PTE_PRESENT | PTE_RW), pteHi(g.pml4));
  // PD entry 1 points at the PD itself (as a PT).
  g.writeEntry(pd, 1, pteLo(pd, PTE_PRESENT | PTE_RW), pteHi(pd));
  // PML4 entry 1 points at the PML4 (as a PDP).
  g.writeEntry(g.pml4, 1, pteLo(g.pml4, PTE_PRESENT | PTE_RW), pteHi(g.pml4));
  // PD entry 2 points at the PT as a PD would not matter; PDP entry 2 points at the PT (as a PD).
  g.writeEntry(pdp, 2, pteLo(pt, PTE_PRESENT | PTE_RW), pteHi(pt));
  const mm = g.get();
  t.equal(mm.translate(0), r.ept.translate(42 * 4096));
  for (const gma of [GiB, 2 * MiB, 2 ** 39, 2 ** 39 + GiB, 2 * GiB]) t.equal(mm.translate(gma), -1, `0x${gma.toString(16)} → scratch`);
  t.equal(r.mgr.counters.loops, 4);
  t.same(isolationProblems(r, mm), []);
  // A PT page mapped as a leaf is fine (self map), not a loop.
  g.map4K(0x1000, pt);
  t.equal(mm.translate(0x1000), r.ept.translate(pt * 4096));
  t.equal(r.mgr.counters.loops, 4);
  r.mgr.destroyAll();
  t.equal(framesInUse(r), r.baseline);
  t.equal(r.ept.protectedFrames, 0);
  t.end();
});

t.test('a full 1 GiB of 4 KiB pages', (t) => {
  const r = rig({}, 1024 * MiB + 16 * MiB, 2048 * MiB);
  const g = new GuestPpgtt(r, PPGTT_MODE_L4, 262144, 262144 + 1024);
  g.style = 'direct';
  for (let p = 0; p < 262144; p++) g.map4K(p * 4096, p);
  const mm = g.get();
  t.equal(r.mgr.counters.shadowed, 262144 + 512 + 2);
  t.equal(r.mgr.counters.shadowPages, 515);
  t.same(mismatches(r, mm, g.roots, range(0, GiB, 4096 * 251)), []);
  t.end();
});

t.test('frames above 4 GiB (high PTE half) on both sides, checked against a BigInt oracle', (t) => {
  const host = new HostMemory({ size: 8 * GiB, reservedFrames: 2 ** 20 + 3 });
  const guest = new SparseGuestMemory(4 * GiB + 64 * MiB);
  const ept = new Ept(guest, host);
  const mgr = new PpgttManager(ept, host);
  const r = { host, guest, ept, mgr, baseline: 0 };
  const top = ept.frames; // tables and data above 4 GiB
  const g = new GuestPpgtt(r, PPGTT_MODE_L4, top - 64, top);
  const gfns = [3, 2 ** 20 + 5, top - 100];
  gfns.forEach((f, k) => g.map4K(k * 4096, f, PTE_PRESENT | PTE_RW | PTE_PCD));
  g.map64K(2 * MiB, 2 ** 20 + 32);
  const mm = g.get();
  t.ok(g.pml4 * 4096 > 2 ** 32, 'root above 4 GiB');
  t.same(mismatches(r, mm, g.roots, [0, 4096, 8192, ...range(2 * MiB, 0x10000)]), []);
  t.ok(mm.root() > 2 ** 32, 'shadow root above 4 GiB');
  const w = new PpgttWalker(host);
  gfns.forEach((f, k) => {
    t.ok(w.walk4(mm.root(), k * 4096 + 0x10));
    const m = ept.translateGfn(f);
    t.ok(m >= 2 ** 20);
    const shadow = (BigInt(w.entryHi) << 32n) | BigInt(w.entryLo);
    const expected = (BigInt(m) << 12n) | BigInt(PTE_PRESENT | PTE_RW | PTE_PCD);
    t.equal(shadow, expected, `entry for gfn 0x${f.toString(16)}`);
    t.equal(BigInt(w.address), (BigInt(m) << 12n) + 0x10n);
  });
  mgr.dispose();
  t.equal(host.allocatedFrames - ept.mappedFrames, 0);
  t.end();
});

t.test('host memory exhausted while pinning leaf frames: pending, not invalid, retried by sync (4 KiB, 64 KiB, split 2 MiB)', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r);
  g.map4K(0x1000, 5);
  g.map64K(4 * MiB, 64); // an IPS page table
  const mm = g.get();
  const c0 = r.mgr.counters;
  // 4 KiB: a fresh guest frame in the shadowed PT; its pin is the one allocation.
  r.host.failAllocations = 1;
  g.map4K(0x2000, 6);
  // 64 KiB: fresh frames 80..95 in the shadowed IPS PT; the pin of the first fails.
  r.host.failAllocations = 1;
  g.map64K(4 * MiB + 0x10000, 80);
  t.equal(r.host.failAllocations, 0, 'both met their failure');
  // 2 MiB at frames 512..1023, not host-contiguous, so split: allocation 1 is the split PT,
  // allocation 2 the pin of frame 513.
  r.ept.pin(512);
  t.not(r.ept.translateGfn(512) % 512, 0, 'precondition: frame 512 is not 2 MiB-aligned on the host');
  const f = failAllocationAt(r.host, 2);
  g.map2M(6 * MiB, 512);
  f.restore();
  t.equal(f.failed, 1);
  const c1 = r.mgr.counters;
  t.equal(c1.allocFailures - c0.allocFailures, 3, 'three host allocation failures');
  t.equal(c1.invalidFrames, c0.invalidFrames, 'none counted as an invalid guest frame');
  t.equal(r.mgr.pendingEntries, 3, 'three entries wait: the PTE, the 64 KiB slot, the 2 MiB PDE');
  t.equal(mm.translate(0x2000), -1, '4 KiB: at scratch meanwhile');
  t.equal(mm.translate(4 * MiB + 0x10000), -1, '64 KiB: at scratch meanwhile');
  t.equal(mm.translate(4 * MiB + 0x1f000), r.ept.translate(95 * 4096), '64 KiB: the frames that could be backed are shadowed');
  t.equal(mm.translate(6 * MiB + 4096), -1, '2 MiB: the frame that could not be backed is at scratch');
  t.equal(mm.translate(6 * MiB + 8192), r.ept.translate(514 * 4096), '2 MiB: the rest of the split is shadowed');
  // Still short at the sync: it says so, and the entries keep waiting.
  r.host.failAllocations = 1000;
  t.equal(r.mgr.sync(), false, 'still short: sync returns false');
  r.host.failAllocations = 0;
  t.equal(r.mgr.pendingEntries, 3, 'still pending');
  t.equal(r.mgr.counters.invalidFrames, c0.invalidFrames, 'still none invalid');
  t.ok(r.mgr.sync(), 'memory back: sync shadows them all');
  t.equal(r.mgr.pendingEntries, 0);
  t.same(mismatches(r, mm, g.roots, [0x1000, 0x2000, ...range(4 * MiB, 0x20000), ...range(6 * MiB, 2 * MiB, 4096 * 17), 8 * MiB - 4096]), []);
  t.same(isolationProblems(r, mm), []);
  // A frame outside guest RAM is the guest's: scratch for good, counted, not pending.
  g.map4K(0x3000, r.ept.frames + 1);
  t.equal(r.mgr.counters.invalidFrames, c0.invalidFrames + 1, 'an invalid frame still counts as invalid');
  t.equal(r.mgr.pendingEntries, 0, 'and is not retried');
  t.equal(mm.translate(0x3000), -1);
  r.mgr.dispose();
  t.equal(framesInUse(r), 0, 'every shadow page came back (the split PT the retry replaced included)');
  t.end();
});

t.test('host memory exhausted while a new mm pins its leaf frames: the build rolls back and throws', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r);
  g.map4K(0x1000, 5);
  g.map4K(0x2000, 6);
  const before = framesInUse(r);
  // Allocations: PML4, PDP, PD, PT shadow pages, then the pins of frames 5 and 6.
  const f = failAllocationAt(r.host, 6);
  t.throws(() => g.get(), { code: 'E_NO_RESOURCE' }, 'NoResourceError to the mediator (shadow-alloc)');
  f.restore();
  t.equal(f.failed, 1);
  t.equal(r.mgr.counters.allocFailures, 1);
  t.equal(r.mgr.counters.invalidFrames, 0, 'not an invalid frame');
  t.equal(r.ept.counters.pinNoMemory, 1, 'the failure was the pin of a leaf frame');
  t.equal(framesInUse(r), before, 'nothing half-built stays behind');
  t.equal(r.mgr.pendingEntries, 0);
  const mm = g.get();
  t.same(mismatches(r, mm, g.roots, [0x1000, 0x2000]), [], 'built whole once memory is back');
  t.end();
});
