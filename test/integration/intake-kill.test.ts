/** mapek killed with SIGKILL right after acknowledging a batch loses nothing: a restart finishes the work. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../sim/index.ts';
import { freePort } from '../../src/stack/processes.ts';
import { until } from '../helpers/until.ts';

const root = resolve(import.meta.dirname, '../..');
let sim: RunningSimulator;
let env: NodeJS.ProcessEnv;
let dir: string;
let port: number;
const children: ChildProcess[] = [];

function startMapekProcess(extraArgs: string[] = [], extraEnv: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, ['bin/mapek.mjs', 'start', '--port', String(port), ...extraArgs], { cwd: root, env: { ...env, ...extraEnv }, stdio: 'ignore' });
  children.push(child);
  return child;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mapek-intake-kill-'));
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, 'sensors: []\nexecute:\n  attempts: 2\n  backoff: 100ms\n  maxBackoff: 200ms\nplaybooks:\n  criticalViolation:\n    verifyFirstCheck: 1h\n');
  sim = await startSimulator({ port: 0, tickMs: 500 });
  port = await freePort();
  env = {
    ...process.env,
    KNOWLEDGE_URL: `sqlite:${join(dir, 'k.db')}`,
    REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    CHARTER_URL: sim.url,
    PROMETHEUS_URL: 'http://127.0.0.1:9',
    MAPEK_QUEUE_PREFIX: `ikill-${randomBytes(4).toString('hex')}`,
    MAPEK_CONFIG: configFile,
    LOG_LEVEL: 'warn',
  };
});

const killAll = () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
};

afterEach(killAll);

afterAll(async () => {
  killAll();
  await sim?.close();
});

// The first process takes every role (observations written inline), or the api role alone (its
// observations written by the knowledge writer thread); the second takes every role and finishes.
describe.each([
  { first: 'every role', args: [] as string[], tag: 'all' },
  { first: 'the api role alone (writer thread)', args: ['--roles', 'api'], tag: 'api' },
])('kill -9 right after acknowledging, the first process with $first', ({ args, tag }) => {
  it('loses nothing that was acknowledged', async () => {
    // A knowledge file and queues of its own (the simulator is shared: node names differ).
    const own = { KNOWLEDGE_URL: `sqlite:${join(dir, `k-${tag}.db`)}`, MAPEK_QUEUE_PREFIX: `${env.MAPEK_QUEUE_PREFIX}-${tag}` };
    port = await freePort(); // a port of its own: only this variant's processes answer on it
    const first = startMapekProcess(args, own);
    await until('mapek to listen', async () => ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok ? true : undefined));
    const nodes = Array.from({ length: 20 }, (_, i) => `node-acked-${tag}-${i}`);
    const alerts = nodes.map((n) => ({ status: 'firing', labels: { alertname: 'CriticalViolationDetected', node_or_service: n, severity: 'critical' }, annotations: {}, startsAt: '2026-12-04T12:00:00Z', fingerprint: `fp-${n}` }));
    const res = await fetch(`http://127.0.0.1:${port}/webhooks/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: '4', status: 'firing', receiver: 'mapek', alerts }),
    });
    expect(res.status).toBe(202);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    startMapekProcess([], own);
    for (const n of nodes) {
      await until(`${n}'s investigation`, async () => {
        const items = ((await (await fetch(`${sim.url}/api/investigations?node_or_service=${n}`)).json()) as { items: unknown[] }).items;
        return items.length > 0 ? items : undefined;
      }, 60_000);
    }
    for (const n of nodes) {
      const items = ((await (await fetch(`${sim.url}/api/investigations?node_or_service=${n}`)).json()) as { items: unknown[] }).items;
      expect(items).toHaveLength(1);
    }
  }, 120_000);
});
