/**
 * Distance: the shape of the last few samples (their values as they are) against shapes seen over
 * the past days; the surprise is the mean distance to the k nearest. A pattern that recurs daily,
 * or every few hours, has near neighbours and stays quiet; a new level or a new form has none.
 * No scaling is needed: the record scale judges a distance only against this series' own past
 * distances. Memory is a ring of every n-th shape (n chosen to span `span` days), indexed by mean.
 */
import { DAY_MS, SamplingInterval, unit } from '../rolling.ts';
import { ANOMALY_THRESHOLD, RECORD_LEVEL, Rest, SURPRISE_PARAMS, SurpriseScore } from '../surprise.ts';
import { resolveParams, type AnomalyScorer, type DetectorDefinition, type ParamSpec } from './types.ts';

/** The k-nearest-neighbour detector's parameters. */
export const KNN_PARAMS = {
  dimension: { default: 4, min: 1, max: 64, integer: true, description: 'samples per shape' },
  neighbours: { default: 3, min: 1, max: 32, integer: true, description: 'k: nearest shapes averaged' },
  memory: { default: 64, min: 8, max: 4096, integer: true, description: 'shapes remembered' },
  span: { default: 4, min: 0.01, max: 60, description: 'days the memory covers (it keeps every n-th shape to span them)' },
  ...SURPRISE_PARAMS,
} satisfies Record<string, ParamSpec>;

type Params = { [K in keyof typeof KNN_PARAMS]: number };

/** The mean distance from the newest shape to its k nearest remembered shapes (NaN while learning). */
export class NeighbourDistance {
  private readonly interval = new SamplingInterval();
  private readonly m: number;
  private readonly k: number;
  private readonly capacity: number;
  /** The last m values, and the shapes waiting m samples before they are remembered (no self-match). */
  private readonly recent: Float64Array;
  private recentCount = 0;
  private readonly pending: Float64Array;
  private pendingCount = 0;
  private pendingHead = 0;
  private readonly memory: Float64Array;
  /** Each remembered shape's mean, and the slots sorted by it (a lower bound on distances). */
  private readonly means: Float64Array;
  private readonly byMean: Float64Array;
  private readonly slots: Int32Array;
  private indexed = 0;
  private memoryCount = 0;
  private memoryHead = 0;
  /** Every stride-th shape is remembered (0 until the sampling interval is known). */
  private stride = 0;
  private step = 0;
  private readonly best: Float64Array;

  constructor(private readonly p: Pick<Params, 'dimension' | 'neighbours' | 'memory' | 'span'>) {
    this.m = p.dimension;
    this.k = Math.min(p.neighbours, p.memory);
    this.capacity = p.memory;
    this.recent = new Float64Array(this.m);
    this.pending = new Float64Array(this.m * this.m);
    this.memory = new Float64Array(this.capacity * this.m);
    this.means = new Float64Array(this.capacity);
    this.byMean = new Float64Array(this.capacity);
    this.slots = new Int32Array(this.capacity);
    this.best = new Float64Array(this.k);
  }

  update(t: number, x: number): number {
    if (this.stride === 0) {
      // The memory spans `span` days: its stride waits for the sampling interval.
      this.interval.observe(t);
      if (this.interval.settled) this.stride = Math.max(1, Math.round(((DAY_MS / this.interval.ms) * this.p.span) / this.capacity));
    }
    // Shift the newest value into the shape.
    const m = this.m;
    const shape = this.recent;
    shape.copyWithin(0, 1);
    shape[m - 1] = x;
    if (this.recentCount < m) {
      this.recentCount++;
      if (this.recentCount < m) return Number.NaN;
    }
    const d = this.memoryCount >= this.k ? this.nearest(shape) : Number.NaN;
    if (this.stride > 0) this.remember(shape);
    return d;
  }

  /**
   * The k nearest by a search outward from the shape's mean in the mean-sorted index: m·(difference
   * of means)² never exceeds the squared distance, so once both sides are that far the search stops.
   */
  private nearest(shape: Float64Array): number {
    const m = this.m;
    const k = this.k;
    const best = this.best;
    best.fill(Number.POSITIVE_INFINITY);
    const mem = this.memory;
    const byMean = this.byMean;
    const slots = this.slots;
    const n = this.memoryCount;
    let mean = 0;
    for (let j = 0; j < m; j++) mean += shape[j]!;
    mean /= m;
    let worst = Number.POSITIVE_INFINITY;
    let right = lowerBound(byMean, n, mean);
    let left = right - 1;
    while (left >= 0 || right < n) {
      // Take the side whose next mean is closer.
      let at: number;
      if (right >= n || (left >= 0 && mean - byMean[left]! < byMean[right]! - mean)) at = left--;
      else at = right++;
      const dm = mean - byMean[at]!;
      if (m * dm * dm >= worst) break;
      const o = slots[at]! * m;
      let d = 0;
      for (let j = 0; j < m; j++) {
        const e = shape[j]! - mem[o + j]!;
        d += e * e;
      }
      if (d < worst) {
        let i = k - 1;
        while (i > 0 && best[i - 1]! > d) {
          best[i] = best[i - 1]!;
          i--;
        }
        best[i] = d;
        worst = best[k - 1]!;
      }
    }
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.sqrt(best[j]!);
    return s / k;
  }

  /** Adds a slot to the mean-sorted index (the index holds memoryCount entries before it). */
  private index(slot: number): void {
    const n = this.indexed;
    const mean = this.means[slot]!;
    const at = lowerBound(this.byMean, n, mean);
    for (let i = n; i > at; i--) {
      this.byMean[i] = this.byMean[i - 1]!;
      this.slots[i] = this.slots[i - 1]!;
    }
    this.byMean[at] = mean;
    this.slots[at] = slot;
    this.indexed++;
  }

  private unindex(slot: number): void {
    const n = this.indexed;
    let at = lowerBound(this.byMean, n, this.means[slot]!);
    while (at < n && this.slots[at] !== slot) at++;
    for (let i = at; i < n - 1; i++) {
      this.byMean[i] = this.byMean[i + 1]!;
      this.slots[i] = this.slots[i + 1]!;
    }
    this.indexed--;
  }

  /** Queues the shape; the one queued m samples ago (no longer overlapping) joins the memory, every stride-th. */
  private remember(shape: Float64Array): void {
    const m = this.m;
    if (this.pendingCount === m) {
      if (this.step++ % this.stride === 0) {
        const slot = this.memoryHead;
        if (this.memoryCount === this.capacity) this.unindex(slot);
        const from = this.pendingHead * m;
        const to = slot * m;
        let sum = 0;
        for (let j = 0; j < m; j++) {
          const v = this.pending[from + j]!;
          this.memory[to + j] = v;
          sum += v;
        }
        this.means[slot] = sum / m;
        this.index(slot);
        this.memoryHead = this.memoryHead + 1 === this.capacity ? 0 : this.memoryHead + 1;
        if (this.memoryCount < this.capacity) this.memoryCount++;
      }
    } else {
      this.pendingCount++;
    }
    const at = this.pendingHead * m;
    for (let j = 0; j < m; j++) this.pending[at + j] = shape[j]!;
    this.pendingHead = this.pendingHead + 1 === m ? 0 : this.pendingHead + 1;
  }
}

class Knn implements AnomalyScorer {
  private readonly distance: NeighbourDistance;
  private readonly surprise: SurpriseScore;
  private readonly rest: Rest;

  constructor(p: Params) {
    this.distance = new NeighbourDistance(p);
    this.surprise = new SurpriseScore(p);
    this.rest = new Rest(p.rest, RECORD_LEVEL);
  }

  score(t: number, value: number): number {
    if (!Number.isFinite(value) || !Number.isFinite(t)) return 0;
    return unit(this.rest.apply(this.surprise.score(this.distance.update(t, value))));
  }
}

/** The k-nearest-neighbour detector. */
export const knn: DetectorDefinition<Params> = {
  name: 'knn',
  description: 'distance: mean distance of the latest shape (the last few values) to its k nearest among the past days, as a record against recent surprises',
  family: 'distance',
  params: KNN_PARAMS,
  threshold: ANOMALY_THRESHOLD,
  create: (params) => new Knn(resolveParams('knn', KNN_PARAMS, params)),
};

/** The first index in sorted[0..n) whose value is ≥ x. */
function lowerBound(sorted: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
