/**
 * What a real guest sends (fixtures/real/): i915's Gen9 null render state, its MOCS and context
 * workaround setup, its request breadcrumbs, and IGT's Gen9 render copy, GPGPU fill and media
 * fill. Each decodes with every command named, passes the audit from a guest on GGTT and on PPGTT
 * batches, completes, and leaves the vGPU active; the modelled guest driver runs the setup on
 * every new context.
 */
import t, { type Test } from 'tap';
import { Harness, type TestGuest } from '../lib/harness/index.js';
import { CommandDecoder, commandName, DecodeError, EngineClass, miBatchBufferStart, miNoop } from '../lib/device/commands/index.js';
import { GEN9_ENGINES, type EngineInfo } from '../lib/device/engines.js';
import { PAGE_SIZE } from '../lib/types.js';
import {
  GEN9_NULL_STATE_BATCH, GEN9_NULL_STATE_CMDS_END, GEN9_NULL_STATE_RELOCS, nullRenderState, renderStateSetup,
} from '../fixtures/real/null-render-state.js';
import { mocsFixture, requestFixture, SKL_MOCS, sklCtxWorkarounds, workaroundsFixture } from '../fixtures/real/context-setup.js';
import { gen9RenderCopy } from '../fixtures/real/render-copy.js';
import { gen9GpgpuFill, gen9MediaFill } from '../fixtures/real/fills.js';
import type { IgtBatch, IgtSurface } from '../fixtures/real/igt-state.js';
import { HWS_SEQNO_ADDR } from '../lib/guest/engine.js';
import { EmitMode, gen8EmitBbStart, gen8EmitFiniBreadcrumb, gen8EmitFlush, gen8EmitInitBreadcrumb } from '../lib/guest/i915-context.js';

const RCS = GEN9_ENGINES[0];

/** Names of the commands in `dwords[0..end)` for `engine`, walking header to header. */
function decodeNames(dwords: ArrayLike<number>, engine: EngineClass, end = dwords.length): { names: string[]; errors: string[]; stop: number } {
  const buf = Uint32Array.from(dwords);
  const d = new CommandDecoder();
  const names: string[] = [];
  const errors: string[] = [];
  let i = 0;
  while (i < end) {
    const len = d.decode(buf, i, end, engine);
    if (d.error !== DecodeError.OK) {
      errors.push(`dword ${i}: header 0x${buf[i].toString(16)} ${d.error === DecodeError.UNKNOWN_COMMAND ? 'UNKNOWN' : 'TRUNCATED'}`);
      if (len === 0) break;
    }
    names.push(commandName(d.id));
    i += len;
  }
  return { names, errors, stop: i };
}

// ---------------------------------------------------------------------------------------------
// The fixtures themselves.

t.test('null render state: relocated as render_state_setup does (64-bit relocations, cacheline pad, aux batch)', async (t) => {
  t.equal(GEN9_NULL_STATE_BATCH.length, 960);
  t.same(GEN9_NULL_STATE_RELOCS, [0x7a8, 0x7b4, 0x7bc, 0x7cc]);
  for (const address of [0x7fff_0000, 0x1_2345_6000]) {
    const so = renderStateSetup(address);
    for (const r of GEN9_NULL_STATE_RELOCS) {
      const k = r / 4;
      const value = GEN9_NULL_STATE_BATCH[k] + address;
      t.equal(so.dwords[k], value >>> 0, `low half of the relocation at dword ${k}`);
      t.equal(so.dwords[k + 1], Math.floor(value / 2 ** 32), `high half of the relocation at dword ${k}`);
    }
    let same = 0;
    for (let k = 0; k < 960; k++) if (so.dwords[k] === GEN9_NULL_STATE_BATCH[k]) same++;
    t.equal(same, 960 - (address >= 2 ** 32 ? 8 : 4), 'nothing but the relocated dwords changes');
    t.equal(so.batchSize, 960 * 4);
    t.equal(so.auxOffset, address + 960 * 4, '960 dwords are already a whole number of cachelines');
    t.equal(so.dwords[960], 0x05000000, 'the aux batch is MI_BATCH_BUFFER_END');
    t.equal(so.auxSize, 8);
  }
  const skl = nullRenderState(0x10000);
  t.equal(skl.ring.length, 4, 'Skylake: one batch start (an 8-byte aux batch is not run)');
  const bxt = nullRenderState(0x10000, { pooledEu: true });
  t.equal(bxt.ring.length, 8, 'pooled EUs (Broxton): the aux batch with MEDIA_POOL_STATE is started too');
  t.equal(bxt.state.auxSize, 32);
  t.equal(skl.ring[1] & (1 << 8), 0, 'i915 dispatches it secure, from the GGTT');
  t.not(nullRenderState(0x10000, { ppgtt: true }).ring[1] & (1 << 8), 0);
  t.throws(() => renderStateSetup(0x10001), 'a misaligned object is refused');
});

t.test('MOCS and workaround tables are i915’s Skylake values', async (t) => {
  t.equal(SKL_MOCS.length, 64);
  t.same(SKL_MOCS.slice(0, 3).map((e) => e.control), [0x09, 0x30, 0x3b], 'uncached, PTE, cached');
  t.equal(SKL_MOCS[63].control, 0x37, 'entry 63 for L3 evictions');
  t.ok(SKL_MOCS.slice(3, 63).every((e) => e.control === 0x30 && e.l3cc === 0x30), 'unused entries copy the PTE entry');
  const rcsMocs = mocsFixture(RCS);
  t.equal(rcsMocs.length, (1 + 128 + 1) + (1 + 64 + 1), 'one 64-register LRI, one 32-register LRI, each then MI_NOOP');
  t.same([rcsMocs[131], rcsMocs[132]], [0xb020, 0x00300010], 'L3CC entries 0 and 1 share register 0xb020');
  t.same([rcsMocs[193], rcsMocs[194]], [0xb09c, 0x00100030], 'entries 62 and 63 in 0xb09c');
  const vcs = GEN9_ENGINES.find((e) => e.name === 'vcs')!;
  t.equal(mocsFixture(vcs)[1], 0xc900, 'each engine its own MOCS range');
  const wa = sklCtxWorkarounds();
  t.same(wa.map((w) => w.offset), [0x2580, 0x7004, 0x7014, 0x7300, 0xe180, 0xe184, 0xe188, 0xe194, 0xe4f0], 'sorted by offset, one write per register');
  t.equal(wa.find((w) => w.offset === 0x7300)?.value, 0x80308030, 'HDC_CHICKEN0: the two workarounds merged');
  t.equal(wa.find((w) => w.offset === 0x2580)?.value, 0x00070004, 'GEN8_CS_CHICKEN1: 3D object-level preemption off, GPGPU command level');
  t.equal(wa.find((w) => w.offset === 0xe194)?.value, 0x01140114);
  t.equal(sklCtxWorkarounds({ subslice7eu: [0b0100, 0, 0] }).find((w) => w.offset === 0x7008)?.value, 0x003f0001, 'IZ hashing tuned for a slice with one 7-EU subslice');
  t.same(workaroundsFixture(vcs), [], 'no context workarounds off the render engine');
});

t.test('request framing: the dwords i915 emits (gen8_engine_cs.c, vGPU flavour)', async (t) => {
  const slot = 0x5000_0100;
  t.same(gen8EmitInitBreadcrumb(slot, 5), [0x10400002, slot, 0, 4, 0, 0x02800000], 'MI_STORE_DWORD_IMM (GGTT) seqno - 1, MI_NOOP, MI_ARB_CHECK');
  t.same(gen8EmitBbStart(0x1_0000_2000), [0x04000000, 0x18800101, 0x2000, 1], 'arbitration off, then a PPGTT batch start');
  t.same(gen8EmitBbStart(0x5000_1000, { secure: true }), [0x04000000, 0x18800001, 0x5000_1000, 0], 'a secure dispatch runs from the GGTT');
  t.same(gen8EmitFiniBreadcrumb(RCS, slot, 5), [
    0x7a000004, 0x00141021, 0, 0, 0, 0, // CS stall, TLB invalidate, RT / depth / DC flush
    0x7a000004, 0x01104080, slot, 0, 5, 0, // flush enable, CS stall, qword write to the GGTT slot
    0x01000000, 0x04000001, 0x02800000, 0, // user interrupt, arbitration on, wa tail
  ]);
  const vcs = GEN9_ENGINES.find((e) => e.name === 'vcs')!;
  t.same(gen8EmitFiniBreadcrumb(vcs, slot, 5), [0x13004002, slot | 4, 0, 5, 0x01000000, 0x04000001, 0x02800000, 0], 'MI_FLUSH_DW dword write, GGTT');
  t.same(gen8EmitFlush(vcs, EmitMode.INVALIDATE), [0x13244082, 0xd0, 0, 0], 'VCS invalidate: store index, dword write, TLB and BSD invalidate, to the PPHWSP scratch slot');
  t.same(gen8EmitFlush(GEN9_ENGINES.find((e) => e.name === 'bcs')!, EmitMode.INVALIDATE)[0], 0x13244002, 'no BSD invalidate off the video engines');
  t.same(gen8EmitFlush(RCS, EmitMode.INVALIDATE).slice(0, 8), [0x7a000004, 0, 0, 0, 0, 0, 0x7a000004, 0x00344c1c], 'Gen9: a null PIPE_CONTROL before the invalidating one');
  t.same(gen8EmitFlush(RCS, EmitMode.BARRIER)[7], 0x00345cbd, 'barrier: flush and invalidate bits together');
});

// ---------------------------------------------------------------------------------------------
// Every command named.

t.test('the decoder names every command of every fixture', async (t) => {
  const surf = (address: number, bpp = 32): IgtSurface => ({ address, width: 64, height: 32, stride: 64 * (bpp / 8), bpp });
  const igt: [string, IgtBatch][] = [
    ['render copy', gen9RenderCopy({ batchAddress: 0x100000, src: surf(0x200000), dst: surf(0x300000), srcX: 0, srcY: 0, dstX: 0, dstY: 0, width: 64, height: 32 })],
    ['gpgpu fill', gen9GpgpuFill({ batchAddress: 0x100000, buffer: surf(0x200000, 8), x: 0, y: 0, width: 64, height: 32, color: 0x5a })],
    ['media fill', gen9MediaFill({ batchAddress: 0x100000, buffer: surf(0x200000, 8), x: 0, y: 0, width: 64, height: 32, color: 0x5a })],
  ];
  const ns = decodeNames(GEN9_NULL_STATE_BATCH, EngineClass.RCS, GEN9_NULL_STATE_CMDS_END + 1);
  t.same(ns.errors, [], 'null render state: no UNKNOWN');
  t.equal(ns.stop, GEN9_NULL_STATE_CMDS_END + 1, 'null render state: lengths land on its MI_BATCH_BUFFER_END');
  t.equal(ns.names[ns.names.length - 1], 'MI_BATCH_BUFFER_END');
  for (const [name, b] of igt) {
    const r = decodeNames(b.dwords, EngineClass.RCS, b.commandDwords);
    t.same(r.errors, [], `${name}: no UNKNOWN (${r.names.length} commands)`);
    t.equal(r.stop, b.commandDwords, `${name}: lengths land on the end`);
    t.equal(r.names[r.names.length - 1], 'MI_BATCH_BUFFER_END');
  }
  for (const e of GEN9_ENGINES) {
    const seq = [...requestFixture(e, 0x1000, 7, [...workaroundsFixture(e), ...mocsFixture(e), ...nullRenderState(0x10000).ring])];
    const r = decodeNames(seq, e.engineClass);
    t.same(r.errors, [], `${e.name}: request framing, MOCS and workarounds all named`);
  }
});

// ---------------------------------------------------------------------------------------------
// Audit and execution from a guest.

/**
 * Where a batch runs. `ppgtt`: a PPGTT batch in a PPGTT context (what IGT and Mesa submit).
 * `secure`: a GGTT batch in a PPGTT context (i915's own secure dispatch; its state addresses are
 * still context, i.e. PPGTT, addresses, so the object is mapped at the same address in both).
 * `ggtt`: a GGTT batch in a context without a PPGTT (every address a GGTT one).
 */
type Mode = 'ppgtt' | 'secure' | 'ggtt';
const MODES: readonly Mode[] = ['ppgtt', 'secure', 'ggtt'];
const MODE_NAME: Record<Mode, string> = {
  ppgtt: 'PPGTT batch, PPGTT context',
  secure: 'GGTT batch, PPGTT context',
  ggtt: 'GGTT batch, GGTT-only context',
};
/**
 * Known refusal of the GGTT-only mode (a gvtkit extension: GVT-g runs only contexts with a PPGTT
 * addressing mode). There the auditor checks 3D/media state pointers as GGTT addresses; the ones
 * the hardware ignores are no effects (STATE_BASE_ADDRESS bases without Modify Enable, disabled
 * pools, constant buffers of read length 0: `AddressField.enable`), but real guests still enable
 * some at address 0 (IGT's general-state base; the null state's disabled stream-output buffer,
 * whose enable bit is not tabulated yet), refused as address-bounds. i915 never submits this way.
 */
const GGTT_ONLY_TODO =
  'GGTT-only contexts: a state pointer at GGTT 0 that is enabled or whose enable bit is not tabulated (IGT general-state ' +
  'base, null state 3DSTATE_SO_BUFFER) is refused as address-bounds; real i915 guests run PPGTT contexts';

function guestFor(h: Harness, mode: Mode): TestGuest {
  return h.addGuest({ ppgtt: mode !== 'ggtt' });
}

/** A buffer the batch's commands address (context space: PPGTT unless the context has none). */
function dataBuffer(g: TestGuest, mode: Mode, bytes: number): { gma: number; gpa: number } {
  return mode === 'ggtt' ? g.buffer(bytes) : g.ppgttBuffer(bytes);
}

/** The batch object: GGTT for `ggtt` and `secure` (mapped in the PPGTT at the same address for `secure`), PPGTT for `ppgtt`. */
function batchBuffer(g: TestGuest, mode: Mode): { gma: number; gpa: number } {
  if (mode === 'ppgtt') return g.ppgttBuffer(PAGE_SIZE);
  const b = g.buffer(PAGE_SIZE);
  if (mode === 'secure') g.ppgtt!.map(b.gma, b.gpa, 1);
  return b;
}

/** Submit `payload` in an i915 request on `engine`; returns its seqno. */
function request(g: TestGuest, engine: EngineInfo, payload: number[]): number {
  return g.engine(engine.name).request(payload);
}

/** Place `object` in a batch buffer of `mode` and start it in a request; returns the seqno. */
function runObject(g: TestGuest, mode: Mode, at: { gma: number; gpa: number }, object: Uint32Array): number {
  g.driver.writeRam32(at.gpa, object);
  return request(g, RCS, [...miBatchBufferStart(at.gma, { ppgtt: mode === 'ppgtt' }), ...miNoop()]);
}

function checkClean(t: Test, h: Harness, g: TestGuest, engine: EngineInfo, seqno: number, what: string, todo?: string): void {
  const o = todo ? { todo } : {};
  t.ok(h.runUntilIdle(), `${what}: ran to idle`);
  const w = g.lastWorkload;
  t.equal(w?.status, 'completed', `${what}: completed${w?.failure ? ` (refused: ${w.failure.rule}: ${w.failure.message})` : ''}`, o);
  t.equal(g.vgpu.state, 'active', `${what}: the vGPU stays active${g.vgpu.failsafeReason ? ` (failsafe: ${g.vgpu.failsafeReason})` : ''}`, o);
  t.equal(g.engine(engine.name).completedSeqno, seqno, `${what}: the final breadcrumb reached the status page`, o);
}

for (const mode of MODES) {
  const name = MODE_NAME[mode];
  const todo = mode === 'ggtt' ? GGTT_ONLY_TODO : undefined;

  t.test(`null render state (${name})`, async (t) => {
    const h = new Harness();
    const g = guestFor(h, mode);
    // i915 pins the object in the GGTT (PIN_GLOBAL | PIN_HIGH) and starts it with I915_DISPATCH_SECURE.
    const at = mode === 'ppgtt' ? g.ppgttBuffer(PAGE_SIZE) : g.buffer(PAGE_SIZE);
    const f = nullRenderState(at.gma, { ppgtt: mode === 'ppgtt' });
    g.driver.writeRam32(at.gpa, f.object);
    const seqno = request(g, RCS, f.ring);
    checkClean(t, h, g, RCS, seqno, `null render state (${name})`, todo);
    t.ok((g.lastWorkload?.commands ?? 0) > GEN9_NULL_STATE_CMDS_END / 10, 'the batch’s commands were scanned', todo ? { todo } : {});
  });

  t.test(`IGT render copy, GPGPU fill and media fill (${name})`, async (t) => {
    const h = new Harness();
    const g = guestFor(h, mode);
    const src = dataBuffer(g, mode, 64 * 32 * 4);
    const dst = dataBuffer(g, mode, 64 * 32 * 4);
    const fillBuf = dataBuffer(g, mode, 64 * 32);
    const s = (b: { gma: number }, bpp: number): IgtSurface => ({ address: b.gma, width: 64, height: 32, stride: 64 * (bpp / 8), bpp });
    const jobs: [string, (batchAddress: number) => IgtBatch][] = [
      ['render copy', (a) => gen9RenderCopy({ batchAddress: a, src: s(src, 32), dst: s(dst, 32), srcX: 0, srcY: 0, dstX: 0, dstY: 0, width: 64, height: 32 })],
      ['gpgpu fill', (a) => gen9GpgpuFill({ batchAddress: a, buffer: s(fillBuf, 8), x: 0, y: 0, width: 64, height: 32, color: 0x5a })],
      ['media fill', (a) => gen9MediaFill({ batchAddress: a, buffer: s(fillBuf, 8), x: 0, y: 0, width: 64, height: 32, color: 0x5a })],
    ];
    for (const [job, build] of jobs) {
      const at = batchBuffer(g, mode);
      const seqno = runObject(g, mode, at, build(at.gma).dwords);
      checkClean(t, h, g, RCS, seqno, `${job} (${name})`, todo);
      if (g.vgpu.state !== 'active') break;
    }
  });
}

for (const ppgtt of [true, false]) {
  t.test(`MOCS, L3CC and workaround LRIs and breadcrumbs on every engine (${ppgtt ? 'PPGTT' : 'GGTT-only'} context)`, async (t) => {
    for (const e of GEN9_ENGINES) {
      const h = new Harness();
      const g = h.addGuest({ ppgtt });
      const seqno = request(g, e, [...workaroundsFixture(e), ...mocsFixture(e)]);
      checkClean(t, h, g, e, seqno, `${e.name} setup`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The modelled guest driver runs the setup on every new context.

for (const ppgtt of [true, false]) {
  t.test(`guest driver: every engine's first request is i915's context setup (${ppgtt ? 'PPGTT' : 'GGTT-only'} contexts)`, async (t) => {
    const o = ppgtt ? {} : { todo: GGTT_ONLY_TODO };
    const h = new Harness();
    const g = h.addGuest({ ppgtt, setupContexts: true });
    t.ok(h.runUntilIdle());
    t.equal(g.vgpu.state, 'active', `vGPU active${g.vgpu.failsafeReason ? ` (failsafe: ${g.vgpu.failsafeReason})` : ''}`, o);
    t.equal(g.workloads.length, GEN9_ENGINES.length, 'one setup request per engine');
    for (const w of g.workloads) t.equal(w.status, 'completed', `${w.engine.name}: ${w.failure ? `${w.failure.rule}: ${w.failure.message}` : 'completed'}`, o);
    for (const e of GEN9_ENGINES) t.equal(g.engine(e.name).completedSeqno, 1, `${e.name}: seqno 1 written to the status page`, o);
    const rcsWork = g.workloads.find((w) => w.engine.name === 'rcs');
    t.ok((rcsWork?.commands ?? 0) > GEN9_NULL_STATE_CMDS_END / 10, 'the render setup ran the null render-state batch', o);
    t.equal(g.read32(g.engine('rcs').hwsp!.gma + HWS_SEQNO_ADDR), 1, 'the seqno sits in i915’s status-page slot', o);
  });
}
