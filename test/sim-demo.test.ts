/**
 * The demo scenario (shortened): the attacking guest is refused, each refusal counted by rule, its
 * bad page-table entries contained, while the game and the video keep at least 90% of their fair
 * share of the GPU (weighted max-min share given what each uses alone, see lib/sim/runner.ts).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseScenario } from '../lib/sim/scenario.js';
import { simulate } from '../lib/sim/runner.js';
import { formatRun } from '../lib/sim/report.js';

const demo = parseScenario(readFileSync('fixtures/scenarios/demo.json', 'utf8'), 'demo.json');

t.test('demo: the attacker is refused by rule; the others keep their share', async (t) => {
  const { result } = simulate(demo, { durationMs: 500 });
  const by = Object.fromEntries(result.vgpus.map((v) => [v.name, v]));
  const bad = by.attacker;
  t.equal(bad.state, 'active', 'failsafe never: the attacker keeps trying');
  for (const rule of ['register-whitelist', 'address-bounds', 'batch-loop', 'unknown-command', 'privileged-command']) {
    t.ok((bad.refusedByRule[rule] ?? 0) >= 1, `refused by ${rule}: ${bad.refusedByRule[rule] ?? 0}`);
  }
  t.ok(bad.contained.ggttOutOfSlice >= 1, 'GGTT writes outside its slices dropped');
  t.ok(bad.contained.ppgttInvalidFrames >= 1, 'PPGTT entries to frames it does not own sent to scratch');
  t.equal(result.totals.refused, bad.failed, 'only the attacker is refused');
  t.ok(bad.workloads > 20, 'its valid work still runs');
  for (const name of ['game', 'video']) {
    const v = by[name];
    t.equal(v.failed, 0, `${name}: nothing refused`);
    t.ok(v.shareOfFair! >= 0.9, `${name}: ${(v.shareOfFair! * 100).toFixed(1)}% of its fair share (${v.share} of ${v.fairShare})`);
    t.ok(v.pctNative! >= 0.9, `${name}: ${(v.pctNative! * 100).toFixed(1)}% of native`);
  }
});

t.test('demo under GVT-g’s failsafe policy: the attacker is stopped at its first bad address or command', async (t) => {
  const sc = { ...demo, mediator: { ...demo.mediator, failsafe: 'gvt-g' as const } };
  const { result } = simulate(sc, { durationMs: 200, noNative: true });
  const bad = result.vgpus.find((v) => v.name === 'attacker')!;
  t.equal(bad.state, 'failsafe');
  t.ok(bad.failed >= 1 && bad.failed <= 3, `refused ${bad.failed} time(s) before failsafe`);
  const game = result.vgpus.find((v) => v.name === 'game')!;
  t.ok(game.frames > 30 && game.failed === 0, 'the game goes on');
});

t.test('the README shows the demo\'s table as `npm run demo` prints it', async (t) => {
  const readme = readFileSync('README.md', 'utf8');
  const { result } = simulate(demo);
  const printed = formatRun(result);
  const header = printed.findIndex((l) => l.startsWith('vGPU ') && l.includes('% native'));
  t.ok(header >= 0, 'the table has its header');
  const rows = printed.slice(header, header + 2 + demo.vgpus.length);
  for (const line of rows) t.ok(readme.includes(line.trimEnd()), `README has: ${line.trimEnd()}`);
});
