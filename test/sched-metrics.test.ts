import t from 'tap';
import {
  buildReport, createPolicy, jainIndex, LatencyRecorder, MS, percentile, percentileSorted, simulatePolicy, TraceRecorder,
  VgpuStats, type SimVgpu, type TraceEvent, type TraceFile,
} from '../lib/scheduler/index.js';

t.test("Jain's index on known inputs", async (t) => {
  t.equal(jainIndex([1, 1, 1, 1]), 1, 'equal → 1');
  t.equal(jainIndex([0.3, 0.3]), 1);
  t.equal(jainIndex([1, 0, 0]), 1 / 3, 'one takes all → 1/n');
  t.equal(jainIndex([5, 0, 0, 0, 0]), 1 / 5);
  t.equal(jainIndex([1, 2]), 9 / 10);
  t.equal(jainIndex([]), 1);
});

t.test('percentiles (nearest rank) and the latency recorder', async (t) => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 .. 1, unsorted
  t.equal(percentile(xs, 50), 50);
  t.equal(percentile(xs, 95), 95);
  t.equal(percentile(xs, 99), 99);
  t.equal(percentile(xs, 100), 100);
  t.equal(percentileSorted([], 50), 0);
  t.equal(percentileSorted([7], 99), 7);
  t.equal(percentile([3, 1, 2], 50), 2);
  const r = new LatencyRecorder(2);
  for (const x of xs) r.add(x * 1000);
  const s = r.summary();
  t.equal(s.count, 100, 'grows past its initial capacity');
  t.equal(s.mean, 50_500);
  t.same([s.p50, s.p95, s.p99, s.max], [50_000, 95_000, 99_000, 100_000]);
  r.clear();
  t.same(r.summary(), { count: 0, mean: 0, p50: 0, p95: 0, p99: 0, max: 0 });
});

t.test('report: shares, weight shares and fairness over active vGPUs', async (t) => {
  const a = new VgpuStats(1, 'a', 1);
  const b = new VgpuStats(2, 'b', 3);
  const idle = new VgpuStats(3, 'idle', 8);
  a.active = b.active = true;
  a.busyNs = 250;
  b.busyNs = 750;
  b.switches = 2;
  b.switchOverheadNs = 10;
  const r = buildReport([a, b, idle], 1000);
  t.same(r.vgpus.map((v) => v.share), [0.25, 0.75, 0]);
  t.same(r.vgpus.map((v) => v.weightShare), [0.25, 0.75, 0]);
  t.equal(r.jain, 1, 'exactly weighted shares are perfectly fair');
  t.equal(r.switches, 2);
  t.equal(r.idleNs, 0);
  a.busyNs = 750;
  b.busyNs = 250;
  t.ok(buildReport([a, b, idle], 1000).jain < 0.7);
});

const VGPUS: SimVgpu[] = [
  { id: 1, name: 'alpha', weight: 2, work: { durationNs: [100_000, 900_000], frameEvery: 5 } },
  { id: 2, name: 'beta', weight: 1, work: { durationNs: [50_000, 400_000], arrival: { kind: 'poisson', meanGapNs: 400_000 }, engine: 'bcs' } },
  { id: 3, name: 'gamma', weight: 1, work: { durationNs: [200_000, 300_000], hangAt: [20], preemptible: true } },
];

function traced(seed: number): string {
  const trace = new TraceRecorder();
  simulatePolicy(createPolicy('time-slice'), VGPUS, 200 * MS, { seed, trace, watchdogNs: 5 * MS });
  trace.auditFailure('rcs', 'beta', 'BAD_ADDRESS', 150 * MS, 'MI_STORE_DATA_IMM outside the aperture');
  trace.counter('queue', 10 * MS, { alpha: 2, beta: 0 });
  return trace.toString();
}

t.test('trace: valid JSON, every slice named after its vGPU, metadata for every lane', async (t) => {
  const json = traced(1);
  const file = JSON.parse(json) as TraceFile;
  t.equal(file.displayTimeUnit, 'ns');
  const ev = file.traceEvents;
  const names = ['alpha', 'beta', 'gamma'];
  const xs = ev.filter((e) => e.ph === 'X');
  t.ok(xs.length > 100, `${xs.length} complete events`);
  const unnamed = xs.filter((e) => !names.some((n) => e.name.includes(n)));
  t.same(unnamed, [], 'every X event names a vGPU');
  t.ok(xs.every((e) => typeof e.ts === 'number' && typeof e.dur === 'number' && e.dur >= 0));
  const meta = ev.filter((e) => e.ph === 'M');
  t.ok(meta.some((e) => e.name === 'process_name'));
  const laneNames = new Map(meta.filter((e) => e.name === 'thread_name').map((e) => [e.tid, e.args!.name]));
  const used = new Set(ev.filter((e) => e.ph === 'X' || e.ph === 'i').map((e) => e.tid));
  for (const tid of used) t.ok(laneNames.has(tid), `lane ${tid} (${laneNames.get(tid)}) has thread_name metadata`);
  t.same([...laneNames.values()].sort(), ['bcs', 'context-switch', 'rcs', 'scheduler']);
  t.ok(ev.some((e: TraceEvent) => e.ph === 'i' && e.name === 'gamma hang workload 20'), 'the hang is an instant event');
  t.ok(ev.some((e) => e.ph === 'i' && e.cat === 'audit' && e.name.includes('beta')), 'audit failures are instant events');
  t.ok(ev.some((e) => e.ph === 'C'), 'counters');
  // Sorted by timestamp after the metadata.
  const body = ev.filter((e) => e.ph !== 'M');
  for (let i = 1; i < body.length; i++) if (body[i].ts! < body[i - 1].ts!) t.fail(`event ${i} out of order`);
  // Workloads of one engine lane never overlap; slices on the scheduler lane neither.
  for (const lane of ['rcs', 'scheduler']) {
    const tid = [...laneNames].find(([, n]) => n === lane)![0];
    const spans = xs.filter((e) => e.tid === tid).map((e) => [e.ts!, e.ts! + e.dur!]);
    let overlaps = 0;
    for (let i = 1; i < spans.length; i++) if (spans[i][0] < spans[i - 1][1] - 1e-6) overlaps++;
    t.equal(overlaps, 0, `${lane} lane has no overlapping slices`);
  }
});

t.test('trace: deterministic for a seed', async (t) => {
  const a = traced(11);
  t.equal(traced(11), a, 'same seed → identical trace string');
  t.not(traced(12), a, 'another seed → another trace');
  const r = new TraceRecorder({ limit: 1 });
  r.instant('x', 'a', 0);
  r.instant('x', 'b', 1);
  t.equal(r.size, 1);
  t.equal(r.dropped, 1);
});
