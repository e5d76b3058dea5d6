/**
 * `npm run bench [-- --json] [--filter PREFIX] [--check]`: runs every case of every bench module
 * with benchmark.js, operation and baseline interleaved in the same process.
 */
import Benchmark from 'benchmark';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchCase, BenchModule, BenchResult } from './harness.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const check = args.includes('--check');
const fi = args.indexOf('--filter');
const filter = fi >= 0 ? args[fi + 1] ?? '' : '';
const maxTime = Number(process.env.GVTKIT_BENCH_SECONDS ?? '1');

function hz(fn: () => void): number {
  const b = new Benchmark({ fn, maxTime, minSamples: 5, initCount: 1 });
  b.run({ async: false });
  if (b.error) throw b.error;
  return b.hz;
}

async function main(): Promise<void> {
  const here = dirname(fileURLToPath(import.meta.url));
  const files = readdirSync(here).filter((f) => f.endsWith('.bench.js')).sort();
  const cases: BenchCase[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(here, f)).href)) as BenchModule;
    for (const c of mod.cases()) if (c.name.startsWith(filter)) cases.push(c);
  }
  const out: Record<string, BenchResult> = {};
  let failed = 0;
  for (const c of cases) {
    let ops: number, baseline: number;
    if (c.selfRatio) {
      ({ ops, baseline } = c.selfRatio());
    } else {
      baseline = hz(c.baseline) * (c.baselineUnitsPerCall ?? c.unitsPerCall);
      ops = hz(c.fn) * c.unitsPerCall;
    }
    const ratio = c.selfRatio ? ops : ops / baseline;
    out[c.name] = { ops: round(ops), baseline: round(baseline), ratio: round(ratio) };
    const ok = c.target === undefined || ratio >= c.target;
    if (!ok) failed++;
    if (!json) {
      console.log(
        `${c.name.padEnd(18)} ${fmt(ops).padStart(12)} ${c.unit}/s   baseline ${fmt(baseline).padStart(12)} ${c.unit}/s   ratio ${ratio.toFixed(3)}` +
          (c.target !== undefined ? `   target >= ${c.target} ${ok ? 'ok' : 'MISSED'}` : ''),
      );
    }
  }
  if (json) console.log(JSON.stringify(out));
  if (check && failed) process.exitCode = 1;
}

function round(n: number): number {
  return Number(n.toPrecision(6));
}
function fmt(n: number): string {
  return n >= 1e6 ? (n / 1e6).toFixed(2) + 'M' : n >= 1e3 ? (n / 1e3).toFixed(2) + 'k' : n.toFixed(2);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 2;
});
