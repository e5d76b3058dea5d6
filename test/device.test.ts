import t from 'tap';
import {
  BAR0_GGTT_START, Bits, EngineIrq, fenceReg, GEN9_ENGINES, GEN9_REGISTER_DEFS, GEN9_REGISTERS, gtIer, gtIir, gtImr, gtIsr,
  REG, RING, timestampTicks,
} from '../lib/device/index.js';
import { RegFlag } from '../lib/mmio/index.js';
import { PTE_PRESENT, pteHi, pteLo } from '../lib/gtt/pte.js';
import { PAGE_SIZE } from '../lib/types.js';
import { ConfigError } from '../lib/errors.js';
import { MiB, smallDevice } from './device-fixture.js';

const rcs = GEN9_ENGINES[0];
const bcs = GEN9_ENGINES[1];

t.test('the register table compiles, has the documented offsets and flags', async (t) => {
  t.ok(GEN9_REGISTERS.rows.length > 900);
  const at = (o: number) => GEN9_REGISTERS.rows.find((r) => r.offset === o);
  const bases = { rcs: 0x2000, bcs: 0x22000, vcs: 0x12000, vcs2: 0x1c000, vecs: 0x1a000 };
  for (const [name, base] of Object.entries(bases)) {
    const N = name.toUpperCase();
    t.equal(at(base + 0x30)?.name, `${N}_RING_TAIL`);
    t.equal(at(base + 0x34)?.name, `${N}_RING_HEAD`);
    t.equal(at(base + 0x38)?.name, `${N}_RING_START`);
    t.equal(at(base + 0x3c)?.name, `${N}_RING_CTL`);
    t.equal(at(base + 0x230)?.name, `${N}_RING_ELSP`);
    t.equal(at(base + 0x29c)?.name, `${N}_RING_MODE_GEN7`);
    t.equal(at(base + 0x3a0)?.name, `${N}_RING_CONTEXT_STATUS_PTR`);
    t.equal(at(base + 0x370 + 5 * 8 + 4)?.name, `${N}_RING_CONTEXT_STATUS_BUF_HI[5]`);
    t.equal(at(base + 0x270 + 3 * 8 + 4)?.name, `${N}_RING_PDP_UDW[3]`);
    t.ok((at(base + 0x29c)!.flags & RegFlag.MODE_MASK) !== 0, `${name} GFX_MODE mode mask`);
    t.ok((at(base + 0x9c)!.flags & RegFlag.MODE_MASK) !== 0, `${name} MI_MODE mode mask`);
    t.ok((at(base + 0xc0)!.flags & RegFlag.CMD_ACCESS) !== 0, `${name} INSTPM command-accessible`);
    t.ok((at(base + 0x600)!.flags & RegFlag.CMD_ACCESS) !== 0, `${name} GPR0 command-accessible`);
    t.equal((at(base + 0x230)!.flags & RegFlag.CMD_ACCESS), 0, `${name} ELSP not command-accessible`);
    t.equal((at(base + 0x30)!.flags & RegFlag.CMD_ACCESS), 0, `${name} RING_TAIL not command-accessible`);
  }
  for (const [o, name] of [[0xc800, 'RCS_MOCS[0]'], [0xc900, 'VCS_MOCS[0]'], [0xca00, 'VCS2_MOCS[0]'], [0xcb00, 'VECS_MOCS[0]'], [0xcc00, 'BCS_MOCS[0]'],
    [0xb020, 'GEN9_LNCFCMOCS[0]'], [0x44200, 'GEN8_MASTER_IRQ'], [0x44308, 'GEN8_GT_IIR[0]'], [0x4433c, 'GEN8_GT_IER[3]'], [0x1000f8, 'FENCE_REG_GEN6[31]'],
    [0x2430, 'GEN7_3DPRIM_START_VERTEX'], [0x5280, 'GEN7_SO_WRITE_OFFSET[0]'], [0x2500, 'GPGPU_DISPATCHDIMX']] as const) {
    t.equal(at(o)?.name, name);
  }
  t.ok((at(0xb118)!.flags & RegFlag.CMD_SRM_LRM) !== 0, 'GEN8_L3SQCREG4 is on the SRM/LRM list');
  t.equal(at(0x78000), undefined, 'PVINFO is not a device register');
  const cmd = GEN9_REGISTERS.rows.filter((r) => r.flags & RegFlag.CMD_ACCESS).length;
  t.ok(cmd > 300, `${cmd} command-accessible registers`);
  t.ok(GEN9_REGISTER_DEFS.length > 100);
});

t.test('mode-mask, read-only, W1C, unaligned and untracked semantics through BAR0', async (t) => {
  const d = smallDevice();
  const gfx = rcs.mmioBase + RING.GFX_MODE;
  d.mmioWrite(gfx, 4, 0x00008000);
  t.equal(d.mmioRead(gfx, 4), 0, 'no mask bit: no change');
  d.mmioWrite(gfx, 4, 0x80008000);
  t.equal(d.mmioRead(gfx, 4), 0x8000, 'bit 15 set with its mask');
  d.mmioWrite(gfx, 4, 0x00010001);
  t.equal(d.mmioRead(gfx, 4), 0x8001, 'other bits untouched');

  const status = rcs.mmioBase + RING.EXECLIST_STATUS_LO;
  const before = d.mmioRead(status, 4);
  d.mmioWrite(status, 4, 0xffffffff);
  t.equal(d.mmioRead(status, 4), before, 'EXECLIST_STATUS is read-only');
  d.mmioWrite(gtIsr(0), 4, 0xffffffff);
  t.equal(d.mmioRead(gtIsr(0), 4), 0, 'ISR is read-only');

  // IIR: write 1 to clear.
  d.regs.poke(gtIir(0), 0x0101);
  d.mmioWrite(gtIir(0), 4, 0x0100);
  t.equal(d.mmioRead(gtIir(0), 4), 0x0001);

  // Unaligned and sub-dword accesses to registers without UNALIGNED are refused.
  const refused = d.regs.stats.refused;
  t.equal(d.mmioRead(gfx + 1, 4), 0);
  d.mmioWrite(gfx, 2, 0xffff);
  t.equal(d.regs.stats.refused - refused, 2);
  t.equal(d.mmioRead(gfx, 4), 0x8001);

  // Untracked offsets: counted, read 0, writes dropped (PVINFO included).
  const untracked = d.regs.stats.untrackedReads;
  t.equal(d.mmioRead(0x78000, 4), 0);
  d.mmioWrite(0x78000, 4, 0x1234);
  t.equal(d.mmioRead(0x78000, 4), 0);
  t.equal(d.regs.stats.untrackedReads - untracked, 2);
  t.equal(d.regs.stats.untrackedWrites, 1);

  // Reserved range and out-of-BAR accesses.
  t.equal(d.mmioRead(3 * MiB, 4), 0);
  d.mmioWrite(4 * MiB, 4, 1);
  t.equal(d.stats.reservedAccesses, 2);
  t.equal(d.mmioRead(16 * MiB, 4), 0);
  d.mmioWrite(-4, 4, 0);
  d.mmioRead(BAR0_GGTT_START, 3);
  t.equal(d.stats.refused, 3);
});

t.test('master interrupt control: only bit 31 writable, pending bits computed', async (t) => {
  const d = smallDevice();
  d.mmioWrite(REG.GEN8_MASTER_IRQ, 4, 0xffffffff);
  t.equal(d.mmioRead(REG.GEN8_MASTER_IRQ, 4), 0x80000000);
  d.mmioWrite(gtIer(0), 4, 0xffffffff);
  d.mmioWrite(gtImr(0), 4, 0);
  d.interrupts.raise(bcs, EngineIrq.USER);
  t.equal(d.mmioRead(REG.GEN8_MASTER_IRQ, 4), 0x80000002, 'BCS pending in master bit 1');
  t.equal(d.mmioRead(gtIir(0), 4), 1 << 16);
  t.equal(d.mmioRead(gtIsr(0), 4), 1 << 16);
  d.mmioWrite(gtIir(0), 4, 1 << 16);
  t.equal(d.mmioRead(REG.GEN8_MASTER_IRQ, 4), 0x80000000);
  t.equal(d.mmioRead(gtIsr(0), 4), 0, 'ISR cleared with its IIR bit');
});

t.test('interrupt delivery: IMR, IER, RING_IMR and the master enable', async (t) => {
  const d = smallDevice();
  const calls: number[] = [];
  d.onInterrupt((pending) => calls.push(pending));
  const vecs = GEN9_ENGINES[4];
  d.interrupts.raise(vecs, EngineIrq.USER);
  t.equal(calls.length, 0, 'masked by IMR at reset');
  t.equal(d.mmioRead(gtIsr(3), 4), 1, 'ISR sees the raw event');
  t.equal(d.mmioRead(gtIir(3), 4), 0, 'IIR does not');
  d.mmioWrite(gtImr(3), 4, ~EngineIrq.USER >>> 0);
  d.interrupts.raise(vecs, EngineIrq.USER);
  t.equal(d.mmioRead(gtIir(3), 4), 1, 'IIR set once unmasked');
  t.equal(calls.length, 0, 'IER still 0');
  d.mmioWrite(gtIer(3), 4, EngineIrq.USER);
  t.equal(calls.length, 0, 'master still off');
  t.notOk(d.interruptLine);
  d.mmioWrite(REG.GEN8_MASTER_IRQ, 4, 0x80000000);
  t.same(calls, [1 << 6], 'line up on master enable: VECS is master bit 6');
  t.ok(d.interruptLine);
  d.interrupts.raise(vecs, EngineIrq.USER);
  t.equal(calls.length, 1, 'no new edge while the line is up');
  d.mmioWrite(REG.GEN8_MASTER_IRQ, 4, 0);
  d.mmioWrite(REG.GEN8_MASTER_IRQ, 4, 0x80000000);
  t.equal(calls.length, 2, 'master off/on with IIR still set raises a new edge (i915 handler pattern)');
  d.mmioWrite(gtIir(3), 4, 0xffffffff);
  t.notOk(d.interruptLine);
  // RING_IMR masks at the engine before the GT bank.
  d.mmioWrite(vecs.mmioBase + RING.IMR, 4, EngineIrq.USER);
  d.interrupts.raise(vecs, EngineIrq.USER);
  t.equal(d.mmioRead(gtIsr(3), 4), 0);
  t.equal(calls.length, 2);
  t.ok(d.interrupts.stats.masked >= 2);
});

t.test('fences are 64-bit registers at 0x100000', async (t) => {
  const d = smallDevice();
  d.mmioWrite64(fenceReg(31), 0x12345000, 0x000abcde);
  t.equal(d.mmioRead(fenceReg(31), 4), 0x12345000);
  t.equal(d.mmioRead(fenceReg(31) + 4, 4), 0x000abcde);
  t.equal(d.mmioRead(fenceReg(31), 8), 0x000abcde * 2 ** 32 + 0x12345000);
  t.equal(d.lastReadHi, 0x000abcde);
  d.mmioWrite(fenceReg(3), 8, 0x1_0000_1000);
  t.equal(d.mmioRead(fenceReg(3) + 4, 4), 1);
});

t.test('power and status registers: forcewake ack, GDRST, TLB invalidation, timestamps, MI_MODE idle, CSB pointer reset', async (t) => {
  const d = smallDevice();
  d.mmioWrite(REG.FORCEWAKE_RENDER_GEN9, 4, 0x00010001);
  t.equal(d.mmioRead(REG.FORCEWAKE_ACK_RENDER_GEN9, 4), 1);
  d.mmioWrite(REG.FORCEWAKE_RENDER_GEN9, 4, 0x00010000);
  t.equal(d.mmioRead(REG.FORCEWAKE_ACK_RENDER_GEN9, 4), 0);
  d.mmioWrite(REG.GEN6_GDRST, 4, 1 << 3);
  t.equal(d.mmioRead(REG.GEN6_GDRST, 4), 0, 'reset completes at once');
  d.mmioWrite(REG.TLB_INV_RCS + 0xc, 4, 1);
  t.equal(d.mmioRead(REG.TLB_INV_RCS + 0xc, 4), 0);
  t.equal(d.mmioRead(rcs.mmioBase + RING.TIMESTAMP, 4), 0);
  d.run(1e6);
  t.equal(d.mmioRead(rcs.mmioBase + RING.TIMESTAMP, 4), timestampTicks(1e6), '12 MHz timestamp follows simulated time');
  t.equal(timestampTicks(1e6), 12000);
  t.equal(d.mmioRead(rcs.mmioBase + RING.MI_MODE, 4) & Bits.MODE_IDLE, Bits.MODE_IDLE, 'idle engine reports MODE_IDLE');
  d.mmioWrite(rcs.mmioBase + RING.MI_MODE, 4, (Bits.MODE_IDLE << 16) | 0);
  t.equal(d.mmioRead(rcs.mmioBase + RING.MI_MODE, 4) & Bits.MODE_IDLE, Bits.MODE_IDLE, 'MODE_IDLE is not writable');
  t.equal(d.mmioRead(rcs.mmioBase + RING.CSB_PTR, 4) & 7, 7, 'CSB write pointer resets to 7');
  d.mmioWrite(rcs.mmioBase + RING.CSB_PTR, 4, 0xffff0000 | 0x0305);
  t.equal(d.mmioRead(rcs.mmioBase + RING.CSB_PTR, 4), 0x0307, 'software moves the read pointer, not the write pointer');
  d.mmioWrite(rcs.mmioBase + RING.RESET_CTL, 4, 0x00010001);
  t.equal(d.mmioRead(rcs.mmioBase + RING.RESET_CTL, 4) & 3, 3, 'ready to reset acknowledges the request');
});

t.test('GGTT window: 4- and 8-byte accesses on gen8 64-bit PTEs', async (t) => {
  const d = smallDevice();
  const entry = 5;
  const off = BAR0_GGTT_START + entry * 8;
  d.mmioWrite64(off, pteLo(0x1234, PTE_PRESENT), pteHi(0x1234));
  t.equal(d.ggtt.lo(entry), 0x1234001);
  t.equal(d.mmioRead(off, 8), 0x1234001);
  t.equal(d.ggtt.translate(entry * PAGE_SIZE + 0x10), 0x1234 * PAGE_SIZE + 0x10);
  // Halves: low then high dword, each a 4-byte write.
  d.mmioWrite(off + 8, 4, 0x5678001);
  d.mmioWrite(off + 12, 4, 0x7f);
  t.equal(d.ggtt.hi(entry + 1), 0x7f);
  t.equal(d.mmioRead(off + 8, 4), 0x5678001);
  t.equal(d.mmioRead(off + 12, 4), 0x7f);
  t.equal(d.mmioRead(off + 8, 8), 0x7f * 2 ** 32 + 0x5678001);
  t.equal(d.lastReadLo, 0x5678001);
  t.equal(d.lastReadHi, 0x7f);
  d.mmioWrite(off + 16, 8, 0x3_0000_2001);
  t.equal(d.ggtt.lo(entry + 2), 0x2001);
  t.equal(d.ggtt.hi(entry + 2), 3);
  // Refused widths and alignments.
  const refused = d.stats.refused;
  d.mmioWrite(off, 2, 0);
  d.mmioWrite(off + 4, 8, 0);
  d.mmioRead(off + 2, 4);
  t.equal(d.stats.refused - refused, 3);
  t.equal(d.ggtt.lo(entry), 0x1234001, 'refused writes changed nothing');
  // Beyond the configured graphics memory (256 MiB = 64 Ki entries).
  const beyond = BAR0_GGTT_START + d.ggtt.entries * 8;
  d.mmioWrite(beyond, 4, 1);
  t.equal(d.mmioRead(beyond, 4), 0);
  t.equal(d.stats.ggttOutOfRange, 2);
});

t.test('aperture: GGTT-translated access to host memory', async (t) => {
  const d = smallDevice();
  const frame = d.hostMemory.allocFrame();
  d.ggtt.set(3, pteLo(frame, PTE_PRESENT), pteHi(frame));
  const base = 3 * PAGE_SIZE;
  d.apertureWrite(base + 8, 4, 0xcafef00d);
  t.equal(d.hostMemory.read32(frame * PAGE_SIZE + 8), 0xcafef00d, 'landed in the host frame');
  t.equal(d.apertureRead(base + 8, 4), 0xcafef00d);
  t.equal(d.apertureRead(base + 9, 1), 0xf0);
  t.equal(d.apertureRead(base + 10, 2), 0xcafe);
  d.apertureWrite(base + 16, 8, 0x1234_5678_9abc);
  t.equal(d.apertureRead(base + 16, 8), 0x1234_5678_9abc);
  t.equal(d.lastReadHi, 0x1234);
  // A page whose entry is not present: reads 0, writes dropped, counted.
  d.apertureWrite(4 * PAGE_SIZE, 4, 1);
  t.equal(d.apertureRead(4 * PAGE_SIZE, 4), 0);
  t.equal(d.stats.apertureFaults, 2);
  // Byte ranges across pages: the mapped part is written, the unmapped part dropped.
  const bytes = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  d.apertureWriteBytes(base + PAGE_SIZE - 8, bytes);
  t.same([...d.apertureReadBytes(base + PAGE_SIZE - 8, 16)], [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
  t.equal(d.apertureRead(base + PAGE_SIZE - 2, 4), 0x0807, 'a dword across the page end');
  // A PTE pointing past host memory is a fault, not an exception.
  d.ggtt.set(6, pteLo(0x7ffff, PTE_PRESENT), pteHi(0x7ffff));
  t.equal(d.apertureRead(6 * PAGE_SIZE, 4), 0);
  // Outside the aperture.
  const refused = d.stats.refused;
  t.equal(d.apertureRead(d.apertureSize, 4), 0);
  d.apertureWriteBytes(d.apertureSize - 4, new Uint8Array(8));
  t.equal(d.stats.refused - refused, 2);
});

t.test('options are validated', async (t) => {
  t.throws(() => smallDevice({ graphicsMemorySize: 1000 }), ConfigError);
  t.throws(() => smallDevice({ graphicsMemorySize: 8 * 1024 * MiB }), ConfigError);
  t.throws(() => smallDevice({ cost: { chunkNs: 0 } }), ConfigError);
  t.throws(() => smallDevice({ cost: { commands: { NOT_A_COMMAND: 1 } } }), ConfigError);
  const d = smallDevice();
  t.equal(d.engines.length, 5);
  t.equal(d.engines[1], d.engines.bcs);
  t.equal(d.engine('vcs2'), d.engines[3]);
  t.throws(() => d.engine(9), ConfigError);
  t.equal(d.state().engines.length, 5);
});
