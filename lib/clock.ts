/**
 * A deterministic discrete-event clock in simulated nanoseconds.
 *
 * Events are ordered by (time, insertion sequence), so two events at the same instant run in the
 * order they were scheduled: the same inputs give the same run, byte for byte. The wall clock is
 * never read.
 */

/** A scheduled callback. `cancel()` makes it a no-op. */
export interface ClockEvent {
  readonly time: number;
  readonly seq: number;
  cancelled: boolean;
  readonly fn: () => void;
}

export class SimClock {
  /** Current simulated time in ns. */
  now = 0;
  private heap: ClockEvent[] = [];
  private seq = 0;
  /** The event whose callback runs now (`rearm`), else null. */
  private current: ClockEvent | null = null;
  /** Events run since creation. */
  eventsRun = 0;

  /** Schedule `fn` to run `delayNs` from now (0 = later at this instant). */
  schedule(delayNs: number, fn: () => void): ClockEvent {
    if (!(delayNs >= 0) || !Number.isFinite(delayNs)) throw new RangeError(`delay ${delayNs} ns`);
    return this.at(this.now + delayNs, fn);
  }

  /** Schedule `fn` at absolute time `timeNs` (not before now). */
  at(timeNs: number, fn: () => void): ClockEvent {
    const ev: ClockEvent = { time: Math.max(timeNs, this.now), seq: this.seq++, cancelled: false, fn };
    this.push(ev);
    return ev;
  }

  /**
   * Schedule `ev`, the event running now (called from its own callback), again at `timeNs` (not
   * before now): the same object with a new time and sequence number, so a periodic timer re-arms
   * without allocating. Any other event throws (one still queued would be in the heap twice).
   */
  rearm(ev: ClockEvent, timeNs: number): ClockEvent {
    if (ev !== this.current) throw new RangeError('rearm: only the running event can be re-armed');
    const e = ev as { time: number; seq: number; cancelled: boolean };
    e.time = Math.max(timeNs, this.now);
    e.seq = this.seq++;
    e.cancelled = false;
    this.current = null;
    this.push(ev);
    return ev;
  }

  /** Number of pending, not cancelled events. */
  get pending(): number {
    let n = 0;
    for (const e of this.heap) if (!e.cancelled) n++;
    return n;
  }

  /** Time of the next pending event, or Infinity. */
  nextTime(): number {
    this.dropCancelled();
    return this.heap.length ? this.heap[0].time : Infinity;
  }

  /** Run the next event; false when none is pending. */
  step(): boolean {
    this.dropCancelled();
    const ev = this.pop();
    if (!ev) return false;
    this.now = ev.time;
    this.eventsRun++;
    this.current = ev;
    try {
      ev.fn();
    } finally {
      this.current = null;
    }
    return true;
  }

  /** Run events up to and including time `untilNs`, then set now = untilNs. */
  runUntil(untilNs: number): void {
    for (;;) {
      this.dropCancelled();
      if (!this.heap.length || this.heap[0].time > untilNs) break;
      this.step();
    }
    if (untilNs > this.now) this.now = untilNs;
  }

  /** Advance by `ns`, running every event due. */
  advance(ns: number): void {
    this.runUntil(this.now + ns);
  }

  /** Run until no event is pending or `maxEvents` ran; returns events run. */
  runUntilIdle(maxEvents = 10_000_000): number {
    let n = 0;
    while (n < maxEvents && this.step()) n++;
    return n;
  }

  private dropCancelled(): void {
    while (this.heap.length && this.heap[0].cancelled) this.pop();
  }

  private less(a: ClockEvent, b: ClockEvent): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  private push(ev: ClockEvent): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): ClockEvent | undefined {
    const h = this.heap;
    if (!h.length) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

/** A small deterministic PRNG (mulberry32) for seeded workloads and experiments. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Next u32. */
  nextU32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}
