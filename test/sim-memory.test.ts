// Memory at scale: 32 vGPUs with 512 MiB guests in 1 GiB of host memory; an idle vGPU's cost.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { exposedGc, measureIdleVgpus } from '../lib/sim/memory.js';
import { parseScenario } from '../lib/sim/scenario.js';
import { runScenario } from '../lib/sim/runner.js';

const MiB = 1024 * 1024;

t.test('an idle vGPU costs at most 8 MiB of process memory (512 MiB guests, gScale)', (t) => {
  const r = measureIdleVgpus({ count: 16, gc: exposedGc() });
  t.ok(r.gcForced, 'readings after a full collection');
  t.ok(r.vgpuBytes > 1 * MiB, `a vGPU is measured at all (${(r.vgpuBytes / MiB).toFixed(2)} MiB)`);
  t.ok(r.vgpuBytes <= 8 * MiB, `vGPU ${(r.vgpuBytes / MiB).toFixed(2)} MiB <= 8 MiB`);
  t.ok(r.guestRamBytes < r.bytesPerVgpu, 'the guest RAM object is part of the growth, not all of it');
  t.ok(r.hostFramesInUse < (1024 * MiB) / 4096 / 4, `idle guests hold few host frames (${r.hostFramesInUse})`);
  t.end();
});

t.test('scale-32: 32 vGPUs with 512 MiB guests run in 1 GiB of host memory with gScale', (t) => {
  const sc = parseScenario(readFileSync('fixtures/scenarios/scale-32.json', 'utf8'), 'scale-32.json');
  t.equal(sc.vgpus.length, 32);
  t.ok(sc.vgpus.every((v) => v.ramMiB === 512), '512 MiB guests');
  t.equal(sc.device.hostMemoryMiB, 1024);
  const { result } = runScenario(sc, { durationMs: 120, trace: false, mediator: { gscale: true } });
  t.equal(result.totals.created, 32, 'all 32 created');
  t.ok(result.vgpus.every((v) => v.state === 'active' && v.workloads > 0), 'every guest ran work');
  t.equal(result.totals.refused, 0);
  t.ok(result.totals.hostMemoryPeakMiB <= 1024 && result.totals.hostMemoryPeakMiB > 0, `host memory peak ${result.totals.hostMemoryPeakMiB} MiB`);
  const plain = runScenario(sc, { durationMs: 10, trace: false, mediator: { gscale: false } }).result;
  t.equal(plain.totals.created, 7, 'without gScale 7 fit');
  t.end();
});
