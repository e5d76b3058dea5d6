/**
 * lib/display: Skylake's display engine as GVT-g presents it to a vGPU (GVT-g's one DP monitor on
 * port D by default, or the host's monitors on ports B, C, D): the display registers, their
 * handler rows, the monitors' EDIDs and DPCDs, AUX and DDC, hotplug.
 */
export { VirtualDisplay } from './display.js';
export type { VirtualDisplayOptions, VirtualMonitor, DisplayCounters } from './display.js';
export { displayRows, PCODE_COMMANDS, AuxCtl, GEN6_PCODE_ILLEGAL_CMD } from './handlers.js';
export type { PcodeCommand } from './handlers.js';
export {
  DISPLAY_REGISTER_DEFS, DREG, DBits, Port, TRANS, PIPES, PLANES_PER_PIPE, planesOf, SKL_PW_REQ_MASK, GVT_GOLDEN_M_N,
  ddiBufCtl, dpTpCtl, dpTpStatus, dpAuxChCtl, transcoderBase, pipeconf, planeCtl, curcntr,
} from './registers.js';
export {
  buildEdid, cvtReducedBlanking, cvtReducedBlankingV2, monitorMode, modeTiming, dmtMode, decodeDetailedTiming, decodeEdid, detailedTiming,
  detailedTimingProblem, edidChecksumValid, edidExtensionCount, hTotal, vTotal, refreshHz, DMT_MODES, DMT_TABLE, MAX_DTD_PIXEL_CLOCK_KHZ,
  MAX_DTD_ACTIVE, MIN_MODE_REFRESH, MAX_MODE_REFRESH, EDID_BLOCK, CTA_EXTENSION_TAG, CTA_REVISION, CTA_DTDS_PER_BLOCK,
} from './edid.js';
export type { DisplayMode, EdidOptions, ModeSpec, ModeTiming, DmtEntry, DecodedEdid } from './edid.js';
export { MONITOR_PORTS, MAX_MONITOR_MODES, monitorPortRow, resolveMonitor, resolveDisplayOptions } from './monitors.js';
export type { MonitorPort, MonitorConfig, MonitorSpec, DisplayOptions, MonitorPortRow, ResolvedMonitor } from './monitors.js';
export { VirtualDpcd, DPCD_SIZE, DPCD_FIX_DATA, Dpcd } from './dpcd.js';
export { AuxChannel, DdcBus, AuxRequest, AuxReply, DDC_ADDR, DDC_SEGMENT_ADDR, AUX_MAX_PAYLOAD } from './aux.js';
export type { I2cState } from './aux.js';
export { VblankEmulator, DE_IRQ_BANKS, VREG, VBits, SKL_LINK_RATE_KHZ, DEFAULT_REFRESH_MHZ, MIN_REFRESH_MHZ, MAX_REFRESH_MHZ, periodOf } from './vblank.js';
export type { VblankCounters, VblankHost } from './vblank.js';
export { GmbusController, Gmbus, Gpio, gpioRead, gpioLatch } from './gmbus.js';
export type { GmbusPhase } from './gmbus.js';
export {
  decodePlane, pipeEnabled, pipeHasPlane, planeFormatOf, planeTilingOf, tilingRow, scanSpan, fourcc,
  DrmFormat, DrmPlaneType, PlaneBits, PlaneReg, CursorReg, PLANE_FORMATS, PLANE_TILINGS, CURSOR_MODES, PIPE_INDEX,
  PLANE_PIPES, PLANE_KINDS, HOTSPOT_INVALID, CURSOR_HOT_REG,
} from './plane.js';
export type {
  PlaneInfo, PlaneResult, PlaneFault, PlaneKind, PipeName, PlaneSource, PlaneTiling, PlaneFormatRow, PlaneTilingRow,
  CursorModeRow, PixelDecode,
} from './plane.js';
export { readFramebuffer, tiledOffset, depositBits, TILE_LAYOUTS, PIXEL_READERS, YUV_COEFFICIENTS } from './framebuffer.js';
export type { GraphicsMemory, FramebufferResult, TileLayoutRow } from './framebuffer.js';
export { encodePng, decodePng } from './png.js';
export type { RgbaImage } from './png.js';
