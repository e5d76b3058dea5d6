/**
 * Memory virtualization end to end through the embedding facade: vGPU creation and exhaustion,
 * the i915-style detection and balloon sequence of a modelled guest, GGTT isolation between two
 * guests, the aperture, PCI config, fences, virtual interrupts, teardown.
 */
import t from 'tap';
import { Gen9Device } from '../lib/device/device.js';
import { fenceReg, gtIer, gtIir, gtImr, REG, Bits, EngineIrq } from '../lib/device/registers.js';
import { GEN9_ENGINES } from '../lib/device/engines.js';
import { SparseGuestMemory } from '../lib/ept/memory.js';
import { GuestDriver, GTT_WINDOW_OFFSET } from '../lib/guest/driver.js';
import { Mediator } from '../lib/mediator/mediator.js';
import { DEFAULT_BAR0_GPA, DEFAULT_BAR2_GPA } from '../lib/mediator/vgpu.js';
import { PTE_PRESENT, pteFrame, pteHi, pteLo } from '../lib/gtt/pte.js';
import { VGT_PVINFO_PAGE, PVINFO_VGT_ID, PVINFO_MAPPABLE_BASE } from '../lib/mediator/pvinfo.js';

const MiB = 1024 * 1024;

function boot(apertureMiB = 512) {
  const device = new Gen9Device({ apertureSize: apertureMiB * MiB, hostMemorySize: 1024 * MiB });
  const mediator = new Mediator(device);
  return { device, mediator };
}

t.test('createVgpu until exhaustion, with an explanatory error; destroy returns everything', async (t) => {
  const { device, mediator } = boot(256);
  const baseline = device.hostMemory.allocatedFrames;
  const a = mediator.createVgpu({ type: 'GVTg_V5_8', memory: new SparseGuestMemory(64 * MiB) });
  const b = mediator.createVgpu({ type: 'GVTg_V5_8', memory: new SparseGuestMemory(64 * MiB) });
  t.equal(a.id, 1);
  t.equal(b.id, 2);
  let err: any;
  try {
    mediator.createVgpu({ type: 'GVTg_V5_8', memory: new SparseGuestMemory(64 * MiB) });
  } catch (e) {
    err = e;
  }
  t.equal(err?.code, 'E_NO_RESOURCE');
  t.equal(err?.resource, 'low-gm');
  t.match(err?.message, /aperture|low/);
  t.match(err?.message, /64 MiB/, 'says by how much');
  a.destroy();
  t.equal(mediator.vgpus.length, 1);
  const c = mediator.createVgpu({ type: 'GVTg_V5_8', memory: new SparseGuestMemory(64 * MiB) });
  t.equal(c.slices.lowBase, a.slices.lowBase, 'the freed slice is reused');
  b.destroy();
  c.destroy();
  t.equal(device.hostMemory.allocatedFrames, baseline, 'no host frame leaked');
  t.same(mediator.availability().find((x) => x.type === 'GVTg_V5_8')?.count, 2);
});

t.test('a modelled guest detects its vGPU and balloons exactly like i915', async (t) => {
  const { mediator } = boot();
  const v = mediator.createVgpu({ type: 'GVTg_V5_4', memory: new SparseGuestMemory(256 * MiB), name: 'linux' });
  const g = new GuestDriver(v, { name: 'linux' });
  t.ok(g.detect(), 'magic and version found');
  t.equal(g.info?.vgtId, v.id);
  t.equal(g.sizeAperture(), 512 * MiB, 'BAR2 sized with the PCI protocol');
  const r = g.balloon();
  t.ok(r.ok);
  if (!r.ok) return;
  t.equal(r.usableLow, 128 * MiB);
  t.equal(r.usableHigh, 512 * MiB);
  // Every allocation lands in the guest's own slices.
  for (let i = 0; i < 20; i++) {
    const low = g.allocGm(3 * MiB, { mappable: true });
    const high = g.allocGm(10 * MiB);
    t.ok(low >= v.slices.lowBase && low + 3 * MiB <= v.slices.lowBase + v.slices.lowSize, 'mappable allocation inside the low slice');
    t.ok(high >= v.slices.highBase && high + 10 * MiB <= v.slices.highBase + v.slices.highSize, 'allocation inside the high slice');
  }
  t.throws(() => g.allocGm(200 * MiB, { mappable: true }), { code: 'E_NO_RESOURCE' });
  // Bare metal: no magic, no vGPU.
  const bare = new GuestDriver({
    mmioRead: () => 0, mmioWrite: () => {}, pciConfigRead: () => 0, pciConfigWrite: () => {}, guestWrite: () => {},
    memory: new SparseGuestMemory(MiB * 2),
  });
  t.notOk(bare.detect());
  t.throws(() => bare.balloon(), { code: 'E_STATE' });
});

t.test('two guests writing the same PTE values reach disjoint host frames', async (t) => {
  const { device, mediator } = boot();
  const va = mediator.createVgpu({ type: 'GVTg_V5_4', memory: new SparseGuestMemory(64 * MiB) });
  const vb = mediator.createVgpu({ type: 'GVTg_V5_4', memory: new SparseGuestMemory(64 * MiB) });
  const ga = new GuestDriver(va);
  const gb = new GuestDriver(vb);
  for (const g of [ga, gb]) {
    g.detect();
    g.balloon();
  }
  const pages = 8;
  const gmaA = ga.allocGm(pages * 4096, { mappable: true });
  const gmaB = gb.allocGm(pages * 4096, { mappable: true });
  // Both guests point their pages at the same guest-physical addresses.
  ga.mapGtt(gmaA, 0x200000, pages);
  gb.mapGtt(gmaB, 0x200000, pages, { halves: true, hiFirst: true });
  const framesA = new Set<number>();
  const framesB = new Set<number>();
  for (let i = 0; i < pages; i++) {
    const ia = gmaA / 4096 + i, ib = gmaB / 4096 + i;
    const loA = device.mmioRead(GTT_WINDOW_OFFSET + ia * 8, 4), hiA = device.mmioRead(GTT_WINDOW_OFFSET + ia * 8 + 4, 4);
    const loB = device.mmioRead(GTT_WINDOW_OFFSET + ib * 8, 4), hiB = device.mmioRead(GTT_WINDOW_OFFSET + ib * 8 + 4, 4);
    t.ok(loA & PTE_PRESENT && loB & PTE_PRESENT);
    framesA.add(pteFrame(loA, hiA));
    framesB.add(pteFrame(loB, hiB));
    // The guest reads back its own value, not the host's.
    t.equal(va.mmioRead(GTT_WINDOW_OFFSET + ia * 8, 4), pteLo(0x200 + i, PTE_PRESENT));
  }
  t.equal(framesA.size, pages);
  for (const f of framesA) t.notOk(framesB.has(f), 'no frame shared');
  // Device writes through the aperture land in the owning guest's RAM only.
  device.apertureWrite(gmaA, 4, 0xaaaa5555);
  t.equal(va.memory.read32(0x200000), 0xaaaa5555);
  t.equal(vb.memory.read32(0x200000), 0);
  // A guest PTE outside its slices is dropped and counted.
  const before = vb.ggtt.counters.outOfSlice;
  gb.writePte(gmaA / 4096, pteLo(0x300, PTE_PRESENT), pteHi(0x300));
  t.equal(vb.ggtt.counters.outOfSlice, before + 1);
  t.equal(pteFrame(device.mmioRead(GTT_WINDOW_OFFSET + (gmaA / 4096) * 8, 4), 0), [...framesA][0], 'A’s entry untouched');
  // A PTE naming a frame beyond guest RAM points at scratch.
  gb.writePte(gmaB / 4096, pteLo(0x7ffff, PTE_PRESENT), 0);
  t.equal(pteFrame(device.mmioRead(GTT_WINDOW_OFFSET + gmaB / 4096 * 8, 4), 0), vb.ggtt.scratchMfn);
});

t.test('aperture pass-through only inside the low slice', async (t) => {
  const { mediator } = boot();
  const v = mediator.createVgpu({ type: 'GVTg_V5_8', memory: new SparseGuestMemory(64 * MiB) });
  const g = new GuestDriver(v);
  g.detect();
  g.balloon();
  const gma = g.allocGm(4096, { mappable: true });
  g.mapGtt(gma, 0x300000, 1);
  v.apertureWrite(gma + 16, 4, 0x12345678);
  t.equal(v.memory.read32(0x300010), 0x12345678, 'aperture write reached guest RAM');
  t.equal(v.apertureRead(gma + 16, 4), 0x12345678);
  // Through the stub at the BAR2 guest-physical placement too.
  t.equal(v.access('mem', DEFAULT_BAR2_GPA + gma + 16, 4, false), 0x12345678);
  // Outside the slice (the host's reservation at 0): dropped.
  v.apertureWrite(0x1000, 4, 1);
  t.equal(v.apertureRead(0x1000, 4), 0);
  t.equal(v.counters.apertureOutside, 2);
});

t.test('PCI config: identity, BAR sizing, relocation moves the stub regions', async (t) => {
  const { device, mediator } = boot();
  const v = mediator.createVgpu({ type: 'GVTg_V5_8', memory: new SparseGuestMemory(64 * MiB) });
  t.equal(v.pciConfigRead(0, 2), 0x8086);
  t.equal(v.pciConfigRead(2, 2), device.pciConfigRead(2, 2));
  t.equal(v.access('pci', 0, 4, false), v.pciConfigRead(0, 4));
  // PVINFO through BAR0 at its guest-physical placement.
  t.equal(v.access('mem', DEFAULT_BAR0_GPA + VGT_PVINFO_PAGE + PVINFO_VGT_ID, 4, false), v.id);
  // Relocate BAR0.
  const NEW = 0x90_0000_0000;
  v.pciConfigWrite(0x10, 4, (NEW % 2 ** 32) | 4);
  v.pciConfigWrite(0x14, 4, Math.floor(NEW / 2 ** 32));
  t.equal(v.access('mem', NEW + VGT_PVINFO_PAGE + PVINFO_VGT_ID, 4, false), v.id, 'BAR0 answers at its new place');
  t.equal(v.access('mem', DEFAULT_BAR0_GPA + VGT_PVINFO_PAGE, 4, false), 0, 'and not at the old one');
  // Memory decode off: nothing answers.
  v.pciConfigWrite(4, 2, 0);
  t.equal(v.access('mem', NEW + VGT_PVINFO_PAGE + PVINFO_VGT_ID, 4, false), 0);
  v.pciConfigWrite(4, 2, 2);
  t.equal(v.access('mem', NEW + VGT_PVINFO_PAGE + PVINFO_VGT_ID, 4, false), v.id);
  // BAR2 placed over BAR0: refused, counted, BAR0 keeps answering.
  v.pciConfigWrite(0x18, 4, (NEW % 2 ** 32) | 0xc);
  v.pciConfigWrite(0x1c, 4, Math.floor(NEW / 2 ** 32));
  t.ok(v.counters.barMovesRefused >= 1);
});

t.test('fences map onto the vGPU’s host fences; beyond its count is refused', async (t) => {
  const { device, mediator } = boot();
  const v = mediator.createVgpu({ type: 'GVTg_V5_8', memory: new SparseGuestMemory(64 * MiB) });
  t.equal(v.slices.fences.length, 4);
  v.mmioWrite(fenceReg(1), 4, 0x00401001);
  t.equal(device.regs.read(fenceReg(v.slices.fences[1]), 4), 0x00401001);
  t.equal(v.mmioRead(fenceReg(1), 4), 0x00401001);
  v.mmioWrite(fenceReg(9), 4, 0xdead0001);
  t.equal(v.mmioRead(fenceReg(9), 4), 0, 'refused');
  t.equal(v.counters.fenceRefused, 1);
  for (let i = 0; i < 32; i++) if (!v.slices.fences.includes(i)) t.equal(device.regs.read(fenceReg(i), 4), 0, `host fence ${i} untouched`);
});

t.test('virtual interrupts reach the emulator only when unmasked and enabled', async (t) => {
  const { mediator } = boot();
  const v = mediator.createVgpu({ type: 'GVTg_V5_8', memory: new SparseGuestMemory(64 * MiB) });
  const seen: number[] = [];
  v.onInterrupt((p) => seen.push(p));
  const rcs = GEN9_ENGINES[0];
  v.irq.raise(rcs, EngineIrq.USER);
  t.same(seen, [], 'IMR masks everything at reset');
  v.mmioWrite(gtImr(0), 4, ~EngineIrq.USER);
  v.mmioWrite(gtIer(0), 4, EngineIrq.USER);
  v.irq.raise(rcs, EngineIrq.USER);
  t.same(seen, [], 'master disabled');
  v.mmioWrite(REG.GEN8_MASTER_IRQ, 4, Bits.GEN8_MASTER_IRQ_CONTROL);
  t.equal(seen.length, 1, 'enabling the master line delivers the pending event');
  t.equal(v.mmioRead(gtIir(0), 4) & EngineIrq.USER, EngineIrq.USER);
  v.mmioWrite(gtIir(0), 4, EngineIrq.USER);
  t.equal(v.mmioRead(gtIir(0), 4), 0, 'IIR is write-1-to-clear');
  t.notOk(v.interruptLine);
});

t.test('PVINFO: read-only fields, failsafe on reserved writes, reset clears it', async (t) => {
  const { mediator } = boot();
  const v = mediator.createVgpu({ type: 'GVTg_V5_8', memory: new SparseGuestMemory(64 * MiB) });
  const other = mediator.createVgpu({ type: 'GVTg_V5_8', memory: new SparseGuestMemory(64 * MiB) });
  const base = v.mmioRead(VGT_PVINFO_PAGE + PVINFO_MAPPABLE_BASE, 4);
  v.mmioWrite(VGT_PVINFO_PAGE + PVINFO_MAPPABLE_BASE, 4, 0);
  t.equal(v.mmioRead(VGT_PVINFO_PAGE + PVINFO_MAPPABLE_BASE, 4), base, 'read-only');
  // Unknown offsets: counted, read 0.
  t.equal(v.mmioRead(0x1ff000, 4), 0);
  t.ok(v.vregs.stats.untrackedReads >= 1);
  t.equal(v.mmioRead(0x300000, 4), 0, 'reserved range');
  t.equal(v.counters.reservedAccesses, 1);
  v.enterFailsafe('test');
  t.equal(v.state, 'failsafe');
  t.equal(other.state, 'active', 'the other vGPU is unaffected');
  v.reset();
  t.equal(v.state, 'active');
  t.equal(v.mmioRead(VGT_PVINFO_PAGE + PVINFO_VGT_ID, 4), v.id);
});

t.test('mmioWrite64 writes exact halves (GGTT entries with high bits, registers)', async (t) => {
  const { device, mediator } = boot();
  const v = mediator.createVgpu({ type: 'GVTg_V5_8', memory: new SparseGuestMemory(64 * MiB) });
  const index = v.slices.lowBase / 4096;
  v.mmioWrite64(GTT_WINDOW_OFFSET + index * 8, pteLo(0x300, PTE_PRESENT) | 0x7, 0xffff_ff01);
  t.equal(v.mmioRead(GTT_WINDOW_OFFSET + index * 8 + 4, 4), 0xffff_ff01, 'the guest reads back its exact high half');
  t.equal(v.mmioRead(GTT_WINDOW_OFFSET + index * 8, 4), (pteLo(0x300, PTE_PRESENT) | 0x7) >>> 0);
  const host = device.mmioRead(GTT_WINDOW_OFFSET + index * 8, 4);
  t.ok((host & PTE_PRESENT) !== 0 && pteFrame(host, 0) === v.ggtt.scratchMfn, 'address bit 32 set: a frame beyond guest RAM points at scratch');
  v.mmioWrite64(fenceReg(0), 0x1000, 0xabcdef01);
  t.equal(device.regs.read(fenceReg(v.slices.fences[0]) + 4, 4), 0xabcdef01, 'a 64-bit fence reaches its host fence exactly');
  v.mmioWrite64(GTT_WINDOW_OFFSET + 4, 1, 1);
  t.equal(v.counters.badAccesses, 1, 'misaligned: refused');
});
