/**
 * The scheduler driving real workloads through the mediator and the device (simulated time).
 */
import t from 'tap';
import { Harness, type TestGuest } from '../lib/harness/index.js';
import { xyColorBlt, miArbCheck } from '../lib/device/commands/index.js';
import { VgpuScheduler } from '../lib/scheduler/vgpu-scheduler.js';

const MS = 1_000_000;

/** A closed-loop guest: always one blit workload of about `ns` on BCS in flight. */
function busy(g: TestGuest, rows: number, opts: { arb?: boolean } = {}): void {
  const surf = g.buffer(4096 * rows, {});
  const work = (): number[] => {
    const cmds: number[] = [];
    // Split into bands with MI_ARB_CHECK between them: preemption points.
    const bands = 8;
    for (let b = 0; b < bands; b++) {
      cmds.push(...xyColorBlt({ dstAddress: surf.gma, dstPitch: 4096, dst: { x1: 0, y1: (b * rows) / bands, x2: 1024, y2: ((b + 1) * rows) / bands }, color: b }));
      if (opts.arb) cmds.push(...miArbCheck());
    }
    return cmds;
  };
  g.harness.mediator.onWorkloadDone((w) => {
    if (w.vgpuId === g.vgpu.id && g.vgpu.state === 'active') g.submit('bcs', work());
  });
  g.submit('bcs', work());
}

t.test('a lone busy vGPU is scheduled out within one slice once another has work', async (t) => {
  const h = new Harness();
  const a = h.addGuest({ name: 'a', ppgtt: false });
  const b = h.addGuest({ name: 'b', ppgtt: false });
  const sched = new VgpuScheduler(h.mediator, { policy: { name: 'time-slice' } });
  busy(a, 256, { arb: true }); // ~64 µs per workload
  h.run(20 * MS);
  t.equal(sched.current, a.vgpu.id);
  const arrive = h.now;
  let firstB = -1;
  h.mediator.onWorkloadDispatch((w) => {
    if (w.vgpuId === b.vgpu.id && firstB < 0) firstB = h.now;
  });
  busy(b, 256, { arb: true });
  h.run(5 * MS);
  t.ok(firstB > 0, 'b ran');
  t.ok(firstB - arrive <= sched.policy.sliceNs + 200_000, `b waited ${(firstB - arrive) / 1e3} µs (slice ${sched.policy.sliceNs / 1e3} µs)`);
});

t.test('weighted shares under saturation follow the weights', async (t) => {
  const h = new Harness({ mediator: { maxVgpus: 8 } });
  const g = [h.addGuest({ name: 'w1', ppgtt: false }), h.addGuest({ name: 'w2', ppgtt: false }), h.addGuest({ name: 'w4', ppgtt: false })];
  const weights = [1, 2, 4];
  const sched = new VgpuScheduler(h.mediator, { params: (v) => ({ weight: weights[g.findIndex((x) => x.vgpu === v)] ?? 1 }) });
  for (const x of g) busy(x, 1024, { arb: true });
  // 300 ms here (three balance periods); the policy simulator checks 1 s at 2%.
  h.run(300 * MS);
  const r = sched.report();
  const busyTotal = r.vgpus.reduce((s, v) => s + v.busyNs, 0);
  for (let i = 0; i < 3; i++) {
    const share = r.vgpus.find((v) => v.name === g[i].name)!.busyNs / busyTotal;
    t.ok(Math.abs(share - weights[i] / 7) < 0.02, `${g[i].name}: share ${share.toFixed(3)} vs ${(weights[i] / 7).toFixed(3)}`);
  }
  t.ok(r.switches > 10);
  t.ok(r.jain > 0.95, `Jain ${r.jain}`);
  const trace = JSON.parse(JSON.stringify(sched.trace!.toJSON()));
  t.ok(trace.traceEvents.length > 0);
});

t.test('watchdog reclaims a workload that runs too long; the other vGPU keeps its share', async (t) => {
  const h = new Harness();
  const hog = h.addGuest({ name: 'hog', ppgtt: false });
  const ok = h.addGuest({ name: 'ok', ppgtt: false });
  const sched = new VgpuScheduler(h.mediator, { watchdogNs: 2 * MS, preempt: false });
  // One giant blit without preemption points: ~8 ms on the device.
  const surf = hog.buffer(32 * 1024 * 1024);
  hog.submit('bcs', xyColorBlt({ dstAddress: surf.gma, dstPitch: 16384, dst: { x1: 0, y1: 0, x2: 4096, y2: 2000 }, color: 1 }));
  busy(ok, 64);
  h.run(50 * MS);
  const hung = hog.workloads.find((w) => w.failure?.rule === 'watchdog');
  t.ok(hung, 'the hog’s workload was ended by the watchdog');
  t.ok(hung!.completedAt - hung!.dispatchedAt <= 2 * MS + 100_000, 'within one watchdog period');
  t.ok(hog.vgpu.events.some((e) => e.kind === 'engine-reset'), 'the hog sees an engine reset');
  t.ok(ok.workloads.filter((w) => w.status === 'completed').length > 50, 'the other vGPU went on');
  t.equal(sched.statsOf(hog.vgpu.id)?.hangs, 1);
});

t.test('a context switch loads the incoming guest’s programmed registers into the device', async (t) => {
  const h = new Harness();
  const a = h.addGuest({ name: 'a', ppgtt: false });
  const b = h.addGuest({ name: 'b', ppgtt: false });
  const sched = new VgpuScheduler(h.mediator);
  const mocs = 0xc800 + 4 * 5; // RCS MOCS control entry 5, a register switched per vGPU
  a.vgpu.mmioWrite(mocs, 4, 0x11);
  b.vgpu.mmioWrite(mocs, 4, 0x22);
  busy(a, 64);
  h.run(200_000);
  t.equal(sched.current, a.vgpu.id);
  t.equal(h.device.regs.peek(mocs), 0x11, 'a’s value on the device while a runs');
  busy(b, 64);
  let seen = -1;
  h.mediator.onWorkloadDispatch((w) => {
    if (w.vgpuId === b.vgpu.id && seen < 0) seen = h.device.regs.peek(mocs);
  });
  h.run(5 * MS);
  t.equal(seen, 0x22, 'b’s value on the device when b’s workload starts');
});
