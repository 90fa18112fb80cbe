// The NAB scorer: its rules on tiny hand-made files, then the published figures of the two
// reference detectors in ../shared/data/nab/reference (skipped when the data set is absent).
import { describe, expect, it } from 'vitest';
import { loadReferenceScores, nabAvailable, referenceDetectors } from '../../bench/nab/data.ts';
import { REFERENCE_SCORES, REFERENCE_TOLERANCE } from '../../bench/nab/reference.ts';
import {
  optimizeThreshold,
  probationLength,
  PROFILES,
  scaledSigmoid,
  scoreAllProfiles,
  scoreAtThreshold,
  scoreProfile,
  scoresByThreshold,
  type ScoredFile,
} from '../../bench/nab/scorer.ts';

const std = PROFILES.standard;

/** A file of n rows at t = 0..n−1 with windows given by row index and scores by row. */
function file(n: number, windows: Array<[number, number]>, hits: Record<number, number>): ScoredFile {
  const scores = new Float64Array(n);
  for (const [i, s] of Object.entries(hits)) scores[Number(i)] = s;
  return { name: 'f.csv', timestamps: Float64Array.from({ length: n }, (_, i) => i), scores, windows };
}

describe('scoring rules', () => {
  it('scaled sigmoid: ~0.987 at a window’s left edge, 0 at its right edge, −1 far after', () => {
    expect(scaledSigmoid(-1)).toBeCloseTo(0.98661, 4);
    expect(scaledSigmoid(-0.5)).toBeCloseTo(0.84828, 4);
    expect(scaledSigmoid(0)).toBe(0);
    expect(scaledSigmoid(3)).toBe(-1);
  });

  it('probation: min(floor(0.15 · rows), 750)', () => {
    expect(probationLength(1000)).toBe(150);
    expect(probationLength(4032)).toBe(604);
    expect(probationLength(20_000)).toBe(750);
  });

  it('a detection at a window’s left edge is worth tpWeight; only the earliest in a window counts', () => {
    // rows 0..199, probation 30; window 100..119
    const early = scoreAtThreshold([file(200, [[100, 119]], { 100: 1, 110: 1 })], std, 1);
    expect(early.score).toBeCloseTo(1, 9);
    const late = scoreAtThreshold([file(200, [[100, 119]], { 115: 1 })], std, 1);
    expect(late.score).toBeCloseTo(scaledSigmoid(-(119 - 115 + 1) / 20) / scaledSigmoid(-1), 9);
  });

  it('a miss costs −fnWeight; a false positive before any window −fpWeight; one just after a window less', () => {
    expect(scoreAtThreshold([file(200, [[100, 119]], {})], std, 1).score).toBeCloseTo(-1, 9);
    expect(scoreAtThreshold([file(200, [[100, 119]], { 50: 1, 100: 1 })], std, 1).score).toBeCloseTo(1 - 0.11, 9);
    const justAfter = scoreAtThreshold([file(200, [[100, 119]], { 100: 1, 121: 1 })], std, 1).score;
    expect(justAfter).toBeCloseTo(1 + 0.11 * scaledSigmoid(2 / 19), 9);
    expect(justAfter).toBeGreaterThan(1 - 0.11);
  });

  it('ignores detections in probation', () => {
    expect(scoreAtThreshold([file(200, [[100, 119]], { 10: 1, 100: 1 })], std, 1).score).toBeCloseTo(1, 9);
  });

  it('tries every distinct score as the threshold and keeps the best', () => {
    // 0.9 at the window's start, 0.8 on a false positive, 0.3 on another window.
    const f = file(300, [[100, 119], [200, 219]], { 100: 0.9, 150: 0.8, 210: 0.3 });
    const all = scoresByThreshold([f], std);
    expect(all.map((s) => s.threshold)).toEqual([1.1, 0.9, 0.8, 0.3, 0]);
    const best = optimizeThreshold([f], std);
    expect(best.threshold).toBe(0.3);
    // The false positive at 150 is 31 rows after a 20-row window: nearly the full −fpWeight.
    expect(best.score).toBeCloseTo(1 + 0.11 * scaledSigmoid(31 / 19) + scaledSigmoid(-(219 - 210 + 1) / 20) / scaledSigmoid(-1), 9);
  });

  it('normalises against the always-0.5 detector (−fnWeight per window) and a perfect one (tpWeight per window)', () => {
    const perfect = scoreProfile([file(300, [[100, 119], [200, 219]], { 100: 1, 200: 1 })], std);
    expect(perfect).toMatchObject({ nullScore: -2, perfectScore: 2 });
    expect(perfect.normalized).toBeCloseTo(100, 6);
    expect(scoreProfile([file(300, [[100, 119], [200, 219]], {})], std).normalized).toBeCloseTo(0, 6);
    expect(scoreProfile([file(300, [[100, 119]], {})], PROFILES.reward_low_FN_rate).nullScore).toBe(-2);
  });
});

describe.skipIf(!nabAvailable())('the published reference results (15 development files)', () => {
  it('finds both reference detectors', () => {
    expect(referenceDetectors()).toEqual(Object.keys(REFERENCE_SCORES).sort());
  });

  it.each(Object.entries(REFERENCE_SCORES))('reproduces %s to within the published rounding', (detector, expected) => {
    const got = scoreAllProfiles(loadReferenceScores(detector));
    for (const [profile, value] of Object.entries(expected)) {
      expect(Math.abs(got[profile as keyof typeof got].normalized - value), `${detector} ${profile}`).toBeLessThanOrEqual(REFERENCE_TOLERANCE);
    }
  });
});
