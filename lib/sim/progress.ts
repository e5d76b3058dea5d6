/**
 * A small progress bar for long runs, drawn on a TTY stream (stderr) and only once the work has
 * taken more than `delayMs` of host time, so short runs stay quiet. The host clock is injected
 * (`now`): the library never reads the wall clock itself.
 */

/** Where the bar is drawn. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

/** Options of `ProgressBar`. */
export interface ProgressOptions {
  /** Host ms before the bar appears (default 1000). */
  delayMs?: number;
  /** Minimum host ms between redraws (default 100). */
  intervalMs?: number;
}

export class ProgressBar {
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly delayMs: number;
  private readonly intervalMs: number;
  private readonly t0: number;
  private last = -Infinity;
  private shown = false;

  constructor(stream: ProgressStream, now: () => number, opts: ProgressOptions = {}) {
    this.stream = stream;
    this.now = now;
    this.delayMs = opts.delayMs ?? 1000;
    this.intervalMs = opts.intervalMs ?? 100;
    this.t0 = now();
  }

  /** True when the bar may draw (a TTY). */
  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  /** Report progress `fraction` (0..1) of the step named `label`. */
  update(fraction: number, label: string): void {
    if (!this.enabled) return;
    const t = this.now();
    if (t - this.t0 < this.delayMs || t - this.last < this.intervalMs) return;
    this.last = t;
    this.shown = true;
    const f = Math.min(1, Math.max(0, fraction));
    const cols = Math.max(40, Math.min(this.stream.columns ?? 80, 120));
    const text = ` ${(f * 100).toFixed(0).padStart(3)}% ${label}`;
    const width = Math.max(10, Math.min(40, cols - text.length - 4));
    const full = Math.round(f * width);
    const line = `[${'#'.repeat(full)}${'.'.repeat(width - full)}]${text}`;
    this.stream.write(`\r${line.slice(0, cols - 1).padEnd(cols - 1)}`);
  }

  /** Erase the bar (if it was drawn). */
  done(): void {
    if (!this.shown) return;
    const cols = Math.max(40, Math.min(this.stream.columns ?? 80, 120));
    this.stream.write(`\r${' '.repeat(cols - 1)}\r`);
    this.shown = false;
  }
}
