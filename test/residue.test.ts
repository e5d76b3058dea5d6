/**
 * Register residue between vGPUs (docs/isolation.md): what one guest's commands leave in a
 * command-accessible register never reaches another guest's commands. The registers are derived
 * from the register table (every `CMD_ACCESS` dword the auditor lets the engine touch), so a
 * register that becomes command-accessible is covered without editing this test.
 */
import t from 'tap';
import { GEN9_ENGINES, type EngineInfo, type EngineName } from '../lib/device/engines.js';
import { miLoadRegisterImm, miLoadRegisterReg, miStoreRegisterMem, pipeControl } from '../lib/device/commands/index.js';
import { inContextImage } from '../lib/device/lrc.js';
import { Bits, GEN9_REGISTERS, RING } from '../lib/device/registers.js';
import { Harness, type TestGuest } from '../lib/harness/index.js';
import { defaultRegisterAllowed, isForceNonpriv, isPdpRegister, registerHoldsAddress } from '../lib/mediator/audit-rules.js';
import { COMMAND_ACCESS_LAYOUT } from '../lib/mediator/residue.js';
import type { MediatorOptions } from '../lib/mediator/mediator.js';
import { RegFlag } from '../lib/mmio/index.js';
import { VgpuScheduler } from '../lib/scheduler/vgpu-scheduler.js';

/** Bits a secret must not set: they would stop the attacker's own ring or leave execlist mode. */
const AVOID: Readonly<Record<number, number>> = Object.freeze({ [RING.MI_MODE]: Bits.STOP_RING, [RING.GFX_MODE]: Bits.GFX_RUN_LIST_ENABLE });

interface Probe {
  offset: number;
  name: string;
  /** Bits compared: writable, minus the avoided ones. */
  mask: number;
}

/** Every command-accessible dword `engine`'s commands may name (PDPs aside: no command may write them). */
function probes(engine: EngineInfo): Probe[] {
  const out: Probe[] = [];
  for (const r of GEN9_REGISTERS.rows) {
    if ((r.flags & RegFlag.CMD_ACCESS) === 0) continue;
    for (let k = 0; k < r.width; k += 4) {
      const offset = r.offset + k;
      if (!defaultRegisterAllowed(offset, engine) || isPdpRegister(offset)) continue;
      const rel = offset - engine.mmioBase;
      const mm = (r.flags & RegFlag.MODE_MASK) !== 0;
      const mask = ((mm ? 0xffff : 0xffffffff) & ~GEN9_REGISTERS.roMask[offset >>> 2] & ~(AVOID[rel] ?? 0)) >>> 0;
      if (mask !== 0) out.push({ offset, name: `${r.name}${k ? '_UDW' : ''}`, mask });
    }
  }
  return out;
}

/** The value a guest's LRI writes to probe `k` (one the auditor accepts). */
function secretFor(p: Probe, k: number, ggtt: number): number {
  if (isForceNonpriv(p.offset)) return 0x2600 + 8 * (k % 16); // must name a command-accessible register
  if (registerHoldsAddress(p.offset)) return ggtt + 0x40 * (k % 64); // a GGTT address of the writer's own
  const mm = (GEN9_REGISTERS.flags[p.offset >>> 2] & RegFlag.MODE_MASK) !== 0;
  if (mm) return (0xffff0000 | ((0x5a5a ^ (k * 0x111)) & p.mask)) >>> 0;
  return ((0x5ec00000 | ((k & 0xfff) << 8) | 0xa5) & p.mask) >>> 0;
}

const CHUNK = 24;

/** Submit `cmds` on `g`'s ring (privileged: GGTT addresses), run until idle; true when it completed. */
function runRing(h: Harness, g: TestGuest, engine: EngineName, cmds: number[]): boolean {
  const before = g.workloads.length;
  g.submit(engine, cmds);
  h.runUntilIdle();
  const ws = g.workloads.slice(before);
  return ws.length > 0 && ws.every((w) => w.status === 'completed');
}

/** `g` reads every probe by MI_STORE_REGISTER_MEM into its buffer; returns the values. */
function readAll(h: Harness, g: TestGuest, engine: EngineName, ps: Probe[]): Uint32Array {
  const buf = g.buffer(4 * ps.length + 64);
  const out = new Uint32Array(ps.length).fill(0xdeadbeef);
  for (let i = 0; i < ps.length; i += CHUNK) {
    const cmds: number[] = [];
    for (let k = i; k < Math.min(ps.length, i + CHUNK); k++) cmds.push(...miStoreRegisterMem(ps[k].offset, buf.gma + 4 * k, { ggtt: true }));
    runRing(h, g, engine, cmds);
  }
  for (let k = 0; k < ps.length; k++) out[k] = g.read32(buf.gma + 4 * k);
  return out;
}

/** `g` writes a secret into every probe by LRI (chunks, one by one where a chunk is refused), then reads back. */
function writeAll(h: Harness, g: TestGuest, engine: EngineName, ps: Probe[]): { written: Uint8Array; readback: Uint32Array } {
  const own = g.buffer(4096);
  const written = new Uint8Array(ps.length);
  const lri = (k: number): number[] => miLoadRegisterImm([[ps[k].offset, secretFor(ps[k], k, own.gma)]]);
  for (let i = 0; i < ps.length; i += CHUNK) {
    const end = Math.min(ps.length, i + CHUNK);
    const cmds: number[] = [];
    for (let k = i; k < end; k++) cmds.push(...lri(k));
    if (runRing(h, g, engine, cmds)) {
      written.fill(1, i, end);
      continue;
    }
    for (let k = i; k < end; k++) if (runRing(h, g, engine, lri(k))) written[k] = 1;
  }
  return { written, readback: readAll(h, g, engine, ps) };
}

interface ResidueResult {
  /** Probes whose value the writer's commands changed (the possible channels). */
  channels: string[];
  /** Channels whose writer's value the reader saw. */
  leaks: string[];
}

/** Guest `a` writes every probe of `engine`, then guest `b` (existing, or created after) reads them. */
function residue(engine: EngineInfo, opts: { scheduler?: boolean; mediator?: MediatorOptions; lateReader?: boolean } = {}): ResidueResult {
  // A refused LRI (a register the auditor does not let this value reach) fails its workload only.
  const h = new Harness({ mediator: { failsafe: 'never', ...opts.mediator } });
  if (opts.scheduler) new VgpuScheduler(h.mediator, { watchdogNs: Infinity });
  const a = h.addGuest({ name: 'a', ppgtt: false });
  let b = opts.lateReader ? null : h.addGuest({ name: 'b', ppgtt: false });
  const ps = probes(engine);
  const before = b ? readAll(h, b, engine.name, ps) : null;
  const { written, readback } = writeAll(h, a, engine.name, ps);
  b ??= h.addGuest({ name: 'b', ppgtt: false });
  const after = readAll(h, b, engine.name, ps);
  const channels: string[] = [], leaks: string[] = [];
  for (let k = 0; k < ps.length; k++) {
    const m = ps[k].mask;
    const base = before ? before[k] : after[k];
    if (!written[k] || ((readback[k] ^ base) & m) === 0) continue;
    channels.push(ps[k].name);
    if (((after[k] ^ readback[k]) & m) === 0) leaks.push(`${ps[k].name} (0x${ps[k].offset.toString(16)}) = 0x${(after[k] >>> 0).toString(16)}`);
  }
  return { channels, leaks };
}

t.test('every command-accessible register is in the context image or in the residue layout', async (t) => {
  const switched = new Set(COMMAND_ACCESS_LAYOUT.offsets);
  let n = 0;
  for (const r of GEN9_REGISTERS.rows) {
    if ((r.flags & RegFlag.CMD_ACCESS) === 0) continue;
    for (let k = 0; k < r.width; k += 4) {
      n++;
      const o = r.offset + k;
      if (!switched.has(o) && !inContextImage(o, GEN9_ENGINES)) t.fail(`${r.name} (0x${o.toString(16)}) is neither switched nor in the context image`);
    }
  }
  t.ok(n > 300, `${n} command-accessible dwords checked`);
});

for (const mode of ['fifo', 'scheduler'] as const) {
  t.test(`no register residue between guests, every engine (${mode})`, async (t) => {
    for (const engine of GEN9_ENGINES) {
      const r = residue(engine, { scheduler: mode === 'scheduler' });
      t.ok(r.channels.length > 0, `${engine.name}: ${r.channels.length} registers hold a value a command wrote`);
      // The registers of issue 13 are channels wherever the whitelist lets the engine's commands reach them.
      const named = probes(engine).map((p) => p.name);
      const expected = [`${engine.name.toUpperCase()}_CS_GPR[0]`, `${engine.name.toUpperCase()}_MOCS[1]`, 'MI_PREDICATE_SRC0', 'MI_PREDICATE_SRC1', 'PS_DEPTH_COUNT', 'GEN9_LNCFCMOCS[1]'];
      for (const name of expected) if (named.includes(name)) t.ok(r.channels.includes(name), `${engine.name}: ${name} is a channel`);
      t.same(r.leaks, [], `${engine.name}: the reader sees none of the writer's values`);
    }
  });
}

t.test('a vGPU created after the writer starts from the host\'s values, not the writer\'s', async (t) => {
  const r = residue(GEN9_ENGINES[0], { lateReader: true });
  t.ok(r.channels.length >= 40, `${r.channels.length} channels`);
  t.same(r.leaks, []);
});

t.test('PS_DEPTH_COUNT loaded by LRI (strict SRM/LRM list) or LRR, read back by a PIPE_CONTROL depth-count post-sync', async (t) => {
  for (const [scheduler, strict] of [[false, true], [true, true], [false, false], [true, false]]) {
    const h = new Harness({ mediator: { parser: strict ? { strictSrmLrm: true } : {} } });
    if (scheduler) new VgpuScheduler(h.mediator, { watchdogNs: Infinity });
    const a = h.addGuest({ name: 'a', ppgtt: false });
    const b = h.addGuest({ name: 'b', ppgtt: false });
    const secret = [0x5ec0de01, 0x00c0ffee];
    // No SRM needed: the strict list (which refuses MI_LOAD_REGISTER_REG too) leaves LRI and the post-sync.
    const load = strict ? miLoadRegisterImm([[0x2350, secret[0]], [0x2354, secret[1]]])
      : [...miLoadRegisterImm([[0x2600, secret[0]], [0x2604, secret[1]]]), ...miLoadRegisterReg(0x2600, 0x2350), ...miLoadRegisterReg(0x2604, 0x2354)];
    t.ok(runRing(h, a, 'rcs', load), `the writer loads PS_DEPTH_COUNT (${strict ? 'LRI, strict' : 'LRR'})`);
    const own = a.buffer(4096);
    t.ok(runRing(h, a, 'rcs', pipeControl({ postSyncOp: 2, address: own.gma, ggtt: true })));
    t.same([a.read32(own.gma), a.read32(own.gma + 4)], secret, 'the writer reads its own depth count back');
    const buf = b.buffer(4096);
    t.ok(runRing(h, b, 'rcs', pipeControl({ postSyncOp: 2, address: buf.gma, ggtt: true })));
    t.not(b.read32(buf.gma), secret[0], `the reader's depth count is not the writer's (scheduler ${scheduler}, strict ${strict})`);
    t.not(b.read32(buf.gma + 4), secret[1]);
    if (!strict) {
      t.ok(runRing(h, b, 'rcs', [...miLoadRegisterReg(0x2350, 0x2600), ...miStoreRegisterMem(0x2600, buf.gma + 8, { ggtt: true })]));
      t.not(b.read32(buf.gma + 8), secret[0], 'nor through LRR into a GPR');
    }
  }
});

t.test('PDP registers read by command or MMIO show the guest\'s own roots, never the shadow PPGTT\'s', async (t) => {
  const h = new Harness();
  const g = h.addGuest({ name: 'g' });
  const e = GEN9_ENGINES[0];
  const buf = g.buffer(4096);
  const cmds: number[] = [];
  for (let d = 0; d < 8; d++) cmds.push(...miStoreRegisterMem(e.mmioBase + RING.PDP0_LDW + 4 * d, buf.gma + 4 * d, { ggtt: true }));
  cmds.push(...miLoadRegisterReg(e.mmioBase + RING.PDP0_LDW, 0x2600), ...miStoreRegisterMem(0x2600, buf.gma + 0x40, { ggtt: true }));
  t.ok(runRing(h, g, 'rcs', cmds));
  const w = g.lastWorkload!;
  const guestRoot = w.pdps[0];
  t.ok(guestRoot > 0, 'the context has a PPGTT');
  const seen = g.read32(buf.gma) + g.read32(buf.gma + 4) * 2 ** 32;
  t.equal(seen, guestRoot, 'SRM of PDP0 reads the guest\'s PML4 address');
  t.equal(g.read32(buf.gma + 0x40), guestRoot % 2 ** 32, 'LRR of PDP0 into a GPR reads the guest\'s value too');
  for (let d = 2; d < 8; d++) t.equal(g.read32(buf.gma + 4 * d), 0, `PDP dword ${d} of a 4-level context reads 0`);
  // The device itself ran with the shadow root: it is in the host register (a host-only view).
  const host = h.device.regs.peek(e.mmioBase + RING.PDP0_LDW);
  t.not(host, guestRoot % 2 ** 32, 'the host register holds the shadow root');
  // MMIO: the guest's virtual registers, what the guest wrote.
  g.vgpu.mmioWrite(e.mmioBase + RING.PDP0_LDW, 4, 0x1234000);
  t.equal(g.vgpu.mmioRead(e.mmioBase + RING.PDP0_LDW, 4), 0x1234000, 'an MMIO read returns the guest\'s own value');
  t.not(g.vgpu.mmioRead(e.mmioBase + RING.PDP0_LDW, 4), host);
});



// Lifecycle campaign seed 81005 (cases 17168, 19920, 51400, 51816, 54280, 56864): the time-slice
// scheduler's own switch loaded a vGPU's listed registers (its vregs: MOCS, L3CC), that vGPU was
// destroyed (or reset) before its work dispatched, and the mediator's residue switch, whose owner
// had not changed, let its owner run on the gone vGPU's values.
// (The reset variant held before the fix too: the scheduler keeps the reset vGPU's slot and switches back.)
for (const end of ['destroy', 'reset'] as const) {
  t.test(`a vGPU the scheduler switched to and that is gone (${end}) before it dispatched leaves no L3CC/MOCS to the owner`, async (t) => {
    const h = new Harness({ mediator: { failsafe: 'never' } });
    new VgpuScheduler(h.mediator, { watchdogNs: Infinity });
    const a = h.addGuest({ name: 'a', ppgtt: false });
    const b = h.addGuest({ name: 'b', ppgtt: false });
    const regs: [number, number][] = [[0xb020, 0x5ec0a5a5], [0xb024, 0x5ec1a5a5], [0xc808, 0x5ec2a5a5]];
    // b programs its L3CC and render MOCS (its vregs follow its LRIs); then a runs.
    t.ok(runRing(h, b, 'rcs', miLoadRegisterImm(regs)), 'b\'s LRIs completed');
    const buf = a.buffer(64);
    const srm = (): number[] => regs.flatMap(([o], k) => miStoreRegisterMem(o, buf.gma + 4 * k, { ggtt: true }));
    t.ok(runRing(h, a, 'rcs', srm()), 'a read its registers');
    for (let k = 0; k < regs.length; k++) t.not(a.read32(buf.gma + 4 * k), regs[k][1], `a reads its own 0x${regs[k][0].toString(16)}`);
    // b submits: the scheduler switches to b (loads b's values) before b's workload dispatches.
    b.submit('rcs', [0, 0]);
    for (let i = 0; i < 10_000 && (h.mediator.device.regs.readDword(0xb020) >>> 0) !== regs[0][1]; i++) h.mediator.run(10);
    t.equal(h.mediator.pendingOf(b.vgpu.id), 1, 'b\'s workload is queued');
    t.notOk(h.mediator.onDevice(b.vgpu.id), 'b\'s workload has not dispatched');
    t.equal(h.mediator.device.regs.readDword(0xb020) >>> 0, regs[0][1], 'the scheduler loaded b\'s L3CC before b dispatched');
    if (end === 'destroy') b.vgpu.destroy();
    else b.vgpu.reset();
    t.ok(runRing(h, a, 'rcs', srm()), 'a read its registers again');
    for (let k = 0; k < regs.length; k++) t.not(a.read32(buf.gma + 4 * k), regs[k][1], `a does not read b's 0x${regs[k][0].toString(16)}`);
  });
}
