/**
 * From a raw surprise (a robust z, a forecast error in scale units, a distance) to a score in
 * [0, 1] that means the same on every series, and from scores to events. Pure and streaming.
 *
 * - RecordScale: r / (r + the largest surprise of the last `history` ones). 0.5 is "as surprising
 *   as anything lately", above 0.5 a new record; how a series usually behaves sets its own bar,
 *   so a noisy series and a quiet one share one threshold.
 * - SurpriseScore: that, for the surprise itself and for its mean over a few samples (a sustained
 *   shift whose single points are each unremarkable), whichever is higher.
 * - Rest: once an event scored at or above the threshold, the next samples are damped for a while,
 *   so one event alarms once instead of at every sample it lasts (as CAD OSE and KNN-CAD do).
 */
import { MovingMean, RunningMax } from './rolling.ts';

/** Surprises remembered before RecordScale scores anything (the score is 0 until then). */
const RECORD_WARMUP = 100;

/** r / (r + max of recent surprises); a NaN surprise (the model still warming up) scores 0 and is not remembered. */
export class RecordScale {
  private readonly past: RunningMax;

  constructor(history: number, private readonly warmup = Math.min(RECORD_WARMUP, history)) {
    this.past = new RunningMax(history);
  }

  private typical = Number.NaN;

  score(r: number): number {
    if (!(r >= 0)) return 0;
    const ready = this.past.size >= this.warmup;
    let bar = this.past.max();
    const c = Number(process.env.FLOOR ?? 0);
    if (c > 0 && bar < c * this.typical) bar = c * this.typical;
    this.typical = Number.isNaN(this.typical) ? r : this.typical + 0.005 * (r - this.typical);
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
}

/** The point score and the sustained score of one raw surprise stream, whichever is higher. */
export class SurpriseScore {
  private readonly point: RecordScale;
  private readonly sustained: RecordScale | null;
  private readonly mean: MovingMean | null;

  constructor(opts: SurpriseOptions) {
    this.point = new RecordScale(opts.history);
    this.sustained = opts.smoothing > 1 ? new RecordScale(opts.history) : null;
    this.mean = opts.smoothing > 1 ? new MovingMean(opts.smoothing) : null;
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

/** Damps scores for `samples` samples after any score at or above `level` (the rest period). */
export class Rest {
  private since = Number.POSITIVE_INFINITY;

  constructor(private readonly samples: number, private readonly level: number, private readonly damping = 0.5) {}

  apply(score: number): number {
    this.since++;
    const out = this.since <= this.samples ? score * this.damping : score;
    if (score >= this.level) this.since = 0;
    return out;
  }
}
