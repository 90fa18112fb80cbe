/**
 * Tamper evidence on both backends: rows written by mapek verify; an edit, an insertion or a
 * deletion made directly in the database is caught by `mapek audit verify`, also while mapek writes.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findingFromAlert } from '../../src/analyze/findings.ts';
import { openKnowledge } from '../../src/knowledge/db.ts';
import { KnowledgeStore } from '../../src/knowledge/store.ts';
import { observationsFromWebhook, parseWebhook } from '../../src/monitor/alertmanager.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const PG_ADMIN = 'postgres://postgres@127.0.0.1:5432/postgres';
const pgName = `mapek_audit_${randomBytes(4).toString('hex')}`;

const backends = [
  { name: 'sqlite', url: `sqlite:${join(mkdtempSync(join(tmpdir(), 'mapek-audit-')), 'k.db')}` },
  { name: 'postgres', url: `postgres://postgres@127.0.0.1:5432/${pgName}` },
];

beforeAll(async () => {
  const c = new pg.Client({ connectionString: PG_ADMIN });
  await c.connect();
  await c.query(`create database ${pgName}`);
  await c.end();
});

afterAll(async () => {
  const c = new pg.Client({ connectionString: PG_ADMIN });
  await c.connect();
  await c.query(`drop database if exists ${pgName} with (force)`);
  await c.end();
});

const routes = [{ playbook: 'critical-violation', alertnames: ['CriticalViolationDetected'], subjectLabels: ['node_or_service'] }];

async function writeSome(store: KnowledgeStore, n: number, tag: string) {
  const payload = parseWebhook({
    status: 'firing',
    receiver: 'mapek',
    alerts: Array.from({ length: n }, (_, i) => ({
      status: 'firing',
      labels: { alertname: 'CriticalViolationDetected', node_or_service: `${tag}-${i}` },
      annotations: {},
      startsAt: '2026-12-04T10:00:00Z',
      fingerprint: `${tag}-${i}`,
    })),
  });
  const { inserted } = await store.recordObservations(observationsFromWebhook(payload));
  for (const id of inserted) await store.processObservation(id, (o) => findingFromAlert((o.payload as { alert: never }).alert, routes));
  await store.setPause({ paused: true, untilMs: Date.now() + 60_000, by: 'alice' });
}

describe.each(backends)('audit on $name', ({ url }) => {
  let store: KnowledgeStore;

  beforeAll(async () => {
    store = new KnowledgeStore(await openKnowledge(url), { now: () => Date.now() });
  });
  afterAll(async () => {
    await store?.close();
  });

  it('verifies what mapek wrote, also while it keeps writing', async () => {
    await writeSome(store, 5, 'calm');
    const clean = await store.verifyAudit();
    expect(clean.problems).toEqual([]);
    expect(clean.links).toBeGreaterThan(10);
    const [during] = await Promise.all([store.verifyAudit(), writeSome(store, 10, 'busy')]);
    expect(during.problems).toEqual([]);
    expect((await store.verifyAudit()).ok).toBe(true);
    const { stdout } = await run(process.execPath, ['bin/mapek.mjs', 'audit', 'verify'], { cwd: root, env: { ...process.env, KNOWLEDGE_URL: url } });
    expect(stdout).toMatch(/^audit: ok/);
  }, 60_000);

  it('catches an edit, an insertion and a deletion made directly in the database', async () => {
    const db = store.db;
    const victim = (await db.selectFrom('incidents').select('id').limit(1).executeTakeFirstOrThrow()).id;
    await sql`update incidents set state = 'resolved' where id = ${victim}`.execute(db);
    let report = await store.verifyAudit();
    expect(report.ok).toBe(false);
    expect(report.problems).toContain(`incidents ${victim}: row edited after mapek wrote it`);

    await sql`insert into decisions (id, incident_id, at, machine, from_state, to_state, event, guards, evidence, policy, actions, labels) values ('forged', ${victim}, '2026-01-01T00:00:00Z', 'critical-violation', 'acting', 'resolved', '{}', '[]', '{}', '{}', '[]', '{}')`.execute(db);
    const obs = (await db.selectFrom('observations').select('id').limit(1).executeTakeFirstOrThrow()).id;
    await sql`delete from observations where id = ${obs}`.execute(db);
    report = await store.verifyAudit();
    expect(report.problems).toContain('decisions forged: row not written by mapek (inserted directly)');
    expect(report.problems).toContain(`observations ${obs}: row deleted`);

    await sql`delete from audit_ledger where seq = 3`.execute(db);
    report = await store.verifyAudit();
    expect(report.problems.some((p) => p.startsWith('ledger: link 3 missing'))).toBe(true);

    const cli = await run(process.execPath, ['bin/mapek.mjs', 'audit', 'verify'], { cwd: root, env: { ...process.env, KNOWLEDGE_URL: url } }).catch((e: { code: number; stdout: string }) => e);
    expect((cli as { code: number }).code).toBe(1);
    expect((cli as { stdout: string }).stdout).toContain('audit: FAILED');
  }, 60_000);
});

const pgRetention = `mapek_retention_${randomBytes(4).toString('hex')}`;
const retentionBackends = [
  { name: 'sqlite', url: `sqlite:${join(mkdtempSync(join(tmpdir(), 'mapek-retention-')), 'k.db')}` },
  { name: 'postgres', url: `postgres://postgres@127.0.0.1:5432/${pgRetention}` },
];

describe.each(retentionBackends)('retention on $name', ({ url }) => {
  beforeAll(async () => {
    if (!url.startsWith('postgres')) return;
    const c = new pg.Client({ connectionString: PG_ADMIN });
    await c.connect();
    await c.query(`create database ${pgRetention}`);
    await c.end();
  });
  afterAll(async () => {
    if (!url.startsWith('postgres')) return;
    const c = new pg.Client({ connectionString: PG_ADMIN });
    await c.connect();
    await c.query(`drop database if exists ${pgRetention} with (force)`);
    await c.end();
  });

  it('prunes closed incidents behind a checkpoint: archived, gone, and the chain still verifies', async () => {
    const s2 = new KnowledgeStore(await openKnowledge(url), { now: () => Date.now() });
    try {
      await writeSome(s2, 4, 'old');
      const open = await s2.listIncidents();
      const toClose = open.items.slice(0, 3);
      for (const inc of toClose) {
        const work = (await s2.planWork(inc.id))!;
        await s2.commitPlanStep({
          incidentId: inc.id,
          eventId: work.events[0]!.id,
          event: work.events[0]!.event,
          expectedVersion: 0,
          machine: 'critical-violation',
          result: { snapshot: {}, from: '(start)', to: 'resolved', incidentState: 'resolved', actions: [], timers: [], expire: [], guards: [], evidence: {} },
          policy: { name: 'charter', version: '1' },
          labels: inc.labels,
        });
      }
      expect((await s2.verifyAudit()).problems).toEqual([]);
      const archived: unknown[] = [];
      const res = await s2.applyRetention(new Date(Date.now() + 1000).toISOString(), async (chain) => {
        archived.push(chain);
      });
      expect(res.incidents).toBe(3);
      expect(archived).toHaveLength(3);
      expect((await s2.listIncidents()).items.map((i) => i.id)).toEqual([open.items[3]!.id]);
      const after = await s2.verifyAudit();
      expect(after.problems).toEqual([]);
      expect(res.checkpoint).toBeGreaterThan(0);
      // Behind the checkpoint, tampering is still caught.
      await sql`update incidents set state = 'escalated'`.execute(s2.db);
      expect((await s2.verifyAudit()).ok).toBe(false);
    } finally {
      await s2.close();
    }
  }, 60_000);
});
