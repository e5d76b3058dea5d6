/**
 * Small helpers shared by the attack programs: what a refused workload looks like, host state
 * snapshots, raw GGTT entry writes, context tampering.
 */
import type { TestGuest } from '../../harness/index.js';
import type { EngineName } from '../../device/engines.js';
import { CtxReg, encodeDescriptor, readContextValue, writeContextValue } from '../../device/lrc.js';
import type { Workload } from '../../mediator/workload.js';
import { PAGE_SIZE, TWO_POW_32 } from '../../types.js';
import type { AttackContext, Assert } from './types.js';

/** BAR0 offset of the GTT window. */
export const GTT_WINDOW = 8 * 1024 * 1024;

/** Finished workloads of `g`, oldest first. */
export function workloadsOf(ctx: AttackContext, g: TestGuest): Workload[] {
  return ctx.h.mediator.history.filter((w) => w.vgpuId === g.vgpu.id);
}

/** Check that `g` had a workload refused by `rule` (and, by default, none completed after it). */
export function expectRefused(ctx: AttackContext, t: Assert, rule: string, g: TestGuest = ctx.attacker): Workload | undefined {
  const w = workloadsOf(ctx, g).find((x) => x.status === 'failed' && x.failure?.rule === rule);
  t.ok(w, `${g.name}'s workload refused by ${rule} (got: ${workloadsOf(ctx, g).map((x) => `${x.status}${x.failure ? ` ${x.failure.rule}` : ''}`).join(', ') || 'none'})`);
  if (w) t.ok(g.vgpu.events.some((e) => e.kind === 'workload-failed' && e.detail.startsWith(rule)), `the refusal (${rule}) is in ${g.name}'s event log`);
  return w;
}

/** Check that every workload of `g` completed (at least `min`). */
export function expectCompleted(ctx: AttackContext, t: Assert, g: TestGuest, min = 1): void {
  const ws = workloadsOf(ctx, g);
  t.ok(ws.length >= min && ws.every((w) => w.status === 'completed'),
    `${g.name}'s workloads completed (${ws.map((w) => `${w.status}${w.failure ? ` ${w.failure.rule}: ${w.failure.message}` : ''}`).join(', ')})`);
}

/** A copy of the host register file. */
export function hostRegisters(ctx: AttackContext): Uint32Array {
  return ctx.h.device.regs.regs.slice();
}

/** A copy of the host GGTT entries [first, first + count). */
export function hostGgtt(ctx: AttackContext, first: number, count: number): Uint32Array {
  return ctx.h.device.ggtt.words.slice(2 * first, 2 * (first + count));
}

/** Write GGTT entry `index` of `g`'s window as one 8-byte store (halves exact below 2^53). */
export function writeGgtt(g: TestGuest, index: number, lo: number, hi: number): void {
  g.vgpu.mmioWrite(GTT_WINDOW + index * 8, 8, hi * TWO_POW_32 + (lo >>> 0));
}

/** The host frame a GGTT entry names, or -1 when not present. */
export function hostFrameOf(ctx: AttackContext, index: number): number {
  const w = ctx.h.device.ggtt.words;
  const lo = w[2 * index];
  if ((lo & 1) === 0) return -1;
  return ((lo >>> 12) | ((w[2 * index + 1] & 0x7f) << 20)) >>> 0;
}

/** Host frames backing `bytes` of `g`'s GGTT buffer at `gma`. */
export function framesOf(g: TestGuest, gma: number, bytes: number): number[] {
  const out: number[] = [];
  for (let o = 0; o < bytes; o += PAGE_SIZE) {
    const hpa = g.vgpu.ggtt.translate(gma + o);
    if (hpa >= 0) out.push(Math.floor(hpa / PAGE_SIZE));
  }
  return out;
}

/** Read a value of `g`'s context image on `engine`. */
export function contextValue(g: TestGuest, engine: EngineName, index: number): number {
  const e = g.engine(engine);
  return readContextValue(e.view(), e.context.gma, index);
}

/** Write a value of `g`'s context image on `engine`. */
export function setContextValue(g: TestGuest, engine: EngineName, index: number, value: number): void {
  const e = g.engine(engine);
  writeContextValue(e.view(), e.context.gma, index, value);
}

/**
 * Emit `commands` into `g`'s ring on `engine`, update the context's tail, and submit a descriptor
 * built from `desc` (defaults: the guest's own context, legacy 64-bit, privileged).
 */
export function submitWith(g: TestGuest, engine: EngineName, commands: readonly number[], desc: { lrca?: number; addressingMode?: number; privilege?: boolean; contextId?: number } = {}): void {
  const e = g.engine(engine);
  e.emit(commands);
  writeContextValue(e.view(), e.context.gma, CtxReg.RING_TAIL, e.tail);
  const d = encodeDescriptor({
    lrca: desc.lrca ?? e.context.gma, contextId: desc.contextId ?? e.contextId, addressingMode: desc.addressingMode ?? 3, privilege: desc.privilege ?? true,
  });
  g.driver.submitElsp(e.engine, d);
}

/**
 * Run simulated time event by event until `pred()` holds (at most `maxNs`). Returns whether it
 * held: for attacks that must act while a given workload is on the device.
 */
export function runUntil(ctx: AttackContext, pred: () => boolean, maxNs = 1e9): boolean {
  const clock = ctx.h.device.clock;
  const deadline = clock.now + maxNs;
  while (!pred()) {
    const t = clock.nextTime();
    if (t === Infinity || t > deadline) return pred();
    clock.step();
  }
  return true;
}

/** True when `g`'s workload is the one on engine `engineId`. */
export function onDevice(ctx: AttackContext, g: TestGuest, engineId = 0): boolean {
  return ctx.h.mediator.inflightOn(engineId)?.vgpuId === g.vgpu.id;
}
