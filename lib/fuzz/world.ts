/**
 * `FuzzWorld`: a device, a mediator and guests set up for the hostile-guest proof. One or more
 * attackers do what they like; a victim guest does real work and is checked after every case; a
 * `DeviceMonitor` watches every device access; the structural checks of `monitor.ts` run on what
 * changed.
 *
 * The world is built on the conformance harness (`lib/harness`), so attacks and fuzzers drive
 * guests through the same interface a real guest has (BAR0/BAR2, PCI config, stores to its RAM).
 * It adds what a long-lived hostile guest needs from its own driver: recovery after its vGPU was
 * reset (`revive`) and after one of its workloads was refused (`recoverEngine`), as i915 does after
 * a GPU hang.
 */
import createDebug from 'debug';
import { Harness, type TestGuest } from '../harness/index.js';
import type { Gen9DeviceOptions } from '../device/device.js';
import { GEN9_ENGINES, type EngineName } from '../device/engines.js';
import { CtxReg, writeContextValue } from '../device/lrc.js';
import { Bits, RING, fenceReg } from '../device/registers.js';
import { miStoreDataImm } from '../device/commands/index.js';
import { VREG, planeCtl } from '../display/index.js';
import type { GuestEngine, GuestBuffer } from '../guest/engine.js';
import { PTE_PRESENT, pteHi, pteLo } from '../gtt/pte.js';
import type { FailsafePolicy, MediatorOptions } from '../mediator/mediator.js';
import type { CommandParserOptions } from '../mediator/parser.js';
import type { Vgpu } from '../mediator/vgpu.js';
import type { Workload } from '../mediator/workload.js';
import { GEN9_HOST_RESERVATION } from '../gtt/vgpu-types.js';
import { PAGE_SIZE } from '../types.js';
import {
  DeviceMonitor, INVARIANTS, checkGgttFull, checkShadowPpgtt, shadowFramesHeld, type Violation,
} from './monitor.js';
import { mix32 } from './mix.js';
import { CanaryScanner, scanForCanaries } from './scanout.js';
import { WorldOracles, type OracleOptions } from './oracles/index.js';
import { VgpuScheduler, type VgpuSchedulerOptions } from '../scheduler/vgpu-scheduler.js';

const log = createDebug('gvtkit:fuzz');
const MiB = 1024 * 1024;

export { mix32 };

/**
 * World options where the attacker shares the victim's graphics memory and fences under gScale:
 * the aperture leaves room for one GVTg_V5_4 beside the host's 128 MiB, so the second vGPU joins
 * the first's group. Fuzzers use it for some of their worlds.
 */
export const GSCALE_SHARED_WORLD: Readonly<WorldOptions> = Object.freeze({
  device: { apertureSize: 256 * 1024 * 1024 },
  mediator: { gscale: true },
  attackerType: 'GVTg_V5_4',
  victimType: 'GVTg_V5_4',
});

/**
 * The reserved range of a scarce world: 1 MiB of host graphics memory (256 shadow pages) for every
 * workload's ring, batch and context shadows.
 */
const SCARCE_POOL = { ...GEN9_HOST_RESERVATION, highGmSize: 1024 * 1024 };

/**
 * World options where shared host resources are scarce (issue 13, class 8): three GVTg_V5_4
 * attackers next to the victim, a 256-page shadow pool with a per-vGPU quota of 80 pages and a
 * reserve of 36, and 16 MiB of host memory (4096 host frames) for every guest's shadow page
 * tables, scratch and pinned RAM together, so that a few hoarding guests reach the limits. The
 * lifecycle fuzzer runs some of its worlds with it (and its `hoard` op).
 */
export const SCARCE_WORLD: Readonly<WorldOptions> = Object.freeze({
  scarce: true,
  attackers: 3,
  attackerType: 'GVTg_V5_4',
  victimType: 'GVTg_V5_4',
  hostMemoryMiB: 16,
  mediator: { hostReservation: SCARCE_POOL, shadowQuotaPages: 80, shadowReservePages: 36 },
});

/** Which guests of a world run untrapped (`WorldOptions.untrapped`). */
export type UntrappedGuests = 'none' | 'attackers' | 'victim' | 'all' | 'alternate';

/** Options of `FuzzWorld`. */
export interface WorldOptions {
  /**
   * Shared host resources are scarce on purpose (`SCARCE_WORLD`): fuzzers may throw hoarding ops
   * at it (`FuzzWorld.scarce`). Only a mark; the sizes are the other options.
   */
  scarce?: boolean;
  /** Seed of the world's own choices (victim values, canary patterns). Default 1. */
  seed?: number;
  /** Mediator failsafe policy (default 'gvt-g'). */
  failsafe?: FailsafePolicy;
  /** Host memory (default 512 MiB: sparse, small arrays keep worlds cheap to build). */
  hostMemoryMiB?: number;
  /** RAM of every guest (default 16 MiB). */
  guestRamMiB?: number;
  /** vGPU types (default GVTg_V5_8 for both). */
  attackerType?: string;
  victimType?: string;
  /** Number of attackers (default 1). */
  attackers?: number;
  /** Give attackers a PPGTT (default true). */
  attackerPpgtt?: boolean;
  /** Build a victim (default true). */
  victim?: boolean;
  /** Parser limits. */
  parser?: CommandParserOptions;
  /** Out-of-sync shadow PPGTT pages (for the guests whose stores are trapped). */
  outOfSync?: boolean;
  /**
   * Guests whose stores to their RAM are not trapped (`CreateVgpuOptions.guestWrites:
   * 'untrapped'`, the emulator model of v86: their drivers store straight into guest memory and
   * the shadow PPGTT resyncs at each submission): none (default), the attackers, the victim, all,
   * or every other guest created (`'alternate'`: the victim trapped, the first attacker untrapped,
   * the next trapped, ...).
   */
  untrapped?: UntrappedGuests;
  /** More device options. */
  device?: Gen9DeviceOptions;
  /** More mediator options. */
  mediator?: MediatorOptions;
  /**
   * Run the structural shadow-PPGTT check every n-th `check()` (default 1: every case). The device
   * monitor checks every access regardless; the teardown always checks.
   */
  ppgttCheckEvery?: number;
  /**
   * The oracles of `oracles/` (residue, leak, work bound, starvation), checked after every case
   * (`{}`: all, a residue round every `RESIDUE_EVERY` checks). Default: none, so that worlds built
   * directly (attacks, fault injection, regression tests) keep their checks; campaigns turn them
   * all on (`runCampaign`).
   */
  oracles?: OracleOptions | false;
  /**
   * Run the time-slice scheduler (`lib/scheduler` `VgpuScheduler`): vGPUs take turns, switches
   * save and restore engine registers, slices end by preemption. Default: none (first come, first
   * served).
   */
  scheduler?: boolean | VgpuSchedulerOptions;
}

/** `check()` reads the attackers' planes out every this many checks (`checkScanout`). */
export const SCANOUT_EVERY = 4;

/** Simulated time between the work-bound oracle's looks at the workloads on the device (`settle`). */
const MID_RUN_SLICE_NS = 1e6;

/** Slots of a victim result buffer (one 4 KiB page of dwords). */
const SLOTS = 1024;
/** Canary pages of a victim. */
const CANARY_PAGES = 4;

/**
 * The healthy guest: it submits real work (ring and batch stores on two engines, through its
 * PPGTT and its GGTT) and checks that every workload completed, that every value landed, and that
 * its canary pages and result buffers hold nothing it did not write.
 */
export class Victim {
  readonly g: TestGuest;
  readonly seed: number;
  readonly ppgttBuf: GuestBuffer;
  readonly ggttBuf: GuestBuffer;
  readonly bcsBuf: GuestBuffer;
  readonly canary: GuestBuffer;
  /** Workloads submitted, completed and failed (failures are violations). */
  submitted = 0;
  completed = 0;
  readonly failures: string[] = [];
  private readonly expected = { ppgtt: new Uint32Array(SLOTS), ggtt: new Uint32Array(SLOTS), bcs: new Uint32Array(SLOTS) };
  /** Its display registers a flip could change (`displayOffsets`), as they were at creation: it never flips. */
  private readonly display: Uint32Array;
  /** The canary pages' contents (`canaryWord(i)` for every dword). */
  private readonly canaryWords = new Uint32Array((CANARY_PAGES * PAGE_SIZE) / 4);
  private round = 0;
  /** Finds its canary dwords in another guest's read-out (`scanout.ts`). */
  readonly scanner: CanaryScanner;

  constructor(g: TestGuest, seed: number) {
    this.g = g;
    this.seed = seed;
    this.ppgttBuf = g.ppgttBuffer(PAGE_SIZE);
    this.ggttBuf = g.buffer(PAGE_SIZE);
    this.bcsBuf = g.ppgttBuffer(PAGE_SIZE);
    this.canary = g.buffer(CANARY_PAGES * PAGE_SIZE);
    const words: number[] = [];
    for (let i = 0; i < (CANARY_PAGES * PAGE_SIZE) / 4; i++) {
      this.canaryWords[i] = this.canaryWord(i);
      words.push(this.canaryWord(i));
    }
    g.driver.writeRam32(this.canary.gpa, words);
    this.scanner = new CanaryScanner(this.canaryWords);
    this.display = Uint32Array.from(VICTIM_DISPLAY_OFFSETS, (o) => g.vgpu.display.regs.peek(o));
  }

  /** `n` dwords of the guest's RAM from `gpa`, as `memory.read32` reads them one by one. */
  private readWords(gpa: number, n: number): Uint32Array {
    const bytes = this.g.memory.read(gpa, 4 * n);
    return new Uint32Array(bytes.buffer, bytes.byteOffset, n);
  }

  private canaryWord(i: number): number {
    return mix32(this.seed ^ 0xca1a, i);
  }

  /** Count a finished workload of this guest. */
  onDone(w: Workload): void {
    if (w.status === 'completed') this.completed++;
    else this.failures.push(`${w.engine.name} workload ${w.seq}: ${w.failure?.rule}: ${w.failure?.message}`);
  }

  /** Submit one round of real work (1 to 3 workloads). */
  work(): void {
    const n = this.round++;
    const slot = n % SLOTS;
    const a = (mix32(this.seed, n) | 1) >>> 0, b = (mix32(this.seed ^ 0x5a5a, n) | 1) >>> 0;
    const g = this.g;
    if (n % 8 === 7) {
      // A PPGTT batch (the auditor follows it, the device walks the shadow PPGTT).
      g.submitBatch('rcs', miStoreDataImm(this.ppgttBuf.gma + 4 * slot, [a]));
      this.submitted++;
      g.submit('rcs', miStoreDataImm(this.ggttBuf.gma + 4 * slot, [b], { ggtt: true }));
    } else {
      g.submit('rcs', [...miStoreDataImm(this.ppgttBuf.gma + 4 * slot, [a]), ...miStoreDataImm(this.ggttBuf.gma + 4 * slot, [b], { ggtt: true })]);
    }
    this.submitted++;
    this.expected.ppgtt[slot] = a;
    this.expected.ggtt[slot] = b;
    if (n % 4 === 1) {
      const c = (mix32(this.seed ^ 0xb1b1, n) | 1) >>> 0;
      g.submit('bcs', miStoreDataImm(this.bcsBuf.gma + 4 * slot, [c]));
      this.expected.bcs[slot] = c;
      this.submitted++;
    }
  }

  /**
   * Check the victim after the world settled: state, failures, results, canaries, queue. Appends
   * to `out`; returns false when something is wrong.
   */
  verify(out: Violation[], pending: number): boolean {
    const before = out.length;
    const g = this.g;
    const name = g.name;
    if (g.vgpu.state !== 'active') out.push({ invariant: INVARIANTS.VICTIM_STATE, message: `${name} is ${g.vgpu.state}: ${g.vgpu.failsafeReason}` });
    for (const f of this.failures.splice(0)) out.push({ invariant: INVARIANTS.VICTIM_RESULT, message: `${name}: ${f}` });
    if (pending > 0) out.push({ invariant: INVARIANTS.LIVENESS, message: `${name} still has ${pending} workloads queued or running` });
    // Every dword of the result buffers and canary pages, read in one copy per buffer.
    const cmp = (what: string, buf: GuestBuffer, exp: Uint32Array): void => {
      const words = this.readWords(buf.gpa, SLOTS);
      for (let i = 0; i < SLOTS; i++) {
        const got = words[i];
        if (got !== exp[i]) {
          const inv = exp[i] === 0 ? INVARIANTS.VICTIM_MEMORY : INVARIANTS.VICTIM_RESULT;
          out.push({ invariant: inv, message: `${name} ${what} slot ${i}: 0x${got.toString(16)}, expected 0x${exp[i].toString(16)}` });
          return;
        }
      }
    };
    cmp('PPGTT result', this.ppgttBuf, this.expected.ppgtt);
    cmp('GGTT result', this.ggttBuf, this.expected.ggtt);
    cmp('BCS result', this.bcsBuf, this.expected.bcs);
    // The victim never touches its display: a flip of someone else's must not reach it.
    const regs = g.vgpu.display.regs;
    for (let k = 0; k < VICTIM_DISPLAY_OFFSETS.length; k++) {
      const o = VICTIM_DISPLAY_OFFSETS[k];
      if (regs.peek(o) !== this.display[k]) {
        out.push({ invariant: INVARIANTS.VICTIM_DISPLAY, message: `${name} display register 0x${o.toString(16)} is 0x${regs.peek(o).toString(16)}, was 0x${this.display[k].toString(16)}` });
        break;
      }
    }
    const flips = g.vgpu.display.vblank?.counters.flips ?? 0;
    if (flips !== 0) out.push({ invariant: INVARIANTS.VICTIM_DISPLAY, message: `${name}'s display counted ${flips} flips` });
    const canary = this.readWords(this.canary.gpa, this.canaryWords.length);
    for (let i = 0; i < canary.length; i++) {
      const got = canary[i];
      if (got !== this.canaryWords[i]) {
        out.push({ invariant: INVARIANTS.VICTIM_MEMORY, message: `${name} canary dword ${i} is 0x${got.toString(16)}` });
        break;
      }
    }
    return out.length === before;
  }
}

/**
 * The display registers of a vGPU a flip may change (GVT-g `gen8_update_plane_mmio_from_mi_display_flip`,
 * `pri_surf_mmio_write`): PLANE_CTL, PLANE_STRIDE, PLANE_SURF and PLANE_SURFLIVE of planes 1..3,
 * PIPE_FLIPCOUNT and the DE pipe IIR of pipes A..C.
 */
const VICTIM_DISPLAY_OFFSETS: readonly number[] = ((): number[] => {
  const out: number[] = [];
  for (let pipe = 0; pipe < 3; pipe++) {
    for (let plane = 0; plane < 3; plane++) {
      const ctl = planeCtl(pipe, plane);
      out.push(ctl, ctl + 0x08, VREG.planeSurf(pipe, plane), VREG.planeSurfLive(pipe, plane));
    }
    out.push(VREG.flipcount(pipe), VREG.dePipeIir(pipe));
  }
  return out;
})();

/** A device, a mediator, attackers and a victim, with the isolation checker installed. */
export class FuzzWorld {
  readonly h: Harness;
  readonly monitor: DeviceMonitor;
  readonly opts: Required<Pick<WorldOptions, 'seed' | 'guestRamMiB' | 'attackerType' | 'victimType' | 'attackerPpgtt'>>;
  readonly victim: Victim | null;
  /** The attackers (index 0 is `attacker`). Replaced entries are new guests. */
  readonly attackers: TestGuest[] = [];
  /** Host frames allocated before any vGPU existed. */
  readonly baseFrames: number;
  /** Last finished workload per vGPU id and engine id. */
  private readonly lastDone = new Map<number, Workload>();
  private attackerCount = 0;
  private readonly ppgttEvery: number;
  private checks = 0;
  /** The scheduler, when the world runs one (`WorldOptions.scheduler`). */
  readonly scheduler: VgpuScheduler | null;
  /** The oracles of `oracles/` (null when the world runs without them). */
  readonly oracles: WorldOracles | null;
  /** Shared host resources are scarce on purpose (`WorldOptions.scarce`, `SCARCE_WORLD`). */
  readonly scarce: boolean;
  /** Which guests run untrapped (`WorldOptions.untrapped`). */
  readonly untrapped: UntrappedGuests;
  /** Guests created so far (the victim first): `'alternate'` counts them. */
  private guestsMade = 0;

  constructor(opts: WorldOptions = {}) {
    this.opts = {
      seed: opts.seed ?? 1,
      guestRamMiB: opts.guestRamMiB ?? 16,
      attackerType: opts.attackerType ?? 'GVTg_V5_8',
      victimType: opts.victimType ?? 'GVTg_V5_8',
      attackerPpgtt: opts.attackerPpgtt ?? true,
    };
    this.h = new Harness({
      device: { hostMemorySize: (opts.hostMemoryMiB ?? 512) * MiB, traceLimit: 0, ...opts.device },
      mediator: { failsafe: opts.failsafe ?? 'gvt-g', parser: opts.parser, outOfSync: opts.outOfSync, historyLimit: 256, ...opts.mediator },
    });
    this.monitor = new DeviceMonitor(this.h);
    this.scarce = opts.scarce === true;
    this.untrapped = opts.untrapped ?? 'none';
    this.ppgttEvery = Math.max(1, opts.ppgttCheckEvery ?? 1);
    this.baseFrames = this.h.device.hostMemory.allocatedFrames;
    this.h.mediator.onWorkloadDone((w) => this.onDone(w));
    let victim: Victim | null = null;
    if (opts.victim !== false) {
      const g = this.h.addGuest({ type: this.opts.victimType, ramBytes: this.opts.guestRamMiB * MiB, name: 'victim', guestWrites: this.nextGuestWrites(true) });
      victim = new Victim(g, mix32(this.opts.seed, 0x71c7));
    }
    this.victim = victim;
    for (let i = 0; i < (opts.attackers ?? 1); i++) this.attackers.push(this.newAttacker());
    this.scheduler = opts.scheduler ? new VgpuScheduler(this.h.mediator, { trace: false, ...(opts.scheduler === true ? {} : opts.scheduler) }) : null;
    this.oracles = opts.oracles === undefined || opts.oracles === false ? null : new WorldOracles(this.h.mediator, victim?.g ?? null, mix32(this.opts.seed, 0x0ac1e), opts.oracles);
    // Everything above is set-up: start the checks from a clean slate.
    this.monitor.clearGgttWrites();
  }

  /** The first attacker. */
  get attacker(): TestGuest {
    return this.attackers[0];
  }

  /** Create a fresh attacker guest (detected and ballooned). */
  newAttacker(type = this.opts.attackerType): TestGuest {
    const name = `attacker${this.attackerCount++ || ''}`;
    const g = this.h.addGuest({ type, ramBytes: this.opts.guestRamMiB * MiB, name, ppgtt: this.opts.attackerPpgtt, guestWrites: this.nextGuestWrites(false) });
    this.extraGuests.push(g);
    return g;
  }

  /** How the next guest created stores to its RAM (see `WorldOptions.untrapped`). */
  private nextGuestWrites(victim: boolean): 'trapped' | 'untrapped' {
    const k = this.guestsMade++;
    const u = this.untrapped;
    const untrapped = u === 'all' || (u === 'attackers' && !victim) || (u === 'victim' && victim) || (u === 'alternate' && k % 2 === 1);
    return untrapped ? 'untrapped' : 'trapped';
  }

  private onDone(w: Workload): void {
    this.lastDone.set(w.vgpuId * 8 + w.engine.id, w);
    if (this.victim && w.vgpuId === this.victim.g.vgpu.id) this.victim.onDone(w);
  }

  /** The last finished workload of `g` on `engine`, if any. */
  lastWorkload(g: TestGuest, engine: EngineName): Workload | undefined {
    const e = GEN9_ENGINES.find((x) => x.name === engine)!;
    return this.lastDone.get(g.vgpu.id * 8 + e.id);
  }

  /**
   * Run simulated time until idle (at most `maxNs`, default 50 ms). With the work-bound oracle,
   * every `MID_RUN_SLICE_NS` of simulated time it looks at the workloads on the device and ends
   * one past its bound (see `oracles/work-bound.ts`); the events run are the same.
   */
  settle(maxNs = 50e6): boolean {
    const work = this.oracles?.work;
    const m = this.h.mediator;
    if (!work) return m.runUntilIdle(maxNs);
    const dev = this.h.device;
    const clock = dev.clock;
    const deadline = clock.now + maxNs;
    let look = clock.now + MID_RUN_SLICE_NS;
    while (m.pendingWorkloads > 0 || dev.busy || m['kickPending']) {
      const t = clock.nextTime();
      if (t === Infinity || t > deadline) break;
      if (t >= look) {
        work.midRun();
        look = t + MID_RUN_SLICE_NS;
        continue;
      }
      clock.step();
    }
    return m.pendingWorkloads === 0 && !dev.busy;
  }

  /** Live attackers (fuzzers may create more: `newAttacker`). */
  liveAttackers(): TestGuest[] {
    return [...new Set(this.attackers.concat(this.extraGuests))].filter((g) => g.vgpu.state !== 'destroyed');
  }

  /** Every guest `newAttacker` created (residue rounds may plant with any live one). */
  private readonly extraGuests: TestGuest[] = [];

  /**
   * The checks after a case (call after `settle`): device accesses, GGTT entries written, shadow
   * PPGTTs of the attackers (unless `ppgtt: false`), per-vGPU host frame bounds, and the victim.
   */
  check(opts: { ppgtt?: boolean } = {}): Violation[] {
    const m = this.h.mediator;
    const settled = m.pendingWorkloads === 0 && !this.h.device.busy;
    const pre: Violation[] = [];
    if (this.oracles && settled) this.oracles.beforeChecks(pre, this.liveAttackers(), () => this.settle());
    const out = this.monitor.takeViolations();
    out.push(...pre);
    this.monitor.checkGgttWrites(out);
    const ppgtt = opts.ppgtt !== false && this.checks++ % this.ppgttEvery === 0;
    for (const v of m.vgpus) {
      if (ppgtt && v !== this.victim?.g.vgpu) checkShadowPpgtt(v, out);
      const held = shadowFramesHeld(v);
      const bound = v.ept.frames + 64;
      if (held > bound) {
        out.push({ invariant: INVARIANTS.HOST_FRAMES_BOUND, message: `${v.name} holds ${held} host frames of shadow tables and scratch, beyond ${bound} (its ${v.ept.frames} RAM frames + 64)` });
      }
    }
    if (this.victim) this.victim.verify(out, m.pendingOf(this.victim.g.vgpu.id));
    if (this.victim && this.checks % SCANOUT_EVERY === 0) this.checkScanout(out);
    for (const msg of m.checkWorkloads()) out.push({ invariant: INVARIANTS.WORKLOAD_STATE, message: msg });
    this.oracles?.afterChecks(out, settled);
    return out;
  }

  /** Planes of the attackers read out by `checkScanout` so far (coverage: fuzzers reach planes that decode). */
  scanoutReads = 0;

  /**
   * The scan-out check (`INVARIANTS.SCANOUT_LEAK`): read out every plane of every live attacker
   * that decodes (pipe and plane enabled, an 8:8:8:8 surface inside its slices) and look for the
   * victim's canary dwords in its pixels. Planes that do not decode cost a few register reads.
   */
  checkScanout(out: Violation[]): void {
    const victim = this.victim;
    if (!victim) return;
    for (const g of this.liveAttackers()) {
      if (g.vgpu.state === 'destroyed') continue;
      const { leaks, read } = scanForCanaries(g.vgpu, victim.scanner);
      this.scanoutReads += read;
      for (const l of leaks) {
        out.push({ invariant: INVARIANTS.SCANOUT_LEAK, message: `${g.name}'s ${l.kind} plane of pipe ${l.pipe} (surface 0x${l.gma.toString(16)}) shows ${l.hits} pairs of ${victim.g.name}'s canary dwords` });
      }
    }
  }

  /** Everything: `check()` plus a full scan of the host GGTT and of the victim's shadow PPGTT. */
  checkFull(): Violation[] {
    const out = this.check();
    checkGgttFull(this.h.mediator, out);
    if (this.victim) checkShadowPpgtt(this.victim.g.vgpu, out);
    return out;
  }

  /**
   * Destroy every vGPU and check that host frames, shadow pages and host GGTT entries returned to
   * their baseline (no leak). The world is unusable afterwards.
   */
  teardown(): Violation[] {
    const out = this.monitor.takeViolations();
    const m = this.h.mediator;
    for (const v of m.vgpus) checkShadowPpgtt(v, out);
    // A guest's random PIPECONF writes may have started a vblank timer: destroy must cancel it.
    const timers = m.vgpus.map((v) => [v.name, v.display.vblank] as const);
    for (const v of m.vgpus) v.destroy();
    for (const [name, vb] of timers) {
      if (vb?.running) out.push({ invariant: INVARIANTS.LEAK, message: `${name}'s vblank timer still on the clock after destroy` });
    }
    this.h.runUntilIdle(50e6);
    out.push(...this.monitor.takeViolations());
    const host = this.h.device.hostMemory;
    if (host.allocatedFrames !== this.baseFrames) {
      out.push({ invariant: INVARIANTS.LEAK, message: `${host.allocatedFrames - this.baseFrames} host frames still allocated after every vGPU was destroyed` });
    }
    if (m.hostGm.pagesInUse !== 0) out.push({ invariant: INVARIANTS.LEAK, message: `${m.hostGm.pagesInUse} mediator shadow pages still in use after every vGPU was destroyed` });
    checkGgttFull(m, out);
    return out;
  }

  /** Host register storage now (compare with `hostRegisterChanges`); reuses one buffer. */
  snapshotHostRegisters(): Uint32Array {
    const regs = this.h.device.regs.regs;
    if (this.regSnap === null) this.regSnap = new Uint32Array(regs.length);
    this.regSnap.set(regs);
    return this.regSnap;
  }

  private regSnap: Uint32Array | null = null;

  /**
   * Host register dwords that differ from `snap`, except the fences of `mayChange` vGPUs (a
   * guest's fence writes reach its own host fences by design). Call while the device is idle.
   */
  hostRegisterChanges(snap: Uint32Array, mayChange: readonly Vgpu[]): Violation[] {
    const regs = this.h.device.regs.regs;
    const out: Violation[] = [];
    // Fast path: one native comparison of the 2 MiB (memcmp).
    if (Buffer.from(regs.buffer, regs.byteOffset, regs.byteLength).equals(Buffer.from(snap.buffer, snap.byteOffset, snap.byteLength))) return out;
    const allowed = new Set<number>();
    for (const v of mayChange) for (const f of v.slices.fences) {
      allowed.add(fenceReg(f) >>> 2);
      allowed.add((fenceReg(f) >>> 2) + 1);
    }
    for (let i = 0; i < regs.length; i++) {
      if (regs[i] !== snap[i] && !allowed.has(i)) {
        out.push({ invariant: INVARIANTS.HOST_REGISTER, message: `host register 0x${(i * 4).toString(16)} changed from 0x${snap[i].toString(16)} to 0x${regs[i].toString(16)}` });
        if (out.length >= 4) break;
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- guest-side recovery

  /**
   * The guest side of a device-model-level reset: reset the vGPU, then redo what i915 does at
   * load: detect, enable interrupts, rewrite every GGTT mapping it had, re-enable execlists and
   * the status page of every engine it used, and restart its rings empty.
   */
  revive(g: TestGuest): void {
    const v = g.vgpu;
    v.reset();
    const d = g.driver;
    d.detect();
    d.enableInterrupts();
    const map = d['gttMap'] as Map<number, number>;
    for (const [gma, gpa] of map) d.writePte(gma / PAGE_SIZE, pteLo(gpa / PAGE_SIZE, PTE_PRESENT), pteHi(gpa / PAGE_SIZE));
    for (const e of engineMap(g).values()) this.restartEngine(g, e, 0);
    log('%s revived', g.name);
  }

  /**
   * The guest side of an engine hang or a refused workload, as i915 does: reset the engine
   * (`resetEngine` when `reset`), re-enable it, and skip what was in the ring (head = tail).
   */
  recoverEngine(g: TestGuest, name: EngineName, reset: boolean): void {
    const e = engineMap(g).get(name);
    if (!e) return;
    if (reset) g.vgpu.resetEngine(e.engine.id);
    this.restartEngine(g, e, e.tail);
  }

  private restartEngine(g: TestGuest, e: GuestEngine, at: number): void {
    const bus = g.driver.bus;
    bus.mmioWrite(e.engine.mmioBase + RING.GFX_MODE, 4, (Bits.GFX_RUN_LIST_ENABLE << 16) | Bits.GFX_RUN_LIST_ENABLE);
    if (e.hwsp) bus.mmioWrite(e.engine.mmioBase + RING.HWS_PGA, 4, e.hwsp.gma);
    const view = e.view();
    writeContextValue(view, e.context.gma, CtxReg.RING_HEAD, at);
    writeContextValue(view, e.context.gma, CtxReg.RING_TAIL, at);
    e.tail = at;
    e.deferred = false;
  }

  /**
   * Make `g` usable for the next case: revive it when its vGPU is in failsafe, and skip the ring
   * of every engine whose last workload failed (resetting the engine one time in two).
   */
  heal(g: TestGuest, flip = false): void {
    if (g.vgpu.state === 'failsafe') {
      this.revive(g);
      return;
    }
    for (const [name, e] of engineMap(g)) {
      const w = this.lastDone.get(g.vgpu.id * 8 + e.engine.id);
      if ((w && w.status === 'failed') || e.busy) this.recoverEngine(g, name, flip);
    }
    g.interrupts.length = 0;
  }
}

/** The engines a harness guest created (private map of `TestGuest`). */
export function engineMap(g: TestGuest): Map<EngineName, GuestEngine> {
  return g['engines'] as Map<EngineName, GuestEngine>;
}
