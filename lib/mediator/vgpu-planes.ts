/**
 * What a vGPU's plane decode and framebuffer read-out read (`Vgpu.queryPlane`,
 * `Vgpu.readFramebuffer`; lib/display/plane.ts, framebuffer.ts): its registers, its slices, and
 * its graphics memory as the display engine sees it, its own guest frames only.
 */
import { RangeArgError } from '../errors.js';
import { describe } from '../validate.js';
import { PAGE_SIZE } from '../types.js';
import { PIPE_INDEX, pipeHasPlane, type PipeName, type PlaneSource } from '../display/plane.js';
import type { GraphicsMemory } from '../display/framebuffer.js';
import { VGT_PVINFO_PAGE, VGT_PVINFO_SIZE } from './pvinfo.js';
import type { Vgpu } from './vgpu.js';

/** What the plane decoder reads of `v`: registers (PVINFO without marking the guest GVT-aware), the slices, the GGTT view. */
export function planeSourceOf(v: Vgpu): PlaneSource {
  return {
    reg: (offset) => (offset >= VGT_PVINFO_PAGE && offset < VGT_PVINFO_PAGE + VGT_PVINFO_SIZE
      ? v.pvinfo.words[(offset - VGT_PVINFO_PAGE) >>> 2]
      : v.vregs.peek(offset)),
    ownsGma: (gma, bytes) => v.ownsGma(gma, bytes),
    mapped: (gma) => ownFrameAt(v, gma) >= 0,
  };
}

/** The display engine's view of `v`'s graphics memory: its own guest frames only, anything else scratch (null). */
export function graphicsMemoryOf(v: Vgpu): GraphicsMemory {
  const mem = v.device.hostMemory;
  return {
    page32: (gma) => {
      const mfn = ownFrameAt(v, gma);
      return mfn >= 0 && mem.isBacked(mfn) ? mem.page32(mfn) : null;
    },
  };
}

/**
 * The host frame behind graphics address `gma` when it is memory of `v`'s guest: inside its
 * slices, present, neither its scratch page nor any frame it does not own; else -1.
 */
export function ownFrameAt(v: Vgpu, gma: number): number {
  const hpa = v.ggtt.translate(gma);
  if (hpa < 0) return -1;
  const mfn = Math.floor(hpa / PAGE_SIZE);
  return mfn !== v.ggtt.scratchMfn && v.ggtt.ownsFrame(mfn) ? mfn : -1;
}

/** `queryPlane` / `readFramebuffer` arguments: a known plane kind on a pipe that has it (pipe C has planes 1 and 2). */
export function checkPlaneArgs(kind: unknown, pipe: unknown): void {
  if (typeof pipe !== 'string' || !Object.hasOwn(PIPE_INDEX, pipe)) throw new RangeArgError(`plane pipe: expected 'A', 'B' or 'C', got ${describe(pipe)}`);
  if (kind !== 'primary' && kind !== 'sprite0' && kind !== 'sprite1' && kind !== 'cursor') {
    throw new RangeArgError(`plane kind: expected 'primary', 'sprite0', 'sprite1' or 'cursor', got ${describe(kind)}`);
  }
  if (!pipeHasPlane(pipe as PipeName, kind)) throw new RangeArgError(`plane kind: pipe ${pipe} has no ${kind} (Skylake's pipe C has two planes)`);
}
