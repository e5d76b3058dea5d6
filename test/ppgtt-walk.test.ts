import t from 'tap';
import fc from 'fast-check';
import { HostMemory } from '../lib/ept/memory.js';
import { PpgttWalker, WalkFault, WalkLevel } from '../lib/gtt/ppgtt-walk.js';
import { PTE_PRESENT, pteHi, pteLo } from '../lib/gtt/pte.js';
import { PAGE_SIZE } from '../lib/types.js';
import { MiB, PpgttBuilder } from './device-fixture.js';

function setup() {
  const mem = new HostMemory({ size: 256 * MiB, reservedFrames: 16 });
  return { mem, b: new PpgttBuilder(mem), w: new PpgttWalker(mem) };
}

t.test('4 KiB pages, 4-level', async (t) => {
  const { b, w } = setup();
  const gma = 0x0000_7f12_3456_7000; // above 4 GiB: every level index is non-zero
  b.map4k(gma, 0x1234);
  t.ok(w.walk4(b.pml4, gma + 0x9ab));
  t.equal(w.address, 0x1234 * PAGE_SIZE + 0x9ab);
  t.equal(w.pageSize, PAGE_SIZE);
  t.equal(w.fault, WalkFault.NONE);
  t.equal(w.level, WalkLevel.PAGE);
  t.ok(w.writable);
  t.notOk(w.walk4(b.pml4, gma + PAGE_SIZE), 'the next page is not mapped');
  t.equal(w.fault, WalkFault.NOT_PRESENT);
  t.equal(w.level, WalkLevel.PT);
  t.equal(w.address, -1);
});

t.test('2 MiB pages (PS in the PDE)', async (t) => {
  const { b, w } = setup();
  const gma = 0x4060_0000; // 2 MiB aligned
  b.map2m(gma, 0x4000); // frame 0x4000 = 64 MiB, 2 MiB aligned
  t.ok(w.walk4(b.pml4, gma + 0x1_2345));
  t.equal(w.address, 0x4000 * PAGE_SIZE + 0x1_2345);
  t.equal(w.pageSize, 2 * MiB);
  t.ok(w.walk4(b.pml4, gma + 2 * MiB - 4));
  t.equal(w.address, 0x4000 * PAGE_SIZE + 2 * MiB - 4);
});

t.test('64 KiB pages (IPS in the PDE, every 16th PT entry)', async (t) => {
  const { b, w } = setup();
  const gma = 0x1_0003_0000; // 64 KiB aligned, PT index 0x30
  b.map64k(gma, 0x2340); // 64 KiB aligned frame
  for (const off of [0, 0x1000, 0x8abc, 0xfffc]) {
    t.ok(w.walk4(b.pml4, gma + off), `offset ${off.toString(16)}`);
    t.equal(w.address, 0x2340 * PAGE_SIZE + off);
    t.equal(w.pageSize, 64 * 1024);
  }
  t.notOk(w.walk4(b.pml4, gma + 0x10000), 'the next 64 KiB page (entry 0x40) is absent');
  t.equal(w.level, WalkLevel.PT);
});

t.test('1 GiB pages are reported unsupported', async (t) => {
  const { b, w } = setup();
  b.map1g(0x80_0000_0000, 0x40000);
  t.notOk(w.walk4(b.pml4, 0x80_0000_1000));
  t.equal(w.fault, WalkFault.HUGE_1G_UNSUPPORTED);
  t.equal(w.level, WalkLevel.PDP);
});

t.test('not present at each level', async (t) => {
  const { mem, b, w } = setup();
  t.notOk(w.walk4(0, 0x1000), 'zero root');
  t.equal(w.level, WalkLevel.PML4);
  t.notOk(w.walk4(b.pml4, 0x1000));
  t.equal(w.level, WalkLevel.PML4);
  b.map4k(0x1000, 7);
  // Clear the PD entry: the walk stops at the PD.
  const pd = b.pdFor(0x1000);
  mem.write32(pd, 0);
  t.notOk(w.walk4(b.pml4, 0x1000));
  t.equal(w.level, WalkLevel.PD);
  t.equal(w.fault, WalkFault.NOT_PRESENT);
});

t.test('legacy 3-level walk through four PDP roots', async (t) => {
  const { b, w } = setup();
  const [p0, p1, p2, p3] = b.legacyPds;
  b.map4k(0x0000_5000, 0x111, true);
  b.map4k(0xc000_7000, 0x222, true);
  b.map2m(0x8020_0000, 0x2000, true);
  t.ok(w.walk3(p0, p1, p2, p3, 0x5010));
  t.equal(w.address, 0x111 * PAGE_SIZE + 0x10);
  t.ok(w.walk3(p0, p1, p2, p3, 0xc000_7ffc));
  t.equal(w.address, 0x222 * PAGE_SIZE + 0xffc);
  t.ok(w.walk3(p0, p1, p2, p3, 0x8020_1234));
  t.equal(w.pageSize, 2 * MiB);
  t.notOk(w.walk3(p0, 0, p2, p3, 0x4000_0000), 'zero PDP1 root');
  t.equal(w.level, WalkLevel.PDP);
  t.notOk(w.walk3(p0, p1, p2, p3, 2 ** 32), 'beyond 4 GiB');
  t.equal(w.fault, WalkFault.ADDRESS_RANGE);
});

t.test('hostile tables: pointers past the end of memory are faults, not exceptions', async (t) => {
  const { mem, b, w } = setup();
  // A PML4 entry pointing at 256 GiB, far past the end of host memory.
  mem.write32(b.pml4, pteLo(0x400_0000, PTE_PRESENT));
  mem.write32(b.pml4 + 4, pteHi(0x400_0000));
  t.notOk(w.walk4(b.pml4, 0x1000));
  t.equal(w.fault, WalkFault.OUT_OF_MEMORY);
  t.equal(w.level, WalkLevel.PDP);
  t.notOk(w.walk4(mem.size + PAGE_SIZE, 0));
  t.equal(w.fault, WalkFault.OUT_OF_MEMORY);
  t.notOk(w.walk4(b.pml4, 2 ** 48));
  t.equal(w.fault, WalkFault.ADDRESS_RANGE);
});

t.test('property: the walker agrees with a map of 4 KiB pages', async (t) => {
  const { mem, b, w } = setup();
  const model = new Map<number, number>();
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 24 - 1 }), fc.integer({ min: 0x800, max: mem.frames - 1 })), { minLength: 1, maxLength: 20 }),
      fc.integer({ min: 0, max: PAGE_SIZE - 1 }),
      (maps, off) => {
        for (const [vpn, frame] of maps) {
          // Spread pages over the whole 48-bit space.
          const gma = vpn * 2 ** 24 * PAGE_SIZE / 2 ** 12 + (vpn & 0xfff) * PAGE_SIZE;
          b.map4k(gma, frame);
          model.set(gma, frame);
        }
        for (const [gma, frame] of model) {
          if (!w.walk4(b.pml4, gma + off)) return false;
          if (w.address !== frame * PAGE_SIZE + off) return false;
        }
        return true;
      },
    ),
    { numRuns: 50 },
  );
  t.pass('walks agree');
});
