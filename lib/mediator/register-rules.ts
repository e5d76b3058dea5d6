/**
 * The registers a command may touch, and the special cases of a register write from a command,
 * as data derived from GVT-g (Linux v7.0 via strongtz/i915-sriov-dkms 2421d3f).
 *
 * - `GVT_SKL_CMD_ACCESS`: the dwords GVT-g marks F_CMD_ACCESS on Skylake, computed from the
 *   extracted registrations (`lib/device/gvt-registers.ts`, `gvt/handlers.c`) the way
 *   `setup_mmio_info` applies them (in order, the last registration of a dword wins).
 * - `REGISTER_DIFFERENCES`: every deliberate difference between gvtkit's whitelist
 *   (`defaultRegisterAllowed`) and that set, with its reason. `test/register-rules.test.ts`
 *   derives the expected whitelist from the GVT-g facts and these rows and compares.
 * - The LRI special cases of `gvt/cmd_parser.c` `cmd_reg_handler`: the ring's PDP0 pair (patched to
 *   the shadow root), the MOCS ranges (the vGPU's vreg takes the value), the F_CMD_WRITE_PATCH
 *   registers (the MMIO write handler decides the value: RING_MODE and FORCE_TO_NONPRIV), and the
 *   restore-inhibit context rule (GVT-g's F_SR_IN_CTX registers take the value into the vreg).
 * - GVT-g's SRM/LRM short list and LRR policy on Skylake (`cmd_reg_handler`).
 *
 * Run-time growth of GVT-g's set (`intel_gvt_update_reg_whitelist`: at the first vGPU's creation
 * GVT-g scans each engine's default context image, from dword RING_CTX_SIZE (0x50) of its
 * register state on, and marks every register an LRI there loads command-accessible, plus
 * F_CMD_WRITE_PATCH when it has a write handler) is modelled by `contextImageLriRegisters`: it
 * returns the registers such a scan would add. The images of this model's device carry nothing
 * beyond the ring context (dwords 0..0x4f, `lib/device/lrc.ts`), so on this device the scan adds
 * nothing and the static set is the whole set (checked by a test).
 */
import { GEN9_ENGINES, type EngineInfo } from '../device/engines.js';
import { GVT_FORCE_NONPRIV_WHITELIST, GVT_GEN9_IN_CONTEXT, GVT_SKL_MMIO_ROWS } from '../device/gvt-registers.js';
import { Bits, GEN9_REGISTERS, RING } from '../device/registers.js';
import { MMIO_SPACE_BYTES, RegFlag } from '../mmio/table.js';

// --- GVT-g's attributes ----------------------------------------------------------------------------

/** GVT-g's final attributes of each registered dword on Skylake (last registration wins). */
const GVT_ATTR: ReadonlyMap<number, (typeof GVT_SKL_MMIO_ROWS)[number]> = (() => {
  const m = new Map<number, (typeof GVT_SKL_MMIO_ROWS)[number]>();
  for (const r of GVT_SKL_MMIO_ROWS) for (let o = r.offset; o < r.offset + r.bytes; o += 4) m.set(o, r);
  return m;
})();

/** Dword offsets GVT-g marks F_CMD_ACCESS on Skylake (static registrations), ascending. */
export const GVT_SKL_CMD_ACCESS: readonly number[] = Object.freeze(
  [...GVT_ATTR].filter(([, r]) => r.flags.includes('F_CMD_ACCESS')).map(([o]) => o).sort((a, b) => a - b),
);

/** GVT-g's LRI handling of an F_CMD_WRITE_PATCH register, named by its MMIO write handler. */
export type WritePatchKind = 'ring-mode' | 'force-nonpriv';
/** Write handlers gvtkit models for F_CMD_WRITE_PATCH registers (handlers.c). */
const WRITE_PATCH_HANDLERS: Readonly<Record<string, WritePatchKind>> = { ring_mode_mmio_write: 'ring-mode', force_nonpriv_write: 'force-nonpriv' };

/** F_CMD_WRITE_PATCH dwords on Skylake and how gvtkit runs their handler. */
export const GVT_SKL_WRITE_PATCH: ReadonlyMap<number, WritePatchKind> = (() => {
  const m = new Map<number, WritePatchKind>();
  for (const [o, r] of GVT_ATTR) {
    if (!r.flags.includes('F_CMD_WRITE_PATCH')) continue;
    const kind = r.write !== null ? WRITE_PATCH_HANDLERS[r.write] : undefined;
    if (kind === undefined) throw new Error(`register-rules: no model of write handler ${String(r.write)} (F_CMD_WRITE_PATCH at 0x${o.toString(16)})`);
    m.set(o, kind);
  }
  return m;
})();

/** `is_mocs_mmio` (cmd_parser.c): an LRI into these ranges (inclusive) also sets the vGPU's vreg. */
export const GVT_MOCS_RANGES: readonly (readonly [number, number])[] = Object.freeze([[0xc800, 0xcff8], [0xb020, 0xb0a0]] as const);

/** `cmd_reg_handler`: the registers MI_STORE_REGISTER_MEM / MI_LOAD_REGISTER_MEM may name on Skylake. */
export const GVT_SKL_SRM_LRM: readonly number[] = Object.freeze([0xb118 /* GEN8_L3SQCREG4 */, 0x21f0]);

/** RING_FORCE_TO_NONPRIV values bits 25:2 name a register (`force_nonpriv_write`, REG_GENMASK(25, 2)). */
export const FORCE_NONPRIV_REG_MASK = 0x3fffffc;

const NONPRIV_OK = new Set(GVT_FORCE_NONPRIV_WHITELIST.map((w) => w.offset));

/**
 * GVT-g's `force_nonpriv_write`: a FORCE_TO_NONPRIV slot of `engine` takes `value` only when the
 * register it names (bits 25:2) is on force_nonpriv_white_list or is the engine's RING_NOPID.
 */
export function forceNonprivValueOk(value: number, engine: EngineInfo): boolean {
  const reg = value & FORCE_NONPRIV_REG_MASK;
  return NONPRIV_OK.has(reg) || reg === engine.mmioBase + RING.NOPID;
}

// --- per-dword special cases ------------------------------------------------------------------------

/** LRI special-case codes per dword (`lriCase`). */
export const LriCase = {
  NONE: 0,
  /** GEN8_RING_PDP_UDW(base, 0): the pair is patched to the shadow root. */
  PDP0_UDW: 1,
  /** GEN8_RING_PDP_LDW(base, 0): patched together with PDP0_UDW. */
  PDP0_LDW: 2,
  /** Any other PDP dword (PDP1..3): a guest-physical root the auditor cannot patch. */
  PDP_OTHER: 3,
  /** RING_MODE (GFX_MODE): `ring_mode_mmio_write` decides the value. */
  RING_MODE: 4,
  /** RING_FORCE_TO_NONPRIV: `force_nonpriv_write` decides the value. */
  FORCE_NONPRIV: 5,
} as const;

/** Flag bits per dword (`regBits`). */
const MOCS_VREG = 1;
const IN_CONTEXT = 2;

const CASE = new Uint8Array(MMIO_SPACE_BYTES >>> 2);
const BITS = new Uint8Array(MMIO_SPACE_BYTES >>> 2);
for (const e of GEN9_ENGINES) {
  const b = e.mmioBase + RING.PDP0_LDW;
  for (let o = b; o < b + 0x20; o += 4) CASE[o >>> 2] = LriCase.PDP_OTHER;
  CASE[b >>> 2] = LriCase.PDP0_LDW;
  CASE[(b + 4) >>> 2] = LriCase.PDP0_UDW;
}
for (const [o, kind] of GVT_SKL_WRITE_PATCH) CASE[o >>> 2] = kind === 'ring-mode' ? LriCase.RING_MODE : LriCase.FORCE_NONPRIV;
for (const [lo, hi] of GVT_MOCS_RANGES) for (let o = lo; o <= hi; o += 4) BITS[o >>> 2] |= MOCS_VREG;
for (const c of GVT_GEN9_IN_CONTEXT) BITS[c.offset >>> 2] |= IN_CONTEXT;

/** The LRI special case of register `offset` (`LriCase`), NONE outside the register space. */
export function lriCase(offset: number): number {
  return offset >= 0 && offset < MMIO_SPACE_BYTES ? CASE[offset >>> 2] : LriCase.NONE;
}

/** True inside GVT-g's MOCS ranges (`is_mocs_mmio`): an LRI value also goes to the vreg. */
export function isMocsVreg(offset: number): boolean {
  return offset >= 0 && offset < MMIO_SPACE_BYTES && (BITS[offset >>> 2] & MOCS_VREG) !== 0;
}

/**
 * True for GVT-g's F_SR_IN_CTX registers on Gen9 (gen9_engine_mmio_list, in_context): an LRI in a
 * restore-inhibit context (CTX_CONTEXT_CONTROL bit 0, GVT-g's `ctx_sr_ctl & 1`) also goes to the vreg.
 */
export function isInContextVreg(offset: number): boolean {
  return offset >= 0 && offset < MMIO_SPACE_BYTES && (BITS[offset >>> 2] & IN_CONTEXT) !== 0;
}

/** CTX_CONTEXT_CONTROL bit 0, CTX_CTRL_ENGINE_CTX_RESTORE_INHIBIT. */
export const CTX_RESTORE_INHIBIT = 1 << 0;

// --- RING_MODE ----------------------------------------------------------------------------------------

/** `_MASKED_BIT_ENABLE(1)`: the bit `ring_mode_mmio_write` removes from every write. */
export const RING_MODE_DROPPED = ((1 << 17) | (1 << 1)) >>> 0;

function maskedEnabled(value: number, bit: number): boolean {
  const both = ((bit << 16) | bit) >>> 0;
  return ((value & both) >>> 0) === both;
}

/**
 * GVT-g's `ring_mode_mmio_write` rules on Skylake, for an MMIO write and for an LRI alike: why the
 * vGPU must enter failsafe (GVT_FAILSAFE_UNSUPPORTED_GUEST), or null. Bit 1 enabled is never
 * supported; enabling PPGTT or execlists before any PVINFO read marks a guest that is not GVT-aware.
 * The value written is `value & ~RING_MODE_DROPPED` either way.
 */
export function ringModeFailsafe(value: number, gvtAware: boolean): string | null {
  if (maskedEnabled(value, 1 << 1)) return 'RING_MODE bit 1 enabled: not supported';
  if (!gvtAware && (maskedEnabled(value, Bits.GFX_PPGTT_ENABLE) || maskedEnabled(value, Bits.GFX_RUN_LIST_ENABLE))) {
    return 'PPGTT or execlists enabled before PVINFO was read: not a GVT-aware guest';
  }
  return null;
}

// --- differences ----------------------------------------------------------------------------------------

/** Where a difference applies. */
export type DifferenceScope =
  /** From every engine. */
  | 'all-engines'
  /** Only when the register belongs to an engine other than the one running the command. */
  | 'other-engines'
  /** Only from the engine that owns the register. */
  | 'own-engine';

/** One deliberate difference between gvtkit's command whitelist and GVT-g's F_CMD_ACCESS set. */
export interface RegisterDifference {
  readonly id: string;
  /** 'refused': GVT-g accepts, gvtkit refuses. 'added': gvtkit accepts, GVT-g refuses. */
  readonly kind: 'refused' | 'added';
  /** Dword ranges [first, last] (inclusive). */
  readonly ranges: readonly (readonly [number, number])[];
  readonly scope: DifferenceScope;
  readonly reason: string;
}

function engineRanges(rel: number, bytes: number): [number, number][] {
  return GEN9_ENGINES.map((e) => [e.mmioBase + rel, e.mmioBase + rel + bytes - 4]);
}

/** The deliberate differences (see docs/registers.md). */
export const REGISTER_DIFFERENCES: readonly RegisterDifference[] = Object.freeze([
  {
    id: 'engine-ownership',
    kind: 'refused',
    ranges: [...GEN9_ENGINES.map((e): [number, number] => [e.mmioBase, e.mmioBase + 0xffc]), ...GEN9_ENGINES.map((e): [number, number] => [e.mocsBase, e.mocsBase + 0xfc])],
    scope: 'other-engines',
    reason:
      'a command may name only registers of its own engine (its 4 KiB register page and its MOCS table) or of no engine: ' +
      'a workload on one engine reprogramming another engine (its ring, mode, PDPs or MOCS) breaks that engine\'s isolation ' +
      'between vGPUs; GVT-g accepts any engine\'s command-accessible register from any ring',
  },
  {
    id: 'mocs-beyond-skylake',
    kind: 'refused',
    ranges: [[0xcd00, 0xcff4]],
    scope: 'all-engines',
    reason:
      'GVT-g registers GEN9_GFX_MOCS(0) with 0x7f8 bytes; past the five Skylake engine tables (0xc800-0xccfc) no Skylake ' +
      'engine has a MOCS table (intel_mocs.c mocs_offset) and the model defines no register there',
  },
  {
    id: 'cs-gprs',
    kind: 'added',
    ranges: engineRanges(RING.GPR0, 0x80),
    scope: 'own-engine',
    reason:
      'the 16 CS general-purpose registers (GEN8_RING_CS_GPR): Mesa loads and stores them in batches (MI_MATH, queries, ' +
      'indirect draws); i915_cmd_parser.c whitelists them and GVT-g marks them on Broxton (init_bxt_mmio_info), not on Skylake',
  },
  {
    id: 'predicate-sources',
    kind: 'added',
    ranges: [[0x2400, 0x240c]],
    scope: 'own-engine',
    reason: 'MI_PREDICATE_SRC0/1: conditional rendering in Mesa; on i915_cmd_parser.c\'s render whitelist',
  },
  {
    id: '3dprim-base-vertex',
    kind: 'added',
    ranges: [[0x2440, 0x2440]],
    scope: 'own-engine',
    reason: 'GEN7_3DPRIM_BASE_VERTEX: indirect draws; GVT-g has the other 3DPRIM_* registers (0x2420-0x243c)',
  },
  {
    id: 'gpgpu-dispatch-dims',
    kind: 'added',
    ranges: [[0x2500, 0x2508]],
    scope: 'own-engine',
    reason: 'GPGPU_DISPATCHDIMX/Y/Z: indirect compute dispatch; on i915_cmd_parser.c\'s render whitelist',
  },
] satisfies RegisterDifference[]);

/** True when difference `d` covers register `offset` for a command on `engine` (`owner` = owning engine id or -1). */
export function differenceApplies(d: RegisterDifference, offset: number, engine: EngineInfo, owner: number): boolean {
  if (!d.ranges.some(([lo, hi]) => offset >= lo && offset <= hi)) return false;
  if (d.scope === 'all-engines') return true;
  if (d.scope === 'other-engines') return owner >= 0 && owner !== engine.id;
  return owner === engine.id;
}

// --- default context images -----------------------------------------------------------------------------

/** RING_CTX_SIZE: the ring-context dwords GVT-g's init-context scan skips (cmd_parser.c). */
export const RING_CTX_DWORDS = 0x50;

/**
 * The registers GVT-g's `intel_gvt_update_reg_whitelist` would mark command-accessible from a
 * default context image: `regState` is the image's register-state page (page 1 on), read as
 * dwords; every MI_LOAD_REGISTER_IMM from dword RING_CTX_SIZE on contributes its registers (the
 * scan stops at the first dword that is neither an LRI header nor MI_NOOP, or at the end).
 */
export function contextImageLriRegisters(regState: Uint32Array): number[] {
  const out: number[] = [];
  let i = RING_CTX_DWORDS;
  while (i < regState.length) {
    const dw = regState[i] >>> 0;
    if (dw === 0) {
      i++;
      continue;
    }
    if ((dw >>> 23) !== 0x22) break;
    const len = (dw & 0xff) + 2;
    for (let k = i + 1; k + 1 < i + len && k < regState.length; k += 2) out.push(regState[k] & 0x7ffffc);
    i += len;
  }
  return out;
}

/** The current whitelist bit of a register in the compiled table (for tests and tools). */
export function tableCmdAccess(offset: number): boolean {
  return offset >= 0 && offset < MMIO_SPACE_BYTES && (GEN9_REGISTERS.flags[offset >>> 2] & RegFlag.CMD_ACCESS) !== 0;
}
