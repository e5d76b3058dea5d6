/**
 * GGTT fuzzer: random writes of GGTT entries through the BAR0 window (8-byte entries, 4-byte halves
 * in either order, lone halves, misaligned and wrong-size accesses) at entries of the attacker's
 * slices, the victim's slices, the mediator's shadow range and anywhere, with frames of the
 * attacker's RAM, beyond its RAM, the victim's host frame numbers and garbage; reads back; aperture
 * accesses through the entries; and a final store through an entry by the GPU.
 *
 * Its own oracle: a model of the shadow GGTT's documented semantics for a zone of entries the
 * attacker owns (what the guest reads back, what the host entry holds: its own frame with its
 * flags, scratch, or parked), and what a GPU store or an aperture write through an entry does to
 * the attacker's RAM.
 */
import type { Rng } from '../../clock.js';
import { miStoreDataImm } from '../../device/commands/index.js';
import { PTE_PRESENT, pteHi, pteLo } from '../../gtt/pte.js';
import { PAGE_SIZE, TWO_POW_32 } from '../../types.js';
import { chance, hx, pick, u32, type Fuzzer } from '../fuzzer.js';
import { INVARIANTS, type Violation } from '../monitor.js';
import { GSCALE_SHARED_WORLD, type FuzzWorld } from '../world.js';

const WINDOW = 8 * 1024 * 1024;
const ZONE = 256;
const LOW_ZONE = 16;
const DATA_PAGES = 64;

/** One operation of the GGTT fuzzer. */
export type GttOp =
  | { readonly k: 'pte'; readonly index: number; readonly lo: number; readonly hi: number; readonly how: 'q' | 'lo' | 'hi' | 'lohi' | 'hilo' | 'bad' }
  | { readonly k: 'read'; readonly index: number; readonly size: number; readonly half: number }
  | { readonly k: 'ap'; readonly page: number; readonly off: number; readonly value: number; readonly write: boolean }
  | { readonly k: 'use'; readonly index: number; readonly off: number; readonly value: number };

interface Entry {
  lo: number;
  hi: number;
  /** 0 whole, 1 low half held, 2 high half held. */
  held: number;
}

interface GttState {
  /** First entry of the high zone and of the low (aperture) zone. */
  readonly zone: number;
  readonly lowZone: number;
  /** First guest frame of the data pages the entries usually name. */
  readonly dataGfn: number;
  /** The model: guest view of the zone entries (absent: never written since the last reset). */
  readonly model: Map<number, Entry>;
  /** Host frame numbers of the victim, to name as guest frames. */
  readonly victimFrames: number[];
}

function inZone(st: GttState, index: number): boolean {
  return (index >= st.zone && index < st.zone + ZONE) || (index >= st.lowZone && index < st.lowZone + LOW_ZONE);
}

function genPte(rng: Rng, st: GttState, w: FuzzWorld): [number, number] {
  const frames = w.attacker.vgpu.ept.frames;
  const r = rng.int(100);
  let gfn: number;
  if (r < 55) gfn = st.dataGfn + rng.int(DATA_PAGES);
  else if (r < 65) gfn = rng.int(frames);
  else if (r < 75) gfn = frames + rng.int(4096);
  else if (r < 85 && st.victimFrames.length) gfn = pick(rng, st.victimFrames);
  else if (r < 90) gfn = 2 ** 27 - 1 - rng.int(16);
  else return [u32(rng), u32(rng)];
  const flags = (chance(rng, 0.85) ? PTE_PRESENT : 0) | (rng.int(2048) << 1);
  return [((gfn << 12) | flags) >>> 0, Math.floor(gfn / 2 ** 20) & 0x7f];
}

function genIndex(rng: Rng, st: GttState, w: FuzzWorld): number {
  const r = rng.int(100);
  if (r < 70) return st.zone + rng.int(ZONE);
  if (r < 80) return st.lowZone + rng.int(LOW_ZONE);
  const a = w.attacker.vgpu.slices, v = w.victim?.g.vgpu.slices ?? a;
  return pick(rng, [
    a.highBase / PAGE_SIZE + rng.int(a.highSize / PAGE_SIZE), a.lowBase / PAGE_SIZE - 1, (a.highBase + a.highSize) / PAGE_SIZE,
    v.lowBase / PAGE_SIZE + rng.int(v.lowSize / PAGE_SIZE), v.highBase / PAGE_SIZE + rng.int(64), w.h.mediator.hostGm.start / PAGE_SIZE + rng.int(128),
    rng.int(1 << 20), (1 << 20) - 1,
  ]);
}

/** Apply a guest write to the model (the shadow GGTT's semantics for the attacker's zone). */
function modelWrite(e: Entry, half: 0 | 1 | 2, lo: number, hi: number): void {
  if (half === 0) {
    e.lo = lo;
    e.hi = hi;
    e.held = 0;
    return;
  }
  if (half === 1) e.lo = lo;
  else e.hi = hi;
  if (e.held === 0) e.held = half;
  else if (e.held !== half) e.held = 0;
}

function entryOf(st: GttState, index: number): Entry {
  let e = st.model.get(index);
  if (!e) {
    e = { lo: 0, hi: 0, held: 0 };
    st.model.set(index, e);
  }
  return e;
}

/** What the host entry must hold for a model entry: [lo, hi] (frame -1: its own frame of `gfn`). */
function expectedHost(w: FuzzWorld, e: Entry | undefined): { lo: number; hi: number } {
  const v = w.attacker.vgpu;
  const scratch = v.ggtt.scratchMfn;
  const parked = { lo: (scratch << 12) >>> 0, hi: scratch >>> 20 };
  if (e === undefined) return { lo: (parked.lo | PTE_PRESENT) >>> 0, hi: parked.hi };
  if (e.held !== 0 || (e.lo & PTE_PRESENT) === 0) return parked;
  const gfn = ((e.lo >>> 12) | ((e.hi & 0x7f) << 20)) >>> 0;
  const mfn = v.ept.translateGfn(gfn);
  if (mfn < 0) return { lo: (parked.lo | (e.lo & 0xfff)) >>> 0, hi: parked.hi };
  return { lo: ((mfn << 12) | (e.lo & 0xfff)) >>> 0, hi: mfn >>> 20 };
}

/** The guest RAM address an entry maps through its own frame, or -1 (scratch, parked). */
function ramOf(w: FuzzWorld, e: Entry | undefined): number {
  if (!e || e.held !== 0 || (e.lo & PTE_PRESENT) === 0) return -1;
  const gfn = ((e.lo >>> 12) | ((e.hi & 0x7f) << 20)) >>> 0;
  return gfn < w.attacker.vgpu.ept.frames ? gfn * PAGE_SIZE : -1;
}

/** The GGTT fuzzer. */
export const gttFuzzer: Fuzzer<GttOp, GttState> = {
  name: 'gtt',
  description: 'GGTT entry writes through the BAR0 window (halves, both orders, bad sizes), reads, aperture accesses and GPU stores, against a model',
  casesPerWorld: 500,
  victimEvery: 4,
  // Every fourth world shares the victim's slices and fences under gScale.
  worldOptions: (seed, worldIndex) => ({ seed: seed + worldIndex, failsafe: worldIndex % 2 === 0 ? 'gvt-g' : 'never', ...(worldIndex % 4 === 3 ? GSCALE_SHARED_WORLD : {}) }),
  setup(world) {
    const g = world.attacker;
    g.engine('rcs');
    const d = g.driver;
    const zone = d.allocGm(ZONE * PAGE_SIZE) / PAGE_SIZE;
    const lowZone = d.allocGm(LOW_ZONE * PAGE_SIZE, { mappable: true }) / PAGE_SIZE;
    const dataGpa = d.allocRam(DATA_PAGES);
    d.writeRam(dataGpa, new Uint8Array(DATA_PAGES * PAGE_SIZE));
    const victimFrames: number[] = [];
    const vict = world.victim;
    if (vict) {
      for (const gma of [vict.ggttBuf.gma, vict.canary.gma, vict.canary.gma + PAGE_SIZE]) {
        const hpa = vict.g.vgpu.ggtt.translate(gma);
        if (hpa >= 0) victimFrames.push(Math.floor(hpa / PAGE_SIZE));
      }
    }
    return { zone, lowZone, dataGfn: dataGpa / PAGE_SIZE, model: new Map(), victimFrames };
  },
  generate(rng, st, world) {
    const ops: GttOp[] = [];
    const n = 4 + rng.int(20);
    for (let i = 0; i < n; i++) {
      const r = rng.int(100);
      if (r < 70) {
        const [lo, hi] = genPte(rng, st, world);
        ops.push({ k: 'pte', index: genIndex(rng, st, world), lo, hi, how: pick(rng, ['q', 'q', 'q', 'q', 'q', 'q', 'lo', 'hi', 'lohi', 'hilo', 'bad'] as const) });
      } else if (r < 85) {
        ops.push({ k: 'read', index: genIndex(rng, st, world), size: pick(rng, [4, 8, 2]), half: rng.int(2) });
      } else {
        ops.push({ k: 'ap', page: st.lowZone + rng.int(LOW_ZONE), off: rng.int(1024) * 4, value: rng.nextU32(), write: chance(rng, 0.7) });
      }
    }
    if (chance(rng, 0.5)) ops.push({ k: 'use', index: st.zone + rng.int(ZONE), off: rng.int(1024) * 4, value: rng.nextU32() | 1 });
    return ops;
  },
  execute(world, st, ops) {
    const g = world.attacker;
    const v = g.vgpu;
    if (v.state === 'failsafe') st.model.clear();
    world.heal(g, false);
    const out: Violation[] = [];
    const bad = (message: string): void => {
      if (out.length < 8) out.push({ invariant: INVARIANTS.ORACLE, message });
    };
    const touchedMapped = new Set<number>();
    const gttMap = g.driver['gttMap'] as Map<number, number>;
    let use: { gpa: number; value: number; hang: boolean } | null = null;
    const restoreMapped = (): void => {
      for (const index of touchedMapped) {
        const gpa = gttMap.get(index * PAGE_SIZE)!;
        g.driver.writePte(index, pteLo(gpa / PAGE_SIZE, PTE_PRESENT), pteHi(gpa / PAGE_SIZE));
      }
      touchedMapped.clear();
    };
    for (const op of ops) {
      if (op.k === 'pte') {
        const off = WINDOW + op.index * 8;
        const zoned = inZone(st, op.index);
        const owned = v.ggtt.slotOf(op.index) >= 0;
        switch (op.how) {
          case 'q': {
            // The facade takes an 8-byte value as a number: above 2^53 its low bits round, and
            // the guest's entry is what the number says (`value >>> 0`, `floor(value / 2^32)`).
            const val = op.hi * TWO_POW_32 + op.lo;
            v.mmioWrite(off, 8, val);
            if (zoned) modelWrite(entryOf(st, op.index), 0, val >>> 0, Math.floor(val / TWO_POW_32) >>> 0);
            break;
          }
          case 'lo':
          case 'hi':
            v.mmioWrite(off + (op.how === 'hi' ? 4 : 0), 4, op.how === 'hi' ? op.hi : op.lo);
            if (zoned) modelWrite(entryOf(st, op.index), op.how === 'hi' ? 2 : 1, op.lo, op.hi);
            break;
          case 'lohi':
          case 'hilo': {
            const first: 1 | 2 = op.how === 'lohi' ? 1 : 2;
            for (const h of [first, first === 1 ? 2 : 1] as const) {
              v.mmioWrite(off + (h === 2 ? 4 : 0), 4, h === 2 ? op.hi : op.lo);
              if (zoned) modelWrite(entryOf(st, op.index), h, op.lo, op.hi);
            }
            break;
          }
          case 'bad':
            v.mmioWrite(off + pick1(op.lo, [1, 2, 3, 6]), pick1(op.hi, [8, 4, 2, 1]), op.lo);
            v.mmioWrite(off + 4, 8, op.lo);
            break;
        }
        if (owned && !zoned && gttMap.has(op.index * PAGE_SIZE)) touchedMapped.add(op.index);
      } else if (op.k === 'read') {
        const off = WINDOW + op.index * 8 + (op.size === 4 ? 4 * op.half : op.size === 2 ? 2 : 0);
        const got = v.mmioRead(off, op.size);
        if (inZone(st, op.index) && op.size !== 2) {
          const e = st.model.get(op.index) ?? { lo: 0, hi: 0, held: 0 };
          const want = op.size === 8 ? e.hi * TWO_POW_32 + e.lo : op.half ? e.hi : e.lo;
          if (got !== want) bad(`read of GGTT entry ${hx(op.index)} (${op.size} bytes) gave ${hx(got)}, the guest wrote ${hx(want)}`);
        } else if (v.ggtt.slotOf(op.index) < 0 && got !== 0) {
          bad(`read of GGTT entry ${hx(op.index)} outside the attacker's slices gave ${hx(got)}`);
        }
      } else if (op.k === 'ap') {
        const gma = op.page * PAGE_SIZE + op.off;
        const ram = ramOf(world, st.model.get(op.page));
        if (op.write) {
          v.apertureWrite(gma, 4, op.value);
          if (ram >= 0 && g.memory.read32(ram + op.off) !== op.value) bad(`aperture write at ${hx(gma)} did not reach the attacker's RAM at ${hx(ram + op.off)}`);
        } else {
          const got = v.apertureRead(gma, 4);
          if (ram >= 0 && got !== g.memory.read32(ram + op.off)) bad(`aperture read at ${hx(gma)} gave ${hx(got)}, RAM holds ${hx(g.memory.read32(ram + op.off))}`);
        }
      } else {
        // The guest's driver needs its own ring and context mappings to submit: put back those
        // the case overwrote (the context image is read at submission).
        restoreMapped();
        const e = st.model.get(op.index);
        const gma = op.index * PAGE_SIZE + op.off;
        g.submit('rcs', miStoreDataImm(gma, [op.value], { ggtt: true }));
        const ram = ramOf(world, e);
        const present = e === undefined || (e.held === 0 && (e.lo & PTE_PRESENT) !== 0);
        use = { gpa: ram >= 0 ? ram + op.off : -1, value: op.value, hang: !present };
      }
    }
    // Host entries of the zone against the model.
    for (const [index, e] of st.model) {
      const want = expectedHost(world, e);
      // The attacker's host entry: in the host GGTT, or (gScale, not resident) its private table.
      const [lo, hi] = v.ggtt.hostEntry(index);
      if (lo !== want.lo || hi !== want.hi) {
        bad(`host GGTT entry ${hx(index)} is ${hx(hi)}:${hx(lo)}, expected ${hx(want.hi)}:${hx(want.lo)} (guest ${hx(e.hi)}:${hx(e.lo)} held ${e.held})`);
      }
    }
    world.settle();
    if (use !== null) {
      const wl = world.lastWorkload(g, 'rcs');
      if (use.hang) {
        if (!wl || wl.status !== 'failed' || wl.failure?.rule !== 'gpu-hang') bad(`a GPU store through a non-present entry: expected a gpu-hang failure, got ${wl?.status} ${wl?.failure?.rule}`);
      } else if (!wl || wl.status !== 'completed') {
        bad(`a GPU store through a present entry failed: ${wl?.failure?.rule}: ${wl?.failure?.message}`);
      } else if (use.gpa >= 0 && g.memory.read32(use.gpa) !== use.value >>> 0) {
        bad(`a GPU store through a present entry left ${hx(g.memory.read32(use.gpa))} in the attacker's RAM, expected ${hx(use.value)}`);
      }
    }
    // Give the attacker's driver back the mappings it relies on (its ring, contexts, buffers).
    restoreMapped();
    if (v.state === 'failsafe') st.model.clear();
    return out;
  },
  format(op) {
    switch (op.k) {
      case 'pte': return `pte ${hx(op.index)} ${op.how} ${hx(op.hi)}:${hx(op.lo)}`;
      case 'read': return `read ${hx(op.index)} size ${op.size} half ${op.half}`;
      case 'ap': return `aperture ${op.write ? 'write' : 'read'} ${hx(op.page * PAGE_SIZE + op.off)}${op.write ? ` ${hx(op.value)}` : ''}`;
      case 'use': return `GPU store ${hx(op.value)} at GGTT ${hx(op.index * PAGE_SIZE + op.off)}`;
    }
  },
};

/** A deterministic choice from a value already in the op. */
function pick1(seed: number, xs: readonly number[]): number {
  return xs[(seed >>> 3) % xs.length];
}
