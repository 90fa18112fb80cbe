/** BullMQ queues between the stages: transport only; knowledge is the record (principle 2). */
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { Coalescer } from '../turn-batch.ts';

/** Actions run in one queue per actuator family, each with its own concurrency and rate limit. */
export const ACTION_FAMILIES = ['charter', 'prometheus', 'notify'] as const;
export type ActionFamily = (typeof ACTION_FAMILIES)[number];

/** The stage queues, by role. */
export const STAGES = ['sensors', 'analyze', 'plan', 'timers', 'actions-charter', 'actions-prometheus', 'actions-notify'] as const;
export type Stage = (typeof STAGES)[number];

/** The family (and so the queue) of an action type. */
export function actionFamily(type: string): ActionFamily {
  if (type.startsWith('charter.')) return 'charter';
  if (type.startsWith('prometheus.')) return 'prometheus';
  return 'notify';
}

/** Exponential backoff from `base`, capped at `max`, with full jitter over its upper half. */
export function backoffDelay(attemptsMade: number, base: number, max: number, random: () => number = Math.random): number {
  const exp = Math.min(max, base * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** A Redis connection for producers: fails fast when Redis is down so callers fall back on knowledge. */
export function producerConnection(url: string): Redis {
  const opts: RedisOptions = { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000, lazyConnect: false };
  const r = new Redis(url, opts);
  r.on('error', () => {});
  return r;
}

/** A Redis connection for workers: BullMQ needs blocking commands that wait through reconnects. */
export function workerConnection(url: string): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: null, connectTimeout: 2000 });
  r.on('error', () => {});
  return r;
}

/** Queue name of a stage under a prefix (no `:`; BullMQ reserves it). */
export function queueName(prefix: string, stage: Stage): string {
  return `${prefix}-${stage}`;
}

/** Adds jobs with deterministic ids so duplicate wake-ups collapse (STYLE.md, habit 6). */
export class LoopQueues {
  readonly queues: Record<Stage, Queue>;

  constructor(
    readonly prefix: string,
    readonly connection: Redis,
    /** Attempts of each action job; the backoff between them is the workers' (main.ts). */
    private readonly actionAttempts: number,
  ) {
    const conn = connection as unknown as ConnectionOptions;
    const make = (stage: Stage) => {
      const q = new Queue(queueName(prefix, stage), { connection: conn });
      q.on('error', () => {});
      return q;
    };
    this.queues = Object.fromEntries(STAGES.map((s) => [s, make(s)])) as Record<Stage, Queue>;
  }

  private static readonly keep: JobsOptions = { removeOnComplete: true, removeOnFail: 1000 };

  /** Wakes analyze for one observation. */
  async analyze(observationId: string, source?: 'alertmanager' | 'sensor'): Promise<void> {
    await this.queues.analyze.add('analyze', { observationId, source }, { ...LoopQueues.keep, jobId: observationId, attempts: 10, backoff: { type: 'exponential', delay: 500 } });
  }

  /**
   * Wakes analyze for observations committed together: one job for them all (one Redis call
   * instead of one per observation). A batch's job id is its first observation's, prefixed, so
   * the same wake-up sent twice is one job; a batch of one is the plain per-observation job.
   */
  async analyzeMany(observationIds: string[], source: 'alertmanager' | 'sensor'): Promise<void> {
    if (observationIds.length === 0) return;
    if (observationIds.length === 1) return this.analyze(observationIds[0]!, source);
    await this.queues.analyze.add('analyze', { observationIds, source }, { ...LoopQueues.keep, jobId: `batch_${observationIds[0]}`, attempts: 10, backoff: { type: 'exponential', delay: 500 } });
  }

  /** Wakes the plan of one incident; the same wake-up twice is one job. */
  async plan(incidentId: string, cause: string): Promise<void> {
    await this.queues.plan.add('plan', { incidentId }, { ...LoopQueues.plans, jobId: `${incidentId}__${cause}` });
  }

  private static readonly plans: JobsOptions = { ...LoopQueues.keep, attempts: 20, backoff: { type: 'fixed', delay: 200 } };

  private readonly planWakes = new Coalescer<{ incidentId: string; cause: string }>(async (wakes) => {
    if (wakes.length === 1) return this.plan(wakes[0]!.incidentId, wakes[0]!.cause);
    const incidentIds = [...new Set(wakes.map((w) => w.incidentId))];
    await this.queues.plan.add('plan', { incidentIds }, { ...LoopQueues.plans, jobId: `batch_${wakes[0]!.incidentId}__${wakes[0]!.cause}` });
  });

  /**
   * Wakes the plan of one incident together with the other wake-ups sent in the same turn of the
   * event loop (the workers' many concurrent jobs): one job for them all.
   */
  planSoon(incidentId: string, cause: string): Promise<void> {
    return this.planWakes.add({ incidentId, cause });
  }

  /** Queues one action; its id is (incident, step, iteration), so a re-planned step is never queued twice. */
  async action(actionId: string, type: string): Promise<void> {
    await this.queues[`actions-${actionFamily(type)}`].add('action', { actionId }, { ...LoopQueues.keep, jobId: actionId, attempts: this.actionAttempts, backoff: { type: 'mapek' } });
  }

  /** Delivers a timer at its absolute deadline. */
  async timer(timerId: string, dueAt: string, now: number): Promise<void> {
    const delay = Math.max(0, Date.parse(dueAt) - now);
    await this.queues.timers.add('timer', { timerId }, { ...LoopQueues.keep, jobId: timerId, delay, attempts: 10, backoff: { type: 'exponential', delay: 500 } });
  }

  /**
   * Makes the sensor schedulers match the pack: one BullMQ job scheduler per sensor (one tick per
   * interval across all replicas); schedulers of sensors no longer configured are removed.
   */
  async scheduleSensors(sensors: Array<{ name: string; everyMs: number }>): Promise<void> {
    const q = this.queues.sensors;
    const wanted = new Set(sensors.map((s) => `sensor-${s.name}`));
    for (const existing of await q.getJobSchedulers()) {
      if (existing.key && !wanted.has(existing.key)) await q.removeJobScheduler(existing.key);
    }
    for (const s of sensors) {
      await q.upsertJobScheduler(`sensor-${s.name}`, { every: s.everyMs }, { name: 'tick', data: { sensor: s.name }, opts: { attempts: 2, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: true, removeOnFail: 100 } });
    }
  }

  /** Job counts by queue and state, for /metrics. */
  async depths(): Promise<Array<{ queue: string; state: string; n: number }>> {
    const out: Array<{ queue: string; state: string; n: number }> = [];
    for (const stage of STAGES) {
      const counts = await this.queues[stage].getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
      for (const [state, n] of Object.entries(counts)) out.push({ queue: stage, state, n });
    }
    return out;
  }

  /** Closes every queue, even when one fails. */
  async close(): Promise<void> {
    await Promise.allSettled(STAGES.map((s) => this.queues[s].close()));
  }
}
