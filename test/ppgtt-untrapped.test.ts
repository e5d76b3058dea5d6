/**
 * Guests whose stores to their RAM are not trapped (`guestWrites: 'untrapped'`, the v86 model):
 * nothing is write-protected, the guest edits its page tables by plain memory stores, and the
 * shadow PPGTT re-reads the tables of a workload's PPGTTs at its submission (the out-of-sync diff
 * path), with the containment of trapped mode.
 */
import t from 'tap';
import { Rng } from '../lib/clock.js';
import { Ept, EPT_READ } from '../lib/ept/ept.js';
import { HostMemory, SparseGuestMemory } from '../lib/ept/memory.js';
import { ConfigError, StateError } from '../lib/errors.js';
import { PTE_PRESENT, PTE_RW, pteHi, pteLo } from '../lib/gtt/pte.js';
import { PpgttManager, type PpgttManagerOptions, type ShadowPage, type ShadowPpgtt } from '../lib/gtt/shadow-ppgtt.js';
import { Harness, type TestGuest } from '../lib/harness/index.js';
import { miLoadRegisterImm, miStoreDataImm } from '../lib/device/commands/index.js';
import { GuestPpgtt as DriverPpgtt } from '../lib/guest/ppgtt.js';
import { CollectingAssert, runAttack } from '../lib/fuzz/attacks/index.js';
import { PPGTT_ATTACKS } from '../lib/fuzz/attacks/ppgtt.js';
import { LIFECYCLE_ATTACKS } from '../lib/fuzz/attacks/lifecycle.js';
import { FuzzWorld } from '../lib/fuzz/world.js';
import { INVARIANTS } from '../lib/fuzz/monitor.js';
import { lifecycleFuzzer } from '../lib/fuzz/fuzzers/lifecycle.js';
import { ppgttFuzzer } from '../lib/fuzz/fuzzers/ppgtt.js';
import { VGT_PVINFO_PAGE, PVINFO_PDP, PVINFO_G2V_NOTIFY, VGT_G2V_PPGTT_L4_PAGE_TABLE_CREATE } from '../lib/mediator/pvinfo.js';
import { GuestPpgtt, MiB, framesInUse, isolationProblems, mismatches, range, type Rig } from './ppgtt-fixture.js';

const P = PTE_PRESENT | PTE_RW;

function rigOf(guestWrites: 'trapped' | 'untrapped', opts: PpgttManagerOptions = {}, host = new HostMemory({ size: 256 * MiB })): Rig {
  const guest = new SparseGuestMemory(32 * MiB);
  const ept = new Ept(guest, host, { name: guestWrites, guestWrites });
  const mgr = new PpgttManager(ept, host, { name: guestWrites, ...opts });
  return { host, guest, ept, mgr, baseline: framesInUse({ host, ept }) };
}

/** A copy of every shadow page of the rig (what the device may walk). */
function shadowImage(r: Rig): Map<number, Uint32Array> {
  const out = new Map<number, Uint32Array>();
  for (const [mfn, p] of r.mgr['byMfn'] as Map<number, ShadowPage>) out.set(mfn, p.shadow.slice());
  return out;
}

function sameImage(a: Map<number, Uint32Array>, b: Map<number, Uint32Array>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w || w.some((x, i) => x !== v[i])) return false;
  }
  return true;
}

/** Guest frame the shadow of `mm` reaches at `gma`, -1 for scratch or a fault. */
function reached(r: Rig, mm: ShadowPpgtt, gma: number): number {
  const hpa = mm.translate(gma);
  return hpa < 0 ? -1 : r.ept.gfnOfMfn(Math.floor(hpa / 4096));
}

t.test('the option: checked, nothing write-protected, what relies on traps refused', async (t) => {
  const r = rigOf('untrapped');
  t.equal(r.mgr.guestWrites, 'untrapped');
  t.throws(() => rigOf('untrapped', { outOfSync: true }), ConfigError, 'out-of-sync pages need traps');
  t.throws(() => r.ept.writeProtect(5 as never, () => true), StateError, 'writeProtect refused');
  t.throws(() => r.ept.setPermissions(5 as never, EPT_READ), StateError, 'taking write permission away refused');
  r.ept.setPermissions(5 as never, 3);
  t.throws(() => new Ept(new SparseGuestMemory(MiB), r.host, { guestWrites: 'sometimes' as never }), ConfigError);
  const h = new Harness();
  t.throws(() => h.mediator.createVgpu({ type: 'GVTg_V5_8', memory: new SparseGuestMemory(16 * MiB), guestWrites: 'never' as never }), ConfigError);
  // The mediator's outOfSync option applies to trapped vGPUs only.
  const h2 = new Harness({ mediator: { outOfSync: true } });
  const v = h2.mediator.createVgpu({ type: 'GVTg_V5_8', memory: new SparseGuestMemory(16 * MiB), guestWrites: 'untrapped' });
  t.equal(v.guestWrites, 'untrapped');
  t.equal(v.ppgtt.outOfSync, false);
  t.equal(v.ept.guestWrites, 'untrapped');
  const g = new GuestPpgtt(r);
  g.style = 'direct';
  g.map4K(0, 1);
  g.get();
  t.equal(r.ept.protectedFrames, 0, 'no guest table page is write-protected');
});

t.test('direct edits reach the shadow at the next sync, never before', async (t) => {
  const r = rigOf('untrapped');
  const g = new GuestPpgtt(r);
  g.style = 'direct';
  for (let i = 0; i < 16; i++) g.map4K(i * 4096, 100 + i);
  g.map4K(4 * MiB, 200);
  const mm = g.get();
  const gmas = [...range(0, 0x20000), ...range(2 * MiB, 8 * MiB, 0x40000)];
  t.same(mismatches(r, mm, g.roots, gmas), []);
  const before = shadowImage(r);
  const frames = framesInUse(r);
  const pt4 = g.ensurePt(4 * MiB);
  t.equal(r.mgr.shadowedTables().get(pt4), 1);
  // Remap, unmap, a new PT, a 2 MiB page, a PT dropped: all by plain stores.
  g.map4K(0x1000, 300);
  g.unmap4K(0x2000);
  g.map4K(2 * MiB + 0x3000, 301);
  g.map2M(6 * MiB, 1024);
  g.clearPde(4 * MiB);
  t.ok(sameImage(before, shadowImage(r)), 'between submissions the shadow (what the device walks) is untouched');
  t.equal(reached(r, mm, 0x1000), 101, 'the old translation until the sync');
  t.equal(framesInUse(r), frames);
  t.equal(r.mgr.counters.traps, 0);
  t.ok(mm.sync(), 'sync');
  t.same(mismatches(r, mm, g.roots, gmas), [], 'the shadow follows every edit');
  t.same(isolationProblems(r, mm), []);
  t.equal(reached(r, mm, 0x1000), 300);
  t.equal(reached(r, mm, 0x2000), -1);
  t.equal(reached(r, mm, 6 * MiB + 0x5000), 1024 + 5);
  t.notOk(r.mgr.shadowedTables().has(pt4), 'the PT its PDE dropped is released');
  const c = r.mgr.counters;
  t.ok(c.resyncedPages >= 4, `pages re-read (${c.resyncedPages})`);
  t.ok(c.oosResynced >= 5, `entries re-shadowed (${c.oosResynced})`);
  // A second sync with no edit changes nothing.
  const after = shadowImage(r);
  const resynced = c.oosResynced;
  t.ok(mm.sync());
  t.ok(sameImage(after, shadowImage(r)));
  t.equal(r.mgr.counters.oosResynced, resynced);
  r.mgr.dispose();
  t.equal(framesInUse(r), r.baseline - 5, 'dispose returns every shadow page and the scratch frames');
});

/** Frame named by entry `i` of guest table `table` (-1 when not present). */
function readFrame(r: Rig, table: number, i: number): number {
  const lo = r.guest.read32(table * 4096 + i * 8) >>> 0;
  return (lo & PTE_PRESENT) === 0 ? -1 : lo >>> 12;
}

t.test('the same translations as trapped mode, for random edits synced at random submissions', async (t) => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const rng = new Rng(seed);
    const rt = rigOf('trapped');
    const ru = rigOf('untrapped');
    const gt = new GuestPpgtt(rt);
    const gu = new GuestPpgtt(ru);
    gt.style = 'w8';
    gu.style = 'direct';
    const vas = Array.from({ length: 24 }, (_, i) => (i % 3) * 2 ** 30 + (i % 5) * 2 * MiB + (i % 7) * 64 * 1024);
    for (const g of [gt, gu]) g.map4K(vas[0], 1);
    const mt = gt.get(), mu = gu.get();
    const gmas = vas.flatMap((va) => [va, va + 0x1000, va + 0x11000]);
    const frames = rt.ept.frames;
    let problems = 0;
    for (let step = 0; step < 300; step++) {
      const va = vas[rng.int(vas.length)];
      const k = rng.int(100);
      const gfn = rng.int(10) === 0 ? frames + rng.int(1000) : 16 + rng.int(4000);
      for (const g of [gt, gu]) {
        if (k < 50) g.map4K(va, gfn);
        else if (k < 62) g.unmap4K(va);
        else if (k < 72) g.map64K(va, gfn & ~15);
        else if (k < 80) g.map2M(va, gfn & ~511);
        else if (k < 90) g.clearPde(va);
        else g.clearPdpe(va);
      }
      if (rng.int(8) === 0 || step === 299) {
        t.ok(mu.sync(), 'sync');
        for (const gma of gmas) {
          if (reached(rt, mt, gma) !== reached(ru, mu, gma)) {
            if (problems++ < 5) t.fail(`seed ${seed} step ${step}: gma 0x${gma.toString(16)}: trapped reaches ${reached(rt, mt, gma)}, untrapped ${reached(ru, mu, gma)}`);
          }
        }
        t.same(isolationProblems(ru, mu), []);
      }
    }
    t.equal(problems, 0, `seed ${seed}: equivalent`);
    t.same([...ru.mgr.shadowedTables()].sort(), [...rt.mgr.shadowedTables()].sort(), `seed ${seed}: the same tables shadowed`);
    t.equal(framesInUse(ru) - ru.baseline, framesInUse(rt) - rt.baseline, 'the same shadow pages held');
  }
});

t.test('hostile edits are contained as in trapped mode', async (t) => {
  const host = new HostMemory({ size: 256 * MiB });
  const r = rigOf('untrapped', {}, host);
  const other = rigOf('trapped', {}, host);
  const victimMfn = other.ept.map(7 as never);
  const g = new GuestPpgtt(r);
  g.style = 'direct';
  g.map4K(0, 1);
  const mm = g.get();
  const pt = g.ensurePt(0);
  const pd = g.ensurePd(0);
  const c0 = r.mgr.counters;
  // Beyond its RAM; the host frame number of another VM's page; the shadow's own root frame.
  g.map4K(0x1000, r.ept.frames + 5);
  g.map4K(0x2000, victimMfn);
  const shadowRootMfn = mm.root() / 4096;
  g.map4K(0x3000, shadowRootMfn);
  // A PML4 entry naming the PML4, a PDP entry naming the PML4, a 1 GiB page.
  g.writeEntry(g.pml4, 5, pteLo(g.pml4, P), pteHi(g.pml4));
  g.clearPdpe(2 ** 30);
  const pdp = readFrame(r, g.pml4, 0);
  g.writeEntry(pdp, 2, pteLo(g.pml4, P), pteHi(g.pml4));
  g.map1G(3 * 2 ** 30, 0);
  // A page both a PT and data: a leaf naming the PT itself.
  g.map4K(0x4000, pt);
  t.ok(mm.sync());
  const c = r.mgr.counters;
  t.equal(reached(r, mm, 0x1000), -1, 'beyond its RAM: scratch');
  t.ok(c.invalidFrames > c0.invalidFrames, 'counted as an invalid frame');
  const hpa2 = mm.translate(0x2000);
  t.not(Math.floor(hpa2 / 4096), victimMfn, 'a PTE never reaches another VM\'s frame');
  t.equal(reached(r, mm, 0x2000), victimMfn < r.ept.frames ? victimMfn : -1, 'the number is read as its own guest frame');
  t.not(Math.floor(mm.translate(0x3000) / 4096), shadowRootMfn, 'nor the shadow\'s own pages');
  t.ok(c.loops >= c0.loops + 2, `loops refused (${c.loops - c0.loops})`);
  t.ok(c.refusedHuge > c0.refusedHuge, '1 GiB page refused');
  t.same(isolationProblems(r, mm), [], 'every shadow entry names the guest\'s own frames, its shadow tables or scratch');
  t.equal(r.mgr.shadowedTables().get(pt), 1, 'the page is still a PT');
  // The device writes the PT through its data mapping: nothing changes until the next sync.
  const ptHpa = mm.translate(0x4000);
  t.equal(Math.floor(ptHpa / 4096), r.ept.translateGfn(pt), 'the data mapping of the PT is the guest\'s own frame');
  const before = shadowImage(r);
  host.write32(ptHpa + 8 * 5, pteLo(r.ept.frames + 9, P));
  host.write32(ptHpa + 8 * 6, pteLo(42, P));
  t.ok(sameImage(before, shadowImage(r)), 'a device store into a guest table changes no shadow');
  t.ok(mm.sync());
  t.equal(reached(r, mm, 0x5000), -1, 'its bad entry is refused at the sync');
  t.equal(reached(r, mm, 0x6000), 42, 'its good one followed');
  // The PD stops naming the PT: released with its copy.
  const held = framesInUse(r);
  g.writeEntry(pd, 0, 0, 0);
  t.ok(mm.sync());
  t.notOk(r.mgr.shadowedTables().has(pt), 'a page that stopped being a page table is released');
  t.equal(framesInUse(r), held - 1);
  t.same(isolationProblems(r, mm), []);
});

t.test('a table met at another level is brought up to date before the new address space is built', async (t) => {
  const r = rigOf('untrapped');
  const a = new GuestPpgtt(r, undefined, 4000, 4100);
  a.style = 'direct';
  a.map4K(0, 1);
  const mmA = a.get();
  const ptA = a.ensurePt(0);
  // The guest drops A's PT and reuses the page as the PD of a new address space B.
  a.clearPde(0);
  const b = new GuestPpgtt(r, undefined, 4200, 4300);
  b.style = 'direct';
  r.guest.fill(ptA * 4096, 4096, 0);
  const pdpB = b.allocTable();
  b.writeEntry(b.pml4, 0, pteLo(pdpB, P), pteHi(pdpB));
  b.writeEntry(pdpB, 0, pteLo(ptA, P), pteHi(ptA));
  const ptB = b.allocTable();
  b.writeEntry(ptA, 0, pteLo(ptB, P), pteHi(ptB));
  b.writeEntry(ptB, 3, pteLo(77, P), pteHi(77));
  mmA.acquire(); // A is in use on the device: it cannot simply be evicted
  const mmB = b.get();
  t.equal(reached(r, mmB, 0x3000), 77, 'B\'s PD is shadowed at its level, not left at scratch');
  t.equal(mmB.conflicted, false);
  t.equal(r.mgr.shadowedTables().get(ptA), 2);
  t.equal(reached(r, mmA, 0), -1, 'A was brought up to date too');
  t.same(isolationProblems(r, mmA), []);
  t.same(isolationProblems(r, mmB), []);
  mmA.release();
});

t.test('a page the guest moves to another level in one go is shadowed at its new level (loop refusals retried after the walk)', async (t) => {
  for (const mode of ['trapped', 'untrapped'] as const) {
    const r = rigOf(mode);
    const g = new GuestPpgtt(r);
    g.style = mode === 'trapped' ? 'w8' : 'direct';
    g.map4K(2 ** 39, 5); // PML4[1] -> PDP -> PD -> PT x
    g.map4K(0, 6); // PML4[0] -> PDP0 -> PD0 -> PT
    const mm = g.get();
    const x = g.ensurePt(2 ** 39);
    // Drop x as a PT, then reuse it as a page directory under PML4[0] (walked first).
    g.clearPde(2 ** 39);
    const y = g.allocTable();
    g.writeEntry(x, 0, pteLo(y, P), pteHi(y));
    for (let i = 1; i < 512; i++) g.writeEntry(x, i, 0, 0);
    g.writeEntry(y, 3, pteLo(77, P), pteHi(77));
    const pdp0 = readFrame(r, g.pml4, 0);
    g.writeEntry(pdp0, 1, pteLo(x, P), pteHi(x));
    t.ok(mm.sync());
    t.equal(r.mgr.shadowedTables().get(x), 2, `${mode}: the page is a PD now`);
    t.equal(reached(r, mm, 2 ** 30 + 0x3000), 77, `${mode}: and maps through it`);
    t.equal(reached(r, mm, 2 ** 39), -1, `${mode}: the old mapping is gone`);
    t.same(isolationProblems(r, mm), []);
  }
});

// --- through the mediator --------------------------------------------------------------------------

function untrappedGuest(h: Harness, name?: string): TestGuest {
  return h.addGuest({ guestWrites: 'untrapped', name });
}

t.test('a guest editing its tables by plain stores sees its edits at its next submission', async (t) => {
  const h = new Harness();
  const g = untrappedGuest(h);
  const v = g.vgpu;
  const buf = g.ppgttBuffer(4096);
  g.submitBatch('rcs', miStoreDataImm(buf.gma, [0x1111]));
  t.ok(h.runUntilIdle());
  t.equal(g.lastWorkload!.status, 'completed');
  t.equal(g.read32(buf.gma), 0x1111);
  t.equal(v.ept.protectedFrames, 0, 'nothing write-protected');
  t.equal(v.ept.counters.guestWrites, 0, 'no store went through the vCPU path');
  t.equal(v.ppgtt.counters.traps, 0);
  // Remap the buffer's address to another page, by plain stores.
  const old = buf.gpa;
  const gpa2 = g.driver.allocRam(1);
  g.driver.writeRam(gpa2, new Uint8Array(4096));
  g.ppgtt!.map(buf.gma, gpa2, 1);
  const mm = [...(v.ppgtt['liveMms'] as Set<ShadowPpgtt>)][0];
  t.equal(mm.translate(buf.gma), v.ept.translate(old), 'until the submission the device reaches the old page');
  g.submitBatch('rcs', miStoreDataImm(buf.gma, [0x2222]));
  t.ok(h.runUntilIdle());
  t.equal(g.lastWorkload!.status, 'completed');
  t.equal(g.memory.read32(gpa2), 0x2222, 'the store lands where the edited tables say');
  t.equal(g.memory.read32(old), 0x1111, 'the old page is left alone');
  // Unmap it: the next store lands in scratch.
  g.ppgtt!.writeRaw(1, buf.gma, 0, 0);
  g.submitBatch('rcs', miStoreDataImm(buf.gma, [0x3333]));
  t.ok(h.runUntilIdle());
  t.equal(g.memory.read32(gpa2), 0x2222);
  t.equal(g.memory.read32(old), 0x1111);
  t.ok(v.ppgtt.counters.resyncedPages > 0);
});

t.test('a PDP0 load into another address space re-reads that one too', async (t) => {
  const h = new Harness();
  const g = untrappedGuest(h);
  const v = g.vgpu;
  // A second address space, shadowed on the guest's g2v notification, then edited by plain stores.
  const other = new DriverPpgtt(g.driver);
  v.mmioWrite(VGT_PVINFO_PAGE + PVINFO_PDP, 4, other.pml4);
  v.mmioWrite(VGT_PVINFO_PAGE + PVINFO_PDP + 4, 4, 0);
  v.mmioWrite(VGT_PVINFO_PAGE + PVINFO_G2V_NOTIFY, 4, VGT_G2V_PPGTT_L4_PAGE_TABLE_CREATE);
  t.equal(v.ppgtt.counters.mms, 1);
  const gpa = g.driver.allocRam(1);
  g.driver.writeRam(gpa, new Uint8Array(4096));
  const va = 0x7_0000_0000;
  other.map(va, gpa, 1);
  g.submit('rcs', [...miLoadRegisterImm([[0x2274, 0], [0x2270, other.pml4]]), ...miStoreDataImm(va, [0xabc])]);
  t.ok(h.runUntilIdle());
  t.equal(g.lastWorkload!.status, 'completed', g.lastWorkload!.failure?.message ?? '');
  const mm = v.ppgtt.find(other.pml4)!;
  const hpa = mm.translate(va);
  t.not(hpa, -1, 'the loaded address space was re-read at the submission');
  t.equal(hpa, v.ept.translate(gpa), 'and maps the guest\'s page');
});

t.test('two untrapped guests with the same table layout, switching on the device, each reach only their own pages', async (t) => {
  const h = new Harness();
  const a = untrappedGuest(h, 'a');
  const b = untrappedGuest(h, 'b');
  const trapped = h.addGuest({ name: 't' });
  const guests = [a, b, trapped];
  t.equal(a.ppgtt!.pml4, b.ppgtt!.pml4, 'both PML4s at the same guest-physical address');
  const bufs = guests.map((g) => g.ppgttBuffer(4096));
  const pages = guests.map((g) => Array.from({ length: 3 }, () => {
    const p = g.driver.allocRam(1);
    g.driver.writeRam(p, new Uint8Array(4096));
    return p;
  }));
  const expect = guests.map(() => [0, 0, 0]);
  for (let round = 0; round < 9; round++) {
    guests.forEach((g, i) => {
      const k = (round + i) % 3;
      g.ppgtt!.map(bufs[i].gma, pages[i][k], 1);
      const value = 0x1000 * (i + 1) + round;
      g.submitBatch(round % 2 ? 'rcs' : 'bcs', miStoreDataImm(bufs[i].gma, [value]));
      expect[i][k] = value;
    });
    t.ok(h.runUntilIdle());
    guests.forEach((g, i) => {
      t.equal(g.lastWorkload!.status, 'completed');
      for (let k = 0; k < 3; k++) t.equal(g.memory.read32(pages[i][k]), expect[i][k], `round ${round}: ${g.name} page ${k}`);
    });
  }
});

t.test('the PPGTT attack corpus against untrapped attackers: contained', async (t) => {
  const attacks = [...PPGTT_ATTACKS, ...LIFECYCLE_ATTACKS.filter((a) => a.name === 'lc-status-page-as-page-table')];
  for (const a of attacks) {
    const c = new CollectingAssert();
    const out = runAttack({ ...a, world: { ...a.world, untrapped: 'attackers' } }, c);
    // Parking partial writes is what a trap does: an untrapped guest's fragments are read whole at the sync.
    const failures = c.failures.filter((f) => !(a.name === 'ppgtt-partial-entry-writes' && /parked/.test(f)));
    t.same(failures, [], `${a.name}: ${a.expectation}`);
    t.same(out.violations, [], `${a.name}: isolation invariants`);
  }
});

t.test('a fuzz world with untrapped guests checks clean after real work', async (t) => {
  const w = new FuzzWorld({ seed: 9, untrapped: 'all' });
  t.equal(w.victim!.g.vgpu.guestWrites, 'untrapped');
  t.equal(w.attacker.vgpu.guestWrites, 'untrapped');
  for (let i = 0; i < 6; i++) w.victim!.work();
  t.ok(w.settle());
  t.same(w.checkFull(), []);
  t.same(w.teardown(), []);
  const alt = new FuzzWorld({ seed: 10, untrapped: 'alternate', attackers: 2 });
  t.same([alt.victim!.g, ...alt.attackers].map((g) => g.vgpu.guestWrites), ['trapped', 'untrapped', 'trapped']);
});

// --- the fuzzers' untrapped worlds ---------------------------------------------------------------

t.test('fuzzers: a share of the worlds runs untrapped guests', async (t) => {
  const ppgttWorlds = Array.from({ length: 12 }, (_, i) => ppgttFuzzer.worldOptions(3, i).untrapped ?? 'none');
  t.ok(ppgttWorlds.filter((u) => u !== 'none').length >= 4, `ppgtt: ${ppgttWorlds.join(', ')}`);
  t.ok(ppgttWorlds.includes('attackers') && ppgttWorlds.includes('all'));
  const lcWorlds = Array.from({ length: 12 }, (_, i) => lifecycleFuzzer.worldOptions(3, i).untrapped ?? 'none');
  t.ok(lcWorlds.filter((u) => u === 'alternate').length >= 4, `lifecycle: ${lcWorlds.join(', ')}`);
});

for (const [page, engine, level] of [['pphwsp', 'vcs', 1], ['hwsp', 'bcs', 1], ['pphwsp', 'rcs', 2]] as const) {
  t.test(`pt-at on an untrapped guest (${page} of ${engine}, level ${level}): checked at each dispatch, and a skipped resync is reported`, async (t) => {
    for (const skip of [false, true]) {
      const world = new FuzzWorld({ oracles: {}, ...lifecycleFuzzer.worldOptions(7, 1) });
      const st = lifecycleFuzzer.setup(world, new Rng(7));
      const g = world.attacker;
      t.equal(g.vgpu.guestWrites, 'untrapped');
      g.submit(engine, []);
      world.settle();
      if (skip) {
        // The defect the oracle is there for: a submission that does not re-read the tables.
        const mgr = g.vgpu.ppgtt;
        const sync = mgr.sync.bind(mgr);
        mgr.sync = () => sync(null);
      }
      const out = lifecycleFuzzer.execute(world, st, [{ k: 'pt-at', slot: 0, engine, page, level, seed: 0x2345678 + level, rounds: 2 }]);
      const stale = out.filter((x) => x.invariant === INVARIANTS.SHADOW_SYNC);
      if (skip) {
        t.ok(stale.length > 0, `without the resync: ${stale[0]?.message ?? 'nothing reported'}`);
      } else {
        t.same(out.map((x) => x.message), [], 'no violation');
        t.ok(st.stats.compared >= 3 * 512, `entries compared at dispatch and after (${st.stats.compared})`);
        t.same(world.check(), []);
        t.same(world.teardown(), []);
      }
    }
  });
}
