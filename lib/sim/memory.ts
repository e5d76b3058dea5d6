/**
 * What an idle vGPU costs the process: create idle guests (detected and ballooned by the modelled
 * driver, nothing submitted) and divide the growth of the JavaScript heap and of the array
 * buffers by their number. That growth includes each guest's sparse RAM object (the emulator's,
 * not the mediator's: its page index costs 4 bytes per guest page), measured apart and
 * subtracted for `vgpuBytes`.
 *
 * A host measurement, not a simulated one: it is printed apart from the deterministic figures,
 * never written into a result's JSON.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SparseGuestMemory } from '../ept/memory.js';
import { Harness } from '../harness/index.js';

const MiB = 1024 * 1024;

/** Options of `measureIdleVgpus`. */
export interface IdleCostOptions {
  /** Idle vGPUs created for the measurement (default 32). */
  count?: number;
  /** vGPU type (default `GVTg_V5_8`). */
  type?: string;
  /** Guest RAM per vGPU, MiB (default 512). */
  ramMiB?: number;
  /** Device host memory, MiB (default 1024). */
  hostMemoryMiB?: number;
  /** Device aperture, MiB (default 1024). */
  apertureMiB?: number;
  /** Share graphics memory with gScale (default true: without it only 7 such vGPUs fit). */
  gscale?: boolean;
  /**
   * A full garbage collection (e.g. `globalThis.gc` under `--expose-gc`), run before each reading
   * so that garbage is not counted; without it the heap figure includes some.
   */
  gc?: () => void;
}

/** Result of `measureIdleVgpus`. */
export interface IdleCost {
  vgpus: number;
  type: string;
  ramMiB: number;
  /** Heap growth per vGPU, bytes. */
  heapPerVgpu: number;
  /** Array-buffer growth per vGPU (typed arrays, guest and host pages), bytes. */
  arrayBuffersPerVgpu: number;
  /** Their sum: a guest with its vGPU. */
  bytesPerVgpu: number;
  /** Of which the guest's sparse RAM object (measured alone), bytes. */
  guestRamBytes: number;
  /** The rest: what the vGPU itself costs (mediator state, shadow tables, registers), bytes. */
  vgpuBytes: number;
  /** Host frames of the device in use after creating them. */
  hostFramesInUse: number;
  /** True when readings followed a forced garbage collection. */
  gcForced: boolean;
}

/** Measure the process memory an idle vGPU costs (see the module comment). */
export function measureIdleVgpus(opts: IdleCostOptions = {}): IdleCost {
  const count = opts.count ?? 32;
  const type = opts.type ?? 'GVTg_V5_8';
  const ramMiB = opts.ramMiB ?? 512;
  const h = new Harness({
    device: { apertureSize: (opts.apertureMiB ?? 1024) * MiB, hostMemorySize: (opts.hostMemoryMiB ?? 1024) * MiB, traceLimit: 0 },
    mediator: { gscale: opts.gscale ?? true, maxVgpus: Math.max(count + 2, 8) },
  });
  // One guest first: tables built once per process (register kinds, command tables) are not per vGPU.
  h.addGuest({ type, ramBytes: ramMiB * MiB, name: 'warm-up' });
  const read = (): { heap: number; ab: number } => {
    // Array buffers freed by one collection may be released only by the next: collect until the
    // figure is stable (at most four times).
    if (opts.gc) {
      let last = -1;
      for (let k = 0; k < 4 && process.memoryUsage().arrayBuffers !== last; k++) {
        last = process.memoryUsage().arrayBuffers;
        opts.gc();
      }
    }
    const m = process.memoryUsage();
    return { heap: m.heapUsed, ab: m.arrayBuffers };
  };
  const before = read();
  for (let i = 0; i < count; i++) h.addGuest({ type, ramBytes: ramMiB * MiB, name: `idle${i}` });
  const after = read();
  const rams: SparseGuestMemory[] = [];
  for (let i = 0; i < count; i++) rams.push(new SparseGuestMemory(ramMiB * MiB));
  const afterRams = read();
  const heapPerVgpu = Math.max(0, after.heap - before.heap) / count;
  const arrayBuffersPerVgpu = Math.max(0, after.ab - before.ab) / count;
  const guestRamBytes = Math.max(0, afterRams.heap + afterRams.ab - after.heap - after.ab) / rams.length;
  const bytesPerVgpu = heapPerVgpu + arrayBuffersPerVgpu;
  return {
    vgpus: count, type, ramMiB, heapPerVgpu, arrayBuffersPerVgpu, bytesPerVgpu, guestRamBytes,
    vgpuBytes: Math.max(0, bytesPerVgpu - guestRamBytes), hostFramesInUse: h.device.hostMemory.allocatedFrames,
    gcForced: opts.gc !== undefined,
  };
}

/**
 * A full garbage collection for `measureIdleVgpus`: `globalThis.gc` when node runs with
 * `--expose-gc`, else V8's flag set at run time (the function comes from a fresh context, which
 * sees it); undefined if neither works.
 */
export function exposedGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}
