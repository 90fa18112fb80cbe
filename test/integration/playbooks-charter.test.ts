/**
 * The Charter playbooks on a real mapek (Redis, SQLite, the simulator over HTTP), Prometheus
 * unreachable so verifications never pass: each plan acts, fails to verify, and escalates. The
 * effects are counted at the simulator's GET lists: each exactly once (or once per iteration).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../sim/index.ts';
import { loadConfig, mergeDeep } from '../../src/config.ts';
import { startMapek, type RunningMapek } from '../../src/main.ts';
import { until } from '../helpers/until.ts';

let sim: RunningSimulator;
let dir: string;
const running: RunningMapek[] = [];

const FAST = { verifyFirstCheck: '200ms', verifyInterval: '200ms', verifyDeadline: '2s' };
const BASE = {
  sensors: [],
  reopenCooldown: '0s',
  execute: { attempts: 2, backoff: '100ms', maxBackoff: '200ms' },
  playbooks: {
    forbiddenMetricSpike: FAST,
    policyLoadFailure: FAST,
    committeeOverloaded: FAST,
  },
};

async function start(overrides: unknown = {}): Promise<RunningMapek> {
  const env: NodeJS.ProcessEnv = {
    KNOWLEDGE_URL: `sqlite:${join(dir, `k-${randomBytes(4).toString('hex')}.db`)}`,
    REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    CHARTER_URL: sim.url,
    PROMETHEUS_URL: 'http://127.0.0.1:9',
    MAPEK_QUEUE_PREFIX: `pb-${randomBytes(4).toString('hex')}`,
  };
  const m = await startMapek(loadConfig({ port: 0, packOverrides: mergeDeep(BASE, overrides) }, env), { logger: pino({ level: 'silent' }) });
  running.push(m);
  return m;
}

async function alert(m: RunningMapek, labels: Record<string, string>, fingerprint: string) {
  const res = await fetch(`${m.url}/webhooks/alertmanager`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ status: 'firing', receiver: 'mapek', alerts: [{ status: 'firing', labels, annotations: {}, startsAt: '2026-12-04T12:00:00Z', fingerprint }] }),
  });
  expect(res.status).toBe(202);
}

interface Incident {
  id: string;
  state: string;
  playbook: string;
  actions: Array<{ id: string; step: string; iteration: number; status: string; outcome: Record<string, unknown> | null }>;
}

async function incidentOf(m: RunningMapek, alertname: string): Promise<Incident | undefined> {
  const page = await m.store.listIncidents({ labels: [['alertname', alertname]] });
  const first = page.items[0];
  return first ? ((await m.store.getIncident(first.id)) as unknown as Incident) : undefined;
}

async function escalated(m: RunningMapek, alertname: string): Promise<Incident> {
  return until(`${alertname} escalated`, async () => {
    const inc = await incidentOf(m, alertname);
    return inc?.state === 'escalated' && inc.actions.some((a) => a.step === 'page' && a.status === 'succeeded') ? inc : undefined;
  });
}

async function list(path: string): Promise<Array<Record<string, unknown>>> {
  return ((await (await fetch(`${sim.url}/api/${path}`)).json()) as { items: Array<Record<string, unknown>> }).items;
}

async function fault(body: Record<string, unknown>) {
  const res = await fetch(`${sim.url}/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBeLessThan(300);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mapek-pb-'));
  sim = await startSimulator({ port: 0, tickMs: 500 });
});

afterAll(async () => {
  for (const m of running) await m.close();
  await sim?.close();
});

describe('Charter playbooks', () => {
  it('ForbiddenMetricSpike: that metric of the node quarantined once, then escalated when attempts are not seen to stop', async () => {
    const m = await start();
    await alert(m, { alertname: 'ForbiddenMetricSpike', node_or_service: 'node-fms', metric_name: 'user_location', severity: 'warning', team: 'security' }, 'fp-fms');
    const inc = await escalated(m, 'ForbiddenMetricSpike');
    expect(inc.playbook).toBe('forbidden-metric-spike');
    expect(inc.actions.find((a) => a.step === 'notify-security')?.status).toBe('succeeded');
    const q = await list('quarantines?node_or_service=node-fms');
    expect(q).toHaveLength(1);
    expect(q[0]).toMatchObject({ metric_name: 'user_location', status: 'active' });
    // A re-sent webhook changes nothing.
    await alert(m, { alertname: 'ForbiddenMetricSpike', node_or_service: 'node-fms', metric_name: 'user_location', severity: 'warning', team: 'security' }, 'fp-fms');
    await new Promise((r) => setTimeout(r, 500));
    expect(await list('quarantines?node_or_service=node-fms')).toHaveLength(1);
  });

  it('PolicyLoadFailure: two reloads (iterations 1 and 2, two keys), then a page', async () => {
    await fault({ kind: 'stale_policy', reloads_fail: true });
    const m = await start();
    const before = (await list('policy/reloads')).length;
    await alert(m, { alertname: 'PolicyLoadFailure', severity: 'critical', team: 'sre' }, 'fp-plf');
    const inc = await escalated(m, 'PolicyLoadFailure');
    expect(inc.playbook).toBe('policy-load-failure');
    const reloads = (await list('policy/reloads')).slice(before);
    expect(reloads).toHaveLength(2);
    expect(new Set(reloads.map((r) => r.idempotency_key)).size).toBe(2);
    expect(inc.actions.filter((a) => a.step === 'reload-policy').map((a) => a.iteration).sort()).toEqual([1, 2]);
    await fetch(`${sim.url}/faults/stale_policy`, { method: 'DELETE' });
  });

  it('CommitteeOverloaded: the chair notified once; each non-critical open investigation held once', async () => {
    await fault({ kind: 'committee_overload', count: 14 });
    const open = await list('investigations?status=open');
    const nonCritical = open.filter((i) => i.severity === 'WARNING' || i.severity === 'SUSPENSION');
    expect(nonCritical.length).toBeGreaterThan(0);
    const m = await start();
    const notesBefore = (await list('committee/notifications')).length;
    await alert(m, { alertname: 'CommitteeOverloaded', severity: 'warning', team: 'governance' }, 'fp-co');
    const inc = await escalated(m, 'CommitteeOverloaded');
    expect(inc.playbook).toBe('committee-overloaded');
    const held = await list('investigations?status=held');
    expect(held.map((i) => i.id).sort()).toEqual(nonCritical.map((i) => i.id).sort());
    expect(new Set(held.map((i) => i.hold_idempotency_key)).size).toBe(held.length);
    const critical = open.filter((i) => !nonCritical.includes(i));
    for (const c of critical) expect((await list(`investigations?id=${c.id}`))[0]?.status).toBe('open');
    const notes = (await list('committee/notifications')).slice(notesBefore);
    expect(notes.filter((n) => String(n.summary).startsWith('CommitteeOverloaded'))).toHaveLength(1);
    await fetch(`${sim.url}/faults/committee_overload`, { method: 'DELETE' });
  });
});
