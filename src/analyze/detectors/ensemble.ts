/**
 * The recommended default: the seasonal forecaster and the distance method side by side (each as
 * a point and a sustained surprise, each as a record against its own recent past); a point scores
 * what the more surprised of them says, and one event alarms once. They fail differently: the
 * forecaster misses a spike that fits the season's shape but not its size, the distance method a
 * slow drift its memory keeps up with. The robust statistic can join (`medianMad: 1`).
 */
import { unit } from '../rolling.ts';
import { ANOMALY_THRESHOLD, RECORD_LEVEL, Rest, SURPRISE_PARAMS, SurpriseScore } from '../surprise.ts';
import { HOLT_WINTERS_PARAMS, SeasonalResidual } from './holt-winters.ts';
import { KNN_PARAMS, NeighbourDistance } from './knn.ts';
import { RobustZ } from './median-mad.ts';
import { resolveParams, type AnomalyScorer, type DetectorDefinition, type ParamSpec } from './types.ts';

/** The ensemble's parameters: which members, and how surprises become scores. */
export const ENSEMBLE_PARAMS = {
  holtWinters: { default: 1, min: 0, max: 1, integer: true, description: '1 = include the Holt-Winters residual' },
  knn: { default: 1, min: 0, max: 1, integer: true, description: '1 = include the k-nearest-neighbour distance' },
  medianMad: { default: 0, min: 0, max: 1, integer: true, description: '1 = include the median/MAD robust z' },
  ...SURPRISE_PARAMS,
} satisfies Record<string, ParamSpec>;

type Params = { [K in keyof typeof ENSEMBLE_PARAMS]: number };

/** A raw surprise stream and its score. */
interface Member {
  surprise: { update(t: number, value: number): number };
  score: SurpriseScore;
}

const defaultsOf = <T extends Record<string, ParamSpec>>(specs: T): { [K in keyof T]: number } =>
  Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, s.default])) as { [K in keyof T]: number };

class Ensemble implements AnomalyScorer {
  private readonly members: Member[] = [];
  private readonly rest: Rest;

  constructor(p: Params) {
    if (p.holtWinters) this.members.push({ surprise: new SeasonalResidual(defaultsOf(HOLT_WINTERS_PARAMS)), score: new SurpriseScore(p) });
    if (p.knn) this.members.push({ surprise: new NeighbourDistance(defaultsOf(KNN_PARAMS)), score: new SurpriseScore(p) });
    if (p.medianMad) this.members.push({ surprise: new RobustZ(0), score: new SurpriseScore(p) });
    if (this.members.length === 0) this.members.push({ surprise: new SeasonalResidual(defaultsOf(HOLT_WINTERS_PARAMS)), score: new SurpriseScore(p) });
    this.rest = new Rest(p.rest, RECORD_LEVEL);
  }

  score(t: number, value: number): number {
    if (!Number.isFinite(value) || !Number.isFinite(t)) return 0;
    let s = 0;
    for (const m of this.members) {
      const x = m.score.score(m.surprise.update(t, value));
      if (x > s) s = x;
    }
    return unit(this.rest.apply(s));
  }
}

/** The ensemble detector (the recommended one). */
export const ensemble: DetectorDefinition<Params> = {
  name: 'ensemble',
  description: 'Holt-Winters residual and k-nearest-neighbour distance together (point and sustained surprises), the higher wins, one alarm per event',
  family: 'ensemble',
  params: ENSEMBLE_PARAMS,
  threshold: ANOMALY_THRESHOLD,
  create: (params) => new Ensemble(resolveParams('ensemble', ENSEMBLE_PARAMS, params)),
};
