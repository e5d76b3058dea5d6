/**
 * Attacks on the global GTT (through the BAR0 window) and the aperture.
 */
import { miStoreDataImm } from '../../device/commands/index.js';
import { PTE_PRESENT, pteHi, pteLo } from '../../gtt/pte.js';
import { PAGE_SIZE } from '../../types.js';
import type { Attack, AttackContext } from './types.js';
import { GTT_WINDOW, expectCompleted, framesOf, hostFrameOf, hostGgtt, workloadsOf, writeGgtt } from './helpers.js';

/** Every host frame the victim's GGTT maps in its buffers (RAM, canaries, rings, contexts). */
function victimFrames(ctx: AttackContext): number[] {
  const v = ctx.world.victim!;
  const out = new Set<number>();
  for (const [gma] of ctx.victim.driver['gttMap'] as Map<number, number>) for (const f of framesOf(ctx.victim, gma, PAGE_SIZE)) out.add(f);
  for (const f of framesOf(ctx.victim, v.canary.gma, v.canary.bytes)) out.add(f);
  return [...out];
}

export const GGTT_ATTACKS: readonly Attack[] = [
  {
    name: 'ggtt-outside-slice',
    surface: 'ggtt',
    expectation: 'GGTT writes to entries outside the vGPU\'s slices (the victim\'s, the host\'s, the mediator\'s shadow range, the last entry) are dropped and counted, read back 0, and leave the host entries as they were',
    run(ctx) {
      const v = ctx.attacker.vgpu, vs = ctx.victim.vgpu.slices;
      const targets = [vs.lowBase / PAGE_SIZE, vs.highBase / PAGE_SIZE + 7, 0, 1, ctx.h.mediator.hostGm.start / PAGE_SIZE, (1 << 20) - 1,
        v.slices.lowBase / PAGE_SIZE - 1, (v.slices.highBase + v.slices.highSize) / PAGE_SIZE];
      const before = targets.map((i) => Array.from(hostGgtt(ctx, i, 1)));
      const out0 = v.ggtt.counters.outOfSlice;
      for (const i of targets) {
        writeGgtt(ctx.attacker, i, pteLo(0x200, PTE_PRESENT), 0);
        v.mmioWrite(GTT_WINDOW + i * 8, 4, 0xffffffff);
        v.mmioWrite(GTT_WINDOW + i * 8 + 4, 4, 0x7f);
      }
      ctx.data.before = before;
      ctx.data.after = targets.map((i) => Array.from(hostGgtt(ctx, i, 1)));
      ctx.data.reads = targets.map((i) => v.mmioRead(GTT_WINDOW + i * 8, 8));
      ctx.data.counted = v.ggtt.counters.outOfSlice - out0;
    },
    expect(ctx, t) {
      t.equal(JSON.stringify(ctx.data.after), JSON.stringify(ctx.data.before), 'no host entry outside the attacker\'s slices changed');
      t.ok((ctx.data.reads as number[]).every((x) => x === 0), 'the attacker reads 0 outside its slices');
      t.equal(ctx.data.counted, 24, 'every write counted as out of slice');
    },
  },
  {
    name: 'ggtt-name-victim-frames',
    surface: 'ggtt',
    expectation: 'a guest cannot name another guest\'s frames: PTEs carrying the victim\'s host frame numbers (or its guest frame numbers) translate through the attacker\'s own EPT: they map its own RAM or its scratch page, and a GPU store through them lands there',
    run(ctx) {
      const g = ctx.attacker, v = g.vgpu;
      const frames = victimFrames(ctx);
      const gfns = [...(ctx.victim.driver['gttMap'] as Map<number, number>).values()].map((gpa) => gpa / PAGE_SIZE);
      const names = [...frames, ...gfns].slice(0, 48);
      const zone = g.driver.allocGm(names.length * PAGE_SIZE) / PAGE_SIZE;
      names.forEach((f, k) => writeGgtt(g, zone + k, pteLo(f, PTE_PRESENT | 2), pteHi(f)));
      ctx.data.victimFrames = frames;
      ctx.data.hostFrames = names.map((_, k) => hostFrameOf(ctx, zone + k));
      ctx.data.owned = names.map((_, k) => {
        const f = hostFrameOf(ctx, zone + k);
        return v.ept.ownsMfn(f) || f === v.ggtt.scratchMfn;
      });
      g.submit('rcs', [...miStoreDataImm(zone * PAGE_SIZE, [0xbad0], { ggtt: true }), ...miStoreDataImm((zone + names.length - 1) * PAGE_SIZE + 8, [0xbad1], { ggtt: true })]);
    },
    expect(ctx, t) {
      const victim = new Set(ctx.data.victimFrames as number[]);
      t.ok((ctx.data.victimFrames as number[]).length > 10, 'the victim has frames to aim at');
      t.ok((ctx.data.hostFrames as number[]).every((f) => !victim.has(f)), 'no host entry names a victim frame');
      t.ok((ctx.data.owned as boolean[]).every(Boolean), 'every host entry names the attacker\'s own frame or its scratch');
      expectCompleted(ctx, t, ctx.attacker);
    },
  },
  {
    name: 'ggtt-frames-beyond-ram',
    surface: 'ggtt',
    expectation: 'PTEs naming frames beyond the guest\'s RAM (and the largest 39-bit frame) point the host entry at the vGPU\'s scratch page, counted; a GPU store through one lands in scratch without a fault',
    run(ctx) {
      const g = ctx.attacker, v = g.vgpu;
      const frames = [v.ept.frames, v.ept.frames + 1, 2 ** 27 - 1, 2 ** 26, 0x7ffff];
      const zone = g.driver.allocGm(frames.length * PAGE_SIZE) / PAGE_SIZE;
      const inv = v.ggtt.counters.invalidFrame;
      frames.forEach((f, k) => writeGgtt(g, zone + k, pteLo(f, PTE_PRESENT), pteHi(f)));
      ctx.data.scratch = frames.map((_, k) => hostFrameOf(ctx, zone + k) === v.ggtt.scratchMfn);
      ctx.data.counted = v.ggtt.counters.invalidFrame - inv;
      g.submit('rcs', miStoreDataImm(zone * PAGE_SIZE + 64, [0x5c2a7c4], { ggtt: true }));
    },
    expect(ctx, t) {
      t.ok((ctx.data.scratch as boolean[]).every(Boolean), 'every such entry points at the attacker\'s scratch page');
      t.equal(ctx.data.counted, 5, 'counted as invalid frames');
      expectCompleted(ctx, t, ctx.attacker);
    },
  },
  {
    name: 'ggtt-half-written-pte',
    surface: 'ggtt',
    expectation: 'a PTE written as one 4-byte half is parked (host entry not present) until its other half arrives; a GPU store through it faults and hangs the engine: the mediator fails that workload (gpu-hang), resets the engine, and the victim\'s work runs on; written as two halves in either order it maps the guest\'s frame',
    run(ctx) {
      const g = ctx.attacker, v = g.vgpu;
      const zone = g.driver.allocGm(2 * PAGE_SIZE) / PAGE_SIZE;
      const gpa = g.driver.allocRam(2);
      g.driver.writeRam(gpa, new Uint8Array(2 * PAGE_SIZE));
      const frame = gpa / PAGE_SIZE;
      // Entry 1: high half first, then low: whole.
      v.mmioWrite(GTT_WINDOW + (zone + 1) * 8 + 4, 4, pteHi(frame + 1));
      v.mmioWrite(GTT_WINDOW + (zone + 1) * 8, 4, pteLo(frame + 1, PTE_PRESENT));
      g.submit('rcs', miStoreDataImm((zone + 1) * PAGE_SIZE + 16, [0x7a1f], { ggtt: true }));
      ctx.world.settle();
      ctx.data.whole = g.memory.read32(gpa + PAGE_SIZE + 16);
      // Entry 0: only the low half.
      v.mmioWrite(GTT_WINDOW + zone * 8, 4, pteLo(frame, PTE_PRESENT));
      ctx.data.parked = hostFrameOf(ctx, zone);
      ctx.data.held = v.ggtt.heldHalves;
      g.submit('rcs', miStoreDataImm(zone * PAGE_SIZE + 16, [0xdead], { ggtt: true }));
    },
    expect(ctx, t) {
      t.equal(ctx.data.whole, 0x7a1f, 'two halves (high first) make a whole entry: the store reached the guest frame');
      t.equal(ctx.data.parked, -1, 'a lone half parks the host entry (not present)');
      t.ok((ctx.data.held as number) >= 1, 'the half is held');
      const ws = workloadsOf(ctx, ctx.attacker);
      const hang = ws.find((w) => w.failure?.rule === 'gpu-hang');
      t.ok(hang, `the store through the parked entry hung the engine and failed its workload (${ws.map((w) => w.failure?.rule ?? w.status).join(', ')})`);
      t.ok(ctx.h.device.engines[0].error === null && !ctx.h.device.engines[0].hung, 'the mediator reset the engine');
    },
  },
  {
    name: 'aperture-outside-slice',
    surface: 'ggtt',
    expectation: 'aperture accesses outside the vGPU\'s low slice (the victim\'s slice, past the aperture, negative) read 0 and drop writes, counted (GVT-g CVE-2019-11085 was an unchecked aperture range)',
    run(ctx) {
      const secret = ctx.victim.buffer(PAGE_SIZE, { mappable: true });
      ctx.victim.driver.writeRam32(secret.gpa, [0x5ec7e7, 0x5ec7e8]);
      ctx.data.secret = secret;
      const v = ctx.attacker.vgpu;
      const before = v.counters.apertureOutside;
      const offs = [secret.gma, secret.gma + 4, ctx.h.device.apertureSize, ctx.h.device.apertureSize - 4 + 8, -4, v.slices.lowBase - 4, v.slices.lowBase + v.slices.lowSize - 2];
      ctx.data.reads = offs.map((o) => v.apertureRead(o, 4));
      for (const o of offs) v.apertureWrite(o, 4, 0xbadbad);
      v.apertureWrite(secret.gma, 8, 2 ** 52);
      ctx.data.counted = v.counters.apertureOutside - before;
    },
    expect(ctx, t) {
      const secret = ctx.data.secret as { gpa: number };
      t.ok((ctx.data.reads as number[]).every((x) => x === 0), 'the victim\'s aperture reads 0 to the attacker');
      t.equal(ctx.victim.memory.read32(secret.gpa), 0x5ec7e7, 'the victim\'s secret is unchanged');
      t.ok((ctx.data.counted as number) >= 14, `outside accesses counted (${ctx.data.counted})`);
    },
  },
  {
    name: 'ggtt-window-bad-accesses',
    surface: 'ggtt',
    expectation: 'misaligned, 1- and 2-byte, and 8-byte-at-+4 accesses to the GTT window are dropped and counted; reads answer 0',
    run(ctx) {
      const g = ctx.attacker, v = g.vgpu;
      const index = v.slices.highBase / PAGE_SIZE + 3;
      const before = Array.from(hostGgtt(ctx, index, 2));
      const bad = v.ggtt.counters.badAccess;
      for (const [o, s] of [[1, 4], [2, 2], [4, 8], [3, 1], [6, 4], [8 * 1024 * 1024 - 4, 8]] as const) v.mmioWrite(GTT_WINDOW + index * 8 + o, s, 0xffffffff);
      ctx.data.after = [before, Array.from(hostGgtt(ctx, index, 2))];
      ctx.data.counted = v.ggtt.counters.badAccess - bad;
      ctx.data.reads = [v.mmioRead(GTT_WINDOW + index * 8 + 2, 2), v.mmioRead(GTT_WINDOW + index * 8 + 4, 8)];
    },
    expect(ctx, t) {
      const [a, b] = ctx.data.after as number[][];
      t.equal(JSON.stringify(b), JSON.stringify(a), 'the host entries are unchanged');
      t.ok((ctx.data.counted as number) >= 5, `bad accesses counted (${ctx.data.counted})`);
      t.ok((ctx.data.reads as number[]).every((x) => x === 0), 'bad reads answer 0');
    },
  },
];
