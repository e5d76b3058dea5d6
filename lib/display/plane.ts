/**
 * Plane decode: what a vGPU's display registers say a plane scans out, as GVT-g's framebuffer
 * decoder reads them for QEMU's display (Linux 6.1 `gvt/fb_decoder.c`:
 * `intel_vgpu_decode_primary_plane`, `intel_vgpu_decode_cursor_plane`, `skl_format_to_drm`,
 * `intel_vgpu_get_stride`; `gvt/dmabuf.c`: `vgpu_get_plane_info`, `validate_hotspot`), and what
 * `VFIO_DEVICE_QUERY_GFX_PLANE` returns (`struct vfio_device_gfx_plane_info`, uapi `vfio.h`).
 *
 * Formats, tilings and cursor modes are tables (`PLANE_FORMATS`, `PLANE_TILINGS`,
 * `CURSOR_MODES`): a decode is a row lookup. Garbage in the registers is guest input: the decode
 * never throws for it, it answers `{ ok: false, reason }` with a stable `PlaneFault` code (GVT-g
 * answers -ENODEV for a plane that is not ready, -EINVAL or -EFAULT for the rest).
 *
 * Register facts: i915 (Linux 6.1) `i915_reg.h` (`PLANE_CTL_*`, `MCURSOR_*`, `PIPECONF`,
 * `TRANS_DDI_EDP_INPUT_*`), GVT-g `fb_decoder.h` (field masks), `i915_pvinfo.h` (cursor hotspot);
 * DRM fourcc and modifier values: uapi `drm_fourcc.h`; plane types: `drm_plane.h`.
 */
import { DREG, PIPES, TRANS, curcntr, pipeconf, planeCtl, planesOf, transcoderBase } from './registers.js';

// ------------------------------------------------------------------ DRM values

/** DRM fourcc: four ASCII characters, little endian (uapi `drm_fourcc.h` `fourcc_code`). */
export function fourcc(code: string): number {
  return (code.charCodeAt(0) | (code.charCodeAt(1) << 8) | (code.charCodeAt(2) << 16) | (code.charCodeAt(3) << 24)) >>> 0;
}

/** The DRM formats the decoder names (uapi `drm_fourcc.h`). */
export const DrmFormat = Object.freeze({
  C8: fourcc('C8  '),
  RGB565: fourcc('RG16'),
  XRGB8888: fourcc('XR24'),
  XBGR8888: fourcc('XB24'),
  ARGB8888: fourcc('AR24'),
  ABGR8888: fourcc('AB24'),
  XRGB2101010: fourcc('XR30'),
  XBGR2101010: fourcc('XB30'),
  YUYV: fourcc('YUYV'),
  YVYU: fourcc('YVYU'),
  UYVY: fourcc('UYVY'),
  VYUY: fourcc('VYUY'),
});

/** `enum drm_plane_type` (include/drm/drm_plane.h): what `drm_plane_type` of the VFIO query holds. */
export const DrmPlaneType = Object.freeze({ OVERLAY: 0, PRIMARY: 1, CURSOR: 2 });

/** `DRM_FORMAT_MOD_VENDOR_INTEL`: the high byte of an Intel modifier (`fourcc_mod_code(INTEL, n)` = 1 << 56 | n). */
const MOD_VENDOR_INTEL_HI = 0x01 << 24;

/** A hotspot GVT-g refuses (`validate_hotspot`): `UINT_MAX`. */
export const HOTSPOT_INVALID = 0xffffffff;

// ------------------------------------------------------------------ register fields

/** PLANE_CTL and CURCNTR fields (i915 6.1 `i915_reg.h`, Skylake; GVT-g `fb_decoder.h`). */
export const PlaneBits = Object.freeze({
  PLANE_CTL_ENABLE: 1 << 31,
  /** Format, bits 27:24 (`PLANE_CTL_FORMAT_MASK_SKL`). */
  FORMAT_SHIFT: 24,
  FORMAT_MASK: 0xf,
  /** `PLANE_CTL_ORDER_RGBX`. */
  ORDER_RGBX: 1 << 20,
  /** `PLANE_CTL_YUV_TO_RGB_CSC_FORMAT_BT709`. */
  YUV_CSC_BT709: 1 << 18,
  /** `PLANE_CTL_YUV422_ORDER_MASK`, bits 17:16. */
  YUV422_ORDER_SHIFT: 16,
  YUV422_ORDER_MASK: 3,
  /** `PLANE_CTL_TILED_MASK`, bits 12:10. */
  TILED_SHIFT: 10,
  TILED_MASK: 7,
  /** `PLANE_CTL_ALPHA_MASK`, bits 5:4 (pre-GLK). */
  ALPHA_MASK: 3 << 4,
  /** Stride field of PLANE_STRIDE as GVT-g masks it (`_PRI_PLANE_STRIDE_MASK >> 6`). */
  STRIDE_MASK: 0x3ff,
  /** `MCURSOR_MODE_MASK`. */
  MCURSOR_MODE_MASK: 0x27,
  /** CURPOS (GVT-g `_CURSOR_POS_X_MASK`, `_CURSOR_SIGN_X_MASK`, Y likewise). */
  CURSOR_POS_X_MASK: 0x1fff,
  CURSOR_SIGN_X: 1 << 15,
  CURSOR_POS_Y_SHIFT: 16,
  CURSOR_POS_Y_MASK: 0xfff,
  CURSOR_SIGN_Y: 1 << 31,
  /** PIPESRC (GVT-g `_PIPE_H_SRCSZ_MASK`: width - 1 in 28:16, `_PIPE_V_SRCSZ_MASK`: height - 1 in 11:0). */
  PIPESRC_W_SHIFT: 16,
  PIPESRC_W_MASK: 0x1fff,
  PIPESRC_H_MASK: 0xfff,
  /** PLANE_OFFSET / PLANE_POS / PLANE_SIZE: x (or width - 1) in 12:0, y (or height - 1) in 27:16 (GVT-g's masks). */
  XY_X_MASK: 0x1fff,
  XY_Y_SHIFT: 16,
  XY_Y_MASK: 0xfff,
  PIPECONF_ENABLE: 1 << 31,
  TRANS_DDI_FUNC_ENABLE: 1 << 31,
  /** `TRANS_DDI_EDP_INPUT_MASK`, bits 14:12. */
  EDP_INPUT_SHIFT: 12,
  EDP_INPUT_MASK: 7,
});

/** Offsets inside a universal plane's block (`planeCtl(pipe, plane)` + these; i915 `_PLANE_*_1_A`). */
export const PlaneReg = Object.freeze({ CTL: 0x00, STRIDE: 0x08, POS: 0x0c, SIZE: 0x10, SURF: 0x1c, OFFSET: 0x24 });
/** Offsets of the cursor's registers from CURCNTR. */
export const CursorReg = Object.freeze({ CNTR: 0x00, BASE: 0x04, POS: 0x08 });
/** The cursor hotspot in the PVINFO page (`i915_pvinfo.h` `cursor_x_hot`, `cursor_y_hot`), as BAR0 offsets. */
export const CURSOR_HOT_REG = Object.freeze({ x: 0x78830, y: 0x78834 });

// ------------------------------------------------------------------ tables

/** How `readFramebuffer` turns a pixel into RGBA (lib/display/framebuffer.ts). */
export type PixelDecode = 'xrgb8888' | 'xbgr8888' | 'argb8888' | 'abgr8888' | 'rgb565' | 'xrgb2101010' | 'xbgr2101010' | 'yuv422' | 'indexed';

/**
 * A Skylake plane format (GVT-g `skl_pixel_formats[]`, picked by `skl_format_to_drm`): the
 * PLANE_CTL fields that select it and what it is in DRM terms.
 */
export interface PlaneFormatRow {
  /** DRM name (`DRM_FORMAT_<name>`). */
  readonly name: keyof typeof DrmFormat;
  /** PLANE_CTL format field (27:24). */
  readonly hwFormat: number;
  /** `PLANE_CTL_ORDER_RGBX` required set (1), clear (0), or ignored (-1). */
  readonly rgbx: -1 | 0 | 1;
  /** `PLANE_CTL_ALPHA_MASK` required non-zero (1), zero (0), or ignored (-1). */
  readonly alpha: -1 | 0 | 1;
  /** `PLANE_CTL_YUV422_ORDER` required value, or -1 (not a YUV 4:2:2 format). */
  readonly yuvOrder: number;
  /** Bits per pixel. */
  readonly bpp: number;
  /** Pixel conversion of the read-out. */
  readonly decode: PixelDecode;
  /** GVT-g's description of the layout. */
  readonly desc: string;
}

const F = (name: keyof typeof DrmFormat, hwFormat: number, rgbx: -1 | 0 | 1, alpha: -1 | 0 | 1, yuvOrder: number, bpp: number, decode: PixelDecode, desc: string): PlaneFormatRow =>
  Object.freeze({ name, hwFormat, rgbx, alpha, yuvOrder, bpp, decode, desc });

/**
 * The formats GVT-g decodes on Skylake (`skl_pixel_formats[]`, in its order). Format field
 * values: `PLANE_CTL_FORMAT_YUV422` 0, `XRGB_2101010` 2, `XRGB_8888` 4, `INDEXED` 12, `RGB_565` 14.
 * Any other format field (NV12, P01x, FP16, XYUV) is refused, as GVT-g refuses it.
 */
export const PLANE_FORMATS: readonly PlaneFormatRow[] = Object.freeze([
  F('YUYV', 0, -1, -1, 0, 16, 'yuv422', '16-bit packed YUYV (8:8:8:8 MSB-V:Y2:U:Y1)'),
  F('UYVY', 0, -1, -1, 1, 16, 'yuv422', '16-bit packed UYVY (8:8:8:8 MSB-Y2:V:Y1:U)'),
  F('YVYU', 0, -1, -1, 2, 16, 'yuv422', '16-bit packed YVYU (8:8:8:8 MSB-U:Y2:V:Y1)'),
  F('VYUY', 0, -1, -1, 3, 16, 'yuv422', '16-bit packed VYUY (8:8:8:8 MSB-Y2:U:Y1:V)'),
  F('C8', 12, -1, -1, -1, 8, 'indexed', '8-bit indexed'),
  F('RGB565', 14, -1, -1, -1, 16, 'rgb565', '16-bit BGRX (5:6:5 MSB-R:G:B)'),
  F('ABGR8888', 4, 1, 1, -1, 32, 'abgr8888', '32-bit RGBA (8:8:8:8 MSB-A:B:G:R)'),
  F('XBGR8888', 4, 1, 0, -1, 32, 'xbgr8888', '32-bit RGBX (8:8:8:8 MSB-X:B:G:R)'),
  F('ARGB8888', 4, 0, 1, -1, 32, 'argb8888', '32-bit BGRA (8:8:8:8 MSB-A:R:G:B)'),
  F('XRGB8888', 4, 0, 0, -1, 32, 'xrgb8888', '32-bit BGRX (8:8:8:8 MSB-X:R:G:B)'),
  F('XBGR2101010', 2, 1, -1, -1, 32, 'xbgr2101010', '32-bit RGBX (2:10:10:10 MSB-X:B:G:R)'),
  F('XRGB2101010', 2, 0, -1, -1, 32, 'xrgb2101010', '32-bit BGRX (2:10:10:10 MSB-X:R:G:B)'),
]);

/** A tiling of PLANE_CTL (12:10) and what GVT-g derives from it. */
export interface PlaneTilingRow {
  readonly name: PlaneTiling;
  /** PLANE_CTL tiling field. */
  readonly field: number;
  /** DRM format modifier, high and low u32 halves (`DRM_FORMAT_MOD_LINEAR`, `I915_FORMAT_MOD_*_TILED`). */
  readonly modHi: number;
  readonly modLo: number;
  /** Bytes per unit of PLANE_STRIDE's field (`intel_vgpu_get_stride`). */
  readonly strideUnit: number;
  /** The same at 8 bits per pixel (Yf's 64-byte-wide tile). */
  readonly strideUnit8bpp: number;
  /** Rows the size is rounded to (`vgpu_get_plane_info`'s `tile_height`). */
  readonly tileHeight: number;
}

/** Plane tilings. */
export type PlaneTiling = 'linear' | 'X' | 'Y' | 'Yf';

/** The tilings GVT-g decodes on Skylake (`PLANE_CTL_TILED_LINEAR` 0, `_X` 1, `_Y` 4, `_YF` 5). */
export const PLANE_TILINGS: readonly PlaneTilingRow[] = Object.freeze([
  Object.freeze({ name: 'linear', field: 0, modHi: 0, modLo: 0, strideUnit: 64, strideUnit8bpp: 64, tileHeight: 1 }),
  Object.freeze({ name: 'X', field: 1, modHi: MOD_VENDOR_INTEL_HI, modLo: 1, strideUnit: 512, strideUnit8bpp: 512, tileHeight: 8 }),
  Object.freeze({ name: 'Y', field: 4, modHi: MOD_VENDOR_INTEL_HI, modLo: 2, strideUnit: 128, strideUnit8bpp: 128, tileHeight: 32 }),
  Object.freeze({ name: 'Yf', field: 5, modHi: MOD_VENDOR_INTEL_HI, modLo: 3, strideUnit: 128, strideUnit8bpp: 64, tileHeight: 32 }),
] as PlaneTilingRow[]);

/** A cursor mode (GVT-g `cursor_pixel_formats[]`, picked by `cursor_mode_to_drm`). */
export interface CursorModeRow {
  /** `CURCNTR & MCURSOR_MODE_MASK`. */
  readonly mode: number;
  readonly width: number;
  readonly height: number;
  readonly desc: string;
}

/**
 * The cursor modes GVT-g decodes: `MCURSOR_MODE_128_ARGB_AX` 0x22, `_256_ARGB_AX` 0x23,
 * `_64_ARGB_AX` 0x27, and `_64_32B_AX` 0x07, which GVT-g also reads as 64x64 ARGB. All are
 * 32 bpp ARGB8888, linear.
 */
export const CURSOR_MODES: readonly CursorModeRow[] = Object.freeze([
  Object.freeze({ mode: 0x22, width: 128, height: 128, desc: '128x128 32bpp ARGB' }),
  Object.freeze({ mode: 0x23, width: 256, height: 256, desc: '256x256 32bpp ARGB' }),
  Object.freeze({ mode: 0x27, width: 64, height: 64, desc: '64x64 32bpp ARGB' }),
  Object.freeze({ mode: 0x07, width: 64, height: 64, desc: '64x64 32bpp ARGB' }),
]);

// ------------------------------------------------------------------ decode

/** Which plane: the primary (plane 1), the sprites (planes 2 and 3; pipe C has only plane 2), the cursor. */
export type PlaneKind = 'primary' | 'sprite0' | 'sprite1' | 'cursor';
/** A pipe by its letter. */
export type PipeName = 'A' | 'B' | 'C';

/** Pipe letter → index. */
export const PIPE_INDEX: Readonly<Record<PipeName, number>> = Object.freeze({ A: 0, B: 1, C: 2 });
/** Plane kind → universal plane index (0 = plane 1), -1 for the cursor. */
const PLANE_INDEX: Readonly<Record<PlaneKind, number>> = Object.freeze({ primary: 0, sprite0: 1, sprite1: 2, cursor: -1 });

/** Pipe `pipe` has plane `kind` (every pipe a cursor; universal planes as `planesOf`: pipe C has no sprite1). */
export function pipeHasPlane(pipe: PipeName, kind: PlaneKind): boolean {
  return PLANE_INDEX[kind] < planesOf(PIPE_INDEX[pipe]);
}

/**
 * Why a plane does not decode (stable codes; GVT-g's errno in brackets):
 * - `pipe-disabled`: the pipe is not enabled [-ENODEV, "plane not ready"];
 * - `plane-disabled`: PLANE_CTL enable clear, or cursor mode disabled [-ENODEV];
 * - `bad-format`: a format field or cursor mode outside the tables [-EINVAL];
 * - `bad-tiling`: a tiling field outside `PLANE_TILINGS` (GVT-g logs it and goes on as linear);
 * - `bad-stride`: a stride of 0, or narrower than a line of the plane (gvtkit);
 * - `bad-size`: a zero size [-EINVAL];
 * - `outside-gm`: the surface is not inside the vGPU's graphics memory [-EINVAL, -EFAULT];
 * - `unmapped`: the surface's first page does not translate to the vGPU's memory [-EINVAL];
 * - `not-readable`: decoded, but the read-out cannot convert it (C8 needs the palette, untracked).
 */
export type PlaneFault =
  | 'pipe-disabled' | 'plane-disabled' | 'bad-format' | 'bad-tiling' | 'bad-stride' | 'bad-size'
  | 'outside-gm' | 'unmapped' | 'not-readable';

/** What a decode found: the fields of `struct vfio_device_gfx_plane_info`, and the surface. */
export interface PlaneInfo {
  readonly kind: PlaneKind;
  readonly pipe: PipeName;
  /** `drm_plane_type` (`DrmPlaneType`: 1 primary, 2 cursor, 0 overlay for the sprites). */
  readonly drmPlaneType: number;
  /** `drm_format`: DRM fourcc (`DrmFormat`). */
  readonly drmFormat: number;
  /** The format's DRM name (`XRGB8888`, ...). */
  readonly formatName: keyof typeof DrmFormat;
  /** `drm_format_mod`, as its high and low u32 halves (0/0 linear; Intel's: 0x01000000 and 1 X, 2 Y, 3 Yf). */
  readonly drmFormatModHi: number;
  readonly drmFormatModLo: number;
  /** The tiling the modifier names. */
  readonly tiling: PlaneTiling;
  /** Bits per pixel. */
  readonly bpp: number;
  /** Pixels (primary: PIPESRC, as GVT-g; sprites: PLANE_SIZE; cursor: its mode). */
  readonly width: number;
  readonly height: number;
  /** Bytes per line (`intel_vgpu_get_stride`; cursor: width × 4). */
  readonly stride: number;
  /** Bytes: stride × height rounded up to the tile height (GVT-g `vgpu_get_plane_info`). */
  readonly size: number;
  /**
   * Position on the pipe: the cursor's CURPOS with its sign bits applied (negative when the
   * cursor hangs off the top or left edge), a sprite's PLANE_POS, 0 for the primary.
   */
  readonly xPos: number;
  readonly yPos: number;
  /** Cursor hotspot (PVINFO `cursor_x_hot`/`cursor_y_hot`), `HOTSPOT_INVALID` when outside the cursor, 0 for other planes. */
  readonly xHot: number;
  readonly yHot: number;
  /** Scan-out start inside the surface (PLANE_OFFSET; `x_offset`/`y_offset` of GVT-g's primary decode), 0 for the cursor. */
  readonly xOffset: number;
  readonly yOffset: number;
  /** The surface's graphics address (PLANE_SURF or CURBASE, page-aligned): a GGTT address of the vGPU. */
  readonly gma: number;
  /** The raw PLANE_CTL (or CURCNTR) value. */
  readonly control: number;
  /** How the read-out converts a pixel. */
  readonly decode: PixelDecode;
}

/** A decode: the plane, or why not. */
export type PlaneResult =
  | { readonly ok: true; readonly info: PlaneInfo }
  | { readonly ok: false; readonly reason: PlaneFault; readonly detail: string };

/** What the decoder reads: the vGPU's registers and its graphics memory (`Vgpu` supplies it). */
export interface PlaneSource {
  /** The vGPU's register value at BAR0 `offset` (the PVINFO page included), as the guest last wrote it. */
  reg(offset: number): number;
  /** True when graphics memory [gma, gma + bytes) lies inside one of the vGPU's slices (`intel_gvt_ggtt_validate_range`). */
  ownsGma(gma: number, bytes: number): boolean;
  /** True when the page at `gma` translates to memory of the vGPU (not scratch, not another's). */
  mapped(gma: number): boolean;
}

/** True when PIPECONF enables `pipe`, or transcoder EDP runs enabled from it (GVT-g `pipe_is_enabled`). */
export function pipeEnabled(src: PlaneSource, pipe: number): boolean {
  if ((src.reg(pipeconf(pipe)) & PlaneBits.PIPECONF_ENABLE) !== 0) return true;
  if ((src.reg(DREG.PIPECONF_EDP) & PlaneBits.PIPECONF_ENABLE) === 0) return false;
  const ddi = src.reg(DREG.TRANS_DDI_FUNC_CTL_EDP);
  if ((ddi & PlaneBits.TRANS_DDI_FUNC_ENABLE) === 0) return false;
  // `get_edp_pipe`: TRANS_DDI_EDP_INPUT A_ON (0) and A_ONOFF (4) → A, B_ONOFF (5) → B, C_ONOFF (6) → C.
  const input = (ddi >>> PlaneBits.EDP_INPUT_SHIFT) & PlaneBits.EDP_INPUT_MASK;
  const edpPipe = input === 0 || input === 4 ? 0 : input === 5 ? 1 : input === 6 ? 2 : -1;
  return edpPipe === pipe;
}

/** The format row PLANE_CTL `ctl` selects (`skl_format_to_drm`), or undefined. */
export function planeFormatOf(ctl: number): PlaneFormatRow | undefined {
  const hw = (ctl >>> PlaneBits.FORMAT_SHIFT) & PlaneBits.FORMAT_MASK;
  const rgbx = (ctl & PlaneBits.ORDER_RGBX) !== 0 ? 1 : 0;
  const alpha = (ctl & PlaneBits.ALPHA_MASK) !== 0 ? 1 : 0;
  const yuv = (ctl >>> PlaneBits.YUV422_ORDER_SHIFT) & PlaneBits.YUV422_ORDER_MASK;
  for (const f of PLANE_FORMATS) {
    if (f.hwFormat !== hw) continue;
    if (f.rgbx >= 0 && f.rgbx !== rgbx) continue;
    if (f.alpha >= 0 && f.alpha !== alpha) continue;
    if (f.yuvOrder >= 0 && f.yuvOrder !== yuv) continue;
    return f;
  }
  return undefined;
}

/** The tiling row PLANE_CTL `ctl` selects, or undefined. */
export function planeTilingOf(ctl: number): PlaneTilingRow | undefined {
  const field = (ctl >>> PlaneBits.TILED_SHIFT) & PlaneBits.TILED_MASK;
  return PLANE_TILINGS.find((t) => t.field === field);
}

/** The tiling row of `name`. */
export function tilingRow(name: PlaneTiling): PlaneTilingRow {
  return PLANE_TILINGS.find((t) => t.name === name)!;
}

const fail = (reason: PlaneFault, detail: string): PlaneResult => ({ ok: false, reason, detail });

/**
 * Decode plane `kind` of `pipe` from the vGPU's registers (GVT-g `vgpu_get_plane_info`). Never
 * throws for register contents; `kind` and `pipe` must be valid (`Vgpu.queryPlane` checks them).
 */
export function decodePlane(src: PlaneSource, kind: PlaneKind, pipe: PipeName): PlaneResult {
  const p = PIPE_INDEX[pipe];
  // GVT-g decodes the first enabled pipe (`get_active_pipe`); the caller names one here.
  if (!pipeEnabled(src, p)) return fail('pipe-disabled', `pipe ${pipe} is not enabled`);
  if (kind === 'cursor') return decodeCursor(src, p, pipe);
  return decodeUniversal(src, p, pipe, kind);
}

function decodeUniversal(src: PlaneSource, p: number, pipe: PipeName, kind: PlaneKind): PlaneResult {
  const base = planeCtl(p, PLANE_INDEX[kind]);
  const ctl = src.reg(base + PlaneReg.CTL) >>> 0;
  const where = `pipe ${pipe} ${kind}`;
  if ((ctl & PlaneBits.PLANE_CTL_ENABLE) === 0) return fail('plane-disabled', `${where}: PLANE_CTL enable clear`);
  const fmt = planeFormatOf(ctl);
  if (fmt === undefined) {
    return fail('bad-format', `${where}: PLANE_CTL format ${(ctl >>> PlaneBits.FORMAT_SHIFT) & PlaneBits.FORMAT_MASK} is not one GVT-g decodes`);
  }
  const tiling = planeTilingOf(ctl);
  if (tiling === undefined) return fail('bad-tiling', `${where}: PLANE_CTL tiling ${(ctl >>> PlaneBits.TILED_SHIFT) & PlaneBits.TILED_MASK} is unknown`);
  const unit = fmt.bpp === 8 ? tiling.strideUnit8bpp : tiling.strideUnit;
  const stride = (src.reg(base + PlaneReg.STRIDE) & PlaneBits.STRIDE_MASK) * unit;
  let width: number, height: number, xPos = 0, yPos = 0;
  if (kind === 'primary') {
    // The pipe's source size (GVT-g's primary decode), not PLANE_SIZE.
    const srcsz = src.reg(transcoderBase(p) + TRANS.PIPESRC);
    width = ((srcsz >>> PlaneBits.PIPESRC_W_SHIFT) & PlaneBits.PIPESRC_W_MASK) + 1;
    height = (srcsz & PlaneBits.PIPESRC_H_MASK) + 1;
  } else {
    const size = src.reg(base + PlaneReg.SIZE);
    width = (size & PlaneBits.XY_X_MASK) + 1;
    height = ((size >>> PlaneBits.XY_Y_SHIFT) & PlaneBits.XY_Y_MASK) + 1;
    const pos = src.reg(base + PlaneReg.POS);
    xPos = pos & PlaneBits.XY_X_MASK;
    yPos = (pos >>> PlaneBits.XY_Y_SHIFT) & PlaneBits.XY_Y_MASK;
  }
  const off = src.reg(base + PlaneReg.OFFSET);
  const xOffset = off & PlaneBits.XY_X_MASK;
  const yOffset = (off >>> PlaneBits.XY_Y_SHIFT) & PlaneBits.XY_Y_MASK;
  const gma = (src.reg(base + PlaneReg.SURF) & ~0xfff) >>> 0;
  return finish(src, {
    kind, pipe, drmPlaneType: kind === 'primary' ? DrmPlaneType.PRIMARY : DrmPlaneType.OVERLAY,
    drmFormat: DrmFormat[fmt.name], formatName: fmt.name, drmFormatModHi: tiling.modHi, drmFormatModLo: tiling.modLo,
    tiling: tiling.name, bpp: fmt.bpp, width, height, stride, size: stride * roundUp(height, tiling.tileHeight),
    xPos, yPos, xHot: 0, yHot: 0, xOffset, yOffset, gma, control: ctl, decode: fmt.decode,
  }, tiling.tileHeight);
}

function decodeCursor(src: PlaneSource, p: number, pipe: PipeName): PlaneResult {
  const base = curcntr(p);
  const cntr = src.reg(base + CursorReg.CNTR) >>> 0;
  const mode = cntr & PlaneBits.MCURSOR_MODE_MASK;
  if (mode === 0) return fail('plane-disabled', `pipe ${pipe} cursor: CURCNTR mode disabled`);
  const row = CURSOR_MODES.find((c) => c.mode === mode);
  if (row === undefined) return fail('bad-format', `pipe ${pipe} cursor: CURCNTR mode 0x${mode.toString(16)} is not one GVT-g decodes`);
  const pos = src.reg(base + CursorReg.POS) >>> 0;
  const xMag = pos & PlaneBits.CURSOR_POS_X_MASK;
  const yMag = (pos >>> PlaneBits.CURSOR_POS_Y_SHIFT) & PlaneBits.CURSOR_POS_Y_MASK;
  const xPos = (pos & PlaneBits.CURSOR_SIGN_X) !== 0 ? -xMag : xMag;
  const yPos = (pos & PlaneBits.CURSOR_SIGN_Y) !== 0 ? -yMag : yMag;
  // `validate_hotspot`: a hotspot inside the cursor (edges included), else UINT_MAX.
  const xHotReg = src.reg(CURSOR_HOT_REG.x) >>> 0, yHotReg = src.reg(CURSOR_HOT_REG.y) >>> 0;
  const hotOk = xHotReg <= row.width && yHotReg <= row.height;
  const stride = row.width * 4;
  return finish(src, {
    kind: 'cursor', pipe, drmPlaneType: DrmPlaneType.CURSOR, drmFormat: DrmFormat.ARGB8888, formatName: 'ARGB8888',
    drmFormatModHi: 0, drmFormatModLo: 0, tiling: 'linear', bpp: 32, width: row.width, height: row.height,
    stride, size: stride * row.height, xPos, yPos,
    xHot: hotOk ? xHotReg : HOTSPOT_INVALID, yHot: hotOk ? yHotReg : HOTSPOT_INVALID,
    xOffset: 0, yOffset: 0, gma: (src.reg(base + CursorReg.BASE) & ~0xfff) >>> 0, control: cntr, decode: 'argb8888',
  }, 1);
}

/**
 * GVT-g's last checks (`vgpu_get_plane_info`), and gvtkit's on the lines: a stride that holds a
 * line of the plane from its x offset, a size that is not zero, the whole surface from the first
 * line it scans out (y offset included) to the last inside the vGPU's graphics memory, its first
 * page mapped.
 */
function finish(src: PlaneSource, info: PlaneInfo, tileHeight: number): PlaneResult {
  const where = `pipe ${info.pipe} ${info.kind}`;
  if (info.stride === 0) return fail('bad-stride', `${where}: stride 0`);
  const line = ((info.xOffset + info.width) * info.bpp) / 8;
  if (line > info.stride) return fail('bad-stride', `${where}: a line of ${line} bytes from x offset ${info.xOffset} does not fit the stride of ${info.stride}`);
  if (info.size === 0) return fail('bad-size', `${where}: size 0`);
  const span = scanSpan(info, tileHeight);
  if (!src.ownsGma(info.gma, span)) {
    return fail('outside-gm', `${where}: surface 0x${info.gma.toString(16)} + 0x${span.toString(16)} is not inside the vGPU's graphics memory`);
  }
  if (!src.mapped(info.gma)) return fail('unmapped', `${where}: surface 0x${info.gma.toString(16)} does not translate to the vGPU's memory`);
  return { ok: true, info };
}

/** Bytes from the surface's address that a scan-out of `info` reaches (the y offset's lines included). */
export function scanSpan(info: PlaneInfo, tileHeight = tilingRow(info.tiling).tileHeight): number {
  return info.stride * roundUp(info.yOffset + info.height, tileHeight);
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** Pipes this decoder knows (A, B, C). */
export const PLANE_PIPES: readonly PipeName[] = Object.freeze((['A', 'B', 'C'] as PipeName[]).slice(0, PIPES));
/** Plane kinds this decoder knows. */
export const PLANE_KINDS: readonly PlaneKind[] = Object.freeze(['primary', 'sprite0', 'sprite1', 'cursor'] as PlaneKind[]);
