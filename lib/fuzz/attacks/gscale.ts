/**
 * Attacks on gScale's sharing (`MediatorOptions.gscale`): the attacker shares the victim's slices
 * and fences (a 256 MiB aperture leaves room for one `GVTg_V5_4` beside the host's reservation,
 * so the second vGPU joins the first's group) and uses the shared graphics addresses, its aperture and its fences
 * while the victim is resident.
 */
import { miStoreDataImm } from '../../device/commands/index.js';
import { fenceReg } from '../../device/registers.js';
import { PTE_PRESENT, pteHi, pteLo } from '../../gtt/pte.js';
import { PAGE_SIZE } from '../../types.js';
import type { WorldOptions } from '../world.js';
import type { Attack, AttackContext, Assert } from './types.js';
import { expectCompleted, writeGgtt } from './helpers.js';

const MiB = 1024 * 1024;

/** A world where the attacker shares the victim's slices: room in the aperture for one GVTg_V5_4 (128 MiB) beside the host's 128 MiB. */
const SHARED: WorldOptions = { device: { apertureSize: 256 * MiB }, mediator: { gscale: true }, attackerType: 'GVTg_V5_4', victimType: 'GVTg_V5_4' };

function expectShared(ctx: AttackContext, t: Assert): void {
  const p = ctx.h.mediator.partition;
  t.ok(p.sharers(ctx.attacker.vgpu.id).includes(ctx.victim.vgpu.id), 'the attacker shares the victim\'s slices');
}

/** Map GGTT entry `index` of `g` to a fresh page of its RAM; returns the page's guest-physical address. */
function mapOwnPage(ctx: AttackContext, index: number): number {
  const g = ctx.attacker;
  const gpa = g.driver.allocRam(1);
  const gfn = gpa / PAGE_SIZE;
  writeGgtt(g, index, pteLo(gfn, PTE_PRESENT | 2), pteHi(gfn));
  return gpa;
}

export const GSCALE_ATTACKS: readonly Attack[] = [
  {
    name: 'gscale-store-to-sharers-addresses',
    surface: 'ggtt',
    world: SHARED,
    expectation: 'with gScale a guest sharing the victim\'s slices may use the very graphics addresses of the victim\'s buffers: its GGTT stores there land in its own pages (its private GGTT is loaded before its work runs) and the victim\'s memory keeps its values',
    run(ctx) {
      ctx.h.runUntilIdle();
      // The attacker's own ring and context first (its driver allocates them in the same range);
      // then victim pages (buffers, canaries, rings, contexts) at addresses its own driver did not
      // use are remapped to pages of its own and stored to.
      ctx.attacker.engine('rcs');
      const own = ctx.attacker.driver['gttMap'] as Map<number, number>;
      const victimPages = [...(ctx.victim.driver['gttMap'] as Map<number, number>).keys()].filter((gma) => !own.has(gma)).slice(0, 8);
      const gpas: number[] = [];
      const cmds: number[] = [];
      for (const gma of victimPages) {
        gpas.push(mapOwnPage(ctx, gma / PAGE_SIZE));
        cmds.push(...miStoreDataImm(gma + 16, [0xbad00000 + gpas.length - 1], { ggtt: true }));
      }
      ctx.attacker.submit('rcs', cmds);
      ctx.data.gpas = gpas;
      ctx.data.loadsBefore = ctx.h.mediator.stats.ggttLoads;
    },
    expect(ctx, t) {
      expectShared(ctx, t);
      expectCompleted(ctx, t, ctx.attacker);
      const gpas = ctx.data.gpas as number[];
      t.ok(gpas.length >= 2, `victim pages at addresses the attacker remapped (${gpas.length})`);
      t.ok(gpas.every((gpa, k) => ctx.attacker.driver.readRam32(gpa + 16) === 0xbad00000 + k), 'each store landed in the attacker\'s own page');
      t.ok(ctx.h.mediator.stats.ggttLoads > (ctx.data.loadsBefore as number), 'the attacker\'s private GGTT was loaded for its work');
    },
  },
  {
    name: 'gscale-aperture-while-victim-resident',
    surface: 'ggtt',
    world: SHARED,
    expectation: 'with gScale a guest\'s aperture accesses go through its private GGTT (ladder mapping): while the victim is resident in the shared slice, the attacker\'s aperture reads and writes reach only its own pages, never the victim\'s',
    run(ctx) {
      const g = ctx.attacker, v = g.vgpu;
      // The victim's own aperture page, written by the victim through its aperture.
      const vb = ctx.victim.buffer(PAGE_SIZE, { mappable: true });
      const vbar2 = ctx.victim.vgpu.pci.barAddress(2);
      ctx.victim.vgpu.stub.write('mem', vbar2 + vb.gma, 4, 0x71c71c71);
      ctx.victim.submit('rcs', miStoreDataImm(vb.gma + 4, [0x71c70004], { ggtt: true }));
      ctx.h.runUntilIdle();
      ctx.data.victimResident = ctx.victim.vgpu.resident && !v.resident;
      const bar2 = v.pci.barAddress(2);
      // The attacker first reads the victim's page address without mapping it, then maps its own page there.
      ctx.data.unmappedRead = v.stub.read('mem', bar2 + vb.gma, 4);
      const gpa = mapOwnPage(ctx, vb.gma / PAGE_SIZE);
      v.stub.write('mem', bar2 + vb.gma + 8, 4, 0xa77ac4e5);
      ctx.data.reads = [v.stub.read('mem', bar2 + vb.gma, 4), v.stub.read('mem', bar2 + vb.gma + 4, 4), v.stub.read('mem', bar2 + vb.gma + 8, 4)];
      // The host-side facade of the aperture (an emulator's direct accesses) is ladder-mapped too.
      v.apertureWrite(vb.gma + 12, 4, 0xa77ac4e6);
      ctx.data.facadeRead = v.apertureRead(vb.gma + 12, 4);
      ctx.data.own = g.driver.readRam32(gpa + 8);
      ctx.data.own12 = g.driver.readRam32(gpa + 12);
      ctx.data.victimWords = [ctx.victim.read32(vb.gma), ctx.victim.read32(vb.gma + 4), ctx.victim.read32(vb.gma + 8), ctx.victim.read32(vb.gma + 12)];
    },
    expect(ctx, t) {
      expectShared(ctx, t);
      t.ok(ctx.data.victimResident, 'the victim was resident during the attack');
      t.equal(ctx.data.unmappedRead, 0, 'an entry the attacker never mapped reaches its own (zero) scratch page, not the victim\'s data');
      t.equal(JSON.stringify(ctx.data.reads), JSON.stringify([0, 0, 0xa77ac4e5]), 'the attacker reads its own page');
      t.equal(ctx.data.own, 0xa77ac4e5, 'its aperture write landed in its own RAM');
      t.equal(ctx.data.own12, 0xa77ac4e6, 'so did its write through Vgpu.apertureWrite');
      t.equal(ctx.data.facadeRead, 0xa77ac4e6, 'and Vgpu.apertureRead reads its own page');
      t.equal(JSON.stringify(ctx.data.victimWords), JSON.stringify([0x71c71c71, 0x71c70004, 0, 0]), 'the victim\'s page holds the victim\'s values only');
    },
  },
  {
    name: 'gscale-fence-while-out',
    surface: 'mmio',
    world: SHARED,
    expectation: 'with gScale fences are shared too: a fence the attacker programs while the victim is resident stays in its virtual register and reaches the host fence only when the attacker switches in; the victim\'s value is back when the victim runs again',
    run(ctx) {
      const vf = ctx.victim.vgpu, af = ctx.attacker.vgpu;
      const host = ctx.h.device.regs;
      const hf = fenceReg(vf.slices.fences[0]);
      vf.mmioWrite(fenceReg(0), 4, 0x00400001);
      ctx.victim.submit('rcs', miStoreDataImm(ctx.world.victim!.canary.gma + 64, [ctx.victim.read32(ctx.world.victim!.canary.gma + 64)], { ggtt: true }));
      ctx.h.runUntilIdle();
      af.mmioWrite(fenceReg(0), 4, 0x00800001);
      ctx.data.whileOut = host.read(hf, 4);
      ctx.data.attackerView = af.mmioRead(fenceReg(0), 4);
      const buf = ctx.attacker.buffer(PAGE_SIZE);
      ctx.attacker.submit('rcs', miStoreDataImm(buf.gma, [1], { ggtt: true }));
      ctx.h.runUntilIdle();
      ctx.data.attackerIn = host.read(hf, 4);
      ctx.victim.submit('rcs', miStoreDataImm(ctx.world.victim!.canary.gma + 64, [ctx.victim.read32(ctx.world.victim!.canary.gma + 64)], { ggtt: true }));
      ctx.h.runUntilIdle();
      ctx.data.victimBack = host.read(hf, 4);
    },
    expect(ctx, t) {
      expectShared(ctx, t);
      t.equal(ctx.data.whileOut, 0x00400001, 'the host fence kept the victim\'s value while the attacker was out');
      t.equal(ctx.data.attackerView, 0x00800001, 'the attacker reads its own value');
      t.equal(ctx.data.attackerIn, 0x00800001, 'the attacker\'s value reached the host fence with its switch-in');
      t.equal(ctx.data.victimBack, 0x00400001, 'the victim\'s value is back when it runs');
    },
  },
];
