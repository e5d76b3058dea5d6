/**
 * The oracles of lib/fuzz/oracles (residue, leak, work bound, starvation) and the table-driven
 * command generator. Each oracle is shown to detect a hand-built instance of its class (so a
 * campaign that reports nothing means something); the bug classes they were built for are then
 * checked on the model, as `todo` while the fixes (branches h/effects, h/lifecycle, h/residue) are
 * not merged; and the campaign cases that found them on the unfixed tree replay.
 */
import t from 'tap';
import { FuzzWorld, INVARIANTS, runCampaign } from '../lib/fuzz/index.js';
import {
  LeakOracle, MAX_BLIT_BYTES, ResidueOracle, WorkBoundOracle, commandAccessible, plantableRegisters, unaccountedFrames,
} from '../lib/fuzz/oracles/index.js';
import { FLAG_FIELDS, generateFromTable, weightedCommands } from '../lib/fuzz/fuzzers/table-gen.js';
import {
  COMMANDS, miLoadRegisterImm, miNoop, miStoreDataImm, pipeControl, xyColorBlt,
} from '../lib/device/commands/index.js';
import { GEN9_ENGINES } from '../lib/device/engines.js';
import { Rng } from '../lib/clock.js';
import { mix32 } from '../lib/fuzz/mix.js';
import type { Violation } from '../lib/fuzz/monitor.js';

const rcs = GEN9_ENGINES.find((e) => e.name === 'rcs')!;

function names(vs: readonly Violation[]): string[] {
  return vs.map((v) => `${v.invariant}: ${v.message}`);
}

// ---------------------------------------------------------------- residue

t.test('residue: the register sets come from the table', async (t) => {
  const all = commandAccessible(rcs).map((r) => r.offset);
  const plant = plantableRegisters(rcs).map((r) => r.offset);
  for (const off of [0x2600, 0x2604, 0x267c, 0x2400, 0x240c, 0x2350, 0x2354]) t.ok(plant.includes(off), `0x${off.toString(16)} is planted`);
  for (const off of [0x2030, 0x2034, 0x209c, 0x229c, 0x2270]) t.notOk(plant.includes(off), `ring control 0x${off.toString(16)} is not planted`);
  t.ok(plant.every((o) => all.includes(o)), 'every planted register is one the victim reads');
  t.notOk(all.includes(0x22600), 'another engine\'s GPR is not read on rcs');
});

t.test('residue: a secret in a register the victim reads is reported (hand-built)', async (t) => {
  const w = new FuzzWorld({ oracles: false });
  const r = new ResidueOracle(w.victim!.g, 1, { every: 1, engines: ['rcs'] });
  const secret = 0x5ec7e7a1;
  r.addSecret(secret, 'the test\'s secret');
  // The value reaches GPR 3 (high half) of the render engine before the victim reads it back: what
  // a mediator that does not switch the register would leave there.
  w.victim!.g.submit('rcs', miLoadRegisterImm([[0x261c, secret]]));
  w.settle();
  const out: Violation[] = [];
  r.scan(out, r.read('rcs', () => w.settle()));
  // (The victim's own ring holds the value too, as the LRI's immediate: also reported, as RAM.)
  t.ok(out.every((v) => v.invariant === INVARIANTS.RESIDUE));
  t.ok(out.some((v) => /victim read RCS_CS_GPR\[3\]\+4 \(0x261c\) = 0x5ec7e7a1: the test's secret/.test(v.message)), names(out).join('; '));
  // And in the victim's memory (what a mediator write into guest memory would leave: a host-side
  // store, not the victim's vCPU, which stored the first secret itself as the LRI's immediate).
  const out2: Violation[] = [];
  const secret2 = 0x5ec7e7a3;
  r.addSecret(secret2, 'the test\'s second secret');
  w.victim!.g.memory.write32(w.victim!.canary.gpa + 64, secret2);
  r.scan(out2, []);
  t.ok(out2.some((v) => v.invariant === INVARIANTS.RESIDUE && /RAM at gpa/.test(v.message)), 'found in RAM: ' + names(out2).join('; '));
  w.teardown();
});

t.test('residue: an attacker\'s GPRs, predicate sources and depth count are not readable by the next guest', async (t) => {
  for (const scheduler of [false, true]) {
    const w = new FuzzWorld({ oracles: { residue: { every: 1, engines: ['rcs'] } }, scheduler });
    const r = w.oracles!.residue!;
    const out: Violation[] = [];
    r.check(out, w.attackers, () => w.settle());
    t.ok(r.planted > 100, `the attacker planted ${r.planted} registers`);
    t.same(names(out).slice(0, 6), [], `${scheduler ? 'with' : 'without'} the scheduler`);
    w.teardown();
  }
});

t.test('residue: a value the victim already holds is never planted as a secret', async (t) => {
  // The victim's canary words and the planted values are both mix32 outputs: by chance a planted
  // value can equal a dword of the victim's own RAM, which the scan then reported as residue (mmio
  // campaign, seed 81001, cases 30464 and 82624: canary words equal to RCS_MOCS[36] and [34]).
  const w = new FuzzWorld({ oracles: { residue: { every: 1, engines: ['rcs'] } } });
  const r = w.oracles!.residue!;
  const reg = plantableRegisters(rcs)[5];
  // The round-0 value of that register (the oracle's derivation), put in the victim's RAM first.
  const would = (mix32(r['seed'] as number, reg.offset) | 0x10001) >>> 0;
  const held = w.victim!.g.buffer(4096);
  w.victim!.g.driver.writeRam32(held.gpa + 40, [would]);
  const out: Violation[] = [];
  r.check(out, w.attackers, () => w.settle());
  t.ok(r.planted > 100, `the attacker planted ${r.planted} registers`);
  t.same(names(out), [], 'the victim\'s own dword is not reported');
  t.equal(w.victim!.g.memory.read32(held.gpa + 40), would, 'the victim still holds it');
  t.notOk((r['secrets'] as Map<number, unknown>).has(would), 'it is not a secret');
  // What was planted instead still has the secret's marker bits, and the victim reads it from nowhere.
  const planted = [...(r['secrets'] as Map<number, { what: string }>).entries()].find(([, s]) => s.what.includes(`(0x${reg.offset.toString(16)})`));
  t.ok(planted, `a secret for ${reg.name}`);
  t.not(planted![0], would);
  t.equal(planted![0] & 0x10001, 0x10001);
  t.same(w.teardown(), []);
});

t.test('residue: a planted value the victim later stores itself is its own data, not residue', async (t) => {
  // mmio campaign, seed 91005, cases 355576 and 462648: a victim round's store value (Victim.work,
  // a mix32 output) equal to an attacker's BCS_MOCS[11] / VCS_CS_GPR[12]+4 planted rounds earlier,
  // in the victim's ring (the MI_STORE_DATA_IMM immediate its vCPU wrote) and in its result buffer
  // (the GPU's store). The value was the victim's own; nothing crossed vGPUs.
  const w = new FuzzWorld({ oracles: { residue: { every: 1, engines: ['bcs'] } } });
  const r = w.oracles!.residue!;
  const g = w.victim!.g;
  const out: Violation[] = [];
  r.check(out, w.attackers, () => w.settle());
  t.same(names(out), [], 'a clean round');
  const secrets = [...(r['secrets'] as Map<number, { what: string }>).entries()].filter(([, s]) => s.what.includes('BCS_MOCS'));
  t.ok(secrets.length >= 2, 'the attacker planted BCS_MOCS values');
  const [own] = secrets[0];
  const [copied, copiedSecret] = secrets[1];
  // The victim stores the first value itself, through its ring, as Victim.work does with its own.
  const buf = g.buffer(4096);
  g.submit('bcs', miStoreDataImm(buf.gma + 0x174, [own], { ggtt: true }));
  t.ok(w.settle());
  t.equal(g.memory.read32(buf.gpa + 0x174), own, 'the victim\'s store landed');
  // The second value reaches the victim's RAM by a host-side write (a mediator copy would): residue.
  g.memory.write32(buf.gpa + 0x800, copied);
  const out2: Violation[] = [];
  r.scan(out2, []);
  const msgs = names(out2);
  t.notOk(msgs.some((m) => m.includes(`0x${own.toString(16)}:`)), `the victim's own value is not reported: ${msgs.join('; ')}`);
  t.ok(msgs.some((m) => m.includes(`gpa 0x${(buf.gpa + 0x800).toString(16)} holds 0x${copied.toString(16)}: ${copiedSecret.what}`)), 'a value the victim did not store is: ' + msgs.join('; '));
  t.ok(r.ownHits >= 2, `the victim's value was seen in its ring and its buffer (${r.ownHits} hits)`);
  // The probe (the victim's register reads) is still checked against every secret, its own included.
  w.victim!.g.submit('bcs', miLoadRegisterImm([[0x22600, own]]));
  t.ok(w.settle());
  const out3: Violation[] = [];
  r.scan(out3, r.read('bcs', () => w.settle()));
  t.ok(names(out3).some((m) => m.includes(`read BCS_CS_GPR[0] (0x22600) = 0x${own.toString(16)}`)), names(out3).join('; '));
  w.teardown();
});

// ---------------------------------------------------------------- leak

t.test('leak: shadow pages, reserved-range entries and host frames held by nothing are reported (hand-built)', async (t) => {
  const w = new FuzzWorld({ oracles: false });
  const m = w.h.mediator;
  const leak = new LeakOracle(m);
  const clean: Violation[] = [];
  w.victim!.work();
  w.settle();
  leak.check(clean, true);
  t.same(names(clean), [], 'a settled world is clean');
  // A shadow allocation no workload holds (a dropped workload that kept its shadows).
  const a = m.hostGm.alloc(3 * 4096);
  const out: Violation[] = [];
  leak.check(out, true);
  leak.checkReservedRange(out);
  t.ok(out.some((v) => v.invariant === INVARIANTS.LEAK && /3 shadow pages of finished or dropped workloads leaked/.test(v.message)), names(out).join('; '));
  t.ok(out.some((v) => /3 present host GGTT entries in the mediator's reserved range for 3/.test(v.message)) === false, 'the reserved range agrees with the pool');
  m.hostGm.free(a);
  // A host frame nobody accounts for.
  const before = unaccountedFrames(m);
  const f = w.h.device.hostMemory.allocFrame();
  const out2: Violation[] = [];
  leak.check(out2, true);
  t.equal(unaccountedFrames(m), before + 1);
  t.ok(out2.some((v) => v.invariant === INVARIANTS.LEAK && /1 host frames held by nothing live/.test(v.message)), names(out2).join('; '));
  w.h.device.hostMemory.freeFrame(f);
  // A present reserved-range entry with no pool page behind it.
  const idx = m.hostGm.end / 4096 - 1;
  w.h.device.ggtt.set(idx, 0x1001, 0);
  const out3: Violation[] = [];
  leak.checkReservedRange(out3);
  t.ok(out3.some((v) => /1 present host GGTT entries in the mediator's reserved range for 0 shadow pages/.test(v.message)), names(out3).join('; '));
  w.h.device.ggtt.set(idx, 0, 0);
  w.teardown();
});

t.test('leak: a vGPU reset, put in failsafe or destroyed with its work on the device leaves nothing behind', async (t) => {
  for (const act of ['reset', 'failsafe', 'destroy', 'reset-engine'] as const) {
    const w = new FuzzWorld({ oracles: { residue: false } });
    const g = w.attacker;
    const buf = g.ppgttBuffer(4096);
    const batch: number[] = [];
    for (let i = 0; i < 800; i++) batch.push(...miStoreDataImm(buf.gma + 4 * (i % 1024), [i + 1]));
    g.submitBatch('rcs', batch);
    w.h.run(3000);
    t.ok(w.h.mediator.onDevice(g.vgpu.id) || w.h.mediator.pendingOf(g.vgpu.id) > 0, `${act}: the attacker's work is on the device`);
    if (act === 'reset') w.revive(g);
    else if (act === 'failsafe') g.vgpu.enterFailsafe('test');
    else if (act === 'destroy') g.vgpu.destroy();
    else w.recoverEngine(g, 'rcs', true);
    w.settle();
    const out = w.check().filter((v) => v.invariant === INVARIANTS.LEAK);
    t.same(names(out), [], `${act}: no leak after the case`);
    t.same(names(w.teardown()), [], `${act}: no leak at teardown`);
  }
});

// ---------------------------------------------------------------- work bound

function colorBltBatch(w: FuzzWorld, pitch: number, x2: number, y2: number): void {
  const g = w.attacker;
  const dst = g.ppgttBuffer(64 * 1024);
  g.submitBatch('bcs', xyColorBlt({ dstAddress: dst.gma, dstPitch: pitch, dst: { x1: 0, y1: 0, x2, y2 }, color: 0x12345678 }));
}

t.test('work bound: a blit beyond its limit is reported and ended (hand-built: a tiny limit)', async (t) => {
  const w = new FuzzWorld({ oracles: false });
  const wb = new WorkBoundOracle(w.h.mediator, 4096);
  colorBltBatch(w, 256, 64, 64); // 16 KiB in one blit, beyond 2 x 4 KiB
  w.settle();
  const out: Violation[] = [];
  wb.take(out);
  t.equal(out.length, 1, names(out).join('; '));
  t.equal(out[0].invariant, INVARIANTS.WORK_BOUND);
  t.match(out[0].message, /blitted 16384 bytes in 1 blits, beyond 2 × 4096/);
  const ok = new WorkBoundOracle(w.h.mediator);
  colorBltBatch(w, 256, 64, 64);
  w.settle();
  const none: Violation[] = [];
  ok.take(none);
  wb.take(none);
  t.same(names(none).filter((m) => /workload 2 /.test(m) === false && /16384/.test(m) === false), [], 'the same blit is within the default limit');
  w.teardown();
});

t.test('work bound: the world ends an amplified blit early (mid-run check)', async (t) => {
  const w = new FuzzWorld({ oracles: { residue: false } });
  colorBltBatch(w, 0, 0xffff, 0xffff); // pitch 0: a 256 KiB extent written 65,535 times
  const t0 = w.h.now;
  w.settle(200e6);
  const out = w.check().filter((v) => v.invariant === INVARIANTS.WORK_BOUND);
  t.ok(out.length === 0 || /work amplification/.test(out[0].message), names(out).join('; '));
  t.ok(w.h.now - t0 < 20e6, `settled after ${((w.h.now - t0) / 1e6).toFixed(1)} ms of simulated time, not 1 s`);
  w.teardown();
});

t.test('work bound: XY_COLOR_BLT with pitch 0 at 65535 x 65535 is refused or bounded', async (t) => {
  const w = new FuzzWorld({ oracles: { residue: false } });
  colorBltBatch(w, 0, 0xffff, 0xffff);
  w.settle(200e6);
  t.same(names(w.check().filter((v) => v.invariant === INVARIANTS.WORK_BOUND)), []);
  w.teardown();
});

// ---------------------------------------------------------------- starvation

t.test('starvation: a victim starved of a shared resource is reported (hand-built)', async (t) => {
  const w = new FuzzWorld({ oracles: { residue: false } });
  // Host memory exhausted while the victim's workload is shadowed (as if others held it all): a
  // shared shortage is never the workload's failure, so it waits, and waits.
  w.h.device.hostMemory.failAllocations = 1e9;
  w.victim!.work();
  w.settle(20e6);
  const out = w.check();
  t.ok(out.some((v) => v.invariant === INVARIANTS.STARVATION && /pending/.test(v.message)), names(out).join('; '));
  t.notOk(out.some((v) => /shadow-alloc/.test(v.message)), 'no workload failed for it');
  w.h.device.hostMemory.failAllocations = 0;
  w.settle();
  t.same(w.check().filter((v) => v.invariant === INVARIANTS.STARVATION), [], 'once memory is back the victim\'s work runs');
  w.teardown();
});

// ---------------------------------------------------------------- the table-driven generator

t.test('table-gen: every command of every engine, every post-sync flag combination', async (t) => {
  const rng = new Rng(3);
  const src = { rng, address: () => 0x5800_0000 + 8 * rng.int(512), register: () => 0x2600, allowedRegister: () => 0x2608 };
  for (let cls = 0; cls < 4; cls++) {
    const cmds = weightedCommands(cls);
    const seen = new Set(cmds.map((c) => c.id));
    const expected = COMMANDS.filter((c) => (c.engines & (1 << cls)) !== 0).length;
    t.equal(seen.size, expected, `engine class ${cls}: all ${expected} commands drawn`);
    for (const id of seen) {
      const d = generateFromTable(src, COMMANDS[id]);
      if ((d[0] & COMMANDS[id].mask) >>> 0 !== COMMANDS[id].match) t.fail(`${COMMANDS[id].name}: header 0x${d[0].toString(16)} does not match its row`);
    }
  }
  const pc = COMMANDS.find((c) => c.name === 'PIPE_CONTROL')!;
  const combos = new Set<number>();
  let aliased = 0, lengths = 0;
  for (let i = 0; i < 4000; i++) {
    const d = generateFromTable(src, pc, true);
    if (d.length === 6) lengths++;
    const f = d[1];
    combos.add(((f >>> 14) & 3) | (((f >>> 21) & 1) << 2) | (((f >>> 23) & 1) << 3) | (((f >>> 24) & 1) << 4));
    if ((f & (1 << 23)) !== 0 && (d[2] & 0x7ffffc) === 0x2608) aliased++;
  }
  t.equal(lengths, 4000, 'nominal length');
  t.equal(combos.size, 32, 'post-sync op x index mode x LRI post-sync x destination type: all 32 combinations');
  t.ok(aliased > 100, `LRI post-sync with an allowed register aliased into the address (${aliased} of 4000)`);
  t.ok(FLAG_FIELDS.some((f) => f.command === 'MI_ATOMIC' && f.name === 'Data Size'), 'atomics of every size');
});

// ---------------------------------------------------------------- the campaign cases (unfixed tree)

t.test('commands seed 7 case 1383: PIPE_CONTROL LRI post-sync with a post-sync address writes a foreign frame', async (t) => {
  const r = runCampaign({ fuzzer: 'commands', seed: 7, cases: 1, from: 1383, segmentStart: 1200, maxFailures: 1, tolerate: ['residue', 'work-bound'] });
  t.equal(r.violations + r.crashes, 0, r.failures.map((f) => names(f.violations).join('; ')).join('\n'));
});

t.test('hand-built: PIPE_CONTROL LRI post-sync + write-immediate at a victim address is refused or harmless', async (t) => {
  const w = new FuzzWorld({ oracles: false });
  const v = w.victim!;
  const addr = v.ggttBuf.gma - (v.ggttBuf.gma % 0x800000) + 0x2600;
  const pc = pipeControl({ postSyncOp: 1, address: addr, ggtt: true, data: 0x5ec12e7 });
  pc[1] = (pc[1] | (1 << 23)) >>> 0;
  w.attacker.submit('rcs', pc);
  w.settle();
  t.same(names(w.check()), []);
  w.teardown();
});

t.test('a harmless batch still passes every oracle', async (t) => {
  const w = new FuzzWorld({ oracles: { residue: false } });
  const g = w.attacker;
  const buf = g.ppgttBuffer(4096);
  g.submitBatch('rcs', [...miStoreDataImm(buf.gma, [1]), ...miNoop()]);
  w.victim!.work();
  w.settle();
  t.same(names(w.check()), []);
  t.same(names(w.teardown()), []);
  t.equal(MAX_BLIT_BYTES, 36 * 1024 * 1024);
});
