/**
 * Command encoders: well-formed Gen9 commands as arrays of dwords, for tests, fixtures and the
 * modelled guest driver. Headers come from the command table (`match` plus the length field), so
 * what the encoder writes is what the decoder reads. Layouts follow genxml (`gen9.xml`) and, for
 * the blitter, the Gen8+ layouts with 64-bit addresses.
 *
 * Misuse (an address that does not fit or is misaligned, a body that does not fit the length
 * field) throws `RangeArgError` naming the argument.
 */
import { RangeArgError } from '../../errors.js';
import { TWO_POW_32 } from '../../types.js';
import { COMMANDS, GEN9_TABLE } from './table.js';

/** Largest graphics address of Gen9 (48-bit virtual address space). */
export const MAX_GRAPHICS_ADDRESS = 2 ** 48 - 1;

function checkAddress(what: string, addr: number, align: number): void {
  if (!Number.isInteger(addr) || addr < 0 || addr > MAX_GRAPHICS_ADDRESS) {
    throw new RangeArgError(`${what}: address ${addr} is not a 48-bit graphics address`);
  }
  if (addr % align !== 0) throw new RangeArgError(`${what}: address 0x${addr.toString(16)} is not ${align}-byte aligned`);
}
function lo(addr: number): number {
  return addr >>> 0;
}
function hi(addr: number): number {
  return Math.floor(addr / TWO_POW_32) >>> 0;
}
function u32(what: string, v: number): number {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) throw new RangeArgError(`${what}: ${v} is not a 32-bit value`);
  return v >>> 0;
}
function checkRegister(what: string, offset: number): number {
  if (!Number.isInteger(offset) || offset < 0 || offset > 0x7ffffc || offset % 4 !== 0) {
    throw new RangeArgError(`${what}: register offset ${offset} is not a dword-aligned MMIO offset below 8 MiB`);
  }
  return offset;
}
function b(flag: boolean | undefined, bit: number): number {
  return flag ? (1 << bit) >>> 0 : 0;
}

/**
 * A header for the named command with the length field set for `totalDwords`, OR-ed with
 * `headerBits` (flag bits of dword 0; they may not touch the identifying or length fields).
 */
export function encodeHeader(name: string, totalDwords: number, headerBits = 0): number {
  const id = GEN9_TABLE.byName.get(name);
  if (id === undefined) throw new RangeArgError(`encodeHeader: no command named ${name}`);
  const c = COMMANDS[id];
  let lengthBits = 0;
  if (typeof c.length === 'number') {
    if (totalDwords !== c.length) throw new RangeArgError(`${name}: fixed length ${c.length}, asked for ${totalDwords}`);
  } else {
    const field = totalDwords - c.length.bias;
    if (!Number.isInteger(field) || field < 0 || field > c.length.mask) {
      throw new RangeArgError(`${name}: ${totalDwords} dwords do not fit its length field (bias ${c.length.bias}, max ${c.length.mask + c.length.bias})`);
    }
    lengthBits = field;
  }
  const lengthMask = typeof c.length === 'number' ? 0 : c.length.mask;
  if (((headerBits >>> 0) & (c.mask | lengthMask)) !== 0) {
    throw new RangeArgError(`${name}: header bits 0x${(headerBits >>> 0).toString(16)} overlap the opcode or length fields`);
  }
  return (c.match | lengthBits | headerBits) >>> 0;
}

/**
 * Any table command: a header with the right length field followed by `body` (dwords 1..n).
 * Use it for 3D state and draw, MEDIA_*, MFX_* and the rest of the table.
 */
export function encodeByName(name: string, body: readonly number[] = [], headerBits = 0): number[] {
  const out = [encodeHeader(name, body.length + 1, headerBits)];
  for (let k = 0; k < body.length; k++) out.push(u32(`${name} body[${k}]`, body[k]));
  return out;
}

/** Concatenate encoded commands into one command buffer. */
export function toCommandBuffer(...commands: readonly (readonly number[])[]): Uint32Array {
  let n = 0;
  for (const c of commands) n += c.length;
  const out = new Uint32Array(n);
  let at = 0;
  for (const c of commands) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** MI_NOOP (optionally writing `identification` to the NOPID register). */
export function miNoop(identification?: number): number[] {
  if (identification === undefined) return [0];
  if (!Number.isInteger(identification) || identification < 0 || identification > 0x3fffff) {
    throw new RangeArgError(`MI_NOOP: identification ${identification} does not fit 22 bits`);
  }
  return [((1 << 22) | identification) >>> 0];
}

/** MI_BATCH_BUFFER_START to `address` (GGTT unless `ppgtt`; `secondLevel` returns to the calling batch). */
export function miBatchBufferStart(address: number, opts: { ppgtt?: boolean; secondLevel?: boolean } = {}): number[] {
  checkAddress('MI_BATCH_BUFFER_START', address, 4);
  return [encodeHeader('MI_BATCH_BUFFER_START', 3, b(opts.ppgtt, 8) | b(opts.secondLevel, 22)), lo(address), hi(address)];
}

/** MI_BATCH_BUFFER_END. */
export function miBatchBufferEnd(): number[] {
  return [encodeHeader('MI_BATCH_BUFFER_END', 1)];
}

/** MI_USER_INTERRUPT. */
export function miUserInterrupt(): number[] {
  return [encodeHeader('MI_USER_INTERRUPT', 1)];
}

/** MI_ARB_CHECK. */
export function miArbCheck(): number[] {
  return [encodeHeader('MI_ARB_CHECK', 1)];
}

/** Fields of an MI_DISPLAY_FLIP (`miDisplayFlip`). */
export interface DisplayFlipOptions {
  /** Display Plane Select, dword 0 bits 12:8 (Skylake: 0..2 plane 1 of pipe A..C, 4..6 plane 2, 7..8 plane 3 of pipe A..B; 9 would be pipe C's, which it lacks). */
  planeSelect: number;
  /** The surface: a GGTT address, 4 KiB aligned (dword 2 bits 31:12). */
  surface: number;
  /** PLANE_STRIDE bits 9:0 (dword 1 bits 15:6). Default 0. */
  stride?: number;
  /** PLANE_CTL tiling, bits 12:10 (dword 1 bits 2:0): 0 linear, 1 X, 4 Y, 5 Yf. Default 0. */
  tiling?: number;
  /** Flip Type (dword 2 bits 1:0) 1, asynchronous; else 0, synchronous. */
  async?: boolean;
}

/** MI_DISPLAY_FLIP (3 dwords; i915 6.1 `MI_DISPLAY_FLIP`, GVT-g `skl_decode_mi_display_flip` layout). */
export function miDisplayFlip(o: DisplayFlipOptions): number[] {
  if (!Number.isInteger(o.planeSelect) || o.planeSelect < 0 || o.planeSelect > 31) {
    throw new RangeArgError(`MI_DISPLAY_FLIP: plane select ${o.planeSelect} does not fit 5 bits`);
  }
  if (!Number.isInteger(o.surface) || o.surface < 0 || o.surface >= TWO_POW_32 || o.surface % 4096 !== 0) {
    throw new RangeArgError(`MI_DISPLAY_FLIP: surface ${o.surface} is not a 4 KiB-aligned 32-bit address`);
  }
  const stride = o.stride ?? 0, tiling = o.tiling ?? 0;
  if (!Number.isInteger(stride) || stride < 0 || stride > 0x3ff) throw new RangeArgError(`MI_DISPLAY_FLIP: stride ${stride} does not fit 10 bits`);
  if (!Number.isInteger(tiling) || tiling < 0 || tiling > 7) throw new RangeArgError(`MI_DISPLAY_FLIP: tiling ${tiling} does not fit 3 bits`);
  return [encodeHeader('MI_DISPLAY_FLIP', 3, o.planeSelect << 8), ((stride << 6) | tiling) >>> 0, (o.surface | (o.async ? 1 : 0)) >>> 0];
}

/**
 * MI_STORE_DATA_IMM of `values` (one or more dwords) at `address`; GGTT when `ggtt`. Two values
 * set Store Qword unless `storeQword` says otherwise (a qword store needs 8-byte alignment).
 */
export function miStoreDataImm(address: number, values: readonly number[], opts: { ggtt?: boolean; storeQword?: boolean } = {}): number[] {
  if (values.length < 1) throw new RangeArgError('MI_STORE_DATA_IMM: at least one value');
  const qword = opts.storeQword ?? values.length === 2;
  checkAddress('MI_STORE_DATA_IMM', address, qword ? 8 : 4);
  const out = [encodeHeader('MI_STORE_DATA_IMM', 3 + values.length, b(opts.ggtt, 22) | b(qword, 21)), lo(address), hi(address)];
  values.forEach((v, k) => out.push(u32(`MI_STORE_DATA_IMM values[${k}]`, v)));
  return out;
}

/** MI_LOAD_REGISTER_IMM of (register offset, value) pairs. */
export function miLoadRegisterImm(pairs: readonly (readonly [number, number])[]): number[] {
  if (pairs.length < 1) throw new RangeArgError('MI_LOAD_REGISTER_IMM: at least one pair');
  const out = [encodeHeader('MI_LOAD_REGISTER_IMM', 1 + 2 * pairs.length)];
  pairs.forEach(([offset, value], k) => out.push(checkRegister(`MI_LOAD_REGISTER_IMM pairs[${k}]`, offset), u32(`MI_LOAD_REGISTER_IMM pairs[${k}] value`, value)));
  return out;
}

/** MI_STORE_REGISTER_MEM: store `register` to `address`. */
export function miStoreRegisterMem(register: number, address: number, opts: { ggtt?: boolean; predicate?: boolean } = {}): number[] {
  checkAddress('MI_STORE_REGISTER_MEM', address, 4);
  return [
    encodeHeader('MI_STORE_REGISTER_MEM', 4, b(opts.ggtt, 22) | b(opts.predicate, 21)),
    checkRegister('MI_STORE_REGISTER_MEM', register), lo(address), hi(address),
  ];
}

/** MI_LOAD_REGISTER_MEM: load `register` from `address`. */
export function miLoadRegisterMem(register: number, address: number, opts: { ggtt?: boolean; asyncMode?: boolean } = {}): number[] {
  checkAddress('MI_LOAD_REGISTER_MEM', address, 4);
  return [
    encodeHeader('MI_LOAD_REGISTER_MEM', 4, b(opts.ggtt, 22) | b(opts.asyncMode, 21)),
    checkRegister('MI_LOAD_REGISTER_MEM', register), lo(address), hi(address),
  ];
}

/** MI_LOAD_REGISTER_REG: copy register `source` to register `destination`. */
export function miLoadRegisterReg(source: number, destination: number): number[] {
  return [
    encodeHeader('MI_LOAD_REGISTER_REG', 3),
    checkRegister('MI_LOAD_REGISTER_REG source', source),
    checkRegister('MI_LOAD_REGISTER_REG destination', destination),
  ];
}

/** Post-sync operations of MI_FLUSH_DW and PIPE_CONTROL (bits 15:14 of their flag dword). */
export const PostSyncOp = {
  NONE: 0,
  WRITE_IMMEDIATE: 1,
  /** PIPE_CONTROL: write the PS depth count; MI_FLUSH_DW: reserved. */
  WRITE_DEPTH_COUNT: 2,
  WRITE_TIMESTAMP: 3,
} as const;

/** Options of MI_FLUSH_DW. */
export interface FlushDwOptions {
  postSyncOp?: number;
  /** Post-sync destination (qword aligned). */
  address?: number;
  ggtt?: boolean;
  data?: number;
  /** High dword of a qword immediate; when given the command is 5 dwords long. */
  dataHigh?: number;
  notify?: boolean;
  tlbInvalidate?: boolean;
  storeDataIndex?: boolean;
  videoPipelineCacheInvalidate?: boolean;
}

/** MI_FLUSH_DW (BCS, VCS, VECS), 4 dwords, or 5 with a qword immediate. */
export function miFlushDw(opts: FlushDwOptions = {}): number[] {
  const op = opts.postSyncOp ?? PostSyncOp.NONE;
  if (!Number.isInteger(op) || op < 0 || op > 3) throw new RangeArgError(`MI_FLUSH_DW: post-sync op ${op}`);
  const address = opts.address ?? 0;
  checkAddress('MI_FLUSH_DW', address, 8);
  const qword = opts.dataHigh !== undefined;
  const header = encodeHeader('MI_FLUSH_DW', qword ? 5 : 4,
    (op << 14) | b(opts.notify, 8) | b(opts.tlbInvalidate, 18) | b(opts.storeDataIndex, 21) | b(opts.videoPipelineCacheInvalidate, 7));
  const out = [header, (lo(address) | b(opts.ggtt, 2)) >>> 0, hi(address), u32('MI_FLUSH_DW data', opts.data ?? 0)];
  if (qword) out.push(u32('MI_FLUSH_DW dataHigh', opts.dataHigh ?? 0));
  return out;
}

/** Options of PIPE_CONTROL. */
export interface PipeControlOptions {
  postSyncOp?: number;
  address?: number;
  ggtt?: boolean;
  data?: number;
  dataHigh?: number;
  commandStreamerStall?: boolean;
  notify?: boolean;
  dcFlush?: boolean;
  renderTargetCacheFlush?: boolean;
  depthCacheFlush?: boolean;
  depthStall?: boolean;
  stallAtPixelScoreboard?: boolean;
  tlbInvalidate?: boolean;
  stateCacheInvalidate?: boolean;
  constantCacheInvalidate?: boolean;
  vfCacheInvalidate?: boolean;
  textureCacheInvalidate?: boolean;
  instructionCacheInvalidate?: boolean;
}

/** PIPE_CONTROL (RCS), 6 dwords; with `postSyncOp` WRITE_IMMEDIATE it writes `data`/`dataHigh` to `address`. */
export function pipeControl(opts: PipeControlOptions = {}): number[] {
  const op = opts.postSyncOp ?? PostSyncOp.NONE;
  if (!Number.isInteger(op) || op < 0 || op > 3) throw new RangeArgError(`PIPE_CONTROL: post-sync op ${op}`);
  const address = opts.address ?? 0;
  checkAddress('PIPE_CONTROL', address, op === PostSyncOp.WRITE_IMMEDIATE && opts.dataHigh === undefined ? 4 : 8);
  const flags =
    b(opts.depthCacheFlush, 0) | b(opts.stallAtPixelScoreboard, 1) | b(opts.stateCacheInvalidate, 2) |
    b(opts.constantCacheInvalidate, 3) | b(opts.vfCacheInvalidate, 4) | b(opts.dcFlush, 5) | b(opts.notify, 8) |
    b(opts.textureCacheInvalidate, 10) | b(opts.instructionCacheInvalidate, 11) | b(opts.renderTargetCacheFlush, 12) |
    b(opts.depthStall, 13) | (op << 14) | b(opts.tlbInvalidate, 18) | b(opts.commandStreamerStall, 20) | b(opts.ggtt, 24);
  return [
    encodeHeader('PIPE_CONTROL', 6), flags >>> 0, lo(address), hi(address),
    u32('PIPE_CONTROL data', opts.data ?? 0), u32('PIPE_CONTROL dataHigh', opts.dataHigh ?? 0),
  ];
}

/** BR13 color depth: 0 8 bpp, 1 565, 2 1555, 3 32 bpp. */
export const BltColorDepth = { CD8: 0, CD565: 1, CD1555: 2, CD32: 3 } as const;

/** A rectangle in pixels, x2/y2 exclusive. */
export interface BltRect {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

function coord(what: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeArgError(`${what}: coordinate ${v} does not fit 16 bits`);
  return v;
}
function pitch(what: string, v: number): number {
  if (!Number.isInteger(v) || v < -0x8000 || v > 0x7fff) throw new RangeArgError(`${what}: pitch ${v} does not fit a signed 16-bit field`);
  return v & 0xffff;
}
function encodeBr13(what: string, p: number, rop: number, colorDepth: number, clip: boolean | undefined): number {
  if (!Number.isInteger(rop) || rop < 0 || rop > 0xff) throw new RangeArgError(`${what}: ROP ${rop}`);
  if (!Number.isInteger(colorDepth) || colorDepth < 0 || colorDepth > 3) throw new RangeArgError(`${what}: color depth ${colorDepth}`);
  return (pitch(what, p) | (rop << 16) | (colorDepth << 24) | b(clip, 30)) >>> 0;
}

/** Options of XY_COLOR_BLT. */
export interface ColorBltOptions {
  dstAddress: number;
  /** Destination pitch in bytes (in dwords for tiled surfaces, as the PRM says). */
  dstPitch: number;
  dst: BltRect;
  color: number;
  colorDepth?: number;
  /** Raster operation, 0xF0 (PATCOPY) by default. */
  rop?: number;
  writeAlpha?: boolean;
  writeRgb?: boolean;
  dstTiled?: boolean;
  clipEnable?: boolean;
}

/** XY_COLOR_BLT (BCS), Gen8+ layout: 7 dwords. */
export function xyColorBlt(o: ColorBltOptions): number[] {
  checkAddress('XY_COLOR_BLT', o.dstAddress, 1);
  const header = encodeHeader('XY_COLOR_BLT', 7, b(o.writeAlpha ?? true, 21) | b(o.writeRgb ?? true, 20) | b(o.dstTiled, 11));
  return [
    header,
    encodeBr13('XY_COLOR_BLT', o.dstPitch, o.rop ?? 0xf0, o.colorDepth ?? BltColorDepth.CD32, o.clipEnable),
    ((coord('XY_COLOR_BLT y1', o.dst.y1) << 16) | coord('XY_COLOR_BLT x1', o.dst.x1)) >>> 0,
    ((coord('XY_COLOR_BLT y2', o.dst.y2) << 16) | coord('XY_COLOR_BLT x2', o.dst.x2)) >>> 0,
    lo(o.dstAddress), hi(o.dstAddress),
    u32('XY_COLOR_BLT color', o.color),
  ];
}

/** Options of XY_SRC_COPY_BLT. */
export interface SrcCopyBltOptions {
  dstAddress: number;
  dstPitch: number;
  dst: BltRect;
  srcAddress: number;
  srcPitch: number;
  srcX: number;
  srcY: number;
  colorDepth?: number;
  /** Raster operation, 0xCC (SRCCOPY) by default. */
  rop?: number;
  writeAlpha?: boolean;
  writeRgb?: boolean;
  dstTiled?: boolean;
  srcTiled?: boolean;
  clipEnable?: boolean;
}

/** XY_SRC_COPY_BLT (BCS), Gen8+ layout: 10 dwords. */
export function xySrcCopyBlt(o: SrcCopyBltOptions): number[] {
  checkAddress('XY_SRC_COPY_BLT destination', o.dstAddress, 1);
  checkAddress('XY_SRC_COPY_BLT source', o.srcAddress, 1);
  const header = encodeHeader('XY_SRC_COPY_BLT', 10,
    b(o.writeAlpha ?? true, 21) | b(o.writeRgb ?? true, 20) | b(o.srcTiled, 15) | b(o.dstTiled, 11));
  return [
    header,
    encodeBr13('XY_SRC_COPY_BLT', o.dstPitch, o.rop ?? 0xcc, o.colorDepth ?? BltColorDepth.CD32, o.clipEnable),
    ((coord('XY_SRC_COPY_BLT y1', o.dst.y1) << 16) | coord('XY_SRC_COPY_BLT x1', o.dst.x1)) >>> 0,
    ((coord('XY_SRC_COPY_BLT y2', o.dst.y2) << 16) | coord('XY_SRC_COPY_BLT x2', o.dst.x2)) >>> 0,
    lo(o.dstAddress), hi(o.dstAddress),
    ((coord('XY_SRC_COPY_BLT srcY', o.srcY) << 16) | coord('XY_SRC_COPY_BLT srcX', o.srcX)) >>> 0,
    pitch('XY_SRC_COPY_BLT source', o.srcPitch),
    lo(o.srcAddress), hi(o.srcAddress),
  ];
}
