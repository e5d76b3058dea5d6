import t from 'tap';
import { HostMemory } from '../lib/ept/memory.js';
import { TrapStub, type RegionHandler, type RegionSpec } from '../lib/ept/stub.js';
import { RangeArgError, TableError } from '../lib/errors.js';

const MiB = 1024 * 1024;

/** A fixture device recording what it sees. */
function recorder(readValue = 0): RegionHandler & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    read(offset, size) {
      log.push(`r ${offset.toString(16)} ${size}`);
      return readValue + offset;
    },
    write(offset, size, value) {
      log.push(`w ${offset.toString(16)} ${size} ${value.toString(16)}`);
    },
  };
}

function table(host = new HostMemory({ size: 64 * MiB })) {
  const mmio = recorder(0x1000);
  const gtt = recorder(0x2000);
  const cfg = recorder(0x3000);
  const apertureHostBase = 32 * MiB;
  const regions: RegionSpec[] = [
    { name: 'bar0.mmio', space: 'mem', base: 0xf000_0000, size: 2 * MiB, kind: 'emulated', handler: mmio },
    { name: 'bar0.gtt', space: 'mem', base: 0xf080_0000, size: 8 * MiB, kind: 'emulated', handler: gtt },
    // The aperture slice: only its first 1 MiB is backed (the rest does not translate).
    { name: 'bar2.aperture', space: 'mem', base: 0xe000_0000, size: 4 * MiB, kind: 'passthrough', memory: host, translate: (o) => (o < MiB ? apertureHostBase + o : -1) },
    { name: 'config', space: 'pci', base: 0, size: 256, kind: 'emulated', handler: cfg },
  ];
  return { stub: new TrapStub(regions), mmio, gtt, cfg, host, apertureHostBase, regions };
}

t.test('the table checks itself', async (t) => {
  const h = recorder();
  t.throws(() => new TrapStub([{ name: 'a', space: 'mem', base: 0, size: 0, kind: 'emulated', handler: h }]), TableError, 'zero length');
  t.throws(() => new TrapStub([
    { name: 'a', space: 'mem', base: 0x1000, size: 0x1000, kind: 'emulated', handler: h },
    { name: 'b', space: 'mem', base: 0x1fff, size: 0x10, kind: 'emulated', handler: h },
  ]), TableError, 'overlap by one byte');
  t.throws(() => new TrapStub([
    { name: 'a', space: 'mem', base: 0x1000, size: 0x1000, kind: 'emulated', handler: h },
    { name: 'a', space: 'mem', base: 0x4000, size: 0x1000, kind: 'emulated', handler: h },
  ]), TableError, 'duplicate name');
  t.throws(() => new TrapStub([{ name: 'a', space: 'mem', base: -4, size: 4, kind: 'emulated', handler: h }]), TableError);
  const ok = new TrapStub([
    { name: 'a', space: 'mem', base: 0x1000, size: 0x1000, kind: 'emulated', handler: h },
    { name: 'b', space: 'mem', base: 0x2000, size: 0x1000, kind: 'emulated', handler: h },
    { name: 'c', space: 'pci', base: 0x1000, size: 0x100, kind: 'emulated', handler: h },
  ]);
  t.equal(ok.list().length, 3, 'adjacent regions and the same range in another space are fine');
  try {
    new TrapStub([
      { name: 'x', space: 'mem', base: 0, size: 0x100, kind: 'emulated', handler: h },
      { name: 'y', space: 'mem', base: 0x80, size: 0x100, kind: 'emulated', handler: h },
    ]);
  } catch (e) {
    t.match((e as Error).message, /y .* overlaps x/, 'the message names both regions');
  }
});

t.test('routing: handlers see offsets inside their region', async (t) => {
  const { stub, mmio, gtt, cfg } = table();
  t.equal(stub.access('mem', 0xf000_2030, 4, false), 0x1000 + 0x2030);
  stub.access('mem', 0xf000_2030, 4, true, 0xabc);
  t.same(mmio.log, ['r 2030 4', 'w 2030 4 abc']);
  stub.write('mem', 0xf080_0008, 8, 0x1234);
  t.same(gtt.log, ['w 8 8 1234']);
  t.equal(stub.read('pci', 0x10, 4), 0x3010);
  t.same(cfg.log, ['r 10 4']);
  t.equal(stub.regionAt('mem', 0xf0ff_ffff), 'bar0.gtt');
  t.equal(stub.regionAt('pci', 0xf000_0000), undefined, 'spaces are separate');
  const c = stub.region('bar0.mmio').counters;
  t.equal(c.reads, 1);
  t.equal(c.writes, 1);
  t.equal(stub.counters.emulatedReads, 2);
  t.equal(stub.counters.emulatedWrites, 2);
});

t.test('accesses nobody claims are counted, read 0, dropped', async (t) => {
  const { stub, mmio } = table();
  t.equal(stub.read('mem', 0x1000, 4), 0);
  stub.write('mem', 0xf020_0000, 4, 1); // between BAR0 registers and the GTT window
  stub.write('pci', 0x100, 4, 1); // beyond the 256-byte config space
  t.equal(stub.counters.unclaimedReads, 1);
  t.equal(stub.counters.unclaimedWrites, 2);
  t.equal(stub.read('mem', 0xf01f_fffe, 4), 0, 'straddles the end of its region');
  t.equal(stub.counters.straddling, 1);
  t.same(mmio.log, [], 'the device never saw them');
  t.throws(() => stub.read('mem', 0xf000_0000, 3), RangeArgError, 'a size of 3 is an emulator bug');
});

t.test('pass-through: the aperture reaches host memory without a handler', async (t) => {
  const { stub, host, apertureHostBase } = table();
  stub.write('mem', 0xe000_0010, 4, 0xcafebabe);
  t.equal(host.read32(apertureHostBase + 0x10), 0xcafebabe);
  host.write8(apertureHostBase + 0x20, 0x7f);
  t.equal(stub.read('mem', 0xe000_0020, 1), 0x7f);
  stub.write('mem', 0xe000_0030, 2, 0xbeef);
  t.equal(stub.read('mem', 0xe000_0030, 2), 0xbeef);
  stub.write('mem', 0xe000_0040, 8, 0x1_0000_0002);
  t.equal(host.read32(apertureHostBase + 0x40), 2);
  t.equal(host.read32(apertureHostBase + 0x44), 1);
  t.equal(stub.read('mem', 0xe000_0040, 8), 0x1_0000_0002);
  t.equal(stub.counters.passthroughWrites, 3);
  t.equal(stub.counters.passthroughReads, 3);
  t.equal(stub.read('mem', 0xe000_0000 + 2 * MiB, 4), 0, 'untranslated part reads 0');
  stub.write('mem', 0xe000_0000 + 2 * MiB, 4, 5);
  t.equal(stub.read('mem', 0xe000_0000 + MiB - 2, 4), 0, 'an access running off the backed part');
  t.equal(stub.region('bar2.aperture').counters.faults, 3);
  t.equal(stub.counters.passthroughFaults, 3);
});

t.test('relocation (BAR moves) and decode enable', async (t) => {
  const { stub, mmio } = table();
  t.ok(stub.move('bar0.mmio', 0xd000_0000));
  t.equal(stub.read('mem', 0xf000_0004, 4), 0, 'old place is empty');
  t.equal(stub.read('mem', 0xd000_0004, 4), 0x1004, 'the device sees the same offset');
  t.same(mmio.log, ['r 4 4']);
  t.notOk(stub.move('bar0.mmio', 0xf080_0000 - 0x1000), 'refused: would overlap the GTT window');
  t.equal(stub.region('bar0.mmio').base, 0xd000_0000, 'stays put');
  t.equal(stub.counters.relocations, 1);
  t.equal(stub.counters.relocationsRefused, 1);

  // Memory decode off (as during BAR sizing): the region claims nothing, may overlap anything.
  t.ok(stub.setEnabled('bar0.gtt', false));
  t.equal(stub.read('mem', 0xf080_0000, 4), 0);
  t.ok(stub.move('bar0.gtt', 0xd000_0000), 'a disabled region may be placed anywhere');
  t.notOk(stub.setEnabled('bar0.gtt', true), 'but cannot be enabled on top of another');
  t.ok(stub.move('bar0.gtt', 0xd100_0000));
  t.ok(stub.setEnabled('bar0.gtt', true));
  t.equal(stub.read('mem', 0xd100_0008, 4), 0x2008);
  t.throws(() => stub.move('nope', 0), RangeArgError);
});
