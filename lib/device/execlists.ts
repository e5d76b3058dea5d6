/**
 * One engine of the device: execlist submission (ELSP, context load/save, the context status
 * buffer, EXECLIST_STATUS), legacy ring-buffer mode, preemption at arbitration points, errors
 * (hangs), and its scheduling on the simulated clock.
 *
 * Execlists (Linux `gt/intel_lrc.c`, `gt/intel_execlists_submission.c`; GVT-g `gvt/execlist.c`,
 * whose emulation of the hardware's CSB sequence this model follows):
 * - Four dword writes to RING_ELSP submit a list of two elements (element 1 high, element 1 low,
 *   element 0 high, element 0 low; the fourth write submits).
 * - An idle engine loads element 0: CSB "idle to active" (context id 0, as GVT-g writes it). When
 *   element 0 completes and element 1 is valid: "element switch | complete"; when the last element
 *   completes: "complete | active to idle"; if a second list was queued meanwhile, it is then
 *   loaded with a further "idle to active" (GVT-g `emulate_execlist_ctx_schedule_out`).
 * - A list submitted while one runs is queued (EXECLIST_STATUS queue full). If its element 0 is the
 *   running context, the engine performs a lite restore at its next step: CSB "preempted | lite
 *   restore", the tail is sampled again from the image, execution goes on. Otherwise the running
 *   context is preempted at the next MI_ARB_CHECK (arbitration enabled, MI_ARB_ON_OFF): it is saved
 *   (its head, and its batch position when inside a batch), CSB "preempted", and the queued list is
 *   loaded. Without an arbitration point the queued list waits for completion.
 * - `requestPreemption()` (for a scheduler): stop at the next MI_ARB_CHECK, save the context, CSB
 *   "preempted | active to idle", engine idle. Resubmitting the same context resumes where it
 *   stopped (head and batch position come from the image).
 * - A queue-full submission, or one while the engine is hung or execlists are disabled, is dropped
 *   and counted. Element 0 must be valid.
 * - Every CSB write advances the write pointer (7 after reset, then (wp + 1) % 6), stores the
 *   entry in RING_CONTEXT_STATUS_BUF, mirrors it into the engine's status page (RING_HWS_PGA) at
 *   dword 0x10 + 2·wp with the pointer at dword 0x1f, and raises the context-switch interrupt.
 *
 * Addressing modes: legacy 32-bit (1) and legacy 64-bit (3) contexts run; their PPGTT roots come
 * from the image's PDP slots, and a context whose roots are zero simply has no PPGTT (its
 * 'context'-space addresses use the GGTT, PPGTT-selected ones fault). Advanced contexts (modes 0
 * and 2, SVM) are not modelled: loading one is a BAD_DESCRIPTOR engine error.
 *
 * Legacy ring mode (GFX_MODE run-list disabled): a RING_TAIL write with RING_CTL valid starts the
 * engine on the ring at RING_START (GGTT) from RING_HEAD; a later tail write extends the work; the
 * engine idles when head reaches tail. PPGTT in that mode: the engine's PDP registers, 4-level when
 * GFX_MODE has GEN8_GFX_PPGTT_48B, used when GFX_MODE has GFX_PPGTT_ENABLE.
 *
 * Errors (unknown command, translation fault, batch nesting) hang the engine like a GPU hang:
 * `engine.error` is set, RING_IPEHR/ACTHD (and GEN8_RING_FAULT_REG / FAULT_TLB_DATA for faults)
 * record it, the CS master error interrupt is raised, no CSB completion is written, and the engine
 * accepts no work until `reset()` (or GEN6_GDRST).
 */
import createDebug from 'debug';
import type { ClockEvent, SimClock } from '../clock.js';
import type { GuestFaultCode } from '../errors.js';
import { PAGE_SIZE, TWO_POW_32 } from '../types.js';
import type { HandlerRow } from '../mmio/index.js';
import { GEN9_ENGINES, type EngineInfo, type EngineName } from './engines.js';
import { CommandStreamer, PpgttMode, Space, StopReason, timestampTicks, type StreamerHost } from './executor.js';
import type { GtInterrupts } from './interrupts.js';
import { AddressingMode, BbState, CtxReg, CtxStatus, Desc, HWS_CSB_BUF0_INDEX, HWS_CSB_WRITE_INDEX, ctxPdpLdw, ctxPdpUdw, csbEventNames } from './lrc.js';
import { Bits, EngineIrq, REG, RING } from './registers.js';

const log = createDebug('gvtkit:device');

/** Engine phases. */
export const EnginePhase = {
  /** Nothing to run. */
  IDLE: 0,
  /** A context is to be loaded at the next step. */
  LOAD: 1,
  /** Executing commands (execlist context or legacy ring). */
  RUN: 2,
  /** Stopped by an error until reset. */
  HUNG: 3,
} as const;

/** Names of the phases, indexed by phase. */
export const ENGINE_PHASE_NAMES: readonly string[] = ['idle', 'load', 'run', 'hung'];

/** Kinds of device trace events. */
export type DeviceEventKind =
  | 'submit' | 'submit-dropped' | 'context-load' | 'csb' | 'user-interrupt' | 'lite-restore'
  | 'preempt' | 'error' | 'reset' | 'legacy-start' | 'idle' | 'interrupt' | 'stopped';

/** One entry of the device trace. */
export interface DeviceEvent {
  /** Simulated time in ns. */
  time: number;
  kind: DeviceEventKind;
  /** Engine name, or null for device-wide events. */
  engine: EngineName | null;
  /** CSB status bits (csb), interrupt pending bits (interrupt). */
  status?: number;
  contextId?: number;
  message?: string;
}

/** What the engine needs from the device. */
export interface EngineHost extends StreamerHost {
  readonly clock: SimClock;
  readonly interrupts: GtInterrupts;
  /** Dword read through the GGTT; NaN when the address does not translate. */
  gttRead32(gma: number): number;
  /** Dword write through the GGTT; false when the address does not translate. */
  gttWrite32(gma: number, value: number): boolean;
  /** Record a trace event. */
  trace(event: DeviceEvent): void;
}

/** An engine error (a hang). */
export interface EngineError {
  code: GuestFaultCode;
  message: string;
  /** Simulated time of the error. */
  time: number;
  /** Header of the faulting command (0 when none). */
  header: number;
  /** Graphics address of the faulting command. */
  address: number;
  /** Context id of the running execlist context, -1 in legacy mode. */
  contextId: number;
}

/** Counters of one engine. */
export interface EngineStats {
  /** Simulated ns the engine was busy (commands, context restores and saves). */
  busyNs: number;
  /** Complete ELSP submissions (four writes). */
  elspSubmissions: number;
  /** Submissions dropped (queue full, hung, execlists disabled, element 0 invalid). */
  elspDropped: number;
  /** Context images loaded. */
  contextLoads: number;
  /** Elements completed (head reached tail). */
  completions: number;
  liteRestores: number;
  preemptions: number;
  /** CSB entries written. */
  csbEvents: number;
  errors: number;
  /** Context-image writes that did not translate (save of an unmapped image). */
  imageFaults: number;
  /** Legacy ring-buffer runs started. */
  legacyRuns: number;
}

const Deferred = { NONE: 0, USER_IRQ: 1, COMPLETE: 2, PREEMPT: 3, ERROR: 4 } as const;

/** One engine of the device. */
export class Engine {
  readonly info: EngineInfo;
  readonly id: number;
  readonly name: EngineName;
  readonly streamer: CommandStreamer;
  readonly stats: EngineStats = {
    busyNs: 0, elspSubmissions: 0, elspDropped: 0, contextLoads: 0, completions: 0, liteRestores: 0,
    preemptions: 0, csbEvents: 0, errors: 0, imageFaults: 0, legacyRuns: 0,
  };
  /** `EnginePhase`. */
  phase: number = EnginePhase.IDLE;
  /** The error that hung the engine, null when healthy. */
  error: EngineError | null = null;
  /** Halted by RING_MI_MODE STOP_RING. */
  stopped = false;

  /** Running list: [lo0, hi0, lo1, hi1]; meaningful when `runningValid`. */
  readonly running = new Uint32Array(4);
  runningValid = false;
  /** Element of the running list being executed (0 or 1). */
  element = 0;
  /** Queued list (EXECLIST_STATUS "queue full"). */
  readonly pending = new Uint32Array(4);
  pendingValid = false;
  /** True while the engine runs a legacy ring buffer. */
  legacy = false;

  private readonly host: EngineHost;
  private readonly elsp = new Uint32Array(4);
  private elspIndex = 0;
  private slot = 0;
  private liteRestorePending = false;
  private preemptRequested = false;
  private fromIdle = false;
  private deferred = 0;
  private event: ClockEvent | null = null;
  private inChunk = false;
  private resetInChunk = false;
  private loadedAt = 0;
  private lastSwitchReason = 0;
  private readonly stepFn: () => void;

  constructor(info: EngineInfo, host: EngineHost) {
    this.info = info;
    this.id = info.id;
    this.name = info.name;
    this.host = host;
    this.streamer = new CommandStreamer(info, host);
    this.stepFn = () => this.step();
  }

  /** True while the engine has work (loading, running, or finishing a context). */
  get busy(): boolean {
    return this.phase === EnginePhase.LOAD || this.phase === EnginePhase.RUN;
  }

  /** Commands executed (all kinds); details per command id in `streamer.commandCounts`. */
  get commandsExecuted(): number {
    return this.streamer.stats.commands;
  }

  /** Bytes written by blits. */
  get bytesBlitted(): number {
    return this.streamer.stats.bytesBlitted;
  }

  /** True after an error, until reset. */
  get hung(): boolean {
    return this.phase === EnginePhase.HUNG;
  }

  /** Context id of the running execlist element, -1 when none. */
  get currentContextId(): number {
    return this.runningValid ? this.running[2 * this.element + 1] : -1;
  }

  /** LRCA of the running execlist element, -1 when none. */
  get currentLrca(): number {
    return this.runningValid ? (this.running[2 * this.element] & Desc.LRCA_MASK) >>> 0 : -1;
  }

  private reg(rel: number): number {
    return this.info.mmioBase + rel;
  }

  private get execlistsEnabled(): boolean {
    return (this.host.regs.peek(this.reg(RING.GFX_MODE)) & Bits.GFX_RUN_LIST_ENABLE) !== 0;
  }

  // --- register handlers (rows in `ENGINE_MMIO_ROWS`) ----------------------------------------

  /** ELSP write: the fourth dword (element 1 high, 1 low, 0 high, 0 low) submits. */
  elspWritten(value: number): void {
    this.elsp[this.elspIndex++] = value;
    if (this.elspIndex === 4) {
      this.elspIndex = 0;
      const e = this.elsp;
      this.submit(e[3], e[2], e[1], e[0]);
    }
  }

  /** MI_MODE as read: MODE_IDLE reports an idle, hung or stopped engine. */
  miModeRead(stored: number): number {
    const idle = this.phase === EnginePhase.IDLE || this.phase === EnginePhase.HUNG || this.stopped;
    return idle ? stored | Bits.MODE_IDLE : stored & ~Bits.MODE_IDLE;
  }

  /** MI_MODE written (`next` after the mode mask): clearing STOP_RING restarts a stopped engine. */
  miModeWritten(next: number): void {
    if ((next & Bits.STOP_RING) === 0 && this.stopped) {
      this.stopped = false;
      this.schedule(0);
    }
  }

  /** RESET_CTL written: the engine is always ready to be reset, a request is acknowledged at once. */
  resetCtlWritten(offset: number, next: number): void {
    const ready = (next & Bits.RESET_CTL_REQUEST_RESET) !== 0 ? Bits.RESET_CTL_READY_TO_RESET : 0;
    this.host.regs.poke(offset, (next & ~Bits.RESET_CTL_READY_TO_RESET) | ready);
  }

  /** RING_TIMESTAMP (`high` false) or RING_TIMESTAMP_UDW (`high` true) as read: the simulated clock's ticks. */
  timestampRead(high: boolean): number {
    const ticks = timestampTicks(this.host.now());
    return (high ? Math.floor(ticks / TWO_POW_32) : ticks) >>> 0;
  }

  // --- submission -----------------------------------------------------------------------------

  /**
   * Submit an execlist (what the fourth ELSP write does). Element 1 is ignored unless its valid bit
   * is set. Never throws: invalid submissions are dropped and counted.
   */
  submit(lo0: number, hi0: number, lo1: number, hi1: number): void {
    this.stats.elspSubmissions++;
    const h = this.host;
    const why = this.phase === EnginePhase.HUNG ? 'engine hung'
      : !this.execlistsEnabled ? 'execlists disabled in GFX_MODE'
      : (lo0 & Desc.VALID) === 0 ? 'element 0 not valid'
      : this.pendingValid ? 'execlist queue full' : '';
    if (why) {
      this.stats.elspDropped++;
      h.trace({ time: h.clock.now, kind: 'submit-dropped', engine: this.name, contextId: hi0 >>> 0, message: why });
      if (log.enabled) log('%s: ELSP submission dropped: %s', this.name, why);
      return;
    }
    const list = this.phase === EnginePhase.IDLE ? this.running : this.pending;
    list[0] = lo0;
    list[1] = hi0;
    list[2] = (lo1 & Desc.VALID) !== 0 ? lo1 : 0;
    list[3] = (lo1 & Desc.VALID) !== 0 ? hi1 : 0;
    h.trace({ time: h.clock.now, kind: 'submit', engine: this.name, contextId: hi0 >>> 0 });
    if (this.phase === EnginePhase.IDLE) {
      this.runningValid = true;
      this.element = 0;
      this.legacy = false;
      this.fromIdle = true;
      this.phase = EnginePhase.LOAD;
      this.schedule(0);
    } else {
      this.pendingValid = true;
      if (this.phase === EnginePhase.RUN && this.runningValid && ((lo0 & Desc.LRCA_MASK) >>> 0) === this.currentLrca) {
        this.liteRestorePending = true;
      } else {
        this.streamer.preemptPending = true;
      }
    }
    this.updateStatus();
  }

  /**
   * Ask the engine to stop at the next MI_ARB_CHECK and go idle with its context saved (CSB
   * "preempted | active to idle"). Returns false when there is nothing to preempt.
   */
  requestPreemption(): boolean {
    if (!this.busy || this.legacy || !this.runningValid) return false;
    this.preemptRequested = true;
    this.streamer.preemptPending = true;
    return true;
  }

  /** RING_TAIL written: without execlists, starts or extends a legacy ring run. */
  tailWritten(): void {
    const regs = this.host.regs;
    if (this.execlistsEnabled) return;
    const tail = regs.peek(this.reg(RING.TAIL)) & Bits.RING_TAIL_ADDR_MASK;
    if (this.legacy && this.busy) {
      this.streamer.tail = tail % this.streamer.ringSize;
      return;
    }
    if (this.phase !== EnginePhase.IDLE) return;
    const ctl = regs.peek(this.reg(RING.CTL));
    if ((ctl & Bits.RING_CTL_VALID) === 0) return;
    const size = (ctl & Bits.RING_CTL_SIZE_MASK) + PAGE_SIZE;
    const head = regs.peek(this.reg(RING.HEAD)) & Bits.RING_HEAD_ADDR_MASK;
    const s = this.streamer;
    s.loadRing(regs.peek(this.reg(RING.START)) & 0xfffff000, size, head, tail);
    s.wraps = regs.peek(this.reg(RING.HEAD)) >>> Bits.RING_HEAD_WRAP_SHIFT;
    const mode = regs.peek(this.reg(RING.GFX_MODE));
    const ppgtt = (mode & Bits.GFX_PPGTT_ENABLE) === 0 ? PpgttMode.NONE
      : (mode & Bits.GEN8_GFX_PPGTT_48B) !== 0 ? PpgttMode.LEVEL4 : PpgttMode.LEVEL3;
    const p = (n: number) => regs.peek(this.reg(RING.PDP0_LDW + 8 * n + 4)) * TWO_POW_32 + regs.peek(this.reg(RING.PDP0_LDW + 8 * n));
    s.setPpgtt(ppgtt, p(0), p(1), p(2), p(3));
    s.hwsp = regs.peek(this.reg(RING.HWS_PGA)) & 0xfffff000;
    s.pphwsp = s.hwsp;
    this.legacy = true;
    this.runningValid = false;
    this.phase = EnginePhase.RUN;
    this.stats.legacyRuns++;
    this.loadedAt = this.host.clock.now;
    this.host.trace({ time: this.host.clock.now, kind: 'legacy-start', engine: this.name });
    this.schedule(0);
  }

  // --- the step -------------------------------------------------------------------------------

  private cancelEvent(): void {
    if (this.event !== null) {
      this.event.cancelled = true;
      this.event = null;
    }
  }

  private schedule(delay: number): void {
    if (this.event !== null) return;
    this.event = this.host.clock.schedule(delay, this.stepFn);
  }

  private step(): void {
    this.event = null;
    const d = this.deferred;
    this.deferred = Deferred.NONE;
    if (d === Deferred.USER_IRQ) {
      this.host.trace({ time: this.host.clock.now, kind: 'user-interrupt', engine: this.name });
      this.host.interrupts.raise(this.info, EngineIrq.USER);
    } else if (d === Deferred.COMPLETE) {
      if (this.legacy) this.legacyComplete();
      else this.completeElement();
    } else if (d === Deferred.PREEMPT) {
      this.preemptAtArbitration();
    } else if (d === Deferred.ERROR) {
      this.hang();
    }
    if (this.phase !== EnginePhase.LOAD && this.phase !== EnginePhase.RUN) return;
    // An interrupt callback run above may have submitted work and scheduled a step: this step
    // does that work now, and schedules its own continuation.
    this.cancelEvent();
    if ((this.host.regs.peek(this.reg(RING.MI_MODE)) & Bits.STOP_RING) !== 0) {
      // Halted with a context loaded: whoever owns the engine is told (it may never resume).
      if (!this.stopped) this.host.trace({ time: this.host.clock.now, kind: 'stopped', engine: this.name, contextId: this.currentContextId >>> 0 });
      this.stopped = true;
      return;
    }
    const cost = this.host.cost;
    let extra = 0;
    if (this.phase === EnginePhase.RUN && this.liteRestorePending) extra += this.liteRestore();
    if (this.phase === EnginePhase.LOAD) extra += this.loadElement();
    // A lite restore or a context load may have hung the engine.
    if ((this.phase as number) !== EnginePhase.RUN) return;
    const s = this.streamer;
    this.inChunk = true;
    const spent = s.runChunk(cost.chunkNs, cost.maxCommandsPerChunk);
    this.inChunk = false;
    if (this.resetInChunk) {
      this.resetInChunk = false;
      return;
    }
    let total = extra + spent;
    switch (s.stopReason) {
      case StopReason.END_OF_RING:
        this.deferred = Deferred.COMPLETE;
        if (!this.legacy) total += cost.contextSaveNs;
        break;
      case StopReason.USER_INTERRUPT:
        this.deferred = Deferred.USER_IRQ;
        break;
      case StopReason.ARBITRATION:
        this.deferred = Deferred.PREEMPT;
        total += cost.contextSaveNs;
        break;
      case StopReason.ERROR:
        this.deferred = Deferred.ERROR;
        break;
      default:
        break;
    }
    this.stats.busyNs += total;
    this.mirrorHead();
    this.schedule(total);
  }

  /** Reflect the streamer's position in RING_HEAD, ACTHD and RING_BBADDR. */
  private mirrorHead(): void {
    const regs = this.host.regs;
    const s = this.streamer;
    regs.poke(this.reg(RING.HEAD), (s.head | (s.wraps << Bits.RING_HEAD_WRAP_SHIFT)) >>> 0);
    const ip = s.currentAddress;
    regs.poke(this.reg(RING.ACTHD), ip >>> 0);
    regs.poke(this.reg(RING.ACTHD_UDW), Math.floor(ip / TWO_POW_32) >>> 0);
    if (s.level > 0) {
      regs.poke(this.reg(RING.BBADDR), s.bbIp[1] >>> 0);
      regs.poke(this.reg(RING.BBADDR_UDW), Math.floor(s.bbIp[1] / TWO_POW_32) >>> 0);
    }
  }

  // --- context load / save ----------------------------------------------------------------------

  /** Load element `this.element` of the running list. Returns the restore cost. */
  private loadElement(): number {
    const h = this.host;
    const lo = this.running[2 * this.element];
    const hi = this.running[2 * this.element + 1];
    const mode = (lo & Desc.ADDRESSING_MODE_MASK) >>> Desc.ADDRESSING_MODE_SHIFT;
    if (mode !== AddressingMode.LEGACY_32B && mode !== AddressingMode.LEGACY_64B) {
      this.hangNow('BAD_DESCRIPTOR', `context 0x${(hi >>> 0).toString(16)}: addressing mode ${mode} (advanced contexts are not modelled)`, 0, (lo & Desc.LRCA_MASK) >>> 0);
      return 0;
    }
    const lrca = (lo & Desc.LRCA_MASK) >>> 0;
    const v = (index: number) => h.gttRead32(lrca + PAGE_SIZE + (index + 1) * 4);
    const head = v(CtxReg.RING_HEAD);
    const tail = v(CtxReg.RING_TAIL);
    const start = v(CtxReg.RING_BUFFER_START);
    const ctl = v(CtxReg.RING_BUFFER_CONTROL);
    if (Number.isNaN(head) || Number.isNaN(tail) || Number.isNaN(start) || Number.isNaN(ctl) || Number.isNaN(h.gttRead32(lrca))) {
      this.hangNow('BAD_ADDRESS', `context image at LRCA 0x${lrca.toString(16)} does not translate through the GGTT`, 0, lrca);
      return 0;
    }
    if ((ctl & Bits.RING_CTL_VALID) === 0) {
      this.hangNow('BAD_DESCRIPTOR', `context 0x${(hi >>> 0).toString(16)}: ring not valid in its image (RING_CTL 0x${ctl.toString(16)})`, 0, lrca);
      return 0;
    }
    const s = this.streamer;
    const size = (ctl & Bits.RING_CTL_SIZE_MASK) + PAGE_SIZE;
    s.loadRing(start & 0xfffff000, size, head & Bits.RING_HEAD_ADDR_MASK, tail & Bits.RING_TAIL_ADDR_MASK);
    s.wraps = head >>> Bits.RING_HEAD_WRAP_SHIFT;
    const pdp = (n: number) => (v(ctxPdpUdw(n)) || 0) * TWO_POW_32 + (v(ctxPdpLdw(n)) || 0);
    s.setPpgtt(mode === AddressingMode.LEGACY_64B ? PpgttMode.LEVEL4 : PpgttMode.LEVEL3, pdp(0), pdp(1), pdp(2), pdp(3));
    s.hwsp = h.regs.peek(this.reg(RING.HWS_PGA)) & 0xfffff000;
    s.pphwsp = lrca;
    const bbState = v(CtxReg.BB_STATE) || 0;
    if ((bbState & BbState.ACTIVE) !== 0) {
      s.resumeBatch(1, ((v(CtxReg.BB_HEAD_U) || 0) & 0xffff) * TWO_POW_32 + (v(CtxReg.BB_HEAD_L) || 0), (bbState & BbState.PPGTT) !== 0 ? Space.PPGTT : Space.GGTT);
      const sbbState = v(CtxReg.SECOND_BB_STATE) || 0;
      if ((sbbState & BbState.ACTIVE) !== 0) {
        s.resumeBatch(2, ((v(CtxReg.SECOND_BB_HEAD_U) || 0) & 0xffff) * TWO_POW_32 + (v(CtxReg.SECOND_BB_HEAD_L) || 0), (sbbState & BbState.PPGTT) !== 0 ? Space.PPGTT : Space.GGTT);
      }
    }
    // Mirror the restored ring state into the engine's registers.
    const regs = h.regs;
    regs.poke(this.reg(RING.HEAD), head >>> 0);
    regs.poke(this.reg(RING.TAIL), tail >>> 0);
    regs.poke(this.reg(RING.START), start >>> 0);
    regs.poke(this.reg(RING.CTL), ctl >>> 0);
    regs.poke(this.reg(RING.CONTEXT_CONTROL), (v(CtxReg.CONTEXT_CONTROL) || 0) & 0xffff);
    regs.poke(this.reg(RING.CTX_TIMESTAMP), v(CtxReg.CTX_TIMESTAMP) || 0);
    for (let n = 0; n < 4; n++) {
      regs.poke(this.reg(RING.PDP0_LDW + 8 * n), v(ctxPdpLdw(n)) || 0);
      regs.poke(this.reg(RING.PDP0_LDW + 8 * n + 4), v(ctxPdpUdw(n)) || 0);
    }
    this.stats.contextLoads++;
    this.loadedAt = h.clock.now;
    this.phase = EnginePhase.RUN;
    h.trace({ time: h.clock.now, kind: 'context-load', engine: this.name, contextId: hi >>> 0 });
    if (this.fromIdle) {
      this.fromIdle = false;
      this.writeCsb(CtxStatus.IDLE_TO_ACTIVE, 0);
    }
    this.updateStatus();
    return h.cost.contextRestoreNs;
  }

  /** Save the running element's state into its image: head, batch position, timestamp. */
  private saveElement(): void {
    const h = this.host;
    const s = this.streamer;
    const lrca = this.currentLrca;
    if (lrca < 0) return;
    const base = lrca + PAGE_SIZE;
    const put = (index: number, value: number) => {
      if (!h.gttWrite32(base + (index + 1) * 4, value >>> 0)) this.stats.imageFaults++;
    };
    const get = (index: number) => h.gttRead32(base + (index + 1) * 4) || 0;
    put(CtxReg.RING_HEAD, s.head | (s.wraps << Bits.RING_HEAD_WRAP_SHIFT));
    const bbState = get(CtxReg.BB_STATE) & ~BbState.ACTIVE & ~BbState.PPGTT;
    if (s.level >= 1) {
      put(CtxReg.BB_HEAD_L, s.bbIp[1] >>> 0);
      put(CtxReg.BB_HEAD_U, Math.floor(s.bbIp[1] / TWO_POW_32) & 0xffff);
      put(CtxReg.BB_STATE, bbState | BbState.ACTIVE | (s.bbSpace[1] === Space.PPGTT ? BbState.PPGTT : 0));
    } else {
      put(CtxReg.BB_STATE, bbState | BbState.PPGTT);
    }
    const sbbState = get(CtxReg.SECOND_BB_STATE) & ~BbState.ACTIVE & ~BbState.PPGTT;
    if (s.level === 2) {
      put(CtxReg.SECOND_BB_HEAD_L, s.bbIp[2] >>> 0);
      put(CtxReg.SECOND_BB_HEAD_U, Math.floor(s.bbIp[2] / TWO_POW_32) & 0xffff);
      put(CtxReg.SECOND_BB_STATE, sbbState | BbState.ACTIVE | (s.bbSpace[2] === Space.PPGTT ? BbState.PPGTT : 0));
    } else {
      put(CtxReg.SECOND_BB_STATE, sbbState);
    }
    const ran = timestampTicks(h.clock.now) - timestampTicks(this.loadedAt);
    put(CtxReg.CTX_TIMESTAMP, (get(CtxReg.CTX_TIMESTAMP) + ran) >>> 0);
  }

  private promote(): void {
    this.running.set(this.pending);
    this.runningValid = true;
    this.element = 0;
    this.pendingValid = false;
    this.slot ^= 1;
  }

  private completeElement(): void {
    this.saveElement();
    this.stats.completions++;
    const id = this.running[2 * this.element + 1];
    // State first, then the CSB writes: their interrupt callbacks may submit again.
    if (this.element === 0 && (this.running[2] & Desc.VALID) !== 0) {
      this.element = 1;
      this.phase = EnginePhase.LOAD;
      this.updateStatus();
      this.writeCsb(CtxStatus.ELEMENT_SWITCH | CtxStatus.COMPLETE, id);
      return;
    }
    this.runningValid = false;
    this.liteRestorePending = false;
    if (this.pendingValid) {
      this.promote();
      this.phase = EnginePhase.LOAD;
      this.streamer.preemptPending = this.preemptRequested;
      this.updateStatus();
      this.writeCsb(CtxStatus.COMPLETE | CtxStatus.ACTIVE_TO_IDLE, id);
      this.writeCsb(CtxStatus.IDLE_TO_ACTIVE, 0);
    } else {
      this.phase = EnginePhase.IDLE;
      this.preemptRequested = false;
      this.streamer.preemptPending = false;
      this.updateStatus();
      this.host.trace({ time: this.host.clock.now, kind: 'idle', engine: this.name });
      this.writeCsb(CtxStatus.COMPLETE | CtxStatus.ACTIVE_TO_IDLE, id);
    }
  }

  private preemptAtArbitration(): void {
    this.saveElement();
    const id = this.running[2 * this.element + 1];
    const h = this.host;
    this.stats.preemptions++;
    this.preemptRequested = false;
    this.liteRestorePending = false;
    this.streamer.preemptPending = false;
    // State first, then the CSB write: its interrupt callback may submit again.
    if (this.pendingValid) {
      this.promote();
      this.phase = EnginePhase.LOAD;
      h.trace({ time: h.clock.now, kind: 'preempt', engine: this.name, contextId: id, message: 'by a queued execlist' });
      this.writeCsb(CtxStatus.PREEMPTED, id);
    } else {
      this.runningValid = false;
      this.phase = EnginePhase.IDLE;
      h.trace({ time: h.clock.now, kind: 'preempt', engine: this.name, contextId: id, message: 'to idle (requested)' });
      this.writeCsb(CtxStatus.PREEMPTED | CtxStatus.ACTIVE_TO_IDLE, id);
    }
    this.updateStatus();
  }

  private liteRestore(): number {
    const h = this.host;
    const id = this.running[2 * this.element + 1];
    this.promote();
    this.liteRestorePending = false;
    this.streamer.preemptPending = this.preemptRequested;
    this.writeCsb(CtxStatus.PREEMPTED | CtxStatus.LITE_RESTORE, id);
    const lrca = this.currentLrca;
    const tail = h.gttRead32(lrca + PAGE_SIZE + (CtxReg.RING_TAIL + 1) * 4);
    if (Number.isNaN(tail)) {
      this.hangNow('BAD_ADDRESS', `context image at LRCA 0x${lrca.toString(16)} does not translate (lite restore)`, 0, lrca);
      return 0;
    }
    this.streamer.tail = (tail & Bits.RING_TAIL_ADDR_MASK) % this.streamer.ringSize;
    h.regs.poke(this.reg(RING.TAIL), tail >>> 0);
    this.stats.liteRestores++;
    h.trace({ time: h.clock.now, kind: 'lite-restore', engine: this.name, contextId: this.running[1] });
    this.updateStatus();
    return h.cost.liteRestoreNs;
  }

  private legacyComplete(): void {
    const regs = this.host.regs;
    const tail = regs.peek(this.reg(RING.TAIL)) & Bits.RING_TAIL_ADDR_MASK;
    if (tail % this.streamer.ringSize !== this.streamer.head) {
      this.streamer.tail = tail % this.streamer.ringSize;
      return;
    }
    this.stats.completions++;
    this.legacy = false;
    if (this.pendingValid) {
      // Execlists were enabled and a list submitted while the legacy ring ran: start it now.
      this.promote();
      this.fromIdle = true;
      this.phase = EnginePhase.LOAD;
      return;
    }
    this.phase = EnginePhase.IDLE;
    this.host.trace({ time: this.host.clock.now, kind: 'idle', engine: this.name });
  }

  // --- CSB, status, errors --------------------------------------------------------------------

  /** Append a context-status event and raise the context-switch interrupt. */
  private writeCsb(status: number, contextId: number): void {
    const h = this.host;
    const regs = h.regs;
    const ptrReg = this.reg(RING.CSB_PTR);
    const ptr = regs.peek(ptrReg);
    const old = ptr & Bits.CSB_WRITE_PTR_MASK;
    const wp = old === 7 ? 0 : (old + 1) % 6;
    regs.poke(this.reg(RING.CSB0_LO + 8 * wp), status >>> 0);
    regs.poke(this.reg(RING.CSB0_LO + 8 * wp + 4), contextId >>> 0);
    regs.poke(ptrReg, ((ptr & ~Bits.CSB_WRITE_PTR_MASK) | wp) >>> 0);
    const hws = regs.peek(this.reg(RING.HWS_PGA)) & 0xfffff000;
    if (hws !== 0) {
      h.gttWrite32(hws + (HWS_CSB_BUF0_INDEX + 2 * wp) * 4, status >>> 0);
      h.gttWrite32(hws + (HWS_CSB_BUF0_INDEX + 2 * wp + 1) * 4, contextId >>> 0);
      h.gttWrite32(hws + HWS_CSB_WRITE_INDEX * 4, wp);
    }
    this.lastSwitchReason = status & 0x1ff;
    this.stats.csbEvents++;
    h.trace({ time: h.clock.now, kind: 'csb', engine: this.name, status, contextId: contextId >>> 0 });
    if (log.enabled) log('%s: CSB[%d] %s ctx 0x%s', this.name, wp, csbEventNames(status).join('|'), (contextId >>> 0).toString(16));
    h.interrupts.raise(this.info, EngineIrq.CONTEXT_SWITCH);
  }

  /** Recompute RING_EXECLIST_STATUS (layout of GVT-g `execlist_status_format`). */
  private updateStatus(): void {
    const regs = this.host.regs;
    const running = this.runningValid && (this.phase === EnginePhase.RUN || this.phase === EnginePhase.LOAD);
    const el1Valid = this.runningValid && (this.running[2] & Desc.VALID) !== 0;
    let lo = this.slot & 1; // current execlist pointer
    lo |= ((this.slot ^ 1) & 1) << 1; // write pointer: the other slot
    if (this.pendingValid) lo |= 1 << 2;
    if (el1Valid) lo |= 1 << 3;
    if (this.runningValid) lo |= 1 << 4;
    lo |= (this.lastSwitchReason & 0x1ff) << 5;
    if (running) lo |= ((this.element + 1) & 3) << 14;
    if (this.streamer.arbEnabled) lo |= 1 << 16;
    if (running && this.element === 1) lo |= 1 << 17;
    if (running && this.element === 0) lo |= 1 << 18;
    regs.poke(this.reg(RING.EXECLIST_STATUS_LO), lo >>> 0);
    regs.poke(this.reg(RING.EXECLIST_STATUS_HI), running ? this.running[2 * this.element + 1] : 0);
  }

  /** Hang at once with a streamer-style error (context load failures). */
  private hangNow(code: GuestFaultCode, message: string, header: number, address: number): void {
    const s = this.streamer;
    s.errorCode = code;
    s.errorMessage = message;
    s.errorHeader = header;
    s.errorAddress = address;
    s.faultAddress = -1;
    this.hang();
  }

  private hang(): void {
    const h = this.host;
    const s = this.streamer;
    const regs = h.regs;
    this.phase = EnginePhase.HUNG;
    this.error = {
      code: s.errorCode,
      message: s.errorMessage,
      time: h.clock.now,
      header: s.errorHeader,
      address: s.errorAddress,
      contextId: this.legacy ? -1 : this.currentContextId,
    };
    this.stats.errors++;
    regs.poke(this.reg(RING.IPEHR), s.errorHeader >>> 0);
    regs.poke(this.reg(RING.ACTHD), s.errorAddress >>> 0);
    regs.poke(this.reg(RING.ACTHD_UDW), Math.floor(s.errorAddress / TWO_POW_32) >>> 0);
    regs.poke(this.reg(RING.EIR), regs.peek(this.reg(RING.EIR)) | 1);
    if (s.errorCode === 'BAD_ADDRESS' && s.faultAddress >= 0) {
      const ggtt = s.faultSpace === Space.GGTT;
      regs.poke(REG.GEN8_RING_FAULT_REG, (Bits.RING_FAULT_VALID | (this.id << 12) | (ggtt ? Bits.RING_FAULT_GTTSEL : 0)) >>> 0);
      regs.poke(REG.GEN8_FAULT_TLB_DATA0, Math.floor(s.faultAddress / PAGE_SIZE) >>> 0);
      regs.poke(REG.GEN8_FAULT_TLB_DATA1, ((Math.floor(s.faultAddress / 2 ** 44) & 0xf) | (ggtt ? Bits.FAULT_GTT_SEL : 0)) >>> 0);
    }
    h.trace({ time: h.clock.now, kind: 'error', engine: this.name, contextId: this.error.contextId, message: `${s.errorCode}: ${s.errorMessage}` });
    log('%s: engine hung: %s: %s', this.name, s.errorCode, s.errorMessage);
    h.interrupts.raise(this.info, EngineIrq.CS_ERROR);
    this.updateStatus();
  }

  /**
   * Reset the engine (GDRST domain reset, or a full device reset): drop running and queued work,
   * clear the error, reset the ring registers, the ELSP latch and the CSB pointer (write pointer 7).
   * Counters are kept. Safe to call from a register write inside the engine's own command stream.
   */
  reset(): void {
    this.cancelEvent();
    if (this.inChunk) this.resetInChunk = true;
    this.streamer.reset();
    if (this.inChunk) this.streamer.abort();
    this.phase = EnginePhase.IDLE;
    this.error = null;
    this.stopped = false;
    this.runningValid = false;
    this.pendingValid = false;
    this.running.fill(0);
    this.pending.fill(0);
    this.element = 0;
    this.legacy = false;
    this.elspIndex = 0;
    this.slot = 0;
    this.liteRestorePending = false;
    this.preemptRequested = false;
    this.fromIdle = false;
    this.deferred = Deferred.NONE;
    this.lastSwitchReason = 0;
    const regs = this.host.regs;
    for (const rel of [RING.HEAD, RING.TAIL, RING.START, RING.CTL, RING.ACTHD, RING.ACTHD_UDW, RING.IPEHR, RING.BBADDR, RING.BBADDR_UDW]) {
      regs.poke(this.reg(rel), 0);
    }
    regs.poke(this.reg(RING.CSB_PTR), Bits.CSB_WRITE_PTR_MASK);
    this.updateStatus();
    this.host.trace({ time: this.host.clock.now, kind: 'reset', engine: this.name });
  }
}

/** What the engine rows need of their register file's context: its engines, by id. */
export interface EngineRowsContext {
  readonly engines: readonly Engine[];
}

/**
 * The handler rows of every engine's registers on the device (`Gen9Device`'s table): ELSP
 * submission, the legacy TAIL start, MI_MODE's idle bit and STOP_RING restart, RESET_CTL's
 * acknowledge, the timestamp read from the simulated clock.
 */
export const ENGINE_MMIO_ROWS: readonly HandlerRow<EngineRowsContext>[] = Object.freeze(GEN9_ENGINES.flatMap((e): HandlerRow<EngineRowsContext>[] => {
  const b = e.mmioBase, id = e.id, owner = 'device/execlists';
  return [
    {
      at: b + RING.ELSP, owner, doc: 'reads 0; the fourth dword written submits the execlist',
      read: () => 0,
      write: (c, _o, value) => c.engines[id].elspWritten(value),
    },
    { at: b + RING.TAIL, owner, doc: 'without execlists, starts or extends a legacy ring run', write: (c) => c.engines[id].tailWritten() },
    {
      at: b + RING.MI_MODE, owner, doc: 'MODE_IDLE reads the engine idle; clearing STOP_RING restarts it',
      read: (c, _o, stored) => c.engines[id].miModeRead(stored),
      write: (c, _o, _v, _old, next) => c.engines[id].miModeWritten(next),
    },
    { at: b + RING.RESET_CTL, owner, doc: 'a reset request is acknowledged at once (READY_TO_RESET)', write: (c, o, _v, _old, next) => c.engines[id].resetCtlWritten(o, next) },
    { at: b + RING.TIMESTAMP, owner, doc: 'reads the simulated clock in 12 MHz ticks (low dword)', read: (c) => c.engines[id].timestampRead(false) },
    { at: b + RING.TIMESTAMP_UDW, owner, doc: 'reads the simulated clock in 12 MHz ticks (high dword)', read: (c) => c.engines[id].timestampRead(true) },
  ];
}));
