// Multi-window, multi-burn-rate SLO alerts (SRE Workbook): 99.9% → 1h&5m at 14.4×, 6h&30m at 6×, 3d&6h at 1×.
import { describe, expect, it } from 'vitest';
import {
  burnRate,
  evaluateBurnRate,
  evaluateBurnRateFromCounters,
  windowErrorRatio,
  WORKBOOK_WINDOWS,
  type CounterSample,
} from '../../src/analyze/detectors/burn-rate.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const slo = { objective: 0.999 };

/** Error ratios by window length. */
const ratios = (by: Record<number, number | undefined>) => (windowMs: number) => by[windowMs];

describe('burn rates', () => {
  it('is the error ratio over the budget', () => {
    expect(burnRate(0.001, 0.999)).toBeCloseTo(1, 9);
    expect(burnRate(0.0144, 0.999)).toBeCloseTo(14.4, 9);
  });

  it('uses the Workbook windows by default', () => {
    expect(WORKBOOK_WINDOWS.map((w) => [w.longMs, w.shortMs, w.factor, w.severity])).toEqual([
      [HOUR, 5 * MIN, 14.4, 'page'],
      [6 * HOUR, 30 * MIN, 6, 'page'],
      [3 * DAY, 6 * HOUR, 1, 'ticket'],
    ]);
  });
});

describe('evaluateBurnRate', () => {
  it('pages when both the 1 h and the 5 m windows burn faster than 14.4×', () => {
    const r = evaluateBurnRate(slo, ratios({ [HOUR]: 0.02, [5 * MIN]: 0.05, [6 * HOUR]: 0.004, [30 * MIN]: 0.02, [3 * DAY]: 0.0005, [6 * HOUR]: 0.004 }));
    expect(r.firing).toBe(true);
    expect(r.severity).toBe('page');
    expect(r.alerts[0]).toMatchObject({ firing: true, longMs: HOUR, shortMs: 5 * MIN });
    expect(r.alerts[0]!.longBurnRate).toBeCloseTo(20, 9);
    expect(r.alerts[0]!.shortBurnRate).toBeCloseTo(50, 9);
    expect(r.alerts[1]!.firing).toBe(false);
  });

  it('does not fire on the long window alone once the short one has recovered (the burning stopped)', () => {
    const r = evaluateBurnRate(slo, ratios({ [HOUR]: 0.02, [5 * MIN]: 0.0001, [6 * HOUR]: 0.0001, [30 * MIN]: 0.0001, [3 * DAY]: 0.0001 }));
    expect(r.firing).toBe(false);
  });

  it('does not fire on a short burst the long window has not confirmed', () => {
    const r = evaluateBurnRate(slo, ratios({ [HOUR]: 0.005, [5 * MIN]: 0.5, [6 * HOUR]: 0.001, [30 * MIN]: 0.05, [3 * DAY]: 0.0002 }));
    expect(r.firing).toBe(false);
  });

  it('opens a ticket for a slow burn above 1× over 3 days and 6 hours', () => {
    const r = evaluateBurnRate(slo, ratios({ [HOUR]: 0.0012, [5 * MIN]: 0.0012, [6 * HOUR]: 0.0012, [30 * MIN]: 0.0012, [3 * DAY]: 0.0012 }));
    expect(r).toMatchObject({ firing: true, severity: 'ticket' });
    expect(r.alerts.map((a) => a.firing)).toEqual([false, false, true]);
  });

  it('is strictly above the factor, and a window without data cannot fire', () => {
    expect(evaluateBurnRate(slo, () => 0.0144).alerts[0]!.firing).toBe(false);
    const r = evaluateBurnRate(slo, ratios({ [HOUR]: 0.5 }));
    expect(r.firing).toBe(false);
    expect(r.alerts[0]!.reason).toMatch(/no data/);
  });

  it('takes other objectives and windows', () => {
    const r = evaluateBurnRate({ objective: 0.99, windows: [{ longMs: HOUR, shortMs: 10 * MIN, factor: 2, severity: 'warn' }] }, () => 0.03);
    expect(r).toMatchObject({ firing: true, severity: 'warn', errorBudget: expect.closeTo(0.01, 9) });
  });

  it('refuses a bad objective or window, naming the field', () => {
    expect(() => evaluateBurnRate({ objective: 1 }, () => 0)).toThrow(/objective/);
    expect(() => evaluateBurnRate({ objective: 0.99, windows: [{ longMs: MIN, shortMs: HOUR, factor: 1, severity: 'x' }] }, () => 0)).toThrow(/short window longer/);
    expect(() => evaluateBurnRate({ objective: 0.99, windows: [{ longMs: HOUR, shortMs: MIN, factor: 0, severity: 'x' }] }, () => 0)).toThrow(/factor/);
  });
});

describe('from counters', () => {
  /** One scrape a minute: `rate` requests a minute, `errorsAt(t)` of them failing. */
  function scrapes(minutes: number, rate: number, errorShare: (minute: number) => number, resetAt?: number): CounterSample[] {
    const out: CounterSample[] = [];
    let errors = 0;
    let total = 0;
    for (let m = 0; m <= minutes; m++) {
      if (m === resetAt) {
        errors = 0;
        total = 0;
      }
      out.push({ t: m * MIN, errors, total });
      errors += rate * errorShare(m);
      total += rate;
    }
    return out;
  }

  it('computes error ratios over a window, across a counter reset', () => {
    const s = scrapes(120, 100, (m) => (m >= 60 ? 0.1 : 0));
    expect(windowErrorRatio(s, 120 * MIN, HOUR)).toBeCloseTo(0.1, 9);
    expect(windowErrorRatio(s, 120 * MIN, 2 * HOUR)).toBeCloseTo(0.05, 9);
    const reset = scrapes(120, 100, (m) => (m >= 60 ? 0.1 : 0), 90);
    expect(windowErrorRatio(reset, 120 * MIN, HOUR)).toBeCloseTo(0.1, 2);
    expect(windowErrorRatio([], 0, HOUR)).toBeUndefined();
    expect(windowErrorRatio(scrapes(10, 0, () => 0), 10 * MIN, HOUR)).toBeUndefined();
  });

  it('pages for an outage burning 50×, stops paging within the short windows after it ends, and leaves a ticket', () => {
    // 3 days of 0.05% errors, then 5% errors from minute 4320 to 4380, then clean again.
    const minutes = 3 * 1440 + 120;
    const s = scrapes(minutes, 100, (m) => (m >= 4320 && m < 4380 ? 0.05 : 0.0005));
    const at = (m: number) => evaluateBurnRateFromCounters(slo, s, m * MIN);
    expect(at(4300).firing).toBe(false);
    expect(at(4340)).toMatchObject({ firing: true, severity: 'page' });
    // 10 minutes after: the 1h/5m alert has stopped, the 6h/30m one not yet.
    expect(at(4390).alerts.map((a) => a.firing)).toEqual([false, true, true]);
    // 40 minutes after: no page; an hour at 50× spent 7% of a 30-day budget, so the 3d/6h ticket stays.
    expect(at(4420)).toMatchObject({ firing: true, severity: 'ticket' });
  });
});
