/**
 * EDID for the virtual monitor, generated from its mode.
 *
 * GVT-g ships two fixed 128-byte blobs (Linux v7.0 `gvt/display.c` `virtual_dp_monitor_edid`):
 * 1024x768 (established timings only) and 1920x1200 (a CVT reduced-blanking detailed timing of
 * 154 MHz). gvtkit generates the base block from a `DisplayMode` instead, so every mode gets a
 * correct preferred detailed timing and a valid checksum; the 1920x1200 mode computed by
 * `cvtReducedBlanking` is GVT-g's detailed timing exactly. Layout: VESA E-EDID 1.4 base block.
 * Issue 16 grows this into any mode and extension blocks (`blocks` is already a list).
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

/** VESA DMT modes gvtkit knows by name (DMT 1.0 r13). */
export const DMT_MODES: readonly DisplayMode[] = Object.freeze([
  // 1024x768 @ 60 Hz (DMT ID 10h): 65 MHz, -hsync -vsync.
  Object.freeze({ width: 1024, height: 768, pixelClockKhz: 65000, hFrontPorch: 24, hSync: 136, hBackPorch: 160, vFrontPorch: 3, vSync: 6, vBackPorch: 29, hSyncPositive: false, vSyncPositive: false }),
]);

/**
 * A CVT 1.1 reduced-blanking (v1) mode: 160-pixel horizontal blank (48 front porch, 32 sync),
 * 3-line vertical front porch, vsync width by aspect ratio, at least 460 µs of vertical blank,
 * pixel clock in 250 kHz steps; +hsync, -vsync.
 */
export function cvtReducedBlanking(width: number, height: number, refresh = 60): DisplayMode {
  if (!(Number.isInteger(width) && width >= 64 && width <= 8192 && width % 8 === 0)) throw new RangeArgError(`CVT width ${width}: a multiple of 8 in 64..8192`);
  if (!(Number.isInteger(height) && height >= 64 && height <= 8192)) throw new RangeArgError(`CVT height ${height}: 64..8192`);
  if (!(refresh >= 10 && refresh <= 240)) throw new RangeArgError(`CVT refresh ${refresh}: 10..240 Hz`);
  const H_BLANK = 160, H_SYNC = 32, H_FRONT = 48, V_FRONT = 3, MIN_V_BPORCH = 6, MIN_V_BLANK_US = 460, CLOCK_STEP_KHZ = 250;
  const vSync = cvtVsyncWidth(width, height);
  const hPeriodEstUs = (1_000_000 / refresh - MIN_V_BLANK_US) / height;
  const vbiLines = Math.floor(MIN_V_BLANK_US / hPeriodEstUs) + 1;
  const actVbi = Math.max(vbiLines, V_FRONT + vSync + MIN_V_BPORCH);
  const totalLines = height + actVbi;
  const totalPixels = width + H_BLANK;
  const pixelClockKhz = CLOCK_STEP_KHZ * Math.floor((refresh * totalLines * totalPixels) / 1000 / CLOCK_STEP_KHZ);
  return Object.freeze({
    width, height, pixelClockKhz,
    hFrontPorch: H_FRONT, hSync: H_SYNC, hBackPorch: H_BLANK - H_FRONT - H_SYNC,
    vFrontPorch: V_FRONT, vSync, vBackPorch: actVbi - V_FRONT - vSync,
    hSyncPositive: true, vSyncPositive: false,
  });
}

/** CVT's vsync width by aspect ratio: 4:3 → 4, 16:9 → 5, 16:10 → 6, 5:4 and 15:9 → 7, else 10. */
function cvtVsyncWidth(w: number, h: number): number {
  const is = (a: number, b: number): boolean => w * b === h * a;
  if (is(4, 3)) return 4;
  if (is(16, 9)) return 5;
  if (is(16, 10)) return 6;
  if (is(5, 4) || is(15, 9)) return 7;
  return 10;
}

/**
 * The mode of GVT-g's virtual monitor for a type's resolution (`vgpu_types[].edid`): a DMT mode
 * when one exists at 60 Hz (1024x768), else CVT reduced blanking at 60 Hz (1920x1200: 154 MHz,
 * GVT-g's detailed timing).
 */
export function monitorMode(width: number, height: number): DisplayMode {
  return DMT_MODES.find((m) => m.width === width && m.height === height) ?? cvtReducedBlanking(width, height, 60);
}

/** What else goes into the EDID besides the mode. */
export interface EdidOptions {
  /** Monitor name descriptor (up to 13 ASCII characters). */
  name?: string;
  /** Serial string descriptor (up to 13 ASCII characters). */
  serial?: string;
}

/** EDID 1.4 header. */
const HEADER = [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];
/** Established timings (bytes 35, 36) gvtkit may list: mode and bit (GVT-g lists 640x480, 800x600, 1024x768 at 60 Hz). */
const ESTABLISHED: readonly [number, number, number, number][] = [[640, 480, 35, 0x20], [800, 600, 35, 0x01], [1024, 768, 36, 0x08]];
/** Standard timings listed when they fit the preferred mode (GVT-g's 1920x1200 list), all 60 Hz. */
const STANDARD: readonly [number, number][] = [[1920, 1080], [1280, 720], [1280, 960], [1280, 1024], [1440, 900], [1600, 1200], [1680, 1050]];
/** Pixel pitch giving the physical size (mm per pixel): 1920x1200 is 52 x 32 cm, GVT-g's size. */
const MM_PER_PIXEL = 0.27;

function ascii(text: string, what: string): number[] {
  if (!/^[\x20-\x7e]{0,13}$/.test(text)) throw new RangeArgError(`EDID ${what} "${text}": at most 13 printable ASCII characters`);
  const out = [...text].map((c) => c.charCodeAt(0));
  if (out.length < 13) out.push(0x0a);
  while (out.length < 13) out.push(0x20);
  return out;
}

function checkMode(m: DisplayMode): void {
  const fields: [string, number, number][] = [
    ['width', m.width, 4095], ['height', m.height, 4095], ['hFrontPorch', m.hFrontPorch, 1023], ['hSync', m.hSync, 1023],
    ['vFrontPorch', m.vFrontPorch, 63], ['vSync', m.vSync, 63], ['pixelClockKhz', m.pixelClockKhz, 655350],
  ];
  for (const [name, v, max] of fields) {
    if (!(Number.isInteger(v) && v >= 1 && v <= max)) throw new RangeArgError(`mode ${name} ${v}: an integer in 1..${max} for an EDID detailed timing`);
  }
  if (m.pixelClockKhz % 10 !== 0) throw new RangeArgError(`mode pixelClockKhz ${m.pixelClockKhz}: EDID stores 10 kHz units`);
  const hBlank = hTotal(m) - m.width, vBlank = vTotal(m) - m.height;
  if (!(Number.isInteger(m.hBackPorch) && m.hBackPorch >= 0 && hBlank <= 4095)) throw new RangeArgError(`mode horizontal blank ${hBlank}: 0..4095`);
  if (!(Number.isInteger(m.vBackPorch) && m.vBackPorch >= 0 && vBlank <= 4095)) throw new RangeArgError(`mode vertical blank ${vBlank}: 0..4095`);
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

/** True when the 128-byte block's bytes sum to 0 mod 256. */
export function edidChecksumValid(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < 128; i++) sum += block[i];
  return block.length >= 128 && (sum & 0xff) === 0;
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

/**
 * The EDID base block (128 bytes) of a monitor whose preferred (native) mode is `mode`: EDID
 * 1.4, digital DisplayPort input at 8 bits per colour, sRGB, the mode as the first detailed
 * timing, a range-limits descriptor that contains it, name and serial descriptors, the
 * established and standard timings that fit inside it, no extension, checksum last.
 */
export function buildEdid(mode: DisplayMode, options: EdidOptions = {}): Uint8Array {
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
  const est = [0, 0];
  for (const [w, h, byte, bit] of ESTABLISHED) if (w <= mode.width && h <= mode.height) est[byte - 35] |= bit;
  e.push(est[0], est[1], 0x00);
  const std: number[] = [];
  for (const [w, h] of STANDARD) {
    if (std.length >= 16 || w > mode.width || h > mode.height || (w === mode.width && h === mode.height)) continue;
    const aspect = w * 10 === h * 16 ? 0 : w * 3 === h * 4 ? 1 : w * 4 === h * 5 ? 2 : 3;
    std.push(w / 8 - 31, (aspect << 6) | (60 - 60));
  }
  while (std.length < 16) std.push(0x01, 0x01);
  e.push(...std);
  e.push(...detailedTiming(mode));
  // Range limits: vertical 24 Hz .. refresh, horizontal 24 kHz .. the mode's line rate, maximum
  // pixel clock rounded up to 10 MHz; "range limits only" (no GTF/CVT formula).
  const vMax = Math.max(60, Math.ceil(refreshHz(mode)));
  const hMaxKhz = Math.max(80, Math.ceil(mode.pixelClockKhz / hTotal(mode)));
  const clkMax = Math.ceil(mode.pixelClockKhz / 10_000);
  if (vMax > 255 || hMaxKhz > 255 || clkMax > 255) throw new RangeArgError(`mode ${mode.width}x${mode.height} exceeds the base block's range limits (issue 16: extension blocks)`);
  e.push(0, 0, 0, 0xfd, 0, 24, vMax, 24, hMaxKhz, clkMax, 0x01, 0x0a, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20);
  e.push(0, 0, 0, 0xfc, 0, ...ascii(options.name ?? 'gvtkit DP', 'name'));
  e.push(0, 0, 0, 0xff, 0, ...ascii(options.serial ?? 'GVTKIT-0001', 'serial'));
  e.push(0x00); // extension blocks
  let sum = 0;
  for (const v of e) sum += v;
  e.push((256 - (sum & 0xff)) & 0xff);
  if (e.length !== 128) throw new InternalError(`EDID base block is ${e.length} bytes`);
  return Uint8Array.from(e);
}
