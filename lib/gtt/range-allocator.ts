/**
 * A first-fit allocator of address ranges: the guest driver's graphics-memory and RAM allocators
 * and the mediator's host shadow space use it.
 */

/** A first-fit allocator over [0, size) with reserved holes (i915's drm_mm, simplified). */
export class RangeAllocator {
  private free: { start: number; end: number }[];
  readonly size: number;
  constructor(size: number) {
    this.size = size;
    this.free = [{ start: 0, end: size }];
  }
  /** Remove [start, end) from the free space. */
  reserve(start: number, end: number): void {
    const out: { start: number; end: number }[] = [];
    for (const r of this.free) {
      if (end <= r.start || start >= r.end) out.push(r);
      else {
        if (r.start < start) out.push({ start: r.start, end: start });
        if (end < r.end) out.push({ start: end, end: r.end });
      }
    }
    this.free = out;
  }
  /** Allocate `size` bytes aligned to `align` inside [lo, hi); -1 when nothing fits. */
  alloc(size: number, align: number, lo = 0, hi = this.size): number {
    for (const r of this.free) {
      const start = Math.ceil(Math.max(r.start, lo) / align) * align;
      if (start + size <= Math.min(r.end, hi)) {
        this.reserve(start, start + size);
        return start;
      }
    }
    return -1;
  }
  /** Return [start, start + size). */
  release(start: number, size: number): void {
    this.free.push({ start, end: start + size });
    this.free.sort((a, b) => a.start - b.start);
    const merged: { start: number; end: number }[] = [];
    for (const r of this.free) {
      const last = merged[merged.length - 1];
      if (last && last.end >= r.start) last.end = Math.max(last.end, r.end);
      else merged.push({ ...r });
    }
    this.free = merged;
  }
  /** Free bytes in [lo, hi). */
  freeBytes(lo = 0, hi = this.size): number {
    let n = 0;
    for (const r of this.free) n += Math.max(0, Math.min(r.end, hi) - Math.max(r.start, lo));
    return n;
  }
}

