// Streaming building blocks against brute force: sliding median/MAD/quantiles, running max, moving mean.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MovingMean, RunningMax, SamplingInterval, SlidingWindow, unit } from '../../src/analyze/rolling.ts';
import { RecordScale, Rest, SurpriseScore } from '../../src/analyze/surprise.ts';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};

// Small integers make ties (the hard case for order statistics) common.
const values = fc.array(fc.oneof(fc.integer({ min: -5, max: 5 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })), { minLength: 1, maxLength: 200 });

describe('SlidingWindow', () => {
  it('holds the last `capacity` values: median, MAD, min, max and quantiles equal brute force', () => {
    fc.assert(
      fc.property(values, fc.integer({ min: 1, max: 40 }), (xs, cap) => {
        const w = new SlidingWindow(cap);
        xs.forEach((x, i) => {
          w.push(x);
          const held = xs.slice(Math.max(0, i + 1 - cap), i + 1);
          const sorted = [...held].sort((a, b) => a - b);
          const m = median(held);
          expect(w.size).toBe(held.length);
          expect(w.median()).toBeCloseTo(m, 9);
          expect(w.mad()).toBeCloseTo(median(held.map((v) => Math.abs(v - m))), 9);
          // (+ 0 folds −0 into 0: equal values may sit in either order)
          expect(w.min() + 0).toBe(sorted[0]! + 0);
          expect(w.max() + 0).toBe(sorted[sorted.length - 1]! + 0);
          expect(w.quantile(0) + 0).toBe(sorted[0]! + 0);
          expect(w.quantile(1) + 0).toBe(sorted[sorted.length - 1]! + 0);
          expect(w.recent(0)).toBe(x);
        });
      }),
      { numRuns: 150 },
    );
  });

  it('takes the MAD about any centre', () => {
    const w = new SlidingWindow(5);
    for (const x of [1, 2, 3, 10, 20]) w.push(x);
    // |x − 10| = 9, 8, 7, 0, 10 → median 8
    expect(w.mad(10)).toBe(8);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new SlidingWindow(0)).toThrow(RangeError);
    expect(() => new SlidingWindow(2.5)).toThrow(RangeError);
  });
});

describe('RunningMax and MovingMean', () => {
  it('equal the max and mean of the last `capacity` values', () => {
    fc.assert(
      fc.property(values, fc.integer({ min: 1, max: 30 }), (xs, cap) => {
        const m = new RunningMax(cap);
        const a = new MovingMean(cap);
        xs.forEach((x, i) => {
          m.push(x);
          a.push(x);
          const held = xs.slice(Math.max(0, i + 1 - cap), i + 1);
          expect(m.max() + 0).toBe(Math.max(...held) + 0);
          if (held.length === cap) expect(a.mean()).toBeCloseTo(held.reduce((s, v) => s + v, 0) / cap, 3);
          else expect(a.mean()).toBeNaN();
        });
      }),
      { numRuns: 150 },
    );
  });
});

describe('SamplingInterval', () => {
  it('settles on the median of the first gaps, ignoring repeats and the odd long gap', () => {
    const s = new SamplingInterval(16);
    let t = 0;
    for (let i = 0; i < 40; i++) {
      t += i === 5 ? 3_600_000 : i === 7 ? 0 : 300_000;
      s.observe(t);
    }
    expect(s.settled).toBe(true);
    expect(s.ms).toBe(300_000);
  });
});

describe('surprise scores', () => {
  it('RecordScale: 0 while warming up, 0.5 for a surprise equal to the bar, above 0.5 for a record', () => {
    const r = new RecordScale(10, 0, 3);
    expect([r.score(1), r.score(2), r.score(1)]).toEqual([0, 0, 0]);
    expect(r.score(2)).toBeCloseTo(0.5, 9);
    expect(r.score(6)).toBeCloseTo(0.75, 9);
    expect(r.score(Number.NaN)).toBe(0);
  });

  it('RecordScale: the floor keeps a record small next to the typical surprise from scoring high', () => {
    const plain = new RecordScale(1000, 0, 10);
    const floored = new RecordScale(1000, 6, 10);
    for (let i = 0; i < 500; i++) {
      plain.score(1 + (i % 3));
      floored.score(1 + (i % 3));
    }
    // 4 is a record (bar 3) but only 2× the typical surprise (2)
    expect(plain.score(4)).toBeGreaterThan(0.5);
    expect(floored.score(4)).toBeLessThan(0.5);
  });

  it('SurpriseScore sees a sustained shift that no single point shows', () => {
    const s = new SurpriseScore({ history: 500, smoothing: 12, floor: 0 });
    let last = 0;
    for (let i = 0; i < 600; i++) last = s.score(i % 2 ? 2 : 0);
    expect(last).toBeLessThanOrEqual(0.5);
    let peak = 0;
    for (let i = 0; i < 12; i++) peak = Math.max(peak, s.score(1.9));
    expect(peak).toBeGreaterThan(0.5);
  });

  it('Rest damps what follows a record for a while, unless something bigger comes', () => {
    const rest = new Rest(3, 0.5, 0.5);
    expect(rest.apply(0.6)).toBe(0.6);
    expect(rest.apply(0.55)).toBe(0.275);
    expect(rest.apply(0.7)).toBe(0.7);
    // 0.6 is not above the peak (0.7): damped, and it restarts the rest period.
    expect(rest.apply(0.6)).toBe(0.3);
    expect(rest.apply(0.1)).toBe(0.05);
    expect(rest.apply(0.1)).toBe(0.05);
    expect(rest.apply(0.2)).toBe(0.1);
    expect(rest.apply(0.2)).toBe(0.2);
  });

  it('unit clamps to [0, 1] and maps NaN to 0', () => {
    expect([unit(-1), unit(0.3), unit(7), unit(Number.NaN)]).toEqual([0, 0.3, 1, 0]);
  });
});
