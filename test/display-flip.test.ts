/**
 * MI_DISPLAY_FLIP from a command buffer (GVT-g v7.0 `cmd_handler_mi_display_flip`,
 * `skl_decode_mi_display_flip`, `gen8_check_mi_display_flip`,
 * `gen8_update_plane_mmio_from_mi_display_flip` in gvt/cmd_parser.c): decoded from the effects
 * table (one FLIP effect), audited (the surface is a GGTT address inside the vGPU's memory, legal
 * only where GGTT accesses are), NOOPed in the shadow, and applied to the vGPU's virtual plane
 * registers at dispatch through the same flip entry point as a PLANE_SURF write
 * (lib/display/vblank.ts `flipPlane`): SURF / STRIDE / CTL tiling, SURFLIVE, PIPE_FLIPCOUNT, flip
 * done at the next vblank (sync) or at once (async). The device (the host, no display) never sees
 * it. Driven through the harness and the vGPU's MMIO as test/display-vblank.test.ts does.
 */
import t from 'tap';
import {
  COMMANDS, EffectsError, FLIP_PLANE_SELECT, describeEffects, encodeByName, miBatchBufferEnd, miBatchBufferStart, miDisplayFlip, miNoop,
} from '../lib/device/commands/index.js';
import { CommandParser, FLIP_WORDS } from '../lib/mediator/parser.js';
import { auditDecision } from '../lib/mediator/audit-table.js';
import { Harness, type TestGuest } from '../lib/harness/index.js';
import type { Vgpu } from '../lib/mediator/vgpu.js';
import { DBits, VBits, VREG, pipeconf, planeCtl } from '../lib/display/index.js';
import { PAGE_SIZE } from '../lib/types.js';
import { FakeEnv, HIGH, LOW, qword, ringWith } from './audit-fixture.js';
import { dpModeset } from './display-fixture.js';
import { FuzzWorld } from '../lib/fuzz/world.js';

const MiB = 1024 * 1024;
const FLIP_ID = COMMANDS.findIndex((c) => c.name === 'MI_DISPLAY_FLIP');
const PBATCH = 0x2_0000_0000;

const rd = (v: Vgpu, o: number): number => v.mmioRead(o, 4) >>> 0;
const wr = (v: Vgpu, o: number, x: number): void => v.mmioWrite(o, 4, x >>> 0);
const planeStride = (pipe: number, plane: number): number => planeCtl(pipe, plane) + 0x08;


/** Flip dones and vblank unmasked in IMR, IER clear: events reach IIR, never the line (the harness driver would ack them). */
function unmaskEvents(v: Vgpu, pipe: number): void {
  wr(v, VREG.dePipeIer(pipe), 0);
  wr(v, VREG.dePipeImr(pipe), ~(VBits.GEN8_PIPE_VBLANK | VBits.planeFlipDone(0) | VBits.planeFlipDone(1) | VBits.planeFlipDone(2)));
  wr(v, VREG.dePipeIir(pipe), 0xffffffff);
}

/** Every display register of one vGPU a flip may touch (planes, counters, DE pipe IIR), pipes A..C. */
function displaySnapshot(v: Vgpu): number[] {
  const out: number[] = [];
  for (let p = 0; p < 3; p++) {
    for (let pl = 0; pl < 3; pl++) out.push(rd(v, planeCtl(p, pl)), rd(v, planeStride(p, pl)), rd(v, VREG.planeSurf(p, pl)), rd(v, VREG.planeSurfLive(p, pl)));
    out.push(rd(v, VREG.flipcount(p)), rd(v, VREG.dePipeIir(p)));
  }
  return out;
}

/**
 * Host register dwords of the display engine (DE pipe interrupts 0x44400..0x44500, transcoders,
 * pipes and planes 0x60000..0x80000): the host has no display, they must never change.
 */
function hostDisplayRegs(h: Harness): number[] {
  const r = h.device.regs.regs;
  return [...r.slice(0x44400 >>> 2, 0x44500 >>> 2), ...r.slice(0x60000 >>> 2, 0x80000 >>> 2)];
}

/** Run the clock event by event until `pred` holds (at most 1 s). */
function until(h: Harness, pred: () => boolean): boolean {
  const clock = h.device.clock;
  const deadline = clock.now + 1e9;
  while (!pred()) {
    const next = clock.nextTime();
    if (next === Infinity || next > deadline) return pred();
    clock.step();
  }
  return true;
}

function guests(): { h: Harness; a: TestGuest; b: TestGuest } {
  const h = new Harness();
  const a = h.addGuest({ name: 'a', type: 'GVTg_V5_8', ramBytes: 32 * MiB });
  const b = h.addGuest({ name: 'b', type: 'GVTg_V5_8', ramBytes: 32 * MiB });
  return { h, a, b };
}

// --- the decision and the effect ---------------------------------------------------------------------

t.test('the audit table emulates MI_DISPLAY_FLIP (no longer refused) and NOOPs MI_WAIT_FOR_EVENT', async (t) => {
  const d = auditDecision('MI_DISPLAY_FLIP')!;
  t.same([d.action, d.handler, d.rule], ['noop', 'display-flip', null], 'noop with its display-flip handler');
  const w = auditDecision('MI_WAIT_FOR_EVENT')!;
  t.same([w.action, w.rule], ['noop', null], 'MI_WAIT_FOR_EVENT: NOOPed (GVT-g cmd_handler_mi_wait_for_event NOOPs a wait on a flip)');
});

t.test('every plane-select code 0..31: 0-2 plane 1, 4-6 plane 2, 7-8 plane 3 of pipes A-B, the rest refused (pipe C has two planes)', async (t) => {
  const expected: Record<number, [number, number]> = { 0: [0, 0], 1: [1, 0], 2: [2, 0], 4: [0, 1], 5: [1, 1], 6: [2, 1], 7: [0, 2], 8: [1, 2] };
  for (let code = 0; code < 32; code++) {
    const w = miDisplayFlip({ planeSelect: code, surface: 0x123000, stride: 0x2a5, tiling: 4, async: code % 2 === 1 });
    const fx = describeEffects(FLIP_ID, new Uint32Array(w), 0, w.length);
    const want = expected[code];
    if (want === undefined) {
      t.equal(fx, EffectsError.UNDEFINED, `code ${code}: reserved, no described effect`);
      t.equal(FLIP_PLANE_SELECT[code], -1);
      continue;
    }
    t.ok(Array.isArray(fx) && fx.length === 1, `code ${code}: one effect`);
    const e = (fx as Exclude<typeof fx, number>)[0];
    t.same([e.kind, e.space, e.addr, e.bytes, e.read, e.write, e.field], ['flip', 'ggtt', 0x123000, PAGE_SIZE, true, false, 2], `code ${code}: a GGTT surface read`);
    t.same(e.flip, { pipe: want[0], plane: want[1], stride: 0x2a5, tiling: 4, async: code % 2 === 1 }, `code ${code}: pipe ${'ABC'[want[0]]} plane ${want[1] + 1}`);
  }
  const long = encodeByName('MI_DISPLAY_FLIP', [0, 0x123000, 0]);
  t.equal(describeEffects(FLIP_ID, new Uint32Array(long), 0, long.length), EffectsError.LENGTH, '4 dwords: refused (GVT-g: 3 unless stereo)');
  const short = encodeByName('MI_DISPLAY_FLIP', [0]);
  t.equal(describeEffects(FLIP_ID, new Uint32Array(short), 0, short.length), EffectsError.SHORT, '2 dwords: too short');
  for (const type of [2, 3]) {
    const x = encodeByName('MI_DISPLAY_FLIP', [0, 0x123000 | type]);
    t.equal(describeEffects(FLIP_ID, new Uint32Array(x), 0, x.length), EffectsError.UNDEFINED, `flip type ${type} (stereo 3D, reserved): no described effect`);
  }
});

t.test('the auditor: admitted from the ring and GGTT batches and NOOPed; refused from a PPGTT batch, outside memory, reserved', async (t) => {
  const surf = LOW.start + 0x40000;
  const flip = miDisplayFlip({ planeSelect: 1, surface: surf, stride: 30, tiling: 1 });
  const env = new FakeEnv({ contextPpgtt: true });
  const p = new CommandParser();
  const r = p.scan(ringWith(env, qword([...miNoop(), ...flip])), env);
  t.ok(r.ok, `ring: admitted (${r.violation?.message ?? ''})`);
  t.same([...r.shadows[0].dwords()], [0, 0, 0, 0], 'the shadow holds MI_NOOPs where the flip was');
  t.equal(r.flipCount, 1);
  t.same([...r.flips.subarray(0, FLIP_WORDS)], [1, 0, surf, 30, 1, 0], 'recorded: pipe B plane 1, surface, stride, tiling, sync');
  t.equal(r.addressesPatched, 0, 'the surface is not patched (the command never reaches the device)');

  const genv = new FakeEnv({ contextPpgtt: false });
  genv.ggtt.write(LOW.start + 0x80000, [...flip, ...miBatchBufferEnd()]);
  const gr = p.scan(ringWith(genv, qword([...miBatchBufferStart(LOW.start + 0x80000), ...miNoop()])), genv);
  t.ok(gr.ok && gr.flipCount === 1, 'a GGTT (privileged) batch: admitted');
  t.same([...gr.shadows[1].dwords().subarray(0, 3)], [0, 0, 0], 'NOOPed in the batch shadow');

  const penv = new FakeEnv({ contextPpgtt: true });
  penv.ppgtt.write(PBATCH, [...flip, ...miBatchBufferEnd()]);
  const pr = p.scan(ringWith(penv, qword([...miBatchBufferStart(PBATCH, { ppgtt: true }), ...miNoop()])), penv);
  t.equal(pr.violation?.rule, 'privileged-command', `a PPGTT batch: a GGTT surface is refused (${pr.violation?.message})`);
  t.equal(pr.flipCount, 0);

  for (const outside of [HIGH.end, LOW.start - PAGE_SIZE, LOW.end, 0, 0xfffff000]) {
    const x = p.scan(ringWith(env, qword(miDisplayFlip({ planeSelect: 0, surface: outside }))), env);
    t.equal(x.violation?.rule, 'address-bounds', `surface ${outside.toString(16)} outside the vGPU's memory: address-bounds`);
  }
  const last = p.scan(ringWith(env, qword(miDisplayFlip({ planeSelect: 0, surface: HIGH.end - PAGE_SIZE }))), env);
  t.ok(last.ok, 'the last page of the vGPU\'s memory is a legal surface');

  for (const code of [3, 10, 31]) {
    const x = p.scan(ringWith(env, qword(miDisplayFlip({ planeSelect: code, surface: surf }))), env);
    t.equal(x.violation?.rule, 'malformed-command', `plane select ${code}: malformed-command (GVT-g -EBADRQC: failsafe class)`);
    t.equal(x.violation?.code, 'BAD_COMMAND');
  }
  const stereo = p.scan(ringWith(env, qword(encodeByName('MI_DISPLAY_FLIP', [0, surf | 2, surf]))), env);
  t.equal(stereo.violation?.rule, 'malformed-command', 'a 4-dword stereo 3D flip: malformed-command');

  // MI_WAIT_FOR_EVENT on a flip (GVT-g is_wait_for_flip_pending: plane A flip pending, bit 1) is NOOPed.
  const wait = encodeByName('MI_WAIT_FOR_EVENT', [], 1 << 1);
  const wr2 = p.scan(ringWith(env, qword(wait)), env);
  t.ok(wr2.ok, 'MI_WAIT_FOR_EVENT admitted');
  t.equal(wr2.shadows[0].dwords()[0], 0, 'and NOOPed');

  // A refused workload records no flip, even after an admitted one.
  const both = p.scan(ringWith(env, qword([...flip, ...miDisplayFlip({ planeSelect: 0, surface: HIGH.end })])), env);
  t.equal(both.violation?.rule, 'address-bounds');
});

t.test('the audit decisions option can refuse MI_DISPLAY_FLIP', async (t) => {
  const env = new FakeEnv();
  const p = new CommandParser({ decisions: { MI_DISPLAY_FLIP: 'refused' } });
  const r = p.scan(ringWith(env, qword(miDisplayFlip({ planeSelect: 0, surface: LOW.start }))), env);
  t.equal(r.violation?.rule, 'privileged-command');
});

// --- through the mediator --------------------------------------------------------------------------------

t.test('a synchronous ring flip: the virtual plane registers at dispatch, flip done at the next vblank, never the device', async (t) => {
  const { h, a, b } = guests();
  const v = a.vgpu;
  dpModeset(v, 0);
  unmaskEvents(v, 0);
  const vb = v.display.vblank!;
  const fb = a.buffer(64 * PAGE_SIZE);
  wr(v, planeCtl(0, 0), (1 << 31) | (4 << 24)); // enabled, XRGB8888, linear
  wr(v, VREG.planeSurf(0, 0), (fb.gma | 0x4) >>> 0); // an MMIO flip first, with a low bit the command keeps
  t.ok(until(h, () => (rd(v, VREG.dePipeIir(0)) & VBits.planeFlipDone(0)) !== 0), 'the MMIO flip is done at its vblank');
  wr(v, VREG.dePipeIir(0), 0xffffffff);
  const host0 = hostDisplayRegs(h);
  const other0 = displaySnapshot(b.vgpu);
  const flips0 = rd(v, VREG.flipcount(0));
  const target = fb.gma + 16 * PAGE_SIZE;
  a.submit('rcs', qword(miDisplayFlip({ planeSelect: 0, surface: target, stride: 64, tiling: 1 })));
  t.ok(until(h, () => vb.counters.commandFlips === 1), 'the flip is applied');
  const at = h.now;
  t.equal(rd(v, VREG.planeSurf(0, 0)), (target | 0x4) >>> 0, 'PLANE_SURF bits 31:12 take the surface, bits 11:0 kept');
  t.equal(rd(v, VREG.planeSurfLive(0, 0)), (target | 0x4) >>> 0, 'SURFLIVE follows');
  t.equal(rd(v, planeStride(0, 0)) & 0x3ff, 64, 'PLANE_STRIDE bits 9:0');
  t.equal((rd(v, planeCtl(0, 0)) >>> 10) & 7, 1, 'PLANE_CTL tiling X');
  t.equal(rd(v, planeCtl(0, 0)) >>> 24, 0x84, 'the rest of PLANE_CTL kept');
  t.equal(rd(v, VREG.flipcount(0)), flips0 + 1, 'PIPE_FLIPCOUNT counts the primary flip');
  t.equal(rd(v, VREG.dePipeIir(0)) & VBits.planeFlipDone(0), 0, 'no flip done before the vblank');
  const due = vb.nextVblankAt;
  t.ok(due > at, 'the next vblank is ahead');
  h.run(due - h.now - 1);
  t.equal(rd(v, VREG.dePipeIir(0)) & VBits.planeFlipDone(0), 0, 'nor 1 ns before it');
  h.run(1);
  t.equal(rd(v, VREG.dePipeIir(0)) & VBits.planeFlipDone(0), VBits.planeFlipDone(0), 'flip done at the first vblank after dispatch');
  t.ok(h.runUntilIdle(), 'idle');
  t.equal(a.lastWorkload?.status, 'completed', 'the workload (a NOOP on the device) completed');
  t.same(hostDisplayRegs(h), host0, 'the host device\'s display registers never changed (it has no display)');
  t.same(displaySnapshot(b.vgpu), other0, 'the second vGPU\'s display is untouched');
  t.equal(b.vgpu.display.vblank!.counters.flips, 0, 'and saw no flip');
});

t.test('an asynchronous flip of plane 2 (code 5: pipe B sprite): flip done at once, plane 2 registers only', async (t) => {
  const { h, a } = guests();
  const v = a.vgpu;
  dpModeset(v, 1);
  unmaskEvents(v, 1);
  const vb = v.display.vblank!;
  const fb = a.buffer(16 * PAGE_SIZE);
  const primary0 = [rd(v, VREG.planeSurf(1, 0)), rd(v, planeStride(1, 0)), rd(v, planeCtl(1, 0))];
  const flips0 = rd(v, VREG.flipcount(1));
  a.submit('bcs', qword(miDisplayFlip({ planeSelect: 5, surface: fb.gma, stride: 8, tiling: 4, async: true })));
  t.ok(until(h, () => vb.counters.commandFlips === 1));
  t.equal(rd(v, VREG.planeSurf(1, 1)), fb.gma, 'plane 2 of pipe B takes the surface (GVT-g writes the primary\'s registers)');
  t.equal(rd(v, planeStride(1, 1)), 8);
  t.equal((rd(v, planeCtl(1, 1)) >>> 10) & 7, 4, 'Y tiled');
  t.same([rd(v, VREG.planeSurf(1, 0)), rd(v, planeStride(1, 0)), rd(v, planeCtl(1, 0))], primary0, 'the primary plane is untouched');
  t.equal(rd(v, VREG.flipcount(1)), flips0, 'a sprite flip does not count in PIPE_FLIPCOUNT');
  t.equal(rd(v, VREG.dePipeIir(1)) & VBits.planeFlipDone(1), VBits.planeFlipDone(1), 'async: sprite flip done at once');
  t.ok(h.runUntilIdle());
});

t.test('refusals through the mediator: a PPGTT batch and another vGPU\'s memory; nothing flips anywhere', async (t) => {
  const { h, a, b } = guests();
  const v = a.vgpu;
  dpModeset(v, 0);
  unmaskEvents(v, 0);
  const mine0 = displaySnapshot(v);
  const other0 = displaySnapshot(b.vgpu);
  const host0 = hostDisplayRegs(h);
  const own = a.buffer(PAGE_SIZE);
  a.submitBatch('rcs', miDisplayFlip({ planeSelect: 0, surface: own.gma }));
  t.ok(h.runUntilIdle());
  t.equal(a.lastWorkload?.failure?.rule, 'privileged-command', 'from a PPGTT batch: privileged-command, even for its own memory');
  const theirs = b.buffer(PAGE_SIZE);
  // From the other ring (the refused one would need the guest's engine recovery first).
  a.submit('bcs', qword(miDisplayFlip({ planeSelect: 0, surface: theirs.gma })));
  t.ok(h.runUntilIdle());
  t.equal(a.lastWorkload?.failure?.rule, 'address-bounds', 'the other vGPU\'s buffer: address-bounds');
  t.equal(v.display.vblank!.counters.flips, 0, 'no flip applied');
  const mine = displaySnapshot(v);
  t.same(mine, mine0, 'the attacker\'s planes unchanged');
  t.same(displaySnapshot(b.vgpu), other0, 'the other vGPU\'s planes unchanged');
  t.same(hostDisplayRegs(h), host0, 'the host\'s display range unchanged');
});

t.test('a synchronous flip on a dark pipe updates the planes and never raises a flip done', async (t) => {
  const { h, a } = guests();
  const v = a.vgpu;
  unmaskEvents(v, 2);
  const vb = v.display.vblank!;
  const fb = a.buffer(PAGE_SIZE);
  a.submit('rcs', qword(miDisplayFlip({ planeSelect: 2, surface: fb.gma })));
  t.ok(until(h, () => vb.counters.commandFlips === 1));
  t.equal(rd(v, VREG.planeSurf(2, 0)), fb.gma, 'the registers take the flip');
  t.equal(vb.counters.flipsDropped, 1, 'its flip done is dropped (no vblank on a dark pipe)');
  t.ok(h.runUntilIdle());
  dpModeset(v, 2);
  h.run(50e6);
  t.ok(rd(v, VREG.frmcount(2)) > 0, 'pipe C lit afterwards counts frames');
  t.equal(rd(v, VREG.dePipeIir(2)) & VBits.planeFlipDone(0), 0, 'but the old flip\'s done never comes');
});

t.test('applyCommandFlips (the mediator\'s call) refuses a plane that does not exist before any register changes', async (t) => {
  const { a } = guests();
  const v = a.vgpu;
  const before = displaySnapshot(v);
  const fb = a.buffer(PAGE_SIZE);
  // A valid flip of pipe A first, then pipe C's third plane (Skylake's pipe C has two).
  const flips = new Uint32Array([0, 0, fb.gma, 8, 0, 1, 2, 2, fb.gma, 8, 0, 1]);
  t.throws(() => v.applyCommandFlips(flips, 2), { code: 'E_RANGE' }, 'pipe C plane 3: RangeArgError');
  t.throws(() => v.applyCommandFlips(flips, 3), { code: 'E_RANGE' }, 'a count beyond the words given');
  t.same(displaySnapshot(v), before, 'not even the valid first flip was applied');
  v.applyCommandFlips(flips, 1);
  t.equal(rd(v, VREG.planeSurf(0, 0)), fb.gma, 'a valid list applies');
});

t.test('the fuzz world: an attacker\'s flips by command pass the isolation checks; a change of the victim\'s planes is a victim-display violation', async (t) => {
  const world = new FuzzWorld({ seed: 16 });
  const g = world.attacker;
  const fb = g.buffer(4 * PAGE_SIZE);
  world.victim!.work();
  g.submit('rcs', qword([...miDisplayFlip({ planeSelect: 0, surface: fb.gma }), ...miDisplayFlip({ planeSelect: 5, surface: fb.gma + PAGE_SIZE, async: true })]));
  t.ok(world.settle(), 'settled');
  t.equal(g.vgpu.display.vblank!.counters.commandFlips, 2, 'the attacker flipped twice');
  t.same(world.checkFull().map((x) => x.invariant), [], 'no violation');
  // The checker sees a victim plane that changed (here by the victim's own MMIO, standing in for a leak).
  world.victim!.g.vgpu.mmioWrite(VREG.planeSurf(1, 0), 4, 0x5000);
  t.ok(world.check().some((x) => x.invariant === 'victim-display'), 'victim-display reported');
});
