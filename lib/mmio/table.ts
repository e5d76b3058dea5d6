/**
 * Registers as data.
 *
 * A register is a row: offset, name, width, reset value and flags. Arrays of
 * registers (32 fences, 64 MOCS entries) are one row with `count` and `stride`. Rows are compiled
 * into dense per-dword arrays by `compileRegisters`, which checks the table and fails loudly on a
 * duplicate or overlapping definition (as GVT-g refuses to load on a duplicate MMIO definition).
 * Behaviour (read and write handlers) is not here: it is a handler table over the compiled
 * registers, one per kind of register file (`handlers.ts`).
 */
import { TableError } from '../errors.js';

/** The size of the register space of BAR0 (2 MiB). */
export const MMIO_SPACE_BYTES = 2 * 1024 * 1024;
/** Dwords in the register space. */
export const MMIO_SPACE_DWORDS = MMIO_SPACE_BYTES / 4;

/** Register flags (bit set). Names follow GVT-g's `F_*` attributes in `gvt/gvt.h`. */
export const RegFlag = {
  /** Upper 16 bits of a write are a write-enable mask for the lower 16 (`F_MODE_MASK`). */
  MODE_MASK: 1 << 0,
  /** Every bit read-only (writes dropped); partial read-only bits use `roMask`. */
  READ_ONLY: 1 << 1,
  /** Writing 1 to a bit clears it (interrupt identity registers). */
  W1C: 1 << 2,
  /** Commands (MI_LOAD_REGISTER_*) may write it: the audit whitelist (`F_CMD_ACCESS`). */
  CMD_ACCESS: 1 << 3,
  /** Byte, word and misaligned accesses allowed (`F_UNALIGN`). */
  UNALIGNED: 1 << 4,
  /** Value is a graphics memory address (`F_GMADR`). */
  GMADR: 1 << 5,
  /** Part of the engine context saved and restored at a vGPU switch (`F_SR_IN_CTX`). */
  SR_IN_CTX: 1 << 6,
  /** Read and written by SRM/LRM from commands (a short list in GVT-g). */
  CMD_SRM_LRM: 1 << 7,
} as const;

/** One row of a register table. */
export interface RegisterDef {
  /** Byte offset in BAR0 (dword aligned). */
  offset: number;
  /** Hardware name, e.g. `RING_TAIL` (instances get `[i]` appended). */
  name: string;
  /** Width in bytes: 4 (default) or 8 (two consecutive dwords). */
  width?: 4 | 8;
  /** Reset value of the (low) dword. */
  reset?: number;
  /** Reset value of the high dword of an 8-byte register. */
  resetHi?: number;
  /** `RegFlag` bits. */
  flags?: number;
  /** Bits that writes never change (applies to every dword of the row). */
  roMask?: number;
  /** Number of instances (default 1), `stride` bytes apart. */
  count?: number;
  /** Distance between instances in bytes (default: width). */
  stride?: number;
  /** One-line meaning, for tools. */
  doc?: string;
}

/** A compiled register table: dense per-dword attribute arrays, built once and shared. */
export interface CompiledRegisters {
  /** Row index per dword, -1 where no register is defined. */
  readonly rowOf: Int32Array;
  /** Flags per dword. */
  readonly flags: Uint8Array;
  /** Read-only bit mask per dword. */
  readonly roMask: Uint32Array;
  /** Reset value per dword. */
  readonly reset: Uint32Array;
  /** The rows, expanded (one per instance), in offset order. */
  readonly rows: readonly ExpandedRegister[];
}

/** A row after expansion of `count`: one instance. */
export interface ExpandedRegister {
  readonly offset: number;
  readonly name: string;
  readonly width: 4 | 8;
  readonly flags: number;
  readonly reset: number;
  readonly resetHi: number;
  readonly roMask: number;
  readonly doc?: string;
}

/** Expand `count` rows into instances. */
export function expandRegisters(defs: readonly RegisterDef[]): (ExpandedRegister & { def: RegisterDef })[] {
  const out: (ExpandedRegister & { def: RegisterDef })[] = [];
  for (const d of defs) {
    const width = d.width ?? 4;
    const count = d.count ?? 1;
    const stride = d.stride ?? width;
    if (count < 1 || !Number.isInteger(count)) throw new TableError(`register ${d.name}: count ${count}`);
    if (width !== 4 && width !== 8) throw new TableError(`register ${d.name}: width ${width}`);
    if (stride < width) throw new TableError(`register ${d.name}: stride ${stride} below width ${width}`);
    for (let i = 0; i < count; i++) {
      out.push({
        offset: d.offset + i * stride,
        name: count > 1 ? `${d.name}[${i}]` : d.name,
        width,
        flags: d.flags ?? 0,
        reset: (d.reset ?? 0) >>> 0,
        resetHi: (d.resetHi ?? 0) >>> 0,
        roMask: (d.flags ?? 0) & RegFlag.READ_ONLY ? 0xffffffff : (d.roMask ?? 0) >>> 0,
        doc: d.doc,
        def: d,
      });
    }
  }
  return out;
}

/**
 * Compile rows into dense arrays. Throws `TableError` on an offset outside the register space, a
 * misaligned offset, or two rows covering the same dword.
 */
export function compileRegisters(defs: readonly RegisterDef[]): CompiledRegisters {
  const rowOf = new Int32Array(MMIO_SPACE_DWORDS).fill(-1);
  const flags = new Uint8Array(MMIO_SPACE_DWORDS);
  const roMask = new Uint32Array(MMIO_SPACE_DWORDS);
  const reset = new Uint32Array(MMIO_SPACE_DWORDS);
  const rows = expandRegisters(defs).sort((a, b) => a.offset - b.offset);
  rows.forEach((r, i) => {
    if (r.offset % 4 !== 0) throw new TableError(`register ${r.name}: offset 0x${r.offset.toString(16)} not dword aligned`);
    if (r.offset < 0 || r.offset + r.width > MMIO_SPACE_BYTES) {
      throw new TableError(`register ${r.name}: offset 0x${r.offset.toString(16)} outside the 2 MiB register space`);
    }
    for (let k = 0; k < r.width / 4; k++) {
      const dw = r.offset / 4 + k;
      if (rowOf[dw] !== -1) {
        throw new TableError(`register ${r.name} at 0x${(dw * 4).toString(16)} overlaps ${rows[rowOf[dw]].name}`);
      }
      rowOf[dw] = i;
      flags[dw] = r.flags;
      roMask[dw] = r.roMask;
      reset[dw] = k === 0 ? r.reset : r.resetHi;
    }
  });
  return {
    rowOf,
    flags,
    roMask,
    reset,
    rows: rows.map(({ def: _def, ...rest }) => rest),
  };
}
