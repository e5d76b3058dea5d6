/**
 * The command auditor's rules, as data, and the checks they share.
 *
 * Every refusal names one rule (a stable name and a `GuestFaultCode`). The mapping of codes follows
 * GVT-g's errno classes (`gvt/cmd_parser.c`: EBADRQC for an unknown command, EFAULT for a bad
 * address, EPERM for a privileged access), which feed the vGPU's health and failsafe.
 *
 * The register whitelist is the register table itself: a command may name a register only when
 * `GEN9_REGISTERS` marks it `RegFlag.CMD_ACCESS` (GVT-g `F_CMD_ACCESS`, `cmd_reg_handler`), and
 * only when the register belongs to the engine that runs the command or to no engine at all
 * (GVT-g looks engines up by register page the same way: `intel_gvt_render_mmio_to_engine`).
 */
import type { GuestFaultCode } from '../errors.js';
import { GEN9_ENGINES, type EngineInfo } from '../device/engines.js';
import { GEN9_REGISTERS, RING } from '../device/registers.js';
import type { GmSlices } from '../gtt/partition.js';
import { MMIO_SPACE_BYTES, RegFlag } from '../mmio/table.js';

/** Stable names of the audit rules. */
export type AuditRuleName =
  | 'register-whitelist'
  | 'address-bounds'
  | 'privileged-command'
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
}

/** Every rule of the auditor. A refusal always names one of these. */
export const AUDIT_RULES: readonly AuditRule[] = Object.freeze([
  {
    name: 'register-whitelist',
    code: 'PRIVILEGED',
    description:
      'MI_LOAD_REGISTER_IMM (every pair), _MEM, _REG (both operands), MI_STORE_REGISTER_MEM and the PIPE_CONTROL ' +
      'LRI post-sync name only registers marked CMD_ACCESS that belong to the running engine or to no engine; ' +
      'registers whose value the auditor cannot check (PDPs, FORCE_TO_NONPRIV from memory) are refused',
  },
  {
    name: 'address-bounds',
    code: 'BAD_ADDRESS',
    description:
      'every GGTT graphics address [gma, gma + size) lies inside the vGPU\'s graphics memory (size up to ' +
      'maxSurfaceBytes) and translates contiguously; command and batch memory is mapped',
  },
  {
    name: 'privileged-command',
    code: 'PRIVILEGED',
    description:
      'commands GVT-g refuses outright, host-owned commands, privileged-only commands and GGTT accesses from a ' +
      'non-privileged (PPGTT) batch',
  },
  { name: 'unknown-command', code: 'BAD_COMMAND', description: 'a header no command of this engine matches' },
  {
    name: 'malformed-command',
    code: 'BAD_COMMAND',
    description:
      'a command cut by the end of its buffer, a length its operands do not fit, or a form the auditor cannot ' +
      'follow (MI_BATCH_BUFFER_END in the ring, a predicated or offset-added batch start)',
  },
  {
    name: 'batch-depth',
    code: 'LIMIT',
    description: 'a second-level start from the ring, or any batch start inside a second-level batch',
  },
  {
    name: 'batch-loop',
    code: 'LIMIT',
    description: 'a chain of batches that starts the same address twice, or is longer than maxChainLength',
  },
  {
    name: 'command-budget',
    code: 'LIMIT',
    description: 'more than maxCommands commands, maxBatches batches or maxWorkloadBytes bytes in one workload',
  },
  { name: 'batch-size', code: 'LIMIT', description: 'a batch longer than maxBatchBytes' },
  {
    name: 'ring-bounds',
    code: 'BAD_ADDRESS',
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
