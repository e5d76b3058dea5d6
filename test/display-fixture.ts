/**
 * Drives a vGPU's AUX channels as i915 6.1 and drm do (display/intel_dp_aux.c
 * `intel_dp_aux_xfer` with `skl_get_aux_send_ctl`; drm_dp_helper.c `drm_dp_i2c_xfer`; drm_edid.c
 * `drm_do_probe_ddc_edid` and `_drm_do_get_edid`), for the display tests.
 */
import type { Vgpu } from '../lib/mediator/vgpu.js';
import { AuxCtl, DBits, DREG, Port, TRANS, dpAuxChCtl, hTotal, monitorMode, pipeconf, transcoderBase, vTotal } from '../lib/display/index.js';

export const rd = (v: Vgpu, o: number): number => v.mmioRead(o, 4) >>> 0;
export const wr = (v: Vgpu, o: number, x: number): void => v.mmioWrite(o, 4, x >>> 0);

/** i915 `skl_get_aux_send_ctl` for `sendBytes` (with DP_AUX_CH_CTL_INTERRUPT unless `interrupt` is false). */
export function auxSendCtl(sendBytes: number, interrupt = true): number {
  return (AuxCtl.SEND_BUSY | AuxCtl.DONE | (interrupt ? AuxCtl.INTERRUPT : 0) | AuxCtl.TIME_OUT_ERROR | (3 << 26) | AuxCtl.RECEIVE_ERROR
    | (sendBytes << 20) | ((32 - 1) << 5) | (32 - 1)) >>> 0;
}

export interface AuxResult { status: number; reply: number[] }

/** One `intel_dp_aux_xfer` on channel `ch`: load DATA1..5, send, read status, clear it, unload the reply. Throws if still busy. */
export function auxXfer(v: Vgpu, ch: number, send: number[], interrupt = true): AuxResult {
  const ctl = dpAuxChCtl(ch);
  for (let i = 0; i < send.length; i += 4) {
    let w = 0;
    for (let k = 0; k < 4; k++) w |= (send[i + k] ?? 0) << (24 - 8 * k);
    wr(v, ctl + 4 + i, w);
  }
  wr(v, ctl, auxSendCtl(send.length, interrupt));
  const status = rd(v, ctl);
  if ((status & AuxCtl.SEND_BUSY) !== 0) throw new Error('AUX still busy at the first poll: i915 would wait 10 ms');
  wr(v, ctl, status | AuxCtl.DONE | AuxCtl.TIME_OUT_ERROR | AuxCtl.RECEIVE_ERROR);
  const n = (status & AuxCtl.MESSAGE_SIZE_MASK) >>> 20;
  const reply: number[] = [];
  for (let i = 0; i < n; i += 4) {
    const w = rd(v, ctl + 4 + i);
    for (let k = 0; k < 4 && i + k < n; k++) reply.push((w >>> (24 - 8 * k)) & 0xff);
  }
  return { status, reply };
}

/** `drm_dp_dpcd_read` of `len` bytes at `addr` on channel `ch`: the bytes, or null on a timeout or NACK. */
export function dpcdRead(v: Vgpu, ch: number, addr: number, len: number): number[] | null {
  const r = auxXfer(v, ch, [(0x9 << 4) | ((addr >>> 16) & 0xf), (addr >>> 8) & 0xff, addr & 0xff, len - 1]);
  if ((r.status & AuxCtl.TIME_OUT_ERROR) !== 0 || r.reply[0] !== 0) return null;
  return r.reply.slice(1);
}

/** An I2C message as drm passes it to `drm_dp_i2c_xfer`. */
export interface I2cMsg { addr: number; read: boolean; buf: number[]; len: number }

const I2C_WRITE = 0x0, I2C_READ = 0x1, MOT = 0x4;

/**
 * drm's `drm_dp_i2c_xfer` on channel `ch`: for each message a bare address (start) with MOT,
 * then its data in 16-byte transactions with MOT; finally a bare address without MOT (stop).
 * Returns the number of messages done (as i2c_transfer), and fills the read buffers.
 */
export function i2cXfer(v: Vgpu, ch: number, msgs: I2cMsg[]): number {
  let done = 0;
  let last = 0;
  for (const m of msgs) {
    last = (m.read ? I2C_READ : I2C_WRITE) | MOT;
    const start = auxXfer(v, ch, [last << 4, 0, m.addr]);
    if ((start.status & AuxCtl.TIME_OUT_ERROR) !== 0 || start.reply[0] !== 0) break;
    let ok = true;
    for (let j = 0; j < m.len; j += 16) {
      const n = Math.min(16, m.len - j);
      const r = m.read
        ? auxXfer(v, ch, [last << 4, 0, m.addr, n - 1])
        : auxXfer(v, ch, [last << 4, 0, m.addr, n - 1, ...m.buf.slice(j, j + n)]);
      if ((r.status & AuxCtl.TIME_OUT_ERROR) !== 0 || r.reply[0] !== 0) {
        ok = false;
        break;
      }
      if (m.read) for (let k = 0; k < n; k++) m.buf[j + k] = r.reply[1 + k];
    }
    if (!ok) break;
    done++;
  }
  auxXfer(v, ch, [(last & ~MOT) << 4, 0, msgs[msgs.length - 1].addr]);
  return done;
}

/** drm's `drm_do_probe_ddc_edid`: block `block` of the EDID over channel `ch` (segment pointer for blocks 2+), or null. */
export function readEdidBlock(v: Vgpu, ch: number, block: number): number[] | null {
  const start = (block * 128) & 0xff, segment = block >> 1;
  const buf: number[] = new Array(128).fill(0);
  const msgs: I2cMsg[] = [
    { addr: 0x30, read: false, buf: [segment], len: 1 },
    { addr: 0x50, read: false, buf: [start], len: 1 },
    { addr: 0x50, read: true, buf, len: 128 },
  ];
  const xfers = segment ? 3 : 2;
  return i2cXfer(v, ch, msgs.slice(3 - xfers)) === xfers ? buf : null;
}

/** drm's `_drm_do_get_edid`: the base block, then as many blocks as it announces. */
export function readEdid(v: Vgpu, ch: number): Uint8Array | null {
  const base = readEdidBlock(v, ch, 0);
  if (!base) return null;
  const out = [...base];
  for (let b = 1; b <= base[126]; b++) {
    const blk = readEdidBlock(v, ch, b);
    if (!blk) return null;
    out.push(...blk);
  }
  return Uint8Array.from(out);
}

/** GEN8_MASTER_IRQ and its enable bit. */
export const MASTER = 0x44200;
export const MASTER_ENABLE = 0x80000000;
/** The DE port bank. */
export const DE_PORT_IMR = DREG.GEN8_DE_PORT_ISR + 4;
export const DE_PORT_IIR = DREG.GEN8_DE_PORT_ISR + 8;
export const DE_PORT_IER = DREG.GEN8_DE_PORT_ISR + 0xc;

/**
 * i915's modeset of `pipe` (transcoder = pipe) for the monitor's mode on DP port D at RBR
 * (port clock 162000 kHz): DPLL1 link rate 810 (`skl_ddi_dp_set_dpll_hw_state`), DDI D clocked
 * from it (`skl_ddi_pll_enable`), link M/N = pixel clock / port clock with N = 0x80000
 * (`intel_link_compute_m_n`), the timings, the DDI function, PIPECONF enable.
 */
export function dpModeset(v: Vgpu, pipe: number, width = 1024, height = 768): { pixelKhz: number; ht: number; vt: number } {
  const mode = monitorMode(width, height);
  const ht = hTotal(mode), vt = vTotal(mode), tb = transcoderBase(pipe);
  const dpll = 1, portClock = 162000;
  wr(v, DREG.DPLL_CTRL1, (rd(v, DREG.DPLL_CTRL1) & ~(0x3f << (6 * dpll))) | DBits.dpllCtrl1Override(dpll) | DBits.dpllCtrl1LinkRate(2, dpll));
  const c2 = rd(v, DREG.DPLL_CTRL2) & ~(DBits.dpllCtrl2ClkOff(Port.D) | (3 << (3 * Port.D + 1)));
  wr(v, DREG.DPLL_CTRL2, c2 | DBits.dpllCtrl2ClkSel(dpll, Port.D) | DBits.dpllCtrl2SelOverride(Port.D));
  const n = 0x80000, m = Math.round((mode.pixelClockKhz * n) / portClock);
  wr(v, tb + TRANS.LINK_M1, m);
  wr(v, tb + TRANS.LINK_N1, n);
  wr(v, tb + TRANS.HTOTAL, ((ht - 1) << 16) | (width - 1));
  wr(v, tb + TRANS.VTOTAL, ((vt - 1) << 16) | (height - 1));
  wr(v, tb + TRANS.DDI_FUNC_CTL, DBits.TRANS_DDI_FUNC_ENABLE | DBits.transDdiPort(Port.D) | DBits.TRANS_DDI_MODE_SELECT_DP_SST);
  wr(v, pipeconf(pipe), DBits.PIPECONF_ENABLE);
  return { pixelKhz: mode.pixelClockKhz, ht, vt };
}
