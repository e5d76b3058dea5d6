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
    name: 'register-range',
    code: 'BAD_ADDRESS',
    description:
      'a register operand (dword & bits 22:2) beyond the 2 MiB register space (GVT-g cmd_reg_handler: EFAULT)',
  },
  {
    name: 'register-whitelist',
    code: 'BAD_COMMAND',
    description:
      'MI_LOAD_REGISTER_IMM (every pair), _MEM, _REG (both operands), MI_STORE_REGISTER_MEM and the PIPE_CONTROL ' +
      'LRI post-sync name only registers marked CMD_ACCESS (GVT-g F_CMD_ACCESS; cmd_reg_handler: EBADRQC)',
  },
  {
    name: 'register-privileged',
    code: 'PRIVILEGED',
    description:
      'a command-accessible register refused all the same (GVT-g EPERM class): another engine\'s register, ' +
      'SRM/LRM outside GVT-g\'s short list and any LRR under the strict policy, and a register whose value must be ' +
      'audited (PDPs, FORCE_TO_NONPRIV, RING_MODE, GGTT addresses) loaded from memory or from a register',
  },
  {
    name: 'register-value',
    code: 'BAD_VALUE',
    description:
      'an LRI to the ring\'s page-directory pointers that cannot be patched to a shadow root: no shadow PPGTT for ' +
      'the guest root, a context without a 4-level PPGTT, or a PDP dword outside the PDP0 upper/lower pair ' +
      '(GVT-g cmd_pdp_mmio_update_handler: EINVAL)',
  },
  {
    name: 'unsupported-guest',
    code: 'BAD_COMMAND',
    description:
      'an LRI to RING_MODE that GVT-g\'s ring_mode_mmio_write answers with failsafe (GVT_FAILSAFE_UNSUPPORTED_GUEST): ' +
      'bit 1 enabled, or PPGTT / execlists enabled before the guest read PVINFO',
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

/** Bytes per pixel of the blitter's BR13 color depth (0 8 bpp, 1 565, 2 1555, 3 32 bpp). */
const BLT_CPP = [1, 2, 2, 4];

/** Signed 16-bit value. */
function int16(v: number): number {
  return (v << 16) >> 16;
}

/**
 * Byte range an XY blit touches, relative to its base address, written to `out` as [lo, hi):
 * rows `y1 .. y2 - 1` at `pitch` (signed; in dwords for tiled surfaces) from column `x1` to `x2`.
 * `pitchDword`, `tiledBit` and `originDword` select the surface: the destination of XY_COLOR_BLT
 * and XY_SRC_COPY_BLT uses BR13 (dword 1) with its rectangle (dwords 2, 3); the source of
 * XY_SRC_COPY_BLT its own origin (dword 6) and pitch (dword 7) with the destination's size. The
 * device walks rows the same way (`lib/device/executor.ts`). Returns false for an empty rectangle
 * (the device touches no memory).
 */
export function bltExtent(buf: Uint32Array, i: number, source: boolean, out: Float64Array): boolean {
  const dw0 = buf[i];
  const br13 = buf[i + 1];
  const cpp = BLT_CPP[(br13 >>> 24) & 3];
  const x1 = buf[i + 2] & 0xffff, y1 = buf[i + 2] >>> 16;
  const x2 = buf[i + 3] & 0xffff, y2 = buf[i + 3] >>> 16;
  if (x2 <= x1 || y2 <= y1) return false;
  const rowBytes = (x2 - x1) * cpp;
  const rows = y2 - y1;
  let pitch: number, x0: number, y0: number;
  if (source) {
    pitch = int16(buf[i + 7] & 0xffff);
    if ((dw0 & (1 << 15)) !== 0) pitch *= 4;
    x0 = buf[i + 6] & 0xffff;
    y0 = buf[i + 6] >>> 16;
  } else {
    pitch = int16(br13 & 0xffff);
    if ((dw0 & (1 << 11)) !== 0) pitch *= 4;
    x0 = x1;
    y0 = y1;
  }
  const first = y0 * pitch;
  const last = (y0 + rows - 1) * pitch;
  out[0] = Math.min(first, last) + x0 * cpp;
  out[1] = Math.max(first, last) + x0 * cpp + rowBytes;
  return true;
}
