import t from 'tap';
import {
  Bits, CtxReg, CtxStatus, elspSubmit, encodeDescriptor, EngineIrq, EnginePhase, gtIir, gtImr, gtIsr, miArbCheck, miBatchBufferEnd,
  miBatchBufferStart, miNoop, miStoreDataImm, readGgtt, REG, RING, writeGgtt, BbState, mapGgttPages, AddressingMode,
  type Gen9Device, type Engine,
} from '../lib/device/index.js';
import { PAGE_SIZE } from '../lib/types.js';
import { DATA_GMA, dwords, EngineFixture, HWSP_GMA, smallDevice } from './device-fixture.js';

const D = DATA_GMA;

/** CSB entries in write order, read through BAR0. */
function csb(device: Gen9Device, e: Engine): { status: number; ctx: number }[] {
  const base = e.info.mmioBase;
  const wp = device.mmioRead(base + RING.CSB_PTR, 4) & 7;
  if (wp === 7) return [];
  const out: { status: number; ctx: number }[] = [];
  for (let i = 0; i <= wp; i++) {
    out.push({ status: device.mmioRead(base + RING.CSB0_LO + 8 * i, 4), ctx: device.mmioRead(base + RING.CSB0_LO + 8 * i + 4, 4) });
  }
  return out;
}

function imageValue(f: EngineFixture, index: number): number {
  return readGgtt(f.device, f.ctxGma + PAGE_SIZE + (index + 1) * 4, 1)[0];
}

t.test('two elements: idle-to-active, element switch, active-to-idle; HWSP mirror; status; saved heads', async (t) => {
  const device = smallDevice();
  const a = new EngineFixture(device, 'bcs', { slot: 0, contextId: 0xa });
  const b = new EngineFixture(device, 'bcs', { slot: 1, contextId: 0xb });
  const e = a.engine;
  device.mmioWrite(e.info.mmioBase + RING.HWS_PGA, 4, HWSP_GMA);
  const irqs: number[] = [];
  device.onInterrupt((p) => {
    irqs.push(p);
    device.mmioWrite(gtIir(e.info.irqBank), 4, 0xffffffff);
  });
  a.initImage();
  b.initImage();
  const tailA = a.append(miStoreDataImm(D, [0xa], { ggtt: true }));
  const tailB = b.append(miStoreDataImm(D + 4, [0xb], { ggtt: true }));
  elspSubmit(device, e, a.descriptor(), b.descriptor());
  t.ok(e.busy);
  device.run(0); // the load step at t = 0
  const status = device.mmioRead(e.info.mmioBase + RING.EXECLIST_STATUS_LO, 4);
  t.equal((status >>> 4) & 1, 1, 'element 0 valid');
  t.equal((status >>> 3) & 1, 1, 'element 1 valid');
  t.equal((status >>> 18) & 1, 1, 'element 0 active');
  t.equal(device.mmioRead(e.info.mmioBase + RING.EXECLIST_STATUS_HI, 4), 0xa, 'current context id');
  t.ok(device.runUntilIdle());
  t.same(readGgtt(device, D, 2), Uint32Array.from([0xa, 0xb]));
  t.same(csb(device, e), [
    { status: CtxStatus.IDLE_TO_ACTIVE, ctx: 0 },
    { status: CtxStatus.ELEMENT_SWITCH | CtxStatus.COMPLETE, ctx: 0xa },
    { status: CtxStatus.COMPLETE | CtxStatus.ACTIVE_TO_IDLE, ctx: 0xb },
  ]);
  t.equal(device.mmioRead(e.info.mmioBase + RING.CSB_PTR, 4) & 7, 2, 'write pointer');
  // The engine's status page mirrors the CSB at dword 0x10 and the pointer at 0x1f.
  const hws = readGgtt(device, HWSP_GMA, 0x20);
  t.same([hws[0x10], hws[0x12], hws[0x13], hws[0x14], hws[0x15], hws[0x1f]], [1, 0x14, 0xa, 0x18, 0xb, 2]);
  t.equal(imageValue(a, CtxReg.RING_HEAD), tailA, 'context A head saved');
  t.equal(imageValue(b, CtxReg.RING_HEAD), tailB, 'context B head saved');
  t.equal(device.mmioRead(e.info.mmioBase + RING.EXECLIST_STATUS_HI, 4), 0, 'idle: no current context');
  t.equal(irqs.length, 3, 'one context-switch interrupt per CSB event');
  t.equal(e.stats.contextLoads, 2);
  t.equal(e.stats.completions, 2);
});

t.test('the CSB write pointer wraps over six entries', async (t) => {
  const device = smallDevice();
  const f = new EngineFixture(device, 'vcs');
  f.initImage();
  for (let n = 0; n < 4; n++) {
    f.append(miStoreDataImm(D + 4 * n, [n + 1], { ggtt: true }));
    f.submit();
    device.runUntilIdle();
  }
  // Eight events: idle-to-active / complete pairs at 0,1 2,3 4,5 0,1 (wrapped).
  const base = f.engine.info.mmioBase;
  t.equal(device.mmioRead(base + RING.CSB_PTR, 4) & 7, 1);
  const lo = (i: number) => device.mmioRead(base + RING.CSB0_LO + 8 * i, 4);
  t.same([lo(0), lo(1), lo(2), lo(3), lo(4), lo(5)], [1, 0x18, 1, 0x18, 1, 0x18]);
  t.same(readGgtt(device, D, 4), Uint32Array.from([1, 2, 3, 4]), 'each resubmission resumed at the saved head');
  t.equal(f.engine.stats.csbEvents, 8);
});

t.test('context-switch interrupt: masked in IMR vs unmasked', async (t) => {
  const device = smallDevice();
  const f = new EngineFixture(device, 'rcs');
  const calls: number[] = [];
  device.onInterrupt((p) => calls.push(p));
  device.mmioWrite(gtImr(0), 4, 0xffffffff);
  f.run(miNoop());
  t.equal(calls.length, 0, 'masked: no interrupt');
  t.equal(device.mmioRead(gtIir(0), 4), 0);
  t.equal(device.mmioRead(gtIsr(0), 4) & EngineIrq.CONTEXT_SWITCH, EngineIrq.CONTEXT_SWITCH, 'ISR still shows the event');
  device.mmioWrite(gtImr(0), 4, ~EngineIrq.CONTEXT_SWITCH >>> 0);
  f.run(miNoop());
  t.same(calls, [1], 'unmasked: the line goes up, RCS is master bit 0');
  t.equal(device.mmioRead(gtIir(0), 4), EngineIrq.CONTEXT_SWITCH);
});

t.test('a list queued behind a running one runs after it when there is no arbitration point', async (t) => {
  const device = smallDevice({ cost: { chunkNs: 1 } });
  const a = new EngineFixture(device, 'bcs', { slot: 0, contextId: 0xa });
  const b = new EngineFixture(device, 'bcs', { slot: 1, contextId: 0xb });
  a.initImage();
  b.initImage();
  a.append(dwords(miStoreDataImm(D, [1], { ggtt: true }), miStoreDataImm(D + 4, [2], { ggtt: true })));
  b.append(miStoreDataImm(D + 8, [3], { ggtt: true }));
  a.submit();
  device.run(10);
  b.submit();
  t.equal((device.mmioRead(a.engine.info.mmioBase + RING.EXECLIST_STATUS_LO, 4) >>> 2) & 1, 1, 'queue full');
  device.runUntilIdle();
  t.same(readGgtt(device, D, 3), Uint32Array.from([1, 2, 3]));
  t.same(csb(device, a.engine).map((x) => [x.status, x.ctx]), [
    [CtxStatus.IDLE_TO_ACTIVE, 0], [CtxStatus.COMPLETE | CtxStatus.ACTIVE_TO_IDLE, 0xa],
    [CtxStatus.IDLE_TO_ACTIVE, 0], [CtxStatus.COMPLETE | CtxStatus.ACTIVE_TO_IDLE, 0xb],
  ]);
  // Queue full: a third submission is dropped.
  a.initImage();
  a.append(dwords(miStoreDataImm(D, [1], { ggtt: true }), miStoreDataImm(D + 4, [2], { ggtt: true })));
  a.submit();
  device.run(10);
  b.submit();
  b.submit();
  t.equal(a.engine.stats.elspDropped, 1);
  device.runUntilIdle();
});

t.test('preemption by a new list at MI_ARB_CHECK, then resumption of the preempted context', async (t) => {
  const device = smallDevice({ cost: { chunkNs: 1 } });
  const a = new EngineFixture(device, 'bcs', { slot: 0, contextId: 0xa });
  const b = new EngineFixture(device, 'bcs', { slot: 1, contextId: 0xb });
  a.initImage();
  b.initImage();
  a.append(dwords(miStoreDataImm(D, [1], { ggtt: true }), miArbCheck(), miStoreDataImm(D + 4, [2], { ggtt: true })));
  b.append(miStoreDataImm(D + 8, [3], { ggtt: true }));
  a.submit();
  device.run(10);
  b.submit();
  device.runUntilIdle();
  t.same(readGgtt(device, D, 3), Uint32Array.from([1, 0, 3]), 'A stopped at the arbitration point, B ran');
  t.same(csb(device, a.engine).map((x) => [x.status, x.ctx]), [
    [CtxStatus.IDLE_TO_ACTIVE, 0], [CtxStatus.PREEMPTED, 0xa], [CtxStatus.COMPLETE | CtxStatus.ACTIVE_TO_IDLE, 0xb],
  ]);
  t.equal(a.engine.stats.preemptions, 1);
  t.equal(imageValue(a, CtxReg.RING_HEAD), 4 * 5, 'A saved with its head after MI_ARB_CHECK');
  a.submit();
  device.runUntilIdle();
  t.equal(readGgtt(device, D + 4, 1)[0], 2, 'A resumed where it stopped');
});

t.test('lite restore: resubmitting the running context with a new tail', async (t) => {
  const device = smallDevice({ cost: { chunkNs: 1 } });
  const f = new EngineFixture(device, 'bcs', { contextId: 0xc });
  f.initImage();
  f.append(dwords(miStoreDataImm(D, [1], { ggtt: true }), miStoreDataImm(D + 4, [2], { ggtt: true })));
  f.submit();
  device.run(10);
  f.append(miStoreDataImm(D + 8, [3], { ggtt: true }));
  f.submit();
  device.runUntilIdle();
  t.same(readGgtt(device, D, 3), Uint32Array.from([1, 2, 3]), 'the appended commands ran');
  t.same(csb(device, f.engine).map((x) => [x.status, x.ctx]), [
    [CtxStatus.IDLE_TO_ACTIVE, 0], [CtxStatus.PREEMPTED | CtxStatus.LITE_RESTORE, 0xc], [CtxStatus.COMPLETE | CtxStatus.ACTIVE_TO_IDLE, 0xc],
  ]);
  t.equal(f.engine.stats.liteRestores, 1);
  t.equal(f.engine.stats.contextLoads, 1, 'no reload');
});

t.test('requested preemption inside a batch saves the batch position; resubmission resumes it', async (t) => {
  const device = smallDevice({ cost: { chunkNs: 1 } });
  const f = new EngineFixture(device, 'rcs', { contextId: 0xd });
  const BB = D + 0x8000;
  writeGgtt(device, BB, dwords(miStoreDataImm(D, [1], { ggtt: true }), miArbCheck(), miStoreDataImm(D + 4, [2], { ggtt: true }), miBatchBufferEnd()));
  f.initImage();
  f.append(dwords(miBatchBufferStart(BB), miStoreDataImm(D + 8, [3], { ggtt: true })));
  f.submit();
  t.notOk(device.engines.vcs.requestPreemption(), 'an idle engine has nothing to preempt');
  device.run(0);
  t.ok(f.engine.requestPreemption());
  device.runUntilIdle();
  t.same(readGgtt(device, D, 3), Uint32Array.from([1, 0, 0]));
  t.same(csb(device, f.engine).map((x) => x.status), [CtxStatus.IDLE_TO_ACTIVE, CtxStatus.PREEMPTED | CtxStatus.ACTIVE_TO_IDLE]);
  t.equal(f.engine.phase, EnginePhase.IDLE);
  t.equal(imageValue(f, CtxReg.BB_STATE) & BbState.ACTIVE, BbState.ACTIVE, 'batch in progress recorded');
  t.equal(imageValue(f, CtxReg.BB_HEAD_L), BB + 4 * 5, 'batch position after MI_ARB_CHECK');
  f.submit();
  device.runUntilIdle();
  t.same(readGgtt(device, D, 3), Uint32Array.from([1, 2, 3]), 'resumed in the batch, then back to the ring');
  t.equal(imageValue(f, CtxReg.BB_STATE) & BbState.ACTIVE, 0);
});

t.test('MI_ARB_ON_OFF disables the arbitration point', async (t) => {
  const device = smallDevice({ cost: { chunkNs: 1 } });
  const f = new EngineFixture(device, 'bcs');
  f.initImage();
  const arbOff = [0x08 << 23]; // MI_ARB_ON_OFF, bit 0 clear
  f.append(dwords(arbOff, miStoreDataImm(D, [1], { ggtt: true }), miArbCheck(), miStoreDataImm(D + 4, [2], { ggtt: true })));
  f.submit();
  device.run(0);
  t.ok(f.engine.requestPreemption());
  device.runUntilIdle();
  t.same(readGgtt(device, D, 2), Uint32Array.from([1, 2]), 'not preempted');
  t.equal(f.engine.stats.preemptions, 0);
});

t.test('bad submissions: invalid element 0, execlists off, advanced addressing, unmapped image', async (t) => {
  const device = smallDevice();
  const f = new EngineFixture(device, 'vecs');
  f.initImage();
  const [lo, hi] = f.descriptor();
  elspSubmit(device, f.engine, [lo & ~1, hi]);
  t.equal(f.engine.stats.elspDropped, 1, 'element 0 not valid');
  device.mmioWrite(f.engine.info.mmioBase + RING.GFX_MODE, 4, Bits.GFX_RUN_LIST_ENABLE << 16);
  f.submit();
  t.equal(f.engine.stats.elspDropped, 2, 'execlists disabled');
  device.mmioWrite(f.engine.info.mmioBase + RING.GFX_MODE, 4, (Bits.GFX_RUN_LIST_ENABLE << 16) | Bits.GFX_RUN_LIST_ENABLE);
  elspSubmit(device, f.engine, encodeDescriptor({ lrca: f.ctxGma, contextId: 1, addressingMode: AddressingMode.ADVANCED }));
  device.runUntilIdle();
  t.equal(f.engine.error?.code, 'BAD_DESCRIPTOR');
  f.engine.reset();
  elspSubmit(device, f.engine, encodeDescriptor({ lrca: 0x0f00_0000, contextId: 2 }));
  device.runUntilIdle();
  t.equal(f.engine.error?.code, 'BAD_ADDRESS', 'image not mapped in the GGTT');
  t.equal(device.mmioRead(f.engine.info.mmioBase + RING.MI_MODE, 4) & Bits.MODE_IDLE, Bits.MODE_IDLE, 'a hung engine is idle');
});

t.test('STOP_RING halts the engine at a step boundary; clearing it resumes', async (t) => {
  const device = smallDevice({ cost: { chunkNs: 1 } });
  const f = new EngineFixture(device, 'bcs');
  f.initImage();
  f.append(dwords(miStoreDataImm(D, [1], { ggtt: true }), miStoreDataImm(D + 4, [2], { ggtt: true })));
  f.submit();
  device.run(0);
  const miMode = f.engine.info.mmioBase + RING.MI_MODE;
  device.mmioWrite(miMode, 4, (Bits.STOP_RING << 16) | Bits.STOP_RING);
  t.notOk(device.runUntilIdle(), 'stalled');
  t.ok(f.engine.stopped);
  t.equal(device.mmioRead(miMode, 4) & Bits.MODE_IDLE, Bits.MODE_IDLE);
  device.mmioWrite(miMode, 4, Bits.STOP_RING << 16);
  t.ok(device.runUntilIdle());
  t.same(readGgtt(device, D, 2), Uint32Array.from([1, 2]));
});

t.test('engine reset from the engine own command stream (LRI to GEN6_GDRST)', async (t) => {
  const device = smallDevice();
  const f = new EngineFixture(device, 'bcs');
  const gdrst = 0x941c;
  const lri = [(0x22 << 23) | 1, gdrst, 1 << 3];
  f.run(dwords(lri, miStoreDataImm(D, [1], { ggtt: true })));
  t.equal(f.engine.phase, EnginePhase.IDLE);
  t.equal(readGgtt(device, D, 1)[0], 0, 'nothing after the reset ran');
  t.equal(device.mmioRead(f.engine.info.mmioBase + RING.CSB_PTR, 4) & 7, 7, 'CSB pointer reset');
  t.notOk(device.busy);
});

t.test('device reset: registers to reset values, engines idle, GGTT and memory kept', async (t) => {
  const device = smallDevice();
  const f = new EngineFixture(device, 'rcs');
  f.run(miStoreDataImm(D, [0x42], { ggtt: true }));
  device.mmioWrite(f.engine.info.mmioBase + RING.GPR0, 4, 5);
  device.reset();
  t.equal(device.mmioRead(f.engine.info.mmioBase + RING.GPR0, 4), 0);
  t.equal(device.mmioRead(f.engine.info.mmioBase + RING.GFX_MODE, 4), 0, 'execlists off again');
  t.equal(device.mmioRead(f.engine.info.mmioBase + RING.CSB_PTR, 4) & 7, 7);
  t.equal(readGgtt(device, D, 1)[0], 0x42, 'memory and GGTT survive');
  t.notOk(device.interruptLine);
  t.equal(device.events.at(-1)?.kind, 'reset');
  mapGgttPages(device, 0x0800_0000, 1);
});

t.test('a driver that submits from its interrupt callback (re-entrant ELSP write)', async (t) => {
  const device = smallDevice();
  const a = new EngineFixture(device, 'bcs', { slot: 0, contextId: 0xa });
  const b = new EngineFixture(device, 'bcs', { slot: 1, contextId: 0xb });
  const e = a.engine;
  a.initImage();
  b.initImage();
  a.append(miStoreDataImm(D, [1], { ggtt: true }));
  b.append(miStoreDataImm(D + 4, [2], { ggtt: true }));
  let submitted = false;
  let completedAt = -1;
  device.onInterrupt(() => {
    device.mmioWrite(REG.GEN8_MASTER_IRQ, 4, 0);
    device.mmioWrite(gtIir(e.info.irqBank), 4, 0xffffffff);
    const events = csb(device, e);
    const last = events[events.length - 1];
    if (!submitted && last.status & CtxStatus.ACTIVE_TO_IDLE) {
      submitted = true;
      completedAt = device.clock.now;
      b.submit();
    }
    device.mmioWrite(REG.GEN8_MASTER_IRQ, 4, 0x80000000);
  });
  a.submit();
  t.ok(device.runUntilIdle());
  t.ok(submitted);
  t.same(readGgtt(device, D, 2), Uint32Array.from([1, 2]));
  t.same(csb(device, e).map((x) => [x.status, x.ctx]), [
    [CtxStatus.IDLE_TO_ACTIVE, 0], [CtxStatus.COMPLETE | CtxStatus.ACTIVE_TO_IDLE, 0xa],
    [CtxStatus.IDLE_TO_ACTIVE, 0], [CtxStatus.COMPLETE | CtxStatus.ACTIVE_TO_IDLE, 0xb],
  ]);
  t.ok(device.clock.now > completedAt, 'B ran after A completed');
  t.equal(e.stats.contextLoads, 2);
});

