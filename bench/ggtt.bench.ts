/**
 * GGTT benchmarks.
 *
 * - `ggtt.shadow`: trapped guest 8-byte PTE writes through `ShadowGgtt.write64` (present entries
 *   naming valid, already pinned guest frames, cycling over 1024 entries of the vGPU's high
 *   slice), against the raw typed-array write of the same host entries. Target ratio >= 0.2.
 * - `partition.64`: one whole partition of 64 vGPUs (a `GmPartition` built with a 65-id limit and
 *   64 `allocate` calls) per call, against the bare bookkeeping floor: 64 slice records pushed
 *   into an array. No target: the figure is partitions/s (well above 1000, i.e. well under a
 *   millisecond each); the ratio shows the cost of first-fit and the checks over the floor.
 */
import { Ept } from '../lib/ept/ept.js';
import { HostMemory, SparseGuestMemory } from '../lib/ept/memory.js';
import { Ggtt } from '../lib/gtt/ggtt.js';
import { GmPartition, type GmPartitionOptions, type GmSlices } from '../lib/gtt/partition.js';
import { PTE_PRESENT, pteHi, pteLo } from '../lib/gtt/pte.js';
import { ShadowGgtt } from '../lib/gtt/shadow-ggtt.js';
import { MiB, type VgpuType } from '../lib/gtt/vgpu-types.js';
import type { BenchCase } from './harness.js';

const N = 1024;

function shadowCase(): BenchCase {
  const host = new HostMemory();
  const ggtt = new Ggtt(4096 * MiB);
  const part = new GmPartition({ apertureSize: 1024 * MiB });
  const slices = part.allocate(1, 'GVTg_V5_8');
  const ept = new Ept(new SparseGuestMemory(64 * MiB), host, { name: 'bench' });
  const shadow = new ShadowGgtt(ggtt, slices, ept, host, { name: 'bench' });
  const firstIndex = slices.highBase / 4096;
  // Guest PTEs: present, gfn k (k < 1024, inside 64 MiB of guest RAM), a PPAT bit set.
  const los = new Uint32Array(N);
  const his = new Uint32Array(N);
  const offsets = new Int32Array(N);
  for (let k = 0; k < N; k++) {
    los[k] = pteLo(k, PTE_PRESENT | 0x8);
    his[k] = pteHi(k);
    offsets[k] = (firstIndex + k) * 8;
  }
  // Raw: the host PTE values the shadow ends up writing, stored straight into the table.
  for (let k = 0; k < N; k++) shadow.write64(offsets[k], los[k], his[k]);
  const rawLo = new Uint32Array(N);
  const rawHi = new Uint32Array(N);
  for (let k = 0; k < N; k++) {
    rawLo[k] = ggtt.lo(firstIndex + k);
    rawHi[k] = ggtt.hi(firstIndex + k);
  }
  const words = ggtt.words;
  return {
    name: 'ggtt.shadow',
    unit: 'PTE writes',
    unitsPerCall: N,
    fn: () => {
      for (let k = 0; k < N; k++) shadow.write64(offsets[k], los[k], his[k]);
    },
    baseline: () => {
      for (let k = 0; k < N; k++) {
        const i = (firstIndex + k) * 2;
        words[i] = rawLo[k];
        words[i + 1] = rawHi[k];
      }
    },
    target: 0.2,
  };
}

const TINY: VgpuType = { name: 'tiny', lowGmSize: 8 * MiB, highGmSize: 32 * MiB, fences: 4, weight: 1, edid: { width: 1024, height: 768 } };
const P64: GmPartitionOptions = { apertureSize: 1024 * MiB, fences: 260, maxVgpus: 65, types: [TINY] };

function partitionCase(): BenchCase {
  const sink: GmSlices[] = [];
  return {
    name: 'partition.64',
    unit: 'partitions',
    unitsPerCall: 1,
    fn: () => {
      const p = new GmPartition(P64);
      for (let id = 1; id <= 64; id++) p.allocate(id, 'tiny');
      if (p.free().ids !== 0) throw new Error('partition.64: not all placed');
    },
    baseline: () => {
      sink.length = 0;
      let low = 128 * MiB;
      let high = 1408 * MiB;
      for (let id = 1; id <= 64; id++) {
        sink.push({ lowBase: low, lowSize: TINY.lowGmSize, highBase: high, highSize: TINY.highGmSize, fences: [4 * id, 4 * id + 1, 4 * id + 2, 4 * id + 3] });
        low += TINY.lowGmSize;
        high += TINY.highGmSize;
      }
    },
  };
}

export function cases(): BenchCase[] {
  return [shadowCase(), partitionCase()];
}
