/**
 * Vblank and flip emulation of a vGPU's display (GVT-g Linux 6.1 `gvt/display.c` vblank timer,
 * `gvt/handlers.c` `pipeconf_mmio_write` / `pri_surf_mmio_write`, `gvt/interrupt.c`
 * `gen8_irq_map`), driven through the vGPU's MMIO as i915 6.1 drives it: interrupt install
 * (`gen8_de_irq_postinstall`), a modeset of pipe A on DP port D (`hsw_crtc_enable`: DPLL, link
 * M/N, timings, DDI function, PIPECONF), `bdw_enable_vblank`, the interrupt handler
 * (`gen8_de_irq_handler`), and a plane update (`skl_program_plane_arm` writes PLANE_SURF).
 * Time is the mediator's simulated clock.
 */
import t from 'tap';
import { Gen9Device } from '../lib/device/device.js';
import { SparseGuestMemory } from '../lib/ept/memory.js';
import { Mediator } from '../lib/mediator/mediator.js';
import { Rng } from '../lib/clock.js';
import type { Vgpu } from '../lib/mediator/vgpu.js';
import { Harness } from '../lib/harness/index.js';
import {
  DBits, DREG, TRANS, VBits, VREG, pipeconf, planeCtl, transcoderBase, periodOf, MAX_REFRESH_MHZ,
} from '../lib/display/index.js';
import { dpModeset } from './display-fixture.js';

const MiB = 1024 * 1024;
const MASTER = 0x44200;
const MASTER_ENABLE = 0x80000000;

function world(): { m: Mediator; dev: Gen9Device } {
  const dev = new Gen9Device({ apertureSize: 1024 * MiB, hostMemorySize: 1024 * MiB });
  return { m: new Mediator(dev), dev };
}

function vgpu(m: Mediator, name: string, type = 'GVTg_V5_8'): Vgpu {
  return m.createVgpu({ type, name, memory: new SparseGuestMemory(16 * MiB) });
}

const rd = (v: Vgpu, o: number): number => v.mmioRead(o, 4) >>> 0;
const wr = (v: Vgpu, o: number, x: number): void => v.mmioWrite(o, 4, x >>> 0);

/** The DE pipe bits i915 6.1 enables (`gen8_de_irq_postinstall`: vblank, flip done of planes 1..3, fault bits are not needed here). */
const DE_PIPE_ENABLES = (VBits.GEN8_PIPE_VBLANK | VBits.planeFlipDone(0) | VBits.planeFlipDone(1) | VBits.planeFlipDone(2)) >>> 0;

/** `gen8_de_irq_postinstall` for `pipe` (vblank masked until `drm_crtc_vblank_on`), then the master enable. */
function installIrq(v: Vgpu, pipe: number): void {
  const masked = (DE_PIPE_ENABLES & ~VBits.GEN8_PIPE_VBLANK) >>> 0;
  wr(v, VREG.dePipeIir(pipe), 0xffffffff);
  wr(v, VREG.dePipeIer(pipe), DE_PIPE_ENABLES);
  wr(v, VREG.dePipeImr(pipe), ~masked);
  wr(v, MASTER, MASTER_ENABLE);
}

/** `bdw_enable_vblank`: unmask the vblank in the pipe's IMR. */
function enableVblank(v: Vgpu, pipe: number): void {
  wr(v, VREG.dePipeImr(pipe), rd(v, VREG.dePipeImr(pipe)) & ~VBits.GEN8_PIPE_VBLANK);
}


t.test('an enabled pipe A gets vblanks at the refresh rate its timings give, through DE pipe IIR, the master register and the line', async (t) => {
  const { m, dev } = world();
  const v = vgpu(m, 'a');
  const edges: number[] = [];
  v.onInterrupt((p) => edges.push(p));
  installIrq(v, 0);
  const before = dev.clock.pending;
  const { pixelKhz, ht, vt } = dpModeset(v, 0);
  t.equal(rd(v, pipeconf(0)) & DBits.PIPECONF_STATE_ENABLE, DBits.PIPECONF_STATE_ENABLE, 'pipe state follows enable');
  t.equal(dev.clock.pending, before + 1, 'enabling the pipe put one timer event on the clock');
  const vb = v.display.vblank!;
  const hz = (pixelKhz * 1000) / (ht * vt);
  t.ok(Math.abs(vb.refreshMilliHz / 1000 - hz) < 0.01, `refresh ${vb.refreshMilliHz} mHz from the timings (${hz.toFixed(3)} Hz), not the default`);
  t.equal(vb.periodNs, periodOf(vb.refreshMilliHz));
  enableVblank(v, 0);
  const f0 = rd(v, VREG.frmcount(0));
  m.run(50e6);
  const frames = rd(v, VREG.frmcount(0)) - f0;
  t.equal(frames, Math.floor(50e6 / vb.periodNs), `${frames} frames counted in 50 ms`);
  t.ok(frames >= 2 && frames <= 3, 'about three');
  t.equal(rd(v, VREG.dePipeIir(0)) & VBits.GEN8_PIPE_VBLANK, VBits.GEN8_PIPE_VBLANK, 'IIR has the vblank bit');
  const master = rd(v, MASTER);
  t.equal(master & VBits.masterDePipe(0), VBits.masterDePipe(0), 'master reads the DE pipe A bit');
  t.equal(master & (VBits.masterDePipe(1) | VBits.masterDePipe(2)), 0, 'and not B or C');
  t.ok(v.interruptLine, 'the line is up');
  t.equal(edges.length, 1, 'the callback ran once (one edge while unacknowledged)');
  t.equal(edges[0] & VBits.masterDePipe(0), VBits.masterDePipe(0), 'with the DE pipe A bit pending');
  // gen8_de_irq_handler: master off, read the pipe IIR, ack it, master on.
  wr(v, MASTER, 0);
  t.notOk(v.interruptLine, 'master off drops the line');
  const iir = rd(v, VREG.dePipeIir(0));
  wr(v, VREG.dePipeIir(0), iir);
  wr(v, MASTER, MASTER_ENABLE);
  t.equal(rd(v, VREG.dePipeIir(0)), 0, 'IIR acknowledged');
  t.notOk(v.interruptLine, 'the acknowledged vblank leaves the line down');
  t.equal(rd(v, MASTER), MASTER_ENABLE, 'master: enable only');
  m.run(vb.nextVblankAt - dev.clock.now);
  t.ok(v.interruptLine, 'the next vblank raises it again');
  t.equal(edges.length, 2);
  // An IIR acked while the master stays enabled lowers the line too.
  wr(v, VREG.dePipeIir(0), VBits.GEN8_PIPE_VBLANK);
  t.notOk(v.interruptLine, 'ack with master on: line down');
});

t.test('masked or not enabled vblanks reach IIR or not, and never the line', async (t) => {
  const { m } = world();
  const v = vgpu(m, 'a');
  installIrq(v, 0);
  dpModeset(v, 0);
  m.run(20e6);
  t.equal(rd(v, VREG.dePipeIir(0)) & VBits.GEN8_PIPE_VBLANK, 0, 'vblank masked in IMR: not in IIR');
  t.ok(rd(v, VREG.frmcount(0)) > 0, 'the frame counter counts anyway');
  t.notOk(v.interruptLine);
  wr(v, VREG.dePipeIer(0), 0);
  enableVblank(v, 0);
  m.run(20e6);
  t.equal(rd(v, VREG.dePipeIir(0)) & VBits.GEN8_PIPE_VBLANK, VBits.GEN8_PIPE_VBLANK, 'unmasked: in IIR');
  t.equal(rd(v, MASTER) & VBits.masterDePipe(0), 0, 'IER clear: not in master');
  t.notOk(v.interruptLine, 'nor on the line');
  wr(v, VREG.dePipeIer(0), VBits.GEN8_PIPE_VBLANK);
  t.ok(v.interruptLine, 'an IER write recomputes the line');
});

t.test('a PLANE_SURF write is a flip: SURFLIVE at once, flip done at the next vblank; async at once', async (t) => {
  const { m, dev } = world();
  const v = vgpu(m, 'a');
  installIrq(v, 0);
  dpModeset(v, 0);
  enableVblank(v, 0);
  const vb = v.display.vblank!;
  m.run(vb.nextVblankAt - dev.clock.now);
  wr(v, VREG.dePipeIir(0), 0xffffffff);
  const flips0 = rd(v, VREG.flipcount(0));
  wr(v, planeCtl(0, 0), 1 << 31); // PLANE_CTL_ENABLE, synchronous
  wr(v, VREG.planeSurf(0, 0), 0x00100000);
  t.equal(rd(v, VREG.planeSurfLive(0, 0)), 0x00100000, 'SURFLIVE follows');
  t.equal(rd(v, VREG.flipcount(0)), flips0 + 1, 'PIPE_FLIPCOUNT counts the primary flip');
  t.equal(rd(v, VREG.dePipeIir(0)) & VBits.planeFlipDone(0), 0, 'no flip done before the vblank');
  m.run((vb.nextVblankAt - dev.clock.now) - 1);
  t.equal(rd(v, VREG.dePipeIir(0)) & VBits.planeFlipDone(0), 0, 'nor 1 ns before it');
  m.run(1);
  const iir = rd(v, VREG.dePipeIir(0));
  t.equal(iir & VBits.planeFlipDone(0), VBits.planeFlipDone(0), 'flip done at the vblank');
  t.equal(iir & VBits.GEN8_PIPE_VBLANK, VBits.GEN8_PIPE_VBLANK, 'with the vblank');
  t.ok(v.interruptLine);
  wr(v, VREG.dePipeIir(0), iir);
  m.run(vb.periodNs);
  t.equal(rd(v, VREG.dePipeIir(0)) & VBits.planeFlipDone(0), 0, 'one flip, one flip done');
  wr(v, VREG.dePipeIir(0), 0xffffffff);
  // Sprite (plane 2), asynchronous: done at once.
  wr(v, planeCtl(0, 1), (1 << 31) | VBits.PLANE_CTL_ASYNC_FLIP);
  wr(v, VREG.planeSurf(0, 1), 0x00200000);
  t.equal(rd(v, VREG.planeSurfLive(0, 1)), 0x00200000);
  t.equal(rd(v, VREG.flipcount(0)), flips0 + 1, 'a sprite flip does not count in PIPE_FLIPCOUNT');
  t.equal(rd(v, VREG.dePipeIir(0)) & VBits.planeFlipDone(1), VBits.planeFlipDone(1), 'async flip done at once');
  t.ok(v.interruptLine, 'and raised');
  t.equal(vb.counters.flips, 2);
  t.equal(vb.counters.flipsDone, 2);
});

t.test('a disabled pipe produces nothing; the last disable stops the timer; a pending flip done on a disabled pipe is dropped', async (t) => {
  const { m, dev } = world();
  const v = vgpu(m, 'a');
  const base = dev.clock.pending;
  installIrq(v, 0);
  enableVblank(v, 0);
  t.notOk(v.display.vblank!.running, 'a new vGPU has a dark pipe and no timer');
  m.run(50e6);
  t.equal(rd(v, VREG.frmcount(0)), 0, 'no frame');
  t.equal(rd(v, VREG.dePipeIir(0)), 0, 'no vblank');
  t.notOk(v.interruptLine);
  dpModeset(v, 0);
  dpModeset(v, 1);
  t.equal(dev.clock.pending, base + 1, 'one timer for the vGPU, whatever the number of pipes');
  m.run(20e6);
  t.ok(rd(v, VREG.frmcount(1)) > 0, 'pipe B counts too');
  wr(v, pipeconf(1), 0);
  t.ok(v.display.vblank!.running, 'pipe A still enabled: the timer runs');
  const b = rd(v, VREG.frmcount(1)), a = rd(v, VREG.frmcount(0));
  m.run(20e6);
  t.equal(rd(v, VREG.frmcount(1)), b, 'disabled pipe B stopped counting');
  t.ok(rd(v, VREG.frmcount(0)) > a, 'A goes on');
  wr(v, VREG.planeSurf(0, 0), 0x1000);
  wr(v, VREG.dePipeIir(0), 0xffffffff);
  wr(v, pipeconf(0), 0);
  t.equal(rd(v, pipeconf(0)) & DBits.PIPECONF_STATE_ENABLE, 0, 'state off');
  t.notOk(v.display.vblank!.running, 'no pipe left: the timer stopped');
  t.equal(dev.clock.pending, base, 'nothing of the vGPU on the clock');
  dpModeset(v, 0);
  m.run(20e6);
  t.equal(rd(v, VREG.dePipeIir(0)) & VBits.planeFlipDone(0), 0, 'the flip pending when the pipe went dark was dropped');
});

t.test('reset, failsafe and destroy stop the timer: no event of the vGPU stays on the clock', async (t) => {
  const { m, dev } = world();
  const v = vgpu(m, 'a');
  const base = dev.clock.pending;
  installIrq(v, 0);
  dpModeset(v, 0);
  enableVblank(v, 0);
  m.run(20e6);
  t.equal(dev.clock.pending, base + 1);
  v.reset();
  m.run(0); // the mediator's own zero-delay work (kick) after a reset
  t.notOk(v.display.vblank!.running, 'reset: the boot state has a dark pipe, no timer');
  t.equal(dev.clock.pending, base, 'reset: nothing on the clock');
  t.equal(rd(v, VREG.frmcount(0)), 0, 'reset: frame counter restored');
  m.run(50e6);
  t.equal(rd(v, VREG.frmcount(0)), 0, 'and no vblank after it');
  dpModeset(v, 0);
  t.equal(dev.clock.pending, base + 1);
  v.enterFailsafe('test');
  m.run(0);
  t.equal(dev.clock.pending, base, 'failsafe: nothing on the clock');
  v.reset();
  m.run(0);
  dpModeset(v, 0);
  t.equal(dev.clock.pending, base + 1);
  v.destroy();
  m.run(0);
  const eventsBefore = dev.clock.eventsRun;
  t.equal(dev.clock.pending, base, 'destroy: nothing on the clock');
  m.run(100e6);
  t.equal(dev.clock.eventsRun, eventsBefore, 'no event of the destroyed vGPU runs');
});

t.test('two vGPUs: vblanks, counters and lines of their own', async (t) => {
  const { m, dev } = world();
  const a = vgpu(m, 'a');
  const b = vgpu(m, 'b', 'GVTg_V5_4');
  installIrq(a, 0);
  installIrq(b, 0);
  enableVblank(a, 0);
  enableVblank(b, 0);
  dpModeset(a, 0);
  m.run(40e6);
  t.ok(rd(a, VREG.frmcount(0)) >= 2, 'a counts');
  t.equal(rd(b, VREG.frmcount(0)), 0, 'b, dark, does not');
  t.ok(a.interruptLine);
  t.notOk(b.interruptLine, 'b\'s line stays down');
  dpModeset(b, 0, 1920, 1200);
  const pa = a.display.vblank!.periodNs, pb = b.display.vblank!.periodNs;
  t.ok(Math.abs(pa - 1e9 / 60) < 1e5 && Math.abs(pb - 1e9 / 60) < 1e5, `both near 60 Hz (${pa}, ${pb} ns)`);
  const fa = rd(a, VREG.frmcount(0));
  m.run(100e6);
  t.equal(rd(b, VREG.frmcount(0)), Math.floor(100e6 / pb), 'b counts its frames from its own start');
  t.equal(rd(a, VREG.frmcount(0)) - fa, Math.floor((a.display.vblank!.nextVblankAt - pa - (dev.clock.now - 100e6)) / pa) + 1, 'a goes on at its own phase');
  a.destroy();
  m.run(0);
  t.equal(dev.clock.pending, 1, 'a destroyed: only b\'s timer remains');
  const fb = rd(b, VREG.frmcount(0));
  m.run(50e6);
  t.ok(rd(b, VREG.frmcount(0)) > fb, 'b unaffected');
});

t.test('refresh rate: a guest\'s absurd link M/N cannot speed the timer up; unusable timings keep 60 Hz', async (t) => {
  const { m } = world();
  const v = vgpu(m, 'a');
  const tb = transcoderBase(0);
  // No DDI function and no clock: GVT-g's default.
  wr(v, pipeconf(0), DBits.PIPECONF_ENABLE);
  t.equal(v.display.vblank!.refreshMilliHz, 60_000, 'default 60 Hz');
  wr(v, pipeconf(0), 0);
  dpModeset(v, 0);
  wr(v, pipeconf(0), 0);
  wr(v, tb + TRANS.LINK_M1, 0xffffff);
  wr(v, tb + TRANS.LINK_N1, 1);
  wr(v, tb + TRANS.HTOTAL, 0);
  wr(v, tb + TRANS.VTOTAL, 0);
  const before = v.display.vblank!.refreshMilliHz;
  wr(v, pipeconf(0), DBits.PIPECONF_ENABLE);
  t.equal(v.display.vblank!.refreshMilliHz, before, 'zero totals: the previous rate stays');
  wr(v, tb + TRANS.HTOTAL, 1 << 16);
  wr(v, tb + TRANS.VTOTAL, 1 << 16);
  wr(v, pipeconf(0), DBits.PIPECONF_ENABLE);
  t.ok(v.display.vblank!.refreshMilliHz <= MAX_REFRESH_MHZ, 'a rate beyond 240 Hz is refused');
  const ev = m.device.clock.eventsRun;
  m.run(10e6);
  t.ok(m.device.clock.eventsRun - ev <= 3, 'a handful of events in 10 ms, not millions');
});

t.test('a harness guest whose pipe is lit takes its vblank interrupts (its handler acks DE pipe IIR as gen8_de_irq_handler)', async (t) => {
  const h = new Harness();
  const g = h.addGuest({ name: 'g', type: 'GVTg_V5_8', ramBytes: 16 * MiB });
  const v = g.vgpu;
  wr(v, VREG.dePipeIer(0), VBits.GEN8_PIPE_VBLANK);
  wr(v, VREG.dePipeImr(0), ~VBits.GEN8_PIPE_VBLANK);
  dpModeset(v, 0);
  const n0 = g.interrupts.length;
  h.mediator.run(50e6);
  const de = g.interrupts.slice(n0).filter((p) => (p & VBits.masterDePipe(0)) !== 0);
  t.equal(de.length, rd(v, VREG.frmcount(0)), 'one interrupt per vblank, each acknowledged before the next');
  t.equal(rd(v, VREG.dePipeIir(0)), 0, 'acknowledged');
  t.notOk(v.interruptLine, 'line down');
});

t.test('the master register reports the PCH bank: a hotplug with SDEIER set reaches the line at once; a harness guest acks it', async (t) => {
  const h = new Harness();
  const g = h.addGuest({ name: 'g', type: 'GVTg_V5_8', ramBytes: 16 * MiB });
  const v = g.vgpu;
  wr(v, DREG.SDEIER, DBits.SDE_PORTD_HOTPLUG_CPT);
  const n0 = g.interrupts.length;
  const seen: number[] = [];
  v.onInterrupt((pending) => seen.push(pending));
  // The hotplug recomputes the line itself (intel_vgpu_trigger_virtual_event → check_pending_irq):
  // no interrupt-register write is needed for the guest to hear it.
  v.display.hotplug(false);
  t.equal(g.interrupts.length, n0 + 1, 'one interrupt, at the hotplug');
  t.equal(seen.length, 1);
  t.equal(seen[0] & (1 << 23), 1 << 23, 'the master reported the PCH bit (gen8_irq_map bit 23)');
  t.equal(rd(v, DREG.SDEIIR), 0, 'the handler acknowledged SDEIIR');
  t.notOk(v.interruptLine);
  // Without SDEIER the event stays in SDEIIR and the master reports nothing.
  wr(v, DREG.SDEIER, 0);
  v.display.hotplug(true);
  t.ok(rd(v, DREG.SDEIIR) & DBits.SDE_PORTD_HOTPLUG_CPT, 'SDEIIR set');
  t.equal(rd(v, MASTER) & (1 << 23), 0, 'not enabled: no PCH bit in the master');
  t.equal(g.interrupts.length, n0 + 1, 'no interrupt');
});

t.test('seeded random display MMIO: the line always equals master enable && pending, and destroy leaves nothing on the clock', async (t) => {
  const { m, dev } = world();
  const rng = new Rng(20261208);
  const v = vgpu(m, 'a');
  const other = vgpu(m, 'b');
  const base = () => dev.clock.pending;
  const offsets: number[] = [MASTER];
  for (let p = 0; p < 3; p++) {
    offsets.push(VREG.dePipeImr(p), VREG.dePipeIir(p), VREG.dePipeIer(p), pipeconf(p), VREG.planeSurf(p, 0), VREG.planeSurf(p, 1), VREG.planeSurf(p, 2), planeCtl(p, 0), planeCtl(p, 1));
    const tb = transcoderBase(p);
    offsets.push(tb + TRANS.LINK_M1, tb + TRANS.LINK_N1, tb + TRANS.HTOTAL, tb + TRANS.VTOTAL);
  }
  offsets.push(DREG.PIPECONF_EDP, DREG.TRANS_DDI_FUNC_CTL_EDP, DREG.SDEIER, DREG.SDEIIR, DREG.SDEIMR, DREG.DPLL_CTRL1, DREG.DPLL_CTRL2, transcoderBase(0) + TRANS.DDI_FUNC_CTL);
  let bad = 0, ticks = 0;
  for (let i = 0; i < 3000; i++) {
    const o = offsets[rng.int(offsets.length)];
    const x = rng.next() < 0.5 ? rng.nextU32() : (rng.next() < 0.5 ? 0x80000000 : 0xffffffff);
    wr(v, o, x);
    if (rng.next() < 0.2) m.run(rng.int(20e6));
    const master = rd(v, MASTER);
    const expect = (master & MASTER_ENABLE) !== 0 && (master & 0x7fffffff) !== 0;
    if (v.interruptLine !== expect) bad++;
    ticks = v.display.vblank!.counters.ticks;
  }
  t.equal(bad, 0, 'line = master enable && pending after every step');
  t.ok(ticks > 0, `the timer ran (${ticks} ticks)`);
  t.ok(dev.clock.eventsRun < 3000 * 20, 'no event storm');
  t.notOk(other.display.vblank!.running, 'the other vGPU never had a timer');
  t.equal(rd(other, VREG.frmcount(0)) + rd(other, VREG.frmcount(1)) + rd(other, VREG.frmcount(2)), 0);
  v.destroy();
  m.run(0);
  t.equal(base(), 0, 'after destroy: no event left on the clock');
});
