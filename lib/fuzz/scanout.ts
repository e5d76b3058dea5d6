/**
 * The scan-out check of the fuzz world (issue 16): what an attacker's planes show, read out as
 * QEMU's display would (`Vgpu.readFramebuffer`, lib/display/framebuffer.ts, GVT-g `dmabuf.c`),
 * must never contain the victim's canary pages.
 *
 * A canary leak is looked for as two consecutive canary dwords (i, i + 1) in two neighbouring
 * pixels, compared on their low 24 bits (R, G, B after the reader's conversion): that finds them
 * whichever of the 8:8:8:8 formats the plane uses (X formats force alpha; the BGR and RGB orders
 * swap bytes 0 and 2), with a false-positive rate near 2^-40 per pixel. Every tiling keeps
 * 16-byte runs contiguous, so a leaked page shows such pairs in any layout. Formats that convert
 * (2:10:10:10, 5:6:5, YUV) are not looked at.
 */
import { PLANE_KINDS, PLANE_PIPES, pipeHasPlane, type PlaneKind, type PipeName } from '../display/index.js';
import type { Vgpu } from '../mediator/vgpu.js';

/** Pixels a world check reads out at most per plane (larger planes are decoded, not read: the attack corpus reads those). */
export const SCANOUT_MAX_PIXELS = 1 << 21;

/** The pixel formats whose 24 colour bits keep the memory's bytes (possibly R/B swapped). */
const EXACT_DECODES = new Set(['xrgb8888', 'argb8888', 'xbgr8888', 'abgr8888']);

const swapRB = (w: number): number => ((w & 0xff00ff00) | ((w >>> 16) & 0xff) | ((w & 0xff) << 16)) >>> 0;

/** Finds a sequence of canary dwords in read-out pixels (see the module comment). */
export class CanaryScanner {
  private readonly words: Uint32Array;
  /** Low 24 bits of canary word i, as an xBGR pixel (memory order) and as an xRGB one (R/B swapped) → i + 1. */
  private readonly bgr = new Map<number, number>();
  private readonly rgb = new Map<number, number>();

  constructor(words: Uint32Array) {
    this.words = words;
    for (let i = 0; i + 1 < words.length; i++) {
      this.bgr.set(words[i] & 0xffffff, i + 1);
      this.rgb.set(swapRB(words[i]) & 0xffffff, i + 1);
    }
  }

  /** Pixels of `rgba` (RGBA8) that start a pair of consecutive canary dwords. */
  hits(rgba: Uint8Array): number {
    const px = new Uint32Array(rgba.buffer, rgba.byteOffset, rgba.length >>> 2);
    const w = this.words;
    let n = 0;
    for (let x = 0; x + 1 < px.length; x++) {
      const p = px[x] & 0xffffff;
      if (p === 0) continue;
      const a = this.bgr.get(p);
      if (a !== undefined && (px[x + 1] & 0xffffff) === (w[a] & 0xffffff)) n++;
      const b = this.rgb.get(p);
      if (b !== undefined && (px[x + 1] & 0xffffff) === (swapRB(w[b]) & 0xffffff)) n++;
    }
    return n;
  }
}

/** One plane that showed canary words. */
export interface ScanoutLeak {
  readonly kind: PlaneKind;
  readonly pipe: PipeName;
  readonly hits: number;
  readonly gma: number;
}

/**
 * Read out every plane of `v` that decodes to a readable 8:8:8:8 surface of at most
 * `SCANOUT_MAX_PIXELS` pixels and report those that show canary pairs. Returns also how many
 * planes were read (for coverage).
 */
export function scanForCanaries(v: Vgpu, scanner: CanaryScanner): { leaks: ScanoutLeak[]; read: number } {
  const leaks: ScanoutLeak[] = [];
  let read = 0;
  for (const pipe of PLANE_PIPES) {
    for (const kind of PLANE_KINDS) {
      if (!pipeHasPlane(pipe, kind)) continue;
      const q = v.queryPlane(kind, pipe);
      if (!q.ok || !EXACT_DECODES.has(q.info.decode) || q.info.width * q.info.height > SCANOUT_MAX_PIXELS) continue;
      const r = v.readFramebuffer(kind, pipe);
      if (!r.ok) continue;
      read++;
      const hits = scanner.hits(r.rgba);
      if (hits > 0) leaks.push({ kind, pipe, hits, gma: q.info.gma });
    }
  }
  return { leaks, read };
}
