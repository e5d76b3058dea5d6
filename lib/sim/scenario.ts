/**
 * Scenario files: what `gvtkit sim` runs, as JSON, and their validation.
 *
 * A scenario names a device, a mediator design, a scheduler, a simulated duration, a seed and a
 * list of vGPUs, each with a vGPU type, guest RAM, scheduling parameters and a workload generator
 * (`lib/sim/workloads.ts`). Validation collects every problem and throws one `ScenarioError`
 * (code `E_SCENARIO`) whose lines each name the bad field by its JSON path, e.g.
 * `vgpus[2].workload.kind: unknown workload 'gme' (known: game, media, blit, idle, bursty, attacker)`.
 * Unknown fields are errors too (a misspelt field would otherwise be silently ignored).
 *
 * ```json
 * {
 *   "name": "demo", "seed": 7, "durationMs": 2000,
 *   "device": { "apertureMiB": 1024, "hostMemoryMiB": 2048 },
 *   "mediator": { "mode": "mediated", "failsafe": "never" },
 *   "scheduler": { "policy": "time-slice", "options": { "sliceMs": 1 }, "watchdogMs": 100 },
 *   "vgpus": [ { "name": "game", "type": "GVTg_V5_4", "ramMiB": 128, "workload": { "kind": "game", "fps": 0 } } ]
 * }
 * ```
 */
import { GvtError, ConfigError } from '../errors.js';
import type { FailsafePolicy, MediationMode } from '../mediator/mediator.js';
import { createPolicy, PRIORITY_LEVELS, type PolicyName, type PolicyOptions } from '../scheduler/policies.js';
import type { PriorityLevel } from '../scheduler/types.js';
import { GEN9_VGPU_TYPES } from '../gtt/vgpu-types.js';
import { COMMANDS } from '../device/commands/index.js';
import { DEFAULT_COST_MODEL, type CostModel } from '../device/cost.js';
import { MONITOR_PORTS, resolveMonitor } from '../display/monitors.js';
import type { ModeSpec } from '../display/edid.js';

/** A scenario failed validation. `errors` holds every problem, `path` the first bad field. */
export class ScenarioError extends GvtError {
  readonly path: string;
  readonly errors: readonly { path: string; message: string }[];
  constructor(errors: readonly { path: string; message: string }[], source?: string) {
    const lines = errors.map((e) => `${e.path}: ${e.message}`);
    super('E_SCENARIO', (source ? `${source}: ` : '') + (lines.length === 1 ? lines[0] : `${lines.length} problems:\n  ${lines.join('\n  ')}`));
    this.path = errors[0]?.path ?? '';
    this.errors = errors;
  }
}

/** The mediator designs a scenario may run under. */
export const MODES: readonly MediationMode[] = Object.freeze(['passthrough', 'mediated', 'sriov', 'emulated']);
/** Failsafe policies. */
export const FAILSAFE_POLICIES: readonly FailsafePolicy[] = Object.freeze(['gvt-g', 'always', 'never']);
/** Workload kinds. */
export const WORKLOAD_KINDS = Object.freeze(['game', 'media', 'blit', 'idle', 'bursty', 'attacker'] as const);
/** A workload kind. */
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];
/** Attacks of the `attacker` workload (see `lib/sim/workloads.ts` for what each does). */
export const ATTACK_KINDS = Object.freeze([
  'forbidden-lri', 'store-outside', 'self-chain', 'unknown-opcode', 'ggtt-from-ppgtt', 'pte-outside', 'ppgtt-pte-outside',
] as const);
/** An attack kind. */
export type AttackKind = (typeof ATTACK_KINDS)[number];

/** A 3D frame loop on RCS (plus a present blit on BCS). */
export interface GameWorkload {
  kind: 'game';
  /** Target frame rate; 0 = GPU-bound (closed loop, `maxFramesInFlight` frames queued). */
  fps: number;
  /** 3DPRIMITIVE draws per frame. */
  draws: number;
  /** Draws between material (shader/binding/vertex layout) changes, on average. */
  drawsPerMaterial: number;
  /**
   * Present: the frame drawn on BCS into the scanout buffer not shown and flipped to ('blit'), or
   * the end-of-frame PIPE_CONTROL only ('none': the screen's panel is redrawn every 100 ms).
   */
  present: 'blit' | 'none';
  /** Render size in pixels (the drawing rectangle and depth buffer); the default monitor mode. */
  width: number;
  height: number;
  /** MI_ARB_CHECK (a preemption point) every this many draws; 0 = none. */
  arbEvery: number;
  /** Frames submitted and not yet presented, at most. */
  maxFramesInFlight: number;
}

/** A video decode stream on VCS. */
export interface MediaWorkload {
  kind: 'media';
  fps: number;
  /** Slices per frame (one MFD_AVC_BSD_OBJECT each). */
  slices: number;
  /** Every this many frames an I frame (no reference-list state). */
  gop: number;
}

/** A blitter copy stream on BCS. */
export interface BlitWorkload {
  kind: 'blit';
  /** Workloads per second; 0 = closed loop (as fast as they complete). */
  rate: number;
  /** XY_SRC_COPY_BLT per workload. */
  blitsPerWorkload: number;
  /** Copy size in pixels (32 bpp). */
  width: number;
  height: number;
}

/** A desktop: a tiny update now and then. */
export interface IdleWorkload {
  kind: 'idle';
  /** Mean period between updates. */
  periodMs: number;
}

/** Bursts of back-to-back render work separated by idle gaps. */
export interface BurstyWorkload {
  kind: 'bursty';
  burstMs: number;
  gapMs: number;
  /** Draws per workload during a burst. */
  draws: number;
}

/** A misbehaving guest: valid blits with attacks interleaved. */
export interface AttackerWorkload {
  kind: 'attacker';
  /** Attacks tried in turn. */
  attacks: AttackKind[];
  /** One attack every this many ms. */
  attackEveryMs: number;
  /** Valid blit workloads per second (0 = none). */
  validRate: number;
  /** Size of each valid blit in pixels. */
  width: number;
  height: number;
}

/** A workload of any kind. */
export type WorkloadSpec = GameWorkload | MediaWorkload | BlitWorkload | IdleWorkload | BurstyWorkload | AttackerWorkload;

/** One guest of a scenario. */
export interface VgpuSpec {
  name: string;
  /** GVT-g type name (e.g. `GVTg_V5_4`). */
  type: string;
  ramMiB: number;
  weight?: number;
  priority?: PriorityLevel;
  capShare?: number;
  capFps?: number;
  /** Seed of this guest's generator (default: derived from the scenario seed and the guest's index). */
  seed?: number;
  /**
   * The mode of the guest's monitor (its vGPU's one DP monitor on port D, whose EDID the guest
   * reads and lights). Default: a game's `width` × `height`, else `DEFAULT_MONITOR` (the scanout
   * a guest clears is this size, so a modest mode keeps the simulated GPU cost modest).
   */
  monitor: ModeSpec;
  workload: WorkloadSpec;
}

/** The monitor of a guest whose workload is not a game (800x600 at 60 Hz, a DMT mode). */
export const DEFAULT_MONITOR: Readonly<ModeSpec> = Object.freeze({ width: 800, height: 600, refresh: 60 });

/** A validated scenario with every default filled in. */
export interface Scenario {
  name: string;
  description: string;
  seed: number;
  durationMs: number;
  /** Sampling period of the share-over-time series. */
  sampleMs: number;
  device: { apertureMiB: number; hostMemoryMiB: number; cost: Partial<CostModel> };
  /** `gscale`: private shadow GGTTs and shared slices (`MediatorOptions.gscale`; mediated and emulated only). */
  mediator: { mode: MediationMode; failsafe: FailsafePolicy; maxVgpus?: number; outOfSync: boolean; gscale: boolean };
  scheduler: { policy: PolicyName; options: PolicyOptions; watchdogMs: number; preempt: boolean };
  /**
   * Write every guest's screen as PNG every this many ms of simulated time (0: only at the end).
   * `gvtkit sim --screens-every MS` overrides it.
   */
  screensEveryMs: number;
  vgpus: VgpuSpec[];
}

type Json = unknown;
interface Ctx {
  errors: { path: string; message: string }[];
}

function isObj(v: Json): v is Record<string, Json> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function describe(v: Json): string {
  if (typeof v === 'string') return `'${v}'`;
  if (v === undefined) return 'nothing';
  return JSON.stringify(v) ?? String(v);
}

function known(ctx: Ctx, path: string, o: Record<string, Json>, keys: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) ctx.errors.push({ path: path ? `${path}.${k}` : k, message: `unknown field (known: ${keys.join(', ')})` });
  }
}

interface NumRule {
  min?: number;
  max?: number;
  /** Exclusive minimum. */
  above?: number;
  integer?: boolean;
}

function num(ctx: Ctx, path: string, v: Json, def: number | undefined, rule: NumRule = {}): number {
  if (v === undefined) {
    if (def === undefined) {
      ctx.errors.push({ path, message: 'required number missing' });
      return NaN;
    }
    return def;
  }
  const bad = (what: string): number => {
    ctx.errors.push({ path, message: `must be ${what}, got ${describe(v)}` });
    return def ?? NaN;
  };
  if (typeof v !== 'number' || !Number.isFinite(v)) return bad('a finite number');
  if (rule.integer && !Number.isInteger(v)) return bad('an integer');
  if (rule.min !== undefined && v < rule.min) return bad(`>= ${rule.min}`);
  if (rule.above !== undefined && v <= rule.above) return bad(`> ${rule.above}`);
  if (rule.max !== undefined && v > rule.max) return bad(`<= ${rule.max}`);
  return v;
}

function optNum(ctx: Ctx, path: string, v: Json, rule: NumRule = {}): number | undefined {
  if (v === undefined) return undefined;
  return num(ctx, path, v, undefined, rule);
}

function str(ctx: Ctx, path: string, v: Json, def: string | undefined): string {
  if (v === undefined && def !== undefined) return def;
  if (typeof v !== 'string' || v.length === 0) {
    ctx.errors.push({ path, message: v === undefined ? 'required string missing' : `must be a non-empty string, got ${describe(v)}` });
    return def ?? '';
  }
  return v;
}

function oneOf<T extends string>(ctx: Ctx, path: string, v: Json, options: readonly T[], def: T | undefined, what: string): T {
  if (v === undefined && def !== undefined) return def;
  if (typeof v === 'string' && (options as readonly string[]).includes(v)) return v as T;
  ctx.errors.push({ path, message: `unknown ${what} ${describe(v)} (known: ${options.join(', ')})` });
  return def ?? options[0];
}

function bool(ctx: Ctx, path: string, v: Json, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') {
    ctx.errors.push({ path, message: `must be true or false, got ${describe(v)}` });
    return def;
  }
  return v;
}

function obj(ctx: Ctx, path: string, v: Json): Record<string, Json> {
  if (v === undefined) return {};
  if (!isObj(v)) {
    ctx.errors.push({ path, message: `must be an object, got ${describe(v)}` });
    return {};
  }
  return v;
}

const TOP_KEYS = ['$schema', 'name', 'description', 'seed', 'durationMs', 'sampleMs', 'screensEveryMs', 'device', 'mediator', 'scheduler', 'vgpus'];
const POLICY_NAMES: readonly PolicyName[] = ['time-slice', 'round-robin', 'throttle', 'priority'];

function deviceSection(ctx: Ctx, v: Json): Scenario['device'] {
  const o = obj(ctx, 'device', v);
  known(ctx, 'device', o, ['apertureMiB', 'hostMemoryMiB', 'cost']);
  const apertureMiB = num(ctx, 'device.apertureMiB', o.apertureMiB, 1024, { integer: true, min: 64, max: 4096 });
  if (Number.isInteger(apertureMiB) && (apertureMiB & (apertureMiB - 1)) !== 0) {
    ctx.errors.push({ path: 'device.apertureMiB', message: `must be a power of two, got ${apertureMiB}` });
  }
  const hostMemoryMiB = num(ctx, 'device.hostMemoryMiB', o.hostMemoryMiB, 2048, { integer: true, min: 256, max: 65536 });
  const cost: Partial<CostModel> = {};
  const c = obj(ctx, 'device.cost', o.cost);
  for (const [k, val] of Object.entries(c)) {
    const path = `device.cost.${k}`;
    if (k === 'commands') {
      const cmds: Record<string, number> = {};
      for (const [name, ns] of Object.entries(obj(ctx, path, val))) {
        if (!COMMANDS.some((x) => x.name === name)) ctx.errors.push({ path: `${path}.${name}`, message: 'no such command in the Gen9 table' });
        else cmds[name] = num(ctx, `${path}.${name}`, ns, undefined, { min: 0 });
      }
      cost.commands = cmds;
    } else if (k in DEFAULT_COST_MODEL) {
      (cost as Record<string, number>)[k] = num(ctx, path, val, undefined, { min: 0 });
    } else {
      ctx.errors.push({ path, message: `unknown field (known: ${Object.keys(DEFAULT_COST_MODEL).join(', ')})` });
    }
  }
  return { apertureMiB, hostMemoryMiB, cost };
}

function mediatorSection(ctx: Ctx, v: Json): Scenario['mediator'] {
  const o = obj(ctx, 'mediator', v);
  known(ctx, 'mediator', o, ['mode', 'failsafe', 'maxVgpus', 'outOfSync', 'gscale']);
  const out: Scenario['mediator'] = {
    mode: oneOf(ctx, 'mediator.mode', o.mode, MODES, 'mediated', 'mode'),
    failsafe: oneOf(ctx, 'mediator.failsafe', o.failsafe, FAILSAFE_POLICIES, 'gvt-g', 'failsafe policy'),
    outOfSync: bool(ctx, 'mediator.outOfSync', o.outOfSync, false),
    gscale: bool(ctx, 'mediator.gscale', o.gscale, false),
  };
  const maxVgpus = optNum(ctx, 'mediator.maxVgpus', o.maxVgpus, { integer: true, min: 2, max: 1024 });
  if (maxVgpus !== undefined) out.maxVgpus = maxVgpus;
  return out;
}

function schedulerSection(ctx: Ctx, v: Json): Scenario['scheduler'] {
  const o = obj(ctx, 'scheduler', v);
  known(ctx, 'scheduler', o, ['policy', 'options', 'watchdogMs', 'preempt']);
  const policy = oneOf(ctx, 'scheduler.policy', o.policy, POLICY_NAMES, 'time-slice', 'policy');
  const options: Record<string, number> = {};
  for (const [k, val] of Object.entries(obj(ctx, 'scheduler.options', o.options))) {
    const path = `scheduler.options.${k}`;
    // Milliseconds are friendlier in a file: `sliceMs` is `sliceNs` × 1e6.
    const key = k.endsWith('Ms') ? k.slice(0, -2) + 'Ns' : k;
    const n = num(ctx, path, val, undefined, { above: 0 });
    options[key] = k.endsWith('Ms') ? Math.round(n * 1e6) : n;
  }
  try {
    createPolicy(policy, options);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const field = Object.keys(o.options && isObj(o.options) ? o.options : {}).find((k) => k === e.field || k.slice(0, -2) + 'Ns' === e.field);
    ctx.errors.push({ path: field ? `scheduler.options.${field}` : 'scheduler.options', message: e.message.slice(e.field.length + 2) });
  }
  return {
    policy,
    options,
    watchdogMs: num(ctx, 'scheduler.watchdogMs', o.watchdogMs, 100, { above: 0 }),
    preempt: bool(ctx, 'scheduler.preempt', o.preempt, true),
  };
}

const WORKLOAD_KEYS: Record<WorkloadKind, readonly string[]> = {
  game: ['kind', 'fps', 'draws', 'drawsPerMaterial', 'present', 'width', 'height', 'arbEvery', 'maxFramesInFlight'],
  media: ['kind', 'fps', 'slices', 'gop'],
  blit: ['kind', 'rate', 'blitsPerWorkload', 'width', 'height'],
  idle: ['kind', 'periodMs'],
  bursty: ['kind', 'burstMs', 'gapMs', 'draws'],
  attacker: ['kind', 'attacks', 'attackEveryMs', 'validRate', 'width', 'height'],
};

function workloadSection(ctx: Ctx, path: string, v: Json): WorkloadSpec {
  const o = obj(ctx, path, v);
  if (v === undefined) ctx.errors.push({ path, message: `required object missing (a workload: { "kind": ${WORKLOAD_KINDS.map((k) => `'${k}'`).join(' | ')}, ... })` });
  const kind = oneOf(ctx, `${path}.kind`, o.kind, WORKLOAD_KINDS, undefined, 'workload');
  if (!(WORKLOAD_KINDS as readonly string[]).includes(o.kind as string)) return { kind: 'idle', periodMs: 100 };
  known(ctx, path, o, WORKLOAD_KEYS[kind]);
  const p = (k: string): string => `${path}.${k}`;
  const px = (k: string, def: number): number => num(ctx, p(k), o[k], def, { integer: true, min: 1, max: 4096 });
  switch (kind) {
    case 'game':
      return {
        kind,
        fps: num(ctx, p('fps'), o.fps, 60, { min: 0, max: 10000 }),
        draws: num(ctx, p('draws'), o.draws, 1000, { integer: true, min: 1, max: 50000 }),
        drawsPerMaterial: num(ctx, p('drawsPerMaterial'), o.drawsPerMaterial, 20, { integer: true, min: 1 }),
        present: oneOf(ctx, p('present'), o.present, ['blit', 'none'] as const, 'blit', 'present'),
        width: px('width', 1024),
        height: px('height', 768),
        arbEvery: num(ctx, p('arbEvery'), o.arbEvery, 64, { integer: true, min: 0 }),
        maxFramesInFlight: num(ctx, p('maxFramesInFlight'), o.maxFramesInFlight, 2, { integer: true, min: 1, max: 2 }),
      };
    case 'media':
      return {
        kind,
        fps: num(ctx, p('fps'), o.fps, 30, { above: 0, max: 1000 }),
        slices: num(ctx, p('slices'), o.slices, 4, { integer: true, min: 1, max: 64 }),
        gop: num(ctx, p('gop'), o.gop, 8, { integer: true, min: 1 }),
      };
    case 'blit':
      return {
        kind,
        rate: num(ctx, p('rate'), o.rate, 0, { min: 0, max: 100000 }),
        blitsPerWorkload: num(ctx, p('blitsPerWorkload'), o.blitsPerWorkload, 8, { integer: true, min: 1, max: 4096 }),
        width: px('width', 512),
        height: px('height', 512),
      };
    case 'idle':
      return { kind, periodMs: num(ctx, p('periodMs'), o.periodMs, 100, { above: 0 }) };
    case 'bursty':
      return {
        kind,
        burstMs: num(ctx, p('burstMs'), o.burstMs, 50, { above: 0 }),
        gapMs: num(ctx, p('gapMs'), o.gapMs, 200, { min: 0 }),
        draws: num(ctx, p('draws'), o.draws, 300, { integer: true, min: 1, max: 50000 }),
      };
    case 'attacker': {
      let attacks: AttackKind[] = [...ATTACK_KINDS];
      if (o.attacks !== undefined) {
        if (!Array.isArray(o.attacks) || o.attacks.length === 0) {
          ctx.errors.push({ path: p('attacks'), message: `must be a non-empty list of attacks (known: ${ATTACK_KINDS.join(', ')})` });
        } else {
          attacks = o.attacks.map((a, i) => oneOf(ctx, `${p('attacks')}[${i}]`, a, ATTACK_KINDS, undefined, 'attack'));
        }
      }
      return {
        kind,
        attacks,
        attackEveryMs: num(ctx, p('attackEveryMs'), o.attackEveryMs, 20, { above: 0 }),
        validRate: num(ctx, p('validRate'), o.validRate, 100, { min: 0, max: 100000 }),
        width: px('width', 256),
        height: px('height', 256),
      };
    }
  }
}

const VGPU_KEYS = ['name', 'type', 'ramMiB', 'weight', 'priority', 'capShare', 'capFps', 'seed', 'monitor', 'workload'];
const MONITOR_KEYS = ['width', 'height', 'refresh'];

/**
 * A guest's monitor mode: width and height 64..4095, refresh 24..240 Hz, and a mode the display
 * room can give timings and an EDID for (`resolveMonitor`); errors name `vgpus[i].monitor.*`.
 */
function monitorSection(ctx: Ctx, path: string, v: Json, def: ModeSpec): ModeSpec {
  if (v === undefined) {
    // The default (a game's size): checked too, so a game of a size no monitor has is reported here.
    try {
      resolveMonitor(MONITOR_PORTS[MONITOR_PORTS.length - 1], { modes: [def] }, path);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      ctx.errors.push({ path, message: `the default monitor ${def.width}x${def.height} (the workload's size) has no mode: ${e.message.replace(/^.*?: /, '')}; give one` });
    }
    return def;
  }
  const o = obj(ctx, path, v);
  known(ctx, path, o, MONITOR_KEYS);
  const before = ctx.errors.length;
  const spec: ModeSpec = {
    width: num(ctx, `${path}.width`, o.width, undefined, { integer: true, min: 64, max: 4095 }),
    height: num(ctx, `${path}.height`, o.height, undefined, { integer: true, min: 64, max: 4095 }),
    refresh: num(ctx, `${path}.refresh`, o.refresh, 60, { min: 24, max: 240 }),
  };
  if (ctx.errors.length !== before) return def;
  try {
    resolveMonitor(MONITOR_PORTS[MONITOR_PORTS.length - 1], { modes: [spec] }, path);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    ctx.errors.push({ path, message: e.message.replace(/^.*?: /, '') });
    return def;
  }
  return spec;
}

function vgpuSection(ctx: Ctx, i: number, v: Json): VgpuSpec {
  const path = `vgpus[${i}]`;
  const o = obj(ctx, path, v);
  known(ctx, path, o, VGPU_KEYS);
  const types = GEN9_VGPU_TYPES.map((t) => t.name);
  const spec: VgpuSpec = {
    name: str(ctx, `${path}.name`, o.name, `vgpu${i + 1}`),
    type: oneOf(ctx, `${path}.type`, o.type, types, 'GVTg_V5_8', 'vGPU type'),
    ramMiB: num(ctx, `${path}.ramMiB`, o.ramMiB, 128, { integer: true, min: 16, max: 65536 }),
    monitor: DEFAULT_MONITOR,
    workload: workloadSection(ctx, `${path}.workload`, o.workload),
  };
  const w = spec.workload;
  spec.monitor = monitorSection(ctx, `${path}.monitor`, o.monitor, w.kind === 'game' ? { width: w.width, height: w.height, refresh: 60 } : DEFAULT_MONITOR);
  const weight = optNum(ctx, `${path}.weight`, o.weight, { above: 0, max: 1e6 });
  if (weight !== undefined) spec.weight = weight;
  if (o.priority !== undefined) spec.priority = oneOf(ctx, `${path}.priority`, o.priority, PRIORITY_LEVELS, undefined, 'priority');
  const capShare = optNum(ctx, `${path}.capShare`, o.capShare, { above: 0, max: 1 });
  if (capShare !== undefined) spec.capShare = capShare;
  const capFps = optNum(ctx, `${path}.capFps`, o.capFps, { above: 0 });
  if (capFps !== undefined) spec.capFps = capFps;
  const seed = optNum(ctx, `${path}.seed`, o.seed, { integer: true, min: 0, max: 0xffffffff });
  if (seed !== undefined) spec.seed = seed;
  return spec;
}

/**
 * Validate a parsed scenario document and fill in the defaults. Throws `ScenarioError` (code
 * `E_SCENARIO`) listing every bad field by its JSON path. `source` (a file name) prefixes the message.
 */
export function validateScenario(doc: unknown, source?: string): Scenario {
  const ctx: Ctx = { errors: [] };
  if (!isObj(doc)) throw new ScenarioError([{ path: '(root)', message: `must be a JSON object, got ${describe(doc)}` }], source);
  known(ctx, '', doc, TOP_KEYS);
  const vgpusRaw = doc.vgpus;
  const vgpus: VgpuSpec[] = [];
  if (!Array.isArray(vgpusRaw) || vgpusRaw.length === 0) {
    ctx.errors.push({ path: 'vgpus', message: vgpusRaw === undefined ? 'required list missing' : `must be a non-empty list, got ${describe(vgpusRaw)}` });
  } else {
    vgpusRaw.forEach((v, i) => vgpus.push(vgpuSection(ctx, i, v)));
    const seen = new Map<string, number>();
    vgpus.forEach((v, i) => {
      const j = seen.get(v.name);
      if (j !== undefined) ctx.errors.push({ path: `vgpus[${i}].name`, message: `duplicate name '${v.name}' (also vgpus[${j}])` });
      else seen.set(v.name, i);
    });
  }
  const sc: Scenario = {
    name: str(ctx, 'name', doc.name, source ? baseName(source) : 'scenario'),
    description: doc.description === undefined ? '' : str(ctx, 'description', doc.description, ''),
    seed: num(ctx, 'seed', doc.seed, 1, { integer: true, min: 0, max: 0xffffffff }),
    durationMs: num(ctx, 'durationMs', doc.durationMs, 1000, { above: 0, max: 600_000 }),
    sampleMs: num(ctx, 'sampleMs', doc.sampleMs, 10, { above: 0, max: 10_000 }),
    screensEveryMs: num(ctx, 'screensEveryMs', doc.screensEveryMs, 0, { min: 0, max: 600_000 }),
    device: deviceSection(ctx, doc.device),
    mediator: mediatorSection(ctx, doc.mediator),
    scheduler: schedulerSection(ctx, doc.scheduler),
    vgpus,
  };
  if (ctx.errors.length) throw new ScenarioError(ctx.errors, source);
  return sc;
}

/** Parse JSON text and validate it (a syntax error is reported as a `ScenarioError` at the root). */
export function parseScenario(text: string, source?: string): Scenario {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ScenarioError([{ path: '(root)', message: `not valid JSON: ${(e as Error).message}` }], source);
  }
  return validateScenario(doc, source);
}

function baseName(path: string): string {
  const b = path.split(/[\\/]/).pop() ?? path;
  return b.replace(/\.json$/i, '');
}
