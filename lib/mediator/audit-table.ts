/**
 * The audit decision of every Gen9 command, as one table indexed by command id (`COMMANDS`).
 *
 * A decision says what the auditor does with a command: `allowed` (copied as is), `patched`
 * (GGTT addresses bounds-checked and rewritten to host addresses in the shadow; PPGTT ones are
 * accepted), `noop` (replaced by MI_NOOPs in the shadow), `refused` (everywhere),
 * `privileged-only` (refused in non-privileged batches, i.e. batches the guest started through
 * its PPGTT) or `ppgtt-only` (address fields not tabulated: accepted only in a context whose
 * context-relative addresses go through its PPGTT, refused in a GGTT context where they could not
 * be bounds-checked). `handler` names the per-command work of the scan; `rule` the rule that
 * refuses it; `reason` why, citing GVT-g (`gvt/cmd_parser.c`) where the decision is its.
 *
 * The table is built from the command table's flags and address fields (`lib/device/commands`),
 * so a command added there gets a decision by the same rules; named rows below override them.
 * `buildAuditTable` checks that every command has exactly one decision.
 */
import { ConfigError, TableError } from '../errors.js';
import { COMMANDS, CommandFlag, type CommandInfo } from '../device/commands/index.js';
import type { AuditRuleName } from './audit-rules.js';

/** What the auditor does with a command. */
export type AuditAction = 'allowed' | 'patched' | 'noop' | 'refused' | 'privileged-only' | 'ppgtt-only';

/** The per-command work of the scan for an admitted command. */
export type AuditHandler =
  | 'none'
  | 'addresses'
  | 'lri'
  | 'register-memory'
  | 'lrr'
  | 'pipe-control'
  | 'flush-dw'
  | 'batch-start'
  | 'batch-end'
  | 'user-interrupt'
  | 'display-flip';

/** One row of the audit table. */
export interface AuditDecision {
  /** Command id (index in `COMMANDS` and in the table). */
  readonly id: number;
  readonly name: string;
  readonly action: AuditAction;
  readonly handler: AuditHandler;
  /** The rule that refuses it (`refused`, `privileged-only`, `ppgtt-only`), else null. */
  readonly rule: AuditRuleName | null;
  readonly reason: string;
}

// What each command reads and writes (addresses, spaces, extents, flag bits) is described once in
// lib/device/commands/effects.ts; the auditor checks exactly those effects.

const F = CommandFlag;

/**
 * Commands the host owns: refused wherever they appear, with the rule whose fault class matches
 * GVT-g's answer (refused-command: GVT-g has no entry, -EBADRQC, failsafe; privileged-command:
 * GVT-g admits it, so gvtkit's refusal only fails the workload).
 */
const HOST_OWNED: Readonly<Record<string, { rule: AuditRuleName; reason: string }>> = {
  // MI_DISPLAY_FLIP was here (refused, privileged-command) while gvtkit had no display: issue 16
  // emulates it (DISPLAY_FLIP below).
  MI_SET_CONTEXT: {
    rule: 'refused-command',
    reason: 'legacy ring-buffer context switch to a GGTT context image: contexts are the mediator\'s (execlists); ' +
      'not in GVT-g\'s table either (EBADRQC)',
  },
  MI_FORCE_WAKEUP: {
    rule: 'refused-command',
    reason: 'writes the engine\'s forcewake request: host power management; not in GVT-g\'s table (EBADRQC)',
  },
};

/** Why GVT-g refuses the commands it flags (`CommandFlag.GVT_REFUSES`). */
const GVT_REFUSAL: Readonly<Record<string, string>> = {
  // Each returns unexpected_cmd(): -EBADRQC, which puts the vGPU in failsafe (rule refused-command).
  MI_SEMAPHORE_WAIT: 'GVT-g refuses it (cmd_handler_mi_semaphore_wait): an engine waiting on guest memory across vGPU switches',
  MI_REPORT_PERF_COUNT: 'GVT-g refuses it (cmd_handler_mi_report_perf_count): OA counters are global',
  MI_STORE_DATA_INDEX: 'GVT-g refuses it (cmd_handler_mi_store_data_index): writes the host\'s status page',
  MI_CLFLUSH: 'GVT-g refuses it (cmd_handler_mi_clflush)',
  MI_CONDITIONAL_BATCH_BUFFER_END: 'GVT-g refuses it (cmd_handler_mi_conditional_batch_buffer_end)',
  MI_UPDATE_GTT: 'GVT-g refuses it (cmd_handler_mi_update_gtt): writes GGTT entries, the host\'s',
  MI_COPY_MEM_MEM: 'GVT-g refuses MI opcode 0x2e (cmd_handler_mi_op_2e)',
};

/** Display waits GVT-g NOOPs (cmd_handler_mi_wait_for_event) and scan-line loads of the host display. */
const DISPLAY_NOOP =
  'waits on or programs the host display, which the guest does not own: replaced by MI_NOOP. GVT-g NOOPs ' +
  'MI_WAIT_FOR_EVENT when it waits on a flip (cmd_handler_mi_wait_for_event) and passes other waits and ' +
  'MI_LOAD_SCAN_LINES_INCL to the hardware; gvtkit\'s host has no display and the vGPU\'s display events are ' +
  'virtual (lib/display), invisible to the engine, so every form is NOOPed';

/**
 * MI_DISPLAY_FLIP: emulated on the vGPU's virtual display, as GVT-g's `cmd_handler_mi_display_flip`
 * (decode, check, update the plane registers, NOOP), with the surface checked as a GGTT address.
 */
const DISPLAY_FLIP =
  'emulated on the vGPU\'s virtual display and replaced by MI_NOOP (GVT-g cmd_handler_mi_display_flip): its one ' +
  'FLIP effect (lib/device/commands/effects.ts) is decoded (plane select, stride, tiling, surface, flip type), ' +
  'the surface\'s first page checked as a GGTT address (privileged-command from a PPGTT batch, address-bounds ' +
  'outside the vGPU\'s memory), a reserved plane code, flip type or length refused (malformed-command); a passing ' +
  'workload\'s flips update the virtual plane registers at dispatch (lib/display/vblank.ts commandFlip)';

/** Commands the hardware accepts only from privileged (ring or GGTT) batches. */
const PRIVILEGED_ONLY: Readonly<Record<string, string>> = {
  MI_ARB_ON_OFF: 'turns preemption off: a privileged command (PRM), kept from non-privileged batches',
  MI_SUSPEND_FLUSH: 'suspends flushes: a privileged command (PRM), kept from non-privileged batches',
};

/** Options that override the default decisions by command name. */
export type AuditOverrides = Readonly<Record<string, 'refused' | 'privileged-only' | 'patched'>>;

function decide(c: CommandInfo): Omit<AuditDecision, 'id' | 'name'> {
  const f = c.flags;
  const hostOwned = HOST_OWNED[c.name];
  if (hostOwned) return { action: 'refused', handler: 'none', rule: hostOwned.rule, reason: hostOwned.reason };
  if (f & F.GVT_REFUSES) {
    return { action: 'refused', handler: 'none', rule: 'refused-command', reason: GVT_REFUSAL[c.name] ?? 'GVT-g refuses it outright' };
  }
  if (f & F.BATCH_START) {
    return { action: 'patched', handler: 'batch-start', rule: null, reason: 'followed into a shadow copy; the address is rewritten to the shadow\'s' };
  }
  if (f & F.BATCH_END) return { action: 'allowed', handler: 'batch-end', rule: null, reason: 'ends the batch' };
  if (f & F.USER_INTERRUPT) {
    return {
      action: 'noop', handler: 'user-interrupt', rule: null,
      reason: 'replaced by MI_NOOP and raised virtually at completion (GVT-g cmd_handler_mi_user_interrupt)',
    };
  }
  if (c.name === 'MI_DISPLAY_FLIP') return { action: 'noop', handler: 'display-flip', rule: null, reason: DISPLAY_FLIP };
  if (f & F.DISPLAY) return { action: 'noop', handler: 'none', rule: null, reason: DISPLAY_NOOP };
  const privileged = PRIVILEGED_ONLY[c.name];
  if (privileged) return { action: 'privileged-only', handler: 'none', rule: 'privileged-command', reason: privileged };
  switch (c.name) {
    case 'MI_LOAD_REGISTER_IMM':
      return { action: 'allowed', handler: 'lri', rule: null, reason: 'every (register, value) pair checked against the whitelist' };
    case 'MI_LOAD_REGISTER_REG':
      return { action: 'allowed', handler: 'lrr', rule: null, reason: 'source and destination checked against the whitelist' };
    case 'MI_STORE_REGISTER_MEM':
    case 'MI_LOAD_REGISTER_MEM':
      return { action: 'patched', handler: 'register-memory', rule: null, reason: 'register checked against the whitelist; GGTT address checked and patched' };
    case 'PIPE_CONTROL':
      return {
        action: 'patched', handler: 'pipe-control', rule: null,
        reason: 'post-sync write address checked and patched when GGTT; LRI post-sync register checked; notify counted',
      };
    case 'MI_FLUSH_DW':
      return { action: 'patched', handler: 'flush-dw', rule: null, reason: 'post-sync write address checked and patched when GGTT; notify counted' };
  }
  if (c.addressDwords && c.addressDwords.length > 0) {
    return { action: 'patched', handler: 'addresses', rule: null, reason: 'graphics addresses checked; GGTT ones patched to host addresses' };
  }
  if ((f & F.HAS_ADDRESS) !== 0 && c.addressDwords === undefined) {
    return {
      action: 'ppgtt-only', handler: 'none', rule: 'address-bounds',
      reason: 'carries graphics addresses whose fields are not tabulated: accepted only when the context translates them through its PPGTT',
    };
  }
  return { action: 'allowed', handler: 'none', rule: null, reason: 'no graphics address, no register access' };
}

function override(c: CommandInfo, base: AuditDecision, to: string): AuditDecision {
  const where = `decisions.${c.name}`;
  const control = (c.flags & (F.BATCH_START | F.BATCH_END)) !== 0;
  if (to === 'refused') return { ...base, action: 'refused', handler: 'none', rule: 'privileged-command', reason: 'refused by option' };
  if (to === 'privileged-only') {
    if (control) throw new ConfigError(where, 'batch control commands cannot be privileged-only');
    if (base.action === 'refused' || base.action === 'noop') throw new ConfigError(where, `a ${base.action} command cannot become privileged-only`);
    return { ...base, action: 'privileged-only', rule: 'privileged-command', reason: `${base.reason}; privileged-only by option` };
  }
  if (to === 'patched') {
    if (base.action !== 'refused' || control || (c.flags & (F.GGTT_UPDATE | F.HWSP_INDEX)) !== 0 || HOST_OWNED[c.name] ||
      !c.addressDwords?.length) {
      throw new ConfigError(where, 'only refused commands with tabulated memory addresses can be admitted as patched');
    }
    return { ...base, action: 'patched', handler: 'addresses', rule: null, reason: 'graphics addresses checked and patched (admitted by option)' };
  }
  throw new ConfigError(where, `unknown action ${JSON.stringify(to)} (refused, privileged-only or patched)`);
}

/**
 * Build the audit table over `commands` (default: every Gen9 command), applying `overrides` by
 * name. Throws `ConfigError` for an override naming no command or asking for an action the
 * command cannot take, `TableError` when the table is not total.
 */
export function buildAuditTable(overrides: AuditOverrides = {}, commands: readonly CommandInfo[] = COMMANDS): AuditDecision[] {
  const byName = new Map(commands.map((c) => [c.name, c]));
  for (const name of Object.keys(overrides)) {
    if (!byName.has(name)) throw new ConfigError(`decisions.${name}`, 'no such command');
  }
  const table = commands.map((c, id): AuditDecision => {
    if (c.id !== id) throw new TableError(`command ${c.name} has id ${c.id} at index ${id}`);
    const base: AuditDecision = { id, name: c.name, ...decide(c) };
    const to = overrides[c.name];
    return Object.freeze(to === undefined ? base : override(c, base, to));
  });
  if (table.length !== commands.length) throw new TableError('audit table is not total over the command table');
  return table;
}

/** The default decision of every Gen9 command, indexed by command id. */
export const AUDIT_TABLE: readonly AuditDecision[] = Object.freeze(buildAuditTable());

/** The default decision for a command name, or undefined. */
export function auditDecision(name: string): AuditDecision | undefined {
  return AUDIT_TABLE.find((d) => d.name === name);
}
