/**
 * fast-check properties over the fuzzers' operations (shrinking to a minimal failing sequence):
 * any sequence of MMIO / PCI / aperture accesses leaves the host registers and every other guest
 * alone; any sequence of GGTT entry writes agrees with the shadow GGTT model and names only the
 * writer's frames.
 */
import t from 'tap';
import fc from 'fast-check';
import { Rng } from '../lib/clock.js';
import { FuzzWorld, FUZZERS } from '../lib/fuzz/index.js';
import type { MmioOp } from '../lib/fuzz/fuzzers/mmio.js';
import type { GttOp } from '../lib/fuzz/fuzzers/gtt.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });

const mmioOp: fc.Arbitrary<MmioOp> = fc.record({
  sp: fc.constantFrom('bar0', 'bar0', 'bar0', 'pci', 'ap', 'stub-mem'),
  write: fc.boolean(),
  off: fc.oneof(
    fc.integer({ min: 0, max: 0x1fffff }),
    fc.integer({ min: 0x78000, max: 0x78fff }),
    fc.integer({ min: 0x800000, max: 0xffffff }),
    fc.constantFrom(-4, 0.5, NaN, 2 ** 32, 2 ** 53),
    fc.integer({ min: 0, max: 300 }),
  ),
  size: fc.constantFrom(1, 2, 4, 4, 4, 8),
  value: fc.oneof(u32, fc.constantFrom(0x80008000, -1, 2 ** 52)),
}).map((op) => (op.sp === 'stub-mem' ? { ...op, off: 0x80_0000_0000 + Math.abs(op.off || 0) } : op));

t.test('any MMIO / PCI / aperture sequence leaves the host and the victim alone', async (t) => {
  fc.assert(
    fc.property(fc.array(mmioOp, { minLength: 1, maxLength: 40 }), (ops) => {
      const w = new FuzzWorld({ seed: ops.length });
      w.victim!.work();
      const st = FUZZERS.mmio.setup(w, new Rng(1));
      const vs = FUZZERS.mmio.execute(w, st, ops);
      vs.push(...w.check());
      if (vs.length) throw new Error(vs.map((v) => `${v.invariant}: ${v.message}`).join('; '));
      return true;
    }),
    { numRuns: 40, seed: 42 },
  );
  t.pass('held for 40 random sequences');
});

t.test('any GGTT write sequence agrees with the model and stays in the writer\'s frames', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1e6 }), fc.array(fc.tuple(fc.integer({ min: 0, max: 271 }), u32, fc.integer({ min: 0, max: 0x7f }), fc.constantFrom('q', 'lo', 'hi', 'lohi', 'hilo', 'bad')), { minLength: 1, maxLength: 30 }), (seed, raw) => {
      const w = new FuzzWorld({ seed, victim: true });
      const st = FUZZERS.gtt.setup(w, new Rng(seed)) as { zone: number; lowZone: number };
      const ops: GttOp[] = raw.map(([i, lo, hi, how]) => ({
        k: 'pte', index: i < 256 ? st.zone + i : st.lowZone + (i - 256), lo, hi, how: how as 'q',
      }));
      ops.push({ k: 'use', index: st.zone + (raw[0][0] % 256), off: 64, value: 0x1234 });
      const vs = FUZZERS.gtt.execute(w, st, ops);
      vs.push(...w.check());
      if (vs.length) throw new Error(vs.map((v) => `${v.invariant}: ${v.message}`).join('; '));
      return true;
    }),
    { numRuns: 40, seed: 7 },
  );
  t.pass('held for 40 random sequences');
});
