/**
 * Skylake display-engine registers as a vGPU sees them, as data.
 *
 * Offsets and bit layouts are i915's (Linux 6.1 `i915_reg.h`, `display/intel_gmbus_regs.h`),
 * names kept as i915 spells them. The reset values are the ones GVT-g leaves in a vGPU with one
 * DisplayPort monitor on port D (Linux v7.0 `gvt/display.c` `emulate_monitor_status_change`, the
 * Skylake branch), over a baseline that stands for the host copy GVT-g starts from
 * (`gvt/mmio.c` `intel_vgpu_reset_mmio` copies the host's registers; gvtkit's host model has no
 * display, so the baseline is a display engine with nothing else lit: unused DDI buffers idle,
 * their clocks gated, interrupts masked).
 *
 * These rows exist only in the vGPU's register file (`VGPU_REGISTERS`): the host device model has
 * no display engine. The behaviour of the registers that answer a guest's polls is in
 * `handlers.ts`; every other row is plain virtual storage, as GVT-g tracks the plane, pipe and
 * cursor registers.
 */
import { RegFlag, type RegisterDef } from '../mmio/index.js';

const RO = RegFlag.READ_ONLY;
const W1C = RegFlag.W1C;

/** Pipes of Skylake's display engine (A, B, C). */
export const PIPES = 3;
/** Universal planes per pipe on Skylake (planes 1..3 on pipes A and B; pipe C has 2, its third stays plain). */
export const PLANES_PER_PIPE = 3;
/**
 * Universal planes pipe `pipe` has on Skylake: 3 on A and B, 2 on C (i915 6.1
 * `intel_device_info.c`: Broxton, the same display engine, exposes 2, 2 and 1 sprites besides the
 * primary; Skylake's i915 uses one). Pipe C's third plane's registers are plain storage: writing
 * its PLANE_SURF is no flip, and MI_DISPLAY_FLIP's code for it is refused.
 */
export function planesOf(pipe: number): number {
  return pipe === 2 ? 2 : PLANES_PER_PIPE;
}

/** Port indices (i915 `enum port`). */
export const Port = { A: 0, B: 1, C: 2, D: 3, E: 4 } as const;

/** Display register offsets (i915 names). Per-pipe, per-port and per-plane ones are functions below. */
export const DREG = {
  /** CPU_VGACNTRL: bit 31 VGA display disabled. */
  CPU_VGACNTRL: 0x41000,
  /** SKL_FUSE_STATUS: fuse download and power-gate distribution status (read-only). */
  SKL_FUSE_STATUS: 0x42000,
  /** CHICKEN_PAR1_1: display chicken bits (GVT-g tracks it plainly). */
  CHICKEN_PAR1_1: 0x42080,
  /** GEN8_DE_PIPE_ISR(pipe) = 0x44400 + 0x10·pipe; IMR +4, IIR +8, IER +0xc. */
  GEN8_DE_PIPE_ISR: 0x44400,
  /** GEN8_DE_PORT_ISR / IMR / IIR / IER. */
  GEN8_DE_PORT_ISR: 0x44440,
  /** GEN8_DE_MISC_ISR / IMR / IIR / IER. */
  GEN8_DE_MISC_ISR: 0x44460,
  /** GEN8_PCU_ISR / IMR / IIR / IER. */
  GEN8_PCU_ISR: 0x444e0,
  /** DISP_ARB_CTL: display arbitration control. */
  DISP_ARB_CTL: 0x45000,
  /** DBUF_CTL_S(0) (DBUF_CTL on Skylake): bit 31 power request, bit 30 power state. */
  DBUF_CTL: 0x45008,
  /** WM_LINETIME(pipe) = 0x45270 + 4·pipe. */
  WM_LINETIME_A: 0x45270,
  /** HSW_PWR_WELL_CTL1: the BIOS's power-well requests. */
  HSW_PWR_WELL_CTL1: 0x45400,
  /** HSW_PWR_WELL_CTL2: the driver's power-well requests (odd bits) and states (even bits). */
  HSW_PWR_WELL_CTL2: 0x45404,
  /** HSW_PWR_WELL_CTL3: KVMR requests. */
  HSW_PWR_WELL_CTL3: 0x45408,
  /** HSW_PWR_WELL_CTL4: debug requests. */
  HSW_PWR_WELL_CTL4: 0x4540c,
  /** DC_STATE_EN: allowed DC states (i915 reads its writes back). */
  DC_STATE_EN: 0x45504,
  /** DC_STATE_DEBUG. */
  DC_STATE_DEBUG: 0x45520,
  /** CDCLK_CTL: bits 27:26 frequency select, 10:0 the frequency's decimal. */
  CDCLK_CTL: 0x46000,
  /** LCPLL1_CTL (DPLL0): bit 31 enable, bit 30 lock. */
  LCPLL1_CTL: 0x46010,
  /** LCPLL2_CTL (DPLL1). */
  LCPLL2_CTL: 0x46014,
  /** WRPLL_CTL1 (DPLL2) and WRPLL_CTL2 (DPLL3): bit 31 enable. */
  WRPLL_CTL1: 0x46040,
  WRPLL_CTL2: 0x46060,
  /** TRANS_CLK_SEL(transcoder) = 0x46140 + 4·t. */
  TRANS_CLK_SEL_A: 0x46140,
  /** HSW_NDE_RSTWRN_OPT: PCH reset handshake. */
  HSW_NDE_RSTWRN_OPT: 0x46408,
  /** GEN8_CHICKEN_DCPR_1. */
  GEN8_CHICKEN_DCPR_1: 0x46430,
  /** SWF_ILK(i) = 0x4f000 + 4·i: software flags (SWF18 tells i915 whether a pre-OS set cdclk). */
  SWF_ILK: 0x4f000,
  /** SKL_DFSM: display fuses (pipe disables, cdclk limit); 0 = every pipe, 675 MHz. */
  SKL_DFSM: 0x51000,
  /** SKL_DSSM. */
  SKL_DSSM: 0x51004,
  /** TRANS_DDI_FUNC_CTL of transcoder EDP. */
  TRANS_DDI_FUNC_CTL_EDP: 0x6f400,
  /** PIPECONF of transcoder EDP. */
  PIPECONF_EDP: 0x7f008,
  /** DPLL_CFGCR1/2 of DPLL1..3: 0x6c040 + 8·(id-1) (+4 for CFGCR2). */
  DPLL1_CFGCR1: 0x6c040,
  /** DPLL_CTRL1: per DPLL: override, link rate, SSC, HDMI mode (6 bits each). */
  DPLL_CTRL1: 0x6c058,
  /** DPLL_CTRL2: per DDI: clock off (15 + port), clock select, select override. */
  DPLL_CTRL2: 0x6c05c,
  /** DPLL_STATUS: DPLL_LOCK(id) = bit 8·id. */
  DPLL_STATUS: 0x6c060,
  /** DMC program storage (12 KiB) and the DMC registers i915 checks after loading it. */
  DMC_PROGRAM: 0x80000,
  DMC_HTP_SKL: 0x8f004,
  DMC_LAST_WRITE: 0x8f034,
  DMC_SSP_BASE: 0x8f074,
  /** SFUSE_STRAP: PCH straps; bit 0 DDI D detected, 1 DDI C, 2 DDI B. */
  SFUSE_STRAP: 0xc2014,
  /** SDEISR / SDEIMR / SDEIIR / SDEIER: PCH (south display) interrupts. */
  SDEISR: 0xc4000,
  SDEIMR: 0xc4004,
  SDEIIR: 0xc4008,
  SDEIER: 0xc400c,
  /** PCH_PORT_HOTPLUG (SHOTPLUG_CTL): hotplug enables and (read-only here) status. */
  PCH_PORT_HOTPLUG: 0xc4030,
  /** PCH_PORT_HOTPLUG2 (SHOTPLUG_CTL2, SPT+). */
  PCH_PORT_HOTPLUG2: 0xc403c,
  /** GPIO(pin) = 0xc5010 + 4·pin: the DDC bit-banging lines, 6 pins. */
  GPIO_A: 0xc5010,
  /** GMBUS0..5: the I2C (DDC) controller. */
  GMBUS0: 0xc5100,
  GMBUS1: 0xc5104,
  GMBUS2: 0xc5108,
  GMBUS3: 0xc510c,
  GMBUS4: 0xc5110,
  GMBUS5: 0xc5120,
  /** PCH panel power sequencer (PCH_PPS_BASE 0xc7200): PP_STATUS, PP_CONTROL, delays, divisor. */
  PCH_PP_STATUS: 0xc7200,
  PCH_PP_CONTROL: 0xc7204,
  PCH_PP_ON_DELAYS: 0xc7208,
  PCH_PP_OFF_DELAYS: 0xc720c,
  PCH_PP_DIVISOR: 0xc7210,
  /** GEN6_PCODE_MAILBOX: bit 31 ready/busy, 7:0 command (in) or error (out). */
  GEN6_PCODE_MAILBOX: 0x138124,
  /** GEN6_PCODE_DATA / GEN6_PCODE_DATA1: the mailbox's data. */
  GEN6_PCODE_DATA: 0x138128,
  GEN6_PCODE_DATA1: 0x13812c,
} as const;

/** DDI_BUF_CTL(port) = 0x64000 + 0x100·port. */
export function ddiBufCtl(port: number): number { return 0x64000 + 0x100 * port; }
/** DP_TP_CTL(port) = 0x64040 + 0x100·port. */
export function dpTpCtl(port: number): number { return 0x64040 + 0x100 * port; }
/** DP_TP_STATUS(port) = 0x64044 + 0x100·port. */
export function dpTpStatus(port: number): number { return 0x64044 + 0x100 * port; }
/** DP_AUX_CH_CTL(aux channel) = 0x64010 + 0x100·ch (channel A..D); DATA1..5 follow at +4..+0x14. */
export function dpAuxChCtl(ch: number): number { return 0x64010 + 0x100 * ch; }
/** Transcoder register base: A, B, C at 0x60000 + 0x1000·t (EDP at 0x6f000). */
export function transcoderBase(t: number): number { return 0x60000 + 0x1000 * t; }
/** PIPECONF(pipe) = 0x70008 + 0x1000·pipe. */
export function pipeconf(pipe: number): number { return 0x70008 + 0x1000 * pipe; }
/** PLANE_CTL(pipe, plane) = 0x70180 + 0x1000·pipe + 0x100·plane. */
export function planeCtl(pipe: number, plane: number): number { return 0x70180 + 0x1000 * pipe + 0x100 * plane; }
/** CURCNTR(pipe) = 0x70080 + 0x1000·pipe. */
export function curcntr(pipe: number): number { return 0x70080 + 0x1000 * pipe; }

/** Offsets inside a transcoder's block (`_HTOTAL_A` ... `_TRANSA_MSA_MISC` minus 0x60000). */
export const TRANS = {
  HTOTAL: 0x00, HBLANK: 0x04, HSYNC: 0x08, VTOTAL: 0x0c, VBLANK: 0x10, VSYNC: 0x14,
  PIPESRC: 0x1c, BCLRPAT: 0x20, VSYNCSHIFT: 0x28, PIPE_MULT: 0x2c,
  DATA_M1: 0x30, DATA_N1: 0x34, DATA_M2: 0x38, DATA_N2: 0x3c,
  LINK_M1: 0x40, LINK_N1: 0x44, LINK_M2: 0x48, LINK_N2: 0x4c,
  PIPE_CRC_CTL: 0x50,
  DDI_FUNC_CTL: 0x400, MSA_MISC: 0x410,
} as const;

/** Bits the handlers and reset values use (i915 names). */
export const DBits = {
  SKL_FUSE_DOWNLOAD_STATUS: 1 << 31,
  /** SKL_FUSE_PG_DIST_STATUS(pg) = 1 << (27 - pg). */
  skFusePgDist: (pg: number): number => (1 << (27 - pg)) >>> 0,
  /** HSW_PWR_WELL_CTL_REQ(idx) = 2 << 2·idx; STATE = 1 << 2·idx. */
  pwrWellReq: (idx: number): number => (2 << (2 * idx)) >>> 0,
  pwrWellState: (idx: number): number => (1 << (2 * idx)) >>> 0,
  /** Skylake power-well indices (SKL_PW_CTL_IDX_*). */
  SKL_PW_CTL_IDX_MISC_IO: 0,
  SKL_PW_CTL_IDX_DDI_A_E: 1,
  SKL_PW_CTL_IDX_DDI_B: 2,
  SKL_PW_CTL_IDX_DDI_C: 3,
  SKL_PW_CTL_IDX_DDI_D: 4,
  SKL_PW_CTL_IDX_PW_1: 14,
  SKL_PW_CTL_IDX_PW_2: 15,
  DBUF_POWER_REQUEST: 1 << 31,
  DBUF_POWER_STATE: 1 << 30,
  LCPLL_PLL_ENABLE: 1 << 31,
  LCPLL_PLL_LOCK: 1 << 30,
  CDCLK_FREQ_SEL_MASK: 3 << 26,
  CDCLK_FREQ_337_308: 2 << 26,
  CDCLK_FREQ_DECIMAL_MASK: 0x7ff,
  /** DPLL_CTRL1_OVERRIDE(id) = 1 << 6·id; LINK_RATE(rate, id) = rate << (6·id + 1). */
  dpllCtrl1Override: (id: number): number => 1 << (6 * id),
  dpllCtrl1LinkRate: (rate: number, id: number): number => rate << (6 * id + 1),
  DPLL_CTRL1_LINK_RATE_1620: 3,
  /** DPLL_CTRL2_DDI_CLK_OFF(port) = 1 << (15 + port); DDI_SEL_OVERRIDE(port) = 1 << 3·port. */
  dpllCtrl2ClkOff: (port: number): number => 1 << (port + 15),
  dpllCtrl2ClkSel: (dpll: number, port: number): number => dpll << (port * 3 + 1),
  dpllCtrl2SelOverride: (port: number): number => 1 << (port * 3),
  /** DPLL_LOCK(id) = 1 << 8·id. */
  dpllLock: (id: number): number => (1 << (8 * id)) >>> 0,
  SFUSE_STRAP_DDID_DETECTED: 1 << 0,
  SFUSE_STRAP_DDIC_DETECTED: 1 << 1,
  SFUSE_STRAP_DDIB_DETECTED: 1 << 2,
  DDI_BUF_CTL_ENABLE: 1 << 31,
  DDI_BUF_IS_IDLE: 1 << 7,
  DDI_INIT_DISPLAY_DETECTED: 1 << 0,
  /** DP_TP_CTL link-training field 10:8; 2 = idle patterns. */
  DP_TP_CTL_LINK_TRAIN_MASK: 7 << 8,
  DP_TP_CTL_LINK_TRAIN_IDLE: 2 << 8,
  DP_TP_STATUS_IDLE_DONE: 1 << 25,
  /** DP_TP_STATUS sticky bits 27:26 and 24 (GVT-g `dp_tp_status_mmio_write`): written 1 clears. */
  DP_TP_STATUS_STICKY: (3 << 26) | (1 << 24),
  TRANS_DDI_FUNC_ENABLE: 1 << 31,
  /** TRANS_DDI_PORT(port) = port << 28 (pre-Tiger Lake). */
  transDdiPort: (port: number): number => (port << 28) >>> 0,
  TRANS_DDI_MODE_SELECT_DP_SST: 2 << 24,
  TRANS_DDI_BPC_8: 0 << 20,
  PIPECONF_ENABLE: 1 << 31,
  PIPECONF_STATE_ENABLE: 1 << 30,
  /** TU_SIZE(x) = (x - 1) << 25 in PIPE_DATA_M1. */
  tuSize: (x: number): number => ((x - 1) << 25) >>> 0,
  SDE_PORTB_HOTPLUG_CPT: 1 << 21,
  SDE_PORTC_HOTPLUG_CPT: 1 << 22,
  SDE_PORTD_HOTPLUG_CPT: 1 << 23,
  SDE_PORTA_HOTPLUG_SPT: 1 << 24,
  SDE_PORTE_HOTPLUG_SPT: 1 << 25,
  /** PORTx_HOTPLUG_STATUS_MASK in PCH_PORT_HOTPLUG (A on SPT at 25:24, B 1:0, C 9:8, D 17:16). */
  PORTD_HOTPLUG_STATUS_MASK: 3 << 16,
  PCH_HOTPLUG_STATUS_MASKS: (3 << 24) | (3 << 16) | (3 << 8) | 3,
  /** GEN8_DE_PORT_IIR AUX done bits (i915 6.1 `gen8_de_port_aux_mask`, GVT-g `gen8_init_irq` on Gen9): A at 0, B..D at 25..27. */
  GEN8_AUX_CHANNEL_A: 1 << 0,
  GEN9_AUX_CHANNEL_B: 1 << 25,
  GEN9_AUX_CHANNEL_C: 1 << 26,
  GEN9_AUX_CHANNEL_D: 1 << 27,
  PANEL_POWER_ON: 1 << 0,
  PP_ON: 1 << 31,
  PP_SEQUENCE_POWER_DOWN: 1 << 29,
  PP_SEQUENCE_STATE_ON_IDLE: 1 << 3,
  PP_CYCLE_DELAY_ACTIVE: 1 << 27,
  GEN6_PCODE_READY: 1 << 31,
  GEN6_PCODE_ERROR_MASK: 0xff,
} as const;

/**
 * Skylake's power-well request bits GVT-g lets a guest set in HSW_PWR_WELL_CTL2 (gvt/handlers.c
 * `skl_power_well_ctl_write`): PW2, PW1, and the DDI D, C, B, A/E and misc I/O wells.
 */
export const SKL_PW_REQ_MASK = ((1 << 31) | (1 << 29) | (1 << 9) | (1 << 7) | (1 << 5) | (1 << 3) | (1 << 1)) >>> 0;

/** PIPE_DATA_M1/N1 and PIPE_LINK_M1/N1 of transcoder A as GVT-g sets them (24 bpp, 4 lanes, 154 MHz, 1.62 GHz). */
export const GVT_GOLDEN_M_N = Object.freeze({
  dataM1: (DBits.tuSize(64) | 0x5b425e) >>> 0,
  dataN1: 0x800000,
  linkM1: 0x3cd6e,
  linkN1: 0x80000,
});

/** DPLL_CTRL2 with the clocks of DDI A..E gated (a display engine with nothing lit). */
const DPLL_CTRL2_ALL_GATED = (DBits.dpllCtrl2ClkOff(Port.A) | DBits.dpllCtrl2ClkOff(Port.B) | DBits.dpllCtrl2ClkOff(Port.C)
  | DBits.dpllCtrl2ClkOff(Port.D) | DBits.dpllCtrl2ClkOff(Port.E)) >>> 0;

function r(offset: number, name: string, doc: string, extra: Partial<RegisterDef> = {}): RegisterDef {
  return { offset, name, doc, ...extra };
}

/** The four registers of an interrupt bank (ISR read-only, IMR masked at reset, IIR write-1-to-clear). */
function irqBank(base: number, name: string, doc: string, count = 1, isrReset = 0): RegisterDef[] {
  const stride = 0x10;
  return [
    r(base, `${name}_ISR`, `${doc}: live status (GVT-g sets the virtual monitor's bits)`, { flags: RO, count, stride, reset: isrReset }),
    r(base + 4, `${name}_IMR`, `${doc}: mask (hardware reset: all masked)`, { count, stride, reset: 0xffffffff }),
    r(base + 8, `${name}_IIR`, `${doc}: identity, write 1 to clear (i915 asserts it reads 0 at install)`, { flags: W1C, count, stride }),
    r(base + 0xc, `${name}_IER`, `${doc}: enable`, { count, stride }),
  ];
}

/** Per-transcoder rows (A, B, C at stride 0x1000, plus EDP for the DDI function and PIPECONF). */
function transcoderRows(): RegisterDef[] {
  const b = transcoderBase(0), n = 3, s = 0x1000;
  const t = (rel: number, name: string, doc: string, extra: Partial<RegisterDef> = {}): RegisterDef =>
    r(b + rel, name, doc, { count: n, stride: s, ...extra });
  return [
    t(TRANS.HTOTAL, 'HTOTAL', 'transcoder timing: active - 1 (15:0), total - 1 (31:16); the monitor\'s mode on A at reset'),
    t(TRANS.HBLANK, 'HBLANK', 'transcoder timing: blank start - 1, end - 1'),
    t(TRANS.HSYNC, 'HSYNC', 'transcoder timing: sync start - 1, end - 1'),
    t(TRANS.VTOTAL, 'VTOTAL', 'transcoder timing (lines)'),
    t(TRANS.VBLANK, 'VBLANK', 'transcoder timing (lines)'),
    t(TRANS.VSYNC, 'VSYNC', 'transcoder timing (lines)'),
    t(TRANS.PIPESRC, 'PIPESRC', 'pipe source size: width - 1 (31:16), height - 1 (15:0)'),
    t(TRANS.BCLRPAT, 'BCLRPAT', 'border colour pattern'),
    t(TRANS.VSYNCSHIFT, 'VSYNCSHIFT', 'vsync shift (interlaced)'),
    t(TRANS.PIPE_MULT, 'PIPE_MULT', 'pixel multiplier'),
    t(TRANS.DATA_M1, 'PIPE_DATA_M1', 'DP data M (GVT-g golden value on A)'),
    t(TRANS.DATA_N1, 'PIPE_DATA_N1', 'DP data N'),
    t(TRANS.DATA_M2, 'PIPE_DATA_M2', 'DP data M (second set)'),
    t(TRANS.DATA_N2, 'PIPE_DATA_N2', 'DP data N (second set)'),
    t(TRANS.LINK_M1, 'PIPE_LINK_M1', 'DP link M'),
    t(TRANS.LINK_N1, 'PIPE_LINK_N1', 'DP link N'),
    t(TRANS.LINK_M2, 'PIPE_LINK_M2', 'DP link M (second set)'),
    t(TRANS.LINK_N2, 'PIPE_LINK_N2', 'DP link N (second set)'),
    t(TRANS.PIPE_CRC_CTL, 'PIPE_CRC_CTL', 'pipe CRC control'),
    t(TRANS.DDI_FUNC_CTL, 'TRANS_DDI_FUNC_CTL', 'transcoder DDI function: enable, port, mode, bpc (A: DP SST on port D at reset)'),
    t(TRANS.MSA_MISC, 'TRANS_MSA_MISC', 'DP MSA misc'),
    r(DREG.TRANS_DDI_FUNC_CTL_EDP, 'TRANS_DDI_FUNC_CTL_EDP', 'transcoder EDP DDI function (no eDP: 0)'),
    r(DREG.TRANS_CLK_SEL_A, 'TRANS_CLK_SEL', 'transcoder clock select (A, B, C)', { count: 3 }),
  ];
}

/** Per-pipe rows: pipe, planes, cursor, watermarks, scalers. */
function pipeRows(): RegisterDef[] {
  const s = 0x1000;
  const p = (offset: number, name: string, doc: string, extra: Partial<RegisterDef> = {}): RegisterDef =>
    r(offset, name, doc, { count: PIPES, stride: s, ...extra });
  const rows: RegisterDef[] = [
    p(0x70000, 'PIPEDSL', 'display scan line'),
    p(0x70008, 'PIPECONF', 'pipe configuration: bit 31 enable, bit 30 state (follows enable)'),
    p(0x70024, 'PIPESTAT', 'pipe status (legacy)'),
    p(0x70030, 'PIPEMISC', 'pipe misc: dithering, bpc'),
    p(0x70034, 'SKL_BOTTOM_COLOR', 'pipe bottom colour'),
    p(0x70038, 'PIPE_CHICKEN', 'pipe chicken bits'),
    p(0x70040, 'PIPE_FRMCOUNT_G4X', 'frame counter (counted by the vblank timer, vblank.ts)'),
    p(0x70044, 'PIPE_FLIPCOUNT_G4X', 'flip counter (primary-plane flips)'),
    p(0x70080, 'CURCNTR', 'cursor control (mode disabled at reset)'),
    p(0x70084, 'CURBASE', 'cursor surface (graphics address)', { flags: RegFlag.GMADR }),
    p(0x70088, 'CURPOS', 'cursor position'),
    p(0x700ac, 'CURSURFLIVE', 'cursor live surface'),
    r(0x70140, 'CUR_WM', 'cursor watermark levels 0..7 (pipe A; B and C below)', { count: 8 }),
    r(0x71140, 'CUR_WM_B', 'cursor watermark levels, pipe B', { count: 8 }),
    r(0x72140, 'CUR_WM_C', 'cursor watermark levels, pipe C', { count: 8 }),
    p(0x70168, 'CUR_WM_TRANS', 'cursor transition watermark'),
    p(0x7017c, 'CUR_BUF_CFG', 'cursor DDB allocation'),
    r(DREG.WM_LINETIME_A, 'WM_LINETIME', 'line time watermark (A, B, C)', { count: 3 }),
    r(0x4a480, 'GAMMA_MODE', 'gamma mode (A, B, C)', { count: 3, stride: 0x800 }),
    r(0x49028, 'PIPE_CSC_MODE', 'pipe CSC mode (A, B, C)', { count: 3, stride: 0x100 }),
  ];
  // Universal planes 1..3 of each pipe (0x100 apart inside the pipe's 0x1000).
  const planeRegs: [number, string, string, number?][] = [
    [0x00, 'PLANE_CTL', 'plane control (disabled at reset)'],
    [0x08, 'PLANE_STRIDE', 'plane stride'],
    [0x0c, 'PLANE_POS', 'plane position'],
    [0x10, 'PLANE_SIZE', 'plane size'],
    [0x14, 'PLANE_KEYVAL', 'colour key value'],
    [0x18, 'PLANE_KEYMSK', 'colour key mask'],
    [0x1c, 'PLANE_SURF', 'plane surface (graphics address; a write is a flip, vblank.ts)', RegFlag.GMADR],
    [0x20, 'PLANE_KEYMAX', 'colour key max'],
    [0x24, 'PLANE_OFFSET', 'plane offset'],
    [0x2c, 'PLANE_SURFLIVE', 'plane live surface'],
    [0x40, 'PLANE_AUX_DIST', 'plane aux surface distance'],
    [0x44, 'PLANE_AUX_OFFSET', 'plane aux offset'],
    [0x48, 'PLANE_CUS_CTL', 'chroma upsampler'],
    [0x4c, 'PLANE_COLOR_CTL', 'plane colour control'],
    [0xe8, 'PLANE_WM_TRANS', 'plane transition watermark'],
    [0xf8, 'PLANE_NV12_BUF_CFG', 'plane NV12 DDB allocation'],
    [0xfc, 'PLANE_BUF_CFG', 'plane DDB allocation'],
  ];
  for (let pipe = 0; pipe < PIPES; pipe++) {
    const pn = 'ABC'[pipe];
    for (const [rel, name, doc, flags] of planeRegs) {
      rows.push(r(planeCtl(pipe, 0) + rel, `${name}_${pn}`, `${doc}, pipe ${pn} planes 1..3`, { count: PLANES_PER_PIPE, stride: 0x100, flags: flags ?? 0 }));
    }
    for (let plane = 0; plane < PLANES_PER_PIPE; plane++) {
      rows.push(r(planeCtl(pipe, plane) + 0xc0, `PLANE_WM_${pn}${plane + 1}`, `plane ${plane + 1} watermark levels 0..7, pipe ${pn}`, { count: 8 }));
    }
    // Pipe scalers: PS_CTRL / PS_WIN_POS / PS_WIN_SZ of scalers 1 and 2 (pipe C has one; its second stays plain).
    const psBase = 0x68180 + 0x800 * pipe;
    rows.push(r(psBase, `PS_CTRL_${pn}`, `pipe ${pn} scaler control (scalers 1, 2)`, { count: 2, stride: 0x100 }));
    rows.push(r(psBase - 0x10, `PS_WIN_POS_${pn}`, `pipe ${pn} scaler window position`, { count: 2, stride: 0x100 }));
    rows.push(r(psBase - 0x0c, `PS_WIN_SZ_${pn}`, `pipe ${pn} scaler window size`, { count: 2, stride: 0x100 }));
  }
  rows.push(r(DREG.PIPECONF_EDP, 'PIPECONF_EDP', 'transcoder EDP configuration (no eDP)'));
  return rows;
}

/** DDI, AUX and DP transport rows of ports A..E. */
function portRows(): RegisterDef[] {
  const rows: RegisterDef[] = [
    r(ddiBufCtl(0), 'DDI_BUF_CTL', 'DDI buffer control A..E: bit 31 enable, bit 7 idle (follows enable), bit 0 port A detected', { count: 5, stride: 0x100 }),
    r(dpTpCtl(0), 'DP_TP_CTL', 'DP transport control A..E (idle patterns set IDLE_DONE)', { count: 5, stride: 0x100 }),
    r(dpTpStatus(0), 'DP_TP_STATUS', 'DP transport status A..E (sticky bits clear on write)', { count: 5, stride: 0x100 }),
    r(dpAuxChCtl(0), 'DP_AUX_CH_CTL', 'AUX channel control A..D: send/busy, done, errors, message size', { count: 4, stride: 0x100 }),
  ];
  for (let i = 1; i <= 5; i++) {
    rows.push(r(dpAuxChCtl(0) + 4 * i, `DP_AUX_CH_DATA${i}`, `AUX channel data ${i} A..D (big-endian bytes)`, { count: 4, stride: 0x100 }));
  }
  return rows;
}

/**
 * Registers i915 6.1 touches while it lights a pipe (its fbdev's initial modeset on the virtual
 * monitor, a guest's SETCRTC and page flips; found by running Debian's i915 in v86 with
 * `DEBUG=gvtkit:mmio`, which logs every untracked access). GVT-g tracks each as plain virtual
 * storage (Linux 6.1 `intel_gvt_mmio_table.c`, `MMIO_D`/`MMIO_F`) unless noted; before these
 * rows a guest's write was dropped and its read-back was 0.
 */
function modesetRows(): RegisterDef[] {
  return [
    // i915's unclaimed-access check (intel_uncore.c, fpga_check_for_unclaimed_mmio). GVT-g's
    // fpga_dbg_mmio_write never lets RM_NOCLAIM (bit 31) stick: a vGPU has no unclaimed access.
    r(0x42300, 'FPGA_DBG', 'unclaimed-access debug: bit 31 (RM_NOCLAIM) never set (fpga_dbg_mmio_write)', { roMask: 0x80000000 }),
    // Transcoder chicken bits: i915 6.1 writes the frame start delay there at every modeset
    // (intel_display.c hsw_set_frame_start_delay) and its readout takes framestart_delay from it.
    // Not in GVT-g's table (untracked there); storage here, so the read-back is the write.
    r(0x420c0, 'CHICKEN_TRANS', 'transcoder chicken bits A, B, C, EDP (gvtkit: storage; untracked in GVT-g)', { count: 4 }),
    r(0x43224, 'ILK_DPFC_CHICKEN', 'FBC A chicken bits'),
    r(0x45004, 'DISP_ARB_CTL2', 'display arbitration control 2'),
    r(0x60200, 'HSW_VIDEO_DIP_CTL', 'transcoder video DIP (infoframe) control A, B, C', { count: 3, stride: 0x1000 }),
    // GVT-g's edp_psr_imr_iir_write stores 0: no PSR on a vGPU.
    r(0x64834, 'EDP_PSR_IMR', 'PSR interrupt mask: reads 0 (edp_psr_imr_iir_write)', { flags: RO }),
    r(0x64838, 'EDP_PSR_IIR', 'PSR interrupt identity: reads 0 (edp_psr_imr_iir_write)', { flags: RO }),
    // DDI_BUF_TRANS(port, i): 10 entries of two dwords, 0x60 apart per port (i915 intel_ddi.c
    // skl_ddi_prepare_buf_trans). GVT-g tracks ports A..C (MMIO_F 0x50 each); D, where its own
    // monitor sits, and E are gvtkit's additions.
    ...[0, 1, 2, 3, 4].map((port) => r(0x64e00 + 0x60 * port, `DDI_BUF_TRANS_${'ABCDE'[port]}`, `DDI ${'ABCDE'[port]} buffer translations (10 x 2 dwords)`, { count: 20 })),
    r(0x650c0, 'HSW_AUD_PIN_ELD_CP_VLD', 'audio ELD valid / pin status'),
    r(0x65900, 'AUD_FREQ_CNTRL', 'audio frequency control'),
    r(0x6c00c, 'DISPIO_CR_TX_BMU_CR0', 'display I/O buffer control'),
    r(0x700a0, 'CUR_FBC_CTL', 'cursor FBC control A, B, C', { count: 3, stride: 0x1000 }),
    r(0xc2020, 'SOUTH_DSPCLK_GATE_D', 'PCH display clock gating'),
    r(0xc6204, 'PCH_RAWCLK_FREQ', 'PCH raw clock frequency'),
  ];
}

/**
 * The display registers of a Skylake vGPU with a DP monitor on port D. The reset values that
 * depend on the monitor's mode (transcoder A's timings and PIPESRC) or on one instance of a
 * counted row (`monitorStatusValues`: transcoder A, pipe A, DDI buffers, DDI clocks) are set by
 * `VirtualDisplay` when the vGPU is created; everything else is here.
 */
export const DISPLAY_REGISTER_DEFS: readonly RegisterDef[] = Object.freeze([
  // A vGPU has no VGA plane: disabled, so i915's intel_vga_disable returns before it touches the
  // legacy VGA I/O ports (which an emulator routes to its own VGA device).
  r(DREG.CPU_VGACNTRL, 'CPU_VGACNTRL', 'VGA plane disabled (bit 31)', { reset: 0x80000000 }),
  // --- fuses, straps, power wells, DC states (intel_display_power*.c) -------------------------
  r(DREG.SKL_FUSE_STATUS, 'SKL_FUSE_STATUS', 'fuse download done, PG0/PG1/PG2 distributed (display.c sets them)', {
    flags: RO, reset: (DBits.SKL_FUSE_DOWNLOAD_STATUS | DBits.skFusePgDist(0) | DBits.skFusePgDist(1) | DBits.skFusePgDist(2)) >>> 0,
  }),
  r(DREG.CHICKEN_PAR1_1, 'CHICKEN_PAR1_1', 'display chicken bits'),
  r(DREG.DISP_ARB_CTL, 'DISP_ARB_CTL', 'display arbitration control'),
  r(DREG.DBUF_CTL, 'DBUF_CTL_S0', 'DBuf power: the state (bit 30) follows the request (bit 31)'),
  r(DREG.HSW_PWR_WELL_CTL1, 'HSW_PWR_WELL_CTL1', 'BIOS power-well requests'),
  r(DREG.HSW_PWR_WELL_CTL2, 'HSW_PWR_WELL_CTL2', 'driver power-well requests; each state bit follows its request (PW1, misc I/O and DDI D lit at reset)', {
    reset: (DBits.pwrWellReq(14) | DBits.pwrWellState(14) | DBits.pwrWellReq(0) | DBits.pwrWellState(0) | DBits.pwrWellReq(4) | DBits.pwrWellState(4)) >>> 0,
  }),
  r(DREG.HSW_PWR_WELL_CTL3, 'HSW_PWR_WELL_CTL3', 'KVMR power-well requests'),
  r(DREG.HSW_PWR_WELL_CTL4, 'HSW_PWR_WELL_CTL4', 'debug power-well requests'),
  r(DREG.DC_STATE_EN, 'DC_STATE_EN', 'allowed DC states (read back by i915)'),
  r(DREG.DC_STATE_DEBUG, 'DC_STATE_DEBUG', 'DC state debug mask'),
  r(DREG.SKL_DFSM, 'SKL_DFSM', 'display fuses: no pipe disabled, cdclk limit 675 MHz', { flags: RO }),
  r(DREG.SKL_DSSM, 'SKL_DSSM', 'display straps', { flags: RO }),
  r(DREG.SWF_ILK, 'SWF_ILK', 'software flags (SWF18 = 0: no pre-OS programmed cdclk)', { count: 0x20 }),
  r(DREG.HSW_NDE_RSTWRN_OPT, 'HSW_NDE_RSTWRN_OPT', 'PCH reset handshake enable'),
  r(DREG.GEN8_CHICKEN_DCPR_1, 'GEN8_CHICKEN_DCPR_1', 'display chicken bits'),
  // --- clocks: cdclk, LCPLL/DPLL (intel_cdclk.c, intel_dpll_mgr.c) ---------------------------
  r(DREG.CDCLK_CTL, 'CDCLK_CTL', 'cdclk 337.5 MHz (select and decimal consistent)', { reset: (DBits.CDCLK_FREQ_337_308 | 0x2a1) >>> 0 }),
  r(DREG.LCPLL1_CTL, 'LCPLL1_CTL', 'DPLL0: enabled and locked (display.c); lock follows enable', { reset: (DBits.LCPLL_PLL_ENABLE | DBits.LCPLL_PLL_LOCK) >>> 0 }),
  r(DREG.LCPLL2_CTL, 'LCPLL2_CTL', 'DPLL1: lock follows enable'),
  r(DREG.WRPLL_CTL1, 'WRPLL_CTL1', 'DPLL2 control (enable bit read by DPLL_STATUS)'),
  r(DREG.WRPLL_CTL2, 'WRPLL_CTL2', 'DPLL3 control (enable bit read by DPLL_STATUS)'),
  r(DREG.DPLL1_CFGCR1, 'DPLL_CFGCR1', 'DPLL1..3 configuration 1', { count: 3, stride: 8 }),
  r(DREG.DPLL1_CFGCR1 + 4, 'DPLL_CFGCR2', 'DPLL1..3 configuration 2', { count: 3, stride: 8 }),
  r(DREG.DPLL_CTRL1, 'DPLL_CTRL1', 'DPLL0: override, 1620 MHz DP link rate (display.c)', {
    reset: (DBits.dpllCtrl1Override(0) | DBits.dpllCtrl1LinkRate(DBits.DPLL_CTRL1_LINK_RATE_1620, 0)) >>> 0,
  }),
  r(DREG.DPLL_CTRL2, 'DPLL_CTRL2', 'DDI clocks: all gated; with the pipe lit (GVT-g\'s state), DDI D clocked from DPLL0', { reset: DPLL_CTRL2_ALL_GATED }),
  r(DREG.DPLL_STATUS, 'DPLL_STATUS', 'DPLL lock bits, computed from the DPLLs\' enable bits when read', { reset: DBits.dpllLock(0) }),
  // --- DMC (intel_dmc.c): program storage and the registers i915 checks after loading -----------
  r(DREG.DMC_PROGRAM, 'DMC_PROGRAM', 'DMC program storage (plain: the firmware i915 writes reads back)', { count: 0x3000 / 4 }),
  r(DREG.DMC_HTP_SKL, 'DMC_HTP_SKL', 'DMC handler table pointer'),
  r(DREG.DMC_LAST_WRITE, 'DMC_LAST_WRITE', 'DMC last write'),
  r(DREG.DMC_SSP_BASE, 'DMC_SSP_BASE', 'DMC stack pointer base'),
  // --- interrupts (i915_irq.c gen8_de_irq_postinstall, ibx/spt hotplug) ----------------------
  ...irqBank(DREG.GEN8_DE_PIPE_ISR, 'GEN8_DE_PIPE', 'DE pipe A..C interrupts', PIPES),
  ...irqBank(DREG.GEN8_DE_PORT_ISR, 'GEN8_DE_PORT', 'DE port interrupts (AUX A..D done at bits 0, 25..27; port A hotplug)'),
  ...irqBank(DREG.GEN8_DE_MISC_ISR, 'GEN8_DE_MISC', 'DE misc interrupts'),
  ...irqBank(DREG.GEN8_PCU_ISR, 'GEN8_PCU', 'PCU interrupts'),
  r(DREG.SDEISR, 'SDEISR', 'PCH interrupt status: each monitor\'s port hotplug live (D by default; display.ts sets it)', { flags: RO, reset: DBits.SDE_PORTD_HOTPLUG_CPT }),
  r(DREG.SDEIMR, 'SDEIMR', 'PCH interrupt mask', { reset: 0xffffffff }),
  r(DREG.SDEIIR, 'SDEIIR', 'PCH interrupt identity, write 1 to clear', { flags: W1C }),
  r(DREG.SDEIER, 'SDEIER', 'PCH interrupt enable'),
  r(DREG.PCH_PORT_HOTPLUG, 'PCH_PORT_HOTPLUG', 'hotplug enables; the status bits are the device\'s (read-only, as GVT-g marks them)', { roMask: DBits.PCH_HOTPLUG_STATUS_MASKS }),
  r(DREG.PCH_PORT_HOTPLUG2, 'PCH_PORT_HOTPLUG2', 'hotplug enables (port E)'),
  // --- PCH: straps, DDC (GPIO/GMBUS), panel power --------------------------------------------
  r(DREG.SFUSE_STRAP, 'SFUSE_STRAP', 'PCH straps: each monitor\'s DDI detected (D by default; display.ts sets it)', { flags: RO, reset: DBits.SFUSE_STRAP_DDID_DETECTED }),
  r(DREG.GPIO_A, 'GPIO', 'DDC bit-banging lines of pins 0..5: open drain, idle high, nothing answers', { count: 6 }),
  r(DREG.GMBUS0, 'GMBUS0', 'GMBUS pin and rate select'),
  r(DREG.GMBUS1, 'GMBUS1', 'GMBUS command'),
  r(DREG.GMBUS2, 'GMBUS2', 'GMBUS status (hardware ready at reset)', { reset: 1 << 11 }),
  r(DREG.GMBUS3, 'GMBUS3', 'GMBUS data'),
  r(DREG.GMBUS4, 'GMBUS4', 'GMBUS interrupt mask'),
  r(DREG.GMBUS5, 'GMBUS5', 'GMBUS 2-byte index'),
  r(DREG.PCH_PP_STATUS, 'PCH_PP_STATUS', 'panel power status: follows PCH_PP_CONTROL (no panel on a vGPU)', { flags: RO }),
  r(DREG.PCH_PP_CONTROL, 'PCH_PP_CONTROL', 'panel power control'),
  r(DREG.PCH_PP_ON_DELAYS, 'PCH_PP_ON_DELAYS', 'panel power-on delays'),
  r(DREG.PCH_PP_OFF_DELAYS, 'PCH_PP_OFF_DELAYS', 'panel power-off delays'),
  r(DREG.PCH_PP_DIVISOR, 'PCH_PP_DIVISOR', 'panel power cycle divisor'),
  // --- PCU mailbox (intel_pcode.c) -------------------------------------------------------------
  r(DREG.GEN6_PCODE_MAILBOX, 'GEN6_PCODE_MAILBOX', 'pcode mailbox: a command written completes at once (ready and error bits clear)'),
  r(DREG.GEN6_PCODE_DATA, 'GEN6_PCODE_DATA', 'pcode data 0 (the answer)'),
  r(DREG.GEN6_PCODE_DATA1, 'GEN6_PCODE_DATA1', 'pcode data 1'),
  // --- pipes, transcoders, planes, cursors, ports ---------------------------------------------
  ...transcoderRows(),
  ...pipeRows(),
  ...portRows(),
  ...modesetRows(),
]);

/**
 * The values of GVT-g's monitor status that the rows above cannot hold (their instances share one
 * reset value), set on a new vGPU by `VirtualDisplay` (which also sets the per-monitor bits of
 * SFUSE_STRAP, SDEISR and HSW_PWR_WELL_CTL2).
 *
 * `lit` selects GVT-g's state (Linux 6.1 `gvt/display.c` `emulate_monitor_status_change`,
 * Skylake branch) for the monitor on port `primary` (D by default, GVT-g's): transcoder A driving
 * that port in DP SST at 8 bpc, pipe A enabled, the port's DDI buffer on and clocked from DPLL0.
 * Without `lit` (or with `primary` -1: no monitor), the monitors are connected to a dark pipe:
 * every DDI idle and gated, transcoder A and pipe A off. A guest's i915 takes a lit pipe over and
 * commits on it at once (`intel_initial_commit`), which waits for vblanks (`vblank.ts` gives them,
 * and starts the timer at creation for a lit pipe); a vGPU still starts dark by default, so a vGPU
 * whose guest lights nothing has no event on the clock. GVT-g lights the DDI of every port it
 * has a monitor on (it never has more than one); gvtkit lights only the primary's, the one
 * transcoder A drives.
 */
export function monitorStatusValues(lit: boolean, primary: number = Port.D): [number, number][] {
  const ta = transcoderBase(0);
  const on = lit && primary >= 0;
  const out: [number, number][] = [
    [ta + TRANS.DATA_M1, GVT_GOLDEN_M_N.dataM1],
    [ta + TRANS.DATA_N1, GVT_GOLDEN_M_N.dataN1],
    [ta + TRANS.LINK_M1, GVT_GOLDEN_M_N.linkM1],
    [ta + TRANS.LINK_N1, GVT_GOLDEN_M_N.linkN1],
  ];
  for (const port of [Port.A, Port.B, Port.C, Port.E, Port.D]) {
    if (on && port === primary) continue;
    out.push([ddiBufCtl(port), DBits.DDI_BUF_IS_IDLE]);
  }
  if (!on) {
    out.push([ta + TRANS.DDI_FUNC_CTL, 0], [pipeconf(0), 0], [DREG.DPLL_CTRL2, DPLL_CTRL2_ALL_GATED]);
    return out;
  }
  out.push(
    [ta + TRANS.DDI_FUNC_CTL, (DBits.TRANS_DDI_FUNC_ENABLE | DBits.transDdiPort(primary) | DBits.TRANS_DDI_MODE_SELECT_DP_SST | DBits.TRANS_DDI_BPC_8) >>> 0],
    [pipeconf(0), DBits.PIPECONF_ENABLE >>> 0],
    [ddiBufCtl(primary), DBits.DDI_BUF_CTL_ENABLE >>> 0],
    [DREG.DPLL_CTRL2, ((DPLL_CTRL2_ALL_GATED & ~DBits.dpllCtrl2ClkOff(primary)) | DBits.dpllCtrl2ClkSel(0, primary) | DBits.dpllCtrl2SelOverride(primary)) >>> 0],
  );
  return out;
}
