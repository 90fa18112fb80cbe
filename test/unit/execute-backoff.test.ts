// backoffDelay (src/execute/queues.ts): exponential from base, capped at max, jitter over the upper half.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/execute/queues.ts';

const BASE = 1_000; // the shipped pack: backoff 1s
const MAX = 60_000; // maxBackoff 60s
const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

describe('backoffDelay', () => {
  it('without jitter doubles from the base: 1s, 2s, 4s ... then stays at the cap', () => {
    const top = () => 1 - Number.EPSILON;
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9].map((a) => backoffDelay(a, BASE, MAX, top))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000,
    ]);
    expect([1, 2, 3, 7].map((a) => backoffDelay(a, BASE, MAX, () => 0))).toEqual([500, 1_000, 2_000, 30_000]);
  });

  it('treats attempt 0 like the first retry', () => {
    expect(backoffDelay(0, BASE, MAX, () => 0.5)).toBe(backoffDelay(1, BASE, MAX, () => 0.5));
  });

  it('stays within [exp/2, exp] and never above the cap', () => {
    fc.assert(
      fc.property(fc.nat({ max: 200 }), fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 3_600_000 }), unit, (attempts, base, max, r) => {
        const d = backoffDelay(attempts, base, max, () => r);
        const exp = Math.min(max, base * 2 ** Math.max(0, attempts - 1));
        expect(Number.isFinite(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(Math.floor(exp / 2));
        expect(d).toBeLessThanOrEqual(Math.ceil(exp));
        expect(d).toBeLessThanOrEqual(Math.max(max, 0) + 1);
        expect(d).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('never shrinks as attempts grow (same jitter)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 60 }), fc.nat({ max: 60 }), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 600_000 }), unit, (a, b, base, max, r) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        expect(backoffDelay(lo, base, max, () => r)).toBeLessThanOrEqual(backoffDelay(hi, base, max, () => r));
      }),
    );
  });

  it('reaches the cap and stays there', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 10_000, max: 600_000 }), fc.integer({ min: 30, max: 5_000 }), (base, max, attempts) => {
        expect(backoffDelay(attempts, base, max, () => 0)).toBe(Math.round(max / 2));
        expect(backoffDelay(attempts, base, max, () => 1)).toBe(max);
      }),
    );
  });

  it('spreads retries: different jitter gives different delays', () => {
    const delays = new Set([0, 0.25, 0.5, 0.75, 0.99].map((r) => backoffDelay(4, BASE, MAX, () => r)));
    expect(delays.size).toBe(5);
  });

  it('uses Math.random by default and stays in range', () => {
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(3, BASE, MAX);
      expect(d).toBeGreaterThanOrEqual(2_000);
      expect(d).toBeLessThanOrEqual(4_000);
    }
  });

  it('a zero base means no wait', () => {
    for (const a of [0, 1, 5, 30]) expect(backoffDelay(a, 0, MAX, () => 0.7)).toBe(0);
  });
});
