import t from 'tap';
import { compileRegisters, RegFlag, RegisterFile, type RegisterDef } from '../lib/mmio/index.js';
import { TableError } from '../lib/errors.js';

const defs: RegisterDef[] = [
  { offset: 0x1000, name: 'PLAIN', reset: 0x12345678 },
  { offset: 0x1004, name: 'MODE', flags: RegFlag.MODE_MASK, reset: 0x0003 },
  { offset: 0x1008, name: 'RO', flags: RegFlag.READ_ONLY, reset: 0xcafe },
  { offset: 0x100c, name: 'IIR', flags: RegFlag.W1C },
  { offset: 0x1010, name: 'PARTIAL', roMask: 0xff000000, reset: 0xab000000 },
  { offset: 0x1020, name: 'BYTES', flags: RegFlag.UNALIGNED, count: 2 },
  { offset: 0x1040, name: 'WIDE', width: 8, reset: 1, resetHi: 2 },
  { offset: 0x2000, name: 'FENCE', width: 8, count: 4 },
];

function file() {
  return new RegisterFile(compileRegisters(defs), 'test');
}

t.test('reset values and plain registers', async (t) => {
  const rf = file();
  t.equal(rf.read(0x1000, 4), 0x12345678);
  rf.write(0x1000, 4, 0xdeadbeef);
  t.equal(rf.read(0x1000, 4), 0xdeadbeef);
  t.equal(rf.read(0x1040, 8), 2 * 2 ** 32 + 1);
  t.equal(rf.lastReadHi, 2);
  t.equal(rf.lastReadLo, 1);
  rf.reset();
  t.equal(rf.read(0x1000, 4), 0x12345678);
});

t.test('mode mask: upper 16 bits enable lower bits', async (t) => {
  const rf = file();
  rf.write(0x1004, 4, 0x00000000); // mask 0: no change
  t.equal(rf.read(0x1004, 4), 0x3);
  rf.write(0x1004, 4, 0x00010000); // clear bit 0
  t.equal(rf.read(0x1004, 4), 0x2);
  rf.write(0x1004, 4, 0x80008000); // set bit 15
  t.equal(rf.read(0x1004, 4), 0x8002);
  rf.write(0x1004, 4, 0xffff1234); // everything
  t.equal(rf.read(0x1004, 4), 0x1234, 'mask bits never read back');
});

t.test('read-only registers and read-only bits', async (t) => {
  const rf = file();
  rf.write(0x1008, 4, 0);
  t.equal(rf.read(0x1008, 4), 0xcafe);
  rf.write(0x1010, 4, 0xffffffff);
  t.equal(rf.read(0x1010, 4), 0xabffffff >>> 0, 'ro bits keep their value');
  rf.write(0x1010, 4, 0);
  t.equal(rf.read(0x1010, 4), 0xab000000 >>> 0);
});

t.test('write-1-to-clear', async (t) => {
  const rf = file();
  rf.poke(0x100c, 0b1011);
  rf.write(0x100c, 4, 0b0010);
  t.equal(rf.read(0x100c, 4), 0b1001);
  rf.write(0x100c, 4, 0);
  t.equal(rf.read(0x100c, 4), 0b1001, 'writing 0 changes nothing');
  rf.write(0x100c, 4, 0xffffffff);
  t.equal(rf.read(0x100c, 4), 0);
});

t.test('unknown offsets: counted, read 0, writes dropped, never throws', async (t) => {
  const rf = file();
  t.equal(rf.read(0x5000, 4), 0);
  rf.write(0x5000, 4, 7);
  t.equal(rf.peek(0x5000), 0);
  t.equal(rf.stats.untrackedReads, 1);
  t.equal(rf.stats.untrackedWrites, 1);
  // Out of the space, bad sizes, NaN: refused, no exception.
  t.equal(rf.read(0x200000, 4), 0);
  t.equal(rf.read(-4, 4), 0);
  t.equal(rf.read(0x1000, 3), 0);
  rf.write(NaN, 4, 1);
  rf.write(0x1000, 16, 1);
  t.equal(rf.stats.refused, 5);
  t.equal(rf.read(0x1000, 4), 0x12345678);
});

t.test('unaligned and sub-dword accesses', async (t) => {
  const rf = file();
  // Not UNALIGNED: refused.
  t.equal(rf.read(0x1000, 1), 0);
  t.equal(rf.read(0x1002, 2), 0);
  rf.write(0x1001, 1, 0xff);
  t.equal(rf.read(0x1000, 4), 0x12345678);
  t.equal(rf.stats.refused, 3);
  // UNALIGNED: byte enables.
  rf.write(0x1020, 4, 0x11223344);
  t.equal(rf.read(0x1021, 1), 0x33);
  t.equal(rf.read(0x1022, 2), 0x1122);
  rf.write(0x1021, 1, 0xaa);
  t.equal(rf.read(0x1020, 4), 0x1122aa44);
  // Misaligned 4-byte access spanning both BYTES instances.
  rf.write(0x1024, 4, 0x55667788);
  t.equal(rf.read(0x1022, 4), 0x77881122);
  rf.write(0x1023, 2, 0xbbcc);
  t.equal(rf.read(0x1020, 4), 0xcc22aa44 >>> 0);
  t.equal(rf.read(0x1024, 4), 0x556677bb);
  // A misaligned access touching a non-UNALIGNED register is refused.
  const refused = rf.stats.refused;
  t.equal(rf.read(0x1012, 4), 0, 'PARTIAL is not UNALIGNED');
  t.equal(rf.stats.refused, refused + 1);
  const untracked = rf.stats.untrackedReads;
  t.equal(rf.read(0x101e, 4), 0, 'starts in an untracked dword');
  t.equal(rf.stats.untrackedReads, untracked + 1);
});

t.test('8-byte accesses: two dwords, each with its own semantics', async (t) => {
  const rf = file();
  rf.write(0x2008, 8, 0x1_0000_2000);
  t.equal(rf.read(0x2008, 4), 0x2000);
  t.equal(rf.read(0x200c, 4), 1);
  rf.write64(0x2010, 0xffffffff, 0xfffffff0);
  t.equal(rf.read(0x2010, 8), 0xfffffff0 * 2 ** 32 + 0xffffffff);
  t.equal(rf.lastReadHi, 0xfffffff0, 'exact halves even above 2^53');
  t.equal(rf.lastReadLo, 0xffffffff);
  // A qword across two 4-byte registers (IIR then PARTIAL) is two dword accesses.
  rf.poke(0x100c, 0xf);
  rf.write(0x1008, 8, 0); // RO then W1C with 0: no change
  t.equal(rf.read(0x100c, 4), 0xf);
});

t.test('handlers add side effects after generic semantics', async (t) => {
  const rf = file();
  const seen: number[][] = [];
  rf.bind('MODE', { write: (off, v, old, next) => seen.push([off, v, old, next]) });
  rf.bind(0x1000, { read: (_off, stored) => stored ^ 0xffffffff });
  rf.write(0x1004, 4, 0x00040004);
  t.same(seen, [[0x1004, 0x00040004, 0x3, 0x7]]);
  t.equal(rf.read(0x1000, 4), (0x12345678 ^ 0xffffffff) >>> 0);
  t.throws(() => rf.bind(0x7000, { read: () => 0 }));
  t.equal(rf.offsetOf('FENCE[3]'), 0x2018);
});

t.test('register files of one table share their dispatch bits, not their handlers', async (t) => {
  const table = compileRegisters(defs);
  const a = new RegisterFile(table, 'a');
  const b = new RegisterFile(table, 'b');
  const seen: number[] = [];
  a.bind('PLAIN', { read: (_off, stored) => stored ^ 1, write: (_off, v) => seen.push(v) });
  a.bind('MODE', { write: (_off, v) => seen.push(v) });
  // `b` has no handler there: plain storage and its own semantics, as before `a` bound them.
  b.write(0x1000, 4, 0x55);
  t.equal(b.read(0x1000, 4), 0x55);
  a.bind('BYTES[0]', { write: (_off, v) => seen.push(v) });
  b.write(0x1021, 1, 0xaa);
  t.equal(b.read(0x1020, 4), 0xaa00, 'a byte write with enables');
  b.write(0x1004, 4, 0x00040004);
  t.equal(b.read(0x1004, 4), 0x7, 'mode mask');
  t.same(seen, [], 'no handler of a ran for b');
  a.write(0x1000, 4, 0x10);
  t.equal(a.read(0x1000, 4), 0x11);
  t.same(seen, [0x10]);
  // A file made after the binds: reset values, plain storage.
  const c = new RegisterFile(table, 'c');
  t.equal(c.read(0x1000, 4), 0x12345678);
  t.equal(c.read(0x1040, 8), 2 * 2 ** 32 + 1);
  c.write(0x1000, 4, 3);
  t.equal(c.read(0x1000, 4), 3);
  t.same(seen, [0x10]);
  // A handler set on the table itself after files were made reaches the files made later.
  table.readers[0] = (_off, stored) => stored + 1;
  t.equal(new RegisterFile(table, 'd').read(0x1000, 4), 0x12345679);
});

t.test('table self-check fails loudly', async (t) => {
  t.throws(() => compileRegisters([{ offset: 0x10, name: 'A' }, { offset: 0x10, name: 'B' }]), TableError);
  t.throws(() => compileRegisters([{ offset: 0x10, name: 'A', width: 8 }, { offset: 0x14, name: 'B' }]), TableError);
  t.throws(() => compileRegisters([{ offset: 0x12, name: 'A' }]), TableError);
  t.throws(() => compileRegisters([{ offset: 0x200000, name: 'A' }]), TableError);
  t.throws(() => compileRegisters([{ offset: 0x0, name: 'A', count: 4, stride: 2 }]), TableError);
  const c = compileRegisters(defs);
  t.equal(c.rows.length, 12);
});

t.test('every offset and width: defined behaviour, no exception', async (t) => {
  const rf = file();
  let threw = 0;
  for (let off = 0xff8; off < 0x1060; off++) {
    for (const size of [1, 2, 4, 8]) {
      try {
        rf.read(off, size);
        rf.write(off, size, 0x01020304);
      } catch {
        threw++;
      }
    }
  }
  t.equal(threw, 0);
  t.equal(rf.read(0x1008, 4), 0xcafe, 'read-only survived the sweep');
});

t.test('snapshot and restore', async (t) => {
  const rf = file();
  const snap = rf.snapshot();
  rf.write(0x1000, 4, 1);
  rf.restore(snap);
  t.equal(rf.read(0x1000, 4), 0x12345678);
});
