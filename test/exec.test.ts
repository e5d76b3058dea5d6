import t from 'tap';
import {
  AddressingMode, BltColorDepth, EngineIrq, EnginePhase, encodeByName, gtIer, gtIir, gtImr, miArbCheck, miBatchBufferEnd, miBatchBufferStart,
  miFlushDw, miLoadRegisterImm, miLoadRegisterMem, miLoadRegisterReg, miNoop, miStoreDataImm, miStoreRegisterMem, miUserInterrupt,
  mapGgttPages, pipeControl, PostSyncOp, readGgtt, REG, RING, startLegacyRing, timestampTicks, writeGgtt, xyColorBlt, xySrcCopyBlt,
  encodeHeader,
} from '../lib/device/index.js';
import { PAGE_SIZE } from '../lib/types.js';
import { DATA_GMA, dwords, EngineFixture, HWSP_GMA, PpgttBuilder, RING_GMA, RING_SIZE, smallDevice } from './device-fixture.js';

const D = DATA_GMA;

function bcsFixture(opts = {}) {
  const device = smallDevice(opts);
  return new EngineFixture(device, 'bcs');
}

t.test('MI_STORE_DATA_IMM through the GGTT: one dword, a qword, several dwords', async (t) => {
  const f = bcsFixture();
  const e = f.run(dwords(
    miStoreDataImm(D, [0x11111111], { ggtt: true }),
    miStoreDataImm(D + 8, [0x22222222, 0x33333333], { ggtt: true }),
    miStoreDataImm(D + 0x40, [1, 2, 3, 4, 5], { ggtt: true, storeQword: false }),
  ));
  t.equal(e.error, null);
  t.same([...readGgtt(f.device, D, 4)], [0x11111111, 0, 0x22222222, 0x33333333]);
  t.same([...readGgtt(f.device, D + 0x40, 5)], [1, 2, 3, 4, 5]);
  t.equal(e.streamer.stats.memoryWrites, 8);
});

t.test('MI_STORE_DATA_IMM through a 4-level PPGTT and a legacy 3-level PPGTT', async (t) => {
  for (const legacy of [false, true]) {
    const f = bcsFixture();
    const b = new PpgttBuilder(f.device.hostMemory);
    const gma = legacy ? 0x8000_3000 : 0x12_3456_7000;
    const [frame] = b.mapFresh(gma, 1, legacy);
    f.addressingMode = legacy ? AddressingMode.LEGACY_32B : AddressingMode.LEGACY_64B;
    f.pdps = legacy ? b.legacyPds : [b.pml4];
    const e = f.run(miStoreDataImm(gma + 0x10, [0xabcdef01]));
    t.equal(e.error, null, legacy ? 'legacy' : '4-level');
    t.equal(f.device.hostMemory.read32(frame * PAGE_SIZE + 0x10), 0xabcdef01);
  }
});

t.test('a PPGTT store in a context without a PPGTT is a translation fault: engine hang', async (t) => {
  const f = bcsFixture();
  const irqs: number[] = [];
  f.device.onInterrupt((p) => irqs.push(p));
  const e = f.run(dwords(miStoreDataImm(D, [1]), miStoreDataImm(D + 4, [2], { ggtt: true })));
  t.equal(e.phase, EnginePhase.HUNG);
  t.equal(e.error?.code, 'BAD_ADDRESS');
  t.equal(e.error?.address, RING_GMA, 'faulting command address');
  t.equal(e.error?.contextId, f.contextId);
  t.equal(readGgtt(f.device, D + 4, 1)[0], 0, 'nothing after the fault ran');
  const fault = f.device.mmioRead(REG.GEN8_RING_FAULT_REG, 4);
  t.equal(fault & 1, 1, 'fault valid');
  t.equal((fault >>> 12) & 7, e.id, 'engine id');
  t.equal(f.device.mmioRead(REG.GEN8_FAULT_TLB_DATA0, 4), D / PAGE_SIZE);
  const iir = f.device.mmioRead(gtIir(e.info.irqBank), 4);
  t.ok((iir >>> e.info.irqShift) & EngineIrq.CS_ERROR, 'CS error interrupt raised');
  t.ok(irqs.length > 0);
});

t.test('MI_LOAD_REGISTER_IMM writes through the register file (mode mask, byte disables)', async (t) => {
  const f = bcsFixture();
  const b = f.engine.info.mmioBase;
  const gpr0 = b + RING.GPR0;
  const instpm = b + RING.INSTPM;
  const lri = miLoadRegisterImm([[gpr0, 0xdeadbeef], [gpr0 + 4, 0x1234], [instpm, 0x00200020]]);
  const lriBytes = miLoadRegisterImm([[gpr0 + 8, 0xaabbccdd]]);
  lriBytes[0] |= 0b1010 << 8; // keep bytes 1 and 3
  f.device.regs.poke(gpr0 + 8, 0x11223344);
  const e = f.run(dwords(lri, lriBytes));
  t.equal(e.error, null);
  t.equal(f.device.mmioRead(gpr0, 4), 0xdeadbeef);
  t.equal(f.device.mmioRead(gpr0 + 4, 4), 0x1234);
  t.equal(f.device.mmioRead(instpm, 4), 0x20, 'mode-masked register took the masked bit');
  t.equal(f.device.mmioRead(gpr0 + 8, 4), 0x11bb33dd, 'byte write disables kept bytes 1 and 3');
  t.equal(e.streamer.stats.registerWrites, 4);
});

t.test('MI_STORE_REGISTER_MEM, MI_LOAD_REGISTER_MEM, MI_LOAD_REGISTER_REG', async (t) => {
  const f = bcsFixture();
  const gpr = f.engine.info.mmioBase + RING.GPR0;
  writeGgtt(f.device, D + 0x100, [0x5555aaaa]);
  const e = f.run(dwords(
    miLoadRegisterImm([[gpr, 0x0badf00d]]),
    miStoreRegisterMem(gpr, D, { ggtt: true }),
    miLoadRegisterMem(gpr + 8, D + 0x100, { ggtt: true }),
    miLoadRegisterReg(gpr + 8, gpr + 16),
    miStoreRegisterMem(gpr + 16, D + 4, { ggtt: true }),
  ));
  t.equal(e.error, null);
  t.equal(readGgtt(f.device, D, 1)[0], 0x0badf00d, 'SRM');
  t.equal(f.device.mmioRead(gpr + 8, 4), 0x5555aaaa, 'LRM');
  t.equal(f.device.mmioRead(gpr + 16, 4), 0x5555aaaa, 'LRR');
  t.equal(readGgtt(f.device, D + 4, 1)[0], 0x5555aaaa);
});

t.test('MI_FLUSH_DW post-sync writes: dword, qword, timestamp, store data index', async (t) => {
  const f = bcsFixture();
  f.device.run(5_000_000); // let the timestamp move away from 0
  const e = f.run(dwords(
    miFlushDw({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: D, ggtt: true, data: 0x1111 }),
    miFlushDw({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: D + 8, ggtt: true, data: 0x2222, dataHigh: 0x3333 }),
    miFlushDw({ postSyncOp: PostSyncOp.WRITE_TIMESTAMP, address: D + 16, ggtt: true }),
    miFlushDw({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: 0x40, storeDataIndex: true, data: 0x4444 }),
    miFlushDw(),
  ));
  t.equal(e.error, null);
  const v = readGgtt(f.device, D, 6);
  t.same([v[0], v[1], v[2], v[3]], [0x1111, 0, 0x2222, 0x3333]);
  const ts = v[5] * 2 ** 32 + v[4];
  t.ok(ts >= timestampTicks(5_000_000) && ts <= timestampTicks(f.device.clock.now), 'timestamp of the execution time');
  t.equal(readGgtt(f.device, f.ctxGma + 0x40, 1)[0], 0x4444, 'store data index lands in the per-process status page');
});

t.test('PIPE_CONTROL post-sync writes on the render engine', async (t) => {
  const device = smallDevice();
  const f = new EngineFixture(device, 'rcs');
  device.run(1_000_000);
  const e = f.run(dwords(
    pipeControl({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: D, ggtt: true, data: 0xaaaa5555, dataHigh: 0x77, commandStreamerStall: true }),
    pipeControl({ postSyncOp: PostSyncOp.WRITE_TIMESTAMP, address: D + 8, ggtt: true }),
    pipeControl({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: 0x80, ggtt: true, data: 9 }).map((d, i) => (i === 1 ? d | (1 << 21) : d)),
    pipeControl({ dcFlush: true }),
  ));
  t.equal(e.error, null);
  const v = readGgtt(device, D, 4);
  t.same([v[0], v[1]], [0xaaaa5555, 0x77], 'qword immediate');
  t.ok(v[2] >= timestampTicks(1_000_000), 'timestamp');
  t.equal(readGgtt(device, f.ctxGma + 0x80, 1)[0], 9, 'store data index');
});

t.test('XY_COLOR_BLT: 32/16/8 bpp fills with pitch and rectangle, write enables, a ROP', async (t) => {
  const f = bcsFixture();
  const pitch = 64;
  const s32 = D, s16 = D + 0x2000, s8 = D + 0x4000, s32b = D + 0x6000;
  writeGgtt(f.device, s32b, new Array(64).fill(0x11223344));
  const e = f.run(dwords(
    xyColorBlt({ dstAddress: s32, dstPitch: pitch, dst: { x1: 2, y1: 1, x2: 5, y2: 3 }, color: 0xff00ff00 }),
    xyColorBlt({ dstAddress: s16, dstPitch: pitch, dst: { x1: 1, y1: 0, x2: 3, y2: 2 }, color: 0xbeef, colorDepth: BltColorDepth.CD565 }),
    xyColorBlt({ dstAddress: s8, dstPitch: pitch, dst: { x1: 3, y1: 2, x2: 7, y2: 3 }, color: 0x5a, colorDepth: BltColorDepth.CD8 }),
    xyColorBlt({ dstAddress: s32b, dstPitch: pitch, dst: { x1: 0, y1: 0, x2: 2, y2: 1 }, color: 0xaabbccdd, writeRgb: false }),
    xyColorBlt({ dstAddress: s32b, dstPitch: pitch, dst: { x1: 0, y1: 1, x2: 1, y2: 2 }, color: 0, rop: 0x55 }),
  ));
  t.equal(e.error, null);
  const px32 = (base: number, x: number, y: number) => readGgtt(f.device, base + y * pitch + x * 4, 1)[0];
  t.equal(px32(s32, 2, 1), 0xff00ff00);
  t.equal(px32(s32, 4, 2), 0xff00ff00);
  t.equal(px32(s32, 5, 2), 0, 'x2 is exclusive');
  t.equal(px32(s32, 2, 3), 0, 'y2 is exclusive');
  t.equal(px32(s32, 1, 1), 0);
  const byte = (base: number, off: number) => f.device.gttRead32(base + (off & ~3)) >>> ((off & 3) * 8) & 0xff;
  t.equal(byte(s16, 2) | (byte(s16, 3) << 8), 0xbeef, '16 bpp pixel (1,0)');
  t.equal(byte(s16, pitch + 4) | (byte(s16, pitch + 5) << 8), 0xbeef, '16 bpp pixel (2,1)');
  t.equal(byte(s16, 6), 0);
  t.equal(byte(s8, 2 * pitch + 3), 0x5a);
  t.equal(byte(s8, 2 * pitch + 6), 0x5a);
  t.equal(byte(s8, 2 * pitch + 7), 0);
  t.equal(px32(s32b, 0, 0), 0xaa223344, 'alpha written, RGB kept');
  t.equal(px32(s32b, 0, 1), ~0x11223344 >>> 0, 'ROP 0x55 inverts the destination');
  t.equal(e.streamer.stats.bytesBlitted, 6 * 4 + 4 * 2 + 4 + 8 + 4);
});

t.test('XY_SRC_COPY_BLT: copies between surfaces and overlapping copies within one', async (t) => {
  const f = bcsFixture();
  const pitch = 32; // 8 pixels of 32 bpp
  const src = D, dst = D + 0x1000, ov = D + 0x2000;
  const pixels = Array.from({ length: 8 * 8 }, (_, i) => 0x1000 + i);
  writeGgtt(f.device, src, pixels);
  writeGgtt(f.device, ov, pixels);
  const e = f.run(dwords(
    xySrcCopyBlt({ dstAddress: dst, dstPitch: pitch, dst: { x1: 4, y1: 4, x2: 8, y2: 8 }, srcAddress: src, srcPitch: pitch, srcX: 1, srcY: 2 }),
    // Move rows 0-5 down by two rows inside the same surface (memmove semantics).
    xySrcCopyBlt({ dstAddress: ov, dstPitch: pitch, dst: { x1: 0, y1: 2, x2: 8, y2: 8 }, srcAddress: ov, srcPitch: pitch, srcX: 0, srcY: 0 }),
    // 8 bpp copy of 3 bytes.
    xySrcCopyBlt({ dstAddress: dst + 0x800, dstPitch: 16, dst: { x1: 1, y1: 0, x2: 4, y2: 1 }, srcAddress: src, srcPitch: 16, srcX: 0, srcY: 0, colorDepth: BltColorDepth.CD8 }),
  ));
  t.equal(e.error, null);
  const at = (base: number, x: number, y: number) => readGgtt(f.device, base + y * pitch + x * 4, 1)[0];
  t.equal(at(dst, 4, 4), pixels[2 * 8 + 1]);
  t.equal(at(dst, 7, 7), pixels[5 * 8 + 4]);
  t.equal(at(dst, 3, 4), 0, 'outside the rectangle');
  let ok = true;
  for (let y = 2; y < 8; y++) for (let x = 0; x < 8; x++) if (at(ov, x, y) !== pixels[(y - 2) * 8 + x]) ok = false;
  t.ok(ok, 'overlapping copy behaves like memmove');
  t.equal(at(ov, 0, 1), pixels[8], 'rows above the destination untouched');
  t.equal(readGgtt(f.device, dst + 0x800, 1)[0], (pixels[0] << 8) & 0xffffff00, '8 bpp bytes shifted by one pixel');
});

t.test('batch buffers: GGTT first level, PPGTT, chained, second level', async (t) => {
  const f = bcsFixture();
  const b = new PpgttBuilder(f.device.hostMemory);
  f.pdps = [b.pml4];
  const BB1 = D + 0x8000, BB2 = D + 0x9000, BB3 = D + 0xa000;
  const PP = 0x5555_0000_0000;
  const ppFrames = b.mapFresh(PP, 1);
  // A PPGTT batch: store to PPGTT, second-level call to a GGTT batch, back, end.
  const ppBatch = dwords(miStoreDataImm(PP + 0x800, [0x99]), miBatchBufferStart(BB3, { secondLevel: true }), miStoreDataImm(D + 0x30, [0x30], { ggtt: true }), miBatchBufferEnd());
  ppBatch.forEach((dw, i) => f.device.hostMemory.write32(ppFrames[0] * PAGE_SIZE + 4 * i, dw));
  writeGgtt(f.device, BB1, dwords(miStoreDataImm(D, [0x10], { ggtt: true }), miBatchBufferStart(BB2), miStoreDataImm(D + 4, [0xbad], { ggtt: true })));
  writeGgtt(f.device, BB2, dwords(miStoreDataImm(D + 8, [0x20], { ggtt: true }), miBatchBufferEnd(), miStoreDataImm(D + 4, [0xbad], { ggtt: true })));
  writeGgtt(f.device, BB3, dwords(miStoreDataImm(D + 0x20, [0x2e], { ggtt: true }), miBatchBufferEnd()));
  const e = f.run(dwords(
    miBatchBufferStart(BB1),
    miStoreDataImm(D + 0x10, [0x11], { ggtt: true }),
    miBatchBufferStart(PP, { ppgtt: true }),
    miStoreDataImm(D + 0x14, [0x12], { ggtt: true }),
  ));
  t.equal(e.error, null, e.error?.message ?? '');
  const v = readGgtt(f.device, D, 14);
  t.equal(v[0], 0x10, 'first-level GGTT batch ran');
  t.equal(v[2], 0x20, 'chained batch ran');
  t.equal(v[1], 0, 'a chained start ends the batch it is in');
  t.equal(v[4], 0x11, 'back in the ring after the chained batch ended');
  t.equal(f.device.hostMemory.read32(ppFrames[0] * PAGE_SIZE + 0x800), 0x99, 'PPGTT batch, PPGTT store');
  t.equal(v[8], 0x2e, 'second-level batch ran');
  t.equal(v[12], 0x30, 'returned to the first-level batch after the second level');
  t.equal(v[5], 0x12, 'then to the ring');
  t.equal(e.streamer.stats.batchStarts, 4);
});

t.test('a third batch level is an engine error (LIMIT)', async (t) => {
  const f = bcsFixture();
  const A = D + 0x1000, B = D + 0x2000, C = D + 0x3000;
  writeGgtt(f.device, A, miBatchBufferStart(B, { secondLevel: true }));
  writeGgtt(f.device, B, miBatchBufferStart(C, { secondLevel: true }));
  writeGgtt(f.device, C, miBatchBufferEnd());
  const e = f.run(miBatchBufferStart(A));
  t.equal(e.error?.code, 'LIMIT');
  t.equal(e.error?.address, B);
});

t.test('unknown command: engine error, registers, interrupt, recovery by reset', async (t) => {
  const f = bcsFixture();
  const bogus = 0x0c80_0000 | 0x7; // MI opcode 0x19 does not exist
  const e = f.run(dwords(miStoreDataImm(D, [1], { ggtt: true }), [bogus], miStoreDataImm(D + 4, [2], { ggtt: true })));
  t.equal(e.phase, EnginePhase.HUNG);
  t.equal(e.error?.code, 'BAD_COMMAND');
  t.equal(e.error?.header, bogus);
  t.equal(f.device.mmioRead(e.info.mmioBase + RING.IPEHR, 4), bogus);
  t.same([...readGgtt(f.device, D, 2)], [1, 0]);
  t.equal(e.stats.csbEvents, 1, 'idle-to-active only: no completion event after a hang');
  // A hung engine drops submissions.
  f.submit();
  t.equal(e.stats.elspDropped, 1);
  // Reset through GDRST (GEN6_GRDOM_BLT) and run again.
  f.device.mmioWrite(REG.GEN6_GDRST, 4, 1 << 3);
  t.equal(e.phase, EnginePhase.IDLE);
  t.equal(e.error, null);
  f.tail = 0;
  f.run(miStoreDataImm(D + 8, [3], { ggtt: true }));
  t.equal(readGgtt(f.device, D + 8, 1)[0], 3);
});

t.test('commands of another engine are unknown; 3D state on the render engine is decoded and ignored', async (t) => {
  const device = smallDevice();
  const r = new EngineFixture(device, 'rcs');
  const e = r.run(dwords(encodeByName('PIPELINE_SELECT', [], 0), encodeByName('3DSTATE_VF_STATISTICS'), miStoreDataImm(D, [7], { ggtt: true }), miArbCheck()));
  t.equal(e.error, null);
  t.equal(readGgtt(device, D, 1)[0], 7);
  t.equal(e.streamer.stats.ignored, 2);
  t.equal(e.streamer.stats.arbChecks, 1);
  const v = new EngineFixture(device, 'vcs', { slot: 1 });
  const ev = v.run(xyColorBlt({ dstAddress: D, dstPitch: 64, dst: { x1: 0, y1: 0, x2: 1, y2: 1 }, color: 1 }));
  t.equal(ev.error?.code, 'BAD_COMMAND', 'a blit on the video engine');
});

t.test('a command running past the ring tail is malformed', async (t) => {
  const f = bcsFixture();
  f.initImage();
  const sdi = miStoreDataImm(D, [1, 2, 3], { ggtt: true, storeQword: false }); // 6 dwords
  writeGgtt(f.device, f.ringGma, sdi);
  writeGgtt(f.device, f.ctxGma + PAGE_SIZE + 7 * 4, [16]); // tail after 4 dwords
  f.submit();
  f.device.runUntilIdle();
  t.equal(f.engine.error?.code, 'BAD_COMMAND');
});

t.test('legacy ring-buffer mode', async (t) => {
  const device = smallDevice();
  const e = device.engines.vecs;
  mapGgttPages(device, RING_GMA, RING_SIZE / PAGE_SIZE);
  mapGgttPages(device, D, 4);
  const irqs: number[] = [];
  device.onInterrupt((p) => {
    irqs.push(p);
    device.mmioWrite(gtIir(e.info.irqBank), 4, 0xffffffff);
  });
  device.mmioWrite(gtIer(e.info.irqBank), 4, 0xffffffff);
  device.mmioWrite(gtImr(e.info.irqBank), 4, 0);
  device.mmioWrite(REG.GEN8_MASTER_IRQ, 4, 0x80000000);
  const cmds = dwords(miStoreDataImm(D, [0x1e9ac7], { ggtt: true }), miUserInterrupt(), miNoop());
  writeGgtt(device, RING_GMA, cmds);
  startLegacyRing(device, e, RING_GMA, RING_SIZE, 0, cmds.length * 4);
  t.ok(e.busy);
  t.ok(device.runUntilIdle());
  t.equal(readGgtt(device, D, 1)[0], 0x1e9ac7);
  t.equal(device.mmioRead(e.info.mmioBase + RING.HEAD, 4), cmds.length * 4, 'RING_HEAD caught up with the tail');
  t.equal(irqs.length, 1, 'user interrupt delivered');
  t.equal(e.stats.csbEvents, 0, 'no context status events in legacy mode');
  // More work: write after the old tail, bump the tail.
  const more = dwords(miStoreDataImm(D + 4, [2], { ggtt: true }), miNoop());
  writeGgtt(device, RING_GMA + cmds.length * 4, more);
  device.mmioWrite(e.info.mmioBase + RING.TAIL, 4, (cmds.length + more.length) * 4);
  device.runUntilIdle();
  t.equal(readGgtt(device, D + 4, 1)[0], 2);
  t.equal(e.stats.legacyRuns, 2);
});

t.test('legacy ring wraps at the ring end', async (t) => {
  const device = smallDevice();
  const e = device.engines.vcs;
  mapGgttPages(device, RING_GMA, 1);
  mapGgttPages(device, D, 1);
  const a = dwords(miStoreDataImm(D, [1], { ggtt: true })); // 4 dwords
  writeGgtt(device, RING_GMA + PAGE_SIZE - 16, a);
  const b = dwords(miStoreDataImm(D + 4, [2], { ggtt: true }));
  writeGgtt(device, RING_GMA, b);
  startLegacyRing(device, e, RING_GMA, PAGE_SIZE, PAGE_SIZE - 16, 16);
  device.runUntilIdle();
  t.same([...readGgtt(device, D, 2)], [1, 2]);
  t.equal(device.mmioRead(e.info.mmioBase + RING.HEAD, 4) >>> 21, 1, 'wrap count in RING_HEAD');
});

t.test('the cost model charges simulated time per command', async (t) => {
  const f = bcsFixture({
    cost: {
      defaultCommandNs: 0, perDwordNs: 0, contextRestoreNs: 100, contextSaveNs: 50, lriPerRegisterNs: 0, storeDataPerDwordNs: 0,
      commands: { MI_STORE_DATA_IMM: 1000, MI_NOOP: 1, MI_USER_INTERRUPT: 0 },
    },
  });
  const e = f.run(dwords(miStoreDataImm(D, [1], { ggtt: true }), miStoreDataImm(D, [1], { ggtt: true }), miNoop(), miNoop()));
  t.equal(e.stats.busyNs, 100 + 2000 + 2 + 50);
  t.equal(f.device.clock.now, 100 + 2000 + 2 + 50, 'completion at restore + commands + save');
  t.equal(e.streamer.stats.commands, 4);
});

t.test('long streams run in chunks so that other clock events interleave', async (t) => {
  const f = bcsFixture({ cost: { chunkNs: 1000 } });
  const cmds: number[] = [];
  for (let i = 0; i < 200; i++) cmds.push(...miStoreDataImm(D + 4 * (i % 64), [i], { ggtt: true }));
  f.initImage();
  f.append(cmds);
  f.submit();
  let sawBusy = false;
  f.device.clock.schedule(5000, () => { sawBusy = f.engine.busy; });
  f.device.runUntilIdle();
  t.ok(sawBusy, 'an event at t=5 µs ran while the engine was still executing');
  t.equal(f.engine.streamer.stats.commands, 200 + 0);
});

t.test('an ignored command longer than the fetch window is skipped by its length', async (t) => {
  const device = smallDevice();
  const r = new EngineFixture(device, 'rcs');
  const BB = D + 0x10000;
  mapGgttPages(device, BB, 8);
  // MEDIA_OBJECT has a 16-bit length field: 3000 dwords of inline data.
  const body = new Array(2999).fill(0);
  writeGgtt(device, BB, dwords(encodeByName('MEDIA_OBJECT', body), miStoreDataImm(D, [5], { ggtt: true }), miBatchBufferEnd()));
  const e = r.run(miBatchBufferStart(BB));
  t.equal(e.error, null, e.error?.message ?? '');
  t.equal(readGgtt(device, D, 1)[0], 5);
  t.equal(encodeHeader('MI_NOOP', 1), 0);
});

t.test('MI_STORE_DATA_INDEX (global and per-process status page) and MI_NOOP identification', async (t) => {
  const f = bcsFixture();
  f.device.mmioWrite(f.engine.info.mmioBase + RING.HWS_PGA, 4, HWSP_GMA);
  const sdi = (offset: number, value: number, perProcess: boolean) =>
    [encodeHeader('MI_STORE_DATA_INDEX', 3, perProcess ? 1 << 21 : 0), offset, value];
  const e = f.run(dwords(sdi(0x100, 0x51, false), sdi(0x104, 0x52, true), miNoop(0x1234)));
  t.equal(e.error, null);
  t.equal(readGgtt(f.device, HWSP_GMA + 0x100, 1)[0], 0x51, 'engine status page');
  t.equal(readGgtt(f.device, f.ctxGma + 0x104, 1)[0], 0x52, 'per-process status page (context page 0)');
  t.equal(f.device.mmioRead(f.engine.info.mmioBase + RING.NOPID, 4), 0x1234);
  t.equal(e.commandsExecuted, 4, 'three commands and the qword padding MI_NOOP');
  t.equal(e.bytesBlitted, 0);
});

t.test('a large blit spans several steps (other events interleave) and counts as one command', async (t) => {
  const f = bcsFixture();
  const SURF = 0x0100_0000;
  mapGgttPages(f.device, SURF, 1024); // 4 MiB: 1024 x 1024 pixels of 32 bpp
  let midway = -1;
  f.device.clock.schedule(50_000, () => { midway = f.engine.bytesBlitted; });
  const e = f.run(xyColorBlt({ dstAddress: SURF, dstPitch: 4096, dst: { x1: 0, y1: 0, x2: 1024, y2: 1024 }, color: 0x01020304 }));
  t.equal(e.error, null);
  t.ok(midway > 0 && midway < 4 * 1024 * 1024, `partial progress seen at 50 µs (${midway} bytes)`);
  t.equal(e.bytesBlitted, 4 * 1024 * 1024);
  t.equal(e.streamer.commandCounts.reduce((a, b) => a + b, 0), 2, 'the blit and the padding MI_NOOP');
  t.equal(readGgtt(f.device, SURF + 4 * 1024 * 1024 - 4, 1)[0], 0x01020304, 'last pixel');
});

t.test('a batch fetch never reads the page after the batch end; a command across a page boundary still runs', async (t) => {
  const device = smallDevice();
  const r = new EngineFixture(device, 'rcs');
  const BB = D + 0x10000;
  mapGgttPages(device, BB, 3);
  const pages = new Set<number>();
  const s = r.engine.streamer as unknown as { translate(gma: number, space: number): number };
  const translate = s.translate.bind(r.engine.streamer);
  s.translate = (gma: number, space: number): number => {
    pages.add(Math.floor(gma / PAGE_SIZE));
    return translate(gma, space);
  };
  // The first batch ends 16 bytes before the end of its page (lifecycle campaign seed 81005,
  // case 29208: the window ran on into the next shadow of the mediator's range).
  const first = dwords(miNoop(), miStoreDataImm(D, [7], { ggtt: true }), miBatchBufferEnd());
  writeGgtt(device, BB + PAGE_SIZE - 16 - 4 * first.length, first);
  const e = r.run(miBatchBufferStart(BB + PAGE_SIZE - 16 - 4 * first.length));
  t.equal(e.error, null, e.error?.message ?? '');
  t.equal(readGgtt(device, D, 1)[0], 7);
  t.notOk(pages.has(BB / PAGE_SIZE + 1), 'the page after the batch was never translated');
  // A store whose dwords straddle the boundary from the batch's second page into its third runs.
  pages.clear();
  const straddle = dwords(miStoreDataImm(D + 4, [8, 9, 10, 11], { ggtt: true, storeQword: false }), miBatchBufferEnd());
  const at = BB + 2 * PAGE_SIZE - 8;
  writeGgtt(device, at, straddle);
  const e2 = r.run(miBatchBufferStart(at));
  t.equal(e2.error, null, e2.error?.message ?? '');
  t.same([...readGgtt(device, D + 4, 4)], [8, 9, 10, 11]);
  t.ok(pages.has(Math.floor(at / PAGE_SIZE) + 1), 'the window went on into the page the command continues in');
});
