import t from 'tap';
import { BarType, PciCommand, PciReg } from '../lib/device/index.js';
import { ConfigError } from '../lib/errors.js';
import { MiB, smallDevice } from './device-fixture.js';

t.test('identity: vendor, device, class, revision, header type, subsystem', async (t) => {
  const d = smallDevice();
  t.equal(d.pciConfigRead(PciReg.VENDOR_ID, 2), 0x8086);
  t.equal(d.pciConfigRead(PciReg.DEVICE_ID, 2), 0x1912, 'SKL DT GT2 (i915_pciids.h)');
  t.equal(d.pciConfigRead(0, 4), 0x19128086, 'dword read of both ids');
  t.equal(d.pciConfigRead(PciReg.REVISION_ID, 4) >>> 8, 0x030000, 'class code: VGA display controller');
  t.equal(d.pciConfigRead(PciReg.CLASS_BASE, 1), 0x03);
  t.equal(d.pciConfigRead(PciReg.REVISION_ID, 1), 0x06);
  t.equal(d.pciConfigRead(PciReg.HEADER_TYPE, 1), 0x00);
  t.equal(d.pciConfigRead(PciReg.SUBSYSTEM_VENDOR_ID, 2), 0x8086);
  t.equal(d.pciConfigRead(PciReg.INTERRUPT_PIN, 1), 1, 'INTA');
  t.equal(d.pciConfigRead(PciReg.STATUS, 2) & 0x10, 0x10, 'capabilities list present');
  t.equal(new (d.pci.constructor as any)({ ...d.pci.identity, deviceId: 0x1916 }).read(2, 2), 0x1916, 'device id is configurable');
});

t.test('read-only fields ignore writes', async (t) => {
  const d = smallDevice();
  for (const [off, size] of [[0, 2], [2, 2], [8, 1], [9, 1], [0x0a, 2], [0x0e, 1], [0x2c, 2], [0x2e, 2], [0x34, 1], [0x3d, 1], [0x50, 2]] as const) {
    const before = d.pciConfigRead(off, size);
    d.pciConfigWrite(off, size, ~before >>> 0);
    t.equal(d.pciConfigRead(off, size), before, `offset 0x${off.toString(16)}`);
  }
  // Unimplemented (reserved) registers read 0 and ignore writes.
  d.pciConfigWrite(0x80, 4, 0xdeadbeef);
  t.equal(d.pciConfigRead(0x80, 4), 0);
});

t.test('command register: only IO, memory, bus master, parity, SERR, INTx disable are writable', async (t) => {
  const d = smallDevice();
  t.equal(d.pciConfigRead(PciReg.COMMAND, 2), 0x7, 'firmware left IO, memory and bus mastering on');
  t.ok(d.pci.memoryEnabled);
  t.ok(d.pci.busMasterEnabled);
  d.pciConfigWrite(PciReg.COMMAND, 2, 0xffff);
  t.equal(d.pciConfigRead(PciReg.COMMAND, 2), 0x547);
  d.pciConfigWrite(PciReg.COMMAND, 2, 0);
  t.equal(d.pciConfigRead(PciReg.COMMAND, 2), 0);
  t.notOk(d.pci.memoryEnabled);
  t.notOk(d.pci.busMasterEnabled);
  d.pciConfigWrite(PciReg.COMMAND, 1, PciCommand.MEMORY_SPACE);
  t.ok(d.pci.memoryEnabled, 'byte write');
});

t.test('status register: error bits are write-1-to-clear, the rest read-only', async (t) => {
  const d = smallDevice();
  d.pciConfigWrite(PciReg.STATUS, 2, 0xffff);
  t.equal(d.pciConfigRead(PciReg.STATUS, 2), 0x0010);
});

t.test('BAR sizing protocol for BAR0 (16 MiB, 64-bit) and BAR2 (aperture, 64-bit prefetchable)', async (t) => {
  const d = smallDevice({ apertureSize: 64 * MiB });
  t.equal(d.pciConfigRead(PciReg.BAR0, 4), BarType.MEM64, 'unassigned: type bits only');
  t.equal(d.pciConfigRead(PciReg.BAR2, 4), BarType.MEM64_PREFETCH);

  // BAR0: write all ones, read the size mask with the type bits, then restore the address.
  d.pciConfigWrite(PciReg.BAR0, 4, 0xffffffff);
  d.pciConfigWrite(PciReg.BAR0_HI, 4, 0xffffffff);
  t.equal(d.pciConfigRead(PciReg.BAR0, 4), 0xff000004, '~(16 MiB - 1) | 64-bit memory');
  t.equal(d.pciConfigRead(PciReg.BAR0_HI, 4), 0xffffffff);
  const lowMask = d.pciConfigRead(PciReg.BAR0, 4) & 0xfffffff0;
  t.equal((~lowMask >>> 0) + 1, 16 * MiB, 'size decoded from the mask');
  d.pciConfigWrite(PciReg.BAR0, 4, 0xf0000000);
  d.pciConfigWrite(PciReg.BAR0_HI, 4, 0x1);
  t.equal(d.pciConfigRead(PciReg.BAR0, 4), 0xf0000004);
  t.equal(d.pci.barAddress(0), 0x1_f000_0000);
  d.pciConfigWrite(PciReg.BAR0, 4, 0xf0123456);
  t.equal(d.pciConfigRead(PciReg.BAR0, 4), 0xf0000004, 'address bits below the size are not writable');

  d.pciConfigWrite(PciReg.BAR2, 4, 0xffffffff);
  t.equal(d.pciConfigRead(PciReg.BAR2, 4), 0xfc00000c, '~(64 MiB - 1) | 64-bit prefetchable');
  d.pciConfigWrite(PciReg.BAR2, 4, 0xc0000000);
  d.pciConfigWrite(PciReg.BAR2_HI, 4, 0);
  t.equal(d.pci.barAddress(2), 0xc000_0000);
  t.equal(d.pci.stats.barProbes, 3);

  // BAR4: a 64-byte IO BAR.
  d.pciConfigWrite(PciReg.BAR4, 4, 0xffffffff);
  t.equal(d.pciConfigRead(PciReg.BAR4, 4), 0xffffffc1);
  t.equal(smallDevice({ ioBar: false }).pciConfigRead(PciReg.BAR4, 4), 0, 'no IO BAR when disabled');
});

t.test('BAR2 follows the configured aperture size', async (t) => {
  const d = smallDevice({ graphicsMemorySize: 1024 * MiB, apertureSize: 256 * MiB });
  d.pciConfigWrite(PciReg.BAR2, 4, 0xffffffff);
  t.equal(d.pciConfigRead(PciReg.BAR2, 4), 0xf000000c);
  t.throws(() => smallDevice({ apertureSize: 96 * MiB }), ConfigError, 'aperture must be a power of two');
  t.throws(() => smallDevice({ apertureSize: 512 * MiB }), ConfigError, 'aperture above graphics memory');
});

t.test('capability list: MSI then power management', async (t) => {
  const d = smallDevice();
  const seen: number[] = [];
  for (let p = d.pciConfigRead(PciReg.CAP_PTR, 1), n = 0; p !== 0 && n < 48; p = d.pciConfigRead(p + 1, 1), n++) {
    seen.push(d.pciConfigRead(p, 1));
  }
  t.same(seen, [0x05, 0x01]);
  d.pciConfigWrite(PciReg.PM_CAP + 4, 2, 0xffff);
  t.equal(d.pciConfigRead(PciReg.PM_CAP + 4, 2) & 3, 3, 'PMCSR power state writable (D3)');
  d.pciConfigWrite(PciReg.MSI_CAP + 2, 2, 0xffff);
  t.equal(d.pciConfigRead(PciReg.MSI_CAP + 2, 2), 1, 'MSI enable writable, capability bits not');
});

t.test('GGC reports the GGTT size as i915 reads it', async (t) => {
  t.equal((smallDevice({ graphicsMemorySize: 4096 * MiB }).pciConfigRead(PciReg.GGC, 2) >>> 6) & 3, 3, '8 MiB of PTEs');
  t.equal((smallDevice({ graphicsMemorySize: 1024 * MiB }).pciConfigRead(PciReg.GGC, 2) >>> 6) & 3, 1, '2 MiB of PTEs');
});

t.test('guest-style bad accesses never throw; they are counted', async (t) => {
  const d = smallDevice();
  const before = d.pci.stats.refused;
  t.equal(d.pciConfigRead(256, 4), 0);
  t.equal(d.pciConfigRead(-1, 1), 0);
  t.equal(d.pciConfigRead(0, 3), 0);
  t.equal(d.pciConfigRead(2, 4), 0, 'crosses a dword');
  t.equal(d.pciConfigRead(0.5, 1), 0);
  d.pciConfigWrite(0x3f, 2, 0xffff);
  d.pciConfigWrite(NaN, 4, 0);
  t.equal(d.pci.stats.refused - before, 7);
  t.equal(d.pciConfigRead(1, 2), 0x1280, 'unaligned inside a dword is fine (bytes 0x80, 0x12)');
});

t.test('reset, snapshot and restore', async (t) => {
  const d = smallDevice();
  d.pciConfigWrite(PciReg.BAR0, 4, 0xe0000000);
  const snap = d.pci.snapshot();
  d.pci.reset();
  t.equal(d.pciConfigRead(PciReg.BAR0, 4), BarType.MEM64);
  d.pci.restore(snap);
  t.equal(d.pciConfigRead(PciReg.BAR0, 4), 0xe0000004);
  t.throws(() => d.pci.restore(new Uint8Array(8)), ConfigError);
});
