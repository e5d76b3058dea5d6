import t from 'tap';
import fc from 'fast-check';
import { SimClock, Rng } from '../lib/clock.js';
import { HostMemory, SparseGuestMemory } from '../lib/ept/memory.js';
import { GvtError, NoResourceError, RangeArgError } from '../lib/errors.js';
import { hi32, join64, lo32, frameOf } from '../lib/types.js';
import { decodePte, encodePte, pteAddr, pteFrame, pteHi, pteLo, PTE_PRESENT } from '../lib/gtt/pte.js';
import { Ggtt } from '../lib/gtt/ggtt.js';

t.test('SimClock orders by time, then by scheduling order', async (t) => {
  const c = new SimClock();
  const seen: string[] = [];
  c.schedule(10, () => seen.push('b'));
  c.schedule(5, () => seen.push('a'));
  c.schedule(10, () => seen.push('c'));
  const x = c.schedule(7, () => seen.push('x'));
  x.cancelled = true;
  c.schedule(0, () => c.schedule(3, () => seen.push('nested')));
  t.equal(c.nextTime(), 0);
  c.runUntilIdle();
  t.same(seen, ['nested', 'a', 'b', 'c']);
  t.equal(c.now, 10);
  c.advance(100);
  t.equal(c.now, 110);
  t.throws(() => c.schedule(-1, () => {}));
});

t.test('SimClock runUntil stops at the bound', async (t) => {
  const c = new SimClock();
  let n = 0;
  for (let i = 1; i <= 10; i++) c.schedule(i * 100, () => n++);
  c.runUntil(550);
  t.equal(n, 5);
  t.equal(c.now, 550);
  t.equal(c.pending, 5);
});

t.test('SimClock rearm: the running event runs again at its new time, the same object; any other event is refused', async (t) => {
  const c = new SimClock();
  const seen: number[] = [];
  let ev: ReturnType<SimClock['at']> | null = null;
  const fn = (): void => {
    seen.push(c.now);
    if (seen.length < 4) {
      const again = c.rearm(ev!, c.now + 10);
      t.equal(again, ev, 'the same event object');
    }
  };
  ev = c.at(5, fn);
  const other = c.at(100, () => seen.push(-c.now));
  t.throws(() => c.rearm(other, 200), RangeError, 'a queued event cannot be re-armed');
  t.throws(() => c.rearm(ev!, 200), RangeError, 'nor one outside its callback');
  c.runUntilIdle();
  t.same(seen, [5, 15, 25, 35, -100], 'at 5, then every 10 ns, in order with the other event');
  t.equal(c.pending, 0);
});

t.test('Rng is deterministic per seed', async (t) => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const sa = Array.from({ length: 8 }, () => a.nextU32());
  t.same(sa, Array.from({ length: 8 }, () => b.nextU32()));
  t.not(sa.join(), Array.from({ length: 8 }, () => c.nextU32()).join());
  for (let i = 0; i < 1000; i++) {
    const v = a.int(7);
    if (v < 0 || v >= 7) t.fail('int out of range');
  }
});

t.test('sparse memory: zeros until written, little-endian, page-crossing ranges', async (t) => {
  const m = new SparseGuestMemory(1 << 20);
  t.equal(m.read32(0x1000), 0);
  t.equal(m.backedPages, 0);
  m.write32(0x1000, 0x11223344);
  t.equal(m.read8(0x1000), 0x44);
  t.equal(m.read16(0x1002), 0x1122);
  m.write32(0x1ffe, 0xaabbccdd); // crosses a page
  t.equal(m.read32(0x1ffe), 0xaabbccdd);
  t.equal(m.read8(0x2000), 0xbb);
  const bytes = Uint8Array.from({ length: 9000 }, (_, i) => i & 0xff);
  m.write(0x3f00, bytes);
  t.same(m.read(0x3f00, 9000), bytes);
  t.throws(() => m.read32(1 << 20), RangeArgError);
  t.throws(() => new SparseGuestMemory(100), { code: 'E_RANGE' });
  t.ok(new RangeArgError('x') instanceof GvtError);
});

t.test('host frame allocator: reuse, leak accounting, injected failure', async (t) => {
  const h = new HostMemory({ size: 64 * 4096, reservedFrames: 4 });
  const a = h.allocFrame();
  const b = h.allocFrame();
  t.equal(a, 4);
  t.equal(b, 5);
  h.write32(a * 4096, 7);
  h.freeFrame(a);
  t.equal(h.read32(a * 4096), 0, 'freed frames read as zero');
  t.equal(h.allocFrame(), a, 'freed frame reused');
  t.equal(h.allocatedFrames, 2);
  t.throws(() => h.freeFrame(40));
  h.failAllocations = 1;
  t.throws(() => h.allocFrame(), NoResourceError);
  t.type(h.allocFrame(), 'number');
  const rest = 64 - 4 - 3;
  for (let i = 0; i < rest; i++) h.allocFrame();
  t.throws(() => h.allocFrame(), NoResourceError);
});

t.test('64-bit halves helpers agree with BigInt', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (n) => {
      const b = BigInt(n);
      return lo32(n) === Number(b & 0xffffffffn) && hi32(n) === Number(b >> 32n) && join64(lo32(n), hi32(n)) === n;
    }),
  );
  t.equal(frameOf(2 ** 40 + 4097), 2 ** 28 + 1);
});

t.test('gen8 PTE encode/decode round-trips against a BigInt oracle', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 27 - 1 }), fc.integer({ min: 0, max: 0xfff }), (frame, flags) => {
      const lo = pteLo(frame, flags);
      const hi = pteHi(frame);
      const oracle = (BigInt(frame) << 12n) | BigInt(flags);
      return (
        lo === Number(oracle & 0xffffffffn) &&
        hi === Number(oracle >> 32n) &&
        pteFrame(lo, hi) === frame &&
        pteAddr(lo, hi) === frame * 4096
      );
    }),
  );
  const [lo, hi] = encodePte({ frame: 0x123456, writable: true, ppat: 5 });
  const d = decodePte(lo, hi);
  t.same([d.present, d.writable, d.ppat, d.frame], [true, true, 5, 0x123456]);
});

t.test('Ggtt translation', async (t) => {
  const g = new Ggtt(16 * 4096);
  g.set(3, pteLo(0x42, PTE_PRESENT), 0);
  t.equal(g.translate(3 * 4096 + 12), 0x42 * 4096 + 12);
  t.equal(g.translate(2 * 4096), -1, 'not present');
  t.equal(g.translate(16 * 4096), -1, 'beyond graphics memory');
  t.equal(g.translate(-1), -1);
});

t.test('Ggtt.fill writes a range as that many sets would', async (t) => {
  const a = new Ggtt(16 * 4096);
  const b = new Ggtt(16 * 4096);
  for (const [first, count, lo, hi] of [[0, 16, 3, 9], [2, 5, pteLo(0x42, PTE_PRESENT), 1], [9, 3, 0, 0], [12, 4, 7, 7], [1, 13, 8, 6], [0, 0, 1, 1]]) {
    a.fill(first, count, lo, hi);
    for (let i = first; i < first + count; i++) b.set(i, lo, hi);
  }
  t.same(a.words, b.words);
  t.equal(a.writes, b.writes, 'counted as entry writes');
  t.throws(() => a.fill(14, 3, 0, 0), /outside/);
  t.throws(() => a.fill(-1, 1, 0, 0), /outside/);
  t.throws(() => a.fill(0.5, 1, 0, 0), /outside/);
});
