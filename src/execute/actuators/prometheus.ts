/** Reads Prometheus for a plan: the severities a node showed, and verification predicates. */
import { createQueryFn, PromQLError, type Sample } from '../../monitor/promql.ts';
import { escapePromQL } from '../../plan/playbooks/critical-violation/machine.ts';
import type { Actuator, ActuatorContext } from './types.ts';
import { RetryableActionError } from './types.ts';
import { PermanentActionError } from '../../errors.ts';

/** Runs an instant query now; transient errors are retryable, a bad query is not. */
export async function instantQuery(ctx: ActuatorContext, query: string): Promise<Sample[]> {
  try {
    return await createQueryFn({ url: ctx.prometheusUrl, auth: ctx.prometheusAuth, timeoutMs: ctx.timeoutMs })(query);
  } catch (err) {
    if (err instanceof PromQLError && !err.transient) throw new PermanentActionError(`${err.message} (query: ${query})`);
    throw new RetryableActionError(`Prometheus at ${ctx.prometheusUrl} unavailable: ${(err as Error).message}`);
  }
}

/** The Charter severities a node showed over the window, new series included (a first sample is invisible to increase()). */
export const severityActuator: Actuator = async (action, ctx) => {
  const node = escapePromQL(String(action.params.node_or_service));
  const window = String(action.params.window);
  const sel = `westworld_charter_violations_total{node_or_service="${node}"}`;
  const query = `max by (severity) ((increase(${sel}[${window}]) > 0) or ((${sel} unless ${sel} offset ${window}) > 0))`;
  const samples = await instantQuery(ctx, query);
  const severities = samples.filter((s) => s.value > 0 && s.labels.severity).map((s) => s.labels.severity!);
  return { query, severities, samples: samples.map((s) => ({ severity: s.labels.severity, value: s.value })) };
};

/** Checks a verification predicate; no data is not zero, so an empty answer never passes. */
export const verifyActuator: Actuator = async (action, ctx) => {
  const query = String(action.params.query);
  const samples = await instantQuery(ctx, query);
  if (samples.length === 0) return { query, holds: false, noData: true };
  const value = samples.reduce((sum, s) => sum + s.value, 0);
  const holds = action.params.expect === 'zero' ? Math.abs(value) < 1e-9 : value > 0;
  return { query, holds, value, expect: action.params.expect };
};
