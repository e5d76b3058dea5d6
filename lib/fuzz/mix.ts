/**
 * `mix32`: a 32-bit mix of two numbers, for deterministic seeds and planted values. Its own
 * module so that the world and the oracles it runs can both use it without an import cycle.
 */

/** A 32-bit mix of two numbers (deterministic seeds and values). */
export function mix32(a: number, b: number): number {
  let h = Math.imul((a ^ 0x9e3779b9) >>> 0, 0x85ebca6b) ^ Math.imul((b + 0x7f4a7c15) >>> 0, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}
