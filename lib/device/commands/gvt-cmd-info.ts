/**
 * The facts of GVT-g's command table, one row per entry of `cmd_info[]` in
 * `drivers/gpu/drm/i915/gvt/cmd_parser.c`, Linux v7.0 (as carried by strongtz/i915-sriov-dkms at
 * commit 2421d3f, whose gvt/ follows mainline v7.0). Data only: the rows were extracted once from
 * that file by a throw-away script (macros `OP_*`, `ADDR_FIX_*` and `CMD_LEN` evaluated) and are
 * kept here as numbers; nothing reads kernel C at run time.
 *
 * What a row holds, in GVT-g's terms:
 * - `opcode`: the value GVT-g's `get_opcode` compares, `header >> (32 - op_len)`, with `op_len`
 *   taken from the ring's `decode_info` for the command type (bits 31:29): 9 for MI (type 0), 10
 *   for 2D (type 2), 16 for type 3 on every ring that decodes it (`OP_LEN_3D_MEDIA`,
 *   `OP_LEN_MFX_VC`, `OP_LEN_VEBOX`).
 * - `flags`: `F_LEN_CONST` (`len` is the total length in dwords), else `F_LEN_VAR` (0: `len` is
 *   the width in bits of the length field, total = field + 2, `get_cmd_length`), optionally
 *   `F_LEN_VAR_FIXED` (the variable form must come out as `validLen` dwords, else the parser
 *   returns -EFAULT, `gvt_check_valid_cmd_length`), and `F_IP_ADVANCE_CUSTOM` (the handler moves
 *   the instruction pointer itself: the batch start and end). v7.0 has no `F_POST_HANDLE`.
 * - `rings`: the rings the entry is defined for (`R_RCS`, `R_BCS`, `R_VCS` = VCS1 | VCS2,
 *   `R_VECS`, `R_ALL`). GVT-g matches an entry on a ring only when that ring also decodes the
 *   command type (`ring_decode_info`: RCS decodes MI and 3D/media, BCS MI and 2D, VCS MI and
 *   MFX, VECS MI and VEBOX): see `gvtEngines`.
 * - `devices`: `D_ALL`, `D_BDW_PLUS` or `D_SKL_PLUS`; every row applies to Skylake.
 * - `addrBitmap`: bit n set when dword n holds a graphics address (`ADDR_FIX_*`). GVT-g keeps
 *   it as metadata only: nothing in cmd_parser.c reads it, addresses are audited by handlers.
 * - `handler`: the name of the `cmd_handler_*` GVT-g runs, or null.
 */
import { EngineMask } from './engines.js';

/** GVT-g's `cmd_info.flag` bits (`F_LEN_VAR` is 0). */
export const GvtCmdFlag = {
  LEN_VAR: 0,
  LEN_CONST: 1,
  LEN_VAR_FIXED: 1 << 1,
  IP_ADVANCE_CUSTOM: 1 << 2,
} as const;

/** GVT-g's `F_LEN_MASK`: the length-kind bits of `flag`. */
export const GVT_LEN_MASK = 3;

/**
 * GVT-g's ring bits, numbered here (the kernel's are `BIT(engine id)`, whose numbering changes
 * between versions): VCS1 and VCS2 are both our VCS class.
 */
export const GvtRing = {
  RCS: 1 << 0,
  BCS: 1 << 1,
  VCS1: 1 << 2,
  VCS2: 1 << 3,
  VECS: 1 << 4,
  /** `R_VCS`: both video rings. */
  VCS: (1 << 2) | (1 << 3),
  /** `R_ALL`. */
  ALL: 0x1f,
} as const;

/** GVT-g's device classes used by `cmd_info[]` (all include Skylake). */
export type GvtDevices = 'D_ALL' | 'D_BDW_PLUS' | 'D_SKL_PLUS';

/** One entry of GVT-g's `cmd_info[]`. */
export interface GvtCmdInfo {
  /** GVT-g's name (its spelling, e.g. `MI_STORE_URM_MEM`, `MI_OP_2E`). */
  readonly name: string;
  /** `header >> (32 - opLen)`. */
  readonly opcode: number;
  /** `GvtCmdFlag` bits. */
  readonly flags: number;
  /** `GvtRing` bits. */
  readonly rings: number;
  readonly devices: GvtDevices;
  /** Bit n: dword n holds a graphics address. */
  readonly addrBitmap: number;
  /** Total dwords (`LEN_CONST`) or width in bits of the length field. */
  readonly len: number;
  /** The `cmd_handler_*` function, or null. */
  readonly handler: string | null;
  /** Required total length for `LEN_VAR_FIXED` rows (GVT-g's `CMD_LEN(n)` = n + 2), else 0. */
  readonly validLen: number;
}

const F = GvtCmdFlag;
const R = GvtRing;

function row(
  name: string, opcode: number, flags: number, rings: number, devices: GvtDevices, addrBitmap: number,
  len: number, handler: string | null, validLen: number,
): GvtCmdInfo {
  return Object.freeze({ name, opcode, flags, rings, devices, addrBitmap, len, handler, validLen });
}

/** Every entry of GVT-g's `cmd_info[]`, in its order (the trailing comment is GVT-g's opcode macro). */
export const GVT_CMD_INFO: readonly GvtCmdInfo[] = Object.freeze([
  row('MI_NOOP', 0x0, F.LEN_CONST, R.ALL, 'D_ALL', 0x0, 1, null, 0), // OP_MI_NOOP
  row('MI_SET_PREDICATE', 0x1, F.LEN_CONST, R.ALL, 'D_ALL', 0x0, 1, null, 0), // OP_MI_SET_PREDICATE
  row('MI_USER_INTERRUPT', 0x2, F.LEN_CONST, R.ALL, 'D_ALL', 0x0, 1, 'cmd_handler_mi_user_interrupt', 0), // OP_MI_USER_INTERRUPT
  row('MI_WAIT_FOR_EVENT', 0x3, F.LEN_CONST, R.RCS | R.BCS, 'D_ALL', 0x0, 1, 'cmd_handler_mi_wait_for_event', 0), // OP_MI_WAIT_FOR_EVENT
  row('MI_FLUSH', 0x4, F.LEN_CONST, R.ALL, 'D_ALL', 0x0, 1, null, 0), // OP_MI_FLUSH
  row('MI_ARB_CHECK', 0x5, F.LEN_CONST, R.ALL, 'D_ALL', 0x0, 1, null, 0), // OP_MI_ARB_CHECK
  row('MI_RS_CONTROL', 0x6, F.LEN_CONST, R.RCS, 'D_ALL', 0x0, 1, null, 0), // OP_MI_RS_CONTROL
  row('MI_REPORT_HEAD', 0x7, F.LEN_CONST, R.ALL, 'D_ALL', 0x0, 1, null, 0), // OP_MI_REPORT_HEAD
  row('MI_ARB_ON_OFF', 0x8, F.LEN_CONST, R.ALL, 'D_ALL', 0x0, 1, null, 0), // OP_MI_ARB_ON_OFF
  row('MI_URB_ATOMIC_ALLOC', 0x9, F.LEN_CONST, R.RCS, 'D_ALL', 0x0, 1, null, 0), // OP_MI_URB_ATOMIC_ALLOC
  row('MI_BATCH_BUFFER_END', 0xa, F.IP_ADVANCE_CUSTOM | F.LEN_CONST, R.ALL, 'D_ALL', 0x0, 1, 'cmd_handler_mi_batch_buffer_end', 0), // OP_MI_BATCH_BUFFER_END
  row('MI_SUSPEND_FLUSH', 0xb, F.LEN_CONST, R.ALL, 'D_ALL', 0x0, 1, null, 0), // OP_MI_SUSPEND_FLUSH
  row('MI_PREDICATE', 0xc, F.LEN_CONST, R.RCS, 'D_ALL', 0x0, 1, null, 0), // OP_MI_PREDICATE
  row('MI_TOPOLOGY_FILTER', 0xd, F.LEN_CONST, R.ALL, 'D_ALL', 0x0, 1, null, 0), // OP_MI_TOPOLOGY_FILTER
  row('MI_SET_APPID', 0xe, F.LEN_CONST, R.ALL, 'D_ALL', 0x0, 1, null, 0), // OP_MI_SET_APPID
  row('MI_RS_CONTEXT', 0xf, F.LEN_CONST, R.RCS, 'D_ALL', 0x0, 1, null, 0), // OP_MI_RS_CONTEXT
  row('MI_DISPLAY_FLIP', 0x14, F.LEN_VAR, R.RCS | R.BCS, 'D_ALL', 0x0, 8, 'cmd_handler_mi_display_flip', 0), // OP_MI_DISPLAY_FLIP
  row('MI_SEMAPHORE_MBOX', 0x16, F.LEN_VAR | F.LEN_VAR_FIXED, R.ALL, 'D_ALL', 0x0, 8, null, 3), // OP_MI_SEMAPHORE_MBOX
  row('MI_MATH', 0x1a, F.LEN_VAR, R.ALL, 'D_ALL', 0x0, 8, null, 0), // OP_MI_MATH
  row('MI_URB_CLEAR', 0x19, F.LEN_VAR | F.LEN_VAR_FIXED, R.RCS, 'D_ALL', 0x0, 8, null, 2), // OP_MI_URB_CLEAR
  row('MI_SEMAPHORE_SIGNAL', 0x1b, F.LEN_VAR | F.LEN_VAR_FIXED, R.ALL, 'D_BDW_PLUS', 0x0, 8, null, 2), // OP_MI_SEMAPHORE_SIGNAL
  row('MI_SEMAPHORE_WAIT', 0x1c, F.LEN_VAR | F.LEN_VAR_FIXED, R.ALL, 'D_BDW_PLUS', 0x4, 8, 'cmd_handler_mi_semaphore_wait', 4), // OP_MI_SEMAPHORE_WAIT
  row('MI_STORE_DATA_IMM', 0x20, F.LEN_VAR, R.ALL, 'D_BDW_PLUS', 0x2, 10, 'cmd_handler_mi_store_data_imm', 0), // OP_MI_STORE_DATA_IMM
  row('MI_STORE_DATA_INDEX', 0x21, F.LEN_VAR, R.ALL, 'D_ALL', 0x0, 8, 'cmd_handler_mi_store_data_index', 0), // OP_MI_STORE_DATA_INDEX
  row('MI_LOAD_REGISTER_IMM', 0x22, F.LEN_VAR, R.ALL, 'D_ALL', 0x0, 8, 'cmd_handler_lri', 0), // OP_MI_LOAD_REGISTER_IMM
  row('MI_UPDATE_GTT', 0x23, F.LEN_VAR, R.ALL, 'D_BDW_PLUS', 0x0, 10, 'cmd_handler_mi_update_gtt', 0), // OP_MI_UPDATE_GTT
  row('MI_STORE_REGISTER_MEM', 0x24, F.LEN_VAR | F.LEN_VAR_FIXED, R.ALL, 'D_ALL', 0x4, 8, 'cmd_handler_srm', 4), // OP_MI_STORE_REGISTER_MEM
  row('MI_FLUSH_DW', 0x26, F.LEN_VAR, R.ALL, 'D_ALL', 0x0, 6, 'cmd_handler_mi_flush_dw', 0), // OP_MI_FLUSH_DW
  row('MI_CLFLUSH', 0x27, F.LEN_VAR, R.ALL, 'D_ALL', 0x2, 10, 'cmd_handler_mi_clflush', 0), // OP_MI_CLFLUSH
  row('MI_REPORT_PERF_COUNT', 0x28, F.LEN_VAR | F.LEN_VAR_FIXED, R.ALL, 'D_ALL', 0x2, 6, 'cmd_handler_mi_report_perf_count', 4), // OP_MI_REPORT_PERF_COUNT
  row('MI_LOAD_REGISTER_MEM', 0x29, F.LEN_VAR | F.LEN_VAR_FIXED, R.ALL, 'D_ALL', 0x4, 8, 'cmd_handler_lrm', 4), // OP_MI_LOAD_REGISTER_MEM
  row('MI_LOAD_REGISTER_REG', 0x2a, F.LEN_VAR | F.LEN_VAR_FIXED, R.ALL, 'D_ALL', 0x0, 8, 'cmd_handler_lrr', 3), // OP_MI_LOAD_REGISTER_REG
  row('MI_RS_STORE_DATA_IMM', 0x2b, F.LEN_VAR | F.LEN_VAR_FIXED, R.RCS, 'D_ALL', 0x0, 8, null, 4), // OP_MI_RS_STORE_DATA_IMM
  row('MI_LOAD_URB_MEM', 0x2c, F.LEN_VAR | F.LEN_VAR_FIXED, R.RCS, 'D_ALL', 0x4, 8, null, 4), // OP_MI_LOAD_URB_MEM
  row('MI_STORE_URM_MEM', 0x2d, F.LEN_VAR, R.RCS, 'D_ALL', 0x4, 8, null, 0), // OP_MI_STORE_URM_MEM
  row('MI_OP_2E', 0x2e, F.LEN_VAR | F.LEN_VAR_FIXED, R.ALL, 'D_BDW_PLUS', 0x6, 8, 'cmd_handler_mi_op_2e', 5), // OP_MI_2E
  row('MI_OP_2F', 0x2f, F.LEN_VAR, R.ALL, 'D_BDW_PLUS', 0x2, 8, 'cmd_handler_mi_op_2f', 0), // OP_MI_2F
  row('MI_BATCH_BUFFER_START', 0x31, F.IP_ADVANCE_CUSTOM, R.ALL, 'D_ALL', 0x0, 8, 'cmd_handler_mi_batch_buffer_start', 0), // OP_MI_BATCH_BUFFER_START
  row('MI_CONDITIONAL_BATCH_BUFFER_END', 0x36, F.LEN_VAR | F.LEN_VAR_FIXED, R.ALL, 'D_ALL', 0x4, 8, 'cmd_handler_mi_conditional_batch_buffer_end', 4), // OP_MI_CONDITIONAL_BATCH_BUFFER_END
  row('MI_LOAD_SCAN_LINES_INCL', 0x12, F.LEN_CONST, R.RCS | R.BCS, 'D_ALL', 0x0, 2, null, 0), // OP_MI_LOAD_SCAN_LINES_INCL
  row('XY_SETUP_BLT', 0x101, F.LEN_VAR, R.BCS, 'D_ALL', 0x90, 8, null, 0), // OP_XY_SETUP_BLT
  row('XY_SETUP_CLIP_BLT', 0x103, F.LEN_VAR, R.BCS, 'D_ALL', 0x0, 8, null, 0), // OP_XY_SETUP_CLIP_BLT
  row('XY_SETUP_MONO_PATTERN_SL_BLT', 0x111, F.LEN_VAR, R.BCS, 'D_ALL', 0x10, 8, null, 0), // OP_XY_SETUP_MONO_PATTERN_SL_BLT
  row('XY_PIXEL_BLT', 0x124, F.LEN_VAR, R.BCS, 'D_ALL', 0x0, 8, null, 0), // OP_XY_PIXEL_BLT
  row('XY_SCANLINES_BLT', 0x125, F.LEN_VAR, R.BCS, 'D_ALL', 0x0, 8, null, 0), // OP_XY_SCANLINES_BLT
  row('XY_TEXT_BLT', 0x126, F.LEN_VAR, R.BCS, 'D_ALL', 0x8, 8, null, 0), // OP_XY_TEXT_BLT
  row('XY_TEXT_IMMEDIATE_BLT', 0x131, F.LEN_VAR, R.BCS, 'D_ALL', 0x0, 8, null, 0), // OP_XY_TEXT_IMMEDIATE_BLT
  row('XY_COLOR_BLT', 0x150, F.LEN_VAR, R.BCS, 'D_ALL', 0x10, 8, null, 0), // OP_XY_COLOR_BLT
  row('XY_PAT_BLT', 0x151, F.LEN_VAR, R.BCS, 'D_ALL', 0x30, 8, null, 0), // OP_XY_PAT_BLT
  row('XY_MONO_PAT_BLT', 0x152, F.LEN_VAR, R.BCS, 'D_ALL', 0x10, 8, null, 0), // OP_XY_MONO_PAT_BLT
  row('XY_SRC_COPY_BLT', 0x153, F.LEN_VAR, R.BCS, 'D_ALL', 0x90, 8, null, 0), // OP_XY_SRC_COPY_BLT
  row('XY_MONO_SRC_COPY_BLT', 0x154, F.LEN_VAR, R.BCS, 'D_ALL', 0x30, 8, null, 0), // OP_XY_MONO_SRC_COPY_BLT
  row('XY_FULL_BLT', 0x155, F.LEN_VAR, R.BCS, 'D_ALL', 0x0, 8, null, 0), // OP_XY_FULL_BLT
  row('XY_FULL_MONO_SRC_BLT', 0x156, F.LEN_VAR, R.BCS, 'D_ALL', 0x130, 8, null, 0), // OP_XY_FULL_MONO_SRC_BLT
  row('XY_FULL_MONO_PATTERN_BLT', 0x157, F.LEN_VAR, R.BCS, 'D_ALL', 0x90, 8, null, 0), // OP_XY_FULL_MONO_PATTERN_BLT
  row('XY_FULL_MONO_PATTERN_MONO_SRC_BLT', 0x158, F.LEN_VAR, R.BCS, 'D_ALL', 0x30, 8, null, 0), // OP_XY_FULL_MONO_PATTERN_MONO_SRC_BLT
  row('XY_MONO_PAT_FIXED_BLT', 0x159, F.LEN_VAR, R.BCS, 'D_ALL', 0x10, 8, null, 0), // OP_XY_MONO_PAT_FIXED_BLT
  row('XY_MONO_SRC_COPY_IMMEDIATE_BLT', 0x171, F.LEN_VAR, R.BCS, 'D_ALL', 0x10, 8, null, 0), // OP_XY_MONO_SRC_COPY_IMMEDIATE_BLT
  row('XY_PAT_BLT_IMMEDIATE', 0x172, F.LEN_VAR, R.BCS, 'D_ALL', 0x10, 8, null, 0), // OP_XY_PAT_BLT_IMMEDIATE
  row('XY_SRC_COPY_CHROMA_BLT', 0x173, F.LEN_VAR, R.BCS, 'D_ALL', 0x90, 8, null, 0), // OP_XY_SRC_COPY_CHROMA_BLT
  row('XY_FULL_IMMEDIATE_PATTERN_BLT', 0x174, F.LEN_VAR, R.BCS, 'D_ALL', 0x90, 8, null, 0), // OP_XY_FULL_IMMEDIATE_PATTERN_BLT
  row('XY_FULL_MONO_SRC_IMMEDIATE_PATTERN_BLT', 0x175, F.LEN_VAR, R.BCS, 'D_ALL', 0x30, 8, null, 0), // OP_XY_FULL_MONO_SRC_IMMEDIATE_PATTERN_BLT
  row('XY_PAT_CHROMA_BLT', 0x176, F.LEN_VAR, R.BCS, 'D_ALL', 0x30, 8, null, 0), // OP_XY_PAT_CHROMA_BLT
  row('XY_PAT_CHROMA_BLT_IMMEDIATE', 0x177, F.LEN_VAR, R.BCS, 'D_ALL', 0x10, 8, null, 0), // OP_XY_PAT_CHROMA_BLT_IMMEDIATE
  row('3DSTATE_VIEWPORT_STATE_POINTERS_SF_CLIP', 0x7821, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_VIEWPORT_STATE_POINTERS_SF_CLIP
  row('3DSTATE_VIEWPORT_STATE_POINTERS_CC', 0x7823, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_VIEWPORT_STATE_POINTERS_CC
  row('3DSTATE_BLEND_STATE_POINTERS', 0x7824, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_BLEND_STATE_POINTERS
  row('3DSTATE_DEPTH_STENCIL_STATE_POINTERS', 0x7825, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_DEPTH_STENCIL_STATE_POINTERS
  row('3DSTATE_BINDING_TABLE_POINTERS_VS', 0x7826, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_BINDING_TABLE_POINTERS_VS
  row('3DSTATE_BINDING_TABLE_POINTERS_HS', 0x7827, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_BINDING_TABLE_POINTERS_HS
  row('3DSTATE_BINDING_TABLE_POINTERS_DS', 0x7828, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_BINDING_TABLE_POINTERS_DS
  row('3DSTATE_BINDING_TABLE_POINTERS_GS', 0x7829, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_BINDING_TABLE_POINTERS_GS
  row('3DSTATE_BINDING_TABLE_POINTERS_PS', 0x782a, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_BINDING_TABLE_POINTERS_PS
  row('3DSTATE_SAMPLER_STATE_POINTERS_VS', 0x782b, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_SAMPLER_STATE_POINTERS_VS
  row('3DSTATE_SAMPLER_STATE_POINTERS_HS', 0x782c, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_SAMPLER_STATE_POINTERS_HS
  row('3DSTATE_SAMPLER_STATE_POINTERS_DS', 0x782d, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_SAMPLER_STATE_POINTERS_DS
  row('3DSTATE_SAMPLER_STATE_POINTERS_GS', 0x782e, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_SAMPLER_STATE_POINTERS_GS
  row('3DSTATE_SAMPLER_STATE_POINTERS_PS', 0x782f, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_SAMPLER_STATE_POINTERS_PS
  row('3DSTATE_URB_VS', 0x7830, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_URB_VS
  row('3DSTATE_URB_HS', 0x7831, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_URB_HS
  row('3DSTATE_URB_DS', 0x7832, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_URB_DS
  row('3DSTATE_URB_GS', 0x7833, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_URB_GS
  row('3DSTATE_GATHER_CONSTANT_VS', 0x7834, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_GATHER_CONSTANT_VS
  row('3DSTATE_GATHER_CONSTANT_GS', 0x7835, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_GATHER_CONSTANT_GS
  row('3DSTATE_GATHER_CONSTANT_HS', 0x7836, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_GATHER_CONSTANT_HS
  row('3DSTATE_GATHER_CONSTANT_DS', 0x7837, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_GATHER_CONSTANT_DS
  row('3DSTATE_GATHER_CONSTANT_PS', 0x7838, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_GATHER_CONSTANT_PS
  row('3DSTATE_DX9_CONSTANTF_VS', 0x7839, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 11, null, 0), // OP_3DSTATE_DX9_CONSTANTF_VS
  row('3DSTATE_DX9_CONSTANTF_PS', 0x783a, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 11, null, 0), // OP_3DSTATE_DX9_CONSTANTF_PS
  row('3DSTATE_DX9_CONSTANTI_VS', 0x783b, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_DX9_CONSTANTI_VS
  row('3DSTATE_DX9_CONSTANTI_PS', 0x783c, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_DX9_CONSTANTI_PS
  row('3DSTATE_DX9_CONSTANTB_VS', 0x783d, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_DX9_CONSTANTB_VS
  row('3DSTATE_DX9_CONSTANTB_PS', 0x783e, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_DX9_CONSTANTB_PS
  row('3DSTATE_DX9_LOCAL_VALID_VS', 0x783f, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_DX9_LOCAL_VALID_VS
  row('3DSTATE_DX9_LOCAL_VALID_PS', 0x7840, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_DX9_LOCAL_VALID_PS
  row('3DSTATE_DX9_GENERATE_ACTIVE_VS', 0x7841, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_DX9_GENERATE_ACTIVE_VS
  row('3DSTATE_DX9_GENERATE_ACTIVE_PS', 0x7842, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_DX9_GENERATE_ACTIVE_PS
  row('3DSTATE_BINDING_TABLE_EDIT_VS', 0x7843, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 9, null, 0), // OP_3DSTATE_BINDING_TABLE_EDIT_VS
  row('3DSTATE_BINDING_TABLE_EDIT_GS', 0x7844, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 9, null, 0), // OP_3DSTATE_BINDING_TABLE_EDIT_GS
  row('3DSTATE_BINDING_TABLE_EDIT_HS', 0x7845, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 9, null, 0), // OP_3DSTATE_BINDING_TABLE_EDIT_HS
  row('3DSTATE_BINDING_TABLE_EDIT_DS', 0x7846, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 9, null, 0), // OP_3DSTATE_BINDING_TABLE_EDIT_DS
  row('3DSTATE_BINDING_TABLE_EDIT_PS', 0x7847, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 9, null, 0), // OP_3DSTATE_BINDING_TABLE_EDIT_PS
  row('3DSTATE_VF_INSTANCING', 0x7849, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_VF_INSTANCING
  row('3DSTATE_VF_SGVS', 0x784a, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_VF_SGVS
  row('3DSTATE_VF_TOPOLOGY', 0x784b, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_VF_TOPOLOGY
  row('3DSTATE_WM_CHROMAKEY', 0x784c, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_WM_CHROMAKEY
  row('3DSTATE_PS_BLEND', 0x784d, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_PS_BLEND
  row('3DSTATE_WM_DEPTH_STENCIL', 0x784e, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_WM_DEPTH_STENCIL
  row('3DSTATE_PS_EXTRA', 0x784f, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_PS_EXTRA
  row('3DSTATE_RASTER', 0x7850, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_RASTER
  row('3DSTATE_SBE_SWIZ', 0x7851, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_SBE_SWIZ
  row('3DSTATE_WM_HZ_OP', 0x7852, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_WM_HZ_OP
  row('3DSTATE_VERTEX_BUFFERS', 0x7808, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_VERTEX_BUFFERS
  row('3DSTATE_VERTEX_ELEMENTS', 0x7809, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_VERTEX_ELEMENTS
  row('3DSTATE_INDEX_BUFFER', 0x780a, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x4, 8, null, 0), // OP_3DSTATE_INDEX_BUFFER
  row('3DSTATE_VF_STATISTICS', 0x780b, F.LEN_CONST, R.RCS, 'D_ALL', 0x0, 1, null, 0), // OP_3DSTATE_VF_STATISTICS
  row('3DSTATE_VF', 0x780c, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_VF
  row('3DSTATE_CC_STATE_POINTERS', 0x780e, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_CC_STATE_POINTERS
  row('3DSTATE_SCISSOR_STATE_POINTERS', 0x780f, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_SCISSOR_STATE_POINTERS
  row('3DSTATE_GS', 0x7811, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_GS
  row('3DSTATE_CLIP', 0x7812, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_CLIP
  row('3DSTATE_WM', 0x7814, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_WM
  row('3DSTATE_CONSTANT_GS', 0x7816, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_CONSTANT_GS
  row('3DSTATE_CONSTANT_PS', 0x7817, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_CONSTANT_PS
  row('3DSTATE_SAMPLE_MASK', 0x7818, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_SAMPLE_MASK
  row('3DSTATE_CONSTANT_HS', 0x7819, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_CONSTANT_HS
  row('3DSTATE_CONSTANT_DS', 0x781a, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_CONSTANT_DS
  row('3DSTATE_HS', 0x781b, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_HS
  row('3DSTATE_TE', 0x781c, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_TE
  row('3DSTATE_DS', 0x781d, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_DS
  row('3DSTATE_STREAMOUT', 0x781e, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_STREAMOUT
  row('3DSTATE_SBE', 0x781f, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_SBE
  row('3DSTATE_PS', 0x7820, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_PS
  row('3DSTATE_DRAWING_RECTANGLE', 0x7900, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_DRAWING_RECTANGLE
  row('3DSTATE_SAMPLER_PALETTE_LOAD0', 0x7902, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_SAMPLER_PALETTE_LOAD0
  row('3DSTATE_CHROMA_KEY', 0x7904, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_CHROMA_KEY
  row('3DSTATE_DEPTH_BUFFER', 0x7805, F.LEN_VAR, R.RCS, 'D_ALL', 0x4, 8, null, 0), // OP_3DSTATE_DEPTH_BUFFER
  row('3DSTATE_POLY_STIPPLE_OFFSET', 0x7906, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_POLY_STIPPLE_OFFSET
  row('3DSTATE_POLY_STIPPLE_PATTERN', 0x7907, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_POLY_STIPPLE_PATTERN
  row('3DSTATE_LINE_STIPPLE', 0x7908, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_LINE_STIPPLE
  row('3DSTATE_AA_LINE_PARAMS', 0x790a, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_AA_LINE_PARAMS
  row('3DSTATE_GS_SVB_INDEX', 0x790b, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_GS_SVB_INDEX
  row('3DSTATE_SAMPLER_PALETTE_LOAD1', 0x790c, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_SAMPLER_PALETTE_LOAD1
  row('3DSTATE_MULTISAMPLE', 0x780d, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_MULTISAMPLE_BDW
  row('3DSTATE_STENCIL_BUFFER', 0x7806, F.LEN_VAR, R.RCS, 'D_ALL', 0x4, 8, null, 0), // OP_3DSTATE_STENCIL_BUFFER
  row('3DSTATE_HIER_DEPTH_BUFFER', 0x7807, F.LEN_VAR, R.RCS, 'D_ALL', 0x4, 8, null, 0), // OP_3DSTATE_HIER_DEPTH_BUFFER
  row('3DSTATE_CLEAR_PARAMS', 0x7804, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_CLEAR_PARAMS
  row('3DSTATE_PUSH_CONSTANT_ALLOC_VS', 0x7912, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_PUSH_CONSTANT_ALLOC_VS
  row('3DSTATE_PUSH_CONSTANT_ALLOC_HS', 0x7913, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_PUSH_CONSTANT_ALLOC_HS
  row('3DSTATE_PUSH_CONSTANT_ALLOC_DS', 0x7914, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_PUSH_CONSTANT_ALLOC_DS
  row('3DSTATE_PUSH_CONSTANT_ALLOC_GS', 0x7915, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_PUSH_CONSTANT_ALLOC_GS
  row('3DSTATE_PUSH_CONSTANT_ALLOC_PS', 0x7916, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_PUSH_CONSTANT_ALLOC_PS
  row('3DSTATE_MONOFILTER_SIZE', 0x7911, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_MONOFILTER_SIZE
  row('3DSTATE_SO_DECL_LIST', 0x7917, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 9, null, 0), // OP_3DSTATE_SO_DECL_LIST
  row('3DSTATE_SO_BUFFER', 0x7918, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x14, 8, null, 0), // OP_3DSTATE_SO_BUFFER
  row('3DSTATE_BINDING_TABLE_POOL_ALLOC', 0x7919, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x2, 8, null, 0), // OP_3DSTATE_BINDING_TABLE_POOL_ALLOC
  row('3DSTATE_GATHER_POOL_ALLOC', 0x791a, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x2, 8, null, 0), // OP_3DSTATE_GATHER_POOL_ALLOC
  row('3DSTATE_DX9_CONSTANT_BUFFER_POOL_ALLOC', 0x791b, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x2, 8, null, 0), // OP_3DSTATE_DX9_CONSTANT_BUFFER_POOL_ALLOC
  row('3DSTATE_SAMPLE_PATTERN', 0x791c, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_SAMPLE_PATTERN
  row('PIPE_CONTROL', 0x7a00, F.LEN_VAR, R.RCS, 'D_ALL', 0x4, 8, 'cmd_handler_pipe_control', 0), // OP_PIPE_CONTROL
  row('3DPRIMITIVE', 0x7b00, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DPRIMITIVE
  row('PIPELINE_SELECT', 0x6904, F.LEN_CONST, R.RCS, 'D_ALL', 0x0, 1, null, 0), // OP_PIPELINE_SELECT
  row('STATE_PREFETCH', 0x6003, F.LEN_VAR, R.RCS, 'D_ALL', 0x2, 8, null, 0), // OP_STATE_PREFETCH
  row('STATE_SIP', 0x6102, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_STATE_SIP
  row('STATE_BASE_ADDRESS', 0x6101, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x7a, 8, null, 0), // OP_STATE_BASE_ADDRESS
  row('OP_3D_MEDIA_0_1_4', 0x6104, F.LEN_VAR, R.RCS, 'D_ALL', 0x2, 8, null, 0), // OP_3D_MEDIA_0_1_4
  row('OP_SWTESS_BASE_ADDRESS', 0x6103, F.LEN_VAR, R.RCS, 'D_ALL', 0x6, 3, null, 0), // OP_SWTESS_BASE_ADDRESS
  row('3DSTATE_VS', 0x7810, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_VS
  row('3DSTATE_SF', 0x7813, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_3DSTATE_SF
  row('3DSTATE_CONSTANT_VS', 0x7815, F.LEN_VAR, R.RCS, 'D_BDW_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_CONSTANT_VS
  row('3DSTATE_COMPONENT_PACKING', 0x7855, F.LEN_VAR, R.RCS, 'D_SKL_PLUS', 0x0, 8, null, 0), // OP_3DSTATE_COMPONENT_PACKING
  row('MEDIA_INTERFACE_DESCRIPTOR_LOAD', 0x7002, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 16, null, 0), // OP_MEDIA_INTERFACE_DESCRIPTOR_LOAD
  row('MEDIA_GATEWAY_STATE', 0x7003, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 16, null, 0), // OP_MEDIA_GATEWAY_STATE
  row('MEDIA_STATE_FLUSH', 0x7004, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 16, null, 0), // OP_MEDIA_STATE_FLUSH
  row('MEDIA_POOL_STATE', 0x7005, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 16, null, 0), // OP_MEDIA_POOL_STATE
  row('MEDIA_OBJECT', 0x7100, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 16, null, 0), // OP_MEDIA_OBJECT
  row('MEDIA_CURBE_LOAD', 0x7001, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 16, null, 0), // OP_MEDIA_CURBE_LOAD
  row('MEDIA_OBJECT_PRT', 0x7102, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 16, null, 0), // OP_MEDIA_OBJECT_PRT
  row('MEDIA_OBJECT_WALKER', 0x7103, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 16, null, 0), // OP_MEDIA_OBJECT_WALKER
  row('GPGPU_WALKER', 0x7105, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 8, null, 0), // OP_GPGPU_WALKER
  row('MEDIA_VFE_STATE', 0x7000, F.LEN_VAR, R.RCS, 'D_ALL', 0x0, 16, null, 0), // OP_MEDIA_VFE_STATE
  row('3DSTATE_VF_STATISTICS_GM45', 0x680b, F.LEN_CONST, R.ALL, 'D_ALL', 0x0, 1, null, 0), // OP_3DSTATE_VF_STATISTICS_GM45
  row('MFX_PIPE_MODE_SELECT', 0x7000, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_PIPE_MODE_SELECT
  row('MFX_SURFACE_STATE', 0x7001, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_SURFACE_STATE
  row('MFX_PIPE_BUF_ADDR_STATE', 0x7002, F.LEN_VAR, R.VCS, 'D_BDW_PLUS', 0x0, 12, null, 0), // OP_MFX_PIPE_BUF_ADDR_STATE
  row('MFX_IND_OBJ_BASE_ADDR_STATE', 0x7003, F.LEN_VAR, R.VCS, 'D_BDW_PLUS', 0x0, 12, null, 0), // OP_MFX_IND_OBJ_BASE_ADDR_STATE
  row('MFX_BSP_BUF_BASE_ADDR_STATE', 0x7004, F.LEN_VAR, R.VCS, 'D_BDW_PLUS', 0x2a, 12, null, 0), // OP_MFX_BSP_BUF_BASE_ADDR_STATE
  row('OP_2_0_0_5', 0x7005, F.LEN_VAR, R.VCS, 'D_BDW_PLUS', 0x0, 12, null, 0), // OP_2_0_0_5
  row('MFX_STATE_POINTER', 0x7006, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_STATE_POINTER
  row('MFX_QM_STATE', 0x7007, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_QM_STATE
  row('MFX_FQM_STATE', 0x7008, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_FQM_STATE
  row('MFX_PAK_INSERT_OBJECT', 0x7048, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_PAK_INSERT_OBJECT
  row('MFX_STITCH_OBJECT', 0x704a, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_STITCH_OBJECT
  row('MFD_IT_OBJECT', 0x7029, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFD_IT_OBJECT
  row('MFX_WAIT', 0x6800, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 6, null, 0), // OP_MFX_WAIT
  row('MFX_AVC_IMG_STATE', 0x7100, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_AVC_IMG_STATE
  row('MFX_AVC_QM_STATE', 0x7101, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_AVC_QM_STATE
  row('MFX_AVC_DIRECTMODE_STATE', 0x7102, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_AVC_DIRECTMODE_STATE
  row('MFX_AVC_SLICE_STATE', 0x7103, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_AVC_SLICE_STATE
  row('MFX_AVC_REF_IDX_STATE', 0x7104, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_AVC_REF_IDX_STATE
  row('MFX_AVC_WEIGHTOFFSET_STATE', 0x7105, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_AVC_WEIGHTOFFSET_STATE
  row('MFD_AVC_PICID_STATE', 0x7125, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFD_AVC_PICID_STATE
  row('MFD_AVC_DPB_STATE', 0x7126, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFD_AVC_DPB_STATE
  row('MFD_AVC_BSD_OBJECT', 0x7128, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFD_AVC_BSD_OBJECT
  row('MFD_AVC_SLICEADDR', 0x7127, F.LEN_VAR, R.VCS, 'D_ALL', 0x4, 12, null, 0), // OP_MFD_AVC_SLICEADDR
  row('MFC_AVC_PAK_OBJECT', 0x7149, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFC_AVC_PAK_OBJECT
  row('MFX_VC1_PRED_PIPE_STATE', 0x7201, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_VC1_PRED_PIPE_STATE
  row('MFX_VC1_DIRECTMODE_STATE', 0x7202, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_VC1_DIRECTMODE_STATE
  row('MFD_VC1_SHORT_PIC_STATE', 0x7220, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFD_VC1_SHORT_PIC_STATE
  row('MFD_VC1_LONG_PIC_STATE', 0x7221, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFD_VC1_LONG_PIC_STATE
  row('MFD_VC1_BSD_OBJECT', 0x7228, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFD_VC1_BSD_OBJECT
  row('MFC_MPEG2_SLICEGROUP_STATE', 0x7343, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFC_MPEG2_SLICEGROUP_STATE
  row('MFC_MPEG2_PAK_OBJECT', 0x7349, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFC_MPEG2_PAK_OBJECT
  row('MFX_MPEG2_PIC_STATE', 0x7300, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_MPEG2_PIC_STATE
  row('MFX_MPEG2_QM_STATE', 0x7301, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_MPEG2_QM_STATE
  row('MFD_MPEG2_BSD_OBJECT', 0x7328, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFD_MPEG2_BSD_OBJECT
  row('MFX_2_6_0_0', 0x7600, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 16, null, 0), // OP_MFX_2_6_0_0
  row('MFX_2_6_0_9', 0x7609, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 16, null, 0), // OP_MFX_2_6_0_9
  row('MFX_2_6_0_8', 0x7608, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 16, null, 0), // OP_MFX_2_6_0_8
  row('MFX_JPEG_PIC_STATE', 0x7700, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_JPEG_PIC_STATE
  row('MFX_JPEG_HUFF_TABLE_STATE', 0x7702, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFX_JPEG_HUFF_TABLE_STATE
  row('MFD_JPEG_BSD_OBJECT', 0x7728, F.LEN_VAR, R.VCS, 'D_ALL', 0x0, 12, null, 0), // OP_MFD_JPEG_BSD_OBJECT
  row('VEBOX_STATE', 0x7402, F.LEN_VAR, R.VECS, 'D_ALL', 0x0, 12, null, 0), // OP_VEB_STATE
  row('VEBOX_SURFACE_STATE', 0x7400, F.LEN_VAR, R.VECS, 'D_ALL', 0x0, 12, null, 0), // OP_VEB_SURFACE_STATE
  row('VEB_DI_IECP', 0x7403, F.LEN_VAR, R.VECS, 'D_BDW_PLUS', 0x0, 12, null, 0), // OP_VEB_DNDI_IECP_STATE
]);

/**
 * What each of GVT-g's `cmd_handler_*` functions does with the command (v7.0 cmd_parser.c):
 * - `refuse`: always `unexpected_cmd()`, -EBADRQC (the vGPU goes to failsafe);
 * - `patch`: rewrites the command in the shadow (MI_USER_INTERRUPT becomes MI_NOOP and a pending
 *   virtual interrupt; MI_WAIT_FOR_EVENT becomes MI_NOOP when it waits on a flip);
 * - `emulate`: MI_DISPLAY_FLIP updates the virtual plane registers and is NOOPed;
 * - `audit`: checks registers or graphics addresses and admits the command (or refuses it with
 *   -EBADRQC, -EFAULT, -EPERM or -EINVAL by what it finds);
 * - `control`: batch start and end (shadowing, return addresses; -EFAULT for a start GVT-g cannot follow).
 */
export const GVT_HANDLER_KIND: Readonly<Record<string, 'refuse' | 'patch' | 'emulate' | 'audit' | 'control'>> = Object.freeze({
  cmd_handler_mi_user_interrupt: 'patch',
  cmd_handler_mi_wait_for_event: 'patch',
  cmd_handler_mi_display_flip: 'emulate',
  cmd_handler_mi_batch_buffer_end: 'control',
  cmd_handler_mi_batch_buffer_start: 'control',
  cmd_handler_mi_semaphore_wait: 'refuse',
  cmd_handler_mi_report_perf_count: 'refuse',
  cmd_handler_mi_op_2e: 'refuse',
  cmd_handler_mi_store_data_index: 'refuse',
  cmd_handler_mi_clflush: 'refuse',
  cmd_handler_mi_conditional_batch_buffer_end: 'refuse',
  cmd_handler_mi_update_gtt: 'refuse',
  cmd_handler_mi_store_data_imm: 'audit',
  cmd_handler_mi_op_2f: 'audit',
  cmd_handler_mi_flush_dw: 'audit',
  cmd_handler_pipe_control: 'audit',
  cmd_handler_lri: 'audit',
  cmd_handler_lrr: 'audit',
  cmd_handler_lrm: 'audit',
  cmd_handler_srm: 'audit',
});

/** Command type (bits 31:29) of a GVT-g opcode, from its width: MI below 0x40, 2D below 0x400, else type 3. */
export function gvtCommandType(info: GvtCmdInfo): number {
  if (info.opcode < 0x40) return 0;
  if (info.opcode < 0x400) return info.opcode >>> 7;
  return info.opcode >>> 13;
}

/** GVT-g's `op_len` for the row's command type (`decode_info_*`). */
export function gvtOpLength(info: GvtCmdInfo): 9 | 10 | 16 {
  const type = gvtCommandType(info);
  return type === 0 ? 9 : type === 2 ? 10 : 16;
}

/** The header bits GVT-g compares: `{ match, mask }` over dword 0. */
export function gvtHeader(info: GvtCmdInfo): { match: number; mask: number } {
  const shift = 32 - gvtOpLength(info);
  return { match: (info.opcode << shift) >>> 0, mask: (0xffffffff << shift) >>> 0 };
}

/** Command types each of our engine classes decodes in GVT-g (`ring_decode_info`), by class. */
const DECODED_TYPES: readonly (readonly number[])[] = [
  [0, 3], // RCS: MI, 3D/media
  [0, 2], // BCS: MI, 2D
  [0, 3], // VCS, VCS2: MI, MFX
  [0, 3], // VECS: MI, VEBOX
];

/** `EngineMask` of the rings an entry names (`R_VCS` maps to the VCS class). */
export function gvtRingsToEngineMask(rings: number): number {
  let m = 0;
  if (rings & GvtRing.RCS) m |= EngineMask.RCS;
  if (rings & GvtRing.BCS) m |= EngineMask.BCS;
  if (rings & GvtRing.VCS) m |= EngineMask.VCS;
  if (rings & GvtRing.VECS) m |= EngineMask.VECS;
  return m;
}

/**
 * `EngineMask` of the engines on which GVT-g finds the entry: its rings, less those whose
 * `ring_decode_info` has no decoder for its command type (e.g. the type-3 R_ALL
 * `3DSTATE_VF_STATISTICS_GM45` is never found on BCS).
 */
export function gvtEngines(info: GvtCmdInfo): number {
  const type = gvtCommandType(info);
  let m = 0;
  const rings = gvtRingsToEngineMask(info.rings);
  for (let e = 0; e < DECODED_TYPES.length; e++) {
    if ((rings & (1 << e)) !== 0 && DECODED_TYPES[e].includes(type)) m |= 1 << e;
  }
  return m;
}

/** GVT-g's length rule of an entry, as ours: a fixed total, or `(dw0 & mask) + 2`, with GVT-g's required total (0: any). */
export function gvtLengthRule(info: GvtCmdInfo): { fixed: number; mask: number; bias: number; validLength: number } {
  if ((info.flags & GVT_LEN_MASK) === GvtCmdFlag.LEN_CONST) return { fixed: info.len, mask: 0, bias: 0, validLength: 0 };
  const fixedForm = (info.flags & GVT_LEN_MASK) === GvtCmdFlag.LEN_VAR_FIXED;
  return { fixed: 0, mask: (2 ** info.len - 1) >>> 0, bias: 2, validLength: fixedForm ? info.validLen : 0 };
}

/** Dword indices GVT-g's address bitmap names. */
export function gvtAddressDwords(info: GvtCmdInfo): number[] {
  const out: number[] = [];
  for (let b = 0; b < 16; b++) if (info.addrBitmap & (1 << b)) out.push(b);
  return out;
}
