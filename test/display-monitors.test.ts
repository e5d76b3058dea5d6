/**
 * Several monitors on ports B, C, D, driven through the vGPU's MMIO as i915 6.1 drives them
 * (display/intel_display.c `intel_setup_outputs`, intel_ddi.c `lpt_digital_port_connected`,
 * intel_dp.c detect: DPCD then EDID over I2C-over-AUX; i915_irq.c `spt_irq_handler`,
 * `gen8_de_irq_postinstall`), the run-time monitor change raising a hotplug at once (GVT-g
 * `intel_vgpu_emulate_hotplug`), the AUX-done interrupt (`dp_aux_ch_ctl_trans_done`), and the
 * `display` option's validation touching nothing.
 */
import t from 'tap';
import { Gen9Device } from '../lib/device/device.js';
import { SparseGuestMemory } from '../lib/ept/memory.js';
import { Mediator } from '../lib/mediator/mediator.js';
import type { Vgpu } from '../lib/mediator/vgpu.js';
import { ConfigError } from '../lib/errors.js';
import {
  AuxCtl, DBits, DISPLAY_REGISTER_DEFS, DREG, Port, TRANS, ddiBufCtl, decodeEdid, modeTiming, pipeconf, transcoderBase,
  type DisplayOptions, type MonitorConfig, type MonitorPort,
} from '../lib/display/index.js';
import { DE_PORT_IER, DE_PORT_IIR, DE_PORT_IMR, MASTER, MASTER_ENABLE, auxXfer, dpcdRead, rd, readEdid, wr } from './display-fixture.js';

const MiB = 1024 * 1024;

function world(): { m: Mediator } {
  const dev = new Gen9Device({ apertureSize: 1024 * MiB, hostMemorySize: 1024 * MiB });
  return { m: new Mediator(dev) };
}

function vgpu(m: Mediator, display?: DisplayOptions, type = 'GVTg_V5_4', name = 'g'): Vgpu {
  return m.createVgpu({ type, name, memory: new SparseGuestMemory(16 * MiB), display });
}

/** SPT's hotplug bit of each port (i915 `hpd_spt`) and its AUX channel. */
const PORTS: Record<MonitorPort, { port: number; sde: number; strap: number; aux: number; pchLong: number }> = {
  B: { port: Port.B, sde: DBits.SDE_PORTB_HOTPLUG_CPT, strap: DBits.SFUSE_STRAP_DDIB_DETECTED, aux: 1, pchLong: 2 << 0 },
  C: { port: Port.C, sde: DBits.SDE_PORTC_HOTPLUG_CPT, strap: DBits.SFUSE_STRAP_DDIC_DETECTED, aux: 2, pchLong: 2 << 8 },
  D: { port: Port.D, sde: DBits.SDE_PORTD_HOTPLUG_CPT, strap: DBits.SFUSE_STRAP_DDID_DETECTED, aux: 3, pchLong: 2 << 16 },
};

interface Connector { port: string; connected: boolean; preferred?: { width: number; height: number; pixelClockKhz: number }; modes: number }

/**
 * i915 6.1 on Skylake without a VBT (`init_vbt_missing_defaults`): `intel_setup_outputs` inits
 * DDI A (eDP) and B, C, D (DP + HDMI); E has no DP or HDMI. Each DP connector's detect:
 * `lpt_digital_port_connected` (SDEISR & hpd_spt[pin]; eDP reads its DPCD instead), the DPCD
 * receiver caps, then the EDID over I2C-over-AUX (`drm_get_edid`).
 */
function setupOutputs(v: Vgpu): Connector[] {
  const out: Connector[] = [];
  const edp = dpcdRead(v, 0, 0, 15);
  out.push({ port: 'A (eDP)', connected: edp !== null, modes: 0 });
  for (const name of ['B', 'C', 'D'] as MonitorPort[]) {
    const p = PORTS[name];
    if ((rd(v, DREG.SDEISR) & p.sde) === 0) {
      out.push({ port: name, connected: false, modes: 0 });
      continue;
    }
    const caps = dpcdRead(v, p.aux, 0, 15);
    const edid = caps && caps[0] !== 0 ? readEdid(v, p.aux) : null;
    const d = edid ? decodeEdid(edid) : null;
    const pm = d?.modes[0];
    out.push({ port: name, connected: d !== null, preferred: pm && { width: pm.width, height: pm.height, pixelClockKhz: pm.pixelClockKhz }, modes: d?.modes.length ?? 0 });
  }
  return out;
}

const THREE: DisplayOptions = {
  monitors: [
    { port: 'C', modes: [{ width: 2560, height: 1440 }, { width: 1920, height: 1080 }], name: 'left' },
    { port: 'B', modes: [{ width: 1280, height: 1024 }], name: 'middle' },
    { port: 'D', modes: [{ width: 3840, height: 2160, refresh: 30 }, { width: 3840, height: 2160 }, { width: 1920, height: 1080 }, { width: 1280, height: 720 },
      { width: 1024, height: 768 }, { width: 800, height: 600 }, { width: 640, height: 480 }, { width: 1600, height: 900 }], name: 'right' },
  ],
};

t.test('three monitors on B, C, D: intel_setup_outputs finds a connected DP connector on each, with its own EDID', async (t) => {
  const { m } = world();
  const v = vgpu(m, THREE);
  const strap = rd(v, DREG.SFUSE_STRAP), sde = rd(v, DREG.SDEISR);
  for (const p of Object.values(PORTS)) {
    t.ok(strap & p.strap, 'SFUSE_STRAP: the DDI detected (GVT-g sets it per monitor)');
    t.ok(sde & p.sde, 'SDEISR: the port\'s hotplug live');
  }
  t.equal(sde & (DBits.SDE_PORTA_HOTPLUG_SPT | DBits.SDE_PORTE_HOTPLUG_SPT), 0, 'nothing on A or E');
  const wells = rd(v, DREG.HSW_PWR_WELL_CTL2);
  for (const idx of [DBits.SKL_PW_CTL_IDX_DDI_B, DBits.SKL_PW_CTL_IDX_DDI_C, DBits.SKL_PW_CTL_IDX_DDI_D]) t.ok(wells & DBits.pwrWellState(idx), `DDI well ${idx} on`);
  const outputs = setupOutputs(v);
  t.same(outputs, [
    { port: 'A (eDP)', connected: false, modes: 0 },
    { port: 'B', connected: true, preferred: { width: 1280, height: 1024, pixelClockKhz: 108000 }, modes: 1 },
    { port: 'C', connected: true, preferred: { width: 2560, height: 1440, pixelClockKhz: 241500 }, modes: 2 },
    { port: 'D', connected: true, preferred: { width: 3840, height: 2160, pixelClockKhz: 262750 }, modes: 8 },
  ], 'eDP fails its DPCD read (i915: "failed to retrieve link info, disabling eDP"); B, C, D connected with their modes');
  t.same(v.display.monitors.map((x) => x.portName), ['C', 'B', 'D'], 'listed order: C is the primary');
  t.equal(v.display.monitor.portName, 'C');
  t.same(decodeEdid(readEdid(v, PORTS.D.aux)!).modes, THREE.monitors![2].modes.map((s) => ({ ...modeTiming(s) })), 'port D: the eight modes (three blocks, the last through the segment pointer)');
  t.equal(decodeEdid(v.display.monitorAt('D')!.edid).blocks, 3);
  // Each sink's DPCD is its own: link training on C leaves B's and D's.
  t.equal(auxXfer(v, PORTS.C.aux, [0x8 << 4, 0x01, 0x02, 0, 0x21]).reply[0], 0, 'TPS1 on C');
  t.same(dpcdRead(v, PORTS.C.aux, 0x202, 1), [0x11]);
  t.same(dpcdRead(v, PORTS.B.aux, 0x202, 1), [0]);
  t.same(dpcdRead(v, PORTS.D.aux, 0x202, 1), [0]);
  t.equal(v.vregs.stats.untrackedReads + v.vregs.stats.untrackedWrites, 0, 'every register touched is tracked');
});

t.test('the default is GVT-g\'s monitor on port D: register values as before, one connector', async (t) => {
  const { m } = world();
  for (const [type, w, h] of [['GVTg_V5_8', 1024, 768], ['GVTg_V5_4', 1920, 1200]] as const) {
    const v = vgpu(m, undefined, type, type);
    t.equal(rd(v, DREG.SFUSE_STRAP), DBits.SFUSE_STRAP_DDID_DETECTED, 'SFUSE_STRAP: DDI D only');
    t.equal(rd(v, DREG.SDEISR), DBits.SDE_PORTD_HOTPLUG_CPT, 'SDEISR: port D only');
    const wells = (DBits.pwrWellReq(14) | DBits.pwrWellState(14) | DBits.pwrWellReq(0) | DBits.pwrWellState(0) | DBits.pwrWellReq(4) | DBits.pwrWellState(4)) >>> 0;
    t.equal(rd(v, DREG.HSW_PWR_WELL_CTL2), wells, 'PW1, misc I/O, DDI D');
    for (const p of [Port.A, Port.B, Port.C, Port.D, Port.E]) t.equal(rd(v, ddiBufCtl(p)), DBits.DDI_BUF_IS_IDLE, `DDI ${p} idle`);
    t.equal(rd(v, transcoderBase(0) + TRANS.PIPESRC), (((w - 1) << 16) | (h - 1)) >>> 0, 'pipe A source: the type\'s resolution');
    const outputs = setupOutputs(v);
    t.same(outputs.map((o) => [o.port, o.connected, o.preferred?.width]), [['A (eDP)', false, undefined], ['B', false, undefined], ['C', false, undefined], ['D', true, w]]);
    t.ok(decodeEdid(v.display.monitor.edid).standardTimings + decodeEdid(v.display.monitor.edid).establishedTimings > 0, 'GVT-g\'s EDID layout (established and standard timings)');
    // The same monitor given explicitly leaves every display register as the default does.
    const x = vgpu(m, { monitors: [{ port: 'D', modes: [{ width: w, height: h }] }] }, type, `${type}-explicit`);
    const differ = DISPLAY_REGISTER_DEFS.flatMap((d) => Array.from({ length: d.count ?? 1 }, (_, i) => d.offset + i * (d.stride ?? 4)))
      .filter((o) => v.vregs.peek(o) !== x.vregs.peek(o));
    t.same(differ, [], 'explicit port D at the type\'s resolution: the same register values');
    t.same(decodeEdid(x.display.monitor.edid).modes, decodeEdid(v.display.monitor.edid).modes, 'the same detailed timing');
  }
});

t.test('setMonitor: a changed, removed or added monitor raises the hotplug at once; i915 re-probes', async (t) => {
  const { m } = world();
  const v = vgpu(m, { monitors: [{ port: 'D', modes: [{ width: 1920, height: 1200 }] }, { port: 'C', modes: [{ width: 1024, height: 768 }] }] });
  const lines: number[] = [];
  v.onInterrupt((p) => lines.push(p));
  // ibx_irq_postinstall / spt_hpd_irq_setup: hotplug bits of B, C, D enabled; then the master.
  const hpd = (DBits.SDE_PORTB_HOTPLUG_CPT | DBits.SDE_PORTC_HOTPLUG_CPT | DBits.SDE_PORTD_HOTPLUG_CPT) >>> 0;
  wr(v, DREG.SDEIIR, 0xffffffff);
  wr(v, DREG.SDEIER, hpd);
  wr(v, DREG.SDEIMR, ~hpd);
  wr(v, MASTER, MASTER_ENABLE);
  t.notOk(v.interruptLine, 'quiet after install');
  /** spt_irq_handler for a PCH interrupt: which pins, long pulses; acks PCH_PORT_HOTPLUG and SDEIIR. */
  const service = (): { pins: number; long: number } => {
    const iir = rd(v, DREG.SDEIIR);
    const hp = rd(v, DREG.PCH_PORT_HOTPLUG);
    wr(v, DREG.PCH_PORT_HOTPLUG, hp);
    wr(v, DREG.SDEIIR, iir);
    return { pins: iir & hpd, long: hp };
  };
  // Change the modes of D.
  v.setMonitor('D', { modes: [{ width: 2560, height: 1440 }, { width: 1920, height: 1200 }], name: 'resized' });
  t.equal(lines.length, 1, 'the line went up at the setMonitor, with no interrupt-register write');
  t.equal(lines[0] & (1 << 23), 1 << 23, 'GEN8_MASTER_IRQ: the PCH bank (bit 23)');
  t.ok(v.interruptLine);
  let s = service();
  t.equal(s.pins, DBits.SDE_PORTD_HOTPLUG_CPT, 'SDEIIR: port D');
  t.ok(s.long & PORTS.D.pchLong, 'PCH_PORT_HOTPLUG: port D long pulse (spt_port_hotplug_long_detect → full detect)');
  wr(v, MASTER, MASTER_ENABLE); // the handler re-enables the master
  t.notOk(v.interruptLine, 'acknowledged: line down');
  let outputs = setupOutputs(v);
  t.same(outputs[3].preferred, { width: 2560, height: 1440, pixelClockKhz: 241500 }, 'the re-probe reads the new EDID');
  t.equal(outputs[3].modes, 2);
  t.equal(decodeEdid(v.display.monitorAt('D')!.edid).name, 'resized');
  // Remove C.
  v.setMonitor('C', null);
  t.equal(lines.length, 2, 'removal: a second interrupt');
  s = service();
  t.equal(s.pins, DBits.SDE_PORTC_HOTPLUG_CPT, 'SDEIIR: port C');
  wr(v, MASTER, MASTER_ENABLE);
  t.equal(rd(v, DREG.SDEISR) & PORTS.C.sde, 0, 'SDEISR: C gone');
  t.equal(rd(v, DREG.SFUSE_STRAP) & PORTS.C.strap, 0, 'strap: C gone');
  t.ok(auxXfer(v, PORTS.C.aux, [0x90, 0, 0, 0]).status & AuxCtl.TIME_OUT_ERROR, 'AUX C: no sink, timeout');
  t.equal(v.display.monitorAt('C'), undefined);
  // Add B.
  v.setMonitor('B', { modes: [{ width: 1366, height: 768 }] });
  t.equal(lines.length, 3);
  s = service();
  t.equal(s.pins, DBits.SDE_PORTB_HOTPLUG_CPT);
  wr(v, MASTER, MASTER_ENABLE);
  outputs = setupOutputs(v);
  t.same(outputs.map((o) => [o.port, o.connected]), [['A (eDP)', false], ['B', true], ['C', false], ['D', true]]);
  t.equal(outputs[1].preferred?.pixelClockKhz, 72000, '1366x768: DMT 56h (RB)');
  t.same(v.display.monitors.map((x) => x.portName), ['D', 'B'], 'B comes after D');
  t.equal(v.display.counters.hotplugs, 3);
  // Unplug and replug keep the monitor configured (GVT-g's hotplug).
  v.display.hotplug(false, 'B');
  t.equal(rd(v, DREG.SDEISR) & PORTS.B.sde, 0);
  t.ok(auxXfer(v, PORTS.B.aux, [0x90, 0, 0, 0]).status & AuxCtl.TIME_OUT_ERROR, 'unplugged: no sink');
  t.ok(v.display.monitorAt('B'), 'still configured');
  // A reset keeps the host's monitors, all plugged.
  v.reset();
  t.same(v.display.monitors.map((x) => [x.portName, x.connected, x.mode.width]), [['D', true, 2560], ['B', true, 1366]], 'reset: the host\'s monitors, plugged');
  t.equal(rd(v, DREG.SDEISR) & (PORTS.B.sde | PORTS.C.sde | PORTS.D.sde), (PORTS.B.sde | PORTS.D.sde) >>> 0, 'SDEISR: B and D');
  t.equal(rd(v, DREG.SFUSE_STRAP), (PORTS.B.strap | PORTS.D.strap) >>> 0, 'straps: B and D');
  t.equal(rd(v, transcoderBase(0) + TRANS.PIPESRC), ((2559 << 16) | 1439) >>> 0, 'pipe A source: the primary\'s new mode');
  t.equal(rd(v, DREG.SDEIIR), 0, 'no event pending after reset');
});

t.test('validation: bad monitors are refused with ConfigError naming the field, touching nothing', async (t) => {
  const { m } = world();
  const before = m.availability();
  const bad: [string, unknown, RegExp][] = [
    ['port A', { monitors: [{ port: 'A', modes: [{ width: 1024, height: 768 }] }] }, /display\.monitors\[0\]\.port/],
    ['port E', { monitors: [{ port: 'E', modes: [{ width: 1024, height: 768 }] }] }, /display\.monitors\[0\]\.port/],
    ['duplicate ports', { monitors: [{ port: 'D', modes: [{ width: 1024, height: 768 }] }, { port: 'D', modes: [{ width: 800, height: 600 }] }] }, /display\.monitors\[1\]\.port/],
    ['four monitors', { monitors: ['B', 'C', 'D', 'B'].map((port) => ({ port, modes: [{ width: 1024, height: 768 }] })) }, /display\.monitors$/],
    ['no modes', { monitors: [{ port: 'B', modes: [] }] }, /display\.monitors\[0\]\.modes$/],
    ['too many modes', { monitors: [{ port: 'B', modes: Array.from({ length: 32 }, (_, i) => ({ width: 640 + 8 * i, height: 480 })) }] }, /modes$/],
    ['refresh 23', { monitors: [{ port: 'B', modes: [{ width: 1024, height: 768, refresh: 23 }] }] }, /modes\[0\]$/],
    ['refresh 241', { monitors: [{ port: 'B', modes: [{ width: 1024, height: 768 }, { width: 1024, height: 768, refresh: 241 }] }] }, /modes\[1\]$/],
    ['width 4096', { monitors: [{ port: 'B', modes: [{ width: 4096, height: 2160 }] }] }, /modes\[0\]$/],
    ['pixel clock', { monitors: [{ port: 'B', modes: [{ width: 3840, height: 2160, refresh: 120 }] }] }, /modes\[0\]$/],
    ['duplicate mode', { monitors: [{ port: 'B', modes: [{ width: 1024, height: 768 }, { width: 1024, height: 768, refresh: 60 }] }] }, /modes\[1\]$/],
    ['timing', { monitors: [{ port: 'B', modes: [{ width: 1024, height: 768, timing: 'gtf' }] }] }, /modes\[0\]\.timing/],
    ['string width', { monitors: [{ port: 'B', modes: [{ width: '1024', height: 768 }] }] }, /modes\[0\]\.width/],
    ['name', { monitors: [{ port: 'B', modes: [{ width: 1024, height: 768 }], name: 'a name much too long' }] }, /monitors\[0\]\.name/],
    ['unknown key', { monitors: [{ port: 'B', modes: [{ width: 1024, height: 768 }], colour: 'blue' }] }, /monitors\[0\]\.colour/],
    ['not an array', { monitors: { port: 'B' } }, /display\.monitors$/],
    ['unknown display key', { screens: [] }, /display\.screens/],
  ];
  for (const [what, display, field] of bad) {
    let err: unknown;
    try {
      vgpu(m, display as DisplayOptions, 'GVTg_V5_4', what);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof ConfigError && err.code === 'E_CONFIG' && field.test(err.field), `${what}: ${err instanceof ConfigError ? `${err.field}: ${err.message}` : String(err)}`);
  }
  t.same(m.vgpus, [], 'no vGPU created');
  t.same(m.availability(), before, 'nothing allocated');
  // setMonitor on a live vGPU: refused without a trace.
  const v = vgpu(m, { monitors: [{ port: 'D', modes: [{ width: 1920, height: 1080 }] }] });
  const lines: number[] = [];
  v.onInterrupt((p) => lines.push(p));
  wr(v, DREG.SDEIER, 0xffffffff);
  wr(v, MASTER, MASTER_ENABLE);
  const snapshot = Uint32Array.from(v.vregs.regs);
  const monitors = v.display.monitors, edid = v.display.monitor.edid, counters = v.display.counters;
  const refused: [MonitorPort, MonitorConfig | null][] = [
    ['A' as MonitorPort, { modes: [{ width: 1024, height: 768 }] }],
    ['E' as MonitorPort, null],
    ['D', { modes: [] }],
    ['D', { modes: [{ width: 1024, height: 768 }], port: 'D' } as MonitorConfig],
    ['B', { modes: [{ width: 1024, height: 768, refresh: 300 }] }],
    ['C', { modes: [{ width: 800, height: 600 }], serial: 'ü' }],
  ];
  for (const [port, config] of refused) t.throws(() => v.setMonitor(port, config), { code: 'E_CONFIG' }, `setMonitor(${port}) refused`);
  t.same(Uint32Array.from(v.vregs.regs), snapshot, 'no register changed');
  t.same(v.display.monitors, monitors, 'the monitors unchanged');
  t.equal(v.display.monitor.edid, edid);
  t.same(v.display.counters, counters);
  t.same(lines, [], 'no interrupt');
  v.setMonitor('B', null);
  t.same(lines, [], 'removing a monitor that is not there: nothing');
});

t.test('AUX done raises GEN8_DE_PORT_IIR\'s channel bit and the line at once when DP_AUX_CH_CTL asks for it', async (t) => {
  const { m } = world();
  const v = vgpu(m, THREE);
  const lines: number[] = [];
  v.onInterrupt((p) => lines.push(p));
  // Before the DE interrupts are installed: IMR masks everything, so nothing is latched (propagate_event).
  auxXfer(v, PORTS.D.aux, [0x90, 0, 0, 0]);
  t.equal(rd(v, DE_PORT_IIR), 0, 'masked: IIR untouched');
  t.equal(v.display.counters.auxInterrupts, 1, 'the event was raised');
  // gen8_de_irq_postinstall: de_port_masked = gen8_de_port_aux_mask (AUX A, B, C, D).
  const aux = (DBits.GEN8_AUX_CHANNEL_A | DBits.GEN9_AUX_CHANNEL_B | DBits.GEN9_AUX_CHANNEL_C | DBits.GEN9_AUX_CHANNEL_D) >>> 0;
  wr(v, DE_PORT_IIR, 0xffffffff);
  wr(v, DE_PORT_IER, aux);
  wr(v, DE_PORT_IMR, ~aux);
  wr(v, MASTER, MASTER_ENABLE);
  t.notOk(v.interruptLine);
  for (const [name, ch, bit] of [['D', 3, DBits.GEN9_AUX_CHANNEL_D], ['C', 2, DBits.GEN9_AUX_CHANNEL_C], ['B', 1, DBits.GEN9_AUX_CHANNEL_B], ['A (no sink: timeout)', 0, DBits.GEN8_AUX_CHANNEL_A]] as const) {
    const n = lines.length;
    const r = auxXfer(v, ch, [0x90, 0, 0, 0]);
    t.equal(lines.length, n + 1, `AUX ${name}: the line went up at the transaction`);
    t.equal(lines[n] & (1 << 20), 1 << 20, 'GEN8_MASTER_IRQ: DE port (bit 20)');
    t.equal(rd(v, DE_PORT_IIR), bit, `DE port IIR: channel ${name}'s bit`);
    t.equal(r.status & AuxCtl.TIME_OUT_ERROR, ch === 0 ? AuxCtl.TIME_OUT_ERROR : 0);
    // gen8_de_irq_handler: ack DE port IIR (dp_aux_irq_handler wakes the AUX waiter), re-enable the master.
    wr(v, DE_PORT_IIR, rd(v, DE_PORT_IIR));
    wr(v, MASTER, MASTER_ENABLE);
    t.notOk(v.interruptLine, 'acknowledged');
  }
  // Without DP_AUX_CH_CTL_INTERRUPT: no event.
  const n = lines.length, raised = v.display.counters.auxInterrupts;
  auxXfer(v, PORTS.D.aux, [0x90, 0, 0, 0], false);
  t.equal(lines.length, n, 'no interrupt');
  t.equal(rd(v, DE_PORT_IIR), 0);
  t.equal(v.display.counters.auxInterrupts, raised);
  // A write that only clears the status (no SEND_BUSY) raises nothing either.
  wr(v, 0x64310, AuxCtl.INTERRUPT | AuxCtl.DONE);
  t.equal(lines.length, n);
});

t.test('no monitor at all, and GVT-g\'s lit pipe on the primary monitor', async (t) => {
  const { m } = world();
  const v = vgpu(m, { monitors: [] });
  t.equal(rd(v, DREG.SFUSE_STRAP), 0, 'no strap');
  t.equal(rd(v, DREG.SDEISR), 0, 'no hotplug bit');
  t.throws(() => v.display.monitor, { code: 'E_STATE' });
  t.throws(() => v.display.hotplug(true), { code: 'E_STATE' });
  t.same(setupOutputs(v).map((o) => o.connected), [false, false, false, false], 'no connector connected');
  v.display.applyMonitorStatus(true);
  t.equal(rd(v, pipeconf(0)), 0, 'lit without a monitor: stays dark');
  v.setMonitor('C', { modes: [{ width: 800, height: 600 }] });
  t.ok(rd(v, DREG.SDEISR) & PORTS.C.sde, 'plugged at run time');
  const w = vgpu(m, { monitors: [{ port: 'B', modes: [{ width: 1280, height: 720 }] }, { port: 'D', modes: [{ width: 1024, height: 768 }] }] }, 'GVTg_V5_4', 'lit');
  w.display.applyMonitorStatus(true);
  const ddi = rd(w, transcoderBase(0) + TRANS.DDI_FUNC_CTL);
  t.equal((ddi >>> 28) & 7, Port.B, 'lit: transcoder A drives the primary monitor\'s port B');
  t.ok(rd(w, ddiBufCtl(Port.B)) & DBits.DDI_BUF_CTL_ENABLE, 'DDI B on');
  t.equal(rd(w, ddiBufCtl(Port.D)), DBits.DDI_BUF_IS_IDLE, 'DDI D idle (only the driven port is lit)');
  const ctrl2 = rd(w, DREG.DPLL_CTRL2);
  t.equal(ctrl2 & DBits.dpllCtrl2ClkOff(Port.B), 0, 'DDI B clocked');
  t.ok(ctrl2 & DBits.dpllCtrl2ClkOff(Port.D), 'DDI D gated');
  t.equal(rd(w, transcoderBase(0) + TRANS.HTOTAL) & 0xffff, 1279, 'timings: the primary\'s 1280x720');
});
