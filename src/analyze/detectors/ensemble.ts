/**
 * The recommended default: the robust statistic and the seasonal forecaster side by side (each
 * as a point and a sustained surprise), optionally with the distance method; a point scores
 * what the most surprised of them says, and one event alarms once.
 */
import { unit } from '../rolling.ts';
import { Rest, SurpriseScore } from '../surprise.ts';
import { HOLT_WINTERS_PARAMS, SeasonalResidual } from './holt-winters.ts';
import { NeighbourDistance, KNN_PARAMS } from './knn.ts';
import { RECORD_LEVEL, RobustZ } from './median-mad.ts';
import { resolveParams, type AnomalyScorer, type DetectorDefinition, type ParamSpec } from './types.ts';

export const ENSEMBLE_PARAMS = {
  knn: { default: 0, min: 0, max: 1, integer: true, description: '1 = add the k-nearest-neighbour distance to the ensemble' },
  history: { default: 1500, min: 10, max: 100_000, integer: true, description: 'past surprises whose largest sets the bar for a new one' },
  smoothing: { default: 12, min: 1, max: 1000, integer: true, description: 'samples averaged for the sustained-shift score (1 = off)' },
  rest: { default: 30, min: 0, max: 100_000, integer: true, description: 'samples damped after an anomaly, so one event alarms once' },
} satisfies Record<string, ParamSpec>;

type Params = { [K in keyof typeof ENSEMBLE_PARAMS]: number };

const defaultsOf = <T extends Record<string, ParamSpec>>(specs: T): { [K in keyof T]: number } =>
  Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, s.default])) as { [K in keyof T]: number };

class Ensemble implements AnomalyScorer {
  private readonly z = new RobustZ(0);
  private readonly residual = new SeasonalResidual(defaultsOf(HOLT_WINTERS_PARAMS));
  private readonly distance: NeighbourDistance | null;
  private readonly zScore: SurpriseScore;
  private readonly residualScore: SurpriseScore;
  private readonly distanceScore: SurpriseScore | null;
  private readonly rest: Rest;

  constructor(p: Params) {
    this.zScore = new SurpriseScore(p);
    this.residualScore = new SurpriseScore(p);
    this.distance = p.knn ? new NeighbourDistance(defaultsOf(KNN_PARAMS)) : null;
    this.distanceScore = p.knn ? new SurpriseScore(p) : null;
    this.rest = new Rest(p.rest, RECORD_LEVEL);
  }

  score(t: number, value: number): number {
    if (!Number.isFinite(value) || !Number.isFinite(t)) return 0;
    const mask = Number(process.env.MASK ?? 7);
    let s = mask & 1 ? this.zScore.score(this.z.update(t, value)) : 0;
    const r = mask & 2 ? this.residualScore.score(this.residual.update(t, value)) : 0;
    if (r > s) s = r;
    if (this.distance && this.distanceScore) {
      const d = this.distanceScore.score(this.distance.update(t, value));
      if (d > s) s = d;
    }
    return unit(this.rest.apply(s));
  }
}

/** The ensemble detector (the recommended one). */
export const ensemble: DetectorDefinition<Params> = {
  name: 'ensemble',
  description: 'recommended: median/MAD and Holt-Winters surprises (point and sustained) together, the higher wins, one alarm per event',
  family: 'ensemble',
  params: ENSEMBLE_PARAMS,
  threshold: RECORD_LEVEL,
  create: (params) => new Ensemble(resolveParams('ensemble', ENSEMBLE_PARAMS, params)),
};
