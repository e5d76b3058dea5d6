import fc from 'fast-check';
import t from 'tap';
import { Ept, EPT_WRITE } from '../lib/ept/ept.js';
import { HostMemory, SparseGuestMemory } from '../lib/ept/memory.js';
import { ConfigError, StateError } from '../lib/errors.js';
import { Ggtt } from '../lib/gtt/ggtt.js';
import { GmPartition, type GmSlices } from '../lib/gtt/partition.js';
import { PTE_PRESENT, pteFrame, pteHi, pteLo } from '../lib/gtt/pte.js';
import { ShadowGgtt } from '../lib/gtt/shadow-ggtt.js';
import { MiB, type VgpuType } from '../lib/gtt/vgpu-types.js';
import { gfn, PAGE_SIZE } from '../lib/types.js';

// A small device keeps the checks exhaustive: 64 MiB of graphics memory (16 Ki entries), a
// 16 MiB aperture, and a tiny vGPU type.
const SMALL: VgpuType = { name: 'small', lowGmSize: 2 * MiB, highGmSize: 4 * MiB, fences: 1, weight: 1, edid: { width: 1024, height: 768 } };
const DEVICE = { apertureSize: 16 * MiB, totalSize: 64 * MiB, fences: 16, host: { lowGmSize: 4 * MiB, highGmSize: 8 * MiB, fences: 2 }, types: [SMALL] };
const GUEST_RAM = MiB; // 256 guest frames

interface Vm {
  id: number;
  slices: GmSlices;
  guest: SparseGuestMemory;
  ept: Ept;
  shadow: ShadowGgtt;
}

function device(n: number) {
  const host = new HostMemory({ size: 64 * MiB });
  const ggtt = new Ggtt(DEVICE.totalSize);
  const part = new GmPartition(DEVICE);
  const vms: Vm[] = [];
  for (let k = 0; k < n; k++) {
    const { id, slices } = part.allocateNext('small');
    const guest = new SparseGuestMemory(GUEST_RAM);
    const ept = new Ept(guest, host, { name: `vm${id}` });
    vms.push({ id, slices, guest, ept, shadow: new ShadowGgtt(ggtt, slices, ept, host, { name: `vgpu${id}` }) });
  }
  return { host, ggtt, part, vms };
}

/** Window offset of the k-th entry of a vGPU's low (or high) slice. */
function off(s: GmSlices, k: number, high = false): number {
  return ((high ? s.highBase : s.lowBase) / PAGE_SIZE + k) * 8;
}

t.test('an 8-byte present PTE is translated, flags kept, guest value kept', async (t) => {
  const { ggtt, vms } = device(1);
  const { shadow, ept, slices } = vms[0];
  const lo = pteLo(7, PTE_PRESENT | 0x18);
  shadow.write64(off(slices, 3), lo, 0);
  const i = slices.lowBase / PAGE_SIZE + 3;
  const mfn = ept.translateGfn(gfn(7));
  t.ok(mfn >= 0, 'the guest frame was pinned on demand');
  t.equal(pteFrame(ggtt.lo(i), ggtt.hi(i)), mfn, 'host entry names the host frame');
  t.equal(ggtt.lo(i) & 0xfff, PTE_PRESENT | 0x18, 'flag bits kept');
  t.equal(shadow.read(off(slices, 3), 4), lo, 'reads return the guest value');
  t.equal(shadow.read(off(slices, 3) + 4, 4), 0);
  t.equal(shadow.read(off(slices, 3), 8), lo);
  t.equal(shadow.counters.shadowed, 1);
  t.equal(shadow.translate(slices.lowBase + 3 * PAGE_SIZE + 5), mfn * PAGE_SIZE + 5);
  t.equal(shadow.guestToHostGma(slices.lowBase + 3 * PAGE_SIZE), slices.lowBase + 3 * PAGE_SIZE, 'identity under ballooning');
  t.equal(shadow.guestToHostGma(0), -1, 'outside the slices');
  t.equal(shadow.translate(0), -1);

  // The device writing through the translation lands in the guest's RAM.
  const { host } = { host: shadow.host };
  host.write32(shadow.translate(slices.lowBase + 3 * PAGE_SIZE + 64) as number, 0xfeedf00d);
  t.equal(vms[0].guest.read32(7 * PAGE_SIZE + 64), 0xfeedf00d);

  // write(offset, 8, value) for values below 2^53.
  shadow.write(off(slices, 4), 8, pteLo(9, PTE_PRESENT));
  t.equal(pteFrame(ggtt.lo(i + 1), ggtt.hi(i + 1)), ept.translateGfn(gfn(9)));
});

t.test('4-byte halves are held until the other half arrives, in either order', async (t) => {
  const { ggtt, vms } = device(1);
  const { shadow, ept, slices } = vms[0];
  for (const order of ['lo-hi', 'hi-lo'] as const) {
    const k = order === 'lo-hi' ? 0 : 1;
    const i = slices.highBase / PAGE_SIZE + k;
    const o = off(slices, k, true);
    const lo = pteLo(20 + k, PTE_PRESENT);
    const first = order === 'lo-hi' ? [o, lo] : [o + 4, 0];
    const second = order === 'lo-hi' ? [o + 4, 0] : [o, lo];
    shadow.write(first[0], 4, first[1]);
    t.equal(shadow.heldHalves, 1, `${order}: one half held`);
    t.equal(ggtt.lo(i) & PTE_PRESENT, 0, `${order}: host entry parked, not present`);
    t.equal(pteFrame(ggtt.lo(i), ggtt.hi(i)), shadow.scratchMfn, `${order}: parked on scratch`);
    shadow.write(first[0], 4, first[1]); // the same half again: still held
    t.equal(shadow.heldHalves, 1);
    shadow.write(second[0], 4, second[1]);
    t.equal(shadow.heldHalves, 0, `${order}: whole again`);
    t.equal(pteFrame(ggtt.lo(i), ggtt.hi(i)), ept.translateGfn(gfn(20 + k)), `${order}: shadowed`);
    t.equal(ggtt.lo(i) & PTE_PRESENT, PTE_PRESENT);
  }
  t.equal(shadow.counters.halfWrites, 6);
  t.equal(shadow.counters.parked, 4);
  // An 8-byte write while a half is held completes the entry and drops the held half.
  shadow.write(off(slices, 5), 4, pteLo(30, PTE_PRESENT));
  shadow.write64(off(slices, 5), pteLo(31, PTE_PRESENT), 0);
  t.equal(shadow.heldHalves, 0);
  t.equal(pteFrame(ggtt.lo(slices.lowBase / PAGE_SIZE + 5), 0), ept.translateGfn(gfn(31)));
});

t.test('out-of-slice, bad frames, bad accesses', async (t) => {
  const { ggtt, vms } = device(2);
  const [a, b] = vms;
  const before = ggtt.words.slice();
  a.shadow.write64(off(b.slices, 0), pteLo(1, PTE_PRESENT), 0); // b's entry
  a.shadow.write64(0, pteLo(1, PTE_PRESENT), 0); // the host's
  a.shadow.write(off(b.slices, 0, true) + 4, 4, 0);
  t.same(ggtt.words, before, 'nothing outside the slice was written');
  t.equal(a.shadow.counters.outOfSlice, 3);
  t.equal(a.shadow.read(off(b.slices, 0), 4), 0, 'reads outside the slices: 0');

  const i = a.slices.lowBase / PAGE_SIZE;
  a.shadow.write64(off(a.slices, 0), pteLo(256, PTE_PRESENT | 0x8), 0); // beyond 1 MiB of RAM
  t.equal(pteFrame(ggtt.lo(i), ggtt.hi(i)), a.shadow.scratchMfn, 'frame outside guest RAM: scratch');
  t.equal(ggtt.lo(i) & 0xfff, PTE_PRESENT | 0x8, 'keeping the guest flags');
  a.shadow.write64(off(a.slices, 1), pteLo(3, PTE_PRESENT), 0x7f); // gfn far beyond RAM via the high half
  t.equal(pteFrame(ggtt.lo(i + 1), ggtt.hi(i + 1)), a.shadow.scratchMfn);
  a.ept.setPermissions(gfn(4), EPT_WRITE);
  a.shadow.write64(off(a.slices, 2), pteLo(4, PTE_PRESENT), 0); // not readable
  t.equal(pteFrame(ggtt.lo(i + 2), ggtt.hi(i + 2)), a.shadow.scratchMfn);
  t.equal(a.shadow.counters.invalidFrame, 3);
  t.equal(a.shadow.read(off(a.slices, 0), 4), pteLo(256, PTE_PRESENT | 0x8), 'the guest still reads its value');

  a.shadow.write64(off(a.slices, 3), pteLo(5, 0), 0); // not present
  t.equal(ggtt.lo(i + 3) & PTE_PRESENT, 0);
  t.equal(pteFrame(ggtt.lo(i + 3), 0), a.shadow.scratchMfn);
  t.equal(a.shadow.counters.notPresent, 1);
  t.equal(a.ept.translateGfn(gfn(5)), -1, 'a non-present entry pins nothing');

  const snapshot = ggtt.words.slice();
  a.shadow.write(off(a.slices, 0) + 2, 4, 1); // unaligned
  a.shadow.write64(off(a.slices, 0) + 4, 1, 0); // 8-byte at a 4-byte offset
  a.shadow.write(off(a.slices, 0), 2, 1); // wrong size
  a.shadow.write(off(a.slices, 0), 1, 1);
  a.shadow.write(8 * MiB, 4, 1); // past the window
  a.shadow.write(-8, 4, 1);
  t.same(ggtt.words, snapshot, 'bad accesses change nothing');
  t.equal(a.shadow.counters.badAccess, 6);
  t.equal(a.shadow.read(off(a.slices, 0) + 2, 4), 0);
  t.equal(a.shadow.read(off(a.slices, 0), 2), 0);
  t.equal(a.shadow.counters.badReads, 2);
  const c = a.shadow.counters;
  t.equal(c.writes, c.badAccess + c.outOfSlice + c.parked + c.notPresent + c.invalidFrame + c.shadowed, 'every write has one outcome');
});

t.test('two vGPUs writing the same guest-relative PTEs reach disjoint host frames', async (t) => {
  const { ggtt, host, vms } = device(2);
  const frames: number[][] = [[], []];
  vms.forEach((vm, v) => {
    for (let k = 0; k < 16; k++) {
      vm.shadow.write64(off(vm.slices, k), pteLo(k, PTE_PRESENT), 0);
      const i = vm.slices.lowBase / PAGE_SIZE + k;
      frames[v].push(pteFrame(ggtt.lo(i), ggtt.hi(i)));
    }
  });
  const a = new Set(frames[0]);
  for (const f of frames[1]) t.notOk(a.has(f), `host frame ${f} not shared`);
  t.equal(new Set([...frames[0], ...frames[1]]).size, 32);
  // Each guest sees only what the device wrote through its own GGTT view.
  host.write32(vms[0].shadow.translate(vms[0].slices.lowBase + 2 * PAGE_SIZE) as number, 0xaaaa);
  host.write32(vms[1].shadow.translate(vms[1].slices.lowBase + 2 * PAGE_SIZE) as number, 0xbbbb);
  t.equal(vms[0].guest.read32(2 * PAGE_SIZE), 0xaaaa);
  t.equal(vms[1].guest.read32(2 * PAGE_SIZE), 0xbbbb);
});

t.test('reset, unmap invalidation, destroy', async (t) => {
  const { ggtt, host, vms, part } = device(1);
  const { shadow, ept, slices } = vms[0];
  const n = (slices.lowSize + slices.highSize) / PAGE_SIZE;
  t.equal(shadow.entryCount, n);
  const lowI = slices.lowBase / PAGE_SIZE;
  t.equal(pteFrame(ggtt.lo(lowI), ggtt.hi(lowI)), shadow.scratchMfn, 'created pointing at scratch');
  t.equal(ggtt.lo(lowI) & PTE_PRESENT, PTE_PRESENT);

  shadow.write64(off(slices, 0), pteLo(1, PTE_PRESENT), 0);
  shadow.write64(off(slices, 1), pteLo(1, PTE_PRESENT), 0);
  const m = ept.translateGfn(gfn(1));
  ept.unmap(gfn(1));
  t.equal(pteFrame(ggtt.lo(lowI), 0), shadow.scratchMfn, 'an unmapped frame leaves the host GGTT');
  t.equal(pteFrame(ggtt.lo(lowI + 1), 0), shadow.scratchMfn);
  t.equal(shadow.counters.invalidated, 2);
  t.notOk(host.isAllocated(m));

  shadow.write64(off(slices, 0), pteLo(2, PTE_PRESENT), 0);
  shadow.write(off(slices, 9), 4, 1);
  shadow.reset();
  t.equal(shadow.heldHalves, 0);
  t.equal(shadow.read(off(slices, 0), 4), 0, 'guest entries forgotten');
  for (let k = 0; k < n; k++) {
    const i = k < slices.lowSize / PAGE_SIZE ? lowI + k : slices.highBase / PAGE_SIZE + k - slices.lowSize / PAGE_SIZE;
    if (pteFrame(ggtt.lo(i), ggtt.hi(i)) !== shadow.scratchMfn || (ggtt.lo(i) & PTE_PRESENT) === 0) {
      t.fail(`entry ${i} not at scratch after reset`);
      break;
    }
  }

  const allocated = host.allocatedFrames;
  shadow.destroy();
  t.equal(host.allocatedFrames, allocated - 1, 'scratch page freed');
  t.equal(ggtt.lo(lowI), 0, 'host entries cleared');
  const before = ggtt.words.slice();
  shadow.write64(off(slices, 0), pteLo(2, PTE_PRESENT), 0);
  t.same(ggtt.words, before, 'writes after destroy are dropped');
  t.throws(() => shadow.reset(), StateError);
  shadow.destroy();
  ept.destroy();
  part.release(vms[0].id);
  t.equal(host.allocatedFrames, 0, 'nothing leaked');
});

t.test('destroying the EPT first parks every entry in one pass', async (t) => {
  const { ggtt, host, vms } = device(1);
  const { shadow, ept, slices } = vms[0];
  for (let k = 0; k < 200; k++) shadow.write64(off(slices, k), pteLo(k, PTE_PRESENT), 0);
  t.equal(ept.mappedFrames, 200);
  ept.destroy();
  t.equal(shadow.counters.invalidated, 200, 'each shadowed entry parked once');
  const lowI = slices.lowBase / PAGE_SIZE;
  for (let k = 0; k < 200; k++) {
    if (pteFrame(ggtt.lo(lowI + k), ggtt.hi(lowI + k)) !== shadow.scratchMfn) {
      t.fail(`entry ${k} still names a freed frame`);
      break;
    }
  }
  shadow.write64(off(slices, 0), pteLo(1, PTE_PRESENT), 0);
  t.equal(pteFrame(ggtt.lo(lowI), 0), shadow.scratchMfn, 'later writes land on scratch');
  shadow.destroy();
  t.equal(host.allocatedFrames, 0);
});

t.test('constructor checks', async (t) => {
  const host = new HostMemory({ size: 16 * MiB });
  const ggtt = new Ggtt(64 * MiB);
  const ept = new Ept(new SparseGuestMemory(MiB), host);
  t.throws(() => new ShadowGgtt(ggtt, { lowBase: 0, lowSize: 128 * MiB, highBase: 0, highSize: 0, fences: [] }, ept, host), ConfigError);
  t.throws(() => new ShadowGgtt(ggtt, { lowBase: 100, lowSize: MiB, highBase: 32 * MiB, highSize: MiB, fences: [] }, ept, host), ConfigError);
  t.throws(() => new ShadowGgtt(ggtt, { lowBase: 0, lowSize: 2 * MiB, highBase: MiB, highSize: MiB, fences: [] }, ept, host), ConfigError);
});

// ------------------------------------------------------------------ property: isolation

type Op =
  | { kind: 'w8'; vm: number; where: number; gfn: number; flags: number; hiJunk: number }
  | { kind: 'w4'; vm: number; where: number; half: number; value: number }
  | { kind: 'unmap'; vm: number; gfn: number }
  | { kind: 'noread'; vm: number; gfn: number };

const VMS = 3;
const SLICE_LOW = SMALL.lowGmSize / PAGE_SIZE;
const SLICE_HIGH = SMALL.highGmSize / PAGE_SIZE;

/** `where` picks an entry: edges of each slice (own or foreign), host ranges, beyond the GGTT. */
const whereArb = fc.integer({ min: 0, max: 2 ** 20 });
const gfnArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 40 }) },
  { weight: 2, arbitrary: fc.integer({ min: 250, max: 300 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: (1 << 27) - 1 }) },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('w8' as const), vm: fc.nat(VMS - 1), where: whereArb, gfn: gfnArb, flags: fc.oneof(fc.constant(PTE_PRESENT), fc.nat(0xfff)), hiJunk: fc.nat(0xffffffff) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('w4' as const), vm: fc.nat(VMS - 1), where: whereArb, half: fc.nat(1), value: fc.oneof(fc.nat(0xffffffff), gfnArb.map((g) => pteLo(g, PTE_PRESENT))) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('unmap' as const), vm: fc.nat(VMS - 1), gfn: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('noread' as const), vm: fc.nat(VMS - 1), gfn: fc.integer({ min: 0, max: 40 }) }) },
);

/** Map `where` to an entry index: mostly near the edges of the writer's own slices, sometimes a
 * foreign slice, the host's ranges, or beyond this GGTT. */
function entryFor(vms: Vm[], writer: number, where: number): number {
  const sel = where % 10;
  const d = (where >>> 4) % 4;
  const vm = sel === 8 ? vms[(writer + 1 + ((where >>> 6) % (vms.length - 1))) % vms.length] : vms[writer];
  const lowI = vm.slices.lowBase / PAGE_SIZE;
  const highI = vm.slices.highBase / PAGE_SIZE;
  switch (sel) {
    case 0: return lowI + d;
    case 1: return lowI + SLICE_LOW - 1 - d;
    case 2: return highI + d;
    case 3: return highI + SLICE_HIGH - 2 + d; // crosses the end
    case 4: return lowI - 1 - d; // just below
    case 5: return (where >>> 7) % (DEVICE.totalSize / PAGE_SIZE); // anywhere
    case 6: return (DEVICE.totalSize / PAGE_SIZE) + d; // beyond this GGTT, inside the window
    case 8: return lowI + ((where >>> 8) % SLICE_LOW); // a foreign slice
    default: return lowI + ((where >>> 7) % SLICE_LOW);
  }
}

t.test('property: host GGTT entries in a slice only name that vGPU\'s frames; nothing else is written', async (t) => {
  let runs = 0;
  const seen = { shadowed: 0, invalidFrame: 0, outOfSlice: 0, parked: 0, invalidated: 0, notPresent: 0 };
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
      runs++;
      const { ggtt, host, vms, part } = device(VMS);
      // Host-owned and free entries get a marker the vGPUs must never change.
      const marker = 0xa5a5a000;
      const owner = new Int32Array(ggtt.entries).fill(-1);
      vms.forEach((vm, v) => {
        for (let k = 0; k < SLICE_LOW; k++) owner[vm.slices.lowBase / PAGE_SIZE + k] = v;
        for (let k = 0; k < SLICE_HIGH; k++) owner[vm.slices.highBase / PAGE_SIZE + k] = v;
      });
      for (let i = 0; i < ggtt.entries; i++) if (owner[i] < 0) ggtt.set(i, marker, 0);
      const model = new Map<string, number>(); // `${vm}:${index}:${half}` -> guest value
      for (const op of ops) {
        const vm = vms[op.vm];
        if (op.kind === 'w8') {
          const i = entryFor(vms, op.vm, op.where);
          const lo = pteLo(op.gfn % (1 << 20), op.flags);
          const hi = (pteHi(op.gfn) | (op.hiJunk & ~0x7f)) >>> 0;
          vm.shadow.write64(i * 8, lo, hi);
          if (owner[i] === op.vm) {
            model.set(`${op.vm}:${i}:0`, lo);
            model.set(`${op.vm}:${i}:1`, hi);
          }
        } else if (op.kind === 'w4') {
          const i = entryFor(vms, op.vm, op.where);
          vm.shadow.write(i * 8 + 4 * op.half, 4, op.value);
          if (owner[i] === op.vm) model.set(`${op.vm}:${i}:${op.half}`, op.value >>> 0);
        } else if (op.kind === 'unmap') {
          vm.ept.unmap(gfn(op.gfn));
        } else {
          vm.ept.setPermissions(gfn(op.gfn), EPT_WRITE);
        }
      }
      // The invariant, over every entry.
      for (let i = 0; i < ggtt.entries; i++) {
        const lo = ggtt.lo(i);
        const hi = ggtt.hi(i);
        if (owner[i] < 0) {
          if (lo !== marker || hi !== 0) return false;
          continue;
        }
        const v = vms[owner[i]];
        const f = pteFrame(lo, hi);
        if (!v.shadow.ownsFrame(f)) return false;
        if (!host.isAllocated(f)) return false;
        if ((lo & PTE_PRESENT) !== 0 && f !== v.shadow.scratchMfn) {
          // A present translated entry names the frame of the guest frame it holds.
          const g = v.ept.gfnOfMfn(f);
          if (g < 0 || pteFrame(v.shadow.guestLo(i), v.shadow.guestHi(i)) !== g) return false;
        }
      }
      // Reads return exactly what each guest wrote in its slices.
      for (const [key, value] of model) {
        const [v, i, half] = key.split(':').map(Number);
        if (vms[v].shadow.read(i * 8 + 4 * half, 4) !== value) return false;
      }
      for (const vm of vms) {
        const c = vm.shadow.counters;
        for (const k of Object.keys(seen) as (keyof typeof seen)[]) seen[k] += c[k];
      }
      // Teardown returns every frame.
      for (const vm of vms) {
        vm.shadow.destroy();
        vm.ept.destroy();
        part.release(vm.id);
      }
      return host.allocatedFrames === 0;
    }),
    { numRuns: 300, seed: 0x6774 },
  );
  t.equal(runs >= 300, true, 'ran');
  for (const [k, n] of Object.entries(seen)) t.ok(n > 0, `the sequences exercised ${k} (${n})`);
});

t.test('BigInt oracle: host PTE = guest PTE with the frame replaced', async (t) => {
  const { ggtt, vms } = device(1);
  const { shadow, ept, slices } = vms[0];
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.nat(0xfff), fc.nat(SLICE_LOW - 1), (g, flags, k) => {
      const guestPte = (BigInt(g) << 12n) | BigInt(flags | PTE_PRESENT);
      shadow.write64(off(slices, k), Number(guestPte & 0xffffffffn), Number(guestPte >> 32n));
      const i = slices.lowBase / PAGE_SIZE + k;
      const hostPte = (BigInt(ggtt.hi(i)) << 32n) | BigInt(ggtt.lo(i));
      const expect = (BigInt(ept.translateGfn(gfn(g))) << 12n) | (guestPte & 0xfffn);
      return hostPte === expect;
    }),
    { numRuns: 300, seed: 7 },
  );
  t.pass('oracle agrees');
});

t.test('host memory exhausted while a present entry is pinned: pending (not invalid), retried by sync', async (t) => {
  const { ggtt, host, vms, part } = device(1);
  const { shadow, ept, slices } = vms[0];
  const lowI = slices.lowBase / PAGE_SIZE;
  const frameOf = (k: number) => pteFrame(ggtt.lo(lowI + k), ggtt.hi(lowI + k));
  const lo = pteLo(9, PTE_PRESENT | 0x18);
  host.failAllocations = 1;
  shadow.write64(off(slices, 2), lo, 0);
  t.equal(host.failAllocations, 0, 'the pin met the failure');
  let c = shadow.counters;
  t.equal(c.allocFailures, 1, 'counted as a host allocation failure');
  t.equal(c.invalidFrame, 0, 'not as an invalid guest frame');
  t.equal(c.pending, 1);
  t.equal(shadow.pendingEntries, 1);
  t.equal(shadow.heldHalves, 0, 'a pending entry is not a held half');
  t.equal(frameOf(2), shadow.scratchMfn, 'host entry at scratch meanwhile');
  t.equal(ggtt.lo(lowI + 2) & 0xfff, PTE_PRESENT | 0x18, 'with the guest flags');
  t.equal(shadow.read(off(slices, 2), 4), lo, 'the guest reads back its value');
  t.ok(shadow.pendingIn(slices.lowBase + 2 * PAGE_SIZE + 8, 4));
  t.notOk(shadow.pendingIn(slices.lowBase + 3 * PAGE_SIZE, PAGE_SIZE));
  // A frame outside guest RAM is the guest's: scratch for good.
  shadow.write64(off(slices, 4), pteLo(GUEST_RAM / PAGE_SIZE + 1, PTE_PRESENT), 0);
  t.equal(shadow.counters.invalidFrame, 1);
  t.equal(shadow.pendingEntries, 1, 'the invalid one does not wait');
  host.failAllocations = 1000;
  t.equal(shadow.sync(), false, 'still short: sync returns false');
  host.failAllocations = 0;
  t.equal(shadow.pendingEntries, 1);
  t.ok(shadow.sync(), 'memory back: sync shadows it');
  t.equal(frameOf(2), ept.translateGfn(gfn(9)), 'host entry names the guest frame');
  t.equal(ggtt.lo(lowI + 2) & 0xfff, PTE_PRESENT | 0x18);
  t.equal(frameOf(4), shadow.scratchMfn, 'the invalid one stays at scratch');
  c = shadow.counters;
  t.equal(c.retried, 1);
  t.equal(c.pending, 0);
  t.equal(c.writes, c.badAccess + c.outOfSlice + c.parked + c.notPresent + c.invalidFrame + c.allocFailures + c.shadowed, 'every write has one outcome');
  t.ok(shadow.sync(), 'nothing left: sync is true');
  shadow.destroy();
  ept.destroy();
  part.release(vms[0].id);
  t.equal(host.allocatedFrames, 0, 'nothing leaked');
});

t.test('a pending entry rewritten by the guest, made unreadable, reset or orphaned by the EPT', async (t) => {
  const { ggtt, host, vms } = device(1);
  const { shadow, ept, slices } = vms[0];
  const lowI = slices.lowBase / PAGE_SIZE;
  const frameOf = (k: number) => pteFrame(ggtt.lo(lowI + k), ggtt.hi(lowI + k));
  const pendingAt = (k: number, frame: number) => {
    host.failAllocations = 1;
    shadow.write64(off(slices, k), pteLo(frame, PTE_PRESENT), 0);
    host.failAllocations = 0;
  };
  // Rewritten whole: what waited is gone.
  pendingAt(0, 10);
  shadow.write64(off(slices, 0), pteLo(11, PTE_PRESENT), 0);
  t.equal(shadow.pendingEntries, 0, 'a whole rewrite drops the retry');
  t.equal(frameOf(0), ept.translateGfn(gfn(11)));
  t.equal(ept.translateGfn(gfn(10)), -1, 'the old frame was never pinned');
  // Rewritten by a half: the entry is held, not pending; its other half under exhaustion makes
  // it pending again.
  pendingAt(1, 12);
  shadow.write(off(slices, 1) + 4, 4, 0);
  t.equal(shadow.pendingEntries, 0, 'a half rewrite drops the retry');
  t.equal(shadow.heldHalves, 1, 'and holds the half');
  t.equal(ggtt.lo(lowI + 1) & PTE_PRESENT, 0, 'parked, not present');
  host.failAllocations = 1;
  shadow.write(off(slices, 1), 4, pteLo(13, PTE_PRESENT));
  host.failAllocations = 0;
  t.equal(shadow.heldHalves, 0);
  t.equal(shadow.pendingEntries, 1, 'the completed entry waits for memory');
  t.ok(shadow.sync());
  t.equal(frameOf(1), ept.translateGfn(gfn(13)));
  // Made unreadable by the host before the retry: scratch for good, counted as invalidated.
  pendingAt(2, 14);
  ept.setPermissions(gfn(14), EPT_WRITE);
  const inv = shadow.counters.invalidated;
  t.ok(shadow.sync(), 'nothing left waiting');
  t.equal(shadow.counters.invalidated, inv + 1);
  t.equal(frameOf(2), shadow.scratchMfn);
  // Reset forgets it.
  pendingAt(3, 15);
  shadow.reset();
  t.equal(shadow.pendingEntries, 0, 'reset drops the retry');
  t.ok(shadow.sync());
  t.equal(ept.translateGfn(gfn(15)), -1);
  // The EPT goes: nothing to retry.
  pendingAt(5, 16);
  ept.destroy();
  t.equal(shadow.pendingEntries, 0, 'an EPT destroy drops the retry');
  t.ok(shadow.sync());
  t.equal(frameOf(5), shadow.scratchMfn);
  shadow.destroy();
  t.equal(host.allocatedFrames, 0, 'nothing leaked');
});
