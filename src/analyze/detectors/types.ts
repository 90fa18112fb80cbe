/** What an anomaly detector is: a streaming scorer, its parameters and how to build it. */
import { ValidationError } from '../../errors.ts';

/** A running detector over one series: it sees each sample once, in time order. */
export interface AnomalyScorer {
  /**
   * Scores the sample at `t` (ms since the epoch, non-decreasing) with value `value`, before
   * seeing any later one: a number in [0, 1] (0 for a non-finite value, which is skipped).
   */
  score(t: number, value: number): number;
}

/** One numeric parameter: its default, bounds and meaning. */
export interface ParamSpec {
  default: number;
  min: number;
  max: number;
  integer?: boolean;
  description: string;
}

/** A detector as the registry lists it. */
export interface DetectorDefinition<P extends Record<string, number> = Record<string, number>> {
  name: string;
  /** One line: what it looks at and what it is good at. */
  description: string;
  family: 'robust-statistic' | 'seasonal-forecast' | 'distance' | 'ensemble';
  params: { readonly [K in keyof P]: ParamSpec };
  /** The score at or above which a point is an anomaly. */
  threshold: number;
  /** A new scorer; `params` are merged over the defaults and checked. */
  create(params?: Partial<P>): AnomalyScorer;
}

/**
 * Merges `given` over the defaults of `specs`, refusing unknown names, non-numbers and values out
 * of bounds (a ValidationError naming the parameter).
 */
export function resolveParams<S extends Record<string, ParamSpec>>(detector: string, specs: S, given: unknown = {}): { [K in keyof S]: number } {
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new ValidationError(`${detector}: parameters must be a JSON object, got ${given === null ? 'null' : Array.isArray(given) ? 'an array' : typeof given}`, 'params');
  }
  const out: Record<string, number> = {};
  for (const [k, spec] of Object.entries(specs) as Array<[string, ParamSpec]>) out[k] = spec.default;
  for (const [k, v] of Object.entries(given as Record<string, unknown>)) {
    const spec = (specs as Record<string, ParamSpec>)[k];
    if (!spec) {
      const known = Object.keys(specs);
      throw new ValidationError(`${detector}: unknown parameter "${k}" (known: ${known.length ? known.join(', ') : 'none'})`, `params.${k}`);
    }
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ValidationError(`${detector}: parameter "${k}" must be a finite number, got ${JSON.stringify(v)}`, `params.${k}`);
    }
    if (spec.integer && !Number.isInteger(v)) throw new ValidationError(`${detector}: parameter "${k}" must be an integer, got ${v}`, `params.${k}`);
    if (v < spec.min || v > spec.max) {
      throw new ValidationError(`${detector}: parameter "${k}" must be between ${spec.min} and ${spec.max}, got ${v}`, `params.${k}`);
    }
    out[k] = v;
  }
  return out as { [K in keyof S]: number };
}

/** Scores a whole recorded series (convenience for tests, backtests and the benchmark). */
export function scoreSeries(scorer: AnomalyScorer, times: ArrayLike<number>, values: ArrayLike<number>): Float64Array {
  const n = Math.min(times.length, values.length);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = scorer.score(times[i]!, values[i]!);
  return out;
}
