/**
 * EDID of a virtual monitor, generated from its modes.
 *
 * GVT-g ships two fixed 128-byte blobs (Linux 6.1 `gvt/display.c` `virtual_dp_monitor_edid`):
 * 1024x768 (established timings only) and 1920x1200 (a CVT reduced-blanking detailed timing of
 * 154 MHz). gvtkit generates the EDID from the monitor's list of modes instead, so every mode gets
 * a correct detailed timing and every block a valid checksum; the 1920x1200 mode computed by
 * `cvtReducedBlanking` is GVT-g's detailed timing exactly.
 *
 * Layout (VESA E-EDID 1.4, CTA-861): a base block whose first detailed timing is the preferred
 * (native) mode, followed by a range-limits descriptor covering every mode, the monitor name and
 * a serial string; every further mode is a detailed timing in CTA-861 extension blocks (tag 0x02,
 * revision 3, no data blocks, six detailed timings per block). A guest reads blocks 2 and up
 * through the E-DDC segment pointer (`aux.ts` `DdcBus`, drm `drm_do_probe_ddc_edid`).
 *
 * Timings of a requested mode (`modeTiming`, the rule docs/display.md states): the VESA DMT
 * entry when DMT lists the size at 60 Hz (its reduced-blanking entry when it has both), else CVT
 * 1.2 reduced blanking v1, else CVT 1.2 reduced blanking v2 (a width that is not a multiple of 8,
 * or a v1 pixel clock beyond what a detailed timing holds).
 */
import { InternalError, RangeArgError } from '../errors.js';

/** A video mode with full timings (pixels and lines). */
export interface DisplayMode {
  readonly width: number;
  readonly height: number;
  /** Pixel clock in kHz (EDID stores it in units of 10 kHz). */
  readonly pixelClockKhz: number;
  readonly hFrontPorch: number;
  readonly hSync: number;
  readonly hBackPorch: number;
  readonly vFrontPorch: number;
  readonly vSync: number;
  readonly vBackPorch: number;
  readonly hSyncPositive: boolean;
  readonly vSyncPositive: boolean;
}

/** Total pixels per line. */
export function hTotal(m: DisplayMode): number { return m.width + m.hFrontPorch + m.hSync + m.hBackPorch; }
/** Total lines per frame. */
export function vTotal(m: DisplayMode): number { return m.height + m.vFrontPorch + m.vSync + m.vBackPorch; }
/** Refresh rate in Hz that the timings give (not rounded). */
export function refreshHz(m: DisplayMode): number { return (m.pixelClockKhz * 1000) / (hTotal(m) * vTotal(m)); }

/** Largest pixel clock a detailed timing holds: 16 bits of 10 kHz (655.35 MHz). */
export const MAX_DTD_PIXEL_CLOCK_KHZ = 655_350;
/** Largest active width or height a detailed timing holds (12 bits). */
export const MAX_DTD_ACTIVE = 4095;

/** One VESA DMT entry (DMT 1.0 r13, as drm transcribes it in `drm_edid.c` `drm_dmt_modes`). */
export interface DmtEntry {
  /** DMT ID. */
  readonly id: number;
  /** Nominal refresh rate (Hz). */
  readonly refresh: number;
  /** Reduced blanking (CVT-RB) entry. */
  readonly reducedBlanking: boolean;
  /** The timings; the pixel clock is DMT's, in kHz (640x480's 25.175 MHz is not a multiple of 10 kHz). */
  readonly mode: DisplayMode;
}

/** Row helper: active, start and end of sync, total (drm's DRM_MODE order), then polarities. */
function dmt(id: number, rb: boolean, clk: number, h: [number, number, number, number], v: [number, number, number, number], hPos: boolean, vPos: boolean): DmtEntry {
  return Object.freeze({
    id, refresh: 60, reducedBlanking: rb,
    mode: Object.freeze({
      width: h[0], height: v[0], pixelClockKhz: clk,
      hFrontPorch: h[1] - h[0], hSync: h[2] - h[1], hBackPorch: h[3] - h[2],
      vFrontPorch: v[1] - v[0], vSync: v[2] - v[1], vBackPorch: v[3] - v[2],
      hSyncPositive: hPos, vSyncPositive: vPos,
    }),
  });
}

/**
 * The 60 Hz progressive DMT entries whose size a detailed timing can hold (DMT 1.0 r13; values
 * from Linux 6.1 `drm_edid.c` `drm_dmt_modes`, which is what a guest's drm compares against).
 */
export const DMT_TABLE: readonly DmtEntry[] = Object.freeze([
  dmt(0x04, false, 25175, [640, 656, 752, 800], [480, 490, 492, 525], false, false),
  dmt(0x09, false, 40000, [800, 840, 968, 1056], [600, 601, 605, 628], true, true),
  dmt(0x10, false, 65000, [1024, 1048, 1184, 1344], [768, 771, 777, 806], false, false),
  dmt(0x55, false, 74250, [1280, 1390, 1430, 1650], [720, 725, 730, 750], true, true),
  dmt(0x1b, true, 71000, [1280, 1328, 1360, 1440], [800, 803, 809, 823], true, false),
  dmt(0x1c, false, 83500, [1280, 1352, 1480, 1680], [800, 803, 809, 831], false, true),
  dmt(0x20, false, 108000, [1280, 1376, 1488, 1800], [960, 961, 964, 1000], true, true),
  dmt(0x23, false, 108000, [1280, 1328, 1440, 1688], [1024, 1025, 1028, 1066], true, true),
  dmt(0x51, false, 85500, [1366, 1436, 1579, 1792], [768, 771, 774, 798], true, true),
  dmt(0x56, true, 72000, [1366, 1380, 1436, 1500], [768, 769, 772, 800], true, true),
  dmt(0x2e, true, 88750, [1440, 1488, 1520, 1600], [900, 903, 909, 926], true, false),
  dmt(0x2f, false, 106500, [1440, 1520, 1672, 1904], [900, 903, 909, 934], false, true),
  dmt(0x53, true, 108000, [1600, 1624, 1704, 1800], [900, 901, 904, 1000], true, true),
  dmt(0x33, false, 162000, [1600, 1664, 1856, 2160], [1200, 1201, 1204, 1250], true, true),
  dmt(0x39, true, 119000, [1680, 1728, 1760, 1840], [1050, 1053, 1059, 1080], true, false),
  dmt(0x3a, false, 146250, [1680, 1784, 1960, 2240], [1050, 1053, 1059, 1089], false, true),
  dmt(0x52, false, 148500, [1920, 2008, 2052, 2200], [1080, 1084, 1089, 1125], false, false),
  dmt(0x44, true, 154000, [1920, 1968, 2000, 2080], [1200, 1203, 1209, 1235], true, false),
  dmt(0x45, false, 193250, [1920, 2056, 2256, 2592], [1200, 1203, 1209, 1245], false, true),
  dmt(0x4c, true, 268500, [2560, 2608, 2640, 2720], [1600, 1603, 1609, 1646], true, false),
]);

/** The DMT modes at 10 kHz resolution (what a detailed timing stores), one per size: the reduced-blanking entry where DMT has two. */
export const DMT_MODES: readonly DisplayMode[] = Object.freeze((() => {
  const out: DisplayMode[] = [];
  for (const e of DMT_TABLE) {
    const i = out.findIndex((m) => m.width === e.mode.width && m.height === e.mode.height);
    const m = Object.freeze({ ...e.mode, pixelClockKhz: Math.round(e.mode.pixelClockKhz / 10) * 10 });
    if (i < 0) out.push(m);
    else if (e.reducedBlanking) out[i] = m;
  }
  return out;
})());

/** The DMT mode of `width`x`height` at `refresh` Hz (10 kHz clock), or undefined. */
export function dmtMode(width: number, height: number, refresh = 60): DisplayMode | undefined {
  if (refresh !== 60) return undefined;
  return DMT_MODES.find((m) => m.width === width && m.height === height);
}

/** CVT's vsync width by aspect ratio (v1): 4:3 → 4, 16:9 → 5, 16:10 → 6, 5:4 and 15:9 → 7, else 10. */
function cvtVsyncWidth(w: number, h: number): number {
  const is = (a: number, b: number): boolean => w * b === h * a;
  if (is(4, 3)) return 4;
  if (is(16, 9)) return 5;
  if (is(16, 10)) return 6;
  if (is(5, 4) || is(15, 9)) return 7;
  return 10;
}

function checkCvtArgs(what: string, width: number, height: number, refresh: number, widthStep: number): void {
  if (!(Number.isInteger(width) && width >= 64 && width <= 8192 && width % widthStep === 0)) {
    throw new RangeArgError(`${what} width ${width}: ${widthStep > 1 ? `a multiple of ${widthStep} in ` : 'an integer in '}64..8192`);
  }
  if (!(Number.isInteger(height) && height >= 64 && height <= 8192)) throw new RangeArgError(`${what} height ${height}: 64..8192`);
  if (!(refresh >= 10 && refresh <= 240)) throw new RangeArgError(`${what} refresh ${refresh}: 10..240 Hz`);
}

/** CVT's minimum vertical blanking time of reduced blanking (µs). */
const RB_MIN_V_BLANK_US = 460;

/** CVT's lines of vertical blanking for at least 460 µs at `refresh` (its H_PERIOD_EST, VBI_LINES). */
function cvtRbVbiLines(height: number, refresh: number): number {
  const hPeriodEstUs = (1_000_000 / refresh - RB_MIN_V_BLANK_US) / height;
  return Math.floor(RB_MIN_V_BLANK_US / hPeriodEstUs) + 1;
}

/**
 * A CVT 1.2 reduced-blanking v1 mode: 160-pixel horizontal blank (48 front porch, 32 sync),
 * 3-line vertical front porch, vsync width by aspect ratio, at least 460 µs of vertical blank
 * (and 6 lines of back porch), pixel clock rounded down to 250 kHz; +hsync, -vsync. The width
 * must be a multiple of CVT's 8-pixel cell.
 */
export function cvtReducedBlanking(width: number, height: number, refresh = 60): DisplayMode {
  checkCvtArgs('CVT', width, height, refresh, 8);
  const H_BLANK = 160, H_SYNC = 32, H_FRONT = 48, V_FRONT = 3, MIN_V_BPORCH = 6, CLOCK_STEP_KHZ = 250;
  const vSync = cvtVsyncWidth(width, height);
  const actVbi = Math.max(cvtRbVbiLines(height, refresh), V_FRONT + vSync + MIN_V_BPORCH);
  return reducedBlankingMode(width, height, refresh, H_BLANK, H_FRONT, H_SYNC, actVbi, V_FRONT, vSync, CLOCK_STEP_KHZ);
}

/**
 * The mode both reduced-blanking versions end with: `vbi` lines of vertical blank split into
 * `vFront` front porch, `vSync` sync and the rest back porch; the pixel clock for `refresh` over
 * the totals, rounded down to `clockStepKhz`; +hsync, -vsync.
 */
function reducedBlankingMode(
  width: number, height: number, refresh: number, hBlank: number, hFront: number, hSync: number,
  vbi: number, vFront: number, vSync: number, clockStepKhz: number,
): DisplayMode {
  const pixelClockKhz = clockStepKhz * Math.floor((refresh * (height + vbi) * (width + hBlank)) / 1000 / clockStepKhz);
  return Object.freeze({
    width, height, pixelClockKhz,
    hFrontPorch: hFront, hSync, hBackPorch: hBlank - hFront - hSync,
    vFrontPorch: vFront, vSync, vBackPorch: vbi - vFront - vSync,
    hSyncPositive: true, vSyncPositive: false,
  });
}

/**
 * A CVT 1.2 reduced-blanking v2 mode: 80-pixel horizontal blank (8 front porch, 32 sync, 40 back
 * porch), any width, 8-line vsync and 6-line back porch with the front porch taking the rest of
 * at least 460 µs of vertical blank; CVT's 1 kHz clock step becomes the detailed timing's 10 kHz
 * (rounded down, so the rate stays at or below the one asked); +hsync, -vsync.
 */
export function cvtReducedBlankingV2(width: number, height: number, refresh = 60): DisplayMode {
  checkCvtArgs('CVT-RB2', width, height, refresh, 1);
  const H_BLANK = 80, H_SYNC = 32, H_FRONT = 8, V_SYNC = 8, V_BPORCH = 6, MIN_V_FPORCH = 1, CLOCK_STEP_KHZ = 10;
  const actVbi = Math.max(cvtRbVbiLines(height, refresh), MIN_V_FPORCH + V_SYNC + V_BPORCH);
  // CVT rounds down to 1 kHz first; a second floor to 10 kHz gives the same as one floor to 10 kHz.
  return reducedBlankingMode(width, height, refresh, H_BLANK, H_FRONT, H_SYNC, actVbi, actVbi - V_SYNC - V_BPORCH, V_SYNC, CLOCK_STEP_KHZ);
}

/** Which formula gives a requested mode its timings. */
export type ModeTiming = 'auto' | 'dmt' | 'cvt-rb' | 'cvt-rb2';

/** A mode as a monitor lists it: size and refresh; the timings come from `modeTiming`. */
export interface ModeSpec {
  /** Active pixels per line: 64..4095 (a detailed timing's 12 bits). */
  readonly width: number;
  /** Active lines: 64..4095. */
  readonly height: number;
  /** Refresh rate in Hz, 24..240 (default 60). */
  readonly refresh?: number;
  /** The formula (default 'auto': DMT, else CVT-RB v1, else CVT-RB v2). */
  readonly timing?: ModeTiming;
}

/** Refresh rates a monitor's mode may ask (Hz): film's 24 up to the vblank emulation's 240. */
export const MIN_MODE_REFRESH = 24;
export const MAX_MODE_REFRESH = 240;

/**
 * Why `timings` cannot be a detailed timing, or '' when it can (the 12-bit active and blank, the
 * 10- and 6-bit porch and sync fields, the 16-bit pixel clock of 10 kHz).
 */
export function detailedTimingProblem(m: DisplayMode): string {
  const fields: [string, number, number][] = [
    ['width', m.width, MAX_DTD_ACTIVE], ['height', m.height, MAX_DTD_ACTIVE], ['hFrontPorch', m.hFrontPorch, 1023], ['hSync', m.hSync, 1023],
    ['vFrontPorch', m.vFrontPorch, 63], ['vSync', m.vSync, 63], ['pixelClockKhz', m.pixelClockKhz, MAX_DTD_PIXEL_CLOCK_KHZ],
  ];
  for (const [name, v, max] of fields) {
    if (!(Number.isInteger(v) && v >= 1 && v <= max)) return `${name} ${v}: an integer in 1..${max} for an EDID detailed timing`;
  }
  if (m.pixelClockKhz % 10 !== 0) return `pixelClockKhz ${m.pixelClockKhz}: EDID stores 10 kHz units`;
  const hBlank = hTotal(m) - m.width, vBlank = vTotal(m) - m.height;
  if (!(Number.isInteger(m.hBackPorch) && m.hBackPorch >= 0 && hBlank <= 4095)) return `horizontal blank ${hBlank}: 0..4095`;
  if (!(Number.isInteger(m.vBackPorch) && m.vBackPorch >= 0 && vBlank <= 4095)) return `vertical blank ${vBlank}: 0..4095`;
  return '';
}

/**
 * The timings of a requested mode, by the rule: 'auto' takes the DMT entry when DMT lists the
 * size at 60 Hz (the reduced-blanking one when there are two: 1920x1200 is GVT-g's 154 MHz),
 * else CVT-RB v1 when the width is a multiple of 8 and v1's timing fits a detailed timing, else
 * CVT-RB v2. An explicit `timing` uses that formula only. Throws `RangeArgError` (the message says
 * why) when the result is not a valid detailed timing or the request is out of range.
 */
export function modeTiming(spec: ModeSpec): DisplayMode {
  const { width, height } = spec;
  const refresh = spec.refresh ?? 60;
  const timing = spec.timing ?? 'auto';
  const what = `${width}x${height}@${refresh}`;
  if (!(Number.isInteger(width) && width >= 64 && width <= MAX_DTD_ACTIVE)) throw new RangeArgError(`mode ${what}: width an integer in 64..${MAX_DTD_ACTIVE} (a detailed timing's 12 bits)`);
  if (!(Number.isInteger(height) && height >= 64 && height <= MAX_DTD_ACTIVE)) throw new RangeArgError(`mode ${what}: height an integer in 64..${MAX_DTD_ACTIVE}`);
  if (typeof refresh !== 'number' || !(refresh >= MIN_MODE_REFRESH && refresh <= MAX_MODE_REFRESH)) {
    throw new RangeArgError(`mode ${what}: refresh in ${MIN_MODE_REFRESH}..${MAX_MODE_REFRESH} Hz`);
  }
  const candidates: DisplayMode[] = [];
  const fits = (m: DisplayMode): boolean => detailedTimingProblem(m) === '';
  if (timing === 'dmt' || timing === 'auto') {
    const d = dmtMode(width, height, refresh);
    if (d) candidates.push(d);
    else if (timing === 'dmt') throw new RangeArgError(`mode ${what}: DMT lists no such mode (its 60 Hz entries: ${DMT_MODES.map((m) => `${m.width}x${m.height}`).join(', ')})`);
  }
  if ((timing === 'cvt-rb' || timing === 'auto') && width % 8 === 0) candidates.push(cvtReducedBlanking(width, height, refresh));
  else if (timing === 'cvt-rb') throw new RangeArgError(`mode ${what}: CVT-RB v1 needs a width that is a multiple of 8 (use 'cvt-rb2')`);
  if (timing === 'cvt-rb2' || timing === 'auto') candidates.push(cvtReducedBlankingV2(width, height, refresh));
  const ok = candidates.find(fits);
  if (ok) return ok;
  const last = candidates[candidates.length - 1];
  throw new RangeArgError(`mode ${what}: no detailed timing (${timing}: ${detailedTimingProblem(last)}; pixel clock ${(last.pixelClockKhz / 1000).toFixed(2)} MHz, at most ${MAX_DTD_PIXEL_CLOCK_KHZ / 1000})`);
}

/**
 * The mode of GVT-g's virtual monitor for a type's resolution (`vgpu_types[].edid`): a DMT mode
 * when one exists at 60 Hz (1024x768), else CVT reduced blanking at 60 Hz (1920x1200: 154 MHz,
 * GVT-g's detailed timing). The same as `modeTiming({ width, height })` for every size DMT and
 * CVT-RB v1 agree on.
 */
export function monitorMode(width: number, height: number): DisplayMode {
  return dmtMode(width, height) ?? cvtReducedBlanking(width, height, 60);
}

/** What else goes into the EDID besides the modes. */
export interface EdidOptions {
  /** Monitor name descriptor (up to 13 printable ASCII characters; default 'gvtkit DP'). */
  name?: string;
  /** Serial string descriptor (up to 13 printable ASCII characters; default 'GVTKIT-0001'). */
  serial?: string;
  /**
   * Also list the established and standard timings (GVT-g's lists) that fit inside the preferred
   * mode, as GVT-g's EDIDs do (default true). False lists exactly the modes given.
   */
  legacyTimings?: boolean;
}

/** EDID 1.4 header. */
const HEADER = [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];
/** Established timings (bytes 35, 36) gvtkit may list: mode and bit (GVT-g lists 640x480, 800x600, 1024x768 at 60 Hz). */
const ESTABLISHED: readonly [number, number, number, number][] = [[640, 480, 35, 0x20], [800, 600, 35, 0x01], [1024, 768, 36, 0x08]];
/** Standard timings listed when they fit the preferred mode (GVT-g's 1920x1200 list), all 60 Hz. */
const STANDARD: readonly [number, number][] = [[1920, 1080], [1280, 720], [1280, 960], [1280, 1024], [1440, 900], [1600, 1200], [1680, 1050]];
/** Pixel pitch giving the physical size (mm per pixel): 1920x1200 is 52 x 32 cm, GVT-g's size. */
const MM_PER_PIXEL = 0.27;
/** Bytes of one EDID block. */
export const EDID_BLOCK = 128;
/** CTA-861 extension tag and the revision gvtkit writes. */
export const CTA_EXTENSION_TAG = 0x02;
export const CTA_REVISION = 3;
/** Detailed timings per CTA-861 extension without data blocks: (127 - 4) / 18. */
export const CTA_DTDS_PER_BLOCK = 6;

function ascii(text: string, what: string): number[] {
  if (typeof text !== 'string' || !/^[\x20-\x7e]{0,13}$/.test(text)) throw new RangeArgError(`EDID ${what} "${String(text)}": at most 13 printable ASCII characters`);
  const out = [...text].map((c) => c.charCodeAt(0));
  if (out.length < 13) out.push(0x0a);
  while (out.length < 13) out.push(0x20);
  return out;
}

function checkMode(m: DisplayMode): void {
  const problem = detailedTimingProblem(m);
  if (problem !== '') throw new RangeArgError(`mode ${problem}`);
}

/** The 18-byte detailed timing descriptor of `m`. */
export function detailedTiming(m: DisplayMode): number[] {
  checkMode(m);
  const clk = m.pixelClockKhz / 10;
  const hBlank = hTotal(m) - m.width, vBlank = vTotal(m) - m.height;
  const wMm = Math.round(m.width * MM_PER_PIXEL), hMm = Math.round(m.height * MM_PER_PIXEL);
  return [
    clk & 0xff, clk >>> 8,
    m.width & 0xff, hBlank & 0xff, ((m.width >>> 8) << 4) | (hBlank >>> 8),
    m.height & 0xff, vBlank & 0xff, ((m.height >>> 8) << 4) | (vBlank >>> 8),
    m.hFrontPorch & 0xff, m.hSync & 0xff, ((m.vFrontPorch & 0xf) << 4) | (m.vSync & 0xf),
    ((m.hFrontPorch >>> 8) << 6) | ((m.hSync >>> 8) << 4) | ((m.vFrontPorch >>> 4) << 2) | (m.vSync >>> 4),
    wMm & 0xff, hMm & 0xff, ((wMm >>> 8) << 4) | (hMm >>> 8),
    0, 0,
    // Digital separate sync (bits 4:3 = 11), vsync polarity bit 2, hsync polarity bit 1.
    0x18 | (m.vSyncPositive ? 0x04 : 0) | (m.hSyncPositive ? 0x02 : 0),
  ];
}

/** Decode an 18-byte detailed timing descriptor at `at` of `block` (null for a display descriptor). */
export function decodeDetailedTiming(block: Uint8Array, at: number): DisplayMode | null {
  const b = (i: number): number => block[at + i];
  const clk = b(0) | (b(1) << 8);
  if (clk === 0) return null;
  const width = b(2) | ((b(4) >>> 4) << 8), hBlank = b(3) | ((b(4) & 0xf) << 8);
  const height = b(5) | ((b(7) >>> 4) << 8), vBlank = b(6) | ((b(7) & 0xf) << 8);
  const hFrontPorch = b(8) | ((b(11) >>> 6) << 8), hSync = b(9) | (((b(11) >>> 4) & 3) << 8);
  const vFrontPorch = (b(10) >>> 4) | (((b(11) >>> 2) & 3) << 4), vSync = (b(10) & 0xf) | ((b(11) & 3) << 4);
  return {
    width, height, pixelClockKhz: clk * 10,
    hFrontPorch, hSync, hBackPorch: hBlank - hFrontPorch - hSync,
    vFrontPorch, vSync, vBackPorch: vBlank - vFrontPorch - vSync,
    hSyncPositive: (b(17) & 0x02) !== 0, vSyncPositive: (b(17) & 0x04) !== 0,
  };
}

/** True when the 128-byte block at `at` (default 0) of `bytes` sums to 0 mod 256. */
export function edidChecksumValid(bytes: Uint8Array, at = 0): boolean {
  if (bytes.length < at + EDID_BLOCK) return false;
  let sum = 0;
  for (let i = 0; i < EDID_BLOCK; i++) sum += bytes[at + i];
  return (sum & 0xff) === 0;
}

/** sRGB chromaticity (x, y of red, green, blue, white) as EDID's 10-bit fractions. */
function chromaticity(): number[] {
  const xy = [0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290].map((f) => Math.round(f * 1024) & 0x3ff);
  const lo = (i: number): number => xy[i] & 3;
  return [
    (lo(0) << 6) | (lo(1) << 4) | (lo(2) << 2) | lo(3),
    (lo(4) << 6) | (lo(5) << 4) | (lo(6) << 2) | lo(7),
    ...xy.map((v) => v >>> 2),
  ];
}

/** Append the checksum byte that makes the 127 bytes of `e` from `from` sum to 0 mod 256. */
function pushChecksum(e: number[], from: number): void {
  let sum = 0;
  for (let i = from; i < e.length; i++) sum += e[i];
  e.push((256 - (sum & 0xff)) & 0xff);
  if (e.length - from !== EDID_BLOCK) throw new InternalError(`EDID block is ${e.length - from} bytes`);
}

/** Number of CTA-861 extension blocks the EDID of `modes` modes has (the base block holds the first). */
export function edidExtensionCount(modes: number): number {
  return Math.ceil(Math.max(0, modes - 1) / CTA_DTDS_PER_BLOCK);
}

/**
 * The EDID of a monitor listing `modes` (one mode or a list, the preferred, native one first):
 * the EDID 1.4 base block (digital DisplayPort input at 8 bits per colour, sRGB, physical size at
 * 0.27 mm per pixel of the preferred mode, the preferred mode as the first detailed timing, a
 * range-limits descriptor containing every mode, name and serial descriptors, the extension
 * count, checksum), then one CTA-861 extension block per six further modes (tag 0x02, revision
 * 3, no data blocks, one native format, the detailed timings, zero padding, checksum).
 */
export function buildEdid(modes: DisplayMode | readonly DisplayMode[], options: EdidOptions = {}): Uint8Array {
  const list: readonly DisplayMode[] = Array.isArray(modes) ? modes : [modes as DisplayMode];
  if (list.length === 0) throw new RangeArgError('EDID: at least one mode');
  for (const m of list) checkMode(m);
  const mode = list[0];
  const extensions = edidExtensionCount(list.length);
  if (extensions > 254) throw new RangeArgError(`EDID: ${list.length} modes need ${extensions} extension blocks (at most 254)`);
  const e: number[] = [...HEADER];
  // Manufacturer "GKT" (three 5-bit letters, big-endian), product 1, serial number 0.
  const mfg = (('G'.charCodeAt(0) - 64) << 10) | (('K'.charCodeAt(0) - 64) << 5) | ('T'.charCodeAt(0) - 64);
  e.push(mfg >>> 8, mfg & 0xff, 0x01, 0x00, 0, 0, 0, 0);
  e.push(1, 2026 - 1990); // week 1 of 2026
  e.push(0x01, 0x04); // EDID 1.4
  const wCm = Math.round((mode.width * MM_PER_PIXEL) / 10), hCm = Math.round((mode.height * MM_PER_PIXEL) / 10);
  // Digital, 8 bits per colour (6:4 = 010), DisplayPort (3:0 = 0101); size in cm; gamma 2.2;
  // features: sRGB default colour space (bit 2), preferred timing is native (bit 1).
  e.push(0xa5, wCm & 0xff, hCm & 0xff, 0x78, 0x06);
  e.push(...chromaticity());
  const legacy = options.legacyTimings ?? true;
  const est = [0, 0];
  if (legacy) for (const [w, h, byte, bit] of ESTABLISHED) if (w <= mode.width && h <= mode.height) est[byte - 35] |= bit;
  e.push(est[0], est[1], 0x00);
  const std: number[] = [];
  for (const [w, h] of legacy ? STANDARD : []) {
    if (std.length >= 16 || w > mode.width || h > mode.height || (w === mode.width && h === mode.height)) continue;
    const aspect = w * 10 === h * 16 ? 0 : w * 3 === h * 4 ? 1 : w * 4 === h * 5 ? 2 : 3;
    std.push(w / 8 - 31, (aspect << 6) | (60 - 60));
  }
  while (std.length < 16) std.push(0x01, 0x01);
  e.push(...std);
  e.push(...detailedTiming(mode));
  e.push(...rangeLimits(list));
  e.push(0, 0, 0, 0xfc, 0, ...ascii(options.name ?? 'gvtkit DP', 'name'));
  e.push(0, 0, 0, 0xff, 0, ...ascii(options.serial ?? 'GVTKIT-0001', 'serial'));
  e.push(extensions);
  pushChecksum(e, 0);
  for (let x = 0; x < extensions; x++) {
    const from = e.length;
    // CTA-861 header: tag, revision, offset of the detailed timings (4: no data block
    // collection), flags (no underscan, no basic audio, RGB only) and one native format.
    e.push(CTA_EXTENSION_TAG, CTA_REVISION, 4, 0x01);
    const first = 1 + x * CTA_DTDS_PER_BLOCK;
    for (const m of list.slice(first, first + CTA_DTDS_PER_BLOCK)) e.push(...detailedTiming(m));
    while (e.length - from < EDID_BLOCK - 1) e.push(0);
    pushChecksum(e, from);
  }
  return Uint8Array.from(e);
}

/**
 * The range-limits descriptor (tag 0xfd) containing every mode: vertical rate from 24 Hz (or the
 * lowest mode's) to 60 Hz (or the highest's), horizontal rate from 24 kHz to 80 kHz likewise
 * widened, the largest pixel clock rounded up to 10 MHz, "range limits only"; a maximum line
 * rate above 255 kHz uses EDID 1.4's +255 offset (byte 4 bit 3).
 */
function rangeLimits(modes: readonly DisplayMode[]): number[] {
  let vMin = 24, vMax = 60, hMin = 24, hMax = 80, clkMax = 0;
  for (const m of modes) {
    const v = refreshHz(m), h = m.pixelClockKhz / hTotal(m);
    vMin = Math.min(vMin, Math.max(1, Math.floor(v)));
    vMax = Math.max(vMax, Math.ceil(v));
    hMin = Math.min(hMin, Math.max(1, Math.floor(h)));
    hMax = Math.max(hMax, Math.ceil(h));
    clkMax = Math.max(clkMax, Math.ceil(m.pixelClockKhz / 10_000));
  }
  let offsets = 0;
  if (hMax > 255) {
    offsets |= 0x08;
    hMax -= 255;
  }
  if (vMax > 255 || hMax > 255 || clkMax > 255) throw new InternalError(`range limits out of reach: ${vMax} Hz, ${hMax} kHz, ${clkMax}0 MHz`);
  return [0, 0, 0, 0xfd, offsets, vMin, vMax, hMin, hMax, clkMax, 0x01, 0x0a, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20];
}

/** An EDID read back: its blocks checked and its detailed timings in order. */
export interface DecodedEdid {
  /** Blocks in the bytes (base and extensions present). */
  readonly blocks: number;
  /** The extension count the base block announces. */
  readonly extensionCount: number;
  /** Each block's checksum verdict. */
  readonly checksums: readonly boolean[];
  /** Tag of each extension block (0x02 for CTA-861). */
  readonly extensionTags: readonly number[];
  /** The detailed timings: the base block's, then each CTA-861 extension's, in order. */
  readonly modes: readonly DisplayMode[];
  /** Monitor name and serial string descriptors ('' when absent). */
  readonly name: string;
  readonly serial: string;
  /** Established timings bytes 35, 36 and the standard timing codes that are not unused. */
  readonly establishedTimings: number;
  readonly standardTimings: number;
}

function descriptorText(block: Uint8Array, at: number): string {
  let s = '';
  for (let i = 5; i < 18; i++) {
    const c = block[at + i];
    if (c === 0x0a) break;
    s += String.fromCharCode(c);
  }
  return s.trimEnd();
}

/**
 * Decode an EDID (a base block and any extension blocks after it): checksums, the detailed
 * timings of the base block and of CTA-861 extensions (as drm walks them:
 * `drm_for_each_detailed_block`, `cea_for_each_detailed_block`), name and serial strings.
 */
export function decodeEdid(bytes: Uint8Array): DecodedEdid {
  if (bytes.length < EDID_BLOCK) throw new RangeArgError(`EDID of ${bytes.length} bytes: at least one 128-byte block`);
  const blocks = Math.floor(bytes.length / EDID_BLOCK);
  const checksums: boolean[] = [];
  for (let b = 0; b < blocks; b++) checksums.push(edidChecksumValid(bytes, b * EDID_BLOCK));
  const modes: DisplayMode[] = [];
  let name = '', serial = '';
  for (let d = 0; d < 4; d++) {
    const at = 54 + 18 * d;
    const m = decodeDetailedTiming(bytes, at);
    if (m) modes.push(m);
    else if (bytes[at + 3] === 0xfc) name = descriptorText(bytes, at);
    else if (bytes[at + 3] === 0xff) serial = descriptorText(bytes, at);
  }
  const extensionTags: number[] = [];
  for (let b = 1; b < blocks; b++) {
    const base = b * EDID_BLOCK;
    const tag = bytes[base];
    extensionTags.push(tag);
    if (tag !== CTA_EXTENSION_TAG) continue;
    const d = bytes[base + 2];
    if (d < 4 || d > 127) continue;
    const n = Math.floor((127 - d) / 18);
    for (let i = 0; i < n; i++) {
      const m = decodeDetailedTiming(bytes, base + d + 18 * i);
      if (m) modes.push(m);
    }
  }
  let standardTimings = 0;
  for (let i = 38; i < 54; i += 2) if (!(bytes[i] === 0x01 && bytes[i + 1] === 0x01)) standardTimings++;
  return {
    blocks, extensionCount: bytes[126], checksums, extensionTags, modes, name, serial,
    establishedTimings: (bytes[35] << 8) | bytes[36], standardTimings,
  };
}
