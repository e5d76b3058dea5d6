/**
 * The workload state machine (`WorkloadBook`, issue 14): every transition, a drop (an end) from
 * every state, and the invariants after each: each workload in exactly one place, shadows
 * released exactly once, history bounded, counters consistent. Then the same through a mediator
 * driven by guests: drops from queued, preparing and in flight, preemption, waits.
 */
import t from 'tap';
import { GEN9_ENGINES } from '../lib/device/engines.js';
import { miArbCheck, miStoreDataImm } from '../lib/device/commands/index.js';
import { FuzzWorld } from '../lib/fuzz/world.js';
import { WorkloadBook, type WorkloadPlace } from '../lib/mediator/workload-book.js';
import { droppedFailure, workloadFailure, type Workload } from '../lib/mediator/workload.js';
import { PAGE_SIZE } from '../lib/types.js';

let seq = 0;
function workload(engine = 0): Workload {
  return {
    seq: ++seq, vgpuId: 1, engine: GEN9_ENGINES[engine], descLo: 0, descHi: 0, contextId: 0, lrca: 0x1000,
    ringBase: 0, ringSize: PAGE_SIZE, head: 0, tail: 0, addressingMode: 3, pdps: [0, 0, 0, 0], frameEnd: false,
    status: 'queued', failure: null, submittedAt: 0, dispatchedAt: -1, completedAt: -1,
    commands: 0, batches: 0, patched: 0, userInterrupts: 0, hostContextId: seq, preemptions: 0, mediationNs: 0, busyNs: 0,
    shadowAllocs: [], shadowContext: null, ppgtt: null, ppHwspAtDispatch: null, ringContextPending: false,
  };
}

function makeBook(historyLimit = 4) {
  let now = 0;
  const released = new Map<Workload, number>();
  const counters = { submitted: 0, completed: 0, failed: 0, preempted: 0 };
  const book = new WorkloadBook(GEN9_ENGINES.length, historyLimit, {
    now: () => now,
    release: (w) => released.set(w, (released.get(w) ?? 0) + 1),
  }, counters);
  return { book, released, counters, advance: (ns: number) => (now += ns) };
}

/** Bring a fresh workload to `place` (the transitions that lead there). */
function bringTo(book: WorkloadBook, place: WorkloadPlace, engine = 0): Workload {
  const w = workload(engine);
  book.submit(w);
  if (place === 'queued') return w;
  book.take(w);
  if (place === 'taken') return w;
  if (place === 'stopping') {
    book.stop(w);
    return w;
  }
  book.reserve(w);
  if (place === 'preparing') return w;
  book.start(w);
  return w;
}

t.test('every transition keeps the invariants', async (t) => {
  const { book, released, counters, advance } = makeBook();
  const w = workload();
  t.equal(book.placeOf(w), 'unknown');
  book.submit(w);
  t.equal(book.placeOf(w), 'queued');
  t.same(book.check(), [], 'after submit');
  t.throws(() => book.submit(w), { code: 'E_INTERNAL' }, 'a second submit is a bug, refused');
  const i = book.take(w);
  t.equal(book.placeOf(w), 'taken');
  t.same(book.check(), [], 'after take');
  book.requeue(w, i);
  book.wait(w, 1000);
  t.equal(book.placeOf(w), 'queued');
  t.equal(book.waitingUntil(w), 1000);
  t.same(book.check(), [], 'after requeue and wait');
  book.clearWaits();
  t.equal(book.waitingUntil(w), undefined);
  book.take(w);
  book.reserve(w);
  t.equal(book.placeOf(w), 'preparing');
  t.same(book.check(), [], 'after reserve');
  book.start(w);
  t.equal(book.placeOf(w), 'inflight');
  t.equal(w.status, 'running');
  t.equal(book.byContext(w.hostContextId), w);
  t.same(book.check(), [], 'after start');
  advance(500);
  t.equal(book.busySoFar(w), 500);
  book.preempted(w);
  t.equal(book.placeOf(w), 'queued');
  t.equal(book.queues[0][0], w, 'first in line again');
  t.equal(w.preemptions, 1);
  t.equal(w.busyNs, 500);
  t.equal(counters.preempted, 1);
  t.same(book.check(), [], 'after preempted');
  book.take(w);
  book.reserve(w);
  book.start(w);
  advance(250);
  book.closeRun(w);
  t.ok(book.end(w, 'completed', null));
  t.equal(w.busyNs, 750, 'busy time of both runs');
  t.equal(book.placeOf(w), 'ended');
  t.equal(released.get(w), 1, 'released once');
  t.notOk(book.end(w, 'failed', droppedFailure(false)), 'a second end is ignored');
  t.equal(released.get(w), 1, 'still released once');
  t.equal(w.status, 'completed');
  t.same(counters, { submitted: 1, completed: 1, failed: 0, preempted: 1 });
  t.same(book.check(), [], 'after end');
});

t.test('a drop (end) from every state', async (t) => {
  for (const place of ['queued', 'taken', 'preparing', 'inflight', 'stopping'] as const) {
    const { book, released, counters } = makeBook();
    const other = bringTo(book, 'queued', 1);
    const w = bringTo(book, place);
    t.equal(book.placeOf(w), place);
    t.same(book.check(), [], `${place}: before the drop`);
    t.equal(book.pending(), 2);
    t.ok(book.end(w, 'failed', droppedFailure(place === 'inflight')));
    t.equal(book.placeOf(w), 'ended', `${place}: ended`);
    t.equal(w.status, 'failed');
    t.equal(w.failure?.rule, 'reset');
    t.equal(released.get(w), 1, `${place}: released exactly once`);
    t.equal(released.get(other), undefined, `${place}: the other workload untouched`);
    t.equal(book.placeOf(other), 'queued');
    t.equal(book.pending(), 1);
    t.equal(book.byContext(w.hostContextId), undefined, `${place}: not found by its host context`);
    t.same(counters, { submitted: 2, completed: 0, failed: 1, preempted: 0 });
    t.same(book.check(), [], `${place}: after the drop`);
  }
});

t.test('history stays within its limit and the invariants see a broken structure', async (t) => {
  const { book } = makeBook(3);
  for (let i = 0; i < 10; i++) book.end(bringTo(book, 'inflight'), i % 2 ? 'completed' : 'failed', i % 2 ? null : workloadFailure('gpu-hang', 'HANG', 'x'));
  t.equal(book.history.length, 3);
  t.same(book.history.map((w) => w.status), ['completed', 'failed', 'completed'], 'the last three (the 8th, 9th and 10th) kept');
  t.same(book.check(), []);
  // A workload planted in two places, or holding shadows after its end, is reported.
  const w = bringTo(book, 'queued');
  (book.queues[1] as Workload[]).push(w);
  t.match(book.check().join('\n'), /two places|of engine 0 in queue 1/);
  (book.queues[1] as Workload[]).length = 0;
  book.end(w, 'completed', null);
  w.shadowContext = { gma: 0, pages: 1 } as never;
  t.match(book.check().join('\n'), /still holds shadows/);
});

t.test('through a mediator: drops from queued, preparing and in flight, preemption and waits keep the invariants', async (t) => {
  const w = new FuzzWorld({ seed: 0x14b });
  const g = w.attacker, m = w.h.mediator;
  const check = (what: string): void => void t.same(m.checkWorkloads(), [], what);
  const buf = g.ppgttBuffer(PAGE_SIZE);
  const long = (): number[] => {
    const words: number[] = [];
    for (let i = 0; i < 300; i++) words.push(...miStoreDataImm(buf.gma + 4 * (i % 256), [i]), ...miArbCheck());
    return words;
  };
  t.ok(w.settle());
  check('settled');
  // In flight, then reset: stopped on the device and dropped.
  g.submitBatch('rcs', long());
  m.run(20_000);
  t.ok(m.inflightOn(0), 'a workload is in flight');
  check('in flight');
  w.revive(g); // a device-model reset, and the guest driver starting again
  check('after a reset with work in flight');
  // Work queued on two engines; then preempted and failsafe (its queued work is dropped).
  g.submitBatch('rcs', long());
  g.submitBatch('bcs', miStoreDataImm(buf.gma, [1]));
  check('queued');
  const until = (cond: () => boolean): boolean => {
    for (let i = 0; i < 5000 && !cond(); i++) m.run(1_000);
    return cond();
  };
  t.ok(until(() => m.inflightOn(0) !== null), 'the long workload reached the device');
  check('in flight again');
  const preempted = m.stats.preempted;
  t.ok(m.preempt(0), 'preemption requested');
  t.ok(until(() => m.stats.preempted > preempted), 'the device preempted it');
  check('after a preemption');
  g.vgpu.enterFailsafe('test');
  check('after failsafe');
  t.ok(w.settle());
  check('settled again');
  const h = m.history;
  t.ok(h.length <= 256, 'history bounded by the world\'s limit');
  t.equal(m.stats.submitted, m.stats.completed + m.stats.failed + m.pendingWorkloads, 'every workload counted once');
  t.ok(h.some((x) => x.failure?.rule === 'reset'), 'some workloads were dropped');
  t.ok(m.stats.preempted >= 1, `a workload was preempted (${m.stats.preempted})`);
  t.same(w.teardown(), [], 'every shadow and host frame came back');
});

t.test('the fuzz worlds check the state machine after every case (invariant workload-state)', async (t) => {
  const w = new FuzzWorld({ seed: 0x14c });
  t.ok(w.settle());
  t.same(w.check().filter((v) => v.invariant === 'workload-state'), [], 'a healthy world');
  // Break it on purpose: an ended workload in the history that still holds a shadow context.
  const fake = workload();
  fake.completedAt = 1;
  fake.status = 'completed';
  fake.shadowContext = { gma: 0, pages: 1 } as never;
  w.h.mediator.history.push(fake);
  const found = w.check().filter((v) => v.invariant === 'workload-state');
  t.match(found.map((v) => v.message).join('\n'), /still holds shadows/, 'reported');
  w.h.mediator.history.pop();
  w.teardown();
});
