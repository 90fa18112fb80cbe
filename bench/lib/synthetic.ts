/**
 * Synthetic knowledge for the knowledge benchmark: one real incident chain written through the
 * store (its rows become templates), and a generator that bulk-inserts copies of it, server-side
 * (INSERT … SELECT over a generated series), on SQLite or PostgreSQL through Kysely.
 *
 * Incident i (1-based) gets ids `inc_<h>_<i>`, `obs_<h>_<i>`, … where <h> is a multiplicative
 * hash of i (so keys land all over the B-trees, as random ids do), node `bench-node-<i>`, and
 * times spread over the 30 days before the run. Text columns are the template's, with the
 * template's incident id and node replaced. The audit ledger gets one link per row, with
 * placeholder hashes: `mapek audit verify` would reject these rows, which the bench does not ask.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { observationsFromWebhook, parseWebhook } from '../../src/monitor/alertmanager.ts';
import { findingFromAlert, type AlertSignal } from '../../src/analyze/findings.ts';
import { systemClock } from '../../src/clock.ts';
import type { Pack } from '../../src/config.ts';
import { openKnowledge } from '../../src/knowledge/db.ts';
import type { Database } from '../../src/knowledge/schema.ts';
import { KnowledgeStore } from '../../src/knowledge/store.ts';
import { routesOf } from '../../src/loop.ts';
import { playbooks } from '../../src/plan/playbooks/index.ts';
import { startPlan, stepPlan } from '../../src/plan/step.ts';
import type { PlanEvent, StepResult } from '../../src/plan/types.ts';
import { alertPayload } from './load.ts';

export type Kind = 'sqlite' | 'postgres';
type Row = Record<string, unknown>;

export const TPL_NODE = 'tplnode-7f3a9c';
const TPL_STARTS = '2026-11-20T08:00:00.000Z';
export const PLAYBOOK = 'critical-violation';
export const LOOKUP_STEP = 'lookup-severity';

/** JS twin of the SQL hash: (i · 2654435761) mod 2³², 8 hex digits. */
export function hash8(i: number): string {
  return ((i * 2654435761) % 4294967296).toString(16).padStart(8, '0');
}
export const incidentIdOf = (i: number): string => `inc_${hash8(i)}_${i}`;
export const nodeOf = (i: number): string => `bench-node-${i}`;
export const eventIdOf = (i: number, k: number): string => `evt_${hash8(i)}_${i}_${k}`;

/** The rows of one real chain, with the incident id as @I@ and the node as @N@. */
export interface Templates {
  incident: Row;
  observation: Row;
  finding: Row;
  plan: Row;
  planEvent: Row;
  decisions: Row[];
  actions: Row[];
  timer: Row;
  /** Arguments of the first two plan steps of a fresh incident, as JSON with @I@ and @N@. */
  step1: string;
  step2: string;
  /** How many steps, decisions, actions and timers the real chain had. */
  chain: Record<string, number>;
}

function placeholders(row: Row, incidentId: string): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) out[k] = typeof v === 'string' ? v.split(incidentId).join('@I@').split(TPL_NODE).join('@N@') : v;
  return out;
}

/** Plausible Charter/Prometheus answers, for the template chain's actions. */
function outcomeFor(type: string, node: string, key: string): Record<string, unknown> {
  if (type === 'prometheus.severity') return { severities: ['SUSPENSION'], query: `max by (severity) (westworld_charter_violations_total{node_or_service="${node}"})` };
  return {
    status: 201,
    response: { id: `${type.split('.')[1]}-1`, created_at: new Date().toISOString(), idempotency_key: key, node_or_service: node, initiated_by: 'system', status: 'open', origin: 'api' },
  };
}

/** Runs one incident through the store (alert → finding → plan steps → actions) in memory, up to verifying. */
export async function buildTemplates(pack: Pack): Promise<Templates> {
  const handle = await openKnowledge('sqlite::memory:');
  const store = new KnowledgeStore(handle, systemClock);
  try {
    const body = JSON.parse(alertPayload(TPL_NODE, `${TPL_NODE}-fp`, TPL_STARTS).toString()) as unknown;
    const obs = observationsFromWebhook(parseWebhook(body));
    await store.recordObservations(obs);
    const routes = routesOf(pack);
    const opened = await store.processObservation(obs[0]!.id, (o) => findingFromAlert((o.payload as { alert: AlertSignal }).alert, routes));
    const incidentId = opened.incidentId;
    if (!incidentId) throw new Error(`template alert opened no incident: ${opened.outcome}`);
    const playbook = playbooks[PLAYBOOK]!;
    const policy = { name: pack.name, version: pack.version };
    let steps = 0;
    let step1 = '';
    let step2 = '';
    for (let n = 0; n < 20; n++) {
      const work = await store.planWork(incidentId);
      if (!work || work.events.length === 0) break;
      const next = work.events[0]!;
      let result: StepResult;
      if (!work.plan) {
        const subject = { ...work.incident.labels };
        delete subject.alertname;
        const ev = next.event as Extract<PlanEvent, { type: 'incident.opened' }>;
        result = startPlan(playbook, playbook.input(pack, { labels: ev.labels ?? work.incident.labels, subject, recentIncidents: 0 }));
      } else {
        result = stepPlan(playbook, work.plan.snapshot, next.event);
      }
      const args = { incidentId, eventId: next.id, event: next.event, expectedVersion: work.plan?.version ?? 0, machine: playbook.machine.id, result, policy, labels: work.incident.labels };
      const text = JSON.stringify(args).split(incidentId).join('@I@').split(TPL_NODE).join('@N@');
      if (steps === 0) step1 = text;
      if (steps === 1) step2 = text;
      const committed = await store.commitPlanStep(args);
      steps += 1;
      for (const a of committed.actions) {
        if (a.status !== 'planned') continue;
        await store.startAttempt(a.id);
        await store.finishAction(a.id, 'succeeded', outcomeFor(a.type, TPL_NODE, a.idempotencyKey));
      }
      if (result.incidentState === 'verifying') break;
    }
    // Untyped view: the same query over several tables.
    const db = handle.db as unknown as Kysely<Record<string, Row>>;
    const one = async (table: string, col: string, order = col): Promise<Row[]> =>
      (await db.selectFrom(table).selectAll().where(col, '=', incidentId).orderBy(order).execute()) as Row[];
    const incident = (await one('incidents', 'id'))[0]!;
    const findings = await one('findings', 'incident_id', 'created_at');
    const observation = (await db.selectFrom('observations').selectAll().where('id', '=', String(findings[0]!.observation_id)).execute())[0] as Row;
    const plan = (await one('plans', 'incident_id'))[0]!;
    const events = await one('plan_events', 'incident_id', 'seq');
    const decisions = await one('decisions', 'incident_id', 'at');
    const actions = await one('actions', 'incident_id', 'created_at');
    const timers = await one('timers', 'incident_id', 'due_at');
    if (!step2 || decisions.length < 2 || actions.length < 2 || timers.length < 1) throw new Error('template chain too short');
    const ph = (r: Row) => placeholders(r, incidentId);
    return {
      incident: ph(incident),
      observation: ph(observation),
      finding: ph(findings[0]!),
      plan: ph(plan),
      planEvent: ph(events[0]!),
      decisions: decisions.slice(0, 2).map(ph),
      actions: actions.slice(0, 2).map(ph),
      timer: ph(timers[0]!),
      step1,
      step2,
      chain: { planSteps: steps, planEvents: events.length, decisions: decisions.length, actions: actions.length, timers: timers.length },
    };
  } finally {
    await handle.close();
  }
}

/** Records per incident the generator writes, by table (10 in all). */
export const PER_INCIDENT = { observations: 1, findings: 1, incidents: 1, plans: 1, plan_events: 1, decisions: 2, actions: 2, timers: 1 } as const;
export const RECORDS_PER_INCIDENT = Object.values(PER_INCIDENT).reduce((a, b) => a + b, 0);

/** SQL fragments over the series column g.i, for one dialect. */
class Exprs {
  constructor(
    readonly kind: Kind,
    /** Epoch seconds of incident 0, and seconds between incidents. */
    private readonly base: number,
    private readonly spacing: number,
  ) {}

  readonly istr = sql.raw('cast(g.i as text)');

  get h(): RawBuilder<unknown> {
    return this.kind === 'sqlite' ? sql.raw(`printf('%08x', (g.i * 2654435761) % 4294967296)`) : sql.raw(`lpad(to_hex((g.i::bigint * 2654435761) % 4294967296), 8, '0')`);
  }

  /** `<prefix>_<h>_<i>[<suffix>]` */
  id(prefix: string, suffix = ''): RawBuilder<unknown> {
    return sql`${sql.lit(`${prefix}_`)} || ${this.h} || '_' || ${this.istr}${suffix ? sql` || ${sql.lit(suffix)}` : sql``}`;
  }

  get incidentId(): RawBuilder<unknown> {
    return this.id('inc');
  }

  get node(): RawBuilder<unknown> {
    return sql`'bench-node-' || ${this.istr}`;
  }

  /** A template value: text with @I@/@N@ replaced, a number as a literal, null as null. */
  v(value: unknown): RawBuilder<unknown> {
    if (value === null || value === undefined) return sql`null`;
    if (typeof value === 'number' || typeof value === 'bigint') return sql.lit(Number(value));
    const text = String(value);
    if (!text.includes('@I@') && !text.includes('@N@')) return sql`cast(${text} as text)`;
    return sql`replace(replace(cast(${text} as text), '@I@', ${this.incidentId}), '@N@', ${this.node})`;
  }

  /** ISO time of incident i plus `offsetS` seconds. */
  ts(offsetS: number): RawBuilder<unknown> {
    const secs = sql`${sql.lit(this.base)} + g.i * ${sql.lit(this.spacing)} + ${sql.lit(offsetS)}`;
    return this.kind === 'sqlite'
      ? sql`strftime('%Y-%m-%dT%H:%M:%fZ', ${secs}, 'unixepoch')`
      : sql`to_char(to_timestamp(${secs}) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  }

  get hash64(): RawBuilder<unknown> {
    const h = this.h;
    return sql`${h} || ${h} || ${h} || ${h} || ${h} || ${h} || ${h} || ${h}`;
  }
}

type Cols = Array<[string, RawBuilder<unknown>]>;

/** Bulk writer of synthetic incidents [from, to]. */
export class Generator {
  private readonly x: Exprs;
  /** Next audit ledger seq. */
  private seq = 1;
  rows = 0;
  links = 0;

  constructor(
    private readonly db: Kysely<Database>,
    readonly kind: Kind,
    private readonly t: Templates,
    private readonly ledger: boolean,
    base: number,
    spacing: number,
  ) {
    this.x = new Exprs(kind, base, spacing);
  }

  private async insert(db: Kysely<Database>, table: string, cols: Cols, from: number, to: number, key: RawBuilder<unknown>): Promise<void> {
    const names = sql.join(cols.map(([c]) => sql.ref(c)));
    const values = sql.join(cols.map(([, e]) => e));
    const q =
      this.kind === 'sqlite'
        ? sql`with recursive g(i) as (select ${sql.lit(from)} union all select i + 1 from g where i < ${sql.lit(to)}) insert into ${sql.table(table)} (${names}) select ${values} from g`
        : sql`insert into ${sql.table(table)} (${names}) select ${values} from generate_series(${sql.lit(from)}, ${sql.lit(to)}) as g(i)`;
    await q.execute(db);
    this.rows += to - from + 1;
    if (!this.ledger) return;
    const x = this.x;
    const seq0 = this.seq - from;
    const link: Cols = [
      ['seq', sql`${sql.lit(seq0)} + g.i`],
      ['tbl', sql.lit(table)],
      ['row_key', key],
      ['row_hash', x.hash64],
      ['prev_hash', x.hash64],
      ['hash', x.hash64],
      ['at', x.ts(1)],
    ];
    this.seq += to - from + 1;
    this.links += to - from + 1;
    const ln = sql.join(link.map(([c]) => sql.ref(c)));
    const lv = sql.join(link.map(([, e]) => e));
    const lq =
      this.kind === 'sqlite'
        ? sql`with recursive g(i) as (select ${sql.lit(from)} union all select i + 1 from g where i < ${sql.lit(to)}) insert into audit_ledger (${ln}) select ${lv} from g`
        : sql`insert into audit_ledger (${ln}) select ${lv} from generate_series(${sql.lit(from)}, ${sql.lit(to)}) as g(i)`;
    await lq.execute(db);
  }

  /** Closed incidents [from, to], each with its whole chain (PER_INCIDENT rows), in one transaction. */
  async closedIncidents(from: number, to: number): Promise<void> {
    const { x, t } = this;
    await this.db.transaction().execute(async (tx) => {
      const ins = (table: string, cols: Cols, key: RawBuilder<unknown>) => this.insert(tx, table, cols, from, to, key);
      const inc = x.incidentId;
      await ins('incidents', [
        ['id', inc], ['playbook', x.v(t.incident.playbook)], ['subject_key', x.v(t.incident.subject_key)], ['labels', x.v(t.incident.labels)],
        ['state', sql.lit('resolved')], ['active_slot', sql`null`], ['created_at', x.ts(0)], ['updated_at', x.ts(900)], ['closed_at', x.ts(900)],
      ], inc);
      const obs = x.id('obs');
      const fp = sql`${x.node} || '-fp'`;
      const o = t.observation;
      await ins('observations', [
        ['id', obs], ['source', x.v(o.source)], ['dedup_key', sql`'am|' || ${fp} || '|firing|' || ${sql.lit(TPL_STARTS)}`], ['received_at', x.ts(0)],
        ['name', x.v(o.name)], ['status', x.v(o.status)], ['fingerprint', fp], ['labels', x.v(o.labels)], ['payload', x.v(o.payload)],
        ['processed_at', x.ts(0.05)], ['outcome', sql`'opened incident ' || ${inc}`],
      ], obs);
      const f = t.finding;
      const fnd = x.id('fnd');
      await ins('findings', [
        ['id', fnd], ['observation_id', obs], ['incident_id', inc], ['fingerprint', fp], ['name', x.v(f.name)], ['kind', x.v(f.kind)],
        ['severity', x.v(f.severity)], ['labels', x.v(f.labels)], ['evidence', x.v(f.evidence)], ['created_at', x.ts(0.05)], ['resolved_at', x.ts(900)],
      ], fnd);
      const p = t.plan;
      await ins('plans', [
        ['incident_id', inc], ['machine', x.v(p.machine)], ['state', sql.lit('resolved')], ['snapshot', x.v(p.snapshot)], ['version', x.v(p.version)],
        ['policy', x.v(p.policy)], ['updated_at', x.ts(900)],
      ], inc);
      const e = t.planEvent;
      const evt = x.id('evt', '_0');
      await ins('plan_events', [
        ['id', evt], ...(this.kind === 'sqlite' ? ([['seq', sql`g.i`]] as Cols) : []), ['incident_id', inc], ['type', x.v(e.type)], ['payload', x.v(e.payload)],
        ['created_at', x.ts(0.05)], ['applied_at', x.ts(0.06)],
      ], evt);
      for (const [k, d] of t.decisions.entries()) {
        const id = sql`${inc} || ${sql.lit(`-v${k + 1}`)}`;
        await ins('decisions', [
          ['id', id], ['incident_id', inc], ['at', x.ts(0.1 + k)], ['machine', x.v(d.machine)], ['from_state', x.v(d.from_state)], ['to_state', x.v(d.to_state)],
          ['event', x.v(d.event)], ['guards', x.v(d.guards)], ['evidence', x.v(d.evidence)], ['policy', x.v(d.policy)], ['actions', x.v(d.actions)], ['labels', x.v(d.labels)],
        ], id);
      }
      for (const [k, a] of t.actions.entries()) {
        const id = x.id('act', `_${k + 1}`);
        await ins('actions', [
          ['id', id], ['incident_id', inc], ['step', x.v(a.step)], ['iteration', x.v(a.iteration)], ['type', x.v(a.type)], ['params', x.v(a.params)],
          ['status', sql.lit('succeeded')], ['attempts', sql.lit(1)], ['idempotency_key', sql`'mapek-' || ${inc} || ${sql.lit(`-${String(a.step)}-1`)}`],
          ['outcome', x.v(a.outcome)], ['quorum', sql`null`], ['approvals', sql.lit('[]')], ['last_error', sql`null`], ['created_at', x.ts(0.1 + k)], ['updated_at', x.ts(0.2 + k)],
        ], id);
      }
      const tm = t.timer;
      const tmr = x.id('tmr');
      await ins('timers', [['id', tmr], ['incident_id', inc], ['name', x.v(tm.name)], ['due_at', x.ts(300)], ['fired_at', x.ts(300)]], tmr);
    });
  }

  /**
   * Fresh incidents [from, to] for the decision phase: open, no plan yet, with two unapplied plan
   * events each (incident.opened, then the severity lookup's action.succeeded), as analyze and
   * execute leave them.
   */
  async freshIncidents(from: number, to: number, events: { opened: string; lookup: string }): Promise<void> {
    const { x, t } = this;
    await this.db.transaction().execute(async (tx) => {
      const ins = (table: string, cols: Cols) => this.insert(tx, table, cols, from, to, x.incidentId);
      const inc = x.incidentId;
      await ins('incidents', [
        ['id', inc], ['playbook', x.v(t.incident.playbook)], ['subject_key', x.v(t.incident.subject_key)], ['labels', x.v(t.incident.labels)],
        ['state', sql.lit('open')], ['active_slot', sql.lit(1)], ['created_at', x.ts(0)], ['updated_at', x.ts(0)], ['closed_at', sql`null`],
      ]);
      for (const [k, payload] of [[1, events.opened], [2, events.lookup]] as const) {
        await ins('plan_events', [
          ['id', sql`${x.id('evt')} || ${sql.lit(`_${k}`)}`], ...(this.kind === 'sqlite' ? ([['seq', sql`g.i * 2 + ${sql.lit(k)}`]] as Cols) : []), ['incident_id', inc],
          ['type', x.v(JSON.parse(payload.split('@I@').join('x').split('@N@').join('x')).type)], ['payload', x.v(payload)], ['created_at', x.ts(0)], ['applied_at', sql`null`],
        ]);
      }
    });
  }
}
