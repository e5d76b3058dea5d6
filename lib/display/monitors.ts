/**
 * The monitors of a vGPU's display: the `display` option of `createVgpu`, its validation, and
 * the per-port facts each monitor needs (DDI, AUX channel, strap, hotplug and interrupt bits).
 *
 * GVT-g gives a Skylake vGPU one DP monitor on port D (Linux 6.1 `gvt/display.c`
 * `intel_vgpu_init_display` → `setup_virtual_dp_monitor(vgpu, PORT_D, GVT_DP_D, resolution)`),
 * and its register code already has the per-port branches of B, C and D
 * (`emulate_monitor_status_change`: DPLL_CTRL2 clock, SFUSE_STRAP_DDIx_DETECTED,
 * SDE_PORTx_HOTPLUG_CPT, DDI_BUF_CTL). gvtkit lets the host put a monitor on each of B, C and D.
 *
 * Not A or E. Without a VBT, i915 6.1's `init_vbt_missing_defaults` declares port A an internal
 * (eDP) connector: i915 runs panel power sequencing on it and never hotplugs it. Port E gets no DP
 * or HDMI capability there (i915 skips it: "not DVI/HDMI/DP compatible"), has no AUX channel of
 * its own on Skylake and shares DDI A's lanes. So a DP monitor is reachable on B, C and D only.
 */
import { ConfigError, RangeArgError } from '../errors.js';
import { checkOptions, describe, optionKeys } from '../validate.js';
import { buildEdid, edidExtensionCount, modeTiming, type DisplayMode, type ModeSpec, type ModeTiming } from './edid.js';
import { DBits, Port } from './registers.js';

/** A port a virtual DP monitor can sit on: Skylake's DDI B, C or D. */
export type MonitorPort = 'B' | 'C' | 'D';

/** A monitor without its port: what `setMonitor(port, config)` takes. */
export interface MonitorConfig {
  /** Its modes, the preferred (native) one first: 1..`MAX_MONITOR_MODES`, no two alike. */
  readonly modes: readonly ModeSpec[];
  /** EDID monitor name (at most 13 printable ASCII characters; default 'gvtkit DP'). */
  readonly name?: string;
  /** EDID serial string (at most 13 printable ASCII characters; default 'GVTKIT-0001'). */
  readonly serial?: string;
}

/** A virtual DisplayPort monitor on a port. */
export interface MonitorSpec extends MonitorConfig {
  /** Its port: 'B', 'C' or 'D' (one monitor per port). */
  readonly port: MonitorPort;
}

/** The `display` option of `createVgpu`. */
export interface DisplayOptions {
  /**
   * The monitors (0..3, one per port). The first is the primary: a lit pipe (`litPipe`) drives
   * it. Default: GVT-g's one monitor on port D at the vGPU type's resolution.
   */
  readonly monitors?: readonly MonitorSpec[];
}

/**
 * Most modes a monitor lists: the base block's detailed timing and five CTA-861 extension blocks
 * of six (768 bytes, three E-DDC segments). The bound keeps a guest's EDID read, about a dozen
 * AUX transactions per block, bounded.
 */
export const MAX_MONITOR_MODES = 31;

/** Everything a port's monitor needs, as data (i915 6.1 `i915_reg.h`, `i915_irq.c` `hpd_spt`). */
export interface MonitorPortRow {
  readonly name: MonitorPort;
  /** i915 `enum port` (the DDI). */
  readonly port: number;
  /** Its AUX channel (`enum aux_ch`, DP_AUX_CH_CTL index): the port's own on Skylake. */
  readonly auxCh: number;
  /** SFUSE_STRAP_DDIx_DETECTED. */
  readonly strapBit: number;
  /** SDE_PORTx_HOTPLUG_CPT in SDEISR / SDEIIR (i915's `hpd_spt` for this pin). */
  readonly sdeHotplugBit: number;
  /** PORTx_HOTPLUG_STATUS_MASK in PCH_PORT_HOTPLUG (short and long detect). */
  readonly pchStatusMask: number;
  /** Its DDI power well (SKL_PW_CTL_IDX_DDI_x). */
  readonly powerWell: number;
}

/** Ports B, C, D. */
export const MONITOR_PORTS: readonly MonitorPortRow[] = Object.freeze([
  { name: 'B', port: Port.B, auxCh: 1, strapBit: DBits.SFUSE_STRAP_DDIB_DETECTED, sdeHotplugBit: DBits.SDE_PORTB_HOTPLUG_CPT, pchStatusMask: 3 << 0, powerWell: DBits.SKL_PW_CTL_IDX_DDI_B },
  { name: 'C', port: Port.C, auxCh: 2, strapBit: DBits.SFUSE_STRAP_DDIC_DETECTED, sdeHotplugBit: DBits.SDE_PORTC_HOTPLUG_CPT, pchStatusMask: 3 << 8, powerWell: DBits.SKL_PW_CTL_IDX_DDI_C },
  { name: 'D', port: Port.D, auxCh: 3, strapBit: DBits.SFUSE_STRAP_DDID_DETECTED, sdeHotplugBit: DBits.SDE_PORTD_HOTPLUG_CPT, pchStatusMask: 3 << 16, powerWell: DBits.SKL_PW_CTL_IDX_DDI_D },
].map((r) => Object.freeze(r as MonitorPortRow)));

/** The row of a port name (undefined for anything but 'B', 'C', 'D'). */
export function monitorPortRow(name: unknown): MonitorPortRow | undefined {
  return MONITOR_PORTS.find((r) => r.name === name);
}

/** A validated monitor: its port row, modes with their timings, and its EDID. */
export interface ResolvedMonitor {
  readonly portRow: MonitorPortRow;
  /** The modes' timings, the preferred first. */
  readonly modes: readonly DisplayMode[];
  /** Base block and CTA-861 extensions. */
  readonly edid: Uint8Array;
  readonly name: string;
  readonly serial: string;
}

const MONITOR_CONFIG_KEYS = optionKeys<MonitorConfig>({ modes: true, name: true, serial: true });
const MONITOR_SPEC_KEYS = optionKeys<MonitorSpec>({ port: true, modes: true, name: true, serial: true });
const MODE_SPEC_KEYS = optionKeys<ModeSpec>({ width: true, height: true, refresh: true, timing: true });
const DISPLAY_OPTION_KEYS = optionKeys<DisplayOptions>({ monitors: true });
const TIMINGS: readonly ModeTiming[] = ['auto', 'dmt', 'cvt-rb', 'cvt-rb2'];

/**
 * Check a monitor's configuration and compute its modes and EDID. Throws `ConfigError` whose
 * `field` is the path of the offending value (`where` + `.modes[2].refresh`); builds nothing
 * else and touches no state.
 */
export function resolveMonitor(portRow: MonitorPortRow, config: MonitorConfig, where: string, keys: readonly string[] = MONITOR_CONFIG_KEYS): ResolvedMonitor {
  checkOptions(config, where, keys);
  const specs: unknown = config.modes;
  if (!Array.isArray(specs)) throw new ConfigError(`${where}.modes`, `must be an array of modes, got ${describe(specs)}`);
  if (specs.length < 1 || specs.length > MAX_MONITOR_MODES) {
    throw new ConfigError(`${where}.modes`, `1..${MAX_MONITOR_MODES} modes (a base block and up to ${edidExtensionCount(MAX_MONITOR_MODES)} CTA-861 extensions), got ${specs.length}`);
  }
  const modes: DisplayMode[] = [];
  const seen = new Set<string>();
  specs.forEach((s: ModeSpec, i: number) => {
    const at = `${where}.modes[${i}]`;
    checkOptions(s, at, MODE_SPEC_KEYS);
    if (typeof s.width !== 'number') throw new ConfigError(`${at}.width`, `must be a number, got ${describe(s.width)}`);
    if (typeof s.height !== 'number') throw new ConfigError(`${at}.height`, `must be a number, got ${describe(s.height)}`);
    if (s.refresh !== undefined && typeof s.refresh !== 'number') throw new ConfigError(`${at}.refresh`, `must be a number of Hz, got ${describe(s.refresh)}`);
    if (s.timing !== undefined && !TIMINGS.includes(s.timing)) throw new ConfigError(`${at}.timing`, `must be one of ${TIMINGS.join(', ')}, got ${describe(s.timing)}`);
    const key = `${s.width}x${s.height}@${s.refresh ?? 60}`;
    if (seen.has(key)) throw new ConfigError(at, `${key} is listed twice`);
    seen.add(key);
    try {
      modes.push(modeTiming(s));
    } catch (e) {
      if (e instanceof RangeArgError) throw new ConfigError(at, e.message);
      throw e;
    }
  });
  const name = descriptorString(config.name, 'gvtkit DP', `${where}.name`);
  const serial = descriptorString(config.serial, 'GVTKIT-0001', `${where}.serial`);
  const edid = buildEdid(modes, { name, serial, legacyTimings: false });
  return Object.freeze({ portRow, modes: Object.freeze(modes), edid, name, serial });
}

/** An EDID name or serial string: at most 13 printable ASCII characters (a display descriptor's text). */
function descriptorString(v: unknown, fallback: string, field: string): string {
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || !/^[\x20-\x7e]{0,13}$/.test(v)) throw new ConfigError(field, `must be at most 13 printable ASCII characters, got ${typeof v === 'string' ? `"${v}"` : describe(v)}`);
  return v;
}

/**
 * Check the `display` option and resolve its monitors (undefined when the option leaves GVT-g's
 * default). Throws `ConfigError` naming the field (`display.monitors[1].port`); touches nothing.
 */
export function resolveDisplayOptions(options: DisplayOptions | undefined, where = 'display'): ResolvedMonitor[] | undefined {
  if (options === undefined) return undefined;
  checkOptions(options, where, DISPLAY_OPTION_KEYS);
  if (options.monitors === undefined) return undefined;
  const list: unknown = options.monitors;
  if (!Array.isArray(list)) throw new ConfigError(`${where}.monitors`, `must be an array of monitors, got ${describe(list)}`);
  if (list.length > MONITOR_PORTS.length) throw new ConfigError(`${where}.monitors`, `at most ${MONITOR_PORTS.length} monitors (ports B, C, D), got ${list.length}`);
  const out: ResolvedMonitor[] = [];
  list.forEach((m: MonitorSpec, i: number) => {
    const at = `${where}.monitors[${i}]`;
    checkOptions(m, at, MONITOR_SPEC_KEYS);
    const row = monitorPortRow(m.port);
    if (!row) {
      throw new ConfigError(`${at}.port`, `must be 'B', 'C' or 'D' (Skylake's DP-capable DDIs; A is eDP, E has no DP), got ${typeof m.port === 'string' ? `'${m.port}'` : describe(m.port)}`);
    }
    if (out.some((r) => r.portRow === row)) throw new ConfigError(`${at}.port`, `port ${row.name} already has a monitor`);
    out.push(resolveMonitor(row, m, at, MONITOR_SPEC_KEYS));
  });
  return out;
}
