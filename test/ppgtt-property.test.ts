/**
 * Shadow equivalence as a property: random guest tables and random incremental writes (leaf
 * changes, PDE/PDPE changes and removals, 64 KiB and 2 MiB pages, shared page tables, half writes,
 * byte writes, EPT unmaps), with and without out-of-sync pages, 4-level and 3-level: after each
 * sync, walking the shadow through host memory gives the EPT translation of walking the guest
 * tables through guest memory, or scratch; the shadow never names a frame the guest does not own;
 * teardown returns every frame and protection.
 */
import fc from 'fast-check';
import t from 'tap';
import { PTE_PRESENT, PTE_RW, pteHi, pteLo } from '../lib/gtt/pte.js';
import { PPGTT_MODE_L3, PPGTT_MODE_L4, type PpgttMode } from '../lib/gtt/shadow-ppgtt.js';
import { ALL_STYLES, GuestPpgtt, framesInUse, isolationProblems, mismatches, rig, type WriteStyle } from './ppgtt-fixture.js';

const TABLE_FIRST = 6144; // guest RAM 32 MiB = 8192 frames; tables in the top 8 MiB
const gfnArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: TABLE_FIRST - 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: 8192, max: 8192 + 700 }) },
  { weight: 1, arbitrary: fc.integer({ min: 2 ** 20, max: 2 ** 27 - 1 }) },
);
const styleArb = fc.constantFrom<WriteStyle>(...ALL_STYLES, 'w8', 'w8', 'w32');
const gmaArb = (mode: PpgttMode) =>
  fc
    .record({
      l4: fc.constantFrom(0, 1, 511),
      l3: fc.integer({ min: 0, max: mode === PPGTT_MODE_L4 ? 2 : 3 }),
      l2: fc.integer({ min: 0, max: 3 }),
      l1: fc.integer({ min: 0, max: 511 }),
    })
    .map(({ l4, l3, l2, l1 }) => (mode === PPGTT_MODE_L4 ? l4 * 2 ** 39 : 0) + l3 * 2 ** 30 + l2 * 2 ** 21 + l1 * 4096);

type Op =
  | { k: 'map4k'; gma: number; gfn: number; rw: boolean; style: WriteStyle }
  | { k: 'unmap'; gma: number; style: WriteStyle }
  | { k: 'map64k'; gma: number; gfn: number; style: WriteStyle }
  | { k: 'map2m'; gma: number; gfn: number; style: WriteStyle }
  | { k: 'clearPde'; gma: number; style: WriteStyle }
  | { k: 'clearPdpe'; gma: number; style: WriteStyle }
  | { k: 'map1g'; gma: number; gfn: number }
  | { k: 'sharePt'; gma: number; pick: number }
  | { k: 'half'; gma: number; gfn: number; hi: boolean }
  | { k: 'eptUnmap'; pick: number; offset: number }
  | { k: 'sync' };

const opArb = (mode: PpgttMode): fc.Arbitrary<Op> => {
  const gma = gmaArb(mode);
  return fc.oneof(
    { weight: 10, arbitrary: fc.record({ k: fc.constant('map4k' as const), gma, gfn: gfnArb, rw: fc.boolean(), style: styleArb }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('unmap' as const), gma, style: styleArb }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('map64k' as const), gma, gfn: gfnArb, style: styleArb }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('map2m' as const), gma, gfn: gfnArb, style: styleArb }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('clearPde' as const), gma, style: styleArb }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('clearPdpe' as const), gma, style: styleArb }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('map1g' as const), gma, gfn: gfnArb }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('sharePt' as const), gma, pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('half' as const), gma, gfn: gfnArb, hi: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('eptUnmap' as const), pick: fc.nat(), offset: fc.nat({ max: 511 }) }) },
    { weight: 2, arbitrary: fc.constant({ k: 'sync' as const }) },
  );
};

const scenarioArb = fc.constantFrom<PpgttMode>(PPGTT_MODE_L4, PPGTT_MODE_L3).chain((mode) =>
  fc.record({
    mode: fc.constant(mode),
    initial: fc.array(fc.record({ gma: gmaArb(mode), gfn: gfnArb }), { maxLength: 30 }),
    ops: fc.array(opArb(mode), { minLength: 1, maxLength: 40 }),
    outOfSync: fc.boolean(),
    oosPoolSize: fc.constantFrom(1, 2, 8192),
  }),
);

function run(s: { mode: PpgttMode; initial: { gma: number; gfn: number }[]; ops: Op[]; outOfSync: boolean; oosPoolSize: number }): void {
  const r = rig({ outOfSync: s.outOfSync, oosPoolSize: s.oosPoolSize });
  const g = new GuestPpgtt(r, s.mode, TABLE_FIRST);
  const touched = new Set<number>();
  /** Guest frame ranges mapped so far (what an EPT unmap should hit). */
  const used: { base: number; span: number }[] = [];
  const touch = (gma: number) => {
    touched.add(gma);
    touched.add(gma + 4096);
    touched.add(gma + 0x11000);
    touched.add(gma - (gma % (2 * 1024 * 1024)) + 0x1ff000);
  };
  g.style = 'direct';
  for (const m of s.initial) {
    g.map4K(m.gma, m.gfn);
    used.push({ base: m.gfn, span: 1 });
    touch(m.gma);
  }
  const mm = g.get();
  const check = (when: string) => {
    const bad = mismatches(r, mm, g.roots, touched);
    if (bad.length) throw new Error(`${when}: ${bad.slice(0, 5).join('; ')}`);
    const iso = isolationProblems(r, mm);
    if (iso.length) throw new Error(`${when}: ${iso.slice(0, 5).join('; ')}`);
    const c = r.mgr.counters;
    if (r.ept.protectedFrames !== r.mgr.shadowedTables().size - c.oosActive) {
      throw new Error(`${when}: ${r.ept.protectedFrames} protected, ${r.mgr.shadowedTables().size} tables, ${c.oosActive} out of sync`);
    }
  };
  check('initial');
  s.ops.forEach((op, n) => {
    const at = `op ${n} ${JSON.stringify(op)}`;
    switch (op.k) {
      case 'map4k':
        g.style = op.style;
        g.map4K(op.gma, op.gfn, PTE_PRESENT | (op.rw ? PTE_RW : 0));
        used.push({ base: op.gfn, span: 1 });
        break;
      case 'unmap':
        g.style = op.style;
        g.unmap4K(op.gma);
        break;
      case 'map64k':
        g.style = op.style;
        g.map64K(op.gma, op.gfn);
        used.push({ base: op.gfn & ~15, span: 16 });
        break;
      case 'map2m':
        g.style = op.style;
        g.map2M(op.gma, op.gfn);
        used.push({ base: op.gfn & ~511, span: 512 });
        break;
      case 'clearPde':
        g.style = op.style;
        g.clearPde(op.gma);
        break;
      case 'clearPdpe':
        g.style = op.style;
        if (s.mode === PPGTT_MODE_L4) g.clearPdpe(op.gma);
        else g.clearPde(op.gma);
        break;
      case 'map1g':
        g.style = 'w8';
        if (s.mode === PPGTT_MODE_L4) g.map1G(op.gma, op.gfn);
        break;
      case 'sharePt': {
        if (g.pts.length === 0) break;
        const pt = g.pts[op.pick % g.pts.length];
        g.style = 'w8';
        g.setPde(op.gma, pt.gfn, pt.ips);
        break;
      }
      case 'half': {
        g.style = 'w8';
        const a = g.pteAddress(op.gma);
        r.ept.guestWrite32(op.hi ? a + 4 : a, op.hi ? pteHi(op.gfn) : pteLo(op.gfn, PTE_PRESENT | PTE_RW));
        break;
      }
      case 'eptUnmap': {
        if (used.length === 0) break;
        const u = used[op.pick % used.length];
        r.ept.unmap((u.base + (op.offset % u.span)) as never);
        // Before anything re-pins (the freed host frame would come straight back): no shadow
        // entry may still name it.
        const iso = isolationProblems(r, mm);
        if (iso.length) throw new Error(`${at}: ${iso.slice(0, 5).join('; ')}`);
        break;
      }
      case 'sync':
        if (!mm.sync()) throw new Error(`${at}: sync failed`);
        check(at);
        break;
    }
    if ('gma' in op) touch(op.gma);
  });
  if (!mm.sync()) throw new Error('final sync failed');
  if (r.mgr.pendingEntries !== 0) throw new Error('entries still pending after sync');
  check('final');
  r.mgr.destroyAll();
  if (framesInUse(r) !== r.baseline) throw new Error(`leak: ${framesInUse(r) - r.baseline} frames`);
  if (r.ept.protectedFrames !== 0) throw new Error(`${r.ept.protectedFrames} protections left`);
  if (r.mgr.counters.oosAttached !== 0 || r.mgr.counters.oosActive !== 0) throw new Error('oos state left');
}

t.test('shadow equivalence under random tables and writes', (t) => {
  fc.assert(fc.property(scenarioArb, (s) => run(s)), { numRuns: 150 });
  t.pass('150 scenarios');
  t.end();
});

t.test('a PT that is written all over while out of sync', (t) => {
  fc.assert(
    fc.property(fc.array(fc.record({ slot: fc.integer({ min: 0, max: 511 }), gfn: gfnArb, style: styleArb }), { minLength: 3, maxLength: 200 }), (writes) => {
      run({
        mode: PPGTT_MODE_L4,
        initial: [{ gma: 0, gfn: 1 }],
        ops: writes.map((w) => ({ k: 'map4k' as const, gma: w.slot * 4096, gfn: w.gfn, rw: true, style: w.style })),
        outOfSync: true,
        oosPoolSize: 8192,
      });
    }),
    { numRuns: 50 },
  );
  t.pass('50 scenarios');
  t.end();
});
