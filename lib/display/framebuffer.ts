/**
 * Framebuffer read-out: the pixels a decoded plane (`PlaneInfo`, lib/display/plane.ts) scans out,
 * as RGBA8, read from the vGPU's graphics memory the way the display engine fetches them.
 *
 * - **Addresses.** The surface's address is a GGTT graphics address of the vGPU. Each 4 KiB page
 *   of it is looked up through a `GraphicsMemory` (for a `Vgpu`: its shadow GGTT entries, i.e.
 *   the guest's entries as the EPT translated them, the host GGTT view GVT-g's `dmabuf.c`
 *   `vgpu_gem_get_pages` builds its dma-buf from). A page that is not present, does not
 *   translate, or names anything but the vGPU's own guest memory reads as a **scratch page of
 *   zeros**: never another vGPU's bytes nor the host's.
 * - **Tiling.** Linear, X, Y and Yf (`TILE_LAYOUTS`): a 4 KiB tile's byte offset is built by
 *   depositing the bits of the byte column and of the row into fixed bit positions, one mask
 *   each (the "swizzle descriptors" of intel/gmmlib `CpuSwizzleBlt.c`, `INTEL_TILE_X`, `_Y`,
 *   `_YF_8/16/32/64`; for Yf 32 bpp the same layout as IGT `lib/intel_bufops.c` `yf_ptr`).
 *   Tiles follow each other in rows of `stride / tile width` tiles. No bit-6 swizzling: i915 uses
 *   none from Broadwell on (`detect_bit_6_swizzle`).
 * - **Pixels** (`PIXEL_READERS`): the formats GVT-g decodes, in DRM's little-endian layouts
 *   (uapi `drm_fourcc.h`); 10-bit channels keep their 8 high bits, 5- and 6-bit ones are widened
 *   by repeating their high bits; X formats read alpha 255; YUV 4:2:2 is converted with BT.601
 *   (or BT.709 when PLANE_CTL asks for it) limited-range integer coefficients. C8 needs the
 *   palette, which gvtkit does not track: `not-readable`.
 *
 * Output: `Uint8Array` of width × height × 4 bytes, rows top to bottom, each pixel R, G, B, A.
 * Hot path: typed arrays, one column-offset table and one page table per call, no allocation per
 * pixel, no BigInt.
 */
import { RangeArgError, TableError } from '../errors.js';
import { PlaneBits, scanSpan, type PixelDecode, type PlaneFault, type PlaneInfo, type PlaneTiling } from './plane.js';

/** Graphics memory as the display engine sees it (`Vgpu` supplies one over its GGTT view). */
export interface GraphicsMemory {
  /**
   * The 4 KiB page at graphics address `gma` (page-aligned) as a 32-bit view, or null when it
   * must read as scratch (zeros). The view is only read.
   */
  page32(gma: number): Uint32Array | null;
}

/** A read-out: the plane and its pixels, or why not. */
export type FramebufferResult =
  | { readonly ok: true; readonly info: PlaneInfo; readonly rgba: Uint8Array }
  | { readonly ok: false; readonly reason: PlaneFault; readonly detail: string };

/** Layout of a 4 KiB tile: which bits of the in-tile offset come from the byte column (x) and from the row (y). */
export interface TileLayoutRow {
  readonly tiling: PlaneTiling;
  /** Bits per pixel it applies to (0: any). */
  readonly bpp: number;
  /** Bits of the in-tile offset (11:0) taken, low to high, from the byte column's bits. */
  readonly xMask: number;
  /** Bits taken, low to high, from the row's bits. */
  readonly yMask: number;
  /** Where the layout comes from. */
  readonly source: string;
}

/** A layout with its deposit tables (built once). */
interface CompiledLayout {
  readonly widthBytes: number;
  readonly height: number;
  readonly widthShift: number;
  readonly heightShift: number;
  /** In-tile offset bits of byte column c (0 ≤ c < widthBytes). */
  readonly xDeposit: Uint32Array;
  /** In-tile offset bits of row r (0 ≤ r < height). */
  readonly yDeposit: Uint32Array;
}

const GMM = 'intel/gmmlib CpuSwizzleBlt.c';

/**
 * Tile layouts (offset bits 11..0, msb first, x = a byte-column bit, y = a row bit):
 * - X: `yyy xxxxxxxxx`: 512 bytes × 8 rows, each row of the tile contiguous;
 * - Y: `xxx yyyyy xxxx`: 128 bytes × 32 rows, in 8 columns of 16 bytes (OWords), each column's
 *   32 rows contiguous;
 * - Yf (Skylake's 4 KiB "tile Yf"), by bits per pixel: 8 `xyxyyyyyxxxx` (64 × 64), 16 and 32
 *   `xyxyxyyyxxxx` (128 × 32), 64 `xyxyxxyyxxxx` (256 × 16).
 */
export const TILE_LAYOUTS: readonly TileLayoutRow[] = Object.freeze([
  Object.freeze({ tiling: 'X', bpp: 0, xMask: 0x1ff, yMask: 0xe00, source: `${GMM} INTEL_TILE_X; IGT intel_bufops.c x_ptr` }),
  Object.freeze({ tiling: 'Y', bpp: 0, xMask: 0xe0f, yMask: 0x1f0, source: `${GMM} INTEL_TILE_Y; IGT intel_bufops.c y_ptr` }),
  Object.freeze({ tiling: 'Yf', bpp: 8, xMask: 0xa0f, yMask: 0x5f0, source: `${GMM} INTEL_TILE_YF_8` }),
  Object.freeze({ tiling: 'Yf', bpp: 16, xMask: 0xa8f, yMask: 0x570, source: `${GMM} INTEL_TILE_YF_16` }),
  Object.freeze({ tiling: 'Yf', bpp: 32, xMask: 0xa8f, yMask: 0x570, source: `${GMM} INTEL_TILE_YF_32; IGT intel_bufops.c yf_ptr` }),
  Object.freeze({ tiling: 'Yf', bpp: 64, xMask: 0xacf, yMask: 0x530, source: `${GMM} INTEL_TILE_YF_64` }),
] as TileLayoutRow[]);

/** Spread the low bits of `value` into the set bits of `mask`, low to high (a software PDEP). */
export function depositBits(value: number, mask: number): number {
  let out = 0;
  for (let bit = 0; mask !== 0 && bit < 32; bit++) {
    const low = mask & -mask;
    if ((value & (1 << bit)) !== 0) out |= low;
    mask &= mask - 1;
  }
  return out >>> 0;
}

function popcount(v: number): number {
  let n = 0;
  for (; v !== 0; v &= v - 1) n++;
  return n;
}

function compileLayout(row: TileLayoutRow): CompiledLayout {
  const xb = popcount(row.xMask), yb = popcount(row.yMask);
  if ((row.xMask & row.yMask) !== 0 || (row.xMask | row.yMask) !== 0xfff) {
    throw new TableError(`tile layout ${row.tiling}/${row.bpp}: masks must split the 12 offset bits`);
  }
  const xDeposit = new Uint32Array(1 << xb), yDeposit = new Uint32Array(1 << yb);
  for (let c = 0; c < xDeposit.length; c++) xDeposit[c] = depositBits(c, row.xMask);
  for (let r = 0; r < yDeposit.length; r++) yDeposit[r] = depositBits(r, row.yMask);
  return { widthBytes: 1 << xb, height: 1 << yb, widthShift: xb, heightShift: yb, xDeposit, yDeposit };
}

const COMPILED = new Map<string, CompiledLayout>(TILE_LAYOUTS.map((r) => [`${r.tiling}/${r.bpp}`, compileLayout(r)]));

/** The tile layout of `tiling` at `bpp`, or null for linear (or a pair without a layout). */
function layoutOf(tiling: PlaneTiling, bpp: number): CompiledLayout | null {
  if (tiling === 'linear') return null;
  return COMPILED.get(`${tiling}/${bpp}`) ?? COMPILED.get(`${tiling}/0`) ?? null;
}

/**
 * Byte offset, from the surface's start, of byte column `xb` of line `y` of a surface with
 * `tiling` at `bpp` and `stride` (the same arithmetic the read-out uses; for tools and tests).
 */
export function tiledOffset(tiling: PlaneTiling, bpp: number, stride: number, xb: number, y: number): number {
  const l = layoutOf(tiling, bpp);
  if (l === null) return y * stride + xb;
  return (y >>> l.heightShift) * stride * l.height + (xb >>> l.widthShift) * 4096 + l.yDeposit[y & (l.height - 1)] + l.xDeposit[xb & (l.widthBytes - 1)];
}

// ------------------------------------------------------------------ pixels

/** What a row reader needs beyond its row. */
interface RowContext {
  /** YUV 4:2:2 byte positions inside a macropixel: Y0, U (Cb), Y1, V (Cr). */
  y0: number;
  u: number;
  y1: number;
  v: number;
  /** YUV → RGB coefficients (× 256): Y, V→R, U→G, V→G, U→B. */
  cy: number;
  crv: number;
  cgu: number;
  cgv: number;
  cbu: number;
}

/**
 * Reads `width` pixels of one line: pixel x at byte offset `rowBase + col[x]` of the surface,
 * whose pages are `pages` (32-bit views); each pixel's RGBA bytes as one little-endian word of
 * `out` (R in the low byte) from index `at`.
 */
type RowReader = (pages: Uint32Array[], rowBase: number, col: Uint32Array, width: number, out: Uint32Array, at: number, ctx: RowContext) => void;

/** The word holding the byte at surface offset `off`. */
function word(pages: Uint32Array[], off: number): number {
  return pages[off >>> 12][(off & 0xfff) >>> 2];
}

function clamp8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

const OPAQUE = 0xff000000;

/** Pixel conversion per `PixelDecode` (null: the read-out refuses the format). */
export const PIXEL_READERS: Readonly<Record<PixelDecode, RowReader | null>> = Object.freeze({
  // x:R:G:B → R, G, B, 255: swap the R and B bytes.
  xrgb8888: (pages, rowBase, col, width, out, at) => {
    for (let x = 0; x < width; x++) {
      const w = word(pages, rowBase + col[x]);
      out[at + x] = (((w >>> 16) & 0xff) | (w & 0xff00) | ((w & 0xff) << 16) | OPAQUE) >>> 0;
    }
  },
  argb8888: (pages, rowBase, col, width, out, at) => {
    for (let x = 0; x < width; x++) {
      const w = word(pages, rowBase + col[x]);
      out[at + x] = (((w >>> 16) & 0xff) | (w & 0xff00ff00) | ((w & 0xff) << 16)) >>> 0;
    }
  },
  // x:B:G:R is already R, G, B in memory order.
  xbgr8888: (pages, rowBase, col, width, out, at) => {
    for (let x = 0; x < width; x++) out[at + x] = (word(pages, rowBase + col[x]) | OPAQUE) >>> 0;
  },
  abgr8888: (pages, rowBase, col, width, out, at) => {
    for (let x = 0; x < width; x++) out[at + x] = word(pages, rowBase + col[x]);
  },
  // 10-bit channels keep their 8 high bits.
  xrgb2101010: (pages, rowBase, col, width, out, at) => {
    for (let x = 0; x < width; x++) {
      const w = word(pages, rowBase + col[x]);
      out[at + x] = (((w >>> 22) & 0xff) | (((w >>> 12) & 0xff) << 8) | (((w >>> 2) & 0xff) << 16) | OPAQUE) >>> 0;
    }
  },
  xbgr2101010: (pages, rowBase, col, width, out, at) => {
    for (let x = 0; x < width; x++) {
      const w = word(pages, rowBase + col[x]);
      out[at + x] = (((w >>> 2) & 0xff) | (((w >>> 12) & 0xff) << 8) | (((w >>> 22) & 0xff) << 16) | OPAQUE) >>> 0;
    }
  },
  // 5- and 6-bit channels widened by repeating their high bits.
  rgb565: (pages, rowBase, col, width, out, at) => {
    for (let x = 0; x < width; x++) {
      const off = rowBase + col[x];
      const v = (word(pages, off) >>> ((off & 2) << 3)) & 0xffff;
      const r = v >>> 11, g = (v >>> 5) & 0x3f, b = v & 0x1f;
      out[at + x] = (((r << 3) | (r >>> 2)) | (((g << 2) | (g >>> 4)) << 8) | (((b << 3) | (b >>> 2)) << 16) | OPAQUE) >>> 0;
    }
  },
  yuv422: (pages, rowBase, col, width, out, at, k) => {
    for (let x = 0; x < width; x++) {
      const off = rowBase + col[x];
      // A macropixel is 4 aligned bytes (two pixels); every layout keeps 16-byte runs contiguous.
      const w = word(pages, off & ~3);
      const yy = ((w >>> (((off & 2) !== 0 ? k.y1 : k.y0) << 3)) & 0xff) - 16;
      const u = ((w >>> (k.u << 3)) & 0xff) - 128, v = ((w >>> (k.v << 3)) & 0xff) - 128;
      const c = k.cy * yy + 128;
      out[at + x] = (clamp8((c + k.crv * v) >> 8) | (clamp8((c - k.cgu * u - k.cgv * v) >> 8) << 8) | (clamp8((c + k.cbu * u) >> 8) << 16) | OPAQUE) >>> 0;
    }
  },
  indexed: null,
});

/** YUV 4:2:2 byte order per DRM format (uapi `drm_fourcc.h`, bytes in memory order). */
const YUV_ORDER: Readonly<Record<string, readonly [number, number, number, number]>> = Object.freeze({
  // [Y0, U, Y1, V] positions: YUYV = Y0 Cb Y1 Cr; YVYU = Y0 Cr Y1 Cb; UYVY = Cb Y0 Cr Y1; VYUY = Cr Y0 Cb Y1.
  YUYV: [0, 1, 2, 3], YVYU: [0, 3, 2, 1], UYVY: [1, 0, 3, 2], VYUY: [1, 2, 3, 0],
});

/**
 * Limited-range YUV → RGB, coefficients × 256 (BT.601: R = 1.164 Y' + 1.596 V', G = 1.164 Y' −
 * 0.391 U' − 0.813 V', B = 1.164 Y' + 2.018 U'; BT.709: 1.164, 1.793, 0.213, 0.533, 2.112).
 */
export const YUV_COEFFICIENTS = Object.freeze({
  bt601: Object.freeze({ cy: 298, crv: 409, cgu: 100, cgv: 208, cbu: 516 }),
  bt709: Object.freeze({ cy: 298, crv: 459, cgu: 55, cgv: 136, cbu: 541 }),
});

/**
 * Read the pixels of decoded plane `info` from `mem` as RGBA8 (see the module comment), into
 * `out` when given (width × height × 4 bytes) or a new array. Pages outside the vGPU's own
 * memory read as zeros. Answers `not-readable` for C8 (the palette is not tracked).
 */
export function readFramebuffer(mem: GraphicsMemory, info: PlaneInfo, out?: Uint8Array): FramebufferResult {
  const reader = PIXEL_READERS[info.decode];
  if (reader === null) {
    return { ok: false, reason: 'not-readable', detail: `pipe ${info.pipe} ${info.kind}: ${info.formatName} needs the palette (LUT registers are not tracked)` };
  }
  const bytes = info.width * info.height * 4;
  if (out !== undefined && (!(out instanceof Uint8Array) || out.length !== bytes)) {
    throw new RangeArgError(`readFramebuffer out: expected a Uint8Array of ${bytes} bytes (${info.width}x${info.height} RGBA)`);
  }
  const rgba = out ?? new Uint8Array(bytes);
  // One word per pixel (little endian, as the page views): a view of the output when aligned.
  const aligned = (rgba.byteOffset & 3) === 0;
  const out32 = aligned ? new Uint32Array(rgba.buffer, rgba.byteOffset, bytes >>> 2) : new Uint32Array(bytes >>> 2);
  const layout = layoutOf(info.tiling, info.bpp);
  const cpp = info.bpp >>> 3;
  // The surface's pages, each looked up once; scratch is a page of zeros.
  const npages = Math.ceil(scanSpan(info) / 4096);
  const pages: Uint32Array[] = new Array(npages);
  for (let i = 0; i < npages; i++) pages[i] = mem.page32(info.gma + i * 4096) ?? SCRATCH;
  // Byte offset of each pixel column inside its line (or tile row).
  const col = new Uint32Array(info.width);
  for (let x = 0; x < info.width; x++) {
    const xb = (info.xOffset + x) * cpp;
    col[x] = layout === null ? xb : (xb >>> layout.widthShift) * 4096 + layout.xDeposit[xb & (layout.widthBytes - 1)];
  }
  const ctx = rowContext(info);
  const tileRowBytes = layout === null ? 0 : info.stride * layout.height;
  for (let y = 0, at = 0; y < info.height; y++, at += info.width) {
    const yy = info.yOffset + y;
    const rowBase = layout === null ? yy * info.stride : (yy >>> layout.heightShift) * tileRowBytes + layout.yDeposit[yy & (layout.height - 1)];
    reader(pages, rowBase, col, info.width, out32, at, ctx);
  }
  if (!aligned) rgba.set(new Uint8Array(out32.buffer));
  return { ok: true, info, rgba };
}

/** The scratch page: zeros, never written. */
const SCRATCH = new Uint32Array(1024);

function rowContext(info: PlaneInfo): RowContext {
  const order = YUV_ORDER[info.formatName] ?? YUV_ORDER.YUYV;
  const k = (info.control & PlaneBits.YUV_CSC_BT709) !== 0 ? YUV_COEFFICIENTS.bt709 : YUV_COEFFICIENTS.bt601;
  return { y0: order[0], u: order[1], y1: order[2], v: order[3], ...k };
}
