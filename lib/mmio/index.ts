/** lib/mmio: registers as data and their O(1) dispatch. */
export { RegFlag, MMIO_SPACE_BYTES, MMIO_SPACE_DWORDS, compileRegisters, expandRegisters } from './table.js';
export type { RegisterDef, CompiledRegisters, ExpandedRegister, RegReadHandler, RegWriteHandler } from './table.js';
export { RegisterFile } from './register-file.js';
export type { MmioStats, RegisterHandlers } from './register-file.js';
