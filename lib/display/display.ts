/**
 * `VirtualDisplay`: the display engine of one vGPU, as GVT-g presents it on Skylake.
 *
 * GVT-g gives a Skylake vGPU one virtual DisplayPort monitor on port D (Linux 6.1 `gvt/display.c`
 * `intel_vgpu_init_display`: Skylake, Kaby Lake, Coffee Lake and Comet Lake get
 * `setup_virtual_dp_monitor(vgpu, PORT_D, GVT_DP_D, resolution)`), whose EDID resolution is the
 * vGPU type's (`gvt/vgpu.c` `vgpu_types[]`: 1024x768 for the smallest type, 1920x1200 for the
 * others). That is the default here; the host may instead give a vGPU up to three monitors, on
 * ports B, C and D, each with its own list of modes (`monitors.ts`), and change them at run time
 * (`setMonitor`), which raises a hotplug to the guest at once.
 *
 * The display owns the monitors' EDIDs and DPCDs, the AUX channels, the DDC controllers and the
 * GPIO latches; the registers themselves live in the vGPU's register file, whose handler rows
 * (`handlers.ts`) call in here. With a clock (`VirtualDisplayOptions.clock`, a vGPU's device
 * clock) the display emulates vblanks and flips (`vblank.ts`, GVT-g's vblank timer). Every
 * interrupt it raises (vblank, flip done, hotplug, AUX done) recomputes the vGPU's line at once
 * (`updateIrq`).
 */
import createDebug from 'debug';
import { ConfigError, StateError } from '../errors.js';
import type { RegisterFile } from '../mmio/index.js';
import { AuxChannel, DdcBus } from './aux.js';
import { VirtualDpcd } from './dpcd.js';
import { buildEdid, hTotal, monitorMode, vTotal, type DisplayMode } from './edid.js';
import { GmbusController } from './gmbus.js';
import { AuxCtl } from './handlers.js';
import { MONITOR_PORTS, monitorPortRow, resolveMonitor, type MonitorConfig, type MonitorPort, type MonitorPortRow, type ResolvedMonitor } from './monitors.js';
import { DBits, DREG, TRANS, monitorStatusValues, transcoderBase } from './registers.js';
import { VblankEmulator } from './vblank.js';
import type { SimClock } from '../clock.js';

const log = createDebug('gvtkit:display');

/** Options of a vGPU's display. */
export interface VirtualDisplayOptions {
  /** The resolution of the default monitor (the vGPU type's EDID resolution). */
  width: number;
  height: number;
  /**
   * The monitors (from `resolveDisplayOptions`), the primary first; default GVT-g's one monitor
   * on port D at `width` x `height` (its EDID as GVT-g's, with established and standard timings).
   */
  monitors?: readonly ResolvedMonitor[];
  /** Label for debug lines. */
  label?: string;
  /**
   * Start with pipe A lit on the primary monitor, as GVT-g leaves it (default false: a dark pipe;
   * with a clock, a lit pipe gets vblanks from creation; see `monitorStatusValues`).
   */
  litPipe?: boolean;
  /** The simulated clock the vblank timer runs on (a vGPU's device clock); without it, no vblanks. */
  clock?: SimClock;
  /** Recompute the interrupt line after the display raised an event (the vGPU's `irq.update`). */
  updateIrq?: () => void;
}

/** A virtual monitor on a port. */
export interface VirtualMonitor {
  /** Port index (i915 `enum port`: `Port.B`..`Port.D`). */
  readonly port: number;
  /** Port name ('B', 'C', 'D'). */
  readonly portName: MonitorPort;
  /** Its preferred mode (the first detailed timing of its EDID). */
  readonly mode: DisplayMode;
  /** Every mode it lists, the preferred first. */
  readonly modes: readonly DisplayMode[];
  /** Its EDID: the base block and any CTA-861 extension blocks. */
  readonly edid: Uint8Array;
  /** EDID name and serial strings. */
  readonly name: string;
  readonly serial: string;
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
  /** AUX-done interrupt events raised (transactions with DP_AUX_CH_CTL_INTERRUPT set). */
  auxInterrupts: number;
  /** Hotplug events raised (plug, unplug, monitor changed). */
  hotplugs: number;
  /** GMBUS transfers NAKed. */
  gmbusNaks: number;
  /** PCU mailbox commands answered, and those answered "illegal command". */
  pcodeCommands: number;
  pcodeRefused: number;
}

/** DE port IIR bit of each AUX channel A..D (GVT-g `gen8_init_irq`, Gen9: AUX_CHANNEL_A..D). */
const AUX_IIR_BITS: readonly number[] = Object.freeze([DBits.GEN8_AUX_CHANNEL_A, DBits.GEN9_AUX_CHANNEL_B, DBits.GEN9_AUX_CHANNEL_C, DBits.GEN9_AUX_CHANNEL_D]);
const DE_PORT_IMR = DREG.GEN8_DE_PORT_ISR + 4;
const DE_PORT_IIR = DREG.GEN8_DE_PORT_ISR + 8;
/** Every port's strap and SDE hotplug bits (B, C, D; and SPT's A and E, which GVT-g clears). */
const ALL_STRAP_BITS = MONITOR_PORTS.reduce((a, r) => a | r.strapBit, 0);
const ALL_SDE_HOTPLUG_BITS = MONITOR_PORTS.reduce((a, r) => a | r.sdeHotplugBit, DBits.SDE_PORTA_HOTPLUG_SPT | DBits.SDE_PORTE_HOTPLUG_SPT);

/** The default monitor: GVT-g's, on port D at the type's resolution, with GVT-g's EDID layout. */
function gvtDefaultMonitor(width: number, height: number): ResolvedMonitor {
  const mode = monitorMode(width, height);
  const row = monitorPortRow('D')!;
  return { portRow: row, modes: [mode], edid: buildEdid(mode), name: 'gvtkit DP', serial: 'GVTKIT-0001' };
}

/** The display engine of one vGPU. Create it with the vGPU's register file. */
export class VirtualDisplay {
  /** AUX channels A..D (index = `enum aux_ch`); a channel has a sink while its port's monitor is connected. */
  readonly aux: readonly AuxChannel[];
  /** The GMBUS engine. */
  readonly gmbus: GmbusController;
  /** Driver state of the 6 GPIO pins (see `gpioLatch`). */
  readonly gpioLatches = new Uint8Array(6);
  /** PCU mailbox counters (the others are read from the channels). */
  pcodeCommands = 0;
  pcodeRefused = 0;
  /** Hotplug and AUX-done events raised. */
  hotplugs = 0;
  auxInterrupts = 0;
  /** The vGPU starts with pipe A lit (GVT-g's state) rather than dark. */
  readonly litPipe: boolean;
  /** Vblank and flip emulation (null without a clock). */
  readonly vblank: VblankEmulator | null;
  private readonly label: string;
  private readonly updateIrq: () => void;
  /** The monitors, the primary first (the order of creation, then of `setMonitor` additions). */
  private list: VirtualMonitor[] = [];

  constructor(readonly regs: RegisterFile, options: VirtualDisplayOptions) {
    this.label = options.label ?? 'vgpu';
    this.litPipe = options.litPipe ?? false;
    this.updateIrq = options.updateIrq ?? (() => {});
    this.aux = [0, 1, 2, 3].map(() => new AuxChannel(null, null));
    for (const r of options.monitors ?? [gvtDefaultMonitor(options.width, options.height)]) this.list.push(makeMonitor(r));
    this.connectAux();
    // No monitor sits on a GMBUS pin: GVT-g's DP monitors are reached over AUX only.
    this.gmbus = new GmbusController(() => null);
    this.applyMonitorStatus(this.litPipe);
    const clock = options.clock;
    this.vblank = clock ? new VblankEmulator(regs, { clock, updateIrq: this.updateIrq, label: this.label }) : null;
  }

  /** The monitors, the primary first (a copy of the list). */
  get monitors(): VirtualMonitor[] {
    return [...this.list];
  }

  /** The primary monitor (the first listed). Throws `StateError` on a display without monitors. */
  get monitor(): VirtualMonitor {
    const m = this.list[0];
    if (!m) throw new StateError(`${this.label}: the display has no monitor`);
    return m;
  }

  /** The monitor on `port` ('B', 'C', 'D'), if any. */
  monitorAt(port: MonitorPort): VirtualMonitor | undefined {
    return this.list.find((m) => m.portName === port);
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
    return {
      auxTransactions, auxRefused, auxInterrupts: this.auxInterrupts, hotplugs: this.hotplugs,
      gmbusNaks: this.gmbus.naks, pcodeCommands: this.pcodeCommands, pcodeRefused: this.pcodeRefused,
    };
  }

  /**
   * The register values GVT-g's `emulate_monitor_status_change` sets for the monitors: the DDI
   * detected straps (SFUSE_STRAP) and live hotplug bits (SDEISR) of every monitor's port, the
   * power wells of their DDIs (with PW1 and misc I/O, as the host copy GVT-g starts from has
   * them), and `monitorStatusValues` (`lit`: pipe A lit on the primary monitor, GVT-g's state;
   * else a dark pipe), plus transcoder A's timings and pipe A's source size for the primary
   * monitor's preferred mode (GVT-g leaves the host's there; a guest reading back the lit pipe
   * finds the monitor's own mode instead). Storage only: no handler runs. Called at creation (the
   * vGPU's boot image includes it) and at reset (for the monitors the host has set since).
   */
  applyMonitorStatus(lit: boolean): void {
    const regs = this.regs;
    let strap = 0, sde = 0;
    let wells = DBits.pwrWellReq(DBits.SKL_PW_CTL_IDX_PW_1) | DBits.pwrWellReq(DBits.SKL_PW_CTL_IDX_MISC_IO);
    for (const m of this.list) {
      const row = monitorPortRow(m.portName)!;
      strap |= row.strapBit;
      if (m.connected) sde |= row.sdeHotplugBit;
      wells |= DBits.pwrWellReq(row.powerWell);
    }
    regs.poke(DREG.SFUSE_STRAP, ((regs.peek(DREG.SFUSE_STRAP) & ~ALL_STRAP_BITS) | strap) >>> 0);
    regs.poke(DREG.SDEISR, ((regs.peek(DREG.SDEISR) & ~ALL_SDE_HOTPLUG_BITS) | sde) >>> 0);
    regs.poke(DREG.HSW_PWR_WELL_CTL2, (wells | (wells >>> 1)) >>> 0);
    const primary = this.list[0];
    for (const [offset, value] of monitorStatusValues(lit, primary ? primary.port : -1)) regs.poke(offset, value);
    if (!primary) return;
    const m = primary.mode, ta = transcoderBase(0);
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
   * Put a monitor on `port` ('B', 'C' or 'D'), replace the one there (new EDID, a fresh DPCD), or
   * remove it (`config` null), and tell the guest at once: a hotplug event on the port as GVT-g's
   * `intel_vgpu_emulate_hotplug` raises it (`hotplug`). A new monitor comes last in the list (a
   * replaced one keeps its place; removing the primary makes the next one primary). The
   * configuration is the host's: a vGPU reset keeps it. Throws `ConfigError` (field
   * `setMonitor(<port>)...`) or `RangeArgError` for a bad port, touching nothing.
   */
  setMonitor(port: MonitorPort, config: MonitorConfig | null): void {
    const row = monitorPortRow(port);
    if (!row) throw new ConfigError('setMonitor port', `must be 'B', 'C' or 'D' (Skylake's DP-capable DDIs), got ${typeof port === 'string' ? `'${port}'` : String(port)}`);
    const at = this.list.findIndex((m) => m.portName === row.name);
    if (config === null) {
      if (at < 0) return;
      this.list.splice(at, 1);
      this.connectAux();
      this.raiseHotplug(row, false);
      if (log.enabled) log('%s: monitor on port %s removed', this.label, row.name);
      return;
    }
    const resolved = resolveMonitor(row, config, `setMonitor(${row.name})`);
    const m = makeMonitor(resolved);
    if (at < 0) this.list.push(m);
    else this.list[at] = m;
    this.connectAux();
    this.raiseHotplug(row, true);
    if (log.enabled) log('%s: monitor on port %s set: %d modes, preferred %dx%d', this.label, row.name, m.modes.length, m.mode.width, m.mode.height);
  }

  /**
   * Plug or unplug the monitor on `port` (default the primary's), keeping it configured (GVT-g
   * `intel_vgpu_emulate_hotplug`): SFUSE_STRAP's DDI bit and SDEISR's hotplug bit of the port
   * follow the state; its bit in SDEIIR and its status in PCH_PORT_HOTPLUG (long and short
   * detect) are set, the PCH event goes through the interrupt line at once (GEN8_MASTER_IRQ bit 23
   * when SDEIER enables it), and its AUX channel answers only while plugged. Throws `StateError`
   * when the port has no monitor.
   */
  hotplug(connected: boolean, port?: MonitorPort): void {
    const m = port === undefined ? this.list[0] : this.list.find((x) => x.portName === port);
    if (!m) throw new StateError(`${this.label}: no monitor on port ${port ?? '(primary)'} to ${connected ? 'plug' : 'unplug'}`);
    m.connected = connected;
    this.connectAux();
    this.raiseHotplug(monitorPortRow(m.portName)!, connected);
    if (log.enabled) log('%s: monitor on port %s %s', this.label, m.portName, connected ? 'plugged' : 'unplugged');
  }

  /**
   * A guest's AUX transaction on channel `ch` completed (`dp_aux_ch_ctl_trans_done`): with
   * DP_AUX_CH_CTL_INTERRUPT in `ctl`, raise the channel's AUX event (GVT-g
   * `trigger_aux_channel_interrupt`): its GEN8_DE_PORT_IIR bit unless GEN8_DE_PORT_IMR masks it
   * (`propagate_event`), and the line at once. i915 6.1 sleeps on its gmbus wait queue in
   * `intel_dp_aux_wait_done` only when SEND_BUSY is still set; the interrupt wakes it there.
   */
  auxDone(ch: number, ctl: number): void {
    if ((ctl & AuxCtl.INTERRUPT) === 0) return;
    const bit = AUX_IIR_BITS[ch];
    this.auxInterrupts++;
    const regs = this.regs;
    if ((regs.peek(DE_PORT_IMR) & bit) === 0) regs.poke(DE_PORT_IIR, (regs.peek(DE_PORT_IIR) | bit) >>> 0);
    this.updateIrq();
  }

  /**
   * Back to the state at creation, for a vGPU reset (the caller restores the registers, then
   * calls `syncVblank`): vblank timer stopped, DPCDs, DDCs, GMBUS, GPIO latches; every monitor
   * the host has set plugged, and their register bits applied again (GVT-g
   * `intel_vgpu_reset_display` → `emulate_monitor_status_change`).
   */
  reset(): void {
    this.vblank?.reset();
    for (const m of this.list) {
      m.dpcd.reset();
      m.ddc.reset();
      m.connected = true;
    }
    this.connectAux();
    this.applyMonitorStatus(this.litPipe);
    this.gmbus.reset();
    this.gpioLatches.fill(0);
  }

  /** Give each AUX channel the sink of its port's monitor while connected, none otherwise. */
  private connectAux(): void {
    for (const ch of this.aux) {
      ch.dpcd = null;
      ch.ddc = null;
    }
    for (const m of this.list) {
      if (!m.connected) continue;
      const ch = this.aux[monitorPortRow(m.portName)!.auxCh];
      ch.dpcd = m.dpcd;
      ch.ddc = m.ddc;
    }
  }

  /**
   * The hotplug event of `row`'s port (GVT-g `intel_vgpu_emulate_hotplug`, Skylake, generalised
   * from port D to B, C, D): strap and live bits follow `connected`, SDEIIR and the port's
   * PCH_PORT_HOTPLUG status (long detect: i915's `spt_port_hotplug_long_detect` then re-probes the
   * connector) are set, then the line is recomputed (`intel_vgpu_trigger_virtual_event` →
   * `check_pending_irq`).
   */
  private raiseHotplug(row: MonitorPortRow, connected: boolean): void {
    const regs = this.regs;
    const strap = regs.peek(DREG.SFUSE_STRAP), isr = regs.peek(DREG.SDEISR);
    regs.poke(DREG.SFUSE_STRAP, (connected ? strap | row.strapBit : strap & ~row.strapBit) >>> 0);
    regs.poke(DREG.SDEISR, (connected ? isr | row.sdeHotplugBit : isr & ~row.sdeHotplugBit) >>> 0);
    regs.poke(DREG.SDEIIR, (regs.peek(DREG.SDEIIR) | row.sdeHotplugBit) >>> 0);
    regs.poke(DREG.PCH_PORT_HOTPLUG, (regs.peek(DREG.PCH_PORT_HOTPLUG) | row.pchStatusMask) >>> 0);
    this.hotplugs++;
    this.updateIrq();
  }
}

function makeMonitor(r: ResolvedMonitor): VirtualMonitor {
  return {
    port: r.portRow.port, portName: r.portRow.name, mode: r.modes[0], modes: r.modes, edid: r.edid,
    name: r.name, serial: r.serial, dpcd: new VirtualDpcd(), ddc: new DdcBus(r.edid), connected: true,
  };
}
