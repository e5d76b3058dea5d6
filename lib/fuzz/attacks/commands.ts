/**
 * Attacks through command buffers: one per audit rule (`AUDIT_RULES`), plus nesting, chains, ring
 * shapes, copy-then-audit, and blits out of bounds.
 */
import {
  encodeByName, miBatchBufferEnd, miBatchBufferStart, miLoadRegisterImm, miNoop, miStoreDataImm, miStoreRegisterMem, xyColorBlt,
} from '../../device/commands/index.js';
import { CtxReg, encodeDescriptor } from '../../device/lrc.js';
import { PAGE_SIZE } from '../../types.js';
import type { Attack } from './types.js';
import { contextValue, expectCompleted, expectRefused, onDevice, runUntil, setContextValue, submitWith, workloadsOf } from './helpers.js';

/** One attack per rule: the program and, when it needs one, the parser limits. */
function ruleAttack(name: string, rule: string, expectation: string, run: Attack['run'], world?: Attack['world']): Attack {
  return { name, surface: 'commands', expectation, world, run, expect: (ctx, t) => void expectRefused(ctx, t, rule) };
}

export const COMMAND_ATTACKS: readonly Attack[] = [
  ruleAttack('cmd-register-whitelist', 'register-whitelist',
    'MI_LOAD_REGISTER_IMM to a register without CMD_ACCESS (the master interrupt control) is refused by register-whitelist; the host register is untouched',
    (ctx) => ctx.attacker.submitBatch('rcs', miLoadRegisterImm([[0x7000, 0x10001], [0x44200, 0]]))),
  ruleAttack('cmd-register-range', 'register-range',
    'MI_LOAD_REGISTER_IMM naming a register beyond the 2 MiB register space (the GTT half of BAR0) is refused by register-range',
    (ctx) => ctx.attacker.submit('rcs', miLoadRegisterImm([[0x200000, 0]]))),
  ruleAttack('cmd-register-privileged', 'register-privileged',
    'MI_LOAD_REGISTER_IMM from the blitter ring to the render engine\'s MI_MODE (STOP_RING) is refused by register-privileged: another engine\'s register',
    (ctx) => ctx.attacker.submit('bcs', miLoadRegisterImm([[0x209c, 0x01000100]]))),
  ruleAttack('cmd-register-value', 'register-value',
    'MI_LOAD_REGISTER_IMM of a PML4 the vGPU has no shadow of into the ring\'s PDP0 is refused by register-value; the host PDPs keep shadow roots',
    (ctx) => ctx.attacker.submit('rcs', miLoadRegisterImm([[0x2274, 0], [0x2270, 0x1000]]))),
  ruleAttack('cmd-unsupported-guest', 'unsupported-guest',
    'MI_LOAD_REGISTER_IMM enabling RING_MODE bit 1 (GVT-g: failsafe, unsupported guest) is refused by unsupported-guest',
    (ctx) => ctx.attacker.submit('rcs', miLoadRegisterImm([[0x229c, 0x00020002]]))),
  ruleAttack('cmd-address-bounds', 'address-bounds',
    'MI_STORE_DATA_IMM and MI_STORE_REGISTER_MEM to the victim\'s GGTT address are refused by address-bounds; the victim\'s memory is untouched',
    (ctx) => {
      const target = ctx.world.victim!.ggttBuf.gma;
      ctx.attacker.submit('rcs', [...miStoreRegisterMem(0x2358, target, { ggtt: true }), ...miStoreDataImm(target, [0xbad], { ggtt: true })]);
    }),
  {
    name: 'cmd-privileged-command',
    surface: 'commands',
    expectation: 'MI_UPDATE_GTT (a GGTT writer), MI_STORE_DATA_INDEX, MI_SEMAPHORE_WAIT and MI_SET_CONTEXT are each refused by privileged-command',
    run(ctx) {
      const g = ctx.attacker;
      const cmds = [
        encodeByName('MI_UPDATE_GTT', [0, 0x1000, 0x1001]),
        encodeByName('MI_STORE_DATA_INDEX', [0x40, 0xbad]),
        encodeByName('MI_SEMAPHORE_WAIT', [0, ctx.world.victim!.ggttBuf.gma, 0]),
        encodeByName('MI_SET_CONTEXT', [ctx.victim.engine('rcs').context.gma | 1]),
      ];
      for (const c of cmds) {
        g.submit('rcs', c);
        ctx.world.settle();
        ctx.world.recoverEngine(g, 'rcs', false);
      }
    },
    expect(ctx, t) {
      const ws = workloadsOf(ctx, ctx.attacker);
      t.equal(ws.filter((w) => w.failure?.rule === 'privileged-command').length, 4, `all four refused by privileged-command (${ws.map((w) => `${w.failure?.rule}: ${w.failure?.command}`).join(', ')})`);
    },
  },
  {
    name: 'cmd-ggtt-from-ppgtt-batch',
    surface: 'commands',
    expectation: 'a GGTT store from a non-privileged (PPGTT) batch is refused by privileged-command even when the address is the guest\'s own',
    run(ctx) {
      const own = ctx.attacker.buffer(PAGE_SIZE);
      ctx.attacker.submitBatch('rcs', miStoreDataImm(own.gma, [1], { ggtt: true }));
    },
    expect: (ctx, t) => void expectRefused(ctx, t, 'privileged-command'),
  },
  ruleAttack('cmd-unknown-command', 'unknown-command',
    'a header no command of the engine matches is refused by unknown-command and, by policy, puts the attacker (only) in failsafe',
    (ctx) => ctx.attacker.submitBatch('rcs', [0x1f000005, 0, 0, 0, 0, 0, 0])),
  ruleAttack('cmd-malformed-command', 'malformed-command',
    'an MI_LOAD_REGISTER_IMM whose length is not pairs, or MI_BATCH_BUFFER_END in the ring, is refused by malformed-command',
    (ctx) => ctx.attacker.submit('rcs', [0x11000002, 0x2358, 0, 0x235c, ...miBatchBufferEnd()])),
  ruleAttack('cmd-batch-depth', 'batch-depth',
    'a second-level batch start straight from the ring, or a start inside a second-level batch, is refused by batch-depth',
    (ctx) => {
      const b = ctx.attacker.ppgttBuffer(PAGE_SIZE);
      ctx.attacker.driver.writeRam32(b.gpa, miBatchBufferEnd());
      ctx.attacker.submit('rcs', [...miBatchBufferStart(b.gma, { ppgtt: true, secondLevel: true }), ...miNoop()]);
    }),
  ruleAttack('cmd-batch-loop', 'batch-loop',
    'a batch that chains to itself is refused by batch-loop instead of running forever',
    (ctx) => {
      const b = ctx.attacker.ppgttBuffer(PAGE_SIZE);
      ctx.attacker.driver.writeRam32(b.gpa, [...miNoop(), ...miBatchBufferStart(b.gma, { ppgtt: true })]);
      ctx.attacker.submit('rcs', [...miBatchBufferStart(b.gma, { ppgtt: true }), ...miNoop()]);
    }),
  ruleAttack('cmd-command-budget', 'command-budget',
    'a workload of more commands than the budget (here 4096) is refused by command-budget: audit work is bounded',
    (ctx) => ctx.attacker.submitBatch('rcs', new Array(8192).fill(0)),
    { parser: { maxCommands: 4096 } }),
  ruleAttack('cmd-batch-size', 'batch-size',
    'a batch that runs past the batch size limit (here 16 KiB) without MI_BATCH_BUFFER_END is refused by batch-size',
    (ctx) => ctx.attacker.submitBatch('rcs', new Array(8 * 1024).fill(0), { noEnd: true }),
    { parser: { maxBatchBytes: 16 * 1024 } }),
  ruleAttack('cmd-ring-tail-beyond-ring', 'ring-bounds',
    'a ring tail beyond the ring\'s size (and a ring start outside the vGPU\'s memory) is refused by ring-bounds',
    (ctx) => {
      const g = ctx.attacker;
      const e = g.engine('rcs');
      setContextValue(g, 'rcs', CtxReg.RING_TAIL, 0x10000);
      g.driver.submitElsp(e.engine, encodeDescriptor({ lrca: e.context.gma, contextId: e.contextId }));
    }),
  {
    name: 'cmd-ring-zero-length',
    surface: 'commands',
    expectation: 'a ring whose control register is not valid (a ring of zero length), or whose start lies outside the vGPU\'s memory, is refused before any command is read (ring-context, ring-bounds)',
    run(ctx) {
      const g = ctx.attacker;
      setContextValue(g, 'rcs', CtxReg.RING_BUFFER_CONTROL, 0);
      submitWith(g, 'rcs', miNoop());
      ctx.world.settle();
      setContextValue(g, 'rcs', CtxReg.RING_BUFFER_CONTROL, (16 * 1024 - PAGE_SIZE) | 1);
      const start = contextValue(g, 'rcs', CtxReg.RING_BUFFER_START);
      setContextValue(g, 'rcs', CtxReg.RING_BUFFER_START, ctx.world.victim!.g.engine('rcs').ring.gma);
      submitWith(g, 'rcs', miNoop());
      ctx.world.settle();
      setContextValue(g, 'rcs', CtxReg.RING_BUFFER_START, start);
    },
    expect(ctx, t) {
      expectRefused(ctx, t, 'ring-context');
      expectRefused(ctx, t, 'ring-bounds');
    },
  },
  {
    name: 'cmd-cut-by-ring-tail',
    surface: 'commands',
    expectation: 'a command cut by the end of the submitted segment is refused by malformed-command; a command that wraps around the physical end of the ring is legitimate and runs',
    world: { failsafe: 'never' },
    run(ctx) {
      const g = ctx.attacker;
      const buf = g.ppgttBuffer(PAGE_SIZE);
      ctx.data.buf = buf;
      // Half of a 4-dword store, then the tail.
      const sdi = miStoreDataImm(buf.gma, [0xc07]);
      submitWith(g, 'rcs', sdi.slice(0, 2));
      ctx.world.settle();
      // Skip the refused piece, then place a store across the ring's physical end.
      const e = g.engine('rcs');
      const end = e.ring.bytes - 8;
      setContextValue(g, 'rcs', CtxReg.RING_HEAD, end);
      e.tail = end;
      g.submit('rcs', miStoreDataImm(buf.gma + 4, [0x3a9]));
    },
    expect(ctx, t) {
      expectRefused(ctx, t, 'malformed-command');
      const buf = ctx.data.buf as { gpa: number };
      t.equal(ctx.attacker.memory.read32(buf.gpa + 4), 0x3a9, 'the store that wraps around the ring end ran');
      t.equal(ctx.attacker.memory.read32(buf.gpa), 0, 'the cut store never ran');
    },
  },
  {
    name: 'cmd-deep-chains-and-nesting',
    surface: 'commands',
    expectation: 'a chain of 70 batches (each starting the next) is refused by batch-loop at the chain limit; a start inside a second-level batch is refused by batch-depth; audit work stays bounded',
    world: { failsafe: 'never' },
    run(ctx) {
      const g = ctx.attacker;
      const bufs = Array.from({ length: 70 }, () => g.ppgttBuffer(PAGE_SIZE));
      bufs.forEach((b, i) => g.driver.writeRam32(b.gpa, i + 1 < bufs.length ? miBatchBufferStart(bufs[i + 1].gma, { ppgtt: true }) : miBatchBufferEnd()));
      g.submit('rcs', [...miBatchBufferStart(bufs[0].gma, { ppgtt: true }), ...miNoop()]);
      ctx.world.settle();
      ctx.world.recoverEngine(g, 'rcs', false);
      const [a, b, c] = [g.ppgttBuffer(PAGE_SIZE), g.ppgttBuffer(PAGE_SIZE), g.ppgttBuffer(PAGE_SIZE)];
      g.driver.writeRam32(c.gpa, miBatchBufferEnd());
      g.driver.writeRam32(b.gpa, [...miBatchBufferStart(c.gma, { ppgtt: true, secondLevel: true }), ...miBatchBufferEnd()]);
      g.driver.writeRam32(a.gpa, [...miBatchBufferStart(b.gma, { ppgtt: true, secondLevel: true }), ...miBatchBufferEnd()]);
      g.submit('rcs', [...miBatchBufferStart(a.gma, { ppgtt: true }), ...miNoop()]);
    },
    expect(ctx, t) {
      expectRefused(ctx, t, 'batch-loop');
      expectRefused(ctx, t, 'batch-depth');
    },
  },
  {
    name: 'cmd-rewrite-after-audit',
    surface: 'commands',
    expectation: 'copy-then-audit: a guest rewriting its batch after the mediator copied it (a store aimed at the victim) changes nothing the device runs; the audited copy runs',
    run(ctx) {
      const g = ctx.attacker;
      const out = g.ppgttBuffer(PAGE_SIZE);
      const batch = g.ppgttBuffer(PAGE_SIZE);
      ctx.data.out = out;
      const words: number[] = [];
      for (let i = 0; i < 64; i++) words.push(...miStoreDataImm(out.gma + 4 * i, [0x600d0000 + i]));
      g.driver.writeRam32(batch.gpa, [...words, ...miBatchBufferEnd()]);
      g.submit('rcs', [...miBatchBufferStart(batch.gma, { ppgtt: true }), ...miNoop()]);
      // Until it is on the device: audited and copied.
      ctx.data.dispatched = runUntil(ctx, () => onDevice(ctx, g));
      const evil: number[] = [];
      for (let i = 0; i < 64; i++) evil.push(...miStoreDataImm(ctx.world.victim!.ggttBuf.gma + 4 * i, [0xbad], { ggtt: true }));
      g.driver.writeRam32(batch.gpa, [...evil, ...miBatchBufferEnd()]);
    },
    expect(ctx, t) {
      t.ok(ctx.data.dispatched, 'the workload was on the device when the guest rewrote its batch');
      const out = ctx.data.out as { gpa: number };
      t.equal(ctx.attacker.memory.read32(out.gpa + 4 * 63), 0x600d0000 + 63, 'the audited copy ran');
      expectCompleted(ctx, t, ctx.attacker);
    },
  },
  {
    name: 'cmd-blit-out-of-bounds',
    surface: 'commands',
    expectation: 'in a GGTT context, blits whose rows (height × pitch, or a negative pitch) leave the vGPU\'s graphics memory are refused by address-bounds',
    world: { attackerPpgtt: false, failsafe: 'never' },
    run(ctx) {
      const g = ctx.attacker;
      const s = g.vgpu.slices;
      const near = g.driver.allocGm(PAGE_SIZE);
      g.submit('bcs', xyColorBlt({ dstAddress: near, dstPitch: 0x7fff, dst: { x1: 0, y1: 0, x2: 16, y2: 0x4000 }, color: 0xbad }));
      ctx.world.settle();
      ctx.world.recoverEngine(g, 'bcs', false);
      // From the first page of the high slice, a negative pitch walks below it.
      g.submit('bcs', xyColorBlt({ dstAddress: s.highBase, dstPitch: -0x8000, dst: { x1: 0, y1: 0, x2: 4, y2: 64 }, color: 0xbad }));
    },
    expect(ctx, t) {
      const ws = workloadsOf(ctx, ctx.attacker).filter((w) => w.engine.name === 'bcs');
      t.ok(ws.length === 2 && ws.every((w) => w.failure?.rule === 'address-bounds'), `both blits refused by address-bounds (${ws.map((w) => w.failure?.rule ?? w.status).join(', ')})`);
    },
  },
  {
    name: 'cmd-blit-negative-address',
    surface: 'commands',
    expectation: 'a blit whose rows run below graphics address 0 (negative pitch) in a PPGTT context faults or lands in the attacker\'s scratch: it never reaches the frame the engine used last (the victim\'s)',
    run(ctx) {
      // The victim's blitter work leaves the engine's one-entry TLB on one of its pages.
      const vb = ctx.victim.ppgttBuffer(2 * PAGE_SIZE);
      ctx.data.vb = vb;
      ctx.victim.submit('bcs', miStoreDataImm(vb.gma + PAGE_SIZE + 8, [0x7e57]));
      ctx.world.settle();
      ctx.attacker.submit('bcs', xyColorBlt({ dstAddress: 0, dstPitch: -128, dst: { x1: 0, y1: 4, x2: 32, y2: 12 }, color: 0xbadbad }));
      ctx.world.settle();
    },
    expect(ctx, t) {
      const vb = ctx.data.vb as { gpa: number };
      const words: number[] = [];
      for (let i = 0; i < 2048; i++) words.push(ctx.victim.memory.read32(vb.gpa + 4 * i));
      t.ok(words.every((x, i) => x === (i === 1024 + 2 ? 0x7e57 : 0)), 'the victim\'s pages hold only its own store');
    },
  },
  {
    name: 'cmd-lri-engine-mode-registers',
    surface: 'commands',
    expectation: 'a guest loading its engine\'s MI_MODE with STOP_RING, or GFX_MODE with execlists off, from a batch stops nothing but itself: the victim\'s work on the same engine completes',
    world: { failsafe: 'never' },
    run(ctx) {
      const g = ctx.attacker;
      const vb = ctx.victim.ppgttBuffer(PAGE_SIZE);
      ctx.data.vb = vb;
      g.submitBatch('rcs', miLoadRegisterImm([[0x209c, ((1 << 8) << 16 | (1 << 8)) >>> 0]]));
      ctx.victim.submit('rcs', miStoreDataImm(vb.gma, [0x5109]));
      ctx.world.settle(1e9);
      g.submitBatch('bcs', miLoadRegisterImm([[0x2229c, 0x80000000]]));
      ctx.victim.submit('bcs', miStoreDataImm(vb.gma + 4, [0x510a]));
      ctx.world.settle(1e9);
    },
    expect(ctx, t) {
      const vb = ctx.data.vb as { gpa: number };
      t.equal(ctx.victim.memory.read32(vb.gpa), 0x5109, 'the victim\'s render work ran after the attacker\'s STOP_RING');
      t.equal(ctx.victim.memory.read32(vb.gpa + 4), 0x510a, 'the victim\'s blitter work ran after the attacker turned execlists off');
    },
  },
];
