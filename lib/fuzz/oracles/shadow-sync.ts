/**
 * The SHADOW-SYNC oracle (issue 13, class 9): a shadow page table agrees with the guest table it
 * shadows, entry by entry, whoever wrote the guest table: the guest's vCPU, or the mediator's own
 * stores into guest RAM (the CSB mirror in the status page, the status-page merge at completion,
 * the ring-head write-back; GVT-g `intel_gvt_write_gpa` goes through the hypervisor's write path,
 * so its page-track handler `ppgtt_write_protection_handler` sees them like guest stores).
 *
 * `checkShadowAgrees` compares one shadowed guest table page with its shadow: every entry the
 * guest holds not present is scratch (or not present) in the shadow; every present entry is
 * either parked at scratch (always safe: a half written, a loop, no host memory, a frame outside
 * RAM) or names exactly what the guest entry says now: for a PT, the host frame the EPT backs the
 * guest frame with; for a PD/PDP/PML4, the shadow page of the guest table it names, at the level
 * below. A shadow entry that still names what an older guest value named is a stale shadow: the
 * device would reach a page the guest unmapped (the attack `lc-status-page-as-page-table`).
 *
 * Entries parked for sync (`pending`), out-of-sync pages (GVT-g `oos_page`, resynced at the next
 * dispatch), IPS page tables and huge (PS) entries are skipped: their shadow follows other rules
 * (checked for isolation by `checkShadowPpgtt`).
 *
 * A guest whose stores are not trapped (`Vgpu.guestWrites === 'untrapped'`) has every shadow page
 * stale between submissions by design: what the device may walk is the guest's table as of its
 * last submission, i.e. the page's copy (`ShadowPage.copy`), and that is what the shadow is
 * compared with (`against: 'synced'`, the default for such a guest). Right after a submission's
 * sync (a dispatch listener), `against: 'guest'` compares it with guest memory itself: the check
 * that the sync re-read the page.
 *
 * Only a page the device never writes is a fair subject: a GPU store into a guest page table is not
 * trapped (GVT-g the same), so the shadow of such a page may lag by design. Callers pick the page.
 *
 * Test equipment: reads private fields with bracket access, never changes the model.
 */
import type { Vgpu } from '../../mediator/vgpu.js';
import { PDE_IPS, PDE_PS, PTE_PRESENT } from '../../gtt/pte.js';
import { PAGE_SIZE } from '../../types.js';
import { INVARIANTS, type Violation } from '../monitor.js';

/** What the oracle reads of a shadow page (private class `ShadowPage` of `lib/gtt/shadow-ppgtt.ts`). */
interface PageView {
  readonly gfn: number;
  readonly level: number;
  readonly ips: boolean;
  readonly mfn: number;
  readonly shadow: Uint32Array;
  readonly guest: Uint32Array;
  readonly pending: Uint8Array | null;
  readonly copy: Uint32Array | null;
  readonly outOfSync: boolean;
  readonly freed: boolean;
}

function frameOf(lo: number, hi: number): number {
  return ((lo >>> 12) | ((hi & 0x7f) << 20)) >>> 0;
}

/** The shadow page of guest frame `gfn` in `v`'s shadow PPGTT, if it is shadowed (as a table of any level). */
export function shadowPageOf(v: Vgpu, gfn: number): PageView | undefined {
  const byGfn = v.ppgtt['byGfn'] as unknown as Map<number, PageView>;
  return byGfn.get(gfn);
}

/**
 * Compare the shadow of guest table page `gpa` of vGPU `v` with the guest's entries (see the
 * module note; `against` picks guest memory or, for an untrapped guest, the page's copy as of its
 * last sync; `strict` also reports a present entry left at scratch while what it names could be
 * shadowed: right after a sync, nothing the guest wrote may be missing). Returns the number of entries compared (0 when the page is not shadowed, out of
 * sync or an IPS PT); appends at most `limit` violations to `out`.
 */
export function checkShadowAgrees(
  v: Vgpu, gpa: number, out: Violation[], limit = 4, against: 'guest' | 'synced' = v.guestWrites === 'untrapped' ? 'synced' : 'guest', strict = false,
): number {
  const mgr = v.ppgtt;
  if (mgr.disposed) return 0;
  const page = shadowPageOf(v, Math.floor(gpa / PAGE_SIZE));
  if (!page || page.freed || page.outOfSync || (page.level === 1 && page.ips)) return 0;
  const byGfn = mgr['byGfn'] as unknown as Map<number, PageView>;
  const scratch = mgr.scratchMfns[page.level - 1];
  const ept = v.ept;
  const s = page.shadow, g = against === 'synced' && page.copy !== null ? page.copy : page.guest, pend = page.pending;
  const start = out.length;
  let compared = 0;
  for (let i = 0; i < 512; i++) {
    if (pend !== null && pend[i] !== 0) continue;
    const glo = g[2 * i] >>> 0, ghi = g[2 * i + 1] >>> 0;
    const slo = s[2 * i] >>> 0, shi = s[2 * i + 1] >>> 0;
    const sf = frameOf(slo, shi);
    const atScratch = (slo & PTE_PRESENT) === 0 || sf === scratch;
    compared++;
    if ((glo & PTE_PRESENT) === 0) {
      if (!atScratch) bad(`entry ${i} is not present in the guest (0x${ghi.toString(16)}:${glo.toString(16)}) but the shadow names frame 0x${sf.toString(16)}`);
      continue;
    }
    if (page.level > 1 && (glo & PDE_PS) !== 0) continue;
    const gf = frameOf(glo, ghi);
    if (atScratch) {
      // Strict: a present entry left at scratch must have a reason the oracle can see: a frame the
      // EPT does not back (outside RAM, host memory short), a table held at another level, or (a
      // table not shadowed at all) an allocation that failed.
      if (strict) {
        const child = page.level === 1 ? undefined : byGfn.get(gf);
        const shadowable = page.level === 1 ? ept.translateGfn(gf) >= 0
          : child !== undefined ? child.level === page.level - 1 : gf < ept.frames && mgr.counters.allocFailures === 0;
        if (shadowable) bad(`entry ${i}: the guest names frame 0x${gf.toString(16)} but the shadow is left at scratch`);
      }
      continue;
    }
    let want: number;
    if (page.level === 1) {
      want = ept.translateGfn(gf);
    } else {
      const child = byGfn.get(gf);
      want = child !== undefined && !child.freed && child.level === page.level - 1 && (page.level !== 2 || child.ips === ((glo & PDE_IPS) !== 0)) ? child.mfn : -1;
    }
    if (sf !== want) bad(`entry ${i}: the guest names frame 0x${gf.toString(16)} (shadow ${want < 0 ? 'none' : '0x' + want.toString(16)}) but the shadow names 0x${sf.toString(16)}`);
    if (out.length - start >= limit) break;
  }
  return compared;

  function bad(what: string): void {
    if (out.length - start < limit) out.push({ invariant: INVARIANTS.SHADOW_SYNC, message: `${v.name}: shadow of level-${page!.level} guest table 0x${gpa.toString(16)}: ${what} (stale shadow)` });
  }
}
