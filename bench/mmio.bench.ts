/**
 * `mmio.dispatch`: register reads and writes through `RegisterFile` (row lookup, generic
 * semantics, handler dispatch) against plain Uint32Array reads and writes of the same dwords.
 */
import { compileHandlers, compileRegisters, RegFlag, RegisterFile, type RegisterDef } from '../lib/mmio/index.js';
import type { BenchCase } from './harness.js';

export function cases(): BenchCase[] {
  // A realistic mix: plain, mode-mask, W1C and a handled register, over 5 engines' worth of rows.
  const defs: RegisterDef[] = [];
  const bases = [0x2000, 0x22000, 0x12000, 0x1c000, 0x1a000];
  for (const b of bases) {
    defs.push({ offset: b + 0x30, name: `TAIL_${b}` });
    defs.push({ offset: b + 0x34, name: `HEAD_${b}` });
    defs.push({ offset: b + 0x38, name: `START_${b}` });
    defs.push({ offset: b + 0x3c, name: `CTL_${b}` });
    defs.push({ offset: b + 0x9c, name: `MI_MODE_${b}`, flags: RegFlag.MODE_MASK });
    defs.push({ offset: b + 0x29c, name: `GFX_MODE_${b}`, flags: RegFlag.MODE_MASK });
  }
  defs.push({ offset: 0x44308, name: 'IIR', flags: RegFlag.W1C });
  let sink = 0;
  const ctx = { writes: 0 };
  const handlers = compileHandlers<typeof ctx>('bench', compileRegisters(defs), [
    { at: 0x2030, owner: 'bench', doc: 'a write handler', write: (c, _o, v) => { c.writes++; sink ^= v; } },
  ]);
  const rf = new RegisterFile(handlers, 'bench', ctx);
  const offsets = new Uint32Array(defs.map((d) => d.offset));
  const n = offsets.length;
  const raw = new Uint32Array(2 * 1024 * 1024 / 4);
  const ACCESSES = 1024;
  return [
    {
      name: 'mmio.dispatch',
      unit: 'accesses',
      unitsPerCall: ACCESSES,
      target: 0.2,
      fn: () => {
        let acc = 0;
        for (let i = 0; i < ACCESSES; i += 2) {
          const off = offsets[i % n];
          rf.write(off, 4, i);
          acc += rf.read(off, 4);
        }
        sink ^= acc;
      },
      baseline: () => {
        let acc = 0;
        for (let i = 0; i < ACCESSES; i += 2) {
          const dw = offsets[i % n] >>> 2;
          raw[dw] = i;
          acc += raw[dw];
        }
        sink ^= acc;
      },
    },
  ];
}
