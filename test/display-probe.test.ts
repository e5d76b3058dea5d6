/**
 * The display probe of i915 6.1 on a Skylake vGPU, driven through the vGPU's MMIO as i915 drives
 * it (display/intel_display_power_well.c, intel_cdclk.c, skl_watermark.c, intel_pcode.c,
 * intel_dp_aux.c with drm_dp_i2c_xfer, intel_gmbus.c, intel_display.c intel_setup_outputs,
 * i915_irq.c): every poll is answered at its first read, the virtual DP monitor on port D is
 * found, its DPCD and EDID read back; a second vGPU's display is its own.
 */
import t, { type Test } from 'tap';
import { Harness } from '../lib/harness/index.js';
import type { Vgpu } from '../lib/mediator/vgpu.js';
import { VGPU_MMIO_HANDLERS, VGPU_REGISTERS } from '../lib/mediator/vgpu.js';
import { auxXfer as fixtureAuxXfer, type AuxResult } from './display-fixture.js';
import {
  AuxChannel, AuxCtl, DBits, DdcBus, DREG, Gmbus, GmbusController, Gpio, Port, VirtualDpcd, TRANS, buildEdid, cvtReducedBlanking, decodeDetailedTiming, ddiBufCtl, dpAuxChCtl,
  dpTpCtl, dpTpStatus, edidChecksumValid, hTotal, monitorMode, pipeconf, refreshHz, transcoderBase, vTotal, type DisplayMode,
} from '../lib/display/index.js';

function guest(type = 'GVTg_V5_8', name = 'g'): { h: Harness; v: Vgpu } {
  const h = new Harness();
  const g = h.addGuest({ name, type, ramBytes: 16 * 1024 * 1024 });
  return { h, v: g.vgpu };
}

const rd = (v: Vgpu, o: number): number => v.mmioRead(o, 4);
const wr = (v: Vgpu, o: number, x: number): void => v.mmioWrite(o, 4, x >>> 0);

/**
 * i915's `wait_for` on a register: here the condition must hold at the first read (no
 * simulated time passes between a write and the poll). Returns the value read.
 */
function pollOnce(t: Test, v: Vgpu, o: number, cond: (x: number) => boolean, what: string): number {
  const x = rd(v, o);
  t.ok(cond(x), `${what}: answered at the first poll (0x${x.toString(16)})`);
  return x;
}

/** One `intel_dp_aux_xfer` (test/display-fixture.ts), checking first that the channel is idle. */
function auxXfer(t: Test, v: Vgpu, ch: number, send: number[]): AuxResult {
  t.equal(rd(v, dpAuxChCtl(ch)) & AuxCtl.SEND_BUSY, 0, 'no AUX activity before the transfer');
  return fixtureAuxXfer(v, ch, send);
}

/** drm `drm_dp_dpcd_read` through `intel_dp_aux_transfer`: native read of `len` bytes at `addr`. */
function dpcdRead(t: Test, v: Vgpu, addr: number, len: number): number[] {
  const r = auxXfer(t, v, Port.D, [(0x9 << 4) | ((addr >>> 16) & 0xf), (addr >>> 8) & 0xff, addr & 0xff, len - 1]);
  t.equal(r.status & AuxCtl.TIME_OUT_ERROR, 0, `DPCD read 0x${addr.toString(16)}: no timeout`);
  t.equal(r.reply[0] >>> 4, 0, `DPCD read 0x${addr.toString(16)}: native ACK`);
  return r.reply.slice(1);
}

function dpcdWrite(t: Test, v: Vgpu, addr: number, bytes: number[]): number {
  const r = auxXfer(t, v, Port.D, [(0x8 << 4) | ((addr >>> 16) & 0xf), (addr >>> 8) & 0xff, addr & 0xff, bytes.length - 1, ...bytes]);
  return r.reply[0];
}

/** drm `drm_dp_i2c_xfer` of [write 1 byte `offset`, read `len`] to 0x50, in chunks of 16 bytes. */
function edidOverAux(t: Test, v: Vgpu, offset: number, len: number): number[] {
  const I2C_WRITE = 0x0, I2C_READ = 0x1, MOT = 0x4;
  const ack = (r: AuxResult, what: string): void => { t.equal(r.reply[0], 0, `${what}: ACK`); };
  ack(auxXfer(t, v, Port.D, [(I2C_WRITE | MOT) << 4, 0, 0x50]), 'start write 0x50');
  ack(auxXfer(t, v, Port.D, [(I2C_WRITE | MOT) << 4, 0, 0x50, 0, offset]), 'write offset');
  ack(auxXfer(t, v, Port.D, [(I2C_READ | MOT) << 4, 0, 0x50]), 'restart read 0x50');
  const out: number[] = [];
  for (let j = 0; j < len; j += 16) {
    const n = Math.min(16, len - j);
    const r = auxXfer(t, v, Port.D, [(I2C_READ | MOT) << 4, 0, 0x50, n - 1]);
    ack(r, `read ${n} bytes`);
    t.equal(r.reply.length, 1 + n, 'the whole chunk in one reply');
    out.push(...r.reply.slice(1));
  }
  ack(auxXfer(t, v, Port.D, [I2C_READ << 4, 0, 0x50]), 'stop');
  return out;
}

/** `__snb_pcode_rw`: returns [mailbox after, data0 after]. */
function pcode(t: Test, v: Vgpu, mbox: number, data0: number): [number, number] {
  t.equal(rd(v, DREG.GEN6_PCODE_MAILBOX) & DBits.GEN6_PCODE_READY, 0, 'mailbox ready before the command');
  wr(v, DREG.GEN6_PCODE_DATA, data0);
  wr(v, DREG.GEN6_PCODE_DATA1, 0);
  wr(v, DREG.GEN6_PCODE_MAILBOX, DBits.GEN6_PCODE_READY | mbox);
  const m = pollOnce(t, v, DREG.GEN6_PCODE_MAILBOX, (x) => (x & DBits.GEN6_PCODE_READY) === 0, `pcode 0x${mbox.toString(16)} done`);
  return [m, rd(v, DREG.GEN6_PCODE_DATA)];
}

t.test('power wells, fuses, DC state, DBuf: what skl_display_core_init polls', async (t) => {
  const { v } = guest();
  const fuse = rd(v, DREG.SKL_FUSE_STATUS);
  t.ok(fuse & DBits.SKL_FUSE_DOWNLOAD_STATUS, 'fuse download done');
  for (const pg of [0, 1, 2]) t.ok(fuse & DBits.skFusePgDist(pg), `PG${pg} distributed`);
  wr(v, DREG.SKL_FUSE_STATUS, 0);
  t.equal(rd(v, DREG.SKL_FUSE_STATUS), fuse, 'fuse status is read-only');
  // gen9_set_dc_state(DC_STATE_DISABLE) reads its write back.
  wr(v, DREG.DC_STATE_EN, 0);
  t.equal(rd(v, DREG.DC_STATE_EN), 0);
  wr(v, DREG.DC_STATE_EN, 2);
  t.equal(rd(v, DREG.DC_STATE_EN), 2, 'DC_STATE_EN reads back (no rewrite loop)');
  // hsw_power_well_enable: read-modify-write the request, wait for the state.
  const ctl = DREG.HSW_PWR_WELL_CTL2;
  for (const idx of [14, 0, 15, 4, 1, 2, 3]) {
    wr(v, ctl, rd(v, ctl) | DBits.pwrWellReq(idx));
    pollOnce(t, v, ctl, (x) => (x & DBits.pwrWellState(idx)) !== 0, `power well ${idx} enabled`);
  }
  wr(v, ctl, rd(v, ctl) & ~DBits.pwrWellReq(15));
  pollOnce(t, v, ctl, (x) => (x & DBits.pwrWellState(15)) === 0, 'PW2 disabled');
  wr(v, ctl, rd(v, ctl) | DBits.pwrWellReq(5));
  t.equal(rd(v, ctl) & (DBits.pwrWellReq(5) | DBits.pwrWellState(5)), 0, 'a request bit Skylake has no well for does not stick');
  // gen9_dbuf_slices_update.
  wr(v, DREG.DBUF_CTL, rd(v, DREG.DBUF_CTL) | DBits.DBUF_POWER_REQUEST);
  pollOnce(t, v, DREG.DBUF_CTL, (x) => (x & DBits.DBUF_POWER_STATE) !== 0, 'DBuf powered');
  wr(v, DREG.DBUF_CTL, rd(v, DREG.DBUF_CTL) & ~DBits.DBUF_POWER_REQUEST);
  pollOnce(t, v, DREG.DBUF_CTL, (x) => (x & DBits.DBUF_POWER_STATE) === 0, 'DBuf off');
  t.equal(v.vregs.stats.untrackedReads + v.vregs.stats.untrackedWrites, 0, 'every register touched is tracked');
});

t.test('cdclk: skl_cdclk_init_hw with the pcode handshake, DPLL0 off and on', async (t) => {
  const { v } = guest();
  // skl_sanitize_cdclk: no pre-OS (SWF18 = 0) → full reprogramming; the state read is consistent.
  t.equal(rd(v, DREG.SWF_ILK + 0x18 * 4) & 0xffffff, 0, 'SWF18: no pre-OS set cdclk');
  t.equal(rd(v, DREG.LCPLL1_CTL), (DBits.LCPLL_PLL_ENABLE | DBits.LCPLL_PLL_LOCK) >>> 0, 'DPLL0 enabled and locked at reset');
  const ctrl1 = rd(v, DREG.DPLL_CTRL1);
  t.ok(ctrl1 & DBits.dpllCtrl1Override(0), 'DPLL0 override (skl_dpll0_update WARNs without it)');
  t.equal((ctrl1 >>> 1) & 7, DBits.DPLL_CTRL1_LINK_RATE_1620, 'DPLL0 at 1620: vco 8100 MHz');
  const cd = rd(v, DREG.CDCLK_CTL);
  t.equal(cd & DBits.CDCLK_FREQ_DECIMAL_MASK, Math.round((337500 - 1000) / 500), 'CDCLK_CTL decimal matches its frequency select');
  // skl_set_cdclk: prepare (skl_pcode_request polls data0 & 1 == 1), DPLL0 off, CDCLK_CTL, DPLL0 on, voltage.
  const [m1, d1] = pcode(t, v, 0x7, 0x3);
  t.equal(m1 & 0xff, 0, 'no mailbox error');
  t.equal(d1 & 1, 1, 'SKL_CDCLK_READY_FOR_CHANGE');
  wr(v, DREG.LCPLL1_CTL, rd(v, DREG.LCPLL1_CTL) & ~DBits.LCPLL_PLL_ENABLE);
  pollOnce(t, v, DREG.LCPLL1_CTL, (x) => (x & DBits.LCPLL_PLL_LOCK) === 0, 'DPLL0 unlocked');
  t.equal(rd(v, DREG.DPLL_STATUS) & DBits.dpllLock(0), 0, 'DPLL_STATUS follows');
  const next = (DBits.CDCLK_FREQ_337_308 | 0x2a1) >>> 0;
  wr(v, DREG.CDCLK_CTL, next);
  wr(v, DREG.DPLL_CTRL1, (rd(v, DREG.DPLL_CTRL1) & ~0x3f) | DBits.dpllCtrl1Override(0) | DBits.dpllCtrl1LinkRate(DBits.DPLL_CTRL1_LINK_RATE_1620, 0));
  wr(v, DREG.LCPLL1_CTL, rd(v, DREG.LCPLL1_CTL) | DBits.LCPLL_PLL_ENABLE);
  pollOnce(t, v, DREG.LCPLL1_CTL, (x) => (x & DBits.LCPLL_PLL_LOCK) !== 0, 'DPLL0 locked');
  const [m2] = pcode(t, v, 0x7, 0);
  t.equal(m2 & 0xff, 0, 'voltage level accepted');
  t.equal(rd(v, DREG.CDCLK_CTL), next, 'intel_update_cdclk reads back what was set');
  // skl_ddi_pll_enable of DPLL2: enable bit, then DPLL_STATUS lock.
  wr(v, DREG.WRPLL_CTL1, rd(v, DREG.WRPLL_CTL1) | DBits.LCPLL_PLL_ENABLE);
  pollOnce(t, v, DREG.DPLL_STATUS, (x) => (x & DBits.dpllLock(2)) !== 0, 'DPLL2 locked');
  t.equal(v.display.counters.pcodeCommands, 2);
});

t.test('PCU mailbox: memory latency, SAGV, other commands', async (t) => {
  const { v } = guest();
  t.equal(pcode(t, v, 0x6, 0)[1], 0x1e1a1100, 'memory latency set 0 (skl_read_wm_latency)');
  t.equal(pcode(t, v, 0x6, 1)[1], 0x61514b3d, 'memory latency set 1');
  const [sagv] = pcode(t, v, 0x21, 0);
  t.equal(sagv & 0xff, 0x1, 'SAGV control: illegal command, i915 reads -ENXIO (no SAGV)');
  const [m, d] = pcode(t, v, 0x8, 0x1234);
  t.same([m & 0xff, d], [0, 0x1234], 'another command succeeds with its data unchanged');
  t.equal(pcode(t, v, 0x5, 0)[1] & 1, 1, 'RC6 VIDs');
  t.same([v.display.counters.pcodeCommands, v.display.counters.pcodeRefused], [5, 1]);
});

t.test('outputs: port D detected, port A not eDP, no B or C; hotplug live; interrupts install clean', async (t) => {
  const { v } = guest();
  // intel_setup_outputs (HAS_DDI).
  t.equal(rd(v, ddiBufCtl(Port.A)) & DBits.DDI_INIT_DISPLAY_DETECTED, 0, 'no DDI A (no eDP)');
  const strap = rd(v, DREG.SFUSE_STRAP);
  t.ok(strap & DBits.SFUSE_STRAP_DDID_DETECTED, 'DDI D detected');
  t.equal(strap & (DBits.SFUSE_STRAP_DDIB_DETECTED | DBits.SFUSE_STRAP_DDIC_DETECTED), 0, 'no DDI B, C');
  // ibx_digital_port_connected for port D on SPT.
  t.ok(rd(v, DREG.SDEISR) & DBits.SDE_PORTD_HOTPLUG_CPT, 'port D connected (SDEISR)');
  // intel_vga_disable: the VGA plane is already off, no VGA I/O port access.
  t.ok(rd(v, DREG.CPU_VGACNTRL) & 0x80000000, 'VGA plane disabled');
  // A dark pipe by default (intel_modeset_readout_hw_state finds nothing active: no initial
  // commit waiting for vblanks that issue 16 will emulate).
  t.equal(v.display.litPipe, false);
  t.equal(rd(v, transcoderBase(0) + TRANS.DDI_FUNC_CTL), 0, 'transcoder A off');
  t.equal(rd(v, pipeconf(0)) & DBits.PIPECONF_ENABLE, 0, 'pipe A off');
  t.ok(rd(v, ddiBufCtl(Port.D)) & DBits.DDI_BUF_IS_IDLE, 'DDI D buffer idle');
  t.ok(rd(v, DREG.DPLL_CTRL2) & DBits.dpllCtrl2ClkOff(Port.D), 'DDI D clock gated');
  // GVT-g's monitor status: pipe A on transcoder A, DDI D in DP SST from DPLL0.
  v.display.applyMonitorStatus(true);
  const ddi = rd(v, transcoderBase(0) + TRANS.DDI_FUNC_CTL);
  t.equal(ddi >>> 28 & 7, Port.D, 'lit: transcoder A drives port D');
  t.equal((ddi >>> 24) & 7, 2, 'lit: DP SST');
  t.ok(ddi & DBits.TRANS_DDI_FUNC_ENABLE, 'lit: DDI function on');
  t.ok(rd(v, pipeconf(0)) & DBits.PIPECONF_ENABLE, 'lit: pipe A enabled');
  t.ok(rd(v, ddiBufCtl(Port.D)) & DBits.DDI_BUF_CTL_ENABLE, 'lit: DDI D buffer on');
  t.equal(rd(v, ddiBufCtl(Port.D)) & DBits.DDI_BUF_IS_IDLE, 0, 'lit: DDI D not idle');
  const ctrl2 = rd(v, DREG.DPLL_CTRL2);
  t.equal(ctrl2 & DBits.dpllCtrl2ClkOff(Port.D), 0, 'lit: DDI D clock on');
  t.ok(ctrl2 & DBits.dpllCtrl2SelOverride(Port.D), 'lit: DDI D clock from DPLL0');
  t.equal((ctrl2 >>> (3 * Port.D + 1)) & 3, 0, 'lit: DPLL0');
  t.equal(rd(v, transcoderBase(0) + TRANS.LINK_M1), 0x3cd6e, 'GVT-g\'s golden link M');
  const m = monitorMode(1024, 768);
  t.equal(rd(v, transcoderBase(0) + TRANS.HTOTAL), (((hTotal(m) - 1) << 16) | (m.width - 1)) >>> 0, 'transcoder A timings: the monitor\'s mode');
  t.equal(rd(v, transcoderBase(0) + TRANS.PIPESRC), (((m.width - 1) << 16) | (m.height - 1)) >>> 0);
  t.equal(rd(v, transcoderBase(0) + TRANS.VTOTAL) >>> 16, vTotal(m) - 1);
  // gen8_de_irq_postinstall / ibx_irq_reset: IMR all masked, IIR cleared twice and zero (gen3_assert_iir_is_zero).
  for (const iir of [DREG.GEN8_DE_PIPE_ISR + 8, DREG.GEN8_DE_PIPE_ISR + 0x18, DREG.GEN8_DE_PIPE_ISR + 0x28, DREG.GEN8_DE_PORT_ISR + 8, DREG.GEN8_DE_MISC_ISR + 8, DREG.GEN8_PCU_ISR + 8, DREG.SDEIIR]) {
    t.equal(rd(v, iir - 4), 0xffffffff, `IMR 0x${(iir - 4).toString(16)} masked at reset`);
    wr(v, iir, 0xffffffff);
    wr(v, iir, 0xffffffff);
    t.equal(rd(v, iir), 0, `IIR 0x${iir.toString(16)} reads zero after the reset writes`);
  }
  // Hotplug as GVT-g's intel_vgpu_emulate_hotplug: unplug, replug.
  v.display.hotplug(false);
  t.equal(rd(v, DREG.SDEISR) & DBits.SDE_PORTD_HOTPLUG_CPT, 0, 'unplugged: SDEISR port D clear');
  t.equal(rd(v, DREG.SFUSE_STRAP) & DBits.SFUSE_STRAP_DDID_DETECTED, 0);
  t.ok(rd(v, DREG.SDEIIR) & DBits.SDE_PORTD_HOTPLUG_CPT, 'SDEIIR port D set');
  t.equal(rd(v, DREG.PCH_PORT_HOTPLUG) & DBits.PORTD_HOTPLUG_STATUS_MASK, DBits.PORTD_HOTPLUG_STATUS_MASK, 'port D hotplug status');
  const gone = auxXfer(t, v, Port.D, [0x90, 0, 0, 0]);
  t.ok(gone.status & AuxCtl.TIME_OUT_ERROR, 'no sink on port D while unplugged: AUX times out');
  v.display.hotplug(true);
  t.ok(rd(v, DREG.SDEISR) & DBits.SDE_PORTD_HOTPLUG_CPT, 'replugged');
  wr(v, DREG.SDEIIR, DBits.SDE_PORTD_HOTPLUG_CPT);
  t.equal(rd(v, DREG.SDEIIR), 0, 'SDEIIR write-1-to-clear');
  t.equal(v.vregs.stats.untrackedReads + v.vregs.stats.untrackedWrites, 0);
});

t.test('AUX on port D: DPCD caps, link training, limits; no sink elsewhere', async (t) => {
  const { v } = guest();
  t.same(dpcdRead(t, v, 0, 1), [0x12], 'DPCD revision 1.2 (drm_dp_dpcd_read\'s first access)');
  const caps = dpcdRead(t, v, 0, 15);
  t.same(caps.slice(0, 3), [0x12, 0x14, 0x84], 'DP 1.2, 5.4 Gb/s, 4 lanes with enhanced framing (GVT-g dpcd_fix_data)');
  t.same(caps.slice(3), new Array(12).fill(0), 'no downstream ports, no extended caps');
  t.same(dpcdRead(t, v, 0x200, 1), [1], 'SINK_COUNT 1');
  t.same(dpcdRead(t, v, 0x21, 1), [0], 'no MST');
  t.same(dpcdRead(t, v, 0xf0000, 8), new Array(8).fill(0), 'LTTPR caps at 0xf0000: zeros (no repeater; the full 20-bit address)');
  t.equal(dpcdWrite(t, v, 0x600, [1]), 0, 'DP_SET_POWER D0: ACK');
  t.same(dpcdRead(t, v, 0x600, 1), [1]);
  // intel_dp_link_train_phy: link rate/lanes, TPS1 with lane settings in one burst, status, TPS2, off.
  t.equal(dpcdWrite(t, v, 0x100, [0x0a, 0x84]), 0);
  t.equal(dpcdWrite(t, v, 0x102, [0x21, 0, 0, 0, 0]), 0, 'training pattern 1 (scrambling off) and lane drive');
  t.same(dpcdRead(t, v, 0x202, 6).slice(0, 2), [0x11, 0x11], 'clock recovery done on four lanes');
  t.equal(dpcdWrite(t, v, 0x102, [0x22]), 0);
  const st = dpcdRead(t, v, 0x202, 6);
  t.same(st.slice(0, 3), [0x77, 0x77, 0x01], 'channel EQ, symbol lock, inter-lane align');
  t.equal(dpcdWrite(t, v, 0x102, [0x00]), 0);
  t.same(dpcdRead(t, v, 0x205, 1), [0x03], 'training off: receive ports in sync');
  t.equal(dpcdWrite(t, v, 0x6ff, [1, 2]), 0x10, 'a write past the DPCD is NACKed');
  // Channel B: no sink (intel_dp_aux_xfer reports -ETIMEDOUT).
  const none = auxXfer(t, v, Port.B, [0x90, 0, 0, 0]);
  t.ok(none.status & AuxCtl.TIME_OUT_ERROR, 'AUX B: timeout');
  t.equal(none.status & AuxCtl.SEND_BUSY, 0, 'AUX B: not busy');
  // The AUX-done event is masked in GEN8_DE_PORT_IMR at reset: nothing latched in IIR (display-monitors tests it unmasked).
  t.equal(rd(v, DREG.GEN8_DE_PORT_ISR + 8), 0);
});

for (const [type, w, h] of [['GVTg_V5_8', 1024, 768], ['GVTg_V5_4', 1920, 1200]] as const) {
  t.test(`EDID over I2C-over-AUX on ${type}: ${w}x${h}`, async (t) => {
    const { v } = guest(type);
    const edid = Uint8Array.from(edidOverAux(t, v, 0, 128));
    t.ok(edidChecksumValid(edid), 'checksum valid');
    t.same([...edid.subarray(0, 8)], [0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0], 'EDID header');
    t.same([edid[18], edid[19]], [1, 4], 'EDID 1.4');
    t.equal(edid[126], 0, 'no extension');
    const dtd = decodeDetailedTiming(edid, 54);
    t.ok(dtd, 'a detailed timing first');
    t.same(dtd, monitorMode(w, h), 'the detailed timing decodes to the monitor\'s mode');
    t.ok(Math.abs(refreshHz(dtd!) - 60) < 0.5, `about 60 Hz (${refreshHz(dtd!).toFixed(3)})`);
    t.same([...edid], [...v.display.monitor.edid], 'the bytes the monitor holds');
    // A read at an offset (drm reads the descriptor only): the offset written is honoured.
    t.same(edidOverAux(t, v, 54, 18), [...edid.subarray(54, 72)], 'offset 54 reads the detailed timing');
    // Another I2C address (e.g. DDC/CI 0x37): NACK.
    const r = auxXfer(t, v, Port.D, [0x4 << 4, 0, 0x37]);
    t.equal(r.reply[0], 0x40, 'I2C NACK for an address without a device');
  });
}

t.test('GMBUS and GPIO: the HDMI probe of port D finds no device, at once', async (t) => {
  const { v } = guest();
  // do_gmbus_xfer for an index read of 128 bytes at 0x50 on pin DPD (6).
  wr(v, DREG.GMBUS0, 6);
  wr(v, DREG.GMBUS1, Gmbus.SW_RDY | Gmbus.CYCLE_INDEX | Gmbus.CYCLE_WAIT | (128 << 16) | (0x50 << 1) | Gmbus.SLAVE_READ);
  const s = pollOnce(t, v, DREG.GMBUS2, (x) => (x & (Gmbus.SATOER | Gmbus.HW_RDY)) !== 0, 'gmbus_wait');
  t.ok(s & Gmbus.SATOER, 'NAK: -ENXIO');
  pollOnce(t, v, DREG.GMBUS2, (x) => (x & Gmbus.ACTIVE) === 0, 'gmbus_wait_idle after the NAK');
  wr(v, DREG.GMBUS1, Gmbus.SW_CLR_INT);
  wr(v, DREG.GMBUS1, 0);
  wr(v, DREG.GMBUS0, 0);
  t.equal(rd(v, DREG.GMBUS2) & Gmbus.SATOER, 0, 'software clear resets the error');
  t.ok(rd(v, DREG.GMBUS2) & Gmbus.INUSE, 'a read took the INUSE semaphore');
  wr(v, DREG.GMBUS2, Gmbus.INUSE);
  t.equal(v.vregs.peek(DREG.GMBUS2) & Gmbus.INUSE, 0, 'writing INUSE releases it');
  t.equal(v.display.counters.gmbusNaks, 1);
  // i2c-algo-bit over GPIO pin 5 (DPD's lines on SPT): released lines read high, driven ones low.
  const gpio = DREG.GPIO_A + 4 * 5;
  wr(v, gpio, Gpio.CLOCK_DIR_MASK | Gpio.DATA_DIR_MASK);
  t.equal(rd(v, gpio) & (Gpio.CLOCK_VAL_IN | Gpio.DATA_VAL_IN), Gpio.CLOCK_VAL_IN | Gpio.DATA_VAL_IN, 'idle bus: both lines high');
  wr(v, gpio, Gpio.DATA_DIR_MASK | Gpio.DATA_DIR_OUT | Gpio.DATA_VAL_MASK);
  t.equal(rd(v, gpio) & Gpio.DATA_VAL_IN, 0, 'data driven low reads low');
  t.ok(rd(v, gpio) & Gpio.CLOCK_VAL_IN, 'clock still released: high (no clock stretching, no timeout)');
  wr(v, gpio, Gpio.DATA_DIR_MASK);
  t.ok(rd(v, gpio) & Gpio.DATA_VAL_IN, 'released: high again (an address gets no ACK: -ENXIO)');
});

t.test('pipe, DDI buffer, DP transport, panel power: the modeset polls', async (t) => {
  const { v } = guest();
  wr(v, pipeconf(0), rd(v, pipeconf(0)) & ~DBits.PIPECONF_ENABLE);
  pollOnce(t, v, pipeconf(0), (x) => (x & DBits.PIPECONF_STATE_ENABLE) === 0, 'intel_wait_for_pipe_off');
  wr(v, pipeconf(1), DBits.PIPECONF_ENABLE);
  t.ok(rd(v, pipeconf(1)) & DBits.PIPECONF_STATE_ENABLE, 'pipe B state follows enable');
  wr(v, ddiBufCtl(Port.D), rd(v, ddiBufCtl(Port.D)) & ~DBits.DDI_BUF_CTL_ENABLE);
  pollOnce(t, v, ddiBufCtl(Port.D), (x) => (x & DBits.DDI_BUF_IS_IDLE) !== 0, 'intel_wait_ddi_buf_idle');
  wr(v, ddiBufCtl(Port.D), DBits.DDI_BUF_CTL_ENABLE);
  t.equal(rd(v, ddiBufCtl(Port.D)) & DBits.DDI_BUF_IS_IDLE, 0, 'enabled: not idle');
  wr(v, dpTpCtl(Port.D), (1 << 31) | DBits.DP_TP_CTL_LINK_TRAIN_IDLE);
  pollOnce(t, v, dpTpStatus(Port.D), (x) => (x & DBits.DP_TP_STATUS_IDLE_DONE) !== 0, 'DP idle patterns done');
  wr(v, DREG.PCH_PP_CONTROL, DBits.PANEL_POWER_ON);
  t.ok(rd(v, DREG.PCH_PP_STATUS) & DBits.PP_ON, 'panel power follows control');
  wr(v, DREG.PCH_PP_CONTROL, 0);
  t.equal(rd(v, DREG.PCH_PP_STATUS) & DBits.PP_ON, 0);
});

t.test('what the real guest\'s modeset touches beyond the polls: storage that reads back, as GVT-g tracks it', async (t) => {
  const { v } = guest();
  const before = v.vregs.stats;
  // Plain storage (Linux 6.1 intel_gvt_mmio_table.c MMIO_D / MMIO_F; CHICKEN_TRANS and DDI_BUF_TRANS
  // of D and E are gvtkit's): i915 reads several back (framestart_delay from CHICKEN_TRANS).
  const plain: [number, string][] = [
    [0x420c0, 'CHICKEN_TRANS A'], [0x420c4, 'CHICKEN_TRANS B'], [0x420c8, 'CHICKEN_TRANS C'], [0x420cc, 'CHICKEN_TRANS EDP'],
    [0x43224, 'ILK_DPFC_CHICKEN'], [0x45004, 'DISP_ARB_CTL2'], [0x60200, 'HSW_VIDEO_DIP_CTL A'], [0x62200, 'HSW_VIDEO_DIP_CTL C'],
    [0x64e00, 'DDI_BUF_TRANS A[0]'], [0x64f20, 'DDI_BUF_TRANS D[0]'], [0x64f64, 'DDI_BUF_TRANS D[17]'], [0x64fcc, 'DDI_BUF_TRANS E[19]'],
    [0x650c0, 'HSW_AUD_PIN_ELD_CP_VLD'], [0x65900, 'AUD_FREQ_CNTRL'], [0x6c00c, 'DISPIO_CR_TX_BMU_CR0'],
    [0x700a0, 'CUR_FBC_CTL A'], [0x720a0, 'CUR_FBC_CTL C'], [0xc2020, 'SOUTH_DSPCLK_GATE_D'], [0xc6204, 'PCH_RAWCLK_FREQ'],
  ];
  for (const [o, name] of plain) {
    const x = (0x5a000000 | o) >>> 0;
    wr(v, o, x);
    t.equal(rd(v, o), x, `${name} reads back its write`);
  }
  // FPGA_DBG: i915 checks bit 31 (RM_NOCLAIM) for unclaimed accesses; it never sticks (fpga_dbg_mmio_write).
  wr(v, 0x42300, 0x80000001);
  t.equal(rd(v, 0x42300), 1, 'FPGA_DBG: RM_NOCLAIM never set');
  // EDP_PSR_IMR / IIR: no PSR on a vGPU, writes leave 0 (edp_psr_imr_iir_write).
  wr(v, 0x64834, 0xffffffff);
  wr(v, 0x64838, 0xffffffff);
  t.equal(rd(v, 0x64834), 0, 'EDP_PSR_IMR reads 0');
  t.equal(rd(v, 0x64838), 0, 'EDP_PSR_IIR reads 0');
  const after = v.vregs.stats;
  t.equal(after.untrackedReads - before.untrackedReads + after.untrackedWrites - before.untrackedWrites, 0, 'none of them is untracked');
});

t.test('a second vGPU\'s display is its own; a vGPU reset restores the display', async (t) => {
  const h = new Harness();
  const a = h.addGuest({ name: 'a', type: 'GVTg_V5_4', ramBytes: 16 * 1024 * 1024 }).vgpu;
  const b = h.addGuest({ name: 'b', type: 'GVTg_V5_8', ramBytes: 16 * 1024 * 1024 }).vgpu;
  t.not(a.display, b.display);
  t.equal(a.vregs.handlers, VGPU_MMIO_HANDLERS);
  t.equal(a.vregs.table, VGPU_REGISTERS);
  t.same([a.display.monitor.mode.width, b.display.monitor.mode.width], [1920, 1024], 'each type\'s EDID resolution');
  wr(a, DREG.HSW_PWR_WELL_CTL2, 0);
  t.equal(rd(a, DREG.HSW_PWR_WELL_CTL2), 0, 'a: wells off');
  t.not(rd(b, DREG.HSW_PWR_WELL_CTL2), 0, 'b: untouched');
  dpcdWrite(t, a, 0x600, [2]);
  t.same(dpcdRead(t, b, 0x600, 1), [0], 'b\'s DPCD untouched');
  // An I2C transaction left open on a (offset 100) does not move b's read pointer.
  auxXfer(t, a, Port.D, [0x4 << 4, 0, 0x50]);
  auxXfer(t, a, Port.D, [0x4 << 4, 0, 0x50, 0, 100]);
  t.same(edidOverAux(t, b, 0, 8), [...b.display.monitor.edid.subarray(0, 8)], 'b reads from its own offset');
  a.display.hotplug(false);
  t.ok(rd(b, DREG.SDEISR) & DBits.SDE_PORTD_HOTPLUG_CPT, 'b stays plugged');
  // Reset: a's registers, DPCD and monitor back to creation.
  a.reset();
  t.ok(rd(a, DREG.SDEISR) & DBits.SDE_PORTD_HOTPLUG_CPT, 'a replugged by reset');
  t.not(rd(a, DREG.HSW_PWR_WELL_CTL2), 0, 'a: wells as at creation');
  t.same(dpcdRead(t, a, 0x600, 1), [0], 'a: DPCD as at creation');
  t.same(edidOverAux(t, a, 0, 8), [...a.display.monitor.edid.subarray(0, 8)]);
  const m = monitorMode(1920, 1200);
  t.equal(rd(a, transcoderBase(0) + TRANS.HTOTAL) & 0xffff, m.width - 1, 'a: timings as at creation');
});

t.test('EDID generation: CVT-RB, DMT, checksums, round trip', async (t) => {
  const m = cvtReducedBlanking(1920, 1200, 60);
  t.same([m.pixelClockKhz, hTotal(m), vTotal(m), m.hFrontPorch, m.hSync, m.vFrontPorch, m.vSync, m.hSyncPositive, m.vSyncPositive],
    [154000, 2080, 1235, 48, 32, 3, 6, true, false], 'CVT-RB 1920x1200@60: GVT-g\'s 154 MHz timing');
  // GVT-g's 1920x1200 detailed timing bytes (gvt/display.c), generated here from the mode.
  const gvtDtd = [0x28, 0x3c, 0x80, 0xa0, 0x70, 0xb0, 0x23, 0x40, 0x30, 0x20, 0x36, 0x00, 0x06, 0x44, 0x21, 0x00, 0x00, 0x1a];
  t.same([...buildEdid(m).subarray(54, 72)], gvtDtd, 'the detailed timing is GVT-g\'s, byte for byte');
  const modes: DisplayMode[] = [monitorMode(1024, 768), m, cvtReducedBlanking(1920, 1080), cvtReducedBlanking(2560, 1440), cvtReducedBlanking(3840, 2160), cvtReducedBlanking(1280, 1024, 75)];
  for (const mode of modes) {
    const e = buildEdid(mode, { name: 'test', serial: 'S1' });
    t.equal(e.length, 128);
    t.ok(edidChecksumValid(e), `${mode.width}x${mode.height}: checksum`);
    t.same(decodeDetailedTiming(e, 54), { ...mode }, `${mode.width}x${mode.height}: decodes back`);
    const bad = e.slice();
    bad[60] ^= 1;
    t.notOk(edidChecksumValid(bad), 'a flipped bit breaks the checksum');
  }
  t.equal(cvtReducedBlanking(3840, 2160).pixelClockKhz, 533250, '4K CVT-RB 533.25 MHz');
  t.equal(cvtReducedBlanking(2560, 1440).pixelClockKhz, 241500, '1440p CVT-RB 241.5 MHz');
  t.throws(() => cvtReducedBlanking(1921, 1080), { code: 'E_RANGE' });
  t.throws(() => buildEdid(m, { name: 'a name far too long' }));
});

t.test('GMBUS with a device on a pin (an HDMI monitor, issue 16): index read, wait phase, stop', async (t) => {
  const edid = buildEdid(monitorMode(1024, 768));
  const ddc = new DdcBus(edid);
  const g = new GmbusController((pin) => (pin === 6 ? ddc : null));
  let s = g.selectPin(6, 0);
  t.equal(s, Gmbus.HW_RDY);
  // gmbus_index_xfer: index 0 then a 128-byte read in a wait cycle.
  s = g.command(Gmbus.SW_RDY | Gmbus.CYCLE_INDEX | Gmbus.CYCLE_WAIT | (128 << 16) | (0x50 << 1) | Gmbus.SLAVE_READ, s, 0, 0);
  t.ok(s & Gmbus.ACTIVE, 'active while bytes are left');
  t.equal(s & Gmbus.SATOER, 0, 'acknowledged');
  const got: number[] = [];
  for (let i = 0; i < 32; i++) {
    const w = g.readData(0, s);
    s = g.lastStatus;
    for (let k = 0; k < 4; k++) got.push((w >>> (8 * k)) & 0xff);
  }
  t.same(got, [...edid], 'the EDID, four bytes per GMBUS3 read');
  t.ok(s & Gmbus.HW_WAIT_PHASE, 'wait phase after the last byte of a wait cycle');
  s = g.command(Gmbus.SW_RDY | Gmbus.CYCLE_STOP, s, 0, 0);
  t.equal(s & (Gmbus.ACTIVE | Gmbus.HW_WAIT_PHASE), 0, 'a stop leaves the bus idle');
  t.equal(ddc.state, 'idle');
  // A write of an offset then an index read from it.
  s = g.command(Gmbus.SW_RDY | Gmbus.CYCLE_INDEX | Gmbus.CYCLE_STOP | (4 << 16) | (0x50 << 1) | Gmbus.SLAVE_READ | (54 << 8), s, 0, 0);
  const w = g.readData(0, s);
  t.same([w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24], [...edid.subarray(54, 58)], 'index 54');
  t.equal(g.lastStatus & Gmbus.ACTIVE, 0, 'stop cycle: idle after the last byte');
  t.equal(g.command(Gmbus.SW_RDY | Gmbus.CYCLE_WAIT | (1 << 16) | (0x37 << 1) | Gmbus.SLAVE_READ, s, 0, 0) & Gmbus.SATOER, Gmbus.SATOER, 'another address: NAK');
});

t.test('DDC: the E-DDC segment pointer selects 256-byte windows of a longer EDID', async (t) => {
  const two = new Uint8Array(384);
  for (let i = 0; i < two.length; i++) two[i] = i & 0xff ^ (i >>> 8);
  const ddc = new DdcBus(two);
  const ch = new AuxChannel(new VirtualDpcd(), ddc);
  const send = (bytes: number[]): number[] => {
    ch.tx.fill(0);
    ch.tx.set(bytes);
    const n = ch.transfer(bytes.length);
    return [...ch.rx.subarray(0, n)];
  };
  // Segment 1 (write 0x30), offset 0 (write 0x50), read 16 from 0x50: bytes 256..271.
  t.same(send([0x4 << 4, 0, 0x30]), [0]);
  t.same(send([0x4 << 4, 0, 0x30, 0, 1]), [0]);
  t.same(send([0x4 << 4, 0, 0x50]), [0]);
  t.same(send([0x4 << 4, 0, 0x50, 0, 0]), [0]);
  t.same(send([0x5 << 4, 0, 0x50]), [0]);
  t.same(send([0x5 << 4, 0, 0x50, 15]).slice(1), [...two.subarray(256, 272)], 'segment 1');
  t.same(send([0x1 << 4, 0, 0x50]), [0], 'stop');
  t.equal(ddc.segment, 0, 'the segment resets at stop');
  t.same(send([0x5 << 4, 0, 0x50]), [0]);
  t.same(send([0x5 << 4, 0, 0x50, 3]).slice(1), [...two.subarray(16, 20)], 'segment 0 again, the offset carried on');
  t.same(send([0x4 << 4, 0, 0x30, 0, 2]), [0], 'a data transaction to another target restarts there');
  t.equal(ddc.segment, 2);
  t.same(send([0x4 << 4, 0, 0x37, 0, 2]), [0x40], 'no device at 0x37: NACK');
  t.same(send([0x0 << 4, 0, 0x37]), [0], 'stop');
  t.same(send([0x5 << 4, 0, 0x50, 0]), [0, two[16 + 4]], 'a read without a start addresses the EEPROM (the offset carried on, segment reset)');
});
