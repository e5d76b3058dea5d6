/**
 * Attacks on the virtual display (issue 16): flips by command (MI_DISPLAY_FLIP, audited as GVT-g's
 * `cmd_handler_mi_display_flip` plus gvtkit's surface checks) and by PLANE_SURF MMIO, every plane
 * select code, the vblank timer (link M/N, pipes toggled at a high rate, flip storms with the
 * interrupt masked) and the DPCD behind the AUX channel. A flip's effect is on the attacker's own
 * virtual plane registers only: the global checks of `runAttack` (and `Victim.verify`'s
 * `victim-display` invariant) see that the device, the host's registers and the victim's display
 * never change.
 *
 * Scan-out attacks (`SCANOUT_ATTACKS`, `scan-*`): the attacker's planes (primary, sprites, cursor)
 * programmed to show the victim's memory, the mediator's range, addresses past its slices,
 * surfaces that run past their end (height, stride, offsets, tile rows), GGTT entries naming
 * frames it does not own or its scratch page, gScale sharers' addresses, and garbage registers;
 * each read out with `Vgpu.readFramebuffer` (lib/display/plane.ts, framebuffer.ts): a typed
 * refusal, or pixels of its own memory only (zeros elsewhere), never a victim canary word.
 */
import { miDisplayFlip, miNoop } from '../../device/commands/index.js';
import { CursorReg, DBits, DPCD_SIZE, DREG, PlaneReg, Port, TRANS, VBits, VREG, curcntr, dpAuxChCtl, pipeconf, planeCtl, planesOf, scanSpan, transcoderBase, type PipeName, type PlaneKind } from '../../display/index.js';
import { PTE_PRESENT, pteHi, pteLo } from '../../gtt/pte.js';
import { PAGE_SIZE } from '../../types.js';
import type { TestGuest } from '../../harness/index.js';
import type { Vgpu } from '../../mediator/vgpu.js';
import { GSCALE_SHARED_WORLD, mix32 } from '../world.js';
import type { Assert, Attack, AttackContext } from './types.js';
import { expectRefused, hostRegisters, workloadsOf, writeGgtt } from './helpers.js';

const wr = (v: Vgpu, o: number, x: number): void => v.mmioWrite(o, 4, x >>> 0);
const peek = (v: Vgpu, o: number): number => v.display.regs.peek(o) >>> 0;

/**
 * The host's display registers (DE pipe interrupts 0x44400..0x44500, transcoders, pipes and planes
 * 0x60000..0x80000) that differ from `snap` (a `hostRegisters` copy): the host has no display, none
 * may change (its GT registers do, as the victim's work runs).
 */
function hostChanges(ctx: AttackContext, snap: Uint32Array): string[] {
  const now = ctx.h.device.regs.regs;
  const out: string[] = [];
  for (const [lo, hi] of [[0x44400, 0x44500], [0x60000, 0x80000]]) {
    for (let i = lo >>> 2; i < hi >>> 2 && out.length < 4; i++) if (now[i] !== snap[i]) out.push(`0x${(i * 4).toString(16)}`);
  }
  return out;
}

/** The attacker's plane registers (CTL, STRIDE, SURF, SURFLIVE of planes 1..3) and flip counters of pipes A..C. */
function planes(v: Vgpu): number[] {
  const out: number[] = [];
  for (let pipe = 0; pipe < 3; pipe++) {
    for (let plane = 0; plane < 3; plane++) {
      const ctl = planeCtl(pipe, plane);
      out.push(peek(v, ctl), peek(v, ctl + 8), peek(v, VREG.planeSurf(pipe, plane)), peek(v, VREG.planeSurfLive(pipe, plane)));
    }
    out.push(peek(v, VREG.flipcount(pipe)));
  }
  return out;
}

/** Submit `commands` on the attacker's render ring, settle, and skip the ring if it was refused. */
function ringOnce(ctx: AttackContext, commands: readonly number[]): void {
  const g = ctx.attacker;
  g.submit('rcs', commands.length % 2 ? [...commands, ...miNoop()] : commands);
  ctx.world.settle();
  const w = workloadsOf(ctx, g).at(-1);
  if (w?.status === 'failed') ctx.world.recoverEngine(g, 'rcs', false);
}

/** A surface refused by `rule` from the ring: the attacker's planes and the host's registers unchanged. */
function refusedSurface(name: string, rule: string, expectation: string, surface: (ctx: AttackContext) => number): Attack {
  return {
    name, surface: 'display', expectation,
    run(ctx) {
      const v = ctx.attacker.vgpu;
      ctx.data.before = planes(v);
      ctx.data.snap = hostRegisters(ctx);
      ctx.attacker.submit('rcs', [...miDisplayFlip({ planeSelect: 0, surface: surface(ctx), stride: 0x3ff, tiling: 1 }), ...miNoop()]);
    },
    expect(ctx, t) {
      expectRefused(ctx, t, rule);
      const v = ctx.attacker.vgpu;
      t.equal(JSON.stringify(planes(v)), JSON.stringify(ctx.data.before), 'the attacker\'s planes did not flip');
      t.equal(v.display.vblank?.counters.flips ?? 0, 0, 'no flip counted');
      t.equal(hostChanges(ctx, ctx.data.snap as Uint32Array).length, 0, 'no host register changed');
    },
  };
}

/** i915 6.1 `DP_AUX_CH_CTL`: send/busy (31), done (30), message size (24:20). */
const AUX_SEND_BUSY = 1 << 31;
const AUX_MESSAGE_SIZE_SHIFT = 20;

/** One native AUX transaction on channel D: header [request, address, length - 1] then `data`; returns DATA1 after it. */
function auxNative(v: Vgpu, request: number, address: number, length: number, data: readonly number[] = []): number {
  const bytes = [((request << 4) | ((address >>> 16) & 0xf)) & 0xff, (address >>> 8) & 0xff, address & 0xff, (length - 1) & 0xff, ...data];
  const ctl = dpAuxChCtl(Port.D);
  for (let i = 0; i < 5; i++) {
    let w = 0;
    for (let b = 0; b < 4; b++) w = (w << 8) | (bytes[4 * i + b] ?? 0);
    wr(v, ctl + 4 + 4 * i, w);
  }
  wr(v, ctl, AUX_SEND_BUSY | (bytes.length << AUX_MESSAGE_SIZE_SHIFT));
  return v.mmioRead(ctl + 4, 4) >>> 0;
}

/** The whole DPCD as the guest reads it over AUX (native reads of 16 bytes: reply byte, then data in DATA1..5). */
function dpcdImage(v: Vgpu): number[] {
  const out: number[] = [];
  const ctl = dpAuxChCtl(Port.D);
  for (let a = 0; a < DPCD_SIZE; a += 16) {
    auxNative(v, 0x9, a, 16);
    const words = [0, 1, 2, 3, 4].map((i) => v.mmioRead(ctl + 4 + 4 * i, 4) >>> 0);
    for (let b = 1; b <= 16; b++) out.push((words[b >> 2] >>> (24 - 8 * (b & 3))) & 0xff);
  }
  return out;
}

export const DISPLAY_ATTACKS: readonly Attack[] = [
  refusedSurface('disp-flip-other-vgpu', 'address-bounds',
    'MI_DISPLAY_FLIP from the ring to the victim\'s graphics memory is refused by address-bounds; no plane of anyone flips, the victim\'s display is untouched',
    (ctx) => ctx.world.victim!.ggttBuf.gma),
  refusedSurface('disp-flip-host-range', 'address-bounds',
    'MI_DISPLAY_FLIP to the mediator\'s own range of the GGTT (shadow rings, batches and contexts) is refused by address-bounds',
    (ctx) => ctx.h.mediator.hostGm.start),
  refusedSurface('disp-flip-beyond-memory', 'address-bounds',
    'MI_DISPLAY_FLIP to the page just past the attacker\'s high slice (or below its low slice) is refused by address-bounds',
    (ctx) => ctx.attacker.vgpu.slices.highBase + ctx.attacker.vgpu.slices.highSize),
  {
    name: 'disp-flip-ppgtt-batch',
    surface: 'display',
    expectation: 'MI_DISPLAY_FLIP in a non-privileged (PPGTT) batch is refused by privileged-command even with the attacker\'s own surface: the surface is a GGTT address',
    run(ctx) {
      const own = ctx.attacker.buffer(PAGE_SIZE);
      ctx.data.before = planes(ctx.attacker.vgpu);
      ctx.attacker.submitBatch('rcs', miDisplayFlip({ planeSelect: 0, surface: own.gma }));
    },
    expect(ctx, t) {
      expectRefused(ctx, t, 'privileged-command');
      t.equal(JSON.stringify(planes(ctx.attacker.vgpu)), JSON.stringify(ctx.data.before), 'nothing flipped');
    },
  },
  {
    name: 'disp-flip-every-plane-select',
    surface: 'display',
    expectation:
      'MI_DISPLAY_FLIP with each plane select 0..31: 0-2, 4-6, 7-8 flip plane 1, 2, 3 of pipe A-C (pipe C has no plane 3: 9 is refused) of the attacker\'s display only (its own surface), ' +
      'every other code is refused by malformed-command (GVT-g: -EBADRQC); nothing reaches the device or the victim',
    world: { failsafe: 'never' },
    run(ctx) {
      const g = ctx.attacker;
      const v = g.vgpu;
      const fb = g.buffer(32 * PAGE_SIZE);
      const snap = hostRegisters(ctx);
      const flipped: number[] = [], refused: number[] = [], wrong: string[] = [];
      for (let code = 0; code < 32; code++) {
        const surface = fb.gma + code * PAGE_SIZE;
        const n0 = workloadsOf(ctx, g).length;
        ringOnce(ctx, miDisplayFlip({ planeSelect: code, surface, stride: code, tiling: code & 7, async: (code & 1) === 1 }));
        const w = workloadsOf(ctx, g).slice(n0).at(-1);
        if (w?.status === 'completed') {
          flipped.push(code);
          const pipe = code < 3 ? code : code < 7 ? code - 4 : code - 7;
          const plane = code < 3 ? 0 : code < 7 ? 1 : 2;
          if ((peek(v, VREG.planeSurf(pipe, plane)) & ~0xfff) !== surface) wrong.push(`code ${code}: PLANE_SURF of pipe ${pipe} plane ${plane + 1} is 0x${peek(v, VREG.planeSurf(pipe, plane)).toString(16)}`);
        } else if (w?.failure?.rule === 'malformed-command') {
          refused.push(code);
        } else {
          wrong.push(`code ${code}: ${w ? `${w.status} ${w.failure?.rule ?? ''}` : 'no workload'}`);
        }
      }
      ctx.data.flipped = flipped;
      ctx.data.refused = refused;
      ctx.data.wrong = wrong;
      ctx.data.host = hostChanges(ctx, snap);
    },
    expect(ctx, t) {
      t.equal(JSON.stringify(ctx.data.flipped), JSON.stringify([0, 1, 2, 4, 5, 6, 7, 8]), 'the eight plane codes flip');
      t.equal((ctx.data.refused as number[]).length, 24, 'the 24 reserved codes (3, 9: pipe C has no plane 3, 10..31) are refused by malformed-command');
      t.equal((ctx.data.wrong as string[]).length, 0, `each flip lands on the plane its code names ${(ctx.data.wrong as string[]).join('; ')}`);
      t.equal((ctx.data.host as string[]).length, 0, 'no host register changed');
      t.equal(ctx.attacker.vgpu.display.vblank?.counters.commandFlips, 8, 'eight flips by command');
    },
  },
  {
    name: 'disp-flip-odd-forms',
    surface: 'display',
    expectation:
      'MI_DISPLAY_FLIP with junk in the surface dword\'s low bits is decoded (bits 31:12 only; the register keeps its own low bits), ' +
      'the last page of the attacker\'s memory is a legal surface, and 4-dword (stereo 3D), reserved-type and 2-dword forms are refused by malformed-command',
    world: { failsafe: 'never' },
    run(ctx) {
      const g = ctx.attacker, v = g.vgpu, s = v.slices;
      const last = s.highBase + s.highSize - PAGE_SIZE;
      const hdr = miDisplayFlip({ planeSelect: 0, surface: 0 })[0];
      const n0 = workloadsOf(ctx, g).length;
      ringOnce(ctx, [hdr, 0xffffffff, (last | 0xffc) >>> 0]);
      ctx.data.surf = peek(v, VREG.planeSurf(0, 0));
      ctx.data.stride = peek(v, planeCtl(0, 0) + 8) & 0x3ff;
      ringOnce(ctx, [(hdr + 1) >>> 0, 0, (last | 2) >>> 0, last]);
      ringOnce(ctx, [hdr, 0, (last | 3) >>> 0]);
      ringOnce(ctx, [(hdr - 1) >>> 0, 0]);
      ctx.data.outcomes = workloadsOf(ctx, g).slice(n0).map((w) => w.failure?.rule ?? w.status);
      ctx.data.last = last;
    },
    expect(ctx, t) {
      t.equal(ctx.data.surf, ctx.data.last, 'PLANE_SURF = the last page: the junk low bits 11:2 of the dword are not the register\'s');
      t.equal(ctx.data.stride, 0x3ff, 'stride bits 15:6 of dword 1 (all ones) reach PLANE_STRIDE bits 9:0');
      const o = ctx.data.outcomes as string[];
      t.equal(o[0], 'completed', 'the first flip completes');
      t.ok(o.length === 4 && o.slice(1).every((x) => x === 'malformed-command'), `stereo, reserved type and short forms refused: ${o.join(', ')}`);
    },
  },
  {
    name: 'disp-plane-surf-outside-memory',
    surface: 'display',
    expectation:
      'PLANE_SURF MMIO writes naming the victim\'s memory, the mediator\'s range and addresses beyond 4 GiB change only the attacker\'s own virtual plane registers ' +
      '(GVT-g stores them too; the scan-out validates the surface against the vGPU\'s memory when it reads it); no host register changes',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const snap = hostRegisters(ctx);
      const targets = [ctx.world.victim!.ggttBuf.gma, ctx.world.victim!.canary.gma, ctx.h.mediator.hostGm.start, 0xfffff000, 0];
      const seen: number[] = [];
      for (const [k, gma] of targets.entries()) {
        const pipe = k % 3, plane = k % planesOf(pipe);
        wr(v, planeCtl(pipe, plane), (1 << 31) | (4 << 24));
        wr(v, VREG.planeSurf(pipe, plane), gma);
        seen.push(peek(v, VREG.planeSurfLive(pipe, plane)));
      }
      ctx.data.seen = seen;
      ctx.data.targets = targets;
      ctx.data.host = hostChanges(ctx, snap);
    },
    expect(ctx, t) {
      t.equal(JSON.stringify(ctx.data.seen), JSON.stringify(ctx.data.targets), 'the attacker\'s own SURFLIVE takes each value (virtual registers only)');
      t.equal((ctx.data.host as string[]).length, 0, `no host register changed ${(ctx.data.host as string[]).join(' ')}`);
    },
  },
  {
    name: 'disp-vblank-rate-link-mn',
    surface: 'display',
    expectation:
      'a guest\'s link M/N, totals and port clock chosen for the highest refresh rate cannot make the vblank timer fire faster than 240 Hz: ' +
      'a handful of events in 100 ms of simulated time, not millions',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const tb = transcoderBase(0);
      wr(v, tb + TRANS.DDI_FUNC_CTL, DBits.TRANS_DDI_FUNC_ENABLE | DBits.transDdiPort(Port.D) | DBits.TRANS_DDI_MODE_SELECT_DP_SST);
      wr(v, DREG.DPLL_CTRL2, DBits.dpllCtrl2ClkSel(0, Port.D) | DBits.dpllCtrl2SelOverride(Port.D));
      wr(v, tb + TRANS.LINK_M1, 0xffffff);
      wr(v, tb + TRANS.LINK_N1, 1);
      wr(v, tb + TRANS.HTOTAL, 1 << 16);
      wr(v, tb + TRANS.VTOTAL, 1 << 16);
      wr(v, pipeconf(0), DBits.PIPECONF_ENABLE);
      const vb = v.display.vblank!;
      const t0 = vb.counters.ticks;
      ctx.h.mediator.run(100e6);
      ctx.data.ticks = vb.counters.ticks - t0;
      ctx.data.rate = vb.refreshMilliHz;
      wr(v, pipeconf(0), 0);
    },
    expect(ctx, t) {
      t.ok((ctx.data.rate as number) <= 240_000, `refresh ${ctx.data.rate} mHz within 240 Hz`);
      t.ok((ctx.data.ticks as number) <= 25, `${ctx.data.ticks} ticks in 100 ms`);
      t.ok(!(ctx.attacker.vgpu.display.vblank!.running), 'the last disable stopped the timer');
    },
  },
  {
    name: 'disp-flip-storm-masked',
    surface: 'display',
    expectation:
      '2000 asynchronous flips (MMIO) and 200 by command with every DE pipe interrupt masked raise nothing on the line, put no event on the clock and cost the victim nothing',
    world: { failsafe: 'never' },
    run(ctx) {
      const g = ctx.attacker, v = g.vgpu;
      for (let p = 0; p < 3; p++) {
        wr(v, VREG.dePipeImr(p), 0xffffffff);
        wr(v, VREG.dePipeIer(p), 0xffffffff);
      }
      const fb = g.buffer(4 * PAGE_SIZE);
      const pending0 = ctx.h.device.clock.pending;
      const line0 = g.interrupts.length;
      for (let i = 0; i < 2000; i++) {
        const pipe = i % 3, plane = (i >> 2) % planesOf(pipe);
        wr(v, planeCtl(pipe, plane), VBits.PLANE_CTL_ASYNC_FLIP);
        wr(v, VREG.planeSurf(pipe, plane), fb.gma + (i % 4) * PAGE_SIZE);
      }
      ctx.data.pending = ctx.h.device.clock.pending - pending0;
      const storm: number[] = [];
      for (let i = 0; i < 200; i++) storm.push(...miDisplayFlip({ planeSelect: [0, 1, 2, 4, 5, 6, 7, 8][i % 8], surface: fb.gma + (i % 4) * PAGE_SIZE, async: true }));
      ringOnce(ctx, storm);
      ctx.data.irqs = g.interrupts.slice(line0).filter((p) => (p & 0x70000) !== 0).length;
      ctx.data.iir = [0, 1, 2].map((p) => peek(v, VREG.dePipeIir(p)));
      ctx.data.flips = v.display.vblank!.counters.flips;
    },
    expect(ctx, t) {
      t.equal(ctx.data.pending, 0, 'no event on the clock');
      t.equal(ctx.data.irqs, 0, 'no DE pipe interrupt reached the guest');
      t.ok((ctx.data.iir as number[]).every((x) => x === 0), 'masked: nothing in IIR');
      t.equal(ctx.data.flips, 2200, 'every flip counted on the attacker\'s display');
      t.ok(!(ctx.attacker.vgpu.interruptLine), 'the line is down');
    },
  },
  {
    name: 'disp-pipe-toggle',
    surface: 'display',
    expectation:
      'pipes enabled and disabled 3000 times, with pending flips, keep at most one vblank event of the attacker on the clock, deliver no flip done of a dark pipe, and leave nothing behind at destroy',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const clock = ctx.h.device.clock;
      ctx.world.settle();
      const base = clock.pending;
      let worst = 0;
      for (let i = 0; i < 3000; i++) {
        const pipe = i % 3;
        wr(v, pipeconf(pipe), i % 2 === 0 ? DBits.PIPECONF_ENABLE : 0);
        wr(v, VREG.planeSurf(pipe, 0), 0x1000 * i);
        worst = Math.max(worst, clock.pending - base);
        if (i % 97 === 0) ctx.h.mediator.run(5e6);
      }
      for (let p = 0; p < 3; p++) wr(v, pipeconf(p), 0);
      ctx.data.worst = worst;
      ctx.data.after = clock.pending - base;
      ctx.data.running = v.display.vblank!.running;
    },
    expect(ctx, t) {
      t.ok((ctx.data.worst as number) <= 1, `at most one event of the attacker on the clock (${ctx.data.worst})`);
      t.equal(ctx.data.after, 0, 'none once every pipe is dark');
      t.ok(!(ctx.data.running), 'the timer is stopped');
    },
  },
  {
    name: 'disp-dpcd-beyond-range',
    surface: 'display',
    expectation:
      'native AUX writes to DPCD addresses beyond its size (and up to 2^20 - 1) are NACKed, reads there return zeros, malformed requests are NACKed; the DPCD inside is unchanged and nothing throws',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const before = dpcdImage(v);
      const replies: number[] = [];
      for (const a of [DPCD_SIZE - 1, DPCD_SIZE, DPCD_SIZE + 16, 0x7ffff, 0xfffff, 0xffff0]) {
        replies.push(auxNative(v, 0x8, a, 16, new Array(16).fill(0xa5)) >>> 24);
        replies.push(auxNative(v, 0x9, a, 16));
      }
      replies.push(auxNative(v, 0x8, 0, 0) >>> 24, auxNative(v, 0xf, 0, 4) >>> 24);
      ctx.data.replies = replies;
      const after = dpcdImage(v);
      ctx.data.same = after.length === before.length && after.every((b, i) => b === before[i]);
      ctx.data.nonzero = before.some((b) => b !== 0);
    },
    expect(ctx, t) {
      const r = ctx.data.replies as number[];
      for (let k = 0; k < 6; k++) t.equal(r[2 * k], 0x10, `write ${k}: native NACK`);
      t.ok(r.filter((_, k) => k % 2 === 1 && k < 12).slice(1).every((x) => (x & 0xffffff) === 0), 'reads beyond the DPCD answer zeros');
      t.ok(ctx.data.nonzero, 'the DPCD read back over AUX (a monitor on port D)');
      t.ok(ctx.data.same, 'the DPCD is unchanged');
    },
  },
];


// ------------------------------------------------------------------ scan-out (issue 16: plane read-out)

/** PLANE_CTL of an enabled ABGR8888 plane (format 4, RGBX order, alpha): the read-out's words are the memory's words. */
const ABGR_CTL = ((1 << 31) | (4 << 24) | (1 << 20) | (3 << 4)) >>> 0;
/** PLANE_CTL tiling field (12:10) per tiling, and the units of PLANE_STRIDE (lib/display/plane.ts `PLANE_TILINGS`). */
const TILING = { linear: { field: 0, unit: 64, rows: 1 }, X: { field: 1, unit: 512, rows: 8 }, Y: { field: 4, unit: 128, rows: 32 }, Yf: { field: 5, unit: 128, rows: 32 } } as const;
type TilingName = keyof typeof TILING;
const PLANE_OF: Readonly<Record<Exclude<PlaneKind, 'cursor'>, number>> = { primary: 0, sprite0: 1, sprite1: 2 };
const PIPE_NAMES: readonly PipeName[] = ['A', 'B', 'C'];

/** What a scan-out probe programs: plane `kind` of `pipe` at `gma`, ABGR8888 (the cursor: 64x64 ARGB). */
interface ScanProbe {
  readonly what: string;
  readonly kind: PlaneKind;
  readonly pipe: number;
  readonly gma: number;
  /** PLANE_STRIDE field (units of the tiling's stride unit). */
  readonly stride?: number;
  readonly width?: number;
  readonly height?: number;
  readonly tiling?: TilingName;
  readonly xOff?: number;
  readonly yOff?: number;
}

/** Program `p` as i915's `skl_program_plane` does (surface last), with the pipe lit. */
function program(v: Vgpu, p: ScanProbe): void {
  wr(v, pipeconf(p.pipe), DBits.PIPECONF_ENABLE);
  if (p.kind === 'cursor') {
    wr(v, curcntr(p.pipe) + CursorReg.CNTR, 0x27);
    wr(v, curcntr(p.pipe) + CursorReg.BASE, p.gma);
    return;
  }
  const w = p.width ?? 64, h = p.height ?? 16, tl = TILING[p.tiling ?? 'linear'];
  const base = planeCtl(p.pipe, PLANE_OF[p.kind]);
  if (p.kind === 'primary') wr(v, transcoderBase(p.pipe) + TRANS.PIPESRC, (((w - 1) & 0x1fff) << 16) | ((h - 1) & 0xfff));
  else wr(v, base + PlaneReg.SIZE, (((h - 1) & 0xfff) << 16) | ((w - 1) & 0x1fff));
  wr(v, base + PlaneReg.STRIDE, p.stride ?? Math.ceil(((p.xOff ?? 0) + w) * 4 / tl.unit));
  wr(v, base + PlaneReg.OFFSET, ((p.yOff ?? 0) << 16) | (p.xOff ?? 0));
  wr(v, base + PlaneReg.CTL, ABGR_CTL | (tl.field << 10));
  wr(v, base + PlaneReg.SURF, p.gma);
}

/** Turn the plane of `p` off again (the next probe may use another plane of the pipe). */
function unprogram(v: Vgpu, p: ScanProbe): void {
  if (p.kind === 'cursor') wr(v, curcntr(p.pipe) + CursorReg.CNTR, 0);
  else wr(v, planeCtl(p.pipe, PLANE_OF[p.kind]) + PlaneReg.CTL, 0);
  wr(v, pipeconf(p.pipe), 0);
}

/** `w` with its bytes 0 and 2 swapped (what the ARGB8888 reader of the cursor does to a word). */
const swapRB = (w: number): number => ((w & 0xff00ff00) | ((w >>> 16) & 0xff) | ((w & 0xff) << 16)) >>> 0;

/**
 * The victim's canary dwords (and their R/B-swapped forms), as its RAM holds them: the pattern no
 * read-out of another guest may show. Exact words: meaningful for the formats that keep a pixel's
 * 32 bits (ABGR8888, ARGB8888); the probes use those.
 */
function victimPattern(ctx: AttackContext): Set<number> {
  const c = ctx.world.victim!.canary;
  const bytes = ctx.victim.memory.read(c.gpa, c.bytes);
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, c.bytes >>> 2);
  const out = new Set<number>();
  for (const w of words) {
    if (w === 0) continue;
    out.add(w >>> 0);
    out.add(swapRB(w));
  }
  return out;
}

/** Words of `rgba` that are victim canary words. */
function canaryHits(rgba: Uint8Array, pattern: Set<number>): number {
  const words = new Uint32Array(rgba.buffer, rgba.byteOffset, rgba.length >>> 2);
  let n = 0;
  for (const w of words) if (w !== 0 && pattern.has(w)) n++;
  return n;
}

/** What one probe saw: a typed refusal, or pixels (with canary hits and the words outside `own`). */
interface ScanSeen {
  readonly what: string;
  readonly outcome: string;
  readonly hits: number;
  /** Pixel words that are neither zero (opaque black under X formats) nor one of `own`. */
  readonly foreign: number;
}

/** Program and read out each probe; `own`: the words the attacker's own memory may show. */
function scanProbes(ctx: AttackContext, probes: readonly ScanProbe[], own: Set<number> = new Set()): ScanSeen[] {
  const v = ctx.attacker.vgpu;
  const pattern = victimPattern(ctx);
  const out: ScanSeen[] = [];
  for (const p of probes) {
    program(v, p);
    const q = v.queryPlane(p.kind, PIPE_NAMES[p.pipe]);
    const r = v.readFramebuffer(p.kind, PIPE_NAMES[p.pipe]);
    if (!r.ok) {
      out.push({ what: p.what, outcome: q.ok ? `query ok, read ${r.reason}` : r.reason, hits: 0, foreign: 0 });
    } else {
      const words = new Uint32Array(r.rgba.buffer, r.rgba.byteOffset, r.rgba.length >>> 2);
      let foreign = 0;
      for (const w of words) if (w !== 0 && w !== 0xff000000 && !own.has(w) && !own.has(swapRB(w))) foreign++;
      out.push({ what: p.what, outcome: 'ok', hits: canaryHits(r.rgba, pattern), foreign });
    }
    unprogram(v, p);
  }
  return out;
}

/** Fill `pages` pages of `g`'s RAM at `gpa` with a pattern of its own; returns the pattern's words. */
function ownPattern(g: TestGuest, gpa: number, pages: number, tag: number): Set<number> {
  const words: number[] = [];
  for (let i = 0; i < (pages * PAGE_SIZE) / 4; i++) words.push((mix32(tag, i) | 0x01010101) >>> 0);
  g.driver.writeRam32(gpa, words);
  return new Set(words);
}

/** Add to `own` the words of every own RAM frame `g`'s GGTT maps at `pages` pages from `gma` (what it may legitimately show there). */
function ownWordsAt(g: TestGuest, gma: number, pages: number, own: Set<number>): Set<number> {
  const v = g.vgpu;
  for (let k = 0; k < pages; k++) {
    const h = v.ggtt.translate(gma + k * PAGE_SIZE);
    const f = h < 0 ? -1 : Math.floor(h / PAGE_SIZE);
    const gfn = f >= 0 && f !== v.ggtt.scratchMfn ? v.ept.gfnOfMfn(f) : -1;
    if (gfn < 0) continue;
    const b = g.memory.read(gfn * PAGE_SIZE, PAGE_SIZE);
    for (const w of new Uint32Array(b.buffer, b.byteOffset, PAGE_SIZE / 4)) own.add(w >>> 0);
  }
  return own;
}

/** Map `count` GGTT entries of `g` from graphics address `gma` to its guest frames from `gfn`. */
function mapRun(g: TestGuest, gma: number, gfn: number, count: number): void {
  for (let k = 0; k < count; k++) writeGgtt(g, gma / PAGE_SIZE + k, pteLo(gfn + k, PTE_PRESENT | 2), pteHi(gfn + k));
}

const fmtSeen = (s: readonly ScanSeen[]): string => s.map((x) => `${x.what}: ${x.outcome}${x.hits ? ` ${x.hits} canary words` : ''}${x.foreign ? ` ${x.foreign} foreign words` : ''}`).join('; ');

/** Every probe refused with `reason`. */
function expectAllRefused(t: Assert, seen: readonly ScanSeen[], reasons: readonly string[], what: string): void {
  const bad = seen.filter((s) => !reasons.includes(s.outcome));
  t.equal(bad.length, 0, `${what}: every probe refused (${reasons.join(' or ')}) ${fmtSeen(bad)}`);
}

/** No probe showed a victim canary word or a word not the attacker's own. */
function expectNoLeak(t: Assert, seen: readonly ScanSeen[]): void {
  const leaky = seen.filter((s) => s.hits > 0 || s.foreign > 0);
  t.equal(leaky.length, 0, `no read-out shows a victim canary or any word the attacker did not write ${fmtSeen(leaky)}`);
}

/** Garbage values for the plane registers: random, all ones, field maxima, and near-legal forms. */
function garbage(rng: () => number, legal: number): number {
  switch (Math.floor(rng() * 8)) {
    case 0: return 0xffffffff;
    case 1: return 0;
    case 2: return legal;
    case 3: return (legal ^ (1 << Math.floor(rng() * 32))) >>> 0;
    case 4: return 0x0fff1fff;
    case 5: return 0x80000000;
    default: return Math.floor(rng() * 2 ** 32) >>> 0;
  }
}

/** A deterministic generator of doubles in [0, 1) from `seed`. */
function rngOf(seed: number): () => number {
  let i = 0;
  return () => mix32(seed, i++) / 2 ** 32;
}

/** Largest read-out the corpus lets a guest cause: the register fields' maxima (8192 x 4096 pixels x 4 bytes). */
const READOUT_BOUND = 8192 * 4096 * 4;

export const SCANOUT_ATTACKS: readonly Attack[] = [
  {
    name: 'scan-other-memory',
    surface: 'display',
    expectation:
      'the attacker\'s primary, sprite and cursor planes on every pipe pointed at the victim\'s canary pages and buffers, the mediator\'s range, the page past its high slice, ' +
      'below its low slice and 0xfffff000 are refused by the read-out (outside-gm, a typed reason): no pixels, no exception',
    run(ctx) {
      const s = ctx.attacker.vgpu.slices, vic = ctx.world.victim!;
      const targets: [string, number][] = [
        ['victim canary', vic.canary.gma], ['victim canary page 3', vic.canary.gma + 3 * PAGE_SIZE], ['victim ggtt buffer', vic.ggttBuf.gma],
        ['mediator range', ctx.h.mediator.hostGm.start], ['past high slice', s.highBase + s.highSize], ['below low slice', s.lowBase - PAGE_SIZE],
        ['past low slice', s.lowBase + s.lowSize], ['top', 0xfffff000], ['zero', 0],
      ];
      const probes: ScanProbe[] = [];
      for (const [what, gma] of targets) {
        for (const [pipe, kind] of [[0, 'primary'], [1, 'sprite0'], [0, 'sprite1'], [2, 'cursor'], [2, 'sprite0']] as [number, PlaneKind][]) {
          probes.push({ what: `${what} ${kind} ${PIPE_NAMES[pipe]}`, kind, pipe, gma });
        }
      }
      ctx.data.seen = scanProbes(ctx, probes);
    },
    expect(ctx, t) {
      const seen = ctx.data.seen as ScanSeen[];
      t.equal(seen.length, 45, 'nine targets, five planes each');
      expectAllRefused(t, seen, ['outside-gm'], 'surfaces outside the attacker\'s slices');
    },
  },
  {
    name: 'scan-runs-past-end',
    surface: 'display',
    expectation:
      'a surface that starts on the last pages of the attacker\'s low or high slice and runs past its end (a huge height or stride, PLANE_OFFSET y pushing the scan out, ' +
      'X/Y/Yf tile rows that cross the boundary, a 256x256 cursor on the last page) is refused (outside-gm), an x offset past the stride is bad-stride; ' +
      'the same surfaces sized to end exactly at the boundary decode and show only the attacker\'s own pixels',
    run(ctx) {
      const g = ctx.attacker, s = g.vgpu.slices;
      // The last 8 pages of each slice mapped to 8 pages of the attacker's own RAM, filled with its pattern.
      const gpa = g.driver.allocRam(8);
      const own = ownPattern(g, gpa, 8, 0x5ca7);
      const lowEnd = s.lowBase + s.lowSize, highEnd = s.highBase + s.highSize;
      mapRun(g, lowEnd - 8 * PAGE_SIZE, gpa / PAGE_SIZE, 8);
      mapRun(g, highEnd - 8 * PAGE_SIZE, gpa / PAGE_SIZE, 8);
      const refused: ScanProbe[] = [], fits: ScanProbe[] = [];
      for (const [name, end] of [['low', lowEnd], ['high', highEnd]] as const) {
        const last = end - PAGE_SIZE, eight = end - 8 * PAGE_SIZE;
        refused.push(
          { what: `${name}: two 4 KiB lines on the last page`, kind: 'primary', pipe: 0, gma: last, width: 1024, height: 2 },
          { what: `${name}: height 4096`, kind: 'sprite0', pipe: 1, gma: eight, width: 16, height: 4096 },
          { what: `${name}: stride 0x3ff x 64`, kind: 'primary', pipe: 1, gma: eight, width: 16, height: 2, stride: 0x3ff },
          { what: `${name}: y offset past the end`, kind: 'primary', pipe: 2, gma: eight, width: 1024, height: 1, yOff: 8 },
          { what: `${name}: y offset 4095`, kind: 'sprite0', pipe: 2, gma: last, width: 16, height: 1, yOff: 4095 },
          { what: `${name}: X tile row (8 rows of 512 B) from the last page`, kind: 'primary', pipe: 0, gma: last, width: 128, height: 1, tiling: 'X', stride: 2 },
          { what: `${name}: Y tile row (32 rows of 128 B) from the last page`, kind: 'sprite1', pipe: 0, gma: last, width: 32, height: 1, tiling: 'Y', stride: 2 },
          { what: `${name}: Yf tile row from the last page`, kind: 'sprite0', pipe: 0, gma: last, width: 32, height: 1, tiling: 'Yf', stride: 2 },
          { what: `${name}: Y, two tile rows of 32 KiB from 8 pages before`, kind: 'primary', pipe: 0, gma: eight, width: 128, height: 33, tiling: 'Y', stride: 8 },
          { what: `${name}: 256x256 cursor on the last page`, kind: 'cursor', pipe: 1, gma: last },
        );
        fits.push(
          { what: `${name}: one 4 KiB line on the last page`, kind: 'primary', pipe: 0, gma: last, width: 1024, height: 1 },
          { what: `${name}: 8 lines of 4 KiB ending at the end`, kind: 'sprite0', pipe: 1, gma: eight, width: 1024, height: 8 },
          { what: `${name}: y offset 7 of 8`, kind: 'primary', pipe: 2, gma: eight, width: 1024, height: 1, yOff: 7 },
          { what: `${name}: X tile row of 4 KiB wide lines`, kind: 'primary', pipe: 0, gma: eight, width: 1024, height: 8, tiling: 'X', stride: 8 },
          { what: `${name}: Y tile row`, kind: 'sprite1', pipe: 0, gma: eight, width: 256, height: 32, tiling: 'Y', stride: 8 },
          { what: `${name}: Yf tile row`, kind: 'sprite0', pipe: 0, gma: eight, width: 256, height: 32, tiling: 'Yf', stride: 8 },
          { what: `${name}: 64x64 cursor on the last 4 pages`, kind: 'cursor', pipe: 1, gma: end - 4 * PAGE_SIZE },
        );
      }
      const xoff: ScanProbe = { what: 'x offset past the stride', kind: 'primary', pipe: 0, gma: lowEnd - 8 * PAGE_SIZE, width: 16, height: 1, xOff: 8000, stride: 2 };
      ctx.data.refused = scanProbes(ctx, refused, own);
      ctx.data.fits = scanProbes(ctx, fits, own);
      ctx.data.xoff = scanProbes(ctx, [xoff], own);
      // The 256x256 cursor probe programmed mode 0x27 (64x64): redo it with mode 0x23.
      const v = g.vgpu;
      wr(v, pipeconf(1), DBits.PIPECONF_ENABLE);
      wr(v, curcntr(1) + CursorReg.CNTR, 0x23);
      wr(v, curcntr(1) + CursorReg.BASE, lowEnd - PAGE_SIZE);
      const c = v.readFramebuffer('cursor', 'B');
      ctx.data.bigCursor = c.ok ? 'ok' : c.reason;
      wr(v, curcntr(1) + CursorReg.CNTR, 0);
      wr(v, pipeconf(1), 0);
    },
    expect(ctx, t) {
      const refused = (ctx.data.refused as ScanSeen[]).filter((s) => !s.what.includes('cursor'));
      expectAllRefused(t, refused, ['outside-gm'], 'surfaces running past the slice');
      const fits = ctx.data.fits as ScanSeen[];
      t.equal(fits.filter((s) => s.outcome === 'ok').length, fits.length, `surfaces ending at the boundary decode ${fmtSeen(fits.filter((s) => s.outcome !== 'ok'))}`);
      expectNoLeak(t, fits);
      t.equal((ctx.data.xoff as ScanSeen[])[0].outcome, 'bad-stride', 'an x offset past the stride: bad-stride');
      t.equal(ctx.data.bigCursor, 'outside-gm', 'a 256x256 cursor (256 KiB) on the last page: outside-gm');
    },
  },
  {
    name: 'scan-foreign-frames',
    surface: 'display',
    expectation:
      'a surface inside the attacker\'s slice whose GGTT entries it wrote to name the victim\'s host frames and guest frame numbers, frames beyond its RAM, not-present entries ' +
      'and its scratch page (which it fills with a pattern through the aperture) decodes (its first page is its own) and reads those pages as zeros: ' +
      'only the attacker\'s own pixels, no victim canary, not its scratch page\'s bytes, on every tiling',
    world: { failsafe: 'never' },
    run(ctx) {
      const g = ctx.attacker, vic = ctx.world.victim!;
      const gpa = g.driver.allocRam(2);
      const own = ownPattern(g, gpa, 2, 0xf0e1);
      const victimMfns: number[] = [];
      for (let k = 0; k < 4; k++) victimMfns.push(Math.floor(ctx.victim.vgpu.ggtt.translate(vic.canary.gma + k * PAGE_SIZE) / PAGE_SIZE));
      const victimGfns = [0, 1, 2, 3].map((k) => vic.canary.gpa / PAGE_SIZE + k);
      // 16 pages: own, the victim's host frames, its guest frames, beyond RAM, not present, own again.
      const pages = 16;
      const gma = g.driver.allocGm(pages * PAGE_SIZE, { mappable: true, align: 256 * 1024 });
      const entry = (k: number): [number, number] => {
        if (k === 0) return [pteLo(gpa / PAGE_SIZE, PTE_PRESENT | 2), pteHi(gpa / PAGE_SIZE)];
        if (k === pages - 1) return [pteLo(gpa / PAGE_SIZE + 1, PTE_PRESENT | 2), pteHi(gpa / PAGE_SIZE + 1)];
        if (k <= 4) return [pteLo(victimMfns[k - 1], PTE_PRESENT | 2), pteHi(victimMfns[k - 1])];
        if (k <= 8) return [pteLo(victimGfns[k - 5] + g.vgpu.ept.frames, PTE_PRESENT | 2), pteHi(victimGfns[k - 5] + g.vgpu.ept.frames)];
        if (k <= 10) return [pteLo(0x7ffffff, PTE_PRESENT | 2), pteHi(0x7ffffff)];
        return [0, 0];
      };
      for (let k = 0; k < pages; k++) writeGgtt(g, gma / PAGE_SIZE + k, ...entry(k));
      // The entries naming frames beyond its RAM point at its scratch page: fill it through the aperture.
      const scratchAt = gma + 9 * PAGE_SIZE;
      ctx.data.apertureMapped = g.vgpu.ggtt.translate(scratchAt) >= 0;
      for (let o = 0; o < PAGE_SIZE; o += 4) g.vgpu.apertureWrite(scratchAt + o, 4, 0x5c5c0000 | o);
      ctx.data.scratchWord = g.vgpu.readGuestGma32(scratchAt + 16);
      // Own memory may also be reached by an entry whose victim frame number is a frame of its own RAM.
      const v = g.vgpu;
      const hostFrames = Array.from({ length: pages }, (_, k) => v.ggtt.translate(gma + k * PAGE_SIZE)).map((h) => (h < 0 ? -1 : Math.floor(h / PAGE_SIZE)));
      ownWordsAt(g, gma, pages, own);
      // 16 pages: 4 KiB lines (linear, X: two tile rows of 8), or 2 KiB lines (Y, Yf: one tile row of 32).
      const probes: ScanProbe[] = [
        { what: 'linear primary', kind: 'primary', pipe: 0, gma, width: 1024, height: 16, stride: 64 },
        { what: 'X primary', kind: 'primary', pipe: 0, gma, width: 1024, height: 16, tiling: 'X', stride: 8 },
        { what: 'Y primary', kind: 'primary', pipe: 0, gma, width: 512, height: 32, tiling: 'Y', stride: 16 },
        { what: 'Yf primary', kind: 'primary', pipe: 0, gma, width: 512, height: 32, tiling: 'Yf', stride: 16 },
        { what: 'cursor 64x64 (4 pages: own, victim frames)', kind: 'cursor', pipe: 1, gma },
        { what: 'sprite at the victim-frame pages', kind: 'sprite0', pipe: 2, gma: gma + PAGE_SIZE, width: 1024, height: 4 },
        { what: 'sprite at the scratch-backed pages', kind: 'sprite0', pipe: 1, gma: gma + 9 * PAGE_SIZE, width: 1024, height: 2 },
      ];
      ctx.data.seen = scanProbes(ctx, probes, own);
      ctx.data.hostFrames = hostFrames;
      ctx.data.victimMfns = victimMfns;
    },
    expect(ctx, t) {
      const seen = ctx.data.seen as ScanSeen[];
      const prim = seen.slice(0, 5);
      t.equal(prim.filter((s) => s.outcome === 'ok').length, 5, `every tiling and the cursor decode (first page its own) ${fmtSeen(prim)}`);
      t.ok(['ok', 'unmapped'].includes(seen[5].outcome), `a surface whose first entry names a victim frame number: its own frame of that number, or unmapped (${seen[5].outcome})`);
      t.equal(seen[6].outcome, 'unmapped', 'a surface whose first page is the scratch page: unmapped');
      expectNoLeak(t, seen);
      const victim = new Set(ctx.data.victimMfns as number[]);
      t.ok((ctx.data.hostFrames as number[]).every((f) => !victim.has(f)), 'no entry of the attacker translates to a victim frame');
      t.ok(ctx.data.apertureMapped, 'the scratch-backed page is reachable through the aperture');
      t.equal(ctx.data.scratchWord, 0x5c5c0010, 'the attacker\'s pattern is in its scratch page (and the read-out above did not show it)');
    },
  },
  {
    name: 'scan-gscale-sharer',
    surface: 'display',
    world: GSCALE_SHARED_WORLD,
    expectation:
      'with gScale the attacker shares the victim\'s slices: its planes at the very graphics addresses of the victim\'s canary pages decode only through its own (private) GGTT: ' +
      'not mapped by it, unmapped (or, where its own driver put its ring or context there, those pages of its own); mapped to its own pages, its own pixels, whichever of the two is resident; never a victim canary word',
    run(ctx) {
      const g = ctx.attacker, vic = ctx.world.victim!;
      ctx.h.runUntilIdle();
      ctx.data.shared = ctx.h.mediator.partition.sharers(g.vgpu.id).includes(ctx.victim.vgpu.id);
      const at = vic.canary.gma;
      const probe: ScanProbe[] = [
        { what: 'primary at the victim canary', kind: 'primary', pipe: 0, gma: at, width: 1024, height: 4 },
        { what: 'cursor at the victim canary', kind: 'cursor', pipe: 1, gma: at },
      ];
      // Residency as the mediator makes it: whoever ran last (the attacker by a workload, the victim by its work).
      const rounds = (label: string, own: Set<number> = new Set()): ScanSeen[] => {
        const out: ScanSeen[] = [];
        for (const who of [ctx.victim, g, ctx.victim]) {
          if (who === g) g.submit('rcs', miNoop(2));
          else ctx.world.victim!.work();
          ctx.world.settle();
          const resident = who.vgpu.ggtt.resident ? who.name : 'neither';
          out.push(...scanProbes(ctx, probe, ownWordsAt(g, at, 4, new Set(own))).map((s) => ({ ...s, what: `${s.what} (${resident} resident, ${label})` })));
        }
        return out;
      };
      ctx.data.unmapped = rounds('unmapped');
      // The attacker maps its own pages at those addresses (the canary's first page too).
      const gpa = g.driver.allocRam(4);
      const own = ownPattern(g, gpa, 4, 0x95ca);
      mapRun(g, at, gpa / PAGE_SIZE, 4);
      const mapped = rounds('mapped', own);
      ctx.data.residents = [...(ctx.data.unmapped as ScanSeen[]), ...mapped].map((x) => x.what.replace(/.*\((\w+) resident.*/, '$1'));
      ctx.data.mapped = mapped;
    },
    expect(ctx, t) {
      t.ok(ctx.data.shared, 'the attacker shares the victim\'s slices');
      const res = new Set(ctx.data.residents as string[]);
      t.ok(res.has('victim') && res.has('attacker'), `read while each was resident (${[...res].join(', ')})`);
      const unmapped = ctx.data.unmapped as ScanSeen[];
      expectAllRefused(t, unmapped.filter((x) => x.outcome !== 'ok'), ['unmapped'], 'planes at the victim\'s addresses: unmapped unless its own driver mapped them');
      const mapped = ctx.data.mapped as ScanSeen[];
      t.equal(mapped.filter((s) => s.outcome === 'ok').length, mapped.length, `mapped to its own pages: decodes ${fmtSeen(mapped)}`);
      expectNoLeak(t, [...unmapped, ...mapped]);
    },
  },
  {
    name: 'scan-garbage-registers',
    surface: 'display',
    expectation:
      '1000 garbage programmings (random and extreme PLANE_CTL, STRIDE, SIZE, POS, OFFSET, SURF, PIPESRC, CURCNTR, CURBASE, PIPECONF) of every plane: ' +
      'queryPlane and readFramebuffer never throw, answer a typed reason or pixels of the attacker\'s own memory only, and never build a read-out beyond 8192 x 4096 x 4 bytes ' +
      '(the register fields\' maxima) nor a surface outside its slices',
    run(ctx) {
      const g = ctx.attacker, v = g.vgpu, s = v.slices;
      // 64 pages of its own, mapped at the start of its high slice, as surfaces worth landing on.
      const gpa = g.driver.allocRam(64);
      const own = ownPattern(g, gpa, 64, 0x9a4b);
      const zone = s.highBase;
      mapRun(g, zone, gpa / PAGE_SIZE, 64);
      const rng = rngOf(0x5ca9);
      const pattern = victimPattern(ctx);
      const reasons: Record<string, number> = {};
      const problems: string[] = [];
      let largest = 0, reads = 0;
      const surfaces = [zone, zone + 8 * PAGE_SIZE, ctx.world.victim!.canary.gma, s.lowBase, s.highBase + s.highSize - PAGE_SIZE, 0xfffff000, ctx.h.mediator.hostGm.start];
      for (let i = 0; i < 1000; i++) {
        const pipe = Math.floor(rng() * 3);
        const kinds: PlaneKind[] = pipe === 2 ? ['primary', 'sprite0', 'cursor'] : ['primary', 'sprite0', 'sprite1', 'cursor'];
        const kind = kinds[Math.floor(rng() * kinds.length)];
        const surf = rng() < 0.7 ? surfaces[Math.floor(rng() * surfaces.length)] + (rng() < 0.3 ? Math.floor(rng() * 4096) : 0) : Math.floor(rng() * 2 ** 32);
        wr(v, pipeconf(pipe), rng() < 0.9 ? DBits.PIPECONF_ENABLE : garbage(rng, DBits.PIPECONF_ENABLE));
        if (kind === 'cursor') {
          wr(v, curcntr(pipe) + CursorReg.CNTR, garbage(rng, [0x27, 0x22, 0x23, 0x07][Math.floor(rng() * 4)]));
          wr(v, curcntr(pipe) + CursorReg.POS, garbage(rng, 0));
          wr(v, curcntr(pipe) + CursorReg.BASE, surf >>> 0);
        } else {
          const base = planeCtl(pipe, PLANE_OF[kind]);
          const tl = [0, 1, 4, 5, 2, 7][Math.floor(rng() * 6)];
          const fmt = [4, 2, 14, 0, 12, 8][Math.floor(rng() * 6)];
          wr(v, base + PlaneReg.CTL, garbage(rng, ((1 << 31) | (fmt << 24) | (tl << 10) | (Math.floor(rng() * 4) << 4) | (rng() < 0.5 ? 1 << 20 : 0)) >>> 0));
          wr(v, base + PlaneReg.STRIDE, garbage(rng, Math.floor(rng() * 0x400)));
          wr(v, base + PlaneReg.SIZE, garbage(rng, (Math.floor(rng() * 64) << 16) | Math.floor(rng() * 1024)));
          wr(v, base + PlaneReg.POS, garbage(rng, 0));
          wr(v, base + PlaneReg.OFFSET, garbage(rng, rng() < 0.5 ? 0 : (Math.floor(rng() * 64) << 16) | Math.floor(rng() * 256)));
          wr(v, transcoderBase(pipe) + TRANS.PIPESRC, garbage(rng, (Math.floor(rng() * 1024) << 16) | Math.floor(rng() * 64)));
          wr(v, base + PlaneReg.SURF, surf >>> 0);
        }
        try {
          const q = v.queryPlane(kind, PIPE_NAMES[pipe]);
          if (!q.ok) {
            reasons[q.reason] = (reasons[q.reason] ?? 0) + 1;
            continue;
          }
          const span = scanSpan(q.info);
          if (!v.ownsGma(q.info.gma, span)) problems.push(`${kind} ${pipe}: decoded surface 0x${q.info.gma.toString(16)} + 0x${span.toString(16)} outside the slices`);
          const r = v.readFramebuffer(kind, PIPE_NAMES[pipe]);
          reads++;
          if (!r.ok) {
            reasons[r.reason] = (reasons[r.reason] ?? 0) + 1;
            continue;
          }
          reasons.ok = (reasons.ok ?? 0) + 1;
          largest = Math.max(largest, r.rgba.length);
          if (r.rgba.length !== q.info.width * q.info.height * 4 || r.rgba.length > READOUT_BOUND) problems.push(`${kind} ${pipe}: read-out of ${r.rgba.length} bytes for ${q.info.width}x${q.info.height}`);
          // Only ABGR8888 and ARGB8888 keep a pixel's 32 bits (the others force alpha or convert): check words there.
          if (q.info.formatName === 'ABGR8888' || q.info.formatName === 'ARGB8888') {
            if (canaryHits(r.rgba, pattern) > 0) problems.push(`${kind} ${pipe}: victim canary words in the read-out`);
            const words = new Uint32Array(r.rgba.buffer, r.rgba.byteOffset, r.rgba.length >>> 2);
            let foreign = 0;
            for (const w of words) if (w !== 0 && !own.has(w) && !own.has(swapRB(w))) foreign++;
            if (foreign > 0) problems.push(`${kind} ${pipe}: ${foreign} words the attacker did not write`);
          }
        } catch (e) {
          problems.push(`${kind} ${pipe}: threw ${(e as Error).message}`);
        }
        if (problems.length > 8) break;
      }
      for (let p = 0; p < 3; p++) wr(v, pipeconf(p), 0);
      ctx.data.reasons = reasons;
      ctx.data.problems = problems;
      ctx.data.largest = largest;
      ctx.data.reads = reads;
    },
    expect(ctx, t) {
      const reasons = ctx.data.reasons as Record<string, number>;
      t.equal((ctx.data.problems as string[]).length, 0, `no throw, no surface outside the slices, no foreign word: ${(ctx.data.problems as string[]).join('; ')}`);
      t.ok((reasons.ok ?? 0) >= 30, `garbage still reaches plane states that decode and read (${JSON.stringify(reasons)}, largest read-out ${ctx.data.largest} bytes)`);
      t.ok(Object.keys(reasons).length >= 6, `garbage meets many typed reasons: ${Object.keys(reasons).join(', ')}`);
    },
  },
];
