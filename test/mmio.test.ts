import t from 'tap';
import { compileHandlers, compileRegisters, RegFlag, RegisterFile, type RegisterDef } from '../lib/mmio/index.js';
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
  const ctx = { seen: [] as number[][] };
  const handlers = compileHandlers<typeof ctx>('test', compileRegisters(defs), [
    { at: 'MODE', owner: 'test', doc: 'records', write: (c, off, v, old, next) => c.seen.push([off, v, old, next]) },
    { at: 0x1000, owner: 'test', doc: 'inverts', read: (_c, _off, stored) => stored ^ 0xffffffff },
  ]);
  const rf = new RegisterFile(handlers, 'test', ctx);
  rf.write(0x1004, 4, 0x00040004);
  t.same(ctx.seen, [[0x1004, 0x00040004, 0x3, 0x7]]);
  t.equal(rf.read(0x1000, 4), (0x12345678 ^ 0xffffffff) >>> 0);
  t.equal(rf.offsetOf('FENCE[3]'), 0x2018);
  t.throws(() => new RegisterFile(handlers, 'no context'), { code: 'E_CONFIG' }, 'handlers need their context');
});

t.test('register files of one handler table: the same handlers, each its own context', async (t) => {
  const table = compileRegisters(defs);
  interface Ctx { name: string; seen: string[] }
  const handlers = compileHandlers<Ctx>('test', table, [
    { at: 'PLAIN', owner: 'test', doc: 'plain', read: (_c, _off, stored) => stored ^ 1, write: (c, _off, v) => c.seen.push(`${c.name}:${v}`) },
    { at: 'MODE', owner: 'test', doc: 'mode', write: (c, _off, v) => c.seen.push(`${c.name}:mode:${v}`) },
    { at: 'BYTES[0]', owner: 'test', doc: 'bytes', write: (c, _off, v) => c.seen.push(`${c.name}:bytes:${v}`) },
    { at: 'FENCE[1]', count: 2, stride: 8, owner: 'test', doc: 'fences', write: (c, off) => c.seen.push(`${c.name}:fence:${off.toString(16)}`) },
  ]);
  const a: Ctx = { name: 'a', seen: [] }, b: Ctx = { name: 'b', seen: [] };
  const fa = new RegisterFile(handlers, 'a', a);
  const fb = new RegisterFile(handlers, 'b', b);
  fb.write(0x1000, 4, 0x55);
  t.equal(fb.read(0x1000, 4), 0x54);
  fb.write(0x1021, 1, 0xaa);
  t.equal(fb.read(0x1020, 4), 0xaa00, 'a byte write with enables');
  fb.write(0x1004, 4, 0x00040004);
  t.equal(fb.read(0x1004, 4), 0x7, 'mode mask before the handler');
  fa.write(0x1000, 4, 0x10);
  t.equal(fa.read(0x1000, 4), 0x11);
  t.same(b.seen, ['b:85', 'b:bytes:43520', 'b:mode:262148']);
  t.same(a.seen, ['a:16']);
  // Both dwords of an 8-byte register share its handler; FENCE[0] and [3] have none.
  fa.write(0x2000, 8, 0x1_0000_0002);
  fa.write(0x2008, 8, 0x1_0000_0002);
  fa.write64(0x2010, 3, 4);
  fa.write(0x2018, 4, 5);
  t.same(a.seen.slice(1), ['a:fence:2008', 'a:fence:200c', 'a:fence:2010', 'a:fence:2014']);
  // A restore is storage only: the handlers stay the table's, the context the file's.
  const fc = new RegisterFile(handlers, 'c', { name: 'c', seen: [] });
  fc.restore(fa.snapshot());
  t.equal(fc.read(0x1000, 4), 0x11, 'restored storage, read through the table\'s handler');
  t.equal(fc.read(0x2008, 8), 0x1_0000_0002);
  // A file over the bare register table runs no handler.
  const plain = new RegisterFile(table, 'plain');
  t.equal(plain.read(0x1000, 4), 0x12345678);
  plain.write(0x1000, 4, 3);
  t.equal(plain.read(0x1000, 4), 3);
  t.equal(plain.handlers.handled.length, 0);
});

t.test('handler table self-check: untracked, inside a register, double handler', async (t) => {
  const table = compileRegisters(defs);
  const row = (at: number | string, extra: object = {}) => ({ at, owner: 'test', doc: `row at ${String(at)}`, write: () => {}, ...extra });
  t.throws(() => compileHandlers('test', table, [row(0x7000)]), { code: 'E_TABLE', message: /untracked offset 0x7000/ });
  t.throws(() => compileHandlers('test', table, [row(0x1000, { count: 6 })]), { code: 'E_TABLE', message: /untracked offset 0x1014/ }, 'every instance of a row is checked');
  t.throws(() => compileHandlers('test', table, [row(0x2004)]), { code: 'E_TABLE', message: /inside FENCE\[0\]/ });
  t.throws(() => compileHandlers('test', table, [row('NOPE')]), { code: 'E_TABLE', message: /no register named NOPE/ });
  t.throws(() => compileHandlers('test', table, [{ at: 0x1000, owner: 'test', doc: 'none' }]), { code: 'E_TABLE', message: /neither read nor write/ });
  t.throws(() => compileHandlers('test', table, [row(0x1000, { stride: 2, count: 2 })]), { code: 'E_TABLE' });
  // Two rows on one register: refused, naming both (GVT-g would let the last one win silently).
  const err = (() => {
    try {
      compileHandlers('test', table, [
        { at: 0x2000, count: 4, stride: 8, owner: 'first/module', doc: 'fences', write: () => {} },
        { at: 'FENCE[2]', owner: 'second/module', doc: 'again', read: () => 0 },
      ]);
    } catch (e) {
      return e as Error & { code?: string };
    }
    return null;
  })();
  t.ok(err instanceof TableError, 'a TableError');
  t.match(err?.message, /two handlers for FENCE\[2\] \(0x2010\): first\/module \(fences\) and second\/module \(again\)/);
  const ok = compileHandlers('test', table, [row('IIR'), row(0x2000, { count: 4, stride: 8 })]);
  t.same(ok.handled.map((h) => [h.name, h.offset, h.write]), [['IIR', 0x100c, true], ['FENCE[0]', 0x2000, true], ['FENCE[1]', 0x2008, true], ['FENCE[2]', 0x2010, true], ['FENCE[3]', 0x2018, true]]);
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
