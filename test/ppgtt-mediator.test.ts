/**
 * The shadow PPGTT inside the mediator: created on the guest's g2v notification or at the first
 * workload, cached by root, pinned by in-flight workloads, destroyed on request, reset and
 * destroy; guest page-table writes after shadowing are trapped and seen by the next workload.
 */
import t from 'tap';
import { Harness } from '../lib/harness/index.js';
import { miStoreDataImm } from '../lib/device/commands/index.js';
import {
  VGT_PVINFO_PAGE, PVINFO_PDP, PVINFO_G2V_NOTIFY, VGT_G2V_PPGTT_L4_PAGE_TABLE_CREATE, VGT_G2V_PPGTT_L4_PAGE_TABLE_DESTROY,
} from '../lib/mediator/pvinfo.js';

t.test('g2v create shadows ahead of the first workload; the workload reuses it', async (t) => {
  const h = new Harness();
  const g = h.addGuest();
  const buf = g.ppgttBuffer(4096);
  const v = g.vgpu;
  t.equal(v.ppgtt.counters.mms, 0);
  v.mmioWrite(VGT_PVINFO_PAGE + PVINFO_PDP, 4, g.ppgtt!.pml4);
  v.mmioWrite(VGT_PVINFO_PAGE + PVINFO_PDP + 4, 4, 0);
  v.mmioWrite(VGT_PVINFO_PAGE + PVINFO_G2V_NOTIFY, 4, VGT_G2V_PPGTT_L4_PAGE_TABLE_CREATE);
  t.equal(v.ppgtt.counters.mms, 1, 'shadowed on notification');
  const built = v.ppgtt.counters.shadowPagesAllocated;
  g.submitBatch('rcs', miStoreDataImm(buf.gma, [0x1234]));
  t.ok(h.runUntilIdle());
  t.equal(g.read32(buf.gma), 0x1234);
  t.equal(v.ppgtt.counters.mms, 1, 'cached by root');
  t.ok(v.ppgtt.counters.shadowPagesAllocated - built <= 1, 'no rebuild (only the batch’s new PT entries)');
  // A new mapping written after shadowing is trapped and visible to the next workload.
  const traps = v.ppgtt.counters.traps;
  const buf2 = g.ppgttBuffer(4096);
  t.ok(v.ppgtt.counters.traps > traps, 'guest page-table writes were trapped');
  g.submitBatch('rcs', miStoreDataImm(buf2.gma, [0x5678]));
  t.ok(h.runUntilIdle());
  t.equal(g.read32(buf2.gma), 0x5678);
  // Destroy notification: the shadow goes.
  v.mmioWrite(VGT_PVINFO_PAGE + PVINFO_G2V_NOTIFY, 4, VGT_G2V_PPGTT_L4_PAGE_TABLE_DESTROY);
  t.equal(v.ppgtt.counters.mms, 0, 'destroyed on request');
});

t.test('reset and destroy return every shadow page and protection', async (t) => {
  const h = new Harness();
  const base = h.device.hostMemory.allocatedFrames;
  const g = h.addGuest();
  const buf = g.ppgttBuffer(64 * 4096);
  g.submitBatch('rcs', miStoreDataImm(buf.gma, [1]));
  t.ok(h.runUntilIdle());
  t.ok(g.vgpu.ppgtt.counters.mms >= 1);
  t.ok(g.vgpu.ept.protectedFrames > 0, 'guest tables write-protected');
  g.vgpu.reset();
  t.equal(g.vgpu.ppgtt.counters.mms, 0, 'reset destroys every shadow mm');
  t.equal(g.vgpu.ept.protectedFrames, 0, 'and every write protection');
  g.vgpu.destroy();
  t.equal(h.device.hostMemory.allocatedFrames, base, 'destroy returns every host frame');
});
