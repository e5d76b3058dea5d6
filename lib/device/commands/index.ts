/**
 * Gen9 command set: the command table (single source of truth for decode, encode, execution and
 * audit), the allocation-free decoder, field decoding and encoders.
 */
export {
  EngineClass,
  EngineMask,
  ENGINE_CLASS_COUNT,
  ENGINE_CLASS_NAMES,
  parseEngineClass,
  engineClassName,
  engineMaskNames,
} from './engines.js';
export {
  COMMANDS,
  GEN9_TABLE,
  CommandFlag,
  CommandType,
  UnknownLength,
  SLOT_BIAS_SHIFT,
  SLOT_ID_SHIFT,
  SLOT_MASK_BITS,
  buildCommandTable,
  gen9CommandDefs,
  commandName,
  commandId,
  findCommand,
  type AddressField,
  type AddressSpaceRule,
  type CommandDef,
  type CommandInfo,
  type CommandTable,
  type LengthField,
} from './table.js';
export { CommandDecoder, DecodeError, DECODE_ERROR_NAMES } from './decoder.js';
export { decodeFields, fieldKey, hasFieldDecoder, commandLength, readAddress, REGISTER_OFFSET_MASK, type DecodedFields } from './fields.js';
export {
  encodeHeader,
  encodeByName,
  toCommandBuffer,
  miNoop,
  miBatchBufferStart,
  miBatchBufferEnd,
  miUserInterrupt,
  miArbCheck,
  miStoreDataImm,
  miLoadRegisterImm,
  miStoreRegisterMem,
  miLoadRegisterMem,
  miLoadRegisterReg,
  miFlushDw,
  pipeControl,
  xyColorBlt,
  xySrcCopyBlt,
  PostSyncOp,
  BltColorDepth,
  MAX_GRAPHICS_ADDRESS,
  type FlushDwOptions,
  type PipeControlOptions,
  type ColorBltOptions,
  type SrcCopyBltOptions,
  type BltRect,
} from './encoder.js';
