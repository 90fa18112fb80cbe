/**
 * The anomaly detectors by name (the folder is the registry: one file per detector, one line
 * here). threshold.ts, latency-sla.ts and burn-rate.ts are the rule-based detectors; they take
 * their thresholds from policy, not from this list.
 */
import { ensemble } from './ensemble.ts';
import { holtWinters } from './holt-winters.ts';
import { knn } from './knn.ts';
import { medianMad } from './median-mad.ts';
import { ValidationError } from '../../errors.ts';
import type { DetectorDefinition } from './types.ts';

/** Every anomaly detector, by name. */
export const detectors: Readonly<Record<string, DetectorDefinition>> = Object.freeze(
  Object.fromEntries(
    ([ensemble, medianMad, holtWinters, knn] as DetectorDefinition[]).map((d) => [d.name, d]),
  ),
);

/** The detector used when none is named. */
export const recommendedDetector: DetectorDefinition = ensemble;

/** The detector called `name`; a ValidationError naming the known ones when there is none. */
export function detectorNamed(name: string): DetectorDefinition {
  const d = Object.hasOwn(detectors, name) ? detectors[name] : undefined;
  if (!d) throw new ValidationError(`unknown detector "${name}" (known: ${Object.keys(detectors).join(', ')})`, 'detector');
  return d;
}

export type { AnomalyScorer, DetectorDefinition, ParamSpec } from './types.ts';
export { resolveParams, scoreSeries } from './types.ts';
