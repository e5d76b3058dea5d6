/**
 * EDID for any mode: the timing rule (DMT, CVT-RB v1, CVT-RB v2) checked against published
 * values, base block plus CTA-861 extension blocks with valid checksums decoding back to the
 * listed modes, and a guest reading every block over I2C-over-AUX as drm does (the E-DDC segment
 * pointer for blocks 2 and up).
 */
import t from 'tap';
import { Harness } from '../lib/harness/index.js';
import { SparseGuestMemory } from '../lib/ept/memory.js';
import {
  CTA_DTDS_PER_BLOCK, DMT_TABLE, MAX_DTD_PIXEL_CLOCK_KHZ, MAX_MONITOR_MODES, Port, buildEdid, cvtReducedBlanking, cvtReducedBlankingV2, decodeEdid,
  detailedTimingProblem, dmtMode, edidChecksumValid, edidExtensionCount, hTotal, modeTiming, monitorMode, refreshHz, vTotal, type DisplayMode, type ModeSpec,
} from '../lib/display/index.js';
import { auxXfer, readEdid, readEdidBlock } from './display-fixture.js';

const MiB = 1024 * 1024;

t.test('CVT 1.2 reduced blanking v1 against published values', async (t) => {
  const cases: [number, number, number, number, number, number][] = [
    // width, height, refresh, pixel clock kHz (VESA CVT 1.2 spreadsheet / `cvt -r`), htotal, vtotal
    [1920, 1080, 60, 138500, 2080, 1111],
    [2560, 1440, 60, 241500, 2720, 1481],
    [3840, 2160, 60, 533250, 4000, 2222],
    [3840, 2160, 30, 262750, 4000, 2191],
    [1920, 1200, 60, 154000, 2080, 1235],
  ];
  for (const [w, h, r, clk, ht, vt] of cases) {
    const m = cvtReducedBlanking(w, h, r);
    t.same([m.pixelClockKhz, hTotal(m), vTotal(m)], [clk, ht, vt], `${w}x${h}@${r} RB v1: ${clk / 1000} MHz, ${ht} x ${vt}`);
    t.same([m.hFrontPorch, m.hSync, m.vFrontPorch, m.hSyncPositive, m.vSyncPositive], [48, 32, 3, true, false], 'v1 blanking and polarities');
    t.ok(m.vBackPorch >= 6, 'at least 6 lines of back porch');
    const blankUs = ((vt - h) * ht * 1000) / clk;
    t.ok(blankUs >= 460, `at least 460 µs of vertical blank (${blankUs.toFixed(1)})`);
    t.ok(refreshHz(m) <= r && refreshHz(m) > r - 0.1, `rate just below ${r} (${refreshHz(m).toFixed(3)})`);
  }
  t.equal(cvtReducedBlanking(1920, 1080, 60).vSync, 5, '16:9 → 5-line vsync');
  t.equal(cvtReducedBlanking(1280, 1024, 60).vSync, 7, '5:4 → 7');
  t.equal(cvtReducedBlanking(1000, 1000, 60).vSync, 10, 'other aspect → 10');
});

t.test('CVT 1.2 reduced blanking v2 against DMT\'s RB v2 entries (4096x2160@60, DMT 57h)', async (t) => {
  const dmt = { pixelClockKhz: 556744, hTotal: 4176, vTotal: 2222, hFront: 8, hSync: 32, vFront: 48, vSync: 8 };
  const m = cvtReducedBlankingV2(4096, 2160, 60);
  t.equal(m.pixelClockKhz, Math.floor(dmt.pixelClockKhz / 10) * 10, '556.744 MHz rounded down to the detailed timing\'s 10 kHz');
  t.same([hTotal(m), vTotal(m), m.hFrontPorch, m.hSync, m.vFrontPorch, m.vSync, m.vBackPorch], [dmt.hTotal, dmt.vTotal, dmt.hFront, dmt.hSync, dmt.vFront, dmt.vSync, 6]);
  const uhd = cvtReducedBlankingV2(3840, 2160, 60);
  t.same([uhd.pixelClockKhz, hTotal(uhd), vTotal(uhd)], [522610, 3920, 2222], '3840x2160@60 RB v2: 522.614 MHz → 522.61');
  t.ok(refreshHz(uhd) <= 60 && refreshHz(uhd) > 59.999, 'rate at or just below 60');
  t.equal(cvtReducedBlankingV2(1366, 768, 60).width, 1366, 'v2 takes any width');
  t.throws(() => cvtReducedBlanking(1366, 768, 60), { code: 'E_RANGE' }, 'v1 needs a multiple of 8');
});

t.test('the timing rule: DMT (its RB entry), else CVT-RB v1, else v2; explicit formulas', async (t) => {
  const check = (spec: ModeSpec, expect: DisplayMode, what: string): void => { t.same(modeTiming(spec), expect, what); };
  check({ width: 1024, height: 768 }, DMT_TABLE.find((e) => e.id === 0x10)!.mode, '1024x768@60: DMT 10h (65 MHz, GVT-g\'s type)');
  check({ width: 1920, height: 1200 }, cvtReducedBlanking(1920, 1200), '1920x1200@60: DMT 44h, the RB entry = CVT-RB (GVT-g\'s 154 MHz)');
  t.equal(modeTiming({ width: 1920, height: 1200 }).pixelClockKhz, 154000);
  t.equal(modeTiming({ width: 1920, height: 1080 }).pixelClockKhz, 148500, '1920x1080@60: DMT 52h (148.5 MHz)');
  t.equal(modeTiming({ width: 1920, height: 1080, timing: 'cvt-rb' }).pixelClockKhz, 138500, 'explicit CVT-RB v1: 138.5 MHz');
  t.equal(modeTiming({ width: 1680, height: 1050 }).pixelClockKhz, 119000, '1680x1050@60: DMT 39h RB, not 3Ah');
  t.equal(modeTiming({ width: 640, height: 480 }).pixelClockKhz, 25180, '640x480@60: DMT\'s 25.175 MHz at 10 kHz resolution');
  check({ width: 1920, height: 1080, refresh: 75 }, cvtReducedBlanking(1920, 1080, 75), 'no DMT at 75 Hz: CVT-RB v1');
  check({ width: 3840, height: 2160 }, cvtReducedBlanking(3840, 2160, 60), '3840x2160@60: CVT-RB v1 533.25 MHz');
  check({ width: 3840, height: 2160, refresh: 30 }, cvtReducedBlanking(3840, 2160, 30), '3840x2160@30: CVT-RB v1 262.75 MHz');
  check({ width: 1366, height: 768, refresh: 50 }, cvtReducedBlankingV2(1366, 768, 50), '1366 is no multiple of 8: v2');
  const v1 = cvtReducedBlanking(3840, 2160, 74);
  t.ok(v1.pixelClockKhz > MAX_DTD_PIXEL_CLOCK_KHZ, `3840x2160@74: v1 needs ${v1.pixelClockKhz / 1000} MHz, more than a detailed timing holds`);
  check({ width: 3840, height: 2160, refresh: 74 }, cvtReducedBlankingV2(3840, 2160, 74), 'so v2 (its 80-pixel blank fits)');
  t.equal(detailedTimingProblem(modeTiming({ width: 3840, height: 2160, refresh: 74 })), '');
  check({ width: 1024, height: 768, timing: 'cvt-rb2' }, cvtReducedBlankingV2(1024, 768, 60), 'explicit v2');
  t.equal(dmtMode(1024, 768, 75), undefined, 'DMT entries are the 60 Hz ones');
  // Out of range: each names why.
  for (const [spec, why] of [
    [{ width: 1920, height: 1080, refresh: 23 }, /refresh/],
    [{ width: 1920, height: 1080, refresh: 241 }, /refresh/],
    [{ width: 4096, height: 2160 }, /width/],
    [{ width: 3840, height: 2160, refresh: 120 }, /pixel clock/],
    [{ width: 2560, height: 1440, timing: 'dmt' }, /DMT lists no such mode/],
    [{ width: 1366, height: 768, refresh: 50, timing: 'cvt-rb' }, /multiple of 8/],
  ] as [ModeSpec, RegExp][]) {
    t.throws(() => modeTiming(spec), { code: 'E_RANGE', message: why }, `${spec.width}x${spec.height}@${spec.refresh ?? 60} ${spec.timing ?? ''}: refused`);
  }
  // The default monitors are unchanged: the rule gives GVT-g's types the modes they had.
  t.same(modeTiming({ width: 1024, height: 768 }), monitorMode(1024, 768));
  t.same(modeTiming({ width: 1920, height: 1200 }), monitorMode(1920, 1200));
});

/** `n` distinct modes (CVT-RB v1 at 60 Hz, sizes growing). */
function modes(n: number): DisplayMode[] {
  return Array.from({ length: n }, (_, i) => cvtReducedBlanking(640 + 64 * i, 480 + 32 * i, 60));
}

t.test('base block plus CTA-861 extensions: layout, checksums, decode back to the listed modes', async (t) => {
  for (const n of [1, 2, 7, 8, 13, 14, MAX_MONITOR_MODES]) {
    const list = modes(n);
    const e = buildEdid(list, { name: `m${n}`, serial: 'S', legacyTimings: false });
    const ext = edidExtensionCount(n);
    t.equal(ext, Math.ceil((n - 1) / CTA_DTDS_PER_BLOCK));
    t.equal(e.length, 128 * (1 + ext), `${n} modes: ${1 + ext} blocks`);
    t.equal(e[126], ext, 'the base block announces them');
    for (let b = 0; b <= ext; b++) t.ok(edidChecksumValid(e, 128 * b), `block ${b} checksum`);
    for (let b = 1; b <= ext; b++) {
      t.same([e[128 * b], e[128 * b + 1], e[128 * b + 2]], [0x02, 3, 4], `block ${b}: CTA-861 tag, revision 3, timings from byte 4`);
    }
    const d = decodeEdid(e);
    t.same(d.modes, list.map((m) => ({ ...m })), `${n} modes decode back, in order`);
    t.same([d.name, d.serial, d.establishedTimings, d.standardTimings], [`m${n}`, 'S', 0, 0], 'exactly the listed modes: no established or standard timings');
    // The range limits contain every mode.
    const r = e.subarray(54 + 18, 54 + 36);
    t.equal(r[3], 0xfd);
    const hOffset = (r[4] & 0x08) !== 0 ? 255 : 0;
    for (const m of list) {
      const v = refreshHz(m), h = m.pixelClockKhz / hTotal(m);
      t.ok(v >= r[5] && v <= r[6] && h >= r[7] && h <= r[8] + hOffset && m.pixelClockKhz <= r[9] * 10000, `${m.width}x${m.height} inside the range limits`);
    }
    const bad = e.slice();
    bad[128 * ext + 40] ^= 0x10;
    t.notOk(edidChecksumValid(bad, 128 * ext), 'a flipped bit breaks that block\'s checksum');
  }
  // A line rate above 255 kHz uses EDID 1.4's +255 offset.
  const fast = modeTiming({ width: 1920, height: 1080, refresh: 240 });
  const e = buildEdid([fast], { legacyTimings: false });
  t.ok(fast.pixelClockKhz / hTotal(fast) > 255, 'a 1080p240 line rate above 255 kHz');
  t.equal(e[54 + 18 + 4] & 0x08, 0x08, 'max horizontal rate offset flag');
  t.ok(edidChecksumValid(e));
  t.throws(() => buildEdid([]), { code: 'E_RANGE' });
});

t.test('a guest reads every block over I2C-over-AUX as drm does, the extensions through the segment pointer', async (t) => {
  const h = new Harness();
  const list: ModeSpec[] = [
    { width: 2560, height: 1440 }, { width: 1920, height: 1080 }, { width: 1920, height: 1080, refresh: 30 }, { width: 1280, height: 720 },
    { width: 3840, height: 2160, refresh: 30 }, { width: 1366, height: 768 }, { width: 1024, height: 768 }, { width: 800, height: 600 },
    { width: 640, height: 480 }, { width: 1600, height: 900 }, { width: 1440, height: 900 }, { width: 1280, height: 1024 },
    { width: 1680, height: 1050 }, { width: 1280, height: 800 },
  ];
  const v = h.mediator.createVgpu({ type: 'GVTg_V5_4', name: 'e', memory: new SparseGuestMemory(16 * MiB), display: { monitors: [{ port: 'D', modes: list, name: 'many modes' }] } });
  const edid = readEdid(v, Port.D);
  t.ok(edid, 'drm_do_get_edid completes');
  t.equal(edid!.length, 128 * 4, '14 modes: base block and three extensions (blocks 2, 3 in E-DDC segment 1)');
  t.same([...edid!], [...v.display.monitor.edid], 'the bytes the monitor holds');
  const d = decodeEdid(edid!);
  t.same(d.checksums, [true, true, true, true], 'every block\'s checksum');
  t.same(d.modes, list.map((s) => ({ ...modeTiming(s) })), 'decodes to the listed modes, preferred first');
  t.equal(d.name, 'many modes');
  // Block 2 is at offset 0 of segment 1: without the segment write it would be block 0 again.
  const seg0 = readEdidBlock(v, Port.D, 0)!;
  t.same(readEdidBlock(v, Port.D, 2), [...edid!.subarray(256, 384)], 'block 2 via segment 1');
  t.notSame(readEdidBlock(v, Port.D, 2), seg0);
  // The segment resets at the stop: a later read of block 0 starts in segment 0.
  t.same(readEdidBlock(v, Port.D, 0), [...edid!.subarray(0, 128)]);
  // A segment past the EDID reads as an absent EEPROM page (0xff); the sink still ACKs.
  t.same(readEdidBlock(v, Port.D, 6), new Array(128).fill(0xff), 'segment 3: nothing there');
  t.equal(auxXfer(v, Port.D, [0x4 << 4, 0, 0x37]).reply[0], 0x40, 'DDC/CI 0x37: NACK');
  t.equal(v.vregs.stats.untrackedReads + v.vregs.stats.untrackedWrites, 0, 'every register touched is tracked');
});
