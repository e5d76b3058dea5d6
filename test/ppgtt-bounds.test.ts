/** The per-vGPU bounds of the shadow PPGTT: cached address spaces and shadow pages. */
import t from 'tap';
import { Harness } from '../lib/harness/index.js';
import { PpgttManager, PPGTT_MODE_L4 } from '../lib/gtt/shadow-ppgtt.js';
import { miStoreDataImm } from '../lib/device/commands/index.js';

t.test('maxMms evicts the least recently used unpinned address space', async (t) => {
  const h = new Harness();
  const g = h.addGuest();
  const m = new PpgttManager(g.vgpu.ept, h.device.hostMemory, { maxMms: 2 });
  const roots = [g.driver.allocRam(1), g.driver.allocRam(1), g.driver.allocRam(1)].map((r) => r);
  const a = m.get(roots[0], PPGTT_MODE_L4);
  m.get(roots[1], PPGTT_MODE_L4);
  t.equal(m.get(roots[0], PPGTT_MODE_L4), a, 'a hit refreshes a');
  m.get(roots[2], PPGTT_MODE_L4);
  t.equal(m.counters.mmsEvicted, 1);
  t.ok(m.find(roots[0], PPGTT_MODE_L4), 'a (recently used) kept');
  t.notOk(m.find(roots[1], PPGTT_MODE_L4), 'the least recently used one evicted');
  // Pinned ones are never evicted: when all are pinned, get refuses.
  m.find(roots[0], PPGTT_MODE_L4)!.acquire();
  m.find(roots[2], PPGTT_MODE_L4)!.acquire();
  t.throws(() => m.get(roots[1], PPGTT_MODE_L4), { code: 'E_NO_RESOURCE' });
  t.throws(() => new PpgttManager(g.vgpu.ept, h.device.hostMemory, { maxMms: 0 }), { code: 'E_CONFIG' });
  m.destroyAll();
  m.dispose();
});

t.test('maxShadowPages: beyond the quota the workload fails with shadow-alloc, the next guest is unaffected', async (t) => {
  const h = new Harness({ mediator: { failsafe: 'never' } });
  const g = h.addGuest({ ramBytes: 16 * 1024 * 1024 });
  const other = h.addGuest();
  const quota = g.vgpu.ppgtt.maxShadowPages;
  t.equal(quota, (16 * 1024 * 1024) / 4096 / 8 + 512);
  // Map one page in each of many 2 MiB regions far apart: every one needs its own PT.
  const gpa = g.driver.allocRam(1);
  for (let i = 0; i < quota + 8; i++) g.ppgtt!.map(0x2_0000_0000 + i * 0x20_0000, gpa, 1);
  g.submitBatch('rcs', miStoreDataImm(0x2_0000_0000, [1]));
  const buf = other.ppgttBuffer(4096);
  other.submitBatch('rcs', miStoreDataImm(buf.gma, [2]));
  t.ok(h.runUntilIdle());
  const w = g.workloads.find((x) => x.status === 'failed');
  t.equal(w?.failure?.rule, 'shadow-alloc', w?.failure?.message ?? 'no failed workload');
  t.ok(g.vgpu.ppgtt.counters.shadowPages <= quota);
  t.equal(other.read32(buf.gma), 2);
});
