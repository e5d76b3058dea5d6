/**
 * The vGPU's GT side, driven through its MMIO the way an unmodified i915 guest (Linux 6.1) drives
 * it while it probes and initialises the GT (issue 15: Debian's i915 wedged the GT at init, "rcs'0
 * reset request timed out: {RESET_CTL: 00000001}"). Each helper below replays what the named i915
 * function reads, writes and polls; a poll is a bounded number of reads (i915's timeout), never a
 * timed wait. Then: a vGPU's GDRST resets its own work only (isolation).
 */
import t from 'tap';
import { miStoreDataImm } from '../lib/device/commands/index.js';
import { GEN9_ENGINES, type EngineInfo, type EngineName } from '../lib/device/engines.js';
import { CtxReg, writeContextValue } from '../lib/device/lrc.js';
import { Bits, REG, RING, SKL_GT2_SSEU, TIMESTAMP_HZ, fenceReg, gtImr } from '../lib/device/registers.js';
import { Harness, type TestGuest } from '../lib/harness/index.js';
import { VGT_MAGIC_LO, VGT_PVINFO_PAGE } from '../lib/mediator/pvinfo.js';
import type { Vgpu } from '../lib/mediator/vgpu.js';
import { GT_RESET_END } from '../lib/mediator/vgpu-gt.js';
import type { Workload } from '../lib/mediator/workload.js';
import { PAGE_SIZE } from '../lib/types.js';

const MiB = 1024 * 1024;
const hex = (n: number): string => '0x' + (n >>> 0).toString(16).padStart(8, '0');
/** i915 `_MASKED_BIT_ENABLE` / `_MASKED_BIT_DISABLE`. */
const maskedOn = (bit: number): number => ((bit << 16) | bit) >>> 0;
const maskedOff = (bit: number): number => (bit << 16) >>> 0;

/** The engines of i915 6.1's skl_gt2_info (PCI 0x1912): RCS0, BCS0, VCS0, VECS0 (no VCS1 on a GT2). */
const GT2_ENGINES = GEN9_ENGINES.filter((e) => e.name !== 'vcs2');

/** `__intel_wait_for_register_fw`: true once `(reg & mask) === value`, within `polls` reads. */
function waitFor(v: Vgpu, reg: number, mask: number, value: number, polls = 16): boolean {
  for (let i = 0; i < polls; i++) if ((v.mmioRead(reg, 4) & mask) === value) return true;
  return false;
}

/**
 * i915 6.1 `gen8_reset_engines` (gt/intel_reset.c) for `engines`, or every engine with
 * GEN6_GRDOM_FULL: `gen8_engine_reset_prepare` on each, `__gen6_reset_engines` →
 * `gen6_hw_domain_reset` (GDRST written and polled twice), `gen8_engine_reset_cancel` on each.
 * Returns the messages i915 would log (empty: the reset went through).
 */
function i915ResetEngines(v: Vgpu, engines: readonly EngineInfo[] | 'all'): string[] {
  const errors: string[] = [];
  const list = engines === 'all' ? GT2_ENGINES : engines;
  for (const e of list) {
    const reg = e.mmioBase + RING.RESET_CTL;
    const ack = v.mmioRead(reg, 4);
    if ((ack & Bits.RESET_CTL_CAT_ERROR) !== 0) {
      v.mmioWrite(reg, 4, maskedOn(Bits.RESET_CTL_CAT_ERROR));
      if (!waitFor(v, reg, Bits.RESET_CTL_CAT_ERROR, 0)) errors.push(`${e.name} catastrophic error not cleared`);
    } else if ((ack & Bits.RESET_CTL_READY_TO_RESET) === 0) {
      v.mmioWrite(reg, 4, maskedOn(Bits.RESET_CTL_REQUEST_RESET));
      if (!waitFor(v, reg, Bits.RESET_CTL_READY_TO_RESET, Bits.RESET_CTL_READY_TO_RESET)) {
        errors.push(`${e.name} reset request timed out: {request: 00000001, RESET_CTL: ${hex(v.mmioRead(reg, 4))}}`);
      }
    }
  }
  if (errors.length === 0) {
    const hwMask = engines === 'all' ? Bits.GEN6_GRDOM_FULL : list.reduce((m, e) => m | (1 << e.resetDomainBit), 0);
    errors.push(...i915HwDomainReset(v, hwMask));
  }
  for (const e of list) v.mmioWrite(e.mmioBase + RING.RESET_CTL, 4, maskedOff(Bits.RESET_CTL_REQUEST_RESET));
  return errors;
}

/** i915 6.1 `gen6_hw_domain_reset`: GDRST written, polled until the bits clear, twice. */
function i915HwDomainReset(v: Vgpu, hwMask: number): string[] {
  for (let loops = 2; loops > 0; loops--) {
    v.mmioWrite(REG.GEN6_GDRST, 4, hwMask);
    if (!waitFor(v, REG.GEN6_GDRST, hwMask, 0)) return [`Wait for ${hex(hwMask)} engines reset failed`];
  }
  return [];
}

/** i915 6.1 `intel_reset_guc` then `__intel_uc_reset_hw`'s check: the WARN it would print, if any. */
function i915ResetGuc(v: Vgpu): string[] {
  const errors = i915HwDomainReset(v, Bits.GEN9_GRDOM_GUC);
  const status = v.mmioRead(REG.GUC_STATUS, 4);
  if ((status & Bits.GS_MIA_IN_RESET) === 0) errors.push(`GuC status: ${hex(status)}, MIA core expected to be in reset`);
  return errors;
}

/** i915 6.1 `intel_engine_stop_cs`: STOP_RING, then MODE_IDLE polled (1 ms, then 100 ms). */
function i915StopCs(v: Vgpu, e: EngineInfo): boolean {
  const mode = e.mmioBase + RING.MI_MODE;
  v.mmioWrite(mode, 4, maskedOn(Bits.STOP_RING));
  return waitFor(v, mode, Bits.MODE_IDLE, Bits.MODE_IDLE);
}

/** What i915 6.1 `gen9_sseu_info_init` (gt/intel_sseu.c) derives for a big-core gen9 part. */
function i915Gen9Sseu(v: Vgpu): { sliceMask: number; subsliceMask: number[]; euMask: number[][]; euTotal: number; euPerSubslice: number; hasEuPg: boolean } {
  const maxSlices = 3, maxSubslices = 4, maxEus = 8;
  const fuse2 = v.mmioRead(REG.GEN8_FUSE2, 4);
  const sliceMask = (fuse2 & Bits.GEN8_F2_S_ENA_MASK) >>> Bits.GEN8_F2_S_ENA_SHIFT;
  const ssMask = ((1 << maxSubslices) - 1) & ~((fuse2 & Bits.GEN9_F2_SS_DIS_MASK) >>> Bits.GEN9_F2_SS_DIS_SHIFT);
  const subsliceMask: number[] = [], euMask: number[][] = [];
  let euTotal = 0, subsliceTotal = 0;
  for (let s = 0; s < maxSlices; s++) {
    subsliceMask.push(0);
    euMask.push([0, 0, 0, 0]);
    if ((sliceMask & (1 << s)) === 0) continue;
    subsliceMask[s] = ssMask;
    const euDisable = v.mmioRead(REG.GEN9_EU_DISABLE0 + 4 * s, 4);
    for (let ss = 0; ss < maxSubslices; ss++) {
      if ((ssMask & (1 << ss)) === 0) continue;
      subsliceTotal++;
      const disabled = (euDisable >>> (ss * 8)) & 0xff;
      euMask[s][ss] = ~disabled & ((1 << maxEus) - 1);
      euTotal += maxEus - popcount(disabled);
    }
  }
  const euPerSubslice = subsliceTotal ? Math.ceil(euTotal / subsliceTotal) : 0;
  return { sliceMask, subsliceMask, euMask, euTotal, euPerSubslice, hasEuPg: euPerSubslice > 2 };
}

function popcount(x: number): number {
  let n = 0;
  for (let b = x >>> 0; b !== 0; b &= b - 1) n++;
  return n;
}

/** i915 6.1 `gen9_read_clock_frequency` (gt/intel_gt_clock_utils.c), big-core (24 MHz crystal). */
function i915Gen9ClockFrequency(v: Vgpu): number {
  const ctc = v.mmioRead(REG.CTC_MODE, 4);
  if ((ctc & 1) === Bits.CTC_SOURCE_DIVIDE_LOGIC) return -1; // would read GEN9_TIMESTAMP_OVERRIDE
  return Math.floor(24_000_000 / 2 ** (3 - ((ctc & Bits.CTC_SHIFT_PARAMETER_MASK) >>> Bits.CTC_SHIFT_PARAMETER_SHIFT)));
}

/**
 * i915 6.1 `wa_list_apply` + `wa_verify` of the Skylake GT workarounds (`skl_gt_workarounds_init`:
 * the MCR selector from the sseu, GAM_ECOCHK, MMCD_MISC_CTRL, GEN7_UCGCTL4): read-modify-write,
 * then read back. Returns the "workaround lost" messages.
 */
function i915GtWorkarounds(v: Vgpu, sseu: ReturnType<typeof i915Gen9Sseu>): string[] {
  const slice = Math.log2(sseu.sliceMask & -sseu.sliceMask);
  const subslice = Math.log2(sseu.subsliceMask[slice] & -sseu.subsliceMask[slice]);
  const mcr = ((slice & 3) << 26) | ((subslice & 3) << 24);
  const mcrMask = (3 << 26) | (3 << 24);
  const list: [number, number, number][] = [
    [REG.GEN8_MCR_SELECTOR, mcrMask, mcr],
    [0x4090, 1 << 8, 1 << 8], // GAM_ECOCHK: WaDisableKillLogic
    [0x4ddc, (1 << 31) | (1 << 27), (1 << 31) | (1 << 27)], // MMCD_MISC_CTRL
    [0x4090, 1 << 25, 1 << 25], // GAM_ECOCHK: WaDisableHDCInvalidation
    [0x940c, 1 << 14, 1 << 14], // GEN7_UCGCTL4: WaDisableGafsUnitClkGating
  ];
  for (const [reg, clr, set] of list) {
    const old = v.mmioRead(reg, 4);
    const val = ((old & ~clr) | set) >>> 0;
    if (val !== old) v.mmioWrite(reg, 4, val);
  }
  const lost: string[] = [];
  for (const [reg, clr, set] of list) {
    const cur = v.mmioRead(reg, 4);
    if (((cur ^ set) & (clr | set)) !== 0) lost.push(`GT workaround lost on init! (reg[${reg.toString(16)}]=${hex(cur)})`);
  }
  return lost;
}

/** Host registers, for "nothing reached the host" checks. */
function hostRegs(h: Harness): Uint32Array {
  return h.device.regs.snapshot();
}

function changedDwords(a: Uint32Array, b: Uint32Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(hex(i * 4));
  return out;
}

/** Count host engine resets (the device's per-engine `reset`). */
function spyEngineResets(h: Harness): number[] {
  const counts = h.device.engines.map(() => 0);
  h.device.engines.forEach((e, i) => {
    const orig = e.reset.bind(e);
    e.reset = () => {
      counts[i]++;
      orig();
    };
  });
  return counts;
}

/** Run simulated time until `pred()` (at most `maxNs`). */
function runUntil(h: Harness, pred: () => boolean, maxNs = 1e9): boolean {
  const clock = h.device.clock;
  const end = clock.now + maxNs;
  while (!pred()) {
    const next = clock.nextTime();
    if (next === Infinity || next > end) return pred();
    clock.step();
  }
  return true;
}

/** A long render workload of `g`: `n` stores into `buf` (the last value is `base + n - 1`). */
function longStores(g: TestGuest, n: number, base: number): { gpa: number; last: number; lastAt: number } {
  const buf = g.ppgttBuffer(PAGE_SIZE);
  const cmds: number[] = [];
  for (let i = 0; i < n; i++) cmds.push(...miStoreDataImm(buf.gma + 4 * (i % 256), [base + i]));
  g.submit('rcs', cmds);
  return { gpa: buf.gpa, last: base + n - 1, lastAt: buf.gpa + 4 * ((n - 1) % 256) };
}

/** The guest side of an engine reset, as i915's `intel_engine_resume` (execlists on, HWSP) and a ring skipped to its tail. */
function guestResumeEngine(g: TestGuest, name: EngineName): void {
  const e = g.engine(name);
  const bus = g.driver.bus;
  bus.mmioWrite(e.engine.mmioBase + RING.GFX_MODE, 4, maskedOn(Bits.GFX_RUN_LIST_ENABLE));
  if (e.hwsp) bus.mmioWrite(e.engine.mmioBase + RING.HWS_PGA, 4, e.hwsp.gma);
  writeContextValue(e.view(), e.context.gma, CtxReg.RING_HEAD, e.tail);
  e.deferred = false;
}

t.test('i915 6.1 probe: every GT register it waits on or derives a capability from answers as GVT-g does', async (t) => {
  const h = new Harness();
  const g = h.addGuest({ name: 'guest', ramBytes: 16 * MiB });
  const v = g.vgpu;
  const host = hostRegs(h);
  const untracked = v.vregs.stats.untrackedReads;

  // i915_driver_mmio_probe → intel_gt_init_mmio: clock, sseu.
  t.equal(i915Gen9ClockFrequency(v), TIMESTAMP_HZ, 'CTC_MODE gives the 12 MHz the device\'s timestamps run at');
  const sseu = i915Gen9Sseu(v);
  t.equal(sseu.sliceMask, SKL_GT2_SSEU.sliceMask, 'one slice (zero fuses would mean no slice at all)');
  t.same(sseu.subsliceMask, [SKL_GT2_SSEU.subsliceMask, 0, 0], 'three subslices in slice 0');
  t.same(sseu.euMask[0], [0xff, 0xff, 0xff, 0], 'eight EUs in each');
  t.equal(sseu.euTotal, 24, 'a GT2: 24 EUs');
  t.equal(sseu.euPerSubslice, SKL_GT2_SSEU.eusPerSubslice);
  t.ok(sseu.hasEuPg);

  // sanitize_gpu: __intel_gt_reset(gt, ALL_ENGINES).
  t.same(i915ResetEngines(v, 'all'), [], 'the full reset at probe goes through (no "reset request timed out")');

  // i915_driver_hw_probe → i915_ggtt_probe_hw → gen8_gmch_probe: the GGTT size from GGC's GGMS
  // (2^GGMS MiB of 8-byte PTEs), the aperture from BAR2; stolen memory from GMS (none for a vGPU).
  const ggc = v.pciConfigRead(0x50, 2);
  const ggms = (ggc >>> 6) & 3;
  const ggttTotal = ggms ? ((1 << ggms) * MiB / 8) * PAGE_SIZE : 0;
  t.equal(ggttTotal, 4 * 1024 * MiB, 'GGC: a 4 GiB GGTT (8 MiB of PTEs, the BAR0 GTT window)');
  t.ok(h.device.apertureSize <= ggttTotal, 'the aperture lies inside the GGTT ("mappable aperture extends past end of GGTT" otherwise)');
  t.equal((ggc >>> 8) & 0xff, 0, 'GMS 0: no stolen memory, as intel_vgpu_init_cfg_space shows a vGPU');
  // i915_driver_hw_probe: intel_dram_edram_detect.
  t.equal(v.mmioRead(REG.HSW_EDRAM_CAP, 4) & 1, 0, 'no eDRAM on a GT2');
  // intel_gt_init → intel_gt_pm_init → gen6_rps_init: RP0 <= RPn leaves RPS off.
  const cap = v.mmioRead(REG.GEN6_RP_STATE_CAP, 4);
  t.ok((cap & 0xff) <= ((cap >>> 16) & 0xff), 'RP caps leave the guest\'s RPS disabled (no reclocking through a vGPU)');
  // intel_gt_resume → gt_sanitize: the GuC reset (uc "supported" on SKL even with enable_guc=0),
  // then each engine's reset.prepare (intel_engine_stop_cs), then the full reset again.
  t.same(i915ResetGuc(v), [], 'the GuC domain reset is acknowledged and GUC_STATUS shows MIA_IN_RESET (no WARN)');
  for (const e of GT2_ENGINES) t.ok(i915StopCs(v, e), `${e.name}: STOP_RING → MODE_IDLE at once (no 100 ms stop_timeout)`);
  t.same(i915ResetEngines(v, 'all'), [], 'gt_sanitize\'s full reset goes through');
  // intel_gt_init_hw: __uc_check_hw (uc off) must not find the WOPCM locked.
  t.equal((v.mmioRead(REG.GUC_WOPCM_SIZE, 4) | v.mmioRead(REG.DMA_GUC_WOPCM_OFFSET, 4)) & 1, 0, 'GuC WOPCM not locked: uc stays off quietly');
  // intel_gt_apply_workarounds + intel_gt_verify_workarounds(gt, "init").
  t.same(i915GtWorkarounds(v, sseu), [], 'the GT workarounds stick (MCR selector steered at slice 0 / subslice 0)');
  // intel_engine_resume → enable_execlists clears STOP_RING; the engine keeps reading idle.
  for (const e of GT2_ENGINES) {
    v.mmioWrite(e.mmioBase + RING.MI_MODE, 4, maskedOff(Bits.STOP_RING));
    t.equal(v.mmioRead(e.mmioBase + RING.MI_MODE, 4) & (Bits.STOP_RING | Bits.MODE_IDLE), Bits.MODE_IDLE, `${e.name}: running, idle`);
  }
  t.equal(v.mmioRead(REG.GEN6_GT_CORE_STATUS, 4) & 7, 0, 'GT core in C0');

  t.equal(v.vregs.stats.untrackedReads, untracked, 'the probe read no untracked register');
  t.same(changedDwords(host, hostRegs(h)), [], 'nothing of it reached a host register');
  t.equal(v.state, 'active');
});

t.test('RESET_CTL: request → ready to reset on every engine, cancel withdraws it; only REQUEST_RESET is writable', async (t) => {
  const h = new Harness();
  const v = h.addGuest({ name: 'guest', ramBytes: 16 * MiB }).vgpu;
  const host = hostRegs(h);
  for (const e of GEN9_ENGINES) {
    const reg = e.mmioBase + RING.RESET_CTL;
    t.equal(v.mmioRead(reg, 4), 0, `${e.name}: nothing requested at creation`);
    v.mmioWrite(reg, 4, maskedOn(Bits.RESET_CTL_REQUEST_RESET));
    t.equal(v.mmioRead(reg, 4), Bits.RESET_CTL_REQUEST_RESET | Bits.RESET_CTL_READY_TO_RESET, `${e.name}: ready at once`);
    v.mmioWrite(reg, 4, Bits.RESET_CTL_REQUEST_RESET);
    t.equal(v.mmioRead(reg, 4) & Bits.RESET_CTL_REQUEST_RESET, Bits.RESET_CTL_REQUEST_RESET, `${e.name}: a write without mask changes nothing`);
    v.mmioWrite(reg, 4, maskedOff(Bits.RESET_CTL_REQUEST_RESET));
    t.equal(v.mmioRead(reg, 4), 0, `${e.name}: the cancel withdraws the acknowledge`);
    v.mmioWrite(reg, 4, maskedOn(Bits.RESET_CTL_READY_TO_RESET | Bits.RESET_CTL_CAT_ERROR));
    t.equal(v.mmioRead(reg, 4), 0, `${e.name}: READY_TO_RESET and CAT_ERROR are not the guest's to set`);
    t.same(i915ResetEngines(v, [e]), [], `${e.name}: i915's per-engine reset goes through`);
    t.equal(v.mmioRead(reg, 4), 0, `${e.name}: cancelled after the reset`);
  }
  t.same(changedDwords(host, hostRegs(h)), [], 'no host RESET_CTL (or anything) was touched');
});

t.test('forcewake: each GEN9 domain acknowledges its request in the vGPU only', async (t) => {
  const h = new Harness();
  const v = h.addGuest({ name: 'guest', ramBytes: 16 * MiB }).vgpu;
  const host = hostRegs(h);
  const FORCEWAKE_KERNEL = 1 << 0, USER = 1 << 1;
  for (const [req, ack] of [
    [REG.FORCEWAKE_RENDER_GEN9, REG.FORCEWAKE_ACK_RENDER_GEN9],
    [REG.FORCEWAKE_MEDIA_GEN9, REG.FORCEWAKE_ACK_MEDIA_GEN9],
    [REG.FORCEWAKE_BLITTER_GEN9, REG.FORCEWAKE_ACK_BLITTER_GEN9],
  ] as const) {
    // intel_uncore.c fw_domain_get: masked enable, then wait for the kernel bit in the ack.
    v.mmioWrite(req, 4, maskedOn(FORCEWAKE_KERNEL));
    t.ok(waitFor(v, ack, FORCEWAKE_KERNEL, FORCEWAKE_KERNEL), `${hex(req)}: acknowledged at ${hex(ack)}`);
    v.mmioWrite(req, 4, maskedOn(USER));
    t.equal(v.mmioRead(ack, 4), FORCEWAKE_KERNEL | USER, 'the ack mirrors the request bits');
    v.mmioWrite(ack, 4, 0);
    t.equal(v.mmioRead(ack, 4), FORCEWAKE_KERNEL | USER, 'the ack is read-only to the guest');
    v.mmioWrite(req, 4, maskedOff(FORCEWAKE_KERNEL | USER));
    t.ok(waitFor(v, ack, FORCEWAKE_KERNEL, 0), 'release acknowledged');
  }
  t.same(changedDwords(host, hostRegs(h)), [], 'the host\'s forcewake registers are untouched');
});

t.test('TLB invalidation (mmio_invalidate_full): each engine\'s request reads 0 at once', async (t) => {
  const h = new Harness();
  const v = h.addGuest({ name: 'guest', ramBytes: 16 * MiB }).vgpu;
  const host = hostRegs(h);
  // GEN8_RTCR, GEN8_M1TCR, GEN8_M2TCR, GEN8_BTCR, GEN8_VTCR.
  for (let i = 0; i < 5; i++) {
    const reg = REG.TLB_INV_RCS + 4 * i;
    v.mmioWrite(reg, 4, 1);
    t.ok(waitFor(v, reg, 1, 0, 1), `${hex(reg)}: invalidation done`);
  }
  t.same(changedDwords(host, hostRegs(h)), [], 'no host register written');
});

t.test('RING_TIMESTAMP of the vGPU ticks at the frequency i915 derives from CTC_MODE', async (t) => {
  const h = new Harness();
  const v = h.addGuest({ name: 'guest', ramBytes: 16 * MiB }).vgpu;
  const hz = i915Gen9ClockFrequency(v);
  for (const e of GEN9_ENGINES) {
    const reg = e.mmioBase + RING.TIMESTAMP;
    const read64 = (): number => v.mmioRead(reg + 4, 4) * 2 ** 32 + v.mmioRead(reg, 4);
    const before = read64();
    h.run(2_000_000);
    t.equal(read64() - before, (hz * 2_000_000) / 1e9, `${e.name}: 2 ms of simulated time are ${(hz * 2e6) / 1e9} ticks at ${hz} Hz`);
  }
});

t.test('GUC_STATUS: a GuC domain reset shows MIA_IN_RESET to one read (GVT-g guc_status_read)', async (t) => {
  const h = new Harness();
  const v = h.addGuest({ name: 'guest', ramBytes: 16 * MiB }).vgpu;
  t.equal(v.mmioRead(REG.GUC_STATUS, 4) & Bits.GS_MIA_IN_RESET, Bits.GS_MIA_IN_RESET, 'in reset at creation');
  t.equal(v.mmioRead(REG.GUC_STATUS, 4) & Bits.GS_MIA_IN_RESET, 0, 'cleared by the read');
  t.same(i915ResetGuc(v), [], 'a GuC reset sets it again');
  t.equal(v.mmioRead(REG.GUC_STATUS, 4), 0, 'then clear');
  v.mmioWrite(REG.GUC_STATUS, 4, 0xffffffff);
  t.equal(v.mmioRead(REG.GUC_STATUS, 4), 0, 'read-only');
});

t.test('GDRST of one engine domain: the vGPU\'s work there is dropped, its engine state reset; other engines keep theirs', async (t) => {
  const h = new Harness();
  const g = h.addGuest({ name: 'guest', ramBytes: 32 * MiB });
  const v = g.vgpu;
  const rcs = GEN9_ENGINES[0], bcs = GEN9_ENGINES[1];
  // Queued work on both engines (nothing has run yet).
  const done: Workload[] = [];
  h.mediator.onWorkloadDone((w) => done.push(w));
  const r = longStores(g, 50, 0x100);
  const b = g.ppgttBuffer(PAGE_SIZE);
  g.submit('bcs', miStoreDataImm(b.gma, [0xb0b]));
  v.mmioWrite(rcs.mmioBase + RING.HWS_PGA, 4, 0x5000);
  const bcsHws = v.mmioRead(bcs.mmioBase + RING.HWS_PGA, 4);
  t.same(i915ResetEngines(v, [rcs]), [], 'i915\'s render engine reset goes through');
  t.equal(v.mmioRead(REG.GEN6_GDRST, 4), 0, 'GDRST reads 0: done');
  const rcsDone = done.filter((w) => w.engine.id === 0);
  t.ok(rcsDone.length > 0 && rcsDone.every((w) => w.status === 'failed' && w.failure?.rule === 'reset'), 'its render work was dropped by the reset');
  t.equal(v.mmioRead(rcs.mmioBase + RING.HWS_PGA, 4), 0, 'the render engine\'s registers are back to their reset values');
  t.equal(v.mmioRead(rcs.mmioBase + RING.GFX_MODE, 4) & Bits.GFX_RUN_LIST_ENABLE, 0, 'execlists off until the guest enables them again');
  t.equal(v.mmioRead(bcs.mmioBase + RING.HWS_PGA, 4), bcsHws, 'the blitter keeps its registers');
  t.ok(h.runUntilIdle(), 'the blitter work runs');
  t.equal(g.memory.read32(b.gpa), 0xb0b, 'the blitter store landed');
  t.not(g.memory.read32(r.lastAt), r.last, 'the dropped render work did not run');
  // The guest resumes the engine as i915 does after a reset; its next render work runs.
  guestResumeEngine(g, 'rcs');
  const again = g.ppgttBuffer(PAGE_SIZE);
  g.submit('rcs', miStoreDataImm(again.gma, [0xa9a1]));
  t.ok(h.runUntilIdle());
  t.equal(g.memory.read32(again.gpa), 0xa9a1, 'render works again after the reset');
});

t.test('GDRST full: the vGPU\'s whole GT is reset (GT registers below 0x44200, PVINFO); its GGTT, fences and interrupt registers stay', async (t) => {
  const h = new Harness();
  const g = h.addGuest({ name: 'guest', ramBytes: 32 * MiB });
  const v = g.vgpu;
  const buf = g.buffer(PAGE_SIZE);
  g.driver.writeRam32(buf.gpa, [0x5eed]);
  v.mmioWrite(REG.GEN8_MCR_SELECTOR, 4, 1 << 24);
  v.mmioWrite(0x4090, 4, 1 << 8);
  for (const e of GEN9_ENGINES) v.mmioWrite(e.mmioBase + RING.HWS_PGA, 4, 0x7000);
  v.mmioWrite(fenceReg(0), 4, 0x1001);
  v.mmioWrite(gtImr(0), 4, 0x1234);
  v.mmioWrite(VGT_PVINFO_PAGE + 0x838, 4, 0xabc000); // a PDP the guest wrote for a g2v notification
  const imr = v.mmioRead(gtImr(0), 4);
  const done: Workload[] = [];
  h.mediator.onWorkloadDone((w) => done.push(w));
  longStores(g, 20, 0x1);
  const bb = g.ppgttBuffer(PAGE_SIZE);
  g.submit('bcs', miStoreDataImm(bb.gma, [1]));
  t.same(i915ResetEngines(v, 'all'), [], 'i915\'s full reset goes through');
  t.ok(done.length >= 2 && done.every((w) => w.failure?.rule === 'reset'), 'every engine\'s work of the vGPU was dropped');
  t.equal(v.mmioRead(REG.GEN8_MCR_SELECTOR, 4), 0, 'GT registers back to their reset values');
  t.equal(v.mmioRead(0x4090, 4), 0);
  for (const e of GEN9_ENGINES) t.equal(v.mmioRead(e.mmioBase + RING.HWS_PGA, 4), 0, `${e.name} registers reset`);
  t.equal(v.mmioRead(fenceReg(0), 4), 0x1001, 'fences are not reset (GVT-g: "fence will not be reset during virtual reset")');
  t.equal(v.mmioRead(gtImr(0), 4), imr, 'interrupt registers (from 0x44200 on) are kept');
  t.ok(GT_RESET_END === REG.GEN8_MASTER_IRQ, 'the restored range ends at GEN8_MASTER_IRQ');
  t.equal(v.mmioRead(VGT_PVINFO_PAGE + 0x838, 4), 0, 'the PVINFO page is filled again');
  t.equal(v.mmioRead(VGT_PVINFO_PAGE, 4), VGT_MAGIC_LO, 'with its magic');
  t.equal(v.readGuestGma32(buf.gma), 0x5eed, 'the GGTT mapping is kept');
  t.equal(v.state, 'active');
  t.equal(v.mmioRead(REG.GUC_STATUS, 4) & Bits.GS_MIA_IN_RESET, Bits.GS_MIA_IN_RESET, 'the GuC is back in reset, as at creation');
});

t.test('isolation: a vGPU\'s GDRST never resets the host engine under another vGPU\'s running work', async (t) => {
  const h = new Harness();
  const victim = h.addGuest({ name: 'victim', ramBytes: 32 * MiB });
  const attacker = h.addGuest({ name: 'attacker', ramBytes: 32 * MiB });
  const resets = spyEngineResets(h);
  const work = longStores(victim, 400, 0x1000);
  t.ok(runUntil(h, () => h.mediator.inflightOn(0)?.vgpuId === victim.vgpu.id && h.device.engines[0].busy), 'the victim\'s long workload is on the render engine');
  const victimRegs = victim.vgpu.vregs.snapshot();
  const gdrstWrites: number[] = [];
  const hostWrite = h.device.regs.write.bind(h.device.regs);
  h.device.regs.write = (offset: number, size: number, value: number) => {
    if (offset === REG.GEN6_GDRST) gdrstWrites.push(value);
    hostWrite(offset, size, value);
  };
  // Everything at once, then each domain, through i915's own sequences and raw writes.
  t.same(i915ResetEngines(attacker.vgpu, 'all'), []);
  for (const e of GEN9_ENGINES) t.same(i915ResetEngines(attacker.vgpu, [e]), []);
  attacker.vgpu.mmioWrite(REG.GEN6_GDRST, 4, 0xffffffff);
  attacker.vgpu.mmioWrite(REG.GEN6_GDRST, 4, Bits.GEN9_GRDOM_GUC);
  t.same(resets, [0, 0, 0, 0, 0], 'no host engine was reset');
  t.same(gdrstWrites, [], 'the host GDRST was never written');
  t.same(changedDwords(victimRegs, victim.vgpu.vregs.snapshot()), [], 'the victim\'s registers are untouched');
  t.equal(h.mediator.inflightOn(0)?.vgpuId, victim.vgpu.id, 'the victim\'s workload is still running');
  t.ok(h.runUntilIdle());
  t.equal(victim.memory.read32(work.lastAt), work.last, 'the victim\'s workload ran to its end');
});

t.test('isolation: a vGPU\'s GDRST stops its own running work; the other vGPU\'s work queued behind it runs', async (t) => {
  const h = new Harness();
  const victim = h.addGuest({ name: 'victim', ramBytes: 32 * MiB });
  const resetter = h.addGuest({ name: 'resetter', ramBytes: 32 * MiB });
  const resets = spyEngineResets(h);
  const done: Workload[] = [];
  h.mediator.onWorkloadDone((w) => done.push(w));
  const own = longStores(resetter, 400, 0x2000);
  t.ok(runUntil(h, () => h.mediator.inflightOn(0)?.vgpuId === resetter.vgpu.id && h.device.engines[0].busy), 'the resetter\'s workload is on the render engine');
  const work = longStores(victim, 50, 0x3000);
  const vb = victim.ppgttBuffer(PAGE_SIZE);
  victim.submit('bcs', miStoreDataImm(vb.gma, [0xb1]));
  t.same(i915ResetEngines(resetter.vgpu, [GEN9_ENGINES[0]]), [], 'its render reset goes through');
  t.same(resets, [1, 0, 0, 0, 0], 'the render engine was reset once, to stop the resetter\'s own workload');
  const mine = done.filter((w) => w.vgpuId === resetter.vgpu.id);
  t.ok(mine.length === 1 && mine[0].status === 'failed' && mine[0].failure?.rule === 'reset', 'the resetter\'s workload was stopped');
  t.notOk(done.some((w) => w.vgpuId === victim.vgpu.id && w.status === 'failed'), 'no work of the victim failed');
  t.ok(h.runUntilIdle());
  t.equal(victim.memory.read32(work.lastAt), work.last, 'the victim\'s render work ran');
  t.equal(victim.memory.read32(vb.gpa), 0xb1, 'the victim\'s blitter work ran');
  t.not(resetter.memory.read32(own.lastAt), own.last, 'the resetter\'s stopped workload did not finish');
  t.ok(done.filter((w) => w.vgpuId === victim.vgpu.id).every((w) => w.status === 'completed'));
});

t.test('gtt_write_workarounds: HSW_GTT_CACHE_EN reads back what i915 wrote (no drm_WARN_ON_ONCE)', async (t) => {
  const h = new Harness();
  const v = h.addGuest({ name: 'guest', ramBytes: 16 * MiB }).vgpu;
  const HSW_GTT_CACHE_EN = 0x4024, GTT_CACHE_EN_ALL = 0xf000_7fff;
  t.equal(v.mmioRead(HSW_GTT_CACHE_EN, 4), GTT_CACHE_EN_ALL, 'starts as the host i915 left it');
  // WaGttCachingOffByDefault with 4 KiB pages only (a vGPU without huge-GTT caps): write, read back.
  v.mmioWrite(HSW_GTT_CACHE_EN, 4, GTT_CACHE_EN_ALL);
  t.not(v.mmioRead(HSW_GTT_CACHE_EN, 4), 0, 'the read-back i915 checks is not 0');
  t.equal(v.vregs.stats.untrackedReads, 0, 'a tracked register');
});
