/**
 * A 5x7 bitmap font (gvtkit's own drawing of the usual dot-matrix shapes) and its glyphs as
 * rectangles: what the simulator's guests draw their names and counters with, one XY_COLOR_BLT
 * per rectangle.
 *
 * Each glyph is 7 rows of 5 columns, `#` a lit dot. `glyphRects` turns a glyph into few
 * rectangles: the lit runs of each row, and a run continued by the same run on the next rows
 * merged into one taller rectangle. Text advances 6 columns per character (one of spacing) and 8
 * rows per line.
 */
import { RangeArgError } from '../errors.js';

/** Glyph width and height in dots, and the advance of one character and one line. */
export const FONT_WIDTH = 5;
export const FONT_HEIGHT = 7;
export const FONT_ADVANCE = 6;
export const FONT_LINE = 8;

/** The glyphs, 7 rows of 5 dots each (`#` lit). Lower-case letters are drawn as upper-case; a character not here as `?`. */
export const FONT_5X7: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'A': ['.###.', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  'B': ['####.', '#...#', '#...#', '####.', '#...#', '#...#', '####.'],
  'C': ['.###.', '#...#', '#....', '#....', '#....', '#...#', '.###.'],
  'D': ['####.', '#...#', '#...#', '#...#', '#...#', '#...#', '####.'],
  'E': ['#####', '#....', '#....', '####.', '#....', '#....', '#####'],
  'F': ['#####', '#....', '#....', '####.', '#....', '#....', '#....'],
  'G': ['.###.', '#...#', '#....', '#.###', '#...#', '#...#', '.####'],
  'H': ['#...#', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  'I': ['.###.', '..#..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  'J': ['..###', '...#.', '...#.', '...#.', '...#.', '#..#.', '.##..'],
  'K': ['#...#', '#..#.', '#.#..', '##...', '#.#..', '#..#.', '#...#'],
  'L': ['#....', '#....', '#....', '#....', '#....', '#....', '#####'],
  'M': ['#...#', '##.##', '#.#.#', '#.#.#', '#...#', '#...#', '#...#'],
  'N': ['#...#', '#...#', '##..#', '#.#.#', '#..##', '#...#', '#...#'],
  'O': ['.###.', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  'P': ['####.', '#...#', '#...#', '####.', '#....', '#....', '#....'],
  'Q': ['.###.', '#...#', '#...#', '#...#', '#.#.#', '#..#.', '.##.#'],
  'R': ['####.', '#...#', '#...#', '####.', '#.#..', '#..#.', '#...#'],
  'S': ['.####', '#....', '#....', '.###.', '....#', '....#', '####.'],
  'T': ['#####', '..#..', '..#..', '..#..', '..#..', '..#..', '..#..'],
  'U': ['#...#', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  'V': ['#...#', '#...#', '#...#', '#...#', '#...#', '.#.#.', '..#..'],
  'W': ['#...#', '#...#', '#...#', '#.#.#', '#.#.#', '#.#.#', '.#.#.'],
  'X': ['#...#', '#...#', '.#.#.', '..#..', '.#.#.', '#...#', '#...#'],
  'Y': ['#...#', '#...#', '.#.#.', '..#..', '..#..', '..#..', '..#..'],
  'Z': ['#####', '....#', '...#.', '..#..', '.#...', '#....', '#####'],
  '0': ['.###.', '#...#', '#..##', '#.#.#', '##..#', '#...#', '.###.'],
  '1': ['..#..', '.##..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  '2': ['.###.', '#...#', '....#', '...#.', '..#..', '.#...', '#####'],
  '3': ['#####', '...#.', '..#..', '...#.', '....#', '#...#', '.###.'],
  '4': ['...#.', '..##.', '.#.#.', '#..#.', '#####', '...#.', '...#.'],
  '5': ['#####', '#....', '####.', '....#', '....#', '#...#', '.###.'],
  '6': ['..##.', '.#...', '#....', '####.', '#...#', '#...#', '.###.'],
  '7': ['#####', '....#', '...#.', '..#..', '.#...', '.#...', '.#...'],
  '8': ['.###.', '#...#', '#...#', '.###.', '#...#', '#...#', '.###.'],
  '9': ['.###.', '#...#', '#...#', '.####', '....#', '...#.', '.##..'],
  ' ': ['.....', '.....', '.....', '.....', '.....', '.....', '.....'],
  '-': ['.....', '.....', '.....', '#####', '.....', '.....', '.....'],
  ':': ['.....', '.##..', '.##..', '.....', '.##..', '.##..', '.....'],
  '.': ['.....', '.....', '.....', '.....', '.....', '.##..', '.##..'],
  '/': ['.....', '....#', '...#.', '..#..', '.#...', '#....', '.....'],
  '%': ['##...', '##..#', '...#.', '..#..', '.#...', '#..##', '...##'],
  '?': ['.###.', '#...#', '....#', '...#.', '..#..', '.....', '..#..'],
});

/** A rectangle in font dots: x, y of its top-left dot, w × h dots. */
export interface DotRect {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/** The glyph drawn for `ch` (upper-cased; `?` when the font has none). */
export function glyphOf(ch: string): readonly string[] {
  return FONT_5X7[ch.toUpperCase()] ?? FONT_5X7['?'];
}

/** True when dot (x, y) of `ch`'s glyph is lit. */
export function dotLit(ch: string, x: number, y: number): boolean {
  if (x < 0 || x >= FONT_WIDTH || y < 0 || y >= FONT_HEIGHT) return false;
  return glyphOf(ch)[y][x] === '#';
}

const rectCache = new Map<string, readonly DotRect[]>();

/**
 * The lit dots of `ch`'s glyph as rectangles: each row's runs, a run repeated on the rows below
 * merged into one rectangle (an `I`'s stem is one rectangle, not five).
 */
export function glyphRects(ch: string): readonly DotRect[] {
  const key = FONT_5X7[ch.toUpperCase()] ? ch.toUpperCase() : '?';
  const cached = rectCache.get(key);
  if (cached) return cached;
  const rows = FONT_5X7[key];
  const done: DotRect[] = [];
  /** Open rectangles by "x0,x1", with the row they started at and their height so far. */
  let open = new Map<string, { x: number; y: number; w: number; h: number }>();
  for (let y = 0; y <= FONT_HEIGHT; y++) {
    const next = new Map<string, { x: number; y: number; w: number; h: number }>();
    const row = y < FONT_HEIGHT ? rows[y] : '';
    for (let x = 0; x < row.length;) {
      if (row[x] !== '#') {
        x++;
        continue;
      }
      let e = x;
      while (e < row.length && row[e] === '#') e++;
      const k = `${x},${e}`;
      const r = open.get(k);
      if (r) {
        r.h++;
        open.delete(k);
        next.set(k, r);
      } else next.set(k, { x, y, w: e - x, h: 1 });
      x = e;
    }
    for (const r of open.values()) done.push(r);
    open = next;
  }
  done.sort((a, b) => a.y - b.y || a.x - b.x);
  const out = Object.freeze(done.map((r) => Object.freeze({ ...r })));
  rectCache.set(key, out);
  return out;
}

/** A pixel rectangle of drawn text. */
export interface PixelRect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * The rectangles (pixels) that draw `text` with its top-left at (x, y), each dot `scale` × `scale`
 * pixels. Throws `RangeArgError` for a scale that is not a positive integer.
 */
export function textRects(text: string, x: number, y: number, scale: number): PixelRect[] {
  if (!(Number.isInteger(scale) && scale >= 1)) throw new RangeArgError(`text scale ${scale}: a positive integer`);
  const out: PixelRect[] = [];
  let cx = x;
  for (const ch of text) {
    for (const r of glyphRects(ch)) out.push({ x: cx + r.x * scale, y: y + r.y * scale, w: r.w * scale, h: r.h * scale });
    cx += FONT_ADVANCE * scale;
  }
  return out;
}

/** Width in pixels of `text` at `scale` (the last character's spacing column not counted). */
export function textWidth(text: string, scale: number): number {
  const n = [...text].length;
  return n === 0 ? 0 : (n * FONT_ADVANCE - 1) * scale;
}
