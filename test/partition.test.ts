import t from 'tap';
import { ConfigError, NoResourceError, RangeArgError, StateError, TableError } from '../lib/errors.js';
import { GmPartition, OWNER_FREE, OWNER_HOST, type GmSlices } from '../lib/gtt/partition.js';
import { checkVgpuTypes, findVgpuType, GEN9_HOST_RESERVATION, GEN9_VGPU_TYPES, MiB, type VgpuType } from '../lib/gtt/vgpu-types.js';

const TYPES = ['GVTg_V5_8', 'GVTg_V5_4', 'GVTg_V5_2', 'GVTg_V5_1'];

t.test('the type table is GVT-g Gen9', async (t) => {
  t.same(GEN9_VGPU_TYPES.map((x) => [x.name, x.lowGmSize / MiB, x.highGmSize / MiB, x.fences, x.weight]), [
    ['GVTg_V5_8', 64, 384, 4, 2],
    ['GVTg_V5_4', 128, 512, 4, 4],
    ['GVTg_V5_2', 256, 1024, 4, 8],
    ['GVTg_V5_1', 512, 2048, 4, 16],
  ]);
  t.same(findVgpuType(GEN9_VGPU_TYPES, 'GVTg_V5_8')!.edid, { width: 1024, height: 768 });
  t.same(findVgpuType(GEN9_VGPU_TYPES, 'GVTg_V5_1')!.edid, { width: 1920, height: 1200 });
  t.same({ ...GEN9_HOST_RESERVATION }, { lowGmSize: 128 * MiB, highGmSize: 384 * MiB, fences: 4 });
  const row: VgpuType = { name: 'x', lowGmSize: MiB, highGmSize: MiB, fences: 1, weight: 1, edid: { width: 1, height: 1 } };
  t.throws(() => checkVgpuTypes([row, row]), TableError, 'duplicate');
  t.throws(() => checkVgpuTypes([{ ...row, lowGmSize: 100 }]), TableError, 'not a page multiple');
  t.throws(() => checkVgpuTypes([{ ...row, weight: 17 }]), TableError, 'weight above 16');
  t.throws(() => checkVgpuTypes([{ ...row, weight: 0 }]), TableError, 'weight 0');
});

/** Fill a fresh partition with one type until it fails; returns how many fit and the error. */
function fill(opts: ConstructorParameters<typeof GmPartition>[0], type: string) {
  const p = new GmPartition(opts);
  const before = p.available(type);
  let n = 0;
  let err: NoResourceError | undefined;
  for (;;) {
    try {
      p.allocateNext(type);
      n++;
    } catch (e) {
      err = e as NoResourceError;
      break;
    }
  }
  return { p, n, before, err: err! };
}

// Expected instances per type and which resource runs out first, for several apertures (total 4 GiB).
// low = aperture - 128 MiB, high = 4096 - aperture - 384 MiB, fences 28, ids 7. With 1024 MiB,
// 7 × GVTg_V5_8 exhaust ids, high and fences at once; `allocateNext` checks ids first.
const EXPECT: Record<number, Record<string, [number, string]>> = {
  256: { GVTg_V5_8: [2, 'low-gm'], GVTg_V5_4: [1, 'low-gm'], GVTg_V5_2: [0, 'low-gm'], GVTg_V5_1: [0, 'low-gm'] },
  512: { GVTg_V5_8: [6, 'low-gm'], GVTg_V5_4: [3, 'low-gm'], GVTg_V5_2: [1, 'low-gm'], GVTg_V5_1: [0, 'low-gm'] },
  1024: { GVTg_V5_8: [7, 'vgpu-id'], GVTg_V5_4: [5, 'high-gm'], GVTg_V5_2: [2, 'high-gm'], GVTg_V5_1: [1, 'low-gm'] },
  2048: { GVTg_V5_8: [4, 'high-gm'], GVTg_V5_4: [3, 'high-gm'], GVTg_V5_2: [1, 'high-gm'], GVTg_V5_1: [0, 'high-gm'] },
};

for (const [ap, rows] of Object.entries(EXPECT)) {
  t.test(`every type with a ${ap} MiB aperture`, async (t) => {
    for (const type of TYPES) {
      const [n, resource] = rows[type];
      const r = fill({ apertureSize: Number(ap) * MiB }, type);
      t.equal(r.n, n, `${type}: ${n} fit`);
      t.equal(r.before, n, `${type}: available() predicted it`);
      t.equal(r.p.available(type), 0);
      t.ok(r.err instanceof NoResourceError, `${type}: NoResourceError`);
      t.equal(r.err.code, 'E_NO_RESOURCE');
      t.equal(r.err.resource, resource, `${type}: ${resource} runs out first`);
      t.ok(r.err.shortBy > 0);
      t.match(r.err.message, new RegExp(`^cannot create ${type}: `));
      // Release returns everything.
      for (const id of r.p.vgpuIds()) t.ok(r.p.release(id));
      const f = r.p.free();
      t.equal(f.low, Number(ap) * MiB - 128 * MiB, 'all low back');
      t.equal(f.high, 4096 * MiB - Number(ap) * MiB - 384 * MiB, 'all high back');
      t.equal(f.fences, 28);
      t.equal(f.ids, 7);
      t.same(r.p.freeRanges().low.length <= 1 && r.p.freeRanges().high.length <= 1, true, 'merged into one range each');
      t.equal(r.p.available(type), n, 'the same number fits again');
    }
  });
}

t.test('the shortage message says what, by how much, and what still fits', async (t) => {
  const p = new GmPartition();
  const e = t.throws(() => p.allocate(1, 'GVTg_V5_2')) as unknown as NoResourceError;
  t.equal(e.message,
    'cannot create GVTg_V5_2: aperture (low graphics memory) short by 128 MiB (needs 256 MiB, largest free range 128 MiB); types that still fit: GVTg_V5_8 ×2, GVTg_V5_4 ×1');
  t.equal(e.resource, 'low-gm');
  t.equal(e.shortBy, 128 * MiB);
  p.allocate(1, 'GVTg_V5_8');
  p.allocate(2, 'GVTg_V5_8');
  const e2 = t.throws(() => p.allocate(3, 'GVTg_V5_8')) as unknown as NoResourceError;
  t.match(e2.message, /short by 64 MiB \(needs 64 MiB, largest free range 0 MiB\); types that still fit: none$/);

  const hi = new GmPartition({ apertureSize: 1024 * MiB });
  hi.allocate(1, 'GVTg_V5_1');
  hi.allocate(2, 'GVTg_V5_8');
  const e3 = t.throws(() => hi.allocate(3, 'GVTg_V5_1')) as unknown as NoResourceError;
  t.equal(e3.resource, 'low-gm');
  const e4 = t.throws(() => hi.allocate(3, 'GVTg_V5_4')) as unknown as NoResourceError;
  t.equal(e4.resource, 'high-gm');
  t.match(e4.message, /hidden \(high graphics memory\) short by 256 MiB \(needs 512 MiB, largest free range 256 MiB\)/);

  // Fences: a device with few fences.
  const f = new GmPartition({ apertureSize: 1024 * MiB, fences: 10 });
  f.allocate(1, 'GVTg_V5_8');
  const e5 = t.throws(() => f.allocate(2, 'GVTg_V5_8')) as unknown as NoResourceError;
  t.equal(e5.resource, 'fence');
  t.equal(e5.shortBy, 2);
  t.match(e5.message, /fences short by 2 \(needs 4, 2 free\)/);
});

t.test('the id limit is an option; id 0 is the idle vGPU', async (t) => {
  const small: VgpuType = { name: 'small', lowGmSize: 4 * MiB, highGmSize: 16 * MiB, fences: 1, weight: 1, edid: { width: 1024, height: 768 } };
  const p = new GmPartition({ types: [small] });
  t.equal(p.available('small'), 7, 'ids limit: 7 guests by default');
  for (let i = 1; i <= 7; i++) t.equal(p.allocateNext('small').id, i);
  const e = t.throws(() => p.allocateNext('small')) as unknown as NoResourceError;
  t.equal(e.resource, 'vgpu-id');
  t.match(e.message, /all 7 guest ids in use/);
  t.throws(() => p.allocate(0, 'small'), RangeArgError, 'id 0 is the idle vGPU');
  t.throws(() => p.allocate(8, 'small'), RangeArgError);
  const big = new GmPartition({ types: [small], maxVgpus: 33, fences: 64 });
  t.equal(big.available('small'), 32, 'gScale-style: 32 guests');
  t.throws(() => new GmPartition({ maxVgpus: 0 }), ConfigError);
});

t.test('misuse is typed', async (t) => {
  const p = new GmPartition();
  p.allocate(1, 'GVTg_V5_8');
  t.throws(() => p.allocate(1, 'GVTg_V5_8'), StateError, 'id in use');
  t.throws(() => p.allocate(2, 'GVTg_V9_9'), ConfigError, 'unknown type');
  t.notOk(p.release(5), 'releasing a free id');
  t.notOk(p.release(-1));
  t.throws(() => new GmPartition({ apertureSize: 8 * 1024 * MiB }), ConfigError, 'aperture beyond total');
  t.throws(() => new GmPartition({ apertureSize: 64 * MiB }), ConfigError, 'host reservation beyond the aperture');
  t.throws(() => new GmPartition({ apertureSize: 1000 }), ConfigError);
});

t.test('slices: contiguous, disjoint, inside their ranges; ownsGma/ownerOf', async (t) => {
  const p = new GmPartition({ apertureSize: 1024 * MiB });
  const all: [number, GmSlices][] = [];
  for (const type of ['GVTg_V5_8', 'GVTg_V5_4', 'GVTg_V5_2', 'GVTg_V5_8']) all.push([p.allocateNext(type).id, p.slices(p.vgpuIds().at(-1)!)!]);
  const fences = new Set<number>();
  for (const [id, s] of all) {
    t.ok(s.lowBase >= 128 * MiB && s.lowBase + s.lowSize <= 1024 * MiB, 'low inside the aperture, above the host');
    t.ok(s.highBase >= 1408 * MiB && s.highBase + s.highSize <= 4096 * MiB, 'high inside the hidden range, above the host');
    for (const f of s.fences) {
      t.ok(f >= 4 && f < 32);
      t.notOk(fences.has(f), 'fences not shared');
      fences.add(f);
    }
    t.ok(p.ownsGma(id, s.lowBase));
    t.ok(p.ownsGma(id, s.lowBase + s.lowSize - 1));
    t.notOk(p.ownsGma(id, s.lowBase + s.lowSize) && p.ownerOf(s.lowBase + s.lowSize) !== id);
    t.ok(p.ownsGma(id, s.highBase + s.highSize - 1));
    t.equal(p.ownerOf(s.highBase), id);
    for (const [other, o] of all) {
      if (other === id) continue;
      t.ok(s.lowBase + s.lowSize <= o.lowBase || o.lowBase + o.lowSize <= s.lowBase, 'low slices disjoint');
      t.ok(s.highBase + s.highSize <= o.highBase || o.highBase + o.highSize <= s.highBase, 'high slices disjoint');
      t.notOk(p.ownsGma(other, s.lowBase));
    }
  }
  t.equal(p.ownerOf(0), OWNER_HOST);
  t.equal(p.ownerOf(1024 * MiB), OWNER_HOST);
  t.equal(p.ownerOf(4096 * MiB - 1), OWNER_FREE);
  t.notOk(p.ownsGma(0, 0), 'the idle vGPU owns nothing');
  t.notOk(p.ownsGma(99, 0));
  t.same(p.typeOf(1)!.name, 'GVTg_V5_8');
});

t.test('fragmentation: first fit, holes, merging', async (t) => {
  const p = new GmPartition({ apertureSize: 512 * MiB }); // low free: [128, 512) MiB
  for (let i = 1; i <= 6; i++) t.equal(p.allocate(i, 'GVTg_V5_8').lowBase, (128 + 64 * (i - 1)) * MiB);
  t.equal(p.available('GVTg_V5_8'), 0);
  p.release(2); // [192, 256)
  p.release(4); // [320, 384)
  t.equal(p.free().low, 128 * MiB, '128 MiB free in all');
  t.equal(p.available('GVTg_V5_4'), 0, 'but no 128 MiB range');
  t.equal(p.available('GVTg_V5_8'), 2);
  const e = t.throws(() => p.allocate(2, 'GVTg_V5_4')) as unknown as NoResourceError;
  t.match(e.message, /short by 64 MiB \(needs 128 MiB, largest free range 64 MiB, 128 MiB free in all but fragmented\)/);
  t.match(e.message, /types that still fit: GVTg_V5_8 ×2$/);
  p.release(3); // merges [192, 384)
  t.same(p.freeRanges().low, [{ start: 192 * MiB, end: 384 * MiB }]);
  t.equal(p.available('GVTg_V5_4'), 1);
  t.equal(p.allocate(2, 'GVTg_V5_4').lowBase, 192 * MiB, 'first fit takes the lowest range');
  t.equal(p.allocate(3, 'GVTg_V5_8').lowBase, 320 * MiB);
});

t.test('fences are the lowest free ones and come back', async (t) => {
  const p = new GmPartition({ apertureSize: 1024 * MiB });
  t.same(p.allocate(1, 'GVTg_V5_8').fences, [4, 5, 6, 7]);
  t.same(p.allocate(2, 'GVTg_V5_8').fences, [8, 9, 10, 11]);
  p.release(1);
  t.same(p.allocate(3, 'GVTg_V5_8').fences, [4, 5, 6, 7]);
});
