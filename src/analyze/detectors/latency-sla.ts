/**
 * Latency SLAs from Prometheus histograms ("p99 of X under S seconds"), pure over bucket counts.
 *
 * `histogram_quantile` can never return more than the top finite bucket bound, so when the SLA is
 * at or above that bound the quantile can never be seen to exceed it. There, and wherever the SLA
 * is exactly a bucket bound, the check is exact instead: more than (1 − q) of the observations
 * above the SLA's bucket (e.g. more than 1% above it for p99) is a breach. Between two bounds
 * the quantile is interpolated as Prometheus does and compared with the SLA.
 */
import { ValidationError } from '../../errors.ts';

/** One cumulative bucket: observations ≤ le (le may be +Infinity). Counts are usually increases over a window. */
export interface HistogramBucket {
  le: number;
  count: number;
}

/** The SLA. */
export interface LatencySla {
  /** The bound, in the histogram's unit (seconds for Prometheus). */
  sla: number;
  /** The quantile that must stay within it (default 0.99). */
  quantile?: number;
  /** Fewer observations than this never breach (default 1: no traffic, no finding). */
  minObservations?: number;
}

/** The verdict with its evidence. */
export interface LatencySlaResult {
  breached: boolean;
  /** `share-above-bucket`: the exact share above a bucket bound; `quantile`: Prometheus' interpolated quantile. */
  method: 'share-above-bucket' | 'quantile';
  sla: number;
  quantile: number;
  total: number;
  /** share-above-bucket: the bound compared against and the share of observations above it. */
  bucket?: number;
  shareAbove?: number;
  /** The largest share allowed above it: 1 − quantile. */
  allowedShare?: number;
  /** quantile: the estimated quantile. */
  estimate?: number;
  /** Why it cannot breach (too few observations). */
  reason?: string;
}

/** Buckets sorted by le, counts made non-decreasing; throws naming the problem (no +Inf bucket, a bad count). */
function normalise(buckets: readonly HistogramBucket[]): HistogramBucket[] {
  if (buckets.length === 0) throw new ValidationError('histogram: no buckets', 'buckets');
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  for (const b of sorted) {
    if (Number.isNaN(b.le)) throw new ValidationError('histogram: a bucket bound is NaN', 'le');
    if (!(b.count >= 0)) throw new ValidationError(`histogram: bucket le=${b.le} has count ${b.count}`, 'count');
  }
  if (sorted[sorted.length - 1]!.le !== Number.POSITIVE_INFINITY) throw new ValidationError('histogram: the +Inf bucket is missing', 'le');
  // Counts must not decrease with le; scrape races can break that, and Prometheus then takes the running max.
  let max = 0;
  return sorted.map((b) => ({ le: b.le, count: (max = Math.max(max, b.count)) }));
}

/** Prometheus' `histogram_quantile(q, ...)` over cumulative buckets; NaN with no observations. */
export function histogramQuantile(q: number, buckets: readonly HistogramBucket[]): number {
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  const b = normalise(buckets);
  if (b.length < 2) return Number.NaN;
  const total = b[b.length - 1]!.count;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let i = b.findIndex((x) => x.count >= rank);
  if (i < 0) i = b.length - 1;
  if (i === b.length - 1) return b[b.length - 2]!.le;
  if (i === 0 && b[0]!.le <= 0) return b[0]!.le;
  const start = i === 0 ? 0 : b[i - 1]!.le;
  const below = i === 0 ? 0 : b[i - 1]!.count;
  const inBucket = b[i]!.count - below;
  return inBucket === 0 ? b[i]!.le : start + (b[i]!.le - start) * ((rank - below) / inBucket);
}

/** Judges one histogram (counts over the evaluation window) against the SLA. */
export function evaluateLatencySla(buckets: readonly HistogramBucket[], sla: LatencySla): LatencySlaResult {
  const q = sla.quantile ?? 0.99;
  if (!(q > 0 && q < 1)) throw new ValidationError(`latency SLA: quantile must be in (0, 1), got ${q}`, 'quantile');
  if (!(sla.sla > 0) || !Number.isFinite(sla.sla)) throw new ValidationError(`latency SLA: sla must be a positive number, got ${sla.sla}`, 'sla');
  const b = normalise(buckets);
  const total = b[b.length - 1]!.count;
  const finite = b.filter((x) => Number.isFinite(x.le));
  const top = finite.length ? finite[finite.length - 1]!.le : Number.NaN;
  const exact = finite.find((x) => Math.abs(x.le - sla.sla) <= 1e-12 * Math.max(1, Math.abs(sla.sla)));
  const minObs = sla.minObservations ?? 1;
  const base = { sla: sla.sla, quantile: q, total };
  if (finite.length === 0 || sla.sla >= top || exact) {
    // Exact: the share of observations above the SLA's bucket (the top finite one when the SLA is at or beyond it).
    const bucket = exact ?? finite[finite.length - 1];
    const allowedShare = 1 - q;
    if (!bucket) return { ...base, breached: false, method: 'share-above-bucket', allowedShare, reason: 'the histogram has no finite bucket' };
    const shareAbove = total > 0 ? (total - bucket.count) / total : 0;
    if (total < minObs) return { ...base, breached: false, method: 'share-above-bucket', bucket: bucket.le, shareAbove, allowedShare, reason: `${total} observations, fewer than ${minObs}` };
    return { ...base, breached: shareAbove > allowedShare + 1e-12, method: 'share-above-bucket', bucket: bucket.le, shareAbove, allowedShare };
  }
  const estimate = histogramQuantile(q, b);
  if (total < minObs || Number.isNaN(estimate)) return { ...base, breached: false, method: 'quantile', estimate, reason: `${total} observations, fewer than ${Math.max(minObs, 1)}` };
  return { ...base, breached: estimate > sla.sla, method: 'quantile', estimate };
}
