/**
 * PPGTT fuzzer: the attacker rewrites its own 4-level page tables with vCPU stores while they are
 * shadowed: entries pointing at other tables of any level (loops, a PT used as a PD), at fresh
 * pages, at its data pages used as tables, beyond its RAM, at the victim's host frame numbers;
 * 2 MiB, 64 KiB and 1 GiB page bits; 8-byte, 4-byte half, byte and misaligned stores; g2v
 * PPGTT create/destroy notifications with random roots; contexts submitted with random roots; and
 * GPU stores through the tables.
 *
 * One world in three runs the attacker untrapped, one in six the victim too (`WorldOptions.untrapped`):
 * its stores land straight in guest memory (as v86's JIT stores do), never through
 * `Vgpu.guestWrite`, and the shadow PPGTT re-reads its tables at each submission.
 *
 * The checks are the world's: every shadow table names only the attacker's shadow tables, scratch
 * and its own frames; host frames held for shadow tables stay bounded by its RAM; the device only
 * reaches the attacker's frames; the victim is untouched.
 */
import type { Rng } from '../../clock.js';
import { miBatchBufferEnd, miBatchBufferStart, miNoop, miStoreDataImm } from '../../device/commands/index.js';
import { CtxReg, ctxPdpLdw, ctxPdpUdw, encodeDescriptor, readContextValue, writeContextValue } from '../../device/lrc.js';
import { PDE_IPS, PDE_PS, PTE_PRESENT, PTE_RW } from '../../gtt/pte.js';
import type { GuestBuffer } from '../../guest/engine.js';
import type { TestGuest } from '../../harness/index.js';
import { PAGE_SIZE } from '../../types.js';
import { chance, hx, pick, u32, type Fuzzer } from '../fuzzer.js';
import type { Violation } from '../monitor.js';
import type { FuzzWorld } from '../world.js';

/** One operation of the PPGTT fuzzer. */
export type PpgttOp =
  | { readonly k: 'entry'; readonly table: number; readonly index: number; readonly lo: number; readonly hi: number; readonly how: 'q' | 'lo' | 'hi' | 'byte' | 'odd' }
  | { readonly k: 'fill'; readonly page: number; readonly seed: number }
  | { readonly k: 'g2v'; readonly code: number; readonly roots: readonly number[] }
  | { readonly k: 'root'; readonly root: number; readonly mode: number }
  | { readonly k: 'use'; readonly va: number; readonly value: number };

interface Table {
  readonly gpa: number;
  readonly level: number;
}

interface PpgttState {
  readonly tables: readonly Table[];
  readonly spare: readonly number[];
  readonly data: GuestBuffer;
  readonly batch: GuestBuffer;
  /** Entries on the paths of `data` and `batch` with their values: [gpa, lo, hi]. */
  readonly path: readonly (readonly [number, number, number])[];
  readonly victimFrames: readonly number[];
  readonly frames: number;
}

const SPARE = 32;

/** The guest tables of `g`'s PPGTT, by walking them from the PML4 (present entries only). */
function guestTables(w: FuzzWorld): Table[] {
  const g = w.attacker;
  const mem = g.memory;
  const out: Table[] = [];
  const seen = new Set<number>();
  const visit = (gpa: number, level: number): void => {
    if (seen.has(gpa) || gpa >= mem.size) return;
    seen.add(gpa);
    out.push({ gpa, level });
    if (level === 1) return;
    for (let i = 0; i < 512; i++) {
      const lo = mem.read32(gpa + 8 * i);
      if ((lo & PTE_PRESENT) === 0 || (level === 2 && (lo & PDE_PS) !== 0)) continue;
      visit((lo & 0xfffff000) >>> 0, level - 1);
    }
  };
  visit(g.ppgtt!.pml4, 4);
  return out;
}

/** The four entries on the walk of `va` (and `pages` more PT entries), with their values. */
function pathOf(w: FuzzWorld, va: number, pages: number): [number, number, number][] {
  const mem = w.attacker.memory;
  const out: [number, number, number][] = [];
  let table = w.attacker.ppgtt!.pml4;
  const shifts = [39, 30, 21, 12];
  for (let l = 0; l < 4; l++) {
    const i = Math.floor(va / 2 ** shifts[l]) % 512;
    const n = l === 3 ? pages : 1;
    for (let k = 0; k < n; k++) {
      const at = table + 8 * (i + k);
      out.push([at, mem.read32(at), mem.read32(at + 4)]);
    }
    table = (mem.read32(table + 8 * i) & 0xfffff000) >>> 0;
  }
  return out;
}

function genEntry(rng: Rng, st: PpgttState, level: number): [number, number] {
  const r = rng.int(100);
  let frame: number;
  let flags = PTE_PRESENT | PTE_RW;
  if (r < 25) frame = pick(rng, st.tables).gpa / PAGE_SIZE;
  else if (r < 40) frame = pick(rng, st.spare) / PAGE_SIZE;
  else if (r < 60) frame = st.data.gpa / PAGE_SIZE + rng.int(8);
  else if (r < 68) frame = st.frames + rng.int(100000);
  else if (r < 76 && st.victimFrames.length) frame = pick(rng, st.victimFrames);
  else if (r < 84) {
    // Huge pages: 2 MiB (PS in a PDE), 64 KiB (IPS in a PDE), 1 GiB (PS in a PDPE).
    frame = chance(rng, 0.5) ? rng.int(st.frames >> 9) << 9 : rng.int(st.frames);
    flags |= level === 3 ? PDE_PS : chance(rng, 0.6) ? PDE_PS : PDE_IPS;
  } else if (r < 92) return [rng.nextU32() & ~PTE_PRESENT, u32(rng)];
  else return [u32(rng), u32(rng)];
  if (chance(rng, 0.05)) flags &= ~PTE_PRESENT;
  return [((frame << 12) | flags | (rng.int(8) << 3)) >>> 0, Math.floor(frame / 2 ** 20) & 0x7f];
}

/** A store of the attacker's vCPU to its RAM: trapped (`Vgpu.guestWrite`), or straight into its memory when untrapped. */
function store(g: TestGuest, at: number, bytes: Uint8Array): void {
  if (g.vgpu.guestWrites === 'untrapped') g.memory.write(at, bytes);
  else g.vgpu.guestWrite(at, bytes);
}

function bytesOf(lo: number, hi: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, lo >>> 0, true);
  v.setUint32(4, hi >>> 0, true);
  return b;
}

/** The PPGTT fuzzer. */
export const ppgttFuzzer: Fuzzer<PpgttOp, PpgttState> = {
  name: 'ppgtt',
  description: 'vCPU rewrites of shadowed 4-level page tables (loops, cross-level, huge pages, halves, beyond RAM), g2v roots, random context roots, GPU stores',
  casesPerWorld: 300,
  victimEvery: 4,
  worldOptions: (seed, worldIndex) => ({
    seed: seed * 31 + worldIndex, failsafe: worldIndex % 2 === 0 ? 'gvt-g' : 'never', outOfSync: worldIndex % 4 >= 2, ppgttCheckEvery: 4,
    untrapped: worldIndex % 6 === 5 ? 'all' : worldIndex % 3 === 1 ? 'attackers' : 'none',
  }),
  setup(world) {
    const g = world.attacker;
    g.engine('rcs');
    const data = g.ppgttBuffer(8 * PAGE_SIZE);
    const batch = g.ppgttBuffer(PAGE_SIZE);
    const spareBase = g.driver.allocRam(SPARE);
    g.driver.writeRam(spareBase, new Uint8Array(SPARE * PAGE_SIZE));
    const spare = Array.from({ length: SPARE }, (_, i) => spareBase + i * PAGE_SIZE);
    const victimFrames: number[] = [];
    const vict = world.victim;
    if (vict) {
      for (const gma of [vict.ggttBuf.gma, vict.canary.gma]) {
        const hpa = vict.g.vgpu.ggtt.translate(gma);
        if (hpa >= 0) victimFrames.push(Math.floor(hpa / PAGE_SIZE));
      }
    }
    return {
      tables: guestTables(world), spare, data, batch, path: [...pathOf(world, data.gma, 8), ...pathOf(world, batch.gma, 1)],
      victimFrames, frames: g.vgpu.ept.frames,
    };
  },
  generate(rng, st) {
    const ops: PpgttOp[] = [];
    const n = 2 + rng.int(12);
    for (let i = 0; i < n; i++) {
      const r = rng.int(100);
      if (r < 70) {
        const onPath = chance(rng, 0.25);
        let table: number, index: number, level: number;
        if (onPath) {
          const p = pick(rng, st.path);
          table = p[0] & ~0xfff;
          index = (p[0] & 0xfff) / 8;
          level = st.tables.find((t) => t.gpa === table)?.level ?? 1;
        } else {
          const t = chance(rng, 0.8) ? pick(rng, st.tables) : { gpa: pick(rng, st.spare), level: 1 + rng.int(4) };
          table = t.gpa;
          level = t.level;
          index = rng.int(512);
        }
        const [lo, hi] = genEntry(rng, st, level);
        ops.push({ k: 'entry', table, index, lo, hi, how: pick(rng, ['q', 'q', 'q', 'q', 'lo', 'hi', 'byte', 'odd'] as const) });
      } else if (r < 76) {
        ops.push({ k: 'fill', page: pick(rng, st.spare), seed: rng.nextU32() });
      } else if (r < 86) {
        const root = (): number => pick(rng, [pick(rng, st.tables).gpa, pick(rng, st.spare), (st.frames + rng.int(1000)) * PAGE_SIZE, 0, u32(rng)]);
        ops.push({ k: 'g2v', code: chance(rng, 0.85) ? 2 + rng.int(4) : rng.int(12), roots: [root(), root(), root(), root()] });
      } else {
        ops.push({ k: 'root', root: pick(rng, [pick(rng, st.tables).gpa, pick(rng, st.spare), st.data.gpa, (st.frames + rng.int(1000)) * PAGE_SIZE, u32(rng) & ~0xfff]), mode: chance(rng, 0.8) ? 3 : 1 });
      }
    }
    if (chance(rng, 0.6)) {
      const va = chance(rng, 0.7) ? st.data.gma + rng.int(8 * 1024) * 4 : pick(rng, [rng.int(2 ** 16) * 2 ** 32 + rng.int(2 ** 20) * 4096, st.batch.gma + 4096, 2 ** 47 + 8]);
      ops.push({ k: 'use', va, value: rng.nextU32() | 1 });
    }
    return ops;
  },
  execute(world, st, ops) {
    const g = world.attacker;
    const v = g.vgpu;
    world.heal(g, true);
    const e = g.engine('rcs');
    const view = e.view();
    const pdp = [ctxPdpLdw(0), ctxPdpUdw(0)].map((i) => [i, readContextValue(view, e.context.gma, i)] as const);
    for (const op of ops) {
      switch (op.k) {
        case 'entry': {
          const at = op.table + op.index * 8;
          const b = bytesOf(op.lo, op.hi);
          if (op.how === 'q') store(g, at, b);
          else if (op.how === 'lo') store(g, at, b.subarray(0, 4));
          else if (op.how === 'hi') store(g, at + 4, b.subarray(4, 8));
          else if (op.how === 'byte') store(g, at + (op.lo & 7), b.subarray(0, 1));
          else store(g, at + 2, b.subarray(0, 6));
          break;
        }
        case 'fill': {
          const words: number[] = [];
          let s = op.seed;
          for (let i = 0; i < 1024; i++) {
            s = (Math.imul(s, 1103515245) + 12345) >>> 0;
            words.push(i & 1 ? (s >>> 28) & 0x7 : ((s & 0x3ff000) | (s & 0x8f) | PTE_PRESENT) >>> 0);
          }
          g.driver.writeRam32(op.page, words);
          break;
        }
        case 'g2v':
          for (let i = 0; i < 4; i++) {
            v.mmioWrite(0x78838 + 8 * i, 4, op.roots[i] >>> 0);
            v.mmioWrite(0x78838 + 8 * i + 4, 4, Math.floor(op.roots[i] / 2 ** 32) >>> 0);
          }
          v.mmioWrite(0x78818, 4, op.code);
          break;
        case 'root':
          writeContextValue(view, e.context.gma, ctxPdpLdw(0), op.root >>> 0);
          writeContextValue(view, e.context.gma, ctxPdpUdw(0), 0);
          e.emit(miNoop());
          e.emit(miNoop());
          if (op.mode === 3) {
            e.submit();
          } else {
            // A legacy 32-bit context: the same image read as four PDP roots.
            writeContextValue(view, e.context.gma, CtxReg.RING_TAIL, e.tail);
            g.driver.submitElsp(e.engine, encodeDescriptor({ lrca: e.context.gma, contextId: e.contextId, addressingMode: 1 }));
          }
          world.settle();
          for (const [i, val] of pdp) writeContextValue(view, e.context.gma, i, val);
          break;
        case 'use':
          g.driver.writeRam32(st.batch.gpa, [...miStoreDataImm(op.va - (op.va % 4), [op.value]), ...miBatchBufferEnd()]);
          e.emit([...miBatchBufferStart(st.batch.gma, { ppgtt: true }), ...miNoop()]);
          e.submit();
          break;
      }
    }
    world.settle();
    // Put the paths of the data and batch buffers back, and the context's root.
    for (const [at, lo, hi] of st.path) store(g, at, bytesOf(lo, hi));
    for (const [i, val] of pdp) writeContextValue(view, e.context.gma, i, val);
    return [] as Violation[];
  },
  format(op) {
    switch (op.k) {
      case 'entry': return `entry ${hx(op.table)}[${op.index}] ${op.how} ${hx(op.hi)}:${hx(op.lo)}`;
      case 'fill': return `fill page ${hx(op.page)} seed ${hx(op.seed)}`;
      case 'g2v': return `g2v ${op.code} roots ${op.roots.map(hx).join(',')}`;
      case 'root': return `submit with root ${hx(op.root)} mode ${op.mode}`;
      case 'use': return `GPU store ${hx(op.value)} at PPGTT ${hx(op.va)}`;
    }
  },
};
