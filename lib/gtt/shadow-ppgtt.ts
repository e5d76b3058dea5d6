/**
 * Shadow PPGTT: per-process graphics page tables of a guest, write-protected through the EPT and
 * mirrored into host memory (Linux `drivers/gpu/drm/i915/gvt/gtt.c`: `ppgtt_populate_spt`,
 * `ppgtt_handle_guest_write_page_table`, `intel_vgpu_flush_post_shadow`,
 * `intel_vgpu_sync_oos_pages`; `gtt.h`: `struct intel_vgpu_ppgtt_spt`, `intel_vgpu_oos_page`).
 *
 * ## Shape
 *
 * - `PpgttManager` (one per vGPU) owns every shadow page of the vGPU, the per-level scratch
 *   tables, the out-of-sync pool and the cache of shadow mms (`ShadowPpgtt`, keyed by mode and
 *   guest roots). A guest page-table page is shadowed once per vGPU, whatever number of tables
 *   or mms reference it: each referencing shadow entry (and each mm root) holds one reference.
 * - Levels: 4 = PML4, 3 = PDP, 2 = PD, 1 = PT. A 4-level mm (addressing mode 3, legacy 64-bit)
 *   has a root PML4 page; a 3-level mm (mode 1, legacy 32-bit) has four roots (the PDP
 *   registers), each a page directory. Root values are present when non-zero (GVT-g's
 *   `gen8_gtt_test_present` for root entries); bits 38:12 name the table.
 * - Shadow entries point at host frames: leaves at `Ept.pin(gfn)`, non-leaves at the child shadow
 *   page. Guest flag bits (bits 11:0) are kept; IPS is cleared in shadow PDEs (64 KiB pages are
 *   split, below) and PS only survives on a 2 MiB page shadowed as such.
 * - One manager per EPT: the EPT holds one write-protect handler per guest frame. Guest tables
 *   are read through the guest memory's page views (they are never pinned; only leaf frames are).
 *   Besides its shadow pages a manager keeps one byte per guest frame (which frames leaf entries
 *   may name, so an EPT unmap of an unreferenced frame costs nothing): sized by the guest's RAM,
 *   not the host's, so a vGPU's cost does not grow with host memory.
 *
 * ## Scratch (GVT-g's per-level `scratch_pt`)
 *
 * Five host frames per vGPU: a zero scratch page, a scratch PT whose 512 entries point at it, a
 * scratch PD pointing at the scratch PT, a scratch PDP pointing at the scratch PD, a scratch PML4
 * pointing at the scratch PDP; every scratch entry is present + RW. A guest entry that is not
 * present, names a frame outside guest RAM, a 1 GiB page, a table already shadowed at another
 * level (a loop), or a table that could not be allocated, becomes the scratch entry of its level:
 * the device then reads zeros (and its writes land in the vGPU's own scratch page) instead of
 * faulting or reaching a frame the guest does not own. The first three are the guest's doing and
 * stay at scratch (`invalidFrames`, `refusedHuge`, `loops`); the last, and a leaf whose guest
 * frame the host could not back (`Ept.pin` → `PIN_NO_MEMORY`), are the host's: they count as
 * `allocFailures` and stay pending until a `sync()` gets the memory.
 *
 * ## Huge pages (choices)
 *
 * - 64 KiB (IPS in the PDE; the guest PT holds an entry every 16th slot): always shadowed as
 *   16 × 4 KiB entries in a shadow PT without IPS, as GVT-g does (`split_64KB_gtt_entry`). A
 *   64 KiB shadow would need the whole shadow PT in IPS mode, i.e. all 32 pages host-contiguous;
 *   adopted guest frames rarely are, and one non-contiguous page would force a re-split. Writes
 *   to the ignored slots of an IPS PT change nothing. A PT whose PDE flips IPS is re-shadowed in
 *   place (GVT-g "reshadow PDE since ips changed").
 * - 2 MiB (PS in the PDE): a direct 2 MiB shadow entry when the 512 guest frames pin to 512
 *   contiguous host frames starting 2 MiB-aligned (GVT-g `is_2MB_gtt_possible`), else a split
 *   shadow PT (no guest page behind it) of 4 KiB entries; the PAT bit of the 2 MiB entry (bit 12)
 *   moves to bit 7 of the split entries, as GVT-g's `split_2MB_gtt_entry` does. Frames of the
 *   2 MiB range outside guest RAM point at scratch individually.
 * - 1 GiB (PS in the PDPE): refused, scratch, counted (`refusedHuge`).
 *
 * ## Guest writes
 *
 * Every guest table page is write-protected (`Ept.writeProtect`). The handler lets the guest's
 * bytes land (returns true: the guest reads back what it wrote) and updates the shadow from the
 * bytes: a whole aligned 8-byte entry is shadowed at once, the new shadow entry added before the
 * old is removed (the old child's reference dropped after the new one is taken: GVT-g's order,
 * the table stays valid in between). A 4-byte half parks the shadow entry at scratch (dropping
 * the old subtree) until the other half arrives or the next `sync()`; any other partial write
 * (1-3 bytes, unaligned) parks the entry until `sync()` or a whole 8-byte write of it.
 *
 * ## Out-of-sync pages (gHyvi; GVT-g `enable_out_of_sync`, off by default)
 *
 * With `outOfSync: true`, a guest PT (level 1) trapped `oosThreshold` times (GVT-g: 2) since its
 * last sync gets a copy of its guest contents from a bounded pool (`oosPoolSize`, GVT-g 8192; the
 * oldest attached copy is stolen, its page synced first, when the pool is empty) and its write
 * protection is dropped: later guest writes land untrapped and the shadow goes stale. `sync()`
 * (called by the mediator before each workload submission) re-protects every out-of-sync page,
 * diffs its guest contents against the copy and re-shadows the changed entries, then resets its
 * write count. The copy stays attached (GVT-g keeps `oos_page` on the spt), and is kept current by
 * later trapped writes, so the page goes out of sync again after `oosThreshold` more writes.
 *
 * ## Guests whose stores are not trapped (`Ept.guestWrites === 'untrapped'`)
 *
 * An emulator that writes guest RAM directly (v86's JIT) cannot write-protect anything: guest
 * table pages are never protected and no write reaches `onGuestWrite`. Every shadow page then
 * holds a copy of its guest contents as last shadowed (taken when the page is built, outside the
 * out-of-sync pool; the copies are bounded by `maxShadowPages`), and `sync(mm)` (called by the
 * mediator before each workload's audit) walks the mm's tables from its roots down and diffs
 * every page against its copy exactly as an out-of-sync page is diffed (`diffCopy`, the same
 * path): changed entries are re-shadowed with every check a trapped write gets (frames outside
 * guest RAM, loops, 1 GiB pages, quotas: scratch), a child a changed entry no longer names loses
 * its reference and is freed with its last one. The device only ever walks the shadow, so what
 * the guest writes between two submissions reaches it at the next submission, validated, and
 * never before. A table met at another level while an mm is built may be a stale shadow of
 * another mm: every live mm is brought up to date first, then the build is done again.
 * Out-of-sync pages (`outOfSync`) have no meaning there (every page is), and are refused.
 *
 * ## Containment
 *
 * Nothing throws on guest input. Levels strictly decrease along a walk and a guest page is
 * shadowed at one level only (the first use wins; another level is a loop, counted), so building
 * recurses at most four deep whatever the guest tables hold. A table frame outside guest RAM is
 * scratch, counted. Host frame exhaustion (for a shadow page or to back a leaf's guest frame)
 * while building an mm (`get`) rolls the whole build back and throws `NoResourceError` to the
 * mediator (which fails the workload with `shadow-alloc`); during a trapped write, an
 * out-of-sync diff or a `sync()` it leaves the entry at scratch and pending, retried by the next
 * `sync()`, which returns false while any entry is still waiting. When the EPT unmaps a guest frame, shadow entries naming its host frame
 * go back to scratch (before the frame can be reused) and are re-shadowed by the next `sync()`.
 *
 * Hot paths (`populate` of a PT, trapped 8-byte writes) are typed-array loops over host and guest
 * page views, with no allocation per entry.
 */
import createDebug from 'debug';
import { ConfigError, NoResourceError, RangeArgError, StateError } from '../errors.js';
import { PIN_NO_MEMORY, type Ept, type GuestWrites, type WriteTrapHandler } from '../ept/ept.js';
import type { HostMemory } from '../ept/memory.js';
import { PAGE_SIZE, TWO_POW_32, type Gfn, type Gpa, type Hpa } from '../types.js';
import { PpgttWalker } from './ppgtt-walk.js';
import { PDE_IPS, PDE_PS, PTE_PRESENT, PTE_RW } from './pte.js';

const log = createDebug('gvtkit:ppgtt');

/** Addressing mode 1 of the context descriptor: legacy 32-bit, 3 levels, 4 PDP registers. */
export const PPGTT_MODE_L3 = 1;
/** Addressing mode 3 of the context descriptor: legacy 64-bit, 4 levels from a PML4. */
export const PPGTT_MODE_L4 = 3;
/** A supported PPGTT addressing mode. */
export type PpgttMode = typeof PPGTT_MODE_L3 | typeof PPGTT_MODE_L4;

/** Page-table levels (as in `WalkLevel`). */
export const PPGTT_LEVEL_PT = 1;
export const PPGTT_LEVEL_PD = 2;
export const PPGTT_LEVEL_PDP = 3;
export const PPGTT_LEVEL_PML4 = 4;

/** Entries per table page. */
const ENTRIES = 512;
/** u32 words per table page. */
const WORDS = 1024;
/** Largest host frame a gen8 PTE can name, plus one (39-bit addresses). */
const FRAME_LIMIT = 2 ** 27;
/** Frames per 2 MiB page. */
const FRAMES_2M = 512;
/** Flag bits a split 4 KiB entry takes from a 2 MiB PDE (bits 11:0 minus PS and IPS). */
const SPLIT_FLAGS = 0xfff & ~(PDE_PS | PDE_IPS);
/** Flag bits of a non-leaf shadow entry (IPS cleared: 64 KiB pages are split; PS never set). */
const TABLE_FLAGS = 0xfff & ~(PDE_PS | PDE_IPS);

/** Pending states of an entry (a partial write waiting, or a retry at `sync`). */
const PENDING_NONE = 0;
const PENDING_LO = 1;
const PENDING_HI = 2;
const PENDING_SYNC = 3;

const EMPTY_PAGE = new Uint32Array(0);
const NO_TRAP: WriteTrapHandler = () => true;

/**
 * Counters of one vGPU's shadow PPGTT (shared by all its mms, since shadow pages are).
 * Gauges (current values) are marked as such; the rest only grow.
 */
export interface ShadowPpgttCounters {
  /** Guest writes to write-protected table pages handled (trap handler calls). */
  traps: number;
  /** `sync()` calls. */
  syncs: number;
  /** Shadow entries written with a real translation (leaf pages and child tables), built or rebuilt. */
  shadowed: number;
  /** Shadow entries pointed at scratch (not present, invalid, refused, loop, parked, no memory). */
  scratchEntries: number;
  /**
   * Guest frames (pages or tables) outside guest RAM or not readable, and PS in a PML4 entry:
   * scratch for good (host memory exhaustion is counted in `allocFailures` instead).
   */
  invalidFrames: number;
  /** 1 GiB pages refused. */
  refusedHuge: number;
  /** Guest table pages used at a second level (loops, a PT also used as a PD, ...): scratch. */
  loops: number;
  /** 2 MiB pages shadowed as 2 MiB. */
  huge2M: number;
  /** 2 MiB pages split into a shadow PT of 4 KiB entries. */
  split2M: number;
  /** 64 KiB entries split into 16 × 4 KiB. */
  split64K: number;
  /** Shadow PTs re-shadowed because their PDE flipped IPS. */
  ipsRetyped: number;
  /** 4-byte half writes. */
  halfWrites: number;
  /** Partial writes that parked an entry at scratch. */
  parked: number;
  /**
   * Host frame allocation failures: a shadow page, or a host frame to back a guest frame a leaf
   * names (`Ept.pin` said `PIN_NO_MEMORY`). The entry waits at scratch, pending, for `sync()`;
   * during `get` the build rolls back and throws instead.
   */
  allocFailures: number;
  /** Shadow entries sent back to scratch because the EPT unmapped their frame. */
  invalidated: number;
  /** Pages that went out of sync. */
  oosEntered: number;
  /** Entries re-shadowed from out-of-sync diffs at `sync()`. */
  oosResynced: number;
  /** Out-of-sync copies stolen from the oldest page when the pool was empty. */
  oosStolen: number;
  /**
   * Untrapped guests: guest table pages re-read and diffed against their copy at submissions
   * (`sync(mm)`); the entries that changed count in `oosResynced`.
   */
  resyncedPages: number;
  /** Gauge: pages out of sync (write protection dropped) now. */
  oosActive: number;
  /** Gauge: out-of-sync copies attached (pool in use). */
  oosAttached: number;
  /** Shadow pages allocated since creation (guest tables and split 2 MiB PTs). */
  shadowPagesAllocated: number;
  /** Gauge: shadow pages held now (not counting the five scratch frames). */
  shadowPages: number;
  /** Gauge: live shadow mms. */
  mms: number;
  /**
   * Cached mms destroyed to stay within `maxMms`, or because an address space being built needed
   * one of their tables at another level (see `PpgttManager.get`).
   */
  mmsEvicted: number;
}

/** Options of `PpgttManager`. */
export interface PpgttManagerOptions {
  /** Name for logs (e.g. `vgpu1`). */
  name?: string;
  /**
   * Out-of-sync pages (gHyvi). Default false, as GVT-g's `enable_out_of_sync`. Refused
   * (`ConfigError`) for an EPT whose guest stores are not trapped: every page is resynchronised
   * at submission there.
   */
  outOfSync?: boolean;
  /** Copies in the out-of-sync pool (GVT-g `preallocated_oos_pages`). Default 8192. */
  oosPoolSize?: number;
  /** Trapped writes since the last sync after which a PT goes out of sync. Default 2 (GVT-g). */
  oosThreshold?: number;
  /**
   * Shadow pages (tables and 2 MiB splits) this vGPU may hold. Default: one per eight guest RAM
   * frames plus 512 (room for 64 address spaces each mapping all of RAM in 4 KiB pages). Beyond
   * it, building more fails like host memory exhaustion: the workload fails with `shadow-alloc`
   * and the guest cannot take host memory from the others (GVT-g has no such bound).
   */
  maxShadowPages?: number;
  /**
   * Cached address spaces (shadow mms) this vGPU may keep. Default 512. Beyond it the least
   * recently used unpinned one is destroyed (rebuilt if named again); when all are pinned, `get`
   * throws `NoResourceError`.
   */
  maxMms?: number;
}

/** @internal One shadowed guest table page (or a split 2 MiB PT); not part of the API. */
export class ShadowPage {
  // Fields are `declare`d and all set in the constructor: the uninitialised ones (gfn, level,
  // mfn, ...) were emitted as class fields first defined as undefined, which leaves V8 only the
  // generic (tagged) representation for them, checked on every use on the trap path.
  /** Guest frame of the table, -1 for a split 2 MiB PT. */
  declare readonly gfn: number;
  /** Guest-physical address of the table (gfn × 4096), -1 for a split PT. */
  declare readonly base: number;
  declare readonly level: number;
  /** Level 1: the PDE says 64 KiB pages (entries every 16th slot). */
  declare ips: boolean;
  declare readonly mfn: number;
  /** The shadow table (host frame view). */
  declare readonly shadow: Uint32Array;
  /**
   * The guest table (guest page view); empty for a split PT. Re-pointed by
   * `PpgttManager.refreshGuestViews` when the guest memory's buffer is replaced.
   */
  declare guest: Uint32Array;
  /** References: shadow entries and mm roots pointing here. */
  declare refs: number;
  /** Trapped writes since the last sync (GVT-g `write_cnt`). */
  declare writes: number;
  /** Level 2: direct 2 MiB entries held. */
  declare huge: number;
  /** PENDING_* per entry, allocated on first use. */
  declare pending: Uint8Array | null;
  declare pendingCount: number;
  /**
   * Links of the manager's list of pages with pending entries (insertion-ordered like a Set, but
   * linking and unlinking allocate nothing: a Set emptied and refilled by every parked half
   * reallocated its table each time).
   */
  declare inPendingList: boolean;
  declare pendingPrev: ShadowPage | null;
  declare pendingNext: ShadowPage | null;
  /** Out-of-sync copy of the guest contents, when attached (always, for an untrapped guest). */
  declare copy: Uint32Array | null;
  declare outOfSync: boolean;
  declare freed: boolean;
  /** Split PT: the PD page and entry it belongs to. */
  declare parent: ShadowPage | null;
  declare parentIndex: number;
  /** Untrapped guests: the `sync` walk that last diffed this page (a page is diffed once per walk). */
  declare syncEpoch: number;
  /** The guest table's bytes as a `Buffer` (native compare with the copy), made on first diff. */
  declare guestBytes: Buffer | null;
  declare readonly handler: WriteTrapHandler;

  constructor(mgr: PpgttManager, gfn: number, level: number, ips: boolean, mfn: number, shadow: Uint32Array, guest: Uint32Array) {
    this.gfn = gfn;
    this.base = gfn >= 0 ? gfn * PAGE_SIZE : -1;
    this.level = level;
    this.ips = ips;
    this.mfn = mfn;
    this.shadow = shadow;
    this.guest = guest;
    this.refs = 0;
    this.writes = 0;
    this.huge = 0;
    this.pending = null;
    this.pendingCount = 0;
    this.inPendingList = false;
    this.pendingPrev = null;
    this.pendingNext = null;
    this.copy = null;
    this.outOfSync = false;
    this.freed = false;
    this.parent = null;
    this.parentIndex = -1;
    this.syncEpoch = 0;
    this.guestBytes = null;
    this.handler = gfn >= 0 ? (gpa, bytes) => mgr.onGuestWrite(this, gpa, bytes) : NO_TRAP;
  }
}

/**
 * One shadow mm: the shadow of one guest PPGTT (a 4-level PML4 root or four 3-level PDP roots),
 * obtained from `PpgttManager.get`. `shadowRoots` is what the mediator writes into the shadow
 * context's PDP registers.
 */
export class ShadowPpgtt {
  readonly manager: PpgttManager;
  /** `PPGTT_MODE_L4` or `PPGTT_MODE_L3`. */
  readonly mode: PpgttMode;
  /** Cache key (mode and guest root frames). */
  readonly key: string;
  /** Guest root values as given (PML4 address, or the four PDP register values). */
  readonly guestRoots: readonly number[];
  /** Host-physical addresses of the shadow roots: one PML4, or four page directories. */
  readonly shadowRoots: readonly Hpa[];
  /** In-flight users (`acquire`/`release`). */
  pins = 0;
  /** Set when freed (destroyed by the guest with no pins left, or by `destroyAll`). */
  destroyed = false;
  /** Destroyed by the guest while pinned: freed at the last `release`. */
  doomed = false;
  /**
   * @internal Built while some of its tables were shadowed at another level by an mm in use (pinned):
   * those entries are scratch. `get` builds it again when it is not pinned itself.
   */
  conflicted = false;
  /** @internal root shadow pages (null = scratch), one per root. */
  readonly rootPages: (ShadowPage | null)[];
  private readonly walker: PpgttWalker;

  /** @internal Use `PpgttManager.get`. */
  constructor(manager: PpgttManager, mode: PpgttMode, key: string, guestRoots: readonly number[], rootPages: (ShadowPage | null)[], shadowRoots: Hpa[]) {
    this.manager = manager;
    this.mode = mode;
    this.key = key;
    this.guestRoots = guestRoots;
    this.rootPages = rootPages;
    this.shadowRoots = shadowRoots;
    this.walker = new PpgttWalker(manager.host);
  }

  /** Host-physical address of the shadow PML4 (4-level) or of the shadow PD of PDP0 (3-level). */
  root(): Hpa {
    return this.shadowRoots[0];
  }

  /** Pin for an in-flight workload; returns this. Throws `StateError` once destroyed. */
  acquire(): this {
    if (this.destroyed) throw new StateError(`${this.manager.name}: shadow PPGTT ${this.key} destroyed`);
    this.pins++;
    return this;
  }

  /** Unpin; the last release of an mm the guest destroyed frees it. A no-op once destroyed. */
  release(): void {
    if (this.destroyed) return;
    if (this.pins <= 0) throw new StateError(`${this.manager.name}: release of unpinned shadow PPGTT ${this.key}`);
    this.pins--;
    if (this.pins === 0 && this.doomed) this.manager.freeMm(this);
  }

  /**
   * Flush pending writes and out-of-sync pages of the vGPU; for an untrapped guest, re-read this
   * mm's tables too (see `PpgttManager.sync`).
   */
  sync(): boolean {
    return this.manager.sync(this);
  }

  /** Counters of the vGPU's shadow PPGTT (shared by its mms). */
  get counters(): ShadowPpgttCounters {
    return this.manager.counters;
  }

  /**
   * Translate `gma` through the shadow tables (what the device would reach): the host-physical
   * address, or -1 when it faults or lands in the scratch page (an invalid guest mapping).
   */
  translate(gma: number): Hpa | -1 {
    if (this.destroyed) return -1;
    const w = this.walker;
    const r = this.shadowRoots;
    const ok = this.mode === PPGTT_MODE_L4 ? w.walk4(r[0], gma) : w.walk3(r[0], r[1], r[2], r[3], gma);
    if (!ok || Math.floor(w.address / PAGE_SIZE) === this.manager.scratchPageMfn) return -1;
    return w.address as Hpa;
  }
}

/**
 * The shadow PPGTT of one vGPU: shadow pages, scratch tables, out-of-sync pool, and the cache of
 * shadow mms. See the module note.
 */
export class PpgttManager {
  readonly ept: Ept;
  readonly host: HostMemory;
  readonly name: string;
  readonly outOfSync: boolean;
  readonly oosPoolSize: number;
  readonly oosThreshold: number;
  /** Whether the guest's table writes are trapped (from the EPT: `Ept.guestWrites`). */
  readonly guestWrites: GuestWrites;
  /** Host frame of the scratch page. */
  readonly scratchPageMfn: number;
  /** Host frames of the scratch tables by level (index 1 PT .. 4 PML4; index 0 the page). */
  readonly scratchMfns: readonly number[];
  /** Set by `dispose`. */
  disposed = false;

  private readonly guestFrames: number;
  private readonly byGfn = new Map<number, ShadowPage>();
  private readonly byMfn = new Map<number, ShadowPage>();
  private readonly mmCache = new Map<string, ShadowPpgtt>();
  /** Live mms (cached ones and doomed ones still pinned). */
  private readonly liveMms = new Set<ShadowPpgtt>();
  /** Pages with pending entries, oldest first (see `ShadowPage.inPendingList`). */
  private pendingHead: ShadowPage | null = null;
  private pendingTail: ShadowPage | null = null;
  /** Reused by `sync` to walk the pending pages it takes over. */
  private readonly syncPages: ShadowPage[] = [];
  private readonly oosPages = new Set<ShadowPage>();
  /** Pages with an attached copy, oldest attach first (the pool's use list). */
  private readonly attached = new Set<ShadowPage>();
  private readonly freeCopies: Uint32Array[] = [];
  private copiesMade = 0;
  /** Scratch entry halves by level of the table holding the entry. */
  private readonly scratchLo: Int32Array;
  private readonly scratchHi: Int32Array;
  /** Host frames a leaf shadow entry may name (sticky until an unmap scan clears them). */
  /** 1 per guest frame a leaf shadow entry may name. */
  private readonly referenced: Uint8Array;
  private readonly unsubscribe: () => void;
  /** Set by `childTable` when a host frame allocation failed. */
  private failedAlloc = false;
  /**
   * While `get` builds: the pages it made. Null otherwise (a trapped write that meets a table
   * shadowed at another level keeps scratch).
   */
  private made: Set<ShadowPage> | null = null;
  /**
   * Tables the build met already shadowed at another level by a page it did not make (another
   * mm's), as pairs (guest frame, level wanted). A loop within the build itself is not listed.
   */
  private readonly conflicts: number[] = [];
  // Counters as plain numeric fields (hot paths bump them); `counters` snapshots them.
  private nTraps = 0;
  private nSyncs = 0;
  private nShadowed = 0;
  private nScratch = 0;
  private nInvalid = 0;
  private nRefusedHuge = 0;
  private nLoops = 0;
  private nHuge2M = 0;
  private nSplit2M = 0;
  private nSplit64K = 0;
  private nIpsRetyped = 0;
  private nHalfWrites = 0;
  private nParked = 0;
  private nAllocFailures = 0;
  private nInvalidated = 0;
  private nOosEntered = 0;
  private nOosResynced = 0;
  private nOosStolen = 0;
  private nPagesAllocated = 0;
  private nPages = 0;
  private nMmsEvicted = 0;
  private nResyncedPages = 0;
  /** Untrapped guests: the number of the current (or last) `sync` walk (`ShadowPage.syncEpoch`). */
  private epoch = 0;
  /** `guestWrites === 'untrapped'` (hot paths test a boolean). */
  private readonly untrapped: boolean;
  /**
   * While an untrapped `sync` walks: entries refused as loops, as (page, index) pairs, retried once
   * after the walk. The walk goes in table order, not in the order the guest wrote: a page the
   * guest moved to another level is met at its new level before its old parent entry is diffed
   * and releases it (a trapped guest's writes arrive in order: release first).
   */
  private loopRetries: (ShadowPage | number)[] | null = null;
  /** Set by `childTable` when it refused a table already shadowed at another level. */
  private loopMet = false;
  /** A host frame for a shadow page, within the quota; throws `NoResourceError` beyond it. */
  private allocShadowFrame(): number {
    if (this.nPages >= this.maxShadowPages) {
      this.quotaHits++;
      throw new NoResourceError('shadow-pages', 1, `${this.name}: shadow page quota of ${this.maxShadowPages} reached`);
    }
    return this.host.allocFrame(this.ept.owner);
  }

  /**
   * Shadow page allocations refused by the vGPU's own quota (`maxShadowPages`), as opposed to
   * host memory exhaustion: the mediator fails a workload for the first, lets it wait for the
   * second.
   */
  quotaHits = 0;
  /** The per-vGPU bound on shadow pages (`PpgttManagerOptions.maxShadowPages`). */
  readonly maxShadowPages: number;
  /** The bound on cached shadow mms (`PpgttManagerOptions.maxMms`). */
  readonly maxMms: number;

  /**
   * @param ept the VM's EPT: translates guest frames, write-protects guest table pages.
   * @param host host memory (shadow and scratch frames come from it).
   * Throws `ConfigError` for a bad option, `NoResourceError` when the scratch frames cannot be
   * allocated.
   */
  constructor(ept: Ept, host: HostMemory, opts: PpgttManagerOptions = {}) {
    this.maxShadowPages = opts.maxShadowPages ?? Math.floor(ept.guest.size / PAGE_SIZE / 8) + 512;
    this.maxMms = opts.maxMms ?? 512;
    if (!Number.isSafeInteger(this.maxShadowPages) || this.maxShadowPages < 1) throw new ConfigError('maxShadowPages', `${this.maxShadowPages} is not a positive integer`);
    if (!Number.isSafeInteger(this.maxMms) || this.maxMms < 1) throw new ConfigError('maxMms', `${this.maxMms} is not a positive integer`);
    const pool = opts.oosPoolSize ?? 8192;
    const threshold = opts.oosThreshold ?? 2;
    if (!Number.isSafeInteger(pool) || pool < 0) throw new ConfigError('oosPoolSize', `${pool} is not a non-negative integer`);
    if (!Number.isSafeInteger(threshold) || threshold < 1) throw new ConfigError('oosThreshold', `${threshold} is not a positive integer`);
    if (host.frames > FRAME_LIMIT) throw new ConfigError('host', 'host memory beyond 512 GiB cannot be named by a gen8 PTE');
    if (ept.host !== host) throw new ConfigError('host', 'the EPT must hand out frames of the same host memory');
    this.ept = ept;
    this.host = host;
    this.name = opts.name ?? 'vgpu';
    this.outOfSync = opts.outOfSync ?? false;
    this.guestWrites = ept.guestWrites;
    this.untrapped = ept.guestWrites === 'untrapped';
    if (this.untrapped && this.outOfSync) {
      throw new ConfigError('outOfSync', 'the guest\'s stores are not trapped (\'untrapped\'): every page is resynchronised at submission, out-of-sync pages do not apply');
    }
    this.oosPoolSize = pool;
    this.oosThreshold = threshold;
    this.guestFrames = ept.frames;
    this.referenced = new Uint8Array(ept.frames);
    // Scratch page, then a table per level whose entries all point at the level below.
    const mfns: number[] = [];
    try {
      for (let level = 0; level <= PPGTT_LEVEL_PML4; level++) mfns.push(host.allocFrame(ept.owner));
    } catch (e) {
      for (const m of mfns) host.freeFrame(m);
      throw e;
    }
    this.scratchMfns = mfns;
    this.scratchPageMfn = mfns[0];
    this.scratchLo = new Int32Array(PPGTT_LEVEL_PML4 + 1);
    this.scratchHi = new Int32Array(PPGTT_LEVEL_PML4 + 1);
    for (let level = PPGTT_LEVEL_PT; level <= PPGTT_LEVEL_PML4; level++) {
      const below = mfns[level - 1];
      const lo = (below << 12) | PTE_PRESENT | PTE_RW;
      const hi = below >>> 20;
      this.scratchLo[level] = lo;
      this.scratchHi[level] = hi;
      const t = host.page32(mfns[level]);
      for (let k = 0; k < WORDS; k += 2) {
        t[k] = lo;
        t[k + 1] = hi;
      }
    }
    this.unsubscribe = ept.onUnmap((gfn, mfn) => this.invalidateFrame(gfn, mfn));
  }

  // ---------------------------------------------------------------- mm lifecycle

  /**
   * Re-read the guest page view of every shadowed page-table page: call it when the guest
   * memory's backing buffer was replaced (a WebAssembly memory that grew), or the shadow would
   * compare against a detached view. Returns the pages re-pointed.
   */
  refreshGuestViews(): number {
    let n = 0;
    for (const page of this.byGfn.values()) {
      if (page.gfn < 0) continue;
      page.guest = this.ept.guest.page32(page.gfn);
      n++;
    }
    return n;
  }

  /**
   * The shadow mm of guest `roots` in `mode`, built on first use and cached: for
   * `PPGTT_MODE_L4` the PML4 address (a number, or an array whose first element is PDP0), for
   * `PPGTT_MODE_L3` the four PDP register values. Root values come from the guest: anything
   * invalid shadows as scratch. Throws `NoResourceError` when host memory runs out (the partial
   * build is rolled back, nothing leaks), `RangeArgError` for an unsupported mode or a
   * 3-level call without four roots (the mediator validates descriptors first), `StateError`
   * after `dispose` or once the EPT is destroyed (dispose the manager before destroying the EPT:
   * each EPT unmap scans the shadow PTs that may name the frame).
   *
   * A guest page is shadowed at one level only. When the build meets a table already shadowed at
   * another level by a cached mm no workload is using (its `pins` at 0), that mm is evicted, least
   * recently used first, and the build is done again: what the cache keeps must not decide what a
   * workload reaches (e.g. a context submitted once in 3-level mode with its PML4 as PDP0 made
   * every later 4-level use of that PML4 scratch for as long as the 3-level mm stayed cached).
   * Against a pinned mm the first use wins and the entry is scratch; such an mm is built again at
   * its next `get` while unpinned. Within one mm's own tables (a loop) the first use wins.
   */
  get(roots: number | readonly number[], mode: PpgttMode = PPGTT_MODE_L4): ShadowPpgtt {
    const { values, key } = this.normalize(roots, mode);
    const cached = this.mmCache.get(key);
    if (cached !== undefined) {
      this.mmCache.delete(key);
      if (!cached.conflicted || cached.pins !== 0) {
        // Most recently used last (the eviction order).
        this.mmCache.set(key, cached);
        return cached;
      }
      this.freeMm(cached);
    }
    if (this.ept.destroyed) throw new StateError(`${this.name}: EPT destroyed`);
    if (this.mmCache.size >= this.maxMms) {
      let victim: ShadowPpgtt | undefined;
      for (const mm of this.mmCache.values()) if (mm.pins === 0) {
        victim = mm;
        break;
      }
      if (victim === undefined) throw new NoResourceError('shadow-mms', 1, `${this.name}: all ${this.maxMms} cached address spaces are in use`);
      this.mmCache.delete(victim.key);
      this.freeMm(victim);
      this.nMmsEvicted++;
    }
    const level = mode === PPGTT_MODE_L4 ? PPGTT_LEVEL_PML4 : PPGTT_LEVEL_PD;
    const loops = this.nLoops;
    let pages: (ShadowPage | null)[];
    let conflicted: boolean;
    const met = this.conflicts;
    met.length = 0;
    this.made = new Set();
    try {
      pages = this.buildRoots(values, level, key);
      if (met.length !== 0 && this.untrapped) {
        // The tables met at another level may be stale shadows (the guest rewrote them, untrapped,
        // since their mm's last submission): undo, bring every live mm up to date, build again.
        for (const p of pages) if (p !== null) this.release(p);
        this.nLoops = loops;
        const made = this.made;
        this.made = null;
        try {
          for (const mm of [...this.liveMms]) this.resyncMm(mm);
        } finally {
          this.made = made;
        }
        met.length = 0;
        made.clear();
        pages = this.buildRoots(values, level, key);
      }
      if (met.length !== 0 && this.hasUnpinnedMm()) {
        // Undo the build, evict the cached mms that hold the tables at another level, build again.
        for (const p of pages) if (p !== null) this.release(p);
        this.nLoops = loops;
        this.evictHolders(met);
        met.length = 0;
        this.made.clear();
        pages = this.buildRoots(values, level, key);
      }
      conflicted = met.length !== 0;
    } finally {
      this.made = null;
      met.length = 0;
    }
    const shadowRoots = pages.map((p) => ((p !== null ? p.mfn : this.scratchMfns[level]) * PAGE_SIZE) as Hpa);
    const mm = new ShadowPpgtt(this, mode, key, values, pages, shadowRoots);
    mm.conflicted = conflicted;
    this.mmCache.set(key, mm);
    this.liveMms.add(mm);
    log('%s: shadow PPGTT %s built (%d shadow pages held)', this.name, key, this.nPages);
    return mm;
  }

  /** The root pages of a new mm (null = scratch); rolled back and throws on host exhaustion. */
  private buildRoots(values: readonly number[], level: number, key: string): (ShadowPage | null)[] {
    const before = this.nAllocFailures;
    const pages: (ShadowPage | null)[] = [];
    for (const v of values) {
      let page: ShadowPage | null = null;
      if (v !== 0) {
        const f = rootFrame(v);
        if (f < 0) this.nInvalid++;
        else page = this.childTable(f, level, false);
      }
      if (page === null) this.nScratch++;
      pages.push(page);
    }
    if (this.nAllocFailures !== before) {
      for (const p of pages) if (p !== null) this.release(p);
      log('%s: shadow PPGTT %s: host memory exhausted, build rolled back', this.name, key);
      throw new NoResourceError('host-memory', this.nAllocFailures - before, `${this.name}: no host frames left to shadow PPGTT ${key}`);
    }
    return pages;
  }

  private hasUnpinnedMm(): boolean {
    for (const mm of this.mmCache.values()) if (mm.pins === 0) return true;
    return false;
  }

  /**
   * Evict unpinned cached mms, least recently used first, until none of the tables in `met`
   * (pairs: guest frame, level wanted) is shadowed at another level any more, or none is left.
   */
  private evictHolders(met: readonly number[]): void {
    const held = (): boolean => {
      for (let k = 0; k < met.length; k += 2) {
        const p = this.byGfn.get(met[k]);
        if (p !== undefined && p.level !== met[k + 1]) return true;
      }
      return false;
    };
    for (const mm of [...this.mmCache.values()]) {
      if (!held()) return;
      if (mm.pins !== 0) continue;
      this.freeMm(mm);
      this.nMmsEvicted++;
      log('%s: shadow PPGTT %s evicted: a new address space uses its tables at another level', this.name, mm.key);
    }
  }

  /** The cached mm of `roots` in `mode`, if any (same argument rules as `get`). */
  find(roots: number | readonly number[], mode: PpgttMode = PPGTT_MODE_L4): ShadowPpgtt | undefined {
    return this.mmCache.get(this.normalize(roots, mode).key);
  }

  /**
   * The guest destroyed a PPGTT (g2v notification): drop it from the cache and free it, or, while
   * workloads still hold it, when the last one releases it. Returns false when none is cached.
   */
  destroy(roots: number | readonly number[], mode: PpgttMode = PPGTT_MODE_L4): boolean {
    const mm = this.find(roots, mode);
    if (mm === undefined) return false;
    this.mmCache.delete(mm.key);
    if (mm.pins > 0) mm.doomed = true;
    else this.freeMm(mm);
    return true;
  }

  /**
   * Free every mm, pinned or not (vGPU reset or destroy): every shadow page, host frame and
   * write protection goes back. Pinned mms become destroyed; their later `release` is allowed.
   */
  destroyAll(): void {
    for (const mm of [...this.liveMms]) {
      mm.pins = 0;
      this.freeMm(mm);
    }
    this.mmCache.clear();
    if (this.nPages !== 0 || this.byGfn.size !== 0) {
      log('%s: %d shadow pages left after destroyAll (internal)', this.name, this.nPages);
    }
  }

  /** `destroyAll`, then free the scratch frames and stop listening to the EPT. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.destroyAll();
    this.unsubscribe();
    for (const m of this.scratchMfns) this.host.freeFrame(m);
    this.disposed = true;
  }

  /** @internal Free an mm (its roots' references). */
  freeMm(mm: ShadowPpgtt): void {
    if (mm.destroyed) return;
    mm.destroyed = true;
    if (this.mmCache.get(mm.key) === mm) this.mmCache.delete(mm.key);
    this.liveMms.delete(mm);
    for (const p of mm.rootPages) if (p !== null) this.release(p);
    log('%s: shadow PPGTT %s freed (%d shadow pages held)', this.name, mm.key, this.nPages);
  }

  private normalize(roots: number | readonly number[], mode: PpgttMode): { values: number[]; key: string } {
    if (this.disposed) throw new StateError(`${this.name}: PPGTT manager disposed`);
    let values: number[];
    if (mode === PPGTT_MODE_L4) {
      const v = typeof roots === 'number' ? roots : roots[0];
      if (v === undefined) throw new RangeArgError('4-level PPGTT: no root');
      values = [v];
    } else if (mode === PPGTT_MODE_L3) {
      if (typeof roots === 'number' || roots.length !== 4) throw new RangeArgError('3-level PPGTT: four PDP roots required');
      values = [roots[0], roots[1], roots[2], roots[3]];
    } else {
      throw new RangeArgError(`PPGTT addressing mode ${String(mode)} unsupported (1 = legacy 32-bit, 3 = legacy 64-bit)`);
    }
    // Key by what selects the tables (present + frame), as GVT-g compares the PDPs.
    const key = mode + ':' + values.map((v) => (v === 0 ? 'np' : String(rootFrame(v)))).join(',');
    return { values, key };
  }

  // ---------------------------------------------------------------- counters and state

  /** A snapshot of the counters. */
  get counters(): ShadowPpgttCounters {
    return {
      traps: this.nTraps, syncs: this.nSyncs, shadowed: this.nShadowed, scratchEntries: this.nScratch,
      invalidFrames: this.nInvalid, refusedHuge: this.nRefusedHuge, loops: this.nLoops, huge2M: this.nHuge2M,
      split2M: this.nSplit2M, split64K: this.nSplit64K, ipsRetyped: this.nIpsRetyped, halfWrites: this.nHalfWrites,
      parked: this.nParked, allocFailures: this.nAllocFailures, invalidated: this.nInvalidated,
      oosEntered: this.nOosEntered, oosResynced: this.nOosResynced, oosStolen: this.nOosStolen,
      resyncedPages: this.nResyncedPages, oosActive: this.oosPages.size, oosAttached: this.attached.size, shadowPagesAllocated: this.nPagesAllocated,
      shadowPages: this.nPages, mms: this.liveMms.size, mmsEvicted: this.nMmsEvicted,
    };
  }

  /** Entries waiting for their other half, a retry or a sync. */
  get pendingEntries(): number {
    let n = 0;
    for (let p: ShadowPage | null = this.pendingHead; p !== null; p = p.pendingNext) n += p.pendingCount;
    return n;
  }

  /** Guest frames currently shadowed as tables, with their level (tests and tools). */
  shadowedTables(): Map<number, number> {
    const out = new Map<number, number>();
    for (const [g, p] of this.byGfn) out.set(g, p.level);
    return out;
  }

  /** True when the guest frame `gfn` is out of sync now. */
  isOutOfSync(gfn: number): boolean {
    const p = this.byGfn.get(gfn);
    return p !== undefined && p.outOfSync;
  }

  // ---------------------------------------------------------------- sync (workload submission)

  /**
   * Bring the shadow up to date before a workload runs (GVT-g `intel_vgpu_sync_oos_pages` then
   * `intel_vgpu_flush_post_shadow`): re-protect and diff every out-of-sync page, then re-shadow
   * every pending entry (parked halves and partial writes, entries sent to scratch by an unmap or
   * an allocation failure). Returns false when host allocation failures left entries at scratch
   * (they stay pending; the mediator may fail the workload).
   *
   * For a guest whose stores are not trapped, every guest table page of `mms` is first re-read
   * and diffed against its copy, as if all were out of sync (see the module note): `mms` is the
   * mm (or mms) the workload uses; omitted, every live mm; null, none (a workload without a
   * PPGTT: only pending entries). A trapped guest ignores `mms`.
   */
  sync(mms?: ShadowPpgtt | readonly ShadowPpgtt[] | null): boolean {
    this.nSyncs++;
    if (this.untrapped && mms !== null) {
      const retries: (ShadowPage | number)[] = [];
      this.loopRetries = retries;
      try {
        if (mms === undefined) {
          for (const mm of [...this.liveMms]) this.resyncMm(mm);
        } else if (mms instanceof ShadowPpgtt) {
          this.resyncMm(mms);
        } else {
          for (const mm of mms) this.resyncMm(mm);
        }
      } finally {
        this.loopRetries = null;
      }
      this.retryLoops(retries);
    }
    if (this.oosPages.size !== 0) {
      for (const p of this.oosPages) this.syncOosPage(p, false);
      this.oosPages.clear();
    }
    if (this.pendingHead !== null) {
      // Take the whole list over: pages marked pending while it is walked start a new one.
      const pages = this.syncPages;
      for (let p: ShadowPage | null = this.pendingHead; p !== null; p = p.pendingNext) pages.push(p);
      for (const p of pages) {
        p.inPendingList = false;
        p.pendingPrev = null;
        p.pendingNext = null;
      }
      this.pendingHead = null;
      this.pendingTail = null;
      try {
        this.resyncPending(pages);
      } finally {
        pages.length = 0;
      }
    }
    return this.pendingHead === null;
  }

  /**
   * Untrapped guests: diff every guest table page reachable from `mm`'s roots against its copy,
   * parents before children (a changed parent entry drops or builds a subtree first; pages built
   * meanwhile are current), each page once per walk.
   */
  private resyncMm(mm: ShadowPpgtt): void {
    if (mm.destroyed || mm.manager !== this) return;
    const epoch = ++this.epoch;
    for (const p of mm.rootPages) if (p !== null) this.resyncTree(p, epoch);
  }

  /** Set again, once, the entries a walk refused as loops (see `loopRetries`). */
  private retryLoops(retries: readonly (ShadowPage | number)[]): void {
    for (let k = 0; k < retries.length; k += 2) {
      const page = retries[k] as ShadowPage;
      const i = retries[k + 1] as number;
      if (page.freed) continue;
      const g = page.guest;
      if (!this.setEntry(page, i, g[2 * i] >>> 0, g[2 * i + 1] >>> 0)) this.markPending(page, i, PENDING_SYNC);
    }
  }

  private resyncTree(page: ShadowPage, epoch: number): void {
    if (page.freed || page.syncEpoch === epoch) return;
    page.syncEpoch = epoch;
    this.nResyncedPages++;
    this.diffCopy(page);
    const level = page.level;
    if (level === PPGTT_LEVEL_PT) return;
    const s = page.shadow;
    for (let k = 0; k < WORDS; k += 2) {
      const lo = s[k];
      if ((lo & PTE_PRESENT) === 0 || (level === PPGTT_LEVEL_PD && (lo & PDE_PS) !== 0)) continue;
      const child = this.byMfn.get((lo >>> 12) | ((s[k + 1] & 0x7f) << 20));
      // A split 2 MiB PT (no guest page) follows its PDE, diffed with the PD.
      if (child !== undefined && child.gfn >= 0) this.resyncTree(child, epoch);
    }
  }

  /** Re-shadow the pending entries of `pages` (taken off the pending list by `sync`). */
  private resyncPending(pages: readonly ShadowPage[]): void {
    for (let k = 0; k < pages.length; k++) {
      const p = pages[k];
      const pend = p.pending;
      if (p.freed || pend === null) continue;
      p.pendingCount = 0;
      const g = p.guest;
      for (let i = 0; i < ENTRIES; i++) {
        if (pend[i] === PENDING_NONE) continue;
        pend[i] = PENDING_NONE;
        if (p.freed) break;
        const lo = g[2 * i] >>> 0;
        const hi = g[2 * i + 1] >>> 0;
        if (p.copy !== null) {
          p.copy[2 * i] = lo;
          p.copy[2 * i + 1] = hi;
        }
        if (!this.setEntry(p, i, lo, hi)) this.markPending(p, i, PENDING_SYNC);
      }
    }
  }

  // ---------------------------------------------------------------- shadow pages

  /**
   * A reference to the shadow page of guest table `gfn` at `level`, creating and populating it
   * when new; null (scratch) for a frame outside RAM, a loop, or no host memory (`failedAlloc`).
   */
  private childTable(gfn: number, level: number, ips: boolean): ShadowPage | null {
    if (!(gfn < this.guestFrames)) {
      this.nInvalid++;
      return null;
    }
    const existing = this.byGfn.get(gfn);
    if (existing !== undefined) {
      if (existing.level !== level) {
        this.nLoops++;
        this.loopMet = true;
        if (this.made !== null && !this.made.has(existing)) this.conflicts.push(gfn, level);
        log('%s: guest page 0x%s used as level %d and %d: scratch', this.name, gfn.toString(16), existing.level, level);
        return null;
      }
      if (level === PPGTT_LEVEL_PT && existing.ips !== ips) {
        existing.ips = ips;
        this.nIpsRetyped++;
        this.populateLeaf(existing);
      }
      existing.refs++;
      return existing;
    }
    let mfn: number;
    try {
      mfn = this.allocShadowFrame();
    } catch (e) {
      if (!(e instanceof NoResourceError)) throw e;
      this.nAllocFailures++;
      this.failedAlloc = true;
      return null;
    }
    const page = new ShadowPage(this, gfn, level, ips, mfn, this.host.page32(mfn), this.ept.guest.page32(gfn));
    if (this.untrapped) {
      // Nothing to protect: the copy of what is shadowed now is what `sync` diffs against.
      const copy = this.freeCopies.pop() ?? new Uint32Array(WORDS);
      copy.set(page.guest);
      page.copy = copy;
      page.syncEpoch = this.epoch;
    } else {
      try {
        this.ept.writeProtect(gfn as Gfn, page.handler);
      } catch (e) {
        this.host.freeFrame(mfn); // a destroyed EPT (host misuse): nothing half-built stays behind
        throw e;
      }
    }
    page.refs = 1;
    if (this.made !== null) this.made.add(page);
    this.byGfn.set(gfn, page);
    this.byMfn.set(mfn, page);
    this.nPages++;
    this.nPagesAllocated++;
    if (level === PPGTT_LEVEL_PT) this.populateLeaf(page);
    else this.populateTable(page);
    return page;
  }

  /** Drop one reference; the last frees the page, its children's references, its protection. */
  private release(page: ShadowPage): void {
    if (--page.refs > 0) return;
    page.freed = true;
    if (page.level > PPGTT_LEVEL_PT) {
      const s = page.shadow;
      for (let k = 0; k < WORDS; k += 2) {
        const lo = s[k];
        if ((lo & PTE_PRESENT) === 0 || (page.level === PPGTT_LEVEL_PD && (lo & PDE_PS) !== 0)) continue;
        const child = this.byMfn.get((lo >>> 12) | ((s[k + 1] & 0x7f) << 20));
        if (child !== undefined) this.release(child);
      }
    }
    if (page.gfn >= 0) {
      this.byGfn.delete(page.gfn);
      if (!this.untrapped) this.ept.unprotect(page.gfn as Gfn);
    }
    this.byMfn.delete(page.mfn);
    if (page.inPendingList) this.unlinkPending(page);
    if (page.outOfSync) this.oosPages.delete(page);
    if (page.copy !== null) this.detachCopy(page);
    this.host.freeFrame(page.mfn);
    this.nPages--;
  }

  /** Shadow every entry of a PT (4 KiB or IPS). The build hot path. */
  private populateLeaf(page: ShadowPage): void {
    const g = page.guest;
    const s = page.shadow;
    // Untrapped: a PT re-shadowed whole (its PDE flipped IPS) is current as of now.
    if (this.untrapped && page.copy !== null) page.copy.set(g);
    if (page.ips) {
      for (let i = 0; i < ENTRIES; i += 16) {
        if (!this.leaf64K(s, i, g[2 * i], g[2 * i + 1])) this.markPending(page, i, PENDING_SYNC);
      }
      return;
    }
    const ept = this.ept;
    const referenced = this.referenced;
    const sLo = this.scratchLo[PPGTT_LEVEL_PT];
    const sHi = this.scratchHi[PPGTT_LEVEL_PT];
    let shadowed = 0;
    let scratch = 0;
    let invalid = 0;
    for (let k = 0; k < WORDS; k += 2) {
      const lo = g[k];
      if ((lo & PTE_PRESENT) === 0) {
        s[k] = sLo;
        s[k + 1] = sHi;
        scratch++;
        continue;
      }
      const gfn = (lo >>> 12) | ((g[k + 1] & 0x7f) << 20);
      const m = ept.pin(gfn);
      if (m < 0) {
        s[k] = sLo;
        s[k + 1] = sHi;
        scratch++;
        if (m === PIN_NO_MEMORY) {
          // Host memory, not the guest: the entry waits for the next sync.
          this.nAllocFailures++;
          this.markPending(page, k >>> 1, PENDING_SYNC);
        } else {
          invalid++;
        }
        continue;
      }
      s[k] = (m << 12) | (lo & 0xfff);
      s[k + 1] = m >>> 20;
      referenced[gfn] = 1;
      shadowed++;
    }
    this.nShadowed += shadowed;
    this.nScratch += scratch;
    this.nInvalid += invalid;
  }

  /** Shadow every entry of a PD, PDP or PML4 page (recursing into new children). */
  private populateTable(page: ShadowPage): void {
    const g = page.guest;
    const s = page.shadow;
    const sLo = this.scratchLo[page.level];
    const sHi = this.scratchHi[page.level];
    // Scratch first: the page is consistent (releasable) at every step of the recursion.
    for (let k = 0; k < WORDS; k += 2) {
      s[k] = sLo;
      s[k + 1] = sHi;
    }
    for (let i = 0; i < ENTRIES; i++) {
      if (!this.addTableEntry(page, i, g[2 * i] >>> 0, g[2 * i + 1] >>> 0)) this.markPending(page, i, PENDING_SYNC);
    }
  }

  /**
   * Shadow guest entry (`lo`, `hi`) at `i` of `page`: add the new shadow entry, then drop what
   * the old one held. Returns false when a host allocation failed (entry left at scratch): a
   * shadow page, or a host frame to back a guest frame the entry names.
   */
  private setEntry(page: ShadowPage, i: number, lo: number, hi: number): boolean {
    if (page.level === PPGTT_LEVEL_PT) {
      // Only every 16th entry of an IPS page table is used (see ppgtt-walk.ts).
      if (page.ips) return (i & 15) !== 0 || this.leaf64K(page.shadow, i, lo, hi);
      return this.leaf4K(page.shadow, i, lo, hi);
    }
    const s = page.shadow;
    const oldLo = s[2 * i];
    const oldHi = s[2 * i + 1];
    const ok = this.addTableEntry(page, i, lo, hi);
    this.dropOld(page, oldLo, oldHi);
    return ok;
  }

  /** The add half of `setEntry` for levels 2-4. Overwrites the entry; does not drop the old one. */
  private addTableEntry(page: ShadowPage, i: number, lo: number, hi: number): boolean {
    const s = page.shadow;
    const level = page.level;
    const k = 2 * i;
    if ((lo & PTE_PRESENT) === 0) {
      s[k] = this.scratchLo[level];
      s[k + 1] = this.scratchHi[level];
      this.nScratch++;
      return true;
    }
    const frame = (lo >>> 12) | ((hi & 0x7f) << 20);
    if ((lo & PDE_PS) !== 0) {
      if (level === PPGTT_LEVEL_PD) return this.huge2M(page, i, lo, frame);
      s[k] = this.scratchLo[level];
      s[k + 1] = this.scratchHi[level];
      this.nScratch++;
      if (level === PPGTT_LEVEL_PDP) this.nRefusedHuge++;
      else this.nInvalid++; // PS in a PML4 entry: reserved, not a page
      return true;
    }
    this.failedAlloc = false;
    this.loopMet = false;
    const child = this.childTable(frame, level - 1, (lo & PDE_IPS) !== 0);
    if (child === null) {
      s[k] = this.scratchLo[level];
      s[k + 1] = this.scratchHi[level];
      this.nScratch++;
      if (this.loopMet && this.loopRetries !== null) this.loopRetries.push(page, i);
      this.loopMet = false;
      const failed = this.failedAlloc;
      this.failedAlloc = false;
      return !failed;
    }
    s[k] = (child.mfn << 12) | (lo & TABLE_FLAGS);
    s[k + 1] = child.mfn >>> 20;
    this.nShadowed++;
    return true;
  }

  /** Drop what an old shadow entry of a level 2-4 page held (a child reference, a 2 MiB count). */
  private dropOld(page: ShadowPage, oldLo: number, oldHi: number): void {
    if ((oldLo & PTE_PRESENT) === 0) return;
    if (page.level === PPGTT_LEVEL_PD && (oldLo & PDE_PS) !== 0) {
      page.huge--;
      return;
    }
    const child = this.byMfn.get((oldLo >>> 12) | ((oldHi & 0x7f) << 20));
    if (child !== undefined) this.release(child);
  }

  /**
   * A 4 KiB leaf entry. Returns false when the host could not back the guest frame (the entry is
   * left at scratch for the caller to mark pending), true otherwise, an invalid frame included.
   */
  private leaf4K(s: Uint32Array, i: number, lo: number, hi: number): boolean {
    const k = 2 * i;
    if ((lo & PTE_PRESENT) === 0) {
      s[k] = this.scratchLo[PPGTT_LEVEL_PT];
      s[k + 1] = this.scratchHi[PPGTT_LEVEL_PT];
      this.nScratch++;
      return true;
    }
    const gfn = (lo >>> 12) | ((hi & 0x7f) << 20);
    const m = this.ept.pin(gfn);
    if (m < 0) {
      s[k] = this.scratchLo[PPGTT_LEVEL_PT];
      s[k + 1] = this.scratchHi[PPGTT_LEVEL_PT];
      this.nScratch++;
      if (m === PIN_NO_MEMORY) {
        this.nAllocFailures++;
        return false;
      }
      this.nInvalid++;
      return true;
    }
    s[k] = (m << 12) | (lo & 0xfff);
    s[k + 1] = m >>> 20;
    this.referenced[gfn] = 1;
    this.nShadowed++;
    return true;
  }

  /**
   * A 64 KiB entry at slot `i` (a multiple of 16), split into 16 shadow 4 KiB entries. Returns
   * false when the host could not back one of the 16 frames (that one is at scratch; the caller
   * marks slot `i` pending and a retry redoes all 16).
   */
  private leaf64K(s: Uint32Array, i: number, lo: number, hi: number): boolean {
    const sLo = this.scratchLo[PPGTT_LEVEL_PT];
    const sHi = this.scratchHi[PPGTT_LEVEL_PT];
    if ((lo & PTE_PRESENT) === 0) {
      for (let k = 2 * i; k < 2 * i + 32; k += 2) {
        s[k] = sLo;
        s[k + 1] = sHi;
      }
      this.nScratch += 16;
      return true;
    }
    this.nSplit64K++;
    const base = ((lo >>> 12) | ((hi & 0x7f) << 20)) & ~15;
    const flags = lo & 0xfff;
    let backed = true;
    for (let j = 0; j < 16; j++) {
      const k = 2 * (i + j);
      const m = this.ept.pin(base + j);
      if (m < 0) {
        s[k] = sLo;
        s[k + 1] = sHi;
        this.nScratch++;
        if (m === PIN_NO_MEMORY) {
          this.nAllocFailures++;
          backed = false;
        } else {
          this.nInvalid++;
        }
        continue;
      }
      s[k] = (m << 12) | flags;
      s[k + 1] = m >>> 20;
      this.referenced[base + j] = 1;
      this.nShadowed++;
    }
    return backed;
  }

  /** A 2 MiB PDE at `i` of PD `page`: direct when host-contiguous and aligned, else split. */
  private huge2M(page: ShadowPage, i: number, lo: number, frame: number): boolean {
    const s = page.shadow;
    const k = 2 * i;
    const base = frame & ~(FRAMES_2M - 1);
    if (!(base < this.guestFrames)) {
      s[k] = this.scratchLo[PPGTT_LEVEL_PD];
      s[k + 1] = this.scratchHi[PPGTT_LEVEL_PD];
      this.nScratch++;
      this.nInvalid++;
      return true;
    }
    const ept = this.ept;
    const m0 = ept.pin(base);
    let contiguous = m0 >= 0 && (m0 & (FRAMES_2M - 1)) === 0;
    for (let j = 1; contiguous && j < FRAMES_2M; j++) contiguous = ept.pin(base + j) === m0 + j;
    if (contiguous) {
      // Bit 12 of a 2 MiB entry is its PAT bit, not address: keep it with the flags.
      s[k] = (m0 << 12) | (lo & 0x1fff);
      s[k + 1] = m0 >>> 20;
      this.referenced.fill(1, base, base + FRAMES_2M);
      page.huge++;
      this.nHuge2M++;
      this.nShadowed++;
      return true;
    }
    let mfn: number;
    try {
      mfn = this.allocShadowFrame();
    } catch (e) {
      if (!(e instanceof NoResourceError)) throw e;
      this.nAllocFailures++;
      s[k] = this.scratchLo[PPGTT_LEVEL_PD];
      s[k + 1] = this.scratchHi[PPGTT_LEVEL_PD];
      this.nScratch++;
      return false;
    }
    const split = new ShadowPage(this, -1, PPGTT_LEVEL_PT, false, mfn, this.host.page32(mfn), EMPTY_PAGE);
    split.refs = 1;
    split.parent = page;
    split.parentIndex = i;
    this.byMfn.set(mfn, split);
    this.nPages++;
    this.nPagesAllocated++;
    this.nSplit2M++;
    // PAT moves from bit 12 (2 MiB entry) to bit 7 (4 KiB entry), as GVT-g's split does.
    const flags = (lo & SPLIT_FLAGS) | ((lo >>> 5) & 0x80);
    const t = split.shadow;
    const sLo = this.scratchLo[PPGTT_LEVEL_PT];
    const sHi = this.scratchHi[PPGTT_LEVEL_PT];
    // A frame the host could not back leaves its split entry at scratch and makes the whole PDE
    // pending: the retry builds a new split PT (or a direct 2 MiB entry) and drops this one.
    let backed = true;
    for (let j = 0; j < FRAMES_2M; j++) {
      const m = ept.pin(base + j);
      if (m < 0) {
        t[2 * j] = sLo;
        t[2 * j + 1] = sHi;
        this.nScratch++;
        if (m === PIN_NO_MEMORY) {
          this.nAllocFailures++;
          backed = false;
        } else {
          this.nInvalid++;
        }
        continue;
      }
      t[2 * j] = (m << 12) | flags;
      t[2 * j + 1] = m >>> 20;
      this.referenced[base + j] = 1;
    }
    s[k] = (mfn << 12) | (lo & TABLE_FLAGS);
    s[k + 1] = mfn >>> 20;
    this.nShadowed++;
    return backed;
  }

  /** Park entry `i` at scratch (dropping the old subtree) until it is whole again. */
  private park(page: ShadowPage, i: number): void {
    this.nParked++;
    const s = page.shadow;
    if (page.level === PPGTT_LEVEL_PT) {
      if (page.ips) {
        if ((i & 15) !== 0) return;
        for (let j = 0; j < 16; j++) {
          s[2 * (i + j)] = this.scratchLo[PPGTT_LEVEL_PT];
          s[2 * (i + j) + 1] = this.scratchHi[PPGTT_LEVEL_PT];
        }
      } else {
        s[2 * i] = this.scratchLo[PPGTT_LEVEL_PT];
        s[2 * i + 1] = this.scratchHi[PPGTT_LEVEL_PT];
      }
      this.nScratch++;
      return;
    }
    const oldLo = s[2 * i];
    const oldHi = s[2 * i + 1];
    s[2 * i] = this.scratchLo[page.level];
    s[2 * i + 1] = this.scratchHi[page.level];
    this.nScratch++;
    this.dropOld(page, oldLo, oldHi);
  }

  private markPending(page: ShadowPage, i: number, state: number): void {
    let p = page.pending;
    if (p === null) p = page.pending = new Uint8Array(ENTRIES);
    if (p[i] === PENDING_NONE) {
      if (page.pendingCount++ === 0 && !page.inPendingList) this.linkPending(page);
    }
    p[i] = state;
  }

  private clearPending(page: ShadowPage, i: number): void {
    page.pending![i] = PENDING_NONE;
    if (--page.pendingCount === 0 && page.inPendingList) this.unlinkPending(page);
  }

  /** Append `page` to the pending list. */
  private linkPending(page: ShadowPage): void {
    const tail = this.pendingTail;
    page.inPendingList = true;
    page.pendingPrev = tail;
    page.pendingNext = null;
    if (tail === null) this.pendingHead = page;
    else tail.pendingNext = page;
    this.pendingTail = page;
  }

  /** Remove `page` (in the list) from the pending list. */
  private unlinkPending(page: ShadowPage): void {
    const prev = page.pendingPrev;
    const next = page.pendingNext;
    if (prev === null) this.pendingHead = next;
    else prev.pendingNext = next;
    if (next === null) this.pendingTail = prev;
    else next.pendingPrev = prev;
    page.inPendingList = false;
    page.pendingPrev = null;
    page.pendingNext = null;
  }

  // ---------------------------------------------------------------- trapped guest writes

  /**
   * @internal The write-protect handler of every guest table page: shadow the bytes, let them
   * land (returns true). Never throws on guest input.
   */
  onGuestWrite(page: ShadowPage, gpa: Gpa, bytes: Uint8Array): boolean {
    this.nTraps++;
    page.writes++;
    const off = gpa - page.base;
    if (bytes.length === 8 && (off & 7) === 0) {
      const lo = (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
      const hi = (bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24)) >>> 0;
      this.writeEntry(page, off >>> 3, lo, hi);
    } else if (bytes.length === 4 && (off & 3) === 0) {
      // An aligned half, as `writeBytes` would handle it.
      const value = (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
      this.halfWrite(page, off >>> 3, (off & 4) === 0 ? PENDING_LO : PENDING_HI, value);
    } else {
      this.writeBytes(page, off, bytes);
    }
    if (this.outOfSync && page.level === PPGTT_LEVEL_PT && page.writes >= this.oosThreshold && !page.outOfSync && !page.freed) {
      this.goOutOfSync(page, off, bytes);
    }
    return true;
  }

  /** A whole entry written: shadow it (add before remove), keep the out-of-sync copy current. */
  private writeEntry(page: ShadowPage, i: number, lo: number, hi: number): void {
    if (page.pendingCount !== 0 && page.pending![i] !== PENDING_NONE) this.clearPending(page, i);
    const c = page.copy;
    if (c !== null) {
      c[2 * i] = lo;
      c[2 * i + 1] = hi;
    }
    if (!this.setEntry(page, i, lo, hi)) this.markPending(page, i, PENDING_SYNC);
  }

  /** Any other write: entries it covers whole are shadowed, halves and fragments park. */
  private writeBytes(page: ShadowPage, off: number, bytes: Uint8Array): void {
    const end = off + bytes.length;
    for (let e = off >>> 3; e * 8 < end; e++) {
      const eStart = e * 8;
      const from = Math.max(off, eStart);
      const to = Math.min(end, eStart + 8);
      const b = from - off;
      if (from === eStart && to === eStart + 8) {
        const lo = (bytes[b] | (bytes[b + 1] << 8) | (bytes[b + 2] << 16) | (bytes[b + 3] << 24)) >>> 0;
        const hi = (bytes[b + 4] | (bytes[b + 5] << 8) | (bytes[b + 6] << 16) | (bytes[b + 7] << 24)) >>> 0;
        this.writeEntry(page, e, lo, hi);
      } else if (to - from === 4 && (from & 3) === 0) {
        const value = (bytes[b] | (bytes[b + 1] << 8) | (bytes[b + 2] << 16) | (bytes[b + 3] << 24)) >>> 0;
        this.halfWrite(page, e, from === eStart ? PENDING_LO : PENDING_HI, value);
      } else {
        // A fragment: the entry is not whole until a full write or the next sync.
        if (page.pending === null || page.pending[e] === PENDING_NONE) this.park(page, e);
        this.markPending(page, e, PENDING_SYNC);
      }
    }
  }

  /** A 4-byte half of entry `e`: park until the other half arrives (or `sync`). */
  private halfWrite(page: ShadowPage, e: number, half: number, value: number): void {
    this.nHalfWrites++;
    const state = page.pending === null ? PENDING_NONE : page.pending[e];
    if (state === PENDING_NONE) {
      this.markPending(page, e, half);
      this.park(page, e);
      return;
    }
    if (state === half || state === PENDING_SYNC) {
      this.nParked++;
      return;
    }
    // The other half already landed in guest memory: the entry is whole.
    const g = page.guest;
    const lo = half === PENDING_LO ? value : g[2 * e] >>> 0;
    const hi = half === PENDING_HI ? value : g[2 * e + 1] >>> 0;
    this.writeEntry(page, e, lo, hi);
  }

  // ---------------------------------------------------------------- out-of-sync pages

  /** Drop the write protection of a PT written often; attach a copy first (GVT-g `ppgtt_set_guest_page_oos`). */
  private goOutOfSync(page: ShadowPage, off: number, bytes: Uint8Array): void {
    if (page.copy === null) {
      const copy = this.takeCopy();
      if (copy === null) return;
      copy.set(page.guest);
      // The write being handled lands after this handler returns: put it in the copy now.
      new Uint8Array(copy.buffer, copy.byteOffset, PAGE_SIZE).set(bytes, off);
      page.copy = copy;
      this.attached.add(page);
    }
    page.outOfSync = true;
    this.oosPages.add(page);
    this.ept.unprotect(page.gfn as Gfn);
    this.nOosEntered++;
  }

  /** A free copy from the pool, or the oldest attached one (its page synced first). */
  private takeCopy(): Uint32Array | null {
    const free = this.freeCopies.pop();
    if (free !== undefined) return free;
    if (this.copiesMade < this.oosPoolSize) {
      this.copiesMade++;
      return new Uint32Array(WORDS);
    }
    const oldest = this.attached.values().next();
    if (oldest.done) return null;
    const victim = oldest.value;
    if (victim.outOfSync) this.syncOosPage(victim, true);
    this.detachCopy(victim);
    this.nOosStolen++;
    return this.freeCopies.pop()!;
  }

  private detachCopy(page: ShadowPage): void {
    this.freeCopies.push(page.copy!);
    page.copy = null;
    page.writes = 0;
    this.attached.delete(page);
  }

  /** Re-protect an out-of-sync page and re-shadow what changed since its copy (GVT-g `sync_oos_page`). */
  private syncOosPage(page: ShadowPage, removeFromSet: boolean): void {
    page.outOfSync = false;
    if (removeFromSet) this.oosPages.delete(page);
    this.ept.writeProtect(page.gfn as Gfn, page.handler);
    this.diffCopy(page);
  }

  /**
   * Re-shadow the entries of `page` whose guest value differs from its copy, and update the copy
   * (GVT-g `sync_oos_page`'s loop): the resync of an out-of-sync page, and of every page of an
   * untrapped guest at submission.
   */
  private diffCopy(page: ShadowPage): void {
    const g = page.guest;
    const c = page.copy!;
    // Most pages did not change since the last sync: one native compare of the 4 KiB first.
    const gb = page.guestBytes ??= Buffer.from(g.buffer, g.byteOffset, PAGE_SIZE);
    if (gb.equals(Buffer.from(c.buffer, c.byteOffset, PAGE_SIZE))) {
      page.writes = 0;
      return;
    }
    for (let k = 0; k < WORDS; k += 2) {
      const lo = g[k];
      const hi = g[k + 1];
      if (lo === c[k] && hi === c[k + 1]) continue;
      c[k] = lo;
      c[k + 1] = hi;
      const i = k >>> 1;
      if (page.pendingCount !== 0 && page.pending![i] !== PENDING_NONE) this.clearPending(page, i);
      if (!this.setEntry(page, i, lo >>> 0, hi >>> 0)) this.markPending(page, i, PENDING_SYNC);
      this.nOosResynced++;
    }
    page.writes = 0;
  }

  // ---------------------------------------------------------------- EPT unmaps

  /**
   * The EPT unmapped a guest frame backed by host frame `mfn`: leaf shadow entries naming it go
   * to scratch now (before the frame can be reused), and are re-shadowed at the next `sync`.
   */
  private invalidateFrame(gfn: number, mfn: number): void {
    if (!(gfn >= 0 && gfn < this.referenced.length) || this.referenced[gfn] === 0) return;
    this.referenced[gfn] = 0;
    for (const page of this.byMfn.values()) {
      const s = page.shadow;
      if (page.level === PPGTT_LEVEL_PT) {
        for (let k = 0; k < WORDS; k += 2) {
          const lo = s[k];
          if ((lo & PTE_PRESENT) === 0 || ((lo >>> 12) | ((s[k + 1] & 0x7f) << 20)) !== mfn) continue;
          s[k] = this.scratchLo[PPGTT_LEVEL_PT];
          s[k + 1] = this.scratchHi[PPGTT_LEVEL_PT];
          this.nInvalidated++;
          if (page.gfn >= 0) {
            const i = k >>> 1;
            this.markPending(page, page.ips ? i & ~15 : i, PENDING_SYNC);
          } else if (page.parent !== null && !page.parent.freed) {
            this.markPending(page.parent, page.parentIndex, PENDING_SYNC);
          }
        }
      } else if (page.level === PPGTT_LEVEL_PD && page.huge !== 0) {
        for (let k = 0; k < WORDS; k += 2) {
          const lo = s[k];
          if ((lo & (PTE_PRESENT | PDE_PS)) !== (PTE_PRESENT | PDE_PS)) continue;
          const m0 = (lo >>> 12 & ~(FRAMES_2M - 1)) | ((s[k + 1] & 0x7f) << 20);
          if (mfn < m0 || mfn >= m0 + FRAMES_2M) continue;
          s[k] = this.scratchLo[PPGTT_LEVEL_PD];
          s[k + 1] = this.scratchHi[PPGTT_LEVEL_PD];
          page.huge--;
          this.nInvalidated++;
          this.markPending(page, k >>> 1, PENDING_SYNC);
        }
      }
    }
  }
}

/** Frame of a root value (bits 38:12), or -1 when it is not a usable number. */
function rootFrame(v: number): number {
  if (!(Number.isSafeInteger(v) && v > 0)) return -1;
  return ((v >>> 12) | ((Math.floor(v / TWO_POW_32) & 0x7f) << 20)) >>> 0;
}
