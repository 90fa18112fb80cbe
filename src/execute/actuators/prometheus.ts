/** Reads Prometheus for a plan: the severities a node showed, and verification predicates. */
import { PrometheusDriver } from 'prometheus-query';
import { escapePromQL } from '../../plan/playbooks/critical-violation/machine.ts';
import type { Actuator, ActuatorContext } from './types.ts';
import { RetryableActionError } from './types.ts';
import { PermanentActionError } from '../../errors.ts';

/** One sample of an instant query. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Runs an instant query through prometheus-query; transient errors are retryable, a bad query is not. */
export async function instantQuery(ctx: ActuatorContext, query: string): Promise<Sample[]> {
  const driver = new PrometheusDriver({
    endpoint: ctx.prometheusUrl,
    baseURL: '/api/v1',
    timeout: ctx.timeoutMs,
    auth: ctx.prometheusAuth?.username ? { username: ctx.prometheusAuth.username, password: ctx.prometheusAuth.password ?? '' } : undefined,
    headers: ctx.prometheusAuth?.bearer ? { Authorization: `Bearer ${ctx.prometheusAuth.bearer}` } : undefined,
  });
  try {
    const res = await driver.instantQuery(query);
    return (res.result as Array<{ metric: { labels: Record<string, string> }; value: { value: number } }>).map((r) => ({
      labels: r.metric.labels,
      value: Number(r.value.value),
    }));
  } catch (err) {
    const e = err as { status?: number; response?: { status?: number }; error?: string; message?: string; errorType?: string };
    const status = e.status ?? e.response?.status;
    const message = e.error ?? e.message ?? String(err);
    if (status === 400 || e.errorType === 'bad_data') throw new PermanentActionError(`bad PromQL query ${query}: ${message}`);
    throw new RetryableActionError(`Prometheus at ${ctx.prometheusUrl} unavailable: ${message}`);
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
