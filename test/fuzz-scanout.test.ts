/**
 * The fuzz world's scan-out check (lib/fuzz/scanout.ts, `FuzzWorld.checkScanout`, invariant
 * `scanout-leak`, issue 16): an attacker's plane whose read-out shows the victim's canary dwords
 * is reported, in every 8:8:8:8 format and tiling; its own pixels are not; and the MMIO and
 * command fuzzers reach planes that decode, so the check reads something.
 */
import t from 'tap';
import { FuzzWorld, SCANOUT_EVERY } from '../lib/fuzz/world.js';
import { CanaryScanner } from '../lib/fuzz/scanout.js';
import { INVARIANTS } from '../lib/fuzz/monitor.js';
import { mmioFuzzer } from '../lib/fuzz/fuzzers/mmio.js';
import { commandsFuzzer } from '../lib/fuzz/fuzzers/commands.js';
import { Rng } from '../lib/clock.js';
import { DBits, PlaneReg, TRANS, pipeconf, planeCtl, transcoderBase } from '../lib/display/index.js';
import { PAGE_SIZE } from '../lib/types.js';
import type { TestGuest } from '../lib/harness/index.js';
import type { Fuzzer } from '../lib/fuzz/fuzzer.js';

const wr = (g: TestGuest, o: number, x: number): void => g.vgpu.mmioWrite(o, 4, x >>> 0);

/** The victim's canary dwords as its RAM holds them. */
function canaryWords(w: FuzzWorld): Uint32Array {
  const c = w.victim!.canary;
  const b = w.victim!.g.memory.read(c.gpa, c.bytes);
  return new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

/** The attacker's primary plane of pipe A on a 4-page buffer of its own holding `words`, 512 x 8 pixels, `ctl` format and `tiling`. */
function showOwn(w: FuzzWorld, words: readonly number[], ctl: number, tiling: number): void {
  const g = w.attacker;
  const fb = g.buffer(4 * PAGE_SIZE);
  g.driver.writeRam32(fb.gpa, words);
  wr(g, transcoderBase(0) + TRANS.PIPESRC, (511 << 16) | 7);
  const base = planeCtl(0, 0);
  wr(g, base + PlaneReg.STRIDE, tiling === 0 ? 32 : tiling === 1 ? 4 : 16);
  wr(g, base + PlaneReg.CTL, ctl | (tiling << 10));
  wr(g, base + PlaneReg.SURF, fb.gma);
  wr(g, pipeconf(0), DBits.PIPECONF_ENABLE);
}

/** Checks until the scan-out check has run once. */
function scanoutViolations(w: FuzzWorld): string[] {
  const out: string[] = [];
  for (let i = 0; i < SCANOUT_EVERY; i++) for (const v of w.check()) out.push(`${v.invariant}: ${v.message}`);
  return out;
}

// ABGR8888, XBGR8888, ARGB8888, XRGB8888 (PLANE_CTL format 4 with RGBX order and alpha bits).
const FORMATS: readonly [string, number][] = [
  ['ABGR8888', (1 << 31) | (4 << 24) | (1 << 20) | (3 << 4)], ['XBGR8888', (1 << 31) | (4 << 24) | (1 << 20)],
  ['ARGB8888', (1 << 31) | (4 << 24) | (3 << 4)], ['XRGB8888', (1 << 31) | (4 << 24)],
];

t.test('canary dwords on an attacker\'s plane are a scanout-leak, in every 8:8:8:8 format and tiling', async (t) => {
  for (const [name, ctl] of FORMATS) {
    for (const tiling of [0, 1, 4, 5]) {
      const w = new FuzzWorld({ seed: 3 });
      // The attacker's own buffer holds a copy of the victim's canary (the world's detector cannot
      // tell a copy from a leak: this stands for a read-out that reached the victim's pages).
      showOwn(w, Array.from(canaryWords(w).subarray(0, 4096)), ctl >>> 0, tiling);
      const vs = scanoutViolations(w);
      t.ok(vs.some((m) => m.startsWith(INVARIANTS.SCANOUT_LEAK)), `${name} tiling ${tiling}: reported (${vs.slice(0, 1).join('')})`);
      t.equal(w.scanoutReads, 1, 'one plane read');
    }
  }
});

t.test('the attacker\'s own pixels (a pattern of its own, and the canary words shuffled) are not', async (t) => {
  for (const [name, ctl] of FORMATS) {
    const w = new FuzzWorld({ seed: 4 });
    const canary = canaryWords(w);
    // Every canary word, but never two consecutive ones next to each other: no pair.
    const shuffled = Array.from({ length: 4096 }, (_, i) => canary[(i * 7) % 4096]);
    showOwn(w, shuffled, ctl >>> 0, 0);
    const vs = scanoutViolations(w);
    t.same(vs, [], `${name}: nothing reported`);
    t.equal(w.scanoutReads, 1, 'the plane was read');
  }
});

t.test('CanaryScanner: a pair of consecutive words, in either byte order', async (t) => {
  const words = Uint32Array.from({ length: 64 }, (_, i) => (0x10203 * (i + 1) + 0x4000000 * i) >>> 0);
  const s = new CanaryScanner(words);
  const px = (ws: number[]): Uint8Array => new Uint8Array(Uint32Array.from(ws).buffer);
  const swap = (w: number): number => ((w & 0xff00ff00) | ((w >>> 16) & 0xff) | ((w & 0xff) << 16)) >>> 0;
  t.equal(s.hits(px([0, words[5], words[6], 0])), 1, 'memory order');
  t.equal(s.hits(px([0, (swap(words[9]) | 0xff000000) >>> 0, (swap(words[10]) | 0xff000000) >>> 0])), 1, 'R/B swapped, alpha forced');
  t.equal(s.hits(px([words[5], 0, words[6]])), 0, 'not neighbours');
  t.equal(s.hits(px([words[6], words[5]])), 0, 'out of order');
});

/** Run `cases` cases of `fz` in one world and return the violations and the planes read. */
function drive(fz: Fuzzer<any, any>, cases: number): { violations: string[]; reads: number } {
  const w = new FuzzWorld({ seed: 16 });
  const rng = new Rng(16);
  const st = fz.setup(w, rng);
  const violations: string[] = [];
  for (let i = 0; i < cases; i++) {
    const ops = fz.generate(rng, st, w);
    for (const v of fz.execute(w, st, ops)) violations.push(`${v.invariant}: ${v.message}`);
    if (i % fz.victimEvery === 0) w.victim!.work();
    w.settle();
    for (const v of w.check()) violations.push(`${v.invariant}: ${v.message}`);
  }
  return { violations, reads: w.scanoutReads };
}

t.test('the MMIO and command fuzzers reach planes the scan-out check reads', async (t) => {
  for (const fz of [mmioFuzzer, commandsFuzzer] as Fuzzer<any, any>[]) {
    const { violations, reads } = drive(fz, 200);
    t.same(violations, [], `${fz.name}: no violation`);
    t.ok(reads > 5, `${fz.name}: ${reads} planes read out in 200 cases`);
  }
});
