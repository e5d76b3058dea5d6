/**
 * Plane decode and framebuffer read-out (GVT-g Linux 6.1 `gvt/fb_decoder.c`, `gvt/dmabuf.c`),
 * driven as a guest drives them: the pipe, the plane registers and the cursor written through
 * the vGPU's MMIO, the surface's GGTT entries through BAR0's GTT window (to scattered guest
 * frames), the pixels stored into guest RAM in each tiling's layout. The tiled layouts here are
 * reference functions written from the layouts' descriptions (X: 512-byte × 8-row tiles with
 * contiguous rows; Y: 128-byte × 32-row tiles of 16-byte columns; Yf at 16/32 bpp: 4 KiB tiles
 * of 64-byte blocks of 16 bytes × 4 rows, interleaved x/y), independent of lib/display's
 * bit-deposit tables.
 */
import t from 'tap';
import fc from 'fast-check';
import { decode as fastPngDecode } from 'fast-png';
import { Gen9Device } from '../lib/device/device.js';
import { SparseGuestMemory } from '../lib/ept/memory.js';
import { Mediator } from '../lib/mediator/mediator.js';
import { BAR0_GTT_OFFSET, type Vgpu } from '../lib/mediator/vgpu.js';
import { PTE_PRESENT, pteHi, pteLo } from '../lib/gtt/pte.js';
import { RangeArgError, StateError } from '../lib/errors.js';
import {
  DREG, DrmPlaneType, HOTSPOT_INVALID, TRANS, curcntr, decodePng, encodePng, pipeconf, planeCtl, scanSpan, tiledOffset, transcoderBase,
  type PlaneInfo, type PlaneTiling,
} from '../lib/display/index.js';

const MiB = 1024 * 1024;
const PAGE = 4096;
const GUEST_RAM = 64 * MiB;

function world(): Mediator {
  return new Mediator(new Gen9Device({ apertureSize: 1024 * MiB, hostMemorySize: 1024 * MiB }));
}

function vgpu(m: Mediator, name: string): Vgpu {
  return m.createVgpu({ type: 'GVTg_V5_8', name, memory: new SparseGuestMemory(GUEST_RAM) });
}

const wr = (v: Vgpu, o: number, x: number): void => v.mmioWrite(o, 4, x >>> 0);

/** A small deterministic generator (xorshift32). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

const fourcc = (s: string): number => (s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24)) >>> 0;
const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

// ------------------------------------------------------------------ reference layouts (from the descriptions)

const TILE = { linear: { w: 1, h: 1 }, X: { w: 512, h: 8 }, Y: { w: 128, h: 32 }, Yf: { w: 128, h: 32 } } as const;

/** In a Yf tile at 16/32 bpp: 16-byte × 4-row blocks (64 B); 2 of them stacked (y bit 2), then pairs side by side (x bit 4), and so on, alternating. */
function yfInTile(xb: number, y: number): number {
  return (xb & 15) + (y & 3) * 16 + ((y >> 2) & 1) * 64 + ((xb >> 4) & 1) * 128 + ((y >> 3) & 1) * 256
    + ((xb >> 5) & 1) * 512 + ((y >> 4) & 1) * 1024 + ((xb >> 6) & 1) * 2048;
}

/** Byte offset of byte column `xb` of line `y` in a surface of `stride` bytes per line. */
function refOffset(tiling: PlaneTiling, stride: number, xb: number, y: number): number {
  if (tiling === 'linear') return y * stride + xb;
  const { w, h } = TILE[tiling];
  const tileBase = Math.floor(y / h) * stride * h + Math.floor(xb / w) * PAGE;
  const tx = xb % w, ty = y % h;
  if (tiling === 'X') return tileBase + ty * 512 + tx;
  if (tiling === 'Y') return tileBase + Math.floor(tx / 16) * 512 + ty * 16 + (tx % 16);
  return tileBase + yfInTile(tx, ty);
}

// ------------------------------------------------------------------ reference pixel conversion (from drm_fourcc.h)

interface Fmt { name: string; code: string; ctl: number; cpp: number }
const FORMATS: Fmt[] = [
  { name: 'XRGB8888', code: 'XR24', ctl: 4 << 24, cpp: 4 },
  { name: 'XBGR8888', code: 'XB24', ctl: (4 << 24) | (1 << 20), cpp: 4 },
  { name: 'ARGB8888', code: 'AR24', ctl: (4 << 24) | (2 << 4), cpp: 4 },
  { name: 'ABGR8888', code: 'AB24', ctl: (4 << 24) | (1 << 20) | (3 << 4), cpp: 4 },
  { name: 'RGB565', code: 'RG16', ctl: 14 << 24, cpp: 2 },
  { name: 'XRGB2101010', code: 'XR30', ctl: 2 << 24, cpp: 4 },
  { name: 'XBGR2101010', code: 'XB30', ctl: (2 << 24) | (1 << 20), cpp: 4 },
  { name: 'YUYV', code: 'YUYV', ctl: (0 << 24) | (0 << 16), cpp: 2 },
  { name: 'UYVY', code: 'UYVY', ctl: (0 << 24) | (1 << 16), cpp: 2 },
  { name: 'YVYU', code: 'YVYU', ctl: (0 << 24) | (2 << 16), cpp: 2 },
  { name: 'VYUY', code: 'VYUY', ctl: (0 << 24) | (3 << 16), cpp: 2 },
];

const clamp = (v: number): number => Math.min(255, Math.max(0, Math.round(v)));

/**
 * Expected RGBA of pixel (x, y): its bytes read from the reference surface `surf` through
 * `refOffset`. YUV returns the exact float BT.601 result (the read-out's integer version may
 * differ by one or two).
 */
function expectedPixel(f: Fmt, surf: Uint8Array, tiling: PlaneTiling, stride: number, x: number, y: number): [number, number, number, number] {
  const byte = (xb: number): number => surf[refOffset(tiling, stride, xb, y)];
  const le32 = (xb: number): number => (byte(xb) | (byte(xb + 1) << 8) | (byte(xb + 2) << 16) | (byte(xb + 3) << 24)) >>> 0;
  const xb = x * f.cpp;
  switch (f.name) {
    case 'XRGB8888': { const w = le32(xb); return [(w >>> 16) & 255, (w >>> 8) & 255, w & 255, 255]; }
    case 'ARGB8888': { const w = le32(xb); return [(w >>> 16) & 255, (w >>> 8) & 255, w & 255, w >>> 24]; }
    case 'XBGR8888': { const w = le32(xb); return [w & 255, (w >>> 8) & 255, (w >>> 16) & 255, 255]; }
    case 'ABGR8888': { const w = le32(xb); return [w & 255, (w >>> 8) & 255, (w >>> 16) & 255, w >>> 24]; }
    case 'XRGB2101010': { const w = le32(xb); return [((w >>> 20) & 1023) >> 2, ((w >>> 10) & 1023) >> 2, (w & 1023) >> 2, 255]; }
    case 'XBGR2101010': { const w = le32(xb); return [(w & 1023) >> 2, ((w >>> 10) & 1023) >> 2, ((w >>> 20) & 1023) >> 2, 255]; }
    case 'RGB565': {
      const v = byte(xb) | (byte(xb + 1) << 8);
      const r = v >> 11, g = (v >> 5) & 63, b = v & 31;
      return [(r << 3) | (r >> 2), (g << 2) | (g >> 4), (b << 3) | (b >> 2), 255];
    }
    default: {
      // Macropixel bytes in memory order: YUYV = Y0 U Y1 V, YVYU = Y0 V Y1 U, UYVY = U Y0 V Y1, VYUY = V Y0 U Y1.
      const m = (x & ~1) * 2, b = [byte(m), byte(m + 1), byte(m + 2), byte(m + 3)];
      const odd = (x & 1) === 1;
      const [Y, U, V] = f.name === 'YUYV' ? [odd ? b[2] : b[0], b[1], b[3]]
        : f.name === 'YVYU' ? [odd ? b[2] : b[0], b[3], b[1]]
          : f.name === 'UYVY' ? [odd ? b[3] : b[1], b[0], b[2]]
            : [odd ? b[3] : b[1], b[2], b[0]];
      const c = 1.164 * (Y - 16), d = U - 128, e = V - 128;
      return [clamp(c + 1.596 * e), clamp(c - 0.391 * d - 0.813 * e), clamp(c + 2.018 * d), 255];
    }
  }
}

// ------------------------------------------------------------------ the guest's side

/** i915's modeset as far as the decoder looks: the pipe's source size, PIPECONF enable. */
function lightPipe(v: Vgpu, pipe: number, width: number, height: number): void {
  wr(v, transcoderBase(pipe) + TRANS.PIPESRC, ((width - 1) << 16) | (height - 1));
  wr(v, pipeconf(pipe), 1 << 31);
}

/** Guest frames for `pages` pages, scattered (descending from `first`). */
const scattered = (first: number, pages: number): number[] => Array.from({ length: pages }, (_, i) => first + 3 * (pages - 1 - i));

/** GGTT entries for graphics memory at `gma`, one per guest frame (-1: an entry written not present), through the GTT window. */
function mapGtt(v: Vgpu, gma: number, gfns: number[]): void {
  gfns.forEach((gfn, i) => {
    const at = BAR0_GTT_OFFSET + (gma / PAGE + i) * 8;
    if (gfn < 0) v.mmioWrite64(at, 0, 0);
    else v.mmioWrite64(at, pteLo(gfn, PTE_PRESENT), pteHi(gfn));
  });
}

/** The guest's CPU stores the surface into its RAM, page by page, at the frames `gfns`. */
function storeSurface(v: Vgpu, surf: Uint8Array, gfns: number[]): void {
  gfns.forEach((gfn, i) => {
    if (gfn >= 0 && gfn * PAGE < GUEST_RAM) v.guestWrite(gfn * PAGE, surf.subarray(i * PAGE, (i + 1) * PAGE));
  });
}

function randomSurface(bytes: number, seed: number): Uint8Array {
  const next = rng(seed), surf = new Uint8Array(roundUp(bytes, PAGE));
  for (let i = 0; i < surf.length; i++) surf[i] = next() & 0xff;
  return surf;
}

interface Programmed { gma: number; stride: number; surf: Uint8Array; gfns: number[] }

const TILING_FIELD: Record<PlaneTiling, number> = { linear: 0, X: 1, Y: 4, Yf: 5 };
const STRIDE_UNIT: Record<PlaneTiling, number> = { linear: 64, X: 512, Y: 128, Yf: 128 };

/** Program plane 1 of `pipe` as i915's `skl_program_plane` does (stride, offset, control, surface last), with a random surface behind it. */
function programPrimary(v: Vgpu, pipe: number, f: Fmt, tiling: PlaneTiling, o: { width: number; height: number; xOff?: number; yOff?: number; gma?: number; seed?: number; extraStride?: number }): Programmed {
  const xOff = o.xOff ?? 0, yOff = o.yOff ?? 0;
  const unit = STRIDE_UNIT[tiling];
  const stride = roundUp((xOff + o.width) * f.cpp, unit) + (o.extraStride ?? 0) * unit;
  const rows = roundUp(yOff + o.height, TILE[tiling].h);
  const surf = randomSurface(stride * rows, o.seed ?? 1);
  const gma = o.gma ?? v.slices.lowBase + 32 * PAGE;
  const gfns = scattered(0x2000 + pipe * 0x800, surf.length / PAGE);
  mapGtt(v, gma, gfns);
  storeSurface(v, surf, gfns);
  const base = planeCtl(pipe, 0);
  wr(v, base + 0x08, stride / unit);
  wr(v, base + 0x24, (yOff << 16) | xOff);
  wr(v, base + 0x00, (1 << 31) | f.ctl | (TILING_FIELD[tiling] << 10));
  wr(v, base + 0x1c, gma);
  return { gma, stride, surf, gfns };
}

function expectedImage(f: Fmt, p: Programmed, tiling: PlaneTiling, width: number, height: number, xOff = 0, yOff = 0): Uint8Array {
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) out.set(expectedPixel(f, p.surf, tiling, p.stride, xOff + x, yOff + y), (y * width + x) * 4);
  }
  return out;
}

/** Index of the first byte where `a` and `b` differ by more than `tol`, or -1. */
function firstDiff(a: Uint8Array, b: Uint8Array, tol = 0): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > tol) return i;
  return -1;
}

// ------------------------------------------------------------------ tests

t.test('every format GVT-g decodes, in every tiling, reads back as the pattern the guest stored', async (t) => {
  const m = world();
  const v = vgpu(m, 'fb');
  const width = 200, height = 40;
  lightPipe(v, 0, width, height);
  let seed = 7;
  for (const f of FORMATS) {
    for (const tiling of ['linear', 'X', 'Y', 'Yf'] as PlaneTiling[]) {
      const p = programPrimary(v, 0, f, tiling, { width, height, seed: seed++, extraStride: 1 });
      const r = v.readFramebuffer('primary', 'A');
      if (!r.ok) {
        t.fail(`${f.name} ${tiling}: ${r.reason} ${r.detail}`);
        continue;
      }
      const tol = f.ctl >>> 24 === 0 ? 2 : 0; // YUV: the read-out's integer BT.601 against the exact one
      const at = firstDiff(r.rgba, expectedImage(f, p, tiling, width, height), tol);
      t.equal(at, -1, `${f.name} ${tiling}: pixels match the reference layout${at >= 0 ? ` (first difference at pixel ${at >> 2})` : ''}`);
      t.equal(r.info.drmFormat, fourcc(f.code), `${f.name} ${tiling}: fourcc ${f.code}`);
    }
  }
});

t.test('YUV 4:2:2 with PLANE_CTL asking for BT.709 converts with BT.709', async (t) => {
  const m = world();
  const v = vgpu(m, 'yuv709');
  const width = 64, height = 8;
  lightPipe(v, 0, width, height);
  const f: Fmt = { ...FORMATS[7], ctl: FORMATS[7].ctl | (1 << 18) };
  const p = programPrimary(v, 0, f, 'linear', { width, height, seed: 21 });
  const r = v.readFramebuffer();
  t.ok(r.ok);
  if (!r.ok) return;
  let worst = 0;
  for (let k = 0; k < width * height; k++) {
    const x = k % width, y = Math.floor(k / width), m0 = y * p.stride + (x & ~1) * 2;
    const Y = p.surf[m0 + ((x & 1) === 1 ? 2 : 0)], U = p.surf[m0 + 1], V = p.surf[m0 + 3];
    const c = 1.164 * (Y - 16), d = U - 128, e = V - 128;
    const want = [clamp(c + 1.793 * e), clamp(c - 0.213 * d - 0.533 * e), clamp(c + 2.112 * d)];
    for (let ch = 0; ch < 3; ch++) worst = Math.max(worst, Math.abs(r.rgba[4 * k + ch] - want[ch]));
  }
  t.ok(worst <= 2, `within 2 of the exact BT.709 result (worst ${worst})`);
});

t.test('queryPlane answers the VFIO plane fields as GVT-g computes them', async (t) => {
  const m = world();
  const v = vgpu(m, 'q');
  const width = 300, height = 50;
  lightPipe(v, 1, width, height);
  const mods: Record<PlaneTiling, [number, number]> = { linear: [0, 0], X: [0x01000000, 1], Y: [0x01000000, 2], Yf: [0x01000000, 3] };
  const tileH: Record<PlaneTiling, number> = { linear: 1, X: 8, Y: 32, Yf: 32 };
  for (const tiling of ['linear', 'X', 'Y', 'Yf'] as PlaneTiling[]) {
    const p = programPrimary(v, 1, FORMATS[0], tiling, { width, height, extraStride: 2 });
    const r = v.queryPlane('primary', 'B');
    t.ok(r.ok, `${tiling}: decodes`);
    if (!r.ok) continue;
    const i = r.info;
    const field = v.mmioRead(planeCtl(1, 0) + 0x08, 4);
    t.equal(i.stride, field * STRIDE_UNIT[tiling], `${tiling}: stride = field × ${STRIDE_UNIT[tiling]}`);
    t.equal(i.stride, p.stride);
    t.equal(i.size, i.stride * roundUp(height, tileH[tiling]), `${tiling}: size = stride × height rounded to ${tileH[tiling]} rows`);
    t.same([i.drmFormatModHi, i.drmFormatModLo], mods[tiling], `${tiling}: modifier`);
    t.equal(i.tiling, tiling);
    t.same([i.drmPlaneType, i.drmFormat, i.formatName, i.bpp], [DrmPlaneType.PRIMARY, fourcc('XR24'), 'XRGB8888', 32]);
    t.same([i.width, i.height, i.xPos, i.yPos, i.xHot, i.yHot, i.pipe, i.kind], [width, height, 0, 0, 0, 0, 'B', 'primary'], 'size from PIPESRC; no position or hotspot');
    t.equal(i.gma, p.gma, 'the surface graphics address');
  }
  // The low 12 bits of PLANE_SURF are flags, not address.
  wr(v, planeCtl(1, 0) + 0x1c, (v.slices.lowBase + 32 * PAGE) | 0x8);
  const r = v.queryPlane('primary', 'B');
  t.ok(r.ok && r.info.gma === v.slices.lowBase + 32 * PAGE, 'the surface address is page-aligned');
});

t.test('PLANE_OFFSET moves the scan-out start inside the surface, in every tiling', async (t) => {
  const m = world();
  const v = vgpu(m, 'off');
  const width = 130, height = 20, xOff = 37, yOff = 13;
  lightPipe(v, 0, width, height);
  for (const tiling of ['linear', 'X', 'Y', 'Yf'] as PlaneTiling[]) {
    const p = programPrimary(v, 0, FORMATS[0], tiling, { width, height, xOff, yOff, seed: 99 });
    const r = v.readFramebuffer();
    t.ok(r.ok, `${tiling}: reads`);
    if (!r.ok) continue;
    t.same([r.info.xOffset, r.info.yOffset], [xOff, yOff]);
    t.equal(firstDiff(r.rgba, expectedImage(FORMATS[0], p, tiling, width, height, xOff, yOff)), -1, `${tiling}: the window at (${xOff}, ${yOff})`);
  }
});

t.test('tile layouts: the Yf layouts at 8 and 64 bpp follow their descriptions too', async (t) => {
  // 8 bpp: offset bits (msb..lsb) x y x y y y y y x x x x (64 B × 64 rows); 64 bpp: x y x y x x y y x x x x (256 B × 16 rows).
  const layout = (pattern: string, xb: number, y: number): number => {
    let off = 0, xi = 0, yi = 0;
    for (let bit = 0; bit < 12; bit++) {
      const c = pattern[11 - bit];
      const v = c === 'x' ? (xb >> xi++) & 1 : (y >> yi++) & 1;
      off |= v << bit;
    }
    return off;
  };
  let bad = 0;
  for (let y = 0; y < 64; y++) for (let xb = 0; xb < 64; xb++) if (tiledOffset('Yf', 8, 64, xb, y) !== layout('xyxyyyyyxxxx', xb, y)) bad++;
  for (let y = 0; y < 16; y++) for (let xb = 0; xb < 256; xb++) if (tiledOffset('Yf', 64, 256, xb, y) !== layout('xyxyxxyyxxxx', xb, y)) bad++;
  for (let y = 0; y < 32; y++) for (let xb = 0; xb < 128; xb++) if (tiledOffset('Yf', 32, 128, xb, y) !== yfInTile(xb, y)) bad++;
  t.equal(bad, 0, 'every in-tile offset');
  // Every offset of a 4 KiB tile is hit exactly once.
  for (const [bpp, w, h] of [[8, 64, 64], [16, 128, 32], [64, 256, 16]]) {
    const seen = new Set<number>();
    for (let y = 0; y < h; y++) for (let xb = 0; xb < w; xb++) seen.add(tiledOffset('Yf', bpp, w, xb, y));
    t.equal(seen.size, PAGE, `Yf ${bpp} bpp is a permutation of the tile`);
  }
});

t.test('the cursor: 64, 128 and 256 ARGB, CURPOS sign bits, the PVINFO hotspot', async (t) => {
  const m = world();
  const v = vgpu(m, 'cur');
  lightPipe(v, 0, 1024, 768);
  const gma = v.slices.highBase + 8 * PAGE;
  const modes: [number, number][] = [[0x27, 64], [0x22, 128], [0x23, 256], [0x07, 64]];
  for (const [mode, size] of modes) {
    const surf = randomSurface(size * size * 4, mode);
    const gfns = scattered(0x3000, surf.length / PAGE);
    mapGtt(v, gma, gfns);
    storeSurface(v, surf, gfns);
    wr(v, curcntr(0), mode);
    wr(v, curcntr(0) + 8, (1 << 15) | 10 | (20 << 16));
    wr(v, curcntr(0) + 4, gma);
    const r = v.readFramebuffer('cursor', 'A');
    t.ok(r.ok, `mode 0x${mode.toString(16)} decodes`);
    if (!r.ok) continue;
    const i = r.info;
    t.same([i.width, i.height, i.stride, i.size, i.drmFormat, i.drmPlaneType, i.tiling], [size, size, size * 4, size * size * 4, fourcc('AR24'), DrmPlaneType.CURSOR, 'linear']);
    t.same([i.xPos, i.yPos], [-10, 20], 'x sign bit: -10; y: +20');
    t.same([i.xHot, i.yHot], [HOTSPOT_INVALID, HOTSPOT_INVALID], 'no hotspot written: PVINFO holds UINT_MAX, invalid');
    let bad = 0;
    for (let k = 0; k < size * size; k++) {
      const w = (surf[4 * k] | (surf[4 * k + 1] << 8) | (surf[4 * k + 2] << 16) | (surf[4 * k + 3] << 24)) >>> 0;
      if (r.rgba[4 * k] !== ((w >>> 16) & 255) || r.rgba[4 * k + 1] !== ((w >>> 8) & 255) || r.rgba[4 * k + 2] !== (w & 255) || r.rgba[4 * k + 3] !== w >>> 24) bad++;
    }
    t.equal(bad, 0, `${size}x${size}: ARGB pixels`);
  }
  wr(v, curcntr(0) + 8, (1 << 31) | (7 << 16) | 300);
  v.mmioWrite(0x78830, 4, 5);
  v.mmioWrite(0x78834, 4, 64);
  let r = v.queryPlane('cursor');
  t.ok(r.ok && r.info.xHot === 5 && r.info.yHot === 64 && r.info.xPos === 300 && r.info.yPos === -7, 'hotspot (5, 64) on a 64x64 cursor (edges included, as validate_hotspot); y sign bit');
  v.mmioWrite(0x78834, 4, 65);
  r = v.queryPlane('cursor');
  t.ok(r.ok && r.info.xHot === HOTSPOT_INVALID && r.info.yHot === HOTSPOT_INVALID, 'a hotspot outside the cursor: both UINT_MAX');
  t.notOk(v.pvinfoSeen, 'the decoder\'s PVINFO reads do not make the guest look GVT-aware');
});

t.test('a sprite plane: PLANE_SIZE, PLANE_POS, an overlay', async (t) => {
  const m = world();
  const v = vgpu(m, 'spr');
  lightPipe(v, 0, 1024, 768);
  const f = FORMATS[2];
  const surf = randomSurface(128 * 4 * 30, 5);
  const gma = v.slices.lowBase + 4 * PAGE, gfns = scattered(0x1000, surf.length / PAGE);
  mapGtt(v, gma, gfns);
  storeSurface(v, surf, gfns);
  const base = planeCtl(0, 1);
  wr(v, base + 0x08, (128 * 4) / 64);
  wr(v, base + 0x10, (29 << 16) | 99);
  wr(v, base + 0x0c, (40 << 16) | 17);
  wr(v, base + 0x00, (1 << 31) | f.ctl);
  wr(v, base + 0x1c, gma);
  const r = v.readFramebuffer('sprite0', 'A');
  t.ok(r.ok, 'decodes');
  if (!r.ok) return;
  t.same([r.info.width, r.info.height, r.info.xPos, r.info.yPos, r.info.drmPlaneType], [100, 30, 17, 40, DrmPlaneType.OVERLAY]);
  const p: Programmed = { gma, stride: 512, surf, gfns };
  t.equal(firstDiff(r.rgba, expectedImage(f, p, 'linear', 100, 30)), -1, 'pixels');
  t.throws(() => v.queryPlane('sprite1', 'C'), RangeArgError, 'pipe C has no third plane');
});

t.test('a pipe driven by transcoder EDP counts as enabled (GVT-g pipe_is_enabled)', async (t) => {
  const m = world();
  const v = vgpu(m, 'edp');
  programPrimary(v, 1, FORMATS[0], 'linear', { width: 64, height: 8 });
  wr(v, transcoderBase(1) + TRANS.PIPESRC, (63 << 16) | 7);
  t.equal(v.queryPlane('primary', 'B').ok ? 'ok' : (v.queryPlane('primary', 'B') as { reason: string }).reason, 'pipe-disabled');
  wr(v, DREG.PIPECONF_EDP, 1 << 31);
  wr(v, DREG.TRANS_DDI_FUNC_CTL_EDP, (1 << 31) | (5 << 12));
  t.ok(v.queryPlane('primary', 'B').ok, 'EDP input B_ONOFF feeds pipe B');
  t.notOk(v.queryPlane('primary', 'C').ok, 'not pipe C');
});

t.test('isolation: another vGPU\'s graphics memory is refused, unmapped pages read as zeros, never scratch contents', async (t) => {
  const m = world();
  const a = vgpu(m, 'a');
  const b = vgpu(m, 'b');
  const width = 256, height = 16, f = FORMATS[0];
  lightPipe(b, 0, width, height);
  const pb = programPrimary(b, 0, f, 'linear', { width, height, seed: 1234 });
  const rb = b.readFramebuffer();
  t.ok(rb.ok && firstDiff(rb.rgba, expectedImage(f, pb, 'linear', width, height)) === -1, 'b reads its own pattern');

  lightPipe(a, 0, width, height);
  programPrimary(a, 0, f, 'linear', { width, height, seed: 77 });
  // a points its plane at b's surface: the address is outside a's slices.
  for (const gma of [pb.gma, b.slices.highBase, a.slices.lowBase + a.slices.lowSize - PAGE, a.slices.highBase + a.slices.highSize - PAGE]) {
    wr(a, planeCtl(0, 0) + 0x1c, gma);
    const q = a.queryPlane();
    const r = a.readFramebuffer();
    t.ok(!q.ok && q.reason === 'outside-gm' && !r.ok && r.reason === 'outside-gm', `surface at 0x${gma.toString(16)}: outside-gm, no pixels`);
  }
  // Inside a's slice: page 0 mapped, page 1 never written (scratch), page 2 not present,
  // page 3 a frame beyond a's RAM (scratch), page 4 mapped. a writes through its aperture into
  // page 1, i.e. its scratch page: the read-out still answers zeros there.
  const gma = a.slices.lowBase + 64 * PAGE;
  const surf = randomSurface(5 * PAGE, 5);
  const gfns = [0x3800, -2, -1, GUEST_RAM / PAGE + 10, 0x3804];
  mapGtt(a, gma, [0x3800]);
  mapGtt(a, gma + 2 * PAGE, [-1, GUEST_RAM / PAGE + 10, 0x3804]);
  storeSurface(a, surf, gfns);
  a.apertureWrite(gma + PAGE + 16, 4, 0xdeadbeef);
  a.apertureWrite(gma + 3 * PAGE + 16, 4, 0xdeadbeef);
  // 1024 pixels × 4 bytes per line: one line per page.
  wr(a, transcoderBase(0) + TRANS.PIPESRC, (1023 << 16) | 4);
  wr(a, planeCtl(0, 0) + 0x08, PAGE / 64);
  wr(a, planeCtl(0, 0) + 0x24, 0);
  wr(a, planeCtl(0, 0) + 0x00, (1 << 31) | f.ctl);
  wr(a, planeCtl(0, 0) + 0x1c, gma);
  const r = a.readFramebuffer();
  t.ok(r.ok, `decodes (the first page is mapped)${r.ok ? '' : `: ${r.reason} ${r.detail}`}`);
  if (!r.ok) return;
  const ref = surf.slice();
  ref.fill(0, PAGE, 4 * PAGE);
  const p: Programmed = { gma, stride: PAGE, surf: ref, gfns };
  t.equal(firstDiff(r.rgba, expectedImage(f, p, 'linear', 1024, 5)), -1, 'lines 1..3 are zeros, lines 0 and 4 the guest\'s');
  const line = (y: number): Uint8Array => r.rgba.subarray(y * 4096, (y + 1) * 4096);
  const black = (y: number): boolean => line(y).every((x, i) => x === ((i & 3) === 3 ? 0xff : 0));
  t.ok(black(1) && black(3), 'the scratch page\'s bytes never show (black, opaque)');
  // The first page unmapped: refused.
  mapGtt(a, gma, [-1]);
  const u = a.queryPlane();
  t.ok(!u.ok && u.reason === 'unmapped', 'a surface whose first page is not present: unmapped');
});

t.test('gScale: vGPUs sharing slices each read their own surface at the same address, whoever is resident', async (t) => {
  const m = new Mediator(new Gen9Device(), { gscale: true });
  const all = Array.from({ length: 8 }, (_, i) => vgpu(m, `s${i}`));
  const [aId, bId] = m.partition.sharers(all[0].id);
  t.ok(bId !== undefined, 'two vGPUs share slices');
  const a = all.find((x) => x.id === aId)!, b = all.find((x) => x.id === bId)!;
  const width = 128, height = 8, f = FORMATS[0];
  const gma = a.slices.lowBase + 16 * PAGE;
  t.equal(b.slices.lowBase + 16 * PAGE, gma, 'the same graphics address in both');
  const progs = [a, b].map((v, i) => {
    lightPipe(v, 0, width, height);
    return programPrimary(v, 0, f, 'Y', { width, height, gma, seed: 500 + i });
  });
  for (const resident of [a, b, a]) {
    resident.switchIn();
    [a, b].forEach((v, i) => {
      const r = v.readFramebuffer();
      t.ok(r.ok && firstDiff(r.rgba, expectedImage(f, progs[i], 'Y', width, height)) === -1, `${v.name} reads its own pixels while ${resident.name} is resident`);
    });
  }
});

t.test('garbage registers give a typed reason, never a throw', async (t) => {
  const m = world();
  const v = vgpu(m, 'garbage');
  const width = 200, height = 40;
  lightPipe(v, 0, width, height);
  const p = programPrimary(v, 0, FORMATS[0], 'X', { width, height });
  const base = planeCtl(0, 0), good = v.mmioRead(base, 4);
  const expect = (what: string, reason: string): void => {
    const q = v.queryPlane();
    t.equal(q.ok ? 'ok' : q.reason, reason, what);
    const r = v.readFramebuffer();
    t.equal(r.ok ? 'ok' : r.reason, reason, `${what} (read-out)`);
  };
  expect('the programmed plane', 'ok');
  for (const fmt of [1, 3, 5, 6, 7, 8, 9, 10, 11, 13, 15]) {
    wr(v, base, (good & ~(0xf << 24)) | (fmt << 24));
    expect(`format field ${fmt}`, 'bad-format');
  }
  for (const tiling of [2, 3, 6, 7]) {
    wr(v, base, (good & ~(7 << 10)) | (tiling << 10));
    expect(`tiling field ${tiling}`, 'bad-tiling');
  }
  wr(v, base, good & 0x7fffffff);
  expect('PLANE_CTL enable clear', 'plane-disabled');
  wr(v, base, good);
  wr(v, base + 0x08, 0);
  expect('stride 0', 'bad-stride');
  wr(v, base + 0x08, 1);
  expect('a stride narrower than a line (512 < 800 bytes)', 'bad-stride');
  wr(v, base + 0x08, 0x3ff);
  wr(v, transcoderBase(0) + TRANS.PIPESRC, (127 << 16) | 4095);
  expect('a huge surface (0x3ff × 512 × 4096 bytes)', 'outside-gm');
  wr(v, transcoderBase(0) + TRANS.PIPESRC, ((width - 1) << 16) | (height - 1));
  wr(v, base + 0x08, p.stride / 512);
  wr(v, base + 0x1c, 0xfffff000);
  expect('a surface at the top of the GGTT', 'outside-gm');
  wr(v, base + 0x1c, p.gma);
  wr(v, base, good | (12 << 24));
  const c8 = v.queryPlane();
  t.ok(c8.ok && c8.info.formatName === 'C8' && c8.info.bpp === 8, 'C8 decodes (GVT-g reports it)');
  t.equal((v.readFramebuffer() as { reason?: string }).reason, 'not-readable', 'C8 read-out: not-readable (no palette)');
  wr(v, base, good);
  wr(v, pipeconf(0), 0);
  expect('pipe disabled', 'pipe-disabled');
  wr(v, pipeconf(0), 1 << 31);
  // The cursor.
  wr(v, curcntr(0) + 4, p.gma);
  for (const [mode, reason] of [[0, 'plane-disabled'], [0x02, 'bad-format'], [0x03, 'bad-format'], [0x20, 'bad-format'], [0x25, 'bad-format'], [0x27, 'ok']] as [number, string][]) {
    wr(v, curcntr(0), mode);
    const q = v.queryPlane('cursor');
    t.equal(q.ok ? 'ok' : q.reason, reason, `cursor mode 0x${mode.toString(16)}`);
  }
  wr(v, curcntr(0) + 4, v.slices.lowBase + v.slices.lowSize - PAGE);
  const q = v.queryPlane('cursor');
  t.equal(q.ok ? 'ok' : q.reason, 'outside-gm', 'a cursor running past the slice');
});

t.test('random register values never throw, and what decodes lies inside the vGPU\'s graphics memory', async (t) => {
  const m = world();
  const v = vgpu(m, 'prop');
  lightPipe(v, 0, 64, 64);
  programPrimary(v, 0, FORMATS[0], 'linear', { width: 64, height: 64 });
  const base = planeCtl(0, 0), surfBase = v.slices.lowBase + 32 * PAGE;
  mapGtt(v, surfBase, scattered(0x1000, 128));
  const reasons: Record<string, number> = {};
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 2, 4, 12, 14, -1), fc.constantFrom(0, 1, 4, 5, -1),
    fc.integer({ min: 0, max: 0x3ff }),
    fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 100 })).map(([w, h]) => (w << 16) | h)),
    fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0x1f001f })), fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 64 * PAGE })), fc.boolean(),
    (bits, format, tiling, stride, srcsz, offset, surfDelta, enable) => {
      let ctl = bits;
      if (format >= 0) ctl = (ctl & ~(0xf << 24)) | (format << 24);
      if (tiling >= 0) ctl = (ctl & ~(7 << 10)) | (tiling << 10);
      wr(v, base, enable ? ctl | (1 << 31) : ctl);
      wr(v, base + 0x08, stride);
      wr(v, base + 0x24, offset);
      wr(v, transcoderBase(0) + TRANS.PIPESRC, srcsz);
      wr(v, base + 0x1c, surfBase + surfDelta);
      const q = v.queryPlane();
      const key = q.ok ? 'ok' : q.reason;
      reasons[key] = (reasons[key] ?? 0) + 1;
      if (!q.ok) return true;
      const info: PlaneInfo = q.info;
      if (!v.ownsGma(info.gma, scanSpan(info))) return false;
      if (info.width * info.height > 1 << 18) return true;
      const r = v.readFramebuffer();
      return r.ok ? r.rgba.length === info.width * info.height * 4 : r.reason === 'not-readable';
    },
  ), { numRuns: 400, seed: 16 });
  t.ok((reasons.ok ?? 0) > 40, `400 random programmings: ${JSON.stringify(reasons)}`);
});

t.test('PNG: the read-out round-trips through fast-png', async (t) => {
  const m = world();
  const v = vgpu(m, 'png');
  lightPipe(v, 0, 97, 31);
  programPrimary(v, 0, FORMATS[2], 'Y', { width: 97, height: 31, seed: 3 });
  const r = v.readFramebuffer();
  t.ok(r.ok);
  if (!r.ok) return;
  const png = encodePng({ width: 97, height: 31, rgba: r.rgba });
  t.same([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  const d = fastPngDecode(png);
  t.same([d.width, d.height, d.channels, d.depth], [97, 31, 4, 8]);
  t.equal(firstDiff(Uint8Array.from(d.data), r.rgba), -1, 'fast-png decodes the same pixels');
  const back = decodePng(png);
  t.equal(firstDiff(back.rgba, r.rgba), -1, 'decodePng too');
  t.throws(() => encodePng({ width: 97, height: 31, rgba: r.rgba.subarray(4) }), RangeArgError, 'a wrong length is refused');
});

t.test('arguments and lifecycle', async (t) => {
  const m = world();
  const v = vgpu(m, 'life');
  t.equal((v.queryPlane() as { reason?: string }).reason, 'pipe-disabled', 'a new vGPU\'s dark pipe: no plane');
  t.throws(() => v.queryPlane('overlay' as never), RangeArgError);
  t.throws(() => v.queryPlane('primary', 'D' as never), RangeArgError);
  lightPipe(v, 0, 16, 4);
  programPrimary(v, 0, FORMATS[0], 'linear', { width: 16, height: 4 });
  t.throws(() => v.readFramebuffer('primary', 'A', new Uint8Array(3)), RangeArgError, 'an out buffer of the wrong size');
  const out = new Uint8Array(16 * 4 * 4);
  const r = v.readFramebuffer('primary', 'A', out);
  t.ok(r.ok && r.rgba === out, 'reads into the buffer given');
  const odd = new Uint8Array(16 * 4 * 4 + 1).subarray(1);
  const r2 = v.readFramebuffer('primary', 'A', odd);
  t.ok(r2.ok && r2.rgba === odd && firstDiff(odd, out) === -1 && out.some((x) => x !== 0 && x !== 0xff), 'an unaligned buffer gets the same pixels');
  v.reset();
  t.equal((v.queryPlane() as { reason?: string }).reason, 'pipe-disabled', 'reset: the plane is gone');
  v.destroy();
  t.throws(() => v.queryPlane(), StateError);
  t.throws(() => v.readFramebuffer(), StateError);
});
