/**
 * Pictures of the simulator's guests: each guest lights its monitor, draws its name and counter
 * (5x7 font, lib/sim/font.ts) into the buffer not shown and flips; the runner reads plane 1 out
 * through the vGPU and writes PNGs. The expected pixels come from the font table, the layout and
 * the figures of the run (the frame number), never from a stored picture.
 */
import t from 'tap';
import { simCommand } from '../lib/cli/sim.js';
import { decodePng, type RgbaImage } from '../lib/display/png.js';
import { FONT_5X7, FONT_ADVANCE, FONT_HEIGHT, FONT_WIDTH, dotLit, glyphRects, textRects } from '../lib/sim/font.js';
import { runScenario } from '../lib/sim/runner.js';
import { validateScenario, ScenarioError } from '../lib/sim/scenario.js';
import { screenColors, screenLayout } from '../lib/sim/screen.js';

const doc = {
  name: 'pictures', seed: 11, durationMs: 120,
  mediator: { failsafe: 'never' },
  vgpus: [
    { name: 'game', type: 'GVTg_V5_8', ramMiB: 64, workload: { kind: 'game', fps: 0, draws: 40, width: 640, height: 480 } },
    { name: 'evil', type: 'GVTg_V5_8', ramMiB: 64, monitor: { width: 640, height: 480 }, workload: { kind: 'attacker', attackEveryMs: 10, validRate: 50 } },
  ],
};

/** The RGB of pixel (x, y). */
function px(img: RgbaImage, x: number, y: number): number {
  const i = (y * img.width + x) * 4;
  return (img.rgba[i] << 16) | (img.rgba[i + 1] << 8) | img.rgba[i + 2];
}

/**
 * Check that `img` shows `lines` in the panel: the centre pixel of every dot of every character
 * is the text colour when the font lights it, the panel colour when not. Returns mismatches.
 */
function checkText(img: RgbaImage, name: string, lines: string[], lineCount: number): number {
  const L = screenLayout(img.width, img.height, lineCount);
  const C = screenColors(name);
  const text = C.text & 0xffffff, panel = C.panel & 0xffffff;
  let bad = 0;
  lines.forEach((line, i) => {
    [...line].forEach((ch, k) => {
      for (let y = 0; y < FONT_HEIGHT; y++) {
        for (let x = 0; x < FONT_ADVANCE; x++) {
          const cx = L.textX + (k * FONT_ADVANCE + x) * L.scale + (L.scale >> 1);
          const cy = L.textY + i * L.lineHeight + y * L.scale + (L.scale >> 1);
          const want = x < FONT_WIDTH && dotLit(ch, x, y) ? text : panel;
          if (px(img, cx, cy) !== want) bad++;
        }
      }
    });
  });
  return bad;
}

t.test('the font: every glyph 7 rows of 5 dots; rectangles cover exactly the lit dots', async (t) => {
  for (const [ch, rows] of Object.entries(FONT_5X7)) {
    t.equal(rows.length, FONT_HEIGHT, `${ch}: 7 rows`);
    t.ok(rows.every((r) => r.length === FONT_WIDTH && /^[.#]+$/.test(r)), `${ch}: 5 dots a row`);
    const cover = new Uint8Array(FONT_WIDTH * FONT_HEIGHT);
    for (const r of glyphRects(ch)) for (let y = r.y; y < r.y + r.h; y++) for (let x = r.x; x < r.x + r.w; x++) cover[y * FONT_WIDTH + x]++;
    let ok = true;
    for (let y = 0; y < FONT_HEIGHT; y++) for (let x = 0; x < FONT_WIDTH; x++) if (cover[y * FONT_WIDTH + x] !== (rows[y][x] === '#' ? 1 : 0)) ok = false;
    t.ok(ok, `${ch}: rectangles cover each lit dot once and nothing else`);
  }
  t.ok(glyphRects('I').length < FONT_5X7.I.join('').split('#').length - 1, 'runs merged into fewer rectangles than dots');
  t.same(textRects('a', 0, 0, 3), textRects('A', 0, 0, 3), 'lower case drawn as upper case');
  t.same(glyphRects('~'), glyphRects('?'), 'an unknown character is drawn as ?');
});

t.test('a short sim writes each guest\'s screen: the game shows its name and the frame it presented last', async (t) => {
  const sc = validateScenario(doc);
  t.same(sc.vgpus[0].monitor, { width: 640, height: 480, refresh: 60 }, 'a game\'s monitor defaults to its size');
  const { result, artifacts } = runScenario(sc, { trace: false, screens: { everyMs: 50 } });
  const game = result.vgpus[0], evil = result.vgpus[1];
  t.ok(game.frames > 10, `${game.frames} frames`);
  t.same(artifacts.screens.map((s) => `${s.name}@${s.atMs}${s.final ? '!' : ''}`), ['game@50', 'evil@50', 'game@100', 'evil@100', 'game@120!', 'evil@120!'], 'every 50 ms and at the end');
  for (const s of artifacts.screens) t.equal(s.error, null, `${s.name} at ${s.atMs} ms read out`);
  const final = artifacts.screens.find((s) => s.final && s.name === 'game')!;
  const img = decodePng(final.png!);
  t.same([img.width, img.height], [640, 480], 'the picture has the monitor\'s mode');
  t.equal(checkText(img, 'game', ['GAME', `FRAME ${game.frames}`], 2), 0, `"GAME" and "FRAME ${game.frames}" drawn dot for dot`);
  t.not(checkText(img, 'game', ['GAME', `FRAME ${game.frames + 1}`], 2), 0, 'and not the next frame\'s number');
  const L = screenLayout(640, 480, 2);
  t.equal(px(img, 1, 1), screenColors('game').background & 0xffffff, 'background outside the panel');
  t.equal(px(img, L.panel.x + L.panel.w - 2, L.panel.y + 1), screenColors('game').panel & 0xffffff, 'panel colour at its right end');
  const mid = decodePng(artifacts.screens.find((s) => s.name === 'game' && s.atMs === 50)!.png!);
  t.ok(checkText(mid, 'game', ['GAME'], 2) === 0, 'the picture at 50 ms shows the name too');
  t.not(checkText(mid, 'game', ['GAME', `FRAME ${game.frames}`], 2), 0, 'with an earlier frame number');
  // The attacker's panel: its name, attacks tried and workloads refused (drawn every 100 ms).
  const evilImg = decodePng(artifacts.screens.find((s) => s.final && s.name === 'evil')!.png!);
  t.equal(checkText(evilImg, 'evil', ['EVIL', 'ATTACKS '], 3), 0, 'the attacker\'s screen: name and its counter\'s label');
  t.ok(evil.refused > 0, 'it was refused');
});

t.test('same seed: byte-identical figures and pictures; the pictures do not change the figures', async (t) => {
  const sc = validateScenario(doc);
  const a = runScenario(sc, { trace: false, screens: { everyMs: 40 } });
  const b = runScenario(sc, { trace: false, screens: { everyMs: 40 } });
  const plain = runScenario(sc, { trace: false });
  t.equal(JSON.stringify(a.result), JSON.stringify(b.result), 'same JSON');
  t.equal(JSON.stringify(a.result), JSON.stringify(plain.result), 'same JSON without captures');
  t.equal(a.artifacts.screens.length, b.artifacts.screens.length);
  t.ok(a.artifacts.screens.every((s, i) => s.png !== null && Buffer.from(s.png).equals(Buffer.from(b.artifacts.screens[i].png!))), 'same PNG bytes');
  t.equal(plain.artifacts.screens.length, 0, 'no captures without the option');
});

t.test('gvtkit sim writes screens/<guest>.png and, with --screens-every, screens/<guest>-<ms>ms.png', async (t) => {
  const written = new Map<string, Uint8Array | string>();
  const out: string[] = [];
  const err: string[] = [];
  const code = await simCommand(['p.json', '--out', 'o', '--no-native', '--screens-every', '60'], {
    out: (l) => out.push(l), err: (l) => err.push(l),
    readFile: () => new TextEncoder().encode(JSON.stringify(doc)),
    writeFile: (p, d) => written.set(p, d),
    progress: { isTTY: false, write: () => true },
    now: () => 0,
  });
  t.equal(code, 0, err.join('\n'));
  const pngs = [...written.keys()].filter((k) => k.endsWith('.png')).sort();
  t.same(pngs, ['o/screens/evil-060ms.png', 'o/screens/evil.png', 'o/screens/game-060ms.png', 'o/screens/game.png']);
  const png = written.get('o/screens/game.png') as Uint8Array;
  t.same([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG', 'a PNG');
  const bad = await simCommand(['p.json', '--screens-every', '-5'], {
    out: () => {}, err: (l) => err.push(l), readFile: () => new Uint8Array(), writeFile: () => {}, progress: { isTTY: false, write: () => true },
  });
  t.equal(bad, 2, 'a negative period is a usage error');
});

t.test('scenario: monitor and screensEveryMs validated with field paths', async (t) => {
  const bad = (patch: Record<string, unknown>, vgpu: Record<string, unknown> = {}): ScenarioError => {
    try {
      validateScenario({ ...doc, ...patch, vgpus: [{ ...doc.vgpus[1], ...vgpu }] });
    } catch (e) {
      if (e instanceof ScenarioError) return e;
      throw e;
    }
    throw new Error('accepted');
  };
  t.equal(bad({ screensEveryMs: -1 }).path, 'screensEveryMs');
  t.equal(bad({}, { monitor: { width: 20, height: 480 } }).path, 'vgpus[0].monitor.width');
  t.equal(bad({}, { monitor: { width: 640, height: 480, refresh: 500 } }).path, 'vgpus[0].monitor.refresh');
  t.equal(bad({}, { monitor: { width: 640, height: 480, depth: 8 } }).path, 'vgpus[0].monitor.depth');
  t.equal(bad({}, { monitor: { width: 4000, height: 4000 } }).path, 'vgpus[0].monitor', 'a mode no detailed timing holds');
  t.equal(bad({}, { monitor: undefined, workload: { kind: 'game', width: 4096, height: 4096 } }).path, 'vgpus[0].monitor', 'a game\'s size that no monitor has needs an explicit monitor');
  const ok = validateScenario({ ...doc, screensEveryMs: 25 });
  t.equal(ok.screensEveryMs, 25);
  t.same(ok.vgpus[1].monitor, { width: 640, height: 480, refresh: 60 });
  t.same(validateScenario({ vgpus: [{ workload: { kind: 'idle' } }] }).vgpus[0].monitor, { width: 800, height: 600, refresh: 60 }, 'other kinds: 800x600');
});

t.test('every kind shows its name and its counter', async (t) => {
  const m = { width: 320, height: 240 };
  const sc = validateScenario({
    name: 'kinds', seed: 3, durationMs: 250, mediator: { failsafe: 'never' },
    vgpus: [
      { name: 'tv', type: 'GVTg_V5_8', ramMiB: 64, monitor: m, workload: { kind: 'media', fps: 30, slices: 1 } },
      { name: 'cp', type: 'GVTg_V5_8', ramMiB: 64, monitor: m, workload: { kind: 'blit', rate: 0, blitsPerWorkload: 2, width: 64, height: 64 } },
      { name: 'desk', type: 'GVTg_V5_8', ramMiB: 64, monitor: m, workload: { kind: 'idle', periodMs: 20 } },
      { name: 'cad', type: 'GVTg_V5_8', ramMiB: 64, monitor: m, workload: { kind: 'bursty', burstMs: 20, gapMs: 30, draws: 20 } },
      { name: 'quiet', type: 'GVTg_V5_8', ramMiB: 64, monitor: m, workload: { kind: 'game', fps: 60, draws: 20, present: 'none' } },
    ],
  });
  const { result, artifacts } = runScenario(sc, { trace: false, screens: { everyMs: 0 } });
  const labels: Record<string, string> = { tv: 'FRAMES ', cp: 'BLITS ', desk: 'UPDATES ', cad: 'BATCHES ', quiet: 'FRAME ' };
  for (const shot of artifacts.screens) {
    t.equal(shot.error, null, `${shot.name}: read out`);
    const img = decodePng(shot.png!);
    t.same([img.width, img.height], [320, 240]);
    t.equal(checkText(img, shot.name, [shot.name.toUpperCase(), labels[shot.name]], 2), 0, `${shot.name}: "${shot.name.toUpperCase()}" and "${labels[shot.name]}..."`);
  }
  t.equal(artifacts.screens.length, 5, 'one final screen each');
  const desk = decodePng(artifacts.screens.find((s) => s.name === 'desk')!.png!);
  const v = result.vgpus.find((x) => x.name === 'desk')!;
  t.ok(v.frames > 3, `the desktop made ${v.frames} updates`);
  // Its last update's number is on screen: the updates flipped so far (frames counts them).
  t.equal(checkText(desk, 'desk', ['DESK', `UPDATES ${v.frames}`], 2), 0, `UPDATES ${v.frames}`);
});
