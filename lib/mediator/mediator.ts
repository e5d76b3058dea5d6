/**
 * `Mediator`: owns the device, the graphics-memory partition, the vGPU types, the vGPUs, the
 * command parser and the dispatch of audited shadow workloads onto the device.
 *
 * One submission, as data (ARCHITECTURE.md): a guest's ELSP write creates workloads (execlist
 * emulation in `VirtualExeclist`); they queue per engine; when the engine is free and the
 * scheduler lets the vGPU run, the workload is shadowed — its shadow PPGTT synced, its ring
 * segment and every batch copied, audited and patched by the `CommandParser`, the shadows and a
 * shadow context image placed in the host's reserved graphics memory — and the shadow context is
 * submitted to the device. The device's context-status event completes it: the guest's ring head
 * and status page are updated, its CSB advances and its virtual interrupts are raised. A workload
 * that fails its audit never reaches the device: it is recorded with the rule, and by policy its
 * vGPU enters failsafe; the other vGPUs keep running.
 */
import createDebug from 'debug';
import { ConfigError, GvtError, NoResourceError, StateError } from '../errors.js';
import { arg, checkOptions, describe, optionKeys } from '../validate.js';
import { isPagedGuestMemory, type GuestWrites } from '../ept/ept.js';
import { Gen9Device } from '../device/device.js';
import type { DeviceEvent } from '../device/execlists.js';
import { GEN9_ENGINES } from '../device/engines.js';
import { CtxReg, CtxStatus, Desc, ctxPdpLdw, ctxPdpUdw } from '../device/lrc.js';
import { Bits, EngineIrq, RING, fenceReg } from '../device/registers.js';
import type { GuestMemory } from '../ept/memory.js';
import { GmPartition } from '../gtt/partition.js';
import { PPGTT_MODE_L3, PPGTT_MODE_L4 } from '../gtt/shadow-ppgtt.js';
import { GEN9_HOST_RESERVATION, GEN9_VGPU_TYPES, GVT_MAX_VGPU, type HostReservation, type VgpuType } from '../gtt/vgpu-types.js';
import { PAGE_SIZE, TWO_POW_32 } from '../types.js';
import { HostGmPool, type HostGmAllocation } from './host-gm.js';
import { RegisterResidue } from './residue.js';
import { CommandParser, type CommandParserOptions } from './parser.js';
import { Vgpu } from './vgpu.js';
import { resolveDisplayOptions, type DisplayOptions } from '../display/index.js';
import { droppedFailure, failureOfViolation, workloadFailure, type Workload, type WorkloadFailure } from './workload.js';
import { WorkloadBook } from './workload-book.js';

const log = createDebug('gvtkit:mediator');

/**
 * The virtualization design the mediator models (the seed systems' history, for experiments):
 * - `mediated`: gVirt/GVT-g, this library's design: shadow GGTT/PPGTT, command audit, mediation
 *   costs per the cost model;
 * - `passthrough`: one guest owns the device (the native baseline): one vGPU at most, no
 *   mediation cost; the model still runs the guest's commands from shadows internally, which
 *   costs nothing in simulated time;
 * - `sriov`: the device partitions itself (per-function GGTT bounds enforced by the device
 *   model's auditor stand-in), no GGTT shadowing cost and no command-audit cost, only the
 *   submission cost;
 * - `emulated`: every command interpreted by the mediator in software (the pre-passthrough
 *   design): an emulation cost per command and per KiB on top of the mediated costs.
 */
export type MediationMode = 'mediated' | 'passthrough' | 'sriov' | 'emulated';

/** Cost presets of the modes (merged under `MediatorOptions.cost`). */
export const MODE_COSTS: Readonly<Record<MediationMode, Partial<MediationCostModel>>> = Object.freeze({
  mediated: {},
  passthrough: { dispatchNs: 0, scanNsPerCommand: 0, copyNsPerKiB: 0, trapNs: 0, emulateNsPerCommand: 0, ggttLoadNsPerEntry: 0 },
  sriov: { dispatchNs: 300, scanNsPerCommand: 0, copyNsPerKiB: 0, trapNs: 0, emulateNsPerCommand: 0, ggttLoadNsPerEntry: 0 },
  emulated: { emulateNsPerCommand: 400 },
});

/** The vGPU id limit (idle vGPU 0 included) under gScale when `maxVgpus` is not given: 63 guests. */
export const GSCALE_MAX_VGPU = 64;

/** Which guest faults put a vGPU into failsafe. */
export type FailsafePolicy = 'gvt-g' | 'always' | 'never';

/** Options of `Mediator`. */
export interface MediatorOptions {
  /** vGPU id limit including the idle vGPU 0 (default 8 as GVT-g: 7 guests). */
  maxVgpus?: number;
  /** vGPU type table (default GVT-g's Gen9 types). */
  types?: readonly VgpuType[];
  /** Host reservation (default GVT-g's: 128 MiB low, 384 MiB high, 4 fences). */
  hostReservation?: HostReservation;
  /**
   * Failsafe policy on a refused workload: 'gvt-g' (default) for unknown commands and bad
   * addresses (GVT-g's EBADRQC and EFAULT), 'always', or 'never' (the workload fails, the vGPU
   * goes on).
   */
  failsafe?: FailsafePolicy;
  /** Command parser limits and policy. */
  parser?: CommandParserOptions;
  /**
   * Out-of-sync shadow PPGTT pages (default false, as GVT-g), for the vGPUs whose guest stores are
   * trapped (`CreateVgpuOptions.guestWrites`); an untrapped vGPU resyncs every page anyway.
   */
  outOfSync?: boolean;
  /** Completed workloads kept in `history` (default 10000). */
  historyLimit?: number;
  /** The mediation cost model (simulated time the mediator's CPU work adds to each workload). */
  cost?: Partial<MediationCostModel>;
  /** The design modelled (default `mediated`). */
  mode?: MediationMode;
  /**
   * gScale (USENIX ATC 2016) on top of the `mediated` or `emulated` design (default false): each
   * vGPU keeps a private shadow GGTT; when graphics memory or fences run out, a new vGPU shares
   * the slices and fences of live vGPUs of its type (`GmPartitionOptions.share`), and the mediator
   * loads the private GGTT and fence values of the vGPU it dispatches (`Vgpu.switchIn`), waiting
   * until no work of another sharer is on the device; guest aperture accesses go through the
   * private GGTT (ladder mapping). The id limit becomes `GSCALE_MAX_VGPU` unless `maxVgpus` says
   * otherwise. Each load costs `cost.ggttLoadNsPerEntry` per entry before the dispatch.
   */
  gscale?: boolean;
  /**
   * Per-vGPU bound on the mediator's shadow graphics memory (ring, batch and context shadows in
   * the host's reserved range), in 4 KiB pages held at once by one vGPU's workloads. A workload
   * needing more on its own is refused (`shadow-quota`, LIMIT); one that would exceed it with
   * the vGPU's other shadows waits for them. Default: a quarter of the range, and at least one
   * largest workload the parser admits (`parser.maxWorkloadBytes` + a 2 MiB ring + a page per
   * batch + a context image): 24,576 pages (96 MiB) with GVT-g's 384 MiB reservation.
   */
  shadowQuotaPages?: number;
  /**
   * Pages of the reserved range kept for each vGPU (default 1024 = 4 MiB, at most an equal share
   * of the range per vGPU id): no other vGPU may allocate into it, so a vGPU's ordinary work
   * finds shadow space whatever the others hold.
   */
  shadowReservePages?: number;
  /**
   * Per-vGPU bound on audit time: at most `commands` commands audited for one vGPU per window of
   * `periodNs` simulated ns (windows start at multiples of `periodNs`). A vGPU over its quota
   * waits, queued, for the next window (its work is delayed, never refused: the per-workload
   * bound is `parser.maxCommands`), so no guest keeps the auditor from the others' work.
   * Default: 2^21 commands per 100 ms (20,971,520 a simulated second; a workload alone may cross
   * it, it is checked before each dispatch); `false` disables it.
   */
  auditQuota?: AuditQuota | false;
  /**
   * Host frames kept for each vGPU (its guest-RAM mappings, shadow page tables, scratch pages and
   * shadow-space backing are charged to it): no other vGPU may allocate into what it has not used
   * of them, so its ordinary work finds host frames whatever the others hold
   * (`HostMemory.setReserve`). Default 1024 (4 MiB), at most an equal share of a quarter of host
   * memory per vGPU id; 0 turns it off.
   */
  hostReserveFrames?: number;
}

/** A per-vGPU audit-time quota (`MediatorOptions.auditQuota`). */
export interface AuditQuota {
  /** Commands audited for one vGPU per window. */
  commands: number;
  /** Window length in simulated ns. */
  periodNs: number;
}

/** The default audit-time quota: 2^21 commands per vGPU per 100 simulated ms. */
export const DEFAULT_AUDIT_QUOTA: Readonly<AuditQuota> = Object.freeze({ commands: 1 << 21, periodNs: 100_000_000 });

/** Simulated ns before a workload waiting for shared shadow resources is tried again (or at the next release). */
export const SHADOW_RETRY_NS = 1_000_000;

/** A workload whose shadows cannot be had now: it stays queued and is tried again. */
const WAIT = 'wait';
/**
 * The same for host frames: it waits when its vGPU holds no more than its host-frame reserve;
 * beyond it, the frames it lacks are the ones it competes for with the others, and when none is
 * left it fails (`shadow-alloc`): it holds more than its guaranteed share, and waiting could last
 * as long as the others hold theirs.
 */
const WAIT_FRAMES = 'wait-frames';

/**
 * NoResourceError resources shared by every vGPU: running short of one is not the workload's
 * doing, so the workload waits (GVT-g returns -EAGAIN-like errors to its scheduler and retries
 * the workload) instead of failing.
 */
const SHARED_RESOURCES: ReadonlySet<string> = new Set(['host-gm', 'host-memory']);

/**
 * What mediation costs in simulated time, as data. The scan and copy of a workload happen on the
 * host CPU before the device may start it, so they delay its dispatch (GVT-g's scan runs in the
 * submission path); the figures are assumptions in the range the gVirt paper reports (a few
 * percent of a GPU-bound workload), not measurements.
 */
export interface MediationCostModel {
  /** Fixed cost of dispatching a workload (shadow context, submission), ns. */
  dispatchNs: number;
  /** Per command decoded and audited, ns. */
  scanNsPerCommand: number;
  /** Per KiB copied into shadows (ring segment, batches, context image), ns. */
  copyNsPerKiB: number;
  /** Host CPU cost of one trapped guest access (a VM exit and its emulation), ns: counted, not on the GPU timeline. */
  trapNs: number;
  /** Software interpretation per command (the `emulated` design only), ns. */
  emulateNsPerCommand: number;
  /**
   * gScale: writing one entry of a private shadow GGTT into the host GGTT at a switch-in, ns
   * (an 8-byte write-combined store to the GTT; the whole slices are written: 114,688 entries,
   * ~0.23 ms, for a GVTg_V5_8).
   */
  ggttLoadNsPerEntry: number;
}

/** Default mediation costs. */
export const DEFAULT_MEDIATION_COST: MediationCostModel = Object.freeze({
  dispatchNs: 1000,
  scanNsPerCommand: 15,
  copyNsPerKiB: 60,
  trapNs: 1500,
  emulateNsPerCommand: 0,
  ggttLoadNsPerEntry: 2,
});

/** What `createVgpu` takes. */
export interface CreateVgpuOptions {
  /** A vGPU type name, e.g. `GVTg_V5_4`. */
  type: string;
  /** The guest's RAM (e.g. `new SparseGuestMemory(bytes)`). */
  memory: GuestMemory;
  /** Name for logs and reports (default `vgpu<N>`). */
  name?: string;
  /** Start active, i.e. schedulable (default true); else call `vgpu.activate()` later. */
  activate?: boolean;
  /**
   * How the emulator hosting this guest handles its stores to its RAM (default 'trapped'):
   * 'trapped' when they reach `vgpu.guestWrite` (the vCPU path, so guest page-table pages can be
   * write-protected and the shadow PPGTT follows each store), 'untrapped' when they land in the
   * `memory` unseen (an emulator whose JIT writes RAM directly, e.g. v86): nothing is
   * write-protected and, before each workload's audit, every guest table page of the PPGTTs it
   * uses is re-read and the shadow brought up to date, with the same checks. Per vGPU, since it
   * is a property of the emulator each guest runs in. See docs/untrapped.md.
   */
  guestWrites?: GuestWrites;
  /**
   * The vGPU's monitors (`{ monitors: [{ port: 'D', modes: [{ width: 1920, height: 1080, refresh:
   * 60 }, ...], name?, serial? }] }`: ports 'B', 'C', 'D', one monitor each, the preferred mode
   * first). Default: GVT-g's one DP monitor on port D at the type's resolution. Checked before
   * anything is allocated (`ConfigError` naming the field). See docs/display.md.
   */
  display?: DisplayOptions;
}

/** Mediator-wide counters. */
export interface MediatorStats {
  submitted: number;
  completed: number;
  failed: number;
  commandsAudited: number;
  batchesShadowed: number;
  addressesPatched: number;
  /** Refusals by rule name (audit rules and mediator checks). */
  refusedByRule: Record<string, number>;
  /** Workloads preempted on the device. */
  preempted: number;
  /** Simulated ns spent in mediation (scan, copy, dispatch, gScale loads), all vGPUs. */
  mediationNs: number;
  /** gScale: private GGTT loads (switch-ins of a vGPU that was not resident). */
  ggttLoads: number;
  /** gScale: host GGTT entries written by those loads. */
  ggttEntriesLoaded: number;
  /** Times a workload waited for shared shadow resources (host shadow space or frames) instead of failing. */
  shadowWaits: number;
  /** Times a workload waited for the next window of its vGPU's audit quota (`auditQuota`). */
  auditWaits: number;
}

/**
 * Decides when a vGPU's workload may go to the device. The default is first come, first served;
 * the time-slice scheduler (lib/scheduler) replaces it.
 */
export interface DispatchGate {
  mayDispatch(w: Workload, now: number): boolean;
  /** A vGPU was destroyed. */
  vgpuRemoved?(id: number): void;
}

const FIFO: DispatchGate = { mayDispatch: () => true };

const MEDIATOR_OPTIONS = optionKeys<MediatorOptions>({
  maxVgpus: true, types: true, hostReservation: true, failsafe: true, parser: true, outOfSync: true, historyLimit: true,
  cost: true, mode: true, gscale: true, shadowQuotaPages: true, shadowReservePages: true, auditQuota: true, hostReserveFrames: true,
});
const AUDIT_QUOTA_KEYS = optionKeys<AuditQuota>({ commands: true, periodNs: true });
const MEDIATION_COST_KEYS = optionKeys<MediationCostModel>({
  dispatchNs: true, scanNsPerCommand: true, copyNsPerKiB: true, trapNs: true, emulateNsPerCommand: true, ggttLoadNsPerEntry: true,
});
const HOST_RESERVATION_KEYS = optionKeys<HostReservation>({ lowGmSize: true, highGmSize: true, fences: true });
const CREATE_VGPU_OPTIONS = optionKeys<CreateVgpuOptions>({ type: true, memory: true, name: true, activate: true, guestWrites: true, display: true });

/**
 * Devices a mediator owns: a second `Mediator` on one device would hand out the same slices and
 * fences and bind the same device events (refused with `StateError`).
 */
const MEDIATED = new WeakSet<Gen9Device>();

export class Mediator {
  readonly device: Gen9Device;
  readonly partition: GmPartition;
  readonly types: readonly VgpuType[];
  readonly parser: CommandParser;
  readonly hostGm: HostGmPool;
  readonly failsafePolicy: FailsafePolicy;
  readonly outOfSync: boolean;
  readonly stats: MediatorStats = {
    submitted: 0, completed: 0, failed: 0, commandsAudited: 0, batchesShadowed: 0, addressesPatched: 0, refusedByRule: {},
    preempted: 0, mediationNs: 0, ggttLoads: 0, ggttEntriesLoaded: 0, shadowWaits: 0, auditWaits: 0,
  };
  readonly cost: MediationCostModel;
  readonly mode: MediationMode;
  /** gScale is on (`MediatorOptions.gscale`). */
  readonly gscale: boolean;
  /** Finished workloads, oldest first (bounded by `historyLimit`). */
  readonly history: Workload[];
  /** The gate the dispatcher asks (FIFO until a scheduler installs itself). */
  gate: DispatchGate = FIFO;

  private readonly vgpuMap = new Map<number, Vgpu>();
  /** Every workload's place and the transitions between them (`WorkloadBook`). */
  private readonly book: WorkloadBook;
  /** The book's per-engine queues and slots (read here, changed only by the book's transitions). */
  private readonly queues: readonly (readonly Workload[])[];
  private readonly inflight: readonly (Workload | null)[];
  private readonly preparing: readonly (Workload | null)[];
  private readonly doneListeners: ((w: Workload) => void)[] = [];
  private readonly dispatchListeners: ((w: Workload) => void)[] = [];
  private readonly preemptListeners: ((w: Workload) => void)[] = [];
  /** 1 while the mediator's reset of a hung engine is pending. */
  private readonly resetting = new Uint8Array(GEN9_ENGINES.length);
  private seq = 0;
  private kickPending = false;
  /** Simulated time of the pending retry of waiting workloads (Infinity: none). */
  private retryAt = Infinity;
  /** The audit-time quota (null: none), and per vGPU id the window and commands audited in it. */
  readonly auditQuota: Readonly<AuditQuota> | null;
  private readonly auditWindow = new Map<number, { start: number; used: number }>();
  /** Host frames kept per vGPU (`MediatorOptions.hostReserveFrames`, after its cap). */
  readonly hostReserveFrames: number;
  /** The command-accessible registers, saved and restored per vGPU (docs/isolation.md). */
  private readonly residue: RegisterResidue;

  constructor(device: Gen9Device, opts: MediatorOptions = {}) {
    arg.instance('Mediator device', device, Gen9Device);
    if (MEDIATED.has(device)) throw new StateError('the device already has a mediator: one Mediator per Gen9Device');
    opts = checkOptions(opts, 'MediatorOptions', MEDIATOR_OPTIONS);
    checkOptions(opts.cost, 'MediatorOptions.cost', MEDIATION_COST_KEYS);
    checkOptions(opts.hostReservation, 'MediatorOptions.hostReservation', HOST_RESERVATION_KEYS);
    this.device = device;
    this.types = opts.types ?? GEN9_VGPU_TYPES;
    if (opts.maxVgpus !== undefined && (!Number.isInteger(opts.maxVgpus) || opts.maxVgpus < 2)) {
      throw new ConfigError('maxVgpus', `must be an integer of at least 2 (id 0 is the idle vGPU), got ${opts.maxVgpus}`);
    }
    const fp = opts.failsafe ?? 'gvt-g';
    if (fp !== 'gvt-g' && fp !== 'always' && fp !== 'never') throw new ConfigError('failsafe', `unknown policy ${String(fp)}`);
    this.failsafePolicy = fp;
    this.outOfSync = opts.outOfSync ?? false;
    this.book = new WorkloadBook(GEN9_ENGINES.length, opts.historyLimit ?? 10_000, {
      now: () => this.device.clock.now,
      release: (w) => this.releaseShadows(w),
    }, this.stats);
    this.history = this.book.history;
    this.queues = this.book.queues;
    this.inflight = this.book.inflight;
    this.preparing = this.book.preparing;
    const mode = opts.mode ?? 'mediated';
    if (!(mode in MODE_COSTS)) throw new ConfigError('mode', `unknown mode ${String(mode)} (mediated, passthrough, sriov, emulated)`);
    this.mode = mode;
    this.gscale = opts.gscale ?? false;
    if (typeof this.gscale !== 'boolean') throw new ConfigError('gscale', `must be a boolean, got ${String(opts.gscale)}`);
    if (this.gscale && (mode === 'passthrough' || mode === 'sriov')) {
      throw new ConfigError('gscale', `gScale applies to the mediated and emulated designs, not ${mode}`);
    }
    if (mode === 'passthrough' && opts.maxVgpus === undefined) opts = { ...opts, maxVgpus: 2 };
    this.cost = Object.freeze({ ...DEFAULT_MEDIATION_COST, ...MODE_COSTS[mode], ...opts.cost });
    for (const [k, v] of Object.entries(this.cost)) {
      if (!(typeof v === 'number' && v >= 0 && Number.isFinite(v))) throw new ConfigError(`cost.${k}`, `must be a non-negative number, got ${String(v)}`);
    }
    const host = opts.hostReservation ?? GEN9_HOST_RESERVATION;
    this.partition = new GmPartition({
      apertureSize: device.apertureSize,
      totalSize: device.graphicsMemorySize,
      fences: 32,
      host,
      maxVgpus: opts.maxVgpus ?? (this.gscale ? GSCALE_MAX_VGPU : GVT_MAX_VGPU),
      types: this.types,
      share: this.gscale,
    });
    this.parser = new CommandParser(opts.parser);
    const aq = opts.auditQuota ?? DEFAULT_AUDIT_QUOTA;
    if (aq === false) this.auditQuota = null;
    else {
      checkOptions(aq, 'MediatorOptions.auditQuota', AUDIT_QUOTA_KEYS);
      const q = { ...DEFAULT_AUDIT_QUOTA, ...aq };
      if (!(Number.isSafeInteger(q.commands) && q.commands >= 1)) throw new ConfigError('auditQuota.commands', `must be a positive integer, got ${String(q.commands)}`);
      if (!(Number.isSafeInteger(q.periodNs) && q.periodNs >= 1)) throw new ConfigError('auditQuota.periodNs', `must be a positive integer, got ${String(q.periodNs)}`);
      this.auditQuota = Object.freeze(q);
    }
    // Shadows live in the host's reserved hidden range (no aperture needed), bounded per vGPU.
    const poolPages = Math.floor(host.highGmSize / PAGE_SIZE);
    const limits = this.parser.limits;
    const largest = Math.ceil(limits.maxWorkloadBytes / PAGE_SIZE) + limits.maxBatches + 512 + 32;
    const quota = opts.shadowQuotaPages ?? Math.min(poolPages, Math.max(Math.floor(poolPages / 4), largest));
    if (!(Number.isSafeInteger(quota) && quota >= 1)) throw new ConfigError('shadowQuotaPages', `must be a positive integer, got ${String(opts.shadowQuotaPages)}`);
    const reserve = opts.shadowReservePages ?? 1024;
    if (!(Number.isSafeInteger(reserve) && reserve >= 0)) throw new ConfigError('shadowReservePages', `must be a non-negative integer, got ${String(opts.shadowReservePages)}`);
    const frameReserve = opts.hostReserveFrames ?? 1024;
    if (!(Number.isSafeInteger(frameReserve) && frameReserve >= 0)) throw new ConfigError('hostReserveFrames', `must be a non-negative integer, got ${String(opts.hostReserveFrames)}`);
    this.hostReserveFrames = Math.min(frameReserve, Math.floor(device.hostMemory.frames / 4 / this.partition.maxVgpus));
    this.hostGm = new HostGmPool(device, device.apertureSize, device.apertureSize + host.highGmSize, {
      quotaPages: quota, reservePages: reserve, maxOwners: this.partition.maxVgpus - 1,
    });
    // The host driver runs the device in execlist mode on every engine.
    for (const e of GEN9_ENGINES) device.regs.write(e.mmioBase + RING.GFX_MODE, 4, (Bits.GFX_RUN_LIST_ENABLE << 16) | Bits.GFX_RUN_LIST_ENABLE);
    device.onEvent((e) => this.onDeviceEvent(e));
    this.residue = new RegisterResidue(device);
    device.pdpReadHook = RegisterResidue.pdpReadHook((e) => this.inflight[e]);
    MEDIATED.add(device);
  }

  /**
   * Create a vGPU of `type` for a guest whose RAM is `memory`. Throws `NoResourceError` naming
   * the short resource, by how much, and which types still fit.
   */
  createVgpu(opts: CreateVgpuOptions): Vgpu {
    if (opts === undefined) throw new ConfigError('CreateVgpuOptions', 'required: { type, memory }');
    checkOptions(opts, 'CreateVgpuOptions', CREATE_VGPU_OPTIONS);
    if (typeof opts.type !== 'string') throw new ConfigError('type', `must be a vGPU type name, got ${describe(opts.type)}`);
    const mem: unknown = opts.memory;
    if (mem === null || typeof mem !== 'object' || !isPagedGuestMemory(mem as GuestMemory)) {
      throw new ConfigError('memory', `must be guest memory with page views (e.g. new SparseGuestMemory(bytes)), got ${describe(mem)}`);
    }
    if (opts.name !== undefined && typeof opts.name !== 'string') throw new ConfigError('name', `must be a string, got ${describe(opts.name)}`);
    if (opts.activate !== undefined && typeof opts.activate !== 'boolean') throw new ConfigError('activate', `must be a boolean, got ${describe(opts.activate)}`);
    if (opts.guestWrites !== undefined && opts.guestWrites !== 'trapped' && opts.guestWrites !== 'untrapped') {
      throw new ConfigError('guestWrites', `must be 'trapped' or 'untrapped', got ${describe(opts.guestWrites)}`);
    }
    const monitors = resolveDisplayOptions(opts.display);
    // Its host-frame reserve must be backed now (others may hold the rest for good): a vGPU whose
    // reserve is only a promise could wait forever for frames it was guaranteed.
    const hostMem = this.device.hostMemory;
    if (this.hostReserveFrames > hostMem.unreservedFreeFrames) {
      throw new NoResourceError('host-memory', this.hostReserveFrames - hostMem.unreservedFreeFrames,
        `host memory cannot back a new vGPU's reserve of ${this.hostReserveFrames} frames (${hostMem.unreservedFreeFrames} free beyond the others' reserves)`);
    }
    const { id, slices } = this.partition.allocateNext(opts.type);
    // Its host-frame reserve first: the frames its constructor takes are charged to it.
    hostMem.setReserve(id, this.hostReserveFrames);
    try {
      const v = new Vgpu({
        id,
        name: opts.name ?? `vgpu${id}`,
        type: this.partition.type(opts.type),
        slices,
        memory: opts.memory,
        device: this.device,
        onDestroy: (x) => this.release(x),
        onWorkloads: (x, ws) => this.enqueue(x, ws),
        nextSeq: () => ++this.seq,
        onReset: (x, engineId) => {
          this.dropWork(x, engineId, true);
          if (engineId < 0) this.residue.reset(x.id);
        },
        onFailsafe: (x) => this.dropWork(x, -1, false),
        onActivate: () => this.kick(),
        lastWorkloadOf: (x, engineId, lrca, beforeSeq) => this.lastUnfinished(x.id, engineId, lrca, beforeSeq),
        inactive: opts.activate === false,
        outOfSync: this.outOfSync,
        guestWrites: opts.guestWrites ?? 'trapped',
        privateGgtt: this.gscale,
        monitors,
      });
      this.residue.add(id);
      this.vgpuMap.set(id, v);
      this.hostGm.addOwner(id);
      log('created %s (%s): low 0x%s+%d MiB, high 0x%s+%d MiB', v.name, opts.type,
        slices.lowBase.toString(16), slices.lowSize >>> 20, slices.highBase.toString(16), slices.highSize >>> 20);
      return v;
    } catch (e) {
      this.device.hostMemory.removeOwner(id);
      this.partition.release(id);
      throw e;
    }
  }

  /** The live vGPUs, by id order. */
  get vgpus(): Vgpu[] {
    return [...this.vgpuMap.values()].sort((a, b) => a.id - b.id);
  }

  /** The vGPU with `id`, if live. */
  vgpu(id: number): Vgpu | undefined {
    return this.vgpuMap.get(id);
  }

  /** How many more vGPUs of each type fit now. */
  availability(): { type: string; count: number }[] {
    const list = this.partition.availability();
    if (this.hostReserveFrames === 0) return list;
    // Each new vGPU's host-frame reserve must be backed by frames free now.
    const byFrames = Math.floor(this.device.hostMemory.unreservedFreeFrames / this.hostReserveFrames);
    return list.map((a) => ({ type: a.type, count: Math.min(a.count, byFrames) }));
  }

  /** Call `cb` with every finished workload (completed or failed). */
  onWorkloadDone(cb: (w: Workload) => void): void {
    arg.func('onWorkloadDone callback', cb);
    this.doneListeners.push(cb);
  }

  /** Call `cb` when a workload is submitted to the device (after its mediation delay). */
  onWorkloadDispatch(cb: (w: Workload) => void): void {
    arg.func('onWorkloadDispatch callback', cb);
    this.dispatchListeners.push(cb);
  }

  /** Call `cb` when the device preempted a workload (it is queued again, first in line). */
  onWorkloadPreempt(cb: (w: Workload) => void): void {
    arg.func('onWorkloadPreempt callback', cb);
    this.preemptListeners.push(cb);
  }

  /**
   * Ask the device to preempt the workload on engine `engineId` at its next MI_ARB_CHECK.
   * Returns false when nothing preemptible runs there.
   */
  preempt(engineId: number): boolean {
    arg.int('preempt engineId', engineId);
    if (!this.inflight[engineId]) return false;
    return this.device.engines[engineId].requestPreemption();
  }

  /**
   * End a workload that exceeded its time (the scheduler's watchdog): the engine is reset, the
   * workload fails with rule `watchdog` (HANG), and its vGPU sees what a guest driver expects
   * after a hang: the element completes, its other work on that engine is dropped, its engine
   * state is reset, and a command-streamer error interrupt is raised.
   */
  hang(w: Workload, message: string, rule = 'watchdog'): void {
    const e = w.engine.id;
    if (this.inflight[e] !== w) return;
    this.book.stop(w);
    this.device.engines[e].reset();
    this.retire(w, 'failed', workloadFailure(rule, 'HANG', message), true);
    const v = this.vgpuMap.get(w.vgpuId);
    if (v && v.state !== 'destroyed') {
      v.resetEngine(e);
      v.raise(w.engine, EngineIrq.CS_ERROR);
    }
    this.kick();
  }

  /**
   * The workload state machine's invariants (empty when they hold): each pending workload in one
   * place, ended ones holding nothing, history bounded, counters consistent (`WorkloadBook.check`).
   */
  checkWorkloads(): string[] {
    return this.book.check();
  }

  /** Workloads queued or in flight. */
  get pendingWorkloads(): number {
    return this.book.pending();
  }

  /** Queued or in-flight workloads of vGPU `id`. */
  pendingOf(id: number): number {
    return this.book.pending(id);
  }

  /** True when vGPU `id` has a workload on (or being prepared for) the device. */
  onDevice(id: number): boolean {
    for (const w of this.inflight) if (w && w.vgpuId === id) return true;
    for (const w of this.preparing) if (w && w.vgpuId === id) return true;
    return false;
  }

  /**
   * A switcher other than the mediator's own (the time-slice scheduler's `ContextSwitcher`) loaded
   * vGPU `id`'s virtual register values of GVT-g's switch list into the device: the mediator's
   * register residue switch (`RegisterResidue.listedLoaded`) reloads its owner's values at the
   * owner's next dispatch. Call with no workload on the device.
   */
  switchListLoaded(id: number): void {
    this.residue.listedLoaded(id);
  }

  /** Device time a workload has used so far, its current run included (ns). */
  busySoFar(w: Workload): number {
    return this.book.busySoFar(w);
  }

  /** The workload in flight on engine `engineId`, or null. */
  inflightOn(engineId: number): Workload | null {
    return this.inflight[engineId];
  }

  /** Advance simulated time by `ns`. */
  run(ns: number): void {
    arg.finite('run ns', ns);
    this.device.clock.advance(ns);
  }

  /**
   * Advance simulated time until no workload is queued or in flight and the device is idle, at
   * most `maxNs` (default 10 s). Returns true when everything finished.
   */
  runUntilIdle(maxNs = 10e9): boolean {
    arg.number('runUntilIdle maxNs', maxNs);
    const clock = this.device.clock;
    const deadline = clock.now + maxNs;
    while (this.pendingWorkloads > 0 || this.device.busy || this.kickPending) {
      const t = clock.nextTime();
      if (t === Infinity || t > deadline) break;
      clock.step();
    }
    return this.pendingWorkloads === 0 && !this.device.busy;
  }

  /** Ask the dispatcher to look for work (the scheduler calls it at slice boundaries). */
  kick(): void {
    if (this.kickPending) return;
    this.kickPending = true;
    this.device.clock.schedule(0, () => {
      this.kickPending = false;
      this.dispatchAll();
    });
  }

  // ------------------------------------------------------------------ queueing and dispatch

  private enqueue(v: Vgpu, ws: Workload[]): void {
    for (const w of ws) {
      this.book.submit(w);
      v.log('submit', `${w.engine.name} ctx 0x${w.contextId.toString(16)} head 0x${w.head.toString(16)} tail 0x${w.tail.toString(16)}`);
    }
    this.kick();
  }

  private lastUnfinished(vgpuId: number, engineId: number, lrca: number, beforeSeq: number): Workload | undefined {
    const q = this.queues[engineId];
    for (let i = q.length - 1; i >= 0; i--) {
      const w = q[i];
      if (w.seq < beforeSeq && w.vgpuId === vgpuId && w.lrca === lrca && w.status === 'queued') return w;
    }
    const f = this.inflight[engineId];
    if (f && f.vgpuId === vgpuId && f.lrca === lrca) return f;
    return undefined;
  }

  private dispatchAll(): void {
    const now = this.device.clock.now;
    // One vGPU on the device at a time (GVT-g's scheduler waits for every engine to be idle before
    // another vGPU runs, `try_to_schedule_next_vgpu`): the registers its commands reach are
    // switched whole (`RegisterResidue`), GT-wide ones included, which two vGPUs running at once
    // would share. Without a scheduler, the oldest queued workload's vGPU goes next.
    // A workload waiting for shared shadow space does not hold the others back.
    let fifoNext = this.gate === FIFO ? this.oldestQueuedVgpu(now) : -1;
    // When a workload waits, the FIFO turn passes to the next oldest vGPU; the scan starts again
    // from the first engine so that vGPU's work on an engine already passed gets its turn (else a
    // victim queued on a lower engine than waiting hoarders was skipped at every retry, forever:
    // the lifecycle fuzzer's hoard op). Each restart follows a workload that now waits (not tried
    // again in this call), so the restarts are bounded by the queued workloads.
    scan: for (;;) {
      for (let e = 0; e < this.queues.length; e++) {
        if (this.inflight[e] !== null || this.preparing[e] !== null || this.resetting[e] === 1) continue;
        const q = this.queues[e];
        for (let i = 0; i < q.length; i++) {
          const w = q[i];
          const v = this.vgpuMap.get(w.vgpuId);
          if (!v?.active) continue;
          if (!this.gate.mayDispatch(w, now)) continue;
          const occupant = this.deviceOccupant();
          if (occupant >= 0 ? occupant !== v.id : fifoNext >= 0 && fifoNext !== v.id) continue;
          // gScale: its slices hold a sharer's entries while that sharer has work on the device; and
          // a resident vGPU lets an older workload of a sharer go first (else it could starve it).
          if (this.gscale && (v.resident ? this.olderSharerQueued(v, w, now) : this.sharerOnDevice(v))) continue;
          // Workloads of one vGPU on one engine run in order.
          let earlier = false;
          for (let j = 0; j < i; j++) if (q[j].vgpuId === w.vgpuId) earlier = true;
          if (earlier) continue;
          const until = this.book.waitingUntil(w);
          if (until !== undefined && until > now) continue;
          let waited: boolean;
          if (this.auditQuota !== null && this.overAuditQuota(w, v, now)) waited = true;
          else {
            this.book.take(w);
            if (this.dispatch(w)) break;
            // It waits for shared shadow resources: back in its place; a later workload may go, of
            // another vGPU too.
            this.book.requeue(w, i);
            waited = true;
          }
          if (waited && this.gate === FIFO) {
            const next = this.oldestQueuedVgpu(now);
            if (next !== fifoNext) {
              fifoNext = next;
              continue scan;
            }
          }
        }
      }
      break;
    }
    // Workloads still waiting are looked at again when their wait ends.
    const next = this.book.earliestWait(now);
    if (next < Infinity) this.retryBy(next);
  }

  /**
   * True when `v` has used its audit quota in the current window: `w` then waits, queued, until
   * the next window starts (it is not counted as the oldest FIFO work meanwhile).
   */
  private overAuditQuota(w: Workload, v: Vgpu, now: number): boolean {
    const q = this.auditQuota!;
    const a = this.auditWindow.get(v.id);
    if (a === undefined) return false;
    const start = now - (now % q.periodNs);
    if (a.start !== start) {
      a.start = start;
      a.used = 0;
      return false;
    }
    if (a.used < q.commands) return false;
    const next = start + q.periodNs;
    this.book.wait(w, next);
    this.stats.auditWaits++;
    v.log('audit-wait', `${w.engine.name} workload ${w.seq} waits for its audit quota (${a.used} commands audited in this window)`);
    // The dispatcher's retry for waiting workloads (`retryBy`) looks again when the window starts.
    return true;
  }

  /** Charge `commands` audited for vGPU `id` to its current audit window. */
  private chargeAudit(id: number, commands: number): void {
    const q = this.auditQuota;
    if (q === null || commands === 0) return;
    const now = this.device.clock.now;
    const start = now - (now % q.periodNs);
    let a = this.auditWindow.get(id);
    if (a === undefined) this.auditWindow.set(id, (a = { start, used: 0 }));
    else if (a.start !== start) {
      a.start = start;
      a.used = 0;
    }
    a.used += commands;
  }

  /** The vGPU with work on (or being prepared for) the device, -1 when none. */
  private deviceOccupant(): number {
    for (let e = 0; e < this.inflight.length; e++) {
      const w = this.inflight[e] ?? this.preparing[e];
      if (w) return w.vgpuId;
    }
    return -1;
  }

  /**
   * The vGPU of the oldest queued workload of an active vGPU, not counting workloads waiting for
   * shared shadow space until `now` (-1: none).
   */
  private oldestQueuedVgpu(now: number): number {
    let seq = Infinity, id = -1;
    for (const q of this.queues) {
      for (const w of q) {
        const until = this.book.waitingUntil(w);
        if (until !== undefined && until > now) continue;
        if (w.seq < seq && this.vgpuMap.get(w.vgpuId)?.active) {
          seq = w.seq;
          id = w.vgpuId;
        }
      }
    }
    return id;
  }

  /** gScale: true when work of another vGPU sharing `v`'s slices is on (or going to) the device. */
  private sharerOnDevice(v: Vgpu): boolean {
    const g = this.partition.groupOf(v.id);
    const other = (w: Workload | null): boolean => w !== null && w.vgpuId !== v.id && this.partition.groupOf(w.vgpuId) === g;
    for (let e = 0; e < this.inflight.length; e++) if (other(this.inflight[e]) || other(this.preparing[e])) return true;
    return false;
  }

  /**
   * gScale: true when another vGPU of `v`'s group has a workload queued before `w` (submitted
   * earlier) that the scheduler would let run now.
   */
  private olderSharerQueued(v: Vgpu, w: Workload, now: number): boolean {
    if (this.partition.sharers(v.id).length < 2) return false;
    const g = this.partition.groupOf(v.id);
    for (const q of this.queues) {
      for (const x of q) {
        if (x.seq < w.seq && x.vgpuId !== v.id && this.partition.groupOf(x.vgpuId) === g && this.vgpuMap.get(x.vgpuId)?.active && this.gate.mayDispatch(x, now)) return true;
      }
    }
    return false;
  }

  /**
   * gScale: make `v` resident (switch out the sharer that is resident, load `v`'s private GGTT
   * and fences). Returns the simulated cost in ns (0 when it already was).
   */
  private makeResident(v: Vgpu): number {
    if (v.resident) return 0;
    for (const id of this.partition.sharers(v.id)) if (id !== v.id) this.vgpuMap.get(id)?.switchOut();
    const { entries } = v.switchIn();
    this.stats.ggttLoads++;
    this.stats.ggttEntriesLoaded += entries;
    v.log('ggtt-load', `${entries} entries`);
    return entries * this.cost.ggttLoadNsPerEntry;
  }

  /**
   * Start `w` (prepare and submit it, or end it when it fails). Returns false when it must wait
   * for shared shadow resources (it is not queued then; the caller puts it back).
   */
  private dispatch(w: Workload): boolean {
    const v = this.vgpuMap.get(w.vgpuId);
    if (!v) {
      // Its vGPU is gone (its work is dropped at destroy, so this is defensive): it ends here.
      this.retire(w, 'failed', droppedFailure(false), false);
      return true;
    }
    if (w.dispatchedAt < 0) w.dispatchedAt = this.device.clock.now;
    const refusals = this.device.hostMemory.refusedBeyondReserve(v.id);
    if (w.ringContextPending) {
      // Its context image waited for host memory at submission: read its ring context now.
      const r = v.resolveRingContext(w);
      const f = r === WAIT ? this.waitForFrames(v, refusals) : r;
      if (f === WAIT) {
        this.wait(w, v);
        return false;
      }
      if (f) {
        w.status = 'failed';
        w.failure = f;
      }
    }
    if (w.status === 'failed') {
      // Refused at submission (bad descriptor, ring-context): it ends here, in order.
      this.retire(w, 'failed', w.failure, true);
      this.kick();
      return true;
    }
    // Nothing of another vGPU is on the device (`dispatchAll`): the registers become `v`'s. The
    // switch is not charged here: the time-slice scheduler charges its own switch cost, and the
    // mediation cost presets (passthrough: none) would otherwise need a per-register term.
    this.residue.switchTo(v);
    const load = this.makeResident(v);
    if (load > 0) {
      w.mediationNs += load;
      this.stats.mediationNs += load;
    }
    if (w.status === 'queued' && w.shadowContext !== null) {
      // Resuming a preempted workload: its shadow context holds the saved state.
      this.submitToDevice(w, load);
      return true;
    }
    let failure: WorkloadFailure | typeof WAIT | typeof WAIT_FRAMES | null;
    try {
      failure = this.prepare(w, v);
    } catch (e) {
      if (!(e instanceof GvtError)) throw e;
      this.releaseShadows(w);
      failure = !(e instanceof NoResourceError && SHARED_RESOURCES.has(e.resource)) ? workloadFailure('shadow-alloc', 'LIMIT', e.message)
        : e.resource === 'host-memory' ? WAIT_FRAMES : WAIT;
    } finally {
      // The parser's buffers shrink back once the shadows are copied out (or refused).
      this.parser.trimBuffers();
      this.chargeAudit(v.id, w.commands);
    }
    if (failure === WAIT_FRAMES) failure = this.waitForFrames(v, refusals);
    if (failure === WAIT) {
      this.wait(w, v);
      return false;
    }
    if (failure) {
      this.retire(w, 'failed', failure, true);
      this.kick();
      return true;
    }
    const c = this.cost;
    let pages = w.engine.contextPages;
    for (const a of w.shadowAllocs) pages += a.pages;
    const delay = c.dispatchNs + w.commands * (c.scanNsPerCommand + c.emulateNsPerCommand) + pages * 4 * c.copyNsPerKiB;
    w.mediationNs += delay;
    this.stats.mediationNs += delay;
    this.submitToDevice(w, delay + load);
    return true;
  }

  /**
   * A workload of `v` lacks host frames: WAIT within its reserve, or when no reserve applies;
   * its failure when the frames it lacked were beyond its reserve (`WAIT_FRAMES`): it holds more
   * than its reserve, or an allocation was refused since `refusals` (`refusedBeyondReserve`)
   * while it held its whole reserve (a build that needs more than the reserve and is rolled back
   * would otherwise wait, within its reserve again, at every retry, forever).
   */
  private waitForFrames(v: Vgpu, refusals: number): WorkloadFailure | typeof WAIT {
    const reserve = this.hostReserveFrames;
    const mem = this.device.hostMemory;
    const held = mem.ownedFrames(v.id);
    if (reserve === 0 || (held <= reserve && mem.refusedBeyondReserve(v.id) === refusals)) return WAIT;
    return workloadFailure('shadow-alloc', 'LIMIT',
      `host memory is short and the vGPU needs host frames beyond its reserve of ${reserve} (hostReserveFrames; it holds ${held})`);
  }

  /**
   * `w` cannot have its shadows now, through no fault of its own (shared shadow space or host
   * frames held by others, or its own earlier workloads' shadows): it stays queued and is tried
   * again at the next release of shadows or after `SHADOW_RETRY_NS`, whichever comes first. Its
   * commands are never skipped for it.
   */
  private wait(w: Workload, v: Vgpu): void {
    this.stats.shadowWaits++;
    const until = this.device.clock.now + SHADOW_RETRY_NS;
    this.book.wait(w, until);
    v.log('shadow-wait', `${w.engine.name} workload ${w.seq} waits for shadow resources`);
    this.retryBy(until);
  }

  /**
   * Make sure the dispatcher looks again at time `t` at the latest. (One pending retry, moved
   * earlier when needed; `dispatchAll` arms the next one for workloads still waiting, so a wait
   * renewed after the retry was armed is not left without one: finding 29's second half.)
   */
  private retryBy(t: number): void {
    if (this.retryAt <= t) return;
    this.retryAt = t;
    this.device.clock.schedule(t - this.device.clock.now, () => {
      if (this.retryAt === t) this.retryAt = Infinity;
      this.kick();
    });
  }

  /** Submit the shadow context after `delay` ns of mediation (the engine is reserved meanwhile). */
  private submitToDevice(w: Workload, delay: number): void {
    const e = w.engine.id;
    this.book.reserve(w);
    const go = (): void => {
      if (this.preparing[e] !== w) return; // dropped by a reset meanwhile
      const v = this.vgpuMap.get(w.vgpuId);
      if (!v || v.state === 'destroyed' || w.status === 'failed' || w.shadowContext === null) {
        // Its vGPU went away meanwhile: the workload ends here, shadows and all.
        this.retire(w, 'failed', workloadFailure('reset', 'HANG', 'dropped before submission'), false);
        this.kick();
        return;
      }
      this.book.start(w);
      for (const cb of this.dispatchListeners) cb(w);
      const ctx = w.shadowContext;
      const lo = (ctx.gma | (w.addressingMode << Desc.ADDRESSING_MODE_SHIFT) | Desc.PRIVILEGE | Desc.VALID) >>> 0;
      // The engine's mode is the host's: a guest command may have changed it (GFX_MODE and
      // MI_MODE are command-accessible, as in GVT-g, which restores them at each switch).
      this.assertHostEngineMode(e);
      this.device.engines[e].submit(lo, w.hostContextId, 0, 0);
    };
    if (delay > 0) this.device.clock.schedule(delay, go);
    else go();
  }

  /** Execlists on and STOP_RING off on engine `e`, as the host driver keeps them. */
  private assertHostEngineMode(e: number): void {
    const regs = this.device.regs;
    const base = GEN9_ENGINES[e].mmioBase;
    regs.write(base + RING.GFX_MODE, 4, ((Bits.GFX_RUN_LIST_ENABLE << 16) | Bits.GFX_RUN_LIST_ENABLE) >>> 0);
    regs.write(base + RING.MI_MODE, 4, (Bits.STOP_RING << 16) >>> 0);
  }

  /**
   * A device reset (function-level): the host restores its engine modes and the vGPUs' fences,
   * and every workload on the device fails with rule `device-reset`; queued work goes on.
   */
  private onDeviceReset(): void {
    for (let e = 0; e < GEN9_ENGINES.length; e++) this.assertHostEngineMode(e);
    for (const v of this.vgpuMap.values()) {
      // gScale: a sharer that is out gets its fences back at its next switch-in.
      if (!v.resident) continue;
      for (let i = 0; i < v.slices.fences.length; i++) {
        const lo = v.vregs.peek(fenceReg(i)), hi = v.vregs.peek(fenceReg(i) + 4);
        this.device.regs.write(fenceReg(v.slices.fences[i]), 4, lo);
        this.device.regs.write(fenceReg(v.slices.fences[i]) + 4, 4, hi);
      }
    }
    for (let e = 0; e < GEN9_ENGINES.length; e++) {
      const w = this.inflight[e];
      if (!w) continue;
      this.failInflight(w, workloadFailure('device-reset', 'HANG', 'the device was reset while the workload ran'));
    }
    this.kick();
  }

  /** Fail the workload on the device with `failure` and finish it. */
  private failInflight(w: Workload, failure: WorkloadFailure): void {
    this.retire(w, 'failed', failure, true);
  }


  /**
   * Shadow a workload: PPGTT, audit, shadow buffers, shadow context. Returns a failure record,
   * or null when the workload is ready to submit. Releases everything on failure.
   */
  private prepare(w: Workload, v: Vgpu): WorkloadFailure | typeof WAIT | typeof WAIT_FRAMES | null {
    const hasPpgtt = w.pdps.some((p) => p !== 0);
    // Shadow page allocations the vGPU's own quota refuses are its doing; host memory is not.
    const quotaHits = v.ppgtt.quotaHits;
    const ownQuota = (): WorkloadFailure => workloadFailure('shadow-alloc', 'LIMIT',
      `shadow PPGTT could not be built or synced (the vGPU's quota of ${v.ppgtt.maxShadowPages} shadow pages is reached)`);
    if (hasPpgtt) {
      let mm;
      try {
        mm = w.addressingMode === 3 ? v.ppgtt.get(w.pdps[0], PPGTT_MODE_L4) : v.ppgtt.get(w.pdps, PPGTT_MODE_L3);
      } catch (e) {
        if (e instanceof NoResourceError && v.ppgtt.quotaHits !== quotaHits) return ownQuota();
        throw e;
      }
      w.ppgtt = mm.acquire();
    }
    // An untrapped guest's tables of this workload's PPGTT are re-read here (`sync(mm)`): what it
    // wrote since its last submission reaches the shadow now, validated, and the audit below
    // reads its batches through the result.
    if (!v.ppgtt.sync(w.ppgtt)) {
      // Entries could not be re-shadowed: running now would lose stores. At the vGPU's own
      // shadow page quota it is the guest's doing (it fails); host memory short, it waits.
      this.releaseShadows(w);
      return v.ppgtt.quotaHits !== quotaHits ? ownQuota() : WAIT_FRAMES;
    }
    if (!v.ggtt.sync()) {
      // The same for GGTT entries whose frames the host could not back: they still point at
      // scratch, and the guest did nothing wrong.
      this.releaseShadows(w);
      return WAIT_FRAMES;
    }
    const r = this.parser.scan({ base: w.ringBase, size: w.ringSize, head: w.head, tail: w.tail }, v.auditEnv(w.engine, w.ppgtt, w));
    w.commands = r.commands;
    w.batches = r.batches;
    w.patched = r.addressesPatched;
    w.userInterrupts = r.userInterrupts;
    this.stats.commandsAudited += r.commands;
    if (!r.ok) {
      this.releaseShadows(w);
      return failureOfViolation(r.violation!);
    }
    if (w.lriPpgtts !== undefined && w.lriPpgtts.length !== 0 && v.guestWrites === 'untrapped' && !v.ppgtt.sync(w.lriPpgtts)) {
      // The other address spaces its PDP loads switch to (GVT-g `cmd_pdp_mmio_update_handler`)
      // are the device's too: an untrapped guest's are re-read as well, with the same outcome.
      this.releaseShadows(w);
      return v.ppgtt.quotaHits !== quotaHits ? ownQuota() : WAIT_FRAMES;
    }
    this.stats.batchesShadowed += r.batches;
    this.stats.addressesPatched += r.addressesPatched;
    // GVT-g cmd_reg_handler: MOCS and restore-inhibit in-context LRIs reach the vGPU's vregs.
    v.applyCommandVregs(r.vregWrites, r.vregWriteCount);
    const pool = this.hostGm;
    try {
      const shadows = r.shadows;
      const gmas: number[] = new Array(shadows.length);
      const ringLen = shadows[0].length;
      const ringDwords = ringLen + (ringLen & 1);
      const ringBytes = Math.max(PAGE_SIZE, Math.ceil((ringDwords * 4 + 8) / PAGE_SIZE) * PAGE_SIZE);
      if (ringBytes > 2 * 1024 * 1024) {
        this.releaseShadows(w);
        return workloadFailure('command-budget', 'LIMIT', `ring segment of ${ringLen} dwords exceeds a 2 MiB shadow ring`, w.ringBase);
      }
      // The whole workload is admitted against its vGPU's quota and the others' reserves first.
      const pages = w.engine.contextPages;
      let need = ringBytes / PAGE_SIZE + pages;
      for (let k = 1; k < shadows.length; k++) need += Math.max(1, Math.ceil((shadows[k].length * 4) / PAGE_SIZE));
      const admission = pool.admit(v.id, need);
      if (admission !== 'ok') {
        this.releaseShadows(w);
        if (admission === 'wait') return WAIT;
        return workloadFailure('shadow-quota', 'LIMIT', `the workload's shadows need ${need} pages, beyond the vGPU's quota of ${pool.quotaPages}`, w.ringBase);
      }
      const ring = pool.alloc(ringBytes, v.id);
      w.shadowAllocs.push(ring);
      gmas[0] = ring.gma;
      const allocs: HostGmAllocation[] = [ring];
      for (let k = 1; k < shadows.length; k++) {
        const a = pool.alloc(shadows[k].length * 4, v.id);
        w.shadowAllocs.push(a);
        allocs.push(a);
        gmas[k] = a.gma;
      }
      this.parser.relocate(gmas);
      for (let k = 0; k < shadows.length; k++) pool.write(allocs[k], 0, shadows[k].data, 0, shadows[k].length);
      // The shadow context: the guest's image, with the ring and PPGTT roots pointed at shadows.
      const ctx = pool.alloc(pages * PAGE_SIZE, v.id);
      w.shadowContext = ctx;
      for (let p = 0; p < pages; p++) {
        const hpa = v.ggtt.translate(w.lrca + p * PAGE_SIZE);
        if (hpa >= 0) pool.page32(ctx, p).set(this.device.hostMemory.page32(Math.floor(hpa / PAGE_SIZE)));
      }
      w.ppHwspAtDispatch = pool.page32(ctx, 0).slice();
      const reg = pool.page32(ctx, 1);
      const set = (index: number, value: number): void => {
        reg[index + 1] = value >>> 0;
      };
      set(CtxReg.RING_HEAD, 0);
      set(CtxReg.RING_TAIL, ringDwords * 4);
      set(CtxReg.RING_BUFFER_START, ring.gma);
      set(CtxReg.RING_BUFFER_CONTROL, ((ringBytes - PAGE_SIZE) & Bits.RING_CTL_SIZE_MASK) | Bits.RING_CTL_VALID);
      set(CtxReg.BB_STATE, 0);
      const roots = w.ppgtt ? w.ppgtt.shadowRoots : [];
      for (let n = 0; n < 4; n++) {
        const root = roots[n] ?? 0;
        set(ctxPdpLdw(n), root % TWO_POW_32);
        set(ctxPdpUdw(n), Math.floor(root / TWO_POW_32));
      }
      w.hostContextId = w.seq;
      return null;
    } catch (e) {
      this.releaseShadows(w);
      throw e;
    }
  }

  private releaseShadows(w: Workload): void {
    // Shadow space comes back: waiting workloads may be tried at once.
    if (w.shadowAllocs.length > 0 || w.shadowContext) this.book.clearWaits();
    for (const a of w.shadowAllocs) this.hostGm.free(a);
    w.shadowAllocs.length = 0;
    if (w.shadowContext) {
      this.hostGm.free(w.shadowContext);
      w.shadowContext = null;
    }
    if (w.ppgtt) {
      w.ppgtt.release();
      w.ppgtt = null;
    }
    if (w.lriPpgtts !== undefined) {
      for (const mm of w.lriPpgtts) mm.release();
      w.lriPpgtts.length = 0;
    }
  }

  // ------------------------------------------------------------------ completion

  private onDeviceEvent(e: DeviceEvent): void {
    if (e.kind === 'reset') {
      if (e.engine === null) {
        this.onDeviceReset();
      } else {
        // An engine reset the mediator did not start (its own resets clear `inflight` first):
        // only that engine's workload is lost.
        const id = this.device.engine(e.engine).id;
        const w = this.inflight[id];
        if (w) {
          this.failInflight(w, workloadFailure('device-reset', 'HANG', `engine ${e.engine} was reset while the workload ran`));
          this.kick();
        }
      }
      return;
    }
    if (e.kind === 'stopped' && e.engine) {
      // A workload set STOP_RING (RING_MI_MODE bit 8) with a command: its engine halted with the
      // context loaded and would serve nobody again. The mediator owns engine liveness whether
      // or not a scheduler (and its watchdog) runs: the workload ends as a hang of its own vGPU,
      // the engine is reset, the next workload goes. Outside the device's step.
      const id = this.device.engine(e.engine).id;
      const w = this.inflight[id];
      if (w) {
        this.device.clock.schedule(0, () => {
          if (this.inflight[id] === w) this.hang(w, `the workload stopped its ring (STOP_RING in RING_MI_MODE) on ${e.engine}`, 'stop-ring');
        });
      }
      return;
    }
    if (e.kind === 'submit-dropped' && e.contextId !== undefined) {
      const w = this.book.byContext(e.contextId);
      if (w && this.inflight[w.engine.id] === w) {
        this.failInflight(w, workloadFailure('device-refused', 'HANG', `the device dropped the submission: ${e.message ?? ''}`));
        this.kick();
      }
      return;
    }
    if (e.kind === 'csb' && e.status !== undefined && (e.status & CtxStatus.PREEMPTED) !== 0 && e.contextId !== undefined &&
      (e.status & CtxStatus.COMPLETE) === 0) {
      const w = this.book.byContext(e.contextId);
      if (!w || (e.status & CtxStatus.LITE_RESTORE) !== 0) return;
      this.book.preempted(w);
      for (const cb of this.preemptListeners) cb(w);
      // A vGPU in failsafe keeps no queued work (`failsafeHook`): a workload preempted after
      // its vGPU entered failsafe is dropped with its shadows, not left waiting for a dispatch
      // that never comes (lifecycle campaign seed 20240607, case 53).
      const v = this.vgpuMap.get(w.vgpuId);
      if (v && v.state === 'failsafe') this.dropWork(v, w.engine.id, false);
      this.kick();
      return;
    }
    if (e.kind === 'csb' && e.status !== undefined && (e.status & CtxStatus.COMPLETE) !== 0 && e.contextId !== undefined) {
      const w = this.book.byContext(e.contextId);
      if (!w) return;
      this.book.closeRun(w);
      this.retire(w, 'completed', null, true);
      this.kick();
    } else if (e.kind === 'error' && e.engine) {
      const engine = this.device.engine(e.engine);
      const w = this.inflight[engine.id];
      if (!w) return;
      this.book.stop(w);
      const err = engine.error;
      const failure = workloadFailure('gpu-hang', err?.code ?? 'HANG', err?.message ?? 'engine error',
        err?.address ?? -1, err ? '0x' + (err.header >>> 0).toString(16) : '');
      // Engine reset on the host (outside the device's step), then the next workload; nothing
      // is dispatched to the hung engine meanwhile.
      this.resetting[engine.id] = 1;
      this.device.clock.schedule(0, () => {
        engine.reset();
        this.resetting[engine.id] = 0;
        this.kick();
      });
      this.retire(w, 'failed', failure, true);
    }
  }

  /**
   * The one end of a workload's life (STYLE item 5: every path that finishes or drops a workload
   * comes here, once): the book's `end` takes it out of the queues and the device, releases its
   * shadows (ring, batches, context, PPGTT reference), counts it and records it in the history;
   * the listeners see it once. With
   * `report` the guest sees the end as a driver expects (GVT-g `complete_current_workload`): the
   * status page merge, the ring head, the CSB event and interrupts, failsafe by policy; without
   * it (the vGPU or engine is being reset, destroyed, or is in failsafe) nothing reaches the
   * guest, whose execlist state is reset anyway. A second call for the same workload is ignored.
   */
  private retire(w: Workload, status: 'completed' | 'failed', failure: WorkloadFailure | null, report: boolean): void {
    if (w.completedAt >= 0) return;
    const v = this.vgpuMap.get(w.vgpuId);
    const guest = report && v !== undefined && v.state !== 'destroyed' ? v : null;
    if (guest && status === 'completed' && w.shadowContext && w.ppHwspAtDispatch) {
      // Its per-process status page (context page 0) receives what the device wrote there
      // (store-data-index, seqnos): only the dwords that changed in the shadow, so that stores
      // the guest's own commands made to that page through another mapping are kept. Through
      // the guest write path: a page table there is write-protected and must see the store.
      const shadow = this.hostGm.page32(w.shadowContext, 0);
      const before = w.ppHwspAtDispatch;
      for (let i = 0; i < shadow.length; i++) if (shadow[i] !== before[i]) guest.writeGuestGma32(w.lrca + i * 4, shadow[i]);
    }
    w.ppHwspAtDispatch = null;
    if (guest && w.ringSize > 0 && (status === 'completed' || (failure && failure.rule !== 'ring-context' && failure.rule !== 'bad-descriptor'))) {
      // The guest's ring is consumed up to the workload's tail: executed, or refused and
      // dropped (a refused request is not run again at the next submission).
      guest.writeGuestGma32(w.lrca + PAGE_SIZE + (CtxReg.RING_HEAD + 1) * 4, w.tail);
    }
    // Out of every structure, shadows released, counted, into the history: once.
    this.book.end(w, status, failure);
    if (status === 'completed') {
      if (guest && w.userInterrupts > 0) guest.raise(w.engine, EngineIrq.USER);
    } else {
      if (guest) {
        const f = failure!;
        this.stats.refusedByRule[f.rule] = (this.stats.refusedByRule[f.rule] ?? 0) + 1;
        guest.log('workload-failed', `${f.rule} (${f.code}) at 0x${Math.max(0, f.gma).toString(16)} ${f.command} ${f.header}: ${f.message}`);
        log('%s: workload %d failed: %s: %s', guest.name, w.seq, f.rule, f.message);
      }
    }
    if (guest) {
      guest.execlists[w.engine.id].complete(w);
      if (status === 'failed' && this.shouldFailsafe(failure!)) guest.enterFailsafe(`${failure!.rule}: ${failure!.message}`);
      if (guest.state === 'failsafe') this.dropWork(guest, -1, false);
    }
    for (const cb of this.doneListeners) cb(w);
    // Shadow space came back: a workload waiting for it may go now.
    this.kick();
  }

  private shouldFailsafe(f: WorkloadFailure): boolean {
    if (this.failsafePolicy === 'never') return false;
    if (this.failsafePolicy === 'always') return f.rule !== 'reset';
    return f.code === 'BAD_COMMAND' || f.code === 'BAD_ADDRESS';
  }

  /**
   * Drop the work of a vGPU: engine -1 for all engines. Queued workloads (preempted ones with
   * their shadows included) and one being prepared always go; with `stopInflight` (a vGPU or
   * engine reset, a destroy) its workload on the device is stopped first, by an engine reset,
   * before anything it uses (shadow PPGTT, shadows) is freed (GVT-g `intel_gvt_reset_vgpu_locked`
   * waits for the vGPU's workloads to leave the device, `intel_vgpu_stop_schedule`). Without it
   * (failsafe) the running workload ends normally.
   */
  private dropWork(v: Vgpu, engineId: number, stopInflight: boolean): void {
    for (let e = 0; e < this.queues.length; e++) {
      if (engineId >= 0 && e !== engineId) continue;
      const q = this.queues[e];
      for (let i = q.length - 1; i >= 0; i--) if (q[i].vgpuId === v.id) this.retire(q[i], 'failed', droppedFailure(false), false);
      const p = this.preparing[e];
      if (p && p.vgpuId === v.id) this.retire(p, 'failed', droppedFailure(false), false);
      const f = this.inflight[e];
      if (f && f.vgpuId === v.id && stopInflight) {
        this.book.stop(f);
        this.device.engines[e].reset();
        this.retire(f, 'failed', droppedFailure(true), false);
      }
    }
    this.kick();
  }

  private release(v: Vgpu): void {
    this.dropWork(v, -1, true);
    this.hostGm.removeOwner(v.id);
    this.vgpuMap.delete(v.id);
    this.auditWindow.delete(v.id);
    this.residue.remove(v.id);
    this.device.hostMemory.removeOwner(v.id);
    this.partition.release(v.id);
    this.gate.vgpuRemoved?.(v.id);
    log('destroyed %s', v.name);
  }
}
