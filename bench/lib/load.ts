/** The HTTP client every HTTP figure uses: keep-alive node:http, closed loop at a fixed concurrency. */
import http from 'node:http';
import { latencySummary, round } from './stats.ts';

/** The Alertmanager v4 payload of one firing CriticalViolationDetected alert about `node`. */
export function alertPayload(node: string, fingerprint: string, startsAt = new Date().toISOString()): Buffer {
  const labels = { alertname: 'CriticalViolationDetected', node_or_service: node, severity: 'critical' };
  return Buffer.from(
    JSON.stringify({
      version: '4',
      groupKey: `{}:{alertname="CriticalViolationDetected", node_or_service="${node}"}`,
      truncatedAlerts: 0,
      status: 'firing',
      receiver: 'mapek',
      groupLabels: { alertname: 'CriticalViolationDetected', node_or_service: node },
      commonLabels: labels,
      commonAnnotations: {},
      externalURL: 'http://127.0.0.1:9093',
      alerts: [
        {
          status: 'firing',
          labels,
          annotations: {},
          startsAt,
          endsAt: '0001-01-01T00:00:00Z',
          generatorURL: 'http://127.0.0.1:9090/graph',
          fingerprint,
        },
      ],
    }),
  );
}

/** One keep-alive client. */
export class Client {
  readonly agent: http.Agent;

  constructor(maxSockets: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  /** POSTs a JSON body; resolves with the status code once the whole answer is read. */
  post(url: URL, body: Buffer, headers: Record<string, string> = {}): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          agent: this.agent,
          host: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json', 'content-length': String(body.length) },
        },
        (res) => {
          res.on('error', reject);
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.resume();
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** What a closed-loop run measured (after its warm-up). */
export interface ClosedLoopResult {
  concurrency: number;
  durationS: number;
  requests: number;
  ok: number;
  statuses: Record<string, number>;
  perSecond: number | null;
  latencyMs: ReturnType<typeof latencySummary>;
}

/**
 * `concurrency` workers each send one request after another for warmupMs + durationMs; only
 * requests started after the warm-up count. `body(i)` makes the i-th body (distinct alerts).
 */
export async function closedLoop(opts: {
  client: Client;
  url: URL;
  headers?: Record<string, string>;
  body: (i: number) => Buffer;
  okStatus: number;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}): Promise<ClosedLoopResult> {
  const start = performance.now();
  const measureFrom = start + opts.warmupMs;
  const end = measureFrom + opts.durationMs;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let ok = 0;
  let seq = 0;
  const worker = async () => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= end) return;
      const i = seq++;
      let status: string;
      try {
        status = String(await opts.client.post(opts.url, opts.body(i), opts.headers));
      } catch (err) {
        status = `error:${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      }
      const t1 = performance.now();
      if (t0 >= measureFrom && t1 <= end) {
        latencies.push(t1 - t0);
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status === String(opts.okStatus)) ok += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const durationS = opts.durationMs / 1000;
  return {
    concurrency: opts.concurrency,
    durationS,
    requests: latencies.length,
    ok,
    statuses,
    perSecond: round(ok / durationS, 1),
    latencyMs: latencySummary(latencies),
  };
}
