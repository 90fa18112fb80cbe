/** The knowledge store: the system of record for every arrow of the loop (DESIGN.md, principle 2). */
import { createHash } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { alertDedupKey, type FindingDraft } from '../analyze/findings.ts';
import type { Clock } from '../clock.ts';
import { newId, stableId } from '../ids.ts';
import type { ActionRequest, IncidentState, PlanEvent, StepResult } from '../plan/types.ts';
import type { KnowledgeDb } from './db.ts';
import { GroupCommit, type BulkWrite } from './group-commit.ts';
import type { Database } from './schema.ts';

/** What beginAttempt answers: the attempt started (with the brake), held by a pause, or nothing to run. */
export type BeginResult =
  | { started: ActionRecord; brake: BrakeState; budgets: BudgetSpend[] }
  | { paused: PauseState; type: string }
  | { budgetSpent: BudgetSpend; type: string }
  | null;

/** A budget an attempt must fit in: at most `max` per window starting at `since`. */
export interface BudgetCheck {
  name: string;
  /** The action type counted; null: every Charter call. */
  actionType: string | null;
  perSubject: boolean;
  max: number;
  /** The window, as the pack says it (`1h`), and where it starts now. */
  per: string;
  since: string;
}

/** What a budget had spent when an attempt was checked against it (the attempt not included). */
export interface BudgetSpend {
  name: string;
  perSubject: boolean;
  max: number;
  per: string;
  spent: number;
}

/** No budget applies (the default of beginAttempt: no read of the actions for them). */
const NO_BUDGETS = (): BudgetCheck[] => [];
/** What finishAction answers: the incident to wake (and the first-effect age), or null when already finished. */
export type FinishResult = { incidentId: string; firstEffectMs: number | null } | null;

/** Action statuses a worker may still start or finish. */
const RUNNABLE = ['planned', 'running'];

/** Rows per multi-row INSERT (well under SQLite's and PostgreSQL's limits on bound parameters). */
const INSERT_CHUNK = 500;

type Db = Kysely<Database> | Transaction<Database>;

/** A plan's snapshot moved under us: another worker stepped it first. Retry re-reads. */
export class PlanConflictError extends Error {
  override readonly name = 'PlanConflictError';
}

/** One observation to keep, as the monitor built it. */
export interface NewObservation {
  id: string;
  source: 'alertmanager' | 'sensor';
  dedupKey: string;
  name: string;
  status: string;
  fingerprint: string;
  labels: Record<string, string>;
  payload: unknown;
}

/** An observation as stored. */
export interface ObservationRecord {
  id: string;
  source: string;
  receivedAt: string;
  name: string;
  status: string;
  fingerprint: string;
  labels: Record<string, string>;
  payload: unknown;
  processedAt: string | null;
  outcome: string | null;
}

/** An action as the API shows it (DESIGN.md, Records). */
export interface ActionRecord {
  id: string;
  incidentId: string;
  step: string;
  iteration: number;
  type: string;
  params: Record<string, unknown>;
  status: 'planned' | 'awaiting_approval' | 'running' | 'succeeded' | 'failed' | 'dead' | 'skipped';
  attempts: number;
  idempotencyKey: string;
  outcome: unknown;
  approvals: Approval[];
  quorum: number | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

/** One person's word on a gated action: who, when, why. */
export interface Approval {
  by: string;
  at: string;
  decision: 'approve' | 'reject';
  comment?: string;
}

/** Why an approval was refused; the API maps `conflict` to 409, `invalid` to 400, `missing` to 404. */
export class ApprovalError extends Error {
  override readonly name = 'ApprovalError';
  constructor(
    message: string,
    readonly kind: 'missing' | 'conflict' | 'invalid',
  ) {
    super(message);
  }
}

/** Whether the safety brake is engaged, since when and why. */
export interface BrakeState {
  engaged: boolean;
  since?: string;
  reason?: string;
  by?: string;
  releasedAt?: string;
}

/** Whether the loop is paused, since when, until when and by whom. */
export interface PauseState {
  paused: boolean;
  since?: string;
  until?: string;
  by?: string;
  reason?: string;
  resumedAt?: string;
  expired?: string;
}

/** A decision: one step a plan took, with why. */
export interface DecisionRecord {
  id: string;
  incidentId: string;
  at: string;
  machine: string;
  from: string;
  to: string;
  event: unknown;
  guards: unknown;
  evidence: unknown;
  policy: unknown;
  actions: unknown;
  labels: Record<string, string>;
}

/** An incident summary, as lists show it. */
export interface IncidentSummary {
  id: string;
  playbook: string;
  labels: Record<string, string>;
  state: IncidentState;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
}

/** One page of a list. */
export interface Page<T> {
  items: T[];
  next: string | null;
}

/** What the plan worker needs to step one incident. */
export interface PlanWork {
  incident: IncidentSummary;
  plan: { machine: string; snapshot: unknown; version: number; state: string } | null;
  events: Array<{ id: string; event: PlanEvent }>;
}

const TERMINAL: readonly string[] = ['resolved', 'escalated'];

/** Every table the API reads, with its primary key: each write to them is chained. */
const AUDITED = {
  observations: 'id',
  findings: 'id',
  incidents: 'id',
  plans: 'incident_id',
  plan_events: 'id',
  decisions: 'id',
  actions: 'id',
  timers: 'id',
  controls: 'key',
} as const;
type AuditedTable = keyof typeof AUDITED;
const GENESIS = 'genesis';

/** SHA-256 of a row's content with sorted keys (values as the driver returns them). */
function rowDigest(row: Record<string, unknown>): string {
  const sorted = Object.keys(row)
    .sort()
    .map((k) => [k, row[k] === null || row[k] === undefined ? null : String(row[k])]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
}

/** SHA-256 of one link: it covers the previous link, so no link can change or go unnoticed. */
function linkDigest(prev: string, seq: number, table: string, key: string, rowHash: string): string {
  return createHash('sha256').update(`${prev}|${seq}|${table}|${key}|${rowHash}`).digest('hex');
}
const j = (v: unknown): string => JSON.stringify(v ?? null);
const p = <T>(text: string | null): T => (text === null ? (null as T) : (JSON.parse(text) as T));

/** The plan version a decision id ends with (`...-v12` → 12). */
function versionOf(decisionId: string): number {
  return Number(/-v(\d+)$/.exec(decisionId)?.[1] ?? 0);
}

function encodeCursor(at: string, id: string): string {
  return Buffer.from(`${at}|${id}`).toString('base64url');
}
function decodeCursor(cursor: string): [string, string] | null {
  const text = Buffer.from(cursor, 'base64url').toString();
  const i = text.lastIndexOf('|');
  return i > 0 ? [text.slice(0, i), text.slice(i + 1)] : null;
}

function toAction(r: Database['actions']): ActionRecord {
  return {
    id: r.id,
    incidentId: r.incident_id,
    step: r.step,
    iteration: r.iteration,
    type: r.type,
    params: p(r.params),
    status: r.status as ActionRecord['status'],
    attempts: r.attempts,
    idempotencyKey: r.idempotency_key,
    outcome: p(r.outcome),
    approvals: p(r.approvals),
    quorum: r.quorum,
    lastError: r.last_error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
function toIncident(r: Database['incidents']): IncidentSummary {
  return {
    id: r.id,
    playbook: r.playbook,
    labels: p(r.labels),
    state: r.state as IncidentState,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    closedAt: r.closed_at,
  };
}
function toDecision(r: Database['decisions']): DecisionRecord {
  return {
    id: r.id,
    incidentId: r.incident_id,
    at: r.at,
    machine: r.machine,
    from: r.from_state,
    to: r.to_state,
    event: p(r.event),
    guards: p(r.guards),
    evidence: p(r.evidence),
    policy: p(r.policy),
    actions: p(r.actions),
    labels: p(r.labels),
  };
}
function toObservation(r: Database['observations']): ObservationRecord {
  return {
    id: r.id,
    source: r.source,
    receivedAt: r.received_at,
    name: r.name,
    status: r.status,
    fingerprint: r.fingerprint,
    labels: p(r.labels),
    payload: p(r.payload),
    processedAt: r.processed_at,
    outcome: r.outcome,
  };
}

/** The action id and idempotency key of a plan step: (incident, step, iteration), so a redelivery keeps them. */
export function actionIdentity(incidentId: string, step: string, iteration: number): { id: string; idempotencyKey: string } {
  return { id: stableId('act', incidentId, step, String(iteration)), idempotencyKey: `mapek-${incidentId}-${step}-${iteration}` };
}

/** Every read and write of the loop's records, over SQLite or PostgreSQL through one Kysely schema. */
export class KnowledgeStore {
  readonly db: Kysely<Database>;

  /** How long after an incident closes a new finding on its subject joins it instead of opening another (0: never). */
  reopenCooldownMs = 0;

  /** Write transactions requested together share one COMMIT (see group-commit.ts). */
  private readonly writes: GroupCommit<Database>;
  /** The ledger head as last written in a transaction (it holds the write lock, so no one else moves it). */
  private readonly chainHeads = new WeakMap<object, { seq: number; hash: string }>();
  /** Batch transactions that already hold the audit chain's PostgreSQL lock. */
  private readonly chainLocked = new WeakSet<object>();
  /** Told of every committed write batch (its writes), for /metrics. */
  onCommit?: (writes: number) => void;
  /** Sizes of the committed write batches since start: writes and batches (for benchmarks and /metrics). */
  readonly batchStats = { writes: 0, batches: 0 };

  constructor(
    readonly handle: KnowledgeDb,
    private readonly clock: Clock,
  ) {
    this.db = handle.db;
    this.writes = new GroupCommit(handle.db, {
      maxBatch: 256,
      extraTurns: 1,
      severalStatementsPerQuery: handle.kind === 'postgres',
      // PostgreSQL: the next batch begins and waits for the chain lock while this one commits.
      inFlight: handle.kind === 'postgres' ? 2 : 1,
      // PostgreSQL: one chain lock per batch, taken before any write's savepoint so that a write
      // rolled back to its savepoint cannot release it for the writes after it.
      onBegin: handle.kind === 'postgres' ? (tx) => this.lockChain(tx) : undefined,
      onRollback: (tx) => this.chainHeads.delete(tx),
      onCommit: (n) => this.committed(n),
    });
    // The writer thread's batches (webhook intake) count as this store's.
    if (handle.writer) handle.writer.onCommit = (n) => this.committed(n);
  }

  private committed(writes: number): void {
    this.batchStats.writes += writes;
    this.batchStats.batches += 1;
    this.onCommit?.(writes);
  }

  /** Runs one write transaction, committed together with the writes requested alongside it. */
  private write<T>(fn: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.writes.run(fn);
  }

  /** PostgreSQL: one advisory lock orders concurrent writers, so the chain stays one line (SQLite: BEGIN IMMEDIATE does). */
  private async lockChain(tx: Db): Promise<void> {
    if (this.handle.kind !== 'postgres' || this.chainLocked.has(tx)) return;
    await sql`select pg_advisory_xact_lock(727274)`.execute(tx);
    this.chainLocked.add(tx);
  }

  private now(): string {
    return new Date(this.clock.now()).toISOString();
  }

  /**
   * Appends the current content of one row to the hash chain, in the writer's transaction. On
   * PostgreSQL an advisory lock orders concurrent writers, so the chain stays one line.
   */
  private async chain(tx: Db, table: AuditedTable, key: string, stored?: object): Promise<Record<string, unknown> | undefined> {
    // `stored`: the row as the write's RETURNING gave it, so it need not be read again.
    const row = (stored ?? (await this.lockedRead(tx, table, key))) as Record<string, unknown> | undefined;
    await this.appendLinks(tx, table, [{ key, rowHash: row ? rowDigest(row) : 'deleted' }]);
    return row;
  }

  /** Appends several stored rows of one table to the hash chain with one insert (each row as its write's RETURNING gave it). */
  private async chainRows(tx: Db, table: AuditedTable, rows: object[]): Promise<void> {
    const pk = AUDITED[table];
    await this.appendLinks(tx, table, rows.map((row) => ({ key: String((row as Record<string, unknown>)[pk]), rowHash: rowDigest(row as Record<string, unknown>) })));
  }

  /** A row read under the chain's lock (PostgreSQL), so the content chained is the content committed. */
  private async lockedRead(tx: Db, table: AuditedTable, key: string): Promise<object | undefined> {
    await this.lockChain(tx);
    return tx.selectFrom(table).selectAll().where(AUDITED[table] as never, '=', key as never).executeTakeFirst();
  }

  private async appendLinks(tx: Db, table: AuditedTable, entries: Array<{ key: string; rowHash: string }>): Promise<void> {
    if (entries.length === 0) return;
    await this.lockChain(tx);
    let head = this.chainHeads.get(tx);
    if (!head) {
      const last = await tx.selectFrom('audit_ledger').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
      head = last ? { seq: Number(last.seq), hash: last.hash } : { seq: 0, hash: GENESIS };
    }
    const at = this.now();
    const links = [];
    for (const { key, rowHash } of entries) {
      const seq: number = head.seq + 1;
      const hash = linkDigest(head.hash, seq, table, key, rowHash);
      links.push({ seq, tbl: table, row_key: key, row_hash: rowHash, prev_hash: head.hash, hash, at });
      head = { seq, hash };
    }
    for (let i = 0; i < links.length; i += INSERT_CHUNK) await tx.insertInto('audit_ledger').values(links.slice(i, i + INSERT_CHUNK)).execute();
    this.chainHeads.set(tx, head);
  }

  /**
   * Checks the chain and every audited table against it, in one consistent read: an edited,
   * inserted or deleted row, or an edited, inserted or deleted link, is reported.
   */
  async verifyAudit(): Promise<{ ok: boolean; links: number; rows: number; problems: string[] }> {
    const run = async (tx: Db) => {
      const problems: string[] = [];
      const latest = new Map<string, string>();
      // After retention, the chain restarts at the last checkpoint: the link before it is known by its hash.
      const checkpoint = await tx.selectFrom('audit_checkpoints').selectAll().orderBy('seq', 'desc').limit(1).executeTakeFirst();
      let prev = checkpoint?.hash ?? GENESIS;
      let expected = checkpoint ? Number(checkpoint.seq) + 1 : 1;
      const links = await tx.selectFrom('audit_ledger').selectAll().where('seq', '>', checkpoint ? Number(checkpoint.seq) : 0).orderBy('seq').execute();
      for (const l of links) {
        const seq = Number(l.seq);
        if (seq !== expected) problems.push(`ledger: link ${expected}${seq > expected + 1 ? `..${seq - 1}` : ''} missing (deleted)`);
        if (l.prev_hash !== prev) problems.push(`ledger: link ${seq} does not follow link ${seq - 1}`);
        if (l.hash !== linkDigest(l.prev_hash, seq, l.tbl, l.row_key, l.row_hash)) problems.push(`ledger: link ${seq} was edited`);
        prev = l.hash;
        expected = seq + 1;
        latest.set(`${l.tbl}|${l.row_key}`, l.row_hash);
      }
      let rows = 0;
      for (const [table, pk] of Object.entries(AUDITED) as Array<[AuditedTable, string]>) {
        const all = await tx.selectFrom(table).selectAll().execute();
        const seen = new Set<string>();
        for (const row of all as Array<Record<string, unknown>>) {
          rows += 1;
          const key = String(row[pk]);
          seen.add(key);
          const recorded = latest.get(`${table}|${key}`);
          if (recorded === undefined || recorded === 'deleted') problems.push(`${table} ${key}: row not written by mapek (inserted directly)`);
          else if (recorded !== rowDigest(row)) problems.push(`${table} ${key}: row edited after mapek wrote it`);
        }
        for (const [k, h] of latest) {
          const [t, key] = [k.slice(0, k.indexOf('|')), k.slice(k.indexOf('|') + 1)];
          if (t === table && h !== 'deleted' && !seen.has(key)) problems.push(`${table} ${key}: row deleted`);
        }
      }
      return { ok: problems.length === 0, links: links.length, rows, problems };
    };
    if (this.handle.kind === 'postgres') return this.db.transaction().setIsolationLevel('repeatable read').execute(run);
    return this.db.transaction().execute(run);
  }

  /**
   * Retention: archives (through `archive`) and deletes every incident closed before `cutoff`
   * with its whole chain; each deletion is chained. Then it compacts the ledger behind a
   * checkpoint: every live row is chained afresh, the links up to there are pruned, and the
   * checkpoint keeps the last pruned link's hash so `verifyAudit` still checks the rest.
   */
  async applyRetention(cutoff: string, archive: (incident: unknown) => Promise<void>): Promise<{ incidents: number; rowsDeleted: number; linksPruned: number; checkpoint: number | null }> {
    const old = await this.db.selectFrom('incidents').select('id').where('closed_at', '<', cutoff).where('closed_at', 'is not', null).execute();
    let rowsDeleted = 0;
    for (const { id } of old) {
      const chain = await this.getIncident(id);
      if (!chain) continue;
      await archive(chain);
      rowsDeleted += await this.db.transaction().execute(async (tx) => {
        const targets: Array<[AuditedTable, string[]]> = [
          ['observations', chain.observations.map((o) => o.id)],
          ['findings', chain.findings.map((f) => f.id)],
          ['decisions', (await tx.selectFrom('decisions').select('id').where('incident_id', '=', id).execute()).map((r) => r.id)],
          ['plan_events', (await tx.selectFrom('plan_events').select('id').where('incident_id', '=', id).execute()).map((r) => r.id)],
          ['actions', chain.actions.map((a) => a.id)],
          ['timers', (await tx.selectFrom('timers').select('id').where('incident_id', '=', id).execute()).map((r) => r.id)],
          ['plans', chain.plan ? [id] : []],
          ['incidents', [id]],
        ];
        let n = 0;
        for (const [table, keys] of targets) {
          for (const key of keys) {
            await tx.deleteFrom(table).where(AUDITED[table] as never, '=', key as never).execute();
            await this.chain(tx, table, key);
            n += 1;
          }
        }
        return n;
      });
    }
    if (old.length === 0) return { incidents: 0, rowsDeleted: 0, linksPruned: 0, checkpoint: null };
    const compacted = await this.db.transaction().execute(async (tx) => {
      if (this.handle.kind === 'postgres') await sql`select pg_advisory_xact_lock(727274)`.execute(tx);
      const head = await tx.selectFrom('audit_ledger').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();
      const upTo = Number(head.seq);
      for (const [table, pk] of Object.entries(AUDITED) as Array<[AuditedTable, string]>) {
        const keys = (await tx.selectFrom(table).select(pk as never).execute()) as Array<Record<string, unknown>>;
        for (const k of keys) await this.chain(tx, table, String(k[pk]));
      }
      const pruned = await tx.deleteFrom('audit_ledger').where('seq', '<=', upTo).executeTakeFirst();
      await tx.insertInto('audit_checkpoints').values({ seq: upTo, hash: head.hash, at: this.now(), pruned_incidents: old.length }).execute();
      return { upTo, pruned: Number(pruned.numDeletedRows) };
    });
    return { incidents: old.length, rowsDeleted, linksPruned: compacted.pruned, checkpoint: compacted.upTo };
  }

  /** Appends plan events once each (the id is the idempotency key), chained with one insert; answers the ids inserted. */
  private async insertEvents(tx: Db, events: Array<{ incidentId: string; id: string; event: PlanEvent }>, now: string): Promise<Set<string>> {
    if (events.length === 0) return new Set();
    // SQLite numbers events max(seq) + 1, … under the write lock; PostgreSQL's bigserial does.
    const base = this.handle.kind === 'sqlite' ? Number((await tx.selectFrom('plan_events').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirst())?.seq ?? 0) : 0;
    const rows = events.map((e, k) => ({
      id: e.id,
      incident_id: e.incidentId,
      type: e.event.type,
      payload: j(e.event),
      created_at: now,
      applied_at: null,
      ...(this.handle.kind === 'sqlite' ? { seq: base + k + 1 } : {}),
    }));
    const stored = await tx.insertInto('plan_events').values(rows).onConflict((oc) => oc.column('id').doNothing()).returningAll().execute();
    const byId = new Map(stored.map((r) => [r.id, r]));
    await this.chainRows(tx, 'plan_events', rows.flatMap((r) => (byId.has(r.id) ? [byId.get(r.id)!] : [])));
    return new Set(byId.keys());
  }

  /** Appends a plan event once (its id is the idempotency key); false when it was already there. */
  private async insertEvent(tx: Db, incidentId: string, id: string, event: PlanEvent, now: string): Promise<boolean> {
    return (await this.insertEvents(tx, [{ incidentId, id, event }], now)).has(id);
  }

  /** Answers when the database does. */
  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  /**
   * Commits observations; repeats of a dedup key are counted, not stored twice. The calls that
   * share a commit (the webhooks read together) are stored by one multi-row insert and chained
   * by one more; each caller learns what of its own was new. With a writer thread (SQLite, an
   * intake-only process), this runs there, off the event loop that reads the webhooks.
   */
  recordObservations(observations: NewObservation[]): Promise<{ inserted: string[]; duplicates: number }> {
    if (this.handle.writer) return this.handle.writer.call('recordObservations', [observations], this.clock.now());
    return this.writes.runBulk(this.observationInserts, observations);
  }

  private readonly observationInserts: BulkWrite<Database, NewObservation[], { inserted: string[]; duplicates: number }> = {
    write: async (tx, lists) => {
      const now = this.now();
      const all = lists.flat();
      // The rows as written: what was inserted is chained from them (RETURNING only the ids, not
      // the payloads back); the ledger hashes the same values verifyAudit reads back.
      const byId = new Map<string, Database['observations']>();
      for (let i = 0; i < all.length; i += INSERT_CHUNK) {
        const chunk = all.slice(i, i + INSERT_CHUNK).map((o) => ({
          id: o.id,
          source: o.source,
          dedup_key: o.dedupKey,
          received_at: now,
          name: o.name,
          status: o.status,
          fingerprint: o.fingerprint,
          labels: j(o.labels),
          payload: j(o.payload),
          processed_at: null,
          outcome: null,
        }));
        const inserted = await tx.insertInto('observations').values(chunk).onConflict((oc) => oc.doNothing()).returning('id').execute();
        // The same id twice in a chunk (an HA pair's two copies, which may differ in their payload):
        // the first row is the one stored, the second meets the conflict.
        const written = new Map<string, (typeof chunk)[number]>();
        for (const r of chunk) if (!written.has(r.id)) written.set(r.id, r);
        for (const { id } of inserted) byId.set(id, written.get(id)!);
      }
      // An observation handed over twice in the batch (an HA pair) was stored once: chained once.
      const unchained = new Map(byId);
      await this.chainRows(
        tx,
        'observations',
        all.flatMap((o) => {
          const row = unchained.get(o.id);
          unchained.delete(o.id);
          return row ? [row] : [];
        }),
      );
      // The same alert twice in one batch (an HA pair): the first caller stored it, the second has a duplicate.
      const stored = new Set(byId.keys());
      return lists.map((list) => {
        const inserted = list.filter((o) => stored.delete(o.id)).map((o) => o.id);
        return { inserted, duplicates: list.length - inserted.length };
      });
    },
  };

  /** The source and name of an observation, to pick its analyzer. */
  async observationSource(id: string): Promise<{ source: string; name: string } | null> {
    return (await this.db.selectFrom('observations').select(['source', 'name']).where('id', '=', id).executeTakeFirst()) ?? null;
  }

  /** Observations not yet analyzed, oldest first (the reconciler re-enqueues them). */
  async unprocessedObservations(limit = 1000): Promise<string[]> {
    const rows = await this.db.selectFrom('observations').select('id').where('processed_at', 'is', null).orderBy('received_at').limit(limit).execute();
    return rows.map((r) => r.id);
  }

  /**
   * Analyzes one observation exactly once: its finding, the incident it joins or opens (keyed by
   * playbook and subject), and the plan event, all in one transaction.
   */
  async processObservation(
    id: string,
    analyze: (o: ObservationRecord) => FindingDraft | null,
    resolves?: (o: ObservationRecord) => string | null,
  ): Promise<{ incidentId?: string; findingId?: string; opened?: boolean; outcome: string }> {
    return this.write(async (tx) => {
      const opened = await this.openObservation(tx, id);
      if ('outcome' in opened) return opened;
      const { row, now, finish } = opened;
      const observation = toObservation(row);
      const resolvedId = resolves?.(observation) ?? null;
      if (resolvedId) {
        const res = await tx.updateTable('findings').set({ resolved_at: now }).where('id', '=', resolvedId).where('resolved_at', 'is', null).executeTakeFirst();
        let incidentId: string | undefined;
        if (Number(res.numUpdatedRows) > 0) {
          await this.chain(tx, 'findings', resolvedId);
          incidentId = await this.announceResolution(tx, resolvedId, now);
        }
        const outcome = Number(res.numUpdatedRows) > 0 ? `resolved finding ${resolvedId}` : 'resolution of an unknown or already resolved finding';
        await finish(outcome);
        return { findingId: resolvedId, outcome, incidentId };
      }
      const draft = analyze(observation);
      if (!draft) {
        await finish('no finding');
        return { outcome: 'no finding' };
      }
      const res = await this.recordFinding(tx, id, draft, row.status, now);
      await finish(res.note);
      return res.result;
    });
  }

  /**
   * Analyzes one sensor sample exactly once: its detector state (per sensor and subject) steps
   * in the same transaction, and a finding that starts firing opens or joins an incident.
   */
  async processSensorObservation<S>(
    id: string,
    detect: (o: ObservationRecord, previous: S | null) => { state: S; draft?: FindingDraft; resolvedFindingId?: string },
  ): Promise<{ incidentId?: string; findingId?: string; opened?: boolean; outcome: string }> {
    return this.write(async (tx) => {
      const opened = await this.openObservation(tx, id);
      if ('outcome' in opened) return opened;
      const { row, now, finish } = opened;
      const key = `${row.name}|${row.fingerprint}`;
      const prev = await tx.selectFrom('detector_states').select('state').where('key', '=', key).executeTakeFirst();
      const verdict = detect(toObservation(row), prev ? p<S>(prev.state) : null);
      await tx
        .insertInto('detector_states')
        .values({ key, state: j(verdict.state), updated_at: now })
        .onConflict((oc) => oc.column('key').doUpdateSet({ state: j(verdict.state), updated_at: now }))
        .execute();
      if (verdict.resolvedFindingId) {
        const res = await tx.updateTable('findings').set({ resolved_at: now }).where('id', '=', verdict.resolvedFindingId).where('resolved_at', 'is', null).executeTakeFirst();
        let incidentId: string | undefined;
        if (Number(res.numUpdatedRows) > 0) {
          await this.chain(tx, 'findings', verdict.resolvedFindingId);
          incidentId = await this.announceResolution(tx, verdict.resolvedFindingId, now);
        }
        await finish(`resolved finding ${verdict.resolvedFindingId}`);
        return { findingId: verdict.resolvedFindingId, outcome: 'resolved', incidentId };
      }
      if (!verdict.draft) {
        await finish('no finding');
        return { outcome: 'no finding' };
      }
      const res = await this.recordFinding(tx, id, verdict.draft, row.status, now);
      await finish(res.note);
      return res.result;
    });
  }

  /** An observation to analyze, with what marks it analyzed (chained); or why there is nothing to do. */
  private async openObservation(
    tx: Db,
    id: string,
  ): Promise<{ outcome: string } | { row: Database['observations']; now: string; finish: (outcome: string) => Promise<void> }> {
    const row = await tx.selectFrom('observations').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return { outcome: 'unknown observation' };
    if (row.processed_at) return { outcome: 'already processed' };
    const now = this.now();
    const finish = async (outcome: string) => {
      const stored = await tx.updateTable('observations').set({ processed_at: now, outcome }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
      await this.chain(tx, 'observations', id, stored);
    };
    return { row, now, finish };
  }

  /** Tells the plan of the finding's incident that the finding resolved (its alert or sensor cleared). */
  private async announceResolution(tx: Db, findingId: string, now: string): Promise<string | undefined> {
    const f = await tx.selectFrom('findings').select(['incident_id', 'name']).where('id', '=', findingId).executeTakeFirst();
    if (!f?.incident_id) return undefined;
    const event: PlanEvent = { type: 'finding.resolved', findingId, name: f.name };
    await this.insertEvent(tx, f.incident_id, stableId('evt', 'resolved', findingId), event, now);
    return f.incident_id;
  }

  /** Records a person's acknowledgement of an incident as a plan event (each person once). */
  async acknowledge(incidentId: string, by: string, comment?: string): Promise<{ incidentId: string; first: boolean }> {
    const name = by.trim();
    if (!name) throw new ApprovalError('by: a name is required', 'invalid');
    const now = this.now();
    return this.write(async (tx) => {
      const inc = await tx.selectFrom('incidents').select('id').where('id', '=', incidentId).executeTakeFirst();
      if (!inc) throw new ApprovalError(`no incident ${incidentId}`, 'missing');
      const event: PlanEvent = { type: 'incident.acknowledged', by: name, ...(comment ? { comment } : {}) };
      const first = await this.insertEvent(tx, incidentId, stableId('evt', 'ack', incidentId, name), event, now);
      return { incidentId, first };
    });
  }

  /** Stores a finding once and opens or joins the incident of its (playbook, subject). */
  private async recordFinding(
    tx: Db,
    observationId: string,
    draft: FindingDraft,
    status: string,
    now: string,
  ): Promise<{ note: string; result: { incidentId?: string; findingId?: string; opened?: boolean; outcome: string } }> {
    const ins = await tx
      .insertInto('findings')
      .values({
        id: draft.id,
        observation_id: observationId,
        incident_id: null,
        fingerprint: draft.fingerprint,
        name: draft.name,
        kind: draft.kind,
        severity: draft.severity,
        labels: j(draft.labels),
        evidence: j(draft.evidence),
        created_at: now,
        resolved_at: null,
      })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    if (Number(ins.numInsertedOrUpdatedRows ?? 0n) > 0) await this.chain(tx, 'findings', draft.id);
    if (Number(ins.numInsertedOrUpdatedRows ?? 0n) === 0) {
      return { note: `finding ${draft.id} already known`, result: { findingId: draft.id, outcome: 'duplicate finding' } };
    }
    if (!draft.route) {
      return { note: draft.unrouted ?? 'no playbook', result: { findingId: draft.id, outcome: draft.unrouted ?? 'no playbook' } };
    }
    const { playbook, subject, subjectKey } = draft.route;
    const active = await tx
      .selectFrom('incidents')
      .select('id')
      .where('playbook', '=', playbook)
      .where('subject_key', '=', subjectKey)
      .where('active_slot', '=', 1)
      .executeTakeFirst();
    let incidentId: string;
    let event: PlanEvent;
    let eventId: string;
    // A finding right after its subject's incident closed joins that incident (recorded, not
    // acted on again): a window-based signal still above its line is not a new problem.
    const recent =
      !active && this.reopenCooldownMs > 0
        ? await tx
            .selectFrom('incidents')
            .select('id')
            .where('playbook', '=', playbook)
            .where('subject_key', '=', subjectKey)
            .where('closed_at', '>=', new Date(Date.parse(now) - this.reopenCooldownMs).toISOString())
            .orderBy('closed_at', 'desc')
            .executeTakeFirst()
        : undefined;
    const joined = active ?? recent;
    if (joined) {
      incidentId = joined.id;
      event = { type: 'finding.added', findingId: draft.id, name: draft.name, status };
      eventId = stableId('evt', 'finding', draft.id);
    } else {
      incidentId = newId('inc');
      const labels = { ...subject, alertname: draft.name };
      await tx
        .insertInto('incidents')
        .values({ id: incidentId, playbook, subject_key: subjectKey, labels: j(labels), state: 'open', active_slot: 1, created_at: now, updated_at: now, closed_at: null })
        .execute();
      await this.chain(tx, 'incidents', incidentId);
      event = { type: 'incident.opened', labels: draft.labels, findingId: draft.id };
      eventId = stableId('evt', 'open', incidentId);
    }
    // Joining a closed incident means the signal came back right after remediation: flapping.
    const evidence = !active && recent ? j({ ...draft.evidence, flapping: true, joinedClosedIncident: incidentId }) : undefined;
    await tx.updateTable('findings').set({ incident_id: incidentId, ...(evidence ? { evidence } : {}) }).where('id', '=', draft.id).execute();
    await this.chain(tx, 'findings', draft.id);
    await this.insertEvent(tx, incidentId, eventId, event, now);
    return {
      note: joined ? `joined ${active ? '' : 'closed '}incident ${incidentId}${active ? '' : ' (flapping)'}` : `opened incident ${incidentId}`,
      result: { incidentId, findingId: draft.id, opened: !joined, outcome: joined ? 'joined' : 'opened' },
    };
  }

  /** The incident, its plan and its unapplied events, in arrival order. */
  async planWork(incidentId: string): Promise<PlanWork | null> {
    const inc = await this.db.selectFrom('incidents').selectAll().where('id', '=', incidentId).executeTakeFirst();
    if (!inc) return null;
    const plan = await this.db.selectFrom('plans').selectAll().where('incident_id', '=', incidentId).executeTakeFirst();
    const events = await this.db
      .selectFrom('plan_events')
      .select(['id', 'payload'])
      .where('incident_id', '=', incidentId)
      .where('applied_at', 'is', null)
      .orderBy('seq')
      .execute();
    return {
      incident: toIncident(inc),
      plan: plan ? { machine: plan.machine, snapshot: p(plan.snapshot), version: plan.version, state: plan.state } : null,
      events: events.map((e) => ({ id: e.id, event: p<PlanEvent>(e.payload) })),
    };
  }

  /**
   * Commits one plan step atomically: the snapshot (optimistic on its version), the event marked
   * applied, the decision, new actions and timers. Returns what to hand to the queues.
   */
  async commitPlanStep(args: {
    incidentId: string;
    eventId: string;
    event: PlanEvent;
    expectedVersion: number;
    machine: string;
    result: StepResult;
    policy: { name: string; version: string };
    labels: Record<string, string>;
  }): Promise<{ version: number; actions: ActionRecord[]; timers: Array<{ id: string; dueAt: string }> }> {
    const { incidentId, result } = args;
    const nowMs = this.clock.now();
    const now = new Date(nowMs).toISOString();
    return this.write(async (tx) => {
      const version = args.expectedVersion + 1;
      const planRow = { machine: args.machine, state: result.to, snapshot: j(result.snapshot), version, policy: j(args.policy), updated_at: now };
      if (args.expectedVersion === 0) {
        const res = await tx.insertInto('plans').values({ incident_id: incidentId, ...planRow }).onConflict((oc) => oc.doNothing()).executeTakeFirst();
        if (Number(res.numInsertedOrUpdatedRows ?? 0n) === 0) throw new PlanConflictError(`plan of ${incidentId} was started by another worker`);
      } else {
        const res = await tx.updateTable('plans').set(planRow).where('incident_id', '=', incidentId).where('version', '=', args.expectedVersion).executeTakeFirst();
        if (Number(res.numUpdatedRows) === 0) throw new PlanConflictError(`plan of ${incidentId} moved past version ${args.expectedVersion}`);
      }
      await this.chain(tx, 'plans', incidentId);
      const applied = await tx.updateTable('plan_events').set({ applied_at: now }).where('id', '=', args.eventId).where('applied_at', 'is', null).executeTakeFirst();
      if (Number(applied.numUpdatedRows) === 0) throw new PlanConflictError(`event ${args.eventId} was already applied`);
      await this.chain(tx, 'plan_events', args.eventId);
      const actions: ActionRecord[] = [];
      for (const req of result.actions) {
        const rec = await this.insertAction(tx, incidentId, req, now);
        if (rec) actions.push(rec);
      }
      const timers: Array<{ id: string; dueAt: string }> = [];
      for (const t of result.timers) {
        const id = stableId('tmr', incidentId, t.name);
        const dueAt = new Date(nowMs + t.delayMs).toISOString();
        const res = await tx.insertInto('timers').values({ id, incident_id: incidentId, name: t.name, due_at: dueAt, fired_at: null }).onConflict((oc) => oc.doNothing()).executeTakeFirst();
        if (Number(res.numInsertedOrUpdatedRows ?? 0n) > 0) {
          timers.push({ id, dueAt });
          await this.chain(tx, 'timers', id);
        }
      }
      for (const e of result.expire) {
        const expired = await tx
          .updateTable('actions')
          .set({ status: 'skipped', outcome: j({ expired: e.reason }), updated_at: now })
          .where('incident_id', '=', incidentId)
          .where('step', '=', e.step)
          .where('status', '=', 'awaiting_approval')
          .returning('id')
          .execute();
        for (const r of expired) await this.chain(tx, 'actions', r.id);
      }
      await tx
        .insertInto('decisions')
        .values({
          id: `${incidentId}-v${version}`,
          incident_id: incidentId,
          at: now,
          machine: args.machine,
          from_state: result.from,
          to_state: result.to,
          event: j({ id: args.eventId, ...args.event }),
          guards: j(result.guards),
          evidence: j(result.evidence),
          policy: j(args.policy),
          actions: j([...result.actions.map((a) => ({ ...a, id: actionIdentity(incidentId, a.step, a.iteration ?? 1).id })), ...result.timers.map((t) => ({ timer: t.name, delayMs: t.delayMs }))]),
          labels: j(args.labels),
        })
        .execute();
      await this.chain(tx, 'decisions', `${incidentId}-v${version}`);
      const terminal = TERMINAL.includes(result.incidentState);
      await tx
        .updateTable('incidents')
        .set({
          state: result.incidentState,
          updated_at: now,
          ...(terminal ? { active_slot: null, closed_at: now } : {}),
        })
        .where('id', '=', incidentId)
        .execute();
      await this.chain(tx, 'incidents', incidentId);
      return { version, actions, timers };
    });
  }

  private async insertAction(tx: Db, incidentId: string, req: ActionRequest, now: string): Promise<ActionRecord | null> {
    const iteration = req.iteration ?? 1;
    const { id, idempotencyKey } = actionIdentity(incidentId, req.step, iteration);
    const row: Database['actions'] = {
      id,
      incident_id: incidentId,
      step: req.step,
      iteration,
      type: req.type,
      params: j(req.params),
      status: req.approvalQuorum ? 'awaiting_approval' : 'planned',
      attempts: 0,
      idempotency_key: idempotencyKey,
      outcome: null,
      quorum: req.approvalQuorum ?? null,
      approvals: j([]),
      last_error: null,
      created_at: now,
      updated_at: now,
    };
    const res = await tx.insertInto('actions').values(row).onConflict((oc) => oc.doNothing()).executeTakeFirst();
    if (Number(res.numInsertedOrUpdatedRows ?? 0n) === 0) return null;
    await this.chain(tx, 'actions', id);
    return toAction(row);
  }

  /**
   * Records one member's approval or rejection of a gated action (v1 trust model of DESIGN.md):
   * each member counts once, the requester never counts, and when `members` is non-empty only
   * they count. At the quorum the action becomes `planned`; a rejection skips it. Either way
   * the plan hears of it.
   */
  async decideApproval(
    actionId: string,
    decision: 'approve' | 'reject',
    by: string,
    opts: { comment?: string; members: string[]; requester?: string },
  ): Promise<{ action: ActionRecord; quorumReached: boolean }> {
    const name = by.trim();
    if (!name) throw new ApprovalError('by: a member name is required', 'invalid');
    if (opts.members.length > 0 && !opts.members.includes(name)) throw new ApprovalError(`by: ${name} is not a committee member`, 'invalid');
    if (name === (opts.requester ?? 'mapek')) throw new ApprovalError(`by: ${name} asked for this action and cannot approve it`, 'invalid');
    const now = this.now();
    return this.write(async (tx) => {
      const row = await tx.selectFrom('actions').selectAll().where('id', '=', actionId).executeTakeFirst();
      if (!row) throw new ApprovalError(`no action ${actionId}`, 'missing');
      if (row.status !== 'awaiting_approval') throw new ApprovalError(`action ${actionId} is ${row.status}, not awaiting approval`, 'conflict');
      const approvals = p<Approval[]>(row.approvals);
      if (approvals.some((a) => a.by === name)) throw new ApprovalError(`${name} has already decided on action ${actionId}`, 'conflict');
      approvals.push({ by: name, at: now, decision, ...(opts.comment ? { comment: opts.comment } : {}) });
      const approvers = approvals.filter((a) => a.decision === 'approve').map((a) => a.by);
      const quorumReached = decision === 'approve' && approvers.length >= (row.quorum ?? 1);
      const status = decision === 'reject' ? 'skipped' : quorumReached ? 'planned' : 'awaiting_approval';
      const outcome = decision === 'reject' ? j({ rejected: { by: name, comment: opts.comment } }) : row.outcome;
      await tx.updateTable('actions').set({ approvals: j(approvals), status, outcome, updated_at: now }).where('id', '=', actionId).execute();
      await this.chain(tx, 'actions', actionId);
      if (decision === 'reject') {
        const event: PlanEvent = { type: 'approval.rejected', step: row.step, actionId, by: name, comment: opts.comment };
        await this.insertEvent(tx, row.incident_id, stableId('evt', 'rejected', actionId), event, now);
      } else if (quorumReached) {
        const event: PlanEvent = { type: 'approval.granted', step: row.step, actionId, by: approvers };
        await this.insertEvent(tx, row.incident_id, stableId('evt', 'granted', actionId), event, now);
      }
      const updated = await tx.selectFrom('actions').selectAll().where('id', '=', actionId).executeTakeFirstOrThrow();
      return { action: toAction(updated), quorumReached };
    });
  }

  /** One action by id. */
  async getAction(id: string): Promise<ActionRecord | null> {
    const r = await this.db.selectFrom('actions').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toAction(r) : null;
  }

  /** Marks an attempt started, whatever the pause; null when the action is already finished or not runnable. */
  async startAttempt(id: string): Promise<ActionRecord | null> {
    const begun = await this.beginAttempt(id, () => false);
    return begun && 'started' in begun ? begun.started : null;
  }

  /**
   * The execute stage's first write, with the reads it depends on in the same transaction: the
   * pause and the brake. A paused action (when `pausable(type)`) is left as it is — waiting is
   * not an attempt; otherwise the attempt is started. Null when the action is finished or not
   * runnable. The calls that share a commit (the workers' actions in flight) are one update.
   */
  beginAttempt(id: string, pausable: (type: string) => boolean, budgets: (type: string) => BudgetCheck[] = NO_BUDGETS): Promise<BeginResult> {
    return this.writes.runBulk(this.attemptStarts, { id, pausable, budgets });
  }

  private readonly attemptStarts: BulkWrite<Database, { id: string; pausable: (type: string) => boolean; budgets: (type: string) => BudgetCheck[] }, BeginResult> = {
    write: async (tx, calls) => {
      const now = this.now();
      const controls = await tx.selectFrom('controls').select(['key', 'value']).where('key', 'in', ['pause', 'brake']).execute();
      const control = <T>(key: string, fallback: T): T => {
        const c = controls.find((r) => r.key === key);
        return c ? p<T>(c.value) : fallback;
      };
      const pause = this.inForce(control<PauseState>('pause', { paused: false }));
      const brake = control<BrakeState>('brake', { engaged: false });
      const held = new Map<string, BeginResult>();
      // The calls' actions, read once for the pause and the budgets (types decide both).
      const checks = new Map(calls.map((c) => [c, [] as BudgetCheck[]]));
      const known = pause.paused || calls.some((c) => c.budgets !== NO_BUDGETS);
      const rows = known ? await tx.selectFrom('actions').select(['id', 'type', 'status', 'incident_id']).where('id', 'in', calls.map((c) => c.id)).execute() : [];
      const actionOf = new Map(rows.map((r) => [r.id, r]));
      if (pause.paused) {
        for (const c of calls) {
          const row = actionOf.get(c.id);
          if (!row || !RUNNABLE.includes(row.status)) held.set(c.id, null);
          else if (c.pausable(row.type)) held.set(c.id, { paused: pause, type: row.type });
        }
      }
      for (const c of calls) {
        const row = actionOf.get(c.id);
        if (row && !held.has(c.id)) checks.set(c, c.budgets(row.type));
      }
      // Budgets, one attempt after the other: an attempt that fits is started at once, so the next
      // one counts it (in flight), and concurrent workers cannot together overshoot a budget.
      for (const c of calls) {
        const row = actionOf.get(c.id);
        if (held.has(c.id) || !row || checks.get(c)!.length === 0) continue;
        const spends: BudgetSpend[] = [];
        for (const b of checks.get(c)!) {
          const spend = { name: b.name, perSubject: b.perSubject, max: b.max, per: b.per, spent: await this.budgetSpent(b, c.id, row.incident_id, tx) };
          spends.push(spend);
          if (spend.spent >= b.max) {
            held.set(c.id, { budgetSpent: spend, type: row.type });
            break;
          }
        }
        if (held.has(c.id)) continue;
        const [started] = await this.markRunning(tx, [c.id], now);
        if (!started) {
          held.set(c.id, null);
          continue;
        }
        await this.chain(tx, 'actions', c.id, started);
        held.set(c.id, { started: toAction(started), brake, budgets: spends });
      }
      const toStart = [...new Set(calls.map((c) => c.id).filter((id) => !held.has(id)))];
      const started = await this.markRunning(tx, toStart, now);
      const byId = new Map(started.map((r) => [r.id, r]));
      await this.chainRows(tx, 'actions', toStart.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : [])));
      return calls.map((c) => {
        if (held.has(c.id)) return held.get(c.id)!;
        const row = byId.get(c.id);
        return row ? { started: toAction(row), brake, budgets: [] } : null;
      });
    },
  };

  /** Starts an attempt of each runnable action of `ids` (status running, one more attempt); the rows as updated. */
  private async markRunning(tx: Db, ids: string[], now: string): Promise<Array<Database['actions']>> {
    if (ids.length === 0) return [];
    return tx
      .updateTable('actions')
      .set((eb) => ({ status: 'running', attempts: eb('attempts', '+', 1), updated_at: now }))
      .where('id', 'in', ids)
      .where('status', 'in', RUNNABLE)
      .returningAll()
      .execute();
  }

  /** Records a failed attempt that will be retried. */
  async recordAttemptError(id: string, error: string): Promise<void> {
    await this.write(async (tx) => {
      await tx.updateTable('actions').set({ last_error: error, updated_at: this.now() }).where('id', '=', id).execute();
      await this.chain(tx, 'actions', id);
    });
  }

  /**
   * Finishes an action and hands its outcome to the plan as an event, atomically; null when
   * already finished. For a Charter action that succeeded first in its incident, also the
   * milliseconds from the incident's opening to it (the loop's observation-to-action figure).
   * The calls that share a commit are chained, evented and measured together.
   */
  finishAction(id: string, status: 'succeeded' | 'dead' | 'skipped', outcome: Record<string, unknown>, error?: string): Promise<FinishResult> {
    return this.writes.runBulk(this.actionFinishes, { id, status, outcome, error });
  }

  private readonly actionFinishes: BulkWrite<Database, { id: string; status: 'succeeded' | 'dead' | 'skipped'; outcome: Record<string, unknown>; error?: string }, FinishResult> = {
    write: async (tx, calls) => {
      const now = this.now();
      // One by one, in order: the same action finished twice in a batch finishes once.
      const finished: Array<{ call: (typeof calls)[number]; row: Database['actions'] }> = [];
      for (const call of calls) {
        const { id, status, outcome, error } = call;
        const row = await tx
          .updateTable('actions')
          .set((eb) => ({ status, outcome: j(outcome), last_error: error === undefined ? eb.ref('last_error') : error, updated_at: now }))
          .where('id', '=', id)
          .where('status', 'in', RUNNABLE)
          .returningAll()
          .executeTakeFirst();
        if (row) finished.push({ call, row });
      }
      await this.chainRows(tx, 'actions', finished.map((f) => f.row));
      await this.insertEvents(
        tx,
        finished.map(({ call, row }) => ({
          incidentId: row.incident_id,
          id: stableId('evt', 'outcome', call.id),
          event:
            call.status === 'dead'
              ? { type: 'action.failed', step: row.step, actionId: call.id, error: call.error ?? 'failed' }
              : { type: 'action.succeeded', step: row.step, actionId: call.id, result: call.outcome },
        })),
        now,
      );
      const firstEffects = await this.firstEffectAges(tx, finished.filter((f) => f.call.status === 'succeeded' && f.row.type.startsWith('charter.')).map((f) => f.row));
      const results = new Map(finished.map((f) => [f.call, { incidentId: f.row.incident_id, firstEffectMs: firstEffects.get(f.row.id) ?? null }]));
      return calls.map((c) => results.get(c) ?? null);
    },
  };

  /** Fires a timer once, turning it into a plan event; null when it already fired. */
  async fireTimer(id: string): Promise<{ incidentId: string } | null> {
    const now = this.now();
    return this.write(async (tx) => {
      const row = await tx.selectFrom('timers').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row || row.fired_at) return null;
      await tx.updateTable('timers').set({ fired_at: now }).where('id', '=', id).execute();
      await this.chain(tx, 'timers', id);
      const event: PlanEvent = { type: 'timer.fired', name: row.name };
      await this.insertEvent(tx, row.incident_id, stableId('evt', 'timer', id), event, now);
      return { incidentId: row.incident_id };
    });
  }

  /** What the reconciler must hand back to the queues after a restart or a Redis loss. */
  async unfinishedWork(): Promise<{
    observations: string[];
    incidents: string[];
    actions: Array<{ id: string; type: string }>;
    timers: Array<{ id: string; dueAt: string }>;
  }> {
    const observations = await this.unprocessedObservations(10_000);
    const incidents = await this.db.selectFrom('plan_events').select('incident_id').distinct().where('applied_at', 'is', null).execute();
    const actions = await this.db.selectFrom('actions').select(['id', 'type']).where('status', 'in', RUNNABLE).execute();
    const timers = await this.db.selectFrom('timers').select(['id', 'due_at']).where('fired_at', 'is', null).execute();
    return {
      observations,
      incidents: incidents.map((r) => r.incident_id),
      actions,
      timers: timers.map((t) => ({ id: t.id, dueAt: t.due_at })),
    };
  }

  /** Incidents, newest first, filtered by state and `k=v` labels, paged by cursor. */
  async listIncidents(q: { state?: string; labels?: Array<[string, string]>; cursor?: string; limit?: number } = {}): Promise<Page<IncidentSummary>> {
    const limit = Math.min(Math.max(q.limit ?? 50, 1), 500);
    let query = this.db.selectFrom('incidents').selectAll();
    if (q.state) query = query.where('state', '=', q.state);
    for (const [k, v] of q.labels ?? []) {
      const needle = JSON.stringify({ [k]: v }).slice(1, -1);
      // instr/strpos: case-sensitive on both backends (SQLite's LIKE is not).
      query = query.where(this.handle.kind === 'sqlite' ? sql<boolean>`instr(labels, ${needle}) > 0` : sql<boolean>`strpos(labels, ${needle}) > 0`);
    }
    const c = q.cursor ? decodeCursor(q.cursor) : null;
    if (c) query = query.where((eb) => eb.or([eb('created_at', '<', c[0]), eb.and([eb('created_at', '=', c[0]), eb('id', '<', c[1])])]));
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
    const items = rows.slice(0, limit).map(toIncident);
    const last = items[items.length - 1];
    return { items, next: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null };
  }

  /** One incident with its whole chain: observations → findings → plan and its decisions → actions. */
  async getIncident(id: string) {
    const inc = await this.db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
    if (!inc) return null;
    const findings = await this.db.selectFrom('findings').selectAll().where('incident_id', '=', id).orderBy('created_at').execute();
    // This incident's notifications: each finding's alert (fingerprint and startsAt), firing and resolved.
    const keys = findings.flatMap((f) => {
      const startsAt = String((p<Record<string, unknown>>(f.evidence) ?? {}).startsAt ?? '');
      return [alertDedupKey(f.fingerprint, 'firing', startsAt), alertDedupKey(f.fingerprint, 'resolved', startsAt)];
    });
    const observationIds = findings.map((f) => f.observation_id);
    const observations = findings.length
      ? await this.db
          .selectFrom('observations')
          .selectAll()
          .where((eb) => eb.or([eb('dedup_key', 'in', keys), eb('id', 'in', observationIds)]))
          .orderBy('received_at')
          .execute()
      : [];
    const plan = await this.db.selectFrom('plans').selectAll().where('incident_id', '=', id).executeTakeFirst();
    const decisions = await this.db.selectFrom('decisions').selectAll().where('incident_id', '=', id).orderBy('at').orderBy('id').execute();
    const actions = await this.db.selectFrom('actions').selectAll().where('incident_id', '=', id).orderBy('created_at').orderBy('id').execute();
    const timers = await this.db.selectFrom('timers').selectAll().where('incident_id', '=', id).orderBy('due_at').execute();
    return {
      ...toIncident(inc),
      findings: findings.map((f) => ({
        id: f.id,
        fingerprint: f.fingerprint,
        name: f.name,
        kind: f.kind,
        severity: f.severity,
        labels: p(f.labels),
        evidence: p(f.evidence),
        observationId: f.observation_id,
        createdAt: f.created_at,
        resolvedAt: f.resolved_at,
      })),
      plan: plan
        ? {
            machine: plan.machine,
            state: plan.state,
            version: plan.version,
            policy: p(plan.policy),
            history: decisions.map((d) => {
              const rec = toDecision(d);
              return { decisionId: rec.id, at: rec.at, from: rec.from, to: rec.to, event: rec.event, guards: rec.guards, evidence: rec.evidence, actions: rec.actions };
            }),
          }
        : null,
      actions: actions.map(toAction),
      timers: timers.map((t) => ({ name: t.name, dueAt: t.due_at, firedAt: t.fired_at })),
      observations: observations.map((o) => {
        const rec = toObservation(o);
        return { id: rec.id, source: rec.source, receivedAt: rec.receivedAt, name: rec.name, status: rec.status, fingerprint: rec.fingerprint, labels: rec.labels, outcome: rec.outcome };
      }),
    };
  }

  /** Findings, newest first, optionally since a time or by name (alert or sensor). */
  async listFindings(q: { since?: string; name?: string; limit?: number } = {}) {
    let query = this.db.selectFrom('findings').selectAll();
    if (q.since) query = query.where('created_at', '>=', q.since);
    if (q.name) query = query.where('name', '=', q.name);
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(Math.min(Math.max(q.limit ?? 100, 1), 1000)).execute();
    return {
      items: rows.map((f) => ({
        id: f.id,
        fingerprint: f.fingerprint,
        name: f.name,
        kind: f.kind,
        severity: f.severity,
        labels: p<Record<string, string>>(f.labels),
        evidence: p<Record<string, unknown>>(f.evidence),
        incidentId: f.incident_id,
        createdAt: f.created_at,
        resolvedAt: f.resolved_at,
      })),
    };
  }

  /** What a replay needs: incidents opened since a time, each with its applied events in order and its decisions. */
  async replayInputs(since: string): Promise<
    Array<{ incident: IncidentSummary; events: Array<{ id: string; event: PlanEvent }>; decisions: DecisionRecord[] }>
  > {
    const incidents = await this.db.selectFrom('incidents').selectAll().where('created_at', '>=', since).orderBy('created_at').execute();
    const out = [];
    for (const inc of incidents) {
      const events = await this.db
        .selectFrom('plan_events')
        .select(['id', 'payload'])
        .where('incident_id', '=', inc.id)
        .where('applied_at', 'is not', null)
        .orderBy('applied_at')
        .orderBy('seq')
        .execute();
      const decisions = await this.db.selectFrom('decisions').selectAll().where('incident_id', '=', inc.id).orderBy('at').orderBy('id').execute();
      out.push({
        incident: toIncident(inc),
        events: events.map((e) => ({ id: e.id, event: p<PlanEvent>(e.payload) })),
        decisions: decisions.map(toDecision).sort((a, b) => versionOf(a.id) - versionOf(b.id)),
      });
    }
    return out;
  }

  /** Decisions, newest first, optionally since a time or for one incident. */
  async listDecisions(q: { since?: string; incident?: string; cursor?: string; limit?: number } = {}): Promise<Page<DecisionRecord>> {
    const limit = Math.min(Math.max(q.limit ?? 50, 1), 10_000);
    let query = this.db.selectFrom('decisions').selectAll();
    if (q.since) query = query.where('at', '>=', q.since);
    if (q.incident) query = query.where('incident_id', '=', q.incident);
    const c = q.cursor ? decodeCursor(q.cursor) : null;
    if (c) query = query.where((eb) => eb.or([eb('at', '<', c[0]), eb.and([eb('at', '=', c[0]), eb('id', '<', c[1])])]));
    const rows = await query.orderBy('at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
    const items = rows.slice(0, limit).map(toDecision);
    const last = items[items.length - 1];
    return { items, next: rows.length > limit && last ? encodeCursor(last.at, last.id) : null };
  }

  /** One decision by id. */
  async getDecision(id: string): Promise<DecisionRecord | null> {
    const r = await this.db.selectFrom('decisions').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toDecision(r) : null;
  }

  /** Counts for the loop's own gauges. */
  async gaugeCounts(): Promise<{ incidentsOpen: number; plans: Array<{ machine: string; state: string; n: number }>; oldestOpen: Array<{ playbook: string; createdAt: string }> }> {
    const open = await this.db
      .selectFrom('incidents')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('active_slot', '=', 1)
      .executeTakeFirst();
    const plans = await this.db
      .selectFrom('plans')
      .select(['machine', 'state', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy(['machine', 'state'])
      .execute();
    const oldest = await this.db
      .selectFrom('incidents')
      .select(['playbook', (eb) => eb.fn.min<string>('created_at').as('created_at')])
      .where('active_slot', '=', 1)
      .groupBy('playbook')
      .execute();
    return {
      incidentsOpen: Number(open?.n ?? 0),
      plans: plans.map((r) => ({ machine: r.machine, state: r.state, n: Number(r.n) })),
      oldestOpen: oldest.map((r) => ({ playbook: r.playbook, createdAt: r.created_at })),
    };
  }

  /**
   * For Charter actions that just succeeded: milliseconds from their incident's opening, for
   * each that is its incident's first effect at the Charter (the first in `succeeded`'s order
   * when several of one incident succeeded together).
   */
  private async firstEffectAges(tx: Db, succeeded: Array<Database['actions']>): Promise<Map<string, number>> {
    const ages = new Map<string, number>();
    if (succeeded.length === 0) return ages;
    const incidentIds = [...new Set(succeeded.map((a) => a.incident_id))];
    // The incidents' few actions by their index, filtered here: a planner without statistics could
    // otherwise walk every succeeded action through the status index.
    const actions = await tx.selectFrom('actions').select(['id', 'incident_id', 'type', 'status']).where('incident_id', 'in', incidentIds).execute();
    const incidents = await tx.selectFrom('incidents').select(['id', 'created_at']).where('id', 'in', incidentIds).execute();
    const opened = new Map(incidents.map((i) => [i.id, Date.parse(i.created_at)]));
    const now = this.clock.now();
    const justNow = new Set(succeeded.map((a) => a.id));
    for (const incidentId of incidentIds) {
      const earlier = actions.some((a) => a.incident_id === incidentId && !justNow.has(a.id) && a.status === 'succeeded' && a.type.startsWith('charter.'));
      const first = succeeded.find((a) => a.incident_id === incidentId)!;
      if (!earlier && opened.has(incidentId)) ages.set(first.id, now - opened.get(incidentId)!);
    }
    return ages;
  }

  /** Holds a planned action for one approval (autonomy `propose`, or the safety brake); false when it cannot be held. */
  async holdForApproval(id: string, reason: string): Promise<boolean> {
    const now = this.now();
    return this.write(async (tx) => {
      const res = await tx
        .updateTable('actions')
        .set({ status: 'awaiting_approval', quorum: 1, outcome: j({ held: reason }), updated_at: now })
        .where('id', '=', id)
        .where('status', 'in', RUNNABLE)
        .where('approvals', '=', '[]')
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return false;
      await this.chain(tx, 'actions', id);
      return true;
    });
  }

  /**
   * What a budget has spent for an attempt of action `actionId` (of incident `incidentId`): the
   * actions it counts that succeeded since the window began, and those in flight (running), the
   * attempt itself not included.
   */
  async budgetSpent(b: BudgetCheck, actionId = '', incidentId = '', tx: Db = this.db): Promise<number> {
    let q = tx
      .selectFrom('actions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('actions.id', '!=', actionId)
      .where((eb) => eb.or([eb.and([eb('actions.status', '=', 'succeeded'), eb('actions.updated_at', '>=', b.since)]), eb('actions.status', '=', 'running')]));
    q = b.actionType === null ? q.where('actions.type', 'like', 'charter.%') : q.where('actions.type', '=', b.actionType);
    if (b.perSubject) {
      q = q.where('actions.incident_id', 'in', (eb) =>
        eb
          .selectFrom('incidents as same')
          .innerJoin('incidents as mine', (j) => j.onRef('mine.playbook', '=', 'same.playbook').onRef('mine.subject_key', '=', 'same.subject_key'))
          .select('same.id')
          .where('mine.id', '=', incidentId),
      );
    }
    return Number((await q.executeTakeFirst())?.n ?? 0);
  }

  /** How many other incidents of this playbook and subject were opened since a time (the flap guard's count). */
  async incidentsSince(playbook: string, subjectKeyOf: string, since: string, exceptId: string): Promise<number> {
    const r = await this.db
      .selectFrom('incidents')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('playbook', '=', playbook)
      .where('subject_key', '=', subjectKeyOf)
      .where('created_at', '>=', since)
      .where('id', '!=', exceptId)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** The subject key of an incident. */
  async incidentSubjectKey(id: string): Promise<string | null> {
    return (await this.db.selectFrom('incidents').select('subject_key').where('id', '=', id).executeTakeFirst())?.subject_key ?? null;
  }

  /** The safety brake: engaged by an alert or a sensor, released by a person. */
  async brakeState(): Promise<BrakeState> {
    return this.readControl<BrakeState>(this.db, 'brake', { engaged: false });
  }

  /** Engages or releases the brake (engaging an engaged brake changes nothing). */
  async setBrake(state: { engaged: boolean; by?: string; reason?: string }): Promise<BrakeState> {
    const now = this.now();
    return this.write(async (tx) => {
      const current = await this.readControl<BrakeState>(tx, 'brake', { engaged: false });
      if (state.engaged && current.engaged) return current;
      const value: BrakeState = state.engaged
        ? { engaged: true, since: now, reason: state.reason, by: state.by }
        : { engaged: false, releasedAt: now, by: state.by, reason: state.reason };
      await this.writeControl(tx, 'brake', value, now);
      return value;
    });
  }

  private async readControl<T>(db: Db, key: string, fallback: T): Promise<T> {
    const row = await db.selectFrom('controls').select('value').where('key', '=', key).executeTakeFirst();
    return row ? p<T>(row.value) : fallback;
  }

  private async writeControl(tx: Db, key: string, value: unknown, now: string): Promise<void> {
    await tx
      .insertInto('controls')
      .values({ key, value: j(value), updated_at: now })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: j(value), updated_at: now }))
      .execute();
    await this.chain(tx, 'controls', key);
  }

  /** The pause, if one is in force now (an expired pause is no pause). */
  async pauseState(): Promise<PauseState> {
    return this.inForce(await this.readControl<PauseState>(this.db, 'pause', { paused: false }));
  }

  private inForce(value: PauseState): PauseState {
    if (value.paused && value.until && Date.parse(value.until) <= this.clock.now()) return { paused: false, expired: value.until };
    return value;
  }

  /** Pauses every action that would change the world (reads go on) until `untilMs`, or until resumed. */
  async setPause(state: { paused: boolean; untilMs?: number; by?: string; reason?: string }): Promise<PauseState> {
    const now = this.now();
    const value: PauseState = state.paused
      ? { paused: true, since: now, until: state.untilMs ? new Date(state.untilMs).toISOString() : undefined, by: state.by, reason: state.reason }
      : { paused: false, resumedAt: now, by: state.by };
    await this.write((tx) => this.writeControl(tx, 'pause', value, now));
    return value;
  }

  /** Closes the database. */
  async close(): Promise<void> {
    await this.handle.close();
  }
}
