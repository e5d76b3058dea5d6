/**
 * The command streamer of one engine: fetches commands from the ring and from batch buffers,
 * decodes them with the shared command table (`./commands`), executes a subset against host
 * memory and the register file, and charges each command a cost in simulated time.
 *
 * Executed for real: MI_NOOP, MI_BATCH_BUFFER_START / _END (first level, chained, second level),
 * MI_STORE_DATA_IMM, MI_STORE_DATA_INDEX, MI_LOAD_REGISTER_IMM / _MEM / _REG,
 * MI_STORE_REGISTER_MEM, MI_FLUSH_DW and PIPE_CONTROL post-sync writes (immediate data,
 * timestamp, depth count), MI_USER_INTERRUPT, MI_ARB_CHECK, MI_ARB_ON_OFF, XY_COLOR_BLT and
 * XY_SRC_COPY_BLT (8/16/32 bpp, signed pitch, any ROP3, write enables). Every other command the
 * table knows for this engine is decoded (length from the table), charged and otherwise ignored
 * (3D/media state and draws, MI_SEMAPHORE_WAIT and MI_CONDITIONAL_BATCH_BUFFER_END are treated as
 * satisfied / not ending the batch).
 *
 * What a command reads and writes is not decided here: `effectsOf` (commands/effects.ts, the one
 * description the mediator's auditor checks too) lists the effects and `performEffects` and the
 * blitter perform exactly those, in order; a command the table cannot describe (a reserved value,
 * PIPE_CONTROL's LRI post-sync bit with a post-sync operation, too short) faults with BAD_COMMAND.
 *
 * Address spaces follow the effects table (from the command table's rules): a header bit selects
 * GGTT or PPGTT (MI_STORE_DATA_IMM bit 22, MI_FLUSH_DW dword 1 bit 2, PIPE_CONTROL dword 1 bit 24,
 * MI_BATCH_BUFFER_START bit 8, ...); 'context' addresses (the blits) use the context's PPGTT when it
 * has one (an execlist context in a legacy addressing mode with a non-zero root, or legacy ring mode
 * with GFX_MODE PPGTT enabled and a non-zero PDP0), else the GGTT. The ring is always fetched
 * through the GGTT.
 *
 * Faults never throw: an unknown or malformed command records BAD_COMMAND, a translation fault
 * BAD_ADDRESS, a third batch level LIMIT; the streamer stops with `StopReason.ERROR` and the engine
 * turns that into a hang (error state, CS error interrupt, engine stopped).
 *
 * Prefetch: commands are copied into a fetch window (up to 2048 dwords, refilled when used up, at
 * every jump, and when a command does not fit). Like the hardware's prefetcher, a command that
 * rewrites dwords already fetched is not seen until the window is refilled. In a batch the window
 * never runs past the end of the current page unless the command being decoded continues there:
 * the device never reads the page after a batch's end (the ring window stops at the tail).
 *
 * Tiling is not modelled: a tiled blit surface (pitch in dwords) is addressed linearly; the XY_*
 * clip rectangle (XY_SETUP_CLIP_BLT) is not applied.
 */
import createDebug from 'debug';
import type { GuestFaultCode } from '../errors.js';
import type { Ggtt } from '../gtt/ggtt.js';
import { PpgttWalker } from '../gtt/ppgtt-walk.js';
import type { HostMemory } from '../ept/memory.js';
import { MMIO_SPACE_BYTES, type RegisterFile } from '../mmio/index.js';
import { PAGE_SIZE, TWO_POW_32 } from '../types.js';
import {
  Access, CommandDecoder, COMMANDS, DecodeError, EFFECT_STRIDE, E_ACCESS, E_ADDR, E_BYTES, E_CPP, E_KIND, E_MASK, E_ORIGIN, E_PITCH,
  E_ROWS, E_SPACE, E_VALUE, E_VALUE_AT, EffectKind, EffectSpace, GEN9_TABLE, ValueSource, effectsOf, effectsProblem, newEffectBuffer,
} from './commands/index.js';
import type { CompiledCostModel } from './cost.js';
import type { EngineInfo } from './engines.js';
import { RING, TIMESTAMP_HZ } from './registers.js';

const log = createDebug('gvtkit:exec');

/** Why `runChunk` returned. */
export const StopReason = {
  /** The time or command budget of the chunk ran out; more to do. */
  BUDGET: 0,
  /** Head reached tail at ring level: the context (or legacy ring) is done. */
  END_OF_RING: 1,
  /** MI_USER_INTERRUPT executed: raise it when the chunk's time has passed. */
  USER_INTERRUPT: 2,
  /** MI_ARB_CHECK with a preemption pending and arbitration enabled. */
  ARBITRATION: 3,
  /** A fault: see `errorCode`. */
  ERROR: 4,
  /** `abort()` was called (engine reset from a register write). */
  ABORTED: 5,
} as const;

/** Address spaces. */
export const Space = {
  GGTT: 0,
  PPGTT: 1,
} as const;

/** PPGTT modes of the running context. */
export const PpgttMode = {
  NONE: 0,
  /** Legacy 32-bit: four PDP registers hold page directories. */
  LEVEL3: 3,
  /** Legacy 64-bit: PDP0 holds the PML4. */
  LEVEL4: 4,
} as const;

/** Executed operations (by command id, via `OP_OF`). */
const Op = {
  OTHER: 0,
  NOOP: 1,
  BB_START: 2,
  BB_END: 3,
  STORE_DATA_IMM: 4,
  STORE_DATA_INDEX: 5,
  LRI: 6,
  SRM: 7,
  LRM: 8,
  LRR: 9,
  FLUSH_DW: 10,
  PIPE_CONTROL: 11,
  USER_INTERRUPT: 12,
  ARB_CHECK: 13,
  ARB_ON_OFF: 14,
  COLOR_BLT: 15,
  SRC_COPY_BLT: 16,
} as const;

const OP_NAMES: Record<string, number> = {
  MI_NOOP: Op.NOOP,
  MI_BATCH_BUFFER_START: Op.BB_START,
  MI_BATCH_BUFFER_END: Op.BB_END,
  MI_STORE_DATA_IMM: Op.STORE_DATA_IMM,
  MI_STORE_DATA_INDEX: Op.STORE_DATA_INDEX,
  MI_LOAD_REGISTER_IMM: Op.LRI,
  MI_STORE_REGISTER_MEM: Op.SRM,
  MI_LOAD_REGISTER_MEM: Op.LRM,
  MI_LOAD_REGISTER_REG: Op.LRR,
  MI_FLUSH_DW: Op.FLUSH_DW,
  PIPE_CONTROL: Op.PIPE_CONTROL,
  MI_USER_INTERRUPT: Op.USER_INTERRUPT,
  MI_ARB_CHECK: Op.ARB_CHECK,
  MI_ARB_ON_OFF: Op.ARB_ON_OFF,
  XY_COLOR_BLT: Op.COLOR_BLT,
  XY_SRC_COPY_BLT: Op.SRC_COPY_BLT,
};

/** Operation per command id. */
const OP_OF = new Uint8Array(COMMANDS.length);
for (const [name, op] of Object.entries(OP_NAMES)) OP_OF[GEN9_TABLE.byName.get(name)!] = op;

/** Size of the fetch window in dwords (a command is at most 1025 dwords long). */
const FETCH_DWORDS = 2048;
/** Dwords fetched at a time when the window runs dry. */
const FETCH_STEP = 256;
/**
 * Bytes one blitter call processes before yielding: a larger blit stays the current command and
 * resumes at its next row in the next call (so it spans chunks and other events interleave).
 */
const BLIT_BYTES_PER_CALL = 1 << 20;
/** Size of the 48-bit PPGTT address space; graphics addresses lie in [0, 2^48). */
const PPGTT_LIMIT = 2 ** 48;

/** Counters of one command streamer. */
export interface ExecStats {
  /** Commands executed (any kind). */
  commands: number;
  /** Simulated ns charged for commands. */
  commandNs: number;
  /** Bytes written by blits. */
  bytesBlitted: number;
  /** MI_ARB_CHECK commands seen. */
  arbChecks: number;
  /** MI_USER_INTERRUPT commands. */
  userInterrupts: number;
  /** Batch buffers entered (first and second level, chained starts included). */
  batchStarts: number;
  /** Register writes from commands. */
  registerWrites: number;
  /** Memory dwords written by MI_* and post-sync writes. */
  memoryWrites: number;
  /** Commands decoded but not executed (3D/media state, semaphores, ...). */
  ignored: number;
  /** MI_BATCH_BUFFER_END executed at ring level (a no-op). */
  strayBatchEnds: number;
}

/** What the streamer needs from the device. */
export interface StreamerHost {
  readonly regs: RegisterFile;
  readonly ggtt: Ggtt;
  readonly hostMemory: HostMemory;
  readonly cost: CompiledCostModel;
  /** Current simulated time (for timestamps). */
  now(): number;
}

/** 64-bit CS timestamp (12 MHz) at simulated time `ns`, as a number below 2^53. */
export function timestampTicks(ns: number): number {
  return Math.floor((ns * TIMESTAMP_HZ) / 1e9);
}

/** The per-engine command streamer. */
export class CommandStreamer {
  readonly info: EngineInfo;
  readonly stats: ExecStats = {
    commands: 0, commandNs: 0, bytesBlitted: 0, arbChecks: 0, userInterrupts: 0, batchStarts: 0,
    registerWrites: 0, memoryWrites: 0, ignored: 0, strayBatchEnds: 0,
  };
  /** Commands executed, per command-table id. */
  readonly commandCounts: Uint32Array = new Uint32Array(COMMANDS.length);

  // --- execution state ------------------------------------------------------------------------
  /** 0 ring, 1 first-level batch, 2 second-level batch. */
  level = 0;
  /** Ring: GGTT address, size in bytes, head and tail offsets, head wrap count. */
  ringStart = 0;
  ringSize = PAGE_SIZE;
  head = 0;
  tail = 0;
  wraps = 0;
  /** Batch instruction pointers (graphics addresses) and address spaces, by level (1, 2). */
  readonly bbIp = new Float64Array(3);
  readonly bbSpace = new Uint8Array(3);

  // --- context --------------------------------------------------------------------------------
  /** PPGTT mode and roots of the running context. */
  ppgttMode = 0;
  readonly pdp = new Float64Array(4);
  /** GGTT address of the engine's hardware status page (RING_HWS_PGA). */
  hwsp = 0;
  /**
   * GGTT address of the per-process status page: page 0 of the execlist context, or the engine's
   * status page in legacy ring mode. "Store Data Index" post-sync writes of MI_FLUSH_DW and
   * PIPE_CONTROL, and MI_STORE_DATA_INDEX with bit 21, are offsets into it (i915 points them at
   * LRC_PPHWSP_SCRATCH_ADDR in execlist mode).
   */
  pphwsp = 0;
  /** Arbitration enabled (MI_ARB_ON_OFF); on at every context load. */
  arbEnabled = true;
  /** Set by the engine: stop at the next MI_ARB_CHECK (when arbitration is enabled). */
  preemptPending = false;

  // --- result of the last chunk ---------------------------------------------------------------
  stopReason = 0;
  errorCode: GuestFaultCode = 'BAD_COMMAND';
  errorMessage = '';
  /** Header and graphics address of the command that faulted. */
  errorHeader = 0;
  errorAddress = 0;
  /** Faulting graphics address and space of the last translation fault (-1 when none). */
  faultAddress = -1;
  faultSpace = 0;

  private readonly host: StreamerHost;
  private readonly regs: RegisterFile;
  private readonly ggtt: Ggtt;
  private readonly mem: HostMemory;
  private readonly walker: PpgttWalker;
  private readonly decoder = new CommandDecoder();
  /** Effect records of the command being executed (`effectsOf`, lib/device/commands/effects.ts). */
  private readonly fx = newEffectBuffer();
  private readonly fetch = new Uint32Array(FETCH_DWORDS);
  private winPos = 0;
  private winLen = 0;
  /** The window stopped early because the next page did not translate. */
  private winFault = false;
  private aborted = false;
  /** Graphics address of the command being executed (for error records). */
  private cmdAddress = 0;
  /**
   * A one-entry PPGTT TLB (page number and host base). Flushed at every chunk, context load and
   * PPGTT change: within one chunk a page-table update is not seen, as a real TLB without an
   * invalidation would not see it.
   */
  private tlbPage = -1;
  private tlbBase = 0;
  /** Next row of a blit in progress (0: no blit in progress). */
  private blitRow = 0;
  /** Scratch rows of the blitter (grown on demand, reused). */
  private rowA = new Uint8Array(0);
  private rowB = new Uint8Array(0);

  constructor(info: EngineInfo, host: StreamerHost) {
    this.info = info;
    this.host = host;
    this.regs = host.regs;
    this.ggtt = host.ggtt;
    this.mem = host.hostMemory;
    this.walker = new PpgttWalker(host.hostMemory);
  }

  /** Start executing a ring (context load or legacy ring start); leaves batches. */
  loadRing(start: number, size: number, head: number, tail: number): void {
    this.ringStart = start;
    this.ringSize = size;
    this.head = head % size;
    this.tail = tail % size;
    this.level = 0;
    this.winLen = 0;
    this.winPos = 0;
    this.arbEnabled = true;
    this.aborted = false;
    this.blitRow = 0;
  }

  /** Resume inside a batch (a context preempted mid-batch). */
  resumeBatch(level: 1 | 2, ip: number, space: number): void {
    this.level = Math.max(this.level, level);
    this.bbIp[level] = ip;
    this.bbSpace[level] = space;
    this.winLen = 0;
  }

  /** Set the PPGTT of the running context. */
  setPpgtt(mode: number, pdp0: number, pdp1: number, pdp2: number, pdp3: number): void {
    this.tlbPage = -1;
    this.ppgttMode = mode;
    this.pdp[0] = pdp0;
    this.pdp[1] = pdp1;
    this.pdp[2] = pdp2;
    this.pdp[3] = pdp3;
  }

  /** True when the context has a PPGTT ('context' addresses use it). */
  get hasPpgtt(): boolean {
    if (this.ppgttMode === PpgttMode.LEVEL4) return this.pdp[0] !== 0;
    if (this.ppgttMode === PpgttMode.LEVEL3) return this.pdp[0] !== 0 || this.pdp[1] !== 0 || this.pdp[2] !== 0 || this.pdp[3] !== 0;
    return false;
  }

  /** Stop at the next command boundary (engine reset from inside a chunk). */
  abort(): void {
    this.aborted = true;
  }

  /** Forget all execution state. */
  reset(): void {
    this.level = 0;
    this.head = 0;
    this.tail = 0;
    this.wraps = 0;
    this.ringStart = 0;
    this.ringSize = PAGE_SIZE;
    this.winLen = 0;
    this.winPos = 0;
    this.ppgttMode = 0;
    this.pdp.fill(0);
    this.tlbPage = -1;
    this.blitRow = 0;
    this.preemptPending = false;
    this.arbEnabled = true;
    this.aborted = false;
    this.stopReason = StopReason.BUDGET;
  }

  /** Graphics address of the next command. */
  get currentAddress(): number {
    return this.level === 0 ? this.ringStart + this.head : this.bbIp[this.level];
  }

  // --- translation ----------------------------------------------------------------------------

  /**
   * Host-physical address for `gma` in `space`, or -1 (fault recorded in faultAddress/faultSpace).
   * Checks that the page lies inside host memory.
   */
  translate(gma: number, space: number): number {
    let hpa: number;
    if (!(gma >= 0 && gma < PPGTT_LIMIT)) {
      // Outside any graphics address space (a negative pitch walks below 0): a fault, and never
      // a TLB hit (the empty TLB's tag is -1, the page of address -1).
      hpa = -1;
    } else if (space === Space.GGTT) {
      hpa = this.ggtt.translate(gma);
    } else {
      const page = Math.floor(gma / PAGE_SIZE);
      if (page === this.tlbPage) {
        hpa = this.tlbBase + (gma % PAGE_SIZE);
      } else {
        if (this.ppgttMode === PpgttMode.LEVEL4) {
          hpa = this.walker.walk4(this.pdp[0], gma) ? this.walker.address : -1;
        } else if (this.ppgttMode === PpgttMode.LEVEL3) {
          const p = this.pdp;
          hpa = this.walker.walk3(p[0], p[1], p[2], p[3], gma) ? this.walker.address : -1;
        } else {
          hpa = -1;
        }
        if (hpa >= 0) {
          this.tlbPage = page;
          this.tlbBase = hpa - (gma % PAGE_SIZE);
        }
      }
    }
    if (hpa < 0 || hpa >= this.mem.size) {
      this.faultAddress = gma;
      this.faultSpace = space;
      return -1;
    }
    return hpa;
  }

  /** Device space of an effect's `EffectSpace` (GGTT, PPGTT, or the context's). */
  private spaceOfEffect(space: number): number {
    if (space === EffectSpace.GGTT) return Space.GGTT;
    if (space === EffectSpace.PPGTT) return Space.PPGTT;
    return this.hasPpgtt ? Space.PPGTT : Space.GGTT;
  }

  private writeMem32(gma: number, space: number, value: number): boolean {
    const hpa = this.translate(gma, space);
    if (hpa < 0) return false;
    this.mem.write32(hpa, value >>> 0);
    this.stats.memoryWrites++;
    return true;
  }

  /** Read a dword of graphics memory; NaN on a fault. */
  private readMem32(gma: number, space: number): number {
    const hpa = this.translate(gma, space);
    if (hpa < 0) return NaN;
    return this.mem.read32(hpa) >>> 0;
  }

  // --- fetch ----------------------------------------------------------------------------------

  /** Dwords between head and tail of the ring. */
  private ringDwordsLeft(): number {
    const t = this.tail;
    const h = this.head;
    return (t >= h ? t - h : this.ringSize - h + t) >>> 2;
  }

  /**
   * Refill the window from the current instruction pointer with at least `want` dwords if possible
   * (`want`: the dwords the command being decoded needs, 1 when the window ran dry), and up to
   * `FETCH_STEP` ahead within the ring's tail or, in a batch, the current page.
   */
  private fill(want: number): void {
    const buf = this.fetch;
    const mem = this.mem;
    let n = Math.min(FETCH_DWORDS, Math.max(want, FETCH_STEP));
    let len = 0;
    this.winFault = false;
    if (this.level === 0) {
      n = Math.min(n, this.ringDwordsLeft());
      let off = this.head;
      while (len < n) {
        const gma = this.ringStart + off;
        const hpa = this.translate(gma, Space.GGTT);
        if (hpa < 0) {
          this.winFault = true;
          break;
        }
        const k = Math.min(n - len, (PAGE_SIZE - (gma % PAGE_SIZE)) >>> 2, (this.ringSize - off) >>> 2);
        len = this.copyDwords(mem, hpa, buf, len, k);
        off = (off + 4 * k) % this.ringSize;
      }
    } else {
      let gma = this.bbIp[this.level];
      const space = this.bbSpace[this.level];
      // A batch has no length the device knows: the window stops at the end of the current page
      // unless the command being decoded needs more (`want`). Fetching ahead across the page
      // boundary would read the page that follows the batch in the address space, which past
      // MI_BATCH_BUFFER_END is not the batch's: in the mediator's shadow range, the next
      // workload's (maybe another vGPU's) shadow ring, batch or context (lifecycle campaign
      // seed 81005, cases 29208 and 48595).
      n = Math.min(n, Math.max(want, (PAGE_SIZE - (gma % PAGE_SIZE)) >>> 2));
      while (len < n) {
        const hpa = this.translate(gma, space);
        if (hpa < 0) {
          this.winFault = true;
          break;
        }
        const k = Math.min(n - len, (PAGE_SIZE - (gma % PAGE_SIZE)) >>> 2);
        len = this.copyDwords(mem, hpa, buf, len, k);
        gma += 4 * k;
      }
    }
    this.winPos = 0;
    this.winLen = len;
  }

  private copyDwords(mem: HostMemory, hpa: number, dst: Uint32Array, at: number, k: number): number {
    const frame = Math.floor(hpa / PAGE_SIZE);
    const first = (hpa % PAGE_SIZE) >>> 2;
    if (!mem.isBacked(frame)) {
      dst.fill(0, at, at + k);
      return at + k;
    }
    const page = mem.page32(frame);
    for (let j = 0; j < k; j++) dst[at + j] = page[first + j];
    return at + k;
  }

  /** Advance the instruction pointer of the current level by `len` dwords. */
  private advance(len: number): void {
    if (this.level === 0) {
      const next = this.head + 4 * len;
      if (next >= this.ringSize) {
        this.head = next - this.ringSize;
        this.wraps = (this.wraps + 1) & 0x7ff;
      } else {
        this.head = next;
      }
    } else {
      this.bbIp[this.level] += 4 * len;
    }
    this.winPos += len;
  }

  private fail(code: GuestFaultCode, message: string, header: number): number {
    this.stopReason = StopReason.ERROR;
    this.errorCode = code;
    this.errorMessage = message;
    this.errorHeader = header >>> 0;
    this.errorAddress = this.cmdAddress;
    if (log.enabled) log('%s: %s: %s at 0x%s', this.info.name, code, message, this.errorAddress.toString(16));
    return 0;
  }

  private addressFault(what: string, header: number): number {
    const space = this.faultSpace === Space.GGTT ? 'GGTT' : 'PPGTT';
    return this.fail('BAD_ADDRESS', `${what}: ${space} address 0x${this.faultAddress.toString(16)} does not translate`, header);
  }

  // --- the chunk loop -------------------------------------------------------------------------

  /**
   * Execute commands until `budgetNs` of simulated time is charged, `maxCommands` ran, or
   * something stops the stream (see `stopReason`). Returns the ns charged.
   */
  runChunk(budgetNs: number, maxCommands: number): number {
    this.stopReason = StopReason.BUDGET;
    this.tlbPage = -1;
    const cost = this.host.cost;
    const byId = cost.byId;
    const perDword = cost.perDwordNs;
    const decoder = this.decoder;
    const engineClass = this.info.engineClass;
    const buf = this.fetch;
    let spent = 0;
    let n = 0;
    while (spent < budgetNs && n < maxCommands) {
      if (this.aborted) {
        this.stopReason = StopReason.ABORTED;
        break;
      }
      if (this.level === 0 && this.head === this.tail) {
        this.stopReason = StopReason.END_OF_RING;
        break;
      }
      this.cmdAddress = this.level === 0 ? this.ringStart + this.head : this.bbIp[this.level];
      if (this.winPos >= this.winLen) this.fill(1);
      if (this.winLen === 0) {
        if (this.winFault) this.addressFault('instruction fetch', 0);
        else this.fail('BAD_COMMAND', 'nothing to fetch', 0);
        break;
      }
      let i = this.winPos;
      let len = decoder.decode(buf, i, this.winLen, engineClass);
      if (decoder.error === DecodeError.TRUNCATED && len > 0 && (i > 0 || len <= FETCH_DWORDS)) {
        this.fill(len);
        i = 0;
        len = decoder.decode(buf, 0, this.winLen, engineClass);
      }
      const dw0 = buf[i];
      if (decoder.error === DecodeError.UNKNOWN_COMMAND || len === 0) {
        this.fail('BAD_COMMAND', `unknown command header 0x${(dw0 >>> 0).toString(16)} on ${this.info.name}`, dw0);
        break;
      }
      const id = decoder.id;
      const op = OP_OF[id];
      if (decoder.error === DecodeError.TRUNCATED) {
        const pastTail = this.level === 0 && len > this.ringDwordsLeft();
        if (pastTail) {
          this.fail('BAD_COMMAND', `${COMMANDS[id].name} of ${len} dwords runs past the ring tail`, dw0);
          break;
        }
        if (this.winFault || op !== Op.OTHER) {
          // An executed command longer than the window cannot occur (the longest is 1025 dwords).
          this.addressFault(`fetch of ${COMMANDS[id].name}`, dw0);
          break;
        }
        // An ignored command longer than the fetch window (inline MEDIA_* data): skip its body.
      }
      n++;
      if (this.blitRow === 0) {
        this.stats.commands++;
        this.commandCounts[id]++;
        spent += byId[id] + perDword * len;
      }
      if (op === Op.NOOP) {
        if ((dw0 & (1 << 22)) !== 0) this.regs.poke(this.info.mmioBase + RING.NOPID, dw0 & 0x3fffff);
        this.advance(len);
        continue;
      }
      if (op === Op.OTHER) {
        this.stats.ignored++;
        this.advance(len);
        continue;
      }
      spent += this.execute(op, id, i, len, dw0);
      if (this.stopReason !== StopReason.BUDGET) break;
    }
    this.stats.commandNs += spent;
    return spent;
  }

  /**
   * Execute one command of the executed subset. Advances the instruction pointer itself (jumps
   * replace it). Returns extra cost beyond the table cost; sets stopReason to stop the chunk.
   */
  private execute(op: number, id: number, i: number, len: number, dw0: number): number {
    const buf = this.fetch;
    const cost = this.host.cost;
    switch (op) {
      case Op.BB_START: return this.batchStart(id, i, len, dw0);
      case Op.BB_END: {
        if (this.level === 0) {
          this.stats.strayBatchEnds++;
          this.advance(len);
        } else {
          this.level--;
          this.winLen = 0;
          this.winPos = 0;
        }
        return 0;
      }
      case Op.STORE_DATA_IMM:
      case Op.STORE_DATA_INDEX:
      case Op.LRI:
      case Op.SRM:
      case Op.LRM:
      case Op.LRR:
      case Op.FLUSH_DW:
      case Op.PIPE_CONTROL: {
        if (!this.performEffects(id, i, len, dw0)) return 0;
        this.advance(len);
        if (op === Op.STORE_DATA_IMM) return cost.storeDataPerDwordNs * (len - 3);
        if (op === Op.LRI) return cost.lriPerRegisterNs * ((len - 1) >>> 1);
        return 0;
      }
      case Op.USER_INTERRUPT: {
        this.stats.userInterrupts++;
        this.advance(len);
        this.stopReason = StopReason.USER_INTERRUPT;
        return 0;
      }
      case Op.ARB_CHECK: {
        this.stats.arbChecks++;
        this.advance(len);
        if (this.preemptPending && this.arbEnabled) this.stopReason = StopReason.ARBITRATION;
        return 0;
      }
      case Op.ARB_ON_OFF: {
        this.arbEnabled = (dw0 & 1) !== 0;
        this.advance(len);
        return 0;
      }
      case Op.COLOR_BLT: return this.colorBlt(id, i, len, dw0);
      case Op.SRC_COPY_BLT: return this.srcCopyBlt(id, i, len, dw0);
      default:
        this.stats.ignored++;
        this.advance(len);
        return 0;
    }
  }

  /** A 48-bit address from dwords i, i+1 with bits below `lowBit` cleared. */
  private readAddr(i: number, lowBit: number): number {
    const lo = ((this.fetch[i] >>> lowBit) << lowBit) >>> 0;
    return (this.fetch[i + 1] & 0xffff) * TWO_POW_32 + lo;
  }

  /**
   * Perform exactly the effects `effectsOf` lists for the command at `fetch[i]` (memory writes
   * and reads, status-page writes, register writes), in their order. False after recording the
   * fault: BAD_COMMAND when the table cannot describe the command (a reserved value, an undefined
   * flag combination such as PIPE_CONTROL's LRI post-sync with a post-sync operation, too short),
   * BAD_ADDRESS when an address does not translate. State pointers are not performed (the model
   * runs no 3D pipeline); blits go through `colorBlt` / `srcCopyBlt`.
   */
  private performEffects(id: number, i: number, len: number, dw0: number): boolean {
    const buf = this.fetch;
    const fx = this.fx;
    const n = effectsOf(id, buf, i, len, fx);
    if (n < 0) {
      this.fail('BAD_COMMAND', `${COMMANDS[id].name} of ${len} dwords ${effectsProblem(n)}`, dw0);
      return false;
    }
    /** The value of the last memory read (feeds a register write from memory). */
    let loaded = 0;
    for (let k = 0; k < n; k++) {
      const o = k * EFFECT_STRIDE;
      const kind = fx[o + E_KIND];
      if (kind === EffectKind.REG_WRITE) {
        const src = fx[o + E_VALUE];
        const value = src === ValueSource.IMMEDIATE ? buf[i + fx[o + E_VALUE_AT]]
          : src === ValueSource.REGISTER ? this.readRegister(fx[o + E_VALUE_AT]) : loaded;
        this.writeRegister(fx[o + E_ADDR], value, fx[o + E_MASK]);
        continue;
      }
      if (kind !== EffectKind.MEM && kind !== EffectKind.STATUS_PAGE) continue; // REG_READ feeds a value; POINTER is not performed
      let addr = fx[o + E_ADDR];
      let space: number;
      if (kind === EffectKind.STATUS_PAGE) {
        addr += fx[o + E_SPACE] === EffectSpace.PPHWSP ? this.pphwsp : this.hwsp;
        space = Space.GGTT;
      } else {
        space = this.spaceOfEffect(fx[o + E_SPACE]);
      }
      const bytes = fx[o + E_BYTES];
      if ((fx[o + E_ACCESS] & Access.WRITE) === 0) {
        loaded = this.readMem32(addr, space);
        if (Number.isNaN(loaded)) {
          this.addressFault(`${COMMANDS[id].name} read`, dw0);
          return false;
        }
        continue;
      }
      let ok = true;
      switch (fx[o + E_VALUE]) {
        case ValueSource.IMMEDIATE: {
          const from = i + fx[o + E_VALUE_AT];
          for (let b = 0; ok && b < bytes; b += 4) ok = this.writeMem32(addr + b, space, buf[from + (b >>> 2)]);
          break;
        }
        case ValueSource.TIMESTAMP:
          ok = this.writeTimestamp(addr, space);
          break;
        case ValueSource.DEPTH_COUNT:
          ok = this.writeMem32(addr, space, this.regs.peek(0x2350)) && this.writeMem32(addr + 4, space, this.regs.peek(0x2354));
          break;
        case ValueSource.REGISTER:
          ok = this.writeMem32(addr, space, this.readRegister(fx[o + E_VALUE_AT]));
          break;
        default:
          // Memory effects of commands the model does not execute never reach here (Op.OTHER).
          this.fail('BAD_COMMAND', `${COMMANDS[id].name}: memory effect the device model does not perform`, dw0);
          return false;
      }
      if (!ok) {
        this.addressFault(`${COMMANDS[id].name} write`, dw0);
        return false;
      }
    }
    return true;
  }

  private writeRegister(offset: number, value: number, enables: number): void {
    this.stats.registerWrites++;
    if (offset < MMIO_SPACE_BYTES) this.regs.writeDword(offset, value >>> 0, enables);
  }

  private readRegister(offset: number): number {
    return offset < MMIO_SPACE_BYTES ? this.regs.readDword(offset) : 0;
  }

  private writeTimestamp(addr: number, space: number): boolean {
    const t = timestampTicks(this.host.now());
    return this.writeMem32(addr, space, t >>> 0) && this.writeMem32(addr + 4, space, Math.floor(t / TWO_POW_32) >>> 0);
  }

  private batchStart(id: number, i: number, len: number, dw0: number): number {
    if (len < 3) return this.fail('BAD_COMMAND', `MI_BATCH_BUFFER_START of ${len} dwords`, dw0);
    const target = this.readAddr(i + 1, 2);
    // Address Space Indicator, bit 8: 1 = PPGTT (the table's MI_BATCH_BUFFER_START field rule).
    const space = (dw0 & (1 << 8)) !== 0 ? Space.PPGTT : Space.GGTT;
    const secondLevel = (dw0 & (1 << 22)) !== 0;
    let level: number;
    if (this.level === 0) {
      // From the ring: a first-level batch (the second-level bit has no meaning here).
      level = 1;
    } else if (secondLevel) {
      if (this.level === 2) return this.fail('LIMIT', 'MI_BATCH_BUFFER_START to a third batch level', dw0);
      level = 2;
    } else {
      // Chained: replaces the current batch at the same level.
      level = this.level;
    }
    this.advance(len);
    this.level = level;
    this.bbIp[level] = target;
    this.bbSpace[level] = space;
    this.winLen = 0;
    this.winPos = 0;
    this.stats.batchStarts++;
    return 0;
  }

  // --- blitter --------------------------------------------------------------------------------

  private ensureRows(bytes: number): void {
    if (this.rowA.length < bytes) {
      // Rounded up to a multiple of 4 so 16- and 32-bit views of the row exist.
      const n = (bytes + 3) & ~3;
      this.rowA = new Uint8Array(n);
      this.rowB = new Uint8Array(n);
    }
  }

  /** Copy `len` bytes of graphics memory at `gma` into `dst`; false on a fault. */
  private readRange(gma: number, space: number, dst: Uint8Array, len: number): boolean {
    let done = 0;
    while (done < len) {
      const a = gma + done;
      const hpa = this.translate(a, space);
      if (hpa < 0) return false;
      const k = Math.min(len - done, PAGE_SIZE - (a % PAGE_SIZE));
      const frame = Math.floor(hpa / PAGE_SIZE);
      const off = hpa % PAGE_SIZE;
      if (this.mem.isBacked(frame)) {
        const page = this.mem.page8(frame);
        if (k >= 64) dst.set(page.subarray(off, off + k), done);
        else for (let j = 0; j < k; j++) dst[done + j] = page[off + j];
      } else {
        dst.fill(0, done, done + k);
      }
      done += k;
    }
    return true;
  }

  /** Write `len` bytes of `src` to graphics memory at `gma`; false on a fault. */
  private writeRange(gma: number, space: number, src: Uint8Array, len: number): boolean {
    let done = 0;
    while (done < len) {
      const a = gma + done;
      const hpa = this.translate(a, space);
      if (hpa < 0) return false;
      const k = Math.min(len - done, PAGE_SIZE - (a % PAGE_SIZE));
      const page = this.mem.page8(Math.floor(hpa / PAGE_SIZE));
      const off = hpa % PAGE_SIZE;
      if (k >= 64) page.set(src.subarray(done, done + k), off);
      else for (let j = 0; j < k; j++) page[off + j] = src[done + j];
      done += k;
    }
    return true;
  }

  /**
   * Combine `pattern`/`src`/`dst` rows with ROP3 `rop` into `dst` (bit index = P·4 + S·2 + D, the
   * Windows/Intel ROP3 convention: 0xF0 PATCOPY, 0xCC SRCCOPY, 0x55 DSTINVERT), honouring the
   * byte-write mask `keep` (per pixel byte: 1 keeps the destination byte).
   */
  private rop3(rop: number, pat: number, src: Uint8Array | null, dst: Uint8Array, bytes: number, cpp: number, keepMask: number): void {
    for (let j = 0; j < bytes; j++) {
      const b = j % cpp;
      const d = dst[j];
      if ((keepMask >>> b) & 1) continue;
      const p = cpp === 1 ? pat & 0xff : (pat >>> (8 * b)) & 0xff;
      const s = src === null ? 0 : src[j];
      let r = 0;
      for (let m = 0; m < 8; m++) {
        if (((rop >>> m) & 1) === 0) continue;
        r |= ((m & 4) ? p : ~p) & ((m & 2) ? s : ~s) & ((m & 1) ? d : ~d);
      }
      dst[j] = r & 0xff;
    }
  }

  /** Bytes of a pixel that the write enables keep (32 bpp only): bit b set keeps byte b. */
  private keepMask(dw0: number, cpp: number): number {
    if (cpp !== 4) return 0;
    let keep = 0;
    if ((dw0 & (1 << 20)) === 0) keep |= 0x7; // RGB not written
    if ((dw0 & (1 << 21)) === 0) keep |= 0x8; // alpha not written
    return keep;
  }

  /**
   * XY_COLOR_BLT: the destination surface as the effects table describes it (base, row 0 offset,
   * signed pitch, rows, row bytes, space); the ROP and write enables decide the bytes written.
   */
  private colorBlt(id: number, i: number, len: number, dw0: number): number {
    const fx = this.fx;
    const n = effectsOf(id, this.fetch, i, len, fx);
    if (n < 0) return this.fail('BAD_COMMAND', `XY_COLOR_BLT of ${len} dwords ${effectsProblem(n)}`, dw0);
    const c = this.host.cost;
    if (n === 0) {
      // An empty rectangle touches nothing.
      this.advance(len);
      return c.blitSetupNs;
    }
    const buf = this.fetch;
    const br13 = buf[i + 1];
    const rop = (br13 >>> 16) & 0xff;
    const color = buf[i + 6] >>> 0;
    const cpp = fx[E_CPP];
    const rowBytes = fx[E_BYTES];
    const rows = fx[E_ROWS];
    const pitch = fx[E_PITCH];
    const start = fx[E_ADDR] + fx[E_ORIGIN];
    const space = this.spaceOfEffect(fx[E_SPACE]);
    this.ensureRows(rowBytes);
    const keep = this.keepMask(dw0, cpp);
    const fast = rop === 0xf0 && keep === 0;
    const row = this.rowA;
    if (fast) {
      // Fill the row through a view of the pixel size (little endian, as the GPU stores pixels).
      if (cpp === 4) new Uint32Array(row.buffer, 0, rowBytes >>> 2).fill(color);
      else if (cpp === 2) new Uint16Array(row.buffer, 0, rowBytes >>> 1).fill(color & 0xffff);
      else row.fill(color & 0xff, 0, rowBytes);
    }
    const first = this.blitRow;
    const end = Math.min(rows, first + Math.max(1, Math.floor(BLIT_BYTES_PER_CALL / rowBytes)));
    for (let r = first; r < end; r++) {
      const addr = start + r * pitch;
      if (!fast) {
        if (!this.readRange(addr, space, row, rowBytes)) return this.addressFault('XY_COLOR_BLT destination', dw0);
        this.rop3(rop, color, null, row, rowBytes, cpp, keep);
      }
      if (!this.writeRange(addr, space, row, rowBytes)) return this.addressFault('XY_COLOR_BLT destination', dw0);
    }
    return this.blitProgress(first, end, rows, rowBytes, len, fast ? c.fillBytesPerNs : c.ropBytesPerNs);
  }

  /** Account rows [first, end) of a blit of `rows`; finish the command or leave it to resume. */
  private blitProgress(first: number, end: number, rows: number, rowBytes: number, len: number, bytesPerNs: number): number {
    const bytes = (end - first) * rowBytes;
    this.stats.bytesBlitted += bytes;
    const setup = first === 0 ? this.host.cost.blitSetupNs : 0;
    if (end < rows) {
      this.blitRow = end;
    } else {
      this.blitRow = 0;
      this.advance(len);
    }
    return setup + bytes / bytesPerNs;
  }

  /** XY_SRC_COPY_BLT: destination (record 0) and source (record 1) as the effects table describes them. */
  private srcCopyBlt(id: number, i: number, len: number, dw0: number): number {
    const fx = this.fx;
    const n = effectsOf(id, this.fetch, i, len, fx);
    if (n < 0) return this.fail('BAD_COMMAND', `XY_SRC_COPY_BLT of ${len} dwords ${effectsProblem(n)}`, dw0);
    const c = this.host.cost;
    if (n === 0) {
      this.advance(len);
      return c.blitSetupNs;
    }
    const S = EFFECT_STRIDE;
    const rop = (this.fetch[i + 1] >>> 16) & 0xff;
    const cpp = fx[E_CPP];
    const dstPitch = fx[E_PITCH];
    const srcPitch = fx[S + E_PITCH];
    const dstSpace = this.spaceOfEffect(fx[E_SPACE]);
    const srcSpace = this.spaceOfEffect(fx[S + E_SPACE]);
    const dst0 = fx[E_ADDR] + fx[E_ORIGIN];
    const src0 = fx[S + E_ADDR] + fx[S + E_ORIGIN];
    const rowBytes = fx[E_BYTES];
    const h = fx[E_ROWS];

    this.ensureRows(rowBytes);
    const keep = this.keepMask(dw0, cpp);
    const fast = rop === 0xcc && keep === 0;
    // Overlapping copies within one surface: walk rows bottom-up when the destination is above.
    const reverse = dstSpace === srcSpace && dst0 > src0 && dstPitch > 0;
    const src = this.rowA;
    const dst = this.rowB;
    const first = this.blitRow;
    const end = Math.min(h, first + Math.max(1, Math.floor(BLIT_BYTES_PER_CALL / rowBytes)));
    for (let r = first; r < end; r++) {
      const row = reverse ? h - 1 - r : r;
      const sAddr = src0 + row * srcPitch;
      const dAddr = dst0 + row * dstPitch;
      if (!this.readRange(sAddr, srcSpace, src, rowBytes)) return this.addressFault('XY_SRC_COPY_BLT source', dw0);
      if (fast) {
        if (!this.writeRange(dAddr, dstSpace, src, rowBytes)) return this.addressFault('XY_SRC_COPY_BLT destination', dw0);
      } else {
        if (!this.readRange(dAddr, dstSpace, dst, rowBytes)) return this.addressFault('XY_SRC_COPY_BLT destination', dw0);
        this.rop3(rop, 0, src, dst, rowBytes, cpp, keep);
        if (!this.writeRange(dAddr, dstSpace, dst, rowBytes)) return this.addressFault('XY_SRC_COPY_BLT destination', dw0);
      }
    }
    return this.blitProgress(first, end, h, rowBytes, len, fast ? c.copyBytesPerNs : c.ropBytesPerNs);
  }
}
