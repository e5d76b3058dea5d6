/**
 * Attacks on BAR0 registers: everything a guest vCPU can do with MMIO accesses.
 */
import { miStoreDataImm } from '../../device/commands/index.js';
import { Bits, REG, RING, fenceReg } from '../../device/registers.js';
import { MMIO_SPACE_BYTES } from '../../mmio/table.js';
import type { Attack, AttackContext } from './types.js';
import { hostRegisters, onDevice, runUntil } from './helpers.js';

const RCS = 0x2000;

/** Host registers changed since `snap` outside the attacker's fences (computed before time runs). */
function hostChanges(ctx: AttackContext, snap: Uint32Array): string[] {
  return ctx.world.hostRegisterChanges(snap, [ctx.attacker.vgpu]).map((v) => v.message);
}

export const MMIO_ATTACKS: readonly Attack[] = [
  {
    name: 'mmio-untracked-offsets',
    surface: 'mmio',
    expectation: 'writes to offsets no register covers stay in the vGPU (dropped and counted); reads return 0; no host register changes',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const snap = hostRegisters(ctx);
      const offsets = [0x2000, 0x2004, 0x1000, 0x4, 0x1ffffc, 0x12010, 0x3f000];
      const before = v.vregs.stats.untrackedWrites;
      for (const o of offsets) v.mmioWrite(o, 4, 0xdeadbeef);
      ctx.data.reads = offsets.map((o) => v.mmioRead(o, 4));
      ctx.data.counted = v.vregs.stats.untrackedWrites - before;
      ctx.data.host = hostChanges(ctx, snap);
    },
    expect(ctx, t) {
      t.ok((ctx.data.reads as number[]).every((x) => x === 0 || x === 0xdeadbeef), 'reads answer 0 or the vGPU\'s own value');
      t.equal(ctx.data.counted, 7, 'every untracked write counted');
      t.equal((ctx.data.host as string[]).length, 0, `no host register changed ${(ctx.data.host as string[]).join('; ')}`);
    },
  },
  {
    name: 'mmio-read-only-registers',
    surface: 'mmio',
    expectation: 'writes to read-only registers (IPEHR, INSTDONE, EXECLIST_STATUS, CSB entries, the CSB pointer\'s read-only bits) leave their values; nothing reaches the host',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const regs = [RCS + RING.IPEHR, RCS + 0x6c, RCS + RING.EXECLIST_STATUS_LO, RCS + RING.EXECLIST_STATUS_HI, RCS + RING.CSB0_LO, RCS + RING.CSB0_LO + 4];
      const before = regs.map((o) => v.mmioRead(o, 4));
      const ptrBefore = v.mmioRead(RCS + RING.CSB_PTR, 4);
      const snap = hostRegisters(ctx);
      for (const o of regs) v.mmioWrite(o, 4, 0x5a5a5a5a);
      v.mmioWrite(RCS + RING.CSB_PTR, 4, 0xffffffff);
      ctx.data.before = before;
      ctx.data.after = regs.map((o) => v.mmioRead(o, 4));
      ctx.data.ptr = [ptrBefore & 7, v.mmioRead(RCS + RING.CSB_PTR, 4) & 7];
      ctx.data.host = hostChanges(ctx, snap);
    },
    expect(ctx, t) {
      t.equal(JSON.stringify(ctx.data.after), JSON.stringify(ctx.data.before), 'read-only registers keep their values');
      const [a, b] = ctx.data.ptr as number[];
      t.equal(b, a, 'the CSB write pointer (read-only bits) is unchanged');
      t.equal((ctx.data.host as string[]).length, 0, 'no host register changed');
    },
  },
  {
    name: 'mmio-mode-mask-abuse',
    surface: 'mmio',
    expectation: 'mode-mask registers change only the bits the upper half enables, in the vGPU only: STOP_RING in its MI_MODE and execlists off in its GFX_MODE do not stop the host engine; the victim completes',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const gfx = RCS + RING.GFX_MODE;
      const before = v.mmioRead(gfx, 4);
      v.mmioWrite(gfx, 4, 0x0000_0000); // no mask bits: no change
      ctx.data.unmasked = [before, v.mmioRead(gfx, 4)];
      const snap = hostRegisters(ctx);
      v.mmioWrite(RCS + RING.MI_MODE, 4, (Bits.STOP_RING << 16) | Bits.STOP_RING);
      v.mmioWrite(gfx, 4, 0xffff_0000); // every bit cleared, execlists included
      ctx.data.miMode = v.mmioRead(RCS + RING.MI_MODE, 4);
      ctx.data.host = hostChanges(ctx, snap);
      const buf = ctx.victim.ppgttBuffer(4096);
      ctx.data.buf = buf;
      ctx.victim.submit('rcs', miStoreDataImm(buf.gma, [0x600d]));
    },
    expect(ctx, t) {
      const [a, b] = ctx.data.unmasked as number[];
      t.equal(b, a, 'a write without mask bits changes nothing');
      t.ok(((ctx.data.miMode as number) & Bits.STOP_RING) !== 0, 'the attacker\'s own MI_MODE took STOP_RING (virtual)');
      t.equal((ctx.data.host as string[]).length, 0, 'the host MI_MODE and GFX_MODE are untouched');
      t.equal(ctx.h.device.regs.peek(RCS + RING.MI_MODE) & Bits.STOP_RING, 0, 'the host RCS is not stopped');
      t.equal(ctx.victim.memory.read32((ctx.data.buf as { gpa: number }).gpa), 0x600d, 'the victim\'s RCS workload ran');
    },
  },
  {
    name: 'mmio-unaligned-and-cross-register',
    surface: 'mmio',
    expectation: 'unaligned accesses, accesses straddling two registers, and 8-byte accesses crossing into PVINFO, the reserved range or past BAR0 are refused and counted; nothing changes',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const hws = RCS + RING.HWS_PGA;
      const before = v.mmioRead(hws, 4);
      const magic = v.mmioRead(0x78000, 4);
      const refused = v.vregs.stats.refused;
      v.mmioWrite(hws + 1, 4, 0xffffffff);
      v.mmioWrite(hws + 3, 2, 0xffff);
      v.mmioWrite(hws - 4, 8, 0xffffffff); // two registers, not 8-aligned
      v.mmioWrite(0x77ffc, 8, 2 ** 52); // into PVINFO
      v.mmioWrite(MMIO_SPACE_BYTES - 4, 8, 2 ** 52); // into the reserved range
      v.mmioWrite(16 * 1024 * 1024 - 4, 8, 2 ** 52); // past BAR0
      ctx.data.r = [before, v.mmioRead(hws, 4), magic, v.mmioRead(0x78000, 4), v.vregs.stats.refused - refused, v.mmioRead(hws + 1, 4)];
    },
    expect(ctx, t) {
      const [before, after, magic, magicAfter, refused, odd] = ctx.data.r as number[];
      t.equal(after, before, 'the register keeps its value');
      t.equal(magicAfter, magic, 'PVINFO is untouched');
      t.ok(refused >= 3, `unaligned accesses refused and counted (${refused})`);
      t.equal(odd, 0, 'an unaligned read answers 0');
    },
  },
  {
    name: 'mmio-bad-offsets-and-sizes',
    surface: 'mmio',
    expectation: 'huge, negative, fractional and non-numeric offsets and sizes other than 1, 2, 4, 8 are answered as nothing there (reads 0, writes dropped), counted, never thrown',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const before = v.counters.badAccesses;
      const offsets = [-4, -1, 0.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 64, 16 * 1024 * 1024];
      const sizes = [0, 3, 5, 16, -4, NaN, 4.5, 2 ** 40];
      const reads: number[] = [];
      for (const o of offsets) for (const s of [4, ...sizes]) {
        v.mmioWrite(o, s, 0xffffffff);
        reads.push(v.mmioRead(o, s));
      }
      for (const s of sizes) {
        v.mmioWrite(0x2080, s, 0xffffffff);
        reads.push(v.mmioRead(0x2080, s));
      }
      ctx.data.reads = reads;
      ctx.data.counted = v.counters.badAccesses - before;
    },
    expect(ctx, t) {
      t.ok((ctx.data.reads as number[]).every((x) => x === 0), 'every bad read answers 0');
      t.ok((ctx.data.counted as number) >= 2 * 11 * 9, `bad accesses counted (${ctx.data.counted})`);
    },
  },
  {
    name: 'mmio-gdrst-host-reset',
    surface: 'mmio',
    expectation: 'a guest writing GEN6_GDRST (full and per-engine reset) resets nothing on the host: the victim\'s in-flight workload completes',
    run(ctx) {
      const vb = ctx.victim.ppgttBuffer(4096);
      ctx.data.buf = vb;
      const big: number[] = [];
      for (let i = 0; i < 400; i++) big.push(...miStoreDataImm(vb.gma + 4 * (i % 256), [0x1000 + i]));
      ctx.world.settle();
      ctx.victim.submit('rcs', big);
      // Until the victim's long workload is on the device.
      ctx.data.inflight = runUntil(ctx, () => onDevice(ctx, ctx.victim) && ctx.h.device.engines[0].busy);
      const v = ctx.attacker.vgpu;
      v.mmioWrite(REG.GEN6_GDRST, 4, 0xffffffff);
      v.mmioWrite(REG.GEN6_GDRST, 4, 1);
    },
    expect(ctx, t) {
      t.ok(ctx.data.inflight, 'the victim\'s workload was in flight when the attacker wrote GDRST');
      t.equal(ctx.victim.memory.read32((ctx.data.buf as { gpa: number }).gpa + 4 * (399 % 256)), 0x1000 + 399, 'the victim\'s workload ran to its end');
    },
  },
  {
    name: 'mmio-fences-beyond-count',
    surface: 'mmio',
    expectation: 'fence writes beyond the vGPU\'s fence count are refused and counted; its own fences reach only its own host fences; the victim\'s host fences keep their values',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const vf = ctx.victim.vgpu.slices.fences;
      ctx.victim.vgpu.mmioWrite(fenceReg(0), 4, 0x1234_5001);
      const victimHost = vf.map((f) => ctx.h.device.regs.peek(fenceReg(f)));
      const before = v.counters.fenceRefused;
      for (let i = 0; i < 32; i++) {
        v.mmioWrite(fenceReg(i), 4, 0xfffff001);
        v.mmioWrite(fenceReg(i) + 4, 4, 0xfffff000);
      }
      ctx.data.victimHost = [victimHost, vf.map((f) => ctx.h.device.regs.peek(fenceReg(f)))];
      ctx.data.refused = v.counters.fenceRefused - before;
      ctx.data.own = ctx.h.device.regs.peek(fenceReg(v.slices.fences[0]));
      ctx.data.count = v.slices.fences.length;
    },
    expect(ctx, t) {
      const [a, b] = ctx.data.victimHost as number[][];
      t.equal(JSON.stringify(b), JSON.stringify(a), 'the victim\'s host fences are unchanged');
      t.equal(ctx.data.refused, 2 * (32 - (ctx.data.count as number)), 'every write beyond the fence count refused');
      t.equal(ctx.data.own, 0xfffff001, 'the attacker\'s fence 0 reached its own host fence');
    },
  },
  {
    name: 'mmio-interrupt-registers',
    surface: 'mmio',
    expectation: 'writes to the master interrupt control and the GT interrupt banks change only the vGPU\'s virtual interrupts; the host\'s stay; the victim still gets its interrupts',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const snap = hostRegisters(ctx);
      v.mmioWrite(REG.GEN8_MASTER_IRQ, 4, 0xffffffff);
      for (let n = 0; n < 4; n++) for (const k of [0, 4, 8, 0xc]) v.mmioWrite(0x44300 + 0x10 * n + k, 4, 0xffffffff);
      v.mmioWrite(REG.GEN8_MASTER_IRQ, 4, 0);
      ctx.data.host = hostChanges(ctx, snap);
      ctx.data.victimIrqs = ctx.victim.vgpu.counters.interruptsDelivered;
    },
    expect(ctx, t) {
      t.equal((ctx.data.host as string[]).length, 0, `no host interrupt register changed ${(ctx.data.host as string[]).join('; ')}`);
      t.ok(ctx.victim.vgpu.counters.interruptsDelivered > (ctx.data.victimIrqs as number), 'the victim received interrupts for its work');
    },
  },
  {
    name: 'mmio-reserved-range',
    surface: 'mmio',
    expectation: 'accesses to BAR0\'s reserved range [2 MiB, 8 MiB) read 0, are dropped and counted',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const before = v.counters.reservedAccesses;
      const reads: number[] = [];
      for (const o of [MMIO_SPACE_BYTES, MMIO_SPACE_BYTES + 0x78000, 6 * 1024 * 1024, 8 * 1024 * 1024 - 8]) {
        v.mmioWrite(o, 4, 0xffffffff);
        v.mmioWrite(o, 8, 2 ** 52);
        reads.push(v.mmioRead(o, 4), v.mmioRead(o, 8));
      }
      ctx.data.reads = reads;
      ctx.data.counted = v.counters.reservedAccesses - before;
    },
    expect(ctx, t) {
      t.ok((ctx.data.reads as number[]).every((x) => x === 0), 'reserved reads answer 0');
      t.equal(ctx.data.counted, 16, 'every reserved access counted');
    },
  },
];
