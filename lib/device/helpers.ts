/**
 * Host-side conveniences over a `Gen9Device`: what a host driver does at boot (map graphics
 * memory, enable execlists and interrupts) and what tests, the demo and the modelled host need to
 * place commands and contexts in graphics memory. Everything goes through the device's public
 * interfaces (BAR0 registers, the GGTT window, host memory); nothing here is a hardware interface.
 *
 * These are host API calls: misuse (an unmapped graphics address) throws `RangeArgError`.
 */
import { RangeArgError } from '../errors.js';
import { PTE_PRESENT, pteHi, pteLo } from '../gtt/pte.js';
import { hex, PAGE_SIZE } from '../types.js';
import { BAR0_GGTT_START, type Gen9Device } from './device.js';
import type { Engine } from './execlists.js';
import type { GraphicsMemoryView } from './lrc.js';
import { Bits, EngineIrq, gtIer, gtImr, REG, RING } from './registers.js';

/**
 * Map `pages` 4 KiB pages of graphics memory from `gma` to freshly allocated host frames, writing
 * the PTEs (present bit only, as i915's gen8 GGTT encoding) through BAR0's GGTT window. Returns the
 * frames.
 */
export function mapGgttPages(device: Gen9Device, gma: number, pages: number): number[] {
  if (gma % PAGE_SIZE !== 0 || gma + pages * PAGE_SIZE > device.graphicsMemorySize) {
    throw new RangeArgError(`mapGgttPages: ${pages} pages at ${hex(gma)} do not fit graphics memory`);
  }
  const frames: number[] = [];
  for (let p = 0; p < pages; p++) {
    const frame = device.hostMemory.allocFrame();
    frames.push(frame);
    device.mmioWrite64(BAR0_GGTT_START + (gma / PAGE_SIZE + p) * 8, pteLo(frame, PTE_PRESENT), pteHi(frame));
  }
  return frames;
}

/** Dword view of graphics memory through the device's GGTT (reads of unmapped addresses give NaN). */
export function ggttView(device: Gen9Device): GraphicsMemoryView {
  return {
    read32: (gma) => device.gttRead32(gma),
    write32: (gma, value) => {
      if (!device.gttWrite32(gma, value)) throw new RangeArgError(`GGTT address ${hex(gma)} is not mapped`);
    },
  };
}

/** Write dwords at a GGTT address. Throws when a page is not mapped. */
export function writeGgtt(device: Gen9Device, gma: number, dwords: ArrayLike<number>): void {
  for (let i = 0; i < dwords.length; i++) {
    if (!device.gttWrite32(gma + 4 * i, dwords[i])) throw new RangeArgError(`GGTT address ${hex(gma + 4 * i)} is not mapped`);
  }
}

/** Read `count` dwords at a GGTT address (unmapped dwords read as 0). */
export function readGgtt(device: Gen9Device, gma: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = device.gttRead32(gma + 4 * i) || 0;
  return out;
}

/** Turn on execlist submission for an engine (GFX_MODE bit 15, a masked write). */
export function enableExeclists(device: Gen9Device, engine: Engine): void {
  device.mmioWrite(engine.info.mmioBase + RING.GFX_MODE, 4, ((Bits.GFX_RUN_LIST_ENABLE << 16) | Bits.GFX_RUN_LIST_ENABLE) >>> 0);
}

/**
 * Unmask and enable `bits` (`EngineIrq`, default user + context switch + CS error) of an engine in
 * its GT bank and set the master enable.
 */
export function enableEngineInterrupts(
  device: Gen9Device, engine: Engine, bits: number = EngineIrq.USER | EngineIrq.CONTEXT_SWITCH | EngineIrq.CS_ERROR,
): void {
  const shifted = (bits << engine.info.irqShift) >>> 0;
  const bank = engine.info.irqBank;
  device.mmioWrite(gtImr(bank), 4, (device.mmioRead(gtImr(bank), 4) & ~shifted) >>> 0);
  device.mmioWrite(gtIer(bank), 4, (device.mmioRead(gtIer(bank), 4) | shifted) >>> 0);
  device.mmioWrite(REG.GEN8_MASTER_IRQ, 4, Bits.GEN8_MASTER_IRQ_CONTROL);
}

/**
 * Submit one or two context descriptors (`[lo, hi]` each) through the engine's ELSP register:
 * element 1 high, element 1 low, element 0 high, element 0 low.
 */
export function elspSubmit(device: Gen9Device, engine: Engine, el0: readonly [number, number], el1?: readonly [number, number]): void {
  const elsp = engine.info.mmioBase + RING.ELSP;
  device.mmioWrite(elsp, 4, el1 ? el1[1] : 0);
  device.mmioWrite(elsp, 4, el1 ? el1[0] : 0);
  device.mmioWrite(elsp, 4, el0[1]);
  device.mmioWrite(elsp, 4, el0[0]);
}

/**
 * Start a legacy ring-buffer run (execlists off): program RING_START/RING_CTL/RING_HEAD for a ring
 * of `ringSize` bytes at GGTT `ringStart`, then write the tail.
 */
export function startLegacyRing(device: Gen9Device, engine: Engine, ringStart: number, ringSize: number, head: number, tail: number): void {
  const b = engine.info.mmioBase;
  device.mmioWrite(b + RING.START, 4, ringStart);
  device.mmioWrite(b + RING.CTL, 4, ((ringSize - PAGE_SIZE) & Bits.RING_CTL_SIZE_MASK) | Bits.RING_CTL_VALID);
  device.mmioWrite(b + RING.HEAD, 4, head);
  device.mmioWrite(b + RING.TAIL, 4, tail);
}
