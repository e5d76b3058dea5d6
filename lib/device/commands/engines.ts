/**
 * Engine classes of the Gen9 command streamers, as numbers for the hot path.
 *
 * A command's meaning depends on the ring that parses it: the same type-3 header is an MFX
 * command on a video ring and a VEBOX command on the video-enhancement ring (GVT-g keeps one
 * decode table per ring for this reason: `ring_decode_info` in `gvt/cmd_parser.c`). VCS2 is a
 * second instance of the VCS class and decodes exactly like VCS.
 */

/** Engine class of a command streamer. */
export type EngineClass = 0 | 1 | 2 | 3;

/** Numeric engine classes: render, blitter (copy), video (VDBOX, VCS and VCS2), video enhancement (VEBOX). */
export const EngineClass = {
  RCS: 0,
  BCS: 1,
  VCS: 2,
  VECS: 3,
} as const satisfies Record<string, EngineClass>;

/** Number of engine classes (the size of per-engine arrays). */
export const ENGINE_CLASS_COUNT = 4;

/** Lower-case names, indexed by engine class. */
export const ENGINE_CLASS_NAMES: readonly ['rcs', 'bcs', 'vcs', 'vecs'] = ['rcs', 'bcs', 'vcs', 'vecs'];

/** Engine-set bits of a command table entry (`1 << EngineClass`). */
export const EngineMask = {
  RCS: 1 << EngineClass.RCS,
  BCS: 1 << EngineClass.BCS,
  VCS: 1 << EngineClass.VCS,
  VECS: 1 << EngineClass.VECS,
  ALL: 0xf,
} as const;

/**
 * Parse an engine name ('rcs', 'bcs', 'vcs', 'vecs'; case-insensitive; 'vcs2' is accepted as the
 * VCS class). Returns undefined for anything else.
 */
export function parseEngineClass(name: string): EngineClass | undefined {
  const n = name.toLowerCase();
  if (n === 'vcs2' || n === 'vcs1') return EngineClass.VCS;
  const i = ENGINE_CLASS_NAMES.indexOf(n as (typeof ENGINE_CLASS_NAMES)[number]);
  return i < 0 ? undefined : (i as EngineClass);
}

/** Lower-case name of an engine class. */
export function engineClassName(engine: EngineClass): string {
  return ENGINE_CLASS_NAMES[engine] ?? `engine${engine}`;
}

/** Names of the engines in an engine-set mask, e.g. 'rcs|bcs'. */
export function engineMaskNames(mask: number): string {
  const out: string[] = [];
  for (let e = 0; e < ENGINE_CLASS_COUNT; e++) if (mask & (1 << e)) out.push(ENGINE_CLASS_NAMES[e]);
  return out.join('|');
}
