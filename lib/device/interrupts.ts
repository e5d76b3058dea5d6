/**
 * The GT interrupt path of a Gen8/Gen9 GPU: engine events -> GT bank ISR/IIR (masked by IMR) ->
 * master control -> the interrupt line.
 *
 * Layout (Linux `i915_reg.h`, GVT-g `gvt/interrupt.c`):
 * - GEN8_GT_ISR/IMR/IIR/IER(n) = 0x44300 + 0x10·n (+0/+4/+8/+0xc), four banks: bank 0 RCS (bits
 *   0-15) and BCS (16-31), bank 1 VCS (0-15) and VCS2 (16-31), bank 2 PM/GuC (unused here), bank 3
 *   VECS (0-15).
 * - GEN8_MASTER_IRQ 0x44200: bit 31 enables the line (the only writable bit); bits 0 (RCS), 1 (BCS),
 *   2 (VCS), 3 (VCS2), 6 (VECS) report a pending engine field (`gen8_irq_map`: master bit 0 <- GT0
 *   bits 15:0, 1 <- GT0 31:16, 2 <- GT1 15:0, 3 <- GT1 31:16, 4 <- GT2, 6 <- GT3 15:0).
 *
 * Semantics (modelled on GVT-g's virtual interrupt emulation, which mirrors the hardware):
 * - An event first passes the engine's RING_IMR (engine-level mask); it then sets its ISR bit (the
 *   raw status) and, unless masked in the bank's IMR, its IIR bit (GVT-g `propagate_event`).
 * - A bank reports upstream when IIR & IER is not zero (`update_upstream_irq`).
 * - The line is up when master bit 31 is set and some bank reports. The device's callback runs when
 *   the line goes from down to up: an event while the line is already up does not call it again,
 *   as with an edge-signalled MSI; i915's handler drops bit 31 while it acks IIR and sets it again,
 *   which raises a new edge if anything is still pending.
 * - IIR is write-1-to-clear; clearing an IIR bit also clears its ISR bit (the model has no
 *   level-sensitive sources, so ISR is "event seen and not yet acknowledged").
 *
 * Other banks report into the same master register through `IrqBankRow`s (a table passed to the
 * controller): a vGPU passes the display's (`DE_IRQ_BANKS` in lib/display: DE pipe A..C at master
 * bits 16..18, DE port 20, DE misc 22, PCH 23, PCU 30, GVT-g `gen8_irq_map`), the host device none.
 * Such a bank reports when its IIR & IER is not zero (the whole register, as `gen8_irq_map`'s ~0
 * masks); its events are set by their owner (the display's vblank emulation) directly in IIR.
 */
import type { HandlerRow, RegisterFile } from '../mmio/index.js';
import { GEN9_ENGINES, type EngineInfo } from './engines.js';
import { Bits, gtIer, gtIir, gtImr, gtIsr, REG, RING } from './registers.js';

/**
 * One non-GT bank reporting into GEN8_MASTER_IRQ (GVT-g `gen8_irq_map` rows with a ~0 mask): the
 * master bit it sets while `IIR & IER` is not zero.
 */
export interface IrqBankRow {
  /** The bank's name (i915's, e.g. `GEN8_DE_PIPE_A`). */
  readonly name: string;
  /** Its bit in GEN8_MASTER_IRQ. */
  readonly masterBit: number;
  /** Offsets of its IMR, IIR and IER. */
  readonly imr: number;
  readonly iir: number;
  readonly ier: number;
}

/** Callback run when the interrupt line goes up; `pending` is the master register's pending bits. */
export type InterruptCallback = (pending: number) => void;

/** Counters of the interrupt path. */
export interface InterruptStats {
  /** Engine events raised (before any mask). */
  raised: number;
  /** Events dropped by RING_IMR or the bank IMR. */
  masked: number;
  /** Times the line went up (callbacks run). */
  delivered: number;
}

const OWNER = 'device/interrupts';

/**
 * The handler rows of the GT interrupt registers, for a register file whose context reaches its
 * controller through `irqOf` (the device's `interrupts`, a vGPU's `irq`).
 */
export function gtInterruptRows<C>(irqOf: (ctx: C) => GtInterrupts): HandlerRow<C>[] {
  const update = (c: C): void => irqOf(c).update();
  return [
    {
      at: REG.GEN8_MASTER_IRQ, owner: OWNER, doc: 'reads the enable bit and the pending engine fields; a write recomputes the line',
      read: (c, _o, stored) => irqOf(c).masterRead(stored),
      write: update,
    },
    { at: gtImr(0), count: 4, stride: 0x10, owner: OWNER, doc: 'a write recomputes the line', write: update },
    { at: gtIer(0), count: 4, stride: 0x10, owner: OWNER, doc: 'a write recomputes the line', write: update },
    {
      at: gtIir(0), count: 4, stride: 0x10, owner: OWNER, doc: 'write-1-to-clear also clears the ISR bits, then recomputes the line',
      write: (c, offset, value) => irqOf(c).iirWritten(offset, value),
    },
  ];
}

/**
 * The handler rows of the extra banks (`IrqBankRow`) of a controller reached through `irqOf`: a
 * write of an IMR, IER or IIR (write-1-to-clear, done by the register's flags) recomputes the line.
 */
export function irqBankRows<C>(irqOf: (ctx: C) => GtInterrupts, banks: readonly IrqBankRow[]): HandlerRow<C>[] {
  const update = (c: C): void => irqOf(c).update();
  const rows: HandlerRow<C>[] = [];
  for (const b of banks) {
    rows.push(
      { at: b.imr, owner: OWNER, doc: `${b.name} mask: a write recomputes the line`, write: update },
      { at: b.iir, owner: OWNER, doc: `${b.name} identity (write 1 to clear): a write recomputes the line (master bit ${b.masterBit})`, write: update },
      { at: b.ier, owner: OWNER, doc: `${b.name} enable: a write recomputes the line`, write: update },
    );
  }
  return rows;
}

/** The GT interrupt controller over a register file. */
export class GtInterrupts {
  readonly stats: InterruptStats = { raised: 0, masked: 0, delivered: 0 };
  /** True while the line is up. */
  lineUp = false;
  private readonly regs: RegisterFile;
  private readonly callbacks: InterruptCallback[] = [];
  /** The extra banks as parallel typed arrays (IIR offset, IER offset, master bit): no allocation per update. */
  private readonly bankIir: Uint32Array;
  private readonly bankIer: Uint32Array;
  private readonly bankMaster: Uint32Array;

  /**
   * The controller over `regs`, whose handler table must hold `gtInterruptRows` (they call
   * `masterRead`, `update` and `iirWritten`) and `irqBankRows` of `banks` (other banks reporting
   * into the master register: a vGPU's display; none on the host device).
   */
  constructor(regs: RegisterFile, banks: readonly IrqBankRow[] = []) {
    this.regs = regs;
    this.bankIir = Uint32Array.from(banks, (b) => b.iir);
    this.bankIer = Uint32Array.from(banks, (b) => b.ier);
    this.bankMaster = Uint32Array.from(banks, (b) => (1 << b.masterBit) >>> 0);
  }

  /** GEN8_MASTER_IRQ as read: the stored enable bit and the pending engine fields. */
  masterRead(stored: number): number {
    return ((stored & Bits.GEN8_MASTER_IRQ_CONTROL) | this.pendingBits()) >>> 0;
  }

  /** A guest or host write cleared `value`'s bits of the IIR at `offset` (W1C did the IIR): the ISR bits follow. */
  iirWritten(offset: number, value: number): void {
    const regs = this.regs;
    const isr = gtIsr((offset - REG.GEN8_GT_ISR0) >>> 4);
    regs.poke(isr, regs.peek(isr) & ~value);
    this.update();
  }

  /** Register a callback for the line going up. */
  onInterrupt(cb: InterruptCallback): void {
    this.callbacks.push(cb);
  }

  /**
   * Raise engine event bits (`EngineIrq`, inside the engine's 16-bit field). Allocation-free.
   */
  raise(engine: EngineInfo, bits: number): void {
    this.stats.raised++;
    const regs = this.regs;
    const ringImr = regs.peek(engine.mmioBase + RING.IMR);
    const passed = bits & ~ringImr & 0xffff;
    if (passed === 0) {
      this.stats.masked++;
      return;
    }
    const shifted = (passed << engine.irqShift) >>> 0;
    const bank = engine.irqBank;
    regs.poke(gtIsr(bank), (regs.peek(gtIsr(bank)) | shifted) >>> 0);
    const unmasked = (shifted & ~regs.peek(gtImr(bank))) >>> 0;
    if (unmasked === 0) {
      this.stats.masked++;
      return;
    }
    regs.poke(gtIir(bank), (regs.peek(gtIir(bank)) | unmasked) >>> 0);
    this.update();
  }

  /** Pending bits of GEN8_MASTER_IRQ (engine fields, then extra banks, with IIR & IER set). */
  pendingBits(): number {
    const regs = this.regs;
    let pending = 0;
    for (let i = 0; i < GEN9_ENGINES.length; i++) {
      const e = GEN9_ENGINES[i];
      const active = regs.peek(gtIir(e.irqBank)) & regs.peek(gtIer(e.irqBank));
      if (((active >>> e.irqShift) & 0xffff) !== 0) pending |= 1 << e.masterBit;
    }
    const iir = this.bankIir, ier = this.bankIer, master = this.bankMaster;
    for (let i = 0; i < iir.length; i++) {
      if ((regs.peek(iir[i]) & regs.peek(ier[i])) !== 0) pending |= master[i];
    }
    return pending >>> 0;
  }

  /** Recompute the line; run the callbacks on a rising edge. */
  update(): void {
    const enabled = (this.regs.peek(REG.GEN8_MASTER_IRQ) & Bits.GEN8_MASTER_IRQ_CONTROL) !== 0;
    const pending = enabled ? this.pendingBits() : 0;
    const up = pending !== 0;
    if (up && !this.lineUp) {
      this.lineUp = true;
      this.stats.delivered++;
      for (let i = 0; i < this.callbacks.length; i++) this.callbacks[i](pending);
    } else if (!up) {
      this.lineUp = false;
    }
  }

  /** Drop the line without callbacks (device reset). */
  reset(): void {
    this.lineUp = false;
  }
}
