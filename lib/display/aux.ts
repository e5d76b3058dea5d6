/**
 * AUX channel transactions of a DisplayPort sink: native DPCD reads and writes, and I2C over AUX
 * to the monitor's DDC (EDID at I2C address 0x50, the E-DDC segment pointer at 0x30).
 *
 * Facts: Linux v7.0 `gvt/handlers.c` `dp_aux_ch_ctl_mmio_write` (native AUX) and `gvt/edid.c`
 * `intel_gvt_i2c_handle_aux_ch_write` (I2C over AUX); the message format is i915's
 * (`display/intel_dp_aux.c` `intel_dp_aux_transfer`, Linux 6.1): a 4-byte header
 * `[request << 4 | address 19:16][address 15:8][address 7:0][length - 1]` (3 bytes for an
 * address-only I2C transaction), then the data of a write; the reply is one byte
 * `[i2c reply << 6 | native reply << 4]` followed by the data of a read.
 *
 * i915 reads EDID through `drm_dp_i2c_xfer`: an address-only start to 0x50 with MOT, a 1-byte
 * write of the offset, an address-only restart for reading, reads of up to 16 bytes, and an
 * address-only transaction without MOT as stop. GVT-g answers every I2C read with one byte
 * (drm then carries on after a "partial reply"); gvtkit answers the length asked, as a sink does,
 * and honours the offset and segment written (GVT-g ignores I2C writes and counts from 0).
 */
import { type VirtualDpcd } from './dpcd.js';

/** AUX request codes (drm `drm_dp.h`). */
export const AuxRequest = {
  I2C_WRITE: 0x0,
  I2C_READ: 0x1,
  I2C_WRITE_STATUS_UPDATE: 0x2,
  I2C_MOT: 0x4,
  NATIVE_WRITE: 0x8,
  NATIVE_READ: 0x9,
} as const;

/** Reply byte values (already shifted into the reply byte). */
export const AuxReply = {
  ACK: 0x00,
  NATIVE_NACK: 0x10,
  NATIVE_DEFER: 0x20,
  I2C_NACK: 0x40,
  I2C_DEFER: 0x80,
} as const;

/** I2C address of the EDID EEPROM (GVT-g `EDID_ADDR`). */
export const DDC_ADDR = 0x50;
/** I2C address of the E-DDC segment pointer. */
export const DDC_SEGMENT_ADDR = 0x30;
/** Most data bytes one AUX transaction carries. */
export const AUX_MAX_PAYLOAD = 16;

/** Where an I2C bus transaction stands. */
export type I2cState = 'idle' | 'edid-write' | 'edid-read' | 'segment-write';

/**
 * A DDC bus with a monitor's EDID on it: E-DDC with a 256-byte window per segment. The state
 * machine: `start` addresses a target (ACK only for 0x50 and 0x30), writes to 0x50 set the read
 * offset, writes to 0x30 select the segment, reads from 0x50 return EDID bytes and advance the
 * offset (wrapping in the segment), `stop` returns to idle and resets the segment (E-DDC).
 */
export class DdcBus {
  state: I2cState = 'idle';
  /** Address of the current transaction (-1 when idle). */
  address = -1;
  /** Offset of the next EDID byte inside the segment. */
  offset = 0;
  /** Current E-DDC segment (256 bytes each). */
  segment = 0;

  /** `edid` is the monitor's EDID (all its blocks, a multiple of 128 bytes). */
  constructor(public edid: Uint8Array) {}

  /** Address `addr` for a read or write. Returns true when a target acknowledges. */
  start(addr: number, read: boolean): boolean {
    if (addr === DDC_ADDR) {
      this.state = read ? 'edid-read' : 'edid-write';
      this.address = addr;
      return true;
    }
    if (addr === DDC_SEGMENT_ADDR && !read) {
      this.state = 'segment-write';
      this.address = addr;
      return true;
    }
    this.state = 'idle';
    this.address = -1;
    return false;
  }

  /** True when a transaction to `addr` in direction `read` is under way. */
  addressed(addr: number, read: boolean): boolean {
    return this.address === addr && this.state !== 'idle' && (this.state === 'edid-read') === read;
  }

  /** One byte written to the addressed target. */
  writeByte(value: number): void {
    if (this.state === 'edid-write') this.offset = value & 0xff;
    else if (this.state === 'segment-write') this.segment = value & 0x7f;
  }

  /** One byte read from the addressed target (0xff past the EDID, as an absent EEPROM page reads). */
  readByte(): number {
    const at = this.segment * 256 + this.offset;
    this.offset = (this.offset + 1) & 0xff;
    return at < this.edid.length ? this.edid[at] : 0xff;
  }

  /** I2C stop: back to idle; the segment pointer resets (E-DDC). */
  stop(): void {
    this.state = 'idle';
    this.address = -1;
    this.segment = 0;
  }

  /** Back to power-on state. */
  reset(): void {
    this.stop();
    this.offset = 0;
  }
}

/**
 * One AUX channel with a sink on it (`dpcd` and `ddc` of the monitor) or none (every transaction
 * times out, as GVT-g answers a port without a monitor). `transfer` runs one transaction from
 * `tx` and leaves the reply in `rx`: allocation-free.
 */
export class AuxChannel {
  /** Request bytes (at most the 20 bytes of the five data registers). */
  readonly tx = new Uint8Array(20);
  /** Reply bytes. */
  readonly rx = new Uint8Array(20);
  /** Transactions run, and those answered with a NACK or a timeout. */
  transactions = 0;
  refused = 0;

  constructor(public dpcd: VirtualDpcd | null, public ddc: DdcBus | null) {}

  /**
   * Run the transaction of `txBytes` request bytes in `tx`. Returns the reply size in bytes, or 0
   * when no sink answers (the controller reports a timeout).
   */
  transfer(txBytes: number): number {
    this.transactions++;
    const tx = this.tx, rx = this.rx;
    rx.fill(0);
    if (this.dpcd === null || txBytes < 3) {
      this.refused++;
      return 0;
    }
    const request = tx[0] >>> 4;
    const address = ((tx[0] & 0xf) << 16) | (tx[1] << 8) | tx[2];
    const length = txBytes >= 4 ? tx[3] + 1 : 0;
    if ((request & 0x8) !== 0) return this.native(request, address, length, txBytes);
    return this.i2c(request, address, length, txBytes);
  }

  /** Native AUX: DPCD read or write (GVT-g `dp_aux_ch_ctl_mmio_write`). */
  private native(request: number, address: number, length: number, txBytes: number): number {
    const dpcd = this.dpcd!, tx = this.tx, rx = this.rx;
    if (request === AuxRequest.NATIVE_READ && length > 0 && length <= AUX_MAX_PAYLOAD && txBytes === 4) {
      rx[0] = AuxReply.ACK;
      for (let i = 0; i < length; i++) rx[1 + i] = dpcd.readByte(address + i);
      return 1 + length;
    }
    if (request === AuxRequest.NATIVE_WRITE && length > 0 && length <= AUX_MAX_PAYLOAD && txBytes === 4 + length && dpcd.writable(address, length)) {
      for (let i = 0; i < length; i++) dpcd.writeByte(address + i, tx[4 + i]);
      rx[0] = AuxReply.ACK;
      return 1;
    }
    // A write beyond the DPCD (DP: NACK with M = 0), or a malformed request.
    this.refused++;
    rx[0] = AuxReply.NATIVE_NACK;
    return 1;
  }

  /** I2C over AUX to the monitor's DDC (GVT-g `intel_gvt_i2c_handle_aux_ch_write`). */
  private i2c(request: number, address: number, length: number, txBytes: number): number {
    const ddc = this.ddc, tx = this.tx, rx = this.rx;
    const mot = (request & AuxRequest.I2C_MOT) !== 0;
    const op = request & 0x3;
    const read = op === AuxRequest.I2C_READ;
    // Address-only: start (or restart) with MOT, stop without.
    if (length === 0) {
      if (!mot) {
        ddc?.stop();
        rx[0] = AuxReply.ACK;
        return 1;
      }
      if (ddc === null || !ddc.start(address & 0x7f, read)) {
        this.refused++;
        rx[0] = AuxReply.I2C_NACK;
        return 1;
      }
      rx[0] = AuxReply.ACK;
      return 1;
    }
    // A data transaction to another target or in the other direction is a restart there.
    if (ddc === null || length > AUX_MAX_PAYLOAD || (!ddc.addressed(address & 0x7f, read) && !ddc.start(address & 0x7f, read))) {
      this.refused++;
      rx[0] = AuxReply.I2C_NACK;
      return 1;
    }
    let size = 1;
    rx[0] = AuxReply.ACK;
    if (read && txBytes === 4) {
      for (let i = 0; i < length; i++) rx[1 + i] = ddc.readByte();
      size = 1 + length;
    } else if (op === AuxRequest.I2C_WRITE && txBytes === 4 + length) {
      for (let i = 0; i < length; i++) ddc.writeByte(tx[4 + i]);
    } else if (op !== AuxRequest.I2C_WRITE_STATUS_UPDATE) {
      this.refused++;
      rx[0] = AuxReply.I2C_NACK;
    }
    if (!mot) ddc.stop();
    return size;
  }
}
