/**
 * From a raw surprise (a robust z, a forecast error in scale units, a distance) to a score in
 * [0, 1] that means the same on every series, and from scores to events. Pure and streaming.
 *
 * - RecordScale: r / (r + the largest surprise of the last `history` ones, or `floor` times the
 *   typical one if that is more). 0.5 is "as surprising as anything lately", above 0.5 a new
 *   record; how a series usually behaves sets its own bar, so a noisy series and a quiet one
 *   share one threshold.
 * - SurpriseScore: that, for the surprise itself and for its mean over the last `smoothing`
 *   samples (a sustained shift whose single points are each unremarkable), whichever is higher.
 * - Rest: once a score reaches the record level, the next samples are damped for a while (unless
 *   they beat it), so one event alarms once instead of at every sample it lasts (as CAD OSE and
 *   KNN-CAD do).
 */
import type { ParamSpec } from './detectors/types.ts';
import { MovingMean, RunningMax } from './rolling.ts';

/** A score of 0.5 is a surprise equal to the bar: anything above is a new record. */
export const RECORD_LEVEL = 0.5;

/**
 * The recommended threshold of every surprise-based detector: a record that beats the bar by
 * 8% or more. (NAB's optimiser, free to pick any threshold, lands close to it.)
 */
export const ANOMALY_THRESHOLD = 0.52;

/** The parameters every surprise-based detector shares. */
export const SURPRISE_PARAMS = {
  history: { default: 1500, min: 10, max: 100_000, integer: true, description: 'past surprises whose largest sets the bar for a new one' },
  smoothing: { default: 24, min: 1, max: 1000, integer: true, description: 'samples averaged for the sustained-shift score (1 = off)' },
  floor: { default: 6, min: 0, max: 1000, description: 'a record must also be this many times the typical surprise (0 = off)' },
  rest: { default: 30, min: 0, max: 100_000, integer: true, description: 'samples damped after a record, so one event alarms once' },
} as const satisfies Record<string, ParamSpec>;

/** Surprises remembered before RecordScale scores anything (the score is 0 until then). */
const RECORD_WARMUP = 100;
/** Rate of the running mean of surprises that the significance floor is a multiple of (about 200 samples). */
const TYPICAL_RATE = 0.005;

/**
 * r / (r + bar): the bar is the largest of the last `history` surprises, but never less than
 * `floor` times their running mean, so the record of a quiet, noise-only stretch (which happens
 * about once per `history` samples by chance alone) is not an anomaly unless it is also large.
 * A NaN surprise (the model still warming up) scores 0 and is not remembered.
 */
export class RecordScale {
  private readonly past: RunningMax;
  private typical = Number.NaN;
  private seen = 0;

  constructor(history: number, private readonly floor = 0, private readonly warmup = Math.min(RECORD_WARMUP, history)) {
    this.past = new RunningMax(history);
  }

  score(r: number): number {
    if (!(r >= 0)) return 0;
    const ready = this.past.size >= this.warmup;
    let bar = this.past.max();
    const least = this.floor * this.typical;
    if (bar < least) bar = least;
    // A plain mean until there are 1/TYPICAL_RATE surprises, so the first one does not linger.
    this.seen++;
    this.typical = this.seen === 1 ? r : this.typical + Math.max(TYPICAL_RATE, 1 / this.seen) * (r - this.typical);
    this.past.push(r);
    if (!ready) return 0;
    return r / (r + bar + 1e-12);
  }
}

/** Options shared by every surprise-based detector. */
export interface SurpriseOptions {
  /** Surprises the record bar is taken over. */
  history: number;
  /** Samples averaged for the sustained-shift score (1 = off). */
  smoothing: number;
  /** A record must also be this many times the typical surprise (0 = off). */
  floor: number;
}

/**
 * The point score and the sustained score of one raw surprise stream, whichever is higher. The
 * mean of k surprises wanders about √k times less than one does, so its floor is 1 + (floor − 1) / √k.
 */
export class SurpriseScore {
  private readonly point: RecordScale;
  private readonly sustained: RecordScale | null;
  private readonly mean: MovingMean | null;

  constructor(opts: SurpriseOptions) {
    this.point = new RecordScale(opts.history, opts.floor);
    const k = opts.smoothing;
    this.sustained = k > 1 ? new RecordScale(opts.history, opts.floor > 1 ? 1 + (opts.floor - 1) / Math.sqrt(k) : opts.floor) : null;
    this.mean = k > 1 ? new MovingMean(k) : null;
  }

  /** Scores raw surprise `r` (NaN while the model warms up). */
  score(r: number): number {
    const a = this.point.score(r);
    if (!this.mean || !this.sustained || !(r >= 0)) return a;
    this.mean.push(r);
    const b = this.sustained.score(this.mean.mean());
    return a > b ? a : b;
  }
}

/**
 * Damps scores for `samples` samples after a score at or above `level` (the rest period), except
 * a score higher than every one since the rest began: a bigger event still alarms.
 */
export class Rest {
  private since = Number.POSITIVE_INFINITY;
  private peak = 0;

  constructor(private readonly samples: number, private readonly level: number, private readonly damping = 0.5) {}

  apply(score: number): number {
    this.since++;
    const resting = this.since <= this.samples;
    const out = resting && score <= this.peak ? score * this.damping : score;
    if (score >= this.level) {
      if (!resting || score > this.peak) this.peak = score;
      this.since = 0;
    }
    return out;
  }
}
