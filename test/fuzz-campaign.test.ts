/**
 * The short fuzz campaign of `npm test`: every fuzzer, a few thousand cases in all, zero
 * violations and zero crashes; campaigns are deterministic; a planted bug is found, recorded with
 * its seed and operations, and replays; the CLI ends with its summary line.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { Rng } from '../lib/clock.js';
import { FUZZERS, FUZZER_NAMES, runCampaign, summaryLine, type Fuzzer, type FuzzerName } from '../lib/fuzz/index.js';
import { miStoreDataImm } from '../lib/device/commands/index.js';
import { PTE_PRESENT } from '../lib/gtt/pte.js';
import { PAGE_SIZE } from '../lib/types.js';

/** Cases per fuzzer in `npm test` (8,400 in all, about 20 s on one core). */
const CASES: Record<FuzzerName, number> = { mmio: 3000, commands: 1500, gtt: 3000, ppgtt: 600, lifecycle: 300 };

/**
 * Invariants of the bug classes issue 13's oracles and generators find on the tree before their
 * fixes (register residue: h/residue; work amplification: h/effects; work of a vGPU in failsafe
 * never drained, STOP_RING mid-workload, which also leaves an undisturbed guest's work waiting
 * forever (lifecycle seed 20240607 case 87): h/lifecycle): counted, not failing, and a todo
 * assertion expects none. Remove an entry once its fix is merged.
 */
const KNOWN_OPEN: Record<FuzzerName, string[]> = {
  mmio: [], commands: [], gtt: [], ppgtt: [], lifecycle: [],
};

for (const name of FUZZER_NAMES) {
  t.test(`fuzzer ${name}: ${FUZZERS[name].description}`, async (t) => {
    const t0 = performance.now();
    const r = runCampaign({ fuzzer: name, cases: CASES[name], seed: 20240607, maxFailures: 3, now: () => performance.now(), tolerate: KNOWN_OPEN[name] });
    const rate = (r.cases / ((performance.now() - t0) / 1000)).toFixed(0);
    t.comment(`${r.cases} cases in ${r.worlds} worlds, ${rate} cases/s`);
    for (const f of r.failures) t.comment(`${f.kind} at case ${f.index}: ${f.violations.map((v) => `${v.invariant}: ${v.message}`).join('; ')}\n  ${f.ops.join('\n  ')}\n  replay: ${f.replay}`);
    t.equal(r.cases, CASES[name]);
    t.equal(r.crashes, 0, 'no exception reached the caller');
    t.equal(r.violations, 0, 'no isolation invariant broken');
    const open = KNOWN_OPEN[name].filter((k) => (r.byInvariant[k] ?? 0) > 0).map((k) => `${k} ${r.byInvariant[k]}`);
    t.same(open, [], 'no violation of the classes still open (issue 13)', { todo: open.length > 0 ? `open on this tree: ${open.join(', ')}` : false });
  });
}

t.test('campaigns are deterministic', async (t) => {
  for (const name of ['mmio', 'commands', 'lifecycle'] as const) {
    const a = runCampaign({ fuzzer: name, cases: 40, seed: 5, casesPerWorld: 20 });
    const b = runCampaign({ fuzzer: name, cases: 40, seed: 5, casesPerWorld: 20 });
    const c = runCampaign({ fuzzer: name, cases: 40, seed: 6, casesPerWorld: 20 });
    t.equal(a.fingerprint, b.fingerprint, `${name}: same seed, same run`);
    t.not(a.fingerprint, c.fingerprint, `${name}: another seed, another run`);
  }
});

t.test('a planted bug is found, recorded and replayed; a crash is recorded', async (t) => {
  // A fuzzer that, now and then, does what no guest can: points one of the attacker's GGTT entries
  // at a victim frame behind the mediator's back, then lets the GPU write through it.
  const planted: Fuzzer<number, null> = {
    ...FUZZERS.gtt,
    name: 'gtt',
    casesPerWorld: 10,
    victimEvery: 1,
    setup: () => null,
    generate: (rng: Rng) => [rng.int(100)],
    execute(w, _st, ops) {
      if (ops[0] === 99) throw new Error('planted crash');
      if (ops[0] < 7) {
        const g = w.attacker;
        const buf = g.buffer(PAGE_SIZE);
        const f = Math.floor(w.victim!.g.vgpu.ggtt.translate(w.victim!.canary.gma) / PAGE_SIZE);
        w.h.device.ggtt.set(buf.gma / PAGE_SIZE, ((f << 12) | PTE_PRESENT) >>> 0, 0);
        g.submit('rcs', miStoreDataImm(buf.gma, [0xbad], { ggtt: true }));
      }
      w.settle();
      return [];
    },
    format: (op) => `op ${op}`,
  };
  const r = runCampaign({ fuzzer: 'gtt', impl: planted, cases: 60, seed: 11, maxFailures: 20, oracles: false });
  t.ok(r.violations > 0, `violations found (${r.violations})`);
  const f = r.failures.find((x) => x.kind === 'violation')!;
  t.ok(f.violations.some((v) => v.invariant === 'device-foreign-frame'), 'the device write to the victim frame is named');
  t.ok(f.violations.some((v) => v.invariant === 'ggtt-foreign-frame'), 'the GGTT entry is named');
  t.match(f.replay, /--fuzzer gtt --seed 11 --replay \d+ --segment \d+/, 'with a replay command');
  t.same(f.ops.length, 1);
  const again = runCampaign({ fuzzer: 'gtt', impl: planted, seed: 11, cases: 1, from: f.index, segmentStart: f.segment, maxFailures: 1, oracles: false });
  t.equal(again.violations, 1, 'the replay finds it again');
  t.same(again.failures[0].violations.map((v) => v.invariant), f.violations.map((v) => v.invariant), 'with the same violations');
  const crash = runCampaign({ fuzzer: 'gtt', impl: planted, cases: 200, seed: 11, oracles: false });
  t.ok(crash.crashes > 0 && crash.failures.some((x) => x.kind === 'crash' && /planted crash/.test(x.violations[0].message)), 'a crash is recorded with its error');
  t.match(summaryLine([r, crash]), /^\d+ cases, \d+ violations, \d+ crashes$/);
});

t.test('the CLI ends with its summary line', async (t) => {
  const cli = new URL('../dist/scripts/fuzz.js', import.meta.url);
  if (!existsSync(cli)) {
    t.pass('dist/scripts/fuzz.js is not built (npm test builds it): skipped');
    return;
  }
  const r = spawnSync(process.execPath, [cli.pathname, '--cases', '30', '--seed', '3', '--fuzzer', 'gtt', '--tolerate', 'residue'], { encoding: 'utf8' });
  const lines = r.stdout.trim().split('\n');
  t.match(lines[0], /^gtt: 30 cases, 0 violations, 0 crashes/);
  t.equal(lines[lines.length - 1], '30 cases, 0 violations, 0 crashes');
  t.equal(r.status, 0);
});
