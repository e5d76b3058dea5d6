/**
 * Reads the real guest's serial console (lines of the kernel log and of the guest image's test
 * program, `GVTKIT-GUEST: ...`, see docs/guest.md) and decides what the run showed: i915 bound,
 * the GT wedged or not, batches verified, and the i915 warnings and errors.
 */

/** What a guest run showed. */
export interface GuestResult {
  ok: boolean;
  /** Milliseconds (as fed) at which i915 registered its DRM device, or null. */
  boundAtMs: number | null;
  /** Milliseconds at which the last batch result arrived, or null. */
  lastBatchAtMs: number | null;
  wedged: boolean;
  batchesOk: number;
  batchesTotal: number;
  failures: string[];
  /** i915/drm kernel lines at WARN or ERROR level. */
  warnings: string[];
  /** The one-line verdict. */
  summary: string;
}

const MARK = 'GVTKIT-GUEST:';
const BOUND = /\[drm\] Initialized i915 [0-9.]+ [0-9]+ for [0-9a-f:.]+ on minor \d+/;
const WEDGED = /wedged|reset request timed out|GPU HANG|Failed to reset|failed to idle/i;
const I915_WARN = /(i915|drm).*(\*ERROR\*|WARNING|WARN_ON|BUG|Oops)|(WARNING|BUG|Oops).*(i915|drm)/;

/** Line-by-line state machine over the guest console. */
export class GuestConsole {
  private boundAt: number | null = null;
  private lastBatchAt: number | null = null;
  private wedged = false;
  private ok = 0;
  private total: number | null = null;
  private readonly failures: string[] = [];
  private readonly warnings: string[] = [];
  /** True once the guest printed `GVTKIT-GUEST: done` (or the kernel panicked). */
  done = false;

  /**
   * Feed one console line (without its newline) seen at `atMs`. Returns a short description of a
   * milestone the line reached (for progress output), or null.
   */
  feed(line: string, atMs: number): string | null {
    const text = line.replace(/\r/g, '');
    if (BOUND.test(text) && this.boundAt === null) {
      this.boundAt = atMs;
      return 'i915 bound';
    }
    if (/Kernel panic/.test(text)) {
      this.failures.push(text.trim());
      this.done = true;
      return 'kernel panic';
    }
    if (WEDGED.test(text) && /i915|drm|rcs|bcs|vcs|vecs/.test(text)) {
      this.wedged = true;
      if (this.failures.length < 20) this.failures.push(text.trim());
      return 'GT wedged';
    }
    if (I915_WARN.test(text)) {
      if (this.warnings.length < 200) this.warnings.push(text.trim());
      return null;
    }
    const at = text.indexOf(MARK);
    if (at < 0) return null;
    const msg = text.slice(at + MARK.length).trim();
    let m: RegExpMatchArray | null;
    if ((m = /^batch (\S+) ok\b/.exec(msg)) !== null) {
      this.ok++;
      this.lastBatchAt = atMs;
      return `batch ${m[1]} ok`;
    }
    if ((m = /^batch (\S+) FAIL\b(.*)$/.exec(msg)) !== null) {
      this.failures.push(`batch ${m[1]}:${m[2]}`);
      this.lastBatchAt = atMs;
      return `batch ${m[1]} FAIL`;
    }
    if ((m = /^batches (\d+)\/(\d+) verified/.exec(msg)) !== null) {
      this.total = Number(m[2]);
      return null;
    }
    if (/^done\b/.test(msg)) {
      this.done = true;
      return 'guest done';
    }
    if (/^(FAIL|ERROR)\b/.test(msg)) {
      this.failures.push(msg);
      return msg;
    }
    return null;
  }

  /** The verdict so far. */
  result(): GuestResult {
    const total = this.total ?? this.ok + this.failures.filter((f) => f.startsWith('batch ')).length;
    const bound = this.boundAt !== null;
    const ok = bound && !this.wedged && total > 0 && this.ok === total && this.failures.length === 0;
    let summary: string;
    if (ok) {
      summary = `real guest: i915 bound, GT awake, ${this.ok}/${total} batches verified`;
    } else {
      const parts = [bound ? 'i915 bound' : 'i915 NOT bound', this.wedged ? 'GT WEDGED' : 'GT not wedged', `${this.ok}/${total} batches verified`];
      if (this.failures.length > 0) parts.push(`first failure: ${this.failures[0]}`);
      summary = `real guest: FAILED: ${parts.join(', ')}`;
    }
    return {
      ok, boundAtMs: this.boundAt, lastBatchAtMs: this.lastBatchAt, wedged: this.wedged, batchesOk: this.ok, batchesTotal: total,
      failures: [...this.failures], warnings: [...this.warnings], summary,
    };
  }
}
