/**
 * The device's cost model: simulated nanoseconds charged per command, per byte blitted and per
 * context switch. Data, not code: the executor looks costs up by command id in a dense array
 * compiled once per model.
 *
 * The figures are modelling assumptions of the right order for a Gen9 GT2 part (about 1 GHz
 * command streamer, a few GB/s of blitter fill/copy bandwidth, microsecond-scale context
 * switches), not measurements. They are here to make relative costs and scheduling behaviour
 * plausible; tests never assert on them.
 */
import { COMMANDS, GEN9_TABLE } from './commands/index.js';
import { ConfigError } from '../errors.js';

/** Cost model. All times in simulated ns. */
export interface CostModel {
  /** Cost of a command without an entry in `commands`: `defaultCommandNs + perDwordNs · length`. */
  defaultCommandNs: number;
  /** Parse cost per command dword (added to every command). */
  perDwordNs: number;
  /** Fixed costs of named commands (genxml names), on top of the per-dword parse cost. */
  commands: Readonly<Record<string, number>>;
  /** Extra cost per register written by MI_LOAD_REGISTER_IMM. */
  lriPerRegisterNs: number;
  /** Extra cost per dword written by MI_STORE_DATA_IMM. */
  storeDataPerDwordNs: number;
  /** Blitter: fixed setup cost of one blit. */
  blitSetupNs: number;
  /** Blitter fill bandwidth (bytes per ns) for XY_COLOR_BLT. */
  fillBytesPerNs: number;
  /** Blitter copy bandwidth (bytes per ns) for XY_SRC_COPY_BLT (read + write). */
  copyBytesPerNs: number;
  /** Blitter bandwidth for ROPs that read the destination (read-modify-write). */
  ropBytesPerNs: number;
  /** Loading a context image (register state restore, ring setup). */
  contextRestoreNs: number;
  /** Saving a context image at completion or preemption. */
  contextSaveNs: number;
  /** Lite restore (same context resubmitted: only the tail is sampled again). */
  liteRestoreNs: number;
  /**
   * Engine time slice of one simulation step: the engine executes commands until it has charged
   * this much, then schedules its next step so that other events interleave.
   */
  chunkNs: number;
  /** Upper bound of commands executed in one step (bounds host CPU time per event). */
  maxCommandsPerChunk: number;
}

/** Default costs. */
export const DEFAULT_COST_MODEL: Readonly<CostModel> = Object.freeze({
  defaultCommandNs: 10,
  perDwordNs: 1,
  commands: Object.freeze({
    MI_NOOP: 1,
    MI_ARB_CHECK: 4,
    MI_ARB_ON_OFF: 4,
    MI_USER_INTERRUPT: 20,
    MI_BATCH_BUFFER_START: 120,
    MI_BATCH_BUFFER_END: 40,
    MI_STORE_DATA_IMM: 40,
    MI_STORE_DATA_INDEX: 40,
    MI_LOAD_REGISTER_IMM: 20,
    MI_STORE_REGISTER_MEM: 80,
    MI_LOAD_REGISTER_MEM: 100,
    MI_LOAD_REGISTER_REG: 40,
    MI_FLUSH_DW: 250,
    MI_SEMAPHORE_WAIT: 100,
    MI_MATH: 30,
    PIPE_CONTROL: 400,
    PIPELINE_SELECT: 200,
    STATE_BASE_ADDRESS: 150,
    '3DPRIMITIVE': 2000,
    GPGPU_WALKER: 4000,
    MEDIA_OBJECT: 1500,
    MFX_PIPE_MODE_SELECT: 100,
  }),
  lriPerRegisterNs: 15,
  storeDataPerDwordNs: 4,
  blitSetupNs: 300,
  fillBytesPerNs: 16,
  copyBytesPerNs: 8,
  ropBytesPerNs: 6,
  contextRestoreNs: 1500,
  contextSaveNs: 800,
  liteRestoreNs: 200,
  chunkNs: 10_000,
  maxCommandsPerChunk: 4096,
});

/** A cost model merged with the defaults and compiled to a per-command-id array. */
export interface CompiledCostModel extends Readonly<CostModel> {
  /** Fixed cost per command id (the per-dword part is added at execution). */
  readonly byId: Float64Array;
}

function checkNonNegative(field: string, v: number): void {
  if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw new ConfigError(`cost.${field}`, `${v} is not a non-negative number`);
}

/**
 * Merge `override` into the defaults and compile. Throws `ConfigError` for a negative or
 * non-numeric cost, a non-positive bandwidth or chunk, or a command name not in the table.
 */
export function compileCostModel(override: Partial<CostModel> = {}): CompiledCostModel {
  const m: CostModel = {
    ...DEFAULT_COST_MODEL,
    ...override,
    commands: { ...DEFAULT_COST_MODEL.commands, ...(override.commands ?? {}) },
  };
  for (const k of Object.keys(m) as (keyof CostModel)[]) {
    if (k === 'commands') continue;
    checkNonNegative(k, m[k] as number);
  }
  for (const k of ['fillBytesPerNs', 'copyBytesPerNs', 'ropBytesPerNs', 'chunkNs', 'maxCommandsPerChunk'] as const) {
    if (!(m[k] > 0)) throw new ConfigError(`cost.${k}`, `${m[k]} must be positive`);
  }
  const byId = new Float64Array(COMMANDS.length).fill(m.defaultCommandNs);
  for (const [name, ns] of Object.entries(m.commands)) {
    const id = GEN9_TABLE.byName.get(name);
    if (id === undefined) throw new ConfigError(`cost.commands.${name}`, 'no such command in the Gen9 table');
    checkNonNegative(`commands.${name}`, ns);
    byId[id] = ns;
  }
  return Object.freeze({ ...m, byId });
}
