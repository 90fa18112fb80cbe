/**
 * Streaming building blocks for the anomaly detectors: constant-memory, allocation-free per
 * sample, no look-ahead. Pure (no clock, no I/O).
 */

/** Milliseconds in a day and a week. */
export const DAY_MS = 86_400_000;
export const WEEK_MS = 7 * DAY_MS;

/**
 * The last `capacity` values in arrival order and in sorted order at once: push is O(capacity)
 * memmove at worst, median and quantiles O(1), MAD O(log capacity).
 */
export class SlidingWindow {
  private readonly ring: Float64Array;
  private readonly sorted: Float64Array;
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`window capacity must be a positive integer, got ${capacity}`);
    this.ring = new Float64Array(capacity);
    this.sorted = new Float64Array(capacity);
  }

  /** How many values it holds. */
  get size(): number {
    return this.count;
  }

  /** True once it holds `capacity` values. */
  get full(): boolean {
    return this.count === this.capacity;
  }

  /** Adds a value, evicting the oldest when full. */
  push(x: number): void {
    const s = this.sorted;
    let n = this.count;
    if (n === this.capacity) {
      const old = this.ring[this.head]!;
      const at = this.lowerBound(old, n);
      s.copyWithin(at, at + 1, n);
      n--;
    } else {
      this.count++;
    }
    this.ring[this.head] = x;
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    const at = this.upperBound(x, n);
    s.copyWithin(at + 1, at, n);
    s[at] = x;
  }

  /** The value pushed `lag` pushes ago (0 = the newest); NaN when not held. */
  recent(lag: number): number {
    if (lag < 0 || lag >= this.count) return Number.NaN;
    let i = this.head - 1 - lag;
    if (i < 0) i += this.capacity;
    return this.ring[i]!;
  }

  /** The q-quantile (0..1) by linear interpolation between order statistics; NaN when empty. */
  quantile(q: number): number {
    const n = this.count;
    if (n === 0) return Number.NaN;
    const pos = q * (n - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(n - 1, lo + 1);
    return this.sorted[lo]! + (this.sorted[hi]! - this.sorted[lo]!) * (pos - lo);
  }

  /** The median; NaN when empty. */
  median(): number {
    return this.quantile(0.5);
  }

  /** Smallest and largest value held. */
  min(): number {
    return this.count ? this.sorted[0]! : Number.NaN;
  }

  max(): number {
    return this.count ? this.sorted[this.count - 1]! : Number.NaN;
  }

  /**
   * The median absolute deviation from `center` (the median when omitted): the median of
   * |x − center|, found by selection over the two sorted runs either side of `center`.
   */
  mad(center = this.median()): number {
    const n = this.count;
    if (n === 0) return Number.NaN;
    const split = this.lowerBound(center, n);
    // Deviations below center, ascending: center − sorted[split−1], center − sorted[split−2], ...
    // Deviations at/above center, ascending: sorted[split] − center, sorted[split+1] − center, ...
    const kthDeviation = (k: number): number => this.kthOfTwo(k, split, center);
    if (n % 2 === 1) return kthDeviation((n - 1) >> 1);
    return (kthDeviation(n / 2 - 1) + kthDeviation(n / 2)) / 2;
  }

  /** The k-th (0-based) smallest of the merged deviations, by binary search on how many come from the lower run. */
  private kthOfTwo(k: number, split: number, c: number): number {
    const s = this.sorted;
    const nLow = split;
    const nHigh = this.count - split;
    // Take i from the lower run and k+1−i from the upper run; find the i that makes the merge consistent.
    let lo = Math.max(0, k + 1 - nHigh);
    let hi = Math.min(k + 1, nLow);
    while (lo < hi) {
      const i = (lo + hi) >> 1; // candidate count from lower run
      const j = k + 1 - i; // from upper run
      // lower deviation number i (0-based) is c − s[split−1−i]; upper deviation j−1 is s[split+j−1] − c
      const lowNext = c - s[split - 1 - i]!;
      const highLast = j > 0 ? s[split + j - 1]! - c : Number.NEGATIVE_INFINITY;
      if (lowNext < highLast) lo = i + 1;
      else hi = i;
    }
    const i = lo;
    const j = k + 1 - i;
    const lowLast = i > 0 ? c - s[split - i]! : Number.NEGATIVE_INFINITY;
    const highLast = j > 0 ? s[split + j - 1]! - c : Number.NEGATIVE_INFINITY;
    return Math.max(lowLast, highLast);
  }

  private lowerBound(x: number, n: number): number {
    const s = this.sorted;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private upperBound(x: number, n: number): number {
    const s = this.sorted;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The sampling interval of a stream, learned from its first gaps: the median of the first
 * `learn` positive gaps, then fixed (a series' cadence does not drift, its gaps do).
 */
export class SamplingInterval {
  private readonly gaps: SlidingWindow;
  private last = Number.NaN;
  private fixed = Number.NaN;

  constructor(private readonly learn = 64) {
    this.gaps = new SlidingWindow(learn);
  }

  /** Feeds a timestamp (ms); returns the gap since the previous one (NaN for the first). */
  observe(t: number): number {
    const gap = t - this.last;
    this.last = t;
    if (gap > 0 && Number.isNaN(this.fixed)) {
      this.gaps.push(gap);
      if (this.gaps.full) this.fixed = this.gaps.median();
    }
    return gap;
  }

  /** The estimate so far (NaN before two samples). */
  get ms(): number {
    return Number.isNaN(this.fixed) ? this.gaps.median() : this.fixed;
  }

  /** True once the estimate is fixed. */
  get settled(): boolean {
    return !Number.isNaN(this.fixed);
  }
}

/** Clamps to [0, 1]; NaN becomes 0. */
export function unit(x: number): number {
  return x > 0 ? (x < 1 ? x : 1) : 0;
}
