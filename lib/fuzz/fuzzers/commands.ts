/**
 * Command-stream fuzzer, grammar-aware: each case is a stream of valid commands from the encoders
 * (stores, register loads and stores, post-sync writes, blits, arbitration and interrupt commands,
 * any command of the table: most often generated from the table's data with every field drawn
 * from its full range (`table-gen.ts`: address fields at page and range ends and in both address
 * spaces, register fields over the 2 MiB MMIO space, every flag combination of post-syncs, atomics,
 * store qword and batch starts, blit pitches 0 / negative / huge with maximal width x height),
 * else with a random body), with addresses drawn from the attacker's own
 * buffers, the victim's buffers, the mediator's shadow range and anywhere; placed in the ring, in
 * a PPGTT or GGTT batch, in a nested second-level batch, in a chain or in a self-chaining batch;
 * then, most of the time, mutated (bit flips, length-field changes, truncation, inserted and
 * deleted dwords, address and header substitutions, a dropped MI_BATCH_BUFFER_END). Now and then
 * the ring context (tail, control, start) or the descriptor is mutated instead.
 *
 * Its own oracle: a case that was not mutated and uses only commands a correct auditor must accept
 * (stores, post-syncs and blits into the attacker's own buffers, MI_DISPLAY_FLIPs of its own
 * surfaces from privileged buffers) must complete, its stores must land and its flips must be on
 * its own virtual planes (no false refusal; a flip's only effect is there).
 */
import type { Rng } from '../../clock.js';
import {
  COMMANDS, encodeByName, miArbCheck, miBatchBufferEnd, miBatchBufferStart, miFlushDw, miLoadRegisterImm, miLoadRegisterMem,
  miLoadRegisterReg, miNoop, miStoreDataImm, miStoreRegisterMem, miUserInterrupt, pipeControl, xyColorBlt, xySrcCopyBlt,
  EngineClass, FLIP_PLANE_SELECT, encodeHeader, type CommandInfo,
} from '../../device/commands/index.js';
import type { TestGuest } from '../../harness/index.js';
import { CursorReg, DBits, PlaneReg, TRANS, VREG, curcntr, pipeconf, planeCtl, planesOf, transcoderBase } from '../../display/index.js';
import { GEN9_ENGINES, type EngineName } from '../../device/engines.js';
import { CtxReg, encodeDescriptor, readContextValue, writeContextValue } from '../../device/lrc.js';
import { GEN9_REGISTERS } from '../../device/registers.js';
import type { GuestBuffer } from '../../guest/engine.js';
import { RegFlag } from '../../mmio/table.js';
import { defaultRegisterAllowed } from '../../mediator/audit-rules.js';
import { PAGE_SIZE } from '../../types.js';
import { chance, hx, pick, u32, type Fuzzer } from '../fuzzer.js';
import { INVARIANTS, type Violation } from '../monitor.js';
import { GSCALE_SHARED_WORLD, engineMap, type FuzzWorld } from '../world.js';
import { generateFromTable, weightedCommands, type FieldSource } from './table-gen.js';

/** Where the case's commands go. */
export type Placement = 'ring' | 'ppgtt-batch' | 'ggtt-batch' | 'nested' | 'chain' | 'self-chain';

/** One case of the command fuzzer (one op per case). */
export interface CommandCase {
  readonly engine: EngineName;
  readonly placement: Placement;
  /** Commands of the ring or of the first batch (after mutation). */
  readonly body: readonly number[];
  /** Commands of the second batch (nested, chain). */
  readonly inner: readonly number[];
  /** Drop the MI_BATCH_BUFFER_END of the first batch. */
  readonly noEnd: boolean;
  readonly mutations: readonly string[];
  /** Unmutated and made only of commands a correct auditor accepts. */
  readonly benign: boolean;
  /** Stores the benign oracle checks: [buffer 'p' | 'g', byte offset, value]. */
  readonly stores: readonly (readonly ['p' | 'g', number, number])[];
  /** Display flips the benign oracle checks on the attacker's own planes: [pipe, plane, surface]. */
  readonly flips: readonly (readonly [number, number, number])[];
  /** Ring-context tampering: [context dword index, value]. */
  readonly context: readonly (readonly [number, number])[];
  /** A raw descriptor to submit instead of the guest's own ([lo, hi], element 1 [lo, hi]). */
  readonly descriptor: readonly number[] | null;
}

interface CmdState {
  readonly ppgttData: GuestBuffer;
  readonly ggttData: GuestBuffer;
  readonly blitBuf: GuestBuffer;
  readonly ppgttBatches: readonly GuestBuffer[];
  readonly ggttBatches: readonly GuestBuffer[];
  /** Dwords written last time per batch buffer (cleared before reuse). */
  readonly used: Map<GuestBuffer, number>;
  readonly whitelist: readonly number[][];
  readonly registers: readonly number[];
  readonly tableCommands: readonly CommandInfo[][];
  /** Every command of each engine class, weighted towards memory, register and post-sync commands. */
  readonly weighted: readonly CommandInfo[][];
  /** Every command-accessible register offset (any engine). */
  readonly cmdAccess: readonly number[];
  readonly pipeControl: CommandInfo;
  readonly flushDw: CommandInfo;
}

const BUF_BYTES = 16 * 1024;
const MAX_BODY = 1500;

interface Gen {
  dwords: number[];
  benign: boolean;
  stores?: ['p' | 'g', number, number][];
  flips?: [number, number, number][];
}

interface Ctx {
  rng: Rng;
  st: CmdState;
  w: FuzzWorld;
  engine: EngineName;
  cls: number;
  /** The commands run from the ring or a GGTT batch (privileged) rather than a PPGTT batch. */
  privileged: boolean;
}

/** `a` rounded down to a multiple of `n` (exact for any 48-bit address, unlike `& ~(n - 1)`). */
function align(a: number, n: number): number {
  return a - (a % n);
}

/** A graphics address: own (benign when in the right space), someone else's, or nonsense. */
function address(c: Ctx, bytes: number, upper = false): { addr: number; ggtt: boolean; benign: boolean; store?: ['p' | 'g', number] } {
  const { rng, st, w } = c;
  const r = rng.int(100);
  // Stores use the lower half of a buffer, post-sync writes the upper half (the oracle tracks stores only).
  const half = BUF_BYTES / 2;
  const off = ((upper ? half : 0) + rng.int((half - bytes - 8) / 8) * 8) >>> 0;
  if (r < 35) return { addr: st.ppgttData.gma + off, ggtt: false, benign: true, store: ['p', off] };
  if (r < 60) return { addr: st.ggttData.gma + off, ggtt: true, benign: c.privileged, store: ['g', off] };
  const s = w.attacker.vgpu.slices;
  const v = w.victim;
  const other = [
    v ? v.ggttBuf.gma : 0, v ? v.canary.gma + 8 : 8, w.h.mediator.hostGm.start + 8 * rng.int(512), s.highBase + s.highSize - 8,
    Math.max(0, s.lowBase - 8), (rng.nextU32() & ~7) >>> 0, 0, 2 ** 32 - 8, rng.int(2 ** 16) * 2 ** 32, 2 ** 48 - 8,
  ];
  return { addr: pick(rng, other), ggtt: chance(rng, 0.6), benign: false };
}

/** What table-gen.ts draws fields from, in this case's context. */
function fieldSource(c: Ctx): FieldSource {
  const wl = c.st.whitelist[GEN9_ENGINES.find((e) => e.name === c.engine)!.id];
  return { rng: c.rng, address: () => anyAddress(c), register: () => register(c), allowedRegister: () => pick(c.rng, wl) };
}

/** Addresses for table-driven fields: the pool of `address` plus page and range ends and registers aliased into addresses. */
function anyAddress(c: Ctx): number {
  const { rng, st, w } = c;
  const r = rng.int(10);
  if (r < 6) return address(c, 8).addr;
  const v = w.victim;
  const m = w.h.mediator;
  const ends = [
    st.ppgttData.gma + BUF_BYTES - 4, st.ppgttData.gma + BUF_BYTES - 8, st.ggttData.gma + BUF_BYTES - 4, st.ggttData.gma + PAGE_SIZE - 4,
    v ? v.ggttBuf.gma + PAGE_SIZE - 4 : 0, v ? v.ppgttBuf.gma + PAGE_SIZE - 8 : 0, v ? v.canary.gma - 4 : 0,
    m.hostGm.start, m.hostGm.start - 8, m.hostGm.end - 8, 2 ** 32 - 4, 2 ** 47, 2 ** 48 - 4,
  ];
  if (r < 9) return pick(rng, ends);
  // A register offset in the low 23 bits of an address (PIPE_CONTROL's LRI post-sync reads it as one).
  const base = pick(rng, [v ? v.ggttBuf.gma : 0, v ? v.canary.gma : 0, st.ggttData.gma, m.hostGm.start]);
  const wl = st.whitelist[GEN9_ENGINES.find((e) => e.name === c.engine)!.id];
  return (base - (base % 0x800000)) + ((chance(rng, 0.85) && wl.length ? pick(rng, wl) : register(c)) & 0x7ffffc);
}

function register(c: Ctx): number {
  const { rng, st } = c;
  const wl = st.whitelist[GEN9_ENGINES.find((e) => e.name === c.engine)!.id];
  if (chance(rng, 0.5) && wl.length) return pick(rng, wl);
  if (chance(rng, 0.6)) return pick(rng, st.registers);
  if (chance(rng, 0.3)) return pick(rng, st.cmdAccess);
  return pick(rng, [0x44200, 0x100000, 0x2270, 0x22270, 0x24d0, 0x229c, 0x2080, (rng.int(0x200000) & ~3) >>> 0]);
}

/**
 * MI_DISPLAY_FLIP with every field varied (lib/device/commands/effects.ts, GVT-g
 * `skl_decode_mi_display_flip`): plane select 0..31 (the eight plane codes more often), stride and
 * tiling over their ranges, junk in the surface dword's low bits, flip types 0..3, lengths 2..5, stray
 * header bits, the surface in the attacker's own GGTT buffer, the victim's memory, the mediator's
 * range, slice ends or anywhere. Benign (must complete, and the attacker's plane must hold the
 * surface afterwards) when privileged, a plane code, type 0 or 1, 3 dwords and its own memory.
 */
function genDisplayFlip(c: Ctx): Gen {
  const { rng, st, w } = c;
  const code = chance(rng, 0.7) ? pick(rng, [0, 1, 2, 4, 5, 6, 7, 8]) : rng.int(32);
  const stride = chance(rng, 0.5) ? pick(rng, [0, 1, 16, 64, 0x3ff]) : rng.int(0x400);
  const tiling = chance(rng, 0.7) ? pick(rng, [0, 1, 4, 5]) : rng.int(8);
  const type = chance(rng, 0.85) ? rng.int(2) : 2 + rng.int(2);
  const own = chance(rng, 0.55);
  const s = w.attacker.vgpu.slices;
  const surface = own ? st.ggttData.gma + PAGE_SIZE * rng.int(BUF_BYTES / PAGE_SIZE)
    : pick(rng, [w.victim?.ggttBuf.gma ?? 0, w.victim?.canary.gma ?? 0, w.h.mediator.hostGm.start, s.highBase + s.highSize, s.lowBase - PAGE_SIZE,
      s.highBase + s.highSize - PAGE_SIZE, 0, 0xfffff000, (rng.nextU32() & 0xfffff000) >>> 0]);
  const low = chance(rng, 0.2) ? rng.int(1024) << 2 : 0;
  const len = chance(rng, 0.9) ? 3 : pick(rng, [2, 4, 5]);
  const junk = chance(rng, 0.1) ? (rng.int(2) << 22) | (rng.int(2) << 21) | (rng.int(8) << 13) : 0;
  const dwords = [encodeHeader('MI_DISPLAY_FLIP', len, (code << 8) | junk), ((stride << 6) | tiling | (chance(rng, 0.1) ? rng.nextU32() & 0xffff0038 : 0)) >>> 0,
    (surface | low | type) >>> 0, ...new Array<number>(Math.max(0, len - 3)).fill(surface >>> 0)].slice(0, len);
  const slot = FLIP_PLANE_SELECT[code];
  const benign = c.privileged && own && slot >= 0 && type <= 1 && len === 3;
  return { dwords, benign, flips: benign ? [[slot >>> 2, slot & 3, surface]] : undefined };
}

function genCommand(c: Ctx): Gen {
  const { rng, st } = c;
  const r = rng.int(100);
  if (r < 8) return { dwords: chance(rng, 0.9) ? miNoop() : miNoop(rng.int(0x3fffff)), benign: true };
  if (r < 35) {
    const n = pick(rng, [1, 1, 1, 2, 3]);
    const a = address(c, 4 * n);
    const vals = Array.from({ length: n }, () => u32(rng));
    const qword = n === 2;
    if (qword && a.addr % 8 !== 0) return { dwords: miNoop(), benign: true };
    const d = miStoreDataImm(a.addr, vals, { ggtt: a.ggtt });
    const benign = a.benign && (a.ggtt ? c.privileged && a.store?.[0] === 'g' : a.store?.[0] === 'p');
    const stores = benign && a.store ? vals.map((v, k): ['p' | 'g', number, number] => [a.store![0], a.store![1] + 4 * k, v]) : undefined;
    return { dwords: d, benign, stores };
  }
  if (r < 45) {
    const n = 1 + rng.int(3);
    const pairs: [number, number][] = [];
    for (let i = 0; i < n; i++) pairs.push([register(c), u32(rng)]);
    return { dwords: miLoadRegisterImm(pairs), benign: false };
  }
  if (r < 52) {
    const a = address(c, 4);
    const d = chance(rng, 0.5) ? miStoreRegisterMem(register(c), align(a.addr, 4), { ggtt: a.ggtt }) : miLoadRegisterMem(register(c), align(a.addr, 4), { ggtt: a.ggtt });
    return { dwords: d, benign: false };
  }
  if (r < 55) return { dwords: miLoadRegisterReg(register(c), register(c)), benign: false };
  if (r < 65 && chance(rng, 0.5)) {
    // Every flag combination of the post-sync commands (table-gen.ts FLAG_FIELDS): LRI post-sync,
    // index mode, destination type, at any address (page ends, registers aliased into addresses).
    const src = fieldSource(c);
    const info = c.cls === EngineClass.RCS ? st.pipeControl : st.flushDw;
    const d = generateFromTable(src, info, true);
    d[d.length - 2] = u32(rng);
    return { dwords: d, benign: false };
  }
  if (r < 65) {
    const a = address(c, 8, true);
    const benign = a.benign && (a.ggtt ? c.privileged && a.store?.[0] === 'g' : a.store?.[0] === 'p');
    if (c.cls === EngineClass.RCS) {
      return { dwords: pipeControl({ postSyncOp: 1, address: align(a.addr, 8), ggtt: a.ggtt, data: u32(rng), commandStreamerStall: true }), benign };
    }
    return { dwords: miFlushDw({ postSyncOp: 1, address: align(a.addr, 8), ggtt: a.ggtt, data: u32(rng) }), benign };
  }
  if (r < 75 && c.cls === EngineClass.BCS) {
    const own = chance(rng, 0.7);
    const dst = own ? c.st.blitBuf.gma : address(c, 4).addr;
    const rect = { x1: rng.int(8), y1: rng.int(8), x2: 8 + rng.int(24), y2: 8 + rng.int(24) };
    const pitchV = own ? 128 : pick(rng, [128, -128, 0x7fff, 4]);
    if (chance(rng, 0.5)) return { dwords: xyColorBlt({ dstAddress: dst, dstPitch: pitchV, dst: rect, color: u32(rng) }), benign: own };
    const src = chance(rng, 0.7) ? c.st.blitBuf.gma + 64 * 128 : address(c, 4).addr;
    return {
      dwords: xySrcCopyBlt({ dstAddress: dst, dstPitch: pitchV, dst: rect, srcAddress: src, srcPitch: 128, srcX: 0, srcY: 0 }),
      benign: own && src === c.st.blitBuf.gma + 64 * 128,
    };
  }
  if (r < 72) return { dwords: chance(rng, 0.5) ? miArbCheck() : miUserInterrupt(), benign: true };
  if ((c.cls === EngineClass.RCS || c.cls === EngineClass.BCS) && chance(rng, 0.12)) return genDisplayFlip(c);
  // Any command of the table for this engine, its fields drawn from their full ranges (table-gen.ts).
  if (chance(rng, 0.75)) {
    const src = fieldSource(c);
    return { dwords: generateFromTable(src, pick(rng, c.st.weighted[c.cls])), benign: false };
  }
  // Or its body random.
  const info = pick(rng, c.st.tableCommands[c.cls]);
  let len: number;
  if (typeof info.length === 'number') len = info.length;
  else len = info.nominalLength > 0 && chance(rng, 0.7) ? info.nominalLength : info.length.bias + rng.int(Math.min(info.length.mask, 12) + 1);
  const body = Array.from({ length: Math.max(0, len - 1) }, () => (chance(rng, 0.3) ? address(c, 4).addr >>> 0 : u32(rng)));
  try {
    return { dwords: encodeByName(info.name, body), benign: false };
  } catch {
    return { dwords: miNoop(), benign: true };
  }
}

/** The mutations: each changes `cmds` (a list of commands) in place and names itself. */
function mutate(rng: Rng, cmds: number[][], c: Ctx): string {
  if (cmds.length === 0) cmds.push(miNoop());
  const k = rng.int(cmds.length);
  const cmd = cmds[k];
  const i = rng.int(cmd.length);
  switch (rng.int(9)) {
    case 0: {
      const bit = rng.int(32);
      cmd[i] = (cmd[i] ^ (1 << bit)) >>> 0;
      return `flip bit ${bit} of dword ${i} of command ${k}`;
    }
    case 1: {
      const d = pick(rng, [-2, -1, 1, 2, 7, 0xff]);
      cmd[0] = ((cmd[0] & ~0xff) | ((cmd[0] + d) & 0xff)) >>> 0;
      return `length field of command ${k} ${d > 0 ? '+' : ''}${d}`;
    }
    case 2:
      cmds[k] = cmd.slice(0, i);
      cmds.splice(k + 1);
      return `truncate at command ${k} dword ${i}`;
    case 3:
      cmd.splice(i, 0, u32(rng));
      return `insert a dword in command ${k}`;
    case 4:
      cmd.splice(i, 1);
      return `delete dword ${i} of command ${k}`;
    case 5: {
      const a = address(c, 4).addr;
      cmd[i] = a >>> 0;
      if (i + 1 < cmd.length && chance(rng, 0.5)) cmd[i + 1] = Math.floor(a / 2 ** 32) >>> 0;
      return `address ${hx(a)} into dword ${i} of command ${k}`;
    }
    case 6: {
      const h = pick(rng, c.st.tableCommands[c.cls]).match;
      cmd[0] = h >>> 0;
      return `header of command ${k} replaced by ${hx(h)}`;
    }
    case 7:
      cmds.splice(k, 0, cmds[rng.int(cmds.length)].slice());
      return `duplicate a command at ${k}`;
    default:
      cmd[i] = rng.nextU32();
      return `random dword ${i} of command ${k}`;
  }
}

/** A focused stream: NOOPs and stores into the attacker's own PPGTT buffer around one table-generated command. */
function buildFocused(c: Ctx): { cmds: number[][]; benign: boolean; stores: ['p' | 'g', number, number][] } {
  const { rng, st } = c;
  const src = fieldSource(c);
  let hostile: number[];
  if ((c.cls === EngineClass.RCS || c.cls === EngineClass.BCS) && chance(rng, 0.4)) {
    hostile = generateFromTable(src, c.cls === EngineClass.RCS ? st.pipeControl : st.flushDw, true);
    hostile[hostile.length - 2] = u32(rng);
  } else {
    hostile = generateFromTable(src, pick(rng, st.weighted[c.cls]), chance(rng, 0.5));
  }
  const filler = (): number[] => (chance(rng, 0.5) ? miNoop() : miStoreDataImm(st.ppgttData.gma + 8 * rng.int(BUF_BYTES / 16), [u32(rng)]));
  const cmds: number[][] = [];
  for (let i = rng.int(3); i > 0; i--) cmds.push(filler());
  cmds.push(hostile);
  for (let i = rng.int(3); i > 0; i--) cmds.push(filler());
  return { cmds, benign: false, stores: [] };
}

function genCase(rng: Rng, st: CmdState, w: FuzzWorld): CommandCase {
  const engine = pick(rng, ['rcs', 'rcs', 'rcs', 'rcs', 'bcs', 'bcs', 'bcs', 'vcs', 'vecs'] as EngineName[]);
  const cls = GEN9_ENGINES.find((e) => e.name === engine)!.engineClass;
  const placement = pick(rng, ['ring', 'ring', 'ring', 'ppgtt-batch', 'ppgtt-batch', 'ppgtt-batch', 'ggtt-batch', 'nested', 'chain', 'self-chain'] as Placement[]);
  const privileged = placement === 'ring' || placement === 'ggtt-batch';
  const c: Ctx = { rng, st, w, engine, cls, privileged };
  type Built = { cmds: number[][]; benign: boolean; stores: ['p' | 'g', number, number][]; flips: [number, number, number][] };
  const build = (n: number, priv: boolean): Built => {
    const cc: Ctx = { ...c, privileged: priv };
    const cmds: number[][] = [];
    const stores: ['p' | 'g', number, number][] = [];
    const flips: [number, number, number][] = [];
    let benign = true;
    for (let i = 0; i < n; i++) {
      const g = genCommand(cc);
      cmds.push(g.dwords);
      benign &&= g.benign;
      if (g.stores) stores.push(...g.stores);
      if (g.flips) flips.push(...g.flips);
    }
    return { cmds, benign, stores, flips };
  };
  // One case in three is focused: one command generated from the table (or a post-sync flag
  // sweep) among harmless ones, unmutated, so that the auditor's verdict and the device's
  // execution of that one command are what the case tests (a stream of several hostile commands
  // is refused at its first).
  const focused = chance(rng, 0.33);
  const a: Built = focused ? { ...buildFocused(c), flips: [] } : build(1 + rng.int(rng.int(8) === 0 ? 40 : 8), privileged);
  const b = build(placement === 'nested' || placement === 'chain' ? 1 + rng.int(6) : 0, false);
  const mutations: string[] = [];
  if (!focused && chance(rng, 0.65)) {
    const n = 1 + rng.int(3);
    for (let i = 0; i < n; i++) mutations.push(mutate(rng, chance(rng, 0.7) || b.cmds.length === 0 ? a.cmds : b.cmds, c));
  }
  const noEnd = placement !== 'ring' && chance(rng, 0.05);
  if (noEnd) mutations.push('MI_BATCH_BUFFER_END dropped');
  const context: [number, number][] = [];
  if (chance(rng, 0.05)) {
    const idx = pick(rng, [CtxReg.RING_TAIL, CtxReg.RING_BUFFER_CONTROL, CtxReg.RING_BUFFER_START, CtxReg.RING_HEAD]);
    context.push([idx, pick(rng, [u32(rng), 0, 0x1000, 0x1ff000 | 1, (rng.int(0x200000) & ~7) >>> 0])]);
    mutations.push(`context dword ${hx(idx)} tampered`);
  }
  let descriptor: number[] | null = null;
  if (chance(rng, 0.05)) {
    const e = engineMap(w.attacker).get(engine);
    const s = w.attacker.vgpu.slices;
    const lrca = pick(rng, [e?.context.gma ?? s.highBase, w.victim?.ggttBuf.gma ?? 0, s.highBase + s.highSize - PAGE_SIZE, (rng.nextU32() & 0xfffff000) >>> 0]);
    const [lo, hi] = encodeDescriptor({ lrca, contextId: rng.nextU32(), addressingMode: rng.int(4), privilege: chance(rng, 0.6) });
    descriptor = chance(rng, 0.3) ? [lo, hi, lo, hi] : [lo, hi];
    mutations.push(`descriptor ${hx(lo)}:${hx(hi)}${descriptor.length > 2 ? ' twice' : ''}`);
  }
  const flat = (cmds: number[][]): number[] => {
    const out: number[] = [];
    for (const x of cmds) for (const d of x) if (out.length < MAX_BODY) out.push(d >>> 0);
    return out;
  };
  const benign = mutations.length === 0 && a.benign && b.benign && placement !== 'self-chain';
  return {
    engine, placement, body: flat(a.cmds), inner: flat(b.cmds), noEnd, mutations, benign, stores: [...a.stores, ...b.stores], flips: [...a.flips, ...b.flips],
    context, descriptor,
  };
}

function writeBatch(w: FuzzWorld, st: CmdState, buf: GuestBuffer, dwords: number[]): void {
  const prev = st.used.get(buf) ?? 0;
  const out = dwords.length < prev ? [...dwords, ...new Array<number>(prev - dwords.length).fill(0)] : dwords;
  w.attacker.driver.writeRam32(buf.gpa, out);
  st.used.set(buf, dwords.length);
}

function runCase(w: FuzzWorld, st: CmdState, k: CommandCase): void {
  const g = w.attacker;
  const e = g.engine(k.engine);
  const end = k.noEnd ? [] : miBatchBufferEnd();
  const pA = st.ppgttBatches[0], pB = st.ppgttBatches[1];
  let ring: number[];
  switch (k.placement) {
    case 'ring':
      ring = [...k.body];
      break;
    case 'ppgtt-batch':
      writeBatch(w, st, pA, [...k.body, ...end]);
      ring = [...miBatchBufferStart(pA.gma, { ppgtt: true }), ...miNoop()];
      break;
    case 'ggtt-batch':
      writeBatch(w, st, st.ggttBatches[0], [...k.body, ...end]);
      ring = [...miBatchBufferStart(st.ggttBatches[0].gma), ...miNoop()];
      break;
    case 'nested':
      writeBatch(w, st, pB, [...k.inner, ...miBatchBufferEnd()]);
      writeBatch(w, st, pA, [...k.body, ...miBatchBufferStart(pB.gma, { ppgtt: true, secondLevel: true }), ...end]);
      ring = [...miBatchBufferStart(pA.gma, { ppgtt: true }), ...miNoop()];
      break;
    case 'chain':
      writeBatch(w, st, pB, [...k.inner, ...miBatchBufferEnd()]);
      writeBatch(w, st, pA, [...k.body, ...miBatchBufferStart(pB.gma, { ppgtt: true })]);
      ring = [...miBatchBufferStart(pA.gma, { ppgtt: true }), ...miNoop()];
      break;
    case 'self-chain':
      writeBatch(w, st, pA, [...k.body, ...miBatchBufferStart(pA.gma, { ppgtt: true })]);
      ring = [...miBatchBufferStart(pA.gma, { ppgtt: true }), ...miNoop()];
      break;
  }
  e.emit(ring);
  const view = e.view();
  for (const [idx, v] of k.context) writeContextValue(view, e.context.gma, idx, v);
  if (k.descriptor) {
    writeContextValue(view, e.context.gma, CtxReg.RING_TAIL, e.tail);
    const d = k.descriptor;
    g.driver.submitElsp(e.engine, [d[0], d[1]], d.length > 2 ? [d[2], d[3]] : [0, 0]);
    // Twice in a row: the second is queued behind (or lite-restores) the first.
    if (d.length > 2) g.driver.submitElsp(e.engine, [d[0], d[1]]);
  } else {
    e.submit();
  }
}

/** The command fuzzer. */
/**
 * Every pipe lit and every plane on (ABGR8888, 16 x 4 pixels, cursors 64 x 64) at `surface`, as i915's modeset
 * leaves them (and redoes after a reset): the flips then make planes that decode, and the world's
 * scan-out check (`FuzzWorld.checkScanout`) reads what they show.
 */
function lightPlanes(g: TestGuest, surface: number): void {
  const v = g.vgpu;
  for (let pipe = 0; pipe < 3; pipe++) {
    v.mmioWrite(transcoderBase(pipe) + TRANS.PIPESRC, 4, (15 << 16) | 3);
    for (let plane = 0; plane < planesOf(pipe); plane++) {
      v.mmioWrite(planeCtl(pipe, plane) + PlaneReg.SIZE, 4, (3 << 16) | 15);
      v.mmioWrite(planeCtl(pipe, plane) + PlaneReg.STRIDE, 4, 1);
      v.mmioWrite(planeCtl(pipe, plane) + PlaneReg.CTL, 4, ((1 << 31) | (4 << 24) | (1 << 20) | (3 << 4)) >>> 0);
      v.mmioWrite(planeCtl(pipe, plane) + PlaneReg.SURF, 4, surface);
    }
    v.mmioWrite(curcntr(pipe) + CursorReg.CNTR, 4, 0x27);
    v.mmioWrite(curcntr(pipe) + CursorReg.BASE, 4, surface);
    v.mmioWrite(pipeconf(pipe), 4, DBits.PIPECONF_ENABLE);
  }
}

export const commandsFuzzer: Fuzzer<CommandCase, CmdState> = {
  name: 'commands',
  description: 'grammar-aware command streams from the encoders, mutated (bit flips, lengths, truncation, addresses), in rings and batches',
  casesPerWorld: 300,
  victimEvery: 2,
  // Every fourth world shares the victim's slices and fences under gScale.
  worldOptions: (seed, worldIndex) => ({ seed: seed ^ (worldIndex * 7919), failsafe: pick3(worldIndex), ...(worldIndex % 4 === 3 ? GSCALE_SHARED_WORLD : {}) }),
  setup(world) {
    const g = world.attacker;
    for (const e of ['rcs', 'bcs', 'vcs', 'vecs'] as EngineName[]) g.engine(e);
    // The auditor's own default whitelist per engine (CMD_ACCESS rows of the engine and global ones).
    const whitelist = GEN9_ENGINES.map((e) => GEN9_REGISTERS.rows
      .filter((r) => (r.flags & RegFlag.CMD_ACCESS) !== 0 && defaultRegisterAllowed(r.offset, e))
      .map((r) => r.offset));
    const registers = GEN9_REGISTERS.rows.map((r) => r.offset);
    const tableCommands = [0, 1, 2, 3].map((cls) => COMMANDS.filter((x) => (x.engines & (1 << cls)) !== 0));
    const weighted = [0, 1, 2, 3].map((cls) => weightedCommands(cls));
    const cmdAccess = GEN9_REGISTERS.rows.filter((r) => (r.flags & RegFlag.CMD_ACCESS) !== 0).flatMap((r) => (r.width === 8 ? [r.offset, r.offset + 4] : [r.offset]));
    const ggttData = g.buffer(BUF_BYTES);
    lightPlanes(g, ggttData.gma);
    return {
      ppgttData: g.ppgttBuffer(BUF_BYTES), ggttData, blitBuf: g.ppgttBuffer(BUF_BYTES),
      ppgttBatches: [g.ppgttBuffer(BUF_BYTES), g.ppgttBuffer(BUF_BYTES)], ggttBatches: [g.buffer(BUF_BYTES)],
      used: new Map(), whitelist, registers, tableCommands, weighted, cmdAccess,
      pipeControl: COMMANDS.find((x) => x.name === 'PIPE_CONTROL')!, flushDw: COMMANDS.find((x) => x.name === 'MI_FLUSH_DW')!,
    };
  },
  generate: (rng, st, world) => [genCase(rng, st, world)],
  execute(world, st, cases) {
    const g = world.attacker;
    const out: Violation[] = [];
    for (const k of cases) {
      world.heal(g, (k.body.length & 2) === 0);
      if ((g.vgpu.mmioRead(pipeconf(0), 4) & DBits.PIPECONF_ENABLE) === 0) lightPlanes(g, st.ggttData.gma);
      // The guest's driver writes its contexts' ring registers when it pins them (i915's
      // __execlists_update_reg_state): an earlier case's GPU store into its own context image (in
      // a gScale world the victim's addresses are the attacker's own) is not carried into this one.
      for (const ge of engineMap(g).values()) {
        writeContextValue(ge.view(), ge.context.gma, CtxReg.RING_BUFFER_START, ge.ring.gma);
        writeContextValue(ge.view(), ge.context.gma, CtxReg.RING_BUFFER_CONTROL, ((ge.ring.bytes - PAGE_SIZE) & 0x1ff000) | 1);
      }
      const e = g.engine(k.engine);
      const saved = k.context.map(([idx]) => [idx, readContextValue(e.view(), e.context.gma, idx)] as const);
      runCase(world, st, k);
      // A single blit may hold an engine for a second of simulated time (res-giant-blit): after
      // 200 ms the guest gives up on it as i915's hang check would, and resets its engines.
      if (!world.settle(200e6)) {
        for (const name of engineMap(g).keys()) world.recoverEngine(g, name, true);
        if (!world.settle(5e9)) out.push({ invariant: INVARIANTS.LIVENESS, message: 'not idle 5 s after the guest reset its engines' });
      }
      for (const [idx, v] of saved) writeContextValue(e.view(), e.context.gma, idx, v);
      if (k.benign) {
        const w = world.lastWorkload(g, k.engine);
        if (!w || w.status !== 'completed') {
          out.push({ invariant: INVARIANTS.ORACLE, message: `benign ${k.placement} workload on ${k.engine} ${w ? `failed: ${w.failure?.rule}: ${w.failure?.message}` : 'never finished'}` });
        } else {
          // A flip's only effect is on the attacker's own virtual plane (the victim's display and the
          // host are the world's checks): the last flip of each plane holds its surface.
          const last = new Map<number, number>();
          for (const [pipe, plane, surface] of k.flips) last.set(pipe * 4 + plane, surface);
          for (const [key, surface] of last) {
            const got = g.vgpu.display.regs.peek(VREG.planeSurf(key >>> 2, key & 3)) & ~0xfff;
            if (got >>> 0 !== surface) {
              out.push({ invariant: INVARIANTS.ORACLE, message: `benign MI_DISPLAY_FLIP of pipe ${key >>> 2} plane ${(key & 3) + 1} left PLANE_SURF ${hx(got >>> 0)}, expected ${hx(surface)}` });
            }
          }
          for (const [buf, off, v] of lastStores(k.stores)) {
            const b = buf === 'p' ? st.ppgttData : st.ggttData;
            const got = g.memory.read32(b.gpa + off);
            if (got !== v) out.push({ invariant: INVARIANTS.ORACLE, message: `benign store to ${buf === 'p' ? 'PPGTT' : 'GGTT'} +${hx(off)} left ${hx(got)}, expected ${hx(v)}` });
          }
        }
      }
    }
    return out;
  },
  format: (k) => `${k.engine} ${k.placement}${k.benign ? ' (benign)' : ''}${k.mutations.length ? ` mutated [${k.mutations.join('; ')}]` : ''} ` +
    `body [${k.body.slice(0, 48).map((d) => d.toString(16)).join(' ')}${k.body.length > 48 ? ` ... (${k.body.length})` : ''}]` +
    (k.inner.length ? ` inner [${k.inner.slice(0, 24).map((d) => d.toString(16)).join(' ')}]` : ''),
};

function pick3(i: number): 'gvt-g' | 'never' | 'always' {
  return (['never', 'gvt-g', 'never', 'always'] as const)[i % 4];
}

/** The last store to each location. */
function lastStores(stores: CommandCase['stores']): (readonly ['p' | 'g', number, number])[] {
  const m = new Map<string, readonly ['p' | 'g', number, number]>();
  for (const s of stores) m.set(`${s[0]}:${s[1]}`, s);
  return [...m.values()];
}
