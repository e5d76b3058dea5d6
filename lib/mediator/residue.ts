/**
 * `RegisterResidue`: what one vGPU's commands leave in the device's registers never reaches
 * another vGPU.
 *
 * The rule (docs/isolation.md): every register a guest's commands can load and read back (the
 * table's `CMD_ACCESS` registers: GPRs, predicate sources, pipeline statistics, PS_DEPTH_COUNT,
 * MOCS, chicken bits...) is either restored from the context image at every context load
 * (`CONTEXT_IMAGE_REGISTERS` in lib/device/lrc.ts) or saved and restored per vGPU here. The
 * mediator calls `switchTo` before it dispatches a workload, with no other vGPU's work on the
 * device, so the whole device is switched at once (the GT-wide registers too).
 *
 * Modelled on GVT-g's `intel_gvt_switch_mmio` (`gvt/mmio_context.c`), which `gvt/scheduler.c`
 * calls when a workload's vGPU is not the engine's owner (`scheduler->engine_owner`). Differences:
 * - The layout is derived from the register table (`buildCommandAccessLayout`), not a list.
 * - GVT-g's own list restores each vGPU's virtual register values (`vgpu_vreg`); for the
 *   registers of that list (`GEN9_SWITCH_LAYOUT`) the image takes the incoming vGPU's vregs too,
 *   so the mediator and the time-slice scheduler agree; the others (GPRs, counters...) restore
 *   what the device held when the vGPU last left it.
 * - A vGPU starts from the host's values at the mediator's creation (never a former guest's).
 *
 * Also here: command reads of the ring's page-directory pointers. While a workload runs, the
 * device's PDP registers hold the roots of the shadow PPGTT (host-physical addresses). A guest's
 * MI_STORE_REGISTER_MEM or MI_LOAD_REGISTER_REG of a PDP reads the guest's own root instead
 * (GVT-g keeps PDP reads away from commands with its SRM/LRR short lists; gvtkit's default parser
 * policy lets SRM follow the whitelist, so the value is virtualized instead).
 */
import createDebug from 'debug';
import type { Gen9Device, PdpReadHook } from '../device/device.js';
import { ContextSwitcher, GEN9_SWITCH_LAYOUT, buildCommandAccessLayout, type SwitchLayout } from '../scheduler/context-switch.js';
import { TWO_POW_32 } from '../types.js';
import type { Vgpu } from './vgpu.js';
import type { Workload } from './workload.js';

const log = createDebug('gvtkit:residue');

/** The command-accessible registers outside the context image, compiled once (`buildCommandAccessLayout`). */
export const COMMAND_ACCESS_LAYOUT: SwitchLayout = buildCommandAccessLayout();

/** Saves and restores the command-accessible registers per vGPU (see the module comment). */
export class RegisterResidue {
  readonly layout: SwitchLayout;
  /** The vGPU whose values the device's registers hold (-1: the host's). */
  owner = -1;
  /** Owner changes performed. */
  switches = 0;
  /** Register reads and writes of the last switch. */
  lastReads = 0;
  lastWrites = 0;

  private readonly switcher: ContextSwitcher;
  private readonly images = new Map<number, Uint32Array>();
  /** The host's values at creation: every vGPU's first image. */
  private readonly hostImage: Uint32Array;
  /** Where the owner's values go when it has no image any more (destroyed, reset). */
  private readonly discard: Uint32Array;
  /** Slots of GVT-g's engine list: restored from the incoming vGPU's virtual registers. */
  private readonly vregSlots: Uint32Array;
  /**
   * Another switcher (the time-slice scheduler's) loaded the listed registers with the values of a
   * vGPU other than `owner` since the last switch: the owner's next dispatch reloads them.
   */
  private listedStale = false;

  constructor(device: Gen9Device, layout: SwitchLayout = COMMAND_ACCESS_LAYOUT) {
    this.layout = layout;
    this.switcher = new ContextSwitcher(device.regs, { layout });
    this.hostImage = this.switcher.newImage();
    this.discard = new Uint32Array(layout.length);
    const listed = new Set(GEN9_SWITCH_LAYOUT.offsets);
    const slots: number[] = [];
    for (let i = 0; i < layout.length; i++) if (listed.has(layout.offsets[i])) slots.push(i);
    this.vregSlots = Uint32Array.from(slots);
  }

  /** Start keeping an image for vGPU `id` (the host's values). */
  add(id: number): void {
    this.images.set(id, this.hostImage.slice());
  }

  /** vGPU `id` is gone: its image is dropped; its values stay on the device until the next switch overwrites them all. */
  remove(id: number): void {
    this.images.delete(id);
    if (this.owner === id) this.owner = -1;
  }

  /** vGPU `id` was reset: it starts again from the host's values. */
  reset(id: number): void {
    const img = this.images.get(id);
    if (!img) return;
    img.set(this.hostImage);
    // Its values on the device are no longer its own: the next dispatch restores the reset image.
    if (this.owner === id) this.owner = -1;
  }

  /**
   * The time-slice scheduler's `ContextSwitcher` loaded vGPU `id`'s virtual register values of
   * GVT-g's switch list (`GEN9_SWITCH_LAYOUT`) into the device. When `id` is not the owner, the
   * device's listed registers no longer hold the owner's values: the owner's next `switchTo`
   * reloads them instead of returning early (else a vGPU switched to by the scheduler and then
   * gone, destroyed or reset before it dispatched, would leave its MOCS/L3CC values to the owner).
   */
  listedLoaded(id: number): void {
    if (id !== this.owner) this.listedStale = true;
  }

  /**
   * Make `v` the owner of the device's registers: save the outgoing owner's values, restore `v`'s.
   * Call only with no other vGPU's work on the device. Returns the modelled cost in ns (0 when `v`
   * already owns them).
   */
  switchTo(v: Vgpu): number {
    if (this.owner === v.id && !this.listedStale) return 0;
    let into = this.images.get(v.id);
    if (!into) {
      into = this.hostImage.slice();
      this.images.set(v.id, into);
    }
    let out = this.owner >= 0 ? this.images.get(this.owner) ?? this.discard : this.discard;
    let reads = 0;
    if (this.owner === v.id) {
      // Still the owner, but another switcher rewrote the listed registers (`listedLoaded`): the
      // device holds the owner's other values; save them, then reload the listed ones.
      this.switcher.switch(into, null);
      reads = this.switcher.lastReads;
      out = this.discard;
    }
    this.listedStale = false;
    const offsets = this.layout.offsets;
    for (let k = 0; k < this.vregSlots.length; k++) {
      const i = this.vregSlots[k];
      into[i] = (v.vregs.peek(offsets[i]) & this.switcher.writableMask(i)) >>> 0;
    }
    const writes = this.switcher.switch(out, into);
    this.lastReads = reads + this.switcher.lastReads;
    this.lastWrites = writes;
    this.switches++;
    log('registers %d → %d: %d read, %d written', this.owner, v.id, this.lastReads, writes);
    this.owner = v.id;
    const c = this.switcher.cost;
    return c.perRegisterReadNs * this.lastReads + c.perRegisterWriteNs * writes;
  }

  /**
   * The device's PDP read policy (`Gen9Device.pdpReadHook`, a row of its handler table): command
   * reads of an engine's PDP registers see the guest's own roots while a workload runs on it
   * (`inflight(engineId)`), the stored value otherwise.
   */
  static pdpReadHook(inflight: (engineId: number) => Workload | null): PdpReadHook {
    return (engineId, dword, stored) => {
      const w = inflight(engineId);
      if (w === null) return stored;
      const root = w.pdps[dword >>> 1] ?? 0;
      return ((dword & 1) === 0 ? root % TWO_POW_32 : Math.floor(root / TWO_POW_32)) >>> 0;
    };
  }
}
