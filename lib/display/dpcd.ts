/**
 * The virtual monitor's DPCD (DisplayPort Configuration Data), as GVT-g presents it.
 *
 * Facts from Linux v7.0 `gvt/display.c` and `gvt/handlers.c`:
 * - the receiver capability header is `dpcd_fix_data`: DPCD revision 1.2 (0x12), maximum link rate
 *   0x14 (5.4 Gb/s), 4 lanes with enhanced framing (0x84), the rest 0; SINK_COUNT (0x200) is 1;
 * - the DPCD holds `DPCD_SIZE` (0x700) bytes: a read beyond them is answered with zeros (ACK, as
 *   the DP spec asks of a sink for unsupported addresses) and a write beyond them is NAKed;
 * - writing TRAINING_PATTERN_SET (0x102) runs link training at once
 *   (`dp_aux_ch_ctl_link_training`): pattern 1 sets clock recovery done on all four lanes,
 *   pattern 2 sets channel equalisation, symbol lock and inter-lane alignment, pattern 0 (training
 *   off) marks the sink's receive ports in sync.
 *
 * Differences from GVT-g: addresses are the full 20 bits of the AUX header (GVT-g drops bits
 * 19:16, so a read of the LTTPR capabilities at 0xf0000 would see the receiver capabilities at 0).
 */

/** Bytes of the virtual DPCD (GVT-g `DPCD_SIZE`). */
export const DPCD_SIZE = 0x700;

/** DPCD addresses used here (drm `drm_dp.h` names). */
export const Dpcd = {
  DPCD_REV: 0x000,
  MAX_LINK_RATE: 0x001,
  MAX_LANE_COUNT: 0x002,
  MSTM_CAP: 0x021,
  TRAINING_PATTERN_SET: 0x102,
  SINK_COUNT: 0x200,
  LANE0_1_STATUS: 0x202,
  LANE2_3_STATUS: 0x203,
  LANE_ALIGN_STATUS_UPDATED: 0x204,
  SINK_STATUS: 0x205,
  SET_POWER: 0x600,
} as const;

/** GVT-g's `dpcd_fix_data`: the receiver capability header of a DP 1.2 sink (11 bytes). */
export const DPCD_FIX_DATA: readonly number[] = Object.freeze([0x12, 0x14, 0x84, 0, 0, 0, 0, 0, 0, 0, 0]);

const DP_TRAINING_PATTERN_MASK = 0x3;
const DP_LANE_CR_DONE = 1 << 0;
const DP_LANE_CHANNEL_EQ_DONE = 1 << 1;
const DP_LANE_SYMBOL_LOCKED = 1 << 2;
const DP_INTERLANE_ALIGN_DONE = 1 << 0;
const DP_RECEIVE_PORT_0_STATUS = 1 << 0;
const DP_RECEIVE_PORT_1_STATUS = 1 << 1;

/** The DPCD of one virtual DP sink. */
export class VirtualDpcd {
  /** The DPCD bytes [0, DPCD_SIZE). */
  readonly data = new Uint8Array(DPCD_SIZE);

  constructor() {
    this.reset();
  }

  /** Back to the sink's state at plug-in (GVT-g `setup_virtual_dp_monitor`). */
  reset(): void {
    this.data.fill(0);
    this.data.set(DPCD_FIX_DATA, 0);
    this.data[Dpcd.SINK_COUNT] = 1;
  }

  /** The byte at `address` (0 beyond the DPCD, as a sink answers unsupported addresses). */
  readByte(address: number): number {
    return address >= 0 && address < DPCD_SIZE ? this.data[address] : 0;
  }

  /** True when [address, address + length) lies inside the DPCD (GVT-g's write bound). */
  writable(address: number, length: number): boolean {
    return address >= 0 && address + length < DPCD_SIZE;
  }

  /** Store one byte (the caller checked `writable`), with link training's side effects. */
  writeByte(address: number, value: number): void {
    this.data[address] = value & 0xff;
    if (address === Dpcd.TRAINING_PATTERN_SET) this.linkTraining(value);
  }

  /** GVT-g `dp_aux_ch_ctl_link_training`: training completes as soon as it starts. */
  private linkTraining(t: number): void {
    const d = this.data;
    const pattern = t & DP_TRAINING_PATTERN_MASK;
    if (pattern === 1) {
      d[Dpcd.LANE0_1_STATUS] |= DP_LANE_CR_DONE | (DP_LANE_CR_DONE << 4);
      d[Dpcd.LANE2_3_STATUS] |= DP_LANE_CR_DONE | (DP_LANE_CR_DONE << 4);
    } else if (pattern === 2) {
      const eq = DP_LANE_CHANNEL_EQ_DONE | (DP_LANE_CHANNEL_EQ_DONE << 4) | DP_LANE_SYMBOL_LOCKED | (DP_LANE_SYMBOL_LOCKED << 4);
      d[Dpcd.LANE0_1_STATUS] |= eq;
      d[Dpcd.LANE2_3_STATUS] |= eq;
      d[Dpcd.LANE_ALIGN_STATUS_UPDATED] |= DP_INTERLANE_ALIGN_DONE;
    } else if (pattern === 0) {
      d[Dpcd.SINK_STATUS] = DP_RECEIVE_PORT_0_STATUS | DP_RECEIVE_PORT_1_STATUS;
    }
  }
}
