/**
 * lib/device: the modelled physical Gen9 GPU. It knows nothing of vGPUs.
 */
export { Gen9Device, BAR0_SIZE, BAR0_RESERVED_START, BAR0_GGTT_START, SKL_GT2_PCI } from './device.js';
export type { Gen9DeviceOptions, DeviceStats, DeviceEngines, DeviceStateSummary } from './device.js';
export { Engine, EnginePhase, ENGINE_PHASE_NAMES } from './execlists.js';
export type { EngineStats, EngineError, DeviceEvent, DeviceEventKind } from './execlists.js';
export { CommandStreamer, StopReason, Space, PpgttMode, timestampTicks } from './executor.js';
export type { ExecStats } from './executor.js';
export { GEN9_ENGINES, ENGINE_COUNT, EngineId, engineByName, engineOfOffset } from './engines.js';
export type { EngineInfo, EngineName } from './engines.js';
export {
  GEN9_REGISTERS, GEN9_REGISTER_DEFS, RING, REG, Bits, EngineIrq, TIMESTAMP_HZ, SKL_GT2_SSEU, SKL_GT2_FUSE2, SKL_CTC_MODE,
  ringReg, gtIsr, gtImr, gtIir, gtIer, fenceReg,
} from './registers.js';
export { PciConfigSpace, PciReg, PciCommand, BarType, ggcFor } from './pci.js';
export type { PciIdentity, PciStats } from './pci.js';
export { GtInterrupts } from './interrupts.js';
export type { InterruptCallback, InterruptStats } from './interrupts.js';
export {
  Desc, AddressingMode, CtxStatus, CtxReg, BbState, CSB_ENTRIES, HWS_CSB_BUF0_INDEX, HWS_CSB_WRITE_INDEX,
  ctxPdpLdw, ctxPdpUdw, decodeDescriptor, encodeDescriptor, writeContextImage, readContextValue,
  writeContextValue, csbEventNames,
} from './lrc.js';
export type { ContextDescriptor, DescriptorOptions, GraphicsMemoryView, ContextImageOptions } from './lrc.js';
export { DEFAULT_COST_MODEL, compileCostModel } from './cost.js';
export type { CostModel, CompiledCostModel } from './cost.js';
export {
  mapGgttPages, ggttView, writeGgtt, readGgtt, enableExeclists, enableEngineInterrupts, elspSubmit, startLegacyRing,
} from './helpers.js';
export { runDeviceDemo } from './demo.js';
export * from './commands/index.js';
