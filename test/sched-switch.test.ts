import t from 'tap';
import fc from 'fast-check';
import { Rng } from '../lib/clock.js';
import { Gen9Device } from '../lib/device/index.js';
import { GEN9_ENGINES, GEN9_REGISTERS } from '../lib/device/index.js';
import { compileHandlers, compileRegisters, RegFlag, RegisterFile } from '../lib/mmio/index.js';
import {
  buildSwitchLayout, ContextSwitcher, createPolicy, DEFAULT_SWITCH_COST, estimateSwitchNs, GEN9_ENGINE_MMIO, GEN9_SWITCH_LAYOUT,
  MS, simulatePolicy, switchCostModel, switchCostNs, switcherCost,
} from '../lib/scheduler/index.js';

t.test('the Gen9 switch list is a well-formed table of device registers', async (t) => {
  const l = GEN9_SWITCH_LAYOUT;
  t.equal(new Set(l.offsets).size, l.length, 'no duplicate offset');
  t.equal(l.engineStart[0], 0);
  t.equal(l.engineStart[GEN9_ENGINES.length], l.length);
  // 64 MOCS per engine, 32 L3CC with the render engine, plus GVT-g's engine list (0x2248 once).
  t.equal(l.length, 5 * 64 + 32 + GEN9_ENGINE_MMIO.length);
  t.equal(GEN9_ENGINE_MMIO.filter((r) => r.offset === 0x2248).length, 1);
  const rf = new RegisterFile(GEN9_REGISTERS, 'host');
  const untracked: string[] = [];
  for (let i = 0; i < l.length; i++) if (!rf.isTracked(l.offsets[i])) untracked.push(l.names[i]);
  t.same(untracked, [], 'every switched register is a device register');
  for (const e of GEN9_ENGINES) {
    const slots = Array.from(l.offsets.subarray(l.engineStart[e.id], l.engineStart[e.id + 1]));
    t.ok(slots.includes(e.mocsBase) && slots.includes(e.mocsBase + 63 * 4), `${e.name} MOCS at 0x${e.mocsBase.toString(16)}`);
  }
  const rcs = Array.from(l.offsets.subarray(l.engineStart[0], l.engineStart[1]));
  for (const off of [0x229c, 0x2098, 0x20c0, 0x24d0, 0x24fc, 0x7000, 0x7004, 0x7008, 0xe4f0, 0x7300, 0xe194, 0xb118, 0xb020, 0xb09c]) {
    t.ok(rcs.includes(off), `render list has 0x${off.toString(16)}`);
  }
  const mm = (off: number) => l.modeMask[Array.from(l.offsets).indexOf(off)];
  t.equal(mm(0x229c), 1, 'GFX_MODE is mode-mask');
  t.equal(mm(0x2098), 0, 'HWSTAM is not');
  t.throws(() => buildSwitchLayout([...GEN9_ENGINE_MMIO, { engine: 'rcs', offset: 0x229c, name: 'dup', modeMask: false, inContext: false }]), { code: 'E_TABLE' });
  t.throws(() => buildSwitchLayout([{ engine: 'rcs', offset: 0x2002, name: 'odd', modeMask: false, inContext: false }]), { code: 'E_TABLE' });
  t.equal(buildSwitchLayout(GEN9_ENGINE_MMIO, { mocs: false, inContext: false }).length, GEN9_ENGINE_MMIO.filter((r) => !r.inContext).length);
  t.throws(() => new ContextSwitcher(new RegisterFile(compileRegisters([{ offset: 0x1000, name: 'X' }]))), { code: 'E_TABLE' });
});

/** A random image, canonical (writable bits only), equal to `base` except in about `density` of the slots. */
function randomImage(sw: ContextSwitcher, rng: Rng, base?: Uint32Array, density = 1): Uint32Array {
  const img = new Uint32Array(sw.layout.length);
  for (let i = 0; i < img.length; i++) {
    img[i] = base !== undefined && rng.next() >= density ? base[i] : rng.nextU32();
  }
  return sw.canonicalize(img);
}

t.test('ContextSwitcher: restores exactly and writes only what differs (property)', async (t) => {
  const device = new Gen9Device();
  const sw = new ContextSwitcher(device.regs);
  const l = sw.layout;
  const deviceImage = (): Uint32Array => {
    const img = new Uint32Array(l.length);
    for (let i = 0; i < l.length; i++) img[i] = (device.regs.read(l.offsets[i], 4) & sw.writableMask(i)) >>> 0;
    return img;
  };
  fc.assert(
    fc.property(fc.integer(), fc.double({ min: 0, max: 1, noNaN: true }), (seed, density) => {
      const rng = new Rng(seed);
      const a = randomImage(sw, rng);
      const b = randomImage(sw, rng, a, density);
      sw.restore(a);
      if (!sameArray(deviceImage(), a)) return false;
      let differing = 0;
      for (let i = 0; i < l.length; i++) if (a[i] !== b[i]) differing++;
      const savedA = new Uint32Array(l.length);
      const savedB = new Uint32Array(l.length);
      const w1 = sw.switch(savedA, b);
      if (w1 !== differing) return false;
      if (!sameArray(savedA, a) || !sameArray(deviceImage(), b)) return false;
      const w2 = sw.switch(savedB, savedA);
      if (w2 !== differing) return false;
      // A → B → A returns A's values, and B's save equals what was restored for B.
      if (!sameArray(deviceImage(), a) || !sameArray(savedB, b)) return false;
      return sw.switch(new Uint32Array(l.length), a) === 0;
    }),
    { numRuns: 150, seed: 0x5eed },
  );
  t.pass('A → B → A restores A; writes = differing registers');
});

function sameArray(x: Uint32Array, y: Uint32Array): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

t.test('ContextSwitcher: mode-mask registers are written with the mask bits set', async (t) => {
  const defs = [
    { offset: 0x229c, name: 'GFX_MODE', flags: RegFlag.MODE_MASK },
    { offset: 0x2098, name: 'HWSTAM' },
  ];
  const written: [number, number][] = [];
  const record = (w: typeof written, o: number, v: number): void => { w.push([o, v]); };
  const handlers = compileHandlers<typeof written>('test', compileRegisters(defs), [
    { at: 0x229c, owner: 'test', doc: 'records', write: record },
    { at: 0x2098, owner: 'test', doc: 'records', write: record },
  ]);
  const rf = new RegisterFile(handlers, 'test', written);
  const layout = buildSwitchLayout(GEN9_ENGINE_MMIO.filter((r) => r.offset === 0x229c || r.offset === 0x2098), { mocs: false });
  const sw = new ContextSwitcher(rf, { layout });
  t.equal(sw.writableMask(0), 0xffff, 'a mode-mask image slot keeps 16 bits');
  const img = Uint32Array.of(0x8200, 0xdeadbeef);
  t.equal(sw.restore(img), 2);
  t.same(written, [[0x229c, 0xffff8200], [0x2098, 0xdeadbeef]]);
  t.equal(rf.read(0x229c, 4), 0x8200);
  written.length = 0;
  t.equal(sw.switch(new Uint32Array(2), Uint32Array.of(0x8200, 0xdeadbeef)), 0, 'nothing differs, nothing written');
  t.equal(written.length, 0);
  const cleared = Uint32Array.of(0, 0xdeadbeef);
  t.equal(sw.switch(null, cleared), 1);
  t.same(written, [[0x229c, 0xffff0000]], 'clearing bits needs the mask too');
  t.equal(rf.read(0x229c, 4), 0);
  t.throws(() => sw.switch(null, new Uint32Array(3)), { code: 'E_CONFIG', field: 'into' });
});

t.test('ContextSwitcher: per-engine switches and the cost model', async (t) => {
  const device = new Gen9Device();
  const sw = new ContextSwitcher(device.regs, { cost: { fixedNs: 1000, perEngineNs: 100, perRegisterReadNs: 10, perRegisterWriteNs: 5 } });
  const l = sw.layout;
  const rng = new Rng(9);
  const a = randomImage(sw, rng);
  sw.restore(a);
  const b = Uint32Array.from(a);
  // Differ in one BCS register and one VECS MOCS entry.
  const bcsSlot = l.engineStart[1];
  const vecsSlot = l.engineStart[4] + 3;
  b[bcsSlot] = (b[bcsSlot] ^ 1) & sw.writableMask(bcsSlot);
  b[vecsSlot] = (b[vecsSlot] ^ 0x10) >>> 0;
  const out = new Uint32Array(l.length);
  t.equal(sw.switch(out, b, 1 << 0), 0, 'only the render engine: nothing of it differs');
  t.equal(sw.lastReads, l.engineStart[1] - l.engineStart[0]);
  t.equal(sw.lastCostNs, 1000 + 100 + 10 * sw.lastReads);
  t.equal(sw.switch(out, b), 2, 'all engines: the two differing registers');
  t.equal(sw.lastEngines, 5);
  t.equal(sw.lastCostNs, switchCostNs(sw.cost, 5, l.length, 2));
  t.equal(sw.switches, 2);
  t.equal(sw.totalWrites, 2);
  const img = sw.newImage();
  t.same(Array.from(img), Array.from(b), 'a new image holds the current values');
  t.equal(estimateSwitchNs(DEFAULT_SWITCH_COST, l, 0), switchCostNs(DEFAULT_SWITCH_COST, 5, l.length, 0));
  t.throws(() => switchCostModel({ perRegisterWriteNs: -1 }), { code: 'E_CONFIG', field: 'perRegisterWriteNs' });
});

t.test('the simulator can drive real context switches', async (t) => {
  const device = new Gen9Device();
  const sw = new ContextSwitcher(device.regs);
  const rng = new Rng(3);
  const base = sw.newImage();
  const images = new Map<number, Uint32Array>([
    [1, randomImage(sw, rng, base, 0.05)],
    [2, randomImage(sw, rng, base, 0.05)],
  ]);
  const expected = new Map([...images].map(([id, img]) => [id, Uint32Array.from(img)]));
  sw.restore(images.get(1)!);
  const res = simulatePolicy(createPolicy('round-robin'), [
    { id: 1, work: { durationNs: [100_000, 600_000] } },
    { id: 2, work: { durationNs: [100_000, 600_000] } },
  ], 50 * MS, { switchCostNs: switcherCost(sw, images) });
  t.ok(res.switches > 40, `${res.switches} switches`);
  t.equal(sw.switches, res.switches);
  t.ok(res.switchOverheadNs >= res.switches * DEFAULT_SWITCH_COST.fixedNs);
  // Images survive any number of switches unchanged (saving gives back what was restored).
  for (const [id, img] of images) t.same(Array.from(img), Array.from(expected.get(id)!), `vGPU ${id} image intact`);
});
