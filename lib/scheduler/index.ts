/**
 * lib/scheduler: who owns the GPU each time slice, what a vGPU context switch writes and costs,
 * scheduling metrics and trace export. Pure: no commands, no devices beyond a register file.
 */
export type { PriorityLevel, SchedEntity, SchedulerPolicy } from './types.js';
export {
  MS, PRIORITY_LEVELS, TimeSlicePolicy, ThrottlePolicy, RoundRobinPolicy, PriorityPolicy, createPolicy, validateEntity,
} from './policies.js';
export type { TimeSliceOptions, ThrottleOptions, RoundRobinOptions, PriorityOptions, PolicyName, PolicyOptions } from './policies.js';
export {
  GEN9_ENGINE_MMIO, GEN9_MOCS, GEN9_SWITCH_LAYOUT, ALL_ENGINES_MASK, DEFAULT_SWITCH_COST, TYPICAL_DIFFERING_REGISTERS,
  buildSwitchLayout, switchCostModel, switchCostNs, estimateSwitchNs, ContextSwitcher,
} from './context-switch.js';
export type { EngineMmioDef, SwitchLayout, SwitchLayoutOptions, SwitchCostModel, ContextSwitcherOptions } from './context-switch.js';
export { LatencyRecorder, VgpuStats, percentile, percentileSorted, jainIndex, buildReport } from './metrics.js';
export type { LatencySummary, VgpuReport, SchedReport } from './metrics.js';
export { TraceRecorder, SCHEDULER_LANE, SWITCH_LANE } from './trace.js';
export type { TraceEvent, TraceFile, TraceRecorderOptions } from './trace.js';
export { simulatePolicy, switcherCost } from './simulator.js';
export type { ArrivalSpec, WorkloadSpec, SimVgpu, SimOptions, SimResult, HangRecord } from './simulator.js';
export { VgpuScheduler } from './vgpu-scheduler.js';
export type { VgpuSchedulerOptions, VgpuSchedParams } from './vgpu-scheduler.js';
