/**
 * Robust statistic: how far a value lies from the median of a sliding window, in units of the
 * window's median absolute deviation (a robust z). The window spans a day by default, so the
 * daily swing widens the band instead of alarming, and a trend only moves the median.
 */
import { DAY_MS, SamplingInterval, SlidingWindow, unit } from '../rolling.ts';
import { ANOMALY_THRESHOLD, RECORD_LEVEL, Rest, SURPRISE_PARAMS, SurpriseScore } from '../surprise.ts';
import { resolveParams, type AnomalyScorer, type DetectorDefinition, type ParamSpec } from './types.ts';

/** The median/MAD detector's parameters. */
export const MEDIAN_MAD_PARAMS = {
  window: { default: 0, min: 0, max: 10_000, integer: true, description: 'samples in the sliding window; 0 = one day at the learned sampling interval (32 to 2048)' },
  ...SURPRISE_PARAMS,
} satisfies Record<string, ParamSpec>;

type Params = { [K in keyof typeof MEDIAN_MAD_PARAMS]: number };

/** 1.4826 · MAD estimates σ for normal data. */
const MAD_TO_SIGMA = 1.4826;
/** Bounds of the one-day window, in samples. */
const MIN_WINDOW = 32;
const MAX_WINDOW = 2048;

/** The robust z of each value against the window before it (NaN until the window is full). */
export class RobustZ {
  private readonly interval = new SamplingInterval();
  private window: SlidingWindow | null;
  private early: number[] = [];

  /** `samples` = 0: one day at the learned sampling interval. */
  constructor(samples: number) {
    this.window = samples > 0 ? new SlidingWindow(samples) : null;
  }

  update(t: number, value: number): number {
    let w = this.window;
    if (!w) {
      // Until the cadence is known, keep the values; then size the window to a day and replay them.
      this.interval.observe(t);
      this.early.push(value);
      if (!this.interval.settled) return Number.NaN;
      const samples = Math.max(MIN_WINDOW, Math.min(MAX_WINDOW, Math.round(DAY_MS / this.interval.ms)));
      w = this.window = new SlidingWindow(samples);
      for (const x of this.early.slice(-samples - 1, -1)) w.push(x);
      this.early = [];
    }
    let z = Number.NaN;
    if (w.full) {
      const med = w.median();
      // A floor on the scale keeps a flat window (MAD 0) from turning the smallest change into infinity.
      const floor = 1e-3 * (w.max() - w.min()) + 1e-9 * Math.abs(med) + 1e-12;
      const scale = Math.max(MAD_TO_SIGMA * w.mad(med), floor);
      z = Math.abs(value - med) / scale;
    }
    w.push(value);
    return z;
  }
}

class MedianMad implements AnomalyScorer {
  private readonly z: RobustZ;
  private readonly surprise: SurpriseScore;
  private readonly rest: Rest;

  constructor(p: Params) {
    this.z = new RobustZ(p.window);
    this.surprise = new SurpriseScore(p);
    this.rest = new Rest(p.rest, RECORD_LEVEL);
  }

  score(t: number, value: number): number {
    if (!Number.isFinite(value) || !Number.isFinite(t)) return 0;
    return unit(this.rest.apply(this.surprise.score(this.z.update(t, value))));
  }
}

/** The median/MAD detector. */
export const medianMad: DetectorDefinition<Params> = {
  name: 'median-mad',
  description: 'robust statistic: robust z against the median and MAD of the last day, as a record against recent surprises',
  family: 'robust-statistic',
  params: MEDIAN_MAD_PARAMS,
  threshold: ANOMALY_THRESHOLD,
  create: (params) => new MedianMad(resolveParams('median-mad', MEDIAN_MAD_PARAMS, params)),
};
