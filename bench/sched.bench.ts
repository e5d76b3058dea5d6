/**
 * Scheduler benchmarks.
 * - `sched.switch`: vGPU context switches per host second (`ContextSwitcher.switch` between two
 *   vGPUs whose images differ in every register, on a real Gen9Device register file: dispatch,
 *   mode-mask semantics, handlers) against a bare save/restore copy of the same registers (plain
 *   Uint32Array copies of the same dwords). No target: the ratio is reported.
 * - `sim.15`: simulated seconds per host second of `simulatePolicy` with 15 always-busy vGPUs
 *   under the time-slice policy (selfRatio: the ratio is that figure). Target >= 10.
 */
import { performance } from 'node:perf_hooks';
import { Rng } from '../lib/clock.js';
import { Gen9Device } from '../lib/device/index.js';
import { ContextSwitcher, MS, simulatePolicy, TimeSlicePolicy, type SimVgpu } from '../lib/scheduler/index.js';
import type { BenchCase } from './harness.js';

export function cases(): BenchCase[] {
  const device = new Gen9Device();
  const sw = new ContextSwitcher(device.regs);
  const n = sw.layout.length;
  const rng = new Rng(0xbe4c);
  const imageA = new Uint32Array(n);
  const imageB = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const k = sw.writableMask(i);
    imageA[i] = (rng.nextU32() & k) >>> 0;
    imageB[i] = (~imageA[i] & k) >>> 0; // every writable bit flipped: every register differs
  }
  sw.restore(imageA);
  const raw = device.regs.regs;
  const dwords = Uint32Array.from(sw.layout.offsets, (o) => o >>> 2);
  const rawA = Uint32Array.from(imageA);
  const rawB = Uint32Array.from(imageB);

  const vgpus: SimVgpu[] = Array.from({ length: 15 }, (_, i) => ({
    id: i + 1,
    weight: [2, 4, 8, 16][i % 4],
    work: { durationNs: [200_000, 2_000_000] as const, frameEvery: 4 },
  }));
  const simSeconds = 2;
  const runOnce = (seed: number): number => {
    const t0 = performance.now();
    simulatePolicy(new TimeSlicePolicy(), vgpus, simSeconds * 1000 * MS, { seed });
    return (performance.now() - t0) / 1000;
  };

  return [
    {
      name: 'sched.switch',
      unit: 'switches',
      unitsPerCall: 2,
      fn: () => {
        sw.switch(imageA, imageB);
        sw.switch(imageB, imageA);
      },
      baseline: () => {
        for (let i = 0; i < n; i++) {
          const dw = dwords[i];
          rawA[i] = raw[dw];
          raw[dw] = rawB[i];
        }
        for (let i = 0; i < n; i++) {
          const dw = dwords[i];
          rawB[i] = raw[dw];
          raw[dw] = rawA[i];
        }
      },
    },
    {
      name: 'sim.15',
      unit: 'sim-s',
      unitsPerCall: simSeconds,
      target: 10,
      fn: () => runOnce(1),
      baseline: () => runOnce(1),
      selfRatio: () => {
        runOnce(0); // warm-up
        const rates: number[] = [];
        for (let seed = 1; seed <= 5; seed++) rates.push(simSeconds / runOnce(seed));
        rates.sort((a, b) => a - b);
        return { ops: rates[2], baseline: 1 };
      },
    },
  ];
}
