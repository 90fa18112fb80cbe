// One contract for the knowledge store, run against both backends it supports: SQLite (a temp file;
// once as one-shot commands open it, once with the writer thread as an intake-only `mapek start --roles api` does) and
// PostgreSQL (a fresh database per run, dropped afterwards). Same calls, same answers.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findingFromAlert, type AlertSignal, type PlaybookRoute } from '../../src/analyze/findings.ts';
import type { Clock } from '../../src/clock.ts';
import { openKnowledge, type KnowledgeDb } from '../../src/knowledge/db.ts';
import { actionIdentity, KnowledgeStore, PlanConflictError, type NewObservation, type ObservationRecord } from '../../src/knowledge/store.ts';
import { observationsFromWebhook, parseWebhook } from '../../src/monitor/alertmanager.ts';
import type { CriticalViolationInput } from '../../src/plan/playbooks/critical-violation/machine.ts';
import { playbooks } from '../../src/plan/playbooks/index.ts';
import { startPlan, stepPlan } from '../../src/plan/step.ts';
import type { PlanEvent, StepResult } from '../../src/plan/types.ts';

const PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const playbook = playbooks['critical-violation']!;
const POLICY = { name: 'charter', version: '1' };
const ROUTES: PlaybookRoute[] = [
  { playbook: 'critical-violation', alertnames: ['CriticalViolationDetected', 'PagingTest'], subjectLabels: ['node_or_service'] },
];

interface Backend {
  name: string;
  /** What the store says it is (handle.kind). */
  kind: KnowledgeDb['kind'];
  /** Open with the knowledge writer thread (SQLite files: bulk writes on a worker thread). */
  writerThread?: boolean;
  /** Creates an empty database and returns its KNOWLEDGE_URL. */
  create(): Promise<string>;
  /** Removes it, after the store is closed. */
  destroy(): Promise<void>;
}

const sqliteBackend = (writerThread = false): Backend => {
  const file = join(tmpdir(), `k-${randomBytes(6).toString('hex')}.db`);
  return {
    name: writerThread ? 'sqlite with writer thread' : 'sqlite',
    kind: 'sqlite',
    writerThread,
    create: async () => `sqlite:${file}`,
    destroy: async () => {
      for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    },
  };
};

const postgresBackend = (): Backend => {
  const dbName = `mapek_test_${randomBytes(6).toString('hex')}`;
  const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: PG_ADMIN_URL });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  return {
    name: 'postgres',
    kind: 'postgres',
    create: async () => {
      await admin((c) => c.query(`CREATE DATABASE ${dbName}`));
      return `postgres://postgres@127.0.0.1:5432/${dbName}`;
    },
    destroy: async () => {
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
    },
  };
};

const backends = [sqliteBackend(), sqliteBackend(true), postgresBackend()];

/** An Alertmanager webhook for one alert, parsed the way intake parses it. */
function observationOf(a: { node: string; fingerprint: string; startsAt: string; status?: 'firing' | 'resolved'; alertname?: string; severity?: string }): NewObservation {
  const status = a.status ?? 'firing';
  const labels: Record<string, string> = { alertname: a.alertname ?? 'CriticalViolationDetected', node_or_service: a.node, severity: 'critical' };
  if (a.severity) labels.violation_severity = a.severity;
  const [obs] = observationsFromWebhook(
    parseWebhook({
      version: '4',
      status,
      receiver: 'mapek',
      truncatedAlerts: 0,
      alerts: [{ status, labels, annotations: { summary: `violation on ${a.node}` }, startsAt: a.startsAt, endsAt: '0001-01-01T00:00:00Z', fingerprint: a.fingerprint }],
    }),
  );
  return obs!;
}

const analyze = (o: ObservationRecord) => findingFromAlert((o.payload as { alert: AlertSignal }).alert, ROUTES);

function planInput(labels: Record<string, string>): CriticalViolationInput {
  const node = labels.node_or_service ?? 'unknown';
  return {
    node,
    alertname: labels.alertname ?? 'CriticalViolationDetected',
    labels,
    settings: {
      severityLookupWindow: '15m',
      verifyWindow: '1m',
      verifyFirstCheckMs: 30_000,
      verifyIntervalMs: 15_000,
      verifyDeadlineMs: 300_000,
      removalQuorum: 2,
      removalApprovalDeadlineMs: 1_800_000,
      recipients: ['audit-committee'],
    },
  };
}

describe.each(backends)('knowledge contract on $name', (backend) => {
  let handle: KnowledgeDb;
  let store: KnowledgeStore;
  let t = Date.parse('2030-06-01T00:00:00.000Z');
  const clock: Clock = { now: () => t };
  const tick = (ms = 1_000) => {
    t += ms;
  };
  let seq = 0;
  /** A node name no other test uses, so tests sharing the database never see each other's incidents. */
  const uniqueNode = (prefix = 'node') => `${prefix}-${backend.name}-${++seq}`;

  beforeAll(async () => {
    const url = await backend.create();
    handle = await openKnowledge(url, { writerThread: backend.writerThread });
    store = new KnowledgeStore(handle, clock);
    expect(handle.kind).toBe(backend.kind);
    expect(Boolean(handle.writer)).toBe(Boolean(backend.writerThread));
  });

  afterAll(async () => {
    await handle?.close();
    await backend.destroy();
  });

  /** Records and analyzes one alert; returns what processObservation said. */
  async function ingest(a: Parameters<typeof observationOf>[0]) {
    const obs = observationOf(a);
    tick();
    const rec = await store.recordObservations([obs]);
    tick();
    const res = await store.processObservation(obs.id, analyze);
    return { obs, rec, res };
  }

  /** Applies the incident's pending plan events in order, as the plan stage does. Returns the step results. */
  async function drain(incidentId: string): Promise<StepResult[]> {
    const results: StepResult[] = [];
    for (let i = 0; i < 50; i++) {
      const work = await store.planWork(incidentId);
      if (!work || work.events.length === 0) return results;
      const next = work.events[0]!;
      const result = work.plan
        ? stepPlan(playbook, work.plan.snapshot, next.event)
        : startPlan(playbook, planInput((next.event as Extract<PlanEvent, { type: 'incident.opened' }>).labels ?? work.incident.labels));
      tick(10);
      await store.commitPlanStep({
        incidentId,
        eventId: next.id,
        event: next.event,
        expectedVersion: work.plan?.version ?? 0,
        machine: playbook.machine.id,
        result,
        policy: POLICY,
        labels: work.incident.labels,
      });
      results.push(result);
    }
    throw new Error('plan did not settle');
  }

  /** A redelivered plan job re-applying the incident.opened event at the current version 1 (it must conflict). */
  function reapplyOpened(incidentId: string, openEventId: string, start: StepResult) {
    return store.commitPlanStep({
      incidentId,
      eventId: openEventId,
      event: { type: 'incident.opened', labels: {}, findingId: 'f' },
      expectedVersion: 1,
      machine: 'critical-violation',
      result: { ...start, from: 'lookingUp', to: 'escalated', incidentState: 'escalated' },
      policy: POLICY,
      labels: {},
    });
  }

  /** Finishes the action of a step as the execute stage would, then applies the outcome. */
  async function answer(incidentId: string, step: string, outcome: Record<string, unknown> = {}, status: 'succeeded' | 'dead' = 'succeeded') {
    const { id } = actionIdentity(incidentId, step, 1);
    tick(10);
    const done = await store.finishAction(id, status, outcome, status === 'dead' ? 'HTTP 503' : undefined);
    expect(done).toMatchObject({ incidentId });
    return drain(incidentId);
  }

  async function timerId(incidentId: string, name: string): Promise<string> {
    const row = await store.db.selectFrom('timers').select('id').where('incident_id', '=', incidentId).where('name', '=', name).executeTakeFirstOrThrow();
    return row.id;
  }

  async function fire(incidentId: string, name: string) {
    tick(10);
    expect(await store.fireTimer(await timerId(incidentId, name))).toEqual({ incidentId });
    return drain(incidentId);
  }

  /** Opens an incident for a new node and runs a WARNING plan to `resolved`. */
  async function resolvedIncident(node: string, fingerprint: string, startsAt: string): Promise<string> {
    const { res } = await ingest({ node, fingerprint, startsAt });
    const incidentId = res.incidentId!;
    await drain(incidentId);
    await answer(incidentId, 'lookup-severity', { severities: ['WARNING'] });
    await answer(incidentId, 'investigate', { id: 'inv-1' });
    await answer(incidentId, 'notify-committee', { id: 'not-1' });
    await fire(incidentId, 'verify-check-1');
    const last = await answer(incidentId, 'verify-1', { holds: true, value: 0 });
    expect(last.at(-1)!.incidentState).toBe('resolved');
    return incidentId;
  }

  describe('observations', () => {
    it('recordObservations stores each dedup key once and counts the repeats', async () => {
      const fpA = `fp-rec-${uniqueNode()}`;
      const a = observationOf({ node: uniqueNode(), fingerprint: fpA, startsAt: '2030-06-01T00:00:00Z' });
      const b = observationOf({ node: uniqueNode(), fingerprint: `fp-rec-${uniqueNode()}`, startsAt: '2030-06-01T00:00:00Z' });
      const first = await store.recordObservations([a, b]);
      expect(first.inserted.sort()).toEqual([a.id, b.id].sort());
      expect(first.duplicates).toBe(0);
      // a re-send of the same notification, plus the same alert twice in one batch
      const again = await store.recordObservations([a, { ...b }, a]);
      expect(again).toEqual({ inserted: [], duplicates: 3 });
      // a changed status is a new observation
      const resolved = observationOf({ node: 'x', fingerprint: fpA, startsAt: '2030-06-01T00:00:00Z', status: 'resolved' });
      const third = await store.recordObservations([resolved, a]);
      expect(third).toEqual({ inserted: [resolved.id], duplicates: 1 });
      const rows = await store.db.selectFrom('observations').select('id').where('fingerprint', '=', fpA).execute();
      expect(rows).toHaveLength(2);
    });

    it('processes an observation exactly once', async () => {
      const { obs, res } = await ingest({ node: uniqueNode(), fingerprint: `fp-once-${seq}`, startsAt: '2030-06-01T01:00:00Z' });
      expect(res.outcome).toBe('opened');
      const again = await store.processObservation(obs.id, analyze);
      expect(again.outcome).toBe('already processed');
      expect(again.incidentId).toBeUndefined();
      expect((await store.processObservation('obs_unknown', analyze)).outcome).toBe('unknown observation');
    });

    it('a resolved notification makes no finding and opens nothing', async () => {
      const node = uniqueNode();
      const { res } = await ingest({ node, fingerprint: `fp-res-${seq}`, startsAt: '2030-06-01T01:00:00Z', status: 'resolved' });
      expect(res).toEqual({ outcome: 'no finding' });
      expect((await store.listIncidents({ labels: [['node_or_service', node]] })).items).toEqual([]);
    });

    it('an unrouted alert is recorded as a finding with no incident', async () => {
      const node = uniqueNode();
      const { res } = await ingest({ node, fingerprint: `fp-unr-${seq}`, startsAt: '2030-06-01T01:00:00Z', alertname: 'PolicyLoadFailure' });
      expect(res.incidentId).toBeUndefined();
      expect(res.findingId).toMatch(/^fnd_/);
      expect(res.outcome).toContain('PolicyLoadFailure');
      const f = await store.db.selectFrom('findings').selectAll().where('id', '=', res.findingId!).executeTakeFirstOrThrow();
      expect(f.incident_id).toBeNull();
    });
  });

  describe('incidents', () => {
    it('a routed finding opens an incident; another finding for the same subject joins it', async () => {
      const node = uniqueNode();
      const first = await ingest({ node, fingerprint: `fp-${seq}-1`, startsAt: '2030-06-01T02:00:00Z' });
      expect(first.res.outcome).toBe('opened');
      expect(first.res.opened).toBe(true);
      const incidentId = first.res.incidentId!;
      expect(incidentId).toMatch(/^inc_/);

      // another alert (another fingerprint) about the same node
      const second = await ingest({ node, fingerprint: `fp-${seq}-2`, startsAt: '2030-06-01T02:01:00Z' });
      expect(second.res.outcome).toBe('joined');
      expect(second.res.opened).toBe(false);
      expect(second.res.incidentId).toBe(incidentId);

      const list = await store.listIncidents({ labels: [['node_or_service', node]] });
      expect(list.items.map((i) => i.id)).toEqual([incidentId]);
      expect(list.items[0]).toMatchObject({ playbook: 'critical-violation', state: 'open', labels: { node_or_service: node, alertname: 'CriticalViolationDetected' } });

      const work = await store.planWork(incidentId);
      expect(work!.plan).toBeNull();
      expect(work!.events.map((e) => e.event.type)).toEqual(['incident.opened', 'finding.added']);
      const inc = await store.getIncident(incidentId);
      expect(inc!.findings.map((f) => f.fingerprint).sort()).toEqual([`fp-${seq}-1`, `fp-${seq}-2`].sort());
    });

    it('a finding re-sent under another observation is a duplicate and changes nothing', async () => {
      const node = uniqueNode();
      const { obs, res } = await ingest({ node, fingerprint: `fp-dup-${seq}`, startsAt: '2030-06-01T03:00:00Z' });
      const incidentId = res.incidentId!;
      // the same alert (same fingerprint and startsAt) reaching knowledge under another dedup key
      const copy: NewObservation = { ...obs, id: `${obs.id}-copy`, dedupKey: `${obs.dedupKey}|copy` };
      tick();
      expect((await store.recordObservations([copy])).inserted).toEqual([copy.id]);
      const dup = await store.processObservation(copy.id, analyze);
      expect(dup.outcome).toBe('duplicate finding');
      expect(dup.findingId).toBe(res.findingId);
      expect(dup.incidentId).toBeUndefined();
      const work = await store.planWork(incidentId);
      expect(work!.events).toHaveLength(1);
      expect((await store.listIncidents({ labels: [['node_or_service', node]] })).items).toHaveLength(1);
    });

    it('a resolved incident is not reopened by a re-send, but a new startsAt opens a new one', async () => {
      const node = uniqueNode();
      const fp = `fp-reopen-${seq}`;
      const incidentId = await resolvedIncident(node, fp, '2030-06-01T04:00:00Z');
      const inc = await store.getIncident(incidentId);
      expect(inc!.state).toBe('resolved');
      expect(inc!.closedAt).not.toBeNull();

      // Alertmanager keeps re-sending the alert while it fires (repeat_interval)
      const resend = observationOf({ node, fingerprint: fp, startsAt: '2030-06-01T04:00:00Z' });
      tick();
      expect(await store.recordObservations([resend])).toEqual({ inserted: [], duplicates: 1 });
      // even arriving under another dedup key, the finding is known and nothing reopens
      const copy: NewObservation = { ...resend, id: `${resend.id}-b`, dedupKey: `${resend.dedupKey}|b` };
      await store.recordObservations([copy]);
      expect((await store.processObservation(copy.id, analyze)).outcome).toBe('duplicate finding');
      let list = await store.listIncidents({ labels: [['node_or_service', node]] });
      expect(list.items.map((i) => [i.id, i.state])).toEqual([[incidentId, 'resolved']]);

      // the alert fires again later: a new startsAt is a new incident
      tick(60_000);
      const { res } = await ingest({ node, fingerprint: fp, startsAt: '2030-06-01T05:00:00Z' });
      expect(res.outcome).toBe('opened');
      expect(res.incidentId).not.toBe(incidentId);
      list = await store.listIncidents({ labels: [['node_or_service', node]] });
      expect(list.items.map((i) => i.id)).toEqual([res.incidentId, incidentId]);
      expect(list.items.map((i) => i.state)).toEqual(['open', 'resolved']);
    });

    it('within the reopen cooldown a finding joins the closed incident and is marked flapping', async () => {
      const node = uniqueNode();
      const fp = `fp-flap-${seq}`;
      const incidentId = await resolvedIncident(node, fp, '2030-06-01T06:00:00Z');
      store.reopenCooldownMs = 10 * 60_000;
      try {
        tick(60_000);
        const { res } = await ingest({ node, fingerprint: fp, startsAt: '2030-06-01T06:05:00Z' });
        expect(res).toMatchObject({ outcome: 'joined', incidentId });
        const inc = await store.getIncident(incidentId);
        expect(inc!.state).toBe('resolved');
        const latest = inc!.findings.find((f) => f.id === res.findingId)!;
        expect(latest.evidence).toMatchObject({ flapping: true, joinedClosedIncident: incidentId });
        // past the cooldown a new episode is a new incident again
        tick(11 * 60_000);
        const later = await ingest({ node, fingerprint: fp, startsAt: '2030-06-01T07:00:00Z' });
        expect(later.res.outcome).toBe('opened');
      } finally {
        store.reopenCooldownMs = 0;
      }
    });
  });

  // The chain of an incident is what it was built from: an earlier incident's observations of the
  // same alert (same fingerprint, an older startsAt) belong to that incident, not to this one.
  it("a reopened alert's new incident does not show the previous incident's observations", async () => {
    const node = uniqueNode('chain2');
    const fp = `fp-chain2-${seq}`;
    const oldId = await resolvedIncident(node, fp, '2030-06-01T05:30:00Z');
    const oldObs = (await store.getIncident(oldId))!.observations.map((o) => o.id);
    expect(oldObs).toHaveLength(1);
    tick(60_000);
    const { obs, res } = await ingest({ node, fingerprint: fp, startsAt: '2030-06-01T06:30:00Z' });
    const fresh = await store.getIncident(res.incidentId!);
    expect(fresh!.observations.map((o) => o.id)).toContain(obs.id);
    expect(fresh!.observations.map((o) => o.id)).not.toContain(oldObs[0]);
  });

  describe('plan steps', () => {
    it('commitPlanStep stores the snapshot, versions it, and moves the incident state', async () => {
      const node = uniqueNode();
      const { res } = await ingest({ node, fingerprint: `fp-plan-${seq}`, startsAt: '2030-06-01T06:00:00Z' });
      const incidentId = res.incidentId!;
      const [start] = await drain(incidentId);
      expect(start!.to).toBe('lookingUp');
      const work = await store.planWork(incidentId);
      expect(work!.plan).toMatchObject({ machine: 'critical-violation', version: 1, state: 'lookingUp' });
      expect(work!.events).toEqual([]);
      expect(work!.incident.state).toBe('remediating');
      // the stored snapshot steps on exactly like the one in memory
      const fromStore = stepPlan(playbook, work!.plan!.snapshot, { type: 'action.succeeded', step: 'lookup-severity', actionId: 'x', result: { severities: ['SUSPENSION'] } });
      expect(fromStore.to).toBe('acting');
      expect(fromStore.actions.map((a) => a.step)).toEqual(['investigate']);
    });

    it('a stale expectedVersion throws PlanConflictError and changes nothing', async () => {
      const node = uniqueNode();
      const { res } = await ingest({ node, fingerprint: `fp-stale-${seq}`, startsAt: '2030-06-01T07:00:00Z' });
      const incidentId = res.incidentId!;
      await drain(incidentId); // version 1
      const { id: lookupId } = actionIdentity(incidentId, 'lookup-severity', 1);
      await store.finishAction(lookupId, 'succeeded', { severities: ['WARNING'] });
      const work = await store.planWork(incidentId);
      const next = work!.events[0]!;
      const result = stepPlan(playbook, work!.plan!.snapshot, next.event);
      const args = { incidentId, eventId: next.id, event: next.event, machine: 'critical-violation', result, policy: POLICY, labels: work!.incident.labels };

      // another worker thinks the plan is new, or is one version behind
      await expect(store.commitPlanStep({ ...args, expectedVersion: 0 })).rejects.toBeInstanceOf(PlanConflictError);
      await expect(store.commitPlanStep({ ...args, expectedVersion: 7 })).rejects.toBeInstanceOf(PlanConflictError);
      const after = await store.planWork(incidentId);
      expect(after!.plan!.version).toBe(1);
      expect(after!.events.map((e) => e.id)).toEqual([next.id]); // the event is still pending
      expect(await store.getAction(actionIdentity(incidentId, 'investigate', 1).id)).toBeNull();

      // the right version applies
      const ok = await store.commitPlanStep({ ...args, expectedVersion: 1 });
      expect(ok.version).toBe(2);
      expect(ok.actions.map((a) => a.step)).toEqual(['investigate']);
    });

    it('an event that was already applied throws PlanConflictError and rolls the snapshot back', async () => {
      const node = uniqueNode();
      const { res } = await ingest({ node, fingerprint: `fp-applied-${seq}`, startsAt: '2030-06-01T08:00:00Z' });
      const incidentId = res.incidentId!;
      const openEventId = (await store.planWork(incidentId))!.events[0]!.id;
      const [start] = await drain(incidentId); // applies the incident.opened event, version 1
      const before = await store.getIncident(incidentId);
      // a redelivered plan job re-applies the same event with the current version
      await expect(
        reapplyOpened(incidentId, openEventId, start!),
      ).rejects.toBeInstanceOf(PlanConflictError);
      const after = await store.getIncident(incidentId);
      expect(after!.plan!.version).toBe(1);
      expect(after!.plan!.state).toBe('lookingUp');
      expect(after!.state).toBe(before!.state);
      expect(after!.plan!.history).toHaveLength(1);
    });

    it('the same alert from two callers in one turn (an HA pair) is stored once: the first has it, the second a duplicate', async () => {
      const a = observationOf({ node: uniqueNode(), fingerprint: `fp-ha-${seq}`, startsAt: '2030-06-01T08:40:00Z' });
      const b = observationOf({ node: uniqueNode(), fingerprint: `fp-ha-b-${seq}`, startsAt: '2030-06-01T08:40:00Z' });
      // The pair's other member sends the same alert under its own external URL.
      const a2: NewObservation = { ...a, payload: { ...(a.payload as Record<string, unknown>), externalURL: 'http://alertmanager-2:9093' } };
      const [first, second, third] = await Promise.all([store.recordObservations([a]), store.recordObservations([a2, b]), store.recordObservations([b, a2])]);
      expect(first).toEqual({ inserted: [a.id], duplicates: 0 });
      expect(second).toEqual({ inserted: [b.id], duplicates: 1 });
      expect(third).toEqual({ inserted: [], duplicates: 2 });
      expect(await store.recordObservations([a, b])).toEqual({ inserted: [], duplicates: 2 });
      // The first copy is the one kept, and the one chained: the audit reads it back as hashed.
      const kept = await store.db.selectFrom('observations').select('payload').where('id', '=', a.id).executeTakeFirstOrThrow();
      expect(JSON.parse(kept.payload)).toEqual(a.payload);
      expect(await store.verifyAudit()).toMatchObject({ ok: true });
    });

    it('writes requested together commit together; one that conflicts is rolled back alone and the audit chain stays whole', async () => {
      const node = uniqueNode();
      const { res } = await ingest({ node, fingerprint: `fp-group-${seq}`, startsAt: '2030-06-01T08:30:00Z' });
      const incidentId = res.incidentId!;
      const openEventId = (await store.planWork(incidentId))!.events[0]!.id;
      const [start] = await drain(incidentId);
      const a = observationOf({ node: uniqueNode(), fingerprint: `fp-group-a-${seq}`, startsAt: '2030-06-01T08:31:00Z' });
      const b = observationOf({ node: uniqueNode(), fingerprint: `fp-group-b-${seq}`, startsAt: '2030-06-01T08:32:00Z' });
      const before = { ...store.batchStats };
      // All requested in one turn: one transaction. The conflicting step writes (and chains) its
      // snapshot before it finds the event already applied, so its rollback must not leave a gap.
      const results = await Promise.allSettled([
        store.recordObservations([a]),
        reapplyOpened(incidentId, openEventId, start!),
        store.recordObservations([b]),
        store.acknowledge(incidentId, 'ops'),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(PlanConflictError);
      // The two recordObservations calls of the turn are one write (one multi-row insert). With a
      // writer thread they commit on its connection, apart from the main thread's two writes.
      expect({ writes: store.batchStats.writes - before.writes, batches: store.batchStats.batches - before.batches }).toEqual({ writes: 3, batches: handle.writer ? 2 : 1 });
      expect((await store.getIncident(incidentId))!.plan).toMatchObject({ version: 1, state: 'lookingUp' });
      expect((await store.planWork(incidentId))!.events.map((e) => e.event.type)).toEqual(['incident.acknowledged']);
      const kept = await store.db.selectFrom('observations').select('id').where('id', 'in', [a.id, b.id]).execute();
      expect(kept).toHaveLength(2);
      expect(await store.verifyAudit()).toMatchObject({ ok: true, problems: [] });
    });

    it('actions get deterministic ids and idempotency keys; the same step twice is one row', async () => {
      const node = uniqueNode();
      const { res } = await ingest({ node, fingerprint: `fp-act-${seq}`, startsAt: '2030-06-01T09:00:00Z' });
      const incidentId = res.incidentId!;
      const [start] = await drain(incidentId);
      const expected = actionIdentity(incidentId, 'lookup-severity', 1);
      expect(actionIdentity(incidentId, 'lookup-severity', 1)).toEqual(expected); // pure and stable
      expect(actionIdentity(incidentId, 'lookup-severity', 2).id).not.toBe(expected.id);
      expect(actionIdentity(incidentId, 'investigate', 1).idempotencyKey).not.toBe(expected.idempotencyKey);
      const action = await store.getAction(expected.id);
      expect(action).toMatchObject({
        id: expected.id,
        idempotencyKey: expected.idempotencyKey,
        incidentId,
        step: 'lookup-severity',
        iteration: 1,
        type: 'prometheus.severity',
        status: 'planned',
        attempts: 0,
        params: { node_or_service: node, window: '15m' },
        approvals: [],
      });

      // a second event whose step asks for the same action again (a re-planned step)
      tick();
      await ingest({ node, fingerprint: `fp-act-${seq}-other`, startsAt: '2030-06-01T09:01:00Z' });
      const work = await store.planWork(incidentId);
      const next = work!.events[0]!;
      expect(next.event.type).toBe('finding.added');
      const again = await store.commitPlanStep({
        incidentId,
        eventId: next.id,
        event: next.event,
        expectedVersion: work!.plan!.version,
        machine: 'critical-violation',
        result: { ...stepPlan(playbook, work!.plan!.snapshot, next.event), actions: start!.actions },
        policy: POLICY,
        labels: work!.incident.labels,
      });
      expect(again.actions).toEqual([]);
      const rows = await store.db.selectFrom('actions').select('id').where('incident_id', '=', incidentId).where('step', '=', 'lookup-severity').execute();
      expect(rows).toHaveLength(1);
    });

    it('a gated action awaits approval, is not unfinished work, and is expired at its deadline', async () => {
      const node = uniqueNode();
      const { res } = await ingest({ node, fingerprint: `fp-ban-${seq}`, startsAt: '2030-06-01T10:00:00Z', severity: 'PERMANENT_BAN' });
      const incidentId = res.incidentId!;
      await drain(incidentId);
      await answer(incidentId, 'lookup-severity', { severities: ['PERMANENT_BAN'] });
      const removalId = actionIdentity(incidentId, 'remove-node', 1).id;
      expect(await store.getAction(removalId)).toMatchObject({ status: 'awaiting_approval', type: 'charter.revocation', params: { scope: 'all' } });
      expect((await store.unfinishedWork()).actions).not.toContain(removalId);
      // a worker must not run it, nor finish it
      expect(await store.startAttempt(removalId)).toBeNull();
      expect(await store.finishAction(removalId, 'succeeded', {})).toBeNull();
      const deadline = await store.db.selectFrom('timers').selectAll().where('incident_id', '=', incidentId).where('name', '=', 'removal-deadline').executeTakeFirstOrThrow();
      expect(Date.parse(deadline.due_at) - t).toBeGreaterThan(29 * 60_000);
      await fire(incidentId, 'removal-deadline');
      expect(await store.getAction(removalId)).toMatchObject({ status: 'skipped', outcome: { expired: expect.any(String) } });
      const inc = await store.getIncident(incidentId);
      expect(inc!.state).toBe('escalated');
      expect(inc!.actions.map((a) => a.step)).toContain('page');
    });
  });

  describe('outcomes and timers', () => {
    it('finishAction emits exactly one plan event; a second call returns null', async () => {
      const node = uniqueNode();
      const { res } = await ingest({ node, fingerprint: `fp-fin-${seq}`, startsAt: '2030-06-01T11:00:00Z' });
      const incidentId = res.incidentId!;
      await drain(incidentId);
      const { id } = actionIdentity(incidentId, 'lookup-severity', 1);
      expect(await store.startAttempt(id)).toMatchObject({ status: 'running', attempts: 1 });
      tick();
      // A Prometheus read is no effect at the Charter: no observation-to-action figure.
      expect(await store.finishAction(id, 'succeeded', { severities: ['WARNING'] })).toEqual({ incidentId, firstEffectMs: null });
      tick();
      expect(await store.finishAction(id, 'succeeded', { severities: ['BAN_1YEAR'] })).toBeNull();
      expect(await store.finishAction(id, 'dead', {}, 'late failure')).toBeNull();
      const work = await store.planWork(incidentId);
      expect(work!.events.map((e) => e.event)).toEqual([{ type: 'action.succeeded', step: 'lookup-severity', actionId: id, result: { severities: ['WARNING'] } }]);
      expect(await store.getAction(id)).toMatchObject({ status: 'succeeded', outcome: { severities: ['WARNING'] } });
      expect(await store.startAttempt(id)).toBeNull();
      expect(await store.finishAction('act_nope', 'succeeded', {})).toBeNull();
    });

    it('beginAttempt leaves a paused action waiting (no attempt), starts it otherwise, and reports the brake', async () => {
      const node = uniqueNode();
      const { res } = await ingest({ node, fingerprint: `fp-begin-${seq}`, startsAt: '2030-06-01T11:10:00Z' });
      const incidentId = res.incidentId!;
      await drain(incidentId);
      const { id } = actionIdentity(incidentId, 'lookup-severity', 1);
      try {
        await store.setPause({ paused: true, by: 'ops' });
        await store.setBrake({ engaged: true, by: 'test', reason: 'contract' });
        expect(await store.beginAttempt(id, () => true)).toEqual({ paused: expect.objectContaining({ paused: true, by: 'ops' }), type: 'prometheus.severity' });
        expect(await store.getAction(id)).toMatchObject({ status: 'planned', attempts: 0 });
        // Not pausable (a read, or a job that cannot wait): the attempt starts, pause or not.
        const begun = await store.beginAttempt(id, (type) => type !== 'prometheus.severity');
        expect(begun).toMatchObject({ started: { id, status: 'running', attempts: 1 }, brake: { engaged: true, reason: 'contract' } });
        // An expired pause is no pause.
        await store.setPause({ paused: true, untilMs: t - 1 });
        expect(await store.beginAttempt(id, () => true)).toMatchObject({ started: { attempts: 2 } });
        tick();
        expect(await store.finishAction(id, 'succeeded', { severities: ['WARNING'] })).toMatchObject({ incidentId });
        expect(await store.beginAttempt(id, () => true)).toBeNull();
        // The incident's first Charter call that succeeded carries its age since the incident opened.
        await drain(incidentId);
        const investigate = actionIdentity(incidentId, 'investigate', 1).id;
        expect(await store.getAction(investigate)).toMatchObject({ type: 'charter.investigation' });
        tick(250);
        const first = await store.finishAction(investigate, 'succeeded', { investigationId: 'inv-1' });
        expect(first!.firstEffectMs).toBeGreaterThanOrEqual(250);
      } finally {
        await store.setPause({ paused: false, by: 'ops' });
        await store.setBrake({ engaged: false, by: 'test' });
      }
    });

    it('a dead action becomes an action.failed event that escalates the plan', async () => {
      const node = uniqueNode();
      const { res } = await ingest({ node, fingerprint: `fp-dead-${seq}`, startsAt: '2030-06-01T11:30:00Z' });
      const incidentId = res.incidentId!;
      await drain(incidentId);
      await answer(incidentId, 'lookup-severity', { severities: ['SUSPENSION'] });
      const steps = await answer(incidentId, 'investigate', { error: 'HTTP 503' }, 'dead');
      expect(steps.map((s) => s.to)).toEqual(['escalated']);
      const inc = await store.getIncident(incidentId);
      expect(inc!.state).toBe('escalated');
      expect(inc!.actions.find((a) => a.step === 'investigate')).toMatchObject({ status: 'dead', lastError: 'HTTP 503' });
      expect(inc!.actions.find((a) => a.step === 'page')).toMatchObject({ status: 'planned', type: 'page' });
    });

    it('fireTimer fires once', async () => {
      const node = uniqueNode();
      const { res } = await ingest({ node, fingerprint: `fp-tmr-${seq}`, startsAt: '2030-06-01T12:00:00Z' });
      const incidentId = res.incidentId!;
      await drain(incidentId);
      await answer(incidentId, 'lookup-severity', { severities: ['WARNING'] });
      await answer(incidentId, 'investigate');
      const steps = await answer(incidentId, 'notify-committee');
      expect(steps.at(-1)!.to).toBe('verifying');
      const check = await timerId(incidentId, 'verify-check-1');
      const due = await store.db.selectFrom('timers').select('due_at').where('id', '=', check).executeTakeFirstOrThrow();
      expect(Date.parse(due.due_at)).toBe(t + 30_000);
      tick(30_000);
      expect(await store.fireTimer(check)).toEqual({ incidentId });
      expect(await store.fireTimer(check)).toBeNull();
      expect(await store.fireTimer('tmr_nope')).toBeNull();
      const work = await store.planWork(incidentId);
      expect(work!.events.map((e) => e.event)).toEqual([{ type: 'timer.fired', name: 'verify-check-1' }]);
    });

    // planWork promises events "in arrival order". Two events of one incident can carry the same
    // timestamp (same millisecond); they must still come back in the order they arrived. Checked on
    // several incidents, since ids are random per incident.
    it('planWork returns events that share a timestamp in arrival order', async () => {
      const orders: string[][] = [];
      for (let i = 0; i < 8; i++) {
        const node = uniqueNode('order');
        const { res } = await ingest({ node, fingerprint: `fp-order-${seq}-a`, startsAt: '2030-06-01T12:30:00Z' });
        const incidentId = res.incidentId!;
        await drain(incidentId);
        tick();
        // in the same millisecond: the lookup answers, then a second alert about the node arrives
        expect(await store.finishAction(actionIdentity(incidentId, 'lookup-severity', 1).id, 'succeeded', { severities: [] })).not.toBeNull();
        const obs = observationOf({ node, fingerprint: `fp-order-${seq}-b`, startsAt: '2030-06-01T12:30:00Z' });
        await store.recordObservations([obs]);
        expect((await store.processObservation(obs.id, analyze)).outcome).toBe('joined');
        orders.push((await store.planWork(incidentId))!.events.map((e) => e.event.type));
      }
      for (const order of orders) expect(order).toEqual(['action.succeeded', 'finding.added']);
    });

    it('unfinishedWork lists unprocessed observations, pending events, planned actions and unfired timers', async () => {
      const node = uniqueNode();
      const obs = observationOf({ node, fingerprint: `fp-uw-${seq}`, startsAt: '2030-06-01T13:00:00Z' });
      tick();
      await store.recordObservations([obs]);
      let work = await store.unfinishedWork();
      expect(work.observations).toContain(obs.id);

      tick();
      const res = await store.processObservation(obs.id, analyze);
      const incidentId = res.incidentId!;
      work = await store.unfinishedWork();
      expect(work.observations).not.toContain(obs.id);
      expect(work.incidents).toContain(incidentId);

      await drain(incidentId);
      const lookup = actionIdentity(incidentId, 'lookup-severity', 1).id;
      work = await store.unfinishedWork();
      expect(work.incidents).not.toContain(incidentId);
      expect(work.actions.map((a) => a.id)).toContain(lookup);
      await store.startAttempt(lookup);
      expect((await store.unfinishedWork()).actions.map((a) => a.id)).toContain(lookup); // running is unfinished too

      await answer(incidentId, 'lookup-severity', { severities: ['WARNING'] });
      await answer(incidentId, 'investigate');
      await answer(incidentId, 'notify-committee');
      work = await store.unfinishedWork();
      expect(work.actions.map((a) => a.id)).not.toContain(lookup);
      const check = await timerId(incidentId, 'verify-check-1');
      const deadline = await timerId(incidentId, 'verify-deadline');
      expect(work.timers.map((x) => x.id)).toEqual(expect.arrayContaining([check, deadline]));
      const dueAt = work.timers.find((x) => x.id === deadline)!.dueAt;
      expect(Date.parse(dueAt)).toBe(t + 300_000);

      tick();
      await store.fireTimer(check);
      work = await store.unfinishedWork();
      expect(work.timers.map((x) => x.id)).not.toContain(check);
      expect(work.timers.map((x) => x.id)).toContain(deadline);
      expect(work.incidents).toContain(incidentId);
    });
  });

  describe('reading', () => {
    it('listIncidents pages newest first by cursor, with no gaps or repeats, ties included', async () => {
      const marker = `PagingTest`;
      const nodes: string[] = [];
      for (let i = 0; i < 7; i++) {
        const node = uniqueNode('page');
        nodes.push(node);
        const obs = observationOf({ node, fingerprint: `fp-page-${seq}`, startsAt: '2030-06-01T14:00:00Z', alertname: marker });
        if (i % 2 === 0) tick(); // pairs of incidents share a created_at
        await store.recordObservations([obs]);
        expect((await store.processObservation(obs.id, analyze)).outcome).toBe('opened');
      }
      const seen: string[] = [];
      const pages: number[] = [];
      let cursor: string | undefined;
      for (let guard = 0; guard < 10; guard++) {
        const page = await store.listIncidents({ labels: [['alertname', marker]], limit: 3, cursor });
        pages.push(page.items.length);
        seen.push(...page.items.map((i) => i.labels.node_or_service!));
        if (!page.next) break;
        cursor = page.next;
      }
      expect(pages).toEqual([3, 3, 1]);
      expect(seen).toHaveLength(7);
      expect(new Set(seen).size).toBe(7);
      expect(new Set(seen)).toEqual(new Set(nodes));
      const all = await store.listIncidents({ labels: [['alertname', marker]], limit: 100 });
      expect(all.next).toBeNull();
      expect(all.items.map((i) => i.labels.node_or_service)).toEqual(seen);
      const created = all.items.map((i) => i.createdAt);
      expect([...created].sort().reverse()).toEqual(created); // newest first
    });

    it('pages 50 at a time by default', async () => {
      const marker = `PagingTest`;
      const before = (await store.listIncidents({ labels: [['alertname', marker]], limit: 500 })).items.length;
      for (let i = before; i < 53; i++) {
        const obs = observationOf({ node: uniqueNode('bulk'), fingerprint: `fp-bulk-${seq}`, startsAt: '2030-06-01T15:00:00Z', alertname: marker });
        tick();
        await store.recordObservations([obs]);
        await store.processObservation(obs.id, analyze);
      }
      const first = await store.listIncidents({ labels: [['alertname', marker]] });
      expect(first.items).toHaveLength(50);
      expect(first.next).not.toBeNull();
      const second = await store.listIncidents({ labels: [['alertname', marker]], cursor: first.next! });
      expect(second.items).toHaveLength(3);
      expect(second.next).toBeNull();
    });

    it('filters by label node_or_service=x exactly', async () => {
      const x = uniqueNode('flt');
      await ingest({ node: x, fingerprint: `fp-flt-${seq}-x`, startsAt: '2030-06-01T16:00:00Z' });
      await ingest({ node: `${x}y`, fingerprint: `fp-flt-${seq}-xy`, startsAt: '2030-06-01T16:00:00Z' });
      await ingest({ node: `a${x}`, fingerprint: `fp-flt-${seq}-ax`, startsAt: '2030-06-01T16:00:00Z' });
      const list = await store.listIncidents({ labels: [['node_or_service', x]] });
      expect(list.items.map((i) => i.labels.node_or_service)).toEqual([x]);
      expect((await store.listIncidents({ labels: [['node_or_service', x], ['alertname', 'CriticalViolationDetected']] })).items).toHaveLength(1);
      expect((await store.listIncidents({ labels: [['node_or_service', x], ['alertname', 'Other']] })).items).toHaveLength(0);
      expect((await store.listIncidents({ labels: [['node_or_service', x]], state: 'open' })).items).toHaveLength(1);
      expect((await store.listIncidents({ labels: [['node_or_service', x]], state: 'resolved' })).items).toHaveLength(0);
    });

    it('label filters treat % and _ literally', async () => {
      const base = uniqueNode('lit');
      await ingest({ node: `${base}_1`, fingerprint: `fp-lit-${seq}-a`, startsAt: '2030-06-01T16:30:00Z' });
      await ingest({ node: `${base}x1`, fingerprint: `fp-lit-${seq}-b`, startsAt: '2030-06-01T16:30:00Z' });
      expect((await store.listIncidents({ labels: [['node_or_service', `${base}_1`]] })).items.map((i) => i.labels.node_or_service)).toEqual([`${base}_1`]);
      expect((await store.listIncidents({ labels: [['node_or_service', `${base}%`]] })).items).toEqual([]);
    });

    // Label values are case-sensitive (Prometheus): both backends must give the same answer.
    it('label filters are case-sensitive', async () => {
      const node = uniqueNode('case').toLowerCase();
      await ingest({ node, fingerprint: `fp-case-${seq}`, startsAt: '2030-06-01T16:45:00Z' });
      expect((await store.listIncidents({ labels: [['node_or_service', node]] })).items).toHaveLength(1);
      expect((await store.listIncidents({ labels: [['node_or_service', node.toUpperCase()]] })).items).toEqual([]);
    });

    it('getIncident returns the whole chain: findings, plan history, actions, observations', async () => {
      const node = uniqueNode('chain');
      const first = await ingest({ node, fingerprint: `fp-chain-${seq}-1`, startsAt: '2030-06-01T17:00:00Z' });
      const incidentId = first.res.incidentId!;
      await drain(incidentId);
      const second = await ingest({ node, fingerprint: `fp-chain-${seq}-2`, startsAt: '2030-06-01T17:00:30Z' });
      await drain(incidentId);
      await answer(incidentId, 'lookup-severity', { severities: ['SUSPENSION'] });
      await answer(incidentId, 'investigate', { id: 'inv-9' });

      const inc = await store.getIncident(incidentId);
      expect(inc).not.toBeNull();
      expect(inc!.id).toBe(incidentId);
      expect(inc!.state).toBe('remediating');
      expect(inc!.labels).toEqual({ node_or_service: node, alertname: 'CriticalViolationDetected' });
      expect(inc!.findings.map((f) => f.id)).toEqual([first.res.findingId, second.res.findingId]);
      expect(inc!.findings[0]).toMatchObject({ fingerprint: `fp-chain-${seq}-1`, kind: 'alert', observationId: first.obs.id, evidence: { startsAt: '2030-06-01T17:00:00Z' } });
      expect(inc!.observations.map((o) => o.id)).toEqual(expect.arrayContaining([first.obs.id, second.obs.id]));
      expect(inc!.observations.find((o) => o.id === first.obs.id)).toMatchObject({ source: 'alertmanager', status: 'firing', outcome: `opened incident ${incidentId}` });

      expect(inc!.plan).toMatchObject({ machine: 'critical-violation', state: 'acting', version: 4, policy: POLICY });
      const history = inc!.plan!.history;
      expect(history.map((h) => [h.from, h.to])).toEqual([
        ['(start)', 'lookingUp'],
        ['lookingUp', 'lookingUp'],
        ['lookingUp', 'acting'],
        ['acting', 'acting'],
      ]);
      expect(history.map((h) => (h.event as { type: string }).type)).toEqual(['incident.opened', 'finding.added', 'action.succeeded', 'action.succeeded']);
      expect((history[2]!.event as { id: string }).id).toMatch(/^evt_/);
      expect(history[2]!.guards).toContainEqual({ name: 'isLookupDone', result: true });
      expect(history[2]!.evidence).toMatchObject({ severity: 'SUSPENSION', severitySource: 'prometheus' });
      expect((history[2]!.actions as Array<{ step: string; id: string }>).map((a) => a.step)).toEqual(['investigate']);
      expect((history[2]!.actions as Array<{ step: string; id: string }>)[0]!.id).toBe(actionIdentity(incidentId, 'investigate', 1).id);

      expect(inc!.actions.map((a) => [a.step, a.status])).toEqual([
        ['lookup-severity', 'succeeded'],
        ['investigate', 'succeeded'],
        ['quarantine', 'planned'],
      ]);
      expect(inc!.actions[1]!.outcome).toEqual({ id: 'inv-9' });
      expect(await store.getIncident('inc_missing')).toBeNull();
    });

    it('decisions are listed and fetched with the incident labels', async () => {
      const node = uniqueNode('dec');
      const { res } = await ingest({ node, fingerprint: `fp-dec-${seq}`, startsAt: '2030-06-01T18:00:00Z' });
      const incidentId = res.incidentId!;
      await drain(incidentId);
      await answer(incidentId, 'lookup-severity', { severities: ['WARNING'] });
      const page = await store.listDecisions({ incident: incidentId });
      expect(page.items.map((d) => d.to)).toEqual(['acting', 'lookingUp']); // newest first
      const d = await store.getDecision(page.items[0]!.id);
      expect(d).toMatchObject({ incidentId, machine: 'critical-violation', from: 'lookingUp', to: 'acting', labels: { node_or_service: node }, policy: POLICY });
    });
  });
});
