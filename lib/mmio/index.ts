/** lib/mmio: registers as data, their handlers as data, and their O(1) dispatch. */
export { RegFlag, MMIO_SPACE_BYTES, MMIO_SPACE_DWORDS, compileRegisters, expandRegisters } from './table.js';
export type { RegisterDef, CompiledRegisters, ExpandedRegister } from './table.js';
export { compileHandlers } from './handlers.js';
export type { HandlerRow, HandlerRead, HandlerWrite, CompiledHandlers, HandledRegister } from './handlers.js';
export { RegisterFile } from './register-file.js';
export type { MmioStats } from './register-file.js';
