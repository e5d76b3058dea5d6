import t from 'tap';
import { readFileSync } from 'node:fs';
import {
  GuestConsole, KernelLogLevel, MARKER_ROWS, checkKmsPattern, emptyReport, kernelProblems, kmsPatternPixel, parseMarkerLine, verdict,
} from '../scripts/guest/console.js';

// A console transcript of the image booted by scripts/guest/boot-smoke.mjs with no GPU
// attached (v86 0.5.462, linux-image-6.1.0-57-686-unsigned), trimmed to the lines that matter.
const noGpuTranscript = [
  '[   29.008752] mce: Unable to init MCE device (rc: -5)',
  'GVTKIT-GUEST: init start uptime 31.08 kernel 6.1.0-57-686',
  'GVTKIT-GUEST: module drm loaded uptime 38.56',
  'GVTKIT-GUEST: module wmi loaded uptime 42.21',
  'GVTKIT-GUEST: module i915 loaded uptime 65.02',
  'GVTKIT-GUEST: no Intel display-class PCI device',
  'GVTKIT-GUEST: card0 missing',
  'GVTKIT-GUEST: test start device /dev/dri/card0',
  'GVTKIT-GUEST: error open errno=2 (No such file or directory)',
  'GVTKIT-GUEST: device missing /dev/dri/card0',
  'GVTKIT-GUEST: batches 0/0 verified',
  'GVTKIT-GUEST: test exit 2 uptime 65.31',
  'GVTKIT-GUEST: klog <6>[   38.094095] ACPI: bus type drm_connector registered',
  'GVTKIT-GUEST: done uptime 66.90',
  '[   66.950000] reboot: Power down',
].join('\r\n') + '\r\n';

// What guest/i915-test.c prints on a vGPU where every engine works (the formats are checked
// against the C source below).
const gpuTranscript = [
  'GVTKIT-GUEST: init start uptime 20.50 kernel 6.1.0-57-686',
  'GVTKIT-GUEST: module drm loaded uptime 24.00',
  'GVTKIT-GUEST: module i915 loaded uptime 40.25',
  'GVTKIT-GUEST: pci 0000:00:02.0 intel display device',
  'GVTKIT-GUEST: i915 bound 0000:00:02.0 uptime 40.30',
  'GVTKIT-GUEST: card0 present uptime 40.31',
  'GVTKIT-GUEST: test start device /dev/dri/card0',
  'GVTKIT-GUEST: driver i915 1.6.0 20201103',
  'GVTKIT-GUEST: param chipset_id 0x1912',
  'GVTKIT-GUEST: param has_bsd 1',
  'GVTKIT-GUEST: param has_vebox 0',
  'GVTKIT-GUEST: batch render-store completed in 12 ms',
  'GVTKIT-GUEST: batch render-store ok',
  'GVTKIT-GUEST: batch blt-copy completed in 30 ms',
  'GVTKIT-GUEST: batch blt-copy FAIL pixel (16,4) holds 0x5a5a5a5a, expected 0xa0020208',
  'GVTKIT-GUEST: batch video-store ok',
  'GVTKIT-GUEST: batch vebox-store skip no video enhancement engine',
  'GVTKIT-GUEST: batches 2/3 verified',
  'GVTKIT-GUEST: display resources crtcs 3 connectors 6 encoders 12',
  'GVTKIT-GUEST: display connector 121 DP-3 connected 1920x1200@60 520 mm x 320 mm, 11 modes, crtc 51',
  'GVTKIT-GUEST: display lit crtc 51 1920x1200 fb 130 in 35 ms',
  'GVTKIT-GUEST: flip 1 done fb 131 sequence 12 in 17 ms',
  'GVTKIT-GUEST: flip 2 FAIL no flip-complete event within 3000 ms',
  'GVTKIT-GUEST: flips 1/8 completed',
  'GVTKIT-GUEST: test exit 1 uptime 41.00',
  'GVTKIT-GUEST: klog <3>[   40.100000] i915 0000:00:02.0: [drm] *ERROR* rcs0 reset request timed out',
  'GVTKIT-GUEST: klog <6>[   40.200000] i915 0000:00:02.0: [drm] Virtual GPU for Intel GVT-g detected.',
  'GVTKIT-GUEST: done uptime 41.50',
].join('\n') + '\n';

t.test('a boot without a GPU folds into a report whose verdict names what is missing', async (t) => {
  const c = new GuestConsole();
  for (const byte of Buffer.from(noGpuTranscript, 'latin1')) c.pushByte(byte);
  const r = c.report;
  t.equal(r.kernel, '6.1.0-57-686');
  t.equal(r.initUptime, 31.08);
  t.same(r.modules.map((m) => m.name), ['drm', 'wmi', 'i915']);
  t.ok(r.modules.every((m) => m.ok));
  t.equal(r.gpuSlot, null);
  t.equal(r.card0, false);
  t.same(r.errors, [{ call: 'open', batch: null, errno: 2, message: 'No such file or directory' }]);
  t.same(r.summary, { verified: 0, attempted: 0 });
  t.equal(r.testExit, 2);
  t.same(r.klog, [{ level: KernelLogLevel.INFO, time: 38.094095, text: 'ACPI: bus type drm_connector registered' }]);
  t.equal(r.done, true);
  t.equal(r.doneUptime, 66.9);
  t.same(r.unknown, []);
  const v = verdict(r);
  t.equal(v.ok, false);
  t.ok(v.failures.includes('no Intel display-class PCI device'));
  t.ok(v.failures.includes('/dev/dri/card0 missing'));
  t.ok(v.failures.includes('no batch attempted'));
  t.match(v.line, /^real guest: FAILED: /);
});

t.test('a vGPU run: batches, their times, params and kernel problems', async (t) => {
  const events: string[] = [];
  const c = new GuestConsole({ onEvent: (e) => events.push(e.kind) });
  // Uneven chunks: lines are joined across pushText calls.
  for (let i = 0; i < gpuTranscript.length; i += 37) c.pushText(gpuTranscript.slice(i, i + 37));
  const r = c.report;
  t.equal(r.i915Bound, true);
  t.equal(r.gpuSlot, '0000:00:02.0');
  t.equal(r.boundUptime, 40.3);
  t.equal(r.card0, true);
  t.same(r.driver, { name: 'i915', version: '1.6.0', date: '20201103' });
  t.same(r.params, { chipset_id: 0x1912, has_bsd: 1, has_vebox: 0 });
  t.same(r.batches, [
    { name: 'render-store', status: 'ok', reason: null, ms: 12 },
    { name: 'blt-copy', status: 'fail', reason: 'pixel (16,4) holds 0x5a5a5a5a, expected 0xa0020208', ms: 30 },
    { name: 'video-store', status: 'ok', reason: null, ms: null },
    { name: 'vebox-store', status: 'skip', reason: 'no video enhancement engine', ms: null },
  ]);
  t.same(r.summary, { verified: 2, attempted: 3 });
  t.same(kernelProblems(r).map((l) => l.text), ['i915 0000:00:02.0: [drm] *ERROR* rcs0 reset request timed out']);
  t.same(r.display.connector, { id: 121, name: 'DP-3', width: 1920, height: 1200, refresh: 60, crtc: 51 });
  t.same(r.display.lit, { crtc: 51, width: 1920, height: 1200, ms: 35 });
  t.same(r.display.flipSequences, [12]);
  t.same(r.display.flips, { done: 1, attempted: 8 });
  t.equal(events.filter((k) => k === 'batch').length, 4);
  t.equal(events.at(-1), 'done');
  const v = verdict(r);
  t.equal(v.ok, false);
  t.same(v.failures, [
    'batch blt-copy: pixel (16,4) holds 0x5a5a5a5a, expected 0xa0020208',
    '2/3 batches verified',
    'display: flip 2: no flip-complete event within 3000 ms',
    '1/8 flips completed',
    'test program exited 1',
    'GT wedged: i915 0000:00:02.0: [drm] *ERROR* rcs0 reset request timed out',
  ]);
});

t.test('the verdict of a clean vGPU run', async (t) => {
  const clean = gpuTranscript
    .replace(/^.*blt-copy FAIL.*$/m, 'GVTKIT-GUEST: batch blt-copy ok')
    .replace('batches 2/3 verified', 'batches 3/3 verified')
    .replace(/^.*flip 2 FAIL.*$/m, 'GVTKIT-GUEST: flip 2 done fb 130 sequence 13 in 16 ms')
    .replace('flips 1/8 completed', 'flips 2/2 completed')
    .replace('test exit 1', 'test exit 0')
    .replace(/^.*reset request timed out.*\n/m, '');
  const c = new GuestConsole();
  c.pushText(clean);
  const v = verdict(c.report);
  t.same(v.failures, []);
  t.equal(v.line, 'real guest: i915 bound, GT awake, 3/3 batches verified, CRTC lit 1920x1200, 2/2 flips');
  // Without the program's KMS part, no CRTC is lit: the verdict fails.
  const dark = new GuestConsole();
  dark.pushText(clean.replace(/^.*GVTKIT-GUEST: (display|flip).*\n/gm, ''));
  t.same(verdict(dark.report).failures, ['no CRTC lit', 'no flips summary']);
  // The same run without its last line never reached done.
  const cut = new GuestConsole();
  cut.pushText(clean.replace(/GVTKIT-GUEST: done.*\n/, ''));
  t.same(verdict(cut.report).failures, ['the guest did not reach done']);
});

t.test('marker lines: anywhere on a line, carriage returns, unknown text, no newline', async (t) => {
  t.equal(parseMarkerLine('[    1.000000] random: crng init done'), null);
  t.same(parseMarkerLine('[ 5.1] foo GVTKIT-GUEST: card0 missing\r'), { kind: 'card0', present: false });
  t.same(parseMarkerLine('GVTKIT-GUEST: something new'), { kind: 'unknown', text: 'something new' });
  t.same(parseMarkerLine('GVTKIT-GUEST: klog plain dmesg line'), { kind: 'klog', level: null, time: null, text: 'plain dmesg line' });
  t.same(parseMarkerLine('GVTKIT-GUEST: klog <12>[    2.5] user facility'), { kind: 'klog', level: 4, time: 2.5, text: 'user facility' });
  t.same(parseMarkerLine('GVTKIT-GUEST: error GEM_EXECBUFFER2 (batch blt-copy) errno=22 (Invalid argument)'),
    { kind: 'error', call: 'GEM_EXECBUFFER2', batch: 'blt-copy', errno: 22, message: 'Invalid argument' });
  const c = new GuestConsole();
  c.pushText('GVTKIT-GUEST: done uptime 3.25');
  t.equal(c.report.done, false, 'a line is not complete before its newline');
  c.flush();
  t.equal(c.report.done, true);
  t.equal(c.report.doneUptime, 3.25);
  t.same(emptyReport().batches, []);
});

/** Replaces printf conversions with sample values (the test cares only about the shape). */
function sampleFromPrintf(format: string): string {
  return format
    .replace(/\\n$/, '')
    .replace(/0x%0?\d*x/g, '0x1f')
    .replace(/%\.0f/g, '12')
    .replace(/%-?\d*(?:ll|l)?[dui]/g, '7')
    .replace(/%s/g, 'word');
}

/** Replaces shell expansions with sample values. */
function sampleFromShell(text: string): string {
  return text
    .replace(/\$\([^)]*\)/g, '1.5')
    .replace(/\$(?:rc|\?)/g, '3')
    .replace(/\$\{[^}]*\}|\$[a-z_]+/g, 'word');
}

t.test('every marker the C program and /init print is one the parser knows', async (t) => {
  const c = readFileSync(new URL('../guest/i915-test.c', import.meta.url), 'utf8');
  const formats = [...c.matchAll(/(?<!#define )MARK "((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]);
  t.ok(formats.length >= 10, `found ${formats.length} marker formats in guest/i915-test.c`);
  for (const f of formats) {
    const e = parseMarkerLine(`GVTKIT-GUEST: ${sampleFromPrintf(f)}`);
    t.not(e?.kind, 'unknown', `C format "${f}" parses`);
  }
  const script = readFileSync(new URL('../scripts/guest/build-image.sh', import.meta.url), 'utf8');
  const init = script.slice(script.indexOf("<<'INIT'"), script.indexOf('\nINIT\n'));
  const marks = [...init.matchAll(/\bmark "([^"]*)"/g)].map((m) => m[1]);
  t.ok(marks.length >= 10, `found ${marks.length} mark lines in /init`);
  for (const m of marks) {
    const e = parseMarkerLine(`GVTKIT-GUEST: ${sampleFromShell(m)}`);
    t.not(e?.kind, 'unknown', `/init mark "${m}" parses`);
  }
  // The RUN macro prints the per-batch verdicts with a label variable.
  t.ok(formats.includes('batch %s ok\\n') && formats.includes('batch %s FAIL %s\\n'));
  t.ok(formats.some((f) => f.startsWith('display lit ')) && formats.some((f) => f.startsWith('flips ')), 'the KMS markers are printed');
  t.ok(MARKER_ROWS.length > 0);
});

t.test('the KMS pattern: the C program\'s fb_pixel and the host\'s check agree', async (t) => {
  const c = readFileSync(new URL('../guest/i915-test.c', import.meta.url), 'utf8');
  const bars = /bars\[8\] = \{([^}]*)\}/.exec(c);
  t.ok(bars, 'fb_pixel\'s colour bars found in guest/i915-test.c');
  const cBars = bars![1].split(',').map((x) => Number.parseInt(x.trim(), 16));
  const w = 128, h = 48;
  // Bar k of frame 0 spans x in [k·w/8, (k+1)·w/8); frame 1 shifts the colours by one.
  for (let k = 0; k < 8; k++) {
    const x = k * 16 + 8;
    t.equal(kmsPatternPixel(0, x, 10, w, h), cBars[k], `frame 0 bar ${k}`);
    t.equal(kmsPatternPixel(1, x, 10, w, h), cBars[(k + 1) & 7], `frame 1 bar ${k}`);
  }
  t.match(c, /return n \? 0xff8000u : 0x0080ffu;/, 'the border colours are the C program\'s');
  t.equal(kmsPatternPixel(0, 0, 0, w, h), 0x0080ff);
  t.equal(kmsPatternPixel(1, w - 1, h - 1, w, h), 0xff8000);
  t.equal(kmsPatternPixel(0, 32, 40, w, h), ((Math.floor((32 * 255) / w) << 16) | 0x002020) >>> 0, 'red ramp below three quarters');
  t.equal(kmsPatternPixel(1, 32, 40, w, h), ((Math.floor((32 * 255) / w) << 8) | 0x200020) >>> 0, 'green ramp in frame 1');
  t.match(c, /\(\(\(x \* 255 \/ w\) << 8\) \| 0x200020u\) : \(\(\(x \* 255 \/ w\) << 16\) \| 0x002020u\)/, 'the ramps are the C program\'s');

  const frame = (n: number): Uint8Array => {
    const rgba = new Uint8Array(w * h * 4);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = kmsPatternPixel(n, x, y, w, h), i = (y * w + x) * 4;
        rgba[i] = v >>> 16; rgba[i + 1] = (v >>> 8) & 0xff; rgba[i + 2] = v & 0xff; rgba[i + 3] = 0xff;
      }
    }
    return rgba;
  };
  const f0 = frame(0);
  t.same(checkKmsPattern(f0, w, h, 0), { mismatches: 0, first: null });
  t.ok(checkKmsPattern(f0, w, h, 1).mismatches > w * h / 2, 'frame 0 is not frame 1');
  f0[(5 * w + 9) * 4 + 1] ^= 0x10;
  t.same(checkKmsPattern(f0, w, h, 0), { mismatches: 1, first: { x: 9, y: 5, got: 0xffefff, want: 0xffffff } });
});
