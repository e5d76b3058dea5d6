/**
 * MMIO fuzzer: random accesses over everything a guest's vCPU reaches of its vGPU: BAR0 (every
 * register of the vGPU's table, the display's included, with a focus on the display engine:
 * flips, pipes, link M/N, interrupt banks, AUX, whole planes programmed for the world's scan-out
 * check (`planeBurst`); engine registers with ELSP submissions, PVINFO with g2v notifications,
 * untracked and reserved offsets, the GTT window), the PCI configuration space (BAR relocation,
 * command register), the aperture, and guest-physical accesses routed by the trap stub. Sizes
 * include bad ones (0, 3, 16, negative, NaN) and offsets include huge, negative and fractional
 * ones.
 *
 * Checks of its own: host registers change only at the attacker's own fences (the device is idle
 * while the accesses run).
 */
import type { Rng } from '../../clock.js';
import { GEN9_ENGINES } from '../../device/engines.js';
import { RING } from '../../device/registers.js';
import { CursorReg, DBits, DREG, PlaneReg, TRANS, VREG, curcntr, dpAuxChCtl, pipeconf, planeCtl, transcoderBase } from '../../display/index.js';
import { VGPU_REGISTERS } from '../../mediator/vgpu.js';
import { Desc } from '../../device/lrc.js';
import { PTE_PRESENT } from '../../gtt/pte.js';
import { PAGE_SIZE } from '../../types.js';
import { chance, hx, pick, u32, type Fuzzer } from '../fuzzer.js';
import type { Violation } from '../monitor.js';
import type { FuzzWorld } from '../world.js';

/** One access. `sp`: BAR0, PCI config, aperture (BAR2), or a guest-physical stub access. */
export interface MmioOp {
  readonly sp: 'bar0' | 'pci' | 'ap' | 'stub-mem' | 'stub-pci';
  readonly write: boolean;
  readonly off: number;
  readonly size: number;
  readonly value: number;
}

interface MmioState {
  /** Offsets of every register row of a vGPU (the device's table and the display's). */
  readonly registers: readonly number[];
  /** Engine-relative offsets worth hitting. */
  readonly engineRel: readonly number[];
  /** A 32-page buffer of the attacker's own (pattern-filled), a surface plane bursts aim at. */
  readonly fb: number;
}

const ENGINE_REL = [
  RING.ELSP, RING.ELSP, RING.ELSP, RING.ELSP, RING.GFX_MODE, RING.HWS_PGA, RING.CSB_PTR, RING.CSB0_LO, RING.EXECLIST_STATUS_LO,
  RING.EXECLIST_STATUS_HI, RING.TAIL, RING.HEAD, RING.START, RING.CTL, RING.MI_MODE, RING.PDP0_LDW, RING.ACTHD, RING.IPEHR,
];

const GOOD_SIZES = [4, 4, 4, 4, 8, 1, 2];
const BAD_SIZES = [0, 3, 5, 16, -4, NaN, 4.5, 2 ** 40];
const BAD_OFFSETS = [-4, -1, 0.5, NaN, Infinity, 2 ** 31, 2 ** 32, 2 ** 53, 16 * 1024 * 1024, 16 * 1024 * 1024 - 4, 0x7fffc, 0x1ffffe];

function size(rng: Rng): number {
  return chance(rng, 0.08) ? pick(rng, BAD_SIZES) : pick(rng, GOOD_SIZES);
}

function value(rng: Rng, sz: number): number {
  if (sz === 8) {
    switch (rng.int(6)) {
      case 0: return rng.nextU32() * 2 ** 21 + rng.int(2 ** 21);
      case 1: return -1;
      case 2: return 2 ** 53 + 2;
      case 3: return NaN;
      default: return rng.int(2 ** 21) * 2 ** 32 + rng.nextU32();
    }
  }
  if (chance(rng, 0.1)) return pick(rng, [0x80008000, 0xffff0000, 0x0000ffff, 0x80000000, -1, 1.5]);
  return u32(rng);
}

/** A descriptor-like ELSP dword: LRCA in the attacker's or someone's memory, random flags. */
function descriptorDword(rng: Rng, w: FuzzWorld): number {
  const s = w.attacker.vgpu.slices;
  const lrca = pick(rng, [s.lowBase, s.highBase, s.highBase + s.highSize - PAGE_SIZE, rng.nextU32() & 0xfffff000, w.victim?.ggttBuf.gma ?? 0]);
  return (lrca | (rng.int(4) << Desc.ADDRESSING_MODE_SHIFT) | (chance(rng, 0.8) ? Desc.PRIVILEGE : 0) | (chance(rng, 0.8) ? Desc.VALID : 0)) >>> 0;
}

function bar0Offset(rng: Rng, st: MmioState, w: FuzzWorld): { off: number; value?: number } {
  const r = rng.int(100);
  if (r < 30) {
    const off = pick(rng, st.registers);
    return { off: chance(rng, 0.1) ? off + rng.int(4) : off };
  }
  if (r < 45) {
    const e = pick(rng, GEN9_ENGINES);
    const rel = pick(rng, st.engineRel);
    return rel === RING.ELSP ? { off: e.mmioBase + rel, value: descriptorDword(rng, w) } : { off: e.mmioBase + rel };
  }
  if (r < 60) {
    // PVINFO: fields, g2v notifications with known and unknown codes, PDP values.
    const o = chance(rng, 0.5) ? pick(rng, [0x0, 0x8, 0xc, 0x10, 0x40, 0x44, 0x48, 0x4c, 0x50, 0x804, 0x808, 0x80c, 0x818, 0x838, 0x83c, 0x858, 0x85c, 0x860])
      : rng.int(0x1000);
    if (o === 0x818) return { off: 0x78000 + o, value: chance(rng, 0.7) ? rng.int(10) : u32(rng) };
    if (o >= 0x838 && o < 0x858) return { off: 0x78000 + o, value: chance(rng, 0.5) ? rng.int(4096) * PAGE_SIZE : u32(rng) };
    return { off: 0x78000 + o };
  }
  if (r < 66) return displayOffset(rng, w);
  if (r < 75) {
    // The GTT window: the attacker's entries, the victim's, the host's, anything.
    const a = w.attacker.vgpu.slices;
    const v = w.victim?.g.vgpu.slices ?? a;
    const entry = pick(rng, [
      a.highBase / PAGE_SIZE + rng.int(a.highSize / PAGE_SIZE), a.lowBase / PAGE_SIZE + rng.int(a.lowSize / PAGE_SIZE),
      v.lowBase / PAGE_SIZE + rng.int(64), (v.highBase + v.highSize) / PAGE_SIZE - 1, rng.int(1 << 20),
      w.h.mediator.hostGm.start / PAGE_SIZE + rng.int(64),
    ]);
    const lo = chance(rng, 0.7) ? (((rng.int(8192) << 12) | PTE_PRESENT | rng.int(4096)) >>> 0) : u32(rng);
    return { off: 8 * 1024 * 1024 + entry * 8 + (chance(rng, 0.2) ? 4 : 0), value: lo };
  }
  if (r < 80) return { off: 2 * 1024 * 1024 + rng.int(6 * 1024 * 1024) };
  if (r < 93) return { off: rng.int(2 * 1024 * 1024) & ~(chance(rng, 0.9) ? 3 : 0) };
  if (r < 97) return { off: rng.int(16 * 1024 * 1024) };
  return { off: pick(rng, BAD_OFFSETS) };
}

/**
 * The display engine (lib/display): flips by PLANE_SURF to the attacker's, the victim's and the
 * mediator's graphics memory and anywhere, PIPECONF enables and disables (the vblank timer), link
 * M/N and totals (its rate), DE pipe interrupt banks, plane controls (async flips), and AUX
 * transactions on every channel (DPCD and I2C, in and beyond range).
 */
function displayOffset(rng: Rng, w: FuzzWorld): { off: number; value?: number } {
  const pipe = rng.int(3), plane = rng.int(3);
  const a = w.attacker.vgpu.slices;
  switch (rng.int(8)) {
    case 0: {
      const gma = pick(rng, [a.lowBase, a.highBase + rng.int(a.highSize / PAGE_SIZE) * PAGE_SIZE, w.victim?.ggttBuf.gma ?? 0, w.h.mediator.hostGm.start,
        0xfffff000, rng.nextU32()]);
      return { off: VREG.planeSurf(pipe, plane), value: (gma >>> 0) | (chance(rng, 0.2) ? rng.int(4096) : 0) };
    }
    case 1: return { off: pipeconf(pipe), value: chance(rng, 0.6) ? pick(rng, [DBits.PIPECONF_ENABLE, 0]) : u32(rng) };
    case 2: {
      const tb = transcoderBase(pick(rng, [0, 0, 1, 2]));
      return { off: tb + pick(rng, [TRANS.LINK_M1, TRANS.LINK_N1, TRANS.HTOTAL, TRANS.VTOTAL, TRANS.DDI_FUNC_CTL]), value: pick(rng, [0, 1, 0xffffff, 1 << 16, u32(rng)]) };
    }
    case 3: return { off: pick(rng, [VREG.dePipeImr(pipe), VREG.dePipeIir(pipe), VREG.dePipeIer(pipe)]), value: pick(rng, [0, 0xffffffff, 1, 0x38, u32(rng)]) };
    case 4: return { off: planeCtl(pipe, plane), value: pick(rng, [(1 << 31) | (1 << 9), 1 << 9, 0, u32(rng)]) };
    case 5: {
      // AUX: a native or I2C request header (address up to 2^20 - 1) in DATA1, or the control register with SEND_BUSY.
      const ctl = dpAuxChCtl(rng.int(4));
      if (chance(rng, 0.5)) return { off: ctl + 4 + 4 * rng.int(5), value: u32(rng) };
      return { off: ctl, value: ((1 << 31) | ((1 + rng.int(20)) << 20) | (chance(rng, 0.2) ? rng.int(1 << 20) : 0)) >>> 0 };
    }
    case 6: return { off: pick(rng, [DREG.DPLL_CTRL1, DREG.DPLL_CTRL2, DREG.PIPECONF_EDP, DREG.TRANS_DDI_FUNC_CTL_EDP, DREG.SDEIER, DREG.SDEIMR, DREG.SDEIIR]) };
    default: return { off: pick(rng, [VREG.flipcount(pipe), VREG.frmcount(pipe), VREG.planeSurfLive(pipe, plane), planeCtl(pipe, plane) + 8]) };
  }
}

/** Pages of `MmioState.fb`. */
const FB_PAGES = 32;

/**
 * A plane programmed whole, as i915's `skl_program_plane` does (pipe on, source size, stride,
 * offset, control, surface last), so that the world's scan-out check (`FuzzWorld.checkScanout`)
 * meets planes that decode: an 8:8:8:8 format on a tiling GVT-g knows, a size that fits the
 * attacker's buffer, and a surface at that buffer, the victim's canary and buffers, the mediator's
 * range, the slices' ends or anywhere; one value in three bursts is garbage.
 */
function planeBurst(rng: Rng, st: MmioState, w: FuzzWorld): MmioOp[] {
  const pipe = rng.int(3);
  const a = w.attacker.vgpu.slices;
  const vic = w.victim;
  const surf = pick(rng, [st.fb, st.fb, st.fb + PAGE_SIZE * rng.int(FB_PAGES), vic?.canary.gma ?? 0, vic?.ggttBuf.gma ?? 0, w.h.mediator.hostGm.start,
    a.lowBase + a.lowSize - PAGE_SIZE, a.highBase + a.highSize - PAGE_SIZE, rng.nextU32() & ~0xfff]) >>> 0;
  const ops: { off: number; value: number }[] = [{ off: pipeconf(pipe), value: DBits.PIPECONF_ENABLE }];
  if (chance(rng, 0.2)) {
    ops.push({ off: curcntr(pipe) + CursorReg.CNTR, value: pick(rng, [0x27, 0x22, 0x23, 0x07]) }, { off: curcntr(pipe) + CursorReg.BASE, value: surf });
  } else {
    const plane = pipe === 2 ? rng.int(2) : rng.int(3);
    const base = planeCtl(pipe, plane);
    // Lines of at most 2 KiB (512 pixels), at most 64 lines: 128 KiB, the buffer's size.
    const width = 1 + rng.int(512), height = 1 + rng.int(64);
    const tiling = pick(rng, [0, 0, 1, 4, 5]);
    const unit = tiling === 0 ? 64 : tiling === 1 ? 512 : 128;
    const ctl = (1 << 31) | (4 << 24) | (chance(rng, 0.5) ? 1 << 20 : 0) | (chance(rng, 0.5) ? 3 << 4 : 0) | (tiling << 10);
    ops.push(
      { off: transcoderBase(pipe) + TRANS.PIPESRC, value: ((width - 1) << 16) | (height - 1) },
      { off: base + PlaneReg.SIZE, value: ((height - 1) << 16) | (width - 1) },
      { off: base + PlaneReg.STRIDE, value: Math.ceil((width * 4) / unit) + (chance(rng, 0.2) ? rng.int(4) : 0) },
      { off: base + PlaneReg.OFFSET, value: chance(rng, 0.7) ? 0 : (rng.int(8) << 16) | rng.int(64) },
      { off: base + PlaneReg.CTL, value: ctl >>> 0 },
      { off: base + PlaneReg.SURF, value: surf },
    );
  }
  if (chance(rng, 0.33)) ops[1 + rng.int(ops.length - 1)].value = u32(rng);
  return ops.map(({ off, value: v }) => ({ sp: 'bar0', write: true, off, size: 4, value: v >>> 0 }));
}

function genOp(rng: Rng, st: MmioState, w: FuzzWorld): MmioOp {
  const r = rng.int(100);
  const write = chance(rng, 0.65);
  if (r < 72) {
    const { off, value: v } = bar0Offset(rng, st, w);
    const sz = v !== undefined && chance(rng, 0.9) ? 4 : size(rng);
    return { sp: 'bar0', write, off, size: sz, value: v ?? value(rng, sz) };
  }
  if (r < 82) {
    const off = chance(rng, 0.6) ? pick(rng, [0x04, 0x06, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x30, 0x3c, 0x50, 0x52, 0xfc]) : rng.int(300) - 20;
    const sz = pick(rng, [1, 2, 4, 4, 4, 8, 3]);
    const v = off >= 0x10 && off < 0x28 && chance(rng, 0.5) ? pick(rng, [0xffffffff, 0x80000000, 0, 0x81000000, 0x80000004]) : value(rng, sz);
    return { sp: 'pci', write, off, size: sz, value: v };
  }
  if (r < 92) {
    const a = w.attacker.vgpu.slices;
    const off = pick(rng, [a.lowBase + rng.int(a.lowSize), a.lowBase - 4, a.lowBase + a.lowSize - 2, rng.int(w.h.device.apertureSize), w.victim?.g.vgpu.slices.lowBase ?? 0,
      w.h.device.apertureSize + rng.int(4096), -8]);
    const sz = size(rng);
    return { sp: 'ap', write, off, size: sz, value: value(rng, sz) };
  }
  const v = w.attacker.vgpu;
  if (r < 97) {
    const bar0 = v.pci.barAddress(0), bar2 = v.pci.barAddress(2);
    const gpa = pick(rng, [bar0 + rng.int(16 * 1024 * 1024), bar2 + rng.int(w.h.device.apertureSize), bar0 - 4, rng.nextU32() * 256, 0x80_0000_0000 + 0x78000]);
    // The emulator passes the size of the vCPU's access: always 1, 2, 4 or 8 (a bad size from
    // the emulator is host misuse, and the stub throws for it).
    const sz = pick(rng, [1, 2, 4, 4, 8]);
    return { sp: 'stub-mem', write, off: gpa, size: sz, value: value(rng, sz) };
  }
  const sz = pick(rng, [1, 2, 4, 8]);
  return { sp: 'stub-pci', write, off: rng.int(300), size: sz, value: value(rng, sz) };
}

/** Run one access against the attacker's vGPU. */
export function runMmioOp(w: FuzzWorld, op: MmioOp, g = w.attacker): void {
  const v = g.vgpu;
  switch (op.sp) {
    case 'bar0':
      if (op.write) v.mmioWrite(op.off, op.size, op.value);
      else v.mmioRead(op.off, op.size);
      return;
    case 'pci':
      if (op.write) v.pciConfigWrite(op.off, op.size, op.value);
      else v.pciConfigRead(op.off, op.size);
      return;
    case 'ap':
      if (op.write) v.apertureWrite(op.off, op.size, op.value);
      else v.apertureRead(op.off, op.size);
      return;
    case 'stub-mem':
      v.access('mem', op.off, op.size, op.write, op.value);
      return;
    case 'stub-pci':
      v.access('pci', op.off, op.size, op.write, op.value);
  }
}

/** The MMIO fuzzer. */
export const mmioFuzzer: Fuzzer<MmioOp, MmioState> = {
  name: 'mmio',
  description: 'random BAR0 / PCI config / aperture / stub accesses (registers, PVINFO, GTT window, ELSP), bad sizes and offsets',
  casesPerWorld: 400,
  victimEvery: 4,
  worldOptions: (seed, worldIndex) => ({ seed: seed ^ worldIndex, failsafe: worldIndex % 2 === 0 ? 'gvt-g' : 'always' }),
  setup(world) {
    world.attacker.engine('rcs');
    world.attacker.engine('bcs');
    const registers = [...new Set(VGPU_REGISTERS.rows.map((r) => r.offset))];
    // A framebuffer of its own, filled with a pattern (not the victim's), for plane bursts.
    const fb = world.attacker.buffer(FB_PAGES * PAGE_SIZE);
    const words: number[] = [];
    for (let i = 0; i < (FB_PAGES * PAGE_SIZE) / 4; i++) words.push((i * 0x9e3779b1 + 0x1234567) >>> 0);
    world.attacker.driver.writeRam32(fb.gpa, words);
    return { registers, engineRel: ENGINE_REL, fb: fb.gma };
  },
  generate(rng, st, world) {
    const n = 8 + rng.int(24);
    const ops: MmioOp[] = [];
    for (let i = 0; i < n; i++) {
      if (chance(rng, 0.02)) ops.push(...planeBurst(rng, st, world));
      else ops.push(genOp(rng, st, world));
    }
    return ops;
  },
  execute(world, _st, ops) {
    const g = world.attacker;
    world.heal(g, true);
    const snap = world.snapshotHostRegisters();
    for (const op of ops) runMmioOp(world, op, g);
    const out: Violation[] = world.hostRegisterChanges(snap, [g.vgpu]);
    world.settle();
    return out;
  },
  format: (op) => `${op.sp} ${op.write ? 'write' : 'read'} ${hx(op.off)} size ${op.size}${op.write ? ` value ${hx(op.value)}` : ''}`,
};
