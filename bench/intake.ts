/**
 * The intake benchmark (`npm run bench:intake`, issue 3): ONE JSON document on stdout, progress on stderr.
 *
 *   baseline.fastify         bare Fastify answering the same Alertmanager POST with 202, at each
 *                            concurrency level (run before, between and after the mapek phases;
 *                            ratios use the mean at the same level)
 *   baseline.sqliteCommits   one-row transactions, WAL + synchronous=FULL, same file system
 *   baseline.postgresCommits one-row autocommit INSERTs on the same server (1 and 10 connections)
 *   mapek.<backend>.allNew   202s/s of mapek's webhook (api role only), each request a new alert
 *   mapek.<backend>.mixed    the same with every second request a re-send of an alert already kept
 *                            (same fingerprint, status and startsAt: deduplicated, not stored again)
 *
 * mapek runs in this process with ONLY the api role (no analyze/plan/execute workers competing);
 * every 202 means the observation was committed to knowledge first (on SQLite by the knowledge
 * writer thread, which mapek start uses). `summary` gives the ratio per backend and level. Knowledge is a fresh SQLite
 * file, then a fresh PostgreSQL database (created here and dropped at the end). The bench's BullMQ
 * queues (the analyze wake-ups the webhook enqueues) are obliterated at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { pino } from 'pino';
import { loadConfig } from '../src/config.ts';
import { startMapek, type RunningMapek } from '../src/main.ts';
import { alertPayload, Client, closedLoop, type ClosedLoopResult } from './lib/load.ts';
import { cleanQueuePrefix, cpuMsPer, machine, postgresCommitFloor, postgresDurability, REDIS_URL, scratchPostgres, sqliteCommitFloor } from './lib/env.ts';
import { concurrencyLevels, phaseMeter, progress, round, runBenchmark, sleep } from './lib/stats.ts';

/** BENCH_QUICK=1: a smoke run of a few seconds per phase (figures not meaningful). */
const QUICK = process.env.BENCH_QUICK === '1';
const q = (ms: number) => (QUICK ? Math.max(400, Math.round(ms / 6)) : ms);

/**
 * Requests in flight, one closed loop per level, for Fastify and mapek alike. At 16 (the loop
 * benchmark's figure too) a durable intake is bound by latency: every 202 waits for an fsynced
 * COMMIT, so the clients wait on the disk, not on the CPU. At 64 both sides are saturated: that is
 * the capacity figure. BENCH_CONCURRENCY=16,64 (the default) sets the levels.
 */
const LEVELS = concurrencyLevels();
const WARMUP_MS = q(1500);
const MEASURE_MS = q(6000);
const COMMIT_MEASURE_MS = q(3000);
/** In the mixed phases, a re-send repeats an alert first sent at least this many new alerts earlier (already committed). */
const RESEND_LAG = 64;
/** Fraction of requests that are re-sends in the mixed phases. */
const DUPLICATE_SHARE = 0.5;

const RUN = randomBytes(3).toString('hex');
const PREFIX = `bench-intake-${RUN}`;
const BASE_STARTS_AT = Date.parse('2026-12-04T00:00:00Z');
/** Filled by main's cleanup, before the document is printed. */
const CLEANUP: Record<string, unknown> = {};

/** Counts every answer, also outside the measured window (to check what was kept against what was sent). */
class TallyClient extends Client {
  readonly all: Record<string, number> = {};

  override async post(url: URL, body: Buffer, headers: Record<string, string> = {}): Promise<number> {
    try {
      const status = await super.post(url, body, headers);
      this.all[String(status)] = (this.all[String(status)] ?? 0) + 1;
      return status;
    } catch (err) {
      const k = `error:${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      this.all[k] = (this.all[k] ?? 0) + 1;
      throw err;
    }
  }

  reset(): void {
    for (const k of Object.keys(this.all)) delete this.all[k];
  }
}

/** Bodies of one phase: new alerts, or (mixed) every other request a re-send of an earlier alert. */
class Alerts {
  distinct = 0;
  resends = 0;

  constructor(
    readonly phase: string,
    private readonly duplicateShare: number,
  ) {}

  node(k: number): string {
    return `bench-in-${RUN}-${this.phase}-${String(k).padStart(6, '0')}`;
  }

  private payload(k: number): Buffer {
    const node = this.node(k);
    // startsAt fixed per alert: a re-send carries the same (fingerprint, status, startsAt).
    return alertPayload(node, `${node}-fp`, new Date(BASE_STARTS_AT + k * 1000).toISOString());
  }

  body(i: number): Buffer {
    // Spread evenly: request i is a re-send when it crosses the next multiple of 1/share.
    const resend = this.distinct > RESEND_LAG && Math.floor((i + 1) * this.duplicateShare) > Math.floor(i * this.duplicateShare);
    if (resend) {
      this.resends += 1;
      return this.payload(Math.floor(Math.random() * (this.distinct - RESEND_LAG)));
    }
    return this.payload(this.distinct++);
  }
}

async function baselineFastify(client: Client, concurrency: number) {
  const app = Fastify({ logger: false });
  app.post('/webhooks/alertmanager', async (_req, reply) => reply.code(202).send({ accepted: 1, duplicates: 0 }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    const alerts = new Alerts('fy', 0);
    const meter = phaseMeter();
    const res = await closedLoop({
      client,
      url: new URL(`http://127.0.0.1:${port}/webhooks/alertmanager`),
      body: (i) => alerts.body(i),
      okStatus: 202,
      concurrency,
      warmupMs: WARMUP_MS,
      durationMs: MEASURE_MS,
    });
    const use = meter();
    return { concurrency, requestsPerSecond: res.perSecond, latencyMs: res.latencyMs, requests: res.requests, statuses: res.statuses, resources: use, cpuMsPerRequest: cpuMsPer(use, res.perSecond) };
  } finally {
    await app.close();
  }
}

async function dedupCount(running: RunningMapek): Promise<number> {
  const m = await running.metrics.observationsDeduplicated.get();
  return m.values.filter((v) => v.labels.source === 'alertmanager').reduce((s, v) => s + v.value, 0);
}

/** One closed-loop run against mapek's webhook, then a check of what knowledge kept. */
async function webhookPhase(running: RunningMapek, client: TallyClient, phase: string, duplicateShare: number, concurrency: number) {
  const alerts = new Alerts(phase, duplicateShare);
  const dedup0 = await dedupCount(running);
  const batches0 = { ...running.store.batchStats };
  client.reset();
  const meter = phaseMeter();
  const res: ClosedLoopResult = await closedLoop({
    client,
    url: new URL(`${running.url}/webhooks/alertmanager`),
    body: (i) => alerts.body(i),
    okStatus: 202,
    concurrency,
    warmupMs: WARMUP_MS,
    durationMs: MEASURE_MS,
  });
  const use = meter();
  const dedup = (await dedupCount(running)) - dedup0;
  const writes = running.store.batchStats.writes - batches0.writes;
  const commits = running.store.batchStats.batches - batches0.batches;
  const stored = await running.store.db
    .selectFrom('observations')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('fingerprint', 'like', `bench-in-${RUN}-${phase}-%`)
    .executeTakeFirstOrThrow();
  const allAccepted = Object.keys(client.all).every((k) => k === '202');
  const kept = {
    requestsSent: Object.values(client.all).reduce((a, b) => a + b, 0),
    answers: { ...client.all },
    distinctAlertsSent: alerts.distinct,
    resendsSent: alerts.resends,
    observationsInKnowledge: Number(stored.n),
    duplicatesCountedByMapek: dedup,
    // Every request answered 202, every distinct alert stored once, every re-send recognised.
    ok: allAccepted && Number(stored.n) === alerts.distinct && dedup === alerts.resends,
  };
  progress(`  ${phase}: ${res.perSecond} 202/s, p50 ${res.latencyMs.p50} ms, p99 ${res.latencyMs.p99} ms; ${commits} commits for ${kept.requestsSent} requests; kept ${JSON.stringify(kept)}`);
  return {
    concurrency,
    acceptedPerSecond: res.perSecond,
    latencyMs: res.latencyMs,
    requests: res.requests,
    statuses: res.statuses,
    duplicateShare,
    resources: use,
    cpuMsPer202: cpuMsPer(use, res.perSecond),
    // Group commit: knowledge writes (a turn's webhooks are one write) and the COMMITs they shared.
    groupCommit: { writes, commits, requestsPerCommit: commits ? round(kept.requestsSent / commits, 1) : null },
    kept,
  };
}

async function startApiOnly(knowledgeUrl: string): Promise<RunningMapek> {
  const env = { KNOWLEDGE_URL: knowledgeUrl, REDIS_URL, MAPEK_QUEUE_PREFIX: PREFIX, PROMETHEUS_URL: 'http://127.0.0.1:9', LOG_LEVEL: 'silent' };
  const config = loadConfig({ port: 0, packOverrides: { sensors: [] } }, env);
  return startMapek(config, { roles: ['api'], logger: pino({ level: 'silent' }) });
}

async function mapekOn(backend: string, knowledgeUrl: string, client: TallyClient) {
  progress(`mapek (api role only) on ${backend}`);
  const running = await startApiOnly(knowledgeUrl);
  try {
    await sleep(500);
    const atConcurrency: Record<string, { allNew: Awaited<ReturnType<typeof webhookPhase>>; mixed: Awaited<ReturnType<typeof webhookPhase>> }> = {};
    for (const c of LEVELS) {
      progress(`  ${c} in flight`);
      const allNew = await webhookPhase(running, client, `${backend}-c${c}-new`, 0, c);
      const mixed = await webhookPhase(running, client, `${backend}-c${c}-mix`, DUPLICATE_SHARE, c);
      atConcurrency[c] = { allNew, mixed };
    }
    const analyzeWaiting = await running.queues.queues.analyze.getJobCounts('waiting', 'prioritized', 'delayed');
    return { durability: running.store.handle.durability, atConcurrency, analyzeWakeUpsQueued: analyzeWaiting };
  } finally {
    await running.close();
  }
}

async function main() {
  const startedAt = new Date();
  const load0 = os.loadavg();
  const dir = mkdtempSync(join(os.tmpdir(), 'mapek-bench-intake-'));
  const client = new TallyClient(Math.max(...LEVELS) * 2);
  let pgDb: Awaited<ReturnType<typeof scratchPostgres>> | undefined;
  try {
    const fastify: Array<Awaited<ReturnType<typeof baselineFastify>>> = [];
    /** One Fastify run per level, at each of three points of the benchmark (the cores are shared and noisy). */
    const fastifySlot = async (slot: number) => {
      for (const c of LEVELS) {
        progress(`baseline: bare Fastify, ${c} concurrent POSTs (${slot} of 3)`);
        const run = await baselineFastify(client, c);
        fastify.push(run);
        progress(`  ${run.requestsPerSecond} req/s, p50 ${run.latencyMs.p50} ms`);
      }
    };
    await fastifySlot(1);

    progress('baseline: SQLite commits (better-sqlite3, WAL, synchronous=FULL)');
    const sqliteCommits = await sqliteCommitFloor(dir, COMMIT_MEASURE_MS);
    progress(`  ${sqliteCommits.commitsPerSecond} commits/s, p50 ${sqliteCommits.latencyMs.p50} ms, p99 ${sqliteCommits.latencyMs.p99} ms`);

    const sqlite = await mapekOn('sqlite', `sqlite:${join(dir, 'knowledge.db')}`, client);

    await fastifySlot(2);

    pgDb = await scratchPostgres();
    progress(`PostgreSQL database ${pgDb.name} created`);
    const pgSettings = await postgresDurability(pgDb.url);
    progress('baseline: PostgreSQL commits (1 and 10 connections)');
    const pgCommits1 = await postgresCommitFloor(pgDb.url, COMMIT_MEASURE_MS, 1);
    const pgCommits10 = await postgresCommitFloor(pgDb.url, COMMIT_MEASURE_MS, 10);
    progress(`  ${pgCommits1.commitsPerSecond} commits/s sequential, ${pgCommits10.commitsPerSecond} with 10 connections`);
    const postgres = await mapekOn('postgres', pgDb.url, client);

    await fastifySlot(3);

    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const fyAt = Object.fromEntries(
      LEVELS.map((c) => {
        const runs = fastify.filter((f) => f.concurrency === c);
        return [c, { requestsPerSecondMean: mean(runs.map((f) => f.requestsPerSecond ?? 0)), p50MsMean: mean(runs.map((f) => f.latencyMs.p50 ?? 0)) }];
      }),
    );
    const withRatios = (r: Awaited<ReturnType<typeof webhookPhase>>) => {
      const fy = fyAt[r.concurrency]!;
      return {
        ratioToFastify: r.acceptedPerSecond !== null && fy.requestsPerSecondMean ? round(r.acceptedPerSecond / fy.requestsPerSecondMean, 3) : null,
        p50TimesFastify: r.latencyMs.p50 !== null && fy.p50MsMean ? round(r.latencyMs.p50 / fy.p50MsMean, 1) : null,
        ...r,
      };
    };
    const backendResult = (b: typeof sqlite) => ({
      ...b,
      atConcurrency: Object.fromEntries(Object.entries(b.atConcurrency).map(([c, p]) => [c, { allNew: withRatios(p.allNew), mixed: withRatios(p.mixed) }])),
    });
    const results = { sqlite: backendResult(sqlite), postgres: backendResult(postgres) };
    // One line per backend and level: the figures the goal is read from.
    const summary = Object.entries(results).flatMap(([backend, b]) =>
      Object.entries(b.atConcurrency).map(([c, p]) => ({ backend, concurrency: Number(c), allNew: p.allNew.ratioToFastify, mixed: p.mixed.ratioToFastify, kept: p.allNew.kept.ok && p.mixed.kept.ok })),
    );
    return {
      benchmark: 'mapek intake (Alertmanager webhook, durable and deduplicated)',
      goal: 'acceptedPerSecond / bare Fastify requestsPerSecond >= 0.5, at the same concurrency',
      summary,
      baseline: {
        fastify: {
          atConcurrency: Object.fromEntries(Object.entries(fyAt).map(([c, f]) => [c, { requestsPerSecondMean: round(f.requestsPerSecondMean, 1), p50MsMean: round(f.p50MsMean, 2) }])),
          runs: fastify,
          order: 'each level before sqlite, between sqlite and postgres, after postgres',
        },
        sqliteCommits,
        postgresCommits: { sequential: pgCommits1, tenConnections: pgCommits10 },
      },
      mapek: results,
      settings: {
        ...machine(load0),
        durability: {
          sqlite: `${sqlite.durability}; writers BEGIN IMMEDIATE, busy timeout 3 s; 202 only after COMMIT`,
          postgres: { mapek: postgres.durability, server: pgSettings, pool: 'pg.Pool max 10; chained writes serialised by pg_advisory_xact_lock' },
        },
        roles: ['api'],
        payload: 'Alertmanager v4, one firing CriticalViolationDetected alert per request, ~760 bytes',
        client: `keep-alive node:http, closed loops of ${LEVELS.join(' and ')} concurrent requests, ${WARMUP_MS / 1000} s warm-up, ${MEASURE_MS / 1000} s measured each`,
        mixed: `${DUPLICATE_SHARE * 100}% of requests re-send an alert first sent at least ${RESEND_LAG} new alerts earlier (same fingerprint, status, startsAt)`,
        webhookToken: 'not set (MAPEK_WEBHOOK_TOKEN unset)',
        redis: { url: REDIS_URL, queuePrefix: PREFIX },
        process: 'mapek (api role), the Fastify baseline and the load client share this Node process; Redis and PostgreSQL are separate processes',
        quick: QUICK,
        date: startedAt.toISOString(),
        cleanup: CLEANUP,
      },
    };
  } finally {
    progress('stopping');
    client.close();
    CLEANUP.queues = await cleanQueuePrefix(REDIS_URL, PREFIX).catch((err: Error) => `failed: ${err.message}`);
    if (pgDb) {
      const name = pgDb.name;
      CLEANUP.postgresDatabaseDropped = await pgDb.drop().then(
        () => name,
        (err: Error) => `dropping ${name} failed: ${err.message}`,
      );
    }
    rmSync(dir, { recursive: true, force: true });
    CLEANUP.sqliteDirRemoved = dir;
  }
}

await runBenchmark(main);
