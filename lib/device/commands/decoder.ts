/**
 * The command decoder: the hot path that walks a command buffer header to header.
 *
 * One `decode` call reads dword 0, finds the command through a dense per-engine dispatch array
 * keyed by the header's top 16 bits (no scan of the table), and computes the length from the
 * row's length rule. Results land in reusable numeric fields, so a walk allocates nothing.
 *
 * Unknown headers: GVT-g stops at an unknown command (EBADRQC, `cmd_parser_exec`); a decoder
 * used for listing and fuzzing wants to go on where it can, so it reports `UNKNOWN_COMMAND` and
 * the length the command type's generic length field gives:
 * - MI (type 0): opcodes below 0x10 are single-dword (every such MI instruction in gen9.xml has
 *   bias 1, length 1, no length field); others `(dw0 & 0xff) + 2`, the 8-bit field most MI
 *   instructions of gen9.xml use (a few use 6 or 10 bits: the guess can be wrong, and says so by
 *   the error);
 * - 2D (type 2): `(dw0 & 0xff) + 2`;
 * - type 3: `(dw0 & 0xff) + 2` on RCS and BCS, `(dw0 & 0xfff) + 2` on VCS and VECS (the 12-bit
 *   field of every video instruction in gen9.xml);
 * - types 1 and 4-7 have no generic length: `decode` returns 0 and the walk must stop.
 */
import { GEN9_TABLE, type CommandTable } from './table.js';
import type { EngineClass } from './engines.js';

/** Decode result codes (numbers, for the hot path). */
export const DecodeError = {
  /** The command was recognised and fits before `end`. */
  OK: 0,
  /** No command of this engine matches the header. */
  UNKNOWN_COMMAND: 1,
  /** The command's length runs past `end` (or no dword is left at all). */
  TRUNCATED: 2,
} as const;

/** Names of the decode result codes, indexed by code. */
export const DECODE_ERROR_NAMES: readonly string[] = ['OK', 'UNKNOWN_COMMAND', 'TRUNCATED'];

/**
 * Reusable decoder. `decode` sets `id`, `error` and `length` and returns the length; the fields
 * are small integers, so a walk allocates nothing and stores nothing but three numbers.
 *
 * ```ts
 * const d = new CommandDecoder();
 * for (let i = 0; i < end; ) {
 *   const len = d.decode(buf, i, end, EngineClass.RCS);
 *   if (d.error !== DecodeError.OK) break; // UNKNOWN_COMMAND: `len` is the generic guess or 0
 *   i += len;
 * }
 * ```
 * In a hot loop, copy `EngineClass.X` and `DecodeError.X` into locals first: V8 reloads imported
 * bindings on every use (measured: a third of the walk's time).
 */
export class CommandDecoder {
  // Fields are assigned in the constructor (`declare`, not class-field initialisers): V8 then
  // keeps them as small-integer fields from the first store, measurably faster on this path.
  /** Table index of the last command, -1 when unknown. */
  declare id: number;
  /** `DecodeError` code of the last decode. */
  declare error: number;
  /** Length in dwords of the last command (0 when it cannot be known). */
  declare length: number;
  declare private readonly slots: Int32Array;

  constructor(table: CommandTable = GEN9_TABLE) {
    this.id = -1;
    this.error = 0;
    this.length = 0;
    this.slots = table.slots;
  }

  /**
   * Decode the command at `buf[index]` for `engine`, where the buffer's valid dwords end at `end`
   * (exclusive; an `end` beyond the buffer means the buffer's end). Returns the command's length
   * in dwords (which can exceed `end - index` when the result is TRUNCATED), or 0 when there is
   * no dword or no way to know the length.
   */
  decode(buf: Uint32Array, index: number, end: number, engine: EngineClass): number {
    // `end` is clipped to the buffer by choosing which bound each check compares against, not by
    // reassigning it: the merged `min(end, buf.length)` became a floating-point value in V8,
    // converted back on every call.
    const n = buf.length;
    const clip = end > n;
    if (clip ? index >= n : index >= end) {
      this.id = -1;
      this.length = 0;
      this.error = 2; // DecodeError.TRUNCATED
      return 0;
    }
    const e = engine & 3;
    const dw0 = buf[index];
    // One load gives the id and the length rule (table.ts, "Packing of a dispatch slot").
    const slot = this.slots[(e << 16) | (dw0 >>> 16)];
    // Guess the engine's common rule, bias 2 with an 8-bit field (RCS, BCS) or a 12-bit one (VCS,
    // VECS), straight from dword 0, and take the slot's rule only when it differs: the guess keeps
    // the dispatch load off the dependency chain from one header to the next, which is what bounds
    // a header-to-header walk (measured about 2x on the 3d-frame fixture).
    const common = e >= 2 ? 0xfff : 0xff;
    let len = (dw0 & common) + 2;
    if ((slot & 0xfffff) !== (0x20000 | common)) len = (dw0 & slot & 0xffff) + ((slot >>> 16) & 0xf);
    const id = (slot >>> 20) - 1;
    this.id = id;
    this.length = len;
    // Branches, not a ?: chain, and literal codes: predicted, they keep the error off the critical
    // path (measured faster in V8).
    if (id < 0) this.error = 1; // DecodeError.UNKNOWN_COMMAND
    else if (clip ? index + len > n : index + len > end) this.error = 2; // DecodeError.TRUNCATED
    else this.error = 0; // DecodeError.OK
    return len;
  }
}
