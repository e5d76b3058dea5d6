/**
 * A workload: one execlist element a guest submitted, from its ELSP write to its completion
 * (GVT-g `struct intel_vgpu_workload`).
 */
import type { EngineInfo } from '../device/engines.js';
import type { GuestFaultCode } from '../errors.js';
import type { ShadowPpgtt } from '../gtt/shadow-ppgtt.js';
import type { HostGmAllocation } from './host-gm.js';
import type { AuditViolation } from './parser.js';

/** Where a workload is in its life. */
export type WorkloadStatus = 'queued' | 'running' | 'completed' | 'failed';

/** A failed workload's record: which rule or fault, where, and the header. */
export interface WorkloadFailure {
  /** Audit rule name, or a mediator check ('bad-descriptor', 'ring-context', 'gpu-hang', 'shadow-alloc'...). */
  rule: string;
  code: GuestFaultCode;
  message: string;
  /** Guest graphics address of the offending command or structure (-1 when none). */
  gma: number;
  /** Dword 0 of the offending command, hex ('' when none). */
  header: string;
  /** Command name ('' when none). */
  command: string;
}

/** One guest submission element. */
export interface Workload {
  /** Sequence number across the mediator (submission order). */
  readonly seq: number;
  readonly vgpuId: number;
  readonly engine: EngineInfo;
  /** The guest's descriptor halves. */
  readonly descLo: number;
  readonly descHi: number;
  /** Guest context id (descriptor bits 63:32). */
  readonly contextId: number;
  /** Guest GGTT address of the context image. */
  readonly lrca: number;
  /** Ring: guest GGTT base, size, and head/tail of this workload (bytes). */
  ringBase: number;
  ringSize: number;
  head: number;
  tail: number;
  /** Addressing mode and PPGTT roots from the guest context. */
  addressingMode: number;
  pdps: number[];
  /** Frame boundary marker set by the guest harness (for frames/s metrics). */
  frameEnd: boolean;
  status: WorkloadStatus;
  failure: WorkloadFailure | null;
  /** Simulated times (ns): submitted by the guest, dispatched to the device, completed. */
  submittedAt: number;
  dispatchedAt: number;
  completedAt: number;
  /** Commands audited, batches followed, addresses patched. */
  commands: number;
  batches: number;
  patched: number;
  userInterrupts: number;
  /** Host context id given to the device. */
  hostContextId: number;
  /** Times the device preempted it (it then resumes from its saved shadow context). */
  preemptions: number;
  /** Simulated ns the mediator spent preparing it (scan, copy, shadow context), per the cost model. */
  mediationNs: number;
  /** Simulated ns the device ran it (dispatch to completion, minus mediation, over every run). */
  busyNs: number;
  /** The shadow context's page 0 as copied from the guest at dispatch (to merge back only what the device wrote). */
  ppHwspAtDispatch: Uint32Array | null;
  /** Shadow resources (freed at completion). */
  shadowAllocs: HostGmAllocation[];
  shadowContext: HostGmAllocation | null;
  ppgtt: ShadowPpgtt | null;
  /**
   * Its context image's GGTT entries waited for host memory when it was submitted: its ring
   * context (ring, head, tail, PPGTT roots) is read when it is dispatched instead, once they are
   * backed (it waits, queued, meanwhile; the host's shortage never fails it).
   */
  ringContextPending: boolean;
  /** Shadow PPGTTs its LRIs load into PDP0 (GVT-g `lri_shadow_mm`), held until its shadows are released. */
  lriPpgtts?: ShadowPpgtt[];
}

/** Build a failure record (the one constructor of `WorkloadFailure`). */
export function workloadFailure(rule: string, code: WorkloadFailure['code'], message: string, gma = -1, header = '', command = ''): WorkloadFailure {
  return { rule, code, message, gma, header, command };
}

/** The failure of a workload dropped by a vGPU or engine reset, a destroy, or failsafe. */
export function droppedFailure(onDevice: boolean): WorkloadFailure {
  return workloadFailure('reset', 'HANG', onDevice
    ? 'stopped on the device by a vGPU or engine reset, or a destroy'
    : 'dropped by a vGPU or engine reset, a destroy, or failsafe');
}

/** Convert an audit violation into a workload failure record. */
export function failureOfViolation(v: AuditViolation): WorkloadFailure {
  return workloadFailure(v.rule, v.code, v.message, v.gma, v.header, v.command);
}
