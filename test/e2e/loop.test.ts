/**
 * The loop closes on real components: the simulator over HTTP, Prometheus evaluating the shipped
 * Charter rules, Alertmanager with the shipped routes, Redis, SQLite. Effects are counted at the
 * simulator, the receiving end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAlertmanager } from '../../src/stack/processes.ts';
import { startLocalLoop, type LocalLoop } from '../../src/stack/local-loop.ts';
import { until } from '../helpers/until.ts';

let loop: LocalLoop;

async function json<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

interface Incident {
  id: string;
  state: string;
  labels: Record<string, string>;
  actions: Array<{ step: string; status: string; idempotencyKey: string }>;
  observations: unknown[];
  findings: unknown[];
  plan: { history: Array<{ from: string; to: string }> } | null;
}

type Items = { items: Array<{ node_or_service?: string; idempotency_key: string }> };

async function effects(node: string) {
  const get = async (path: string) => (await json<Items>(`${loop.sim.url}${path}`)).items.filter((r) => r.node_or_service === node);
  return {
    quarantines: await get('/api/quarantines'),
    investigations: await get('/api/investigations'),
    notifications: await get('/api/committee/notifications'),
    revocations: await get('/api/revocations'),
  };
}

async function incidentFor(node: string): Promise<Incident | undefined> {
  const list = await json<{ items: Array<{ id: string }> }>(`${loop.mapek.url}/api/incidents?label=node_or_service=${encodeURIComponent(node)}`);
  const first = list.items[0];
  return first ? json<Incident>(`${loop.mapek.url}/api/incidents/${first.id}`) : undefined;
}

beforeAll(async () => {
  loop = await startLocalLoop();
}, 90_000);

afterAll(async () => {
  await loop?.stop();
});

describe('a violation burst on real Prometheus and Alertmanager', () => {
  it('quarantines, investigates and notifies exactly once, then resolves after verification', async () => {
    const node = 'node-e2e-resolve';
    await json(`${loop.sim.url}/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'violation_burst', node_or_service: node, severity: 'SUSPENSION' }) });
    const incident = await until('the incident to resolve', async () => {
      const inc = await incidentFor(node);
      return inc?.state === 'resolved' ? inc : undefined;
    }, 120_000);
    // Alertmanager re-sends every 10 s in this stack: let at least one re-send arrive.
    await until('a re-sent notification', async () => {
      const inc = await incidentFor(node);
      return inc && inc.observations.length >= 1 ? inc : undefined;
    }, 5_000);
    const seen = await effects(node);
    expect(seen.quarantines).toHaveLength(1);
    expect(seen.investigations).toHaveLength(1);
    expect(seen.notifications).toHaveLength(1);
    expect(seen.revocations).toHaveLength(0);
    expect(seen.quarantines[0]!.idempotency_key).toBe(incident.actions.find((a) => a.step === 'quarantine')!.idempotencyKey);
    const steps = incident.actions.map((a) => a.step);
    expect(steps.slice(0, 4)).toEqual(['lookup-severity', 'investigate', 'quarantine', 'notify-committee']);
    expect(incident.plan!.history.map((h) => h.to)).toContain('verifying');
    expect(incident.plan!.history.at(-1)!.to).toBe('resolved');
    // Opened by the alert or by the pack's violation_burst sensor, whichever came first: one incident either way.
    expect(incident.labels.node_or_service).toBe(node);
    expect(['CriticalViolationDetected', 'violation_burst']).toContain(incident.labels.alertname);
    // One incident for the node, whatever Alertmanager re-sent.
    const all = await json<{ items: unknown[] }>(`${loop.mapek.url}/api/incidents?label=node_or_service=${node}`);
    expect(all.items).toHaveLength(1);
  }, 150_000);

  it('escalates when the quarantine does not stop the violations', async () => {
    const node = 'node-e2e-stubborn';
    const post = (body: unknown) => json(`${loop.sim.url}/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await post({ kind: 'quarantine_ineffective', node_or_service: node });
    await post({ kind: 'violation_burst', node_or_service: node, severity: 'SUSPENSION' });
    const incident = await until('the incident to escalate', async () => {
      const inc = await incidentFor(node);
      return inc?.state === 'escalated' ? inc : undefined;
    }, 150_000);
    const seen = await effects(node);
    expect(seen.quarantines).toHaveLength(1);
    expect(seen.investigations).toHaveLength(1);
    expect(incident.actions.find((a) => a.step === 'page')).toBeDefined();
    expect(incident.plan!.history.at(-1)!.to).toBe('escalated');
  }, 180_000);

  it("acts once on an alert from someone else's Alertmanager about a node it has never seen", async () => {
    const node = `node-never-seen-${Date.now().toString(36)}`;
    // A minimal configuration as an operator might write it: one route, one webhook receiver.
    const foreign = await startAlertmanager({
      dir: mkdtempSync(join(tmpdir(), 'mapek-foreign-am-')),
      configYaml: [
        'route:',
        '  receiver: controller',
        "  group_by: ['...']",
        '  group_wait: 1s',
        '  group_interval: 2s',
        '  repeat_interval: 4s',
        'receivers:',
        '  - name: controller',
        '    webhook_configs:',
        `      - url: ${loop.mapek.url}/webhooks/alertmanager`,
        '        send_resolved: true',
        '        http_config:',
        '          authorization:',
        `            credentials: ${loop.token}`,
      ].join('\n'),
    });
    try {
      const dedupBefore = await dedupCount();
      const res = await fetch(`${foreign.url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ labels: { alertname: 'CriticalViolationDetected', node_or_service: node, severity: 'critical' }, annotations: { summary: 'from elsewhere' } }]),
      });
      expect(res.status).toBe(200);
      await until('the quarantine at the Charter', async () => ((await effects(node)).quarantines.length > 0 ? true : undefined), 60_000);
      // Let Alertmanager re-send (repeat_interval 4 s): the re-send is deduplicated, not acted on.
      await until('a deduplicated re-send', async () => ((await dedupCount()) > dedupBefore ? true : undefined), 30_000);
      const seen = await effects(node);
      expect(seen.investigations).toHaveLength(1);
      expect(seen.quarantines).toHaveLength(1);
      const incident = (await incidentFor(node))!;
      expect(incident.findings).toHaveLength(1);
      expect(incident.observations).toHaveLength(1);
      expect(incident.actions.filter((a) => a.step === 'quarantine')).toHaveLength(1);
      const all = await json<{ items: unknown[] }>(`${loop.mapek.url}/api/incidents?label=node_or_service=${node}`);
      expect(all.items).toHaveLength(1);
    } finally {
      await foreign.stop();
    }
  }, 120_000);
});

describe('the record of it all', () => {
  it('verifies: every row the loop wrote is on the hash chain', async () => {
    const report = await loop.mapek.store.verifyAudit();
    expect(report.problems).toEqual([]);
    expect(report.rows).toBeGreaterThan(20);
  });
});

async function dedupCount(): Promise<number> {
  const text = await (await fetch(`${loop.mapek.url}/metrics`)).text();
  const m = /^mapek_observations_deduplicated_total\{source="alertmanager"\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}
