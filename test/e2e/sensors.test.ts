/**
 * With Alertmanager switched off, the Charter pack's PromQL sensors (on real Prometheus scraping
 * the simulator) find each SLA breach the simulator's faults produce; a burst still gets remediated.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalLoop, type LocalLoop } from '../../src/stack/local-loop.ts';
import { until } from '../helpers/until.ts';

let loop: LocalLoop;
const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

interface Finding {
  name: string;
  kind: string;
  labels: Record<string, string>;
  incidentId: string | null;
  evidence: Record<string, unknown>;
}

async function findings(): Promise<Finding[]> {
  return ((await (await fetch(`${loop.mapek.url}/api/findings?limit=1000`)).json()) as { items: Finding[] }).items;
}

beforeAll(async () => {
  loop = await startLocalLoop({ withAlertmanager: false });
}, 90_000);

afterAll(async () => {
  await loop?.stop();
});

describe('sensors with Alertmanager switched off', () => {
  it('stay quiet on the fault-free background', async () => {
    // A few ticks of every sensor over background activity: nothing crosses a line.
    await until('sensor ticks', async () => {
      const m = await (await fetch(`${loop.mapek.url}/metrics`)).text();
      const n = /^mapek_observations_total\{source="sensor"\} (\d+)/m.exec(m);
      return n && Number(n[1]) > 30 ? true : undefined;
    }, 60_000);
    expect(await findings()).toEqual([]);
  }, 70_000);

  it('catch every SLA breach the faults produce, and remediate the burst', async () => {
    const faults = [
      { kind: 'violation_burst', node_or_service: 'node-sensed', severity: 'SUSPENSION' },
      { kind: 'forbidden_attempts', node_or_service: 'node-prying', rate_per_min: 30 },
      { kind: 'slow_validation' },
      { kind: 'slow_notifications', rate_per_min: 30 },
      { kind: 'slow_revocation', rate_per_min: 10 },
      { kind: 'stale_policy' },
      { kind: 'override_stuck' },
      { kind: 'committee_overload' },
      { kind: 'revocation_storm', rate_per_min: 10 },
      { kind: 'policy_flapping', rate_per_min: 30 },
      { kind: 'violation_flood' },
    ];
    for (const f of faults) {
      const res = await fetch(`${loop.sim.url}/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(f) });
      expect(res.status, `${f.kind}: ${await res.clone().text()}`).toBe(201);
    }
    const expected = loop.config.pack.sensors.map((s) => s.name);
    const seen = await until('a finding from every sensor', async () => {
      const names = new Set((await findings()).map((f) => f.name));
      return expected.every((n) => names.has(n)) ? names : undefined;
    }, 150_000).catch(async (err) => {
      const names = new Set((await findings()).map((f) => f.name));
      throw new Error(`${(err as Error).message}; missing: ${expected.filter((n) => !names.has(n)).join(', ')}`);
    });
    expect([...seen].sort()).toEqual([...expected].sort());
    const all = await findings();
    const forbidden = all.find((f) => f.name === 'forbidden_attempt_rate')!;
    expect(forbidden.labels.node_or_service).toBe('node-prying');
    expect(forbidden.kind).toBe('threshold');
    expect(forbidden.evidence).toMatchObject({ fire: 3 });
    // The burst sensor names the critical-violation playbook: the node is quarantined once.
    const burst = all.find((f) => f.name === 'violation_burst' && f.labels.node_or_service === 'node-sensed')!;
    expect(burst.incidentId).toBeTruthy();
    await until('the quarantine', async () => {
      const q = (await (await fetch(`${loop.sim.url}/api/quarantines?node_or_service=node-sensed`)).json()) as { items: unknown[] };
      return q.items.length ? q : undefined;
    }, 30_000);
    const q = (await (await fetch(`${loop.sim.url}/api/quarantines?node_or_service=node-sensed`)).json()) as { items: unknown[] };
    expect(q.items).toHaveLength(1);
  }, 200_000);

  it('mapek backtest lists, with times, the findings the pack would have raised over the recorded series', async () => {
    const { stdout } = await run(process.execPath, ['bin/mapek.mjs', 'backtest', '--from', '10m', '--sensor', 'forbidden_attempt_rate,violation_rate_overall', '--json'], {
      cwd: root,
      env: { ...process.env, PROMETHEUS_URL: loop.prometheus!.url },
    });
    const report = JSON.parse(stdout) as { findings: Array<{ sensor: string; subject: Record<string, string>; firedAt: string }>; errors: unknown[] };
    expect(report.errors).toEqual([]);
    const forbidden = report.findings.filter((f) => f.sensor === 'forbidden_attempt_rate');
    expect(forbidden.map((f) => f.subject.node_or_service)).toContain('node-prying');
    expect(forbidden.every((f) => f.subject.node_or_service === 'node-prying')).toBe(true);
    expect(report.findings.some((f) => f.sensor === 'violation_rate_overall')).toBe(true);
    for (const f of report.findings) expect(Date.parse(f.firedAt)).toBeGreaterThan(Date.now() - 11 * 60_000);
  }, 60_000);

  it('with Prometheus unreachable, errors are counted and no finding appears', async () => {
    const unavailable = async () => {
      const m = await (await fetch(`${loop.mapek.url}/metrics`)).text();
      return [...m.matchAll(/^mapek_sensor_errors_total\{sensor="[^"]+",reason="unavailable"\} (\d+)/gm)].reduce((n, x) => n + Number(x[1]), 0);
    };
    const before = (await findings()).length;
    const errorsBefore = await unavailable();
    await loop.prometheus!.stop();
    await until('unavailable errors', async () => ((await unavailable()) > errorsBefore + 10 ? true : undefined), 30_000);
    expect((await findings()).length).toBe(before);
    const ready = (await (await fetch(`${loop.mapek.url}/readyz`)).json()) as { sensors: Record<string, { ok: boolean; reason?: string }>; info: { prometheus: { ok: boolean } } };
    expect(ready.info.prometheus.ok).toBe(false);
    expect(Object.values(ready.sensors).some((s) => !s.ok && s.reason === 'unavailable')).toBe(true);
  }, 60_000);

  it('with Prometheus started again, the sensors resume and readiness shows it', async () => {
    const sensorObservations = async () => {
      const m = await (await fetch(`${loop.mapek.url}/metrics`)).text();
      return Number(/^mapek_observations_total\{source="sensor"\} (\d+)/m.exec(m)?.[1] ?? 0);
    };
    const before = await sensorObservations();
    await loop.restartPrometheus();
    await until('sensor observations again', async () => ((await sensorObservations()) > before + 10 ? true : undefined), 60_000);
    const ready = await until('Prometheus shown ready', async () => {
      const r = (await (await fetch(`${loop.mapek.url}/readyz`)).json()) as { info: { prometheus: { ok: boolean } }; sensors: Record<string, { ok: boolean }> };
      return r.info.prometheus.ok ? r : undefined;
    }, 30_000);
    expect(Object.values(ready.sensors).some((x) => x.ok)).toBe(true);
  }, 90_000);
});
