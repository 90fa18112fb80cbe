/**
 * The knowledge benchmark (`npm run bench:knowledge`, issue 7): ONE JSON document on stdout, progress on stderr.
 *
 * On SQLite (WAL, synchronous=FULL, as mapek opens it) and on PostgreSQL (a scratch database,
 * dropped at the end), with BENCH_RECORDS (default 1,000,000) records already stored:
 *
 *   load             synthetic incidents bulk-inserted server-side (not measured as mapek work):
 *                    10 records per incident — observation, finding, incident, plan, plan event,
 *                    2 decisions, 2 actions, timer — copied from one real chain, plus one audit
 *                    ledger link per record
 *   getIncident      latency of `store.getIncident(id)` (one incident's whole chain) on random stored
 *                    incidents, one call at a time, after a warm-up
 *   decisions        decisions written per second through `store.commitPlanStep` (the real write
 *                    path: plan snapshot, event applied, decision, actions, timers, incident,
 *                    each hash-chained) on fresh incidents — their first two steps (start → severity
 *                    lookup requested; lookup answered → investigate requested) — 1 and 4 in flight
 *   baseline         bare single-row INSERTs (autocommit) through the same Kysely handle, same
 *                    database, 1 and 4 in flight: decisions/s are reported as a ratio to it
 *   finishAction     side figure: the execute stage's write (startAttempt + finishAction, which
 *                    appends a plan event) on the same loaded store
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { Kysely, PostgresDialect, sql, SqliteDialect } from 'kysely';
import pg from 'pg';
import { loadPack } from '../src/config.ts';
import { systemClock } from '../src/clock.ts';
import { openKnowledge } from '../src/knowledge/db.ts';
import type { Database } from '../src/knowledge/schema.ts';
import { actionIdentity, KnowledgeStore } from '../src/knowledge/store.ts';
import type { PlanEvent, StepResult } from '../src/plan/types.ts';
import { cpuMsPer, machine, postgresDurability, scratchPostgres } from './lib/env.ts';
import { latencySummary, phaseMeter, progress, round, runBenchmark } from './lib/stats.ts';
import { buildTemplates, eventIdOf, Generator, incidentIdOf, LOOKUP_STEP, nodeOf, PER_INCIDENT, RECORDS_PER_INCIDENT, type Kind, type Templates } from './lib/synthetic.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const RECORDS = Number(process.env.BENCH_RECORDS || (QUICK ? 50_000 : 1_000_000));
const INCIDENTS = Math.max(1, Math.round(RECORDS / RECORDS_PER_INCIDENT));
const LEDGER = process.env.BENCH_LEDGER !== '0';
const BACKENDS = (process.env.BENCH_BACKENDS || 'sqlite,postgres').split(',').map((s) => s.trim()).filter(Boolean) as Kind[];
/** Incidents per bulk statement. */
const BATCH = 10_000;
const GET_WARMUP = QUICK ? 50 : 300;
const GET_MEASURE = QUICK ? 300 : 2000;
const DECISION_MS = QUICK ? 1000 : 5000;
const INSERT_MS = QUICK ? 700 : 3000;
const FINISH_MS = QUICK ? 700 : 3000;
/** Fresh incidents made ready per decision run (two decisions each); a run stops at DECISION_MS or when they run out. */
const FRESH_PER_RUN = QUICK ? 600 : 6000;
const IN_FLIGHT = [1, 4];

const pack = loadPack(undefined, false, { sensors: [] });
const POLICY = { name: pack.name, version: pack.version };

interface StepArgs {
  incidentId: string;
  eventId: string;
  event: PlanEvent;
  expectedVersion: number;
  machine: string;
  result: StepResult;
  policy: { name: string; version: string };
  labels: Record<string, string>;
}

/** The two commitPlanStep calls of fresh incident i, from the template chain's first two steps. */
function stepsOf(t: Templates, i: number): [StepArgs, StepArgs] {
  const fill = (text: string) => JSON.parse(text.split('@I@').join(incidentIdOf(i)).split('@N@').join(nodeOf(i))) as StepArgs;
  const s1 = fill(t.step1);
  const s2 = fill(t.step2);
  s1.eventId = eventIdOf(i, 1);
  s2.eventId = eventIdOf(i, 2);
  if (s2.event.type === 'action.succeeded') s2.event.actionId = actionIdentity(incidentIdOf(i), LOOKUP_STEP, 1).id;
  s1.policy = POLICY;
  s2.policy = POLICY;
  return [s1, s2];
}

/** A Kysely handle for loading only: SQLite with synchronous=OFF and a big cache, PostgreSQL with synchronous_commit=off. */
function loader(kind: Kind, url: string): { db: Kysely<Database>; settings: string } {
  if (kind === 'sqlite') {
    const s = new Sqlite(url.slice('sqlite:'.length));
    s.pragma('journal_mode = WAL');
    s.pragma('synchronous = OFF');
    s.pragma('cache_size = -262144');
    return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database: s }) }), settings: 'separate connection, synchronous=OFF, 256 MiB cache' };
  }
  const pool = new pg.Pool({ connectionString: url, max: 2, options: '-c synchronous_commit=off' });
  pool.on('error', () => {});
  return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), settings: 'separate pool, synchronous_commit=off, 2 batches at a time' };
}

async function load(kind: Kind, url: string, t: Templates, freshTotal: number) {
  const { db, settings } = loader(kind, url);
  const base = Math.floor(Date.now() / 1000) - 30 * 86_400;
  const spacing = round((30 * 86_400) / INCIDENTS, 4) ?? 1;
  const gen = new Generator(db, kind, t, LEDGER, base, spacing);
  const t0 = performance.now();
  try {
    const batches: Array<[number, number]> = [];
    for (let from = 1; from <= INCIDENTS; from += BATCH) batches.push([from, Math.min(INCIDENTS, from + BATCH - 1)]);
    // SQLite has one writer; PostgreSQL takes two batches at a time (its backends use both cores).
    const parallel = kind === 'postgres' ? 2 : 1;
    let next = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < batches.length) {
          const [from, to] = batches[next++]!;
          await gen.closedIncidents(from, to);
          done += to - from + 1;
          if (done % 50_000 < BATCH) progress(`  ${kind}: ${done} incidents (${gen.rows} records, ${gen.links} links) in ${Math.round((performance.now() - t0) / 1000)} s`);
        }
      }),
    );
    const events = { opened: JSON.stringify((JSON.parse(t.step1) as StepArgs).event), lookup: JSON.stringify((JSON.parse(t.step2) as StepArgs).event) };
    await gen.freshIncidents(INCIDENTS + 1, INCIDENTS + freshTotal, events);
    if (kind === 'postgres') await sql`analyze`.execute(db);
    else await sql`pragma wal_checkpoint(truncate)`.execute(db);
    const seconds = (performance.now() - t0) / 1000;
    progress(`  ${kind}: loaded ${gen.rows} rows and ${gen.links} ledger links in ${Math.round(seconds)} s`);
    return { incidents: INCIDENTS, records: INCIDENTS * RECORDS_PER_INCIDENT, freshIncidents: freshTotal, auditLinks: gen.links, seconds: round(seconds, 1), loader: settings };
  } finally {
    await db.destroy();
  }
}

async function counts(store: KnowledgeStore): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of ['observations', 'findings', 'incidents', 'plans', 'plan_events', 'decisions', 'actions', 'timers', 'audit_ledger'] as const) {
    const r = await store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    out[table] = Number(r.n);
  }
  return out;
}

async function getIncidents(store: KnowledgeStore) {
  const pick = () => 1 + Math.floor(Math.random() * INCIDENTS);
  const sample = await store.getIncident(incidentIdOf(pick()));
  const shape = sample
    ? { findings: sample.findings.length, observations: sample.observations.length, decisions: sample.plan?.history.length ?? 0, actions: sample.actions.length, timers: sample.timers.length, jsonBytes: JSON.stringify(sample).length }
    : null;
  for (let n = 0; n < GET_WARMUP; n++) await store.getIncident(incidentIdOf(pick()));
  const lat: number[] = [];
  let missing = 0;
  const meter = phaseMeter();
  const t0 = performance.now();
  for (let n = 0; n < GET_MEASURE; n++) {
    const s = performance.now();
    const inc = await store.getIncident(incidentIdOf(pick()));
    lat.push(performance.now() - s);
    if (!inc) missing += 1;
  }
  const perSecond = round(GET_MEASURE / ((performance.now() - t0) / 1000), 1);
  const use = meter();
  return { calls: GET_MEASURE, warmup: GET_WARMUP, missing, perSecond, latencyMs: latencySummary(lat), cpuMsPerCall: cpuMsPer(use, perSecond), resources: use, chainShown: shape };
}

/**
 * The queries getIncident makes, timed one by one (same shapes as src/knowledge/store.ts), on
 * random incidents: which of them the latency comes from.
 */
async function getIncidentBreakdown(store: KnowledgeStore, calls: number) {
  const db = store.db;
  const parts: Record<string, number[]> = { incident: [], findings: [], observations: [], plan: [], decisions: [], actions: [], timers: [] };
  const time = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const s = performance.now();
    const r = await fn();
    parts[name]!.push(performance.now() - s);
    return r;
  };
  for (let n = 0; n < calls; n++) {
    const id = incidentIdOf(1 + Math.floor(Math.random() * INCIDENTS));
    await time('incident', () => db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst());
    const findings = await time('findings', () => db.selectFrom('findings').selectAll().where('incident_id', '=', id).orderBy('created_at').execute());
    const keys = findings.flatMap((f) => {
      const startsAt = String((JSON.parse(f.evidence) as Record<string, unknown>).startsAt ?? '');
      return [`am|${f.fingerprint}|firing|${startsAt}`, `am|${f.fingerprint}|resolved|${startsAt}`];
    });
    const obsIds = findings.map((f) => f.observation_id);
    if (findings.length)
      await time('observations', () => db.selectFrom('observations').selectAll().where((eb) => eb.or([eb('dedup_key', 'in', keys), eb('id', 'in', obsIds)])).orderBy('received_at').execute());
    await time('plan', () => db.selectFrom('plans').selectAll().where('incident_id', '=', id).executeTakeFirst());
    await time('decisions', () => db.selectFrom('decisions').selectAll().where('incident_id', '=', id).orderBy('at').orderBy('id').execute());
    await time('actions', () => db.selectFrom('actions').selectAll().where('incident_id', '=', id).orderBy('created_at').orderBy('id').execute());
    await time('timers', () => db.selectFrom('timers').selectAll().where('incident_id', '=', id).orderBy('due_at').execute());
  }
  return Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, latencySummary(v)]));
}

/** The budget check runAction makes as a Charter call starts (store.budgetSpent over the last hour), on the loaded store. */
async function budgetCheck(store: KnowledgeStore, calls: number) {
  const lat: number[] = [];
  let spent = 0;
  for (let n = 0; n < calls; n++) {
    const s = performance.now();
    spent = await store.budgetSpent({ name: 'charter.investigation', actionType: 'charter.investigation', perSubject: false, max: 60, per: '1h', since: new Date(Date.now() - 3_600_000).toISOString() });
    lat.push(performance.now() - s);
  }
  const succeeded = await store.db.selectFrom('actions').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'succeeded').executeTakeFirstOrThrow();
  return { calls, latencyMs: latencySummary(lat), spentInLastHour: spent, succeededActionsStored: Number(succeeded.n), note: 'shipped pack: budgets on charter.investigation, quarantine and revocation, checked before each such call' };
}

/** Decisions through commitPlanStep on fresh incidents [from, from + n), `inFlight` incidents at a time, for at most DECISION_MS. */
async function decisions(store: KnowledgeStore, t: Templates, from: number, n: number, inFlight: number) {
  const steps = Array.from({ length: n }, (_, k) => stepsOf(t, from + k));
  const lat: number[] = [];
  let next = 0;
  let errors = 0;
  const meter = phaseMeter();
  const t0 = performance.now();
  const end = t0 + DECISION_MS;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end && next < steps.length) {
        const pair = steps[next++]!;
        for (const args of pair) {
          const s = performance.now();
          try {
            await store.commitPlanStep(args);
            lat.push(performance.now() - s);
          } catch (err) {
            errors += 1;
            if (errors <= 3) progress(`  commitPlanStep failed: ${(err as Error).message}`);
          }
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const perSecond = round(lat.length / seconds, 1);
  const use = meter();
  return { inFlight, decisions: lat.length, incidents: Math.min(next, n), errors, seconds: round(seconds, 2), decisionsPerSecond: perSecond, latencyMs: latencySummary(lat), cpuMsPerDecision: cpuMsPer(use, perSecond), resources: use, exhausted: next >= n };
}

/** Bare single-row autocommit INSERTs through the same Kysely handle. */
async function bareInserts(store: KnowledgeStore, inFlight: number) {
  const table = `bench_inserts_${inFlight}`;
  await sql`create table ${sql.table(table)} (id text primary key, v text not null)`.execute(store.db);
  const value = 'x'.repeat(600);
  const lat: number[] = [];
  let seq = 0;
  const t0 = performance.now();
  const end = t0 + INSERT_MS;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        await sql`insert into ${sql.table(table)} (id, v) values (${`r${seq++}`}, ${value})`.execute(store.db);
        lat.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await sql`drop table ${sql.table(table)}`.execute(store.db);
  return { inFlight, inserts: lat.length, insertsPerSecond: round(lat.length / seconds, 1), latencyMs: latencySummary(lat) };
}

/** startAttempt + finishAction on planned actions the decision runs created (the execute stage's two writes). */
async function finishActions(store: KnowledgeStore) {
  const planned = await store.db.selectFrom('actions').select('id').where('status', '=', 'planned').limit(5000).execute();
  const lat: number[] = [];
  const t0 = performance.now();
  const end = t0 + FINISH_MS;
  for (const { id } of planned) {
    if (performance.now() >= end) break;
    const s = performance.now();
    await store.startAttempt(id);
    await store.finishAction(id, 'succeeded', { status: 201, response: { id: 'bench', idempotency_key: id } });
    lat.push(performance.now() - s);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { actions: lat.length, available: planned.length, actionsPerSecond: round(lat.length / seconds, 1), latencyMsPerAction: latencySummary(lat), note: 'two transactions per action, each chained; finishAction appends a plan event' };
}

async function backend(kind: Kind, t: Templates, dir: string) {
  let scratch: Awaited<ReturnType<typeof scratchPostgres>> | undefined;
  let url: string;
  let server: Record<string, string> | undefined;
  if (kind === 'sqlite') {
    url = `sqlite:${join(dir, 'knowledge.db')}`;
  } else {
    scratch = await scratchPostgres();
    url = scratch.url;
    server = await postgresDurability(url);
    progress(`  postgres: database ${scratch.name}`);
  }
  try {
    // Create the schema as mapek does, then load through a separate handle.
    await (await openKnowledge(url)).close();
    const freshTotal = FRESH_PER_RUN * IN_FLIGHT.length;
    const loaded = await load(kind, url, t, freshTotal);
    const handle = await openKnowledge(url);
    const store = new KnowledgeStore(handle, systemClock);
    try {
      const stored = await counts(store);
      const size =
        kind === 'sqlite'
          ? statSync(url.slice('sqlite:'.length)).size
          : Number((await sql<{ n: string }>`select pg_database_size(current_database()) as n`.execute(store.db)).rows[0]?.n ?? 0);
      progress(`  ${kind}: ${JSON.stringify(stored)}, ${Math.round(size / 1e6)} MB`);

      progress(`  ${kind}: getIncident on random incidents`);
      const get = await getIncidents(store);
      progress(`    p50 ${get.latencyMs.p50} ms, p99 ${get.latencyMs.p99} ms (${get.perSecond}/s); chain ${JSON.stringify(get.chainShown)}`);

      const breakdown = await getIncidentBreakdown(store, QUICK ? 50 : 300);
      progress(`    by query (p50 ms): ${Object.entries(breakdown).map(([k, v]) => `${k} ${v.p50}`).join(', ')}`);

      const runs = [];
      const baselines = [];
      for (const [r, inFlight] of IN_FLIGHT.entries()) {
        progress(`  ${kind}: bare INSERT loop, ${inFlight} in flight`);
        const b = await bareInserts(store, inFlight);
        progress(`    ${b.insertsPerSecond}/s, p50 ${b.latencyMs.p50} ms, p99 ${b.latencyMs.p99} ms`);
        baselines.push(b);
        progress(`  ${kind}: commitPlanStep, ${inFlight} in flight`);
        const d = await decisions(store, t, INCIDENTS + 1 + r * FRESH_PER_RUN, FRESH_PER_RUN, inFlight);
        progress(`    ${d.decisionsPerSecond} decisions/s, p50 ${d.latencyMs.p50} ms, p99 ${d.latencyMs.p99} ms${d.errors ? `, ${d.errors} errors` : ''}${d.exhausted ? ' (ran out of fresh incidents)' : ''}`);
        runs.push({ ...d, ratioToBareInsert: b.insertsPerSecond && d.decisionsPerSecond !== null ? round(d.decisionsPerSecond / b.insertsPerSecond, 3) : null });
      }
      progress(`  ${kind}: startAttempt + finishAction`);
      const finish = await finishActions(store);
      progress(`    ${finish.actionsPerSecond} actions/s, p50 ${finish.latencyMsPerAction.p50} ms`);
      const budget = await budgetCheck(store, QUICK ? 20 : 100);
      progress(`  ${kind}: budget check p50 ${budget.latencyMs.p50} ms over ${budget.succeededActionsStored} succeeded actions`);
      return {
        durability:
          kind === 'sqlite'
            ? `${handle.durability}; writers BEGIN IMMEDIATE; one connection (better-sqlite3 via Kysely, default 2 MB page cache)`
            : { mapek: handle.durability, server, pool: 'pg.Pool max 10; every chained write takes pg_advisory_xact_lock (one writer at a time)' },
        load: { ...loaded, rowsByTable: stored, bytes: size },
        getIncident: { ...get, byQueryMs: breakdown },
        decisions: runs,
        baseline: { bareInsert: baselines },
        sideFigures: { finishAction: finish, budgetCheck: budget },
      };
    } finally {
      await store.close();
    }
  } finally {
    if (scratch) {
      await scratch.drop().catch((err: Error) => progress(`dropping ${scratch?.name} failed: ${err.message}`));
      progress(`  postgres: database ${scratch.name} dropped`);
    }
  }
}

async function main() {
  const startedAt = new Date();
  const load0 = os.loadavg();
  const dir = mkdtempSync(join(os.tmpdir(), 'mapek-bench-knowledge-'));
  try {
    progress('template: one real incident chain through the store (in memory)');
    const t = await buildTemplates(pack);
    progress(`  ${JSON.stringify(t.chain)}`);
    const results: Record<string, unknown> = {};
    for (const kind of BACKENDS) {
      progress(`${kind}: loading ${INCIDENTS} incidents × ${RECORDS_PER_INCIDENT} records${LEDGER ? ' (+1 ledger link each)' : ''}`);
      results[kind] = await backend(kind, t, dir);
    }
    return {
      benchmark: 'mapek knowledge (decisions written, one incident chain shown, with ~1M records stored)',
      records: { requested: RECORDS, stored: INCIDENTS * RECORDS_PER_INCIDENT, incidents: INCIDENTS, perIncident: PER_INCIDENT, auditLinks: LEDGER ? 'one per record (placeholder hashes)' : 'none', templateChain: t.chain },
      ...results,
      settings: {
        ...machine(load0),
        what: {
          load: 'server-side INSERT … SELECT over a generated series, batches of 10,000 incidents, copies of one real chain with ids, node and times varied; closed incidents spread over 30 days; loading is not a measured figure',
          getIncident: `store.getIncident on uniformly random stored incidents, one call at a time, ${GET_WARMUP} warm-up calls then ${GET_MEASURE} measured`,
          decisions: `store.commitPlanStep on fresh incidents (open, two unapplied plan events each), their first two steps; ${DECISION_MS / 1000} s per run; plan results computed before the clock starts`,
          baseline: `single-row INSERT (600-byte text) in autocommit through the same Kysely handle, ${INSERT_MS / 1000} s`,
          sqliteAnalyze: 'not run (mapek does not); PostgreSQL: ANALYZE after loading, as autovacuum would',
        },
        quick: QUICK,
        date: startedAt.toISOString(),
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await runBenchmark(main);
