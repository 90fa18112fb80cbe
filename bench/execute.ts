/**
 * The execute benchmark (`npm run bench:execute`, issue 6): ONE JSON document on stdout, progress on stderr.
 *
 *   baseline.bullmqHttp   N bare BullMQ jobs, each one plain HTTP POST /api/investigations (with an
 *                         Idempotency-Key) to the Charter simulator; worker concurrency as mapek's
 *                         Charter queue in the lifted run, at each level (16 and 64). Alternates
 *                         with the lifted mapek runs, after an unmeasured warm-up pair (both paths).
 *   mapek.lifted          N `charter.investigation` actions through mapek's execute path: queue →
 *                         actuator (the Charter call) → outcome recorded in knowledge (action
 *                         succeeded + its plan event, hash-chained), with the Charter queue's rate
 *                         limit lifted; timed from the first enqueue until every action is
 *                         `succeeded` in knowledge; `summary` gives the ratio per level
 *   mapek.shipped         the same with the shipped pack's Charter queue (concurrency 8, 50/s)
 *
 * mapek runs in this process with ONLY the worker role. The actions are written straight into
 * knowledge (status planned, with the incidents they belong to) and enqueued with the same call
 * the plan stage uses (`queues.action`), so only execute is measured. Each phase gets a fresh
 * simulator; at the end the simulator's records are counted: exactly one investigation per action.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadConfig } from '../src/config.ts';
import { startMapek, type RunningMapek } from '../src/main.ts';
import { actionIdentity } from '../src/knowledge/store.ts';
import type { Database } from '../src/knowledge/schema.ts';
import { startSimulator, type RunningSimulator } from '../sim/index.ts';
import { cleanQueuePrefix, cpuMsPer, machine, REDIS_URL, sqliteCommitFloor } from './lib/env.ts';
import { concurrencyLevels, phaseMeter, progress, round, runBenchmark, sleep } from './lib/stats.ts';

const QUICK = process.env.BENCH_QUICK === '1';
/** Actions (and bare jobs) in the lifted run and the baseline. */
// 3,000 (2–4 s a phase on this machine): the simulator's cost per call no longer grows with its
// records (it once recounted every investigation per POST, which capped N at 1,000). A fresh
// simulator per run all the same.
const N = Number(process.env.BENCH_ACTIONS || (QUICK ? 300 : 3000));
/** Alternating baseline / lifted pairs (the cores are shared and noisy). */
const REPS = Number(process.env.BENCH_REPS || 3);
/** A first, unmeasured pair of this size warms both paths up (the JIT; first connections). */
const N_WARMUP = Number(process.env.BENCH_WARMUP ?? (QUICK ? 50 : 1000));
/** Actions in the run with the shipped rate limit (50/s: N_SHIPPED / 50 seconds at best). */
const N_SHIPPED = Number(process.env.BENCH_ACTIONS_SHIPPED || (QUICK ? 100 : 500));
/**
 * Worker concurrency of the lifted Charter queue and of the bare baseline, the same for both: one
 * set of pairs per level. At 16 mapek waits on its fsynced COMMITs (two per action, shared with
 * the actions in flight); at 64 both paths are saturated, the capacity figure.
 * BENCH_CONCURRENCY=16,64 (the default) sets the levels.
 */
const LEVELS = concurrencyLevels();
const lifted = (concurrency: number) => ({ concurrency, rateLimit: { max: 100_000, per: '1s' } });
/** Adds in flight while enqueueing (both paths enqueue the same way). */
const ENQUEUE_IN_FLIGHT = 64;
const PHASE_TIMEOUT_MS = 90_000;

const RUN = randomBytes(3).toString('hex');
const PREFIX = `bench-exec-${RUN}`;
const CLEANUP: Record<string, unknown> = {};

interface Investigation {
  id: string;
  node_or_service: string;
  idempotency_key: string | null;
  created_at: string;
}

async function investigations(sim: RunningSimulator): Promise<Investigation[]> {
  const res = await fetch(`${sim.url}/api/investigations`);
  if (!res.ok) throw new Error(`GET /api/investigations answered ${res.status}`);
  return ((await res.json()) as { items: Investigation[] }).items;
}

/** Each of `nodes` has exactly one investigation at the simulator, with the expected key. */
function effectsOnce(records: Investigation[], expected: Map<string, string>) {
  const byNode = new Map<string, Investigation[]>();
  for (const r of records) {
    if (!expected.has(r.node_or_service)) continue;
    const list = byNode.get(r.node_or_service) ?? [];
    list.push(r);
    byNode.set(r.node_or_service, list);
  }
  let exactlyOne = 0;
  let none = 0;
  let moreThanOne = 0;
  let wrongKey = 0;
  for (const [node, key] of expected) {
    const list = byNode.get(node) ?? [];
    if (list.length === 0) none += 1;
    else if (list.length === 1) exactlyOne += 1;
    else moreThanOne += 1;
    for (const r of list) if (r.idempotency_key !== key) wrongKey += 1;
  }
  return { actions: expected.size, exactlyOne, none, moreThanOne, wrongKey, ok: none === 0 && moreThanOne === 0 && wrongKey === 0 };
}

/** Runs `n` calls of `fn`, at most `inFlight` at once. */
async function pooled(n: number, inFlight: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, inFlight) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** N bare BullMQ jobs, each one POST to the simulator; from the first add until the last job completed. */
async function baselineBullmqHttp(label: string, n: number, concurrency: number) {
  const sim = await startSimulator({ port: 0 });
  const name = `${PREFIX}-bare-${label}`;
  const producer = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 });
  const consumer = new Redis(REDIS_URL, { maxRetriesPerRequest: null, connectTimeout: 2000 });
  producer.on('error', () => {});
  consumer.on('error', () => {});
  const queue = new Queue(name, { connection: producer as unknown as ConnectionOptions });
  queue.on('error', () => {});
  const url = `${sim.url}/api/investigations`;
  const worker = new Worker(
    name,
    async (job) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': job.data.key },
        body: JSON.stringify({ violation_type: 'unspecified', node_or_service: job.data.node, initiated_by: 'system' }),
        signal: AbortSignal.timeout(10_000),
      });
      await res.text();
      if (!res.ok) throw new Error(`POST answered ${res.status}`);
    },
    { connection: consumer as unknown as ConnectionOptions, concurrency },
  );
  worker.on('error', () => {});
  let completed = 0;
  let failed = 0;
  let allDone: () => void = () => {};
  const done = new Promise<void>((r) => (allDone = r));
  worker.on('completed', () => {
    completed += 1;
    if (completed === n) allDone();
  });
  worker.on('failed', () => {
    failed += 1;
  });
  const expected = new Map<string, string>();
  try {
    await queue.waitUntilReady();
    await worker.waitUntilReady();
    await sleep(300);
    const meter = phaseMeter();
    const t0 = performance.now();
    await pooled(n, ENQUEUE_IN_FLIGHT, async (i) => {
      const node = `bench-bare-${label}-${RUN}-${String(i).padStart(6, '0')}`;
      const key = `bare-${RUN}-${label}-${i}`;
      expected.set(node, key);
      await queue.add('call', { node, key }, { jobId: `j${i}`, removeOnComplete: true, removeOnFail: 1000, attempts: 5, backoff: { type: 'exponential', delay: 1000 } });
    });
    const enqueuedMs = performance.now() - t0;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([done.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), PHASE_TIMEOUT_MS)))]);
    clearTimeout(timer);
    const ms = performance.now() - t0;
    const use = meter();
    const once = effectsOnce(await investigations(sim), expected);
    const perSecond = round(completed / (ms / 1000), 1);
    progress(`  bare ${label}: ${completed} jobs in ${Math.round(ms)} ms = ${perSecond}/s (enqueued in ${Math.round(enqueuedMs)} ms), failed attempts ${failed}; effects ${JSON.stringify(once)}`);
    return { concurrency, jobs: n, completed, failedAttempts: failed, timedOut, seconds: round(ms / 1000, 2), enqueueSeconds: round(enqueuedMs / 1000, 2), jobsPerSecond: perSecond, resources: use, cpuMsPerJob: cpuMsPer(use, perSecond), effectsOnce: once };
  } finally {
    await worker.close().catch(() => {});
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close().catch(() => {});
    producer.disconnect();
    consumer.disconnect();
    await sim.close();
  }
}

/** Writes `n` incidents with one planned `charter.investigation` action each, straight into knowledge. */
async function seedActions(running: RunningMapek, label: string, n: number): Promise<Array<{ id: string; node: string; key: string }>> {
  const now = new Date().toISOString();
  const out: Array<{ id: string; node: string; key: string }> = [];
  const incidents: Array<Database['incidents']> = [];
  const actions: Array<Database['actions']> = [];
  for (let i = 0; i < n; i++) {
    const node = `bench-exec-${label}-${RUN}-${String(i).padStart(6, '0')}`;
    const incidentId = `inc_bench${RUN}${label}${String(i).padStart(6, '0')}`;
    const labels = { node_or_service: node, alertname: 'CriticalViolationDetected' };
    incidents.push({
      id: incidentId,
      playbook: 'critical-violation',
      subject_key: JSON.stringify([['node_or_service', node]]),
      labels: JSON.stringify(labels),
      state: 'remediating',
      active_slot: 1,
      created_at: now,
      updated_at: now,
      closed_at: null,
    });
    const { id, idempotencyKey } = actionIdentity(incidentId, 'investigate', 1);
    actions.push({
      id,
      incident_id: incidentId,
      step: 'investigate',
      iteration: 1,
      type: 'charter.investigation',
      params: JSON.stringify({ violation_type: 'unspecified', node_or_service: node, initiated_by: 'system' }),
      status: 'planned',
      attempts: 0,
      idempotency_key: idempotencyKey,
      outcome: null,
      quorum: null,
      approvals: '[]',
      last_error: null,
      created_at: now,
      updated_at: now,
    });
    out.push({ id, node, key: idempotencyKey });
  }
  await running.store.db.transaction().execute(async (tx) => {
    for (let i = 0; i < n; i += 500) {
      await tx.insertInto('incidents').values(incidents.slice(i, i + 500)).execute();
      await tx.insertInto('actions').values(actions.slice(i, i + 500)).execute();
    }
  });
  return out;
}

async function succeededCount(running: RunningMapek): Promise<{ succeeded: number; dead: number }> {
  const m = await running.metrics.actions.get();
  const of = (outcome: string) => m.values.filter((v) => v.labels.type === 'charter.investigation' && v.labels.outcome === outcome).reduce((s, v) => s + v.value, 0);
  return { succeeded: of('succeeded'), dead: of('dead') };
}

/** n actions through mapek's execute path; from the first enqueue until every action is succeeded (or dead) in knowledge. */
async function mapekRun(label: string, n: number, dir: string, limits: { concurrency: number } | 'shipped') {
  const sim = await startSimulator({ port: 0 });
  const prefix = `${PREFIX}-${label}`;
  const env = {
    KNOWLEDGE_URL: `sqlite:${join(dir, `knowledge-${label}.db`)}`,
    REDIS_URL,
    MAPEK_QUEUE_PREFIX: prefix,
    PROMETHEUS_URL: 'http://127.0.0.1:9',
    CHARTER_URL: sim.url,
    LOG_LEVEL: 'silent',
  };
  // budgets: [] — the shipped pack allows 60 investigations per hour; past them an action is dead
  // without a call (policy, not throughput), so both runs lift the budgets.
  const packOverrides = { sensors: [], budgets: [], ...(limits === 'shipped' ? {} : { execute: { queues: { charter: lifted(limits.concurrency) } } }) };
  const config = loadConfig({ port: 0, packOverrides }, env);
  const running = await startMapek(config, { roles: ['worker'], logger: pino({ level: 'silent' }) });
  try {
    const seeded = await seedActions(running, label, n);
    await sleep(300);
    const meter = phaseMeter();
    const batches0 = { ...running.store.batchStats };
    const t0 = performance.now();
    await pooled(n, ENQUEUE_IN_FLIGHT, (i) => running.queues.action(seeded[i]!.id, 'charter.investigation'));
    const enqueuedMs = performance.now() - t0;
    let counts = await succeededCount(running);
    while (counts.succeeded + counts.dead < n && performance.now() - t0 < PHASE_TIMEOUT_MS) {
      await sleep(10);
      counts = await succeededCount(running);
    }
    const ms = performance.now() - t0;
    const use = meter();
    // Group commit: the writes of the run (two per action, and the bench's own polling reads none) and the COMMITs they shared.
    const writes = running.store.batchStats.writes - batches0.writes;
    const commits = running.store.batchStats.batches - batches0.batches;
    const rows = await running.store.db
      .selectFrom('actions')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.sum<number>('attempts').as('attempts')])
      .where('type', '=', 'charter.investigation')
      .groupBy('status')
      .execute();
    const inKnowledge = Object.fromEntries(rows.map((r) => [r.status, { actions: Number(r.n), attempts: Number(r.attempts) }]));
    const events = await running.store.db.selectFrom('plan_events').select((eb) => eb.fn.countAll<number>().as('n')).where('type', '=', 'action.succeeded').executeTakeFirstOrThrow();
    const ledger = await running.store.db.selectFrom('audit_ledger').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const errors = await running.store.db
      .selectFrom('actions')
      .select(['last_error', (eb) => eb.fn.countAll<number>().as('n')])
      .where('type', '=', 'charter.investigation')
      .where('last_error', 'is not', null)
      .groupBy('last_error')
      .orderBy('n', 'desc')
      .limit(5)
      .execute();
    const once = effectsOnce(await investigations(sim), new Map(seeded.map((s) => [s.node, s.key])));
    const perSecond = round(counts.succeeded / (ms / 1000), 1);
    progress(`  mapek ${label}: ${counts.succeeded} succeeded (${counts.dead} dead) in ${Math.round(ms)} ms = ${perSecond}/s (enqueued in ${Math.round(enqueuedMs)} ms); knowledge ${JSON.stringify(inKnowledge)}; effects ${JSON.stringify(once)}`);
    const q = config.pack.execute.queues.charter;
    return {
      concurrency: q.concurrency,
      actions: n,
      succeeded: counts.succeeded,
      dead: counts.dead,
      seconds: round(ms / 1000, 2),
      enqueueSeconds: round(enqueuedMs / 1000, 2),
      actionsPerSecond: perSecond,
      charterQueue: { concurrency: q.concurrency, rateLimit: q.rateLimit },
      resources: use,
      cpuMsPerAction: cpuMsPer(use, perSecond),
      groupCommit: { writes, commits, writesPerCommit: commits ? round(writes / commits, 1) : null },
      knowledge: { actionsByStatus: inKnowledge, lastErrors: errors.map((e) => ({ error: e.last_error, actions: Number(e.n) })), actionSucceededPlanEvents: Number(events.n), auditLinks: Number(ledger.n), durability: running.store.handle.durability },
      effectsOnce: once,
    };
  } finally {
    await running.close();
    await sim.close();
  }
}

async function main() {
  const startedAt = new Date();
  const load0 = os.loadavg();
  const dir = mkdtempSync(join(os.tmpdir(), 'mapek-bench-execute-'));
  try {
    progress('baseline: SQLite commits (better-sqlite3, WAL, synchronous=FULL)');
    const sqliteCommits = await sqliteCommitFloor(dir, QUICK ? 500 : 2000);
    progress(`  ${sqliteCommits.commitsPerSecond} commits/s`);
    const warmUp: Record<string, unknown> = {};
    if (N_WARMUP > 0) {
      progress(`warm-up (not measured): ${N_WARMUP} bare jobs, then ${N_WARMUP} mapek actions`);
      warmUp.bare = (await baselineBullmqHttp('warm', N_WARMUP, LEVELS[0]!)).jobsPerSecond;
      warmUp.mapek = (await mapekRun('warm', N_WARMUP, dir, { concurrency: LEVELS[0]! })).actionsPerSecond;
    }
    const bare: Array<Awaited<ReturnType<typeof baselineBullmqHttp>>> = [];
    const liftedRuns: Array<Awaited<ReturnType<typeof mapekRun>>> = [];
    for (const c of LEVELS) {
      for (let r = 1; r <= REPS; r++) {
        progress(`baseline: ${N} bare BullMQ jobs, each one POST to the simulator, worker concurrency ${c} (${r} of ${REPS})`);
        bare.push(await baselineBullmqHttp(`c${c}b${r}`, N, c));
        progress(`mapek, worker role only: ${N} actions, Charter queue concurrency ${c}, rate limit lifted (${r} of ${REPS})`);
        liftedRuns.push(await mapekRun(`c${c}lifted${r}`, N, dir, { concurrency: c }));
      }
    }
    progress(`mapek, worker role only: ${N_SHIPPED} actions, the shipped Charter queue (its rate limit in force)`);
    const shipped = await mapekRun('shipped', N_SHIPPED, dir, 'shipped');

    const mean = (xs: Array<number | null>) => xs.reduce<number>((a, b) => a + (b ?? 0), 0) / xs.length;
    const atConcurrency = Object.fromEntries(
      LEVELS.map((c) => {
        const b = bare.filter((x) => x.concurrency === c);
        const l = liftedRuns.filter((x) => x.concurrency === c);
        const bareMean = mean(b.map((x) => x.jobsPerSecond));
        const liftedMean = mean(l.map((x) => x.actionsPerSecond));
        return [
          c,
          {
            bareJobsPerSecondMean: round(bareMean, 1),
            actionsPerSecondMean: round(liftedMean, 1),
            ratioToBaseline: bareMean ? round(liftedMean / bareMean, 3) : null,
            ratioPerPair: l.map((x, k) => (x.actionsPerSecond !== null && b[k]?.jobsPerSecond ? round(x.actionsPerSecond / b[k]!.jobsPerSecond!, 3) : null)),
          },
        ];
      }),
    );
    const top = atConcurrency[LEVELS[LEVELS.length - 1]!]!;
    return {
      benchmark: 'mapek execute (queue → Charter actuator → outcome recorded in knowledge)',
      goal: 'mapek.lifted actionsPerSecond / baseline jobsPerSecond >= 0.7, at the same worker concurrency',
      summary: Object.entries(atConcurrency).map(([c, a]) => ({ concurrency: Number(c), ratio: a.ratioToBaseline, perPair: a.ratioPerPair, effectsOnce: liftedRuns.filter((l) => l.concurrency === Number(c)).every((l) => l.effectsOnce.ok) })),
      baseline: {
        bullmqHttp: { runs: bare, order: `per level, alternating with the lifted mapek runs (baseline first), ${REPS} pairs, after an unmeasured warm-up pair of ${N_WARMUP}` },
        warmUpPerSecond: warmUp,
        sqliteCommits,
      },
      mapek: {
        lifted: { atConcurrency, runs: liftedRuns },
        shipped: {
          ratioToBaseline: top.bareJobsPerSecondMean ? round((shipped.actionsPerSecond ?? 0) / top.bareJobsPerSecondMean, 3) : null,
          note: `${N_SHIPPED} actions (not ${N}): the shipped 50/s limit would make ${N} take a minute`,
          ...shipped,
        },
      },
      settings: {
        ...machine(load0),
        durability: `${liftedRuns[0]?.knowledge.durability}; writers BEGIN IMMEDIATE; each action: two writes (beginAttempt, finishAction), both hash-chained, group-committed with the other actions in flight`,
        roles: ['worker'],
        what: 'each action a charter.investigation of its own incident (rows written straight into knowledge, status planned), enqueued with queues.action like the plan stage does, all at once (64 adds in flight); the clock runs from the first add until every action is succeeded in knowledge (mapek_actions_total), or, for the baseline, until the worker completed every job',
        baselineJob: `BullMQ job (attempts 5, removeOnComplete) whose processor makes one fetch POST /api/investigations with an Idempotency-Key; worker concurrency ${LEVELS.join(' and ')}, no limiter`,
        execute: { attempts: 'pack', lifted: LEVELS.map(lifted), shipped: 'packs/charter/pack.yaml execute.queues.charter (concurrency 8, 50 per 1s)' },
        simulator: 'a fresh simulator (startSimulator, this process) per phase',
        redis: { url: REDIS_URL, queuePrefix: PREFIX },
        process: 'mapek (worker role), the simulator and the baseline worker share this Node process; Redis is a separate process',
        quick: QUICK,
        date: startedAt.toISOString(),
        cleanup: CLEANUP,
      },
    };
  } finally {
    progress('stopping');
    CLEANUP.queues = await cleanQueuePrefix(REDIS_URL, PREFIX).catch((err: Error) => `failed: ${err.message}`);
    rmSync(dir, { recursive: true, force: true });
    CLEANUP.sqliteDirRemoved = dir;
  }
}

await runBenchmark(main);
