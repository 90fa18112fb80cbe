/**
 * Governance on a real mapek (Redis, SQLite, the simulator over HTTP): the autonomy ladder, the
 * safety brake, budgets, the flap guard and the pause. Effects are counted at the simulator.
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

const BASE = {
  sensors: [],
  reopenCooldown: '0s',
  execute: { attempts: 2, backoff: '100ms', maxBackoff: '200ms' },
  playbooks: { criticalViolation: { verifyFirstCheck: '1h' } },
};

async function start(overrides: unknown): Promise<RunningMapek> {
  const env: NodeJS.ProcessEnv = {
    KNOWLEDGE_URL: `sqlite:${join(dir, `k-${randomBytes(4).toString('hex')}.db`)}`,
    REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    CHARTER_URL: sim.url,
    PROMETHEUS_URL: 'http://127.0.0.1:9',
    MAPEK_QUEUE_PREFIX: `gov-${randomBytes(4).toString('hex')}`,
  };
  const m = await startMapek(loadConfig({ port: 0, packOverrides: mergeDeep(BASE, overrides) }, env), { logger: pino({ level: 'silent' }) });
  running.push(m);
  return m;
}

async function alert(m: RunningMapek, labels: Record<string, string>, fingerprint: string, startsAt = '2026-12-04T12:00:00Z') {
  const res = await fetch(`${m.url}/webhooks/alertmanager`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ status: 'firing', receiver: 'mapek', alerts: [{ status: 'firing', labels, annotations: {}, startsAt, fingerprint }] }),
  });
  expect(res.status).toBe(202);
}

const violation = (node: string) => ({ alertname: 'CriticalViolationDetected', node_or_service: node, severity: 'critical' });

interface Incident {
  id: string;
  state: string;
  actions: Array<{ id: string; step: string; status: string; outcome: Record<string, unknown> | null }>;
}

async function incidents(m: RunningMapek, node: string): Promise<Incident[]> {
  const page = await m.store.listIncidents({ labels: [['node_or_service', node]] });
  return Promise.all(page.items.map(async (i) => (await m.store.getIncident(i.id)) as unknown as Incident));
}

async function step(m: RunningMapek, node: string, name: string, status: string, index = 0): Promise<Incident['actions'][number]> {
  return until(`${node} ${name} ${status}`, async () => {
    const inc = (await incidents(m, node)).reverse()[index];
    const a = inc?.actions.find((x) => x.step === name);
    return a?.status === status ? a : undefined;
  });
}

async function count(path: string, node: string): Promise<number> {
  return ((await (await fetch(`${sim.url}/api/${path}?node_or_service=${node}`)).json()) as { items: unknown[] }).items.length;
}

async function approve(m: RunningMapek, actionId: string, by: string) {
  const res = await fetch(`${m.url}/api/actions/${actionId}/approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ by }) });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mapek-gov-'));
  sim = await startSimulator({ port: 0, tickMs: 500 });
});

afterAll(async () => {
  for (const m of running) await m.close();
  await sim?.close();
});

describe('governance', () => {
  it('propose: every action that changes the world waits for one approval', async () => {
    const m = await start({ autonomy: 'propose' });
    await alert(m, violation('node-propose'), 'fp-propose');
    const held = await step(m, 'node-propose', 'investigate', 'awaiting_approval');
    expect(held.outcome).toMatchObject({ held: 'autonomy is propose' });
    expect(await count('investigations', 'node-propose')).toBe(0);
    await approve(m, held.id, 'alice');
    await step(m, 'node-propose', 'investigate', 'succeeded');
    expect(await count('investigations', 'node-propose')).toBe(1);
    await step(m, 'node-propose', 'quarantine', 'awaiting_approval');
    expect(await count('quarantines', 'node-propose')).toBe(0);
  });

  it('shadow: decides and records, does nothing', async () => {
    const m = await start({ autonomy: 'shadow' });
    await alert(m, violation('node-shadow'), 'fp-shadow');
    await step(m, 'node-shadow', 'notify-committee', 'skipped');
    expect(await count('investigations', 'node-shadow')).toBe(0);
    expect(await count('quarantines', 'node-shadow')).toBe(0);
  });

  it('the safety brake: after UnusualDataRevocationActivity a new quarantine waits for approval until released', async () => {
    const m = await start({});
    await alert(m, { alertname: 'UnusualDataRevocationActivity', severity: 'warning' }, 'fp-brake');
    await until('the brake', async () => ((await m.store.brakeState()).engaged ? true : undefined));
    const loop = (await (await fetch(`${m.url}/api/loop`)).json()) as { brake: { engaged: boolean; reason: string } };
    expect(loop.brake).toMatchObject({ engaged: true, reason: 'alert UnusualDataRevocationActivity fired' });
    expect(await (await fetch(`${m.url}/metrics`)).text()).toMatch(/^mapek_brake_engaged 1$/m);
    await alert(m, violation('node-braked'), 'fp-braked');
    const held = await step(m, 'node-braked', 'investigate', 'awaiting_approval');
    expect(held.outcome).toMatchObject({ held: 'safety brake engaged' });
    await approve(m, held.id, 'alice');
    await step(m, 'node-braked', 'investigate', 'succeeded');
    const q = await step(m, 'node-braked', 'quarantine', 'awaiting_approval');
    expect(await count('quarantines', 'node-braked')).toBe(0);
    expect((await fetch(`${m.url}/api/loop/brake/release`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(400);
    const rel = await fetch(`${m.url}/api/loop/brake/release`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ by: 'carol' }) });
    expect(rel.status).toBe(200);
    await approve(m, q.id, 'alice');
    await step(m, 'node-braked', 'notify-committee', 'succeeded');
    expect(await count('quarantines', 'node-braked')).toBe(1);
    // Released: the next node's calls run on their own.
    await alert(m, violation('node-after-brake'), 'fp-after-brake');
    await step(m, 'node-after-brake', 'notify-committee', 'succeeded');
  });

  it('a spent budget escalates instead of acting', async () => {
    const m = await start({ budgets: [{ actionType: 'charter.quarantine', max: 1, per: '1h' }] });
    await alert(m, violation('node-budget-1'), 'fp-b1');
    await step(m, 'node-budget-1', 'quarantine', 'succeeded');
    await alert(m, violation('node-budget-2'), 'fp-b2');
    const dead = await step(m, 'node-budget-2', 'quarantine', 'dead');
    expect(dead.outcome).toMatchObject({ budgetSpent: { actionType: 'charter.quarantine', max: 1, spent: 1 } });
    const inc = await until('the escalation', async () => {
      const i = (await incidents(m, 'node-budget-2'))[0];
      return i?.state === 'escalated' ? i : undefined;
    });
    expect(inc.actions.find((a) => a.step === 'page')).toBeDefined();
    expect(await count('quarantines', 'node-budget-2')).toBe(0);
    expect(await (await fetch(`${m.url}/metrics`)).text()).toMatch(/^mapek_budget_remaining\{action_type="charter.quarantine"\} 0$/m);
  });

  it('a budget holds when workers act at once: five nodes, a budget of two, two investigations at the Charter', async () => {
    const m = await start({ budgets: [{ actionType: 'charter.investigation', max: 2, per: '1h' }] });
    const nodes = [1, 2, 3, 4, 5].map((i) => `node-rush-${i}`);
    // Slow answers keep every investigation in flight while the others start.
    for (const node of nodes) {
      const res = await fetch(`${sim.url}/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'slow_actuator', delay_ms: 600, node_or_service: node }) });
      expect(res.status).toBe(201);
    }
    await Promise.all(nodes.map((node, i) => alert(m, violation(node), `fp-rush-${i}`)));
    const investigations = await Promise.all(
      nodes.map((node) =>
        until(`${node} investigate finished`, async () => {
          const a = (await incidents(m, node))[0]?.actions.find((x) => x.step === 'investigate');
          return a && (a.status === 'succeeded' || a.status === 'dead') ? a : undefined;
        }),
      ),
    );
    expect(investigations.filter((a) => a.status === 'succeeded')).toHaveLength(2);
    for (const a of investigations.filter((x) => x.status === 'dead')) expect(a.outcome).toMatchObject({ budgetSpent: { budget: 'charter.investigation', max: 2 } });
    let effects = 0;
    for (const node of nodes) effects += await count('investigations', node);
    expect(effects).toBe(2);
  });

  it('a per-subject budget stops one node taking every quarantine; an overall one counts every Charter call', async () => {
    const m = await start({
      budgets: [{ actionType: 'charter.quarantine', perSubject: true, max: 1, per: '1h' }],
      playbooks: { criticalViolation: { verifyDeadline: '1s' } },
    });
    await alert(m, violation('node-greedy'), 'fp-greedy', '2026-12-04T12:00:00Z');
    await until('the first incident to close', async () => ((await incidents(m, 'node-greedy'))[0]?.state === 'escalated' ? true : undefined));
    await alert(m, violation('node-greedy'), 'fp-greedy', '2026-12-04T12:30:00Z');
    const dead = await step(m, 'node-greedy', 'quarantine', 'dead', 1);
    expect(dead.outcome).toMatchObject({ budgetSpent: { budget: 'charter.quarantine per subject', spent: 1 } });
    await alert(m, violation('node-modest'), 'fp-modest');
    await step(m, 'node-modest', 'quarantine', 'succeeded');
    expect(await count('quarantines', 'node-greedy')).toBe(1);

    const overall = await start({ budgets: [{ max: 2, per: '1h' }] });
    await alert(overall, violation('node-overall'), 'fp-overall');
    // investigate and quarantine spend the two calls; the committee notification finds the budget spent
    const spent = await step(overall, 'node-overall', 'notify-committee', 'dead');
    expect(spent.outcome).toMatchObject({ budgetSpent: { budget: 'charter.*', max: 2, spent: 2 } });
  });

  it('the flap guard: a subject remediated again and again is escalated, not remediated again', async () => {
    const m = await start({ flapGuard: { max: 1, window: '6h' }, playbooks: { criticalViolation: { verifyDeadline: '1s' } } });
    await alert(m, violation('node-flappy'), 'fp-flap', '2026-12-04T12:00:00Z');
    await until('the first incident to close', async () => ((await incidents(m, 'node-flappy'))[0]?.state === 'escalated' ? true : undefined));
    expect(await count('quarantines', 'node-flappy')).toBe(1);
    await alert(m, violation('node-flappy'), 'fp-flap', '2026-12-04T12:30:00Z');
    const second = await until('the second incident', async () => {
      const all = await incidents(m, 'node-flappy');
      return all.length === 2 && all[0]!.state === 'escalated' ? all[0] : undefined;
    });
    expect(second.actions.map((a) => a.step)).toEqual(['page']);
    expect(await count('quarantines', 'node-flappy')).toBe(1);
  });

  it('the pause holds every change, reads go on; resume lets it run', async () => {
    const m = await start({});
    const paused = await fetch(`${m.url}/api/loop/pause`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ for: '2h', by: 'alice', reason: 'maintenance' }) });
    expect(paused.status).toBe(200);
    await alert(m, violation('node-paused'), 'fp-paused');
    await step(m, 'node-paused', 'lookup-severity', 'dead');
    await step(m, 'node-paused', 'investigate', 'planned');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await count('investigations', 'node-paused')).toBe(0);
    expect(await (await fetch(`${m.url}/metrics`)).text()).toMatch(/^mapek_paused 1$/m);
    await fetch(`${m.url}/api/loop/resume`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await step(m, 'node-paused', 'notify-committee', 'succeeded');
    expect(await count('investigations', 'node-paused')).toBe(1);
  }, 40_000);

  it('an acknowledgement reaches the plan once per person (API), and names a missing incident', async () => {
    const m = await start({});
    await alert(m, violation('node-acked'), 'fp-acked');
    const inc = (await incidents(m, 'node-acked'))[0] ?? (await until('the incident', async () => (await incidents(m, 'node-acked'))[0]));
    const ack = (body: unknown, id = inc.id) => fetch(`${m.url}/api/incidents/${id}/acknowledge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(await (await ack({ by: 'dana', comment: 'seen' })).json()).toEqual({ incidentId: inc.id, first: true });
    expect(await (await ack({ by: 'dana' })).json()).toEqual({ incidentId: inc.id, first: false });
    expect((await ack({ by: '' })).status).toBe(400);
    expect((await ack({ by: 'dana' }, 'inc_nope')).status).toBe(404);
    await until('the acknowledgement in the plan history', async () => {
      const page = await m.store.listDecisions({ incident: inc.id });
      return page.items.some((d) => (d.event as { type: string }).type === 'incident.acknowledged') ? true : undefined;
    });
  });
});
