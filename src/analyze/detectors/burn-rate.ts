/**
 * Multi-window, multi-burn-rate SLO alerts (Google SRE Workbook, "Alerting on SLOs"), pure over
 * error ratios. The burn rate of a window is its error ratio over the error budget (1 − objective);
 * an alert fires when both its long and its short window burn faster than its factor — the long
 * window makes it significant, the short one makes it stop soon after the burning does.
 */
import { ValidationError } from '../../errors.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** One alert: both windows must burn faster than `factor`. */
export interface BurnRateWindow {
  longMs: number;
  shortMs: number;
  factor: number;
  severity: string;
}

/** The Workbook's windows for a 30-day 99.9% objective: 2% of the budget in 1 h, 5% in 6 h, 10% in 3 d. */
export const WORKBOOK_WINDOWS: readonly BurnRateWindow[] = Object.freeze([
  { longMs: HOUR, shortMs: 5 * MINUTE, factor: 14.4, severity: 'page' },
  { longMs: 6 * HOUR, shortMs: 30 * MINUTE, factor: 6, severity: 'page' },
  { longMs: 3 * DAY, shortMs: 6 * HOUR, factor: 1, severity: 'ticket' },
]);

/** The objective and its alert windows. */
export interface SloSpec {
  /** The target good ratio, e.g. 0.999. */
  objective: number;
  /** Default: WORKBOOK_WINDOWS. */
  windows?: readonly BurnRateWindow[];
}

/** One alert's verdict and its evidence. */
export interface BurnRateAlert extends BurnRateWindow {
  longErrorRatio?: number;
  shortErrorRatio?: number;
  longBurnRate?: number;
  shortBurnRate?: number;
  firing: boolean;
  /** Why it cannot fire (a window without data). */
  reason?: string;
}

/** All alerts of one SLO at one instant. */
export interface BurnRateResult {
  objective: number;
  errorBudget: number;
  firing: boolean;
  /** The first firing alert's severity (windows are listed most urgent first). */
  severity?: string;
  alerts: BurnRateAlert[];
}

/** The burn rate of an error ratio: 1 spends the budget exactly over the SLO period. */
export function burnRate(errorRatio: number, objective: number): number {
  return errorRatio / (1 - objective);
}

function check(spec: SloSpec): readonly BurnRateWindow[] {
  if (!(spec.objective > 0 && spec.objective < 1)) throw new ValidationError(`SLO: objective must be in (0, 1), got ${spec.objective}`, 'objective');
  const windows = spec.windows ?? WORKBOOK_WINDOWS;
  windows.forEach((w, i) => {
    if (!(w.longMs > 0) || !(w.shortMs > 0)) throw new ValidationError(`SLO: window ${i} needs positive longMs and shortMs`, `windows[${i}]`);
    if (w.shortMs > w.longMs) throw new ValidationError(`SLO: window ${i} has a short window longer than its long one`, `windows[${i}].shortMs`);
    if (!(w.factor > 0)) throw new ValidationError(`SLO: window ${i} needs a positive factor, got ${w.factor}`, `windows[${i}].factor`);
  });
  return windows;
}

/**
 * Evaluates every alert of the SLO. `errorRatio(windowMs)` gives the error ratio over the last
 * `windowMs` (undefined when there is no data: that alert cannot fire).
 */
export function evaluateBurnRate(spec: SloSpec, errorRatio: (windowMs: number) => number | undefined): BurnRateResult {
  const windows = check(spec);
  const budget = 1 - spec.objective;
  const alerts = windows.map((w): BurnRateAlert => {
    const longErrorRatio = errorRatio(w.longMs);
    const shortErrorRatio = errorRatio(w.shortMs);
    if (longErrorRatio === undefined || shortErrorRatio === undefined || Number.isNaN(longErrorRatio) || Number.isNaN(shortErrorRatio)) {
      return { ...w, longErrorRatio, shortErrorRatio, firing: false, reason: 'no data for a window' };
    }
    const longBurnRate = longErrorRatio / budget;
    const shortBurnRate = shortErrorRatio / budget;
    return { ...w, longErrorRatio, shortErrorRatio, longBurnRate, shortBurnRate, firing: longBurnRate > w.factor && shortBurnRate > w.factor };
  });
  const first = alerts.find((a) => a.firing);
  return { objective: spec.objective, errorBudget: budget, firing: first !== undefined, ...(first ? { severity: first.severity } : {}), alerts };
}

/** Cumulative counters at one time (as scraped: they only grow, except across a restart). */
export interface CounterSample {
  t: number;
  errors: number;
  total: number;
}

/** How much a counter grew between samples i0 and i1, counting a drop as a restart from 0 (as `increase` does). */
function increase(samples: readonly CounterSample[], i0: number, i1: number, field: 'errors' | 'total'): number {
  let sum = 0;
  for (let i = i0 + 1; i <= i1; i++) {
    const prev = samples[i - 1]![field];
    const cur = samples[i]![field];
    sum += cur >= prev ? cur - prev : cur;
  }
  return sum;
}

/**
 * The error ratio over (now − windowMs, now] from counter samples in time order: errors added over
 * requests added, from the last sample at or before the window's start (or the first inside it) to
 * the last at or before `now`. Undefined with fewer than two samples or no requests.
 */
export function windowErrorRatio(samples: readonly CounterSample[], now: number, windowMs: number): number | undefined {
  let end = -1;
  for (let i = samples.length - 1; i >= 0; i--) {
    if (samples[i]!.t <= now) {
      end = i;
      break;
    }
  }
  if (end < 1) return undefined;
  const start = now - windowMs;
  let begin = end;
  while (begin > 0 && samples[begin]!.t > start) begin--;
  if (begin === end) return undefined;
  const total = increase(samples, begin, end, 'total');
  if (!(total > 0)) return undefined;
  return Math.min(1, increase(samples, begin, end, 'errors') / total);
}

/** evaluateBurnRate over counter samples at time `now`. */
export function evaluateBurnRateFromCounters(spec: SloSpec, samples: readonly CounterSample[], now: number): BurnRateResult {
  return evaluateBurnRate(spec, (windowMs) => windowErrorRatio(samples, now, windowMs));
}
