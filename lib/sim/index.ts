/**
 * The experiment runner behind `gvtkit sim`: scenario files, workload generators, the runner with
 * its native baselines, text reports and SVG charts.
 */
export {
  ScenarioError, validateScenario, parseScenario, MODES, FAILSAFE_POLICIES, WORKLOAD_KINDS, ATTACK_KINDS, DEFAULT_MONITOR,
  type Scenario, type VgpuSpec, type WorkloadSpec, type WorkloadKind, type AttackKind, type GameWorkload, type MediaWorkload,
  type BlitWorkload, type IdleWorkload, type BurstyWorkload, type AttackerWorkload,
} from './scenario.js';
export {
  WorkloadGenerator, GameGenerator, MediaGenerator, BlitGenerator, IdleGenerator, BurstyGenerator, AttackerGenerator, SampleSet,
  createGenerator, renderBatch, copyBatch, mediaBatch, SCREEN_REFRESH_MS, type GeneratorStats,
} from './workloads.js';
export { ScreenPainter, screenLayout, screenColors, LINE_CHARS, type ScreenLayout, type ScreenColors, type ScreenDraw } from './screen.js';
export { FONT_5X7, FONT_WIDTH, FONT_HEIGHT, FONT_ADVANCE, FONT_LINE, glyphOf, glyphRects, dotLit, textRects, textWidth, type DotRect, type PixelRect } from './font.js';
export {
  runScenario, simulate, attachNative, fairShares, guestSeed, NativeCache, SIM_DEVICE_COST,
  type RunOptions, type SimulateOptions, type SimResult, type VgpuResult, type SimArtifacts, type NativeFigure, type LatencyMs, type ScreenShot,
} from './runner.js';
export { formatRun, formatComparison, formatSweep, firstUnder, table, pct, ISOLATION, type Design, type SweepRow } from './report.js';
export { renderShareSvg, renderLatencySvg, renderBarsSvg, renderSweepLinesSvg } from './svg.js';
export { ProgressBar, type ProgressStream, type ProgressOptions } from './progress.js';
export { measureIdleVgpus, exposedGc, type IdleCost, type IdleCostOptions } from './memory.js';
