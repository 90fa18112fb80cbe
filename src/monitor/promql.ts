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

/** Runs a range query: each series with its (ms, value) points. */
export type RangeQueryFn = (promql: string, start: number, end: number, stepMs: number) => Promise<Array<{ labels: Record<string, string>; points: Array<{ at: number; value: number }> }>>;

/** A RangeQueryFn over prometheus-query, errors classified like instant queries. */
export function createRangeQueryFn(endpoint: PromQLEndpoint): RangeQueryFn {
  const driver = driverFor(endpoint);
  return async (promql, start, end, stepMs) => {
    try {
      const res = await driver.rangeQuery(promql, new Date(start), new Date(end), stepMs / 1000);
      return (res.result as Array<{ metric: { labels: Record<string, string> }; values: Array<{ time: Date; value: number }> }>).map((r) => ({
        labels: r.metric.labels,
        points: r.values.map((v) => ({ at: new Date(v.time).getTime(), value: Number(v.value) })),
      }));
    } catch (err) {
      throw classify(err, promql, endpoint.url);
    }
  };
}

function driverFor(endpoint: PromQLEndpoint): PrometheusDriver {
  return new PrometheusDriver({
    endpoint: endpoint.url,
    baseURL: '/api/v1',
    timeout: endpoint.timeoutMs,
    auth: endpoint.auth?.username ? { username: endpoint.auth.username, password: endpoint.auth.password ?? '' } : undefined,
    headers: endpoint.auth?.bearer ? { Authorization: `Bearer ${endpoint.auth.bearer}` } : undefined,
  });
}

function classify(err: unknown, promql: string, url: string): PromQLError {
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
  return new PromQLError(reason, promql, `${reason} from ${url}: ${message}`);
}

/** A QueryFn over prometheus-query, errors classified. */
export function createQueryFn(endpoint: PromQLEndpoint): QueryFn {
  const driver = driverFor(endpoint);
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
      throw classify(err, promql, endpoint.url);
    }
  };
}
