/**
 * Seasonal forecaster's residual: an additive Holt-Winters model (level, damped trend, a daily
 * profile by time of day, a weekly profile by hour of week) forecasts each value; the surprise is
 * the forecast error over a robust running scale of past errors. Errors are clipped before they
 * update the model, so an outlier does not bend the forecast that judges the next point.
 */
import { DAY_MS, SamplingInterval, unit, WEEK_MS } from '../rolling.ts';
import { ANOMALY_THRESHOLD, RECORD_LEVEL, Rest, SURPRISE_PARAMS, SurpriseScore } from '../surprise.ts';
import { resolveParams, type AnomalyScorer, type DetectorDefinition, type ParamSpec } from './types.ts';

/** The Holt-Winters detector's parameters. */
export const HOLT_WINTERS_PARAMS = {
  alpha: { default: 0.2, min: 0.001, max: 1, description: 'level smoothing' },
  beta: { default: 0, min: 0, max: 1, description: 'trend smoothing (0 = no trend term; the level follows a trend on its own)' },
  gamma: { default: 0.3, min: 0, max: 1, description: 'daily profile smoothing, per visit of a time-of-day bin (0 = no daily season)' },
  delta: { default: 0, min: 0, max: 1, description: 'weekly profile smoothing, per visit of an hour-of-week bin (0 = no weekly season)' },
  scaleRate: { default: 0.02, min: 0.0001, max: 1, description: 'rate at which the error scale follows recent absolute errors' },
  clip: { default: 4, min: 1, max: 100, description: 'errors beyond this many scales are clipped before they update the model' },
  ...SURPRISE_PARAMS,
} satisfies Record<string, ParamSpec>;

type Params = { [K in keyof typeof HOLT_WINTERS_PARAMS]: number };

/** At most this many bins in the daily profile (5-minute resolution). */
const MAX_DAY_BINS = 288;
/** No daily season when samples are further apart than this. */
const MAX_SEASONAL_INTERVAL = DAY_MS / 4;
/** Trend damping per step (a damped trend never runs away on a long extrapolation). */
const PHI = 0.98;

/**
 * A piecewise-linear profile over a cycle (a day or a week): the value at a time interpolates the
 * two nearest bins, and a correction is shared between them by the same weights, so timestamps
 * that wander a little across bin edges still learn one smooth profile.
 */
class Profile {
  private readonly bins: Float64Array;
  private readonly seen: Uint8Array;
  private lo = 0;
  private hi = 0;
  private w = 0;

  constructor(private readonly n: number, private readonly period: number) {
    this.bins = new Float64Array(n);
    this.seen = new Uint8Array(n);
  }

  /** Positions the profile at time t (sets the two bins and the weight used by at/learn). */
  locate(t: number): void {
    let phase = (t % this.period) / this.period;
    if (phase < 0) phase += 1;
    const x = phase * this.n;
    const fl = Math.floor(x);
    this.w = x - fl;
    this.lo = fl < 0 ? this.n - 1 : fl;
    this.hi = fl + 1 >= this.n ? 0 : fl + 1;
  }

  /** True when both bins at the current position have been learnt. */
  known(): boolean {
    return this.seen[this.lo] === 1 && this.seen[this.hi] === 1;
  }

  at(): number {
    const a = this.seen[this.lo] ? this.bins[this.lo]! : this.bins[this.hi]!;
    const b = this.seen[this.hi] ? this.bins[this.hi]! : a;
    return a + (b - a) * this.w;
  }

  /** Moves the profile at the current position by `rate` of `error`; a bin's first visit takes `first`. */
  learn(error: number, rate: number, first: number): void {
    this.update(this.lo, 1 - this.w, error, rate, first);
    this.update(this.hi, this.w, error, rate, first);
  }

  private update(i: number, weight: number, error: number, rate: number, first: number): void {
    if (weight <= 0) return;
    if (!this.seen[i]) {
      if (weight < 0.5) return;
      this.bins[i] = first;
      this.seen[i] = 1;
      return;
    }
    this.bins[i] = this.bins[i]! + rate * weight * error;
  }
}

/** The forecast error of each value in scale units (NaN while the model learns its first day). */
export class SeasonalResidual {
  private readonly interval = new SamplingInterval();
  private day: Profile | null = null;
  private week: Profile | null = null;
  private seasonalFrom = Number.NaN;
  private level = Number.NaN;
  private trend = 0;
  private scale = Number.NaN;
  private spread = 0;
  private warm = 0;

  constructor(private readonly p: Pick<Params, 'alpha' | 'beta' | 'gamma' | 'delta' | 'scaleRate' | 'clip'>) {}

  update(t: number, x: number): number {
    const p = this.p;
    this.interval.observe(t);
    if (Number.isNaN(this.level)) {
      this.level = x;
      return Number.NaN;
    }
    // Seasons start once the cadence is known and allows them.
    if (!this.day && Number.isNaN(this.seasonalFrom) && this.interval.settled) {
      this.seasonalFrom = t;
      const dt = this.interval.ms;
      if (p.gamma > 0 && dt <= MAX_SEASONAL_INTERVAL) this.day = new Profile(Math.max(4, Math.min(MAX_DAY_BINS, Math.round(DAY_MS / dt))), DAY_MS);
      if (p.delta > 0 && dt <= DAY_MS / 24) this.week = new Profile(7 * 24, WEEK_MS);
    }
    const day = this.day;
    const week = this.week;
    day?.locate(t);
    week?.locate(t);
    const seasonal = (day && day.known() ? day.at() : 0) + (week && week.known() ? week.at() : 0);
    const forecast = this.level + PHI * this.trend + seasonal;
    const error = x - forecast;
    const absError = Math.abs(error);
    // Warm once a whole day has been seen by the season (or 32 samples without one).
    const warmed = !Number.isNaN(this.seasonalFrom) && (day || week ? t - this.seasonalFrom >= DAY_MS : ++this.warm >= 32);
    let z = Number.NaN;
    const floor = 1e-3 * this.spread + 1e-9 * Math.abs(this.level) + 1e-12;
    if (Number.isNaN(this.scale)) this.scale = absError;
    else if (warmed) z = absError / Math.max(this.scale, floor);
    const limit = p.clip * Math.max(this.scale, floor);
    const clipped = error > limit ? limit : error < -limit ? -limit : error;
    this.scale += p.scaleRate * (Math.min(absError, limit) - this.scale);
    this.spread += 0.01 * (Math.abs(x - this.level) - this.spread);
    // Error-correction form of additive Holt-Winters, with the clipped error.
    const prevLevel = this.level;
    this.level = prevLevel + PHI * this.trend + p.alpha * clipped;
    this.trend = PHI * this.trend + p.alpha * p.beta * clipped;
    const seasonalError = clipped * (1 - p.alpha);
    if (day) day.learn(week ? seasonalError * 0.5 : seasonalError, p.gamma, x - this.level - (week && week.known() ? week.at() : 0));
    if (week) week.learn(day ? seasonalError * 0.5 : seasonalError, p.delta, x - this.level - (day && day.known() ? day.at() : 0));
    return z;
  }
}

class HoltWinters implements AnomalyScorer {
  private readonly residual: SeasonalResidual;
  private readonly surprise: SurpriseScore;
  private readonly rest: Rest;

  constructor(p: Params) {
    this.residual = new SeasonalResidual(p);
    this.surprise = new SurpriseScore(p);
    this.rest = new Rest(p.rest, RECORD_LEVEL);
  }

  score(t: number, value: number): number {
    if (!Number.isFinite(value) || !Number.isFinite(t)) return 0;
    return unit(this.rest.apply(this.surprise.score(this.residual.update(t, value))));
  }
}

/** The Holt-Winters residual detector. */
export const holtWinters: DetectorDefinition<Params> = {
  name: 'holt-winters',
  description: 'seasonal forecaster: Holt-Winters forecast error (daily profile by time of day) over a robust error scale, as a record against recent surprises',
  family: 'seasonal-forecast',
  params: HOLT_WINTERS_PARAMS,
  threshold: ANOMALY_THRESHOLD,
  create: (params) => new HoltWinters(resolveParams('holt-winters', HOLT_WINTERS_PARAMS, params)),
};
