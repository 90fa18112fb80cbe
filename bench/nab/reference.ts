/** The published figures of the reference detectors on the 15 development files (the data set's README.md). */
import type { ProfileName } from './scorer.ts';

/** Standard / reward_low_FP_rate / reward_low_FN_rate, as published (one decimal). */
export const REFERENCE_SCORES: Record<string, Record<ProfileName, number>> = {
  numenta: { standard: 72.7, reward_low_FP_rate: 64.3, reward_low_FN_rate: 78.0 },
  windowedGaussian: { standard: 43.7, reward_low_FP_rate: 20.3, reward_low_FN_rate: 53.5 },
};

/** Published figures are given to one decimal: a scorer agrees when it rounds to them. */
export const REFERENCE_TOLERANCE = 0.05;
