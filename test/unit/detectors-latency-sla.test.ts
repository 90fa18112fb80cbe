// Latency SLAs from histograms, with the Charter's bucket layouts (CHARTER.md): validation 20 µs
// (between buckets: interpolated quantile), committee notification 1 s and revocation 5 s (the top
// finite bucket: the share of observations above it).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluateLatencySla, histogramQuantile, type HistogramBucket } from '../../src/analyze/detectors/latency-sla.ts';
import { ValidationError } from '../../src/errors.ts';

/** Cumulative buckets from per-bucket counts (the last count is the +Inf overflow). */
function cumulative(bounds: number[], perBucket: number[]): HistogramBucket[] {
  let sum = 0;
  return [...bounds, Number.POSITIVE_INFINITY].map((le, i) => ({ le, count: (sum += perBucket[i] ?? 0) }));
}

const NOTIFY_MS = [10, 50, 100, 250, 500, 1000];
const REVOKE_MS = [50, 100, 250, 500, 1000, 5000];
const VALIDATE_NS = [100, 1e3, 1e4, 1e5, 1e6, 1e7];

describe('histogramQuantile (Prometheus semantics)', () => {
  it('interpolates linearly inside the bucket holding the rank, from 0 for the first bucket', () => {
    const b = cumulative([1, 2, 4], [10, 10, 20, 0]);
    expect(histogramQuantile(0.25, b)).toBeCloseTo(1, 9);
    expect(histogramQuantile(0.375, b)).toBeCloseTo(1.5, 9);
    expect(histogramQuantile(0.1, b)).toBeCloseTo(0.4, 9);
    expect(histogramQuantile(0.75, b)).toBeCloseTo(3, 9);
  });

  it('never exceeds the top finite bound: a rank in +Inf returns that bound', () => {
    expect(histogramQuantile(0.99, cumulative(NOTIFY_MS, [0, 0, 0, 0, 0, 50, 50]))).toBe(1000);
  });

  it('is NaN without observations and refuses a histogram without +Inf', () => {
    expect(histogramQuantile(0.99, cumulative(NOTIFY_MS, []))).toBeNaN();
    expect(() => histogramQuantile(0.5, [{ le: 1, count: 3 }])).toThrow(ValidationError);
  });
});

describe('committee notification, SLA 1 s = the top finite bucket', () => {
  const sla = { sla: 1000, quantile: 0.99 };

  it('breaches when more than 1% of notifications are above the le="1000" bucket', () => {
    const r = evaluateLatencySla(cumulative(NOTIFY_MS, [500, 300, 100, 50, 20, 10, 20]), sla);
    expect(r).toMatchObject({ breached: true, method: 'share-above-bucket', bucket: 1000, total: 1000 });
    expect(r.shareAbove).toBeCloseTo(0.02, 9);
    expect(r.allowedShare).toBeCloseTo(0.01, 9);
  });

  it('holds at exactly 1% and below; histogram_quantile alone would never have seen the breach', () => {
    expect(evaluateLatencySla(cumulative(NOTIFY_MS, [900, 50, 20, 10, 5, 5, 10]), sla).breached).toBe(false);
    expect(evaluateLatencySla(cumulative(NOTIFY_MS, [900, 50, 20, 10, 5, 4, 11]), sla).breached).toBe(true);
    // 30% above 1 s: the quantile still says 1000 ms, not above the SLA.
    const slow = cumulative(NOTIFY_MS, [70, 0, 0, 0, 0, 0, 30]);
    expect(histogramQuantile(0.99, slow)).toBe(1000);
    expect(evaluateLatencySla(slow, sla)).toMatchObject({ breached: true, method: 'share-above-bucket' });
  });

  it('raises nothing without traffic, or below minObservations', () => {
    expect(evaluateLatencySla(cumulative(NOTIFY_MS, []), sla)).toMatchObject({ breached: false, total: 0 });
    expect(evaluateLatencySla(cumulative(NOTIFY_MS, [0, 0, 0, 0, 0, 0, 3]), { ...sla, minObservations: 10 })).toMatchObject({ breached: false, reason: expect.stringMatching(/fewer than 10/) });
  });
});

describe('data revocation, SLA 5 s = the top finite bucket', () => {
  it('counts only revocations above le="5000"', () => {
    const fine = cumulative(REVOKE_MS, [10, 20, 30, 20, 10, 9, 1]);
    expect(evaluateLatencySla(fine, { sla: 5000 })).toMatchObject({ breached: false, bucket: 5000 });
    const slow = cumulative(REVOKE_MS, [10, 20, 30, 20, 10, 8, 2]);
    expect(evaluateLatencySla(slow, { sla: 5000 })).toMatchObject({ breached: true, bucket: 5000, shareAbove: 0.02 });
  });

  it('an SLA above the top bucket is judged at the top bucket (the histogram cannot tell more)', () => {
    const r = evaluateLatencySla(cumulative(REVOKE_MS, [0, 0, 0, 0, 0, 95, 5]), { sla: 8000 });
    expect(r).toMatchObject({ breached: true, method: 'share-above-bucket', bucket: 5000 });
  });
});

describe('metric validation, SLA 20 µs = 20,000 ns, between the 1e4 and 1e5 buckets', () => {
  it('compares the interpolated p99 with the SLA', () => {
    // 98 fast, 2 in (1e4, 1e5]: p99 rank 99 sits halfway into that bucket → 55,000 ns.
    const slow = cumulative(VALIDATE_NS, [0, 0, 98, 2, 0, 0, 0]);
    expect(evaluateLatencySla(slow, { sla: 20_000 })).toMatchObject({ breached: true, method: 'quantile', estimate: 55_000 });
    // 99.9% within 10 µs: p99 stays inside the 1e4 bucket.
    const fast = cumulative(VALIDATE_NS, [0, 500, 499, 1, 0, 0, 0]);
    expect(evaluateLatencySla(fast, { sla: 20_000 }).breached).toBe(false);
  });

  it('an SLA exactly on a bound is judged exactly, by the share above it', () => {
    const b = cumulative(VALIDATE_NS, [0, 0, 98, 2, 0, 0, 0]);
    expect(evaluateLatencySla(b, { sla: 10_000 })).toMatchObject({ breached: true, method: 'share-above-bucket', bucket: 10_000, shareAbove: 0.02 });
  });
});

describe('agreement and checks', () => {
  it('where the SLA is a bound, "share above > 1 − q" agrees with "quantile > SLA" whenever the quantile can see it', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 7, maxLength: 7 }), fc.integer({ min: 0, max: 4 }), (counts, k) => {
        const b = cumulative(NOTIFY_MS, counts);
        const total = b[b.length - 1]!.count;
        if (total === 0) return;
        const bound = NOTIFY_MS[k]!;
        const exact = evaluateLatencySla(b, { sla: bound, quantile: 0.9 });
        const q = histogramQuantile(0.9, b);
        // Interpolation may land exactly on the bound when the rank is the bucket's last count.
        if (Math.abs(q - bound) > 1e-9) expect(exact.breached).toBe(q > bound);
      }),
    );
  });

  it('refuses a quantile outside (0, 1), a non-positive SLA and negative counts', () => {
    const b = cumulative(NOTIFY_MS, [1]);
    expect(() => evaluateLatencySla(b, { sla: 1000, quantile: 1 })).toThrow(/quantile/);
    expect(() => evaluateLatencySla(b, { sla: 0 })).toThrow(/sla/);
    expect(() => evaluateLatencySla([{ le: 1, count: -1 }, { le: Infinity, count: 1 }], { sla: 1 })).toThrow(/count/);
  });
});
