/** The narrow PromQL port (STYLE.md, habit 3): any PromQL API (Prometheus, Thanos, Mimir) through prometheus-query. */
import { PrometheusDriver } from 'prometheus-query';

/** One sample of an instant query. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Why a query failed: a bad query is a configuration error and is not retried; the rest are transient. */
export type PromQLFailure = 'bad_query' | 'execution' | 'timeout' | 'unavailable';

/** A failed query, with the query and Prometheus' own message. */
export class PromQLError extends Error {
  override readonly name = 'PromQLError';
  constructor(
    readonly reason: PromQLFailure,
    readonly query: string,
    message: string,
  ) {
    super(message);
  }

  /** True when asking again later may work. */
  get transient(): boolean {
    return this.reason === 'timeout' || this.reason === 'unavailable';
  }
}

/** Where and how to ask. */
export interface PromQLEndpoint {
  url: string;
  auth?: { bearer?: string; username?: string; password?: string };
  timeoutMs: number;
}

/** Runs an instant query at time `at` (ms; default now). */
export type QueryFn = (promql: string, at?: number) => Promise<Sample[]>;

/** A QueryFn over prometheus-query, errors classified. */
export function createQueryFn(endpoint: PromQLEndpoint): QueryFn {
  const driver = new PrometheusDriver({
    endpoint: endpoint.url,
    baseURL: '/api/v1',
    timeout: endpoint.timeoutMs,
    auth: endpoint.auth?.username ? { username: endpoint.auth.username, password: endpoint.auth.password ?? '' } : undefined,
    headers: endpoint.auth?.bearer ? { Authorization: `Bearer ${endpoint.auth.bearer}` } : undefined,
  });
  return async (promql, at) => {
    try {
      const res = await driver.instantQuery(promql, at === undefined ? undefined : new Date(at));
      if (res.resultType === 'scalar' || res.resultType === 'string') {
        const v = res.result as unknown as { value: number };
        return [{ labels: {}, value: Number(v.value) }];
      }
      return (res.result as Array<{ metric: { labels: Record<string, string> }; value: { value: number } }>).map((r) => ({
        labels: r.metric.labels,
        value: Number(r.value.value),
      }));
    } catch (err) {
      const e = err as { errorType?: string; error?: string; message?: string };
      const message = e.error ?? e.message ?? String(err);
      const reason: PromQLFailure =
        e.errorType === 'bad_data'
          ? 'bad_query'
          : e.errorType === 'execution'
            ? 'execution'
            : e.errorType === 'timeout' || e.errorType === 'timeout_error' || e.errorType === 'canceled'
              ? 'timeout'
              : 'unavailable';
      throw new PromQLError(reason, promql, `${reason} from ${endpoint.url}: ${message}`);
    }
  };
}
