/**
 * The runner: determinism, every mode, every workload kind, creation failures reported per guest,
 * fair shares.
 */
import t from 'tap';
import { validateScenario, type Scenario } from '../lib/sim/scenario.js';
import { fairShares, runScenario, simulate, NativeCache } from '../lib/sim/runner.js';
import { formatComparison, formatRun } from '../lib/sim/report.js';
import { renderLatencySvg, renderShareSvg } from '../lib/sim/svg.js';

const small = (over: Record<string, unknown> = {}): Scenario => validateScenario({
  name: 'small',
  seed: 11,
  durationMs: 120,
  mediator: { failsafe: 'never' },
  vgpus: [
    { name: 'game', type: 'GVTg_V5_4', workload: { kind: 'game', fps: 0, draws: 150, width: 256, height: 256 } },
    { name: 'copy', type: 'GVTg_V5_4', workload: { kind: 'blit', rate: 400, width: 128, height: 128 } },
    { name: 'bad', type: 'GVTg_V5_4', workload: { kind: 'attacker', attackEveryMs: 5, validRate: 200 } },
  ],
  ...over,
});

t.test('the same seed gives byte-identical JSON and trace; another seed does not', async (t) => {
  const a = runScenario(small());
  const b = runScenario(small());
  t.equal(JSON.stringify(a.result), JSON.stringify(b.result));
  t.equal(a.artifacts.trace, b.artifacts.trace);
  t.equal(renderShareSvg(a.result.timeline), renderShareSvg(b.result.timeline));
  t.equal(renderLatencySvg(a.artifacts.latencies), renderLatencySvg(b.artifacts.latencies));
  const c = runScenario(small({ seed: 12 }));
  t.not(JSON.stringify(c.result), JSON.stringify(a.result));
  t.ok(a.artifacts.trace.length > 1000 && JSON.parse(a.artifacts.trace).traceEvents.length > 10, 'a Chrome trace');
});

t.test('every mode runs; passthrough creates one guest and reports the others', async (t) => {
  const cache = new NativeCache();
  const runs = (['passthrough', 'mediated', 'sriov', 'emulated'] as const).map((mode) => simulate(small(), { mode, cache }).result);
  t.equal(cache.runs, 3, 'one baseline per guest, shared by the modes');
  const [pt, med, sriov, emu] = runs;
  t.equal(pt.totals.created, 1);
  t.equal(pt.vgpus[1].state, 'not created');
  t.match(pt.vgpus[1].error, /vGPU ids/);
  t.equal(pt.vgpus[0].pctNative, 1, 'passthrough alone is native');
  t.equal(pt.totals.hostCpuMs, 0, 'passthrough costs the host nothing');
  for (const r of [med, sriov, emu]) {
    t.equal(r.totals.created, 3, r.mode);
    t.ok(r.vgpus[0].frames > 5, `${r.mode}: the game presents frames`);
    t.ok(r.vgpus[1].workloads > 10, `${r.mode}: the copies complete`);
    t.ok(r.totals.refused > 0, `${r.mode}: the attacks are refused`);
    t.ok(r.totals.gpuBusyShare <= 1.0001, `${r.mode}: shares add up to at most 1`);
  }
  t.ok(sriov.totals.hostCpuMs < med.totals.hostCpuMs, 'SR-IOV spends less host CPU than mediation');
  t.ok(emu.totals.hostCpuMs > med.totals.hostCpuMs, 'emulation spends more');
  t.ok(emu.vgpus[0].pctNative! < med.vgpus[0].pctNative!, 'emulation is slower for the command-heavy game');
  const text = formatComparison(['passthrough', 'mediated', 'sriov', 'emulated'], runs).join('\n');
  t.match(text, /not created/);
  t.match(text, /isolation by construction/);
  t.match(formatRun(med).join('\n'), /refused by rule/);
});

t.test('each workload kind produces work', async (t) => {
  const sc = validateScenario({
    seed: 3, durationMs: 300,
    vgpus: [
      { name: 'game60', type: 'GVTg_V5_8', workload: { kind: 'game', fps: 60, draws: 100, present: 'none' } },
      { name: 'media', type: 'GVTg_V5_8', workload: { kind: 'media', fps: 30 } },
      { name: 'blit', type: 'GVTg_V5_8', workload: { kind: 'blit', rate: 0, width: 64, height: 64 } },
      { name: 'idle', type: 'GVTg_V5_8', workload: { kind: 'idle', periodMs: 50 } },
      { name: 'bursty', type: 'GVTg_V5_8', workload: { kind: 'bursty', burstMs: 20, gapMs: 50, draws: 100 } },
    ],
  });
  const { result } = runScenario(sc);
  const by = Object.fromEntries(result.vgpus.map((v) => [v.name, v]));
  t.ok(Math.abs(by.game60.fps - 60) <= 7, `game at 60 fps: ${by.game60.fps}`);
  t.ok(Math.abs(by.media.fps - 30) <= 4, `media at 30 fps: ${by.media.fps}`);
  t.ok(by.blit.workloadsPerSec > 100, `closed-loop blits: ${by.blit.workloadsPerSec}/s`);
  t.ok(by.idle.frames >= 3 && by.idle.frames <= 12, `desktop updates: ${by.idle.frames}`);
  t.ok(by.bursty.frames > 3, `bursts: ${by.bursty.frames}`);
  for (const v of result.vgpus) {
    t.equal(v.failed, 0, `${v.name}: nothing refused`);
    t.ok(v.commandsAudited > 0 && v.traps.total > 0 && v.ptesShadowed.ggtt > 0, `${v.name}: audited and trapped`);
  }
  t.equal(result.timeline.share.length, 30, '10 ms samples');
});

t.test('creation failures are reported per guest, not thrown', async (t) => {
  const sc = validateScenario({
    durationMs: 50,
    vgpus: Array.from({ length: 9 }, (_v, i) => ({ name: `g${i}`, type: 'GVTg_V5_8', ramMiB: 32, workload: { kind: 'idle', periodMs: 20 } })),
  });
  const { result, artifacts } = runScenario(sc);
  t.equal(result.totals.created, 7, 'the 1 GiB aperture and 8 ids hold 7 GVTg_V5_8 guests');
  t.same(result.vgpus.filter((v) => !v.created).map((v) => v.name), ['g7', 'g8']);
  t.match(result.vgpus[8].error, /GVTg_V5_8/);
  t.match(artifacts.partitionSvg, /not created/);
});

t.test('a workload that does not fit its guest is reported, the others run', async (t) => {
  const sc = validateScenario({
    durationMs: 50,
    vgpus: [
      // Its two 1920x1080 scanout buffers (16 MiB) do not fit 16 MiB of RAM.
      { name: 'huge', ramMiB: 16, monitor: { width: 1920, height: 1080 }, workload: { kind: 'game', width: 4096, height: 4096 } },
      { name: 'ok', workload: { kind: 'idle', periodMs: 10 } },
    ],
  });
  const { result } = runScenario(sc);
  t.equal(result.vgpus[0].state, 'setup failed');
  t.match(result.vgpus[0].error, /workload setup failed: .*RAM/);
  t.ok(result.vgpus[1].frames > 0);
  t.match(formatRun(result).join('\n'), /huge: workload setup failed/);
});

t.test('fair shares: max-min by weight given demands', async (t) => {
  t.same(fairShares([1, 0.1, 0.05], [4, 4, 4]), [0.85, 0.1, 0.05]);
  t.same(fairShares([1, 1], [1, 3]), [0.25, 0.75]);
  t.same(fairShares([0.2, 0.3], [1, 1]), [0.2, 0.3]);
  const f = fairShares([1, 1, 0.1], [2, 2, 4]);
  t.ok(Math.abs(f[0] - 0.45) < 1e-12 && Math.abs(f[1] - 0.45) < 1e-12 && f[2] === 0.1);
});
