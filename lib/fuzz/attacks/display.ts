/**
 * Attacks on the virtual display (issue 16): flips by command (MI_DISPLAY_FLIP, audited as GVT-g's
 * `cmd_handler_mi_display_flip` plus gvtkit's surface checks) and by PLANE_SURF MMIO, every plane
 * select code, the vblank timer (link M/N, pipes toggled at a high rate, flip storms with the
 * interrupt masked) and the DPCD behind the AUX channel. A flip's effect is on the attacker's own
 * virtual plane registers only: the global checks of `runAttack` (and `Victim.verify`'s
 * `victim-display` invariant) see that the device, the host's registers and the victim's display
 * never change.
 *
 * Not here yet: "the scan-out shows the scratch page, never the other guest's pixels" needs the
 * plane read-out (`Vgpu.readFramebuffer`, lib/display/framebuffer.ts, branch h/fb).
 */
import { miDisplayFlip, miNoop } from '../../device/commands/index.js';
import { DBits, DPCD_SIZE, DREG, Port, TRANS, VBits, VREG, dpAuxChCtl, pipeconf, planeCtl, planesOf, transcoderBase } from '../../display/index.js';
import { PAGE_SIZE } from '../../types.js';
import type { Vgpu } from '../../mediator/vgpu.js';
import type { Attack, AttackContext } from './types.js';
import { expectRefused, hostRegisters, workloadsOf } from './helpers.js';

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

