/**
 * `gvtkit sim`: run a scenario file (N vGPUs with workloads, a mediator design and a scheduler)
 * and report performance, isolation and host cost.
 *
 *   gvtkit sim SCENARIO.json [--mode passthrough|mediated|sriov|emulated|all] [--duration MS] [--seed N]
 *                            [--json] [--out DIR] [--no-files] [--no-native] [--screens-every MS]
 *   gvtkit sim --sweep SCENARIO.json... [--mode M|all] [--duration MS] [--json] [--out DIR] [--no-files]
 *
 * One run prints a table (or the result JSON with `--json`) and writes `share.svg`, `latency.svg`,
 * `partition.svg`, `trace.json` (Chrome/Perfetto) and `result.json` to the output directory
 * (default `./gvtkit-out/`), and each guest's screen as `screens/<guest>.png` (plane 1 of pipe A
 * read out at the end; with `--screens-every MS` or the scenario's `screensEveryMs` also
 * `screens/<guest>-<ms>ms.png` every MS of simulated time). `--mode all` runs every design and adds a side-by-side comparison
 * (one subdirectory per design, `comparison.svg`, `comparison.json`). `--sweep` runs each file
 * (e.g. `fixtures/scenarios/scale-*.json`) under each design, the mediated ones without and with
 * gScale, and prints where each falls under 80% of native (`sweep.svg`, `sweep.json`). "% of native" compares each guest with itself alone in
 * passthrough mode over the same duration, measured first in the same invocation.
 *
 * The JSON is a pure function of the scenario and options (same seed, same bytes); the host time
 * taken is printed apart from it. A progress bar appears on a TTY stderr when a run takes more
 * than a second.
 */
import { join, relative } from 'node:path';
import { exposedGc, measureIdleVgpus, type IdleCost } from '../sim/memory.js';
import { performance } from 'node:perf_hooks';
import { GvtError } from '../errors.js';
import type { MediationMode } from '../mediator/mediator.js';
import { MODES, parseScenario, type Scenario } from '../sim/scenario.js';
import { NativeCache, simulate, type SimResult } from '../sim/runner.js';
import { firstUnder, formatComparison, formatRun, formatSweep, type Design, type SweepRow } from '../sim/report.js';
import { renderBarsSvg, renderLatencySvg, renderShareSvg, renderSweepLinesSvg } from '../sim/svg.js';
import { ProgressBar, type ProgressStream } from '../sim/progress.js';

/** Output channels of the command. `progress` and `now` default to stderr and the host clock. */
export interface SimIo {
  out: (s: string) => void;
  err: (s: string) => void;
  readFile: (path: string) => Uint8Array;
  writeFile: (path: string, data: string | Uint8Array) => void;
  progress?: ProgressStream;
  now?: () => number;
  /** Peak resident memory of the process in bytes (default `process.resourceUsage().maxRSS`). */
  peakRss?: () => number;
  /** The idle-vGPU measurement printed after a sweep (default `measureIdleVgpus`). */
  idleCost?: () => IdleCost;
}


const USAGE = [
  'usage: gvtkit sim SCENARIO.json [--mode passthrough|mediated|sriov|emulated|all] [--duration MS] [--seed N]',
  '                                [--json] [--out DIR] [--no-files] [--no-native] [--screens-every MS]',
  '       gvtkit sim --sweep SCENARIO.json... [--mode MODE|all] [--duration MS] [--json] [--out DIR] [--no-files]',
].join('\n');

/** The sweep's threshold of "% of native". */
const THRESHOLD = 0.8;

interface Args {
  files: string[];
  mode: MediationMode | 'all' | null;
  durationMs?: number;
  seed?: number;
  json: boolean;
  out: string;
  files_: boolean;
  native: boolean;
  sweep: boolean;
  /** `--screens-every MS` (undefined: the scenario's `screensEveryMs`). */
  screensEveryMs?: number;
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Args {
  const a: Args = { files: [], mode: null, json: false, out: 'gvtkit-out', files_: true, native: true, sweep: false };
  const value = (flag: string, v: string | undefined): string => {
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} expects a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    switch (x) {
      case '--mode': {
        const m = value(x, argv[++i]);
        if (m !== 'all' && !(MODES as readonly string[]).includes(m)) throw new UsageError(`--mode: unknown mode '${m}' (known: ${MODES.join(', ')}, all)`);
        a.mode = m as MediationMode | 'all';
        break;
      }
      case '--duration': {
        const n = Number(value(x, argv[++i]));
        if (!(n > 0 && n <= 600_000)) throw new UsageError(`--duration expects milliseconds in (0, 600000], got ${argv[i]}`);
        a.durationMs = n;
        break;
      }
      case '--seed': {
        const n = Number(value(x, argv[++i]));
        if (!(Number.isInteger(n) && n >= 0 && n <= 0xffffffff)) throw new UsageError(`--seed expects an integer in [0, 2^32), got ${argv[i]}`);
        a.seed = n;
        break;
      }
      case '--out':
        a.out = value(x, argv[++i]);
        break;
      case '--screens-every': {
        const n = Number(value(x, argv[++i]));
        if (!(n >= 0 && n <= 600_000)) throw new UsageError(`--screens-every expects milliseconds in [0, 600000] (0: only at the end), got ${argv[i]}`);
        a.screensEveryMs = n;
        break;
      }
      case '--json':
        a.json = true;
        break;
      case '--no-files':
        a.files_ = false;
        break;
      case '--no-native':
        a.native = false;
        break;
      case '--sweep':
        a.sweep = true;
        break;
      default:
        if (x.startsWith('--')) throw new UsageError(`unknown option ${x}`);
        a.files.push(x);
    }
  }
  if (a.files.length === 0) throw new UsageError('no scenario file');
  if (!a.sweep && a.files.length > 1) throw new UsageError('one scenario file (or --sweep with several)');
  return a;
}

function designsOf(mode: MediationMode | 'all' | null, sc: Scenario): Design[] {
  if (mode === 'all') return MODES.map((m) => ({ label: m, mode: m }));
  const m = mode ?? sc.mediator.mode;
  return [{ label: m, mode: m }];
}

/**
 * The designs of a sweep: those of `designsOf`, each mediated or emulated one twice, without and
 * with gScale (`<mode>+gscale`), whatever the scenario says.
 */
function sweepDesignsOf(mode: MediationMode | 'all' | null, sc: Scenario): Design[] {
  return designsOf(mode, sc).flatMap((d): Design[] => d.mode === 'mediated' || d.mode === 'emulated'
    ? [{ ...d, mediator: { gscale: false } }, { label: `${d.label}+gscale`, mode: d.mode, mediator: { gscale: true } }]
    : [d]);
}

function loadScenario(io: SimIo, path: string, a: Args): Scenario {
  let text: string;
  try {
    text = new TextDecoder().decode(io.readFile(path));
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
  const sc = parseScenario(text, path);
  if (a.seed !== undefined) sc.seed = a.seed;
  return sc;
}

/**
 * The worst guest's % of native over every vGPU requested, 0 when one was not created (null
 * without baselines): the figure the 80% threshold is about. (A mean would hide the difference
 * between 7 guests at full speed beside 8 not created and 15 at half speed.)
 */
function requestedMin(r: SimResult): number | null {
  if (r.totals.meanPctNative === null) return null;
  return r.vgpus.reduce((m, v) => Math.min(m, v.created ? v.pctNative ?? 0 : 0), Infinity);
}

/** JSON with a trailing newline (key order is the order the runner builds objects in: stable). */
function json(x: unknown): string {
  return JSON.stringify(x, null, 2) + '\n';
}

/** Entry point of `gvtkit sim`. Returns the exit code (0 ok, 2 usage or scenario error). */
export async function simCommand(argv: string[], io: SimIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(USAGE);
    return 0;
  }
  let a: Args;
  try {
    a = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`gvtkit sim: ${e.message}`);
      io.err(USAGE);
      return 2;
    }
    throw e;
  }
  const now = io.now ?? ((): number => performance.now());
  const bar = new ProgressBar(io.progress ?? process.stderr, now);
  const t0 = now();
  const note = (s: string): void => (a.json ? io.err(s) : io.out(s));
  const written: string[] = [];
  const write = (name: string, data: string | Uint8Array): void => {
    if (!a.files_) return;
    const p = join(a.out, name);
    io.writeFile(p, data);
    written.push(p);
  };
  try {
    const cache = new NativeCache();
    if (a.sweep) {
      const scenarios = a.files.map((f) => loadScenario(io, f, a));
      const designs = sweepDesignsOf(a.mode, scenarios[0]);
      const rows: SweepRow[] = [];
      scenarios.forEach((sc, si) => {
        const runs = designs.map((d) => simulate(sc, {
          mode: d.mode, mediator: d.mediator, durationMs: a.durationMs, cache, trace: false, noNative: !a.native,
          onNativeProgress: (name, done, total) => bar.update(done / total, `${sc.name} (${si + 1}/${scenarios.length}): ${name} alone (native)`),
          onProgress: (done, total) => bar.update(done / total, `${sc.name} (${si + 1}/${scenarios.length}): ${d.label}`),
        }).result);
        rows.push({ file: a.files[si], scenario: sc.name, requested: sc.vgpus.length, runs });
      });
      bar.done();
      rows.sort((x, y) => x.requested - y.requested);
      const labels = designs.map((d) => d.label);
      const doc = {
        designs: labels,
        threshold: THRESHOLD,
        rows: rows.map((r) => ({ file: r.file, scenario: r.scenario, requested: r.requested, runs: r.runs.map(({ timeline: _t, ...rest }) => rest) })),
        fallsUnder: Object.fromEntries(labels.map((l, di) => [l, firstUnder(rows, di, THRESHOLD)?.requested ?? null])),
      };
      if (a.json) io.out(json(doc).trimEnd());
      else for (const line of formatSweep(labels, rows, THRESHOLD)) io.out(line);
      write('sweep.json', json(doc));
      write('sweep.svg', renderSweepLinesSvg(rows.map((r) => r.requested), labels, rows.map((r) => r.runs.map((x) => requestedMin(x))), {
        title: 'Scaling: the worst guest\'s % of native (0 when one could not be created)', yLabel: '% of native', reference: THRESHOLD, max: 1.1,
      }));
    } else {
      const sc = loadScenario(io, a.files[0], a);
      const designs = designsOf(a.mode, sc);
      const results: SimResult[] = [];
      designs.forEach((d, di) => {
        const { result, artifacts } = simulate(sc, {
          mode: d.mode, mediator: d.mediator, durationMs: a.durationMs, cache, noNative: !a.native,
          screens: a.files_ ? { everyMs: a.screensEveryMs ?? sc.screensEveryMs } : undefined,
          onNativeProgress: (name, done, total) => bar.update(done / total, `${name} alone (native baseline)`),
          onProgress: (done, total) => bar.update(done / total, designs.length > 1 ? `${d.label} (${di + 1}/${designs.length})` : d.label),
        });
        results.push(result);
        const dir = designs.length > 1 ? `${d.label}/` : '';
        write(`${dir}share.svg`, renderShareSvg(result.timeline, `${sc.name} (${d.label}): GPU share over time, ${sc.sampleMs} ms samples`));
        write(`${dir}latency.svg`, renderLatencySvg(artifacts.latencies, `${sc.name} (${d.label}): workload latency, CDF`));
        write(`${dir}partition.svg`, artifacts.partitionSvg);
        write(`${dir}trace.json`, artifacts.trace);
        write(`${dir}result.json`, json(result));
        const msDigits = String(Math.round(a.durationMs ?? sc.durationMs)).length;
        for (const shot of artifacts.screens) {
          if (!shot.png) {
            note(`${shot.name}: no screen at ${shot.atMs} ms (${shot.error})`);
            continue;
          }
          const at = shot.final ? '' : `-${String(Math.round(shot.atMs)).padStart(msDigits, '0')}ms`;
          write(`${dir}screens/${shot.name.replace(/[^A-Za-z0-9._-]/g, "_")}${at}.png`, shot.png);
        }
      });
      bar.done();
      const labels = designs.map((d) => d.label);
      if (designs.length === 1) {
        if (a.json) io.out(json(results[0]).trimEnd());
        else for (const line of formatRun(results[0])) io.out(line);
      } else {
        const doc = { scenario: sc.name, designs: labels, runs: results };
        if (a.json) io.out(json(doc).trimEnd());
        else {
          for (const line of formatComparison(labels, results)) io.out(line);
        }
        write('comparison.json', json(doc));
        write('comparison.svg', renderBarsSvg(results[0].vgpus.map((v) => v.name), labels, results[0].vgpus.map((_v, i) => results.map((r) => (r.vgpus[i].created ? r.vgpus[i].pctNative : null))), {
          title: `${sc.name}: % of native per vGPU and design`, yLabel: '% of native', reference: 1,
        }));
      }
    }
  } catch (e) {
    bar.done();
    if (e instanceof UsageError) {
      io.err(`gvtkit sim: ${e.message}`);
      return 2;
    }
    if (e instanceof GvtError) {
      io.err(`gvtkit sim: ${e.message}`);
      return 2;
    }
    throw e;
  }
  const secs = ((now() - t0) / 1000).toFixed(1);
  note('');
  if (written.length) note(`wrote ${written.length} files to ${a.out}/: ${written.map((p) => relative(a.out, p)).join(', ')}`);
  note(`host time ${secs} s`);
  if (a.sweep) {
    // Host facts, apart from the (deterministic) figures: the process's peak resident memory and
    // what an idle vGPU costs it.
    const rss = io.peakRss ? io.peakRss() : process.resourceUsage().maxRSS * 1024;
    note(`peak resident memory of this process: ${(rss / 2 ** 20).toFixed(0)} MiB`);
    const idle = (io.idleCost ?? (() => measureIdleVgpus({ gc: exposedGc() })))();
    const m = (b: number): string => (b / 2 ** 20).toFixed(2);
    note(`an idle vGPU costs ${m(idle.vgpuBytes)} MiB of process memory, ${m(idle.bytesPerVgpu)} MiB with its guest's sparse ` +
      `${idle.ramMiB} MiB RAM (${idle.vgpus} idle ${idle.type} in 1 GiB of host memory, gScale${idle.gcForced ? '' : '; no forced GC'})`);
  }
  return 0;
}
