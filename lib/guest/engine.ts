/**
 * A guest's use of one engine, as i915's execlists backend does it: a logical ring context image
 * and a ring buffer in graphics memory (GGTT-mapped guest RAM), commands appended at the ring
 * tail, the context's RING_TAIL updated, then the descriptor written to the ELSP.
 */
import { encodeDescriptor, writeContextImage, CtxReg, AddressingMode, type GraphicsMemoryView } from '../device/lrc.js';
import type { EngineInfo } from '../device/engines.js';
import { RING, Bits } from '../device/registers.js';
import { PAGE_SIZE } from '../types.js';
import { StateError } from '../errors.js';
import type { GuestDriver } from './driver.js';
import type { GuestPpgtt } from './ppgtt.js';
import {
  ctxWorkaroundsLri, EmitMode, gen8EmitFiniBreadcrumb, gen8EmitFlush, gen8EmitInitBreadcrumb, mocsControlLri, mocsL3ccLri,
  renderStateEmit, renderStateSetup, sklCtxWorkarounds, type SklWorkaroundOptions,
} from './i915-context.js';
import { EngineClass } from '../device/commands/engines.js';

/** A GGTT-mapped guest buffer: its graphics address and the guest RAM behind it. */
export interface GuestBuffer {
  gma: number;
  gpa: number;
  bytes: number;
}

/** Options of `GuestEngine`. */
export interface GuestEngineOptions {
  /** Ring size in bytes (default 16 KiB). */
  ringBytes?: number;
  /** The context's PPGTT (default: none, a GGTT-only context). */
  ppgtt?: GuestPpgtt | null;
  /** Context id in the descriptor (default: 0x100 + engine id). */
  contextId?: number;
  /** Also point the engine's hardware status page at a guest page (default true). */
  hwsp?: boolean;
}

/** Byte offset of the request seqno slot in the status page (`I915_GEM_HWS_SEQNO_ADDR`, dword 0x40). */
export const HWS_SEQNO_ADDR = 0x40 * 4;

/** Options of `GuestEngine.setupContext`. */
export interface ContextSetupOptions {
  /** Run the null render-state batch on the render engine (default true). */
  renderState?: boolean;
  /** Program the engine's MOCS table (and on render the L3 table) with LRIs (default true). */
  mocs?: boolean;
  /** Emit the render context workarounds (default true). */
  workarounds?: boolean | SklWorkaroundOptions;
}

export class GuestEngine {
  readonly driver: GuestDriver;
  readonly engine: EngineInfo;
  readonly context: GuestBuffer;
  readonly ring: GuestBuffer;
  readonly hwsp: GuestBuffer | null;
  readonly contextId: number;
  readonly ppgtt: GuestPpgtt | null;
  /** Ring tail (bytes). */
  tail = 0;
  /** Submissions made. */
  submissions = 0;
  /** Seqno of the last request built with `request()`. */
  seqno = 0;

  constructor(driver: GuestDriver, engine: EngineInfo, opts: GuestEngineOptions = {}) {
    this.driver = driver;
    this.engine = engine;
    this.ppgtt = opts.ppgtt ?? null;
    this.contextId = opts.contextId ?? 0x100 + engine.id;
    this.context = driver.allocBuffer(engine.contextPages * PAGE_SIZE);
    this.ring = driver.allocBuffer(opts.ringBytes ?? 16 * 1024);
    this.hwsp = opts.hwsp === false ? null : driver.allocBuffer(PAGE_SIZE);
    const bus = driver.bus;
    // Execlists on, as i915 does after detecting the vGPU (mode-mask write).
    bus.mmioWrite(engine.mmioBase + RING.GFX_MODE, 4, (Bits.GFX_RUN_LIST_ENABLE << 16) | Bits.GFX_RUN_LIST_ENABLE);
    if (this.hwsp) bus.mmioWrite(engine.mmioBase + RING.HWS_PGA, 4, this.hwsp.gma);
    writeContextImage(this.view(), this.context.gma, engine, {
      ringStart: this.ring.gma,
      ringSize: this.ring.bytes,
      head: 0,
      tail: 0,
      pdps: this.ppgtt ? [this.ppgtt.pml4] : [],
    });
  }

  /** A view of the guest's own GGTT-mapped memory (through its knowledge of its mapping). */
  view(): GraphicsMemoryView {
    return {
      read32: (gma) => this.driver.readRam32(this.driver.gpaOfGma(gma)),
      write32: (gma, value) => this.driver.writeRam32(this.driver.gpaOfGma(gma), [value]),
    };
  }

  /** GGTT address of the request seqno slot in the status page (-1 without one). */
  get seqnoSlot(): number {
    return this.hwsp ? this.hwsp.gma + HWS_SEQNO_ADDR : -1;
  }

  /** The last seqno the engine wrote to the status page (0 before any, -1 without a status page). */
  get completedSeqno(): number {
    return this.hwsp ? this.driver.readRam32(this.hwsp.gpa + HWS_SEQNO_ADDR) : -1;
  }

  /**
   * Emit one i915 request around `payload` and submit it, as i915's execlists backend lays a
   * request out in the ring (`gt/gen8_engine_cs.c`): the initial breadcrumb (seqno - 1 to the
   * status page), a cache and TLB invalidation (`emit_flush(EMIT_INVALIDATE)`), the payload, and
   * the final breadcrumb (flush, seqno write, user interrupt). Returns the request's seqno.
   */
  request(payload: ArrayLike<number>): number {
    if (!this.hwsp) throw new StateError(`${this.driver.name}: ${this.engine.name} has no status page for breadcrumbs`);
    const seqno = ++this.seqno;
    const slot = this.seqnoSlot;
    this.emit([
      ...gen8EmitInitBreadcrumb(slot, seqno),
      ...gen8EmitFlush(this.engine, EmitMode.INVALIDATE),
      ...Array.from(payload),
      ...gen8EmitFiniBreadcrumb(this.engine, slot, seqno),
    ]);
    this.submit();
    return seqno;
  }

  /**
   * What i915 runs in a new context of this engine before any user batch
   * (`__engines_record_defaults`, whose image every later context starts from): on render, the
   * context workarounds (`intel_engine_emit_ctx_wa`), the MOCS and L3 cache-control tables, and
   * the Gen9 null render-state batch from the GGTT (`intel_renderstate_emit`, a secure dispatch);
   * on the other engines their MOCS table. One request; returns its seqno.
   */
  setupContext(opts: ContextSetupOptions = {}): number {
    const payload: number[] = [];
    const render = this.engine.engineClass === EngineClass.RCS;
    if (render && opts.workarounds !== false) {
      payload.push(...ctxWorkaroundsLri(this.engine, sklCtxWorkarounds(typeof opts.workarounds === 'object' ? opts.workarounds : {})));
    }
    if (opts.mocs !== false) {
      payload.push(...mocsControlLri(this.engine));
      if (render) payload.push(...mocsL3ccLri());
    }
    if (render && opts.renderState !== false) {
      // i915 pins the object in the GGTT (PIN_GLOBAL | PIN_HIGH): the guest's high graphics memory.
      const obj = this.driver.allocBuffer(PAGE_SIZE);
      const so = renderStateSetup(obj.gma);
      this.driver.writeRam32(obj.gpa, so.dwords);
      payload.push(...renderStateEmit(so, { secure: true }));
    }
    return this.request(payload);
  }

  /** Append commands at the ring tail (wrapping), padded to a qword with MI_NOOP. */
  emit(commands: ArrayLike<number>): void {
    const n = commands.length + (commands.length & 1);
    const dwords = new Uint32Array(n);
    dwords.set(Array.from(commands, (x) => x >>> 0));
    for (let i = 0; i < n; i++) {
      this.driver.writeRam32(this.ring.gpa + this.tail, [dwords[i]]);
      this.tail = (this.tail + 4) % this.ring.bytes;
    }
  }

  /**
   * Update the context's RING_TAIL and submit the context through the ELSP. When both execlist
   * ports are busy (EXECLIST_STATUS reports a queued list), the submission is deferred, as
   * i915's tasklet does, and made by `service()` once a context-status event frees a port; the
   * new tail then covers every command emitted meanwhile.
   */
  submit(): void {
    const ctxTailGma = this.context.gma + PAGE_SIZE + (CtxReg.RING_TAIL + 1) * 4;
    this.driver.writeRam32(this.driver.gpaOfGma(ctxTailGma), [this.tail]);
    if (this.portsBusy()) {
      this.deferred = true;
      return;
    }
    this.elsp();
  }

  /** Submissions waiting for a free execlist port. */
  deferred = false;

  /** Submit a deferred submission if a port is free (call from the interrupt handler). */
  service(): void {
    if (this.deferred && !this.portsBusy()) {
      this.deferred = false;
      this.elsp();
    }
  }

  private portsBusy(): boolean {
    const status = this.driver.bus.mmioRead(this.engine.mmioBase + RING.EXECLIST_STATUS_LO, 4);
    return (status & (1 << 2)) !== 0;
  }

  private elsp(): void {
    const [lo, hi] = encodeDescriptor({
      lrca: this.context.gma,
      contextId: this.contextId,
      addressingMode: AddressingMode.LEGACY_64B,
    });
    this.driver.submitElsp(this.engine, [lo, hi]);
    this.submissions++;
  }

  /** True when the ring holds commands the engine has not consumed. */
  get busy(): boolean {
    return this.deferred || this.head !== this.tail;
  }

  /** The context's ring head as the guest reads it back from its context image. */
  get head(): number {
    return this.driver.readRam32(this.driver.gpaOfGma(this.context.gma + PAGE_SIZE + (CtxReg.RING_HEAD + 1) * 4));
  }
}
