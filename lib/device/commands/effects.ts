/**
 * One description of what every command does to memory and registers: which dwords are graphics
 * addresses, in which space (GGTT, PPGTT, the context's, or the status page by index), chosen by
 * which bit, how many bytes, read or written, what value a write stores, which registers it writes
 * and from where, under which flag bits (post-sync operations, the LRI post-sync bit, index mode,
 * Store Qword, atomic sizes, blit pitch and extent).
 *
 * The device's command streamer (`lib/device/executor.ts`) performs exactly the effects listed
 * here; the mediator's auditor (`lib/mediator/parser.ts`) checks and patches exactly these; the
 * fuzz oracle and the differential property test (`test/effects.test.ts`) read them too. A command
 * whose effects cannot be described the device's way (too short for its fields, a reserved value,
 * an undefined flag combination) gets a negative answer: the auditor refuses it and the device
 * faults on it, so neither guesses. This is the role of GVT-g's single `cmd_info` row per command
 * (`gvt/cmd_parser.c`: address bitmap plus handler), made one function both sides call.
 *
 * Shape: `effectsOf(id, dwords, i, len, out)` fills `out` (a `Float64Array` of
 * `EFFECTS_CAPACITY * EFFECT_STRIDE`) with fixed-stride records and returns how many it wrote, or
 * an `EffectsError` (< 0). No allocation, no BigInt: 48-bit addresses are plain numbers below 2^53.
 *
 * Rows: the commands with their own semantics are `EFFECT_ROWS` below (post-sync writers, stores,
 * register loads, blits, atomics, the MI commands GVT-g refuses, MI_DISPLAY_FLIP's one `FLIP`
 * effect: a plane of a display, which the mediator performs on the vGPU's virtual display and the
 * device never does); every other command with
 * tabulated address fields (`CommandInfo.addressDwords`, table.ts) gets `pointer` effects: state
 * pointers the 3D/media pipelines dereference later, checked for their first bytes
 * (`POINTER_EXTENTS`, 4 by default) and never performed by the device model (it does not run the
 * 3D pipeline). Every row's address dwords, low bits and space selectors are checked against the
 * command table at load (`TableError` on a disagreement), so the two cannot drift.
 *
 * Facts (Gen9, genxml `gen9.xml` field start/end; GVT-g handlers of Linux v7.0 `gvt/cmd_parser.c`):
 * - PIPE_CONTROL dword 1: Post Sync Operation 15:14 (0 none, 1 write immediate, 2 write PS depth
 *   count, 3 write timestamp), Store Data Index 21, LRI Post Sync Operation 23 (1: "MMIO Write
 *   Immediate Data", the Address field names a register and Immediate Data dword 4 is written to
 *   it), Destination Address Type 24 (1 GGTT). Address dwords 2-3, bits 47:2.
 * - MI_FLUSH_DW dword 0: Post Sync Operation 15:14 (1 write immediate, 2 reserved, 3 timestamp),
 *   Store Data Index 21; dword 1 bit 2 Destination Address Type (1 GGTT); address bits 47:3.
 * - MI_STORE_DATA_IMM dword 0: Use Global GTT 22, Store Qword 21.
 * - MI_ATOMIC dword 0: Use Global GTT 22, Data Size 20:19 (dword, qword, octword; 3 reserved).
 * - XY_COLOR_BLT / XY_SRC_COPY_BLT: BR13 (dword 1) pitch 15:0 signed, color depth 25:24; tiled
 *   (dword 0 bit 11 destination, bit 15 source) pitch in dwords.
 *
 * The LRI post-sync decision: GVT-g (`cmd_handler_pipe_control`) treats bit 23 as excluding the
 * post-sync write (`if (LRI) ... else if (post_sync) ...`), but nothing stops a command setting
 * both, and a device that performed both would write guest-chosen memory the auditor never
 * looked at. The combination has no described effect here (`EffectsError.UNDEFINED`): refused by
 * the auditor, a fault on the device. Bit 23 alone is one register write, checked like an
 * MI_LOAD_REGISTER_IMM pair.
 */
import { TableError } from '../../errors.js';
import { TWO_POW_32 } from '../../types.js';
import { COMMANDS, CommandFlag, type AddressField, type AddressSpaceRule, type CommandInfo } from './table.js';

/** Kinds of effect (slot `E_KIND`). */
export const EffectKind = {
  /** A memory access by the command itself, when it executes: `bytes` at `addr`. */
  MEM: 1,
  /** A blit surface: `rows` rows of `bytes` bytes, row r at `addr + origin + r * pitch`. */
  BLIT: 2,
  /** A write into a status page by index: `bytes` at byte offset `addr` of the page. */
  STATUS_PAGE: 3,
  /** A register write: register `addr`, value from `value` / `valueAt`, byte enables `mask`. */
  REG_WRITE: 4,
  /** A register read: register `addr`. */
  REG_READ: 5,
  /** A state pointer the pipelines dereference later (not performed by the device model). */
  POINTER: 6,
  /**
   * A display flip (MI_DISPLAY_FLIP): the surface at `addr` (GGTT) becomes plane `E_PLANE` of pipe
   * `E_PIPE`'s; stride `E_FLIP_STRIDE`, tiling `E_FLIP_TILING`, asynchronous when `E_FLIP_ASYNC`.
   * Its effect is on a display's plane registers: the mediator performs it on the vGPU's virtual
   * display; the device (the host, no display) never does (its streamer ignores the command).
   */
  FLIP: 7,
} as const;

/** Address spaces of an effect (slot `E_SPACE`). */
export const EffectSpace = {
  GGTT: 0,
  PPGTT: 1,
  /** The context's: PPGTT when the context has one, else GGTT. */
  CONTEXT: 2,
  /** The per-process status page (page 0 of the context; the engine's status page in ring mode). */
  PPHWSP: 3,
  /** The engine's hardware status page (RING_HWS_PGA): the host's. */
  HWSP: 4,
} as const;

/** Access bits (slot `E_ACCESS`). */
export const Access = { READ: 1, WRITE: 2 } as const;

/** What a write stores (slot `E_VALUE`). */
export const ValueSource = {
  NONE: 0,
  /** Dwords of the command from `valueAt` (relative to the command's first dword). */
  IMMEDIATE: 1,
  /** The 64-bit CS timestamp. */
  TIMESTAMP: 2,
  /** The PS depth count (registers 0x2350, 0x2354). */
  DEPTH_COUNT: 3,
  /** The register at offset `valueAt`. */
  REGISTER: 4,
  /** The memory the command's `MEM` read effect reads. */
  MEMORY: 5,
  /** A read-modify-write of the memory itself (atomics, blit ROPs). */
  MODIFY: 6,
} as const;

/** Slots of one effect record. */
export const E_KIND = 0;
export const E_SPACE = 1;
/** Graphics address (MEM, BLIT base, POINTER), byte offset (STATUS_PAGE) or register offset. */
export const E_ADDR = 2;
/** Bytes (MEM, STATUS_PAGE, POINTER) or bytes per row (BLIT). */
export const E_BYTES = 3;
export const E_ACCESS = 4;
/** Dword (relative to the command) of the address field, -1 when none (what the auditor patches). */
export const E_FIELD = 5;
/** Lowest address bit of that field (bits below are flags, kept by a patch). */
export const E_LOWBIT = 6;
/** 1 when the field is 48-bit over two dwords. */
export const E_IS64 = 7;
export const E_VALUE = 8;
/** Dword of an immediate value, or the register offset of a REGISTER value. */
export const E_VALUE_AT = 9;
/** BLIT: byte offset of row 0 from the base. REG_WRITE: byte enables (a 32-bit mask). */
export const E_ORIGIN = 10;
export const E_MASK = 10;
/** BLIT: signed bytes between rows (0 and negative allowed). */
export const E_PITCH = 11;
/** BLIT: rows. */
export const E_ROWS = 12;
/** BLIT: bytes per pixel. */
export const E_CPP = 13;
/** FLIP: pipe (0..2), plane (0 = plane 1, the primary), PLANE_STRIDE bits 9:0, PLANE_CTL tiling (bits 12:10), async (0/1). */
export const E_PIPE = 10;
export const E_PLANE = 11;
export const E_FLIP_STRIDE = 12;
export const E_FLIP_TILING = 13;
export const E_FLIP_ASYNC = 14;
/** Doubles per effect record. */
export const EFFECT_STRIDE = 16;
/**
 * Most effects one command can have (an MI_LOAD_REGISTER_IMM of the longest 8-bit length is 128
 * pairs; 3DSTATE_VERTEX_BUFFERS repeats its address every 4 dwords).
 */
export const EFFECTS_CAPACITY = 160;

/** A fresh effect buffer (allocate once per consumer, reuse). */
export function newEffectBuffer(): Float64Array {
  return new Float64Array(EFFECTS_CAPACITY * EFFECT_STRIDE);
}

/** Negative answers of `effectsOf`. */
export const EffectsError = {
  /** The command is too short (or, for pairs, malformed) to hold the fields its flags use. */
  SHORT: -1,
  /** A reserved field value or an undefined flag combination: no described effect. */
  UNDEFINED: -2,
  /** The command carries graphics addresses whose fields are not tabulated. */
  UNTABULATED: -3,
  /** The command's length is not the one its fields define (MI_DISPLAY_FLIP: exactly 3 dwords). */
  LENGTH: -4,
} as const;

/** Text for a negative `effectsOf` answer (no allocation: constant strings). */
export function effectsProblem(code: number): string {
  if (code === EffectsError.SHORT) return 'is too short for the fields its flags use';
  if (code === EffectsError.UNDEFINED) return 'uses a reserved value or an undefined flag combination';
  if (code === EffectsError.UNTABULATED) return 'carries graphics addresses whose fields are not tabulated';
  if (code === EffectsError.LENGTH) return 'has a length other than its fields\' (MI_DISPLAY_FLIP: 3 dwords)';
  return 'has no described effect';
}

// --- rows ------------------------------------------------------------------------------------------

/** An address field of a row: dword, low bit, width, space rule (checked against table.ts). */
interface FieldDef {
  readonly dword: number;
  readonly lowBit: number;
  readonly is64: boolean;
  readonly space: AddressSpaceRule;
}

/** Row kinds (compiled to `ROW_KIND` by command id). */
const Row = {
  NONE: 0,
  /** Generic: every tabulated address field is a POINTER effect. */
  POINTERS: 1,
  UNTABULATED: 2,
  STORE_DATA_IMM: 3,
  STORE_DATA_INDEX: 4,
  LRI: 5,
  SRM: 6,
  LRM: 7,
  LRR: 8,
  FLUSH_DW: 9,
  PIPE_CONTROL: 10,
  ATOMIC: 11,
  COLOR_BLT: 12,
  SRC_COPY_BLT: 13,
  /** Fixed memory accesses (`MemDef` list): the MI commands GVT-g refuses, and a few others. */
  FIXED_MEM: 14,
  /** Control flow (MI_BATCH_BUFFER_START): the target is fetched, handled by both sides' batch logic. */
  CONTROL: 15,
  /** MI_DISPLAY_FLIP: one FLIP effect (`FLIP_PLANE_SELECT`). */
  DISPLAY_FLIP: 16,
} as const;

/** One fixed memory access of a FIXED_MEM row. */
interface MemDef {
  readonly field: FieldDef;
  readonly bytes: number;
  readonly access: number;
  readonly value: number;
  readonly valueAt: number;
}

function sel(dword: number, bit: number, ggttWhenSet: boolean): AddressSpaceRule {
  return { dword, bit, ggttWhenSet };
}
function f64(dword: number, lowBit: number, space: AddressSpaceRule): FieldDef {
  return { dword, lowBit, is64: true, space };
}
function f32(dword: number, lowBit: number, space: AddressSpaceRule): FieldDef {
  return { dword, lowBit, is64: false, space };
}
const GGTT_22 = sel(0, 22, true);
const R = Access.READ;
const W = Access.WRITE;
const RW = Access.READ | Access.WRITE;
const V = ValueSource;

interface RowDef {
  readonly kind: number;
  /** Address fields in the order of the command table's `addressDwords`. */
  readonly fields: readonly FieldDef[];
  readonly mem?: readonly MemDef[];
}

/** The rows of the commands with their own semantics (see the module comment for the facts). */
const EFFECT_ROWS: Readonly<Record<string, RowDef>> = {
  MI_BATCH_BUFFER_START: { kind: Row.CONTROL, fields: [f64(1, 2, sel(0, 8, false))] },
  MI_STORE_DATA_IMM: { kind: Row.STORE_DATA_IMM, fields: [f64(1, 2, GGTT_22)] },
  MI_STORE_DATA_INDEX: { kind: Row.STORE_DATA_INDEX, fields: [] },
  MI_LOAD_REGISTER_IMM: { kind: Row.LRI, fields: [] },
  MI_STORE_REGISTER_MEM: { kind: Row.SRM, fields: [f64(2, 2, GGTT_22)] },
  MI_LOAD_REGISTER_MEM: { kind: Row.LRM, fields: [f64(2, 2, GGTT_22)] },
  MI_LOAD_REGISTER_REG: { kind: Row.LRR, fields: [] },
  MI_FLUSH_DW: { kind: Row.FLUSH_DW, fields: [f64(1, 3, sel(1, 2, true))] },
  PIPE_CONTROL: { kind: Row.PIPE_CONTROL, fields: [f64(2, 2, sel(1, 24, true))] },
  // GVT-g cmd_handler_mi_op_2f: (1 << Data Size) dwords, read and written.
  MI_ATOMIC: { kind: Row.ATOMIC, fields: [f64(1, 2, GGTT_22)] },
  XY_COLOR_BLT: { kind: Row.COLOR_BLT, fields: [f64(4, 0, 'context')] },
  XY_SRC_COPY_BLT: { kind: Row.SRC_COPY_BLT, fields: [f64(4, 0, 'context'), f64(8, 0, 'context')] },
  MI_COPY_MEM_MEM: fixed([
    [f64(1, 2, sel(0, 21, true)), 4, W, V.MEMORY, 0],
    [f64(3, 2, sel(0, 22, true)), 4, R, V.NONE, 0],
  ]),
  MI_SEMAPHORE_WAIT: fixed([[f64(2, 2, GGTT_22), 4, R, V.NONE, 0]]),
  MI_CONDITIONAL_BATCH_BUFFER_END: fixed([[f64(2, 3, GGTT_22), 4, R, V.NONE, 0]]),
  // An OA report (256 bytes on Gen8+).
  MI_REPORT_PERF_COUNT: fixed([[f64(1, 6, sel(1, 0, true)), 256, W, V.REGISTER, 0]]),
  MI_CLFLUSH: fixed([[f64(1, 12, GGTT_22), 4096, RW, V.MODIFY, 0]]),
  MI_RS_STORE_DATA_IMM: fixed([[f64(1, 2, 'context'), 4, W, V.IMMEDIATE, 3]]),
  MI_LOAD_URB_MEM: fixed([[f64(2, 6, 'context'), 4, R, V.NONE, 0]]),
  MI_STORE_URB_MEM: fixed([[f64(2, 6, 'context'), 4, W, V.NONE, 0]]),
  MI_DISPLAY_FLIP: { kind: Row.DISPLAY_FLIP, fields: [f32(2, 12, 'ggtt')] },
};

// --- MI_DISPLAY_FLIP ---------------------------------------------------------------------------------

/**
 * Display Plane Select (MI_DISPLAY_FLIP dword 0 bits 12:8) of Skylake, by code: `pipe * 4 + plane`
 * (plane 0 is plane 1, the primary; 1 is plane 2, sprite 0; 2 is plane 3), or -1 for a reserved
 * code. Codes from i915 6.1 `gt/intel_gpu_commands.h` (`MI_DISPLAY_FLIP_SKL_PLANE_1_A` = 0 ...
 * `MI_DISPLAY_FLIP_SKL_PLANE_3_C` = 9). How this matches GVT-g v7.0's `skl_decode_mi_display_flip`
 * (gvt/cmd_parser.c), each difference deliberate (docs/display.md, "Flips by command"):
 * - 0, 1, 2 (plane 1 of pipe A, B, C): as GVT-g;
 * - 4, 5, 6 (plane 2): GVT-g takes the pipe and the sprite's flip-done event from the code but
 *   writes the *primary* plane's registers (DSPCNTR / DSPSTRIDE / DSPSURF of the pipe for every
 *   code), so a sprite flip moves the primary surface. gvtkit flips plane 2, the plane named;
 * - 7, 8 (plane 3 of pipe A, B): GVT-g refuses them (-EBADRQC, failsafe); gvtkit flips plane 3,
 *   as its PLANE_SURF MMIO path does (a command can do nothing the guest's MMIO cannot);
 * - 9 (plane 3 of pipe C): refused, as GVT-g: Skylake's pipe C has two planes
 *   (lib/display/registers.ts `planesOf`), so no MMIO write flips it either;
 * - 3 and 10..31: reserved; refused (`EffectsError.UNDEFINED`), as GVT-g (-EBADRQC).
 */
export const FLIP_PLANE_SELECT: Int8Array = ((): Int8Array => {
  const t = new Int8Array(32).fill(-1);
  for (let pipe = 0; pipe < 3; pipe++) {
    t[pipe] = pipe * 4;
    t[4 + pipe] = pipe * 4 + 1;
    if (pipe < 2) t[7 + pipe] = pipe * 4 + 2;
  }
  return t;
})();

/** Bytes of the surface an MI_DISPLAY_FLIP effect covers: the first page (the command carries no extent). */
export const FLIP_SURFACE_BYTES = 4096;

function fixed(list: readonly (readonly [FieldDef, number, number, number, number])[]): RowDef {
  return {
    kind: Row.FIXED_MEM,
    fields: list.map((m) => m[0]),
    mem: list.map(([field, bytes, access, value, valueAt]) => ({ field, bytes, access, value, valueAt })),
  };
}

/**
 * Extent in bytes of the state pointers of POINTERS rows, by command (one per field); 4 when not
 * listed: 3D and media state addresses carry no extent in the command (their first dword).
 */
export const POINTER_EXTENTS: Readonly<Record<string, readonly number[]>> = Object.freeze({});

// --- compiled per-id tables (the hot path reads typed arrays) ------------------------------------------

const N = COMMANDS.length;
const ROW_KIND = new Uint8Array(N);
/** Per id: up to MAX_FIELDS fields (dword, lowBit, is64, rule kind, selector dword, bit, ggttWhenSet). */
const MAX_FIELDS = 8;
const F_DWORD = new Uint16Array(N * MAX_FIELDS);
const F_LOWBIT = new Uint8Array(N * MAX_FIELDS);
const F_IS64 = new Uint8Array(N * MAX_FIELDS);
const F_RULE = new Uint8Array(N * MAX_FIELDS);
const F_SEL_DWORD = new Uint8Array(N * MAX_FIELDS);
const F_SEL_BIT = new Uint8Array(N * MAX_FIELDS);
const F_SEL_GGTT = new Uint8Array(N * MAX_FIELDS);
const F_STRIDE = new Uint16Array(N * MAX_FIELDS);
/** Enable bit of a POINTERS field: dword (0xff: always used) and bit (`AddressField.enable`). */
const F_EN_DWORD = new Uint8Array(N * MAX_FIELDS).fill(0xff);
const F_EN_BIT = new Uint8Array(N * MAX_FIELDS);
/** Mask of the enable field (after the shift): 1 for a bit, 0xffff for a 16-bit read length. */
const F_EN_MASK = new Uint32Array(N * MAX_FIELDS);
const F_BYTES = new Float64Array(N * MAX_FIELDS);
const F_ACCESS = new Uint8Array(N * MAX_FIELDS);
const F_VALUE = new Uint8Array(N * MAX_FIELDS);
const F_VALUE_AT = new Uint16Array(N * MAX_FIELDS);
const FIELD_COUNT = new Uint8Array(N);
/** Per id: `EffectSummary` bits. */
const SUMMARY = new Uint8Array(N);

const RuleKind = { GGTT: 0, PPGTT: 1, CONTEXT: 2, SELECT: 3 } as const;

/** Static facts about a command's effects (`effectSummary`). */
export const EffectSummary = {
  /** It has at least one effect in some encoding. */
  ANY: 1,
  /** Some encoding touches memory through a GGTT or header-selected address (not only the context's). */
  SELECTED_SPACE: 2,
  /** It has blit effects (work bounded whatever the space). */
  BLIT: 4,
  /** It writes registers. */
  REGISTERS: 8,
  /** It writes a status page by index. */
  STATUS_PAGE: 16,
  /** `effectsOf` can answer negatively for some encoding. */
  CAN_REFUSE: 32,
  /** It flips a display plane (FLIP effects). */
  DISPLAY: 64,
} as const;

function sameSpace(a: AddressSpaceRule, b: AddressSpaceRule): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return a.dword === b.dword && a.bit === b.bit && a.ggttWhenSet === b.ggttWhenSet;
}

function setField(id: number, k: number, f: FieldDef, stride: number, bytes: number, access: number, value: number, valueAt: number): void {
  const at = id * MAX_FIELDS + k;
  F_DWORD[at] = f.dword;
  F_LOWBIT[at] = f.lowBit;
  F_IS64[at] = f.is64 ? 1 : 0;
  const s = f.space;
  if (typeof s === 'object') {
    F_RULE[at] = RuleKind.SELECT;
    F_SEL_DWORD[at] = s.dword;
    F_SEL_BIT[at] = s.bit;
    F_SEL_GGTT[at] = s.ggttWhenSet ? 1 : 0;
  } else {
    F_RULE[at] = s === 'ggtt' ? RuleKind.GGTT : s === 'ppgtt' ? RuleKind.PPGTT : RuleKind.CONTEXT;
  }
  F_STRIDE[at] = stride;
  F_BYTES[at] = bytes;
  F_ACCESS[at] = access;
  F_VALUE[at] = value;
  F_VALUE_AT[at] = valueAt;
}

/** Compile one command's row; throws `TableError` when it disagrees with the command table. */
function compileRow(c: CommandInfo): void {
  const row = EFFECT_ROWS[c.name];
  const tabulated: readonly AddressField[] | undefined = c.addressDwords;
  const id = c.id;
  let summary = 0;
  if (row !== undefined) {
    ROW_KIND[id] = row.kind;
    const fields = tabulated ?? [];
    if (fields.length !== row.fields.length) {
      throw new TableError(`effects of ${c.name}: ${row.fields.length} address fields, the command table has ${fields.length}`);
    }
    row.fields.forEach((f, k) => {
      const t = fields[k];
      if (t.dword !== f.dword || t.lowBit !== f.lowBit || t.is64 !== f.is64 || !sameSpace(t.space, f.space) || t.repeatStride !== undefined) {
        throw new TableError(`effects of ${c.name}: address field ${k} (${t.name}) disagrees with the command table`);
      }
      const m = row.mem?.[k];
      setField(id, k, f, 0, m?.bytes ?? 0, m?.access ?? 0, m?.value ?? 0, m?.valueAt ?? 0);
      if (f.space !== 'context') summary |= EffectSummary.SELECTED_SPACE;
    });
    FIELD_COUNT[id] = row.fields.length;
    summary |= EffectSummary.ANY | EffectSummary.CAN_REFUSE;
    if (row.kind === Row.COLOR_BLT || row.kind === Row.SRC_COPY_BLT) summary |= EffectSummary.BLIT;
    if (row.kind === Row.LRI || row.kind === Row.LRM || row.kind === Row.LRR || row.kind === Row.PIPE_CONTROL) summary |= EffectSummary.REGISTERS;
    if (row.kind === Row.STORE_DATA_INDEX || row.kind === Row.FLUSH_DW || row.kind === Row.PIPE_CONTROL) summary |= EffectSummary.STATUS_PAGE;
    if (row.kind === Row.DISPLAY_FLIP) summary |= EffectSummary.DISPLAY;
  } else if (tabulated === undefined) {
    ROW_KIND[id] = (c.flags & CommandFlag.HAS_ADDRESS) !== 0 ? Row.UNTABULATED : Row.NONE;
    if (ROW_KIND[id] === Row.UNTABULATED) summary |= EffectSummary.CAN_REFUSE;
  } else if (tabulated.length === 0) {
    ROW_KIND[id] = Row.NONE;
  } else {
    if (tabulated.length > MAX_FIELDS) throw new TableError(`effects of ${c.name}: more than ${MAX_FIELDS} address fields`);
    ROW_KIND[id] = Row.POINTERS;
    const extents = POINTER_EXTENTS[c.name] ?? [];
    const access = (c.flags & CommandFlag.MEMORY_WRITE) !== 0 ? RW : R;
    tabulated.forEach((t, k) => {
      setField(id, k, t, t.repeatStride ?? 0, extents[k] ?? 4, access, V.NONE, 0);
      if (t.enable !== undefined) {
        const bits = t.enable.bits ?? 1;
        if (t.repeatStride !== undefined || t.enable.dword < 1 || t.enable.dword > 0xfe || t.enable.bit + bits > 32 || bits < 1) {
          throw new TableError(`effects of ${c.name}: bad enable bit of ${t.name}`);
        }
        F_EN_DWORD[id * MAX_FIELDS + k] = t.enable.dword;
        F_EN_BIT[id * MAX_FIELDS + k] = t.enable.bit;
        F_EN_MASK[id * MAX_FIELDS + k] = bits === 32 ? 0xffffffff : (1 << bits) - 1;
      }
      if (t.space !== 'context') summary |= EffectSummary.SELECTED_SPACE;
    });
    FIELD_COUNT[id] = tabulated.length;
    summary |= EffectSummary.ANY | EffectSummary.CAN_REFUSE;
  }
  SUMMARY[id] = summary;
}

for (const name of Object.keys(EFFECT_ROWS)) {
  if (!COMMANDS.some((c) => c.name === name)) throw new TableError(`effects row ${name} names no command`);
}
for (const c of COMMANDS) compileRow(c);

/** `EffectSummary` bits of command `id` (static: true of some encoding). */
export function effectSummary(id: number): number {
  return id >= 0 && id < N ? SUMMARY[id] : 0;
}

// --- the description --------------------------------------------------------------------------------

/** Mask for MMIO register offsets in commands (bits 22:2). */
const REG_MASK = 0x7ffffc;
/** Bytes per pixel per BR13 color depth (8 bpp, 565, 1555, 32 bpp). */
const BLT_CPP = [1, 2, 2, 4];

function addressAt(dw: Uint32Array, at: number, lowBit: number, is64: boolean): number {
  const lo = lowBit === 0 ? dw[at] >>> 0 : ((dw[at] >>> lowBit) << lowBit) >>> 0;
  return is64 ? (dw[at + 1] & 0xffff) * TWO_POW_32 + lo : lo;
}

/** Space of field `k` of command `id` at `dw[i]` (`EffectSpace.GGTT`, `PPGTT` or `CONTEXT`). */
function spaceOf(id: number, k: number, dw: Uint32Array, i: number): number {
  const at = id * MAX_FIELDS + k;
  const rule = F_RULE[at];
  if (rule === RuleKind.GGTT) return EffectSpace.GGTT;
  if (rule === RuleKind.PPGTT) return EffectSpace.PPGTT;
  if (rule === RuleKind.CONTEXT) return EffectSpace.CONTEXT;
  const set = (dw[i + F_SEL_DWORD[at]] >>> F_SEL_BIT[at]) & 1;
  return (set === 1) === (F_SEL_GGTT[at] === 1) ? EffectSpace.GGTT : EffectSpace.PPGTT;
}

/** Write one record; returns n + 1. */
function put(
  out: Float64Array, n: number, kind: number, space: number, addr: number, bytes: number, access: number,
  field: number, lowBit: number, is64: number, value: number, valueAt: number,
): number {
  const o = n * EFFECT_STRIDE;
  out[o + E_KIND] = kind;
  out[o + E_SPACE] = space;
  out[o + E_ADDR] = addr;
  out[o + E_BYTES] = bytes;
  out[o + E_ACCESS] = access;
  out[o + E_FIELD] = field;
  out[o + E_LOWBIT] = lowBit;
  out[o + E_IS64] = is64;
  out[o + E_VALUE] = value;
  out[o + E_VALUE_AT] = valueAt;
  out[o + E_ORIGIN] = 0;
  out[o + E_PITCH] = 0;
  out[o + E_ROWS] = 0;
  out[o + E_CPP] = 0;
  return n + 1;
}

/** A memory effect through address field `k` of the row. */
function putField(out: Float64Array, n: number, id: number, k: number, dw: Uint32Array, i: number, kind: number, bytes: number, access: number, value: number, valueAt: number): number {
  const at = id * MAX_FIELDS + k;
  const d = F_DWORD[at], low = F_LOWBIT[at], is64 = F_IS64[at];
  return put(out, n, kind, spaceOf(id, k, dw, i), addressAt(dw, i + d, low, is64 === 1), bytes, access, d, low, is64, value, valueAt);
}

/**
 * A blit surface of XY_COLOR_BLT / XY_SRC_COPY_BLT: destination (its rectangle in dwords 2-3, BR13
 * pitch) or source (origin dword 6, pitch dword 7, the destination's size). Returns n (empty
 * rectangle: no effect) or n + 1.
 */
function putBlit(out: Float64Array, n: number, id: number, k: number, dw: Uint32Array, i: number, source: boolean, access: number): number {
  const dw0 = dw[i];
  const br13 = dw[i + 1];
  const cpp = BLT_CPP[(br13 >>> 24) & 3];
  const x1 = dw[i + 2] & 0xffff, y1 = dw[i + 2] >>> 16;
  const x2 = dw[i + 3] & 0xffff, y2 = dw[i + 3] >>> 16;
  if (x2 <= x1 || y2 <= y1) return n;
  let pitch: number, x0: number, y0: number;
  if (source) {
    pitch = ((dw[i + 7] & 0xffff) << 16) >> 16;
    if ((dw0 & (1 << 15)) !== 0) pitch *= 4;
    x0 = dw[i + 6] & 0xffff;
    y0 = dw[i + 6] >>> 16;
  } else {
    pitch = ((br13 & 0xffff) << 16) >> 16;
    if ((dw0 & (1 << 11)) !== 0) pitch *= 4;
    x0 = x1;
    y0 = y1;
  }
  n = putField(out, n, id, k, dw, i, EffectKind.BLIT, (x2 - x1) * cpp, access, V.MODIFY, 0);
  const o = (n - 1) * EFFECT_STRIDE;
  out[o + E_ORIGIN] = y0 * pitch + x0 * cpp;
  out[o + E_PITCH] = pitch;
  out[o + E_ROWS] = y2 - y1;
  out[o + E_CPP] = cpp;
  return n;
}

/**
 * Fill `out` with the effects of command `id` (a row of `COMMANDS`) whose `len` dwords start at
 * `dw[i]`. Returns the number of records (`EFFECT_STRIDE` doubles each, slots `E_*`), or an
 * `EffectsError` (< 0) when the command's effects cannot be described the device's way. Order is
 * the order the device performs them (reads before the writes they feed; a blit's destination
 * before its source).
 */
export function effectsOf(id: number, dw: Uint32Array, i: number, len: number, out: Float64Array): number {
  let n = 0;
  switch (ROW_KIND[id]) {
    case Row.NONE:
    case Row.CONTROL:
      return 0;
    case Row.UNTABULATED:
      return EffectsError.UNTABULATED;
    case Row.POINTERS: {
      const count = FIELD_COUNT[id];
      for (let k = 0; k < count; k++) {
        const at = id * MAX_FIELDS + k;
        const d = F_DWORD[at];
        const last = F_IS64[at];
        const stride = F_STRIDE[at];
        if (d + last >= len) {
          if (stride !== 0) continue; // a repeated field with no instance
          return EffectsError.SHORT;
        }
        if (F_RULE[at] === RuleKind.SELECT && F_SEL_DWORD[at] >= len) return EffectsError.SHORT;
        const en = F_EN_DWORD[at];
        // A base whose enable bit is clear is ignored by the hardware: no effect.
        if (en !== 0xff && (en >= len || ((dw[i + en] >>> F_EN_BIT[at]) & F_EN_MASK[at]) === 0)) continue;
        const step = stride !== 0 ? stride : len;
        for (let x = d; x + last < len; x += step) {
          if (n >= EFFECTS_CAPACITY) return EffectsError.UNDEFINED;
          n = put(out, n, EffectKind.POINTER, spaceOf(id, k, dw, i), addressAt(dw, i + x, F_LOWBIT[at], last === 1),
            F_BYTES[at], F_ACCESS[at], x, F_LOWBIT[at], last, V.NONE, 0);
        }
      }
      return n;
    }
    case Row.FIXED_MEM: {
      const count = FIELD_COUNT[id];
      for (let k = 0; k < count; k++) {
        const at = id * MAX_FIELDS + k;
        if (F_DWORD[at] + F_IS64[at] >= len || F_SEL_DWORD[at] >= len) return EffectsError.SHORT;
        if (F_VALUE[at] === V.IMMEDIATE && F_VALUE_AT[at] >= len) return EffectsError.SHORT;
        n = putField(out, n, id, k, dw, i, EffectKind.MEM, F_BYTES[at], F_ACCESS[at], F_VALUE[at], F_VALUE_AT[at]);
      }
      return n;
    }
    case Row.STORE_DATA_IMM: {
      // Dwords 3.. are the data; Store Qword (bit 21) needs both halves.
      if (len < 4) return EffectsError.SHORT;
      if ((dw[i] & (1 << 21)) !== 0 && len < 5) return EffectsError.SHORT;
      return putField(out, 0, id, 0, dw, i, EffectKind.MEM, 4 * (len - 3), W, V.IMMEDIATE, 3);
    }
    case Row.STORE_DATA_INDEX: {
      // Dword 1 bits 11:2: byte offset in the status page (bit 21: the per-process one); data from dword 2.
      if (len < 3) return EffectsError.SHORT;
      const space = (dw[i] & (1 << 21)) !== 0 ? EffectSpace.PPHWSP : EffectSpace.HWSP;
      return put(out, 0, EffectKind.STATUS_PAGE, space, dw[i + 1] & 0xffc, 4 * (len - 2), W, -1, 0, 0, V.IMMEDIATE, 2);
    }
    case Row.LRI: {
      // (register, value) pairs; Byte Write Disables, bits 11:8: a set bit keeps that byte.
      if (len < 3 || (len & 1) === 0) return EffectsError.SHORT;
      const disables = (dw[i] >>> 8) & 0xf;
      let enables = 0;
      for (let b = 0; b < 4; b++) if ((disables & (1 << b)) === 0) enables |= 0xff << (8 * b);
      for (let k = 1; k + 1 < len; k += 2) {
        if (n >= EFFECTS_CAPACITY) return EffectsError.UNDEFINED;
        n = put(out, n, EffectKind.REG_WRITE, 0, dw[i + k] & REG_MASK, 4, W, -1, 0, 0, V.IMMEDIATE, k + 1);
        out[(n - 1) * EFFECT_STRIDE + E_MASK] = enables >>> 0;
      }
      return n;
    }
    case Row.SRM: {
      if (len < 4) return EffectsError.SHORT;
      const reg = dw[i + 1] & REG_MASK;
      n = put(out, 0, EffectKind.REG_READ, 0, reg, 4, R, -1, 0, 0, V.NONE, 0);
      return putField(out, n, id, 0, dw, i, EffectKind.MEM, 4, W, V.REGISTER, reg);
    }
    case Row.LRM: {
      if (len < 4) return EffectsError.SHORT;
      n = putField(out, 0, id, 0, dw, i, EffectKind.MEM, 4, R, V.NONE, 0);
      n = put(out, n, EffectKind.REG_WRITE, 0, dw[i + 1] & REG_MASK, 4, W, -1, 0, 0, V.MEMORY, 0);
      out[(n - 1) * EFFECT_STRIDE + E_MASK] = 0xffffffff;
      return n;
    }
    case Row.LRR: {
      if (len < 3) return EffectsError.SHORT;
      const src = dw[i + 1] & REG_MASK;
      n = put(out, 0, EffectKind.REG_READ, 0, src, 4, R, -1, 0, 0, V.NONE, 0);
      n = put(out, n, EffectKind.REG_WRITE, 0, dw[i + 2] & REG_MASK, 4, W, -1, 0, 0, V.REGISTER, src);
      out[(n - 1) * EFFECT_STRIDE + E_MASK] = 0xffffffff;
      return n;
    }
    case Row.FLUSH_DW: {
      // Post-Sync Operation, dword 0 bits 15:14: 1 write the immediate data (a dword, or a qword
      // when dword 4 is there), 2 reserved, 3 write the timestamp (a qword).
      const dw0 = dw[i];
      const op = (dw0 >>> 14) & 3;
      if (op === 0) return 0;
      if (op === 2) return EffectsError.UNDEFINED;
      if (len < 4) return EffectsError.SHORT;
      const bytes = op === 1 && len < 5 ? 4 : 8;
      const value = op === 1 ? V.IMMEDIATE : V.TIMESTAMP;
      if ((dw0 & (1 << 21)) !== 0) {
        // Store Data Index: the address field is a byte offset in the per-process status page.
        return put(out, 0, EffectKind.STATUS_PAGE, EffectSpace.PPHWSP, addressAt(dw, i + 1, 3, true), bytes, W, 1, 3, 1, value, 3);
      }
      return putField(out, 0, id, 0, dw, i, EffectKind.MEM, bytes, W, value, 3);
    }
    case Row.PIPE_CONTROL: {
      if (len < 2) return EffectsError.SHORT;
      const flags = dw[i + 1];
      const op = (flags >>> 14) & 3;
      if ((flags & (1 << 23)) !== 0) {
        // LRI post-sync: the Address field (dword 2, bits 22:2) names a register, Immediate Data
        // (dword 4) is written to it. With a post-sync operation too: undefined (module comment).
        if (op !== 0) return EffectsError.UNDEFINED;
        if (len < 5) return EffectsError.SHORT;
        n = put(out, 0, EffectKind.REG_WRITE, 0, dw[i + 2] & REG_MASK, 4, W, -1, 0, 0, V.IMMEDIATE, 4);
        out[E_MASK] = 0xffffffff;
        return n;
      }
      if (op === 0) return 0;
      // Every post-sync operation writes a qword (immediate data dwords 4-5, the PS depth count,
      // or the timestamp).
      if (len < 6) return EffectsError.SHORT;
      const value = op === 1 ? V.IMMEDIATE : op === 2 ? V.DEPTH_COUNT : V.TIMESTAMP;
      if ((flags & (1 << 21)) !== 0) {
        return put(out, 0, EffectKind.STATUS_PAGE, EffectSpace.PPHWSP, addressAt(dw, i + 2, 2, true), 8, W, 2, 2, 1, value, 4);
      }
      return putField(out, 0, id, 0, dw, i, EffectKind.MEM, 8, W, value, 4);
    }
    case Row.ATOMIC: {
      // Data Size, dword 0 bits 20:19: 0 dword, 1 qword, 2 octword, 3 reserved.
      if (len < 3) return EffectsError.SHORT;
      const size = (dw[i] >>> 19) & 3;
      if (size === 3) return EffectsError.UNDEFINED;
      return putField(out, 0, id, 0, dw, i, EffectKind.MEM, 4 << size, RW, V.MODIFY, 0);
    }
    case Row.DISPLAY_FLIP: {
      // GVT-g cmd_handler_mi_display_flip: 3 dwords (CMD_LEN(1)), 4 for a stereo 3D flip; its
      // skl_decode_mi_display_flip for the fields. Flip Type (dword 2 bits 1:0): 0 synchronous, 1
      // asynchronous, 2 stereo 3D, 3 reserved. GVT-g takes 2 and 3 as synchronous flips and ignores
      // a stereo flip's dword 3 (a second surface it never checks): here both have no described
      // effect (Skylake's planes have no stereo 3D; 3 is reserved).
      if (len < 3) return EffectsError.SHORT;
      if (len !== 3) return EffectsError.LENGTH;
      const type = dw[i + 2] & 3;
      if (type > 1) return EffectsError.UNDEFINED;
      const code = FLIP_PLANE_SELECT[(dw[i] >>> 8) & 0x1f];
      if (code < 0) return EffectsError.UNDEFINED;
      n = putField(out, 0, id, 0, dw, i, EffectKind.FLIP, FLIP_SURFACE_BYTES, R, V.NONE, 0);
      out[E_PIPE] = code >>> 2;
      out[E_PLANE] = code & 3;
      out[E_FLIP_STRIDE] = (dw[i + 1] >>> 6) & 0x3ff;
      out[E_FLIP_TILING] = dw[i + 1] & 7;
      out[E_FLIP_ASYNC] = type;
      return n;
    }
    case Row.COLOR_BLT:
      if (len < 7) return EffectsError.SHORT;
      return putBlit(out, 0, id, 0, dw, i, false, RW);
    case Row.SRC_COPY_BLT:
      if (len < 10) return EffectsError.SHORT;
      n = putBlit(out, 0, id, 0, dw, i, false, RW);
      return putBlit(out, n, id, 1, dw, i, true, R);
  }
  return EffectsError.UNDEFINED;
}

/**
 * Lowest and highest byte offset (from the base address in `E_ADDR`) a BLIT record touches:
 * `[lo, hi)` written to `range[0]`, `range[1]`.
 */
export function blitRange(out: Float64Array, k: number, range: Float64Array): void {
  const o = k * EFFECT_STRIDE;
  const origin = out[o + E_ORIGIN];
  const span = (out[o + E_ROWS] - 1) * out[o + E_PITCH];
  range[0] = origin + Math.min(0, span);
  range[1] = origin + Math.max(0, span) + out[o + E_BYTES];
}

/**
 * Work of effect `k` in bytes: what the engine moves for it, whatever the addresses (a blit's
 * rows × row bytes, pitch 0 included; a memory access's bytes; 0 for registers and pointers).
 * The auditor's per-command and per-workload budgets and the device's blit time use this number.
 */
export function effectWork(out: Float64Array, k: number): number {
  const o = k * EFFECT_STRIDE;
  const kind = out[o + E_KIND];
  if (kind === EffectKind.BLIT) return out[o + E_ROWS] * out[o + E_BYTES];
  if (kind === EffectKind.MEM || kind === EffectKind.STATUS_PAGE) return out[o + E_BYTES];
  return 0;
}

/** A plain-object view of one record (tests, CLI, messages; allocates). */
export interface EffectRecord {
  kind: 'mem' | 'blit' | 'status-page' | 'reg-write' | 'reg-read' | 'pointer' | 'flip';
  space: 'ggtt' | 'ppgtt' | 'context' | 'pphwsp' | 'hwsp';
  addr: number;
  bytes: number;
  read: boolean;
  write: boolean;
  field: number;
  value: number;
  valueAt: number;
  origin: number;
  pitch: number;
  rows: number;
  /** A flip's plane and fields (kind 'flip' only). */
  flip?: { pipe: number; plane: number; stride: number; tiling: number; async: boolean };
}

const KIND_NAMES = ['', 'mem', 'blit', 'status-page', 'reg-write', 'reg-read', 'pointer', 'flip'] as const;
const SPACE_NAMES = ['ggtt', 'ppgtt', 'context', 'pphwsp', 'hwsp'] as const;

/** The effects of one command as plain objects, or the `EffectsError` code (allocates). */
export function describeEffects(id: number, dw: Uint32Array, i: number, len: number): EffectRecord[] | number {
  const out = newEffectBuffer();
  const n = effectsOf(id, dw, i, len, out);
  if (n < 0) return n;
  const list: EffectRecord[] = [];
  for (let k = 0; k < n; k++) {
    const o = k * EFFECT_STRIDE;
    const kind = KIND_NAMES[out[o + E_KIND]] as EffectRecord['kind'];
    const flip = kind === 'flip';
    list.push({
      kind, space: SPACE_NAMES[out[o + E_SPACE]], addr: out[o + E_ADDR], bytes: out[o + E_BYTES],
      read: (out[o + E_ACCESS] & Access.READ) !== 0, write: (out[o + E_ACCESS] & Access.WRITE) !== 0,
      field: out[o + E_FIELD], value: out[o + E_VALUE], valueAt: out[o + E_VALUE_AT],
      origin: kind === 'blit' ? out[o + E_ORIGIN] : 0, pitch: flip ? 0 : out[o + E_PITCH], rows: flip ? 0 : out[o + E_ROWS],
      ...(flip ? {
        flip: {
          pipe: out[o + E_PIPE], plane: out[o + E_PLANE], stride: out[o + E_FLIP_STRIDE], tiling: out[o + E_FLIP_TILING],
          async: out[o + E_FLIP_ASYNC] === 1,
        },
      } : {}),
    });
  }
  return list;
}
