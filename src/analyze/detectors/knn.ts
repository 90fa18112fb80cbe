/**
 * Distance: the shape of the last few samples (each scaled by the robust spread of the last day)
 * against the shapes seen over the past days; the surprise is the mean distance to the k nearest.
 * A pattern that recurs every day, or every few hours, has near neighbours and stays quiet.
 */
import { DAY_MS, SamplingInterval, SlidingWindow, unit } from '../rolling.ts';
import { Rest, SurpriseScore } from '../surprise.ts';
import { RECORD_LEVEL } from './median-mad.ts';
import { resolveParams, type AnomalyScorer, type DetectorDefinition, type ParamSpec } from './types.ts';

export const KNN_PARAMS = {
  dimension: { default: 6, min: 1, max: 64, integer: true, description: 'samples per shape' },
  neighbours: { default: 3, min: 1, max: 32, integer: true, description: 'k: nearest shapes averaged' },
  memory: { default: 128, min: 8, max: 4096, integer: true, description: 'shapes remembered' },
  span: { default: 2, min: 0.01, max: 60, description: 'days the memory covers (it keeps every n-th shape to span them)' },
  history: { default: 1500, min: 10, max: 100_000, integer: true, description: 'past surprises whose largest sets the bar for a new one' },
  smoothing: { default: 12, min: 1, max: 1000, integer: true, description: 'samples averaged for the sustained-shift score (1 = off)' },
  rest: { default: 30, min: 0, max: 100_000, integer: true, description: 'samples damped after an anomaly, so one event alarms once' },
} satisfies Record<string, ParamSpec>;

type Params = { [K in keyof typeof KNN_PARAMS]: number };

/** The window that scales the shapes: a day, bounded in samples. */
const MIN_SCALE_WINDOW = 32;
const MAX_SCALE_WINDOW = 2048;

/** The mean distance from the newest shape to its k nearest remembered shapes (NaN while learning). */
export class NeighbourDistance {
  private readonly interval = new SamplingInterval();
  private readonly m: number;
  private readonly k: number;
  private readonly capacity: number;
  private scaleWindow: SlidingWindow | null = null;
  private early: number[] = [];
  /** The last m normalised values, and the shapes waiting m samples before they are remembered. */
  private readonly recent: Float64Array;
  private recentCount = 0;
  private readonly pending: Float64Array;
  private pendingCount = 0;
  private pendingHead = 0;
  private readonly memory: Float64Array;
  private memoryCount = 0;
  private memoryHead = 0;
  private stride = 1;
  private step = 0;
  private readonly best: Float64Array;

  constructor(private readonly p: Pick<Params, 'dimension' | 'neighbours' | 'memory' | 'span'>) {
    this.m = p.dimension;
    this.k = Math.min(p.neighbours, p.memory);
    this.capacity = p.memory;
    this.recent = new Float64Array(this.m);
    this.pending = new Float64Array(this.m * this.m);
    this.memory = new Float64Array(this.capacity * this.m);
    this.best = new Float64Array(this.k);
  }

  update(t: number, x: number): number {
    let w = this.scaleWindow;
    if (!w) {
      this.interval.observe(t);
      this.early.push(x);
      if (!this.interval.settled) return Number.NaN;
      const perDay = DAY_MS / this.interval.ms;
      w = this.scaleWindow = new SlidingWindow(Math.max(MIN_SCALE_WINDOW, Math.min(MAX_SCALE_WINDOW, Math.round(perDay))));
      this.stride = Math.max(1, Math.round((perDay * this.p.span) / this.capacity));
      for (const v of this.early.slice(-w.capacity - 1, -1)) w.push(v);
      this.early = [];
    }
    if (!w.full) {
      w.push(x);
      return Number.NaN;
    }
    const med = w.median();
    const scale = Math.max(1.4826 * w.mad(med), 1e-3 * (w.max() - w.min()) + 1e-9 * Math.abs(med) + 1e-12);
    w.push(x);
    // Shift the newest normalised value into the shape.
    const m = this.m;
    const recent = this.recent;
    recent.copyWithin(0, 1);
    recent[m - 1] = (x - med) / scale;
    if (this.recentCount < m) {
      this.recentCount++;
      if (this.recentCount < m) return Number.NaN;
    }
    const shape = recent;
    const d = this.memoryCount >= this.k ? this.nearest(shape) : Number.NaN;
    this.remember(shape);
    return d;
  }

  private nearest(shape: Float64Array): number {
    const m = this.m;
    const k = this.k;
    const best = this.best;
    best.fill(Number.POSITIVE_INFINITY);
    const mem = this.memory;
    let worst = Number.POSITIVE_INFINITY;
    for (let q = 0, o = 0; q < this.memoryCount; q++, o += m) {
      let d = 0;
      for (let j = 0; j < m; j++) {
        const e = shape[j]! - mem[o + j]!;
        d += e * e;
        if (d >= worst) break;
      }
      if (d < worst) {
        let at = k - 1;
        while (at > 0 && best[at - 1]! > d) {
          best[at] = best[at - 1]!;
          at--;
        }
        best[at] = d;
        worst = best[k - 1]!;
      }
    }
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.sqrt(best[j]!);
    return s / k;
  }

  /** Queues the shape; the one queued m samples ago (no longer overlapping) joins the memory, every stride-th. */
  private remember(shape: Float64Array): void {
    const m = this.m;
    if (this.pendingCount === m) {
      if (this.step++ % this.stride === 0) {
        const from = this.pendingHead * m;
        const to = this.memoryHead * m;
        for (let j = 0; j < m; j++) this.memory[to + j] = this.pending[from + j]!;
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
  description: 'distance: mean distance of the latest shape (a few samples, robustly scaled) to its k nearest among the past days, as a record against recent surprises',
  family: 'distance',
  params: KNN_PARAMS,
  threshold: RECORD_LEVEL,
  create: (params) => new Knn(resolveParams('knn', KNN_PARAMS, params)),
};
