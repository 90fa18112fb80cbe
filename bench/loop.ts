/**
 * The loop benchmark (`npm run bench`): prints ONE JSON document on stdout, progress on stderr.
 *
 *   baseline.fastify  bare Fastify answering the webhook-sized JSON POST (same client, same concurrency)
 *   baseline.bullmq   bare BullMQ no-op jobs on the same Redis, add → completed
 *   mapek.loop        alerts/s sustained from webhook POST to the first Charter effect, open loop
 *                     at a rate found by a short ramp, with a cap on alerts not yet acted on;
 *                     effects counted once per node at the end
 *   mapek.webhook     202s/s of the webhook itself, each request a new distinct alert
 *   settings          node, durability, queue and pack settings, date
 *
 * Everything runs on loopback through startLocalLoop (simulator + mapek in this process;
 * Redis, Prometheus and Alertmanager as separate processes).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { queueName, STAGES } from '../src/execute/queues.ts';
import { startLocalLoop, type LocalLoop } from '../src/stack/local-loop.ts';
import { sqliteCommitFloor } from './lib/env.ts';
import { alertPayload, Client, closedLoop, type ClosedLoopResult } from './lib/load.ts';
import { latencySummary, percentile, phaseMeter, progress, round, sleep } from './lib/stats.ts';

/** BENCH_QUICK=1: a smoke run of a few seconds per phase (figures not meaningful). */
const QUICK = process.env.BENCH_QUICK === '1';
const q = (ms: number) => (QUICK ? Math.max(500, Math.round(ms / 6)) : ms);

/** Requests in flight for every closed-loop HTTP figure (baseline and webhook alike). */
const CONCURRENCY = 16;
/** Jobs in flight for the BullMQ baseline (same as the HTTP concurrency). */
const BULLMQ_IN_FLIGHT = CONCURRENCY;
/** Worker concurrency of the BullMQ baseline: that of mapek's Charter actions worker (pack.execute.queues.charter). */
const BULLMQ_WORKER_CONCURRENCY = 8;
const HTTP_WARMUP_MS = q(1500);
const HTTP_MEASURE_MS = q(6000);
const BULLMQ_WARMUP_MS = q(1000);
const BULLMQ_MEASURE_MS = q(6000);
const SQLITE_MEASURE_MS = q(3000);
/** Ramp: each step offers this rate for RAMP_STEP_MS. */
const RAMP_RATES = QUICK ? [5, 10] : [5, 10, 15, 20, 25, 30, 35, 40, 50, 60, 80, 120];
const RAMP_STEP_MS = q(3000);
/** Sustained run: at least 30 s (the first SUSTAIN_SKIP_MS of effects are left out as ramp-in). */
const SUSTAIN_MS = q(36_000);
const SUSTAIN_SKIP_MS = q(3000);
/** Fraction of the ramp's best passing rate offered in the sustained run. */
const TARGET_FRACTION = 0.7;
/** Cap on alerts accepted but not yet acted on: this many seconds of the target rate (at least CAP_MIN). */
const CAP_SECONDS = 3;
const CAP_MIN = 30;
const DRAIN_TIMEOUT_MS = 25_000;
const TIMELINE_BUCKET_MS = 5000;

/**
 * The plan's verification cadence. Every incident ends in `verifying`, whose checks are timers
 * (timer job → plan step → Prometheus query action → plan step). The bench's nodes have no series in
 * Prometheus, and "no data is not zero", so their verification never holds: each incident re-checks
 * until the deadline, far more work than a node that recovers. The figure is about the path to the
 * first effect, so by default (BENCH_VERIFY=deferred) the first check comes after the run: the whole
 * remediation (lookup, investigate, quarantine, notify, timers armed) runs, the checks do not.
 * BENCH_VERIFY=shipped uses the shipped pack's cadence (30 s, then every 15 s, 5 min deadline);
 * BENCH_VERIFY=fast keeps the local loop's demo cadence (3 s, then every 2 s, 45 s deadline).
 */
const VERIFY_MODES = {
  deferred: { verifyWindow: '1m', verifyFirstCheck: '10m', verifyInterval: '15s', verifyDeadline: '15m' },
  shipped: { verifyWindow: '1m', verifyFirstCheck: '30s', verifyInterval: '15s', verifyDeadline: '5m' },
  fast: {},
} as const;
const VERIFY_MODE = (process.env.BENCH_VERIFY ?? 'deferred') as keyof typeof VERIFY_MODES;
if (!(VERIFY_MODE in VERIFY_MODES)) throw new Error(`BENCH_VERIFY must be one of ${Object.keys(VERIFY_MODES).join(', ')}`);
/**
 * BENCH_RATE_LIMITS=lifted raises every action queue's rate limit (pack.execute.queues.*.rateLimit)
 * far above what the loop can do, to see the engine rather than the shipped policy; the default
 * (shipped) keeps the pack's limits, which is what an operator gets.
 */
const RATE_LIMITS = process.env.BENCH_RATE_LIMITS ?? 'shipped';
if (RATE_LIMITS !== 'shipped' && RATE_LIMITS !== 'lifted') throw new Error('BENCH_RATE_LIMITS must be shipped or lifted');
const LIFTED = { rateLimit: { max: 1_000_000, per: '1s' } };
const PACK_OVERRIDES = {
  playbooks: { criticalViolation: VERIFY_MODES[VERIFY_MODE] },
  // Budgets are policy, not throughput: a bench of hundreds of distinct alerts would spend them.
  budgets: [],
  ...(RATE_LIMITS === 'lifted' ? { execute: { queues: { charter: LIFTED, prometheus: LIFTED, notify: LIFTED } } } : {}),
};

const RUN = randomBytes(3).toString('hex');
const nodeName = (phase: string, i: number) => `bench-${phase}-${RUN}-${String(i).padStart(6, '0')}`;

// ---------------------------------------------------------------- baselines

async function baselineFastify(client: Client): Promise<ClosedLoopResult & { payloadBytes: number }> {
  const app = Fastify({ logger: false });
  app.post('/webhooks/alertmanager', async (_req, reply) => reply.code(202).send({ accepted: 1, duplicates: 0 }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    const url = new URL(`http://127.0.0.1:${port}/webhooks/alertmanager`);
    const res = await closedLoop({
      client,
      url,
      headers: { authorization: 'Bearer 0123456789abcdef0123456789abcdef' },
      body: (i) => alertPayload(nodeName('fy', i), `fy-${RUN}-${i}`),
      okStatus: 202,
      concurrency: CONCURRENCY,
      warmupMs: HTTP_WARMUP_MS,
      durationMs: HTTP_MEASURE_MS,
    });
    return { ...res, payloadBytes: alertPayload(nodeName('fy', 0), `fy-${RUN}-0`).length };
  } finally {
    await app.close();
  }
}

async function baselineBullmq(redisUrl: string) {
  const name = `bench-bullmq-${RUN}`;
  const producer = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const consumer = new Redis(redisUrl, { maxRetriesPerRequest: null });
  producer.on('error', () => {});
  consumer.on('error', () => {});
  const queue = new Queue(name, { connection: producer as unknown as ConnectionOptions });
  const worker = new Worker(name, async () => {}, { connection: consumer as unknown as ConnectionOptions, concurrency: BULLMQ_WORKER_CONCURRENCY });
  queue.on('error', () => {});
  worker.on('error', () => {});
  const waiting = new Map<string, () => void>();
  worker.on('completed', (job) => {
    const done = job.id ? waiting.get(job.id) : undefined;
    if (done) {
      waiting.delete(job.id!);
      done();
    }
  });
  try {
    await queue.waitUntilReady();
    await worker.waitUntilReady();
    const start = performance.now();
    const measureFrom = start + BULLMQ_WARMUP_MS;
    const end = measureFrom + BULLMQ_MEASURE_MS;
    const latencies: number[] = [];
    let seq = 0;
    let failed = 0;
    const slot = async () => {
      for (;;) {
        const t0 = performance.now();
        if (t0 >= end) return;
        const id = `j${seq++}`;
        const completed = new Promise<void>((resolve) => waiting.set(id, resolve));
        try {
          await queue.add('noop', { i: id }, { jobId: id, removeOnComplete: true, removeOnFail: true });
        } catch {
          waiting.delete(id);
          failed += 1;
          continue;
        }
        await completed;
        const t1 = performance.now();
        if (t0 >= measureFrom && t1 <= end) latencies.push(t1 - t0);
      }
    };
    await Promise.all(Array.from({ length: BULLMQ_IN_FLIGHT }, slot));
    return {
      queue: name,
      inFlight: BULLMQ_IN_FLIGHT,
      workerConcurrency: BULLMQ_WORKER_CONCURRENCY,
      durationS: BULLMQ_MEASURE_MS / 1000,
      jobs: latencies.length,
      addErrors: failed,
      jobsPerSecond: round(latencies.length / (BULLMQ_MEASURE_MS / 1000), 1),
      latencyMs: latencySummary(latencies),
    };
  } finally {
    await worker.close().catch(() => {});
    await queue.obliterate({ force: true }).catch((err: Error) => progress(`obliterate ${name} failed: ${err.message}`));
    await queue.close().catch(() => {});
    producer.disconnect();
    consumer.disconnect();
  }
}


// ---------------------------------------------------------------- the loop, open loop with a cap

interface SentAlert {
  node: string;
  phase: string;
  /** Wall clock (Date.now()) just before the POST: the simulator stamps created_at with the same clock. */
  postWallMs: number;
  ackMs?: number;
  status?: string;
}

interface CharterInvestigation {
  id: string;
  created_at: string;
  idempotency_key: string | null;
  node_or_service: string;
}

class LoopDriver {
  readonly sent: SentAlert[] = [];
  /** Wall-clock times of arrivals refused at the cap. */
  readonly refusals: number[] = [];
  private accepted = 0;
  private actedBase = 0;
  /** POSTs sent and not answered yet. */
  private inFlight = 0;
  private seq = 0;

  constructor(
    private readonly loop: LocalLoop,
    private readonly client: Client,
  ) {}

  private get url(): URL {
    return new URL(`${this.loop.mapek.url}/webhooks/alertmanager`);
  }

  /** investigate actions that reached succeeded in knowledge (mapek's own counter, read in process). */
  async actedTotal(): Promise<number> {
    const m = await this.loop.mapek.metrics.actions.get();
    return m.values.filter((v) => v.labels.type === 'charter.investigation' && v.labels.outcome === 'succeeded').reduce((s, v) => s + v.value, 0);
  }

  async resetBase(): Promise<void> {
    this.actedBase = await this.actedTotal();
    this.accepted = 0;
  }

  /** Alerts accepted and acted on since resetBase, and POSTs still unanswered. */
  async snapshot(): Promise<{ accepted: number; acted: number; inFlight: number }> {
    return { accepted: this.accepted, acted: (await this.actedTotal()) - this.actedBase, inFlight: this.inFlight };
  }

  /** Accepted (202) alerts not yet acted on. Background incidents of the simulator's own nodes make this a slight underestimate. */
  async backlog(): Promise<number> {
    return this.accepted - ((await this.actedTotal()) - this.actedBase);
  }

  private fire(phase: string): void {
    const node = nodeName(phase, this.seq++);
    const rec: SentAlert = { node, phase, postWallMs: Date.now() };
    this.sent.push(rec);
    const t0 = performance.now();
    this.inFlight += 1;
    this.client
      .post(this.url, alertPayload(node, `${node}-fp`), { authorization: `Bearer ${this.loop.token}` })
      .then((status) => {
        rec.status = String(status);
        if (status === 202) this.accepted += 1;
      })
      .catch((err: Error) => {
        rec.status = `error:${(err as NodeJS.ErrnoException).code ?? err.message}`;
      })
      .finally(() => {
        this.inFlight -= 1;
        rec.ackMs = performance.now() - t0;
      });
  }

  /** Offers `rate` alerts/s for `durationMs`; an arrival that finds `cap` alerts not yet acted on is refused (counted). */
  async offer(phase: string, rate: number, durationMs: number, cap: number): Promise<{ offered: number; posted: number; refusedAtCap: number; maxBacklog: number }> {
    const t0 = performance.now();
    let due = 0;
    let posted = 0;
    let refused = 0;
    let maxBacklog = 0;
    for (;;) {
      const elapsed = performance.now() - t0;
      if (elapsed >= durationMs) break;
      const target = Math.floor((rate * elapsed) / 1000);
      if (due < target) {
        const backlog = await this.backlog();
        // Requests in flight count too: they are work the loop has not acted on yet.
        let open = backlog + this.inFlight;
        maxBacklog = Math.max(maxBacklog, open);
        while (due < target) {
          due += 1;
          if (open >= cap) {
            refused += 1;
            this.refusals.push(Date.now());
            continue;
          }
          this.fire(phase);
          posted += 1;
          open += 1;
        }
      }
      await sleep(4);
    }
    return { offered: due, posted, refusedAtCap: refused, maxBacklog };
  }

  /** Jobs waiting or running in mapek's stage queues (delayed timer jobs, due later, not counted). */
  async stageJobs(): Promise<number> {
    const depths = await this.loop.mapek.queues.depths();
    return depths.filter((d) => d.state === 'waiting' || d.state === 'active' || d.state === 'prioritized').reduce((sum, d) => sum + d.n, 0);
  }

  /** Waits until the stages have nothing left to do (follow-up steps of earlier incidents included). */
  async idle(timeoutMs = DRAIN_TIMEOUT_MS): Promise<{ idle: boolean; waitedMs: number; jobsLeft: number }> {
    const t0 = performance.now();
    for (;;) {
      const jobsLeft = await this.stageJobs();
      const waitedMs = Math.round(performance.now() - t0);
      if (jobsLeft === 0) return { idle: true, waitedMs, jobsLeft };
      if (waitedMs > timeoutMs) return { idle: false, waitedMs, jobsLeft };
      await sleep(250);
    }
  }

  /** Every investigation record at the simulator. */
  async investigations(): Promise<CharterInvestigation[]> {
    const res = await fetch(`${this.loop.sim.url}/api/investigations`);
    if (!res.ok) throw new Error(`GET /api/investigations answered ${res.status}`);
    return ((await res.json()) as { items: CharterInvestigation[] }).items;
  }

  /** Waits until every accepted alert of `phases` has an investigation at the simulator (or the timeout). */
  async drain(phases: string[], timeoutMs = DRAIN_TIMEOUT_MS): Promise<{ drained: boolean; waitedMs: number; missing: number }> {
    const t0 = performance.now();
    const want = new Set(this.sent.filter((s) => phases.includes(s.phase) && s.status === '202').map((s) => s.node));
    for (;;) {
      // Requests still in flight: wait for their answers first.
      const pending = this.sent.some((s) => phases.includes(s.phase) && s.status === undefined);
      const have = new Set((await this.investigations()).map((r) => r.node_or_service));
      const missing = [...want].filter((n) => !have.has(n)).length;
      const waitedMs = Math.round(performance.now() - t0);
      if (!pending && missing === 0) return { drained: true, waitedMs, missing };
      if (waitedMs > timeoutMs) return { drained: false, waitedMs, missing };
      await sleep(250);
      if (pending) for (const s of this.sent) if (phases.includes(s.phase) && s.status === '202') want.add(s.node);
    }
  }
}

/** The commit measured, and how many tracked files differ from it (others edit the tree concurrently). */
function gitState(): { commit: string | null; modifiedTrackedFiles: number | null } {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return { commit, modifiedTrackedFiles: status.split('\n').filter(Boolean).length };
  } catch {
    return { commit: null, modifiedTrackedFiles: null };
  }
}

/** CPU milliseconds this process spent per unit of work over a phase (the simulator and the load client included). */
function cpuMsPer(use: { processCores: number | null }, perSecond: number | null): number | null {
  return use.processCores !== null && perSecond ? round((use.processCores / perSecond) * 1000, 3) : null;
}

/** Short ramp: offers increasing rates until the not-yet-acted backlog grows; returns the best passing rate. */
async function ramp(driver: LoopDriver) {
  const steps: Array<Record<string, unknown>> = [];
  let best = 0;
  await driver.resetBase();
  for (const rate of RAMP_RATES) {
    // A failing step is tried once more before the ramp stops: on shared cores one noisy step is common.
    let pass = false;
    for (let attempt = 1; attempt <= 2 && !pass; attempt++) {
      const before = await driver.snapshot();
      const meter = phaseMeter();
      const r = await driver.offer('ramp', rate, RAMP_STEP_MS, Number.POSITIVE_INFINITY);
      const use = meter();
      const after = await driver.snapshot();
      const backlog = after.accepted + after.inFlight - after.acted;
      const acted = after.acted - before.acted;
      const stageJobs = await driver.stageJobs();
      // Queues absorb a few seconds of overload, so a short step needs strict signs of keeping up:
      // at most a quarter second of alerts not yet acted on, and the stages (follow-up steps
      // included) not piling up jobs. The event loop's utilization is shown, not judged: on shared
      // cores a neighbour's burst makes it jump.
      pass = backlog <= Math.max(5, rate * 0.25) && acted >= 0.8 * r.posted && stageJobs <= Math.max(20, rate * 0.5);
      steps.push({ offeredPerSecond: rate, attempt, posted: r.posted, actedInStep: acted, backlogAtEnd: backlog, stageJobsAtEnd: stageJobs, eventLoopUtilization: use.eventLoopUtilization, pass });
      progress(`ramp ${rate}/s (${attempt}): posted ${r.posted}, acted ${acted}, backlog ${backlog}, stage jobs ${stageJobs}, ELU ${use.eventLoopUtilization} → ${pass ? 'ok' : 'falls behind'}`);
      if (!pass && attempt === 1) await driver.idle(10_000);
    }
    if (!pass) break;
    best = rate;
  }
  return { steps, bestPassingRate: best };
}

function summarizeLoopPhase(sent: SentAlert[], investigations: CharterInvestigation[], knowledgeDone: Map<string, number>, windowFrom: number, windowTo: number) {
  const firstEffect = new Map<string, number>();
  for (const r of investigations) {
    const t = Date.parse(r.created_at);
    const prev = firstEffect.get(r.node_or_service);
    if (prev === undefined || t < prev) firstEffect.set(r.node_or_service, t);
  }
  const accepted = sent.filter((s) => s.status === '202');
  const toCharter: number[] = [];
  const toKnowledge: number[] = [];
  let inWindow = 0;
  for (const s of accepted) {
    const eff = firstEffect.get(s.node);
    if (eff !== undefined) {
      toCharter.push(eff - s.postWallMs);
      if (eff >= windowFrom && eff < windowTo) inWindow += 1;
    }
    const done = knowledgeDone.get(s.node);
    if (done !== undefined) toKnowledge.push(done - s.postWallMs);
  }
  return {
    accepted: accepted.length,
    acted: toCharter.length,
    effectsInWindow: inWindow,
    alertsPerSecond: round(inWindow / ((windowTo - windowFrom) / 1000), 2),
    ackLatencyMs: latencySummary(sent.map((s) => s.ackMs ?? Number.NaN).filter(Number.isFinite)),
    postToCharterEffectMs: latencySummary(toCharter),
    postToKnowledgeSucceededMs: latencySummary(toKnowledge),
  };
}

/** Per-bucket view of the sustained run: posted, refused, first effects, latency of the alerts posted in the bucket. */
function timeline(sent: SentAlert[], refusals: number[], investigations: CharterInvestigation[], from: number, to: number) {
  const first = new Map<string, number>();
  for (const r of investigations) {
    const t = Date.parse(r.created_at);
    if (!first.has(r.node_or_service) || t < first.get(r.node_or_service)!) first.set(r.node_or_service, t);
  }
  const out: Array<Record<string, unknown>> = [];
  for (let b = from; b < to; b += TIMELINE_BUCKET_MS) {
    const e = Math.min(to, b + TIMELINE_BUCKET_MS);
    const inB = (t: number) => t >= b && t < e;
    const posted = sent.filter((s) => inB(s.postWallMs));
    const lat = posted.map((s) => (first.get(s.node) ?? Number.NaN) - s.postWallMs).filter(Number.isFinite);
    const effects = sent.filter((s) => inB(first.get(s.node) ?? Number.NaN)).length;
    out.push({
      fromS: round((b - from) / 1000, 0),
      posted: posted.length,
      refusedAtCap: refusals.filter(inB).length,
      effectsPerSecond: round(effects / ((e - b) / 1000), 1),
      latencyP50Ms: round(percentile(lat, 50), 0),
      latencyP99Ms: round(percentile(lat, 99), 0),
    });
  }
  return out;
}

/** Charter calls the loop phase's incidents made, per incident, by collection (from the simulator's records). */
async function charterCallsOf(loop: LocalLoop, nodes: Set<string>): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = {};
  let total = 0;
  for (const c of ['investigations', 'quarantines', 'committee/notifications']) {
    const res = await fetch(`${loop.sim.url}/api/${c}`);
    const items = ((await res.json()) as { items: Array<{ node_or_service?: string }> }).items;
    const n = items.filter((r) => r.node_or_service !== undefined && nodes.has(r.node_or_service)).length;
    total += n;
    out[c] = nodes.size ? round(n / nodes.size, 2) : null;
  }
  out.total = nodes.size ? round(total / nodes.size, 2) : null;
  return out;
}

/** investigate actions that succeeded, by node, with their knowledge updated_at (ms). */
async function knowledgeInvestigateDone(loop: LocalLoop): Promise<Map<string, number>> {
  const rows = await loop.mapek.store.handle.db
    .selectFrom('actions')
    .innerJoin('incidents', 'incidents.id', 'actions.incident_id')
    .select(['actions.updated_at as updatedAt', 'incidents.labels as labels'])
    .where('actions.step', '=', 'investigate')
    .where('actions.status', '=', 'succeeded')
    .execute();
  const out = new Map<string, number>();
  for (const r of rows) {
    const node = (JSON.parse(r.labels) as Record<string, string>).node_or_service;
    if (node) out.set(node, Date.parse(r.updatedAt));
  }
  return out;
}

/** Each accepted alert's node got exactly one investigation, with mapek's idempotency key. */
function effectsOnce(sent: SentAlert[], investigations: CharterInvestigation[]) {
  const byNode = new Map<string, CharterInvestigation[]>();
  for (const r of investigations) {
    const list = byNode.get(r.node_or_service) ?? [];
    list.push(r);
    byNode.set(r.node_or_service, list);
  }
  const nodes = sent.filter((s) => s.status === '202').map((s) => s.node);
  let exactlyOne = 0;
  let none = 0;
  let duplicated = 0;
  let badKey = 0;
  for (const n of nodes) {
    const list = byNode.get(n) ?? [];
    if (list.length === 0) none += 1;
    else if (list.length === 1) exactlyOne += 1;
    else duplicated += 1;
    for (const r of list) if (!/^mapek-.+-investigate-1$/.test(r.idempotency_key ?? '')) badKey += 1;
  }
  const benchPrefix = `bench-`;
  return {
    nodes: nodes.length,
    exactlyOne,
    none,
    moreThanOne: duplicated,
    unexpectedIdempotencyKeys: badKey,
    ok: none === 0 && duplicated === 0 && badKey === 0,
    otherInvestigations: investigations.filter((r) => !r.node_or_service.startsWith(benchPrefix)).length,
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<Record<string, unknown>> {
  const startedAt = new Date();
  progress('starting the local loop (Redis, simulator, mapek, Prometheus, Alertmanager)');
  // mapek's logs go to stderr: stdout carries only the JSON document.
  const logger = pino({ level: process.env.LOG_LEVEL || 'warn', base: { service: 'mapek' } }, pino.destination(2));
  const loop = await startLocalLoop({ pack: PACK_OVERRIDES, logger });
  const client = new Client(64);
  let stopped = false;
  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    client.close();
    await loop.mapek.close();
    // Leave nothing in the (possibly shared) Redis: mapek's stage queues go with the run.
    for (const stage of STAGES) {
      const conn = new Redis(loop.redis.url, { maxRetriesPerRequest: null });
      conn.on('error', () => {});
      const q = new Queue(queueName(loop.config.queuePrefix, stage), { connection: conn as unknown as ConnectionOptions });
      q.on('error', () => {});
      await q.obliterate({ force: true }).catch((err: Error) => progress(`obliterate ${stage} failed: ${err.message}`));
      await q.close().catch(() => {});
      conn.disconnect();
    }
    await loop.stop();
  };
  try {
    await sleep(2000);
    const load0 = os.loadavg();

    progress('baseline: SQLite commits (WAL, synchronous=FULL) in the loop\'s temp dir');
    const sqlite = await sqliteCommitFloor(loop.dir, SQLITE_MEASURE_MS);
    progress(`  ${sqlite.commitsPerSecond} commits/s, p50 ${sqlite.latencyMs.p50} ms, p99 ${sqlite.latencyMs.p99} ms`);

    progress(`baseline: bare Fastify, ${CONCURRENCY} concurrent POSTs`);
    let meter = phaseMeter();
    const fastify = await baselineFastify(client);
    const fastifyUse = meter();
    progress(`  ${fastify.perSecond} req/s, p50 ${fastify.latencyMs.p50} ms, p99 ${fastify.latencyMs.p99} ms`);

    progress(`baseline: bare BullMQ no-op jobs, ${BULLMQ_IN_FLIGHT} in flight, worker concurrency ${BULLMQ_WORKER_CONCURRENCY}`);
    meter = phaseMeter();
    const bullmq = await baselineBullmq(loop.redis.url);
    const bullmqUse = meter();
    progress(`  ${bullmq.jobsPerSecond} jobs/s, p50 ${bullmq.latencyMs.p50} ms, p99 ${bullmq.latencyMs.p99} ms`);

    const driver = new LoopDriver(loop, client);
    progress('loop: ramp');
    const rampResult = await ramp(driver);
    const rampDrain = await driver.drain(['ramp']);
    const rampIdle = await driver.idle();
    progress(`  ramp drained: ${JSON.stringify(rampDrain)}, stages idle: ${JSON.stringify(rampIdle)}`);

    const target = rampResult.bestPassingRate > 0 ? Math.max(1, Math.round(rampResult.bestPassingRate * TARGET_FRACTION)) : 2;
    const cap = Math.max(CAP_MIN, Math.ceil(target * CAP_SECONDS));
    progress(`loop: sustained ${SUSTAIN_MS / 1000} s at ${target} alerts/s, cap ${cap} not yet acted on`);
    await driver.resetBase();
    const sendFrom = Date.now();
    meter = phaseMeter();
    const offered = await driver.offer('loop', target, SUSTAIN_MS, cap);
    const loopUse = meter();
    const sendTo = Date.now();
    const loopDrain = await driver.drain(['loop']);
    progress(`  offered ${offered.offered}, posted ${offered.posted}, refused at cap ${offered.refusedAtCap}; drain ${JSON.stringify(loopDrain)}`);
    const investigations = await driver.investigations();
    const knowledgeDone = await knowledgeInvestigateDone(loop);
    const loopSent = driver.sent.filter((s) => s.phase === 'loop');
    const loopFigures = summarizeLoopPhase(loopSent, investigations, knowledgeDone, sendFrom + SUSTAIN_SKIP_MS, sendTo);
    progress(`  ${loopFigures.alertsPerSecond} alerts/s acted; POST→Charter p50 ${loopFigures.postToCharterEffectMs.p50} ms, p99 ${loopFigures.postToCharterEffectMs.p99} ms`);

    const loopIdle = await driver.idle();
    progress(`  stages idle: ${JSON.stringify(loopIdle)}`);
    progress(`webhook: ${CONCURRENCY} concurrent POSTs, each a new distinct alert`);
    meter = phaseMeter();
    const webhook = await closedLoop({
      client,
      url: new URL(`${loop.mapek.url}/webhooks/alertmanager`),
      headers: { authorization: `Bearer ${loop.token}` },
      body: (i) => alertPayload(nodeName('wh', i), `${nodeName('wh', i)}-fp`),
      okStatus: 202,
      concurrency: CONCURRENCY,
      warmupMs: HTTP_WARMUP_MS,
      durationMs: HTTP_MEASURE_MS,
    });
    const webhookUse = meter();
    progress(`  ${webhook.perSecond} 202/s, p50 ${webhook.latencyMs.p50} ms, p99 ${webhook.latencyMs.p99} ms`);

    // Effects once, counted last (after the webhook burst, so late redeliveries would show).
    const finalInvestigations = await driver.investigations();
    const once = effectsOnce(
      driver.sent.filter((s) => s.phase === 'ramp' || s.phase === 'loop'),
      finalInvestigations,
    );
    progress(`effects once: ${JSON.stringify(once)}`);
    const charterCalls = await charterCallsOf(loop, new Set(loopSent.filter((x) => x.status === '202').map((x) => x.node)));
    const whNodes = new Set<string>();
    for (const r of finalInvestigations) if (r.node_or_service.startsWith(`bench-wh-${RUN}-`)) whNodes.add(r.node_or_service);

    const exec = loop.config.pack.execute;
    const cv = loop.config.pack.playbooks.criticalViolation;
    const result = {
      benchmark: 'mapek loop',
      baseline: {
        fastify: {
          requestsPerSecond: fastify.perSecond,
          latencyMs: fastify.latencyMs,
          concurrency: fastify.concurrency,
          durationS: fastify.durationS,
          requests: fastify.requests,
          statuses: fastify.statuses,
          payloadBytes: fastify.payloadBytes,
          resources: fastifyUse,
          cpuMsPerRequest: cpuMsPer(fastifyUse, fastify.perSecond),
        },
        bullmq: { ...bullmq, resources: bullmqUse, cpuMsPerJob: cpuMsPer(bullmqUse, bullmq.jobsPerSecond) },
        sqliteCommits: sqlite,
      },
      mapek: {
        webhook: {
          acceptedPerSecond: webhook.perSecond,
          latencyMs: webhook.latencyMs,
          ratioToFastify: fastify.perSecond && webhook.perSecond ? round(webhook.perSecond / fastify.perSecond, 3) : null,
          p50RatioToFastify: fastify.latencyMs.p50 && webhook.latencyMs.p50 ? round(webhook.latencyMs.p50 / fastify.latencyMs.p50, 2) : null,
          concurrency: webhook.concurrency,
          durationS: webhook.durationS,
          requests: webhook.requests,
          statuses: webhook.statuses,
          resources: webhookUse,
          cpuMsPer202: cpuMsPer(webhookUse, webhook.perSecond),
          note: 'each request a new distinct CriticalViolationDetected alert (a new incident); run after the loop phase, with the stages working on the new incidents meanwhile',
        },
        loop: {
          alertsPerSecond: loopFigures.alertsPerSecond,
          sustained: offered.refusedAtCap === 0 && loopDrain.drained,
          ratioToBullmq: bullmq.jobsPerSecond && loopFigures.alertsPerSecond !== null ? round(loopFigures.alertsPerSecond / bullmq.jobsPerSecond, 4) : null,
          measuredOver: 'first Charter effect (investigation record at the simulator) per distinct alert, effects with created_at in the window',
          windowS: round((sendTo - sendFrom - SUSTAIN_SKIP_MS) / 1000, 1),
          offeredPerSecond: target,
          capNotYetActedOn: cap,
          capRule: `max(${CAP_MIN}, ${CAP_SECONDS} s × offered rate); an arrival finding the cap reached is refused and counted`,
          offered: offered.offered,
          posted: offered.posted,
          refusedAtCap: offered.refusedAtCap,
          maxNotYetActedOn: offered.maxBacklog,
          accepted: loopFigures.accepted,
          acted: loopFigures.acted,
          drain: loopDrain,
          latencyMs: {
            postToCharterEffect: loopFigures.postToCharterEffectMs,
            postToInvestigateSucceededInKnowledge: loopFigures.postToKnowledgeSucceededMs,
            postTo202: loopFigures.ackLatencyMs,
          },
          ramp: { stepS: RAMP_STEP_MS / 1000, ...rampResult, targetFraction: TARGET_FRACTION, drain: rampDrain, idleAfter: rampIdle },
          idleAfter: loopIdle,
          resources: loopUse,
          cpuMsPerAlert: cpuMsPer(loopUse, offered.posted / (SUSTAIN_MS / 1000)),
          timeline: timeline(loopSent, driver.refusals, investigations, sendFrom, sendTo),
          charterCallsPerIncident: charterCalls,
          effectsOnce: once,
          webhookPhaseNodesActedBeforeStop: whNodes.size,
        },
      },
      settings: {
        node: process.version,
        git: gitState(),
        platform: `${os.type()} ${os.release()} ${os.arch()}`,
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        loadAverageAtStart: load0.map((x) => round(x, 2)),
        loadAverageAtEnd: os.loadavg().map((x) => round(x, 2)),
        durability: loop.mapek.store.handle.durability,
        redis: { url: loop.redis.url, startedByBench: loop.redis.started, queuePrefix: loop.config.queuePrefix },
        rateLimits: RATE_LIMITS,
        // pack.execute as in force (attempts, backoff, per-queue concurrency and rate limits), whatever its shape.
        queue: exec,
        pack: {
          verifyMode: VERIFY_MODE,
          verifyWindow: cv.verifyWindow,
          verifyFirstCheck: cv.verifyFirstCheck,
          verifyInterval: cv.verifyInterval,
          verifyDeadline: cv.verifyDeadline,
          severityLookupWindow: cv.severityLookupWindow,
          dryRun: loop.config.pack.dryRun,
        },
        process: 'simulator, mapek (api + loop + workers) and the load client share this one Node process; Redis, Prometheus, Alertmanager are separate processes',
        clientConcurrency: CONCURRENCY,
        quick: QUICK,
        date: startedAt.toISOString(),
      },
    };
    return result;
  } finally {
    progress('stopping');
    await stopAll();
  }
}

const result = await main();
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
progress('done');
// Everything is closed. src/stack/processes.ts stop() leaves its 10 s SIGKILL grace timer referenced
// after a child exits, which would hold the process up to 10 s: exit once the timers left are only that.
setTimeout(() => {
  progress(`exiting with ${process.getActiveResourcesInfo().join(', ') || 'nothing'} still pending`);
  process.exit(0);
}, 2000).unref();
