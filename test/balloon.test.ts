import t from 'tap';
import { balloonCommand } from '../lib/cli/balloon.js';
import { ConfigError } from '../lib/errors.js';
import { computeBalloon, planPartitions, pvinfoRangesOf, sweep } from '../lib/gtt/balloon.js';
import { GmPartition } from '../lib/gtt/partition.js';
import { renderPartitionSvg } from '../lib/gtt/svg.js';
import { MiB } from '../lib/gtt/vgpu-types.js';

const GEO = { mappableEnd: 256 * MiB, total: 4096 * MiB };

t.test('computeBalloon: a valid layout reserves the four holes', async (t) => {
  const r = computeBalloon({ mappableBase: 128 * MiB, mappableSize: 64 * MiB, nonmappableBase: 640 * MiB, nonmappableSize: 384 * MiB }, GEO);
  t.ok(r.ok);
  if (!r.ok) return;
  t.same(r.holes, [
    { slot: 0, start: 0, end: 128 * MiB },
    { slot: 1, start: 192 * MiB, end: 256 * MiB },
    { slot: 2, start: 256 * MiB, end: 640 * MiB },
    { slot: 3, start: 1024 * MiB, end: 4096 * MiB },
  ]);
  t.equal(r.usableLow, 64 * MiB);
  t.equal(r.usableHigh, 384 * MiB);
  // Holes plus usable ranges tile the whole space.
  const covered = r.holes.reduce((n, h) => n + (h.end - h.start), 0) + r.usableLow + r.usableHigh;
  t.equal(covered, GEO.total);
});

t.test('computeBalloon: empty holes are not reserved', async (t) => {
  const r = computeBalloon({ mappableBase: 0, mappableSize: 256 * MiB, nonmappableBase: 256 * MiB, nonmappableSize: 3840 * MiB }, GEO);
  t.ok(r.ok);
  if (r.ok) t.same(r.holes, [], 'the whole space: nothing to balloon');
  const r2 = computeBalloon({ mappableBase: 0, mappableSize: 64 * MiB, nonmappableBase: 256 * MiB, nonmappableSize: 64 * MiB }, GEO);
  if (r2.ok) t.same(r2.holes.map((h) => h.slot), [1, 3]);
});

t.test('computeBalloon: each rejection rule', async (t) => {
  const base = { mappableBase: 128 * MiB, mappableSize: 64 * MiB, nonmappableBase: 640 * MiB, nonmappableSize: 384 * MiB };
  const cases = [
    { pv: { ...base, mappableSize: 129 * MiB }, rule: 'mappable-end' },
    { pv: { ...base, nonmappableBase: 255 * MiB }, rule: 'nonmappable-base' },
    { pv: { ...base, nonmappableSize: 3457 * MiB }, rule: 'nonmappable-end' },
  ] as const;
  for (const c of cases) {
    const r = computeBalloon(c.pv, GEO);
    t.notOk(r.ok, c.rule);
    if (!r.ok) {
      t.equal(r.rule, c.rule);
      t.ok(r.message.length > 0);
    }
  }
  // Boundaries are allowed: mappable end == aperture end, non-mappable base == aperture end, end == total.
  t.ok(computeBalloon({ mappableBase: 192 * MiB, mappableSize: 64 * MiB, nonmappableBase: 256 * MiB, nonmappableSize: 3840 * MiB }, GEO).ok);
});

t.test('every vGPU a partition places balloons cleanly', async (t) => {
  const p = new GmPartition({ apertureSize: 2048 * MiB, totalSize: 8192 * MiB }); // room for one of each
  for (const type of ['GVTg_V5_1', 'GVTg_V5_2', 'GVTg_V5_4', 'GVTg_V5_8']) {
    const { slices } = p.allocateNext(type);
    const r = computeBalloon(pvinfoRangesOf(slices), { mappableEnd: p.apertureSize, total: p.totalSize });
    t.ok(r.ok, type);
    if (r.ok) {
      t.equal(r.usableLow, slices.lowSize);
      t.equal(r.usableHigh, slices.highSize);
    }
  }
});

t.test('planPartitions: placed, failures, what runs out first', async (t) => {
  const plan = planPartitions([{ type: 'GVTg_V5_8', count: 3 }, { type: 'GVTg_V5_4', count: 1 }]);
  t.same(plan.vgpus.map((v) => [v.id, v.type, v.usableLow / MiB, v.usableHigh / MiB]), [
    [1, 'GVTg_V5_8', 64, 384],
    [2, 'GVTg_V5_8', 64, 384],
  ]);
  t.same(plan.failures.map((f) => [f.type, f.instance, f.resource, f.shortBy / MiB]), [
    ['GVTg_V5_8', 3, 'low-gm', 64],
    ['GVTg_V5_4', 1, 'low-gm', 128],
  ]);
  t.equal(plan.firstFailure!.type, 'GVTg_V5_8');
  t.equal(plan.free.low, 0);
  t.throws(() => planPartitions([{ type: 'nope', count: 1 }]), ConfigError);
  const big = planPartitions([{ type: 'GVTg_V5_4', count: 5 }], { apertureSize: 1024 * MiB });
  t.equal(big.vgpus.length, 5);
  t.equal(big.failures.length, 0);
});

t.test('sweep: types × counts', async (t) => {
  const r = sweep(['GVTg_V5_8', 'GVTg_V5_2'], [1, 2, 3], { apertureSize: 512 * MiB });
  t.equal(r.cells.length, 6);
  t.same(r.cells.map((c) => c.fits), [true, true, true, true, false, false]);
  t.equal(r.cells[4].placed, 1);
  t.equal(r.cells[4].failure!.resource, 'low-gm');
  t.equal(r.cells[0].usableLow, 64 * MiB);
  t.same(r.maxInstances, [{ type: 'GVTg_V5_8', count: 6 }, { type: 'GVTg_V5_2', count: 1 }]);
});

/** A minimal XML well-formedness check: every tag closes in order, attributes quoted. */
function wellFormed(svg: string): boolean {
  const stack: string[] = [];
  const re = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(svg))) {
    if (/[<>]/.test(svg.slice(last, m.index))) return false; // stray < or > in text
    last = re.lastIndex;
    const [, close, name, , self] = m;
    if (self) continue;
    if (close) {
      if (stack.pop() !== name) return false;
    } else stack.push(name);
  }
  return stack.length === 0 && !/[<>]/.test(svg.slice(last));
}

t.test('partition SVG is well formed and names each vGPU', async (t) => {
  const p = new GmPartition({ apertureSize: 1024 * MiB });
  p.allocate(1, 'GVTg_V5_8');
  p.allocate(2, 'GVTg_V5_4');
  p.allocate(5, 'GVTg_V5_2');
  const svg = renderPartitionSvg(p, { title: 'a <title> & more', notes: ['x > y'] });
  t.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  t.ok(wellFormed(svg), 'well formed');
  t.match(svg, /a &lt;title&gt; &amp; more/, 'text escaped');
  for (const [id, type] of [[1, 'GVTg_V5_8'], [2, 'GVTg_V5_4'], [5, 'GVTg_V5_2']] as const) {
    t.match(svg, new RegExp(`<g class="vgpu" data-id="${id}">`), `legend entry for vGPU ${id}`);
    t.match(svg, new RegExp(`vGPU ${id} ${type}`));
  }
  t.match(svg, /class="host"/);
  t.match(svg, /class="free"/);
});

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const files = new Map<string, string>();
  return { out, err, files, io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s), writeFile: (p: string, d: string) => files.set(p, d) } };
}

t.test('gvtkit balloon: default map and SVG', async (t) => {
  const c = io();
  t.equal(await balloonCommand(['--svg', 'out/map.svg'], c.io), 0);
  const text = c.out.join('\n');
  t.match(text, /aperture \(low\) \[0x0, 0x10000000\) 256 MiB/);
  t.match(text, /^host\s+0x00000000\s+128 MiB\s+0x10000000\s+384 MiB\s+0-3$/m);
  t.match(text, /^1\s+GVTg_V5_8\s+0x08000000\s+64 MiB\s+0x28000000\s+384 MiB\s+4-7$/m);
  t.match(text, /GVTg_V5_4 #1: cannot create GVTg_V5_4: aperture \(low graphics memory\) short by 64 MiB/);
  t.match(text, /runs out first: low-gm \(short by 64 MiB\)/);
  t.match(text, /wrote out\/map.svg/);
  const svg = c.files.get('out/map.svg')!;
  t.ok(wellFormed(svg));
  t.match(svg, /vGPU 1 GVTg_V5_8/);
  t.match(svg, /class="note"/, 'failures are noted in the SVG');
});

t.test('gvtkit balloon: types, counts, aperture, json', async (t) => {
  const c = io();
  t.equal(await balloonCommand(['--type', 'GVTg_V5_4', '--count', '3', '--type', 'GVTg_V5_8', '--aperture', '1024', '--json'], c.io), 0);
  const j = JSON.parse(c.out.join('\n'));
  t.equal(j.apertureSize, 1024 * MiB);
  t.same(j.vgpus.map((v: { type: string }) => v.type), ['GVTg_V5_4', 'GVTg_V5_4', 'GVTg_V5_4', 'GVTg_V5_8']);
  t.same(j.failures, []);
  t.notOk('partition' in j);
});

t.test('gvtkit balloon --sweep', async (t) => {
  const c = io();
  t.equal(await balloonCommand(['--sweep', '--aperture', '1024', '--svg', 'sweep.svg'], c.io), 0);
  const text = c.out.join('\n');
  t.match(text, /^GVTg_V5_8\s+64\/384 MiB/m);
  t.match(text, /^GVTg_V5_1\s+512\/2048 MiB\s+✗ low-gm -128 MiB/m);
  t.match(text, /most that fit an empty device: GVTg_V5_8 ×7, GVTg_V5_4 ×5, GVTg_V5_2 ×2, GVTg_V5_1 ×1/);
  const svg = c.files.get('sweep.svg')!;
  t.ok(wellFormed(svg));
  for (const type of ['GVTg_V5_8', 'GVTg_V5_4', 'GVTg_V5_2', 'GVTg_V5_1']) t.match(svg, new RegExp(`data-type="${type}"`));
  const c2 = io();
  t.equal(await balloonCommand(['--sweep', '--type', 'GVTg_V5_8', '--counts', '1,4', '--json'], c2.io), 0);
  const j = JSON.parse(c2.out.join('\n'));
  t.same(j.counts, [1, 4]);
  t.same(j.cells.map((x: { fits: boolean }) => x.fits), [true, false]);
});

t.test('gvtkit balloon: usage errors', async (t) => {
  for (const argv of [['--type', 'GVTg_V9_1'], ['--count', '2'], ['--aperture', 'x'], ['--bogus'], ['--aperture', '64']]) {
    const c = io();
    t.equal(await balloonCommand(argv, c.io), 2, argv.join(' '));
    t.match(c.err[0], /^gvtkit balloon: /);
  }
  const h = io();
  t.equal(await balloonCommand(['--help'], h.io), 0);
  t.match(h.out[0], /^usage: gvtkit balloon/);
});
