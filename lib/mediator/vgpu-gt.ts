/**
 * The vGPU's GT handshakes: the registers an unmodified i915 guest (Linux 6.1) writes and then
 * polls while it probes, resets and runs the GT, answered as GVT-g answers them
 * (`gvt/handlers.c`, Linux 6.1 and v7.0). Every row acts on the vGPU's virtual registers and on
 * the vGPU's own work only: nothing here writes a host register.
 *
 * What i915 waits for, and where (Linux 6.1):
 * - RING_RESET_CTL: `gen8_engine_reset_prepare` writes `_MASKED_BIT_ENABLE(RESET_CTL_REQUEST_RESET)`
 *   and polls READY_TO_RESET for 700 us before every GDRST (else "reset request timed out" and
 *   the GT is wedged at init); `gen8_engine_reset_cancel` disables the request after it.
 * - GEN6_GDRST: `gen6_hw_domain_reset` writes the domain bits (twice) and polls until they read 0.
 *   `sanitize_gpu` (probe) and `gt_sanitize` (every resume) reset GEN6_GRDOM_FULL; an engine
 *   reset names the engine's domain; `intel_reset_guc` names GEN9_GRDOM_GUC and then WARNs unless
 *   GUC_STATUS reads GS_MIA_IN_RESET.
 * - RING_MI_MODE: `intel_engine_stop_cs` sets STOP_RING before a reset and polls MODE_IDLE (1 ms,
 *   then `stop_timeout`, 100 ms) on every engine at every `gt_sanitize`.
 * - GEN8_{RTCR,M1TCR,M2TCR,BTCR,VTCR}: `mmio_invalidate_full` (TLB invalidation when an object
 *   loses its pages) writes 1 and polls for 0 for 4 ms, else "TLB invalidation did not complete".
 * - RING_TIMESTAMP: read by userspace through DRM_IOCTL_I915_REG_READ (Mesa's GPU clock); its
 *   rate is the one i915 derives from CTC_MODE (12 MHz, `TIMESTAMP_HZ`).
 * - FORCEWAKE_*_GEN9: i915 skips forcewake under a vGPU (`intel_uncore_init_mmio` gives a vGPU no
 *   UNCORE_HAS_FORCEWAKE); a guest driver that does use it polls the acknowledge.
 */
import { GEN9_ENGINES } from '../device/engines.js';
import { Bits, REG, RING } from '../device/registers.js';
import type { HandlerRow } from '../mmio/index.js';
import type { Vgpu } from './vgpu.js';

const OWNER = 'mediator/vgpu-gt';

/**
 * End of the registers a GT reset (GEN6_GDRST full) restores: GVT-g's
 * `GVT_GEN8_MMIO_RESET_OFFSET` (`intel_vgpu_reset_mmio` without a device-model-level reset
 * restores only the engine and GT registers below the interrupt and display registers).
 */
export const GT_RESET_END = 0x44200;

/** RESET_CTL request and its acknowledge (`RESET_CTL_REQUEST_RESET`, `RESET_CTL_READY_TO_RESET`). */
const REQUEST = Bits.RESET_CTL_REQUEST_RESET;
const READY = Bits.RESET_CTL_READY_TO_RESET;

/**
 * A GEN6_GDRST write of the vGPU (GVT-g `gdrst_mmio_write` → `intel_gvt_reset_vgpu_locked(vgpu,
 * false, engine_mask)`): GEN6_GRDOM_FULL resets the whole GT of the vGPU (`Vgpu.resetGt`), else
 * each engine whose domain bit is set is reset (`Vgpu.resetEngine`: its queued and running work
 * dropped, its registers and execlist state back to their values at creation) and
 * GEN9_GRDOM_GUC puts the virtual GuC in reset (GUC_STATUS |= GS_MIA_IN_RESET). The reset is
 * done when the write returns: the register then reads 0, the acknowledge i915 polls for.
 */
export function gdrstWritten(v: Vgpu, offset: number, request: number): void {
  if ((request & Bits.GEN6_GRDOM_FULL) !== 0) {
    v.resetGt();
  } else {
    for (const e of GEN9_ENGINES) if ((request & (1 << e.resetDomainBit)) !== 0) v.resetEngine(e.id);
    if ((request & Bits.GEN9_GRDOM_GUC) !== 0) v.vregs.poke(REG.GUC_STATUS, (v.vregs.peek(REG.GUC_STATUS) | Bits.GS_MIA_IN_RESET) >>> 0);
  }
  v.vregs.poke(offset, 0);
}

/** Forcewake request registers and their acknowledges (GVT-g `mul_force_wake_write`, gen9 case). */
const FORCEWAKE: readonly (readonly [number, number, string])[] = [
  [REG.FORCEWAKE_RENDER_GEN9, REG.FORCEWAKE_ACK_RENDER_GEN9, 'render'],
  [REG.FORCEWAKE_MEDIA_GEN9, REG.FORCEWAKE_ACK_MEDIA_GEN9, 'media'],
  // FORCEWAKE_GT_GEN9 in i915 6.1 (the GT domain: blitter and GT-wide registers).
  [REG.FORCEWAKE_BLITTER_GEN9, REG.FORCEWAKE_ACK_BLITTER_GEN9, 'GT (blitter)'],
];

/** The vGPU's GT handshake rows (joined into `VGPU_MMIO_HANDLERS`; docs/mmio.md lists them). */
export const VGPU_GT_ROWS: readonly HandlerRow<Vgpu>[] = Object.freeze([
  ...GEN9_ENGINES.flatMap((e): HandlerRow<Vgpu>[] => [
    {
      // GVT-g RING_MI_MODE is plain F_MODE_MASK storage holding the idle hardware's value of
      // GVT-g's start: MODE_IDLE reads set whatever the guest writes (no write can set a stopped
      // engine running on the host).
      at: e.mmioBase + RING.MI_MODE, owner: OWNER, doc: 'MODE_IDLE always reads set (GVT-g: the idle hardware\'s value); STOP_RING stays virtual',
      read: (_v, _o, stored) => (stored | Bits.MODE_IDLE) >>> 0,
    },
    {
      // GVT-g mmio_read_from_hw: the timestamp is always the hardware's (a clock: nothing of
      // another vGPU in it).
      at: e.mmioBase + RING.TIMESTAMP, owner: OWNER, doc: 'reads the device\'s timestamp clock (12 MHz ticks, low dword)',
      read: (v) => v.device.engines[e.id].timestampRead(false),
    },
    {
      at: e.mmioBase + RING.TIMESTAMP_UDW, owner: OWNER, doc: 'reads the device\'s timestamp clock (12 MHz ticks, high dword)',
      read: (v) => v.device.engines[e.id].timestampRead(true),
    },
    {
      // GVT-g ring_reset_ctl_write: only REQUEST_RESET is writable (ro_mask
      // ~_MASKED_BIT_ENABLE(RESET_CTL_REQUEST_RESET)); a request is ready at once, its cancel
      // withdraws the acknowledge.
      at: e.mmioBase + RING.RESET_CTL, owner: OWNER, doc: 'a reset request is ready at once (READY_TO_RESET follows REQUEST_RESET); no other bit is writable',
      write: (v, o, _value, old, next) => {
        const req = next & REQUEST;
        v.vregs.poke(o, ((old & ~(REQUEST | READY)) | req | (req !== 0 ? READY : 0)) >>> 0);
      },
    },
  ]),
  {
    // GVT-g gvt_reg_tlb_control_handler: the vreg reads 0 at once (the flush itself is GVT-g's
    // business before the vGPU's next workload; the modelled device has no TLB).
    at: REG.TLB_INV_RCS, count: 5, owner: OWNER, doc: 'an invalidation request completes at once (reads 0); nothing reaches the host',
    write: (v, o) => v.vregs.poke(o, 0),
  },
  {
    at: REG.GEN6_GDRST, owner: OWNER, doc: 'resets the vGPU\'s requested engines (GEN6_GRDOM_FULL: its whole GT; GEN9_GRDOM_GUC: GUC_STATUS in reset), then reads 0; the host is not reset',
    write: (v, o, _value, _old, next) => gdrstWritten(v, o, next),
  },
  ...FORCEWAKE.map(([req, ack, domain]): HandlerRow<Vgpu> => ({
    at: req, owner: OWNER, doc: `the ${domain} acknowledge follows the request (the low 16 bits after the mode mask)`,
    write: (v, _o, _value, _old, next) => v.vregs.poke(ack, next & 0xffff),
  })),
  {
    // GVT-g guc_status_read: the read sees GS_MIA_IN_RESET, which is cleared after it.
    at: REG.GUC_STATUS, owner: OWNER, doc: 'a read sees GS_MIA_IN_RESET once, then it clears (set again by a GuC domain reset)',
    read: (v, o, stored) => {
      if ((stored & Bits.GS_MIA_IN_RESET) !== 0) v.vregs.poke(o, (stored & ~Bits.GS_MIA_IN_RESET) >>> 0);
      return stored;
    },
  },
]);
