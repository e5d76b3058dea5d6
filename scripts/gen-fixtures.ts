/**
 * Writes the command-stream fixtures under `fixtures/streams/`:
 * - `3d-frame.bin`: a render-ring batch of one frame (pipeline select, STATE_BASE_ADDRESS, the
 *   3DSTATE_* setup, materials and draws with state changes between them, PIPE_CONTROLs);
 * - `blit.bin`: a blitter batch of copies and fills with MI_FLUSH_DW post-sync writes;
 * - `media.bin`: a video-ring batch decoding AVC frames through MFX commands;
 * - `manifest.json`: file, engine, bytes, commands.
 *
 * Run `npm run build && node dist/scripts/gen-fixtures.js` (or `npm run fixtures`). The output is
 * a pure function of the seed (lib/clock.ts Rng): the same bytes on every run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Rng } from '../lib/clock.js';
import {
  encodeByName,
  findCommand,
  miArbCheck,
  miBatchBufferEnd,
  miFlushDw,
  miLoadRegisterImm,
  miNoop,
  miStoreDataImm,
  miStoreRegisterMem,
  pipeControl,
  PostSyncOp,
  xyColorBlt,
  xySrcCopyBlt,
} from '../lib/device/commands/index.js';

/** Seed of every fixture. */
export const FIXTURE_SEED = 0x6e9;

/** One generated stream. */
export interface FixtureStream {
  file: string;
  engine: 'rcs' | 'bcs' | 'vcs' | 'vecs';
  dwords: Uint32Array;
  commands: number;
}

/** Collects encoded commands and counts them. */
class StreamWriter {
  private readonly parts: number[] = [];
  commands = 0;
  emit(cmd: readonly number[]): void {
    for (let k = 0; k < cmd.length; k++) this.parts.push(cmd[k]);
    this.commands++;
  }
  /** A table command with a body of its nominal length, filled by `fill(dword index)`. */
  state(name: string, fill: (k: number) => number = () => 0): void {
    const info = findCommand(name);
    if (!info || info.nominalLength < 1) throw new Error(`fixture: ${name} has no nominal length`);
    const body: number[] = [];
    for (let k = 1; k < info.nominalLength; k++) body.push(fill(k) >>> 0);
    this.emit(encodeByName(name, body));
  }
  get dwordCount(): number {
    return this.parts.length;
  }
  finish(): Uint32Array {
    return Uint32Array.from(this.parts);
  }
}

const GPU_HEAP = 0x1_0000_0000; // PPGTT base of the frame's buffers
const MOCS_WB = 2 << 1;

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}
function addr(rng: Rng, base: number, span: number, align: number): number {
  return base + Math.floor(rng.int(span / align)) * align;
}

/** A render batch for one frame. */
export function render3dFrame(rng: Rng): FixtureStream {
  const w = new StreamWriter();
  // Context and pipeline setup.
  w.emit(miLoadRegisterImm([[0x7000, 0x00100010], [0x7004, 0x80008000], [0x20d8, 0x00010001]]));
  w.emit(pipeControl({ commandStreamerStall: true, renderTargetCacheFlush: true, dcFlush: true, depthCacheFlush: true }));
  w.emit(encodeByName('PIPELINE_SELECT', [], (0x3 << 8) | 0 /* 3D */));
  // STATE_BASE_ADDRESS: five 4 KiB-aligned bases (modify-enable bit 0, MOCS in bits 10:4), the
  // stateless MOCS, four buffer sizes (4 KiB units in bits 31:12, modify-enable bit 0), bindless base and size.
  const base = (offset: number): number[] => [((GPU_HEAP + offset) >>> 0) | (MOCS_WB << 4) | 1, Math.floor((GPU_HEAP + offset) / 2 ** 32)];
  const sba = [
    ...base(0), MOCS_WB << 16, ...base(0x100000), ...base(0x200000), ...base(0x300000), ...base(0x400000),
    0xfffff001, 0xfffff001, 0xfffff001, 0xfffff001, ...base(0x500000), 0x1000 << 12,
  ];
  w.emit(encodeByName('STATE_BASE_ADDRESS', sba));
  w.state('3DSTATE_VF_STATISTICS');
  w.state('STATE_SIP', (k) => (k === 1 ? 0x1000 : 0));
  w.state('3DSTATE_DRAWING_RECTANGLE', (k) => (k === 2 ? (1079 << 16) | 1919 : 0));
  for (const [stage, at] of [['VS', 2], ['HS', 64], ['DS', 64], ['GS', 64]] as const) {
    w.state(`3DSTATE_URB_${stage}`, () => (at << 25) | (3 << 16) | (stage === 'VS' ? 640 : 0));
  }
  for (const [stage, off] of [['VS', 0], ['HS', 4], ['DS', 4], ['GS', 4], ['PS', 4]] as const) {
    w.state(`3DSTATE_PUSH_CONSTANT_ALLOC_${stage}`, () => (off << 16) | (stage === 'PS' ? 28 : stage === 'VS' ? 4 : 0));
  }
  w.state('3DSTATE_MULTISAMPLE');
  w.state('3DSTATE_SAMPLE_MASK', () => 1);
  w.state('3DSTATE_SAMPLE_PATTERN', () => 0x88888888);
  w.state('3DSTATE_DEPTH_BUFFER', (k) => {
    const a = GPU_HEAP + 0x0200_0000;
    return [0, (2 << 29) | (1 << 28) | (1 << 18) | (7679), a >>> 0, Math.floor(a / 2 ** 32), (1079 << 18) | (1919 << 4), MOCS_WB, 0, 0][k];
  });
  w.state('3DSTATE_STENCIL_BUFFER');
  w.state('3DSTATE_HIER_DEPTH_BUFFER', (k) => (k === 1 ? 511 : k === 2 ? (GPU_HEAP + 0x0300_0000) >>> 0 : k === 3 ? 1 : 0));
  w.state('3DSTATE_CLEAR_PARAMS', (k) => (k === 1 ? 0x3f800000 : 1));
  w.state('3DSTATE_VIEWPORT_STATE_POINTERS_CC', () => 0x1c0);
  w.state('3DSTATE_VIEWPORT_STATE_POINTERS_SF_CLIP', () => 0x200);
  w.state('3DSTATE_SCISSOR_STATE_POINTERS', () => 0x240);
  for (const name of ['3DSTATE_HS', '3DSTATE_TE', '3DSTATE_DS', '3DSTATE_GS', '3DSTATE_STREAMOUT']) w.state(name);
  w.state('3DSTATE_CLIP', (k) => (k === 2 ? (1 << 31) | (1 << 26) : k === 3 ? 0x0f : 0));
  w.state('3DSTATE_SF', (k) => (k === 1 ? (1 << 1) | (0x80 << 12) : k === 3 ? (1 << 11) | 8 : 0));
  w.state('3DSTATE_RASTER', (k) => (k === 1 ? (3 << 16) | (1 << 21) : 0));
  w.state('3DSTATE_WM', () => (1 << 11));
  w.state('3DSTATE_WM_DEPTH_STENCIL', (k) => (k === 1 ? (4 << 5) | 3 : 0));
  w.state('3DSTATE_PS_BLEND', () => (1 << 30));
  w.state('3DSTATE_BLEND_STATE_POINTERS', () => 0x280 | 1);
  w.state('3DSTATE_CC_STATE_POINTERS', () => 0x2c0 | 1);
  w.state('3DSTATE_BINDING_TABLE_POOL_ALLOC', (k) => (k === 1 ? ((GPU_HEAP + 0x600000) >>> 0) | (1 << 11) | MOCS_WB : k === 2 ? 1 : 0xfffff000));
  w.state('3DSTATE_VF_TOPOLOGY', () => 4 /* TRILIST */);

  const materials = 48;
  const draws = 1500;
  let material = -1;
  for (let d = 0; d < draws; d++) {
    if (d % 23 === 0 || rng.int(6) === 0) {
      // A material change: shaders, their constants, bindings and vertex layout.
      material = rng.int(materials);
      const kernel = 0x10000 + material * 0x800;
      w.state('3DSTATE_VS', (k) => (k === 1 ? kernel : k === 3 ? (rng.int(8) << 18) : k === 6 ? (1 << 11) | (2 << 4) : k === 7 ? (0x3f << 23) | (1 << 10) | (1 << 2) | 1 : 0));
      w.state('3DSTATE_CONSTANT_VS', (k) => (k === 1 ? 4 : k === 3 ? ((GPU_HEAP + 0x700000 + material * 0x400) >>> 0) : k === 4 ? 1 : 0));
      w.state('3DSTATE_BINDING_TABLE_POINTERS_VS', () => 0x40 * material);
      w.state('3DSTATE_SAMPLER_STATE_POINTERS_VS', () => 0x20 * material);
      w.state('3DSTATE_SBE', (k) => (k === 1 ? (1 << 22) | (1 << 21) | (1 << 11) | (rng.int(8) << 22) : 0));
      w.state('3DSTATE_SBE_SWIZ', (k) => (k <= 8 ? rng.int(0x10000) & 0x1f1f : 0));
      w.state('3DSTATE_PS', (k) => (k === 1 ? kernel + 0x400 : k === 3 ? (rng.int(16) << 18) : k === 6 ? (1 << 0) | (1 << 1) | (63 << 23) : k === 7 ? (6 << 16) : 0));
      w.state('3DSTATE_PS_EXTRA', () => (1 << 31) | (1 << 8));
      w.state('3DSTATE_CONSTANT_PS', (k) => (k === 1 ? 2 : k === 3 ? ((GPU_HEAP + 0x780000 + material * 0x200) >>> 0) : k === 4 ? 1 : 0));
      w.state('3DSTATE_BINDING_TABLE_POINTERS_PS', () => 0x40 * material + 0x1000);
      w.state('3DSTATE_SAMPLER_STATE_POINTERS_PS', () => 0x20 * material + 0x800);
      const elements = 2 + rng.int(4);
      const ve: number[] = [];
      for (let e = 0; e < elements; e++) {
        ve.push(((e === 0 ? 0 : 1) << 26) | (1 << 25) | (pick(rng, [0x0c0, 0x085, 0x0d0]) << 16) | (e * 12));
        ve.push((1 << 28) | (1 << 24) | (1 << 20) | (e === 0 ? 3 << 16 : 1 << 16));
      }
      w.emit(encodeByName('3DSTATE_VERTEX_ELEMENTS', ve));
      w.state('3DSTATE_VF_SGVS');
      w.state('3DSTATE_VF', (k) => (k === 1 ? 0xffffffff : 0)); // primitive restart index
      for (let e = 0; e < Math.min(elements, 2); e++) w.state('3DSTATE_VF_INSTANCING', (k) => (k === 1 ? e : 0));
    }
    // Per-draw state: vertex and index buffers, per-object constants, the draw.
    const vbs = 2 + rng.int(3); // position, normal, uv, tangent streams
    const vb: number[] = [];
    for (let v = 0; v < vbs; v++) {
      const a = addr(rng, GPU_HEAP + 0x0400_0000, 0x0400_0000, 64);
      vb.push((v << 26) | (MOCS_WB << 16) | (1 << 14) | (v === 0 ? 32 : 16), a >>> 0, Math.floor(a / 2 ** 32), 0x10000 + rng.int(0x40000));
    }
    w.emit(encodeByName('3DSTATE_VERTEX_BUFFERS', vb));
    const indexed = rng.int(4) !== 0;
    if (indexed) {
      const a = addr(rng, GPU_HEAP + 0x0800_0000, 0x0100_0000, 64);
      w.emit(encodeByName('3DSTATE_INDEX_BUFFER', [MOCS_WB | (1 << 8), a >>> 0, Math.floor(a / 2 ** 32), 0x4000 + rng.int(0x10000)]));
    }
    w.state('3DSTATE_CONSTANT_VS', (k) => (k === 1 ? 4 : k === 3 ? ((GPU_HEAP + 0x900000 + d * 0x100) >>> 0) : k === 4 ? 1 : 0));
    if (rng.int(2) === 0) {
      // Per-object material parameters.
      w.state('3DSTATE_CONSTANT_PS', (k) => (k === 1 ? 2 : k === 3 ? ((GPU_HEAP + 0x980000 + d * 0x80) >>> 0) : k === 4 ? 1 : 0));
    }
    const count = 3 * (10 + rng.int(2000));
    w.emit(encodeByName('3DPRIMITIVE', [4 | (indexed ? 1 << 8 : 0), count, rng.int(1000) * 3, 1 + (rng.int(10) === 0 ? rng.int(64) : 0), 0, indexed ? rng.int(5000) : 0]));
    if (d % 97 === 96) {
      // Occasional depth-count query and render-target flush.
      w.emit(pipeControl({ depthStall: true, postSyncOp: PostSyncOp.WRITE_DEPTH_COUNT, address: GPU_HEAP + 0x0a00_0000 + d * 16 }));
      w.emit(pipeControl({ renderTargetCacheFlush: true, commandStreamerStall: true }));
    }
  }
  // End of frame: flush, write the fence value, end the batch.
  w.emit(pipeControl({ renderTargetCacheFlush: true, depthCacheFlush: true, dcFlush: true, commandStreamerStall: true }));
  w.emit(pipeControl({ commandStreamerStall: true, postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: GPU_HEAP + 0x0b00_0000, data: 0x600d, ggtt: false }));
  w.emit(miStoreRegisterMem(0x2358 /* RCS timestamp */, GPU_HEAP + 0x0b00_0040));
  w.emit(miBatchBufferEnd());
  if (w.dwordCount % 2) w.emit(miNoop()); // batches end qword aligned
  return { file: '3d-frame.bin', engine: 'rcs', dwords: w.finish(), commands: w.commands };
}

/** A blitter batch: copies and fills with flushes. */
export function blitStream(rng: Rng): FixtureStream {
  const w = new StreamWriter();
  const fb = 0x0080_0000;
  for (let n = 0; n < 900; n++) {
    const x = rng.int(1600), y = rng.int(900), wd = 1 + rng.int(320), ht = 1 + rng.int(180);
    if (rng.int(3) === 0) {
      w.emit(xyColorBlt({ dstAddress: fb, dstPitch: 7680, dst: { x1: x, y1: y, x2: x + wd, y2: y + ht }, color: rng.nextU32() }));
    } else {
      w.emit(xySrcCopyBlt({
        dstAddress: fb, dstPitch: 7680, dst: { x1: x, y1: y, x2: x + wd, y2: y + ht },
        srcAddress: 0x0200_0000 + rng.int(64) * 0x10000, srcPitch: 4096, srcX: rng.int(64), srcY: rng.int(64),
      }));
    }
    if (n % 16 === 15) {
      w.emit(miFlushDw({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: 0x1000 + (n >> 4) * 8, ggtt: true, data: n }));
      w.emit(miArbCheck());
    }
  }
  w.emit(miFlushDw({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: 0x2000, ggtt: true, data: 0xb17 }));
  w.emit(miStoreDataImm(0x2008, [0xdead, 0xbeef], { ggtt: true }));
  w.emit(miBatchBufferEnd());
  if (w.dwordCount % 2) w.emit(miNoop());
  return { file: 'blit.bin', engine: 'bcs', dwords: w.finish(), commands: w.commands };
}

/** A video batch: AVC decode of a few frames through the MFX pipeline. */
export function mediaStream(rng: Rng): FixtureStream {
  const w = new StreamWriter();
  const surf = 0x0400_0000;
  const random = (): number => rng.nextU32();
  for (let frame = 0; frame < 60; frame++) {
    w.emit(miFlushDw({ videoPipelineCacheInvalidate: true }));
    w.state('MFX_PIPE_MODE_SELECT', (k) => (k === 1 ? 2 /* AVC */ | (1 << 9) : 0));
    w.state('MFX_SURFACE_STATE', (k) => (k === 2 ? (1079 << 18) | (1919 << 4) : k === 3 ? (4 << 28) | (1919 << 3) | 3 : 0));
    w.state('MFX_PIPE_BUF_ADDR_STATE', (k) => (k % 3 === 1 ? (surf + ((k * 0x20000) & 0x3ffffff)) >>> 0 : k % 3 === 0 ? MOCS_WB : 0));
    w.state('MFX_IND_OBJ_BASE_ADDR_STATE', (k) => (k === 1 ? 0x0800_0000 + frame * 0x10000 : k === 4 ? 0x0900_0000 : 0));
    w.state('MFX_BSP_BUF_BASE_ADDR_STATE', (k) => (k % 3 === 1 ? 0x0a00_0000 + k * 0x1000 : 0));
    w.state('MFX_AVC_IMG_STATE', (k) => (k === 1 ? 8159 : k === 2 ? (67 << 16) | 119 : k === 4 ? (1 << 1) | (1 << 4) | (1 << 10) : 0));
    for (let m = 0; m < 4; m++) w.state('MFX_QM_STATE', (k) => (k === 1 ? m : 0x10101010));
    w.state('MFX_AVC_DIRECTMODE_STATE', (k) => (k <= 32 && k % 2 === 1 ? surf + k * 0x8000 : k > 34 ? random() & 0xffff : 0));
    const slices = 1 + rng.int(8);
    for (let s = 0; s < slices; s++) {
      const pSlice = frame % 8 !== 0;
      if (pSlice) w.state('MFX_AVC_REF_IDX_STATE', (k) => (k === 1 ? 0 : 0x80808080 | (random() & 0x01010101)));
      if (pSlice && rng.int(4) === 0) w.state('MFX_AVC_WEIGHTOFFSET_STATE', (k) => (k === 1 ? 0 : random() & 0x00ff00ff));
      w.state('MFX_AVC_SLICE_STATE', (k) => (k === 1 ? (pSlice ? 0 : 2) : k === 3 ? (26 << 16) : k === 4 ? (s * 1020) : 0));
      w.state('MFD_AVC_BSD_OBJECT', (k) => (k === 1 ? 0x400 + rng.int(0x10000) : k === 2 ? rng.int(0x100000) & ~3 : k === 3 ? (1 << 3) : 0));
    }
    w.emit(encodeByName('MFX_WAIT', [], 1 << 8));
    w.emit(miFlushDw({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: 0x3000, ggtt: true, data: frame }));
  }
  w.emit(miBatchBufferEnd());
  if (w.dwordCount % 2) w.emit(miNoop());
  return { file: 'media.bin', engine: 'vcs', dwords: w.finish(), commands: w.commands };
}

/** All fixture streams, in manifest order. */
export function generateFixtures(seed = FIXTURE_SEED): FixtureStream[] {
  return [render3dFrame(new Rng(seed)), blitStream(new Rng(seed + 1)), mediaStream(new Rng(seed + 2))];
}

/** Little-endian bytes of a stream. */
export function streamBytes(s: FixtureStream): Uint8Array {
  const out = new Uint8Array(s.dwords.length * 4);
  const view = new DataView(out.buffer);
  for (let k = 0; k < s.dwords.length; k++) view.setUint32(k * 4, s.dwords[k], true);
  return out;
}

/** The manifest JSON text of the streams. */
export function manifestJson(streams: readonly FixtureStream[]): string {
  const rows = streams.map((s) => ({ file: s.file, engine: s.engine, bytes: s.dwords.length * 4, commands: s.commands }));
  return JSON.stringify({ seed: FIXTURE_SEED, generator: 'scripts/gen-fixtures.ts', streams: rows }, null, 2) + '\n';
}

function main(): void {
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/scripts/ when compiled, scripts/ when run from source.
  const root = here.includes(`${join('dist', 'scripts')}`) ? resolve(here, '..', '..') : resolve(here, '..');
  const out = join(root, 'fixtures', 'streams');
  mkdirSync(out, { recursive: true });
  const streams = generateFixtures();
  for (const s of streams) {
    writeFileSync(join(out, s.file), streamBytes(s));
    console.log(`${s.file.padEnd(14)} ${s.engine.padEnd(5)} ${String(s.dwords.length * 4).padStart(8)} bytes ${String(s.commands).padStart(6)} commands`);
  }
  writeFileSync(join(out, 'manifest.json'), manifestJson(streams));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
