/**
 * PNG encoding of read-out pixels (RGBA8, as `readFramebuffer` returns them), with `fast-png`
 * (image-js; pure JavaScript over fflate, no native code, no install scripts).
 */
import { decode, encode } from 'fast-png';
import { RangeArgError } from '../errors.js';

/** An RGBA8 image: `rgba` holds width × height × 4 bytes, rows top to bottom, each pixel R, G, B, A. */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly rgba: Uint8Array;
}

/** Encode an RGBA8 image as PNG (8 bits per channel, 4 channels). */
export function encodePng(image: RgbaImage): Uint8Array {
  const { width, height, rgba } = image;
  if (!(Number.isSafeInteger(width) && width > 0 && Number.isSafeInteger(height) && height > 0)) {
    throw new RangeArgError(`encodePng: width and height must be positive integers, got ${width}x${height}`);
  }
  if (!(rgba instanceof Uint8Array) || rgba.length !== width * height * 4) {
    throw new RangeArgError(`encodePng rgba: expected a Uint8Array of ${width * height * 4} bytes (${width}x${height} RGBA)`);
  }
  return encode({ width, height, data: rgba, channels: 4, depth: 8 });
}

/**
 * Decode a PNG into RGBA8 (for tools and tests): 8-bit grey, grey + alpha, RGB and RGBA images
 * (the ones `encodePng` and common tools write); other depths and palettes throw `RangeArgError`.
 */
export function decodePng(png: Uint8Array): RgbaImage {
  const img = decode(png);
  if (img.depth !== 8 || img.palette !== undefined) throw new RangeArgError(`decodePng: ${img.depth}-bit${img.palette ? ' palette' : ''} images are not supported`);
  const n = img.width * img.height, src = img.data, ch = img.channels;
  if (ch === 4) return { width: img.width, height: img.height, rgba: Uint8Array.from(src) };
  const rgba = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    const s = i * ch, d = i * 4;
    if (ch >= 3) {
      rgba[d] = src[s]; rgba[d + 1] = src[s + 1]; rgba[d + 2] = src[s + 2];
    } else {
      rgba[d] = rgba[d + 1] = rgba[d + 2] = src[s];
    }
    rgba[d + 3] = ch === 2 ? src[s + 1] : 0xff;
  }
  return { width: img.width, height: img.height, rgba };
}
