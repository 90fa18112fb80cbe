/**
 * Execute against a misbehaving Charter (the simulator's slow_actuator and actuator_errors):
 * exactly one effect per planned action at the receiving end, dead actions escalate, several
 * worker processes share the work without running an action twice, shutdown drains.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../sim/index.ts';
import { loadConfig } from '../../src/config.ts';
import { openKnowledge } from '../../src/knowledge/db.ts';
import { KnowledgeStore } from '../../src/knowledge/store.ts';
import { startMapek, type RunningMapek, type Role } from '../../src/main.ts';
import { until } from '../helpers/until.ts';

const root = resolve(import.meta.dirname, '../..');
const ADMIN = 'admin-secret';
let sim: RunningSimulator;
let dir: string;
let configFile: string;
const running: RunningMapek[] = [];
const children: ChildProcess[] = [];

function envFor(prefix: string, db: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KNOWLEDGE_URL: `sqlite:${join(dir, db)}`,
    REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    CHARTER_URL: sim.url,
    PROMETHEUS_URL: 'http://127.0.0.1:9',
    MAPEK_QUEUE_PREFIX: prefix,
    MAPEK_CONFIG: configFile,
    MAPEK_ADMIN_TOKEN: ADMIN,
    LOG_LEVEL: 'warn',
  };
}

async function start(roles: Role[], db = `k-${randomBytes(4).toString('hex')}.db`, prefix = `exec-${randomBytes(4).toString('hex')}`) {
  const env = envFor(prefix, db);
  const m = await startMapek(loadConfig({ port: 0 }, env), { roles, logger: pino({ level: 'silent' }) });
  running.push(m);
  return { mapek: m, env };
}

const auth = { authorization: `Bearer ${ADMIN}` };

async function fire(mapek: RunningMapek, node: string) {
  const res = await fetch(`${mapek.url}/webhooks/alertmanager`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      version: '4',
      status: 'firing',
      receiver: 'mapek',
      alerts: [{ status: 'firing', labels: { alertname: 'CriticalViolationDetected', node_or_service: node, severity: 'critical' }, annotations: {}, startsAt: '2026-12-04T12:00:00Z', fingerprint: `fp-${node}` }],
    }),
  });
  expect(res.status).toBe(202);
}

interface Incident {
  id: string;
  state: string;
  actions: Array<{ step: string; type: string; status: string; attempts: number }>;
}

async function incidentOf(mapek: RunningMapek, node: string, states: string[], timeoutMs = 40_000): Promise<Incident> {
  return until(`${node} to reach ${states.join('|')}`, async () => {
    const list = (await (await fetch(`${mapek.url}/api/incidents?label=node_or_service=${node}`, { headers: auth })).json()) as { items: Array<{ id: string }> };
    const id = list.items[0]?.id;
    if (!id) return undefined;
    const inc = (await (await fetch(`${mapek.url}/api/incidents/${id}`, { headers: auth })).json()) as Incident;
    return states.includes(inc.state) ? inc : undefined;
  }, timeoutMs);
}

async function count(path: string, node: string): Promise<number> {
  return ((await (await fetch(`${sim.url}/api/${path}?node_or_service=${node}`)).json()) as { items: unknown[] }).items.length;
}

async function fault(body: unknown) {
  const res = await fetch(`${sim.url}/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBe(201);
}

async function expectOneEffectEach(node: string) {
  expect(await count('investigations', node)).toBe(1);
  expect(await count('quarantines', node)).toBe(1);
  expect(await count('committee/notifications', node)).toBe(1);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mapek-exec-'));
  configFile = join(dir, 'config.yaml');
  writeFileSync(
    configFile,
    [
      'execute:',
      '  attempts: 6',
      '  backoff: 200ms',
      '  maxBackoff: 1s',
      '  timeout: 1s',
      '  drainTimeout: 10s',
      'playbooks:',
      '  criticalViolation:',
      '    verifyFirstCheck: 1h',
    ].join('\n'),
  );
  sim = await startSimulator({ port: 0, tickMs: 500 });
}, 30_000);

afterEach(async () => {
  await fetch(`${sim.url}/faults`, { method: 'DELETE' });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const m of running) await m.close();
  await sim?.close();
});

describe('execute against a misbehaving Charter', () => {
  it('a slow Charter (answers after the timeout) still gets one effect per action', async () => {
    const { mapek } = await start(['api', 'loop', 'worker']);
    const node = 'node-slow';
    await fault({ kind: 'slow_actuator', delay_ms: 1500, node_or_service: node });
    await fire(mapek, node);
    const inc = await incidentOf(mapek, node, ['verifying']);
    await expectOneEffectEach(node);
    const investigate = inc.actions.find((a) => a.step === 'investigate')!;
    expect(investigate.status).toBe('succeeded');
    expect(investigate.attempts).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('a Charter answering 503 for a while gets one effect per action', async () => {
    const { mapek } = await start(['api', 'loop', 'worker']);
    const node = 'node-503';
    await fault({ kind: 'actuator_errors', count: 3, node_or_service: node });
    await fire(mapek, node);
    const inc = await incidentOf(mapek, node, ['verifying']);
    await expectOneEffectEach(node);
    expect(inc.actions.find((a) => a.step === 'investigate')!.attempts).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('an action that keeps failing ends dead, and the incident escalates with a page', async () => {
    const { mapek } = await start(['api', 'loop', 'worker']);
    const node = 'node-down';
    await fault({ kind: 'actuator_errors', duration_ms: 600_000, node_or_service: node });
    await fire(mapek, node);
    const inc = await incidentOf(mapek, node, ['escalated']);
    const investigate = inc.actions.find((a) => a.step === 'investigate')!;
    expect(investigate).toMatchObject({ status: 'dead', attempts: 6 });
    expect(inc.actions.find((a) => a.step === 'quarantine')).toBeUndefined();
    expect(inc.actions.find((a) => a.step === 'page')).toBeDefined();
    expect(await count('investigations', node)).toBe(0);
    const metrics = await (await fetch(`${mapek.url}/metrics`)).text();
    expect(metrics).toMatch(/^mapek_actions_total\{type="charter.investigation",outcome="dead"\} 1$/m);
  }, 60_000);

  it('several worker processes share the work and run no action twice', async () => {
    const prefix = `share-${randomBytes(4).toString('hex')}`;
    const db = 'shared.db';
    const { mapek, env } = await start(['api', 'loop'], db, prefix);
    for (let i = 0; i < 2; i++) children.push(spawn(process.execPath, ['bin/mapek.mjs', 'worker'], { cwd: root, env, stdio: 'ignore' }));
    const nodes = Array.from({ length: 8 }, (_, i) => `node-share-${i}`);
    for (const n of nodes) await fire(mapek, n);
    for (const n of nodes) {
      const inc = await incidentOf(mapek, n, ['verifying'], 60_000);
      await expectOneEffectEach(n);
      for (const a of inc.actions.filter((x) => x.type.startsWith('charter.'))) expect(a, JSON.stringify(a)).toMatchObject({ status: 'succeeded', attempts: 1 });
    }
  }, 120_000);

  it('shutdown drains an in-flight action before closing', async () => {
    const { mapek, env } = await start(['api', 'loop', 'worker']);
    const node = 'node-drain';
    await fault({ kind: 'slow_actuator', delay_ms: 800, node_or_service: node });
    await fire(mapek, node);
    await until('the investigation to be in flight', async () => ((await count('investigations', node)) === 1 ? true : undefined));
    const incident = await until('the incident', async () => (await mapek.store.listIncidents({ labels: [['node_or_service', node]] })).items[0]);
    const step = async (store: KnowledgeStore) => (await store.getIncident(incident.id))!.actions.find((a) => a.step === 'investigate')!;
    expect((await step(mapek.store)).status).toBe('running');
    await mapek.close();
    // The closed process finished the call it had started before it let go.
    const reader = new KnowledgeStore(await openKnowledge(env.KNOWLEDGE_URL!), { now: () => Date.now() });
    try {
      expect((await step(reader)).status).toBe('succeeded');
    } finally {
      await reader.close();
    }
  }, 60_000);
});

describe('Bull Board', () => {
  it('is served at /admin/queues behind the admin token', async () => {
    const { mapek } = await start(['api']);
    expect((await fetch(`${mapek.url}/admin/queues`)).status).toBe(401);
    const page = await fetch(`${mapek.url}/admin/queues`, { headers: auth });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    const basic = `Basic ${Buffer.from(`anyone:${ADMIN}`).toString('base64')}`;
    const api = await fetch(`${mapek.url}/admin/queues/api/queues`, { headers: { authorization: basic } });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: Array<{ name: string }> };
    expect(body.queues.map((q) => q.name).some((n) => n.endsWith('-actions-charter'))).toBe(true);
  });
});
