/**
 * Attacks on the per-process GTT: guest page tables the mediator shadows.
 */
import { miStoreDataImm } from '../../device/commands/index.js';
import { PDE_IPS, PDE_PS, PTE_PRESENT, PTE_RW, pteHi, pteLo } from '../../gtt/pte.js';
import type { TestGuest } from '../../harness/index.js';
import { PAGE_SIZE } from '../../types.js';
import { ppgttMms, shadowFramesHeld } from '../monitor.js';
import type { Attack } from './types.js';
import { expectCompleted } from './helpers.js';

const P = PTE_PRESENT | PTE_RW;
const MiB = 1024 * 1024;

/** Guest-physical addresses of the tables on the walk of `va`: [PML4, PDP, PD, PT] (-1 when absent). */
export function tablePath(g: TestGuest, va: number): number[] {
  const mem = g.memory;
  const out = [g.ppgtt!.pml4];
  const shifts = [39, 30, 21];
  for (const s of shifts) {
    const t = out[out.length - 1];
    if (t < 0) {
      out.push(-1);
      continue;
    }
    const lo = mem.read32(t + 8 * (Math.floor(va / 2 ** s) % 512));
    out.push((lo & PTE_PRESENT) !== 0 ? (lo & 0xfffff000) >>> 0 : -1);
  }
  return out;
}

/** Write a raw 8-byte entry at guest-physical `at` (a vCPU store, trapped when shadowed). */
function writeEntry(g: TestGuest, at: number, lo: number, hi: number): void {
  g.driver.writeRam32(at, [lo >>> 0, hi >>> 0]);
}

/** Host frame a PPGTT address of `g` reaches through its shadow (the RCS context's mm), -1 for none/scratch. */
function shadowFrame(g: TestGuest, va: number): number {
  for (const mm of ppgttMms(g.vgpu.ppgtt)) {
    const hpa = mm.translate(va);
    if (hpa >= 0) return Math.floor(hpa / PAGE_SIZE);
  }
  return -1;
}

export const PPGTT_ATTACKS: readonly Attack[] = [
  {
    name: 'ppgtt-table-loops',
    surface: 'ppgtt',
    expectation: 'a PML4 entry naming the PML4 itself, a PD entry naming a PDP: each guest page is shadowed at one level only, the loop becomes scratch (counted), building terminates, a GPU store through the loop lands in scratch',
    run(ctx) {
      const g = ctx.attacker, p = g.ppgtt!;
      const loopVa = 2 * 2 ** 39; // PML4 slot 2
      p.writeRaw(4, loopVa, p.pml4 | P, 0);
      const va = 3 * 2 ** 39; // PML4 slot 3: a real walk, then a PD entry naming the PDP
      const gpa = g.driver.allocRam(1);
      p.map(va, gpa, 1);
      const [, pdp, pd] = tablePath(g, va);
      writeEntry(g, pd + 8 * 1, pdp | P, 0);
      const loops = g.vgpu.ppgtt.counters.loops;
      g.submitBatch('rcs', [...miStoreDataImm(loopVa + 0x1000, [0x100b]), ...miStoreDataImm(va + 2 * MiB, [0x200b]), ...miStoreDataImm(va, [0x300b])]);
      ctx.world.settle();
      ctx.data.loops = g.vgpu.ppgtt.counters.loops - loops;
      ctx.data.value = g.memory.read32(gpa);
    },
    expect(ctx, t) {
      t.ok((ctx.data.loops as number) >= 2, `loops detected and counted (${ctx.data.loops})`);
      t.equal(ctx.data.value, 0x300b, 'the well-formed part of the tables still works');
      expectCompleted(ctx, t, ctx.attacker);
    },
  },
  {
    name: 'ppgtt-shared-table-addresses',
    surface: 'ppgtt',
    expectation: 'two guests whose page tables sit at the same guest-physical addresses and map the same graphics addresses share nothing: each shadow names only its own guest\'s frames; the attacker mapping the victim\'s data address reaches its own RAM',
    run(ctx) {
      const g = ctx.attacker, vb = ctx.world.victim!.ppgttBuf;
      ctx.data.samePml4 = g.ppgtt!.pml4 === ctx.victim.ppgtt!.pml4;
      // The attacker maps the victim's buffer address onto the victim's buffer's guest-physical
      // address (after its harness took that address for a buffer of its own).
      g.ppgttBuffer(PAGE_SIZE);
      g.ppgtt!.map(vb.gma, vb.gpa, 1);
      g.submitBatch('rcs', miStoreDataImm(vb.gma + 4000, [0xa77ac4]));
      ctx.world.settle();
      ctx.data.attackerFrame = shadowFrame(g, vb.gma);
      ctx.data.victimFrame = shadowFrame(ctx.victim, vb.gma);
      ctx.data.inOwnRam = g.memory.read32(vb.gpa + 4000);
    },
    expect(ctx, t) {
      t.ok(ctx.data.samePml4, 'both guests put their PML4 at the same guest-physical address');
      const a = ctx.data.attackerFrame as number, v = ctx.data.victimFrame as number;
      t.ok(a >= 0 && v >= 0 && a !== v, `the same graphics address reaches different host frames (${a} vs ${v})`);
      t.ok(ctx.attacker.vgpu.ept.ownsMfn(a) && ctx.victim.vgpu.ept.ownsMfn(v), 'each frame is its own guest\'s');
      t.equal(ctx.data.inOwnRam, 0xa77ac4, 'the attacker\'s store landed in its own RAM');
    },
  },
  {
    name: 'ppgtt-into-mmio-and-beyond-ram',
    surface: 'ppgtt',
    expectation: 'PTEs and table pointers naming frames beyond the guest\'s RAM, its BAR0/BAR2 guest-physical ranges, or the largest 39-bit frame become scratch (counted); GPU stores through them land in scratch',
    run(ctx) {
      const g = ctx.attacker, p = g.ppgtt!;
      const frames = g.vgpu.ept.frames;
      const base = 5 * 2 ** 39;
      const gpa = g.driver.allocRam(1);
      p.map(base, gpa, 1);
      const targets = [frames, frames + 7, 0x80_0000_0000 / PAGE_SIZE - 1, 0x81_0000_0000 / PAGE_SIZE % 2 ** 27, 2 ** 27 - 1];
      targets.forEach((f, k) => p.writeRaw(1, base + (k + 1) * PAGE_SIZE, pteLo(f, P), pteHi(f)));
      p.writeRaw(2, base + 2 * MiB, pteLo(frames + 3, P), pteHi(frames + 3));
      p.writeRaw(3, base + 2 ** 30, pteLo(2 ** 27 - 2, P), pteHi(2 ** 27 - 2));
      const inv = g.vgpu.ppgtt.counters.invalidFrames;
      const cmds: number[] = [];
      for (let k = 1; k <= targets.length; k++) cmds.push(...miStoreDataImm(base + k * PAGE_SIZE, [0xb00 + k]));
      cmds.push(...miStoreDataImm(base + 2 * MiB + 8, [0xb10]), ...miStoreDataImm(base + 2 ** 30 + 8, [0xb11]), ...miStoreDataImm(base, [0xb12]));
      g.submitBatch('rcs', cmds);
      ctx.world.settle();
      ctx.data.counted = g.vgpu.ppgtt.counters.invalidFrames - inv;
      ctx.data.value = g.memory.read32(gpa);
    },
    expect(ctx, t) {
      t.ok((ctx.data.counted as number) >= 5, `invalid frames counted (${ctx.data.counted})`);
      t.equal(ctx.data.value, 0xb12, 'the valid mapping next to them still works');
      expectCompleted(ctx, t, ctx.attacker);
    },
  },
  {
    name: 'ppgtt-1g-and-64k-pages',
    surface: 'ppgtt',
    expectation: '1 GiB pages (PS in a PDP entry) are refused (scratch, counted); 64 KiB pages (IPS) are split into 4 KiB shadow entries of the guest\'s own frames',
    run(ctx) {
      const g = ctx.attacker, p = g.ppgtt!;
      const base = 6 * 2 ** 39;
      p.map(base, g.driver.allocRam(1), 1);
      p.writeRaw(3, base + 2 ** 30, pteLo(0, P | PDE_PS), 0);
      // A 64 KiB page: IPS in the PDE of a fresh PT, one entry every 16th slot.
      const va = base + 4 * 2 * MiB;
      const data = g.driver.allocRam(32);
      const frame = Math.ceil(data / PAGE_SIZE / 16) * 16;
      p.map(va, frame * PAGE_SIZE, 1);
      const [, , pd] = tablePath(g, va);
      const pdeAt = pd + 8 * (Math.floor(va / (2 * MiB)) % 512);
      const lo = g.memory.read32(pdeAt);
      writeEntry(g, pdeAt, lo | PDE_IPS, 0);
      const huge = g.vgpu.ppgtt.counters.refusedHuge;
      g.submitBatch('rcs', [...miStoreDataImm(base + 2 ** 30 + 64, [0x1c]), ...miStoreDataImm(va + 5 * PAGE_SIZE + 12, [0x64b])]);
      ctx.world.settle();
      ctx.data.refused = g.vgpu.ppgtt.counters.refusedHuge - huge;
      ctx.data.split = g.vgpu.ppgtt.counters.split64K;
      ctx.data.value = g.memory.read32((frame + 5) * PAGE_SIZE + 12);
    },
    expect(ctx, t) {
      t.ok((ctx.data.refused as number) >= 1, '1 GiB page refused and counted');
      t.ok((ctx.data.split as number) >= 1, '64 KiB page split');
      t.equal(ctx.data.value, 0x64b, 'the store through the 64 KiB page reached the guest\'s own frame');
      expectCompleted(ctx, t, ctx.attacker);
    },
  },
  {
    name: 'ppgtt-partial-entry-writes',
    surface: 'ppgtt',
    expectation: 'half, byte and misaligned stores to a shadowed PTE park it at scratch until it is whole or the next submission syncs it; the GPU never follows a half-updated entry outside the guest\'s frames',
    run(ctx) {
      const g = ctx.attacker, p = g.ppgtt!;
      const va = 7 * 2 ** 39;
      const a = g.driver.allocRam(2);
      p.map(va, a, 1);
      g.submitBatch('rcs', miStoreDataImm(va, [1]));
      ctx.world.settle();
      const [, , , pt] = tablePath(g, va);
      const at = pt + 8 * (Math.floor(va / PAGE_SIZE) % 512);
      const parked = g.vgpu.ppgtt.counters.parked;
      const lo = pteLo((a + PAGE_SIZE) / PAGE_SIZE, P);
      g.vgpu.guestWrite(at, new Uint8Array([lo & 0xff, (lo >>> 8) & 0xff, (lo >>> 16) & 0xff, lo >>> 24]));
      g.vgpu.guestWrite(at + 5, new Uint8Array([0xff]));
      g.vgpu.guestWrite(at + 2, new Uint8Array([0x12, 0x34, 0x56]));
      ctx.data.parked = g.vgpu.ppgtt.counters.parked - parked;
      g.submitBatch('rcs', miStoreDataImm(va + 8, [0x9a27]));
    },
    expect(ctx, t) {
      t.ok((ctx.data.parked as number) >= 1, `partial writes parked the entry (${ctx.data.parked})`);
      expectCompleted(ctx, t, ctx.attacker);
    },
  },
  {
    name: 'ppgtt-gpu-writes-own-tables',
    surface: 'ppgtt',
    expectation: 'a guest that maps its own page-table page as data and rewrites it with the GPU (no vCPU trap) can only make its shadow stale, never foreign: every shadow entry still names its own frames',
    run(ctx) {
      const g = ctx.attacker, p = g.ppgtt!;
      const va = 8 * 2 ** 39;
      const data = g.driver.allocRam(1);
      p.map(va, data, 1);
      const [, , , pt] = tablePath(g, va);
      p.map(va + PAGE_SIZE, pt, 1); // the PT page itself, as data
      const victimFrame = Math.floor(ctx.victim.vgpu.ggtt.translate(ctx.world.victim!.canary.gma) / PAGE_SIZE);
      const slot = Math.floor(va / PAGE_SIZE) % 512;
      g.submitBatch('rcs', [
        ...miStoreDataImm(va + PAGE_SIZE + 8 * slot, [pteLo(victimFrame, P), pteHi(victimFrame)]),
        ...miStoreDataImm(va + 16, [0x5a1e]),
      ]);
      ctx.world.settle();
      g.submitBatch('rcs', miStoreDataImm(va + 32, [0x5a1f]));
    },
    expect(ctx, t) {
      expectCompleted(ctx, t, ctx.attacker);
    },
  },
  {
    name: 'ppgtt-million-roots',
    surface: 'ppgtt',
    expectation: 'one million distinct PPGTT roots (g2v create notifications, 3-level, every root a different combination of the guest\'s pages) cost bounded host memory: shadow frames stay within the guest\'s RAM and the live shadow mms are bounded (or refused)',
    run(ctx) {
      const g = ctx.attacker, v = g.vgpu;
      const frames = v.ept.frames;
      const before = ctx.h.device.hostMemory.allocatedFrames;
      let peakMms = 0;
      for (let i = 0; i < 1_000_000; i++) {
        // pdp[0..3]: four different pages per root; the combination is unique per i.
        for (let k = 0; k < 4; k++) v.mmioWrite(0x78838 + 8 * k, 4, ((256 + ((i >>> (5 * k)) & 0x3ff) + 1024 * k) % frames) * PAGE_SIZE);
        v.mmioWrite(0x78818, 4, 2);
        if ((i & 0xffff) === 0) peakMms = Math.max(peakMms, v.ppgtt.counters.mms);
      }
      ctx.data.mms = Math.max(peakMms, v.ppgtt.counters.mms);
      ctx.data.frames = ctx.h.device.hostMemory.allocatedFrames - before;
      ctx.data.held = shadowFramesHeld(v);
      ctx.data.guestFrames = frames;
    },
    expect(ctx, t) {
      const gf = ctx.data.guestFrames as number;
      t.ok((ctx.data.frames as number) <= gf + 64, `host frames grew by ${ctx.data.frames}, within the guest's ${gf} RAM frames`);
      t.ok((ctx.data.mms as number) <= 65536, `live shadow mms bounded (peak ${ctx.data.mms})`);
    },
  },
  {
    name: 'ppgtt-2m-split-amplification',
    surface: 'ppgtt',
    expectation: 'a guest filling page directories with 2 MiB entries over its own RAM (each needs a split shadow PT) holds host frames bounded by its RAM (beyond a bound the entries go to scratch, counted), so the other guests\' shadowing never fails',
    world: { hostMemoryMiB: 512 },
    run(ctx) {
      const g = ctx.attacker, d = g.driver;
      const frames = g.vgpu.ept.frames;
      const before = ctx.h.device.hostMemory.allocatedFrames;
      const pml4 = d.allocRam(1), pdp = d.allocRam(1);
      d.writeRam(pdp, new Uint8Array(PAGE_SIZE));
      d.writeRam32(pml4, [pdp | P, 0]);
      const pds = 48;
      for (let i = 0; i < pds; i++) {
        const pd = d.allocRam(1);
        const words: number[] = [];
        for (let j = 0; j < 512; j++) words.push(((((i * 512 + j) % 8) * 2 * MiB) | P | PDE_PS) >>> 0, 0);
        d.writeRam32(pd, words);
        d.writeRam32(pdp + 8 * i, [pd | P, 0]);
      }
      for (let k = 0; k < 4; k++) g.vgpu.mmioWrite(0x78838 + 8 * k, 4, k === 0 ? pml4 : 0);
      g.vgpu.mmioWrite(0x78818, 4, 4);
      ctx.data.frames = ctx.h.device.hostMemory.allocatedFrames - before;
      ctx.data.guestFrames = frames;
    },
    expect(ctx, t) {
      const gf = ctx.data.guestFrames as number;
      t.ok((ctx.data.frames as number) <= 2 * gf + 64, `host frames held for one 16 MiB guest: ${ctx.data.frames} (bound ${2 * gf + 64})`);
    },
  },
  {
    name: 'res-starve-host-frames',
    surface: 'resources',
    expectation: 'one guest cannot starve the others of host frames: after it has shadowed everything it can, the victim still maps new memory and its workloads complete',
    world: { hostMemoryMiB: 128 },
    run(ctx) {
      const g = ctx.attacker, d = g.driver;
      const pml4 = d.allocRam(1), pdp = d.allocRam(1);
      d.writeRam(pdp, new Uint8Array(PAGE_SIZE));
      d.writeRam32(pml4, [pdp | P, 0]);
      // Shadow the (empty) tables first, then grow them one trapped PDP entry at a time: each
      // new page directory of 2 MiB entries is shadowed (and its split PTs kept) as it is linked.
      g.vgpu.mmioWrite(0x78838, 4, pml4);
      g.vgpu.mmioWrite(0x78818, 4, 4);
      for (let i = 0; i < 96; i++) {
        const pd = d.allocRam(1);
        const words: number[] = [];
        for (let j = 0; j < 512; j++) words.push(((((i * 512 + j) % 8) * 2 * MiB) | P | PDE_PS) >>> 0, 0);
        d.writeRam32(pd, words);
        d.writeRam32(pdp + 8 * i, [pd | P, 0]);
      }
      ctx.data.free = ctx.h.device.hostMemory.frames - ctx.h.device.hostMemory.allocatedFrames;
      // The victim maps new memory and uses it.
      const buf = ctx.victim.ppgttBuffer(4 * PAGE_SIZE);
      ctx.data.buf = buf;
      ctx.victim.submitBatch('rcs', miStoreDataImm(buf.gma + 3 * PAGE_SIZE, [0x57a2]));
    },
    expect(ctx, t) {
      t.equal(ctx.victim.memory.read32((ctx.data.buf as { gpa: number }).gpa + 3 * PAGE_SIZE), 0x57a2, `the victim's new mapping works (${ctx.data.free} host frames were left)`);
    },
  },
];
