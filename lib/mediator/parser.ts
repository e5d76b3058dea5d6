/**
 * `CommandParser`: the command scan every guest workload passes before the GPU may run it, and the
 * shadow copies the device runs instead of the guest's buffers.
 *
 * One `scan(ring, env)`:
 * 1. copies the ring segment head..tail (a circular buffer of `size` bytes at `base`) through the
 *    vGPU's GGTT into the ring shadow, unwrapped: a command cut by the ring's end continues at its
 *    start, exactly as the command streamer fetches it, and is decoded across the wrap;
 * 2. decodes the copy with the Gen9 tables (`CommandDecoder`) and applies the audit table
 *    (`AUDIT_TABLE`) to every command: register whitelist, graphics-address bounds, privileged
 *    commands; GGTT addresses are rewritten to host addresses in the copy, MI_USER_INTERRUPT and
 *    display waits become MI_NOOP, and so does MI_DISPLAY_FLIP once its surface is checked (its
 *    flip is recorded in `AuditResult.flips` for the vGPU's virtual display);
 * 3. follows each MI_BATCH_BUFFER_START (GGTT or PPGTT by bit 8; second level by bit 22; a start
 *    without bit 22 inside a batch chains, replacing the current batch) into a new shadow buffer,
 *    copied page by page as the scan reaches it and audited the same way, to its
 *    MI_BATCH_BUFFER_END (or its chaining start).
 * Copy-then-audit: guest bytes are read once, into the shadow; everything after reads the copy, so
 * a guest rewriting its buffers during or after the scan changes nothing the device runs (GVT-g
 * `shadow_workload_ring_buffer` then `scan_workload`; GVT-g runs non-privileged batches from the
 * guest's own pages, gvtkit never does).
 *
 * Where shadows live, and the two phases: the scan cannot know where the mediator will place the
 * shadows, so every MI_BATCH_BUFFER_START in a shadow is switched to GGTT (bit 8 cleared) and
 * recorded; after the scan the mediator maps each shadow buffer into the host's reserved GGTT range
 * and calls `relocate(hostGmas)` with their host graphics addresses, which writes the target
 * shadow's address into each recorded start. The ring shadow (index 0) is the segment the mediator
 * copies into the host ring. A batch the guest started through its PPGTT thus runs from a GGTT
 * (privileged) shadow; the privilege it gains is unused, because the scan applied the
 * non-privileged rules to it (no GGTT accesses, no privileged-only commands).
 *
 * Effects: what each command reads and writes is `effectsOf` (lib/device/commands/effects.ts), the
 * description the device executes; `checkEffects` checks and patches exactly those effects and
 * refuses a command the table cannot describe (e.g. PIPE_CONTROL's LRI post-sync bit 23 with a
 * post-sync operation). Work (a blit's rows × row bytes whatever its pitch) is bounded per command
 * and per workload (`maxCommandWorkBytes`, `maxWorkloadWorkBytes`, rule `command-budget`).
 *
 * Address spaces: GGTT addresses (a header bit, or a context-relative field in a context without a
 * PPGTT) are checked ([gma, gma + size) inside the vGPU's memory via `env.ggttAddressOk`, size up to
 * `maxSurfaceBytes`, every page translating by the same offset) and patched. PPGTT addresses are
 * accepted unchecked: the shadow PPGTT maps only frames the guest owns (lib/gtt `ShadowPpgtt`), so a
 * PPGTT address cannot reach another vGPU's or the host's memory. 3D and media state addresses
 * carry no extent in the command; in a GGTT context only their first dword is checked (GVT-g audits
 * none of them; its guests run PPGTT contexts, where they are PPGTT addresses).
 *
 * Guest input never throws: a violation stops the scan and is returned as a record with a named
 * rule (`AUDIT_RULES`) and a `GuestFaultCode`. Misuse by the host (bad options, a bad `relocate`
 * argument) throws.
 *
 * Buffers and the result object are reused across scans (allocation only when a buffer must grow),
 * so a result and its shadows are valid until the next `scan`.
 */
import { checkOptions, optionKeys } from '../validate.js';
import createDebug from 'debug';
import { ConfigError, RangeArgError, type GuestFaultCode } from '../errors.js';
import { TWO_POW_32, hex } from '../types.js';
import {
  COMMANDS, CommandDecoder, CommandFlag, EFFECT_STRIDE, E_ADDR, E_BYTES, E_FIELD, E_FLIP_ASYNC, E_FLIP_STRIDE, E_FLIP_TILING,
  E_IS64, E_KIND, E_LOWBIT, E_PIPE, E_PLANE, E_SPACE, E_VALUE, E_VALUE_AT, EffectKind, EffectSpace, EffectSummary, EffectsError, GEN9_TABLE, REGISTER_OFFSET_MASK, SLOT_ID_SHIFT,
  ValueSource, blitRange, commandName, effectSummary, effectWork, effectsOf, effectsProblem, newEffectBuffer, readAddress,
  type EngineClass,
} from '../device/commands/index.js';
import type { EngineInfo } from '../device/engines.js';
import { GEN9_ENGINES } from '../device/engines.js';
import { GEN9_REGISTERS } from '../device/registers.js';
import { MMIO_SPACE_BYTES, RegFlag } from '../mmio/table.js';
import {
  AUDIT_RULES, GVT_MAX_SURFACE_BYTES, RULE_CODE, isForceNonpriv, registerHoldsAddress, registerOwner,
  srmLrmShortListed, type AuditRuleName,
} from './audit-rules.js';
import {
  CTX_RESTORE_INHIBIT, LriCase, RING_MODE_DROPPED, forceNonprivValueOk, isInContextVreg, isMocsVreg, lriCase, ringModeFailsafe,
} from './register-rules.js';
import { AUDIT_TABLE, buildAuditTable, type AuditDecision, type AuditHandler, type AuditOverrides } from './audit-table.js';

const log = createDebug('gvtkit:audit');

/**
 * What the parser needs from the mediator: the vGPU's views of graphics memory for one workload.
 * Every method answers for this vGPU only; none may throw on a guest-chosen address.
 */
export interface AuditEnv {
  /** The engine whose ring is scanned: its command class decodes, its register block is its own. */
  readonly engine: EngineInfo;
  /**
   * True when the context translates context-relative addresses (blits, 3D and media state: the
   * fields whose space is 'context' in the command table) through its PPGTT, as the device does for
   * an execlist context with a PPGTT root. False: they are GGTT addresses, checked and patched.
   */
  readonly contextPpgtt: boolean;
  /**
   * Copy `dwords` dwords of guest graphics memory at GGTT address `gma`, through the vGPU's GGTT
   * view, into `dst[dstIndex..]`. False when any of it is unmapped. The parser never asks for a
   * range that crosses a 4 KiB page.
   */
  readGgtt(gma: number, dst: Uint32Array, dstIndex: number, dwords: number): boolean;
  /** The same through the context's shadow PPGTT (false when unmapped or the context has none). */
  readPpgtt(gma: number, dst: Uint32Array, dstIndex: number, dwords: number): boolean;
  /** True when the whole [gma, gma + bytes) lies inside the vGPU's graphics memory (its slices). */
  ggttAddressOk(gma: number, bytes: number): boolean;
  /** Host graphics address for guest GGTT address `gma` (page offset kept), -1 when none. */
  translateGgtt(gma: number): number;
  /**
   * Register policy for commands, replacing the default whitelist (`defaultRegisterAllowed`:
   * CMD_ACCESS registers of this engine or of no engine). A refusal is rule `register-whitelist`.
   */
  registerAllowed?(offset: number, engine: EngineInfo): boolean;
  /**
   * True once the guest read PVINFO (GVT-g `pv_notified`): an LRI enabling PPGTT or execlists in
   * RING_MODE before that is refused as `unsupported-guest` (`ringModeFailsafe`). Default true.
   */
  readonly gvtAware?: boolean;
  /**
   * The CTX_CONTEXT_CONTROL value of the workload's context image (GVT-g reads it at
   * `ring_context_gpa + 12`): with restore inhibit (bit 0), LRIs to GVT-g's in-context registers
   * also update the vGPU's vregs (`AuditResult.vregWrites`). Default 0.
   */
  readonly contextControl?: number;
  /**
   * The vGPU's current value of register `offset` (its vreg): an LRI to a FORCE_TO_NONPRIV slot
   * naming a register off GVT-g's list keeps this value. Default: the register's reset value.
   */
  readVreg?(offset: number): number;
  /**
   * The shadow root for an LRI that loads guest PML4 `root` into PDP0 (GVT-g
   * `cmd_pdp_mmio_update_handler` with `intel_vgpu_find_ppgtt_mm`): the host-physical address of
   * the shadow PML4, held for the workload's lifetime, or -1 when the vGPU has no shadow of that
   * root or the context is not a 4-level one. Absent: every PDP write is refused (`register-value`).
   */
  shadowPpgttRoot?(root: number): number;
}

/** The ring of one workload: a circular buffer of `size` bytes at GGTT address `base`. */
export interface RingSegment {
  /** GGTT address of the ring (page aligned). */
  readonly base: number;
  /** Size in bytes: a multiple of 4 KiB, at most 2 MiB (RING_CTL). */
  readonly size: number;
  /** Byte offset of the first command (dword aligned). */
  readonly head: number;
  /** Byte offset one past the last command (qword aligned, RING_TAIL bits 20:3). */
  readonly tail: number;
}

/** Limits and policy of a `CommandParser`. Every limit bounds work a guest can cause. */
export interface CommandParserOptions {
  /** Commands per workload, ring and batches together (`command-budget`). Default 1 Mi (2^20). */
  maxCommands?: number;
  /** Batch buffers per workload, chained and second-level ones included (`command-budget`). Default 1024. */
  maxBatches?: number;
  /** Bytes copied per workload, ring and batches together (`command-budget`). Default 64 MiB. */
  maxWorkloadBytes?: number;
  /** Bytes per batch buffer (`batch-size`). Default 8 MiB. */
  maxBatchBytes?: number;
  /** Batches in one chain (`batch-loop`). Default 64. */
  maxChainLength?: number;
  /** Largest extent one address may cover (`address-bounds`). Default GVT-g's 36 MiB. */
  maxSurfaceBytes?: number;
  /**
   * Work one command may cause, in bytes the engine moves (`command-budget`): a blit's rows × row
   * bytes whatever its pitch (a pitch-0 blit touches one row's addresses but costs every row), a
   * store's bytes (`effectWork` in lib/device/commands/effects.ts). Default 36 MiB (one surface of
   * GVT-g's limit: a 4K 32-bpp fill is 33 MB).
   */
  maxCommandWorkBytes?: number;
  /**
   * Work of the whole workload, the sum of its commands' work (`command-budget`). Default 256 MiB
   * (about 17 ms of the default blitter's fill rate, 45 ms of its ROP rate).
   */
  maxWorkloadWorkBytes?: number;
  /**
   * Policy of MI_STORE_REGISTER_MEM, MI_LOAD_REGISTER_MEM and MI_LOAD_REGISTER_REG
   * (`register-privileged` when refused):
   * - 'whitelist' (default): they follow the command whitelist like LRI, except that a register
   *   whose value must be audited (PDPs, FORCE_TO_NONPRIV, RING_MODE, GGTT addresses) is never
   *   loaded from memory or from another register. gvtkit audits and shadows every batch,
   *   non-privileged PPGTT batches included, and Mesa's batches read timestamps and query
   *   counters with SRM and load MI_PREDICATE / indirect-draw registers with LRM and LRR.
   * - 'strict': GVT-g's `cmd_reg_handler` on Skylake: SRM and LRM only to GEN8_L3SQCREG4 (0xb118)
   *   and 0x21f0, LRR never.
   */
  registerMemoryPolicy?: 'whitelist' | 'strict';
  /** @deprecated Use `registerMemoryPolicy: 'strict'` (which also refuses LRR). True selects 'strict'. */
  strictSrmLrm?: boolean;
  /** Per-command overrides of the audit table (see `buildAuditTable`). */
  decisions?: AuditOverrides;
}

const PARSER_OPTIONS = optionKeys<CommandParserOptions>({
  maxCommands: true, maxBatches: true, maxWorkloadBytes: true, maxBatchBytes: true, maxChainLength: true, maxSurfaceBytes: true,
  maxCommandWorkBytes: true, maxWorkloadWorkBytes: true, registerMemoryPolicy: true, strictSrmLrm: true, decisions: true,
});

/** The limits of a parser (every one bounds work a guest can cause). */
export interface ParserLimits {
  readonly maxCommands: number;
  readonly maxBatches: number;
  readonly maxWorkloadBytes: number;
  readonly maxBatchBytes: number;
  readonly maxChainLength: number;
  readonly maxSurfaceBytes: number;
  readonly maxCommandWorkBytes: number;
  readonly maxWorkloadWorkBytes: number;
}

/** Default limits. */
export const DEFAULT_PARSER_LIMITS: ParserLimits = Object.freeze({
  maxCommands: 1 << 20,
  maxBatches: 1024,
  maxWorkloadBytes: 64 * 1024 * 1024,
  maxBatchBytes: 8 * 1024 * 1024,
  maxChainLength: 64,
  maxSurfaceBytes: GVT_MAX_SURFACE_BYTES,
  maxCommandWorkBytes: GVT_MAX_SURFACE_BYTES,
  maxWorkloadWorkBytes: 256 * 1024 * 1024,
});

/** A refused workload: the first violation the scan met. */
export interface AuditViolation {
  readonly rule: AuditRuleName;
  readonly code: GuestFaultCode;
  /** Guest graphics address of the offending command (of the ring itself for ring-bounds). */
  readonly gma: number;
  /** Address space of `gma`. */
  readonly space: 'ggtt' | 'ppgtt';
  /** 0 the ring, 1 a first-level batch, 2 a second-level batch. */
  readonly level: number;
  /** Dword index of the command in its shadow buffer (-1 when none). */
  readonly offset: number;
  /** Dword 0 of the command, hex ('' when none). */
  readonly header: string;
  /** Command name ('UNKNOWN' when not decoded, '' when none). */
  readonly command: string;
  /** Engine name. */
  readonly engine: string;
  readonly message: string;
}

/**
 * One shadow buffer: the audited, patched copy of the ring segment (index 0) or of one batch.
 * `data[0 .. length)` is what the device runs (beyond `length`: scratch).
 */
export class ShadowBuffer {
  /** Index in `AuditResult.shadows` (and in `relocate`'s argument). */
  declare index: number;
  /** 0 the ring, 1 a first-level batch, 2 a second-level batch. */
  declare level: number;
  /** Guest graphics address of the copied bytes (the ring base for the ring). */
  declare guestGma: number;
  /** The guest started it through its PPGTT (bit 8): a non-privileged batch. */
  declare ppgtt: boolean;
  /** Started from the ring or a privileged batch through the GGTT. */
  declare privileged: boolean;
  /** Shadow (index) holding the MI_BATCH_BUFFER_START that started it, -1 for the ring. */
  declare parent: number;
  /** Dword index of that start in the parent, -1 for the ring. */
  declare startOffset: number;
  /** Dwords of the shadow. */
  declare length: number;
  /** Backing store (reused across scans; longer than `length`). */
  declare data: Uint32Array;
  /** Dwords copied from the guest so far. */
  declare copied: number;

  constructor() {
    this.index = 0;
    this.level = 0;
    this.guestGma = 0;
    this.ppgtt = false;
    this.privileged = true;
    this.parent = -1;
    this.startOffset = -1;
    this.length = 0;
    this.data = new Uint32Array(1024);
    this.copied = 0;
  }

  /** The shadow's dwords (a view; valid until the next scan). */
  dwords(): Uint32Array {
    return this.data.subarray(0, this.length);
  }
}

/** Words per display flip in `AuditResult.flips`: pipe, plane, surface, stride, tiling, async. */
export const FLIP_WORDS = 6;

/** Outcome of one scan (reused: valid until the next `scan`). */
export class AuditResult {
  /** True when the workload passed every rule. */
  declare ok: boolean;
  /** The first violation, or null. */
  declare violation: AuditViolation | null;
  /** Commands decoded (ring and batches). */
  declare commands: number;
  /** Batch buffers followed. */
  declare batches: number;
  /** Guest bytes copied into shadows. */
  declare bytesCopied: number;
  /** MI_USER_INTERRUPTs turned into MI_NOOP: raise the vGPU's user interrupt this many times at completion. */
  declare userInterrupts: number;
  /** PIPE_CONTROLs with Notify Enable (the device raises their interrupt). */
  declare pipeControlNotifies: number;
  /** MI_FLUSH_DWs with Notify Enable. */
  declare flushNotifies: number;
  /** GGTT addresses rewritten to host addresses. */
  declare addressesPatched: number;
  /** MI_BATCH_BUFFER_STARTs waiting for `relocate`. */
  declare relocations: number;
  /** LRI values rewritten by a register rule (PDP shadow roots, RING_MODE, FORCE_TO_NONPRIV). */
  declare registerValuesPatched: number;
  /**
   * Register values the vGPU's vregs take when the workload passes (GVT-g `cmd_reg_handler`: the
   * MOCS ranges, and GVT-g's in-context registers in a restore-inhibit context): pairs (offset,
   * value) in `vregWrites[0 .. 2 * vregWriteCount)`. A mode-mask register takes the value as a
   * masked write.
   */
  declare vregWriteCount: number;
  vregWrites: Uint32Array;
  /**
   * Display flips (MI_DISPLAY_FLIP) the vGPU's display takes when the workload passes (GVT-g
   * `gen8_update_plane_mmio_from_mi_display_flip`), in scan order: `FLIP_WORDS` words each (pipe,
   * plane, surface, stride, tiling, async) in `flips[0 .. FLIP_WORDS * flipCount)`.
   */
  declare flipCount: number;
  flips: Uint32Array;
  /** Shadows: [0] the ring segment, then batches in the order the scan met them. */
  readonly shadows: ShadowBuffer[];

  constructor() {
    this.shadows = [];
    this.vregWrites = new Uint32Array(64);
    this.flips = new Uint32Array(FLIP_WORDS * 4);
    this.clear();
  }

  /** Empty the result for a new scan (the parser's business). */
  clear(): void {
    this.ok = true;
    this.violation = null;
    this.commands = 0;
    this.batches = 0;
    this.bytesCopied = 0;
    this.userInterrupts = 0;
    this.pipeControlNotifies = 0;
    this.flushNotifies = 0;
    this.addressesPatched = 0;
    this.relocations = 0;
    this.registerValuesPatched = 0;
    this.vregWriteCount = 0;
    this.flipCount = 0;
    this.shadows.length = 0;
  }

  /** Record a display flip (the parser's business). */
  pushFlip(pipe: number, plane: number, surface: number, stride: number, tiling: number, async: number): void {
    const k = FLIP_WORDS * this.flipCount;
    if (k + FLIP_WORDS > this.flips.length) {
      const next = new Uint32Array(this.flips.length * 2);
      next.set(this.flips);
      this.flips = next;
    }
    const f = this.flips;
    f[k] = pipe;
    f[k + 1] = plane;
    f[k + 2] = surface;
    f[k + 3] = stride;
    f[k + 4] = tiling;
    f[k + 5] = async;
    this.flipCount++;
  }

  /** Record a vreg update (the parser's business). */
  pushVreg(offset: number, value: number): void {
    const k = 2 * this.vregWriteCount;
    if (k + 2 > this.vregWrites.length) {
      const next = new Uint32Array(this.vregWrites.length * 2);
      next.set(this.vregWrites);
      this.vregWrites = next;
    }
    this.vregWrites[k] = offset;
    this.vregWrites[k + 1] = value;
    this.vregWriteCount++;
  }
}

/** Cumulative counters of a parser. */
export interface ParserStats {
  scans: number;
  passed: number;
  refused: number;
  commands: number;
  batches: number;
  bytesCopied: number;
  addressesPatched: number;
  userInterrupts: number;
  /** Refusals by rule. */
  byRule: Record<AuditRuleName, number>;
}

// --- compiled audit table ---------------------------------------------------------------------------

/** Handler codes of the hot path (compiled from `AuditDecision.action` / `.handler`). */
const H = {
  PLAIN: 0,
  ADDRESSES: 1,
  LRI: 2,
  REG_MEM: 3,
  LRR: 4,
  PIPE_CONTROL: 5,
  FLUSH_DW: 6,
  BB_START: 7,
  BB_END: 8,
  NOOP: 9,
  USER_INTERRUPT: 10,
  REFUSE: 11,
  PRIV_ONLY: 12,
  /** No work but the valid-length check (`CommandInfo.validLength`). */
  LENGTH: 13,
  /** MI_DISPLAY_FLIP: its FLIP effect checked and recorded, the command NOOPed. */
  DISPLAY_FLIP: 14,
} as const;

const HANDLER_CODE: Record<AuditHandler, number> = {
  none: H.PLAIN,
  addresses: H.ADDRESSES,
  lri: H.LRI,
  'register-memory': H.REG_MEM,
  lrr: H.LRR,
  'pipe-control': H.PIPE_CONTROL,
  'flush-dw': H.FLUSH_DW,
  'batch-start': H.BB_START,
  'batch-end': H.BB_END,
  'user-interrupt': H.USER_INTERRUPT,
  'display-flip': H.DISPLAY_FLIP,
};

/** Per-command tables of the hot path, for one context mode. */
interface Compiled {
  /** Handler code per command id. */
  readonly handler: Uint8Array;
  /** Inner handler of privileged-only commands. */
  readonly inner: Uint8Array;
  /**
   * The decoder's dispatch slots (`GEN9_TABLE.slots`, packing in table.ts `SLOT_*`) with the id
   * field dropped: the length rule of every command that needs no work, -1 for every other header
   * (unknown ones included). The scan's hot loop walks plain commands with one load per header.
   */
  readonly fastSlots: Int32Array;
}

/** The audit table compiled for the scan (shared by every parser with the same decisions). */
class Policy {
  readonly table: readonly AuditDecision[];
  readonly refuseRule: (AuditRuleName | null)[];
  readonly writesRegister: Uint8Array;
  /** `CommandInfo.validLength` per command id (0: any length). */
  readonly validLength: Int32Array;
  readonly ppgttCtx: Compiled;
  readonly ggttCtx: Compiled;

  constructor(table: readonly AuditDecision[]) {
    this.table = table;
    const n = COMMANDS.length;
    this.refuseRule = new Array<AuditRuleName | null>(n).fill(null);
    this.writesRegister = new Uint8Array(n);
    this.validLength = new Int32Array(n);
    const handlers = [new Uint8Array(n), new Uint8Array(n)];
    const inners = [new Uint8Array(n), new Uint8Array(n)];
    for (const dec of table) {
      const c = COMMANDS[dec.id];
      this.writesRegister[dec.id] = (c.flags & CommandFlag.REGISTER_WRITE) !== 0 ? 1 : 0;
      const summary = effectSummary(dec.id);
      for (let mode = 0; mode < 2; mode++) {
        const ppgtt = mode === 0;
        let inner = HANDLER_CODE[dec.handler];
        // In a PPGTT context, commands whose every effect is a context-relative address need no
        // work, except blits, whose extent and work bound one command's GPU time whatever the space.
        if (inner === H.ADDRESSES && ppgtt && (summary & (EffectSummary.BLIT | EffectSummary.SELECTED_SPACE)) === 0) inner = H.PLAIN;
        let h = inner;
        if (dec.action === 'refused') h = H.REFUSE;
        else if (dec.action === 'noop') h = inner === H.USER_INTERRUPT || inner === H.DISPLAY_FLIP ? inner : H.NOOP;
        else if (dec.action === 'privileged-only') h = H.PRIV_ONLY;
        else if (dec.action === 'ppgtt-only') h = ppgtt ? H.PLAIN : H.REFUSE;
        // A command with a required length leaves the fast path to have it checked (handle()).
        if (c.validLength !== 0 && h === H.PLAIN) h = inner = H.LENGTH;
        handlers[mode][dec.id] = h;
        inners[mode][dec.id] = inner;
      }
      this.refuseRule[dec.id] = dec.rule;
      this.validLength[dec.id] = c.validLength;
    }
    const compile = (handler: Uint8Array, inner: Uint8Array): Compiled => {
      const slots = GEN9_TABLE.slots;
      const fastSlots = new Int32Array(slots.length);
      for (let k = 0; k < slots.length; k++) {
        const id = (slots[k] >>> SLOT_ID_SHIFT) - 1;
        fastSlots[k] = id >= 0 && handler[id] === H.PLAIN ? slots[k] & ((1 << SLOT_ID_SHIFT) - 1) : -1;
      }
      return { handler, inner, fastSlots };
    };
    this.ppgttCtx = compile(handlers[0], inners[0]);
    this.ggttCtx = compile(handlers[1], inners[1]);
  }
}

/** The policy of the default table, shared by every parser without overrides (immutable). */
const DEFAULT_POLICY = new Policy(AUDIT_TABLE);

function positiveInt(field: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(field, `${v} must be a positive integer`);
  return v;
}

/** Scan status of a handler. */
const CONTINUE = 0;
const STOP = 1;

const MI_NOOP = 0;
const BB_PPGTT_BIT = 1 << 8;
const BB_SECOND_LEVEL_BIT = 1 << 22;
const BB_PREDICATION_BIT = 1 << 15;
const BB_ADD_OFFSET_BIT = 1 << 16;
/** Byte offsets in the status page (index-mode post-sync writes) must stay below this (GVT-g). */
const HWSP_BYTES = 4096;
/**
 * Longest LRI: GVT-g's cmd_info gives MI_LOAD_REGISTER_IMM an 8-bit length field (255 + 2 dwords,
 * 128 pairs); i915 up to v5.x loaded a 64-entry MOCS table with one LRI of 129 dwords.
 */
const LRI_MAX_LENGTH = 0xff + 2;
const REG_FLAGS = GEN9_REGISTERS.flags;
const REG_RESET = GEN9_REGISTERS.reset;
/** Shadow buffers `trimBuffers` keeps (a workload with more batches allocates them again). */
const BUFFERS_KEPT = 16;
/** Largest backing store (dwords, 64 KiB) `trimBuffers` keeps. */
const BUFFER_KEPT_DWORDS = 16 * 1024;
/** Largest ring RING_CTL can describe. */
const MAX_RING_BYTES = 2 * 1024 * 1024;

/**
 * The command parser and auditor of one engine's workloads (one per vGPU engine, or shared: it
 * holds no guest state between scans). See the module comment.
 */
export class CommandParser {
  /** The audit table this parser applies (the default table with `options.decisions` applied). */
  readonly table: readonly AuditDecision[];
  readonly limits: ParserLimits;
  /** SRM/LRM/LRR policy (`CommandParserOptions.registerMemoryPolicy`). */
  readonly registerMemoryPolicy: 'whitelist' | 'strict';
  /** @deprecated `registerMemoryPolicy === 'strict'`. */
  readonly strictSrmLrm: boolean;
  readonly stats: ParserStats;

  private readonly policy: Policy;
  private readonly decoder = new CommandDecoder();
  private readonly result = new AuditResult();
  private readonly pool: ShadowBuffer[] = [];
  /** Relocation triplets: shadow index, dword of the start, target shadow index. */
  private relocs = new Int32Array(3 * 64);
  /** Chain of the current first-level batch: targets (address × 2 + PPGTT bit). */
  private readonly chain: Float64Array;
  private chainLength = 0;
  private readonly extent = new Float64Array(2);
  /** Effect records of the command being checked (`effectsOf`). */
  private readonly fx = newEffectBuffer();
  private readonly frames: ShadowBuffer[] = [];
  private readonly framePos = new Int32Array(4);

  // Per-scan state (numbers and references set at every scan; stable shapes).
  private env: AuditEnv | null = null;
  private engine: EngineInfo | null = null;
  private compiled: Compiled;
  private contextPpgtt = false;
  private cur: ShadowBuffer;
  private pos = 0;
  private depth = 0;
  private ringBase = 0;
  private ringSize = 0;
  private ringHead = 0;
  private workloadBytes = 0;
  /** Work of the workload's commands so far (`effectWork`). */
  private workloadWork = 0;

  constructor(options: CommandParserOptions = {}) {
    options = checkOptions(options, 'CommandParserOptions', PARSER_OPTIONS);
    const d = DEFAULT_PARSER_LIMITS;
    this.limits = Object.freeze({
      maxCommands: positiveInt('maxCommands', options.maxCommands, d.maxCommands),
      maxBatches: positiveInt('maxBatches', options.maxBatches, d.maxBatches),
      maxWorkloadBytes: positiveInt('maxWorkloadBytes', options.maxWorkloadBytes, d.maxWorkloadBytes),
      maxBatchBytes: positiveInt('maxBatchBytes', options.maxBatchBytes, d.maxBatchBytes),
      maxChainLength: positiveInt('maxChainLength', options.maxChainLength, d.maxChainLength),
      maxSurfaceBytes: positiveInt('maxSurfaceBytes', options.maxSurfaceBytes, d.maxSurfaceBytes),
      maxCommandWorkBytes: positiveInt('maxCommandWorkBytes', options.maxCommandWorkBytes, d.maxCommandWorkBytes),
      maxWorkloadWorkBytes: positiveInt('maxWorkloadWorkBytes', options.maxWorkloadWorkBytes, d.maxWorkloadWorkBytes),
    });
    const policy = options.registerMemoryPolicy;
    if (policy !== undefined && policy !== 'whitelist' && policy !== 'strict') {
      throw new ConfigError('registerMemoryPolicy', `${String(policy)} is not 'whitelist' or 'strict'`);
    }
    if (options.strictSrmLrm !== undefined && policy !== undefined && options.strictSrmLrm !== (policy === 'strict')) {
      throw new ConfigError('strictSrmLrm', `contradicts registerMemoryPolicy '${policy}'`);
    }
    this.registerMemoryPolicy = policy ?? (options.strictSrmLrm === true ? 'strict' : 'whitelist');
    this.strictSrmLrm = this.registerMemoryPolicy === 'strict';
    const overrides = options.decisions ?? {};
    this.policy = Object.keys(overrides).length === 0 ? DEFAULT_POLICY : new Policy(Object.freeze(buildAuditTable(overrides)));
    this.table = this.policy.table;
    this.chain = new Float64Array(Math.min(this.limits.maxChainLength, this.limits.maxBatches) + 1);
    this.compiled = this.policy.ppgttCtx;
    this.cur = this.shadowAt(0);
    this.stats = {
      scans: 0, passed: 0, refused: 0, commands: 0, batches: 0, bytesCopied: 0, addressesPatched: 0, userInterrupts: 0,
      byRule: Object.fromEntries(AUDIT_RULES.map((rule) => [rule.name, 0])) as Record<AuditRuleName, number>,
    };
  }

  /**
   * Scan, audit and shadow the workload in `ring` (head..tail) on `env.engine`. Returns the
   * (reused) result: `ok` with the shadows, or the first violation. Never throws on guest input.
   */
  scan(ring: RingSegment, env: AuditEnv): AuditResult {
    const r = this.result;
    r.clear();
    this.env = env;
    this.engine = env.engine;
    this.contextPpgtt = env.contextPpgtt;
    this.compiled = env.contextPpgtt ? this.policy.ppgttCtx : this.policy.ggttCtx;
    this.workloadBytes = 0;
    this.workloadWork = 0;
    this.chainLength = 0;
    this.depth = 0;
    this.ringBase = ring.base;
    this.ringSize = ring.size;
    this.ringHead = ring.head;

    const shadow = this.newShadow(0, ring.base, false, true, -1, -1);
    this.cur = shadow;
    this.pos = 0;
    if (this.copyRing(ring, shadow)) this.run();

    const s = this.stats;
    s.scans++;
    s.commands += r.commands;
    s.batches += r.batches;
    s.bytesCopied += r.bytesCopied;
    s.addressesPatched += r.addressesPatched;
    s.userInterrupts += r.userInterrupts;
    if (r.ok) s.passed++;
    else {
      s.refused++;
      s.byRule[r.violation!.rule]++;
    }
    if (log.enabled) {
      log('%s: %s, %d commands, %d batches, %d bytes', env.engine.name, r.ok ? 'passed' : `refused (${r.violation!.rule})`,
        r.commands, r.batches, r.bytesCopied);
    }
    this.env = null;
    return r;
  }

  /**
   * Second phase: point every recorded MI_BATCH_BUFFER_START at its target's shadow.
   * `hostGmas[k]` is the host GGTT address where the mediator placed shadow `k` (entry 0, the
   * ring, is not read). Throws `RangeArgError` for a missing or malformed address (host misuse).
   */
  relocate(hostGmas: ArrayLike<number>): void {
    const r = this.result;
    if (!r.ok) throw new RangeArgError('relocate: the last scan was refused');
    const relocs = this.relocs;
    for (let k = 0; k < r.relocations; k++) {
      const from = relocs[3 * k], at = relocs[3 * k + 1], target = relocs[3 * k + 2];
      const gma = hostGmas[target];
      if (!(Number.isSafeInteger(gma) && gma >= 0 && gma < 2 ** 48 && gma % 4 === 0)) {
        throw new RangeArgError(`relocate: hostGmas[${target}] = ${gma} is not a dword-aligned graphics address`);
      }
      const data = r.shadows[from].data;
      data[at + 1] = gma >>> 0;
      data[at + 2] = Math.floor(gma / TWO_POW_32) & 0xffff;
    }
  }

  /**
   * Give back what a large workload made the parser grow (the mediator calls it once a workload's
   * shadows are copied out or refused): shadow buffers beyond `BUFFERS_KEPT`, backing stores
   * grown past `BUFFER_KEPT_DWORDS`, the relocation table past its initial size. Ordinary work
   * keeps its buffers (no churn); nothing stays at a hostile workload's high-water mark for the
   * parser's lifetime. The last result's shadows are invalid afterwards.
   */
  trimBuffers(): void {
    const pool = this.pool;
    if (pool.length > BUFFERS_KEPT) pool.length = BUFFERS_KEPT;
    for (let k = 0; k < pool.length; k++) {
      const s = pool[k];
      if (s.data.length > BUFFER_KEPT_DWORDS) {
        s.data = new Uint32Array(1024);
        s.length = 0;
        s.copied = 0;
      }
    }
    if (this.relocs.length > 3 * 64) this.relocs = new Int32Array(3 * 64);
    this.result.clear();
  }

  /** Dwords the shadow buffers hold in all (their backing stores; for bounds checks). */
  get bufferDwords(): number {
    let n = this.relocs.length;
    for (const s of this.pool) n += s.data.length;
    return n;
  }

  // --- buffers ----------------------------------------------------------------------------------------

  private shadowAt(k: number): ShadowBuffer {
    while (this.pool.length <= k) this.pool.push(new ShadowBuffer());
    return this.pool[k];
  }

  private newShadow(level: number, gma: number, ppgtt: boolean, privileged: boolean, parent: number, startOffset: number): ShadowBuffer {
    const r = this.result;
    const s = this.shadowAt(r.shadows.length);
    s.index = r.shadows.length;
    s.level = level;
    s.guestGma = gma;
    s.ppgtt = ppgtt;
    s.privileged = privileged;
    s.parent = parent;
    s.startOffset = startOffset;
    s.length = 0;
    s.copied = 0;
    r.shadows.push(s);
    return s;
  }

  private grow(s: ShadowBuffer, dwords: number): void {
    if (s.data.length >= dwords) return;
    let n = s.data.length * 2;
    while (n < dwords) n *= 2;
    const next = new Uint32Array(n);
    next.set(s.data.subarray(0, s.copied));
    s.data = next;
  }

  /** What is wrong with the ring's shape or place, or null. */
  private ringProblem(ring: RingSegment): string | null {
    const { base, size, head, tail } = ring;
    if (!(Number.isSafeInteger(size) && size > 0)) return `ring size ${size} is empty or not an integer`;
    if (size % 4096 !== 0 || size > MAX_RING_BYTES) return `ring size ${size} is not a multiple of 4 KiB up to 2 MiB`;
    if (!(Number.isSafeInteger(base) && base >= 0 && base % 4096 === 0)) return `ring base ${base} is not a page-aligned graphics address`;
    if (!(Number.isSafeInteger(head) && head >= 0 && head < size && head % 4 === 0)) return `ring head ${head} is outside the ${size}-byte ring or not dword aligned`;
    if (!(Number.isSafeInteger(tail) && tail >= 0 && tail < size && tail % 8 === 0)) return `ring tail ${tail} is outside the ${size}-byte ring or not qword aligned`;
    if (!this.env!.ggttAddressOk(base, size)) return `ring [${hex(base)}, ${hex(base + size)}) is outside the vGPU's graphics memory`;
    return null;
  }

  /** Copy the ring segment into the ring shadow (checks the ring first). */
  private copyRing(ring: RingSegment, s: ShadowBuffer): boolean {
    const problem = this.ringProblem(ring);
    if (problem !== null) return this.fail('ring-bounds', problem, null, -1);
    const { base, size, head, tail } = ring;
    const env = this.env!;
    const bytes = (tail - head + size) % size;
    const dwords = bytes >>> 2;
    this.grow(s, dwords);
    // [head, size) then [0, tail) when the segment wraps, page by page.
    let copied = 0;
    let at = head;
    while (copied < dwords) {
      if (at === size) at = 0;
      const n = Math.min((4096 - (at & 0xfff)) >>> 2, dwords - copied, (size - at) >>> 2);
      if (!env.readGgtt(base + at, s.data, copied, n)) {
        s.copied = copied;
        return this.fail('address-bounds', `ring memory at ${hex(base + at)} is not mapped`, s, copied);
      }
      copied += n;
      at += n * 4;
    }
    s.copied = dwords;
    s.length = dwords;
    this.workloadBytes = bytes;
    this.result.bytesCopied = bytes;
    return true;
  }

  /**
   * Copy the next page (or what is left of the batch limit) of batch `s`. Failures are charged to
   * the command at `at` of `owner` (the start command for a batch's first page).
   */
  private fetch(s: ShadowBuffer, owner: ShadowBuffer, at: number): boolean {
    const env = this.env!;
    const maxDwords = Math.floor(this.limits.maxBatchBytes / 4);
    if (s.copied >= maxDwords) {
      return this.fail('batch-size', `batch at ${hex(s.guestGma)} runs past ${this.limits.maxBatchBytes} bytes without MI_BATCH_BUFFER_END`, owner, at);
    }
    const gma = s.guestGma + s.copied * 4;
    const n = Math.min((4096 - ((gma >>> 0) & 0xfff)) >>> 2, maxDwords - s.copied);
    this.workloadBytes += n * 4;
    if (this.workloadBytes > this.limits.maxWorkloadBytes) {
      return this.fail('command-budget', `workload copies more than ${this.limits.maxWorkloadBytes} bytes`, owner, at);
    }
    this.grow(s, s.copied + n);
    let ok: boolean;
    if (s.ppgtt) ok = env.readPpgtt(gma, s.data, s.copied, n);
    else if (!env.ggttAddressOk(gma, n * 4)) {
      return this.fail('address-bounds', `batch memory at GGTT ${hex(gma)} is outside the vGPU's graphics memory`, owner, at);
    } else ok = env.readGgtt(gma, s.data, s.copied, n);
    if (!ok) return this.fail('address-bounds', `batch memory at ${s.ppgtt ? 'PPGTT' : 'GGTT'} ${hex(gma)} is not mapped`, owner, at);
    s.copied += n;
    this.result.bytesCopied += n * 4;
    return true;
  }

  // --- the scan ---------------------------------------------------------------------------------------

  /** Scan from `this.cur` / `this.pos` until the ring segment is done or a rule refuses. */
  private run(): void {
    const r = this.result;
    const dec = this.decoder;
    const engineClass = this.engine!.engineClass;
    const maxCommands = this.limits.maxCommands;
    const handlers = this.compiled.handler;
    let s = this.cur;
    let i = this.pos;
    for (;;) {
      // Fast path: a run of commands that need no work (most of any stream). Each command is at
      // least one dword, so walking at most `budget` dwords stays within the command budget.
      const budget = maxCommands - r.commands;
      const end = s.copied;
      const stop = i + budget < end ? i + budget : end;
      i = this.walk(s.data, i, stop, engineClass);
      if (i >= end && s.level === 0) break; // the ring segment is done (batches return to it)
      const len = dec.decode(s.data, i, end, engineClass);
      const error = dec.error;
      if (error !== 0) {
        if (error === 2 && s.level > 0) {
          // TRUNCATED: the batch continues in guest memory not copied yet: copy its next page.
          if (!this.fetch(s, s, i)) return;
          continue;
        }
        if (error === 2) this.fail('malformed-command', `command of ${len} dwords runs past the ring tail`, s, i);
        else this.fail('unknown-command', `no ${this.engine!.name} command has header ${hex(s.data[i] >>> 0, 8)}`, s, i);
        return;
      }
      if (r.commands >= maxCommands) {
        this.fail('command-budget', `workload has more than ${maxCommands} commands`, s, i);
        return;
      }
      r.commands++;
      // The handler may patch, refuse, or switch buffers.
      if (this.handle(handlers[dec.id], dec.id, s, i, len) === STOP) return;
      s = this.cur;
      i = this.pos;
    }
  }

  /**
   * The hot loop: from `i`, step over whole commands that need no work, up to `end`. Returns where
   * it stopped: `end`, or a header that needs attention (work, unknown, or cut by `end`), which the
   * caller decodes with `CommandDecoder`. The length rule is the decoder's (same slots, same
   * common-rule guess that keeps the slot load off the header-to-header dependency chain).
   */
  private walk(data: Uint32Array, i: number, end: number, engineClass: EngineClass): number {
    const slots = this.compiled.fastSlots;
    const base = engineClass << 16;
    const common = engineClass >= 2 ? 0xfff : 0xff;
    const commonSlot = 0x20000 | common;
    let n = 0;
    while (i < end) {
      const dw0 = data[i];
      const slot = slots[base | (dw0 >>> 16)];
      let len = (dw0 & common) + 2;
      if (slot !== commonSlot) {
        if (slot < 0) break;
        len = (dw0 & slot & 0xffff) + ((slot >>> 16) & 0xf);
      }
      if (i + len > end) break;
      i += len;
      n++;
    }
    this.result.commands += n;
    return i;
  }

  /** Per-command work of every non-plain command. Sets `this.cur` / `this.pos` to where the scan goes on. */
  private handle(h: number, id: number, s: ShadowBuffer, i: number, len: number): number {
    const data = s.data;
    // GVT-g cmd_parser_exec: an F_LEN_VAR_FIXED command of any other length is refused (-EFAULT)
    // before its handler runs.
    const valid = this.policy.validLength[id];
    if (valid !== 0 && len !== valid) return this.stop('malformed-command', `${COMMANDS[id].name} of ${len} dwords (GVT-g admits ${valid})`, s, i);
    if (h === H.PRIV_ONLY) {
      if (!s.privileged) return this.stop('privileged-command', `${COMMANDS[id].name} is privileged: refused in a non-privileged (PPGTT) batch`, s, i);
      h = this.compiled.inner[id];
    }
    switch (h) {
      case H.PLAIN:
        break;
      case H.ADDRESSES:
        if (!this.checkFields(id, s, i, len)) return STOP;
        break;
      case H.LRI: {
        if (len < 3 || len > LRI_MAX_LENGTH || (len & 1) === 0) {
          return this.stop('malformed-command', `MI_LOAD_REGISTER_IMM of ${len} dwords (pairs, 3..${LRI_MAX_LENGTH})`, s, i);
        }
        for (let k = 1; k < len; k += 2) {
          const reg = data[i + k] & REGISTER_OFFSET_MASK;
          // GVT-g cmd_pdp_mmio_update_handler: PDP0 upper then lower, patched together.
          if (lriCase(reg) === LriCase.PDP0_UDW && k + 2 < len && (data[i + k + 2] & REGISTER_OFFSET_MASK) === reg - 4) {
            if (!this.checkPdpPair(reg, i + k + 1, i + k + 3, s, i)) return STOP;
            k += 2;
            continue;
          }
          if (!this.checkRegisterWrite(reg, i + k + 1, s, i, 'MI_LOAD_REGISTER_IMM')) return STOP;
        }
        break;
      }
      case H.REG_MEM: {
        const name = COMMANDS[id].name;
        if (len !== 4) return this.stop('malformed-command', `${name} of ${len} dwords (4)`, s, i);
        const reg = data[i + 1] & REGISTER_OFFSET_MASK;
        if (!this.checkRegister(reg, s, i, name, 'names')) return STOP;
        if (this.strictSrmLrm && !srmLrmShortListed(reg)) {
          return this.stop('register-privileged', `${name} names register ${hex(reg)}, not on GVT-g's SRM/LRM list (strict policy)`, s, i);
        }
        if (this.policy.writesRegister[id] === 1 && !this.valueFree(reg)) {
          return this.stop('register-privileged', `${name} loads register ${hex(reg)} from memory: its value cannot be audited`, s, i);
        }
        if (!this.checkFields(id, s, i, len)) return STOP;
        break;
      }
      case H.LRR: {
        if (len !== 3) return this.stop('malformed-command', `MI_LOAD_REGISTER_REG of ${len} dwords (3)`, s, i);
        const src = data[i + 1] & REGISTER_OFFSET_MASK, dst = data[i + 2] & REGISTER_OFFSET_MASK;
        if (!this.checkRegister(src, s, i, 'MI_LOAD_REGISTER_REG', 'reads')) return STOP;
        if (this.strictSrmLrm) return this.stop('register-privileged', 'MI_LOAD_REGISTER_REG refused (strict policy: GVT-g refuses LRR on Skylake)', s, i);
        if (!this.checkRegister(dst, s, i, 'MI_LOAD_REGISTER_REG', 'writes')) return STOP;
        if (!this.valueFree(dst)) return this.stop('register-privileged', `MI_LOAD_REGISTER_REG writes register ${hex(dst)} from a register: its value cannot be audited`, s, i);
        break;
      }
      case H.PIPE_CONTROL: {
        if (len < 2) return this.stop('malformed-command', `PIPE_CONTROL of ${len} dwords`, s, i);
        const flags = data[i + 1];
        if ((flags & (1 << 8)) !== 0) this.result.pipeControlNotifies++;
        // Post-sync write, LRI post-sync register write (bit 23, through checkRegisterWrite), or
        // refused when the effects table cannot describe the combination.
        if (!this.checkEffects(id, s, i, len, true)) return STOP;
        break;
      }
      case H.FLUSH_DW: {
        const dw0 = data[i];
        if ((dw0 & (1 << 8)) !== 0) this.result.flushNotifies++;
        if (!this.checkEffects(id, s, i, len, false)) return STOP;
        break;
      }
      case H.BB_START:
        return this.batchStart(s, i, len);
      case H.BB_END: {
        if (s.level === 0) return this.stop('malformed-command', 'MI_BATCH_BUFFER_END in the ring', s, i);
        s.length = i + len;
        // Return to the caller: the ring, or the first-level batch of a second-level call.
        this.depth--;
        this.cur = this.frames[this.depth];
        this.pos = this.framePos[this.depth];
        return CONTINUE;
      }
      case H.USER_INTERRUPT:
        this.result.userInterrupts++;
        data.fill(MI_NOOP, i, i + len);
        break;
      case H.NOOP:
        data.fill(MI_NOOP, i, i + len);
        break;
      case H.DISPLAY_FLIP:
        // GVT-g cmd_handler_mi_display_flip: decode, check, update the virtual plane registers (the
        // mediator applies `AuditResult.flips` when the workload is dispatched), NOOP every dword.
        if (!this.checkEffects(id, s, i, len, false)) return STOP;
        data.fill(MI_NOOP, i, i + len);
        break;
      case H.REFUSE: {
        const rule = this.policy.refuseRule[id] ?? 'privileged-command';
        const why = rule === 'address-bounds' ? 'its graphics addresses are not tabulated and the context has no PPGTT' : this.table[id].reason;
        return this.stop(rule, `${COMMANDS[id].name} refused: ${why}`, s, i);
      }
    }
    this.pos = i + len;
    return CONTINUE;
  }

  /** MI_BATCH_BUFFER_START: check, record the relocation, switch to the target's shadow. */
  private batchStart(s: ShadowBuffer, i: number, len: number): number {
    const data = s.data;
    const dw0 = data[i];
    if (len < 3) return this.stop('malformed-command', `MI_BATCH_BUFFER_START of ${len} dwords`, s, i);
    if ((dw0 & (BB_PREDICATION_BIT | BB_ADD_OFFSET_BIT)) !== 0) {
      return this.stop('malformed-command', 'predicated or offset-added MI_BATCH_BUFFER_START: its target cannot be followed statically', s, i);
    }
    const second = (dw0 & BB_SECOND_LEVEL_BIT) !== 0;
    const ppgtt = (dw0 & BB_PPGTT_BIT) !== 0;
    // GVT-g cmd_handler_mi_batch_buffer_start: no start inside a second-level batch, no second level from the ring.
    if (s.level === 2) return this.stop('batch-depth', 'MI_BATCH_BUFFER_START inside a second-level batch', s, i);
    if (s.level === 0 && second) return this.stop('batch-depth', 'second-level MI_BATCH_BUFFER_START from the ring', s, i);
    if (!ppgtt && !s.privileged) return this.stop('privileged-command', 'GGTT MI_BATCH_BUFFER_START in a non-privileged (PPGTT) batch', s, i);
    const target = readAddress(data, i + 1, 2, true);
    const r = this.result;
    if (r.batches >= this.limits.maxBatches) return this.stop('command-budget', `workload starts more than ${this.limits.maxBatches} batches`, s, i);
    const chained = s.level === 1 && !second;
    const key = target * 2 + (ppgtt ? 1 : 0);
    if (chained) {
      for (let k = 0; k < this.chainLength; k++) {
        if (this.chain[k] === key) return this.stop('batch-loop', `chained batches loop: ${hex(target)} started twice in one chain`, s, i);
      }
      if (this.chainLength >= this.limits.maxChainLength) {
        return this.stop('batch-loop', `chain of more than ${this.limits.maxChainLength} batches`, s, i);
      }
      this.chain[this.chainLength++] = key;
    } else if (s.level === 0) {
      // A new first-level batch from the ring starts a new chain.
      this.chainLength = 0;
      this.chain[this.chainLength++] = key;
    }
    const level = s.level === 0 ? 1 : second ? 2 : s.level;
    const t = this.newShadow(level, target, ppgtt, s.privileged && !ppgtt, s.index, i);
    r.batches++;
    // The first page now, so that a target outside memory is charged to this start.
    if (!this.fetch(t, s, i)) return STOP;
    // The shadow runs from the host GGTT: switch the start to GGTT; `relocate` writes the address.
    data[i] = (dw0 & ~BB_PPGTT_BIT) >>> 0;
    this.addRelocation(s.index, i, t.index);
    if (chained) {
      s.length = i + len; // the current batch ends here
    } else {
      this.frames[this.depth] = s;
      this.framePos[this.depth] = i + len;
      this.depth++;
    }
    this.cur = t;
    this.pos = 0;
    return CONTINUE;
  }

  private addRelocation(from: number, at: number, target: number): void {
    const r = this.result;
    const k = 3 * r.relocations;
    if (k + 3 > this.relocs.length) {
      const next = new Int32Array(this.relocs.length * 2);
      next.set(this.relocs);
      this.relocs = next;
    }
    this.relocs[k] = from;
    this.relocs[k + 1] = at;
    this.relocs[k + 2] = target;
    r.relocations++;
  }

  // --- rules ------------------------------------------------------------------------------------------

  /**
   * The rule refusing register operand `reg` (GVT-g `cmd_reg_handler` order: beyond the register
   * space, then not command-accessible), or null. The default whitelist also refuses a register of
   * another engine (`register-privileged`, a deliberate difference: `REGISTER_DIFFERENCES`).
   */
  private registerRefusal(reg: number): AuditRuleName | null {
    if (reg + 4 > MMIO_SPACE_BYTES) return 'register-range';
    const env = this.env!;
    const engine = this.engine!;
    if (env.registerAllowed !== undefined) return env.registerAllowed(reg, engine) ? null : 'register-whitelist';
    if ((REG_FLAGS[reg >>> 2] & RegFlag.CMD_ACCESS) === 0) return 'register-whitelist';
    const owner = registerOwner(reg);
    return owner >= 0 && owner !== engine.id ? 'register-privileged' : null;
  }

  /** Check one register operand; records the violation and returns false when refused. */
  private checkRegister(reg: number, s: ShadowBuffer, i: number, name: string, verb: string): boolean {
    const rule = this.registerRefusal(reg);
    if (rule === null) return true;
    const engine = this.engine!.name;
    const why = rule === 'register-range' ? 'beyond the 2 MiB register space'
      : rule === 'register-whitelist' ? `not command-accessible on ${engine}`
        : `a register of ${GEN9_ENGINES[registerOwner(reg)].name}, not of ${engine}`;
    return this.fail(rule, `${name} ${verb} register ${hex(reg)}: ${why}`, s, i);
  }

  /**
   * False for registers whose written value must itself be audited or rewritten, so cannot come
   * from memory or from another register: PDPs, FORCE_TO_NONPRIV slots, RING_MODE, GGTT addresses.
   */
  private valueFree(offset: number): boolean {
    return lriCase(offset) === LriCase.NONE && !isForceNonpriv(offset) && !registerHoldsAddress(offset);
  }

  /**
   * LRI of the ring's PDP0 upper dword (at `hiAt`) followed by its lower dword (at `loAt`): the
   * guest PML4 they name is replaced by the shadow PML4 (GVT-g `cmd_pdp_mmio_update_handler`).
   */
  private checkPdpPair(udw: number, hiAt: number, loAt: number, s: ShadowBuffer, i: number): boolean {
    if (!this.checkRegister(udw, s, i, 'MI_LOAD_REGISTER_IMM', 'writes') || !this.checkRegister(udw - 4, s, i, 'MI_LOAD_REGISTER_IMM', 'writes')) return false;
    const data = s.data;
    const guest = (data[hiAt] >>> 0) * TWO_POW_32 + (data[loAt] >>> 0);
    const env = this.env!;
    const root = env.shadowPpgttRoot !== undefined ? env.shadowPpgttRoot(guest) : -1;
    if (!(root >= 0)) {
      return this.fail('register-value', `MI_LOAD_REGISTER_IMM loads PML4 ${hex(guest)} into PDP0: no shadow PPGTT of it in a 4-level context`, s, i);
    }
    data[hiAt] = Math.floor(root / TWO_POW_32) >>> 0;
    data[loAt] = root >>> 0;
    this.result.registerValuesPatched++;
    return true;
  }

  /**
   * One register write with an immediate value at `data[valueAt]`: an LRI pair, or PIPE_CONTROL's
   * LRI post-sync (treated as a one-pair LRI; GVT-g only checks its register against the whitelist).
   * The special cases of GVT-g's `cmd_reg_handler` follow the whitelist check.
   */
  private checkRegisterWrite(reg: number, valueAt: number, s: ShadowBuffer, i: number, name: string): boolean {
    if (!this.checkRegister(reg, s, i, name, 'writes')) return false;
    const env = this.env!;
    const data = s.data;
    const c = lriCase(reg);
    if (c === LriCase.PDP0_UDW || c === LriCase.PDP0_LDW || c === LriCase.PDP_OTHER) {
      return this.fail('register-value', `${name} writes page-directory pointer ${hex(reg)} outside a PDP0 upper-then-lower LRI pair: a guest-physical root the auditor cannot patch`, s, i);
    }
    const value = data[valueAt] >>> 0;
    if (c === LriCase.RING_MODE) {
      // ring_mode_mmio_write: failsafe cases, and bit 1 never reaches the hardware.
      const why = ringModeFailsafe(value, env.gvtAware ?? true);
      if (why !== null) return this.fail('unsupported-guest', `${name} to RING_MODE ${hex(reg)} = ${hex(value)}: ${why}`, s, i);
      const kept = (value & ~RING_MODE_DROPPED) >>> 0;
      if (kept !== value) {
        data[valueAt] = kept;
        this.result.registerValuesPatched++;
      }
    } else if (c === LriCase.FORCE_NONPRIV) {
      // force_nonpriv_write: a register off GVT-g's list leaves the slot as it was, silently.
      const owner = registerOwner(reg);
      if (!forceNonprivValueOk(value, GEN9_ENGINES[owner >= 0 ? owner : 0])) {
        data[valueAt] = (env.readVreg !== undefined ? env.readVreg(reg) : REG_RESET[reg >>> 2]) >>> 0;
        this.result.registerValuesPatched++;
        log('%s: FORCE_TO_NONPRIV %s = %s is not on GVT-g\'s list: kept %s', this.engine!.name, hex(reg), hex(value), hex(data[valueAt]));
      }
    }
    if (registerHoldsAddress(reg)) {
      // The value is a GGTT address (RegFlag.GMADR): check one page there and patch it.
      if (!s.privileged) return this.fail('privileged-command', `${name} writes GGTT address register ${hex(reg)} in a non-privileged batch`, s, i);
      const page = Math.floor(value / 4096) * 4096;
      const delta = this.translateRange(page, 4096, s, i, `${name} value for ${hex(reg)}`);
      if (delta === null) return false;
      const patched = value + delta;
      if (patched >= TWO_POW_32) return this.fail('address-bounds', `${name} value for ${hex(reg)} translates above 4 GiB`, s, i);
      data[valueAt] = patched >>> 0;
      this.result.addressesPatched++;
    }
    // cmd_reg_handler: the MOCS ranges keep the value in the vreg; so do the in-context registers
    // of a restore-inhibit context (ctx_sr_ctl & 1).
    if (isMocsVreg(reg) || (isInContextVreg(reg) && ((env.contextControl ?? 0) & CTX_RESTORE_INHIBIT) !== 0)) {
      this.result.pushVreg(reg, data[valueAt]);
    }
    return true;
  }

  /** The memory effects of command `id` (the register commands' handlers check their registers). */
  private checkFields(id: number, s: ShadowBuffer, i: number, len: number): boolean {
    return this.checkEffects(id, s, i, len, false);
  }

  /**
   * Check, and patch when GGTT, exactly the effects `effectsOf` (lib/device/commands/effects.ts)
   * describes for command `id` at `data[i]`, the effects the device performs:
   * - a command the table cannot describe is refused (`malformed-command`, or `address-bounds`
   *   for untabulated addresses);
   * - GGTT memory (a header bit, or a context-relative address in a context without a PPGTT):
   *   refused in a non-privileged batch; else the whole extent is bounds-checked and the field
   *   patched to the host address;
   * - PPGTT memory: accepted (the shadow PPGTT maps only the guest's frames), a blit's extent
   *   bounded and kept inside the 48-bit space;
   * - status-page writes by index: inside the per-process status page; the engine's page refused;
   * - register writes with an immediate value, when `registers` (PIPE_CONTROL's LRI post-sync):
   *   `checkRegisterWrite`, as an MI_LOAD_REGISTER_IMM pair;
   * - work (`effectWork`): per command and per workload budgets (`command-budget`).
   */
  private checkEffects(id: number, s: ShadowBuffer, i: number, len: number, registers: boolean): boolean {
    const fx = this.fx;
    const n = effectsOf(id, s.data, i, len, fx);
    if (n < 0) {
      return this.fail(n === EffectsError.UNTABULATED ? 'address-bounds' : 'malformed-command', `${COMMANDS[id].name} of ${len} dwords ${effectsProblem(n)}`, s, i);
    }
    const limits = this.limits;
    let work = 0;
    for (let k = 0; k < n; k++) {
      const o = k * EFFECT_STRIDE;
      const kind = fx[o + E_KIND];
      if (kind === EffectKind.REG_READ) continue;
      if (kind === EffectKind.REG_WRITE) {
        if (!registers) continue;
        if (fx[o + E_VALUE] !== ValueSource.IMMEDIATE) {
          return this.fail('register-whitelist', `${COMMANDS[id].name} writes register ${hex(fx[o + E_ADDR])} from a value that cannot be audited`, s, i);
        }
        if (!this.checkRegisterWrite(fx[o + E_ADDR], i + fx[o + E_VALUE_AT], s, i, COMMANDS[id].name)) return false;
        continue;
      }
      if (kind === EffectKind.FLIP) {
        // A display surface: a GGTT address whatever the context (GVT-g reads it as one), so only
        // where GGTT accesses are legal, and inside the vGPU's memory. Never patched: the virtual
        // plane register keeps the guest's address (the command itself is NOOPed).
        if (!s.privileged) {
          return this.fail('privileged-command', `${COMMANDS[id].name} surface ${hex(fx[o + E_ADDR])} is a GGTT address in a non-privileged (PPGTT) batch`, s, i);
        }
        if (this.translateRange(fx[o + E_ADDR], fx[o + E_BYTES], s, i, `${COMMANDS[id].name} surface`) === null) return false;
        this.result.pushFlip(fx[o + E_PIPE], fx[o + E_PLANE], fx[o + E_ADDR], fx[o + E_FLIP_STRIDE], fx[o + E_FLIP_TILING], fx[o + E_FLIP_ASYNC]);
        continue;
      }
      work += effectWork(fx, k);
      if (kind === EffectKind.STATUS_PAGE) {
        if (fx[o + E_SPACE] !== EffectSpace.PPHWSP) return this.fail('privileged-command', `${COMMANDS[id].name} writes the engine's status page (the host's)`, s, i);
        // Store Data Index: an offset in the context's status page (GVT-g: below 4 KiB; not translated here).
        const at = fx[o + E_ADDR];
        if (at + fx[o + E_BYTES] > HWSP_BYTES) {
          return this.fail('address-bounds', `${COMMANDS[id].name} status-page index ${hex(at)} (+${fx[o + E_BYTES]} bytes) is beyond the page`, s, i);
        }
        continue;
      }
      // MEM, BLIT, POINTER: a graphics address.
      const space = fx[o + E_SPACE];
      const ggtt = space === EffectSpace.GGTT || (space === EffectSpace.CONTEXT && !this.contextPpgtt);
      let lo = 0;
      let size = fx[o + E_BYTES];
      if (kind === EffectKind.BLIT) {
        const w = effectWork(fx, k);
        if (w > limits.maxCommandWorkBytes) {
          return this.fail('command-budget', `${COMMANDS[id].name} ${this.fieldName(id, fx[o + E_FIELD])}: ${w} bytes of work exceed the per-command budget of ${limits.maxCommandWorkBytes}`, s, i);
        }
        blitRange(fx, k, this.extent);
        lo = this.extent[0];
        size = this.extent[1] - lo;
        if (!ggtt) {
          // A PPGTT blit reaches only the guest's frames, but its extent stays bounded and inside [0, 2^48).
          const base = fx[o + E_ADDR] + lo;
          if (size > limits.maxSurfaceBytes) {
            return this.fail('address-bounds', `${COMMANDS[id].name} ${this.fieldName(id, fx[o + E_FIELD])}: ${size} bytes exceed the ${limits.maxSurfaceBytes}-byte surface limit`, s, i);
          }
          if (!(base >= 0 && base + size <= 2 ** 48)) {
            return this.fail('address-bounds', `${COMMANDS[id].name} ${this.fieldName(id, fx[o + E_FIELD])}: its rows leave the 48-bit PPGTT space`, s, i);
          }
          continue;
        }
      }
      if (!ggtt) continue;
      if (!s.privileged) {
        return this.fail('privileged-command', `${COMMANDS[id].name} ${this.fieldName(id, fx[o + E_FIELD])} is a GGTT address in a non-privileged (PPGTT) batch`, s, i);
      }
      if (!(size > 0)) return this.fail('malformed-command', `${COMMANDS[id].name} of ${len} dwords writes nothing`, s, i);
      if (!this.patchEffect(id, o, lo, size, s, i)) return false;
    }
    if (work > limits.maxCommandWorkBytes) {
      return this.fail('command-budget', `${COMMANDS[id].name}: ${work} bytes of work exceed the per-command budget of ${limits.maxCommandWorkBytes}`, s, i);
    }
    this.workloadWork += work;
    if (this.workloadWork > limits.maxWorkloadWorkBytes) {
      return this.fail('command-budget', `workload's commands move more than ${limits.maxWorkloadWorkBytes} bytes`, s, i);
    }
    return true;
  }

  /** Name of the address field at dword `dword` of command `id` (messages only). */
  private fieldName(id: number, dword: number): string {
    const f = COMMANDS[id].addressDwords?.find((a) => a.dword === dword || (a.repeatStride !== undefined && dword > a.dword && (dword - a.dword) % a.repeatStride === 0));
    return f?.name ?? 'address';
  }

  /**
   * Bounds-check the GGTT extent [addr + lo, + size) of effect record `o` and rewrite its address
   * field (dword `E_FIELD`, bits from `E_LOWBIT` up) to the host's.
   */
  private patchEffect(id: number, o: number, lo: number, size: number, s: ShadowBuffer, i: number): boolean {
    const fx = this.fx;
    const data = s.data;
    const addr = fx[o + E_ADDR];
    // The field's name is looked up only for a message: not on the path of an address that passes.
    const delta = this.translateRange(addr + lo, size, s, i, null, id, fx[o + E_FIELD]);
    if (delta === null) return false;
    const patched = addr + delta;
    const at = i + fx[o + E_FIELD];
    const lowBit = fx[o + E_LOWBIT];
    const lowMask = lowBit === 0 ? 0 : ((1 << lowBit) - 1) >>> 0;
    if (fx[o + E_IS64] === 1) {
      if (!(patched >= 0 && patched < 2 ** 48)) return this.fail('address-bounds', `${this.what(null, id, fx[o + E_FIELD])} translates outside the 48-bit space`, s, i);
      data[at] = (((patched >>> 0) & ~lowMask) | (data[at] & lowMask)) >>> 0;
      data[at + 1] = ((data[at + 1] & 0xffff0000) | (Math.floor(patched / TWO_POW_32) & 0xffff)) >>> 0;
    } else {
      if (!(patched >= 0 && patched < TWO_POW_32)) return this.fail('address-bounds', `${this.what(null, id, fx[o + E_FIELD])} translates above 4 GiB`, s, i);
      data[at] = (((patched >>> 0) & ~lowMask) | (data[at] & lowMask)) >>> 0;
    }
    this.result.addressesPatched++;
    return true;
  }

  /** What a message names: `text`, or address field `field` of command `id`. */
  private what(text: string | null, id: number, field: number): string {
    return text ?? `${COMMANDS[id].name} ${this.fieldName(id, field)}`;
  }

  /**
   * Check that [gma, gma + bytes) lies in the vGPU's graphics memory and translates by one offset
   * on every page; returns that offset (host − guest), or null after recording the violation.
   */
  private translateRange(gma: number, bytes: number, s: ShadowBuffer, i: number, text: string | null, id = -1, field = -1): number | null {
    const env = this.env!;
    const max = this.limits.maxSurfaceBytes;
    if (bytes > max) {
      this.fail('address-bounds', `${this.what(text, id, field)}: ${bytes} bytes at ${hex(Math.max(gma, 0))} exceed the ${max}-byte surface limit`, s, i);
      return null;
    }
    if (!(gma >= 0) || !env.ggttAddressOk(gma, bytes)) {
      this.fail('address-bounds', `${this.what(text, id, field)}: [${gma < 0 ? '-' + hex(-gma) : hex(gma)}, +${bytes}) is outside the vGPU's graphics memory`, s, i);
      return null;
    }
    const host = env.translateGgtt(gma);
    const delta = host - gma;
    if (host < 0 || delta % 4096 !== 0) {
      this.fail('address-bounds', `${this.what(text, id, field)}: ${hex(gma)} does not translate`, s, i);
      return null;
    }
    // Every further page must move by the same offset (the device adds offsets to the patched base).
    for (let page = Math.floor(gma / 4096) * 4096 + 4096; page < gma + bytes; page += 4096) {
      if (env.translateGgtt(page) - page !== delta) {
        this.fail('address-bounds', `${this.what(text, id, field)}: [${hex(gma)}, +${bytes}) is not contiguous in host graphics memory`, s, i);
        return null;
      }
    }
    return delta;
  }

  // --- violations -------------------------------------------------------------------------------------

  private stop(rule: AuditRuleName, message: string, s: ShadowBuffer | null, i: number): number {
    this.fail(rule, message, s, i);
    return STOP;
  }

  /** Record the violation (the first one wins) and return false. */
  private fail(rule: AuditRuleName, message: string, s: ShadowBuffer | null, i: number): boolean {
    const r = this.result;
    if (!r.ok) return false;
    const engine = this.engine!;
    let gma = this.ringBase;
    let space: 'ggtt' | 'ppgtt' = 'ggtt';
    let level = 0;
    let header = '';
    let command = '';
    if (s !== null && i >= 0) {
      level = s.level;
      if (s.level === 0) gma = this.ringBase + ((this.ringHead + 4 * i) % this.ringSize);
      else {
        gma = s.guestGma + 4 * i;
        space = s.ppgtt ? 'ppgtt' : 'ggtt';
      }
      if (i < s.copied) {
        const dw0 = s.data[i] >>> 0;
        header = hex(dw0, 8);
        this.decoder.decode(s.data, i, s.copied, engine.engineClass);
        command = commandName(this.decoder.id);
      }
    }
    r.ok = false;
    r.violation = Object.freeze({ rule, code: RULE_CODE[rule], gma, space, level, offset: s !== null ? i : -1, header, command, engine: engine.name, message });
    log('%s refused by %s at %s %s (%s %s): %s', engine.name, rule, space, hex(gma), command, header, message);
    return false;
  }
}
