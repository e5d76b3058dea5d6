/**
 * gvtkit: a model of GPU virtualization by mediated pass-through (Intel gVirt / GVT-g) on a
 * modelled Gen9 GPU.
 *
 * The embedding facade (stable): `Gen9Device`, `Mediator`, `SparseGuestMemory`,
 * `mediator.createVgpu({ type, memory })`, and on a `Vgpu`: `mmioRead`, `mmioWrite`,
 * `pciConfigRead`, `pciConfigWrite`, `guestWrite`, `onInterrupt`, `destroy`; `mediator.run(ns)`
 * and `mediator.runUntilIdle()`; `device.mmioRead` and `device.hostMemory` on the host side.
 * An emulator that cannot route the guest's RAM stores to `guestWrite` creates its vGPUs with
 * `guestWrites: 'untrapped'` (type `GuestWrites`). A vGPU's monitors are `createVgpu({ ..., display:
 * { monitors } })` (type `DisplayOptions`; default GVT-g's one on port D) and `vgpu.setMonitor`.
 * Everything else is exported for tools, tests and experiments and may change.
 */
export * from './types.js';
export * from './errors.js';
export { SimClock, Rng } from './clock.js';
export type { ClockEvent } from './clock.js';
export * from './mmio/index.js';
export * from './ept/index.js';
/** `createVgpu({ ..., guestWrites })`: 'trapped' (default) or 'untrapped' (emulators that store to RAM directly; docs/untrapped.md). */
export type { GuestWrites } from './ept/ept.js';
export * from './gtt/index.js';
export * from './device/index.js';
export * from './mediator/index.js';
export * from './display/index.js';
export { GuestDriver, GTT_WINDOW_OFFSET } from './guest/driver.js';
export type { GuestBus, VgpuInfo, GuestDriverOptions } from './guest/driver.js';
export { GuestEngine, HWS_SEQNO_ADDR } from './guest/engine.js';
export type { GuestBuffer, GuestEngineOptions, ContextSetupOptions } from './guest/engine.js';
export {
  renderStateSetup, renderStateEmit, SKL_MOCS, mocsControlLri, mocsL3ccLri, sklCtxWorkarounds, ctxWorkaroundsLri,
  gen8EmitFlush, gen8EmitInitBreadcrumb, gen8EmitBbStart, gen8EmitFiniBreadcrumb, EmitMode, PipeControlFlag,
} from './guest/i915-context.js';
export type { RenderState, MocsEntry, CtxWorkaround, SklWorkaroundOptions } from './guest/i915-context.js';
export { GuestPpgtt } from './guest/ppgtt.js';
export { GuestDisplay, GuestPort, DP_LINK_RATES } from './guest/display.js';
export type { DisplayBus, DpCaps, GuestMonitor, LinkConfig, Tiling, ScanoutSurface, ModesetFailure, ModesetResult, ProbeResult, GuestDisplayCounters } from './guest/display.js';
export { Harness, TestGuest, GuestScreen } from './harness/index.js';
export * from './scheduler/index.js';
export type { HarnessOptions, GuestOptions, ScanoutBuffer, LightMonitorOptions } from './harness/index.js';
