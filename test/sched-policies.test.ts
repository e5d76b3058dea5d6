import t from 'tap';
import {
  createPolicy, MS, PriorityPolicy, RoundRobinPolicy, simulatePolicy, ThrottlePolicy, TimeSlicePolicy, TraceRecorder,
  type SchedEntity, type SimVgpu, type TraceEvent, type WorkloadSpec,
} from '../lib/scheduler/index.js';

const MIXED: WorkloadSpec = { durationNs: [200_000, 800_000] };
const SECOND = 1000 * MS;

function entity(id: number, over: Partial<SchedEntity> = {}): SchedEntity {
  return { id, weight: 1, priority: 'standard', hasWork: false, usedNs: 0, frames: 0, ...over };
}

function xEvents(trace: TraceRecorder): TraceEvent[] {
  return (JSON.parse(trace.toString()) as { traceEvents: TraceEvent[] }).traceEvents.filter((e) => e.ph === 'X');
}

t.test('time-slice: a lone busy vGPU is scheduled out within one slice once another has work', async (t) => {
  const policy = new TimeSlicePolicy();
  const trace = new TraceRecorder();
  const arrival = 250.3 * MS;
  const wl = 300_000;
  const res = simulatePolicy(policy, [
    { id: 1, name: 'lone', work: { durationNs: wl } },
    { id: 2, name: 'late', work: { durationNs: wl, arrival: { kind: 'saturate', startNs: arrival } } },
  ], 400 * MS, { trace });
  const ev = xEvents(trace);
  const firstLate = ev.filter((e) => e.name.startsWith('late workload')).map((e) => e.ts! * 1000).sort((a, b) => a - b)[0];
  const switchNs = ev.find((e) => e.name.startsWith('switch lone -> late'))!.dur! * 1000;
  // One slice, plus the in-flight (non-preemptible) workload, plus the switch itself.
  t.ok(firstLate >= arrival, 'not before it arrived');
  t.ok(firstLate <= arrival + policy.sliceNs + wl + switchNs, `late vGPU started ${(firstLate - arrival) / 1e3} µs after arriving`);
  // Before the arrival the lone vGPU had the GPU to itself (work-conserving, no switch).
  const switchesBefore = ev.filter((e) => e.name.startsWith('switch') && e.ts! * 1000 < arrival);
  t.equal(switchesBefore.length, 1, 'only the initial context load before the arrival');
  // The lone vGPU used its budget of this balance period by 250 ms: it waits until the next balance (300 ms).
  const loneInGap = ev.filter((e) => e.name.startsWith('lone workload') && e.ts! * 1000 > firstLate + wl && e.ts! * 1000 < 299 * MS);
  t.equal(loneInGap.length, 0, 'the vGPU that used more than its share waits');
  t.ok(res.vgpus[1].busyNs > 90 * MS, 'the late vGPU gets its budget (49 ms), then half of the next period');
});

t.test('time-slice: weights 1:2:4 under saturation converge to 1/7:2/7:4/7 within 2% in 1 s', async (t) => {
  for (const seed of [1, 7, 42]) {
    const res = simulatePolicy(createPolicy('time-slice'), [
      { id: 1, weight: 1, work: MIXED },
      { id: 2, weight: 2, work: MIXED },
      { id: 3, weight: 4, work: MIXED },
    ], SECOND, { seed });
    const want = [1 / 7, 2 / 7, 4 / 7];
    res.vgpus.forEach((v, i) => {
      t.ok(Math.abs(v.busyShare - want[i]) / want[i] < 0.02, `seed ${seed} vgpu${v.id}: ${v.busyShare.toFixed(4)} vs ${want[i].toFixed(4)}`);
      t.ok(Math.abs(v.share - want[i]) < 0.02, `seed ${seed} vgpu${v.id}: share of the run ${v.share.toFixed(4)}`);
    });
    t.ok(res.jain > 0.999, `Jain ${res.jain}`);
    t.ok(res.gpuBusyShare > 0.97, 'the GPU never idles while everyone has work (switches aside)');
  }
});

t.test('time-slice: an idle vGPU gets nothing and costs nothing', async (t) => {
  const busy: SimVgpu[] = [
    { id: 1, weight: 1, work: MIXED },
    { id: 2, weight: 2, work: MIXED },
  ];
  const idle: SimVgpu = { id: 3, weight: 4, work: { durationNs: MS, arrival: { kind: 'none' } } };
  for (const seed of [1, 2, 3]) {
    const without = simulatePolicy(createPolicy('time-slice'), busy, SECOND, { seed });
    const withIdle = simulatePolicy(createPolicy('time-slice'), [...busy, idle], SECOND, { seed });
    for (let i = 0; i < 2; i++) {
      t.ok(Math.abs(withIdle.vgpus[i].share - without.vgpus[i].share) < 0.01,
        `seed ${seed} vgpu${i + 1}: ${withIdle.vgpus[i].share.toFixed(4)} with the idle vGPU, ${without.vgpus[i].share.toFixed(4)} without`);
    }
    const z = withIdle.vgpus[2];
    t.equal(z.busyNs, 0);
    t.equal(z.switches, 0, 'no switch to the idle vGPU');
    t.equal(z.switchOverheadNs, 0);
    t.equal(z.weightShare, 0, 'an inactive vGPU does not count in fairness');
    t.ok(withIdle.gpuBusyShare > 0.97, 'its unused allocation is not left idle');
  }
  // The idle vGPU's allocation is lent without debt: when it wakes up it gets its weight at once.
  const wake = simulatePolicy(createPolicy('time-slice'), [...busy, { ...idle, work: { durationNs: 500_000, arrival: { kind: 'saturate', startNs: 500 * MS } } }],
    SECOND, { metricsFromNs: 600 * MS });
  t.ok(Math.abs(wake.vgpus[2].busyShare - 4 / 7) < 0.03, `woken vGPU share ${wake.vgpus[2].busyShare.toFixed(3)} ~ 4/7`);
});

t.test('time-slice: budgets, balance and debt reset', async (t) => {
  const p = new TimeSlicePolicy({ balancePeriodNs: 100 * MS });
  const a = entity(1, { weight: 1, hasWork: true });
  const b = entity(2, { weight: 3, hasWork: true });
  p.add(a, 0);
  p.add(b, 0);
  t.equal(p.allocation(1), 25 * MS);
  t.equal(p.allocation(2), 75 * MS);
  t.equal(p.budgetLeft(1), 25 * MS, 'credit shrinks to the new allocation when a vGPU joins');
  p.charge(1, 30 * MS, 30 * MS);
  t.equal(p.budgetLeft(1), -5 * MS, 'overrun becomes debt');
  t.equal(p.pick(30 * MS, -1), 2, 'a vGPU in debt waits while another has budget');
  p.pick(100 * MS, 2); // balance at 100 ms
  t.equal(p.budgetLeft(1), 20 * MS, 'debt carried into the next period');
  t.equal(p.nextEvent(100 * MS), 200 * MS);
  p.charge(1, 50 * MS, 150 * MS);
  p.pick(1000 * MS, -1); // balance at 1 s resets
  t.equal(p.budgetLeft(1), 25 * MS, 'debts reset every 10 periods');
  t.equal(p.balances, 10);
  // Work-conserving: with every candidate out of budget someone still runs.
  p.charge(1, 40 * MS, 1040 * MS);
  p.charge(2, 80 * MS, 1080 * MS);
  t.not(p.pick(1080 * MS, -1), -1);
  b.hasWork = false;
  a.hasWork = false;
  t.equal(p.pick(1082 * MS, 1), -1, 'nobody has work: the GPU idles');
  p.remove(2);
  t.equal(p.allocation(1), 100 * MS);
});

t.test('round-robin: equal slices in id order among vGPUs with work', async (t) => {
  const p = new RoundRobinPolicy();
  const es = [entity(3, { hasWork: true }), entity(1, { hasWork: true }), entity(2, { hasWork: false })];
  for (const e of es) p.add(e, 0);
  const order: number[] = [];
  for (let i = 0; i < 4; i++) order.push(p.pick(i * MS, -1));
  t.same(order, [1, 3, 1, 3]);
  es[2].hasWork = true;
  t.equal(p.pick(4 * MS, 3), 1);
  t.equal(p.pick(5 * MS, 1), 2);
  t.equal(p.pick(5.5 * MS, 2), 2, 'the decision holds for the slice');
  const res = simulatePolicy(createPolicy('round-robin'), [
    { id: 1, weight: 1, work: MIXED }, { id: 2, weight: 4, work: MIXED }, { id: 3, weight: 16, work: MIXED },
  ], SECOND);
  for (const v of res.vgpus) t.ok(Math.abs(v.busyShare - 1 / 3) < 0.03, `weights ignored: ${v.busyShare.toFixed(3)}`);
});

t.test('throttle: share cap holds on an otherwise idle GPU', async (t) => {
  for (const preemptible of [false, true]) {
    const res = simulatePolicy(createPolicy('throttle'), [
      { id: 1, capShare: 0.25, work: { durationNs: [200_000, 800_000], preemptible } },
    ], SECOND);
    const v = res.vgpus[0];
    t.ok(v.share <= 0.25 + 0.01, `capped share ${v.share.toFixed(4)} (preemptible ${preemptible})`);
    t.ok(v.share >= 0.23, 'and it does get its cap');
    t.ok(res.idleNs > 0.7 * SECOND, 'non-work-conserving: the GPU idles rather than exceed the cap');
  }
  const two = simulatePolicy(createPolicy('throttle'), [
    { id: 1, capShare: 0.25, weight: 4, work: MIXED },
    { id: 2, weight: 1, work: MIXED },
  ], SECOND);
  t.ok(two.vgpus[0].share <= 0.26, `capped vGPU ${two.vgpus[0].share.toFixed(3)} despite weight 4`);
  t.ok(two.vgpus[1].share >= 0.7, `the uncapped one takes the rest: ${two.vgpus[1].share.toFixed(3)}`);
});

t.test('throttle: fps cap holds, nextEvent reports the window', async (t) => {
  const res = simulatePolicy(createPolicy('throttle'), [
    { id: 1, capFps: 30, work: { durationNs: MS, frameEvery: 4 } },
  ], SECOND);
  const v = res.vgpus[0];
  t.ok(v.frames <= 30, `${v.frames} frames in 1 s`);
  t.ok(v.frames >= 29, 'the cap is reached, not undershot');
  const free = simulatePolicy(createPolicy('throttle'), [{ id: 1, work: { durationNs: MS, frameEvery: 4 } }], SECOND);
  t.ok(free.vgpus[0].frames > 200, 'uncapped it would render far more');
  // Over 2.5 s with a mid-window start, still at most capFps per second (+1 for the partial window).
  const late = simulatePolicy(createPolicy('throttle'), [
    { id: 1, capFps: 60, work: { durationNs: [300_000, 900_000], frameEvery: 3, arrival: { kind: 'saturate', startNs: 7.7 * MS } } },
  ], 2500 * MS);
  t.ok(late.vgpus[0].frames <= 60 * 2.5 + 1, `${late.vgpus[0].frames} frames in 2.5 s at 60 fps`);

  const p = new ThrottlePolicy();
  const e = entity(1, { capFps: 10, hasWork: true });
  p.add(e, 0);
  t.equal(p.pick(0, -1), 1);
  e.frames = 1;
  p.charge(1, 5 * MS, 5 * MS);
  t.equal(p.pick(5 * MS, 1), -1, 'frame budget of the window used: not picked even though the GPU is idle');
  t.equal(p.nextEvent(5 * MS), 100 * MS, 'eligible again when the next 1/fps window opens');
  t.equal(p.pick(100 * MS, -1), 1);
  const s = entity(2, { capShare: 0.1, hasWork: true });
  p.add(s, 100 * MS);
  e.hasWork = false;
  t.equal(p.pick(100 * MS, -1), 2);
  t.equal(p.nextEvent(100 * MS), 110 * MS, 'the running capped vGPU reaches its cap at 10 ms of the window');
  p.charge(2, 10 * MS, 110 * MS);
  t.equal(p.capUsed(2), 10 * MS);
  t.equal(p.pick(110 * MS, 2), -1);
  t.equal(p.nextEvent(110 * MS), 200 * MS, 'the next share window');
});

t.test('priority: strict levels, round-robin within a level, starvation protection', async (t) => {
  const p = new PriorityPolicy({ starvationNs: 20 * MS });
  const sc = entity(1, { priority: 'safety-critical', hasWork: false });
  const st1 = entity(2, { priority: 'standard', hasWork: true });
  const st2 = entity(3, { priority: 'standard', hasWork: true });
  const be = entity(4, { priority: 'best-effort', hasWork: true });
  for (const e of [sc, st1, st2, be]) p.add(e, 0);
  t.equal(p.pick(0, -1), 2);
  t.equal(p.pick(0.5 * MS, 2), 2, 'the decision holds for the slice');
  t.equal(p.pick(1 * MS, 2), 3, 'round-robin within the level');
  sc.hasWork = true;
  t.equal(p.pick(1.2 * MS, 3), 1, 'a higher level takes over at the next decision point');
  // Waiting since: best-effort 0 ms, standard 2 since 1 ms (its slice ended), standard 3 since 1.2 ms.
  t.equal(p.nextEvent(1.2 * MS), 20 * MS, 'the earliest starvation deadline of the waiting vGPUs');
  for (let now = 2 * MS; now < 20 * MS; now += MS) t.equal(p.pick(now, 1), 1, `safety-critical at ${now / MS} ms`);
  t.equal(p.pick(20 * MS, 1), 4, 'the longest-starving vGPU is boosted past every level');
  t.equal(p.pick(20.5 * MS, 4), 4, 'for one slice');
  t.equal(p.pick(21 * MS, 4), 2, 'then the next starving one');
  t.equal(p.pick(22 * MS, 2), 3, 'and the next');
  t.equal(p.pick(23 * MS, 3), 1, 'then the safety-critical vGPU again');
  t.equal(p.boosts, 3);

  const strict = simulatePolicy(new PriorityPolicy({ starvationNs: Infinity }), [
    { id: 1, priority: 'safety-critical', work: MIXED },
    { id: 2, priority: 'best-effort', work: MIXED },
  ], 300 * MS);
  t.equal(strict.vgpus[1].busyNs, 0, 'without starvation protection a lower level starves');
});

t.test('priority: a best-effort vGPU under a saturating safety-critical one gets its guaranteed minimum', async (t) => {
  const policy = new PriorityPolicy();
  const g = policy.guaranteedShare;
  t.ok(Math.abs(g - 1 / 51) < 1e-12, 'one 1 ms slice per 50 ms + 1 ms');
  const duration = 2 * SECOND;
  // Preemptible work: the boosted slice starts at the decision, as the guarantee assumes.
  const res = simulatePolicy(policy, [
    { id: 1, priority: 'safety-critical', work: { ...MIXED, preemptible: true } },
    { id: 2, priority: 'best-effort', work: { ...MIXED, preemptible: true } },
  ], duration);
  const be = res.vgpus[1];
  const owned = (be.busyNs + be.switchOverheadNs) / duration;
  // Whole cycles of starvationNs + sliceNs fit in the run; each gives one slice of ownership.
  const cycles = Math.floor(duration / (50 * MS + MS));
  t.ok(owned * duration >= cycles * MS * 0.99, `best-effort owned ${(owned * 100).toFixed(2)}% of the GPU, guaranteed ${(g * 100).toFixed(2)}%`);
  t.ok(res.vgpus[0].share > 0.95, 'the safety-critical vGPU keeps the rest');
  // Non-preemptible work: the boosted slice waits for the in-flight workload, so progress is a bit less.
  const np = simulatePolicy(new PriorityPolicy(), [
    { id: 1, priority: 'safety-critical', work: MIXED },
    { id: 2, priority: 'best-effort', work: MIXED },
  ], duration);
  t.ok(np.vgpus[1].share >= 0.85 * g, `non-preemptible: ${(np.vgpus[1].share * 100).toFixed(2)}%`);
  t.ok(np.vgpus[1].workloads > 0);
});

t.test('watchdog: a hung workload is ended, reported, and the others keep their share', async (t) => {
  const vgpus = (hang: boolean): SimVgpu[] => [
    { id: 1, name: 'hangs', work: { ...MIXED, hangAt: hang ? [100] : [] } },
    { id: 2, name: 'b', work: MIXED },
    { id: 3, name: 'c', work: MIXED },
  ];
  const watchdogNs = 20 * MS;
  const first = simulatePolicy(createPolicy('time-slice'), vgpus(true), SECOND, { watchdogNs });
  t.equal(first.hangs.length, 1);
  t.equal(first.hangs[0].id, 1);
  t.equal(first.hangs[0].seq, 100);
  const at = first.hangs[0].atNs;
  t.ok(at > 0 && at < SECOND);
  const hung = simulatePolicy(createPolicy('time-slice'), vgpus(true), SECOND, { watchdogNs, metricsFromNs: at });
  const base = simulatePolicy(createPolicy('time-slice'), vgpus(false), SECOND, { watchdogNs, metricsFromNs: at });
  t.equal(hung.vgpus[0].hangs, 1, 'reported as a hang to that vGPU');
  for (const i of [1, 2]) {
    t.ok(hung.vgpus[i].share >= 0.95 * base.vgpus[i].share,
      `${hung.vgpus[i].name}: ${hung.vgpus[i].share.toFixed(3)} after the hang vs ${base.vgpus[i].share.toFixed(3)} without`);
  }
  t.ok(hung.vgpus[0].workloads > 0, 'the vGPU goes on with its next workloads');
  // Without a watchdog the non-preemptible hang holds the GPU for good.
  const stuck = simulatePolicy(createPolicy('time-slice'), vgpus(true), SECOND, { metricsFromNs: at });
  t.equal(stuck.vgpus[1].busyNs + stuck.vgpus[2].busyNs, 0, 'no watchdog: everyone else starves');
});

t.test('createPolicy validates names and options', async (t) => {
  for (const name of ['time-slice', 'round-robin', 'throttle', 'priority']) t.equal(createPolicy(name).name, name);
  t.throws(() => createPolicy('fifo'), { code: 'E_CONFIG', field: 'name' });
  t.throws(() => createPolicy('time-slice', { sliceNs: 0 }), { code: 'E_CONFIG', field: 'sliceNs' });
  t.throws(() => createPolicy('time-slice', { sliceNs: NaN }), { code: 'E_CONFIG', field: 'sliceNs' });
  t.throws(() => createPolicy('time-slice', { balancePeriodNs: 0.5 * MS }), { code: 'E_CONFIG', field: 'balancePeriodNs' });
  t.throws(() => createPolicy('time-slice', { resetPeriods: 1.5 }), { code: 'E_CONFIG', field: 'resetPeriods' });
  t.throws(() => createPolicy('time-slice', { creditCapPeriods: 0.5 }), { code: 'E_CONFIG', field: 'creditCapPeriods' });
  t.throws(() => createPolicy('time-slice', { starvationNs: MS }), { code: 'E_CONFIG', field: 'starvationNs' });
  t.throws(() => createPolicy('round-robin', { capWindowNs: MS }), { code: 'E_CONFIG', field: 'capWindowNs' });
  t.throws(() => createPolicy('throttle', { capWindowNs: -1 }), { code: 'E_CONFIG', field: 'capWindowNs' });
  t.throws(() => createPolicy('priority', { starvationNs: -5 }), { code: 'E_CONFIG', field: 'starvationNs' });
  t.equal((createPolicy('priority', { starvationNs: Infinity }) as PriorityPolicy).guaranteedShare, 0);
  const p = createPolicy('throttle');
  t.throws(() => p.add(entity(1, { weight: 0 }), 0), { code: 'E_CONFIG', field: 'weight' });
  t.throws(() => p.add(entity(1, { capShare: 1.5 }), 0), { code: 'E_CONFIG', field: 'capShare' });
  t.throws(() => p.add(entity(1, { capFps: 0 }), 0), { code: 'E_CONFIG', field: 'capFps' });
  t.throws(() => p.add(entity(1, { priority: 'urgent' as never }), 0), { code: 'E_CONFIG', field: 'priority' });
  t.throws(() => p.add(entity(0), 0), { code: 'E_CONFIG', field: 'id' });
  p.add(entity(1), 0);
  t.throws(() => p.add(entity(1), 0), { code: 'E_CONFIG', field: 'id' });
  t.throws(() => simulatePolicy(createPolicy('time-slice'), [{ id: 1, work: { durationNs: -1 } }], SECOND), { code: 'E_CONFIG', field: 'durationNs' });
  t.throws(() => simulatePolicy(createPolicy('time-slice'), [{ id: 1, work: MIXED }], 0), { code: 'E_CONFIG', field: 'durationNs' });
});

t.test('simulator: arrival patterns, latency and preemption are accounted', async (t) => {
  const res = simulatePolicy(createPolicy('time-slice'), [
    { id: 1, work: { durationNs: 100_000, arrival: { kind: 'periodic', periodNs: 10 * MS, burst: 2 } } },
    { id: 2, work: { durationNs: 200_000, arrival: { kind: 'poisson', meanGapNs: 5 * MS } } },
    { id: 3, work: { durationNs: 3 * MS, preemptible: true, count: 50 } },
  ], SECOND);
  const [per, poi, pre] = res.vgpus;
  t.equal(per.workloads, 200, 'two workloads every 10 ms');
  t.ok(per.latency.p50 >= 100_000 && per.latency.p99 <= per.latency.max);
  t.ok(per.latency.p50 <= per.latency.p95 && per.latency.p95 <= per.latency.p99);
  t.ok(poi.workloads > 150 && poi.workloads < 250, `poisson arrivals ~200: ${poi.workloads}`);
  t.equal(pre.workloads, 50, 'a bounded stream completes');
  t.ok(pre.preemptions > 0, '3 ms preemptible workloads are cut at slice boundaries');
  t.equal(pre.busyNs, 150 * MS, 'preempted work resumes where it stopped');
});
