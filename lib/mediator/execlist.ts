/**
 * Execlist emulation of one engine of one vGPU (GVT-g `gvt/execlist.c`).
 *
 * The guest writes four dwords to its ELSP (element 1 high, element 1 low, element 0 high,
 * element 0 low); the fourth write submits. Each valid element becomes a workload. The guest's
 * virtual execlist status and context-status buffer advance as the workloads run, with the same
 * events the device writes: idle-to-active when a list is scheduled in, element-switch|complete
 * between its two elements, complete|active-to-idle at its end (then idle-to-active again when a
 * queued list follows). Each CSB event raises the vGPU's context-switch interrupt and, when the
 * guest set a hardware status page, is mirrored there (HWSP emulation, PVINFO cap bit 3).
 */
import createDebug from 'debug';
import { CtxStatus, Desc, HWS_CSB_BUF0_INDEX, HWS_CSB_WRITE_INDEX } from '../device/lrc.js';
import { Bits, EngineIrq, RING } from '../device/registers.js';
import { GEN9_ENGINES, type EngineInfo } from '../device/engines.js';
import type { HandlerRow, RegisterFile } from '../mmio/index.js';
import type { Workload } from './workload.js';

const log = createDebug('gvtkit:execlist');

/** What the execlist needs from its vGPU. */
export interface ExeclistHost {
  readonly name: string;
  readonly vregs: RegisterFile;
  /** Write a dword of guest graphics memory through the vGPU's GGTT view (false: unmapped). */
  writeGuestGma32(gma: number, value: number): boolean;
  /** Raise a virtual engine interrupt. */
  raise(engine: EngineInfo, bits: number): void;
  /** Create workloads for a submitted list: returns them (element 0 first), or null when refused. */
  createWorkloads(engine: EngineInfo, elements: readonly [number, number][]): Workload[] | null;
}

/** Counters of one virtual execlist. */
export interface ExeclistCounters {
  submissions: number;
  /** Submissions refused (queue full, bad descriptor). */
  refused: number;
  csbEvents: number;
}

export class VirtualExeclist {
  readonly engine: EngineInfo;
  readonly counters: ExeclistCounters = { submissions: 0, refused: 0, csbEvents: 0 };
  /** The running list's workloads (1 or 2) and the queued list. */
  running: Workload[] | null = null;
  pending: Workload[] | null = null;
  private readonly host: ExeclistHost;
  private readonly elsp = new Uint32Array(4);
  private elspIndex = 0;
  private slot = 0;

  constructor(host: ExeclistHost, engine: EngineInfo) {
    this.host = host;
    this.engine = engine;
  }

  /** Reset (vGPU or engine reset): lists dropped, pointer back to its reset value 7. */
  reset(): void {
    this.running = null;
    this.pending = null;
    this.elspIndex = 0;
    this.slot = 0;
    const regs = this.host.vregs;
    regs.poke(this.engine.mmioBase + RING.CSB_PTR, 0x0707);
    this.updateStatus();
  }

  /** A guest ELSP write (row of `VIRTUAL_EXECLIST_ROWS`): the fourth dword submits. */
  elspWritten(value: number): void {
    this.elsp[this.elspIndex++] = value;
    if (this.elspIndex < 4) return;
    this.elspIndex = 0;
    const e = this.elsp;
    this.submit(e[3], e[2], e[1], e[0]);
  }

  /** A complete ELSP submission. */
  submit(lo0: number, hi0: number, lo1: number, hi1: number): void {
    this.counters.submissions++;
    if ((lo0 & Desc.VALID) === 0 || this.pending !== null) {
      this.counters.refused++;
      log('%s/%s: submission refused (%s)', this.host.name, this.engine.name, this.pending ? 'queue full' : 'element 0 invalid');
      return;
    }
    const elements: [number, number][] = [[lo0 >>> 0, hi0 >>> 0]];
    if ((lo1 & Desc.VALID) !== 0) elements.push([lo1 >>> 0, hi1 >>> 0]);
    const list = this.host.createWorkloads(this.engine, elements);
    if (!list) {
      this.counters.refused++;
      return;
    }
    if (this.running === null) {
      this.running = list;
      this.csb(CtxStatus.IDLE_TO_ACTIVE, 0);
    } else {
      this.pending = list;
    }
    this.updateStatus();
  }

  /** A workload of the running list finished (completed or failed): advance the CSB. */
  complete(w: Workload): void {
    const run = this.running;
    if (!run) return;
    const idx = run.indexOf(w);
    if (idx < 0) return;
    if (idx === 0 && run.length === 2) {
      this.csb(CtxStatus.ELEMENT_SWITCH | CtxStatus.COMPLETE, w.contextId);
      run.shift();
      this.updateStatus();
      return;
    }
    run.length = 0;
    if (this.pending) {
      this.running = this.pending;
      this.pending = null;
      this.slot ^= 1;
      this.csb(CtxStatus.COMPLETE | CtxStatus.ACTIVE_TO_IDLE, w.contextId);
      this.csb(CtxStatus.IDLE_TO_ACTIVE, 0);
    } else {
      this.running = null;
      this.csb(CtxStatus.COMPLETE | CtxStatus.ACTIVE_TO_IDLE, w.contextId);
    }
    this.updateStatus();
  }

  /** True when `w` is the element the guest sees executing (head of the running list). */
  isActive(w: Workload): boolean {
    return this.running !== null && this.running[0] === w;
  }

  private csb(status: number, contextId: number): void {
    const regs = this.host.vregs;
    const base = this.engine.mmioBase;
    const ptrReg = base + RING.CSB_PTR;
    const ptr = regs.peek(ptrReg);
    const old = ptr & Bits.CSB_WRITE_PTR_MASK;
    const wp = old === 7 ? 0 : (old + 1) % 6;
    regs.poke(base + RING.CSB0_LO + 8 * wp, status >>> 0);
    regs.poke(base + RING.CSB0_LO + 8 * wp + 4, contextId >>> 0);
    regs.poke(ptrReg, ((ptr & ~Bits.CSB_WRITE_PTR_MASK) | wp) >>> 0);
    const hws = regs.peek(base + RING.HWS_PGA) & 0xfffff000;
    if (hws !== 0) {
      this.host.writeGuestGma32(hws + (HWS_CSB_BUF0_INDEX + 2 * wp) * 4, status >>> 0);
      this.host.writeGuestGma32(hws + (HWS_CSB_BUF0_INDEX + 2 * wp + 1) * 4, contextId >>> 0);
      this.host.writeGuestGma32(hws + HWS_CSB_WRITE_INDEX * 4, wp);
    }
    this.counters.csbEvents++;
    this.host.raise(this.engine, EngineIrq.CONTEXT_SWITCH);
  }

  /** The guest's RING_EXECLIST_STATUS (layout of GVT-g `execlist_status_format`). */
  private updateStatus(): void {
    const regs = this.host.vregs;
    const base = this.engine.mmioBase;
    const run = this.running;
    let lo = (this.slot & 1) | (((this.slot ^ 1) & 1) << 1);
    if (this.pending) lo |= 1 << 2;
    if (run && run.length === 2) lo |= 1 << 3;
    if (run) lo |= (1 << 4) | (1 << 18);
    regs.poke(base + RING.EXECLIST_STATUS_LO, lo >>> 0);
    regs.poke(base + RING.EXECLIST_STATUS_HI, run ? run[0].contextId >>> 0 : 0);
  }
}

/** What the virtual execlist rows need of their register file's context (a `Vgpu`). */
export interface ExeclistRowsContext {
  /** Execlist emulation per engine, indexed like `GEN9_ENGINES`. */
  readonly execlists: readonly VirtualExeclist[];
}

/**
 * The handler rows of the virtual execlist, in the vGPU's table: each engine's ELSP (GVT-g
 * `elsp_mmio_write`). The status and CSB registers need none: the register table marks them
 * read-only (GVT-g `F_RO`), so a guest write leaves them as they are.
 */
export const VIRTUAL_EXECLIST_ROWS: readonly HandlerRow<ExeclistRowsContext>[] = Object.freeze(GEN9_ENGINES.map((e): HandlerRow<ExeclistRowsContext> => {
  const id = e.id;
  return {
    at: e.mmioBase + RING.ELSP, owner: 'mediator/execlist', doc: 'reads 0; the fourth dword written submits the list as workloads',
    read: () => 0,
    write: (c, _o, value) => c.execlists[id].elspWritten(value),
  };
}));
