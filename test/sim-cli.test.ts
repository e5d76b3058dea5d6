/**
 * `gvtkit sim`: table, JSON, files, modes, sweep, errors, progress bar.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { simCommand } from '../lib/cli/sim.js';
import { ProgressBar } from '../lib/sim/progress.js';

const tiny = JSON.stringify({
  name: 'tiny', seed: 5, durationMs: 60,
  mediator: { failsafe: 'never' },
  vgpus: [
    { name: 'a', type: 'GVTg_V5_4', workload: { kind: 'game', fps: 0, draws: 80, width: 128, height: 128 } },
    { name: 'b', type: 'GVTg_V5_4', workload: { kind: 'attacker', attackEveryMs: 5, validRate: 100 } },
  ],
});

async function run(argv: string[], files: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const written = new Map<string, string>();
  let clock = 0;
  const code = await simCommand(argv, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    readFile: (p) => {
      if (p in files) return new TextEncoder().encode(files[p]);
      return new Uint8Array(readFileSync(p));
    },
    writeFile: (p, d) => written.set(p, typeof d === 'string' ? d : new TextDecoder().decode(d)),
    progress: { isTTY: false, write: () => true },
    now: () => (clock += 10),
  });
  return { code, out: out.join('\n'), err: err.join('\n'), written };
}

t.test('one run: a table, files, where they are', async (t) => {
  const r = await run(['tiny.json', '--out', 'o'], { 'tiny.json': tiny });
  t.equal(r.code, 0, r.err);
  t.match(r.out, /tiny: mediated, seed 5, 60 ms simulated, 2\/2 vGPUs/);
  t.match(r.out, /% native/);
  t.match(r.out, /refused by rule/);
  t.match(r.out, /wrote 7 files to o\/: share\.svg, latency\.svg, partition\.svg, trace\.json, result\.json, screens\/a\.png, screens\/b\.png/);
  t.match(r.out, /host time/);
  t.same([...r.written.keys()].sort(), ['o/latency.svg', 'o/partition.svg', 'o/result.json', 'o/screens/a.png', 'o/screens/b.png', 'o/share.svg', 'o/trace.json']);
  for (const f of ['o/share.svg', 'o/latency.svg', 'o/partition.svg']) t.match(r.written.get(f), /^<svg [^]*<\/svg>\n$/, f);
  t.ok(JSON.parse(r.written.get('o/trace.json')!).traceEvents.length > 0);
});

t.test('--json: the result alone on stdout, byte-identical for the same seed', async (t) => {
  const a = await run(['tiny.json', '--json', '--no-files'], { 'tiny.json': tiny });
  const b = await run(['tiny.json', '--json', '--no-files'], { 'tiny.json': tiny });
  t.equal(a.code, 0);
  t.equal(a.out, b.out);
  const doc = JSON.parse(a.out);
  t.same(Object.keys(doc), ['scenario', 'mode', 'seed', 'durationMs', 'vgpus', 'totals', 'timeline']);
  t.equal(doc.vgpus[0].pctNative !== null, true);
  t.match(a.err, /host time/, 'host time goes to stderr, out of the JSON');
  const c = await run(['tiny.json', '--json', '--no-files', '--seed', '6'], { 'tiny.json': tiny });
  t.not(c.out, a.out);
});

t.test('--mode all: a comparison, a directory per design', async (t) => {
  const r = await run(['tiny.json', '--mode', 'all', '--duration', '40', '--out', 'cmp'], { 'tiny.json': tiny });
  t.equal(r.code, 0, r.err);
  t.match(r.out, /passthrough\s+mediated\s+sriov\s+emulated/);
  t.match(r.out, /isolation by construction/);
  t.match(r.out, /host CPU ms/);
  for (const m of ['passthrough', 'mediated', 'sriov', 'emulated']) t.ok(r.written.has(`cmp/${m}/result.json`), m);
  t.ok(r.written.has('cmp/comparison.svg') && r.written.has('cmp/comparison.json'));
});

t.test('--sweep: a table and where each design falls under 80% of native', async (t) => {
  const mk = (n: number): string => JSON.stringify({
    name: `s${n}`, seed: 1, durationMs: 40,
    vgpus: Array.from({ length: n }, (_v, i) => ({ name: `g${i}`, type: 'GVTg_V5_8', ramMiB: 32, workload: { kind: 'game', fps: 60, draws: 50, present: 'none' } })),
  });
  const r = await run(['--sweep', 's8.json', 's1.json', 's2.json', '--out', 'sw'], { 's1.json': mk(1), 's2.json': mk(2), 's8.json': mk(8) });
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^scaling sweep: 3 scenarios/);
  t.match(r.out, /\n1\s+1\/1/, 'rows sorted by vGPU count');
  t.match(r.out, /8\s+7\/8 .*8\/8/, 'without gScale 7 of 8 are created, with it all 8');
  t.match(r.out, /mediated: falls under 80% of native at 8 vGPUs: only 7 of 8 vGPUs created/);
  t.match(r.out, /host memory at 8 vGPUs \(peak in use of the device's\): mediated \d+ of 2048 MiB \(7 vGPUs\), mediated\+gscale \d+ of 2048 MiB \(8 vGPUs\)/);
  t.match(r.out, /peak resident memory of this process: \d+ MiB/);
  t.ok(r.written.has('sw/sweep.svg') && r.written.has('sw/sweep.json'));
  const doc = JSON.parse(r.written.get('sw/sweep.json')!);
  t.same(doc.designs, ['mediated', 'mediated+gscale']);
  t.equal(doc.fallsUnder.mediated, 8);
  const eight = doc.rows.find((x: { requested: number }) => x.requested === 8);
  t.equal(eight.runs[1].totals.created, 8);
  t.ok(eight.runs[1].totals.ggttLoads > 0, 'the gScale run loaded private GGTTs');
  t.equal(eight.runs[0].totals.ggttLoads, 0);
});

t.test('errors: exit 2 with the bad field named', async (t) => {
  const bad = await run(['bad.json'], { 'bad.json': JSON.stringify({ vgpus: [{ workload: { kind: 'gme' } }] }) });
  t.equal(bad.code, 2);
  t.match(bad.err, /bad\.json: vgpus\[0\]\.workload\.kind: unknown workload 'gme'/);
  const missing = await run(['nope.json']);
  t.equal(missing.code, 2);
  t.match(missing.err, /cannot read nope\.json/);
  const mode = await run(['tiny.json', '--mode', 'virtual'], { 'tiny.json': tiny });
  t.equal(mode.code, 2);
  t.match(mode.err, /--mode: unknown mode 'virtual'/);
  t.equal((await run([])).code, 2);
  t.equal((await run(['--help'])).code, 0);
});

t.test('the progress bar draws only on a TTY and after a delay', async (t) => {
  let now = 0;
  const lines: string[] = [];
  const tty = { isTTY: true, columns: 80, write: (s: string) => lines.push(s) };
  const bar = new ProgressBar(tty, () => now);
  bar.update(0.1, 'x');
  t.equal(lines.length, 0, 'quiet during the first second');
  now = 1500;
  bar.update(0.5, 'mediated');
  t.match(lines[0], /^\r\[#+\.+\]\s+50% mediated/);
  bar.done();
  t.equal(lines.length, 2, 'erased at the end');
  const quiet: string[] = [];
  const pipe = new ProgressBar({ isTTY: false, write: (s: string) => quiet.push(s) }, () => (now += 5000));
  pipe.update(0.5, 'x');
  pipe.done();
  t.equal(quiet.length, 0, 'never on a pipe');
});
