/**
 * Register handlers as data: one declarative table per kind of register file.
 *
 * A handler row names a register (by offset, by name, or a run of `count` registers `stride` bytes
 * apart) and gives plain functions that take the register file's context object (the vGPU, the
 * device) plus the offset and values, as GVT-g's `MMIO_DFH(reg, d, f, read, write)` rows in
 * `gvt/handlers.c` take the vGPU. The modules that own a behaviour contribute its rows (the
 * virtual execlist its ELSP rows, the interrupt controller its IIR rows); the owner of the
 * register file joins them into one list and compiles it once per kind, not per instance.
 *
 * Compiling checks the table as GVT-g's `setup_mmio_info` does and more: a handler on a dword no
 * register covers is refused (GVT-g: "assign a handler to a non-tracked mmio", -ENODEV), and so is
 * a second handler row for a register (GVT-g silently lets the last registration win; here that
 * would drop a behaviour, e.g. the not-GVT-aware failsafe of GFX_MODE). Every dword of a register
 * shares its handlers; a row must name a register's first dword.
 *
 * The compiled table keeps, per dword, the `K_*` bits the register file's hot path tests (one byte
 * load decides whether an access is plain storage), exact for that table: a register has
 * K_READER / K_WRITER only when its table has a read / write handler there.
 */
import { TableError } from '../errors.js';
import { type CompiledRegisters, MMIO_SPACE_BYTES, MMIO_SPACE_DWORDS, RegFlag } from './table.js';

/**
 * Read handler: the value a read of the dword at `offset` sees. `stored` is its storage. Runs on
 * every read of the register: must not allocate.
 */
export type HandlerRead<C> = (ctx: C, offset: number, stored: number) => number;

/**
 * Write handler, called after the generic semantics (mode mask, read-only bits, write-1-to-clear)
 * computed `next` and stored it. `value` is the raw written dword (after byte enables), `old` the
 * previous storage. A handler adds side effects; it may overwrite storage (`RegisterFile.poke`).
 */
export type HandlerWrite<C> = (ctx: C, offset: number, value: number, old: number, next: number) => void;

/** One row of a handler table. */
export interface HandlerRow<C> {
  /** Byte offset of the register's first dword, or its name in the register table (`FENCE_REG_GEN6[3]`). */
  at: number | string;
  /** Registers the row covers (default 1), `stride` bytes apart (default 4). */
  count?: number;
  stride?: number;
  /** The module that owns the behaviour, e.g. `mediator/execlist` (listings and errors name it). */
  owner: string;
  /** One line: what the handler does (the register listing in docs/mmio.md shows it). */
  doc: string;
  read?: HandlerRead<C>;
  write?: HandlerWrite<C>;
}

/** One register with a handler, as the listing of a compiled table shows it. */
export interface HandledRegister {
  /** Register name from the register table (instances as `NAME[i]`). */
  readonly name: string;
  readonly offset: number;
  /** Width in bytes (both dwords of an 8-byte register share the handlers). */
  readonly width: 4 | 8;
  readonly read: boolean;
  readonly write: boolean;
  readonly owner: string;
  readonly doc: string;
  /** Index of the handler row in the list given to `compileHandlers`. */
  readonly row: number;
}

/** A handler table compiled over a register table: what a `RegisterFile` of that kind runs. */
export interface CompiledHandlers<C> {
  /** The kind of register file (`vgpu`, `device`, ...). */
  readonly name: string;
  /** The register table the handlers sit on. */
  readonly registers: CompiledRegisters;
  /** Handlers per register row of `registers` (undefined where none). */
  readonly readers: readonly (HandlerRead<C> | undefined)[];
  readonly writers: readonly (HandlerWrite<C> | undefined)[];
  /** `K_*` bits per dword (see `register-file.ts`). */
  readonly kind: Uint8Array;
  /** Dwords whose reset value is not zero, ascending (a few dozen of 512 Ki). */
  readonly resetNonZero: Uint32Array;
  /** Every register with a handler, in offset order. */
  readonly handled: readonly HandledRegister[];
}

/** `kind` bits per dword: what a whole-dword access must do besides touching storage. */
export const K = Object.freeze({
  /** No register covers the dword. */
  UNTRACKED: 1,
  /** The register has a read handler. */
  READER: 2,
  /** The register has a write handler. */
  WRITER: 4,
  /** Mode mask, write-1-to-clear or read-only bits: the write goes through the generic semantics. */
  SEMANTICS: 8,
} as const);

function hex(n: number): string {
  return '0x' + n.toString(16);
}

function describeRow<C>(h: HandlerRow<C>): string {
  return `${h.owner} (${h.doc})`;
}

/**
 * Compile handler rows over `registers` into the table a register file of kind `name` runs.
 * Throws `TableError` on a row without handler, a bad count or stride, a handler on an offset no
 * register covers or inside a register, and two rows on one register (naming both).
 */
export function compileHandlers<C>(name: string, registers: CompiledRegisters, rows: readonly HandlerRow<C>[]): CompiledHandlers<C> {
  const nRows = registers.rows.length;
  // Packed arrays (built by push, never frozen): the hot path loads from them.
  const readers: (HandlerRead<C> | undefined)[] = [];
  const writers: (HandlerWrite<C> | undefined)[] = [];
  for (let i = 0; i < nRows; i++) {
    readers.push(undefined);
    writers.push(undefined);
  }
  const rowOfReg = new Int32Array(nRows).fill(-1);
  let byName: Map<string, number> | null = null;
  rows.forEach((h, hi) => {
    const where = `${name} handler ${describeRow(h)}`;
    if (!h.read && !h.write) throw new TableError(`${where}: neither read nor write handler`);
    let base: number;
    if (typeof h.at === 'string') {
      byName ??= new Map(registers.rows.map((r) => [r.name, r.offset]));
      const o = byName.get(h.at);
      if (o === undefined) throw new TableError(`${where}: no register named ${h.at}`);
      base = o;
    } else {
      base = h.at;
    }
    const count = h.count ?? 1;
    const stride = h.stride ?? 4;
    if (!(Number.isInteger(count) && count >= 1)) throw new TableError(`${where}: count ${count}`);
    if (!(Number.isInteger(stride) && stride >= 4 && stride % 4 === 0)) throw new TableError(`${where}: stride ${stride}`);
    for (let i = 0; i < count; i++) {
      const offset = base + i * stride;
      if (!(Number.isInteger(offset) && offset >= 0 && offset < MMIO_SPACE_BYTES && offset % 4 === 0)) {
        throw new TableError(`${where}: offset ${hex(offset)} is not a dword of the register space`);
      }
      const row = registers.rowOf[offset >>> 2];
      if (row < 0) throw new TableError(`${where}: handler on untracked offset ${hex(offset)} (no register there)`);
      const reg = registers.rows[row];
      if (reg.offset !== offset) throw new TableError(`${where}: ${hex(offset)} is inside ${reg.name} (${hex(reg.offset)}), not its first dword`);
      const prev = rowOfReg[row];
      if (prev >= 0) {
        throw new TableError(`${name}: two handlers for ${reg.name} (${hex(offset)}): ${describeRow(rows[prev])} and ${describeRow(h)}`);
      }
      rowOfReg[row] = hi;
      readers[row] = h.read;
      writers[row] = h.write;
    }
  });
  const kind = new Uint8Array(MMIO_SPACE_DWORDS);
  const rowOf = registers.rowOf;
  for (let dw = 0; dw < MMIO_SPACE_DWORDS; dw++) {
    const row = rowOf[dw];
    if (row < 0) {
      kind[dw] = K.UNTRACKED;
      continue;
    }
    let k = 0;
    if (readers[row]) k |= K.READER;
    if (writers[row]) k |= K.WRITER;
    if ((registers.flags[dw] & (RegFlag.MODE_MASK | RegFlag.W1C)) !== 0 || registers.roMask[dw] !== 0) k |= K.SEMANTICS;
    kind[dw] = k;
  }
  const nonZero: number[] = [];
  for (let dw = 0; dw < registers.reset.length; dw++) if (registers.reset[dw] !== 0) nonZero.push(dw);
  const handled: HandledRegister[] = [];
  for (let row = 0; row < nRows; row++) {
    const hi = rowOfReg[row];
    if (hi < 0) continue;
    const r = registers.rows[row], h = rows[hi];
    handled.push(Object.freeze({ name: r.name, offset: r.offset, width: r.width, read: !!h.read, write: !!h.write, owner: h.owner, doc: h.doc, row: hi }));
  }
  return Object.freeze({
    name,
    registers,
    readers,
    writers,
    kind,
    resetNonZero: Uint32Array.from(nonZero),
    handled: Object.freeze(handled),
  });
}

const plainOf = new WeakMap<CompiledRegisters, CompiledHandlers<never>>();

/** The table of register files without handlers over `registers` (compiled once per register table). */
export function plainHandlers(registers: CompiledRegisters): CompiledHandlers<never> {
  let p = plainOf.get(registers);
  if (!p) {
    p = compileHandlers<never>('plain', registers, []);
    plainOf.set(registers, p);
  }
  return p;
}
