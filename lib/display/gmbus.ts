/**
 * The PCH's DDC controllers: GMBUS (the I2C engine) and the GPIO bit-banging lines.
 *
 * GVT-g (Linux v7.0 `gvt/edid.c` `gmbus0_mmio_write` ... `gmbus3_mmio_read`) serves EDID over
 * GMBUS only for a monitor that is not DP; its DP monitor on port D is reached over AUX, so every
 * GMBUS transfer a Skylake guest makes (i915 probes HDMI on port D through pin DPD, 6) finds no
 * device. What gvtkit answers, following i915 6.1 `display/intel_gmbus.c`:
 * - a transfer to a pin without a device ends at once with a NAK (GMBUS2 `SATOER`) and the bus
 *   idle (`ACTIVE` clear), so `gmbus_wait` returns -ENXIO and `gmbus_wait_idle` does not time
 *   out. GVT-g leaves `ACTIVE` set after the NAK, which costs a guest 10 ms per attempt.
 * - `SW_CLR_INT` resets the controller (hardware ready, no error); reading GMBUS2 takes the
 *   `INUSE` semaphore and writing `INUSE` releases it (GVT-g `gmbus2_mmio_read/write`).
 * - a pin with a DDC bus (a future HDMI monitor on a GMBUS pin) gets reads and writes, index cycles
 *   included, four bytes per GMBUS3 access.
 * - the GPIO lines are open drain with pull-ups and nothing else on the wire: a line reads low
 *   only while the guest drives it low. i915's bit-banging fallback (`intel_gpio_setup`) then
 *   sees every address NAKed (-ENXIO) instead of a clock stuck low (-ETIMEDOUT); GVT-g keeps them
 *   as plain storage.
 */
import type { DdcBus } from './aux.js';

/** GMBUS register bits (i915 `intel_gmbus_regs.h`). */
export const Gmbus = {
  PIN_SEL_MASK: 0x7,
  SW_CLR_INT: 1 << 31,
  SW_RDY: 1 << 30,
  CYCLE_WAIT: 1 << 25,
  CYCLE_INDEX: 2 << 25,
  CYCLE_STOP: 4 << 25,
  CYCLE_MASK: 7 << 25,
  BYTE_COUNT_SHIFT: 16,
  BYTE_COUNT_MASK: 0x1ff,
  INDEX_SHIFT: 8,
  SLAVE_READ: 1,
  INUSE: 1 << 15,
  HW_WAIT_PHASE: 1 << 14,
  INT: 1 << 12,
  HW_RDY: 1 << 11,
  SATOER: 1 << 10,
  ACTIVE: 1 << 9,
  GMBUS5_2BYTE_INDEX_EN: 1 << 31,
} as const;

/** GPIO register bits (i915 `intel_gmbus_regs.h`). */
export const Gpio = {
  CLOCK_DIR_MASK: 1 << 0,
  CLOCK_DIR_OUT: 1 << 1,
  CLOCK_VAL_MASK: 1 << 2,
  CLOCK_VAL_OUT: 1 << 3,
  CLOCK_VAL_IN: 1 << 4,
  DATA_DIR_MASK: 1 << 8,
  DATA_DIR_OUT: 1 << 9,
  DATA_VAL_MASK: 1 << 10,
  DATA_VAL_OUT: 1 << 11,
  DATA_VAL_IN: 1 << 12,
} as const;

/** Where a GMBUS transfer stands. */
export type GmbusPhase = 'idle' | 'read' | 'write' | 'wait';

/** The GMBUS engine of one vGPU. Status is returned as the new GMBUS2 value by each step. */
export class GmbusController {
  phase: GmbusPhase = 'idle';
  /** Selected pin (GMBUS0 2:0). */
  pin = 0;
  /** Bytes left in the current read or write. */
  left = 0;
  /** The current cycle ends with a stop. */
  stopAtEnd = false;
  /** Transfers NAKed (no device). */
  naks = 0;
  private bus: DdcBus | null = null;

  /** `busOf(pin)` gives the DDC bus behind a pin, or null where nothing is connected. */
  constructor(private readonly busOf: (pin: number) => DdcBus | null) {}

  /** GMBUS0 written: select a pin; the engine is ready, idle. Returns GMBUS2. */
  selectPin(value: number, gmbus2: number): number {
    this.pin = value & Gmbus.PIN_SEL_MASK;
    this.bus?.stop();
    this.bus = this.pin === 0 ? null : this.busOf(this.pin);
    this.phase = 'idle';
    this.left = 0;
    return ((gmbus2 & Gmbus.INUSE) | Gmbus.HW_RDY) >>> 0;
  }

  /**
   * GMBUS1 written. `gmbus3` is the data register's content (the first bytes of a write),
   * `gmbus5` the 2-byte index register. Returns GMBUS2.
   */
  command(value: number, gmbus2: number, gmbus3: number, gmbus5: number): number {
    const inuse = gmbus2 & Gmbus.INUSE;
    if ((value & Gmbus.SW_CLR_INT) !== 0) {
      // Software clear: the controller resets (GVT-g `reset_gmbus_controller`).
      this.bus?.stop();
      this.phase = 'idle';
      this.left = 0;
      return (inuse | Gmbus.HW_RDY) >>> 0;
    }
    const cycle = value & Gmbus.CYCLE_MASK;
    if (cycle === 0 || (value & Gmbus.SW_RDY) === 0) return gmbus2;
    if (cycle === Gmbus.CYCLE_STOP && ((value >>> Gmbus.BYTE_COUNT_SHIFT) & Gmbus.BYTE_COUNT_MASK) === 0) {
      // A bare stop ends the transaction: idle.
      this.bus?.stop();
      this.phase = 'idle';
      return (inuse | Gmbus.HW_RDY) >>> 0;
    }
    const addr = (value >>> 1) & 0x7f;
    const read = (value & Gmbus.SLAVE_READ) !== 0;
    const count = (value >>> Gmbus.BYTE_COUNT_SHIFT) & Gmbus.BYTE_COUNT_MASK;
    const bus = this.bus;
    const index = (cycle & Gmbus.CYCLE_INDEX) !== 0;
    // An index cycle writes the index first, then restarts for a read.
    if (bus === null || !bus.start(addr, read && !index)) {
      // Nobody acknowledges the address: NAK, and the bus is left idle.
      this.naks++;
      bus?.stop();
      this.phase = 'idle';
      return (inuse | Gmbus.HW_RDY | Gmbus.SATOER) >>> 0;
    }
    if (index) {
      // Index cycle: the index is written to the target first (then a restart for a read).
      if ((gmbus5 & Gmbus.GMBUS5_2BYTE_INDEX_EN) !== 0) bus.writeByte((gmbus5 >>> 8) & 0xff);
      bus.writeByte((value >>> Gmbus.INDEX_SHIFT) & 0xff);
      if (read) bus.start(addr, true);
    }
    this.stopAtEnd = (cycle & Gmbus.CYCLE_STOP) !== 0;
    this.left = count;
    if (read) {
      this.phase = 'read';
    } else {
      this.phase = 'write';
      this.consumeWrite(gmbus3);
    }
    return this.status(inuse);
  }

  /**
   * GMBUS3 read during a read: the next up-to-4 bytes, little-endian (`stored` outside a read).
   * The new GMBUS2 is left in `lastStatus` for the handler to store.
   */
  readData(stored: number, gmbus2: number): number {
    if (this.phase !== 'read' || this.bus === null) return stored;
    let v = 0;
    const n = Math.min(4, this.left);
    for (let i = 0; i < n; i++) v |= this.bus.readByte() << (8 * i);
    this.left -= n;
    this.lastStatus = this.status(gmbus2 & Gmbus.INUSE);
    return v >>> 0;
  }

  /** GMBUS2 after the last `readData` or `writeData` (the handler stores it). */
  lastStatus = Gmbus.HW_RDY as number;

  /** GMBUS3 written during a write: up to 4 more bytes. Returns GMBUS2. */
  writeData(value: number, gmbus2: number): number {
    if (this.phase !== 'write') return gmbus2;
    this.consumeWrite(value);
    return this.status(gmbus2 & Gmbus.INUSE);
  }

  private consumeWrite(data: number): void {
    const n = Math.min(4, this.left);
    for (let i = 0; i < n; i++) this.bus!.writeByte((data >>> (8 * i)) & 0xff);
    this.left -= n;
  }

  /** GMBUS2 for the current phase: ready; active while bytes are left or until the cycle's end. */
  private status(inuse: number): number {
    if (this.left > 0) return (inuse | Gmbus.HW_RDY | Gmbus.ACTIVE) >>> 0;
    if (this.stopAtEnd) {
      this.bus?.stop();
      this.phase = 'idle';
      return (inuse | Gmbus.HW_RDY) >>> 0;
    }
    this.phase = 'wait';
    return (inuse | Gmbus.HW_RDY | Gmbus.HW_WAIT_PHASE | Gmbus.ACTIVE) >>> 0;
  }

  /** Back to power-on state. */
  reset(): void {
    this.bus?.stop();
    this.bus = null;
    this.pin = 0;
    this.phase = 'idle';
    this.left = 0;
    this.lastStatus = Gmbus.HW_RDY;
  }
}

/**
 * The value a GPIO register reads: its stored bits with the two input bits replaced by the line
 * levels. `latched` is the pin's driver state (bit 0 clock driven, 1 clock value, 2 data driven,
 * 3 data value); a line is low only while driven low.
 */
export function gpioRead(stored: number, latched: number): number {
  const clockLow = (latched & 1) !== 0 && (latched & 2) === 0;
  const dataLow = (latched & 4) !== 0 && (latched & 8) === 0;
  let v = stored & ~(Gpio.CLOCK_VAL_IN | Gpio.DATA_VAL_IN);
  if (!clockLow) v |= Gpio.CLOCK_VAL_IN;
  if (!dataLow) v |= Gpio.DATA_VAL_IN;
  return v >>> 0;
}

/** The driver state after a GPIO write: direction and value latch only where their mask bit is written. */
export function gpioLatch(latched: number, value: number): number {
  let l = latched;
  if ((value & Gpio.CLOCK_DIR_MASK) !== 0) l = (value & Gpio.CLOCK_DIR_OUT) !== 0 ? l | 1 : l & ~1;
  if ((value & Gpio.CLOCK_VAL_MASK) !== 0) l = (value & Gpio.CLOCK_VAL_OUT) !== 0 ? l | 2 : l & ~2;
  if ((value & Gpio.DATA_DIR_MASK) !== 0) l = (value & Gpio.DATA_DIR_OUT) !== 0 ? l | 4 : l & ~4;
  if ((value & Gpio.DATA_VAL_MASK) !== 0) l = (value & Gpio.DATA_VAL_OUT) !== 0 ? l | 8 : l & ~8;
  return l;
}
