/**
 * Streaming building blocks for the anomaly detectors: constant-memory, allocation-free per
 * sample, no look-ahead. Pure (no clock, no I/O).
 */

/** Milliseconds in a day. */
export const DAY_MS = 86_400_000;
/** Milliseconds in a week. */
export const WEEK_MS = 7 * DAY_MS;

/**
 * The last `capacity` values in arrival order and in sorted order at once: a push shifts only
 * the sorted values between the evicted one and the new one (few on a smooth series, O(capacity)
 * at worst), median and quantiles are O(1), the MAD O(log capacity).
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
    const n = this.count;
    if (n === this.capacity) {
      // Replace the evicted value in place: shift only the values between its slot and x's.
      const a = this.lowerBound(this.ring[this.head]!, n);
      const pos = this.upperBound(x, n);
      if (pos <= a) {
        for (let i = a; i > pos; i--) s[i] = s[i - 1]!;
        s[pos] = x;
      } else {
        for (let i = a; i < pos - 1; i++) s[i] = s[i + 1]!;
        s[pos - 1] = x;
      }
    } else {
      const pos = this.upperBound(x, n);
      for (let i = n; i > pos; i--) s[i] = s[i - 1]!;
      s[pos] = x;
      this.count++;
    }
    this.ring[this.head] = x;
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
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

  /** The smallest value held; NaN when empty. */
  min(): number {
    return this.count ? this.sorted[0]! : Number.NaN;
  }

  /** The largest value held; NaN when empty. */
  max(): number {
    return this.count ? this.sorted[this.count - 1]! : Number.NaN;
  }

  /**
   * The median absolute deviation from `center` (the median when omitted): the median of
   * |x − center|, found by selection over the two sorted runs either side of `center`
   * (O(log n)).
   */
  mad(center = this.median()): number {
    const n = this.count;
    if (n === 0) return Number.NaN;
    const split = this.lowerBound(center, n);
    if (n % 2 === 1) return this.kthDeviation((n - 1) >> 1, split, center);
    return (this.kthDeviation(n / 2 - 1, split, center) + this.kthDeviation(n / 2, split, center)) / 2;
  }

  /**
   * The k-th (0-based) smallest deviation from c. The deviations below c, ascending, are
   * c − s[split−1], c − s[split−2], ...; those at or above, s[split] − c, s[split+1] − c, ...
   * Binary search on how many of the k+1 smallest come from the lower run.
   */
  private kthDeviation(k: number, split: number, c: number): number {
    const s = this.sorted;
    const nHigh = this.count - split;
    let lo = k + 1 - nHigh > 0 ? k + 1 - nHigh : 0;
    let hi = k + 1 < split ? k + 1 : split;
    while (lo < hi) {
      const i = (lo + hi) >> 1;
      const j = k + 1 - i;
      // i from the lower run is too few when its next deviation undercuts the upper run's last taken.
      if (j > 0 && c - s[split - 1 - i]! < s[split + j - 1]! - c) lo = i + 1;
      else hi = i;
    }
    const j = k + 1 - lo;
    const low = lo > 0 ? c - s[split - lo]! : Number.NEGATIVE_INFINITY;
    const high = j > 0 ? s[split + j - 1]! - c : Number.NEGATIVE_INFINITY;
    return low > high ? low : high;
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

  constructor(private readonly learn = 16) {
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

/** The largest of the last `capacity` values pushed (a monotonic deque: O(1) amortised per push). */
export class RunningMax {
  private readonly values: Float64Array;
  private readonly stamps: Float64Array;
  private front = 0;
  private length = 0;
  private pushed = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`running max capacity must be a positive integer, got ${capacity}`);
    this.values = new Float64Array(capacity);
    this.stamps = new Float64Array(capacity);
  }

  /** Values pushed so far, up to capacity. */
  get size(): number {
    return Math.min(this.pushed, this.capacity);
  }

  /** Adds a value, dropping the oldest when full. */
  push(x: number): void {
    const cap = this.capacity;
    // Drop the expired front, then every value at the back that x outranks.
    if (this.length > 0 && this.stamps[this.front]! <= this.pushed - cap) {
      this.front = this.front + 1 === cap ? 0 : this.front + 1;
      this.length--;
    }
    while (this.length > 0) {
      let back = this.front + this.length - 1;
      if (back >= cap) back -= cap;
      if (this.values[back]! > x) break;
      this.length--;
    }
    let at = this.front + this.length;
    if (at >= cap) at -= cap;
    this.values[at] = x;
    this.stamps[at] = this.pushed;
    this.length++;
    this.pushed++;
  }

  /** The maximum of the window; −Infinity when empty. */
  max(): number {
    return this.length > 0 ? this.values[this.front]! : Number.NEGATIVE_INFINITY;
  }
}

/** The mean of the last `capacity` values (NaN until that many were pushed). */
export class MovingMean {
  private readonly ring: Float64Array;
  private head = 0;
  private count = 0;
  private sum = 0;
  private sinceExact = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`moving mean capacity must be a positive integer, got ${capacity}`);
    this.ring = new Float64Array(capacity);
  }

  /** Adds a value, dropping the oldest when full. */
  push(x: number): void {
    if (this.count === this.capacity) this.sum -= this.ring[this.head]!;
    else this.count++;
    this.ring[this.head] = x;
    this.sum += x;
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    // Re-add from scratch now and then so rounding errors never accumulate.
    if (++this.sinceExact >= 4096) {
      this.sinceExact = 0;
      let s = 0;
      for (let i = 0; i < this.count; i++) s += this.ring[i]!;
      this.sum = s;
    }
  }

  /** The mean of the window. */
  mean(): number {
    return this.count === this.capacity ? this.sum / this.count : Number.NaN;
  }
}

/** Clamps to [0, 1]; NaN becomes 0. */
export function unit(x: number): number {
  return x > 0 ? (x < 1 ? x : 1) : 0;
}
