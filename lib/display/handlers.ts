/**
 * Handler rows of the display registers: what answers the registers i915 polls.
 *
 * Each row models a GVT-g handler (Linux v7.0 `gvt/handlers.c` unless noted) and names it. The
 * rows are generic over the register file's context: `displayRows((v) => v.display)` gives the
 * vGPU's rows, as `gtInterruptRows` does for the GT interrupt controller.
 *
 * The registers i915 6.1 polls with a timeout on a Skylake vGPU's display probe, and who answers:
 * | poll (i915 6.1) | register | answered by |
 * |---|---|---|
 * | `hsw_wait_for_power_well_enable` / `_disable` | HSW_PWR_WELL_CTL2 state bits | `skl_power_well_ctl_write` row |
 * | `gen9_wait_for_power_well_fuses` (PG0, PG1, PG2) | SKL_FUSE_STATUS | reset value (read-only) |
 * | `__snb_pcode_rw` (ready clear, error field) | GEN6_PCODE_MAILBOX | `mailbox_write` row |
 * | `skl_pcode_request` (cdclk change ready) | GEN6_PCODE_DATA | `mailbox_write` row |
 * | `skl_dpll0_enable` / `_disable` (lock) | LCPLL1_CTL | `skl_lcpll_write` row |
 * | `skl_ddi_pll_enable` (DPLL_LOCK) | DPLL_STATUS | `dpll_status_read` row |
 * | `gen9_dbuf_slices_update` (state after 10 µs) | DBUF_CTL_S0 | `gen9_dbuf_ctl_mmio_write` row |
 * | `intel_dp_aux_wait_done` (send busy clear) | DP_AUX_CH_CTL(A..D) | `dp_aux_ch_ctl_mmio_write` row |
 * | `gmbus_wait`, `gmbus_wait_idle` | GMBUS2 | GMBUS rows (`gvt/edid.c`) |
 * | i2c-algo-bit `sclhi` (HDMI EDID fallback) | GPIO(pin) | GPIO rows (gvtkit) |
 * | `intel_disable_transcoder` → `intel_wait_for_pipe_off` | PIPECONF state | `pipeconf_mmio_write` row |
 * | `intel_wait_ddi_buf_idle` | DDI_BUF_CTL idle | `ddi_buf_ctl_mmio_write` row |
 * | `intel_ddi_set_idle_link_train` (idle done) | DP_TP_STATUS | `dp_tp_ctl_mmio_write` row |
 * | panel power (eDP only: none on a vGPU) | PCH_PP_STATUS | `pch_pp_control_mmio_write` row |
 */
import type { HandlerRow } from '../mmio/index.js';
import type { VirtualDisplay } from './display.js';
import { gpioLatch, gpioRead, Gmbus } from './gmbus.js';
import { DBits, DREG, PIPES, PLANES_PER_PIPE, SKL_PW_REQ_MASK, ddiBufCtl, dpAuxChCtl, dpTpCtl, dpTpStatus, pipeconf, planeCtl } from './registers.js';

const OWNER = 'display';

/** DP_AUX_CH_CTL bits (i915 `i915_reg.h`). */
export const AuxCtl = {
  SEND_BUSY: 1 << 31,
  DONE: 1 << 30,
  INTERRUPT: 1 << 29,
  TIME_OUT_ERROR: 1 << 28,
  RECEIVE_ERROR: 1 << 25,
  MESSAGE_SIZE_SHIFT: 20,
  MESSAGE_SIZE_MASK: 0x1f << 20,
} as const;

/** One PCU mailbox command and its answer. */
export interface PcodeCommand {
  /** Command code (GEN6_PCODE_MAILBOX 7:0). */
  readonly command: number;
  /** i915's name. */
  readonly name: string;
  /** What the answer is and why. */
  readonly doc: string;
  /** New GEN6_PCODE_DATA from the data written (default: unchanged). */
  readonly answer?: (data0: number) => number;
  /** Error code left in GEN6_PCODE_MAILBOX 7:0 (default 0, success). */
  readonly status?: number;
}

/** GEN6_PCODE_ILLEGAL_CMD: i915's `gen7_check_mailbox_status` makes it -ENXIO. */
export const GEN6_PCODE_ILLEGAL_CMD = 0x1;

/**
 * The PCU mailbox's answers (GVT-g `mailbox_write`, Skylake). A command not listed succeeds with
 * its data unchanged, as GVT-g answers it ("we always emulate as pcode read/write success").
 */
export const PCODE_COMMANDS: readonly PcodeCommand[] = Object.freeze([
  {
    command: 0x5, name: 'GEN6_PCODE_READ_RC6VIDS', doc: 'bit 0 set in the answer (GVT-g)',
    answer: (d0) => (d0 | 1) >>> 0,
  },
  {
    command: 0x6, name: 'GEN9_PCODE_READ_MEM_LATENCY', doc: 'Skylake\'s latencies: set 0 (data 0) 0x1e1a1100, set 1 0x61514b3d (GVT-g)',
    answer: (d0) => (d0 === 0 ? 0x1e1a1100 : 0x61514b3d),
  },
  {
    command: 0x7, name: 'SKL_PCODE_CDCLK_CONTROL', doc: 'SKL_CDCLK_READY_FOR_CHANGE: a cdclk change may proceed (GVT-g)',
    answer: () => 0x1,
  },
  {
    command: 0x21, name: 'GEN9_PCODE_SAGV_CONTROL',
    doc: 'illegal command: a vGPU has no SAGV (i915 6.1 then logs "No SAGV found on system"; GVT-g\'s success with the data unchanged makes i915 wait 50 ms for SAGV_IS_DISABLED and log "Failed to disable SAGV")',
    status: GEN6_PCODE_ILLEGAL_CMD,
  },
]);

const PCODE_BY_COMMAND: readonly (PcodeCommand | undefined)[] = (() => {
  const t: (PcodeCommand | undefined)[] = new Array(256).fill(undefined);
  for (const c of PCODE_COMMANDS) t[c.command] = c;
  return t;
})();

/** The display's handler rows for a register file whose context reaches the display through `display`. */
export function displayRows<C>(display: (ctx: C) => VirtualDisplay): HandlerRow<C>[] {
  return [
    {
      at: DREG.HSW_PWR_WELL_CTL2, owner: OWNER, doc: 'only Skylake\'s request bits stick; each state bit follows its request (skl_power_well_ctl_write)',
      write: (c, offset, value) => {
        const v = (value & SKL_PW_REQ_MASK) >>> 0;
        display(c).regs.poke(offset, (v | (v >>> 1)) >>> 0);
      },
    },
    {
      at: DREG.DBUF_CTL, owner: OWNER, doc: 'the power state follows the power request (gen9_dbuf_ctl_mmio_write)',
      write: (c, offset, _value, _old, next) => {
        const state = (next & DBits.DBUF_POWER_REQUEST) !== 0 ? next | DBits.DBUF_POWER_STATE : next & ~DBits.DBUF_POWER_STATE;
        display(c).regs.poke(offset, state >>> 0);
      },
    },
    {
      at: DREG.LCPLL1_CTL, count: 2, owner: OWNER, doc: 'enable and lock only; lock follows enable (skl_lcpll_write)',
      write: (c, offset, value) => {
        const v = value & DBits.LCPLL_PLL_ENABLE;
        display(c).regs.poke(offset, (v !== 0 ? v | DBits.LCPLL_PLL_LOCK : 0) >>> 0);
      },
    },
    {
      at: DREG.DPLL_STATUS, owner: OWNER, doc: 'DPLL_LOCK(n) from the enable bit of DPLL n\'s control register (dpll_status_read)',
      read: (c) => {
        const regs = display(c).regs;
        let v = 0;
        if ((regs.peek(DREG.LCPLL1_CTL) & DBits.LCPLL_PLL_ENABLE) !== 0) v |= DBits.dpllLock(0);
        if ((regs.peek(DREG.LCPLL2_CTL) & DBits.LCPLL_PLL_ENABLE) !== 0) v |= DBits.dpllLock(1);
        if ((regs.peek(DREG.WRPLL_CTL1) & DBits.LCPLL_PLL_ENABLE) !== 0) v |= DBits.dpllLock(2);
        if ((regs.peek(DREG.WRPLL_CTL2) & DBits.LCPLL_PLL_ENABLE) !== 0) v |= DBits.dpllLock(3);
        regs.poke(DREG.DPLL_STATUS, v >>> 0);
        return v >>> 0;
      },
    },
    {
      at: DREG.GEN6_PCODE_MAILBOX, owner: OWNER, doc: 'a command completes at once: its answer in GEN6_PCODE_DATA, ready clear, error field 0 or the command\'s (mailbox_write, PCODE_COMMANDS)',
      write: (c, offset, value) => {
        const d = display(c), regs = d.regs;
        d.pcodeCommands++;
        const cmd = PCODE_BY_COMMAND[value & 0xff];
        if (cmd?.answer) regs.poke(DREG.GEN6_PCODE_DATA, cmd.answer(regs.peek(DREG.GEN6_PCODE_DATA)) >>> 0);
        const status = cmd?.status ?? 0;
        if (status !== 0) d.pcodeRefused++;
        regs.poke(offset, ((value & ~(DBits.GEN6_PCODE_READY | DBits.GEN6_PCODE_ERROR_MASK)) | status) >>> 0);
      },
    },
    {
      at: dpAuxChCtl(0), count: 4, stride: 0x100, owner: OWNER,
      doc: 'SEND_BUSY runs the transaction at once: native DPCD or I2C over AUX where a monitor is plugged, timeout elsewhere; with INTERRUPT, the AUX-done event in GEN8_DE_PORT_IIR; a write without SEND_BUSY clears (dp_aux_ch_ctl_mmio_write, dp_aux_ch_ctl_trans_done)',
      write: (c, offset, _value, _old, next) => auxControl(display(c), offset, next),
    },
    {
      at: DREG.GMBUS0, owner: OWNER, doc: 'pin select; the engine is ready and idle (gmbus0_mmio_write)',
      write: (c, offset, _value, _old, next) => {
        const d = display(c);
        d.regs.poke(DREG.GMBUS2, d.gmbus.selectPin(next, d.regs.peek(DREG.GMBUS2)));
        d.regs.poke(offset, next);
      },
    },
    {
      at: DREG.GMBUS1, owner: OWNER, doc: 'software clear resets; a cycle to a pin without a device NAKs with the bus idle (gmbus1_mmio_write)',
      write: (c, offset, _value, _old, next) => {
        const d = display(c), regs = d.regs;
        const status = d.gmbus.command(next, regs.peek(DREG.GMBUS2), regs.peek(DREG.GMBUS3), regs.peek(DREG.GMBUS5));
        regs.poke(DREG.GMBUS2, status);
        // The software-ready bit never sticks: the virtual hardware is always ready.
        regs.poke(offset, (next & ~Gmbus.SW_RDY) >>> 0);
      },
    },
    {
      at: DREG.GMBUS2, owner: OWNER, doc: 'a read takes the INUSE semaphore; writing INUSE releases it; other bits read-only (gmbus2_mmio_read/write)',
      read: (c, offset, stored) => {
        if ((stored & Gmbus.INUSE) === 0) display(c).regs.poke(offset, (stored | Gmbus.INUSE) >>> 0);
        return stored;
      },
      write: (c, offset, value, old) => {
        display(c).regs.poke(offset, ((value & Gmbus.INUSE) !== 0 ? old & ~Gmbus.INUSE : old) >>> 0);
      },
    },
    {
      at: DREG.GMBUS3, owner: OWNER, doc: 'data: the next four bytes of a read, or four more bytes of a write (gmbus3_mmio_read)',
      read: (c, offset, stored) => {
        const d = display(c);
        if (d.gmbus.phase !== 'read') return stored;
        const v = d.gmbus.readData(stored, d.regs.peek(DREG.GMBUS2));
        d.regs.poke(DREG.GMBUS2, d.gmbus.lastStatus);
        d.regs.poke(offset, v);
        return v;
      },
      write: (c, _offset, _value, _old, next) => {
        const d = display(c);
        if (d.gmbus.phase === 'write') d.regs.poke(DREG.GMBUS2, d.gmbus.writeData(next, d.regs.peek(DREG.GMBUS2)));
      },
    },
    {
      at: DREG.GPIO_A, count: 6, owner: OWNER, doc: 'open-drain DDC lines with pull-ups and no device: a line reads low only while driven low (gvtkit)',
      read: (c, offset, stored) => gpioRead(stored, display(c).gpioLatches[(offset - DREG.GPIO_A) >>> 2]),
      write: (c, offset, value) => {
        const d = display(c), i = (offset - DREG.GPIO_A) >>> 2;
        d.gpioLatches[i] = gpioLatch(d.gpioLatches[i], value);
      },
    },
    {
      at: DREG.PCH_PP_CONTROL, owner: OWNER, doc: 'PCH_PP_STATUS follows panel power on/off at once (pch_pp_control_mmio_write)',
      write: (c, _offset, _value, _old, next) => {
        const regs = display(c).regs;
        let s = regs.peek(DREG.PCH_PP_STATUS);
        if ((next & DBits.PANEL_POWER_ON) !== 0) s = (s | DBits.PP_ON | DBits.PP_SEQUENCE_STATE_ON_IDLE) & ~(DBits.PP_SEQUENCE_POWER_DOWN | DBits.PP_CYCLE_DELAY_ACTIVE);
        else s &= ~(DBits.PP_ON | DBits.PP_SEQUENCE_POWER_DOWN | DBits.PP_CYCLE_DELAY_ACTIVE);
        regs.poke(DREG.PCH_PP_STATUS, s >>> 0);
      },
    },
    {
      at: pipeconf(0), count: PIPES, stride: 0x1000, owner: OWNER, doc: 'the state bit follows the enable bit; enabling starts the vblank timer, the last disable stops it (pipeconf_mmio_write)',
      write: (c, offset, _value, _old, next) => pipeconfWrite(display(c), offset, next),
    },
    {
      at: DREG.PIPECONF_EDP, owner: OWNER, doc: 'the state bit follows the enable bit; the vblank timer as for pipes A..C (pipeconf_mmio_write)',
      write: (c, offset, _value, _old, next) => pipeconfWrite(display(c), offset, next),
    },
    ...planeSurfRows(display),
    {
      at: ddiBufCtl(0), count: 5, stride: 0x100, owner: OWNER, doc: 'idle is the opposite of enable; disabling E clears its DP_TP_STATUS autotrain done (ddi_buf_ctl_mmio_write)',
      write: (c, offset, _value, _old, next) => {
        const regs = display(c).regs;
        if ((next & DBits.DDI_BUF_CTL_ENABLE) !== 0) {
          regs.poke(offset, (next & ~DBits.DDI_BUF_IS_IDLE) >>> 0);
        } else {
          regs.poke(offset, (next | DBits.DDI_BUF_IS_IDLE) >>> 0);
          if (offset === ddiBufCtl(4)) regs.poke(dpTpStatus(4), (regs.peek(dpTpStatus(4)) & ~(1 << 12)) >>> 0);
        }
      },
    },
    {
      at: dpTpCtl(0), count: 5, stride: 0x100, owner: OWNER, doc: 'idle link-training patterns set DP_TP_STATUS idle done (dp_tp_ctl_mmio_write)',
      write: (c, offset, _value, _old, next) => {
        if ((next & DBits.DP_TP_CTL_LINK_TRAIN_MASK) !== DBits.DP_TP_CTL_LINK_TRAIN_IDLE) return;
        const regs = display(c).regs, status = offset + 4;
        regs.poke(status, (regs.peek(status) | DBits.DP_TP_STATUS_IDLE_DONE) >>> 0);
      },
    },
    {
      at: dpTpStatus(0), count: 4, stride: 0x100, owner: OWNER, doc: 'sticky bits 27:26 and 24 clear where written 1; the others take the value (dp_tp_status_mmio_write)',
      write: (c, offset, value, old) => {
        const sticky = DBits.DP_TP_STATUS_STICKY;
        const v = ((value & ~sticky) | (old & sticky)) & ~(value & sticky);
        display(c).regs.poke(offset, v >>> 0);
      },
    },
  ];
}

/** PLANE_SURF of planes 1..3 of each pipe: a flip (pri_surf_mmio_write, spr_surf_mmio_write). */
function planeSurfRows<C>(display: (ctx: C) => VirtualDisplay): HandlerRow<C>[] {
  const rows: HandlerRow<C>[] = [];
  for (let pipe = 0; pipe < PIPES; pipe++) {
    rows.push({
      at: planeCtl(pipe, 0) + 0x1c, count: PLANES_PER_PIPE, stride: 0x100, owner: OWNER,
      doc: `a flip: SURFLIVE takes the address, the primary counts in PIPE_FLIPCOUNT; flip done at the next vblank, or at once if async (pri_surf_mmio_write, spr_surf_mmio_write)`,
      write: (c, offset, _value, _old, next) => display(c).vblank?.flip(pipe, (offset - planeCtl(pipe, 0)) >>> 8, next),
    });
  }
  return rows;
}

function pipeconfWrite(d: VirtualDisplay, offset: number, next: number): void {
  const v = pipeconfState(next);
  d.regs.poke(offset, v);
  d.vblank?.pipeconfWritten((v & DBits.PIPECONF_ENABLE) !== 0);
}

function pipeconfState(next: number): number {
  return ((next & DBits.PIPECONF_ENABLE) !== 0 ? next | DBits.PIPECONF_STATE_ENABLE : next & ~DBits.PIPECONF_STATE_ENABLE) >>> 0;
}

/**
 * A write to DP_AUX_CH_CTL of channel `(offset >> 8) & 0xf`: with SEND_BUSY, unpack the request
 * from DATA1..5 (big-endian), run it, pack the reply and report done with its size; without,
 * clear the register (the driver clearing the sticky status bits).
 */
function auxControl(d: VirtualDisplay, offset: number, ctl: number): void {
  const regs = d.regs;
  if ((ctl & AuxCtl.SEND_BUSY) === 0) {
    regs.poke(offset, 0);
    return;
  }
  const chIndex = ((offset - dpAuxChCtl(0)) >>> 8) & 3;
  const ch = d.aux[chIndex];
  const txBytes = Math.min(20, (ctl & AuxCtl.MESSAGE_SIZE_MASK) >>> AuxCtl.MESSAGE_SIZE_SHIFT);
  const tx = ch.tx, rx = ch.rx;
  for (let i = 0; i < 5; i++) {
    const w = regs.peek(offset + 4 + 4 * i);
    tx[4 * i] = w >>> 24;
    tx[4 * i + 1] = (w >>> 16) & 0xff;
    tx[4 * i + 2] = (w >>> 8) & 0xff;
    tx[4 * i + 3] = w & 0xff;
  }
  const size = ch.transfer(txBytes);
  for (let i = 0; i < 5; i++) {
    regs.poke(offset + 4 + 4 * i, ((rx[4 * i] << 24) | (rx[4 * i + 1] << 16) | (rx[4 * i + 2] << 8) | rx[4 * i + 3]) >>> 0);
  }
  let v = (ctl | AuxCtl.DONE) & ~(AuxCtl.SEND_BUSY | AuxCtl.RECEIVE_ERROR | AuxCtl.TIME_OUT_ERROR | AuxCtl.MESSAGE_SIZE_MASK);
  if (size === 0) v |= AuxCtl.TIME_OUT_ERROR;
  v |= size << AuxCtl.MESSAGE_SIZE_SHIFT;
  regs.poke(offset, v >>> 0);
  // dp_aux_ch_ctl_trans_done: the AUX-done event when the driver asked for it (INTERRUPT).
  d.auxDone(chIndex, v);
}
