/**
 * Shadow PPGTT benchmarks.
 *
 * - `ppgtt.build`: shadowing a 1 GiB mapping (a 4-level guest table: 1 PML4, 1 PDP, 1 PD, 512 PTs,
 *   262144 present 4 KiB PTEs naming already pinned guest frames). One call = `PpgttManager.get`
 *   of the root (allocate and populate 515 shadow pages, write-protect 515 guest pages) followed
 *   by `destroy` (free them all), i.e. a fresh shadow each call. Baseline: a raw `PpgttWalker`
 *   walk of the same guest tables (through guest memory) for every mapped page. Unit: PTEs.
 *   Target ratio >= 0.25.
 * - `ppgtt.trap`: trapped guest 8-byte PTE writes (`Ept.guestWrite` of 8 bytes on a protected
 *   PT: EPT trap routing, the shadow handler, landing in guest memory), over 1024 entries of two
 *   PTs, alternating between two frame sets so each write changes its entry. Baseline: the same
 *   entries written raw into guest memory (two `write32` each). Unit: PTE writes. Target >= 0.1.
 * - `ppgtt.trap.w32`: the same with each entry written as two trapped 4-byte halves
 *   (`Ept.guestWrite32`): the first half parks the entry, the second completes it.
 * - `ppgtt.trap.oos`: the `ppgtt.trap` workload with out-of-sync pages on, one `sync()` per call
 *   (a workload submission after every 1024 PTE writes). Per PT and call: the first two writes
 *   trap (the second takes the page out of sync), the other 510 land untrapped; `sync()` then
 *   re-protects both PTs, diffs 2 × 512 entries against the copies and re-shadows the changed
 *   ones (here all, since every entry changes each call). So the figure is the trap overhead
 *   saved, with the whole re-shadow cost amortised in; a guest rewriting entries several times
 *   between submissions would gain more.
 * - `ppgtt.untrapped`: the `ppgtt.trap` workload for a guest whose stores are not trapped
 *   (`guestWrites: 'untrapped'`, v86): 1024 PTEs written straight into guest memory (two
 *   `write32` each), then one `sync(mm)` (the submission), which re-reads and diffs all 5 tables
 *   of the mm and re-shadows the 1024 changed entries. Baseline: the trapped guest in the same
 *   run (1024 trapped `Ept.guestWrite`s and a `sync()`): ratio > 1 means untrapped is cheaper.
 * - `ppgtt.untrapped.submit`: the fixed cost of a submission: an mm mapping 256 MiB in 4 KiB pages
 *   (128 PTs, 131 tables), 16 PTEs rewritten between submissions. Untrapped: 16 plain stores and a
 *   `sync(mm)` that re-reads all 131 tables (536 KiB compared). Baseline: the trapped guest (16
 *   trapped writes, `sync()` with nothing to do). Unit: submissions; the ratio is what the re-read
 *   costs per submission against the traps it saves (it falls as the mm grows, and rises with the
 *   PTE writes made between two submissions).
 */
import { Ept } from '../lib/ept/ept.js';
import { HostMemory, SparseGuestMemory } from '../lib/ept/memory.js';
import { PpgttWalker } from '../lib/gtt/ppgtt-walk.js';
import { PTE_PRESENT, PTE_RW, pteHi, pteLo } from '../lib/gtt/pte.js';
import { PpgttManager } from '../lib/gtt/shadow-ppgtt.js';
import type { BenchCase } from './harness.js';

const MiB = 1024 * 1024;
const ENTRY = PTE_PRESENT | PTE_RW;

/** Write a present table entry straight into guest memory (before anything is protected). */
function put(guest: SparseGuestMemory, table: number, i: number, frame: number): void {
  guest.write32(table * 4096 + i * 8, pteLo(frame, ENTRY));
  guest.write32(table * 4096 + i * 8 + 4, pteHi(frame));
}

function buildCase(): BenchCase {
  const PAGES = 262144;
  const host = new HostMemory({ size: 2048 * MiB });
  const guest = new SparseGuestMemory(1024 * MiB + 4 * MiB);
  const ept = new Ept(guest, host, { name: 'bench' });
  // Tables above the 1 GiB of data frames.
  const pml4 = PAGES;
  const pdp = PAGES + 1;
  const pd = PAGES + 2;
  put(guest, pml4, 0, pdp);
  put(guest, pdp, 0, pd);
  for (let d = 0; d < 512; d++) {
    const pt = PAGES + 3 + d;
    put(guest, pd, d, pt);
    for (let i = 0; i < 512; i++) put(guest, pt, i, d * 512 + i);
  }
  for (let f = 0; f < PAGES; f++) ept.pin(f);
  const mgr = new PpgttManager(ept, host, { name: 'bench' });
  const root = pml4 * 4096;
  const walker = new PpgttWalker(guest);
  let sink = 0;
  // Warm up and check once.
  const mm = mgr.get(root);
  if (mm.translate(123 * 4096 + 5) !== ept.translate(123 * 4096 + 5)) throw new Error('ppgtt.build: shadow wrong');
  mgr.destroy(root);
  return {
    name: 'ppgtt.build',
    unit: 'PTEs',
    unitsPerCall: PAGES,
    fn: () => {
      mgr.get(root);
      mgr.destroy(root);
    },
    baseline: () => {
      for (let p = 0; p < PAGES; p++) {
        walker.walk4(root, p * 4096);
        sink += walker.address;
      }
      if (sink === -1) throw new Error('unreachable');
    },
    target: 0.25,
  };
}

interface TrapRig {
  ept: Ept;
  guest: SparseGuestMemory;
  mgr: PpgttManager;
  /** Guest-physical address of each entry written. */
  addrs: Float64Array;
  /** Entry bytes per phase and entry. */
  bytes: Uint8Array[][];
  los: Uint32Array[];
  his: Uint32Array[];
}

const N = 1024;


/** Entry `k`'s two phases of PTE values (frame k, then frame N + k): halves and 8-byte images. */
function twoPhasePtes(k: number, N: number, los: Uint32Array[], his: Uint32Array[], bytes: Uint8Array[][]): void {
  for (let phase = 0; phase < 2; phase++) {
    const frame = phase * N + k;
    const b = new Uint8Array(8);
    const v = new DataView(b.buffer);
    los[phase][k] = pteLo(frame, ENTRY);
    his[phase][k] = pteHi(frame);
    v.setUint32(0, los[phase][k], true);
    v.setUint32(4, his[phase][k], true);
    bytes[phase].push(b);
  }
}
function trapRig(outOfSync: boolean): TrapRig {
  const host = new HostMemory({ size: 512 * MiB });
  const guest = new SparseGuestMemory(64 * MiB);
  const ept = new Ept(guest, host, { name: 'bench' });
  const pml4 = 8000;
  const pdp = 8001;
  const pd = 8002;
  put(guest, pml4, 0, pdp);
  put(guest, pdp, 0, pd);
  put(guest, pd, 0, 8003);
  put(guest, pd, 1, 8004);
  for (let f = 0; f < 2 * N; f++) ept.pin(f);
  const mgr = new PpgttManager(ept, host, { name: 'bench', outOfSync });
  mgr.get(pml4 * 4096);
  const addrs = new Float64Array(N);
  const bytes: Uint8Array[][] = [[], []];
  const los = [new Uint32Array(N), new Uint32Array(N)];
  const his = [new Uint32Array(N), new Uint32Array(N)];
  for (let k = 0; k < N; k++) {
    addrs[k] = (8003 + (k >>> 9)) * 4096 + (k & 511) * 8;
    twoPhasePtes(k, N, los, his, bytes);
  }
  return { ept, guest, mgr, addrs, bytes, los, his };
}

function rawBaseline(r: TrapRig): () => void {
  let phase = 0;
  return () => {
    const lo = r.los[phase];
    const hi = r.his[phase];
    for (let k = 0; k < N; k++) {
      r.guest.write32(r.addrs[k], lo[k]);
      r.guest.write32(r.addrs[k] + 4, hi[k]);
    }
    phase ^= 1;
  };
}

function trapCase(): BenchCase {
  const r = trapRig(false);
  let phase = 0;
  const fn = () => {
    const b = r.bytes[phase];
    for (let k = 0; k < N; k++) r.ept.guestWrite(r.addrs[k], b[k]);
    phase ^= 1;
  };
  fn();
  fn();
  if (r.mgr.counters.traps !== 2 * N) throw new Error('ppgtt.trap: writes not trapped');
  return { name: 'ppgtt.trap', unit: 'PTE writes', unitsPerCall: N, fn, baseline: rawBaseline(r), target: 0.1 };
}

function trap32Case(): BenchCase {
  const r = trapRig(false);
  let phase = 0;
  return {
    name: 'ppgtt.trap.w32',
    unit: 'PTE writes',
    unitsPerCall: N,
    fn: () => {
      const lo = r.los[phase];
      const hi = r.his[phase];
      for (let k = 0; k < N; k++) {
        r.ept.guestWrite32(r.addrs[k], lo[k]);
        r.ept.guestWrite32(r.addrs[k] + 4, hi[k]);
      }
      phase ^= 1;
    },
    baseline: rawBaseline(r),
  };
}

function oosCase(): BenchCase {
  const r = trapRig(true);
  let phase = 0;
  const fn = () => {
    const b = r.bytes[phase];
    for (let k = 0; k < N; k++) r.ept.guestWrite(r.addrs[k], b[k]);
    r.mgr.sync();
    phase ^= 1;
  };
  fn();
  fn();
  const c = r.mgr.counters;
  if (c.traps !== 8 || c.oosEntered !== 4) throw new Error(`ppgtt.trap.oos: unexpected ${c.traps} traps, ${c.oosEntered} out-of-sync entries`);
  return { name: 'ppgtt.trap.oos', unit: 'PTE writes', unitsPerCall: N, fn, baseline: rawBaseline(r), target: 0.1 };
}

/** A trapped and an untrapped rig with the same guest tables (`pts` PTs of 512 present entries under one PD). */
function pairRigs(pts: number): { trapped: TrapRig; untrapped: TrapRig } {
  const make = (guestWrites: 'trapped' | 'untrapped'): TrapRig => {
    const host = new HostMemory({ size: 1024 * MiB });
    const guest = new SparseGuestMemory(1024 * MiB);
    const ept = new Ept(guest, host, { name: 'bench', guestWrites });
    const pml4 = 200_000, pdp = pml4 + 1, pd = pml4 + 2;
    put(guest, pml4, 0, pdp);
    put(guest, pdp, 0, pd);
    for (let t = 0; t < pts; t++) {
      put(guest, pd, t, pml4 + 3 + t);
      for (let i = 0; i < 512; i++) put(guest, pml4 + 3 + t, i, t * 512 + i);
    }
    for (let f = 0; f < Math.max(2 * N, pts * 512); f++) ept.pin(f);
    const mgr = new PpgttManager(ept, host, { name: 'bench' });
    mgr.get(pml4 * 4096);
    const addrs = new Float64Array(N);
    const bytes: Uint8Array[][] = [[], []];
    const los = [new Uint32Array(N), new Uint32Array(N)];
    const his = [new Uint32Array(N), new Uint32Array(N)];
    for (let k = 0; k < N; k++) {
      // Spread over the PTs (all of them when there are few).
      const t = k % pts, i = Math.floor(k / pts) % 512;
      addrs[k] = (pml4 + 3 + t) * 4096 + i * 8;
      twoPhasePtes(k, N, los, his, bytes);
    }
    return { ept, guest, mgr, addrs, bytes, los, his };
  };
  return { trapped: make('trapped'), untrapped: make('untrapped') };
}

/** `writes` PTE writes then a submission: trapped (vCPU path, `sync()`) or untrapped (plain stores, `sync(mm)`). */
function submitLoops(rigs: { trapped: TrapRig; untrapped: TrapRig }, writes: number): { trapped: () => void; untrapped: () => void } {
  const { trapped: t, untrapped: u } = rigs;
  const mm = u.mgr.find(200_000 * 4096)!;
  let pt = 0, pu = 0;
  return {
    trapped: () => {
      const b = t.bytes[pt];
      for (let k = 0; k < writes; k++) t.ept.guestWrite(t.addrs[k], b[k]);
      t.mgr.sync();
      pt ^= 1;
    },
    untrapped: () => {
      const lo = u.los[pu], hi = u.his[pu];
      for (let k = 0; k < writes; k++) {
        u.guest.write32(u.addrs[k], lo[k]);
        u.guest.write32(u.addrs[k] + 4, hi[k]);
      }
      u.mgr.sync(mm);
      pu ^= 1;
    },
  };
}

function untrappedCase(): BenchCase {
  const rigs = pairRigs(2);
  const loops = submitLoops(rigs, N);
  for (let i = 0; i < 2; i++) {
    loops.trapped();
    loops.untrapped();
  }
  const tm = rigs.trapped.mgr.find(200_000 * 4096)!, um = rigs.untrapped.mgr.find(200_000 * 4096)!;
  for (const gma of [0, 5 * 4096, 700 * 4096]) {
    if (rigs.trapped.ept.gfnOfMfn(Math.floor(tm.translate(gma) / 4096)) !== rigs.untrapped.ept.gfnOfMfn(Math.floor(um.translate(gma) / 4096))) {
      throw new Error('ppgtt.untrapped: the two shadows disagree');
    }
  }
  if (rigs.untrapped.mgr.counters.traps !== 0 || rigs.untrapped.ept.protectedFrames !== 0) throw new Error('ppgtt.untrapped: something was trapped');
  return { name: 'ppgtt.untrapped', unit: 'PTE writes', unitsPerCall: N, fn: loops.untrapped, baseline: loops.trapped };
}

function untrappedSubmitCase(): BenchCase {
  const rigs = pairRigs(128);
  const loops = submitLoops(rigs, 16);
  loops.trapped();
  loops.untrapped();
  if (rigs.untrapped.mgr.counters.resyncedPages < 131) throw new Error('ppgtt.untrapped.submit: the mm was not re-read');
  return { name: 'ppgtt.untrapped.submit', unit: 'submissions', unitsPerCall: 1, fn: loops.untrapped, baseline: loops.trapped };
}

export function cases(): BenchCase[] {
  return [buildCase(), trapCase(), trap32Case(), oosCase(), untrappedCase(), untrappedSubmitCase()];
}
