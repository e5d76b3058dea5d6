/**
 * The effects table (lib/device/commands/effects.ts) and the proof that the auditor and the device
 * cannot disagree: for random dwords of every command of the table, every (address, space, bytes)
 * the command streamer touches lies in a range the auditor checked, and every register it writes
 * is one the auditor approved.
 */
import t from 'tap';
import fc from 'fast-check';
import {
  COMMANDS, CommandFlag, EffectSummary, EffectsError, GEN9_ENGINES, effectSummary, Gen9Device, PpgttMode, StopReason, CommandStreamer,
  describeEffects, encodeByName, miBatchBufferEnd, miBatchBufferStart, miNoop, pipeControl, PostSyncOp, xyColorBlt, type CommandInfo,
  type EngineInfo,
} from '../lib/device/index.js';
import { CommandParser, type CommandParserOptions } from '../lib/mediator/parser.js';
import { PAGE_SIZE } from '../lib/types.js';
import { FakeEnv, HOST_OFFSET, LOW, HIGH, RING_BASE, RING_SIZE, qword, ringWith } from './audit-fixture.js';

const MiB = 1024 * 1024;
const PBATCH = 0x2_0000_0000;

t.test('PIPE_CONTROL: post-sync ops, bit 23, index mode', async (t) => {
  const id = COMMANDS.findIndex((c) => c.name === 'PIPE_CONTROL');
  const fx = (flags: number, addr = 0x1000, len = 6): ReturnType<typeof describeEffects> => {
    const w = new Uint32Array([0x7a000000 | (len - 2), flags >>> 0, addr, 0, 0x11, 0x22]);
    return describeEffects(id, w, 0, len);
  };
  t.same(fx(0), [], 'no post-sync: no effect');
  for (const op of [1, 2, 3]) {
    const e = fx(op << 14);
    t.ok(Array.isArray(e) && e.length === 1 && e[0].kind === 'mem' && e[0].bytes === 8 && e[0].write && e[0].space === 'ppgtt', `op ${op}: a qword write through the PPGTT`);
    const g = fx((op << 14) | (1 << 24));
    t.ok(Array.isArray(g) && g[0].space === 'ggtt', `op ${op} with bit 24: GGTT`);
    const idx = fx((op << 14) | (1 << 21), 0xff8);
    t.ok(Array.isArray(idx) && idx[0].kind === 'status-page' && idx[0].space === 'pphwsp' && idx[0].addr === 0xff8, `op ${op} index mode: the status page at the given offset`);
    t.equal(fx((op << 14) | (1 << 23)), EffectsError.UNDEFINED, `op ${op} with the LRI post-sync bit: undefined, refused`);
    t.equal(fx(op << 14, 0x1000, 4), EffectsError.SHORT, `op ${op} in 4 dwords: too short`);
  }
  const lri = fx(1 << 23, 0x2358);
  t.ok(Array.isArray(lri) && lri.length === 1 && lri[0].kind === 'reg-write' && lri[0].addr === 0x2358 && lri[0].valueAt === 4, 'bit 23 alone: one register write, value dword 4');
  const lri24 = fx((1 << 23) | (1 << 24) | (1 << 21), 0x2358);
  t.ok(Array.isArray(lri24) && lri24.length === 1 && lri24[0].kind === 'reg-write', 'bit 23 with bits 21 and 24: still only the register write (no memory)');
});

t.test('stores, atomics, flushes, blits', async (t) => {
  const byName = (n: string): number => COMMANDS.findIndex((c) => c.name === n);
  const sdi = (dw0extra: number, data: number[]): ReturnType<typeof describeEffects> => {
    const w = encodeByName('MI_STORE_DATA_IMM', [0x1000, 0, ...data], dw0extra);
    return describeEffects(byName('MI_STORE_DATA_IMM'), new Uint32Array(w), 0, w.length);
  };
  t.equal((sdi(0, [1]) as { bytes: number }[])[0].bytes, 4);
  t.equal((sdi(0, [1, 2, 3]) as { bytes: number }[])[0].bytes, 12);
  t.equal(sdi(1 << 21, [1]), EffectsError.SHORT, 'Store Qword with one data dword');
  t.equal((sdi(1 << 21, [1, 2]) as { bytes: number }[])[0].bytes, 8);
  for (const [size, bytes] of [[0, 4], [1, 8], [2, 16]]) {
    const w = encodeByName('MI_ATOMIC', [0x1000, 0], size << 19);
    const e = describeEffects(byName('MI_ATOMIC'), new Uint32Array(w), 0, w.length) as { bytes: number; read: boolean; write: boolean }[];
    t.ok(e[0].bytes === bytes && e[0].read && e[0].write, `MI_ATOMIC size ${size}: ${bytes} bytes read and written`);
  }
  const w3 = encodeByName('MI_ATOMIC', [0x1000, 0], 3 << 19);
  t.equal(describeEffects(byName('MI_ATOMIC'), new Uint32Array(w3), 0, w3.length), EffectsError.UNDEFINED, 'MI_ATOMIC size 3 reserved');
  const flush = (op: number, extra: number[]): ReturnType<typeof describeEffects> => {
    const w = encodeByName('MI_FLUSH_DW', [4 | 0x1000, 0, ...extra], op << 14);
    return describeEffects(byName('MI_FLUSH_DW'), new Uint32Array(w), 0, w.length);
  };
  t.equal((flush(1, [7]) as { bytes: number }[])[0].bytes, 4, 'MI_FLUSH_DW write immediate, one dword');
  t.equal((flush(1, [7, 8]) as { bytes: number }[])[0].bytes, 8, 'a qword with dword 4');
  t.equal((flush(3, [0]) as { bytes: number; space: string }[])[0].space, 'ggtt', 'timestamp, GGTT by dword 1 bit 2');
  t.equal(flush(2, [0]), EffectsError.UNDEFINED, 'post-sync op 2 is reserved');
  // Pitch 0: one row of addresses, every row of work.
  const blit = xyColorBlt({ dstAddress: 0x1000, dstPitch: 0, dst: { x1: 0, y1: 0, x2: 100, y2: 50 }, color: 1 });
  const b = describeEffects(byName('XY_COLOR_BLT'), new Uint32Array(blit), 0, blit.length) as { rows: number; bytes: number; pitch: number }[];
  t.ok(b[0].rows === 50 && b[0].bytes === 400 && b[0].pitch === 0, 'pitch-0 blit: 50 rows of 400 bytes');
  const empty = xyColorBlt({ dstAddress: 0x1000, dstPitch: 64, dst: { x1: 5, y1: 0, x2: 5, y2: 50 }, color: 1 });
  t.same(describeEffects(byName('XY_COLOR_BLT'), new Uint32Array(empty), 0, empty.length), [], 'an empty rectangle touches nothing');
});

// --- the regression: the LRI post-sync bit with a post-sync write ------------------------------------

t.test('regression: PIPE_CONTROL bit 23 with a post-sync write is refused, not checked as a register write', async (t) => {
  const victim = HIGH.end + 0x1000; // outside the vGPU's memory (another vGPU's, or the host's)
  for (const op of [PostSyncOp.WRITE_IMMEDIATE, PostSyncOp.WRITE_DEPTH_COUNT, PostSyncOp.WRITE_TIMESTAMP]) {
    const pc = pipeControl({ postSyncOp: op, address: victim, ggtt: true, data: 0xbad });
    pc[1] = (pc[1] | (1 << 23)) >>> 0;
    // The register dword 2 names (bits 22:2 of the victim address) is one the whitelist allows.
    const env = new FakeEnv({ contextPpgtt: false, registerAllowed: () => true });
    const r = new CommandParser().scan(ringWith(env, qword(pc)), env);
    t.equal(r.violation?.rule, 'malformed-command', `op ${op} from the ring: refused (${r.violation?.message})`);
    // From a PPGTT batch.
    const penv = new FakeEnv({ contextPpgtt: true, registerAllowed: () => true });
    penv.ppgtt.write(PBATCH, [...pc, ...miBatchBufferEnd()]);
    const pr = new CommandParser().scan(ringWith(penv, qword([...miBatchBufferStart(PBATCH, { ppgtt: true }), ...miNoop()])), penv);
    t.equal(pr.violation?.rule, 'malformed-command', `op ${op} from a PPGTT batch: refused`);
  }
  // Bit 23 alone is a register write through the register checks.
  const lri = pipeControl({});
  lri[1] = (lri[1] | (1 << 23)) >>> 0;
  lri[2] = 0x2270; // the render ring's PDP0: a guest-physical root, never writable by commands
  const env = new FakeEnv({ contextPpgtt: false });
  t.equal(new CommandParser().scan(ringWith(env, qword(lri)), env).violation?.rule, 'register-value', 'bit 23 to a page-directory pointer: not patchable to a shadow root (GVT-g EINVAL class)');
});

// --- work bounds ------------------------------------------------------------------------------------------

t.test('work bounds: a pitch-0 blit of maximal size, per command and per workload', async (t) => {
  const env = new FakeEnv({ engine: 'bcs', contextPpgtt: true });
  const huge = xyColorBlt({ dstAddress: 0x10000, dstPitch: 0, dst: { x1: 0, y1: 0, x2: 0xffff, y2: 0xffff }, color: 1 });
  const r = new CommandParser().scan(ringWith(env, qword(huge)), env);
  t.equal(r.violation?.rule, 'command-budget', `refused by command-budget: ${r.violation?.message}`);
  const genv = new FakeEnv({ engine: 'bcs', contextPpgtt: false });
  const gr = new CommandParser().scan(ringWith(genv, qword(xyColorBlt({ dstAddress: LOW.start + 0x10000, dstPitch: 0, dst: { x1: 0, y1: 0, x2: 0x4000, y2: 0x4000 }, color: 1 }))), genv);
  t.equal(gr.violation?.rule, 'command-budget', 'a GGTT pitch-0 blit whose one row is inside memory: refused by its work');
  // A legitimate full-screen fill (1920 x 1080 x 4) passes; 16 of them exceed a 64 MiB workload budget.
  const fill = xyColorBlt({ dstAddress: 0x100000, dstPitch: 7680, dst: { x1: 0, y1: 0, x2: 1920, y2: 1080 }, color: 1 });
  t.ok(new CommandParser().scan(ringWith(env, qword(fill)), env).ok, 'one 1080p fill passes');
  const many = qword(Array.from({ length: 16 }, () => fill).flat());
  const p = new CommandParser({ maxWorkloadWorkBytes: 64 * MiB });
  const m = p.scan(ringWith(env, many, 0, 16 * PAGE_SIZE), env);
  t.equal(m.violation?.rule, 'command-budget', `16 fills exceed the 64 MiB workload budget: ${m.violation?.message}`);
  t.equal(p.limits.maxCommandWorkBytes, 36 * MiB, 'default per-command budget');
  t.equal(p.limits.maxWorkloadWorkBytes, 64 * MiB);
});

// --- the differential property ------------------------------------------------------------------------

interface Access {
  gma: number;
  space: number;
  bytes: number;
  write: boolean;
}

/** Host addresses of the status pages the streamer writes by index. */
const PPHWSP = 0x7000_0000;
const HWSP = 0x7100_0000;
const RING_GMA = 0x6000_0000;

/** A streamer of `engine` on a real device whose memory accesses and register writes are recorded. */
class Recorder {
  readonly device = new Gen9Device({ hostMemorySize: 16 * MiB, graphicsMemorySize: 64 * MiB, apertureSize: 16 * MiB });
  readonly streamers: CommandStreamer[];
  readonly accesses: Access[] = [];
  readonly registers: number[] = [];
  private readonly ringFrame: number;
  private readonly scratch: number;

  constructor() {
    const mem = this.device.hostMemory;
    this.ringFrame = mem.allocFrame();
    this.scratch = mem.allocFrame();
    const d = this.device;
    this.streamers = GEN9_ENGINES.map((e: EngineInfo) => {
      const s = new CommandStreamer(e, { regs: d.regs, ggtt: d.ggtt, hostMemory: d.hostMemory, cost: d.cost, now: () => 12345 });
      this.instrument(s);
      return s;
    });
  }

  private instrument(s: CommandStreamer): void {
    const x = s as unknown as Record<string, unknown>;
    const ringFrame = this.ringFrame, scratch = this.scratch;
    // Every page translates (the ring to its frame, the rest to one scratch frame): what is checked
    // is which addresses the streamer asks for, not what a page table holds.
    x.translate = (gma: number): number => {
      if (gma >= RING_GMA && gma < RING_GMA + PAGE_SIZE) return ringFrame * PAGE_SIZE + (gma - RING_GMA);
      return scratch * PAGE_SIZE + (gma % PAGE_SIZE);
    };
    const rec = this.accesses;
    const wrap = (name: string, bytesOf: (args: unknown[]) => number, write: boolean): void => {
      const f = (x[name] as (...a: unknown[]) => unknown).bind(s);
      x[name] = (...a: unknown[]) => {
        rec.push({ gma: a[0] as number, space: a[1] as number, bytes: bytesOf(a), write });
        return f(...a);
      };
    };
    wrap('writeMem32', () => 4, true);
    wrap('readMem32', () => 4, false);
    wrap('readRange', (a) => a[3] as number, false);
    wrap('writeRange', (a) => a[3] as number, true);
    // Register writes are recorded, not performed (their side effects are not under test).
    x.writeRegister = (offset: number) => void this.registers.push(offset);
  }

  /** Run `words` (one audited command) from a ring on engine class `engine`. */
  run(engineId: number, words: readonly number[], contextPpgtt: boolean): number {
    const s = this.streamers[engineId];
    const ring = qword([...words]);
    const page = this.device.hostMemory.page32(this.ringFrame);
    page.fill(0);
    page.set(ring);
    this.accesses.length = 0;
    this.registers.length = 0;
    s.reset();
    s.pphwsp = PPHWSP;
    s.hwsp = HWSP;
    s.setPpgtt(contextPpgtt ? PpgttMode.LEVEL4 : PpgttMode.NONE, contextPpgtt ? 0x1000 : 0, 0, 0, 0);
    s.loadRing(RING_GMA, PAGE_SIZE, 0, 4 * ring.length);
    for (let k = 0; k < 100000; k++) {
      s.runChunk(1e12, 1);
      if (s.stopReason === StopReason.ERROR || s.stopReason === StopReason.END_OF_RING) break;
    }
    return s.stopReason;
  }
}

/** A FakeEnv recording the GGTT ranges and registers the auditor approved. */
class RecordingEnv extends FakeEnv {
  readonly approved: [number, number][] = [];
  readonly registersOk = new Set<number>();
  override ggttAddressOk(gma: number, bytes: number): boolean {
    const ok = super.ggttAddressOk(gma, bytes);
    if (ok && !(gma === RING_BASE && bytes === RING_SIZE)) this.approved.push([gma, bytes]);
    return ok;
  }
}

const LIMITS: CommandParserOptions = { maxSurfaceBytes: 1 * MiB, maxCommandWorkBytes: 256 * 1024, maxWorkloadWorkBytes: 1 * MiB };

/** Commands the differential covers: every command but batch control (its target is the batch machinery's). */
const COVERED = COMMANDS.filter((c) => (c.flags & (CommandFlag.BATCH_START | CommandFlag.BATCH_END)) === 0);

function engineOf(c: CommandInfo): EngineInfo {
  return GEN9_ENGINES.find((e) => (c.engines & (1 << e.engineClass)) !== 0)!;
}

/** A dword: random, small, an address inside / at the edges of the vGPU's memory, or flag patterns. */
const dwordArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
  { weight: 3, arbitrary: fc.constantFrom(0, 1, 4, 8, 0xff8, 0xffc, 0x1000, 0x2358, 0x2270, 0x7ffc) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((k) => (LOW.start + 8 * k) >>> 0) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((k) => (LOW.end - 8 * k) >>> 0) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((k) => (HIGH.end - 4 * k) >>> 0) },
  // Flag dwords: post-sync op (15:14), index mode (21), LRI (23), GGTT (24), Store Qword / GGTT (21, 22), tiling.
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.integer({ min: 0, max: 3 }), bits: fc.subarray([2, 8, 11, 15, 19, 20, 21, 22, 23, 24]), low: fc.integer({ min: 0, max: 0xff }) })
      .map(({ op, bits, low }) => (bits.reduce((v, b) => v | (1 << b), (op << 14) | low) >>> 0)),
  },
  // Blit rectangles and pitches: y << 16 | x, pitch 0, negative, huge (BR13 with a color depth).
  { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 })).map(([x, y]) => ((y << 16) | x) >>> 0) },
  {
    weight: 3,
    arbitrary: fc.tuple(fc.constantFrom(0, 1, 64, 4096, 0x7fff, -1, -64, -4096, -0x8000), fc.integer({ min: 0, max: 3 }), fc.constantFrom(0xf0, 0xcc, 0x55, 0x5a))
      .map(([pitch, depth, rop]) => ((depth << 24) | (rop << 16) | (pitch & 0xffff)) >>> 0),
  },
);

function lengthsOf(c: CommandInfo): fc.Arbitrary<number> {
  if (typeof c.length === 'number') return fc.constant(c.length);
  const { mask, bias } = c.length;
  const max = Math.min(mask + bias, 40);
  const nominal = c.nominalLength > 0 ? [c.nominalLength] : [];
  return fc.oneof(fc.constantFrom(...nominal, bias, Math.min(bias + 1, max)), fc.integer({ min: bias, max }));
}

function caseOf(c: CommandInfo) {
  return fc.record({
    len: lengthsOf(c),
    headerBits: fc.integer({ min: 0, max: 0xffffffff }),
    body: fc.array(dwordArb, { minLength: 40, maxLength: 40 }),
    placement: fc.constantFrom('ring-ggtt', 'ring-ppgtt', 'ppgtt-batch'),
  });
}

function commandWords(c: CommandInfo, len: number, headerBits: number, body: number[]): number[] {
  const lengthMask = typeof c.length === 'number' ? 0 : c.length.mask;
  const bias = typeof c.length === 'number' ? 0 : c.length.bias;
  const dw0 = (c.match | (headerBits & ~c.mask & ~lengthMask) | (lengthMask ? len - bias : 0)) >>> 0;
  return [dw0, ...body.slice(0, len - 1)];
}

t.test('differential: every access the device makes lies in a range the auditor checked', async (t) => {
  const rec = new Recorder();
  let accepted = 0, performed = 0, refused = 0;
  const byRule = new Map<string, number>();
  for (const c of COVERED) {
    const engine = engineOf(c);
    fc.assert(
      fc.property(caseOf(c), ({ len, headerBits, body, placement }) => {
        const words = commandWords(c, len, headerBits, body);
        const contextPpgtt = placement !== 'ring-ggtt';
        const env = new RecordingEnv({ engine: engine.name, contextPpgtt, registerAllowed: (off) => off !== 0x2270 && off < 0x200000 });
        const inner = env.registerAllowed!;
        env.registerAllowed = (off, e) => {
          const ok = inner(off, e);
          if (ok) env.registersOk.add(off);
          return ok;
        };
        let ring: number[];
        if (placement === 'ppgtt-batch') {
          env.ppgtt.write(PBATCH, [...words, ...miBatchBufferEnd()]);
          ring = qword([...miBatchBufferStart(PBATCH, { ppgtt: true }), ...miNoop()]);
        } else {
          ring = qword(words);
        }
        const r = new CommandParser(LIMITS).scan(ringWith(env, ring), env);
        if (!r.ok) {
          refused++;
          const rule = r.violation!.rule;
          byRule.set(rule, (byRule.get(rule) ?? 0) + 1);
          return true;
        }
        accepted++;
        const shadow = placement === 'ppgtt-batch' ? r.shadows[1] : r.shadows[0];
        const audited = [...shadow.dwords()].slice(0, len);
        rec.run(engine.id, audited, contextPpgtt);
        let writes = 0;
        for (const a of rec.accesses) {
          performed++;
          if (a.write) writes += a.bytes;
          // PPGTT: the guest's own frames (the shadow PPGTT maps nothing else); a header-selected
          // PPGTT address in a GGTT context faults on the device.
          if (a.space !== 0) continue;
          const inStatusPage = a.gma >= PPHWSP && a.gma + a.bytes <= PPHWSP + PAGE_SIZE;
          const inChecked = env.approved.some(([g, b]) => a.gma >= g + HOST_OFFSET && a.gma + a.bytes <= g + HOST_OFFSET + b);
          if (!(inStatusPage || inChecked)) {
            throw new Error(`${c.name} (${placement}) touched GGTT [0x${a.gma.toString(16)}, +${a.bytes}) outside every range the auditor checked ` +
              `(${env.approved.map(([g, b]) => `[0x${(g + HOST_OFFSET).toString(16)}, +${b})`).join(' ') || 'none'}); words ${audited.map((w) => w.toString(16)).join(' ')}`);
          }
        }
        if (writes > (LIMITS.maxCommandWorkBytes as number)) throw new Error(`${c.name} wrote ${writes} bytes, beyond the per-command work budget`);
        for (const reg of rec.registers) {
          if (!env.registersOk.has(reg)) throw new Error(`${c.name} (${placement}) wrote register 0x${reg.toString(16)} the auditor did not approve`);
        }
        return true;
      }),
      { numRuns: (effectSummary(c.id) & EffectSummary.ANY) !== 0 ? 400 : 16, seed: 0x5eed + c.id },
    );
  }
  t.ok(accepted > 1000, `${accepted} commands accepted and run, ${refused} refused`);
  t.ok(performed > 2000, `${performed} device accesses checked`);
  t.comment(`refusals: ${[...byRule].map(([r, n]) => `${r} ${n}`).join(', ')}`);
});

t.test('the effects table covers the executor\'s commands and every command has an answer', async (t) => {
  const w = new Uint32Array(64);
  for (const c of COMMANDS) {
    w.fill(0);
    w[0] = c.match;
    const len = typeof c.length === 'number' ? c.length : c.nominalLength > 0 ? c.nominalLength : c.length.bias + 2;
    const e = describeEffects(c.id, w, 0, Math.min(len, 64));
    if (typeof e === 'number') {
      t.ok(e === EffectsError.UNTABULATED || e === EffectsError.SHORT || e === EffectsError.UNDEFINED, `${c.name}: ${e}`);
      if (e === EffectsError.UNTABULATED) t.ok((c.flags & CommandFlag.HAS_ADDRESS) !== 0 && c.addressDwords === undefined, `${c.name}: untabulated only when its fields are`);
    }
  }
});

t.test('state pointers the hardware ignores are no effects: Modify Enable, Pool Enable, Read Length', async (t) => {
  const scan = (words: number[]) => {
    const env = new FakeEnv({ contextPpgtt: false });
    return new CommandParser().scan(ringWith(env, qword(words)), env);
  };
  // STATE_BASE_ADDRESS (19 dwords): every base 0; Modify Enable is bit 0 of each base's low dword.
  const sba = (modifyDword: number) => {
    const w = [0x61010011, ...new Array<number>(18).fill(0)];
    if (modifyDword > 0) w[modifyDword] = 1;
    return w;
  };
  t.ok(scan(sba(0)).ok, 'no base modified: nothing to check');
  const r = scan(sba(8));
  t.equal(r.violation?.rule, 'address-bounds', 'Indirect Object Base 0 with Modify Enable: a GGTT address outside the vGPU');
  t.match(r.violation?.message ?? '', /Indirect Object Base Address/);
  // 3DSTATE_BINDING_TABLE_POOL_ALLOC (4 dwords): Pool Enable is dword 1 bit 11.
  t.ok(scan([0x79190002, 0, 0, 0]).ok, 'a disabled binding-table pool at 0');
  t.equal(scan([0x79190002, 1 << 11, 0, 0]).violation?.rule, 'address-bounds', 'an enabled pool at 0');
  // 3DSTATE_CONSTANT_VS (11 dwords): buffer k is read only when its Read Length is non-zero.
  t.ok(scan([0x78150009, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).ok, 'read lengths 0: no buffer read');
  t.equal(scan([0x78150009, 1 << 16, 0, 0, 0, 0, 0, 0, 0, 0, 0]).violation?.message?.includes('Buffer 1'), true,
    'buffer 1 read (length in dword 1 bits 31:16) at 0: refused');
});
