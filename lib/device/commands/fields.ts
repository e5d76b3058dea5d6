/**
 * Field decoding of single commands: the slow, allocation-friendly companion of the decoder, for
 * the executor, the CLI and tests. Bit positions are genxml's (`gen9.xml` field start/end) unless
 * noted; blitter layouts are the Gen8+ ones i915 emits (64-bit addresses).
 */
import { RangeArgError } from '../../errors.js';
import { TWO_POW_32 } from '../../types.js';
import { COMMANDS, type AddressField, type CommandInfo } from './table.js';

/** Decoded fields of one command: plain data (numbers, booleans, arrays, nested objects). */
export type DecodedFields = { [key: string]: unknown };

type FieldDecoder = (buf: Uint32Array, i: number, len: number) => DecodedFields;

/** Mask for MMIO register offsets in commands (bits 22:2). */
export const REGISTER_OFFSET_MASK = 0x7ffffc;

/** A graphics address from a low dword (bits `lowBit` and up) and, for 64-bit fields, a high dword (48-bit). */
export function readAddress(buf: Uint32Array, i: number, lowBit: number, is64: boolean): number {
  const lo = lowBit === 0 ? buf[i] >>> 0 : ((buf[i] >>> lowBit) << lowBit) >>> 0;
  return is64 ? (buf[i + 1] & 0xffff) * TWO_POW_32 + lo : lo;
}

function bit(dw: number, b: number): boolean {
  return ((dw >>> b) & 1) === 1;
}
function int16(v: number): number {
  return (v << 16) >> 16;
}
function rect(dwMin: number, dwMax: number): { x1: number; y1: number; x2: number; y2: number } {
  return { x1: dwMin & 0xffff, y1: dwMin >>> 16, x2: dwMax & 0xffff, y2: dwMax >>> 16 };
}
function br13(dw: number): DecodedFields {
  return {
    pitch: int16(dw & 0xffff),
    rop: (dw >>> 16) & 0xff,
    colorDepth: (dw >>> 24) & 3,
    clipEnable: bit(dw, 30),
  };
}

/** Hand-written decoders for the commands the executor runs. */
const DECODERS: Record<string, FieldDecoder> = {
  MI_NOOP: (b, i) => ({
    identificationNumber: b[i] & 0x3fffff,
    identificationNumberWrite: bit(b[i], 22),
  }),
  MI_BATCH_BUFFER_END: () => ({}),
  MI_USER_INTERRUPT: () => ({}),
  MI_ARB_CHECK: () => ({}),
  MI_BATCH_BUFFER_START: (b, i) => ({
    address: readAddress(b, i + 1, 2, true),
    ppgtt: bit(b[i], 8),
    secondLevel: bit(b[i], 22),
    predication: bit(b[i], 15),
    addOffset: bit(b[i], 16),
    resourceStreamer: bit(b[i], 10),
  }),
  MI_STORE_DATA_IMM: (b, i, len) => {
    const data: number[] = [];
    for (let k = 3; k < len; k++) data.push(b[i + k] >>> 0);
    return {
      address: readAddress(b, i + 1, 2, true),
      ggtt: bit(b[i], 22),
      storeQword: bit(b[i], 21),
      coreModeEnable: bit(b[i + 1], 0),
      data,
    };
  },
  MI_LOAD_REGISTER_IMM: (b, i, len) => {
    const pairs: { offset: number; value: number }[] = [];
    for (let k = 1; k + 1 < len; k += 2) pairs.push({ offset: b[i + k] & REGISTER_OFFSET_MASK, value: b[i + k + 1] >>> 0 });
    return { byteWriteDisables: (b[i] >>> 8) & 0xf, pairs };
  },
  MI_STORE_REGISTER_MEM: (b, i) => ({
    register: b[i + 1] & REGISTER_OFFSET_MASK,
    address: readAddress(b, i + 2, 2, true),
    ggtt: bit(b[i], 22),
    predicate: bit(b[i], 21),
  }),
  MI_LOAD_REGISTER_MEM: (b, i) => ({
    register: b[i + 1] & REGISTER_OFFSET_MASK,
    address: readAddress(b, i + 2, 2, true),
    ggtt: bit(b[i], 22),
    asyncMode: bit(b[i], 21),
  }),
  MI_LOAD_REGISTER_REG: (b, i) => ({
    source: b[i + 1] & REGISTER_OFFSET_MASK,
    destination: b[i + 2] & REGISTER_OFFSET_MASK,
  }),
  MI_FLUSH_DW: (b, i, len) => ({
    postSyncOp: (b[i] >>> 14) & 3,
    address: len > 2 ? readAddress(b, i + 1, 3, true) : 0,
    ggtt: len > 1 ? bit(b[i + 1], 2) : false,
    data: len > 3 ? b[i + 3] >>> 0 : 0,
    dataHigh: len > 4 ? b[i + 4] >>> 0 : 0,
    notify: bit(b[i], 8),
    flushLlc: bit(b[i], 9),
    tlbInvalidate: bit(b[i], 18),
    storeDataIndex: bit(b[i], 21),
    videoPipelineCacheInvalidate: bit(b[i], 7),
  }),
  PIPE_CONTROL: (b, i, len) => {
    const f = b[i + 1];
    return {
      postSyncOp: (f >>> 14) & 3,
      address: len > 3 ? readAddress(b, i + 2, 2, true) : 0,
      ggtt: bit(f, 24),
      data: len > 4 ? b[i + 4] >>> 0 : 0,
      dataHigh: len > 5 ? b[i + 5] >>> 0 : 0,
      depthCacheFlush: bit(f, 0),
      stallAtPixelScoreboard: bit(f, 1),
      stateCacheInvalidate: bit(f, 2),
      constantCacheInvalidate: bit(f, 3),
      vfCacheInvalidate: bit(f, 4),
      dcFlush: bit(f, 5),
      pipeControlFlush: bit(f, 7),
      notify: bit(f, 8),
      textureCacheInvalidate: bit(f, 10),
      instructionCacheInvalidate: bit(f, 11),
      renderTargetCacheFlush: bit(f, 12),
      depthStall: bit(f, 13),
      tlbInvalidate: bit(f, 18),
      commandStreamerStall: bit(f, 20),
      storeDataIndex: bit(f, 21),
    };
  },
  PIPELINE_SELECT: (b, i) => ({ pipeline: b[i] & 3, maskBits: (b[i] >>> 8) & 0xff }),
  '3DPRIMITIVE': (b, i) => ({
    topology: b[i + 1] & 0x3f,
    random: bit(b[i + 1], 8),
    vertexCount: b[i + 2] >>> 0,
    startVertex: b[i + 3] >>> 0,
    instanceCount: b[i + 4] >>> 0,
    startInstance: b[i + 5] >>> 0,
    baseVertex: b[i + 6] | 0,
    indirect: bit(b[i], 10),
    predicate: bit(b[i], 8),
  }),
  XY_COLOR_BLT: (b, i) => ({
    writeAlpha: bit(b[i], 21),
    writeRgb: bit(b[i], 20),
    dstTiled: bit(b[i], 11),
    ...br13(b[i + 1]),
    dst: rect(b[i + 2], b[i + 3]),
    dstAddress: readAddress(b, i + 4, 0, true),
    color: b[i + 6] >>> 0,
  }),
  XY_SRC_COPY_BLT: (b, i) => ({
    writeAlpha: bit(b[i], 21),
    writeRgb: bit(b[i], 20),
    dstTiled: bit(b[i], 11),
    srcTiled: bit(b[i], 15),
    ...br13(b[i + 1]),
    dst: rect(b[i + 2], b[i + 3]),
    dstAddress: readAddress(b, i + 4, 0, true),
    src: { x1: b[i + 6] & 0xffff, y1: b[i + 6] >>> 16 },
    srcPitch: int16(b[i + 7] & 0xffff),
    srcAddress: readAddress(b, i + 8, 0, true),
  }),
};

/** Length of the command at `buf[index]` by the table row (fixed or from its length field). */
export function commandLength(info: CommandInfo, dw0: number): number {
  return typeof info.length === 'number' ? info.length : (dw0 & info.length.mask) + info.length.bias;
}

/**
 * The camelCase key of a field name as genxml spells it ('General State Base Address' ->
 * 'generalStateBaseAddress', 'GPGPU CSR Base Address' -> 'gpgpuCsrBaseAddress'), so decoded
 * fields use one key style whether a decoder is hand-written or read from the table.
 */
export function fieldKey(name: string): string {
  const words = name.split(/[^A-Za-z0-9]+/).filter((w) => w.length > 0);
  return words.map((w, k) => (k === 0 ? w.toLowerCase() : w[0].toUpperCase() + w.slice(1).toLowerCase())).join('');
}

function addressesOf(buf: Uint32Array, i: number, len: number, fields: readonly AddressField[]): DecodedFields {
  const out: DecodedFields = {};
  for (const f of fields) {
    const values: number[] = [];
    const step = f.repeatStride ?? len;
    for (let dw = f.dword; dw + (f.is64 ? 1 : 0) < len; dw += step) values.push(readAddress(buf, i + dw, f.lowBit, f.is64));
    out[fieldKey(f.name)] = f.repeatStride ? values : values[0] ?? 0;
  }
  return out;
}

/** True when a hand-written field decoder exists for the command. */
export function hasFieldDecoder(id: number): boolean {
  return id >= 0 && id < COMMANDS.length && COMMANDS[id].name in DECODERS;
}

/**
 * Decode the fields of the command with table id `id` at `buf[index]`. Returns a plain object:
 * the hand-written fields for the commands the executor runs, else the command's tabulated
 * graphics addresses (keyed by the camelCase field name, `fieldKey`), else `{}`. Every key is camelCase. Throws `RangeArgError` for a bad id or a
 * command that does not fit the buffer (decode it first: this is not the guest-facing path).
 */
export function decodeFields(buf: Uint32Array, index: number, id: number): DecodedFields {
  if (!(id >= 0 && id < COMMANDS.length)) throw new RangeArgError(`decodeFields: no command with id ${id}`);
  if (!(index >= 0 && index < buf.length)) throw new RangeArgError(`decodeFields: index ${index} outside the buffer`);
  const info = COMMANDS[id];
  const len = commandLength(info, buf[index]);
  if (index + len > buf.length) {
    throw new RangeArgError(`decodeFields: ${info.name} at ${index} needs ${len} dwords, ${buf.length - index} left`);
  }
  const dec = DECODERS[info.name];
  if (dec) return dec(buf, index, len);
  if (info.addressDwords && info.addressDwords.length) return addressesOf(buf, index, len, info.addressDwords);
  return {};
}
