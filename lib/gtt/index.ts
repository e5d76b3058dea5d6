/**
 * lib/gtt: PTE formats, the host GGTT, graphics-memory partitioning and ballooning, the shadow
 * GGTT, and partition renderings.
 */
export * from './pte.js';
export { Ggtt } from './ggtt.js';
export {
  GEN9_VGPU_TYPES, GEN9_HOST_RESERVATION, GVT_MAX_VGPU, IDLE_VGPU_ID, VGPU_MAX_WEIGHT, MiB,
  checkVgpuTypes, findVgpuType,
} from './vgpu-types.js';
export type { VgpuType, HostReservation } from './vgpu-types.js';
export { GmPartition, OWNER_FREE, OWNER_HOST, formatBytes } from './partition.js';
export type { GmSlices, GmRange, GmPartitionOptions, GmResource } from './partition.js';
export { ShadowGgtt, GGTT_WINDOW_SIZE } from './shadow-ggtt.js';
export type { ShadowGgttCounters, ShadowGgttOptions } from './shadow-ggtt.js';
export { computeBalloon, pvinfoRangesOf, planPartitions, sweep, typeNames } from './balloon.js';
export type {
  PvinfoRanges, GuestGgttGeometry, BalloonHole, BalloonRule, BalloonResult, PlanRequest, PlannedVgpu,
  PlanFailure, PartitionPlan, SweepCell, SweepResult,
} from './balloon.js';
export { renderPartitionSvg, renderSweepSvg, escapeXml, vgpuColor } from './svg.js';
export type { PartitionSvgOptions } from './svg.js';
export {
  PpgttManager, ShadowPpgtt, ShadowPage, PPGTT_MODE_L3, PPGTT_MODE_L4, PPGTT_LEVEL_PT, PPGTT_LEVEL_PD, PPGTT_LEVEL_PDP, PPGTT_LEVEL_PML4,
} from './shadow-ppgtt.js';
export type { PpgttMode as ShadowPpgttMode, ShadowPpgttCounters, PpgttManagerOptions } from './shadow-ppgtt.js';
export { PpgttWalker } from './ppgtt-walk.js';
