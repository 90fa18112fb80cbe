/**
 * A `mapek worker` process killed with SIGKILL in the middle of an actuator call: another worker
 * retries with the same Idempotency-Key, and the Charter (the simulator) sees one effect.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../sim/index.ts';
import { loadConfig } from '../../src/config.ts';
import { startMapek, type RunningMapek } from '../../src/main.ts';
import { until } from '../helpers/until.ts';

const root = resolve(import.meta.dirname, '../..');
let sim: RunningSimulator;
let mapek: RunningMapek;
let env: NodeJS.ProcessEnv;
const children: ChildProcess[] = [];

function startWorker(): ChildProcess {
  const child = spawn(process.execPath, ['bin/mapek.mjs', 'worker'], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  return child;
}

async function records(path: string, node: string): Promise<unknown[]> {
  return ((await (await fetch(`${sim.url}${path}?node_or_service=${node}`)).json()) as { items: unknown[] }).items;
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mapek-kill-'));
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, 'execute:\n  attempts: 5\n  backoff: 200ms\n  maxBackoff: 1s\n  timeout: 20s\nplaybooks:\n  criticalViolation:\n    verifyFirstCheck: 1h\n');
  sim = await startSimulator({ port: 0, tickMs: 500 });
  env = {
    ...process.env,
    KNOWLEDGE_URL: `sqlite:${join(dir, 'k.db')}`,
    REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    CHARTER_URL: sim.url,
    PROMETHEUS_URL: 'http://127.0.0.1:9',
    MAPEK_QUEUE_PREFIX: `kill-${randomBytes(4).toString('hex')}`,
    MAPEK_CONFIG: configFile,
    LOG_LEVEL: 'warn',
  };
  // The intake and the loop in this process; execute only in the worker processes.
  mapek = await startMapek(loadConfig({ configFile, port: 0 }, env), { roles: ['api', 'loop'], logger: pino({ level: 'silent' }) });
}, 60_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await mapek?.close();
  await sim?.close();
});

describe('a worker killed mid-call', () => {
  it('leaves one effect at the Charter and the action succeeded once', async () => {
    const node = 'node-kill-9';
    // Calls about this node take effect at once but answer 4 s later: the kill lands in between.
    await fetch(`${sim.url}/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'slow_actuator', delay_ms: 4000, node_or_service: node }) });
    const first = startWorker();
    const res = await fetch(`${mapek.url}/webhooks/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        version: '4',
        status: 'firing',
        receiver: 'mapek',
        alerts: [{ status: 'firing', labels: { alertname: 'CriticalViolationDetected', node_or_service: node, severity: 'critical' }, annotations: {}, startsAt: '2026-12-04T12:00:00Z', fingerprint: 'kill-fp' }],
      }),
    });
    expect(res.status).toBe(202);
    // The investigation exists at the Charter while its answer is still on the way.
    await until('the investigation to take effect', async () => ((await records('/api/investigations', node)).length === 1 ? true : undefined), 40_000);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    startWorker();
    const incidentId = await until('the incident', async () => {
      const list = (await (await fetch(`${mapek.url}/api/incidents?label=node_or_service=${node}`)).json()) as { items: Array<{ id: string }> };
      return list.items[0]?.id;
    });
    const incident = await until('every remediation step to succeed', async () => {
      const inc = (await (await fetch(`${mapek.url}/api/incidents/${incidentId}`)).json()) as { state: string; actions: Array<{ step: string; status: string; attempts: number }> };
      return inc.state === 'verifying' ? inc : undefined;
    }, 60_000);
    const investigate = incident.actions.find((a) => a.step === 'investigate')!;
    expect(investigate.status).toBe('succeeded');
    expect(investigate.attempts).toBeGreaterThanOrEqual(2);
    expect(await records('/api/investigations', node)).toHaveLength(1);
    expect(await records('/api/quarantines', node)).toHaveLength(1);
    expect(await records('/api/committee/notifications', node)).toHaveLength(1);
  }, 120_000);
});
