/**
 * What the simulator's guests show on their monitors, drawn the way a guest without a 3D
 * renderer draws: XY_COLOR_BLT rectangles on the blitter, into the scanout buffer that is not
 * shown, then a flip.
 *
 * The screen of a guest: a background in the guest's colour (derived from its name), a panel at
 * the top with lines of text (its name, its counter) in the 5x7 font (`font.ts`), scaled to the
 * monitor's mode, and for a game a scene of bars that move with the frame number. A full draw
 * clears the whole buffer; a panel draw clears and redraws the panel only (a buffer is fully
 * drawn the first time it is used, so both buffers hold the same background).
 *
 * `screenLayout` is a pure function of the mode and the number of lines: tests derive the
 * expected pixels of a picture from it and the font table.
 */
import { miBatchBufferEnd, miFlushDw, miNoop, PostSyncOp, xyColorBlt } from '../device/commands/index.js';
import type { GuestScreen, ScanoutBuffer } from '../harness/index.js';
import { FONT_ADVANCE, FONT_LINE, textRects, type PixelRect } from './font.js';

/** Where things go on a screen of width × height with `lines` lines of text. */
export interface ScreenLayout {
  readonly width: number;
  readonly height: number;
  /** Pixels per font dot. */
  readonly scale: number;
  /** The panel behind the text. */
  readonly panel: Readonly<PixelRect>;
  /** Top-left of text line 0; line i is `lineHeight` · i below. */
  readonly textX: number;
  readonly textY: number;
  readonly lineHeight: number;
  /** The area the game scene's bars move in (below the panel). */
  readonly scene: Readonly<PixelRect>;
}

/** Characters a line is laid out for (longer lines are cut). */
export const LINE_CHARS = 20;

/**
 * The layout of a `width` × `height` screen with `lines` lines: a scale of whole pixels per dot
 * fitting `LINE_CHARS` characters across and about eight lines down, a margin and a padding of
 * two dots, the scene below the panel.
 */
export function screenLayout(width: number, height: number, lines: number): ScreenLayout {
  const scale = Math.max(1, Math.min(Math.floor(width / (FONT_ADVANCE * (LINE_CHARS + 2))), Math.floor(height / (FONT_LINE * 8))));
  const margin = 2 * scale, pad = 2 * scale, lineHeight = FONT_LINE * scale;
  const panel = { x: margin, y: margin, w: Math.max(1, width - 2 * margin), h: Math.min(height - margin, 2 * pad + lines * lineHeight - scale) };
  const sceneY = panel.y + panel.h + margin;
  return {
    width, height, scale, panel, textX: panel.x + pad, textY: panel.y + pad, lineHeight,
    scene: { x: margin, y: sceneY, w: Math.max(0, width - 2 * margin), h: Math.max(0, height - margin - sceneY) },
  };
}

/** Colours (XRGB8888 dwords; the X byte written as 0xff) of a guest's screen, from its name. */
export interface ScreenColors {
  readonly background: number;
  readonly panel: number;
  readonly text: number;
  readonly bars: readonly number[];
}

/** FNV-1a of a string (the colour seed of a name). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** An RGB colour from hue (0..359), saturation and value (0..1), as 0xffRRGGBB. */
function hsv(h: number, s: number, v: number): number {
  const c = v * s, x = c * (1 - Math.abs(((h / 60) % 2) - 1)), m = v - c;
  const [r, g, b] = h < 60 ? [c, x, 0] : h < 120 ? [x, c, 0] : h < 180 ? [0, c, x] : h < 240 ? [0, x, c] : h < 300 ? [x, 0, c] : [c, 0, x];
  const byte = (f: number): number => Math.round((f + m) * 255);
  return ((0xff << 24) | (byte(r) << 16) | (byte(g) << 8) | byte(b)) >>> 0;
}

/** The colours of guest `name`: a hue from its name, a dark background, a darker panel, white text. */
export function screenColors(name: string): ScreenColors {
  const hue = fnv1a(name) % 360;
  return {
    background: hsv(hue, 0.55, 0.35),
    panel: hsv(hue, 0.6, 0.15),
    text: 0xffffffff,
    bars: [0, 1, 2, 3, 4, 5].map((i) => hsv((hue + 60 * i) % 360, 0.7, 0.9)),
  };
}

/** A drawing request: the lines of the panel, and for a game the frame number its scene shows. */
export interface ScreenDraw {
  readonly lines: readonly string[];
  /** Draw the game scene for this frame (bars placed by the frame number). */
  readonly sceneFrame?: number;
  /** Clear the whole buffer first (else the panel only; a buffer never drawn is cleared whole anyway). */
  readonly full?: boolean;
  /** More rectangles to fill after the scene, before the panel (a desktop's damage). */
  readonly rects?: readonly { readonly rect: PixelRect; readonly color: number }[];
  /** MI_FLUSH_DW post-sync write of `fenceValue` at `fence` (a PPGTT address) after drawing. */
  readonly fence: number;
  readonly fenceValue: number;
}

/** Draws one guest's screens into its scanout buffers (blitter batches in its PPGTT). */
export class ScreenPainter {
  readonly screen: GuestScreen;
  readonly layout: ScreenLayout;
  readonly colors: ScreenColors;
  /** Buffers drawn whole at least once. */
  private readonly painted: boolean[];
  /** Per buffer, an XY_COLOR_BLT into it (7 dwords); each rectangle copies it and sets corners and colour. */
  private readonly templates: Uint32Array[];
  /** The batch being built (grown as needed, reused). */
  private out = new Uint32Array(1024);
  private n = 0;

  constructor(screen: GuestScreen, name: string, lines: number) {
    this.screen = screen;
    this.layout = screenLayout(screen.mode.width, screen.mode.height, lines);
    this.colors = screenColors(name);
    this.painted = screen.buffers.map(() => false);
    this.templates = screen.buffers.map((b) => Uint32Array.from(xyColorBlt({ dstAddress: b.ppgttGma, dstPitch: b.stride, dst: { x1: 0, y1: 0, x2: 1, y2: 1 }, color: 0 })));
  }

  /** Append `k` dwords' room; returns where they start. */
  private room(k: number): number {
    if (this.n + k > this.out.length) {
      const next = new Uint32Array(Math.max(this.out.length * 2, this.n + k));
      next.set(this.out.subarray(0, this.n));
      this.out = next;
    }
    const at = this.n;
    this.n += k;
    return at;
  }

  /** Index of the buffer to draw the next frame into (the one after the shown one). */
  get backIndex(): number {
    return (this.screen.front + 1) % this.screen.buffers.length;
  }

  /** The blitter batch that draws `d` into buffer `index` (ends with MI_BATCH_BUFFER_END). */
  batch(index: number, d: ScreenDraw): Uint32Array {
    const L = this.layout, C = this.colors;
    const tpl = this.templates[index];
    this.n = 0;
    const fill = (r: Readonly<PixelRect>, color: number): void => {
      const x1 = Math.max(0, r.x), y1 = Math.max(0, r.y);
      const x2 = Math.min(L.width, r.x + r.w), y2 = Math.min(L.height, r.y + r.h);
      if (x2 <= x1 || y2 <= y1) return;
      const at = this.room(tpl.length);
      const o = this.out;
      o.set(tpl, at);
      o[at + 2] = ((y1 << 16) | x1) >>> 0;
      o[at + 3] = ((y2 << 16) | x2) >>> 0;
      o[at + 6] = color >>> 0;
    };
    const full = d.full || !this.painted[index];
    if (full) {
      fill({ x: 0, y: 0, w: L.width, h: L.height }, C.background);
      this.painted[index] = true;
    }
    if (d.sceneFrame !== undefined) {
      if (!full) fill(L.scene, C.background);
      this.scene(fill, d.sceneFrame);
    }
    for (const r of d.rects ?? []) fill(r.rect, r.color);
    fill(L.panel, C.panel);
    d.lines.forEach((line, i) => {
      for (const r of textRects(line.slice(0, LINE_CHARS), L.textX, L.textY + i * L.lineHeight, L.scale)) fill(r, C.text);
    });
    const tail = [...miFlushDw({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: d.fence, data: d.fenceValue }), ...miBatchBufferEnd()];
    if ((this.n + tail.length) % 2) tail.push(...miNoop());
    this.out.set(tail, this.room(tail.length));
    return this.out.slice(0, this.n);
  }

  /** The game scene of frame `n`: six bars sweeping across the scene at their own speeds. */
  private scene(fill: (r: Readonly<PixelRect>, color: number) => void, n: number): void {
    const S = this.layout.scene, bars = this.colors.bars;
    if (S.w <= 0 || S.h <= 0) return;
    const bw = Math.max(1, Math.floor(S.w / 16)), bh = Math.max(1, Math.floor(S.h / bars.length));
    const span = Math.max(1, S.w - bw);
    for (let i = 0; i < bars.length; i++) {
      // A triangle wave: the bar goes right, then back left.
      const t = ((n * (i + 2) * 4) + i * 97) % (2 * span);
      const x = S.x + (t < span ? t : 2 * span - t);
      fill({ x, y: S.y + i * bh, w: bw, h: bh }, bars[i]);
    }
  }

  /** Flip to buffer `index` (a PLANE_SURF write). */
  flip(index: number): void {
    this.screen.flip(index);
  }

  /** The buffer at `index`. */
  buffer(index: number): ScanoutBuffer {
    return this.screen.buffers[index];
  }
}

