/**
 * Attacks on the PCI configuration space and on the PVINFO page.
 */
import { PciReg } from '../../device/pci.js';
import { miStoreDataImm } from '../../device/commands/index.js';
import { PAGE_SIZE } from '../../types.js';
import type { Attack } from './types.js';

const PVINFO = 0x78000;

export const PCI_ATTACKS: readonly Attack[] = [
  {
    name: 'pci-bar-relocation-overlap',
    surface: 'pci',
    expectation: 'moving BAR2 onto BAR0 (or BAR0 into BAR2) is refused and counted: the overlapping region stays disabled, BAR0 keeps answering at its place, the host\'s config space is untouched',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const hostBefore = ctx.h.device.pci.snapshot();
      const bar0 = v.pci.barAddress(0);
      const before = v.counters.barMovesRefused;
      v.pciConfigWrite(PciReg.BAR2, 4, (bar0 % 2 ** 32) >>> 0);
      v.pciConfigWrite(PciReg.BAR2_HI, 4, Math.floor(bar0 / 2 ** 32));
      v.pciConfigWrite(PciReg.BAR0, 4, ((bar0 + 4 * PAGE_SIZE) % 2 ** 32) >>> 0);
      ctx.data.refused = v.counters.barMovesRefused - before;
      ctx.data.magic = v.access('mem', v.pci.barAddress(0) + PVINFO, 4, false);
      ctx.data.aperture = v.access('mem', bar0 + 8, 4, false);
      const host = ctx.h.device.pci.snapshot();
      ctx.data.hostSame = host.every((b, i) => b === hostBefore[i]);
    },
    expect(ctx, t) {
      t.ok((ctx.data.refused as number) >= 1, `overlapping placements refused (${ctx.data.refused})`);
      t.equal(ctx.data.magic, 0x76544776, 'BAR0 still routes to the vGPU\'s registers (PVINFO magic)');
      t.ok(ctx.data.hostSame, 'the host\'s config space is unchanged');
    },
  },
  {
    name: 'pci-command-register-games',
    surface: 'pci',
    expectation: 'memory decode off makes BAR accesses hit nothing (reads 0, writes dropped); decode back on restores them; bus-master games change nothing outside the vGPU',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const bar0 = v.pci.barAddress(0);
      const cmd = v.pciConfigRead(PciReg.COMMAND, 2);
      v.pciConfigWrite(PciReg.COMMAND, 2, 0);
      const off = v.access('mem', bar0 + PVINFO, 4, false);
      v.access('mem', bar0 + 0x2080, 4, true, 0xabcd000);
      v.pciConfigWrite(PciReg.COMMAND, 2, 0xffff);
      const on = v.access('mem', bar0 + PVINFO, 4, false);
      v.pciConfigWrite(PciReg.COMMAND, 2, cmd & ~4);
      ctx.attacker.submit('rcs', miStoreDataImm(ctx.attacker.ppgttBuffer(4096).gma, [1]));
      v.pciConfigWrite(PciReg.COMMAND, 2, cmd);
      ctx.data.r = [off, on, v.mmioRead(0x2080, 4)];
    },
    expect(ctx, t) {
      const [off, on, hws] = ctx.data.r as number[];
      t.equal(off, 0, 'decode off: BAR0 reads nothing');
      t.equal(on, 0x76544776, 'decode on: BAR0 answers again');
      t.ok(hws !== 0xabcd000, 'a write while decode was off was dropped');
    },
  },
  {
    name: 'pci-read-only-identity',
    surface: 'pci',
    expectation: 'vendor, device, class, revision, subsystem and capability fields are read-only; BAR sizing reports the sizes; out-of-space and straddling accesses are refused',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const ids = [0x00, 0x08, 0x2c, 0x34].map((o) => v.pciConfigRead(o, 4));
      for (const o of [0x00, 0x08, 0x2c, 0x34, 0x3c, 0x50]) v.pciConfigWrite(o, 4, 0xffffffff);
      for (const o of [-4, 254, 256, 1e9, NaN]) v.pciConfigWrite(o, 4, 0xffffffff);
      v.pciConfigWrite(0x03, 2, 0xffff); // straddles two dwords
      ctx.data.ids = [ids, [0x00, 0x08, 0x2c, 0x34].map((o) => v.pciConfigRead(o, 4))];
      ctx.data.odd = [v.pciConfigRead(254, 4), v.pciConfigRead(-1, 1)];
    },
    expect(ctx, t) {
      const [a, b] = ctx.data.ids as number[][];
      t.equal(JSON.stringify(b), JSON.stringify(a), 'identity fields unchanged');
      t.equal((a[0] & 0xffff), 0x8086, 'vendor is Intel');
      t.ok((ctx.data.odd as number[]).every((x) => x === 0), 'out-of-space reads answer 0');
    },
  },
];

export const PVINFO_ATTACKS: readonly Attack[] = [
  {
    name: 'pvinfo-read-only-fields',
    surface: 'pvinfo',
    expectation: 'writes to magic, version, vgt_id, caps, the graphics-memory ranges and the fence count are dropped and counted; the guest reads back what the mediator published',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const fields = [0x0, 0x4, 0x8, 0xc, 0x10, 0x40, 0x44, 0x48, 0x4c, 0x50];
      const before = fields.map((o) => v.mmioRead(PVINFO + o, 4));
      const ro = v.pvinfo.counters.readOnlyWrites;
      for (const o of fields) {
        v.mmioWrite(PVINFO + o, 4, 0xffffffff);
        v.mmioWrite(PVINFO + o, 2, 0);
        v.mmioWrite(PVINFO + o, 1, 0x7f);
      }
      // Widen the aperture slice to cover the victim's: the published ranges must not move.
      v.mmioWrite(PVINFO + 0x40, 4, 0);
      v.mmioWrite(PVINFO + 0x44, 4, 0x40000000);
      ctx.data.fields = [before, fields.map((o) => v.mmioRead(PVINFO + o, 4))];
      ctx.data.counted = v.pvinfo.counters.readOnlyWrites - ro;
      ctx.data.slices = v.slices.lowSize;
    },
    expect(ctx, t) {
      const [a, b] = ctx.data.fields as number[][];
      t.equal(JSON.stringify(b), JSON.stringify(a), 'every read-only field unchanged');
      t.ok((ctx.data.counted as number) >= 30, `read-only writes counted (${ctx.data.counted})`);
      t.equal(ctx.data.slices, 64 * 1024 * 1024, 'the vGPU\'s slices did not grow');
    },
  },
  {
    name: 'pvinfo-reserved-rsv5-failsafe',
    surface: 'pvinfo',
    expectation: 'a write to PVINFO rsv5 puts the writer (and only it) in failsafe, as GVT-g; other reserved fields drop the write and read 0; the victim keeps running',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      v.mmioWrite(PVINFO + 0x14, 4, 0xffffffff);
      v.mmioWrite(PVINFO + 0x60, 4, 0xffffffff);
      ctx.data.reserved = [v.mmioRead(PVINFO + 0x14, 4), v.mmioRead(PVINFO + 0x60, 4)];
      ctx.data.stateBefore = v.state;
      v.mmioWrite(PVINFO + 0x808, 4, 1);
    },
    expect(ctx, t) {
      t.ok((ctx.data.reserved as number[]).every((x) => x === 0), 'reserved fields read 0');
      t.equal(ctx.data.stateBefore, 'active', 'other reserved fields do not trigger failsafe');
      t.equal(ctx.attacker.vgpu.state, 'failsafe', 'rsv5 put the attacker in failsafe');
      t.ok(/rsv5/.test(ctx.attacker.vgpu.failsafeReason), 'the reason names rsv5');
    },
  },
  {
    name: 'pvinfo-bogus-g2v-notifications',
    surface: 'pvinfo',
    expectation: 'unknown g2v codes are counted and ignored; execlist-context notifications with garbage descriptors change nothing; a destroy of a PPGTT never created is a no-op',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const before = v.pvinfo.counters.unknownNotifications;
      for (const code of [0, 1, 8, 9, 0x7fffffff, 0xffffffff]) v.mmioWrite(PVINFO + 0x818, 4, code);
      v.mmioWrite(PVINFO + 0x858, 4, 0xffffffff);
      v.mmioWrite(PVINFO + 0x85c, 4, 0xffffffff);
      v.mmioWrite(PVINFO + 0x818, 4, 6);
      v.mmioWrite(PVINFO + 0x818, 4, 7);
      for (let i = 0; i < 4; i++) v.mmioWrite(PVINFO + 0x838 + 8 * i, 4, 0x1234000);
      v.mmioWrite(PVINFO + 0x818, 4, 5);
      v.mmioWrite(PVINFO + 0x818, 4, 3);
      ctx.data.unknown = v.pvinfo.counters.unknownNotifications - before;
      ctx.data.mms = v.ppgtt.counters.mms;
    },
    expect(ctx, t) {
      t.equal(ctx.data.unknown, 6, 'unknown notification codes counted');
      t.equal(ctx.attacker.vgpu.state, 'active', 'no failsafe for a notification');
    },
  },
  {
    name: 'pvinfo-g2v-garbage-roots',
    surface: 'pvinfo',
    expectation: 'PPGTT create notifications with roots beyond RAM, misaligned, zero, naming the victim\'s host frames or its own MMIO, shadow as scratch: no shadow entry names a foreign frame, nothing throws',
    run(ctx) {
      const v = ctx.attacker.vgpu;
      const victimFrame = Math.floor(ctx.victim.vgpu.ggtt.translate(ctx.world.victim!.ggttBuf.gma) / PAGE_SIZE);
      const roots = [0xfffff000, 0x8000000000, 0x123, victimFrame * PAGE_SIZE, 0x80_0000_0000 + 0x78000, 2 ** 52, 0, 1];
      for (const r of roots) {
        for (let i = 0; i < 4; i++) {
          v.mmioWrite(PVINFO + 0x838 + 8 * i, 4, (r % 2 ** 32) >>> 0);
          v.mmioWrite(PVINFO + 0x83c + 8 * i, 4, Math.floor(r / 2 ** 32) >>> 0);
        }
        v.mmioWrite(PVINFO + 0x818, 4, 4);
        v.mmioWrite(PVINFO + 0x818, 4, 2);
      }
      ctx.data.invalid = v.ppgtt.counters.invalidFrames;
    },
    expect(ctx, t) {
      t.ok((ctx.data.invalid as number) > 0, `invalid roots counted (${ctx.data.invalid})`);
      t.equal(ctx.attacker.vgpu.state, 'active', 'the attacker stays active');
    },
  },
  {
    name: 'pvinfo-execlists-before-pvinfo',
    surface: 'pvinfo',
    expectation: 'a guest that enables execlists before reading PVINFO is not GVT-aware: it (only) goes to failsafe, and its submissions are refused',
    run(ctx) {
      const g = ctx.world.newAttacker();
      ctx.data.g = g;
      // A fresh vGPU whose guest never read the magic: reset clears pvinfoSeen.
      g.vgpu.reset();
      g.vgpu.mmioWrite(0x2000 + 0x29c, 4, 0x80008000);
    },
    expect(ctx, t) {
      const g = ctx.data.g as typeof ctx.attacker;
      t.equal(g.vgpu.state, 'failsafe', 'not GVT-aware: failsafe');
      t.ok(/GVT-aware/.test(g.vgpu.failsafeReason), 'the reason says so');
    },
  },
];

