/**
 * Where Mesa's genxml (`gen9.xml`, `gen9-genxml.ts`) and GVT-g's `cmd_info[]` (`gvt-cmd-info.ts`,
 * Linux v7.0 `gvt/cmd_parser.c`) disagree about a Gen9 command, which one the command table
 * follows, and why. The table (`table.ts`) is genxml's rows plus every GVT-g entry: when it
 * builds, every name it maps, every engine it adds and every length rule it keeps or changes must
 * be listed here, or the build throws `TableError`. `docs/commands.md` carries the same list (a
 * test checks that they agree).
 *
 * Kinds:
 * - `name`: one command, two names; the table keeps `command`, GVT-g calls it `gvtName`.
 * - `engine`: GVT-g finds the command on engines genxml does not give it; the table adds them
 *   (`engines`), so that every command GVT-g admits on a ring is known there.
 * - `length`: the two length rules differ; `wins` says which the table decodes by ('both': the
 *   genxml field decodes, and only GVT-g's length is admitted by the auditor, `validLength`).
 * - `genxml-only`: genxml has the command on `engines`, GVT-g has no entry there (GVT-g's parser
 *   refuses it as an unknown command, -EBADRQC). The table keeps it; the auditor decides it by its
 *   own rules (`lib/mediator/audit-table.ts`); `decisions` options can refuse it as GVT-g does.
 */
import { EngineMask } from './engines.js';

/** What a difference is about. */
export type DifferenceKind = 'name' | 'engine' | 'length' | 'genxml-only';

/** Which side the table follows. */
export type DifferenceWinner = 'genxml' | 'gvt' | 'both';

/** One documented difference between genxml and GVT-g. */
export interface CommandDifference {
  readonly kind: DifferenceKind;
  /** The table's row name. */
  readonly command: string;
  /** GVT-g's name of the command, or null when GVT-g has no entry (`genxml-only`). */
  readonly gvtName: string | null;
  /** Engines concerned (`EngineMask` bits). */
  readonly engines: number;
  /** What genxml says. */
  readonly genxml: string;
  /** What GVT-g says. */
  readonly gvt: string;
  readonly wins: DifferenceWinner;
  readonly reason: string;
}

const { RCS, BCS, VCS, VECS, ALL } = EngineMask;
const NOT_RCS = BCS | VCS | VECS;

function d(
  kind: DifferenceKind, command: string, gvtName: string | null, engines: number, genxml: string, gvt: string,
  wins: DifferenceWinner, reason: string,
): CommandDifference {
  return Object.freeze({ kind, command, gvtName, engines, genxml, gvt, wins, reason });
}

const GVT_UNKNOWN = 'no entry (unknown command, -EBADRQC)';

function genxmlOnly(names: readonly string[], engines: number, reason: string): CommandDifference[] {
  return names.map((n) => d('genxml-only', n, null, engines, 'instruction', GVT_UNKNOWN, 'genxml', reason));
}

const VIDEO_ONLY_REASON =
  'a video (VDBOX) command of gen9.xml that GVT-g\'s VCS table lacks (Gen9 HEVC, HuC, VDEnc, SFC, VP8 and JPEG-encode ' +
  'commands): gvtkit decodes and audits it by its own rules (address-carrying ones are ppgtt-only: accepted only in ' +
  'a PPGTT context); GVT-g refuses the workload';

/** Every documented difference, by kind then name. */
export const COMMAND_DIFFERENCES: readonly CommandDifference[] = Object.freeze([
  // --- names -------------------------------------------------------------------------------------
  d('name', 'MI_STORE_URB_MEM', 'MI_STORE_URM_MEM', RCS, 'MI_STORE_URB_MEM', 'MI_STORE_URM_MEM', 'genxml',
    'same opcode (0x2d) and length rule; GVT-g\'s spelling (OP_MI_STORE_URM_MEM) is a typo of the PRM name'),
  d('name', 'MI_COPY_MEM_MEM', 'MI_OP_2E', ALL, 'MI_COPY_MEM_MEM', 'MI_OP_2E', 'genxml',
    'GVT-g leaves MI opcode 0x2e unnamed (OP_MI_2E); genxml names it'),
  d('name', 'MI_ATOMIC', 'MI_OP_2F', ALL, 'MI_ATOMIC', 'MI_OP_2F', 'genxml',
    'GVT-g leaves MI opcode 0x2f unnamed (OP_MI_2F); genxml names it, and its handler audits it as an atomic (data size in dword 0 bits 20:19)'),
  d('name', '3DSTATE_AA_LINE_PARAMETERS', '3DSTATE_AA_LINE_PARAMS', RCS, '3DSTATE_AA_LINE_PARAMETERS', '3DSTATE_AA_LINE_PARAMS', 'genxml',
    'same header 0x790a; genxml spells the name out'),
  d('name', 'GPGPU_CSR_BASE_ADDRESS', 'OP_3D_MEDIA_0_1_4', RCS, 'GPGPU_CSR_BASE_ADDRESS', 'OP_3D_MEDIA_0_1_4', 'genxml',
    'GVT-g leaves header 0x6104 unnamed (OP_3D_MEDIA(0, 1, 4)); genxml names it'),
  d('name', '3DSTATE_VF_COMPONENT_PACKING', '3DSTATE_COMPONENT_PACKING', RCS, '3DSTATE_VF_COMPONENT_PACKING', '3DSTATE_COMPONENT_PACKING', 'genxml',
    'same header 0x7855; genxml\'s name'),
  d('name', '3DSTATE_VF_STATISTICS', '3DSTATE_VF_STATISTICS_GM45', RCS | VCS | VECS, '3DSTATE_VF_STATISTICS', '3DSTATE_VF_STATISTICS_GM45', 'genxml',
    'header 0x680b is Gen9\'s 3DSTATE_VF_STATISTICS (genxml); GVT-g names it after the GM45 form and gives its own 3DSTATE_VF_STATISTICS to 0x780b'),
  d('name', '3DSTATE_VF_STATISTICS_780B', '3DSTATE_VF_STATISTICS', RCS, 'no instruction at 0x780b', '3DSTATE_VF_STATISTICS (OP_3D_MEDIA(3, 0, 0xb), 1 dword)', 'genxml',
    'GVT-g admits a one-dword 0x780b under the name genxml gives 0x680b; the table keeps the row (GVT-g admits it) under a name that says which header it is'),

  // --- engines -----------------------------------------------------------------------------------
  d('engine', 'MI_FLUSH_DW', 'MI_FLUSH_DW', RCS | BCS | VECS, 'video', 'R_ALL', 'gvt',
    'the flush of every non-render ring (the table already gave it BCS and VECS, as i915 emits it there); GVT-g also parses it on the render ring (cmd_handler_mi_flush_dw; cmd_interrupt_events has an RCS row, a reserved event), so RCS must know it to audit it as GVT-g does'),
  d('engine', 'MI_CLFLUSH', 'MI_CLFLUSH', NOT_RCS, 'render', 'R_ALL', 'gvt',
    'GVT-g refuses it on every ring with -EBADRQC (cmd_handler_mi_clflush): known on every engine, it gets that refusal and its 10-bit length instead of an unknown-command guess'),
  d('engine', 'MI_REPORT_PERF_COUNT', 'MI_REPORT_PERF_COUNT', NOT_RCS, 'render', 'R_ALL', 'gvt',
    'GVT-g refuses it on every ring with -EBADRQC (cmd_handler_mi_report_perf_count); known everywhere, with its 6-bit length'),
  d('engine', 'MI_TOPOLOGY_FILTER', 'MI_TOPOLOGY_FILTER', NOT_RCS, 'render', 'R_ALL', 'gvt',
    'GVT-g admits it (no handler) on every ring'),
  d('engine', 'MI_LOAD_SCAN_LINES_INCL', 'MI_LOAD_SCAN_LINES_INCL', BCS, 'render', 'R_RCS | R_BCS', 'gvt',
    'GVT-g admits it on the blitter too'),
  d('engine', '3DSTATE_VF_STATISTICS', '3DSTATE_VF_STATISTICS_GM45', VCS | VECS, 'render', 'R_ALL (found on RCS, VCS, VECS: BCS decodes no type-3 header)', 'gvt',
    'GVT-g admits the one-dword 0x680b on every ring that decodes type 3; the table knows it there'),

  // --- lengths -----------------------------------------------------------------------------------
  d('length', 'MI_LOAD_SCAN_LINES_INCL', 'MI_LOAD_SCAN_LINES_INCL', RCS | BCS, '(dw0 & 0x3f) + 2', 'F_LEN_CONST 2', 'both',
    'the hardware reads the 6-bit length field (genxml), GVT-g always steps 2 dwords: decoded by the field, admitted only at 2 dwords (validLength), so no admitted form makes the two walks part'),
  d('length', 'MFX_WAIT', 'MFX_WAIT', VCS, '(dw0 & 0x3f) + 1', 'F_LEN_VAR 6 bits: (dw0 & 0x3f) + 2', 'genxml',
    'MFX_WAIT has a bias of 1 (genxml; i915\'s own command parser, i915_cmd_parser.c, treats it as always one dword). With bias 2 GVT-g steps over the header of the command after a one-dword MFX_WAIT and audits that command\'s operands as headers'),

  // --- genxml only ---------------------------------------------------------------------------------
  ...genxmlOnly(['MI_PREDICATE'], BCS | VCS | VECS,
    'GVT-g lists MI_PREDICATE on R_RCS only; genxml on every engine: gvtkit admits it (no address, no register)'),
  ...genxmlOnly(['MI_FORCE_WAKEUP', 'MI_SET_CONTEXT'], ALL,
    'host-owned: gvtkit refuses it too (refused-command, a BAD_COMMAND fault, the class of GVT-g\'s -EBADRQC)'),
  ...genxmlOnly(['MI_LOAD_SCAN_LINES_EXCL'], RCS,
    'display scan-line load: gvtkit replaces it by MI_NOOP (no display is modelled)'),
  ...genxmlOnly(['3DSTATE_RS_CONSTANT_POINTER', '3DSTATE_URB_CLEAR', 'MEDIA_OBJECT_GRPID'], RCS,
    'Gen9 render state GVT-g\'s table lacks: gvtkit admits it by its rules (3DSTATE_RS_CONSTANT_POINTER\'s address is tabulated and checked)'),
  ...genxmlOnly([
    'HCP_BSD_OBJECT', 'HCP_FQM_STATE', 'HCP_IND_OBJ_BASE_ADDR_STATE', 'HCP_PAK_INSERT_OBJECT', 'HCP_PAK_OBJECT', 'HCP_PIC_STATE',
    'HCP_PIPE_BUF_ADDR_STATE', 'HCP_PIPE_MODE_SELECT', 'HCP_QM_STATE', 'HCP_REF_IDX_STATE', 'HCP_SLICE_STATE', 'HCP_SURFACE_STATE',
    'HCP_TILE_CODING', 'HCP_TILE_STATE', 'HCP_VP9_PIC_STATE', 'HCP_VP9_SEGMENT_STATE', 'HCP_WEIGHTOFFSET_STATE', 'HEVC_VP9_RDOQ_STATE',
    'HUC_CFG_STATE', 'HUC_DMEM_STATE', 'HUC_IMEM_STATE', 'HUC_IND_OBJ_BASE_ADDR_STATE', 'HUC_PIPE_MODE_SELECT', 'HUC_START',
    'HUC_STREAM_OBJECT', 'HUC_VIRTUAL_ADDR_STATE', 'MFC_JPEG_HUFF_TABLE_STATE', 'MFC_JPEG_SCAN_OBJECT', 'MFD_VP8_BSD_OBJECT',
    'MFX_DBK_OBJECT', 'MFX_MPEG_TS_CONTROL command', 'MFX_VP8_BSP_BUF_BASE_ADDR_STATE', 'MFX_VP8_ENCODER_CFG', 'MFX_VP8_PAK_OBJECT',
    'MFX_VP8_PIC_STATE', 'VDENC_CONST_QPT_STATE', 'VDENC_DS_REF_SURFACE_STATE', 'VDENC_IMG_STATE', 'VDENC_PIPE_BUF_ADDR_STATE',
    'VDENC_PIPE_MODE_SELECT', 'VDENC_REF_SURFACE_STATE', 'VDENC_SRC_SURFACE_STATE', 'VDENC_WALKER_STATE', 'VD_PIPELINE_FLUSH',
  ], VCS, VIDEO_ONLY_REASON),
  ...genxmlOnly([
    'SFC_AVS_CHROMA_COEFF_TABLE', 'SFC_AVS_LUMA_COEFF_TABLE', 'SFC_AVS_STATE', 'SFC_FRAME_START', 'SFC_IEF_STATE', 'SFC_LOCK', 'SFC_STATE',
  ], VCS | VECS, VIDEO_ONLY_REASON),
]);

/** GVT-g name -> table name, for the `name` differences. */
const TABLE_NAME_OF_GVT: ReadonlyMap<string, string> = new Map(
  COMMAND_DIFFERENCES.filter((x) => x.kind === 'name').map((x) => [x.gvtName!, x.command]),
);

/** The table's name for a GVT-g `cmd_info` name (the same name unless a `name` difference maps it). */
export function tableNameOfGvt(gvtName: string): string {
  return TABLE_NAME_OF_GVT.get(gvtName) ?? gvtName;
}

/** The documented difference of `kind` for `command`, if any. */
export function findDifference(kind: DifferenceKind, command: string): CommandDifference | undefined {
  return COMMAND_DIFFERENCES.find((x) => x.kind === kind && x.command === command);
}
