/**
 * A command generator driven by the command table (`lib/device/commands` `COMMANDS`): any command
 * of an engine, every field drawn from its full range rather than from known-good shapes.
 *
 * - the header: the identifying bits of the row, a length from the row's length field (nominal,
 *   minimal or anything the field holds), every other header bit random;
 * - **address fields** (`CommandInfo.addressDwords`, repeated fields included): an address from
 *   the caller's pool (own buffers, the victim's, the mediator's shadow range, page and slice ends,
 *   0, 2^32 and 2^48 edges, register offsets aliased into an address) with its flag bits below
 *   `lowBit` random and its address-space selector bit (GGTT / PPGTT) chosen both ways;
 * - **register fields** (`registerDwords`): any offset of the 2 MiB MMIO space, every
 *   command-accessible register, the engine's own;
 * - **flag fields** (`FLAG_FIELDS` below, bit layouts from Mesa genxml gen9.xml and the PRM): each
 *   flag of a command drawn over its whole range, so every combination comes up (PIPE_CONTROL's
 *   post-sync operation with index mode, LRI post-sync and destination type; MI_FLUSH_DW's; store
 *   qword; MI_ATOMIC's opcode, size, inline data and return; batch start's space, level, predicate);
 * - **blit geometry** (`BLIT_FIELDS`): pitch 0, ±small, negative, 0x7fff / 0x8000, coordinates up
 *   to 0xffff, so width × height can be maximal with a pitch that keeps the checked extent tiny.
 */
import type { Rng } from '../../clock.js';
import { COMMANDS, CommandFlag, type CommandInfo } from '../../device/commands/index.js';
import { chance, pick, u32 } from '../fuzzer.js';

/** A flag field of one command: `width` bits at `shift` of dword `dword`. */
export interface FlagField {
  readonly command: string;
  readonly dword: number;
  readonly shift: number;
  readonly width: number;
  readonly name: string;
}

/** Flag fields (gen9.xml `<field>` start/end; dword = start / 32). */
export const FLAG_FIELDS: readonly FlagField[] = [
  ...([
    [14, 2, 'Post Sync Operation'], [21, 1, 'Store Data Index'], [23, 1, 'LRI Post Sync Operation'],
    [24, 1, 'Destination Address Type'], [20, 1, 'Command Streamer Stall Enable'], [8, 1, 'Notify Enable'],
    [18, 1, 'TLB Invalidate'], [13, 1, 'Depth Stall Enable'], [5, 1, 'DC Flush Enable'], [19, 1, 'Global Snapshot Count Reset'],
  ] as const).map(([shift, width, name]) => ({ command: 'PIPE_CONTROL', dword: 1, shift, width, name })),
  ...([
    [14, 2, 'Post-Sync Operation'], [21, 1, 'Store Data Index'], [8, 1, 'Notify Enable'], [18, 1, 'TLB Invalidate'], [7, 1, 'Video Pipeline Cache Invalidate'],
  ] as const).map(([shift, width, name]) => ({ command: 'MI_FLUSH_DW', dword: 0, shift, width, name })),
  { command: 'MI_STORE_DATA_IMM', dword: 0, shift: 21, width: 1, name: 'Store Qword' },
  { command: 'MI_STORE_DATA_IMM', dword: 0, shift: 22, width: 1, name: 'Use Global GTT' },
  ...([
    [22, 1, 'Memory Type'], [21, 1, 'Post-Sync Operation'], [19, 2, 'Data Size'], [18, 1, 'Inline Data'],
    [17, 1, 'CS STALL'], [16, 1, 'Return Data Control'], [8, 8, 'ATOMIC OPCODE'],
  ] as const).map(([shift, width, name]) => ({ command: 'MI_ATOMIC', dword: 0, shift, width, name })),
  { command: 'MI_STORE_REGISTER_MEM', dword: 0, shift: 21, width: 2, name: 'Predicate Enable / Use Global GTT' },
  { command: 'MI_LOAD_REGISTER_MEM', dword: 0, shift: 21, width: 2, name: 'Async Mode Enable / Use Global GTT' },
  { command: 'MI_LOAD_REGISTER_IMM', dword: 0, shift: 8, width: 4, name: 'Byte Write Disables' },
  { command: 'MI_BATCH_BUFFER_START', dword: 0, shift: 8, width: 1, name: 'Address Space Indicator' },
  { command: 'MI_BATCH_BUFFER_START', dword: 0, shift: 22, width: 1, name: 'Second Level Batch Buffer' },
  { command: 'MI_BATCH_BUFFER_START', dword: 0, shift: 15, width: 2, name: 'Predication Enable / Add Offset Enable' },
  { command: 'MI_COPY_MEM_MEM', dword: 0, shift: 21, width: 2, name: 'Use Global GTT Destination / Source' },
  // MI_DISPLAY_FLIP (GVT-g skl_decode_mi_display_flip; i915 6.1 MI_DISPLAY_FLIP_SKL_PLANE_*): every
  // plane select 0..31, stride, tiling. Flip Type (dword 2 bits 1:0) sits under the surface's low
  // bits, which the address step below draws (and the commands fuzzer's own generator varies).
  { command: 'MI_DISPLAY_FLIP', dword: 0, shift: 8, width: 5, name: 'Display Plane Select' },
  { command: 'MI_DISPLAY_FLIP', dword: 1, shift: 6, width: 10, name: 'Display Buffer Pitch' },
  { command: 'MI_DISPLAY_FLIP', dword: 1, shift: 0, width: 3, name: 'Tile Parameter' },
];

/** Blit geometry: [command, dword, kind]; BR13 pitch (bits 15:0), a y:x coordinate pair, a plain pitch dword. */
export const BLIT_FIELDS: readonly (readonly [string, number, 'br13' | 'coords' | 'pitch'])[] = [
  ['XY_COLOR_BLT', 1, 'br13'], ['XY_COLOR_BLT', 2, 'coords'], ['XY_COLOR_BLT', 3, 'coords'],
  ['XY_SRC_COPY_BLT', 1, 'br13'], ['XY_SRC_COPY_BLT', 2, 'coords'], ['XY_SRC_COPY_BLT', 3, 'coords'],
  ['XY_SRC_COPY_BLT', 6, 'coords'], ['XY_SRC_COPY_BLT', 7, 'pitch'],
  ['XY_FULL_BLT', 1, 'br13'], ['XY_PAT_BLT', 1, 'br13'], ['XY_SETUP_BLT', 1, 'br13'],
];

const FLAGS_BY_ID: readonly FlagField[][] = COMMANDS.map((c) => FLAG_FIELDS.filter((f) => f.command === c.name));
const BLITS_BY_ID: readonly (readonly [string, number, 'br13' | 'coords' | 'pitch'])[][] = COMMANDS.map((c) => BLIT_FIELDS.filter((f) => f[0] === c.name));

/** What the generator asks its caller for. */
export interface FieldSource {
  readonly rng: Rng;
  /** A graphics address (any space) for a field of `bytes`. */
  address(bytes: number): number;
  /** A register offset. */
  register(): number;
  /** A register the auditor allows on this engine (for fields that must pass its register check). */
  allowedRegister?(): number;
}

/** Post-sync commands (PIPE_CONTROL, MI_FLUSH_DW), then commands that write memory or touch registers: drawn more often. */
function weight(c: CommandInfo): number {
  const f = c.flags;
  if ((f & CommandFlag.POST_SYNC) !== 0) return 24;
  if ((f & (CommandFlag.POST_SYNC | CommandFlag.MEMORY_WRITE | CommandFlag.REGISTER_READ | CommandFlag.REGISTER_WRITE)) !== 0) return 8;
  if ((f & CommandFlag.HAS_ADDRESS) !== 0) return 3;
  return 1;
}

/** Commands of an engine class, each repeated by its weight (a uniform pick is then weighted). */
export function weightedCommands(engineClass: number): CommandInfo[] {
  const out: CommandInfo[] = [];
  for (const c of COMMANDS) if ((c.engines & (1 << engineClass)) !== 0) for (let k = 0; k < weight(c); k++) out.push(c);
  return out;
}

function pitch16(rng: Rng): number {
  return pick(rng, [0, 0, 1, 4, 64, 128, 0xff80, 0xfffc, 0x7fff, 0x8000, 0xffff, rng.int(0x10000)]);
}

function coord(rng: Rng): number {
  // Edges (0x7fff, 0xffff, anything) one time in four: a large rectangle costs the device model a
  // large copy, and the maximal one is drawn on its own (`generateFromTable`).
  return pick(rng, [0, 1, 8, rng.int(64), rng.int(64), rng.int(256), 0x7fff, pick(rng, [0xfffe, 0xffff, rng.int(0x10000)])]);
}

/** The length of one instance of `c`. */
function lengthOf(rng: Rng, c: CommandInfo): number {
  if (typeof c.length === 'number') return c.length;
  const { mask, bias } = c.length;
  const r = rng.int(10);
  if (r < 5 && c.nominalLength > 0) return c.nominalLength;
  if (r < 6) return bias;
  return bias + rng.int(Math.min(mask, 30) + 1);
}

/**
 * One instance of command `c` with every field drawn from its full range. `plain`: its nominal
 * length and no stray header bits (only the fields vary).
 */
export function generateFromTable(src: FieldSource, c: CommandInfo, plain = false): number[] {
  const rng = src.rng;
  const len = Math.max(1, plain && c.nominalLength > 0 ? c.nominalLength : lengthOf(rng, c));
  const lengthMask = typeof c.length === 'number' ? 0 : c.length.mask;
  const bias = typeof c.length === 'number' ? 0 : c.length.bias;
  const free = ~(c.mask | lengthMask) >>> 0;
  const junk = plain || chance(rng, 0.5) ? 0 : rng.nextU32() & free;
  const out = new Array<number>(len);
  out[0] = (c.match | junk | (lengthMask ? (len - bias) & lengthMask : 0)) >>> 0;
  for (let i = 1; i < len; i++) out[i] = plain ? 0 : u32(rng);
  // Flag fields over their whole range.
  for (const f of FLAGS_BY_ID[c.id]) {
    if (f.dword >= len) continue;
    const m = ((2 ** f.width - 1) * 2 ** f.shift) >>> 0;
    out[f.dword] = ((out[f.dword] & ~m) | ((rng.int(2 ** f.width) * 2 ** f.shift) >>> 0)) >>> 0;
  }
  // Register fields: anywhere in the 2 MiB space, the whitelist, the engine's own.
  for (const d of c.registerDwords ?? []) if (d < len) out[d] = src.register() >>> 0;
  if ((c.flags & CommandFlag.REGISTER_PAIRS) !== 0) for (let i = 1; i + 1 < len; i += 2) out[i] = src.register() >>> 0;
  // Address fields, their flag bits and their address-space selector.
  for (const f of c.addressDwords ?? []) {
    for (let d = f.dword; d + (f.is64 ? 1 : 0) < len; d += f.repeatStride ?? len) {
      const a = src.address(8);
      const low = f.lowBit >= 32 ? 0xffffffff : ((1 << f.lowBit) - 1) >>> 0;
      out[d] = (((a >>> 0) & ~low) | (chance(rng, 0.7) ? 0 : rng.nextU32() & low)) >>> 0;
      if (f.is64) out[d + 1] = chance(rng, 0.9) ? Math.floor(a / 2 ** 32) & 0xffff : rng.nextU32();
      if (typeof f.space === 'object' && f.space.dword < len) {
        const bit = (1 << f.space.bit) >>> 0;
        out[f.space.dword] = (chance(rng, 0.5) ? out[f.space.dword] | bit : out[f.space.dword] & ~bit) >>> 0;
      }
      if (!f.repeatStride) break;
    }
  }
  // PIPE_CONTROL's LRI post-sync names a register in the address dword: alias one in.
  if (c.name === 'PIPE_CONTROL' && len > 2 && (out[1] & (1 << 23)) !== 0 && chance(rng, 0.8)) {
    const reg = src.allowedRegister && chance(rng, 0.8) ? src.allowedRegister() : src.register();
    out[2] = ((out[2] & ~0x7ffffc) | (reg & 0x7ffffc)) >>> 0;
  }
  // Blit geometry; one time in eight the largest rectangle (0,0)-(0xffff,0xffff). The raster
  // operation is mostly a plain fill or copy (the device model's fast path: campaign speed).
  const maximal = chance(rng, 0.125);
  for (const [, d, kind] of BLITS_BY_ID[c.id]) {
    if (d >= len) continue;
    if (kind === 'br13') {
      const rop = chance(rng, 0.75) ? pick(rng, [0xf0, 0xcc]) : rng.int(256);
      out[d] = ((out[d] & 0xff000000) | (rop << 16) | pitch16(rng)) >>> 0;
    }
    else if (kind === 'pitch') out[d] = pitch16(rng);
    else if (maximal && (d === 2 || d === 3)) out[d] = d === 2 ? 0 : 0xffffffff;
    else out[d] = ((coord(rng) << 16) | coord(rng)) >>> 0;
  }
  return out;
}
