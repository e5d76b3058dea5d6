// gScale: slot sharing in the partition, private shadow GGTTs loaded at dispatch, fences
// switched with them, ladder-mapped aperture, isolation between vGPUs that share slices.
import t from 'tap';
import { GmPartition } from '../lib/gtt/partition.js';
import { Harness, type TestGuest } from '../lib/harness/index.js';
import { Mediator, GSCALE_MAX_VGPU } from '../lib/mediator/mediator.js';
import { Gen9Device } from '../lib/device/device.js';
import { miStoreDataImm } from '../lib/device/commands/index.js';
import { fenceReg } from '../lib/device/registers.js';
import { PAGE_SIZE } from '../lib/types.js';

const MiB = 1024 * 1024;

t.test('partition: without sharing the 8th GVTg_V5_8 does not fit; with sharing it joins a group', (t) => {
  const plain = new GmPartition({ apertureSize: 1024 * MiB, maxVgpus: 64 });
  for (let i = 0; i < 7; i++) plain.allocateNext('GVTg_V5_8');
  t.throws(() => plain.allocateNext('GVTg_V5_8'), { code: 'E_NO_RESOURCE' });

  const p = new GmPartition({ apertureSize: 1024 * MiB, maxVgpus: 64, share: true });
  const first = Array.from({ length: 7 }, () => p.allocateNext('GVTg_V5_8'));
  t.equal(p.groupCount, 7, 'the first seven get their own slices');
  t.equal(p.available('GVTg_V5_8'), 64 - 1 - 7, 'only ids bound the count now');
  const eighth = p.allocateNext('GVTg_V5_8');
  t.equal(p.groupCount, 7, 'the eighth shares');
  const host = first.find((x) => x.slices.lowBase === eighth.slices.lowBase);
  t.ok(host, 'it has the slices of one of the first seven');
  t.same(eighth.slices, host!.slices, 'identical slices and fences');
  t.same(p.sharers(eighth.id), [host!.id, eighth.id].sort((a, b) => a - b));
  t.equal(p.groupOf(eighth.id), p.groupOf(host!.id));
  // Fill to 21: three per group, spread evenly (fewest members first).
  for (let i = 0; i < 13; i++) p.allocateNext('GVTg_V5_8');
  for (const x of first) t.equal(p.sharers(x.id).length, 3, `group of vgpu${x.id} has 3 members`);
  // Slices return only when the last member leaves.
  const ids = p.sharers(host!.id);
  const freeBefore = p.free().low;
  p.release(ids[0]);
  p.release(ids[1]);
  t.equal(p.free().low, freeBefore, 'still held by the last member');
  p.release(ids[2]);
  t.equal(p.free().low, freeBefore + 64 * MiB, 'given back with the last member');
  t.equal(p.groupCount, 6);
  // A type with other sizes cannot join: it needs fresh slices.
  const big = new GmPartition({ apertureSize: 256 * MiB, maxVgpus: 64, share: true });
  big.allocateNext('GVTg_V5_8');
  t.throws(() => big.allocateNext('GVTg_V5_1'), { code: 'E_NO_RESOURCE' });
  t.end();
});

t.test('mediator: gScale applies to mediated and emulated designs only, raises the id limit', (t) => {
  t.throws(() => new Mediator(new Gen9Device(), { gscale: true, mode: 'sriov' }), { code: 'E_CONFIG' });
  t.throws(() => new Mediator(new Gen9Device(), { gscale: true, mode: 'passthrough' }), { code: 'E_CONFIG' });
  const m = new Mediator(new Gen9Device(), { gscale: true });
  t.equal(m.partition.maxVgpus, GSCALE_MAX_VGPU);
  t.equal(m.partition.share, true);
  t.equal(new Mediator(new Gen9Device()).partition.share, false);
  t.end();
});

/** Guests each storing their own values through GGTT-addressed MI_STORE_DATA_IMM. */
function storeRound(guests: TestGuest[], tag: number): { buf: { gma: number }; g: TestGuest; value: number }[] {
  return guests.map((g, i) => {
    const buf = g.buffer(PAGE_SIZE);
    const value = (tag << 16) | i;
    g.submit('rcs', miStoreDataImm(buf.gma, [value], { ggtt: true }));
    return { buf, g, value };
  });
}

/** Eight guests on a device that holds seven: the first guest and the one sharing its slices. */
function sharedPair(): { h: Harness; a: TestGuest; b: TestGuest } {
  const h = new Harness({ mediator: { gscale: true } });
  const guests = Array.from({ length: 8 }, (_, i) => h.addGuest({ name: `g${i}` }));
  const [aId, bId] = h.mediator.partition.sharers(guests[0].vgpu.id);
  return { h, a: guests.find((g) => g.vgpu.id === aId)!, b: guests.find((g) => g.vgpu.id === bId)! };
}

t.test('15 guests on a device that holds 7: each one\'s stores land in its own memory only', (t) => {
  const h = new Harness({ mediator: { gscale: true } });
  const guests = Array.from({ length: 15 }, (_, i) => h.addGuest({ name: `g${i}` }));
  t.equal(h.mediator.partition.groupCount, 7);
  const shared = guests.filter((g) => h.mediator.partition.sharers(g.vgpu.id).length > 1);
  t.equal(shared.length, 15, 'every vGPU shares its slices with at least one other');
  for (const round of [1, 2, 3]) {
    const stores = storeRound(guests, round);
    t.ok(h.runUntilIdle(), `round ${round} finished`);
    for (const s of stores) {
      t.equal(s.g.lastWorkload?.status, 'completed', `${s.g.name} completed`);
      t.equal(s.g.read32(s.buf.gma), s.value, `${s.g.name} reads its own value`);
    }
  }
  // Sharers use the same graphics addresses for different memory.
  const [a, b] = h.mediator.partition.sharers(guests[0].vgpu.id).map((id) => guests.find((g) => g.vgpu.id === id)!);
  const ba = a.buffer(PAGE_SIZE), bb = b.buffer(PAGE_SIZE);
  t.equal(ba.gma, bb.gma, 'the same graphics address in both guests');
  a.submit('rcs', miStoreDataImm(ba.gma, [0xaaaa], { ggtt: true }));
  b.submit('rcs', miStoreDataImm(bb.gma, [0xbbbb], { ggtt: true }));
  t.ok(h.runUntilIdle());
  t.equal(a.read32(ba.gma), 0xaaaa);
  t.equal(b.read32(bb.gma), 0xbbbb);
  t.not(a.vgpu.ggtt.translate(ba.gma), b.vgpu.ggtt.translate(bb.gma), 'backed by different host frames');
  const st = h.mediator.stats;
  t.ok(st.ggttLoads >= 15, `private GGTTs were loaded (${st.ggttLoads} loads)`);
  t.equal(st.ggttEntriesLoaded, st.ggttLoads * (16384 + 98304), 'each load writes the whole slices of a GVTg_V5_8');
  t.equal(st.failed, 0);
  t.end();
});

t.test('load cost: each switch-in costs ggttLoadNsPerEntry per entry of mediation time', (t) => {
  const run = (ns: number): { mediationNs: number; loads: number; entries: number } => {
    const h = new Harness({ mediator: { gscale: true, cost: { ggttLoadNsPerEntry: ns } } });
    const guests = Array.from({ length: 8 }, (_, i) => h.addGuest({ name: `g${i}` }));
    storeRound(guests, 1);
    h.runUntilIdle();
    const s = h.mediator.stats;
    return { mediationNs: s.mediationNs, loads: s.ggttLoads, entries: s.ggttEntriesLoaded };
  };
  const free = run(0), paid = run(3);
  t.equal(free.loads, paid.loads);
  t.equal(paid.mediationNs - free.mediationNs, 3 * paid.entries);
  t.end();
});

t.test('host GGTT and fences hold the resident vGPU\'s; a sharer that is out keeps its own in its private table', (t) => {
  const { h, a, b } = sharedPair();
  const hostFence = a.vgpu.slices.fences[0];
  t.equal(hostFence, b.vgpu.slices.fences[0], 'the fences are shared too');
  // Fence values written while out reach the host fence at switch-in only.
  a.vgpu.mmioWrite(fenceReg(0), 4, 0x1000_0001);
  b.vgpu.mmioWrite(fenceReg(0), 4, 0x2000_0001);
  const buf = a.buffer(PAGE_SIZE);
  a.submit('rcs', miStoreDataImm(buf.gma, [1], { ggtt: true }));
  t.ok(h.runUntilIdle());
  t.ok(a.vgpu.resident && !b.vgpu.resident, 'a was loaded');
  t.equal(h.device.regs.read(fenceReg(hostFence), 4), 0x1000_0001, 'a\'s fence on the host');
  const idx = buf.gma / PAGE_SIZE;
  const hostLoA = h.device.ggtt.lo(idx);
  t.equal(Math.floor(h.device.ggtt.translate(buf.gma) / PAGE_SIZE), Math.floor(a.vgpu.ggtt.translate(buf.gma) / PAGE_SIZE));
  const bufB = b.buffer(PAGE_SIZE);
  b.submit('rcs', miStoreDataImm(bufB.gma, [2], { ggtt: true }));
  t.ok(h.runUntilIdle());
  t.ok(b.vgpu.resident && !a.vgpu.resident, 'b switched in');
  t.equal(h.device.regs.read(fenceReg(hostFence), 4), 0x2000_0001, 'b\'s fence on the host');
  t.not(h.device.ggtt.lo(idx), hostLoA, 'the host entry now names b\'s frame');
  t.ok(b.vgpu.ggtt.ownsFrame(Math.floor(h.device.ggtt.translate(buf.gma) / PAGE_SIZE)), 'owned by b');
  // a, out, still translates its graphics memory through its private table.
  t.equal(a.read32(buf.gma), 1);
  t.ok(a.vgpu.ggtt.ownsFrame(Math.floor(a.vgpu.ggtt.translate(buf.gma) / PAGE_SIZE)));
  t.end();
});

t.test('ladder mapping: a guest that is out reads and writes its own memory through the aperture', (t) => {
  const { h, a, b } = sharedPair();
  const ba = a.buffer(PAGE_SIZE, { mappable: true });
  const bb = b.buffer(PAGE_SIZE, { mappable: true });
  t.equal(ba.gma, bb.gma);
  a.write32(ba.gma, 0x1111);
  b.write32(bb.gma, 0x2222);
  // b runs: the host GGTT holds b's entries.
  b.submit('rcs', miStoreDataImm(bb.gma + 4, [0x2223], { ggtt: true }));
  t.ok(h.runUntilIdle());
  t.ok(b.vgpu.resident && !a.vgpu.resident);
  const bar2 = a.vgpu.pci.barAddress(2);
  t.equal(a.vgpu.stub.read('mem', bar2 + ba.gma, 4), 0x1111, 'a reads its own page through the aperture');
  a.vgpu.stub.write('mem', bar2 + ba.gma + 8, 4, 0x1119);
  t.equal(a.read32(ba.gma + 8), 0x1119, 'a\'s aperture write lands in a\'s memory');
  t.equal(b.read32(bb.gma + 8), 0, 'not in b\'s');
  t.equal(b.vgpu.stub.read('mem', b.vgpu.pci.barAddress(2) + bb.gma + 4, 4), 0x2223);
  // The host-side facade (Vgpu.apertureRead/Write) is ladder-mapped too: it once went through the
  // host GGTT, i.e. into the resident sharer's memory (found by the gtt fuzzer's gScale worlds).
  a.vgpu.apertureWrite(ba.gma + 12, 4, 0xa11a);
  t.equal(a.read32(ba.gma + 12), 0xa11a, 'a\'s apertureWrite lands in a\'s memory');
  t.equal(b.read32(bb.gma + 12), 0, 'not in b\'s (resident)');
  t.equal(a.vgpu.apertureRead(ba.gma, 4), 0x1111, 'a\'s apertureRead reads a\'s page');
  t.equal(a.vgpu.apertureRead(ba.gma + 4094, 4), 0, 'a read crossing into the next page reads what each page holds');
  t.equal(a.vgpu.apertureRead(ba.gma + 8, 8), 0xa11a * 2 ** 32 + 0x1119, 'an 8-byte read');
  t.end();
});

t.test('destroying a sharer that is out leaves the resident\'s entries; reset of one leaves the other', (t) => {
  const { h, a, b } = sharedPair();
  const buf = b.buffer(PAGE_SIZE);
  b.submit('rcs', miStoreDataImm(buf.gma, [7], { ggtt: true }));
  t.ok(h.runUntilIdle());
  const idx = buf.gma / PAGE_SIZE;
  const before = [h.device.ggtt.lo(idx), h.device.ggtt.hi(idx)];
  a.vgpu.reset();
  t.same([h.device.ggtt.lo(idx), h.device.ggtt.hi(idx)], before, 'a\'s reset did not touch b\'s resident entries');
  a.vgpu.destroy();
  t.same([h.device.ggtt.lo(idx), h.device.ggtt.hi(idx)], before, 'nor did its destroy');
  b.submit('rcs', miStoreDataImm(buf.gma + 4, [8], { ggtt: true }));
  t.ok(h.runUntilIdle());
  t.equal(b.read32(buf.gma + 4), 8);
  b.vgpu.destroy();
  t.equal(h.device.ggtt.lo(idx), 0, 'the resident\'s destroy clears its entries');
  t.end();
});

t.test('FIFO dispatch: a resident vGPU with a stream of work does not starve its sharer', (t) => {
  const { h, a, b } = sharedPair();
  // a keeps the render engine busy, one workload after another; b has one blitter workload.
  const bufA = a.buffer(PAGE_SIZE), bufB = b.buffer(PAGE_SIZE);
  a.submit('rcs', miStoreDataImm(bufA.gma, [1], { ggtt: true }));
  h.run(1);
  t.ok(a.vgpu.resident, 'a is resident');
  b.submit('bcs', miStoreDataImm(bufB.gma, [2], { ggtt: true }));
  for (let i = 2; i <= 6; i++) a.submit('rcs', miStoreDataImm(bufA.gma, [i], { ggtt: true }));
  t.ok(h.runUntilIdle());
  const done = h.mediator.history.filter((w) => w.status === 'completed');
  const order = done.map((w) => (w.vgpuId === b.vgpu.id ? 'b' : 'a')).join('');
  // The guest coalesces a's later submissions into fewer workloads; without the rule b ran last.
  t.ok(order.length >= 3 && order.indexOf('b') === 1, `b ran right after the workload a had on the device, before a's later ones (${order})`);
  t.equal(b.read32(bufB.gma), 2);
  t.equal(a.read32(bufA.gma), 6);
  t.end();
});
