/** The composition root: builds adapters, starts the roles, closes everything in reverse order. */
import { DelayedError, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { pino, type Logger } from 'pino';
import { buildApp } from './api/app.ts';
import { parseDuration, systemClock, type Clock } from './clock.ts';
import type { Config } from './config.ts';
import { Coalescer } from './turn-batch.ts';
import { ACTION_FAMILIES, backoffDelay, LoopQueues, producerConnection, queueName, workerConnection, type Stage } from './execute/queues.ts';
import { RetryableActionError } from './execute/actuators/types.ts';
import { openKnowledge } from './knowledge/db.ts';
import { KnowledgeStore } from './knowledge/store.ts';
import { analyzeJob, ConfigurationFailure, fireTimer, planJob, reconcile, runAction, sensorTick, type LoopDeps } from './loop.ts';
import { createQueryFn, type QueryFn } from './monitor/promql.ts';
import { LoopMetrics } from './metrics.ts';

/** The roles one process can take (DESIGN.md: `--roles api,loop,worker`). */
export type Role = 'api' | 'loop' | 'worker';

/** A running mapek. */
export interface RunningMapek {
  url?: string;
  port?: number;
  store: KnowledgeStore;
  queues: LoopQueues;
  metrics: LoopMetrics;
  /** Re-enqueues unfinished work from knowledge now. */
  reconcile(): Promise<unknown>;
  close(): Promise<void>;
}

/** Options beyond the config, mostly for tests and the demo. */
export interface StartOptions {
  roles?: Role[];
  clock?: Clock;
  logger?: Logger;
}

/** Starts mapek with the given roles; resolves once it listens and has reconciled. */
export async function startMapek(config: Config, opts: StartOptions = {}): Promise<RunningMapek> {
  const roles = new Set<Role>(opts.roles ?? ['api', 'loop', 'worker']);
  const clock = opts.clock ?? systemClock;
  const log = opts.logger ?? pino({ level: config.logLevel, base: { service: 'mapek' } });
  const cleanups: Array<() => Promise<unknown>> = [];

  // An intake-only process (the api role alone) writes observations on a writer thread (SQLite;
  // knowledge/writer.ts), so its event loop is free for requests. Where the stages run too, the
  // observations rather share COMMITs with the stages' writes (measured: BENCHMARKS.md).
  const knowledge = await openKnowledge(config.knowledgeUrl, { writerThread: roles.size === 1 && roles.has('api') });
  cleanups.push(() => knowledge.close());
  const store = new KnowledgeStore(knowledge, clock);
  store.reopenCooldownMs = parseDuration(config.pack.reopenCooldown);
  const producer = producerConnection(config.redisUrl);
  cleanups.push(async () => producer.disconnect());
  const exec = config.pack.execute;
  const queues = new LoopQueues(config.queuePrefix, producer, exec.attempts);
  cleanups.push(() => queues.close());
  const metrics = new LoopMetrics({ counts: () => store.gaugeCounts(), queueDepths: () => queues.depths() });
  store.onCommit = (writes) => {
    metrics.knowledgeWrites.inc(writes);
    metrics.knowledgeCommits.inc();
  };
  // The gauges of switches kept in knowledge start from what knowledge says.
  metrics.paused.set((await store.pauseState()).paused ? 1 : 0);
  metrics.brakeEngaged.set((await store.brakeState()).engaged ? 1 : 0);
  const queryFns = new Map<number, QueryFn>();
  const queryWithTimeout = (timeoutMs: number): QueryFn => {
    let fn = queryFns.get(timeoutMs);
    if (!fn) queryFns.set(timeoutMs, (fn = createQueryFn({ url: config.prometheusUrl, auth: config.prometheusAuth, timeoutMs })));
    return fn;
  };
  const deps: LoopDeps = {
    store,
    queues,
    metrics,
    pack: config.pack,
    clock,
    log,
    query: queryWithTimeout,
    sensorHealth: new Map(),
    actuator: {
      charterUrl: config.charterUrl,
      prometheusUrl: config.prometheusUrl,
      prometheusAuth: config.prometheusAuth,
      pagerUrl: config.pagerUrl,
      timeoutMs: parseDuration(exec.timeout),
      ...config.outbound,
    },
  };

  const workers: Worker[] = [];
  const drainMs = parseDuration(exec.drainTimeout);
  const startWorker = (stage: Stage, concurrency: number, fn: (job: Job, token?: string) => Promise<unknown>, limiter?: { max: number; duration: number }) => {
    const connection = workerConnection(config.redisUrl);
    const w = new Worker(queueName(config.queuePrefix, stage), fn, {
      connection: connection as unknown as ConnectionOptions,
      concurrency,
      limiter,
      // A worker killed mid-job loses its lock after lockDuration; the stalled check then hands
      // the job to another worker, which retries with the same Idempotency-Key (one effect).
      lockDuration: 10_000,
      stalledInterval: 5000,
      maxStalledCount: 3,
      settings: {
        backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) => {
          if (err instanceof RetryableActionError && err.retryAfterMs) return err.retryAfterMs;
          return backoffDelay(attemptsMade, parseDuration(exec.backoff), parseDuration(exec.maxBackoff));
        },
      },
    });
    w.on('error', (err) => log.debug({ err: err.message, stage }, 'worker connection error'));
    workers.push(w);
    cleanups.push(async () => {
      // Drain: in-flight jobs get drainMs to finish; past it they are left for another worker
      // (the stalled check hands them on, and the Idempotency-Key keeps their effect single).
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        w.close().then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), drainMs))),
      ]);
      clearTimeout(timer);
      if (!drained) {
        log.warn({ stage, drainMs }, 'in-flight jobs did not finish before the drain deadline; leaving them to another worker');
        await w.close(true).catch(() => {});
      }
      connection.disconnect();
    });
  };
  if (roles.has('loop')) {
    startWorker('sensors', 4, async (job) => {
      try {
        return await sensorTick(deps, job.data.sensor, { id: job.id, timestamp: job.timestamp, attemptsMade: job.attemptsMade });
      } catch (err) {
        if (err instanceof ConfigurationFailure) throw new UnrecoverableError(err.message);
        throw err;
      }
    });
    startWorker('analyze', 4, (job) => analyzeJob(deps, job.data));
    startWorker('plan', 4, (job) => planJob(deps, job.data));
    startWorker('timers', 4, (job) => fireTimer(deps, job.data.timerId));
  }
  if (roles.has('worker')) {
    for (const family of ACTION_FAMILIES) {
      const q = exec.queues[family];
      startWorker(
        `actions-${family}`,
        q.concurrency,
        (job, token) =>
          runAction(deps, job.data.actionId, {
            made: job.attemptsMade,
            max: job.opts.attempts ?? 1,
            postpone: async (ms) => {
              await job.moveToDelayed(Date.now() + ms, token);
              throw new DelayedError();
            },
          }),
        { max: q.rateLimit.max, duration: parseDuration(q.rateLimit.per) },
      );
    }
  }

  const doReconcile = async () => {
    try {
      const counts = await reconcile(deps);
      if (Object.values(counts).some((n) => n > 0)) log.info(counts, 'reconciled unfinished work from knowledge');
      return counts;
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'reconcile failed; will retry when Redis is back');
      return null;
    }
  };
  if (roles.has('loop')) {
    // Redis restarted (perhaps empty): hand back everything knowledge says is unfinished.
    const schedule = () =>
      queues.scheduleSensors(config.pack.sensors.map((s) => ({ name: s.name, everyMs: parseDuration(s.interval) })));
    // Wait briefly for Redis, so the first reconcile does not fail on a connection still opening.
    if (producer.status !== 'ready') {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 3000);
        producer.once('ready', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    // From now on every (re)connection re-enqueues what knowledge says is unfinished, and
    // re-creates the sensor schedulers (Redis may have restarted empty).
    producer.on('ready', () => {
      void doReconcile();
      void schedule().catch(() => {});
    });
    await doReconcile();
    await schedule().catch((err: Error) => log.warn({ err: err.message }, 'sensor schedulers not set; retried on reconnect'));
    // Level-based safety net: what another process recorded (a CLI approval, a crashed worker)
    // is picked up even without a restart.
    const every = setInterval(() => void doReconcile(), 30_000);
    every.unref();
    cleanups.push(async () => clearInterval(every));
  }

  let url: string | undefined;
  let port: number | undefined;
  if (roles.has('api')) {
    // The observations of the webhooks answered in one turn (one commit batch) wake analyze with one job.
    const analyzeWakes = new Coalescer<string>((ids) => queues.analyzeMany(ids, 'alertmanager'));
    const app = buildApp({
      config,
      store,
      metrics,
      log,
      boardQueues: Object.values(queues.queues),
      members: config.pack.committee.members,
      onAcknowledged: (incidentId) => {
        queues.plan(incidentId, `ack_${Date.now().toString(36)}`).catch((err: Error) => log.warn({ err: err.message }, 'enqueue failed; the reconciler will pick it up'));
      },
      onApprovalDecided: (action, quorumReached) => {
        const warn = (err: Error) => log.warn({ err: err.message, action: action.id }, 'enqueue failed; the reconciler will pick it up');
        if (quorumReached) queues.action(action.id, action.type).catch(warn);
        queues.plan(action.incidentId, `a_${action.id}_${action.approvals.length}`).catch(warn);
      },
      onObservations: (ids) => {
        analyzeWakes.add(...ids).catch((err: Error) => log.warn({ err: err.message, observations: ids.length }, 'enqueue failed; the reconciler will pick it up'));
      },
      checks: {
        knowledge: () => store.ping(),
        redis: async () => {
          await producer.ping();
        },
      },
      sensors: () => Object.fromEntries(deps.sensorHealth),
      infoChecks: {
        prometheus: async () => {
          const res = await fetch(`${config.prometheusUrl}/-/ready`, { signal: AbortSignal.timeout(1000) });
          if (!res.ok) throw new Error(`answered ${res.status}`);
        },
      },
    });
    await app.listen({ port: config.port, host: config.host });
    const addr = app.server.address();
    port = typeof addr === 'object' && addr ? addr.port : config.port;
    url = `http://${config.host}:${port}`;
    cleanups.push(() => app.close());
    log.info({ url, roles: [...roles], knowledge: knowledge.durability, dryRun: config.pack.dryRun }, 'mapek listening');
  }

  let closed = false;
  return {
    url,
    port,
    store,
    queues,
    metrics,
    reconcile: doReconcile,
    async close() {
      if (closed) return;
      closed = true;
      // Reverse order; every step runs even when one fails.
      for (const fn of cleanups.reverse()) {
        try {
          await fn();
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'close step failed');
        }
      }
    },
  };
}
