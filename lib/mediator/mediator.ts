/**
 * `Mediator`: owns the device, the graphics-memory partition, the vGPU types and the vGPUs.
 *
 * This is the embedding facade's root for an emulator: `new Mediator(device, opts?)`, then
 * `createVgpu({ type, memory })` per guest.
 */
import createDebug from 'debug';
import { ConfigError } from '../errors.js';
import type { Gen9Device } from '../device/device.js';
import type { GuestMemory } from '../ept/memory.js';
import { GmPartition } from '../gtt/partition.js';
import { GEN9_HOST_RESERVATION, GEN9_VGPU_TYPES, GVT_MAX_VGPU, type HostReservation, type VgpuType } from '../gtt/vgpu-types.js';
import { Vgpu } from './vgpu.js';

const log = createDebug('gvtkit:mediator');

/** Options of `Mediator`. */
export interface MediatorOptions {
  /** vGPU id limit including the idle vGPU 0 (default 8 as GVT-g: 7 guests). */
  maxVgpus?: number;
  /** vGPU type table (default GVT-g's Gen9 types). */
  types?: readonly VgpuType[];
  /** Host reservation (default GVT-g's: 128 MiB low, 384 MiB high, 4 fences). */
  hostReservation?: HostReservation;
}

/** What `createVgpu` takes. */
export interface CreateVgpuOptions {
  /** A vGPU type name, e.g. `GVTg_V5_4`. */
  type: string;
  /** The guest's RAM (e.g. `new SparseGuestMemory(bytes)`). */
  memory: GuestMemory;
  /** Name for logs and reports (default `vgpu<N>`). */
  name?: string;
}

export class Mediator {
  readonly device: Gen9Device;
  readonly partition: GmPartition;
  readonly types: readonly VgpuType[];
  private readonly vgpuMap = new Map<number, Vgpu>();

  constructor(device: Gen9Device, opts: MediatorOptions = {}) {
    this.device = device;
    this.types = opts.types ?? GEN9_VGPU_TYPES;
    if (opts.maxVgpus !== undefined && (!Number.isInteger(opts.maxVgpus) || opts.maxVgpus < 2)) {
      throw new ConfigError('maxVgpus', `must be an integer of at least 2 (id 0 is the idle vGPU), got ${opts.maxVgpus}`);
    }
    this.partition = new GmPartition({
      apertureSize: device.apertureSize,
      totalSize: device.graphicsMemorySize,
      fences: 32,
      host: opts.hostReservation ?? GEN9_HOST_RESERVATION,
      maxVgpus: opts.maxVgpus ?? GVT_MAX_VGPU,
      types: this.types,
    });
  }

  /**
   * Create a vGPU of `type` for a guest whose RAM is `memory`. Throws `NoResourceError` naming
   * the short resource, by how much, and which types still fit.
   */
  createVgpu(opts: CreateVgpuOptions): Vgpu {
    const { id, slices } = this.partition.allocateNext(opts.type);
    try {
      const v = new Vgpu({
        id,
        name: opts.name ?? `vgpu${id}`,
        type: this.partition.type(opts.type),
        slices,
        memory: opts.memory,
        device: this.device,
        onDestroy: (x) => this.release(x),
      });
      this.vgpuMap.set(id, v);
      log('created %s (%s): low 0x%s+%d MiB, high 0x%s+%d MiB', v.name, opts.type,
        slices.lowBase.toString(16), slices.lowSize >>> 20, slices.highBase.toString(16), slices.highSize >>> 20);
      return v;
    } catch (e) {
      this.partition.release(id);
      throw e;
    }
  }

  /** The live vGPUs, by id order. */
  get vgpus(): Vgpu[] {
    return [...this.vgpuMap.values()].sort((a, b) => a.id - b.id);
  }

  /** The vGPU with `id`, if live. */
  vgpu(id: number): Vgpu | undefined {
    return this.vgpuMap.get(id);
  }

  /** How many more vGPUs of each type fit now. */
  availability(): { type: string; count: number }[] {
    return this.partition.availability();
  }

  /** Advance simulated time by `ns`. */
  run(ns: number): void {
    this.device.run(ns);
  }

  /** Advance simulated time until no work is pending. */
  runUntilIdle(): void {
    this.device.runUntilIdle();
  }

  private release(v: Vgpu): void {
    this.vgpuMap.delete(v.id);
    this.partition.release(v.id);
    log('destroyed %s', v.name);
  }
}
