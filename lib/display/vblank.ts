/**
 * Vblank and flip emulation of a vGPU's display, on the simulated clock.
 *
 * GVT-g (Linux 6.1 `gvt/display.c`, `gvt/handlers.c`) gives each vGPU one vblank timer
 * (`vblank_timer_fn`) at the refresh rate of transcoder A (`vgpu_update_refresh_rate`, default
 * `GVT_DEFAULT_REFRESH_RATE` 60 Hz), started by a PIPECONF write that enables a pipe and stopped by
 * one that disables it (`pipeconf_mmio_write` → `vgpu_update_vblank_emulation`). At each tick,
 * for every pipe (`intel_vgpu_emulate_vblank` → `emulate_vblank_on_pipe`): the flip-done events
 * pending on the pipe (`vgpu->irq.flip_done_event[pipe]`) are delivered if the pipe is enabled and
 * dropped otherwise; an enabled pipe's `PIPE_FRMCOUNT_G4X` counts one frame and its vblank event
 * (`PIPE_x_VBLANK`, bit 0 of `GEN8_DE_PIPE_IIR`) is raised. An event sets its IIR bit unless the
 * bank's IMR masks it (`propagate_event`); the line follows IIR & IER through GEN8_MASTER_IRQ's
 * DE pipe bits (`gen8_irq_map`, the controller's `IrqBankRow`s).
 *
 * A PLANE_SURF write is a flip (`pri_surf_mmio_write`, `spr_surf_mmio_write`), and so is an
 * MI_DISPLAY_FLIP the auditor admitted (`cmd_handler_mi_display_flip`, `commandFlip`); both go
 * through one entry point (`flipPlane`): PLANE_SURFLIVE takes the address at once, a primary plane's flip counts in `PIPE_FLIPCOUNT_G4X`, and its flip done
 * (`GEN9_PIPE_PLANE_FLIP_DONE(plane)`, bit 3 + plane) is raised at once for an asynchronous flip
 * (PLANE_CTL bit 9) or at the next vblank otherwise. i915 6.1's synchronous commits wait for the
 * vblank event it arms in `intel_pipe_update_end` (sent by `drm_handle_vblank` from
 * `gen8_de_pipe_irq_handler`'s vblank bit), so the vblank interrupt and a counting frame counter
 * are what completes them.
 *
 * Differences from GVT-g, each deliberate:
 * - **vblanks per pipe**: each enabled pipe ticks at the refresh rate of its own transcoder
 *   (`updateRefreshRate(pipe)`: ports B, C and D), where GVT-g's one timer ticks every pipe at
 *   transcoder A's rate (ports B and D only), so a second monitor at 30 Hz, or one on port C, got
 *   60 Hz vblanks; vblank k of a pipe falls at its start + floor(k · 10^12 / rate) ns (no
 *   rounding drift). One clock event serves the vGPU, at the earliest next vblank of its pipes
 *   (see `schedule`);
 * - vblanks run while a pipe is enabled (GVT-g stops its timer at any PIPECONF disable, so
 *   disabling pipe B stops pipe A's vblanks too) and are synchronised with the registers at
 *   creation and reset (a vGPU whose boot state has a lit pipe gets vblanks without a PIPECONF
 *   write);
 * - a refresh rate is kept within 1..240 Hz (a guest's link M/N cannot make the timer fire
 *   every nanosecond), else the pipe's previous rate stays;
 * - the planes each pipe has flip (1..3 on pipes A and B, 1..2 on C: `planesOf`) (GVT-g handles the primary plane and sprite 0 on Skylake);
 * - a synchronous flip on a dark pipe gets no flip done at all (GVT-g pends it; its next tick
 *   drops it, or delivers it after a later enable when its timer was stopped).
 *
 * Time is the device's `SimClock`: never wall time. A vGPU with no enabled pipe has no event on
 * the clock, one with any number of enabled pipes has one; `stop()` (vGPU destroy, failsafe,
 * reset) cancels it. The tick reads and writes typed arrays only and re-arms the event that ran
 * (`SimClock.rearm`): it allocates nothing.
 */
import createDebug from 'debug';
import type { ClockEvent, SimClock } from '../clock.js';
import type { IrqBankRow } from '../device/interrupts.js';
import type { RegisterFile } from '../mmio/index.js';
import { DBits, DREG, PIPES, PLANES_PER_PIPE, Port, TRANS, planeCtl, pipeconf, transcoderBase } from './registers.js';

const log = createDebug('gvtkit:display:vblank');

/** GVT-g's `GVT_DEFAULT_REFRESH_RATE` (Hz), in mHz as its `vrefresh_k`. */
export const DEFAULT_REFRESH_MHZ = 60_000;
/** Refresh rates outside this range (mHz) are refused (the previous rate stays). */
export const MIN_REFRESH_MHZ = 1_000;
export const MAX_REFRESH_MHZ = 240_000;

/** Per-pipe display registers the vblank emulation touches (i915 6.1 `i915_reg.h`). */
export const VREG = {
  /** PIPE_FRMCOUNT_G4X(pipe) = 0x70040 + 0x1000·pipe. */
  frmcount: (pipe: number): number => 0x70040 + 0x1000 * pipe,
  /** PIPE_FLIPCOUNT_G4X(pipe) = 0x70044 + 0x1000·pipe. */
  flipcount: (pipe: number): number => 0x70044 + 0x1000 * pipe,
  /** PLANE_SURF(pipe, plane) = PLANE_CTL + 0x1c. */
  planeSurf: (pipe: number, plane: number): number => planeCtl(pipe, plane) + 0x1c,
  /** PLANE_SURFLIVE(pipe, plane) = PLANE_CTL + 0x2c. */
  planeSurfLive: (pipe: number, plane: number): number => planeCtl(pipe, plane) + 0x2c,
  /** GEN8_DE_PIPE_ISR/IMR/IIR/IER(pipe) = 0x44400 + 0x10·pipe (+0/+4/+8/+0xc). */
  dePipeImr: (pipe: number): number => DREG.GEN8_DE_PIPE_ISR + 0x10 * pipe + 4,
  dePipeIir: (pipe: number): number => DREG.GEN8_DE_PIPE_ISR + 0x10 * pipe + 8,
  dePipeIer: (pipe: number): number => DREG.GEN8_DE_PIPE_ISR + 0x10 * pipe + 0xc,
} as const;

/** DE pipe interrupt bits (i915 6.1 `i915_reg.h`). */
export const VBits = {
  /** GEN8_PIPE_VBLANK. */
  GEN8_PIPE_VBLANK: 1 << 0,
  /** GEN9_PIPE_PLANE_FLIP_DONE(plane) = 1 << (3 + plane) (plane 0 = plane 1, the primary). */
  planeFlipDone: (plane: number): number => 1 << (3 + plane),
  /** PLANE_CTL_ASYNC_FLIP. */
  PLANE_CTL_ASYNC_FLIP: 1 << 9,
  /** GEN8_DE_PIPE_IRQ(pipe) = 1 << (16 + pipe) in GEN8_MASTER_IRQ. */
  masterDePipe: (pipe: number): number => 1 << (16 + pipe),
  /** TRANS_DDI_PORT_MASK (pre-Tiger Lake): bits 30:28. */
  TRANS_DDI_PORT_SHIFT: 28,
  /** TRANS_DDI_EDP_INPUT_MASK 14:12 of TRANS_DDI_FUNC_CTL_EDP: A on (0), A on/off (4), B (5), C (6). */
  TRANS_DDI_EDP_INPUT_SHIFT: 12,
  /** DPLL_CTRL1 link rate field of DPLL id: 3 bits at 6·id + 1. */
  DPLL_CTRL1_LINK_RATE_SHIFT: (id: number): number => 6 * id + 1,
  /** DPLL_CTRL2_DDI_CLK_SEL field of a port: 2 bits at 3·port + 1. */
  DPLL_CTRL2_CLK_SEL_SHIFT: (port: number): number => 3 * port + 1,
} as const;

/**
 * DP port clock (kHz) of each DPLL_CTRL1 link-rate code (GVT-g `skl_vgpu_get_dp_bitrate`: the
 * code's name is twice the port clock in MHz/10: 810 → 162000).
 */
export const SKL_LINK_RATE_KHZ: readonly number[] = Object.freeze([
  /* 0 DPLL_CTRL1_LINK_RATE_2700 */ 270000 * 2,
  /* 1 DPLL_CTRL1_LINK_RATE_1350 */ 135000 * 2,
  /* 2 DPLL_CTRL1_LINK_RATE_810 */ 81000 * 2,
  /* 3 DPLL_CTRL1_LINK_RATE_1620 */ 162000 * 2,
  /* 4 DPLL_CTRL1_LINK_RATE_1080 */ 108000 * 2,
  /* 5 DPLL_CTRL1_LINK_RATE_2160 */ 216000 * 2,
  /* 6, 7: none */ 0, 0,
]);

/**
 * The display's interrupt banks reporting into GEN8_MASTER_IRQ (GVT-g Linux 6.1
 * `gvt/interrupt.c` `gen8_irq_map`): DE pipe A..C (bits 16..18), DE port (20), DE misc (22),
 * PCH (23: SDEIIR/SDEIER), PCU (30).
 */
export const DE_IRQ_BANKS: readonly IrqBankRow[] = Object.freeze([
  ...[0, 1, 2].map((p) => ({ name: `GEN8_DE_PIPE_${'ABC'[p]}`, masterBit: 16 + p, imr: VREG.dePipeImr(p), iir: VREG.dePipeIir(p), ier: VREG.dePipeIer(p) })),
  { name: 'GEN8_DE_PORT', masterBit: 20, imr: DREG.GEN8_DE_PORT_ISR + 4, iir: DREG.GEN8_DE_PORT_ISR + 8, ier: DREG.GEN8_DE_PORT_ISR + 0xc },
  { name: 'GEN8_DE_MISC', masterBit: 22, imr: DREG.GEN8_DE_MISC_ISR + 4, iir: DREG.GEN8_DE_MISC_ISR + 8, ier: DREG.GEN8_DE_MISC_ISR + 0xc },
  { name: 'SDE (PCH)', masterBit: 23, imr: DREG.SDEIMR, iir: DREG.SDEIIR, ier: DREG.SDEIER },
  { name: 'GEN8_PCU', masterBit: 30, imr: DREG.GEN8_PCU_ISR + 4, iir: DREG.GEN8_PCU_ISR + 8, ier: DREG.GEN8_PCU_ISR + 0xc },
]);

/** Counters of the vblank emulation. */
export interface VblankCounters {
  /** Timer ticks run. */
  ticks: number;
  /** Vblank events raised (one per enabled pipe per tick, masked or not). */
  vblanks: number;
  /** Flips (PLANE_SURF writes and MI_DISPLAY_FLIPs) and flip-done events delivered. */
  flips: number;
  flipsDone: number;
  /** Of `flips`, those an MI_DISPLAY_FLIP made (`commandFlip`). */
  commandFlips: number;
  /** Synchronous flips on a dark pipe: no flip done will come. */
  flipsDropped: number;
}

/** What the vblank emulation needs from its vGPU. */
export interface VblankHost {
  /** The simulated clock (the device's). */
  readonly clock: SimClock;
  /** Recompute the interrupt line (the vGPU's `GtInterrupts.update`). */
  readonly updateIrq: () => void;
  /** Label for debug lines. */
  readonly label: string;
}

/** Per-pipe state of the vblank timer, `PIPES` entries each (typed arrays: the tick allocates nothing). */
interface PipeTimes {
  /** Refresh rate (mHz) of each pipe: its transcoder's, else the previous one, else 60 Hz. */
  readonly rate: Uint32Array;
  /** Time (ns) of each pipe's next vblank, -1 while the pipe has no vblanks. */
  readonly next: Float64Array;
  /** Whole ns of a period (floor(10^12 / rate)), its remainder (10^12 mod rate) and the remainder accumulated so far. */
  readonly whole: Float64Array;
  readonly rem: Float64Array;
  readonly acc: Float64Array;
}

/**
 * The vblank timers and flip state of one vGPU's display: one vblank per enabled pipe at the
 * refresh rate of the transcoder feeding it, on one clock event (the earliest next vblank).
 */
export class VblankEmulator {
  readonly counters: VblankCounters = { ticks: 0, vblanks: 0, flips: 0, flipsDone: 0, commandFlips: 0, flipsDropped: 0 };
  /** Flip-done bits waiting for the pipe's next vblank (GVT-g `flip_done_event[pipe]`). */
  readonly pendingFlipDone = new Uint32Array(PIPES);
  private readonly pipes: PipeTimes = {
    rate: new Uint32Array(PIPES).fill(DEFAULT_REFRESH_MHZ),
    next: new Float64Array(PIPES).fill(-1),
    whole: new Float64Array(PIPES),
    rem: new Float64Array(PIPES),
    acc: new Float64Array(PIPES),
  };
  private event: ClockEvent | null = null;
  private readonly tickFn: () => void;

  constructor(private readonly regs: RegisterFile, private readonly host: VblankHost) {
    this.tickFn = () => this.tick();
  }

  /** True while the timer has an event on the clock (some pipe has vblanks). */
  get running(): boolean {
    return this.event !== null;
  }

  /** Time of the next vblank of any pipe (ns), or -1 when the timer is stopped. */
  get nextVblankAt(): number {
    return this.event === null ? -1 : this.event.time;
  }

  /** Pipe A's refresh rate (mHz; GVT-g's `vrefresh_k`, transcoder A's). See `refreshOf`. */
  get refreshMilliHz(): number {
    return this.pipes.rate[0];
  }

  /** Pipe A's vblank period (ns, rounded). See `periodOfPipe`. */
  get periodNs(): number {
    return periodOf(this.pipes.rate[0]);
  }

  /** The refresh rate (mHz) pipe `pipe` ticks at (or last ticked at; 60 Hz before its first enable). */
  refreshOf(pipe: number): number {
    return this.pipes.rate[pipe];
  }

  /** Pipe `pipe`'s mean vblank period (ns, rounded); its vblanks fall on whole ns within 1 ns of the exact period's multiples. */
  periodOfPipe(pipe: number): number {
    return periodOf(this.pipes.rate[pipe]);
  }

  /** Time (ns) of pipe `pipe`'s next vblank, or -1 when it has none. */
  pipeNextVblankAt(pipe: number): number {
    return this.pipes.next[pipe];
  }

  /**
   * Pipe `pipe` is enabled (GVT-g `pipe_is_enabled`): its PIPECONF enable bit, or transcoder EDP
   * enabled (PIPECONF and DDI function) with its input on this pipe.
   */
  pipeEnabled(pipe: number): boolean {
    const regs = this.regs;
    if ((regs.peek(pipeconf(pipe)) & DBits.PIPECONF_ENABLE) !== 0) return true;
    return this.edpPipe() === pipe;
  }

  /** The pipe the enabled EDP transcoder feeds (TRANS_DDI_FUNC_CTL_EDP input select), or -1. */
  private edpPipe(): number {
    const regs = this.regs;
    if ((regs.peek(DREG.PIPECONF_EDP) & DBits.PIPECONF_ENABLE) === 0) return -1;
    const func = regs.peek(DREG.TRANS_DDI_FUNC_CTL_EDP);
    if ((func & DBits.TRANS_DDI_FUNC_ENABLE) === 0) return -1;
    const input = (func >>> VBits.TRANS_DDI_EDP_INPUT_SHIFT) & 7;
    return input === 0 || input === 4 ? 0 : input === 5 ? 1 : input === 6 ? 2 : -1;
  }

  /** Some pipe is enabled. */
  anyPipeEnabled(): boolean {
    for (let p = 0; p < PIPES; p++) if (this.pipeEnabled(p)) return true;
    return false;
  }

  /**
   * A PIPECONF write (pipe A..C or EDP) changed the pipes (GVT-g `pipeconf_mmio_write`). Every
   * pipe is matched with the registers: a pipe now enabled and without vblanks gets them from
   * now at its transcoder's rate; on an enable write, an enabled pipe whose rate changed restarts
   * from now at the new rate (GVT-g `vgpu_update_refresh_rate` then restarting its timer), one
   * whose rate did not keeps its phase; a pipe now dark loses its vblanks and its pending flip
   * dones (GVT-g drops them at its next tick). The clock event follows the earliest vblank.
   */
  pipeconfWritten(enabled: boolean): void {
    const now = this.host.clock.now, next = this.pipes.next;
    for (let p = 0; p < PIPES; p++) {
      if (this.pipeEnabled(p)) {
        const changed = enabled && this.updateRefreshRate(p);
        if (next[p] < 0 || changed) this.armPipe(p, now);
      } else {
        next[p] = -1;
        this.pendingFlipDone[p] = 0;
      }
    }
    this.schedule();
  }

  /** Start or stop each pipe's vblanks to match the registers (vGPU creation and reset). */
  sync(): void {
    this.stop();
    this.pendingFlipDone.fill(0);
    const now = this.host.clock.now;
    for (let p = 0; p < PIPES; p++) {
      if (!this.pipeEnabled(p)) continue;
      this.updateRefreshRate(p);
      this.armPipe(p, now);
    }
    this.schedule();
  }

  /** Cancel the pending tick and every pipe's vblanks (vGPU destroy, failsafe, reset): nothing of this display stays on the clock. */
  stop(): void {
    this.pipes.next.fill(-1);
    if (this.event === null) return;
    this.event.cancelled = true;
    this.event = null;
    if (log.enabled) log('%s: vblank timer stopped', this.host.label);
  }

  /**
   * A PLANE_SURF write of (pipe, plane): a flip (GVT-g `pri_surf_mmio_write` /
   * `spr_surf_mmio_write`). The register file already holds `surf`; the flip is asynchronous when
   * PLANE_CTL has `PLANE_CTL_ASYNC_FLIP`. See `flipPlane`.
   */
  flip(pipe: number, plane: number, surf: number): void {
    if (log.enabled) log('%s: PLANE_SURF flip of pipe %d plane %d to 0x%s', this.host.label, pipe, plane + 1, (surf >>> 0).toString(16));
    this.flipPlane(pipe, plane, (this.regs.peek(planeCtl(pipe, plane)) & VBits.PLANE_CTL_ASYNC_FLIP) !== 0);
  }

  /**
   * An MI_DISPLAY_FLIP the auditor admitted (GVT-g `gen8_update_plane_mmio_from_mi_display_flip`
   * for Skylake): PLANE_SURF bits 31:12 take `surf`, PLANE_STRIDE bits 9:0 `stride`, PLANE_CTL bits
   * 12:10 `tiling` (other bits of the three kept), then the flip as a PLANE_SURF write's
   * (`flipPlane`), asynchronous when the command says so (Flip Type 1), whatever PLANE_CTL's async
   * bit. As GVT-g's `gen8_check_mi_display_flip`, an asynchronous flip that changes stride or
   * tiling (which the hardware cannot) is only logged. The caller checked `surf` against the
   * vGPU's graphics memory; these are the vGPU's registers only (the host has no display).
   */
  commandFlip(pipe: number, plane: number, surf: number, stride: number, tiling: number, async: boolean): void {
    const regs = this.regs;
    const ctl = planeCtl(pipe, plane), strideReg = ctl + 0x08, surfReg = VREG.planeSurf(pipe, plane);
    if (async && log.enabled && ((regs.peek(strideReg) & 0x3ff) !== stride || ((regs.peek(ctl) >>> 10) & 7) !== tiling)) {
      log('%s: asynchronous MI_DISPLAY_FLIP changes stride or tiling of pipe %d plane %d', this.host.label, pipe, plane + 1);
    }
    regs.poke(surfReg, ((regs.peek(surfReg) & 0xfff) | (surf & 0xfffff000)) >>> 0);
    regs.poke(strideReg, ((regs.peek(strideReg) & ~0x3ff) | (stride & 0x3ff)) >>> 0);
    regs.poke(ctl, ((regs.peek(ctl) & ~(7 << 10)) | ((tiling & 7) << 10)) >>> 0);
    this.counters.commandFlips++;
    if (log.enabled) log('%s: MI_DISPLAY_FLIP of pipe %d plane %d to 0x%s%s', this.host.label, pipe, plane + 1, (surf >>> 0).toString(16), async ? ' (async)' : '');
    this.flipPlane(pipe, plane, async);
  }

  /**
   * The flip of (pipe, plane) whose PLANE_SURF is set, shared by the MMIO and command paths (GVT-g
   * `pri_surf_mmio_write`, `gen8_update_plane_mmio_from_mi_display_flip`): PLANE_SURFLIVE takes
   * PLANE_SURF, a primary plane's flip counts in PIPE_FLIPCOUNT_G4X, and its flip done
   * (`GEN9_PIPE_PLANE_FLIP_DONE(plane)`) is raised now when `async`, else at the pipe's next vblank.
   * A synchronous flip on a dark pipe never gets one (GVT-g's tick drops it; counted in
   * `flipsDropped`). GVT-g's command path leaves SURFLIVE alone; here both paths set it.
   */
  flipPlane(pipe: number, plane: number, async: boolean): void {
    const regs = this.regs;
    this.counters.flips++;
    regs.poke(VREG.planeSurfLive(pipe, plane), regs.peek(VREG.planeSurf(pipe, plane)));
    if (plane === 0) regs.poke(VREG.flipcount(pipe), (regs.peek(VREG.flipcount(pipe)) + 1) >>> 0);
    const bit = VBits.planeFlipDone(plane);
    if (async) {
      this.counters.flipsDone++;
      this.raise(pipe, bit);
      this.host.updateIrq();
    } else if (this.pipeEnabled(pipe)) {
      this.pendingFlipDone[pipe] |= bit;
    } else {
      this.counters.flipsDropped++;
    }
  }

  /**
   * GVT-g `vgpu_update_refresh_rate`, per pipe: the refresh rate of the transcoder feeding `pipe`
   * (transcoder = pipe on Skylake) from the DP port clock of its port (TRANS_DDI_FUNC_CTL port
   * select; `skl_vgpu_get_dp_bitrate`: the DPLL that DPLL_CTRL2 selects for the port, that DPLL's
   * DPLL_CTRL1 link rate), its PIPE_LINK_M1/N1 and its total size. Ports B, C and D (GVT-g: B and
   * D, transcoder A only). A pipe fed by the EDP transcoder alone keeps its rate (60 Hz unless
   * its own transcoder set one). A rate that cannot be computed or falls outside
   * `MIN_REFRESH_MHZ..MAX_REFRESH_MHZ` leaves the previous one. Returns whether the rate changed.
   */
  private updateRefreshRate(pipe: number): boolean {
    const regs = this.regs, tb = transcoderBase(pipe);
    if ((regs.peek(pipeconf(pipe)) & DBits.PIPECONF_ENABLE) === 0) return false;
    const port = (regs.peek(tb + TRANS.DDI_FUNC_CTL) >>> VBits.TRANS_DDI_PORT_SHIFT) & 7;
    if (port !== Port.B && port !== Port.C && port !== Port.D) return false;
    const ctrl2 = regs.peek(DREG.DPLL_CTRL2);
    if ((ctrl2 & DBits.dpllCtrl2ClkOff(port)) !== 0 || (ctrl2 & DBits.dpllCtrl2SelOverride(port)) === 0) return false;
    const dpll = (ctrl2 >>> VBits.DPLL_CTRL2_CLK_SEL_SHIFT(port)) & 3;
    const dpBr = SKL_LINK_RATE_KHZ[(regs.peek(DREG.DPLL_CTRL1) >>> VBits.DPLL_CTRL1_LINK_RATE_SHIFT(dpll)) & 7];
    const linkM = regs.peek(tb + TRANS.LINK_M1) & 0xffffff, linkN = regs.peek(tb + TRANS.LINK_N1) & 0xffffff;
    const htotal = regs.peek(tb + TRANS.HTOTAL) >>> 16, vtotal = regs.peek(tb + TRANS.VTOTAL) >>> 16;
    if (dpBr === 0 || linkN === 0 || htotal === 0 || vtotal === 0) return false;
    // pixel clock (Hz) = link clock (kHz) · M / N · 1000; rate (mHz) = pixel clock · 1000 / (h · v).
    const pixelHz = Math.floor((linkM * dpBr) / linkN) * 1000;
    const rate = Math.round((pixelHz * 1000) / ((htotal + 1) * (vtotal + 1)));
    if (!(rate >= MIN_REFRESH_MHZ && rate <= MAX_REFRESH_MHZ) || rate === this.pipes.rate[pipe]) return false;
    this.pipes.rate[pipe] = rate;
    if (log.enabled) log('%s: pipe %s refresh rate %d mHz (period %d ns)', this.host.label, 'ABC'[pipe], rate, periodOf(rate));
    return true;
  }

  /** Back to the state at creation (the caller restores the registers, then calls `sync`). */
  reset(): void {
    this.stop();
    this.pendingFlipDone.fill(0);
    this.pipes.rate.fill(DEFAULT_REFRESH_MHZ);
  }

  /**
   * Pipe `pipe`'s vblanks start at `from`: vblank k falls at `from` + floor(k · 10^12 / rate) ns,
   * kept by whole-ns steps plus an accumulated remainder (a fixed period, no drift and no
   * rounding error: 600 vblanks in 10 s at 60 Hz, where a rounded 16 666 667 ns period gives 599).
   */
  private armPipe(pipe: number, from: number): void {
    const t = this.pipes, rate = t.rate[pipe];
    t.whole[pipe] = Math.floor(1e12 / rate);
    t.rem[pipe] = 1e12 - t.whole[pipe] * rate;
    t.acc[pipe] = 0;
    t.next[pipe] = from;
    this.advancePipe(pipe);
  }

  /** Move pipe `pipe`'s next vblank one period on (`hrtimer_add_expires_ns`, with the remainder carried). */
  private advancePipe(pipe: number): void {
    const t = this.pipes;
    let step = t.whole[pipe], acc = t.acc[pipe] + t.rem[pipe];
    if (acc >= t.rate[pipe]) {
      acc -= t.rate[pipe];
      step++;
    }
    t.acc[pipe] = acc;
    t.next[pipe] += step;
  }

  /**
   * The clock event at the earliest next vblank of any pipe, or none. A pending event already due
   * no later is kept (an early event finds no pipe due and re-arms): a guest's PIPECONF writes
   * cannot pile cancelled events on the clock faster than its vblanks come.
   */
  private schedule(ran: ClockEvent | null = null): void {
    const next = this.pipes.next;
    let at = -1;
    for (let p = 0; p < PIPES; p++) if (next[p] >= 0 && (at < 0 || next[p] < at)) at = next[p];
    if (at < 0) {
      this.stop();
      return;
    }
    if (this.event !== null) {
      if (this.event.time <= at) return;
      this.event.cancelled = true;
    }
    // From the tick, the event that just ran is re-armed (`SimClock.rearm`): no allocation.
    this.event = ran !== null ? this.host.clock.rearm(ran, at) : this.host.clock.at(at, this.tickFn);
  }

  /**
   * One timer event (GVT-g `intel_vgpu_emulate_vblank` → `emulate_vblank_on_pipe`), for each pipe
   * whose vblank is due: its pending flip dones are raised, its frame counter counts one and its
   * vblank event is raised, and its next vblank is one period on; a pipe found dark (its EDP input
   * moved without a PIPECONF write) loses its vblanks and pending flip dones. Then one line
   * update and the event for the earliest next vblank.
   */
  private tick(): void {
    const ran = this.event;
    const at = ran === null ? this.host.clock.now : ran.time;
    this.event = null;
    this.counters.ticks++;
    const regs = this.regs, next = this.pipes.next;
    let raised = false;
    for (let pipe = 0; pipe < PIPES; pipe++) {
      if (next[pipe] < 0 || next[pipe] > at) continue;
      const flips = this.pendingFlipDone[pipe];
      this.pendingFlipDone[pipe] = 0;
      if (!this.pipeEnabled(pipe)) {
        next[pipe] = -1;
        continue;
      }
      if (flips !== 0) {
        for (let plane = 0; plane < PLANES_PER_PIPE; plane++) if ((flips & VBits.planeFlipDone(plane)) !== 0) this.counters.flipsDone++;
        this.raise(pipe, flips);
      }
      this.counters.vblanks++;
      regs.poke(VREG.frmcount(pipe), (regs.peek(VREG.frmcount(pipe)) + 1) >>> 0);
      this.raise(pipe, VBits.GEN8_PIPE_VBLANK);
      raised = true;
      this.advancePipe(pipe);
    }
    if (raised) this.host.updateIrq();
    this.schedule(ran);
  }

  /** Set `bits` in pipe `pipe`'s DE IIR where its IMR lets them through (GVT-g `propagate_event`). */
  private raise(pipe: number, bits: number): void {
    const regs = this.regs;
    const pass = bits & ~regs.peek(VREG.dePipeImr(pipe));
    if (pass !== 0) regs.poke(VREG.dePipeIir(pipe), (regs.peek(VREG.dePipeIir(pipe)) | pass) >>> 0);
  }
}

/** Timer period (ns) of a refresh rate in mHz (GVT-g: `NSEC_PER_SEC · MSEC_PER_SEC / vrefresh_k`, rounded). */
export function periodOf(refreshMilliHz: number): number {
  return Math.round(1e12 / refreshMilliHz);
}
