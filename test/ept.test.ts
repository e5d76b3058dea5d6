import t from 'tap';
import { Ept, EPT_READ, EPT_RW, EPT_WRITE, PIN_INVALID, PIN_NO_MEMORY } from '../lib/ept/ept.js';
import { HostMemory, SparseGuestMemory, type GuestMemory } from '../lib/ept/memory.js';
import { ConfigError, RangeArgError, StateError } from '../lib/errors.js';
import { gfn, gpa, PAGE_SIZE } from '../lib/types.js';

const MiB = 1024 * 1024;

function setup(guestBytes = 4 * MiB) {
  const host = new HostMemory({ size: 64 * MiB });
  const guest = new SparseGuestMemory(guestBytes);
  const ept = new Ept(guest, host, { name: 't' });
  return { host, guest, ept };
}

t.test('map, translate, unmap', async (t) => {
  const { host, guest, ept } = setup();
  t.equal(ept.frames, 1024);
  t.equal(ept.translateGfn(gfn(3)), -1, 'nothing mapped at first');
  t.equal(ept.translate(gpa(3 * PAGE_SIZE + 12)), -1);
  t.equal(host.allocatedFrames, 0, 'an idle guest holds no host frames');
  t.equal(guest.backedPages, 0);

  const m = ept.map(gfn(3));
  t.ok(host.isAllocated(m), 'the host frame is allocated');
  t.equal(ept.map(gfn(3)), m, 'map is idempotent');
  t.equal(ept.translateGfn(gfn(3)), m);
  t.equal(ept.translate(gpa(3 * PAGE_SIZE + 12)), m * PAGE_SIZE + 12);
  t.equal(ept.mappedFrames, 1);
  t.ok(ept.ownsMfn(m));
  t.equal(ept.gfnOfMfn(m), 3);

  // One copy: the host frame and the guest page alias.
  host.write32(m * PAGE_SIZE + 8, 0xdeadbeef);
  t.equal(guest.read32(3 * PAGE_SIZE + 8), 0xdeadbeef, 'a device write is what the guest reads');
  guest.write32(3 * PAGE_SIZE + 16, 0x12345678);
  t.equal(host.read32(m * PAGE_SIZE + 16), 0x12345678, 'a guest write is what the device reads');

  t.ok(ept.unmap(gfn(3)));
  t.notOk(ept.unmap(gfn(3)), 'second unmap is a no-op');
  t.equal(ept.translateGfn(gfn(3)), -1);
  t.notOk(host.isAllocated(m), 'the host frame went back');
  t.notOk(ept.ownsMfn(m));
  t.equal(guest.read32(3 * PAGE_SIZE + 8), 0xdeadbeef, 'the guest keeps its page');
  t.equal(host.read32(m * PAGE_SIZE + 8), 0, 'the freed host frame reads zeros');

  t.throws(() => ept.map(gfn(1024)), RangeArgError, 'map outside guest RAM is API misuse');
  t.equal(ept.translate(gpa(-1)), -1);
  t.equal(ept.translate(gpa(4 * MiB)), -1);
});

t.test('pin maps on demand and never throws', async (t) => {
  const { host, ept } = setup();
  const m = ept.pin(10);
  t.ok(m >= 0);
  t.equal(ept.pin(10), m, 'pinned once');
  t.equal(ept.counters.mapped, 1);
  t.equal(ept.pin(1024), PIN_INVALID, 'outside RAM');
  t.equal(ept.pin(-1), PIN_INVALID);
  ept.setPermissions(gfn(11), EPT_WRITE);
  t.equal(ept.pin(11), PIN_INVALID, 'not readable');
  host.failAllocations = 1;
  t.equal(ept.pin(12), PIN_NO_MEMORY, 'host memory exhausted: a result of its own, not an invalid frame');
  t.equal(ept.counters.pinFailures, 4);
  t.equal(ept.counters.pinNoMemory, 1, 'only the exhaustion counts as no memory');
  t.ok(ept.pin(12) >= 0, 'recovers once memory is back');
  t.equal(PIN_INVALID, -1, 'callers that only test < 0 still see both as failures');
  t.ok(PIN_NO_MEMORY < 0, 'so is the exhaustion result');
  t.not(PIN_NO_MEMORY as number, PIN_INVALID, 'and the two differ');
});

t.test('permissions', async (t) => {
  const { ept, guest } = setup();
  t.equal(ept.permissions(gfn(0)), EPT_RW, 'guest RAM starts read/write');
  t.equal(ept.permissions(5000), 0, 'outside RAM: nothing');
  const m = ept.map(gfn(2), EPT_READ);
  t.equal(ept.permissions(gfn(2)), EPT_READ);
  t.equal(ept.translateGfn(gfn(2)), m, 'readable: the device may use it');
  ept.guestWrite32(gpa(2 * PAGE_SIZE), 7);
  t.equal(guest.read32(2 * PAGE_SIZE), 0, 'a vCPU write to a read-only page does not land');
  t.equal(ept.counters.denied, 1);
  ept.setPermissions(gfn(2), 0);
  t.equal(ept.translateGfn(gfn(2)), -1, 'no read permission: no device translation');
  t.equal(ept.translate(gpa(2 * PAGE_SIZE)), -1);
  ept.setPermissions(gfn(2), EPT_RW);
  t.equal(ept.translateGfn(gfn(2)), m, 'the mapping survives permission changes');
  t.throws(() => ept.setPermissions(gfn(2), 8), RangeArgError);
  t.throws(() => ept.setPermissions(gfn(99999), EPT_RW), RangeArgError);
});

t.test('guest writes land, split at pages, and outside RAM are dropped', async (t) => {
  const { ept, guest } = setup(2 * PAGE_SIZE);
  ept.guestWrite(gpa(PAGE_SIZE - 2), Uint8Array.of(1, 2, 3, 4));
  t.same([...guest.read(PAGE_SIZE - 2, 4)], [1, 2, 3, 4]);
  t.same(ept.dirtyPages(), [0, 1], 'both pages dirty');
  t.equal(ept.counters.landed, 2, 'two page pieces');
  ept.guestWrite32(gpa(2 * PAGE_SIZE - 2), 0xaabbccdd);
  t.equal(guest.read16(2 * PAGE_SIZE - 2), 0xccdd, 'in-RAM part lands');
  t.equal(ept.counters.outOfRam, 1, 'the rest is counted');
  ept.guestWrite(gpa(10 * PAGE_SIZE), Uint8Array.of(1));
  t.equal(ept.counters.outOfRam, 2);
  ept.guestWrite32(gpa(6), 0x11223344);
  t.equal(guest.read32(6), 0x11223344, 'unaligned 32-bit store');
});

t.test('write protection routes writes to the handler', async (t) => {
  const { ept, guest } = setup();
  const seen: [number, number[]][] = [];
  ept.writeProtect(gfn(4), (a, bytes) => {
    seen.push([a, [...bytes]]);
    return bytes[0] === 0xff ? undefined : true; // let everything but 0xff.. land
  });
  t.ok(ept.isWriteProtected(gfn(4)));
  t.equal(ept.protectedFrames, 1);
  ept.guestWrite32(gpa(4 * PAGE_SIZE + 8), 0x04030201);
  t.same(seen[0], [4 * PAGE_SIZE + 8, [1, 2, 3, 4]], 'the handler sees gpa and bytes');
  t.equal(guest.read32(4 * PAGE_SIZE + 8), 0x04030201, 'returned true: it landed');
  ept.guestWrite(gpa(4 * PAGE_SIZE + 16), Uint8Array.of(0xff, 0xee));
  t.equal(guest.read16(4 * PAGE_SIZE + 16), 0, 'handler kept it from landing');
  t.equal(ept.counters.trapped, 2);
  t.equal(ept.counters.trapLanded, 1);
  t.same(ept.dirtyPages(), [4], 'only the landed write dirtied the page');

  // A write spanning a protected and an unprotected page: each piece routed on its own.
  ept.guestWrite(gpa(5 * PAGE_SIZE - 2), Uint8Array.of(0xff, 0xff, 9, 9));
  t.same(seen[2], [5 * PAGE_SIZE - 2, [0xff, 0xff]]);
  t.equal(guest.read16(5 * PAGE_SIZE), 0x0909, 'unprotected piece landed');

  // A handler deciding itself what lands (e.g. a sanitised value).
  ept.writeProtect(gfn(6), (a) => {
    guest.write32(a, 0x5a5a5a5a);
  });
  ept.guestWrite32(gpa(6 * PAGE_SIZE), 1);
  t.equal(guest.read32(6 * PAGE_SIZE), 0x5a5a5a5a);

  t.ok(ept.unprotect(gfn(4)));
  t.notOk(ept.unprotect(gfn(4)));
  ept.guestWrite32(gpa(4 * PAGE_SIZE + 16), 0x0000ffff);
  t.equal(guest.read32(4 * PAGE_SIZE + 16), 0xffff, 'after unprotect writes land');
  t.equal(seen.length, 3, 'and the handler is not called');
});

t.test('a protected read-only page still routes to its handler', async (t) => {
  const { ept } = setup();
  let calls = 0;
  ept.setPermissions(gfn(1), EPT_READ);
  ept.writeProtect(gfn(1), () => {
    calls++;
  });
  ept.guestWrite32(gpa(PAGE_SIZE), 1);
  t.equal(calls, 1);
  ept.unprotect(gfn(1));
  ept.guestWrite32(gpa(PAGE_SIZE), 1);
  t.equal(ept.counters.denied, 1, 'unprotected and read-only: denied');
});

t.test('dirty log', async (t) => {
  const { ept } = setup();
  t.same(ept.dirtyPages(), []);
  ept.guestWrite32(gpa(9 * PAGE_SIZE), 1);
  ept.guestWrite32(gpa(9 * PAGE_SIZE + 4), 1);
  ept.guestWrite32(gpa(1023 * PAGE_SIZE), 1);
  ept.markDirty(gfn(17));
  ept.markDirty(5000); // ignored
  t.same(ept.dirtyPages(), [9, 17, 1023]);
  t.equal(ept.dirtyCount, 3);
  t.ok(ept.isDirty(gfn(17)));
  t.notOk(ept.isDirty(gfn(18)));
  t.equal(ept.counters.deviceDirty, 1);
  ept.clearDirty();
  t.same(ept.dirtyPages(), []);
  t.equal(ept.dirtyCount, 0);
  ept.guestWrite32(gpa(0), 1);
  t.same(ept.dirtyPages(), [0]);
});

t.test('destroy returns every host frame; two VMs never share frames', async (t) => {
  const host = new HostMemory({ size: 64 * MiB });
  const a = new Ept(new SparseGuestMemory(MiB), host, { name: 'a' });
  const b = new Ept(new SparseGuestMemory(MiB), host, { name: 'b' });
  const ma = new Set<number>();
  const mb = new Set<number>();
  for (let g = 0; g < 100; g++) {
    ma.add(a.pin(g));
    mb.add(b.pin(g));
  }
  t.equal(ma.size, 100);
  t.equal(mb.size, 100);
  for (const m of ma) {
    t.notOk(mb.has(m), 'disjoint');
    t.notOk(b.ownsMfn(m));
  }
  t.equal(host.allocatedFrames, 200);
  const unmapped: number[] = [];
  a.onUnmap((_g, m) => unmapped.push(m));
  a.destroy();
  t.equal(host.allocatedFrames, 100, 'a returned all its frames');
  t.equal(unmapped.length, 100, 'listeners heard every unmap');
  t.ok(a.destroyed);
  t.throws(() => a.map(gfn(0)), StateError);
  t.equal(a.pin(0), -1, 'pin after destroy: -1, no throw');
  a.destroy();
  b.destroy();
  t.equal(host.allocatedFrames, 0);
});

t.test('guest memory without page views is refused', async (t) => {
  const plain: GuestMemory = {
    size: PAGE_SIZE,
    read8: () => 0, read16: () => 0, read32: () => 0,
    write8: () => {}, write16: () => {}, write32: () => {},
    read: (_a, n) => new Uint8Array(n), write: () => {},
  };
  t.throws(() => new Ept(plain, new HostMemory({ size: 16 * MiB })), ConfigError);
});

t.test('HostMemory.adoptFrame aliases, frees only the alias', async (t) => {
  const host = new HostMemory({ size: 16 * MiB });
  const page = new Uint8Array(PAGE_SIZE);
  const f = host.adoptFrame(page);
  page[5] = 42;
  t.equal(host.read8(f * PAGE_SIZE + 5), 42);
  host.write32(f * PAGE_SIZE + 8, 0x01020304);
  t.equal(page[8], 4);
  host.freeFrame(f);
  t.equal(page[5], 42, 'the adopted page is untouched');
  t.equal(host.read8(f * PAGE_SIZE + 5), 0);
  t.throws(() => host.adoptFrame(new Uint8Array(100)), RangeArgError);
  t.throws(() => host.adoptFrame(new Uint8Array(PAGE_SIZE), new Uint32Array(1024)), RangeArgError, 'views must share bytes');
});
