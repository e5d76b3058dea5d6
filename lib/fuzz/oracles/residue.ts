/**
 * The RESIDUE oracle: a secret an attacker holds in a register or in its memory never becomes
 * readable by another guest.
 *
 * One round (every `every`-th check of a world, on engines in turn):
 * 1. a live attacker plants secrets: MI_LOAD_REGISTER_IMM of a distinct value into every plain
 *    command-accessible register of the engine (the table's CMD_ACCESS rows of that engine and the
 *    global ones, minus mode-masked, read-only, write-1-to-clear and address registers and the
 *    ring-control block: CS GPRs, MI_PREDICATE_SRC*, PS_DEPTH_COUNT, the pipeline statistics,
 *    3DPRIM_*, MOCS, chicken registers...), and fills one page of its RAM with a secret dword;
 * 2. the victim reads back, from its own ring, every command-accessible register of that engine
 *    (MI_STORE_REGISTER_MEM of each dword into its own buffer) and, on the render engine, the
 *    depth count through a PIPE_CONTROL post-sync (the path that reads PS_DEPTH_COUNT);
 * 3. the oracle scans what the victim read and every page of the victim's RAM for any secret of
 *    the world's rounds so far (exact 32-bit values). A planted value never equals a dword the
 *    victim's RAM holds when it is planted (`unknownToVictim` re-derives it): thousands of secrets
 *    against thousands of victim dwords make chance matches with its own data (its canary
 *    pattern) a few per 100,000 cases otherwise. Nor is a secret found in the victim's RAM a
 *    disclosure once the victim's vCPU stored that value itself, later (`ownStores`): the victim
 *    writes new values of its own every round (its ring's store immediates, which the GPU then
 *    copies to its result buffers), and each of them can equal one of the secrets planted before.
 *
 * GVT-g keeps such state per vGPU: the engine MMIO list it switches (`gvt/mmio_context.c`,
 * `switch_mmio`), the context image for in-context registers, and a clean state after
 * `intel_vgpu_reset` / destroy. A planted value the victim can read is a cross-guest disclosure.
 */
import createDebug from 'debug';
import { GEN9_ENGINES, type EngineName, type EngineInfo } from '../../device/engines.js';
import { miLoadRegisterImm, miStoreRegisterMem, pipeControl } from '../../device/commands/index.js';
import { GEN9_REGISTERS } from '../../device/registers.js';
import type { TestGuest } from '../../harness/index.js';
import type { GuestBuffer } from '../../guest/engine.js';
import { RegFlag } from '../../mmio/table.js';
import { defaultRegisterAllowed } from '../../mediator/audit-rules.js';
import type { Workload } from '../../mediator/workload.js';
import { PAGE_SIZE } from '../../types.js';
import { mix32 } from '../mix.js';
import { INVARIANTS, type Violation } from '../monitor.js';

const log = createDebug('gvtkit:fuzz:residue');


/** One register dword: offset and name. */
export interface RegDword {
  readonly offset: number;
  readonly name: string;
}

const NOT_PLAIN = RegFlag.MODE_MASK | RegFlag.READ_ONLY | RegFlag.W1C | RegFlag.GMADR;

/**
 * Every command-accessible register dword of `engine` as the auditor's default whitelist decides
 * (`defaultRegisterAllowed`: CMD_ACCESS rows of that engine and the global ones).
 */
export function commandAccessible(engine: EngineInfo): RegDword[] {
  const out: RegDword[] = [];
  for (const r of GEN9_REGISTERS.rows) {
    if ((r.flags & RegFlag.CMD_ACCESS) === 0) continue;
    for (let k = 0; k < r.width; k += 4) {
      if (defaultRegisterAllowed(r.offset + k, engine)) out.push({ offset: r.offset + k, name: k ? `${r.name}+${k}` : r.name });
    }
  }
  return out;
}

/** True for the ring-control block, PDPs, timestamps and FORCE_TO_NONPRIV (not plain storage). */
function controlRegister(engine: EngineInfo, offset: number): boolean {
  const rel = offset - engine.mmioBase;
  if (rel >= 0 && rel < 0x100) return true;
  if (rel >= 0x270 && rel < 0x290) return true; // PDPs
  if (rel >= 0x358 && rel < 0x360) return true; // RING_TIMESTAMP
  if (offset >= 0x24d0 && offset < 0x2500) return true; // FORCE_TO_NONPRIV (value-checked)
  if (rel >= 0x4d0 && rel < 0x500) return true;
  return false;
}

/** The register dwords an attacker plants secrets in on `engine` (plain command-accessible storage). */
export function plantableRegisters(engine: EngineInfo): RegDword[] {
  const byOffset = new Map(GEN9_REGISTERS.rows.map((r) => [r.offset, r]));
  return commandAccessible(engine).filter((d) => {
    const row = byOffset.get(d.offset) ?? byOffset.get(d.offset - 4);
    return row !== undefined && (row.flags & NOT_PLAIN) === 0 && !controlRegister(engine, d.offset);
  });
}

/**
 * A residue round every this many checks by default: a round is two workloads and ~200 register
 * reads, about six times the cost of an average case; every eighth case keeps campaigns within
 * 20-30% of their speed without the oracle (secrets persist in registers, so a leak that a case
 * causes is still seen by the next round).
 */
export const RESIDUE_EVERY = 8;

/** Options of `ResidueOracle`. */
export interface ResidueOptions {
  /** Run a round every `every`-th check (default `RESIDUE_EVERY`). */
  every?: number;
  /** Engines in turn (default rcs, bcs, vcs, vecs). */
  engines?: readonly EngineName[];
}

/** A planted secret: what and when. */
interface Secret {
  readonly what: string;
  readonly round: number;
}

/** The residue oracle of one world. */
export class ResidueOracle {
  readonly victim: TestGuest;
  readonly every: number;
  readonly engines: readonly EngineName[];
  /** Rounds run, secrets planted (register dwords whose LRI completed), probes read. */
  rounds = 0;
  planted = 0;
  /** Violations reported per scan at most. */
  maxReports = 4;
  private checks = 0;
  private readonly probe: GuestBuffer;
  private readonly secrets = new Map<number, Secret>();
  /** One mark per 16-bit hash of a secret: most dwords are rejected without a map lookup. */
  private readonly marks = new Uint8Array(65536);
  /** The same for the values of the round being planted (`unknownToVictim`). */
  private readonly pending = new Uint8Array(65536);
  private readonly plantSets = new Map<EngineName, RegDword[]>();
  private readonly probeSets = new Map<EngineName, RegDword[]>();
  private readonly seed: number;
  private lastDone: Workload | null = null;
  /**
   * Secrets the victim's vCPU stored itself (`ownStores`): found in its RAM they are its own data,
   * not residue. Empty unless the victim's own values coincide with planted ones.
   */
  private readonly ownValues = new Set<number>();
  /** RAM hits not reported because the victim had stored the value itself. */
  ownHits = 0;

  constructor(victim: TestGuest, seed: number, opts: ResidueOptions = {}) {
    this.victim = victim;
    this.seed = seed;
    this.every = Math.max(1, opts.every ?? RESIDUE_EVERY);
    this.engines = opts.engines ?? ['rcs', 'bcs', 'vcs', 'vecs'];
    this.probe = victim.buffer(2 * PAGE_SIZE);
    for (const name of this.engines) {
      const e = GEN9_ENGINES.find((x) => x.name === name)!;
      this.plantSets.set(name, plantableRegisters(e));
      this.probeSets.set(name, commandAccessible(e).filter((d) => d.offset - e.mmioBase < 0x270 || d.offset - e.mmioBase >= 0x290));
    }
    victim.harness.mediator.onWorkloadDone((w) => {
      this.lastDone = w;
    });
    this.ownStores();
  }

  /**
   * Watch the victim's vCPU stores to its RAM (`Vgpu.guestWrite` / `guestWrite32`, the path of its
   * driver's every store: rings, batches, buffers) and remember each dword that equals a secret:
   * the victim knows that value, so finding it in the victim's RAM later discloses nothing. The
   * GPU and the mediator write guest RAM by other paths (host frames, `Ept.hostWrite32`), which
   * are not watched: what they bring is still reported. Wraps the instance's methods, as the
   * device monitor wraps the device's.
   *
   * The case it answers (mmio campaign, seed 91005, cases 355576 and 462648): a victim round's
   * MI_STORE_DATA_IMM value (`Victim.work`, a `mix32` output) equal to an attacker's BCS_MOCS[11]
   * and VCS_CS_GPR[12]+4 planted rounds before, found in the victim's ring and result buffer.
   */
  private ownStores(): void {
    const v = this.victim.vgpu;
    const write32 = v.guestWrite32.bind(v);
    const watch = (target: { guestWrite(gpa: number, bytes: Uint8Array): void }): void => {
      const write = target.guestWrite.bind(target);
      target.guestWrite = (gpa: number, bytes: Uint8Array): void => {
        write(gpa, bytes);
        // The dwords as the RAM scan reads them (4-byte aligned guest-physical addresses).
        const n = bytes.length;
        for (let k = (4 - (gpa & 3)) & 3; k + 4 <= n; k += 4) {
          this.noteOwn((bytes[k] | (bytes[k + 1] << 8) | (bytes[k + 2] << 16) | (bytes[k + 3] << 24)) >>> 0);
        }
      };
    };
    watch(v);
    // A victim whose stores are untrapped (`guestWrites: 'untrapped'`) stores through its
    // driver's bus straight into its memory, never through the vGPU: watch that path too.
    const bus = this.victim.driver.bus;
    if (bus !== v) watch(bus);
    v.guestWrite32 = (gpa: number, value: number): void => {
      write32(gpa, value);
      this.noteOwn(value >>> 0);
    };
  }

  private noteOwn(x: number): void {
    if (x === 0 || this.marks[(x ^ (x >>> 16)) & 0xffff] === 0) return;
    const s = this.secrets.get(x);
    if (s && !this.ownValues.has(x)) {
      this.ownValues.add(x);
      log('the victim stored 0x%s itself (%s, planted in round %d): not residue in its RAM', x.toString(16), s.what, s.round);
    }
  }

  /** Secrets planted so far (value → what). */
  get secretCount(): number {
    return this.secrets.size;
  }

  /** Record `value` as a secret (tests and fuzzers may add their own). */
  addSecret(value: number, what: string): void {
    if (value === 0 || value === 0xffffffff) return;
    this.secrets.set(value >>> 0, { what, round: this.rounds });
    this.marks[(value ^ (value >>> 16)) & 0xffff] = 1;
  }

  /**
   * Step 1: `attacker` plants secrets in the registers of `engine` and in its RAM. Runs the
   * world (`settle`) until its workload finished; keeps the secrets of a workload that completed.
   */
  plant(attacker: TestGuest, engine: EngineName, settle: () => void): void {
    if (attacker.vgpu.state !== 'active') return;
    const regs = this.plantSets.get(engine) ?? [];
    const round = this.rounds;
    const pairs: [number, number][] = [];
    const vals: [number, string][] = [];
    const values = new Uint32Array(regs.length + 1);
    regs.forEach((r, k) => { values[k] = (mix32(this.seed ^ (round * 0x9e37), r.offset) | 0x10001) >>> 0; });
    values[regs.length] = (mix32(this.seed ^ 0x3e3, round) | 0x20002) >>> 0;
    this.unknownToVictim(values);
    regs.forEach((r, k) => {
      pairs.push([r.offset, values[k]]);
      vals.push([values[k], `${attacker.name}'s ${r.name} (0x${r.offset.toString(16)})`]);
    });
    const cmds: number[] = [];
    for (let i = 0; i < pairs.length; i += 32) cmds.push(...miLoadRegisterImm(pairs.slice(i, i + 32)));
    this.lastDone = null;
    attacker.submit(engine, cmds);
    settle();
    const w = this.lastDone as Workload | null;
    if (w && w.vgpuId === attacker.vgpu.id && w.status === 'completed') {
      for (const [v, what] of vals) this.addSecret(v, what);
      this.planted += vals.length;
    }
    // A page of its RAM full of one secret dword (any path that copies guest memory could carry it).
    const mem = values[regs.length];
    const buf = this.memPage(attacker);
    attacker.driver.writeRam32(buf.gpa, new Array<number>(PAGE_SIZE / 4).fill(mem));
    this.addSecret(mem, `${attacker.name}'s RAM page (gpa 0x${buf.gpa.toString(16)})`);
  }

  /**
   * Re-derive, in place, every value of `values` that the victim's RAM already holds (its canary
   * pattern, its results, its rings...): a secret is a value only the attacker knows, or the scan
   * would report the victim's own data. The victim's canary words and planted secrets are both
   * `mix32` outputs, so over a campaign some planted values equal a canary word by chance
   * (expected about one per 100 worlds of 400 cases: ~200 secrets a round x 4096 canary dwords
   * / 2^32); mmio seed 81001 cases 30464 and 82624 reported such coincidences as residue.
   */
  private unknownToVictim(values: Uint32Array): void {
    const marks = this.pending;
    for (let k = 0; k < values.length; k++) marks[(values[k] ^ (values[k] >>> 16)) & 0xffff] = 1;
    const pages = this.victim.memory['pages32'] as (Uint32Array | undefined)[];
    for (let f = 0; f < pages.length; f++) {
      const p = pages[f];
      if (!p) continue;
      for (let i = 0; i < p.length; i++) {
        const x = p[i];
        if (x === 0 || marks[(x ^ (x >>> 16)) & 0xffff] === 0) continue;
        for (let k = 0; k < values.length; k++) {
          if (values[k] !== x) continue;
          // The same low bits as before (0x10001 or 0x20002 set), a value the victim does not hold
          // (checked again from the start: the new value may be elsewhere in its RAM).
          const low = values[k] & 0x30003;
          values[k] = (mix32(x, this.seed ^ k) | low) >>> 0;
          log('round %d: planted value %d was in the victim\'s RAM (gpa 0x%s): re-derived', this.rounds, k, (f * PAGE_SIZE + 4 * i).toString(16));
          marks[(values[k] ^ (values[k] >>> 16)) & 0xffff] = 1;
          f = -1;
          break;
        }
        if (f === -1) break;
      }
    }
    marks.fill(0);
  }

  private readonly memPages = new WeakMap<TestGuest, GuestBuffer>();

  private memPage(g: TestGuest): GuestBuffer {
    let b = this.memPages.get(g);
    if (!b) {
      b = g.buffer(PAGE_SIZE);
      this.memPages.set(g, b);
    }
    return b;
  }

  /**
   * Step 2: the victim reads every command-accessible register of `engine` into its probe buffer
   * (and the depth count by PIPE_CONTROL on the render engine). Returns the register dwords read,
   * in probe-slot order.
   */
  read(engine: EngineName, settle: () => void): RegDword[] {
    const g = this.victim;
    const regs = this.probeSets.get(engine) ?? [];
    g.driver.writeRam32(this.probe.gpa, new Array<number>((2 * PAGE_SIZE) / 4).fill(0));
    const cmds: number[] = [];
    regs.forEach((r, k) => cmds.push(...miStoreRegisterMem(r.offset, this.probe.gma + 4 * k, { ggtt: true })));
    const read = regs.slice();
    if (engine === 'rcs') {
      const k = (regs.length + 1) & ~1;
      cmds.push(...pipeControl({ postSyncOp: 2, address: this.probe.gma + 4 * k, ggtt: true, commandStreamerStall: true }));
      read[k] = { offset: 0x2350, name: 'PS_DEPTH_COUNT (PIPE_CONTROL depth-count post-sync)' };
      read[k + 1] = { offset: 0x2354, name: 'PS_DEPTH_COUNT+4 (PIPE_CONTROL depth-count post-sync)' };
    }
    g.submit(engine, cmds);
    settle();
    return read;
  }

  /**
   * Step 3: scan the probe and the victim's RAM for secrets. In RAM, a secret the victim's vCPU
   * stored itself is its own data (`ownStores`); the probe, written only by the victim's register
   * reads, is checked against every secret.
   */
  scan(out: Violation[], read: readonly RegDword[]): void {
    if (this.secrets.size === 0) return;
    const g = this.victim;
    const words = g.memory.read(this.probe.gpa, 2 * PAGE_SIZE);
    const w32 = new Uint32Array(words.buffer, words.byteOffset, (2 * PAGE_SIZE) / 4);
    let found = 0;
    for (let k = 0; k < w32.length && found < this.maxReports; k++) {
      const s = this.secrets.get(w32[k]);
      if (s) {
        found++;
        const r = read[k];
        out.push({ invariant: INVARIANTS.RESIDUE, message: `${g.name} read ${r ? `${r.name} (0x${r.offset.toString(16)})` : `probe slot ${k}`} = 0x${w32[k].toString(16)}: ${s.what}, planted in round ${s.round}` });
      }
    }
    const pages = g.memory['pages32'] as (Uint32Array | undefined)[];
    const probeFirst = this.probe.gpa / PAGE_SIZE;
    for (let f = 0; f < pages.length && found < this.maxReports; f++) {
      const p = pages[f];
      if (!p || f === probeFirst || f === probeFirst + 1) continue;
      const marks = this.marks;
      for (let i = 0; i < p.length; i++) {
        const x = p[i];
        if (x === 0 || marks[(x ^ (x >>> 16)) & 0xffff] === 0) continue;
        const s = this.secrets.get(x);
        if (s && this.ownValues.has(x)) {
          this.ownHits++;
          continue;
        }
        if (s) {
          found++;
          out.push({ invariant: INVARIANTS.RESIDUE, message: `${g.name}'s RAM at gpa 0x${(f * PAGE_SIZE + 4 * i).toString(16)} holds 0x${p[i].toString(16)}: ${s.what}, planted in round ${s.round}` });
          break;
        }
      }
    }
  }

  /**
   * A whole round if this check is due: plant with the first live attacker, read, scan. `settle`
   * runs the world until idle.
   */
  check(out: Violation[], attackers: readonly TestGuest[], settle: () => void): void {
    if (this.checks++ % this.every !== 0) return;
    if (this.victim.vgpu.state !== 'active') return;
    const engine = this.engines[this.rounds % this.engines.length];
    const a = attackers.find((x) => x.vgpu.state === 'active');
    if (a) this.plant(a, engine, settle);
    const read = this.read(engine, settle);
    this.scan(out, read);
    this.rounds++;
  }
}
