/**
 * Reader of the gvtkit guest image's serial console (scripts/guest/build-image.sh,
 * docs/guest.md).
 *
 * The image's /init and its test program (guest/i915-test.c) print one
 * `GVTKIT-GUEST: <what> ...` line per result. {@link GuestConsole} takes the serial bytes
 * as v86 hands them out (`serial0-output-byte`), splits lines, turns each marker line into
 * a typed {@link GuestEvent} through the {@link MARKER_ROWS} table and folds the events
 * into a {@link GuestReport}. {@link verdict} says whether the guest ran the whole test.
 */

/** The prefix of every marker line. */
export const MARKER = 'GVTKIT-GUEST: ';

/** Kernel log levels as `dmesg -r` prints them (`<level>`; the facility is level >> 3). */
export const KernelLogLevel = {
  EMERG: 0, ALERT: 1, CRIT: 2, ERR: 3, WARNING: 4, NOTICE: 5, INFO: 6, DEBUG: 7,
} as const;

/** One parsed marker line. `uptime` values are the guest's /proc/uptime in seconds. */
export type GuestEvent =
  | { kind: 'init'; uptime: number; kernel: string }
  | { kind: 'module'; name: string; ok: true; uptime: number }
  | { kind: 'module'; name: string; ok: false; rc: number }
  | { kind: 'no-gpu' }
  | { kind: 'gpu'; slot: string }
  | { kind: 'bound'; slot: string; uptime: number }
  | { kind: 'not-bound'; slot: string }
  | { kind: 'card0'; present: true; uptime: number }
  | { kind: 'card0'; present: false }
  | { kind: 'test-start'; device: string }
  | { kind: 'error'; call: string; batch: string | null; errno: number; message: string }
  | { kind: 'device-missing'; device: string }
  | { kind: 'driver'; name: string; version: string; date: string }
  | { kind: 'param'; name: string; value: number }
  | { kind: 'param-error'; name: string; errno: number; message: string }
  | { kind: 'batch'; name: string; status: 'ok' }
  | { kind: 'batch'; name: string; status: 'fail' | 'skip'; reason: string }
  | { kind: 'batch-time'; name: string; ms: number }
  | { kind: 'batches'; verified: number; attempted: number }
  | { kind: 'display-resources'; crtcs: number; connectors: number; encoders: number }
  | { kind: 'display-connector'; id: number; name: string; width: number; height: number; refresh: number; crtc: number }
  | { kind: 'display-lit'; crtc: number; width: number; height: number; ms: number }
  | { kind: 'display-fail'; reason: string }
  | { kind: 'flip'; index: number; ok: true; sequence: number; ms: number }
  | { kind: 'flip'; index: number; ok: false; reason: string }
  | { kind: 'flips'; done: number; attempted: number }
  | { kind: 'test-exit'; code: number; uptime: number }
  | { kind: 'klog'; level: number | null; time: number | null; text: string }
  | { kind: 'done'; uptime: number }
  | { kind: 'unknown'; text: string };

/** A row of the marker table: a pattern over the text after {@link MARKER}, and its event. */
export interface MarkerRow {
  readonly pattern: RegExp;
  readonly build: (m: RegExpExecArray) => GuestEvent;
}

const num = (s: string): number => Number(s);
const intOf = (s: string): number => (s.startsWith('0x') ? Number.parseInt(s.slice(2), 16) : Number.parseInt(s, 10));

/**
 * The marker lines, as printed by /init (build-image.sh) and guest/i915-test.c. First match
 * wins; a line no row matches becomes `{ kind: 'unknown' }`.
 */
export const MARKER_ROWS: readonly MarkerRow[] = [
  { pattern: /^init start uptime (\S+) kernel (\S+)$/, build: (m) => ({ kind: 'init', uptime: num(m[1]), kernel: m[2] }) },
  { pattern: /^module (\S+) loaded uptime (\S+)$/, build: (m) => ({ kind: 'module', name: m[1], ok: true, uptime: num(m[2]) }) },
  { pattern: /^module (\S+) FAIL rc=(\d+)$/, build: (m) => ({ kind: 'module', name: m[1], ok: false, rc: num(m[2]) }) },
  { pattern: /^no Intel display-class PCI device$/, build: () => ({ kind: 'no-gpu' }) },
  { pattern: /^pci (\S+) intel display device$/, build: (m) => ({ kind: 'gpu', slot: m[1] }) },
  { pattern: /^i915 bound (\S+) uptime (\S+)$/, build: (m) => ({ kind: 'bound', slot: m[1], uptime: num(m[2]) }) },
  { pattern: /^i915 not bound (\S+)$/, build: (m) => ({ kind: 'not-bound', slot: m[1] }) },
  { pattern: /^card0 present uptime (\S+)$/, build: (m) => ({ kind: 'card0', present: true, uptime: num(m[1]) }) },
  { pattern: /^card0 missing$/, build: () => ({ kind: 'card0', present: false }) },
  { pattern: /^test start device (\S+)$/, build: (m) => ({ kind: 'test-start', device: m[1] }) },
  {
    pattern: /^error (\S+)(?: \(batch (\S+)\))? errno=(\d+) \((.*)\)$/,
    build: (m) => ({ kind: 'error', call: m[1], batch: m[2] ?? null, errno: num(m[3]), message: m[4] }),
  },
  { pattern: /^device missing (\S+)$/, build: (m) => ({ kind: 'device-missing', device: m[1] }) },
  { pattern: /^driver (\S+) (\d+\.\d+\.\d+) ?(.*)$/, build: (m) => ({ kind: 'driver', name: m[1], version: m[2], date: m[3] }) },
  {
    pattern: /^param (\S+) FAIL errno=(\d+) \((.*)\)$/,
    build: (m) => ({ kind: 'param-error', name: m[1], errno: num(m[2]), message: m[3] }),
  },
  { pattern: /^param (\S+) (0x[0-9a-f]+|-?\d+)$/, build: (m) => ({ kind: 'param', name: m[1], value: intOf(m[2]) }) },
  { pattern: /^batch (\S+) ok$/, build: (m) => ({ kind: 'batch', name: m[1], status: 'ok' }) },
  { pattern: /^batch (\S+) FAIL ?(.*)$/, build: (m) => ({ kind: 'batch', name: m[1], status: 'fail', reason: m[2] }) },
  { pattern: /^batch (\S+) skip ?(.*)$/, build: (m) => ({ kind: 'batch', name: m[1], status: 'skip', reason: m[2] }) },
  { pattern: /^batch (\S+) completed in (\d+) ms$/, build: (m) => ({ kind: 'batch-time', name: m[1], ms: num(m[2]) }) },
  { pattern: /^batches (\d+)\/(\d+) verified$/, build: (m) => ({ kind: 'batches', verified: num(m[1]), attempted: num(m[2]) }) },
  {
    pattern: /^display resources crtcs (\d+) connectors (\d+) encoders (\d+)$/,
    build: (m) => ({ kind: 'display-resources', crtcs: num(m[1]), connectors: num(m[2]), encoders: num(m[3]) }),
  },
  {
    pattern: /^display connector (\d+) (\S+) connected (\d+)x(\d+)@(\d+) .*, crtc (\d+)$/,
    build: (m) => ({ kind: 'display-connector', id: num(m[1]), name: m[2], width: num(m[3]), height: num(m[4]), refresh: num(m[5]), crtc: num(m[6]) }),
  },
  {
    pattern: /^display lit crtc (\d+) (\d+)x(\d+) fb \d+ in (\d+) ms$/,
    build: (m) => ({ kind: 'display-lit', crtc: num(m[1]), width: num(m[2]), height: num(m[3]), ms: num(m[4]) }),
  },
  { pattern: /^display FAIL ?(.*)$/, build: (m) => ({ kind: 'display-fail', reason: m[1] }) },
  {
    pattern: /^flip (\d+) done fb \d+ sequence (\d+) in (\d+) ms$/,
    build: (m) => ({ kind: 'flip', index: num(m[1]), ok: true, sequence: num(m[2]), ms: num(m[3]) }),
  },
  { pattern: /^flip (\d+) FAIL ?(.*)$/, build: (m) => ({ kind: 'flip', index: num(m[1]), ok: false, reason: m[2] }) },
  { pattern: /^flips (\d+)\/(\d+) completed$/, build: (m) => ({ kind: 'flips', done: num(m[1]), attempted: num(m[2]) }) },
  { pattern: /^test exit (\d+) uptime (\S+)$/, build: (m) => ({ kind: 'test-exit', code: num(m[1]), uptime: num(m[2]) }) },
  {
    // `dmesg -r`: "<level>[ seconds] text"; plain dmesg has no level.
    pattern: /^klog (?:<(\d+)>)?(?:\[\s*(\d+\.\d+)\] ?)?(.*)$/,
    build: (m) => ({
      kind: 'klog',
      level: m[1] === undefined ? null : num(m[1]) & 7,
      time: m[2] === undefined ? null : num(m[2]),
      text: m[3],
    }),
  },
  { pattern: /^done uptime (\S+)$/, build: (m) => ({ kind: 'done', uptime: num(m[1]) }) },
];

/**
 * Parses the text of one console line. Returns null when the line carries no marker (a
 * kernel message, busybox's own output); the marker may follow other text on the line,
 * since a kernel message can land in the middle of a user-space line.
 */
export function parseMarkerLine(line: string): GuestEvent | null {
  const at = line.indexOf(MARKER);
  if (at < 0) return null;
  const text = line.slice(at + MARKER.length).replace(/\r$/, '');
  for (const row of MARKER_ROWS) {
    const m = row.pattern.exec(text);
    if (m) return row.build(m);
  }
  return { kind: 'unknown', text };
}

/** One batch the test program ran or skipped. */
export interface BatchResult {
  name: string;
  status: 'ok' | 'fail' | 'skip';
  reason: string | null;
  /** Submission to idle, in the guest's milliseconds, when the program printed it. */
  ms: number | null;
}

/** What the test program's KMS part reported. */
export interface DisplayResult {
  /** The connected connector and the mode it chose (`display connector`). */
  connector: { id: number; name: string; width: number; height: number; refresh: number; crtc: number } | null;
  /** The CRTC it lit with SETCRTC (`display lit`), and how long the call took (guest ms). */
  lit: { crtc: number; width: number; height: number; ms: number } | null;
  /** Vblank sequence numbers of the completed flips, in order. */
  flipSequences: number[];
  /** The flips summary (`flips N/M completed`). */
  flips: { done: number; attempted: number } | null;
  /** Why the display part or a flip failed. */
  failures: string[];
}

/** A kernel log record the image printed (`klog` lines). */
export interface KernelLogLine {
  level: number | null;
  time: number | null;
  text: string;
}

/** Everything the console said, folded. Guest uptimes are in seconds. */
export interface GuestReport {
  kernel: string | null;
  initUptime: number | null;
  modules: { name: string; ok: boolean; rc: number | null; uptime: number | null }[];
  /** The Intel display-class PCI function /init found, or null (`no-gpu`). */
  gpuSlot: string | null;
  i915Bound: boolean;
  boundUptime: number | null;
  card0: boolean | null;
  driver: { name: string; version: string; date: string } | null;
  params: Record<string, number>;
  errors: { call: string; batch: string | null; errno: number; message: string }[];
  batches: BatchResult[];
  summary: { verified: number; attempted: number } | null;
  /** The test program's KMS part: the connector it found, the CRTC it lit, its page flips. */
  display: DisplayResult;
  testExit: number | null;
  testExitUptime: number | null;
  klog: KernelLogLine[];
  unknown: string[];
  done: boolean;
  doneUptime: number | null;
}

/** An empty report. */
export function emptyReport(): GuestReport {
  return {
    kernel: null, initUptime: null, modules: [], gpuSlot: null, i915Bound: false, boundUptime: null,
    card0: null, driver: null, params: {}, errors: [], batches: [], summary: null,
    display: { connector: null, lit: null, flipSequences: [], flips: null, failures: [] }, testExit: null,
    testExitUptime: null, klog: [], unknown: [], done: false, doneUptime: null,
  };
}

/** Folds one event into `report` (mutates it). */
export function applyEvent(report: GuestReport, e: GuestEvent): void {
  switch (e.kind) {
    case 'init': report.initUptime = e.uptime; report.kernel = e.kernel; break;
    case 'module':
      report.modules.push(e.ok
        ? { name: e.name, ok: true, rc: null, uptime: e.uptime }
        : { name: e.name, ok: false, rc: e.rc, uptime: null });
      break;
    case 'no-gpu': report.gpuSlot = null; break;
    case 'gpu': report.gpuSlot = e.slot; break;
    case 'bound': report.i915Bound = true; report.boundUptime = e.uptime; break;
    case 'not-bound': report.i915Bound = false; break;
    case 'card0': report.card0 = e.present; break;
    case 'test-start': break;
    case 'error': report.errors.push({ call: e.call, batch: e.batch, errno: e.errno, message: e.message }); break;
    case 'device-missing': report.card0 = false; break;
    case 'driver': report.driver = { name: e.name, version: e.version, date: e.date }; break;
    case 'param': report.params[e.name] = e.value; break;
    case 'param-error': report.errors.push({ call: `GETPARAM ${e.name}`, batch: null, errno: e.errno, message: e.message }); break;
    case 'batch': {
      const prior = report.batches.find((b) => b.name === e.name);
      const reason = e.status === 'ok' ? null : e.reason;
      if (prior) { prior.status = e.status; prior.reason = reason; } else report.batches.push({ name: e.name, status: e.status, reason, ms: null });
      break;
    }
    case 'batch-time': {
      const prior = report.batches.find((b) => b.name === e.name);
      // The program prints the time before the batch's result line.
      if (prior) prior.ms = e.ms; else report.batches.push({ name: e.name, status: 'fail', reason: 'no result line', ms: e.ms });
      break;
    }
    case 'batches': report.summary = { verified: e.verified, attempted: e.attempted }; break;
    case 'display-resources': break;
    case 'display-connector':
      report.display.connector = { id: e.id, name: e.name, width: e.width, height: e.height, refresh: e.refresh, crtc: e.crtc };
      break;
    case 'display-lit': report.display.lit = { crtc: e.crtc, width: e.width, height: e.height, ms: e.ms }; break;
    case 'display-fail': report.display.failures.push(e.reason); break;
    case 'flip':
      if (e.ok) report.display.flipSequences.push(e.sequence);
      else report.display.failures.push(`flip ${e.index}: ${e.reason}`);
      break;
    case 'flips': report.display.flips = { done: e.done, attempted: e.attempted }; break;
    case 'test-exit': report.testExit = e.code; report.testExitUptime = e.uptime; break;
    case 'klog': report.klog.push({ level: e.level, time: e.time, text: e.text }); break;
    case 'done': report.done = true; report.doneUptime = e.uptime; break;
    case 'unknown': report.unknown.push(e.text); break;
  }
}

/**
 * A streaming reader of the serial console: feed it bytes or text; it calls `onEvent` for
 * each marker and `onLine` for every line, and keeps the folded {@link GuestReport}.
 */
export class GuestConsole {
  /** The folded report so far. */
  readonly report: GuestReport = emptyReport();
  private partial = '';
  private readonly onEvent: ((e: GuestEvent, line: string) => void) | undefined;
  private readonly onLine: ((line: string) => void) | undefined;

  constructor(opts: { onEvent?: (e: GuestEvent, line: string) => void; onLine?: (line: string) => void } = {}) {
    this.onEvent = opts.onEvent;
    this.onLine = opts.onLine;
  }

  /** One byte of serial output (v86's `serial0-output-byte`); bytes are Latin-1. */
  pushByte(byte: number): void {
    if (byte === 0x0a) this.endLine();
    else this.partial += String.fromCharCode(byte & 0xff);
  }

  /** A chunk of console text. */
  pushText(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x0a) this.endLine();
      else this.partial += text[i];
    }
  }

  /** Ends a last line that had no newline (call at power-off). */
  flush(): void {
    if (this.partial.length > 0) this.endLine();
  }

  private endLine(): void {
    const line = this.partial.replace(/\r$/, '');
    this.partial = '';
    this.onLine?.(line);
    const e = parseMarkerLine(line);
    if (e) {
      applyEvent(this.report, e);
      this.onEvent?.(e, line);
    }
  }
}

/** Kernel log records at warning level or worse, and WARN/BUG splats whatever their level. */
export function kernelProblems(report: GuestReport): KernelLogLine[] {
  return report.klog.filter((l) =>
    (l.level !== null && l.level <= KernelLogLevel.WARNING) || /\bWARNING:|\bBUG:|\*ERROR\*/.test(l.text));
}

/**
 * The first kernel log line that says i915 gave up on the GT (a wedged GT, a reset that timed
 * out, a hang), or null: the GT is awake.
 */
export function gtWedged(report: GuestReport): string | null {
  const l = report.klog.find((k) => /wedged|reset request timed out|GPU HANG|Failed to reset|failed to idle/i.test(k.text));
  return l === undefined ? null : l.text;
}

/** Whether the guest ran the whole test, and one line that says so or says what failed. */
export interface GuestVerdict {
  ok: boolean;
  line: string;
  failures: string[];
}

/**
 * Judges a report from a guest with a vGPU attached: every module loaded, i915 bound,
 * /dev/dri/card0 present, every attempted batch verified (at least one), a CRTC lit by the
 * program's SETCRTC and every page flip it asked for completed (at least one), the program
 * exited 0, the GT not wedged (`gtWedged`), and the guest reached `done`.
 */
export function verdict(report: GuestReport): GuestVerdict {
  const failures: string[] = [];
  if (report.initUptime === null) failures.push('/init did not start');
  for (const m of report.modules) if (!m.ok) failures.push(`module ${m.name} failed (rc ${m.rc})`);
  if (report.gpuSlot === null) failures.push('no Intel display-class PCI device');
  else if (!report.i915Bound) failures.push(`i915 did not bind ${report.gpuSlot}`);
  if (report.card0 === false) failures.push('/dev/dri/card0 missing');
  for (const e of report.errors) failures.push(`${e.call}${e.batch ? ` (${e.batch})` : ''}: errno ${e.errno} (${e.message})`);
  for (const b of report.batches) if (b.status === 'fail') failures.push(`batch ${b.name}: ${b.reason}`);
  const s = report.summary;
  if (s === null) failures.push('no batches summary');
  else if (s.attempted === 0) failures.push('no batch attempted');
  else if (s.verified !== s.attempted) failures.push(`${s.verified}/${s.attempted} batches verified`);
  const d = report.display;
  for (const f of d.failures) failures.push(`display: ${f}`);
  if (d.lit === null) failures.push('no CRTC lit');
  if (d.flips === null) failures.push('no flips summary');
  else if (d.flips.attempted === 0) failures.push('no flip attempted');
  else if (d.flips.done !== d.flips.attempted) failures.push(`${d.flips.done}/${d.flips.attempted} flips completed`);
  if (report.testExit !== null && report.testExit !== 0) failures.push(`test program exited ${report.testExit}`);
  if (!report.done) failures.push('the guest did not reach done');
  const wedged = gtWedged(report);
  if (wedged !== null) failures.push(`GT wedged: ${wedged}`);
  const counts = s ? `${s.verified}/${s.attempted} batches verified` : 'no batches';
  const shown = d.lit !== null && d.flips !== null ? `, CRTC lit ${d.lit.width}x${d.lit.height}, ${d.flips.done}/${d.flips.attempted} flips` : '';
  const ok = failures.length === 0;
  return {
    ok,
    failures,
    line: ok ? `real guest: i915 bound, GT awake, ${counts}${shown}` : `real guest: FAILED: ${failures.join('; ')}`,
  };
}

/**
 * Pixel (x, y) of the test program's frame buffer `frame` (0 or 1) of `width` x `height`, as
 * 0xRRGGBB: the same function as `fb_pixel` in guest/i915-test.c (a 4-pixel border, eight colour
 * bars over the top three quarters, shifted by one in frame 1, a red (frame 0) or green (frame 1)
 * ramp below). guest:test reads the lit plane
 * back through the vGPU and compares it with this.
 */
export function kmsPatternPixel(frame: number, x: number, y: number, width: number, height: number): number {
  const bars = [0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff, 0x000000];
  if (x < 4 || y < 4 || x >= width - 4 || y >= height - 4) return frame ? 0xff8000 : 0x0080ff;
  if (y < Math.floor((height * 3) / 4)) return bars[(Math.floor((x * 8) / width) + frame) & 7];
  const ramp = Math.floor((x * 255) / width);
  return (frame ? (ramp << 8) | 0x200020 : (ramp << 16) | 0x002020) >>> 0;
}

/** How a read-back frame compares with the program's pattern. */
export interface PatternCheck {
  /** Pixels that differ (RGB; alpha ignored). */
  mismatches: number;
  /** The first differing pixel, or null. */
  first: { x: number; y: number; got: number; want: number } | null;
}

/** Compares RGBA8 pixels (rows top to bottom) with frame `frame` of the pattern. */
export function checkKmsPattern(rgba: Uint8Array, width: number, height: number, frame: number): PatternCheck {
  let mismatches = 0;
  let first: PatternCheck['first'] = null;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const got = ((rgba[i] << 16) | (rgba[i + 1] << 8) | rgba[i + 2]) >>> 0;
      const want = kmsPatternPixel(frame, x, y, width, height);
      if (got !== want) {
        mismatches++;
        if (first === null) first = { x, y, got, want };
      }
    }
  }
  return { mismatches, first };
}
