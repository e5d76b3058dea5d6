/**
 * `npm run guest:test`: boot the real guest (Debian's i386 kernel with its unmodified i915, built
 * by scripts/guest/build-image.sh into a cache) in the v86 emulator with a gvtkit vGPU at
 * 00:02.0, and report one line:
 *
 *   real guest: i915 bound, GT awake, N/N batches verified, CRTC A lit WxH, F/F flips, F+1 frames read back as drawn, console PNG WxH
 *
 * or what failed. The guest's test program lights a CRTC with SETCRTC and page-flips between two
 * frame buffers of its own (guest/i915-test.c); when it reports the CRTC lit and each flip done,
 * this reads the plane back through the vGPU (`Vgpu.readFramebuffer`) and compares every pixel
 * with the program's pattern (the program waits for a newline on the serial console before it
 * goes on, so the frame read is the one it reported). When the guest is done, fbcon (i915's
 * fbdev console) has the CRTC back: its picture is written as a PNG. It fails too when no pipe
 * is left lit or its plane is one colour, the mediator refused any of the real driver's
 * commands, a workload failed, or the vGPU left the active state (failsafe). Exit code 0 when all
 * of it holds, 1 otherwise, 2 on a usage error.
 * Options: --timeout SECONDS (wall, default 900), --cache DIR, --console FILE (the whole serial
 * log, default gvtkit-out/guest-console.log), --png FILE (the console's picture, default
 * <cache>/console.png; the program's first frame goes next to it as kms-frame.png), --memory MIB
 * (guest RAM, default 256), --verbose (echo the console), --no-build.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { V86 } from 'v86';
import { Gen9Device, Mediator } from '../lib/index.js';
import { DBits, PIPES, PlaneBits, VREG, pipeconf, planeCtl, transcoderBase, TRANS, type PipeName } from '../lib/display/index.js';
import { encodePng } from '../lib/display/png.js';
import { attachV86Vgpu, type V86Emulator, type V86Vgpu } from '../lib/integrations/v86/index.js';
import { GuestConsole, checkKmsPattern, kernelProblems, verdict } from './guest/console.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function usage(msg: string): never {
  process.stderr.write(`guest-test: ${msg}\nusage: guest-test [--timeout SECONDS] [--cache DIR] [--console FILE] [--png FILE] [--memory MIB] [--verbose] [--no-build]\n`);
  process.exit(2);
}

function parse() {
  try {
    return parseArgs({
      options: {
        timeout: { type: 'string', default: '900' },
        cache: { type: 'string', default: process.env.GVTKIT_GUEST_CACHE ?? join(ROOT, '.cache', 'guest') },
        console: { type: 'string', default: join(ROOT, 'gvtkit-out', 'guest-console.log') },
        png: { type: 'string' },
        verbose: { type: 'boolean', default: false },
        'no-build': { type: 'boolean', default: false },
        memory: { type: 'string', default: '256' },
      },
      strict: true,
    }).values;
  } catch (e) {
    return usage((e as Error).message);
  }
}
const values = parse();
const timeoutS = Number(values.timeout);
if (!Number.isFinite(timeoutS) || timeoutS <= 0) usage(`--timeout: expected seconds, got ${values.timeout}`);
const memoryMiB = Number(values.memory);
if (!Number.isInteger(memoryMiB) || memoryMiB < 64 || memoryMiB > 2048) usage(`--memory: expected MiB in 64..2048, got ${values.memory}`);
const cache = resolve(values.cache!);
const pngPath = resolve(values.png ?? join(cache, 'console.png'));
const kmsPngPath = join(dirname(pngPath), 'kms-frame.png');
const files = ['bzImage', 'initrd.img', 'bios.bin', 'vgabios.bin', 'cmdline.txt'];

// The builder skips its work when the cache already holds the image of the current inputs (its
// script, the test program, the package versions: a few seconds); otherwise it rebuilds, so a cache
// left by an older checkout never runs an old test program. --no-build takes the cache as it is.
if (values['no-build']) {
  if (!files.every((f) => existsSync(join(cache, f)))) usage(`no guest image in ${cache} (run scripts/guest/build-image.sh)`);
} else {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'guest', 'build-image.sh')], { stdio: 'inherit', env: { ...process.env, GVTKIT_GUEST_CACHE: cache } });
  if (r.status !== 0) {
    process.stdout.write('real guest: FAILED to build the guest image (scripts/guest/build-image.sh)\n');
    process.exit(1);
  }
}

const load = (f: string): ArrayBuffer => {
  const b = readFileSync(join(cache, f));
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
};
const require = createRequire(import.meta.url);
const wasmPath = join(dirname(require.resolve('v86')), 'v86.wasm');

const device = new Gen9Device({ apertureSize: 256 * 1024 * 1024 });
const mediator = new Mediator(device);
const started = Date.now();
const wall = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const milestones: string[] = [];
/**
 * The program's frames as read back through the vGPU while it showed them: frame 0 after its
 * SETCRTC, then after each flip the frame that flip put on screen (flip i shows frame i mod 2).
 */
const frameChecks: { frame: number; ok: boolean; what: string }[] = [];
let kmsFrame: { width: number; height: number; rgba: Uint8Array } | null = null;

/**
 * Reads pipe A's primary plane now and compares it with frame `frame` of the program's pattern,
 * then lets the program go on: it waits for a line on the serial console after each frame's
 * marker (guest/i915-test.c `wait_host`), so the plane read here is the frame the marker names.
 */
function checkFrame(frame: number, label: string): string {
  if (attached === null) return 'not attached';
  // Called from the serial listener: v86 may have grown its memory since the glue last looked.
  attached.syncGuestMemory();
  const fb = attached.vgpu.readFramebuffer('primary', 'A');
  let what: string;
  if (!fb.ok) {
    what = `${label}: plane A unreadable (${fb.reason}: ${fb.detail})`;
    frameChecks.push({ frame, ok: false, what });
  } else {
    const { width, height } = fb.info;
    const c = checkKmsPattern(fb.rgba, width, height, frame);
    const hex = (v: number): string => `0x${v.toString(16).padStart(6, '0')}`;
    what = c.mismatches === 0
      ? `${label}: frame ${frame} read back, ${width}x${height} ${fb.info.formatName} ${fb.info.tiling}, every pixel as drawn`
      : `${label}: frame ${frame} expected, ${c.mismatches} pixels differ, first (${c.first!.x},${c.first!.y}) ${hex(c.first!.got)} instead of ${hex(c.first!.want)}`;
    frameChecks.push({ frame, ok: c.mismatches === 0, what });
    if (frame === 0 && kmsFrame === null) kmsFrame = { width, height, rgba: fb.rgba };
  }
  emulator.serial0_send('\n');
  return what;
}
let consoleText = '';
let attached: V86Vgpu | null = null;
const gc = new GuestConsole({
  onLine: (l) => {
    consoleText += `${l}\n`;
    if (values.verbose) process.stderr.write(`guest| ${l}\n`);
  },
  onEvent: (e) => {
    let what: string | null = null;
    if (e.kind === 'bound') what = `i915 bound ${e.slot}`;
    else if (e.kind === 'not-bound') what = `i915 NOT bound ${e.slot}`;
    else if (e.kind === 'batch') what = `batch ${e.name} ${e.status}${e.status === 'ok' ? '' : `: ${e.reason}`}`;
    else if (e.kind === 'module' && !e.ok) what = `module ${e.name} FAILED rc ${e.rc}`;
    else if (e.kind === 'display-lit') what = `CRTC ${e.crtc} lit ${e.width}x${e.height} (SETCRTC ${e.ms} ms); ${checkFrame(0, 'SETCRTC')}`;
    else if (e.kind === 'flip' && e.ok) {
      const w = checkFrame(e.index & 1, `flip ${e.index}`);
      if (e.index === 1 || !frameChecks.at(-1)!.ok) what = w;
    }
    else if (e.kind === 'flips') what = `${e.done}/${e.attempted} page flips completed`;
    else if (e.kind === 'display-fail') what = `display FAILED: ${e.reason}`;
    else if (e.kind === 'done') what = 'guest done';
    if (what !== null) {
      milestones.push(`${what} at ${wall()}`);
      if (!values.verbose) process.stderr.write(`guest-test: [${wall()}] ${what}\n`);
    }
    if (e.kind === 'done') {
      gc.flush();
      const v = verdict(gc.report);
      const m = mediatorProblems();
      if (v.ok && m.length > 0) finish(1, `real guest: FAILED: ${m.join('; ')}`);
      if (!v.ok) finish(1, v.line);
      const bad = frameChecks.filter((f) => !f.ok).map((f) => f.what);
      const shown = 1 + gc.report.display.flipSequences.length;
      if (frameChecks.length !== shown) bad.push(`${frameChecks.length} frames read back of the ${shown} the program showed`);
      if (bad.length > 0) finish(1, `real guest: FAILED: ${bad.join('; ')}`);
      // The host's view: fbcon got the CRTC back when the program closed the device.
      const lit = litPipe();
      if (lit === null) finish(1, 'real guest: FAILED: no pipe left lit with its primary plane on (fbcon did not take the CRTC back)');
      const shot = saveConsole(lit.pipe);
      if (!shot.ok) finish(1, `real guest: FAILED: ${shot.why}`);
      finish(0, `${v.line.replace(/CRTC lit /, `CRTC ${lit.pipe} lit `)}, ${frameChecks.length} frames read back as drawn, console PNG ${shot.width}x${shot.height}`);
    }
  },
});

const emulator = new V86({
  wasm_path: wasmPath,
  memory_size: memoryMiB * 1024 * 1024,
  vga_memory_size: 2 * 1024 * 1024,
  bios: { buffer: load('bios.bin') },
  vga_bios: { buffer: load('vgabios.bin') },
  bzimage: { buffer: load('bzImage') },
  initrd: { buffer: load('initrd.img') },
  cmdline: readFileSync(join(cache, 'cmdline.txt'), 'utf8').trim(),
  // v86's PIIX4 ACPI device; Debian's 128 KiB SeaBIOS then builds its Bochs ACPI tables, and
  // wmi.ko (needed by video.ko, needed by i915.ko) loads.
  acpi: true,
  autostart: false,
  disable_keyboard: true,
  disable_mouse: true,
  disable_speaker: true,
} as ConstructorParameters<typeof V86>[0]);

/**
 * What the mediator saw that the guest's console cannot show: the real driver's own requests must
 * pass the audit (no refusal, no failed workload) and the vGPU must never enter failsafe.
 */
function mediatorProblems(): string[] {
  const out: string[] = [];
  if (attached === null) return ['the vGPU was never attached'];
  const v = attached.vgpu;
  if (v.state !== 'active') out.push(`vGPU ${v.state}`);
  if (mediator.stats.failed > 0) out.push(`${mediator.stats.failed} workloads failed`);
  const refused = Object.entries(mediator.stats.refusedByRule).filter(([, n]) => n > 0);
  if (refused.length > 0) out.push(`audit refusals ${refused.map(([r, n]) => `${r}×${n}`).join(', ')}`);
  return out;
}

/** What the vGPU's display registers say about one pipe when the guest is done. */
interface PipeState {
  pipe: PipeName;
  enabled: boolean;
  /** The primary plane (plane 1) is enabled. */
  primary: boolean;
  width: number;
  height: number;
  frames: number;
  flips: number;
}

/** The pipes as the vGPU's registers leave them (the host's view: PIPECONF, PLANE_CTL, PIPESRC, counters). */
function pipeStates(): PipeState[] {
  if (attached === null) return [];
  const regs = attached.vgpu.vregs;
  const out: PipeState[] = [];
  for (let p = 0; p < PIPES; p++) {
    const src = regs.peek(transcoderBase(p) + TRANS.PIPESRC);
    out.push({
      pipe: (['A', 'B', 'C'] as const)[p],
      enabled: (regs.peek(pipeconf(p)) & DBits.PIPECONF_ENABLE) !== 0,
      primary: (regs.peek(planeCtl(p, 0)) & PlaneBits.PLANE_CTL_ENABLE) !== 0,
      width: (src >>> 16) + 1,
      height: (src & 0xffff) + 1,
      frames: regs.peek(VREG.frmcount(p)),
      flips: regs.peek(VREG.flipcount(p)),
    });
  }
  return out;
}

/** The first pipe the guest left lit (pipe enabled, primary plane on), or null. */
function litPipe(): PipeState | null {
  return pipeStates().find((s) => s.enabled && s.primary) ?? null;
}

/**
 * Writes the picture of `pipe`'s primary plane (fbcon's console once the program has closed the
 * device) to the PNG file, and the program's first frame next to it. Fails when the plane cannot
 * be read or holds nothing but its background colour (fbcon drew no text).
 */
function saveConsole(pipe: PipeName): { ok: true; width: number; height: number } | { ok: false; why: string } {
  attached!.syncGuestMemory();
  const fb = attached!.vgpu.readFramebuffer('primary', pipe);
  if (!fb.ok) return { ok: false, why: `console plane ${pipe} unreadable (${fb.reason}: ${fb.detail})` };
  const { width, height } = fb.info;
  const px = new Uint32Array(fb.rgba.buffer, fb.rgba.byteOffset, width * height);
  let drawn = 0;
  for (let i = 0; i < px.length; i++) if (px[i] !== px[0]) drawn++;
  if (drawn === 0) return { ok: false, why: `console plane ${pipe} (${width}x${height}) is one colour: fbcon drew nothing` };
  mkdirSync(dirname(pngPath), { recursive: true });
  writeFileSync(pngPath, encodePng({ width, height, rgba: fb.rgba }));
  if (kmsFrame !== null) writeFileSync(kmsPngPath, encodePng(kmsFrame));
  process.stderr.write(`guest-test: console (pipe ${pipe}, ${width}x${height} ${fb.info.formatName}, ${drawn} pixels drawn) in ${pngPath}\n`);
  return { ok: true, width, height };
}

function finish(code: number, summary: string): never {
  try {
    emulator.stop();
  } catch {
    // already stopped
  }
  mkdirSync(dirname(values.console!), { recursive: true });
  writeFileSync(values.console!, consoleText);
  if (attached) {
    const v = attached.vgpu;
    process.stderr.write(`guest-test: vGPU ${v.name}: state ${v.state}, mmio ${v.counters.mmioReads} reads / ${v.counters.mmioWrites} writes, `
      + `interrupts ${v.counters.interruptsDelivered}, workloads completed ${mediator.stats.completed}, failed ${mediator.stats.failed}; `
      + `glue ${JSON.stringify(attached.stats)}\n`);
  }
  for (const p of pipeStates()) {
    process.stderr.write(`guest-test: pipe ${p.pipe}: ${p.enabled ? 'enabled' : 'off'}, primary plane ${p.primary ? 'on' : 'off'}, `
      + `source ${p.width}x${p.height}, ${p.frames} frames, ${p.flips} primary flips\n`);
  }
  for (const k of kernelProblems(gc.report)) process.stderr.write(`guest-test: kernel: ${k.text}\n`);
  for (const f of frameChecks) process.stderr.write(`guest-test: ${f.what}\n`);
  process.stderr.write(`guest-test: milestones: ${milestones.join('; ') || 'none'}\n`);
  process.stderr.write(`guest-test: console in ${values.console}; wall ${wall()}\n`);
  process.stdout.write(`${summary}\n`);
  process.exit(code);
}

emulator.add_listener('emulator-loaded', () => {
  attached = attachV86Vgpu(emulator as unknown as V86Emulator, { mediator, name: 'i915-guest' });
  emulator.run();
});

emulator.add_listener('serial0-output-byte', (byte: number) => gc.pushByte(byte));

setTimeout(() => {
  gc.flush();
  finish(1, `real guest: TIMEOUT after ${timeoutS} s: ${verdict(gc.report).line.replace(/^real guest: /, '')}`);
}, timeoutS * 1000).unref();
