/**
 * `VirtualDisplay`: the display engine of one vGPU, as GVT-g presents it on Skylake.
 *
 * One virtual DisplayPort monitor on port D (Linux v7.0 `gvt/display.c` `intel_vgpu_init_display`:
 * Skylake, Kaby Lake, Coffee Lake and Comet Lake get `setup_virtual_dp_monitor(vgpu, PORT_D,
 * GVT_DP_D, resolution)`), whose EDID resolution is the vGPU type's (`gvt/vgpu.c` `vgpu_types[]`:
 * 1024x768 for the smallest type, 1920x1200 for the others). The display owns the monitor's
 * EDID and DPCD, the AUX channels, the DDC controllers and the GPIO latches; the registers
 * themselves live in the vGPU's register file, whose handler rows (`handlers.ts`) call in here.
 *
 * With a clock (`VirtualDisplayOptions.clock`, a vGPU's device clock) the display emulates vblanks
 * and flips (`vblank.ts`, GVT-g's vblank timer) and raises DE pipe interrupts through its vGPU's
 * interrupt line. Not here yet (issue 16): plane decode, hotplug interrupts raised at once.
 */
import createDebug from 'debug';
import type { RegisterFile } from '../mmio/index.js';
import { AuxChannel, DdcBus } from './aux.js';
import { VirtualDpcd } from './dpcd.js';
import { buildEdid, hTotal, monitorMode, vTotal, type DisplayMode } from './edid.js';
import { GmbusController } from './gmbus.js';
import { DBits, DREG, Port, TRANS, monitorStatusValues, transcoderBase } from './registers.js';
import { VblankEmulator } from './vblank.js';
import type { SimClock } from '../clock.js';

const log = createDebug('gvtkit:display');

/** Options of a vGPU's display. */
export interface VirtualDisplayOptions {
  /** The monitor's resolution (the vGPU type's EDID resolution). */
  width: number;
  height: number;
  /** Label for debug lines. */
  label?: string;
  /**
   * Start with pipe A lit on the monitor, as GVT-g leaves it (default false: a dark pipe; with a
   * clock, a lit pipe gets vblanks from creation; see `monitorStatusValues`).
   */
  litPipe?: boolean;
  /** The simulated clock the vblank timer runs on (a vGPU's device clock); without it, no vblanks. */
  clock?: SimClock;
  /** Recompute the interrupt line after the display raised an event (the vGPU's `irq.update`). */
  updateIrq?: () => void;
}

/** The virtual monitor on a port. */
export interface VirtualMonitor {
  /** Port index (`Port.D`). */
  readonly port: number;
  /** Its preferred mode (the first detailed timing of its EDID). */
  readonly mode: DisplayMode;
  /** Its EDID (base block). */
  readonly edid: Uint8Array;
  /** Its DPCD. */
  readonly dpcd: VirtualDpcd;
  /** Its DDC bus (reached by I2C over AUX). */
  readonly ddc: DdcBus;
  /** Connected (hotplug state). */
  connected: boolean;
}

/** Counters of one display. */
export interface DisplayCounters {
  /** AUX transactions run, and those refused (NACK or timeout). */
  auxTransactions: number;
  auxRefused: number;
  /** GMBUS transfers NAKed. */
  gmbusNaks: number;
  /** PCU mailbox commands answered, and those answered "illegal command". */
  pcodeCommands: number;
  pcodeRefused: number;
}

/** The display engine of one vGPU. Create it with the vGPU's register file. */
export class VirtualDisplay {
  /** The monitor on port D. */
  readonly monitor: VirtualMonitor;
  /** AUX channels A..D (index = `enum aux_ch`); only D has a sink. */
  readonly aux: readonly AuxChannel[];
  /** The GMBUS engine. */
  readonly gmbus: GmbusController;
  /** Driver state of the 6 GPIO pins (see `gpioLatch`). */
  readonly gpioLatches = new Uint8Array(6);
  /** PCU mailbox counters (the others are read from the channels). */
  pcodeCommands = 0;
  pcodeRefused = 0;
  /** The vGPU starts with pipe A lit (GVT-g's state) rather than dark. */
  readonly litPipe: boolean;
  /** Vblank and flip emulation (null without a clock). */
  readonly vblank: VblankEmulator | null;
  private readonly label: string;

  constructor(readonly regs: RegisterFile, options: VirtualDisplayOptions) {
    this.label = options.label ?? 'vgpu';
    this.litPipe = options.litPipe ?? false;
    const mode = monitorMode(options.width, options.height);
    const edid = buildEdid(mode);
    this.monitor = { port: Port.D, mode, edid, dpcd: new VirtualDpcd(), ddc: new DdcBus(edid), connected: true };
    this.aux = [0, 1, 2, 3].map((ch) => (ch === this.monitor.port ? new AuxChannel(this.monitor.dpcd, this.monitor.ddc) : new AuxChannel(null, null)));
    // No monitor sits on a GMBUS pin: GVT-g's DP monitor is reached over AUX only.
    this.gmbus = new GmbusController(() => null);
    this.applyMonitorStatus(this.litPipe);
    const clock = options.clock;
    this.vblank = clock ? new VblankEmulator(regs, { clock, updateIrq: options.updateIrq ?? (() => {}), label: this.label }) : null;
  }

  /**
   * Start the vblank timer if a pipe is enabled in the registers (creation with a lit pipe, after
   * a reset restored them); stop it otherwise.
   */
  syncVblank(): void {
    this.vblank?.sync();
  }

  /** Stop the vblank timer for good (vGPU destroy, failsafe): no event of this display stays on the clock. */
  stop(): void {
    this.vblank?.stop();
  }

  /** Counters (a copy). */
  get counters(): DisplayCounters {
    let auxTransactions = 0, auxRefused = 0;
    for (const a of this.aux) {
      auxTransactions += a.transactions;
      auxRefused += a.refused;
    }
    return { auxTransactions, auxRefused, gmbusNaks: this.gmbus.naks, pcodeCommands: this.pcodeCommands, pcodeRefused: this.pcodeRefused };
  }

  /**
   * The register values GVT-g's `emulate_monitor_status_change` sets for the monitor on port D
   * (`lit`: pipe A lit on it, GVT-g's state; else a dark pipe, see `monitorStatusValues`), plus
   * transcoder A's timings and pipe A's source size for the monitor's mode (GVT-g leaves the
   * host's there; a guest reading back the lit pipe finds the monitor's own mode instead).
   * Storage only: no handler runs. Called at creation (the vGPU's boot image includes it).
   */
  applyMonitorStatus(lit: boolean): void {
    const regs = this.regs;
    for (const [offset, value] of monitorStatusValues(lit)) regs.poke(offset, value);
    const m = this.monitor.mode, ta = transcoderBase(0);
    const ht = hTotal(m), vt = vTotal(m);
    const pair = (lo: number, hi: number): number => (((hi - 1) << 16) | (lo - 1)) >>> 0;
    regs.poke(ta + TRANS.HTOTAL, pair(m.width, ht));
    regs.poke(ta + TRANS.HBLANK, pair(m.width, ht));
    regs.poke(ta + TRANS.HSYNC, pair(m.width + m.hFrontPorch, m.width + m.hFrontPorch + m.hSync));
    regs.poke(ta + TRANS.VTOTAL, pair(m.height, vt));
    regs.poke(ta + TRANS.VBLANK, pair(m.height, vt));
    regs.poke(ta + TRANS.VSYNC, pair(m.height + m.vFrontPorch, m.height + m.vFrontPorch + m.vSync));
    regs.poke(ta + TRANS.PIPESRC, (((m.width - 1) << 16) | (m.height - 1)) >>> 0);
  }

  /**
   * Plug or unplug the monitor (GVT-g `intel_vgpu_emulate_hotplug`, Skylake): SFUSE_STRAP's DDI D
   * bit and SDEISR's port D bit follow the state, SDEIIR's port D bit and PCH_PORT_HOTPLUG's port
   * D status are set. GEN8_MASTER_IRQ reports SDEIIR & SDEIER (bit 23), but the line is only
   * recomputed at the next interrupt-register write or vblank (raising it here is issue 16's).
   */
  hotplug(connected: boolean): void {
    const regs = this.regs;
    this.monitor.connected = connected;
    const d = DBits.SFUSE_STRAP_DDID_DETECTED, hp = DBits.SDE_PORTD_HOTPLUG_CPT;
    regs.poke(DREG.SFUSE_STRAP, connected ? regs.peek(DREG.SFUSE_STRAP) | d : regs.peek(DREG.SFUSE_STRAP) & ~d);
    regs.poke(DREG.SDEISR, (connected ? regs.peek(DREG.SDEISR) | hp : regs.peek(DREG.SDEISR) & ~hp) >>> 0);
    regs.poke(DREG.SDEIIR, (regs.peek(DREG.SDEIIR) | hp) >>> 0);
    regs.poke(DREG.PCH_PORT_HOTPLUG, (regs.peek(DREG.PCH_PORT_HOTPLUG) | DBits.PORTD_HOTPLUG_STATUS_MASK) >>> 0);
    this.aux[this.monitor.port].dpcd = connected ? this.monitor.dpcd : null;
    this.aux[this.monitor.port].ddc = connected ? this.monitor.ddc : null;
    if (log.enabled) log('%s: monitor on port D %s', this.label, connected ? 'plugged' : 'unplugged');
  }

  /**
   * Back to the state at creation, for a vGPU reset (the caller restores the registers, then
   * calls `syncVblank`): vblank timer stopped, DPCD, DDC, GMBUS, GPIO latches; the monitor plugged
   * (GVT-g `intel_vgpu_reset_display`).
   */
  reset(): void {
    this.vblank?.reset();
    this.monitor.dpcd.reset();
    this.monitor.ddc.reset();
    this.monitor.connected = true;
    this.aux[this.monitor.port].dpcd = this.monitor.dpcd;
    this.aux[this.monitor.port].ddc = this.monitor.ddc;
    this.gmbus.reset();
    this.gpioLatches.fill(0);
  }
}
