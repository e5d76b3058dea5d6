/**
 * The benchmark contract shared by every area: each case measures an operation and its raw
 * baseline in the same run; the figure that matters is `ratio = ops / baseline`, the fraction of
 * raw speed kept, comparable across noisy machines.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One benchmark case. */
export interface BenchCase {
  /** Dotted name, e.g. `mmio.dispatch`. */
  name: string;
  /** What one call of `fn` and `baseline` measures (e.g. 'MiB', 'accesses'). */
  unit: string;
  /** Units of work done by one call of `fn` (and of `baseline`): ops = hz × unitsPerCall. */
  unitsPerCall: number;
  /** Units per call of the baseline when it differs from `unitsPerCall`. */
  baselineUnitsPerCall?: number;
  /** The operation under test. */
  fn: () => void;
  /** The raw operation it is compared with. */
  baseline: () => void;
  /** Target for `ratio` (reported, checked by `--check`). */
  target?: number;
  /** For cases whose ratio is the figure itself (no raw baseline), set true and return the figure. */
  selfRatio?: () => { ops: number; baseline: number };
}

/** A module of benchmarks: `bench/<area>.bench.ts` exports `cases`. */
export type BenchModule = { cases: () => BenchCase[] };

/** A result line. */
export interface BenchResult {
  ops: number;
  baseline: number;
  ratio: number;
}

/** A command-stream fixture of fixtures/streams/ as little-endian dwords (from dist/bench/). */
export function loadFixture(name: string): Uint32Array {
  // Compiled to dist/bench/: the fixtures sit two levels up.
  const here = dirname(fileURLToPath(import.meta.url));
  const bytes = readFileSync(join(here, '..', '..', 'fixtures', 'streams', name));
  const dwords = new Uint32Array(bytes.length >>> 2);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let k = 0; k < dwords.length; k++) dwords[k] = view.getUint32(k * 4, true);
  return dwords;
}
