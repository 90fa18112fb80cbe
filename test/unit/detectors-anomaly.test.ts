// The anomaly detectors: scores in [0, 1], no look-ahead, silent on trend with daily and weekly
// seasons, loud on an injected spike or level shift. Synthetic series from a seeded generator.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { detectorNamed, detectors, recommendedDetector } from '../../src/analyze/detectors/index.ts';
import { resolveParams, scoreSeries, type DetectorDefinition } from '../../src/analyze/detectors/types.ts';
import { ValidationError } from '../../src/errors.ts';

const MINUTE = 60_000;
const DAY = 1440 * MINUTE;
const T0 = Date.UTC(2026, 0, 5); // a Monday

/** mulberry32: a small seeded PRNG, so every run sees the same series. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(rand() + 1e-300)) * Math.cos(2 * Math.PI * rand());
}

/**
 * 5-minute samples: a rising trend, a daily cycle (amplitude 30) and a weekly one (weekends at
 * half the amplitude and 15 lower), plus Gaussian noise (σ 2). No anomaly.
 */
function seasonal(seed: number, weeks = 8, stepMinutes = 5, jitterMs = 0): { t: Float64Array; v: Float64Array } {
  const rand = prng(seed);
  const n = (weeks * 7 * DAY) / (stepMinutes * MINUTE);
  const t = new Float64Array(n);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ti = T0 + i * stepMinutes * MINUTE + (jitterMs ? Math.round((rand() - 0.5) * jitterMs) : 0);
    const weekend = Math.floor((ti - T0) / DAY) % 7 >= 5;
    const phase = (ti % DAY) / DAY;
    t[i] = ti;
    v[i] = 100 + 0.001 * i + (weekend ? 15 : 30) * Math.sin(2 * Math.PI * (phase - 0.25)) - (weekend ? 15 : 0) + 2 * normal(rand);
  }
  return { t, v };
}

/** A trend and noise only. */
function trendOnly(seed: number, n = 6000): { t: Float64Array; v: Float64Array } {
  const rand = prng(seed);
  const t = Float64Array.from({ length: n }, (_, i) => T0 + i * 5 * MINUTE);
  const v = Float64Array.from({ length: n }, (_, i) => 50 + 0.002 * i + 2 * normal(rand));
  return { t, v };
}

const all = Object.values(detectors);
const max = (xs: Float64Array): number => xs.reduce((m, x) => (x > m ? x : m), 0);

/** The first index at or after `from` scoring at or above the detector's threshold, or −1. */
function firstAlarm(def: DetectorDefinition, t: Float64Array, v: Float64Array, from: number): number {
  const s = scoreSeries(def.create(), t, v);
  for (let i = from; i < s.length; i++) if (s[i]! >= def.threshold) return i - from;
  return -1;
}

describe('the registry', () => {
  it('lists detectors of the three families and an ensemble, and recommends one of them', () => {
    expect(Object.keys(detectors)).toEqual(expect.arrayContaining(['ensemble', 'median-mad', 'holt-winters', 'knn']));
    expect(new Set(all.map((d) => d.family))).toEqual(new Set(['robust-statistic', 'seasonal-forecast', 'distance', 'ensemble']));
    expect(detectors[recommendedDetector.name]).toBe(recommendedDetector);
    for (const d of all) {
      expect(d.description.length).toBeGreaterThan(10);
      expect(d.threshold).toBeGreaterThan(0);
      expect(d.threshold).toBeLessThan(1);
    }
  });

  it('refuses an unknown detector or parameter, a non-number and a value out of bounds, naming it', () => {
    expect(() => detectorNamed('nope')).toThrow(/unknown detector "nope" \(known: .*ensemble/);
    expect(() => detectorNamed('constructor')).toThrow(ValidationError);
    const d = detectorNamed('median-mad');
    expect(() => d.create({ nope: 1 } as never)).toThrow(/unknown parameter "nope"/);
    expect(() => d.create({ history: 'x' } as never)).toThrow(/"history" must be a finite number/);
    expect(() => d.create({ history: 3 })).toThrow(/"history" must be between 10 and 100000/);
    expect(() => d.create({ history: 20.5 })).toThrow(/"history" must be an integer/);
    expect(() => resolveParams('x', d.params, [])).toThrow(/must be a JSON object/);
    expect(resolveParams('x', d.params, { history: 20 }).history).toBe(20);
  });
});

describe.each(all.map((d) => [d.name, d] as const))('%s', (_name, def) => {
  it('scores every point in [0, 1], whatever the input', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 600_000 }), fc.constant(86_400_000)),
            fc.oneof(fc.double({ noNaN: false }), fc.integer({ min: -3, max: 3 }), fc.constant(1e308), fc.constant(-1e-308)),
          ),
          { maxLength: 400 },
        ),
        (rows) => {
          const scorer = def.create();
          let t = T0;
          for (const [gap, value] of rows) {
            t += gap;
            const s = scorer.score(t, value);
            expect(s).toBeGreaterThanOrEqual(0);
            expect(s).toBeLessThanOrEqual(1);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('does not look ahead: the score at t is the same whatever comes after t', () => {
    const { t, v } = seasonal(7, 2);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: t.length - 1 }), fc.integer({ min: 0, max: 1000 }), (cut, seed) => {
        const rand = prng(seed);
        const other = Float64Array.from(v, (x, i) => (i < cut ? x : x + 50 * normal(rand)));
        const a = scoreSeries(def.create(), t, v);
        const b = scoreSeries(def.create(), t, other);
        expect(b.subarray(0, cut)).toEqual(a.subarray(0, cut));
      }),
      { numRuns: 8 },
    );
  });

  it('stays at 0 on a flat line and below its threshold on a noiseless daily cycle', () => {
    const { t } = seasonal(1, 3);
    expect(max(scoreSeries(def.create(), t, new Float64Array(t.length).fill(42)))).toBe(0);
    const cycle = Float64Array.from(t, (ti) => 50 + 20 * Math.sin((2 * Math.PI * (ti % DAY)) / DAY));
    expect(max(scoreSeries(def.create(), t, cycle))).toBeLessThan(def.threshold);
  });

  it('raises nothing on trend with daily and weekly seasonality and no anomaly (8 weeks, 3 seeds)', () => {
    for (const seed of [1, 2, 3]) {
      const { t, v } = seasonal(seed);
      expect(max(scoreSeries(def.create(), t, v))).toBeLessThan(def.threshold);
    }
  });
});

describe('finding what was injected', () => {
  const at = 5000; // day 17, a Saturday evening: well after every warm-up

  it.each(['ensemble', 'holt-winters'])('%s finds a spike of 10 σ inside the daily range, at once', (name) => {
    for (const seed of [1, 2, 3]) {
      const { t, v } = seasonal(seed, 6);
      v[at] = v[at]! + 20;
      expect(firstAlarm(detectorNamed(name), t, v, at)).toBe(0);
    }
  });

  it.each(['ensemble', 'holt-winters', 'knn'])('%s finds a level shift within a few samples', (name) => {
    for (const seed of [1, 2, 3]) {
      const { t, v } = seasonal(seed, 6);
      for (let i = at; i < v.length; i++) v[i] = v[i]! + 40;
      const lag = firstAlarm(detectorNamed(name), t, v, at);
      expect(lag).toBeGreaterThanOrEqual(0);
      expect(lag).toBeLessThanOrEqual(3);
    }
  });

  it('knn finds a spike beyond the daily range', () => {
    for (const seed of [1, 2, 3]) {
      const { t, v } = seasonal(seed, 6);
      v[at] = v[at]! + 60;
      expect(firstAlarm(detectorNamed('knn'), t, v, at)).toBe(0);
    }
  });

  it('median-mad finds a spike and a level shift on a trending series', () => {
    for (const seed of [1, 2, 3]) {
      const spike = trendOnly(seed);
      spike.v[at] = spike.v[at]! + 20;
      expect(firstAlarm(detectorNamed('median-mad'), spike.t, spike.v, at)).toBe(0);
      const shift = trendOnly(seed);
      for (let i = at; i < shift.v.length; i++) shift.v[i] = shift.v[i]! + 10;
      const lag = firstAlarm(detectorNamed('median-mad'), shift.t, shift.v, at);
      expect(lag).toBeGreaterThanOrEqual(0);
      expect(lag).toBeLessThanOrEqual(12);
    }
  });

  it('the recommended detector alarms once per event, not at every sample of it', () => {
    const { t, v } = seasonal(4, 6);
    for (let i = at; i < at + 24; i++) v[i] = v[i]! + 40;
    const s = scoreSeries(recommendedDetector.create(), t, v);
    const alarms = [...s.subarray(at, at + 24)].filter((x) => x >= recommendedDetector.threshold).length;
    expect(alarms).toBeGreaterThanOrEqual(1);
    expect(alarms).toBeLessThanOrEqual(3);
  });

  it('the recommended detector copes with jittered timestamps (irregular sampling)', () => {
    const { t, v } = seasonal(5, 6, 5, 90_000);
    expect(max(scoreSeries(recommendedDetector.create(), t, v))).toBeLessThan(recommendedDetector.threshold);
    v[at] = v[at]! + 20;
    expect(firstAlarm(recommendedDetector, t, v, at)).toBe(0);
  });
});
