/**
 * A gated removal waiting for approvals survives mapek killed with SIGKILL and Redis restarted
 * empty, then happens exactly once when two members approve.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../sim/index.ts';
import { ensureRedis, freePort, type RedisHandle } from '../../src/stack/processes.ts';
import { until } from '../helpers/until.ts';

const root = resolve(import.meta.dirname, '../..');
let sim: RunningSimulator;
let redis: RedisHandle;
let redisUrl: string;
let env: NodeJS.ProcessEnv;
let port: number;
const children: ChildProcess[] = [];
const base = () => `http://127.0.0.1:${port}`;

function startMapekProcess(): ChildProcess {
  const child = spawn(process.execPath, ['bin/mapek.mjs', 'start', '--port', String(port)], { cwd: root, env, stdio: 'ignore' });
  children.push(child);
  return child;
}

interface Incident {
  id: string;
  state: string;
  actions: Array<{ id: string; step: string; status: string }>;
}

async function removal(): Promise<Incident['actions'][number] | undefined> {
  const list = (await (await fetch(`${base()}/api/incidents?label=node_or_service=node-gated`)).json()) as { items: Array<{ id: string }> };
  if (!list.items[0]) return undefined;
  const inc = (await (await fetch(`${base()}/api/incidents/${list.items[0].id}`)).json()) as Incident;
  return inc.actions.find((a) => a.step === 'remove-node');
}

async function revocations(): Promise<number> {
  return ((await (await fetch(`${sim.url}/api/revocations?node_or_service=node-gated`)).json()) as { items: unknown[] }).items.length;
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mapek-removal-'));
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, 'sensors: []\nexecute:\n  attempts: 2\n  backoff: 100ms\n  maxBackoff: 200ms\nplaybooks:\n  criticalViolation:\n    verifyFirstCheck: 1h\n');
  redisUrl = `redis://127.0.0.1:${await freePort()}`;
  redis = await ensureRedis(redisUrl);
  sim = await startSimulator({ port: 0, tickMs: 500 });
  port = await freePort();
  env = {
    ...process.env,
    KNOWLEDGE_URL: `sqlite:${join(dir, 'k.db')}`,
    REDIS_URL: redisUrl,
    CHARTER_URL: sim.url,
    PROMETHEUS_URL: 'http://127.0.0.1:9',
    MAPEK_QUEUE_PREFIX: 'removal',
    MAPEK_CONFIG: configFile,
    LOG_LEVEL: 'warn',
  };
}, 60_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sim?.close();
  await redis?.stop();
});

describe('a removal waiting for its approvals', () => {
  it('survives kill -9 and an empty Redis, then happens exactly once', async () => {
    const first = startMapekProcess();
    await until('mapek', async () => ((await fetch(`${base()}/healthz`)).ok ? true : undefined));
    const res = await fetch(`${base()}/webhooks/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        status: 'firing',
        receiver: 'mapek',
        alerts: [{ status: 'firing', labels: { alertname: 'CriticalViolationDetected', node_or_service: 'node-gated', violation_severity: 'PERMANENT_BAN' }, annotations: {}, startsAt: '2026-12-04T12:00:00Z', fingerprint: 'fp-gated' }],
      }),
    });
    expect(res.status).toBe(202);
    const waiting = await until('the removal to await approval', async () => ((await removal())?.status === 'awaiting_approval' ? await removal() : undefined));

    // One approval, then mapek dies hard and Redis comes back empty.
    const a1 = await fetch(`${base()}/api/actions/${waiting!.id}/approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ by: 'alice' }) });
    expect(a1.status).toBe(200);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    await redis.stop();
    redis = await ensureRedis(redisUrl);

    startMapekProcess();
    await until('mapek again', async () => ((await fetch(`${base()}/readyz`)).ok ? true : undefined));
    // Still waiting: a pending removal stays pending, nothing ran by default.
    expect((await removal())!.status).toBe('awaiting_approval');
    expect(await revocations()).toBe(0);
    // Its approval deadline was re-armed from knowledge into the empty Redis.
    await until('the re-armed deadline', async () => {
      const m = await (await fetch(`${base()}/metrics`)).text();
      const delayed = /^mapek_queue_depth\{queue="timers",state="delayed"\} (\d+)/m.exec(m);
      return delayed && Number(delayed[1]) >= 1 ? true : undefined;
    });
    const a2 = await fetch(`${base()}/api/actions/${waiting!.id}/approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ by: 'bob' }) });
    expect(((await a2.json()) as { quorumReached: boolean }).quorumReached).toBe(true);
    await until('the removal to succeed', async () => ((await removal())?.status === 'succeeded' ? true : undefined));
    expect(await revocations()).toBe(1);
  }, 120_000);
});
