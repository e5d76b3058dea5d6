/**
 * The command auditor's rules, as data, and the checks they share.
 *
 * Every refusal names one rule (a stable name and a `GuestFaultCode`). The mapping of codes follows
 * GVT-g's errno classes (`gvt/cmd_parser.c`: EBADRQC for an unknown command, EFAULT for a bad
 * address, EPERM for a privileged access), which feed the vGPU's health: GVT-g puts a vGPU whose
 * scan failed with -EBADRQC or -EFAULT in failsafe (`vgpu_is_vm_unhealthy`, `gvt/gvt.h`; called
 * from `gvt/scheduler.c`), and only rejects the workload for -EPERM or -EINVAL. Our codes carry the
 * same split (`BAD_COMMAND` ~ EBADRQC, `BAD_ADDRESS` ~ EFAULT: failsafe under the mediator's
 * 'gvt-g' policy; `PRIVILEGED` ~ EPERM and `LIMIT`: the workload only). Each rule's `gvt` says
 * what GVT-g answers for the same refusal, and `docs/commands.md` tabulates it.
 *
 * The register whitelist is the register table itself: a command may name a register only when
 * `GEN9_REGISTERS` marks it `RegFlag.CMD_ACCESS` (GVT-g `F_CMD_ACCESS`, `cmd_reg_handler`), and
 * only when the register belongs to the engine that runs the command or to no engine at all
 * (engines are looked up by register page as GVT-g's `intel_gvt_render_mmio_to_engine` does; the
 * ownership rule itself is gvtkit's). Its agreement with GVT-g, the listed differences and the
 * LRI special cases live in `register-rules.ts` (docs/registers.md).
 */
import type { GuestFaultCode } from '../errors.js';
import { GEN9_ENGINES, type EngineInfo } from '../device/engines.js';
import { GEN9_REGISTERS, RING } from '../device/registers.js';
import type { GmSlices } from '../gtt/partition.js';
import { MMIO_SPACE_BYTES, RegFlag } from '../mmio/table.js';

/** Stable names of the audit rules. */
export type AuditRuleName =
  | 'register-range'
  | 'register-whitelist'
  | 'register-privileged'
  | 'register-value'
  | 'unsupported-guest'
  | 'address-bounds'
  | 'privileged-command'
  | 'refused-command'
  | 'unknown-command'
  | 'malformed-command'
  | 'batch-depth'
  | 'batch-loop'
  | 'command-budget'
  | 'batch-size'
  | 'ring-bounds';

/** One audit rule: its name, the guest-fault code it records, and what it refuses. */
export interface AuditRule {
  readonly name: AuditRuleName;
  readonly code: GuestFaultCode;
  readonly description: string;
  /** What GVT-g returns for the same refusal, and whether that makes the vGPU unhealthy. */
  readonly gvt: string;
  /**
   * True when GVT-g's answer is -EBADRQC or -EFAULT (`vgpu_is_vm_unhealthy`: the vGPU goes to
   * failsafe), false for -EPERM or -EINVAL (the workload only), null when GVT-g has no such check.
   * `code` agrees: BAD_COMMAND and BAD_ADDRESS exactly when true (the mediator's 'gvt-g' policy).
   */
  readonly gvtUnhealthy: boolean | null;
}

/** Every rule of the auditor. A refusal always names one of these. */
export const AUDIT_RULES: readonly AuditRule[] = Object.freeze([
  {
    name: 'register-range',
    gvtUnhealthy: true,
    code: 'BAD_ADDRESS',
    gvt: '-EFAULT (cmd_reg_handler: offset beyond the MMIO space): failsafe',
    description:
      'a register operand (dword & bits 22:2) beyond the 2 MiB register space (GVT-g cmd_reg_handler: EFAULT)',
  },
  {
    name: 'register-whitelist',
    gvtUnhealthy: true,
    // GVT-g cmd_reg_handler: a register without F_CMD_ACCESS is -EBADRQC (failsafe).
    code: 'BAD_COMMAND',
    gvt: '-EBADRQC (cmd_reg_handler: the register is not F_CMD_ACCESS): failsafe',
    description:
      'MI_LOAD_REGISTER_IMM (every pair), _MEM, _REG (both operands), MI_STORE_REGISTER_MEM and the PIPE_CONTROL ' +
      'LRI post-sync name only registers marked CMD_ACCESS (GVT-g F_CMD_ACCESS; cmd_reg_handler: EBADRQC)',
  },
  {
    name: 'register-privileged',
    gvtUnhealthy: false,
    code: 'PRIVILEGED',
    gvt:
      '-EPERM for SRM/LRM off its short list and every LRR on Skylake (reject only); another engine\'s register and ' +
      'unauditable values loaded from memory or a register are gvtkit\'s own refusals in the same class',
    description:
      'a command-accessible register refused all the same (GVT-g EPERM class): another engine\'s register, ' +
      'SRM/LRM outside GVT-g\'s short list and any LRR under the strict policy, and a register whose value must be ' +
      'audited (PDPs, FORCE_TO_NONPRIV, RING_MODE, GGTT addresses) loaded from memory or from a register',
  },
  {
    name: 'register-value',
    gvtUnhealthy: false,
    code: 'BAD_VALUE',
    gvt: '-EINVAL (cmd_pdp_mmio_update_handler: no shadow mm for the guest root): the workload only',
    description:
      'an LRI to the ring\'s page-directory pointers that cannot be patched to a shadow root: no shadow PPGTT for ' +
      'the guest root, a context without a 4-level PPGTT, or a PDP dword outside the PDP0 upper/lower pair ' +
      '(GVT-g cmd_pdp_mmio_update_handler: EINVAL)',
  },
  {
    name: 'unsupported-guest',
    gvtUnhealthy: true,
    code: 'BAD_COMMAND',
    gvt: 'enter_failsafe_mode(GVT_FAILSAFE_UNSUPPORTED_GUEST) from ring_mode_mmio_write: failsafe',
    description:
      'an LRI to RING_MODE that GVT-g\'s ring_mode_mmio_write answers with failsafe (GVT_FAILSAFE_UNSUPPORTED_GUEST): ' +
      'bit 1 enabled, or PPGTT / execlists enabled before the guest read PVINFO',
  },
  {
    name: 'address-bounds',
    gvtUnhealthy: true,
    code: 'BAD_ADDRESS',
    gvt: '-EFAULT (cmd_address_audit, copy_gma_to_hva): failsafe',
    description:
      'every GGTT graphics address [gma, gma + size) lies inside the vGPU\'s graphics memory (size up to ' +
      'maxSurfaceBytes) and translates contiguously (an MI_DISPLAY_FLIP surface: its first page); command and batch ' +
      'memory is mapped',
  },
  {
    name: 'privileged-command',
    gvtUnhealthy: null,
    code: 'PRIVILEGED',
    gvt:
      'no counterpart (GVT-g does not scan non-privileged batches unless scan_nonprivbb, and admits MI_ARB_ON_OFF, ' +
      'MI_SUSPEND_FLUSH and MI_DISPLAY_FLIP): gvtkit\'s own refusal, the workload only',
    description:
      'privileged-only commands and GGTT accesses from a non-privileged (PPGTT) batch (an MI_DISPLAY_FLIP surface ' +
      'included: it is a GGTT address), and commands refused by a decisions option',
  },
  {
    name: 'refused-command',
    gvtUnhealthy: true,
    code: 'BAD_COMMAND',
    gvt: '-EBADRQC (unexpected_cmd, or no cmd_info entry for a host-owned command): failsafe',
    description:
      'commands GVT-g\'s handlers refuse outright (MI_SEMAPHORE_WAIT, MI_REPORT_PERF_COUNT, MI_STORE_DATA_INDEX, ' +
      'MI_CLFLUSH, MI_CONDITIONAL_BATCH_BUFFER_END, MI_UPDATE_GTT, MI opcode 0x2e) and host-owned commands GVT-g\'s ' +
      'table lacks (MI_SET_CONTEXT, MI_FORCE_WAKEUP)',
  },
  {
    name: 'unknown-command',
    gvtUnhealthy: true,
    code: 'BAD_COMMAND',
    gvt: '-EBADRQC (cmd_parser_exec, find_bb_size: no cmd_info entry on the ring): failsafe',
    description: 'a header no command of this engine matches',
  },
  {
    name: 'malformed-command',
    gvtUnhealthy: true,
    code: 'BAD_COMMAND',
    gvt:
      '-EFAULT for a length other than an F_LEN_VAR_FIXED command\'s valid_len or a handler\'s (MI_FLUSH_DW, ' +
      'MI_STORE_DATA_IMM, MI_DISPLAY_FLIP), -EBADRQC for an MI_DISPLAY_FLIP plane select it cannot decode: failsafe. ' +
      'gvtkit\'s other forms (LRI not in pairs, MI_BATCH_BUFFER_END in the ring, predicated batch starts, a stereo 3D ' +
      'or reserved flip type) are its own, failsafe as GVT-g\'s length refusals',
    description:
      'a command cut by the end of its buffer, a length its operands do not fit, or a form the auditor cannot ' +
      'follow (MI_BATCH_BUFFER_END in the ring, a predicated or offset-added batch start, an MI_DISPLAY_FLIP ' +
      'with a reserved plane select (GVT-g -EBADRQC), flip type or length)',
  },
  {
    name: 'batch-depth',
    gvtUnhealthy: true,
    // GVT-g cmd_handler_mi_batch_buffer_start returns -EFAULT for both forms (failsafe).
    code: 'BAD_ADDRESS',
    gvt: '-EFAULT (cmd_handler_mi_batch_buffer_start): failsafe',
    description: 'a second-level start from the ring, or any batch start inside a second-level batch',
  },
  {
    name: 'batch-loop',
    gvtUnhealthy: null,
    code: 'LIMIT',
    gvt: 'no counterpart (GVT-g follows a chain without a bound): gvtkit\'s own limit, the workload only',
    description: 'a chain of batches that starts the same address twice, or is longer than maxChainLength',
  },
  {
    name: 'command-budget',
    gvtUnhealthy: null,
    code: 'LIMIT',
    gvt: 'no counterpart (MAX_CMD_BUDGET is defined but unused): gvtkit\'s own limit, the workload only',
    description: 'more than maxCommands commands, maxBatches batches or maxWorkloadBytes bytes in one workload',
  },
  {
    name: 'batch-size',
    gvtUnhealthy: null,
    code: 'LIMIT',
    gvt: 'no counterpart (find_bb_size walks to the batch end): gvtkit\'s own limit, the workload only',
    description: 'a batch longer than maxBatchBytes',
  },
  {
    name: 'ring-bounds',
    gvtUnhealthy: true,
    code: 'BAD_ADDRESS',
    gvt: '-EFAULT for an instruction pointer outside the ring (command_scan), -EINVAL for a misaligned ring start (scan_workload): gvtkit answers both as EFAULT (failsafe)',
    description:
      'the ring is empty, not page sized and aligned, larger than 2 MiB, outside the vGPU\'s graphics memory, or ' +
      'its head or tail lies outside it or is misaligned',
  },
] satisfies AuditRule[]);

/** Guest-fault code of a rule. */
export const RULE_CODE: Readonly<Record<AuditRuleName, GuestFaultCode>> = Object.freeze(
  Object.fromEntries(AUDIT_RULES.map((r) => [r.name, r.code])) as Record<AuditRuleName, GuestFaultCode>,
);

// --- register ownership -----------------------------------------------------------------------------

/** Granularity of the owner map: MOCS tables are 256 bytes (64 registers). */
const OWNER_SHIFT = 8;
/**
 * Engine id owning each 256-byte block of the register space, -1 for global registers. Engine
 * register pages are 4 KiB at the engine's MMIO base; each engine also owns its 64-entry MOCS
 * table (`EngineInfo.mocsBase`, GVT-g `gvt/mmio_context.c`).
 */
const OWNER = ((): Int8Array => {
  const owner = new Int8Array(MMIO_SPACE_BYTES >>> OWNER_SHIFT).fill(-1);
  for (const e of GEN9_ENGINES) {
    owner.fill(e.id, e.mmioBase >>> OWNER_SHIFT, (e.mmioBase + 0x1000) >>> OWNER_SHIFT);
    owner[e.mocsBase >>> OWNER_SHIFT] = e.id;
  }
  return owner;
})();

/** Engine id that owns the register at `offset` (its register page or MOCS table), -1 when global. */
export function registerOwner(offset: number): number {
  return offset >= 0 && offset < MMIO_SPACE_BYTES ? OWNER[offset >>> OWNER_SHIFT] : -1;
}

const REG_FLAGS = GEN9_REGISTERS.flags;
const CMD_ACCESS = RegFlag.CMD_ACCESS;

/**
 * The default register whitelist: `offset` is marked `CMD_ACCESS` in `GEN9_REGISTERS` and belongs
 * to `engine` or to no engine (a register of another engine's block is refused). This is what
 * `AuditEnv.registerAllowed` answers when the environment does not supply its own policy.
 */
export function defaultRegisterAllowed(offset: number, engine: EngineInfo): boolean {
  if (!(offset >= 0 && offset < MMIO_SPACE_BYTES) || (offset & 3) !== 0) return false;
  if ((REG_FLAGS[offset >>> 2] & CMD_ACCESS) === 0) return false;
  const owner = OWNER[offset >>> OWNER_SHIFT];
  return owner < 0 || owner === engine.id;
}

/** GVT-g's short list for MI_STORE_REGISTER_MEM / MI_LOAD_REGISTER_MEM (`RegFlag.CMD_SRM_LRM`). */
export function srmLrmShortListed(offset: number): boolean {
  return offset >= 0 && offset < MMIO_SPACE_BYTES && (REG_FLAGS[offset >>> 2] & RegFlag.CMD_SRM_LRM) !== 0;
}

/** True when the register's value is a graphics address (`RegFlag.GMADR`): an LRI value to audit and patch. */
export function registerHoldsAddress(offset: number): boolean {
  return offset >= 0 && offset < MMIO_SPACE_BYTES && (REG_FLAGS[offset >>> 2] & RegFlag.GMADR) !== 0;
}

/** Offset of RING_FORCE_TO_NONPRIV[0] inside an engine page; 12 slots (GVT-g `is_force_nonpriv_mmio`). */
const FORCE_NONPRIV = 0x4d0;
const FORCE_NONPRIV_END = 0x500;

/**
 * RING_FORCE_TO_NONPRIV slots of any engine: each names a register that non-privileged batches may
 * then write, so the value written is itself a register offset to audit.
 */
export function isForceNonpriv(offset: number): boolean {
  const inPage = offset & 0xfff;
  return registerOwner(offset) >= 0 && inPage >= FORCE_NONPRIV && inPage < FORCE_NONPRIV_END;
}

/**
 * The ring's page-directory pointers (GEN8_RING_PDP_LDW/UDW, engine base + 0x270..0x28c). Their
 * values are guest-physical page-table roots; GVT-g rewrites them to the shadow PPGTT's roots
 * (`cmd_pdp_mmio_update_handler`). The auditor refuses commands that write them.
 */
export function isPdpRegister(offset: number): boolean {
  const inPage = offset & 0xfff;
  return registerOwner(offset) >= 0 && inPage >= RING.PDP0_LDW && inPage < RING.PDP0_LDW + 0x20;
}

/** RING_NOPID of an engine: GVT-g's neutral value for a FORCE_TO_NONPRIV slot. */
export function nopidOf(engine: EngineInfo): number {
  return engine.mmioBase + RING.NOPID;
}

// --- graphics memory ------------------------------------------------------------------------------

/** GVT-g's largest surface a command may address (`device_info.max_surface_size`, 36 MiB). */
export const GVT_MAX_SURFACE_BYTES = 36 * 1024 * 1024;

/**
 * True when [gma, gma + bytes) lies inside one of the vGPU's two slices: the check GVT-g's
 * `intel_gvt_ggtt_validate_range` makes. A ready-made `AuditEnv.ggttAddressOk` for mediators.
 */
export function rangeInSlices(slices: GmSlices, gma: number, bytes: number): boolean {
  if (!(gma >= 0) || !(bytes >= 0)) return false;
  const end = gma + bytes;
  return (gma >= slices.lowBase && end <= slices.lowBase + slices.lowSize) ||
    (gma >= slices.highBase && end <= slices.highBase + slices.highSize);
}

// The byte range and work of an XY blit are described once, in lib/device/commands/effects.ts
// (`effectsOf`, `blitRange`, `effectWork`), for the auditor and the device alike.
