/**
 * The modelled guest's modeset (lib/guest/display.ts, as i915 6.1 `hsw_crtc_enable` +
 * `skl_program_plane_*` on a Skylake vGPU): the EDID read over I2C-over-AUX, pipe A lit at the
 * EDID's preferred mode, vblanks at the rate its timings give, plane 1 on the front buffer; flips
 * from the vblank interrupt alternate the two buffers; a missing monitor fails the modeset.
 */
import t from 'tap';
import { Harness, type TestGuest } from '../lib/harness/index.js';
import { StateError } from '../lib/errors.js';
import { DBits, DREG, Port, TRANS, VREG, decodeDetailedTiming, hTotal, pipeconf, planeCtl, refreshHz, transcoderBase, vTotal } from '../lib/display/index.js';
import { GBits, GREG, GuestDisplay } from '../lib/guest/display.js';
import { dpAuxChCtl, ddiBufCtl, dpTpCtl, dpTpStatus } from '../lib/display/index.js';

const MiB = 1024 * 1024;
const rd = (g: TestGuest, o: number): number => g.vgpu.mmioRead(o, 4) >>> 0;

for (const [type, w, h] of [['GVTg_V5_8', 1024, 768], ['GVTg_V5_4', 1920, 1200]] as const) {
  t.test(`${type}: the modeset lights pipe A at the EDID's mode (${w}x${h}), plane 1 on the front buffer, vblanks at its rate`, async (t) => {
    const hs = new Harness();
    const g = hs.addGuest({ name: 'g', type, ramBytes: 64 * MiB });
    const v = g.vgpu;
    t.equal(v.display.vblank!.running, false, 'dark before the modeset');
    const aux0 = v.display.counters.auxTransactions;
    const s = g.lightMonitor();
    const edidMode = decodeDetailedTiming(v.display.monitor.edid, 54)!;
    t.same(s.mode, edidMode, 'the mode is the monitor EDID\'s first detailed timing');
    t.same([s.mode.width, s.mode.height], [w, h]);
    t.same([...s.monitor.edid], [...v.display.monitor.edid], 'the EDID read over AUX is the monitor\'s, byte for byte');
    const chunks = 128 / 16;
    t.ok(v.display.counters.auxTransactions - aux0 >= 1 + 3 + chunks + 1, 'read in 16-byte I2C-over-AUX chunks (plus DPCD and training)');
    t.equal(s.monitor.port, Port.D, 'the monitor on port D');
    // The link carries the mode, and half the lanes at that rate would not (intel_dp_compute_link_config_wide).
    const need = s.mode.pixelClockKhz * 3;
    t.ok(need <= s.link.portClockKhz * s.link.lanes, `link ${s.link.lanes} x ${s.link.portClockKhz} kHz carries ${need} kB/s`);
    t.ok(s.link.lanes === 1 || need > s.link.portClockKhz * (s.link.lanes / 2), 'with the fewest lanes');
    // Pipe and transcoder registers.
    const tb = transcoderBase(0);
    t.equal(rd(g, pipeconf(0)) & DBits.PIPECONF_STATE_ENABLE, DBits.PIPECONF_STATE_ENABLE, 'pipe A enabled');
    t.equal(rd(g, tb + TRANS.HTOTAL), (((hTotal(s.mode) - 1) << 16) | (w - 1)) >>> 0, 'HTOTAL');
    t.equal(rd(g, tb + TRANS.VTOTAL), (((vTotal(s.mode) - 1) << 16) | (h - 1)) >>> 0, 'VTOTAL');
    t.equal(rd(g, tb + TRANS.PIPESRC), (((w - 1) << 16) | (h - 1)) >>> 0, 'PIPESRC');
    const func = rd(g, tb + TRANS.DDI_FUNC_CTL);
    t.equal((func >>> 28) & 7, Port.D, 'transcoder A drives DDI D');
    t.equal((func & DBits.TRANS_DDI_FUNC_ENABLE) >>> 0, DBits.TRANS_DDI_FUNC_ENABLE >>> 0, 'transcoder A DDI function on');
    t.equal((rd(g, 0x64000 + 0x100 * Port.D) & DBits.DDI_BUF_CTL_ENABLE) >>> 0, DBits.DDI_BUF_CTL_ENABLE >>> 0, 'DDI D buffer on');
    t.equal(rd(g, DREG.DPLL_STATUS) & DBits.dpllLock(1), DBits.dpllLock(1), 'DPLL1 locked');
    // Plane 1.
    const ctl = rd(g, planeCtl(0, 0));
    t.equal((ctl & GBits.PLANE_CTL_ENABLE) >>> 0, GBits.PLANE_CTL_ENABLE >>> 0, 'plane 1 enabled');
    t.equal((ctl >>> 24) & 0xf, 4, 'XRGB8888');
    t.equal((ctl >>> 10) & 7, 0, 'linear');
    t.equal(rd(g, planeCtl(0, 0) + 0x08), s.buffers[0].stride / 64, 'stride in 64-byte units');
    t.equal(rd(g, planeCtl(0, 0) + 0x10), (((h - 1) << 16) | (w - 1)) >>> 0, 'PLANE_SIZE');
    t.equal(rd(g, VREG.planeSurf(0, 0)), s.buffers[0].gma, 'PLANE_SURF: the front buffer');
    t.equal(rd(g, VREG.planeSurfLive(0, 0)), s.buffers[0].gma, 'SURFLIVE: the front buffer');
    t.equal(s.buffers[0].gma % (256 * 1024), 0, 'scanout 256 KiB aligned');
    t.equal(g.gpaOf(s.buffers[0].gma), g.gpaOf(s.buffers[0].ppgttGma), 'GGTT and PPGTT bindings reach the same guest RAM');
    // Vblanks at the mode's rate, each taken and acknowledged by the guest.
    const vb = v.display.vblank!;
    t.ok(vb.running, 'the vblank timer runs');
    const hz = refreshHz(s.mode);
    t.ok(Math.abs(vb.refreshMilliHz / 1000 - hz) / hz < 0.001, `refresh ${vb.refreshMilliHz} mHz within 0.1% of the mode's ${hz.toFixed(3)} Hz`);
    const f0 = rd(g, VREG.frmcount(0)), seen0 = g.driver.display.counters.vblanks;
    const ns = 2e9;
    hs.run(ns);
    const frames = rd(g, VREG.frmcount(0)) - f0;
    t.ok(Math.abs(frames - (ns / 1e9) * hz) <= (ns / 1e9) * hz * 0.001 + 1, `${frames} frames in 2 s at ${hz.toFixed(3)} Hz`);
    t.equal(g.driver.display.counters.vblanks - seen0, frames, 'one vblank interrupt taken per frame');
    t.equal(rd(g, VREG.dePipeIir(0)), 0, 'all acknowledged');
    t.notOk(v.interruptLine);
  });
}

t.test('flips from the vblank interrupt alternate the two buffers, one per vblank, each with its flip done', async (t) => {
  const hs = new Harness();
  const g = hs.addGuest({ name: 'g', type: 'GVTg_V5_8', ramBytes: 64 * MiB });
  const s = g.lightMonitor();
  const d = g.driver.display;
  const live: number[] = [];
  d.onVblank(0, () => {
    live.push(d.liveSurface(0));
    s.queueFlip(1 - s.front);
  });
  const flips0 = rd(g, VREG.flipcount(0));
  hs.run(200e6);
  t.ok(live.length >= 10, `${live.length} vblanks`);
  t.equal(live[0], s.buffers[0].gma, 'the front buffer at the first vblank');
  let alternating = 0;
  for (let i = 1; i < live.length; i++) if (live[i] !== live[i - 1] && (live[i] === s.buffers[0].gma || live[i] === s.buffers[1].gma)) alternating++;
  t.equal(alternating, live.length - 1, 'each vblank shows the other buffer');
  const flips = rd(g, VREG.flipcount(0)) - flips0;
  t.equal(flips, live.length - 1, 'one flip per vblank after the first (PIPE_FLIPCOUNT)');
  // The modeset's PLANE_SURF write was a flip too: flips + 1 in all, each done at the vblank after it but the last.
  t.equal(d.counters.flipsDone, flips + 1 - 1, 'every flip done at the vblank after it (the last still pending)');
  t.equal(g.vgpu.display.vblank!.pendingFlipDone[0], GBits.planeFlipDone(0), 'the last one pending');
});

t.test('an X-tiled scanout: PLANE_CTL tiling X, stride in 512-byte tiles', async (t) => {
  const hs = new Harness();
  const g = hs.addGuest({ name: 'g', type: 'GVTg_V5_8', ramBytes: 64 * MiB });
  const s = g.lightMonitor({ tiling: 'x', buffers: 1 });
  t.equal((rd(g, planeCtl(0, 0)) >>> 10) & 7, 1, 'X-tiled');
  t.equal(s.buffers[0].stride % 512, 0);
  t.equal(rd(g, planeCtl(0, 0) + 0x08), s.buffers[0].stride / 512, 'stride in tiles');
});

t.test('no monitor: the modeset fails with a reason and lights nothing', async (t) => {
  const hs = new Harness();
  const g = hs.addGuest({ name: 'g', type: 'GVTg_V5_8', ramBytes: 64 * MiB });
  g.vgpu.display.hotplug(false);
  const r = g.driver.display.modeset({ surface: () => { throw new Error('no surface without a monitor'); } });
  t.equal(r.ok, false);
  t.equal(!r.ok && r.reason, 'no-monitor');
  t.throws(() => g.lightMonitor(), StateError);
  t.equal(rd(g, pipeconf(0)), 0, 'pipe A dark');
  t.notOk(g.vgpu.display.vblank!.running, 'no vblank timer');
  // Forced onto port D anyway: the AUX channel has no sink (DPCD read times out).
  const p = g.driver.display.probe(Port.D);
  t.equal(p.ok, false);
  t.equal(!p.ok && p.reason, 'aux-error');
});

t.test('a raw vGPU driven by GuestDisplay (no harness): EDID, link and pipe as the harness guest gets them', async (t) => {
  const hs = new Harness();
  const g = hs.addGuest({ name: 'g', type: 'GVTg_V5_8', ramBytes: 64 * MiB });
  const d = new GuestDisplay(g.vgpu);
  t.same(d.detect(), [Port.D], 'port D connected (SFUSE_STRAP and SDEISR)');
  const edid = d.readEdid(Port.D);
  t.same(edid && [...edid], [...g.vgpu.display.monitor.edid]);
  t.equal(d.counters.auxErrors, 0);
});

t.test('monitors of any mode on other ports (createVgpu display): the guest lights the EDID\'s mode there, vblanks at its rate', async (t) => {
  const hs = new Harness();
  const display = { monitors: [{ port: 'B' as const, modes: [{ width: 1280, height: 720, refresh: 30 }] }, { port: 'D' as const, modes: [{ width: 800, height: 600 }] }] };
  const g = hs.addGuest({ name: 'g', type: 'GVTg_V5_8', ramBytes: 64 * MiB, display });
  t.same(g.driver.display.detect(), [Port.B, Port.D], 'both monitors found');
  const s = g.lightMonitor();
  t.equal(s.monitor.port, Port.B, 'the first connected port');
  t.same([s.mode.width, s.mode.height], [1280, 720]);
  t.equal((rd(g, transcoderBase(0) + TRANS.DDI_FUNC_CTL) >>> 28) & 7, Port.B, 'transcoder A drives DDI B');
  const hz = refreshHz(s.mode);
  t.ok(Math.abs(hz - 30) < 0.5, `a 30 Hz mode (${hz.toFixed(3)} Hz)`);
  const f0 = rd(g, VREG.frmcount(0));
  hs.run(2e9);
  const frames = rd(g, VREG.frmcount(0)) - f0;
  t.ok(Math.abs(frames - 2 * hz) <= 2 * hz * 0.001 + 1, `${frames} frames in 2 s at ${hz.toFixed(3)} Hz`);
  const g2 = hs.addGuest({ name: 'g2', type: 'GVTg_V5_8', ramBytes: 64 * MiB, display });
  const s2 = g2.lightMonitor({ port: Port.D });
  t.same([s2.monitor.port, s2.mode.width, s2.mode.height], [Port.D, 800, 600], 'or the port asked for');
  t.equal(rd(g2, VREG.planeSurfLive(0, 0)), s2.buffers[0].gma);
});

t.test('the guest\'s register table (from i915_reg.h) agrees with the display room\'s', async (t) => {
  for (const k of ['HSW_PWR_WELL_CTL2', 'LCPLL2_CTL', 'WRPLL_CTL1', 'WRPLL_CTL2', 'DPLL_CTRL1', 'DPLL_CTRL2', 'DPLL_STATUS', 'SFUSE_STRAP', 'SDEISR'] as const) {
    t.equal(GREG[k], (DREG as Record<string, number>)[k], k);
  }
  for (let p = 0; p < 5; p++) {
    t.equal(GREG.ddiBufCtl(p), ddiBufCtl(p));
    t.equal(GREG.dpTpCtl(p), dpTpCtl(p));
    t.equal(GREG.dpTpStatus(p), dpTpStatus(p));
  }
  for (let c = 0; c < 4; c++) t.equal(GREG.auxCtl(c), dpAuxChCtl(c));
  for (let pipe = 0; pipe < 3; pipe++) {
    t.equal(GREG.trans(pipe), transcoderBase(pipe));
    t.equal(GREG.PIPECONF(pipe), pipeconf(pipe));
    t.equal(GREG.PIPE_FRMCOUNT(pipe), VREG.frmcount(pipe));
    t.equal(GREG.PIPE_FLIPCOUNT(pipe), VREG.flipcount(pipe));
    t.equal(GREG.dePipeImr(pipe), VREG.dePipeImr(pipe));
    t.equal(GREG.dePipeIir(pipe), VREG.dePipeIir(pipe));
    t.equal(GREG.dePipeIer(pipe), VREG.dePipeIer(pipe));
    for (let plane = 0; plane < 3; plane++) t.equal(GREG.planeCtl(pipe, plane), planeCtl(pipe, plane));
  }
  t.equal(GREG.transClkSel(0), DREG.TRANS_CLK_SEL_A);
});
