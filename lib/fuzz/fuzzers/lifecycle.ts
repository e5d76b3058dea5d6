/**
 * Lifecycle fuzzer: interleavings of create, destroy (with work in flight), device-model reset,
 * engine reset, failsafe, good and refused submissions on several engines, and partial runs of
 * simulated time, across several vGPUs next to the victim.
 *
 * Lifecycle x time: `during` submits a long workload (a PPGTT batch of hundreds of stores, with or
 * without MI_ARB_CHECKs, or one that sets STOP_RING in RING_MI_MODE half-way), runs simulated time
 * only partly (`Mediator.run`), then, while that work is on the device, resets the vGPU, puts it
 * in failsafe, destroys it, tears its PPGTT down through PVINFO (g2v L4 destroy), preempts its
 * engine, or resets its engine. Every other world runs the time-slice scheduler (`VgpuScheduler`:
 * switches, slice-end preemption, watchdog), the others first come, first served. `flood` makes
 * every attacker submit long work on every engine at once (the starvation oracle then watches the
 * victim); `stale` calls the host API of a vGPU destroyed earlier (only typed errors or nothing,
 * and no host state changes).
 *
 * Every third world runs every other guest untrapped (`WorldOptions.untrapped: 'alternate'`: its
 * driver stores to RAM directly, the shadow PPGTT resyncs at each submission); there `pt-at` also
 * checks the planted page against guest memory when each of its workloads is dispatched (right
 * after the submission's sync), and against the page's last synced contents after the case.
 *
 * Its own oracle: a guest that was neither disturbed (reset, engine reset, failsafe) nor refused
 * since the last check must have every workload completed and every value in place; the world's
 * teardown checks that every host frame and shadow page came back.
 */
import type { Rng } from '../../clock.js';
import { miArbCheck, miBatchBufferEnd, miBatchBufferStart, miFlushDw, miLoadRegisterImm, miNoop, miStoreDataImm, pipeControl, PostSyncOp } from '../../device/commands/index.js';
import { HWS_CSB_BUF0_INDEX } from '../../device/lrc.js';
import { PTE_PRESENT, PTE_RW } from '../../gtt/pte.js';
import { Bits, RING } from '../../device/registers.js';
import { GvtError } from '../../errors.js';
import type { EngineName } from '../../device/engines.js';
import type { TestGuest } from '../../harness/index.js';
import type { Vgpu } from '../../mediator/vgpu.js';
import type { GuestBuffer } from '../../guest/engine.js';
import { PAGE_SIZE } from '../../types.js';
import { hx, pick, type Fuzzer } from '../fuzzer.js';
import { INVARIANTS, type Violation } from '../monitor.js';
import { SCARCE_WORLD, engineMap, mix32, type FuzzWorld } from '../world.js';
import { checkShadowAgrees } from '../oracles/shadow-sync.js';
import { tablePath } from '../attacks/ppgtt.js';

/** One operation. `slot` indexes the live fuzzed guests (modulo their count). */
export type LifecycleOp =
  | { readonly k: 'create'; readonly type: string }
  | { readonly k: 'destroy' | 'reset' | 'failsafe'; readonly slot: number }
  | { readonly k: 'reset-engine'; readonly slot: number; readonly engine: EngineName }
  | { readonly k: 'good'; readonly slot: number; readonly engine: EngineName; readonly n: number }
  | { readonly k: 'bad'; readonly slot: number; readonly engine: EngineName; readonly kind: 'unknown' | 'privileged' | 'foreign' }
  | { readonly k: 'run'; readonly ns: number }
  | { readonly k: 'during'; readonly slot: number; readonly engine: EngineName; readonly work: LongWork; readonly stores: number; readonly ns: number; readonly act: DuringAct }
  | { readonly k: 'flood'; readonly stores: number }
  | { readonly k: 'stale'; readonly call: StaleCall }
  | { readonly k: 'hoard'; readonly holders: number; readonly tables: number; readonly queued: number; readonly stores: number; readonly ns: number }
  | { readonly k: 'pt-at'; readonly slot: number; readonly engine: EngineName; readonly page: MediatorPage; readonly level: 1 | 2 | 3; readonly seed: number; readonly rounds: number };

/**
 * A page of guest RAM the mediator itself writes (issue 13, class 9): the engine's status page
 * (the CSB mirror, `execlist.ts`), page 0 of the context image (the per-process status page the
 * device's store-data-index writes are merged into at completion) or page 1 (the ring state: the
 * ring-head write-back).
 */
export type MediatorPage = 'hwsp' | 'pphwsp' | 'ring-state';
const MEDIATOR_PAGES: readonly MediatorPage[] = ['hwsp', 'hwsp', 'pphwsp', 'pphwsp', 'ring-state'];
/** Percent of the cases of a scarce world (`SCARCE_WORLD`) given a `hoard` op. */
const HOARD_PERCENT = 35;
/** Page-table pages one guest adds to its PPGTT by `hoard` ops in a world, at most (below its shadow PPGTT quota of 1024 pages). */
const HOARD_TABLES_MAX = 1000;
/** PML4 slot of the addresses `hoard` maps its page tables at (one PT per 2 MiB). */
const HOARD_PML4 = 300;
/** Percent of cases given a `pt-at` op (besides the ops drawn), so that every campaign meets it often. */
const PT_AT_PERCENT = 15;

/** The long workload of `during`: stores, stores with MI_ARB_CHECK between (preemptible), or STOP_RING half-way. */
export type LongWork = 'stores' | 'arb' | 'stop-ring';
/** What `during` does while the long workload is on the device. */
export type DuringAct = 'nothing' | 'reset' | 'failsafe' | 'destroy' | 'g2v-destroy' | 'preempt' | 'reset-engine';
/** A host-API call on a destroyed vGPU. */
export type StaleCall = 'mmio-read' | 'mmio-write' | 'elsp' | 'reset' | 'reset-engine' | 'failsafe' | 'destroy' | 'aperture' | 'pci' | 'g2v';
const STALE_CALLS: readonly StaleCall[] = ['mmio-read', 'mmio-write', 'elsp', 'reset', 'reset-engine', 'failsafe', 'destroy', 'aperture', 'pci', 'g2v'];
const DURING_ACTS: readonly DuringAct[] = ['nothing', 'reset', 'failsafe', 'destroy', 'g2v-destroy', 'preempt', 'preempt', 'reset-engine'];

interface Tracked {
  readonly g: TestGuest;
  readonly buf: GuestBuffer;
  next: number;
  /**
   * Values its good workloads must leave: [gpa, value, engine]. Stores of one engine land in
   * submission order; stores of two engines to one slot (the 4096 slots wrap) are unordered.
   */
  readonly outstanding: [number, number, EngineName][];
  /** Reset, engine-reset, failsafe or refused since the last check: its losses are its own. */
  disturbed: boolean;
  failures: string[];
  /**
   * Its batch buffers for long workloads, `LONG_BATCHES` per engine used in turn (a turn per
   * engine): a batch is copied when its workload is dispatched, so one still waiting must not be
   * overwritten.
   */
  readonly batches: Map<EngineName, GuestBuffer[]>;
  readonly batchTurn: Map<EngineName, number>;
  /** Zeroed pages `pt-at` points level 2-3 entries at (child tables; allocated on first use). */
  spare: number[];
  /** Page-table pages `hoard` added to its PPGTT (one per 2 MiB mapped). */
  hoarded: number;
  /** The entry `pt-at` last linked a mediator-written page with ([level of the entry, va]), undone before the next. */
  link: [1 | 2 | 3 | 4, number] | null;
}

/** What the `pt-at` and `hoard` ops did in a world (for tests and reports). */
export interface LifecycleStats {
  /** `pt-at` ops run and shadow entries they compared. */
  ptAt: number;
  compared: number;
  /** `hoard` ops run; most shadow pool pages and host frames in use seen right after one's submissions ran a while. */
  hoards: number;
  peakPoolPages: number;
  peakHostFrames: number;
  /** Page-table pages the hoarders added. */
  hoardTables: number;
}

/** A page `pt-at` made a page table, checked again after the case settled. */
interface Planted {
  readonly t: Tracked;
  readonly gpa: number;
}

interface LifecycleState {
  /** Guests destroyed in this world (the last few), for `stale`. */
  readonly dead: TestGuest[];
  readonly guests: Tracked[];
  readonly byId: Map<number, Tracked>;
  created: number;
  /** Pages `pt-at` planted in the current case. */
  readonly planted: Planted[];
  /** Counters for tests: `pt-at` ops run, shadow entries compared. */
  readonly stats: LifecycleStats;
  /**
   * An untrapped guest's page `pt-at` planted, checked against guest memory when that guest's
   * workloads are dispatched (set while its rounds run).
   */
  watch: { readonly v: Vgpu; readonly pages: readonly number[]; readonly out: Violation[] } | null;
}

const MAX_GUESTS = 4;
/** Bytes of a tracked guest's long-workload batch (stores of 4 dwords, arbitration checks, the end). */
const LONG_BATCH_BYTES = 32 * 1024;
/**
 * Long-workload batches per engine and guest: more than one case's long workloads on one engine
 * (at most one per op, `MAX_OPS`), so a batch is not reused while its workload may still wait.
 */
const LONG_BATCHES = 12;
/** Most ops of one case (`generate`). */
const MAX_OPS = 10;
const MAX_LONG_STORES = 1500;
const ENGINES: readonly EngineName[] = ['rcs', 'bcs', 'vcs'];

function track(st: LifecycleState, g: TestGuest): void {
  for (const e of ENGINES) g.engine(e);
  const t: Tracked = { g, buf: g.ppgttBuffer(4 * PAGE_SIZE), next: 0, outstanding: [], disturbed: false, failures: [], batches: new Map(), batchTurn: new Map(), spare: [], link: null, hoarded: 0 };
  st.guests.push(t);
  st.byId.set(g.vgpu.id, t);
  st.created++;
}

/** Destroy a tracked guest (it joins the dead, for `stale`). */
function kill(st: LifecycleState, t: Tracked): void {
  t.g.vgpu.destroy();
  st.byId.delete(t.g.vgpu.id);
  st.guests.splice(st.guests.indexOf(t), 1);
  st.dead.push(t.g);
  if (st.dead.length > 4) st.dead.shift();
}

/**
 * Submit a long workload: a PPGTT batch of `n` stores into the guest's buffer (values recorded as
 * outstanding), with MI_ARB_CHECK between them (`arb`), or with an LRI setting STOP_RING in the
 * engine's RING_MI_MODE half-way (`stop-ring`).
 */
function longWork(t: Tracked, engine: EngineName, work: LongWork, n: number): void {
  const batch = longBatch(t, engine, work, n);
  t.g.submit(engine, [...miBatchBufferStart(batch.gma, { ppgtt: true }), ...miNoop()]);
}

/** Write the batch of a long workload (see `longWork`) into the guest's next batch buffer of `engine`. */
function longBatch(t: Tracked, engine: EngineName, work: LongWork, n: number): GuestBuffer {
  const g = t.g;
  const e = g.engine(engine);
  const cmds: number[] = [];
  const count = Math.min(n, MAX_LONG_STORES);
  for (let i = 0; i < count; i++) {
    const slot = t.next++ % 4096;
    const value = (mix32(g.vgpu.id, t.next) | 1) >>> 0;
    cmds.push(...miStoreDataImm(t.buf.gma + 4 * slot, [value]));
    t.outstanding.push([t.buf.gpa + 4 * slot, value, engine]);
    if (work === 'arb') cmds.push(...miArbCheck());
    if (work === 'stop-ring' && i === count >> 1) cmds.push(...miLoadRegisterImm([[e.engine.mmioBase + RING.MI_MODE, ((Bits.STOP_RING << 16) | Bits.STOP_RING) >>> 0]]));
  }
  cmds.push(...miBatchBufferEnd());
  let list = t.batches.get(engine);
  if (!list) {
    list = [];
    t.batches.set(engine, list);
  }
  const turn = t.batchTurn.get(engine) ?? 0;
  t.batchTurn.set(engine, turn + 1);
  const k = turn % LONG_BATCHES;
  while (list.length <= k) list.push(g.ppgttBuffer(LONG_BATCH_BYTES));
  const batch = list[k];
  g.driver.writeRam32(batch.gpa, cmds);
  return batch;
}

/** Shadow page tables compared by `pt-at` (each level's entries map 4 KiB, 2 MiB, 1 GiB). */
const SPAN = [0, 2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39];
/** Region of PPGTT addresses `pt-at` links its tables at: PML4 slot 200 + level (far above the guest's buffers). */
const PT_AT_PML4 = 200;

/**
 * `pt-at`: make a page the mediator writes into (see `MediatorPage`) a page table of the guest's
 * live PPGTT at `level` (1 a PT, 2 a PD, 3 a PDP), then submit work on `engine` so that the
 * mediator writes there: any workload (CSB mirror, ring head), or, for the per-process status
 * page, store-data-index post-syncs (PIPE_CONTROL on the render engine, MI_FLUSH_DW elsewhere)
 * whose values the mediator merges into the page at completion. Before linking, the entries the
 * mediator will overwrite are seeded with present entries (leaves at the guest's own data pages,
 * tables at zeroed spare pages), so its stores change live translations. Then the shadow of that
 * page must agree with the guest's entries (`checkShadowAgrees`).
 */
function ptAt(world: FuzzWorld, st: LifecycleState, t: Tracked, op: Extract<LifecycleOp, { k: 'pt-at' }>, out: Violation[]): void {
  const g = t.g;
  const v = g.vgpu;
  if (!g.ppgtt || v.state !== 'active') return;
  const e = g.engine(op.engine);
  const gpa = op.page === 'hwsp' ? (e.hwsp ? g.gpaOf(e.hwsp.gma) : -1) : g.gpaOf(e.context.gma + (op.page === 'ring-state' ? PAGE_SIZE : 0));
  if (!(gpa >= 0)) return;
  st.stats.ptAt++;
  // An untrapped guest's shadow is as of each workload's submission: its earlier work, submitted
  // before the page is planted, would be dispatched with the page not yet re-read (by design), so
  // the dispatch-time check below starts from an idle guest.
  if (v.guestWrites === 'untrapped') world.settle();
  while (t.spare.length < 4) {
    const p = g.driver.allocRam(1);
    g.driver.writeRam(p, new Uint8Array(PAGE_SIZE));
    t.spare.push(p);
  }
  // An entry value for the planted page: a leaf at one of the guest's data pages, a table at a
  // spare page, or (one in four) not present.
  const entry = (k: number): [number, number] => {
    const r = mix32(op.seed, k);
    if ((r & 3) === 0) return [(r & ~0xfff & ~PTE_PRESENT) >>> 0, 0];
    const frame = op.level === 1 ? t.buf.gpa / PAGE_SIZE + ((r >>> 4) & 3) : t.spare[(r >>> 4) & 3] / PAGE_SIZE;
    return [((frame << 12) | PTE_PRESENT | PTE_RW) >>> 0, 0];
  };
  // The entries the mediator overwrites: the CSB mirror (status page dwords 0x10-0x1b: entries
  // 8-13), the store-data-index slots of the per-process page (entries 16-47, drawn below).
  const sdi: number[] = [];
  if (op.page === 'hwsp') {
    for (let k = HWS_CSB_BUF0_INDEX / 2; k < HWS_CSB_BUF0_INDEX / 2 + 6; k++) g.driver.writeRam32(gpa + 8 * k, entry(k));
    t.disturbed = true; // its driver's CSB entries were overwritten
  } else if (op.page === 'pphwsp') {
    for (let j = 0; j < 1 + (op.seed & 3); j++) sdi.push(16 + (mix32(op.seed, 100 + j) & 31));
    for (const k of sdi) g.driver.writeRam32(gpa + 8 * k, entry(k));
  }
  // Link it (undo the last link first: one guest page is a table at one level only).
  if (t.link) g.ppgtt.writeRaw(t.link[0], t.link[1], 0, 0);
  const va = (PT_AT_PML4 + op.level) * SPAN[4];
  g.ppgtt.writeRaw((op.level + 1) as 2 | 3 | 4, va, ((gpa & ~0xfff) | PTE_PRESENT | PTE_RW) >>> 0, 0);
  t.link = [(op.level + 1) as 2 | 3 | 4, va];
  // Untrapped: the planted page and the tables on the walk to it, from the PML4 (a resync that
  // missed the link would leave the page unshadowed, with nothing of it to compare).
  if (v.guestWrites === 'untrapped') st.watch = { v, pages: [gpa, ...tablePath(g, va).slice(0, 4 - op.level)], out };
  for (let r = 0; r < op.rounds; r++) {
    const slot = t.next++ % 4096;
    const value = (mix32(v.id, t.next) | 1) >>> 0;
    const cmds = miStoreDataImm(t.buf.gma + 4 * slot, [value]);
    t.outstanding.push([t.buf.gpa + 4 * slot, value, op.engine]);
    for (const k of sdi) {
      const [lo, hi] = entry(k + 1000 * (r + 1));
      if (op.engine === 'rcs') {
        const pc = pipeControl({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: 8 * k, data: lo, dataHigh: hi, commandStreamerStall: true });
        pc[1] = (pc[1] | (1 << 21)) >>> 0; // Store Data Index: the address is an offset in the per-process status page
        cmds.push(...pc);
      } else {
        cmds.push(...miFlushDw({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, storeDataIndex: true, address: 8 * k, data: lo, dataHigh: hi }));
      }
    }
    g.submit(op.engine, cmds);
    world.settle();
  }
  st.watch = null;
  st.stats.compared += checkShadowAgrees(v, gpa, out);
  st.planted.push({ t, gpa });
}

/**
 * `hoard` (issue 13, class 8): `holders` attackers together hold as much of the shared host
 * resources as they can: each adds `tables` page-table pages to its live PPGTT (one PT per 2 MiB
 * mapped: host frames for their shadows, up to `HOARD_TABLES_MAX` in a world) and queues `queued`
 * long PPGTT batches on every engine (ring and batch shadows in the mediator's shadow pool, long
 * work on every engine); the victim meanwhile submits its ordinary work (two rounds). Simulated
 * time then runs `ns` and the peaks are sampled. The hoarders' own losses are theirs (disturbed);
 * the starvation oracle watches the victim.
 */
function hoard(world: FuzzWorld, st: LifecycleState, holders: readonly Tracked[], op: Extract<LifecycleOp, { k: 'hoard' }>): void {
  st.stats.hoards++;
  const m = world.h.mediator;
  const host = world.h.device.hostMemory;
  const sample = (): void => {
    st.stats.peakPoolPages = Math.max(st.stats.peakPoolPages, m.hostGm.pagesInUse);
    st.stats.peakHostFrames = Math.max(st.stats.peakHostFrames, host.allocatedFrames);
  };
  // Without a scheduler, a hoarder's work is parked the way a time-slice scheduler parks it: the
  // vGPU descheduled and its engines preempted, so its preempted workloads keep their shadows
  // while queued (with the scheduler, slice ends do the same).
  const park = world.scheduler === null;
  const parked: Tracked[] = [];
  for (const t of holders) {
    const g = t.g;
    if (!g.ppgtt) continue;
    for (let i = 0; i < op.tables && t.hoarded < HOARD_TABLES_MAX; i++, t.hoarded++) {
      g.ppgtt.map(HOARD_PML4 * SPAN[4] + t.hoarded * SPAN[2], t.buf.gpa, 1);
      st.stats.hoardTables++;
    }
    // One workload per engine that starts `queued` long batches: its shadows take up to
    // `queued` x 8 pages of batch besides its ring and context.
    for (const e of ENGINES) {
      const cmds: number[] = [];
      for (let q = 0; q < op.queued; q++) cmds.push(...miBatchBufferStart(longBatch(t, e, 'arb', op.stores).gma, { ppgtt: true }), ...miNoop());
      g.submit(e, cmds);
    }
    t.disturbed = true;
    if (park) {
      // Until its work is on the engines (the audit takes simulated time), at most 2 ms.
      const ids = ENGINES.map((e) => g.engine(e).engine.id);
      const running = (): number => ids.filter((id) => m.inflightOn(id)?.vgpuId === g.vgpu.id).length;
      for (let k = 0; k < 200 && m.pendingOf(g.vgpu.id) > running(); k++) world.h.run(10000);
      sample();
      g.vgpu.deactivate();
      parked.push(t);
      for (const id of ids) if (m.inflightOn(id)?.vgpuId === g.vgpu.id) m.preempt(id);
      for (let k = 0; k < 40 && running() > 0; k++) world.h.run(20000);
    }
    sample();
  }
  if (world.victim) {
    world.victim.work();
    world.victim.work();
  }
  world.h.run(op.ns);
  sample();
  for (const t of parked) if (t.g.vgpu.state !== 'destroyed') t.g.vgpu.activate();
}

/**
 * Call the host API of a destroyed vGPU: only a typed error (`GvtError`) or nothing may come
 * back, and nothing may change on the host (frames, shadow pool, pending work).
 */
function stale(world: FuzzWorld, g: TestGuest, call: StaleCall, out: Violation[]): void {
  const v = g.vgpu;
  const m = world.h.mediator;
  const frames = world.h.device.hostMemory.allocatedFrames, pages = m.hostGm.pagesInUse, pending = m.pendingWorkloads;
  try {
    switch (call) {
      case 'mmio-read': v.mmioRead(0x2034, 4); break;
      case 'mmio-write': v.mmioWrite(0x2030, 4, 0x40); break;
      case 'elsp': v.mmioWrite(0x2230, 4, 0); v.mmioWrite(0x2230, 4, 0); v.mmioWrite(0x2230, 4, 0); v.mmioWrite(0x2230, 4, 0x1019); break;
      case 'reset': v.reset(); break;
      case 'reset-engine': v.resetEngine(0); break;
      case 'failsafe': v.enterFailsafe('stale'); break;
      case 'destroy': v.destroy(); break;
      case 'aperture': v.apertureWrite(0, 4, 0x5ea1); break;
      case 'pci': v.pciConfigWrite(4, 2, 7); break;
      case 'g2v': v.mmioWrite(0x78818, 4, 4); break;
    }
  } catch (e) {
    if (!(e instanceof GvtError)) out.push({ invariant: INVARIANTS.ORACLE, message: `${call} on destroyed ${g.name} threw an untyped ${(e as Error)?.name}: ${(e as Error)?.message}` });
  }
  if (v.state !== 'destroyed') out.push({ invariant: INVARIANTS.ORACLE, message: `${call} on destroyed ${g.name} brought it back to '${v.state}'` });
  const df = world.h.device.hostMemory.allocatedFrames - frames, dp = m.hostGm.pagesInUse - pages, dw = m.pendingWorkloads - pending;
  if (df || dp || dw) out.push({ invariant: INVARIANTS.ORACLE, message: `${call} on destroyed ${g.name} changed the host: ${df} host frames, ${dp} shadow pages, ${dw} workloads` });
}

/** The lifecycle fuzzer. */
export const lifecycleFuzzer: Fuzzer<LifecycleOp, LifecycleState> = {
  name: 'lifecycle',
  description: 'create / destroy / reset / engine reset / failsafe / g2v destroy / preemption / submit interleavings across several vGPUs, with work on the device, with and without the scheduler',
  casesPerWorld: 40,
  victimEvery: 1,
  // Odd worlds run the time-slice scheduler; one in eight has scarce shared host resources (`SCARCE_WORLD`,
  // `hoard`), with and without the scheduler in turn; one in three runs every other guest untrapped.
  worldOptions: (seed, worldIndex) => ({
    seed: mix32(seed, worldIndex), failsafe: (['gvt-g', 'always', 'never'] as const)[worldIndex % 3], attackers: 2, scheduler: worldIndex % 2 === 1,
    untrapped: worldIndex % 3 === 1 ? 'alternate' : 'none',
    ...(worldIndex % 8 === (worldIndex % 16 < 8 ? 2 : 5) ? SCARCE_WORLD : {}),
  }),
  setup(world) {
    const st: LifecycleState = { dead: [], guests: [], byId: new Map(), created: 0, planted: [], stats: { ptAt: 0, compared: 0, hoards: 0, peakPoolPages: 0, peakHostFrames: 0, hoardTables: 0 }, watch: null };
    for (const g of world.attackers) track(st, g);
    // An untrapped guest's planted page, when its workload goes to the device: the submission's
    // sync must have re-read it (the device walks the shadow from here on).
    world.h.mediator.onWorkloadDispatch((w) => {
      const x = st.watch;
      // A preempted workload resumes with the shadow of its first dispatch (no second sync), as
      // it would have run on uninterrupted: only first dispatches are checked.
      if (x === null || w.vgpuId !== x.v.id || x.v.state === 'destroyed' || w.preemptions !== 0) return;
      const found: Violation[] = [];
      for (const p of x.pages) if (p >= 0) st.stats.compared += checkShadowAgrees(x.v, p, found, 4, 'guest', true);
      for (const f of found) x.out.push({ invariant: f.invariant, message: `at dispatch of workload ${w.seq}: ${f.message}` });
    });
    world.h.mediator.onWorkloadDone((w) => {
      const t = st.byId.get(w.vgpuId);
      if (!t || w.status !== 'failed') return;
      // Its own bounds (shadow quota, shadow pages, host frames beyond its reserve: a hoarder of a
      // scarce world) fail its work by design; that guest's losses are its own. (The victim's are
      // watched by the starvation oracle.)
      if (w.failure?.code === 'LIMIT' && (w.failure.rule === 'shadow-alloc' || w.failure.rule === 'shadow-quota')) t.disturbed = true;
      else t.failures.push(`${w.engine.name} workload ${w.seq}: ${w.failure?.rule}: ${w.failure?.message}`);
    });
    return st;
  },
  generate(rng: Rng, _st, world) {
    const ops: LifecycleOp[] = [];
    const n = 3 + rng.int(MAX_OPS - 2);
    for (let i = 0; i < n; i++) {
      const r = rng.int(100);
      const slot = rng.int(8);
      const engine = pick(rng, ENGINES);
      if (r < 6) ops.push({ k: 'create', type: pick(rng, ['GVTg_V5_8', 'GVTg_V5_8', 'GVTg_V5_4']) });
      else if (r < 12) ops.push({ k: 'destroy', slot });
      else if (r < 18) ops.push({ k: 'reset', slot });
      else if (r < 25) ops.push({ k: 'reset-engine', slot, engine });
      else if (r < 28) ops.push({ k: 'failsafe', slot });
      else if (r < 50) ops.push({ k: 'good', slot, engine, n: 1 + rng.int(4) });
      else if (r < 58) ops.push({ k: 'bad', slot, engine, kind: pick(rng, ['unknown', 'privileged', 'foreign'] as const) });
      else if (r < 80) {
        ops.push({
          k: 'during', slot, engine, work: pick(rng, ['stores', 'arb', 'arb', 'stop-ring'] as const), stores: 50 + rng.int(MAX_LONG_STORES - 50),
          ns: pick(rng, [500, 2000, 5000, 10000, 30000]) + rng.int(1000), act: pick(rng, DURING_ACTS),
        });
      } else if (r < 83) ops.push({ k: 'flood', stores: 100 + rng.int(900) });
      else if (r < 86) ops.push({ k: 'stale', call: pick(rng, STALE_CALLS) });
      else ops.push({ k: 'run', ns: pick(rng, [100, 1000, 5000, 20000, 200000]) + rng.int(1000) });
    }
    if (world.scarce && rng.int(100) < HOARD_PERCENT) {
      ops.splice(rng.int(ops.length + 1), 0, {
        k: 'hoard', holders: 2 + rng.int(3), tables: pick(rng, [8, 32, 128, 512]), queued: 1 + rng.int(4), stores: 200 + rng.int(MAX_LONG_STORES - 200),
        ns: pick(rng, [1000, 10000, 100000]) + rng.int(1000),
      });
    }
    if (rng.int(100) < PT_AT_PERCENT) {
      const at = rng.int(ops.length + 1);
      ops.splice(at, 0, { k: 'pt-at', slot: rng.int(8), engine: pick(rng, ENGINES), page: pick(rng, MEDIATOR_PAGES), level: (1 + rng.int(3)) as 1 | 2 | 3, seed: rng.nextU32(), rounds: 1 + rng.int(3) });
    }
    return ops;
  },
  execute(world, st, ops) {
    const out: Violation[] = [];
    for (const t of st.guests) {
      // Work left over from the last case (queued behind a wedged engine, or of a vGPU in
      // failsafe) is dropped by the recovery: its losses are not the oracle's concern.
      if (t.g.vgpu.state !== 'active' || world.h.mediator.pendingOf(t.g.vgpu.id) > 0) t.disturbed = true;
      // So is work the guest submitted after the last check (a submission it deferred while its
      // ports were busy goes out from a later interrupt): what it did, failures included, is of
      // the last case's work, checked (or excused) then.
      if (t.failures.length > 0) t.disturbed = true;
      for (const e of engineMap(t.g).values()) if (e.deferred) t.disturbed = true;
      world.heal(t.g, (t.next & 1) === 0);
    }
    const live = (): Tracked[] => st.guests.filter((t) => t.g.vgpu.state !== 'destroyed');
    for (const op of ops) {
      if (op.k === 'create') {
        if (live().length >= MAX_GUESTS) continue;
        const avail = world.h.mediator.availability().find((a) => a.type === op.type);
        if (!avail || avail.count <= 0) continue;
        track(st, world.newAttacker(op.type));
        continue;
      }
      if (op.k === 'run') {
        world.h.run(op.ns);
        continue;
      }
      if (op.k === 'flood') {
        for (const t of live()) if (t.g.vgpu.state === 'active') for (const e of ENGINES) longWork(t, e, 'arb', op.stores);
        continue;
      }
      if (op.k === 'hoard') {
        hoard(world, st, live().filter((t) => t.g.vgpu.state === 'active').slice(0, op.holders), op);
        continue;
      }
      if (op.k === 'stale') {
        const g = st.dead[st.dead.length - 1];
        if (g) stale(world, g, op.call, out);
        continue;
      }
      const ls = live();
      if (ls.length === 0) continue;
      const t = ls[op.slot % ls.length];
      const g = t.g;
      switch (op.k) {
        case 'destroy':
          kill(st, t);
          break;
        case 'pt-at':
          ptAt(world, st, t, op, out);
          break;
        case 'during': {
          if (g.vgpu.state !== 'active') break;
          longWork(t, op.engine, op.work, op.stores);
          world.h.run(op.ns);
          const engineId = g.engine(op.engine).engine.id;
          switch (op.act) {
            case 'nothing': break;
            case 'preempt': world.h.mediator.preempt(engineId); break;
            case 'reset': world.revive(g); t.disturbed = true; break;
            case 'failsafe': g.vgpu.enterFailsafe('lifecycle fuzzer (work on the device)'); t.disturbed = true; break;
            case 'destroy': kill(st, t); break;
            case 'reset-engine': world.recoverEngine(g, op.engine, true); t.disturbed = true; break;
            case 'g2v-destroy':
              // The guest tears down the PPGTT its running batch uses (PVINFO pdp[0] + g2v_notify).
              if (g.ppgtt) {
                g.vgpu.mmioWrite(0x78838, 4, g.ppgtt.pml4 >>> 0);
                g.vgpu.mmioWrite(0x7883c, 4, Math.floor(g.ppgtt.pml4 / 2 ** 32) >>> 0);
                g.vgpu.mmioWrite(0x78818, 4, 5);
                t.disturbed = true;
              }
              break;
          }
          if (op.work === 'stop-ring') t.disturbed = true;
          break;
        }
        case 'reset':
          world.revive(g);
          t.disturbed = true;
          break;
        case 'failsafe':
          g.vgpu.enterFailsafe('lifecycle fuzzer');
          t.disturbed = true;
          break;
        case 'reset-engine':
          world.recoverEngine(g, op.engine, true);
          t.disturbed = true;
          break;
        case 'good':
          for (let i = 0; i < op.n; i++) {
            const slot = t.next++ % 4096;
            const value = (mix32(g.vgpu.id, t.next) | 1) >>> 0;
            g.submit(op.engine, miStoreDataImm(t.buf.gma + 4 * slot, [value]));
            t.outstanding.push([t.buf.gpa + 4 * slot, value, op.engine]);
          }
          break;
        case 'bad': {
          const cmds = op.kind === 'unknown' ? [0x1f000005, 0, 0, 0, 0, 0, 0, 0]
            : op.kind === 'privileged' ? miLoadRegisterImm([[0x44200, 0]])
              : miStoreDataImm(world.victim ? world.victim.ggttBuf.gma : 0, [0xbad], { ggtt: true });
          g.submit(op.engine, cmds);
          t.disturbed = true;
          break;
        }
      }
    }
    if (!world.settle(200e6)) {
      const m = world.h.mediator;
      const who = m.vgpus.filter((v) => m.pendingOf(v.id) > 0).map((v) => `${v.name} (${v.state}): ${m.pendingOf(v.id)}${m.onDevice(v.id) ? ', on the device' : ''}`);
      const stopped = world.h.device.engines.filter((e) => (world.h.device.regs.peek(e.info.mmioBase + RING.MI_MODE) & Bits.STOP_RING) !== 0).map((e) => e.info.name);
      out.push({ invariant: INVARIANTS.LIVENESS, message: `not idle after 200 ms of simulated time; pending: ${who.join('; ') || 'none'}${stopped.length ? `; STOP_RING set on ${stopped.join(', ')}` : ''}` });
    }
    // The pages `pt-at` planted, again after everything settled (the mediator wrote them since).
    if (st.planted.length > 0) {
      const again: Violation[] = [];
      for (const p of st.planted) if (p.t.g.vgpu.state !== 'destroyed') st.stats.compared += checkShadowAgrees(p.t.g.vgpu, p.gpa, again);
      for (const x of again) if (!out.some((y) => y.message === x.message)) out.push(x);
    }
    st.planted.length = 0;
    for (const t of st.guests) {
      if (t.g.vgpu.state === 'destroyed') continue;
      if (!t.disturbed && t.g.vgpu.state === 'active') {
        for (const f of t.failures) out.push({ invariant: INVARIANTS.ORACLE, message: `${t.g.name} (undisturbed): ${f}` });
        // The last value each engine stored to each slot (long workloads wrap around the 4096
        // slots): one engine's stores land in order, two engines' stores to one slot in any order,
        // so the slot holds the last value of one of the engines that wrote it.
        const last = new Map<number, Map<EngineName, number>>();
        for (const [gpa, value, engine] of t.outstanding) {
          let byEngine = last.get(gpa);
          if (!byEngine) last.set(gpa, (byEngine = new Map()));
          byEngine.set(engine, value);
        }
        for (const [gpa, byEngine] of last) {
          const got = t.g.memory.read32(gpa);
          if (![...byEngine.values()].includes(got)) {
            const want = [...byEngine].map(([e, v]) => `${hx(v)} (${e})`).join(' or ');
            out.push({ invariant: INVARIANTS.ORACLE, message: `${t.g.name} (undisturbed): value at ${hx(gpa)} is ${hx(got)}, expected ${want}` });
            break;
          }
        }
      }
      t.outstanding.length = 0;
      t.failures.length = 0;
      t.disturbed = false;
    }
    return out;
  },
  format(op) {
    switch (op.k) {
      case 'create': return `create ${op.type}`;
      case 'run': return `run ${op.ns} ns`;
      case 'good': return `submit ${op.n} good on ${op.engine} (slot ${op.slot})`;
      case 'bad': return `submit ${op.kind} on ${op.engine} (slot ${op.slot})`;
      case 'reset-engine': return `reset engine ${op.engine} (slot ${op.slot})`;
      case 'during': return `${op.work} x${op.stores} on ${op.engine} (slot ${op.slot}), run ${op.ns} ns, then ${op.act}`;
      case 'flood': return `flood: every attacker, every engine, ${op.stores} stores`;
      case 'stale': return `stale ${op.call} on the last destroyed vGPU`;
      case 'hoard': return `hoard: ${op.holders} attackers, ${op.tables} page tables and ${op.queued} x ${op.stores} stores on every engine each, victim work, run ${op.ns} ns`;
      case 'pt-at': return `page table (level ${op.level}) at its ${op.page} of ${op.engine} (slot ${op.slot}), ${op.rounds} workloads, seed ${hx(op.seed)}`;
      default: return `${op.k} (slot ${op.slot})`;
    }
  },
};
