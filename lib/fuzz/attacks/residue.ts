/**
 * Attacks on what outlives a guest: register values its commands leave on the device (the residue
 * rule, docs/isolation.md), the shadow PPGTT roots in the ring's PDP registers, and a vGPU handle
 * kept after `destroy()` (the host API boundary).
 */
import { miLoadRegisterImm, miLoadRegisterReg, miStoreRegisterMem, pipeControl } from '../../device/commands/index.js';
import { RING } from '../../device/registers.js';
import { GvtError } from '../../errors.js';
import { VGT_PVINFO_PAGE } from '../../mediator/pvinfo.js';
import { PAGE_SIZE, TWO_POW_32 } from '../../types.js';
import type { TestGuest } from '../../harness/index.js';
import type { Attack, AttackContext, Assert } from './types.js';
import { expectCompleted, workloadsOf } from './helpers.js';

/** Registers (render engine) and the secrets the sender loads into them. */
const SECRETS: readonly (readonly [number, number, string])[] = [
  [0x2600, 0x5ec00001, 'CS_GPR0'],
  [0x2604, 0x5ec00002, 'CS_GPR0 (high)'],
  [0x2678, 0x5ec0000f, 'CS_GPR15 (high)'],
  [0x2400, 0x5ec00010, 'MI_PREDICATE_SRC0'],
  [0x2408, 0x5ec00011, 'MI_PREDICATE_SRC1'],
  [0xb024, 0x00350035, 'GEN9_LNCFCMOCS[1]'],
  [0xc80c, 0x5ec00013, 'RCS_MOCS[3]'],
  [0x2500, 0x5ec00014, 'GPGPU_DISPATCHDIMX'],
];
/** What the sender moves into PS_DEPTH_COUNT by MI_LOAD_REGISTER_REG (from GPR1). */
const DEPTH_SECRET = [0x5ec0de01, 0x00c0ffee] as const;

/**
 * The sender's program: LRI the secrets; PS_DEPTH_COUNT through GPR1 by MI_LOAD_REGISTER_REG, or
 * (`strict`: GVT-g's short list refuses LRR and SRM) by LRI.
 */
function sendSecrets(g: TestGuest, strict: boolean): void {
  const depth = strict ? miLoadRegisterImm([[0x2350, DEPTH_SECRET[0]], [0x2354, DEPTH_SECRET[1]]]) : [
    ...miLoadRegisterImm([[0x2608, DEPTH_SECRET[0]], [0x260c, DEPTH_SECRET[1]]]),
    ...miLoadRegisterReg(0x2608, 0x2350), ...miLoadRegisterReg(0x260c, 0x2354),
  ];
  g.submit('rcs', [...miLoadRegisterImm(SECRETS.map(([r, v]) => [r, v] as const)), ...depth]);
}

/** The receiver's program: SRM every register and a depth-count post-sync into its own GGTT buffer. */
function receive(g: TestGuest, srm: boolean): number {
  const buf = g.buffer(PAGE_SIZE);
  const cmds: number[] = [];
  if (srm) SECRETS.forEach(([r], k) => cmds.push(...miStoreRegisterMem(r, buf.gma + 4 * k, { ggtt: true })));
  cmds.push(...pipeControl({ postSyncOp: 2, address: buf.gma + 0x100, ggtt: true }));
  g.submit('rcs', cmds);
  return buf.gma;
}

function residueAttack(name: string, strict: boolean): Attack {
  return {
    name,
    surface: 'commands',
    world: strict ? { parser: { strictSrmLrm: true } } : undefined,
    expectation: strict
      ? 'with GVT-g\'s short SRM/LRM list (no SRM, no LRR), a guest still loads PS_DEPTH_COUNT by LRI and another guest reads it without SRM, by a PIPE_CONTROL depth-count post-sync: that guest reads its own value, not the sender\'s (the register is switched per vGPU)'
      : 'values a guest loads into command-accessible registers (GPRs, MI_PREDICATE_SRC0/1, MOCS, L3CC, dispatch dimensions, PS_DEPTH_COUNT by MI_LOAD_REGISTER_REG) are invisible to the next guest\'s MI_STORE_REGISTER_MEM and PIPE_CONTROL depth-count post-sync; the sender gets its own values back when it runs again',
    run(ctx) {
      const sender = ctx.attacker;
      const receiver = ctx.world.newAttacker();
      sendSecrets(sender, strict);
      ctx.world.settle();
      ctx.data.received = receive(receiver, !strict);
      ctx.data.receiver = receiver;
      ctx.world.settle();
      // The sender runs again: its values come back.
      const back = sender.buffer(PAGE_SIZE);
      const gpr = strict ? [] : miStoreRegisterMem(0x2600, back.gma, { ggtt: true }); // GPRs are not on GVT-g's SRM list
      sender.submit('rcs', [...gpr, ...pipeControl({ postSyncOp: 2, address: back.gma + 8, ggtt: true })]);
      ctx.data.back = back.gma;
    },
    expect(ctx, t) {
      const receiver = ctx.data.receiver as TestGuest;
      const at = ctx.data.received as number;
      expectCompleted(ctx, t, ctx.attacker, 2);
      expectCompleted(ctx, t, receiver);
      if (!strict) {
        SECRETS.forEach(([, v, n], k) => t.ok(receiver.read32(at + 4 * k) !== v, `the receiver does not read the sender's ${n} (0x${receiver.read32(at + 4 * k).toString(16)})`));
      }
      t.ok(receiver.read32(at + 0x100) !== DEPTH_SECRET[0] && receiver.read32(at + 0x104) !== DEPTH_SECRET[1], 'the receiver\'s depth count is not the sender\'s');
      const back = ctx.data.back as number;
      if (!strict) t.equal(ctx.attacker.read32(back), SECRETS[0][1], 'the sender reads its own GPR0 back');
      t.equal(ctx.attacker.read32(back + 8), DEPTH_SECRET[0], 'and its own depth count');
    },
  };
}

/** Every method of a destroyed vGPU the stale-handle attack tries, with arguments aimed at the slice's next owner. */
function staleCalls(ctx: AttackContext, off: number): [string, () => unknown][] {
  const v = ctx.attacker.vgpu;
  return [
    ['apertureWrite', () => v.apertureWrite(off, 4, 0xbadbad)],
    ['apertureRead', () => v.apertureRead(off, 4)],
    ['mmioRead(PVINFO)', () => v.mmioRead(VGT_PVINFO_PAGE, 4)],
    ['mmioWrite', () => v.mmioWrite(0x2000 + RING.HWSTAM, 4, 0)],
    ['access(aperture)', () => v.access('mem', v.pci.barAddress(2) + off, 4, true, 0xbadbad)],
    ['guestWrite32', () => v.guestWrite32(0, 0xbadbad)],
    ['pciConfigRead', () => v.pciConfigRead(0, 4)],
    ['reset', () => v.reset()],
    ['destroy', () => v.destroy()],
  ];
}

export const RESIDUE_ATTACKS: readonly Attack[] = [
  residueAttack('cmd-register-residue', false),
  residueAttack('cmd-depth-count-residue-strict-srm', true),
  {
    name: 'cmd-srm-pdp-shadow-root',
    surface: 'commands',
    expectation: 'MI_STORE_REGISTER_MEM and MI_LOAD_REGISTER_REG of the ring\'s PDP registers read the guest\'s own page-table root, never the host-physical address of its shadow PPGTT',
    run(ctx) {
      const g = ctx.attacker;
      const buf = g.buffer(PAGE_SIZE);
      const pdp = 0x2000 + RING.PDP0_LDW;
      g.submit('rcs', [
        ...miStoreRegisterMem(pdp, buf.gma, { ggtt: true }), ...miStoreRegisterMem(pdp + 4, buf.gma + 4, { ggtt: true }),
        ...miLoadRegisterReg(pdp, 0x2600), ...miStoreRegisterMem(0x2600, buf.gma + 8, { ggtt: true }),
      ]);
      ctx.data.buf = buf.gma;
    },
    expect(ctx, t) {
      const g = ctx.attacker;
      expectCompleted(ctx, t, g);
      const w = workloadsOf(ctx, g).at(-1)!;
      const at = ctx.data.buf as number;
      const root = w.pdps[0];
      t.ok(root > 0, 'the attacker\'s context has a PPGTT');
      t.equal(g.read32(at) + g.read32(at + 4) * TWO_POW_32, root, 'SRM of PDP0 reads the guest\'s root');
      t.equal(g.read32(at + 8), root % TWO_POW_32, 'LRR of PDP0 reads the guest\'s root');
    },
  },
  {
    name: 'api-stale-handle-after-destroy',
    surface: 'resources',
    expectation: 'a vGPU handle kept after destroy() reaches nothing: aperture reads and writes, PVINFO and every other method throw E_STATE, and the guest that gets the slice next keeps its memory',
    run(ctx) {
      const old = ctx.attacker;
      const off = old.vgpu.slices.lowBase + 0x1000;
      old.vgpu.destroy();
      ctx.world.settle();
      const next = ctx.world.newAttacker();
      ctx.data.next = next;
      ctx.data.sameSlice = next.vgpu.slices.lowBase === old.vgpu.slices.lowBase;
      next.vgpu.apertureWrite(off, 4, 0x600d600d);
      const codes: string[] = [];
      for (const [name, call] of staleCalls(ctx, off)) {
        try {
          call();
          codes.push(`${name}: returned`);
        } catch (e) {
          codes.push(`${name}: ${e instanceof GvtError ? e.code : String(e)}`);
        }
      }
      ctx.data.codes = codes;
      ctx.data.after = next.vgpu.apertureRead(off, 4);
    },
    expect(ctx, t: Assert) {
      t.ok(ctx.data.sameSlice, 'the next guest got the destroyed guest\'s slice');
      for (const c of ctx.data.codes as string[]) t.ok(c.endsWith(': E_STATE'), c);
      t.equal(ctx.data.after, 0x600d600d, 'the next guest\'s aperture page is untouched');
    },
  },
];
