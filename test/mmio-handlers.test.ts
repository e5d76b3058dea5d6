/**
 * The register handler tables (docs/mmio.md): every register the device and the vGPU emulate with
 * a handler, listed from the compiled tables; the compile-time refusals on the real tables; the
 * docs' listing checked against the tables.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { GEN9_DEVICE_HANDLERS, Gen9Device } from '../lib/device/device.js';
import { GEN9_ENGINES } from '../lib/device/engines.js';
import { ENGINE_MMIO_ROWS, type EngineRowsContext } from '../lib/device/execlists.js';
import { gtInterruptRows, type GtInterrupts } from '../lib/device/interrupts.js';
import { fenceReg, GEN9_REGISTERS, REG, RING } from '../lib/device/registers.js';
import { VIRTUAL_EXECLIST_ROWS } from '../lib/mediator/execlist.js';
import { VGPU_MMIO_HANDLERS, VGPU_REGISTERS } from '../lib/mediator/vgpu.js';
import { compileHandlers, MMIO_SPACE_DWORDS, type CompiledHandlers, type HandledRegister } from '../lib/mmio/index.js';
import { K } from '../lib/mmio/handlers.js';
import { TableError } from '../lib/errors.js';
import { Harness } from '../lib/harness/index.js';

const TABLES: readonly CompiledHandlers<never>[] = [GEN9_DEVICE_HANDLERS, VGPU_MMIO_HANDLERS];

const hex = (n: number): string => '0x' + n.toString(16);

t.test('every register with a handler, from the tables', async (t) => {
  for (const table of TABLES) {
    // The device's table is the Gen9 register table; the vGPU's adds the display engine's
    // registers (lib/display), which exist only virtually.
    t.equal(table.registers, table === VGPU_MMIO_HANDLERS ? VGPU_REGISTERS : GEN9_REGISTERS, `${table.name}: over its register table`);
    const regs = table.registers;
    const listing = table.handled;
    t.ok(listing.length > 0, `${table.name}: ${listing.length} registers with a handler`);
    // The listing is the table: a read (write) handler exactly on the dwords of the listed
    // registers with one, and the register file's dispatch bits agree dword by dword.
    const reads = new Uint8Array(MMIO_SPACE_DWORDS), writes = new Uint8Array(MMIO_SPACE_DWORDS);
    for (const h of listing) {
      const row = regs.rowOf[h.offset >>> 2];
      const reg = regs.rows[row];
      t.equal(reg.name, h.name, `${table.name}: ${h.name} is the register at ${hex(h.offset)}`);
      t.equal(reg.offset, h.offset);
      t.equal(reg.width, h.width);
      t.equal(!!table.readers[row], h.read, `${table.name} ${h.name}: read handler`);
      t.equal(!!table.writers[row], h.write, `${table.name} ${h.name}: write handler`);
      t.ok(h.read || h.write);
      t.ok(h.owner.length > 0 && h.doc.length > 0, `${table.name} ${h.name}: owner and doc`);
      for (let k = 0; k < h.width / 4; k++) {
        reads[(h.offset >>> 2) + k] = h.read ? 1 : 0;
        writes[(h.offset >>> 2) + k] = h.write ? 1 : 0;
      }
    }
    let mismatches = 0;
    for (let dw = 0; dw < MMIO_SPACE_DWORDS; dw++) {
      if (((table.kind[dw] & K.READER) !== 0) !== (reads[dw] === 1)) mismatches++;
      if (((table.kind[dw] & K.WRITER) !== 0) !== (writes[dw] === 1)) mismatches++;
    }
    t.equal(mismatches, 0, `${table.name}: dispatch bits exactly on the listed registers`);
    const offsets = listing.map((h) => h.offset);
    t.same(offsets, offsets.slice().sort((a, b) => a - b), `${table.name}: listed in offset order, once each`);
    t.equal(new Set(offsets).size, offsets.length);
  }
  const has = (table: CompiledHandlers<never>, offset: number, rw: 'r' | 'w' | 'rw'): void => {
    const h = table.handled.find((x) => x.offset === offset);
    t.ok(h, `${table.name}: a handler at ${hex(offset)}`);
    if (h) t.equal((h.read ? 'r' : '') + (h.write ? 'w' : ''), rw, `${table.name} ${h.name}: ${rw}`);
  };
  for (const e of GEN9_ENGINES) {
    has(GEN9_DEVICE_HANDLERS, e.mmioBase + RING.ELSP, 'rw');
    has(VGPU_MMIO_HANDLERS, e.mmioBase + RING.ELSP, 'rw');
    has(VGPU_MMIO_HANDLERS, e.mmioBase + RING.GFX_MODE, 'w');
    has(GEN9_DEVICE_HANDLERS, e.mmioBase + RING.MI_MODE, 'rw');
    for (let d = 0; d < 8; d++) has(GEN9_DEVICE_HANDLERS, e.mmioBase + RING.PDP0_LDW + 4 * d, 'r');
  }
  for (let i = 0; i < 32; i++) has(VGPU_MMIO_HANDLERS, fenceReg(i), 'w');
  for (const table of TABLES) has(table, REG.GEN8_MASTER_IRQ, 'rw');
  // The GT handshakes of the vGPU (mediator/vgpu-gt): its own rows, not the device's.
  for (const e of GEN9_ENGINES) {
    has(VGPU_MMIO_HANDLERS, e.mmioBase + RING.RESET_CTL, 'w');
    has(VGPU_MMIO_HANDLERS, e.mmioBase + RING.MI_MODE, 'r');
  }
  has(VGPU_MMIO_HANDLERS, REG.GEN6_GDRST, 'w');
  has(VGPU_MMIO_HANDLERS, REG.GUC_STATUS, 'r');
  for (const o of [REG.FORCEWAKE_RENDER_GEN9, REG.FORCEWAKE_MEDIA_GEN9, REG.FORCEWAKE_BLITTER_GEN9]) has(VGPU_MMIO_HANDLERS, o, 'w');
});

t.test('the tables refuse a handler on an untracked register and a second handler', async (t) => {
  const irq = gtInterruptRows<{ irq: GtInterrupts }>((c) => c.irq);
  // The PVINFO page is virtual-only: no register of the table covers it.
  t.throws(() => compileHandlers('vgpu', GEN9_REGISTERS, [...irq, { at: 0x78000, owner: 'test', doc: 'pvinfo', read: () => 0 }]),
    { code: 'E_TABLE', message: /untracked offset 0x78000/ });
  t.throws(() => compileHandlers('vgpu', GEN9_REGISTERS, [{ at: fenceReg(3) + 4, owner: 'test', doc: 'fence hi', write: () => {} }]),
    { code: 'E_TABLE', message: /inside FENCE_REG_GEN6\[3\]/ });
  // A second ELSP row (a second bind once replaced the first in silence): refused, both named.
  let err: unknown = null;
  try {
    compileHandlers('vgpu', GEN9_REGISTERS, [
      ...VIRTUAL_EXECLIST_ROWS,
      { at: 'VCS_RING_ELSP', owner: 'test/other', doc: 'a second ELSP', write: () => {} },
    ]);
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof TableError);
  t.match((err as Error).message, /vgpu: two handlers for VCS_RING_ELSP \(0x12230\): mediator\/execlist \(.*\) and test\/other \(a second ELSP\)/);
  // The device's engine rows and the interrupt rows compose without overlap.
  t.doesNotThrow(() => compileHandlers<{ irq: GtInterrupts } & EngineRowsContext>('device', GEN9_REGISTERS, [...irq, ...ENGINE_MMIO_ROWS]));
});

t.test('the handlers reach their context: a device and a vGPU', async (t) => {
  const dev = new Gen9Device({ hostMemorySize: 256 * 1024 * 1024, apertureSize: 64 * 1024 * 1024 });
  t.equal(dev.regs.handlers, GEN9_DEVICE_HANDLERS);
  // Device: TLB invalidation and forcewake rows.
  dev.mmioWrite(REG.TLB_INV_RCS + 4, 4, 1);
  t.equal(dev.mmioRead(REG.TLB_INV_RCS + 4, 4), 0, 'TLB invalidation completes');
  dev.mmioWrite(REG.FORCEWAKE_MEDIA_GEN9, 4, 0x00010001);
  t.equal(dev.mmioRead(REG.FORCEWAKE_ACK_MEDIA_GEN9, 4), 1, 'forcewake acknowledged');
  // The PDP read policy is a device hook, consulted by its table's row.
  const pdp = GEN9_ENGINES[1].mmioBase + RING.PDP0_LDW;
  dev.regs.poke(pdp + 12, 0x1234);
  t.equal(dev.mmioRead(pdp + 12, 4), 0x1234, 'no hook: the stored value');
  const seen: number[][] = [];
  dev.pdpReadHook = (engineId, dword, stored) => {
    seen.push([engineId, dword, stored]);
    return 0xabc;
  };
  t.equal(dev.mmioRead(pdp + 12, 4), 0xabc);
  t.same(seen, [[1, 3, 0x1234]], 'engine 1, dword 3 (PDP1_UDW)');
  // vGPU: its table is the vGPU kind's, its handlers reach this vGPU.
  const h = new Harness();
  const g = h.addGuest({ name: 'g', ramBytes: 16 * 1024 * 1024 });
  t.equal(g.vgpu.vregs.handlers, VGPU_MMIO_HANDLERS);
  const fences = g.vgpu.slices.fences.length;
  g.vgpu.mmioWrite64(fenceReg(0), 0x1000, 0x2);
  t.equal(h.device.regs.peek(fenceReg(g.vgpu.slices.fences[0]) + 4), 0x2, 'a guest fence reaches its host fence');
  g.vgpu.mmioWrite(fenceReg(fences), 4, 5);
  t.equal(g.vgpu.counters.fenceRefused, 1, 'a fence beyond the vGPU\'s is refused');
  t.equal(g.vgpu.mmioRead(fenceReg(fences), 4), 0);
});

t.test('failsafe: guest register writes are plain storage, byte by byte, on every write path', async (t) => {
  const h = new Harness();
  const g = h.addGuest({ name: 'g', ramBytes: 16 * 1024 * 1024 });
  const v = g.vgpu;
  const fence = fenceReg(0), host = fenceReg(v.slices.fences[0]);
  v.enterFailsafe('test');
  v.mmioWrite(fence, 8, 0x1_0000_2000);
  t.equal(v.vregs.peek(fence), 0x2000);
  t.equal(v.vregs.peek(fence + 4), 1, 'an 8-byte write stores both dwords');
  v.mmioWrite64(fence + 8, 0xffffffff, 0xfffffff0);
  t.same([v.vregs.peek(fence + 8), v.vregs.peek(fence + 12)], [0xffffffff, 0xfffffff0]);
  v.mmioWrite(fence + 1, 1, 0xab);
  t.equal(v.vregs.peek(fence), 0xab00, 'a byte write stores its byte');
  v.mmioWrite(fence + 2, 2, 0x1234);
  t.equal(v.vregs.peek(fence), 0x1234ab00);
  t.equal(h.device.regs.peek(host), 0, 'no handler ran: the host fence is untouched');
  t.equal(h.device.regs.peek(host + 4), 0);
  const elsp = GEN9_ENGINES[0].mmioBase + RING.ELSP;
  const before = v.execlists[0].counters.submissions;
  for (let i = 0; i < 4; i++) v.mmioWrite(elsp, 4, 1);
  t.equal(v.execlists[0].counters.submissions, before, 'no ELSP submission in failsafe');
});

/** The docs' listing: one line per handler row and register array (`NAME[a..b]`), per table. */
function listingLines(table: CompiledHandlers<never>): string[] {
  const groups = new Map<string, HandledRegister[]>();
  for (const h of table.handled) {
    const base = h.name.replace(/\[\d+\]$/, '');
    const key = `${h.row}/${base}`;
    const g = groups.get(key);
    if (g) g.push(h);
    else groups.set(key, [h]);
  }
  const lines: [number, string][] = [];
  for (const g of groups.values()) {
    const first = g[0], last = g[g.length - 1];
    const base = first.name.replace(/\[\d+\]$/, '');
    const idx = (n: string): string => /\[(\d+)\]$/.exec(n)?.[1] ?? '';
    const name = g.length === 1 ? first.name : `${base}[${idx(first.name)}..${idx(last.name)}]`;
    const at = g.length === 1 ? hex(first.offset) : `${hex(first.offset)}..${hex(last.offset)}`;
    const rw = (first.read ? 'r' : '') + (first.write ? 'w' : '');
    lines.push([first.offset, `| ${table.name} | \`${name}\` | ${at} | ${rw} | \`${first.owner}\` | ${first.doc} |`]);
  }
  return lines.sort((a, b) => a[0] - b[0]).map((l) => l[1]);
}

t.test('docs/mmio.md lists the handled registers of both tables', async (t) => {
  const doc = readFileSync(new URL('../docs/mmio.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## Handled registers'));
  const rows = section.split('\n').filter((l) => /^\| (device|vgpu) \|/.test(l));
  const expected = TABLES.flatMap(listingLines);
  t.same(rows, expected, 'the listing in docs/mmio.md is the tables\' (regenerate it from `listingLines` on a change)');
  for (const table of TABLES) {
    const n = table.handled.length;
    t.match(section, new RegExp(`\`${table.name}\`[^\\n]*: ${n} registers`), `${table.name}: the count of ${n} registers is in the doc`);
  }
});
