/**
 * End to end through the conformance harness only: guests run audited command streams on a
 * shared device; every refusal names its rule while the other guest completes correctly.
 */
import t, { type Test } from 'tap';
import { Harness, type TestGuest } from '../lib/harness/index.js';
import {
  miStoreDataImm, miLoadRegisterImm, miBatchBufferStart, xyColorBlt, xySrcCopyBlt, miNoop, pipeControl, miUserInterrupt,
} from '../lib/device/commands/index.js';
import { GEN9_ENGINES } from '../lib/device/engines.js';
import { RING } from '../lib/device/registers.js';

function okWork(t: Test, g: TestGuest, value: number) {
  const buf = g.ppgttBuffer(4096);
  g.submitBatch('rcs', [...miStoreDataImm(buf.gma, [value])]);
  return () => t.equal(g.read32(buf.gma), value, `${g.name}'s healthy workload wrote its value`);
}

t.test('MI_STORE_DATA_IMM lands in the guest’s own memory (GGTT and PPGTT)', async (t) => {
  const h = new Harness();
  const g = h.addGuest({ type: 'GVTg_V5_4' });
  const buf = g.buffer(4096);
  const pbuf = g.ppgttBuffer(8192);
  g.submit('rcs', [...miStoreDataImm(buf.gma + 8, [0xcafe0001], { ggtt: true }), ...miUserInterrupt()]);
  g.submitBatch('rcs', [...miStoreDataImm(pbuf.gma + 4100, [0xcafe0002]), ...pipeControl({ postSync: 'immediate', address: pbuf.gma + 16, data: 0x1234 } as any)]);
  t.ok(h.runUntilIdle());
  t.equal(g.read32(buf.gma + 8), 0xcafe0001);
  t.equal(g.read32(pbuf.gma + 4100), 0xcafe0002, 'through the shadow PPGTT into the guest frame');
  t.equal(g.workloads.length, 2);
  t.ok(g.workloads.every((w) => w.status === 'completed'));
  t.equal(g.engine('rcs').head, g.engine('rcs').tail, 'the guest sees its ring consumed');
  t.ok(g.interrupts.length >= 1, 'virtual interrupts delivered');
  const rcs = GEN9_ENGINES[0];
  const ptr = g.vgpu.mmioRead(rcs.mmioBase + RING.CSB_PTR, 4) & 7;
  t.ok(ptr < 6, 'the guest CSB advanced');
  t.ok(g.vgpu.ppgtt.counters.shadowed > 0, 'the PPGTT was shadowed');
});

t.test('blits move real pixels in the guest’s memory', async (t) => {
  const h = new Harness();
  const g = h.addGuest({ type: 'GVTg_V5_4', ppgtt: false });
  const surf = g.buffer(64 * 64 * 4);
  const copy = g.buffer(64 * 64 * 4);
  g.submit('bcs', [
    ...xyColorBlt({ dstAddress: surf.gma, dstPitch: 256, dst: { x1: 0, y1: 0, x2: 64, y2: 64 }, color: 0xff336699 }),
    ...xyColorBlt({ dstAddress: surf.gma, dstPitch: 256, dst: { x1: 8, y1: 8, x2: 16, y2: 16 }, color: 0xffffffff }),
    ...xySrcCopyBlt({ dstAddress: copy.gma, dstPitch: 256, dst: { x1: 0, y1: 0, x2: 32, y2: 32 }, srcAddress: surf.gma, srcPitch: 256, srcX: 0, srcY: 0 }),
  ]);
  t.ok(h.runUntilIdle());
  t.equal(g.lastWorkload?.status, 'completed', JSON.stringify(g.lastWorkload?.failure));
  t.equal(g.read32(surf.gma + (40 * 64 + 40) * 4), 0xff336699);
  t.equal(g.read32(surf.gma + (10 * 64 + 10) * 4), 0xffffffff);
  t.equal(g.read32(copy.gma + (10 * 64 + 10) * 4), 0xffffffff, 'copied');
  t.equal(g.read32(copy.gma + (20 * 64 + 20) * 4), 0xff336699);
  t.equal(g.read32(copy.gma + (40 * 64 + 40) * 4), 0, 'outside the copy rectangle');
});

t.test('two guests run interleaved on a shared device', async (t) => {
  const h = new Harness();
  const a = h.addGuest({ type: 'GVTg_V5_8', name: 'a' });
  const b = h.addGuest({ type: 'GVTg_V5_8', name: 'b' });
  const ba = a.ppgttBuffer(4096), bb = b.ppgttBuffer(4096);
  // The same PPGTT addresses in both guests: each lands in its own memory.
  t.equal(ba.gma, bb.gma);
  for (let i = 0; i < 20; i++) {
    a.submitBatch('rcs', miStoreDataImm(ba.gma + 4 * i, [0xa0000 + i]));
    b.submitBatch('rcs', miStoreDataImm(bb.gma + 4 * i, [0xb0000 + i]));
    if (i % 5 === 0) h.run(1000);
  }
  t.ok(h.runUntilIdle());
  for (let i = 0; i < 20; i++) {
    t.equal(a.read32(ba.gma + 4 * i), 0xa0000 + i);
    t.equal(b.read32(bb.gma + 4 * i), 0xb0000 + i);
  }
  const order = h.mediator.history.map((w) => w.vgpuId);
  t.ok(order.indexOf(b.vgpu.id) < order.lastIndexOf(a.vgpu.id), 'interleaved, not one after the other');
});

interface Attack {
  name: string;
  rule: string;
  run(bad: TestGuest, victim: TestGuest): void;
}

const ATTACKS: Attack[] = [
  {
    name: 'LRI to a forbidden register',
    rule: 'register-whitelist',
    run: (g) => g.submitBatch('rcs', miLoadRegisterImm([[0x44200, 0]])),
  },
  {
    name: 'store to another guest’s graphics address',
    rule: 'address-bounds',
    run: (g, victim) => {
      const target = victim.buffer(4096);
      g.submit('rcs', miStoreDataImm(target.gma, [0xbad], { ggtt: true }));
    },
  },
  {
    name: 'a batch that chains to itself',
    rule: 'batch-loop',
    run: (g) => {
      const buf = g.ppgttBuffer(4096);
      g.driver.writeRam32(buf.gpa, [...miNoop(), ...miBatchBufferStart(buf.gma, { ppgtt: true })]);
      g.submit('rcs', [...miBatchBufferStart(buf.gma, { ppgtt: true }), ...miNoop()]);
    },
  },
  {
    name: 'a batch start outside its memory',
    rule: 'address-bounds',
    run: (g) => g.submit('rcs', [...miBatchBufferStart(0x1000), ...miNoop()]),
  },
  {
    name: 'an unknown opcode',
    rule: 'unknown-command',
    run: (g) => g.submitBatch('rcs', [0x1f000000 | 0x5, 0, 0, 0, 0, 0, 0]),
  },
];

for (const atk of ATTACKS) {
  t.test(`refused: ${atk.name}; the other guest completes`, async (t) => {
    const h = new Harness();
    const bad = h.addGuest({ type: 'GVTg_V5_8', name: 'attacker' });
    const victim = h.addGuest({ type: 'GVTg_V5_8', name: 'victim' });
    const check = okWork(t, victim, 0x600d);
    atk.run(bad, victim);
    const check2 = okWork(t, victim, 0x600e);
    t.ok(h.runUntilIdle());
    const w = bad.workloads.find((x) => x.status === 'failed');
    t.ok(w, 'the attacker’s workload failed');
    t.equal(w?.failure?.rule, atk.rule, `rule named: ${w?.failure?.message}`);
    t.ok(bad.vgpu.events.some((e) => e.kind === 'workload-failed' && e.detail.startsWith(atk.rule)), 'recorded in the event log');
    check();
    check2();
    t.ok(victim.workloads.every((x) => x.status === 'completed'));
    t.equal(victim.vgpu.state, 'active');
  });
}

t.test('failsafe policy: an unknown command puts the vGPU in failsafe; reset makes it usable again', async (t) => {
  const h = new Harness();
  const g = h.addGuest({ name: 'g' });
  g.submitBatch('rcs', [0x1f000005, 0, 0, 0, 0, 0, 0]);
  h.runUntilIdle();
  t.equal(g.vgpu.state, 'failsafe');
  t.match(g.vgpu.failsafeReason, /unknown-command/);
  g.vgpu.reset();
  t.equal(g.vgpu.state, 'active');
  // After reset the guest re-initialises (detect, balloon) and runs again.
  const g2 = new (g.constructor as any)(h, g.vgpu, g.memory, {}) as TestGuest;
  const buf = g2.ppgttBuffer(4096);
  g2.submitBatch('rcs', miStoreDataImm(buf.gma, [0x77]));
  t.ok(h.runUntilIdle());
  t.equal(g2.read32(buf.gma), 0x77);
});

t.test('not GVT-aware: execlists enabled before reading PVINFO means failsafe', async (t) => {
  const h = new Harness();
  const g = h.addGuest({ skipDetect: true, ppgtt: false });
  const rcs = GEN9_ENGINES[0];
  g.vgpu.mmioWrite(rcs.mmioBase + RING.GFX_MODE, 4, 0x80008000);
  t.equal(g.vgpu.state, 'failsafe');
});

t.test('destroy with work in flight returns every host frame', async (t) => {
  const h = new Harness();
  const base = h.device.hostMemory.allocatedFrames;
  const g = h.addGuest();
  const other = h.addGuest();
  const buf = g.ppgttBuffer(4096);
  for (let i = 0; i < 5; i++) g.submitBatch('rcs', miStoreDataImm(buf.gma, [i]));
  h.run(500);
  g.vgpu.destroy();
  const ok = okWork(t, other, 5);
  t.ok(h.runUntilIdle());
  ok();
  other.vgpu.destroy();
  t.equal(h.device.hostMemory.allocatedFrames, base, 'no host frame leaked');
  t.equal(h.mediator.hostGm.pagesInUse, 0, 'no shadow page leaked');
});

t.test('lifecycle: an inactive vGPU’s workloads wait until it is activated', async (t) => {
  const h = new Harness();
  const g = h.addGuest();
  const buf = g.ppgttBuffer(4096);
  g.vgpu.deactivate();
  g.submitBatch('rcs', miStoreDataImm(buf.gma, [0x42]));
  h.run(1_000_000);
  t.equal(g.read32(buf.gma), 0, 'nothing ran while inactive');
  t.equal(h.mediator.pendingOf(g.vgpu.id), 1);
  g.vgpu.activate();
  t.ok(h.runUntilIdle());
  t.equal(g.read32(buf.gma), 0x42);
  t.same(g.vgpu.events.filter((e) => e.kind === 'activate' || e.kind === 'deactivate').map((e) => e.kind), ['deactivate', 'activate']);
});

t.test('harness helpers: byte reads across pages, comparison, hex dump', async (t) => {
  const h = new Harness();
  const g = h.addGuest({ ppgtt: false });
  const buf = g.buffer(2 * 4096);
  g.submit('rcs', [...miStoreDataImm(buf.gma + 4092, [0x44332211], { ggtt: true }), ...miStoreDataImm(buf.gma + 4096, [0x88776655], { ggtt: true })]);
  t.ok(h.runUntilIdle());
  t.ok(g.memoryEquals(buf.gma + 4092, Uint8Array.from([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88])), 'two stores on both sides of a page boundary');
  t.notOk(g.memoryEquals(buf.gma + 4092, Uint8Array.from([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x89])));
  t.match(g.hexdump(buf.gma + 4088, 16), /^[0-9a-f]{12} {2}00 00 00 00 11 22 33 44 55 66 77 88 00 00 00 00$/);
});
