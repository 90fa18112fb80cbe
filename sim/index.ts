/** The Charter simulator (`mapek sim`): the 15 Charter metrics, the actuator API and fault injection, on one port. */
import Fastify, { type FastifyInstance } from 'fastify';
import { CharterActivity, DEFAULT_BACKGROUND_NODES } from './activity.ts';
import { registerActuatorApi } from './actuator-api.ts';
import { SimulatedCharter } from './charter.ts';
import { registerFaultApi } from './fault-api.ts';
import { installJsonErrors } from './http.ts';
import { IdempotencyLedger } from './idempotency.ts';
import { CharterMetrics } from './metrics.ts';
import { seededRandom } from './random.ts';

/** How to run the simulator; every field has a default. */
export interface SimulatorOptions {
  /** Port to listen on; default 8000, 0 for an ephemeral port. */
  port?: number;
  /** Address to bind; default 127.0.0.1. */
  host?: string;
  /** Simulated-activity tick in ms; default 1000. */
  tickMs?: number;
  /** Fastify request logging; default off. */
  logger?: boolean;
  /** Seed of the background traffic; default 42. */
  seed?: number;
  /** Nodes the background traffic comes from; default node-alpha, node-beta, node-gamma, svc-billing, svc-analytics. */
  backgroundNodes?: string[];
  /** Members of the audit committee (audit_committee_size); default 7. */
  committeeSize?: number;
  /** How long a repeat waits for a first call with the same Idempotency-Key still in flight before a 409; default 2000. */
  inFlightWaitMs?: number;
}

/** A simulator listening on a port. */
export interface RunningSimulator {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** A simulator app, not listening; its ticker runs from `ready()` to `close()`. */
export function buildSimulator(opts: SimulatorOptions = {}): FastifyInstance {
  const tickMs = opts.tickMs ?? 1000;
  if (!(tickMs > 0)) throw new RangeError(`tickMs must be positive, got ${tickMs}`);
  const nodes = opts.backgroundNodes && opts.backgroundNodes.length > 0 ? [...opts.backgroundNodes] : [...DEFAULT_BACKGROUND_NODES];

  const metrics = new CharterMetrics();
  const charter = new SimulatedCharter({
    metrics,
    random: seededRandom(opts.seed ?? 42),
    now: () => Date.now(),
    committeeSize: opts.committeeSize ?? 7,
    nodes,
  });
  const activity = new CharterActivity(charter);
  const closing = new AbortController();
  const ledger = new IdempotencyLedger(opts.inFlightWaitMs ?? 2000, closing.signal);

  const app = Fastify({ logger: opts.logger ?? false });
  installJsonErrors(app);

  app.get('/metrics', async (_req, reply) => {
    charter.syncGauges();
    const { contentType, body } = await metrics.render();
    return reply.header('content-type', contentType).send(body);
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  registerFaultApi(app, charter);
  registerActuatorApi(app, { charter, ledger, signal: closing.signal });

  app.addHook('onReady', async () => {
    activity.start(tickMs);
  });
  app.addHook('preClose', async () => {
    activity.stop();
    closing.abort();
  });
  return app;
}

/** Builds the simulator and listens; `close()` stops the ticker and the server. */
export async function startSimulator(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const app = buildSimulator(opts);
  const host = opts.host ?? '127.0.0.1';
  try {
    await app.listen({ port: opts.port ?? 8000, host });
  } catch (err) {
    await app.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (opts.port ?? 8000);
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { url: `http://${shownHost}:${port}`, port, close: () => app.close() };
}

/** `mapek sim`: runs until SIGINT or SIGTERM, printing one line once it listens. */
export async function runSimulatorCommand(opts: SimulatorOptions): Promise<void> {
  const sim = await startSimulator(opts);
  process.stdout.write(`charter simulator listening on ${sim.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await sim.close();
}
