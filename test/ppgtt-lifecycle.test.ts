import t from 'tap';
import { NoResourceError } from '../lib/errors.js';
import { PTE_PRESENT, PTE_RW, pteFrame, pteHi, pteLo } from '../lib/gtt/pte.js';
import { PPGTT_MODE_L3, PPGTT_MODE_L4, PpgttManager } from '../lib/gtt/shadow-ppgtt.js';
import { GiB, GuestPpgtt, MiB, framesInUse, isolationProblems, mismatches, range, rig, type Rig } from './ppgtt-fixture.js';

t.test('get caches by root; shared guest tables are shadowed once and reference-counted', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r);
  g.map4K(0, 1);
  g.map4K(GiB, 2);
  const mm = g.get();
  t.equal(r.mgr.get(g.pml4 * 4096), mm);
  t.equal(r.mgr.get(g.pml4 * 4096 + 0x5), mm, 'low bits ignored');
  t.equal(r.mgr.get([g.pml4 * 4096, 7, 8, 9], PPGTT_MODE_L4), mm, 'PDP0 is the root');
  t.equal(r.mgr.find(g.pml4 * 4096), mm);
  t.equal(r.mgr.counters.mms, 1);
  // A second process whose PML4 shares the first one's PDP page.
  const pml4b = g.allocTable();
  const [lo, hi] = g.readEntry(g.pml4, 0);
  g.writeEntry(pml4b, 0, lo, hi);
  g.writeEntry(pml4b, 3, lo, hi); // twice, at another index
  const before = r.mgr.counters.shadowPagesAllocated;
  const mm2 = r.mgr.get(pml4b * 4096);
  t.not(mm2, mm);
  t.equal(r.mgr.counters.shadowPagesAllocated - before, 1, 'only the new PML4 is shadowed');
  t.same(mismatches(r, mm2, pml4b * 4096, [0, GiB, 3 * 2 ** 39, 3 * 2 ** 39 + GiB]), []);
  // A write to the shared PT shows in both.
  g.map4K(0x1000, 3);
  t.equal(mm.translate(0x1000), mm2.translate(3 * 2 ** 39 + 0x1000));
  t.equal(mm.translate(0x1000), r.ept.translate(3 * 4096));
  // Destroying one keeps the shared tables for the other.
  const pdp = pteFrame(lo, hi);
  t.ok(r.mgr.destroy(g.pml4 * 4096));
  t.notOk(r.mgr.destroy(g.pml4 * 4096), 'already gone');
  t.equal(r.mgr.find(g.pml4 * 4096), undefined);
  t.notOk(r.ept.isWriteProtected(g.pml4));
  t.ok(r.ept.isWriteProtected(pdp));
  t.same(mismatches(r, mm2, pml4b * 4096, [0, GiB, 0x1000, 3 * 2 ** 39]), []);
  t.equal(mm.translate(0), -1, 'destroyed mm translates nothing');
  r.mgr.destroy(pml4b * 4096);
  t.equal(framesInUse(r), r.baseline);
  t.equal(r.ept.protectedFrames, 0);
  t.equal(r.mgr.counters.mms, 0);
  t.end();
});

t.test('pins: a destroyed mm lives until its last release; destroyAll frees pinned ones', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r);
  g.map4K(0, 1);
  const mm = g.get().acquire();
  mm.acquire();
  t.equal(mm.pins, 2);
  t.ok(r.mgr.destroy(g.roots));
  t.ok(mm.doomed);
  t.notOk(mm.destroyed);
  t.equal(r.mgr.find(g.roots), undefined, 'out of the cache at once');
  t.equal(mm.translate(0), r.ept.translate(4096), 'still usable by in-flight work');
  // The guest re-creates the same root meanwhile: a new mm sharing the shadow pages.
  const again = r.mgr.get(g.roots);
  t.not(again, mm);
  mm.release();
  t.notOk(mm.destroyed);
  mm.release();
  t.ok(mm.destroyed);
  t.throws(() => mm.acquire(), { code: 'E_STATE' });
  t.equal(again.translate(0), r.ept.translate(4096));
  again.acquire();
  r.mgr.destroyAll();
  t.ok(again.destroyed);
  again.release(); // allowed after destroyAll
  t.equal(framesInUse(r), r.baseline);
  t.equal(r.ept.protectedFrames, 0);
  const fresh = r.mgr.get(g.roots);
  t.throws(() => fresh.release(), { code: 'E_STATE' }, 'release without acquire');
  r.mgr.dispose();
  r.mgr.dispose();
  t.equal(framesInUse(r), 0, 'scratch frames returned too');
  t.throws(() => r.mgr.get(g.roots), { code: 'E_STATE' });
  t.end();
});

t.test('options are checked', (t) => {
  const r = rig();
  t.throws(() => new PpgttManager(r.ept, r.host, { oosPoolSize: -1 }), { code: 'E_CONFIG' });
  t.throws(() => new PpgttManager(r.ept, r.host, { oosThreshold: 0 }), { code: 'E_CONFIG' });
  r.host.failAllocations = 3;
  const before = r.host.allocatedFrames;
  t.throws(() => new PpgttManager(r.ept, r.host), { code: 'E_NO_RESOURCE' });
  t.equal(r.host.allocatedFrames, before);
  r.host.failAllocations = 0;
  t.end();
});

/** Make the `k`-th shadow frame allocation from now fail (guest frames pre-mapped). */
function failNth(r: Rig, k: number): () => void {
  const host = r.host;
  const orig = host.allocFrame;
  let n = 0;
  host.allocFrame = function (this: typeof host) {
    if (++n === k) throw new NoResourceError('host-memory', 1, 'injected');
    return orig.call(this);
  };
  return () => {
    host.allocFrame = orig;
  };
}

t.test('host allocation failure at any point of a build: typed failure, nothing leaked', (t) => {
  const r = rig({}, 64 * MiB);
  const g = new GuestPpgtt(r);
  for (let k = 0; k < 6; k++) g.map4K(k * 2 * MiB + k * 4096, 10 + k);
  g.map4K(GiB, 20);
  g.map4K(2 ** 39, 21);
  for (let j = 511; j >= 0; j--) r.ept.map((4096 + j) as never); // non-contiguous: split
  g.map2M(20 * MiB, 4096);
  for (let f = 0; f < 30; f++) r.ept.map(f as never);
  const base = framesInUse(r);
  const allocated0 = r.mgr.counters.shadowPagesAllocated;
  // How many frames a full build takes.
  const probe = g.get();
  const needed = r.mgr.counters.shadowPagesAllocated - allocated0;
  r.mgr.destroyAll();
  t.equal(needed, 1 + 2 + 3 + 8 + 1, 'PML4, 2 PDPs, 3 PDs, 8 PTs, 1 split PT');
  void probe;
  for (let k = 1; k <= needed; k++) {
    const restore = failNth(r, k);
    try {
      t.throws(() => g.get(), { code: 'E_NO_RESOURCE' }, `failure at allocation ${k}`);
    } finally {
      restore();
    }
    t.equal(framesInUse(r), base, `allocation ${k}: frames back`);
    t.equal(r.ept.protectedFrames, 0, `allocation ${k}: protections back`);
    t.equal(r.mgr.counters.shadowPages, 0);
    t.equal(r.mgr.find(g.roots), undefined);
  }
  const mm = g.get();
  t.same(mismatches(r, mm, g.roots, [...range(0, 12 * MiB, 4096 * 5), GiB, 2 ** 39, ...range(20 * MiB, 2 * MiB, 4096 * 9)]), []);
  // With another mm alive, a failed build leaves the shared pages alone.
  const pml4b = g.allocTable();
  const [lo, hi] = g.readEntry(g.pml4, 0);
  g.writeEntry(pml4b, 1, lo, hi);
  g.writeEntry(pml4b, 2, pteLo(g.allocTable(), PTE_PRESENT), 0);
  const held = framesInUse(r);
  r.host.failAllocations = 2;
  t.throws(() => r.mgr.get(pml4b * 4096), { code: 'E_NO_RESOURCE' });
  r.host.failAllocations = 0;
  t.equal(framesInUse(r), held);
  t.same(mismatches(r, mm, g.roots, range(0, 12 * MiB, 4096 * 5)), []);
  t.same(isolationProblems(r, mm), []);
  t.end();
});

t.test('host allocation failure on a trapped write: scratch, pending, retried by sync', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r);
  g.map4K(0, 1);
  const mm = g.get();
  for (let f = 0; f < 10; f++) r.ept.map(f as never);
  r.host.failAllocations = 1;
  g.map4K(2 * MiB, 5); // the new PT cannot be shadowed
  t.equal(r.host.failAllocations, 0);
  t.equal(mm.translate(2 * MiB), -1);
  t.equal(r.mgr.counters.allocFailures, 1);
  t.equal(r.mgr.pendingEntries, 1);
  r.host.failAllocations = 1;
  t.notOk(mm.sync(), 'still failing');
  t.ok(mm.sync(), 'retried and done');
  t.same(mismatches(r, mm, g.roots, [0, 2 * MiB]), []);
  t.equal(r.mgr.pendingEntries, 0);
  t.end();
});

t.test('an EPT unmap sends shadow entries to scratch at once; sync re-shadows them', (t) => {
  const r = rig({}, 64 * MiB);
  const g = new GuestPpgtt(r);
  g.map4K(0, 7);
  g.map4K(0x1000, 7);
  g.map64K(2 * MiB, 64);
  for (let j = 511; j >= 0; j--) r.ept.map((4096 + j) as never); // split 2 MiB
  g.map2M(4 * MiB, 4096);
  // A contiguous, aligned 2 MiB range: direct.
  const probe = r.host.allocContiguous(1);
  const pad = (512 - ((probe + 1) % 512)) % 512;
  if (pad) r.host.allocContiguous(pad);
  for (let j = 0; j < 512; j++) r.ept.map((6144 + j) as never);
  g.map2M(6 * MiB, 6144);
  const mm = g.get();
  t.equal(r.mgr.counters.huge2M, 1);
  const gmas = [0, 0x1000, ...range(2 * MiB, 0x10000), ...range(4 * MiB, 2 * MiB, 4096 * 17), ...range(6 * MiB, 2 * MiB, 4096 * 17)];
  t.same(mismatches(r, mm, g.roots, gmas), []);
  for (const gfn of [7, 64 + 3, 4096 + 5, 6144 + 9]) {
    const m = r.ept.translateGfn(gfn);
    r.ept.unmap(gfn as never);
    t.notOk(r.host.isAllocated(m), 'host frame freed');
  }
  t.same(isolationProblems(r, mm), [], 'no shadow entry names a freed frame');
  t.equal(mm.translate(0), -1);
  t.equal(mm.translate(0x1000), -1);
  t.equal(mm.translate(2 * MiB + 0x3000), -1);
  t.equal(mm.translate(6 * MiB), -1, 'the whole direct 2 MiB entry');
  t.equal(r.mgr.counters.invalidated, 2 + 1 + 1 + 1);
  t.ok(mm.sync());
  t.same(mismatches(r, mm, g.roots, gmas), [], 're-pinned by sync');
  t.same(isolationProblems(r, mm), []);
  t.end();
});

// Finding 10 (commands campaign, seed 31002): a context submitted once in 3-level mode with its
// PML4 as PDP0 left a cached 3-level mm holding the PML4 page as a PD; every later 4-level use of
// that PML4 was scratch (its batches refused as unmapped) for as long as that mm stayed cached.
t.test('a table held at another level by a cached mm no workload uses: that mm is evicted', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r);
  g.map4K(0, 42);
  g.map4K(0x1000, 43);
  const root = g.pml4 * 4096;
  const l3 = r.mgr.get([root, 0, 0, 0], PPGTT_MODE_L3);
  t.equal(r.mgr.shadowedTables().get(g.pml4), 2, 'the PML4 page is shadowed as a PD');
  const l4 = r.mgr.get(root, PPGTT_MODE_L4);
  t.ok(l4.destroyed === false && l3.destroyed, 'the unpinned 3-level mm was evicted');
  t.equal(r.mgr.counters.mmsEvicted, 1);
  t.equal(r.mgr.counters.loops, 0, 'no loop left');
  t.equal(l4.translate(0x1000), r.ept.translate(43 * 4096));
  t.same(mismatches(r, l4, root, [0, 0x1000, 0x2000, GiB]), []);
  t.same(isolationProblems(r, l4), []);
  t.equal(r.mgr.get(root, PPGTT_MODE_L4), l4, 'cached');
  // The other way round while the 4-level mm is in use: the 3-level one gets a scratch root ...
  l4.acquire();
  const l3b = r.mgr.get([root, 0, 0, 0], PPGTT_MODE_L3);
  t.notOk(l4.destroyed, 'a pinned mm is never evicted');
  t.equal(r.mgr.counters.loops, 1);
  t.equal(l3b.translate(0), -1);
  t.equal(l4.translate(0), r.ept.translate(42 * 4096));
  // ... and is built again at its next use once the 4-level one is idle.
  l4.release();
  const l3c = r.mgr.get([root, 0, 0, 0], PPGTT_MODE_L3);
  t.not(l3c, l3b);
  t.ok(l3b.destroyed && l4.destroyed);
  t.equal(r.mgr.counters.mmsEvicted, 2);
  t.same(mismatches(r, l3c, [root, 0, 0, 0], [0, 0x1000, 2 * MiB]), []);
  t.same(isolationProblems(r, l3c), []);
  t.equal(r.mgr.counters.mms, 1);
  r.mgr.destroyAll();
  t.equal(framesInUse(r), r.baseline);
  t.equal(r.ept.protectedFrames, 0);
  t.end();
});

t.test('an mm whose own tables loop is not rebuilt into anything else', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r);
  g.map4K(0, 42);
  // PML4 entry 1 names the PML4 itself (as a PDP): a loop within the mm.
  g.writeEntry(g.pml4, 1, pteLo(g.pml4, PTE_PRESENT | PTE_RW), pteHi(g.pml4));
  const other = new GuestPpgtt(r, PPGTT_MODE_L4, r.ept.frames - 4096);
  other.map4K(0, 44);
  const mmOther = other.get();
  const mm = g.get();
  t.equal(r.mgr.counters.loops, 1, 'counted once');
  t.notOk(mmOther.destroyed, 'an unrelated cached mm is not evicted');
  t.equal(r.mgr.counters.mmsEvicted, 0);
  t.equal(mm.translate(0), r.ept.translate(42 * 4096));
  t.equal(mm.translate(2 ** 39), -1);
  t.same(isolationProblems(r, mm), []);
  r.mgr.destroyAll();
  t.equal(framesInUse(r), r.baseline);
  t.end();
});

t.test('3-level mms are cached by their four roots', (t) => {
  const r = rig();
  const g = new GuestPpgtt(r, PPGTT_MODE_L3);
  g.map4K(0, 1);
  const mm = r.mgr.get(g.pdps, PPGTT_MODE_L3);
  t.equal(r.mgr.get([...g.pdps], PPGTT_MODE_L3), mm);
  const mm2 = r.mgr.get([g.pdps[0], 0, 0, 0], PPGTT_MODE_L3);
  t.not(mm2, mm);
  // Both in use by workloads: the PD cannot also be a PML4 (the first use wins).
  mm.acquire();
  mm2.acquire();
  const l4 = r.mgr.get(g.pdps[0], PPGTT_MODE_L4);
  t.not(l4, mm, 'same frame, other mode: another mm');
  t.equal(r.mgr.counters.loops, 1, 'the PD used as a PML4 is a loop');
  t.equal(l4.translate(0), -1, 'its root is scratch');
  t.equal(mm.translate(0), r.ept.translate(4096), 'the 3-level mm is untouched');
  mm.release();
  mm2.release();
  t.ok(r.mgr.destroy(g.pdps, PPGTT_MODE_L3));
  r.mgr.destroyAll();
  t.equal(framesInUse(r), r.baseline);
  void PTE_RW;
  t.end();
});
