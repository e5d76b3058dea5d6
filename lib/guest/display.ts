/**
 * The modelled guest's display driver: a modeset as i915 (Linux 6.1, Skylake) does one, through
 * the vGPU's MMIO only, and page flips.
 *
 * - `detect()` finds the connected DP ports as `intel_ddi_init` / `ibx_digital_port_connected`
 *   do: `SFUSE_STRAP`'s DDI-detected bits and `SDEISR`'s hotplug bits (ports B, C, D).
 * - `probe(port)` reads the sink's DPCD receiver capabilities (`drm_dp_read_dpcd_caps`) and its
 *   EDID over I2C-over-AUX (`drm_do_get_edid` → `drm_dp_i2c_xfer`: address-only start, the offset
 *   write, address-only restart, 16-byte reads, address-only stop; the E-DDC segment pointer for
 *   blocks 2 and up), every transaction an `intel_dp_aux_xfer` on `DP_AUX_CH_CTL/DATA` of the
 *   port's AUX channel. The preferred mode is the EDID's first detailed timing
 *   (`lib/display/edid.ts` decodes it).
 * - `computeLink(mode, caps)` is `intel_dp_compute_link_config_wide` at 24 bpp: the lowest common
 *   link rate, then the fewest lanes, whose bandwidth carries the mode; data and link M/N are
 *   `intel_link_compute_m_n`'s (N = 0x8000000 and 0x80000, TU 64).
 * - `enablePipe` is `hsw_crtc_enable` for a DP SST output on a DDI: the DPLL (`skl_ddi_pll_enable`:
 *   DPLL_CTRL1 link rate, LCPLL2_CTL / WRPLL enable, DPLL_STATUS lock), the DDI clock
 *   (`skl_ddi_enable_clock`: DPLL_CTRL2), the transcoder clock (`TRANS_CLK_SEL`), DP_TP_CTL and
 *   DDI_BUF_CTL, link training over the DPCD (`intel_dp_start_link_train`: pattern 1, clock
 *   recovery, pattern 2, channel equalisation, training off), the idle pattern, the transcoder
 *   timings and pipe source size (`intel_set_transcoder_timings`, `intel_set_pipe_src_size`), M/N,
 *   MSA, `TRANS_DDI_FUNC_CTL`, `PIPECONF` enable (`intel_enable_transcoder`, waiting for the state
 *   bit), then the normal pattern (`intel_ddi_enable_dp` → `intel_dp_stop_link_train`).
 * - `programPlane` is `skl_program_plane_noarm` + `_arm` for plane 1: stride, position, size,
 *   offset, `PLANE_CTL` (enable, XRGB8888, linear or X-tiled, plane gamma disabled), `PLANE_SURF`
 *   last (the write that arms the update).
 * - `enableVblank` is `gen8_de_irq_postinstall`'s DE pipe bits (vblank and the flip dones of planes
 *   1..3 enabled) plus `bdw_enable_vblank` (vblank unmasked).
 * - `flip(surface)` writes `PLANE_SURF` now (a legacy page flip: the display takes it at the next
 *   vblank, GVT-g takes it at once and raises the flip done at the next vblank); `queueFlip`
 *   flips from the vblank interrupt, the way a compositor that waits for vblank presents.
 *
 * The register offsets and bits are the guest's own table (`GREG`, `GBits`, from i915 6.1's
 * `i915_reg.h`), not the display room's (`lib/display/registers.ts`): like a real guest it knows
 * the hardware's headers, so a wrong offset in the model is caught rather than shared.
 *
 * Guest-visible failures (no sink, an AUX error, a bad EDID, a PLL that does not lock, a link
 * that does not train) are answered like i915 answers them: the modeset returns a failure with a
 * reason and nothing is thrown. The module reaches the device only through a `DisplayBus` (a
 * guest's MMIO), so tests may drive a raw `Vgpu` with it.
 */
import createDebug from 'debug';
import { RangeArgError } from '../errors.js';
import { decodeDetailedTiming, edidChecksumValid, hTotal, vTotal, type DisplayMode } from '../display/edid.js';

const log = createDebug('gvtkit:guest:display');

/** What the display driver reaches: the guest's MMIO (BAR0). A `Vgpu` and a `GuestBus` are both one. */
export interface DisplayBus {
  mmioRead(offset: number, size: number): number;
  mmioWrite(offset: number, size: number, value: number): void;
}

/** Ports i915 6.1 knows on Skylake (`enum port`). */
export const GuestPort = { A: 0, B: 1, C: 2, D: 3, E: 4 } as const;

/** Register offsets this driver writes (i915 6.1 `i915_reg.h` names); per-instance ones are functions. */
export const GREG = {
  HSW_PWR_WELL_CTL2: 0x45404,
  LCPLL2_CTL: 0x46014,
  WRPLL_CTL1: 0x46040,
  WRPLL_CTL2: 0x46060,
  DPLL_CTRL1: 0x6c058,
  DPLL_CTRL2: 0x6c05c,
  DPLL_STATUS: 0x6c060,
  SFUSE_STRAP: 0xc2014,
  SDEISR: 0xc4000,
  /** TRANS_CLK_SEL(transcoder). */
  transClkSel: (t: number): number => 0x46140 + 4 * t,
  /** DDI_BUF_CTL(port), DP_TP_CTL(port), DP_TP_STATUS(port). */
  ddiBufCtl: (port: number): number => 0x64000 + 0x100 * port,
  dpTpCtl: (port: number): number => 0x64040 + 0x100 * port,
  dpTpStatus: (port: number): number => 0x64044 + 0x100 * port,
  /** DP_AUX_CH_CTL(ch); DATA1..5 follow at +4..+0x14. */
  auxCtl: (ch: number): number => 0x64010 + 0x100 * ch,
  /** Transcoder block of transcoder `t` (A..C) and the offsets inside it. */
  trans: (t: number): number => 0x60000 + 0x1000 * t,
  PIPECONF: (pipe: number): number => 0x70008 + 0x1000 * pipe,
  PIPE_FRMCOUNT: (pipe: number): number => 0x70040 + 0x1000 * pipe,
  PIPE_FLIPCOUNT: (pipe: number): number => 0x70044 + 0x1000 * pipe,
  /** Universal plane registers of (pipe, plane index 0 = plane 1). */
  planeCtl: (pipe: number, plane: number): number => 0x70180 + 0x1000 * pipe + 0x100 * plane,
  dePipeImr: (pipe: number): number => 0x44404 + 0x10 * pipe,
  dePipeIir: (pipe: number): number => 0x44408 + 0x10 * pipe,
  dePipeIer: (pipe: number): number => 0x4440c + 0x10 * pipe,
} as const;

/** Offsets inside a transcoder block and a plane block. */
const TR = { HTOTAL: 0x00, HBLANK: 0x04, HSYNC: 0x08, VTOTAL: 0x0c, VBLANK: 0x10, VSYNC: 0x14, PIPESRC: 0x1c, DATA_M1: 0x30, DATA_N1: 0x34, LINK_M1: 0x40, LINK_N1: 0x44, DDI_FUNC_CTL: 0x400, MSA_MISC: 0x410 } as const;
const PL = { CTL: 0x00, STRIDE: 0x08, POS: 0x0c, SIZE: 0x10, KEYVAL: 0x14, KEYMSK: 0x18, SURF: 0x1c, KEYMAX: 0x20, OFFSET: 0x24, SURFLIVE: 0x2c } as const;

/** Bits (i915 6.1 names). */
export const GBits = {
  AUX_SEND_BUSY: 1 << 31,
  AUX_DONE: 1 << 30,
  AUX_TIME_OUT_ERROR: 1 << 28,
  /** DP_AUX_CH_CTL_TIME_OUT_MAX. */
  AUX_TIME_OUT_MAX: 3 << 26,
  AUX_RECEIVE_ERROR: 1 << 25,
  AUX_MESSAGE_SIZE_SHIFT: 20,
  AUX_MESSAGE_SIZE_MASK: 0x1f << 20,
  /** FW_SYNC_PULSE_SKL(32) | SYNC_PULSE_SKL(32). */
  AUX_SYNC_PULSES_SKL: ((32 - 1) << 5) | (32 - 1),
  SFUSE_STRAP_DDIB_DETECTED: 1 << 2,
  SFUSE_STRAP_DDIC_DETECTED: 1 << 1,
  SFUSE_STRAP_DDID_DETECTED: 1 << 0,
  /** SDE_PORT{B,C,D}_HOTPLUG_CPT = 1 << (20 + port). */
  sdePortHotplug: (port: number): number => 1 << (20 + port),
  /** Skylake power-well request bits: PW1 (idx 14), misc I/O (0), PW2 (15), DDI B..D (2..4). */
  pwrWellReq: (idx: number): number => (2 << (2 * idx)) >>> 0,
  pwrWellState: (idx: number): number => (1 << (2 * idx)) >>> 0,
  PLL_ENABLE: 1 << 31,
  dpllCtrl1Override: (id: number): number => 1 << (6 * id),
  dpllCtrl1LinkRate: (code: number, id: number): number => code << (6 * id + 1),
  dpllCtrl1Mask: (id: number): number => 0x3f << (6 * id),
  dpllCtrl2ClkOff: (port: number): number => 1 << (15 + port),
  dpllCtrl2ClkSel: (id: number, port: number): number => id << (3 * port + 1),
  dpllCtrl2SelOverride: (port: number): number => 1 << (3 * port),
  dpllCtrl2PortMask: (port: number): number => (1 << (15 + port)) | (7 << (3 * port)),
  dpllLock: (id: number): number => (1 << (8 * id)) >>> 0,
  /** TRANS_CLK_SEL_PORT(port). */
  transClkSelPort: (port: number): number => ((port + 1) << 29) >>> 0,
  DDI_BUF_CTL_ENABLE: 1 << 31,
  DDI_BUF_IS_IDLE: 1 << 7,
  /** DDI_PORT_WIDTH(lanes). */
  ddiPortWidth: (lanes: number): number => (lanes - 1) << 1,
  DP_TP_CTL_ENABLE: 1 << 31,
  DP_TP_CTL_MODE_SST: 0 << 27,
  DP_TP_CTL_ENHANCED_FRAME_ENABLE: 1 << 18,
  DP_TP_CTL_LINK_TRAIN_MASK: 7 << 8,
  DP_TP_CTL_LINK_TRAIN_PAT1: 0 << 8,
  DP_TP_CTL_LINK_TRAIN_PAT2: 1 << 8,
  DP_TP_CTL_LINK_TRAIN_IDLE: 2 << 8,
  DP_TP_CTL_LINK_TRAIN_NORMAL: 3 << 8,
  DP_TP_STATUS_IDLE_DONE: 1 << 25,
  TRANS_DDI_FUNC_ENABLE: 1 << 31,
  transDdiSelectPort: (port: number): number => (port << 28) >>> 0,
  TRANS_DDI_MODE_SELECT_DP_SST: 2 << 24,
  TRANS_DDI_BPC_8: 0 << 20,
  TRANS_DDI_PVSYNC: 1 << 17,
  TRANS_DDI_PHSYNC: 1 << 16,
  /** DDI_PORT_WIDTH in TRANS_DDI_FUNC_CTL (bits 3:1). */
  transDdiPortWidth: (lanes: number): number => (lanes - 1) << 1,
  /** DP_MSA_MISC_SYNC_CLOCK | DP_MSA_MISC_8_BPC (drm `drm_dp.h`). */
  MSA_SYNC_CLOCK_8BPC: (1 << 0) | (1 << 5),
  /** TU_SIZE(64) in PIPE_DATA_M1. */
  TU_SIZE_64: (64 - 1) << 25,
  PIPECONF_ENABLE: 1 << 31,
  PIPECONF_STATE_ENABLE: 1 << 30,
  PLANE_CTL_ENABLE: 1 << 31,
  PLANE_CTL_FORMAT_XRGB_8888: 4 << 24,
  PLANE_CTL_PLANE_GAMMA_DISABLE: 1 << 13,
  PLANE_CTL_TILED_LINEAR: 0 << 10,
  PLANE_CTL_TILED_X: 1 << 10,
  PLANE_CTL_ASYNC_FLIP: 1 << 9,
  GEN8_PIPE_VBLANK: 1 << 0,
  /** GEN9_PIPE_PLANE_FLIP_DONE(plane index). */
  planeFlipDone: (plane: number): number => 1 << (3 + plane),
} as const;

/** DPCD addresses and bits (drm `drm_dp.h`). */
const DPCD = {
  RECEIVER_CAP_SIZE: 0xf,
  MAX_LINK_RATE: 0x001,
  MAX_LANE_COUNT: 0x002,
  LINK_BW_SET: 0x100,
  LANE_COUNT_SET: 0x101,
  TRAINING_PATTERN_SET: 0x102,
  LANE0_1_STATUS: 0x202,
  LANE_ALIGN_STATUS_UPDATED: 0x204,
  ENHANCED_FRAME_CAP: 1 << 7,
  LANE_COUNT_ENHANCED_FRAME_EN: 1 << 7,
  LINK_SCRAMBLING_DISABLE: 1 << 5,
  LANE_CR_DONE: 1 << 0,
  LANE_EQ_DONE: (1 << 1) | (1 << 2),
  INTERLANE_ALIGN_DONE: 1 << 0,
} as const;

/** AUX request codes (drm `drm_dp.h`). */
const AUX = { I2C_WRITE: 0x0, I2C_READ: 0x1, I2C_MOT: 0x4, NATIVE_WRITE: 0x8, NATIVE_READ: 0x9 } as const;
/** drm's I2C-over-AUX chunk (`DP_AUX_MAX_PAYLOAD_BYTES`, the default `i2c_transfer_size`). */
const I2C_CHUNK = 16;
const DDC_ADDR = 0x50;
const DDC_SEGMENT_ADDR = 0x30;
const EDID_BLOCK = 128;
/** drm_do_get_edid reads at most this many extension blocks here (EDID allows 255). */
const MAX_EDID_EXTENSIONS = 7;

/**
 * The DP link rates of a DP 1.2 sink and their codes: the DPCD `LINK_BW_SET` value and the
 * Skylake `DPLL_CTRL1` link-rate code of the DPLL that drives the port at that rate
 * (`skl_ddi_dp_set_dpll_hw_state`: 162000 → LINK_RATE_810, 270000 → 1350, 540000 → 2700).
 */
export const DP_LINK_RATES: readonly { readonly khz: number; readonly bwCode: number; readonly dpllCode: number }[] = Object.freeze([
  { khz: 162000, bwCode: 0x06, dpllCode: 2 },
  { khz: 270000, bwCode: 0x0a, dpllCode: 1 },
  { khz: 540000, bwCode: 0x14, dpllCode: 0 },
]);

/** The DPLL a port's DP clock comes from: i915's shared-DPLL manager gives port D's first DP output DPLL1 (LCPLL2). */
const DPLL_ENABLE_REG: readonly number[] = [0x46010, GREG.LCPLL2_CTL, GREG.WRPLL_CTL1, GREG.WRPLL_CTL2];

/** A sink's DPCD receiver capabilities. */
export interface DpCaps {
  /** DPCD revision (0x12 = 1.2). */
  readonly revision: number;
  /** Highest link rate, kHz of link symbol clock (162000, 270000, 540000). */
  readonly maxLinkRateKhz: number;
  readonly maxLanes: number;
  readonly enhancedFraming: boolean;
}

/** A monitor the driver probed. */
export interface GuestMonitor {
  readonly port: number;
  readonly caps: DpCaps;
  /** The EDID as read (base block plus extensions). */
  readonly edid: Uint8Array;
  /** The preferred mode: the first detailed timing. */
  readonly mode: DisplayMode;
}

/** The DP link configuration of a mode (`intel_dp_compute_config`). */
export interface LinkConfig {
  readonly portClockKhz: number;
  readonly lanes: number;
  /** DPCD LINK_BW_SET and DPLL_CTRL1 codes of the rate. */
  readonly bwCode: number;
  readonly dpllCode: number;
  readonly dataM: number;
  readonly dataN: number;
  readonly linkM: number;
  readonly linkN: number;
}

/** Plane 1's tiling: linear or X-tiled (512-byte by 8-row tiles). */
export type Tiling = 'linear' | 'x';

/** A scanout buffer as the plane sees it (32-bpp XRGB8888). */
export interface ScanoutSurface {
  /** GGTT address (256 KiB aligned, `intel_surf_alignment`). */
  readonly gma: number;
  readonly width: number;
  readonly height: number;
  /** Bytes per row (a multiple of 64 for linear, of 512 for X-tiled). */
  readonly stride: number;
  readonly tiling: Tiling;
}

/** Why a modeset failed (what i915 would log). */
export type ModesetFailure = 'no-monitor' | 'aux-error' | 'bad-edid' | 'no-preferred-mode' | 'link-bandwidth' | 'pll-lock' | 'link-training' | 'pipe-state' | 'bad-surface';

/** The outcome of `probe`. */
export type ProbeResult =
  | { readonly ok: true; readonly monitor: GuestMonitor }
  | { readonly ok: false; readonly reason: ModesetFailure; readonly message: string };

/** The outcome of `modeset`. */
export type ModesetResult =
  | { readonly ok: true; readonly monitor: GuestMonitor; readonly pipe: number; readonly link: LinkConfig }
  | { readonly ok: false; readonly reason: ModesetFailure; readonly message: string };

/** Counters of the display driver. */
export interface GuestDisplayCounters {
  auxTransactions: number;
  auxErrors: number;
  flips: number;
  vblanks: number;
  flipsDone: number;
}

/** A failure inside the sequence (internal: turned into a `ModesetResult`). */
class Fail {
  constructor(readonly reason: ModesetFailure, readonly message: string) {}
}

/** i915's modeset and page flips on a Skylake vGPU, through MMIO. */
export class GuestDisplay {
  readonly bus: DisplayBus;
  readonly name: string;
  readonly counters: GuestDisplayCounters = { auxTransactions: 0, auxErrors: 0, flips: 0, vblanks: 0, flipsDone: 0 };
  /** Per pipe: the surface a `queueFlip` waits to flip to at the next vblank (-1: none). */
  private readonly queued = [-1, -1, -1];
  /** Per pipe: called at each vblank interrupt the driver takes (after a queued flip). */
  private readonly vblankHooks: (((pipe: number) => void) | null)[] = [null, null, null];
  /** Scratch of AUX replies (20 bytes at most). */
  private readonly reply = new Uint8Array(20);

  constructor(bus: DisplayBus, opts: { name?: string } = {}) {
    this.bus = bus;
    this.name = opts.name ?? 'guest';
  }

  private rd(offset: number): number {
    return this.bus.mmioRead(offset, 4) >>> 0;
  }

  private wr(offset: number, value: number): void {
    this.bus.mmioWrite(offset, 4, value >>> 0);
  }

  // ---------------------------------------------------------------- AUX

  /**
   * One `intel_dp_aux_xfer` on AUX channel `ch`: load DATA1..5 (big-endian), write the send
   * control, read it back (the sink answers at once; i915 would poll up to 10 ms), clear the
   * sticky status, unload the reply. Returns the reply length (reply byte first, in `replyBytes`),
   * or -1 on a timeout or receive error.
   */
  auxTransfer(ch: number, send: ArrayLike<number>): number {
    const ctl = GREG.auxCtl(ch);
    this.counters.auxTransactions++;
    for (let i = 0; i < send.length; i += 4) {
      let w = 0;
      for (let k = 0; k < 4; k++) w |= (i + k < send.length ? send[i + k] & 0xff : 0) << (24 - 8 * k);
      this.wr(ctl + 4 + i, w);
    }
    this.wr(ctl, GBits.AUX_SEND_BUSY | GBits.AUX_DONE | GBits.AUX_TIME_OUT_ERROR | GBits.AUX_TIME_OUT_MAX | GBits.AUX_RECEIVE_ERROR
      | (send.length << GBits.AUX_MESSAGE_SIZE_SHIFT) | GBits.AUX_SYNC_PULSES_SKL);
    const status = this.rd(ctl);
    this.wr(ctl, status | GBits.AUX_DONE | GBits.AUX_TIME_OUT_ERROR | GBits.AUX_RECEIVE_ERROR);
    if ((status & GBits.AUX_SEND_BUSY) !== 0 || (status & (GBits.AUX_TIME_OUT_ERROR | GBits.AUX_RECEIVE_ERROR)) !== 0) {
      this.counters.auxErrors++;
      return -1;
    }
    const n = Math.min(20, (status & GBits.AUX_MESSAGE_SIZE_MASK) >>> GBits.AUX_MESSAGE_SIZE_SHIFT);
    for (let i = 0; i < n; i += 4) {
      const w = this.rd(ctl + 4 + i);
      for (let k = 0; k < 4 && i + k < n; k++) this.reply[i + k] = (w >>> (24 - 8 * k)) & 0xff;
    }
    return n;
  }

  /** The bytes of the last AUX reply (`auxTransfer`'s length): the reply byte, then data. */
  get replyBytes(): Uint8Array {
    return this.reply;
  }

  /** `drm_dp_dpcd_read` of `len` (1..16) bytes at `addr`; null on an error or a NACK. */
  dpcdRead(ch: number, addr: number, len: number): number[] | null {
    const n = this.auxTransfer(ch, [(AUX.NATIVE_READ << 4) | ((addr >>> 16) & 0xf), (addr >>> 8) & 0xff, addr & 0xff, len - 1]);
    if (n < 1 || (this.reply[0] >>> 4) !== 0) return null;
    return Array.from(this.reply.subarray(1, Math.min(n, 1 + len)));
  }

  /** `drm_dp_dpcd_write` of 1..16 bytes at `addr`; false on an error or a NACK. */
  dpcdWrite(ch: number, addr: number, bytes: readonly number[]): boolean {
    const n = this.auxTransfer(ch, [(AUX.NATIVE_WRITE << 4) | ((addr >>> 16) & 0xf), (addr >>> 8) & 0xff, addr & 0xff, bytes.length - 1, ...bytes]);
    return n >= 1 && (this.reply[0] >>> 4) === 0;
  }

  /** One I2C-over-AUX transaction to `addr` (address-only when `data` is empty and no read); true on ACK. */
  private i2c(ch: number, request: number, addr: number, data: readonly number[], readLen = 0): boolean {
    const send = readLen > 0 ? [request << 4, 0, addr, readLen - 1] : data.length > 0 ? [request << 4, 0, addr, data.length - 1, ...data] : [request << 4, 0, addr];
    const n = this.auxTransfer(ch, send);
    return n >= 1 && this.reply[0] === 0 && (readLen === 0 || n === 1 + readLen);
  }

  /**
   * `drm_dp_i2c_xfer` of [write the segment (blocks 2 and up), write the offset, read `len`
   * bytes] on the DDC: every message opens with an address-only transaction, reads go in chunks
   * of 16 bytes, an address-only transaction without MOT stops. Null on a NACK or an AUX error.
   */
  private ddcRead(ch: number, segment: number, offset: number, len: number): Uint8Array | null {
    const W = AUX.I2C_WRITE | AUX.I2C_MOT, R = AUX.I2C_READ | AUX.I2C_MOT;
    if (segment > 0) {
      if (!this.i2c(ch, W, DDC_SEGMENT_ADDR, []) || !this.i2c(ch, W, DDC_SEGMENT_ADDR, [segment])) return null;
    }
    if (!this.i2c(ch, W, DDC_ADDR, []) || !this.i2c(ch, W, DDC_ADDR, [offset])) return null;
    if (!this.i2c(ch, R, DDC_ADDR, [])) return null;
    const out = new Uint8Array(len);
    for (let at = 0; at < len; at += I2C_CHUNK) {
      const n = Math.min(I2C_CHUNK, len - at);
      if (!this.i2c(ch, R, DDC_ADDR, [], n)) return null;
      out.set(this.reply.subarray(1, 1 + n), at);
    }
    if (!this.i2c(ch, AUX.I2C_READ, DDC_ADDR, [])) return null;
    return out;
  }

  /**
   * The sink's EDID (`drm_do_get_edid`): the base block, then its extension blocks (block n at
   * segment n / 2, offset 128 · (n mod 2)). Null when the DDC does not answer; the blocks are
   * returned as read (checksums are the caller's).
   */
  readEdid(port: number): Uint8Array | null {
    const base = this.ddcRead(port, 0, 0, EDID_BLOCK);
    if (!base) return null;
    const ext = Math.min(base[126], MAX_EDID_EXTENSIONS);
    const out = new Uint8Array(EDID_BLOCK * (1 + ext));
    out.set(base, 0);
    for (let b = 1; b <= ext; b++) {
      const blk = this.ddcRead(port, b >>> 1, (b & 1) * EDID_BLOCK, EDID_BLOCK);
      if (!blk) return null;
      out.set(blk, b * EDID_BLOCK);
    }
    return out;
  }

  // ---------------------------------------------------------------- probe

  /**
   * The connected DP ports, B..D, as i915 finds them: DDI detected in `SFUSE_STRAP`
   * (`intel_ddi_init` on the PCH straps) and the live hotplug bit in `SDEISR`
   * (`ibx_digital_port_connected`).
   */
  detect(): number[] {
    const strap = this.rd(GREG.SFUSE_STRAP), isr = this.rd(GREG.SDEISR);
    const detected: [number, number][] = [[GuestPort.B, GBits.SFUSE_STRAP_DDIB_DETECTED], [GuestPort.C, GBits.SFUSE_STRAP_DDIC_DETECTED], [GuestPort.D, GBits.SFUSE_STRAP_DDID_DETECTED]];
    return detected.filter(([port, bit]) => (strap & bit) !== 0 && (isr & GBits.sdePortHotplug(port)) !== 0).map(([port]) => port);
  }

  /** Probe the sink on `port` (`intel_dp_detect`: DPCD caps, then the EDID); a failure says why. */
  probe(port: number): ProbeResult {
    try {
      return { ok: true, monitor: this.probeOrFail(port) };
    } catch (e) {
      if (!(e instanceof Fail)) throw e;
      return { ok: false, reason: e.reason, message: e.message };
    }
  }

  private probeOrFail(port: number): GuestMonitor {
    const caps = this.dpcdRead(port, 0, DPCD.RECEIVER_CAP_SIZE);
    if (!caps) throw new Fail('aux-error', `port ${'ABCDE'[port]}: no DPCD (AUX timeout, receive error or NACK)`);
    const rate = DP_LINK_RATES.filter((r) => r.bwCode <= caps[DPCD.MAX_LINK_RATE]).pop();
    const dpCaps: DpCaps = {
      revision: caps[0], maxLinkRateKhz: rate ? rate.khz : DP_LINK_RATES[0].khz,
      maxLanes: caps[DPCD.MAX_LANE_COUNT] & 0x1f, enhancedFraming: (caps[DPCD.MAX_LANE_COUNT] & DPCD.ENHANCED_FRAME_CAP) !== 0,
    };
    const edid = this.readEdid(port);
    if (!edid) throw new Fail('aux-error', `port ${'ABCDE'[port]}: no EDID on the DDC`);
    if (edid[0] !== 0 || edid[1] !== 0xff || edid[7] !== 0 || !edidChecksumValid(edid)) throw new Fail('bad-edid', `port ${'ABCDE'[port]}: EDID header or checksum invalid`);
    const mode = decodeDetailedTiming(edid, 54);
    if (!mode) throw new Fail('no-preferred-mode', `port ${'ABCDE'[port]}: the EDID has no detailed timing`);
    return { port, caps: dpCaps, edid, mode };
  }

  /**
   * `intel_dp_compute_link_config_wide` at 24 bpp (8 bpc RGB): the first common rate, then the
   * fewest lanes, whose data rate (link clock × lanes, 8b/10b) carries the mode
   * (`intel_dp_link_required`: pixel clock × bpp / 8); M/N from `intel_link_compute_m_n`.
   * Null when no configuration carries it.
   */
  computeLink(mode: DisplayMode, caps: DpCaps): LinkConfig | null {
    const bpp = 24;
    const required = Math.ceil((mode.pixelClockKhz * bpp) / 8);
    for (const r of DP_LINK_RATES) {
      if (r.khz > caps.maxLinkRateKhz) break;
      for (let lanes = 1; lanes <= caps.maxLanes; lanes <<= 1) {
        if (required > r.khz * lanes) continue;
        const [dataM, dataN] = computeMN(mode.pixelClockKhz * bpp, r.khz * lanes * 8, 0x8000000);
        const [linkM, linkN] = computeMN(mode.pixelClockKhz, r.khz, 0x80000);
        return { portClockKhz: r.khz, lanes, bwCode: r.bwCode, dpllCode: r.dpllCode, dataM, dataN, linkM, linkN };
      }
    }
    return null;
  }

  // ---------------------------------------------------------------- modeset

  /**
   * `hsw_crtc_enable` of `pipe` (transcoder = pipe) driving `port` in DP SST at `mode` over
   * `link`. Throws `Fail` (internal) when a PLL does not lock, the link does not train or the
   * pipe does not report enabled.
   */
  private enablePipe(pipe: number, port: number, mode: DisplayMode, link: LinkConfig, enhanced: boolean): void {
    const dpll = this.pickDpll(link);
    // Power wells: PW1 and misc I/O (pipe A, DDI), PW2 (pipes B, C), the port's DDI well
    // (`skl_power_well_enable`; each state bit follows its request at once).
    const wells = GBits.pwrWellReq(14) | GBits.pwrWellReq(0) | GBits.pwrWellReq(1 + port) | (pipe > 0 ? GBits.pwrWellReq(15) : 0);
    const pw = this.rd(GREG.HSW_PWR_WELL_CTL2);
    if ((pw & wells) !== wells) this.wr(GREG.HSW_PWR_WELL_CTL2, pw | wells);
    // skl_ddi_pll_enable: DPLL_CTRL1 (override, link rate), the PLL enable, wait for the lock (5 ms).
    const c1 = this.rd(GREG.DPLL_CTRL1) & ~GBits.dpllCtrl1Mask(dpll);
    this.wr(GREG.DPLL_CTRL1, c1 | GBits.dpllCtrl1Override(dpll) | GBits.dpllCtrl1LinkRate(link.dpllCode, dpll));
    this.rd(GREG.DPLL_CTRL1); // posting read
    this.wr(DPLL_ENABLE_REG[dpll], this.rd(DPLL_ENABLE_REG[dpll]) | GBits.PLL_ENABLE);
    if ((this.rd(GREG.DPLL_STATUS) & GBits.dpllLock(dpll)) === 0) throw new Fail('pll-lock', `DPLL${dpll} did not lock`);
    // skl_ddi_enable_clock: map the port to the DPLL, then ungate its clock.
    const c2 = this.rd(GREG.DPLL_CTRL2) & ~GBits.dpllCtrl2PortMask(port);
    this.wr(GREG.DPLL_CTRL2, c2 | GBits.dpllCtrl2ClkSel(dpll, port) | GBits.dpllCtrl2SelOverride(port) | GBits.dpllCtrl2ClkOff(port));
    this.wr(GREG.DPLL_CTRL2, c2 | GBits.dpllCtrl2ClkSel(dpll, port) | GBits.dpllCtrl2SelOverride(port));
    // intel_ddi_enable_pipe_clock.
    this.wr(GREG.transClkSel(pipe), GBits.transClkSelPort(port));
    // intel_dp_start_link_train (hsw_prepare_dp_ddi_buffers, intel_ddi_prepare_link_retrain).
    const tp = GBits.DP_TP_CTL_ENABLE | GBits.DP_TP_CTL_MODE_SST | (enhanced ? GBits.DP_TP_CTL_ENHANCED_FRAME_ENABLE : 0);
    this.wr(GREG.dpTpCtl(port), tp | GBits.DP_TP_CTL_LINK_TRAIN_PAT1);
    this.wr(GREG.ddiBufCtl(port), GBits.DDI_BUF_CTL_ENABLE | GBits.ddiPortWidth(link.lanes));
    if (!this.dpcdWrite(port, DPCD.LINK_BW_SET, [link.bwCode, link.lanes | (enhanced ? DPCD.LANE_COUNT_ENHANCED_FRAME_EN : 0)])) {
      throw new Fail('link-training', 'LINK_BW_SET / LANE_COUNT_SET refused');
    }
    // Clock recovery (pattern 1, scrambling off), then channel equalisation (pattern 2).
    if (!this.dpcdWrite(port, DPCD.TRAINING_PATTERN_SET, [1 | DPCD.LINK_SCRAMBLING_DISABLE])) throw new Fail('link-training', 'pattern 1 refused');
    const cr = this.dpcdRead(port, DPCD.LANE0_1_STATUS, 3);
    if (!cr || !lanesOk(cr, link.lanes, DPCD.LANE_CR_DONE)) throw new Fail('link-training', 'clock recovery failed');
    this.wr(GREG.dpTpCtl(port), tp | GBits.DP_TP_CTL_LINK_TRAIN_PAT2);
    if (!this.dpcdWrite(port, DPCD.TRAINING_PATTERN_SET, [2 | DPCD.LINK_SCRAMBLING_DISABLE])) throw new Fail('link-training', 'pattern 2 refused');
    const eq = this.dpcdRead(port, DPCD.LANE0_1_STATUS, 3);
    if (!eq || !lanesOk(eq, link.lanes, DPCD.LANE_EQ_DONE) || (eq[2] & DPCD.INTERLANE_ALIGN_DONE) === 0) throw new Fail('link-training', 'channel equalisation failed');
    if (!this.dpcdWrite(port, DPCD.TRAINING_PATTERN_SET, [0])) throw new Fail('link-training', 'training off refused');
    // intel_ddi_set_idle_link_train: idle patterns, wait for IDLE_DONE (1 ms).
    this.wr(GREG.dpTpCtl(port), tp | GBits.DP_TP_CTL_LINK_TRAIN_IDLE);
    if ((this.rd(GREG.dpTpStatus(port)) & GBits.DP_TP_STATUS_IDLE_DONE) === 0) throw new Fail('link-training', 'idle pattern not done');
    // intel_set_transcoder_timings, intel_set_pipe_src_size, intel_cpu_transcoder_set_m1_n1.
    const tb = GREG.trans(pipe);
    const pair = (lo: number, hi: number): number => ((hi - 1) << 16) | (lo - 1);
    const ht = hTotal(mode), vt = vTotal(mode);
    const hss = mode.width + mode.hFrontPorch, vss = mode.height + mode.vFrontPorch;
    this.wr(tb + TR.HTOTAL, pair(mode.width, ht));
    this.wr(tb + TR.HBLANK, pair(mode.width, ht));
    this.wr(tb + TR.HSYNC, pair(hss, hss + mode.hSync));
    this.wr(tb + TR.VTOTAL, pair(mode.height, vt));
    this.wr(tb + TR.VBLANK, pair(mode.height, vt));
    this.wr(tb + TR.VSYNC, pair(vss, vss + mode.vSync));
    this.wr(tb + TR.PIPESRC, ((mode.width - 1) << 16) | (mode.height - 1));
    this.wr(tb + TR.DATA_M1, GBits.TU_SIZE_64 | link.dataM);
    this.wr(tb + TR.DATA_N1, link.dataN);
    this.wr(tb + TR.LINK_M1, link.linkM);
    this.wr(tb + TR.LINK_N1, link.linkN);
    this.wr(tb + TR.MSA_MISC, GBits.MSA_SYNC_CLOCK_8BPC);
    // intel_ddi_enable_transcoder_func, then intel_enable_transcoder (wait for the state bit, 100 ms).
    this.wr(tb + TR.DDI_FUNC_CTL, GBits.TRANS_DDI_FUNC_ENABLE | GBits.transDdiSelectPort(port) | GBits.TRANS_DDI_MODE_SELECT_DP_SST | GBits.TRANS_DDI_BPC_8
      | (mode.vSyncPositive ? GBits.TRANS_DDI_PVSYNC : 0) | (mode.hSyncPositive ? GBits.TRANS_DDI_PHSYNC : 0) | GBits.transDdiPortWidth(link.lanes));
    this.wr(GREG.PIPECONF(pipe), GBits.PIPECONF_ENABLE);
    if ((this.rd(GREG.PIPECONF(pipe)) & GBits.PIPECONF_STATE_ENABLE) === 0) throw new Fail('pipe-state', `pipe ${'ABC'[pipe]} did not report enabled`);
    // intel_dp_stop_link_train: the normal pattern.
    this.wr(GREG.dpTpCtl(port), tp | GBits.DP_TP_CTL_LINK_TRAIN_NORMAL);
  }

  /**
   * The DPLL for `link` (i915 6.1 `skl_get_dpll` → `intel_find_shared_dpll` over DPLL1..3, DPLL0
   * being eDP's): an enabled one already at the link's rate is shared, else the first disabled
   * one; pipes at different link rates get DPLLs of their own. Throws `Fail` when none is left.
   */
  private pickDpll(link: LinkConfig): number {
    const c1 = this.rd(GREG.DPLL_CTRL1);
    let free = -1;
    for (let id = 1; id <= 3; id++) {
      const want = GBits.dpllCtrl1Override(id) | GBits.dpllCtrl1LinkRate(link.dpllCode, id);
      const on = (this.rd(DPLL_ENABLE_REG[id]) & GBits.PLL_ENABLE) !== 0;
      if (on && (c1 & GBits.dpllCtrl1Mask(id)) === want) return id;
      if (!on && free < 0) free = id;
    }
    if (free < 0) throw new Fail('pll-lock', 'no DPLL left for the link rate');
    return free;
  }

  /**
   * `skl_program_plane_noarm` + `skl_program_plane_arm` for plane 1 of `pipe` scanning out
   * `surface` at (0, 0): stride (64-byte units linear, 512-byte tiles X), position, size, colour
   * key off, offset 0, PLANE_CTL, PLANE_SURF last.
   */
  programPlane(pipe: number, surface: ScanoutSurface): void {
    const bad = surfaceProblem(surface);
    if (bad) throw new RangeArgError(bad);
    const pb = GREG.planeCtl(pipe, 0);
    const x = surface.tiling === 'x';
    this.wr(pb + PL.STRIDE, surface.stride / (x ? 512 : 64));
    this.wr(pb + PL.POS, 0);
    this.wr(pb + PL.SIZE, ((surface.height - 1) << 16) | (surface.width - 1));
    this.wr(pb + PL.KEYVAL, 0);
    this.wr(pb + PL.KEYMSK, 0);
    this.wr(pb + PL.KEYMAX, 0);
    this.wr(pb + PL.OFFSET, 0);
    this.wr(pb + PL.CTL, GBits.PLANE_CTL_ENABLE | GBits.PLANE_CTL_FORMAT_XRGB_8888 | GBits.PLANE_CTL_PLANE_GAMMA_DISABLE | (x ? GBits.PLANE_CTL_TILED_X : GBits.PLANE_CTL_TILED_LINEAR));
    this.wr(pb + PL.SURF, surface.gma);
  }

  /**
   * The DE pipe interrupts of `pipe` as i915 installs and turns on vblanks
   * (`gen8_de_irq_postinstall`: IIR cleared, vblank and flip dones of planes 1..3 enabled,
   * flip dones unmasked; `bdw_enable_vblank`: vblank unmasked).
   */
  enableVblank(pipe: number): void {
    const bits = GBits.GEN8_PIPE_VBLANK | GBits.planeFlipDone(0) | GBits.planeFlipDone(1) | GBits.planeFlipDone(2);
    this.wr(GREG.dePipeIir(pipe), 0xffffffff);
    this.wr(GREG.dePipeIer(pipe), bits);
    this.wr(GREG.dePipeImr(pipe), ~bits);
  }

  /**
   * Light a monitor: the first connected port (or `port`), its preferred mode on `pipe`
   * (default A), plane 1 on `surface` (which must be at least the mode's size), vblanks on.
   * A guest-visible failure returns `{ ok: false, reason }` and leaves what was programmed.
   */
  modeset(opts: { surface: (mode: DisplayMode) => ScanoutSurface; port?: number; pipe?: number }): ModesetResult {
    const pipe = opts.pipe ?? 0;
    try {
      const ports = this.detect();
      const port = opts.port ?? ports[0];
      if (port === undefined || !ports.includes(port)) throw new Fail('no-monitor', port === undefined ? 'no connected DP port' : `nothing connected on port ${'ABCDE'[port]}`);
      const monitor = this.probeOrFail(port);
      const link = this.computeLink(monitor.mode, monitor.caps);
      if (!link) throw new Fail('link-bandwidth', `${monitor.mode.width}x${monitor.mode.height} at ${monitor.mode.pixelClockKhz} kHz exceeds the link`);
      const surface = opts.surface(monitor.mode);
      const bad = surfaceProblem(surface);
      if (bad) throw new Fail('bad-surface', bad);
      if (surface.width < monitor.mode.width || surface.height < monitor.mode.height) throw new Fail('bad-surface', `surface ${surface.width}x${surface.height} is smaller than the mode`);
      this.enablePipe(pipe, port, monitor.mode, link, monitor.caps.enhancedFraming);
      this.programPlane(pipe, { ...surface, width: monitor.mode.width, height: monitor.mode.height });
      this.enableVblank(pipe);
      if (log.enabled) log('%s: pipe %s lit on port %s at %dx%d, %d kHz, %d lanes at %d kHz', this.name, 'ABC'[pipe], 'ABCDE'[port], monitor.mode.width, monitor.mode.height, monitor.mode.pixelClockKhz, link.lanes, link.portClockKhz);
      return { ok: true, monitor, pipe, link };
    } catch (e) {
      if (!(e instanceof Fail)) throw e;
      if (log.enabled) log('%s: modeset failed (%s): %s', this.name, e.reason, e.message);
      return { ok: false, reason: e.reason, message: e.message };
    }
  }

  // ---------------------------------------------------------------- flips and vblanks

  /** Flip plane 1 of `pipe` to `gma` now (a PLANE_SURF write; `skl_program_plane_arm`). */
  flip(pipe: number, gma: number): void {
    this.counters.flips++;
    this.queued[pipe] = -1;
    this.wr(GREG.planeCtl(pipe, 0) + PL.SURF, gma);
  }

  /** Flip plane 1 of `pipe` to `gma` at the next vblank interrupt (a later `queueFlip` replaces it). */
  queueFlip(pipe: number, gma: number): void {
    this.queued[pipe] = gma;
  }

  /** The surface plane 1 of `pipe` scans out (PLANE_SURFLIVE). */
  liveSurface(pipe: number): number {
    return this.rd(GREG.planeCtl(pipe, 0) + PL.SURFLIVE);
  }

  /** The pipe's frame counter (PIPE_FRMCOUNT_G4X). */
  frameCount(pipe: number): number {
    return this.rd(GREG.PIPE_FRMCOUNT(pipe));
  }

  /** Call `fn` at every vblank interrupt of `pipe` (null: none). */
  onVblank(pipe: number, fn: ((pipe: number) => void) | null): void {
    this.vblankHooks[pipe] = fn;
  }

  /**
   * The DE pipe IIR bits the interrupt handler acknowledged for `pipe`
   * (`gen8_de_pipe_irq_handler`): a vblank performs the queued flip and runs the hook; flip dones
   * are counted.
   */
  handlePipeIrq(pipe: number, iir: number): void {
    for (let plane = 0; plane < 3; plane++) if ((iir & GBits.planeFlipDone(plane)) !== 0) this.counters.flipsDone++;
    if ((iir & GBits.GEN8_PIPE_VBLANK) === 0) return;
    this.counters.vblanks++;
    const q = this.queued[pipe];
    if (q >= 0) this.flip(pipe, q);
    this.vblankHooks[pipe]?.(pipe);
  }
}

/** i915 `compute_m_n` with a constant N: M = m · N / n (floor), both reduced under 24 bits. */
function computeMN(m: number, n: number, constantN: number): [number, number] {
  let retM = Math.floor((m * constantN) / n), retN = constantN;
  while (retM > 0xffffff || retN > 0xffffff) {
    retM >>>= 1;
    retN >>>= 1;
  }
  return [retM, retN];
}

/** Every one of `lanes` lanes has `bits` in the DPCD lane status bytes (4 bits per lane). */
function lanesOk(status: readonly number[], lanes: number, bits: number): boolean {
  for (let l = 0; l < lanes; l++) if (((status[l >>> 1] >>> (4 * (l & 1))) & bits) !== bits) return false;
  return true;
}

/** Why `s` is not a plane-1 XRGB8888 scanout i915 would program (256 KiB aligned, stride in units), or null. */
function surfaceProblem(s: ScanoutSurface): string | null {
  const unit = s.tiling === 'x' ? 512 : 64;
  if (s.gma % (256 * 1024) !== 0 || s.stride % unit !== 0 || s.stride < s.width * 4 || !(s.width >= 1 && s.width <= 8192) || !(s.height >= 1 && s.height <= 8192)) {
    return `surface at 0x${s.gma.toString(16)} (${s.width}x${s.height}, stride ${s.stride}, ${s.tiling}) is not a valid XRGB8888 scanout`;
  }
  return null;
}
