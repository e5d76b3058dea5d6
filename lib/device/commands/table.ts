/**
 * The Gen9 command table: one row per command, the single source of truth for decoding (this
 * room), encoding, execution and the mediator's command auditor.
 *
 * Rows come from Mesa's genxml (`gen9.xml`, every `<instruction>`, see `gen9-genxml.ts`), united
 * with every entry of GVT-g's command table (`gvt/cmd_parser.c` `cmd_info[]`, Linux v7.0, see
 * `gvt-cmd-info.ts`): the blitter `XY_*` commands, `MI_UPDATE_GTT` and the VEBOX commands are
 * written out below, and `mergeGvt` then adds every other GVT-g entry genxml lacks (the
 * `3DSTATE_DX9_*` family, `MEDIA_POOL_STATE`, `MI_SET_APPID`, ...), every engine GVT-g parses a
 * command on that genxml does not give it, and GVT-g's required lengths (`F_LEN_VAR_FIXED`,
 * `validLength`). Each name, engine or length rule in which the two disagree is listed, with the
 * side the table follows and why, in `gvt-differences.ts`; an unlisted one fails the build.
 * Facts about graphics-address and register dwords are layered on by name below.
 *
 * Header layout (bits of dword 0), per GVT-g's `decode_info_*` and genxml:
 * - 31:29 command type: 0 MI, 2 2D (blitter), 3 3D / media / GPGPU / MFX / HCP / VEBOX;
 * - MI: opcode 28:23; 2D: opcode 28:22;
 * - type 3: pipeline (subtype) 28:27, opcode 26:24, sub-opcode 23:16 (video commands split
 *   23:16 further, e.g. MFX sub-opcode A 23:21 and B 20:16, HCP opcode 26:23).
 * Every identifying field lies in bits 31:16, so the dispatch key is `dw0 >>> 16`.
 *
 * Length: fixed, or `(dw0 & lengthMask) + bias` (bias 2 for nearly all; 8-bit field for most, 10
 * bits for MI_STORE_DATA_IMM / MI_UPDATE_GTT / MI_CLFLUSH, 6 bits for MI_FLUSH_DW, 12 bits for
 * video commands, 16 bits for MEDIA_*). Single-dword commands have no length field.
 *
 * The table checks itself when built: a name twice, a malformed row, or two rows whose headers
 * overlap on one engine throw `TableError` (GVT-g refuses to load on a duplicated command:
 * `init_cmd_table`).
 */
import createDebug from 'debug';
import { RangeArgError, TableError } from '../../errors.js';
import { ENGINE_CLASS_COUNT, EngineMask, engineClassName } from './engines.js';
import { GEN9_GENXML_INSTRUCTIONS, type GenxmlEngine } from './gen9-genxml.js';
import { GVT_CMD_INFO, gvtEngines, gvtHeader, gvtLengthRule } from './gvt-cmd-info.js';
import { findDifference, tableNameOfGvt } from './gvt-differences.js';

/** Command type, bits 31:29 of dword 0. */
export const CommandType = {
  /** Memory interface (command streamer) commands, every engine. */
  MI: 0,
  /** 2D (blitter) commands, BCS only. */
  BLT: 2,
  /** 3D, media, GPGPU, and on the video rings MFX/HCP/HUC/VDENC/SFC/VEBOX. */
  GFX: 3,
} as const;

/** Flag bits of a command (`CommandInfo.flags`). */
export const CommandFlag = {
  /** MI_BATCH_BUFFER_START: jumps to a (first- or second-level) batch buffer. */
  BATCH_START: 1 << 0,
  /** MI_BATCH_BUFFER_END: returns from the batch. */
  BATCH_END: 1 << 1,
  /** MI_CONDITIONAL_BATCH_BUFFER_END: may end the batch depending on memory. */
  CONDITIONAL_BATCH_END: 1 << 2,
  /** Carries at least one graphics address (see `addressDwords`). */
  HAS_ADDRESS: 1 << 3,
  /** Addresses the hardware status page by index, not by graphics address (MI_STORE_DATA_INDEX). */
  HWSP_INDEX: 1 << 4,
  /** Body is (register offset, value) pairs (MI_LOAD_REGISTER_IMM). */
  REGISTER_PAIRS: 1 << 5,
  /** Reads an MMIO register (offsets in `registerDwords`). */
  REGISTER_READ: 1 << 6,
  /** Writes an MMIO register. */
  REGISTER_WRITE: 1 << 7,
  /** Raises the engine's user interrupt. */
  USER_INTERRUPT: 1 << 8,
  /** Its address is used only when the post-sync operation writes (MI_FLUSH_DW, PIPE_CONTROL). */
  POST_SYNC: 1 << 9,
  /** Writes memory through a graphics address. */
  MEMORY_WRITE: 1 << 10,
  /** Touches display state (flips, scan-line and vblank waits); GVT-g emulates these. */
  DISPLAY: 1 << 11,
  /** Writes GGTT entries (MI_UPDATE_GTT). */
  GGTT_UPDATE: 1 << 12,
  /** GVT-g's parser refuses the command outright (`gvt/cmd_parser.c` handlers). */
  GVT_REFUSES: 1 << 13,
} as const;

/** How the address space of an address field is chosen. */
export type AddressSpaceRule =
  | 'ggtt'
  | 'ppgtt'
  /** The context's address space (PPGTT for execlist contexts that use one). */
  | 'context'
  /** A header bit selects it: set means GGTT when `ggttWhenSet`, else PPGTT. */
  | { readonly dword: number; readonly bit: number; readonly ggttWhenSet: boolean };

/** A graphics address inside a command. */
export interface AddressField {
  /** Field name as genxml (or the PRM) spells it. */
  readonly name: string;
  /** Index of the dword holding the address (its low half when 64-bit). */
  readonly dword: number;
  /** The address spans dwords `dword` and `dword + 1`. */
  readonly is64: boolean;
  /** Lowest address bit in the low dword; bits below are flags or must-be-zero. */
  readonly lowBit: number;
  /** Address width in bits (48 for Gen9 64-bit fields, 32 for legacy fields). */
  readonly bits: number;
  /** Which address space translates it. */
  readonly space: AddressSpaceRule;
  /** The field repeats every `repeatStride` dwords to the end of the command. */
  readonly repeatStride?: number;
  /** Used only when the post-sync operation writes. */
  readonly postSyncOnly?: boolean;
  /**
   * The field is used only when this bit is set (STATE_BASE_ADDRESS "... Base Address Modify
   * Enable", bit 0 of the field's low dword; the pool commands' "Pool Enable", dword 1 bit 11), or
   * only when the `bits`-wide field at `bit` is non-zero (a constant buffer's Read Length): else
   * the hardware ignores the address, so it is no effect.
   */
  readonly enable?: { readonly dword: number; readonly bit: number; readonly bits?: number };
}

/** Variable length: `(dw0 & mask) + bias` dwords. */
export interface LengthField {
  readonly mask: number;
  readonly bias: number;
}

/** One row of the command table. */
export interface CommandInfo {
  /** Index in `COMMANDS` (the decoder's `id`). */
  readonly id: number;
  /** Hardware name, as Mesa genxml (or GVT-g for the rows it adds) spells it. */
  readonly name: string;
  /** Command type (bits 31:29). */
  readonly type: number;
  /** Header value of the identifying fields. */
  readonly match: number;
  /** Mask of the identifying fields (always within bits 31:16). */
  readonly mask: number;
  /** Engines it exists on (`EngineMask` bits). */
  readonly engines: number;
  /** Fixed dword count, or the length field. */
  readonly length: number | LengthField;
  /** genxml's `length` attribute (the usual total), -1 when variable or unknown. */
  readonly nominalLength: number;
  /**
   * The only total length the auditor admits, 0 for any the rule gives: GVT-g's `F_LEN_VAR_FIXED`
   * `valid_len` (a variable form GVT-g refuses with -EFAULT at any other length,
   * `gvt_check_valid_cmd_length`), or GVT-g's constant where genxml decodes a field
   * (`gvt-differences.ts`, wins 'both'). Decoding ignores it: the hardware reads the field.
   */
  readonly validLength: number;
  /** `CommandFlag` bits. */
  readonly flags: number;
  /** Graphics addresses; `[]` when it has none; undefined when not tabulated (see HAS_ADDRESS). */
  readonly addressDwords: readonly AddressField[] | undefined;
  /** Dwords holding MMIO register offsets (bits 22:2), when known. */
  readonly registerDwords: readonly number[] | undefined;
  /** Where the row comes from. */
  readonly source: 'genxml' | 'gvt';
}

/** A row before ids are assigned (what `buildCommandTable` takes). */
export type CommandDef = Omit<CommandInfo, 'id'>;

const ENGINE_OF: Record<GenxmlEngine, number> = {
  render: EngineMask.RCS,
  blitter: EngineMask.BCS,
  // genxml's "video" is the VDBOX class; VEBOX commands are not in gen9.xml.
  video: EngineMask.VCS,
  'render|blitter': EngineMask.RCS | EngineMask.BCS,
  all: EngineMask.ALL,
};

/**
 * Engines that differ from genxml's `engine` attribute, with the reason.
 * - MI_FLUSH_DW: genxml says video, but it is the flush of every non-render ring (the PRM's
 *   BCS/VCS/VECS command lists; i915 emits it on BCS, VCS and VECS; RCS uses PIPE_CONTROL).
 * - SFC_*: the scaler sits behind both the VDBOX and the VEBOX (PRM "SFC" chapter), so the
 *   commands exist on VCS and VECS.
 */
const ENGINE_OVERRIDES: Record<string, number> = {
  MI_FLUSH_DW: EngineMask.BCS | EngineMask.VCS | EngineMask.VECS,
};
const SFC_ENGINES = EngineMask.VCS | EngineMask.VECS;

const MI_MASK = 0xff800000;
const BLT_MASK = 0xffc00000;
const GFX_MASK = 0xffff0000;

/** 2D opcodes (28:22) of the XY_* commands GVT-g lists (`OP_XY_*`, `cmd_info[]`), all BCS, 8-bit length. */
const XY_COMMANDS: readonly (readonly [string, number, number])[] = [
  // [name, opcode, nominal Gen8+ length or -1]
  ['XY_SETUP_BLT', 0x01, 10],
  ['XY_SETUP_CLIP_BLT', 0x03, 3],
  ['XY_SETUP_MONO_PATTERN_SL_BLT', 0x11, -1],
  ['XY_PIXEL_BLT', 0x24, -1],
  ['XY_SCANLINES_BLT', 0x25, -1],
  ['XY_TEXT_BLT', 0x26, -1],
  ['XY_TEXT_IMMEDIATE_BLT', 0x31, -1],
  ['XY_COLOR_BLT', 0x50, 7],
  ['XY_PAT_BLT', 0x51, -1],
  ['XY_MONO_PAT_BLT', 0x52, -1],
  ['XY_SRC_COPY_BLT', 0x53, 10],
  ['XY_MONO_SRC_COPY_BLT', 0x54, -1],
  ['XY_FULL_BLT', 0x55, -1],
  ['XY_FULL_MONO_SRC_BLT', 0x56, -1],
  ['XY_FULL_MONO_PATTERN_BLT', 0x57, -1],
  ['XY_FULL_MONO_PATTERN_MONO_SRC_BLT', 0x58, -1],
  ['XY_MONO_PAT_FIXED_BLT', 0x59, -1],
  ['XY_MONO_SRC_COPY_IMMEDIATE_BLT', 0x71, -1],
  ['XY_PAT_BLT_IMMEDIATE', 0x72, -1],
  ['XY_SRC_COPY_CHROMA_BLT', 0x73, -1],
  ['XY_FULL_IMMEDIATE_PATTERN_BLT', 0x74, -1],
  ['XY_FULL_MONO_SRC_IMMEDIATE_PATTERN_BLT', 0x75, -1],
  ['XY_PAT_CHROMA_BLT', 0x76, -1],
  ['XY_PAT_CHROMA_BLT_IMMEDIATE', 0x77, -1],
];
/** XY commands that take no graphics address (they draw into the XY_SETUP_BLT destination). */
const XY_WITHOUT_ADDRESS = new Set(['XY_SETUP_CLIP_BLT', 'XY_PIXEL_BLT', 'XY_SCANLINES_BLT', 'XY_TEXT_IMMEDIATE_BLT']);

/**
 * VEBOX commands of GVT-g's table (`OP_VEB(2, 4, sub_a, sub_b)`, VECS, 12-bit length). On VCS the
 * same headers are MFX VP8 commands.
 */
const VEBOX_COMMANDS: readonly (readonly [string, number])[] = [
  ['VEBOX_SURFACE_STATE', 0],
  ['VEBOX_STATE', 2],
  ['VEB_DI_IECP', 3],
];

// --- address-field helpers (the data below reads like the genxml field list) -----------------

function sel(dword: number, bit: number, ggttWhenSet: boolean): AddressSpaceRule {
  return { dword, bit, ggttWhenSet };
}
function a64(name: string, dword: number, lowBit: number, space: AddressSpaceRule, extra?: Partial<AddressField>): AddressField {
  return { name, dword, is64: true, lowBit, bits: 48, space, ...extra };
}
function a32(name: string, dword: number, lowBit: number, space: AddressSpaceRule): AddressField {
  return { name, dword, is64: false, lowBit, bits: 32, space };
}

const F = CommandFlag;
const GGTT_BIT_22 = sel(0, 22, true);
/** The pool commands' enable bit (dword 1 bit 11). */
const POOL_ENABLE = { dword: 1, bit: 11 } as const;

interface Annotation {
  flags?: number;
  addresses?: readonly AddressField[];
  registers?: readonly number[];
}

/**
 * Per-command facts layered on the rows. Dword indices and bit positions come from the genxml
 * field `start`/`end` attributes (dword = start / 32, bit = start % 32); refusals from GVT-g's
 * handlers (GVT-FACTS "Commands").
 */
const ANNOTATIONS: Record<string, Annotation> = {
  MI_NOOP: { addresses: [] },
  MI_ARB_CHECK: { addresses: [] },
  MI_ARB_ON_OFF: { addresses: [] },
  MI_USER_INTERRUPT: { flags: F.USER_INTERRUPT, addresses: [] },
  MI_BATCH_BUFFER_END: { flags: F.BATCH_END, addresses: [] },
  MI_BATCH_BUFFER_START: {
    // Address Space Indicator (bit 8): 1 = PPGTT. Second Level Batch Buffer: bit 22.
    flags: F.BATCH_START,
    addresses: [a64('Batch Buffer Start Address', 1, 2, sel(0, 8, false))],
  },
  MI_CONDITIONAL_BATCH_BUFFER_END: {
    flags: F.CONDITIONAL_BATCH_END | F.GVT_REFUSES,
    addresses: [a64('Compare Address', 2, 3, GGTT_BIT_22)],
  },
  MI_STORE_DATA_IMM: {
    flags: F.MEMORY_WRITE,
    addresses: [a64('Address', 1, 2, GGTT_BIT_22)],
  },
  MI_STORE_DATA_INDEX: { flags: F.HWSP_INDEX | F.MEMORY_WRITE | F.GVT_REFUSES, addresses: [] },
  MI_STORE_REGISTER_MEM: {
    flags: F.REGISTER_READ | F.MEMORY_WRITE,
    addresses: [a64('Memory Address', 2, 2, GGTT_BIT_22)],
    registers: [1],
  },
  MI_LOAD_REGISTER_MEM: {
    flags: F.REGISTER_WRITE,
    addresses: [a64('Memory Address', 2, 2, GGTT_BIT_22)],
    registers: [1],
  },
  MI_LOAD_REGISTER_REG: { flags: F.REGISTER_READ | F.REGISTER_WRITE, addresses: [], registers: [1, 2] },
  MI_LOAD_REGISTER_IMM: { flags: F.REGISTER_PAIRS | F.REGISTER_WRITE, addresses: [] },
  MI_FLUSH_DW: {
    // Destination Address Type: dword 1 bit 2, 1 = GGTT; the address is qword aligned (bit 3 up).
    flags: F.POST_SYNC | F.MEMORY_WRITE,
    addresses: [a64('Address', 1, 3, sel(1, 2, true), { postSyncOnly: true })],
  },
  MI_COPY_MEM_MEM: {
    flags: F.MEMORY_WRITE | F.GVT_REFUSES,
    addresses: [
      a64('Destination Memory Address', 1, 2, sel(0, 21, true)),
      a64('Source Memory Address', 3, 2, sel(0, 22, true)),
    ],
  },
  MI_REPORT_PERF_COUNT: {
    flags: F.MEMORY_WRITE | F.GVT_REFUSES,
    addresses: [a64('Memory Address', 1, 6, sel(1, 0, true))],
  },
  MI_SEMAPHORE_WAIT: { flags: F.GVT_REFUSES, addresses: [a64('Semaphore Address', 2, 2, GGTT_BIT_22)] },
  MI_SEMAPHORE_SIGNAL: { addresses: [] },
  MI_ATOMIC: { flags: F.MEMORY_WRITE, addresses: [a64('Memory Address', 1, 2, GGTT_BIT_22)] },
  MI_CLFLUSH: { flags: F.GVT_REFUSES, addresses: [a64('Page Base Address', 1, 12, GGTT_BIT_22)] },
  MI_UPDATE_GTT: {
    // Gen8+: dword 1 is the GGTT offset of the first entry written, the PTEs follow.
    flags: F.GGTT_UPDATE | F.GVT_REFUSES,
    addresses: [a32('Entry Address', 1, 12, 'ggtt')],
  },
  MI_RS_STORE_DATA_IMM: { flags: F.MEMORY_WRITE, addresses: [a64('Destination Address', 1, 2, 'context')] },
  MI_LOAD_URB_MEM: { addresses: [a64('Memory Address', 2, 6, 'context')] },
  MI_STORE_URB_MEM: { flags: F.MEMORY_WRITE, addresses: [a64('Memory Address', 2, 6, 'context')] },
  MI_DISPLAY_FLIP: { flags: F.DISPLAY, addresses: [a32('Display Buffer Base Address', 2, 12, 'ggtt')] },
  MI_WAIT_FOR_EVENT: { flags: F.DISPLAY, addresses: [] },
  MI_LOAD_SCAN_LINES_INCL: { flags: F.DISPLAY, addresses: [] },
  MI_LOAD_SCAN_LINES_EXCL: { flags: F.DISPLAY, addresses: [] },
  MI_SET_CONTEXT: { addresses: [a32('Logical Context Address', 1, 12, 'ggtt')] },
  MI_MATH: { addresses: [] },
  MI_PREDICATE: { addresses: [] },
  MI_SET_PREDICATE: { addresses: [] },
  MI_REPORT_HEAD: { addresses: [] },
  MI_SUSPEND_FLUSH: { addresses: [] },
  MI_TOPOLOGY_FILTER: { addresses: [] },
  MI_URB_ATOMIC_ALLOC: { addresses: [] },
  MI_RS_CONTEXT: { addresses: [] },
  MI_RS_CONTROL: { addresses: [] },
  MI_FORCE_WAKEUP: { addresses: [] },
  // GVT-g-only MI rows (mergeGvt): no operand is an address (GVT-g's address bitmap is 0).
  MI_FLUSH: { addresses: [] },
  MI_SET_APPID: { addresses: [] },
  MI_SEMAPHORE_MBOX: { addresses: [] },
  MI_URB_CLEAR: { addresses: [] },
  // GVT-g-only video rows: quantizer matrices, no address.
  MFX_AVC_QM_STATE: { addresses: [] },
  MFX_MPEG2_QM_STATE: { addresses: [] },

  PIPE_CONTROL: {
    // Post Sync Operation: dword 1 bits 15:14; Destination Address Type: dword 1 bit 24 (1 = GGTT).
    flags: F.POST_SYNC | F.MEMORY_WRITE,
    addresses: [a64('Address', 2, 2, sel(1, 24, true), { postSyncOnly: true })],
  },
  STATE_BASE_ADDRESS: {
    // Each base is loaded only when its Modify Enable (bit 0 of its low dword) is set (genxml
    // gen9 STATE_BASE_ADDRESS; Mesa's batch decoder updates a base only then).
    addresses: [
      a64('General State Base Address', 1, 12, 'context', { enable: { dword: 1, bit: 0 } }),
      a64('Surface State Base Address', 4, 12, 'context', { enable: { dword: 4, bit: 0 } }),
      a64('Dynamic State Base Address', 6, 12, 'context', { enable: { dword: 6, bit: 0 } }),
      a64('Indirect Object Base Address', 8, 12, 'context', { enable: { dword: 8, bit: 0 } }),
      a64('Instruction Base Address', 10, 12, 'context', { enable: { dword: 10, bit: 0 } }),
      a64('Bindless Surface State Base Address', 16, 12, 'context', { enable: { dword: 16, bit: 0 } }),
    ],
  },
  STATE_PREFETCH: { addresses: [a32('Prefetch Pointer', 1, 6, 'context')] },
  '3DSTATE_DEPTH_BUFFER': { addresses: [a64('Surface Base Address', 2, 0, 'context')] },
  '3DSTATE_STENCIL_BUFFER': { addresses: [a64('Surface Base Address', 2, 0, 'context')] },
  '3DSTATE_HIER_DEPTH_BUFFER': { addresses: [a64('Surface Base Address', 2, 0, 'context')] },
  '3DSTATE_INDEX_BUFFER': { addresses: [a64('Buffer Starting Address', 2, 0, 'context')] },
  '3DSTATE_VERTEX_BUFFERS': {
    // VERTEX_BUFFER_STATE is 4 dwords; its Buffer Starting Address is its dwords 1-2.
    addresses: [a64('Buffer Starting Address', 2, 0, 'context', { repeatStride: 4 })],
  },
  '3DSTATE_SO_BUFFER': {
    flags: F.MEMORY_WRITE,
    addresses: [
      a64('Surface Base Address', 2, 2, 'context'),
      a64('Stream Output Buffer Offset Address', 5, 2, 'context'),
    ],
  },
  // Binding Table / Gather Pool Enable: dword 1 bit 11 (genxml gen9 start=43); a disabled pool's base is unused.
  '3DSTATE_BINDING_TABLE_POOL_ALLOC': { addresses: [a64('Binding Table Pool Base Address', 1, 12, 'context', { enable: POOL_ENABLE })] },
  '3DSTATE_GATHER_POOL_ALLOC': { addresses: [a64('Gather Pool Base Address', 1, 12, 'context', { enable: POOL_ENABLE })] },
  // GVT-g's row (ADDR_FIX_1(1)); laid out as its two siblings above: a 4 KiB-aligned 64-bit base in dwords 1-2,
  // its enable bit where theirs is (an assumption: genxml lacks the command).
  '3DSTATE_DX9_CONSTANT_BUFFER_POOL_ALLOC': {
    addresses: [a64('DX9 Constant Buffer Pool Base Address', 1, 12, 'context', { enable: POOL_ENABLE })],
  },
  '3DSTATE_RS_CONSTANT_POINTER': { addresses: [a64('Global Constant Buffer Address', 2, 6, 'context')] },
  GPGPU_CSR_BASE_ADDRESS: { addresses: [a64('GPGPU CSR Base Address', 1, 12, 'context')] },
  XY_COLOR_BLT: { flags: F.MEMORY_WRITE, addresses: [a64('Destination Base Address', 4, 0, 'context')] },
  XY_SRC_COPY_BLT: {
    flags: F.MEMORY_WRITE,
    addresses: [
      a64('Destination Base Address', 4, 0, 'context'),
      a64('Source Base Address', 8, 0, 'context'),
    ],
  },
};

// 3DSTATE_CONSTANT_* bodies hold four constant buffers at dwords 3, 5, 7, 9 (3DSTATE_CONSTANT_BODY).
for (const stage of ['VS', 'HS', 'DS', 'GS', 'PS']) {
  ANNOTATIONS[`3DSTATE_CONSTANT_${stage}`] = {
    // Buffer k is read only when its Read Length (dword 1 + k/2, bits 15:0 or 31:16) is non-zero.
    addresses: [3, 5, 7, 9].map((dw, i) => a64(`Buffer ${i}`, dw, 5, 'context', { enable: { dword: 1 + (i >> 1), bit: 16 * (i & 1), bits: 16 } })),
  };
}

/** genxml instructions with address-typed fields whose dwords are not tabulated yet. */
const UNTABULATED_ADDRESSES = new Set([
  'MFX_PIPE_BUF_ADDR_STATE', 'MFX_IND_OBJ_BASE_ADDR_STATE', 'MFX_BSP_BUF_BASE_ADDR_STATE',
  'MFX_AVC_DIRECTMODE_STATE', 'MFX_VC1_DIRECTMODE_STATE', 'MFX_VP8_BSP_BUF_BASE_ADDR_STATE',
  'MFX_VP8_PIC_STATE', 'MFX_DBK_OBJECT', 'HCP_PIPE_BUF_ADDR_STATE', 'HCP_IND_OBJ_BASE_ADDR_STATE',
  'HCP_PAK_INSERT_OBJECT', 'HUC_DMEM_STATE', 'HUC_IND_OBJ_BASE_ADDR_STATE', 'HUC_VIRTUAL_ADDR_STATE',
  'HUC_STREAM_OBJECT', 'VDENC_PIPE_BUF_ADDR_STATE', 'SFC_STATE',
  'VEBOX_STATE', 'VEBOX_SURFACE_STATE', 'VEB_DI_IECP',
  // GVT-g-only rows whose layout our sources do not give. GVT-g's address bitmap is no evidence
  // either way (cmd_parser.c never reads it; MFX_PIPE_BUF_ADDR_STATE has bitmap 0 and carries
  // dozens of addresses), so they are treated as carrying addresses: ppgtt-only. OP_SWTESS_BASE_ADDRESS
  // is a pre-Gen8 base-address command (GVT-g marks dwords 1 and 2).
  'OP_SWTESS_BASE_ADDRESS', 'OP_2_0_0_5', 'MFX_2_6_0_0', 'MFX_2_6_0_8', 'MFX_2_6_0_9',
]);

function typeOf(match: number): number {
  return match >>> 29;
}

function lengthOf(lengthMask: number, bias: number, nominal: number): number | LengthField {
  return lengthMask === 0 ? nominal : { mask: lengthMask, bias };
}

/** The default rows: genxml, then GVT-g's additions, with annotations applied. */
function defaultDefs(): CommandDef[] {
  const defs: CommandDef[] = [];
  for (const [name, match, mask, engine, lengthMask, bias, nominal] of GEN9_GENXML_INSTRUCTIONS) {
    const engines = ENGINE_OVERRIDES[name] ?? (name.startsWith('SFC_') ? SFC_ENGINES : ENGINE_OF[engine]);
    defs.push(base(name, match, mask, engines, lengthOf(lengthMask, bias, nominal), nominal, 'genxml'));
  }
  // MI_UPDATE_GTT (opcode 0x23, 10-bit length, every ring): in GVT-g's table, not in gen9.xml.
  defs.push(base('MI_UPDATE_GTT', 0x23 << 23, MI_MASK, EngineMask.ALL, { mask: 0x3ff, bias: 2 }, -1, 'gvt'));
  for (const [name, opcode, nominal] of XY_COMMANDS) {
    const d = base(name, ((2 << 29) | (opcode << 22)) >>> 0, BLT_MASK, EngineMask.BCS, { mask: 0xff, bias: 2 }, nominal, 'gvt');
    defs.push(XY_WITHOUT_ADDRESS.has(name) ? { ...d, addressDwords: [] } : { ...d, flags: d.flags | F.HAS_ADDRESS });
  }
  for (const [name, subB] of VEBOX_COMMANDS) {
    const match = ((3 << 29) | (2 << 27) | (4 << 24) | (0 << 21) | (subB << 16)) >>> 0;
    defs.push(base(name, match, GFX_MASK, EngineMask.VECS, { mask: 0xfff, bias: 2 }, -1, 'gvt'));
  }
  return mergeGvt(defs).map(annotate);
}

function sameLength(a: number | LengthField, b: number | LengthField): boolean {
  if (typeof a === 'number' || typeof b === 'number') return a === b;
  return a.mask === b.mask && a.bias === b.bias;
}

function describeLength(l: number | LengthField): string {
  return typeof l === 'number' ? `${l} dwords` : `(dw0 & 0x${l.mask.toString(16)}) + ${l.bias}`;
}

/**
 * Unite `defs` with GVT-g's `cmd_info[]`: a GVT-g entry whose (mapped) name is a row checks the
 * row's header and adds GVT-g's engines and required length; any other entry becomes a row of its
 * own on the engines GVT-g finds it on, with GVT-g's length rule. Every name mapping, added engine
 * and differing length rule must be a documented difference (`gvt-differences.ts`).
 */
function mergeGvt(defs: CommandDef[]): CommandDef[] {
  const out = defs.map((x) => ({ ...x }));
  const byName = new Map(out.map((x, k) => [x.name, k]));
  for (const g of GVT_CMD_INFO) {
    const name = tableNameOfGvt(g.name);
    const { match, mask } = gvtHeader(g);
    const engines = gvtEngines(g);
    const rule = gvtLengthRule(g);
    const length: number | LengthField = rule.fixed !== 0 ? rule.fixed : { mask: rule.mask, bias: rule.bias };
    const k = byName.get(name);
    if (k === undefined) {
      const row = base(name, match, mask, engines, length, rule.fixed !== 0 ? rule.fixed : -1, 'gvt');
      byName.set(name, out.length);
      out.push({ ...row, validLength: rule.validLength });
      continue;
    }
    const row = out[k];
    const where = `GVT-g's ${g.name} (table ${name})`;
    if (row.match !== match || row.mask !== mask) {
      throw new TableError(`${where}: header 0x${match.toString(16)}/0x${mask.toString(16)} differs from the row's 0x${row.match.toString(16)}/0x${row.mask.toString(16)}`);
    }
    const added = engines & ~row.engines;
    if (added !== 0) {
      const diff = findDifference('engine', name);
      if (!diff || (diff.engines & added) !== added) throw new TableError(`${where}: engines 0x${added.toString(16)} added without a documented difference`);
      out[k] = { ...out[k], engines: row.engines | added };
    }
    if (!sameLength(row.length, length)) {
      const diff = findDifference('length', name);
      if (!diff) throw new TableError(`${where}: length ${describeLength(length)} differs from the row's ${describeLength(row.length)} without a documented difference`);
      if (diff.wins === 'gvt') out[k] = { ...out[k], length };
      else if (diff.wins === 'both') {
        if (rule.fixed === 0) throw new TableError(`${where}: a 'both' length difference needs GVT-g's constant length`);
        out[k] = { ...out[k], validLength: rule.fixed };
      }
    }
    if (rule.validLength !== 0) out[k] = { ...out[k], validLength: rule.validLength };
  }
  return out;
}

function base(
  name: string, match: number, mask: number, engines: number, length: number | LengthField,
  nominalLength: number, source: 'genxml' | 'gvt',
): CommandDef {
  return {
    name, type: typeOf(match), match: match >>> 0, mask: mask >>> 0, engines, length, nominalLength, validLength: 0,
    flags: 0, addressDwords: undefined, registerDwords: undefined, source,
  };
}

function annotate(d: CommandDef): CommandDef {
  const a = ANNOTATIONS[d.name];
  let flags = d.flags;
  let addressDwords = d.addressDwords;
  let registerDwords = d.registerDwords;
  if (a) {
    flags |= a.flags ?? 0;
    if (a.addresses) addressDwords = a.addresses;
    if (a.registers) registerDwords = a.registers;
  } else if (d.type === CommandType.GFX && addressDwords === undefined && d.engines === EngineMask.RCS && !UNTABULATED_ADDRESSES.has(d.name)) {
    // Render-side 3D/media state not listed above has no absolute graphics address: its pointers
    // are offsets from a STATE_BASE_ADDRESS base (kernel, scratch, state and indirect data).
    addressDwords = [];
  } else if (d.type === CommandType.MI && addressDwords === undefined) {
    addressDwords = [];
  }
  if (UNTABULATED_ADDRESSES.has(d.name)) flags |= F.HAS_ADDRESS;
  if (addressDwords && addressDwords.length) flags |= F.HAS_ADDRESS;
  return { ...d, flags, addressDwords, registerDwords };
}

/** Generic length rules of headers no command claims (see the decoder). */
export const UnknownLength = {
  /** No generic length field (command types 1, 4-7): the stream cannot be followed. */
  NONE: 0,
  /** Single dword (MI opcodes below 0x10 have no length field). */
  ONE: 1,
  /** `(dw0 & 0xff) + 2`: the 8-bit field most MI, 2D and render type-3 commands use. */
  BITS8: 2,
  /** `(dw0 & 0xfff) + 2`: the 12-bit field of the video-ring type-3 commands. */
  BITS12: 3,
} as const;
/** Length-field mask per `UnknownLength` value. */
export const UNKNOWN_LENGTH_MASK = new Uint32Array([0, 0, 0xff, 0xfff]);
/** Bias per `UnknownLength` value. */
export const UNKNOWN_LENGTH_BIAS = new Uint32Array([0, 1, 2, 2]);

/** A built table: rows and the dense dispatch the decoder reads. */
export interface CommandTable {
  readonly commands: readonly CommandInfo[];
  /**
   * Dense dispatch, `ENGINE_CLASS_COUNT << 16` packed slots indexed by
   * `(engine << 16) | (dw0 >>> 16)`; see `SLOT_*`. One load gives the id and the length rule.
   */
  readonly slots: Int32Array;
  /** Id by name. */
  readonly byName: ReadonlyMap<string, number>;
}

/**
 * Packing of a dispatch slot: bits 15:0 the length-field mask (0 for fixed lengths), bits 19:16
 * the bias (the whole length for fixed-length commands), bits 31:20 the command id + 1 (0 for a
 * header no command claims; its mask and bias are then the generic rule of `UnknownLength`).
 * So `length = (dw0 & slot & 0xffff) + ((slot >>> 16) & 0xf)` and `id = (slot >>> 20) - 1`.
 */
export const SLOT_MASK_BITS = 0xffff;
/** Shift of the bias field of a slot. */
export const SLOT_BIAS_SHIFT = 16;
/** Shift of the id + 1 field of a slot. */
export const SLOT_ID_SHIFT = 20;
/** Largest number of commands a table can hold. */
export const MAX_COMMANDS = 0xfff - 1;

function packSlot(id: number, mask: number, bias: number): number {
  return (((id + 1) << SLOT_ID_SHIFT) | (bias << SLOT_BIAS_SHIFT) | mask) | 0;
}

/** Generic length class of a header no command claims, from the type's conventions. */
function unknownClass(engine: number, key: number): number {
  const type = key >>> 13;
  if (type === CommandType.MI) return ((key >>> 7) & 0x3f) < 0x10 ? UnknownLength.ONE : UnknownLength.BITS8;
  if (type === CommandType.BLT) return UnknownLength.BITS8;
  if (type === CommandType.GFX) {
    return engine === 2 || engine === 3 ? UnknownLength.BITS12 : UnknownLength.BITS8;
  }
  return UnknownLength.NONE;
}

function checkRow(d: CommandDef): void {
  const where = `command ${d.name}`;
  if (!d.name) throw new TableError('command with an empty name');
  if ((d.mask & 0xffff) !== 0) throw new TableError(`${where}: header mask 0x${d.mask.toString(16)} reaches below bit 16`);
  if (((d.mask >>> 29) & 7) !== 7) throw new TableError(`${where}: header mask does not cover the command type`);
  if ((d.match & ~d.mask) !== 0) throw new TableError(`${where}: match has bits outside its mask`);
  if (d.type !== d.match >>> 29) throw new TableError(`${where}: type ${d.type} disagrees with its header`);
  if ((d.engines & ~EngineMask.ALL) !== 0 || d.engines === 0) throw new TableError(`${where}: bad engine set ${d.engines}`);
  if (typeof d.length === 'number') {
    if (!Number.isInteger(d.length) || d.length < 1 || d.length > 15) throw new TableError(`${where}: fixed length ${d.length} outside 1..15`);
  } else {
    const { mask, bias } = d.length;
    if (mask === 0 || (mask & (mask + 1)) !== 0 || mask > 0xffff) throw new TableError(`${where}: bad length mask 0x${mask.toString(16)}`);
    if ((mask & d.mask) !== 0) throw new TableError(`${where}: length field overlaps the header fields`);
    if (!Number.isInteger(bias) || bias < 1 || bias > 15) throw new TableError(`${where}: length bias ${bias} outside 1..15`);
  }
  if (!Number.isInteger(d.validLength) || d.validLength < 0) throw new TableError(`${where}: bad valid length ${d.validLength}`);
  if (d.validLength !== 0) {
    const ok = typeof d.length === 'number'
      ? d.validLength === d.length
      : d.validLength >= d.length.bias && d.validLength <= d.length.mask + d.length.bias;
    if (!ok) throw new TableError(`${where}: valid length ${d.validLength} is not a length its rule gives`);
  }
  for (const a of d.addressDwords ?? []) {
    if (a.dword < 1 || a.lowBit < 0 || a.lowBit > 31 || (a.bits !== 32 && a.bits !== 48)) {
      throw new TableError(`${where}: bad address field ${a.name}`);
    }
  }
}

/**
 * Build and check a command table. Throws `TableError` on a duplicate name, a malformed row, or
 * two rows whose headers overlap on an engine they share.
 */
export function buildCommandTable(defs: readonly CommandDef[]): CommandTable {
  const commands: CommandInfo[] = [];
  const byName = new Map<string, number>();
  if (defs.length > MAX_COMMANDS) throw new TableError(`${defs.length} commands do not fit the dispatch slots`);
  for (const d of defs) {
    checkRow(d);
    if (byName.has(d.name)) throw new TableError(`command ${d.name} defined twice`);
    const id = commands.length;
    byName.set(d.name, id);
    commands.push(Object.freeze({ id, ...d }));
  }
  const slots = new Int32Array(ENGINE_CLASS_COUNT << 16);
  for (let e = 0; e < ENGINE_CLASS_COUNT; e++) {
    for (let key = 0; key < 0x10000; key++) {
      const u = unknownClass(e, key);
      slots[(e << 16) | key] = packSlot(-1, UNKNOWN_LENGTH_MASK[u], UNKNOWN_LENGTH_BIAS[u]);
    }
  }
  for (const c of commands) {
    const slot = typeof c.length === 'number' ? packSlot(c.id, 0, c.length) : packSlot(c.id, c.length.mask, c.length.bias);
    const matchKey = c.match >>> 16;
    const free = ~(c.mask >>> 16) & 0xffff;
    for (let e = 0; e < ENGINE_CLASS_COUNT; e++) {
      if (!(c.engines & (1 << e))) continue;
      // Visit every key the row claims: its fixed fields plus each combination of its free bits.
      let sub = 0;
      do {
        const at = (e << 16) | matchKey | sub;
        const prev = (slots[at] >>> SLOT_ID_SHIFT) - 1;
        if (prev >= 0) {
          throw new TableError(
            `command ${c.name} overlaps ${commands[prev].name} on ${engineClassName(e as 0)} (header 0x${(((matchKey | sub) << 16) >>> 0).toString(16)})`,
          );
        }
        slots[at] = slot;
        sub = (sub - free) & free;
      } while (sub !== 0);
    }
  }
  return { commands, slots, byName };
}

/** The row definitions of the default Gen9 table (fresh copies; tests build variants from them). */
export function gen9CommandDefs(): CommandDef[] {
  return defaultDefs();
}

const log = createDebug('gvtkit:cmd');

/** The Gen9 command table, built and checked at load. */
export const GEN9_TABLE: CommandTable = buildCommandTable(defaultDefs());
log('Gen9 command table: %d commands', GEN9_TABLE.commands.length);

/** Every command of the Gen9 table, indexed by id. */
export const COMMANDS: readonly CommandInfo[] = GEN9_TABLE.commands;

/** Name of a command id ('UNKNOWN' for -1 or an id outside the table). */
export function commandName(id: number): string {
  return id >= 0 && id < COMMANDS.length ? COMMANDS[id].name : 'UNKNOWN';
}

/** Command row by hardware name, or undefined. */
export function findCommand(name: string): CommandInfo | undefined {
  const id = GEN9_TABLE.byName.get(name);
  return id === undefined ? undefined : COMMANDS[id];
}

/** Command id by hardware name; throws `RangeArgError` when the name is not in the table. */
export function commandId(name: string): number {
  const id = GEN9_TABLE.byName.get(name);
  if (id === undefined) throw new RangeArgError(`no command named ${name}`);
  return id;
}
