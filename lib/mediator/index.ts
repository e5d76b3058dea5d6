/**
 * lib/mediator: the vGPU lifecycle, virtual registers and interrupts, PVINFO, execlist emulation,
 * the command parser and auditor, and workload shadowing and dispatch.
 */
export { Mediator } from './mediator.js';
export { DEFAULT_MEDIATION_COST, MODE_COSTS, GSCALE_MAX_VGPU } from './mediator.js';
export type { MediatorOptions, CreateVgpuOptions, MediatorStats, FailsafePolicy, DispatchGate, MediationMode, MediationCostModel } from './mediator.js';
export { Vgpu, BAR0_GTT_OFFSET, BAR0_BYTES, DEFAULT_BAR0_GPA, DEFAULT_BAR2_GPA } from './vgpu.js';
export type { VgpuState, VgpuEvent, VgpuCounters } from './vgpu.js';
export { VirtualExeclist } from './execlist.js';
export type { Workload, WorkloadFailure, WorkloadStatus } from './workload.js';
export { HostGmPool } from './host-gm.js';
export type { HostGmAllocation } from './host-gm.js';
export { CommandParser, DEFAULT_PARSER_LIMITS, FLIP_WORDS, ShadowBuffer, AuditResult } from './parser.js';
export type { AuditEnv, RingSegment, CommandParserOptions, ParserLimits, AuditViolation, ParserStats } from './parser.js';
export { AUDIT_RULES } from './audit-rules.js';
export { AUDIT_TABLE } from './audit-table.js';
export * from './pvinfo.js';
