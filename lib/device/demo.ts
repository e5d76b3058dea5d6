/**
 * A walk through the physical device model: what `npm run demo` prints until the full demo lands.
 *
 * It boots a `Gen9Device`, maps graphics memory through the GGTT window of BAR0, writes two rings
 * and two logical ring contexts through the aperture (BAR2), submits both contexts with one ELSP
 * write sequence on the blitter engine, runs simulated time until the device is idle, and checks
 * the results in host memory: a store, a color fill, a copy blit, a flush post-sync write, the
 * context-status events and the interrupts.
 */
import { hex, PAGE_SIZE } from '../types.js';
import { PTE_PRESENT, pteHi, pteLo } from '../gtt/pte.js';
import {
  COMMANDS, miFlushDw, miNoop, miStoreDataImm, miUserInterrupt, PostSyncOp, toCommandBuffer, xyColorBlt, xySrcCopyBlt,
} from './commands/index.js';
import { BAR0_GGTT_START, Gen9Device } from './device.js';
import { csbEventNames, encodeDescriptor, writeContextImage, type GraphicsMemoryView } from './lrc.js';
import { EngineIrq, gtIer, gtIir, gtImr, REG, RING } from './registers.js';

/** Graphics-memory layout of the demo (GGTT addresses). */
const RING_A = 0x1000;
const RING_B = 0x2000;
const RING_SIZE = PAGE_SIZE;
const CTX_A = 0x10000;
const CTX_B = 0x12000;
const DATA = 0x20000;
const SURFACE_SRC = 0x100000;
const SURFACE_DST = 0x110000;
const WIDTH = 64;
const HEIGHT = 64;
const PITCH = WIDTH * 4;

/** Run the device demo, printing readable lines through `out`. */
export function runDeviceDemo(out: (line: string) => void): void {
  const device = new Gen9Device({ hostMemorySize: 256 * 1024 * 1024 });
  const bcs = device.engines.bcs;
  const vendor = device.pciConfigRead(0x00, 2);
  const deviceId = device.pciConfigRead(0x02, 2);
  out(`Gen9 device model: PCI ${hex(vendor, 4)}:${hex(deviceId, 4)} rev ${hex(device.pciConfigRead(0x08, 1), 2)}, ` +
    `class ${hex(device.pciConfigRead(0x08, 4) >>> 8, 6)}`);
  out(`  BAR0 GTTMMADR 16 MiB (registers 2 MiB, GGTT at +8 MiB), BAR2 aperture ${device.apertureSize / 2 ** 20} MiB, ` +
    `graphics memory ${device.graphicsMemorySize / 2 ** 30} GiB, host memory ${device.hostMemory.size / 2 ** 20} MiB`);

  // 1. Map graphics memory: one host frame per 4 KiB page, PTEs written through BAR0's GGTT window.
  const pages = [RING_A, RING_B, CTX_A, CTX_A + PAGE_SIZE, CTX_B, CTX_B + PAGE_SIZE, DATA];
  for (let p = 0; p < 2 * (PITCH * HEIGHT) / PAGE_SIZE; p++) pages.push((p < 4 ? SURFACE_SRC : SURFACE_DST - 4 * PAGE_SIZE) + p * PAGE_SIZE);
  for (const gma of pages) {
    const frame = device.hostMemory.allocFrame();
    device.mmioWrite64(BAR0_GGTT_START + (gma / PAGE_SIZE) * 8, pteLo(frame, PTE_PRESENT), pteHi(frame));
  }
  out(`GGTT: ${pages.length} pages mapped through BAR0 + 8 MiB (gen8 64-bit PTEs)`);

  // 2. Interrupts: unmask and enable BCS user + context-switch interrupts, enable the master.
  const bits = ((EngineIrq.USER | EngineIrq.CONTEXT_SWITCH) << bcs.info.irqShift) >>> 0;
  device.mmioWrite(gtImr(bcs.info.irqBank), 4, ~bits >>> 0);
  device.mmioWrite(gtIer(bcs.info.irqBank), 4, bits);
  device.mmioWrite(REG.GEN8_MASTER_IRQ, 4, 0x80000000);
  const interrupts: string[] = [];
  device.onInterrupt((pending) => {
    // The way i915's gen8 handler acknowledges: master off, read and clear the bank IIR, master on.
    device.mmioWrite(REG.GEN8_MASTER_IRQ, 4, 0);
    const iir = device.mmioRead(gtIir(bcs.info.irqBank), 4);
    device.mmioWrite(gtIir(bcs.info.irqBank), 4, iir);
    const field = (iir >>> bcs.info.irqShift) & 0xffff;
    const what = [field & EngineIrq.USER ? 'user' : '', field & EngineIrq.CONTEXT_SWITCH ? 'context-switch' : ''].filter(Boolean).join('+');
    interrupts.push(`t=${device.clock.now} ns master ${hex(pending)} BCS ${what}`);
    device.mmioWrite(REG.GEN8_MASTER_IRQ, 4, 0x80000000);
  });

  // 3. Enable execlists on the blitter (GFX_MODE is a masked register: bit 15 with its mask bit).
  device.mmioWrite(bcs.info.mmioBase + RING.GFX_MODE, 4, 0x80008000);

  // 4. Two command streams, written into their rings through the aperture.
  const ringA = toCommandBuffer(
    miStoreDataImm(DATA, [0xc0ffee01], { ggtt: true }),
    xyColorBlt({ dstAddress: SURFACE_SRC, dstPitch: PITCH, dst: { x1: 0, y1: 0, x2: WIDTH, y2: HEIGHT }, color: 0xff2060a0 }),
    xyColorBlt({ dstAddress: SURFACE_SRC, dstPitch: PITCH, dst: { x1: 8, y1: 8, x2: 24, y2: 24 }, color: 0xffffd700 }),
    miNoop(),
  );
  const ringB = toCommandBuffer(
    xySrcCopyBlt({
      dstAddress: SURFACE_DST, dstPitch: PITCH, dst: { x1: 32, y1: 32, x2: 64, y2: 64 },
      srcAddress: SURFACE_SRC, srcPitch: PITCH, srcX: 0, srcY: 0,
    }),
    miFlushDw({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: DATA + 8, ggtt: true, data: 0x600dcafe }),
    miUserInterrupt(),
    miNoop(),
  );
  for (const [ring, cmds] of [[RING_A, ringA], [RING_B, ringB]] as const) {
    device.apertureWriteBytes(ring, new Uint8Array(cmds.buffer, cmds.byteOffset, cmds.byteLength));
  }
  out(`Rings: context A ${ringA.length} dwords at ${hex(RING_A)}, context B ${ringB.length} dwords at ${hex(RING_B)} (written through BAR2)`);

  // 5. Logical ring contexts (Gen9 layout), legacy 64-bit addressing with no PPGTT: the blits use the GGTT.
  const view: GraphicsMemoryView = {
    read32: (gma) => device.gttRead32(gma),
    write32: (gma, v) => void device.gttWrite32(gma, v),
  };
  writeContextImage(view, CTX_A, bcs.info, { ringStart: RING_A, ringSize: RING_SIZE, tail: ringA.length * 4 });
  writeContextImage(view, CTX_B, bcs.info, { ringStart: RING_B, ringSize: RING_SIZE, tail: ringB.length * 4 });

  // 6. Submit both through ELSP: element 1 high, element 1 low, element 0 high, element 0 low.
  const [a0, a1] = encodeDescriptor({ lrca: CTX_A, contextId: 0xa });
  const [b0, b1] = encodeDescriptor({ lrca: CTX_B, contextId: 0xb });
  const elsp = bcs.info.mmioBase + RING.ELSP;
  for (const dw of [b1, b0, a1, a0]) device.mmioWrite(elsp, 4, dw);
  out(`ELSP: submitted context A (id 0xa, LRCA ${hex(CTX_A)}) and context B (id 0xb, LRCA ${hex(CTX_B)}) on BCS`);

  // 7. Run simulated time until the device is idle.
  const idle = device.runUntilIdle();
  out(`Ran until ${idle ? 'idle' : 'the time limit'} at t=${device.clock.now} ns ` +
    `(BCS busy ${Math.round(bcs.stats.busyNs)} ns, ${bcs.streamer.stats.commands} commands, ${bcs.streamer.stats.bytesBlitted} bytes blitted)`);
  const counts: string[] = [];
  bcs.streamer.commandCounts.forEach((n, id) => { if (n) counts.push(`${COMMANDS[id].name} x${n}`); });
  out(`  executed: ${counts.join(', ')}`);

  // 8. Verify memory effects through the aperture.
  const check = (what: string, ok: boolean, detail: string) => out(`  ${ok ? 'ok  ' : 'FAIL'} ${what}: ${detail}`);
  const stored = device.apertureRead(DATA, 4);
  check('MI_STORE_DATA_IMM', stored === 0xc0ffee01, `${hex(DATA)} = ${hex(stored)}`);
  const flushed = device.apertureRead(DATA + 8, 4);
  check('MI_FLUSH_DW post-sync', flushed === 0x600dcafe, `${hex(DATA + 8)} = ${hex(flushed)}`);
  const px = (base: number, x: number, y: number) => device.apertureRead(base + y * PITCH + x * 4, 4);
  check('XY_COLOR_BLT fill', px(SURFACE_SRC, 63, 63) === 0xff2060a0 && px(SURFACE_SRC, 8, 8) === 0xffffd700,
    `src(63,63) = ${hex(px(SURFACE_SRC, 63, 63))}, src(8,8) = ${hex(px(SURFACE_SRC, 8, 8))}`);
  check('XY_SRC_COPY_BLT copy', px(SURFACE_DST, 40, 40) === 0xffffd700 && px(SURFACE_DST, 33, 33) === 0xff2060a0 && px(SURFACE_DST, 0, 0) === 0,
    `dst(40,40) = ${hex(px(SURFACE_DST, 40, 40))}, dst(33,33) = ${hex(px(SURFACE_DST, 33, 33))}, dst(0,0) untouched = ${hex(px(SURFACE_DST, 0, 0))}`);

  // 9. The context status buffer, read through BAR0 as a driver would.
  const ptr = device.mmioRead(bcs.info.mmioBase + RING.CSB_PTR, 4);
  const wp = ptr & 7;
  out(`Context status buffer (write pointer ${wp}):`);
  for (let i = 0; i <= wp; i++) {
    const lo = device.mmioRead(bcs.info.mmioBase + RING.CSB0_LO + 8 * i, 4);
    const ctx = device.mmioRead(bcs.info.mmioBase + RING.CSB0_LO + 8 * i + 4, 4);
    out(`  [${i}] ${hex(lo, 8)} ctx ${hex(ctx)}  ${csbEventNames(lo).join(' | ')}`);
  }
  out(`Interrupts delivered (${interrupts.length}):`);
  for (const line of interrupts) out(`  ${line}`);
  const head = (lrca: number) => device.gttRead32(lrca + PAGE_SIZE + 5 * 4);
  out(`Context images after save: A head ${hex(head(CTX_A))}, B head ${hex(head(CTX_B))}`);
  out(`Trace: ${device.events.map((e) => `${e.kind}${e.engine ? '@' + e.engine : ''}`).join(' ')}`);
}
